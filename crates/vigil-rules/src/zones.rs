//! Who is in each zone: per-track presence with enter/leave hysteresis, a grace period for occlusions (with
//! hand-over to a new track id appearing where a lost one vanished), occupancy history and wait statistics.

use crate::compile::{OccupancySpec, ZoneSpec};
use crate::config::Anchor;
use crate::engine::Obj;
use crate::geometry::Polygon;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use vigil_core::{BBox, BestObject, ClassId, EventTime, Point, TrackId};

/// A track's stay in a zone.
#[derive(Debug, Clone)]
pub(crate) struct Presence {
    /// Identity of this stay, unique within the zone; it stays with the stay when a new track id takes it
    /// over, so per-object events follow the person rather than the tracker's id.
    pub stay: u64,
    pub class_id: ClassId,
    /// Best score the track has reached so far.
    pub max_score: f32,
    /// Counted as in the zone (passed the enter hysteresis, not yet left).
    pub confirmed: bool,
    /// Consecutive frames seen inside.
    inside_frames: u32,
    /// When the track was first seen inside (the stay starts there once confirmed).
    streak_start: EventTime,
    /// When the stay began (valid once confirmed).
    pub entered: EventTime,
    /// The last frame the track was seen inside.
    pub last_inside: EventTime,
    outside_frames: u32,
    outside_since: Option<i64>,
    /// The last frame the track was seen at all (by this zone's filter).
    pub last_seen_ms: i64,
    last_point: Point,
    last_height: f32,
    /// Box area (fraction of the frame) when last seen.
    pub area: f32,
    /// The best view of the track so far.
    pub best: BestObject,
}

impl Presence {
    /// Time spent in the zone up to the last frame seen inside, in ms.
    pub fn dwell_ms(&self) -> i64 {
        self.last_inside.unix_ms - self.entered.unix_ms
    }

    /// Time waited so far at `now_ms`: still growing while the object is inside or hidden, frozen at the
    /// last frame inside while it is seen leaving.
    pub fn wait_ms(&self, now_ms: i64) -> i64 {
        if self.outside_frames > 0 {
            self.dwell_ms()
        } else {
            now_ms - self.entered.unix_ms
        }
    }
}

/// Wait statistics over a set of stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WaitStats {
    /// How many stays.
    pub count: u32,
    /// Mean length in milliseconds (0 when there are none).
    pub mean_ms: u64,
    /// Longest in milliseconds.
    pub max_ms: u64,
}

impl WaitStats {
    fn from_iter(waits: impl Iterator<Item = i64>) -> Self {
        let (mut n, mut sum, mut max) = (0u32, 0i64, 0i64);
        for w in waits {
            let w = w.max(0);
            n += 1;
            sum += w;
            max = max.max(w);
        }
        Self {
            count: n,
            mean_ms: if n == 0 { 0 } else { (sum / n as i64) as u64 },
            max_ms: max as u64,
        }
    }
}

/// One period of a zone's occupancy history.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OccupancySample {
    /// Start of the period (unix ms, aligned to the bucket length).
    pub start_unix_ms: i64,
    /// Time-weighted mean number of objects in the zone.
    pub mean: f32,
    /// Fewest objects at once.
    pub min: u32,
    /// Most objects at once.
    pub max: u32,
}

#[derive(Debug, Clone, Default)]
struct Bucket {
    start: i64,
    weighted: f64,
    weight: f64,
    min: u32,
    max: u32,
}

/// Runtime state of one zone.
#[derive(Debug, Clone, Default)]
pub(crate) struct ZoneState {
    pub presences: BTreeMap<TrackId, Presence>,
    /// (end time, length) of recent completed stays.
    completed: VecDeque<(i64, i64)>,
    history: VecDeque<OccupancySample>,
    bucket: Option<Bucket>,
    /// The last stay identity handed out.
    last_stay: u64,
    /// People the crowd counter last found in the zone, and when (unix ms).
    pub crowd: Option<(u32, i64)>,
    /// That count while it is fresh (set each frame by the engine), else `None` (tracks count).
    pub crowd_now: Option<u32>,
}

