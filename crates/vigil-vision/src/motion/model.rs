//! The per-pixel background model.
//!
//! Each pixel keeps `samples` recent background intensities (a ViBe-style sample set, Barnich & Van
//! Droogenbroeck 2011): a pixel is background when at least `min_matches` samples lie within its distance
//! threshold. Sample sets need no distribution assumption, so multi-modal backgrounds (leaves, water,
//! flicker) are represented by their samples, and they bootstrap from a single frame.
//!
//! On top of that, SuBSENSE-style per-pixel feedback (St-Charles et al., TIP 2015) adapts two quantities:
//! - the distance threshold factor `R(x)`, raised where the segmentation "blinks" (dynamic background such
//!   as trees) and lowered back towards 1 where the background is stable;
//! - the update period `T(x)` (a background pixel refreshes one of its samples with probability `1/T`),
//!   short where the background is calm, long right after foreground so objects are not absorbed.
//!
//! Robustness additions:
//! - jitter: a pixel the own model rejects is still background when it matches the model of one of its 8
//!   neighbours (a 1-2 px camera shake moves edges onto neighbouring models);
//! - diffusion: a background pixel also pushes its value into a random neighbour's model (ViBe), which
//!   erodes "ghosts" (background uncovered by an object that was in the first frame) from their border;
//!   the push is frequent into a neighbour that has been still foreground for `ghost_frames` frames;
//! - absorption: a foreground pixel whose intensity has not changed for `absorb_frames` frames (a parked
//!   car, a ghost inside a large region) is taken into its own model; during the first `bootstrap_frames`
//!   frames the limit is the much shorter `bootstrap_absorb_frames`, so ghosts of the first frame clear
//!   quickly while the model is young;
//! - blind learning while young: during those first frames a foreground pixel whose value did not change
//!   since the last frame also takes it into its model with probability `1 / bootstrap_learn_period`. A ghost (road uncovered by a car that was in
//!   the first frame) needs two such samples to become background again, a few frames; a pixel crossed
//!   by traffic keeps being covered by different objects and rarely collects two matching samples. This
//!   matters at low analysis rates, where a road lane is never still long enough for absorption.

/// Parameters of the sample model (see [`crate::motion::MotionConfig`] for their meaning and defaults).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ModelParams {
    pub samples: usize,
    pub min_matches: usize,
    pub threshold: f32,
    pub jitter_radius: usize,
    pub ghost_frames: u16,
    pub absorb_frames: u16,
    pub bootstrap_frames: u32,
    pub bootstrap_absorb_frames: u16,
    pub bootstrap_learn_period: u16,
}

// Feedback constants (SuBSENSE's published values, scaled for one 8-bit channel).
const R_STEP: f32 = 0.01;
const V_INCR: f32 = 1.0;
const V_DECR: f32 = 0.1;
const T_INCR: f32 = 0.5;
const T_DECR: f32 = 0.25;
const T_LOWER: f32 = 2.0;
const T_UPPER: f32 = 256.0;
/// Mean normalized distance above which a pixel counts as unstable (eligible for a higher threshold).
const UNSTABLE_DIST: f32 = 0.1;
/// Frames over which the mean minimal distance is averaged (after the first frames).
const MEAN_WINDOW: u32 = 50;
const R_MAX: f32 = 6.0;

/// Offsets of the 8 neighbours, (dx, dy).
const NEIGHBOURS: [(isize, isize); 8] = [
    (-1, -1),
    (0, -1),
    (1, -1),
    (-1, 0),
    (1, 0),
    (-1, 1),
    (0, 1),
    (1, 1),
];

