//! One track's state: its Kalman filter, its recent observations and what OC-SORT derives from them.
//!
//! OC-SORT (Cao et al., "Observation-Centric SORT: Rethinking SORT for Robust Multi-Object Tracking", CVPR
//! 2023) trusts observations over the motion model where the model has been running blind:
//! - *observation-centric re-update* ([`Track::update`] with `reupdate`): when a track is matched again
//!   after frames without a detection (occlusion, or frames the detector skipped), the filter is rewound to
//!   its last observation and re-run along a straight virtual path to the new one, so the velocity errors
//!   it accumulated while coasting do not outlive the gap;
//! - *observation-centric momentum* ([`Track::direction_bonus`]): the direction in which the track's
//!   observations moved (over a few frames, so it is not noise) is compared with the direction from its
//!   recent observation to a candidate detection;
//! - *observation-centric recovery* ([`Track::last_observation`]): a track left over is compared by where
//!   it was last seen, not where the filter predicts it.

use super::kalman::{self, Covariance, Mean};
use vigil_core::{BBox, ClassId, Detection, TrackId, TrackedObject};

/// Frames back to the observation the direction of motion is measured from (OC-SORT's `delta_t`).
pub(super) const DIRECTION_FRAMES: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Tracked,
    Lost,
    Removed,
}

#[derive(Debug, Clone)]
pub(super) struct Track {
    /// Public ID, given when the track is confirmed.
    pub id: Option<TrackId>,
    mean: Mean,
    cov: Covariance,
    /// The filter right after the last observation (where the re-update starts from).
    observed: (Mean, Covariance),
    pub state: State,
    pub class_id: ClassId,
    pub score: f32,
    /// Last frame a detection was matched.
    pub frame_id: u32,
    pub start_frame: u32,
    pub activated: bool,
    /// The last observations `(frame, box)`, oldest first, at most `DIRECTION_FRAMES + 1`.
    recent: Vec<(u32, BBox)>,
    /// Unit vector of the direction the observations moved in, `None` until the track has moved.
    direction: Option<(f64, f64)>,
}

/// Centre of a box in f64.
fn centre(b: &BBox) -> (f64, f64) {
    let c = b.center();
    (f64::from(c.x), f64::from(c.y))
}

/// Unit vector from `a`'s centre to `b`'s, `None` when they (nearly) coincide.
fn unit_direction(a: &BBox, b: &BBox) -> Option<(f64, f64)> {
    let (ax, ay) = centre(a);
    let (bx, by) = centre(b);
    let (dx, dy) = (bx - ax, by - ay);
    let norm = dx.hypot(dy);
    (norm > 1e-6 && norm.is_finite()).then(|| (dx / norm, dy / norm))
}

/// The box a fraction `t` of the way from `a` to `b` (each edge interpolated, so centre, width and height
/// are too).
fn lerp_box(a: &BBox, b: &BBox, t: f32) -> BBox {
    let at = |p: f32, q: f32| p + (q - p) * t;
    BBox::new(
        at(a.x1, b.x1),
        at(a.y1, b.y1),
        at(a.x2, b.x2),
        at(a.y2, b.y2),
    )
}

impl Track {
    /// A track born from a detection in `frame`, unconfirmed unless `activated`.
    pub fn new(det: &Detection, frame: u32, activated: bool) -> Self {
        let (mean, cov) = kalman::initiate(kalman::to_xyah(&det.bbox));
        Self {
            id: None,
            mean,
            cov,
            observed: (mean, cov),
            state: State::Tracked,
            class_id: det.class_id,
            score: det.score,
            frame_id: frame,
            start_frame: frame,
            activated,
            recent: vec![(frame, det.bbox)],
            direction: None,
        }
    }

    /// The filter's box for the current frame.
    pub fn bbox(&self) -> BBox {
        kalman::to_bbox(&self.mean)
    }

    /// The filter's speed in box heights per frame.
    pub fn speed(&self) -> f32 {
        let h = self.mean[3].abs().max(1e-6);
        (self.mean[4].hypot(self.mean[5]) / h) as f32
    }

    /// The box of the last matched detection.
    pub fn last_observation(&self) -> BBox {
        self.recent.last().map_or_else(|| self.bbox(), |&(_, b)| b)
    }

    /// The filter's centre and its velocity, `[cx, cy, vx, vy]`.
    pub fn motion(&self) -> [f64; 4] {
        [self.mean[0], self.mean[1], self.mean[4], self.mean[5]]
    }

    /// Adds `[dx, dy, dvx, dvy]` to the filter's centre and velocity.
    pub fn correct(&mut self, c: [f64; 4]) {
        self.mean[0] += c[0];
        self.mean[1] += c[1];
        self.mean[4] += c[2];
        self.mean[5] += c[3];
    }

    /// Steps the motion model one frame ahead.
    pub fn predict(&mut self) {
        if self.state != State::Tracked {
            // As in ByteTrack: a track that is not being observed keeps moving but stops growing.
            self.mean[7] = 0.0;
        }
        kalman::predict(&mut self.mean, &mut self.cov);
    }

