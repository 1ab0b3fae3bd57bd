//! Every route of the OpenAPI description is checked: refused without credentials, refused to roles
//! without its permission, and a user scoped to camera A gets nothing of camera B.

use crate::common;

use common::{Auth, CAM_A, CAM_B, Setup, TestServer, operations};
use serde_json::{Value, json};

/// A concrete path for a template: `{camera}` -> `camera`, `{id}` by route, `{path}` -> a file.
fn fill(path: &str, camera: &str, s: &TestServer) -> String {
    let event = s
        .events
        .iter()
        .find(|(c, _)| c == camera)
        .map(|(_, id)| id.clone())
        .unwrap_or_else(|| "01HZX3Q4M8000000000000000A".into());
    let id = if path.starts_with("/api/exports/") {
        "0123456789abcdef0123456789abcdef".to_string()
    } else if path.starts_with("/api/events/") {
        event
    } else {
        "999".to_string()
    };
    path.replace("{camera}", camera)
        .replace("{id}", &id)
        .replace("{path}", "app.js")
}

fn with_query(method: &str, path: &str, url: String) -> String {
    if path.ends_with("/thumbnail.jpg") {
        format!("{url}?at={}", common::T0_MS)
    } else if method == "GET" && path.contains("{camera}") && !path.ends_with("/live") {
        format!(
            "{url}?start={}&end={}",
            common::T0_MS,
            common::T0_MS + 60_000
        )
    } else {
        url
    }
}

fn body_for(method: &str) -> Option<Value> {
    matches!(method, "POST" | "PATCH").then(|| json!({}))
}

#[test]
fn unauthenticated_requests_are_refused_on_every_protected_route() {
    let (s, _admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let doc = s.call("GET", "/api/openapi.json", &Auth::None, None).json();
    let ops = operations(&doc);
    assert!(ops.len() >= 29, "{} routes", ops.len());
    let mut checked = 0;
    for (method, path, perm) in &ops {
        let url = with_query(method, path, fill(path, CAM_A, &s));
        let bad_cookie = Auth::CookieOnly(common::Session {
            cookie: "00".repeat(32),
            csrf: String::new(),
        });
        for auth in [Auth::None, Auth::Bearer("vgl_nope".into()), bad_cookie] {
            let r = s.call(method, &url, &auth, body_for(method));
            if perm == "public" {
                assert_ne!(r.status, 401, "{method} {url} is public");
                continue;
            }
            assert_eq!(r.status, 401, "{method} {url} with {auth:?}: {}", r.text());
            assert_eq!(r.json()["error"], "unauthenticated", "{method} {url}");
            checked += 1;
        }
    }
    assert!(checked >= 3 * 22, "only {checked} refusals checked");
}

#[test]
fn each_role_reaches_exactly_the_routes_of_its_permissions() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let doc = s.call("GET", "/api/openapi.json", &Auth::None, None).json();
    let ops = operations(&doc);
    let roles: [(&str, &[&str]); 5] = [
        ("viewer", &["cameras", "live", "events", "system"]),
        ("auditor", &["audit", "system", "privacy"]),
        // figures, never a picture: no live, playback, export, events' snapshots or faces
        ("analyst", &["cameras", "analytics", "system"]),
        (
            "operator",
            &[
                "cameras",
                "live",
                "playback",
                "export",
                "approve",
                "events",
                "system",
                "ptz",
                "analytics",
            ],
        ),
        (
            "admin2",
            &[
                "cameras",
                "live",
                "playback",
                "export",
                "approve",
                "events",
                "system",
                "metrics",
                "audit",
                "users",
                "tokens",
                "faces",
                "plate_lists",
                "layouts",
                "config",
                "ptz",
                "analytics",
            ],
        ),
    ];
    for (name, allowed) in roles {
        let role = if name == "admin2" { "admin" } else { name };
        let session = s.user(&admin, name, role, json!({}));
        for (method, path, perm) in &ops {
            if perm == "public" || perm == "session" {
                continue;
            }
            // Destructive admin routes are only exercised with ids that do not exist.
            let url = with_query(method, path, fill(path, CAM_A, &s));
            let r = s.call(
                method,
                &url,
                &Auth::Session(session.clone()),
                body_for(method),
            );
            if allowed.contains(&perm.as_str()) {
                assert!(
                    r.status != 401 && r.status != 403,
                    "{name} must reach {method} {url} ({perm}): {} {}",
                    r.status,
                    r.text()
                );
            } else {
                assert_eq!(
                    r.status,
                    403,
                    "{name} must not reach {method} {url} ({perm}): {}",
                    r.text()
                );
                assert_eq!(r.json()["error"], "forbidden");
            }
        }
    }
    // A viewer with the playback and export flags gets those two.
    let v = s.user(
        &admin,
        "viewer2",
        "viewer",
        json!({"playback": true, "export": true}),
    );
    let url = format!(
        "/api/cameras/{CAM_A}/recordings?start={}&end={}",
        common::T0_MS,
        common::T0_MS + 60_000
    );
    assert_eq!(s.call("GET", &url, &Auth::Session(v), None).status, 200);
}

