//! Trying a candidate detector in shadow beside the current one before anyone switches: the same frames
//! through both (every frame given, the whole picture, each with its own tracker and the camera's
//! rules), their detections compared frame by frame (matched: same class, IoU >= 0.5; lost: only the
//! current model found it; gained: only the candidate did), per class, with the event starts each
//! model's tracks give the rules and each model's time per frame.
//!
//! `vigil model trial` runs a [`TrialSide`] per model over recordings or files; a live trial runs both
//! on a running camera's frames ([`ShadowSlot`], [`run_live`]): the camera's analysis offers each frame
//! it has analysed, the trial takes it only when it is free (a full hand-off is a skipped frame, never a
//! wait), on a thread of the lowest CPU priority.

use crate::{Analyzer, DetectorPool, Gating, PipelineConfig, PipelineError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_core::Detection;
use vigil_media::DecodedFrame;
use vigil_rules::{FrameContext, RuleEngine, RulesConfig};

/// IoU from which two detections of the same class are the same object.
pub const MATCH_IOU: f32 = 0.5;

/// One source's comparison.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceReport {
    /// Camera or file.
    pub source: String,
    /// Frames compared.
    pub frames: usize,
    /// Frames a live trial was offered while still busy with an earlier one (not compared).
    pub skipped: usize,
    /// Detections both models found.
    pub matched: usize,
    /// Detections only the current model found.
    pub lost: usize,
    /// Detections only the candidate found.
    pub gained: usize,
    /// matched / (matched + lost + gained).
    pub agreement: f64,
    /// Per class: (matched, lost, gained).
    pub by_class: BTreeMap<String, [usize; 3]>,
    /// Event starts per rule with the current model and with the candidate (the camera's rules).
    pub events: BTreeMap<String, [usize; 2]>,
    /// Time per frame (ms): current, candidate. CPU of the process on recordings and files; on a live
    /// trial, wall time on its low-priority thread (the process's CPU there is the whole server's).
    pub cpu_ms_per_frame: [f64; 2],
}

/// What one model saw: per frame its detections (with class names), and the rules' event starts.
#[derive(Debug, Default)]
pub struct Seen {
    /// Per frame given, the detections.
    pub frames: Vec<Vec<(String, Detection)>>,
    /// Event starts per rule.
    pub events: BTreeMap<String, usize>,
    /// Time per frame (ms), as the caller measured it.
    pub cpu_ms: f64,
}

/// One model's side of a trial: its analysis of every frame given (whole picture) and the rules.
pub struct TrialSide {
    analyzer: Analyzer,
    engine: Option<RuleEngine>,
    classes: Vec<String>,
    seen: Seen,
    took: Duration,
}

impl TrialSide {
    /// A side analysing with `pool` at `fps` frames a second, its tracks given to `rules` when set.
    pub fn new(
        pool: Arc<DetectorPool>,
        fps: f32,
        rules: Option<&RulesConfig>,
    ) -> Result<TrialSide, PipelineError> {
        let classes = pool.spec().classes.clone();
        let config = PipelineConfig {
            gating: Gating::EveryFrame,
            analysis_fps: fps,
            ..PipelineConfig::default()
        };
        let analyzer = Analyzer::new(config, pool)?;
        let engine = rules
            .map(|r| RuleEngine::new("trial", r, &classes))
            .transpose()
            .map_err(|e| PipelineError::Config(format!("the camera's rules: {e}")))?;
        Ok(TrialSide {
            analyzer,
            engine,
            classes,
            seen: Seen::default(),
            took: Duration::ZERO,
        })
    }

