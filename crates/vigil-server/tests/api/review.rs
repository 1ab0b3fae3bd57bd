//! Review: items grouped per camera and time, reviewed per user, the unreviewed count, false-alarm
//! feedback (stored, audited, reported per ISO week), review state deleted with its events, scoping,
//! concurrency and bad input — against the real HTTPS server and store.

use crate::common::{self, Auth, CAM_A, CAM_B, Setup, TestServer};
use serde_json::{Value, json};
use vigil_core::{
    BBox, BestObject, ClassCount, Event, EventId, EventKind, EventPhase, EventTime, Time90k,
};

/// Stores an ended event of `kind` on `camera` from `start_ms` for `secs` seconds.
pub fn record(
    s: &TestServer,
    camera: &str,
    n: u128,
    start_ms: i64,
    secs: i64,
    kind: EventKind,
) -> String {
    let t = |ms: i64| EventTime {
        unix_ms: ms,
        media: Time90k(ms * 90),
    };
    let id = EventId::from_parts(start_ms as u64, n);
    let rule = match kind {
        EventKind::Intrusion => "Yard intrusion",
        _ => "Gate line",
    };
    let e = Event {
        attributes: Default::default(),
        id,
        camera: camera.into(),
        rule: rule.into(),
        kind,
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
        start: t(start_ms),
        last: t(start_ms + secs * 1000),
        end: Some(t(start_ms + secs * 1000)),
        best: Some(BestObject {
            track_id: n as u64,
            score: 0.5 + n as f32 / 100.0,
            bbox: BBox::new(10.0, 20.0, 70.0, 180.0),
            frame_w: 1920,
            frame_h: 1080,
            time: t(start_ms),
        }),
        description: format!("event {n} on {camera}"),
    };
    let store = s.ctx.store.as_ref().unwrap();
    store.record_event(&e).unwrap();
    id.to_string()
}

pub fn crossing() -> EventKind {
    EventKind::LineCrossing {
        direction: vigil_core::CrossingDirection::AToB,
        inbound: true,
        inbound_count: 1,
        outbound_count: 0,
    }
}

