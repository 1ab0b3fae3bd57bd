//! A learned normal for a scene, and how far each frame is from it.
//!
//! Every person in every frame is described by what a guard would find odd, each in units that do not
//! depend on the camera's resolution:
//!
//! | feature | what it catches |
//! |---|---|
//! | `size`: how far the box's height is from what the scene's perspective predicts at its feet (a line fitted to `ln height` against the feet's height in the picture) | someone too close to the camera, crouching, lying |
//! | `speed`: body heights per second over the last half second | running |
//! | `aspect`: width over height | bending, falling, carrying something wide |
//! | `inner`: motion inside the box that its own movement does not explain (block-matching flow, body heights per second) | waving, throwing, fighting |
//! | `dwell`: seconds the feet stayed within half a body height of where they are, times the box's share of the picture's height (staying near the camera counts more than a queue far away) | loitering |
//!
//! and each frame by the motion outside every person (`free`: moving blocks of the motion field not near a
//! person), which catches thrown things and objects no detector names. The model keeps the training
//! videos' values of each feature; a value is scored by how rarely training reached it (a tail p-value,
//! extrapolated exponentially past the largest seen), as `-log10 p`. A frame's score is the largest sum
//! over its people, plus its `free` score, smoothed over a quarter second. No weights are tuned: every
//! feature counts the same, in units of surprise.

use crate::flow::{BLOCK, Field};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use vigil_core::{BBox, TrackId};

/// Seconds over which speed is measured.
const SPEED_WINDOW_S: f64 = 0.5;
/// Most training values kept per feature (evenly thinned beyond).
const MAX_SAMPLES: usize = 20_000;

/// The person features of one track in one frame (`None`: not measurable yet).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PersonFeatures {
    /// Feet height in the picture (share of the height, 0 top .. 1 bottom).
    pub feet_y: f32,
    /// Box height (share of the picture's height).
    pub height: f32,
    /// Body heights per second.
    pub speed: Option<f32>,
    /// Width over height.
    pub aspect: f32,
    /// Unexplained motion inside the box (body heights per second).
    pub inner: Option<f32>,
    /// Dwell seconds times the height share.
    pub dwell: f32,
}

/// What one frame holds for the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameFeatures {
    /// The people.
    pub people: Vec<PersonFeatures>,
    /// Share of the motion field's blocks moving away from every person.
    pub free: f32,
}

/// Follows a video's person tracks and turns each frame into [`FrameFeatures`].
#[derive(Debug, Default)]
pub struct FeatureTracker {
    /// Per track: (time s, feet x, feet y, height) in frame pixels, recent first out.
    history: HashMap<TrackId, Vec<(f64, f32, f32, f32)>>,
}

impl FeatureTracker {
    /// A tracker with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// The features of a frame at `t` seconds, `h` pixels high, with its person `boxes` (track id and box
    /// in frame pixels) and the motion `field` of a small copy (`field_scale`: frame pixels per field
    /// pixel) measured over `field_dt` seconds.
    pub fn frame(
        &mut self,
        t: f64,
        h: u32,
        boxes: &[(TrackId, BBox)],
        field: &Field,
        field_scale: f32,
        field_dt: f32,
    ) -> FrameFeatures {
        let fh = h.max(1) as f32;
        let mut near_person = vec![false; field.blocks.len()];
        let mut people = Vec::with_capacity(boxes.len());
        for (id, b) in boxes {
            let bh = b.height().max(1.0);
            let (cx, cy) = (b.center().x, b.y2);
            let hist = self.history.entry(*id).or_default();
            hist.push((t, cx, cy, bh));
            hist.retain(|p| t - p.0 <= 120.0);
            // Speed over the last half second.
            let recent: Vec<&(f64, f32, f32, f32)> = hist
                .iter()
                .filter(|p| t - p.0 <= SPEED_WINDOW_S + 1e-6)
                .collect();
            let speed = match recent.first() {
                Some(first) if t - first.0 >= SPEED_WINDOW_S * 0.5 && recent.len() >= 3 => {
                    let mut hs: Vec<f32> = recent.iter().map(|p| p.3).collect();
                    hs.sort_by(f32::total_cmp);
                    let hm = hs[hs.len() / 2].max(1.0);
                    let d = (cx - first.1).hypot(cy - first.2);
                    Some(d / hm / (t - first.0) as f32)
                }
                _ => None,
            };
            // How long the feet have stayed within half a body height of here.
            let mut dwell = 0.0;
            for p in hist.iter().rev() {
                if (p.1 - cx).hypot(p.2 - cy) > 0.5 * bh {
                    break;
                }
                dwell = (t - p.0) as f32;
            }
            // Motion inside the box its own movement does not explain.
            let to_block = |v: f32| (v / field_scale / BLOCK as f32).floor().max(0.0) as usize;
            let (bx1, by1) = (to_block(b.x1), to_block(b.y1));
            let bx2 = to_block(b.x2).min(field.cols.saturating_sub(1));
            let by2 = to_block(b.y2).min(field.rows.saturating_sub(1));
            let mut flows = Vec::new();
            for row in by1.saturating_sub(1)..=(by2 + 1).min(field.rows.saturating_sub(1)) {
                for col in bx1.saturating_sub(1)..=(bx2 + 1).min(field.cols.saturating_sub(1)) {
                    if let Some(n) = near_person.get_mut(row * field.cols + col) {
                        *n = true;
                    }
                    if (by1..=by2).contains(&row)
                        && (bx1..=bx2).contains(&col)
                        && let Some((dx, dy)) = field.at(col, row)
                    {
                        let k = field_scale / field_dt.max(1e-3) / bh;
                        flows.push((dx * k, dy * k));
                    }
                }
            }
            let inner = (flows.len() >= 3).then(|| {
                let med = |mut v: Vec<f32>| {
                    v.sort_by(f32::total_cmp);
                    v[v.len() / 2]
                };
                let mx = med(flows.iter().map(|f| f.0).collect());
                let my = med(flows.iter().map(|f| f.1).collect());
                flows
                    .iter()
                    .map(|f| (f.0 - mx).hypot(f.1 - my))
                    .sum::<f32>()
                    / flows.len() as f32
            });
            people.push(PersonFeatures {
                feet_y: cy / fh,
                height: bh / fh,
                speed,
                aspect: b.width().max(1.0) / bh,
                inner,
                dwell: dwell * bh / fh,
            });
        }
        let present: std::collections::HashSet<TrackId> = boxes.iter().map(|b| b.0).collect();
        self.history
            .retain(|id, v| present.contains(id) || v.last().is_some_and(|p| t - p.0 < 5.0));
        let moving_free = field
            .blocks
            .iter()
            .zip(&near_person)
            .filter(|(b, near)| b.is_some() && !**near)
            .count();
        FrameFeatures {
            people,
            free: moving_free as f32 / field.blocks.len().max(1) as f32,
        }
    }
}

