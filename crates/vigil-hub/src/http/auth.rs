//! Login, logout, the current user and MFA enrolment, with the login limits.
//!
//! A login goes through, in order: the address's turn (vigil-server's [`Limiter`]: slowed after 10
//! failures, refused after 100 within 15 minutes), the account's turn from that address
//! ([`AccountLimiter`]), a password hashing slot ([`HashGate`]: 503 when too many wait), the password
//! (an unknown name costs the same time), then the TOTP code when the user has MFA.

use super::store::HubUser;
use super::{AppState, COOKIE, Caller, ClientAddr, internal};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use vigil_server::ApiError;
use vigil_server::auth::limit::{LoginLimits, Outcome};
use vigil_server::auth::mfa;

/// Most (account, address) pairs tracked; past it, the ones with nothing current are dropped.
const MAX_ACCOUNTS: usize = 100_000;

#[derive(Debug)]
struct AccountState {
    failures: f64,
    updated: Instant,
    next: Instant,
    in_flight: u32,
}

/// Per account and address: attempts in progress count as failures; the first
/// `account_free_failures` failures are free, then one attempt per `slow_base`, doubling per further
/// failure up to `slow_max` (vigil-server's [`LoginLimits::slowdown`]); one failure is forgotten every
/// `forget_every`. Kept in memory: a restart forgets it (the per-address limiter too).
pub struct AccountLimiter {
    limits: LoginLimits,
    map: Mutex<HashMap<(String, Option<IpAddr>), AccountState>>,
}

/// An admitted attempt, a failure unless finished otherwise.
pub struct AccountTurn<'a> {
    limiter: &'a AccountLimiter,
    key: (String, Option<IpAddr>),
    open: bool,
}

impl AccountTurn<'_> {
    /// Records how it ended; for a failure, the wait it now imposes, if any.
    pub fn finish(mut self, outcome: Outcome) -> Option<Duration> {
        self.open = false;
        self.limiter.end(&self.key, outcome)
    }
}

impl Drop for AccountTurn<'_> {
    fn drop(&mut self) {
        if self.open {
            self.limiter.end(&self.key, Outcome::Failure);
        }
    }
}

impl AccountLimiter {
    /// A limiter with these thresholds.
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            limits,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The turn of `account` from `ip`, or how long to wait.
    pub fn begin(&self, account: &str, ip: Option<IpAddr>) -> Result<AccountTurn<'_>, Duration> {
        let key = (account.to_lowercase(), ip);
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let st = map.entry(key.clone()).or_insert(AccountState {
            failures: 0.0,
            updated: now,
            next: now,
            in_flight: 0,
        });
        st.failures = self
            .limits
            .decayed(st.failures, now.duration_since(st.updated));
        st.updated = now;
        if now < st.next {
            return Err(st.next - now);
        }
        let free = f64::from(self.limits.account_free_failures);
        if st.failures.ceil() + f64::from(st.in_flight) >= free && st.in_flight > 0 {
            return Err(self.limits.slow_base);
        }
        st.in_flight += 1;
        Ok(AccountTurn {
            limiter: self,
            key,
            open: true,
        })
    }

    fn end(&self, key: &(String, Option<IpAddr>), outcome: Outcome) -> Option<Duration> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let st = map.get_mut(key)?;
        st.in_flight = st.in_flight.saturating_sub(1);
        match outcome {
            Outcome::Success => {
                if st.in_flight == 0 {
                    map.remove(key);
                } else {
                    st.failures = 0.0;
                }
                None
            }
            Outcome::NotAGuess => None,
            Outcome::Failure => {
                let now = Instant::now();
                st.failures += 1.0;
                st.updated = now;
                let wait = self.limits.slowdown(st.failures)?;
                st.next = st.next.max(now + wait);
                Some(wait)
            }
        }
    }

    /// Drops what is forgotten anyway.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let limits = &self.limits;
        map.retain(|_, s| {
            s.in_flight > 0
                || now < s.next
                || limits.decayed(s.failures, now.duration_since(s.updated)) > 0.0
        });
        if map.len() > MAX_ACCOUNTS {
            map.retain(|_, s| s.in_flight > 0 || now < s.next);
        }
    }
}

fn too_many(wait: Duration) -> ApiError {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!("too many failed logins; try again in {secs} s"),
    );
    e.retry_after = Some(secs);
    e
}

fn bad_login() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "wrong user name or password",
    )
}

/// `POST /api/login` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

fn me_body(st: &AppState, user: &HubUser, csrf: &str) -> Value {
    let pending = st.policy.require_mfa.contains(&user.role) && !user.mfa;
    let perms = vigil_server::perms::Permissions::for_role(user.role, user.playback, false);
    json!({
        "user": user,
        "csrf": csrf,
        "permissions": perms.names(),
        "mfa_enrollment_required": pending,
    })
}

