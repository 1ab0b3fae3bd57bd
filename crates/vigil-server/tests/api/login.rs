//! Accounts and sessions against a real HTTPS server: the one-time setup token, brute-force slowdown
//! of accounts and addresses, identical answers for unknown users, CSRF, session expiry, logout and TOTP MFA.

use crate::common;

use common::{Auth, PASSWORD, Session, Setup, TestServer, session_of};
use serde_json::json;
use std::time::{Duration, Instant};
use vigil_server::Policy;
use vigil_server::perms::Role;

fn login(s: &TestServer, user: &str, password: &str) -> common::Resp {
    s.call(
        "POST",
        "/api/login",
        &Auth::None,
        Some(json!({"username": user, "password": password})),
    )
}

#[test]
fn setup_token_creates_the_first_admin_once() {
    let s = TestServer::start(Setup::default());
    let token = s.setup_token.clone().expect("a token while no user exists");
    let setup = |token: &str, user: &str| {
        s.call(
            "POST",
            "/api/setup",
            &Auth::None,
            Some(json!({"token": token, "username": user, "password": PASSWORD})),
        )
    };
    // No default credentials: nothing logs in before setup.
    for (u, p) in [("admin", "admin"), ("admin", PASSWORD), ("root", "")] {
        assert_eq!(login(&s, u, p).status, 401);
    }
    let r = setup("0123456789abcdef0123456789abcdef", "mallory");
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"], "bad_setup_token");
    // A weak password is refused without spending the token.
    let r = s.call(
        "POST",
        "/api/setup",
        &Auth::None,
        Some(json!({"token": token, "username": "admin", "password": "short"})),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    let r = setup(&token, "admin");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["role"], "admin");
    let again = setup(&token, "second");
    assert_eq!(again.status, 409, "{}", again.text());
    assert_eq!(
        s.call("GET", "/api/setup", &Auth::None, None).json()["needed"],
        false
    );
    assert!(s.ctx.security.new_setup_token().unwrap().is_none());
    assert_eq!(login(&s, "admin", PASSWORD).status, 200);
    assert_eq!(login(&s, "second", PASSWORD).status, 401);
}

#[test]
fn twenty_wrong_passwords_slow_the_account_and_the_ip_down() {
    let (s, _admin) = TestServer::with_admin(Setup::default());
    let first = Instant::now();
    let r = login(&s, "admin", "wrong-password-0000");
    let first_took = first.elapsed();
    assert_eq!(r.status, 401);
    let mut statuses = vec![r.status];
    let mut last_took = Duration::ZERO;
    for i in 1..20 {
        let t = Instant::now();
        let r = login(&s, "admin", &format!("wrong-password-{i:04}"));
        last_took = t.elapsed();
        statuses.push(r.status);
    }
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|&c| c == 429), "{statuses:?}");
    // The IP is slowed: the 20th attempt waits (10 failures past the free ones x 100 ms).
    assert!(
        last_took >= Duration::from_millis(900) && last_took > first_took,
        "first {first_took:?}, last {last_took:?}"
    );
    // The right password during the lockout fails.
    let r = login(&s, "admin", PASSWORD);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").is_some());
    assert!(r.header("set-cookie").is_none());
    // The audit log has the failures and the slowdown (repeats counted in one entry per account,
    // address and minute: "N more within 60 s: ...").
    s.ctx.security.flush_attempts(true);
    let audit = s.ctx.security.audit_entries(None, 100).unwrap();
    let count = |a: &str| -> u64 {
        audit
            .iter()
            .filter(|e| e.action == a)
            .map(common::attempts_in)
            .sum()
    };
    assert_eq!(count("login.failure"), 5);
    assert_eq!(count("login.lockout"), 1);
    assert_eq!(count("login.locked"), 16);
    assert!(
        audit
            .iter()
            .filter(|e| e.action != "audit.keyed")
            .all(|e| e.ip == "127.0.0.1" || e.ip == "-")
    );
}

