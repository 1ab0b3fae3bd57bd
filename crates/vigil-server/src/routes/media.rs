//! Cameras, live video, recordings, playback and exports.

use super::blocking;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::context::{AppState, StillAllowed};
use crate::error::{ApiError, ApiResult, ServerError};
use crate::exports::{ExportState, MAX_RANGE_MS, valid_id};
use crate::perms::{ClientIp, Permission, Principal, Role};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::Arc;
use vigil_core::Time90k;
use vigil_store::StoreError;

/// GET /api/cameras.
pub async fn cameras(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Value>> {
    let c = ctx.clone();
    let list = blocking(move || {
        let status = c.status.status();
        let mut out = Vec::new();
        for name in c.camera_names() {
            if !p.sees(&name) {
                continue;
            }
            let h = status.cameras.iter().find(|h| h.name == name);
            out.push(json!({
                "name": name,
                "recording": h.is_none_or(|h| h.recording),
                "analysing": h.is_some_and(|h| h.analysing),
                "online": h.is_some_and(|h| h.online),
                "sensitive": c.sensitive.contains(&name),
            }));
        }
        Ok(out)
    })
    .await?;
    Ok(Json(Value::Array(list)))
}

/// GET /api/cameras/{camera}/live: the router has checked the caller and the camera; here the
/// `Origin` is checked (cross-site WebSocket hijacking, see [`crate::origin`]) before the live source
/// upgrades the request, and the view is audited once the upgrade was accepted (101).
pub async fn live(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(camera): ApiPath<String>,
    request: Request,
) -> Response {
    let Some(live) = ctx.live.clone() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "live_unavailable",
            "live video is not available in this server",
        )
        .into_response();
    };
    let cookie = p.by_cookie();
    if let Err(refused) = crate::origin::check(
        request.headers(),
        request.uri(),
        &ctx.allowed_origins,
        cookie,
    ) {
        return ApiError::new(StatusCode::FORBIDDEN, "bad_origin", refused.0).into_response();
    }
    let (sec, via, cam) = (ctx.security.clone(), p.via.clone(), camera.clone());
    let allowed: StillAllowed = Arc::new(
        move || matches!(sec.recheck(&via), Ok(Some(now)) if now.can(Permission::Live) && now.sees(&cam)),
    );
    let response = live.serve(camera.clone(), request, allowed).await;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let sec = ctx.security.clone();
        let (name, ip) = (p.audit_name(), ip.to_string());
        let _ = blocking(move || {
            sec.audit_or_log(&name, &ip, "live.view", &camera, "");
            Ok(())
        })
        .await;
    }
    response
}

/// GET /api/cameras/{camera}/overlay: the camera's zones, lines and masks, then each analysed frame's
/// tracked objects, over a WebSocket (see [`crate::overlay`]); the same checks as live video.
pub async fn overlay(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(camera): ApiPath<String>,
    request: Request,
) -> Response {
    let Some(overlays) = ctx.overlays.clone() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overlay_unavailable",
            "overlays are not available in this server (no camera is analysed)",
        )
        .into_response();
    };
    let (mut parts, _) = request.into_parts();
    let upgrade =
        match axum::extract::ws::WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
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
    if let Err(refused) = crate::origin::check(
        &parts.headers,
        &parts.uri,
        &ctx.allowed_origins,
        p.by_cookie(),
    ) {
        return ApiError::new(StatusCode::FORBIDDEN, "bad_origin", refused.0).into_response();
    }
    let (sec, via, cam) = (ctx.security.clone(), p.via.clone(), camera.clone());
    let allowed: StillAllowed = Arc::new(
        move || matches!(sec.recheck(&via), Ok(Some(now)) if now.can(Permission::Live) && now.sees(&cam)),
    );
    overlays.serve(upgrade, camera, allowed)
}

/// GET /api/cameras/{camera}/thumbnail.jpg query.
#[derive(Deserialize)]
pub struct ThumbnailQuery {
    at: i64,
    #[serde(default)]
    width: Option<u32>,
}

