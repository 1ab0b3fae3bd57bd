//! Evidence holds (`/api/holds*`): footage kept from retention and erasure until released, the same
//! holds `vigil hold` manages. Anyone who may export lists, adds and releases them within their camera
//! scope; each change is audited (`hold.add`, `hold.release`). The auditor's `hold_days` maximum releases
//! old holds on its own.

use super::blocking;
use super::extract::{ApiJson, ApiPath};
use crate::context::AppState;
use crate::error::{ApiError, ApiResult, ServerError};
use crate::perms::{ClientIp, Principal};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, extract::State};
use serde::Deserialize;
use serde_json::{Value, json};
use vigil_core::Time90k;

/// POST /api/holds body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewHold {
    camera: String,
    start: i64,
    end: i64,
    note: String,
}

fn shown(m: &vigil_store::Mark) -> Value {
    json!({
        "id": m.id,
        "camera": m.camera,
        "start": m.start.0 / 90,
        "end": m.end.0 / 90,
        "note": m.note,
    })
}

/// GET /api/holds: the holds of the caller's cameras (a hold on every camera is shown to everyone).
pub async fn list(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Value>> {
    let store = super::store_of(&ctx)?;
    let holds = blocking(move || Ok(store.holds()?)).await?;
    let shown: Vec<Value> = holds
        .iter()
        .filter(|m| m.camera.as_deref().is_none_or(|c| p.sees(c)))
        .map(shown)
        .collect();
    Ok(Json(json!({ "holds": shown })))
}

/// POST /api/holds.
pub async fn add(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<NewHold>,
) -> ApiResult<Response> {
    if req.start < 0 || req.end <= req.start {
        return Err(ApiError::bad_request("start must be before end (unix ms)"));
    }
    let note = req.note.trim().to_string();
    if note.is_empty() || note.chars().count() > 200 || note.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "note: 1 to 200 characters (a case or reference), no control characters",
        ));
    }
    if !p.sees(&req.camera) || !ctx.camera_names().contains(&req.camera) {
        return Err(ApiError::not_found(format!("no camera {:?}", req.camera)));
    }
    let store = super::store_of(&ctx)?;
    let sec = ctx.security.clone();
    let (who, ip) = (p.audit_name(), ip.to_string());
    let id = blocking(move || {
        let range = Time90k(req.start.saturating_mul(90))..Time90k(req.end.saturating_mul(90));
        let id = store.add_hold(Some(&req.camera), range, &note)?;
        let detail = format!(
            "hold {id}: {}, {note}",
            crate::audit::span(req.start, req.end)
        );
        sec.audit(&who, &ip, "hold.add", &req.camera, &detail)?;
        Ok(id)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

/// POST /api/holds/{id}/release.
pub async fn release(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Response> {
    let store = super::store_of(&ctx)?;
    let sec = ctx.security.clone();
    let (who, ip) = (p.audit_name(), ip.to_string());
    blocking(move || {
        let hold = store
            .holds()?
            .into_iter()
            .find(|m| m.id == id)
            .filter(|m| m.camera.as_deref().is_none_or(|c| p.sees(c)))
            .ok_or_else(|| ServerError::NotFound(format!("no hold {id}")))?;
        store.remove_mark(id)?;
        let target = hold.camera.clone().unwrap_or_else(|| "*".into());
        let detail = format!(
            "hold {id}: {}, {}",
            crate::audit::span(hold.start.0 / 90, hold.end.0 / 90),
            hold.note
        );
        sec.audit(&who, &ip, "hold.release", &target, &detail)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
