//! Recording integrity from the browser and the API (`/api/integrity/checks*`): `vigil verify recordings`
//! run by the server in the background for whoever holds the `audit` permission (admins, auditors), one at
//! a time, audited as `recordings.verify` when it starts and when it ends.

use super::blocking;
use super::extract::{ApiJson, ApiPath};
use crate::context::AppState;
use crate::error::{ApiError, ApiResult};
use crate::integrity_checks::{CheckScope, Hashed, IntegrityCheck};
use crate::perms::{ClientIp, Principal};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, extract::State};
use serde::Deserialize;
use serde_json::{Value, json};
use vigil_core::Time90k;

/// POST /api/integrity/checks body: what to check (everything when empty).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewCheck {
    #[serde(default)]
    camera: Option<String>,
    #[serde(default)]
    start: Option<i64>,
    #[serde(default)]
    end: Option<i64>,
}

/// POST /api/integrity/checks: starts a check (202 with its id), or 409 `busy` naming the one running.
pub async fn start(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<NewCheck>,
) -> ApiResult<Response> {
    if let (Some(a), Some(b)) = (req.start, req.end)
        && b <= a
    {
        return Err(ApiError::bad_request("start must be before end (unix ms)"));
    }
    if req.start.is_some_and(|t| t < 0) || req.end.is_some_and(|t| t < 0) {
        return Err(ApiError::bad_request("times are unix ms, not negative"));
    }
    if let Some(c) = &req.camera
        && (!p.sees(c) || !ctx.camera_names().contains(c))
    {
        return Err(ApiError::not_found(format!("no camera {c:?}")));
    }
    // A camera-scoped user checks only their cameras: one at a time, named.
    if req.camera.is_none() && p.cameras.is_some() {
        return Err(ApiError::bad_request(
            "your access is limited to some cameras: name the camera to check",
        ));
    }
    let store = super::store_of(&ctx)?;
    let who = p.audit_name();
    let id = ctx
        .integrity
        .start(
            &who,
            CheckScope {
                camera: req.camera.clone(),
                start: req.start,
                end: req.end,
            },
        )
        .map_err(|running| {
            ApiError::new(
                StatusCode::CONFLICT,
                "busy",
                format!("integrity check {running} is still running: wait for it"),
            )
        })?;
    let scope = format!(
        "check {id}: {}, {}",
        req.camera.as_deref().unwrap_or("every camera"),
        match (req.start, req.end) {
            (None, None) => "all recordings".to_string(),
            (a, b) => format!(
                "{} to {}",
                a.map_or("start".into(), vigil_core::time::utc_text),
                b.map_or("now".into(), vigil_core::time::utc_text)
            ),
        }
    );
    let sec = ctx.security.clone();
    let ip = ip.to_string();
    let (w, i, s) = (who.clone(), ip.clone(), scope.clone());
    blocking(move || {
        sec.audit_or_log(
            &w,
            &i,
            "recordings.verify",
            "recordings",
            &format!("started {s}"),
        );
        Ok(())
    })
    .await?;
    let checks = ctx.integrity.clone();
    let sec = ctx.security.clone();
    tokio::task::spawn_blocking(move || {
        let ms = |t: i64| Time90k(t.saturating_mul(90));
        let result = store
            .verify_recordings(
                req.camera,
                req.start.map(ms),
                req.end.map(ms),
                &mut |hashed, total| checks.progress(id, Hashed { hashed, total }),
            )
            .map_err(|e| e.to_string());
        let outcome = match &result {
            Ok(r) if r.problems.is_empty() => format!(
                "{scope}: OK, {} segment(s), {} bytes hashed, {} signed head(s)",
                r.segments, r.bytes, r.heads
            ),
            Ok(r) => format!(
                "{scope}: {} PROBLEM(S), first: {} {}",
                r.problems.len(),
                r.problems[0].fault.as_str(),
                r.problems[0].detail
            ),
            Err(e) => format!("{scope}: could not run: {e}"),
        };
        if let Ok(r) = &result {
            checks.progress(
                id,
                Hashed {
                    hashed: r.bytes,
                    total: r.bytes,
                },
            );
        }
        checks.finish(id, result);
        sec.audit_or_log(&who, &ip, "recordings.verify", "recordings", &outcome);
    });
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id }))).into_response())
}

/// The checks a user may see: all of them, or, for a camera-scoped user, those of their cameras.
fn visible(p: &Principal, c: &IntegrityCheck) -> bool {
    match (&c.scope.camera, &p.cameras) {
        (_, None) => true,
        (Some(cam), Some(_)) => p.sees(cam),
        (None, Some(_)) => false,
    }
}

/// GET /api/integrity/checks: the last checks, newest first.
pub async fn list(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Value>> {
    let checks: Vec<IntegrityCheck> = ctx
        .integrity
        .list()
        .into_iter()
        .filter(|c| visible(&p, c))
        .collect();
    Ok(Json(json!({ "checks": checks })))
}

/// GET /api/integrity/checks/{id}.
pub async fn show(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<u64>,
) -> ApiResult<Json<IntegrityCheck>> {
    ctx.integrity
        .get(id)
        .filter(|c| visible(&p, c))
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no integrity check {id}")))
}
