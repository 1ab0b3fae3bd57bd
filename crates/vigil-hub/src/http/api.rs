//! The hub's JSON API: sites at a glance, events across sites, what is relayed from sites (live
//! picture, recordings, clips, configuration with versions and rollback), users and the audit log.
//! Each handler checks its permission ([`Caller::need`]) and the caller's site and camera scope; the
//! relays are audited whether they succeed or not, and a relay that fails is answered 502 with the
//! reason.

use super::store::{HubUserPatch, NewHubUser};
use super::{AppState, Caller, internal};
use crate::relay;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use vigil_server::ApiError;
use vigil_server::perms::{Permission, Role};
use vigil_uplink::wire::SiteStatus;

type ApiResult<T> = Result<T, ApiError>;

/// A relay to a site failed: 502 with the reason.
fn bad_gateway(e: crate::HubError) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "site_unavailable", e.to_string())
}

/// Audits a relay request and turns its failure into a 502.
async fn relayed<T>(
    st: &AppState,
    c: &Caller,
    action: &str,
    target: &str,
    detail: Value,
    r: Result<T, crate::HubError>,
) -> ApiResult<T> {
    let mut detail = detail;
    if let (Value::Object(m), Err(e)) = (&mut detail, &r) {
        m.insert("error".into(), json!(e.to_string()));
    }
    if let Value::Object(m) = &mut detail {
        m.insert("ok".into(), json!(r.is_ok()));
    }
    st.audit(c.actor(), action, Some(target), detail, c.ip)
        .await;
    r.map_err(bad_gateway)
}

/// `GET /api/sites`: every site the caller sees, with its health at a glance.
pub async fn sites(State(st): State<AppState>, c: Caller) -> ApiResult<Json<Value>> {
    c.need(Permission::Cameras)?;
    let rows = st.db.sites().await.map_err(internal)?;
    let mut health: HashMap<(String, String), Vec<String>> = HashMap::new();
    for (site, camera, what) in st.store.open_camera_problems().await.map_err(internal)? {
        health.entry((site, camera)).or_default().push(what);
    }
    let mut out = Vec::new();
    for row in rows.into_iter().filter(|r| c.sees_site(&r.name)) {
        let online = row.online();
        let status: Option<SiteStatus> = row
            .status
            .clone()
            .and_then(|v| serde_json::from_value(v).ok());
        let mut cameras = Vec::new();
        if let Some(s) = &status {
            for cam in s
                .cameras
                .iter()
                .filter(|x| c.sees_camera(&row.name, &x.name))
            {
                let events = health
                    .get(&(row.name.clone(), cam.name.clone()))
                    .cloned()
                    .unwrap_or_default();
                cameras.push(json!({
                    "name": cam.name,
                    "online": cam.online && online,
                    "fps": cam.fps,
                    "message": cam.message,
                    "problems": cam.problems,
                    "health_events": events,
                    "standby_for": cam.standby_for,
                }));
            }
        }
        let offline = cameras
            .iter()
            .filter(|x| x["online"] != json!(true))
            .count();
        let with_problems: Vec<&Value> = cameras
            .iter()
            .filter(|x| {
                x["problems"].as_array().is_some_and(|p| !p.is_empty())
                    || x["health_events"].as_array().is_some_and(|p| !p.is_empty())
            })
            .map(|x| &x["name"])
            .collect();
        let days = status.as_ref().and_then(|s| {
            s.storage
                .iter()
                .filter_map(|d| d.days_until_full)
                .min_by(f64::total_cmp)
        });
        out.push(json!({
            "name": row.name,
            "online": online,
            "last_seen_ms": row.last_seen_ms,
            "offline_since_ms": row.offline_since_ms,
            "version": row.version,
            "config_version": row.config_version,
            "started_ms": status.as_ref().map(|s| s.started_ms),
            "cameras": cameras,
            "cameras_offline": offline,
            "cameras_with_problems": with_problems,
            "storage": status.as_ref().map(|s| json!(s.storage)),
            "days_until_full": days,
            "backlog": status.as_ref().map(|s| s.uplink.backlog),
            "uplink": status.as_ref().map(|s| json!(s.uplink)),
        }));
    }
    Ok(Json(json!({ "sites": out })))
}

/// `GET /api/events` query.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    site: Option<String>,
    camera: Option<String>,
    kind: Option<String>,
    q: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
    /// `START_MS:ID` of the last event of the previous page.
    before: Option<String>,
    limit: Option<i64>,
}

fn empty(s: &Option<String>) -> Option<String> {
    s.as_ref().filter(|v| !v.trim().is_empty()).cloned()
}

