//! One camera's live analysis as `vigil run` runs it, on a thread of its own: encoded frames in (from
//! the camera's [`AnalysisFeed`]), decoder (rebuilt when the stream's parameters change), sampling at the
//! analysis rate, motion-gated detection and tracking ([`Analyzer`]), behaviour rules
//! ([`RuleEngine`]), and events with their snapshots out onto the event bus, with what the camera sees
//! besides events (motion, objects in view, now and then a picture). The thread never waits on disk or
//! network: publishing to the bus is a queue push; storing, alerting and showing are the consumers'
//! business (see `docs/design/threads.md`).
//!
//! The camera's detection switch ([`CameraControls`], flipped from Home Assistant) pauses it all: frames
//! are dropped undecoded, open events end, objects in view and zones read 0, and analysis restarts afresh
//! (new tracker and motion model, decoding from the next key frame) once it is on again. Line counters
//! are kept.

use crate::crowd::CrowdStage;
use crate::snapshot::{take_picture, take_snapshot, wants_snapshot};
use crate::{Analyzer, DetectorPool, PipelineConfig};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{info, warn};
use vigil_bus::{CountsMessage, EventBus, EventMessage, Message, ViewMessage};
use vigil_core::{CameraControls, Event, Time90k, TrackedObject, VideoParams};
use vigil_media::rtsp::StreamEvent;
use vigil_media::{Converter, DecodedFrame, DecoderOptions, FrameSampler, VideoDecoder};
use vigil_rules::{FrameContext, RuleEngine, RulesConfig};

/// Capacity of a camera's analysis channel (encoded frames waiting for the decoder).
pub const ANALYSIS_CHANNEL: usize = 64;

/// How far behind real time a frame may be and still be analysed. Older frames are decoded (the
/// decoder needs every frame) but not analysed, and counted as skipped: beyond the box's capacity each
/// camera sheds its backlog instead of queueing seconds of it, so alerts stay at most this late and
/// every camera's rate falls with its share of the CPU.
pub const MAX_ANALYSIS_LAG: Duration = Duration::from_millis(1000);

/// Live figures of one camera's analysis, for the status page and `/metrics`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AnalysisStatus {
    /// Frames analysed.
    pub frames: u64,
    /// Frames the detector ran on.
    pub detector_frames: u64,
    /// Analysed frames per second (last few seconds).
    pub fps: f64,
    /// Mean detector time per run, milliseconds (last few seconds).
    pub detector_ms: f64,
    /// Live confirmed tracks in the last analysed frame.
    pub tracks: usize,
    /// Events emitted (all phases).
    pub events: u64,
    /// Wall-clock time of the last analysed frame (ms since the epoch).
    pub last_frame_unix_ms: Option<i64>,
    /// Last decode or analysis error.
    pub last_error: Option<String>,
    /// The picture's health states on now (`covered`, `dark`...; empty when all is well).
    pub health: Vec<String>,
    /// When new rules (saved from the browser) were last applied (ms since the epoch).
    pub rules_changed_unix_ms: Option<i64>,
    /// Crowd counting for the rules (its cost and last count), when a rule or zone wants it.
    pub crowd: Option<crate::crowd::CrowdStatus>,
}

/// Shared handle on a camera's analysis figures, plus the count of frames the feed skipped.
#[derive(Debug, Clone, Default)]
pub struct AnalysisStats {
    /// The figures.
    pub status: Arc<Mutex<AnalysisStatus>>,
    /// Frames skipped because analysis was behind: by the feed when the channel was full, by the
    /// analysis thread when a frame was more than [`MAX_ANALYSIS_LAG`] old.
    pub skipped: Arc<AtomicU64>,
}

impl AnalysisStats {
    /// A copy of the figures and the skipped-frame count.
    pub fn snapshot(&self) -> (AnalysisStatus, u64) {
        let s = self
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        (s, self.skipped.load(Ordering::Relaxed))
    }

