//! Privacy-preserving copies of recorded video: every frame of an export decoded, its faces and licence
//! plates blurred, the camera's privacy masks blacked out, an optional watermark burned in, and the result
//! encoded again with the frames' own presentation times.
//!
//! - Every frame is searched (no sampling): a face shown for one frame is still a face. Faces with YuNet,
//!   plates with LPD-YuNet, on the whole frame and, for frames larger than twice the model input, on 2x2
//!   overlapping tiles too (small faces in 1080p frames).
//! - A detector misses now and then; what it found is also blurred in the [`HOLD`] seconds before and
//!   after (a window of frames held back before encoding), so a face is not uncovered by a single miss.
//! - Boxes are widened by [`MARGIN`] and pixelated into a 2x2 grid of blocks ([`BLOCKS`], at least [`MIN_BLOCK`] pixels), then each
//!   block is flattened to its mean: nothing of the face's structure survives.
//! - Nothing needed changing (no face, no plate, no mask, no watermark): the new file is discarded and the
//!   report says `reencoded: false`, so the caller keeps the camera's own bitstream.

use crate::PipelineError;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use vigil_core::{BBox, BgrImage, Redaction, RedactionReport, Time90k};
use vigil_media::convert::Converter;
use vigil_media::draw::{draw_label, text_size};
use vigil_media::{VideoSource, VideoWriter};
use vigil_rules::{PrivacyMask, black_out_masks};
use vigil_vision::faces::FaceDetector;
use vigil_vision::model::{LPD_YUNET, ModelStore, YUNET};
use vigil_vision::plates::PlateDetector;
use vigil_vision::regions::{DEFAULT_TILE_OVERLAP, tiled_regions};
use vigil_vision::runtime::Runtime;

/// Seconds before and after a detection over which its box stays blurred.
pub const HOLD: f64 = 0.3;
/// Fraction of a box's size added on every side before blurring.
pub const MARGIN: f32 = 0.2;
/// Face score kept for redaction: below YuNet's reference 0.6, because a face left clear by a borderline
/// score costs more than a blurred patch of wall.
pub const FACE_SCORE: f32 = 0.4;
/// Plate score kept for redaction: below the reference 0.8, because a missed plate costs more than a
/// blurred patch of wall.
pub const PLATE_SCORE: f32 = 0.5;
/// Blocks across the longer side of a pixelated box. A 15x19 face pixelated into 3x4 blocks of 8 pixels
/// was still found by YuNet (score 0.66, classroom clip): a face keeps only its mean colours in a 2x2 grid.
pub const BLOCKS: usize = 2;
/// Smallest pixelation block: a face 20 pixels tall pixelated in 4-pixel blocks is still found by YuNet
/// (measured on the classroom clip); in 8-pixel blocks it is not.
pub const MIN_BLOCK: usize = 8;
/// Frames with a side longer than this are also searched in 2x2 tiles.
const TILE_ABOVE: u32 = 1280;

/// The face and plate models, loaded and verified once, and the cores to run them on.
#[derive(Clone)]
pub struct Redactor {
    runtime: Runtime,
    faces: Option<(PathBuf, Vec<u8>)>,
    plates: Option<(PathBuf, Vec<u8>)>,
    threads: usize,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("faces", &self.faces.as_ref().map(|m| &m.0))
            .field("plates", &self.plates.as_ref().map(|m| &m.0))
            .field("threads", &self.threads)
            .finish()
    }
}

impl Redactor {
    /// Loads the face and plate models from `models`. A model that cannot be found is remembered as
    /// missing: a redaction that needs it then fails with the reason, it never exports unredacted.
    pub fn new(runtime: Runtime, models: &ModelStore, threads: usize) -> (Self, Vec<String>) {
        let mut missing = Vec::new();
        let mut load = |asset| match models.load_asset(asset) {
            Ok(m) => Some(m),
            Err(e) => {
                missing.push(e.to_string());
                None
            }
        };
        let faces = load(&YUNET);
        let plates = load(&LPD_YUNET);
        let redactor = Self {
            runtime,
            faces,
            plates,
            threads: threads.max(1),
        };
        (redactor, missing)
    }

