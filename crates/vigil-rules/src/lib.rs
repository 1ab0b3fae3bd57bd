//! Vigil behaviour rules: turn one camera's tracks into the events security people act on.
//!
//! Per analysed frame, [`RuleEngine::update`] takes the tracker's [`vigil_core::TrackedObject`]s and returns
//! the [`vigil_core::Event`] messages that started, updated or ended in that frame: line crossings (with
//! per-line in/out counters), intrusion into zones (optionally on a weekly schedule), loitering, crowding and
//! queues. It also keeps zone occupancy over time, queue waits, and an occupancy heatmap, and exposes privacy
//! masks for the recorder and UI to black out ([`black_out`]).
//!
//! Geometry is in normalized frame coordinates (x, y from 0 to 1, origin top-left), so a zone drawn once
//! survives a change of stream resolution. The engine is deterministic and does no I/O.
//!
//! # Configuration
//!
//! Written by hand in `vigil.toml`; inside a camera the same tables appear as `[[camera.zone]]`,
//! `[[camera.line]]`, `[[camera.mask]]`, `[[camera.rule]]`, `[camera.heatmap]` and `[camera.occupancy]`.
//! Unknown fields are errors. Durations are seconds (`90`) or texts with units (`"90s"`, `"3m"`,
//! `"1h30m"`).
//!
//! ```
//! let text = r#"
//! timezone = "CET-1CEST,M3.5.0,M10.5.0/3"   # or "UTC", "+02:00"
//!
//! ## A zone: an outline in order around it (no holes, not crossing itself).
//! [[zone]]
//! name = "Loading dock"
//! points = [[0.10, 0.55], [0.60, 0.55], [0.65, 0.95], [0.05, 0.95]]
//! classes = ["person"]          # empty or absent: every class
//! min_score = 0.5               # the track must have reached this score
//! min_area = 0.001              # box area as a fraction of the frame
//! anchor = "bottom_center"      # or "center", "any_corner", { overlap = 0.5 }
//! enter_frames = 2              # in after 2 frames inside...
//! enter_after = "0.5s"          # ...and half a second
//! leave_frames = 2              # out after 2 frames outside...
//! leave_after = "1s"            # ...and a second
//! grace = "3s"                  # a track lost for up to 3 s still counts (occlusions)
//!
//! [[zone]]
//! name = "Till 1"
//! points = [[0.70, 0.40], [0.95, 0.40], [0.95, 0.90], [0.70, 0.90]]
//!
//! ## A counting line from p1 to p2. Side A is on the left of someone walking from p1 to p2 on the image:
//! ## for a line drawn left to right, A is above it and B below it.
//! [[line]]
//! name = "Gate line"
//! p1 = [0.20, 0.60]
//! p2 = [0.80, 0.60]
//! inbound = "a_to_b"            # crossing from A to B counts as "in"
//! classes = ["person", "car"]
//! hysteresis = 0.02             # must get this far past the line to count
//!
//! [[mask]]
//! name = "Neighbour's window"
//! kind = "privacy"              # blacked out in recordings and the UI
//! points = [[0.00, 0.00], [0.20, 0.00], [0.20, 0.25], [0.00, 0.25]]
//!
//! [[mask]]
//! name = "Street"
//! kind = "ignore"               # objects here are invisible to every rule
//! points = [[0.00, 0.30], [1.00, 0.30], [1.00, 0.45], [0.00, 0.45]]
//!
//! [[rule]]
//! name = "Gate count"
//! kind = "line_crossing"
//! line = "Gate line"
//! direction = "in"              # both (default), a_to_b, b_to_a, in, out
//!
//! [[rule]]
//! name = "Dock after hours"
//! kind = "intrusion"
//! zone = "Loading dock"
//! schedule = [
//!   { days = ["weekdays"], from = "20:00", to = "06:00" },   # past midnight: until 06:00 next day
//!   { days = ["sat", "sun"] },                              # all day
//! ]
//!
//! [[rule]]
//! name = "Dock loitering"
//! kind = "loitering"
//! zone = "Loading dock"
//! min_dwell = "2m"
//! cooldown = "30s"              # the same person back within 30 s continues their event
//! events = "per_object"         # one event per person (default); "per_situation": one while any
//!
//! [[rule]]
//! name = "Dock crowd"
//! kind = "crowding"
//! zone = "Loading dock"
//! more_than = 5                 # people counted by the crowd counter (see `[occupancy]`)
//! min_duration = "10s"
//!
//! [[rule]]
//! name = "Till 1 queue"
//! kind = "queue"
//! zone = "Till 1"
//! classes = ["person"]
//! more_than = 4                 # queue length, and/or:
//! max_wait = "5m"
//!
//! [heatmap]
//! cols = 64
//! rows = 36
//!
//! [occupancy]
//! bucket = "1m"
//! keep = "24h"
//! count_every = "1s"            # crowd counts for crowding rules (0: they count tracks)
//! crowd_occupancy = false       # true: zone occupancy counts people with the crowd counter too
//! "#;
//! let config: vigil_rules::RulesConfig = toml::from_str(text).unwrap();
//! let classes = ["person", "bicycle", "car"];
//! let engine = vigil_rules::RuleEngine::new("front", &config, &classes).unwrap();
//! assert_eq!(engine.counters()[0].line, "Gate line");
//! ```
//!
//! # Events
//!
//! Intrusion and loitering rules raise one event per object (`events = "per_object"`, the default): each
//! person who enters the zone (or stays past `min_dwell`) has an event of their own, with their track, best
//! snapshot and description. The event starts when the object meets the condition (`Start`), is updated
//! when something worth saying changes (at most once a second, plus a heartbeat every `update_every`,
//! default 60 s) and ends once the object has stopped meeting the condition for the rule's `cooldown`
//! (`End`). Objects must pass the zone's enter/leave hysteresis first, so a box jittering on a zone edge does
//! not flap; a track lost for less than the zone's `grace` keeps its stay (even when the tracker gives it a
//! new id at the same place), and the same track back within the cooldown continues its event, so one
//! loitering person is one event, not fifty. A person the tracker loses for longer and re-finds under a new
//! id is a new event (a limit of tracking, not of the rules).
//!
//! `events = "per_situation"` (and always for crowding, queues and line crossings) groups instead: the rule
//! has at most one open event, which takes in every object that meets the condition while it lasts and ends
//! once the condition has been off for the cooldown. A line rule without a cooldown makes one event of each
//! frame's crossings (usually a single crossing).
//!
//! # Crowd counts
//!
//! A tracker undercounts crowds (it confirms people after a few frames and loses them behind others), so
//! crowding rules that count people take their count from a crowd counter instead when the caller gives
//! one: [`RuleEngine::people_count_every`] says how often it is wanted, [`RuleEngine::set_people`] takes
//! the people found (the pipeline counts person detections on a grid of tiles, `docs/counting.md`), and
//! each zone counts those whose feet stand in it. Tracks still count for everything else.

