//! The JSON documents Vigil sends: event messages (MQTT and webhooks), line counts, zone occupancy and
//! camera status (MQTT state topics). Field by field documentation is on the types; the crate
//! documentation shows examples.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vigil_core::{Event, EventPhase, EventTime};
use vigil_rules::{LineCounts, ZoneOccupancy};

/// Version of the event message layout; bumped when a field changes meaning or goes away (new fields may
/// be added without a bump).
pub const EVENT_SCHEMA: u32 = 1;

/// A moment on both clocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageTime {
    /// Unix milliseconds (UTC).
    pub unix_ms: i64,
    /// The same instant as ISO 8601 UTC text (`2024-05-29T16:26:40.123Z`).
    pub utc: String,
    /// Media time of the frame on the camera stream's 90 kHz clock (finds the frames in the recording).
    pub media_90k: i64,
}

impl From<EventTime> for MessageTime {
    fn from(t: EventTime) -> Self {
        Self {
            unix_ms: t.unix_ms,
            utc: utc_text(t.unix_ms),
            media_90k: t.media.0,
        }
    }
}

/// Distinct objects of one class in an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectCount {
    /// Class name.
    pub class: String,
    /// Distinct tracks of that class.
    pub count: u32,
}

/// The best view of an object in the event (what a snapshot should show).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestView {
    /// Its track.
    pub track_id: u64,
    /// Detection score.
    pub score: f32,
    /// Box `[x1, y1, x2, y2]` in pixels of a `frame_w` x `frame_h` frame.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Width of the analysed frame.
    pub frame_w: u32,
    /// Height of the analysed frame.
    pub frame_h: u32,
    /// When that frame was seen.
    pub time: MessageTime,
}

/// One event message, as published on MQTT (`<prefix>/events/<camera>/<rule>`) and POSTed to webhooks.
/// Every message of an event carries the event's whole current state under the same `id`: consumers
/// upsert by `id` (and may see a message twice: delivery is at least once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMessage {
    /// Layout version ([`EVENT_SCHEMA`]).
    pub schema: u32,
    /// Event id (26 Crockford base-32 characters, sorts by creation time).
    pub id: String,
    /// Camera name.
    pub camera: String,
    /// Rule name.
    pub rule: String,
    /// `line_crossing`, `intrusion`, `loitering`, `crowding` or `queue`.
    pub kind: String,
    /// `start`, `update` or `end`.
    pub phase: EventPhase,
    /// Main object class.
    pub class: String,
    /// Distinct objects per class.
    pub objects: Vec<ObjectCount>,
    /// Distinct objects, all classes.
    pub object_count: u32,
    /// Tracks that took part (the first few dozen).
    pub track_ids: Vec<u64>,
    /// Zone name (zone rules), else null.
    pub zone: Option<String>,
    /// Line name (line rules), else null.
    pub line: Option<String>,
    /// When the situation began.
    pub start: MessageTime,
    /// Latest time it was seen to hold.
    pub last: MessageTime,
    /// When it ended (`end` messages only), else null.
    pub end: Option<MessageTime>,
    /// `last - start` in milliseconds.
    pub duration_ms: u64,
    /// Best detection score of the event, null when unknown.
    pub score: Option<f32>,
    /// The best view of an object, null when unknown.
    pub best: Option<BestView>,
    /// Facts of the kind: `line_crossing` has `direction` (`a_to_b`/`b_to_a`), `inbound`,
    /// `inbound_count`, `outbound_count`; `loitering` has `dwell_ms`, `min_dwell_ms`; `crowding` has `count`,
    /// `peak`, `more_than`; `queue` has `length`, `peak_length`, `mean_wait_ms`, `max_wait_ms`; `intrusion`
    /// has none.
    pub facts: serde_json::Map<String, serde_json::Value>,
    /// Plain-language description in the site's local time.
    pub description: String,
    /// What the event's main object looked like and how it moved (`upper_colour`, `lower_colour` for
    /// people, `colour` for vehicles, `size`, `speed`, `direction`, `zones`; each only when known);
    /// omitted when nothing is known.
    #[serde(default, skip_serializing_if = "vigil_core::Attributes::is_empty")]
    pub attributes: vigil_core::Attributes,
    /// Link to the event's snapshot (from `[links]`), null until configured.
    pub snapshot_url: Option<String>,
    /// Link to the event's clip (from `[links]`), null until configured.
    pub clip_url: Option<String>,
    /// When Vigil handed this message over for delivery (unix ms).
    pub sent_unix_ms: i64,
}

