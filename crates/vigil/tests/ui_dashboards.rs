//! Dashboards and scheduled reports end to end: known line crossings, a queue event and track paths are
//! put into the store, then a real `vigil run` (a camera replaying footage, a `[[reports]]` entry) starts:
//! - the scheduler makes the missed daily report at start (yesterday) and delivers it to a real local HTTP
//!   receiver, signed with the webhook's HMAC secret; its PDF's text (pdftotext) holds the KPIs;
//! - headless Chromium (`ui_dashboards/flow.mjs`) shows the Dashboards page with data for the admin and
//!   for an analyst, whose navigation has no video pages, whose heatmap lies over a blank grid and whose
//!   requests for video, events and faces are refused (screenshots under `target/ui-screenshots/`).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::mpsc;
use support::{Vigil, chromium, node_modules};
use vigil_core::{
    ClassCount, CrossingDirection, Event, EventId, EventKind, EventPhase, EventTime, PathPoint,
    Time90k, TrackPath,
};

fn event(n: u64, ms: i64, kind: EventKind, line: Option<&str>, zone: Option<&str>) -> Event {
    let t = EventTime {
        unix_ms: ms,
        media: Time90k(ms * 90),
    };
    Event {
        attributes: Default::default(),
        id: EventId::from_parts(ms as u64, n as u128),
        camera: "yard".into(),
        rule: "BI".into(),
        kind,
        phase: EventPhase::End,
        class_name: "person".into(),
        objects: vec![ClassCount {
            class_name: "person".into(),
            class_id: 0,
            count: 1,
        }],
        track_ids: vec![n],
        zone: zone.map(Into::into),
        line: line.map(Into::into),
        start: t,
        last: t,
        end: Some(t),
        best: None,
        description: "test".into(),
    }
}

fn crossing(n: u64, ms: i64, ins: u32, outs: u32) -> Event {
    let kind = EventKind::LineCrossing {
        direction: CrossingDirection::AToB,
        inbound: true,
        inbound_count: ins,
        outbound_count: outs,
    };
    event(n, ms, kind, Some("Gate"), None)
}

/// One HTTP request received: its headers (lower-case names) and body.
type Received = (Vec<(String, String)>, Vec<u8>);

/// A real HTTP receiver on loopback that answers 200 to every POST and passes on what it got.
fn receiver() -> (u16, mpsc::Receiver<Received>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.trim().split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = tx.send((headers, body));
        }
    });
    (port, rx)
}

