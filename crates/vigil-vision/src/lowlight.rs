//! Brightening a dark frame before detection: a gamma curve fitted to the frame, contrast-limited adaptive
//! histogram equalisation (CLAHE) of the luminance, or Zero-DCE++ (a learned curve) run on a small copy
//! with its gain spread over the full frame. Whether any of them helps a detector is measured, not assumed
//! (`vigil eval night`, docs/night.md).

use crate::detector::DetectorError;
use crate::onnx::OnnxModel;
use vigil_core::BgrImage;

/// Mean luminance (0..1) the gamma curve brings a frame to.
pub const GAMMA_TARGET: f32 = 0.4;

/// A way to brighten a dark frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enhancement {
    /// A gamma curve fitted so the frame's mean luminance reaches [`GAMMA_TARGET`].
    Gamma,
    /// CLAHE on the luminance (8x8 tiles, clip limit 2), colours scaled alike.
    Clahe,
    /// Zero-DCE++ on a copy 320 pixels wide, its per-pixel gain applied to the frame.
    ZeroDce,
}

impl Enhancement {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Enhancement::Gamma => "gamma",
            Enhancement::Clahe => "clahe",
            Enhancement::ZeroDce => "zero-dce",
        }
    }
}

/// `image` brightened by `how` (`zero_dce`: the Zero-DCE++ model, which [`Enhancement::ZeroDce`] needs).
pub fn enhance(
    how: Enhancement,
    image: &BgrImage,
    zero_dce_model: Option<&mut OnnxModel>,
) -> Result<BgrImage, DetectorError> {
    match (how, zero_dce_model) {
        (Enhancement::Gamma, _) => Ok(gamma(image)),
        (Enhancement::Clahe, _) => Ok(clahe(image, 8, 2.0)),
        (Enhancement::ZeroDce, Some(m)) => zero_dce(m, image),
        (Enhancement::ZeroDce, None) => Err(DetectorError::Run {
            path: crate::model::ZERO_DCE.file_name.into(),
            reason: "Zero-DCE++ enhancement without its model".into(),
        }),
    }
}

/// Luminance (0..255) of a BGR pixel.
fn luma(p: &[u8]) -> f32 {
    0.114 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.299 * f32::from(p[2])
}

/// Mean luminance of `image`, 0..1.
pub fn mean_luma(image: &BgrImage) -> f32 {
    let n = (image.width() * image.height()).max(1) as f32;
    image.data().chunks_exact(3).map(luma).sum::<f32>() / n / 255.0
}

