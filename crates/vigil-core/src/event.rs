//! Events raised by the behaviour rules (line crossings, intrusions, loitering, crowding, queues), shared by
//! the rules engine that makes them and the event store, alerts and UI that consume them.
//!
//! An event is a *situation* with a lifecycle: the rules engine emits one message with [`EventPhase::Start`]
//! when it begins, zero or more [`EventPhase::Update`] messages while it lasts (new objects joined, a new peak,
//! a periodic heartbeat) and one [`EventPhase::End`]. Every message carries the whole current state under the
//! same [`EventId`], so a consumer can upsert by id and never needs to merge.

use crate::attributes::Attributes;
use crate::detection::ClassId;
use crate::geometry::BBox;
use crate::time::Time90k;
use crate::track::TrackId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Unique, time-sortable identity of an event, in the ULID layout: 48 bits of unix milliseconds, then 80 bits
/// that make it unique (the rules engine uses a hash of the camera name and a per-engine sequence number).
///
/// Written as 26 Crockford base-32 characters (e.g. `01HZX3Q4M8000000000000000A`); the text sorts like the
/// number, and both sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventId(pub u128);

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl EventId {
    /// An id from a creation time in unix milliseconds (the low 48 bits are kept) and 80 bits of uniqueness.
    pub fn from_parts(unix_ms: u64, unique: u128) -> Self {
        let ms = (unix_ms as u128) & ((1u128 << 48) - 1);
        let low = unique & ((1u128 << 80) - 1);
        Self((ms << 80) | low)
    }

    /// The creation time in unix milliseconds.
    pub fn unix_ms(&self) -> u64 {
        (self.0 >> 80) as u64
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        for i in 0..26 {
            let shift = 5 * (25 - i);
            f.write_char(CROCKFORD[((self.0 >> shift) & 31) as usize] as char)?;
        }
        Ok(())
    }
}

/// Why a text is not an [`EventId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event id {text:?}: {problem}")]
pub struct EventIdError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl FromStr for EventId {
    type Err = EventIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |problem| EventIdError {
            text: s.to_string(),
            problem,
        };
        if s.len() != 26 {
            return Err(err("must be 26 Crockford base-32 characters"));
        }
        let mut v: u128 = 0;
        for (i, b) in s.bytes().enumerate() {
            let d = match b.to_ascii_uppercase() {
                c @ b'0'..=b'9' => c - b'0',
                b'O' => 0,
                b'I' | b'L' => 1,
                c => match CROCKFORD.iter().position(|&x| x == c) {
                    Some(p) => p as u8,
                    None => return Err(err("contains a character outside Crockford base 32")),
                },
            };
            if i == 0 && d > 7 {
                return Err(err("first character must be 0-7 (the value has 128 bits)"));
            }
            v = (v << 5) | d as u128;
        }
        Ok(Self(v))
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A moment of an event on both clocks: the wall clock (for people and alerts) and the camera's media clock
/// (to find the frames in the recording).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EventTime {
    /// Wall-clock time in unix milliseconds (UTC).
    pub unix_ms: i64,
    /// Media time of the frame on the stream's 90 kHz clock.
    pub media: Time90k,
}

/// Where an event message is in the event's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventPhase {
    /// The situation began (alert on this).
    Start,
    /// The situation goes on and something changed (objects joined, a new peak, a periodic heartbeat).
    Update,
    /// The situation is over; `end` is set and the facts are final.
    End,
}

/// Direction of a line crossing. Side A is on the left of a walker going from the line's first point to its
/// second as drawn on the image (x to the right, y down); side B is on the right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrossingDirection {
    /// From side A to side B.
    AToB,
    /// From side B to side A.
    BToA,
}

impl CrossingDirection {
    /// The other direction.
    pub fn reverse(self) -> Self {
        match self {
            Self::AToB => Self::BToA,
            Self::BToA => Self::AToB,
        }
    }
}

