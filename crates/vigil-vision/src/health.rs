//! Camera health from the picture: covered, blocked, defocused, moved, dark and frozen, each a state that
//! starts and ends, judged against a reference the detector learns from the camera itself.
//!
//! Every frame is reduced to a few numbers on a small gray picture ([`WORK_WIDTH`] wide): its brightness
//! and contrast, a sharpness that does not change with lighting (mean gradient over contrast), the
//! contrast of each cell of a grid, and a thumbnail normalised for brightness and contrast. The first
//! [`HealthConfig::learn_seconds`] give the reference (as at commissioning); while nothing is wrong it is
//! refreshed slowly, so day and night, weather and a moved chair do not turn into alarms. Each condition
//! must hold for its own time before its state starts, and be gone for [`HealthConfig::clear_seconds`]
//! before it ends, so a person passing in front of the lens or a light switched on is not a tamper:
//!
//! | state | condition |
//! |---|---|
//! | `covered` | the picture is near-uniform: contrast under 3 % of its brightness (a hand, tape, a cap, spray) |
//! | `blocked` | half the cells of a grid are flat, and a quarter of them had texture in the reference (a board, a parked van) |
//! | `dark` | mean brightness under 30 of 255 and not covered (lights out, no IR); a dark picture is not also judged blocked |
//! | `defocused` | sharpness under 60 % of the reference's |
//! | `moved` | the thumbnail matches the reference best at a shift of 4 % of the width or more, or no longer matches at all (turned, zoomed) |
//! | `frozen` | nine in ten consecutive frames identical over 3 s (packets arrive, the picture does not change; the encoder's key frames of a frozen picture differ a little) |
//!
//! The thresholds come from what each failure does to a picture, not from the shared clips; the tests
//! make each failure with FFmpeg filters on real footage and check that untouched footage raises nothing.

use serde::Serialize;
use vigil_core::GrayImage;

/// Width of the gray picture the detector is given (the caller scales; height keeps the aspect).
pub const WORK_WIDTH: u32 = 320;

/// The size (width, height) a `width` x `height` frame is scaled to for [`HealthDetector::update`]:
/// [`WORK_WIDTH`] wide, the aspect kept, an even height of at least 16.
pub fn work_size(width: u32, height: u32) -> (u32, u32) {
    let h = u64::from(height) * u64::from(WORK_WIDTH) / u64::from(width.max(1));
    (WORK_WIDTH, (h as u32).max(16) & !1)
}
/// Thumbnail width for matching against the reference (a quarter of the work width).
const THUMB_DIV: usize = 4;
/// Grid of cells for `blocked`.
const GRID: (usize, usize) = (16, 12);
/// Mean brightness (0-255) under which the scene is too dark to use.
const DARK: f32 = 30.0;
/// Seconds over which consecutive frames are compared for `frozen`, and the share of identical pairs
/// that means frozen (an encoder re-sends a frozen picture's key frames slightly differently).
const FROZEN_WINDOW_MS: i64 = 3_000;
const FROZEN_SHARE: f32 = 0.9;
/// A cell of the grid whose contrast (standard deviation of gray levels) is under this is flat.
const FLAT: f32 = 2.5;
/// Sharpness under this share of the reference's is out of focus (normal life moves it by about 15 %).
const DEFOCUS_RATIO: f32 = 0.6;
/// Time constant of the reference's refresh while all is well (seconds): slow enough that a failure
/// that comes on gradually is still seen, fast enough to follow a day's light.
const REFRESH_SECONDS: f32 = 600.0;
/// Largest shift searched, as a share of the thumbnail's size.
const MAX_SHIFT: f32 = 0.2;

/// A health condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum HealthKind {
    /// Near-uniform picture.
    Covered,
    /// Most of the view replaced by a flat object.
    Blocked,
    /// Too dark to use.
    Dark,
    /// Sharpness well below the reference.
    Defocused,
    /// The view no longer matches the reference.
    Moved,
    /// The picture no longer changes.
    Frozen,
}

impl HealthKind {
    /// Every kind, in the order they are judged.
    pub const ALL: [HealthKind; 6] = [
        HealthKind::Covered,
        HealthKind::Blocked,
        HealthKind::Dark,
        HealthKind::Defocused,
        HealthKind::Moved,
        HealthKind::Frozen,
    ];