/// The training values of one feature, sorted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tail {
    values: Vec<f32>,
}

impl Tail {
    fn new(mut values: Vec<f32>) -> Tail {
        values.retain(|v| v.is_finite());
        values.sort_by(f32::total_cmp);
        if values.len() > MAX_SAMPLES {
            let step = values.len() as f64 / MAX_SAMPLES as f64;
            values = (0..MAX_SAMPLES)
                .map(|i| values[(i as f64 * step) as usize])
                .collect();
        }
        Tail { values }
    }

    /// `-log10` of how rarely training reached `x` or more.
    pub fn surprise(&self, x: f32) -> f32 {
        let n = self.values.len();
        if n == 0 || !x.is_finite() {
            return 0.0;
        }
        let at_least = n - self.values.partition_point(|v| *v < x);
        let p = if at_least > 0 {
            (at_least + 1) as f32 / (n + 1) as f32
        } else {
            let max = self.values[n - 1];
            let q90 = self.values[(n * 9 / 10).min(n - 1)];
            let scale = ((max - q90) / 2.3).max(1e-6);
            (1.0 / (n + 1) as f32) * (-(x - max) / scale).exp()
        };
        -p.max(1e-30).log10()
    }
}

/// The learned normal of a scene.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SceneModel {
    /// Perspective: `ln height = slope * feet_y + intercept`.
    pub slope: f32,
    /// See `slope`.
    pub intercept: f32,
    /// Training values: |ln height - perspective|.
    pub size: Tail,
    /// Training speeds.
    pub speed: Tail,
    /// Training aspects.
    pub aspect: Tail,
    /// Training inner motion.
    pub inner: Tail,
    /// Training dwell.
    pub dwell: Tail,
    /// Training free motion per frame.
    pub free: Tail,
    /// Frames learned from.
    pub frames: usize,
}

impl SceneModel {
    /// The normal of `frames` (normal activity only).
    pub fn learn(frames: &[FrameFeatures]) -> SceneModel {
        let people: Vec<&PersonFeatures> = frames.iter().flat_map(|f| &f.people).collect();
        // Least squares of ln height on feet height.
        let n = people.len() as f32;
        let (slope, intercept) = if people.len() >= 20 {
            let (sx, sy) = people.iter().fold((0.0, 0.0), |(a, b), p| {
                (a + p.feet_y, b + p.height.max(1e-4).ln())
            });
            let (mx, my) = (sx / n, sy / n);
            let (sxy, sxx) = people.iter().fold((0.0, 0.0), |(a, b), p| {
                let dx = p.feet_y - mx;
                (a + dx * (p.height.max(1e-4).ln() - my), b + dx * dx)
            });
            let slope = if sxx > 1e-9 { sxy / sxx } else { 0.0 };
            (slope, my - slope * mx)
        } else {
            let my = people.iter().map(|p| p.height.max(1e-4).ln()).sum::<f32>() / n.max(1.0);
            (0.0, my)
        };
        let size_of =
            |p: &PersonFeatures| (p.height.max(1e-4).ln() - (slope * p.feet_y + intercept)).abs();
        SceneModel {
            slope,
            intercept,
            size: Tail::new(people.iter().map(|p| size_of(p)).collect()),
            speed: Tail::new(people.iter().filter_map(|p| p.speed).collect()),
            aspect: Tail::new(people.iter().map(|p| p.aspect).collect()),
            inner: Tail::new(people.iter().filter_map(|p| p.inner).collect()),
            dwell: Tail::new(people.iter().map(|p| p.dwell).collect()),
            free: Tail::new(frames.iter().map(|f| f.free).collect()),
            frames: frames.len(),
        }
    }

