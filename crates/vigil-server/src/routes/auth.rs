//! Setup, login, logout, the current user and MFA enrolment.

use super::blocking;
use super::extract::{ApiJson, ApiJsonOrEmpty};
use crate::auth::limit::{Attempt, IpTurn, Outcome};
use crate::auth::mfa::MfaUsed;
use crate::auth::password::HashSlot;
use crate::auth::sessions::COOKIE;
use crate::auth::users::{NewUser, User};
use crate::auth::{Security, devices};
use crate::context::AppState;
use crate::error::{ApiError, ApiResult, ServerError};
use crate::perms::{ClientIp, Principal, Role, Via};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// GET /api/setup.
pub async fn setup_status(State(ctx): State<AppState>) -> ApiResult<Json<Value>> {
    let sec = ctx.security.clone();
    let needed = blocking(move || sec.setup_needed()).await?;
    Ok(Json(json!({ "needed": needed })))
}

/// POST /api/setup body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    token: String,
    username: String,
    password: String,
}

/// POST /api/setup.
pub async fn setup(
    State(ctx): State<AppState>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<SetupRequest>,
) -> ApiResult<Response> {
    let turn = ip_turn(&ctx, ip).await?;
    let slot = hash_slot(&ctx).await?;
    let sec = ctx.security.clone();
    let result = blocking(move || {
        let _slot = slot;
        if !sec.setup_needed()? {
            return Err(ServerError::NotFound(
                "setup is done: log in instead".into(),
            ));
        }
        // Check the password first so that a weak password does not burn the token.
        crate::auth::password::check_strength(&req.username, &req.password)?;
        crate::auth::users::check_username(&req.username)?;
        if !sec.take_setup_token(&req.token) {
            sec.audit_attempt(
                &ip.to_string(),
                "setup.refused",
                &req.username,
                "wrong setup token",
            );
            return Err(ServerError::Invalid("wrong setup token".into()));
        }
        let user = sec.add_user(&NewUser {
            username: req.username,
            password: req.password,
            role: Role::Admin,
            cameras: None,
            playback: true,
            export: true,
        })?;
        sec.audit_or_log(
            "-",
            &ip.to_string(),
            "setup",
            &user.username,
            "first admin created",
        );
        Ok(user)
    })
    .await
    .map_err(|e| match e.code {
        "not_found" => ApiError::new(StatusCode::CONFLICT, "setup_done", e.message),
        "bad_request" if e.message == "wrong setup token" => {
            ApiError::new(StatusCode::FORBIDDEN, "bad_setup_token", e.message)
        }
        _ => e,
    });
    turn.end(result.as_ref().is_err_and(|e| e.code == "bad_setup_token"));
    Ok((StatusCode::CREATED, Json(result?)).into_response())
}

/// POST /api/login body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
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

/// The address's turn to try credentials, after the wait its recent failures impose; 429 while it is
/// refused, answered only after the longest wait (so that a client ignoring `Retry-After` cannot
/// turn refusals into a flood).
async fn ip_turn(ctx: &AppState, ip: ClientIp) -> ApiResult<IpTurn> {
    let limiter = &ctx.security.limiter;
    let turn = match limiter.ip_turn(ip.0) {
        Ok(t) => t,
        Err(wait) => {
            tokio::time::sleep(limiter.limits().ip_max_delay).await;
            return Err(too_many(wait));
        }
    };
    if !turn.delay().is_zero() {
        tokio::time::sleep(turn.delay()).await;
    }
    Ok(turn)
}

/// A password hashing slot, or 503 with `Retry-After` when too many hashes are running and queued.
async fn hash_slot(ctx: &AppState) -> ApiResult<HashSlot> {
    ctx.security.hashing.slot().await.map_err(|_| {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many logins at once; try again in a moment",
        );
        e.retry_after = Some(ctx.security.hashing.retry_after());
        e
    })
}

/// Ends an attempt from the async side (the database write on a blocking thread).
async fn settle(attempt: Attempt, outcome: Outcome) {
    let _ = blocking(move || attempt.finish(outcome).map(|_| ())).await;
}

/// Records a failed guess on `target` (`action`: `login.failure`, `password.change_refused`) and, when
/// it slows the account down, `login.lockout`.
fn audit_failure(
    sec: &Security,
    ip: &str,
    action: &str,
    target: &str,
    why: &str,
    slowed: Option<Duration>,
) {
    // A password typed in the user-name field is not written into the log.
    let target = sec
        .login_target(target)
        .unwrap_or_else(|_| "(unknown name)".into());
    let target = target.as_str();
    sec.audit_attempt(ip, action, target, why);
    if let Some(wait) = slowed {
        sec.audit_attempt(
            ip,
            "login.lockout",
            target,
            &format!("slowed down: next attempt in {} s", wait.as_secs().max(1)),
        );
    }
}

