//! Alert configuration, written by hand in `vigil.toml`: `[mqtt]`, `[[webhook]]`, `[[output]]` and `[links]`
//! (see the crate documentation for a full example).
//!
//! Every table refuses unknown fields. Durations are seconds (`10`) or texts with units (`"10s"`, `"2m"`),
//! as in the rules configuration. Values are checked by [`AlertConfig::validate`] (also run by
//! [`crate::Alerts::start`]); errors name the item and the field.
//!
//! To embed these in the binary's configuration, give its top-level struct fields of these types with
//! `#[serde(default)]` (`mqtt: Option<MqttConfig>`, `webhook: Vec<WebhookConfig>`,
//! `output: Vec<OutputConfig>`, `links: LinksConfig`) and build an [`AlertConfig`] from them:
//! `#[serde(flatten)]` cannot be combined with `deny_unknown_fields`.
//!
//! Secrets (MQTT password, webhook secrets, header values) are [`Secret`]s: their `Debug` and `Serialize`
//! forms are redacted, and nothing in this crate logs them or the URLs (which may carry tokens); logs name
//! webhooks and outputs by their `name`.

use crate::error::AlertError;
use crate::template::Template;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use vigil_core::EventPhase;
use vigil_rules::ConfigDuration;

/// A secret text (password, HMAC key, auth header): the configuration's one secret type, with its
/// `env:NAME` / `file:PATH` forms; `***` in `Debug`, `"<redacted>"` when serialized.
pub use vigil_core::config::Secret;

/// Everything about alert delivery.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertConfig {
    /// The MQTT broker (`[mqtt]`); absent means no MQTT.
    pub mqtt: Option<MqttConfig>,
    /// Webhooks (`[[webhook]]`).
    pub webhook: Vec<WebhookConfig>,
    /// Deterrence outputs: lights, sirens, speakers (`[[output]]`).
    pub output: Vec<OutputConfig>,
    /// Links put into alert messages (`[links]`).
    pub links: LinksConfig,
    /// The installation's data directory (not read from the file: the binary sets it from `data_dir`). It
    /// makes the default MQTT client id and topic prefix unique to this installation (see
    /// [`crate::mqtt::Instance`]) and holds the positions of the camera switches (`alert-controls.json`).
    /// `None`: ids from the current directory, switches not kept across restarts.
    #[serde(skip)]
    pub data_dir: Option<PathBuf>,
}

