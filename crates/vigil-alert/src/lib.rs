//! Vigil alert delivery: the rules engine's events, counts and camera health go out to MQTT (with Home
//! Assistant discovery), signed webhooks and deterrence outputs (lights, sirens, speakers) within a
//! fraction of a second, and nothing is lost when the broker restarts.
//!
//! # Use
//!
//! ```no_run
//! # async fn run(config: vigil_alert::AlertConfig, rules: vigil_rules::RulesConfig,
//! #              mut engine: vigil_rules::RuleEngine, frame: vigil_rules::FrameContext) {
//! use vigil_alert::{Alerts, CameraEntities, CameraStatus};
//! let (alerts, mut dead_letters) = Alerts::start(config).expect("valid alert configuration");
//! tokio::spawn(async move {
//!     while let Some(dl) = dead_letters.recv().await {
//!         // persist `dl` (it is Serialize) so it can be replayed
//!         # let _ = dl;
//!     }
//! });
//! alerts.register_camera(&CameraEntities::from_rules("front", &rules).recorded(true));
//! alerts.finish_registration(); // every camera registered: online, stale entities cleared
//! let controls = alerts.controls("front"); // Home Assistant's switches, read by the camera's threads
//! // In `vigil run` the event bus feeds it: `tokio::spawn(alerts.clone().consume(subscription))` hands
//! // over every event, count, status and view message. By hand, per analysed frame (from any thread;
//! // every call returns at once):
//! if controls.detection() {
//!     for event in engine.update(&frame, &[]) {
//!         alerts.publish_event(&event);
//!     }
//!     alerts.publish_counts("front", engine.counters(), &engine.occupancy());
//!     alerts.publish_motion("front", true);
//! }
//! alerts.publish_camera_status("front", &CameraStatus { online: true, fps: 10.0, message: None });
//! // at exit:
//! let report = alerts.shutdown(std::time::Duration::from_secs(5)).await;
//! # let _ = report;
//! # }
//! ```
//!
//! # Configuration
//!
//! ```
//! let text = r#"
//! [mqtt]
//! host = "127.0.0.1"            # default
//! port = 1883                   # default
//! client_id = "gate-nvr"        # default: vigil-<host>-<hash of data_dir>, unique per installation
//! username = "vigil"
//! password = "s3cret"           # never logged
//! topic_prefix = "site1/vigil"  # default: vigil/<host>-<hash of data_dir>
//! discovery = true              # Home Assistant discovery, default on
//! discovery_prefix = "homeassistant"
//! qos = 1                       # 1 (default) or 0
//! buffer = 10000                # messages kept while the broker is away (default)
//! snapshot_interval = "10s"     # camera pictures for Home Assistant (default; 0: none)
//! motion_off_delay = "30s"      # the motion sensor stays on this long after the last motion
//! occupancy_classes = ["person", "car"]   # classes with occupancy sensors (default)
//!
//! [[webhook]]
//! name = "ops"
//! url = "https://ops.example/vigil"
//! secret = "hmac key"           # signs requests (X-Vigil-Signature)
//! phases = ["start", "end"]     # default: start, update, end
//! cameras = ["front"]           # empty or absent: all; also rules, kinds, classes
//! min_interval = "5m"           # at most one event per camera and rule every 5 min (default 0)
//! timeout = "10s"               # default
//! retries = 4                   # default
//! retry_delay = "1s"            # default; doubles each retry up to retry_delay_max (60 s)
//!
//! [[output]]
//! name = "Dock floodlight"
//! rules = ["Dock after hours"]
//! min_interval = "1m"           # default 30 s
//! http = { method = "POST", url = "http://10.0.0.20/rpc/Switch.Set", body = '{"id":0,"on":true}' }
//! reset_http = { url = "http://10.0.0.20/rpc/Switch.Set", body = '{"id":0,"on":false}' }
//!
//! [[output]]
//! name = "Siren"
//! rules = ["Dock after hours"]
//! mqtt = { topic = "zigbee2mqtt/siren/set", payload = '{"warning":{"mode":"burglar","duration":10}}' }
//!
//! [links]
//! snapshot_url = "https://nvr.example/api/events/{event_id}/snapshot.jpg"
//! ui_url = "https://nvr.example:8443/"     # Home Assistant's "Visit" links
//! "#;
//! let config: vigil_alert::AlertConfig = toml::from_str(text).unwrap();
//! config.validate().unwrap();
//! ```
//!
//! # Topics and documents
//!
//! See [`Topics`] for the topic list and [`mqtt`] for what is published when; the Home Assistant entities
//! are listed in the `mqtt::discovery` module and in `docs/home-assistant.md`. Event messages ([`EventMessage`]) look like this (MQTT topic
//! `vigil/events/front/dock_after_hours`, and the webhook body):
//!
//! ```json
//! {"schema":1,"id":"01HZX3Q4M8A1B2C3D4E5F6G7H8","camera":"front","rule":"Dock after hours",
//!  "kind":"intrusion","phase":"start","class":"person","objects":[{"class":"person","count":1}],
//!  "object_count":1,"track_ids":[17],"zone":"Loading dock","line":null,
//!  "start":{"unix_ms":1717000000123,"utc":"2024-05-29T16:26:40.123Z","media_90k":900000},
//!  "last":{"unix_ms":1717000000123,"utc":"2024-05-29T16:26:40.123Z","media_90k":900000},
//!  "end":null,"duration_ms":0,"score":0.91,
//!  "best":{"track_id":17,"score":0.91,"box":[412.0,220.5,470.0,388.0],"frame_w":1280,"frame_h":720,
//!          "time":{"unix_ms":1717000000123,"utc":"2024-05-29T16:26:40.123Z","media_90k":900000}},
//!  "facts":{},"description":"A person entered Loading dock at 18:26",
//!  "snapshot_url":"https://nvr.example/api/events/01HZX3Q4M8A1B2C3D4E5F6G7H8/snapshot.jpg",
//!  "clip_url":null,"sent_unix_ms":1717000000125}
//! ```
//!
//! Counts: `vigil/front/line/gate_line/count` →
//! `{"camera":"front","line":"Gate line","in":12,"out":9,"net":3,"inbound_direction":"a_to_b",
//! "by_class":{"person":{"in":12,"out":9}},"unix_ms":...}`; occupancy: `vigil/front/zone/loading_dock/occupancy`
//! → `{"camera":"front","zone":"Loading dock","count":2,"by_class":{"person":2},"unix_ms":...}`; status: `vigil/front/status` →
//! `{"camera":"front","online":true,"fps":10.0,"message":null,"unix_ms":...}`.
//!
//! Names become topic levels through [`slug`] (lower case, other characters to `_`); two names that slug
//! alike (`"Dock A"`, `"dock-a"`) share topics, so keep them distinct.
//!
//! # Delivery guarantees and bounded queues
//!
//! - **MQTT**: at least once (QoS 1). Messages wait in one FIFO (`[mqtt] buffer`, default 10000) until the
//!   broker acknowledges them; after a lost connection the unacknowledged ones are sent again, in order,
//!   before anything newer, so per camera the order is kept (given a broker that acknowledges in order, as
//!   Mosquitto does). When the buffer is full the oldest event `update` goes first; a `start`/`end` is
//!   dropped only when the buffer holds nothing else (oldest first). Drops are counted in
//!   [`AlertHandle::status`] and logged. State topics keep only their latest value (bounded by topic count).
//! - **Webhooks**: one queue per webhook (`queue`, default 1000) with the same drop policy, delivered in
//!   order by the webhook's own thread; dropped starts/ends and deliveries that fail for good become
//!   [`DeadLetter`]s on the channel returned by [`Alerts::start`] (capacity
//!   [`dead_letter::DEAD_LETTER_CAPACITY`]; when it is full they are logged and counted).
//! - **Outputs**: a queue of 64 triggers per HTTP output; a trigger not sent within `max_delay` is
//!   abandoned (a late siren does harm).
//! - **Deduplication**: grouping recurrences into one event is the rules engine's job (`cooldown` per rule,
//!   updates at most once a second). This crate does not deduplicate events again; it only rate-limits
//!   *notifications* where asked: `min_interval` on webhooks (per camera and rule, whole events) and outputs.