/// A small, fast PRNG (xorshift64*); model updates need speed and spread, not cryptographic quality.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    #[inline]
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n` from 16 random bits.
    #[inline]
    fn below(bits: u64, n: usize) -> usize {
        (((bits & 0xffff) as usize) * n) >> 16
    }
}

/// The background model at one frame size. Per-pixel state is kept as separate arrays so the feedback
/// pass runs branch-free over several pixels per SIMD instruction.
pub(crate) struct SampleModel {
    w: usize,
    h: usize,
    p: ModelParams,
    /// `p.samples` intensities per pixel, pixel-major.
    samples: Vec<u8>,
    /// Distance threshold factor R(x) >= 1.
    dist_factor: Vec<f32>,
    /// Matching distance `R(x) * threshold` as an 8-bit value.
    thr: Vec<u8>,
    /// Update period T(x) in [T_LOWER, T_UPPER].
    update_period: Vec<f32>,
    /// `65536 / T(x)`: the update draw threshold for 16 random bits.
    draw: Vec<u32>,
    /// Running mean of the normalized minimal distance to the model, D(x).
    mean_min_dist: Vec<f32>,
    /// Blink accumulator v(x).
    variation: Vec<f32>,
    /// This frame's match count (clamped to `min_matches`) and minimal distance, from segmentation.
    good: Vec<u8>,
    best: Vec<u8>,
    /// Intensity in the previous frame.
    prev: Vec<u8>,
    /// Raw label in the previous frame (0/1).
    last_raw: Vec<u8>,
    /// Whether the raw label flipped in the previous frame (0/1).
    last_blink: Vec<u8>,
    /// Consecutive frames each pixel was foreground with an unchanged intensity.
    still_fg: Vec<u16>,
    /// Running mean of the background, 8.8 fixed point (learned where the pixel is background).
    background: Vec<u16>,
    frames: u32,
    rng: Rng,
}

impl SampleModel {
    /// A model of `w` x `h` seeded from `frame`.
    pub(crate) fn new(p: ModelParams, frame: &[u8], w: usize, h: usize, seed: u64) -> Self {
        let n = w * h;
        let mut m = Self {
            w,
            h,
            p,
            samples: vec![0; n * p.samples],
            dist_factor: vec![0.0; n],
            thr: vec![0; n],
            update_period: vec![0.0; n],
            draw: vec![0; n],
            mean_min_dist: vec![0.0; n],
            variation: vec![0.0; n],
            good: vec![0; n],
            best: vec![0; n],
            prev: vec![0; n],
            last_raw: vec![0; n],
            last_blink: vec![0; n],
            still_fg: vec![0; n],
            background: vec![0; n],
            frames: 0,
            rng: Rng::new(seed),
        };
        m.reseed(frame);
        m
    }

    /// Frame width.
    pub(crate) fn width(&self) -> usize {
        self.w
    }

    /// Frame height.
    pub(crate) fn height(&self) -> usize {
        self.h
    }

    /// Rebuilds every sample set from `frame` (each sample drawn from the pixel's 3x3 neighbourhood, which
    /// gives the model the local spatial variation from a single frame) and resets the feedback state.
    pub(crate) fn reseed(&mut self, frame: &[u8]) {
        let (w, h, ns) = (self.w, self.h, self.p.samples);
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                for k in 0..ns {
                    let r = self.rng.next();
                    let j = if k == 0 {
                        i
                    } else {
                        neighbour_index(x, y, w, h, (r >> 61) as usize)
                    };
                    self.samples[i * ns + k] = frame[j];
                }
            }
        }
        self.dist_factor.fill(1.0);
        self.thr.fill(threshold(1.0, self.p.threshold));
        self.update_period.fill(T_LOWER);
        self.draw.fill(draw_threshold(T_LOWER));
        self.mean_min_dist.fill(0.0);
        self.variation.fill(1.0);
        self.prev.copy_from_slice(frame);
        self.last_raw.fill(0);
        self.last_blink.fill(0);
        self.still_fg.fill(0);
        self.background.clear();
        self.background
            .extend(frame.iter().map(|&v| (v as u16) << 8));
        self.frames = 0;
    }

    /// The mean background image, 8.8 fixed point.
    pub(crate) fn background(&self) -> &[u16] {
        &self.background
    }

    /// Segments `frame` into `raw` (1 = foreground) and updates the model. `last_fg` is the previous
    /// frame's final (cleaned-up) mask and `last_fg_near` that mask dilated, both 0/1; they steer the
    /// feedback (as in SuBSENSE, the final mask lags one frame). Returns the foreground count.
    pub(crate) fn step(
        &mut self,
        frame: &[u8],
        last_fg: &[u8],
        last_fg_near: &[u8],
        raw: &mut [u8],
    ) -> usize {
        let n = self.w * self.h;
        assert!(
            frame.len() == n && last_fg.len() == n && last_fg_near.len() == n && raw.len() == n
        );
        self.frames = self.frames.saturating_add(1);
        let count = self.segment(frame, raw);
        self.learn(frame, raw);
        self.feedback(frame, raw, last_fg, last_fg_near);
        count
    }

    /// Pass 1: classify each pixel against its own samples (and, on a miss where the background has
    /// contrast, against its neighbours' samples), recording the match count and minimal distance.
    fn segment(&mut self, frame: &[u8], raw: &mut [u8]) -> usize {
        let (w, ns, need) = (self.w, self.p.samples, self.p.min_matches);
        for ((((samples, &v), &thr), out), (good, best)) in self
            .samples
            .chunks_exact(ns)
            .zip(frame)
            .zip(&self.thr)
            .zip(raw.iter_mut())
            .zip(self.good.iter_mut().zip(self.best.iter_mut()))
        {
            let (g, b) = match_samples(samples, v, thr, need);
            *out = u8::from(g < need);
            *good = g as u8;
            *best = b;
        }
        if self.p.jitter_radius > 0 {
            for i in 0..raw.len() {
                if raw[i] == 0 {
                    continue;
                }
                let (x, y) = (i % w, i / w);
                if self.local_contrast(x, y) > self.thr[i]
                    && self.matches_a_neighbour(x, y, frame[i], need)
                {
                    raw[i] = 0;
                    // background by its neighbour: no missing-match penalty in D(x)
                    self.good[i] = need as u8;
                }
            }
        }
        raw.iter().map(|&r| r as usize).sum()
    }

    /// Pass 2: refresh samples of background pixels (ViBe's random conservative update with neighbour
    /// diffusion, faster into still-foreground neighbours: ghosts) and of long-still foreground pixels
    /// (absorption).
    fn learn(&mut self, frame: &[u8], raw: &[u8]) {
        let (w, h, ns) = (self.w, self.h, self.p.samples);
        let bootstrapping = self.frames <= self.p.bootstrap_frames;
        let absorb_after = if bootstrapping {
            self.p.bootstrap_absorb_frames
        } else {
            self.p.absorb_frames
        };
        // while bootstrapping, foreground also learns with probability 1 / period (16-bit draw)
        let blind_draw = match self.p.bootstrap_learn_period {
            0 => 0,
            p if bootstrapping => 65536 / p as u32,
            _ => 0,
        };
        let ghost_frames = self.p.ghost_frames;
        let wi = w as isize;
        let offsets = NEIGHBOURS.map(|(dx, dy)| dy * wi + dx);
        for y in 0..h {
            let row = y * w;
            let inner_row = y > 0 && y + 1 < h;
            let cells = raw[row..row + w]
                .iter()
                .zip(&frame[row..row + w])
                .zip(&self.draw[row..row + w]);
            for (x, ((&fg, &v), &draw)) in cells.enumerate() {
                let i = row + x;
                if fg == 0 {
                    // one 64-bit draw: bits 0-15 self update, 16-31 neighbour update, 32-47 and 45-60
                    // sample slots, 61-63 neighbour direction. The writes are unconditional (the old
                    // value is written back when the draw fails): 50% branches mispredict a lot.
                    let r = self.rng.next();
                    let own = i * ns + Rng::below(r >> 32, ns);
                    let keep = self.samples[own];
                    self.samples[own] = if ((r & 0xffff) as u32) < draw {
                        v
                    } else {
                        keep
                    };
                    let k = (r >> 61) as usize;
                    let j = if inner_row && x > 0 && x + 1 < w {
                        i.wrapping_add_signed(offsets[k])
                    } else {
                        neighbour_index(x, y, w, h, k)
                    };
                    let ghost = self.still_fg[j] >= ghost_frames;
                    let pushed =
                        ((((r >> 16) & 0xffff) as u32) < draw) | (ghost & (r & (1 << 31) != 0));
                    let slot = j * ns + Rng::below(r >> 45, ns);
                    let keep = self.samples[slot];
                    self.samples[slot] = if pushed { v } else { keep };
                } else {
                    let r = self.rng.next();
                    let still = self.still_fg[i];
                    let absorb = still >= absorb_after && r & 1 != 0;
                    let blind = still >= 1 && (((r >> 16) & 0xffff) as u32) < blind_draw;
                    if absorb || blind {
                        self.samples[i * ns + Rng::below(r >> 32, ns)] = v;
                    }
                }
            }
        }
    }

    /// The window of (x, y) within the jitter radius, clipped to the image: (x0, y0, x1, y1) inclusive.
    #[inline]
    fn window(&self, x: usize, y: usize) -> (usize, usize, usize, usize) {
        let r = self.p.jitter_radius;
        (
            x.saturating_sub(r),
            y.saturating_sub(r),
            (x + r).min(self.w - 1),
            (y + r).min(self.h - 1),
        )
    }

    /// The largest difference between the mean background at (x, y) and within the jitter radius: how
    /// much a camera shift of that size can change this pixel.
    #[inline]
    fn local_contrast(&self, x: usize, y: usize) -> u8 {
        let w = self.w;
        let (x0, y0, x1, y1) = self.window(x, y);
        let c = (self.background[y * w + x] >> 8) as u8;
        let mut most = 0;
        for ny in y0..=y1 {
            for &b in &self.background[ny * w + x0..=ny * w + x1] {
                most = most.max(((b >> 8) as u8).abs_diff(c));
            }
        }
        most
    }

    /// True when `v` matches the model of a pixel within the jitter radius of (x, y) (nearest first).
    #[inline]
    fn matches_a_neighbour(&self, x: usize, y: usize, v: u8, need: usize) -> bool {
        let (w, ns) = (self.w, self.p.samples);
        let (x0, y0, x1, y1) = self.window(x, y);
        let check =
            |j: usize| match_samples(&self.samples[j * ns..][..ns], v, self.thr[j], need).0 >= need;
        // the 8 nearest first: most shifts are small
        let near = NEIGHBOURS.iter().any(|&(dx, dy)| {
            let (nx, ny) = (x as isize + dx, y as isize + dy);
            nx >= x0 as isize
                && ny >= y0 as isize
                && nx <= x1 as isize
                && ny <= y1 as isize
                && check(ny as usize * w + nx as usize)
        });
        if near || self.p.jitter_radius < 2 {
            return near;
        }
        (y0..=y1).any(|ny| {
            (x0..=x1).any(|nx| (nx.abs_diff(x) > 1 || ny.abs_diff(y) > 1) && check(ny * w + nx))
        })
    }

    /// Pass 2: the per-pixel feedback (D, v, R, T) and the still-foreground counters, written without
    /// branches so the compiler runs it several pixels at a time.
    fn feedback(&mut self, frame: &[u8], raw: &[u8], last_fg: &[u8], last_fg_near: &[u8]) {
        let alpha = 1.0 / self.frames.min(MEAN_WINDOW) as f32;
        let base = self.p.threshold;
        feedback_pass(
            FeedbackState {
                dist_factor: &mut self.dist_factor,
                thr: &mut self.thr,
                update_period: &mut self.update_period,
                draw: &mut self.draw,
                mean_min_dist: &mut self.mean_min_dist,
                variation: &mut self.variation,
                prev: &mut self.prev,
                last_raw: &mut self.last_raw,
                last_blink: &mut self.last_blink,
                still_fg: &mut self.still_fg,
                background: &mut self.background,
            },
            FeedbackInput {
                good: &self.good,
                best: &self.best,
                frame,
                raw,
                last_fg,
                last_fg_near,
            },
            alpha,
            base,
            self.p.min_matches,
        );
    }
}

/// The per-pixel arrays the feedback pass rewrites.
struct FeedbackState<'a> {
    dist_factor: &'a mut [f32],
    thr: &'a mut [u8],
    update_period: &'a mut [f32],
    draw: &'a mut [u32],
    mean_min_dist: &'a mut [f32],
    variation: &'a mut [f32],
    prev: &'a mut [u8],
    last_raw: &'a mut [u8],
    last_blink: &'a mut [u8],
    still_fg: &'a mut [u16],
    background: &'a mut [u16],
}

/// The per-pixel arrays the feedback pass reads.
struct FeedbackInput<'a> {
    good: &'a [u8],
    best: &'a [u8],
    frame: &'a [u8],
    raw: &'a [u8],
    last_fg: &'a [u8],
    last_fg_near: &'a [u8],
}

/// The feedback loop over 8-pixel blocks: each block is copied into fixed-size local arrays, which the
/// compiler keeps in SIMD registers (it cannot prove the many per-pixel arrays do not alias otherwise).
fn feedback_pass(s: FeedbackState, inp: FeedbackInput, alpha: f32, base: f32, need: usize) {
    const L: usize = 8;
    let n = s.dist_factor.len();
    let still_max = (base / 2.0) as u8;
    let mut start = 0;
    while start < n {
        let len = L.min(n - start);
        let range = start..start + len;
        let mut d: [f32; L] = load(s.mean_min_dist, start);
        let good: [u8; L] = load(inp.good, start);
        let best: [u8; L] = load(inp.best, start);
        let mut var: [f32; L] = load(s.variation, start);
        let mut r: [f32; L] = load(s.dist_factor, start);
        let mut t: [f32; L] = load(s.update_period, start);
        let raw: [u8; L] = load(inp.raw, start);
        let last_raw: [u8; L] = load(s.last_raw, start);
        let mut last_blink: [u8; L] = load(s.last_blink, start);
        let fg: [u8; L] = load(inp.last_fg, start);
        let near: [u8; L] = load(inp.last_fg_near, start);
        let mut thr = [0u8; L];
        let mut draw = [0u32; L];
        let need_f = need as f32;
        for k in 0..L {
            // this frame's normalized minimal distance; foreground adds its share of missing matches
            let missing = if raw[k] != 0 {
                (need_f - good[k] as f32) / need_f
            } else {
                0.0
            };
            let md = (best[k] as f32 * (1.0 / 255.0) + missing).min(1.0);
            let dk = d[k] + (md - d[k]) * alpha;
            d[k] = dk;
            // blinking: the raw label flipped now or last frame, away from detected objects
            let blink = raw[k] ^ last_raw[k];
            let blinks = ((blink | last_blink[k]) & (1 - near[k].min(1))) != 0;
            last_blink[k] = blink;
            let was_fg = fg[k] != 0;
            let decay = if was_fg { V_DECR / 4.0 } else { V_DECR };
            let v = if blinks && dk > UNSTABLE_DIST {
                var[k] + V_INCR
            } else {
                (var[k] - decay).max(V_DECR)
            };
            var[k] = v;
            let rk = if r[k] < (1.0 + 2.0 * dk) * (1.0 + 2.0 * dk) {
                (r[k] + R_STEP * (v - V_DECR)).min(R_MAX)
            } else {
                (r[k] - R_STEP / v).max(1.0)
            };
            r[k] = rk;
            thr[k] = round_small((rk * base).clamp(0.0, 255.0)) as u8;
            let dd = dk.max(0.002);
            let slower = was_fg || (raw[k] != 0 && dk < UNSTABLE_DIST);
            let tk = if slower {
                (t[k] + T_INCR / (dd * v)).min(T_UPPER)
            } else {
                (t[k] - T_DECR * v / dd).max(T_LOWER)
            };
            t[k] = tk;
            draw[k] = round_small(65536.0 / tk);
        }
        store(s.mean_min_dist, start, &d);
        store(s.variation, start, &var);
        store(s.dist_factor, start, &r);
        store(s.thr, start, &thr);
        store(s.update_period, start, &t);
        store(s.draw, start, &draw);
        store(s.last_raw, start, &raw);
        store(s.last_blink, start, &last_blink);
        let cells = s.background[range.clone()]
            .iter_mut()
            .zip(s.still_fg[range.clone()].iter_mut())
            .zip(s.prev[range.clone()].iter_mut())
            .zip(inp.frame[range.clone()].iter().zip(&inp.raw[range.clone()]))
            .zip(&inp.last_fg[range]);
        for ((((bg, still_fg), prev), (&v, &raw)), &fg) in cells {
            // mean background: 1/16 per frame towards the value, where the pixel is background
            let b = *bg as i32;
            let step = (((v as i32) << 8) - b) >> 4;
            *bg = (b + step * (1 - raw as i32)) as u16;
            let still = fg != 0 && v.abs_diff(*prev) <= still_max;
            *still_fg = if still { still_fg.saturating_add(1) } else { 0 };
            *prev = v;
        }
        start += len;
    }
}

/// `L` values from `src[start..]`, zero-padded past the end. Full blocks copy a constant-size slice,
/// which compiles to plain vector moves.
#[inline(always)]
fn load<T: Copy + Default, const L: usize>(src: &[T], start: usize) -> [T; L] {
    let mut out = [T::default(); L];
    match src.get(start..start + L) {
        Some(block) => out.copy_from_slice(block),
        None => {
            let rest = &src[start..];
            out[..rest.len()].copy_from_slice(rest);
        }
    }
    out
}

/// Writes a block back to `dst[start..]` (the part that fits).
#[inline(always)]
fn store<T: Copy, const L: usize>(dst: &mut [T], start: usize, block: &[T; L]) {
    let end = dst.len().min(start + L);
    match dst.get_mut(start..start + L) {
        Some(out) => out.copy_from_slice(block),
        None => dst[start..end].copy_from_slice(&block[..end - start]),
    }
}

/// The 16-bit draw threshold for an update with probability `1 / t`.
#[inline(always)]
fn draw_threshold(t: f32) -> u32 {
    (65536.0 / t) as u32
}

/// `x` rounded to the nearest integer, for `0 <= x < 2^22`: adding 2^23 moves the integer part into the
/// low mantissa bits. Pure float add and bit ops, so loops using it vectorize (a saturating `as` cast
/// compiles to scalar code on baseline x86-64).
#[inline(always)]
fn round_small(x: f32) -> u32 {
    (x + 8_388_608.0).to_bits() & 0x7f_ffff
}

/// The matching distance of a pixel: its factor R(x) times the base threshold.
#[inline(always)]
fn threshold(dist_factor: f32, base: f32) -> u8 {
    (dist_factor * base).min(255.0) as u8
}

/// Counts the samples within `thr` of `v` (clamped to `need`) and returns the smallest distance. Every
/// sample is compared (no early exit): 16 samples at a time in one SIMD register.
#[inline(always)]
fn match_samples(samples: &[u8], v: u8, thr: u8, need: usize) -> (usize, u8) {
    let (chunks, rest) = samples.as_chunks::<16>();
    let mut good = 0usize;
    let mut best = u8::MAX;
    for chunk in chunks {
        let (hits, b) = match16(chunk, v, thr);
        good += if need <= 2 {
            // the count up to 2 without a popcount instruction (not in baseline x86-64)
            usize::from(hits != 0) + usize::from(hits & hits.wrapping_sub(1) != 0)
        } else {
            hits.count_ones() as usize
        };
        best = best.min(b);
    }
    for &s in rest {
        let d = v.abs_diff(s);
        good += usize::from(d <= thr);
        best = best.min(d);
    }
    (good.min(need), best)
}

/// For 16 samples: the bit mask of those within `thr` of `v`, and the smallest distance (SSE2).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn match16(chunk: &[u8; 16], v: u8, thr: u8) -> (u32, u8) {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_cvtsi128_si32, _mm_loadu_si128, _mm_max_epu8, _mm_min_epu8,
        _mm_movemask_epi8, _mm_set1_epi8, _mm_srli_si128, _mm_sub_epi8,
    };
    // SAFETY: this function only exists when SSE2 is enabled at compile time (the cfg above; SSE2 is
    // part of the x86_64 baseline), so every intrinsic below runs on a CPU that has it. The only memory
    // access is `_mm_loadu_si128`, which reads 16 bytes from `chunk`: a reference to exactly 16
    // initialized bytes, and the unaligned load has no alignment requirement.
    unsafe {
        let s = _mm_loadu_si128(chunk.as_ptr().cast());
        let vv = _mm_set1_epi8(v as i8);
        let d = _mm_sub_epi8(_mm_max_epu8(s, vv), _mm_min_epu8(s, vv));
        let within = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(thr as i8)), d);
        let hits = _mm_movemask_epi8(within) as u32;
        let m = _mm_min_epu8(d, _mm_srli_si128::<8>(d));
        let m = _mm_min_epu8(m, _mm_srli_si128::<4>(m));
        let m = _mm_min_epu8(m, _mm_srli_si128::<2>(m));
        let m = _mm_min_epu8(m, _mm_srli_si128::<1>(m));
        (hits, (_mm_cvtsi128_si32(m) & 0xff) as u8)
    }
}

/// Portable version of [`match16`] for other architectures.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
fn match16(chunk: &[u8; 16], v: u8, thr: u8) -> (u32, u8) {
    let mut hits = 0u32;
    let mut best = u8::MAX;
    for (k, &s) in chunk.iter().enumerate() {
        let d = v.abs_diff(s);
        hits |= u32::from(d <= thr) << k;
        best = best.min(d);
    }
    (hits, best)
}

/// The index of neighbour `k` (0..8) of (x, y), clamped to the image.
#[inline]
fn neighbour_index(x: usize, y: usize, w: usize, h: usize, k: usize) -> usize {
    let (dx, dy) = NEIGHBOURS[k & 7];
    let nx = (x as isize + dx).clamp(0, w as isize - 1) as usize;
    let ny = (y as isize + dy).clamp(0, h as isize - 1) as usize;
    ny * w + nx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ModelParams {
        ModelParams {
            samples: 16,
            min_matches: 2,
            threshold: 15.0,
            jitter_radius: 1,
            ghost_frames: 5,
            absorb_frames: 100,
            bootstrap_frames: 50,
            bootstrap_absorb_frames: 10,
            bootstrap_learn_period: 4,
        }
    }

    #[test]
    fn round_small_rounds() {
        for (x, want) in [
            (0.0, 0),
            (0.4, 0),
            (0.6, 1),
            (12.0, 12),
            (254.7, 255),
            (32768.0, 32768),
        ] {
            assert_eq!(round_small(x), want, "{x}");
        }
    }

    #[test]
    fn seeded_frame_is_background_and_a_new_object_is_not() {
        let (w, h) = (16, 12);
        let frame: Vec<u8> = (0..w * h).map(|i| 100 + (i % 5) as u8).collect();
        let mut m = SampleModel::new(params(), &frame, w, h, 7);
        let mut raw = vec![0; w * h];
        let zeros = vec![0; w * h];
        assert_eq!(m.step(&frame, &zeros, &zeros, &mut raw), 0);
        let mut obj = frame.clone();
        for y in 4..8 {
            for x in 5..9 {
                obj[y * w + x] = 200;
            }
        }
        assert_eq!(m.step(&obj, &zeros, &zeros, &mut raw), 16);
    }

    #[test]
    fn one_pixel_shift_is_absorbed_by_the_neighbour_check() {
        let (w, h): (usize, usize) = (20, 10);
        // vertical stripes 4 px wide: a 1 px shift changes every edge column
        let stripes = |shift: usize| -> Vec<u8> {
            (0..w * h)
                .map(|i| {
                    let x = (i % w).saturating_sub(shift);
                    if x / 4 % 2 == 0 { 40 } else { 200 }
                })
                .collect()
        };
        let mut raw = vec![0; w * h];
        let zeros = vec![0; w * h];
        let mut m = SampleModel::new(params(), &stripes(0), w, h, 1);
        assert_eq!(m.step(&stripes(1), &zeros, &zeros, &mut raw), 0);
        // a real change is still seen
        let mut changed = stripes(1);
        changed[5 * w + 10] = 120;
        assert_eq!(m.step(&changed, &zeros, &zeros, &mut raw), 1);
    }
}
