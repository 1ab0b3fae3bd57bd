//! Detector output: one object found in one frame.

use crate::geometry::BBox;
use serde::{Deserialize, Serialize};

/// Index of a class in the detector's class list (COCO order for the bundled detectors: 0 = person).
pub type ClassId = u16;

/// One detected object: a box in frame pixel coordinates, a confidence and a class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Box in frame pixels.
    pub bbox: BBox,
    /// Confidence in 0..1.
    pub score: f32,
    /// Class index in the model's class list.
    pub class_id: ClassId,
}

impl Detection {
    /// A detection from its parts.
    pub const fn new(bbox: BBox, score: f32, class_id: ClassId) -> Self {
        Self {
            bbox,
            score,
            class_id,
        }
    }
}