impl EventMessage {
    /// The message for an event; links are filled by the caller.
    pub fn new(e: &Event, sent_unix_ms: i64) -> Self {
        let facts = match serde_json::to_value(&e.kind) {
            Ok(serde_json::Value::Object(mut m)) => {
                m.remove("type");
                m
            }
            _ => serde_json::Map::new(),
        };
        Self {
            schema: EVENT_SCHEMA,
            id: e.id.to_string(),
            camera: e.camera.clone(),
            rule: e.rule.clone(),
            kind: e.kind.name().to_string(),
            phase: e.phase,
            class: e.class_name.clone(),
            objects: e
                .objects
                .iter()
                .map(|c| ObjectCount {
                    class: c.class_name.clone(),
                    count: c.count,
                })
                .collect(),
            object_count: e.object_count(),
            track_ids: e.track_ids.clone(),
            zone: e.zone.clone(),
            line: e.line.clone(),
            start: e.start.into(),
            last: e.last.into(),
            end: e.end.map(Into::into),
            duration_ms: e.duration_ms(),
            score: e.best.map(|b| b.score),
            best: e.best.map(|b| BestView {
                track_id: b.track_id,
                score: b.score,
                bbox: [b.bbox.x1, b.bbox.y1, b.bbox.x2, b.bbox.y2],
                frame_w: b.frame_w,
                frame_h: b.frame_h,
                time: b.time.into(),
            }),
            facts,
            description: e.description.clone(),
            attributes: e.attributes.clone(),
            snapshot_url: None,
            clip_url: None,
            sent_unix_ms,
        }
    }
}

/// Crossings of one line per direction (inside [`LineCountMessage::by_class`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InOut {
    /// Crossings in the line's inbound direction.
    #[serde(rename = "in")]
    pub inbound: u64,
    /// Crossings in the outbound direction.
    #[serde(rename = "out")]
    pub outbound: u64,
}

/// Counters of one line, retained on `<prefix>/<camera>/line/<line>/count`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineCountMessage {
    /// Camera name.
    pub camera: String,
    /// Line name.
    pub line: String,
    /// Inbound crossings since the counters were last reset.
    #[serde(rename = "in")]
    pub inbound: u64,
    /// Outbound crossings.
    #[serde(rename = "out")]
    pub outbound: u64,
    /// `in - out`.
    pub net: i64,
    /// Which direction counts as in (`a_to_b` or `b_to_a`).
    pub inbound_direction: vigil_core::CrossingDirection,
    /// Per class name.
    pub by_class: BTreeMap<String, InOut>,
    /// When these values were first seen (unix ms).
    pub unix_ms: i64,
}

impl LineCountMessage {
    /// The message for a line's counters.
    pub fn new(camera: &str, c: &LineCounts, unix_ms: i64) -> Self {
        let inbound_is_ab = c.inbound_direction == vigil_core::CrossingDirection::AToB;
        Self {
            camera: camera.to_string(),
            line: c.line.clone(),
            inbound: c.inbound(),
            outbound: c.outbound(),
            net: c.net(),
            inbound_direction: c.inbound_direction,
            by_class: c
                .by_class
                .iter()
                .map(|(k, d)| {
                    let (i, o) = if inbound_is_ab {
                        (d.a_to_b, d.b_to_a)
                    } else {
                        (d.b_to_a, d.a_to_b)
                    };
                    (
                        k.clone(),
                        InOut {
                            inbound: i,
                            outbound: o,
                        },
                    )
                })
                .collect(),
            unix_ms,
        }
    }
}

/// Occupancy of one zone, retained on `<prefix>/<camera>/zone/<zone>/occupancy`. Sent when the count or
/// the class mix changes (waits change every frame, so they are not here: they would flood the broker).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneOccupancyMessage {
    /// Camera name.
    pub camera: String,
    /// Zone name.
    pub zone: String,
    /// Objects in the zone now.
    pub count: u32,
    /// Objects in the zone now, per class name.
    pub by_class: BTreeMap<String, u32>,
    /// When these values were first seen (unix ms).
    pub unix_ms: i64,
}