/// The MQTT broker connection and what is published there (`[mqtt]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// Broker host name or address (default `"127.0.0.1"`).
    pub host: String,
    /// Broker port (default 1883; brokers usually listen for TLS on 8883).
    pub port: u16,
    /// MQTT client id; must be unique on the broker. Also names this installation in Home Assistant unique
    /// ids, so keep it stable. Default (empty): `vigil-<host>-<hash>`, from the host name and a hash of the
    /// data directory, so two installations never share it ([`crate::mqtt::Instance`]).
    pub client_id: String,
    /// User name, if the broker wants one.
    pub username: Option<String>,
    /// Password (never logged).
    pub password: Option<Secret>,
    /// The topic every topic Vigil publishes starts with. Default (empty): `vigil/<host>-<hash>`, unique
    /// to this installation like the client id.
    pub topic_prefix: String,
    /// Publish Home Assistant MQTT discovery configs so entities appear by themselves (default true).
    pub discovery: bool,
    /// Home Assistant's discovery prefix (default `"homeassistant"`).
    pub discovery_prefix: String,
    /// QoS of every publish: 1 (default, at least once: nothing lost across broker restarts) or 0 (at most
    /// once). QoS 2 is refused: it costs a round trip more and gives nothing over QoS 1 to consumers that
    /// upsert by event id.
    pub qos: u8,
    /// Messages kept while the broker is unreachable or slow (default 10000). When full, the oldest event
    /// `update` is dropped first; `start`/`end` messages are dropped (oldest first) only when nothing else
    /// is left. State topics (counts, status, discovery) are not in this buffer: only their latest value is
    /// kept and sent.
    pub buffer: usize,
    /// Publishes sent but not yet acknowledged by the broker at any time (default 32).
    pub inflight: u16,
    /// Keep-alive interval: how fast a silent broker is noticed (default 30 s, at least 5 s).
    pub keep_alive: ConfigDuration,
    /// Longest wait between reconnection attempts (default 5 s; attempts start at 250 ms and double).
    pub reconnect_max: ConfigDuration,
    /// Connect with TLS (default false; needs a build with the `mqtt-tls` feature and `ca_file`).
    pub tls: bool,
    /// PEM file with the certificate authority that signed the broker's certificate (TLS only).
    pub ca_file: Option<PathBuf>,
    /// How often each analysed camera's picture is published for its Home Assistant camera entity
    /// (default 10 s; 0 turns the pictures off).
    pub snapshot_interval: ConfigDuration,
    /// How long a camera's motion sensor stays on after the last motion (default 30 s), so that it does
    /// not flicker with every frame.
    pub motion_off_delay: ConfigDuration,
    /// Object classes that get occupancy sensors in Home Assistant, per camera and per zone (default
    /// `["person", "car"]`; a zone limited to some classes gets sensors for those among these).
    pub occupancy_classes: Vec<String>,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 1883,
            client_id: String::new(),
            username: None,
            password: None,
            topic_prefix: String::new(),
            discovery: true,
            discovery_prefix: "homeassistant".into(),
            qos: 1,
            buffer: 10_000,
            inflight: 32,
            keep_alive: ConfigDuration::from_secs(30),
            reconnect_max: ConfigDuration::from_secs(5),
            tls: false,
            ca_file: None,
            snapshot_interval: ConfigDuration::from_secs(10),
            motion_off_delay: ConfigDuration::from_secs(30),
            occupancy_classes: vec!["person".into(), "car".into()],
        }
    }
}

impl MqttConfig {
    /// The configuration with the installation's defaults filled in: an empty `client_id` or
    /// `topic_prefix` becomes the one derived from this host and `data_dir` ([`crate::mqtt::Instance`]);
    /// given values are kept as written.
    pub fn resolved(&self, data_dir: Option<&std::path::Path>) -> MqttConfig {
        let mut c = self.clone();
        if c.client_id.is_empty() || c.topic_prefix.is_empty() {
            let instance = crate::mqtt::Instance::of(data_dir);
            if c.client_id.is_empty() {
                c.client_id = instance.client_id();
            }
            if c.topic_prefix.is_empty() {
                c.topic_prefix = instance.topic_prefix();
            }
        }
        c
    }
}

/// Which events a webhook or output reacts to. Empty lists mean "any". Names compare without regard to
/// case.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventFilter {
    /// Camera names.
    pub cameras: Vec<String>,
    /// Rule names.
    pub rules: Vec<String>,
    /// Event kinds (`intrusion`, `line_crossing`, `loitering`, `crowding`, `queue`).
    pub kinds: Vec<String>,
    /// Lifecycle phases.
    pub phases: Vec<EventPhase>,
    /// Main object classes (`person`, `car`...).
    pub classes: Vec<String>,
}

impl EventFilter {
    /// True when the event passes every non-empty list.
    pub fn matches(&self, e: &vigil_core::Event) -> bool {
        self.matches_except_phase(e) && self.phase_matches(e.phase)
    }

    /// True when the event passes every list but `phases`.
    pub fn matches_except_phase(&self, e: &vigil_core::Event) -> bool {
        fn any(list: &[String], v: &str) -> bool {
            list.is_empty() || list.iter().any(|x| x.eq_ignore_ascii_case(v))
        }
        any(&self.cameras, &e.camera)
            && any(&self.rules, &e.rule)
            && any(&self.kinds, e.kind.name())
            && any(&self.classes, &e.class_name)
    }

    /// True when `phases` is empty or holds the phase.
    pub fn phase_matches(&self, phase: EventPhase) -> bool {
        self.phases.is_empty() || self.phases.contains(&phase)
    }
}

