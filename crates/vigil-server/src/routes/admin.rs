//! Administration: users, API tokens, and reading the audit log.

use super::blocking;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::auth::users::{NewUser, User, UserPatch};
use crate::context::AppState;
use crate::error::{ApiError, ApiResult};
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

/// POST /api/users.
pub async fn add_user(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(new): ApiJson<NewUser>,
) -> ApiResult<Response> {
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
fn positive(id: i64) -> Result<i64, ApiError> {
    if id > 0 {
        Ok(id)
    } else {
        Err(ApiError::not_found(format!("no item with id {id}")))
    }
}

/// PATCH /api/users/{id}.
pub async fn update_user(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> ApiResult<Json<User>> {
    let id = positive(id)?;
    if id == p.user_id
        && (patch.role.is_some() || patch.disabled.is_some() || patch.password.is_some())
    {
        return Err(ApiError::conflict(
            "you cannot change your own role, state or password here (another admin, or \
             `vigil user passwd` on the server, can)",
        ));
    }
    let sec = ctx.security.clone();
    let user = blocking(move || {
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

/// GET /api/audit.
pub async fn audit(
    State(ctx): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request("limit is 1-1000"));
    }
    let sec = ctx.security.clone();
    let entries = blocking(move || sec.audit_entries(q.before, limit)).await?;
    Ok(Json(json!({ "entries": entries })))
}
