//! Motion-mask evaluation on CDnet (changedetection.net) sequences.
//!
//! A CDnet sequence folder holds `input/inNNNNNN.jpg` frames, `groundtruth/gtNNNNNN.png` masks, `ROI.bmp`
//! (non-zero = evaluated) and `temporalROI.txt` (`first last`: the frame numbers that are scored; earlier
//! frames only feed the model). Ground-truth labels: 0 static, 50 hard shadow, 85 outside the ROI,
//! 170 unknown (motion blur at object borders), 255 moving. Shadow, unknown and outside-ROI pixels are
//! neither positives nor negatives, as in CDnet's own comparator; a prediction is "moving" when non-zero.
//!
//! Scores follow CDnet: TP/FP/FN/TN summed over every scored pixel of every scored frame, then
//! precision, recall, F1, specificity and PWC (percentage of wrong classifications) from the totals.

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;
use vigil_core::GrayImage;
use vigil_media::MediaError;

/// Ground-truth label: static background.
pub const GT_STATIC: u8 = 0;
/// Ground-truth label: hard shadow (not scored).
pub const GT_SHADOW: u8 = 50;
/// Ground-truth label: outside the region of interest (not scored).
pub const GT_OUTSIDE_ROI: u8 = 85;
/// Ground-truth label: unknown, usually object borders (not scored).
pub const GT_UNKNOWN: u8 = 170;
/// Ground-truth label: moving object.
pub const GT_MOVING: u8 = 255;