    /// Analyses one frame (seen at `unix_ms`; its media time when 0).
    pub fn frame(&mut self, frame: &DecodedFrame, unix_ms: i64) -> Result<(), PipelineError> {
        let started = Instant::now();
        let a = self.analyzer.process(frame, false)?;
        self.seen.frames.push(
            a.detections
                .iter()
                .map(|d| {
                    let name = self.classes.get(d.class_id as usize);
                    (name.cloned().unwrap_or_default(), *d)
                })
                .collect(),
        );
        if let Some(engine) = self.engine.as_mut() {
            let ctx = FrameContext {
                time_unix_ms: if unix_ms != 0 {
                    unix_ms
                } else {
                    (a.pts.as_secs_f64() * 1000.0) as i64
                },
                media_time: a.pts,
                frame_w: a.frame_size.0,
                frame_h: a.frame_size.1,
            };
            for e in engine.update(&ctx, &a.tracks) {
                if e.phase == vigil_core::EventPhase::Start {
                    *self.seen.events.entry(e.rule.clone()).or_insert(0) += 1;
                }
            }
        }
        self.took += started.elapsed();
        Ok(())
    }

    /// What the side saw, its time per frame the wall time it took.
    pub fn finish(mut self) -> Seen {
        self.seen.cpu_ms = self.took.as_secs_f64() * 1000.0 / self.seen.frames.len().max(1) as f64;
        self.seen
    }
}

/// The two models' detections compared frame by frame (those scoring at least `score`): greedy
/// matching by IoU within a class.
pub fn compare(source: &str, current: &Seen, candidate: &Seen, score: f32) -> SourceReport {
    let mut r = SourceReport {
        source: source.to_string(),
        frames: current.frames.len().min(candidate.frames.len()),
        cpu_ms_per_frame: [current.cpu_ms, candidate.cpu_ms],
        ..SourceReport::default()
    };
    for (a, b) in current.frames.iter().zip(&candidate.frames) {
        let a: Vec<&(String, Detection)> = a.iter().filter(|d| d.1.score >= score).collect();
        let b: Vec<&(String, Detection)> = b.iter().filter(|d| d.1.score >= score).collect();
        let mut used = vec![false; b.len()];
        for (class, d) in &a {
            let best = b
                .iter()
                .enumerate()
                .filter(|(j, (c, _))| !used[*j] && c == class)
                .map(|(j, (_, e))| (j, d.bbox.iou(&e.bbox)))
                .filter(|(_, iou)| *iou >= MATCH_IOU)
                .max_by(|x, y| x.1.total_cmp(&y.1));
            let slot = r.by_class.entry(class.clone()).or_insert([0; 3]);
            match best {
                Some((j, _)) => {
                    used[j] = true;
                    slot[0] += 1;
                    r.matched += 1;
                }
                None => {
                    slot[1] += 1;
                    r.lost += 1;
                }
            }
        }
        for (j, (class, _)) in b.iter().enumerate() {
            if !used[j] {
                r.by_class.entry(class.clone()).or_insert([0; 3])[2] += 1;
                r.gained += 1;
            }
        }
    }
    let total = r.matched + r.lost + r.gained;
    r.agreement = if total == 0 {
        1.0
    } else {
        r.matched as f64 / total as f64
    };
    let rules: std::collections::BTreeSet<&String> = current
        .events
        .keys()
        .chain(candidate.events.keys())
        .collect();
    for rule in rules {
        r.events.insert(
            rule.clone(),
            [
                current.events.get(rule).copied().unwrap_or(0),
                candidate.events.get(rule).copied().unwrap_or(0),
            ],
        );
    }
    r
}

/// Locks a mutex, recovering it from a panicked holder (it holds only a sender).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A frame handed to a live trial, with its wall-clock time (ms).
pub type OfferedFrame = (DecodedFrame, i64);

/// Where a camera's analysis offers its analysed frames to a live trial: empty unless one runs. Cheap to
/// clone; the analysis keeps one, the trial's starter another.
#[derive(Clone, Default)]
pub struct ShadowSlot {
    tx: Arc<Mutex<Option<SyncSender<OfferedFrame>>>>,
    skipped: Arc<std::sync::atomic::AtomicUsize>,
}

impl ShadowSlot {
    /// Offers an analysed frame: copied and handed over when a trial runs and is free, skipped (never
    /// waited for) when it is busy, nothing when none runs.
    pub fn offer(&self, frame: &DecodedFrame, unix_ms: i64) {
        let mut slot = lock(&self.tx);
        let Some(tx) = slot.as_ref() else {
            return;
        };
        match tx.try_send((frame.clone(), unix_ms)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.skipped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => *slot = None,
        }
    }

