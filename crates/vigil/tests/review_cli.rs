//! `vigil review report` with the real binary, while another process holds the store open for writing
//! (as `vigil run` does): the weekly false-alarm table per camera, rule and ISO week in the camera's
//! time zone, as text and as JSON, and a clear error for a bad `--weeks`.

mod support;

use support::cli;
use vigil_core::{
    BBox, BestObject, ClassCount, Event, EventId, EventKind, EventPhase, EventTime, Time90k,
};

fn event(n: u128, start_ms: i64) -> Event {
    let t = EventTime {
        unix_ms: start_ms,
        media: Time90k(start_ms * 90),
    };
    Event {
        attributes: Default::default(),
        id: EventId::from_parts(start_ms as u64, n),
        camera: "gate".into(),
        rule: "Yard intrusion".into(),
        kind: EventKind::Intrusion,
        phase: EventPhase::End,
        class_name: "person".into(),
        objects: vec![ClassCount {
            class_name: "person".into(),
            class_id: 0,
            count: 1,
        }],
        track_ids: vec![n as u64],
        zone: Some("Yard".into()),
        line: None,
        start: t,
        last: t,
        end: Some(t),
        best: Some(BestObject {
            track_id: n as u64,
            score: 0.9,
            bbox: BBox::new(10.0, 20.0, 70.0, 180.0),
            frame_w: 1920,
            frame_h: 1080,
            time: t,
        }),
        description: "A person entered 'Yard' on gate".into(),
    }
}

#[test]
fn the_weekly_false_alarm_report_reads_a_store_in_use_in_local_weeks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rec = dir.join("recordings");
    std::fs::create_dir_all(&rec).unwrap();
    let config = dir.join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n\n[analysis]\nenabled = false\n\n\
             [storage]\nsegment_seconds = 4\n[[storage.dirs]]\nname = \"main\"\npath = {rec:?}\n\
             min_free_bytes = 0\n\n\
             [[camera]]\nname = \"gate\"\nmain = \"file:///nowhere.mp4\"\nroles = [\"record\"]\n\n\
             [rules.gate]\ntimezone = \"+02:00\"\n\
             [[rules.gate.zone]]\nname = \"Yard\"\npoints = [[0, 0], [1, 0], [1, 1], [0, 1]]\n\
             [[rules.gate.rule]]\nname = \"Yard intrusion\"\nkind = \"intrusion\"\nzone = \"Yard\"\n\
             severity = \"detection\"\n",
            data = dir.display().to_string(),
            rec = rec.display().to_string(),
        ),
    )
    .unwrap();
    let path = config.to_str().unwrap();
    let (code, _, err) = cli(&["config", "check", "--config", path], None, &[]);
    assert_eq!(code, 0, "the severity key is part of [[rule]]: {err}");

    // Sunday 23:30 UTC last week is Monday 01:30 at +02:00: this week, locally.
    let now = vigil_core::time::now_unix_ms();
    let today = now.div_euclid(86_400_000);
    let sunday = today - (today + 3).rem_euclid(7) - 1;
    let t = sunday * 86_400_000 + 23 * 3_600_000 + 30 * 60_000;
    let file = vigil_config::VigilConfig::load(&config).unwrap();
    let (store, _) = vigil_store::Store::open(file.store_config().unwrap()).unwrap();
    let (a, b) = (event(1, t), event(2, t + 60_000));
    store.record_events(&[a.clone(), b]).unwrap();
    store
        .record_feedback(1, "olga", a.id, vigil_store::Verdict::FalseAlarm, "a cat")
        .unwrap();
    let local_week = vigil_core::time::iso_week_text(sunday + 1);

    // The store stays open for writing (as under `vigil run`) while the report reads it.
    let (code, out, err) = cli(
        &[
            "review", "report", "--config", path, "--weeks", "2", "--json",
        ],
        None,
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["weeks"], 2);
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{json:#}");
    let r = &rows[0];
    assert_eq!(
        r["week"],
        local_week.as_str(),
        "the camera's local week, not UTC's"
    );
    assert_eq!(
        (r["camera"].as_str(), r["rule"].as_str()),
        (Some("gate"), Some("Yard intrusion"))
    );
    assert_eq!(
        (
            r["events"].as_u64(),
            r["false_alarms"].as_u64(),
            r["true_alarms"].as_u64()
        ),
        (Some(2), Some(1), Some(0))
    );
    assert_eq!(r["rate"], 0.5);

    let (code, out, err) = cli(&["review", "report", "--config", path], None, &[]);
    assert_eq!(code, 0, "{err}");
    let line = out
        .lines()
        .find(|l| l.contains("Yard intrusion"))
        .unwrap_or_else(|| panic!("{out}"));
    for cell in [local_week.as_str(), "gate", "2", "1", "0", "50.0%"] {
        assert!(
            line.split_whitespace().any(|c| c == cell),
            "{cell:?} in {line:?}"
        );
    }

    let (code, _, err) = cli(
        &["review", "report", "--config", path, "--weeks", "0"],
        None,
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("--weeks: give 1-52"), "{err}");
    drop(store);
}
