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
    /// Frames per second it should analyse (0 when not analysed).
    pub fps_target: f64,
    /// Why analysis falls short, e.g. `analysis degraded: 3.1 fps of 5` when the shared detector cannot keep
    /// up and every camera that needs it gets the same lower rate; `None` when healthy.
    pub analysis_state: Option<String>,
    /// Frames its stream reordered in the last complete GOP (B-frames; 0 without them). A camera that
    /// switches between GOPs with and without B-frames shows it here (and in its log).
    pub reorder_depth: u32,
    /// Times the camera's clock jumped or stepped back (since start); recording continues across them.
    pub timestamp_jumps: u64,
    /// Camera health states on now (`covered`, `offline`, `stream_quality`...; empty when all is well):
    /// each also a `camera_health` event.
    pub health: Vec<String>,
    /// When its analysis last took new rules saved from the browser (unix ms; `None`: the rules it
    /// started with).
    pub rules_changed_ms: Option<i64>,
    /// Crowd counting for its crowding rules and occupancy (`None` when nothing wants it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crowd: Option<CrowdHealth>,
}

/// What a camera's crowd counting (for its crowding rules and occupancy) costs and finds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CrowdHealth {
    /// Counts made since the analysis started.
    pub counts: u64,
    /// Model runs (whole frame and tiles) they took.
    pub runs: u64,
    /// Mean wall time of a count, milliseconds.
    pub mean_ms: f64,
    /// People in view at the last count.
    pub people: u32,
}

/// Detector latency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DetectorHealth {
    /// Median inference latency (ms).
    pub latency_ms_p50: f64,
    /// 99th percentile inference latency (ms).
    pub latency_ms_p99: f64,
    /// The common lower rate (analysed frames per second) the degraded cameras get when the detector
    /// cannot keep up with all of them; `None` while it keeps up.
    pub fair_fps: Option<f64>,
}

/// One consumer of the event bus (event store, alerts, live UI): how far behind it is and what it lost.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConsumerHealth {
    /// Its name (`store`, `alerts`, `live-ui`).
    pub name: String,
    /// Messages queued for it.
    pub depth: usize,
    /// Age of the oldest queued message, ms.
    pub lag_ms: u64,
    /// Messages dropped because it was a full queue behind.
    pub dropped: u64,
    /// Snapshot images shed to bound memory.
    pub shed: u64,
    /// Messages whose handling panicked.
    pub panics: u64,
}

/// The MQTT broker connection (alerts and Home Assistant).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MqttHealth {
    /// `connecting`, `connected`, `disconnected`, `refused` (credentials or client id refused),
    /// `kicked` (the broker drops the connection for another client with the same client id) or
    /// `stopped` (the connection task ended unexpectedly).
    pub state: String,
    /// The client id in use.
    pub client_id: String,
    /// Reconnections since start.
    pub reconnects: u64,
    /// Messages waiting for the broker.
    pub queued: usize,
    /// The last connection error.
    pub last_error: Option<String>,
}

/// What the system page and `/metrics` show.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SystemStatus {
    /// Cameras, by name.
    pub cameras: Vec<CameraHealth>,
    /// The shared detector.
    pub detector: DetectorHealth,
    /// The event bus's consumers.
    pub consumers: Vec<ConsumerHealth>,
    /// Recording index commits (last 1024): whether recording waits behind anything.
    pub segment_commit: vigil_core::latency::LatencySummary,
    /// Degraded states in words (e.g. an event consumer far behind), empty when all is well.
    pub warnings: Vec<String>,
    /// The MQTT connection, when MQTT is configured.
    pub mqtt: Option<MqttHealth>,
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
            segment_commit: self.0.segment_commit_latency(),
            ..SystemStatus::default()
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
/// that the caller may watch `camera` and the request's `Origin`; the implementation upgrades the
/// request to a WebSocket (e.g. with `axum::extract::ws::WebSocketUpgrade::from_request`) and
/// streams. The view is audited when the answer is `101 Switching Protocols`.
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

/// Turns a photo (JPEG or PNG bytes) of one face into a face template, for enrolment through the API
/// (plugged in by the binary, which has the face models). The error says what is wrong with the photo
/// (no face, several faces, a face too small, not an image).
pub trait FaceEnroller: Send + Sync {
    /// The template of the one face in `photo`.
    fn template(&self, photo: &[u8]) -> Result<Vec<f32>, String>;
}

