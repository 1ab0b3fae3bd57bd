//! One camera's analysis: motion gating, region detection and tracking of decoded frames.

use crate::config::{Gating, PipelineConfig};
use crate::{CameraSlot, DetectorPool, PipelineError};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_core::{BBox, BgrImage, Detection, GrayImage, Time90k, TrackedObject};
use vigil_media::{Converter, DecodedFrame};
use vigil_vision::count::{CrowdCounter, FrameCount, RegionDetector, is_whole_frame};
use vigil_vision::detector::{Detections, DetectorError, StageTimings};
use vigil_vision::model::ModelSpec;
use vigil_vision::motion::MotionDetector;
use vigil_vision::regions::plan_regions;
use vigil_vision::tracker::ByteTracker;

/// What one analysed frame produced.
#[derive(Debug, Clone)]
pub struct FrameAnalysis {
    /// Decoded frame index (0-based, presentation order).
    pub index: u64,
    /// Presentation time of the frame.
    pub pts: Time90k,
    /// Frame size in pixels (all boxes below are in these pixels).
    pub frame_size: (u32, u32),
    /// Motion boxes, scaled to frame pixels (empty in every-frame mode).
    pub motion_boxes: Vec<BBox>,
    /// Regions the detector looked at (the full frame when it ran on the whole frame; empty when it
    /// did not run).
    pub regions: Vec<BBox>,
    /// Detections kept for tracking (class filter applied).
    pub detections: Vec<Detection>,
    /// Confirmed tracks matched in this frame.
    pub tracks: Vec<TrackedObject>,
    /// True when the detector ran on this frame.
    pub detector_ran: bool,
    /// Why the detector ran, or why it did not.
    pub reason: DetectReason,
    /// True when the motion model rebuilt itself after a sudden global change (lights, camera gain).
    pub recalibrated: bool,
    /// The frame as BGR, when it was converted (for the detector, or because the caller asked).
    pub bgr: Option<BgrImage>,
    /// The BGR frame the detector ran on, when the caller did not ask for [`FrameAnalysis::bgr`] (read
    /// it with [`FrameAnalysis::detected_frame`]): kept for the stages that look at fresh detections'
    /// pixels (attributes) without converting the frame again.
    pub detector_bgr: Option<BgrImage>,
    /// The small gray copy the motion model saw (`motion_width` wide; motion-gated analysis only), for
    /// the stages that judge the picture (camera health) without converting the frame again.
    pub gray: Option<GrayImage>,
    /// Where the time went.
    pub timings: FrameTimings,
}

/// Why the detector ran on a frame (or did not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectReason {
    /// Every-frame mode.
    EveryFrame,
    /// A full-frame look: first frame, periodic refresh, or after the scene changed as a whole.
    FullFrame,
    /// Motion that no live track explains.
    NewMotion,
    /// A track born on the last frame waits for its confirming detection.
    Unconfirmed,
    /// The periodic look at live tracks (every `tracked_detect_every` frames).
    TrackCadence,
    /// Not run: all motion is explained by live tracks, looked at recently; the tracker coasted.
    Coasted,
    /// Not run: nothing moves and nothing is tracked.
    Idle,
}

/// Time per stage for one frame (zero for stages that did not run).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FrameTimings {
    /// Gray conversion + motion detection + region planning.
    pub motion: Duration,
    /// BGR conversion of the frame for the detector.
    pub convert: Duration,
    /// Detector stages (preprocess, the ONNX Runtime call, postprocess).
    pub detector: StageTimings,
    /// Waiting in the shared pool's queue until the frame's batch was taken (the detector stages above are
    /// this frame's share of the batch's run).
    pub detector_wait: Duration,
    /// Tracker update.
    pub tracking: Duration,
}

/// The analysis state of one camera: motion model, tracker and pixel converter.
pub struct Analyzer {
    config: PipelineConfig,
    detectors: Arc<DetectorPool>,
    slot: CameraSlot,
    motion: MotionDetector,
    tracker: ByteTracker,
    converter: Converter,
    keep_class: Vec<bool>,
    last_full_frame: Option<Time90k>,
    frames_since_detect: u32,
}

/// A camera's slot of the shared detectors as a [`RegionDetector`] (for crowd counts).
struct SlotDetector<'a> {
    slot: &'a mut CameraSlot,
    spec: &'a ModelSpec,
}

impl RegionDetector for SlotDetector<'_> {
    fn model(&self) -> &ModelSpec {
        self.spec
    }

    fn detect_in(
        &mut self,
        image: &BgrImage,
        regions: &[BBox],
    ) -> Result<Detections, DetectorError> {
        if is_whole_frame(regions, image.width(), image.height()) {
            self.slot.detect(image)
        } else {
            self.slot.detect_regions(image, regions)
        }
    }
}