#![warn(missing_docs)]

pub mod config;
mod consume;
pub mod controls;
pub mod dead_letter;
mod dispatch;
mod entities;
mod error;
mod http;
pub mod mqtt;
mod output;
pub mod payload;
mod queue;
pub mod template;
mod webhook;

pub use config::{
    AlertConfig, EventFilter, HttpAction, LinksConfig, MqttAction, MqttConfig, OutputConfig,
    Secret, WebhookConfig,
};
pub use controls::{CameraControls, Switch};
pub use dead_letter::{DeadLetter, DeadLetters, Target};
pub use dispatch::{AlertHandle, AlertStatus, Alerts, ShutdownReport};
pub use error::AlertError;
pub use mqtt::{
    CameraEntities, Instance, LineEntity, MqttHealth, MqttStatus, RuleEntity, Topics, ZoneEntity,
};
pub use output::OutputStatus;
pub use payload::{
    CameraStatus, CameraStatusMessage, EVENT_SCHEMA, EventMessage, LineCountMessage, MessageTime,
    OccupancyMessage, ServerStatus, ServerStatusMessage, ZoneOccupancyMessage, slug,
};
pub use webhook::{WebhookStatus, post_once, signature};

#[cfg(test)]
pub(crate) mod test_support {
    use vigil_core::{
        BBox, BestObject, ClassCount, Event, EventId, EventKind, EventPhase, EventTime, Time90k,
    };

    /// A plausible intrusion event message.
    pub fn event(camera: &str, rule: &str, phase: EventPhase, seq: u128) -> Event {
        let t = EventTime {
            unix_ms: 1_717_000_000_123,
            media: Time90k(900_000),
        };
        Event {
            attributes: Default::default(),
            id: EventId::from_parts(1_717_000_000_000, seq),
            camera: camera.into(),
            rule: rule.into(),
            kind: EventKind::Intrusion,
            phase,
            class_name: "person".into(),
            objects: vec![ClassCount {
                class_name: "person".into(),
                class_id: 0,
                count: 1,
            }],
            track_ids: vec![17],
            zone: Some("Loading dock".into()),
            line: None,
            start: t,
            last: t,
            end: (phase == EventPhase::End).then_some(t),
            best: Some(BestObject {
                track_id: 17,
                score: 0.91,
                bbox: BBox::new(412.0, 220.5, 470.0, 388.0),
                frame_w: 1280,
                frame_h: 720,
                time: t,
            }),
            description: "A person entered Loading dock".into(),
        }
    }
}
