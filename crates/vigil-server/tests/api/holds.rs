//! Evidence holds over the API: added and released within the camera scope, listed, audited, and kept
//! from retention in between.

use crate::common;
use common::{Auth, CAM_A, CAM_B, Setup, TestServer};
use serde_json::json;

#[test]
fn holds_are_added_listed_released_and_audited_within_the_camera_scope() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    if !s.recorded {
        eprintln!(
            "SKIP holds_are_added_listed_released_and_audited_within_the_camera_scope: nothing recorded"
        );
        return;
    }
    let olga = Auth::Session(s.user(&admin, "olga", "operator", json!({"cameras": [CAM_A]})));
    let paul = Auth::Session(s.user(&admin, "paul", "viewer", json!({})));
    let body = |cam: &str, note: &str| json!({"camera": cam, "start": common::T0_MS, "end": common::T0_MS + 5000, "note": note});
    assert_eq!(
        s.call("POST", "/api/holds", &paul, Some(body(CAM_A, "x")))
            .status,
        403
    );
    assert_eq!(
        s.call("POST", "/api/holds", &olga, Some(body(CAM_B, "case 3")))
            .status,
        404
    );
    assert_eq!(
        s.call("POST", "/api/holds", &olga, Some(body(CAM_A, " ")))
            .status,
        400
    );
    let r = s.call("POST", "/api/holds", &olga, Some(body(CAM_A, "case 3")));
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    let admin = Auth::Session(admin);
    let r = s.call("POST", "/api/holds", &admin, Some(body(CAM_B, "case 4")));
    assert_eq!(r.status, 201, "{}", r.text());
    let other = r.json()["id"].as_i64().unwrap();
    // Olga sees only her camera's hold, and cannot release the other one.
    let list = s.call("GET", "/api/holds", &olga, None).json();
    let ids: Vec<i64> = list["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![id]);
    assert_eq!(list["holds"][0]["note"], "case 3");
    assert_eq!(list["holds"][0]["start"], common::T0_MS);
    assert_eq!(
        s.call("POST", &format!("/api/holds/{other}/release"), &olga, None)
            .status,
        404
    );
    assert_eq!(
        s.call("POST", &format!("/api/holds/{id}/release"), &olga, None)
            .status,
        204
    );
    assert_eq!(
        s.call("POST", &format!("/api/holds/{id}/release"), &olga, None)
            .status,
        404
    );
    let list = s.call("GET", "/api/holds", &admin, None).json();
    assert_eq!(list["holds"].as_array().unwrap().len(), 1);
    let log = s.call("GET", "/api/audit?limit=1000", &admin, None).json();
    let actions: Vec<String> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("hold."))
        .map(|e| {
            format!(
                "{} {} {}",
                e["action"].as_str().unwrap(),
                e["user"].as_str().unwrap(),
                e["target"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            format!("hold.release olga {CAM_A}"),
            format!("hold.add admin {CAM_B}"),
            format!("hold.add olga {CAM_A}"),
        ]
    );
}
