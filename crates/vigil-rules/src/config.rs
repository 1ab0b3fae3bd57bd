//! Configuration types, written by hand in `vigil.toml` (see the crate documentation for a full example).
//!
//! All geometry is in normalized frame coordinates: x from 0 (left edge) to 1 (right edge), y from 0 (top) to
//! 1 (bottom), so it survives a change of stream resolution. Durations are numbers of seconds (`90`, `2.5`)
//! or texts with units (`"90s"`, `"3m"`, `"1h30m"`, `"500ms"`).
//!
//! Every table refuses unknown fields, so a typo is an error rather than a silently ignored setting.
//! Values are checked when a [`crate::RuleEngine`] is built; errors name the item and the field.
//!
//! To embed these in a camera table (`[[camera.zone]]`, `[[camera.line]]`, `[[camera.mask]]`,
//! `[[camera.rule]]`, `[camera.heatmap]`, `[camera.occupancy]`), give the camera struct fields of these types
//! with `#[serde(default)]` and build a [`RulesConfig`] from them: `#[serde(flatten)]` cannot be combined with
//! `deny_unknown_fields`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use vigil_core::CrossingDirection;

/// Everything the rules engine needs for one camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// The site's time zone for schedules and descriptions: `"UTC"`, an offset (`"+02:00"`, `"-05:30"`), or a
    /// POSIX TZ rule with daylight saving (`"CET-1CEST,M3.5.0,M10.5.0/3"`; the last line of
    /// `/usr/share/zoneinfo/<Area/City>` gives it).
    pub timezone: String,
    /// Zones (`[[zone]]`).
    pub zone: Vec<ZoneConfig>,
    /// Counting lines (`[[line]]`).
    pub line: Vec<LineConfig>,
    /// Privacy and ignore masks (`[[mask]]`).
    pub mask: Vec<MaskConfig>,
    /// Rules that raise events (`[[rule]]`).
    pub rule: Vec<RuleConfig>,
    /// The occupancy heatmap (`[heatmap]`).
    pub heatmap: HeatmapConfig,
    /// Zone occupancy history and wait statistics (`[occupancy]`).
    pub occupancy: OccupancyConfig,
}

impl RulesConfig {
    /// The rules that set a `severity`, by name (the others take the default of their kind).
    pub fn severities(&self) -> std::collections::HashMap<String, vigil_core::Severity> {
        self.rule
            .iter()
            .filter_map(|r| Some((r.name.clone(), r.severity?)))
            .collect()
    }
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            timezone: "UTC".to_string(),
            zone: Vec::new(),
            line: Vec::new(),
            mask: Vec::new(),
            rule: Vec::new(),
            heatmap: HeatmapConfig::default(),
            occupancy: OccupancyConfig::default(),
        }
    }
}

/// Which point of an object's box decides whether it is in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// The middle of the box's bottom edge: where a person stands or a vehicle touches the ground (default).
    #[default]
    #[serde(alias = "bottom_centre")]
    BottomCenter,
    /// The centre of the box.
    #[serde(alias = "centre")]
    Center,
    /// At least one of the box's four corners is inside.
    AnyCorner,
    /// At least this fraction (0..1] of the box's area is inside: `anchor = { overlap = 0.5 }`.
    Overlap(f32),
}

impl Anchor {
    /// True for anchors that are a single point (usable for lines, masks and the heatmap).
    pub fn is_point(&self) -> bool {
        matches!(self, Anchor::BottomCenter | Anchor::Center)
    }
}

/// A polygon outline: `points = [[x, y], [x, y], [x, y], ...]` in order around the shape.
///
/// A list of several outlines (`[[[x, y], ...], [[x, y], ...]]`, i.e. a polygon with holes) is read so that
/// it can be refused with a clear message: zones with holes are not supported.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outline {
    /// The rings given; a usable outline has exactly one.
    pub rings: Vec<Vec<[f32; 2]>>,
}

impl Outline {
    /// An outline of one ring.
    pub fn new(points: Vec<[f32; 2]>) -> Self {
        Self {
            rings: vec![points],
        }
    }
}