/// What happened, with the facts specific to that kind of event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// Objects crossed a counting line. Crossings close together in time (within the rule's cooldown) are one
    /// event.
    LineCrossing {
        /// Direction of the first crossing in the event.
        direction: CrossingDirection,
        /// Whether that direction is the line's inbound direction.
        inbound: bool,
        /// Inbound crossings grouped into this event.
        inbound_count: u32,
        /// Outbound crossings grouped into this event.
        outbound_count: u32,
    },
    /// Objects entered a zone (while the rule's schedule was armed).
    Intrusion,
    /// Objects stayed in a zone longer than the rule allows.
    Loitering {
        /// Longest time one object of the event spent in the zone, in milliseconds.
        dwell_ms: u64,
        /// The rule's threshold, in milliseconds.
        min_dwell_ms: u64,
    },
    /// More objects than allowed were in a zone for longer than the rule allows.
    Crowding {
        /// Objects in the zone now (at the last message).
        count: u32,
        /// Most objects in the zone at once during the event.
        peak: u32,
        /// The rule's threshold: the event is about more than this many objects.
        more_than: u32,
    },
    /// A queue in a zone grew too long or its wait too high.
    Queue {
        /// Objects in the queue now (at the last message).
        length: u32,
        /// Longest queue during the event.
        peak_length: u32,
        /// Mean wait of the objects in the queue now, in milliseconds.
        mean_wait_ms: u64,
        /// Longest wait seen during the event, in milliseconds.
        max_wait_ms: u64,
    },
    /// A person's face matched someone enrolled on a watchlist (face recognition, opted in per camera).
    /// Starts when the track's face first matches; ends when the track is gone.
    FaceRecognized {
        /// Who (their enrolled name).
        person: String,
        /// Their watchlist.
        list: String,
        /// Best cosine similarity of the track's faces to the person's templates.
        similarity: f32,
        /// The watchlist's alert level (`[faces.alerts]`).
        alert: String,
        /// Quality (0..1) of the face that matched best.
        quality: f32,
    },
    /// A vehicle's licence plate was read (voted over several reads of its track). Starts when the
    /// leading text has enough reads; updated when it changes; ends when the track is gone.
    PlateRead {
        /// The plate: upper case letters and digits.
        plate: String,
        /// The leading text's share of the track's reads, weighted by their confidence (0..1).
        confidence: f32,
        /// Reads of the track so far.
        reads: u32,
        /// The `[plates.lists]` list it is on, if any.
        list: Option<String>,
        /// The list's alert level (`none` when on no list).
        alert: String,
    },
    /// A clear face that matches nobody enrolled, on a person in a zone where only enrolled people may
    /// be. Starts when seen there; ends when the track is gone.
    FaceUnknown {
        /// Quality (0..1) of the best face seen.
        quality: f32,
        /// Best similarity to anyone enrolled (below the threshold).
        best_similarity: f32,
    },
    /// Something kept moving in an armed zone while no detection explained it (an intrusion rule's second
    /// opinion, `unclassified_after`): a detector blinded, fooled, or blind to what is there.
    UnclassifiedMotion {
        /// How long it had moved there unexplained when the event started, in milliseconds.
        moving_ms: u64,
    },
    /// Something is wrong with the camera itself: its picture (covered, blocked, dark, defocused, moved,
    /// frozen), its analysis (analytics_degraded) or its stream (offline, stream_quality). Starts when the condition has held for its time;
    /// ends when it has been gone for a while.
    CameraHealth {
        /// The condition: one of [`HEALTH_STATES`], or information ([`INFO_HEALTH_STATES`]).
        state: String,
        /// For `moved`: the view's shift against its reference as shares of the width and height (`None`
        /// when it matches at no shift: turned or zoomed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shift: Option<[f32; 2]>,
        /// A figure or reason behind the state, for people ("4.8 fps where the camera sends 25").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The camera itself reported motion or tampering on its ONVIF event service (a camera with an
    /// `onvif` address). Starts when the camera says the state is on; ends when it says it is off, or when
    /// Vigil stops listening.
    OnvifEvent {
        /// What the camera reported: one of [`ONVIF_SIGNALS`].
        signal: String,
        /// The ONVIF topic as the camera wrote it, e.g. `tns1:RuleEngine/CellMotionDetector/Motion`.
        topic: String,
        /// The video source, analytics module or rule the camera named (its `Source` items, `name=value`
        /// joined by commas), when given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
    /// Activity unlike the camera's learned normal for this hour of the week (activity baselines): more
    /// or fewer objects of a class than usual in a zone or the view, a longer stay, or unusual flow in one
    /// direction. Starts when the deviation has held for its time; ends when it has been gone for a while.
    ActivityAnomaly {
        /// What deviates: `count` (objects of `class_name` present), `dwell` (the longest stay, in
        /// minutes) or `flow` (tracks moving in one direction a minute).
        metric: String,
        /// The value when the event started (`count`: objects, mean over the minute).
        value: f64,
        /// The learned usual range at this hour of the week.
        usual: [f64; 2],
        /// The cause in plain language: "12 people at 'Loading dock' at 03:00 on Tuesday; usually 0-1".
        detail: String,
    },
    /// A person unlike the people of the camera's learned scene model (`vigil anomaly`): running, too
    /// big or small for where they stand, an odd shape, staying too long. Starts when the surprise has
    /// held for its time; ends when it has been low as long, or the person is gone.
    SceneAnomaly {
        /// The most surprising feature: `size`, `speed`, `aspect`, `inner` or `dwell`.
        feature: String,
        /// Its value (the feature's units: body heights a second for `speed`).
        value: f32,
        /// The value 95% of the learned people stay below.
        usual_below: f32,
        /// `-log10` of how rarely the learned normal reaches the value.
        surprise: f32,
        /// The cause in plain language: "speed 4.2 body heights/s where 95% of people move below 1.5".
        detail: String,
    },
}

/// What a camera's own ONVIF events are turned into ([`EventKind::OnvifEvent`]): motion, tamper.
pub const ONVIF_SIGNALS: [&str; 2] = ["motion", "tamper"];

/// The rule name of a camera's own ONVIF events of `signal` (`onvif_motion`, `onvif_tamper`): one rule,
/// one Home Assistant sensor per signal.
pub fn onvif_rule(signal: &str) -> String {
    format!("onvif_{signal}")
}

/// The camera health conditions a [`EventKind::CameraHealth`] event names: from the picture, then from
/// the stream.
pub const HEALTH_STATES: [&str; 9] = [
    "covered",
    "blocked",
    "dark",
    "defocused",
    "moved",
    "frozen",
    "analytics_degraded",
    "offline",
    "stream_quality",
];

/// A camera's switch to IR (night) mode: a [`EventKind::CameraHealth`] state that is information, not a
/// problem (not one of [`HEALTH_STATES`]).
pub const IR_MODE: &str = "ir_mode";

/// The camera health states that are information, not problems: events of severity detection, no
/// problem sensor, not among a camera's health problems.
pub const INFO_HEALTH_STATES: [&str; 1] = [IR_MODE];

/// The health states judged from a camera's stream (every camera has them); the others of
/// [`HEALTH_STATES`] are judged from its analysed picture.
pub const STREAM_HEALTH_STATES: [&str; 2] = ["offline", "stream_quality"];

/// The rule name of a camera health state's events (`health_covered`...): one rule, one Home Assistant
/// sensor per state.
pub fn health_rule(state: &str) -> String {
    format!("health_{state}")
}

/// The names of the kinds the behaviour rules raise (none of them biometric).
pub const RULE_KINDS: [&str; 6] = [
    "line_crossing",
    "intrusion",
    "loitering",
    "crowding",
    "queue",
    "unclassified_motion",
];

/// The kinds that are neither the rules' nor biometric.
pub const OTHER_KINDS: [&str; 5] = [
    "plate_read",
    "camera_health",
    "onvif_event",
    "activity_anomaly",
    "scene_anomaly",
];

/// The names of the biometric kinds (shown only to those with the `faces` permission).
pub const BIOMETRIC_KINDS: [&str; 2] = ["face_recognized", "face_unknown"];

impl EventKind {
    /// The kind's name as used in configuration and JSON (`line_crossing`, `intrusion`...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::LineCrossing { .. } => "line_crossing",
            Self::Intrusion => "intrusion",
            Self::Loitering { .. } => "loitering",
            Self::Crowding { .. } => "crowding",
            Self::Queue { .. } => "queue",
            Self::FaceRecognized { .. } => "face_recognized",
            Self::FaceUnknown { .. } => "face_unknown",
            Self::PlateRead { .. } => "plate_read",
            Self::CameraHealth { .. } => "camera_health",
            Self::OnvifEvent { .. } => "onvif_event",
            Self::UnclassifiedMotion { .. } => "unclassified_motion",
            Self::ActivityAnomaly { .. } => "activity_anomaly",
            Self::SceneAnomaly { .. } => "scene_anomaly",
        }
    }

    /// Whether the event is biometric: it says who a person is or that their face was taken (shown
    /// only to those with the `faces` permission).
    pub fn is_biometric(&self) -> bool {
        matches!(self, Self::FaceRecognized { .. } | Self::FaceUnknown { .. })
    }
}

