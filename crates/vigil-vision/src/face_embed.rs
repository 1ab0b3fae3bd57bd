//! Face embeddings: a face found by YuNet ([`crate::faces`]) is aligned with a 5-point similarity transform
//! onto the 112x112 ArcFace template, then MobileFaceNet (foamliu, 128-d) turns it into an L2-normalised
//! vector; two faces are the same person when the cosine of their vectors is at least a threshold.
//!
//! Recipe (`../shared/models/README.md`): RGB, `(x - 127.5) / 127.5`, NCHW `[1, 3, 112, 112]`, output
//! `[1, 128]` normalised here. The model was trained on MS-Celeb-1M, a research-only data set: face
//! recognition ships off and says so where it is switched on.

use crate::detector::DetectorError;
use crate::onnx::OnnxModel;
use crate::runtime::Runtime;
use std::path::Path;
use vigil_core::BgrImage;

/// Said wherever faces are enrolled or recognition is switched on: where the model comes from, and what
/// that means.
pub const TRAINING_CAVEAT: &str = "the face model (MobileFaceNet, foamliu) was trained on MS-Celeb-1M, a \
research-only data set withdrawn by its authors; its accuracy differs across groups of people and is \
low on faces under 60 pixels. Check that face recognition is lawful where you use it (docs/security.md, Faces)";

/// Side of the aligned face.
pub const ALIGNED: u32 = 112;
/// Length of an embedding.
pub const DIM: usize = 128;
/// Cosine at and above which two faces are taken for the same person. The shared footage has small
/// faces only (20-60 pixels wide), where different people score far higher than on the model's own check
/// (about 0.5 against 0.03 on large faces): same person at least 0.77 and different people at most 0.59
/// on the corridor clip's frames, but a JPEG crop of two different people there reached 0.68. Set above
/// that, because a stranger taken for someone on a watchlist costs more than a missed match; the price is
/// paid on the smallest faces (the classroom clip, held out: `crates/vigil-vision/tests/faces_plates.rs`
/// prints how many same-person pairs it misses).
pub const DEFAULT_THRESHOLD: f32 = 0.75;

/// Where the five landmarks (right eye, left eye, nose tip, right and left mouth corners, as YuNet gives
/// them) go in the 112x112 aligned face.
pub const TEMPLATE: [(f32, f32); 5] = [
    (38.2946, 51.6963),
    (73.5318, 51.5014),
    (56.0252, 71.7366),
    (41.5493, 92.3655),
    (70.7299, 92.2041),
];

/// A 2-D similarity transform `p' = s R p + t`, stored as `[a, -b, tx; b, a, ty]` with `a = s cos θ`,
/// `b = s sin θ`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    a: f32,
    b: f32,
    tx: f32,
    ty: f32,
}

impl Similarity {
    /// The least-squares similarity taking `from` onto `to` (Umeyama, without reflection).
    pub fn estimate(from: &[(f32, f32); 5], to: &[(f32, f32); 5]) -> Similarity {
        let n = from.len() as f32;
        let mean = |p: &[(f32, f32); 5]| {
            let (sx, sy) = p.iter().fold((0.0, 0.0), |(x, y), q| (x + q.0, y + q.1));
            (sx / n, sy / n)
        };
        let (fx, fy) = mean(from);
        let (tx, ty) = mean(to);
        let (mut num_a, mut num_b, mut den) = (0.0f32, 0.0f32, 0.0f32);
        for (p, q) in from.iter().zip(to) {
            let (px, py) = (p.0 - fx, p.1 - fy);
            let (qx, qy) = (q.0 - tx, q.1 - ty);
            num_a += px * qx + py * qy;
            num_b += px * qy - py * qx;
            den += px * px + py * py;
        }
        let (a, b) = if den > f32::EPSILON {
            (num_a / den, num_b / den)
        } else {
            (1.0, 0.0)
        };
        Similarity {
            a,
            b,
            tx: tx - (a * fx - b * fy),
            ty: ty - (b * fx + a * fy),
        }
    }

    /// Where `p` goes.
    pub fn apply(&self, p: (f32, f32)) -> (f32, f32) {
        (
            self.a * p.0 - self.b * p.1 + self.tx,
            self.b * p.0 + self.a * p.1 + self.ty,
        )
    }

    /// The transform going back (`None` when it squashes everything to a point).
    pub fn inverse(&self) -> Option<Similarity> {
        let d = self.a * self.a + self.b * self.b;
        if d <= f32::EPSILON {
            return None;
        }
        let (a, b) = (self.a / d, -self.b / d);
        Some(Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        })
    }
}

/// The 112x112 face whose landmarks are `landmarks` in `image`, aligned onto [`TEMPLATE`] (bilinear
/// sampling; outside the image is black).
pub fn align(image: &BgrImage, landmarks: &[(f32, f32); 5]) -> BgrImage {
    let Some(back) = Similarity::estimate(landmarks, &TEMPLATE).inverse() else {
        return BgrImage::filled(ALIGNED, ALIGNED, 0);
    };
    crate::preprocess::warp(image, ALIGNED, ALIGNED, |ox, oy| {
        let (x, y) = back.apply((ox as f32, oy as f32));
        (f64::from(x), f64::from(y))
    })
}