#![warn(missing_docs)]

pub mod baseline;
mod compile;
pub mod config;
mod describe;
mod engine;
mod episode;
mod error;
mod evaluate;
mod fallback;
pub mod geometry;
mod heatmap;
mod lines;
mod privacy;
mod schedule;
pub mod second;
pub mod tz;
mod zones;

pub use baseline::{
    ActivityBaseline, BaselineParams, BaselinePersist, Deviation, Measure, Metric, SlotRecord,
    SlotStats,
};
pub use compile::PrivacyMask;
pub use config::{
    Anchor, ConfigDuration, DirectionFilter, EventGrouping, HeatmapConfig, LineConfig, MaskConfig,
    MaskKind, OccupancyConfig, Outline, RuleConfig, RuleKind, RulesConfig, ScheduleWindow,
    SecondOpinion, ZoneConfig,
};
pub use describe::{clock_at, clock_range, describe, ended, humanize_duration, plural};
pub use engine::{FrameContext, RuleEngine, ZoneMember, ZoneOccupancy};
pub use episode::IdGen;
pub use error::RulesError;
pub use geometry::{Polygon, PolygonError, Segment};
pub use heatmap::Heatmap;
pub use lines::{DirectionCounts, LineCounts};
pub use privacy::{black_out, black_out_masks};
pub use schedule::Schedule;
pub use second::{SecondDetection, SecondOpinionRequest, SecondOpinionStats};
pub use tz::{LocalDateTime, TimeZone};
pub use zones::{OccupancySample, WaitStats};

/// The privacy masks of a configuration, validated, without building an engine (for the recorder and UI).
pub fn privacy_masks(config: &RulesConfig) -> Result<Vec<PrivacyMask>, RulesError> {
    let mut out = Vec::new();
    for (i, m) in config.mask.iter().enumerate() {
        if m.kind == Some(MaskKind::Privacy) {
            let item = error::item_label("mask", &m.name, i);
            out.push(PrivacyMask {
                name: m.name.clone(),
                polygon: compile::polygon(&item, &m.points)?,
            });
        }
    }
    Ok(out)
}
