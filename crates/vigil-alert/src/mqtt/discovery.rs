//! Home Assistant MQTT discovery: retained config documents so a camera's entities appear by themselves.
//!
//! Per camera, one HA device (`identifiers = ["<node>_<camera>"]`, linked to the Vigil server device, with
//! the camera's page of the web UI as its "Visit" link) holding:
//! - per rule: a `binary_sensor`, on while the rule has any open event (per-object rules have one per
//!   person; it goes off when the last one ends), with a device class by kind (intrusion `safety`,
//!   loitering and crowding `occupancy`, queue `problem`) and the latest open event as attributes; a line
//!   crossing rule is an `event` entity instead (`in` / `out`), since a crossing is an instant, not a state;
//! - per line: three `sensor`s, `in`, `out` (state class `total_increasing`) and `net`;
//! - per zone: a `sensor` of the objects in the zone, and one per occupancy class (`person`, `car`);
//! - when analysed: a motion `binary_sensor`, a `sensor` per occupancy class of the objects in view, a
//!   `camera` (the latest picture), an `image` (the picture of the latest event) and a detection `switch`;
//! - when recorded: a recording `switch`;
//! - diagnostics: analysed frames per second and stream connectivity.
//!
//! And one server device (`<node>_server`): detector inference time, CPU, storage used and free, cameras
//! online.
//!
//! Every entity has a stable `unique_id` built from the node (slugged client id), the camera and the item
//! names, and uses Vigil's availability topic (`online`/`offline`, with a Last Will).

use super::Topics;
use crate::controls::Switch;
use crate::payload::slug;
use serde_json::{Value, json};

/// A rule as Home Assistant shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleEntity {
    /// Rule name.
    pub name: String,
    /// Its kind (`line_crossing`, `intrusion`, `loitering`, `crowding`, `queue`; empty when unknown).
    pub kind: String,
}

impl From<&str> for RuleEntity {
    /// A rule of unknown kind (a binary sensor without device class).
    fn from(name: &str) -> Self {
        Self {
            name: name.to_string(),
            kind: String::new(),
        }
    }
}

/// A counting line as Home Assistant shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineEntity {
    /// Line name.
    pub name: String,
    /// Which direction counts as in.
    pub inbound: vigil_core::CrossingDirection,
}

impl From<&str> for LineEntity {
    /// A line whose inbound direction is `a_to_b` (the default).
    fn from(name: &str) -> Self {
        Self {
            name: name.to_string(),
            inbound: vigil_core::CrossingDirection::AToB,
        }
    }
}

/// A zone as Home Assistant shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ZoneEntity {
    /// Zone name.
    pub name: String,
    /// The classes the zone counts (empty: all).
    pub classes: Vec<String>,
}

impl From<&str> for ZoneEntity {
    /// A zone counting every class.
    fn from(name: &str) -> Self {
        Self {
            name: name.to_string(),
            classes: Vec::new(),
        }
    }
}

/// A camera's rules, lines and zones and what is done with it, for its Home Assistant entities.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CameraEntities {
    /// Camera name.
    pub camera: String,
    /// Rules.
    pub rules: Vec<RuleEntity>,
    /// Lines.
    pub lines: Vec<LineEntity>,
    /// Zones.
    pub zones: Vec<ZoneEntity>,
    /// The camera is analysed: motion, occupancy, pictures and the detection switch.
    pub analysed: bool,
    /// The camera is recorded: the recording switch.
    pub recorded: bool,
}

/// A health rule's name for people: `health_stream_quality` -> "Stream quality", `health_ir_mode` ->
/// "IR mode".
fn health_name(rule: &str) -> String {
    if rule == vigil_core::health_rule(vigil_core::IR_MODE) {
        return "IR mode".into();
    }
    let state = rule
        .strip_prefix("health_")
        .unwrap_or(rule)
        .replace('_', " ");
    let mut c = state.chars();
    c.next()
        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}

