//! A documented model of night footage, to measure detection in the dark on frames whose truth is known:
//! a day frame is taken to linear light, its exposure cut, the sensor's shot and read noise added, taken
//! back to the camera's gamma, quantised to 8 bits, and softened a little (longer exposures and a camera's
//! noise reduction blur).
//!
//! | step | default |
//! |---|---|
//! | sRGB -> linear | `x^2.2` |
//! | exposure | x 0.05 (a street at night against the same scene by day: about 4 stops darker) |
//! | shot noise | variance 0.0005 x signal (linear) |
//! | read noise | sigma 0.002 (linear) |
//! | linear -> sRGB | `x^(1/2.2)`, 8 bits |
//! | blur | 3x3 binomial kernel (sigma ~0.85 px) |
//!
//! A mid-gray 128 becomes about 33 with noise of about 4 levels: a dark, grainy picture in which a person is
//! still there for someone who looks hard. The noise is seeded, so every run sees the same frames.

use vigil_core::BgrImage;

/// The parameters of the night model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NightModel {
    /// Display gamma.
    pub gamma: f32,
    /// Exposure factor in linear light.
    pub exposure: f32,
    /// Shot-noise variance per unit of linear signal.
    pub shot: f32,
    /// Read-noise standard deviation (linear).
    pub read: f32,
    /// Soften with a 3x3 binomial blur.
    pub blur: bool,
}

impl Default for NightModel {
    fn default() -> Self {
        NightModel {
            gamma: 2.2,
            exposure: 0.05,
            shot: 0.0005,
            read: 0.002,
            blur: true,
        }
    }
}

/// A small deterministic generator (xorshift64*) with Gaussian draws (Box-Muller).
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((v >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    fn gaussian(&mut self) -> f32 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
}

/// `image` as the night model sees it; the same `seed` gives the same noise.
pub fn darken(image: &BgrImage, model: &NightModel, seed: u64) -> BgrImage {
    let mut rng = Noise(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let to_linear: Vec<f32> = (0..256)
        .map(|v| (v as f32 / 255.0).powf(model.gamma))
        .collect();
    let inv = 1.0 / model.gamma;
    let mut out: Vec<u8> = image
        .data()
        .iter()
        .map(|&v| {
            let lin = to_linear[v as usize] * model.exposure;
            let sigma = (model.shot * lin + model.read * model.read).sqrt();
            let noisy = (lin + sigma * rng.gaussian()).clamp(0.0, 1.0);
            (noisy.powf(inv) * 255.0).round() as u8
        })
        .collect();
    if model.blur {
        out = binomial_blur(&out, image.width() as usize, image.height() as usize);
    }
    BgrImage::from_vec(image.width(), image.height(), out)
        .unwrap_or_else(|_| BgrImage::filled(image.width(), image.height(), 0))
}

/// A 3x3 binomial blur ([1 2 1] / 4 each way) of packed BGR, edges repeated.
fn binomial_blur(data: &[u8], w: usize, h: usize) -> Vec<u8> {
    let idx = |x: usize, y: usize, c: usize| (y * w + x) * 3 + c;
    let mut tmp = vec![0u16; data.len()];
    for y in 0..h {
        for x in 0..w {
            let (l, r) = (x.saturating_sub(1), (x + 1).min(w - 1));
            for c in 0..3 {
                tmp[idx(x, y, c)] = u16::from(data[idx(l, y, c)])
                    + 2 * u16::from(data[idx(x, y, c)])
                    + u16::from(data[idx(r, y, c)]);
            }
        }
    }
    let mut out = vec![0u8; data.len()];
    for y in 0..h {
        let (u, d) = (y.saturating_sub(1), (y + 1).min(h - 1));
        for x in 0..w {
            for c in 0..3 {
                let s = tmp[idx(x, u, c)] + 2 * tmp[idx(x, y, c)] + tmp[idx(x, d, c)];
                out[idx(x, y, c)] = ((s + 8) / 16) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mid_gray_becomes_dark_and_grainy_and_the_same_seed_the_same_frame() {
        let gray = BgrImage::filled(64, 64, 128);
        let model = NightModel {
            blur: false,
            ..NightModel::default()
        };
        let a = darken(&gray, &model, 7);
        let n = a.data().len() as f64;
        let mean = a.data().iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let sd = (a
            .data()
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n)
            .sqrt();
        assert!((28.0..38.0).contains(&mean), "mean {mean}");
        assert!((2.5..6.0).contains(&sd), "noise {sd}");
        assert_eq!(a, darken(&gray, &model, 7));
        assert_ne!(a, darken(&gray, &model, 8));
    }
}
