//! A learned normal for a scene, and how far each frame is from it.
//!
//! Every person in every frame is described by what a guard would find odd, each in units that do not
//! depend on the camera's resolution:
//!
//! | cue | what it catches |
//! |---|---|
//! | `size`: how far the box's height is from what the scene's perspective predicts at its feet (a line fitted to `ln height` against the feet's height in the picture) | someone too close to the camera, crouching, lying |
//! | `speed`: body heights per second over the last half second | running |
//! | `aspect`: width over height | bending, falling, carrying something wide |
//! | `inner`: motion inside the box that its own movement does not explain (block-matching flow, body heights per second) | waving, throwing, fighting |
//! | `dwell`: seconds the feet stayed within half a body height of where they are, times the box's share of the picture's height (staying near the camera counts more than a queue far away) | loitering |
//! | `direction`: the heading of a moving person, against the headings seen in that cell of the picture | going the wrong way |
//! | `place`: how rarely anything of the class was seen in that cell | someone (or something) where nothing usually is |
//!
//! Objects of other classes are scored by `class` (how rarely the class was seen at all) and `place`; each
//! frame also by the motion outside every person and object (`free`: moving blocks of the motion field not
//! near one), which catches thrown things and objects no detector names.
//!
//! The model ([`SceneModel`], in `model.rs`) is kept per cell of a [`GRID`] x [`GRID`] grid over the
//! picture (where the feet are): size, speed and dwell values, a histogram of headings, and counts per class.
//! A cell where fewer than [`MIN_CELL`] different people (tracks) were seen falls back to the whole
//! picture's. A value is
//! scored by how rarely training reached it (a tail p-value, extrapolated exponentially past the largest
//! seen), as `-log10 p`. A person's score is the sum of its cues' surprises; a frame's is the largest
//! person's, corrected for how many were looked at, plus its `free` score; smoothed over a quarter second.
//! No weights are tuned: every cue counts the same, in units of surprise.

use crate::flow::{BLOCK, Field};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use vigil_core::{BBox, TrackId};

/// Seconds over which speed is measured.
const SPEED_WINDOW_S: f64 = 0.5;

mod model;
pub use model::{
    Cell, DIRECTIONS, GRID, MIN_CELL, MOVING_SPEED, PERSON_CUES, PERSON_FEATURES, SceneModel,
    Scoring, Tail,
};

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
    /// Feet across the picture (share of the width, 0 left .. 1 right).
    #[serde(default)]
    pub feet_x: f32,
    /// Velocity of the feet over the last half second (body heights per second; x right, y down).
    #[serde(default)]
    pub velocity: Option<(f32, f32)>,
    /// The person's track (tells the people apart when counting how many a cell of the model saw).
    #[serde(default)]
    pub track: TrackId,
}

/// An object of another class than person, in one frame.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectFeatures {
    /// The detector's class name.
    pub class: String,
    /// Feet (bottom centre) across the picture (share of the width).
    pub feet_x: f32,
    /// Feet down the picture (share of the height).
    pub feet_y: f32,
    /// Box height (share of the picture's height).
    pub height: f32,
}

/// What one frame holds for the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameFeatures {
    /// The people.
    pub people: Vec<PersonFeatures>,
    /// Share of the motion field's blocks moving away from every person (and object).
    pub free: f32,
    /// Objects of other classes.
    #[serde(default)]
    pub objects: Vec<ObjectFeatures>,
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
    /// pixel) measured over `field_dt` seconds. The picture's width is taken from the field's; see
    /// [`FeatureTracker::observe`] for other classes too.
    pub fn frame(
        &mut self,
        t: f64,
        h: u32,
        boxes: &[(TrackId, BBox)],
        field: &Field,
        field_scale: f32,
        field_dt: f32,
    ) -> FrameFeatures {
        let w = (field.cols * BLOCK) as f32 * field_scale;
        let w = if w >= 1.0 { w as u32 } else { h };
        self.observe(t, (w, h), boxes, &[], field, field_scale, field_dt)
    }

    /// Like [`FeatureTracker::frame`], for a picture `size` (width, height) pixels, with the boxes of
    /// other classes too (`objects`: class name and box in frame pixels).
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &mut self,
        t: f64,
        size: (u32, u32),
        boxes: &[(TrackId, BBox)],
        objects: &[(&str, BBox)],
        field: &Field,
        field_scale: f32,
        field_dt: f32,
    ) -> FrameFeatures {
        let (fw, fh) = (size.0.max(1) as f32, size.1.max(1) as f32);
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
            let velocity = match recent.first() {
                Some(first) if t - first.0 >= SPEED_WINDOW_S * 0.5 && recent.len() >= 3 => {
                    let mut hs: Vec<f32> = recent.iter().map(|p| p.3).collect();
                    hs.sort_by(f32::total_cmp);
                    let k = 1.0 / hs[hs.len() / 2].max(1.0) / (t - first.0) as f32;
                    Some(((cx - first.1) * k, (cy - first.2) * k))
                }
                _ => None,
            };
            let speed = velocity.map(|(vx, vy)| vx.hypot(vy));
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
                feet_x: (cx / fw).clamp(0.0, 1.0),
                velocity,
                track: *id,
            });
        }
        let to_block = |v: f32| (v / field_scale / BLOCK as f32).floor().max(0.0) as usize;
        let mut others = Vec::with_capacity(objects.len());
        for (class, b) in objects {
            let (bx1, by1) = (to_block(b.x1), to_block(b.y1));
            for row in
                by1.saturating_sub(1)..=(to_block(b.y2) + 1).min(field.rows.saturating_sub(1))
            {
                for col in
                    bx1.saturating_sub(1)..=(to_block(b.x2) + 1).min(field.cols.saturating_sub(1))
                {
                    if let Some(n) = near_person.get_mut(row * field.cols + col) {
                        *n = true;
                    }
                }
            }
            others.push(ObjectFeatures {
                class: (*class).to_string(),
                feet_x: (b.center().x / fw).clamp(0.0, 1.0),
                feet_y: (b.y2 / fh).clamp(0.0, 1.0),
                height: b.height().max(1.0) / fh,
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
            objects: others,
        }
    }
}

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

    /// A person walking right at one body height per second, in the left half of a 640x360 picture.
    #[test]
    fn the_tracker_measures_heading_place_and_track() {
        let mut t = FeatureTracker::new();
        let field = Field {
            cols: 40,
            rows: 22,
            blocks: vec![None; 40 * 22],
        };
        let mut last = FrameFeatures::default();
        for i in 0..25 {
            let x = 100.0 + 4.0 * i as f32;
            let b = BBox::new(x, 100.0, x + 40.0, 200.0);
            last = t.observe(
                i as f64 / 25.0,
                (640, 360),
                &[(7, b)],
                &[],
                &field,
                2.0,
                0.08,
            );
        }
        let p = last.people[0];
        let (vx, vy) = p.velocity.unwrap_or_default();
        assert!((vx - 1.0).abs() < 0.05 && vy.abs() < 1e-3, "{vx} {vy}");
        assert!((p.feet_x - 216.0 / 640.0).abs() < 1e-3);
        assert_eq!(p.track, 7);
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