/// Errors reading a CDnet sequence or scoring masks; each names the file or frame concerned.
#[derive(Debug, Error)]
pub enum MotionEvalError {
    /// A file or folder could not be read.
    #[error("{path}: {error}")]
    Io {
        /// File or folder.
        path: PathBuf,
        /// Cause (in the message; not chained, so it is not printed twice).
        error: std::io::Error,
    },
    /// An image could not be decoded.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// A text file or a file name does not have the expected form.
    #[error("{path}: {reason}")]
    Parse {
        /// File.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A frame has no ground-truth mask although it lies in the temporal ROI.
    #[error("{path}: ground truth missing for scored frame {frame}")]
    MissingGroundTruth {
        /// The expected mask file.
        path: PathBuf,
        /// Frame number.
        frame: u32,
    },
    /// An image does not have the size of the sequence (or a prediction not the size of its mask).
    #[error("{what}: size {actual_w}x{actual_h}, expected {expected_w}x{expected_h}")]
    SizeMismatch {
        /// The file or frame concerned.
        what: String,
        /// Expected width.
        expected_w: u32,
        /// Expected height.
        expected_h: u32,
        /// Actual width.
        actual_w: u32,
        /// Actual height.
        actual_h: u32,
    },
    /// A ground-truth mask holds a value that is not a CDnet label (the decoder altered it, or a bad file).
    #[error("{path}: value {value} at ({x}, {y}) is not a CDnet label (0, 50, 85, 170, 255)")]
    BadLabel {
        /// Mask file.
        path: PathBuf,
        /// Offending value.
        value: u8,
        /// Column.
        x: u32,
        /// Row.
        y: u32,
    },
    /// The segmenter under test failed on a frame.
    #[error("{path}: segmentation failed: {error}")]
    Segmenter {
        /// Input frame.
        path: PathBuf,
        /// Its error (in the message; not chained, so it is not printed twice).
        error: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// One frame of a sequence: its number, input image and ground-truth mask paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdnetFrame {
    /// Frame number as in the file names (CDnet numbers from 1).
    pub number: u32,
    /// `input/inNNNNNN.jpg`.
    pub input: PathBuf,
    /// `groundtruth/gtNNNNNN.png` (may not exist for frames outside the temporal ROI).
    pub groundtruth: PathBuf,
}

/// A CDnet sequence on disk: its frames in order, spatial and temporal ROI.
#[derive(Debug, Clone)]
pub struct CdnetSequence {
    /// Folder name (e.g. `highway`).
    pub name: String,
    /// Folder.
    pub dir: PathBuf,
    /// Every input frame, sorted by number.
    pub frames: Vec<CdnetFrame>,
    /// Spatial ROI mask (non-zero = scored), at the frame size; `None` when `ROI.bmp` is absent or
    /// covers every pixel (see [`CdnetSequence::open`]).
    pub roi: Option<GrayImage>,
    /// First and last scored frame numbers (inclusive), from `temporalROI.txt`.
    pub temporal_roi: (u32, u32),
}

impl CdnetSequence {
    /// Reads a sequence folder: lists `input/in*.jpg`, reads `temporalROI.txt` and `ROI.bmp`.
    ///
    /// Some CDnet `ROI.bmp` files do not have the frame size (traffic's is 352x240 for 320x240 frames). A
    /// ROI that marks every pixel as scored excludes nothing and is dropped whatever its size; a partial
    /// ROI of the wrong size is an error, since guessing its alignment would bias the score. The
    /// ground-truth masks also label outside-ROI pixels (85), and those are always excluded.
    pub fn open(dir: &Path) -> Result<Self, MotionEvalError> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        let temporal_roi = read_temporal_roi(&dir.join("temporalROI.txt"))?;
        let input_dir = dir.join("input");
        let entries = std::fs::read_dir(&input_dir).map_err(|error| MotionEvalError::Io {
            path: input_dir.clone(),
            error,
        })?;
        let mut frames = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|error| MotionEvalError::Io {
                path: input_dir.clone(),
                error,
            })?;
            let file = entry.file_name();
            let file = file.to_string_lossy();
            let Some(digits) = file.strip_prefix("in").and_then(|f| f.strip_suffix(".jpg")) else {
                continue;
            };
            let number: u32 = digits.parse().map_err(|_| MotionEvalError::Parse {
                path: entry.path(),
                reason: "expected a name like in000123.jpg".into(),
            })?;
            frames.push(CdnetFrame {
                number,
                input: entry.path(),
                groundtruth: dir.join("groundtruth").join(format!("gt{digits}.png")),
            });
        }
        if frames.is_empty() {
            return Err(MotionEvalError::Parse {
                path: input_dir,
                reason: "no inNNNNNN.jpg frames".into(),
            });
        }
        frames.sort_by_key(|f| f.number);
        let mut seq = Self {
            name,
            dir: dir.to_path_buf(),
            frames,
            roi: None,
            temporal_roi,
        };
        let roi_path = dir.join("ROI.bmp");
        if roi_path.exists() {
            let roi = vigil_media::image_file::read_gray(&roi_path)?;
            if roi.data().contains(&0) {
                let first = seq.read_input(0)?;
                check_size(&roi, first.width(), first.height(), &roi_path.display())?;
                seq.roi = Some(roi);
            }
        }
        Ok(seq)
    }

    /// True when frame `number` is inside the temporal ROI (it is scored).
    pub fn is_scored(&self, number: u32) -> bool {
        number >= self.temporal_roi.0 && number <= self.temporal_roi.1
    }

    /// Reads input frame `index` (position in [`CdnetSequence::frames`]) as gray.
    pub fn read_input(&self, index: usize) -> Result<GrayImage, MotionEvalError> {
        let frame = self.frame(index)?;
        Ok(vigil_media::image_file::read_gray(&frame.input)?)
    }

    /// Reads the ground-truth mask of frame `index`, checking that every value is a CDnet label.
    pub fn read_groundtruth(&self, index: usize) -> Result<GrayImage, MotionEvalError> {
        let frame = self.frame(index)?;
        if !frame.groundtruth.exists() {
            return Err(MotionEvalError::MissingGroundTruth {
                path: frame.groundtruth.clone(),
                frame: frame.number,
            });
        }
        let gt = vigil_media::image_file::read_gray(&frame.groundtruth)?;
        check_labels(&gt, &frame.groundtruth)?;
        Ok(gt)
    }

    fn frame(&self, index: usize) -> Result<&CdnetFrame, MotionEvalError> {
        self.frames
            .get(index)
            .ok_or_else(|| MotionEvalError::Parse {
                path: self.dir.clone(),
                reason: format!(
                    "frame index {index} out of range ({} frames)",
                    self.frames.len()
                ),
            })
    }
}

