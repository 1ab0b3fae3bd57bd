//! Multi-object tracking metrics: CLEAR MOT (MOTA, MOTP, false positives, misses, ID switches,
//! fragmentations, mostly tracked / lost) and the identity metrics IDF1 / IDP / IDR, computed the way
//! py-motmetrics 1.4 computes them, plus the MOT17 public-detection protocol around them.
//!
//! Per frame ([`MotAccumulator::update`]), with the IoU distance `1 - IoU` and pairs farther than the
//! threshold (0.5) forbidden:
//! 1. every ground-truth object still paired with the hypothesis it was last matched to keeps it if
//!    that pair is within the threshold;
//! 2. the remaining objects and hypotheses are paired by a minimum-cost matching (most pairs first, then
//!    least total distance); a pair whose object was last matched to another hypothesis is an ID switch;
//! 3. objects left are misses, hypotheses left are false positives.
//!
//! IDF1 pairs ground-truth identities with hypothesis identities once for the whole sequence, by a
//! minimum-cost bipartite matching that maximises the number of frames in which paired boxes are within
//! the threshold (IDTP); every other ground-truth box is an IDFN and every other hypothesis box an IDFP.
//!
//! [`evaluate_mot17`] adds MOTChallenge's MOT17 rules: predictions matched (IoU >= 0.5, minimum-cost
//! matching against every ground-truth box of the frame) to a box of the distractor classes 2, 7, 8, 12
//! are removed, and only class 1 boxes with the consider flag are ground truth.

use crate::motchallenge::{DetBox, GtBox, by_frame};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use vigil_core::BBox;
use vigil_core::assign::{CostMatrix, min_cost_matching, min_cost_matching_limited};

/// The IoU distance above which an object and a hypothesis may not be paired (MOTChallenge: 0.5).
pub const MAX_IOU_DISTANCE: f64 = 0.5;

/// `1 - IoU` of two boxes in `f64`, as py-motmetrics' `boxiou` computes it from `(x, y, w, h)`.
pub fn iou_distance(a: &BBox, b: &BBox) -> f64 {
    let corners = |r: &BBox| {
        let (x, y) = (f64::from(r.x1), f64::from(r.y1));
        let (w, h) = (f64::from(r.x2) - x, f64::from(r.y2) - y);
        (x, y, x + w, y + h)
    };
    let (ax1, ay1, ax2, ay2) = corners(a);
    let (bx1, by1, bx2, by2) = corners(b);
    let iw = (ax2.min(bx2) - ax1.max(bx1)).max(0.0);
    let ih = (ay2.min(by2) - ay1.max(by1)).max(0.0);
    let inter = iw * ih;
    if inter == 0.0 {
        return 1.0;
    }
    let area_a = (ax2 - ax1).max(0.0) * (ay2 - ay1).max(0.0);
    let area_b = (bx2 - bx1).max(0.0) * (by2 - by1).max(0.0);
    1.0 - inter / (area_a + area_b - inter)
}

/// Distance matrix between objects and hypotheses, NaN where farther than `max_distance`.
fn distance_matrix(objects: &[(i64, BBox)], hyps: &[(i64, BBox)], max_distance: f64) -> CostMatrix {
    CostMatrix::from_fn(objects.len(), hyps.len(), |i, j| {
        let d = iou_distance(&objects[i].1, &hyps[j].1);
        if d > max_distance { f64::NAN } else { d }
    })
}

/// Tracking metrics of one sequence, or of several summed with [`MotMetrics::sum`]. Counts plus the
/// ratios derived from them as methods (a ratio with a zero denominator is NaN, as in numpy).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct MotMetrics {
    /// Frames with ground truth or predictions.
    pub frames: u64,
    /// Ground-truth boxes (every frame's objects counted).
    pub objects: u64,
    /// Predicted boxes scored (after preprocessing).
    pub predictions: u64,
    /// Object/hypothesis pairs that continued or started a correspondence without an ID switch.
    pub matches: u64,
    /// Pairs where the object was last matched to a different hypothesis (IDSW).
    pub switches: u64,
    /// Hypotheses matched to no object (FP).
    pub false_positives: u64,
    /// Objects matched to no hypothesis (FN).
    pub misses: u64,
    /// Times a ground-truth trajectory goes from tracked to missed within its tracked span (FM).
    pub fragmentations: u64,
    /// Distinct ground-truth identities.
    pub unique_objects: u64,
    /// Identities tracked in at least 80 % of their frames (MT).
    pub mostly_tracked: u64,
    /// Identities tracked in 20-80 % of their frames (PT).
    pub partially_tracked: u64,
    /// Identities tracked in less than 20 % of their frames (ML).
    pub mostly_lost: u64,
    /// Sum of the IoU distances of all matched pairs (for MOTP).
    pub distance_sum: f64,
    /// Identity true positives: boxes of globally paired identities within the threshold.
    pub idtp: u64,
    /// Identity false positives.
    pub idfp: u64,
    /// Identity false negatives.
    pub idfn: u64,
}

