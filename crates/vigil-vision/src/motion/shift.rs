//! Global camera shift (jitter) estimation and compensation.
//!
//! A camera on a pole or a wall shakes: the whole image moves by a few pixels, often more than any
//! per-pixel neighbourhood check can forgive, and every edge in the scene turns into false motion. The
//! estimator finds the integer translation of the frame against the model's mean background image by
//! coarse-to-fine block matching (mean absolute difference over an image pyramid, exhaustive at the
//! coarsest level, then +-1 px per finer level), and the detector warps the frame into the model's
//! coordinates before modelling and warps the mask back afterwards.

/// Coarsest pyramid level is the first one at most this wide.
const COARSE_WIDTH: usize = 48;
/// A shift is accepted only when it lowers the matching cost by at least 3% against no shift (noise moves
/// it by about 1%), so a steady camera does not jump around.
const ACCEPT_RATIO: f32 = 0.97;

/// One pyramid level: a gray image.
#[derive(Debug, Default, Clone)]
struct Level {
    w: usize,
    h: usize,
    data: Vec<u8>,
}

impl Level {
    fn half_of(&mut self, src: &Level) {
        self.w = src.w / 2;
        self.h = src.h / 2;
        self.data.resize(self.w * self.h, 0);
        for y in 0..self.h {
            let a = &src.data[2 * y * src.w..][..src.w];
            let b = &src.data[(2 * y + 1) * src.w..][..src.w];
            for (x, d) in self.data[y * self.w..(y + 1) * self.w]
                .iter_mut()
                .enumerate()
            {
                let s =
                    a[2 * x] as u16 + a[2 * x + 1] as u16 + b[2 * x] as u16 + b[2 * x + 1] as u16;
                *d = ((s + 2) / 4) as u8;
            }
        }
    }
}

/// The reference pyramid is rebuilt from the (slowly learned) background every this many frames.
const REFERENCE_REFRESH: u32 = 4;

/// Estimates the translation of frames against a reference image of the same size.
#[derive(Debug, Default)]
pub(crate) struct ShiftEstimator {
    frame: Vec<Level>,
    reference: Vec<Level>,
    /// Mean and standard deviation of the reference's level 0.
    reference_stats: (f64, f64),
    /// Frames since the reference pyramid was built (`None`: build it on the next call).
    reference_age: Option<u32>,
}

impl ShiftEstimator {
    /// Forgets the reference pyramid (the background was rebuilt): the next call builds it anew.
    pub(crate) fn invalidate(&mut self) {
        self.reference_age = None;
    }

    /// The integer shift (dx, dy), at most `max_shift` px each way, such that `frame(x + dx, y + dy)`
    /// best matches `reference(x, y)` (the reference is the mean background, 8.8 fixed point; it changes
    /// slowly, so its pyramid is rebuilt every few frames only).
    pub(crate) fn estimate(
        &mut self,
        frame: &[u8],
        reference: &[u16],
        w: usize,
        h: usize,
        max_shift: usize,
    ) -> (isize, isize) {
        if max_shift == 0 {
            return (0, 0);
        }
        // level 0 at full size, then halves until the coarsest level is small
        let mut levels = 1;
        while (w >> (levels - 1)) > COARSE_WIDTH && (h >> levels) >= 16 {
            levels += 1;
        }
        self.frame.resize_with(levels, Level::default);
        let stale = match self.reference_age {
            Some(age) => age + 1 >= REFERENCE_REFRESH || self.reference.len() != levels,
            None => true,
        } || self.reference[0].w != w
            || self.reference[0].h != h;
        if stale {
            self.reference.resize_with(levels, Level::default);
            let r0 = &mut self.reference[0];
            (r0.w, r0.h) = (w, h);
            r0.data.clear();
            r0.data.extend(reference.iter().map(|&v| (v >> 8) as u8));
            self.reference_stats = stats(&r0.data);
            for l in 1..levels {
                let (done, rest) = self.reference.split_at_mut(l);
                rest[0].half_of(&done[l - 1]);
            }
            self.reference_age = Some(0);
        } else {
            self.reference_age = self.reference_age.map(|a| a + 1);
        }
        // match the frame's mean and contrast to the reference's, so an exposure change does not pull
        // the matching cost (the photometric correction proper comes after alignment)
        let table = normalization(stats(frame), self.reference_stats);
        let f0 = &mut self.frame[0];
        (f0.w, f0.h) = (w, h);
        f0.data.clear();
        f0.data.extend(frame.iter().map(|&v| table[v as usize]));
        for l in 1..levels {
            let (done, rest) = self.frame.split_at_mut(l);
            rest[0].half_of(&done[l - 1]);
        }
        let coarse = levels - 1;
        let reach = (max_shift >> coarse).max(1) as isize;
        let mut best = (0, 0);
        let mut best_cost = f32::MAX;
        for dy in -reach..=reach {
            for dx in -reach..=reach {
                let c = cost(&self.frame[coarse], &self.reference[coarse], dx, dy);
                if c < best_cost {
                    (best, best_cost) = ((dx, dy), c);
                }
            }
        }
        for l in (0..coarse).rev() {
            let centre = (best.0 * 2, best.1 * 2);
            best_cost = f32::MAX;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let s = (centre.0 + dx, centre.1 + dy);
                    if s.0.unsigned_abs() > max_shift || s.1.unsigned_abs() > max_shift {
                        continue;
                    }
                    let c = cost(&self.frame[l], &self.reference[l], s.0, s.1);
                    if c < best_cost {
                        (best, best_cost) = (s, c);
                    }
                }
            }
        }
        if best != (0, 0) {
            let moved = best_cost;
            let still = cost(&self.frame[0], &self.reference[0], 0, 0);
            if moved >= ACCEPT_RATIO * still {
                return (0, 0);
            }
        }
        best
    }
}

