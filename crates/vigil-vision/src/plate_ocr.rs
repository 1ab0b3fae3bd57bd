//! Reading licence plates: the plate's four corners (LPD-YuNet, [`crate::plates`]) rectified into a flat
//! crop ([`rectify`]), or, where no plate is found, text lines from PP-OCRv6's text detector
//! ([`TextFinder`]); then PP-OCRv6 tiny's recogniser ([`PlateReader`]) with greedy CTC decoding, and
//! [`normalise`] for comparing plates.
//!
//! Recipes (`../shared/models/README.md`): recogniser `x` `[N, 3, 48, W]`, the crop resized to height 48
//! keeping its aspect (W = ceil(48 w / h), at least 8), `(x / 255 - 0.5) / 0.5`, CHW BGR; out `[N, T, 6906]`;
//! class 0 is the CTC blank, class i in 1..=6904 is line i of the dictionary, 6905 a space; confidence is
//! the mean of the kept steps' maxima. Detector `x` `[N, 3, H, W]` (multiples of 32), BGR `x / 255` with
//! ImageNet mean and std; out a text probability map: threshold 0.3, boxes of connected regions whose mean
//! score is at least 0.6, grown by the unclip ratio 1.5.

use crate::detector::DetectorError;
use crate::onnx::OnnxModel;
use crate::runtime::Runtime;
use std::path::Path;
use vigil_core::{BBox, BgrImage};

/// Height of the recogniser's input.
pub const REC_HEIGHT: u32 = 48;
/// Longest side the text detector is run at.
pub const DET_MAX_SIDE: u32 = 960;
const DET_THRESHOLD: f32 = 0.3;
const DET_BOX_SCORE: f32 = 0.6;
const UNCLIP: f32 = 1.5;

/// What was read.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlateText {
    /// As recognised.
    pub raw: String,
    /// [`normalise`]d: upper case letters and digits only.
    pub text: String,
    /// Mean probability of the characters kept, 0..1.
    pub confidence: f32,
}

/// Upper case letters and digits only (separators, spaces and punctuation dropped), for comparing plates.
pub fn normalise(raw: &str) -> String {
    raw.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The perspective transform taking the unit square's corners (0,0), (1,0), (1,1), (0,1) onto `q`
/// (3x3, row major, `h[8] = 1`), or `None` for degenerate corners.
fn square_to_quad(q: &[(f32, f32); 4]) -> Option<[f64; 9]> {
    let [(x0, y0), (x1, y1), (x2, y2), (x3, y3)] = q.map(|(x, y)| (f64::from(x), f64::from(y)));
    let (sx, sy) = (x0 - x1 + x2 - x3, y0 - y1 + y2 - y3);
    let (dx1, dx2, dy1, dy2) = (x1 - x2, x3 - x2, y1 - y2, y3 - y2);
    let den = dx1 * dy2 - dx2 * dy1;
    if den.abs() < 1e-9 {
        return None;
    }
    let g = (sx * dy2 - dx2 * sy) / den;
    let h = (dx1 * sy - sx * dy1) / den;
    Some([
        x1 - x0 + g * x1,
        x3 - x0 + h * x3,
        x0,
        y1 - y0 + g * y1,
        y3 - y0 + h * y3,
        y0,
        g,
        h,
        1.0,
    ])
}

/// The four corners in reading order: top-left, top-right, bottom-right, bottom-left.
fn reading_order(c: &[(f32, f32); 4]) -> [(f32, f32); 4] {
    let mut by_y = *c;
    by_y.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (mut top, mut bottom) = ([by_y[0], by_y[1]], [by_y[2], by_y[3]]);
    top.sort_by(|a, b| a.0.total_cmp(&b.0));
    bottom.sort_by(|a, b| a.0.total_cmp(&b.0));
    [top[0], top[1], bottom[1], bottom[0]]
}

/// The quadrilateral `corners` of `image` (any order) warped flat: [`REC_HEIGHT`] pixels high, as wide as
/// its sides' proportions say (bilinear sampling; outside the image is black).
pub fn rectify(image: &BgrImage, corners: &[(f32, f32); 4]) -> Option<BgrImage> {
    let q = reading_order(corners);
    let d = |a: (f32, f32), b: (f32, f32)| (a.0 - b.0).hypot(a.1 - b.1);
    let (w, h) = (
        (d(q[0], q[1]) + d(q[3], q[2])) / 2.0,
        (d(q[0], q[3]) + d(q[1], q[2])) / 2.0,
    );
    if w < 4.0 || h < 4.0 {
        return None;
    }
    let out_h = REC_HEIGHT;
    let out_w = ((w / h) * out_h as f32).round().clamp(8.0, 2048.0) as u32;
    let m = square_to_quad(&q)?;
    Some(crate::preprocess::warp(image, out_w, out_h, |ox, oy| {
        let (u, v) = (
            (f64::from(ox) + 0.5) / f64::from(out_w),
            (f64::from(oy) + 0.5) / f64::from(out_h),
        );
        let z = m[6] * u + m[7] * v + m[8];
        (
            (m[0] * u + m[1] * v + m[2]) / z - 0.5,
            (m[3] * u + m[4] * v + m[5]) / z - 0.5,
        )
    }))
}

/// Bilinear resize of `image` to `w` x `h`, as planes of `f32` after `f(channel, value)` (CHW).
fn planes(image: &BgrImage, w: u32, h: u32, f: impl Fn(usize, f32) -> f32) -> Vec<f32> {
    let plane = (w * h) as usize;
    let mut out = vec![0f32; 3 * plane];
    let (iw, ih) = (image.width() as f32, image.height() as f32);
    let (sx, sy) = (iw / w as f32, ih / h as f32);
    for y in 0..h {
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, ih - 1.0);
        let (y0, ty) = (fy.floor() as u32, fy.fract());
        let y1 = (y0 + 1).min(image.height() - 1);
        for x in 0..w {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, iw - 1.0);
            let (x0, tx) = (fx.floor() as u32, fx.fract());
            let x1 = (x0 + 1).min(image.width() - 1);
            let (a, b, c, d) = (
                image.get(x0, y0),
                image.get(x1, y0),
                image.get(x0, y1),
                image.get(x1, y1),
            );
            for ch in 0..3 {
                let top = f32::from(a[ch]) * (1.0 - tx) + f32::from(b[ch]) * tx;
                let bot = f32::from(c[ch]) * (1.0 - tx) + f32::from(d[ch]) * tx;
                out[ch * plane + (y * w + x) as usize] = f(ch, top * (1.0 - ty) + bot * ty);
            }
        }
    }
    out
}

