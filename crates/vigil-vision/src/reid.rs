//! Person re-identification: an appearance embedding of a person's crop (Intel Open Model Zoo
//! `person-reidentification-retail-0248`, 256-d), compared by cosine, so that the same person can be found
//! again after an occlusion, later, or on another camera.
//!
//! Recipe (`../shared/models/README.md`): input `inputs:0` NHWC `[1, 256, 128, 3]`, the crop resized to
//! 128x256 (w x h), BGR 0..255 (the graph normalises); output `[1, 256]`, L2-normalised here.

use crate::detector::DetectorError;
use crate::onnx::OnnxModel;
use crate::runtime::Runtime;
use std::path::Path;
use vigil_core::{BBox, BgrImage};

/// Input width.
pub const INPUT_WIDTH: u32 = 128;
/// Input height.
pub const INPUT_HEIGHT: u32 = 256;
/// Length of an embedding.
pub const DIM: usize = 256;

/// The appearance embedder.
#[derive(Debug)]
pub struct ReidEmbedder {
    model: OnnxModel,
    input: Vec<f32>,
}

impl ReidEmbedder {
    /// An embedder on the verified bytes of the model at `path`, on `threads` cores.
    pub fn new(
        runtime: &Runtime,
        path: &Path,
        bytes: &[u8],
        threads: usize,
    ) -> Result<Self, DetectorError> {
        Ok(Self {
            model: OnnxModel::new(runtime, path, bytes, threads)?,
            input: vec![0.0; (INPUT_WIDTH * INPUT_HEIGHT * 3) as usize],
        })
    }

    /// The L2-normalised embedding of the person in `bbox` of `image` (clipped to the image).
    pub fn embed(&mut self, image: &BgrImage, bbox: &BBox) -> Result<Vec<f32>, DetectorError> {
        crate::detector::check_image(image)?;
        let path = self.model.path().to_path_buf();
        let err = move |reason: String| DetectorError::Run {
            path: path.clone(),
            reason,
        };
        let (iw, ih) = (image.width() as f32, image.height() as f32);
        let (x1, y1) = (bbox.x1.clamp(0.0, iw - 1.0), bbox.y1.clamp(0.0, ih - 1.0));
        let (x2, y2) = (bbox.x2.clamp(x1 + 1.0, iw), bbox.y2.clamp(y1 + 1.0, ih));
        let (sx, sy) = (
            (x2 - x1) / INPUT_WIDTH as f32,
            (y2 - y1) / INPUT_HEIGHT as f32,
        );
        // Bilinear resize of the crop straight into the NHWC input.
        for y in 0..INPUT_HEIGHT {
            let fy = (y1 + (y as f32 + 0.5) * sy - 0.5).clamp(0.0, ih - 1.0);
            let (y0, ty) = (fy.floor() as u32, fy.fract());
            let yb = (y0 + 1).min(image.height() - 1);
            for x in 0..INPUT_WIDTH {
                let fx = (x1 + (x as f32 + 0.5) * sx - 0.5).clamp(0.0, iw - 1.0);
                let (x0, tx) = (fx.floor() as u32, fx.fract());
                let xb = (x0 + 1).min(image.width() - 1);
                let (a, b, c, d) = (
                    image.get(x0, y0),
                    image.get(xb, y0),
                    image.get(x0, yb),
                    image.get(xb, yb),
                );
                let at = ((y * INPUT_WIDTH + x) * 3) as usize;
                for ch in 0..3 {
                    let top = f32::from(a[ch]) * (1.0 - tx) + f32::from(b[ch]) * tx;
                    let bot = f32::from(c[ch]) * (1.0 - tx) + f32::from(d[ch]) * tx;
                    self.input[at + ch] = top * (1.0 - ty) + bot * ty;
                }
            }
        }
        let outputs = self.model.run(
            [1, INPUT_HEIGHT as usize, INPUT_WIDTH as usize, 3],
            &self.input,
        )?;
        let out = outputs.first().ok_or_else(|| err("no output".into()))?;
        if out.data.len() != DIM {
            return Err(err(format!(
                "{} values out, {DIM} expected",
                out.data.len()
            )));
        }
        vigil_core::embedding::unit(&out.data)
            .ok_or_else(|| err("a zero or non-finite embedding".into()))
    }
}
