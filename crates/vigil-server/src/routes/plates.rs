//! Plate search (`GET /api/plates`): the `plate_read` events of the caller's cameras whose plate answers
//! the query (`vigil_store::EventReader::search_plates`). Plates are personal data: every search is
//! audited (`plate.search`) with what was asked.
//!
//! Plate lists (`/api/plates/lists*`, the `plate_lists` permission): `vigil.toml`'s lists and those made
//! here, merged (`vigil_identity::PlateLists`); plates are added and removed here, and the analysis sees
//! the change at its next read. Every change is audited (`plate.list`).

use super::blocking;
use super::events::{event_json, with_reader};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::context::AppState;
use crate::error::{ApiError, ApiResult, ServerError};
use crate::perms::{ClientIp, Principal};
use axum::{Extension, Json, extract::State};
use serde::Deserialize;
use serde_json::{Value, json};
use vigil_identity::PlateMatch;
use vigil_store::PlateQuery;

/// Plate events looked at, at most, per search.
pub const MAX_SCAN: usize = 100_000;

/// GET /api/plates query.
#[derive(Deserialize)]
pub struct PlatesQuery {
    q: String,
    #[serde(rename = "match")]
    how: Option<PlateMatch>,
    camera: Option<String>,
    limit: Option<usize>,
}

/// GET /api/plates.
pub async fn search(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiQuery(q): ApiQuery<PlatesQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request("limit is 1-1000"));
    }
    let plate = q.q.trim().to_string();
    if vigil_identity::plates::canonical(&plate).is_empty() || plate.len() > 32 {
        return Err(ApiError::bad_request(
            "q: a plate or its beginning, 1 to 32 characters with at least one letter or digit",
        ));
    }
    let how = q.how.unwrap_or(PlateMatch::Exact);
    let cameras = match (&q.camera, &p.cameras) {
        (Some(c), _) if !p.sees(c) => Some(Vec::new()),
        (Some(c), _) => Some(vec![c.clone()]),
        (None, scope) => scope.clone(),
    };
    let sec = ctx.security.clone();
    let (who, from) = (p.audit_name(), ip.to_string());
    let detail = format!(
        "{plate:?} ({}){}",
        match how {
            PlateMatch::Exact => "exact",
            PlateMatch::Prefix => "prefix",
            PlateMatch::Fuzzy => "fuzzy",
        },
        q.camera
            .as_ref()
            .map_or(String::new(), |c| format!(" on {c}"))
    );
    blocking(move || {
        sec.audit_or_log(&who, &from, "plate.search", "plates", &detail);
        Ok(())
    })
    .await?;
    let query = PlateQuery {
        plate,
        how,
        cameras,
        from_ms: None,
        to_ms: None,
        limit,
        max_scan: MAX_SCAN,
    };
    let found = with_reader(&ctx, move |r| r.search_plates(&query)).await?;
    let events: Vec<Value> = found.events.iter().map(event_json).collect();
    Ok(Json(json!({
        "events": events,
        "scanned": found.scanned,
        "complete": found.complete,
    })))
}

/// The plate lists, or 503 when this server has none.
fn lists_of(ctx: &AppState) -> Result<std::sync::Arc<vigil_identity::PlateLists>, ApiError> {
    ctx.plate_lists.clone().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "plate lists are not kept by this server",
        )
    })
}

/// An identity error as the API answers it.
fn list_error(e: vigil_identity::IdentityError) -> ServerError {
    use vigil_identity::IdentityError as E;
    match e {
        E::Exists(_) | E::FromConfig(_) => ServerError::Conflict(e.to_string()),
        E::NotListed { .. } => ServerError::NotFound(e.to_string()),
        E::Invalid(m) => ServerError::Invalid(m),
        other => ServerError::Identity(other),
    }
}

/// GET /api/plates/lists: every plate list (`vigil.toml`'s and the UI's) with its plates.
pub async fn lists(State(ctx): State<AppState>) -> ApiResult<Json<Value>> {
    let lists = match ctx.plate_lists.clone() {
        Some(l) => l.lists(),
        None => Vec::new(),
    };
    Ok(Json(json!({ "lists": lists })))
}

/// POST /api/plates/lists/{list}/plates body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewListedPlate {
    plate: String,
    #[serde(default)]
    note: String,
    alert: Option<String>,
}

/// POST /api/plates/lists/{list}/plates: puts a plate on a list (made when new); audited
/// (`plate.list`).
pub async fn add(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(list): ApiPath<String>,
    ApiJson(body): ApiJson<NewListedPlate>,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    let lists = lists_of(&ctx)?;
    let who = p.audit_name();
    let (by, name) = (who.clone(), list.clone());
    let plate = body.plate.clone();
    let changed = blocking(move || {
        lists
            .add(&name, &plate, &body.note, body.alert.as_deref(), &by)
            .map_err(list_error)
    })
    .await?;
    let sec = ctx.security.clone();
    let detail = format!("added {:?} to {list:?}", body.plate.trim());
    let from = ip.to_string();
    blocking(move || {
        sec.audit_or_log(&who, &from, "plate.list", "plates", &detail);
        Ok(())
    })
    .await?;
    Ok((axum::http::StatusCode::CREATED, Json(json!(changed))))
}

/// DELETE /api/plates/lists/{list}/plates/{plate}: takes a plate (any spelling) off a list; audited
/// (`plate.list`).
pub async fn remove(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath((list, plate)): ApiPath<(String, String)>,
) -> ApiResult<axum::http::StatusCode> {
    let lists = lists_of(&ctx)?;
    let (name, asked) = (list.clone(), plate.clone());
    let gone = blocking(move || lists.remove(&name, &asked).map_err(list_error)).await?;
    let sec = ctx.security.clone();
    let (who, from) = (p.audit_name(), ip.to_string());
    let detail = format!("removed {:?} from {list:?}", gone.plate);
    blocking(move || {
        sec.audit_or_log(&who, &from, "plate.list", "plates", &detail);
        Ok(())
    })
    .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
