//! Vigil as a Home Assistant user gets it: a real Home Assistant 2025.4 (PyPI) with its MQTT integration,
//! a private Mosquitto and the real `vigil run` on the shared footage, with nothing configured in Home
//! Assistant beyond the broker's address and nothing in Vigil's `[mqtt]` beyond it either.
//!
//! Checked through Home Assistant's REST API: every entity of both cameras and of the server device
//! appears with its device class; the states change with what the footage shows (people in view and in a
//! zone, motion, an intrusion, a loitering person, a line crossing as an event, fresh pictures, rounded
//! fps); the detection and recording switches turned off and on from Home Assistant act on the running
//! Vigil and report back; stopping Vigil makes every entity unavailable; a restart with a renamed rule
//! removes the old entity; and Home Assistant's log holds no MQTT warning or error (schema, template or
//! JSON).
//!
//! Home Assistant comes from `dev/install-ha` (run by `dev/install-deps`). Without it the test says why
//! and fails when `CI` is set; elsewhere it prints `SKIP:`.

mod common;
mod support;

#[path = "home_assistant/ha.rs"]
mod ha;

use ha::{HomeAssistant, Proc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::free_port;

/// The walkway clip (10 fps, people cross the exit line at 19.5 s, 44.5 s...) and the worker clip (a
/// worker walks into the work area; 4.7 s, looped).
const WALKWAY: &str = "intel/one-by-one-person-detection.mp4";
const WORKER: &str = "intel/worker-zone-detection.mp4";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A demo rules file as `[rules.CAMERA]` tables; `rename` renames a rule.
fn camera_rules(file: &str, camera: &str, rename: Option<(&str, &str)>) -> String {
    let mut text = std::fs::read_to_string(repo().join("demo/rules").join(file)).unwrap();
    if let Some((from, to)) = rename {
        text = text.replace(&format!("name = \"{from}\""), &format!("name = \"{to}\""));
    }
    text.lines()
        .map(|l| match l.strip_prefix("[[") {
            Some(rest) => format!("[[rules.{camera}.{rest}"),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes `vigil.toml`: the walkway analysed, the worker analysed and recorded, `[mqtt]` with the broker
/// only.
fn write_config(
    dir: &Path,
    footage: &Path,
    mqtt_port: u16,
    rename: Option<(&str, &str)>,
) -> PathBuf {
    let config = format!(
        "data_dir = {data:?}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n\
         [analysis]\ndetect_fps = 5\nthreads = 1\n\n\
         [storage]\nsegment_seconds = 4\n\n\
         [[camera]]\nname = \"Walkway\"\nmain = \"file://{walkway}\"\nroles = [\"analyze\"]\n\n\
         [[camera]]\nname = \"Worker\"\nmain = \"file://{worker}\"\nroles = [\"record\", \"analyze\"]\n\n\
         [mqtt]\nhost = \"127.0.0.1\"\nport = {mqtt_port}\n\n{}\n\n{}\n",
        camera_rules("walkway.toml", "Walkway", None),
        camera_rules("worker-zone.toml", "Worker", rename),
        data = dir.display().to_string(),
        port = free_port(),
        walkway = footage.join(WALKWAY).display(),
        worker = footage.join(WORKER).display(),
    );
    let path = dir.join("vigil.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// `vigil run` with info logs into `dir/vigil.log`.
fn run_vigil(config: &Path, log: &Path) -> Proc {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["--log", "info", "run", "--config"])
        .arg(config)
        .arg("--models")
        .arg(common::shared().join("models"))
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    Proc::new(child)
}

/// Entity states by friendly name (Vigil's devices: the two cameras and the server).
fn vigil_states(ha: &HomeAssistant) -> BTreeMap<String, Value> {
    ha.states()
        .into_iter()
        .filter_map(|s| {
            let name = s["attributes"]["friendly_name"].as_str()?.to_string();
            let ours = name.starts_with("Walkway ")
                || name.starts_with("Worker ")
                || name.starts_with("Vigil ");
            ours.then_some((name, s))
        })
        .collect()
}

fn state_of(states: &BTreeMap<String, Value>, name: &str) -> String {
    states
        .get(name)
        .and_then(|s| s["state"].as_str())
        .unwrap_or("<missing>")
        .to_string()
}

/// Polls until `done` accepts the states, or panics after `timeout` with them and Vigil's log.
fn wait_states(
    ha: &HomeAssistant,
    log: &Path,
    what: &str,
    timeout: Duration,
    mut done: impl FnMut(&BTreeMap<String, Value>) -> bool,
) -> BTreeMap<String, Value> {
    let t0 = Instant::now();
    loop {
        let states = vigil_states(ha);
        if done(&states) {
            eprintln!("{what}: after {:.1} s", t0.elapsed().as_secs_f64());
            return states;
        }
        if t0.elapsed() > timeout {
            let summary: Vec<String> = states
                .iter()
                .map(|(k, v)| format!("{k} = {}", v["state"]))
                .collect();
            panic!(
                "timed out waiting for {what}:\n{}\n--- vigil log (tail) ---\n{}",
                summary.join("\n"),
                tail(log, 40)
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Bytes of every file under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_bytes(&e.path()),
                    _ => e.metadata().map_or(0, |m| m.len()),
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The camera health problem sensors of an analysed camera.
const HEALTH: [&str; 9] = [
    "Covered",
    "Blocked",
    "Dark",
    "Defocused",
    "Moved",
    "Frozen",
    "Analytics degraded",
    "Offline",
    "Stream quality",
];

/// The entities a camera gets with no configuration in Home Assistant.
fn camera_entities(camera: &str, recorded: bool) -> Vec<String> {
    let mut names: Vec<String> = [
        "Motion",
        "person count",
        "car count",
        "Analysed fps",
        "Stream",
        "Picture",
        "Last event",
        "Detection",
    ]
    .iter()
    .chain(&HEALTH)
    .map(|n| format!("{camera} {n}"))
    .collect();
    if recorded {
        names.push(format!("{camera} Recording"));
    }
    names
}

#[test]
fn home_assistant_shows_vigils_entities_and_their_states() {
    let python = match ha::python() {
        Ok(p) => p,
        Err(why) if std::env::var_os("CI").is_some() => panic!("{why}"),
        Err(why) => {
            eprintln!("SKIP: {why}");
            return;
        }
    };
    let Some(footage) = vigil_media::test_server::shared_footage() else {
        eprintln!("SKIP: ../shared footage absent");
        return;
    };
    if !common::ready(&footage.join(WALKWAY)) || !common::ready(&footage.join(WORKER)) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mqtt_port = free_port();
    let _broker = ha::mosquitto(tmp.path(), mqtt_port);
    let ha = HomeAssistant::start(&python, &tmp.path().join("ha"), free_port(), mqtt_port);

    let data = tmp.path().join("vigil");
    std::fs::create_dir_all(&data).unwrap();
    let log = data.join("vigil.log");
    let config = write_config(&data, &footage, mqtt_port, None);
    let mut vigil = run_vigil(&config, &log);

    // 1. Every entity appears, available, with the right kind.
    let mut expected: Vec<String> = [
        "Walkway Exit count",
        "Walkway Exit in",
        "Walkway Exit out",
        "Walkway Exit net",
        "Walkway Table occupancy",
        "Walkway Table person count",
        "Walkway Long stay at the table",
        "Worker Work area entry",
        "Worker Work area loitering",
        "Worker Work area occupancy",
        "Worker Work area person count",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    expected.extend(camera_entities("Walkway", false));
    expected.extend(camera_entities("Worker", true));
    let server = [
        "CPU",
        "Detector inference",
        "Storage used",
        "Storage free",
        "Cameras online",
        "Storage problem",
    ];
    let states = wait_states(&ha, &log, "every entity", Duration::from_secs(90), |s| {
        expected.iter().all(|n| s.contains_key(n))
            && server
                .iter()
                .all(|n| s.keys().any(|k| k.starts_with("Vigil ") && k.ends_with(n)))
    });
    let names: BTreeSet<&String> = states.keys().collect();
    assert!(
        !names.contains(&"Walkway Recording".to_string()),
        "the walkway is not recorded: no recording switch"
    );
    assert_eq!(
        states.len(),
        expected.len() + server.len(),
        "exactly the expected entities: {names:?}"
    );
    let entity_id = |name: &str| states[name]["entity_id"].as_str().unwrap().to_string();
    let class = |name: &str| states[name]["attributes"]["device_class"].clone();
    assert!(entity_id("Walkway Exit count").starts_with("event."));
    assert_eq!(class("Worker Work area entry"), "safety");
    assert_eq!(class("Worker Work area loitering"), "occupancy");
    assert_eq!(class("Walkway Motion"), "motion");
    assert_eq!(class("Worker Stream"), "connectivity");
    for n in HEALTH {
        assert_eq!(class(&format!("Worker {n}")), "problem", "{n}");
    }
    assert!(entity_id("Worker Picture").starts_with("camera."));
    assert!(entity_id("Worker Last event").starts_with("image."));
    assert!(entity_id("Worker Recording").starts_with("switch."));
    assert_eq!(
        states["Walkway Exit count"]["attributes"]["event_types"],
        serde_json::json!(["in", "out"])
    );

    // 2. The states follow the footage.
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let states = wait_states(
        &ha,
        &log,
        "states from the footage",
        Duration::from_secs(120),
        |s| {
            for (k, v) in s {
                seen.entry(k.clone())
                    .or_default()
                    .insert(v["state"].as_str().unwrap_or_default().to_string());
            }
            let saw = |name: &str, f: &dyn Fn(&str) -> bool| {
                seen.get(name).is_some_and(|v| v.iter().any(|x| f(x)))
            };
            let positive = |x: &str| x.parse::<f64>().is_ok_and(|v| v >= 1.0);
            let timestamp = |x: &str| x.starts_with("20");
            saw("Worker Work area entry", &|x| x == "on")
                && saw("Worker Work area loitering", &|x| x == "on")
                && saw("Worker Work area occupancy", &positive)
                && saw("Worker Work area person count", &positive)
                && saw("Walkway person count", &positive)
                && saw("Walkway Table occupancy", &positive)
                && saw("Walkway Motion", &|x| x == "on")
                && saw("Walkway Exit out", &positive)
                && saw("Walkway Exit count", &timestamp)
                && saw("Worker Last event", &timestamp)
                && state_of(s, "Worker Stream") == "on"
                && s.iter()
                    .any(|(k, v)| k.ends_with("Cameras online") && v["state"] == "2")
                && s.iter().any(|(k, v)| {
                    k.ends_with("Detector inference") && positive(v["state"].as_str().unwrap_or(""))
                })
        },
    );
    // Storage is well: Home Assistant's template reads the server's (empty) problem list as off.
    let storage = states
        .iter()
        .find(|(k, _)| k.ends_with("Storage problem"))
        .map(|(_, v)| v["state"].clone());
    assert_eq!(storage, Some(serde_json::json!("off")));
    // The footage is untouched: no camera health problem was ever raised.
    for camera in ["Walkway", "Worker"] {
        for n in HEALTH {
            let name = format!("{camera} {n}");
            assert!(
                // "unavailable" until Vigil shows as online.
                seen.get(&name)
                    .is_some_and(|v| v.contains("off") && !v.contains("on")),
                "{name}: {:?}",
                seen.get(&name)
            );
        }
    }
    let crossing = &states["Walkway Exit count"]["attributes"];
    assert_eq!(crossing["event_type"], "out", "{crossing}");
    assert_eq!(crossing["class"], "person", "{crossing}");
    for fps in ["Walkway Analysed fps", "Worker Analysed fps"] {
        let v = state_of(&states, fps);
        let decimals = v.split('.').nth(1).map_or(0, str::len);
        assert!(v.parse::<f64>().is_ok() && decimals <= 1, "{fps} = {v}");
    }
    // The pictures are JPEGs Home Assistant serves.
    for (name, route) in [
        ("Worker Picture", "camera_proxy"),
        ("Worker Last event", "image_proxy"),
    ] {
        let a = ha
            .get(&format!("/api/{route}/{}", entity_id(name)))
            .unwrap();
        assert_eq!(a.status, 200, "{name}");
        assert_eq!(a.content_type, "image/jpeg", "{name}");
        assert!(a.body.starts_with(&[0xFF, 0xD8]), "{name}: not a JPEG");
    }

    // 3. Switches turned off and on from Home Assistant act on Vigil and report back.
    ha.call("switch", "turn_off", &entity_id("Worker Detection"));
    wait_states(&ha, &log, "detection off", Duration::from_secs(20), |s| {
        state_of(s, "Worker Detection") == "off"
            && state_of(s, "Worker Work area entry") == "off"
            && state_of(s, "Worker Work area occupancy") == "0"
    });
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .any(|l| l.contains("detection switched off") && l.contains("Worker"))
    );
    let recordings = data.join("recordings");
    ha.call("switch", "turn_off", &entity_id("Worker Recording"));
    wait_states(&ha, &log, "recording off", Duration::from_secs(20), |s| {
        state_of(s, "Worker Recording") == "off"
    });
    // Once the recorder has written what it had queued, nothing more is written while it is off (the
    // worker is the only recorded camera; a recording writes a fragment every second).
    std::thread::sleep(Duration::from_secs(3));
    let before = dir_bytes(&recordings);
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(
        dir_bytes(&recordings),
        before,
        "recorded while switched off"
    );
    ha.call("switch", "turn_on", &entity_id("Worker Detection"));
    ha.call("switch", "turn_on", &entity_id("Worker Recording"));
    let since = Instant::now();
    wait_states(
        &ha,
        &log,
        "detection back on",
        Duration::from_secs(30),
        |s| {
            state_of(s, "Worker Detection") == "on"
                && state_of(s, "Worker Recording") == "on"
                && since.elapsed() > Duration::from_secs(2)
                && state_of(s, "Worker Work area occupancy") != "0"
        },
    );
    let t0 = Instant::now();
    while dir_bytes(&recordings) <= before {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "recording did not resume:\n{}",
            tail(&log, 40)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    for line in [
        "recording switched off",
        "recording switched on",
        "detection switched on",
    ] {
        assert!(
            text.lines()
                .any(|l| l.contains(line) && l.contains("Worker")),
            "no '{line}' in the log:\n{}",
            tail(&log, 40)
        );
    }

    // 4. Vigil stops: everything becomes unavailable.
    vigil.stop(Duration::from_secs(20));
    wait_states(&ha, &log, "unavailable", Duration::from_secs(20), |s| {
        s.values().all(|v| v["state"] == "unavailable")
    });
    // 5. A restart with a renamed rule: the old entity goes, the new one comes, no stale value shows.
    write_config(
        &data,
        &footage,
        mqtt_port,
        Some(("Work area entry", "Work area intrusion")),
    );
    let _vigil = run_vigil(&config, &log);
    wait_states(
        &ha,
        &log,
        "the renamed rule",
        Duration::from_secs(60),
        |s| {
            s.contains_key("Worker Work area intrusion")
                && !s.contains_key("Worker Work area entry")
                && state_of(s, "Worker Detection") == "on"
                && s.values().all(|v| v["state"] != "unavailable")
        },
    );

    // 6. Home Assistant logged nothing about MQTT: no schema, template or payload complaint.
    let ha_log = ha.log();
    let complaints: Vec<&str> = ha_log
        .lines()
        .filter(|l| l.contains(" WARNING ") || l.contains(" ERROR "))
        .filter(|l| {
            let lower = l.to_lowercase();
            lower.contains("mqtt")
                || lower.contains("vigil")
                || lower.contains("walkway")
                || lower.contains("worker")
        })
        .collect();
    assert!(
        complaints.is_empty(),
        "Home Assistant complained:\n{}",
        complaints.join("\n")
    );
}
