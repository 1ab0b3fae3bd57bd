//! A camera's switches to IR (night) mode and back to day, as information, not as a problem.
//!
//! A day/night camera at dusk swaps its IR-cut filter out and switches its picture to monochrome: the
//! chroma collapses to neutral while the picture stays lit (usually with a brightness step as the IR
//! illuminator comes on). That is worth knowing (detection works differently on an IR picture, and a
//! camera stuck in IR by day has a faulty light sensor) but it is not a failure, so it is reported apart
//! from the health states of [`crate::health`]: the `ir_mode` state, with a start (the switch to IR) and an
//! end (back to day).
//!
//! The detector learns the camera's usual colourfulness (`vigil_media::DecodedFrame::chroma`: the mean
//! distance of the chroma from neutral) from the first [`LEARN_MS`] and refreshes it slowly while in
//! colour. The picture is in IR mode when its colourfulness falls under [`MONO_SHARE`] of that
//! ([`is_mono`]) while it is neither near-uniform (a gray lens cover is
//! colourless too: that is `covered`) nor too dark to use (`dark`). A camera whose usual colourfulness
//! is under [`COLOUR`] is taken to be monochrome (or to have started in IR) and is not judged until it
//! shows colour. Held [`HOLD_MS`], the state starts; gone [`CLEAR_MS`], it ends. The thresholds come
//! from what the switch does to a picture (chroma at neutral within an encoder's rounding), not from the
//! shared clips.

use vigil_core::GrayImage;

/// The state's name (`kind` in `vigil analyze --health`, `state` of the event).
pub use vigil_core::IR_MODE;
/// Seconds of footage the usual colourfulness is learned from (ms).
pub const LEARN_MS: i64 = 3_000;
/// A monochrome picture must last this long before the state starts (ms): a passing gray truck filling
/// the view does not switch a camera to IR.
pub const HOLD_MS: i64 = 5_000;
/// Colour must be back this long before the state ends (ms).
pub const CLEAR_MS: i64 = 3_000;
/// Usual colourfulness under which a camera is taken to be monochrome and not judged (levels of 255): a
/// gray car park by day can sit at 1-2 and touch 0.5; the monochrome threshold of a camera judged is
/// then at least 1, where an encoder's rounding leaves a monochrome picture (0-0.5).
pub const COLOUR: f32 = 5.0;
/// Share of the usual colourfulness under which the picture is monochrome (a dull, overcast scene keeps
/// more than half of it).
pub const MONO_SHARE: f32 = 0.2;
/// Mean brightness (0-255) under which a picture is too dark to judge (as `dark` in [`crate::health`]).
const DARK: f32 = 30.0;
/// Time constant of the usual colourfulness's refresh while in colour (s): a camera that starts in IR
/// learns its day's colour within the first hour of daylight.
const REFRESH_SECONDS: f32 = 600.0;

/// Whether a colourfulness of `chroma` is monochrome for a camera whose usual one is `usual`.
pub fn is_mono(chroma: f32, usual: f32) -> bool {
    usual >= COLOUR && chroma < MONO_SHARE * usual
}

/// A switch: to IR (`on`) or back to day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayNightChange {
    /// True for the switch to IR mode, false for the switch back to day.
    pub on: bool,
    /// When the picture switched, ms on the caller's clock.
    pub at_ms: i64,
    /// Mean brightness (0-255) after the switch against before it (the IR illuminator's step).
    pub brightness: (f32, f32),
}

/// One camera's day/night judge.
#[derive(Debug, Default)]
pub struct DayNightDetector {
    start_ms: Option<i64>,
    learning: Vec<f32>,
    usual: Option<f32>,
    since: Option<i64>,
    gone_since: Option<i64>,
    on: bool,
    last_ms: Option<i64>,
    /// Brightness of colour frames (slow average) and of the frames since the switch began.
    day_brightness: Option<f32>,
    brightness_at_switch: f32,
}

/// Mean and standard deviation of a gray picture, on every other pixel of every other row.
fn brightness(gray: &GrayImage) -> (f32, f32) {
    let (mut s, mut s2, mut n) = (0f64, 0f64, 0f64);
    for y in (0..gray.height()).step_by(2) {
        for &p in gray.row(y).iter().step_by(2) {
            let p = f64::from(p);
            s += p;
            s2 += p * p;
            n += 1.0;
        }
    }
    if n == 0.0 {
        return (0.0, 0.0);
    }
    let mean = s / n;
    (mean as f32, (s2 / n - mean * mean).max(0.0).sqrt() as f32)
}

impl DayNightDetector {
    /// A detector that learns the camera's colourfulness from the first frames it is given.
    pub fn new() -> DayNightDetector {
        DayNightDetector::default()
    }

    /// The camera's usual colourfulness, once learned.
    pub fn usual(&self) -> Option<f32> {
        self.usual
    }