/// GET /api/cameras/{camera}/thumbnail.jpg: the first picture recorded at or after `at` (unix ms),
/// about `width` pixels wide (default 160), privacy masks blacked out; a sensitive camera's needs an
/// approval like its playback. The browser may keep it an hour.
pub async fn thumbnail(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(camera): ApiPath<String>,
    ApiQuery(q): ApiQuery<ThumbnailQuery>,
) -> ApiResult<Response> {
    let Some(thumbs) = ctx.thumbnails.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "thumbnails_unavailable",
            "this server makes no thumbnails (no recordings)",
        ));
    };
    if q.at < 0 {
        return Err(ApiError::bad_request("at: unix ms"));
    }
    super::approvals::require(
        &ctx,
        &p,
        &camera,
        (q.at, q.at + 1),
        crate::approvals::ApprovalAction::Playback,
    )
    .await?;
    let width = q.width.unwrap_or(160).clamp(32, 640);
    let jpeg = tokio::task::spawn_blocking(move || thumbs.thumbnail(&camera, q.at, width))
        .await
        .map_err(|_| ApiError::from(ServerError::Invalid("thumbnail task failed".into())))?
        .map_err(ApiError::not_found)?;
    let mut resp = jpeg.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(resp)
}

/// GET /api/cameras/{camera}/tracks: the tracked objects' boxes over a recorded range (their stored
/// paths: box size and ground point every 0.4 s), for drawing over playback; at most 10 minutes, 500
/// tracks. A sensitive camera's need an approval like its playback.
pub async fn tracks(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(camera): ApiPath<String>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<Value>> {
    if q.start < 0 || q.end <= q.start || q.end - q.start > 600_000 {
        return Err(ApiError::bad_request(
            "start and end are unix ms with start < end, at most 10 minutes apart",
        ));
    }
    super::approvals::require(
        &ctx,
        &p,
        &camera,
        (q.start, q.end),
        crate::approvals::ApprovalAction::Playback,
    )
    .await?;
    let (from, to) = (q.start, q.end);
    let paths =
        super::events::with_reader(&ctx, move |r| r.paths_between(&camera, from, to, 500)).await?;
    Ok(Json(json!({ "paths": paths })))
}

/// A time range in unix ms.
#[derive(Deserialize)]
pub struct RangeQuery {
    start: i64,
    end: i64,
}

impl RangeQuery {
    fn check(&self) -> Result<(Time90k, Time90k), ApiError> {
        if self.start < 0 || self.end <= self.start || self.end - self.start > MAX_RANGE_MS {
            return Err(ApiError::bad_request(
                "start and end are unix ms with start < end, at most 24 hours apart",
            ));
        }
        Ok((Time90k(self.start * 90), Time90k(self.end * 90)))
    }
}

/// GET /api/cameras/{camera}/recordings.
pub async fn recordings(
    State(ctx): State<AppState>,
    ApiPath(camera): ApiPath<String>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> ApiResult<Json<Value>> {
    let (from, to) = q.check()?;
    let Some(store) = ctx.store.clone() else {
        return Ok(Json(json!([])));
    };
    let ranges = blocking(
        move || match store.reader()?.recordings(&camera, "main", from, to) {
            Ok(r) => Ok(r),
            Err(StoreError::UnknownCamera { .. } | StoreError::UnknownStream { .. }) => {
                Ok(Vec::new())
            }
            Err(e) => Err(e.into()),
        },
    )
    .await?;
    let list: Vec<Value> = ranges
        .into_iter()
        .map(|r| json!({"start": r.start.0.div_euclid(90), "end": r.end.0.div_euclid(90)}))
        .collect();
    Ok(Json(Value::Array(list)))
}

/// A `Write` that feeds a response body from a blocking thread.
struct ChannelWriter(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A body written by `f` on a blocking thread (bounded buffering: 8 chunks).
pub(crate) fn streamed(
    f: impl FnOnce(&mut dyn Write) -> Result<(), String> + Send + 'static,
) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter(tx.clone());
        if let Err(e) = f(&mut w) {
            tracing::debug!("streamed body ended early: {e}");
            let _ = tx.blocking_send(Err(std::io::Error::other(e)));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Body::from_stream(stream)
}

/// A single `bytes=` range of a file of `len` bytes: `Ok(None)` for no Range header, `Err` when
/// unsatisfiable or malformed.
fn byte_range(headers: &HeaderMap, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(v) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let spec = v.to_str().map_err(|_| ())?.trim();
    let spec = spec.strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') {
        return Err(());
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            (len.saturating_sub(n), len)
        }
        (s, "") => (s.parse().map_err(|_| ())?, len),
        (s, e) => {
            let e: u64 = e.parse().map_err(|_| ())?;
            (s.parse().map_err(|_| ())?, e.saturating_add(1).min(len))
        }
    };
    if start >= end || start >= len {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// GET /api/cameras/{camera}/playback.mp4.
pub async fn playback(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(camera): ApiPath<String>,
    ApiQuery(q): ApiQuery<RangeQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (from, to) = q.check()?;
    super::approvals::require(
        &ctx,
        &p,
        &camera,
        (q.start, q.end),
        crate::approvals::ApprovalAction::Playback,
    )
    .await?;
    let store = super::store_of(&ctx)?;
    // Privacy masks and the viewer's watermark are burned into the picture on the way out.
    let what = ctx.privacy.for_playback(&p.audit_name());
    if let Some(filter) = ctx.redactor.clone()
        && (what.watermark.is_some() || filter.has_masks(&camera))
    {
        return filtered_playback(&ctx, &p, &ip, &camera, &q, (from, to), what, filter).await;
    }
    let cam = camera.clone();
    let export = blocking(move || Ok(store.reader()?.export(&cam, "main", from, to)?)).await?;
    let len = export.file.len();
    let Ok(range) = byte_range(&headers, len) else {
        let mut r = ApiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "bad_range",
            "the Range header is malformed or outside the file",
        )
        .into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
            r.headers_mut().insert(header::CONTENT_RANGE, v);
        }
        return Ok(r);
    };
    audit_play(&ctx, &p, &ip, &camera, &q, "").await?;
    let (start, end) = range.unwrap_or((0, len));
    let file = export.file.clone();
    let body = streamed(move |w| {
        file.write_range(start, end, w, &mut |_| {})
            .map_err(|e| e.to_string())
    });
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if range.is_some() {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end - 1)) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(resp)
}

