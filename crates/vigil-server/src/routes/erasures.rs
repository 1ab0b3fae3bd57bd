//! Erasure requests (`/api/erasures*`): a person's footage over a time range deleted on request, with the
//! camera's events and snapshots in the range, refused while an evidence hold covers it. The auditor
//! (the `privacy` permission, never an API token) makes them; each is audited as `footage.erase` with its
//! whole report, which is what `GET /api/erasures` lists and the UI prints. `vigil erase` does the same
//! from the command line and writes the same audit entry.

use super::blocking;
use super::extract::{ApiJson, ApiPath};
use crate::audit::AuditEntry;
use crate::context::AppState;
use crate::error::{ApiError, ApiResult, ServerError};
use crate::perms::{ClientIp, Principal};
use axum::{Extension, Json, extract::State};
use serde::Deserialize;
use serde_json::{Value, json};
use vigil_core::Time90k;

/// The audit action of an erasure.
pub const ACTION: &str = "footage.erase";

/// POST /api/erasures body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewErasure {
    camera: String,
    start: i64,
    end: i64,
    reason: String,
}

/// An erasure's report as the API gives it: the audit entry (id, when, who) and its detail.
fn shown(e: &AuditEntry) -> Value {
    let mut detail: Value = serde_json::from_str(&e.detail).unwrap_or_else(|_| json!({}));
    // Entries written before the report listed its segments carry their count only.
    if let Some(n) = detail.get("segments").and_then(Value::as_u64) {
        detail["segment_count"] = json!(n);
        detail["segments"] = json!([]);
    }
    json!({
        "id": e.id,
        "at": e.at,
        "by": e.user,
        "camera": e.target,
        "report": detail,
    })
}

/// POST /api/erasures: erases now and answers the report.
pub async fn create(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<NewErasure>,
) -> ApiResult<Json<Value>> {
    if req.start < 0 || req.end <= req.start {
        return Err(ApiError::bad_request("start must be before end (unix ms)"));
    }
    let reason = req.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 200 || reason.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "reason: 1 to 200 characters (the request's reference), no control characters",
        ));
    }
    if !p.sees(&req.camera) || !ctx.camera_names().contains(&req.camera) {
        return Err(ApiError::not_found(format!("no camera {:?}", req.camera)));
    }
    let store = super::store_of(&ctx)?;
    let sec = ctx.security.clone();
    let (who, ip) = (p.audit_name(), ip.to_string());
    let entry = blocking(move || {
        let (from, to) = (
            Time90k(req.start.saturating_mul(90)),
            Time90k(req.end.saturating_mul(90)),
        );
        let report = store.erase(&req.camera, from, to, &reason)?;
        let detail = report.audit_detail().to_string();
        let id = sec.audit(&who, &ip, ACTION, &req.camera, &detail)?;
        sec.audit_entry(id)?
            .ok_or_else(|| ServerError::NotFound(format!("audit entry {id} vanished")))
    })
    .await?;
    Ok(Json(shown(&entry)))
}

/// GET /api/erasures: every erasure, newest first (at most 1000).
pub async fn list(State(ctx): State<AppState>) -> ApiResult<Json<Value>> {
    let sec = ctx.security.clone();
    let entries = blocking(move || sec.audit_entries_of(ACTION, 1000)).await?;
    Ok(Json(
        json!({ "erasures": entries.iter().map(shown).collect::<Vec<_>>() }),
    ))
}

/// GET /api/erasures/{id}: one erasure's report (`id` is its audit entry).
pub async fn show(
    State(ctx): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    let sec = ctx.security.clone();
    let entry = blocking(move || sec.audit_entry(id))
        .await?
        .filter(|e| e.action == ACTION)
        .ok_or_else(|| ApiError::not_found(format!("no erasure {id}")))?;
    Ok(Json(shown(&entry)))
}
