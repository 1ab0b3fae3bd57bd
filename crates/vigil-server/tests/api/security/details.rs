//! Finding 13 (the server's part): API token ids are never reused after a deletion, and a password
//! typed into the user name field is not stored in the audit log.

use crate::common::{Auth, PASSWORD, Setup, TestServer};
use serde_json::json;

#[test]
fn token_ids_are_never_reused() {
    let (s, admin) = TestServer::with_admin(Setup::default());
    let a = Auth::Session(admin);
    let create = || {
        let r = s.call(
            "POST",
            "/api/tokens",
            &a,
            Some(json!({"name": "t", "scopes": ["events"]})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        r.json()["token"]["id"].as_i64().unwrap()
    };
    let first = create();
    let second = create();
    assert_eq!(
        s.call("DELETE", &format!("/api/tokens/{second}"), &a, None)
            .status,
        204
    );
    let third = create();
    assert!(
        third > second,
        "token {second} was deleted, the next is {third}"
    );
    assert_eq!(
        s.call("DELETE", &format!("/api/tokens/{first}"), &a, None)
            .status,
        204
    );
    assert_eq!(
        s.call("DELETE", &format!("/api/tokens/{third}"), &a, None)
            .status,
        204
    );
    assert!(create() > third);
}

#[test]
fn a_password_typed_as_the_user_name_is_not_stored_in_the_audit_log() {
    let (s, _admin) = TestServer::with_admin(Setup::default());
    let fail = |name: &str| {
        let r = s.call(
            "POST",
            "/api/login",
            &Auth::None,
            Some(json!({"username": name, "password": "whatever-it-is"})),
        );
        assert_eq!(r.status, 401, "{}", r.text());
    };
    // The admin types the password into the name field (twice), someone tries a plain name.
    fail(PASSWORD);
    fail(PASSWORD);
    fail("mallory");
    fail("admin");
    let entries = s.ctx.security.audit_entries(None, 100).unwrap();
    let failures: Vec<&str> = entries
        .iter()
        .filter(|e| e.action == "login.failure")
        .map(|e| e.target.as_str())
        .collect();
    let all = format!("{entries:?}");
    assert!(
        !all.contains(PASSWORD),
        "the password is in the audit log: {all}"
    );
    assert!(!all.contains(&PASSWORD[..10]), "part of it is: {all}");
    // Names stay names; the secret is a marker, the same one each time (attempts can be counted).
    assert!(
        failures.contains(&"admin") && failures.contains(&"mallory"),
        "{failures:?}"
    );
    let markers: Vec<&&str> = failures
        .iter()
        .filter(|t| t.starts_with("unknown name (secret-like, "))
        .collect();
    assert!(!markers.is_empty(), "{failures:?}");
    assert!(markers.iter().all(|m| m == &markers[0]), "{markers:?}");
}
