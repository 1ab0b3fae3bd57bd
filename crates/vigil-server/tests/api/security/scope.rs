//! Finding 12: camera scope leaks. A camera-scoped admin (or its token) sees only its cameras' series
//! on `/metrics`; scoped admins and auditors see only their cameras' activity in `/api/audit`; nobody
//! changes their own scope, grants or role, and a scoped admin grants no more than its own scope.

use crate::common::{self, Auth, CAM_A, CAM_B, Setup, TestServer};
use serde_json::{Value, json};

fn id_of(s: &TestServer, admin: &Auth, name: &str) -> i64 {
    s.call("GET", "/api/users", admin, None)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == name)
        .unwrap()["id"]
        .as_i64()
        .unwrap()
}

fn token(s: &TestServer, by: &Auth, scopes: &[&str]) -> Auth {
    let r = s.call(
        "POST",
        "/api/tokens",
        by,
        Some(json!({"name": "t", "scopes": scopes})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    Auth::Bearer(r.json()["secret"].as_str().unwrap().to_string())
}

#[test]
fn metrics_show_only_the_callers_cameras() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let all = Auth::Session(admin.clone());
    let m = s.call("GET", "/metrics", &all, None).text();
    assert!(m.contains(&format!("camera=\"{CAM_B}\"")), "{m}");
    let scoped = Auth::Session(s.user(&admin, "sa", "admin", json!({"cameras": [CAM_A]})));
    let scoped_token = token(&s, &scoped, &["metrics"]);
    for who in [&scoped, &scoped_token] {
        let r = s.call("GET", "/metrics", who, None);
        assert_eq!(r.status, 200, "{}", r.text());
        let m = r.text();
        assert!(m.contains(&format!("camera=\"{CAM_A}\"")), "{m}");
        assert!(!m.contains(CAM_B), "{who:?} sees {CAM_B}:\n{m}");
    }
}

#[test]
fn nobody_changes_their_own_scope_grants_or_role() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let root = Auth::Session(admin.clone());
    let scoped = Auth::Session(s.user(&admin, "sa", "admin", json!({"cameras": [CAM_A]})));
    let sa = id_of(&s, &root, "sa");
    let admin_id = id_of(&s, &root, "admin");
    for change in [
        json!({"cameras": null}),
        json!({"cameras": [CAM_A, CAM_B]}),
        json!({"role": "operator"}),
        json!({"playback": false}),
        json!({"export": false}),
    ] {
        let r = s.call(
            "PATCH",
            &format!("/api/users/{sa}"),
            &scoped,
            Some(change.clone()),
        );
        assert_eq!(r.status, 409, "{change}: {}", r.text());
        let r = s.call(
            "PATCH",
            &format!("/api/users/{admin_id}"),
            &root,
            Some(change.clone()),
        );
        assert_eq!(
            r.status,
            409,
            "the unscoped admin too, {change}: {}",
            r.text()
        );
    }
    let me = s.call("GET", "/api/me", &scoped, None).json();
    assert_eq!(me["user"]["cameras"], json!([CAM_A]));

    // Nor through someone else: a scoped admin grants no camera outside its scope.
    for new in [
        json!({"username": "x1", "password": common::PASSWORD, "role": "admin"}),
        json!({"username": "x2", "password": common::PASSWORD, "role": "viewer", "cameras": [CAM_B]}),
        json!({"username": "x3", "password": common::PASSWORD, "role": "viewer", "cameras": [CAM_A, CAM_B]}),
    ] {
        let r = s.call("POST", "/api/users", &scoped, Some(new.clone()));
        assert_eq!(r.status, 403, "{new}: {}", r.text());
    }
    let r = s.call(
        "POST",
        "/api/users",
        &scoped,
        Some(json!({"username": "ok1", "password": common::PASSWORD, "role": "viewer", "cameras": [CAM_A]})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let ok1 = r.json()["id"].as_i64().unwrap();
    let r = s.call(
        "PATCH",
        &format!("/api/users/{ok1}"),
        &scoped,
        Some(json!({"cameras": null})),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    // A user with cameras outside the scoped admin's cannot be changed or removed by it.
    s.user(&admin, "wide", "viewer", json!({}));
    let wide = id_of(&s, &root, "wide");
    let r = s.call(
        "PATCH",
        &format!("/api/users/{wide}"),
        &scoped,
        Some(json!({"cameras": [CAM_A]})),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let r = s.call(
        "PATCH",
        &format!("/api/users/{wide}"),
        &scoped,
        Some(json!({"password": "a-new-long-passphrase-9"})),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(
        s.call("DELETE", &format!("/api/users/{wide}"), &scoped, None)
            .status,
        403
    );
    assert_eq!(
        s.call("DELETE", &format!("/api/users/{ok1}"), &scoped, None)
            .status,
        204
    );
}

fn targets(page: &Value, action: &str) -> Vec<String> {
    page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .map(|e| e["target"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_audit_log_shows_scoped_readers_only_their_cameras_activity() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    if !s.recorded {
        return;
    }
    let root = Auth::Session(admin.clone());
    let q = format!("start={}&end={}", common::T0_MS, common::T0_MS + 4000);
    for cam in [CAM_A, CAM_B] {
        let r = s.call(
            "GET",
            &format!("/api/cameras/{cam}/playback.mp4?{q}"),
            &root,
            None,
        );
        assert_eq!(r.status, 200);
        let r = s.call(
            "POST",
            "/api/exports",
            &root,
            Some(json!({"camera": cam, "start": common::T0_MS, "end": common::T0_MS + 4000})),
        );
        assert_eq!(r.status, 202);
    }
    let auditor = Auth::Session(s.user(&admin, "aud", "auditor", json!({"cameras": [CAM_A]})));
    let scoped_admin = Auth::Session(s.user(&admin, "sa", "admin", json!({"cameras": [CAM_A]})));
    let scoped_token = token(&s, &scoped_admin, &["audit"]);
    let wide_auditor = Auth::Session(s.user(&admin, "aud2", "auditor", json!({})));
    for who in [&auditor, &scoped_admin, &scoped_token] {
        let page = s.call("GET", "/api/audit?limit=1000", who, None);
        assert_eq!(page.status, 200, "{}", page.text());
        let page = page.json();
        for action in ["recording.play", "export.create"] {
            assert_eq!(targets(&page, action), vec![CAM_A], "{who:?} {action}");
        }
        // Everything else is still there (logins, user changes).
        assert!(!targets(&page, "login.success").is_empty());
        // Paging stays consistent: a small page, then the next one, never shows camera B.
        let first = s.call("GET", "/api/audit?limit=3", who, None).json();
        let last = first["entries"][2]["id"].as_i64().unwrap();
        let next = s
            .call(
                "GET",
                &format!("/api/audit?limit=1000&before={last}"),
                who,
                None,
            )
            .json();
        assert!(
            !next
                .to_string()
                .contains(&format!("\"target\":\"{CAM_B}\"")),
            "{next}"
        );
    }
    let page = s
        .call("GET", "/api/audit?limit=1000", &wide_auditor, None)
        .json();
    let mut both = targets(&page, "recording.play");
    both.sort();
    assert_eq!(both, vec![CAM_A, CAM_B]);
}
