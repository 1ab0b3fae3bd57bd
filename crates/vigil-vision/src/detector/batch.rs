//! Detection in three steps so that a shared scheduler can batch frames of many cameras into one ONNX Runtime
//! call: [`FramePreparer`] letterboxes a frame's regions on the camera's own thread, [`Detector::run_frames`]
//! runs the regions of several frames in calls of at most [`Detector::max_batch`] images (decoding and NMS per
//! image), and [`FramePreparer::finish`] merges each frame's regions back on the camera's thread.

use super::merge::{RegionDetection, RegionInfo, merge_regions};
use super::{
    Detections, DetectorConfig, DetectorError, StageTimings, batch_axis, build_session,
    check_image, decode_outputs, layout,
};
use crate::detector::Detector;
use crate::device::DeviceChoice;
use crate::model::ModelSpec;
use crate::nms::class_nms_indices;
use crate::preprocess::{Letterbox, PixelRect, Preprocessor};
use crate::runtime::Runtime;
use layout::IoLayout;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::Path;
use std::time::Instant;
use vigil_core::{BBox, BgrImage, Detection};

/// One frame's regions letterboxed for the model, then (after [`Detector::run_frames`]) their detections.
#[derive(Debug)]
pub struct PreparedFrame {
    /// The model inputs, one `3 * S * S` block per region.
    input: Vec<f32>,
    /// Geometry of each region's letterbox.
    letterboxes: Vec<Letterbox>,
    /// Frame size in pixels.
    size: (u32, u32),
    /// Detections per region (frame pixels, NMS applied), filled by the run.
    found: Vec<Vec<Detection>>,
    /// Where the time went so far.
    timings: StageTimings,
}

impl PreparedFrame {
    /// Number of model inputs (regions after clipping) in this frame.
    pub fn regions(&self) -> usize {
        self.letterboxes.len()
    }

    /// Stage timings so far (preprocessing; after the run also this frame's share of it).
    pub fn timings(&self) -> StageTimings {
        self.timings
    }
}

/// Prepares and finishes frames for one model and settings; one per camera thread.
#[derive(Debug)]
pub struct FramePreparer {
    prep: Preprocessor,
    config: DetectorConfig,
    nms_iou: f32,
    /// The input buffer of the last finished frame, reused for the next one.
    spare: Vec<f32>,
}

impl FramePreparer {
    /// A preparer for `spec` with the score threshold, NMS and merge settings of `config`.
    pub fn new(spec: &ModelSpec, config: &DetectorConfig) -> Self {
        Self {
            prep: Preprocessor::new(spec.recipe.letterbox(spec.input_size)),
            nms_iou: config.nms_iou.unwrap_or(spec.recipe.nms_iou()),
            config: config.clone(),
            spare: Vec::new(),
        }
    }

    /// Floats in one model input.
    pub fn input_len(&self) -> usize {
        self.prep.input_len()
    }

    /// The model input of the first region of the last finished frame (CHW floats; empty before any).
    pub fn last_input(&self) -> &[f32] {
        self.spare.get(..self.input_len()).unwrap_or_default()
    }

    /// The whole frame letterboxed to the model input.
    pub fn full_frame(&mut self, image: &BgrImage) -> Result<PreparedFrame, DetectorError> {
        check_image(image)?;
        self.prepare(image, &[PixelRect::full(image.width(), image.height())])
    }

    /// Each region of the frame, clipped to the frame (a region empty after clipping is left out).
    pub fn regions(
        &mut self,
        image: &BgrImage,
        regions: &[BBox],
    ) -> Result<PreparedFrame, DetectorError> {
        check_image(image)?;
        let mut rects = Vec::with_capacity(regions.len());
        for (index, region) in regions.iter().enumerate() {
            if !region.is_finite() {
                return Err(DetectorError::BadRegion {
                    index,
                    region: *region,
                });
            }
            rects.extend(PixelRect::covering(region, image.width(), image.height()));
        }
        self.prepare(image, &rects)
    }

