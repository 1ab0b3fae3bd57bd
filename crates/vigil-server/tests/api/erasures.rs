//! Erasure requests over the API: the auditor alone erases, the footage and the events in the range go
//! (snapshots with them), evidence holds refuse it, every erasure is audited with a report the auditor
//! can list and print, and requests racing over the same range never fail the server or erase twice.
//! A person's biometric data (face templates) is erased the same way.

use crate::common;
use common::{Auth, CAM_A, CAM_B, Setup, TestServer, runs};
use serde_json::{Value, json};

#[test]
fn the_auditor_erases_footage_and_events_with_a_report_and_holds_refuse_it() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    if !s.recorded {
        eprintln!("SKIP the_auditor_erases_footage_and_events...: the shared footage is absent");
        return;
    }
    let audrey = Auth::Session(s.user(&admin, "audrey", "auditor", json!({})));
    let olga = Auth::Session(s.user(&admin, "olga", "operator", json!({})));
    let admin = Auth::Session(admin);
    let t0 = common::T0_MS;
    let body = |cam: &str, start: i64, end: i64| json!({"camera": cam, "start": start, "end": end, "reason": "request 7 (GDPR art. 17)"});
    // Nobody but the auditor, not even an admin.
    for who in [&admin, &olga] {
        let r = s.call(
            "POST",
            "/api/erasures",
            who,
            Some(body(CAM_A, t0, t0 + 3000)),
        );
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(s.call("GET", "/api/erasures", who, None).status, 403);
    }
    for bad in [
        body(CAM_A, t0 + 3000, t0),
        json!({"camera": CAM_A, "start": t0, "end": t0 + 1, "reason": " "}),
        json!({"camera": CAM_A, "start": t0, "end": t0 + 1, "reason": "x", "all": true}),
    ] {
        let r = s.call("POST", "/api/erasures", &audrey, Some(bad.clone()));
        assert!(matches!(r.status, 400 | 422), "{bad}: {}", r.text());
    }
    let r = s.call(
        "POST",
        "/api/erasures",
        &audrey,
        Some(body("nowhere", t0, t0 + 1)),
    );
    assert_eq!(r.status, 404, "{}", r.text());

    let before = runs(&s, &admin, CAM_A);
    assert!(!before.is_empty(), "nothing recorded for {CAM_A}");
    let events_before = s
        .call("GET", &format!("/api/events?camera={CAM_A}"), &admin, None)
        .json();
    let count = |v: &Value| {
        v.as_array()
            .or_else(|| v["events"].as_array())
            .map_or(0, Vec::len)
    };
    assert_eq!(count(&events_before), 2, "{events_before}");

    // A hold on the first second: refused, nothing erased.
    let hold = s.call(
        "POST",
        "/api/holds",
        &admin,
        Some(json!({"camera": CAM_A, "start": t0, "end": t0 + 1000, "note": "case 12"})),
    );
    assert_eq!(hold.status, 201, "{}", hold.text());
    let r = s.call(
        "POST",
        "/api/erasures",
        &audrey,
        Some(body(CAM_A, t0, t0 + 3000)),
    );
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("evidence hold"), "{}", r.text());
    assert_eq!(
        runs(&s, &admin, CAM_A),
        before,
        "a refused erasure erased something"
    );
    let id = hold.json()["id"].as_i64().unwrap();
    let r = s.call("POST", &format!("/api/holds/{id}/release"), &admin, None);
    assert_eq!(r.status, 204);

    // Erased: the first segment (4 s) whole, and both events of the camera in it.
    let r = s.call(
        "POST",
        "/api/erasures",
        &audrey,
        Some(body(CAM_A, t0, t0 + 3000)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let erasure = r.json();
    let report = &erasure["report"];
    assert_eq!(erasure["by"], "audrey");
    assert_eq!(erasure["camera"], CAM_A);
    assert_eq!(
        report["segments"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(report["events"], 2, "{report}");
    assert!(report["bytes"].as_u64().unwrap() > 0);
    assert_eq!(report["reason"], "request 7 (GDPR art. 17)");
    let after = runs(&s, &admin, CAM_A);
    assert_ne!(after, before, "the footage is still listed");
    let events_after = s
        .call("GET", &format!("/api/events?camera={CAM_A}"), &admin, None)
        .json();
    assert_eq!(count(&events_after), 0, "{events_after}");
    // The other camera is untouched.
    assert!(!runs(&s, &admin, CAM_B).is_empty());
    let other = s
        .call("GET", &format!("/api/events?camera={CAM_B}"), &admin, None)
        .json();
    assert_eq!(count(&other), 2);

    // Listed, shown alone, and in the audit log as footage.erase.
    let list = s.call("GET", "/api/erasures", &audrey, None).json();
    let listed = list["erasures"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0], erasure);
    let id = erasure["id"].as_i64().unwrap();
    let one = s.call("GET", &format!("/api/erasures/{id}"), &audrey, None);
    assert_eq!(one.status, 200);
    assert_eq!(one.json(), erasure);
    // An audit entry that is not an erasure is not one.
    let r = s.call("GET", &format!("/api/erasures/{}", id - 1), &audrey, None);
    assert_eq!(r.status, 404, "{}", r.text());
    let log = s.call("GET", "/api/audit?limit=1000", &audrey, None).json();
    let entry = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "footage.erase")
        .cloned()
        .expect("audited");
    assert_eq!(entry["id"], id);
    assert_eq!(entry["target"], CAM_A);
}

#[test]
fn erasures_racing_over_one_range_erase_each_segment_once() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    if !s.recorded {
        eprintln!("SKIP erasures_racing_over_one_range...: the shared footage is absent");
        return;
    }
    let audrey = s.user(&admin, "audrey", "auditor", json!({}));
    let t0 = common::T0_MS;
    let results: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (s, audrey) = (&s, audrey.clone());
                scope.spawn(move || {
                    let end = t0 + 6000 + 500 * i;
                    let r = s.call(
                        "POST",
                        "/api/erasures",
                        &Auth::Session(audrey),
                        Some(json!({"camera": CAM_B, "start": t0, "end": end, "reason": format!("race {i}")})),
                    );
                    (r.status, r.json())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut files = Vec::new();
    for (status, v) in &results {
        assert_eq!(*status, 200, "{v}");
        for seg in v["report"]["segments"].as_array().unwrap() {
            files.push(seg["file"].as_str().unwrap().to_string());
        }
    }
    let n = files.len();
    files.sort();
    files.dedup();
    assert_eq!(
        files.len(),
        n,
        "a segment was reported erased twice: {results:?}"
    );
    assert_eq!(
        n, 2,
        "segments 0 and 1 (0-8 s) erased once in all: {results:?}"
    );
    let listed = s
        .call("GET", "/api/erasures", &Auth::Session(audrey), None)
        .json();
    assert_eq!(listed["erasures"].as_array().map(Vec::len), Some(8));
}

#[test]
fn the_auditor_erases_a_persons_biometric_data_once() {
    let (s, admin) = TestServer::with_admin(Setup {
        identity: true,
        store: true,
        ..Setup::default()
    });
    let book = s.ctx.identity.clone().unwrap();
    // Their matches: a face_recognized event naming Alice (it goes), one naming Bob (it stays).
    let store = s.ctx.store.clone().unwrap();
    let matched = |n: u128, person: &str| {
        let at = vigil_core::EventTime {
            unix_ms: common::T0_MS + 50_000 + n as i64,
            media: vigil_core::Time90k(0),
        };
        vigil_core::Event {
            attributes: Default::default(),
            id: vigil_core::EventId::from_parts(at.unix_ms as u64, 700 + n),
            camera: CAM_A.into(),
            rule: "faces".into(),
            kind: vigil_core::EventKind::FaceRecognized {
                person: person.into(),
                list: "staff".into(),
                similarity: 0.8,
                alert: "high".into(),
                quality: 0.5,
            },
            phase: vigil_core::EventPhase::End,
            class_name: "person".into(),
            objects: Vec::new(),
            track_ids: vec![1],
            zone: None,
            line: None,
            start: at,
            last: at,
            end: Some(at),
            best: None,
            description: format!("{person} (watchlist 'staff') was seen"),
        }
    };
    let (alice_seen, bob_seen) = (matched(1, "Alice"), matched(2, "Bob"));
    store
        .record_events(&[alice_seen.clone(), bob_seen.clone()])
        .unwrap();
    // Two people enrolled with real sealed templates (unit vectors standing for embeddings).
    let unit = |k: usize| {
        let mut v = vec![0.0f32; 128];
        v[k] = 1.0;
        v
    };
    {
        let mut b = book.lock().unwrap();
        b.enrol(
            "Alice",
            "staff",
            "test",
            &[(unit(1), "a1.jpg".into()), (unit(2), "a2.jpg".into())],
        )
        .unwrap();
        b.enrol("Bob", "staff", "test", &[(unit(3), "b.jpg".into())])
            .unwrap();
    }
    let audrey = s.user(&admin, "audrey", "auditor", json!({}));
    let admin = Auth::Session(admin);
    let body = |name: &str| json!({"name": name, "reason": "DSAR 31"});
    let r = s.call("POST", "/api/erasures/person", &admin, Some(body("Alice")));
    assert_eq!(r.status, 403, "{}", r.text());
    for bad in [
        json!({"name": "Alice", "reason": ""}),
        json!({"name": " ", "reason": "x"}),
        json!({"name": "Alice"}),
    ] {
        let r = s.call(
            "POST",
            "/api/erasures/person",
            &Auth::Session(audrey.clone()),
            Some(bad.clone()),
        );
        assert!(matches!(r.status, 400 | 422), "{bad}: {}", r.text());
    }
    // Eight requests at once for Alice: exactly one erases, the others find nobody (404).
    let results: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let (s, a) = (&s, audrey.clone());
                scope.spawn(move || {
                    let r = s.call(
                        "POST",
                        "/api/erasures/person",
                        &Auth::Session(a),
                        Some(body("Alice")),
                    );
                    (r.status, r.json())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let done: Vec<&Value> = results
        .iter()
        .filter(|(st, _)| *st == 200)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(done.len(), 1, "{results:?}");
    assert!(
        results.iter().all(|(st, _)| *st == 200 || *st == 404),
        "{results:?}"
    );
    let e = done[0];
    assert_eq!(e["kind"], "biometric");
    assert_eq!(e["person"], "Alice");
    assert_eq!(e["report"]["templates"], 2);
    assert_eq!(e["report"]["matches"], 1, "{e}");
    assert_eq!(e["report"]["reason"], "DSAR 31");
    let reader = store.event_reader().unwrap();
    assert!(reader.get(alice_seen.id).is_err(), "Alice's match is gone");
    assert!(reader.get(bob_seen.id).is_ok(), "Bob's stays");
    {
        let b = book.lock().unwrap();
        assert!(
            b.best_match(&unit(1), 0.75).unwrap().is_none(),
            "Alice still matches"
        );
        assert_eq!(b.best_match(&unit(3), 0.75).unwrap().unwrap().name, "Bob");
    }
    let list = s
        .call("GET", "/api/erasures", &Auth::Session(audrey.clone()), None)
        .json();
    let listed = list["erasures"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(&listed[0], e);
    let one = s.call(
        "GET",
        &format!("/api/erasures/{}", e["id"]),
        &Auth::Session(audrey),
        None,
    );
    assert_eq!(one.json(), *e);
}

/// The watchlists are seen by whoever holds `faces` (admins), not by operators, viewers, the auditor or
/// any API token; names and counts only, never a template; audited as `face.view`.
#[test]
fn only_the_faces_permission_sees_who_is_enrolled() {
    let (s, admin) = TestServer::with_admin(Setup {
        identity: true,
        ..Setup::default()
    });
    {
        let book = s.ctx.identity.clone().unwrap();
        let mut v = vec![0.0f32; 128];
        v[5] = 1.0;
        book.lock()
            .unwrap()
            .enrol(
                "Carol",
                "vip",
                "test",
                &[(v.clone(), "c1.jpg".into()), (v, "c2.jpg".into())],
            )
            .unwrap();
    }
    for role in ["operator", "viewer", "auditor"] {
        let who = Auth::Session(s.user(&admin, &format!("u-{role}"), role, json!({})));
        let r = s.call("GET", "/api/faces/people", &who, None);
        assert_eq!(r.status, 403, "{role}: {}", r.text());
    }
    let admin = Auth::Session(admin);
    let r = s.call("GET", "/api/faces/people", &admin, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let people = r.json()["people"].as_array().cloned().unwrap();
    assert_eq!(people.len(), 1);
    assert_eq!(people[0]["name"], "Carol");
    assert_eq!(people[0]["list"], "vip");
    assert_eq!(people[0]["templates"], 2);
    assert!(!r.text().contains("sealed") && !r.text().contains("embedding"));
    // No API token carries the scope.
    let r = s.call(
        "POST",
        "/api/tokens",
        &admin,
        Some(json!({"name": "ha", "scopes": ["faces"]})),
    );
    assert!(matches!(r.status, 400 | 403 | 422), "{}", r.text());
    let log = s.call("GET", "/api/audit?limit=1000", &admin, None).json();
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "face.view"),
        "the listing is audited"
    );
}