    /// Writes a copy of the video `input` to `output` with `what` applied (`masks` are the camera's privacy
    /// masks), reporting progress (0..1). When nothing needed changing, `output` is removed again and the
    /// report says `reencoded: false`.
    pub fn redact_file(
        &self,
        input: &Path,
        output: &Path,
        what: &Redaction,
        masks: &[PrivacyMask],
        progress: &mut dyn FnMut(f64),
    ) -> Result<RedactionReport, PipelineError> {
        self.redact(input, output, what, masks, false, progress)
    }

    /// Like [`Redactor::redact_file`], for a recording rewritten in place (erasure by blurring): encoded
    /// without B-frames, so each frame is decoded when it is shown and the frames replace the
    /// recording's own one for one, at their times.
    pub fn redact_recording(
        &self,
        input: &Path,
        output: &Path,
        what: &Redaction,
        masks: &[PrivacyMask],
        progress: &mut dyn FnMut(f64),
    ) -> Result<RedactionReport, PipelineError> {
        self.redact(input, output, what, masks, true, progress)
    }

    fn redact(
        &self,
        input: &Path,
        output: &Path,
        what: &Redaction,
        masks: &[PrivacyMask],
        in_order: bool,
        progress: &mut dyn FnMut(f64),
    ) -> Result<RedactionReport, PipelineError> {
        let mut faces = match (&self.faces, what.faces) {
            (Some((p, b)), true) => Some(
                FaceDetector::new(&self.runtime, p, b, self.threads)?
                    .with_score_threshold(FACE_SCORE),
            ),
            (None, true) => return Err(missing_model("faces", YUNET.file_name)),
            _ => None,
        };
        let mut plates = match (&self.plates, what.plates) {
            (Some((p, b)), true) => Some(
                PlateDetector::new(&self.runtime, p, b, self.threads)?
                    .with_score_threshold(PLATE_SCORE),
            ),
            (None, true) => return Err(missing_model("plates", LPD_YUNET.file_name)),
            _ => None,
        };
        let masks: &[PrivacyMask] = if what.masks { masks } else { &[] };
        let mut source = VideoSource::open(input)?;
        let info = source.info().clone();
        let fps = if info.fps > 0.0 { info.fps } else { 10.0 };
        let total = info.frame_count.unwrap_or(0).max(1) as f64;
        let hold = ((fps * HOLD).round() as usize).max(1);
        let mut report = RedactionReport {
            asked: what.clone(),
            masks: masks.len(),
            ..RedactionReport::default()
        };
        let mut converter = Converter::new();
        let mut writer: Option<VideoWriter> = None;
        let mut window = Window::new(hold);
        let mut last_pts: Option<i64> = None;
        while let Some(frame) = source.next_frame()? {
            let (w, h) = (frame.width(), frame.height());
            let image = frame.bgr(&mut converter, w, h)?;
            // Presentation times must increase; a repeated time (broken source) moves on by one tick.
            let pts = match last_pts {
                Some(last) if frame.pts().0 <= last => last + 1,
                _ => frame.pts().0,
            };
            last_pts = Some(pts);
            let mut boxes = Vec::new();
            if let Some(d) = faces.as_mut() {
                let found = detect_tiled(&image, |img| {
                    Ok(d.detect(img)?.into_iter().map(|f| f.bbox).collect())
                })?;
                report.faces += found.len() as u64;
                report.frames_with_faces += u64::from(!found.is_empty());
                boxes.extend(found);
            }
            if let Some(d) = plates.as_mut() {
                let found = detect_tiled(&image, |img| {
                    Ok(d.detect(img)?.into_iter().map(|p| p.bbox).collect())
                })?;
                report.plates += found.len() as u64;
                report.frames_with_plates += u64::from(!found.is_empty());
                boxes.extend(found);
            }
            if writer.is_none() {
                let w = if in_order {
                    VideoWriter::create_timed_in_order(output, w, h, fps)?
                } else {
                    VideoWriter::create_timed(output, w, h, fps)?
                };
                report.encoder = Some(w.encoder_name().to_string());
                writer = Some(w);
            }
            window.push(image, Time90k(pts), boxes);
            while let Some((mut image, pts, boxes)) = window.pop_ready(false) {
                finish_frame(&mut image, &boxes, masks, what.watermark.as_deref());
                if let Some(w) = writer.as_mut() {
                    w.write_at(&image, pts)?;
                }
            }
            report.frames += 1;
            progress((report.frames as f64 / total).min(1.0));
        }
        while let Some((mut image, pts, boxes)) = window.pop_ready(true) {
            finish_frame(&mut image, &boxes, masks, what.watermark.as_deref());
            if let Some(w) = writer.as_mut() {
                w.write_at(&image, pts)?;
            }
        }
        if let Some(w) = writer {
            w.finish()?;
        }
        report.reencoded =
            report.faces > 0 || report.plates > 0 || report.masks > 0 || what.watermark.is_some();
        if !report.reencoded {
            report.encoder = None;
            match std::fs::remove_file(output) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(PipelineError::Config(format!(
                        "removing the unneeded copy {}: {e}",
                        output.display()
                    )));
                }
            }
        }
        Ok(report)
    }
}