impl ZoneOccupancyMessage {
    /// The message for a zone's occupancy.
    pub fn new(camera: &str, z: &ZoneOccupancy, unix_ms: i64) -> Self {
        Self {
            camera: camera.to_string(),
            zone: z.zone.clone(),
            count: z.count,
            by_class: z.by_class.clone(),
            unix_ms,
        }
    }
}

/// Health of one camera, given by the binary to [`crate::AlertHandle::publish_camera_status`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CameraStatus {
    /// True while the stream is received.
    pub online: bool,
    /// Frames analysed per second.
    pub fps: f32,
    /// A short note (why it is offline...), if any.
    pub message: Option<String>,
}

/// Camera status, retained on `<prefix>/<camera>/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraStatusMessage {
    /// Camera name.
    pub camera: String,
    /// True while the stream is received.
    pub online: bool,
    /// Frames analysed per second, rounded to 0.1 (`9.9`, not `9.899999618530273`).
    pub fps: f64,
    /// A short note, or null.
    pub message: Option<String>,
    /// When this status was first seen (unix ms).
    pub unix_ms: i64,
}

/// Objects in a camera's view, retained on `<prefix>/<camera>/occupancy`; sent when the counts change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OccupancyMessage {
    /// Camera name.
    pub camera: String,
    /// Objects in view now (confirmed tracks), all classes.
    pub count: u32,
    /// Objects in view now, per class name.
    pub by_class: BTreeMap<String, u32>,
    /// When these values were first seen (unix ms).
    pub unix_ms: i64,
}

/// The server's figures, given by the binary to [`crate::AlertHandle::publish_server`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ServerStatus {
    /// Mean detector inference time per run over the last seconds (ms); `None` when nothing ran.
    pub detector_ms: Option<f64>,
    /// CPU used by the Vigil process, in percent of one core.
    pub cpu_percent: f64,
    /// Bytes of recordings kept; `None` when nothing records.
    pub storage_used_bytes: Option<u64>,
    /// Bytes free on the storage directories; `None` when nothing records.
    pub storage_free_bytes: Option<u64>,
    /// Cameras whose stream is received.
    pub cameras_online: u32,
    /// Cameras configured.
    pub cameras: u32,
    /// The storage conditions in force (disk full, a directory offline, fewer days kept than the
    /// retention asks...), a sentence each; empty when storage is well.
    pub storage_problems: Vec<String>,
}

/// Server figures, retained on `<prefix>/server` (rounded so that noise does not flood the broker).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStatusMessage {
    /// Detector inference time (ms, 0.1), or null.
    pub detector_ms: Option<f64>,
    /// CPU of the Vigil process (% of one core, 0.1).
    pub cpu_percent: f64,
    /// Recordings kept (GB, 0.01), or null.
    pub storage_used_gb: Option<f64>,
    /// Free storage (GB, 0.01), or null.
    pub storage_free_gb: Option<f64>,
    /// Cameras whose stream is received.
    pub cameras_online: u32,
    /// Cameras configured.
    pub cameras: u32,
    /// The storage conditions in force, a sentence each (the "Storage problem" sensor is on while any).
    pub storage_problems: Vec<String>,
    /// When these values were first seen (unix ms).
    pub unix_ms: i64,
}

impl ServerStatusMessage {
    /// The message for the server's figures.
    pub fn new(s: &ServerStatus, unix_ms: i64) -> Self {
        let gb = |b: u64| round_to(b as f64 / 1e9, 100.0);
        Self {
            detector_ms: s.detector_ms.map(|v| round_to(v, 10.0)),
            cpu_percent: round_to(s.cpu_percent, 10.0),
            storage_used_gb: s.storage_used_bytes.map(gb),
            storage_free_gb: s.storage_free_bytes.map(gb),
            cameras_online: s.cameras_online,
            cameras: s.cameras,
            storage_problems: s.storage_problems.clone(),
            unix_ms,
        }
    }
}

/// `v` rounded to `1/per` (`round_to(9.87, 10.0)` is `9.9`); non-finite values become 0.
pub fn round_to(v: f64, per: f64) -> f64 {
    if v.is_finite() {
        (v * per).round() / per
    } else {
        0.0
    }
}