/// How many distinct objects of one class took part in an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassCount {
    /// Class name (`person`, `car`...).
    pub class_name: String,
    /// Class index in the detector's class list.
    pub class_id: ClassId,
    /// Distinct tracks of that class.
    pub count: u32,
}

/// The best view of an object during an event, so a snapshot can be cut from the recording later.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BestObject {
    /// The track seen.
    pub track_id: TrackId,
    /// Its detection score in that frame (the highest of the event).
    pub score: f32,
    /// Its box in frame pixels.
    pub bbox: BBox,
    /// Width of the analysed frame the box refers to.
    pub frame_w: u32,
    /// Height of the analysed frame the box refers to.
    pub frame_h: u32,
    /// When that frame was seen.
    pub time: EventTime,
}

/// One message about an event: its identity, what happened, where, who, when, and a plain-language line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Identity shared by every message of the event.
    pub id: EventId,
    /// Camera name.
    pub camera: String,
    /// Name of the rule that raised it.
    pub rule: String,
    /// What happened, with its facts.
    pub kind: EventKind,
    /// Lifecycle phase of this message.
    pub phase: EventPhase,
    /// Main object class (the class of the most objects in the event; the first seen on a tie).
    pub class_name: String,
    /// Distinct objects per class that took part.
    pub objects: Vec<ClassCount>,
    /// Tracks that took part (the first ones, at most a few dozen; `objects` has the full counts).
    pub track_ids: Vec<TrackId>,
    /// Zone name for zone rules.
    pub zone: Option<String>,
    /// Line name for line rules.
    pub line: Option<String>,
    /// When the situation began (for loitering: when the object entered the zone).
    pub start: EventTime,
    /// The latest time the situation was seen to hold.
    pub last: EventTime,
    /// When the situation ended; set in the `End` message only (equal to `last` there).
    pub end: Option<EventTime>,
    /// The highest-scoring view of an object during the event.
    pub best: Option<BestObject>,
    /// A plain-language description for people, in the site's local time.
    pub description: String,
    /// What the main object looked like and how it moved (the best object's track; empty when unknown).
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

