//! Face detection with YuNet (`face_detection_yunet_2023mar_640.onnx`, [`crate::model::YUNET`]): boxes and
//! five landmarks (right eye, left eye, nose, right and left mouth corners, as seen in the image).
//!
//! Recipe (shared/models/README.md): BGR 0..255 without normalisation, letterboxed at the top-left of the
//! 640x640 input (padding right and bottom); per stride 8/16/32 the outputs `cls_s`, `obj_s` `[1, N, 1]`,
//! `bbox_s` `[1, N, 4]` and `kps_s` `[1, N, 10]`, anchor `i` at row `i / cols`, column `i % cols`;
//! score = sqrt(cls * obj) (both clipped to 0..1), centre `(col + b0, row + b1) * s`, size
//! `exp(b2, b3) * s`; NMS IoU 0.3.

use crate::detector::DetectorError;
use crate::nms::class_nms_indices;
use crate::onnx::{OnnxModel, Output, by_name};
use crate::preprocess::{LetterboxSpec, PadPlacement, PixelRect, Preprocessor};
use crate::runtime::Runtime;
use std::path::Path;
use vigil_core::{BBox, BgrImage, Detection};

/// Side of the model input.
pub const INPUT_SIZE: u32 = 640;
/// The reference score threshold.
pub const DEFAULT_SCORE: f32 = 0.6;
/// The reference NMS IoU threshold.
pub const NMS_IOU: f32 = 0.3;
const STRIDES: [u32; 3] = [8, 16, 32];

/// One face.
#[derive(Debug, Clone, PartialEq)]
pub struct Face {
    /// Box in frame pixels.
    pub bbox: BBox,
    /// Confidence in 0..1.
    pub score: f32,
    /// Right eye, left eye, nose tip, right and left mouth corners, in frame pixels.
    pub landmarks: [(f32, f32); 5],
}

/// A YuNet face detector.
#[derive(Debug)]
pub struct FaceDetector {
    model: OnnxModel,
    pre: Preprocessor,
    score_threshold: f32,
}

impl FaceDetector {
    /// A detector on the verified bytes of the YuNet 640 model at `path`, on `threads` cores.
    pub fn new(
        runtime: &Runtime,
        path: &Path,
        bytes: &[u8],
        threads: usize,
    ) -> Result<Self, DetectorError> {
        Ok(Self {
            model: OnnxModel::new(runtime, path, bytes, threads)?,
            pre: Preprocessor::new(LetterboxSpec {
                size: INPUT_SIZE,
                placement: PadPlacement::TopLeft,
                pad_value: 0,
                mean: [0.0; 3],
                std: [1.0; 3],
            }),
            score_threshold: DEFAULT_SCORE,
        })
    }

    /// Keeps faces scoring at least `score` (default [`DEFAULT_SCORE`]).
    pub fn with_score_threshold(mut self, score: f32) -> Self {
        self.score_threshold = score;
        self
    }

    /// The faces in `image`, best first.
    pub fn detect(&mut self, image: &BgrImage) -> Result<Vec<Face>, DetectorError> {
        crate::detector::check_image(image)?;
        let lb = self
            .pre
            .run(image, PixelRect::full(image.width(), image.height()));
        let size = INPUT_SIZE as usize;
        let outputs = self.model.run([1, 3, size, size], self.pre.input())?;
        let mut faces =
            decode(&outputs, self.score_threshold).map_err(|reason| DetectorError::Run {
                path: self.model.path().to_path_buf(),
                reason,
            })?;
        let inv = 1.0 / lb.scale;
        let (w, h) = (image.width() as f32, image.height() as f32);
        for f in &mut faces {
            let b = lb.to_source(&f.bbox);
            f.bbox = BBox::new(b.x1.max(0.0), b.y1.max(0.0), b.x2.min(w), b.y2.min(h));
            for p in &mut f.landmarks {
                *p = (
                    (p.0 - lb.pad_x) * inv + lb.source.x1,
                    (p.1 - lb.pad_y) * inv + lb.source.y1,
                );
            }
        }
        faces.retain(|f| f.bbox.x2 > f.bbox.x1 && f.bbox.y2 > f.bbox.y1);
        Ok(faces)
    }
}

/// Decodes the three strides' outputs into faces in model-input pixels, after NMS, best first.
fn decode(outputs: &[Output], score_threshold: f32) -> Result<Vec<Face>, String> {
    let mut faces = Vec::new();
    for s in STRIDES {
        let cols = (INPUT_SIZE / s) as usize;
        let n = cols * cols;
        let part = |kind: &str, width: usize| -> Result<&[f32], String> {
            let o = by_name(outputs, &format!("{kind}_{s}"))?;
            if o.data.len() != n * width {
                return Err(format!(
                    "output `{}` has shape {:?}, expected [1, {n}, {width}]",
                    o.name, o.shape
                ));
            }
            Ok(&o.data)
        };
        let (cls, obj, bbox, kps) = (
            part("cls", 1)?,
            part("obj", 1)?,
            part("bbox", 4)?,
            part("kps", 10)?,
        );
        let s = s as f32;
        for i in 0..n {
            let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
            if score < score_threshold {
                continue;
            }
            let (row, col) = ((i / cols) as f32, (i % cols) as f32);
            let b = &bbox[i * 4..i * 4 + 4];
            let (cx, cy) = ((col + b[0]) * s, (row + b[1]) * s);
            let (w, h) = (b[2].exp() * s, b[3].exp() * s);
            let k = &kps[i * 10..i * 10 + 10];
            let mut landmarks = [(0.0, 0.0); 5];
            for (j, p) in landmarks.iter_mut().enumerate() {
                *p = ((k[2 * j] + col) * s, (k[2 * j + 1] + row) * s);
            }
            faces.push(Face {
                bbox: BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0),
                score,
                landmarks,
            });
        }
    }
    let dets: Vec<Detection> = faces
        .iter()
        .map(|f| Detection::new(f.bbox, f.score, 0))
        .collect();
    let keep = class_nms_indices(&dets, NMS_IOU);
    Ok(keep.into_iter().map(|i| faces[i].clone()).collect())
}
