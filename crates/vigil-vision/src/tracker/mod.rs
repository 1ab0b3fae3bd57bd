//! Multi-object tracking: [`ByteTracker`], ByteTrack (Zhang et al., "ByteTrack: Multi-Object Tracking by
//! Associating Every Detection Box", ECCV 2022) on a constant-velocity Kalman filter, with what keeps
//! identities in the strongest trackers of its class: OC-SORT's observation-centric momentum, re-update
//! and recovery (Cao et al., CVPR 2023), Hybrid-SORT's height-modulated IoU (Yang et al., AAAI 2024) and
//! camera motion compensation in the manner of BoT-SORT, estimated from the tracks themselves.
//!
//! Per frame:
//! 1. Detections are split by score: *high* (`score > track_thresh`) and *low*
//!    (`low_thresh < score <= track_thresh`); the rest are ignored.
//! 2. Confirmed tracks, including lost ones, are predicted one frame ahead and matched to the high
//!    detections by overlap (IoU times the vertical overlap, fused with the detection score), ranked
//!    with the direction of each track's motion (`momentum`), minimum-cost assignment, `match_thresh`.
//! 3. The median correction the matching made to the followed tracks' positions and velocities is the
//!    camera's unexpected motion: every track left without a detection gets it too (`motion_compensation`).
//!    At low frame rates a track may then take a detection close by (`recover_distance`).
//! 4. Tracks still unmatched that were tracked in the previous frame are matched to the low detections
//!    (plain overlap, `low_match_thresh`): low-score boxes of occluded people extend tracks but never
//!    start one. Tracks still unmatched may take a high detection left over that overlaps where they were
//!    last seen (`last_observation_iou`). Tracks left over become *lost*.
//! 5. Unconfirmed tracks (born in the previous frame) are matched to the high detections left; an
//!    unconfirmed track that finds no detection is dropped, one that does is confirmed and gets its ID.
//! 6. High detections still unmatched and scoring at least `new_track_thresh` start unconfirmed tracks.
//! 7. Lost tracks unseen for longer than the buffer (`buffer * frame_rate / 30` frames) are removed;
//!    a lost track that overlaps a tracked one almost completely (IoU > 0.85) is a duplicate and the
//!    younger of the two is dropped.
//!
//! A track matched again after frames without a detection re-runs its motion model along the straight
//! path between its two observations (`reupdate`), so the velocity it guessed while blind does not last.
//!
//! Detections of different classes are never associated (a person's track cannot jump to a car), while
//! one tracker still serves every class of a camera. IDs count up from 1 in order of confirmation and are
//! never reused. Everything is deterministic: the same detections give the same tracks.

mod kalman;
mod track;

use track::{State, Track};
use vigil_core::assign::{CostMatrix, min_cost_matching_limited};
use vigil_core::{BBox, Detection, TrackId, TrackedObject};