impl Event {
    /// How long the situation has lasted so far (start to last), in milliseconds.
    pub fn duration_ms(&self) -> u64 {
        (self.last.unix_ms - self.start.unix_ms).max(0) as u64
    }

    /// Distinct objects that took part, all classes together.
    pub fn object_count(&self) -> u32 {
        self.objects.iter().map(|c| c.count).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_text_round_trips_and_sorts_like_the_number() {
        let a = EventId::from_parts(1_717_000_000_000, 5);
        let b = EventId::from_parts(1_717_000_000_000, 6);
        let c = EventId::from_parts(1_717_000_000_001, 0);
        assert!(a < b && b < c);
        let (sa, sb, sc) = (a.to_string(), b.to_string(), c.to_string());
        assert_eq!(sa.len(), 26);
        assert!(sa < sb && sb < sc);
        assert_eq!(sa.parse::<EventId>().unwrap(), a);
        assert_eq!(sa.to_lowercase().parse::<EventId>().unwrap(), a);
        assert_eq!(a.unix_ms(), 1_717_000_000_000);
        assert_eq!(EventId(u128::MAX).to_string(), "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
        assert_eq!(
            "7ZZZZZZZZZZZZZZZZZZZZZZZZZ".parse::<EventId>().unwrap(),
            EventId(u128::MAX)
        );
    }

    #[test]
    fn bad_event_id_text_is_refused_with_the_reason() {
        let e = "8ZZZZZZZZZZZZZZZZZZZZZZZZZ".parse::<EventId>().unwrap_err();
        assert!(e.to_string().contains("0-7"), "{e}");
        assert!("short".parse::<EventId>().is_err());
        assert!("0000000000000000000000000U".parse::<EventId>().is_err());
    }

    #[test]
    fn kind_names_match_the_configuration_names() {
        let kind = EventKind::Loitering {
            dwell_ms: 192_000,
            min_dwell_ms: 60_000,
        };
        assert_eq!(kind.name(), "loitering");
        assert_eq!(EventKind::Intrusion.name(), "intrusion");
        assert_eq!(CrossingDirection::AToB.reverse(), CrossingDirection::BToA);
    }
}
