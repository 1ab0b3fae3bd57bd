//! Watchlists (`/api/faces/*`): who is enrolled, for those holding the `faces` permission (admins; never
//! an API token). Names and template counts only: templates never leave the identity database. Seeing
//! the list is audited (`face.view`, once per session every few minutes). Enrolment is `vigil face
//! enrol`; erasure is the auditor's (`POST /api/erasures/person`).

use super::blocking;
use crate::context::AppState;
use crate::error::{ApiResult, ServerError};
use crate::perms::{ClientIp, Principal};
use axum::{Extension, Json, extract::State};
use serde_json::{Value, json};

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