fn session_cookie(id: &str, max_age: u64) -> String {
    format!("{COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}")
}

/// `POST /api/login`: `{username, password, totp?}` → the user, the CSRF token and the session
/// cookie; 401 `invalid_credentials`, `mfa_required` or `invalid_mfa_code`; 429 with `Retry-After`
/// while limited; 503 when too many passwords are being checked.
pub async fn login(
    State(st): State<AppState>,
    ClientAddr(ip): ClientAddr,
    body: Result<Json<LoginRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    let ip_turn = match st.ip_limiter.ip_turn(ip) {
        Ok(t) => t,
        Err(wait) => {
            tokio::time::sleep(st.ip_limiter.limits().ip_max_delay).await;
            return Err(too_many(wait));
        }
    };
    if !ip_turn.delay().is_zero() {
        tokio::time::sleep(ip_turn.delay()).await;
    }
    if req.username.is_empty() || req.username.len() > 64 || req.password.len() > 1024 {
        ip_turn.end(true);
        return Err(bad_login());
    }
    let turn = match st.accounts.begin(&req.username, ip) {
        Ok(t) => t,
        Err(wait) => {
            ip_turn.end(true);
            return Err(too_many(wait));
        }
    };
    let Ok(mut slot) = st.hashing.slot().await else {
        turn.finish(Outcome::NotAGuess);
        ip_turn.end(true);
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many logins at once; try again in a moment",
        );
        e.retry_after = Some(st.hashing.retry_after());
        return Err(e);
    };
    let creds = st
        .store
        .credentials(&req.username)
        .await
        .map_err(internal)?;
    let password = req.password.clone();
    let stored = creds.as_ref().map(|c| c.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || match stored {
        Some(h) => slot.verify(&h, &password),
        None => {
            slot.verify_dummy(&password);
            false
        }
    })
    .await
    .unwrap_or(false);
    let addr = ip;
    let creds = match creds {
        Some(c) if ok && !c.user.disabled => c,
        _ => {
            let slowed = turn.finish(Outcome::Failure);
            ip_turn.end(true);
            let target = creds
                .as_ref()
                .map_or("(unknown name)".to_string(), |c| c.user.username.clone());
            st.audit(
                "-",
                "login.failure",
                Some(&target),
                json!({"why": "wrong user name or password"}),
                addr,
            )
            .await;
            if let Some(wait) = slowed {
                st.audit(
                    "-",
                    "login.lockout",
                    Some(&target),
                    json!({"next_attempt_s": wait.as_secs().max(1)}),
                    addr,
                )
                .await;
            }
            return Err(bad_login());
        }
    };
    let user = creds.user.clone();
    if let Some(secret) = &creds.mfa_secret {
        let Some(code) = req.totp.as_deref().filter(|c| !c.trim().is_empty()) else {
            turn.finish(Outcome::NotAGuess);
            ip_turn.end(false);
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "mfa_required",
                "enter the code from your authenticator app",
            ));
        };
        let step = mfa::code_step(secret, &user.username, code).map_err(ApiError::from)?;
        let used = match step {
            Some(s) => st
                .store
                .use_mfa_step(user.id, s as i64)
                .await
                .map_err(internal)?,
            None => false,
        };
        if !used {
            let slowed = turn.finish(Outcome::Failure);
            ip_turn.end(true);
            st.audit(
                "-",
                "login.failure",
                Some(&user.username),
                json!({"why": "wrong MFA code", "slowed_s": slowed.map(|w| w.as_secs())}),
                addr,
            )
            .await;
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_mfa_code",
                "wrong or already used code",
            ));
        }
    }
    turn.finish(Outcome::Success);
    ip_turn.end(false);
    let id = hex_of(&vigil_server::auth::random_bytes::<32>().map_err(ApiError::from)?);
    let csrf = hex_of(&vigil_server::auth::random_bytes::<16>().map_err(ApiError::from)?);
    let ip_text = addr.map_or_else(|| "-".to_string(), |i| i.to_string());
    st.store
        .create_session(
            &vigil_server::auth::sha256_hex(&id),
            user.id,
            &csrf,
            &ip_text,
        )
        .await
        .map_err(internal)?;
    st.audit(
        &user.username,
        "login.success",
        Some(&user.username),
        json!({"mfa": user.mfa}),
        addr,
    )
    .await;
    let mut resp = Json(me_body(&st, &user, &csrf)).into_response();
    let max_age = st.policy.session_max.as_secs();
    if let Ok(v) = HeaderValue::from_str(&session_cookie(&id, max_age)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

fn hex_of(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// `POST /api/logout`: ends the session.
pub async fn logout(State(st): State<AppState>, c: Caller) -> Result<Response, ApiError> {
    st.store
        .end_session(&c.session_hash)
        .await
        .map_err(internal)?;
    st.audit(c.actor(), "logout", Some(c.actor()), json!({}), c.ip)
        .await;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&session_cookie("", 0)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// `GET /api/me`: the user, their permissions, the CSRF token, whether MFA enrolment is required.
pub async fn me(State(st): State<AppState>, c: Caller) -> Json<Value> {
    Json(me_body(&st, &c.user, &c.csrf))
}

/// `POST /api/me/mfa/enroll`: a new TOTP secret (pending until confirmed): `{secret, otpauth_url,
/// qr_svg}`. Replacing an enrolled authenticator is an administrator's reset.
pub async fn enroll(State(st): State<AppState>, c: Caller) -> Result<Json<Value>, ApiError> {
    if c.user.mfa {
        return Err(ApiError::conflict(
            "MFA is on already: an administrator resets it to enrol another authenticator",
        ));
    }
    let (secret, e) = mfa::new_enrollment(&c.user.username).map_err(ApiError::from)?;
    st.store
        .set_mfa_pending(c.user.id, &secret)
        .await
        .map_err(internal)?;
    st.audit(c.actor(), "mfa.enroll", Some(c.actor()), json!({}), c.ip)
        .await;
    Ok(Json(json!(e)))
}

/// `POST /api/me/mfa/confirm` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    code: String,
}

/// `POST /api/me/mfa/confirm` `{code}`: MFA is on from now (400 `bad_request` for a wrong code).
pub async fn confirm(
    State(st): State<AppState>,
    c: Caller,
    body: Result<Json<ConfirmRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = body?;
    let Some(secret) = st.store.mfa_pending(c.user.id).await.map_err(internal)? else {
        return Err(ApiError::bad_request(
            "no enrolment in progress: call enroll first",
        ));
    };
    let step = mfa::code_step(&secret, &c.user.username, &req.code).map_err(ApiError::from)?;
    let Some(step) = step else {
        st.audit(
            c.actor(),
            "mfa.confirm_failed",
            Some(c.actor()),
            json!({}),
            c.ip,
        )
        .await;
        return Err(ApiError::bad_request("wrong code"));
    };
    st.store
        .confirm_mfa(c.user.id, step as i64)
        .await
        .map_err(internal)?;
    st.audit(c.actor(), "mfa.enabled", Some(c.actor()), json!({}), c.ip)
        .await;
    let user = st
        .store
        .user(c.user.id)
        .await
        .map_err(internal)?
        .ok_or_else(ApiError::unauthenticated)?;
    Ok(Json(me_body(&st, &user, &c.csrf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LoginLimits {
        LoginLimits {
            account_free_failures: 3,
            slow_base: Duration::from_secs(30),
            ..LoginLimits::default()
        }
    }

    #[test]
    fn attempts_in_progress_count_and_failures_slow_the_account_from_that_address_only() {
        let l = AccountLimiter::new(limits());
        let a: Option<IpAddr> = Some("127.0.0.2".parse().unwrap());
        let b: Option<IpAddr> = Some("127.0.0.1".parse().unwrap());
        // Three at once are let through (the free failures), the fourth waits.
        let t: Vec<_> = (0..3).map(|_| l.begin("Ops", a).unwrap()).collect();
        assert!(l.begin("ops", a).is_err(), "a fourth guess in parallel");
        // They fail: the account is slowed down from that address…
        let waits: Vec<_> = t.into_iter().map(|t| t.finish(Outcome::Failure)).collect();
        assert_eq!(waits[2], Some(Duration::from_secs(30)));
        let wait = l.begin("OPS", a).err().expect("slowed down");
        assert!(wait > Duration::from_secs(25), "{wait:?}");
        // …and not from another one, where the right password resets nothing of the other's count.
        let t = l.begin("ops", b).unwrap();
        assert_eq!(t.finish(Outcome::Success), None);
        assert!(l.begin("ops", a).is_err());
        // A dropped (abandoned) attempt is a failure; one that was no guess is not.
        let c: Option<IpAddr> = Some("127.0.0.3".parse().unwrap());
        drop(l.begin("x", c).unwrap());
        l.begin("x", c).unwrap().finish(Outcome::NotAGuess);
        drop(l.begin("x", c).unwrap());
        let t = l.begin("x", c).unwrap();
        assert_eq!(t.finish(Outcome::Failure), Some(Duration::from_secs(30)));
        l.sweep();
        assert!(
            l.begin("x", c).is_err(),
            "the sweep keeps what still counts"
        );
    }
}