    fn prepare(
        &mut self,
        image: &BgrImage,
        rects: &[PixelRect],
    ) -> Result<PreparedFrame, DetectorError> {
        let t = Instant::now();
        let n = self.input_len();
        let mut input = std::mem::take(&mut self.spare);
        input.resize(n * rects.len(), 0.0);
        let letterboxes = rects
            .iter()
            .zip(input.chunks_exact_mut(n))
            .map(|(rect, out)| self.prep.run_into(image, *rect, out))
            .collect();
        Ok(PreparedFrame {
            input,
            letterboxes,
            size: (image.width(), image.height()),
            found: Vec::new(),
            timings: StageTimings {
                preprocess: t.elapsed(),
                ..StageTimings::default()
            },
        })
    }

    /// The detections of a frame that has been run: its regions merged in frame pixels (boxes cut by an
    /// inner region edge give way to whole views from other regions, then cross-region duplicates go),
    /// highest score first.
    pub fn finish(&mut self, frame: PreparedFrame) -> Detections {
        let t = Instant::now();
        let PreparedFrame {
            input,
            letterboxes,
            size: (w, h),
            found,
            mut timings,
        } = frame;
        let mut detections = if found.len() <= 1 {
            found.into_iter().next().unwrap_or_default()
        } else {
            let infos: Vec<RegionInfo> = letterboxes
                .iter()
                .map(|lb| RegionInfo {
                    rect: lb.source,
                    scale: lb.scale,
                })
                .collect();
            let all: Vec<RegionDetection> = found
                .into_iter()
                .enumerate()
                .flat_map(|(region, dets)| {
                    dets.into_iter()
                        .map(move |det| RegionDetection { det, region })
                })
                .collect();
            merge_regions(
                &all,
                &infos,
                w as f32,
                h as f32,
                self.nms_iou,
                &self.config.merge,
            )
        };
        detections.retain(|d| d.score >= self.config.score_threshold);
        detections.truncate(self.config.max_detections);
        timings.postprocess += t.elapsed();
        self.spare = input;
        Detections {
            detections,
            timings,
        }
    }
}

impl Detector {
    /// Runs the regions of `frames` in calls of at most [`Detector::max_batch`] images, in order, and stores
    /// each region's detections (frame pixels, after NMS) in its frame. Each frame's timings get its share of
    /// the calls it was part of (inference divided by the images of the call).
    pub fn run_frames(&mut self, frames: &mut [&mut PreparedFrame]) -> Result<(), DetectorError> {
        let plane = self.preparer.input_len();
        let size = self.spec.input_size as usize;
        let nms_iou = self.nms_iou();
        let items: Vec<(usize, usize)> = frames
            .iter()
            .enumerate()
            .flat_map(|(f, frame)| (0..frame.letterboxes.len()).map(move |r| (f, r)))
            .collect();
        for frame in frames.iter_mut() {
            frame.found.clear();
        }
        let Self {
            spec,
            path,
            session,
            layout,
            config,
            candidates,
            batch_input,
            max_batch,
            ..
        } = self;
        let run_err = |reason: String| DetectorError::Run {
            path: path.clone(),
            reason,
        };
        for chunk in items.chunks((*max_batch).max(1)) {
            let n = chunk.len();
            let t0 = Instant::now();
            let (f0, r0) = chunk[0];
            // Regions of one frame lie one after another in its input: run them in place.
            let input: &[f32] = if chunk.iter().all(|&(f, _)| f == f0) {
                &frames[f0].input[r0 * plane..(r0 + n) * plane]
            } else {
                batch_input.clear();
                for &(f, r) in chunk {
                    batch_input.extend_from_slice(&frames[f].input[r * plane..(r + 1) * plane]);
                }
                batch_input
            };
            let tensor = TensorRef::from_array_view(([n, 3, size, size], input))
                .map_err(|e| run_err(e.to_string()))?;
            let t1 = Instant::now();
            let outputs = session
                .run(ort::inputs![layout.input_name.as_str() => tensor])
                .map_err(|e| run_err(e.to_string()))?;
            let t2 = Instant::now();
            let copy_share = (t1 - t0) / n as u32;
            let inference_share = (t2 - t1) / n as u32;
            for (i, &(f, r)) in chunk.iter().enumerate() {
                let t = Instant::now();
                candidates.clear();
                decode_outputs(
                    &outputs,
                    layout,
                    spec,
                    (n, i),
                    config.score_threshold,
                    candidates,
                )
                .map_err(run_err)?;
                let lb = frames[f].letterboxes[r];
                let kept = class_nms_indices(candidates, nms_iou);
                let dets: Vec<Detection> = kept
                    .into_iter()
                    .take(config.max_detections)
                    .map(|k| {
                        let d = candidates[k];
                        Detection::new(lb.to_source(&d.bbox), d.score, d.class_id)
                    })
                    .collect();
                let frame = &mut frames[f];
                frame.found.push(dets);
                frame.timings.preprocess += copy_share;
                frame.timings.inference += inference_share;
                frame.timings.postprocess += t.elapsed();
                frame.timings.runs += 1;
                if r == 0 || i == 0 {
                    frame.timings.calls += 1;
                }
            }
        }
        Ok(())
    }
}