impl Serialize for Outline {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.rings.as_slice() {
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Nested {
    Num(f64),
    List(Vec<Nested>),
}

fn ring_from(items: Vec<Nested>, ring: Option<usize>) -> Result<Vec<[f32; 2]>, String> {
    let at = |i: usize| match ring {
        Some(r) => format!("ring {r} point {i}"),
        None => format!("point {i}"),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Nested::List(coords) => {
                let nums: Vec<f64> = coords
                    .into_iter()
                    .filter_map(|c| match c {
                        Nested::Num(v) => Some(v),
                        Nested::List(_) => None,
                    })
                    .collect();
                if nums.len() != 2 {
                    return Err(format!(
                        "{} must be [x, y] (two numbers, fractions of the frame)",
                        at(i)
                    ));
                }
                out.push([nums[0] as f32, nums[1] as f32]);
            }
            Nested::Num(_) => {
                return Err(format!(
                    "{} is a bare number; write points as [[x, y], [x, y], ...]",
                    at(i)
                ));
            }
        }
    }
    Ok(out)
}

impl<'de> Deserialize<'de> for Outline {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let top = Vec::<Nested>::deserialize(d)?;
        // Rings of points when the first element's first element is itself a list.
        let is_rings = matches!(
            top.first(),
            Some(Nested::List(inner)) if matches!(inner.first(), Some(Nested::List(_)))
        );
        if !is_rings {
            return ring_from(top, None)
                .map(Outline::new)
                .map_err(D::Error::custom);
        }
        let mut rings = Vec::with_capacity(top.len());
        for (r, item) in top.into_iter().enumerate() {
            match item {
                Nested::List(points) => {
                    rings.push(ring_from(points, Some(r)).map_err(D::Error::custom)?)
                }
                Nested::Num(_) => {
                    return Err(D::Error::custom(
                        "mixes rings and numbers; write points as [[x, y], [x, y], ...]",
                    ));
                }
            }
        }
        Ok(Outline { rings })
    }
}

/// A named area of the image (`[[zone]]`), with the objects it cares about and its enter/leave hysteresis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZoneConfig {
    /// Unique name, used by rules and in descriptions (`"Loading dock"`).
    pub name: String,
    /// The outline: at least 3 points in order, not crossing itself, no holes.
    pub points: Option<Outline>,
    /// Which point of the box must be inside (default `"bottom_center"`).
    pub anchor: Anchor,
    /// Object classes considered (`["person", "car"]`); empty means every class.
    pub classes: Vec<String>,
    /// Minimum detection score an object must have reached (0..1).
    pub min_score: f32,
    /// Minimum box area as a fraction of the frame area (0..1), to ignore tiny far-away boxes.
    pub min_area: f32,
    /// Consecutive analysed frames inside before an object counts as entered (default 2).
    pub enter_frames: u32,
    /// Time inside before an object counts as entered (default 0; both conditions must hold).
    pub enter_after: ConfigDuration,
    /// Consecutive analysed frames outside before an object counts as gone (default 2).
    pub leave_frames: u32,
    /// Time outside before an object counts as gone (default 1 s; both conditions must hold).
    pub leave_after: ConfigDuration,
    /// How long an object that vanished (occlusion, lost track) still counts as present (default 3 s). A new
    /// track of the same class appearing near where it vanished within this time continues its stay.
    pub grace: ConfigDuration,
}

impl Default for ZoneConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            points: None,
            anchor: Anchor::BottomCenter,
            classes: Vec::new(),
            min_score: 0.0,
            min_area: 0.0,
            enter_frames: 2,
            enter_after: ConfigDuration::ZERO,
            leave_frames: 2,
            leave_after: ConfigDuration::from_secs(1),
            grace: ConfigDuration::from_secs(3),
        }
    }
}

