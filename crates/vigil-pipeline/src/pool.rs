//! The detectors shared by all cameras of a process, and the scheduler that batches their regions and shares
//! them fairly.
//!
//! Each camera gets a [`CameraSlot`] from the pool. [`CameraSlot::detect_regions`] letterboxes the frame's
//! regions on the camera's own thread, queues them, and blocks until they have run; the detections are merged
//! on the camera's thread again. The runs happen on the cameras' threads too (leader/follower, no detector
//! thread): a camera that queues a frame while a detector is free takes it, runs the queued frames of as many
//! cameras as fit in one ONNX Runtime call ([`Detector::max_batch`] images), hands each camera its result, and
//! goes on while its own frame waits; when its frame is done and others wait, it wakes the next in line to
//! take over. A handoff to a dedicated detector thread instead cost an extra wake-up per run, which on this
//! loaded 2-core machine showed as fewer analysed frames (12 file cameras: 4.22 and 3.93 fps against 4.73 and
//! 4.14 for the old lend-a-detector pool in alternating runs).
//!
//! Fairness: a camera has at most one frame queued (its thread waits for it). Frames are taken in start-time
//! fair queueing order: each frame gets the start tag `max(camera's last finish tag, virtual time)`, the
//! smallest tag goes first, and a camera that was idle gets no credit for the time it was idle. So when the
//! detector cannot keep up, every camera that needs it gets the same number of detector frames per second
//! (cameras whose frames need no detector are not slowed), and each camera's decoder skips what it had no time
//! for (newest frame wins) while recording is unaffected.
//!
//! Batch deadline: when the camera about to run finds fewer images queued than fit in a call while other
//! cameras that have been sending recently have nothing queued, it waits up to [`PoolOptions::batch_wait`]
//! (counted from the oldest queued frame) for them; a camera that stops sending therefore delays the others
//! by at most that.
//!
//! [`DetectorPool::status`] reports each camera's analysed rate against its target and the common rate
//! degraded cameras fall to, for `/metrics` and the camera's health ("analysis degraded: 3.1 fps of 5").

use crate::PipelineError;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use vigil_core::{BBox, BgrImage};
use vigil_vision::detector::{
    Detections, Detector, DetectorConfig, DetectorError, FramePreparer, PreparedFrame,
};
use vigil_vision::model::{ModelFile, ModelSpec};
use vigil_vision::runtime::Runtime;

/// How long rates are averaged over.
const RATE_WINDOW: Duration = Duration::from_secs(10);
/// A camera is degraded when it analyses less than this share of its target rate...
const DEGRADED_SHARE: f64 = 0.9;
/// ...measured over at least this long.
const MIN_HISTORY: Duration = Duration::from_secs(3);
/// A camera that queued a frame within this time counts as still sending (worth waiting for).
const RECENT: Duration = Duration::from_secs(1);

/// Settings of the scheduler.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolOptions {
    /// Detector sessions (each runs one batch at a time, on the thread of a camera that waits for it).
    pub workers: usize,
    /// Longest time a queued frame waits for other cameras' frames to fill a batch.
    pub batch_wait: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            workers: 1,
            batch_wait: Duration::from_millis(2),
        }
    }
}

/// A frame queued by a camera.
struct Queued {
    frame: PreparedFrame,
    start_tag: u64,
    seq: u64,
    since: Instant,
}

/// One camera's place in the scheduler.
struct Slot {
    name: String,
    target_fps: f64,
    created: Instant,
    queued: Option<Queued>,
    in_flight: bool,
    result: Option<Result<PreparedFrame, String>>,
    /// How long the last frame waited in the queue before its batch was taken.
    queue_wait: Duration,
    /// Woken when the result is there.
    ready: Arc<Condvar>,
    finish_tag: u64,
    last_queued: Option<Instant>,
    analysed: VecDeque<Instant>,
    detected: VecDeque<Instant>,
    wait_total: Duration,
    detector_frames: u64,
}

