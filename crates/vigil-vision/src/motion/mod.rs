//! Motion detection: a learned per-pixel background model that tells the detector where to look.
//!
//! Feed gray frames of one stream in order to [`MotionDetector::update`]; each call returns the motion
//! mask, the boxes around moving regions (in the input frame's pixel coordinates), the changed fraction,
//! the camera's shake and photometric change, and whether the model was rebuilt this frame. The detector
//! is causal: it only uses the frames already seen, and bootstraps from the first one.
//!
//! Per frame:
//! 1. integer downscale (box average) to at most [`MotionConfig::max_width`] columns;
//! 2. camera shake: the frame's global translation against the background is estimated and undone
//!    (`shift.rs`);
//! 3. photometry: global exposure / gain / light changes (`gain * I + offset`) are estimated and undone
//!    (`exposure.rs`);
//! 4. per-pixel segmentation against a sample-based background model with SuBSENSE-style adaptive
//!    thresholds and update rates, a neighbourhood check for residual jitter, ghost diffusion and
//!    absorption of long-still objects (`model.rs`);
//! 5. scene change: when a large part of the frame changed and the change is spread over the image or
//!    keeps the scene's structure under a new light (lights switched, camera moved), or a very large
//!    change persists, the model is rebuilt from this frame, which reports `recalibrated = true` and an
//!    empty mask instead of a flood of motion (`global.rs`);
//! 6. clean-up: 3x3 majority (median), closing of radius [`MotionConfig::closing`], hole filling,
//!    removal of components smaller than [`MotionConfig::min_area`] (`mask.rs`, `blobs.rs`);
//! 7. boxes of the remaining components, merged when closer than [`MotionConfig::merge_gap`], mapped
//!    back to frame coordinates.

mod blobs;
mod exposure;
mod global;
mod mask;
mod model;
mod shift;

use blobs::{Labeler, merge_close};
use exposure::ExposureTracker;
use mask::MaskOps;
use model::{ModelParams, SampleModel};
use serde::{Deserialize, Serialize};
use shift::{ShiftEstimator, warp_into_reference, warp_to_frame};
use thiserror::Error;
use vigil_core::{BBox, GrayImage};

