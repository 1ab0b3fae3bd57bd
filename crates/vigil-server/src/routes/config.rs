//! `/api/config*`: `vigil.toml` read, checked, changed (by its text or by forms: cameras, zones, lines,
//! masks, rules), versioned and restored from the browser. Admins only (`config`); every change is
//! audited with the versions it went between.

use super::blocking;
use super::extract::{ApiJson, ApiPath};
use crate::config_edit::{ConfigEdit, ConfigEditor, ConfigProblem, ConfigRefusal, Saved};
use crate::context::AppState;
use crate::error::{ApiError, ApiResult};
use crate::perms::{ClientIp, Principal};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

fn editor(ctx: &AppState) -> Result<Arc<dyn ConfigEditor>, ApiError> {
    ctx.config.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "config_unavailable",
            "this server runs without a configuration file to edit",
        )
    })
}

/// A refusal as the API answers it: 409 stale (with the current version), 422 invalid (with every
/// problem, located), 400 refused, 500 failed.
fn refusal(r: ConfigRefusal) -> Response {
    match r {
        ConfigRefusal::Stale { current } => (
            StatusCode::CONFLICT,
            Json(json!({
                "error": "stale",
                "message": "the configuration changed since you read it: reload it and make your change again",
                "version": current,
            })),
        )
            .into_response(),
        ConfigRefusal::Invalid(problems) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "error": "invalid_config",
                "message": summary(&problems),
                "problems": problems,
            })),
        )
            .into_response(),
        ConfigRefusal::Refused(m) => ApiError::bad_request(m).into_response(),
        ConfigRefusal::Failed(m) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "config_failed", m).into_response()
        }
    }
}

fn summary(problems: &[ConfigProblem]) -> String {
    match problems.first() {
        Some(p) if problems.len() == 1 => format!("line {}: {}", p.line, p.message),
        Some(p) => format!(
            "{} problems; the first, line {}: {}",
            problems.len(),
            p.line,
            p.message
        ),
        None => "no problem".into(),
    }
}

/// Runs a blocking config call; its refusal becomes the answer.
async fn run<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ConfigRefusal> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(r)) => Err(refusal(r)),
        Err(_) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "config_failed",
            "the configuration task failed",
        )
        .into_response()),
    }
}

/// GET /api/config.
pub async fn read(State(ctx): State<AppState>) -> Response {
    let ed = match editor(&ctx) {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    match run(move || ed.read()).await {
        Ok(doc) => Json(doc).into_response(),
        Err(r) => r,
    }
}

/// POST /api/config/check body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextBody {
    text: String,
}

/// POST /api/config/check: the problems `vigil config check` would print, located.
pub async fn check(
    State(ctx): State<AppState>,
    ApiJson(b): ApiJson<TextBody>,
) -> ApiResult<Json<Value>> {
    let ed = editor(&ctx)?;
    let problems = blocking(move || Ok(ed.check(&b.text))).await?;
    Ok(Json(
        json!({ "ok": problems.is_empty(), "problems": problems }),
    ))
}

/// POST /api/config body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveBody {
    text: String,
    version: String,
}

fn audit_saved(
    ctx: &AppState,
    p: &Principal,
    ip: &ClientIp,
    what: &str,
    from: &str,
    saved: &Saved,
) {
    let short = |v: &str| v[..v.len().min(12)].to_string();
    let detail = format!(
        "{what}; version {} -> {}; applied: {}{}",
        short(from),
        short(&saved.version),
        saved.applied,
        if saved.detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", saved.detail)
        }
    );
    ctx.security.audit_or_log(
        &p.audit_name(),
        &ip.to_string(),
        "config.change",
        "vigil.toml",
        &detail,
    );
}