/// What the detector does on a frame.
enum Plan {
    /// Look at these regions (frame pixels), for this reason.
    Detect(Vec<BBox>, DetectReason),
    /// Nothing new moved and live tracks were looked at recently: the tracker coasts.
    Coast,
    /// Nothing moves and nothing is tracked.
    Idle,
}

/// A motion box counts as explained by a track when at least this share of it lies in the track's
/// (margin-grown) predicted box.
const EXPLAINED_COVERAGE: f32 = 0.5;

impl FrameAnalysis {
    /// Makes sure [`FrameAnalysis::bgr`] holds the frame in BGR at the analysed size, converting
    /// `decoded` (the frame this analysis is of) when the analysis did not need it.
    pub fn ensure_bgr(
        &mut self,
        decoded: &DecodedFrame,
        converter: &mut Converter,
    ) -> Result<(), vigil_media::MediaError> {
        if self.bgr.is_none() {
            if let Some(bgr) = self.detector_bgr.take() {
                self.bgr = Some(bgr);
                return Ok(());
            }
            let (w, h) = self.frame_size;
            self.bgr = Some(decoded.bgr(converter, w, h)?);
        }
        Ok(())
    }
}

impl FrameAnalysis {
    /// The BGR frame (at [`FrameAnalysis::frame_size`]) the detector ran on; `None` when it did not run.
    pub fn detected_frame(&self) -> Option<&BgrImage> {
        if !self.detector_ran {
            return None;
        }
        self.bgr.as_ref().or(self.detector_bgr.as_ref())
    }
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("gating", &self.config.gating)
            .field("detectors", &self.detectors)
            .finish_non_exhaustive()
    }
}

impl Analyzer {
    /// An analyzer using detectors from `detectors`, for an unnamed camera.
    pub fn new(
        config: PipelineConfig,
        detectors: Arc<DetectorPool>,
    ) -> Result<Self, PipelineError> {
        Self::for_camera("", config, detectors)
    }

