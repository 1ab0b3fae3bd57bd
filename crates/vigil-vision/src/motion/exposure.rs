//! Global photometric compensation: camera exposure, gain and global lighting changes.
//!
//! Cameras change exposure and gain on their own (a dark truck fills the view, a cloud passes, auto-iris),
//! and a global light change adds ambient light on top. On 8-bit values such changes are close to an
//! affine map of the whole frame: `I' = a * I + b`. The tracker estimates `(a, b)` each frame against the
//! model's mean background image (which lives in the model's reference photometry), over the pixels that
//! were background in the last frame:
//! 1. pixels are grouped by background intensity (16 bins); each bin's median difference (current minus
//!    background) is robust to moving objects covering less than half of the bin's pixels;
//! 2. a line through the (mean background, median current) points of the well-filled bins, weighted by
//!    their pixel counts, refitted once without the bins it explains worst (outliers);
//! 3. the frame is mapped back, `(I - b) / a`, through a 256-entry table before the background model sees
//!    it, so the model stays in one photometry and camera-side changes do not read as motion.
//!
//! Clipped pixels (at or near 255 or 0 in the new exposure) only bound the true value; where the
//! background lies beyond that bound too, they take the background value instead of a wrong estimate.

/// Background-intensity bins (16 levels each).
const BINS: usize = 16;
/// Pixels at or beyond these raw values are clipped and say little about the exposure.
const CLIP_LOW: u8 = 5;
const CLIP_HIGH: u8 = 250;
/// A bin takes part in the fit with at least this many pixels.
const MIN_BIN_PIXELS: u32 = 40;
/// Bins whose median lies further than this from the first fit are left out of the second.
const OUTLIER_LEVELS: f32 = 6.0;
/// A fitted map is applied only when it predicts this fraction of the pixels within `EXPLAINED_LEVELS`.
const MIN_EXPLAINED: f32 = 0.6;
const EXPLAINED_LEVELS: f32 = 8.0;
/// Changes smaller than this (in gray levels anywhere over 0..255) are treated as none (noise).
const DEADBAND_LEVELS: f32 = 1.5;

/// Tracks the photometry of one stream relative to its background model.
#[derive(Debug, Clone)]
pub(crate) struct ExposureTracker {
    /// Per background bin: histogram of differences current - background, offset by 256.
    hist: Vec<[u32; 512]>,
    /// Per background bin: sum of background values (for the bin's mean).
    bg_sum: [u64; BINS],
    table: [u8; 256],
    gain: f32,
    offset: f32,
}

impl ExposureTracker {
    /// A tracker at identity (gain 1, offset 0).
    pub(crate) fn new() -> Self {
        Self {
            hist: vec![[0; 512]; BINS],
            bg_sum: [0; BINS],
            table: [0; 256],
            gain: 1.0,
            offset: 0.0,
        }
    }

    /// The last estimate `(gain, offset)`: current = gain * reference + offset.
    pub(crate) fn gain_offset(&self) -> (f32, f32) {
        (self.gain, self.offset)
    }

    /// Estimates the frame's photometric change against `background` (the model's mean background, 8.8
    /// fixed point) over the pixels where `last_fg` is 0. Falls back to identity when the frame gives too
    /// little evidence.
    pub(crate) fn estimate(&mut self, frame: &[u8], background: &[u16], last_fg: &[u8]) {
        for h in &mut self.hist {
            h.fill(0);
        }
        self.bg_sum = [0; BINS];
        // every other pixel is plenty for 16 medians
        for ((&v, &b), &f) in frame.iter().zip(background).zip(last_fg).step_by(2) {
            if f == 0 && v > CLIP_LOW && v < CLIP_HIGH {
                let bin = (b >> 12) as usize;
                self.hist[bin][(v as i32 - (b >> 8) as i32 + 256) as usize] += 1;
                self.bg_sum[bin] += (b >> 8) as u64;
            }
        }
        // (mean background, mean background + median difference, pixels) per usable bin
        let mut points = [(0f32, 0f32, 0f32); BINS];
        let mut used = 0;
        for (h, &sum) in self.hist.iter().zip(&self.bg_sum) {
            let n: u32 = h.iter().sum();
            if n < MIN_BIN_PIXELS {
                continue;
            }
            let half = n.div_ceil(2);
            let mut acc = 0;
            let mut median = 0;
            for (value, &c) in h.iter().enumerate() {
                acc += c;
                if acc >= half {
                    median = value;
                    break;
                }
            }
            let mean_bg = sum as f32 / n as f32;
            points[used] = (mean_bg, mean_bg + median as f32 - 256.0, n as f32);
            used += 1;
        }
        let points = &mut points[..used];
        let fit = fit_line(points).and_then(|(a, b)| {
            // refit without the bins the first line explains worst
            for p in points.iter_mut() {
                if (a * p.0 + b - p.1).abs() > OUTLIER_LEVELS {
                    p.2 = 0.0;
                }
            }
            fit_line(points)
        });
        let (gain, offset) = match fit {
            Some((a, b)) if a > 0.2 && a < 5.0 && self.explains(a, b) >= MIN_EXPLAINED => (a, b),
            _ => (1.0, 0.0),
        };
        // identity when the map moves no level of 0..255 by more than the deadband
        let moved = (offset).abs().max((gain * 255.0 + offset - 255.0).abs());
        (self.gain, self.offset) = if moved <= DEADBAND_LEVELS {
            (1.0, 0.0)
        } else {
            (gain, offset)
        };
    }

