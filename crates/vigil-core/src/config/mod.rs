//! Configuration building blocks shared by every part of Vigil, and located error reports.
//!
//! The whole `vigil.toml` is composed in the `vigil-config` crate from each part's own section; this module
//! holds the sections that belong to no single part (`[server]`, `[analysis]`, `[[camera]]`) and the
//! machinery that turns a TOML or validation problem into a [`ConfigErrors`] report: every problem with its
//! line, column, field path (`camera[1].main`) and the offending source line ([`parse_toml`]). Reading the
//! file is the caller's job, so this crate stays free of I/O.
//!
//! ```toml
//! [[camera]]
//! name = "front-door"
//! main = "rtsp://192.168.1.20:554/Streaming/Channels/101"
//! sub = "rtsp://192.168.1.20:554/Streaming/Channels/102"
//! username = "vigil"
//! password = "change-me"
//! roles = ["record", "analyze"]
//! retention = { max_days = 30, max_bytes = "500 GB" }
//! ```
//!
//! Camera passwords are held in a [`Secret`] whose `Debug`/`Display` print `***`, and configuration error
//! reports mask URL user-info and the values of secret-named keys in the lines and messages they quote.
//! They are plain text in the file for now; once the store has a master key they will be stored
//! encrypted (and the file will only reference them).

mod autotrack;
mod bytesize;
mod diagnostic;
mod redact;
mod validate;

pub use autotrack::{AutotrackConfig, parse_duration};
pub use bytesize::ByteSize;
pub use diagnostic::{ConfigDiagnostic, ConfigErrors};
pub use validate::{FieldPath, Problem, Seg, key, validate_cameras};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use url::Url;

/// Parses TOML text into `T`, then runs `validate` on it. `origin` names the source in messages (usually the
/// file path). On failure every problem found is returned, each located at its line, column and field.
pub fn parse_toml<T: DeserializeOwned>(
    text: &str,
    origin: &str,
    validate: impl FnOnce(&T) -> Vec<Problem>,
) -> Result<T, ConfigErrors> {
    let document = match toml::de::DeTable::parse(text) {
        Ok(document) => document,
        Err(err) => return Err(ConfigErrors::from_toml(origin, text, None, &err)),
    };
    let value: T = match toml::from_str(text) {
        Ok(value) => value,
        Err(err) => return Err(ConfigErrors::from_toml(origin, text, Some(&document), &err)),
    };
    let problems = validate(&value);
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(ConfigErrors::from_problems(
            origin, text, &document, problems,
        ))
    }
}

/// `[server]` section: the HTTPS API and web UI.
///
/// ```toml
/// [server]
/// listen = "0.0.0.0:8443"
/// # tls_cert = "/etc/vigil/cert.pem"     # both or neither; default: generated on first start
/// # tls_key = "/etc/vigil/key.pem"
/// session_idle_minutes = 30
/// session_max_hours = 12
/// require_mfa = ["admin"]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port of the HTTPS API and UI (default `0.0.0.0:8443`).
    #[serde(default = "ServerConfig::default_listen")]
    pub listen: SocketAddr,
    /// PEM certificate chain to serve; absent: a self-signed certificate generated on first start under
    /// `data_dir/tls/` and reused.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS (default false). Refused unless `listen` is a loopback
    /// address: for a reverse proxy on the same machine that terminates TLS.
    #[serde(default)]
    pub http_loopback_only: bool,
    /// A session ends after this many minutes without a request (default 30).
    #[serde(default = "ServerConfig::default_idle")]
    pub session_idle_minutes: u64,
    /// A session ends this many hours after login whatever its use (default 12).
    #[serde(default = "ServerConfig::default_max_hours")]
    pub session_max_hours: u64,
    /// Roles whose users must use TOTP MFA (`admin`, `operator`, `viewer`, `auditor`; default none).
    /// A user of such a role without MFA can only enrol MFA until they have.
    #[serde(default)]
    pub require_mfa: Vec<String>,
    /// Origins (`https://host[:port]`) besides the server's own whose pages may open the live-video
    /// WebSocket, e.g. the public name of a reverse proxy (default none: only the server's own origin).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// A syslog datagram socket (e.g. `/dev/log`) to which every audit-log anchor (the newest entry's
    /// chain hash, HMAC'd with the audit key) is also sent, so that a copy lives off the database
    /// (default none).
    #[serde(default)]
    pub audit_syslog: Option<PathBuf>,
    /// Hours a finished export's file is kept for download before it is deleted (default 24).
    #[serde(default = "ServerConfig::default_export_hours")]
    pub export_retention_hours: u64,
    /// Connections open at once, in all (default 1024; at most half the open-file limit is used).
    /// Past it a new connection displaces one not serving a request: the oldest that has made no
    /// request yet, else the one quiet the longest.
    #[serde(default = "ServerConfig::default_max_connections")]
    pub max_connections: usize,
    /// Connections open at once from one IP address (default 64; live-view WebSockets count).
    #[serde(default = "ServerConfig::default_max_per_address")]
    pub max_connections_per_address: usize,
    /// Seconds a client has to finish the TLS handshake (default 10).
    #[serde(default = "ServerConfig::default_ten")]
    pub handshake_timeout_seconds: u64,
    /// Seconds a client has to send a request head, from its first byte (default 10).
    #[serde(default = "ServerConfig::default_ten")]
    pub header_timeout_seconds: u64,
    /// Seconds a connection may stay without a byte either way before it is closed (default 60;
    /// live-view WebSockets excepted).
    #[serde(default = "ServerConfig::default_idle_timeout")]
    pub idle_timeout_seconds: u64,
}

