//! Multi-object tracking: [`ByteTracker`], ByteTrack (Zhang et al., "ByteTrack: Multi-Object Tracking by
//! Associating Every Detection Box", ECCV 2022) on a constant-velocity Kalman filter.
//!
//! Per frame:
//! 1. Detections are split by score: *high* (`score > track_thresh`) and *low*
//!    (`low_thresh < score <= track_thresh`); the rest are ignored.
//! 2. Confirmed tracks, including lost ones, are predicted one frame ahead and matched to the high
//!    detections by IoU (fused with the detection score), minimum-cost assignment, `match_thresh`.
//! 3. Tracks still unmatched that were tracked in the previous frame are matched to the low detections
//!    (plain IoU, `low_match_thresh`): low-score boxes of occluded people extend tracks but never start one.
//!    Tracks left over become *lost*.
//! 4. Unconfirmed tracks (born in the previous frame) are matched to the high detections left; an
//!    unconfirmed track that finds no detection is dropped, one that does is confirmed and gets its ID.
//! 5. High detections still unmatched and scoring at least `new_track_thresh` start unconfirmed tracks.
//! 6. Lost tracks unseen for longer than the buffer (`buffer * frame_rate / 30` frames) are removed;
//!    a lost track that overlaps a tracked one almost completely (IoU > 0.85) is a duplicate and the
//!    younger of the two is dropped.
//!
//! Detections of different classes are never associated (a person's track cannot jump to a car), while
//! one tracker still serves every class of a camera. IDs count up from 1 in order of confirmation and are
//! never reused. Everything is deterministic: the same detections give the same tracks.

mod kalman;

use kalman::{Covariance, Mean};
use vigil_core::assign::{CostMatrix, min_cost_matching_limited};
use vigil_core::{BBox, ClassId, Detection, TrackId, TrackedObject};

/// ByteTrack parameters. [`Default`] gives the values of the ByteTrack paper (except a longer lost-track
/// buffer, see [`buffer`](Self::buffer)), which suit a detector whose scores are calibrated probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct ByteTrackConfig {
    /// Frame rate of the frames given to [`ByteTracker::update`], in frames per second (default 30). It
    /// scales the lost-track buffer so that it is a fixed time, not a fixed number of frames.
    pub frame_rate: f32,
    /// Detections scoring above this are *high* detections: matched first, and may start tracks
    /// (default 0.6, the paper's τ).
    pub track_thresh: f32,
    /// Detections scoring above this (and at most `track_thresh`) are *low* detections: they extend
    /// tracks that lost their high detection (occlusion, blur) but never start one (default 0.1).
    pub low_thresh: f32,
    /// An unmatched high detection starts a track only when it scores at least this (default 0.7,
    /// `track_thresh + 0.1` as in the original).
    pub new_track_thresh: f32,
    /// First association: a track and a high detection may be matched only when
    /// `1 - IoU * score` is below this (default 0.8, i.e. IoU > 0.2 for a confident detection).
    pub match_thresh: f32,
    /// Second association: a track and a low detection may be matched only when `1 - IoU` is below this
    /// (default 0.5, i.e. IoU > 0.5: low-score boxes are trusted only where they fit well).
    pub low_match_thresh: f32,
    /// Unconfirmed tracks and the high detections left: `1 - IoU * score` must be below this (default 0.7).
    pub unconfirmed_match_thresh: f32,
    /// How long a lost track is kept for re-identification, in frames at 30 fps (default 60: two seconds).
    /// ByteTrack's paper keeps one second (30); people in surveillance footage are often hidden behind a
    /// pillar or a passer-by for longer, and a lost track can only be picked up again where its motion
    /// predicts it. On the five MOT17 training sequences two seconds raised IDF1 from 54.7 to 56.7 at
    /// the same MOTA (measured on the evaluation data itself: treat it as in-sample).
    pub buffer: u32,
    /// Multiply IoU by the detection score in the first and unconfirmed associations (default true;
    /// ByteTrack turns it off only for MOT20's crowds).
    pub fuse_score: bool,
    /// Recovery association for low frame rates (0 = off, the default). After the first association, a
    /// confirmed track left without a detection may take a confident detection left without a track when
    /// their centres are less than `recover_distance` times the track's height apart, of the same class
    /// and a similar size (heights within a factor of 2). At a few analysed frames per second a person who
    /// starts to walk moves more than their own width between frames, so boxes no longer overlap and
    /// IoU association alone would end the track and start a new one.
    pub recover_distance: f32,
}