    fn update(&self, f: impl FnOnce(&mut AnalysisStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// Hands a camera's frames to its analysis thread without ever waiting: when the analysis channel is
/// full, frames are skipped until the next key frame (the decoder can only restart there) and counted.
/// Recording and the live view never wait on analysis.
pub struct AnalysisFeed {
    tx: mpsc::Sender<StreamEvent>,
    stats: AnalysisStats,
    resync: bool,
    closed: bool,
}

impl AnalysisFeed {
    /// A feed into `tx`, counting skipped frames in `stats`.
    pub fn new(tx: mpsc::Sender<StreamEvent>, stats: AnalysisStats) -> Self {
        Self {
            tx,
            stats,
            resync: false,
            closed: false,
        }
    }

    /// Offers one event; never blocks.
    pub fn offer(&mut self, event: StreamEvent) {
        if self.closed {
            return;
        }
        if let StreamEvent::Frame(f) = &event
            && self.resync
            && !f.is_key
        {
            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let is_frame = matches!(event, StreamEvent::Frame(_));
        match self.tx.try_send(event) {
            Ok(()) => {
                if is_frame {
                    self.resync = false;
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.resync = true;
                self.stats.skipped.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.closed = true,
        }
    }

    /// True once the analysis thread has gone.
    pub fn is_closed(&self) -> bool {
        self.closed || self.tx.is_closed()
    }

    /// A future that resolves once the analysis thread has gone.
    pub fn closed_signal(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let tx = self.tx.clone();
        async move { tx.closed().await }
    }
}

/// What one camera's live analysis needs.
pub struct LiveAnalysis {
    /// Camera name.
    pub camera: String,
    /// The shared detectors.
    pub pool: Arc<DetectorPool>,
    /// Pipeline settings.
    pub pipeline: PipelineConfig,
    /// The camera's behaviour rules.
    pub rules: RulesConfig,
    /// Where events and counts go.
    pub bus: EventBus,
    /// Whether events get snapshots (someone stores or shows them).
    pub snapshots: bool,
    /// Figures to keep up to date.
    pub stats: AnalysisStats,
    /// The camera's switches (detection on or off).
    pub controls: CameraControls,
    /// How often a picture of the camera goes out with its view (`None`: never).
    pub picture_every: Option<Duration>,
    /// Face recognition, when the camera is opted in (`[faces.camera.NAME]`).
    pub faces: Option<crate::faces::FaceStage>,
    /// Plate reading, when the camera is opted in (`[plates.camera.NAME]`).
    pub plates: Option<crate::plates::PlateStage>,
    /// Re-linking of people lost longer than the tracker keeps them (`[analysis] relink_seconds`).
    pub relink: Option<crate::relink::Relinker>,
    /// The picture's health (covered, blocked, dark, defocused, moved, frozen), on by default
    /// (`[analysis] health`).
    pub health: Option<crate::health::HealthStage>,
    /// Analytics drift against the camera's own first hour (with `health`).
    pub drift: Option<crate::drift::DriftJudge>,
    /// The independent second detector of rules with `second_opinion` (`[analysis] second_model`).
    pub second: Option<crate::second_opinion::SecondOpinionStage>,
    /// Activity baselines by hour of the week (`[analysis.anomaly] baselines`).
    pub activity: Option<crate::activity::ActivityStage>,
    /// People judged against a scene model (`[analysis.anomaly] scene`, `scene_models`).
    pub scene: Option<crate::scene::SceneStage>,
    /// Where each analysed frame's tracked objects go for drawing over live video (sent only while
    /// someone watches).
    pub overlay: Option<vigil_bus::OverlaySender>,
    /// New rules for this camera while it runs (zones, lines, ignore masks, rules edited in the
    /// browser): applied at the next analysed frame, the old rules' open events ended first.
    pub rules_updates: Option<tokio::sync::watch::Receiver<RulesConfig>>,
    /// Where each analysed frame is offered to a live model trial (taken only while one runs and is
    /// free: `crate::trial`).
    pub shadow: Option<crate::trial::ShadowSlot>,
}

/// A camera's analysis channel: the [`AnalysisFeed`] for its stream's sink, the receiver for
/// [`LiveAnalysis::run`].
pub fn analysis_channel(stats: &AnalysisStats) -> (AnalysisFeed, mpsc::Receiver<StreamEvent>) {
    let (tx, rx) = mpsc::channel(ANALYSIS_CHANNEL);
    (AnalysisFeed::new(tx, stats.clone()), rx)
}

/// Receive times of recent frames by presentation time, to give each analysed frame its wall-clock time.
struct ReceiveTimes(VecDeque<(Time90k, i64)>);

impl ReceiveTimes {
    fn push(&mut self, pts: Time90k, unix_micros: i64) {
        if self.0.len() == 64 {
            self.0.pop_front();
        }
        self.0.push_back((pts, unix_micros));
    }

    fn unix_ms(&self, pts: Time90k) -> i64 {
        let micros = self
            .0
            .iter()
            .rev()
            .find(|(p, _)| *p == pts)
            .map(|(_, t)| *t);
        micros.unwrap_or_else(now_micros) / 1000
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl LiveAnalysis {
    /// Runs until the channel closes; then ends every open event. Errors of single frames are logged
    /// and counted, never fatal.
    pub fn run(self, mut rx: mpsc::Receiver<StreamEvent>) {
        let LiveAnalysis {
            camera,
            pool,
            pipeline,
            rules,
            bus,
            snapshots,
            stats,
            controls,
            picture_every,
            mut faces,
            mut plates,
            mut relink,
            mut health,
            mut drift,
            mut second,
            mut activity,
            mut scene,
            overlay,
            mut rules_updates,
            shadow,
        } = self;
        let classes = pool.spec().classes.clone();
        let fps = f64::from(pipeline.analysis_fps);
        // `None` while detection is switched off: the camera gives up its share of the detectors.
        let mut analyzer = match Analyzer::for_camera(&camera, pipeline.clone(), pool.clone()) {
            Ok(a) => Some(a),
            Err(e) => return fail(&stats, &camera, format!("analysis cannot start: {e}")),
        };
        let mut engine = match RuleEngine::new(&camera, &rules, &classes) {
            Ok(r) => r,
            Err(e) => return fail(&stats, &camera, format!("rules cannot start: {e}")),
        };
        let mut crowd = CrowdStage::for_rules(&engine, pool.spec());
        second_opinion_for(&camera, &mut engine, second.as_ref());
        let mut converter = Converter::new();
        let mut decoder: Option<(Arc<VideoParams>, VideoDecoder)> = None;
        let mut sampler = FrameSampler::new(fps);
        let mut times = ReceiveTimes(VecDeque::new());
        let mut window = Window::new();
        let mut last_counts = Instant::now();
        let mut view = ViewState::new(&camera, picture_every);
        let mut paused = false;
        // Whether the last overlay frame sent had objects (an empty frame is sent once, to clear them).
        let mut overlay_had_objects = false;
        // Each track's path, published when the track ends (the lifecycle view).
        let mut paths = crate::paths::PathRecorder::new(&camera);
        // Each track's colours, size, speed, direction and zones, carried by its events and path.
        let mut attributes = crate::attributes::AttributeStage::new(&classes);
        let publish_paths = |ended: Vec<vigil_core::TrackPath>| {
            for p in ended {
                bus.publish(Message::TrackPath(Arc::new(p)));
            }
        };
        // The last analysed frame's time (face events still open end there when analysis stops).
        let mut last_ctx = FrameContext::default();
        let publish = |event: &Event, snapshot| {
            bus.publish(Message::Event(Arc::new(EventMessage {
                event: event.clone(),
                snapshot,
            })));
        };

        while let Some(event) = rx.blocking_recv() {
            let frame = match event {
                StreamEvent::Discontinuity(_) => {
                    // A new session restarts the camera's clock: start sampling afresh.
                    sampler = FrameSampler::new(fps);
                    continue;
                }
                StreamEvent::Frame(frame) => frame,
            };
            if !controls.detection() {
                if !paused {
                    paused = true;
                    info!(camera, "detection switched off");
                    let stages = (
                        &mut faces,
                        &mut plates,
                        &mut health,
                        &mut drift,
                        &mut activity,
                        &mut scene,
                    );
                    for mut e in close_all(&mut engine, stages, &last_ctx) {
                        attributes.fill(&mut e, Some(engine.timezone()));
                        publish(&e, None);
                    }
                    publish_paths(attributes.complete(paths.flush()));
                    attributes.flush();
                    bus.publish(Message::Counts(Arc::new(CountsMessage {
                        camera: camera.clone(),
                        lines: engine.counters().to_vec(),
                        zones: engine.occupancy().into_iter().map(emptied).collect(),
                    })));
                    stats.update(|s| {
                        s.fps = 0.0;
                        s.tracks = 0;
                        s.health.clear();
                    });
                    decoder = None;
                    analyzer = None;
                }
                // Nothing seen while paused (and time passes for the motion sensor's off delay).
                view.publish(&bus, false, BTreeMap::new(), None);
                continue;
            }
            if paused {
                // Decoding restarts at a key frame, tracking and motion from scratch.
                if !frame.is_key {
                    continue;
                }
                paused = false;
                info!(camera, "detection switched on");
                match Analyzer::for_camera(&camera, pipeline.clone(), pool.clone()) {
                    Ok(a) => analyzer = Some(a),
                    Err(e) => {
                        return fail(&stats, &camera, format!("analysis cannot restart: {e}"));
                    }
                }
                sampler = FrameSampler::new(fps);
            }
            let reuse = decoder
                .as_ref()
                .is_some_and(|(p, _)| Arc::ptr_eq(p, &frame.params) || **p == *frame.params);
            if !reuse {
                match VideoDecoder::from_params(&frame.params, DecoderOptions::single_thread()) {
                    Ok(d) => decoder = Some((frame.params.clone(), d)),
                    Err(e) => {
                        stats.update(|s| s.last_error = Some(e.to_string()));
                        warn!(camera, "no decoder for this stream: {e}");
                        decoder = None;
                        continue;
                    }
                }
            }
            let Some((_, dec)) = decoder.as_mut() else {
                continue;
            };
            times.push(frame.pts, frame.received_unix_micros);
            if let Err(e) = dec.send(&frame.data, frame.pts) {
                stats.update(|s| s.last_error = Some(e.to_string()));
                continue;
            }
            loop {
                let decoded: DecodedFrame = match dec.receive() {
                    Ok(Some(d)) => d,
                    Ok(None) => break,
                    Err(e) => {
                        stats.update(|s| s.last_error = Some(e.to_string()));
                        break;
                    }
                };
                if !sampler.accept(decoded.pts()) {
                    continue;
                }
                let unix_ms = times.unix_ms(decoded.pts());
                if now_micros() / 1000 - unix_ms > MAX_ANALYSIS_LAG.as_millis() as i64 {
                    stats.skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let picture_due = view.picture_due();
                let Some(analyzer) = analyzer.as_mut() else {
                    continue;
                };
                // The frame is converted to BGR only when the detector, a snapshot or a picture needs it.
                let mut analysis = match analyzer.process(&decoded, picture_due) {
                    Ok(a) => a,
                    Err(e) => {
                        stats.update(|s| s.last_error = Some(e.to_string()));
                        warn!(camera, "analysis failed on a frame: {e}");
                        continue;
                    }
                };
                if let Some(slot) = &shadow {
                    slot.offer(&decoded, unix_ms);
                }
                if let Some(r) = relink.as_mut() {
                    if r.wants_frame(unix_ms, &analysis.tracks, analysis.frame_size)
                        && let Err(e) = analysis.ensure_bgr(&decoded, &mut converter)
                    {
                        warn!(camera, "frame for re-linking not converted: {e}");
                    }
                    if let Err(e) = r.apply(unix_ms, analysis.bgr.as_ref(), &mut analysis.tracks) {
                        warn!(camera, "re-linking failed on a frame: {e}");
                    }
                    for a in r.take_appearances() {
                        bus.publish(Message::Appearance(Arc::new(a)));
                    }
                }
                if let Some(rx) = rules_updates.as_mut()
                    && rx.has_changed().unwrap_or(false)
                {
                    let rules = rx.borrow_and_update().clone();
                    match RuleEngine::new(&camera, &rules, &classes) {
                        Ok(mut next) => {
                            second_opinion_for(&camera, &mut next, second.as_ref());
                            for mut e in engine.close() {
                                attributes.fill(&mut e, Some(engine.timezone()));
                                publish(&e, None);
                            }
                            engine = next;
                            crowd = CrowdStage::for_rules(&engine, pool.spec());
                            info!(camera, "rules changed: applied");
                            stats.update(|s| s.rules_changed_unix_ms = Some(unix_ms));
                        }
                        Err(e) => warn!(camera, "new rules not applied (the old ones go on): {e}"),
                    }
                }
                let ctx = FrameContext {
                    time_unix_ms: unix_ms,
                    media_time: analysis.pts,
                    frame_w: analysis.frame_size.0,
                    frame_h: analysis.frame_size.1,
                };
                last_ctx = ctx;
                let ended = paths.observe(unix_ms, &analysis.tracks, analysis.frame_size, &classes);
                if let Some(stage) = crowd.as_mut().filter(|c| c.due(unix_ms)) {
                    let counted = analysis
                        .ensure_bgr(&decoded, &mut converter)
                        .map_err(crate::PipelineError::from)
                        .and_then(|()| match analysis.bgr.as_ref() {
                            Some(bgr) => stage.count(analyzer, &mut engine, &ctx, bgr),
                            None => Ok(()),
                        });
                    if let Err(e) = counted {
                        warn!(camera, "crowd count failed on a frame: {e}");
                    }
                }
                let mut events = engine.update(&ctx, &analysis.tracks);
                let frame = analysis.detected_frame();
                attributes.observe(&ctx, &analysis.tracks, frame, || engine.occupancy());
                publish_paths(attributes.complete(ended));
                events.extend(engine.unclassified(&ctx, &analysis.motion_boxes, &analysis.tracks));
                if let Some(stage) = second.as_mut() {
                    // Mostly empty: the second detector runs only when a rule needs its opinion.
                    let req = engine.second_opinion_request();
                    if !req.is_empty() {
                        if let Err(e) = analysis.ensure_bgr(&decoded, &mut converter) {
                            warn!(camera, "frame for the second detector not converted: {e}");
                        } else if let Some(image) = analysis.bgr.as_ref() {
                            match stage.consult(&mut engine, &req, image) {
                                Ok(found) => events.extend(found),
                                Err(e) => warn!(camera, "second detector failed on a frame: {e}"),
                            }
                        }
                    }
                }
                if let Some(stage) = health.as_mut() {
                    match stage.update(&decoded, analysis.gray.as_ref(), &ctx) {
                        Ok(changes) => events.extend(changes),
                        Err(e) => warn!(camera, "health check failed on a frame: {e}"),
                    }
                }
                if let Some(judge) = drift.as_mut() {
                    events.extend(judge.observe(
                        unix_ms,
                        crate::drift::FrameObservation {
                            motion: !analysis.motion_boxes.is_empty(),
                            tracked: !analysis.tracks.is_empty(),
                            scores: analysis.tracks.iter().map(|t| t.score).collect(),
                        },
                    ));
                }
                if let Some(stage) = activity.as_mut().filter(|a| a.due(unix_ms)) {
                    let zones = engine.occupancy();
                    events.extend(stage.observe(&ctx, &analysis.tracks, &classes, &zones));
                }
                if let Some(stage) = scene.as_mut() {
                    events.extend(stage.observe(&ctx, &analysis.tracks));
                }
                let identity_due = faces
                    .as_ref()
                    .is_some_and(|f| f.due(unix_ms, &analysis.tracks))
                    || plates
                        .as_ref()
                        .is_some_and(|p| p.due(unix_ms, &analysis.tracks));
                if identity_due && let Err(e) = analysis.ensure_bgr(&decoded, &mut converter) {
                    warn!(camera, "frame for faces or plates not converted: {e}");
                }
                if let Some(stage) = plates.as_mut() {
                    events.extend(stage.update(&ctx, analysis.bgr.as_ref(), &analysis.tracks));
                }
                if let Some(stage) = faces.as_mut() {
                    let zones = if stage.needs_zones(unix_ms, &analysis.tracks) {
                        engine.occupancy()
                    } else {
                        Vec::new()
                    };
                    events.extend(stage.update(
                        &ctx,
                        analysis.bgr.as_ref(),
                        &analysis.tracks,
                        &zones,
                    ));
                }
                if snapshots
                    && events.iter().any(|e| wants_snapshot(e, unix_ms))
                    && let Err(e) = analysis.ensure_bgr(&decoded, &mut converter)
                {
                    warn!(camera, "snapshot frame not converted: {e}");
                }
                events
                    .iter_mut()
                    .for_each(|e| attributes.fill(e, Some(engine.timezone())));
                for e in &events {
                    let snapshot = match &analysis.bgr {
                        Some(frame) if snapshots && wants_snapshot(e, unix_ms) => {
                            match take_snapshot(
                                e,
                                frame,
                                &analysis.tracks,
                                unix_ms,
                                engine.privacy_masks(),
                            ) {
                                Ok(s) => Some(s),
                                Err(err) => {
                                    warn!(camera, rule = e.rule, "snapshot not taken: {err}");
                                    None
                                }
                            }
                        }
                        _ => None,
                    };
                    publish(e, snapshot);
                }
                let picture = match (&analysis.bgr, picture_due) {
                    (Some(frame), true) => match take_picture(frame, engine.privacy_masks()) {
                        Ok(p) => Some(p),
                        Err(err) => {
                            warn!(camera, "camera picture not taken: {err}");
                            None
                        }
                    },
                    _ => None,
                };
                if let Some(tx) = overlay.as_ref().filter(|tx| tx.receiver_count() > 0)
                    && (overlay_had_objects || !analysis.tracks.is_empty())
                {
                    overlay_had_objects = !analysis.tracks.is_empty();
                    let _ = tx.send(Arc::new(overlay_frame(
                        &camera,
                        unix_ms,
                        &analysis.tracks,
                        analysis.frame_size,
                        &classes,
                    )));
                }
                let mut seen = in_view(&analysis.tracks, &classes);
                if let Some(people) = engine.people_in_view() {
                    // The crowd counter's count of people in view (with `crowd_occupancy`).
                    seen.retain(|class, _| !class.eq_ignore_ascii_case("person"));
                    if people > 0 {
                        seen.insert("person".to_string(), people);
                    }
                }
                view.publish(&bus, !analysis.motion_boxes.is_empty(), seen, picture);
                window.add(analysis.detector_ran, analysis.timings.detector.total());
                stats.update(|s| {
                    s.frames += 1;
                    s.detector_frames += u64::from(analysis.detector_ran);
                    s.tracks = analysis.tracks.len();
                    s.events += events.len() as u64;
                    s.last_frame_unix_ms = Some(unix_ms);
                    (s.fps, s.detector_ms) = window.rates();
                    s.crowd = crowd.as_ref().map(|c| c.status().clone());
                    s.health = health
                        .iter()
                        .flat_map(|h| h.active())
                        .chain(drift.iter().flat_map(|d| d.active()))
                        .collect();
                });
                if last_counts.elapsed() >= Duration::from_secs(1) {
                    last_counts = Instant::now();
                    bus.publish(Message::Counts(Arc::new(CountsMessage {
                        camera: camera.clone(),
                        lines: engine.counters().to_vec(),
                        zones: engine.occupancy(),
                    })));
                }
            }
        }
        let stages = (
            &mut faces,
            &mut plates,
            &mut health,
            &mut drift,
            &mut activity,
            &mut scene,
        );
        for mut e in close_all(&mut engine, stages, &last_ctx) {
            attributes.fill(&mut e, Some(engine.timezone()));
            publish(&e, None);
        }
        for a in relink.iter_mut().flat_map(|r| r.finish()) {
            bus.publish(Message::Appearance(Arc::new(a)));
        }
        publish_paths(attributes.complete(paths.flush()));
        info!(camera, "analysis stopped");
    }
}

/// The optional stages of a camera's analysis beside its rules engine.
type Stages<'a> = (
    &'a mut Option<crate::faces::FaceStage>,
    &'a mut Option<crate::plates::PlateStage>,
    &'a mut Option<crate::health::HealthStage>,
    &'a mut Option<crate::drift::DriftJudge>,
    &'a mut Option<crate::activity::ActivityStage>,
    &'a mut Option<crate::scene::SceneStage>,
);

/// Ends every open event of the rules and the stages (analysis pauses or stops) at the last frame `ctx`.
fn close_all(engine: &mut RuleEngine, stages: Stages<'_>, ctx: &FrameContext) -> Vec<Event> {
    let (faces, plates, health, drift, activity, scene) = stages;
    let mut out = engine.close();
    out.extend(faces.iter_mut().flat_map(|f| f.close(ctx)));
    out.extend(plates.iter_mut().flat_map(|p| p.close(ctx)));
    out.extend(health.iter_mut().flat_map(|h| h.close(ctx)));
    out.extend(drift.iter_mut().flat_map(|d| d.close(ctx.time_unix_ms)));
    out.extend(activity.iter_mut().flat_map(|a| a.close(ctx)));
    out.extend(scene.iter_mut().flat_map(|s| s.close(ctx)));
    out
}

/// A zone with nobody in it (detection switched off: nothing is known to be there).
fn emptied(z: vigil_rules::ZoneOccupancy) -> vigil_rules::ZoneOccupancy {
    vigil_rules::ZoneOccupancy {
        count: 0,
        by_class: BTreeMap::new(),
        members: Vec::new(),
        ..z
    }
}

/// Objects in view per class name.
fn in_view(tracks: &[TrackedObject], classes: &[String]) -> BTreeMap<String, u32> {
    let mut by_class = BTreeMap::new();
    for t in tracks {
        if let Some(name) = classes.get(t.class_id as usize) {
            *by_class.entry(name.clone()).or_insert(0) += 1;
        }
    }
    by_class
}

/// An analysed frame's tracks as drawn over live video: boxes normalised to the frame.
fn overlay_frame(
    camera: &str,
    unix_ms: i64,
    tracks: &[TrackedObject],
    (w, h): (u32, u32),
    classes: &[String],
) -> vigil_bus::OverlayFrame {
    let (w, h) = (w.max(1) as f32, h.max(1) as f32);
    vigil_bus::OverlayFrame {
        camera: camera.to_string(),
        unix_ms,
        objects: tracks
            .iter()
            .map(|t| vigil_bus::OverlayObject {
                track: t.id,
                class: classes
                    .get(t.class_id as usize)
                    .cloned()
                    .unwrap_or_else(|| format!("class {}", t.class_id)),
                score: t.score,
                bbox: [
                    (t.bbox.x1 / w).clamp(0.0, 1.0),
                    (t.bbox.y1 / h).clamp(0.0, 1.0),
                    (t.bbox.x2 / w).clamp(0.0, 1.0),
                    (t.bbox.y2 / h).clamp(0.0, 1.0),
                ],
                matched: t.matched,
            })
            .collect(),
    }
}

/// What was last published of the camera's view: a view goes out when it changes, with a picture, or at
/// least once a second.
struct ViewState {
    camera: String,
    last: Option<(bool, BTreeMap<String, u32>)>,
    sent: Instant,
    picture_every: Option<Duration>,
    picture_at: Option<Instant>,
}

impl ViewState {
    fn new(camera: &str, picture_every: Option<Duration>) -> Self {
        Self {
            camera: camera.to_string(),
            last: None,
            sent: Instant::now(),
            picture_every,
            picture_at: None,
        }
    }

    /// True when a picture should be taken of this frame.
    fn picture_due(&self) -> bool {
        self.picture_every
            .is_some_and(|every| self.picture_at.is_none_or(|t| t.elapsed() >= every))
    }

    fn publish(
        &mut self,
        bus: &EventBus,
        motion: bool,
        in_view: BTreeMap<String, u32>,
        picture: Option<bytes::Bytes>,
    ) {
        let changed = self
            .last
            .as_ref()
            .is_none_or(|(m, v)| *m != motion || *v != in_view);
        if !changed && picture.is_none() && self.sent.elapsed() < Duration::from_secs(1) {
            return;
        }
        if picture.is_some() {
            self.picture_at = Some(Instant::now());
        }
        self.sent = Instant::now();
        self.last = Some((motion, in_view.clone()));
        bus.publish(Message::View(Arc::new(ViewMessage {
            camera: self.camera.clone(),
            motion,
            in_view,
            picture,
        })));
    }
}

fn fail(stats: &AnalysisStats, camera: &str, message: String) {
    warn!(camera, "{message}");
    stats.update(|s| s.last_error = Some(message));
}

/// Rates over the last few seconds.
struct Window {
    samples: VecDeque<(Instant, bool, Duration)>,
}

impl Window {
    fn new() -> Self {
        Self {
            samples: VecDeque::new(),
        }
    }

    fn add(&mut self, ran: bool, detector: Duration) {
        let now = Instant::now();
        self.samples.push_back((now, ran, detector));
        while self
            .samples
            .front()
            .is_some_and(|(t, _, _)| now.duration_since(*t) > Duration::from_secs(5))
        {
            self.samples.pop_front();
        }
    }

    fn rates(&self) -> (f64, f64) {
        let (Some(first), Some(last)) = (self.samples.front(), self.samples.back()) else {
            return (0.0, 0.0);
        };
        let span = last.0.duration_since(first.0).as_secs_f64();
        let fps = if span > 0.0 {
            (self.samples.len() - 1) as f64 / span
        } else {
            0.0
        };
        let runs: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| s.1)
            .map(|s| s.2.as_secs_f64() * 1000.0)
            .collect();
        let ms = if runs.is_empty() {
            0.0
        } else {
            runs.iter().sum::<f64>() / runs.len() as f64
        };
        (fps, ms)
    }
}

/// Gives `engine` the camera's second detector, or says that rules asking for one go without.
fn second_opinion_for(
    camera: &str,
    engine: &mut RuleEngine,
    second: Option<&crate::second_opinion::SecondOpinionStage>,
) {
    match second {
        Some(stage) => stage.attach(engine),
        None if engine.wants_second_opinion() => warn!(
            camera,
            "rules with second_opinion need [analysis] second_model: they run without a second opinion"
        ),
        None => {}
    }
}
