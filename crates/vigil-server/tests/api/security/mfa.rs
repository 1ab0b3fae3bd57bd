//! Finding 7: a session alone replaced a user's MFA. With MFA on, enrolling anew needs the password and
//! a current code (TOTP or a recovery code); replacing it ends the user's other sessions and is
//! audited as a change.

use crate::common::{Auth, PASSWORD, Setup, TestServer, session_of};
use serde_json::json;
use std::time::Duration;
use vigil_server::auth::mfa::current_code;

fn login_with(s: &TestServer, code: &str) -> Auth {
    let r = s.call(
        "POST",
        "/api/login",
        &Auth::None,
        Some(json!({"username": "admin", "password": PASSWORD, "totp": code})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    Auth::Session(session_of(&r))
}

fn stored_secret(s: &TestServer) -> Vec<u8> {
    let db = rusqlite::Connection::open(s.security_db()).unwrap();
    db.query_row(
        "SELECT mfa_secret FROM users WHERE username = 'admin'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

/// Waits for the next 30-second TOTP step (a code is accepted once per step).
fn next_step() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into = now.as_millis() % 30_000;
    std::thread::sleep(Duration::from_millis((30_000 - into) as u64 + 200));
}

#[test]
fn replacing_mfa_needs_the_password_and_a_current_code_and_ends_other_sessions() {
    let (s, admin) = TestServer::with_admin(Setup::default());
    let a1 = Auth::Session(admin);
    let secret = s.call("POST", "/api/me/mfa/enroll", &a1, None).json()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.call(
        "POST",
        "/api/me/mfa/confirm",
        &a1,
        Some(json!({"code": current_code(&secret).unwrap()})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let recovery: Vec<String> = serde_json::from_value(r.json()["recovery_codes"].clone()).unwrap();
    let a2 = login_with(&s, &recovery[0]);
    let before = stored_secret(&s);

    // The pen test: a stolen session alone starts a new enrolment. Refused, however it is asked.
    for body in [
        None,
        Some(json!({})),
        Some(json!({"password": PASSWORD})),
        Some(json!({"code": recovery[1]})),
        Some(json!({"password": "not-the-password-1", "code": recovery[1]})),
        Some(json!({"password": PASSWORD, "code": "000000"})),
    ] {
        let r = s.call("POST", "/api/me/mfa/enroll", &a1, body.clone());
        let text = r.text();
        assert!(
            r.status == 401 || r.status == 403,
            "{body:?}: {} {}",
            r.status,
            &text[..text.len().min(200)]
        );
        let code = r.json()["error"].as_str().unwrap().to_string();
        assert!(
            [
                "reauthentication_required",
                "invalid_credentials",
                "invalid_mfa_code"
            ]
            .contains(&code.as_str()),
            "{body:?}: {code}"
        );
    }
    // Nothing changed: no pending secret to confirm, the old one in place, the recovery code
    // offered with a wrong password not spent.
    let r = s.call(
        "POST",
        "/api/me/mfa/confirm",
        &a1,
        Some(json!({"code": "123456"})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(stored_secret(&s), before);
    let a3 = login_with(&s, &recovery[1]);

    // The user themselves: password and a current code from the old authenticator.
    next_step();
    let r = s.call(
        "POST",
        "/api/me/mfa/enroll",
        &a1,
        Some(json!({"password": PASSWORD, "code": current_code(&secret).unwrap()})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let fresh = r.json()["secret"].as_str().unwrap().to_string();
    assert_ne!(fresh, secret);
    let r = s.call(
        "POST",
        "/api/me/mfa/confirm",
        &a1,
        Some(json!({"code": current_code(&fresh).unwrap()})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_ne!(stored_secret(&s), before);
    // This session goes on; every other one has ended.
    assert_eq!(s.call("GET", "/api/me", &a1, None).status, 200);
    for other in [&a2, &a3] {
        assert_eq!(s.call("GET", "/api/me", other, None).status, 401);
    }
    // The old recovery codes are gone with the old authenticator.
    let r = s.call(
        "POST",
        "/api/login",
        &Auth::None,
        Some(json!({"username": "admin", "password": PASSWORD, "totp": recovery[2]})),
    );
    assert_eq!(r.status, 401, "{}", r.text());
    let audit = s.ctx.security.audit_entries(None, 200).unwrap();
    let changed = audit
        .iter()
        .find(|e| e.action == "mfa.changed")
        .unwrap_or_else(|| panic!("{audit:#?}"));
    assert_eq!(
        (changed.user.as_str(), changed.target.as_str()),
        ("admin", "admin")
    );
    assert!(
        changed.detail.contains("2 other sessions ended"),
        "{}",
        changed.detail
    );
    assert!(
        audit.iter().any(|e| e.action == "mfa.change_refused"),
        "{audit:#?}"
    );
}
