//! Erasure requests (`/api/erasures*`): a person's footage over a time range deleted on request, with the
//! camera's events and snapshots in the range, refused while an evidence hold covers it; or a person's
//! biometric data (their face templates and enrolment). The auditor (the `privacy` permission, never an
//! API token) makes them; each is audited (`footage.erase`, `face.erase`) with its whole report, which is
//! what `GET /api/erasures` lists and the UI prints. `vigil erase` and `vigil face erase` do the same from
//! the command line and write the same audit entries.

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

/// The audit action of an erasure of footage.
pub const ACTION: &str = "footage.erase";
/// The audit action of an erasure of a person's biometric data.
pub const BIOMETRIC: &str = "face.erase";

/// POST /api/erasures body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewErasure {
    camera: String,
    start: i64,
    end: i64,
    reason: String,
}

/// POST /api/erasures/person body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonErasure {
    name: String,
    reason: String,
}

/// The reason of a request: 1 to 200 characters, no control characters.
fn reason_of(v: &str) -> Result<String, ApiError> {
    let reason = v.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 200 || reason.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "reason: 1 to 200 characters (the request's reference), no control characters",
        ));
    }
    Ok(reason)
}

/// An erasure's report as the API gives it: the audit entry (id, when, who), what was erased (`kind`:
/// `footage` of a camera, or a person's `biometric` data) and its detail.
fn shown(e: &AuditEntry) -> Value {
    if e.action == BIOMETRIC {
        let detail: Value = serde_json::from_str(&e.detail).unwrap_or_else(|_| json!({}));
        return json!({
            "id": e.id,
            "at": e.at,
            "by": e.user,
            "kind": "biometric",
            "person": e.target,
            "report": detail,
        });
    }
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
        "kind": "footage",
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
    let reason = reason_of(&req.reason)?;
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

/// POST /api/erasures/person: erases a person's biometric data (face templates and enrolment) now and
/// answers the report.
pub async fn erase_person(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<PersonErasure>,
) -> ApiResult<Json<Value>> {
    let reason = reason_of(&req.reason)?;
    let name = req.name.trim().to_string();
    if name.is_empty() {
        return Err(ApiError::bad_request("name: whose biometric data to erase"));
    }
    let book = ctx
        .identity
        .clone()
        .ok_or_else(|| ApiError::not_found("this server keeps no biometric data"))?;
    let sec = ctx.security.clone();
    let (who, ip) = (p.audit_name(), ip.to_string());
    let entry = blocking(move || {
        let gone = book
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .erase(&name)
            .map_err(|e| match e {
                vigil_identity::IdentityError::Unknown(_) => ServerError::NotFound(e.to_string()),
                other => ServerError::Identity(other),
            })?;
        let detail = json!({"list": gone.list, "templates": gone.templates, "reason": reason});
        let id = sec.audit(&who, &ip, BIOMETRIC, &gone.name, &detail.to_string())?;
        sec.audit_entry(id)?
            .ok_or_else(|| ServerError::NotFound(format!("audit entry {id} vanished")))
    })
    .await?;
    Ok(Json(shown(&entry)))
}

/// GET /api/erasures: every erasure (footage and biometric), newest first (at most 1000).
pub async fn list(State(ctx): State<AppState>) -> ApiResult<Json<Value>> {
    let sec = ctx.security.clone();
    let mut entries = blocking(move || {
        let mut all = sec.audit_entries_of(ACTION, 1000)?;
        all.extend(sec.audit_entries_of(BIOMETRIC, 1000)?);
        Ok(all)
    })
    .await?;
    entries.sort_by_key(|e| std::cmp::Reverse(e.id));
    entries.truncate(1000);
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
        .filter(|e| e.action == ACTION || e.action == BIOMETRIC)
        .ok_or_else(|| ApiError::not_found(format!("no erasure {id}")))?;
    Ok(Json(shown(&entry)))
}
