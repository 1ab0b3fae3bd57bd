//! Object detection with an ONNX model through ONNX Runtime.
//!
//! A [`Detector`] owns one session for one [`ModelSpec`]. At load time it checks the model's inputs and
//! outputs against the spec's recipe (a model that does not fit gives an error naming the file and the
//! mismatch). [`Detector::detect`] runs the full frame letterboxed to the model input;
//! [`Detector::detect_regions`] runs each region (a square crop from the region planner, or a tile) at model
//! resolution and merges the results in frame coordinates. Both report per-stage timings, where
//! `inference` is the ONNX Runtime `run` call alone, so it can be compared with a bare session loop.
//!
//! Batching: when the model allows it ([`batch_axis`] gives a fixed-batch export a dynamic batch axis in
//! memory), the regions of a frame run in one call, and a [`FramePreparer`] on each camera's thread can
//! prepare frames that a shared scheduler runs together with other cameras' frames
//! ([`Detector::run_frames`]), then finish on the camera's thread again ([`FramePreparer::finish`]).

mod bare;
mod batch;
mod batch_axis;
mod decode;
mod layout;
mod merge;

pub use bare::BareSession;
pub use batch::{FramePreparer, PreparedFrame};
pub use merge::MergeConfig;

use crate::model::{ModelFile, ModelSpec, Recipe};
use crate::runtime::{Runtime, RuntimeError};
use decode::{NanoDetHeads, decode_nanodet, decode_yolox};
use layout::{IoLayout, OutputLayout, dims_match};
use ort::session::{Session, SessionOutputs};
use std::ops::AddAssign;
use std::path::{Path, PathBuf};
use std::time::Duration;
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
    /// At most this many images (regions) per ONNX Runtime call. Above 1 the model is given a dynamic batch
    /// axis when it has a fixed one; a model that cannot be given one runs one image per call.
    ///
    /// Default 1: on the 2-core CPU here batches do not make a region cheaper (`batch_cost` example,
    /// YOLOX-nano, 1 thread: 1.03-1.16x the per-region cost of single runs at batch 4 and 8; 2 threads:
    /// 1.10-1.46x; NanoDet and the 192 px person model: 0.95-1.06x), so batching is for execution providers
    /// where it pays (GPUs).
    pub max_batch: usize,
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
            max_batch: 1,
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
    /// Number of model inputs run (images: the frame or its regions).
    pub runs: u32,
    /// Number of ONNX Runtime calls they took part in (fewer than `runs` when regions ran as a batch).
    pub calls: u32,
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
        self.calls += o.calls;
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
    preparer: FramePreparer,
    config: DetectorConfig,
    threads: usize,
    device: crate::device::DeviceChoice,
    max_batch: usize,
    batched: bool,
    candidates: Vec<Detection>,
    batch_input: Vec<f32>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("model", &self.spec.name)
            .field("path", &self.path)
            .field("threads", &self.threads)
            .field("max_batch", &self.max_batch)
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
        let batched = if config.max_batch > 1 {
            batch::batched_session(runtime, &spec, path, bytes, &config)
        } else {
            None
        };
        let (session, layout, max_batch, device) = match batched {
            Some((session, layout, device)) => (session, layout, config.max_batch, device),
            None => {
                let (session, device) = build_session(runtime, path, bytes, &config)?;
                let layout = layout::validate(&session, &spec).map_err(|mismatch| {
                    DetectorError::Mismatch {
                        path: path.to_path_buf(),
                        model: spec.name.clone(),
                        mismatch,
                    }
                })?;
                (session, layout, 1, device)
            }
        };
        tracing::debug!(model = %spec.name, path = %path.display(), threads, max_batch, device = %device.used, "detector loaded");
        Ok(Self {
            preparer: FramePreparer::new(&spec, &config),
            spec,
            path: path.to_path_buf(),
            session,
            layout,
            config,
            threads,
            device,
            max_batch,
            batched: max_batch > 1,
            candidates: Vec::new(),
            batch_input: Vec::new(),
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

    /// Images (regions) per ONNX Runtime call at most: `config.max_batch` when the model takes a batch,
    /// else 1.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Sets the images per call (at least 1; 1 when the model has no batch axis).
    pub fn set_max_batch(&mut self, max_batch: usize) {
        self.max_batch = if self.batched { max_batch.max(1) } else { 1 };
    }

    /// A preparer for frames this detector (or another of the same model and settings) will run, for the
    /// caller's own thread.
    pub fn preparer(&self) -> FramePreparer {
        FramePreparer::new(&self.spec, &self.config)
    }

    /// The settings.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Changes the score threshold (e.g. low for a precision/recall curve).
    pub fn set_score_threshold(&mut self, threshold: f32) {
        self.config.score_threshold = threshold;
        self.preparer = FramePreparer::new(&self.spec, &self.config);
    }

    /// The NMS IoU threshold in use.
    pub fn nms_iou(&self) -> f32 {
        self.config.nms_iou.unwrap_or(self.spec.recipe.nms_iou())
    }

    /// Detects objects on the whole frame, letterboxed to the model input.
    pub fn detect(&mut self, image: &BgrImage) -> Result<Detections, DetectorError> {
        let mut frame = self.preparer.full_frame(image)?;
        self.run_frames(&mut [&mut frame])?;
        Ok(self.preparer.finish(frame))
    }

    /// Detects objects in each region of the frame (clipped to the frame, letterboxed to the model input; an
    /// empty region after clipping is skipped) and merges them: boxes cut by an inner region edge give way to
    /// whole views from other regions, then cross-region duplicates are removed. The regions run in batches
    /// of [`Detector::max_batch`].
    pub fn detect_regions(
        &mut self,
        image: &BgrImage,
        regions: &[BBox],
    ) -> Result<Detections, DetectorError> {
        let mut frame = self.preparer.regions(image, regions)?;
        self.run_frames(&mut [&mut frame])?;
        Ok(self.preparer.finish(frame))
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

pub(crate) fn check_image(image: &BgrImage) -> Result<(), DetectorError> {
    if image.width() == 0 || image.height() == 0 {
        return Err(DetectorError::EmptyImage {
            width: image.width(),
            height: image.height(),
        });
    }
    Ok(())
}

/// Image `image` of a float output shaped `[batch, want...]`, or a description of what came back instead.
fn output<'a>(
    outputs: &'a SessionOutputs<'_>,
    name: &str,
    batch: usize,
    image: usize,
    want: &[usize],
) -> Result<&'a [f32], String> {
    let value = outputs
        .get(name)
        .ok_or_else(|| format!("output `{name}` missing"))?;
    let (shape, data) = value
        .try_extract_tensor::<f32>()
        .map_err(|e| format!("output `{name}`: {e}"))?;
    let full: Vec<usize> = std::iter::once(batch).chain(want.iter().copied()).collect();
    if !dims_match(shape, &full) || shape.iter().any(|&d| d < 0) {
        return Err(format!(
            "output `{name}` has shape {shape}, expected {full:?}"
        ));
    }
    let per_image: usize = want.iter().product();
    data.get(image * per_image..(image + 1) * per_image)
        .ok_or_else(|| format!("output `{name}` holds no image {image}"))
}

/// Decodes image `image` of the outputs of a run on `batch` images into candidate boxes in model-input
/// pixels.
fn decode_outputs(
    outputs: &SessionOutputs<'_>,
    layout: &IoLayout,
    spec: &ModelSpec,
    (batch, image): (usize, usize),
    score_threshold: f32,
    candidates: &mut Vec<Detection>,
) -> Result<(), String> {
    let strides = spec.recipe.strides();
    match (&layout.outputs, spec.recipe) {
        (OutputLayout::Yolox { name, rows, cols }, Recipe::Yolox) => {
            let data = output(outputs, name, batch, image, &[*rows, *cols])?;
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
                cls_data[i] = output(outputs, &cls[i], batch, image, &[cells[i], classes])?;
                reg_data[i] = output(outputs, &reg[i], batch, image, &[cells[i], 4 * bins])?;
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
