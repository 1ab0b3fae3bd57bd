//! Camera health while `vigil run` runs, against the real RTSP server: a camera covered on the wire
//! raises a `covered` event that ends when it is uncovered, a switch to IR mode an `ir_mode` event
//! (information) until colour is back, and a camera whose server dies is `offline` until it is back;
//! nothing else is raised.

use super::*;
use vigil_core::EventKind;
use vigil_store::{EventQuery, EventReader};

/// Seconds into the tampered clip where the cover goes on and comes off.
const COVER_ON: f64 = 12.0;
const COVER_OFF: f64 = 26.0;
/// Seconds into the clip where the camera switches to IR mode (monochrome, brighter) and back to day.
const IR_ON: f64 = 30.0;
const IR_OFF: f64 = 37.0;

/// 40 s of the people clip (10 fps), covered by a flat gray card from [`COVER_ON`] to [`COVER_OFF`],
/// in IR mode from [`IR_ON`] to [`IR_OFF`].
fn covered_clip(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let src = shared_footage()?.join("intel/one-by-one-person-detection.mp4");
    if !src.is_file() {
        return None;
    }
    let out = dir.join("covered.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-t", "40", "-i"])
        .arg(&src)
        .args([
            "-vf",
            &format!(
                "drawbox=x=0:y=0:w=iw:h=ih:color=0x505050:t=fill:enable='between(t,{COVER_ON},{COVER_OFF})',\
                 hue=s=0:enable='between(t,{IR_ON},{IR_OFF})',eq=brightness=0.12:enable='between(t,{IR_ON},{IR_OFF})'"
            ),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "20",
            "-bf",
            "0",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg made no tampered clip");
    Some((src, out))
}

/// The camera's health events in the store, oldest first.
fn health_events(data: &Path) -> Vec<vigil_store::StoredEvent> {
    let Ok(reader) = EventReader::open(&data.join("index.db")) else {
        return Vec::new();
    };
    let q = EventQuery {
        kinds: Some(vec!["camera_health".into()]),
        limit: 100,
        ..EventQuery::default()
    };
    let mut events = reader.list(&q).map(|p| p.events).unwrap_or_default();
    events.sort_by_key(|e| e.event.start.unix_ms);
    events
}

fn state(e: &vigil_store::StoredEvent) -> &str {
    match &e.event.kind {
        EventKind::CameraHealth { state, .. } => state,
        _ => "",
    }
}

#[test]
fn a_covered_camera_and_a_dead_stream_are_health_events_that_end_when_they_are_over() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((src, clip)) = covered_clip(tmp.path()) else {
        eprintln!("SKIP: ../shared footage absent");
        return;
    };
    let Some(models) = support::analysis_models(&src) else {
        eprintln!("SKIP: no detector model or ORT_DYLIB_PATH");
        return;
    };
    let mut server = RtspTestServer::start(&[Mount::new("gate", &clip).looped(3)]).unwrap();
    let port = support::free_port();
    let data = tmp.path().join("data");
    let config = tmp.path().join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [analysis]\ndetect_fps = 5\nthreads = 1\n\n[storage]\nsegment_seconds = 8\n\n\
             [[camera]]\nname = \"gate\"\nmain = \"{}\"\nroles = [\"record\", \"analyze\"]\n",
            server.url("gate")
        ),
    )
    .unwrap();
    let vigil = Vigil::spawn(&config, port, Some(&models));

    // The cover: found within 10 s of going on, ended within 15 s of coming off (the bounds),
    // timed against the first recorded frame (the clip's frame 0).
    wait_until("the covered event to end", Duration::from_secs(90), || {
        health_events(&data)
            .iter()
            .any(|e| state(e) == "covered" && !e.open)
    });
    let t0_ms = runs(tmp.path(), "gate")[0].start.0 / 90;
    let events = health_events(&data);
    let covered = events.iter().find(|e| state(e) == "covered").unwrap();
    let on = (covered.event.start.unix_ms - t0_ms) as f64 / 1000.0 - COVER_ON;
    let off = (covered.event.end.unwrap().unix_ms - t0_ms) as f64 / 1000.0 - COVER_OFF;
    assert!(
        (-1.0..10.0).contains(&on) && (-1.0..15.0).contains(&off),
        "covered {on:+.1} s after it went on, ended {off:+.1} s after it came off\n{}",
        vigil.dump()
    );
    eprintln!(
        "covered: dated {on:+.1} s from the cover going on, ended {off:+.1} s from it coming off"
    );
    assert!(
        covered
            .event
            .description
            .starts_with("Camera view covered for"),
        "{}",
        covered.event.description
    );

    // The switch to IR mode and back: information, dated and ended like the cover.
    wait_until("the ir_mode event to end", Duration::from_secs(40), || {
        health_events(&data)
            .iter()
            .any(|e| state(e) == "ir_mode" && !e.open)
    });
    let events = health_events(&data);
    let ir = events.iter().find(|e| state(e) == "ir_mode").unwrap();
    let on = (ir.event.start.unix_ms - t0_ms) as f64 / 1000.0 - IR_ON;
    let off = (ir.event.end.unwrap().unix_ms - t0_ms) as f64 / 1000.0 - IR_OFF;
    eprintln!("ir_mode: dated {on:+.1} s from the switch, ended {off:+.1} s from the way back");
    assert!(
        (-1.0..10.0).contains(&on) && (-1.0..15.0).contains(&off),
        "ir_mode {on:+.1} s after the switch, ended {off:+.1} s after the way back\n{}",
        vigil.dump()
    );
    assert!(
        ir.event
            .description
            .starts_with("Camera in IR (night) mode for"),
        "{}",
        ir.event.description
    );

    // The server dies: offline after its 30 s (sampled every 10 s), dated from the disconnection.
    server.stop();
    let down_ms = now_90k() / 90;
    wait_until("the camera to be offline", Duration::from_secs(60), || {
        health_events(&data).iter().any(|e| state(e) == "offline")
    });
    server.restart().unwrap();
    wait_until("the offline event to end", Duration::from_secs(40), || {
        health_events(&data)
            .iter()
            .any(|e| state(e) == "offline" && !e.open)
    });
    // A live trial of a candidate detector on the camera's analysed frames while it runs (at low
    // priority, frames skipped while it is busy): the same figures as on recordings, from the server.
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "model",
            "trial",
            "--candidate",
            "nanodet",
            "--live",
            "--minutes",
            "0.25",
            "--quiet",
        ])
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        vigil.dump()
    );
    eprintln!("{stdout}");
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap()).expect("JSON summary");
    let live = &summary["sources"][0];
    assert_eq!(
        (&summary["live"], &live["source"]),
        (&true.into(), &"gate".into()),
        "{summary}"
    );
    let n = |k: &str| live[k].as_u64().unwrap();
    assert!(n("frames") >= 5, "{summary}");
    let total = n("matched") + n("lost") + n("gained");
    assert!(
        total > 0
            && (live["agreement"].as_f64().unwrap() - n("matched") as f64 / total as f64).abs()
                < 1e-9,
        "{summary}"
    );

    let log = stop(vigil);
    let events = health_events(&data);
    let offline = events.iter().find(|e| state(e) == "offline").unwrap();
    let late = (offline.event.start.unix_ms - down_ms) as f64 / 1000.0;
    eprintln!("offline: dated {late:+.1} s from the outage");
    assert!(
        (-1.0..12.0).contains(&late),
        "offline dated {late:+.1} s from the outage\n{log}"
    );
    // Nothing else: the cover's edges, the reconnect and the clip's loop are not tamper.
    let other: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| !matches!(state(e), "covered" | "offline" | "ir_mode"))
        .map(|e| (state(e), e.event.description.as_str()))
        .collect();
    assert!(
        other.is_empty(),
        "unexpected health events: {other:?}\n{log}"
    );

    // The recordings it made are what `vigil model trial` tries a candidate detector on (decrypted
    // through the key store): the camera is a source with the frames of its last minutes.
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "model",
            "trial",
            "--candidate",
            "nanodet",
            "--minutes",
            "5",
            "--quiet",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--models")
        .arg(&models)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap()).expect("JSON summary");
    assert_eq!(summary["sources"][0]["source"], "gate", "{summary}");
    assert!(
        summary["sources"][0]["frames"].as_u64().unwrap() >= 100,
        "{summary}"
    );
}
