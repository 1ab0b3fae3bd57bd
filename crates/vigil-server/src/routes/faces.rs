//! Watchlists (`/api/faces/*`): who is enrolled, for those holding the `faces` permission (admins; never
//! an API token). Names and template counts only: templates never leave the identity database. Seeing
//! the list is audited (`face.view`, once per session every few minutes). Enrolment (`POST
//! /api/faces/people`) takes a photo or an event's snapshot crop holding one face, as `vigil face enrol`
//! does (audited `face.enrol`); erasure is the auditor's (`POST /api/erasures/person`).

use super::blocking;
use super::extract::ApiJson;
use crate::context::AppState;
use crate::error::{ApiError, ApiResult, ServerError};
use crate::perms::{ClientIp, Principal};
use axum::http::StatusCode;
use axum::{Extension, Json, extract::State};
use serde::Deserialize;
use serde_json::{Value, json};
use vigil_core::EventId;

/// GET /api/faces/people.
pub async fn people(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
) -> ApiResult<Json<Value>> {
    let Some(book) = ctx.identity.clone() else {
        return Ok(Json(json!({ "people": [] })));
    };
    let people = blocking(move || {
        book.lock()
            .unwrap_or_else(|p| p.into_inner())
            .people()
            .map_err(ServerError::Identity)
    })
    .await?;
    if ctx.plays.first(format!("{}\nfaces", p.via_key())) {
        let sec = ctx.security.clone();
        let (who, ip) = (p.audit_name(), ip.to_string());
        let detail = format!("{} enrolled people listed", people.len());
        blocking(move || {
            sec.audit_or_log(&who, &ip, "face.view", "watchlists", &detail);
            Ok(())
        })
        .await?;
    }
    Ok(Json(json!({ "people": people })))
}

/// The bytes of a base64 photo.
fn decode_photo(b64: &str) -> Result<Vec<u8>, ApiError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| ApiError::bad_request("photo: base64 of a JPEG or PNG image"))
}

/// The face enroller, or 503.
fn enroller_of(ctx: &AppState) -> Result<std::sync::Arc<dyn crate::FaceEnroller>, ApiError> {
    ctx.enroller.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "this server cannot make face templates (no face models)",
        )
    })
}

/// POST /api/faces/people body: who, on which watchlist, from what (exactly one of `photo`, base64 JPEG
/// or PNG, or `event`, an event whose snapshot crop shows their face).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrolment {
    name: String,
    #[serde(default)]
    list: Option<String>,
    #[serde(default)]
    photo: Option<String>,
    #[serde(default)]
    event: Option<String>,
}

/// POST /api/faces/people: enrols a person from one photo or an event's face crop (201).
pub async fn enrol(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<Enrolment>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let book = ctx
        .identity
        .clone()
        .ok_or_else(|| ApiError::not_found("this server keeps no watchlists"))?;
    let enroller = enroller_of(&ctx)?;
    let list = req.list.clone().unwrap_or_else(|| "watchlist".to_string());
    let (photo, source) = match (&req.photo, &req.event) {
        (Some(b64), None) => (decode_photo(b64)?, "a photo".to_string()),
        (None, Some(event)) => {
            let id: EventId = event
                .parse()
                .map_err(|_| ApiError::not_found("no such event"))?;
            let scope = p.clone();
            let crop = super::events::with_reader(&ctx, move |r| {
                let e = r.get(id)?;
                if !scope.sees(&e.event.camera) {
                    return Err(vigil_store::StoreError::EventNotFound { id: id.to_string() });
                }
                r.snapshot(id, vigil_store::SnapshotKind::Crop)
            })
            .await?;
            (crop.to_vec(), format!("event {id}"))
        }
        _ => {
            return Err(ApiError::bad_request(
                "give either photo (base64 JPEG or PNG) or event (an event id)",
            ));
        }
    };
    let sec = ctx.security.clone();
    let (who, from) = (p.audit_name(), ip.to_string());
    let name = req.name.trim().to_string();
    let entry = blocking(move || {
        let template = enroller.template(&photo).map_err(ServerError::Invalid)?;
        book.lock()
            .unwrap_or_else(|p| p.into_inner())
            .enrol(&name, &list, &who, &[(template, source.clone())])
            .map_err(|e| match e {
                vigil_identity::IdentityError::Exists(_) => ServerError::Conflict(e.to_string()),
                vigil_identity::IdentityError::Invalid(m) => ServerError::Invalid(m),
                other => ServerError::Identity(other),
            })?;
        sec.audit_or_log(
            &who,
            &from,
            "face.enrol",
            &name,
            &format!("list {list}, 1 template from {source}"),
        );
        Ok(json!({"name": name, "list": list, "templates": 1}))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

/// POST /api/faces/identify body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identify {
    photo: String,
}

/// POST /api/faces/identify: the enrolled person the one face of a photo matches at the configured
/// threshold, or `null` (audited `face.search`).
pub async fn identify(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<Identify>,
) -> ApiResult<Json<Value>> {
    let book = ctx
        .identity
        .clone()
        .ok_or_else(|| ApiError::not_found("this server keeps no watchlists"))?;
    let enroller = enroller_of(&ctx)?;
    let photo = decode_photo(&req.photo)?;
    let threshold = ctx.face_threshold;
    let sec = ctx.security.clone();
    let (who, from) = (p.audit_name(), ip.to_string());
    let found = blocking(move || {
        let template = enroller.template(&photo).map_err(ServerError::Invalid)?;
        let found = book
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .best_match(&template, threshold)
            .map_err(ServerError::Identity)?;
        let detail = match &found {
            Some(m) => format!("a photo: matched {} ({:.2})", m.name, m.score),
            None => "a photo: no match".to_string(),
        };
        sec.audit_or_log(&who, &from, "face.search", "watchlists", &detail);
        Ok(found)
    })
    .await?;
    Ok(Json(json!({ "match": found, "threshold": threshold })))
}
