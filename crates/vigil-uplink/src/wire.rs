//! The wire protocol between sites and the hub: subjects, streams and message bodies (JSON).
//!
//! Every subject a site uses starts with `vigil.site.<site>.`, so one NATS permission (`publish
//! vigil.site.<site>.>`, `subscribe vigil.site.<site>.req.>`) confines a site to its own subjects and the
//! requests addressed to it; see `docs/design/multisite.md`.
//!
//! | subject | stream | what |
//! |---|---|---|
//! | `vigil.site.S.event.CAM` | `VIGIL_EVENTS` | an event's current state or its deletion ([`EventEnvelope`]) |
//! | `vigil.site.S.snapshot.CAM` | `VIGIL_SNAPSHOTS` | an event's best snapshot (JPEG; header `Vigil-Event`) |
//! | `vigil.site.S.status` | `VIGIL_STATUS` (last per subject) | heartbeat: cameras, storage, uplink ([`SiteStatus`]) |
//! | `vigil.site.S.req.VERB` | — (request-reply) | the hub asks the site ([`Request`], [`Reply`]) |

use serde::{Deserialize, Serialize};
use vigil_core::Event;
use vigil_store::StoredEvent;

/// The stream of every site's events.
pub const EVENTS_STREAM: &str = "VIGIL_EVENTS";
/// The stream of every site's event snapshots.
pub const SNAPSHOTS_STREAM: &str = "VIGIL_SNAPSHOTS";
/// The stream of every site's latest status (one message kept per site).
pub const STATUS_STREAM: &str = "VIGIL_STATUS";
/// Header naming the event a snapshot belongs to.
pub const EVENT_HEADER: &str = "Vigil-Event";

/// Why a name cannot be a site name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "site name {0:?} is not allowed: use 1-64 letters, digits, '-' or '_' (it is part of NATS subjects)"
)]
pub struct BadSiteName(pub String);

/// Checks a site name: 1-64 of `[A-Za-z0-9_-]`, so it is one NATS subject token and a file name.
pub fn check_site_name(name: &str) -> Result<(), BadSiteName> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(BadSiteName(name.to_string()))
    }
}

/// A camera name as one subject token: characters NATS gives a meaning (`.`, `*`, `>`, spaces) become
/// `_`. Only for routing: the body carries the real name.
pub fn camera_token(camera: &str) -> String {
    let t: String = camera
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if t.is_empty() { "_".into() } else { t }
}

/// `vigil.site.<site>.` — every subject of a site starts so.
pub fn site_prefix(site: &str) -> String {
    format!("vigil.site.{site}.")
}

/// Where a site publishes its events of `camera`.
pub fn event_subject(site: &str, camera: &str) -> String {
    format!("vigil.site.{site}.event.{}", camera_token(camera))
}

/// Where a site publishes its snapshots of `camera`.
pub fn snapshot_subject(site: &str, camera: &str) -> String {
    format!("vigil.site.{site}.snapshot.{}", camera_token(camera))
}

/// Where a site publishes its status.
pub fn status_subject(site: &str) -> String {
    format!("vigil.site.{site}.status")
}

/// Where the hub asks a site for something.
pub fn request_subject(site: &str, verb: &str) -> String {
    format!("vigil.site.{site}.req.{verb}")
}

/// The inbox prefix of a site's connection: replies to its requests (JetStream acknowledgements) come
/// there, and its NATS permissions let it subscribe there only.
pub fn inbox_prefix(site: &str) -> String {
    format!("_INBOX_{site}")
}

/// The site a subject belongs to (`vigil.site.<site>.…`).
pub fn site_of_subject(subject: &str) -> Option<&str> {
    let rest = subject.strip_prefix("vigil.site.")?;
    let (site, _) = rest.split_once('.')?;
    Some(site)
}

/// The JetStream message id of outbox change `seq` of `site`: a resend of the same change is dropped
/// by the stream's duplicate window.
pub fn message_id(site: &str, seq: i64) -> String {
    format!("{site}-{seq}")
}

/// One event as a JSON line: what `vigil events --json` prints on a site and `vigil hub events --json`
/// on the hub (with `site`), the same `id` on both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    /// The event's id (ULID).
    pub id: String,
    /// The site it comes from (on the hub).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Camera name.
    pub camera: String,
    /// The rule that raised it.
    pub rule: String,
    /// Kind name (`line_crossing`, `loitering`, …).
    pub kind: String,
    /// Main object class.
    pub class: String,
    /// Phase of the last message applied (`start`, `update`, `end`).
    pub phase: String,
    /// Start (unix ms).
    pub start_ms: i64,
    /// End (unix ms), once ended.
    pub end_ms: Option<i64>,
    /// Still open.
    pub open: bool,
    /// Closed because the site stopped before its end.
    pub interrupted: bool,
    /// Plain-language description.
    pub description: String,
    /// A snapshot was saved.
    pub snapshot: bool,
    /// When the site last wrote it (unix ms).
    pub updated_ms: i64,
    /// The whole event.
    pub event: Event,
}