/// A webhook (`[[webhook]]`): each matching event message is POSTed as JSON, signed with HMAC-SHA256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Unique name, used in logs, status and dead letters (the URL is never logged).
    pub name: String,
    /// `http://` or `https://` URL.
    pub url: String,
    /// HMAC key for the `X-Vigil-Signature` header; without it requests are not signed.
    pub secret: Option<Secret>,
    /// Extra request headers (`{ Authorization = "Bearer ..." }`); values are secrets.
    pub headers: BTreeMap<String, Secret>,
    /// Only these cameras (empty: all).
    pub cameras: Vec<String>,
    /// Only these rules (empty: all).
    pub rules: Vec<String>,
    /// Only these kinds (empty: all).
    pub kinds: Vec<String>,
    /// Only these phases (default all three: `["start", "update", "end"]`; `["start"]` for one call per
    /// event).
    pub phases: Vec<EventPhase>,
    /// Only events whose main class is one of these (empty: all).
    pub classes: Vec<String>,
    /// Notify about a camera's rule at most once per this interval (default 0: no limit). A suppressed
    /// event is suppressed whole: its updates and end are not sent either, so the receiver never sees an
    /// end without its start. (Grouping of recurrences into one event is the rules engine's `cooldown`.)
    pub min_interval: ConfigDuration,
    /// Time allowed for one request, connection included (default 10 s).
    pub timeout: ConfigDuration,
    /// Tries after the first one on a connection error, a timeout, 5xx, 408 or 429 (default 4). Other 4xx
    /// and 3xx answers are not retried.
    pub retries: u32,
    /// Wait before the first retry; doubles on each retry (default 1 s). A `Retry-After` in seconds is
    /// honoured when longer.
    pub retry_delay: ConfigDuration,
    /// Longest wait between tries (default 60 s).
    pub retry_delay_max: ConfigDuration,
    /// Deliveries waiting for this webhook (default 1000). When full, the oldest `update` is dropped first;
    /// `start`/`end` only when nothing else is left.
    pub queue: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            url: String::new(),
            secret: None,
            headers: BTreeMap::new(),
            cameras: Vec::new(),
            rules: Vec::new(),
            kinds: Vec::new(),
            phases: vec![EventPhase::Start, EventPhase::Update, EventPhase::End],
            classes: Vec::new(),
            min_interval: ConfigDuration::ZERO,
            timeout: ConfigDuration::from_secs(10),
            retries: 4,
            retry_delay: ConfigDuration::from_secs(1),
            retry_delay_max: ConfigDuration::from_secs(60),
            queue: 1000,
        }
    }
}

impl WebhookConfig {
    /// The events this webhook is for.
    pub fn filter(&self) -> EventFilter {
        EventFilter {
            cameras: self.cameras.clone(),
            rules: self.rules.clone(),
            kinds: self.kinds.clone(),
            phases: self.phases.clone(),
            classes: self.classes.clone(),
        }
    }
}

/// An HTTP call made by an output (`http = { method = "POST", url = "...", body = "..." }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpAction {
    /// HTTP method (default `"POST"`).
    pub method: String,
    /// URL; placeholders (`{camera}`...) are percent-encoded.
    pub url: String,
    /// Request body; placeholders are JSON-escaped (safe inside JSON strings). Empty: no body.
    pub body: String,
    /// Request headers; values are secrets.
    pub headers: BTreeMap<String, Secret>,
}

impl Default for HttpAction {
    fn default() -> Self {
        Self {
            method: "POST".into(),
            url: String::new(),
            body: String::new(),
            headers: BTreeMap::new(),
        }
    }
}

/// An MQTT message sent by an output (`mqtt = { topic = "...", payload = "..." }`), through `[mqtt]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttAction {
    /// Topic (used as written: no prefix is added, no placeholders).
    pub topic: String,
    /// Payload; placeholders are JSON-escaped.
    pub payload: String,
    /// Publish with the retain flag (default false).
    pub retain: bool,
}