/// Settings of the motion detector. Frame counts are in analysed frames (at 5 fps, 50 frames = 10 s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MotionConfig {
    /// Frames wider than this are averaged down by an integer factor before modelling (boxes and mask are
    /// still reported at the input size). Default 400: 320-360 px frames run as they are, 720 px frames
    /// at half size.
    pub max_width: u32,
    /// Background samples kept per pixel. Default 16 (one SIMD register per pixel).
    pub samples: usize,
    /// Samples that must match for a pixel to be background. Default 2.
    pub min_matches: usize,
    /// Base intensity distance (0-255) under which a sample matches; raised per pixel where the background
    /// is dynamic. Default 12.
    pub threshold: f32,
    /// Largest camera shake compensated, in processing pixels: each frame's global translation against
    /// the background is estimated and undone before modelling. 0 disables it. Default 16.
    pub max_shift: u8,
    /// Residual jitter tolerance in pixels: a pixel that differs from its own model is still background
    /// when it matches the model of a pixel up to this far away, where the background has enough local
    /// contrast for a shift to explain the difference. 0 disables the check. Default 1.
    pub jitter_radius: u8,
    /// Frames a foreground pixel must stay unchanged before its background neighbours diffuse into it
    /// quickly (ghost removal). Default 5.
    pub ghost_frames: u16,
    /// Frames a foreground pixel must stay unchanged before it is absorbed into the background (a parked
    /// car stops being motion). Default 150.
    pub absorb_frames: u16,
    /// Frames after start or recalibration during which [`MotionConfig::bootstrap_absorb_frames`] applies
    /// instead of `absorb_frames`. Default 100.
    pub bootstrap_frames: u32,
    /// Absorption delay while bootstrapping, to clear ghosts of objects in the first frame. Default 10.
    pub bootstrap_absorb_frames: u16,
    /// While bootstrapping, a foreground pixel whose value has not changed since the last frame also
    /// learns it with probability 1 / this, so ghosts of objects in the first frame clear within a few
    /// frames even where traffic keeps crossing them (0 disables). Default 8.
    pub bootstrap_learn_period: u16,
    /// Closing radius in pixels (that many 3x3 dilations, then as many erosions) joining the parts of an
    /// object the model only partly separates from the background. Default 3.
    pub closing: u8,
    /// Estimate global photometric changes (camera exposure and gain, global light: `gain * I + offset`)
    /// and undo them before modelling. Default on.
    pub exposure_compensation: bool,
    /// Fill holes inside moving blobs. Default on.
    pub fill_holes: bool,
    /// Smallest moving component kept, as a fraction of the frame area. Default 0.0004 (31 px at 320x240).
    pub min_area: f32,
    /// Boxes closer than this (fraction of the frame width) are merged. Default 0.02 (6 px at 320 wide).
    pub merge_gap: f32,
    /// Fraction of the frame changing at once that triggers a recalibration when the change is spread
    /// over the frame or keeps the scene's structure under a new light; twice this fraction for
    /// [`MotionConfig::recalibrate_frames`] frames in a row triggers one whatever it looks like.
    /// Default 0.25.
    pub recalibrate_fraction: f32,
    /// See [`MotionConfig::recalibrate_fraction`]. Default 3.
    pub recalibrate_frames: u16,
    /// Seed of the model's random updates (runs are reproducible for a given seed).
    pub seed: u64,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self {
            max_width: 400,
            samples: 16,
            min_matches: 2,
            threshold: 12.0,
            max_shift: 16,
            jitter_radius: 1,
            ghost_frames: 5,
            absorb_frames: 150,
            bootstrap_frames: 100,
            bootstrap_absorb_frames: 10,
            bootstrap_learn_period: 8,
            closing: 3,
            exposure_compensation: true,
            fill_holes: true,
            min_area: 0.0004,
            merge_gap: 0.02,
            recalibrate_fraction: 0.25,
            recalibrate_frames: 3,
            seed: 0x5eed_1234_abcd_0001,
        }
    }
}

impl MotionConfig {
    fn validate(&self) -> Result<(), MotionError> {
        let bad = |reason: &str| Err(MotionError::Config(reason.to_string()));
        if self.max_width < 16 {
            return bad("max_width must be at least 16");
        }
        if self.jitter_radius > 4 {
            return bad("jitter_radius must be 0..=4");
        }
        if self.closing > 8 {
            return bad("closing must be 0..=8");
        }
        if self.samples == 0 || self.samples > 64 {
            return bad("samples must be 1..=64");
        }
        if self.min_matches == 0 || self.min_matches > self.samples {
            return bad("min_matches must be 1..=samples");
        }
        if !(self.threshold > 0.0 && self.threshold < 255.0) {
            return bad("threshold must be in (0, 255)");
        }
        if !(0.0..1.0).contains(&self.min_area) {
            return bad("min_area must be a fraction in [0, 1)");
        }
        if !(0.0..=1.0).contains(&self.merge_gap) {
            return bad("merge_gap must be a fraction in [0, 1]");
        }
        if !(self.recalibrate_fraction > 0.0 && self.recalibrate_fraction <= 1.0) {
            return bad("recalibrate_fraction must be in (0, 1]");
        }
        Ok(())
    }

    fn model_params(&self) -> ModelParams {
        ModelParams {
            samples: self.samples,
            min_matches: self.min_matches,
            threshold: self.threshold,
            jitter_radius: self.jitter_radius as usize,
            ghost_frames: self.ghost_frames,
            absorb_frames: self.absorb_frames,
            bootstrap_frames: self.bootstrap_frames,
            bootstrap_absorb_frames: self.bootstrap_absorb_frames,
            bootstrap_learn_period: self.bootstrap_learn_period,
        }
    }
}

