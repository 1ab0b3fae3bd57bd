//! `vigil.toml`: the one configuration file, composed from each part's own section.
//!
//! ```toml
//! data_dir = "/var/lib/vigil"          # index database, snapshots, security database, certificates
//!
//! [server]
//! listen = "0.0.0.0:8443"
//!
//! [analysis]
//! model = "yolox-nano"
//! detect_fps = 5
//!
//! [storage]                            # recordings (vigil-store); db defaults to data_dir/index.db
//! [[storage.dirs]]
//! name = "disk1"
//! path = "/srv/vigil/disk1"
//! max_bytes = "2 TB"
//!
//! [[camera]]
//! name = "gate"
//! main = "rtsp://192.168.1.20:554/Streaming/Channels/101"
//! sub = "rtsp://192.168.1.20:554/Streaming/Channels/102"
//! username = "vigil"
//! password = "change-me"
//! retention = { max_bytes = "500 GB" }
//!
//! [rules.gate]                         # behaviour rules of camera "gate" (vigil-rules)
//! timezone = "CET-1CEST,M3.5.0,M10.5.0/3"
//! [[rules.gate.line]]
//! name = "Gate line"
//! p1 = [0.2, 0.6]
//! p2 = [0.8, 0.6]
//! [[rules.gate.rule]]
//! name = "Gate crossing"
//! kind = "line_crossing"
//! line = "Gate line"
//!
//! [mqtt]                               # alerts (vigil-alert): [mqtt], [[webhook]], [[output]], [links]
//! host = "127.0.0.1"
//! ```
//!
//! [`VigilConfig::parse`] checks the whole file — TOML syntax, types, unknown fields, and what serde
//! cannot see (unique names, URLs, rules geometry, references between sections) — and reports every
//! problem with its line, column, field path and source line.

pub mod edit;
pub mod reports;
pub mod standby;

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vigil_alert::{AlertConfig, LinksConfig, MqttConfig, OutputConfig, WebhookConfig};
use vigil_core::config::{
    AnalysisConfig, CameraConfig, CameraRole, ConfigErrors, Problem, Seg, ServerConfig, key,
    parse_toml, validate_cameras,
};
use vigil_identity::{CameraLink, CameraLinks, FacesConfig, PlatesConfig};
use vigil_keys::KeysConfig;
use vigil_rules::{RuleEngine, RulesConfig};
use vigil_store::{CameraStorageConfig, DirConfig, StoreConfig};
use vigil_vision::model::ModelSpec;

pub use vigil_core::config::{ByteSize, ConfigDiagnostic};

/// Default `data_dir`.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/vigil";

/// Name (and folder under `data_dir`) of the storage directory used when `[storage]` lists none.
pub const DEFAULT_STORAGE_DIR: &str = "recordings";

/// The whole `vigil.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VigilConfig {
    /// Where Vigil keeps its index database, event snapshots, security database and certificates
    /// (default `/var/lib/vigil`). Relative paths are relative to the configuration file.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// `[server]`: the HTTPS API and UI.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[analysis]`: the analytics pipeline.
    #[serde(default)]
    pub analysis: AnalysisConfig,
    /// `[storage]`: recording directories, budgets and recording settings (needed when a camera records).
    #[serde(default)]
    pub storage: Option<StoreConfig>,
    /// `[[camera]]`: the cameras.
    #[serde(default, rename = "camera")]
    pub cameras: Vec<CameraConfig>,
    /// `[rules.CAMERA]`: behaviour rules per camera, by camera name.
    #[serde(default)]
    pub rules: BTreeMap<String, RulesConfig>,
    /// `[mqtt]`: the MQTT broker for alerts and Home Assistant.
    #[serde(default)]
    pub mqtt: Option<MqttConfig>,
    /// `[[webhook]]`: signed HTTP alert receivers.
    #[serde(default)]
    pub webhook: Vec<WebhookConfig>,
    /// `[[output]]`: deterrence outputs (lights, sirens, speakers).
    #[serde(default)]
    pub output: Vec<OutputConfig>,
    /// `[links]`: URLs put into alert messages, and the camera links (`[[links.camera]]`).
    #[serde(default)]
    pub links: LinksSection,
    /// `[keys]`: where the master key comes from (vigil-keys).
    #[serde(default)]
    pub keys: KeysConfig,
    /// `[privacy]`: what redacted exports blur, and watermarks.
    #[serde(default)]
    pub privacy: PrivacyConfig,
    /// `[faces]`: face recognition, off unless a camera is listed (vigil-identity).
    #[serde(default)]
    pub faces: FacesConfig,
    /// `[plates]`: licence plate reading and plate lists, off unless a camera is listed (vigil-identity).
    #[serde(default)]
    pub plates: PlatesConfig,
    /// `[summary]`: incident summaries; `[summary.llm]` the optional rewrite by a language model
    /// (vigil-summary), off by default.
    #[serde(default)]
    pub summary: vigil_summary::SummaryConfig,
    /// `[[reports]]`: scheduled daily/weekly reports (PDF, HTML) announced by webhook (vigil-bi).
    #[serde(default)]
    pub reports: Vec<reports::ReportConfig>,
    /// `[uplink]`: this box as a site of a hub (vigil-uplink); off unless set.
    #[serde(default)]
    pub uplink: Option<vigil_uplink::UplinkConfig>,
    /// `[standby]`: the sites whose cameras this box takes over when they stop answering; off unless
    /// set ([`standby`]).
    #[serde(default)]
    pub standby: standby::StandbyConfig,
}

