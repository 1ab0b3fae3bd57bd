//! Administration: users, API tokens, and reading the audit log.

use super::blocking;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::auth::users::{NewUser, User, UserPatch};
use crate::context::AppState;
use crate::error::{ApiError, ApiResult, ServerError};
use crate::perms::{ClientIp, Principal};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

/// GET /api/users.
pub async fn users(State(ctx): State<AppState>) -> ApiResult<Json<Vec<User>>> {
    let sec = ctx.security.clone();
    Ok(Json(blocking(move || sec.users()).await?))
}

/// Refuses to let a camera-scoped caller grant or reach cameras outside its own scope (`cameras` is
/// what the user would get, or has: `None` = every camera).
pub(crate) fn within_scope(p: &Principal, cameras: &Option<Vec<String>>) -> Result<(), ApiError> {
    match (&p.cameras, cameras) {
        (None, _) => Ok(()),
        (Some(mine), Some(theirs)) if theirs.iter().all(|c| mine.contains(c)) => Ok(()),
        (Some(mine), _) => Err(ApiError::forbidden(format!(
            "your account is limited to the cameras {}: you can only manage users limited to \
             those cameras",
            mine.join(", ")
        ))),
    }
}

/// Refuses a camera scope naming a camera this server does not have (a typo would leave the user
/// with nothing to see, silently).
fn known_cameras(ctx: &AppState, cameras: &Option<Vec<String>>) -> Result<(), ApiError> {
    let Some(asked) = cameras else {
        return Ok(());
    };
    let known = ctx.camera_names();
    let unknown: Vec<&str> = asked
        .iter()
        .filter(|c| !known.contains(c))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "cameras: no camera called {} (cameras here: {})",
        unknown.join(", "),
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    )))
}

/// POST /api/users. A camera-scoped admin only creates users within its scope.
pub async fn add_user(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(new): ApiJson<NewUser>,
) -> ApiResult<Response> {
    within_scope(&p, &new.cameras)?;
    known_cameras(&ctx, &new.cameras)?;
    let sec = ctx.security.clone();
    let user = blocking(move || {
        let user = sec.add_user(&new)?;
        let detail = format!(
            "role {}, cameras {}, playback {}, export {}",
            user.role.name(),
            user.cameras.as_ref().map_or("all".into(), |c| c.join(",")),
            user.playback,
            user.export
        );
        sec.audit_or_log(
            &p.audit_name(),
            &ip.to_string(),
            "user.create",
            &user.username,
            &detail,
        );
        Ok(user)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

/// A positive id in a path.
pub(crate) fn positive(id: i64) -> Result<i64, ApiError> {
    if id > 0 {
        Ok(id)
    } else {
        Err(ApiError::not_found(format!("no item with id {id}")))
    }
}

/// PATCH /api/users/{id}. Nobody changes their own account here (role, cameras, grants, state,
/// password: another admin, `vigil user` on the server, or `POST /api/me/password` can); a
/// camera-scoped admin only changes users within its scope, and only within it.
pub async fn update_user(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> ApiResult<Json<User>> {
    let id = positive(id)?;
    if id == p.user_id {
        return Err(ApiError::conflict(
            "you cannot change your own role, cameras, grants, state or password here (another \
             admin, or `vigil user` on the server, can; your password: POST /api/me/password)",
        ));
    }
    if let Some(cameras) = &patch.cameras {
        within_scope(&p, cameras)?;
        known_cameras(&ctx, cameras)?;
    }
    let sec = ctx.security.clone();
    let user = blocking(move || {
        let before = sec.user(id)?;
        within_scope(&p, &before.cameras).map_err(|e| ServerError::Forbidden(e.message))?;
        let user = sec.update_user(id, &patch)?;
        let mut changed = Vec::new();
        if let Some(r) = patch.role {
            changed.push(format!("role {}", r.name()));
        }
        if let Some(c) = &patch.cameras {
            changed.push(format!(
                "cameras {}",
                c.as_ref().map_or("all".into(), |c| c.join(","))
            ));
        }
        if let Some(x) = patch.playback {
            changed.push(format!("playback {x}"));
        }
        if let Some(x) = patch.export {
            changed.push(format!("export {x}"));
        }
        if patch.password.is_some() {
            changed.push("password".into());
        }
        if let Some(d) = patch.disabled {
            changed.push(format!("disabled {d}"));
        }
        sec.audit_or_log(
            &p.audit_name(),
            &ip.to_string(),
            "user.update",
            &user.username,
            &changed.join(", "),
        );
        Ok(user)
    })
    .await?;
    Ok(Json(user))
}

/// DELETE /api/users/{id}.
pub async fn delete_user(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let id = positive(id)?;
    if id == p.user_id {
        return Err(ApiError::conflict("you cannot delete yourself"));
    }
    let sec = ctx.security.clone();
    blocking(move || {
        within_scope(&p, &sec.user(id)?.cameras).map_err(|e| ServerError::Forbidden(e.message))?;
        let user = sec.delete_user(id)?;
        sec.audit_or_log(
            &p.audit_name(),
            &ip.to_string(),
            "user.delete",
            &user.username,
            "",
        );
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /api/tokens.
pub async fn tokens(State(ctx): State<AppState>) -> ApiResult<Json<Value>> {
    let sec = ctx.security.clone();
    let list = blocking(move || sec.tokens()).await?;
    Ok(Json(json!(list)))
}

/// POST /api/tokens body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    name: String,
    scopes: Vec<String>,
}

/// POST /api/tokens.
pub async fn add_token(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<TokenRequest>,
) -> ApiResult<Response> {
    let sec = ctx.security.clone();
    let (info, secret) = blocking(move || {
        let (info, secret) = sec.create_token(p.user_id, &req.name, &req.scopes)?;
        sec.audit_or_log(
            &p.audit_name(),
            &ip.to_string(),
            "token.create",
            &format!("token {} ({})", info.id, info.name),
            &info.scopes.join(","),
        );
        Ok((info, secret))
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": info, "secret": secret })),
    )
        .into_response())
}

/// DELETE /api/tokens/{id}.
pub async fn delete_token(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let id = positive(id)?;
    let sec = ctx.security.clone();
    blocking(move || {
        sec.delete_token(id)?;
        sec.audit_or_log(
            &p.audit_name(),
            &ip.to_string(),
            "token.delete",
            &format!("token {id}"),
            "",
        );
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /api/audit query.
#[derive(Deserialize)]
pub struct AuditQuery {
    before: Option<i64>,
    limit: Option<usize>,
}

/// GET /api/audit: a camera-scoped reader sees the activity (live views, playback, exports) of its
/// cameras only; everything else (logins, accounts, configuration) is shown to every reader.
pub async fn audit(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request("limit is 1-1000"));
    }
    let sec = ctx.security.clone();
    let entries =
        blocking(move || sec.audit_entries_in(q.before, limit, p.cameras.as_deref())).await?;
    Ok(Json(json!({ "entries": entries })))
}
