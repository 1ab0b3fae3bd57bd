//! vigil-vision: the computer-vision stages of the analytics pipeline.
//!
//! - [`runtime`]: ONNX Runtime loaded once per process (`ORT_DYLIB_PATH` or an explicit library path).
//! - [`ort_library`]: finding the ONNX Runtime library on a machine (the places searched are the caller's).
//! - [`model`]: the detector registry (files, URLs, pinned hashes, recipes) and the verifying [`model::ModelStore`].
//! - [`device`]: CPU or a GPU / accelerator execution provider, with a fallback to the CPU that says why.
//! - [`detector`]: [`detector::Detector`], full-frame and region detection with per-stage timings.
//! - [`preprocess`]: one-pass letterbox resize + normalisation into the model input.
//! - [`motion`]: learned-background motion detection that gates the detector.
//! - [`nms`]: class-wise non-maximum suppression.
//! - [`regions`]: still-image tiling and motion/track-driven region planning.
//! - [`lowlight`]: brightening dark frames (gamma, CLAHE, Zero-DCE++) before detection.
//! - [`flow`]: a coarse motion field (block matching); [`anomaly`]: a scene's learned normal and each
//!   frame's distance from it.
//! - [`count`]: counting people in crowds (the frame and a grid of tiles sized to the scene's people).
//! - [`tracker`]: ByteTrack multi-object tracking with stable IDs.
//! - [`faces`]: YuNet face detection with landmarks; [`plates`]: LPD-YuNet licence-plate detection;
//!   [`onnx`]: the plain session both run on.
//! - [`health`]: camera health and tamper from the picture (covered, blocked, dark, defocused, moved,
//!   frozen); [`shared`]: model instances lent to every camera's stages.

pub mod anomaly;
pub mod colour;
pub mod count;
pub mod day_night;
pub mod detector;
pub mod device;
pub mod face_embed;
pub mod face_quality;
pub mod faces;
pub mod flow;
pub mod health;
pub mod lowlight;
pub mod model;
pub mod motion;
pub mod nms;
pub mod onnx;
pub mod ort_library;
pub mod plate_ocr;
pub mod plates;
pub mod preprocess;
pub mod regions;
pub mod reid;
pub mod runtime;
pub mod shared;
pub mod text_embed;
pub mod tracker;
