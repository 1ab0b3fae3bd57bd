//! Crowd counts for the rules of a camera: about once a second (`[occupancy] count_every`), when a
//! crowding rule counts people or zone occupancy asks for it, the people on the analysed frame are counted
//! with the tiled detection counter (`vigil_vision::count`, the same as `vigil count`) on the camera's
//! share of the shared detectors, and handed to the rules engine ([`RuleEngine::set_people`]), whose
//! zones count the people whose feet stand in them. Tracks still serve everything else.
//!
//! The cost is bounded: one count per period, each at most `1 + MAX_TILES` model runs (plus the first
//! look that sizes the grid, once), and visible in [`CrowdStatus`] (the camera's analysis figures).

use crate::{Analyzer, PipelineError};
use std::time::{Duration, Instant};
use vigil_core::{BBox, BgrImage};
use vigil_rules::{FrameContext, RuleEngine};
use vigil_vision::count::{COUNT_SCORE, CrowdCounter, GridPolicy};
use vigil_vision::model::ModelSpec;

/// What a camera's crowd counting has cost and found.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CrowdStatus {
    /// Counts made.
    pub counts: u64,
    /// Model runs (whole frame and tiles) spent on them.
    pub runs: u64,
    /// Mean wall time of a count, milliseconds (the detector's runs, and its queue when shared).
    pub mean_ms: f64,
    /// People in the whole picture at the last count.
    pub people: u32,
    /// The grid in use (`2x2+full`...), once chosen.
    pub grid: Option<String>,
}

/// A camera's crowd counter for its rules.
#[derive(Debug)]
pub struct CrowdStage {
    counter: CrowdCounter,
    every: Duration,
    last_ms: Option<i64>,
    status: CrowdStatus,
    spent: Duration,
}

impl CrowdStage {
    /// The crowd counter `engine` wants ([`RuleEngine::people_count_every`]) for a model with `spec`
    /// (automatic grid, default threshold); `None` when no rule or zone wants crowd counts.
    pub fn for_rules(engine: &RuleEngine, spec: &ModelSpec) -> Option<Self> {
        let every = engine.people_count_every()?;
        let counter = CrowdCounter::new(spec, None, COUNT_SCORE, GridPolicy::default())?;
        Some(Self {
            counter,
            every,
            last_ms: None,
            status: CrowdStatus::default(),
            spent: Duration::ZERO,
        })
    }

    /// True when the frame at `unix_ms` should be counted (a period since the last count, or the clock
    /// went back).
    pub fn due(&self, unix_ms: i64) -> bool {
        self.last_ms
            .is_none_or(|last| unix_ms < last || unix_ms - last >= self.every.as_millis() as i64)
    }

    /// Counts the people on `image` (the frame of `ctx`) and hands them to `engine`. A failed count is
    /// returned; the engine then keeps the last count until it is stale (then tracks count again).
    pub fn count(
        &mut self,
        analyzer: &mut Analyzer,
        engine: &mut RuleEngine,
        ctx: &FrameContext,
        image: &BgrImage,
    ) -> Result<(), PipelineError> {
        self.last_ms = Some(ctx.time_unix_ms);
        let t = Instant::now();
        let found = analyzer.count_people(&mut self.counter, image)?;
        self.spent += t.elapsed();
        // The people's boxes in the pixels of the frame the rules see (the count may run on another size).
        let (sx, sy) = (
            ctx.frame_w as f32 / image.width().max(1) as f32,
            ctx.frame_h as f32 / image.height().max(1) as f32,
        );
        let people: Vec<BBox> = found.people.iter().map(|d| d.bbox.scale(sx, sy)).collect();
        engine.set_people(ctx, &people);
        let s = &mut self.status;
        s.counts += 1;
        s.runs += u64::from(found.runs);
        s.mean_ms = self.spent.as_secs_f64() * 1e3 / s.counts as f64;
        s.people = people.len() as u32;
        s.grid = self.counter.grid().map(|g| g.to_string());
        Ok(())
    }

    /// What counting has cost and found so far.
    pub fn status(&self) -> &CrowdStatus {
        &self.status
    }
}