/// Small pictures of recorded moments for the timeline (plugged in by the binary, which decodes video).
pub trait Thumbnailer: Send + Sync {
    /// A JPEG about `width` pixels wide of the first picture recorded at or after `at_ms` (unix ms) on
    /// `camera`, privacy masks blacked out; the error says why there is none (blocking).
    fn thumbnail(&self, camera: &str, at_ms: i64, width: u32) -> Result<Vec<u8>, String>;
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
    /// Events pushed to browsers as they happen (absent: `/api/events/live` answers 503).
    pub events_feed: Option<crate::event_feed::EventFeed>,
    /// Tracked objects and zones drawn over live video (absent: the overlay route answers 503).
    pub overlays: Option<crate::overlay::Overlays>,
    /// The configuration file, read and changed from the browser (absent: `/api/config*` answer 503).
    pub config: Option<Arc<dyn crate::config_edit::ConfigEditor>>,
    /// Thumbnails of recorded moments (absent: the thumbnail route answers 503).
    pub thumbnails: Option<Arc<dyn Thumbnailer>>,
    /// Export jobs and their files.
    pub exports: Exports,
    /// Blurs faces and plates, blacks out privacy masks and burns in watermarks in exports (absent: an
    /// export that needs redaction fails saying so).
    pub redactor: Option<Arc<dyn vigil_store::ExportFilter>>,
    /// Re-encodes recorded segments with faces and plates blurred, for erasures by blurring (absent:
    /// `POST /api/erasures/blur` answers 503).
    pub rewriter: Option<Arc<dyn vigil_store::SegmentRewriter>>,
    /// What a redacted export blurs, and whether exports carry a watermark (`[privacy]`).
    pub privacy: crate::exports::PrivacyPolicy,
    /// Watchlists and their face templates (absent: no biometric data here to erase).
    pub identity: Option<Arc<std::sync::Mutex<vigil_identity::FaceBook>>>,
    /// Makes face templates from photos (absent: enrolment through the API answers 503).
    pub enroller: Option<Arc<dyn FaceEnroller>>,
    /// Similarity at and above which a face is an enrolled person (`[faces] threshold`).
    pub face_threshold: f32,
    /// The plate lists the analysis consults, editable from the UI (absent: `/api/plates/lists` is
    /// empty and refuses changes).
    pub plate_lists: Option<Arc<vigil_identity::PlateLists>>,
    /// Which cameras people walk between and how long it takes (`[[links.camera]]`): re-ranks "where
    /// else was this person?".
    pub camera_links: vigil_identity::CameraLinks,
    /// Each camera's time zone (`[rules.CAMERA] timezone`) for summaries (`/api/summary`); UTC otherwise.
    pub summary_zones: vigil_summary::Zones,
    /// The cameras with an ONVIF address, moved through `/api/cameras/{camera}/ptz` (empty: every camera
    /// answers that it has none).
    pub ptz: crate::routes::ptz::PtzCameras,
    /// Search: the site's names, time zone, sentence model and appearance index.
    pub search: crate::search::SearchContext,
    /// Rule severities and camera time zones for review (`/api/review*`).
    pub review: crate::review::ReviewSettings,
    /// Cameras whose recordings need a second user's approval to play or export.
    pub sensitive: std::collections::HashSet<String>,
    /// Origins besides the server's own whose pages may open live-video WebSockets (`[server]
    /// allowed_origins`, normalised with [`crate::origin::normalise`]).
    pub allowed_origins: Vec<String>,
    /// When the server started.
    pub started: Instant,
    /// The site's time zone and zones, for the dashboards (`/api/analytics`).
    pub site: Arc<vigil_bi::Site>,
    /// Where the scheduled reports are kept (`data_dir/reports`).
    pub reports_dir: std::path::PathBuf,
    /// Playbacks audited recently (repeats are merged).
    pub(crate) plays: crate::audit::Repeats,
    /// Pooled event-store connections.
    pub(crate) event_readers: crate::routes::events::ReaderPool,
    /// Recording integrity checks (`/api/integrity/checks`).
    pub(crate) integrity: crate::integrity_checks::IntegrityChecks,
    /// Rule previews on recent recordings (`/api/config/preview`).
    pub(crate) previews: crate::config_edit::Previews,
    /// Erasures by blurring (`/api/erasures/blur`).
    pub(crate) blurs: crate::routes::erasures::BlurJobs,
    /// Playbacks being re-encoded (masks, watermark) at once: one per core, a CPU's worth each.
    pub(crate) filtered_playbacks: Arc<tokio::sync::Semaphore>,
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
        let exports = Exports::new(data_dir.join("exports"), Arc::clone(&security));
        AppContext {
            security,
            store,
            status,
            live: None,
            assets: None,
            events_feed: None,
            overlays: None,
            config: None,
            thumbnails: None,
            exports,
            redactor: None,
            rewriter: None,
            privacy: Default::default(),
            identity: None,
            enroller: None,
            face_threshold: vigil_identity::config::DEFAULT_THRESHOLD,
            camera_links: Default::default(),
            summary_zones: Default::default(),
            ptz: Default::default(),
            plate_lists: None,
            search: Default::default(),
            review: Default::default(),
            sensitive: Default::default(),
            allowed_origins: Vec::new(),
            started: Instant::now(),
            site: Default::default(),
            reports_dir: data_dir.join("reports"),
            plays: Default::default(),
            event_readers: Default::default(),
            integrity: Default::default(),
            previews: Default::default(),
            blurs: Default::default(),
            filtered_playbacks: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
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
