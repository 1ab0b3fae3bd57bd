//! Activity baselines by hour of the week: what is normal for a camera and its zones at each of the
//! week's 168 hours, learned continuously, and whether a new sample deviates beyond the learned variation.
//!
//! A *measure* ([`Measure`]) is one figure sampled once a minute: the objects of a class present in a
//! zone (or the whole view), the longest stay in a zone, or the tracks moving in one of 8 directions. For
//! each measure and hour-of-week slot (in the camera's time zone), [`SlotStats`] keeps an exponentially
//! weighted mean and variance: a plain running mean over the first [`HORIZON`] samples, then weighted
//! with `1/HORIZON` (about four weeks of one hour's minutes), so the normal follows slow change. A slot
//! judges nothing until it has seen `min_weeks` different weeks (a slot's samples more than a day apart
//! belong to different weeks). The statistics do no I/O; [`BaselinePersist`] is what keeps them.

use crate::describe::plural;
use crate::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// Samples after which the mean and variance stop being plain averages and weigh each new sample
/// `1/HORIZON` (4 weeks of one hour's once-a-minute samples).
pub const HORIZON: f64 = 240.0;
/// A slot's next sample after this long (ms) is from another week.
const NEW_WEEK_MS: i64 = 86_400_000;
/// Samples a slot needs, besides its weeks, before it judges.
const MIN_SAMPLES: u32 = 30;
/// The learned variation shown as "usually A-B": the mean plus or minus this many standard deviations.
const USUAL_SDS: f64 = 2.0;
/// Weekday names, Monday first (as [`crate::LocalDateTime::weekday`]).
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
/// The 8 directions of flow on the picture, sector 0 centred on "right", counter-clockwise as seen.
pub const DIRECTIONS: [&str; 8] = [
    "right",
    "up-right",
    "up",
    "up-left",
    "left",
    "down-left",
    "down",
    "down-right",
];

/// The hour-of-week slot (0 = Monday 00:00-01:00 .. 167 = Sunday 23:00-24:00) of `unix_ms` in `tz`.
pub fn hour_of_week(unix_ms: i64, tz: &TimeZone) -> u16 {
    let t = tz.local(unix_ms);
    u16::from(t.weekday) * 24 + u16::from(t.hour)
}

/// The direction sector (index into [`DIRECTIONS`]) of a motion `dx`, `dy` on the picture (y down).
pub fn direction_sector(dx: f32, dy: f32) -> u8 {
    let angle = (-dy).atan2(dx); // counter-clockwise as seen, 0 = right
    let sector = (angle / std::f32::consts::FRAC_PI_4).round() as i32;
    sector.rem_euclid(8) as u8
}

/// What a measure counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Objects of a class present (mean over the minute).
    Count(String),
    /// The longest stay going on in the zone, in minutes.
    Dwell,
    /// Tracks that moved in one direction (a [`DIRECTIONS`] index) during the minute.
    Flow(u8),
}

/// One figure of a camera sampled once a minute: a metric in a zone (`None`: the whole view).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Measure {
    /// What is counted.
    pub metric: Metric,
    /// Where (`None`: the whole view).
    pub zone: Option<String>,
}

impl fmt::Display for Measure {
    /// The stored key: `count:person@Loading dock`, `dwell@Loading dock`, `flow:3@` (whole view).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.metric {
            Metric::Count(class) => write!(f, "count:{class}")?,
            Metric::Dwell => f.write_str("dwell")?,
            Metric::Flow(s) => write!(f, "flow:{s}")?,
        }
        write!(f, "@{}", self.zone.as_deref().unwrap_or(""))
    }
}

impl std::str::FromStr for Measure {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("not a baseline measure: {s:?}");
        let (metric, zone) = s.split_once('@').ok_or_else(bad)?;
        let metric = match metric.split_once(':') {
            Some(("count", class)) if !class.is_empty() => Metric::Count(class.to_string()),
            Some(("flow", sector)) => match sector.parse::<u8>() {
                Ok(s) if s < 8 => Metric::Flow(s),
                _ => return Err(bad()),
            },
            None if metric == "dwell" => Metric::Dwell,
            _ => return Err(bad()),
        };
        Ok(Measure {
            metric,
            zone: (!zone.is_empty()).then(|| zone.to_string()),
        })
    }
}