impl MotMetrics {
    /// Matched pairs (matches + switches).
    pub fn detections(&self) -> u64 {
        self.matches + self.switches
    }

    /// MOTA = 1 - (FN + IDSW + FP) / objects.
    pub fn mota(&self) -> f64 {
        1.0 - (self.misses + self.switches + self.false_positives) as f64 / self.objects as f64
    }

    /// MOTP: mean IoU distance of matched pairs (lower is better; py-motmetrics' convention).
    pub fn motp(&self) -> f64 {
        self.distance_sum / self.detections() as f64
    }

    /// IDF1 = 2 IDTP / (objects + predictions).
    pub fn idf1(&self) -> f64 {
        2.0 * self.idtp as f64 / (self.objects + self.predictions) as f64
    }

    /// Identity precision IDTP / (IDTP + IDFP).
    pub fn idp(&self) -> f64 {
        self.idtp as f64 / (self.idtp + self.idfp) as f64
    }

    /// Identity recall IDTP / (IDTP + IDFN).
    pub fn idr(&self) -> f64 {
        self.idtp as f64 / (self.idtp + self.idfn) as f64
    }

    /// Detection precision: matched / (matched + FP).
    pub fn precision(&self) -> f64 {
        self.detections() as f64 / (self.detections() + self.false_positives) as f64
    }

    /// Detection recall: matched / objects.
    pub fn recall(&self) -> f64 {
        self.detections() as f64 / self.objects as f64
    }

    /// The metrics of several sequences together (MOTChallenge's "overall": counts summed, ratios
    /// recomputed from the sums).
    pub fn sum<'a>(items: impl IntoIterator<Item = &'a MotMetrics>) -> MotMetrics {
        let mut s = MotMetrics::default();
        for m in items {
            s.frames += m.frames;
            s.objects += m.objects;
            s.predictions += m.predictions;
            s.matches += m.matches;
            s.switches += m.switches;
            s.false_positives += m.false_positives;
            s.misses += m.misses;
            s.fragmentations += m.fragmentations;
            s.unique_objects += m.unique_objects;
            s.mostly_tracked += m.mostly_tracked;
            s.partially_tracked += m.partially_tracked;
            s.mostly_lost += m.mostly_lost;
            s.distance_sum += m.distance_sum;
            s.idtp += m.idtp;
            s.idfp += m.idfp;
            s.idfn += m.idfn;
        }
        s
    }
}

/// Accumulates the per-frame events of one sequence (py-motmetrics' `MOTAccumulator`).
#[derive(Debug, Clone)]
pub struct MotAccumulator {
    max_distance: f64,
    frames: u64,
    /// Last hypothesis each object was matched to.
    last_match: HashMap<i64, i64>,
    /// Per object, in frame order: tracked (true) or missed (false).
    object_events: BTreeMap<i64, Vec<bool>>,
    /// Frames in which each hypothesis appears.
    hyp_frames: BTreeMap<i64, u64>,
    /// Frames in which an object and a hypothesis are within the threshold of each other.
    pair_frames: HashMap<(i64, i64), u64>,
    predictions: u64,
    matches: u64,
    switches: u64,
    false_positives: u64,
    misses: u64,
    distance_sum: f64,
}

impl Default for MotAccumulator {
    fn default() -> Self {
        Self::new(MAX_IOU_DISTANCE)
    }
}

impl MotAccumulator {
    /// An empty accumulator pairing boxes whose IoU distance is at most `max_distance`.
    pub fn new(max_distance: f64) -> Self {
        Self {
            max_distance,
            frames: 0,
            last_match: HashMap::new(),
            object_events: BTreeMap::new(),
            hyp_frames: BTreeMap::new(),
            pair_frames: HashMap::new(),
            predictions: 0,
            matches: 0,
            switches: 0,
            false_positives: 0,
            misses: 0,
            distance_sum: 0.0,
        }
    }

