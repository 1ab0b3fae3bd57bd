//! How usable a detected face is for recognition: big enough, sharp, and turned towards the camera. A
//! track keeps the face with the best [`FaceQuality::score`], and faces below a floor are not matched at
//! all (a blurred profile 20 pixels wide tells nothing reliable about who it is).
//!
//! - **size**: the face's width against [`GOOD_WIDTH`] (the threshold was measured on faces 30 to 60
//!   pixels wide; wider ones gain nothing more here), 0 below [`MIN_FACE`];
//! - **sharpness**: the variance of the Laplacian of the face in grey, resampled to 32 pixels square,
//!   against the variance of its grey levels, mapped to 0..1 ([`sharpness`]): a defocused, motion-blurred
//!   or blown-up face has little fine detail for its contrast. Measured on the shared clips: faces 40 to
//!   60 pixels wide give ratios of 0.25 to 0.8, faces under 20 pixels (blown up) under 0.3;
//! - **frontal**: from YuNet's five landmarks: the nose tip's sideways offset from the eyes' midpoint
//!   against the eye distance (yaw), and its height between the eyes and the mouth against a frontal
//!   face's (pitch); 1 facing the camera, 0 in profile.
//!
//! `score` is their product: a face must be good on every count.

use crate::faces::Face;
use vigil_core::BgrImage;

/// Narrowest face used for recognition (pixels).
pub const MIN_FACE: f32 = 30.0;
/// Width from which size no longer adds to the quality (pixels).
pub const GOOD_WIDTH: f32 = 60.0;
/// Ratio of Laplacian variance to grey-level variance at which sharpness is one half.
pub const SHARP_HALF: f32 = 0.5;
/// Where the nose tip sits between the eyes (0) and the mouth (1) on a frontal face (the alignment
/// template's own ratio).
const FRONTAL_PITCH: f32 = 0.5;

/// The quality of one face, each part in 0..1.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FaceQuality {
    /// From the face's width.
    pub size: f32,
    /// From the face's fine detail against its contrast.
    pub sharpness: f32,
    /// From the landmarks: facing the camera.
    pub frontal: f32,
    /// The product of the three.
    pub score: f32,
}

impl FaceQuality {
    /// The quality of `face`, found in `image` (its box and landmarks are in `image`'s pixels).
    /// Sharpness is measured on the face at the scale it was seen (an aligned face blown up from a few
    /// dozen pixels would look soft whatever the camera did).
    pub fn of(face: &Face, image: &BgrImage) -> FaceQuality {
        let width = face.bbox.width();
        let size = if width < MIN_FACE {
            0.0
        } else {
            (width / GOOD_WIDTH).min(1.0)
        };
        let sharpness = sharpness(image, &face.bbox);
        let frontal = frontal(&face.landmarks);
        FaceQuality {
            size,
            sharpness,
            frontal,
            score: size * sharpness * frontal,
        }
    }
}

/// 1 for a face looking at the camera, falling to 0 as it turns sideways or up and down (from the
/// landmarks: right eye, left eye, nose tip, right and left mouth corners).
pub fn frontal(l: &[(f32, f32); 5]) -> f32 {
    let eyes = ((l[0].0 + l[1].0) / 2.0, (l[0].1 + l[1].1) / 2.0);
    let mouth = ((l[3].0 + l[4].0) / 2.0, (l[3].1 + l[4].1) / 2.0);
    let eye_dist = ((l[1].0 - l[0].0).powi(2) + (l[1].1 - l[0].1).powi(2)).sqrt();
    if eye_dist < 1e-3 {
        return 0.0;
    }
    // Along and across the eye line, so a tilted head (roll, undone by the alignment) costs nothing.
    let (ux, uy) = ((l[1].0 - l[0].0) / eye_dist, (l[1].1 - l[0].1) / eye_dist);
    let (nx, ny) = (l[2].0 - eyes.0, l[2].1 - eyes.1);
    let yaw = (nx * ux + ny * uy).abs() / eye_dist;
    let down = -nx * uy + ny * ux;
    let (mx, my) = (mouth.0 - eyes.0, mouth.1 - eyes.1);
    let eye_to_mouth = -mx * uy + my * ux;
    if eye_to_mouth <= 1e-3 {
        return 0.0;
    }
    let pitch = (down / eye_to_mouth - FRONTAL_PITCH).abs();
    // A nose half an eye distance to the side is a profile; a third of the way off in height, a face
    // looking well up or down.
    ((1.0 - 2.0 * yaw).max(0.0) * (1.0 - 3.0 * pitch).max(0.0)).clamp(0.0, 1.0)
}

/// Side of the square a face is resampled to before its sharpness is measured.
pub const SHARP_SIDE: u32 = 32;

/// How sharp the face in `bbox` of `image` is, 0..1: resampled to [`SHARP_SIDE`] pixels square (so
/// faces of every size are measured alike), the variance of its Laplacian against its contrast
/// (`L / (L + SHARP_HALF * V)`, V the variance of its grey levels), so that neither lighting nor
/// contrast counts, only how much of the picture is fine detail.
pub fn sharpness(image: &BgrImage, bbox: &vigil_core::BBox) -> f32 {
    let (bw, bh) = (f64::from(bbox.width()), f64::from(bbox.height()));
    if bw < 2.0 || bh < 2.0 {
        return 0.0;
    }
    let side = f64::from(SHARP_SIDE);
    let (x0, y0) = (f64::from(bbox.x1), f64::from(bbox.y1));
    let small = crate::preprocess::warp(image, SHARP_SIDE, SHARP_SIDE, |x, y| {
        (
            x0 + (f64::from(x) + 0.5) * bw / side - 0.5,
            y0 + (f64::from(y) + 0.5) * bh / side - 0.5,
        )
    });
    let (l, v) = (laplacian_variance(&small), grey_variance(&small));
    if v < 1.0 {
        return 0.0;
    }
    l / (l + SHARP_HALF * v)
}