impl CameraEntities {
    /// The same with a problem sensor per camera health state (`health_offline`...), off until a state
    /// starts: the stream's states, and the picture's (`health_covered`...) when `picture` (analysed).
    pub fn with_health(mut self, picture: bool) -> Self {
        self.rules.extend(
            vigil_core::HEALTH_STATES
                .iter()
                .filter(|s| picture || vigil_core::STREAM_HEALTH_STATES.contains(s))
                .map(|s| RuleEntity {
                    name: vigil_core::health_rule(s),
                    kind: "camera_health".into(),
                }),
        );
        self
    }

    /// The entities of an analysed camera's rules configuration (enabled rules, every line and zone).
    pub fn from_rules(camera: &str, rules: &vigil_rules::RulesConfig) -> Self {
        Self {
            camera: camera.to_string(),
            rules: rules
                .rule
                .iter()
                .filter(|r| r.enabled)
                .map(|r| RuleEntity {
                    name: r.name.clone(),
                    kind: r.kind.map(|k| k.name().to_string()).unwrap_or_default(),
                })
                .collect(),
            lines: rules
                .line
                .iter()
                .map(|l| LineEntity {
                    name: l.name.clone(),
                    inbound: l.inbound,
                })
                .collect(),
            zones: rules
                .zone
                .iter()
                .map(|z| ZoneEntity {
                    name: z.name.clone(),
                    classes: z.classes.clone(),
                })
                .collect(),
            analysed: true,
            recorded: false,
        }
    }

    /// The same, recorded or not.
    pub fn recorded(mut self, recorded: bool) -> Self {
        self.recorded = recorded;
        self
    }
}

/// Builds discovery documents for one installation (client id, topics).
pub(crate) struct Discovery<'a> {
    pub topics: &'a Topics,
    pub qos: u8,
    /// The web UI (`https://host:8443/`), for "Visit" links.
    pub ui_url: Option<&'a str>,
    /// Classes with occupancy sensors.
    pub classes: &'a [String],
    /// Camera pictures are published.
    pub pictures: bool,
    /// The MQTT client id (names the server device).
    pub client_id: &'a str,
}