/// `GET /api/events?site=&camera=&kind=&q=&from=&to=&before=&limit=`: events across the caller's
/// sites and cameras, newest first: `{events, next}` (`next` for `before=` of the next page).
pub async fn events(
    State(st): State<AppState>,
    c: Caller,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    c.need(Permission::Events)?;
    let Query(q) = q?;
    let none = || Ok(Json(json!({"events": [], "next": null})));
    let sites = match empty(&q.site) {
        Some(s) if !c.sees_site(&s) => return none(),
        Some(s) => Some(vec![s]),
        None => c.user.sites.clone(),
    };
    let before = match empty(&q.before) {
        None => None,
        Some(b) => {
            let (ms, id) = b
                .split_once(':')
                .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.to_string())))
                .ok_or_else(|| ApiError::bad_request("before is START_MS:ID"))?;
            Some((ms, id))
        }
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let filter = crate::db::EventFilter {
        sites,
        camera: empty(&q.camera),
        kind: empty(&q.kind),
        words: empty(&q.q),
        from_ms: q.from,
        to_ms: q.to,
        before,
        limit: Some(limit),
        site_cameras: c.user.cameras.clone(),
    };
    let lines = st.db.events(&filter).await.map_err(internal)?;
    let next = (lines.len() as i64 == limit)
        .then(|| lines.last().map(|l| format!("{}:{}", l.start_ms, l.id)))
        .flatten();
    Ok(Json(json!({ "events": lines, "next": next })))
}

async fn visible_event(
    st: &AppState,
    c: &Caller,
    id: &str,
) -> ApiResult<vigil_uplink::wire::EventLine> {
    let line = st.db.event(id).await.map_err(internal)?;
    match line {
        Some(l) if c.sees_camera(l.site.as_deref().unwrap_or_default(), &l.camera) => Ok(l),
        _ => Err(ApiError::not_found(format!("no event {id}"))),
    }
}

/// `GET /api/events/{id}`: one event (404 outside the caller's scope).
pub async fn event(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    c.need(Permission::Events)?;
    Ok(Json(json!(visible_event(&st, &c, &id).await?)))
}

/// `GET /api/events/{id}/snapshot`: the event's snapshot (JPEG) as the site sent it.
pub async fn snapshot(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    c.need(Permission::Events)?;
    let line = visible_event(&st, &c, &id).await?;
    let site = line.site.unwrap_or_default();
    let stored = st.db.snapshot_site(&id).await.map_err(internal)?;
    if stored.as_deref() != Some(site.as_str()) {
        return Err(ApiError::not_found("no snapshot of this event (yet)"));
    }
    let path = crate::ingest::snapshot_path(&st.data_dir, &site, &id);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::not_found("no snapshot of this event (yet)"))?;
    Ok(jpeg(bytes, "private, max-age=3600"))
}

fn jpeg(bytes: Vec<u8>, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, cache),
        ],
        Body::from(bytes),
    )
        .into_response()
}

/// `GET /api/sites/{site}/cameras/{camera}/live.jpg`: the camera's latest picture, asked of the site.
pub async fn live(
    State(st): State<AppState>,
    c: Caller,
    Path((site, camera)): Path<(String, String)>,
) -> ApiResult<Response> {
    c.need(Permission::Live)?;
    c.camera(&site, &camera)?;
    let r = relay::live_picture(&st.client, &site, &camera).await;
    let target = format!("{site}/{camera}");
    let bytes = relayed(&st, &c, "relay.live", &target, json!({}), r).await?;
    Ok(jpeg(bytes, "no-store"))
}

/// A time range in a query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    from: Option<i64>,
    to: Option<i64>,
}

/// `GET /api/sites/{site}/cameras/{camera}/recordings?from=&to=`: recorded ranges (default: the last
/// 24 hours), asked of the site: `{ranges}`.
pub async fn recordings(
    State(st): State<AppState>,
    c: Caller,
    Path((site, camera)): Path<(String, String)>,
    q: Result<Query<Range>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    c.need(Permission::Playback)?;
    c.camera(&site, &camera)?;
    let Query(q) = q?;
    let to = q.to.unwrap_or_else(vigil_core::time::now_unix_ms);
    let from = q.from.unwrap_or(to - 86_400_000);
    let r = relay::recordings(&st.client, &site, &camera, from, to).await;
    let target = format!("{site}/{camera}");
    let detail = json!({"from_ms": from, "to_ms": to});
    let ranges = relayed(&st, &c, "relay.recordings", &target, detail, r).await?;
    Ok(Json(json!({ "ranges": ranges })))
}

/// Longest clip fetched through the hub.
const MAX_CLIP_MS: i64 = 30 * 60 * 1000;

