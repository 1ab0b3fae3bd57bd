//! The COCO class names live in `vigil_core::coco` (search and rules use them too).

pub use vigil_core::coco::{COCO_CLASSES, PERSON};