/// PP-OCRv6 tiny's text recogniser.
#[derive(Debug)]
pub struct PlateReader {
    model: OnnxModel,
    /// Class i (1-based) is `dict[i - 1]`; one past the dictionary is a space.
    dict: Vec<String>,
}

impl PlateReader {
    /// A recogniser on the verified bytes of the model at `path` with the dictionary's text (one entry
    /// per line), on `threads` cores.
    pub fn new(
        runtime: &Runtime,
        path: &Path,
        bytes: &[u8],
        dictionary: &str,
        threads: usize,
    ) -> Result<Self, DetectorError> {
        let dict: Vec<String> = dictionary
            .lines()
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect();
        if dict.len() < 100 {
            return Err(DetectorError::Load {
                path: path.to_path_buf(),
                reason: format!(
                    "the dictionary has {} entries, not a PP-OCR dictionary",
                    dict.len()
                ),
            });
        }
        Ok(Self {
            model: OnnxModel::new(runtime, path, bytes, threads)?,
            dict,
        })
    }

    /// Reads the one line of text in `crop` (a flat plate, from [`rectify`] or a text box).
    pub fn read(&mut self, crop: &BgrImage) -> Result<PlateText, DetectorError> {
        crate::detector::check_image(crop)?;
        let w = ((REC_HEIGHT as f32 * crop.width() as f32 / crop.height() as f32).ceil() as u32)
            .clamp(8, 2048);
        let input = planes(crop, w, REC_HEIGHT, |_, v| (v / 255.0 - 0.5) / 0.5);
        let outputs = self
            .model
            .run([1, 3, REC_HEIGHT as usize, w as usize], &input)?;
        let run_err = |reason: String| DetectorError::Run {
            path: self.model.path().to_path_buf(),
            reason,
        };
        let out = outputs.first().ok_or_else(|| run_err("no output".into()))?;
        let classes = *out.shape.last().unwrap_or(&0) as usize;
        if classes < 2 || out.data.len() % classes != 0 {
            return Err(run_err(format!("output of shape {:?}", out.shape)));
        }
        let (mut raw, mut probs, mut last) = (String::new(), Vec::new(), 0usize);
        for step in out.data.chunks_exact(classes) {
            let (best, p) =
                step.iter().enumerate().fold(
                    (0, f32::MIN),
                    |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
                );
            if best != 0 && best != last {
                match self.dict.get(best - 1) {
                    Some(s) => raw.push_str(s),
                    None => raw.push(' '),
                }
                probs.push(p);
            }
            last = best;
        }
        let confidence = if probs.is_empty() {
            0.0
        } else {
            probs.iter().sum::<f32>() / probs.len() as f32
        };
        Ok(PlateText {
            text: normalise(&raw),
            raw: raw.trim().to_string(),
            confidence,
        })
    }
}