    /// Each feature's surprise for one person: size, speed, aspect, inner, dwell.
    pub fn person_surprise(&self, p: &PersonFeatures) -> [f32; 5] {
        let size = (p.height.max(1e-4).ln() - (self.slope * p.feet_y + self.intercept)).abs();
        [
            self.size.surprise(size),
            p.speed.map_or(0.0, |s| self.speed.surprise(s)),
            self.aspect.surprise(p.aspect),
            p.inner.map_or(0.0, |s| self.inner.surprise(s)),
            self.dwell.surprise(p.dwell),
        ]
    }

    /// A frame's raw score: the most surprising person, plus the free motion's surprise.
    pub fn score(&self, f: &FrameFeatures) -> f32 {
        let people = f
            .people
            .iter()
            .map(|p| self.person_surprise(p).iter().sum::<f32>())
            .fold(0.0, f32::max);
        people + self.free.surprise(f.free)
    }
}

/// Names of the person features, in [`SceneModel::person_surprise`] order.
pub const PERSON_FEATURES: [&str; 5] = ["size", "speed", "aspect", "inner", "dwell"];

/// `scores` smoothed with a Gaussian of `sigma` samples (edges repeated).
pub fn smooth(scores: &[f32], sigma: f32) -> Vec<f32> {
    if sigma <= 0.0 || scores.is_empty() {
        return scores.to_vec();
    }
    let r = (3.0 * sigma).ceil() as i64;
    let kernel: Vec<f32> = (-r..=r)
        .map(|i| (-0.5 * (i as f32 / sigma).powi(2)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    let n = scores.len() as i64;
    (0..n)
        .map(|i| {
            kernel
                .iter()
                .enumerate()
                .map(|(k, w)| w * scores[(i + k as i64 - r).clamp(0, n - 1) as usize])
                .sum::<f32>()
                / total
        })
        .collect()
}

/// Frame-level area under the ROC curve of `scores` against `labels` (true: abnormal); ties count half.
/// `None` when either class is missing.
pub fn auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..scores.len().min(labels.len())).collect();
    idx.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let (mut rank_sum, mut pos) = (0.0f64, 0usize);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for k in &idx[i..=j] {
            if labels[*k] {
                rank_sum += rank;
                pos += 1;
            }
        }
        i = j + 1;
    }
    let neg = idx.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let p = pos as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * neg as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walker(speed: f32, dwell: f32) -> PersonFeatures {
        PersonFeatures {
            feet_y: 0.6,
            height: 0.3,
            speed: Some(speed),
            aspect: 0.35,
            inner: Some(0.2),
            dwell,
        }
    }

    #[test]
    fn the_unusual_scores_higher_than_the_usual() {
        let frames: Vec<FrameFeatures> = (0..200)
            .map(|i| FrameFeatures {
                people: vec![walker(0.8 + 0.001 * i as f32, 0.01)],
                free: 0.0,
            })
            .collect();
        let m = SceneModel::learn(&frames);
        let usual = m.score(&FrameFeatures {
            people: vec![walker(0.85, 0.01)],
            free: 0.0,
        });
        let running = m.score(&FrameFeatures {
            people: vec![walker(3.0, 0.01)],
            free: 0.0,
        });
        let loitering = m.score(&FrameFeatures {
            people: vec![walker(0.0, 2.0)],
            free: 0.0,
        });
        let thrown = m.score(&FrameFeatures {
            people: vec![walker(0.85, 0.01)],
            free: 0.1,
        });
        assert!(running > usual + 2.0, "{usual} vs running {running}");
        assert!(loitering > usual + 2.0, "{usual} vs loitering {loitering}");
        assert!(thrown > usual + 2.0, "{usual} vs thrown {thrown}");
    }

    #[test]
    fn auc_ranks_and_smoothing_keeps_the_mean() {
        assert_eq!(
            auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(auc(&[0.5], &[true]), None);
        let s = smooth(&[0.0, 0.0, 10.0, 0.0, 0.0], 1.0);
        assert!((s.iter().sum::<f32>() - 10.0).abs() < 1.5 && s[2] < 10.0 && s[1] > 0.0);
    }
}
