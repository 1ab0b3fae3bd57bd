//! Evidence cases: opened, exports filed under them, notes, and a chain of custody that lists who
//! created, exported, downloaded, annotated and viewed, in order, from the hash-chained audit log.

use crate::common;
use common::{Auth, CAM_A, Setup, TestServer};
use serde_json::json;

#[test]
fn a_case_groups_exports_and_notes_and_lists_its_chain_of_custody() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let op = Auth::Session(s.user(&admin, "olga", "operator", json!({})));
    let viewer = Auth::Session(s.user(&admin, "vince", "viewer", json!({"export": true})));
    let plain = Auth::Session(s.user(&admin, "paul", "viewer", json!({})));
    let admin = Auth::Session(admin);

    let r = s.call(
        "POST",
        "/api/cases",
        &op,
        Some(json!({"title": "Case 17", "description": "Hit and run at the gate"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    // Titles are unique, not empty, without control characters; a viewer without export has no cases.
    for bad in [
        json!({"title": "Case 17"}),
        json!({"title": "  "}),
        json!({"title": "a\u{1b}[2J"}),
    ] {
        let r = s.call("POST", "/api/cases", &op, Some(bad.clone()));
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    assert_eq!(s.call("GET", "/api/cases", &plain, None).status, 403);

    if s.recorded {
        let body = |case: i64| json!({"camera": CAM_A, "start": common::T0_MS, "end": common::T0_MS + 5000, "case_id": case});
        let r = s.call("POST", "/api/exports", &op, Some(body(9999)));
        assert_eq!(r.status, 404, "{}", r.text());
        let r = s.call("POST", "/api/exports", &op, Some(body(id)));
        assert_eq!(r.status, 202, "{}", r.text());
        let export = r.json()["id"].as_str().unwrap().to_string();
        let mut state = String::new();
        for _ in 0..200 {
            let job = s
                .call("GET", &format!("/api/exports/{export}"), &op, None)
                .json();
            state = job["state"].as_str().unwrap_or("").to_string();
            if state != "running" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(state, "done");
        let r = s.call("GET", &format!("/api/exports/{export}/file"), &op, None);
        assert_eq!(r.status, 200);
    }
    let r = s.call(
        "POST",
        &format!("/api/cases/{id}/notes"),
        &viewer,
        Some(json!({"text": "Handed to PC 4411 on a USB stick"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = s.call(
        "POST",
        "/api/cases/9999/notes",
        &viewer,
        Some(json!({"text": "x"})),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = s.call(
        "POST",
        &format!("/api/cases/{id}/notes"),
        &viewer,
        Some(json!({"text": ""})),
    );
    assert_eq!(r.status, 400, "{}", r.text());

    let r = s.call("GET", &format!("/api/cases/{id}"), &admin, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let detail = r.json();
    assert_eq!(detail["case"]["title"], "Case 17");
    assert_eq!(detail["notes"][0]["author"], "vince");
    let custody: Vec<(String, String)> = detail["custody"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["user"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut want = vec![("case.create", "olga")];
    if s.recorded {
        assert_eq!(detail["exports"].as_array().unwrap().len(), 1, "{detail}");
        want.extend([("case.export", "olga"), ("case.download", "olga")]);
    }
    want.extend([("case.note", "vince"), ("case.view", "admin")]);
    let want: Vec<(String, String)> = want
        .into_iter()
        .map(|(a, u)| (a.to_string(), u.to_string()))
        .collect();
    assert_eq!(custody, want);
    // A second look within minutes is the same view; the list shows the export count.
    s.call("GET", &format!("/api/cases/{id}"), &admin, None);
    let again = s
        .call("GET", &format!("/api/cases/{id}"), &admin, None)
        .json();
    assert_eq!(again["custody"].as_array().unwrap().len(), want.len());
    let list = s.call("GET", "/api/cases", &op, None).json();
    assert_eq!(list["cases"][0]["id"], id);
    assert_eq!(list["cases"][0]["exports"], if s.recorded { 1 } else { 0 });
}
