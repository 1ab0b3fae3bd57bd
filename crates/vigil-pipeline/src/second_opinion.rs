//! The independent second detector of intrusion rules with `second_opinion` (`[analysis]
//! second_model`): the rules engine says what it wants looked at (`RuleEngine::second_opinion_request`,
//! empty on most frames), this stage runs the second model there through its own detector pool, and the
//! engine draws the conclusions (`RuleEngine::second_opinion_answer`; see `vigil_rules::second`).
//!
//! Each object or motion blob is looked at in a square around it ([`OBJECT_CONTEXT`], [`MOTION_CONTEXT`]
//! times its longer side, at least [`MIN_REGION`] pixels), at the model's resolution, all of a frame's
//! regions in one call.

use crate::pool::{CameraSlot, DetectorPool};
use std::time::{Duration, Instant};
use vigil_core::{BBox, BgrImage, Event};
use vigil_rules::{RuleEngine, SecondDetection, SecondOpinionRequest};
use vigil_vision::detector::DetectorError;

/// An object's region: this many times its box's longer side (the box itself plus some context).
pub const OBJECT_CONTEXT: f32 = 1.3;
/// A motion blob's region: this many times its longer side (motion often covers part of the body).
pub const MOTION_CONTEXT: f32 = 2.0;
/// The smallest region side, in pixels.
pub const MIN_REGION: f32 = 96.0;

/// One camera's second detector.
pub struct SecondOpinionStage {
    slot: CameraSlot,
    model: String,
    classes: Vec<String>,
    cost: Duration,
    runs: u64,
}

impl std::fmt::Debug for SecondOpinionStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecondOpinionStage")
            .field("model", &self.model)
            .field("runs", &self.runs)
            .finish_non_exhaustive()
    }
}

/// A square of `scale` times `b`'s longer side (at least [`MIN_REGION`]) around its centre.
fn square(b: &BBox, scale: f32) -> BBox {
    let c = b.center();
    let half = (b.width().max(b.height()) * scale).max(MIN_REGION) / 2.0;
    BBox::new(c.x - half, c.y - half, c.x + half, c.y + half)
}

impl SecondOpinionStage {
    /// The second detector of `pool` for camera `camera`, analysed at about `fps`.
    pub fn new(pool: &DetectorPool, camera: &str, fps: f64) -> Self {
        Self {
            slot: pool.camera(&format!("{camera} (second opinion)"), fps),
            model: pool.spec().name.clone(),
            classes: pool.spec().classes.clone(),
            cost: Duration::ZERO,
            runs: 0,
        }
    }

    /// The second model's name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Tells `engine` about the second detector (again after every change of rules).
    pub fn attach(&self, engine: &mut RuleEngine) {
        engine.set_second_model(&self.model, self.classes.clone());
    }

    /// Runs the second detector on what `req` asks about in `image` (the frame the rules' boxes are in).
    pub fn look(
        &mut self,
        req: &SecondOpinionRequest,
        image: &BgrImage,
    ) -> Result<Vec<SecondDetection>, DetectorError> {
        if req.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let regions: Vec<BBox> = req
            .confirm
            .iter()
            .map(|c| square(&c.bbox, OBJECT_CONTEXT))
            .chain(req.catch.iter().map(|(_, b)| square(b, MOTION_CONTEXT)))
            .collect();
        let found = self.slot.detect_regions(image, &regions)?;
        self.cost += started.elapsed();
        self.runs += 1;
        Ok(found
            .detections
            .into_iter()
            .map(|d| SecondDetection {
                class_name: self
                    .classes
                    .get(d.class_id as usize)
                    .cloned()
                    .unwrap_or_default(),
                score: d.score,
                bbox: d.bbox,
            })
            .collect())
    }

    /// Looks at what `req` (from `engine.second_opinion_request()`, not empty) asks about in `image` and
    /// returns the events the answer raises. On a failure the request is dropped (objects are asked
    /// about again at the next frame).
    pub fn consult(
        &mut self,
        engine: &mut RuleEngine,
        req: &SecondOpinionRequest,
        image: &BgrImage,
    ) -> Result<Vec<Event>, DetectorError> {
        let seen = self.look(req, image)?;
        Ok(engine.second_opinion_answer(req, &seen))
    }

    /// Wall time spent looking, and the number of looks (model calls).
    pub fn cost(&self) -> (Duration, u64) {
        (self.cost, self.runs)
    }
}
