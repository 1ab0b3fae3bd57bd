//! Licence-plate detection with LPD-YuNet (`license_plate_detection_lpd_yunet_2023mar.onnx`,
//! [`crate::model::LPD_YUNET`]): each plate as four corners and their bounding box.
//!
//! Recipe (shared/models/README.md): BGR 0..255, plain resize to 320x240; outputs `loc` `[4385, 14]`,
//! `conf` `[4385, 2]` and `iou` `[4385, 1]` (picked by their widths); priors for steps 8/16/32/64 on
//! feature maps 30x40, 15x20, 7x10, 3x5 with minimum sizes {10,16,24}, {32,48}, {64,96}, {128,192,256};
//! score = sqrt(conf[1] * clip(iou, 0, 1)); corner k = prior centre + loc * 0.1 * prior size, for the
//! column pairs 4, 6, 10 and 12; NMS IoU 0.3 on the corners' bounding box; score >= 0.8.

use crate::detector::DetectorError;
use crate::nms::class_nms_indices;
use crate::onnx::{OnnxModel, Output};
use crate::runtime::Runtime;
use std::path::Path;
use vigil_core::{BBox, BgrImage, Detection};

/// Model input width.
pub const INPUT_WIDTH: u32 = 320;
/// Model input height.
pub const INPUT_HEIGHT: u32 = 240;
/// The reference score threshold.
pub const DEFAULT_SCORE: f32 = 0.8;
/// The reference NMS IoU threshold.
pub const NMS_IOU: f32 = 0.3;

/// (step, feature-map rows, columns, minimum sizes) per level.
const LEVELS: [(f32, usize, usize, &[f32]); 4] = [
    (8.0, 30, 40, &[10.0, 16.0, 24.0]),
    (16.0, 15, 20, &[32.0, 48.0]),
    (32.0, 7, 10, &[64.0, 96.0]),
    (64.0, 3, 5, &[128.0, 192.0, 256.0]),
];
/// Columns of `loc` holding the four corners' offsets.
const CORNER_COLUMNS: [usize; 4] = [4, 6, 10, 12];

/// One plate.
#[derive(Debug, Clone, PartialEq)]
pub struct Plate {
    /// Bounding box of the corners, in frame pixels.
    pub bbox: BBox,
    /// Confidence in 0..1.
    pub score: f32,
    /// The four corners, in frame pixels.
    pub corners: [(f32, f32); 4],
}

/// An LPD-YuNet plate detector.
#[derive(Debug)]
pub struct PlateDetector {
    model: OnnxModel,
    priors: Vec<[f32; 4]>,
    input: Vec<f32>,
    score_threshold: f32,
}

impl PlateDetector {
    /// A detector on the verified bytes of the LPD-YuNet model at `path`, on `threads` cores.
    pub fn new(
        runtime: &Runtime,
        path: &Path,
        bytes: &[u8],
        threads: usize,
    ) -> Result<Self, DetectorError> {
        Ok(Self {
            model: OnnxModel::new(runtime, path, bytes, threads)?,
            priors: priors(),
            input: vec![0.0; 3 * (INPUT_WIDTH * INPUT_HEIGHT) as usize],
            score_threshold: DEFAULT_SCORE,
        })
    }

    /// Keeps plates scoring at least `score` (default [`DEFAULT_SCORE`]).
    pub fn with_score_threshold(mut self, score: f32) -> Self {
        self.score_threshold = score;
        self
    }

    /// The plates in `image`, best first.
    pub fn detect(&mut self, image: &BgrImage) -> Result<Vec<Plate>, DetectorError> {
        crate::detector::check_image(image)?;
        resize_chw(image, INPUT_WIDTH, INPUT_HEIGHT, &mut self.input);
        let shape = [1, 3, INPUT_HEIGHT as usize, INPUT_WIDTH as usize];
        let outputs = self.model.run(shape, &self.input)?;
        let sx = image.width() as f32 / INPUT_WIDTH as f32;
        let sy = image.height() as f32 / INPUT_HEIGHT as f32;
        let mut plates =
            decode(&outputs, &self.priors, self.score_threshold).map_err(|reason| {
                DetectorError::Run {
                    path: self.model.path().to_path_buf(),
                    reason,
                }
            })?;
        for p in &mut plates {
            for c in &mut p.corners {
                *c = (c.0 * sx, c.1 * sy);
            }
            p.bbox = corner_box(&p.corners);
        }
        Ok(plates)
    }
}