fn read_temporal_roi(path: &Path) -> Result<(u32, u32), MotionEvalError> {
    let text = std::fs::read_to_string(path).map_err(|error| MotionEvalError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let bad = |reason: &str| MotionEvalError::Parse {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let numbers: Vec<u32> = text
        .split_whitespace()
        .map(|w| w.parse().map_err(|_| bad("expected two frame numbers")))
        .collect::<Result<_, _>>()?;
    match numbers[..] {
        [first, last] if first <= last => Ok((first, last)),
        [_, _] => Err(bad("first frame after last frame")),
        _ => Err(bad("expected two frame numbers")),
    }
}

fn check_size(
    img: &GrayImage,
    width: u32,
    height: u32,
    what: &dyn std::fmt::Display,
) -> Result<(), MotionEvalError> {
    if img.width() == width && img.height() == height {
        return Ok(());
    }
    Err(MotionEvalError::SizeMismatch {
        what: what.to_string(),
        expected_w: width,
        expected_h: height,
        actual_w: img.width(),
        actual_h: img.height(),
    })
}

fn check_labels(gt: &GrayImage, path: &Path) -> Result<(), MotionEvalError> {
    let labels = [GT_STATIC, GT_SHADOW, GT_OUTSIDE_ROI, GT_UNKNOWN, GT_MOVING];
    match gt.data().iter().position(|v| !labels.contains(v)) {
        None => Ok(()),
        Some(i) => Err(MotionEvalError::BadLabel {
            path: path.to_path_buf(),
            value: gt.data()[i],
            x: (i % gt.width() as usize) as u32,
            y: (i / gt.width() as usize) as u32,
        }),
    }
}

/// Per-pixel confusion counts (summed over frames).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Confusion {
    /// Moving pixels predicted moving.
    pub tp: u64,
    /// Static pixels predicted moving.
    pub fp: u64,
    /// Moving pixels predicted static.
    pub fn_: u64,
    /// Static pixels predicted static.
    pub tn: u64,
}

impl Confusion {
    /// Counts one predicted mask (non-zero = moving) against a ground-truth mask. Pixels labelled shadow,
    /// unknown or outside-ROI, and pixels where `roi` (when given) is zero, are not counted.
    pub fn count(
        predicted: &GrayImage,
        gt: &GrayImage,
        roi: Option<&GrayImage>,
    ) -> Result<Self, MotionEvalError> {
        check_size(predicted, gt.width(), gt.height(), &"predicted mask")?;
        if let Some(roi) = roi {
            check_size(roi, gt.width(), gt.height(), &"ROI")?;
        }
        let mut c = Self::default();
        let mut add = |p: u8, g: u8| match (p != 0, g) {
            (true, GT_MOVING) => c.tp += 1,
            (true, GT_STATIC) => c.fp += 1,
            (false, GT_MOVING) => c.fn_ += 1,
            (false, GT_STATIC) => c.tn += 1,
            _ => {}
        };
        match roi {
            None => predicted
                .data()
                .iter()
                .zip(gt.data())
                .for_each(|(&p, &g)| add(p, g)),
            Some(roi) => predicted
                .data()
                .iter()
                .zip(gt.data())
                .zip(roi.data())
                .filter(|&(_, &r)| r != 0)
                .for_each(|((&p, &g), _)| add(p, g)),
        }
        Ok(c)
    }

    /// Adds another count into this one.
    pub fn add(&mut self, other: &Confusion) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
        self.tn += other.tn;
    }

    /// TP / (TP + FP); 0 when nothing was predicted moving.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// TP / (TP + FN); 0 when nothing is moving in the ground truth.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// Harmonic mean of precision and recall (2TP / (2TP + FP + FN)).
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    /// TN / (TN + FP).
    pub fn specificity(&self) -> f64 {
        ratio(self.tn, self.tn + self.fp)
    }

    /// Percentage of wrong classifications: 100 (FN + FP) / (TP + FN + FP + TN).
    pub fn pwc(&self) -> f64 {
        100.0 * ratio(self.fn_ + self.fp, self.tp + self.fn_ + self.fp + self.tn)
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// The score of one segmenter run over one sequence.
#[derive(Debug, Clone, Serialize)]
pub struct SequenceScore {
    /// Sequence name.
    pub name: String,
    /// Frames fed to the segmenter.
    pub frames_processed: usize,
    /// Frames scored (inside the temporal ROI).
    pub frames_scored: usize,
    /// Counts over every scored frame (the headline).
    pub all: Confusion,
    /// Counts over the scored frames after the first `warmup` processed frames.
    pub after_warmup: Confusion,
    /// Processed frames left out of `after_warmup`.
    pub warmup: usize,
    /// Every `stride`-th frame was processed (1 = all; 6 turns a 30 fps sequence into 5 fps).
    pub stride: usize,
    /// Time spent inside the segmenter (not reading files).
    #[serde(skip)]
    pub segment_time: Duration,
}

impl SequenceScore {
    /// Mean segmenter time per processed frame in milliseconds.
    pub fn ms_per_frame(&self) -> f64 {
        if self.frames_processed == 0 {
            0.0
        } else {
            self.segment_time.as_secs_f64() * 1000.0 / self.frames_processed as f64
        }
    }
}

/// Runs `segment` over every `stride`-th frame of `seq` in order (causally: frame by frame, as a camera
/// would deliver them at that rate) and scores its masks on the processed frames in the temporal ROI.
/// `segment` gets each gray input frame and returns a mask of the same size (non-zero = moving). The
/// first `warmup` processed frames are left out of [`SequenceScore::after_warmup`] only.
pub fn evaluate_sequence<E>(
    seq: &CdnetSequence,
    warmup: usize,
    stride: usize,
    mut segment: impl FnMut(&GrayImage) -> Result<GrayImage, E>,
) -> Result<SequenceScore, MotionEvalError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let mut score = SequenceScore {
        name: seq.name.clone(),
        frames_processed: 0,
        frames_scored: 0,
        all: Confusion::default(),
        after_warmup: Confusion::default(),
        warmup,
        stride: stride.max(1),
        segment_time: Duration::ZERO,
    };
    for (index, frame) in seq.frames.iter().enumerate().step_by(stride.max(1)) {
        let input = seq.read_input(index)?;
        let start = Instant::now();
        let mask = segment(&input).map_err(|e| MotionEvalError::Segmenter {
            path: frame.input.clone(),
            error: Box::new(e),
        })?;
        score.segment_time += start.elapsed();
        let processed = score.frames_processed;
        score.frames_processed += 1;
        if !seq.is_scored(frame.number) {
            continue;
        }
        let gt = seq.read_groundtruth(index)?;
        check_size(&input, gt.width(), gt.height(), &frame.input.display())?;
        let counts = Confusion::count(&mask, &gt, seq.roi.as_ref())?;
        score.frames_scored += 1;
        score.all.add(&counts);
        if processed >= warmup {
            score.after_warmup.add(&counts);
        }
    }
    Ok(score)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(w: u32, h: u32, data: &[u8]) -> GrayImage {
        GrayImage::from_vec(w, h, data.to_vec()).unwrap()
    }

    #[test]
    fn counts_exclude_shadow_unknown_and_outside_roi() {
        // one pixel of each label, predicted moving then static
        let gt = img(5, 2, &[0, 50, 85, 170, 255, 0, 50, 85, 170, 255]);
        let pred = img(5, 2, &[255, 255, 255, 255, 255, 0, 0, 0, 0, 0]);
        let c = Confusion::count(&pred, &gt, None).unwrap();
        assert_eq!(
            c,
            Confusion {
                tp: 1,
                fp: 1,
                fn_: 1,
                tn: 1
            }
        );
        // any non-zero prediction is "moving"
        let pred1 = img(5, 2, &[1, 0, 0, 0, 7, 0, 0, 0, 0, 0]);
        let c1 = Confusion::count(&pred1, &gt, None).unwrap();
        assert_eq!((c1.tp, c1.fp, c1.fn_, c1.tn), (1, 1, 1, 1));
    }

    #[test]
    fn roi_mask_excludes_pixels() {
        let gt = img(4, 1, &[255, 255, 0, 0]);
        let pred = img(4, 1, &[255, 0, 255, 0]);
        let all = Confusion::count(&pred, &gt, None).unwrap();
        assert_eq!((all.tp, all.fn_, all.fp, all.tn), (1, 1, 1, 1));
        let roi = img(4, 1, &[255, 0, 0, 255]);
        let c = Confusion::count(&pred, &gt, Some(&roi)).unwrap();
        assert_eq!((c.tp, c.fn_, c.fp, c.tn), (1, 0, 0, 1));
    }

    #[test]
    fn metrics_from_counts() {
        let c = Confusion {
            tp: 60,
            fp: 20,
            fn_: 40,
            tn: 880,
        };
        assert!((c.precision() - 0.75).abs() < 1e-12);
        assert!((c.recall() - 0.6).abs() < 1e-12);
        assert!((c.f1() - 2.0 * 0.75 * 0.6 / 1.35).abs() < 1e-12);
        assert!((c.specificity() - 880.0 / 900.0).abs() < 1e-12);
        assert!((c.pwc() - 6.0).abs() < 1e-12);
        assert_eq!(Confusion::default().f1(), 0.0);
    }

    #[test]
    fn size_mismatch_is_an_error() {
        let gt = img(2, 2, &[0; 4]);
        let pred = img(4, 1, &[0; 4]);
        let err = Confusion::count(&pred, &gt, None).unwrap_err();
        assert!(err.to_string().contains("4x1"), "{err}");
    }

    #[test]
    fn bad_label_is_reported_with_position() {
        let gt = img(3, 2, &[0, 0, 0, 0, 128, 0]);
        let err = check_labels(&gt, Path::new("gt000001.png")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("gt000001.png") && msg.contains("128") && msg.contains("(1, 1)"),
            "{msg}"
        );
    }

    #[test]
    fn temporal_roi_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("temporalROI.txt");
        std::fs::write(&p, "470 1700\n").unwrap();
        assert_eq!(read_temporal_roi(&p).unwrap(), (470, 1700));
        std::fs::write(&p, "470").unwrap();
        assert!(
            read_temporal_roi(&p)
                .unwrap_err()
                .to_string()
                .contains("temporalROI.txt")
        );
        std::fs::write(&p, "9 3").unwrap();
        assert!(read_temporal_roi(&p).is_err());
        let err = CdnetSequence::open(&dir.path().join("nope")).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }

    /// Writes an 8-bit gray (palette) BMP, the format CDnet's ROI files use.
    fn write_bmp(path: &Path, w: u32, h: u32, pixel: impl Fn(u32, u32) -> u8) {
        let row = w.div_ceil(4) * 4;
        let offset = 14 + 40 + 1024;
        let size = offset + row * h;
        let mut b = Vec::new();
        b.extend_from_slice(b"BM");
        b.extend_from_slice(&size.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&offset.to_le_bytes());
        b.extend_from_slice(&40u32.to_le_bytes());
        b.extend_from_slice(&(w as i32).to_le_bytes());
        b.extend_from_slice(&(h as i32).to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&8u16.to_le_bytes());
        b.extend_from_slice(&[0; 4]); // no compression
        b.extend_from_slice(&(row * h).to_le_bytes());
        b.extend_from_slice(&[0; 16]); // resolution, palette sizes
        for v in 0..=255u8 {
            b.extend_from_slice(&[v, v, v, 0]);
        }
        for y in (0..h).rev() {
            for x in 0..row {
                b.push(if x < w { pixel(x, y) } else { 0 });
            }
        }
        std::fs::write(path, b).unwrap();
    }

    /// A CDnet-shaped folder holding the first highway frame and a ROI of the given size and content.
    fn one_frame_sequence(src: &Path, roi_w: u32, roi_h: u32) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("input")).unwrap();
        std::fs::copy(
            src.join("input/in001050.jpg"),
            dir.path().join("input/in001050.jpg"),
        )
        .unwrap();
        std::fs::write(dir.path().join("temporalROI.txt"), "1050 1050\n").unwrap();
        // left half outside the ROI
        write_bmp(&dir.path().join("ROI.bmp"), roi_w, roi_h, |x, _| {
            if x < roi_w / 2 { 0 } else { 255 }
        });
        dir
    }

    #[test]
    fn a_partial_roi_is_read_exactly_and_must_match_the_frame_size() {
        let Some(src) = shared_seq("highway") else {
            return;
        };
        let good = one_frame_sequence(&src, 320, 240);
        let seq = CdnetSequence::open(good.path()).unwrap();
        let roi = seq.roi.as_ref().unwrap();
        assert!(roi.row(10)[..160].iter().all(|&v| v == 0));
        assert!(roi.row(10)[160..].iter().all(|&v| v == 255));

        let bad = one_frame_sequence(&src, 352, 240);
        let err = CdnetSequence::open(bad.path()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("ROI.bmp") && msg.contains("352x240"), "{msg}");
    }

    fn shared_seq(name: &str) -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/footage/motion-gt")
            .join(name);
        if p.is_dir() {
            Some(p)
        } else {
            eprintln!("SKIP: {} not found (../shared footage absent)", p.display());
            None
        }
    }

    #[test]
    fn opens_real_cdnet_sequences() {
        let Some(dir) = shared_seq("highway") else {
            return;
        };
        let seq = CdnetSequence::open(&dir).unwrap();
        assert_eq!(seq.frames.len(), 301);
        assert_eq!(seq.frames[0].number, 1050);
        assert_eq!(seq.temporal_roi, (470, 1700));
        assert!(seq.frames.iter().all(|f| seq.is_scored(f.number)));
        let gt = seq.read_groundtruth(150).unwrap();
        assert_eq!((gt.width(), gt.height()), (320, 240));
        assert!(gt.data().contains(&GT_MOVING));
        // a perfect segmenter scores F1 = 1, an empty one recall 0
        let perfect = Confusion::count(
            &GrayImage::from_vec(
                320,
                240,
                gt.data()
                    .iter()
                    .map(|&v| if v == 255 { 255 } else { 0 })
                    .collect(),
            )
            .unwrap(),
            &gt,
            seq.roi.as_ref(),
        )
        .unwrap();
        assert_eq!(perfect.f1(), 1.0);
        assert_eq!((perfect.fp, perfect.fn_), (0, 0));

        // the scoring loop on real masks: an oracle that returns the ground truth scores 1, a segmenter
        // that calls everything moving has recall 1 and precision = the share of moving pixels
        let mut next = 0;
        let oracle = evaluate_sequence(&seq, 0, 10, |_frame| {
            let gt = seq.read_groundtruth(next)?;
            next += 10;
            GrayImage::from_vec(
                gt.width(),
                gt.height(),
                gt.data()
                    .iter()
                    .map(|&v| u8::from(v == GT_MOVING))
                    .collect(),
            )
            .map_err(|e| MotionEvalError::Parse {
                path: PathBuf::new(),
                reason: e.to_string(),
            })
        })
        .unwrap();
        assert_eq!((oracle.frames_processed, oracle.frames_scored), (31, 31));
        assert_eq!(oracle.all.f1(), 1.0);
        let everything = evaluate_sequence(&seq, 0, 10, |frame| {
            Ok::<_, MotionEvalError>(GrayImage::filled(frame.width(), frame.height(), 255))
        })
        .unwrap();
        assert_eq!(everything.all.recall(), 1.0);
        assert_eq!(everything.all.tp, oracle.all.tp);
        assert_eq!(everything.all.fp, oracle.all.tn);
        assert!(everything.all.precision() < 0.2);
        // a segmenter error names the frame
        let err = evaluate_sequence(&seq, 0, 1, |_frame| {
            Err::<GrayImage, _>(std::io::Error::other("boom"))
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("in001050.jpg") && err.to_string().contains("boom"),
            "{err}"
        );

        // traffic's ROI.bmp is 352x240 for 320x240 frames but marks everything: it is dropped, not an error
        if let Some(dir) = shared_seq("traffic") {
            let seq = CdnetSequence::open(&dir).unwrap();
            assert!(seq.roi.is_none());
            assert_eq!(seq.frames.len(), 101);
        }
    }
}
