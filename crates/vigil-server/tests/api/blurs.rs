//! Erasure by blurring over the API (`/api/erasures/blur*`): the auditor alone starts it; holds refuse it
//! before anything changes; it runs in the background, one at a time (eight racing requests start one),
//! with its progress visible; its report is the `footage.erase` audit entry with `"mode": "blur"`; the
//! footage stays listed, rewritten in place, and the recordings still verify with the segments named
//! as blurred on request; the camera's events in the range go.

use crate::common;
use common::{Auth, Blackout, CAM_A, Setup, TestServer, runs};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn job(s: &TestServer, who: &Auth, id: u64) -> Value {
    let r = s.call("GET", &format!("/api/erasures/blur/{id}"), who, None);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn finished(s: &TestServer, who: &Auth, id: u64) -> Value {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let j = job(s, who, id);
        if j["state"] != "running" {
            return j;
        }
        assert!(Instant::now() < until, "blurring {id} still running: {j}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_auditor_blurs_footage_in_the_background_one_at_a_time_and_it_verifies() {
    let blackout = Arc::new(Blackout::default());
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        rewriter: Some(blackout.clone()),
        ..Setup::default()
    });
    if !s.recorded {
        eprintln!(
            "SKIP the_auditor_blurs_footage_in_the_background...: the shared footage is absent"
        );
        return;
    }
    let audrey = Auth::Session(s.user(&admin, "audrey", "auditor", json!({})));
    let olga = Auth::Session(s.user(&admin, "olga", "operator", json!({})));
    let admin = Auth::Session(admin);
    let t0 = common::T0_MS;
    let body = |start: i64, end: i64| json!({"camera": CAM_A, "start": start, "end": end, "reason": "request 9 (GDPR art. 17)"});
    for who in [&admin, &olga] {
        let r = s.call("POST", "/api/erasures/blur", who, Some(body(t0, t0 + 3000)));
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(s.call("GET", "/api/erasures/blur", who, None).status, 403);
    }
    let r = s.call(
        "POST",
        "/api/erasures/blur",
        &audrey,
        Some(body(t0 + 3000, t0)),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s.call(
        "POST",
        "/api/erasures/blur",
        &audrey,
        Some(json!({"camera": "nowhere", "start": t0, "end": t0 + 1, "reason": "x"})),
    );
    assert_eq!(r.status, 404, "{}", r.text());

    // Under an evidence hold: refused at once, no job.
    let hold = s.call(
        "POST",
        "/api/holds",
        &admin,
        Some(json!({"camera": CAM_A, "start": t0, "end": t0 + 1000, "note": "case 12"})),
    );
    assert_eq!(hold.status, 201, "{}", hold.text());
    let r = s.call(
        "POST",
        "/api/erasures/blur",
        &audrey,
        Some(body(t0, t0 + 3000)),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"], "held");
    let hold_id = hold.json()["id"].as_i64().unwrap();
    let r = s.call(
        "POST",
        &format!("/api/holds/{hold_id}/release"),
        &admin,
        None,
    );
    assert_eq!(r.status, 204);
    let jobs = s.call("GET", "/api/erasures/blur", &audrey, None).json();
    assert_eq!(jobs["jobs"], json!([]), "a refused blurring left a job");

    let runs_before = runs(&s, &admin, CAM_A);

    // Eight requests at once while the rewriter is held: one starts, seven are told it is busy.
    let gate = blackout.gate.lock().unwrap();
    let results: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (s, audrey, body) = (&s, &audrey, body(t0, t0 + 3000));
                scope.spawn(move || {
                    let r = s.call("POST", "/api/erasures/blur", audrey, Some(body));
                    (r.status, r.json())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let started: Vec<u64> = results
        .iter()
        .filter(|(st, _)| *st == 202)
        .map(|(_, v)| v["id"].as_u64().unwrap())
        .collect();
    assert_eq!(started.len(), 1, "{results:?}");
    for (st, v) in results.iter().filter(|(st, _)| *st != 202) {
        assert_eq!((*st, v["error"].as_str()), (409, Some("busy")), "{v}");
    }
    let id = started[0];
    let running = job(&s, &audrey, id);
    assert_eq!(running["state"], "running", "{running}");
    assert_eq!(running["requested_by"], "audrey");
    assert_eq!(running["camera"], CAM_A);
    drop(gate);

    let done = finished(&s, &audrey, id);
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["segments"], 1, "{done}");
    assert_eq!(done["fraction"], 1.0, "{done}");
    let erasure = &done["report"];
    assert_eq!(erasure["kind"], "footage", "{erasure}");
    assert_eq!(erasure["by"], "audrey");
    assert_eq!(erasure["report"]["mode"], "blur", "{erasure}");
    assert_eq!(erasure["report"]["reason"], "request 9 (GDPR art. 17)");
    assert_eq!(erasure["report"]["events"], 2, "{erasure}");
    // The same report as the erasure list and the audit log keep.
    let eid = erasure["id"].as_i64().unwrap();
    let one = s.call("GET", &format!("/api/erasures/{eid}"), &audrey, None);
    assert_eq!(one.json(), *erasure);
    let listed = s.call("GET", "/api/erasures/blur", &audrey, None).json();
    assert_eq!(listed["jobs"][0]["id"], id);

    // The footage stays, rewritten in place; the chain verifies and names the blurred segment.
    let runs_after = runs(&s, &admin, CAM_A);
    assert_eq!(
        runs_after, runs_before,
        "the footage is still listed as it was"
    );
    let key = vigil_keys::SiteKey::from_seed(&[11; 32]).unwrap();
    let report = vigil_store::verify_recordings(
        &s.dir.path().join("index.db"),
        &vigil_store::VerifyScope::default(),
        Some(key.public()),
        &mut |_, _| {},
    )
    .unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.rewritten.len(), 1, "{:?}", report.rewritten);
    let events = s
        .call("GET", &format!("/api/events?camera={CAM_A}"), &admin, None)
        .json();
    let left = events
        .as_array()
        .or_else(|| events["events"].as_array())
        .map_or(0, Vec::len);
    assert_eq!(left, 0, "{events}");
}

#[test]
fn a_server_without_a_face_detector_says_it_cannot_blur() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let audrey = Auth::Session(s.user(&admin, "audrey", "auditor", json!({})));
    if !s.recorded {
        eprintln!(
            "SKIP a_server_without_a_face_detector_says_it_cannot_blur: the shared footage is absent"
        );
        return;
    }
    let r = s.call(
        "POST",
        "/api/erasures/blur",
        &audrey,
        Some(json!({"camera": CAM_A, "start": common::T0_MS, "end": common::T0_MS + 1000, "reason": "r"})),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"], "unavailable");
}