/// Side of the canvas a small photo is set in ([`on_canvas`]).
pub const CANVAS: u32 = 640;

/// A photo ready for the face detector. One smaller than YuNet's 640-pixel input would be blown up to
/// it, and YuNet's landmarks on a face blown up several times are off (the aligned face comes out zoomed
/// in, and different people look alike): it is set, at its own scale, in the middle of a mid-grey square
/// of [`CANVAS`] pixels, so faces are seen at the scale the threshold was measured at. Larger photos are
/// returned as they are.
pub fn on_canvas(image: BgrImage) -> BgrImage {
    if image.width().max(image.height()) >= CANVAS {
        return image;
    }
    let (w, h) = (image.width(), image.height());
    let mut out = BgrImage::filled(CANVAS, CANVAS, 128);
    let (ox, oy) = (((CANVAS - w) / 2) as usize, ((CANVAS - h) / 2) as usize);
    let (src_stride, dst_stride) = (image.stride(), out.stride());
    let row = w as usize * 3;
    let data = out.data_mut();
    for y in 0..h as usize {
        let from = &image.data()[y * src_stride..y * src_stride + row];
        let at = (oy + y) * dst_stride + ox * 3;
        data[at..at + row].copy_from_slice(from);
    }
    out
}

pub use vigil_core::embedding::cosine;

/// MobileFaceNet.
#[derive(Debug)]
pub struct FaceEmbedder {
    model: OnnxModel,
}

impl FaceEmbedder {
    /// An embedder on the verified bytes of the MobileFaceNet model at `path`, on `threads` cores.
    pub fn new(
        runtime: &Runtime,
        path: &Path,
        bytes: &[u8],
        threads: usize,
    ) -> Result<Self, DetectorError> {
        Ok(Self {
            model: OnnxModel::new(runtime, path, bytes, threads)?,
        })
    }

    /// The L2-normalised embedding of an aligned 112x112 face (from [`align`]).
    pub fn embed(&mut self, aligned: &BgrImage) -> Result<Vec<f32>, DetectorError> {
        if (aligned.width(), aligned.height()) != (ALIGNED, ALIGNED) {
            return Err(DetectorError::Run {
                path: self.model.path().to_path_buf(),
                reason: format!(
                    "an aligned face is {ALIGNED}x{ALIGNED}, not {}x{}",
                    aligned.width(),
                    aligned.height()
                ),
            });
        }
        let plane = (ALIGNED * ALIGNED) as usize;
        let mut input = vec![0f32; 3 * plane];
        for y in 0..ALIGNED {
            for x in 0..ALIGNED {
                let [b, g, r] = aligned.get(x, y);
                let i = (y * ALIGNED + x) as usize;
                // RGB planes.
                input[i] = (f32::from(r) - 127.5) / 127.5;
                input[plane + i] = (f32::from(g) - 127.5) / 127.5;
                input[2 * plane + i] = (f32::from(b) - 127.5) / 127.5;
            }
        }
        let outputs = self
            .model
            .run([1, 3, ALIGNED as usize, ALIGNED as usize], &input)?;
        let path = self.model.path().to_path_buf();
        let out = outputs.first().ok_or_else(|| DetectorError::Run {
            path: path.clone(),
            reason: "no output".into(),
        })?;
        if out.data.len() != DIM {
            return Err(DetectorError::Run {
                path,
                reason: format!("{} values out, {DIM} expected", out.data.len()),
            });
        }
        vigil_core::embedding::unit(&out.data).ok_or_else(|| DetectorError::Run {
            path,
            reason: "a zero or non-finite embedding".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_similarity_maps_the_template_onto_itself_scaled_and_rotated() {
        let theta = 0.3f32;
        let (s, c) = (2.0 * theta.sin(), 2.0 * theta.cos());
        let moved = TEMPLATE.map(|(x, y)| (c * x - s * y + 10.0, s * x + c * y - 4.0));
        let t = Similarity::estimate(&moved, &TEMPLATE);
        for (m, want) in moved.iter().zip(TEMPLATE) {
            let got = t.apply(*m);
            assert!(
                (got.0 - want.0).abs() < 1e-2 && (got.1 - want.1).abs() < 1e-2,
                "{got:?} {want:?}"
            );
        }
        let back = t.inverse().unwrap();
        let p = back.apply(TEMPLATE[2]);
        assert!((p.0 - moved[2].0).abs() < 1e-2 && (p.1 - moved[2].1).abs() < 1e-2);
    }

    #[test]
    fn aligning_a_face_already_on_the_template_keeps_it() {
        let mut img = BgrImage::filled(ALIGNED, ALIGNED, 0);
        let stride = img.stride();
        for y in 0..ALIGNED as usize {
            for x in 0..ALIGNED as usize {
                img.data_mut()[y * stride + x * 3] = (x * 2) as u8;
            }
        }
        let out = align(&img, &TEMPLATE);
        for (x, y) in [(10, 10), (56, 70), (100, 20)] {
            assert!(out.get(x, y)[0].abs_diff(img.get(x, y)[0]) <= 1, "{x},{y}");
        }
    }
}