/// A deterrence output (`[[output]]`): a light, siren or speaker switched by an HTTP call or an MQTT
/// message when a rule's event starts, and optionally switched back when it ends.
///
/// With a reset action the output is "on" from the first matching start until every matching event has
/// ended; without one, each matching start triggers it. Either way it is triggered at most once per
/// `min_interval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputConfig {
    /// Unique name (`"Dock floodlight"`).
    pub name: String,
    /// Rules that trigger it (at least one).
    pub rules: Vec<String>,
    /// Only events of these cameras (empty: all).
    pub cameras: Vec<String>,
    /// Only events whose main class is one of these (empty: all).
    pub classes: Vec<String>,
    /// Shortest time between two triggers (default 30 s).
    pub min_interval: ConfigDuration,
    /// A trigger not sent within this time after the event started is abandoned (default 10 s): a siren
    /// that sounds minutes late does more harm than good.
    pub max_delay: ConfigDuration,
    /// Time allowed for one HTTP call (default 3 s).
    pub timeout: ConfigDuration,
    /// Tries after the first one for HTTP calls, within `max_delay` (default 2).
    pub retries: u32,
    /// HTTP call on start (this or `mqtt`).
    pub http: Option<HttpAction>,
    /// MQTT message on start (this or `http`).
    pub mqtt: Option<MqttAction>,
    /// HTTP call when the events that triggered it are over.
    pub reset_http: Option<HttpAction>,
    /// MQTT message when the events that triggered it are over.
    pub reset_mqtt: Option<MqttAction>,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            rules: Vec::new(),
            cameras: Vec::new(),
            classes: Vec::new(),
            min_interval: ConfigDuration::from_secs(30),
            max_delay: ConfigDuration::from_secs(10),
            timeout: ConfigDuration::from_secs(3),
            retries: 2,
            http: None,
            mqtt: None,
            reset_http: None,
            reset_mqtt: None,
        }
    }
}

impl OutputConfig {
    /// The events this output reacts to (starts and ends of its rules).
    pub fn filter(&self) -> EventFilter {
        EventFilter {
            cameras: self.cameras.clone(),
            rules: self.rules.clone(),
            kinds: Vec::new(),
            phases: vec![EventPhase::Start, EventPhase::End],
            classes: self.classes.clone(),
        }
    }
}

/// Links put into alert messages (`[links]`), as templates with `{event_id}`, `{camera}`... (see
/// [`crate::template::PLACEHOLDERS`]). Absent: the message fields are `null`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinksConfig {
    /// Snapshot of the event (`"https://nvr.example/api/events/{event_id}/snapshot.jpg"`).
    pub snapshot_url: Option<String>,
    /// Clip of the event.
    pub clip_url: Option<String>,
    /// The web UI's address as Home Assistant users reach it (`"https://nvr.example:8443/"`), shown as
    /// each device's "Visit" link. Default: from `[server] listen` (the host name when it listens on
    /// every address).
    pub ui_url: Option<String>,
}

const KINDS: &[&str] = &[
    "line_crossing",
    "intrusion",
    "loitering",
    "crowding",
    "queue",
];

fn label(kind: &str, name: &str, index: usize) -> String {
    if name.is_empty() {
        format!("{kind} #{}", index + 1)
    } else {
        format!("{kind} '{name}'")
    }
}

fn check_url(item: &str, field: &'static str, url: &str) -> Result<(), AlertError> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| AlertError::config(item, field, format!("not a URL: {e}")))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(AlertError::config(
                item,
                field,
                "must start with http:// or https://",
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(AlertError::config(item, field, "has no host"));
    }
    Ok(())
}

fn check_template(item: &str, field: &'static str, text: &str) -> Result<(), AlertError> {
    Template::parse(text)
        .map(|_| ())
        .map_err(|p| AlertError::config(item, field, p))
}

fn check_headers(
    item: &str,
    field: &'static str,
    headers: &BTreeMap<String, Secret>,
) -> Result<(), AlertError> {
    for (k, v) in headers {
        ureq::http::HeaderName::try_from(k.as_str())
            .map_err(|_| AlertError::config(item, field, format!("bad header name {k:?}")))?;
        ureq::http::HeaderValue::try_from(v.expose()).map_err(|_| {
            AlertError::config(item, field, format!("header {k}: value is not valid"))
        })?;
    }
    Ok(())
}

