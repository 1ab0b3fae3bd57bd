//! Object detection with an ONNX model through ONNX Runtime.
//!
//! A [`Detector`] owns one session for one [`ModelSpec`]. At load time it checks the model's inputs and
//! outputs against the spec's recipe (a model that does not fit gives an error naming the file and the
//! mismatch). [`Detector::detect`] runs the full frame letterboxed to the model input;
//! [`Detector::detect_regions`] runs each region (a square crop from the region planner, or a tile) at model
//! resolution and merges the results in frame coordinates. Both report per-stage timings, where
//! `inference` is the ONNX Runtime `run` call alone, so it can be compared with a bare session loop.

mod bare;
mod decode;
mod layout;
mod merge;

pub use bare::BareSession;
pub use merge::MergeConfig;

use crate::model::{ModelFile, ModelSpec, Recipe};
use crate::nms::class_nms_indices;
use crate::preprocess::{Letterbox, PixelRect, Preprocessor};
use crate::runtime::{Runtime, RuntimeError};
use decode::{NanoDetHeads, decode_nanodet, decode_yolox};
use layout::{IoLayout, OutputLayout, dims_match};
use merge::{RegionDetection, RegionInfo, merge_regions};
use ort::session::{Session, SessionOutputs};
use ort::value::TensorRef;
use std::ops::AddAssign;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;
use vigil_core::{BBox, BgrImage, Detection};

/// Errors loading a detector or running it.
#[derive(Debug, Error)]
pub enum DetectorError {
    /// ONNX Runtime itself is unavailable.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The model file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The model file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// ONNX Runtime refused the file (not a model, unsupported operators...).
    #[error("cannot load model {path}: {reason}")]
    Load {
        /// The model file.
        path: PathBuf,
        /// What ONNX Runtime said.
        reason: String,
    },
    /// The model's inputs or outputs do not fit the recipe.
    #[error("model {path} does not fit `{model}`: {mismatch}")]
    Mismatch {
        /// The model file.
        path: PathBuf,
        /// The spec name.
        model: String,
        /// What does not fit.
        mismatch: String,
    },
    /// The image cannot be processed (empty).
    #[error("cannot detect on a {width}x{height} image")]
    EmptyImage {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// A region has non-finite coordinates.
    #[error("region {index} has non-finite coordinates: {region:?}")]
    BadRegion {
        /// Index in the region list.
        index: usize,
        /// The region.
        region: BBox,
    },
    /// Running the model failed, or it returned outputs of unexpected shape.
    #[error("running model {path}: {reason}")]
    Run {
        /// The model file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Settings of a detector.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// Intra-op threads of the session (`None`: all available cores).
    pub threads: Option<usize>,
    /// Detections scoring below this are dropped (before NMS).
    pub score_threshold: f32,
    /// Class-wise NMS IoU threshold (`None`: the recipe's, 0.45 YOLOX / 0.6 NanoDet).
    pub nms_iou: Option<f32>,
    /// At most this many detections per model run and per frame, the best kept.
    pub max_detections: usize,
    /// How detections of overlapping regions are merged.
    pub merge: MergeConfig,
    /// Let ONNX Runtime's intra-op threads spin while waiting for work (ONNX Runtime's own default; off
    /// here). Spinning saves a little wake-up latency on an idle machine, but threads that spin compete with
    /// every other stage for the cores: on this 2-core machine under load, YOLOX-nano at 2 threads took
    /// 38-60 ms per run spinning and 17-21 ms not spinning (1 thread: 16-24 ms either way), and a spinning run
    /// used 33 ms of CPU against 19 ms.
    pub intra_op_spinning: bool,
    /// Where inference runs (CPU, or a GPU execution provider with a fallback to the CPU).
    pub device: crate::device::InferenceDevice,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            threads: None,
            score_threshold: 0.3,
            nms_iou: None,
            max_detections: 300,
            merge: MergeConfig::default(),
            intra_op_spinning: false,
            device: crate::device::InferenceDevice::Cpu,
        }
    }
}

/// Time spent in each stage of detection, summed over the model runs of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimings {
    /// Letterbox resize, normalisation and layout.
    pub preprocess: Duration,
    /// The ONNX Runtime `run` call only.
    pub inference: Duration,
    /// Output decoding, NMS, mapping to frame coordinates and region merging.
    pub postprocess: Duration,
    /// Number of model runs.
    pub runs: u32,
}

impl StageTimings {
    /// Sum of the three stages.
    pub fn total(&self) -> Duration {
        self.preprocess + self.inference + self.postprocess
    }
}

impl AddAssign for StageTimings {
    fn add_assign(&mut self, o: Self) {
        self.preprocess += o.preprocess;
        self.inference += o.inference;
        self.postprocess += o.postprocess;
        self.runs += o.runs;
    }
}

/// The result of one detection call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Detections {
    /// Detections in frame pixels, highest score first. Boxes are not clipped to the frame (like the
    /// reference code), so an object leaving the picture keeps its extrapolated extent.
    pub detections: Vec<Detection>,
    /// Where the time went.
    pub timings: StageTimings,
}