/// Each pixel's colour scaled so its luminance becomes `map(luminance)` (hue kept).
fn map_luma(image: &BgrImage, map: impl Fn(usize, f32) -> f32) -> BgrImage {
    let mut out = image.clone();
    for (i, p) in out.data_mut().chunks_exact_mut(3).enumerate() {
        let y = luma(p);
        let target = map(i, y);
        let gain = target.max(0.0) / y.max(0.5);
        for c in p.iter_mut() {
            *c = (f32::from(*c) * gain).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// `image` through a gamma curve that brings its mean luminance to [`GAMMA_TARGET`] (never darker; a
/// gamma of at most 4).
pub fn gamma(image: &BgrImage) -> BgrImage {
    let mean = mean_luma(image).clamp(1e-3, 0.999);
    if mean >= GAMMA_TARGET {
        return image.clone();
    }
    // mean^(1/g) = target  =>  g = ln(mean) / ln(target).
    let g = (mean.ln() / GAMMA_TARGET.ln()).clamp(1.0, 4.0);
    let lut: Vec<f32> = (0..256)
        .map(|v| (v as f32 / 255.0).powf(1.0 / g) * 255.0)
        .collect();
    map_luma(image, |_, y| lut[y.round().clamp(0.0, 255.0) as usize])
}

/// CLAHE of `image`'s luminance: `tiles` x `tiles` histograms clipped at `clip` times their mean bin,
/// mapped through their cumulative histogram, blended bilinearly between tile centres.
pub fn clahe(image: &BgrImage, tiles: usize, clip: f32) -> BgrImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let tiles = tiles.clamp(1, 64);
    if w < tiles || h < tiles {
        return image.clone();
    }
    let lum: Vec<u8> = image
        .data()
        .chunks_exact(3)
        .map(|p| luma(p).round().clamp(0.0, 255.0) as u8)
        .collect();
    let (tw, th) = (w.div_ceil(tiles), h.div_ceil(tiles));
    // One lookup table per tile.
    let mut luts = vec![[0f32; 256]; tiles * tiles];
    for ty in 0..tiles {
        for tx in 0..tiles {
            let (x0, y0) = (tx * tw, ty * th);
            let (x1, y1) = ((x0 + tw).min(w), (y0 + th).min(h));
            let mut hist = [0f32; 256];
            for y in y0..y1 {
                for &v in &lum[y * w + x0..y * w + x1] {
                    hist[v as usize] += 1.0;
                }
            }
            let n = ((x1 - x0) * (y1 - y0)).max(1) as f32;
            let limit = (clip * n / 256.0).max(1.0);
            let excess: f32 = hist.iter().map(|c| (c - limit).max(0.0)).sum();
            let mut cdf = 0.0;
            let lut = &mut luts[ty * tiles + tx];
            for (v, c) in hist.iter().enumerate() {
                cdf += c.min(limit) + excess / 256.0;
                lut[v] = (cdf / n * 255.0).min(255.0);
            }
        }
    }
    let centre = |i: usize, size: usize| (i as f32 + 0.5) * size as f32;
    map_luma(image, |i, _| {
        let (x, y) = (i % w, i / w);
        let v = lum[i] as usize;
        // The four tile centres around the pixel, and the pixel's place between them.
        let fx = ((x as f32 - centre(0, tw)) / tw as f32).clamp(0.0, (tiles - 1) as f32);
        let fy = ((y as f32 - centre(0, th)) / th as f32).clamp(0.0, (tiles - 1) as f32);
        let (tx0, ty0) = (fx.floor() as usize, fy.floor() as usize);
        let (tx1, ty1) = ((tx0 + 1).min(tiles - 1), (ty0 + 1).min(tiles - 1));
        let (ax, ay) = (fx - tx0 as f32, fy - ty0 as f32);
        let at = |tx: usize, ty: usize| luts[ty * tiles + tx][v];
        let top = at(tx0, ty0) * (1.0 - ax) + at(tx1, ty0) * ax;
        let bottom = at(tx0, ty1) * (1.0 - ax) + at(tx1, ty1) * ax;
        top * (1.0 - ay) + bottom * ay
    })
}

/// Width of the copy Zero-DCE++ runs on (its cost grows with the pixels: ~714 ms at 640x360 on one core).
pub const ZERO_DCE_WIDTH: u32 = 320;

/// Zero-DCE++ (`zero_dce_lowlight.onnx`: RGB 0..1 in and out, any size) on a copy [`ZERO_DCE_WIDTH`]
/// wide; the gain it gave each pixel's luminance there, spread bilinearly, brightens the frame.
pub fn zero_dce(model: &mut OnnxModel, image: &BgrImage) -> Result<BgrImage, DetectorError> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let sw = (ZERO_DCE_WIDTH as usize).min(w).max(1);
    let sh = ((h * sw) / w.max(1)).max(1);
    // The small copy, planar RGB 0..1 (box-sampled).
    let mut input = vec![0f32; 3 * sw * sh];
    let data = image.data();
    for y in 0..sh {
        for x in 0..sw {
            let (x0, x1) = (x * w / sw, ((x + 1) * w / sw).max(x * w / sw + 1));
            let (y0, y1) = (y * h / sh, ((y + 1) * h / sh).max(y * h / sh + 1));
            let mut sum = [0f32; 3];
            for yy in y0..y1.min(h) {
                for xx in x0..x1.min(w) {
                    let p = &data[(yy * w + xx) * 3..(yy * w + xx) * 3 + 3];
                    for c in 0..3 {
                        sum[c] += f32::from(p[c]);
                    }
                }
            }
            let n = ((y1.min(h) - y0) * (x1.min(w) - x0)).max(1) as f32 * 255.0;
            // BGR -> RGB planes.
            for c in 0..3 {
                input[c * sw * sh + y * sw + x] = sum[2 - c] / n;
            }
        }
    }
    let outputs = model.run([1, 3, sh, sw], &input)?;
    let out = outputs
        .into_iter()
        .find(|o| o.data.len() == input.len())
        .ok_or_else(|| DetectorError::Run {
            path: model.path().to_path_buf(),
            reason: "no output of the input's size".into(),
        })?;
    // Gain per small pixel: enhanced luminance over the input's.
    let lum =
        |v: &[f32], i: usize| 0.299 * v[i] + 0.587 * v[sw * sh + i] + 0.114 * v[2 * sw * sh + i];
    let gains: Vec<f32> = (0..sw * sh)
        .map(|i| (lum(&out.data, i) + 1e-3) / (lum(&input, i) + 1e-3))
        .map(|g| g.clamp(1.0, 12.0))
        .collect();
    let sx = sw as f32 / w as f32;
    let sy = sh as f32 / h as f32;
    let mut result = image.clone();
    for (i, p) in result.data_mut().chunks_exact_mut(3).enumerate() {
        let (x, y) = (i % w, i / w);
        let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (sw - 1) as f32);
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (sh - 1) as f32);
        let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(sw - 1), (y0 + 1).min(sh - 1));
        let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
        let g = |xx: usize, yy: usize| gains[yy * sw + xx];
        let gain = (g(x0, y0) * (1.0 - ax) + g(x1, y0) * ax) * (1.0 - ay)
            + (g(x0, y1) * (1.0 - ax) + g(x1, y1) * ax) * ay;
        for c in p.iter_mut() {
            *c = (f32::from(*c) * gain).round().clamp(0.0, 255.0) as u8;
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dark gradient with a darker square in it.
    fn dark_scene() -> BgrImage {
        let (w, h) = (64u32, 48u32);
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let base = 10 + (x * 20 / w) as u8;
                let v = if (20..40).contains(&x) && (10..30).contains(&y) {
                    base / 2
                } else {
                    base
                };
                data.extend_from_slice(&[v, v, v]);
            }
        }
        BgrImage::from_vec(w, h, data).unwrap()
    }

    #[test]
    fn gamma_brings_a_dark_frame_to_its_target_and_leaves_a_bright_one() {
        let dark = dark_scene();
        let before = mean_luma(&dark);
        let after = mean_luma(&gamma(&dark));
        assert!(before < 0.1 && after > 0.25, "{before} -> {after}");
        let bright = BgrImage::filled(8, 8, 200);
        assert_eq!(gamma(&bright), bright);
    }

    #[test]
    fn clahe_stretches_local_contrast_in_the_dark() {
        let dark = dark_scene();
        let out = clahe(&dark, 4, 2.0);
        let at = |img: &BgrImage, x: u32, y: u32| i32::from(img.get(x, y)[0]);
        // The square's edge: a few levels apart before, many after.
        let (inside, outside) = ((30, 20), (45, 20));
        let before = at(&dark, outside.0, outside.1) - at(&dark, inside.0, inside.1);
        let after = at(&out, outside.0, outside.1) - at(&out, inside.0, inside.1);
        assert!(after > before, "{before} -> {after}");
        assert!(mean_luma(&out) > mean_luma(&dark));
    }
}
