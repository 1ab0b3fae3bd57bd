//! Evidence cases (`/api/cases*`): open a case, list them, show one with its notes, its exports and its
//! chain of custody, add notes. Exports join a case with `"case_id"` in `POST /api/exports`.

use super::blocking;
use super::extract::{ApiJson, ApiPath};
use crate::cases::{MAX_TEXT, MAX_TITLE, target};
use crate::context::AppState;
use crate::error::{ApiError, ApiResult};
use crate::perms::{ClientIp, Principal};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, extract::State};
use serde::Deserialize;
use serde_json::{Value, json};

/// POST /api/cases body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    title: String,
    #[serde(default)]
    description: String,
}

/// POST /api/cases/{id}/notes body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    text: String,
}

/// A title or text: not empty (titles), at most `max` characters, no control characters but line breaks
/// in texts.
fn text(what: &str, v: &str, max: usize, title: bool) -> Result<String, ApiError> {
    let v = v.trim();
    let bad_char = |c: char| c.is_control() && (title || (c != '\n' && c != '\t'));
    if (title && v.is_empty()) || v.chars().count() > max || v.chars().any(bad_char) {
        return Err(ApiError::bad_request(format!(
            "{what}: {}at most {max} characters{}",
            if title { "1 to " } else { "" },
            if title {
                ", no control characters"
            } else {
                ", no control characters but line breaks"
            }
        )));
    }
    Ok(v.to_string())
}

/// GET /api/cases.
pub async fn list(State(ctx): State<AppState>) -> ApiResult<Json<Value>> {
    let sec = ctx.security.clone();
    let cases = blocking(move || sec.cases()).await?;
    Ok(Json(json!({ "cases": cases })))
}

/// POST /api/cases.
pub async fn create(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<NewCase>,
) -> ApiResult<Response> {
    let title = text("title", &req.title, MAX_TITLE, true)?;
    let description = text("description", &req.description, MAX_TEXT, false)?;
    let sec = ctx.security.clone();
    let (who, ip) = (p.audit_name(), ip.to_string());
    let case = blocking(move || {
        let id = sec.create_case(&title, &description, &who)?;
        sec.audit(&who, &ip, "case.create", &target(id), &title)?;
        sec.case(id)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(case)).into_response())
}

/// GET /api/cases/{id}: the case, its notes, the exports in it the caller's cameras allow, and its chain
/// of custody. Viewing is audited (`case.view`), once per session and case every few minutes.
pub async fn show(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    let sec = ctx.security.clone();
    let case = blocking(move || sec.case(id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no case {id}")))?;
    let first_view = ctx.plays.first(format!("{}\ncase {id}", p.via_key()));
    let (sec, c) = (ctx.security.clone(), ctx.clone());
    let (name, ip) = (p.audit_name(), ip.to_string());
    let (notes, exports, custody) = blocking(move || {
        if first_view {
            sec.audit(&name, &ip, "case.view", &target(id), "")?;
        }
        let mut exports = Vec::new();
        for export in sec.case_export_ids(id)? {
            if let Some(job) = c.exports.get(&export)?
                && p.sees(&job.camera)
            {
                exports.push(job);
            }
        }
        Ok((sec.case_notes(id)?, exports, sec.custody(id)?))
    })
    .await?;
    Ok(Json(json!({
        "case": case,
        "notes": notes,
        "exports": exports,
        "custody": custody,
    })))
}

/// POST /api/cases/{id}/notes.
pub async fn add_note(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(req): ApiJson<NewNote>,
) -> ApiResult<Response> {
    let note = text("text", &req.text, MAX_TEXT, false)?;
    if note.is_empty() {
        return Err(ApiError::bad_request("text: write something"));
    }
    let sec = ctx.security.clone();
    let (who, ip) = (p.audit_name(), ip.to_string());
    blocking(move || {
        if sec.case(id)?.is_none() {
            return Err(crate::error::ServerError::NotFound(format!("no case {id}")));
        }
        sec.add_case_note(id, &who, &note)?;
        let short: String = note.chars().take(200).collect();
        sec.audit(&who, &ip, "case.note", &target(id), &short)?;
        Ok(())
    })
    .await?;
    Ok(StatusCode::CREATED.into_response())
}
