//! Helpers shared by the detector integration tests: the shared data directory, the ONNX Runtime, real frames.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use vigil_core::BgrImage;
use vigil_vision::model::{ModelSpec, ModelStore};
use vigil_vision::runtime::{ORT_DYLIB_ENV, Runtime};

/// `../shared` beside the project root.
pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// The shared models directory, or `None` (with a SKIP line) when absent.
pub fn models_dir(test: &str) -> Option<PathBuf> {
    let dir = shared().join("models");
    if dir.join("yolox_nano_416.onnx").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP {test}: {} not found (../shared absent)",
            dir.display()
        );
        None
    }
}

/// The ONNX Runtime, or `None` (with a SKIP line) when `ORT_DYLIB_PATH` is not set.
pub fn runtime(test: &str) -> Option<Runtime> {
    if std::env::var_os(ORT_DYLIB_ENV).is_none() {
        eprintln!("SKIP {test}: {ORT_DYLIB_ENV} not set (source dev/install-deps)");
        return None;
    }
    Some(Runtime::init(None).expect("ONNX Runtime loads from ORT_DYLIB_PATH"))
}

/// Everything a detector test needs, or `None` after a SKIP line.
pub fn setup(test: &str) -> Option<(Runtime, PathBuf)> {
    let dir = models_dir(test)?;
    Some((runtime(test)?, dir))
}

/// A store over the shared models only (no cache, no downloads).
pub fn store(dir: &Path) -> ModelStore {
    ModelStore::new(vec![dir.to_path_buf()], None)
}

/// The built-in spec called `name`.
pub fn spec(name: &str) -> ModelSpec {
    ModelSpec::builtin(name).expect("built-in model")
}

/// A MOT17-mini frame, e.g. `frame("MOT17-09-FRCNN", 1)`.
pub fn frame(seq: &str, number: u32) -> BgrImage {
    let path = shared().join(format!(
        "footage/mot17-mini/train/{seq}/img1/{number:06}.jpg"
    ));
    vigil_media::image_file::read_bgr(&path).expect("frame decodes")
}

/// Pedestrian ground-truth boxes of a MOT17-mini frame.
pub fn gt_people(seq: &str, number: u32) -> Vec<vigil_core::BBox> {
    gt_boxes(seq, number, |consider, class| consider && class == 1)
}

/// Ignore regions (static people, distractors, reflections...) of a MOT17-mini frame.
pub fn gt_ignore(seq: &str, number: u32) -> Vec<vigil_core::BBox> {
    gt_boxes(seq, number, |_, class| [2, 7, 8, 12].contains(&class))
}

fn gt_boxes(seq: &str, number: u32, keep: impl Fn(bool, u32) -> bool) -> Vec<vigil_core::BBox> {
    let path = shared().join(format!("footage/mot17-mini/train/{seq}/gt/gt.txt"));
    let text = std::fs::read_to_string(path).expect("gt.txt");
    text.lines()
        .filter_map(|l| {
            let v: Vec<f32> = l.split(',').map(|f| f.trim().parse().unwrap()).collect();
            (v[0] as u32 == number && keep(v[6] == 1.0, v[7] as u32))
                .then(|| vigil_core::BBox::from_xywh(v[2], v[3], v[4], v[5]))
        })
        .collect()
}