#[test]
fn api_tokens_carry_only_their_scopes_and_never_administration() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let a = Auth::Session(admin.clone());
    let r = s.call(
        "POST",
        "/api/tokens",
        &a,
        Some(json!({"name": "ha", "scopes": ["events", "metrics"]})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let secret = r.json()["secret"].as_str().unwrap().to_string();
    let t = Auth::Bearer(secret);
    assert_eq!(s.call("GET", "/api/events", &t, None).status, 200);
    let m = s.call("GET", "/metrics", &t, None);
    assert_eq!(m.status, 200);
    assert!(m.text().contains("vigil_camera_fps_in{camera=\"cam-a\"}"));
    assert!(
        m.text()
            .contains("vigil_camera_reorder_depth{camera=\"cam-a\"}")
    );
    assert!(
        m.text()
            .contains("vigil_camera_timestamp_jumps_total{camera=\"cam-a\"}")
    );
    assert_eq!(s.call("GET", "/api/cameras", &t, None).status, 403);
    assert_eq!(s.call("GET", "/api/users", &t, None).status, 403);
    assert_eq!(s.call("GET", "/api/me", &t, None).status, 403);
    for scopes in [
        json!(["users"]),
        json!(["tokens"]),
        json!(["root"]),
        json!([]),
    ] {
        let r = s.call(
            "POST",
            "/api/tokens",
            &a,
            Some(json!({"name": "x", "scopes": scopes})),
        );
        assert_eq!(r.status, 400, "{scopes}: {}", r.text());
    }
    // Revoked: refused at once.
    let id = s.call("GET", "/api/tokens", &a, None).json()[0]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        s.call("DELETE", &format!("/api/tokens/{id}"), &a, None)
            .status,
        204
    );
    assert_eq!(s.call("GET", "/api/events", &t, None).status, 401);
}