fn check_names(item: &str, field: &'static str, names: &[String]) -> Result<(), AlertError> {
    if names.iter().any(|n| n.trim().is_empty()) {
        return Err(AlertError::config(item, field, "contains an empty name"));
    }
    Ok(())
}

fn check_http(item: &str, field: &'static str, a: &HttpAction) -> Result<(), AlertError> {
    if a.url.is_empty() {
        return Err(AlertError::config(item, field, "url is required"));
    }
    // The URL is checked with placeholders filled by sample text.
    let sample = a.url.replace(['{', '}'], "");
    check_url(item, field, &sample)?;
    check_template(item, field, &a.url)?;
    check_template(item, field, &a.body)?;
    ureq::http::Method::from_bytes(a.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| AlertError::config(item, field, format!("bad HTTP method {:?}", a.method)))?;
    check_headers(item, field, &a.headers)
}

fn check_mqtt_action(
    item: &str,
    field: &'static str,
    a: &MqttAction,
    mqtt: bool,
) -> Result<(), AlertError> {
    if !mqtt {
        return Err(AlertError::config(
            item,
            field,
            "an MQTT action needs an [mqtt] broker configured",
        ));
    }
    if a.topic.is_empty() || a.topic.contains(['+', '#']) {
        return Err(AlertError::config(
            item,
            field,
            "topic must be a non-empty topic name without + or #",
        ));
    }
    check_template(item, field, &a.payload)
}