/// A counting line (`[[line]]`) from `p1` to `p2`. Side A is on the left of someone walking from `p1` to `p2`
/// as seen on the image, side B on the right: for a line drawn left to right, A is above it and B below.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LineConfig {
    /// Unique name (`"Gate line"`).
    pub name: String,
    /// First end point `[x, y]`.
    pub p1: Option<[f32; 2]>,
    /// Second end point `[x, y]`.
    pub p2: Option<[f32; 2]>,
    /// Which direction is "in" for the counters and descriptions (default `"a_to_b"`).
    pub inbound: CrossingDirection,
    /// The point of the box whose path is followed: `"bottom_center"` (default) or `"center"`.
    pub anchor: Anchor,
    /// Object classes counted; empty means every class.
    pub classes: Vec<String>,
    /// Minimum detection score an object must have reached (0..1).
    pub min_score: f32,
    /// Minimum box area as a fraction of the frame area.
    pub min_area: f32,
    /// How far past the line (normalized units, default 0.02) the point must get before a crossing counts, so
    /// a box jittering on the line does not count again and again.
    pub hysteresis: f32,
    /// Count each track at most once per direction (default true): someone dithering in a doorway is one in
    /// and at most one out.
    pub once_per_track: bool,
}

impl Default for LineConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            p1: None,
            p2: None,
            inbound: CrossingDirection::AToB,
            anchor: Anchor::BottomCenter,
            classes: Vec::new(),
            min_score: 0.0,
            min_area: 0.0,
            hysteresis: 0.02,
            once_per_track: true,
        }
    }
}

/// What a mask does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskKind {
    /// Blacked out in recordings, snapshots and the UI (the rules still see the objects).
    Privacy,
    /// Objects whose anchor point lies inside are removed from every rule, counter and the heatmap.
    Ignore,
}

/// A privacy or ignore mask (`[[mask]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaskConfig {
    /// Unique name (`"Neighbour's window"`).
    pub name: String,
    /// `"privacy"` or `"ignore"`.
    pub kind: Option<MaskKind>,
    /// The outline, as for zones.
    pub points: Option<Outline>,
    /// For ignore masks: which point of the box must be inside (default `"bottom_center"`).
    pub anchor: Anchor,
}

impl Default for MaskConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            kind: None,
            points: None,
            anchor: Anchor::BottomCenter,
        }
    }
}

/// The kinds of rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Objects cross a line (needs `line`; optional `direction`).
    LineCrossing,
    /// Objects are in a zone (needs `zone`; usually with a `schedule`).
    Intrusion,
    /// An object stays in a zone longer than `min_dwell`.
    Loitering,
    /// More than `more_than` objects are in a zone for at least `min_duration`.
    Crowding,
    /// A queue zone holds more than `more_than` objects or someone waits longer than `max_wait`.
    Queue,
}

impl RuleKind {
    /// The name used in configuration.
    pub fn name(&self) -> &'static str {
        match self {
            Self::LineCrossing => "line_crossing",
            Self::Intrusion => "intrusion",
            Self::Loitering => "loitering",
            Self::Crowding => "crowding",
            Self::Queue => "queue",
        }
    }
}

/// How a zone rule groups what it sees into events (`events = "per_object"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventGrouping {
    /// One event per object: each qualifying object gets its own start, updates and end, with its own
    /// track, snapshot and description (default for `intrusion` and `loitering`).
    PerObject,
    /// One event per situation: while any object qualifies, one event takes in every object (the only
    /// grouping of `crowding`, `queue` and `line_crossing`).
    PerSituation,
}

/// What an intrusion rule asks of the second detector (`second_opinion = "confirm"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecondOpinion {
    /// An object's event is held until the second detector, run on the object's box, sees an object of
    /// its class there (false-alarm reduction).
    Confirm,
    /// Motion in the armed zone that no track explains is shown to the second detector; what it finds
    /// there raises the rule's event (misses of the main detector).
    Catch,
    /// Both.
    Both,
}

impl SecondOpinion {
    /// True for `confirm` and `both`.
    pub fn confirms(self) -> bool {
        matches!(self, SecondOpinion::Confirm | SecondOpinion::Both)
    }

    /// True for `catch` and `both`.
    pub fn catches(self) -> bool {
        matches!(self, SecondOpinion::Catch | SecondOpinion::Both)
    }
}

/// Which crossings of a line a rule reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectionFilter {
    /// Both directions (default).
    #[default]
    Both,
    /// From side A to side B.
    AToB,
    /// From side B to side A.
    BToA,
    /// The line's inbound direction.
    In,
    /// The line's outbound direction.
    Out,
}