/// A loaded detection model.
pub struct Detector {
    spec: ModelSpec,
    path: PathBuf,
    session: Session,
    layout: IoLayout,
    prep: Preprocessor,
    config: DetectorConfig,
    threads: usize,
    device: crate::device::DeviceChoice,
    candidates: Vec<Detection>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("model", &self.spec.name)
            .field("path", &self.path)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl Detector {
    /// A detector for a verified model file (from [`crate::model::ModelStore`]).
    pub fn new(
        runtime: &Runtime,
        model: &ModelFile,
        config: DetectorConfig,
    ) -> Result<Self, DetectorError> {
        Self::from_bytes(
            runtime,
            model.spec.clone(),
            &model.path,
            &model.bytes,
            config,
        )
    }

    /// A detector for `path` read as `spec`, without hash verification (custom or test models).
    pub fn from_file(
        runtime: &Runtime,
        spec: ModelSpec,
        path: &Path,
        config: DetectorConfig,
    ) -> Result<Self, DetectorError> {
        let bytes = std::fs::read(path).map_err(|source| DetectorError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(runtime, spec, path, &bytes, config)
    }

    fn from_bytes(
        runtime: &Runtime,
        spec: ModelSpec,
        path: &Path,
        bytes: &[u8],
        config: DetectorConfig,
    ) -> Result<Self, DetectorError> {
        let threads = config.effective_threads();
        let (session, device) = build_session(runtime, path, bytes, &config)?;
        let layout =
            layout::validate(&session, &spec).map_err(|mismatch| DetectorError::Mismatch {
                path: path.to_path_buf(),
                model: spec.name.clone(),
                mismatch,
            })?;
        tracing::debug!(model = %spec.name, path = %path.display(), threads, device = %device.used, "detector loaded");
        let prep = Preprocessor::new(spec.recipe.letterbox(spec.input_size));
        Ok(Self {
            spec,
            path: path.to_path_buf(),
            session,
            layout,
            prep,
            config,
            threads,
            device,
            candidates: Vec::new(),
        })
    }

    /// The device inference runs on (and why, when it is not the one configured).
    pub fn device(&self) -> &crate::device::DeviceChoice {
        &self.device
    }

    /// The model's spec (name, input size, class names...).
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The model file this detector was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Intra-op threads of the session.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The settings.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Changes the score threshold (e.g. low for a precision/recall curve).
    pub fn set_score_threshold(&mut self, threshold: f32) {
        self.config.score_threshold = threshold;
    }

    /// The NMS IoU threshold in use.
    pub fn nms_iou(&self) -> f32 {
        self.config.nms_iou.unwrap_or(self.spec.recipe.nms_iou())
    }

    /// Detects objects on the whole frame, letterboxed to the model input.
    pub fn detect(&mut self, image: &BgrImage) -> Result<Detections, DetectorError> {
        check_image(image)?;
        let rect = PixelRect::full(image.width(), image.height());
        let mut timings = StageTimings::default();
        let (detections, _) = self.run_rect(image, rect, &mut timings)?;
        Ok(Detections {
            detections,
            timings,
        })
    }

    /// Detects objects in each region of the frame (clipped to the frame, letterboxed to the model input; an
    /// empty region after clipping is skipped) and merges them: boxes cut by an inner region edge give way to
    /// whole views from other regions, then cross-region duplicates are removed.
    pub fn detect_regions(
        &mut self,
        image: &BgrImage,
        regions: &[BBox],
    ) -> Result<Detections, DetectorError> {
        check_image(image)?;
        let (w, h) = (image.width(), image.height());
        let mut timings = StageTimings::default();
        let mut infos: Vec<RegionInfo> = Vec::with_capacity(regions.len());
        let mut all: Vec<RegionDetection> = Vec::new();
        for (index, region) in regions.iter().enumerate() {
            if !region.is_finite() {
                return Err(DetectorError::BadRegion {
                    index,
                    region: *region,
                });
            }
            let Some(rect) = PixelRect::covering(region, w, h) else {
                continue;
            };
            let (dets, lb) = self.run_rect(image, rect, &mut timings)?;
            let region = infos.len();
            infos.push(RegionInfo {
                rect: lb.source,
                scale: lb.scale,
            });
            all.extend(dets.into_iter().map(|det| RegionDetection { det, region }));
        }
        let t = Instant::now();
        let mut detections = if infos.len() == 1 {
            all.into_iter().map(|d| d.det).collect()
        } else {
            merge_regions(
                &all,
                &infos,
                w as f32,
                h as f32,
                self.nms_iou(),
                &self.config.merge,
            )
        };
        detections.retain(|d| d.score >= self.config.score_threshold);
        detections.truncate(self.config.max_detections);
        timings.postprocess += t.elapsed();
        Ok(Detections {
            detections,
            timings,
        })
    }

    /// One model run on `rect`: letterbox, run, decode, NMS, map to frame pixels.
    fn run_rect(
        &mut self,
        image: &BgrImage,
        rect: PixelRect,
        timings: &mut StageTimings,
    ) -> Result<(Vec<Detection>, Letterbox), DetectorError> {
        let nms_iou = self.nms_iou();
        let Self {
            spec,
            path,
            session,
            layout,
            prep,
            config,
            candidates,
            ..
        } = self;
        let run_err = |reason: String| DetectorError::Run {
            path: path.clone(),
            reason,
        };

        let t0 = Instant::now();
        let lb = prep.run(image, rect);
        let size = spec.input_size as usize;
        let tensor = TensorRef::from_array_view(([1usize, 3, size, size], prep.input()))
            .map_err(|e| run_err(e.to_string()))?;
        let t1 = Instant::now();
        let outputs = session
            .run(ort::inputs![layout.input_name.as_str() => tensor])
            .map_err(|e| run_err(e.to_string()))?;
        let t2 = Instant::now();

        candidates.clear();
        decode_outputs(&outputs, layout, spec, config.score_threshold, candidates)
            .map_err(run_err)?;
        drop(outputs);
        let kept = class_nms_indices(candidates, nms_iou);
        let detections: Vec<Detection> = kept
            .into_iter()
            .take(config.max_detections)
            .map(|i| {
                let d = candidates[i];
                Detection::new(lb.to_source(&d.bbox), d.score, d.class_id)
            })
            .collect();
        let t3 = Instant::now();

        *timings += StageTimings {
            preprocess: t1 - t0,
            inference: t2 - t1,
            postprocess: t3 - t2,
            runs: 1,
        };
        Ok((detections, lb))
    }
}

impl DetectorConfig {
    /// The intra-op thread count in use: the configured one, else all available cores.
    pub fn effective_threads(&self) -> usize {
        self.threads
            .unwrap_or_else(crate::runtime::default_threads)
            .max(1)
    }
}

/// A session for the model `bytes` with the threads, spinning and device of `config`.
fn build_session(
    runtime: &Runtime,
    path: &Path,
    bytes: &[u8],
    config: &DetectorConfig,
) -> Result<(Session, crate::device::DeviceChoice), DetectorError> {
    let load_err = |e: ort::Error| DetectorError::Load {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut builder = runtime.session_builder(Some(config.effective_threads()))?;
    if !config.intra_op_spinning {
        builder = builder
            .with_intra_op_spinning(false)
            .map_err(|e| load_err(ort::Error::from(e)))?;
    }
    let device = crate::device::register(&mut builder, config.device);
    Ok((builder.commit_from_memory(bytes).map_err(load_err)?, device))
}

fn check_image(image: &BgrImage) -> Result<(), DetectorError> {
    if image.width() == 0 || image.height() == 0 {
        return Err(DetectorError::EmptyImage {
            width: image.width(),
            height: image.height(),
        });
    }
    Ok(())
}

/// A float output of the expected shape, or a description of what came back instead.
fn output<'a>(
    outputs: &'a SessionOutputs<'_>,
    name: &str,
    want: &[usize],
) -> Result<&'a [f32], String> {
    let value = outputs
        .get(name)
        .ok_or_else(|| format!("output `{name}` missing"))?;
    let (shape, data) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| format!("output `{name}`: {e}"))?;
    if !dims_match(shape, want) || shape.iter().any(|&d| d < 0) {
        return Err(format!(
            "output `{name}` has shape {shape}, expected {want:?}"
        ));
    }
    Ok(data)
}

