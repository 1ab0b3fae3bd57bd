//! Erasure requests (`/api/erasures*`): a person's footage over a time range deleted on request, with the
//! camera's events and snapshots in the range, refused while an evidence hold covers it; or a person's
//! biometric data (their face templates and enrolment). The auditor (the `privacy` permission, never an
//! API token) makes them (a person's erasure also deletes their matches: the `face_recognized` events naming
//! them); each is audited (`footage.erase`, `face.erase`) with its whole report, which is
//! what `GET /api/erasures` lists and the UI prints. `vigil erase` and `vigil face erase` do the same from
//! the command line and write the same audit entries.
//!
//! Erasure by blurring (`/api/erasures/blur*`) keeps the footage but blurs every face and plate in it, in
//! the recording itself (`vigil_store::Store::blur`, the server's [`vigil_store::SegmentRewriter`]): a
//! background job (it re-encodes whole segments), one at a time, while recording goes on; its report is
//! the same `footage.erase` audit entry, with `"mode": "blur"`, as `vigil erase --blur` writes.

use super::blocking;
use super::extract::{ApiJson, ApiPath};
use crate::audit::AuditEntry;
use crate::context::AppState;
use crate::error::{ApiError, ApiResult, ServerError};
use crate::jobs::{Job, Jobs};
use crate::perms::{ClientIp, Principal};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, extract::State};
use serde::{Deserialize, Serialize};
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

/// The reason of a footage erasure, once its range and camera are checked.
fn checked(ctx: &AppState, p: &Principal, req: &NewErasure) -> Result<String, ApiError> {
    if req.start < 0 || req.end <= req.start {
        return Err(ApiError::bad_request("start must be before end (unix ms)"));
    }
    let reason = reason_of(&req.reason)?;
    if !p.sees(&req.camera) || !ctx.camera_names().contains(&req.camera) {
        return Err(ApiError::not_found(format!("no camera {:?}", req.camera)));
    }
    Ok(reason)
}

/// POST /api/erasures: erases now and answers the report.
pub async fn create(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<NewErasure>,
) -> ApiResult<Json<Value>> {
    let reason = checked(&ctx, &p, &req)?;
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
    let store = ctx.store.clone();
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
        // Their matches (face_recognized events naming them) go too.
        let (matches, snapshots) = match &store {
            Some(store) => store.erase_face_matches(&gone.name)?,
            None => (0, 0),
        };
        let detail = json!({"list": gone.list, "templates": gone.templates, "matches": matches,
                            "snapshots": snapshots, "reason": reason});
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

/// What an erasure by blurring covers.
#[derive(Debug, Clone, Serialize)]
pub struct BlurScope {
    /// Camera.
    pub camera: String,
    /// Start of the range asked for (unix ms).
    pub start: i64,
    /// End of the range (unix ms).
    pub end: i64,
    /// The request's reference.
    pub reason: String,
}

/// How far an erasure by blurring is.
#[derive(Debug, Clone, Serialize)]
pub struct BlurSteps {
    /// `starting`, `verifying` (the camera's chains are checked first) or `blurring`.
    pub phase: &'static str,
    /// Bytes verified, of `verify_total`.
    pub verified: u64,
    /// Bytes to verify.
    pub verify_total: u64,
    /// The segment being re-encoded (from 1), of `segments`.
    pub segment: usize,
    /// Segments in the range.
    pub segments: usize,
    /// How much of the whole re-encoding is done (0..1).
    pub fraction: f64,
}

impl Default for BlurSteps {
    fn default() -> Self {
        Self {
            phase: "starting",
            verified: 0,
            verify_total: 0,
            segment: 0,
            segments: 0,
            fraction: 0.0,
        }
    }
}

/// One erasure by blurring: its report, when done, is the erasure as `GET /api/erasures/{id}` shows it.
pub type BlurJob = Job<BlurScope, BlurSteps, Value>;

/// The erasures by blurring of this server.
pub type BlurJobs = Jobs<BlurScope, BlurSteps, Value>;

/// POST /api/erasures/blur: starts an erasure by blurring (202 with its job id). Refused before
/// anything changes: 409 `held` under an evidence hold, 409 `still_recording` (with `Retry-After`) when
/// the range reaches into the segment being recorded, 409 `busy` while another blurring runs, 503 when
/// the face and plate models are missing.
pub async fn blur(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<NewErasure>,
) -> ApiResult<Response> {
    let reason = checked(&ctx, &p, &req)?;
    let store = super::store_of(&ctx)?;
    let rewriter = ctx.rewriter.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "this server cannot blur recordings (no face and plate detector)",
        )
    })?;
    let (from, to) = (
        Time90k(req.start.saturating_mul(90)),
        Time90k(req.end.saturating_mul(90)),
    );
    let (camera, st, rw) = (req.camera.clone(), store.clone(), rewriter.clone());
    blocking(move || {
        rw.ready().map_err(ServerError::Unavailable)?;
        st.blur_precheck(&camera, from, to)?;
        Ok(())
    })
    .await?;
    let who = p.audit_name();
    let scope = BlurScope {
        camera: req.camera.clone(),
        start: req.start,
        end: req.end,
        reason: reason.clone(),
    };
    let id = ctx.blurs.start(&who, scope).map_err(|running| {
        ApiError::new(
            StatusCode::CONFLICT,
            "busy",
            format!("erasure by blurring {running} is still running: wait for it"),
        )
    })?;
    let (jobs, sec, ip) = (ctx.blurs.clone(), ctx.security.clone(), ip.to_string());
    tokio::task::spawn_blocking(move || {
        let camera = req.camera;
        let mut steps = BlurSteps {
            phase: "verifying",
            ..Default::default()
        };
        let result = store.blur(&camera, from, to, &reason, &*rewriter, &mut |p| {
            match *p {
                vigil_store::BlurProgress::Verifying { hashed, total } => {
                    steps.verified = hashed;
                    steps.verify_total = total;
                }
                vigil_store::BlurProgress::Segment {
                    index,
                    total,
                    fraction,
                    ..
                } => {
                    steps.phase = "blurring";
                    steps.segment = index;
                    steps.segments = total;
                    steps.fraction = ((index - 1) as f64 + fraction) / total.max(1) as f64;
                }
            }
            jobs.progress(id, steps.clone());
        });
        let outcome = result.map_err(|e| e.to_string()).and_then(|report| {
            let detail = report.audit_detail().to_string();
            let entry = sec
                .audit(&who, &ip, ACTION, &camera, &detail)
                .and_then(|n| sec.audit_entry(n))
                .map_err(|e| format!("blurred, but the audit entry could not be written: {e}"))?;
            entry
                .map(|e| shown(&e))
                .ok_or_else(|| "blurred, but its audit entry vanished".to_string())
        });
        if let Err(e) = &outcome {
            sec.audit_or_log(&who, &ip, "footage.blur.failed", &camera, e);
        }
        jobs.finish(id, outcome);
    });
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id }))).into_response())
}

/// GET /api/erasures/blur: the last erasures by blurring, newest first, with progress (those of the
/// caller's cameras).
pub async fn blur_list(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Value>> {
    let jobs: Vec<BlurJob> = ctx
        .blurs
        .list()
        .into_iter()
        .filter(|j| p.sees(&j.scope.camera))
        .collect();
    Ok(Json(json!({ "jobs": jobs })))
}

/// GET /api/erasures/blur/{id}.
pub async fn blur_show(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<u64>,
) -> ApiResult<Json<BlurJob>> {
    ctx.blurs
        .get(id)
        .filter(|j| p.sees(&j.scope.camera))
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no erasure by blurring {id}")))
}
