//! Validation: turns a [`RulesConfig`] into checked, indexed specifications the engine runs on. Every error
//! names the item (zone, line, mask, rule) and the field.

use crate::config::{
    Anchor, DirectionFilter, EventGrouping, MaskKind, Outline, RuleKind, RulesConfig,
};
use crate::error::{RulesError, item_label};
use crate::geometry::{Polygon, Segment};
use crate::schedule::Schedule;
use crate::tz::TimeZone;
use std::collections::HashMap;
use vigil_core::{ClassId, CrossingDirection, Point};

/// Which objects an item considers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ObjectFilter {
    /// Allowed class ids (indexed by id); `None` allows every class.
    classes: Option<Vec<bool>>,
    pub min_score: f32,
    pub min_area: f32,
}

impl ObjectFilter {
    pub fn allows_class(&self, class: ClassId) -> bool {
        match &self.classes {
            None => true,
            Some(set) => set.get(class as usize).copied().unwrap_or(false),
        }
    }

    /// True for an object of `class` whose best score so far is `max_score` and whose box covers `area` of
    /// the frame.
    pub fn allows(&self, class: ClassId, max_score: f32, area: f32) -> bool {
        self.allows_class(class) && max_score >= self.min_score && area >= self.min_area
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ZoneSpec {
    pub name: String,
    pub polygon: Polygon,
    pub anchor: Anchor,
    pub filter: ObjectFilter,
    pub enter_frames: u32,
    pub enter_ms: i64,
    pub leave_frames: u32,
    pub leave_ms: i64,
    pub grace_ms: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct LineSpec {
    pub name: String,
    pub segment: Segment,
    pub inbound: CrossingDirection,
    pub anchor: Anchor,
    pub filter: ObjectFilter,
    pub hysteresis: f64,
    pub once_per_track: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct IgnoreMask {
    pub polygon: Polygon,
    pub anchor: Anchor,
}

/// A privacy mask: a named polygon to black out in recordings, snapshots and the UI.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivacyMask {
    /// The mask's name.
    pub name: String,
    /// Its outline in normalized frame coordinates.
    pub polygon: Polygon,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Zone(usize),
    Line(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct RuleSpec {
    pub name: String,
    pub kind: RuleKind,
    pub target: Target,
    /// Which crossing directions it reports (indexed by `CrossingDirection as usize`).
    pub directions: [bool; 2],
    /// The line's inbound direction (line rules).
    pub inbound: CrossingDirection,
    pub filter: ObjectFilter,
    pub schedule: Schedule,
    pub min_dwell_ms: i64,
    pub more_than: Option<u32>,
    pub max_wait_ms: Option<i64>,
    pub min_duration_ms: i64,
    pub cooldown_ms: i64,
    pub update_every_ms: i64,
    /// One event per object (intrusion, loitering) instead of one per situation.
    pub per_object: bool,
    /// Motion unexplained by any detection this long in the zone raises `unclassified_motion`
    /// (intrusion rules that ask for it).
    pub unclassified_after_ms: Option<i64>,
    /// What the rule asks of the second detector (intrusion rules that ask).
    pub second: Option<crate::config::SecondOpinion>,
}

#[derive(Debug, Clone)]
pub(crate) struct HeatmapSpec {
    pub enabled: bool,
    pub cols: u32,
    pub rows: u32,
    pub anchor: Anchor,
    pub filter: ObjectFilter,
}

#[derive(Debug, Clone)]
pub(crate) struct OccupancySpec {
    pub bucket_ms: i64,
    pub capacity: usize,
    pub wait_window_ms: i64,
    /// How often people are counted by the crowd counter (0: never).
    pub count_every_ms: i64,
    /// Zone occupancy counts people with the crowd counter.
    pub crowd_occupancy: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub tz: TimeZone,
    pub class_names: Vec<String>,
    pub zones: Vec<ZoneSpec>,
    pub lines: Vec<LineSpec>,
    pub ignore: Vec<IgnoreMask>,
    pub privacy: Vec<PrivacyMask>,
    pub rules: Vec<RuleSpec>,
    pub heatmap: HeatmapSpec,
    pub occupancy: OccupancySpec,
}

/// Default cooldown of zone rules.
const ZONE_RULE_COOLDOWN_MS: i64 = 10_000;
/// Default heartbeat interval.
const UPDATE_EVERY_MS: i64 = 60_000;
/// Crowd counts at most this often (each costs several detector runs).
const MIN_COUNT_EVERY_MS: u64 = 200;
/// Crowd counts at least this often when on.
const MAX_COUNT_EVERY_MS: u64 = 3_600_000;
/// Most history samples kept per zone.
const MAX_HISTORY_SAMPLES: u64 = 100_000;

struct Classes<'a> {
    names: &'a [String],
    index: HashMap<String, ClassId>,
}

impl Classes<'_> {
    fn filter(
        &self,
        item: &str,
        classes: &[String],
        min_score: f32,
        min_area: f32,
    ) -> Result<ObjectFilter, RulesError> {
        if !(0.0..=1.0).contains(&min_score) {
            return Err(RulesError::invalid(
                item,
                "min_score",
                format!("{min_score} is not in 0..1"),
            ));
        }
        if !(0.0..=1.0).contains(&min_area) {
            return Err(RulesError::invalid(
                item,
                "min_area",
                format!("{min_area} is not in 0..1 (a fraction of the frame area)"),
            ));
        }
        let set = if classes.is_empty() {
            None
        } else {
            let mut set = vec![false; self.names.len()];
            for c in classes {
                let id = self
                    .index
                    .get(&c.trim().to_ascii_lowercase())
                    .ok_or_else(|| {
                        let known: Vec<&str> =
                            self.names.iter().take(12).map(String::as_str).collect();
                        let more = if self.names.len() > 12 { ", ..." } else { "" };
                        RulesError::invalid(
                            item,
                            "classes",
                            format!(
                                "unknown class {c:?}; the detector knows {}{more}",
                                known.join(", ")
                            ),
                        )
                    })?;
                set[*id as usize] = true;
            }
            Some(set)
        };
        Ok(ObjectFilter {
            classes: set,
            min_score,
            min_area,
        })
    }
}

pub(crate) fn polygon(item: &str, points: &Option<Outline>) -> Result<Polygon, RulesError> {
    let outline = points.as_ref().ok_or_else(|| {
        RulesError::invalid(item, "points", "required: the outline [[x, y], ...]")
    })?;
    let ring = match outline.rings.as_slice() {
        [one] => one,
        [] => {
            return Err(RulesError::invalid(
                item,
                "points",
                "required: the outline [[x, y], ...]",
            ));
        }
        many => {
            return Err(RulesError::invalid(
                item,
                "points",
                format!(
                    "{} rings given, but polygons with holes are not supported; give one outline \
                     (split the area into several zones, or add an ignore mask for the hole)",
                    many.len()
                ),
            ));
        }
    };
    let pts = ring.iter().map(|p| Point::new(p[0], p[1])).collect();
    Polygon::new(pts).map_err(|source| RulesError::Polygon {
        item: item.to_string(),
        field: "points",
        source,
    })
}

fn check_overlap_anchor(item: &str, anchor: Anchor) -> Result<(), RulesError> {
    if let Anchor::Overlap(f) = anchor
        && !(f > 0.0 && f <= 1.0)
    {
        return Err(RulesError::invalid(
            item,
            "anchor",
            format!("overlap {f} is not in (0, 1]"),
        ));
    }
    Ok(())
}

fn check_point_anchor(item: &str, anchor: Anchor) -> Result<(), RulesError> {
    if anchor.is_point() {
        Ok(())
    } else {
        Err(RulesError::invalid(
            item,
            "anchor",
            "must be a single point here: \"bottom_center\" or \"center\"",
        ))
    }
}

fn check_unique<'a>(
    kind: &'static str,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), RulesError> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, n) in names.enumerate() {
        if n.trim().is_empty() {
            return Err(RulesError::invalid(
                &format!("{kind} #{}", i + 1),
                "name",
                "required",
            ));
        }
        if let Some(first) = seen.insert(n, i) {
            return Err(RulesError::DuplicateName {
                kind,
                name: n.to_string(),
                first: first + 1,
                second: i + 1,
            });
        }
    }
    Ok(())
}

fn point(item: &str, field: &'static str, p: Option<[f32; 2]>) -> Result<Point, RulesError> {
    let p = p.ok_or_else(|| RulesError::invalid(item, field, "required: [x, y]"))?;
    if !p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)) {
        return Err(RulesError::invalid(
            item,
            field,
            format!(
                "[{}, {}] is outside the frame; coordinates are fractions of the frame (0..1)",
                p[0], p[1]
            ),
        ));
    }
    Ok(Point::new(p[0], p[1]))
}