/// Most completed stays remembered per zone for wait statistics.
const MAX_COMPLETED: usize = 10_000;
/// Smallest distance (normalized) within which a new track may take over a vanished one's stay.
const MIN_REJOIN_DISTANCE: f32 = 0.05;

pub(crate) fn anchor_point(nbox: &BBox, anchor: Anchor) -> Point {
    match anchor {
        Anchor::Center => nbox.center(),
        _ => nbox.bottom_center(),
    }
}

/// True when the object with normalized box `nbox` is in the polygon according to `anchor`.
pub(crate) fn is_inside(poly: &Polygon, anchor: Anchor, nbox: &BBox) -> bool {
    match anchor {
        Anchor::BottomCenter | Anchor::Center => poly.contains(anchor_point(nbox, anchor)),
        Anchor::AnyCorner => [
            Point::new(nbox.x1, nbox.y1),
            Point::new(nbox.x2, nbox.y1),
            Point::new(nbox.x1, nbox.y2),
            Point::new(nbox.x2, nbox.y2),
        ]
        .into_iter()
        .any(|p| poly.contains(p)),
        Anchor::Overlap(f) => poly.overlap_fraction(nbox) >= f,
    }
}

impl ZoneState {
    /// Updates presences from this frame's objects (sorted by id).
    pub fn update(&mut self, zone: &ZoneSpec, objs: &[Obj], now: EventTime) {
        let t = now.unix_ms;
        // Pass 1: tracks already present here.
        let mut new_inside: Vec<(usize, Point)> = Vec::new();
        for (i, o) in objs.iter().enumerate() {
            if !zone.filter.allows(o.class_id, o.max_score, o.area) {
                continue;
            }
            let inside = is_inside(&zone.polygon, zone.anchor, &o.nbox);
            let point = anchor_point(&o.nbox, zone.anchor);
            if self.presences.contains_key(&o.id) {
                self.step(zone, o.id, inside, point, o, now);
            } else if inside {
                new_inside.push((i, point));
            }
        }
        // Pass 2: new tracks inside, possibly taking over the stay of a track that vanished nearby.
        for (i, point) in new_inside {
            let o = &objs[i];
            let rejoin = self
                .presences
                .iter()
                .filter(|(_, p)| {
                    p.confirmed
                        && p.last_seen_ms < t
                        && t - p.last_seen_ms <= zone.grace_ms
                        && p.class_id == o.class_id
                })
                .map(|(id, p)| (*id, dist(p.last_point, point), p.last_height))
                .filter(|&(_, d, h)| d <= h.max(MIN_REJOIN_DISTANCE))
                .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
            let mut presence = match rejoin.and_then(|(old, _, _)| self.presences.remove(&old)) {
                Some(p) => p,
                None => Presence {
                    stay: {
                        self.last_stay += 1;
                        self.last_stay
                    },
                    class_id: o.class_id,
                    max_score: o.max_score,
                    confirmed: false,
                    inside_frames: 0,
                    streak_start: now,
                    entered: now,
                    last_inside: now,
                    outside_frames: 0,
                    outside_since: None,
                    last_seen_ms: t,
                    last_point: point,
                    last_height: o.nbox.height(),
                    area: o.area,
                    best: o.best,
                },
            };
            presence.max_score = presence.max_score.max(o.max_score);
            self.presences.insert(o.id, presence);
            self.step(zone, o.id, true, point, o, now);
        }
        // Pass 3: tracks not seen this frame.
        let mut ended = Vec::new();
        self.presences.retain(|_, p| {
            if p.last_seen_ms == t {
                return true;
            }
            if !p.confirmed {
                return false;
            }
            if t - p.last_seen_ms > zone.grace_ms {
                ended.push((p.last_inside.unix_ms, p.dwell_ms()));
                return false;
            }
            true
        });
        for (end, len) in ended {
            self.record_completed(end, len);
        }
    }