/// `GET /api/sites/{site}/cameras/{camera}/clip?from=&to=`: recorded video (MP4), fetched from the
/// site (at most 30 minutes).
pub async fn clip(
    State(st): State<AppState>,
    c: Caller,
    Path((site, camera)): Path<(String, String)>,
    q: Result<Query<Range>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    c.need(Permission::Playback)?;
    c.camera(&site, &camera)?;
    let Query(q) = q?;
    let (Some(from), Some(to)) = (q.from, q.to) else {
        return Err(ApiError::bad_request("from and to (unix ms) are needed"));
    };
    if to <= from || to - from > MAX_CLIP_MS {
        return Err(ApiError::bad_request(
            "to must be after from, at most 30 minutes later",
        ));
    }
    let r = relay::clip(&st.client, &site, &camera, from, to).await;
    let target = format!("{site}/{camera}");
    let detail = json!({"from_ms": from, "to_ms": to});
    let bytes = relayed(&st, &c, "relay.clip", &target, detail, r).await?;
    let name = format!(
        "attachment; filename=\"{}-{}-{from}.mp4\"",
        vigil_uplink::wire::camera_token(&site),
        vigil_uplink::wire::camera_token(&camera)
    );
    Ok((
        [
            (header::CONTENT_TYPE, "video/mp4".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        Body::from(bytes),
    )
        .into_response())
}

/// `GET /api/sites/{site}/config`: the site's `vigil.toml` and its version: `{text, version}`.
pub async fn config_get(
    State(st): State<AppState>,
    c: Caller,
    Path(site): Path<String>,
) -> ApiResult<Json<Value>> {
    c.need(Permission::Config)?;
    c.site(&site)?;
    let r = relay::config_get(&st.client, &site).await;
    let (text, version) = relayed(&st, &c, "relay.config_get", &site, json!({}), r).await?;
    Ok(Json(json!({ "text": text, "version": version })))
}

/// `PUT /api/sites/{site}/config` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPut {
    text: String,
}

/// `PUT /api/sites/{site}/config` `{text}`: pushes a new configuration (kept as a version).
pub async fn config_put(
    State(st): State<AppState>,
    c: Caller,
    Path(site): Path<String>,
    body: Result<Json<ConfigPut>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    c.need(Permission::Config)?;
    c.site(&site)?;
    let Json(b) = body?;
    let r = relay::config_push(&st.db, &st.client, &site, &b.text, c.actor()).await;
    let detail = json!({"version": vigil_uplink::wire::config_version(&b.text)});
    let v = relayed(&st, &c, "config.push", &site, detail, r).await?;
    Ok(Json(json!(v)))
}

/// `GET /api/sites/{site}/config/versions`: the versions pushed, newest first: `{versions}`.
pub async fn config_versions(
    State(st): State<AppState>,
    c: Caller,
    Path(site): Path<String>,
) -> ApiResult<Json<Value>> {
    c.need(Permission::Config)?;
    c.site(&site)?;
    let v = relay::config_versions(&st.db, &site)
        .await
        .map_err(bad_gateway)?;
    Ok(Json(json!({ "versions": v })))
}

/// `POST /api/sites/{site}/config/rollback` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    version: String,
}

/// `POST /api/sites/{site}/config/rollback` `{version}`: pushes an earlier version again.
pub async fn config_rollback(
    State(st): State<AppState>,
    c: Caller,
    Path(site): Path<String>,
    body: Result<Json<Rollback>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    c.need(Permission::Config)?;
    c.site(&site)?;
    let Json(b) = body?;
    let r = relay::config_rollback(&st.db, &st.client, &site, &b.version, c.actor()).await;
    let detail = json!({"version": b.version});
    let v = relayed(&st, &c, "config.rollback", &site, detail, r).await?;
    Ok(Json(json!(v)))
}

/// `GET /api/users`: every central user.
pub async fn users(State(st): State<AppState>, c: Caller) -> ApiResult<Json<Value>> {
    c.need(Permission::Users)?;
    Ok(Json(
        json!({ "users": st.store.users().await.map_err(internal)? }),
    ))
}

/// Checks a scope list: `None` and `[]` mean everything.
fn scope(list: Option<Vec<String>>, cameras: bool) -> ApiResult<Option<Vec<String>>> {
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    for item in &list {
        let site = if cameras {
            match item.split_once('/') {
                Some((s, c)) if !c.is_empty() => s,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "camera {item:?}: write cameras as site/camera"
                    )));
                }
            }
        } else {
            item.as_str()
        };
        vigil_uplink::wire::check_site_name(site)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    Ok(Some(list))
}

fn role_of(name: &str) -> ApiResult<Role> {
    Role::parse(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown role {name:?} (admin, operator, viewer, auditor, analyst)"
        ))
    })
}

/// Hashes a password (after the strength rules) off the async threads.
pub async fn hash_password(username: &str, password: &str) -> ApiResult<String> {
    vigil_server::auth::password::check_strength(username, password).map_err(ApiError::from)?;
    let p = password.to_string();
    tokio::task::spawn_blocking(move || vigil_server::auth::password::hash(&p))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

/// `POST /api/users` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserAdd {
    username: String,
    password: String,
    role: String,
    #[serde(default)]
    sites: Option<Vec<String>>,
    #[serde(default)]
    cameras: Option<Vec<String>>,
    #[serde(default)]
    playback: bool,
}