fn ids(items: &Value) -> Vec<Vec<String>> {
    items["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

fn state_rows(s: &TestServer) -> (u64, u64) {
    let store = s.ctx.store.as_ref().unwrap();
    store.event_reader().unwrap().review_state_rows().unwrap()
}

/// A minute-aligned time an hour ago.
fn base() -> i64 {
    (vigil_core::time::now_unix_ms() - 3_600_000) / 60_000 * 60_000
}

#[test]
fn items_group_per_camera_and_time_and_reviewed_marks_are_per_user() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let olga = Auth::Session(s.user(&admin, "olga", "operator", json!({})));
    let vera = Auth::Session(s.user(&admin, "vera", "viewer", json!({"cameras": [CAM_A]})));
    let audrey = Auth::Session(s.user(&admin, "audrey", "auditor", json!({})));
    let admin = Auth::Session(admin);
    let b = base();
    let e1 = record(&s, CAM_A, 1, b, 2, crossing());
    let e2 = record(&s, CAM_A, 2, b + 10_000, 2, EventKind::Intrusion);
    let e3 = record(&s, CAM_A, 3, b + 300_000, 2, crossing());
    let e4 = record(&s, CAM_B, 4, b + 10_000, 2, crossing());
    let store = s.ctx.store.as_ref().unwrap();
    let id2: EventId = e2.parse().unwrap();
    store
        .save_snapshot(id2, &common::snapshot_bytes(CAM_A, "full"), None)
        .unwrap();
    let from = b - 1000;
    let list = |who: &Auth, extra: &str| {
        let r = s.call("GET", &format!("/api/review?from={from}{extra}"), who, None);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };

    // 10 s apart: one item; 5 minutes apart: two. Newest first.
    let page = list(&olga, "");
    assert_eq!(
        ids(&page),
        vec![
            vec![e3.clone()],
            vec![e4.clone()],
            vec![e1.clone(), e2.clone()]
        ],
        "{page:#}"
    );
    let first = &page["items"][2];
    assert_eq!(first["camera"], CAM_A);
    assert_eq!(first["count"], 2);
    assert_eq!(first["start"], b);
    assert_eq!(first["end"], b + 12_000);
    assert_eq!(
        first["severity"], "alert",
        "the intrusion makes the item an alert"
    );
    assert_eq!(first["snapshot"], e2.as_str());
    assert_eq!(first["id"], e1.as_str());
    assert_eq!(first["rules"], json!(["Gate line", "Yard intrusion"]));
    assert_eq!(first["reviewed"], false);
    assert_eq!(page["items"][0]["severity"], "detection");
    // Severity filters the items; the events list carries it too.
    assert_eq!(
        ids(&list(&olga, "&severity=alert")),
        vec![vec![e1.clone(), e2.clone()]]
    );
    let events = s
        .call(
            "GET",
            &format!("/api/events?camera={CAM_A}&start={from}"),
            &olga,
            None,
        )
        .json();
    let sev: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["severity"].as_str().unwrap())
        .collect();
    assert_eq!(sev, vec!["detection", "alert", "detection"]);

    // Keyset pagination walks the same items one by one.
    let mut walked = Vec::new();
    let mut cursor = String::new();
    loop {
        let p = list(&olga, &format!("&limit=1&cursor={cursor}"));
        walked.extend(ids(&p));
        match p["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(walked, ids(&page));

    // A camera-scoped viewer sees its camera's items only.
    assert_eq!(
        ids(&list(&vera, "")),
        vec![vec![e3.clone()], vec![e1.clone(), e2.clone()]]
    );
    assert_eq!(
        ids(&list(&vera, &format!("&camera={CAM_B}"))),
        Vec::<Vec<String>>::new()
    );

    let count = |who: &Auth| {
        let r = s.call("GET", "/api/review/count", who, None);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };
    let c = count(&olga);
    assert_eq!(
        (
            c["total"].as_u64(),
            c["alert"].as_u64(),
            c["detection"].as_u64()
        ),
        (Some(3), Some(1), Some(2)),
        "{c}"
    );

    // Olga reviews the first item: gone from her unreviewed list and count, not from the admin's.
    let mark = |who: &Auth, body: Value| {
        let r = s.call("POST", "/api/review/reviewed", who, Some(body));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["changed"].as_u64().unwrap()
    };
    assert_eq!(mark(&olga, json!({"events": [e1, e2]})), 2);
    assert_eq!(
        mark(&olga, json!({"events": [e1, e2]})),
        0,
        "marking twice changes nothing"
    );
    assert_eq!(
        ids(&list(&olga, "&reviewed=false")),
        vec![vec![e3.clone()], vec![e4.clone()]]
    );
    assert_eq!(
        ids(&list(&olga, "&reviewed=true")),
        vec![vec![e1.clone(), e2.clone()]]
    );
    assert_eq!(count(&olga)["total"], 2);
    assert_eq!(count(&olga)["alert"], 0);
    assert_eq!(count(&admin)["total"], 3, "the admin's marks are their own");
    assert_eq!(list(&admin, "")["items"][2]["reviewed"], false);
    // Unmarked again, then everything up to e4's start reviewed at once.
    assert_eq!(mark(&olga, json!({"events": [e1], "reviewed": false})), 1);
    assert_eq!(count(&olga)["total"], 3);
    assert!(mark(&olga, json!({"until": b + 10_000})) >= 3);
    assert_eq!(ids(&list(&olga, "&reviewed=false")), vec![vec![e3.clone()]]);
    assert_eq!(count(&olga)["total"], 1);

    // Scope: the viewer cannot mark or judge the other camera's events (they do not exist for her).
    let r = s.call(
        "POST",
        "/api/review/reviewed",
        &vera,
        Some(json!({"events": [e4]})),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = s.call(
        "POST",
        &format!("/api/events/{e4}/feedback"),
        &vera,
        Some(json!({"verdict": "false_alarm"})),
    );
    assert_eq!(r.status, 404, "{}", r.text());

    // The auditor reviews nothing.
    for (m, path, body) in [
        ("GET", "/api/review".to_string(), None),
        ("GET", "/api/review/count".to_string(), None),
        ("GET", "/api/review/feedback".to_string(), None),
        (
            "POST",
            "/api/review/reviewed".to_string(),
            Some(json!({"events": [e1]})),
        ),
        (
            "POST",
            format!("/api/events/{e1}/feedback"),
            Some(json!({"verdict": "false_alarm"})),
        ),
    ] {
        let r = s.call(m, &path, &audrey, body);
        assert_eq!(r.status, 403, "{m} {path}: {}", r.text());
    }
}

#[test]
fn bad_review_input_gets_a_clear_error() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let admin = Auth::Session(admin);
    let (_, known) = s.events[0].clone();
    let unknown = EventId::from_parts(1_000, 99).to_string();
    let r = s.call(
        "POST",
        &format!("/api/events/{known}/feedback"),
        &admin,
        Some(json!({"verdict": "maybe"})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("false_alarm") && r.text().contains("maybe"),
        "{}",
        r.text()
    );
    let r = s.call(
        "POST",
        &format!("/api/events/{unknown}/feedback"),
        &admin,
        Some(json!({"verdict": "false_alarm"})),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = s.call(
        "POST",
        "/api/events/not-an-id/feedback",
        &admin,
        Some(json!({"verdict": "false_alarm"})),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let long = "x".repeat(1001);
    let r = s.call(
        "POST",
        &format!("/api/events/{known}/feedback"),
        &admin,
        Some(json!({"verdict": "true_alarm", "note": long})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    for (body, status, says) in [
        (json!({}), 400, "either"),
        (json!({"events": [known], "until": 5}), 400, "either"),
        (json!({"events": []}), 400, "events"),
        (json!({"events": ["junk"]}), 400, "junk"),
        (json!({"events": [unknown]}), 404, ""),
    ] {
        let r = s.call("POST", "/api/review/reviewed", &admin, Some(body.clone()));
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.text().contains(says), "{body}: {}", r.text());
    }
    for q in ["severity=loud", "limit=0", "cursor=abc", "from=10&to=5"] {
        let r = s.call("GET", &format!("/api/review?{q}"), &admin, None);
        assert_eq!(r.status, 400, "{q}: {}", r.text());
    }
    assert_eq!(
        s.call("GET", "/api/review/feedback?weeks=0", &admin, None)
            .status,
        400
    );
    assert_eq!(
        s.call("GET", "/api/review/count?days=99", &admin, None)
            .status,
        400
    );
    // Nothing was stored by the refused requests.
    assert_eq!(state_rows(&s), (0, 0));
}

#[test]
fn false_alarms_are_stored_audited_and_reported_per_iso_week() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let olga = Auth::Session(s.user(&admin, "olga", "operator", json!({})));
    let audrey = Auth::Session(s.user(&admin, "audrey", "auditor", json!({})));
    let admin = Auth::Session(admin);
    let now = vigil_core::time::now_unix_ms();
    let e: Vec<String> = (1..=3)
        .map(|n| record(&s, CAM_A, n, now - n as i64 * 1000, 1, EventKind::Intrusion))
        .collect();
    let last_week = record(&s, CAM_A, 9, now - 7 * 86_400_000, 1, EventKind::Intrusion);
    let verdict = |who: &Auth, id: &str, v: &str, note: &str| {
        let r = s.call(
            "POST",
            &format!("/api/events/{id}/feedback"),
            who,
            Some(json!({"verdict": v, "note": note})),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };
    let got = verdict(&olga, &e[0], "false_alarm", "shadow of a tree");
    assert_eq!(got["camera"], CAM_A);
    assert_eq!(got["rule"], "Yard intrusion");
    verdict(&admin, &e[0], "false_alarm", "");
    verdict(&olga, &e[1], "false_alarm", "");
    verdict(&olga, &e[1], "true_alarm", "it was a person after all");
    verdict(&olga, &last_week, "false_alarm", "");
    assert_eq!(state_rows(&s).1, 4, "one verdict per user and event");

    let report = s.call("GET", "/api/review/feedback?weeks=2", &olga, None);
    assert_eq!(report.status, 200, "{}", report.text());
    let rows = report.json()["rows"].as_array().unwrap().clone();
    let day = |ms: i64| ms.div_euclid(86_400_000);
    let this_week = vigil_core::time::iso_week_text(day(now - 1000));
    let prev_week = vigil_core::time::iso_week_text(day(now - 7 * 86_400_000));
    let row = |week: &str| {
        rows.iter()
            .find(|r| r["week"] == week && r["camera"] == CAM_A && r["rule"] == "Yard intrusion")
            .cloned()
            .unwrap_or_else(|| panic!("no row for {week}: {rows:#?}"))
    };
    let w = row(&this_week);
    assert_eq!(
        (
            w["events"].as_u64(),
            w["false_alarms"].as_u64(),
            w["true_alarms"].as_u64()
        ),
        (Some(3), Some(1), Some(1)),
        "{w}"
    );
    assert!((w["rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    let p = row(&prev_week);
    assert_eq!(
        (p["events"].as_u64(), p["false_alarms"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(rows[0]["week"], this_week.as_str(), "newest week first");
    // One week back only: last week's row is not in it.
    let one = s
        .call("GET", "/api/review/feedback?weeks=1", &olga, None)
        .json();
    assert!(
        one["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["week"] == this_week.as_str()),
        "{one}"
    );

    // Audited like any other action.
    let log = s.call("GET", "/api/audit?limit=1000", &audrey, None).json();
    let entries: Vec<&Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["action"] == "event.feedback")
        .collect();
    assert_eq!(entries.len(), 5, "{entries:#?}");
    let first = entries
        .iter()
        .find(|x| x["user"] == "olga" && x["detail"].as_str().unwrap().contains("shadow of a tree"))
        .expect("olga's verdict audited");
    assert_eq!(first["target"], format!("event {}", e[0]));
    assert!(first["detail"].as_str().unwrap().contains("false_alarm"));
}

#[test]
fn review_state_goes_with_its_events_under_erasure_and_retention() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let audrey = Auth::Session(s.user(&admin, "audrey", "auditor", json!({})));
    let admin = Auth::Session(admin);
    // The stored events (two per camera, in 2024): all reviewed, one verdict per camera.
    let t0 = common::T0_MS;
    let r = s.call(
        "POST",
        "/api/review/reviewed",
        &admin,
        Some(json!({"until": t0 + 10_000})),
    );
    assert_eq!(r.json()["changed"], 4, "{}", r.text());
    for (cam, id) in s.events.iter().take(2) {
        let r = s.call(
            "POST",
            &format!("/api/events/{id}/feedback"),
            &admin,
            Some(json!({"verdict": "false_alarm", "note": cam})),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(state_rows(&s), (4, 2));
    if s.recorded {
        // Erasing cam-a's range deletes its events, and their marks and verdicts with them.
        let r = s.call(
            "POST",
            "/api/erasures",
            &audrey,
            Some(json!({"camera": CAM_A, "start": t0, "end": t0 + 5000, "reason": "request 12"})),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(state_rows(&s), (2, 1), "cam-b's review state stays");
    } else {
        eprintln!(
            "skipped: erasure part of review_state_goes_with_its_events (the shared footage is absent)"
        );
    }
    // Event retention (30 days by default) deletes the 2024 events: nothing of their review is left.
    let report = s.ctx.store.as_ref().unwrap().run_event_retention().unwrap();
    assert!(report.deleted_events >= 2, "{report:?}");
    assert_eq!(state_rows(&s), (0, 0));
    let items = s
        .call("GET", &format!("/api/review?camera={CAM_B}"), &admin, None)
        .json();
    assert_eq!(items["items"], json!([]));
}

#[test]
fn fifty_concurrent_marks_of_the_same_items_end_consistent() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let olga = Auth::Session(s.user(&admin, "olga", "operator", json!({})));
    let all: Vec<String> = s.events.iter().map(|(_, id)| id.clone()).collect();
    let statuses: Vec<u16> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let (s, olga, all) = (&s, &olga, &all);
                sc.spawn(move || {
                    let body = if i % 2 == 0 {
                        json!({"events": all})
                    } else {
                        json!({"until": common::T0_MS + 10_000})
                    };
                    s.call("POST", "/api/review/reviewed", olga, Some(body))
                        .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|&c| c == 200), "{statuses:?}");
    assert_eq!(
        state_rows(&s),
        (all.len() as u64, 0),
        "each event marked once"
    );
    let items = s
        .call("GET", "/api/review?reviewed=false", &olga, None)
        .json();
    assert_eq!(items["items"], json!([]));
    let items = s.call("GET", "/api/review", &olga, None).json();
    assert_eq!(
        items["items"].as_array().unwrap().len(),
        2,
        "one item per camera"
    );
}

/// Timing, not a check: `cargo test -p vigil-server --test api review::timing -- --ignored --nocapture`
/// stores 100,000 events of 4 cameras over the last 7 days (one every ~24 s per camera), marks half of
/// them reviewed, then times a first page, the unreviewed count and the weekly report over HTTPS.
#[test]
#[ignore]
fn timing_of_review_with_a_hundred_thousand_events() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let admin = Auth::Session(admin);
    let store = s.ctx.store.as_ref().unwrap();
    let now = vigil_core::time::now_unix_ms();
    let n = 100_000i64;
    let step = 7 * 86_400_000 / n;
    let t = std::time::Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(2_000) {
        let events: Vec<Event> = chunk
            .iter()
            .map(|&i| {
                let start = now - 7 * 86_400_000 + i * step;
                let cam = ["cam-a", "cam-b", "cam-c", "cam-d"][(i % 4) as usize];
                let t = EventTime {
                    unix_ms: start,
                    media: Time90k(start * 90),
                };
                Event {
                    attributes: Default::default(),
                    id: EventId::from_parts(start as u64, i as u128),
                    camera: cam.into(),
                    rule: "Gate line".into(),
                    kind: crossing(),
                    phase: EventPhase::End,
                    class_name: "person".into(),
                    objects: vec![],
                    track_ids: vec![],
                    zone: None,
                    line: Some("Gate".into()),
                    start: t,
                    last: t,
                    end: Some(t),
                    best: None,
                    description: String::new(),
                }
            })
            .collect();
        store.record_events(&events).unwrap();
    }
    eprintln!("stored {n} events in {:?}", t.elapsed());
    let time = |what: &str, m: &str, path: &str, body: Option<Value>| {
        let t = std::time::Instant::now();
        let r = s.call(m, path, &admin, body);
        assert_eq!(r.status, 200, "{}", r.text());
        eprintln!("{what}: {:?}", t.elapsed());
        r.json()
    };
    let r = time(
        "mark half reviewed (until)",
        "POST",
        "/api/review/reviewed",
        Some(json!({"until": now - 84 * 3_600_000})),
    );
    eprintln!("  changed {}", r["changed"]);
    let reader = store.event_reader().unwrap();
    let t = std::time::Instant::now();
    let rows = reader
        .review_rows(
            1,
            &Default::default(),
            now - 7 * 86_400_000,
            now + 1,
            200_000,
        )
        .unwrap();
    eprintln!("store: {} rows in {:?}", rows.len(), t.elapsed());
    let t = std::time::Instant::now();
    let items = vigil_server::review::group(rows, &Default::default());
    eprintln!("group: {} items in {:?}", items.len(), t.elapsed());
    for _ in 0..2 {
        time("first page (50 items)", "GET", "/api/review", None);
        time(
            "first page, unreviewed only",
            "GET",
            "/api/review?reviewed=false",
            None,
        );
        let c = time(
            "unreviewed count (7 days)",
            "GET",
            "/api/review/count",
            None,
        );
        eprintln!("  {c}");
        time(
            "weekly report (8 weeks)",
            "GET",
            "/api/review/feedback",
            None,
        );
    }
}
