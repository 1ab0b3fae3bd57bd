//! `vigil.toml` changed through the API while `vigil run` runs, against the real RTSP server: comments
//! survive, a bad change is refused with its line and writes nothing, two admins saving on the same
//! version cannot overwrite each other (one wins, the rest are told), rules apply to the running analysis
//! without a restart, a new camera (probed first) and a new zone with its rule restart the cameras
//! in-process and the rule fires on the footage; every version is kept and every change audited.

use super::*;
use serde_json::{Value, json};
use vigil_store::{EventQuery, EventReader};

struct Api {
    s: support::AdminSession,
    url: String,
}

impl Api {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let mut r = match (method, body) {
            ("GET", _) => self
                .s
                .agent
                .get(&url)
                .header("cookie", &self.s.cookie)
                .call(),
            (_, b) => self
                .s
                .agent
                .post(&url)
                .header("cookie", &self.s.cookie)
                .header("x-csrf-token", &self.s.csrf)
                .header("content-type", "application/json")
                .send(b.unwrap_or(json!({})).to_string()),
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn doc(&self) -> Value {
        let (st, doc) = self.call("GET", "/api/config", None);
        assert_eq!(st, 200, "{doc}");
        doc
    }

    /// Waits for the `n`-th in-process restart and for the server to answer again; how long it took.
    fn wait_back(&self, vigil: &Vigil, n: usize) -> Duration {
        let t = Instant::now();
        loop {
            let restarted = vigil.dump().matches("restarted with it").count() >= n;
            let up = restarted
                && self
                    .s
                    .agent
                    .get(&format!("{}/api/config", self.url))
                    .header("cookie", &self.s.cookie)
                    .call()
                    .is_ok_and(|r| r.status() == 200);
            if up {
                return t.elapsed();
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "the server did not come back:\n{}",
                vigil.dump()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn rule_events(data: &Path, rule: &str) -> usize {
    let Ok(reader) = EventReader::open(&data.join("index.db")) else {
        return 0;
    };
    let q = EventQuery {
        limit: 500,
        ..EventQuery::default()
    };
    reader
        .list(&q)
        .map(|p| p.events.iter().filter(|e| e.event.rule == rule).count())
        .unwrap_or(0)
}

#[test]
fn the_configuration_changes_from_the_api_checked_versioned_and_applied_while_running() {
    let Some(clip) = clip_or_skip("config_live") else {
        return;
    };
    let Some(models) = support::analysis_models(&clip) else {
        eprintln!("SKIP config_live: no detector model or ORT_DYLIB_PATH");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let server = RtspTestServer::start(&[Mount::new("lot", &clip).looped(20)]).unwrap();
    let port = support::free_port();
    let data = tmp.path().join("data");
    let config = tmp.path().join("vigil.toml");
    let original = format!(
        "# The site's configuration: this comment must survive every change.\n\
         data_dir = {data:?}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n\
         [analysis]\ndetect_fps = 5\nthreads = 1\n\n[storage]\nsegment_seconds = 4\n\n\
         [[camera]]\nname = \"yard\"   # the yard camera\nmain = \"file://{}\"\n\n\
         [[rules.yard.zone]]\nname = \"Everywhere\"\npoints = [[0, 0], [1, 0], [1, 1], [0, 1]]\n\
         classes = [\"car\", \"bus\", \"truck\"]\n\n\
         [[rules.yard.rule]]\nname = \"Vehicles\"\nkind = \"intrusion\"\nzone = \"Everywhere\"\n",
        clip.display()
    );
    std::fs::write(&config, &original).unwrap();
    let mut vigil = Vigil::spawn(&config, port, Some(&models));
    let api = Api {
        s: support::first_admin(&mut vigil, &data),
        url: vigil.url(),
    };

    // Read: the text, its version, the cameras parsed.
    let doc = api.doc();
    assert_eq!(doc["text"], original);
    assert_eq!(doc["cameras"][0]["rules"]["zone"][0]["name"], "Everywhere");
    let v0 = doc["version"].as_str().unwrap().to_string();

    // A rule naming a zone that does not exist: 422 with the line, nothing written.
    let (st, bad) = api.call(
        "POST",
        "/api/config/edit",
        Some(json!({"version": v0, "edit": "set_rule", "camera": "yard",
                    "rule": {"name": "Vehicles", "kind": "intrusion", "zone": "Nowhere"}})),
    );
    assert_eq!(st, 422, "{bad}");
    assert!(bad["problems"][0]["line"].as_u64().unwrap() > 0, "{bad}");
    assert!(
        bad["message"].as_str().unwrap().contains("Nowhere"),
        "{bad}"
    );
    assert_eq!(api.doc()["version"], v0.as_str(), "nothing written");

    // Two admins' worth of saves on the same version at once: exactly one is written.
    let texts: Vec<String> = (0..8)
        .map(|i| original.replace("# the yard camera", &format!("# the yard camera ({i})")))
        .collect();
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = texts
            .iter()
            .map(|t| {
                let (api, v0) = (&api, &v0);
                scope.spawn(move || {
                    api.call(
                        "POST",
                        "/api/config",
                        Some(json!({"text": t, "version": v0})),
                    )
                    .0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        answers.iter().filter(|s| **s == 200).count(),
        1,
        "one save wins: {answers:?}"
    );
    assert!(
        answers.iter().all(|s| *s == 200 || *s == 409),
        "{answers:?}"
    );
    let doc = api.doc();
    let v1 = doc["version"].as_str().unwrap().to_string();
    // The stale version is refused and told the current one.
    let (st, stale) = api.call(
        "POST",
        "/api/config",
        Some(json!({"text": original, "version": v0})),
    );
    assert_eq!((st, stale["version"].as_str()), (409, Some(v1.as_str())));

    // A zone redrawn and a rule's classes: applied to the running analysis, no restart.
    let (st, saved) = api.call(
        "POST",
        "/api/config/edit",
        Some(json!({"version": v1, "edit": "geometry", "camera": "yard",
                    "geometry": {"zones": [{"name": "Everywhere",
                                            "points": [[0.0, 0.0], [1.0, 0.0], [1.0, 0.98], [0.0, 0.98]]}]}})),
    );
    assert_eq!(st, 200, "{saved}");
    assert_eq!(saved["applied"], "rules", "{saved}");
    assert_eq!(saved["cameras"], json!(["yard"]));
    // The running analysis took them (the system page says when), and nothing restarted.
    let t = Instant::now();
    loop {
        let (_, system) = api.call("GET", "/api/system", None);
        if system["cameras"][0]["rules_changed_ms"].is_i64() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the analysis did not take the new rules: {system}\n{}",
            vigil.dump()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "new rules applied to the running analysis {:?} after the save",
        t.elapsed()
    );
    assert!(
        !vigil.dump().contains("restarted with it"),
        "no restart for rules"
    );

    // A probe of a real RTSP stream, and of nothing.
    let rtsp = server.url("lot").to_string();
    let (st, probe) = api.call("POST", "/api/config/probe", Some(json!({"url": rtsp})));
    assert_eq!(st, 200, "{probe}");
    assert_eq!(probe["codec"], "h264");
    assert!(probe["width"].as_u64().unwrap() >= 320, "{probe}");
    let fps = probe["fps"].as_f64().unwrap();
    assert!(
        (fps - FPS).abs() < 1.5,
        "probed {fps} fps, the clip has {FPS}"
    );
    let t = Instant::now();
    let dead = format!("rtsp://127.0.0.1:{}/none", support::free_port());
    let (st, nothing) = api.call("POST", "/api/config/probe", Some(json!({"url": dead})));
    assert_eq!(st, 502, "{nothing}");
    assert!(t.elapsed() < Duration::from_secs(10));

    // A preview of a draft (not saved): a line across the middle and a crossing rule, and the zone
    // rule, run over the last minute of recording (once 20 s of it are in the index).
    wait_until("20 s of recording", Duration::from_secs(60), || {
        runs(tmp.path(), "yard")
            .iter()
            .map(|r| r.end.0 - r.start.0)
            .sum::<i64>()
            > 20 * 90_000
    });
    let doc = api.doc();
    let draft = format!(
        "{}\n[[rules.yard.line]]\nname = \"Middle\"\np1 = [0.0, 0.5]\np2 = [1.0, 0.5]\n\n\
         [[rules.yard.rule]]\nname = \"Middle crossings\"\nkind = \"line_crossing\"\nline = \"Middle\"\n",
        doc["text"].as_str().unwrap()
    );
    let t = Instant::now();
    let (st, job) = api.call(
        "POST",
        "/api/config/preview",
        Some(json!({"camera": "yard", "minutes": 1, "text": draft})),
    );
    assert_eq!(st, 202, "{job}");
    let id = job["id"].as_i64().unwrap();
    let report = loop {
        let (_, job) = api.call("GET", &format!("/api/config/preview/{id}"), None);
        match job["state"].as_str() {
            Some("done") => break job["report"].clone(),
            Some("failed") => panic!("preview failed: {job}"),
            _ => {}
        }
        assert!(t.elapsed() < Duration::from_secs(180), "{job}");
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!(
        "preview of {:.0} s ({} frames) in {:?}: {}",
        report["seconds"].as_f64().unwrap(),
        report["frames"],
        t.elapsed(),
        report["summary"]
    );
    assert_eq!(report["lines"][0]["name"], "Middle", "{report}");
    let vehicles = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Vehicles")
        .unwrap();
    assert!(vehicles["events"].as_u64().unwrap() > 0, "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("Middle would have counted")
    );
    assert_eq!(
        api.doc()["version"],
        doc["version"],
        "a preview saves nothing"
    );
    // A draft with a problem: the preview says so.
    let (_, job) = api.call(
        "POST",
        "/api/config/preview",
        Some(json!({"camera": "yard", "minutes": 1, "text": draft.replace("line = \"Middle\"", "line = \"Nope\"")})),
    );
    let id = job["id"].as_i64().unwrap();
    let failed = loop {
        let (_, job) = api.call("GET", &format!("/api/config/preview/{id}"), None);
        if job["state"] == "failed" {
            break job;
        }
        assert!(job["state"] == "running", "{job}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        failed["error"].as_str().unwrap().contains("Nope"),
        "{failed}"
    );

    // A new zone with a rule on it: a restart (Home Assistant's entities change), then it fires.
    let version = api.doc()["version"].as_str().unwrap().to_string();
    let (st, saved) = api.call(
        "POST",
        "/api/config/edit",
        Some(json!({"version": version, "edit": "geometry", "camera": "yard",
                    "geometry": {"zones": [
                        {"name": "Everywhere", "points": [[0.0, 0.0], [1.0, 0.0], [1.0, 0.98], [0.0, 0.98]]},
                        {"name": "Drawn", "points": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]}]}})),
    );
    assert_eq!(
        (st, saved["applied"].as_str()),
        (200, Some("restart")),
        "{saved}"
    );
    let gap = api.wait_back(&vigil, 1);
    eprintln!("in-process restart: the server answered again {gap:?} after the save");
    let version = api.doc()["version"].as_str().unwrap().to_string();
    let (st, saved) = api.call(
        "POST",
        "/api/config/edit",
        Some(
            json!({"version": version, "edit": "set_rule", "camera": "yard",
                    "rule": {"name": "Drawn vehicles", "kind": "intrusion", "zone": "Drawn",
                             "classes": ["car", "bus", "truck"]}}),
        ),
    );
    assert_eq!(
        (st, saved["applied"].as_str()),
        (200, Some("restart")),
        "{saved}"
    );
    api.wait_back(&vigil, 2);
    wait_until(
        "the drawn zone's rule to fire",
        Duration::from_secs(90),
        || rule_events(&data, "Drawn vehicles") > 0,
    );

    // A camera added by its RTSP URL: after the restart it is there and records.
    let version = api.doc()["version"].as_str().unwrap().to_string();
    let (st, saved) = api.call(
        "POST",
        "/api/config/edit",
        Some(json!({"version": version, "edit": "add_camera",
                    "camera": {"name": "lot", "main": rtsp}})),
    );
    assert_eq!(
        (st, saved["applied"].as_str()),
        (200, Some("restart")),
        "{saved}"
    );
    api.wait_back(&vigil, 3);
    wait_until("the new camera to record", Duration::from_secs(60), || {
        !runs(tmp.path(), "lot").is_empty()
    });

    // What each restart cost the camera that ran through all of them: the gaps between its runs.
    let yard = runs(tmp.path(), "yard");
    let gaps: Vec<f64> = yard
        .windows(2)
        .map(|w| (w[1].start.0 - w[0].end.0) as f64 / 90_000.0)
        .collect();
    eprintln!("recording gaps of the camera across the restarts: {gaps:.2?} s");

    // The file: every change in it, every comment kept; every earlier version kept.
    let text = std::fs::read_to_string(&config).unwrap();
    for kept in [
        "# The site's configuration: this comment must survive every change.",
        "# the yard camera (",
        "name = \"Drawn vehicles\"",
        "name = \"lot\"",
    ] {
        assert!(text.contains(kept), "{kept:?} in:\n{text}");
    }
    let (_, history) = api.call("GET", "/api/config/history", None);
    let versions = history["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 5, "{history}");
    let first = versions[0]["id"].as_str().unwrap();
    let (st, old) = api.call("GET", &format!("/api/config/history/{first}"), None);
    assert_eq!((st, old["text"].as_str()), (200, Some(original.as_str())));
    let (_, audit) = api.call("GET", "/api/audit?limit=200", None);
    let changes = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "config.change" && e["user"] == "keeper")
        .count();
    assert_eq!(changes, 5, "every change audited, by whom: {audit}");
    let log = stop(vigil);
    assert!(log.contains("restarted with it"), "{log}");
}

/// A third-party ONVIF camera (ipycam) found from the API, added with the streams it names, recorded.
#[test]
fn an_onvif_camera_found_from_the_api_is_added_and_recorded() {
    use vigil_onvif::test_camera::{IpyCam, IpyCamOptions, python};
    let Some(clip) = clip_or_skip("onvif_added") else {
        return;
    };
    let py = match python() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("SKIP onvif_added: {e}");
            return;
        }
    };
    let cam = IpyCam::start(
        &py,
        &IpyCamOptions {
            video: Some(clip.clone()),
            ..IpyCamOptions::default()
        },
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let data = tmp.path().join("data");
    let config = tmp.path().join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [analysis]\nenabled = false\n\n[storage]\nsegment_seconds = 4\n\n\
             [[camera]]\nname = \"yard\"\nmain = \"file://{}\"\n",
            clip.display()
        ),
    )
    .unwrap();
    let mut vigil = Vigil::spawn(&config, port, None);
    let api = Api {
        s: support::first_admin(&mut vigil, &data),
        url: vigil.url(),
    };
    // Every ipycam on this host answers on UDP 3702: ask loopback, pick ours by its address.
    let (st, found) = api.call(
        "POST",
        "/api/config/discover",
        Some(json!({"address": "127.0.0.1", "seconds": 1.5})),
    );
    assert_eq!(st, 200, "{found}");
    let device = found["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["address"] == cam.device_url.as_str())
        .unwrap_or_else(|| panic!("ipycam at {} not found: {found}", cam.device_url))
        .clone();
    assert_eq!(device["main"], cam.main.as_str(), "{device}");
    assert_eq!(device["sub"], cam.sub.as_str(), "{device}");
    assert_eq!(device["ptz"], true);
    let version = api.doc()["version"].as_str().unwrap().to_string();
    let (st, saved) = api.call(
        "POST",
        "/api/config/edit",
        Some(json!({"version": version, "edit": "add_camera",
                    "camera": {"name": "porch", "main": device["main"], "sub": device["sub"],
                               "onvif": device["address"]}})),
    );
    assert_eq!(
        (st, saved["applied"].as_str()),
        (200, Some("restart")),
        "{saved}"
    );
    api.wait_back(&vigil, 1);
    wait_until(
        "the ONVIF camera to record",
        Duration::from_secs(60),
        || !runs(tmp.path(), "porch").is_empty(),
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains(&format!("onvif = \"{}\"", cam.device_url)),
        "{text}"
    );
    stop(vigil);
}

/// Timeline thumbnails: a picture of the recording at a moment, scaled, with the camera's privacy mask
/// blacked out; nothing where nothing was recorded.
#[test]
fn timeline_thumbnails_show_the_recording_with_privacy_masks_blacked_out() {
    let Some(clip) = clip_or_skip("thumbnails") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let data = tmp.path().join("data");
    let config = tmp.path().join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [analysis]\nenabled = false\n\n[storage]\nsegment_seconds = 4\n\n\
             [[camera]]\nname = \"yard\"\nmain = \"file://{}\"\n\n\
             [[rules.yard.mask]]\nname = \"Left half\"\nkind = \"privacy\"\n\
             points = [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]\n",
            clip.display()
        ),
    )
    .unwrap();
    let mut vigil = Vigil::spawn(&config, port, None);
    let api = Api {
        s: support::first_admin(&mut vigil, &data),
        url: vigil.url(),
    };
    wait_until("a recording", Duration::from_secs(60), || {
        runs(tmp.path(), "yard")
            .first()
            .is_some_and(|r| r.end.0 - r.start.0 > 5 * 90_000)
    });
    let start_ms = runs(tmp.path(), "yard")[0].start.0 / 90;
    let get = |at: i64| {
        let mut r = api
            .s
            .agent
            .get(&format!(
                "{}/api/cameras/yard/thumbnail.jpg?at={at}&width=160",
                api.url
            ))
            .header("cookie", &api.s.cookie)
            .call()
            .unwrap();
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (status, ct, r.body_mut().read_to_vec().unwrap())
    };
    let t = Instant::now();
    let (st, ct, jpeg) = get(start_ms + 1000);
    eprintln!("thumbnail: {} bytes in {:?}", jpeg.len(), t.elapsed());
    assert_eq!((st, ct.as_str()), (200, "image/jpeg"));
    let file = tmp.path().join("thumb.jpg");
    std::fs::write(&file, &jpeg).unwrap();
    let image = vigil_media::image_file::read_bgr(&file).unwrap();
    assert_eq!(image.width(), 160);
    // The masked left half is black; the right half is the picture.
    let mean = |x0: u32, x1: u32| {
        let mut sum = 0u64;
        let mut n = 0u64;
        for y in 0..image.height() {
            for x in x0..x1 {
                let p = image.get(x, y);
                sum += u64::from(p[0]) + u64::from(p[1]) + u64::from(p[2]);
                n += 3;
            }
        }
        sum as f64 / n as f64
    };
    let (left, right) = (mean(4, 76), mean(84, 156));
    assert!(
        left < 12.0 && right > 40.0,
        "left {left:.1}, right {right:.1}"
    );
    // Before anything was recorded: a clear 404.
    let (st, _, body) = get(start_ms - 3_600_000);
    assert_eq!(st, 404, "{}", String::from_utf8_lossy(&body));
    stop(vigil);
}