fn missing_model(what: &str, file: &str) -> PipelineError {
    PipelineError::Config(format!(
        "cannot redact {what}: the model {file} is not installed (see docs/security.md, Redaction)"
    ))
}

/// Runs `detect` on the whole image and, when it is large, on 2x2 overlapping tiles; boxes in frame pixels.
fn detect_tiled(
    image: &BgrImage,
    mut detect: impl FnMut(&BgrImage) -> Result<Vec<BBox>, PipelineError>,
) -> Result<Vec<BBox>, PipelineError> {
    let mut boxes = detect(image)?;
    if image.width().max(image.height()) > TILE_ABOVE {
        for r in tiled_regions(image.width(), image.height(), DEFAULT_TILE_OVERLAP)
            .into_iter()
            .skip(1)
        {
            let (x, y) = (r.x1.max(0.0) as u32, r.y1.max(0.0) as u32);
            let (w, h) = (r.width() as u32, r.height() as u32);
            let Ok(tile) = image.crop(x, y, w, h) else {
                continue;
            };
            for b in detect(&tile)? {
                boxes.push(BBox::new(
                    b.x1 + x as f32,
                    b.y1 + y as f32,
                    b.x2 + x as f32,
                    b.y2 + y as f32,
                ));
            }
        }
    }
    Ok(boxes)
}

/// Blurs `boxes`, blacks out `masks`, burns in `watermark`.
fn finish_frame(
    image: &mut BgrImage,
    boxes: &[BBox],
    masks: &[PrivacyMask],
    watermark: Option<&str>,
) {
    for b in boxes {
        pixelate(image, b);
    }
    black_out_masks(image, masks);
    if let Some(text) = watermark {
        burn_watermark(image, text);
    }
}

/// Pixelates `b` widened by [`MARGIN`] into blocks of half its longer side ([`BLOCKS`], at least
/// [`MIN_BLOCK`] pixels), each filled with its mean.
pub fn pixelate(image: &mut BgrImage, b: &BBox) {
    let (iw, ih) = (image.width() as f32, image.height() as f32);
    let (mw, mh) = (b.width() * MARGIN, b.height() * MARGIN);
    let x0 = (b.x1 - mw).floor().clamp(0.0, iw) as usize;
    let y0 = (b.y1 - mh).floor().clamp(0.0, ih) as usize;
    let x1 = (b.x2 + mw).ceil().clamp(0.0, iw) as usize;
    let y1 = (b.y2 + mh).ceil().clamp(0.0, ih) as usize;
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let block = ((x1 - x0).max(y1 - y0) / BLOCKS).max(MIN_BLOCK);
    let stride = image.stride();
    let data = image.data_mut();
    let mut by = y0;
    while by < y1 {
        let ey = (by + block).min(y1);
        let mut bx = x0;
        while bx < x1 {
            let ex = (bx + block).min(x1);
            let mut sum = [0u64; 3];
            for y in by..ey {
                for x in bx..ex {
                    let p = y * stride + x * 3;
                    for c in 0..3 {
                        sum[c] += u64::from(data[p + c]);
                    }
                }
            }
            let n = ((ey - by) * (ex - bx)) as u64;
            let mean = sum.map(|s| (s / n.max(1)) as u8);
            for y in by..ey {
                for x in bx..ex {
                    let p = y * stride + x * 3;
                    data[p..p + 3].copy_from_slice(&mean);
                }
            }
            bx = ex;
        }
        by = ey;
    }
}