    /// Adds one frame: its ground-truth objects and its hypotheses as `(id, box)`. Call frames in order.
    pub fn update(&mut self, objects: &[(i64, BBox)], hyps: &[(i64, BBox)]) {
        let dist = distance_matrix(objects, hyps, self.max_distance);
        let object_ids: Vec<i64> = objects.iter().map(|o| o.0).collect();
        let hyp_ids: Vec<i64> = hyps.iter().map(|h| h.0).collect();
        self.update_with_distances(&object_ids, &hyp_ids, dist);
    }

    /// Adds one frame given its object IDs, hypothesis IDs and their distance matrix (rows objects,
    /// columns hypotheses; NaN = may not be paired), as py-motmetrics' `MOTAccumulator.update`.
    /// Panics when the matrix shape does not match the IDs (a programming error).
    pub fn update_with_distances(&mut self, objects: &[i64], hyps: &[i64], mut dist: CostMatrix) {
        assert!(
            dist.rows() == objects.len() && dist.cols() == hyps.len(),
            "distance matrix shape does not match the ids"
        );
        self.frames += 1;
        for (i, &o) in objects.iter().enumerate() {
            for (j, &h) in hyps.iter().enumerate() {
                if dist.get(i, j).is_finite() {
                    *self.pair_frames.entry((o, h)).or_insert(0) += 1;
                }
            }
        }
        let unique_hyps: BTreeSet<i64> = hyps.iter().copied().collect();
        for h in unique_hyps {
            *self.hyp_frames.entry(h).or_insert(0) += 1;
        }
        self.predictions += hyps.len() as u64;

        let mut obj_done = vec![false; objects.len()];
        let mut hyp_done = vec![false; hyps.len()];
        if !objects.is_empty() && !hyps.is_empty() {
            // 1. Keep the correspondences of the previous frames that are still within the threshold.
            for (i, o) in objects.iter().enumerate() {
                let Some(&prev) = self.last_match.get(o) else {
                    continue;
                };
                let Some(j) = (0..hyps.len()).find(|&j| !hyp_done[j] && hyps[j] == prev) else {
                    continue;
                };
                let d = dist.get(i, j);
                if d.is_finite() {
                    obj_done[i] = true;
                    hyp_done[j] = true;
                    self.matches += 1;
                    self.distance_sum += d;
                }
            }
            // 2. Minimum-cost matching of the rest.
            for (i, &o_done) in obj_done.iter().enumerate() {
                for (j, &h_done) in hyp_done.iter().enumerate() {
                    if o_done || h_done {
                        dist.set(i, j, f64::NAN);
                    }
                }
            }
            for (i, j) in min_cost_matching(&dist).pairs {
                let d = dist.get(i, j);
                let (o, h) = (objects[i], hyps[j]);
                match self.last_match.get(&o) {
                    Some(&prev) if prev != h => self.switches += 1,
                    _ => self.matches += 1,
                }
                self.distance_sum += d;
                obj_done[i] = true;
                hyp_done[j] = true;
                self.last_match.insert(o, h);
            }
        }
        // 3. Misses and 4. false positives.
        for (i, o) in objects.iter().enumerate() {
            self.object_events.entry(*o).or_default().push(obj_done[i]);
            if !obj_done[i] {
                self.misses += 1;
            }
        }
        self.false_positives += hyp_done.iter().filter(|d| !**d).count() as u64;
    }

    /// The metrics of everything accumulated.
    pub fn metrics(&self) -> MotMetrics {
        let mut m = MotMetrics {
            frames: self.frames,
            predictions: self.predictions,
            matches: self.matches,
            switches: self.switches,
            false_positives: self.false_positives,
            misses: self.misses,
            distance_sum: self.distance_sum,
            unique_objects: self.object_events.len() as u64,
            ..MotMetrics::default()
        };
        for events in self.object_events.values() {
            m.objects += events.len() as u64;
            let tracked = events.iter().filter(|t| **t).count();
            let ratio = tracked as f64 / events.len() as f64;
            if ratio >= 0.8 {
                m.mostly_tracked += 1;
            } else if ratio >= 0.2 {
                m.partially_tracked += 1;
            } else {
                m.mostly_lost += 1;
            }
            // Fragmentations: tracked -> missed transitions between the first and last tracked frame.
            if let (Some(first), Some(last)) = (
                events.iter().position(|t| *t),
                events.iter().rposition(|t| *t),
            ) {
                m.fragmentations += events[first..=last]
                    .windows(2)
                    .filter(|w| w[0] && !w[1])
                    .count() as u64;
            }
        }
        m.idtp = self.identity_true_positives();
        m.idfn = m.objects - m.idtp;
        m.idfp = self.hyp_frames.values().sum::<u64>() - m.idtp;
        m
    }

