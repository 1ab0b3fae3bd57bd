//! System health, Prometheus metrics, the OpenAPI description and the web UI's files.

use super::blocking;
use super::extract::ApiPath;
use crate::context::AppState;
use crate::error::{ApiError, ApiResult};
use crate::perms::Principal;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};
use std::fmt::Write;

/// GET /api/system.
pub async fn system(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Value>> {
    let c = ctx.clone();
    let (status, storage) = blocking(move || {
        let status = c.status.status();
        let storage = match &c.store {
            Some(store) => store.status().map(|s| json!(s.dirs)).unwrap_or_else(|e| {
                tracing::warn!("store status: {e}");
                json!([])
            }),
            None => json!([]),
        };
        Ok((status, storage))
    })
    .await?;
    let cameras: Vec<_> = status
        .cameras
        .into_iter()
        .filter(|c| p.sees(&c.name))
        .collect();
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": ctx.started.elapsed().as_secs_f64(),
        "cameras": cameras,
        "detector": status.detector,
        "storage": storage,
    })))
}

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// GET /metrics.
pub async fn metrics(State(ctx): State<AppState>) -> ApiResult<Response> {
    let c = ctx.clone();
    let status = blocking(move || Ok(c.status.status())).await?;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, values: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in values {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let per = |f: &dyn Fn(&crate::context::CameraHealth) -> f64| -> Vec<(String, f64)> {
        status
            .cameras
            .iter()
            .map(|c| (format!("{{camera=\"{}\"}}", label(&c.name)), f(c)))
            .collect()
    };
    metric(
        "vigil_camera_online",
        "gauge",
        "1 when the camera's stream is connected",
        per(&|c| f64::from(u8::from(c.online))),
    );
    metric(
        "vigil_camera_fps_in",
        "gauge",
        "frames per second received",
        per(&|c| c.fps_in),
    );
    metric(
        "vigil_camera_fps_analysed",
        "gauge",
        "frames per second analysed",
        per(&|c| c.fps_analysed),
    );
    metric(
        "vigil_camera_skipped_frames_total",
        "counter",
        "frames skipped by analysis",
        per(&|c| c.skipped as f64),
    );
    metric(
        "vigil_camera_reconnects_total",
        "counter",
        "stream reconnections",
        per(&|c| c.reconnects as f64),
    );
    metric(
        "vigil_camera_reorder_depth",
        "gauge",
        "frames the stream reordered in its last GOP (B-frames; 0 without)",
        per(&|c| f64::from(c.reorder_depth)),
    );
    metric(
        "vigil_camera_timestamp_jumps_total",
        "counter",
        "camera clock jumps and steps back",
        per(&|c| c.timestamp_jumps as f64),
    );
    metric(
        "vigil_recording_bytes",
        "gauge",
        "bytes of recordings kept",
        per(&|c| c.recording_bytes as f64),
    );
    metric(
        "vigil_detector_latency_ms",
        "gauge",
        "detector inference latency",
        vec![
            ("{quantile=\"0.5\"}".into(), status.detector.latency_ms_p50),
            ("{quantile=\"0.99\"}".into(), status.detector.latency_ms_p99),
        ],
    );
    metric(
        "vigil_uptime_seconds",
        "gauge",
        "seconds since the server started",
        vec![(String::new(), ctx.started.elapsed().as_secs_f64())],
    );
    let mut resp = out.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(resp)
}

/// GET /api/openapi.json.
pub async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

/// Whether a UI path is safe to look up: relative, no `..`, no backslash, no NUL, no empty segment.
pub fn safe_asset_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 200
        && !path.starts_with('/')
        && !path.contains(['\\', '\0', ':'])
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != ".." && seg != ".")
}

fn serve_asset(ctx: &AppState, path: &str) -> Response {
    match ctx.assets.as_ref().and_then(|a| a.get(path)) {
        Some(asset) => {
            let mut r = asset.bytes.into_owned().into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            );
            r
        }
        None => ApiError::not_found("no such file").into_response(),
    }
}

/// GET /.
pub async fn index(State(ctx): State<AppState>) -> Response {
    if ctx.assets.is_none() {
        return Html(
            "<!doctype html><title>Vigil</title><p>Vigil's API is running; the web UI is not \
             built into this binary. See <a href=\"/api/openapi.json\">/api/openapi.json</a>.</p>",
        )
        .into_response();
    }
    serve_asset(&ctx, "index.html")
}

/// GET /assets/{*path}.
pub async fn asset(State(ctx): State<AppState>, ApiPath(path): ApiPath<String>) -> Response {
    if !safe_asset_path(&path) {
        return ApiError::bad_request("bad file path").into_response();
    }
    serve_asset(&ctx, &path)
}

#[cfg(test)]
mod tests {
    use super::safe_asset_path;

    #[test]
    fn asset_paths() {
        assert!(safe_asset_path("app.js"));
        assert!(safe_asset_path("img/logo.svg"));
        for bad in [
            "",
            "../etc/passwd",
            "a/../../b",
            "/etc/passwd",
            "a\\b",
            "a//b",
            "./a",
            "c:/x",
            "a\0",
        ] {
            assert!(!safe_asset_path(bad), "{bad:?}");
        }
    }
}