/// Tracker parameters. [`Default`] gives the values chosen by leave-one-sequence-out cross-validation on
/// five MOT17 training sequences with their public Faster R-CNN detections (`vigil eval track --cv`:
/// the parameter set most folds chose on the other four sequences), which suit a detector whose scores are
/// calibrated probabilities; the OC-SORT values `reupdate` and `last_observation_iou` are the published
/// ones, not tuned.
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
    /// `1 - overlap * score` is below this (default 0.9, i.e. an overlap above 0.1 for a confident
    /// detection; ByteTrack's 0.8 with plain IoU; the height-modulated overlap is smaller).
    pub match_thresh: f32,
    /// Second association: a track and a low detection may be matched only when `1 - IoU` is below this
    /// (default 0.5, i.e. IoU > 0.5: low-score boxes are trusted only where they fit well).
    pub low_match_thresh: f32,
    /// Unconfirmed tracks and the high detections left: `1 - IoU * score` must be below this (default 0.7).
    pub unconfirmed_match_thresh: f32,
    /// How long a lost track is kept for re-identification, in frames at 30 fps (default 60: two seconds).
    /// ByteTrack's paper keeps one second (30); people in surveillance footage are often hidden behind a
    /// pillar or a passer-by for longer, and a lost track can only be picked up again where its motion
    /// predicts it. Every cross-validation fold chose two seconds over one.
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
    /// OC-SORT's observation-centric momentum weight in the first association (default 0.4; 0 = off).
    /// Among pairs that pass `match_thresh`, a detection in the direction the track's observations were
    /// moving (measured over the last 3 frames) costs up to `momentum / 2` less (times its score), one
    /// behind it up to as much more: where two people's boxes overlap alike, each keeps the one that
    /// continues their own walk.
    pub momentum: f32,
    /// OC-SORT's observation-centric re-update: a track matched again after frames without a detection
    /// (occluded, or frames the detector skipped) rewinds its motion model to the last observation and
    /// re-runs it along the straight path to the new one, so the velocity it guessed while blind does not
    /// carry on (default true).
    pub reupdate: bool,
    /// OC-SORT's observation-centric recovery: after the other associations, a track still without a
    /// detection may take a confident detection left over whose overlap with the track's *last observed*
    /// box exceeds this (default 0.3; 0 = off). It finds people who stopped while hidden, whose prediction
    /// walked on.
    pub last_observation_iou: f32,
    /// Speed-scaled buffered IoU (0 = off, the default): in every association the track's box and the candidate
    /// detection are each grown by this many times the track's speed (in box heights per frame, at most
    /// half the box per side) before their IoU is taken. Boxes of a fast track stop overlapping from one
    /// frame to the next (a panning camera, a few analysed frames per second) while a slow track's
    /// prediction is close: buffering by a fixed amount (C-BIoU, Yang et al. 2023) also blurs slow
    /// neighbours in a crowd, buffering by speed leaves them to plain IoU.
    pub speed_margin: f32,
    /// Hybrid-SORT's height-modulated IoU (Yang et al., AAAI 2024): every overlap is multiplied by the
    /// overlap of the two boxes' vertical extents, so where a nearer and a farther person cross, their
    /// boxes (of different heights and feet lines) do not pass for each other (default true).
    pub height_iou: bool,
    /// Camera motion compensation from the tracks themselves: when the tracks followed in the last frame
    /// are matched first (at least 3 of them), the median of the corrections the matching made to their
    /// positions and velocities is the camera's unexpected motion (a pan starting, stopping or turning),
    /// and every track left without a detection (hidden or lost) gets the same correction, so it is looked
    /// for where the camera moved it. BoT-SORT registers images for this; from the tracks it costs nothing
    /// and needs no pixels. With a still camera the corrections are people's own and their median is near
    /// zero (default true).
    pub motion_compensation: bool,
}