impl ServerConfig {
    fn default_listen() -> SocketAddr {
        SocketAddr::from(([0, 0, 0, 0], 8443))
    }

    fn default_idle() -> u64 {
        30
    }

    fn default_max_hours() -> u64 {
        12
    }

    fn default_export_hours() -> u64 {
        24
    }

    fn default_max_connections() -> usize {
        1024
    }

    fn default_max_per_address() -> usize {
        64
    }

    fn default_ten() -> u64 {
        10
    }

    fn default_idle_timeout() -> u64 {
        60
    }

    /// The role names `require_mfa` accepts.
    pub const ROLES: [&'static str; 5] = ["admin", "operator", "viewer", "auditor", "analyst"];

    /// What serde cannot check: plain HTTP only on loopback, certificate and key together, sane
    /// timeouts, known roles. Paths are relative to the `[server]` table.
    pub fn problems(&self) -> Vec<Problem> {
        let at = |k: &str, m: String| Problem::new(vec![key("server"), key(k)], m);
        let mut out = Vec::new();
        if self.http_loopback_only && !self.listen.ip().is_loopback() {
            out.push(at(
                "http_loopback_only",
                format!(
                    "plain HTTP is only allowed on a loopback address, but listen is {} \
                     (use 127.0.0.1 or [::1], or serve HTTPS)",
                    self.listen
                ),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            let k = if self.tls_cert.is_some() {
                "tls_key"
            } else {
                "tls_cert"
            };
            out.push(at(k, "tls_cert and tls_key must be given together".into()));
        }
        if self.session_idle_minutes == 0 || self.session_idle_minutes > 24 * 60 {
            out.push(at(
                "session_idle_minutes",
                "must be between 1 and 1440".into(),
            ));
        }
        if self.session_max_hours == 0 || self.session_max_hours > 24 * 30 {
            out.push(at("session_max_hours", "must be between 1 and 720".into()));
        }
        if self.export_retention_hours == 0 || self.export_retention_hours > 24 * 365 {
            out.push(at(
                "export_retention_hours",
                "must be between 1 and 8760".into(),
            ));
        }
        for (k, v, max) in [
            ("max_connections", self.max_connections as u64, 1_000_000),
            (
                "max_connections_per_address",
                self.max_connections_per_address as u64,
                1_000_000,
            ),
            (
                "handshake_timeout_seconds",
                self.handshake_timeout_seconds,
                3600,
            ),
            ("header_timeout_seconds", self.header_timeout_seconds, 3600),
            ("idle_timeout_seconds", self.idle_timeout_seconds, 86_400),
        ] {
            if v == 0 || v > max {
                out.push(at(k, format!("must be between 1 and {max}")));
            }
        }
        for (i, r) in self.require_mfa.iter().enumerate() {
            if !Self::ROLES.contains(&r.as_str()) {
                out.push(Problem::new(
                    vec![key("server"), key("require_mfa"), Seg::Index(i)],
                    format!("unknown role {r:?} (known: {})", Self::ROLES.join(", ")),
                ));
            }
        }
        for (i, o) in self.allowed_origins.iter().enumerate() {
            if let Some(why) = origin_problem(o) {
                out.push(Problem::new(
                    vec![key("server"), key("allowed_origins"), Seg::Index(i)],
                    format!("{o:?} is not an origin: {why} (write it like \"https://vigil.example.com\")"),
                ));
            }
        }
        out
    }
}

/// Why `text` is not an `http(s)://host[:port]` origin, or `None` when it is one.
fn origin_problem(text: &str) -> Option<&'static str> {
    let Ok(url) = Url::parse(text) else {
        return Some("it does not parse as a URL");
    };
    if !matches!(url.scheme(), "https" | "http") {
        return Some("the scheme must be https or http");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Some("it has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some("it must not contain credentials");
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Some("an origin has no path, query or fragment");
    }
    None
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: Self::default_listen(),
            tls_cert: None,
            tls_key: None,
            http_loopback_only: false,
            session_idle_minutes: Self::default_idle(),
            session_max_hours: Self::default_max_hours(),
            require_mfa: Vec::new(),
            allowed_origins: Vec::new(),
            audit_syslog: None,
            export_retention_hours: Self::default_export_hours(),
            max_connections: Self::default_max_connections(),
            max_connections_per_address: Self::default_max_per_address(),
            handshake_timeout_seconds: Self::default_ten(),
            header_timeout_seconds: Self::default_ten(),
            idle_timeout_seconds: Self::default_idle_timeout(),
        }
    }
}

/// `[analysis]` section: the analytics pipeline of every analysed camera.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Run analytics at all (default true). Recording does not depend on it.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Threads for inference; 0 (default) sizes from the cores available.
    #[serde(default)]
    pub threads: usize,
    /// Detector model (`yolox-nano` default, `nanodet`, `person-192`).
    #[serde(default = "AnalysisConfig::default_model")]
    pub model: String,
    /// Frames analysed per second per camera (default 5); the rest are decoded but not analysed.
    #[serde(default = "AnalysisConfig::default_fps")]
    pub detect_fps: f64,
    /// Object classes kept (COCO names); absent: people, vehicles, animals and bags.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Where inference runs (default `cpu`); a GPU provider the ONNX Runtime library lacks falls back to
    /// the CPU with a warning.
    #[serde(default)]
    pub device: InferenceDevice,
    /// How long (seconds) a person the tracker lost can be given their id back when they reappear looking
    /// the same (re-identification; default 30, 0 switches it off).
    #[serde(default = "AnalysisConfig::default_relink")]
    pub relink_seconds: f64,
    /// Judge each analysed camera's picture and stream (covered, blocked, dark, defocused, moved, frozen,
    /// offline, degraded) and raise `camera_health` events (default on).
    #[serde(default = "AnalysisConfig::default_health")]
    pub health: bool,
    /// An independent second detector (`nanodet`, `person-192`, `yolox-nano`) for the intrusion rules
    /// with `second_opinion`: run only when such a rule needs it (an object's event about to start, or
    /// unexplained motion in its armed zone), never on every frame. Absent: none.
    #[serde(default)]
    pub second_model: Option<String>,
    /// A learned normal and anomalies against it (`[analysis.anomaly]`).
    #[serde(default)]
    pub anomaly: AnomalyConfig,
}

