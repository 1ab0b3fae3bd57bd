//! Setup, login, logout, the current user and MFA enrolment.

use super::blocking;
use super::extract::{ApiJson, ApiJsonOrEmpty};
use crate::auth::limit::Verdict;
use crate::auth::mfa::MfaUsed;
use crate::auth::sessions::COOKIE;
use crate::auth::users::{NewUser, User};
use crate::context::AppState;
use crate::error::{ApiError, ApiResult};
use crate::perms::{ClientIp, Principal, Role, Via};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

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
    if let Verdict::IpBlocked(wait) = ctx.security.limiter.check_ip(ip.0) {
        return Err(too_many(wait.as_secs()));
    }
    let sec = ctx.security.clone();
    let user = blocking(move || {
        if !sec.setup_needed()? {
            return Err(crate::error::ServerError::NotFound(
                "setup is done: log in instead".into(),
            ));
        }
        // Check the password first so that a weak password does not burn the token.
        crate::auth::password::check_strength(&req.username, &req.password)?;
        crate::auth::users::check_username(&req.username)?;
        if !sec.take_setup_token(&req.token) {
            sec.limiter.fail(ip.0, None);
            sec.audit_or_log(
                "-",
                &ip.to_string(),
                "setup.refused",
                &req.username,
                "wrong setup token",
            );
            return Err(crate::error::ServerError::Invalid(
                "wrong setup token".into(),
            ));
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
    })?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
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

fn too_many(secs: u64) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!("too many failed logins; try again in {} s", secs.max(1)),
    );
    e.retry_after = Some(secs.max(1));
    e
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

/// POST /api/login.
pub async fn login(
    State(ctx): State<AppState>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let limiter = &ctx.security.limiter;
    match limiter.check_ip(ip.0) {
        Verdict::IpBlocked(wait) => return Err(too_many(wait.as_secs())),
        Verdict::Proceed(delay) if !delay.is_zero() => tokio::time::sleep(delay).await,
        Verdict::Proceed(_) => {}
    }
    let ip_text = ip.to_string();
    if req.username.len() > 64 || req.password.len() > 1024 {
        limiter.fail(ip.0, None);
        return Err(bad_login());
    }
    if let Some(left) = limiter.locked(&req.username) {
        limiter.fail(ip.0, Some(&req.username));
        let sec = ctx.security.clone();
        let (u, i) = (req.username.clone(), ip_text.clone());
        let _ = blocking(move || {
            let u = sec.login_target(&u)?;
            sec.audit_or_log("-", &i, "login.locked", &u, "attempt while locked");
            Ok(())
        })
        .await;
        return Err(too_many(left.as_secs()));
    }
    let sec = ctx.security.clone();
    let (name, password) = (req.username.clone(), req.password.clone());
    let user = blocking(move || sec.check_password(&name, &password)).await?;
    let Some(user) = user else {
        let locked = limiter.fail(ip.0, Some(&req.username));
        let sec = ctx.security.clone();
        let (u, i) = (req.username.clone(), ip_text.clone());
        blocking(move || {
            let u = sec.login_target(&u)?;
            sec.audit_or_log("-", &i, "login.failure", &u, "wrong user name or password");
            if let Some(l) = locked {
                sec.audit_or_log(
                    "-",
                    &i,
                    "login.lockout",
                    &u,
                    &format!("locked for {} s", l.as_secs()),
                );
            }
            Ok(())
        })
        .await?;
        return Err(bad_login());
    };
    if user.mfa {
        let Some(code) = req.totp.filter(|c| !c.trim().is_empty()) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "mfa_required",
                "enter the code from your authenticator app or a recovery code",
            ));
        };
        let sec = ctx.security.clone();
        let id = user.id;
        let used = blocking(move || sec.check_mfa(id, &code)).await?;
        let sec = ctx.security.clone();
        let (u, i) = (user.username.clone(), ip_text.clone());
        match used {
            None => {
                let locked = limiter.fail(ip.0, Some(&req.username));
                blocking(move || {
                    sec.audit_or_log("-", &i, "login.failure", &u, "wrong MFA code");
                    if let Some(l) = locked {
                        sec.audit_or_log(
                            "-",
                            &i,
                            "login.lockout",
                            &u,
                            &format!("locked for {} s", l.as_secs()),
                        );
                    }
                    Ok(())
                })
                .await?;
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_mfa_code",
                    "wrong or already used code",
                ));
            }
            Some(MfaUsed::RecoveryCode) => {
                blocking(move || {
                    sec.audit_or_log(&u, &i, "mfa.recovery_code_used", &u, "");
                    Ok(())
                })
                .await?;
            }
            Some(MfaUsed::Totp) => {}
        }
    }
    limiter.succeed(&req.username);
    let sec = ctx.security.clone();
    let (uid, i, uname) = (user.id, ip_text.clone(), user.username.clone());
    let session = blocking(move || {
        let s = sec.create_session(uid, &i)?;
        sec.audit_or_log(&uname, &i, "login.success", &uname, "");
        Ok(s)
    })
    .await?;
    let max_age = ctx.security.policy.session_max.as_secs();
    let mut resp = Json(me_body(&user, &session.csrf, &ctx)).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie(&session.id, max_age)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
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
        Via::Token { .. } => String::new(),
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
        check_own_password(&ctx, &p, ip, password, "mfa.change_refused").await?;
        let sec = ctx.security.clone();
        if blocking(move || sec.check_mfa(id, &code)).await?.is_none() {
            ctx.security.limiter.fail(ip.0, Some(&p.username));
            audit(&ctx, &p, ip, "mfa.change_refused", "wrong MFA code").await;
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_mfa_code",
                "wrong or already used code",
            ));
        }
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

/// Checks the caller's own password like a login: refused while the account is locked; a wrong one
/// counts against the account and the address and is audited as `refused_action`.
async fn check_own_password(
    ctx: &AppState,
    p: &Principal,
    ip: ClientIp,
    password: String,
    refused_action: &'static str,
) -> Result<(), ApiError> {
    let limiter = &ctx.security.limiter;
    if let Some(left) = limiter.locked(&p.username) {
        return Err(too_many(left.as_secs()));
    }
    if password.len() > 1024 {
        return Err(bad_login());
    }
    let sec = ctx.security.clone();
    let name = p.username.clone();
    let ok = blocking(move || sec.check_password(&name, &password)).await?;
    if ok.is_none_or(|u| u.id != p.user_id) {
        limiter.fail(ip.0, Some(&p.username));
        audit(ctx, p, ip, refused_action, "wrong current password").await;
        return Err(bad_login());
    }
    Ok(())
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
            Via::Token { .. } => 0,
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
    ApiJson(req): ApiJson<PasswordRequest>,
) -> ApiResult<Response> {
    check_own_password(&ctx, &p, ip, req.current.clone(), "password.change_refused").await?;
    let sec = ctx.security.clone();
    let (u, i) = (p.username.clone(), ip.to_string());
    blocking(move || {
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