/// Every playback is audited, whatever its range; the repeated range requests of one player (same
/// session or token, camera and time range) within a few minutes are one entry.
async fn audit_play(
    ctx: &AppState,
    p: &Principal,
    ip: &ClientIp,
    camera: &str,
    q: &RangeQuery,
    note: &str,
) -> ApiResult<()> {
    if ctx
        .plays
        .first(format!("{}\n{camera}\n{}\n{}", p.via_key(), q.start, q.end))
    {
        let sec = ctx.security.clone();
        let (name, ip, camera) = (p.audit_name(), ip.to_string(), camera.to_string());
        let detail = format!("{}{note}", crate::audit::span(q.start, q.end));
        blocking(move || {
            sec.audit_or_log(&name, &ip, "recording.play", &camera, &detail);
            Ok(())
        })
        .await?;
    }
    Ok(())
}

/// Playback re-encoded with the camera's privacy masks and the viewer's watermark: a fragmented MP4
/// streamed as it is made (no length, no byte ranges: the player starts after the first fragment and
/// seeks within what it has; a seek further asks for a new range). One re-encoding per core at a time;
/// beyond that 503 `busy` with `Retry-After`.
#[allow(clippy::too_many_arguments)]
async fn filtered_playback(
    ctx: &AppState,
    p: &Principal,
    ip: &ClientIp,
    camera: &str,
    q: &RangeQuery,
    (from, to): (Time90k, Time90k),
    what: vigil_core::Redaction,
    filter: std::sync::Arc<dyn vigil_store::ExportFilter>,
) -> ApiResult<Response> {
    let Ok(permit) = ctx.filtered_playbacks.clone().try_acquire_owned() else {
        let mut r = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "every core is re-encoding a masked or watermarked playback; try again shortly",
        )
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return Ok(r);
    };
    let store = super::store_of(ctx)?;
    let cam = camera.to_string();
    let export =
        blocking(move || Ok(store.reader()?.export_fragmented(&cam, "main", from, to)?)).await?;
    let mut note = String::from(", masked");
    if what.watermark.is_some() {
        note.push_str(", watermarked");
    }
    audit_play(ctx, p, ip, camera, q, &note).await?;
    let cam = camera.to_string();
    let body = streamed(move |w| {
        let _permit = permit;
        let mut frames = vigil_mp4::fragmented_frames::FragmentedFrames::new(&export.file)
            .map(|f| f.map_err(|e| e.to_string()));
        filter
            .stream(&cam, &what, &mut frames, &mut |chunk| w.write_all(chunk))
            .map(|_| ())
    });
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
    Ok(resp)
}