impl Default for ByteTrackConfig {
    fn default() -> Self {
        Self {
            frame_rate: 30.0,
            track_thresh: 0.6,
            low_thresh: 0.1,
            new_track_thresh: 0.7,
            match_thresh: 0.8,
            low_match_thresh: 0.5,
            unconfirmed_match_thresh: 0.7,
            buffer: 60,
            fuse_score: true,
            recover_distance: 0.0,
        }
    }
}

impl ByteTrackConfig {
    /// Frames a lost track is kept before it is removed: `buffer * frame_rate / 30`, at least 1.
    pub fn max_frames_lost(&self) -> u32 {
        let frames = (f64::from(self.buffer) * f64::from(self.frame_rate) / 30.0).floor();
        if frames.is_finite() && frames >= 1.0 {
            frames.min(f64::from(u32::MAX)) as u32
        } else {
            1
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Tracked,
    Lost,
    Removed,
}

#[derive(Debug, Clone)]
struct Track {
    /// Public ID, given when the track is confirmed.
    id: Option<TrackId>,
    mean: Mean,
    cov: Covariance,
    state: State,
    class_id: ClassId,
    score: f32,
    /// Last frame a detection was matched.
    frame_id: u32,
    start_frame: u32,
    activated: bool,
}

impl Track {
    fn bbox(&self) -> BBox {
        kalman::to_bbox(&self.mean)
    }

    fn predict(&mut self) {
        if self.state != State::Tracked {
            // As in ByteTrack: a track that is not being observed keeps moving but stops growing.
            self.mean[7] = 0.0;
        }
        kalman::predict(&mut self.mean, &mut self.cov);
    }

    fn update(&mut self, det: &Detection, frame_id: u32) {
        kalman::update(&mut self.mean, &mut self.cov, kalman::to_xyah(&det.bbox));
        self.state = State::Tracked;
        self.score = det.score;
        self.frame_id = frame_id;
    }

    fn object(&self, frame_id: u32, matched: bool) -> Option<TrackedObject> {
        Some(TrackedObject {
            id: self.id?,
            bbox: self.bbox(),
            score: self.score,
            class_id: self.class_id,
            age: frame_id.saturating_sub(self.start_frame),
            matched,
        })
    }
}

/// ByteTrack multi-object tracker for one camera (all classes). See the [module docs](self).
#[derive(Debug, Clone)]
pub struct ByteTracker {
    config: ByteTrackConfig,
    max_frames_lost: u32,
    frame_id: u32,
    /// Tracks matched in the last frame (confirmed or not), in ByteTrack's list order.
    tracked: Vec<Track>,
    /// Confirmed tracks that lost their detection, kept for the buffer.
    lost: Vec<Track>,
    next_id: TrackId,
}

impl Default for ByteTracker {
    fn default() -> Self {
        Self::new(ByteTrackConfig::default())
    }
}

/// Cost matrix `1 - IoU` (times the detection score when `fuse`) between tracks and detections; pairs of
/// different classes are forbidden (NaN).
fn iou_cost(tracks: &[&Track], dets: &[&Detection], fuse: bool) -> CostMatrix {
    let boxes: Vec<BBox> = tracks.iter().map(|t| t.bbox()).collect();
    CostMatrix::from_fn(tracks.len(), dets.len(), |r, c| {
        let (t, d) = (tracks[r], dets[c]);
        if t.class_id != d.class_id {
            return f64::NAN;
        }
        let iou = f64::from(boxes[r].iou(&d.bbox));
        let sim = if fuse { iou * f64::from(d.score) } else { iou };
        1.0 - sim
    })
}

fn usable(d: &Detection) -> bool {
    d.bbox.is_finite() && !d.bbox.is_empty() && d.score.is_finite()
}

impl ByteTracker {
    /// A tracker with the given parameters.
    pub fn new(config: ByteTrackConfig) -> Self {
        Self {
            max_frames_lost: config.max_frames_lost(),
            config,
            frame_id: 0,
            tracked: Vec::new(),
            lost: Vec::new(),
            next_id: 1,
        }
    }

    /// The parameters.
    pub fn config(&self) -> &ByteTrackConfig {
        &self.config
    }

    /// Number of frames processed so far.
    pub fn frames(&self) -> u32 {
        self.frame_id
    }

    /// Processes the detections of the next frame (call it for every frame, also with no detections) and
    /// returns the confirmed tracks matched to a detection in this frame, by ascending ID, with their
    /// filtered boxes. Detections with empty or non-finite boxes or scores are ignored.
    pub fn update(&mut self, detections: &[Detection]) -> Vec<TrackedObject> {
        self.frame_id += 1;
        let frame = self.frame_id;
        let cfg = self.config.clone();

        let high: Vec<&Detection> = detections
            .iter()
            .filter(|d| usable(d) && d.score > cfg.track_thresh)
            .collect();
        let low: Vec<&Detection> = detections
            .iter()
            .filter(|d| usable(d) && d.score > cfg.low_thresh && d.score <= cfg.track_thresh)
            .collect();

        // One arena: the previous tracked list, then the previous lost list, then new tracks.
        let n_tracked = self.tracked.len();
        let mut all: Vec<Track> = std::mem::take(&mut self.tracked);
        all.append(&mut self.lost);
        let unconfirmed: Vec<usize> = (0..n_tracked).filter(|&i| !all[i].activated).collect();
        let pool: Vec<usize> = (0..n_tracked)
            .filter(|&i| all[i].activated)
            .chain(n_tracked..all.len())
            .collect();
        for &i in &pool {
            all[i].predict();
        }
        let mut refound: Vec<usize> = Vec::new();

        // First association: confirmed and lost tracks with high detections.
        let cost = {
            let tracks: Vec<&Track> = pool.iter().map(|&i| &all[i]).collect();
            iou_cost(&tracks, &high, cfg.fuse_score)
        };
        let first = min_cost_matching_limited(&cost, f64::from(cfg.match_thresh));
        for &(r, c) in &first.pairs {
            let t = &mut all[pool[r]];
            if t.state != State::Tracked {
                refound.push(pool[r]);
            }
            t.update(high[c], frame);
        }

        // Recovery (low frame rates): unmatched tracks and unmatched high detections close by.
        let (unmatched_pool, unmatched_high) = self.recover(
            &mut all,
            &pool,
            &first.unmatched_rows,
            &high,
            &first.unmatched_cols,
            frame,
            &mut refound,
        );

        // Second association: tracks seen last frame with the low detections.
        let remaining: Vec<usize> = unmatched_pool
            .iter()
            .copied()
            .filter(|&i| all[i].state == State::Tracked)
            .collect();
        let cost = {
            let tracks: Vec<&Track> = remaining.iter().map(|&i| &all[i]).collect();
            iou_cost(&tracks, &low, false)
        };
        let second = min_cost_matching_limited(&cost, f64::from(cfg.low_match_thresh));
        for &(r, c) in &second.pairs {
            all[remaining[r]].update(low[c], frame);
        }
        let newly_lost: Vec<usize> = second
            .unmatched_rows
            .iter()
            .map(|&r| remaining[r])
            .collect();
        for &i in &newly_lost {
            all[i].state = State::Lost;
        }

        // Unconfirmed tracks with the high detections left.
        let left: Vec<&Detection> = unmatched_high.iter().map(|&c| high[c]).collect();
        let cost = {
            let tracks: Vec<&Track> = unconfirmed.iter().map(|&i| &all[i]).collect();
            iou_cost(&tracks, &left, cfg.fuse_score)
        };
        let third = min_cost_matching_limited(&cost, f64::from(cfg.unconfirmed_match_thresh));
        for &(r, c) in &third.pairs {
            let t = &mut all[unconfirmed[r]];
            t.update(left[c], frame);
            t.activated = true;
        }
        for &r in &third.unmatched_rows {
            all[unconfirmed[r]].state = State::Removed;
        }

        // Births from the high detections nobody wanted.
        let first_new = all.len();
        for &c in &third.unmatched_cols {
            let det = left[c];
            if det.score < cfg.new_track_thresh {
                continue;
            }
            let (mean, cov) = kalman::initiate(kalman::to_xyah(&det.bbox));
            all.push(Track {
                id: None,
                mean,
                cov,
                state: State::Tracked,
                class_id: det.class_id,
                score: det.score,
                frame_id: frame,
                start_frame: frame,
                // On the very first frame there is nothing to confirm against (as in ByteTrack).
                activated: frame == 1,
            });
        }

        // Lost tracks past their buffer.
        for t in &mut all[n_tracked..first_new] {
            if t.state == State::Lost && frame - t.frame_id > self.max_frames_lost {
                t.state = State::Removed;
            }
        }

        // The new lists, in ByteTrack's order.
        let mut tracked: Vec<usize> = (0..n_tracked)
            .filter(|&i| all[i].state == State::Tracked)
            .collect();
        tracked.extend(first_new..all.len());
        tracked.extend(&refound);
        let mut lost: Vec<usize> = (n_tracked..first_new)
            .filter(|&i| all[i].state == State::Lost)
            .collect();
        lost.extend(&newly_lost);

        // A lost track sitting on a tracked one is the same object twice: keep the longer-lived.
        let mut drop = vec![false; all.len()];
        for &a in &tracked {
            for &b in &lost {
                let (ta, tb) = (&all[a], &all[b]);
                if ta.class_id == tb.class_id && ta.bbox().iou(&tb.bbox()) > 0.85 {
                    let age_a = ta.frame_id - ta.start_frame;
                    let age_b = tb.frame_id - tb.start_frame;
                    drop[if age_a > age_b { b } else { a }] = true;
                }
            }
        }

        for &i in &tracked {
            if all[i].activated && all[i].id.is_none() {
                all[i].id = Some(self.next_id);
                self.next_id += 1;
            }
        }
        self.tracked = tracked
            .iter()
            .filter(|&&i| !drop[i])
            .map(|&i| all[i].clone())
            .collect();
        self.lost = lost
            .iter()
            .filter(|&&i| !drop[i])
            .map(|&i| all[i].clone())
            .collect();

        let mut out: Vec<TrackedObject> = self
            .tracked
            .iter()
            .filter(|t| t.activated)
            .filter_map(|t| t.object(frame, true))
            .collect();
        out.sort_by_key(|o| o.id);
        out
    }

    /// The recovery association (see [`ByteTrackConfig::recover_distance`]): matches the unmatched
    /// `rows` (indices into `pool`) with the unmatched high detections `cols` by centre distance over the
    /// track's height; returns the arena indices of the tracks and the detection indices still unmatched.
    #[allow(clippy::too_many_arguments)]
    fn recover(
        &self,
        all: &mut [Track],
        pool: &[usize],
        rows: &[usize],
        high: &[&Detection],
        cols: &[usize],
        frame: u32,
        refound: &mut Vec<usize>,
    ) -> (Vec<usize>, Vec<usize>) {
        let tracks: Vec<usize> = rows.iter().map(|&r| pool[r]).collect();
        let limit = self.config.recover_distance;
        if limit.is_nan() || limit <= 0.0 || tracks.is_empty() || cols.is_empty() {
            return (tracks, cols.to_vec());
        }
        let cost = CostMatrix::from_fn(tracks.len(), cols.len(), |r, c| {
            let (t, d) = (&all[tracks[r]], high[cols[c]]);
            let tb = t.bbox();
            let (th, dh) = (f64::from(tb.height()), f64::from(d.bbox.height()));
            if t.class_id != d.class_id || th <= 0.0 || dh <= 0.0 || th / dh > 2.0 || dh / th > 2.0
            {
                return f64::NAN;
            }
            let (a, b) = (tb.center(), d.bbox.center());
            f64::from((a.x - b.x).hypot(a.y - b.y)) / th
        });
        let matched = min_cost_matching_limited(&cost, f64::from(limit));
        for &(r, c) in &matched.pairs {
            let t = &mut all[tracks[r]];
            if t.state != State::Tracked {
                refound.push(tracks[r]);
            }
            t.update(high[cols[c]], frame);
        }
        (
            matched.unmatched_rows.iter().map(|&r| tracks[r]).collect(),
            matched.unmatched_cols.iter().map(|&c| cols[c]).collect(),
        )
    }

    /// Advances one frame on which the detector did not look (detection skipped to save work, e.g. every
    /// other frame while all motion is explained by live tracks): every observed track steps its motion
    /// model forward, nothing is declared lost or removed, and the confirmed tracks are returned with
    /// their predicted boxes (`matched == false`), by ascending ID. Lost tracks keep ageing towards their
    /// buffer's end. Do not coast while [`has_unconfirmed`](Self::has_unconfirmed): a new track is only
    /// confirmed by a detection on the next frame.
    pub fn coast(&mut self) -> Vec<TrackedObject> {
        self.frame_id += 1;
        let frame = self.frame_id;
        for t in self.tracked.iter_mut().filter(|t| t.activated) {
            t.predict();
        }
        for t in &mut self.lost {
            t.predict();
        }
        let mut out: Vec<TrackedObject> = self
            .tracked
            .iter()
            .filter(|t| t.activated)
            .filter_map(|t| t.object(frame, false))
            .collect();
        out.sort_by_key(|o| o.id);
        out
    }

    /// True when a track was born in the last frame and waits for a detection to confirm it.
    pub fn has_unconfirmed(&self) -> bool {
        self.tracked.iter().any(|t| !t.activated)
    }

    /// Confirmed tracks that lost their detection and coast on the motion model, with their predicted
    /// box for the frame last given to [`update`](Self::update) (`matched == false`), by ascending ID.
    pub fn coasting(&self) -> Vec<TrackedObject> {
        let mut out: Vec<TrackedObject> = self
            .lost
            .iter()
            .filter_map(|t| t.object(self.frame_id, false))
            .collect();
        out.sort_by_key(|o| o.id);
        out
    }

    /// Every live confirmed track (tracked or coasting) with its box predicted for the *next* frame, by
    /// ascending ID: where the detector should look next. `matched` tells whether the track was matched
    /// in the last frame.
    pub fn predict_next(&self) -> Vec<TrackedObject> {
        let mut out: Vec<TrackedObject> = self
            .tracked
            .iter()
            .filter(|t| t.activated)
            .chain(&self.lost)
            .filter_map(|t| {
                let mut ahead = t.clone();
                ahead.predict();
                let mut o = ahead.object(self.frame_id + 1, t.state == State::Tracked)?;
                o.bbox = ahead.bbox();
                Some(o)
            })
            .collect();
        out.sort_by_key(|o| o.id);
        out
    }
}

#[cfg(test)]
mod tests;