impl Measure {
    /// The metric's name in events: `count`, `dwell` or `flow`.
    pub fn metric_name(&self) -> &'static str {
        match self.metric {
            Metric::Count(_) => "count",
            Metric::Dwell => "dwell",
            Metric::Flow(_) => "flow",
        }
    }

    /// The class counted (`count` only).
    pub fn class_name(&self) -> Option<&str> {
        match &self.metric {
            Metric::Count(c) => Some(c),
            _ => None,
        }
    }
}

/// What is learned of one measure at one hour of the week.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SlotStats {
    /// Samples learned.
    pub samples: u32,
    /// Different weeks the samples came from.
    pub weeks: u32,
    /// Weighted mean.
    pub mean: f64,
    /// Weighted variance.
    pub var: f64,
    /// Time of the last sample (unix ms).
    pub last_ms: i64,
}

impl SlotStats {
    /// Learns sample `x` taken at `unix_ms`.
    pub fn learn(&mut self, x: f64, unix_ms: i64) {
        if self.samples == 0 || unix_ms - self.last_ms > NEW_WEEK_MS {
            self.weeks = self.weeks.saturating_add(1);
        }
        self.samples = self.samples.saturating_add(1);
        let alpha = (1.0 / f64::from(self.samples)).max(1.0 / HORIZON);
        let d = x - self.mean;
        self.mean += alpha * d;
        self.var = (1.0 - alpha) * (self.var + alpha * d * d);
        self.last_ms = unix_ms;
    }

    /// The standard deviation.
    pub fn sd(&self) -> f64 {
        self.var.max(0.0).sqrt()
    }

    /// The usual range: the mean plus or minus two standard deviations, not below 0.
    pub fn usual(&self) -> [f64; 2] {
        let sd = self.sd();
        [
            (self.mean - USUAL_SDS * sd).max(0.0),
            (self.mean + USUAL_SDS * sd).max(0.0),
        ]
    }
}

/// When a sample deviates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaselineParams {
    /// Different weeks a slot must have seen before it judges.
    pub min_weeks: u32,
    /// Deviation beyond this many standard deviations from the mean...
    pub sigma: f64,
    /// ...and by at least this much (objects, minutes or tracks): a slot that was always empty has no
    /// variation, and one person more is not news.
    pub min_change: f64,
}

impl Default for BaselineParams {
    fn default() -> Self {
        BaselineParams {
            min_weeks: 3,
            sigma: 4.0,
            min_change: 3.0,
        }
    }
}

/// A sample beyond the learned variation.
#[derive(Debug, Clone, PartialEq)]
pub struct Deviation {
    /// The measure.
    pub measure: Measure,
    /// The sample.
    pub value: f64,
    /// The usual range ([`SlotStats::usual`]).
    pub usual: [f64; 2],
    /// Weeks the slot was learned over.
    pub weeks: u32,
}

/// A slot's statistics as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotRecord {
    /// [`Measure`] as text.
    pub key: String,
    /// Hour of the week ([`hour_of_week`]).
    pub slot: u16,
    /// What was learned.
    pub stats: SlotStats,
}

/// Where a camera's baselines are kept between runs (the store's index).
pub trait BaselinePersist: Send {
    /// Every slot learned for `camera`.
    fn load(&self, camera: &str) -> Result<Vec<SlotRecord>, String>;
    /// Writes (replaces) these slots of `camera`.
    fn save(&self, camera: &str, records: &[SlotRecord]) -> Result<(), String>;
}

/// A camera's baselines: every measure at every hour of the week.
#[derive(Debug, Clone, Default)]
pub struct ActivityBaseline {
    slots: HashMap<(Measure, u16), SlotStats>,
}

impl ActivityBaseline {
    /// Baselines from stored records (records whose key is not a measure are skipped).
    pub fn from_records(records: &[SlotRecord]) -> ActivityBaseline {
        let mut slots = HashMap::new();
        for r in records {
            if let Ok(m) = r.key.parse::<Measure>()
                && r.slot < 168
            {
                slots.insert((m, r.slot), r.stats);
            }
        }
        ActivityBaseline { slots }
    }

    /// What was learned of `measure` at `slot`.
    pub fn get(&self, measure: &Measure, slot: u16) -> Option<&SlotStats> {
        self.slots.get(&(measure.clone(), slot))
    }