/// Saves `text` over version `from`, audits it as `what`, answers what was applied.
async fn save_text(
    ctx: AppState,
    p: Principal,
    ip: ClientIp,
    what: String,
    text: String,
    from: String,
) -> Response {
    let ed = match editor(&ctx) {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    let version = from.clone();
    let saved = match run(move || ed.save(&text, &version)).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (c, answer) = (ctx.clone(), saved.clone());
    let _ = blocking(move || {
        audit_saved(&c, &p, &ip, &what, &from, &saved);
        Ok(())
    })
    .await;
    Json(answer).into_response()
}

/// POST /api/config: saves a whole text (edited, or an earlier version restored).
pub async fn save(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(b): ApiJson<SaveBody>,
) -> Response {
    save_text(ctx, p, ip, "text edited".into(), b.text, b.version).await
}

/// POST /api/config/edit body: a form's change and the version it was made on.
#[derive(Deserialize)]
pub struct EditBody {
    version: String,
    #[serde(flatten)]
    edit: ConfigEdit,
}

/// POST /api/config/edit: a change made through a form (zones, lines and masks drawn, a rule, a
/// camera added or removed), made on the text with its comments kept, checked, saved and applied.
pub async fn edit(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(b): ApiJson<EditBody>,
) -> Response {
    let ed = match editor(&ctx) {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    let what = b.edit.describe();
    let version = b.version.clone();
    let text = match run(move || {
        let doc = ed.read()?;
        if doc.version != version {
            return Err(ConfigRefusal::Stale {
                current: doc.version,
            });
        }
        ed.edit(&doc.text, &b.edit)
    })
    .await
    {
        Ok(t) => t,
        Err(r) => return r,
    };
    save_text(ctx, p, ip, what, text, b.version).await
}

/// GET /api/config/history.
pub async fn history(State(ctx): State<AppState>) -> Response {
    let ed = match editor(&ctx) {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    match run(move || ed.history()).await {
        Ok(v) => Json(json!({ "versions": v })).into_response(),
        Err(r) => r,
    }
}

/// GET /api/config/history/{id}.
pub async fn history_text(State(ctx): State<AppState>, ApiPath(id): ApiPath<String>) -> Response {
    let ed = match editor(&ctx) {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    match tokio::task::spawn_blocking(move || ed.history_text(&id)).await {
        Ok(Ok(text)) => Json(json!({ "text": text })).into_response(),
        Ok(Err(ConfigRefusal::Refused(m))) => ApiError::not_found(m).into_response(),
        Ok(Err(r)) => refusal(r),
        Err(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "config_failed",
            "the task failed",
        )
        .into_response(),
    }
}

/// POST /api/config/probe body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeBody {
    url: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// POST /api/config/probe: connects to a stream for a few seconds and says what it sends (codec,
/// resolution, frame rate), before the camera is added.
pub async fn probe(State(ctx): State<AppState>, ApiJson(b): ApiJson<ProbeBody>) -> Response {
    let ed = match editor(&ctx) {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    let answer = tokio::task::spawn_blocking(move || {
        ed.probe(&b.url, b.username.as_deref(), b.password.as_deref())
    })
    .await;
    match answer {
        Ok(Ok(p)) => Json(p).into_response(),
        Ok(Err(m)) => ApiError::new(StatusCode::BAD_GATEWAY, "probe_failed", m).into_response(),
        Err(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "probe_failed",
            "the probe failed",
        )
        .into_response(),
    }
}

/// POST /api/config/discover body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoverBody {
    #[serde(default)]
    seconds: Option<f64>,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// POST /api/config/discover: ONVIF cameras on the local network (or at one address), each with its
/// identity and its main and sub stream picked, ready to be added.
pub async fn discover(State(ctx): State<AppState>, ApiJson(b): ApiJson<DiscoverBody>) -> Response {
    let ed = match editor(&ctx) {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    let answer = tokio::task::spawn_blocking(move || {
        ed.discover(
            b.seconds.unwrap_or(3.0),
            b.address.as_deref(),
            b.username.as_deref(),
            b.password.as_deref(),
        )
    })
    .await;
    match answer {
        Ok(Ok(devices)) => Json(json!({ "devices": devices })).into_response(),
        Ok(Err(m)) => ApiError::bad_request(m).into_response(),
        Err(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "discover_failed",
            "discovery failed",
        )
        .into_response(),
    }
}

/// POST /api/config/preview body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewBody {
    camera: String,
    #[serde(default)]
    minutes: Option<f64>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    edits: Vec<ConfigEdit>,
}

/// POST /api/config/preview: runs a camera's rules over its last minutes of recording in the
/// background (202 with the job's id; 409 while another runs): the saved file's, a draft `text`'s, or
/// the saved file's with form `edits` made on it (a zone just drawn, a rule not saved yet).
pub async fn preview(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(b): ApiJson<PreviewBody>,
) -> ApiResult<Response> {
    let ed = editor(&ctx)?;
    let minutes = b.minutes.unwrap_or(5.0);
    if !(0.25..=30.0).contains(&minutes) {
        return Err(ApiError::bad_request("minutes: 0.25 to 30"));
    }
    if !p.sees(&b.camera) || !ctx.camera_names().contains(&b.camera) {
        return Err(ApiError::not_found(format!("no camera {:?}", b.camera)));
    }
    if b.text.is_some() && !b.edits.is_empty() {
        return Err(ApiError::bad_request(
            "give a draft text or edits, not both",
        ));
    }
    let scope = crate::config_edit::PreviewScope {
        camera: b.camera.clone(),
        minutes,
        draft: b.text.is_some() || !b.edits.is_empty(),
    };
    let id = ctx
        .previews
        .start(&p.audit_name(), scope)
        .map_err(|running| {
            ApiError::new(
                StatusCode::CONFLICT,
                "busy",
                format!("preview {running} is still running: wait for it"),
            )
        })?;
    let jobs = ctx.previews.clone();
    tokio::task::spawn_blocking(move || {
        let progress = |done: f64| {
            jobs.progress(id, crate::config_edit::PreviewProgress { done });
        };
        let draft = if b.edits.is_empty() {
            Ok(b.text)
        } else {
            ed.read().and_then(|doc| {
                let mut text = doc.text;
                for e in &b.edits {
                    text = ed.edit(&text, e)?;
                }
                Ok(Some(text))
            })
        };
        let result = draft
            .and_then(|text| ed.preview(&b.camera, minutes, text.as_deref(), &progress))
            .map_err(|r| match r {
                ConfigRefusal::Invalid(problems) => summary(&problems),
                ConfigRefusal::Stale { .. } => "the configuration changed".into(),
                ConfigRefusal::Refused(m) | ConfigRefusal::Failed(m) => m,
            });
        jobs.finish(id, result);
    });
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id }))).into_response())
}

/// GET /api/config/preview/{id}: a preview's progress, then what the rules would have done.
pub async fn preview_job(
    State(ctx): State<AppState>,
    ApiPath(id): ApiPath<u64>,
) -> ApiResult<Json<Value>> {
    let job = ctx
        .previews
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("no preview {id}")))?;
    Ok(Json(json!(job)))
}