#[derive(Default)]
struct State {
    slots: Vec<Option<Slot>>,
    /// Detectors nobody is running.
    free: Vec<usize>,
    virtual_time: u64,
    seq: u64,
    calls: u64,
    images: u64,
    frames: u64,
}

impl State {
    fn queued_images(&self) -> usize {
        self.slots
            .iter()
            .flatten()
            .filter_map(|s| s.queued.as_ref())
            .map(|q| q.frame.regions().max(1))
            .sum()
    }

    fn oldest_queued(&self) -> Option<Instant> {
        self.slots
            .iter()
            .flatten()
            .filter_map(|s| s.queued.as_ref().map(|q| q.since))
            .min()
    }

    /// Cameras that sent recently but have nothing queued or running.
    fn expecting(&self, now: Instant) -> bool {
        self.slots.iter().flatten().any(|s| {
            s.queued.is_none()
                && !s.in_flight
                && s.last_queued
                    .is_some_and(|t| now.saturating_duration_since(t) < RECENT)
        })
    }

    /// Takes queued frames in fair order while they fit in `max_batch` images (the first always).
    fn pick(&mut self, max_batch: usize) -> Vec<(usize, PreparedFrame, Instant)> {
        let now = Instant::now();
        let mut order: Vec<(u64, u64, usize)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let q = s.as_ref()?.queued.as_ref()?;
                Some((q.start_tag, q.seq, i))
            })
            .collect();
        order.sort_unstable();
        let mut picked = Vec::new();
        let mut images = 0;
        for (tag, _, i) in order {
            let Some(slot) = self.slots[i].as_mut() else {
                continue;
            };
            let n = slot.queued.as_ref().map_or(0, |q| q.frame.regions());
            if !picked.is_empty() && images + n > max_batch {
                break;
            }
            if let Some(q) = slot.queued.take() {
                images += n;
                slot.in_flight = true;
                slot.queue_wait = now.saturating_duration_since(q.since);
                slot.finish_tag = tag + 1;
                self.virtual_time = self.virtual_time.max(tag);
                picked.push((i, q.frame, q.since));
            }
        }
        picked
    }
}

struct Shared {
    state: Mutex<State>,
    /// Woken when a frame is queued (for a runner waiting to fill its batch).
    work: Condvar,
    detectors: Vec<Mutex<Detector>>,
    max_batch: usize,
    batch_wait: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves at worst a stale counter; the slots stay consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs one batch on detector `d` (taken from `free` by the caller): waits up to the batch deadline for
    /// cameras still sending, takes queued frames in fair order, runs them without the lock, hands the results
    /// out and frees the detector. Returns the lock.
    fn run_batch<'a>(&'a self, mut st: MutexGuard<'a, State>, d: usize) -> MutexGuard<'a, State> {
        if let Some(oldest) = st.oldest_queued() {
            let deadline = oldest + self.batch_wait;
            loop {
                let now = Instant::now();
                if now >= deadline || st.queued_images() >= self.max_batch || !st.expecting(now) {
                    break;
                }
                st = self
                    .work
                    .wait_timeout(st, deadline - now)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
        }
        let picked = st.pick(self.max_batch);
        if picked.is_empty() {
            st.free.push(d);
            return st;
        }
        drop(st);
        let mut frames: Vec<PreparedFrame> = Vec::with_capacity(picked.len());
        let mut owners = Vec::with_capacity(picked.len());
        for (slot, frame, since) in picked {
            frames.push(frame);
            owners.push((slot, since));
        }
        let result = {
            let mut refs: Vec<&mut PreparedFrame> = frames.iter_mut().collect();
            let mut detector = self.detectors[d].lock().unwrap_or_else(|p| p.into_inner());
            detector.run_frames(&mut refs)
        };
        let error = result.err().map(|e| e.to_string());
        let now = Instant::now();
        let mut st = self.lock();
        let images: usize = frames.iter().map(PreparedFrame::regions).sum();
        st.calls += images.div_ceil(self.max_batch) as u64;
        st.images += images as u64;
        st.frames += frames.len() as u64;
        for ((index, since), frame) in owners.into_iter().zip(frames) {
            if let Some(slot) = st.slots.get_mut(index).and_then(Option::as_mut) {
                slot.in_flight = false;
                slot.detector_frames += 1;
                slot.wait_total += now.saturating_duration_since(since);
                slot.detected.push_back(now);
                slot.result = Some(match &error {
                    None => Ok(frame),
                    Some(e) => Err(e.clone()),
                });
                slot.ready.notify_all();
            }
        }
        st.free.push(d);
        st
    }

    /// Wakes the camera first in line when frames wait and a detector is free (it will run them).
    fn hand_over(&self, st: &State) {
        if st.free.is_empty() {
            return;
        }
        let next = st
            .slots
            .iter()
            .flatten()
            .filter_map(|s| s.queued.as_ref().map(|q| ((q.start_tag, q.seq), &s.ready)))
            .min_by_key(|(k, _)| *k);
        if let Some((_, ready)) = next {
            ready.notify_all();
        }
    }
}

/// The detectors shared by all cameras, behind a fair, batching scheduler.
pub struct DetectorPool {
    spec: ModelSpec,
    config: DetectorConfig,
    options: PoolOptions,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for DetectorPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetectorPool")
            .field("model", &self.spec.name)
            .field("workers", &self.shared.detectors.len())
            .field("max_batch", &self.shared.max_batch)
            .finish()
    }
}

