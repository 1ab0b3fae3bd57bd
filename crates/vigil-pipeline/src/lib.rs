//! Vigil's per-camera analysis pipeline.
//!
//! ```text
//! decoded frame ──gray (small)──> motion ──boxes──┐
//!                                                 ├─> region planner ──> detector (shared pool) ──> tracker
//!               tracker's predicted live tracks ──┘
//! ```
//!
//! - [`Analyzer`]: the per-camera state (motion model, tracker, pixel converter) and [`Analyzer::process`],
//!   which analyses one decoded frame and reports what it found and where the time went.
//! - [`FileRun`]: a video file read at the analysis rate, with the decode stage timed.
//! - [`DetectorPool`]: the detectors shared by every camera of the process, sized to the cores given, behind a
//!   scheduler that batches regions of all cameras into one ONNX Runtime call and shares the detectors fairly
//!   ([`CameraSlot`] per camera; [`PoolStatus`] for `/metrics` and health).
//! - [`PipelineConfig`] / [`Gating`]: motion-gated region detection (default) or the detector on every
//!   analysed frame.
//! - [`stats`]: per-stage latency percentiles, process CPU time and peak memory for `vigil bench`.
//! - [`live`]: one camera's live analysis as `vigil run` runs it (decoder, sampling, analysis, rules),
//!   publishing events and counts on the event bus; [`live::AnalysisFeed`] feeds it without waiting.
//! - [`masked_live`]: the live view of a camera with privacy masks, decoded, masked and encoded again.
//! - [`redact`]: privacy-preserving copies of exports (faces and plates blurred, masks, watermark).
//! - [`faces`]: face recognition on person tracks (`face_recognized`, `face_unknown` events), opted in per
//!   camera.
//! - [`plates`]: licence plates of vehicle tracks (`plate_read` events, allow/deny lists), opted in per
//!   camera.
//! - [`relink`]: people lost by the tracker for longer than its buffer given their earlier id again when
//!   they look the same (re-identification).
//! - [`activity`]: activity baselines by hour of the week (`activity_anomaly` events).
//! - [`scene`]: people against a scene model (`scene_anomaly` events).
//! - [`drift`]: analytics drift (`analytics_degraded`): the analysis against its own first hour.
//! - [`health`]: camera health while running (`camera_health` events): the picture on the analysis thread,
//!   the stream from the server's status loop.
//! - [`onvif_events`]: a camera's own ONVIF events (motion, tamper) as `onvif_event` events.
//! - [`autotrack`]: PTZ autotracking, keeping a tracked object centred from the overlay frames.
//! - [`snapshot`]: event snapshots (whole frame and crop, privacy masks applied) as JPEG.

pub mod activity;
mod analyzer;
pub mod attributes;
pub mod autotrack;
mod config;
pub mod crowd;
pub mod drift;
pub mod faces;
mod file;
pub mod filtered_playback;
pub mod health;
pub mod live;
pub mod masked_live;
pub mod onvif_events;
pub mod paths;
pub mod plates;
mod pool;
pub mod redact;
pub mod relink;
pub mod scene;
pub mod second_opinion;
pub mod snapshot;
pub mod stats;
mod track_events;
pub mod trial;

pub use analyzer::{Analyzer, DetectReason, FrameAnalysis, FrameTimings};
pub use config::{DEFAULT_CLASSES, Gating, PipelineConfig};
pub use file::FileRun;
pub use pool::{CameraShare, CameraSlot, DetectorPool, PoolOptions, PoolStatus};

use thiserror::Error;

/// A pipeline failure.
#[derive(Debug, Error)]
pub enum PipelineError {
    /// Decoding or pixel conversion failed.
    #[error(transparent)]
    Media(#[from] vigil_media::MediaError),
    /// The detector failed.
    #[error(transparent)]
    Detector(#[from] vigil_vision::detector::DetectorError),
    /// The motion detector refused its input or configuration.
    #[error(transparent)]
    Motion(#[from] vigil_vision::motion::MotionError),
    /// The configuration is inconsistent.
    #[error("pipeline configuration: {0}")]
    Config(String),
    /// A photo that cannot give a face template (not an image, no face, several, too small).
    #[error("{0}")]
    Photo(String),
}