/// `[links]`: the URLs alert messages carry (vigil-alert's [`LinksConfig`]) and which cameras people walk
/// between, with how long it takes (`[[links.camera]]`, vigil-identity's [`CameraLink`]).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinksSection {
    /// Snapshot of the event in alert messages (template with `{event_id}`...).
    #[serde(default)]
    pub snapshot_url: Option<String>,
    /// Clip of the event in alert messages.
    #[serde(default)]
    pub clip_url: Option<String>,
    /// The web UI's address as users reach it (default from `[server] listen`).
    #[serde(default)]
    pub ui_url: Option<String>,
    /// `[[links.camera]]`: camera links with their usual transit times.
    #[serde(default, rename = "camera")]
    pub cameras: Vec<CameraLink>,
}

impl LinksSection {
    /// The camera links, for ranking sightings across cameras.
    pub fn camera_links(&self) -> CameraLinks {
        CameraLinks::new(self.cameras.clone())
    }
}

/// Something a redacted export blurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedactTarget {
    /// Faces (YuNet).
    Faces,
    /// Licence plates (LPD-YuNet).
    Plates,
}

/// `[privacy]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// What a redacted export blurs (default `["faces", "plates"]`; `[]` blurs nothing).
    #[serde(default = "default_redact")]
    pub redact: Vec<RedactTarget>,
    /// Burn the exporting user and the time into every exported frame (default false).
    #[serde(default)]
    pub watermark: bool,
}

fn default_redact() -> Vec<RedactTarget> {
    vec![RedactTarget::Faces, RedactTarget::Plates]
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            redact: default_redact(),
            watermark: false,
        }
    }
}

impl PrivacyConfig {
    /// Whether redacted exports blur `target`.
    pub fn blurs(&self, target: RedactTarget) -> bool {
        self.redact.contains(&target)
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(DEFAULT_DATA_DIR)
}

impl VigilConfig {
    /// Parses and checks the text of a `vigil.toml`; `origin` names it in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigErrors> {
        parse_toml(text, origin, validate)
    }