pub(crate) fn compile(
    config: &RulesConfig,
    class_names: Vec<String>,
) -> Result<Compiled, RulesError> {
    let tz = TimeZone::parse(&config.timezone)
        .map_err(|e| RulesError::invalid("rules", "timezone", e))?;
    if class_names.len() > ClassId::MAX as usize + 1 {
        return Err(RulesError::invalid(
            "rules",
            "class_names",
            "more classes than class ids",
        ));
    }
    let classes = Classes {
        index: class_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.trim().to_ascii_lowercase(), i as ClassId))
            .collect(),
        names: &class_names,
    };
    check_unique("zone", config.zone.iter().map(|z| z.name.as_str()))?;
    check_unique("line", config.line.iter().map(|l| l.name.as_str()))?;
    check_unique("mask", config.mask.iter().map(|m| m.name.as_str()))?;
    check_unique("rule", config.rule.iter().map(|r| r.name.as_str()))?;

    let mut zones = Vec::with_capacity(config.zone.len());
    for (i, z) in config.zone.iter().enumerate() {
        let item = item_label("zone", &z.name, i);
        let polygon = polygon(&item, &z.points)?;
        check_overlap_anchor(&item, z.anchor)?;
        for (field, v) in [
            ("enter_frames", z.enter_frames),
            ("leave_frames", z.leave_frames),
        ] {
            if v == 0 {
                return Err(RulesError::invalid(&item, field, "must be at least 1"));
            }
        }
        zones.push(ZoneSpec {
            name: z.name.clone(),
            polygon,
            anchor: z.anchor,
            filter: classes.filter(&item, &z.classes, z.min_score, z.min_area)?,
            enter_frames: z.enter_frames,
            enter_ms: z.enter_after.as_millis() as i64,
            leave_frames: z.leave_frames,
            leave_ms: z.leave_after.as_millis() as i64,
            grace_ms: z.grace.as_millis() as i64,
        });
    }

    let mut lines = Vec::with_capacity(config.line.len());
    for (i, l) in config.line.iter().enumerate() {
        let item = item_label("line", &l.name, i);
        let (p1, p2) = (point(&item, "p1", l.p1)?, point(&item, "p2", l.p2)?);
        let segment = Segment::new(p1, p2).ok_or_else(|| {
            RulesError::invalid(
                &item,
                "p2",
                "the line has zero length (p1 and p2 are the same point)",
            )
        })?;
        check_point_anchor(&item, l.anchor)?;
        if !(l.hysteresis.is_finite() && (0.0..=0.5).contains(&l.hysteresis)) {
            return Err(RulesError::invalid(
                &item,
                "hysteresis",
                format!(
                    "{} is not in 0..0.5 (a distance in fractions of the frame)",
                    l.hysteresis
                ),
            ));
        }
        lines.push(LineSpec {
            name: l.name.clone(),
            segment,
            inbound: l.inbound,
            anchor: l.anchor,
            filter: classes.filter(&item, &l.classes, l.min_score, l.min_area)?,
            hysteresis: l.hysteresis as f64,
            once_per_track: l.once_per_track,
        });
    }

    let mut ignore = Vec::new();
    let mut privacy = Vec::new();
    for (i, m) in config.mask.iter().enumerate() {
        let item = item_label("mask", &m.name, i);
        let kind = m.kind.ok_or_else(|| {
            RulesError::invalid(&item, "kind", "required: \"privacy\" or \"ignore\"")
        })?;
        let polygon = polygon(&item, &m.points)?;
        check_overlap_anchor(&item, m.anchor)?;
        match kind {
            MaskKind::Ignore => ignore.push(IgnoreMask {
                polygon,
                anchor: m.anchor,
            }),
            MaskKind::Privacy => privacy.push(PrivacyMask {
                name: m.name.clone(),
                polygon,
            }),
        }
    }

    let zone_index: HashMap<&str, usize> = zones
        .iter()
        .enumerate()
        .map(|(i, z)| (z.name.as_str(), i))
        .collect();
    let line_index: HashMap<&str, usize> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (l.name.as_str(), i))
        .collect();
    let mut rules = Vec::with_capacity(config.rule.len());
    for (i, r) in config.rule.iter().enumerate() {
        let item = item_label("rule", &r.name, i);
        let kind = r.kind.ok_or_else(|| {
            RulesError::invalid(
                &item,
                "kind",
                "required: line_crossing, intrusion, loitering, crowding or queue",
            )
        })?;
        let item = format!("{item} ({})", kind.name());
        let forbid = |field: &'static str, present: bool| {
            if present {
                Err(RulesError::invalid(
                    &item,
                    field,
                    format!("does not apply to {} rules; remove it", kind.name()),
                ))
            } else {
                Ok(())
            }
        };
        let require = |field: &'static str, what: &str| {
            RulesError::invalid(&item, field, format!("required: {what}"))
        };
        let target = if kind == RuleKind::LineCrossing {
            forbid("zone", r.zone.is_some())?;
            let name = r
                .line
                .as_deref()
                .ok_or_else(|| require("line", "the name of a [[line]]"))?;
            Target::Line(*line_index.get(name).ok_or_else(|| {
                RulesError::invalid(&item, "line", format!("no line is named '{name}'"))
            })?)
        } else {
            forbid("line", r.line.is_some())?;
            forbid("direction", r.direction.is_some())?;
            let name = r
                .zone
                .as_deref()
                .ok_or_else(|| require("zone", "the name of a [[zone]]"))?;
            Target::Zone(*zone_index.get(name).ok_or_else(|| {
                RulesError::invalid(&item, "zone", format!("no zone is named '{name}'"))
            })?)
        };
        let is = |k: RuleKind| kind == k;
        forbid(
            "min_dwell",
            r.min_dwell.is_some() && !is(RuleKind::Loitering),
        )?;
        forbid(
            "more_than",
            r.more_than.is_some() && !is(RuleKind::Crowding) && !is(RuleKind::Queue),
        )?;
        forbid("max_wait", r.max_wait.is_some() && !is(RuleKind::Queue))?;
        forbid(
            "unclassified_after",
            r.unclassified_after.is_some() && !is(RuleKind::Intrusion),
        )?;
        forbid(
            "second_opinion",
            r.second_opinion.is_some() && !is(RuleKind::Intrusion),
        )?;
        forbid(
            "min_duration",
            r.min_duration.is_some() && (is(RuleKind::LineCrossing) || is(RuleKind::Loitering)),
        )?;
        forbid(
            "events",
            r.events.is_some() && !is(RuleKind::Intrusion) && !is(RuleKind::Loitering),
        )?;
        let per_object = match r.events {
            Some(g) => g == EventGrouping::PerObject,
            None => is(RuleKind::Intrusion) || is(RuleKind::Loitering),
        };
        let min_dwell_ms = match (kind, r.min_dwell) {
            (RuleKind::Loitering, None) => {
                return Err(require("min_dwell", "how long is too long, e.g. \"2m\""));
            }
            (_, d) => d.map_or(0, |d| d.as_millis() as i64),
        };
        if kind == RuleKind::Crowding && r.more_than.is_none() {
            return Err(require("more_than", "the object count to exceed, e.g. 5"));
        }
        if kind == RuleKind::Queue && r.more_than.is_none() && r.max_wait.is_none() {
            return Err(require(
                "more_than",
                "more_than (queue length) or max_wait (or both)",
            ));
        }
        let (parent_filter, parent_name) = match target {
            Target::Zone(z) => (&zones[z].filter, format!("zone '{}'", zones[z].name)),
            Target::Line(l) => (&lines[l].filter, format!("line '{}'", lines[l].name)),
        };
        let filter = classes.filter(
            &item,
            &r.classes,
            r.min_score.unwrap_or(0.0),
            r.min_area.unwrap_or(0.0),
        )?;
        for c in &r.classes {
            let id = classes.index[&c.trim().to_ascii_lowercase()];
            if !parent_filter.allows_class(id) {
                return Err(RulesError::invalid(
                    &item,
                    "classes",
                    format!(
                        "{c:?} is not among the classes of {parent_name}, so the rule could never fire"
                    ),
                ));
            }
        }
        let schedule =
            Schedule::new(&r.schedule).map_err(|e| RulesError::invalid(&item, "schedule", e))?;
        let inbound = match target {
            Target::Line(l) => lines[l].inbound,
            Target::Zone(_) => CrossingDirection::AToB,
        };
        let dir_index = |d: CrossingDirection| d as usize;
        let mut directions = [true, true];
        if let Some(d) = r.direction {
            let only = match d {
                DirectionFilter::Both => None,
                DirectionFilter::AToB => Some(CrossingDirection::AToB),
                DirectionFilter::BToA => Some(CrossingDirection::BToA),
                DirectionFilter::In => Some(inbound),
                DirectionFilter::Out => Some(inbound.reverse()),
            };
            if let Some(only) = only {
                directions = [false, false];
                directions[dir_index(only)] = true;
            }
        }
        let default_cooldown = if kind == RuleKind::LineCrossing {
            0
        } else {
            ZONE_RULE_COOLDOWN_MS
        };
        if !r.enabled {
            continue;
        }
        rules.push(RuleSpec {
            name: r.name.clone(),
            kind,
            target,
            directions,
            inbound,
            filter,
            schedule,
            min_dwell_ms,
            more_than: r.more_than,
            max_wait_ms: r.max_wait.map(|d| d.as_millis() as i64),
            min_duration_ms: r.min_duration.map_or(0, |d| d.as_millis() as i64),
            cooldown_ms: r
                .cooldown
                .map_or(default_cooldown, |d| d.as_millis() as i64),
            update_every_ms: r
                .update_every
                .map_or(UPDATE_EVERY_MS, |d| d.as_millis() as i64),
            per_object,
            unclassified_after_ms: r.unclassified_after.map(|d| d.as_millis() as i64),
            second: r.second_opinion,
        });
    }

    let h = &config.heatmap;
    for (field, v) in [("cols", h.cols), ("rows", h.rows)] {
        if !(1..=1024).contains(&v) {
            return Err(RulesError::invalid(
                "heatmap",
                field,
                format!("{v} is not in 1..1024"),
            ));
        }
    }
    check_point_anchor("heatmap", h.anchor)?;
    let heatmap = HeatmapSpec {
        enabled: h.enabled,
        cols: h.cols,
        rows: h.rows,
        anchor: h.anchor,
        filter: classes.filter("heatmap", &h.classes, 0.0, 0.0)?,
    };

    let o = &config.occupancy;
    let bucket_ms = o.bucket.as_millis();
    if bucket_ms < 1000 {
        return Err(RulesError::invalid(
            "occupancy",
            "bucket",
            "must be at least 1 s",
        ));
    }
    let samples = o.keep.as_millis() / bucket_ms;
    if samples > MAX_HISTORY_SAMPLES {
        return Err(RulesError::invalid(
            "occupancy",
            "keep",
            format!(
                "keeps {samples} samples per zone; at most {MAX_HISTORY_SAMPLES} (use a longer bucket)"
            ),
        ));
    }
    let count_every_ms = o.count_every.as_millis();
    if count_every_ms != 0 && !(MIN_COUNT_EVERY_MS..=MAX_COUNT_EVERY_MS).contains(&count_every_ms) {
        return Err(RulesError::invalid(
            "occupancy",
            "count_every",
            "must be 0 (no crowd counts) or from 0.2 s to 1 hour",
        ));
    }
    let occupancy = OccupancySpec {
        bucket_ms: bucket_ms as i64,
        capacity: samples as usize,
        wait_window_ms: o.wait_window.as_millis() as i64,
        count_every_ms: count_every_ms as i64,
        crowd_occupancy: o.crowd_occupancy,
    };

    Ok(Compiled {
        tz,
        class_names,
        zones,
        lines,
        ignore,
        privacy,
        rules,
        heatmap,
        occupancy,
    })
}