impl AlertConfig {
    /// Checks every value; the error names the item, the field and the problem.
    pub fn validate(&self) -> Result<(), AlertError> {
        if let Some(m) = &self.mqtt {
            m.validate()?;
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, w) in self.webhook.iter().enumerate() {
            let item = label("webhook", &w.name, i);
            if w.name.trim().is_empty() {
                return Err(AlertError::config(&item, "name", "required"));
            }
            if !names.insert(w.name.to_lowercase()) {
                return Err(AlertError::config(&item, "name", "used twice"));
            }
            if w.url.is_empty() {
                return Err(AlertError::config(&item, "url", "required"));
            }
            check_url(&item, "url", &w.url)?;
            if w.secret.as_ref().is_some_and(Secret::is_empty) {
                return Err(AlertError::config(
                    &item,
                    "secret",
                    "is empty; remove it to send unsigned requests",
                ));
            }
            check_headers(&item, "headers", &w.headers)?;
            check_names(&item, "cameras", &w.cameras)?;
            check_names(&item, "rules", &w.rules)?;
            check_names(&item, "classes", &w.classes)?;
            for k in &w.kinds {
                if !KINDS.contains(&k.as_str()) {
                    return Err(AlertError::config(
                        &item,
                        "kinds",
                        format!("unknown kind {k:?}; known: {}", KINDS.join(", ")),
                    ));
                }
            }
            if w.phases.is_empty() {
                return Err(AlertError::config(
                    &item,
                    "phases",
                    "is empty: the webhook would never be called",
                ));
            }
            if w.timeout.as_millis() == 0 {
                return Err(AlertError::config(&item, "timeout", "must be above zero"));
            }
            if w.queue == 0 {
                return Err(AlertError::config(&item, "queue", "must be at least 1"));
            }
            if w.retry_delay_max < w.retry_delay {
                return Err(AlertError::config(
                    &item,
                    "retry_delay_max",
                    "is shorter than retry_delay",
                ));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, o) in self.output.iter().enumerate() {
            let item = label("output", &o.name, i);
            if o.name.trim().is_empty() {
                return Err(AlertError::config(&item, "name", "required"));
            }
            if !names.insert(o.name.to_lowercase()) {
                return Err(AlertError::config(&item, "name", "used twice"));
            }
            if o.rules.is_empty() {
                return Err(AlertError::config(
                    &item,
                    "rules",
                    "required: name the rules that trigger this output",
                ));
            }
            check_names(&item, "rules", &o.rules)?;
            check_names(&item, "cameras", &o.cameras)?;
            check_names(&item, "classes", &o.classes)?;
            match (&o.http, &o.mqtt) {
                (Some(h), None) => check_http(&item, "http", h)?,
                (None, Some(m)) => check_mqtt_action(&item, "mqtt", m, self.mqtt.is_some())?,
                _ => {
                    return Err(AlertError::config(
                        &item,
                        "http",
                        "give exactly one action: http = {...} or mqtt = {...}",
                    ));
                }
            }
            match (&o.reset_http, &o.reset_mqtt) {
                (Some(h), None) => check_http(&item, "reset_http", h)?,
                (None, Some(m)) => check_mqtt_action(&item, "reset_mqtt", m, self.mqtt.is_some())?,
                (None, None) => {}
                (Some(_), Some(_)) => {
                    return Err(AlertError::config(
                        &item,
                        "reset_http",
                        "give at most one reset action: reset_http or reset_mqtt",
                    ));
                }
            }
            if o.timeout.as_millis() == 0 {
                return Err(AlertError::config(&item, "timeout", "must be above zero"));
            }
            if o.max_delay.as_millis() == 0 {
                return Err(AlertError::config(&item, "max_delay", "must be above zero"));
            }
        }
        for (field, t) in [
            ("snapshot_url", &self.links.snapshot_url),
            ("clip_url", &self.links.clip_url),
        ] {
            if let Some(t) = t {
                check_template("links", field, t)?;
            }
        }
        if let Some(url) = &self.links.ui_url {
            check_url("links", "ui_url", url)?;
        }
        Ok(())
    }
}

impl MqttConfig {
    /// Checks the values; the error names the field.
    pub fn validate(&self) -> Result<(), AlertError> {
        let item = "mqtt";
        if self.host.trim().is_empty() {
            return Err(AlertError::config(item, "host", "required"));
        }
        if self.port == 0 {
            return Err(AlertError::config(item, "port", "must be 1-65535"));
        }
        if self.client_id.len() > 128 || self.client_id.trim() != self.client_id {
            return Err(AlertError::config(
                item,
                "client_id",
                "must be at most 128 characters without surrounding spaces (leave it out for the default)",
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(AlertError::config(
                item,
                "password",
                "given without username",
            ));
        }
        for (field, p, may_be_empty) in [
            ("topic_prefix", &self.topic_prefix, true),
            ("discovery_prefix", &self.discovery_prefix, false),
        ] {
            if p.is_empty() && may_be_empty {
                continue;
            }
            if p.is_empty() || p.contains(['+', '#']) || p.starts_with('/') || p.ends_with('/') {
                return Err(AlertError::config(
                    item,
                    field,
                    "must be a non-empty topic without + or # and without a leading or trailing /",
                ));
            }
        }
        if self.qos > 1 {
            return Err(AlertError::config(
                item,
                "qos",
                format!(
                    "{} is not supported: use 1 (at least once) or 0 (at most once)",
                    self.qos
                ),
            ));
        }
        if self.buffer == 0 {
            return Err(AlertError::config(item, "buffer", "must be at least 1"));
        }
        if self.inflight == 0 {
            return Err(AlertError::config(item, "inflight", "must be at least 1"));
        }
        if self.keep_alive.as_millis() < 5000 || self.keep_alive.as_millis() > 65_535_000 {
            return Err(AlertError::config(
                item,
                "keep_alive",
                "must be from 5 s to 65535 s",
            ));
        }
        if self.reconnect_max.as_millis() < 250 {
            return Err(AlertError::config(
                item,
                "reconnect_max",
                "must be at least 250 ms",
            ));
        }
        if self.occupancy_classes.iter().any(|c| c.trim().is_empty()) {
            return Err(AlertError::config(
                item,
                "occupancy_classes",
                "contains an empty name",
            ));
        }
        if self.tls {
            if !cfg!(feature = "mqtt-tls") {
                return Err(AlertError::config(
                    item,
                    "tls",
                    "this build has no MQTT TLS support (vigil-alert feature mqtt-tls)",
                ));
            }
            if self.ca_file.is_none() {
                return Err(AlertError::config(
                    item,
                    "ca_file",
                    "required with tls = true (PEM file of the broker's certificate authority)",
                ));
            }
        } else if self.ca_file.is_some() {
            return Err(AlertError::config(
                item,
                "ca_file",
                "given but tls is false",
            ));
        }
        Ok(())
    }
}
