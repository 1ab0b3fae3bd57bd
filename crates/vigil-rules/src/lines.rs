//! Line crossing: follows each track's reference point from frame to frame and counts a crossing when the
//! point, having been settled on one side (at least `hysteresis` away from the line), settles on the other
//! side and the last place its path met the line was on the segment (not beyond an end).
//!
//! Why this shape: a point that jitters on the line never settles on the far side, so it never counts; a
//! point that touches a vertex or slides along the line meets it many times but settles once, so it counts
//! once; a step that jumps over the line in one frame still meets it, so it is not missed.
//!
//! At the edge of the picture: people walking out are often lost by the detector (half out of the frame,
//! or behind something at the edge) before their reference point reaches a line drawn near the edge. A
//! track unseen for [`GONE_AFTER_MS`] (the tracker has given it up) whose last motion was carrying its box
//! out of the picture (the leading edge of the box within [`EXIT_HORIZON_S`] of the picture's edge at
//! that speed, at least [`MIN_EXIT_SPEED`]) left the picture: its reference point is followed along that
//! motion to the edge, and that last step counts like any other (a line it crosses on the way counts once;
//! the edge is on the far side of every line, so no hysteresis applies there). The crossing is reported
//! when the track is given up, with the time its path met the line. A track that turned back, stood still
//! or vanished far from the edge is not followed (seen again under the same ID, it goes on from where it
//! was last seen); one followed out and seen again under the same ID starts afresh on the side where it
//! reappears, so nothing counts twice.

use crate::compile::LineSpec;
use crate::engine::Obj;
use crate::zones::anchor_point;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vigil_core::{BBox, CrossingDirection, EventTime, Point, Time90k, TrackId};

/// Crossings of a line in each direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DirectionCounts {
    /// From side A to side B.
    pub a_to_b: u64,
    /// From side B to side A.
    pub b_to_a: u64,
}

impl DirectionCounts {
    fn add(&mut self, d: CrossingDirection) {
        match d {
            CrossingDirection::AToB => self.a_to_b += 1,
            CrossingDirection::BToA => self.b_to_a += 1,
        }
    }

    fn get(&self, d: CrossingDirection) -> u64 {
        match d {
            CrossingDirection::AToB => self.a_to_b,
            CrossingDirection::BToA => self.b_to_a,
        }
    }
}

/// Counters of one line since the engine started (or since [`crate::RuleEngine::reset_counters`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCounts {
    /// The line's name.
    pub line: String,
    /// Which direction is "in".
    pub inbound_direction: CrossingDirection,
    /// All classes together.
    pub total: DirectionCounts,
    /// Per class name.
    pub by_class: BTreeMap<String, DirectionCounts>,
}

impl LineCounts {
    pub(crate) fn new(line: &LineSpec) -> Self {
        Self {
            line: line.name.clone(),
            inbound_direction: line.inbound,
            total: DirectionCounts::default(),
            by_class: BTreeMap::new(),
        }
    }

    /// Crossings in the inbound direction.
    pub fn inbound(&self) -> u64 {
        self.total.get(self.inbound_direction)
    }

    /// Crossings in the outbound direction.
    pub fn outbound(&self) -> u64 {
        self.total.get(self.inbound_direction.reverse())
    }

    /// Inbound minus outbound.
    pub fn net(&self) -> i64 {
        self.inbound() as i64 - self.outbound() as i64
    }

