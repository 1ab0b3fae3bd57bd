//! Readers for the MOTChallenge text formats and the MOT17 evaluation rules.
//!
//! `gt.txt`: `frame, id, left, top, width, height, consider, class, visibility`.
//! `det.txt`: `frame, -1, left, top, width, height, score[, ...]`.
//! Positives are class 1 (pedestrian) with `consider == 1`; boxes of classes 2 (person on vehicle),
//! 7 (static person), 8 (distractor) and 12 (reflection) are ignore regions: a prediction matched to one
//! is neither a true nor a false positive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;
use vigil_core::BBox;

/// MOT17 classes whose boxes are ignore regions (distractors) in detection and tracking evaluation.
pub const IGNORE_CLASSES: [u32; 4] = [2, 7, 8, 12];

/// Errors reading MOTChallenge files; each names the file and, for parse errors, the line.
#[derive(Debug, Error)]
pub enum MotFileError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A line does not have the expected columns.
    #[error("{path}:{line}: {reason}")]
    Parse {
        /// File.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// One ground-truth row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GtBox {
    /// 1-based frame number.
    pub frame: u32,
    /// Object identity.
    pub id: i64,
    /// Box in pixels.
    pub bbox: BBox,
    /// The `consider` flag (0 = not evaluated).
    pub consider: bool,
    /// MOT17 class (1 = pedestrian).
    pub class: u32,
    /// Visible fraction 0..1.
    pub visibility: f32,
}

impl GtBox {
    /// True for a box that counts as a positive: a pedestrian marked to be considered.
    pub fn is_positive(&self) -> bool {
        self.class == 1 && self.consider
    }

    /// True for a box that is an ignore region (distractor classes).
    pub fn is_ignore_region(&self) -> bool {
        IGNORE_CLASSES.contains(&self.class)
    }
}

/// One public detection (or tracker output) row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetBox {
    /// 1-based frame number.
    pub frame: u32,
    /// Identity (-1 for detections).
    pub id: i64,
    /// Box in pixels.
    pub bbox: BBox,
    /// Confidence (detections) or 1 (tracks).
    pub score: f32,
}

/// The `[Sequence]` section of `seqinfo.ini`.
#[derive(Debug, Clone, PartialEq)]
pub struct SeqInfo {
    /// Sequence name, e.g. `MOT17-02-FRCNN`.
    pub name: String,
    /// Frames per second of the original video.
    pub frame_rate: f32,
    /// Number of frames of the full sequence.
    pub seq_length: u32,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Image directory name (usually `img1`).
    pub im_dir: String,
    /// Image extension with its dot (usually `.jpg`).
    pub im_ext: String,
}

