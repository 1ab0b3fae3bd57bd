//! Line crossing: follows each track's reference point from frame to frame and counts a crossing when the
//! point, having been settled on one side (at least `hysteresis` away from the line), settles on the other
//! side and the last place its path met the line was on the segment (not beyond an end).
//!
//! Why this shape: a point that jitters on the line never settles on the far side, so it never counts; a
//! point that touches a vertex or slides along the line meets it many times but settles once, so it counts
//! once; a step that jumps over the line in one frame still meets it, so it is not missed.

use crate::compile::LineSpec;
use crate::engine::Obj;
use crate::zones::anchor_point;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vigil_core::{CrossingDirection, Point, TrackId};

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
    last_seen_ms: i64,
}

/// A counted crossing in this frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Crossing {
    pub line: usize,
    /// Index into the frame's objects.
    pub obj: usize,
    pub direction: CrossingDirection,
}

/// Track states are forgotten after this long unseen.
const FORGET_MS: i64 = 60_000;

/// Runtime state of one line.
#[derive(Debug, Clone, Default)]
pub(crate) struct LineState {
    tracks: BTreeMap<TrackId, TrackOnLine>,
}

impl LineState {
    /// Follows this frame's objects (sorted by id) and pushes the crossings they made.
    pub fn update(
        &mut self,
        index: usize,
        line: &LineSpec,
        objs: &[Obj],
        now_ms: i64,
        out: &mut Vec<Crossing>,
    ) {
        let seg = &line.segment;
        let h = line.hysteresis;
        for (i, o) in objs.iter().enumerate() {
            if !line.filter.allows(o.class_id, o.max_score, o.area) {
                continue;
            }
            let p = anchor_point(&o.nbox, line.anchor);
            let state = self.tracks.entry(o.id).or_insert(TrackOnLine {
                last_point: p,
                settled: None,
                last_meet_on_segment: None,
                counted: [false; 2],
                last_seen_ms: now_ms,
            });
            if let Some(t) = seg.step_crossing(state.last_point, p) {
                state.last_meet_on_segment = Some(seg.param_on_segment(t));
            }
            let s = seg.signed_distance(p);
            let side = if s > 0.0 && s >= h {
                Some(Side::B)
            } else if s < 0.0 && -s >= h {
                Some(Side::A)
            } else {
                None
            };
            if let Some(side) = side {
                if let Some(prev) = state.settled
                    && prev != side
                    && state.last_meet_on_segment == Some(true)
                {
                    let direction = if prev == Side::A {
                        CrossingDirection::AToB
                    } else {
                        CrossingDirection::BToA
                    };
                    let k = direction as usize;
                    if !line.once_per_track || !state.counted[k] {
                        state.counted[k] = true;
                        out.push(Crossing {
                            line: index,
                            obj: i,
                            direction,
                        });
                    }
                }
                state.settled = Some(side);
                state.last_meet_on_segment = None;
            }
            state.last_point = p;
            state.last_seen_ms = now_ms;
        }
        self.tracks
            .retain(|_, s| now_ms - s.last_seen_ms <= FORGET_MS);
    }
}