/// `[analysis.anomaly]`: each analysed camera's activity baselines by hour of the week, and
/// `activity_anomaly` events when now deviates beyond the learned variation.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Learn the baselines (kept in the store's index) and judge against them (default true: learning
    /// costs little, and nothing is raised before `min_weeks` of history).
    #[serde(default = "default_true")]
    pub baselines: bool,
    /// Different weeks an hour of the week must have seen before it raises anything (default 3).
    #[serde(default = "AnomalyConfig::default_min_weeks")]
    pub min_weeks: u32,
    /// A sample deviates beyond this many learned standard deviations from the mean... (default 4)
    #[serde(default = "AnomalyConfig::default_sigma")]
    pub sigma: f64,
    /// ...and by at least this much: objects, minutes of stay or tracks a minute (default 3).
    #[serde(default = "AnomalyConfig::default_min_change")]
    pub min_change: f64,
    /// Minutes a deviation must hold before its event starts, and be gone before it ends (default 2).
    #[serde(default = "AnomalyConfig::default_hold")]
    pub hold_minutes: u32,
    /// Classes counted (default `person` and `car`).
    #[serde(default = "AnomalyConfig::default_classes")]
    pub classes: Vec<String>,
    /// Judge every analysed camera's people against a scene model and raise `scene_anomaly` events
    /// (default false: a scene model needs a day of the camera's normal before it is worth hearing).
    #[serde(default)]
    pub scene: bool,
    /// Scene models from `vigil anomaly learn` per camera name (`lobby = "/var/lib/vigil/lobby.json"`):
    /// those cameras judge from the start, whether or not `scene` is on.
    #[serde(default)]
    pub scene_models: std::collections::BTreeMap<String, std::path::PathBuf>,
    /// Learn each scene model from the camera's own frames (default true), replacing a loaded one once
    /// learned, and again every `scene_learn_hours`.
    #[serde(default = "default_true")]
    pub scene_learn: bool,
    /// Hours of analysis a camera's own scene model is learned from (default 24).
    #[serde(default = "AnomalyConfig::default_scene_learn_hours")]
    pub scene_learn_hours: f64,
    /// Surprise (`-log10` of how rarely the normal reaches a person's value) that starts a
    /// `scene_anomaly` (default 4: rarer than 1 in 10,000 learned people).
    #[serde(default = "AnomalyConfig::default_scene_threshold")]
    pub scene_threshold: f32,
    /// Seconds after a `scene_anomaly` starts before another may start on the camera (default 60).
    #[serde(default = "AnomalyConfig::default_scene_cooldown")]
    pub scene_cooldown_seconds: f64,
}

