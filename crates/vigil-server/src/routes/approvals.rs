//! Dual authorization (`/api/approvals*`): request access to a sensitive camera's recordings, list
//! requests, approve or deny another user's. The playback and export routes call [`require`].

use super::blocking;
use super::extract::{ApiJson, ApiPath};
use crate::approvals::{Approval, ApprovalAction};
use crate::context::AppState;
use crate::error::{ApiError, ApiResult};
use crate::perms::{ClientIp, Permission, Principal};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, extract::State};
use serde::Deserialize;
use serde_json::{Value, json};

/// POST /api/approvals body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    camera: String,
    start: i64,
    end: i64,
    action: String,
    reason: String,
}

/// Refuses (403 `approval_required`) a playback or export of a sensitive camera's recordings that no
/// valid approval of the caller covers.
pub(crate) async fn require(
    ctx: &AppState,
    p: &Principal,
    camera: &str,
    range: (i64, i64),
    action: ApprovalAction,
) -> Result<(), ApiError> {
    if !ctx.sensitive.contains(camera) {
        return Ok(());
    }
    let (sec, user, cam) = (ctx.security.clone(), p.user_id, camera.to_string());
    let ok = blocking(move || sec.approved(user, &cam, range, action)).await?;
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "approval_required",
            format!(
                "camera {camera} is sensitive: its recordings need an approved request \
                 (POST /api/approvals) covering this range for {}",
                action.name()
            ),
        ))
    }
}

/// POST /api/approvals.
pub async fn request(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<ApprovalRequest>,
) -> ApiResult<Response> {
    let action = ApprovalAction::parse(&req.action)
        .ok_or_else(|| ApiError::bad_request("action: playback or export"))?;
    let needed = match action {
        ApprovalAction::Playback => Permission::Playback,
        ApprovalAction::Export => Permission::Export,
    };
    if !p.can(needed) {
        return Err(ApiError::forbidden(format!(
            "asking for {} needs the {} permission",
            action.name(),
            needed.name()
        )));
    }
    if req.start < 0 || req.end <= req.start {
        return Err(ApiError::bad_request("start must be before end (unix ms)"));
    }
    let reason = req.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 200 || reason.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "reason: 1 to 200 characters, no control characters",
        ));
    }
    if !p.sees(&req.camera) || !ctx.camera_names().contains(&req.camera) {
        return Err(ApiError::not_found(format!("no camera {:?}", req.camera)));
    }
    if !ctx.sensitive.contains(&req.camera) {
        return Err(ApiError::bad_request(format!(
            "camera {} is not sensitive: no approval is needed",
            req.camera
        )));
    }
    let sec = ctx.security.clone();
    let (who, ip) = (p.audit_name(), ip.to_string());
    let approval = blocking(move || {
        let id = sec.request_approval(
            (p.user_id, &who),
            &req.camera,
            (req.start, req.end),
            action,
            &reason,
        )?;
        let detail = format!(
            "request {id}: {} {}, {reason}",
            action.name(),
            crate::audit::span(req.start, req.end)
        );
        sec.audit(&who, &ip, "approval.request", &req.camera, &detail)?;
        sec.approval(id)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(approval)).into_response())
}

/// GET /api/approvals: an approver sees the requests of the cameras in its scope, anyone else its own.
pub async fn list(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Value>> {
    let sec = ctx.security.clone();
    let all = blocking(move || sec.approvals()).await?;
    let approver = p.can(Permission::Approve);
    let shown: Vec<Approval> = all
        .into_iter()
        .filter(|a| p.sees(&a.camera) && (approver || a.user_id == p.user_id))
        .collect();
    Ok(Json(json!({ "approvals": shown })))
}

async fn decide(
    ctx: AppState,
    p: Principal,
    ip: ClientIp,
    id: i64,
    approve: bool,
) -> ApiResult<Json<Approval>> {
    let sec = ctx.security.clone();
    let current = blocking(move || sec.approval(id)).await?;
    let current = current
        .filter(|a| p.sees(&a.camera))
        .ok_or_else(|| ApiError::not_found(format!("no approval request {id}")))?;
    let sec = ctx.security.clone();
    let (who, ip) = (p.audit_name(), ip.to_string());
    let decided = blocking(move || {
        let a = sec.decide_approval(id, (p.user_id, &who), approve)?;
        let detail = format!(
            "request {id} by {}: {} {}",
            a.requested_by,
            a.action,
            crate::audit::span(a.start, a.end)
        );
        let action = if approve {
            "approval.approve"
        } else {
            "approval.deny"
        };
        sec.audit(&who, &ip, action, &current.camera, &detail)?;
        Ok(a)
    })
    .await?;
    Ok(Json(decided))
}

/// POST /api/approvals/{id}/approve.
pub async fn approve(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Approval>> {
    decide(ctx, p, ip, id, true).await
}

/// POST /api/approvals/{id}/deny.
pub async fn deny(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Approval>> {
    decide(ctx, p, ip, id, false).await
}