    /// Its name (`covered`, `blocked`...).
    pub fn name(self) -> &'static str {
        match self {
            HealthKind::Covered => "covered",
            HealthKind::Blocked => "blocked",
            HealthKind::Dark => "dark",
            HealthKind::Defocused => "defocused",
            HealthKind::Moved => "moved",
            HealthKind::Frozen => "frozen",
        }
    }
}

/// Times and levels.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    /// Seconds of footage the reference is learned from before anything is judged.
    pub learn_seconds: f64,
    /// Seconds a condition must be gone before its state ends.
    pub clear_seconds: f64,
    /// Seconds each condition must hold before its state starts.
    pub hold_seconds: [(HealthKind, f64); 6],
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            learn_seconds: 3.0,
            clear_seconds: 3.0,
            hold_seconds: [
                (HealthKind::Covered, 2.0),
                (HealthKind::Blocked, 3.0),
                (HealthKind::Dark, 5.0),
                (HealthKind::Defocused, 4.0),
                (HealthKind::Moved, 4.0),
                (HealthKind::Frozen, 6.0),
            ],
        }
    }
}

impl HealthConfig {
    fn hold(&self, kind: HealthKind) -> f64 {
        self.hold_seconds
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(5.0, |(_, s)| *s)
    }
}

/// A state change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthChange {
    /// What.
    pub kind: HealthKind,
    /// True when the state starts, false when it ends.
    pub on: bool,
    /// When its condition began (start) or went away (end), ms on the caller's clock.
    pub at_ms: i64,
    /// For `moved`: the shift of the view against the reference as a share of the width and height
    /// (`None` when the view no longer matches at any shift: turned or zoomed).
    pub shift: Option<(f32, f32)>,
}

/// The numbers of one frame.
#[derive(Debug, Clone)]
struct Features {
    mean: f32,
    std: f32,
    sharpness: f32,
    cells: Vec<f32>,
    thumb: Vec<f32>,
    tw: usize,
    th: usize,
}

/// The reference the frames are judged against.
#[derive(Debug, Clone)]
struct Reference {
    sharpness: f32,
    cells: Vec<f32>,
    thumb: Vec<f32>,
    /// Usual matching cost of a normal frame against the reference at no shift.
    cost: f32,
}

#[derive(Debug, Default, Clone, Copy)]
struct Tracker {
    /// When the condition started holding (ms).
    since: Option<i64>,
    /// When it stopped holding while the state was on (ms).
    gone_since: Option<i64>,
    on: bool,
}

/// One camera's health detector.
#[derive(Debug)]
pub struct HealthDetector {
    config: HealthConfig,
    start_ms: Option<i64>,
    learning: Vec<Features>,
    reference: Option<Reference>,
    previous: Option<Vec<u8>>,
    trackers: [Tracker; 6],
    last_ms: Option<i64>,
    /// Whether each recent frame was identical to the one before (`FROZEN_WINDOW_MS`).
    pairs: std::collections::VecDeque<(i64, bool)>,
}

fn stats(v: &[f32]) -> (f32, f32) {
    let n = v.len().max(1) as f32;
    let mean = v.iter().sum::<f32>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / n;
    (mean, var.sqrt())
}

fn median(mut v: Vec<f32>) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