fn read(path: &Path) -> Result<String, MotFileError> {
    std::fs::read_to_string(path).map_err(|source| MotFileError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Splits a CSV line into at least `min` numeric fields.
fn fields(path: &Path, line_no: usize, line: &str, min: usize) -> Result<Vec<f64>, MotFileError> {
    let parse_err = |reason: String| MotFileError::Parse {
        path: path.to_path_buf(),
        line: line_no,
        reason,
    };
    let values = line
        .split(',')
        .map(|f| {
            f.trim()
                .parse::<f64>()
                .map_err(|_| parse_err(format!("not a number: {f:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if values.len() < min {
        return Err(parse_err(format!(
            "{} columns, expected at least {min}",
            values.len()
        )));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(parse_err("non-finite value".into()));
    }
    if values[0] < 1.0 || values[0] > u32::MAX as f64 {
        return Err(parse_err(format!(
            "frame number {} out of range",
            values[0]
        )));
    }
    Ok(values)
}

fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
}

/// Reads a `gt.txt` file.
pub fn read_gt(path: &Path) -> Result<Vec<GtBox>, MotFileError> {
    let text = read(path)?;
    numbered_lines(&text)
        .map(|(n, line)| {
            let v = fields(path, n, line, 9)?;
            Ok(GtBox {
                frame: v[0] as u32,
                id: v[1] as i64,
                bbox: BBox::from_xywh(v[2] as f32, v[3] as f32, v[4] as f32, v[5] as f32),
                consider: v[6] != 0.0,
                class: v[7] as u32,
                visibility: v[8] as f32,
            })
        })
        .collect()
}

/// Reads a `det.txt` file (public detections) or a tracker result in the same layout.
pub fn read_det(path: &Path) -> Result<Vec<DetBox>, MotFileError> {
    let text = read(path)?;
    numbered_lines(&text)
        .map(|(n, line)| {
            let v = fields(path, n, line, 6)?;
            Ok(DetBox {
                frame: v[0] as u32,
                id: v[1] as i64,
                bbox: BBox::from_xywh(v[2] as f32, v[3] as f32, v[4] as f32, v[5] as f32),
                score: v.get(6).copied().unwrap_or(1.0) as f32,
            })
        })
        .collect()
}

/// Reads `seqinfo.ini`.
pub fn read_seqinfo(path: &Path) -> Result<SeqInfo, MotFileError> {
    let text = read(path)?;
    let mut map = BTreeMap::new();
    for (_, line) in numbered_lines(&text) {
        if let Some((k, v)) = line.split_once('=') {
            map.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    let missing = |key: &str| MotFileError::Parse {
        path: path.to_path_buf(),
        line: 0,
        reason: format!("missing or invalid `{key}`"),
    };
    let num = |key: &str| -> Result<f64, MotFileError> {
        map.get(key)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| missing(key))
    };
    Ok(SeqInfo {
        name: map.get("name").cloned().ok_or_else(|| missing("name"))?,
        frame_rate: num("frameRate")? as f32,
        seq_length: num("seqLength")? as u32,
        width: num("imWidth")? as u32,
        height: num("imHeight")? as u32,
        im_dir: map.get("imDir").cloned().unwrap_or_else(|| "img1".into()),
        im_ext: map.get("imExt").cloned().unwrap_or_else(|| ".jpg".into()),
    })
}

/// Groups rows by frame number (frames in ascending order).
pub fn by_frame<T: Copy>(rows: &[T], frame_of: impl Fn(&T) -> u32) -> BTreeMap<u32, Vec<T>> {
    let mut map: BTreeMap<u32, Vec<T>> = BTreeMap::new();
    for r in rows {
        map.entry(frame_of(r)).or_default().push(*r);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn parses_gt_and_det_rows() {
        let dir = tempfile::tempdir().unwrap();
        let gt = dir.path().join("gt.txt");
        std::fs::write(&gt, "1,1,912,484,97,109,0,7,1.0\n2,3,10,20,30,40,1,1,0.5\n").unwrap();
        let rows = read_gt(&gt).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].is_ignore_region() && !rows[0].is_positive());
        assert!(rows[1].is_positive());
        assert_eq!(rows[1].bbox, BBox::new(10.0, 20.0, 40.0, 60.0));

        let det = dir.path().join("det.txt");
        std::fs::write(&det, "69,-1,912.8,482.9,97.6,112.6,0.9\n").unwrap();
        let d = read_det(&det).unwrap();
        assert_eq!(d[0].frame, 69);
        assert!((d[0].score - 0.9).abs() < 1e-6);
    }

    #[test]
    fn bad_line_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("gt.txt");
        let mut f = std::fs::File::create(&p).unwrap();
        writeln!(f, "1,1,1,1,1,1,1,1,1").unwrap();
        writeln!(f, "2,1,abc,1,1,1,1,1,1").unwrap();
        let err = read_gt(&p).unwrap_err().to_string();
        assert!(err.contains("gt.txt:2") && err.contains("abc"), "{err}");
        std::fs::write(&p, "0,1,1,1,1,1,1,1,1\n").unwrap();
        assert!(
            read_gt(&p)
                .unwrap_err()
                .to_string()
                .contains("frame number")
        );
    }

    #[test]
    fn reads_real_seqinfo() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/footage/mot17-gt/MOT17-02-FRCNN/seqinfo.ini");
        if !p.exists() {
            eprintln!("SKIP: {} not found (../shared footage absent)", p.display());
            return;
        }
        let s = read_seqinfo(&p).unwrap();
        assert_eq!(
            (s.name.as_str(), s.width, s.height, s.seq_length),
            ("MOT17-02-FRCNN", 1920, 1080, 600)
        );
        assert_eq!(s.frame_rate, 30.0);
    }
}
