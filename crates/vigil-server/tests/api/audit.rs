//! The audit log records who did what from where, auditors read it, nobody edits it through the API or
//! SQL, and an entry edited or deleted behind the triggers' back is named by the chain check.

use crate::common;

use common::{Auth, CAM_A, PASSWORD, Setup, TestServer};
use serde_json::json;

#[test]
fn security_actions_are_audited_and_auditors_read_them() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let a = Auth::Session(admin);
    let auditor = Auth::Session(s.user(
        &match &a {
            Auth::Session(x) => x.clone(),
            _ => unreachable!(),
        },
        "audrey",
        "auditor",
        json!({}),
    ));
    let viewer = Auth::Session(s.user(
        &match &a {
            Auth::Session(x) => x.clone(),
            _ => unreachable!(),
        },
        "victor",
        "viewer",
        json!({}),
    ));
    let _ = s.call(
        "POST",
        "/api/login",
        &Auth::None,
        Some(json!({"username": "victor", "password": "wrong-wrong-wrong"})),
    );
    let q = format!("?start={}&end={}", common::T0_MS, common::T0_MS + 8000);
    let play = s.call(
        "GET",
        &format!("/api/cameras/{CAM_A}/playback.mp4{q}"),
        &a,
        None,
    );
    let export = s.call(
        "POST",
        "/api/exports",
        &a,
        Some(json!({"camera": CAM_A, "start": common::T0_MS, "end": common::T0_MS + 8000})),
    );
    let token = s.call(
        "POST",
        "/api/tokens",
        &a,
        Some(json!({"name": "nvr-bridge", "scopes": ["events"]})),
    );
    assert_eq!(token.status, 201);
    let me = s.call("GET", "/api/me", &viewer, None).json();
    let vid = me["user"]["id"].as_i64().unwrap();
    let r = s.call(
        "PATCH",
        &format!("/api/users/{vid}"),
        &a,
        Some(json!({"role": "operator", "cameras": [CAM_A]})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.call("POST", "/api/logout", &viewer, None);
    assert_eq!(r.status, 204);

    assert_eq!(s.call("GET", "/api/audit", &viewer, None).status, 401);
    let log = s.call("GET", "/api/audit?limit=1000", &auditor, None);
    assert_eq!(log.status, 200, "{}", log.text());
    let entries = log.json()["entries"].as_array().unwrap().clone();
    let find = |action: &str, target: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action && e["target"].as_str().unwrap().contains(target))
            .unwrap_or_else(|| panic!("no {action} on {target} in {entries:#?}"))
            .clone()
    };
    let e = find("setup", "admin");
    assert_eq!(e["ip"], "127.0.0.1");
    assert_eq!(find("login.success", "admin")["user"], "admin");
    assert_eq!(find("login.failure", "victor")["user"], "-");
    assert_eq!(find("user.create", "audrey")["user"], "admin");
    let upd = find("user.update", "victor");
    assert!(upd["detail"].as_str().unwrap().contains("role operator"));
    assert!(upd["detail"].as_str().unwrap().contains(CAM_A));
    find("token.create", "nvr-bridge");
    find("logout", "victor");
    if s.recorded {
        assert_eq!(play.status, 200);
        assert_eq!(export.status, 202);
        find("recording.play", CAM_A);
        find("export.create", CAM_A);
    }
    // Newest first, ids descending and contiguous; pagination by `before`.
    let ids: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1] + 1), "{ids:?}");
    let page = s
        .call(
            "GET",
            &format!("/api/audit?before={}&limit=2", ids[0]),
            &auditor,
            None,
        )
        .json();
    let got: Vec<i64> = page["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(got, vec![ids[1], ids[2]]);
    // Nobody edits it through the API: there is no such route, whatever the role.
    for method in ["POST", "PATCH", "DELETE", "PUT"] {
        let r = s.call(method, "/api/audit", &a, Some(json!({})));
        assert_eq!(r.status, 405, "{method}: {}", r.text());
    }
    let report = vigil_server::audit::verify(&s.security_db()).unwrap();
    assert_eq!(report.first_bad, None);
    assert_eq!(report.entries as usize, entries.len());
}

#[test]
fn the_database_refuses_edits_and_the_chain_names_a_tampered_entry() {
    let (s, admin) = TestServer::with_admin(Setup::default());
    for name in ["u1", "u2", "u3"] {
        s.user(&admin, name, "viewer", json!({}));
    }
    let db = s.security_db();
    let n = vigil_server::audit::verify(&db).unwrap().entries;
    assert!(n >= 8, "{n} entries");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let err = conn
        .execute("UPDATE audit SET user = 'nobody' WHERE id = 3", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert!(
        conn.execute("DELETE FROM audit WHERE id = 2", [])
            .unwrap_err()
            .to_string()
            .contains("append-only")
    );
    // An attacker with the file drops the trigger and edits entry 4.
    conn.execute_batch("DROP TRIGGER audit_no_update").unwrap();
    let before: String = conn
        .query_row("SELECT detail FROM audit WHERE id = 4", [], |r| r.get(0))
        .unwrap();
    conn.execute(
        "UPDATE audit SET detail = ?1 WHERE id = 4",
        [format!("{before} (nothing to see)")],
    )
    .unwrap();
    let report = vigil_server::audit::verify(&db).unwrap();
    let (id, why) = report.first_bad.expect("tampering detected");
    assert_eq!(id, 4, "{why}");
    assert!(why.contains("edited"), "{why}");
    // Put it back: clean again. Then delete entry 6 instead: named as missing.
    conn.execute("UPDATE audit SET detail = ?1 WHERE id = 4", [&before])
        .unwrap();
    assert_eq!(vigil_server::audit::verify(&db).unwrap().first_bad, None);
    conn.execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id = 6")
        .unwrap();
    let (id, why) = vigil_server::audit::verify(&db).unwrap().first_bad.unwrap();
    assert_eq!(id, 6, "{why}");
    assert!(why.contains("missing"), "{why}");
    // Logging in still works and appends after the gap (the gap stays visible).
    assert_eq!(s.login("u1", PASSWORD).csrf.len(), 64);
}
