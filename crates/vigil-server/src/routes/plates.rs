//! Plate search (`GET /api/plates`): the `plate_read` events of the caller's cameras whose plate answers
//! the query (`vigil_store::EventReader::search_plates`). Plates are personal data: every search is
//! audited (`plate.search`) with what was asked.

use super::blocking;
use super::events::{event_json, with_reader};
use super::extract::ApiQuery;
use crate::context::AppState;
use crate::error::{ApiError, ApiResult};
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