/// The priors (centre x, centre y, width, height as fractions of the input), in output order.
fn priors() -> Vec<[f32; 4]> {
    let (w, h) = (INPUT_WIDTH as f32, INPUT_HEIGHT as f32);
    let mut out = Vec::with_capacity(4385);
    for (step, rows, cols, mins) in LEVELS {
        for i in 0..rows {
            for j in 0..cols {
                for &m in mins {
                    out.push([
                        (j as f32 + 0.5) * step / w,
                        (i as f32 + 0.5) * step / h,
                        m / w,
                        m / h,
                    ]);
                }
            }
        }
    }
    out
}

fn corner_box(corners: &[(f32, f32); 4]) -> BBox {
    let xs = corners.iter().map(|c| c.0);
    let ys = corners.iter().map(|c| c.1);
    BBox::new(
        xs.clone().fold(f32::INFINITY, f32::min),
        ys.clone().fold(f32::INFINITY, f32::min),
        xs.fold(f32::NEG_INFINITY, f32::max),
        ys.fold(f32::NEG_INFINITY, f32::max),
    )
}

/// The output whose rows are `width` wide and number `rows`.
fn by_width(outputs: &[Output], rows: usize, width: usize) -> Result<&[f32], String> {
    outputs
        .iter()
        .find(|o| o.shape.last() == Some(&(width as i64)) && o.data.len() == rows * width)
        .map(|o| o.data.as_slice())
        .ok_or_else(|| {
            format!(
                "no output shaped [{rows}, {width}] (the model has {})",
                outputs
                    .iter()
                    .map(|o| format!("{} {:?}", o.name, o.shape))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

/// Decodes the outputs into plates in model-input pixels, after NMS, best first.
fn decode(
    outputs: &[Output],
    priors: &[[f32; 4]],
    score_threshold: f32,
) -> Result<Vec<Plate>, String> {
    let n = priors.len();
    let (loc, conf, iou) = (
        by_width(outputs, n, 14)?,
        by_width(outputs, n, 2)?,
        by_width(outputs, n, 1)?,
    );
    let (w, h) = (INPUT_WIDTH as f32, INPUT_HEIGHT as f32);
    let mut plates = Vec::new();
    for (k, p) in priors.iter().enumerate() {
        let score = (conf[k * 2 + 1] * iou[k].clamp(0.0, 1.0)).max(0.0).sqrt();
        if score.is_nan() || score < score_threshold {
            continue;
        }
        let l = &loc[k * 14..k * 14 + 14];
        let mut corners = [(0.0, 0.0); 4];
        for (c, &col) in corners.iter_mut().zip(CORNER_COLUMNS.iter()) {
            *c = (
                (p[0] + l[col] * 0.1 * p[2]) * w,
                (p[1] + l[col + 1] * 0.1 * p[3]) * h,
            );
        }
        plates.push(Plate {
            bbox: corner_box(&corners),
            score,
            corners,
        });
    }
    let dets: Vec<Detection> = plates
        .iter()
        .map(|p| Detection::new(p.bbox, p.score, 0))
        .collect();
    let keep = class_nms_indices(&dets, NMS_IOU);
    Ok(keep.into_iter().map(|i| plates[i].clone()).collect())
}

/// Bilinear resize (pixel centres at +0.5, edges clamped, as OpenCV's `INTER_LINEAR`) of a BGR image into
/// planar BGR floats 0..255 of `width` x `height`.
fn resize_chw(image: &BgrImage, width: u32, height: u32, out: &mut [f32]) {
    let (sw, sh) = (image.width() as usize, image.height() as usize);
    let (w, h) = (width as usize, height as usize);
    let plane = w * h;
    let (fx, fy) = (sw as f32 / w as f32, sh as f32 / h as f32);
    let src = image.data();
    let stride = image.stride();
    let sample = |d: usize, scale: f32, max: usize| {
        let s = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
        let i0 = (s.floor() as usize).min(max - 1);
        let i1 = (i0 + 1).min(max - 1);
        (i0, i1, s - i0 as f32)
    };
    for y in 0..h {
        let (y0, y1, ty) = sample(y, fy, sh);
        for x in 0..w {
            let (x0, x1, tx) = sample(x, fx, sw);
            for c in 0..3 {
                let px = |yy: usize, xx: usize| src[yy * stride + xx * 3 + c] as f32;
                let top = px(y0, x0) * (1.0 - tx) + px(y0, x1) * tx;
                let bottom = px(y1, x0) * (1.0 - tx) + px(y1, x1) * tx;
                out[c * plane + y * w + x] = top * (1.0 - ty) + bottom * ty;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priors_match_the_model_outputs() {
        assert_eq!(priors().len(), 4385);
    }

    #[test]
    fn resize_keeps_a_flat_colour_and_maps_corners() {
        let img = BgrImage::filled(64, 48, 200);
        let mut out = vec![0.0; 3 * 32 * 24];
        resize_chw(&img, 32, 24, &mut out);
        assert!(out.iter().all(|&v| (v - 200.0).abs() < 1e-3));
    }
}