/// A time window when a rule is armed (`schedule = [{ days = ["mon", "fri"], from = "22:00", to = "06:00" }]`).
///
/// Times are local (the configured time zone). A window that ends before it starts runs past midnight and
/// belongs to the day it starts on: Friday 22:00 to 06:00 covers Friday night until Saturday 06:00.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleWindow {
    /// Days: `"mon"`..`"sun"` (or full names), `"weekdays"`, `"weekends"`, `"daily"`; empty means every day.
    pub days: Vec<String>,
    /// Start, `"HH:MM"` or `"HH:MM:SS"`; absent means midnight.
    pub from: Option<String>,
    /// End (exclusive), `"HH:MM"`, `"HH:MM:SS"` or `"24:00"`; absent means the end of the day.
    pub to: Option<String>,
}

/// A rule (`[[rule]]`): what situation raises an event. Fields that do not apply to the rule's kind are
/// refused with a message naming the rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name (`"Dock loitering"`).
    pub name: String,
    /// What it detects.
    pub kind: Option<RuleKind>,
    /// False to keep the rule in the file but not run it.
    pub enabled: bool,
    /// The zone it watches (zone rules).
    pub zone: Option<String>,
    /// The line it watches (`line_crossing`).
    pub line: Option<String>,
    /// Which crossings it reports (`line_crossing`; default `"both"`).
    pub direction: Option<DirectionFilter>,
    /// Object classes it reports, narrowing the zone's or line's classes; empty means all of those.
    pub classes: Vec<String>,
    /// Minimum detection score an object must have reached, on top of the zone's or line's.
    pub min_score: Option<f32>,
    /// Minimum box area (fraction of the frame), on top of the zone's or line's.
    pub min_area: Option<f32>,
    /// When the rule is armed; empty means always.
    pub schedule: Vec<ScheduleWindow>,
    /// How long an object must stay (`loitering`, required).
    pub min_dwell: Option<ConfigDuration>,
    /// The object count that must be exceeded (`crowding` required; `queue` optional).
    pub more_than: Option<u32>,
    /// The wait that must be exceeded (`queue`, optional; `queue` needs `more_than` or `max_wait`).
    pub max_wait: Option<ConfigDuration>,
    /// How long the condition must hold before the event starts (`crowding`, `queue`, `intrusion`; default
    /// 0). For a per-object intrusion rule: how long each object must have been in the zone.
    pub min_duration: Option<ConfigDuration>,
    /// How long the event stays open after its condition stops: a recurrence within this time continues the
    /// same event instead of starting a new one (default 0 for `line_crossing`, 10 s otherwise). For
    /// per-object rules it applies per object: the same track coming back within it continues its event.
    pub cooldown: Option<ConfigDuration>,
    /// Interval of heartbeat updates while the event lasts (default 60 s; 0 turns them off).
    pub update_every: Option<ConfigDuration>,
    /// One event per object (`"per_object"`, default) or one per situation (`"per_situation"`);
    /// `intrusion` and `loitering` only.
    pub events: Option<EventGrouping>,
    /// A second opinion for `intrusion` rules: raise `unclassified_motion` when something keeps moving in
    /// the zone this long while no detection explains it (a detector blinded, fooled or blind to the
    /// object). Off when absent.
    pub unclassified_after: Option<ConfigDuration>,
    /// An independent second detector (`[analysis] second_model`) for `intrusion` rules: `"confirm"` (an
    /// object's event starts only once the second detector also sees it), `"catch"` (unexplained motion in
    /// the armed zone is shown to the second detector, whose finds raise the rule's event) or `"both"`.
    /// Off when absent.
    pub second_opinion: Option<SecondOpinion>,
    /// `"alert"` or `"detection"`: how the review page ranks its events (default from the kind; see
    /// [`vigil_core::Severity::default_for`]).
    pub severity: Option<vigil_core::Severity>,
}