/// Decodes the outputs of one run into candidate boxes in model-input pixels.
fn decode_outputs(
    outputs: &SessionOutputs<'_>,
    layout: &IoLayout,
    spec: &ModelSpec,
    score_threshold: f32,
    candidates: &mut Vec<Detection>,
) -> Result<(), String> {
    let strides = spec.recipe.strides();
    match (&layout.outputs, spec.recipe) {
        (OutputLayout::Yolox { name, rows, cols }, Recipe::Yolox) => {
            let data = output(outputs, name, &[1, *rows, *cols])?;
            decode_yolox(
                data,
                *cols,
                spec.input_size,
                strides,
                score_threshold,
                candidates,
            );
        }
        (
            OutputLayout::NanoDet {
                cls,
                reg,
                cells,
                bins,
            },
            Recipe::NanoDet,
        ) => {
            let classes = spec.classes.len();
            let mut cls_data: [&[f32]; 3] = [&[]; 3];
            let mut reg_data: [&[f32]; 3] = [&[]; 3];
            for i in 0..3 {
                cls_data[i] = output(outputs, &cls[i], &[1, cells[i], classes])?;
                reg_data[i] = output(outputs, &reg[i], &[1, cells[i], 4 * bins])?;
            }
            let heads = NanoDetHeads {
                cls: cls_data,
                reg: reg_data,
                classes,
                bins: *bins,
            };
            decode_nanodet(
                &heads,
                spec.input_size,
                strides,
                score_threshold,
                candidates,
            );
        }
        (layout, recipe) => {
            return Err(format!(
                "layout {layout:?} does not belong to recipe {recipe}"
            ));
        }
    }
    Ok(())
}