/// Mean and standard deviation of 8-bit values.
fn stats(data: &[u8]) -> (f64, f64) {
    let (mut s, mut ss) = (0u64, 0u64);
    for &v in data {
        s += v as u64;
        ss += (v as u64) * (v as u64);
    }
    let n = data.len().max(1) as f64;
    let mean = s as f64 / n;
    (mean, (ss as f64 / n - mean * mean).max(0.0).sqrt())
}

/// A table mapping values with the `frame` mean and standard deviation onto the `reference` ones.
fn normalization((mf, sf): (f64, f64), (mr, sr): (f64, f64)) -> [u8; 256] {
    let scale = if sf > 1.0 && sr > 1.0 { sr / sf } else { 1.0 };
    let mut table = [0u8; 256];
    for (v, t) in table.iter_mut().enumerate() {
        *t = ((v as f64 - mf) * scale + mr).round().clamp(0.0, 255.0) as u8;
    }
    table
}

/// Mean absolute difference between `frame(x + dx, y + dy)` and `reference(x, y)` over their overlap.
fn cost(frame: &Level, reference: &Level, dx: isize, dy: isize) -> f32 {
    let (w, h) = (frame.w as isize, frame.h as isize);
    let x0 = 0.max(-dx);
    let x1 = w.min(w - dx);
    let y0 = 0.max(-dy);
    let y1 = h.min(h - dy);
    if x1 - x0 < 4 || y1 - y0 < 4 {
        return f32::MAX;
    }
    let len = (x1 - x0) as usize;
    let mut sum = 0u64;
    let mut rows = 0u64;
    for y in y0..y1 {
        let r = &reference.data[(y * w + x0) as usize..][..len];
        let f = &frame.data[((y + dy) * w + x0 + dx) as usize..][..len];
        sum += r
            .iter()
            .zip(f)
            .map(|(&a, &b)| (a.max(b) - a.min(b)) as u32)
            .sum::<u32>() as u64;
        rows += 1;
    }
    sum as f32 / (rows * len as u64) as f32
}