#[test]
fn a_user_scoped_to_camera_a_gets_nothing_of_camera_b() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let u = Auth::Session(s.user(&admin, "scoped", "operator", json!({"cameras": [CAM_A]})));
    let doc = s.call("GET", "/api/openapi.json", &Auth::None, None).json();
    for (method, path, _) in operations(&doc) {
        if !path.contains("{camera}") {
            continue;
        }
        let b = with_query(&method, &path, fill(&path, CAM_B, &s));
        let r = s.call(&method, &b, &u, None);
        assert_eq!(r.status, 404, "{method} {b}: {}", r.text());
        assert!(!r.text().contains("ftyp"), "no video of B");
        let a = with_query(&method, &path, fill(&path, CAM_A, &s));
        let r = s.call(&method, &a, &u, None);
        if path.ends_with("/live") || path.ends_with("/overlay") || path.ends_with("/thumbnail.jpg")
        {
            // What the binary plugs in (live video, analysis overlays, decoding) is absent here.
            assert_eq!(r.status, 503, "no live source in this test: {}", r.text());
        } else if path.ends_with("/tracks") {
            // A is reached; no analysis stored a track path here.
            assert_eq!(r.status, 200, "{method} {a}: {}", r.text());
            assert!(r.json()["paths"].is_array(), "{}", r.text());
        } else if path.ends_with("/ptz") {
            // No camera has an ONVIF address here: A is reached (a POST without a body is refused).
            let want = if method == "GET" { 200 } else { 415 };
            assert_eq!(r.status, want, "{method} {a}: {}", r.text());
        } else if s.recorded {
            assert_eq!(r.status, 200, "{method} {a}: {}", r.text());
            if path.ends_with(".mp4") {
                assert_eq!(&r.body[4..8], b"ftyp");
            } else {
                assert!(
                    !r.json().as_array().unwrap().is_empty(),
                    "recorded ranges of A"
                );
            }
        }
    }
    let cams = s.call("GET", "/api/cameras", &u, None).json();
    assert_eq!(cams.as_array().unwrap().len(), 1, "{cams}");
    assert_eq!(cams[0]["name"], CAM_A);
    let all = s
        .call("GET", "/api/cameras", &Auth::Session(admin.clone()), None)
        .json();
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");

    let events = s.call("GET", "/api/events", &u, None).json();
    let list = events["events"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{events}");
    assert!(list.iter().all(|e| e["camera"] == CAM_A));
    let none = s
        .call("GET", &format!("/api/events?camera={CAM_B}"), &u, None)
        .json();
    assert_eq!(none["events"].as_array().unwrap().len(), 0);
    let admin_events = s
        .call("GET", "/api/events", &Auth::Session(admin.clone()), None)
        .json();
    assert_eq!(admin_events["events"].as_array().unwrap().len(), 4);

    for (cam, id) in s.events.iter().take(2) {
        let r = s.call(
            "GET",
            &format!("/api/events/{id}/snapshot?kind=full"),
            &u,
            None,
        );
        if cam == CAM_A {
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-type").as_deref(), Some("image/jpeg"));
            assert_eq!(r.body, common::snapshot_bytes(CAM_A, "full"));
        } else {
            assert_eq!(r.status, 404, "{}", r.text());
            assert!(!r.text().contains(CAM_B) || r.text().contains("no such"));
        }
    }
    let r = s.call(
        "POST",
        "/api/exports",
        &u,
        Some(json!({"camera": CAM_B, "start": common::T0_MS, "end": common::T0_MS + 5000})),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let sys = s.call("GET", "/api/system", &u, None).json();
    let names: Vec<&str> = sys["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec![CAM_A]);

    // An export of camera A by the admin is not visible to the scoped operator.
    if s.recorded {
        let r = s.call(
            "POST",
            "/api/exports",
            &Auth::Session(admin.clone()),
            Some(json!({"camera": CAM_B, "start": common::T0_MS, "end": common::T0_MS + 5000})),
        );
        assert_eq!(r.status, 202, "{}", r.text());
        let id = r.json()["id"].as_str().unwrap().to_string();
        assert_eq!(
            s.call("GET", &format!("/api/exports/{id}"), &u, None)
                .status,
            404
        );
        assert_eq!(
            s.call("GET", &format!("/api/exports/{id}/file"), &u, None)
                .status,
            404
        );
    }
}

#[test]
fn unredacted_exports_need_their_own_permission_and_say_so_in_the_audit_log() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    if !s.recorded {
        eprintln!("SKIP unredacted_exports_need_their_own_permission: nothing recorded");
        return;
    }
    let body = |redact: Option<bool>| {
        let mut b = json!({"camera": CAM_A, "start": common::T0_MS, "end": common::T0_MS + 5000});
        if let Some(r) = redact {
            b["redact"] = json!(r);
        }
        b
    };
    let finished = |who: &Auth, id: &str| {
        for _ in 0..200 {
            let job = s
                .call("GET", &format!("/api/exports/{id}"), who, None)
                .json();
            if job["state"] != "running" {
                return job;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("export {id} never finished");
    };
    // A viewer allowed to export gets redacted exports only.
    let v = Auth::Session(s.user(
        &admin,
        "viewer3",
        "viewer",
        json!({"playback": true, "export": true}),
    ));
    let r = s.call("POST", "/api/exports", &v, Some(body(Some(false))));
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("export_unredacted"), "{}", r.text());
    // This server has no redactor: the viewer's export fails saying why, it never hands out the original.
    let r = s.call("POST", "/api/exports", &v, Some(body(None)));
    assert_eq!(r.status, 202, "{}", r.text());
    let job = finished(&v, r.json()["id"].as_str().unwrap());
    assert_eq!(job["state"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("redact"), "{job}");

    // An operator holds export_unredacted: the default is the camera's own video.
    let op = Auth::Session(s.user(&admin, "operator3", "operator", json!({})));
    let me = s.call("GET", "/api/me", &op, None).json();
    let perms = me["permissions"].to_string() + &me["user"]["permissions"].to_string();
    assert!(perms.contains("export_unredacted"), "{me}");
    let r = s.call("POST", "/api/exports", &op, Some(body(None)));
    assert_eq!(r.status, 202, "{}", r.text());
    let job = finished(&op, r.json()["id"].as_str().unwrap());
    assert_eq!(job["state"], "done", "{job}");

    let log = s
        .call(
            "GET",
            "/api/audit?limit=1000",
            &Auth::Session(admin.clone()),
            None,
        )
        .json();
    let details: Vec<(String, String)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "export.create")
        .map(|e| {
            (
                e["user"].as_str().unwrap_or("").to_string(),
                e["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        details
            .iter()
            .any(|(u, d)| u.contains("operator3") && d.contains("unredacted")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|(u, d)| u.contains("viewer3") && d.contains("redacted (faces, plates)")),
        "{details:?}"
    );
}

/// A user's camera scope names cameras this server has: a typo is refused, saying which cameras exist,
/// on creation and on change.
#[test]
fn a_camera_scope_naming_no_camera_is_refused() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let a = Auth::Session(admin.clone());
    let r = s.call(
        "POST",
        "/api/users",
        &a,
        Some(
            json!({"username": "gina", "password": "a long enough passphrase 1", "role": "viewer",
                    "cameras": [CAM_A, "cam-z"]}),
        ),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("cam-z") && r.text().contains(CAM_A),
        "{}",
        r.text()
    );
    let r = s.call(
        "POST",
        "/api/users",
        &a,
        Some(
            json!({"username": "gina", "password": "a long enough passphrase 1", "role": "viewer",
                    "cameras": [CAM_A]}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_i64().unwrap();
    let r = s.call(
        "PATCH",
        &format!("/api/users/{id}"),
        &a,
        Some(json!({"cameras": ["gate 2"]})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("gate 2"), "{}", r.text());
}