    /// Reads, parses and checks a `vigil.toml`. A relative `data_dir` is made relative to the file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigErrors> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|err| ConfigErrors::other(&origin, format!("cannot read: {err}")))?;
        Self::parse_at(&text, path)
    }

    /// Parses and checks `text` as the file at `path` would be by [`load`](Self::load) (relative paths
    /// taken from the file's folder): what `vigil config check` does, without reading the file.
    pub fn parse_at(text: &str, path: &Path) -> Result<Self, ConfigErrors> {
        let origin = path.display().to_string();
        let mut config = Self::parse(text, &origin)?;
        if config.data_dir.is_relative() {
            let base = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            config.data_dir = base.join(&config.data_dir);
        }
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let uplink_files = config.uplink.as_mut().map(|u| {
            [
                &mut u.nkey_seed_file,
                &mut u.credentials_file,
                &mut u.tls_ca,
                &mut u.tls_cert,
                &mut u.tls_key,
            ]
        });
        for file in [&mut config.server.tls_cert, &mut config.server.tls_key]
            .into_iter()
            .chain(uplink_files.into_iter().flatten())
            .flatten()
        {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
        Ok(config)
    }

    /// The enabled cameras that record.
    pub fn recording_cameras(&self) -> impl Iterator<Item = &CameraConfig> {
        self.cameras
            .iter()
            .filter(|c| c.has_role(CameraRole::Record))
    }

    /// The enabled cameras that are analysed (none when analysis is off).
    pub fn analysed_cameras(&self) -> impl Iterator<Item = &CameraConfig> {
        let on = self.analysis.enabled;
        self.cameras
            .iter()
            .filter(move |c| on && c.has_role(CameraRole::Analyze))
    }

    /// The recording store's configuration: `[storage]` with its database defaulting to
    /// `data_dir/index.db`, and each camera's `retention.max_bytes` / `storage` as its budget and
    /// directory. `None` when no storage is configured.
    pub fn store_config(&self) -> Option<StoreConfig> {
        let mut store = self.storage_with_defaults()?;
        for camera in &self.cameras {
            if camera.retention.max_bytes.is_none()
                && camera.retention.max_days.is_none()
                && camera.storage.is_none()
            {
                continue;
            }
            if store.cameras.iter().any(|c| c.name == camera.name) {
                continue;
            }
            store.cameras.push(CameraStorageConfig {
                name: camera.name.clone(),
                max_bytes: camera.retention.max_bytes.map(|b| b.0),
                dir: camera.storage.clone(),
                max_days: camera.retention.max_days,
            });
        }
        Some(store)
    }

    /// The storage directory used when `[storage]` lists none (or is absent while cameras record):
    /// `data_dir/recordings`, created at start-up.
    pub fn default_recordings_dir(&self) -> PathBuf {
        self.data_dir.join(DEFAULT_STORAGE_DIR)
    }

    /// `[storage]` with its defaults filled in: the index at `data_dir/index.db`, and one directory
    /// `data_dir/recordings` when none is listed. `None` when there is no `[storage]` and no camera records.
    fn storage_with_defaults(&self) -> Option<StoreConfig> {
        let records = self.recording_cameras().next().is_some() || self.standby_records();
        let mut store = match &self.storage {
            Some(s) => s.clone(),
            None if records => StoreConfig {
                // A configuration file's default: encrypted at rest.
                encrypt: true,
                ..StoreConfig::new(
                    PathBuf::new(),
                    DEFAULT_STORAGE_DIR,
                    self.default_recordings_dir(),
                )
            },
            None => return None,
        };
        if store.db.as_os_str().is_empty() {
            store.db = self.data_dir.join("index.db");
        }
        if store.dirs.is_empty() {
            store.dirs = vec![DirConfig::new(
                DEFAULT_STORAGE_DIR,
                self.default_recordings_dir(),
            )];
        }
        Some(store)
    }

    /// The alert delivery configuration (`[mqtt]`, `[[webhook]]`, `[[output]]`, `[links]`), with the
    /// installation's `data_dir` (which makes the default MQTT client id and topics unique to it) and
    /// `[links] ui_url` defaulting to [`VigilConfig::ui_url`].
    pub fn alert_config(&self) -> AlertConfig {
        let links = LinksConfig {
            snapshot_url: self.links.snapshot_url.clone(),
            clip_url: self.links.clip_url.clone(),
            ui_url: Some(self.links.ui_url.clone().unwrap_or_else(|| self.ui_url())),
        };
        AlertConfig {
            mqtt: self.mqtt.clone(),
            webhook: self.webhook.clone(),
            output: self.output.clone(),
            links,
            data_dir: Some(self.data_dir.clone()),
        }
    }

    /// Where the web UI is reached from other machines, from `[server] listen`: its address, or this
    /// host's name when it listens on every address (`https://nvr1:8443/`).
    pub fn ui_url(&self) -> String {
        let listen = self.server.listen;
        let scheme = if self.server.http_loopback_only {
            "http"
        } else {
            "https"
        };
        let host = match listen.ip() {
            ip if ip.is_unspecified() => vigil_alert::mqtt::host_name(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        format!("{scheme}://{host}:{}/", listen.port())
    }

    /// The site's time zone, for what is not one camera's (searches, reports, summaries of many cameras):
    /// the first camera's (`[rules.CAMERA] timezone`, in the file's order) that parses, else any rules'
    /// section's, else UTC.
    pub fn site_time_zone(&self) -> vigil_rules::TimeZone {
        self.cameras
            .iter()
            .filter_map(|c| self.rules.get(&c.name))
            .chain(self.rules.values())
            .find_map(|r| vigil_rules::TimeZone::parse(&r.timezone).ok())
            .unwrap_or_else(vigil_rules::TimeZone::utc)
    }

    /// The behaviour rules of `camera` (none configured: an empty set).
    pub fn rules_for(&self, camera: &str) -> RulesConfig {
        self.rules.get(camera).cloned().unwrap_or_default()
    }

    /// The detector model's specification.
    pub fn model(&self) -> Option<ModelSpec> {
        ModelSpec::builtin(&self.analysis.model)
    }
}

fn path(segments: &[&str]) -> Vec<Seg> {
    segments.iter().map(|s| key(*s)).collect()
}

/// A field path as `problems()` name them (`alerts.staff`, `lists.deny[2]`), under `section`.
fn field_path(section: &str, field: &str) -> Vec<Seg> {
    let mut at = vec![key(section.to_string())];
    for part in field.split('.') {
        match part.split_once('[') {
            Some((name, index)) => {
                at.push(key(name.to_string()));
                if let Ok(i) = index.trim_end_matches(']').parse() {
                    at.push(Seg::Index(i));
                }
            }
            None => at.push(key(part.to_string())),
        }
    }
    at
}

/// Each `[SECTION.camera.NAME]` must name an analysed camera.
fn analysed_camera(config: &VigilConfig, section: &str, camera: &str) -> Option<Problem> {
    (!config.analysed_cameras().any(|c| c.name == camera)).then(|| {
        Problem::new(
            vec![
                key(section.to_string()),
                key("camera"),
                key(camera.to_string()),
            ],
            format!("{section} on {camera:?}, but no analysed [[camera]] has that name"),
        )
    })
}

/// `[faces]` and `[plates]`: their values, and each camera named being analysed; `only_enrolled` zones
/// being zones of the camera's rules.
fn validate_identity(config: &VigilConfig) -> Vec<Problem> {
    let mut problems: Vec<Problem> = Vec::new();
    for (section, list) in [
        ("faces", config.faces.problems()),
        ("plates", config.plates.problems()),
        ("summary", config.summary.llm.problems()),
    ] {
        problems.extend(
            list.into_iter()
                .map(|(field, why)| Problem::new(field_path(section, &field), why)),
        );
    }
    for camera in config.plates.camera.keys() {
        problems.extend(analysed_camera(config, "plates", camera));
    }
    for (camera, faces) in &config.faces.camera {
        if let Some(p) = analysed_camera(config, "faces", camera) {
            problems.push(p);
            continue;
        }
        let rules = config.rules_for(camera);
        for (i, zone) in faces.only_enrolled.iter().enumerate() {
            if !rules.zone.iter().any(|z| &z.name == zone) {
                problems.push(Problem::new(
                    vec![
                        key("faces"),
                        key("camera"),
                        key(camera.clone()),
                        key("only_enrolled"),
                        Seg::Index(i),
                    ],
                    format!("[rules.{camera}] has no zone {zone:?}"),
                ));
            }
        }
    }
    let names: Vec<&str> = config.cameras.iter().map(|c| c.name.as_str()).collect();
    for (i, why) in CameraLinks::problems(&config.links.cameras, &names) {
        problems.push(Problem::new(
            vec![key("links"), key("camera"), Seg::Index(i)],
            why,
        ));
    }
    problems
}

/// Everything serde does not check, across sections.
fn validate(config: &VigilConfig) -> Vec<Problem> {
    let storage = config.storage_with_defaults();
    let dirs: Vec<String> = storage
        .as_ref()
        .map(|s| s.dirs.iter().map(|d| d.name.clone()).collect())
        .unwrap_or_default();
    let mut problems = validate_cameras(&config.cameras, &dirs);
    problems.extend(config.server.problems());
    if let Some(up) = &config.uplink {
        for p in up.problems() {
            problems.push(Problem::new(path(&["uplink"]), p));
        }
    }

    if let Some(storage) = &storage
        && let Err(e) = storage.validate()
    {
        problems.push(Problem::new(path(&["storage"]), e.to_string()));
    }

    let model = config.model();
    if model.is_none() {
        let known: Vec<String> = vigil_vision::model::builtin_models()
            .into_iter()
            .map(|m| m.name)
            .collect();
        problems.push(Problem::new(
            path(&["analysis", "model"]),
            format!(
                "unknown model {:?} (known: {})",
                config.analysis.model,
                known.join(", ")
            ),
        ));
    }
    let relink = config.analysis.relink_seconds;
    if !(relink.is_finite() && (0.0..=3600.0).contains(&relink)) {
        problems.push(Problem::new(
            path(&["analysis", "relink_seconds"]),
            "must be 0 (off) to 3600 seconds",
        ));
    }
    let fps = config.analysis.detect_fps;
    if !(fps.is_finite() && fps > 0.0 && fps <= 60.0) {
        problems.push(Problem::new(
            path(&["analysis", "detect_fps"]),
            "must be more than 0 and at most 60",
        ));
    }
    if let (Some(model), Some(classes)) = (&model, &config.analysis.classes) {
        for (i, class) in classes.iter().enumerate() {
            if model.class_id(class).is_none() {
                problems.push(Problem::new(
                    vec![key("analysis"), key("classes"), Seg::Index(i)],
                    format!("model {} has no class {class:?}", model.name),
                ));
            }
        }
    }

    let anomaly = &config.analysis.anomaly;
    let at = |k: &str| path(&["analysis", "anomaly", k]);
    if anomaly.min_weeks == 0 {
        problems.push(Problem::new(at("min_weeks"), "must be at least 1"));
    }
    if !(anomaly.sigma.is_finite() && anomaly.sigma > 0.0) {
        problems.push(Problem::new(at("sigma"), "must be more than 0"));
    }
    if !(anomaly.min_change.is_finite() && anomaly.min_change >= 0.0) {
        problems.push(Problem::new(at("min_change"), "must be 0 or more"));
    }
    if !(1..=60).contains(&anomaly.hold_minutes) {
        problems.push(Problem::new(at("hold_minutes"), "must be 1 to 60"));
    }
    if !(anomaly.scene_learn_hours.is_finite() && anomaly.scene_learn_hours > 0.0) {
        problems.push(Problem::new(at("scene_learn_hours"), "must be more than 0"));
    }
    if !(anomaly.scene_threshold.is_finite() && anomaly.scene_threshold > 1.0) {
        problems.push(Problem::new(at("scene_threshold"), "must be more than 1"));
    }
    if !(anomaly.scene_cooldown_seconds.is_finite() && anomaly.scene_cooldown_seconds >= 0.0) {
        problems.push(Problem::new(
            at("scene_cooldown_seconds"),
            "must be 0 or more",
        ));
    }
    for (camera, file) in &anomaly.scene_models {
        let item = vec![
            key("analysis"),
            key("anomaly"),
            key("scene_models"),
            key(camera.clone()),
        ];
        if !config.cameras.iter().any(|c| &c.name == camera) {
            problems.push(Problem::new(
                item,
                format!("no [[camera]] is named {camera:?}"),
            ));
        } else if !file.is_file() {
            problems.push(Problem::new(
                item,
                format!("{} is not a file", file.display()),
            ));
        }
    }
    if let Some(model) = &model {
        for (i, class) in anomaly.classes.iter().enumerate() {
            if model.class_id(class).is_none() {
                problems.push(Problem::new(
                    vec![
                        key("analysis"),
                        key("anomaly"),
                        key("classes"),
                        Seg::Index(i),
                    ],
                    format!("model {} has no class {class:?}", model.name),
                ));
            }
        }
    }

    if let Some(name) = &config.analysis.second_model
        && vigil_vision::model::ModelSpec::builtin(name).is_none()
    {
        let known: Vec<String> = vigil_vision::model::builtin_models()
            .into_iter()
            .map(|m| m.name)
            .collect();
        problems.push(Problem::new(
            path(&["analysis", "second_model"]),
            format!("unknown model {name:?} (known: {})", known.join(", ")),
        ));
    }
    for (camera, rules) in &config.rules {
        if config.analysis.second_model.is_none() {
            for (i, rule) in rules.rule.iter().enumerate() {
                if rule.second_opinion.is_some() {
                    problems.push(Problem::new(
                        vec![
                            key("rules"),
                            key(camera.clone()),
                            key("rule"),
                            Seg::Index(i),
                            key("second_opinion"),
                        ],
                        "needs an independent second detector: set [analysis] second_model \
                         (e.g. \"person-192\" or \"nanodet\")",
                    ));
                }
            }
        }
        if !config.cameras.iter().any(|c| &c.name == camera) {
            problems.push(Problem::new(
                vec![key("rules"), key(camera.clone())],
                format!("rules for {camera:?}, but no [[camera]] has that name"),
            ));
            continue;
        }
        if let Some(model) = &model
            && let Err(e) = RuleEngine::new(camera, rules, &model.classes)
        {
            problems.push(Problem::new(
                vec![key("rules"), key(camera.clone())],
                e.to_string(),
            ));
        }
    }

    problems.extend(validate_identity(config));
    problems.extend(standby::problems(config));
    let names: Vec<String> = config.cameras.iter().map(|c| c.name.clone()).collect();
    let hooks: Vec<String> = config.webhook.iter().map(|w| w.name.clone()).collect();
    problems.extend(reports::problems(&config.reports, &names, &hooks));

    if let Err(e) = config.alert_config().validate() {
        let section = if config.mqtt.is_some() && e.to_string().starts_with("mqtt") {
            "mqtt"
        } else if e.to_string().starts_with("webhook") {
            "webhook"
        } else if e.to_string().starts_with("output") {
            "output"
        } else {
            "links"
        };
        problems.push(Problem::new(path(&[section]), e.to_string()));
    }
    problems
}
