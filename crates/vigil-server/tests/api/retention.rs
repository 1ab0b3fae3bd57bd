//! Retention maximums: set by the auditor alone (not even an admin), read by everyone on the system
//! page, applied by the store, audited.

use crate::common;
use common::{Auth, Setup, TestServer};
use serde_json::json;

#[test]
fn only_the_auditor_sets_the_retention_maximums() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let audrey = Auth::Session(s.user(&admin, "audrey", "auditor", json!({})));
    let olga = Auth::Session(s.user(&admin, "olga", "operator", json!({})));
    let admin = Auth::Session(admin);
    let limits = json!({"continuous_days": 30, "event_days": 14, "hold_days": null});
    for who in [&admin, &olga] {
        let r = s.call("POST", "/api/retention", who, Some(limits.clone()));
        assert_eq!(r.status, 403, "{}", r.text());
    }
    for bad in [
        json!({"continuous_days": 0}),
        json!({"event_days": 100000}),
        json!({"forever": true}),
    ] {
        let r = s.call("POST", "/api/retention", &audrey, Some(bad.clone()));
        assert!(matches!(r.status, 400 | 422), "{bad}: {}", r.text());
    }
    let r = s.call("POST", "/api/retention", &audrey, Some(limits.clone()));
    assert_eq!(r.status, 200, "{}", r.text());
    let got = s.call("GET", "/api/retention", &olga, None).json();
    assert_eq!(got["limits"]["continuous_days"], 30);
    assert_eq!(got["limits"]["event_days"], 14);
    assert!(got["limits"]["hold_days"].is_null());
    let log = s.call("GET", "/api/audit?limit=1000", &audrey, None).json();
    let entry = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "retention.limits")
        .cloned()
        .expect("audited");
    assert_eq!(entry["user"], "audrey");
    assert!(
        entry["detail"]
            .as_str()
            .unwrap()
            .contains(r#""continuous_days":30"#)
    );
}