fn features(img: &GrayImage) -> Features {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let px: Vec<f32> = (0..h)
        .flat_map(|y| img.row(y as u32).iter().map(|&p| p as f32))
        .collect();
    let (mean, std) = stats(&px);
    // Mean absolute gradient (central differences) over contrast: lighting scales both.
    let mut grad = 0.0f32;
    let mut n = 0usize;
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let gx = px[y * w + x + 1] - px[y * w + x - 1];
            let gy = px[(y + 1) * w + x] - px[(y - 1) * w + x];
            grad += gx.abs() + gy.abs();
            n += 1;
        }
    }
    let sharpness = grad / n.max(1) as f32 / (std + 2.0);
    let (gw, gh) = GRID;
    let mut cells = Vec::with_capacity(gw * gh);
    for cy in 0..gh {
        for cx in 0..gw {
            let (x0, x1) = (cx * w / gw, (cx + 1) * w / gw);
            let (y0, y1) = (cy * h / gh, (cy + 1) * h / gh);
            let vals: Vec<f32> = (y0..y1)
                .flat_map(|y| px[y * w + x0..y * w + x1].iter().copied())
                .collect();
            cells.push(stats(&vals).1);
        }
    }
    let (tw, th) = (w / THUMB_DIV, h / THUMB_DIV);
    let mut thumb = vec![0.0f32; tw * th];
    for ty in 0..th {
        for tx in 0..tw {
            let mut s = 0.0;
            for y in ty * THUMB_DIV..(ty + 1) * THUMB_DIV {
                for x in tx * THUMB_DIV..(tx + 1) * THUMB_DIV {
                    s += px[y * w + x];
                }
            }
            thumb[ty * tw + tx] = s / (THUMB_DIV * THUMB_DIV) as f32;
        }
    }
    let (tm, ts) = stats(&thumb);
    for v in &mut thumb {
        *v = (*v - tm) / (ts + 1.0);
    }
    Features {
        mean,
        std,
        sharpness,
        cells,
        thumb,
        tw,
        th,
    }
}

/// Mean absolute difference of `a` against `reference` shifted by (dx, dy), over the overlap.
fn cost(a: &[f32], reference: &[f32], w: usize, h: usize, dx: isize, dy: isize) -> f32 {
    let mut s = 0.0f32;
    let mut n = 0usize;
    for y in 0..h as isize {
        let ry = y - dy;
        if ry < 0 || ry >= h as isize {
            continue;
        }
        for x in 0..w as isize {
            let rx = x - dx;
            if rx < 0 || rx >= w as isize {
                continue;
            }
            s += (a[(y as usize) * w + x as usize] - reference[(ry as usize) * w + rx as usize])
                .abs();
            n += 1;
        }
    }
    if n < w * h / 2 {
        return f32::MAX;
    }
    s / n as f32
}

impl HealthDetector {
    /// A detector learning its reference from the first frames it is given.
    pub fn new(config: HealthConfig) -> HealthDetector {
        HealthDetector {
            config,
            start_ms: None,
            learning: Vec::new(),
            reference: None,
            previous: None,
            trackers: [Tracker::default(); 6],
            last_ms: None,
            pairs: std::collections::VecDeque::new(),
        }
    }

    /// The states on now.
    pub fn active(&self) -> Vec<HealthKind> {
        HealthKind::ALL
            .iter()
            .zip(&self.trackers)
            .filter(|(_, t)| t.on)
            .map(|(k, _)| *k)
            .collect()
    }

