//! What the routes work with ([`AppContext`]) and the extension points other parts plug in: camera
//! health ([`StatusSource`]), live video ([`LiveSource`]) and the web UI's files ([`Assets`]).

use crate::auth::Security;
use crate::exports::Exports;
use axum::extract::Request;
use axum::response::Response;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use vigil_store::Store;

/// Health figures of one camera.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CameraHealth {
    /// Camera name.
    pub name: String,
    /// Its main stream is recorded.
    pub recording: bool,
    /// It is analysed.
    pub analysing: bool,
    /// Its stream is connected.
    pub online: bool,
    /// Frames per second received.
    pub fps_in: f64,
    /// Frames per second analysed.
    pub fps_analysed: f64,
    /// Frames skipped by analysis (since start).
    pub skipped: u64,
    /// Reconnections (since start).
    pub reconnects: u64,
    /// Bytes of recordings kept.
    pub recording_bytes: u64,
    /// Frames its stream reordered in the last complete GOP (B-frames; 0 without them). A camera that
    /// switches between GOPs with and without B-frames shows it here (and in its log).
    pub reorder_depth: u32,
    /// Times the camera's clock jumped or stepped back (since start); recording continues across them.
    pub timestamp_jumps: u64,
}

/// Detector latency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DetectorHealth {
    /// Median inference latency (ms).
    pub latency_ms_p50: f64,
    /// 99th percentile inference latency (ms).
    pub latency_ms_p99: f64,
}

/// What the system page and `/metrics` show.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SystemStatus {
    /// Cameras, by name.
    pub cameras: Vec<CameraHealth>,
    /// The shared detector.
    pub detector: DetectorHealth,
}

/// Where camera health comes from (the running engine in `vigil run`).
pub trait StatusSource: Send + Sync {
    /// The current figures.
    fn status(&self) -> SystemStatus;

    /// The camera names (asked on every camera-scoped request; override when `status` is costly).
    fn camera_names(&self) -> Vec<String> {
        self.status().cameras.into_iter().map(|c| c.name).collect()
    }
}

/// Camera health from the recording store alone: every camera in the index, recording, nothing
/// live (for tools and tests that serve a store without running cameras).
pub struct StoreStatus(pub Arc<Store>);

impl StatusSource for StoreStatus {
    fn status(&self) -> SystemStatus {
        let cameras = match self.0.status() {
            Ok(s) => s
                .cameras
                .into_iter()
                .map(|c| CameraHealth {
                    name: c.name,
                    recording: true,
                    recording_bytes: c.used_bytes,
                    ..CameraHealth::default()
                })
                .collect(),
            Err(e) => {
                tracing::warn!("store status: {e}");
                Vec::new()
            }
        };
        SystemStatus {
            cameras,
            detector: DetectorHealth::default(),
        }
    }

    fn camera_names(&self) -> Vec<String> {
        match self.0.reader().and_then(|r| r.cameras()) {
            Ok(c) => c.into_iter().map(|c| c.name).collect(),
            Err(e) => {
                tracing::warn!("store cameras: {e}");
                Vec::new()
            }
        }
    }
}

/// A boxed future answering a request.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// Live video of cameras (plugged in by the live-streaming part). The server has already checked
/// that the caller may watch `camera` and written the audit entry; the implementation upgrades the
/// request to a WebSocket (e.g. with `axum::extract::ws::WebSocketUpgrade::from_request`) and
/// streams.
pub trait LiveSource: Send + Sync {
    /// Serves `GET /api/cameras/{camera}/live`. `allowed` says whether the caller may still watch
    /// (session not ended or expired, token not revoked, user not disabled, camera still in scope); a
    /// long-lived stream calls it every [`RECHECK_EVERY`] and closes when it says no. It blocks on the
    /// security database: call it from a blocking task.
    fn serve(&self, camera: String, request: Request, allowed: StillAllowed) -> ResponseFuture;
}

/// Re-checks a long-lived connection's caller (see [`LiveSource::serve`]).
pub type StillAllowed = Arc<dyn Fn() -> bool + Send + Sync>;

/// How often long-lived connections re-check their caller.
pub const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// One embedded file of the web UI.
#[derive(Debug, Clone)]
pub struct Asset {
    /// The bytes.
    pub bytes: std::borrow::Cow<'static, [u8]>,
    /// Its `Content-Type`.
    pub content_type: &'static str,
}

/// The web UI's files (plugged in by the UI part): `/` is `index.html`, `/assets/<path>` the rest.
pub trait Assets: Send + Sync {
    /// The file at `path` (`index.html`, `app.js`, ...; already checked to contain no `..`, no
    /// leading `/`, no backslash and no NUL).
    fn get(&self, path: &str) -> Option<Asset>;
}

/// Everything the routes need. Build with [`AppContext::new`], then set the optional parts.
pub struct AppContext {
    /// Users, sessions, tokens, audit log.
    pub security: Arc<Security>,
    /// The recording and event store (absent: no recordings, no events).
    pub store: Option<Arc<Store>>,
    /// Camera health.
    pub status: Arc<dyn StatusSource>,
    /// Live video (absent: the live route answers 503).
    pub live: Option<Arc<dyn LiveSource>>,
    /// The web UI (absent: `/` shows a short note).
    pub assets: Option<Arc<dyn Assets>>,
    /// Export jobs and their files.
    pub exports: Exports,
    /// When the server started.
    pub started: Instant,
    /// Pooled event-store connections.
    pub(crate) event_readers: crate::routes::events::ReaderPool,
}

impl AppContext {
    /// A context with a security database, an optional store and a status source; exports are
    /// written under `data_dir/exports`.
    pub fn new(
        security: Arc<Security>,
        store: Option<Arc<Store>>,
        status: Arc<dyn StatusSource>,
        data_dir: &std::path::Path,
    ) -> AppContext {
        AppContext {
            security,
            store,
            status,
            live: None,
            assets: None,
            exports: Exports::new(data_dir.join("exports")),
            started: Instant::now(),
            event_readers: Default::default(),
        }
    }

    /// Every camera known: the status source's and the store's, by name.
    pub fn camera_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.status.camera_names();
        if let Some(store) = &self.store
            && let Ok(reader) = store.reader()
            && let Ok(cams) = reader.cameras()
        {
            names.extend(cams.into_iter().map(|c| c.name));
        }
        names.sort();
        names.dedup();
        names
    }
}

/// The state the router holds.
pub type AppState = Arc<AppContext>;
