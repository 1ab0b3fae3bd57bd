//! Analytics drift: the camera still sends a good picture, but the analysis no longer sees what it used to
//! (a lens slowly fogging, a new light that blinds the detector at night, a model that suits this scene
//! worse). Two figures of the camera's own analysis are compared with the reference learned from its first
//! hour of analysis:
//!
//! - the share of frames *with motion* in which no object is tracked (motion the analysis cannot explain:
//!   the detector misses what moves), and
//! - the median score of the tracked objects (the detector is less sure of what it sees).
//!
//! When one of them has drifted past its margin over the last [`WINDOW_MS`] for [`HOLD_MS`], the camera's
//! `analytics_degraded` health state starts (a `camera_health` event like the others), with what drifted
//! in its `detail`; it ends once both have been back for [`HOLD_MS`].

use crate::health::{HealthEvents, wall};
use std::collections::VecDeque;
use vigil_core::Event;
use vigil_rules::TimeZone;

/// Analysis time (ms) the reference is learned from.
pub const LEARN_MS: i64 = 3_600_000;
/// The recent window compared with the reference.
pub const WINDOW_MS: i64 = 600_000;
/// How long a drift (or its end) must hold.
pub const HOLD_MS: i64 = 300_000;
/// Frames with motion a window needs before its share is judged.
const MIN_MOTION_FRAMES: u64 = 100;
/// Scores a window needs before its median is judged.
const MIN_SCORES: usize = 100;
/// Unexplained motion drifted: at least this much above the reference share, and at least twice it.
const UNEXPLAINED_MARGIN: f64 = 0.3;
/// Median score drifted: at least this much under the reference's.
const SCORE_MARGIN: f32 = 0.15;
/// Most scores kept from the learning hour.
const MAX_SCORES: usize = 20_000;

/// What one analysed frame says about the analysis.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameObservation {
    /// The motion model saw motion.
    pub motion: bool,
    /// Objects are tracked in it.
    pub tracked: bool,
    /// The scores of the tracked objects.
    pub scores: Vec<f32>,
}

/// Counts over the learning hour (its scores capped at [`MAX_SCORES`]).
#[derive(Debug, Clone, Default)]
struct Learning {
    motion: u64,
    unexplained: u64,
    scores: Vec<f32>,
}

/// The figures drift is judged on.
#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    /// Share of moving frames with nothing tracked (`None`: too few moving frames).
    unexplained: Option<f64>,
    /// Median score of the tracked objects (`None`: too few scores).
    median: Option<f32>,
}

fn share(motion: u64, unexplained: u64) -> Option<f64> {
    (motion >= MIN_MOTION_FRAMES).then(|| unexplained as f64 / motion as f64)
}

/// The median of sorted `scores`.
fn median(sorted: &[f32]) -> Option<f32> {
    (sorted.len() >= MIN_SCORES).then(|| sorted[sorted.len() / 2])
}

/// The last [`WINDOW_MS`] of frames, with their counts kept up to date as frames come and go and their
/// scores kept sorted (no recount or sort per frame on the analysis thread).
#[derive(Debug, Default)]
struct Window {
    frames: VecDeque<(i64, FrameObservation)>,
    motion: u64,
    unexplained: u64,
    sorted: Vec<f32>,
}

impl Window {
    fn push(&mut self, t: i64, o: FrameObservation) {
        self.motion += u64::from(o.motion);
        self.unexplained += u64::from(o.motion && !o.tracked);
        for s in &o.scores {
            let at = self.sorted.partition_point(|x| x.total_cmp(s).is_lt());
            self.sorted.insert(at, *s);
        }
        self.frames.push_back((t, o));
        while let Some((old, _)) = self.frames.front()
            && t - old > WINDOW_MS
        {
            let Some((_, o)) = self.frames.pop_front() else {
                break;
            };
            self.motion -= u64::from(o.motion);
            self.unexplained -= u64::from(o.motion && !o.tracked);
            for s in &o.scores {
                let at = self.sorted.partition_point(|x| x.total_cmp(s).is_lt());
                if self.sorted.get(at).is_some_and(|x| x.total_cmp(s).is_eq()) {
                    self.sorted.remove(at);
                }
            }
        }
    }

    fn figures(&self) -> Figures {
        Figures {
            unexplained: share(self.motion, self.unexplained),
            median: median(&self.sorted),
        }
    }
}

/// Judges one camera's analysis against its own first hour.
pub struct DriftJudge {
    events: HealthEvents,
    started: Option<i64>,
    learning: Learning,
    /// The first hour's figures, once learned.
    reference: Option<Figures>,
    window: Window,
    drift_since: Option<i64>,
    well_since: Option<i64>,
}

impl DriftJudge {
    /// A judge for `camera`, described in `tz`.
    pub fn new(camera: &str, tz: TimeZone) -> DriftJudge {
        DriftJudge {
            events: HealthEvents::new(camera, "drift", tz),
            started: None,
            learning: Learning::default(),
            reference: None,
            window: Window::default(),
            drift_since: None,
            well_since: None,
        }
    }

