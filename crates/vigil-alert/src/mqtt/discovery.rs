//! Home Assistant MQTT discovery: retained config documents so a camera's entities appear by themselves.
//!
//! Per camera, one HA device (`identifiers = ["<client>_<camera>"]`) holding:
//! - a `binary_sensor` per rule, on while the rule has any open event (per-object rules have one per
//!   person; it goes off when the last one ends) (state `.../rule/<rule>/active`,
//!   `ON`/`OFF`; attributes from the last event message on `.../rule/<rule>/event`);
//! - three `sensor`s per line: `in`, `out` (state class `total_increasing`) and `net`;
//! - a `sensor` per zone: objects in the zone now;
//! - diagnostics: a `sensor` for analysed frames per second and a connectivity `binary_sensor`.
//!
//! Every entity has a stable `unique_id` built from the MQTT client id, the camera and the item names, and
//! uses Vigil's availability topic (`online`/`offline`, with a Last Will).

use super::Topics;
use crate::payload::slug;
use serde_json::{Value, json};

/// The names of a camera's rules, lines and zones, for its Home Assistant entities.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CameraEntities {
    /// Camera name.
    pub camera: String,
    /// Rule names.
    pub rules: Vec<String>,
    /// Line names.
    pub lines: Vec<String>,
    /// Zone names.
    pub zones: Vec<String>,
}

impl CameraEntities {
    /// The entities of a camera's rules configuration (enabled rules, every line and zone).
    pub fn from_rules(camera: &str, rules: &vigil_rules::RulesConfig) -> Self {
        Self {
            camera: camera.to_string(),
            rules: rules
                .rule
                .iter()
                .filter(|r| r.enabled)
                .map(|r| r.name.clone())
                .collect(),
            lines: rules.line.iter().map(|l| l.name.clone()).collect(),
            zones: rules.zone.iter().map(|z| z.name.clone()).collect(),
        }
    }
}

/// Builds discovery documents for one installation (client id, topics).
pub(crate) struct Discovery<'a> {
    pub topics: &'a Topics,
    pub qos: u8,
}

impl Discovery<'_> {
    fn device(&self, camera: &str) -> Value {
        json!({
            "identifiers": [format!("{}_{}", self.topics.node(), slug(camera))],
            "name": camera,
            "manufacturer": "Vigil",
            "model": "Vigil camera",
            "sw_version": env!("CARGO_PKG_VERSION"),
        })
    }

    fn base(&self, camera: &str, object_id: &str, name: &str, state_topic: &str) -> Value {
        json!({
            "name": name,
            "unique_id": format!("{}_{}", self.topics.node(), object_id),
            "state_topic": state_topic,
            "availability_topic": self.topics.availability(),
            "payload_available": "online",
            "payload_not_available": "offline",
            "qos": self.qos,
            "device": self.device(camera),
            "origin": {
                "name": "Vigil",
                "sw_version": env!("CARGO_PKG_VERSION"),
            },
        })
    }

    fn extend(mut v: Value, extra: Value) -> Value {
        if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
            m.extend(e);
        }
        v
    }

    /// `(topic, document)` for a rule's binary sensor.
    pub fn rule(&self, camera: &str, rule: &str) -> (String, Value) {
        let object_id = format!("{}_rule_{}", slug(camera), slug(rule));
        let doc = Self::extend(
            self.base(
                camera,
                &object_id,
                rule,
                &self.topics.rule_active(camera, rule),
            ),
            json!({
                "payload_on": "ON",
                "payload_off": "OFF",
                "json_attributes_topic": self.topics.rule_event(camera, rule),
                "icon": "mdi:shield-alert",
            }),
        );
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

    /// `(topic, document)` for a zone's occupancy sensor.
    pub fn zone(&self, camera: &str, zone: &str) -> (String, Value) {
        let object_id = format!("{}_zone_{}_occupancy", slug(camera), slug(zone));
        let doc = Self::extend(
            self.base(
                camera,
                &object_id,
                &format!("{zone} occupancy"),
                &self.topics.zone_occupancy(camera, zone),
            ),
            json!({
                "value_template": "{{ value_json['count'] }}",
                "state_class": "measurement",
                "icon": "mdi:account-group",
            }),
        );
        (self.topics.discovery("sensor", &object_id), doc)
    }

    /// `(topic, document)` for the camera's fps sensor and connectivity binary sensor.
    pub fn camera(&self, camera: &str) -> Vec<(String, Value)> {
        let state = self.topics.camera_status(camera);
        let fps_id = format!("{}_fps", slug(camera));
        let fps = Self::extend(
            self.base(camera, &fps_id, "Analysed fps", &state),
            json!({
                "value_template": "{{ value_json['fps'] }}",
                "unit_of_measurement": "fps",
                "state_class": "measurement",
                "entity_category": "diagnostic",
                "icon": "mdi:speedometer",
            }),
        );
        let online_id = format!("{}_online", slug(camera));
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
        vec![
            (self.topics.discovery("sensor", &fps_id), fps),
            (self.topics.discovery("binary_sensor", &online_id), online),
        ]
    }
}
