//! One camera's analysis thread: decodes the analysis stream, analyses frames at the configured rate
//! (motion-gated detection, tracking), evaluates the behaviour rules and hands events to the sink.
//!
//! The thread receives encoded frames through a bounded channel fed by [`crate::engine::camera`]: when it
//! falls behind, the feeder skips frames up to the next key frame (counted), so analysis keeps up with the
//! newest video while recording is never held back.

use crate::engine::events::EventSink;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{info, warn};
use vigil_core::{Time90k, VideoParams};
use vigil_media::rtsp::StreamEvent;
use vigil_media::{DecodedFrame, DecoderOptions, FrameSampler, VideoDecoder};
use vigil_pipeline::{Analyzer, DetectorPool, PipelineConfig};
use vigil_rules::{FrameContext, RuleEngine, RulesConfig};

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
}

/// Shared handle on a camera's analysis figures, plus the count of frames the feeder skipped.
#[derive(Debug, Clone, Default)]
pub struct AnalysisStats {
    /// The figures.
    pub status: Arc<Mutex<AnalysisStatus>>,
    /// Encoded frames skipped because analysis was behind (the feeder counts them).
    pub skipped: Arc<AtomicU64>,
}

impl AnalysisStats {
    /// A copy of the figures.
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

/// What one camera's analysis needs.
pub struct AnalysisSetup {
    /// Camera name.
    pub camera: String,
    /// The shared detectors.
    pub pool: Arc<DetectorPool>,
    /// Pipeline settings.
    pub pipeline: PipelineConfig,
    /// The camera's behaviour rules.
    pub rules: RulesConfig,
    /// Where events go.
    pub sink: Arc<EventSink>,
    /// Figures to keep up to date.
    pub stats: AnalysisStats,
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

/// Runs until the channel closes; then ends every open event. Errors of single frames are logged and
/// counted, never fatal.
pub fn run(setup: AnalysisSetup, mut rx: mpsc::Receiver<StreamEvent>) {
    let AnalysisSetup {
        camera,
        pool,
        pipeline,
        rules,
        sink,
        stats,
    } = setup;
    let classes = pool.spec().classes.clone();
    let fps = f64::from(pipeline.analysis_fps);
    let mut analyzer = match Analyzer::new(pipeline, pool) {
        Ok(a) => a,
        Err(e) => return fail(&stats, &camera, format!("analysis cannot start: {e}")),
    };
    let mut engine = match RuleEngine::new(&camera, &rules, &classes) {
        Ok(r) => r,
        Err(e) => return fail(&stats, &camera, format!("rules cannot start: {e}")),
    };
    let has_rules = !rules.rule.is_empty();
    let mut decoder: Option<(Arc<VideoParams>, VideoDecoder)> = None;
    let mut sampler = FrameSampler::new(fps);
    let mut times = ReceiveTimes(VecDeque::new());
    let mut window = Window::new();
    let mut last_counts = Instant::now();

    while let Some(event) = rx.blocking_recv() {
        let frame = match event {
            StreamEvent::Discontinuity(_) => {
                // A new session restarts the camera's clock: start sampling afresh.
                sampler = FrameSampler::new(fps);
                continue;
            }
            StreamEvent::Frame(frame) => frame,
        };
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
            let analysis = match analyzer.process(&decoded, has_rules) {
                Ok(a) => a,
                Err(e) => {
                    stats.update(|s| s.last_error = Some(e.to_string()));
                    warn!(camera, "analysis failed on a frame: {e}");
                    continue;
                }
            };
            let ctx = FrameContext {
                time_unix_ms: unix_ms,
                media_time: analysis.pts,
                frame_w: analysis.frame_size.0,
                frame_h: analysis.frame_size.1,
            };
            let events = engine.update(&ctx, &analysis.tracks);
            for e in &events {
                sink.handle(
                    e,
                    analysis.bgr.as_ref(),
                    &analysis.tracks,
                    unix_ms,
                    engine.privacy_masks(),
                );
            }
            window.add(analysis.detector_ran, analysis.timings.detector.total());
            stats.update(|s| {
                s.frames += 1;
                s.detector_frames += u64::from(analysis.detector_ran);
                s.tracks = analysis.tracks.len();
                s.events += events.len() as u64;
                s.last_frame_unix_ms = Some(unix_ms);
                (s.fps, s.detector_ms) = window.rates();
            });
            if last_counts.elapsed() >= Duration::from_secs(1) {
                last_counts = Instant::now();
                sink.counts(&camera, engine.counters(), &engine.occupancy());
            }
        }
    }
    let now = now_micros() / 1000;
    for e in engine.close() {
        sink.handle(&e, None, &[], now, &[]);
    }
    info!(camera, "analysis stopped");
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
