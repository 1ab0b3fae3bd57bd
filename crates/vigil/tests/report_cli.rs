//! `vigil report` (one business-intelligence report now) and `[[reports]]` in `vigil config check`:
//! the PDF's text (pdftotext) holds the KPIs of the events stored; bad input is a clear error.

mod support;

use std::path::Path;
use vigil_core::{
    ClassCount, CrossingDirection, Event, EventId, EventKind, EventPhase, EventTime, Time90k,
};

/// 2024-06-07T12:00:00Z.
const T0_MS: i64 = 1_717_761_600_000;

fn crossing(n: u64, ms: i64, ins: u32, outs: u32) -> Event {
    let t = EventTime {
        unix_ms: ms,
        media: Time90k(ms * 90),
    };
    Event {
        attributes: Default::default(),
        id: EventId::from_parts(ms as u64, n as u128),
        camera: "gate".into(),
        rule: "Count".into(),
        kind: EventKind::LineCrossing {
            direction: CrossingDirection::AToB,
            inbound: true,
            inbound_count: ins,
            outbound_count: outs,
        },
        phase: EventPhase::End,
        class_name: "person".into(),
        objects: vec![ClassCount {
            class_name: "person".into(),
            class_id: 0,
            count: ins + outs,
        }],
        track_ids: vec![n],
        zone: None,
        line: Some("Entrance".into()),
        start: t,
        last: t,
        end: Some(t),
        best: None,
        description: "crossed".into(),
    }
}

fn config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let rec = dir.join("recordings");
    std::fs::create_dir_all(&rec).unwrap();
    let text = format!(
        "data_dir = {data:?}\n[analysis]\nenabled = false\n[storage]\n[[storage.dirs]]\nname = \"main\"\n\
         path = {rec:?}\nmin_free_bytes = 0\n\n[[camera]]\nname = \"gate\"\nmain = \"rtsp://127.0.0.1:9/x\"\n\
         roles = [\"record\"]\n\n[rules.gate]\ntimezone = \"CET-1CEST,M3.5.0,M10.5.0/3\"\n{extra}",
        data = dir.display().to_string(),
        rec = rec.display().to_string(),
    );
    let path = dir.join("vigil.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_report_of_a_range_holds_the_kpis_of_the_stored_events() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "");
    {
        let mut c = vigil_store::StoreConfig::new(
            tmp.path().join("index.db"),
            "main",
            tmp.path().join("recordings"),
        );
        c.dirs[0].min_free_bytes = 0;
        c.background_retention = false;
        let (store, _) = vigil_store::Store::open(c).unwrap();
        // the day of T0 (Berlin): in 9, out 4; the day before: in 3, out 0
        store.record_event(&crossing(1, T0_MS, 6, 1)).unwrap();
        store
            .record_event(&crossing(2, T0_MS + 3_600_000, 3, 3))
            .unwrap();
        store
            .record_event(&crossing(3, T0_MS - 86_400_000, 3, 0))
            .unwrap();
    }
    let out = tmp.path().join("day.pdf");
    let cfg_s = cfg.to_str().unwrap();
    let out_s = out.to_str().unwrap();
    let (code, stdout, stderr) = support::cli(
        &[
            "report",
            "--config",
            cfg_s,
            "--from",
            "2024-06-07T00:00:00+02:00",
            "--to",
            "2024-06-08T00:00:00+02:00",
            "--format",
            "pdf",
            "--out",
            out_s,
            "--title",
            "Gate day",
        ],
        None,
        &[],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("Footfall in: 9 (+200% vs previous)"),
        "{stdout}"
    );
    assert!(stdout.contains("Footfall out: 4"), "{stdout}");
    match std::process::Command::new("pdftotext")
        .arg(&out)
        .arg("-")
        .output()
    {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            for want in [
                "Gate day",
                "Footfall in",
                "9",
                "+200% vs previous",
                "gate / Entrance: in 9, out 4",
            ] {
                assert!(text.contains(want), "{want:?} not in {text}");
            }
            // local time (Berlin, summer): the range is midnight to midnight
            assert!(
                text.contains("2024-06-07 00:00 to 2024-06-08 00:00"),
                "{text}"
            );
        }
        Err(e) => eprintln!("SKIP: pdftotext ({e}); install poppler-utils"),
    }
    let html = tmp.path().join("day.html");
    let (code, _, stderr) = support::cli(
        &[
            "report",
            "--config",
            cfg_s,
            "--from",
            "2024-06-07T00:00:00+02:00",
            "--to",
            "2024-06-08T00:00:00+02:00",
            "--format",
            "html",
            "--out",
            html.to_str().unwrap(),
        ],
        None,
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("data-kpi=\"footfall_in\""));

    // bad input: clear errors
    let (code, _, stderr) = support::cli(
        &[
            "report",
            "--config",
            cfg_s,
            "--from",
            "2024-06-08T00:00:00Z",
            "--to",
            "2024-06-07T00:00:00Z",
            "--out",
            out_s,
        ],
        None,
        &[],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("must be after"), "{stderr}");
    let (code, _, stderr) = support::cli(
        &[
            "report",
            "--config",
            cfg_s,
            "--from",
            "2024-06-07T00:00:00Z",
            "--to",
            "2024-06-08T00:00:00Z",
            "--format",
            "docx",
            "--out",
            out_s,
        ],
        None,
        &[],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("expected pdf or html"), "{stderr}");
}

#[test]
fn bad_reports_entries_are_named_by_config_check() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(
        tmp.path(),
        "\n[[reports]]\nname = \"Daily\"\nschedule = \"daily\"\nat = \"7am\"\ncameras = [\"nope\"]\n\
         webhook = \"missing\"\nformats = [\"docx\"]\n",
    );
    let (code, stdout, stderr) = support::cli(
        &["config", "check", "--config", cfg.to_str().unwrap()],
        None,
        &[],
    );
    assert_ne!(code, 0, "{stdout}");
    let all = format!("{stdout}{stderr}");
    for want in [
        "expected local time \"HH:MM\"",
        "no [[camera]] is named \"nope\"",
        "neither a [[webhook]] name nor an http(s) URL",
        "\"docx\": expected pdf or html",
    ] {
        assert!(all.contains(want), "{want:?} not in {all}");
    }
    let cfg = config(
        tmp.path(),
        "\n[[reports]]\nname = \"Weekly\"\nschedule = \"monthly\"\n",
    );
    let (code, stdout, stderr) = support::cli(
        &["config", "check", "--config", cfg.to_str().unwrap()],
        None,
        &[],
    );
    assert_ne!(code, 0);
    assert!(
        format!("{stdout}{stderr}").contains("monthly"),
        "{stdout}{stderr}"
    );
}