impl AnomalyConfig {
    fn default_min_weeks() -> u32 {
        3
    }

    fn default_sigma() -> f64 {
        4.0
    }

    fn default_min_change() -> f64 {
        3.0
    }

    fn default_hold() -> u32 {
        2
    }

    fn default_classes() -> Vec<String> {
        vec!["person".into(), "car".into()]
    }

    fn default_scene_learn_hours() -> f64 {
        24.0
    }

    fn default_scene_threshold() -> f32 {
        4.0
    }

    fn default_scene_cooldown() -> f64 {
        60.0
    }
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            baselines: true,
            min_weeks: Self::default_min_weeks(),
            sigma: Self::default_sigma(),
            min_change: Self::default_min_change(),
            hold_minutes: Self::default_hold(),
            classes: Self::default_classes(),
            scene: false,
            scene_models: Default::default(),
            scene_learn: true,
            scene_learn_hours: Self::default_scene_learn_hours(),
            scene_threshold: Self::default_scene_threshold(),
            scene_cooldown_seconds: Self::default_scene_cooldown(),
        }
    }
}

/// Where a detector runs: ONNX Runtime's CPU provider, or a GPU/accelerator execution provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InferenceDevice {
    /// ONNX Runtime's own CPU kernels (every build has them).
    #[default]
    Cpu,
    /// NVIDIA GPUs through CUDA (the `onnxruntime-gpu` build).
    Cuda,
    /// NVIDIA TensorRT, with CUDA for what TensorRT does not take (the `onnxruntime-gpu` build).
    Tensorrt,
    /// Intel CPUs, GPUs and NPUs through OpenVINO (the `onnxruntime-openvino` build).
    Openvino,
}

impl InferenceDevice {
    /// The name used in `vigil.toml` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            InferenceDevice::Cpu => "cpu",
            InferenceDevice::Cuda => "cuda",
            InferenceDevice::Tensorrt => "tensorrt",
            InferenceDevice::Openvino => "openvino",
        }
    }
}

impl std::fmt::Display for InferenceDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for InferenceDevice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(InferenceDevice::Cpu),
            "cuda" => Ok(InferenceDevice::Cuda),
            "tensorrt" => Ok(InferenceDevice::Tensorrt),
            "openvino" => Ok(InferenceDevice::Openvino),
            other => Err(format!(
                "unknown device {other:?}: cpu, cuda, tensorrt or openvino"
            )),
        }
    }
}

impl AnalysisConfig {
    fn default_model() -> String {
        "yolox-nano".into()
    }

    fn default_fps() -> f64 {
        5.0
    }

    fn default_relink() -> f64 {
        30.0
    }

    fn default_health() -> bool {
        true
    }
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            threads: 0,
            model: Self::default_model(),
            detect_fps: Self::default_fps(),
            classes: None,
            device: InferenceDevice::Cpu,
            relink_seconds: Self::default_relink(),
            health: Self::default_health(),
            second_model: None,
            anomaly: AnomalyConfig::default(),
        }
    }
}

/// What a camera is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraRole {
    /// Record the main stream.
    Record,
    /// Analyse the sub stream (or the main stream when there is no sub stream).
    Analyze,
}

