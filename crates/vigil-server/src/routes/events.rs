//! Events: the list (filtered to the caller's cameras) and snapshots.

use super::blocking;
use super::extract::{ApiPath, ApiQuery};
use crate::context::AppState;
use crate::context::StillAllowed;
use crate::error::{ApiError, ApiResult};
use crate::perms::Permission;
use crate::perms::{ClientIp, Principal};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use vigil_core::EventId;
use vigil_store::{EventQuery, EventReader, SnapshotKind, StoredEvent};

/// GET /api/events query.
#[derive(Deserialize)]
pub struct EventsQuery {
    camera: Option<String>,
    kind: Option<String>,
    q: Option<String>,
    before: Option<String>,
    start: Option<i64>,
    end: Option<i64>,
    limit: Option<usize>,
}

/// An event as the API gives it; `facts` are its kind's own (a line crossing's counts, a plate's text, a
/// recognised person's name...).
pub(crate) fn event_json(e: &StoredEvent) -> Value {
    let ev = &e.event;
    json!({
        "facts": serde_json::to_value(&ev.kind).unwrap_or(Value::Null),
        "id": ev.id.to_string(),
        "camera": ev.camera,
        "rule": ev.rule,
        "kind": ev.kind.name(),
        "class": ev.class_name,
        "start": ev.start.unix_ms,
        "end": ev.end.map(|t| t.unix_ms),
        "description": ev.description,
        "has_snapshot": e.snapshot.is_some(),
        "zone": ev.zone,
        "line": ev.line,
        "open": e.open,
        "attributes": ev.attributes,
    })
}

/// A pool of event readers (one SQLite connection each), so a request does not open the database.
#[derive(Default)]
pub struct ReaderPool(std::sync::Mutex<Vec<EventReader>>);

impl ReaderPool {
    pub(crate) fn take(
        &self,
        store: &vigil_store::Store,
    ) -> Result<EventReader, vigil_store::StoreError> {
        let pooled = self.0.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match pooled {
            Some(r) => Ok(r),
            None => store.event_reader(),
        }
    }

    pub(crate) fn give(&self, r: EventReader) {
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() < 8 {
            v.push(r);
        }
    }
}

/// Runs `f` with an event reader of the context's store.
pub(crate) async fn with_reader<T: Send + 'static>(
    ctx: &AppState,
    f: impl FnOnce(&EventReader) -> Result<T, vigil_store::StoreError> + Send + 'static,
) -> ApiResult<T> {
    let store = ctx
        .store
        .clone()
        .ok_or_else(|| ApiError::not_found("no event store in this server"))?;
    let c = ctx.clone();
    blocking(move || {
        let r = c.event_readers.take(&store)?;
        let out = f(&r);
        c.event_readers.give(r);
        Ok(out?)
    })
    .await
}

/// GET /api/events.
pub async fn list(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request("limit is 1-1000"));
    }
    if q.q.as_ref().is_some_and(|t| t.len() > 200)
        || q.before.as_ref().is_some_and(|c| c.len() > 32)
    {
        return Err(ApiError::bad_request(
            "q is at most 200 bytes, before at most 32",
        ));
    }
    if let (Some(a), Some(b)) = (q.start, q.end)
        && b < a
    {
        return Err(ApiError::bad_request("end is before start"));
    }
    let cameras = match (&q.camera, &p.cameras) {
        (Some(c), _) if !p.sees(c) => Some(Vec::new()),
        (Some(c), _) => Some(vec![c.clone()]),
        (None, scope) => scope.clone(),
    };
    // Biometric events (who a face is, an unknown face) only for the `faces` permission.
    let faces = p.can(Permission::Faces);
    let kinds = match q.kind {
        Some(k) if !faces && vigil_core::BIOMETRIC_KINDS.contains(&k.as_str()) => Some(Vec::new()),
        Some(k) => Some(vec![k]),
        None if faces => None,
        None => Some(
            vigil_core::RULE_KINDS
                .iter()
                .chain(&vigil_core::OTHER_KINDS)
                .map(|k| k.to_string())
                .collect(),
        ),
    };
    let query = EventQuery {
        cameras,
        kinds,
        text: q.q.filter(|t| !t.trim().is_empty()),
        cursor: q.before.filter(|c| !c.is_empty()),
        from_ms: q.start,
        to_ms: q.end,
        limit,
        ..EventQuery::default()
    };
    let page = with_reader(&ctx, move |r| r.list(&query)).await?;
    let biometric = page
        .events
        .iter()
        .filter(|e| e.event.kind.is_biometric())
        .count();
    if biometric > 0 && ctx.plays.first(format!("{}\nface events", p.via_key())) {
        let sec = ctx.security.clone();
        let (who, ip) = (p.audit_name(), ip.to_string());
        let detail = format!("{biometric} face event(s) listed");
        blocking(move || {
            sec.audit_or_log(&who, &ip, "face.view", "events", &detail);
            Ok(())
        })
        .await?;
    }
    let events: Vec<Value> = page
        .events
        .iter()
        .map(|e| {
            let mut v = event_json(e);
            let ev = &e.event;
            v["severity"] = json!(ctx.review.severity(&ev.camera, &ev.rule, ev.kind.name()));
            v
        })
        .collect();
    Ok(Json(json!({ "events": events, "next": page.next_cursor })))
}