    /// One analysed frame at `unix_ms`; the events of the state starting or ending.
    pub fn observe(&mut self, unix_ms: i64, o: FrameObservation) -> Vec<Event> {
        let started = *self.started.get_or_insert(unix_ms);
        let reference = match self.reference {
            Some(r) => r,
            None if unix_ms - started < LEARN_MS => {
                let l = &mut self.learning;
                l.motion += u64::from(o.motion);
                l.unexplained += u64::from(o.motion && !o.tracked);
                if l.scores.len() < MAX_SCORES {
                    l.scores.extend_from_slice(&o.scores);
                }
                return Vec::new();
            }
            None => {
                let l = std::mem::take(&mut self.learning);
                let mut scores = l.scores;
                scores.sort_by(f32::total_cmp);
                let r = Figures {
                    unexplained: share(l.motion, l.unexplained),
                    median: median(&scores),
                };
                self.reference = Some(r);
                r
            }
        };
        self.window.push(unix_ms, o);
        let now = self.window.figures();
        let mut drifted = Vec::new();
        if let (Some(r), Some(c)) = (reference.unexplained, now.unexplained)
            && c >= r + UNEXPLAINED_MARGIN
            && c >= 2.0 * r
        {
            drifted.push(format!(
                "motion with nothing tracked in {:.0}% of moving frames (usually {:.0}%)",
                c * 100.0,
                r * 100.0
            ));
        }
        if let (Some(r), Some(c)) = (reference.median, now.median)
            && c <= r - SCORE_MARGIN
        {
            drifted.push(format!("median detection score {c:.2} (usually {r:.2})"));
        }
        let mut out = Vec::new();
        if drifted.is_empty() {
            self.drift_since = None;
            let since = *self.well_since.get_or_insert(unix_ms);
            if unix_ms - since >= HOLD_MS {
                out.extend(self.events.end("analytics_degraded", wall(since)));
            }
        } else {
            self.well_since = None;
            let since = *self.drift_since.get_or_insert(unix_ms);
            if unix_ms - since >= HOLD_MS {
                out.extend(self.events.start(
                    "analytics_degraded",
                    wall(since),
                    wall(unix_ms),
                    None,
                    Some(drifted.join("; ")),
                ));
            }
        }
        out
    }

    /// Ends the state if on (analysis stops).
    pub fn close(&mut self, unix_ms: i64) -> Vec<Event> {
        self.events.close(wall(unix_ms))
    }

    /// The states on now.
    pub fn active(&self) -> Vec<String> {
        self.events.active()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::{EventKind, EventPhase};

    const T0: i64 = 1_800_000_000_000;
    /// 5 analysed frames a second.
    const FRAME_MS: i64 = 200;

    /// Frames for `secs` seconds from `from`: motion in every other frame, tracked in `tracked` of every
    /// 10 moving frames, each track scoring `score`.
    fn feed(j: &mut DriftJudge, from: i64, secs: i64, tracked: u32, score: f32) -> Vec<Event> {
        let mut out = Vec::new();
        for i in 0..secs * 1000 / FRAME_MS {
            let motion = i % 2 == 0;
            let is_tracked = motion && (i / 2) % 10 < i64::from(tracked);
            out.extend(j.observe(
                from + i * FRAME_MS,
                FrameObservation {
                    motion,
                    tracked: is_tracked,
                    scores: if is_tracked { vec![score] } else { Vec::new() },
                },
            ));
        }
        out
    }

    fn states(events: &[Event]) -> Vec<(String, EventPhase)> {
        events
            .iter()
            .map(|e| match &e.kind {
                EventKind::CameraHealth { state, .. } => (state.clone(), e.phase),
                _ => (String::new(), e.phase),
            })
            .collect()
    }

    #[test]
    fn a_detector_that_stops_seeing_what_moves_is_analytics_degraded_until_it_recovers() {
        let mut j = DriftJudge::new("yard", TimeZone::default());
        // The first hour: 9 moving frames in 10 explained, scores 0.7.
        assert!(feed(&mut j, T0, 3600, 9, 0.7).is_empty());
        // Another normal hour: nothing.
        assert!(feed(&mut j, T0 + 3_600_000, 3600, 9, 0.7).is_empty());
        // The detector goes blind: 2 in 10.
        let on = feed(&mut j, T0 + 7_200_000, 1200, 2, 0.7);
        assert_eq!(
            states(&on),
            [("analytics_degraded".into(), EventPhase::Start)]
        );
        let EventKind::CameraHealth { detail, .. } = &on[0].kind else {
            unreachable!()
        };
        assert!(
            detail.as_deref().is_some_and(|d| d.contains("usually 10%")),
            "{detail:?}"
        );
        // Back to normal: it ends once the window is clean for the hold time.
        let off = feed(&mut j, T0 + 8_400_000, 1800, 9, 0.7);
        assert_eq!(
            states(&off),
            [("analytics_degraded".into(), EventPhase::End)]
        );
    }

    #[test]
    fn falling_scores_are_degraded_and_a_short_dip_is_not() {
        let mut j = DriftJudge::new("yard", TimeZone::default());
        feed(&mut j, T0, 3600, 9, 0.7);
        // Two minutes of low scores: gone from the window's median before the hold time.
        assert!(feed(&mut j, T0 + 3_600_000, 120, 9, 0.4).is_empty());
        assert!(feed(&mut j, T0 + 3_720_000, 1320, 9, 0.7).is_empty());
        let on = feed(&mut j, T0 + 5_040_000, 1200, 9, 0.45);
        assert_eq!(
            states(&on),
            [("analytics_degraded".into(), EventPhase::Start)]
        );
        assert!(
            on[0]
                .description
                .contains("median detection score 0.45 (usually 0.70)")
        );
    }
}