/// One `[[camera]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Unique name (letters, digits, `-`, `_`, `.`); used in paths, topics and URLs.
    pub name: String,
    /// Main (high resolution) stream, recorded. `rtsp://host[:port]/path`, without credentials; or
    /// `file:///path/video.mp4` to play a video file as a camera (looping, at real time).
    pub main: Url,
    /// Sub (low resolution) stream, analysed; the main stream is analysed when absent.
    #[serde(default)]
    pub sub: Option<Url>,
    /// RTSP user name.
    #[serde(default)]
    pub username: Option<String>,
    /// RTSP password (never logged).
    #[serde(default)]
    pub password: Option<Secret>,
    /// What to do with this camera (default: record and analyze).
    #[serde(default = "CameraConfig::default_roles")]
    pub roles: Vec<CameraRole>,
    /// A disabled camera is kept in the file but not connected to (default true).
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Name of the storage directory (`[[storage.dirs]]`) to record into; the first one when absent.
    #[serde(default)]
    pub storage: Option<String>,
    /// How long recordings are kept.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// Dual authorization: playing or exporting its recordings needs a second user's approval.
    #[serde(default)]
    pub sensitive: bool,
    /// ONVIF device service URL (`http://host[:port]/onvif/device_service`; `vigil onvif discover` finds
    /// it), for PTZ control. `username` and `password` are sent to it as WS-Security credentials.
    #[serde(default)]
    pub onvif: Option<Url>,
    /// PTZ autotracking (needs `onvif` and the `analyze` role): follow an object of the given classes and
    /// go back to a preset when it is gone, e.g. `autotrack = { preset = "home", classes = ["person"],
    /// return_after = "10s" }`. Off when absent.
    #[serde(default)]
    pub autotrack: Option<AutotrackConfig>,
}

impl CameraConfig {
    fn default_roles() -> Vec<CameraRole> {
        vec![CameraRole::Record, CameraRole::Analyze]
    }

    /// True when this camera is enabled and has `role`.
    pub fn has_role(&self, role: CameraRole) -> bool {
        self.enabled && self.roles.contains(&role)
    }

    /// The stream analytics reads: `sub` if set, else `main`.
    pub fn analysis_url(&self) -> &Url {
        self.sub.as_ref().unwrap_or(&self.main)
    }

    /// Credentials for the camera's streams, if a user name is configured.
    pub fn credentials(&self) -> Option<Credentials> {
        self.username.as_ref().map(|username| Credentials {
            username: username.clone(),
            password: self.password.clone().unwrap_or_default(),
        })
    }
}

/// Retention limits of one camera's recordings; every limit is optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Delete recordings older than this many days (footage around events is kept for the event store's
    /// `retention_days`; footage under an evidence hold is never deleted).
    #[serde(default)]
    pub max_days: Option<u32>,
    /// Delete the oldest recordings to keep this camera under this many bytes.
    #[serde(default)]
    pub max_bytes: Option<ByteSize>,
}

/// User name and password for a camera.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name (not secret, but kept out of URLs).
    pub username: String,
    /// Password (redacted in `Debug`).
    pub password: Secret,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

/// A secret string (a camera password, an MQTT password, a webhook secret). `Debug` and `Display` print
/// `***`; read it with [`Secret::expose`] only where it is handed to the protocol.
///
/// In `vigil.toml` it is written as the value itself, or `env:NAME` (read from that environment variable
/// when the file is loaded), or `file:PATH` (read from that file, a trailing newline dropped), so that the
/// configuration file need hold no secret; `plain:VALUE` is the value `VALUE` as written (for a secret that
/// itself begins with `env:` or `file:`). A missing variable or unreadable file is a configuration error
/// naming the field, never the secret.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret {
    value: String,
    from: SecretSource,
}

/// Where a [`Secret`] came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SecretSource {
    /// Written in the configuration file.
    #[default]
    Inline,
    /// An environment variable.
    Env(String),
    /// A file.
    File(PathBuf),
}

impl Secret {
    /// Wraps a secret value (inline).
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            from: SecretSource::Inline,
        }
    }

    /// The secret value, for the one place that needs it (authentication).
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Where it came from (an inline secret is one the configuration file holds in clear).
    pub fn source(&self) -> &SecretSource {
        &self.from
    }

    /// Resolves the text of a configuration value: `env:NAME`, `file:PATH`, `plain:VALUE` or the value.
    pub fn resolve(text: &str) -> Result<Self, String> {
        if let Some(name) = text.strip_prefix("env:") {
            let value = std::env::var(name).map_err(|_| {
                format!("environment variable {name:?} (from `env:{name}`) is not set")
            })?;
            return Ok(Self {
                value,
                from: SecretSource::Env(name.to_string()),
            });
        }
        if let Some(path) = text.strip_prefix("file:") {
            let mut value = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the secret file {path:?}: {e}"))?;
            while value.ends_with('\n') || value.ends_with('\r') {
                value.pop();
            }
            return Ok(Self {
                value,
                from: SecretSource::File(PathBuf::from(path)),
            });
        }
        Ok(Self::new(text.strip_prefix("plain:").unwrap_or(text)))
    }
}

impl Secret {
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}

/// Written as `"<redacted>"`: printing a configuration never leaks a secret.
impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Secret::resolve(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

fn default_true() -> bool {
    true
}