    /// The fraction of the binned pixels whose current value the map `a * bg + b` predicts within a few
    /// levels. A spatially uneven change (one lamp, a shadow over half the scene) is not a global map:
    /// a line fitted to it explains few pixels and must not be applied.
    fn explains(&self, a: f32, b: f32) -> f32 {
        let (mut hit, mut total) = (0u32, 0u32);
        for (h, &sum) in self.hist.iter().zip(&self.bg_sum) {
            let n: u32 = h.iter().sum();
            if n == 0 {
                continue;
            }
            let mean_bg = sum as f32 / n as f32;
            let predicted = (a - 1.0) * mean_bg + b + 256.0;
            // half a bin of background spread times the slope, plus noise
            let tol = EXPLAINED_LEVELS + (a - 1.0).abs() * 8.0;
            let lo = (predicted - tol).floor().clamp(0.0, 511.0) as usize;
            let hi = (predicted + tol).ceil().clamp(0.0, 511.0) as usize;
            hit += h[lo..=hi].iter().sum::<u32>();
            total += n;
        }
        if total == 0 {
            0.0
        } else {
            hit as f32 / total as f32
        }
    }

    /// True when the last estimate is the identity.
    fn is_identity(&self) -> bool {
        self.gain == 1.0 && self.offset == 0.0
    }

    /// Maps `frame` back to the reference photometry in place (nothing to do at identity). `background` is
    /// the model's mean background (8.8), used for clipped pixels.
    pub(crate) fn compensate(&mut self, frame: &mut [u8], background: &[u16]) {
        if self.is_identity() {
            return;
        }
        let (a, b) = (self.gain, self.offset);
        for (v, t) in self.table.iter_mut().enumerate() {
            *t = ((v as f32 - b) / a).round().clamp(0.0, 255.0) as u8;
        }
        // a clipped pixel's mapped value is only a bound: at least `high`, at most `low`
        let high = self.table[CLIP_HIGH as usize];
        let low = self.table[CLIP_LOW as usize];
        for (v, &bg) in frame.iter_mut().zip(background) {
            let raw = *v;
            let bg = (bg >> 8) as u8;
            let consistent = (raw >= CLIP_HIGH && bg >= high) || (raw <= CLIP_LOW && bg <= low);
            *v = if consistent {
                bg
            } else {
                self.table[raw as usize]
            };
        }
    }
}

/// Weighted least-squares line `y = a x + b` through `(x, y, weight)` points; `None` without at least
/// two weighted points spread over 24 levels or more.
fn fit_line(points: &[(f32, f32, f32)]) -> Option<(f32, f32)> {
    let w: f32 = points.iter().map(|p| p.2).sum();
    let live: Vec<&(f32, f32, f32)> = points.iter().filter(|p| p.2 > 0.0).collect();
    if live.len() < 2 || w <= 0.0 {
        return None;
    }
    let mx = live.iter().map(|p| p.0 * p.2).sum::<f32>() / w;
    let my = live.iter().map(|p| p.1 * p.2).sum::<f32>() / w;
    let sxx: f32 = live.iter().map(|p| p.2 * (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f32 = live.iter().map(|p| p.2 * (p.0 - mx) * (p.1 - my)).sum();
    let (lo, hi) = live.iter().fold((f32::MAX, f32::MIN), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    if hi - lo < 24.0 || sxx <= 0.0 {
        return None;
    }
    let a = sxy / sxx;
    Some((a, my - a * mx))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scene(w: usize, h: usize) -> Vec<u8> {
        (0..w * h).map(|i| (30 + (i * 37 % 180)) as u8).collect()
    }

    fn fixed(v: &[u8]) -> Vec<u16> {
        v.iter().map(|&v| (v as u16) << 8).collect()
    }

    fn worst(a: &[u8], b: &[u8]) -> u8 {
        a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap()
    }

    #[test]
    fn estimates_and_removes_gain_and_offset_changes() {
        let base = scene(64, 48);
        let background = fixed(&base);
        let none = vec![0; base.len()];
        let mut t = ExposureTracker::new();
        for (a, b) in [(1.2, 0.0), (0.8, 0.0), (0.7, 60.0), (1.0, -20.0)] {
            let changed: Vec<u8> = base
                .iter()
                .map(|&v| (a * v as f32 + b).round() as u8)
                .collect();
            t.estimate(&changed, &background, &none);
            let (ga, gb) = t.gain_offset();
            assert!(
                (ga - a).abs() < 0.02 && (gb - b).abs() < 2.5,
                "({a}, {b}) -> ({ga}, {gb})"
            );
            let mut comp = changed.clone();
            t.compensate(&mut comp, &background);
            assert!(
                worst(&comp, &base) <= 3,
                "({a}, {b}) off by {}",
                worst(&comp, &base)
            );
        }
        // unchanged: identity, the frame is left alone
        t.estimate(&base, &background, &none);
        assert_eq!(t.gain_offset(), (1.0, 0.0));
    }

    #[test]
    fn clipped_highlights_take_the_background_value() {
        let base = scene(64, 48);
        let background = fixed(&base);
        let mut t = ExposureTracker::new();
        let clipped: Vec<u8> = base
            .iter()
            .map(|&v| (v as f32 * 1.6).min(255.0) as u8)
            .collect();
        t.estimate(&clipped, &background, &vec![0; base.len()]);
        let mut comp = clipped.clone();
        t.compensate(&mut comp, &background);
        assert!(
            worst(&comp, &base) <= 3,
            "clipped frame off by {}",
            worst(&comp, &base)
        );
    }

    #[test]
    fn moving_objects_do_not_move_the_estimate() {
        let base = scene(64, 48);
        let background = fixed(&base);
        let mut t = ExposureTracker::new();
        let mut frame = base.clone();
        // a bright object over 30% of the frame
        for v in frame.iter_mut().take(base.len() * 3 / 10) {
            *v = 200;
        }
        t.estimate(&frame, &background, &vec![0; base.len()]);
        assert_eq!(t.gain_offset(), (1.0, 0.0));
    }
}