/// PP-OCRv6 tiny's text detector (DB): boxes of text lines.
#[derive(Debug)]
pub struct TextFinder {
    model: OnnxModel,
}

impl TextFinder {
    /// A detector on the verified bytes of the model at `path`, on `threads` cores.
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

    /// Text lines in `image`, in image pixels, with their mean score; best first.
    pub fn find(&mut self, image: &BgrImage) -> Result<Vec<(BBox, f32)>, DetectorError> {
        crate::detector::check_image(image)?;
        let scale = (DET_MAX_SIDE as f32 / image.width().max(image.height()) as f32).min(1.0);
        let round32 = |v: f32| (((v / 32.0).round() as u32).max(1)) * 32;
        let (w, h) = (
            round32(image.width() as f32 * scale),
            round32(image.height() as f32 * scale),
        );
        const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
        const STD: [f32; 3] = [0.229, 0.224, 0.225];
        let input = planes(image, w, h, |c, v| (v / 255.0 - MEAN[c]) / STD[c]);
        let outputs = self.model.run([1, 3, h as usize, w as usize], &input)?;
        let map = outputs.first().ok_or_else(|| DetectorError::Run {
            path: self.model.path().to_path_buf(),
            reason: "no output".into(),
        })?;
        if map.data.len() != (w * h) as usize {
            return Err(DetectorError::Run {
                path: self.model.path().to_path_buf(),
                reason: format!("a {:?} map for a {w}x{h} input", map.shape),
            });
        }
        let (sx, sy) = (
            image.width() as f32 / w as f32,
            image.height() as f32 / h as f32,
        );
        let mut boxes: Vec<(BBox, f32)> = regions(&map.data, w as usize, h as usize)
            .into_iter()
            .filter(|r| r.score >= DET_BOX_SCORE && r.pixels >= 4)
            .map(|r| {
                // Unclip: grow by area * ratio / perimeter on every side.
                let (bw, bh) = ((r.x2 - r.x1 + 1) as f32, (r.y2 - r.y1 + 1) as f32);
                let grow = bw * bh * UNCLIP / (2.0 * (bw + bh));
                let b = BBox::new(
                    ((r.x1 as f32 - grow) * sx).max(0.0),
                    ((r.y1 as f32 - grow) * sy).max(0.0),
                    ((r.x2 as f32 + 1.0 + grow) * sx).min(image.width() as f32),
                    ((r.y2 as f32 + 1.0 + grow) * sy).min(image.height() as f32),
                );
                (b, r.score)
            })
            .collect();
        boxes.sort_by(|a, b| (b.0.area() * b.1).total_cmp(&(a.0.area() * a.1)));
        Ok(boxes)
    }
}

/// How a plate was found in a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FoundBy {
    /// LPD-YuNet's four corners.
    PlateDetector,
    /// PP-OCR's text detector (no plate found, or the plate read as nothing).
    TextDetector,
}

/// A plate read in a picture.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlateRead {
    /// What it says.
    #[serde(flatten)]
    pub text: PlateText,
    /// Where it is (corners in reading order: top-left, top-right, bottom-right, bottom-left).
    pub corners: [(f32, f32); 4],
    /// How it was found.
    pub found_by: FoundBy,
}

/// Plate finding and reading in one: LPD-YuNet first; where it finds nothing (it was trained on Chinese
/// plates) or what it finds reads as nothing, the text detector's lines, read one by one, the one read
/// with the most confidence kept (plate-like text: at least two letters or digits).
#[derive(Debug)]
pub struct PlateOcr {
    /// The plate detector.
    pub plates: crate::plates::PlateDetector,
    /// The text line detector.
    pub lines: TextFinder,
    /// The recogniser.
    pub reader: PlateReader,
}