#[test]
fn unknown_users_and_wrong_passwords_get_the_same_answer_in_similar_time() {
    // Eight tries of each: past the free failures of the account and the address, which are not
    // what this test is about.
    let limits = vigil_server::auth::limit::LoginLimits {
        account_free_failures: 100,
        ip_free_failures: 100,
        ..Default::default()
    };
    let (s, _admin) = TestServer::with_admin(Setup {
        policy: Some(Policy {
            limits,
            ..Policy::default()
        }),
        ..Setup::default()
    });
    // Interleaved, so that load from elsewhere weighs on both the same.
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    let mut bodies = Vec::new();
    for i in 0..8 {
        for (user, times) in [("admin", &mut known), ("nobody-here", &mut unknown)] {
            let t = Instant::now();
            let r = login(&s, user, &format!("not-the-password-{i}"));
            times.push(t.elapsed());
            assert_eq!(r.status, 401);
            bodies.push(r.text());
        }
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    known.sort();
    unknown.sort();
    // The middle four of each.
    let (k, u): (Duration, Duration) = (known[2..6].iter().sum(), unknown[2..6].iter().sum());
    let ratio = k.as_secs_f64() / u.as_secs_f64();
    assert!(
        (0.5..2.0).contains(&ratio),
        "known {known:?} vs unknown {unknown:?}"
    );
    // Both pay for an argon2id verification.
    assert!(unknown[0] > Duration::from_millis(5), "{unknown:?}");
}

#[test]
fn cookie_writes_need_the_csrf_token() {
    let (s, admin) = TestServer::with_admin(Setup::default());
    let body = json!({"username": "eve", "password": PASSWORD, "role": "admin"});
    let r = s.call(
        "POST",
        "/api/users",
        &Auth::CookieOnly(admin.clone()),
        Some(body.clone()),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["error"], "csrf");
    let wrong = Session {
        csrf: "0".repeat(64),
        ..admin.clone()
    };
    assert_eq!(
        s.call(
            "POST",
            "/api/users",
            &Auth::Session(wrong),
            Some(body.clone())
        )
        .status,
        403
    );
    assert!(s.ctx.security.user_by_name("eve").unwrap().is_none());
    // Reads need no token; with it the write goes through.
    assert_eq!(
        s.call("GET", "/api/users", &Auth::CookieOnly(admin.clone()), None)
            .status,
        200
    );
    assert_eq!(
        s.call("POST", "/api/users", &Auth::Session(admin), Some(body))
            .status,
        201
    );
}

#[test]
fn cookies_are_locked_down_and_sessions_end_on_logout_and_expiry() {
    let policy = Policy {
        session_idle: Duration::from_millis(1500),
        session_max: Duration::from_secs(4),
        ..Policy::default()
    };
    let (s, admin) = TestServer::with_admin(Setup {
        policy: Some(policy),
        ..Setup::default()
    });
    let r = login(&s, "admin", PASSWORD);
    let cookie = r.header("set-cookie").unwrap();
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let a = Auth::Session(admin.clone());
    assert_eq!(s.call("GET", "/api/me", &a, None).status, 200);
    // Idle: refused after the idle timeout.
    std::thread::sleep(Duration::from_millis(1700));
    assert_eq!(s.call("GET", "/api/me", &a, None).status, 401);
    // Absolute: refused after session_max however active.
    let active = Auth::Session(session_of(&login(&s, "admin", PASSWORD)));
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(4300) {
        std::thread::sleep(Duration::from_millis(500));
        let st = s.call("GET", "/api/me", &active, None).status;
        if t.elapsed() < Duration::from_millis(3800) {
            assert_eq!(st, 200);
        }
    }
    assert_eq!(s.call("GET", "/api/me", &active, None).status, 401);
    // Logout ends the session on the server, not only in the browser.
    let fresh = Auth::Session(s.login("admin", PASSWORD));
    let r = s.call("POST", "/api/logout", &fresh, None);
    assert_eq!(r.status, 204);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(s.call("GET", "/api/me", &fresh, None).status, 401);
}

#[test]
fn totp_mfa_enrolment_login_replay_and_recovery_codes() {
    let (s, admin) = TestServer::with_admin(Setup::default());
    let a = Auth::Session(admin);
    let e = s.call("POST", "/api/me/mfa/enroll", &a, None);
    assert_eq!(e.status, 200, "{}", e.text());
    let e = e.json();
    let secret = e["secret"].as_str().unwrap();
    assert!(
        e["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Vigil:admin?")
    );
    assert!(e["qr_svg"].as_str().unwrap().contains("<svg"));
    let bad = s.call(
        "POST",
        "/api/me/mfa/confirm",
        &a,
        Some(json!({"code": "000000"})),
    );
    assert_eq!(bad.status, 400);
    let code = vigil_server::auth::mfa::current_code(secret).unwrap();
    let r = s.call(
        "POST",
        "/api/me/mfa/confirm",
        &a,
        Some(json!({"code": code})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let recovery: Vec<String> = serde_json::from_value(r.json()["recovery_codes"].clone()).unwrap();
    assert_eq!(recovery.len(), 10);

    let r = login(&s, "admin", PASSWORD);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "mfa_required");
    assert!(r.header("set-cookie").is_none());
    // The code used for enrolment cannot be used again (replay).
    let with = |totp: &str| {
        s.call(
            "POST",
            "/api/login",
            &Auth::None,
            Some(json!({"username": "admin", "password": PASSWORD, "totp": totp})),
        )
    };
    let r = with(&code);
    assert_eq!(r.json()["error"], "invalid_mfa_code", "{}", r.text());
    // A recovery code works once.
    let r = with(&recovery[0]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["user"]["mfa"], true);
    assert_eq!(with(&recovery[0]).status, 401);
    assert_eq!(with(&recovery[1].to_uppercase()).status, 200);
    let audit = s.ctx.security.audit_entries(None, 100).unwrap();
    assert!(audit.iter().any(|e| e.action == "mfa.enabled"));
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "mfa.recovery_code_used")
            .count(),
        2
    );
}