impl DetectorPool {
    /// `workers` detectors for `model`, each configured with `config` (its `threads` per session and
    /// `max_batch` images per call), with the default batch wait.
    pub fn new(
        runtime: &Runtime,
        model: &ModelFile,
        config: DetectorConfig,
        workers: usize,
    ) -> Result<Self, PipelineError> {
        let options = PoolOptions {
            workers,
            ..PoolOptions::default()
        };
        Self::with_options(runtime, model, config, options)
    }

    /// A pool with explicit scheduler settings.
    pub fn with_options(
        runtime: &Runtime,
        model: &ModelFile,
        config: DetectorConfig,
        options: PoolOptions,
    ) -> Result<Self, PipelineError> {
        let detectors = (0..options.workers.max(1))
            .map(|_| Detector::new(runtime, model, config.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_detectors(detectors, options)
            .ok_or_else(|| PipelineError::Config("no detector".into()))?
    }

    /// A pool of already loaded detectors (all of the same model and settings); `None` when empty.
    pub fn from_detectors(
        detectors: Vec<Detector>,
        options: PoolOptions,
    ) -> Option<Result<Self, PipelineError>> {
        let first = detectors.first()?;
        let spec = first.spec().clone();
        let config = first.config().clone();
        let max_batch = detectors.iter().map(Detector::max_batch).min().unwrap_or(1);
        let state = State {
            free: (0..detectors.len()).collect(),
            ..State::default()
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            work: Condvar::new(),
            detectors: detectors.into_iter().map(Mutex::new).collect(),
            max_batch,
            batch_wait: options.batch_wait,
        });
        Some(Ok(Self {
            spec,
            config,
            options,
            shared,
        }))
    }

    /// The model all detectors of the pool run.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Number of detectors.
    pub fn size(&self) -> usize {
        self.shared.detectors.len()
    }

    /// Images per ONNX Runtime call at most (1 when the model cannot take a batch).
    pub fn max_batch(&self) -> usize {
        self.shared.max_batch
    }

    /// The scheduler settings.
    pub fn options(&self) -> PoolOptions {
        self.options
    }

    /// Runs `f` with the first detector, waiting while a camera runs it (benchmarks, tools).
    pub fn with<R>(&self, f: impl FnOnce(&mut Detector) -> R) -> R {
        let mut d = self.shared.detectors[0]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f(&mut d)
    }

    /// A place for camera `name` analysing `target_fps` frames per second.
    pub fn camera(&self, name: &str, target_fps: f64) -> CameraSlot {
        let mut st = self.shared.lock();
        let slot = Slot {
            name: name.to_string(),
            target_fps,
            created: Instant::now(),
            queued: None,
            in_flight: false,
            result: None,
            queue_wait: Duration::ZERO,
            ready: Arc::new(Condvar::new()),
            finish_tag: st.virtual_time,
            last_queued: None,
            analysed: VecDeque::new(),
            detected: VecDeque::new(),
            wait_total: Duration::ZERO,
            detector_frames: 0,
        };
        let index = match st.slots.iter().position(Option::is_none) {
            Some(i) => {
                st.slots[i] = Some(slot);
                i
            }
            None => {
                st.slots.push(Some(slot));
                st.slots.len() - 1
            }
        };
        CameraSlot {
            shared: self.shared.clone(),
            index,
            preparer: FramePreparer::new(&self.spec, &self.config),
            last_wait: Duration::ZERO,
        }
    }

    /// Each camera's analysed rate against its target, and the common rate of the degraded ones.
    pub fn status(&self) -> PoolStatus {
        let now = Instant::now();
        let mut st = self.shared.lock();
        let mut cameras = Vec::new();
        for slot in st.slots.iter_mut().flatten() {
            let history = now.saturating_duration_since(slot.created).min(RATE_WINDOW);
            let secs = history.as_secs_f64().max(1e-3);
            trim(&mut slot.analysed, now);
            trim(&mut slot.detected, now);
            let analysed_fps = slot.analysed.len() as f64 / secs;
            let degraded =
                history >= MIN_HISTORY && analysed_fps < slot.target_fps * DEGRADED_SHARE;
            cameras.push(CameraShare {
                name: slot.name.clone(),
                target_fps: slot.target_fps,
                analysed_fps,
                detector_fps: slot.detected.len() as f64 / secs,
                detector_frames: slot.detector_frames,
                mean_wait_ms: if slot.detector_frames == 0 {
                    0.0
                } else {
                    slot.wait_total.as_secs_f64() * 1e3 / slot.detector_frames as f64
                },
                degraded,
            });
        }
        let degraded: Vec<f64> = cameras
            .iter()
            .filter(|c| c.degraded)
            .map(|c| c.analysed_fps)
            .collect();
        PoolStatus {
            fair_fps: (!degraded.is_empty())
                .then(|| degraded.iter().sum::<f64>() / degraded.len() as f64),
            cameras,
            queued: st
                .slots
                .iter()
                .flatten()
                .filter(|s| s.queued.is_some())
                .count(),
            running: self.shared.detectors.len() - st.free.len(),
            calls: st.calls,
            images: st.images,
            frames: st.frames,
        }
    }
}

fn trim(times: &mut VecDeque<Instant>, now: Instant) {
    while times
        .front()
        .is_some_and(|&t| now.saturating_duration_since(t) > RATE_WINDOW)
    {
        times.pop_front();
    }
}

/// One camera's access to the shared detectors. Dropping it frees its place.
pub struct CameraSlot {
    shared: Arc<Shared>,
    index: usize,
    preparer: FramePreparer,
    last_wait: Duration,
}

impl std::fmt::Debug for CameraSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraSlot")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl CameraSlot {
    /// Detects objects on the whole frame; blocks until the frame's batch has run.
    pub fn detect(&mut self, image: &BgrImage) -> Result<Detections, DetectorError> {
        let frame = self.preparer.full_frame(image)?;
        self.run(frame)
    }