impl Default for ByteTrackConfig {
    fn default() -> Self {
        Self {
            frame_rate: 30.0,
            track_thresh: 0.6,
            low_thresh: 0.1,
            new_track_thresh: 0.7,
            match_thresh: 0.9,
            low_match_thresh: 0.5,
            unconfirmed_match_thresh: 0.7,
            buffer: 60,
            fuse_score: true,
            recover_distance: 0.0,
            momentum: 0.4,
            reupdate: true,
            last_observation_iou: 0.3,
            speed_margin: 0.0,
            height_iou: true,
            motion_compensation: true,
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

/// The most a box is grown for [`ByteTrackConfig::speed_margin`], as a fraction of its size per side.
const MAX_SPEED_MARGIN: f32 = 0.5;

/// Matched tracks needed to estimate the camera's motion ([`ByteTrackConfig::motion_compensation`]): with
/// fewer, one person's change of pace would pass for the camera's.
const MIN_MOTION_SAMPLES: usize = 3;

/// `b` grown by `margin` times its width on the left and right and its height above and below.
fn grow(b: &BBox, margin: f32) -> BBox {
    let (dx, dy) = (margin * b.width(), margin * b.height());
    BBox::new(b.x1 - dx, b.y1 - dy, b.x2 + dx, b.y2 + dy)
}

/// Cost matrix `1 - IoU` (times the detection score when `fuse`) between the tracks' boxes (`boxes`, one
/// per track) and detections; pairs of different classes or without any overlap are forbidden (NaN). The
/// overlap is plain IoU, or what the configuration makes of it: both boxes grown by the track's speed
/// ([`ByteTrackConfig::speed_margin`]), times the vertical overlap ([`ByteTrackConfig::height_iou`]).
fn iou_cost(
    tracks: &[&Track],
    boxes: &[BBox],
    dets: &[&Detection],
    fuse: bool,
    cfg: &ByteTrackConfig,
) -> CostMatrix {
    let margins: Vec<f32> = tracks
        .iter()
        .map(|t| {
            let m = cfg.speed_margin * t.speed();
            if m.is_finite() && m > 0.0 {
                m.min(MAX_SPEED_MARGIN)
            } else {
                0.0
            }
        })
        .collect();
    CostMatrix::from_fn(tracks.len(), dets.len(), |r, c| {
        let (t, d) = (tracks[r], dets[c]);
        if t.class_id != d.class_id {
            return f64::NAN;
        }
        let (a, b) = (&boxes[r], &d.bbox);
        let m = margins[r];
        let mut iou = if m > 0.0 {
            grow(a, m).iou(&grow(b, m))
        } else {
            a.iou(b)
        };
        if cfg.height_iou {
            iou *= height_iou(a, b);
        }
        if iou.is_nan() || iou <= 0.0 {
            return f64::NAN;
        }
        let iou = f64::from(iou);
        let sim = if fuse { iou * f64::from(d.score) } else { iou };
        1.0 - sim
    })
}

/// Overlap of two boxes' vertical extents over their union (Hybrid-SORT's height IoU): near 1 for people
/// at the same distance from the camera, lower for a nearer and a farther one whose boxes overlap.
fn height_iou(a: &BBox, b: &BBox) -> f32 {
    let inter = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    let union = a.y2.max(b.y2) - a.y1.min(b.y1);
    if union > 0.0 { inter / union } else { 0.0 }
}

/// The camera's unexpected motion seen through the tracks: the median (per component) of the corrections
/// `[dx, dy, dvx, dvy]` that matching made to the followed tracks' positions and velocities, or `None`
/// with fewer than [`MIN_MOTION_SAMPLES`].
fn camera_correction(samples: &[[f64; 4]]) -> Option<[f64; 4]> {
    if samples.len() < MIN_MOTION_SAMPLES {
        return None;
    }
    let mut out = [0.0; 4];
    for (k, o) in out.iter_mut().enumerate() {
        let mut v: Vec<f64> = samples.iter().map(|s| s[k]).collect();
        v.sort_by(f64::total_cmp);
        *o = v[v.len() / 2];
    }
    out.iter().all(|v| v.is_finite()).then_some(out)
}

/// Matches `tracks` to `dets` by IoU with the tracks' predicted boxes, `1 - IoU (* score)` below `limit`;
/// with a `momentum` weight, pairs that pass the limit are then ranked by the cost minus OC-SORT's
/// direction bonus (times the detection score), so where boxes overlap alike the detection that continues
/// the track's motion wins.
fn associate(
    tracks: &[&Track],
    dets: &[&Detection],
    cfg: &ByteTrackConfig,
    frame: u32,
) -> vigil_core::assign::Assignment {
    let boxes: Vec<BBox> = tracks.iter().map(|t| t.bbox()).collect();
    let mut cost = iou_cost(tracks, &boxes, dets, cfg.fuse_score, cfg);
    let limit = f64::from(cfg.match_thresh);
    let momentum = f64::from(cfg.momentum);
    if momentum.is_nan() || momentum <= 0.0 || cost.is_empty() {
        return min_cost_matching_limited(&cost, limit);
    }
    for (r, track) in tracks.iter().enumerate() {
        for (c, det) in dets.iter().enumerate() {
            let base = cost.get(r, c);
            let adjusted = if base < limit {
                let bonus = track.direction_bonus(&det.bbox, frame);
                base - momentum * bonus * f64::from(det.score)
            } else {
                f64::NAN
            };
            cost.set(r, c, adjusted);
        }
    }
    // Every pair that passed the IoU limit stays eligible whatever its bonus (at most half the weight).
    min_cost_matching_limited(&cost, limit + 0.5 * momentum)
}

/// OC-SORT's observation-centric recovery: the `tracks` (arena indices) left without a detection are
/// matched to the high detections left (`cols`, indices into `high`) by IoU with the box where each track
/// was last *seen*, above `last_observation_iou` (0: off). A track whose prediction drifted while it was
/// unobserved is picked up where it stopped. Returns the tracks and detections still unmatched.
fn recover_by_last_observation(
    all: &mut [Track],
    tracks: &[usize],
    high: &[&Detection],
    cols: &[usize],
    cfg: &ByteTrackConfig,
    frame: u32,
    refound: &mut Vec<usize>,
) -> (Vec<usize>, Vec<usize>) {
    let threshold = f64::from(cfg.last_observation_iou);
    if threshold.is_nan() || threshold <= 0.0 || tracks.is_empty() || cols.is_empty() {
        return (tracks.to_vec(), cols.to_vec());
    }
    let dets: Vec<&Detection> = cols.iter().map(|&c| high[c]).collect();
    let cost = {
        let rows: Vec<&Track> = tracks.iter().map(|&i| &all[i]).collect();
        let boxes: Vec<BBox> = rows.iter().map(|t| t.last_observation()).collect();
        iou_cost(&rows, &boxes, &dets, false, cfg)
    };
    let matched = min_cost_matching_limited(&cost, 1.0 - threshold);
    for &(r, c) in &matched.pairs {
        let t = &mut all[tracks[r]];
        if t.state != State::Tracked {
            refound.push(tracks[r]);
        }
        t.update(dets[c], frame, cfg.reupdate);
    }
    (
        matched.unmatched_rows.iter().map(|&r| tracks[r]).collect(),
        matched.unmatched_cols.iter().map(|&c| cols[c]).collect(),
    )
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
        let first = {
            let tracks: Vec<&Track> = pool.iter().map(|&i| &all[i]).collect();
            associate(&tracks, &high, &cfg, frame)
        };
        // The corrections matching made to the tracks followed in the last frame: the camera's motion.
        let mut corrections: Vec<[f64; 4]> = Vec::new();
        for &(r, c) in &first.pairs {
            let t = &mut all[pool[r]];
            let before = t.motion();
            let followed = t.state == State::Tracked;
            if !followed {
                refound.push(pool[r]);
            }
            t.update(high[c], frame, cfg.reupdate);
            if followed && cfg.motion_compensation {
                let after = t.motion();
                corrections.push(std::array::from_fn(|k| after[k] - before[k]));
            }
        }
        // Where the camera moved differently from what the tracks' own motion predicted, the tracks
        // left without a detection (hidden, or lost) get the same correction.
        if let Some(c) = camera_correction(&corrections) {
            for &r in &first.unmatched_rows {
                all[pool[r]].correct(c);
            }
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
            let boxes: Vec<BBox> = tracks.iter().map(|t| t.bbox()).collect();
            iou_cost(&tracks, &boxes, &low, false, &cfg)
        };
        let second = min_cost_matching_limited(&cost, f64::from(cfg.low_match_thresh));
        for &(r, c) in &second.pairs {
            all[remaining[r]].update(low[c], frame, cfg.reupdate);
        }

        // Observation-centric recovery: tracks still unmatched, by their last observed box.
        let leftover: Vec<usize> = second
            .unmatched_rows
            .iter()
            .map(|&r| remaining[r])
            .chain(
                unmatched_pool
                    .iter()
                    .copied()
                    .filter(|&i| all[i].state == State::Lost),
            )
            .collect();
        let (leftover, unmatched_high) = recover_by_last_observation(
            &mut all,
            &leftover,
            &high,
            &unmatched_high,
            &cfg,
            frame,
            &mut refound,
        );
        let newly_lost: Vec<usize> = leftover
            .into_iter()
            .filter(|&i| all[i].state == State::Tracked)
            .collect();
        for &i in &newly_lost {
            all[i].state = State::Lost;
        }

        // Unconfirmed tracks with the high detections left.
        let left: Vec<&Detection> = unmatched_high.iter().map(|&c| high[c]).collect();
        let cost = {
            let tracks: Vec<&Track> = unconfirmed.iter().map(|&i| &all[i]).collect();
            let boxes: Vec<BBox> = tracks.iter().map(|t| t.bbox()).collect();
            iou_cost(&tracks, &boxes, &left, cfg.fuse_score, &cfg)
        };
        let third = min_cost_matching_limited(&cost, f64::from(cfg.unconfirmed_match_thresh));
        for &(r, c) in &third.pairs {
            let t = &mut all[unconfirmed[r]];
            t.update(left[c], frame, cfg.reupdate);
            t.activated = true;
        }
        for &r in &third.unmatched_rows {
            all[unconfirmed[r]].state = State::Removed;
        }

        // Births from the high detections nobody wanted. On the very first frame there is nothing to
        // confirm against, so they are confirmed at once (as in ByteTrack).
        let first_new = all.len();
        for &c in &third.unmatched_cols {
            let det = left[c];
            if det.score >= cfg.new_track_thresh {
                all.push(Track::new(det, frame, frame == 1));
            }
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
            t.update(high[cols[c]], frame, self.config.reupdate);
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