/// Copies `frame` shifted into reference coordinates: `out(x, y) = frame(x + dx, y + dy)`, taking the
/// mean background where that falls outside the frame (those pixels then match the model).
pub(crate) fn warp_into_reference(
    frame: &[u8],
    background: &[u16],
    w: usize,
    h: usize,
    (dx, dy): (isize, isize),
    out: &mut [u8],
) {
    if (dx, dy) == (0, 0) {
        out.copy_from_slice(frame);
        return;
    }
    // columns whose source x + dx lies inside the frame
    let x_lo = (-dx).clamp(0, w as isize) as usize;
    let x_hi = (w as isize - dx).clamp(0, w as isize) as usize;
    for y in 0..h {
        let sy = y as isize + dy;
        let row = &mut out[y * w..(y + 1) * w];
        let bg = &background[y * w..(y + 1) * w];
        if sy < 0 || sy >= h as isize || x_lo >= x_hi {
            for (o, &b) in row.iter_mut().zip(bg) {
                *o = (b >> 8) as u8;
            }
            continue;
        }
        let src = &frame[sy as usize * w..(sy as usize + 1) * w];
        let sx_lo = (x_lo as isize + dx) as usize;
        row[x_lo..x_hi].copy_from_slice(&src[sx_lo..sx_lo + (x_hi - x_lo)]);
        for (o, &b) in row[..x_lo].iter_mut().zip(&bg[..x_lo]) {
            *o = (b >> 8) as u8;
        }
        for (o, &b) in row[x_hi..].iter_mut().zip(&bg[x_hi..]) {
            *o = (b >> 8) as u8;
        }
    }
}

/// Moves a 0/1 mask from reference to frame coordinates: `out(x, y) = mask(x - dx, y - dy)`, 0 where
/// that falls outside.
pub(crate) fn warp_to_frame(
    mask: &[u8],
    w: usize,
    h: usize,
    (dx, dy): (isize, isize),
    out: &mut [u8],
) {
    for y in 0..h {
        let sy = y as isize - dy;
        let row = &mut out[y * w..(y + 1) * w];
        if sy < 0 || sy >= h as isize {
            row.fill(0);
            continue;
        }
        let src = &mask[sy as usize * w..(sy as usize + 1) * w];
        for (x, o) in row.iter_mut().enumerate() {
            let sx = x as isize - dx;
            *o = if sx < 0 || sx >= w as isize {
                0
            } else {
                src[sx as usize]
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured scene (smooth blobs plus edges) sampled with an offset.
    fn scene(w: usize, h: usize, ox: isize, oy: isize) -> Vec<u8> {
        let mut v = Vec::with_capacity(w * h);
        for y in 0..h as isize {
            for x in 0..w as isize {
                let (sx, sy) = ((x - ox) as f32, (y - oy) as f32);
                let val = 120.0
                    + 60.0 * (sx * 0.11).sin() * (sy * 0.07).cos()
                    + 40.0 * ((sx + sy) * 0.3).sin();
                v.push(val.clamp(0.0, 255.0) as u8);
            }
        }
        v
    }

    #[test]
    fn finds_the_shift_of_a_moved_scene() {
        let (w, h) = (320, 180);
        let reference: Vec<u16> = scene(w, h, 0, 0).iter().map(|&v| (v as u16) << 8).collect();
        let mut est = ShiftEstimator::default();
        for (ox, oy) in [(0, 0), (3, -2), (-7, 5), (12, 9)] {
            let frame = scene(w, h, ox, oy);
            assert_eq!(est.estimate(&frame, &reference, w, h, 16), (ox, oy));
        }
    }

    #[test]
    fn an_exposure_change_does_not_hide_the_shift() {
        let (w, h) = (320, 180);
        let reference: Vec<u16> = scene(w, h, 0, 0).iter().map(|&v| (v as u16) << 8).collect();
        let mut est = ShiftEstimator::default();
        let frame: Vec<u8> = scene(w, h, -4, 6)
            .iter()
            .map(|&v| (v as f32 * 0.8 + 40.0) as u8)
            .collect();
        assert_eq!(est.estimate(&frame, &reference, w, h, 16), (-4, 6));
    }

    #[test]
    fn warps_round_trip() {
        let (w, h) = (8, 6);
        let mask: Vec<u8> = (0..w * h).map(|i| u8::from(i % 3 == 0)).collect();
        let mut there = vec![0; w * h];
        let mut back = vec![0; w * h];
        warp_to_frame(&mask, w, h, (2, 1), &mut there);
        assert_eq!(there[w + 2], mask[0]);
        let frame = there.clone();
        let bg = vec![0u16; w * h];
        warp_into_reference(&frame, &bg, w, h, (2, 1), &mut back);
        // everything that stayed inside comes back unchanged
        for y in 0..h - 1 {
            for x in 0..w - 2 {
                assert_eq!(back[y * w + x], mask[y * w + x]);
            }
        }
    }
}