impl EventLine {
    /// The line of a stored event.
    pub fn from_stored(e: &StoredEvent) -> Self {
        let ev = &e.event;
        Self {
            id: ev.id.to_string(),
            site: None,
            camera: ev.camera.clone(),
            rule: ev.rule.clone(),
            kind: ev.kind.name().to_string(),
            class: ev.class_name.clone(),
            phase: phase_name(ev.phase).to_string(),
            start_ms: ev.start.unix_ms,
            end_ms: ev.end.map(|t| t.unix_ms),
            open: e.open,
            interrupted: e.interrupted,
            description: ev.description.clone(),
            snapshot: e.snapshot.is_some(),
            updated_ms: e.updated_ms,
            event: ev.clone(),
        }
    }
}

/// The JSON name of a phase.
pub fn phase_name(p: vigil_core::EventPhase) -> &'static str {
    match p {
        vigil_core::EventPhase::Start => "start",
        vigil_core::EventPhase::Update => "update",
        vigil_core::EventPhase::End => "end",
    }
}

/// What an event message says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOp {
    /// The event's current state.
    Upsert,
    /// The site deleted it (retention, erasure): the hub deletes it too.
    Delete,
}

/// The body of a `vigil.site.S.event.CAM` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// The site (checked against the subject by the hub).
    pub site: String,
    /// The site's outbox sequence number: increasing per site, so per camera; the hub applies a change
    /// only when newer than what it holds for the event.
    pub seq: i64,
    /// What happened.
    pub op: EventOp,
    /// The event's id.
    pub id: String,
    /// The event's state, for an upsert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventLine>,
}

/// A camera in a site's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraStatus {
    /// Camera name.
    pub name: String,
    /// Its stream is connected.
    pub online: bool,
    /// Analysed (or received) frames per second.
    pub fps: f32,
    /// Why it is not online, or a degraded state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Camera health states active now (`covered`, `moved`, `frozen`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Run by this box as a standby for another site's camera.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_for: Option<String>,
}

/// A storage directory in a site's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageStatus {
    /// Directory name.
    pub name: String,
    /// Bytes used by recordings.
    pub used_bytes: u64,
    /// Bytes free on its file system.
    #[serde(default)]
    pub free_bytes: Option<u64>,
    /// Days until full at the current rate, when known.
    #[serde(default)]
    pub days_until_full: Option<f64>,
}

/// The uplink's own figures in a site's status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UplinkFigures {
    /// Event changes waiting in the outbox.
    pub backlog: u64,
    /// When the oldest waiting change was queued (unix ms).
    #[serde(default)]
    pub oldest_ms: Option<i64>,
    /// Changes the hub acknowledged since start.
    pub sent: u64,
    /// Changes dropped because the backlog was over its bound.
    pub dropped: u64,
}

/// The body of `vigil.site.S.status`: the site's heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteStatus {
    /// The site.
    pub site: String,
    /// Vigil version.
    pub version: String,
    /// When this was sent (unix ms).
    pub at_ms: i64,
    /// When the site's process started (unix ms).
    pub started_ms: i64,
    /// Seconds until the next heartbeat: the hub calls the site offline after three missed.
    pub heartbeat_s: u32,
    /// The configuration's version (SHA-256 of `vigil.toml`, first 16 hex digits).
    #[serde(default)]
    pub config_version: Option<String>,
    /// Cameras.
    pub cameras: Vec<CameraStatus>,
    /// Storage directories.
    #[serde(default)]
    pub storage: Vec<StorageStatus>,
    /// The uplink.
    #[serde(default)]
    pub uplink: UplinkFigures,
}