    /// An analyzer for camera `name`, using detectors from `detectors` (its share of them is reported by
    /// [`DetectorPool::status`] under that name).
    pub fn for_camera(
        name: &str,
        mut config: PipelineConfig,
        detectors: Arc<DetectorPool>,
    ) -> Result<Self, PipelineError> {
        if !(config.analysis_fps.is_finite() && config.analysis_fps > 0.0) {
            return Err(PipelineError::Config(format!(
                "analysis rate must be a positive number of frames per second, not {}",
                config.analysis_fps
            )));
        }
        if config.motion_width < 16 {
            return Err(PipelineError::Config(format!(
                "motion width {} is too small (at least 16 pixels)",
                config.motion_width
            )));
        }
        let spec = detectors.spec();
        let mut keep_class = vec![config.classes.is_empty(); spec.classes.len()];
        for name in &config.classes {
            let id = spec.class_id(name).ok_or_else(|| {
                PipelineError::Config(format!("model {} has no class `{name}`", spec.name))
            })?;
            keep_class[id as usize] = true;
        }
        config.tracker.frame_rate = config.analysis_fps;
        let slot = detectors.camera(name, f64::from(config.analysis_fps));
        Ok(Self {
            slot,
            motion: MotionDetector::new(config.motion.clone())?,
            tracker: ByteTracker::new(config.tracker.clone()),
            converter: Converter::new(),
            keep_class,
            last_full_frame: None,
            frames_since_detect: 0,
            detectors,
            config,
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// The tracker (for its live and coasting tracks).
    pub fn tracker(&self) -> &ByteTracker {
        &self.tracker
    }

    /// Counts the people in `image` (a frame of this camera, at any size) with `counter`, on this camera's
    /// share of the shared detectors: the tiles of a crowd count queue like any frame of the camera.
    pub fn count_people(
        &mut self,
        counter: &mut CrowdCounter,
        image: &BgrImage,
    ) -> Result<FrameCount, PipelineError> {
        let mut slot = SlotDetector {
            slot: &mut self.slot,
            spec: self.detectors.spec(),
        };
        Ok(counter.count(&mut slot, image)?)
    }

    /// Analyses one decoded frame. With `want_bgr`, the frame's BGR image is returned even when the
    /// detector did not need it (annotation, snapshots).
    pub fn process(
        &mut self,
        frame: &DecodedFrame,
        want_bgr: bool,
    ) -> Result<FrameAnalysis, PipelineError> {
        let (w, h) = (frame.width(), frame.height());
        let mut timings = FrameTimings::default();
        let mut analysis = FrameAnalysis {
            index: frame.index(),
            pts: frame.pts(),
            frame_size: (w, h),
            motion_boxes: Vec::new(),
            regions: Vec::new(),
            detections: Vec::new(),
            tracks: Vec::new(),
            detector_ran: false,
            reason: DetectReason::Idle,
            recalibrated: false,
            bgr: None,
            detector_bgr: None,
            gray: None,
            timings,
        };

        let full = BBox::new(0.0, 0.0, w as f32, h as f32);
        let plan = match self.config.gating {
            Gating::EveryFrame => Plan::Detect(vec![full], DetectReason::EveryFrame),
            Gating::Motion => {
                let t = Instant::now();
                let plan = self.plan_motion_regions(frame, &mut analysis)?;
                timings.motion = t.elapsed();
                plan
            }
        };
        let coast = matches!(plan, Plan::Coast);
        let (regions, reason) = match plan {
            Plan::Detect(regions, reason) => (regions, reason),
            Plan::Coast => (Vec::new(), DetectReason::Coasted),
            Plan::Idle => (Vec::new(), DetectReason::Idle),
        };
        analysis.reason = reason;

        let mut bgr = None;
        if !regions.is_empty() || want_bgr {
            let t = Instant::now();
            bgr = Some(frame.bgr(&mut self.converter, w, h)?);
            timings.convert = t.elapsed();
        }

        let mut detections = Vec::new();
        if let (false, Some(image)) = (regions.is_empty(), bgr.as_ref()) {
            let found = if regions.len() == 1 && regions[0] == full {
                self.slot.detect(image)
            } else {
                self.slot.detect_regions(image, &regions)
            }?;
            timings.detector_wait = self.slot.last_wait();
            timings.detector = found.timings;
            detections = found.detections;
            detections.retain(|d| {
                self.keep_class
                    .get(d.class_id as usize)
                    .copied()
                    .unwrap_or(false)
            });
            analysis.detector_ran = true;
            if regions.len() == 1 && regions[0] == full {
                self.last_full_frame = Some(frame.pts());
            }
        }

        let t = Instant::now();
        if coast {
            analysis.tracks = self.tracker.coast();
            self.frames_since_detect += 1;
        } else {
            analysis.tracks = self.tracker.update(&detections);
            self.frames_since_detect = 0;
        }
        timings.tracking = t.elapsed();

        analysis.regions = regions;
        analysis.detections = detections;
        if want_bgr {
            analysis.bgr = bgr;
        } else if analysis.detector_ran {
            analysis.detector_bgr = bgr;
        }
        analysis.timings = timings;
        self.slot.record_analysed();
        Ok(analysis)
    }

    /// Runs motion detection and decides what the detector does on this frame (regions in frame pixels).
    fn plan_motion_regions(
        &mut self,
        frame: &DecodedFrame,
        analysis: &mut FrameAnalysis,
    ) -> Result<Plan, PipelineError> {
        let (w, h) = (frame.width(), frame.height());
        let mw = self.config.motion_width.min(w).max(2) & !1;
        let mh = ((h as u64 * mw as u64 / w.max(1) as u64) as u32).max(2) & !1;
        let gray = frame.gray(&mut self.converter, mw, mh)?;
        let motion = self.motion.update(&gray)?;
        let (sx, sy) = (w as f32 / mw as f32, h as f32 / mh as f32);
        analysis.motion_boxes = motion.boxes.iter().map(|b| b.scale(sx, sy)).collect();
        analysis.recalibrated = motion.recalibrated;
        analysis.gray = Some(gray);

        // A full-frame look: on the first frame, after the scene changed as a whole, and periodically for
        // still objects that never moved while we watched.
        let due = match (self.last_full_frame, self.config.full_frame_every) {
            (None, _) => true,
            (Some(last), Some(every)) => {
                frame.pts().0.saturating_sub(last.0)
                    >= Time90k::from_secs_f64(every.as_secs_f64()).0
                    || frame.pts() < last
            }
            (Some(_), None) => false,
        };
        if due || motion.recalibrated {
            return Ok(Plan::Detect(
                vec![BBox::new(0.0, 0.0, w as f32, h as f32)],
                DetectReason::FullFrame,
            ));
        }
        let tracks: Vec<BBox> = self.tracker.predict_next().iter().map(|t| t.bbox).collect();
        if tracks.is_empty() && analysis.motion_boxes.is_empty() {
            return Ok(Plan::Idle);
        }
        let margin = self.config.regions.track_margin.max(0.0);
        let explained = |m: &BBox| {
            tracks.iter().any(|t| {
                m.coverage_by(&t.expand(margin * t.width().max(t.height()))) >= EXPLAINED_COVERAGE
            })
        };
        let reason = if !analysis.motion_boxes.iter().all(explained) {
            DetectReason::NewMotion
        } else if self.tracker.has_unconfirmed() {
            DetectReason::Unconfirmed
        } else if self.frames_since_detect + 1 < self.config.tracked_detect_every.max(1) {
            return Ok(Plan::Coast);
        } else {
            DetectReason::TrackCadence
        };
        let regions = plan_regions(
            &analysis.motion_boxes,
            &tracks,
            w,
            h,
            self.detectors.spec().input_size,
            &self.config.regions,
        );
        Ok(if regions.is_empty() {
            Plan::Idle
        } else {
            Plan::Detect(regions, reason)
        })
    }
}