/// POST /api/exports body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    camera: String,
    start: i64,
    end: i64,
    /// A signed evidence bundle (zip) instead of a bare MP4.
    #[serde(default)]
    evidence: bool,
    /// The case an evidence bundle belongs to.
    #[serde(default)]
    case: Option<String>,
    /// Why the evidence is exported.
    #[serde(default)]
    reason: Option<String>,
    /// Blur faces and licence plates (default: yes, unless the caller holds `export_unredacted`;
    /// `false` needs that permission).
    #[serde(default)]
    redact: Option<bool>,
    /// The evidence case the export is filed under (its chain of custody records it).
    #[serde(default)]
    case_id: Option<i64>,
}

/// A case or reason: at most 200 characters, no control characters.
fn evidence_text(what: &str, v: &Option<String>) -> Result<Option<String>, ApiError> {
    match v {
        None => Ok(None),
        Some(t) if t.chars().count() > 200 || t.chars().any(char::is_control) => {
            Err(ApiError::bad_request(format!(
                "{what}: at most 200 characters, no control characters"
            )))
        }
        Some(t) => Ok(Some(t.clone())),
    }
}

/// POST /api/exports.
pub async fn export_start(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiJson(req): ApiJson<ExportRequest>,
) -> ApiResult<Response> {
    RangeQuery {
        start: req.start,
        end: req.end,
    }
    .check()?;
    let c = ctx.clone();
    let cam = req.camera.clone();
    let known = blocking(move || Ok(c.camera_names().contains(&cam))).await?;
    if !known || !p.sees(&req.camera) {
        return Err(ApiError::not_found(format!("no camera {:?}", req.camera)));
    }
    super::approvals::require(
        &ctx,
        &p,
        &req.camera,
        (req.start, req.end),
        crate::approvals::ApprovalAction::Export,
    )
    .await?;
    let store = super::store_of(&ctx)?;
    let case = match req.case_id {
        None => None,
        Some(id) => {
            let sec = ctx.security.clone();
            Some(
                blocking(move || sec.case(id))
                    .await?
                    .ok_or_else(|| ApiError::not_found(format!("no case {id}")))?,
            )
        }
    };
    let evidence = if req.evidence {
        Some(crate::exports::EvidenceOptions {
            case: evidence_text("case", &req.case)?
                .or_else(|| case.as_ref().map(|c| c.title.clone())),
            reason: evidence_text("reason", &req.reason)?,
            by: p.audit_name(),
            ip: ip.to_string(),
        })
    } else if req.case.is_some() || req.reason.is_some() {
        return Err(ApiError::bad_request(
            "case and reason belong to an evidence export (\"evidence\": true)",
        ));
    } else {
        None
    };
    let may_unredact = p.can(Permission::ExportUnredacted);
    let redacted = req.redact.unwrap_or(!may_unredact);
    if !redacted && !may_unredact {
        return Err(ApiError::forbidden(
            "an unredacted export needs the export_unredacted permission",
        ));
    }
    let redaction = ctx.privacy.for_export(redacted, &p.audit_name());
    let id = ctx
        .exports
        .start(
            store,
            crate::exports::ExportOrder {
                camera: req.camera.clone(),
                start_ms: req.start,
                end_ms: req.end,
                user_id: p.user_id,
                evidence,
                redaction: redaction.clone(),
                filter: ctx.redactor.clone(),
            },
        )
        .map_err(|e| match e {
            ServerError::Invalid(m) if m.contains("running") => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "busy", m)
            }
            other => other.into(),
        })?;
    let sec = ctx.security.clone();
    let (name, ip, detail, cam) = (
        p.audit_name(),
        ip.to_string(),
        format!(
            "{}, export {id}, {}",
            crate::audit::span(req.start, req.end),
            describe_redaction(&redaction)
        ),
        req.camera,
    );
    let export_id = id.clone();
    blocking(move || {
        sec.audit_or_log(&name, &ip, "export.create", &cam, &detail);
        if let Some(case) = case {
            sec.add_case_export(case.id, &export_id)?;
            sec.audit(
                &name,
                &ip,
                "case.export",
                &crate::cases::target(case.id),
                &format!("export {export_id} of {cam}: {detail}"),
            )?;
        }
        Ok(())
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id }))).into_response())
}