/// A password guess let through: the address's turn, the account's attempt (with the known device
/// it came from) and a hashing slot.
struct Guess {
    turn: IpTurn,
    attempt: Attempt,
    device: Option<i64>,
    slot: HashSlot,
}

/// Lets a guess at the password of `name` through, in order: the address's turn (429), the input
/// being `sane` (401, a failure of the address), the account's turn (429) and a hashing slot (503,
/// also a failure of the address: it pushes too hard).
async fn admit(
    ctx: &AppState,
    headers: &HeaderMap,
    ip: ClientIp,
    name: &str,
    sane: bool,
) -> ApiResult<Guess> {
    let turn = ip_turn(ctx, ip).await?;
    if !sane {
        turn.end(true);
        return Err(bad_login());
    }
    let (attempt, device) = match begin_attempt(ctx, headers, &ip.to_string(), name).await {
        Ok(a) => a,
        Err(e) => {
            turn.end(true);
            return Err(e);
        }
    };
    match hash_slot(ctx).await {
        Ok(slot) => Ok(Guess {
            turn,
            attempt,
            device,
            slot,
        }),
        Err(e) => {
            settle(attempt, Outcome::NotAGuess).await;
            turn.end(true);
            Err(e)
        }
    }
}

/// Admits an attempt on the account `name` (with the known-device cookie, if the request has one),
/// or 429 with how long to wait; a refusal is audited as `login.locked`.
async fn begin_attempt(
    ctx: &AppState,
    headers: &HeaderMap,
    ip: &str,
    name: &str,
) -> ApiResult<(Attempt, Option<i64>)> {
    let token = super::cookie(headers, devices::COOKIE);
    let (sec, name, ip) = (ctx.security.clone(), name.to_string(), ip.to_string());
    let begun = blocking(move || {
        let device = match token {
            Some(t) => sec.known_device(&name, &t)?,
            None => None,
        };
        let begun = sec.begin_attempt(&name, device)?;
        if begun.is_err() {
            let target = sec.login_target(&name)?;
            sec.audit_attempt(&ip, "login.locked", &target, "attempt while slowed down");
        }
        Ok(begun.map(|a| (a, device)))
    })
    .await?;
    begun.map_err(too_many)
}

fn bad_login() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "wrong user name or password",
    )
}

fn me_body(user: &User, csrf: &str, ctx: &AppState) -> Value {
    let pending = ctx.security.policy.require_mfa.contains(&user.role) && !user.mfa;
    json!({"user": user, "csrf": csrf, "mfa_enrollment_required": pending})
}

/// The `Set-Cookie` value of a session.
fn cookie(id: &str, max_age: u64) -> String {
    format!("{COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}")
}