/// `POST /api/users` `{username, password, role, sites?, cameras?, playback?}`: a new user (201).
pub async fn user_add(
    State(st): State<AppState>,
    c: Caller,
    body: Result<Json<UserAdd>, JsonRejection>,
) -> ApiResult<Response> {
    c.need(Permission::Users)?;
    let Json(b) = body?;
    vigil_server::auth::users::check_username(&b.username).map_err(ApiError::from)?;
    let role = role_of(&b.role)?;
    let new = NewHubUser {
        password_hash: hash_password(&b.username, &b.password).await?,
        username: b.username,
        role,
        sites: scope(b.sites, false)?,
        cameras: scope(b.cameras, true)?,
        playback: b.playback,
    };
    let user = st.store.add_user(&new).await.map_err(|e| match e {
        crate::HubError::Config(m) => ApiError::conflict(m),
        e => internal(e),
    })?;
    st.audit(
        c.actor(),
        "user.create",
        Some(&user.username),
        json!({"role": role.name(), "sites": user.sites, "cameras": user.cameras}),
        c.ip,
    )
    .await;
    Ok((StatusCode::CREATED, Json(json!(user))).into_response())
}

/// `PATCH /api/users/{id}` body (absent: unchanged; `[]` for sites or cameras: all).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    sites: Option<Vec<String>>,
    #[serde(default)]
    cameras: Option<Vec<String>>,
    #[serde(default)]
    playback: Option<bool>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    disabled: Option<bool>,
}

async fn user_or_404(st: &AppState, id: i64) -> ApiResult<super::store::HubUser> {
    st.store
        .user(id)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(format!("no user {id}")))
}

/// `PATCH /api/users/{id}`: changes role, scope, flags, password or disables (sessions end on a new
/// password or when disabled). An administrator cannot demote or disable themselves.
pub async fn user_patch(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<i64>,
    body: Result<Json<UserPatch>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    c.need(Permission::Users)?;
    let Json(b) = body?;
    let user = user_or_404(&st, id).await?;
    let role = b.role.as_deref().map(role_of).transpose()?;
    if id == c.user.id && (role.is_some_and(|r| r != Role::Admin) || b.disabled == Some(true)) {
        return Err(ApiError::conflict(
            "you cannot demote or disable yourself: ask another administrator",
        ));
    }
    let password_hash = match &b.password {
        Some(p) => Some(hash_password(&user.username, p).await?),
        None => None,
    };
    let patch = HubUserPatch {
        role,
        sites: b.sites.map(|s| scope(Some(s), false)).transpose()?,
        cameras: b.cameras.map(|s| scope(Some(s), true)).transpose()?,
        playback: b.playback,
        password_hash,
        disabled: b.disabled,
    };
    let updated = st
        .store
        .update_user(id, &patch)
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::not_found(format!("no user {id}")))?;
    st.audit(
        c.actor(),
        "user.update",
        Some(&updated.username),
        json!({
            "role": updated.role.name(), "sites": updated.sites, "cameras": updated.cameras,
            "playback": updated.playback, "disabled": updated.disabled,
            "password_changed": b.password.is_some(),
        }),
        c.ip,
    )
    .await;
    Ok(Json(json!(updated)))
}

/// `DELETE /api/users/{id}` (not yourself).
pub async fn user_delete(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    c.need(Permission::Users)?;
    if id == c.user.id {
        return Err(ApiError::conflict("you cannot delete yourself"));
    }
    let user = user_or_404(&st, id).await?;
    st.store.delete_user(id).await.map_err(internal)?;
    st.audit(
        c.actor(),
        "user.delete",
        Some(&user.username),
        json!({}),
        c.ip,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/users/{id}/reset-mfa`: turns the user's MFA off (they enrol again; sessions end).
pub async fn user_reset_mfa(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    c.need(Permission::Users)?;
    let user = user_or_404(&st, id).await?;
    st.store.reset_mfa(id).await.map_err(internal)?;
    st.audit(
        c.actor(),
        "mfa.reset",
        Some(&user.username),
        json!({}),
        c.ip,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/audit` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    before: Option<i64>,
    action: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/audit?before=&action=&limit=`: the hub's audit log, newest first: `{entries}`.
pub async fn audit(
    State(st): State<AppState>,
    c: Caller,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    c.need(Permission::Audit)?;
    let Query(q) = q?;
    let action = q.action.filter(|a| !a.is_empty());
    let rows = st
        .store
        .audit(q.before, action.as_deref(), q.limit.unwrap_or(200))
        .await
        .map_err(internal)?;
    Ok(Json(json!({ "entries": rows })))
}