impl PlateOcr {
    /// The best plate read in `image`, if any.
    pub fn read_image(&mut self, image: &BgrImage) -> Result<Option<PlateRead>, DetectorError> {
        let mut best: Option<PlateRead> = None;
        let consider = |read: PlateRead, best: &mut Option<PlateRead>| {
            if read.text.text.len() >= 2
                && best
                    .as_ref()
                    .is_none_or(|b| read.text.confidence > b.text.confidence)
            {
                *best = Some(read);
            }
        };
        for p in self.plates.detect(image)? {
            if let Some(flat) = rectify(image, &p.corners) {
                let text = self.reader.read(&flat)?;
                let read = PlateRead {
                    text,
                    corners: reading_order(&p.corners),
                    found_by: FoundBy::PlateDetector,
                };
                consider(read, &mut best);
            }
        }
        if best.is_some() {
            return Ok(best);
        }
        for (b, _) in self.lines.find(image)?.into_iter().take(8) {
            let corners = [(b.x1, b.y1), (b.x2, b.y1), (b.x2, b.y2), (b.x1, b.y2)];
            if let Some(flat) = rectify(image, &corners) {
                let text = self.reader.read(&flat)?;
                consider(
                    PlateRead {
                        text,
                        corners,
                        found_by: FoundBy::TextDetector,
                    },
                    &mut best,
                );
            }
        }
        Ok(best)
    }
}

/// A connected region of the thresholded map.
struct Region {
    x1: usize,
    y1: usize,
    x2: usize,
    y2: usize,
    pixels: usize,
    score: f32,
}

/// 4-connected regions of `map` above [`DET_THRESHOLD`], with their mean score.
fn regions(map: &[f32], w: usize, h: usize) -> Vec<Region> {
    let mut seen = vec![false; map.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..map.len() {
        if seen[start] || map[start] < DET_THRESHOLD {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut r = Region {
            x1: usize::MAX,
            y1: usize::MAX,
            x2: 0,
            y2: 0,
            pixels: 0,
            score: 0.0,
        };
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            r.x1 = r.x1.min(x);
            r.y1 = r.y1.min(y);
            r.x2 = r.x2.max(x);
            r.y2 = r.y2.max(y);
            r.pixels += 1;
            r.score += map[i];
            let mut push = |j: usize| {
                if !seen[j] && map[j] >= DET_THRESHOLD {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                push(i - 1);
            }
            if x + 1 < w {
                push(i + 1);
            }
            if y > 0 {
                push(i - w);
            }
            if y + 1 < h {
                push(i + w);
            }
        }
        r.score /= r.pixels as f32;
        out.push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_keeps_letters_and_digits_in_upper_case() {
        assert_eq!(normalise("ab-123 cd"), "AB123CD");
        assert_eq!(normalise(" KX58·RTY "), "KX58RTY");
    }

    #[test]
    fn a_tilted_plate_comes_out_flat() {
        // A white 200x50 plate with a black bar in its left half, drawn under a shear.
        let mut img = BgrImage::filled(400, 300, 0);
        let corners = [
            (100.0, 100.0),
            (300.0, 120.0),
            (300.0, 170.0),
            (100.0, 150.0),
        ];
        let stride = img.stride();
        for y in 0..300u32 {
            for x in 0..400u32 {
                let (fx, fy) = (x as f32, y as f32);
                if (100.0..300.0).contains(&fx) {
                    let top = 100.0 + (fx - 100.0) * 0.1;
                    if fy >= top && fy < top + 50.0 {
                        let v = if fx < 200.0 && fy > top + 15.0 && fy < top + 35.0 {
                            0
                        } else {
                            255
                        };
                        let i = y as usize * stride + x as usize * 3;
                        img.data_mut()[i..i + 3].fill(v);
                    }
                }
            }
        }
        // Corners given in any order.
        let shuffled = [corners[2], corners[0], corners[3], corners[1]];
        let flat = rectify(&img, &shuffled).unwrap();
        assert_eq!(flat.height(), REC_HEIGHT);
        assert!((flat.width() as i32 - 192).abs() <= 4, "{}", flat.width());
        // Left half: the bar in the middle rows; right half: white.
        let mid = REC_HEIGHT / 2;
        assert!(flat.get(flat.width() / 4, mid)[0] < 60);
        assert!(flat.get(flat.width() * 3 / 4, mid)[0] > 200);
        assert!(flat.get(flat.width() / 4, 3)[0] > 200);
    }
}