impl Default for RuleConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            kind: None,
            enabled: true,
            zone: None,
            line: None,
            direction: None,
            classes: Vec::new(),
            min_score: None,
            min_area: None,
            schedule: Vec::new(),
            min_dwell: None,
            more_than: None,
            max_wait: None,
            min_duration: None,
            cooldown: None,
            update_every: None,
            events: None,
            unclassified_after: None,
            second_opinion: None,
            severity: None,
        }
    }
}

/// The occupancy heatmap (`[heatmap]`): where objects spend time, on a grid over the frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeatmapConfig {
    /// Accumulate the heatmap (default true).
    pub enabled: bool,
    /// Grid columns (default 64).
    pub cols: u32,
    /// Grid rows (default 36).
    pub rows: u32,
    /// The point of each box that is accumulated: `"bottom_center"` (default) or `"center"`.
    pub anchor: Anchor,
    /// Classes accumulated; empty means every class.
    pub classes: Vec<String>,
}

impl Default for HeatmapConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            cols: 64,
            rows: 36,
            anchor: Anchor::BottomCenter,
            classes: Vec::new(),
        }
    }
}

/// Zone occupancy history and wait statistics (`[occupancy]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OccupancyConfig {
    /// Length of one history sample (default 1 minute).
    pub bucket: ConfigDuration,
    /// How much history is kept per zone (default 24 hours).
    pub keep: ConfigDuration,
    /// Completed waits (stays that ended) are averaged over this recent period (default 15 minutes).
    pub wait_window: ConfigDuration,
    /// How often people are counted with the crowd counter (detections on a grid of tiles sized to the
    /// scene, `docs/counting.md`) for the crowding rules, and for zone occupancy with `crowd_occupancy`
    /// (default 1 s; 0: never, zones count tracks).
    pub count_every: ConfigDuration,
    /// Zone occupancy (its person count: MQTT sensors, history, the status page) comes from the crowd
    /// counter too, not only the crowding rules (default false: occupancy counts tracks).
    pub crowd_occupancy: bool,
}

impl Default for OccupancyConfig {
    fn default() -> Self {
        Self {
            bucket: ConfigDuration::from_secs(60),
            keep: ConfigDuration::from_secs(24 * 3600),
            wait_window: ConfigDuration::from_secs(15 * 60),
            count_every: ConfigDuration::from_secs(1),
            crowd_occupancy: false,
        }
    }
}

/// A duration in milliseconds, written in configuration as seconds (`90`, `2.5`) or with units (`"90s"`,
/// `"3m"`, `"1h30m"`, `"500ms"`, `"1d"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ConfigDuration(pub u64);