/// GET /api/events/live: the live event feed (see [`crate::event_feed`]).
pub async fn live(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    request: Request,
) -> Response {
    // A request that is not a WebSocket upgrade is refused as such (4xx) before anything else.
    let (mut parts, _) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(rejection) => {
            return ApiError::new(
                rejection.status(),
                "websocket_required",
                rejection.body_text(),
            )
            .into_response();
        }
    };
    // Cross-site WebSocket hijacking: a browser's cookie is only good from the server's own origin.
    let cookie = p.by_cookie();
    if let Err(refused) =
        crate::origin::check(&parts.headers, &parts.uri, &ctx.allowed_origins, cookie)
    {
        return ApiError::new(StatusCode::FORBIDDEN, "bad_origin", refused.0).into_response();
    }
    let Some(feed) = ctx.events_feed.clone() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "events_feed_unavailable",
            "live events are not available in this server",
        )
        .into_response();
    };
    let scope = p.clone();
    let faces = p.can(Permission::Faces);
    let sees =
        Arc::new(move |camera: &str, biometric: bool| scope.sees(camera) && (faces || !biometric));
    let (sec, via) = (ctx.security.clone(), p.via.clone());
    let allowed: StillAllowed =
        Arc::new(move || matches!(sec.recheck(&via), Ok(Some(now)) if now.can(Permission::Events)));
    feed.serve(upgrade, sees, allowed)
}

/// GET /api/events/{id}/snapshot query.
#[derive(Deserialize)]
pub struct SnapshotQuery {
    kind: Option<SnapshotKind>,
}

/// GET /api/events/{id}/snapshot.
pub async fn snapshot(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<SnapshotQuery>,
) -> ApiResult<Response> {
    let id: EventId = id
        .parse()
        .map_err(|_| ApiError::not_found("no such event"))?;
    let kind = q.kind.unwrap_or(SnapshotKind::Crop);
    let bytes = with_reader(&ctx, move |r| {
        let e = r.get(id)?;
        if !p.sees_event(&e.event) {
            return Err(vigil_store::StoreError::EventNotFound { id: id.to_string() });
        }
        r.snapshot(id, kind)
    })
    .await?;
    let mut resp = bytes.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    Ok(resp)
}

/// GET /api/events/{id}/lifecycle: the event's object from first sighting to last on its camera: the
/// path it took across the picture (normalised points, sampled) and every event it took part in, in
/// order (zone entered and left, lines crossed...); biometric events only for the `faces` permission.
pub async fn lifecycle(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id: EventId = id
        .parse()
        .map_err(|_| ApiError::not_found("no such event"))?;
    let faces = p.can(Permission::Faces);
    let life = with_reader(&ctx, move |r| {
        let e = r.get(id)?;
        if !p.sees_event(&e.event) {
            return Err(vigil_store::StoreError::EventNotFound { id: id.to_string() });
        }
        r.lifecycle(id)
    })
    .await?;
    let events: Vec<Value> = life
        .events
        .iter()
        .filter(|e| faces || !e.event.kind.is_biometric())
        .map(event_json)
        .collect();
    Ok(Json(json!({ "paths": life.paths, "events": events })))
}

/// GET /api/events/{id}: one event as the list gives it (with its `attributes`); 404 when the caller may
/// not see it.
pub async fn one(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id: EventId = id
        .parse()
        .map_err(|_| ApiError::not_found("no such event"))?;
    let e = with_reader(&ctx, move |r| {
        let e = r.get(id)?;
        if !p.sees_event(&e.event) {
            return Err(vigil_store::StoreError::EventNotFound { id: id.to_string() });
        }
        Ok(e)
    })
    .await?;
    Ok(Json(event_json(&e)))
}

/// GET /api/events/{id}/elsewhere query.
#[derive(Deserialize)]
pub struct ElsewhereParams {
    window: Option<i64>,
    min_similarity: Option<f32>,
    limit: Option<usize>,
}

/// GET /api/events/{id}/elsewhere: where else the event's person was seen (re-identification), on the
/// caller's cameras, best first; audited (`person.search`).
pub async fn elsewhere(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ElsewhereParams>,
) -> ApiResult<Json<Value>> {
    let id: EventId = id
        .parse()
        .map_err(|_| ApiError::not_found("no such event"))?;
    let window_s = q.window.unwrap_or(3600);
    if !(1..=7 * 86_400).contains(&window_s) {
        return Err(ApiError::bad_request("window: 1 to 604800 seconds"));
    }
    let min_similarity = q.min_similarity.unwrap_or(0.5);
    if !(0.0..=1.0).contains(&min_similarity) {
        return Err(ApiError::bad_request("min_similarity: 0 to 1"));
    }
    let limit = q.limit.unwrap_or(20);
    if limit == 0 || limit > 100 {
        return Err(ApiError::bad_request("limit is 1-100"));
    }
    let scope = p.clone();
    let links = ctx.camera_links.clone();
    let found = with_reader(&ctx, move |r| {
        let e = r.get(id)?;
        if !scope.sees(&e.event.camera)
            || (e.event.kind.is_biometric() && !scope.can(Permission::Faces))
        {
            return Err(vigil_store::StoreError::EventNotFound { id: id.to_string() });
        }
        r.seen_elsewhere(&vigil_store::ElsewhereQuery {
            event: id,
            window_ms: window_s * 1000,
            cameras: scope.cameras.clone(),
            min_similarity,
            limit,
            links,
        })
    })
    .await?;
    let sec = ctx.security.clone();
    let (who, from) = (p.audit_name(), ip.to_string());
    let detail = format!("where else: event {id}, {} sighting(s)", found.len());
    blocking(move || {
        sec.audit_or_log(&who, &from, "person.search", "events", &detail);
        Ok(())
    })
    .await?;
    Ok(Json(json!({ "sightings": found })))
}