/// How the audit log describes an export's privacy treatment.
fn describe_redaction(r: &vigil_core::Redaction) -> String {
    let mut blurred: Vec<&str> = Vec::new();
    if r.faces {
        blurred.push("faces");
    }
    if r.plates {
        blurred.push("plates");
    }
    let mut text = if blurred.is_empty() {
        "unredacted".to_string()
    } else {
        format!("redacted ({})", blurred.join(", "))
    };
    if r.watermark.is_some() {
        text.push_str(", watermarked");
    }
    text
}

fn visible_job(
    ctx: &AppState,
    p: &Principal,
    id: &str,
) -> Result<crate::exports::ExportJob, ApiError> {
    if !valid_id(id) {
        return Err(ApiError::bad_request(
            "export ids are 32 lower-case hex digits",
        ));
    }
    ctx.exports
        .get(id)?
        .filter(|j| p.sees(&j.camera) && (j.user_id == p.user_id || p.role == Role::Admin))
        .ok_or_else(|| ApiError::not_found(format!("no export {id}")))
}

/// GET /api/exports/{id}.
pub async fn export_status(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<crate::exports::ExportJob>> {
    Ok(Json(visible_job(&ctx, &p, &id)?))
}

/// GET /api/exports/{id}/file.
pub async fn export_file(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
    Extension(ip): Extension<ClientIp>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let job = visible_job(&ctx, &p, &id)?;
    let path = match job.state {
        ExportState::Done => ctx.exports.file(&id)?,
        ExportState::Expired => {
            return Err(ApiError::new(
                StatusCode::GONE,
                "expired",
                "the export is older than the export retention: its file was deleted",
            ));
        }
        ExportState::Running | ExportState::Failed => None,
    }
    .ok_or_else(|| ApiError::conflict("the export is not finished"))?;
    let len = std::fs::metadata(&path).map_err(ApiError::internal)?.len();
    let sec = ctx.security.clone();
    let (name, ip2, cam) = (p.audit_name(), ip.to_string(), job.camera.clone());
    blocking(move || {
        sec.audit_or_log(&name, &ip2, "export.download", &cam, &id);
        if let Some(case) = sec.case_of_export(&id)? {
            sec.audit(
                &name,
                &ip2,
                "case.download",
                &crate::cases::target(case),
                &format!("export {id} of {cam}"),
            )?;
        }
        Ok(())
    })
    .await?;
    let zip = path.extension().is_some_and(|e| e == "zip");
    let body = streamed(move |w| {
        let mut f = std::fs::File::open(&path).map_err(|e| e.to_string())?;
        std::io::copy(&mut f, w)
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
    let safe: String = job
        .camera
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(if zip { "application/zip" } else { "video/mp4" }),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"vigil-{}{safe}-{}.{}\"",
        if zip { "evidence-" } else { "" },
        vigil_core::time::utc_file_stamp(job.start),
        if zip { "zip" } else { "mp4" }
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