/// What the hub asks a site (`vigil.site.S.req.<verb>`; the verb is [`Request::verb`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "snake_case")]
pub enum Request {
    /// Are you there? Answers [`Reply::Pong`].
    Ping,
    /// The latest picture of a camera (JPEG, privacy masks applied).
    Snapshot {
        /// Camera name.
        camera: String,
    },
    /// Prepare a clip of recorded video (MP4); answers [`Reply::Clip`].
    Clip {
        /// Camera name.
        camera: String,
        /// Start (unix ms).
        from_ms: i64,
        /// End (unix ms).
        to_ms: i64,
    },
    /// A part of a prepared clip; answers [`Reply::Chunk`].
    Chunk {
        /// The clip's id from [`Reply::Clip`].
        clip: String,
        /// Byte offset.
        offset: u64,
    },
    /// The recorded time ranges of a camera; answers [`Reply::Recordings`].
    Recordings {
        /// Camera name.
        camera: String,
        /// Start (unix ms).
        from_ms: i64,
        /// End (unix ms).
        to_ms: i64,
    },
    /// The site's `vigil.toml`; answers [`Reply::Config`].
    ConfigGet,
    /// Replace the site's `vigil.toml` (checked first; the old text kept in its history); answers
    /// [`Reply::Config`] with the new version.
    ConfigPut {
        /// The whole new text.
        text: String,
        /// The version the hub based it on (refused when the site's changed since).
        base_version: Option<String>,
    },
    /// The hub's users allowed on this site (all of them: the site drops those not listed). The site
    /// caches them for its own `[uplink] central_users_hours`; answers [`Reply::CentralUsers`].
    CentralUsers {
        /// The users.
        users: Vec<vigil_core::account::CentralAccount>,
    },
}

impl Request {
    /// The request's subject verb.
    pub fn verb(&self) -> &'static str {
        match self {
            Request::Ping => "ping",
            Request::Snapshot { .. } => "snapshot",
            Request::Clip { .. } => "clip",
            Request::Chunk { .. } => "chunk",
            Request::Recordings { .. } => "recordings",
            Request::ConfigGet => "config_get",
            Request::ConfigPut { .. } => "config_put",
            Request::CentralUsers { .. } => "central_users",
        }
    }
}

/// A recorded time range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRange {
    /// Start (unix ms).
    pub from_ms: i64,
    /// End (unix ms).
    pub to_ms: i64,
    /// The box that recorded it (a standby's site name when it covered the camera).
    pub site: String,
}

/// A site's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// Answer to a ping.
    Pong {
        /// The site.
        site: String,
        /// Vigil version.
        version: String,
    },
    /// A picture (base64 JPEG).
    Picture {
        /// The JPEG, base64.
        jpeg_base64: String,
    },
    /// A clip was prepared.
    Clip {
        /// Its id for [`Request::Chunk`].
        clip: String,
        /// Its size in bytes.
        size: u64,
    },
    /// Part of a clip (base64).
    Chunk {
        /// The bytes, base64.
        data_base64: String,
        /// Offset of the next part; equal to the size at the end.
        next: u64,
        /// Its size in bytes.
        size: u64,
    },
    /// Recorded ranges.
    Recordings {
        /// The ranges, oldest first.
        ranges: Vec<RecordedRange>,
    },
    /// A configuration.
    Config {
        /// The text.
        text: String,
        /// Its version.
        version: String,
    },
    /// Central users taken.
    CentralUsers {
        /// Users added, updated, removed.
        added: usize,
        /// Updated.
        updated: usize,
        /// Removed.
        removed: usize,
        /// Skipped (a local user has the name, or not valid).
        skipped: Vec<String>,
        /// Until when (unix ms) they may log in without another push.
        valid_until_ms: i64,
    },
    /// The request failed.
    Error {
        /// Why, for a person.
        message: String,
    },
}

/// The version of a configuration text: the first 16 hex digits of its SHA-256.
pub fn config_version(text: &str) -> String {
    use std::fmt::Write;
    let digest = sha256(text.as_bytes());
    let mut s = String::with_capacity(16);
    for b in &digest[..8] {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_names_are_single_subject_tokens() {
        assert!(check_site_name("shop-12_b").is_ok());
        for bad in ["", "a.b", "a b", "a*", ">", &"x".repeat(65)] {
            assert!(check_site_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(camera_token("Front door.1 >"), "Front_door_1__");
        assert_eq!(site_of_subject(&event_subject("s1", "gate")), Some("s1"));
        assert_eq!(site_of_subject("other.s1.event"), None);
    }

    #[test]
    fn requests_round_trip_with_their_verb() {
        let r = Request::Clip {
            camera: "gate".into(),
            from_ms: 1,
            to_ms: 2,
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.contains("\"verb\":\"clip\""), "{text}");
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), r);
        assert_eq!(config_version("a").len(), 16);
        assert_ne!(config_version("a"), config_version("b"));
    }
}