#[test]
fn a_role_that_requires_mfa_can_only_enrol_until_it_has() {
    let policy = Policy {
        require_mfa: vec![Role::Admin],
        ..Policy::default()
    };
    let (s, admin) = TestServer::with_admin(Setup {
        policy: Some(policy),
        ..Setup::default()
    });
    let a = Auth::Session(admin);
    let me = s.call("GET", "/api/me", &a, None).json();
    assert_eq!(me["mfa_enrollment_required"], true);
    let r = s.call("GET", "/api/users", &a, None);
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "mfa_enrollment_required");
    let secret = s.call("POST", "/api/me/mfa/enroll", &a, None).json()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let code = vigil_server::auth::mfa::current_code(&secret).unwrap();
    assert_eq!(
        s.call(
            "POST",
            "/api/me/mfa/confirm",
            &a,
            Some(json!({"code": code}))
        )
        .status,
        200
    );
    assert_eq!(s.call("GET", "/api/users", &a, None).status, 200);
}

#[test]
fn passwords_follow_the_strength_rules_and_users_cannot_remove_the_last_admin() {
    let (s, admin) = TestServer::with_admin(Setup::default());
    let a = Auth::Session(admin);
    for (user, pw) in [
        ("bob", "short"),
        ("bob", "bob-bob-bob-bob-1"),
        ("bob", "password1234"),
        ("bob", "aaaaaaaaaaaaaaaaaa"),
    ] {
        let r = s.call(
            "POST",
            "/api/users",
            &a,
            Some(json!({"username": user, "password": pw, "role": "viewer"})),
        );
        assert_eq!(r.status, 422, "{pw}: {}", r.text());
        assert_eq!(r.json()["error"], "weak_password");
    }
    let me = s.call("GET", "/api/me", &a, None).json();
    let id = me["user"]["id"].as_i64().unwrap();
    // An admin cannot demote, disable or re-password themselves through the API (the session would
    // lock itself out); the last admin is protected in the database layer too (CLI test).
    for patch in [
        json!({"role": "viewer"}),
        json!({"disabled": true}),
        json!({"password": "another-long-secret-9"}),
    ] {
        let r = s.call("PATCH", &format!("/api/users/{id}"), &a, Some(patch));
        assert_eq!(r.status, 409, "{}", r.text());
    }
    let r = s.call("DELETE", &format!("/api/users/{id}"), &a, None);
    assert_eq!(r.status, 409, "{}", r.text());
}