    /// Detects objects in `regions` of the frame (see [`Detector::detect_regions`]); blocks until the frame's
    /// batch has run.
    pub fn detect_regions(
        &mut self,
        image: &BgrImage,
        regions: &[BBox],
    ) -> Result<Detections, DetectorError> {
        let frame = self.preparer.regions(image, regions)?;
        self.run(frame)
    }

    /// How long the last frame waited in the queue before its batch was taken.
    pub fn last_wait(&self) -> Duration {
        self.last_wait
    }

    /// Counts one analysed frame (with or without the detector) toward the camera's analysed rate.
    pub fn record_analysed(&self) {
        let now = Instant::now();
        let mut st = self.shared.lock();
        if let Some(slot) = st.slots.get_mut(self.index).and_then(Option::as_mut) {
            trim(&mut slot.analysed, now);
            slot.analysed.push_back(now);
        }
    }

    fn run(&mut self, frame: PreparedFrame) -> Result<Detections, DetectorError> {
        let t = Instant::now();
        self.last_wait = Duration::ZERO;
        if frame.regions() == 0 {
            return Ok(self.preparer.finish(frame));
        }
        let mut st = self.shared.lock();
        let start = st.virtual_time;
        st.seq += 1;
        let seq = st.seq;
        let ready = {
            let Some(slot) = st.slots.get_mut(self.index).and_then(Option::as_mut) else {
                return Err(closed("camera slot vanished".into()));
            };
            slot.queued = Some(Queued {
                frame,
                start_tag: slot.finish_tag.max(start),
                seq,
                since: t,
            });
            slot.result = None;
            slot.last_queued = Some(t);
            slot.ready.clone()
        };
        // A runner filling its batch may be waiting for this frame.
        self.shared.work.notify_all();
        let result = loop {
            let taken = st
                .slots
                .get_mut(self.index)
                .and_then(Option::as_mut)
                .and_then(|s| Some((s.result.take()?, s.queue_wait)));
            if let Some((r, wait)) = taken {
                self.last_wait = wait;
                break r;
            }
            // A free detector and frames waiting: run a batch here (it may or may not hold this frame).
            if st.queued_images() > 0
                && let Some(d) = st.free.pop()
            {
                st = self.shared.run_batch(st, d);
                continue;
            }
            st = ready.wait(st).unwrap_or_else(|p| p.into_inner());
        };
        // Others still wait and nobody runs for them: wake the next in line.
        self.shared.hand_over(&st);
        drop(st);
        match result {
            Ok(frame) => Ok(self.preparer.finish(frame)),
            Err(reason) => Err(closed(reason)),
        }
    }
}