/// Errors of the motion detector.
#[derive(Debug, Error, PartialEq)]
pub enum MotionError {
    /// A configuration value is out of range.
    #[error("motion config: {0}")]
    Config(String),
    /// The frame is too small to model.
    #[error("motion: frame {width}x{height} is too small (at least 8x8)")]
    FrameTooSmall {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
}

/// What one frame produced.
#[derive(Debug, Clone)]
pub struct MotionOutput {
    /// Moving pixels (255) and background (0), at the input frame size.
    pub mask: GrayImage,
    /// Boxes around moving regions in input pixel coordinates (right/bottom edges exclusive), after
    /// small-blob removal and merging of close boxes.
    pub boxes: Vec<BBox>,
    /// Fraction of the frame in the final mask (0..1).
    pub changed_fraction: f32,
    /// Fraction of the frame that differed from the background model before clean-up; on a
    /// recalibration frame this is the global change that triggered it.
    pub raw_changed_fraction: f32,
    /// Global photometric change of this frame against the background model, `frame = gain * model +
    /// offset` (1 and 0 when unchanged): camera exposure/gain and global light, already undone before
    /// modelling.
    pub exposure_gain: f32,
    /// See [`MotionOutput::exposure_gain`] (gray levels).
    pub exposure_offset: f32,
    /// Camera shake of this frame against the background model in input pixels (dx, dy), already
    /// undone before modelling.
    pub camera_shift: (f32, f32),
    /// True when the background model was rebuilt on this frame (global change or new frame size): the
    /// mask is empty and the next frames learn the new scene quickly.
    pub recalibrated: bool,
}

/// Learned-background motion detector for one camera stream. See the module documentation.
pub struct MotionDetector {
    config: MotionConfig,
    state: Option<State>,
}

/// Everything that depends on the frame size.
struct State {
    input_w: u32,
    input_h: u32,
    factor: usize,
    model: SampleModel,
    exposure: ExposureTracker,
    shift: ShiftEstimator,
    /// The downscaled frame, then the same in reference coordinates.
    work: Vec<u8>,
    aligned: Vec<u8>,
    raw: Vec<u8>,
    fg: Vec<u8>,
    fg_near: Vec<u8>,
    tmp: Vec<u8>,
    ops: MaskOps,
    labeler: Labeler,
    /// Consecutive frames with a large raw change.
    flooded_frames: u16,
}

impl MotionDetector {
    /// A detector with `config`; fails when a setting is out of range.
    pub fn new(config: MotionConfig) -> Result<Self, MotionError> {
        config.validate()?;
        Ok(Self {
            config,
            state: None,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &MotionConfig {
        &self.config
    }

    /// Forgets the learned background; the next frame starts a new model.
    pub fn reset(&mut self) {
        self.state = None;
    }

    /// Processes the next frame of the stream. The first frame (and the first after a size change or
    /// [`MotionDetector::reset`]) seeds the model and reports no motion; a size change mid-stream rebuilds
    /// the model and reports `recalibrated = true`.
    pub fn update(&mut self, frame: &GrayImage) -> Result<MotionOutput, MotionError> {
        let (w, h) = (frame.width(), frame.height());
        if w < 8 || h < 8 {
            return Err(MotionError::FrameTooSmall {
                width: w,
                height: h,
            });
        }
        let size_changed = match &self.state {
            Some(s) if s.input_w == w && s.input_h == h => false,
            Some(s) => {
                tracing::warn!(
                    "motion: frame size changed from {}x{} to {w}x{h}; rebuilding the background model",
                    s.input_w,
                    s.input_h
                );
                true
            }
            None => true,
        };
        if size_changed {
            let recalibrated = self.state.is_some();
            self.state = Some(State::new(&self.config, frame));
            return Ok(empty_output(w, h, 0.0, recalibrated));
        }
        let Some(state) = self.state.as_mut() else {
            return Ok(empty_output(w, h, 0.0, false));
        };
        Ok(state.process(&self.config, frame))
    }
}

fn empty_output(w: u32, h: u32, raw_fraction: f32, recalibrated: bool) -> MotionOutput {
    MotionOutput {
        mask: GrayImage::filled(w, h, 0),
        boxes: Vec::new(),
        changed_fraction: 0.0,
        raw_changed_fraction: raw_fraction,
        exposure_gain: 1.0,
        exposure_offset: 0.0,
        camera_shift: (0.0, 0.0),
        recalibrated,
    }
}

impl State {
    fn new(config: &MotionConfig, frame: &GrayImage) -> Self {
        let (w, h) = (frame.width(), frame.height());
        let factor = (w as usize).div_ceil(config.max_width as usize).max(1);
        // never downscale below 8 px on a side
        let factor = factor.min(w as usize / 8).min(h as usize / 8).max(1);
        let (pw, ph) = (w as usize / factor, h as usize / factor);
        let mut work = vec![0; pw * ph];
        downscale(frame, factor, pw, ph, &mut work);
        let model = SampleModel::new(config.model_params(), &work, pw, ph, config.seed);
        let exposure = ExposureTracker::new();
        Self {
            input_w: w,
            input_h: h,
            factor,
            model,
            exposure,
            shift: ShiftEstimator::default(),
            aligned: work.clone(),
            work,
            raw: vec![0; pw * ph],
            fg: vec![0; pw * ph],
            fg_near: vec![0; pw * ph],
            tmp: vec![0; pw * ph],
            ops: MaskOps::default(),
            labeler: Labeler::default(),
            flooded_frames: 0,
        }
    }

    fn process(&mut self, config: &MotionConfig, frame: &GrayImage) -> MotionOutput {
        let (pw, ph) = (self.model.width(), self.model.height());
        let n = pw * ph;
        downscale(frame, self.factor, pw, ph, &mut self.work);
        let shift = self.shift.estimate(
            &self.work,
            self.model.background(),
            pw,
            ph,
            config.max_shift as usize,
        );
        warp_into_reference(
            &self.work,
            self.model.background(),
            pw,
            ph,
            shift,
            &mut self.aligned,
        );
        if config.exposure_compensation {
            // self.fg still holds the previous frame's final mask
            self.exposure
                .estimate(&self.aligned, self.model.background(), &self.fg);
            self.exposure
                .compensate(&mut self.aligned, self.model.background());
        }
        let raw_count = self
            .model
            .step(&self.aligned, &self.fg, &self.fg_near, &mut self.raw);
        let raw_fraction = raw_count as f32 / n as f32;
        let flooded = raw_fraction >= 2.0 * config.recalibrate_fraction;
        self.flooded_frames = if flooded {
            self.flooded_frames.saturating_add(1)
        } else {
            0
        };
        let global = raw_fraction >= config.recalibrate_fraction
            && global::is_scene_change(
                &self.raw,
                &self.aligned,
                self.model.background(),
                pw,
                ph,
                config.recalibrate_fraction,
            );
        if global || self.flooded_frames >= config.recalibrate_frames.max(1) {
            tracing::debug!(
                "motion: {:.0}% of the frame changed; recalibrating",
                raw_fraction * 100.0
            );
            self.flooded_frames = 0;
            // the new model starts from this frame as it is: position and photometry included
            self.model.reseed(&self.work);
            self.shift.invalidate();
            self.fg.fill(0);
            self.fg_near.fill(0);
            return empty_output(self.input_w, self.input_h, raw_fraction, true);
        }

        // clean-up: majority (median), closing, holes, small blobs
        self.ops.majority(&self.raw, &mut self.fg, pw, ph);
        // the closing's dilation doubles as "near an object" for the next frame's feedback (SuBSENSE
        // masks blinking within 3 px of the final mask)
        let r = config.closing as usize;
        self.ops
            .dilate_by(&self.fg, &mut self.fg_near, pw, ph, r.max(1));
        if r > 0 {
            self.ops.erode_by(&self.fg_near, &mut self.fg, pw, ph, r);
        }
        let min_px = ((config.min_area * n as f32).round() as u32).max(1);
        let blobs = self.labeler.blobs(&mut self.fg, pw, ph, min_px);
        if config.fill_holes {
            for b in blobs.iter_mut() {
                let bounds = (b.x0 as usize, b.y0 as usize, b.x1 as usize, b.y1 as usize);
                b.area += self.ops.fill_holes_in(&mut self.fg, pw, bounds);
            }
        }
        let mut boxes: Vec<[f32; 4]> = blobs
            .iter()
            .map(|b| {
                [
                    b.x0 as f32,
                    b.y0 as f32,
                    (b.x1 + 1) as f32,
                    (b.y1 + 1) as f32,
                ]
            })
            .collect();
        merge_close(&mut boxes, config.merge_gap * pw as f32);
        let f = self.factor as f32;
        let (iw, ih) = (self.input_w as f32, self.input_h as f32);
        let (sx, sy) = (shift.0 as f32, shift.1 as f32);
        let (gain, offset) = self.exposure.gain_offset();
        let mut boxes: Vec<BBox> = boxes
            .iter()
            .map(|b| {
                // back to frame coordinates; the last processed row/column also stands for the
                // leftover input pixels of a downscaled frame
                let x2 = if b[2] as usize >= pw {
                    iw
                } else {
                    (b[2] + sx) * f
                };
                let y2 = if b[3] as usize >= ph {
                    ih
                } else {
                    (b[3] + sy) * f
                };
                BBox::new((b[0] + sx) * f, (b[1] + sy) * f, x2, y2).clip(iw, ih)
            })
            .filter(|b| !b.is_empty())
            .collect();
        boxes.sort_by(|a, b| a.y1.total_cmp(&b.y1).then(a.x1.total_cmp(&b.x1)));

        let shown = if shift == (0, 0) {
            &self.fg
        } else {
            warp_to_frame(&self.fg, pw, ph, shift, &mut self.tmp);
            &self.tmp
        };
        let fg_count = shown.iter().filter(|&&v| v != 0).count();

        MotionOutput {
            mask: upscale_mask(shown, pw, ph, self.factor, self.input_w, self.input_h),
            boxes,
            changed_fraction: fg_count as f32 / n as f32,
            raw_changed_fraction: raw_fraction,
            exposure_gain: gain,
            exposure_offset: offset,
            camera_shift: (sx * f, sy * f),
            recalibrated: false,
        }
    }
}

/// Box-averages `frame` by `factor` into `out` (`pw` x `ph`); a copy when `factor` is 1.
fn downscale(frame: &GrayImage, factor: usize, pw: usize, ph: usize, out: &mut [u8]) {
    if factor == 1 {
        out.copy_from_slice(frame.data());
        return;
    }
    let stride = frame.width() as usize;
    let data = frame.data();
    let area = (factor * factor) as u32;
    let mut sums = vec![0u32; pw];
    for oy in 0..ph {
        sums.fill(0);
        for dy in 0..factor {
            let row = &data[(oy * factor + dy) * stride..][..pw * factor];
            for (s, chunk) in sums.iter_mut().zip(row.chunks_exact(factor)) {
                *s += chunk.iter().map(|&v| v as u32).sum::<u32>();
            }
        }
        for (o, &s) in out[oy * pw..(oy + 1) * pw].iter_mut().zip(&sums) {
            *o = ((s + area / 2) / area) as u8;
        }
    }
}

/// The 0/1 processing mask as a 0/255 image at the input size (nearest neighbour).
fn upscale_mask(fg: &[u8], pw: usize, ph: usize, factor: usize, w: u32, h: u32) -> GrayImage {
    let (w, h) = (w as usize, h as usize);
    if factor == 1 {
        let data = fg.iter().map(|&v| v * 255).collect();
        return GrayImage::from_vec(w as u32, h as u32, data)
            .unwrap_or_else(|_| GrayImage::filled(w as u32, h as u32, 0));
    }
    let mut data = vec![0u8; w * h];
    for (y, row) in data.chunks_exact_mut(w).enumerate() {
        let src = &fg[(y / factor).min(ph - 1) * pw..][..pw];
        for (x, d) in row.iter_mut().enumerate() {
            *d = src[(x / factor).min(pw - 1)] * 255;
        }
    }
    GrayImage::from_vec(w as u32, h as u32, data)
        .unwrap_or_else(|_| GrayImage::filled(w as u32, h as u32, 0))
}