/// A session on `bytes` given a dynamic batch axis, with its layout, when the model allows it and a batch of
/// two gives what two single runs give; `None` (logged) otherwise.
pub(super) fn batched_session(
    runtime: &Runtime,
    spec: &ModelSpec,
    path: &Path,
    bytes: &[u8],
    config: &DetectorConfig,
) -> Option<(Session, IoLayout, DeviceChoice)> {
    let attempt = || -> Result<(Session, IoLayout, DeviceChoice), String> {
        let patched = batch_axis::dynamic_batch(bytes)?;
        let (mut session, device) =
            build_session(runtime, path, &patched, config).map_err(|e| e.to_string())?;
        let layout = layout::validate(&session, spec)?;
        self_check(&mut session, &layout, spec)?;
        Ok((session, layout, device))
    };
    match attempt() {
        Ok(s) => Some(s),
        Err(reason) => {
            tracing::info!(model = %spec.name, path = %path.display(),
                "the model runs one image per call (no dynamic batch axis: {reason})");
            None
        }
    }
}

/// Runs two different synthetic images as a batch and one by one and compares every output.
fn self_check(session: &mut Session, layout: &IoLayout, spec: &ModelSpec) -> Result<(), String> {
    let s = spec.input_size as usize;
    let plane = 3 * s * s;
    let input: Vec<f32> = (0..2 * plane)
        .map(|i| {
            let (img, p) = (i / plane, i % plane);
            let (y, x) = ((p % (s * s)) / s, p % s);
            if img == 0 {
                ((x * 7 + y * 3) % 256) as f32
            } else {
                ((x ^ y) % 256) as f32
            }
        })
        .collect();
    let mut run = |n: usize, data: &[f32]| -> Result<Vec<Vec<f32>>, String> {
        let tensor = TensorRef::from_array_view(([n, 3, s, s], data)).map_err(|e| e.to_string())?;
        let outputs = session
            .run(ort::inputs![layout.input_name.as_str() => tensor])
            .map_err(|e| e.to_string())?;
        let mut all = Vec::new();
        for (_, value) in outputs.iter() {
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| e.to_string())?;
            if shape.first() != Some(&(n as i64)) {
                return Err(format!("a batch of {n} gave an output shaped {shape}"));
            }
            all.push(data.to_vec());
        }
        Ok(all)
    };
    let both = run(2, &input)?;
    let first = run(1, &input[..plane])?;
    let second = run(1, &input[plane..])?;
    for (k, out) in both.iter().enumerate() {
        let half = out.len() / 2;
        let singles = first[k].iter().chain(&second[k]);
        let worst = out[..half]
            .iter()
            .chain(&out[half..])
            .zip(singles)
            .map(|(a, b)| {
                let d = (a - b).abs() / (1.0 + b.abs());
                if d.is_nan() { f32::INFINITY } else { d }
            })
            .fold(0.0f32, f32::max);
        if worst.is_nan() || worst > 1e-3 {
            return Err(format!(
                "output {k} of a batch differs from single runs by {worst}"
            ));
        }
    }
    Ok(())
}