    /// Whether the camera is in IR mode now.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Judges a frame: its gray picture (any size) and its colourfulness, taken at `at_ms`; the switch it
    /// completes, if any.
    pub fn update(&mut self, gray: &GrayImage, chroma: f32, at_ms: i64) -> Option<DayNightChange> {
        let start = *self.start_ms.get_or_insert(at_ms);
        let dt = self.last_ms.map_or(0, |l| (at_ms - l).clamp(0, 1000));
        self.last_ms = Some(at_ms);
        let (mean, std) = brightness(gray);
        let Some(usual) = self.usual else {
            self.learning.push(chroma);
            if at_ms - start >= LEARN_MS && self.learning.len() >= 5 {
                let mut v = std::mem::take(&mut self.learning);
                v.sort_by(f32::total_cmp);
                self.usual = Some(v[v.len() / 2]);
                self.day_brightness = Some(mean);
            }
            return None;
        };
        let usable = mean >= DARK && std >= 0.03 * mean.max(20.0);
        let mono = usable && is_mono(chroma, usual);
        let mut out = None;
        if mono {
            self.gone_since = None;
            if self.since.is_none() {
                self.since = Some(at_ms);
                self.brightness_at_switch = mean;
            }
            let since = self.since.unwrap_or(at_ms);
            if !self.on && at_ms - since >= HOLD_MS {
                self.on = true;
                out = Some(DayNightChange {
                    on: true,
                    at_ms: since,
                    brightness: (
                        self.brightness_at_switch,
                        self.day_brightness.unwrap_or(mean),
                    ),
                });
            }
        } else {
            self.since = None;
            if self.on {
                let gone = *self.gone_since.get_or_insert(at_ms);
                if at_ms - gone >= CLEAR_MS {
                    self.on = false;
                    self.gone_since = None;
                    out = Some(DayNightChange {
                        on: false,
                        at_ms: gone,
                        brightness: (mean, self.brightness_at_switch),
                    });
                }
            }
        }
        // Refresh what is usual while the picture is in colour.
        if !self.on && self.since.is_none() && usable {
            let a = dt as f32 / 1000.0 / REFRESH_SECONDS;
            self.usual = Some(usual + a * (chroma - usual));
            let b = self.day_brightness.get_or_insert(mean);
            *b += (dt as f32 / 1000.0 / 10.0).min(1.0) * (mean - *b);
        }
        out
    }

    /// Ends the state at `at_ms` if it is on (the end of a file).
    pub fn finish(&mut self, at_ms: i64) -> Option<DayNightChange> {
        if !self.on {
            return None;
        }
        self.on = false;
        Some(DayNightChange {
            on: false,
            at_ms: self.gone_since.unwrap_or(at_ms),
            brightness: (self.brightness_at_switch, self.brightness_at_switch),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured picture at brightness `gain` (noise changes with `t`).
    fn scene(gain: f32, t: i64) -> GrayImage {
        let (w, h) = (160u32, 90u32);
        let data = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                let v = 120.0 + 50.0 * (0.09 * x).sin() + 40.0 * (0.13 * y + 0.05 * x).sin();
                (v * gain + ((i as i64 * 7 + t) % 5) as f32).clamp(0.0, 255.0) as u8
            })
            .collect();
        GrayImage::from_vec(w, h, data).unwrap_or_else(|_| GrayImage::filled(w, h, 0))
    }

    fn run(frame: impl Fn(i64) -> (GrayImage, f32), seconds: i64) -> Vec<(bool, i64, (f32, f32))> {
        let mut d = DayNightDetector::new();
        let mut out = Vec::new();
        for i in 0..seconds * 5 {
            let t = i * 200;
            let (g, c) = frame(t);
            if let Some(ch) = d.update(&g, c, t) {
                out.push((ch.on, ch.at_ms, ch.brightness));
            }
        }
        out
    }

    #[test]
    fn a_switch_to_monochrome_with_a_brightness_step_is_ir_mode_until_colour_is_back() {
        let night = 10_000..30_000;
        let got = run(
            |t| {
                if night.contains(&t) {
                    (scene(1.3, t), 0.2)
                } else {
                    (scene(1.0, t), 9.0)
                }
            },
            40,
        );
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!((got[0].0, got[0].1), (true, 10_000));
        assert!(got[0].2.0 > got[0].2.1 + 10.0, "brightness step: {got:?}");
        assert_eq!((got[1].0, got[1].1), (false, 30_000));
    }

    #[test]
    fn a_gray_cover_a_dark_picture_a_dull_moment_and_a_monochrome_camera_are_not_ir_mode() {
        // A gray cover: colourless but uniform.
        let cover = GrayImage::filled(160, 90, 80);
        let got = run(
            |t| {
                if (10_000..30_000).contains(&t) {
                    (cover.clone(), 0.0)
                } else {
                    (scene(1.0, t), 9.0)
                }
            },
            40,
        );
        assert_eq!(got, []);
        // Lights out and no IR: dark, not IR.
        let got = run(
            |t| {
                if (10_000..30_000).contains(&t) {
                    (scene(0.1, t), 0.3)
                } else {
                    (scene(1.0, t), 9.0)
                }
            },
            40,
        );
        assert_eq!(got, []);
        // Colour halves (an overcast moment), or a gray truck for 4 s: not IR.
        let got = run(
            |t| match t {
                10_000..20_000 => (scene(0.8, t), 4.0),
                25_000..29_000 => (scene(1.0, t), 0.1),
                _ => (scene(1.0, t), 9.0),
            },
            40,
        );
        assert_eq!(got, []);
        // A monochrome camera.
        assert_eq!(run(|t| (scene(1.0, t), 0.3), 40), []);
    }
}