    /// Corrects the track with the detection matched in `frame`. With `reupdate` and frames without an
    /// observation since the last one, the filter is first rewound and re-run along the straight path
    /// between the two observations (OC-SORT's re-update).
    pub fn update(&mut self, det: &Detection, frame: u32, reupdate: bool) {
        let gap = frame.saturating_sub(self.frame_id);
        if reupdate && gap > 1 {
            let last = self.last_observation();
            (self.mean, self.cov) = self.observed;
            for step in 1..=gap {
                kalman::predict(&mut self.mean, &mut self.cov);
                let b = if step == gap {
                    det.bbox
                } else {
                    lerp_box(&last, &det.bbox, step as f32 / gap as f32)
                };
                kalman::update(&mut self.mean, &mut self.cov, kalman::to_xyah(&b));
            }
        } else {
            kalman::update(&mut self.mean, &mut self.cov, kalman::to_xyah(&det.bbox));
        }
        self.observed = (self.mean, self.cov);
        if let Some(d) = unit_direction(&self.reference_observation(frame), &det.bbox) {
            self.direction = Some(d);
        }
        self.recent.push((frame, det.bbox));
        if self.recent.len() > DIRECTION_FRAMES as usize + 1 {
            self.recent.remove(0);
        }
        self.state = State::Tracked;
        self.score = det.score;
        self.frame_id = frame;
    }

    /// The observation the direction towards a box seen in `frame` is measured from: the oldest one in
    /// the last `DIRECTION_FRAMES` frames, or else the last one (OC-SORT's `k_previous_obs`).
    fn reference_observation(&self, frame: u32) -> BBox {
        let since = frame.saturating_sub(DIRECTION_FRAMES);
        self.recent
            .iter()
            .find(|&&(f, _)| f >= since && f < frame)
            .or(self.recent.last())
            .map_or_else(|| self.bbox(), |&(_, b)| b)
    }

    /// OC-SORT's momentum term for a candidate detection in `frame`: how well the direction from the
    /// track's recent observation to the detection agrees with the track's direction of motion, from
    /// -0.5 (opposite) through 0 (perpendicular, or no direction known yet) to 0.5 (the same).
    pub fn direction_bonus(&self, det: &BBox, frame: u32) -> f64 {
        let Some((vx, vy)) = self.direction else {
            return 0.0;
        };
        let Some((dx, dy)) = unit_direction(&self.reference_observation(frame), det) else {
            return 0.0;
        };
        let angle = (vx * dx + vy * dy).clamp(-1.0, 1.0).acos();
        (std::f64::consts::FRAC_PI_2 - angle) / std::f64::consts::PI
    }

    /// The track as the tracker reports it, `None` while unconfirmed.
    pub fn object(&self, frame_id: u32, matched: bool) -> Option<TrackedObject> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, y: f32) -> Detection {
        Detection::new(BBox::from_xywh(x, y, 40.0, 100.0), 0.9, 0)
    }

    #[test]
    fn reupdate_after_a_gap_learns_the_velocity_of_the_path() {
        // 4 px per frame to the right, then hidden for 12 frames while turning to walk down at 4 px per
        // frame, then seen on every frame again. The error of each prediction from there on: the
        // re-updated filter has followed the straight path from where the object was last seen to where it
        // reappeared, so its first prediction after the gap is closer; both converge after that.
        let run = |reupdate: bool| {
            let mut t = Track::new(&det(0.0, 0.0), 1, true);
            let mut errs = Vec::new();
            for f in 2..=20u32 {
                t.predict();
                t.update(&det(4.0 * (f - 1) as f32, 0.0), f, reupdate);
            }
            for _ in 21..=32 {
                t.predict();
            }
            for f in 33..=40u32 {
                t.predict();
                let truth = det(76.0, 4.0 * (f - 20) as f32);
                let p = t.bbox().center();
                let q = truth.bbox.center();
                errs.push((p.x - q.x).hypot(p.y - q.y));
                t.update(&truth, f, reupdate);
            }
            errs
        };
        let (plain, re) = (run(false), run(true));
        assert_eq!(
            plain[0], re[0],
            "the same prediction before the re-found detection"
        );
        assert!(
            re[1] < 0.85 * plain[1],
            "re-update {re:?} vs plain {plain:?}"
        );
        assert!(
            re[7] < 1.5 && plain[7] < 1.5,
            "both converge: {re:?} vs {plain:?}"
        );
    }

    #[test]
    fn direction_bonus_favours_the_way_the_track_moves() {
        let mut t = Track::new(&det(0.0, 0.0), 1, true);
        for f in 2..=6 {
            t.predict();
            t.update(&det(10.0 * (f - 1) as f32, 0.0), f, true);
        }
        let ahead = t.direction_bonus(&det(60.0, 0.0).bbox, 7);
        let behind = t.direction_bonus(&det(20.0, 0.0).bbox, 7);
        let aside = t.direction_bonus(&det(30.0, 40.0).bbox, 7);
        assert!((ahead - 0.5).abs() < 1e-9, "{ahead}");
        assert!((behind + 0.5).abs() < 1e-9, "{behind}");
        assert!(aside.abs() < 1e-9, "{aside}");
        // A still track has no direction: no bonus either way.
        let still = Track::new(&det(0.0, 0.0), 1, true);
        assert_eq!(still.direction_bonus(&det(50.0, 0.0).bbox, 2), 0.0);
    }
}
