//! Pipeline settings.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use vigil_vision::motion::MotionConfig;
use vigil_vision::regions::RegionPlanConfig;
use vigil_vision::tracker::ByteTrackConfig;

/// COCO classes a security system cares about by default: people, vehicles, animals and carried objects.
pub const DEFAULT_CLASSES: &[&str] = &[
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "bus",
    "truck",
    "bird",
    "cat",
    "dog",
    "horse",
    "backpack",
    "handbag",
    "suitcase",
];

/// When the detector runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gating {
    /// Only on regions with motion and around live tracks, cropped at model resolution (the default: the
    /// main lever for both CPU cost and small-object accuracy).
    Motion,
    /// On the whole of every analysed frame (the reference the gated mode is measured against).
    EveryFrame,
}

/// Settings of one camera's [`crate::Analyzer`].
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Motion-gated or every-frame detection.
    pub gating: Gating,
    /// Width of the gray frame the motion detector sees (height keeps the aspect ratio).
    pub motion_width: u32,
    /// Motion detector settings.
    pub motion: MotionConfig,
    /// How motion boxes and live tracks become detector regions.
    pub regions: RegionPlanConfig,
    /// Tracker settings (`frame_rate` is set from the analysis rate by [`crate::Analyzer::new`]).
    pub tracker: ByteTrackConfig,
    /// Frames analysed per second (the tracker's frame rate).
    pub analysis_fps: f32,
    /// Class names kept (others are dropped before tracking); empty keeps every class.
    pub classes: Vec<String>,
    /// With motion gating, while every motion box is explained by a live track (and no new track waits
    /// for confirmation), the detector looks only on every `tracked_detect_every`-th analysed frame and the
    /// tracker coasts on its motion model in between (1: look on every frame). New motion always gets a
    /// look at once.
    pub tracked_detect_every: u32,
    /// With motion gating, run a full-frame pass at least this often so still objects that were there
    /// before any motion (a parked car, a person standing since start-up) are found too. `None`: never.
    pub full_frame_every: Option<Duration>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            gating: Gating::Motion,
            motion_width: 320,
            motion: MotionConfig::default(),
            regions: RegionPlanConfig::default(),
            // ByteTrack's settings for its own YOLOX detector (track_thresh 0.5, birth at 0.6): YOLOX scores
            // are lower than the Faster R-CNN scores the tracker's defaults were set for.
            // Recovery association on: at a few analysed frames per second a person who starts to walk
            // moves more than their own width between frames.
            tracker: ByteTrackConfig {
                track_thresh: 0.5,
                new_track_thresh: 0.6,
                recover_distance: 1.0,
                ..ByteTrackConfig::default()
            },
            analysis_fps: 5.0,
            tracked_detect_every: 3,
            classes: DEFAULT_CLASSES.iter().map(|s| s.to_string()).collect(),
            full_frame_every: Some(Duration::from_secs(30)),
        }
    }
}
