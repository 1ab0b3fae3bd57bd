//! What Vigil publishes about its cameras and itself besides event messages, as retained MQTT state topics
//! with their Home Assistant entities: registration (discovery configs and first values), line counts and
//! zone occupancy, camera status, motion, objects in view, pictures, switch positions and server figures.
//!
//! Every method returns at once and may be called every frame: a state topic is sent only when its value
//! changes.

use crate::controls::{CameraControls, Switch};
use crate::dispatch::AlertHandle;
use crate::mqtt::{
    CameraEntities, Discovery, LineEntity, Mqtt, RANK_DISCOVERY, RANK_VALUE, RuleEntity, ZoneEntity,
};
use crate::payload::{
    CameraStatus, CameraStatusMessage, LineCountMessage, OccupancyMessage, ServerStatus,
    ServerStatusMessage, ZoneOccupancyMessage, now_unix_ms, round_to,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use vigil_rules::{LineCounts, ZoneOccupancy};

/// Per camera: the motion sensor's hold.
#[derive(Debug, Default)]
pub(crate) struct CameraState {
    motion: bool,
    last_motion: Option<Instant>,
}

/// Kinds of entities in the `known` set.
const RULE: u8 = 0;
const LINE: u8 = 1;
const ZONE: u8 = 2;
const CAMERA: u8 = 3;
const SERVER: u8 = 4;

impl AlertHandle {
    /// Announces a camera's rules, lines and zones (and whether it is analysed and recorded), so their
    /// Home Assistant entities exist before the first event, with fresh first values: rule flags `OFF`,
    /// counts and occupancy 0, no motion, the stream offline until its first status (anything not
    /// announced gets its entity when first seen).
    pub fn register_camera(&self, entities: &CameraEntities) {
        let camera = &entities.camera;
        let controls = self.controls(camera);
        let Some(m) = &self.inner.mqtt else {
            return;
        };
        for rule in &entities.rules {
            self.ensure_rule(m, camera, &rule.name, &rule.kind);
        }
        for line in &entities.lines {
            self.ensure_line(m, camera, line);
        }
        for zone in &entities.zones {
            self.ensure_zone(m, camera, zone);
        }
        if self.first_sight(CAMERA, camera, "") {
            self.discovery_docs(m, |d| {
                d.camera(camera, entities.analysed, entities.recorded)
            });
        }
        let now = now_unix_ms();
        let status = CameraStatusMessage {
            camera: camera.clone(),
            online: false,
            fps: 0.0,
            message: Some("starting".into()),
            unix_ms: now,
        };
        set_timed(m, m.topics.camera_status(camera), &status, true);
        if entities.analysed {
            m.set_state_if_absent(m.topics.camera_motion(camera), b"OFF".to_vec());
            set_timed(
                m,
                m.topics.camera_occupancy(camera),
                &occupancy(camera, &BTreeMap::new(), now),
                true,
            );
        }
        let switches = [
            (Switch::Detection, entities.analysed),
            (Switch::Recording, entities.recorded),
        ];
        for (switch, shown) in switches {
            if shown {
                let on: &[u8] = if controls.get(switch) { b"ON" } else { b"OFF" };
                m.set_state(
                    RANK_VALUE,
                    m.topics.switch_state(camera, switch),
                    on.to_vec(),
                    on.to_vec(),
                );
            }
        }
    }

    /// Says every camera is registered: Vigil shows as `online` (after the first values of every entity)
    /// and retained discovery configs of this installation that name anything else (a removed camera, a
    /// renamed rule, line or zone) are cleared from the broker, which removes those entities from Home
    /// Assistant. Until this is called, or [`crate::mqtt::ONLINE_FALLBACK`] has passed, Vigil shows as
    /// offline.
    pub fn finish_registration(&self) {
        let Some(m) = &self.inner.mqtt else {
            return;
        };
        if self.first_sight(SERVER, "", "") {
            self.discovery_docs(m, |d| d.server());
        }
        {
            let mut g = m.lock();
            g.registered = true;
            g.go_online(&m.topics);
        }
        m.notify.notify_one();
    }

    /// A camera's switches (detection, recording), to be obeyed by its analysis and recorder threads.
    /// Works without MQTT too (then they stay as they were last set, on by default).
    pub fn controls(&self, camera: &str) -> CameraControls {
        self.inner.controls.camera(camera)
    }

    /// True the first time an entity is seen (so its configs are built once, not per message).
    fn first_sight(&self, kind: u8, camera: &str, item: &str) -> bool {
        let mut known = self.inner.known.lock().unwrap_or_else(|p| p.into_inner());
        let key = (kind, camera.to_string(), item.to_string());
        if known.contains(&key) || known.len() >= crate::mqtt::MAX_STATE_TOPICS {
            return false;
        }
        known.insert(key)
    }

    /// Sets the discovery configs `f` builds (when discovery is on).
    fn discovery_docs(
        &self,
        m: &Mqtt,
        f: impl FnOnce(&Discovery) -> Vec<(String, serde_json::Value)>,
    ) {
        if !m.discovery() {
            return;
        }
        let d = Discovery {
            topics: &m.topics,
            qos: m.config.qos,
            ui_url: self.inner.ui_url.as_deref(),
            classes: &m.config.occupancy_classes,
            pictures: m.config.snapshot_interval.as_millis() > 0,
            client_id: &m.config.client_id,
        };
        for (topic, doc) in f(&d) {
            let bytes = serde_json::to_vec(&doc).unwrap_or_default();
            m.set_state(RANK_DISCOVERY, topic, bytes.clone(), bytes);
        }
    }

    pub(crate) fn ensure_rule(&self, m: &Mqtt, camera: &str, rule: &str, kind: &str) {
        if !self.first_sight(RULE, camera, rule) {
            return;
        }
        m.set_state_if_absent(m.topics.rule_active(camera, rule), b"OFF".to_vec());
        m.set_state_if_absent(m.topics.rule_event(camera, rule), b"{}".to_vec());
        let entity = RuleEntity {
            name: rule.to_string(),
            kind: kind.to_string(),
        };
        self.discovery_docs(m, |d| vec![d.rule(camera, &entity)]);
    }

    fn ensure_line(&self, m: &Mqtt, camera: &str, line: &LineEntity) {
        if !self.first_sight(LINE, camera, &line.name) {
            return;
        }
        let zero = LineCountMessage {
            camera: camera.to_string(),
            line: line.name.clone(),
            inbound: 0,
            outbound: 0,
            net: 0,
            inbound_direction: line.inbound,
            by_class: BTreeMap::new(),
            unix_ms: now_unix_ms(),
        };
        set_timed(m, m.topics.line_count(camera, &line.name), &zero, true);
        self.discovery_docs(m, |d| d.line(camera, &line.name));
    }

    fn ensure_zone(&self, m: &Mqtt, camera: &str, zone: &ZoneEntity) {
        if !self.first_sight(ZONE, camera, &zone.name) {
            return;
        }
        let zero = ZoneOccupancyMessage {
            camera: camera.to_string(),
            zone: zone.name.clone(),
            count: 0,
            by_class: BTreeMap::new(),
            unix_ms: now_unix_ms(),
        };
        set_timed(m, m.topics.zone_occupancy(camera, &zone.name), &zero, true);
        self.discovery_docs(m, |d| d.zone(camera, zone));
    }

    fn ensure_camera(&self, m: &Mqtt, camera: &str) {
        if self.first_sight(CAMERA, camera, "") {
            self.discovery_docs(m, |d| d.camera(camera, false, false));
        }
    }

    /// Publishes a camera's line counters and zone occupancy as retained state topics (only the values
    /// that changed are sent; calling this every frame is fine).
    pub fn publish_counts(&self, camera: &str, lines: &[LineCounts], zones: &[ZoneOccupancy]) {
        let Some(m) = &self.inner.mqtt else {
            return;
        };
        let now = now_unix_ms();
        for c in lines {
            self.ensure_line(
                m,
                camera,
                &LineEntity {
                    name: c.line.clone(),
                    inbound: c.inbound_direction,
                },
            );
            let msg = LineCountMessage::new(camera, c, now);
            set_timed(m, m.topics.line_count(camera, &c.line), &msg, false);
        }
        for z in zones {
            self.ensure_zone(m, camera, &ZoneEntity::from(z.zone.as_str()));
            let msg = ZoneOccupancyMessage::new(camera, z, now);
            set_timed(m, m.topics.zone_occupancy(camera, &z.zone), &msg, false);
        }
    }

    /// Publishes a camera's status (online, fps) as a retained state topic; fps is rounded to 0.1 so a
    /// jittering rate does not flood the broker.
    pub fn publish_camera_status(&self, camera: &str, status: &CameraStatus) {
        let Some(m) = &self.inner.mqtt else {
            return;
        };
        self.ensure_camera(m, camera);
        let msg = CameraStatusMessage {
            camera: camera.to_string(),
            online: status.online,
            fps: round_to(f64::from(status.fps), 10.0),
            message: status.message.clone(),
            unix_ms: now_unix_ms(),
        };
        set_timed(m, m.topics.camera_status(camera), &msg, false);
    }

    /// Whether a camera sees motion now (call it every analysed frame): the motion sensor turns on at
    /// once and off `[mqtt] motion_off_delay` after the last motion.
    pub fn publish_motion(&self, camera: &str, moving: bool) {
        let Some(m) = &self.inner.mqtt else {
            return;
        };
        let hold = Duration::from_millis(m.config.motion_off_delay.as_millis());
        let now = Instant::now();
        let change = {
            let mut cams = self.inner.cameras.lock().unwrap_or_else(|p| p.into_inner());
            // Called every frame: no allocation once the camera is known.
            if !cams.contains_key(camera) {
                cams.insert(camera.to_string(), CameraState::default());
            }
            let Some(c) = cams.get_mut(camera) else {
                return;
            };
            if moving {
                c.last_motion = Some(now);
            }
            let on = moving || c.last_motion.is_some_and(|t| now - t < hold);
            let changed = on != c.motion;
            c.motion = on;
            changed.then_some(on)
        };
        if let Some(on) = change {
            let v: &[u8] = if on { b"ON" } else { b"OFF" };
            m.set_state(
                RANK_VALUE,
                m.topics.camera_motion(camera),
                v.to_vec(),
                v.to_vec(),
            );
        }
    }

    /// The objects in a camera's view now, per class name (sent when the counts change).
    pub fn publish_occupancy(&self, camera: &str, by_class: &BTreeMap<String, u32>) {
        let Some(m) = &self.inner.mqtt else {
            return;
        };
        let msg = occupancy(camera, by_class, now_unix_ms());
        set_timed(m, m.topics.camera_occupancy(camera), &msg, false);
    }

    /// Publishes a camera's latest picture (JPEG, privacy masks already applied) for its Home Assistant
    /// camera entity; the analysis takes one every `[mqtt] snapshot_interval`.
    pub fn publish_snapshot(&self, camera: &str, jpeg: &[u8]) {
        if let Some(m) = &self.inner.mqtt {
            set_picture(m, m.topics.camera_snapshot(camera), jpeg);
        }
    }

    /// Publishes the picture of a camera's latest event (JPEG, privacy masks already applied) for its
    /// Home Assistant image entity.
    pub fn publish_event_snapshot(&self, camera: &str, jpeg: &[u8]) {
        if let Some(m) = &self.inner.mqtt {
            set_picture(m, m.topics.event_snapshot(camera), jpeg);
        }
    }

    /// Publishes the server's figures (detector speed, CPU, storage) for the Vigil server device.
    pub fn publish_server(&self, status: &ServerStatus) {
        let Some(m) = &self.inner.mqtt else {
            return;
        };
        if self.first_sight(SERVER, "", "") {
            self.discovery_docs(m, |d| d.server());
        }
        let msg = ServerStatusMessage::new(status, now_unix_ms());
        set_timed(m, m.topics.server(), &msg, false);
    }
}

fn occupancy(camera: &str, by_class: &BTreeMap<String, u32>, unix_ms: i64) -> OccupancyMessage {
    OccupancyMessage {
        camera: camera.to_string(),
        count: by_class.values().sum(),
        by_class: by_class.clone(),
        unix_ms,
    }
}

/// Sets a picture: compared by a hash, not by its bytes.
fn set_picture(m: &Mqtt, topic: String, jpeg: &[u8]) {
    if jpeg.len() > crate::mqtt::MAX_IMAGE {
        tracing::warn!(%topic, bytes = jpeg.len(), "picture too large for MQTT; not published");
        return;
    }
    let hash = crate::mqtt::payload_hash(jpeg).to_le_bytes().to_vec();
    m.set_state(RANK_VALUE, topic, hash, jpeg.to_vec());
}

/// Sets a state topic whose JSON has a `unix_ms` field that does not count as a change; with
/// `if_absent`, only when the topic has no value yet (first values never overwrite live ones).
fn set_timed<T: serde::Serialize>(m: &Mqtt, topic: String, msg: &T, if_absent: bool) {
    let Ok(serde_json::Value::Object(mut v)) = serde_json::to_value(msg) else {
        return;
    };
    let payload = serde_json::to_vec(&v).unwrap_or_default();
    v.remove("unix_ms");
    let compare = serde_json::to_vec(&v).unwrap_or_default();
    if if_absent && m.lock().states.contains(RANK_VALUE, &topic) {
        return;
    }
    m.set_state(RANK_VALUE, topic, compare, payload);
}
