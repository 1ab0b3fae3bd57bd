//! Camera groups with saved layouts, and wall displays (kiosk mode) that show one group live.

use super::admin::{positive, within_scope};
use super::blocking;
use super::extract::{ApiJson, ApiPath};
use crate::context::AppState;
use crate::error::{ApiError, ApiResult, ServerError};
use crate::layouts::{CameraGroup, DISPLAY_COOKIE, GroupRequest};
use crate::perms::{ClientIp, Principal, Via};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

/// A display cookie lasts as long as browsers allow (400 days); revoking the display ends it sooner.
const DISPLAY_COOKIE_DAYS: u64 = 400;

/// The groups as `p` may see them: each group's cameras within `p`'s scope, groups left empty by
/// the scope dropped; a wall display sees only its own group.
fn visible(
    p: &Principal,
    groups: Vec<CameraGroup>,
    display_group: Option<i64>,
) -> Vec<CameraGroup> {
    groups
        .into_iter()
        .filter(|g| display_group.is_none_or(|id| id == g.id))
        .map(|mut g| {
            g.cameras.retain(|c| p.sees(c));
            g
        })
        .filter(|g| !g.cameras.is_empty())
        .collect()
}

/// GET /api/groups.
pub async fn groups(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Vec<CameraGroup>>> {
    let sec = ctx.security.clone();
    let groups = blocking(move || {
        let mine = match &p.via {
            Via::Display { id, .. } => Some(sec.display_group(*id)?.id),
            _ => None,
        };
        Ok(visible(&p, sec.groups()?, mine))
    })
    .await?;
    Ok(Json(groups))
}

/// Checks a group request: real cameras, each once, within the caller's own scope.
fn checked(ctx: &AppState, p: &Principal, req: &GroupRequest) -> Result<(), ApiError> {
    within_scope(p, &Some(req.cameras.clone()))?;
    req.check(&ctx.camera_names()).map_err(ApiError::from)
}

fn describe(g: &CameraGroup) -> String {
    format!(
        "cameras {}, {}",
        g.cameras.join(","),
        match g.columns {
            0 => "fit to screen".to_string(),
            n => format!("{n} per row"),
        }
    )
}

/// POST /api/groups.
pub async fn add_group(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<GroupRequest>,
) -> ApiResult<Response> {
    checked(&ctx, &p, &req)?;
    let sec = ctx.security.clone();
    let group = blocking(move || {
        let g = sec.add_group(&req)?;
        sec.audit_or_log(
            &p.audit_name(),
            &ip.to_string(),
            "group.create",
            &format!("group {} ({})", g.id, g.name),
            &describe(&g),
        );
        Ok(g)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(group)).into_response())
}

/// PUT /api/groups/{id}: a camera-scoped admin only changes groups wholly within its scope.
pub async fn update_group(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<GroupRequest>,
) -> ApiResult<Json<CameraGroup>> {
    let id = positive(id)?;
    checked(&ctx, &p, &req)?;
    let sec = ctx.security.clone();
    let group = blocking(move || {
        let before = sec.group(id)?;
        within_scope(&p, &Some(before.cameras)).map_err(|e| ServerError::Forbidden(e.message))?;
        let g = sec.update_group(id, &req)?;
        sec.audit_or_log(
            &p.audit_name(),
            &ip.to_string(),
            "group.update",
            &format!("group {} ({})", g.id, g.name),
            &describe(&g),
        );
        Ok(g)
    })
    .await?;
    Ok(Json(group))
}

/// DELETE /api/groups/{id}: the group's wall displays go with it.
pub async fn delete_group(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let id = positive(id)?;
    let sec = ctx.security.clone();
    blocking(move || {
        let before = sec.group(id)?;
        within_scope(&p, &Some(before.cameras.clone()))
            .map_err(|e| ServerError::Forbidden(e.message))?;
        sec.delete_group(id)?;
        sec.audit_or_log(
            &p.audit_name(),
            &ip.to_string(),
            "group.delete",
            &format!("group {id} ({})", before.name),
            "",
        );
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /api/displays.
pub async fn displays(State(ctx): State<AppState>) -> ApiResult<Json<Value>> {
    let sec = ctx.security.clone();
    let list = blocking(move || sec.displays()).await?;
    Ok(Json(json!(list)))
}

/// POST /api/displays body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayRequest {
    name: String,
    group_id: i64,
}

/// POST /api/displays: the secret is in the answer once (`secret`), with the address a screen opens
/// (`path`: `/#/kiosk/SECRET`).
pub async fn add_display(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<DisplayRequest>,
) -> ApiResult<Response> {
    let sec = ctx.security.clone();
    let (display, secret) = blocking(move || {
        let group = sec.group(req.group_id)?;
        within_scope(&p, &Some(group.cameras.clone()))
            .map_err(|e| ServerError::Forbidden(e.message))?;
        let (d, secret) = sec.create_display(p.user_id, &req.name, req.group_id)?;
        sec.audit_or_log(
            &p.audit_name(),
            &ip.to_string(),
            "display.create",
            &format!("display {} ({})", d.id, d.name),
            &format!("group {} ({})", group.id, group.name),
        );
        Ok((d, secret))
    })
    .await?;
    let path = format!("/#/kiosk/{secret}");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "display": display, "secret": secret, "path": path })),
    )
        .into_response())
}

/// DELETE /api/displays/{id}: the screen is logged out (its live video within seconds).
pub async fn delete_display(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let id = positive(id)?;
    let sec = ctx.security.clone();
    blocking(move || {
        sec.delete_display(id)?;
        sec.audit_or_log(
            &p.audit_name(),
            &ip.to_string(),
            "display.delete",
            &format!("display {id}"),
            "",
        );
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST /api/display/login body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayLogin {
    secret: String,
}

fn display_cookie(secret: &str, max_age: u64) -> String {
    format!(
        "{DISPLAY_COOKIE}={secret}; Path=/api/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}"
    )
}

/// POST /api/display/login: a wall display's secret becomes its HttpOnly cookie.
pub async fn display_login(
    State(ctx): State<AppState>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<DisplayLogin>,
) -> ApiResult<Response> {
    let sec = ctx.security.clone();
    let secret = req.secret.clone();
    let principal = blocking(move || {
        let p = sec.display(&secret)?;
        match &p {
            Some(p) => sec.audit_or_log(&p.audit_name(), &ip.to_string(), "display.login", "", ""),
            None => tracing::warn!(%ip, "wall display login with an unknown or revoked secret"),
        }
        Ok(p)
    })
    .await?;
    if principal.is_none() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "this display link is unknown or was revoked: ask an admin for a new one",
        ));
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let value = HeaderValue::from_str(&display_cookie(&req.secret, DISPLAY_COOKIE_DAYS * 86_400))
        .map_err(|_| ApiError::bad_request("secret: not a display secret"))?;
    resp.headers_mut().insert(header::SET_COOKIE, value);
    Ok(resp)
}

/// POST /api/display/logout: forgets the display cookie in this browser.
pub async fn display_logout() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&display_cookie("", 0)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// GET /api/display: what this wall display shows (its name and group, within its creator's rights).
pub async fn display(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Value>> {
    let Via::Display { id, name } = p.via.clone() else {
        return Err(ApiError::not_found(
            "this browser is not logged in as a wall display",
        ));
    };
    let sec = ctx.security.clone();
    let group = blocking(move || sec.display_group(id)).await?;
    let group = visible(&p, vec![group], None).into_iter().next();
    Ok(Json(json!({ "id": id, "name": name, "group": group })))
}
