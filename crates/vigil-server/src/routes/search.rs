//! Search (`GET /api/search?q=`): the query parsed into filters against the site's names, the caller's
//! events and tracks ranked (only their cameras; face events only with the `faces` permission), the
//! parse returned beside the results so the UI can show what was understood. "More like this"
//! (`GET /api/search/similar?event=`): the people who look most like an event's person on the caller's
//! cameras. docs/search.md.

use super::extract::ApiQuery;
use crate::context::AppState;
use crate::error::{ApiError, ApiResult};
use crate::perms::{ClientIp, Permission, Principal};
use axum::{Extension, Json, extract::State};
use serde::Deserialize;
use serde_json::{Value, json};
use vigil_search::{Scope, TextEncoder, WordMapper};

/// GET /api/search query.
#[derive(Deserialize)]
pub struct SearchQuery {
    q: String,
    limit: Option<usize>,
}

/// Runs `f` on a pooled event reader of the store, off the async workers.
async fn on_reader<T: Send + 'static>(
    ctx: &AppState,
    f: impl FnOnce(&vigil_store::EventReader) -> Result<T, ApiError> + Send + 'static,
) -> ApiResult<T> {
    let store = ctx
        .store
        .clone()
        .ok_or_else(|| ApiError::not_found("no event store in this server"))?;
    let c = ctx.clone();
    tokio::task::spawn_blocking(move || {
        let reader = c.event_readers.take(&store)?;
        let out = f(&reader);
        c.event_readers.give(reader);
        out
    })
    .await
    .map_err(ApiError::internal)?
}

fn limit_of(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit.unwrap_or(50) {
        n @ 1..=500 => Ok(n),
        _ => Err(ApiError::bad_request("limit is 1-500")),
    }
}

/// GET /api/search. A query that names a plate or a person is personal data: audited as
/// `plate.search` / `person.search`, like the plate search and "seen elsewhere".
pub async fn search(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let limit = limit_of(q.limit)?;
    let search = ctx.search.clone();
    let sec = ctx.security.clone();
    let (who, from) = (p.audit_name(), ip.to_string());
    let scope = Scope {
        cameras: p.cameras.clone(),
        biometric: p.can(Permission::Faces),
    };
    on_reader(&ctx, move |reader| {
        let now = vigil_core::time::now_unix_ms();
        let mut guard = search
            .encoder
            .as_ref()
            .map(|e| e.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let mut encoder: Option<&mut dyn TextEncoder> = guard.as_deref_mut().and_then(|e| e.get());
        let query = match encoder.as_deref_mut() {
            Some(enc) => {
                let mut mapper = WordMapper::new(enc).map_err(ApiError::internal)?;
                vigil_search::parse(&q.q, &search.vocabulary, now, &search.tz, Some(&mut mapper))
            }
            None => vigil_search::parse(&q.q, &search.vocabulary, now, &search.tz, None),
        }
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
        for (asked, action) in [
            (&query.plate, "plate.search"),
            (&query.person, "person.search"),
        ] {
            if let Some(what) = asked {
                sec.audit_or_log(
                    &who,
                    &from,
                    action,
                    "events",
                    &format!("{what:?} in the search {:?}", query.text),
                );
            }
        }
        let (candidates, cut) = vigil_search::from_store(reader, &query, &scope, &search.tz)?;
        let looked = candidates.len();
        let hits = vigil_search::rank(&query, candidates, encoder).map_err(ApiError::internal)?;
        let total = hits.len();
        Ok(Json(json!({
            "query": query,
            "results": hits.into_iter().take(limit).collect::<Vec<_>>(),
            "total": total,
            "looked_at": looked,
            "complete": !cut,
        })))
    })
    .await
}

/// GET /api/search/similar query.
#[derive(Deserialize)]
pub struct SimilarQuery {
    event: String,
    limit: Option<usize>,
}

/// GET /api/search/similar: looking for a person is audited (`person.search`), like "seen elsewhere".
pub async fn similar(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiQuery(q): ApiQuery<SimilarQuery>,
) -> ApiResult<Json<Value>> {
    let limit = limit_of(q.limit)?;
    let id: vigil_core::EventId = q
        .event
        .parse()
        .map_err(|_| ApiError::bad_request("event: not an event id"))?;
    let sec = ctx.security.clone();
    let (who, from) = (p.audit_name(), ip.to_string());
    super::blocking(move || {
        sec.audit_or_log(
            &who,
            &from,
            "person.search",
            "events",
            &format!("more like the person of event {id}"),
        );
        Ok(())
    })
    .await?;
    let reid = ctx.search.reid.clone();
    on_reader(&ctx, move |reader| {
        let ev = reader
            .get(id)
            .map_err(|_| ApiError::not_found("no such event"))?;
        if !p.sees_event(&ev.event) {
            return Err(ApiError::not_found("no such event"));
        }
        let person = vigil_search::similar::person_of(reader, id)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let mut index = reid
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        index.refresh(reader)?;
        let found = index
            .similar(reader, &person, limit, p.cameras.as_deref())
            .map_err(ApiError::internal)?;
        Ok(Json(json!({ "results": found, "indexed": index.len() })))
    })
    .await
}