    /// Learns `value` of `measure` at `unix_ms` (slot from `tz`); the slot's record after it.
    pub fn learn(
        &mut self,
        measure: &Measure,
        value: f64,
        unix_ms: i64,
        tz: &TimeZone,
    ) -> SlotRecord {
        let slot = hour_of_week(unix_ms, tz);
        let stats = self.slots.entry((measure.clone(), slot)).or_default();
        stats.learn(value, unix_ms);
        SlotRecord {
            key: measure.to_string(),
            slot,
            stats: *stats,
        }
    }

    /// Whether `value` of `measure` at `unix_ms` deviates beyond the slot's learned variation (`None`
    /// also while the slot has too little history).
    pub fn judge(
        &self,
        measure: &Measure,
        value: f64,
        unix_ms: i64,
        tz: &TimeZone,
        params: &BaselineParams,
    ) -> Option<Deviation> {
        let s = self.get(measure, hour_of_week(unix_ms, tz))?;
        if s.weeks < params.min_weeks || s.samples < MIN_SAMPLES {
            return None;
        }
        let margin = (params.sigma * s.sd()).max(params.min_change);
        ((value - s.mean).abs() >= margin).then(|| Deviation {
            measure: measure.clone(),
            value,
            usual: s.usual(),
            weeks: s.weeks,
        })
    }
}

/// "0-1", "3" (a range that rounds to one number), "2.5-4" for minutes.
fn range_text(usual: [f64; 2]) -> String {
    let lo = usual[0].floor();
    let hi = usual[1].round().max(lo);
    if lo == hi {
        format!("{lo:.0}")
    } else {
        format!("{lo:.0}-{hi:.0}")
    }
}