    pub(crate) fn add(&mut self, class_name: &str, d: CrossingDirection) {
        self.total.add(d);
        if let Some(c) = self.by_class.get_mut(class_name) {
            c.add(d);
        } else {
            let mut c = DirectionCounts::default();
            c.add(d);
            self.by_class.insert(class_name.to_string(), c);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

#[derive(Debug, Clone)]
struct TrackOnLine {
    last_point: Point,
    settled: Option<Side>,
    /// Whether the last meeting of the path with the infinite line was on the segment; `None` when the path
    /// has not met the line since it last settled.
    last_meet_on_segment: Option<bool>,
    counted: [bool; 2],
    /// The object as last seen (for a crossing reported after it is gone).
    last_obj: Obj,
    last_seen: EventTime,
    /// Two earlier sightings `(time, box as the tracker gave it)`: the motion the track leaves the picture
    /// with is measured from `since` to the last sighting, between half and one and a half
    /// [`VELOCITY_WINDOW_MS`] apart; `mid` takes over from `since` half a window later.
    since: Option<(EventTime, BBox)>,
    mid: Option<(EventTime, BBox)>,
    /// Given up (unseen for [`GONE_AFTER_MS`]) and its way out decided.
    gone: bool,
    /// Given up while leaving the picture, and followed out of it.
    left_picture: bool,
}

/// A counted crossing in this frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Crossing {
    pub line: usize,
    /// The object that crossed, as seen in this frame (or last seen, for one that left the picture).
    pub obj: Obj,
    pub direction: CrossingDirection,
    /// When: this frame, or for a track that left the picture unseen, when its path met the line.
    pub at: EventTime,
}

/// Track states are forgotten after this long unseen.
const FORGET_MS: i64 = 60_000;
/// A track unseen this long is gone: the tracker keeps a lost track 2 s before giving it up, so one
/// unseen longer never comes back under its ID.
pub const GONE_AFTER_MS: i64 = 2_000;
/// A track that was leaving: at its last speed, its box's leading edge would have reached the picture's
/// edge within this many seconds.
pub const EXIT_HORIZON_S: f64 = 1.0;
/// ...moving towards that edge at least this fast, in picture widths (or heights) per second. Slower is
/// standing, not leaving.
pub const MIN_EXIT_SPEED: f64 = 0.05;
/// The motion a track leaves with is measured over its sightings in about this long.
const VELOCITY_WINDOW_MS: i64 = 1_000;

/// `t` plus `secs` seconds, on both clocks.
fn after(t: EventTime, secs: f64) -> EventTime {
    let ms = (secs * 1000.0).round() as i64;
    EventTime {
        unix_ms: t.unix_ms + ms,
        media: Time90k(t.media.0 + ms * 90),
    }
}

impl TrackOnLine {
    /// Records a sighting of the box (as the tracker gave it) for the motion measurement.
    fn sighted(&mut self, now: EventTime, raw: BBox) {
        match self.mid {
            None => self.mid = Some((now, raw)),
            Some((t, _)) if now.unix_ms - t.unix_ms >= VELOCITY_WINDOW_MS / 2 => {
                self.since = self.mid;
                self.mid = Some((now, raw));
            }
            Some(_) => {}
        }
        if self.since.is_none() {
            self.since = self.mid;
        }
    }

    /// The velocity of the box (normalized units per second) from `since` to the last sighting, `None`
    /// with sightings less than 100 ms apart.
    fn velocity(&self) -> Option<(f64, f64)> {
        let (t1, b1) = (&self.last_seen, &self.last_obj.raw);
        let (t0, b0) = self.since.as_ref()?;
        let dt = (t1.unix_ms - t0.unix_ms) as f64 / 1000.0;
        if dt < 0.1 {
            return None;
        }
        let (c0, c1) = (b0.center(), b1.center());
        Some((f64::from(c1.x - c0.x) / dt, f64::from(c1.y - c0.y) / dt))
    }

    /// Where the reference point leaves the picture, and how many seconds after the last sighting, when
    /// the track was leaving it (see the module docs); `None` otherwise.
    fn way_out(&self, line: &LineSpec) -> Option<(Point, f64)> {
        let (vx, vy) = self.velocity()?;
        let b = self.last_obj.raw;
        let (x1, y1, x2, y2) = (
            f64::from(b.x1),
            f64::from(b.y1),
            f64::from(b.x2),
            f64::from(b.y2),
        );
        // Seconds until the leading edge of the box reaches the picture's edge, per axis it is leaving by.
        let edge_time = |lo: f64, hi: f64, v: f64| {
            if v >= MIN_EXIT_SPEED {
                Some(((1.0 - hi) / v).max(0.0))
            } else if v <= -MIN_EXIT_SPEED {
                Some((lo / -v).max(0.0))
            } else {
                None
            }
        };
        let leaving = [edge_time(x1, x2, vx), edge_time(y1, y2, vy)]
            .into_iter()
            .flatten()
            .any(|t| t <= EXIT_HORIZON_S);
        if !leaving {
            return None;
        }
        // Follow the reference point (of the box as the tracker gave it) to the picture's edge.
        let p = anchor_point(&b, line.anchor);
        let (px, py) = (f64::from(p.x), f64::from(p.y));
        let out_time = |pos: f64, v: f64| {
            if v > 0.0 {
                Some(((1.0 - pos) / v).max(0.0))
            } else if v < 0.0 {
                Some((pos / -v).max(0.0))
            } else {
                None
            }
        };
        let t = [out_time(px, vx), out_time(py, vy)]
            .into_iter()
            .flatten()
            .fold(f64::INFINITY, f64::min);
        if !t.is_finite() {
            return None;
        }
        let at = |pos: f64, v: f64| (pos + v * t).clamp(0.0, 1.0) as f32;
        Some((Point::new(at(px, vx), at(py, vy)), t))
    }
}

/// Runtime state of one line.
#[derive(Debug, Clone, Default)]
pub(crate) struct LineState {
    tracks: BTreeMap<TrackId, TrackOnLine>,
}

/// Which side of `line` the point `p` is settled on, if any: at least `hysteresis` away from the line, or
/// any distance when `edge` (the point has left the picture on that side).
fn settled_side(line: &LineSpec, p: Point, edge: bool) -> Option<Side> {
    let s = line.segment.signed_distance(p);
    let h = if edge { 0.0 } else { line.hysteresis };
    if s > 0.0 && s >= h {
        Some(Side::B)
    } else if s < 0.0 && -s >= h {
        Some(Side::A)
    } else {
        None
    }
}

impl TrackOnLine {
    /// The track has been given up: when it was leaving the picture, follows it out and returns the
    /// crossing that makes, if any.
    fn leave(&mut self, index: usize, line: &LineSpec) -> Option<Crossing> {
        let (exit, secs) = self.way_out(line)?;
        self.left_picture = true;
        let from = line.segment.signed_distance(self.last_point);
        let direction = self.step(line, exit, true)?;
        // When the path met the line: the share of the way out before it, in time.
        let to = line.segment.signed_distance(exit);
        let share = if from != to {
            (from / (from - to)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        Some(Crossing {
            line: index,
            obj: self.last_obj,
            direction,
            at: after(self.last_seen, share * secs),
        })
    }

    /// Steps the reference point to `p`; returns the direction of a crossing to count. With `edge`, `p` is
    /// where the track left the picture.
    fn step(&mut self, line: &LineSpec, p: Point, edge: bool) -> Option<CrossingDirection> {
        let seg = &line.segment;
        if let Some(t) = seg.step_crossing(self.last_point, p) {
            self.last_meet_on_segment = Some(seg.param_on_segment(t));
        }
        let mut counted = None;
        if let Some(side) = settled_side(line, p, edge) {
            if let Some(prev) = self.settled
                && prev != side
                && self.last_meet_on_segment == Some(true)
            {
                let direction = if prev == Side::A {
                    CrossingDirection::AToB
                } else {
                    CrossingDirection::BToA
                };
                let k = direction as usize;
                if !line.once_per_track || !self.counted[k] {
                    self.counted[k] = true;
                    counted = Some(direction);
                }
            }
            self.settled = Some(side);
            self.last_meet_on_segment = None;
        }
        self.last_point = p;
        counted
    }
}

impl LineState {
    /// Follows this frame's objects (sorted by id) and pushes the crossings they made, then those of tracks
    /// given up in this frame that left the picture across the line.
    pub fn update(
        &mut self,
        index: usize,
        line: &LineSpec,
        objs: &[Obj],
        now: EventTime,
        out: &mut Vec<Crossing>,
    ) {
        let now_ms = now.unix_ms;
        for o in objs {
            if !line.filter.allows(o.class_id, o.max_score, o.area) {
                continue;
            }
            let p = anchor_point(&o.nbox, line.anchor);
            let state = self.tracks.entry(o.id).or_insert(TrackOnLine {
                last_point: p,
                settled: None,
                last_meet_on_segment: None,
                counted: [false; 2],
                last_obj: *o,
                last_seen: now,
                since: None,
                mid: None,
                gone: false,
                left_picture: false,
            });
            if state.left_picture {
                // Followed out of the picture, yet seen again under its ID: it starts afresh where it is,
                // so its way out does not count twice.
                state.settled = None;
                state.last_meet_on_segment = None;
                state.last_point = p;
                state.since = None;
                state.mid = None;
            }
            state.gone = false;
            state.left_picture = false;
            if let Some(direction) = state.step(line, p, false) {
                out.push(Crossing {
                    line: index,
                    obj: *o,
                    direction,
                    at: now,
                });
            }
            state.last_obj = *o;
            state.last_seen = now;
            state.sighted(now, o.raw);
        }
        self.tracks.retain(|_, state| {
            let unseen = now_ms - state.last_seen.unix_ms;
            if !state.gone && unseen >= GONE_AFTER_MS {
                state.gone = true;
                if let Some(crossing) = state.leave(index, line) {
                    out.push(crossing);
                }
            }
            unseen <= FORGET_MS
        });
    }
}