    /// Judges a frame (gray, [`WORK_WIDTH`] wide) taken at `at_ms`; returns the states that started or
    /// ended.
    pub fn update(&mut self, frame: &GrayImage, at_ms: i64) -> Vec<HealthChange> {
        let f = features(frame);
        let identical = self.previous.as_ref().is_some_and(|p| {
            p.len() == frame.data().len() && {
                let diff: u64 = p
                    .iter()
                    .zip(frame.data())
                    .map(|(a, b)| u64::from(a.abs_diff(*b)))
                    .sum();
                (diff as f64) < 0.02 * p.len() as f64
            }
        });
        self.previous = Some(frame.data().to_vec());
        let start = *self.start_ms.get_or_insert(at_ms);
        let Some(reference) = self.reference.clone() else {
            self.learning.push(f);
            if (at_ms - start) as f64 >= self.config.learn_seconds * 1000.0
                && self.learning.len() >= 5
            {
                self.reference = Some(self.learn());
            }
            return Vec::new();
        };
        let covered = f.std < 0.03 * f.mean.max(20.0);
        let textured: Vec<usize> = (0..reference.cells.len())
            .filter(|&i| reference.cells[i] >= 6.0)
            .collect();
        let flattened = textured
            .iter()
            .filter(|&&i| f.cells[i] < FLAT.max(0.15 * reference.cells[i]))
            .count();
        let dark = !covered && f.mean < DARK;
        // Half the view flat now, and a quarter of it flat where the reference had texture.
        let flat_now = f.cells.iter().filter(|&&c| c < FLAT).count();
        let blocked =
            !covered && !dark && flat_now * 2 >= f.cells.len() && flattened * 4 >= f.cells.len();
        let defocused =
            !covered && !blocked && !dark && f.sharpness < DEFOCUS_RATIO * reference.sharpness;
        let (moved, shift, zero_cost) = if covered || blocked || dark {
            (false, None, f32::MAX)
        } else {
            self.judge_move(&f, &reference)
        };
        self.pairs.push_back((at_ms, identical));
        while self
            .pairs
            .front()
            .is_some_and(|(t, _)| at_ms - t > FROZEN_WINDOW_MS)
        {
            self.pairs.pop_front();
        }
        let same = self.pairs.iter().filter(|(_, i)| *i).count();
        let frozen = !covered
            && self.pairs.len() >= 5
            && same as f32 >= FROZEN_SHARE * self.pairs.len() as f32;

        let conditions = [covered, blocked, dark, defocused, moved, frozen];
        let mut out = Vec::new();
        for (i, kind) in HealthKind::ALL.into_iter().enumerate() {
            let hold = (self.config.hold(kind) * 1000.0) as i64;
            let clear = (self.config.clear_seconds * 1000.0) as i64;
            let t = &mut self.trackers[i];
            if conditions[i] {
                t.gone_since = None;
                let since = *t.since.get_or_insert(at_ms);
                if !t.on && at_ms - since >= hold {
                    t.on = true;
                    out.push(HealthChange {
                        kind,
                        on: true,
                        at_ms: since,
                        shift: if kind == HealthKind::Moved {
                            shift
                        } else {
                            None
                        },
                    });
                }
            } else {
                t.since = None;
                if t.on {
                    let gone = *t.gone_since.get_or_insert(at_ms);
                    if at_ms - gone >= clear {
                        t.on = false;
                        t.gone_since = None;
                        out.push(HealthChange {
                            kind,
                            on: false,
                            at_ms: gone,
                            shift: None,
                        });
                    }
                }
            }
        }
        // Refresh the reference slowly while all is well (lighting through the day, small changes).
        let dt = self.last_ms.map_or(0, |l| (at_ms - l).clamp(0, 1000));
        self.last_ms = Some(at_ms);
        if self.trackers.iter().all(|t| !t.on && t.since.is_none()) && zero_cost < f32::MAX {
            let r = self.reference.get_or_insert(reference);
            let a = dt as f32 / 1000.0 / REFRESH_SECONDS;
            r.sharpness += a * (f.sharpness - r.sharpness);
            for (c, v) in r.cells.iter_mut().zip(&f.cells) {
                *c += a * (v - *c);
            }
            for (c, v) in r.thumb.iter_mut().zip(&f.thumb) {
                *c += a * (v - *c);
            }
            r.cost += a * (zero_cost - r.cost);
        }
        out
    }

    /// Whether the view moved against the reference: (moved, shift as shares of width and height,
    /// matching cost at no shift).
    fn judge_move(&self, f: &Features, r: &Reference) -> (bool, Option<(f32, f32)>, f32) {
        let (w, h) = (f.tw, f.th);
        if r.thumb.len() != w * h || w < 8 || h < 8 {
            return (false, None, f32::MAX);
        }
        let zero = cost(&f.thumb, &r.thumb, w, h, 0, 0);
        let (mx, my) = (
            (w as f32 * MAX_SHIFT) as isize,
            (h as f32 * MAX_SHIFT) as isize,
        );
        let mut best = (zero, 0isize, 0isize);
        for dy in -my..=my {
            for dx in -mx..=mx {
                let c = cost(&f.thumb, &r.thumb, w, h, dx, dy);
                if c < best.0 {
                    best = (c, dx, dy);
                }
            }
        }
        let (c, dx, dy) = best;
        let far = (dx.abs() as f32) >= 0.04 * w as f32 || (dy.abs() as f32) >= 0.04 * h as f32;
        let shifted = far && c < 0.75 * zero;
        // No shift explains the picture and it is far from what a normal frame costs: turned or zoomed.
        let lost = !shifted && c > (3.0 * r.cost).max(0.45);
        let shift = shifted.then_some((dx as f32 / w as f32, dy as f32 / h as f32));
        (shifted || lost, shift, zero)
    }