/// The plain-language cause of a deviation seen at `unix_ms`: "12 people at 'Loading dock' at 03:00 on
/// Tuesday; usually 0-1".
pub fn explain(d: &Deviation, unix_ms: i64, tz: &TimeZone) -> String {
    let t = tz.local(unix_ms);
    let when = format!(
        "at {:02}:{:02} on {}",
        t.hour,
        t.minute,
        WEEKDAYS[usize::from(t.weekday) % 7]
    );
    let place = match &d.measure.zone {
        Some(z) => format!("at '{z}'"),
        None => "in view".to_string(),
    };
    let n = d.value.round();
    let usual = range_text(d.usual);
    match &d.measure.metric {
        Metric::Count(class) => {
            let what = if n == 1.0 {
                class.clone()
            } else {
                plural(class)
            };
            format!("{n:.0} {what} {place} {when}; usually {usual}")
        }
        Metric::Dwell => {
            format!("a stay of {n:.0} min {place} {when}; usually {usual} min")
        }
        Metric::Flow(s) => {
            let dir = DIRECTIONS[usize::from(*s) % 8];
            format!("{n:.0} moving {dir} {place} {when}; usually {usual} a minute")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Monday 2024-06-03 00:00 UTC.
    const MONDAY: i64 = 1_717_372_800_000;
    const HOUR: i64 = 3_600_000;
    const WEEK: i64 = 7 * 24 * HOUR;

    fn people(zone: &str) -> Measure {
        Measure {
            metric: Metric::Count("person".into()),
            zone: Some(zone.into()),
        }
    }

    /// Weeks `weeks` of once-a-minute samples at 03:00-04:00 on Tuesdays: 0 people, 1 every 5th minute.
    fn learn_quiet_nights(
        b: &mut ActivityBaseline,
        m: &Measure,
        weeks: std::ops::Range<i64>,
        tz: &TimeZone,
    ) {
        for w in weeks {
            for minute in 0..60 {
                let t = MONDAY + w * WEEK + 24 * HOUR + 3 * HOUR + minute * 60_000;
                let x = if minute % 5 == 0 { 1.0 } else { 0.0 };
                b.learn(m, x, t, tz);
            }
        }
    }

    #[test]
    fn slots_follow_the_cameras_time_zone() {
        let utc = TimeZone::utc();
        assert_eq!(hour_of_week(MONDAY, &utc), 0);
        assert_eq!(
            hour_of_week(MONDAY + 24 * HOUR + 3 * HOUR + 59 * 60_000, &utc),
            27
        );
        // Berlin in summer is UTC+2: Monday 00:00 UTC is Monday 02:00 there.
        let berlin = TimeZone::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap_or_default();
        assert_eq!(hour_of_week(MONDAY, &berlin), 2);
        // Sunday 23:30 UTC is Monday 01:30 in Berlin: the week wraps.
        assert_eq!(
            hour_of_week(MONDAY + 6 * 24 * HOUR + 23 * HOUR + 1_800_000, &berlin),
            1
        );
    }

    #[test]
    fn a_burst_at_an_unusual_hour_deviates_and_usual_traffic_does_not() {
        let tz = TimeZone::utc();
        let dock = people("Loading dock");
        let mut b = ActivityBaseline::default();
        learn_quiet_nights(&mut b, &dock, 0..4, &tz);
        let p = BaselineParams::default();
        let tuesday_3am = MONDAY + 4 * WEEK + 27 * HOUR + 5 * 60_000;
        assert_eq!(b.judge(&dock, 1.0, tuesday_3am, &tz, &p), None);
        assert_eq!(b.judge(&dock, 2.0, tuesday_3am, &tz, &p), None);
        let d = b.judge(&dock, 12.0, tuesday_3am, &tz, &p);
        let Some(d) = d else {
            panic!("12 people where there are usually 0-1 must deviate")
        };
        assert_eq!(d.weeks, 4);
        assert_eq!(
            explain(&d, tuesday_3am, &tz),
            "12 people at 'Loading dock' at 03:05 on Tuesday; usually 0-1"
        );
        // Another hour has learned nothing: no judgement.
        assert_eq!(b.judge(&dock, 12.0, tuesday_3am + 5 * HOUR, &tz, &p), None);
    }

    #[test]
    fn no_alarm_before_enough_weeks() {
        let tz = TimeZone::utc();
        let dock = people("Loading dock");
        let mut b = ActivityBaseline::default();
        learn_quiet_nights(&mut b, &dock, 0..2, &tz);
        let p = BaselineParams::default();
        let t = MONDAY + 3 * WEEK + 27 * HOUR;
        assert_eq!(b.get(&dock, 27).map(|s| s.weeks), Some(2));
        assert_eq!(b.judge(&dock, 12.0, t, &tz, &p), None);
        learn_quiet_nights(&mut b, &dock, 2..3, &tz);
        assert!(b.judge(&dock, 12.0, t, &tz, &p).is_some());
    }

    #[test]
    fn a_busy_hour_learns_its_variation() {
        let tz = TimeZone::utc();
        let view = Measure {
            metric: Metric::Count("person".into()),
            zone: None,
        };
        let mut b = ActivityBaseline::default();
        // Friday 17:00: 20 to 40 people.
        for w in 0..4 {
            for minute in 0..60 {
                let t = MONDAY + w * WEEK + 4 * 24 * HOUR + 17 * HOUR + minute * 60_000;
                b.learn(&view, 20.0 + (minute % 21) as f64, t, &tz);
            }
        }
        let p = BaselineParams::default();
        let t = MONDAY + 4 * WEEK + 4 * 24 * HOUR + 17 * HOUR;
        assert_eq!(b.judge(&view, 38.0, t, &tz, &p), None);
        assert_eq!(b.judge(&view, 12.0, t, &tz, &p), None);
        let empty = b.judge(&view, 0.0, t, &tz, &p).map(|d| explain(&d, t, &tz));
        assert_eq!(
            empty.as_deref(),
            Some("0 people in view at 17:00 on Friday; usually 17-41")
        );
    }

    #[test]
    fn measures_round_trip_through_their_keys_and_records() {
        for m in [
            people("Loading dock"),
            Measure {
                metric: Metric::Dwell,
                zone: Some("Till 1".into()),
            },
            Measure {
                metric: Metric::Flow(5),
                zone: None,
            },
        ] {
            assert_eq!(m.to_string().parse::<Measure>(), Ok(m));
        }
        assert!("flow:9@".parse::<Measure>().is_err());
        assert!("speed@x".parse::<Measure>().is_err());
        let tz = TimeZone::utc();
        let mut b = ActivityBaseline::default();
        let r = b.learn(&people("Gate"), 3.0, MONDAY, &tz);
        let back = ActivityBaseline::from_records(&[r]);
        assert_eq!(back.get(&people("Gate"), 0).map(|s| s.mean), Some(3.0));
    }

    #[test]
    fn directions_are_as_seen_on_the_picture() {
        assert_eq!(DIRECTIONS[usize::from(direction_sector(1.0, 0.0))], "right");
        assert_eq!(DIRECTIONS[usize::from(direction_sector(0.0, -1.0))], "up");
        assert_eq!(
            DIRECTIONS[usize::from(direction_sector(-1.0, 1.0))],
            "down-left"
        );
        assert_eq!(DIRECTIONS[usize::from(direction_sector(1.0, 0.3))], "right");
    }
}