/// The lifecycle phase's name (`start`, `update`, `end`).
pub fn phase_name(p: EventPhase) -> &'static str {
    match p {
        EventPhase::Start => "start",
        EventPhase::Update => "update",
        EventPhase::End => "end",
    }
}

/// A name as one MQTT topic level and id fragment: lower case ASCII letters and digits, every other run of
/// characters becomes one `_` (`"Loading dock #2"` -> `loading_dock_2`). Empty names become `_`.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut gap = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else {
            gap = true;
        }
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// Unix milliseconds as ISO 8601 UTC text with milliseconds (`1970-01-01T00:00:00.000Z`).
pub fn utc_text(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s, ms) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// Unix milliseconds now.
pub(crate) fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::event;

    #[test]
    fn utc_text_matches_known_instants() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_text(1_717_000_000_123), "2024-05-29T16:26:40.123Z");
        assert_eq!(utc_text(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc_text(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn slugs_are_single_topic_levels() {
        assert_eq!(slug("Loading dock #2"), "loading_dock_2");
        assert_eq!(slug("  Front/Door+#  "), "front_door");
        assert_eq!(slug("é"), "_");
        assert_eq!(slug("cam1"), "cam1");
    }

    #[test]
    fn figures_are_rounded_without_float_noise() {
        let text = serde_json::to_string(&CameraStatusMessage {
            camera: "c".into(),
            online: true,
            fps: round_to(f64::from(9.9_f32), 10.0),
            message: None,
            unix_ms: 0,
        })
        .unwrap();
        assert!(text.contains(r#""fps":9.9,"#), "{text}");
        let m = ServerStatusMessage::new(
            &ServerStatus {
                detector_ms: Some(12.345),
                cpu_percent: 33.333_33,
                storage_used_bytes: Some(1_234_567_890),
                storage_free_bytes: None,
                cameras_online: 1,
                cameras: 2,
                storage_problems: vec!["storage 'main' is offline".into()],
            },
            0,
        );
        let text = serde_json::to_string(&m).unwrap();
        assert!(
            text.contains(r#""detector_ms":12.3,"cpu_percent":33.3,"storage_used_gb":1.23,"storage_free_gb":null"#),
            "{text}"
        );
        assert!(
            text.contains(r#""storage_problems":["storage 'main' is offline"]"#),
            "{text}"
        );
        assert_eq!(round_to(f64::NAN, 10.0), 0.0);
    }

    #[test]
    fn event_message_carries_the_documented_fields() {
        let mut e = event("Front door", "Dock after hours", EventPhase::End, 7);
        e.kind = vigil_core::EventKind::Loitering {
            dwell_ms: 192_000,
            min_dwell_ms: 60_000,
        };
        let v = serde_json::to_value(EventMessage::new(&e, 5)).unwrap();
        for key in [
            "schema",
            "id",
            "camera",
            "rule",
            "kind",
            "phase",
            "class",
            "objects",
            "object_count",
            "track_ids",
            "zone",
            "line",
            "start",
            "last",
            "end",
            "duration_ms",
            "score",
            "best",
            "facts",
            "description",
            "snapshot_url",
            "clip_url",
            "sent_unix_ms",
        ] {
            assert!(v.get(key).is_some(), "missing {key}: {v}");
        }
        assert_eq!(v["kind"], "loitering");
        assert_eq!(v["phase"], "end");
        assert_eq!(v["facts"]["dwell_ms"], 192_000);
        assert!(v["facts"].get("type").is_none());
        assert_eq!(v["id"].as_str().unwrap().len(), 26);
        assert_eq!(v["best"]["box"].as_array().unwrap().len(), 4);
        assert_eq!(v["end"]["utc"].as_str().unwrap().len(), 24);
        assert!(v.get("attributes").is_none(), "omitted when empty: {v}");
        e.attributes = vigil_core::Attributes {
            upper_colour: Some(vigil_core::Colour::Red),
            lower_colour: Some(vigil_core::Colour::Black),
            zones: vec!["Yard".into()],
            ..Default::default()
        };
        let v = serde_json::to_value(EventMessage::new(&e, 5)).unwrap();
        assert_eq!(
            v["attributes"],
            serde_json::json!({"upper_colour": "red", "lower_colour": "black", "zones": ["Yard"]})
        );
    }
}