impl Discovery<'_> {
    fn server_id(&self) -> String {
        format!("{}_server", self.topics.node())
    }

    fn ui(&self, fragment: &str) -> Option<String> {
        self.ui_url
            .map(|u| format!("{}/{fragment}", u.trim_end_matches('/')))
    }

    fn device(&self, camera: &str) -> Value {
        let mut d = json!({
            "identifiers": [format!("{}_{}", self.topics.node(), slug(camera))],
            "name": camera,
            "manufacturer": "Vigil",
            "model": "Vigil camera",
            "sw_version": env!("CARGO_PKG_VERSION"),
            "via_device": self.server_id(),
        });
        if let Some(url) = self.ui(&format!("#/camera/{}", percent(camera))) {
            d["configuration_url"] = url.into();
        }
        d
    }

    fn server_device(&self) -> Value {
        let mut d = json!({
            "identifiers": [self.server_id()],
            "name": format!("Vigil {}", self.client_id.trim_start_matches("vigil-")),
            "manufacturer": "Vigil",
            "model": "Vigil server",
            "sw_version": env!("CARGO_PKG_VERSION"),
        });
        if let Some(url) = self.ui("") {
            d["configuration_url"] = url.into();
        }
        d
    }

    /// What every entity has: name, unique id, availability, device, origin.
    fn common(&self, device: Value, object_id: &str, name: &str) -> Value {
        json!({
            "name": name,
            "unique_id": format!("{}_{}", self.topics.node(), object_id),
            "availability_topic": self.topics.availability(),
            "payload_available": "online",
            "payload_not_available": "offline",
            "qos": self.qos,
            "device": device,
            "origin": {
                "name": "Vigil",
                "sw_version": env!("CARGO_PKG_VERSION"),
            },
        })
    }

    fn base(&self, camera: &str, object_id: &str, name: &str, state_topic: &str) -> Value {
        let mut v = self.common(self.device(camera), object_id, name);
        v["state_topic"] = state_topic.into();
        v
    }

    fn extend(mut v: Value, extra: Value) -> Value {
        if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
            m.extend(e);
        }
        v
    }

    /// `(topic, document)` for a rule: a binary sensor, or an event entity for a line crossing rule. A
    /// camera health state (`health_covered`...) is a problem sensor named for people ("Covered"); the
    /// switch to IR mode (`health_ir_mode`, information) a plain one ("IR mode"), from its first event.
    pub fn rule(&self, camera: &str, rule: &RuleEntity) -> (String, Value) {
        let name = &rule.name;
        let shown = match rule.kind.as_str() {
            "camera_health" => health_name(name),
            "onvif_event" => format!("Camera {} (ONVIF)", name.trim_start_matches("onvif_")),
            _ => name.clone(),
        };
        let object_id = format!("{}_rule_{}", slug(camera), slug(name));
        if rule.kind == "line_crossing" {
            let doc = Self::extend(
                self.base(
                    camera,
                    &object_id,
                    name,
                    &self.topics.rule_crossing(camera, name),
                ),
                json!({
                    "event_types": ["in", "out"],
                    "icon": "mdi:transit-connection-horizontal",
                }),
            );
            return (self.topics.discovery("event", &object_id), doc);
        }
        let mut doc = Self::extend(
            self.base(
                camera,
                &object_id,
                &shown,
                &self.topics.rule_active(camera, name),
            ),
            json!({
                "payload_on": "ON",
                "payload_off": "OFF",
                "json_attributes_topic": self.topics.rule_event(camera, name),
            }),
        );
        match rule.kind.as_str() {
            "intrusion" => doc["device_class"] = "safety".into(),
            "loitering" | "crowding" => doc["device_class"] = "occupancy".into(),
            "camera_health"
                if vigil_core::INFO_HEALTH_STATES
                    .iter()
                    .any(|s| name.strip_prefix("health_") == Some(s)) =>
            {
                doc["icon"] = "mdi:weather-night".into()
            }
            "queue" | "camera_health" => doc["device_class"] = "problem".into(),
            "onvif_event" if name == "onvif_motion" => doc["device_class"] = "motion".into(),
            "onvif_event" if name == "onvif_tamper" => doc["device_class"] = "tamper".into(),
            _ => doc["icon"] = "mdi:shield-alert".into(),
        }
        (self.topics.discovery("binary_sensor", &object_id), doc)
    }

    /// `(topic, document)` for a line's three counters.
    pub fn line(&self, camera: &str, line: &str) -> Vec<(String, Value)> {
        let state = self.topics.line_count(camera, line);
        [
            ("in", "in", "total_increasing", "mdi:arrow-right-bold"),
            ("out", "out", "total_increasing", "mdi:arrow-left-bold"),
            ("net", "net", "measurement", "mdi:counter"),
        ]
        .into_iter()
        .map(|(key, label, class, icon)| {
            let object_id = format!("{}_line_{}_{key}", slug(camera), slug(line));
            let doc = Self::extend(
                self.base(camera, &object_id, &format!("{line} {label}"), &state),
                json!({
                    // Bracket syntax: `in` is a Jinja keyword.
                    "value_template": format!("{{{{ value_json['{key}'] }}}}"),
                    "state_class": class,
                    "icon": icon,
                }),
            );
            (self.topics.discovery("sensor", &object_id), doc)
        })
        .collect()
    }

    /// A count sensor of one class in an occupancy document (`by_class`).
    fn class_count(
        &self,
        camera: &str,
        object_id: &str,
        name: &str,
        state: &str,
        class: &str,
    ) -> (String, Value) {
        let doc = Self::extend(
            self.base(camera, object_id, name, state),
            json!({
                "value_template": format!("{{{{ value_json['by_class'].get('{}', 0) }}}}", class.replace(['\'', '\\', '{', '}'], "")),
                "state_class": "measurement",
                "icon": class_icon(class),
            }),
        );
        (self.topics.discovery("sensor", object_id), doc)
    }

    /// `(topic, document)`s for a zone's occupancy: all objects, and per occupancy class it counts.
    pub fn zone(&self, camera: &str, zone: &ZoneEntity) -> Vec<(String, Value)> {
        let name = &zone.name;
        let state = self.topics.zone_occupancy(camera, name);
        let object_id = format!("{}_zone_{}_occupancy", slug(camera), slug(name));
        let total = Self::extend(
            self.base(camera, &object_id, &format!("{name} occupancy"), &state),
            json!({
                "value_template": "{{ value_json['count'] }}",
                "state_class": "measurement",
                "icon": "mdi:account-group",
            }),
        );
        let mut docs = vec![(self.topics.discovery("sensor", &object_id), total)];
        for class in self
            .classes
            .iter()
            .filter(|c| zone.classes.is_empty() || zone.classes.contains(c))
        {
            let id = format!("{}_zone_{}_{}_count", slug(camera), slug(name), slug(class));
            docs.push(self.class_count(
                camera,
                &id,
                &format!("{name} {class} count"),
                &state,
                class,
            ));
        }
        docs
    }

    /// `(topic, document)`s of the camera itself: diagnostics always; motion, occupancy, pictures and
    /// the detection switch when analysed; the recording switch when recorded.
    pub fn camera(&self, camera: &str, analysed: bool, recorded: bool) -> Vec<(String, Value)> {
        let c = slug(camera);
        let state = self.topics.camera_status(camera);
        let fps_id = format!("{c}_fps");
        let fps = Self::extend(
            self.base(camera, &fps_id, "Analysed fps", &state),
            json!({
                "value_template": "{{ value_json['fps'] }}",
                "unit_of_measurement": "fps",
                "state_class": "measurement",
                "suggested_display_precision": 1,
                "entity_category": "diagnostic",
                "icon": "mdi:speedometer",
            }),
        );
        let online_id = format!("{c}_online");
        let online = Self::extend(
            self.base(camera, &online_id, "Stream", &state),
            json!({
                "device_class": "connectivity",
                "value_template": "{{ 'ON' if value_json['online'] else 'OFF' }}",
                "payload_on": "ON",
                "payload_off": "OFF",
                "entity_category": "diagnostic",
            }),
        );
        let mut docs = vec![
            (self.topics.discovery("sensor", &fps_id), fps),
            (self.topics.discovery("binary_sensor", &online_id), online),
        ];
        if analysed {
            let motion_id = format!("{c}_motion");
            let motion = Self::extend(
                self.base(
                    camera,
                    &motion_id,
                    "Motion",
                    &self.topics.camera_motion(camera),
                ),
                json!({"device_class": "motion", "payload_on": "ON", "payload_off": "OFF"}),
            );
            docs.push((self.topics.discovery("binary_sensor", &motion_id), motion));
            let occupancy = self.topics.camera_occupancy(camera);
            for class in self.classes {
                let id = format!("{c}_{}_count", slug(class));
                docs.push(self.class_count(
                    camera,
                    &id,
                    &format!("{class} count"),
                    &occupancy,
                    class,
                ));
            }
            if self.pictures {
                let id = format!("{c}_camera");
                let mut doc = self.common(self.device(camera), &id, "Picture");
                doc["topic"] = self.topics.camera_snapshot(camera).into();
                docs.push((self.topics.discovery("camera", &id), doc));
            }
            let id = format!("{c}_event_snapshot");
            let mut doc = self.common(self.device(camera), &id, "Last event");
            doc["image_topic"] = self.topics.event_snapshot(camera).into();
            doc["content_type"] = "image/jpeg".into();
            docs.push((self.topics.discovery("image", &id), doc));
            docs.push(self.switch(camera, Switch::Detection));
        }
        if recorded {
            docs.push(self.switch(camera, Switch::Recording));
        }
        docs
    }

    fn switch(&self, camera: &str, switch: Switch) -> (String, Value) {
        let id = format!("{}_{}_switch", slug(camera), switch.name());
        let (name, icon) = match switch {
            Switch::Detection => ("Detection", "mdi:motion-sensor"),
            Switch::Recording => ("Recording", "mdi:record-rec"),
        };
        let doc = Self::extend(
            self.base(camera, &id, name, &self.topics.switch_state(camera, switch)),
            json!({
                "command_topic": self.topics.switch_command(camera, switch),
                "payload_on": "ON",
                "payload_off": "OFF",
                "state_on": "ON",
                "state_off": "OFF",
                "entity_category": "config",
                "icon": icon,
            }),
        );
        (self.topics.discovery("switch", &id), doc)
    }

    /// `(topic, document)`s of the server device.
    pub fn server(&self) -> Vec<(String, Value)> {
        let state = self.topics.server();
        [
            (
                "detector_ms",
                "Detector inference",
                json!({"unit_of_measurement": "ms", "device_class": "duration",
                       "suggested_display_precision": 1, "icon": "mdi:chip"}),
            ),
            (
                "cpu_percent",
                "CPU",
                json!({"unit_of_measurement": "%", "suggested_display_precision": 1,
                       "icon": "mdi:cpu-64-bit"}),
            ),
            (
                "storage_used_gb",
                "Storage used",
                json!({"unit_of_measurement": "GB", "device_class": "data_size",
                       "suggested_display_precision": 2, "icon": "mdi:harddisk"}),
            ),
            (
                "storage_free_gb",
                "Storage free",
                json!({"unit_of_measurement": "GB", "device_class": "data_size",
                       "suggested_display_precision": 2, "icon": "mdi:harddisk"}),
            ),
            (
                "cameras_online",
                "Cameras online",
                json!({"icon": "mdi:cctv"}),
            ),
        ]
        .into_iter()
        .map(|(key, name, extra)| {
            let id = format!("server_{key}");
            let mut doc = self.common(self.server_device(), &id, name);
            doc["state_topic"] = state.clone().into();
            doc["value_template"] = format!("{{{{ value_json['{key}'] }}}}").into();
            doc["state_class"] = "measurement".into();
            (
                self.topics.discovery("sensor", &id),
                Self::extend(doc, extra),
            )
        })
        .chain(std::iter::once(self.storage_problem()))
        .collect()
    }

    /// The server's "Storage problem" binary sensor: on while a storage condition is in force, the
    /// conditions' sentences as its `problems` attribute.
    fn storage_problem(&self) -> (String, Value) {
        let id = "server_storage_problem";
        let mut doc = self.common(self.server_device(), id, "Storage problem");
        doc["state_topic"] = self.topics.server().into();
        doc["value_template"] =
            "{{ 'ON' if value_json['storage_problems'] | default([]) | length > 0 else 'OFF' }}"
                .into();
        doc["payload_on"] = "ON".into();
        doc["payload_off"] = "OFF".into();
        doc["device_class"] = "problem".into();
        doc["json_attributes_topic"] = self.topics.server().into();
        doc["json_attributes_template"] =
            "{{ {'problems': value_json['storage_problems'] | default([])} | tojson }}".into();
        (self.topics.discovery("binary_sensor", id), doc)
    }
}

/// An icon for a class's count.
fn class_icon(class: &str) -> &'static str {
    match class {
        "person" => "mdi:account",
        "car" | "truck" | "bus" => "mdi:car",
        "bicycle" => "mdi:bicycle",
        "motorcycle" => "mdi:motorbike",
        "dog" => "mdi:dog",
        "cat" => "mdi:cat",
        _ => "mdi:shape",
    }
}

/// A name percent-encoded for a URL fragment (everything but unreserved characters).
fn percent(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