fn grey(image: &BgrImage) -> (Vec<f32>, usize, usize) {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let stride = image.stride();
    let data = image.data();
    let mut grey = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let p = &data[y * stride + x * 3..y * stride + x * 3 + 3];
            grey[y * w + x] =
                0.114 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.299 * f32::from(p[2]);
        }
    }
    (grey, w, h)
}

/// Variance of the grey levels (BT.601 luma).
pub fn grey_variance(image: &BgrImage) -> f32 {
    let (g, _, _) = grey(image);
    if g.is_empty() {
        return 0.0;
    }
    let n = g.len() as f64;
    let mean = g.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    (g.iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n) as f32
}

/// Variance of the 4-neighbour Laplacian of the image in grey (BT.601 luma).
pub fn laplacian_variance(image: &BgrImage) -> f32 {
    let (grey, w, h) = grey(image);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let (mut sum, mut sq, mut n) = (0f64, 0f64, 0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let c = grey[y * w + x];
            let lap = grey[y * w + x - 1] + grey[y * w + x + 1] + grey[(y - 1) * w + x] - 4.0 * c
                + grey[(y + 1) * w + x];
            sum += f64::from(lap);
            sq += f64::from(lap) * f64::from(lap);
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sq / n - mean * mean).max(0.0) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face_embed::TEMPLATE;
    use vigil_core::BBox;

    fn face(width: f32, landmarks: [(f32, f32); 5]) -> Face {
        Face {
            bbox: BBox::new(0.0, 0.0, width, width * 1.2),
            score: 0.9,
            landmarks,
        }
    }

    /// A 112x112 picture of fine detail (pseudo-random grey levels), or the same smoothed `blur` times
    /// with a 3x3 box.
    fn texture(blur: usize) -> BgrImage {
        let mut seed: u32 = 12345;
        let mut g: Vec<f32> = (0..112 * 112)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                f32::from((seed >> 16) as u8)
            })
            .collect();
        for _ in 0..blur {
            let mut out = g.clone();
            for y in 1..111 {
                for x in 1..111 {
                    let mut sum = 0.0;
                    for dy in 0..3 {
                        for dx in 0..3 {
                            sum += g[(y + dy - 1) * 112 + x + dx - 1];
                        }
                    }
                    out[y * 112 + x] = sum / 9.0;
                }
            }
            g = out;
        }
        let mut img = BgrImage::filled(112, 112, 0);
        let stride = img.stride();
        for (i, v) in g.iter().enumerate() {
            let (x, y) = (i % 112, i / 112);
            img.data_mut()[y * stride + x * 3..y * stride + x * 3 + 3].fill(*v as u8);
        }
        img
    }

    #[test]
    fn a_frontal_face_scores_one_and_turning_away_lowers_it() {
        assert!(
            (frontal(&TEMPLATE) - 1.0).abs() < 0.08,
            "{}",
            frontal(&TEMPLATE)
        );
        // The nose a third of the eye distance to the side: turned well away.
        let mut turned = TEMPLATE;
        turned[2].0 += 12.0;
        let t = frontal(&turned);
        assert!(t < 0.4 && t > 0.0, "{t}");
        // A profile: the nose beyond the eye.
        let mut profile = TEMPLATE;
        profile[2].0 = TEMPLATE[1].0 + 2.0;
        assert_eq!(frontal(&profile), 0.0);
        // A tilted head (roll) is as good as an upright one.
        let (c, s) = (0.5f32.cos(), 0.5f32.sin());
        let rolled = TEMPLATE.map(|(x, y)| (c * x - s * y + 50.0, s * x + c * y));
        assert!((frontal(&rolled) - frontal(&TEMPLATE)).abs() < 1e-3);
        // Looking down: the nose near the mouth.
        let mut down = TEMPLATE;
        down[2].1 = 88.0;
        assert!(frontal(&down) < 0.3, "{}", frontal(&down));
        // Degenerate landmarks.
        assert_eq!(frontal(&[(5.0, 5.0); 5]), 0.0);
    }

    #[test]
    fn sharp_wide_frontal_faces_beat_blurred_small_or_turned_ones() {
        let sharp = FaceQuality::of(&face(64.0, TEMPLATE), &texture(0));
        let soft = FaceQuality::of(&face(64.0, TEMPLATE), &texture(1));
        let blurred = FaceQuality::of(&face(64.0, TEMPLATE), &texture(12));
        let flat = FaceQuality::of(&face(64.0, TEMPLATE), &BgrImage::filled(112, 112, 90));
        let small = FaceQuality::of(&face(35.0, TEMPLATE), &texture(0));
        let tiny = FaceQuality::of(&face(20.0, TEMPLATE), &texture(0));
        let mut turned = TEMPLATE;
        turned[2].0 += 12.0;
        let away = FaceQuality::of(&face(64.0, turned), &texture(0));
        assert!(sharp.sharpness > 0.8, "{sharp:?}");
        assert!(sharp.sharpness > soft.sharpness && soft.sharpness > blurred.sharpness);
        assert!(blurred.sharpness < 0.6, "{blurred:?}");
        assert_eq!(flat.sharpness, 0.0);
        assert!(sharp.score > 0.75, "{sharp:?}");
        assert!(small.score < sharp.score && small.score > 0.3, "{small:?}");
        assert_eq!(tiny.score, 0.0, "{tiny:?}");
        assert!(away.score < 0.35, "{away:?}");
    }
}
