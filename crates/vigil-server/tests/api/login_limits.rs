//! Login limits against a real HTTPS server, as an attacker uses them: guesses sent in parallel, guesses
//! from changing addresses to keep someone else's account slowed down, and floods of failures in the
//! audit log.

use crate::common;

use common::net::{RawResponse, lo, read_response, tls_config, tls_from};
use common::{PASSWORD, Setup, TestServer, agent_trusting};
use serde_json::json;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use vigil_server::Policy;
use vigil_server::auth::limit::LoginLimits;

/// What one login answered: status, error code, whether `Retry-After` was set.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    code: String,
    retry_after: bool,
}

/// Sends `passwords.len()` logins for `user` at the same moment, each on its own (already open) TLS
/// connection.
fn logins_at_once(s: &TestServer, user: &str, passwords: &[String]) -> Vec<Answer> {
    let cert = s.dir.path().join("tls/cert.pem");
    let barrier = Arc::new(Barrier::new(passwords.len()));
    std::thread::scope(|scope| {
        let handles: Vec<_> = passwords
            .iter()
            .map(|password| {
                let barrier = barrier.clone();
                let cert = cert.clone();
                scope.spawn(move || {
                    let agent = agent_trusting(&cert);
                    // Open the connection first, so that the logins themselves start together.
                    let warm = agent.get(format!("{}/api/setup", s.url)).call().unwrap();
                    assert_eq!(warm.status(), 200);
                    // Read to the end, so that the agent keeps the connection for the login.
                    warm.into_body().read_to_vec().unwrap();
                    barrier.wait();
                    let mut r = agent
                        .post(format!("{}/api/login", s.url))
                        .header("Content-Type", "application/json")
                        .send(json!({"username": user, "password": password}).to_string())
                        .unwrap();
                    let status = r.status().as_u16();
                    let retry_after = r.headers().contains_key("retry-after");
                    let body: serde_json::Value =
                        serde_json::from_slice(&r.body_mut().read_to_vec().unwrap())
                            .unwrap_or_default();
                    Answer {
                        status,
                        code: body["error"].as_str().unwrap_or_default().to_string(),
                        retry_after,
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// How many of the answers come from a password that was actually checked (200 or 401).
fn checked(answers: &[Answer]) -> usize {
    answers
        .iter()
        .filter(|a| a.status == 200 || a.code == "invalid_credentials")
        .count()
}

fn assert_refusals_are_clean(answers: &[Answer]) {
    for a in answers {
        match a.status {
            200 => {}
            401 => assert_eq!(a.code, "invalid_credentials", "{a:?}"),
            429 | 503 => assert!(a.retry_after, "{a:?} without Retry-After"),
            _ => panic!("unexpected answer {a:?}"),
        }
    }
}

#[test]
fn parallel_guesses_check_no_more_passwords_than_the_policy_allows() {
    // 100 connections from one address: more than the default per-address limit, which is not what
    // this test is about.
    let (s, admin) = TestServer::with_admin(Setup {
        limits: Some(vigil_server::ConnLimits {
            max_per_address: 1000,
            ..Default::default()
        }),
        ..Setup::default()
    });
    let free = LoginLimits::default().account_free_failures as usize;
    // 40 wrong passwords at once (the penetration test sent 39 and the right one, and 39 were checked
    // before the right one got in).
    let passwords: Vec<String> = (0..40).map(|i| format!("wrong-password-{i:04}")).collect();
    let answers = logins_at_once(&s, "admin", &passwords);
    assert_refusals_are_clean(&answers);
    assert!(
        checked(&answers) <= free,
        "{} passwords checked at once (policy: {free}): {answers:?}",
        checked(&answers)
    );
    // The right password right after them waits like any other attempt.
    let r = s.call(
        "POST",
        "/api/login",
        &common::Auth::None,
        Some(json!({"username": "admin", "password": PASSWORD})),
    );
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").is_some());

    // 100 at once for another account (that exists), from the same address.
    s.user(&admin, "bob", "viewer", json!({}));
    let passwords: Vec<String> = (0..100).map(|i| format!("bob-guess-{i:04}")).collect();
    let answers = logins_at_once(&s, "bob", &passwords);
    assert_refusals_are_clean(&answers);
    assert!(
        checked(&answers) <= free,
        "{} of 100 guesses checked (policy: {free})",
        checked(&answers)
    );
    // Every checked guess is in the audit log, none after the account was slowed down.
    let audit = s.ctx.security.audit_entries(None, 1000).unwrap();
    let failures = audit
        .iter()
        .filter(|e| e.action == "login.failure" && e.target == "bob")
        .count();
    assert!(failures <= free, "{failures} failures logged for bob");
}

/// A login from the loopback address `127.0.0.from` on a new connection, with extra cookies.
fn login_from(s: &TestServer, from: u8, user: &str, password: &str, cookie: &str) -> RawResponse {
    let addr = s.server.as_ref().unwrap().addr();
    let config = tls_config(&s.dir.path().join("tls/cert.pem"));
    let body = json!({"username": user, "password": password}).to_string();
    s.runtime.block_on(async {
        let mut c = tls_from(lo(from), addr, &config).await.unwrap();
        let cookie = if cookie.is_empty() {
            String::new()
        } else {
            format!("Cookie: {cookie}\r\n")
        };
        let req = format!(
            "POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             {cookie}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        c.write_all(req.as_bytes()).await.unwrap();
        read_response(&mut c).await.unwrap()
    })
}

/// The `vigil_device=...` pair a login response set.
fn device_cookie(r: &RawResponse) -> String {
    r.headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .filter_map(|(_, v)| v.split(';').next())
        .find(|kv| kv.starts_with("vigil_device="))
        .expect("a vigil_device cookie")
        .to_string()
}

fn retry_after(r: &RawResponse) -> Duration {
    Duration::from_secs(
        r.header("retry-after")
            .expect("Retry-After")
            .parse()
            .unwrap(),
    )
}

#[test]
fn guesses_from_changing_addresses_cannot_keep_the_admin_out() {
    let limits = LoginLimits {
        slow_base: Duration::from_secs(1),
        slow_max: Duration::from_secs(4),
        forget_every: Duration::from_secs(3),
        ..LoginLimits::default()
    };
    let (s, _) = TestServer::with_admin(Setup {
        policy: Some(Policy {
            limits: limits.clone(),
            ..Policy::default()
        }),
        ..Setup::default()
    });
    // The admin's browser logged in before: it is a known device.
    let r = login_from(&s, 1, "admin", PASSWORD, "");
    assert_eq!(r.status, 200);
    let device = device_cookie(&r);
    assert!(
        r.headers.iter().any(|(k, v)| k == "set-cookie"
            && v.contains("vigil_device=")
            && v.contains("HttpOnly")),
        "{r:?}"
    );
    // The penetration test's attack: a guess from a new address each time, whenever one is allowed,
    // for about 12 s (the account would stay locked for an hour per request before).
    let started = Instant::now();
    let mut from = 10;
    let mut refused = 0;
    while started.elapsed() < Duration::from_secs(12) {
        let r = login_from(&s, from, "admin", "wrong-guess-1234", "");
        from += 1;
        match r.status {
            401 => {}
            429 => {
                refused += 1;
                let wait = retry_after(&r);
                assert!(wait <= limits.slow_max, "waits are capped: {wait:?}");
                // The admin, on the known device, logs in at once all the same ...
                let mine = login_from(&s, 2, "admin", PASSWORD, &device);
                assert_eq!(mine.status, 200, "{mine:?}");
                // ... while a browser the account has not seen is slowed down like the attacker,
                // made-up device cookie or not.
                let other = login_from(&s, 3, "admin", PASSWORD, "");
                assert_eq!(other.status, 429, "{other:?}");
                let fake = format!("vigil_device={}", "0".repeat(64));
                assert_eq!(login_from(&s, 3, "admin", PASSWORD, &fake).status, 429);
                std::thread::sleep(wait);
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(refused >= 2, "the account was slowed down {refused} times");
    // The device cookie is no credential: with it, a wrong password is still wrong.
    assert_eq!(
        login_from(&s, 2, "admin", "wrong-guess-5678", &device).status,
        401
    );
    // Once the attacker stops, failures are forgotten one per forget_every.
    let before = s.ctx.security.throttle("admin").unwrap().failures;
    std::thread::sleep(limits.forget_every * 2);
    let after = s.ctx.security.throttle("admin").unwrap().failures;
    assert!(
        (before - after - 2.0).abs() < 0.2,
        "{before} failures became {after}"
    );
    let wait = s.ctx.security.throttle("admin").unwrap().wait;
    std::thread::sleep(wait);
    assert_eq!(login_from(&s, 3, "admin", PASSWORD, "").status, 200);
}

#[test]
fn unlock_lets_a_slowed_down_account_in_at_once_and_counts_survive_a_restart() {
    let (s, _) = TestServer::with_admin(Setup::default());
    for i in 0..5 {
        let r = login_from(&s, 10 + i, "admin", "wrong-guess-1234", "");
        assert_eq!(r.status, 401);
    }
    let r = login_from(&s, 20, "admin", PASSWORD, "");
    assert_eq!(r.status, 429);
    assert!(retry_after(&r) >= Duration::from_secs(25), "{r:?}");
    // The count is in security.db: a second handle (another process, or the next start) sees it.
    let other = vigil_server::Security::open_in(s.dir.path(), Policy::default()).unwrap();
    let t = other.throttle("admin").unwrap();
    assert_eq!(t.failures.round(), 5.0);
    assert!(t.wait >= Duration::from_secs(25));
    // `vigil user unlock` (that handle) while the server runs: the next login goes through.
    assert!(other.unlock("Admin").unwrap());
    assert_eq!(login_from(&s, 20, "admin", PASSWORD, "").status, 200);
}

#[test]
fn a_flood_of_failures_is_aggregated_in_the_audit_log_and_nothing_is_lost() {
    let limits = LoginLimits {
        ip_free_failures: 10_000,
        ip_block_failures: 10_000,
        account_free_failures: 25,
        audit_window: Duration::from_secs(6),
        ..LoginLimits::default()
    };
    let window = limits.audit_window;
    let (s, _) = TestServer::with_admin(Setup {
        policy: Some(Policy {
            limits,
            ..Policy::default()
        }),
        ..Setup::default()
    });
    let started = s.ctx.security.audit_entries(None, 1).unwrap()[0].id;
    let flood = Instant::now();
    // 40 guesses for one account from one address: 25 checked, then the account is slowed down.
    for i in 0..40 {
        let r = login_from(&s, 10, "admin", &format!("wrong-guess-{i:04}"), "");
        assert!(r.status == 401 || r.status == 429, "{r:?}");
    }
    // 30 names from another address (a list of user names being tried).
    let names: Vec<String> = (0..30).map(|i| format!("name-{i:02}")).collect();
    for n in &names {
        assert_eq!(login_from(&s, 11, n, "wrong-guess-0000", "").status, 401);
    }
    let audit = |s: &TestServer| -> Vec<vigil_server::audit::AuditEntry> {
        let mut v = s.ctx.security.audit_entries(None, 1000).unwrap();
        v.retain(|e| e.id > started && e.action.starts_with("login."));
        v
    };
    // Right away: the first failure of each account and address is there, and not one entry per guess
    // (at most two per window: the first failure at once, the count of the rest when it ends).
    let windows = (flood.elapsed().as_secs_f64() / window.as_secs_f64()).ceil() as usize;
    let now = audit(&s);
    let rows = |v: &[vigil_server::audit::AuditEntry], action: &str, ip: &str| {
        v.iter()
            .filter(|e| e.action == action && e.ip == ip)
            .cloned()
            .collect::<Vec<_>>()
    };
    for (action, ip) in [
        ("login.failure", "127.0.0.10"),
        ("login.locked", "127.0.0.10"),
    ] {
        let n = rows(&now, action, ip).len();
        assert!(
            (1..=2 * windows).contains(&n),
            "{n} {action} in {windows} windows: {now:#?}"
        );
    }
    assert!(rows(&now, "login.failure", "127.0.0.11").len() <= 12 * windows);
    // After the window the server writes the counts itself.
    std::thread::sleep(window + Duration::from_secs(2));
    let later = audit(&s);
    let total = |action: &str, ip: &str| -> u64 {
        rows(&later, action, ip)
            .iter()
            .map(common::attempts_in)
            .sum()
    };
    assert_eq!(total("login.failure", "127.0.0.10"), 25, "{later:#?}");
    assert_eq!(total("login.locked", "127.0.0.10"), 15, "{later:#?}");
    assert_eq!(total("login.failure", "127.0.0.11"), 30, "{later:#?}");
    assert!(rows(&later, "login.failure", "127.0.0.10").len() <= 2 * windows);
    assert!(rows(&later, "login.failure", "127.0.0.11").len() <= 12 * windows);
    // Every name tried is still named somewhere.
    let text: String = later
        .iter()
        .map(|e| format!("{} {}\n", e.target, e.detail))
        .collect();
    for n in &names {
        assert!(text.contains(n.as_str()), "{n} is missing:\n{text}");
    }
    // The aggregated entries are part of the hash chain like any other.
    let report = vigil_server::audit::verify(&s.security_db()).unwrap();
    assert_eq!(report.first_bad, None);
}