    /// Applies one observation to an existing presence (removing it when it has left).
    fn step(
        &mut self,
        zone: &ZoneSpec,
        id: TrackId,
        inside: bool,
        point: Point,
        o: &Obj,
        now: EventTime,
    ) {
        let t = now.unix_ms;
        let Some(p) = self.presences.get_mut(&id) else {
            return;
        };
        p.class_id = o.class_id;
        p.max_score = p.max_score.max(o.max_score);
        p.last_seen_ms = t;
        p.last_point = point;
        p.last_height = o.nbox.height();
        p.area = o.area;
        if o.best.score > p.best.score || p.best.track_id == o.id {
            p.best = o.best;
        }
        if inside {
            p.outside_frames = 0;
            p.outside_since = None;
            p.inside_frames += 1;
            p.last_inside = now;
            if !p.confirmed
                && p.inside_frames >= zone.enter_frames
                && t - p.streak_start.unix_ms >= zone.enter_ms
            {
                p.confirmed = true;
                p.entered = p.streak_start;
            }
            return;
        }
        if !p.confirmed {
            self.presences.remove(&id);
            return;
        }
        p.outside_frames += 1;
        let since = *p.outside_since.get_or_insert(t);
        if p.outside_frames >= zone.leave_frames && t - since >= zone.leave_ms {
            let (end, len) = (p.last_inside.unix_ms, p.dwell_ms());
            self.presences.remove(&id);
            self.record_completed(end, len);
        }
    }

    fn record_completed(&mut self, end: i64, len: i64) {
        if self.completed.len() == MAX_COMPLETED {
            self.completed.pop_front();
        }
        self.completed.push_back((end, len));
    }

    /// Objects counted in the zone now (confirmed tracks).
    pub fn count(&self) -> u32 {
        self.presences.values().filter(|p| p.confirmed).count() as u32
    }

    /// Objects in the zone now with the people counted by the crowd counter (`crowd_now`) in place of the
    /// confirmed tracks of class `person`, when `crowd` and there is a fresh count; else [`Self::count`].
    pub fn occupancy_count(&self, person: Option<vigil_core::ClassId>, crowd: bool) -> u32 {
        match (person, self.crowd_now) {
            (Some(person), Some(people)) if crowd => {
                people
                    + self
                        .presences
                        .values()
                        .filter(|p| p.confirmed && p.class_id != person)
                        .count() as u32
            }
            _ => self.count(),
        }
    }

    /// Stays going on now (time since entering).
    pub fn current_waits(&self, now_ms: i64) -> WaitStats {
        WaitStats::from_iter(
            self.presences
                .values()
                .filter(|p| p.confirmed)
                .map(|p| p.wait_ms(now_ms)),
        )
    }

    /// Stays that ended within the last `window_ms`.
    pub fn completed_waits(&self, now_ms: i64, window_ms: i64) -> WaitStats {
        WaitStats::from_iter(
            self.completed
                .iter()
                .filter(|(end, _)| now_ms - end <= window_ms)
                .map(|&(_, len)| len),
        )
    }

    /// Adds this frame's `count` to the occupancy history; `weight_ms` is the time since the previous
    /// frame.
    pub fn sample(&mut self, spec: &OccupancySpec, count: u32, now_ms: i64, weight_ms: i64) {
        let start = now_ms.div_euclid(spec.bucket_ms) * spec.bucket_ms;
        if self.bucket.as_ref().is_some_and(|b| b.start != start)
            && let Some(b) = self.bucket.take()
        {
            if self.history.len() >= spec.capacity.max(1) {
                self.history.pop_front();
            }
            if spec.capacity > 0 {
                self.history.push_back(b.finish());
            }
        }
        let b = self.bucket.get_or_insert(Bucket {
            start,
            min: count,
            max: count,
            ..Bucket::default()
        });
        let w = weight_ms.max(1) as f64;
        b.weighted += count as f64 * w;
        b.weight += w;
        b.min = b.min.min(count);
        b.max = b.max.max(count);
    }

    /// Completed history samples, oldest first, plus the period in progress.
    pub fn history(&self) -> Vec<OccupancySample> {
        let mut v: Vec<_> = self.history.iter().copied().collect();
        if let Some(b) = &self.bucket {
            v.push(b.clone().finish());
        }
        v
    }
}

impl Bucket {
    fn finish(self) -> OccupancySample {
        OccupancySample {
            start_unix_ms: self.start,
            mean: if self.weight > 0.0 {
                (self.weighted / self.weight) as f32
            } else {
                0.0
            },
            min: self.min,
            max: self.max,
        }
    }
}

fn dist(a: Point, b: Point) -> f32 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}