/// POST /api/login. The address's turn, then the account's (both counting attempts in progress as
/// failures), then a hashing slot, then the password (and the MFA code).
pub async fn login(
    State(ctx): State<AppState>,
    Extension(ip): Extension<ClientIp>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let ip_text = ip.to_string();
    let sane = req.username.len() <= 64 && req.password.len() <= 1024;
    let Guess {
        turn,
        attempt,
        device,
        slot,
    } = admit(&ctx, &headers, ip, &req.username, sane).await?;
    let sec = ctx.security.clone();
    let (name, password, i) = (req.username.clone(), req.password.clone(), ip_text.clone());
    let checked = blocking(move || {
        let mut slot = slot;
        let user = sec.check_password(&name, &password, &mut slot)?;
        drop(slot);
        match user {
            Some(user) => Ok(Some((user, attempt))),
            None => {
                let slowed = attempt.finish(Outcome::Failure)?;
                let why = "wrong user name or password";
                audit_failure(&sec, &i, "login.failure", &name, why, slowed);
                Ok(None)
            }
        }
    })
    .await?;
    let Some((user, attempt)) = checked else {
        turn.end(true);
        return Err(bad_login());
    };
    let attempt = if user.mfa {
        let Some(code) = req.totp.filter(|c| !c.trim().is_empty()) else {
            settle(attempt, Outcome::NotAGuess).await;
            turn.end(false);
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "mfa_required",
                "enter the code from your authenticator app or a recovery code",
            ));
        };
        let sec = ctx.security.clone();
        let (id, u, i) = (user.id, user.username.clone(), ip_text.clone());
        let passed = blocking(move || match sec.check_mfa(id, &code)? {
            None => {
                let slowed = attempt.finish(Outcome::Failure)?;
                audit_failure(&sec, &i, "login.failure", &u, "wrong MFA code", slowed);
                Ok(None)
            }
            Some(used) => {
                if matches!(used, MfaUsed::RecoveryCode) {
                    sec.audit_or_log(&u, &i, "mfa.recovery_code_used", &u, "");
                }
                Ok(Some(attempt))
            }
        })
        .await?;
        let Some(attempt) = passed else {
            turn.end(true);
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_mfa_code",
                "wrong or already used code",
            ));
        };
        attempt
    } else {
        attempt
    };
    let sec = ctx.security.clone();
    let (uid, i, uname) = (user.id, ip_text.clone(), user.username.clone());
    let (session, device_token) = blocking(move || {
        attempt.finish(Outcome::Success)?;
        let device_token = sec.remember_device(uid, device)?;
        let s = sec.create_session(uid, &i)?;
        sec.audit_or_log(&uname, &i, "login.success", &uname, "");
        Ok((s, device_token))
    })
    .await?;
    turn.end(false);
    let max_age = ctx.security.policy.session_max.as_secs();
    let mut resp = Json(me_body(&user, &session.csrf, &ctx)).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie(&session.id, max_age)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    if let Some(token) = device_token
        && let Ok(v) = HeaderValue::from_str(&device_cookie(&token))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// The `Set-Cookie` value of a known device (sent back to the login routes only).
fn device_cookie(token: &str) -> String {
    format!(
        "{}={token}; Path=/api/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        devices::COOKIE,
        devices::KEEP_DAYS * 86_400
    )
}

/// POST /api/logout.
pub async fn logout(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
) -> ApiResult<Response> {
    if let Via::Session { hash, .. } = &p.via {
        let sec = ctx.security.clone();
        let (hash, name, ip) = (hash.clone(), p.username.clone(), ip.to_string());
        blocking(move || {
            sec.end_session(&hash)?;
            sec.audit_or_log(&name, &ip, "logout", &name, "");
            Ok(())
        })
        .await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie("", 0)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// GET /api/me.
pub async fn me(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Value>> {
    let sec = ctx.security.clone();
    let user = blocking(move || sec.user(p.user_id)).await?;
    let csrf = match &p.via {
        Via::Session { csrf, .. } => csrf.clone(),
        Via::Token { .. } | Via::Display { .. } => String::new(),
    };
    Ok(Json(me_body(&user, &csrf, &ctx)))
}

/// POST /api/me/mfa/enroll body: what replacing an enrolled authenticator needs.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// POST /api/me/mfa/enroll. While MFA is off, the session is enough; once it is on, replacing it needs
/// the password (checked like a login) and a current code (TOTP or a recovery code), so that a stolen
/// session cannot swap the authenticator.
pub async fn mfa_enroll(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    headers: HeaderMap,
    ApiJsonOrEmpty(req): ApiJsonOrEmpty<EnrollRequest>,
) -> ApiResult<Json<crate::auth::mfa::Enrollment>> {
    let sec = ctx.security.clone();
    let id = p.user_id;
    let enrolled = blocking(move || Ok(sec.user(id)?.mfa)).await?;
    if enrolled {
        let code = req.code.filter(|c| !c.trim().is_empty());
        let (Some(password), Some(code)) = (req.password, code) else {
            audit(
                &ctx,
                &p,
                ip,
                "mfa.change_refused",
                "no password or code given",
            )
            .await;
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "reauthentication_required",
                "two-factor authentication is on: replacing it needs your password and a current \
                 code (from your authenticator app, or a recovery code)",
            ));
        };
        check_own_password(
            &ctx,
            &p,
            ip,
            &headers,
            password,
            Some(code),
            "mfa.change_refused",
        )
        .await?;
    }
    let sec = ctx.security.clone();
    let e = blocking(move || {
        let e = sec.enroll_mfa(p.user_id)?;
        sec.audit_or_log(
            &p.username,
            &ip.to_string(),
            "mfa.enroll_started",
            &p.username,
            if enrolled {
                "replacing the enrolled authenticator (password and code checked)"
            } else {
                ""
            },
        );
        Ok(e)
    })
    .await?;
    Ok(Json(e))
}

/// Writes an audit entry by the caller about themselves; a failure is logged.
async fn audit(ctx: &AppState, p: &Principal, ip: ClientIp, action: &'static str, detail: &str) {
    let sec = ctx.security.clone();
    let (u, i, d) = (p.username.clone(), ip.to_string(), detail.to_string());
    let _ = blocking(move || {
        sec.audit_or_log(&u, &i, action, &u, &d);
        Ok(())
    })
    .await;
}

/// Checks the caller's own password like a login (the address's and the account's turn, a hashing slot;
/// a wrong one counts against both) and, when `code` is given, a current MFA code on the same attempt;
/// a refusal is audited as `refused_action`.
async fn check_own_password(
    ctx: &AppState,
    p: &Principal,
    ip: ClientIp,
    headers: &HeaderMap,
    password: String,
    code: Option<String>,
    refused_action: &'static str,
) -> Result<(), ApiError> {
    let ip_text = ip.to_string();
    let sane = password.len() <= 1024;
    let Guess {
        turn,
        attempt,
        slot,
        ..
    } = admit(ctx, headers, ip, &p.username, sane).await?;
    let sec = ctx.security.clone();
    let (name, uid) = (p.username.clone(), p.user_id);
    let refused = blocking(move || {
        let mut slot = slot;
        let user = sec.check_password(&name, &password, &mut slot)?;
        drop(slot);
        let why = if user.is_none_or(|u| u.id != uid) {
            Some("wrong current password")
        } else {
            match &code {
                Some(c) if sec.check_mfa(uid, c)?.is_none() => Some("wrong MFA code"),
                _ => None,
            }
        };
        match why {
            Some(why) => {
                let slowed = attempt.finish(Outcome::Failure)?;
                audit_failure(&sec, &ip_text, refused_action, &name, why, slowed);
                Ok(Some(why))
            }
            None => {
                attempt.finish(Outcome::Success)?;
                Ok(None)
            }
        }
    })
    .await?;
    turn.end(refused.is_some());
    match refused {
        None => Ok(()),
        Some("wrong MFA code") => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_mfa_code",
            "wrong or already used code",
        )),
        Some(_) => Err(bad_login()),
    }
}