    /// IDTP: the greatest total of shared frames over one-to-one pairings of object and hypothesis
    /// identities.
    fn identity_true_positives(&self) -> u64 {
        let objects: Vec<i64> = self.object_events.keys().copied().collect();
        let hyps: Vec<i64> = self.hyp_frames.keys().copied().collect();
        let oi: HashMap<i64, usize> = objects.iter().enumerate().map(|(i, o)| (*o, i)).collect();
        let hi: HashMap<i64, usize> = hyps.iter().enumerate().map(|(i, h)| (*h, i)).collect();
        let mut cost = CostMatrix::filled(objects.len(), hyps.len(), 0.0);
        for (&(o, h), &n) in &self.pair_frames {
            if let (Some(&r), Some(&c)) = (oi.get(&o), hi.get(&h)) {
                cost.set(r, c, -(n as f64));
            }
        }
        // Pairs sharing no frame cost 0 and gain nothing: a limit of 0 leaves them out.
        let best = min_cost_matching_limited(&cost, 0.0);
        (-best.total_cost(&cost)).round() as u64
    }
}

/// MOT17 preprocessing: removes every prediction that a minimum-cost matching (IoU distance <= 0.5)
/// against all ground-truth boxes of its frame pairs with a distractor box (classes 2, 7, 8, 12) or a box
/// of negative visibility. Frames 1..=`seq_length` are considered; rows are removed by (frame, id).
pub fn remove_distractor_matches(gt: &[GtBox], results: &[DetBox], seq_length: u32) -> Vec<DetBox> {
    let gt_frames = by_frame(gt, |g| g.frame);
    let res_frames = by_frame(results, |r| r.frame);
    let mut drop: BTreeSet<(u32, i64)> = BTreeSet::new();
    for (&frame, hyps) in res_frames.range(1..=seq_length) {
        let Some(objects) = gt_frames.get(&frame) else {
            continue;
        };
        let o: Vec<(i64, BBox)> = objects.iter().map(|g| (g.id, g.bbox)).collect();
        let h: Vec<(i64, BBox)> = hyps.iter().map(|r| (r.id, r.bbox)).collect();
        let dist = distance_matrix(&o, &h, MAX_IOU_DISTANCE);
        for (i, j) in min_cost_matching(&dist).pairs {
            let g = &objects[i];
            if g.is_ignore_region() || g.visibility < 0.0 {
                drop.insert((frame, hyps[j].id));
            }
        }
    }
    results
        .iter()
        .filter(|r| !drop.contains(&(r.frame, r.id)))
        .copied()
        .collect()
}

/// Scores tracker results on one MOT17 sequence with the MOTChallenge protocol: distractor matches
/// removed ([`remove_distractor_matches`]), class-1 boxes with the consider flag as ground truth, IoU
/// distance threshold 0.5.
pub fn evaluate_mot17(gt: &[GtBox], results: &[DetBox], seq_length: u32) -> MotMetrics {
    let kept = remove_distractor_matches(gt, results, seq_length);
    let positives: Vec<GtBox> = gt.iter().filter(|g| g.is_positive()).copied().collect();
    let gt_frames = by_frame(&positives, |g| g.frame);
    let res_frames = by_frame(&kept, |r| r.frame);
    let frames: BTreeSet<u32> = gt_frames.keys().chain(res_frames.keys()).copied().collect();
    let mut acc = MotAccumulator::default();
    for f in frames {
        let o: Vec<(i64, BBox)> = gt_frames
            .get(&f)
            .map(|v| v.iter().map(|g| (g.id, g.bbox)).collect())
            .unwrap_or_default();
        let h: Vec<(i64, BBox)> = res_frames
            .get(&f)
            .map(|v| v.iter().map(|r| (r.id, r.bbox)).collect())
            .unwrap_or_default();
        acc.update(&o, &h);
    }
    acc.metrics()
}

#[cfg(test)]
mod tests;