    /// Starts handing frames to a trial (one frame waits at most: the one it will take next); the frames
    /// come out of the receiver returned. Replaces a trial still attached.
    pub fn attach(&self) -> Receiver<OfferedFrame> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.skipped.store(0, std::sync::atomic::Ordering::Relaxed);
        *lock(&self.tx) = Some(tx);
        rx
    }

    /// Whether a trial is attached.
    pub fn is_attached(&self) -> bool {
        lock(&self.tx).is_some()
    }

    /// Stops handing frames over; the frames skipped since [`ShadowSlot::attach`].
    pub fn detach(&self) -> usize {
        *lock(&self.tx) = None;
        self.skipped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The nice value of a live trial's thread: the lowest priority (Linux; per thread, and inherited by the
/// threads it starts, e.g. the detectors' inference threads when their sessions are made on it).
pub const TRIAL_NICE: i32 = 19;

/// Lowers the calling thread's CPU priority to [`TRIAL_NICE`].
pub fn lower_priority() {
    if let Err(e) = vigil_core::thread::lower_priority(TRIAL_NICE) {
        tracing::warn!("the model trial keeps its CPU priority: {e}");
    }
}

/// A live trial on camera `camera`: both models on the frames `slot` hands over for `duration` (the
/// current detector `current`, the candidate `candidate`, at `fps`, the camera's `rules`), compared
/// with `score`. Run it on its own thread, after [`lower_priority`] and before the pools' sessions are
/// made when they should inherit it.
pub fn run_live(
    camera: &str,
    slot: &ShadowSlot,
    sides: (Arc<DetectorPool>, Arc<DetectorPool>),
    fps: f32,
    rules: Option<&RulesConfig>,
    duration: Duration,
    score: f32,
) -> Result<SourceReport, PipelineError> {
    let mut current = TrialSide::new(sides.0, fps, rules)?;
    let mut candidate = TrialSide::new(sides.1, fps, rules)?;
    let rx = slot.attach();
    let until = Instant::now() + duration;
    let outcome = (|| {
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok((frame, unix_ms)) => {
                    current.frame(&frame, unix_ms)?;
                    candidate.frame(&frame, unix_ms)?;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        Ok::<_, PipelineError>(())
    })();
    let skipped = slot.detach();
    outcome?;
    let mut r = compare(camera, &current.finish(), &candidate.finish(), score);
    r.skipped = skipped;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::BBox;

    fn det(class_id: vigil_core::ClassId, x: f32, score: f32) -> Detection {
        Detection {
            bbox: BBox::new(x, 10.0, x + 40.0, 90.0),
            score,
            class_id,
        }
    }

    #[test]
    fn matched_lost_and_gained_per_class_and_events_side_by_side() {
        let person = |x, s| ("person".to_string(), det(0, x, s));
        let current = Seen {
            frames: vec![
                vec![person(0.0, 0.9), person(100.0, 0.8)],
                vec![person(0.0, 0.9)],
            ],
            events: [("door".to_string(), 2)].into(),
            cpu_ms: 20.0,
        };
        let candidate = Seen {
            frames: vec![
                vec![person(2.0, 0.9), ("dog".into(), det(16, 300.0, 0.5))],
                vec![person(0.0, 0.2)],
            ],
            events: [("door".to_string(), 1)].into(),
            cpu_ms: 25.0,
        };
        let r = compare("gate", &current, &candidate, 0.3);
        assert_eq!((r.frames, r.matched, r.lost, r.gained), (2, 1, 2, 1));
        assert_eq!(r.by_class["person"], [1, 2, 0]);
        assert_eq!(r.by_class["dog"], [0, 0, 1]);
        assert_eq!(r.events["door"], [2, 1]);
        assert!((r.agreement - 0.25).abs() < 1e-9);
    }
}
