//! System health, Prometheus metrics, the OpenAPI description and the web UI's files.

use super::blocking;
use super::extract::ApiPath;
use crate::context::AppState;
use crate::error::{ApiError, ApiResult};
use crate::perms::{Principal, Role};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};
use std::fmt::Write;

/// What of a storage directory's status others than admins see: no path, no disk sizes.
const PUBLIC_STORAGE_FIELDS: [&str; 9] = [
    "name",
    "online",
    "used_bytes",
    "max_bytes",
    "oldest_ms",
    "write_bytes_per_s",
    "days_until_full",
    "days_kept",
    "retention_days",
];

/// A storage directory's status as JSON, with its oldest recording's start in unix ms (`oldest_ms`)
/// beside the 90 kHz `oldest`.
fn dir_json(d: &vigil_store::DirStatus) -> Value {
    let mut v = json!(d);
    if let Value::Object(m) = &mut v {
        m.insert(
            "oldest_ms".into(),
            json!(
                d.oldest
                    .map(|t| t.0 / (vigil_core::time::TICKS_PER_SECOND / 1000))
            ),
        );
    }
    v
}

/// GET /api/system: storage paths and the sizes of the disks under them only for admins. `warnings` says
/// in words what is wrong now: event consumers behind or failing, MQTT down, and the storage conditions
/// in force (disk full, a directory offline, fewer days kept than the retention asks...).
pub async fn system(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Json<Value>> {
    let c = ctx.clone();
    let (mut status, storage, storage_warnings) = blocking(move || {
        let status = c.status.status();
        let (storage, warnings) = match &c.store {
            Some(store) => match store.status() {
                Ok(s) => (
                    Value::Array(s.dirs.iter().map(dir_json).collect()),
                    s.active_alerts.iter().map(|a| a.message.clone()).collect(),
                ),
                Err(e) => {
                    tracing::warn!("store status: {e}");
                    (json!([]), Vec::new())
                }
            },
            None => (json!([]), Vec::new()),
        };
        Ok((status, storage, warnings))
    })
    .await?;
    // Storage conditions may name paths: admins only.
    if p.role == Role::Admin {
        status.warnings.extend(storage_warnings);
    }
    let cameras: Vec<_> = status
        .cameras
        .into_iter()
        .filter(|c| p.sees(&c.name))
        .collect();
    let storage = match storage {
        Value::Array(dirs) if p.role != Role::Admin => Value::Array(
            dirs.into_iter()
                .map(|d| match d {
                    Value::Object(m) => Value::Object(
                        m.into_iter()
                            .filter(|(k, _)| PUBLIC_STORAGE_FIELDS.contains(&k.as_str()))
                            .collect(),
                    ),
                    other => other,
                })
                .collect(),
        ),
        other => other,
    };
    Ok(Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": ctx.started.elapsed().as_secs_f64(),
        "cameras": cameras,
        "detector": status.detector,
        "storage": storage,
        "mqtt": status.mqtt,
        "consumers": status.consumers,
        "warnings": status.warnings,
    })))
}

/// Escapes a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// GET /metrics: the per-camera series of the cameras the caller may see.
pub async fn metrics(
    State(ctx): State<AppState>,
    Extension(p): Extension<Principal>,
) -> ApiResult<Response> {
    let c = ctx.clone();
    let mut status = blocking(move || Ok(c.status.status())).await?;
    status.cameras.retain(|c| p.sees(&c.name));
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
        "vigil_camera_fps_target",
        "gauge",
        "frames per second the camera should analyse",
        per(&|c| c.fps_target),
    );
    metric(
        "vigil_camera_analysis_degraded",
        "gauge",
        "1 when the camera analyses less than 90% of its target rate (the shared detector cannot keep up)",
        per(&|c| f64::from(u8::from(c.analysis_state.is_some()))),
    );
    metric(
        "vigil_camera_health_problems",
        "gauge",
        "camera health states on now (covered, blocked, dark, defocused, moved, frozen, offline, stream_quality)",
        per(&|c| c.health.len() as f64),
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
    let crowd = |f: &dyn Fn(&crate::context::CrowdHealth) -> f64| -> Vec<(String, f64)> {
        status
            .cameras
            .iter()
            .filter_map(|c| {
                Some((
                    format!("{{camera=\"{}\"}}", label(&c.name)),
                    f(c.crowd.as_ref()?),
                ))
            })
            .collect()
    };
    metric(
        "vigil_camera_crowd_counts_total",
        "counter",
        "crowd counts made for crowding rules and occupancy (cameras that count)",
        crowd(&|c| c.counts as f64),
    );
    metric(
        "vigil_camera_crowd_model_runs_total",
        "counter",
        "detector runs (whole frame and tiles) spent on crowd counts",
        crowd(&|c| c.runs as f64),
    );
    metric(
        "vigil_camera_crowd_count_ms",
        "gauge",
        "mean wall time of a crowd count, milliseconds",
        crowd(&|c| c.mean_ms),
    );
    metric(
        "vigil_camera_crowd_people",
        "gauge",
        "people in view at the last crowd count",
        crowd(&|c| f64::from(c.people)),
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
    let consumer = |f: &dyn Fn(&crate::context::ConsumerHealth) -> f64| -> Vec<(String, f64)> {
        status
            .consumers
            .iter()
            .map(|c| (format!("{{consumer=\"{}\"}}", label(&c.name)), f(c)))
            .collect()
    };
    metric(
        "vigil_event_consumer_queue",
        "gauge",
        "event bus messages queued for the consumer",
        consumer(&|c| c.depth as f64),
    );
    metric(
        "vigil_event_consumer_lag_seconds",
        "gauge",
        "age of the oldest message the consumer has not taken",
        consumer(&|c| c.lag_ms as f64 / 1000.0),
    );
    metric(
        "vigil_event_consumer_dropped_total",
        "counter",
        "messages dropped because the consumer was a full queue behind",
        consumer(&|c| c.dropped as f64),
    );
    metric(
        "vigil_event_consumer_shed_total",
        "counter",
        "snapshot images shed to bound the consumer's memory",
        consumer(&|c| c.shed as f64),
    );
    metric(
        "vigil_event_consumer_panics_total",
        "counter",
        "messages whose handling panicked",
        consumer(&|c| c.panics as f64),
    );
    metric(
        "vigil_segment_commit_ms",
        "gauge",
        "recording index commit time, last 1024 segments",
        vec![
            ("{quantile=\"0.5\"}".into(), status.segment_commit.p50_ms),
            ("{quantile=\"0.99\"}".into(), status.segment_commit.p99_ms),
        ],
    );
    if let Some(m) = &status.mqtt {
        metric(
            "vigil_mqtt_connected",
            "gauge",
            "1 while connected to the MQTT broker",
            vec![(
                format!("{{state=\"{}\"}}", label(&m.state)),
                f64::from(u8::from(m.state == "connected")),
            )],
        );
        metric(
            "vigil_mqtt_reconnects_total",
            "counter",
            "MQTT reconnections",
            vec![(String::new(), m.reconnects as f64)],
        );
    }
    metric(
        "vigil_analysis_fair_fps",
        "gauge",
        "the common lower analysis rate of the degraded cameras (absent while the detector keeps up)",
        status
            .detector
            .fair_fps
            .map(|f| (String::new(), f))
            .into_iter()
            .collect(),
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