/// POST /api/me/mfa/confirm body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    code: String,
}

/// POST /api/me/mfa/confirm: MFA is on with the pending secret; every other session of the user ends
/// (a session opened before the change does not outlive it). Audited as `mfa.enabled`, or
/// `mfa.changed` when it replaced an authenticator.
pub async fn mfa_confirm(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<CodeRequest>,
) -> ApiResult<Json<Value>> {
    let sec = ctx.security.clone();
    let codes = blocking(move || {
        let replaced = sec.user(p.user_id)?.mfa;
        let codes = sec.confirm_mfa(p.user_id, &req.code)?;
        let ended = match &p.via {
            Via::Session { hash, .. } => sec.end_other_sessions(p.user_id, hash)?,
            Via::Token { .. } | Via::Display { .. } => 0,
        };
        let (action, what) = if replaced {
            (
                "mfa.changed",
                "authenticator replaced, recovery codes renewed",
            )
        } else {
            ("mfa.enabled", "authenticator enrolled")
        };
        let detail = match ended {
            0 => format!("{what}; no other session"),
            1 => format!("{what}; 1 other session ended"),
            n => format!("{what}; {n} other sessions ended"),
        };
        sec.audit_or_log(&p.username, &ip.to_string(), action, &p.username, &detail);
        Ok(codes)
    })
    .await?;
    Ok(Json(json!({ "recovery_codes": codes })))
}

/// POST /api/me/password body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    current: String,
    new: String,
}

/// POST /api/me/password: the current password is checked like a login (a wrong one counts against
/// the account and the address), then every session of the user ends, this one included.
pub async fn change_password(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<PasswordRequest>,
) -> ApiResult<Response> {
    check_own_password(
        &ctx,
        &p,
        ip,
        &headers,
        req.current.clone(),
        None,
        "password.change_refused",
    )
    .await?;
    let ip_text = ip.to_string();
    let sec = ctx.security.clone();
    let (u, i) = (p.username.clone(), ip_text);
    let slot = hash_slot(&ctx).await?;
    blocking(move || {
        let _slot = slot;
        sec.update_user(
            p.user_id,
            &crate::auth::users::UserPatch {
                password: Some(req.new),
                ..Default::default()
            },
        )?;
        sec.audit_or_log(&u, &i, "user.update", &u, "own password");
        Ok(())
    })
    .await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie("", 0)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}