fn closed(reason: String) -> DetectorError {
    DetectorError::Run {
        path: "detector pool".into(),
        reason,
    }
}

impl Drop for CameraSlot {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        if let Some(s) = st.slots.get_mut(self.index) {
            *s = None;
        }
    }
}

/// One camera's share of the detectors.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CameraShare {
    /// Camera name.
    pub name: String,
    /// Frames per second it should analyse.
    pub target_fps: f64,
    /// Frames per second it analysed (last 10 s).
    pub analysed_fps: f64,
    /// Frames per second the detector ran on for it (last 10 s).
    pub detector_fps: f64,
    /// Frames the detector ran on for it since it started.
    pub detector_frames: u64,
    /// Mean time from queueing a frame to its detections being ready, milliseconds.
    pub mean_wait_ms: f64,
    /// It analyses less than 90% of its target rate (over at least 3 s).
    pub degraded: bool,
}

impl CameraShare {
    /// The health state, `Some("analysis degraded: 3.1 fps of 5")` when degraded.
    pub fn health(&self) -> Option<String> {
        self.degraded.then(|| {
            format!(
                "analysis degraded: {:.1} fps of {}",
                self.analysed_fps, self.target_fps
            )
        })
    }
}

/// What the scheduler did and how the cameras fare.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PoolStatus {
    /// Every camera with a slot.
    pub cameras: Vec<CameraShare>,
    /// The mean analysed rate of the degraded cameras (the common lower rate they fall to), if any is.
    pub fair_fps: Option<f64>,
    /// Frames waiting for a detector now.
    pub queued: usize,
    /// Detectors running a batch now.
    pub running: usize,
    /// ONNX Runtime calls so far.
    pub calls: u64,
    /// Images (regions) run so far.
    pub images: u64,
    /// Frames run so far.
    pub frames: u64,
}
