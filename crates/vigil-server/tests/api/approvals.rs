//! Dual authorization: a sensitive camera's recordings play and export only under a request approved by
//! a second user, for the requester, the action and a range inside the approved one; everything audited.

use crate::common;
use common::{Auth, CAM_A, CAM_B, Setup, TestServer};
use serde_json::json;

#[test]
fn a_sensitive_cameras_recordings_need_a_second_users_approval() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        sensitive: vec![CAM_A.to_string()],
        ..Setup::default()
    });
    if !s.recorded {
        eprintln!(
            "SKIP a_sensitive_cameras_recordings_need_a_second_users_approval: nothing recorded"
        );
        return;
    }
    let olga = Auth::Session(s.user(&admin, "olga", "operator", json!({})));
    let otto = Auth::Session(s.user(&admin, "otto", "operator", json!({})));
    let vera = Auth::Session(s.user(&admin, "vera", "viewer", json!({"playback": true})));
    let (t0, t1) = (common::T0_MS, common::T0_MS + 8000);
    let play = |who: &Auth, cam: &str, start: i64, end: i64| {
        s.call(
            "GET",
            &format!("/api/cameras/{cam}/playback.mp4?start={start}&end={end}"),
            who,
            None,
        )
    };
    // The sensitive camera refuses, saying why; the other camera plays as always.
    let r = play(&olga, CAM_A, t0, t1);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"], "approval_required");
    assert_eq!(play(&olga, CAM_B, t0, t1).status, 200);
    let export = json!({"camera": CAM_A, "start": t0, "end": t1});
    let r = s.call("POST", "/api/exports", &olga, Some(export.clone()));
    assert_eq!(r.status, 403, "{}", r.text());

    // A request needs a reason; a camera that is not sensitive needs none.
    let ask = |who: &Auth, cam: &str, action: &str, reason: &str| {
        s.call(
            "POST",
            "/api/approvals",
            who,
            Some(
                json!({"camera": cam, "start": t0, "end": t1, "action": action, "reason": reason}),
            ),
        )
    };
    assert_eq!(ask(&olga, CAM_A, "playback", " ").status, 400);
    assert_eq!(ask(&olga, CAM_B, "playback", "incident 4").status, 400);
    let r = ask(&olga, CAM_A, "playback", "incident 4");
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    assert_eq!(r.json()["state"], "pending");

    // Nobody approves their own request; a viewer cannot approve; still refused while pending.
    let approve =
        |who: &Auth, id: i64| s.call("POST", &format!("/api/approvals/{id}/approve"), who, None);
    assert_eq!(approve(&olga, id).status, 403);
    assert_eq!(approve(&vera, id).status, 403);
    assert_eq!(play(&olga, CAM_A, t0, t1).status, 403);
    // Otto (a second operator) sees the pending request and approves it.
    let list = s.call("GET", "/api/approvals", &otto, None).json();
    assert!(
        list["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id && a["state"] == "pending")
    );
    let r = approve(&otto, id);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["state"], "approved");
    assert_eq!(r.json()["decided_by"], "otto");
    assert_eq!(approve(&otto, id).status, 400, "decided once");

    // Olga now plays inside the approved range, not outside it; export is another action; Otto himself
    // is not approved; a viewer's own list shows only her requests.
    assert_eq!(play(&olga, CAM_A, t0 + 1000, t1 - 1000).status, 200);
    assert_eq!(play(&olga, CAM_A, t0, t1 + 60_000).status, 403);
    assert_eq!(
        s.call("POST", "/api/exports", &olga, Some(export.clone()))
            .status,
        403
    );
    assert_eq!(play(&otto, CAM_A, t0, t1).status, 403);
    let mine = s.call("GET", "/api/approvals", &vera, None).json();
    assert!(mine["approvals"].as_array().unwrap().is_empty(), "{mine}");

    // A denied export request stays refused.
    let r = ask(&olga, CAM_A, "export", "for the police");
    let eid = r.json()["id"].as_i64().unwrap();
    let r = s.call("POST", &format!("/api/approvals/{eid}/deny"), &otto, None);
    assert_eq!(r.json()["state"], "denied");
    assert_eq!(
        s.call("POST", "/api/exports", &olga, Some(export)).status,
        403
    );

    let log = s
        .call("GET", "/api/audit?limit=1000", &Auth::Session(admin), None)
        .json();
    let actions: Vec<String> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("approval."))
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["user"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            "approval.deny otto",
            "approval.request olga",
            "approval.approve otto",
            "approval.request olga"
        ]
    );
}
