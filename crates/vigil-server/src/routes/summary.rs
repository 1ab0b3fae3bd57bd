//! `GET /api/summary`: what happened over a range, on a camera or group, or in one incident, as
//! sentences with their confidence and citations (vigil-summary). The caller sees only their cameras'
//! facts, and face events only with the `faces` permission, as in `/api/events`.

use super::blocking;
use super::extract::ApiQuery;
use crate::context::AppState;
use crate::error::{ApiError, ApiResult};
use crate::perms::{Permission, Principal};
use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use vigil_summary::{LinkBase, SummaryError, SummaryRequest};

/// Longest range one summary covers.
const MAX_RANGE_MS: i64 = 31 * 86_400_000;

/// Query of `GET /api/summary`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryParams {
    /// Range start (unix ms).
    from: Option<i64>,
    /// Range end (unix ms).
    to: Option<i64>,
    /// Only this camera.
    camera: Option<String>,
    /// Only this camera group's cameras (by name).
    group: Option<String>,
    /// One incident: this event and those linked to it.
    incident: Option<String>,
}

/// GET /api/summary.
pub async fn summary(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<SummaryParams>,
) -> ApiResult<Json<Value>> {
    let incident = match &q.incident {
        Some(id) => Some(
            id.parse::<vigil_core::EventId>()
                .map_err(|_| ApiError::not_found("no such event"))?,
        ),
        None => None,
    };
    let (from_ms, to_ms) = match (q.from, q.to, incident) {
        (Some(a), Some(b), _) if b <= a => {
            return Err(ApiError::bad_request("to must be after from"));
        }
        (Some(a), Some(b), _) if b - a > MAX_RANGE_MS => {
            return Err(ApiError::bad_request("a summary covers at most 31 days"));
        }
        (Some(a), Some(b), _) => (a, b),
        (None, None, Some(_)) => (0, 1),
        _ => {
            return Err(ApiError::bad_request(
                "from and to (unix ms) are required, unless incident is given",
            ));
        }
    };
    let mut cameras = match (&q.camera, &p.cameras) {
        (Some(c), _) if !p.sees(c) => Some(Vec::new()),
        (Some(c), _) => Some(vec![c.clone()]),
        (None, scope) => scope.clone(),
    };
    if let Some(name) = &q.group {
        let sec = ctx.security.clone();
        let groups = blocking(move || sec.groups()).await?;
        let g = groups
            .into_iter()
            .find(|g| g.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| ApiError::not_found("no such camera group"))?;
        cameras = Some(match cameras {
            Some(c) => c.into_iter().filter(|x| g.cameras.contains(x)).collect(),
            None => g.cameras,
        });
    }
    let known: Vec<String> = ctx
        .camera_names()
        .into_iter()
        .filter(|c| p.sees(c))
        .collect();
    let req = SummaryRequest {
        from_ms,
        to_ms,
        cameras,
        known,
        incident,
        biometric: p.can(Permission::Faces),
        zones: ctx.summary_zones.clone(),
        links: LinkBase::default(),
    };
    let store = ctx
        .store
        .clone()
        .ok_or_else(|| ApiError::not_found("no event store in this server"))?;
    let made = super::events::with_reader(&ctx, move |events| {
        Ok(store
            .reader()
            .map_err(SummaryError::from)
            .and_then(|rec| vigil_summary::summarize(events, &rec, &req)))
    })
    .await?;
    let summary = match made {
        Ok(s) => s,
        Err(SummaryError::BadRequest(m)) => return Err(ApiError::bad_request(m)),
        Err(SummaryError::NoSuchEvent(_)) => return Err(ApiError::not_found("no such event")),
        Err(SummaryError::Store(e)) => return Err(e.into()),
    };
    Ok(Json(
        serde_json::to_value(&summary).map_err(ApiError::internal)?,
    ))
}