impl ConfigDuration {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// Whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self(s * 1000)
    }

    /// Milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// In milliseconds.
    pub fn as_millis(&self) -> u64 {
        self.0
    }

    /// Parses a duration text: a number of seconds, or numbers with units `ms`, `s`, `m`/`min`, `h`, `d`
    /// (`"1h30m"`, `"2.5s"`, `"1 h 30 min"`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if t.is_empty() {
            return Err(
                "empty duration; write seconds (90) or with units (\"90s\", \"3m\")".into(),
            );
        }
        if let Ok(secs) = t.parse::<f64>() {
            return Self::from_secs_f64(secs).ok_or_else(|| format!("bad duration {text:?}"));
        }
        let mut total_ms = 0.0f64;
        let mut rest = t.as_str();
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let unit_len = rest[num_len..]
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(rest.len() - num_len);
            let (num, unit) = (&rest[..num_len], &rest[num_len..num_len + unit_len]);
            let value: f64 = num
                .parse()
                .map_err(|_| format!("bad duration {text:?}: expected a number before {unit:?}"))?;
            let scale = match unit.to_ascii_lowercase().as_str() {
                "ms" => 1.0,
                "s" | "sec" | "secs" | "second" | "seconds" => 1000.0,
                "m" | "min" | "mins" | "minute" | "minutes" => 60_000.0,
                "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000.0,
                "d" | "day" | "days" => 86_400_000.0,
                "" => return Err(format!("bad duration {text:?}: {num} has no unit")),
                other => {
                    return Err(format!(
                        "bad duration {text:?}: unknown unit {other:?} (use ms, s, m, h or d)"
                    ));
                }
            };
            total_ms += value * scale;
            rest = &rest[num_len + unit_len..];
        }
        Self::from_secs_f64(total_ms / 1000.0).ok_or_else(|| format!("bad duration {text:?}"))
    }

    fn from_secs_f64(secs: f64) -> Option<Self> {
        (0.0..1e12)
            .contains(&secs)
            .then(|| Self((secs * 1000.0).round() as u64))
    }
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if !ms.is_multiple_of(1000) {
            write!(f, "{ms}ms")
        } else if ms.is_multiple_of(3_600_000) && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else {
            write!(f, "{}s", ms / 1000)
        }
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a duration: seconds (90) or a text with units (\"90s\", \"3m\", \"1h30m\")",
                )
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                ConfigDuration::from_secs_f64(v)
                    .ok_or_else(|| E::custom(format!("duration {v} must be zero or more seconds")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                ConfigDuration::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_numbers_and_units() {
        assert_eq!(ConfigDuration::parse("90").unwrap().as_millis(), 90_000);
        assert_eq!(ConfigDuration::parse("2.5s").unwrap().as_millis(), 2_500);
        assert_eq!(ConfigDuration::parse("500ms").unwrap().as_millis(), 500);
        assert_eq!(ConfigDuration::parse("3m").unwrap().as_millis(), 180_000);
        assert_eq!(
            ConfigDuration::parse("1h30m").unwrap().as_millis(),
            5_400_000
        );
        assert_eq!(
            ConfigDuration::parse("1 h 30 min").unwrap().as_millis(),
            5_400_000
        );
        assert!(ConfigDuration::parse("-3s").is_err());
        assert!(
            ConfigDuration::parse("3 fortnights")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(ConfigDuration::parse("").is_err());
        assert!(
            ConfigDuration::parse("1h30")
                .unwrap_err()
                .contains("no unit")
        );
        for d in ["90s", "3m", "2h", "1500ms"] {
            let v = ConfigDuration::parse(d).unwrap();
            assert_eq!(v.to_string(), d);
        }
    }

    #[test]
    fn outlines_read_one_ring_or_several() {
        #[derive(Deserialize)]
        struct T {
            points: Outline,
        }
        let t: T = toml::from_str("points = [[0, 0], [1, 0], [0.5, 1]]").unwrap();
        assert_eq!(
            t.points.rings,
            vec![vec![[0.0, 0.0], [1.0, 0.0], [0.5, 1.0]]]
        );
        let t: T = toml::from_str(
            "points = [[[0, 0], [1, 0], [0.5, 1]], [[0.4, 0.4], [0.6, 0.4], [0.5, 0.6]]]",
        )
        .unwrap();
        assert_eq!(t.points.rings.len(), 2);
        let e = toml::from_str::<T>("points = [[0, 0, 1], [1, 0], [0.5, 1]]")
            .err()
            .unwrap();
        assert!(e.to_string().contains("point 0 must be [x, y]"), "{e}");
        let e = toml::from_str::<T>("points = [0, 0, 1]").err().unwrap();
        assert!(e.to_string().contains("bare number"), "{e}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = toml::from_str::<ZoneConfig>("name = \"a\"\nanchr = \"center\"")
            .err()
            .unwrap();
        assert!(e.to_string().contains("anchr"), "{e}");
        let e = toml::from_str::<RuleConfig>("name = \"a\"\nkind = \"loitering\"\nmin_dwel = 5")
            .err()
            .unwrap();
        assert!(e.to_string().contains("min_dwel"), "{e}");
    }

    #[test]
    fn anchors_read_as_words_or_an_overlap_table() {
        #[derive(Deserialize)]
        struct T {
            a: Anchor,
        }
        assert_eq!(
            toml::from_str::<T>("a = \"center\"").unwrap().a,
            Anchor::Center
        );
        assert_eq!(
            toml::from_str::<T>("a = \"bottom_centre\"").unwrap().a,
            Anchor::BottomCenter
        );
        assert_eq!(
            toml::from_str::<T>("a = { overlap = 0.5 }").unwrap().a,
            Anchor::Overlap(0.5)
        );
        assert!(toml::from_str::<T>("a = \"middle\"").is_err());
    }
}