    fn learn(&mut self) -> Reference {
        let frames = std::mem::take(&mut self.learning);
        let sharpness = median(frames.iter().map(|f| f.sharpness).collect());
        let ncells = frames[0].cells.len();
        let cells = (0..ncells)
            .map(|i| median(frames.iter().map(|f| f.cells[i]).collect()))
            .collect();
        let nthumb = frames[0].thumb.len();
        let thumb: Vec<f32> = (0..nthumb)
            .map(|i| median(frames.iter().map(|f| f.thumb[i]).collect()))
            .collect();
        let (w, h) = (frames[0].tw, frames[0].th);
        let cost = median(
            frames
                .iter()
                .map(|f| cost(&f.thumb, &thumb, w, h, 0, 0))
                .collect(),
        )
        .max(0.05);
        Reference {
            sharpness,
            cells,
            thumb,
            cost,
        }
    }

    /// Ends every state still on at `at_ms` (the end of a file).
    pub fn finish(&mut self, at_ms: i64) -> Vec<HealthChange> {
        let mut out = Vec::new();
        for (i, kind) in HealthKind::ALL.into_iter().enumerate() {
            if self.trackers[i].on {
                self.trackers[i].on = false;
                out.push(HealthChange {
                    kind,
                    on: false,
                    at_ms: self.trackers[i].gone_since.unwrap_or(at_ms),
                    shift: None,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured picture (sums of sinusoids, nothing periodic within the search range) shifted by
    /// `dx` pixels, scaled by `gain`, with a little noise that changes with `noise`.
    fn scene(dx: i32, gain: f32, noise: u32) -> GrayImage {
        let (w, h) = (WORK_WIDTH, 180);
        let mut data = Vec::with_capacity((w * h) as usize);
        for y in 0..h {
            for x in 0..w {
                let (sx, fy) = ((x as i32 + dx) as f32, y as f32);
                let v = 128.0
                    + 50.0 * (0.037 * sx).sin()
                    + 40.0 * (0.061 * fy + 0.023 * sx).sin()
                    + 30.0 * (0.11 * sx + 0.05 * fy).sin();
                let n = ((x * 7919 + y * 104_729 + noise * 31) % 7) as f32;
                data.push((v * gain + n).clamp(0.0, 255.0) as u8);
            }
        }
        GrayImage::from_vec(w, h, data).unwrap_or_else(|_| GrayImage::filled(w, h, 0))
    }

    fn run(frames: impl Fn(i64) -> GrayImage, seconds: i64) -> Vec<(HealthKind, bool, i64)> {
        let mut d = HealthDetector::new(HealthConfig::default());
        let mut out = Vec::new();
        for i in 0..seconds * 10 {
            let t = i * 100;
            for c in d.update(&frames(t), t) {
                out.push((c.kind, c.on, c.at_ms / 1000));
            }
        }
        out
    }

    #[test]
    fn a_steady_scene_with_noise_raises_nothing() {
        assert_eq!(run(|t| scene(0, 1.0, t as u32), 30), []);
    }

    #[test]
    fn lights_switched_are_not_tamper() {
        // Brightness halves at 10 s and comes back at 20 s.
        let got = run(
            |t| {
                scene(
                    0,
                    if (10_000..20_000).contains(&t) {
                        0.5
                    } else {
                        1.0
                    },
                    t as u32,
                )
            },
            30,
        );
        assert_eq!(got, []);
    }

    #[test]
    fn a_cover_and_a_shift_start_and_end() {
        let got = run(
            |t| {
                if (10_000..20_000).contains(&t) {
                    GrayImage::filled(WORK_WIDTH, 180, 90)
                } else {
                    scene(0, 1.0, t as u32)
                }
            },
            30,
        );
        assert_eq!(
            got,
            [
                (HealthKind::Covered, true, 10),
                (HealthKind::Covered, false, 20)
            ]
        );
        let got = run(
            |t| scene(if t >= 10_000 { 40 } else { 0 }, 1.0, t as u32),
            30,
        );
        assert_eq!(got.first(), Some(&(HealthKind::Moved, true, 10)), "{got:?}");
    }
}