/// Burns `text` into the top-left and bottom-right corners, large enough to read at the frame's size.
pub fn burn_watermark(image: &mut BgrImage, text: &str) {
    let scale = (image.height() / 270).max(1);
    let (tw, th) = text_size(text, scale);
    let pad = i64::from(4 * scale);
    draw_label(image, pad, pad, text, [40, 40, 40], scale);
    let x = i64::from(image.width()) - i64::from(tw) - 3 * pad;
    let y = i64::from(image.height()) - i64::from(th) - 3 * pad;
    draw_label(image, x.max(0), y.max(0), text, [40, 40, 40], scale);
}

/// Frames held back until the detections of the [`HOLD`] after them are known.
struct Window {
    hold: usize,
    /// Frames not yet written (image present) after up to `hold` written ones (image taken), oldest first.
    items: VecDeque<(Option<BgrImage>, Time90k, Vec<BBox>)>,
    /// Index in `items` of the next frame to write.
    next: usize,
}

impl Window {
    fn new(hold: usize) -> Self {
        Self {
            hold,
            items: VecDeque::new(),
            next: 0,
        }
    }

    fn push(&mut self, image: BgrImage, pts: Time90k, boxes: Vec<BBox>) {
        self.items.push_back((Some(image), pts, boxes));
    }

    /// The next frame with every box found within `hold` frames of it, once those frames are known (or
    /// at the end, `flush`).
    fn pop_ready(&mut self, flush: bool) -> Option<(BgrImage, Time90k, Vec<BBox>)> {
        let after = self.items.len().checked_sub(self.next + 1)?;
        if after < self.hold && !flush {
            return None;
        }
        let lo = self.next.saturating_sub(self.hold);
        let hi = (self.next + self.hold).min(self.items.len() - 1);
        let boxes: Vec<BBox> = (lo..=hi)
            .flat_map(|i| self.items[i].2.iter().copied())
            .collect();
        let item = &mut self.items[self.next];
        let image = item.0.take()?;
        let pts = item.1;
        self.next += 1;
        while self.next > self.hold {
            self.items.pop_front();
            self.next -= 1;
        }
        Some((image, pts, boxes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_blurs_a_box_in_the_frames_around_it() {
        let mut w = Window::new(2);
        let b = BBox::new(1.0, 1.0, 2.0, 2.0);
        let mut out = Vec::new();
        for i in 0..7 {
            let boxes = if i == 3 { vec![b] } else { vec![] };
            w.push(BgrImage::filled(4, 4, 0), Time90k(i), boxes);
            while let Some((_, pts, boxes)) = w.pop_ready(false) {
                out.push((pts.0, boxes.len()));
            }
        }
        while let Some((_, pts, boxes)) = w.pop_ready(true) {
            out.push((pts.0, boxes.len()));
        }
        assert_eq!(
            out,
            vec![(0, 0), (1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 0)]
        );
    }

    #[test]
    fn pixelation_leaves_flat_blocks_inside_and_nothing_outside() {
        let mut img = BgrImage::filled(100, 100, 0);
        for (i, v) in img.data_mut().iter_mut().enumerate() {
            *v = (i * 7 % 251) as u8;
        }
        let before = img.clone();
        pixelate(&mut img, &BBox::new(40.0, 40.0, 60.0, 60.0));
        // Outside the widened box nothing changed.
        assert_eq!(img.get(10, 10), before.get(10, 10));
        assert_eq!(img.get(70, 70), before.get(70, 70));
        // Inside, a block is flat.
        assert_eq!(img.get(36, 36), img.get(37, 37));
        assert_ne!(img.get(50, 50), before.get(50, 50));
    }
}