/// `target/ui-screenshots/dashboards`.
fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("ui-screenshots")
        .join("dashboards");
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn dashboards_show_the_stored_figures_and_the_missed_report_is_made_and_delivered_signed() {
    let Some(video) = support::footage("intel/car-detection.mp4") else {
        return;
    };
    let (Some(modules), Some(chromium)) = (node_modules(), chromium()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let now = vigil_core::time::now_unix_ms();
    let today = now - now.rem_euclid(86_400_000);
    let yesterday = today - 86_400_000;
    // the figures, through the real store, before vigil starts on the same index
    {
        let rec = data.join("recordings");
        std::fs::create_dir_all(&rec).unwrap();
        let mut c = vigil_store::StoreConfig::new(data.join("index.db"), "main", &rec);
        c.dirs[0].min_free_bytes = 0;
        c.background_retention = false;
        let (store, _) = vigil_store::Store::open(c).unwrap();
        // today (within the last minutes, so "today" holds them whatever the hour): in 7, out 3
        let recent = |m: i64| (now - m * 60_000).max(today + 1000);
        for (n, (m, i, o)) in [(9, 2, 1), (7, 1, 0), (5, 4, 2)].into_iter().enumerate() {
            store
                .record_event(&crossing(n as u64 + 1, recent(m), i, o))
                .unwrap();
        }
        let queue = EventKind::Queue {
            length: 2,
            peak_length: 4,
            mean_wait_ms: 30_000,
            max_wait_ms: 50_000,
        };
        store
            .record_event(&event(10, recent(6), queue, None, Some("Till")))
            .unwrap();
        // yesterday: in 5, out 5
        store
            .record_event(&crossing(20, yesterday + 10 * 3_600_000, 5, 5))
            .unwrap();
        let paths: Vec<Arc<TrackPath>> = (0..3u64)
            .map(|k| {
                let t0 = recent(8) + k as i64 * 5_000;
                Arc::new(TrackPath {
                    camera: "yard".into(),
                    track: 100 + k,
                    class: "person".into(),
                    first_ms: t0,
                    last_ms: t0 + 40_000,
                    points: (0..=40)
                        .map(|s| PathPoint {
                            ms: t0 + s * 1000,
                            x: 0.1 + 0.02 * s as f32,
                            y: 0.5 + 0.05 * k as f32,
                            w: 0.05,
                            h: 0.15,
                        })
                        .collect(),
                    attributes: Default::default(),
                })
            })
            .collect();
        store.record_paths(&paths).unwrap();
    }
    let (port, received) = receiver();
    let extra = format!(
        "[[webhook]]\nname = \"bi\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsecret = \"s3cret-hmac\"\n\n\
         [[reports]]\nname = \"Yard daily\"\nschedule = \"daily\"\nat = \"00:00\"\ncameras = [\"yard\"]\n\
         webhook = \"bi\"\nformats = [\"pdf\", \"html\"]\n"
    );
    let mut vigil = Vigil::start_with_extra(data, "yard", &video, None, &extra);
    let admin = support::first_admin(&mut vigil, data);
    let url = vigil.url();

    // the missed report (yesterday) is made at start and announced, signed
    let (headers, body) = received
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the report's webhook call");
    let h = |k: &str| {
        headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let ts = h("x-vigil-timestamp");
    assert_eq!(
        h("x-vigil-signature"),
        vigil_alert::signature(b"s3cret-hmac", &ts, &body),
        "the HMAC signature checks out"
    );
    let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(j["type"], "report");
    assert_eq!(j["name"], "Yard daily");
    assert_eq!(j["from"], yesterday);
    assert_eq!(j["kpis"][0]["key"], "footfall_in");
    assert_eq!(j["kpis"][0]["value"], 5.0);
    assert_eq!(j["kpis"][1]["value"], 5.0);
    let pdf_link = j["links"]["pdf"].as_str().unwrap().to_string();
    assert!(pdf_link.ends_with(".pdf"), "{pdf_link}");
    let id = j["id"].as_str().unwrap().to_string();
    let pdf = data.join("reports").join(format!("{id}.pdf"));
    match Command::new("pdftotext").arg(&pdf).arg("-").output() {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains("Yard daily") && text.contains("Footfall in"),
                "{text}"
            );
            assert!(text.contains("yard / Gate: in 5, out 5"), "{text}");
        }
        Err(e) => eprintln!("SKIP: pdftotext ({e}); install poppler-utils"),
    }

    // an analyst, made by the admin
    let r = admin
        .agent
        .post(&format!("{url}/api/users"))
        .header("content-type", "application/json")
        .header("cookie", &admin.cookie)
        .header("x-csrf-token", &admin.csrf)
        .send(
            serde_json::json!({"username": "ann", "password": "ledger-prism-77-harbour", "role": "analyst"})
                .to_string(),
        )
        .unwrap();
    assert!(r.status().is_success(), "analyst: {}", r.status());

    let shots = screenshots();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui_dashboards/flow.mjs");
    let out = Command::new("node")
        .arg(&script)
        .env("VIGIL_URL", &url)
        .env("VIGIL_SCREENSHOTS", &shots)
        .env("VIGIL_NODE_MODULES", &modules)
        .env("VIGIL_CHROMIUM", &chromium)
        .env("VIGIL_REPORT_ID", &id)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("[dash-test] OK"),
        "browser flow failed:\n{stdout}\n{stderr}\n--- vigil output ---\n{}",
        vigil.dump()
    );
    let pngs = std::fs::read_dir(&shots).unwrap().count();
    assert!(pngs >= 2, "{pngs} screenshots in {}", shots.display());
    assert!(
        vigil.stop(),
        "vigil run did not stop cleanly:\n{}",
        vigil.dump()
    );
}
