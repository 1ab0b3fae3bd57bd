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

use crate::health::HealthEvents;
use std::collections::VecDeque;
use vigil_core::{Event, EventTime, Time90k};
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
/// Most scores kept per window.
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

/// Counts over a stretch of frames.
#[derive(Debug, Clone, Default)]
struct Stats {
    motion: u64,
    unexplained: u64,
    scores: Vec<f32>,
}

impl Stats {
    fn add(&mut self, o: &FrameObservation) {
        if o.motion {
            self.motion += 1;
            if !o.tracked {
                self.unexplained += 1;
            }
        }
        if self.scores.len() < MAX_SCORES {
            self.scores.extend_from_slice(&o.scores);
        }
    }

    fn unexplained_share(&self) -> Option<f64> {
        (self.motion >= MIN_MOTION_FRAMES).then(|| self.unexplained as f64 / self.motion as f64)
    }

    fn median_score(&self) -> Option<f32> {
        if self.scores.len() < MIN_SCORES {
            return None;
        }
        let mut s = self.scores.clone();
        s.sort_by(f32::total_cmp);
        Some(s[s.len() / 2])
    }
}

/// Judges one camera's analysis against its own first hour.
pub struct DriftJudge {
    events: HealthEvents,
    started: Option<i64>,
    reference: Stats,
    learned: bool,
    recent: VecDeque<(i64, FrameObservation)>,
    drift_since: Option<i64>,
    well_since: Option<i64>,
}

impl DriftJudge {
    /// A judge for `camera`, described in `tz`.
    pub fn new(camera: &str, tz: TimeZone) -> DriftJudge {
        DriftJudge {
            events: HealthEvents::new(camera, "drift", tz),
            started: None,
            reference: Stats::default(),
            learned: false,
            recent: VecDeque::new(),
            drift_since: None,
            well_since: None,
        }
    }

    /// One analysed frame at `unix_ms`; the events of the state starting or ending.
    pub fn observe(&mut self, unix_ms: i64, o: FrameObservation) -> Vec<Event> {
        let started = *self.started.get_or_insert(unix_ms);
        if !self.learned {
            if unix_ms - started < LEARN_MS {
                self.reference.add(&o);
                return Vec::new();
            }
            self.learned = true;
        }
        self.recent.push_back((unix_ms, o));
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| unix_ms - t > WINDOW_MS)
        {
            self.recent.pop_front();
        }
        let mut now = Stats::default();
        for (_, o) in &self.recent {
            now.add(o);
        }
        let mut drifted = Vec::new();
        if let (Some(r), Some(c)) = (self.reference.unexplained_share(), now.unexplained_share())
            && c >= r + UNEXPLAINED_MARGIN
            && c >= 2.0 * r
        {
            drifted.push(format!(
                "motion with nothing tracked in {:.0}% of moving frames (usually {:.0}%)",
                c * 100.0,
                r * 100.0
            ));
        }
        if let (Some(r), Some(c)) = (self.reference.median_score(), now.median_score())
            && c <= r - SCORE_MARGIN
        {
            drifted.push(format!("median detection score {c:.2} (usually {r:.2})"));
        }
        let at = |ms: i64| EventTime {
            unix_ms: ms,
            media: Time90k(0),
        };
        let mut out = Vec::new();
        if drifted.is_empty() {
            self.drift_since = None;
            let since = *self.well_since.get_or_insert(unix_ms);
            if unix_ms - since >= HOLD_MS {
                out.extend(self.events.end("analytics_degraded", at(since)));
            }
        } else {
            self.well_since = None;
            let since = *self.drift_since.get_or_insert(unix_ms);
            if unix_ms - since >= HOLD_MS {
                out.extend(self.events.start(
                    "analytics_degraded",
                    at(since),
                    at(unix_ms),
                    None,
                    Some(drifted.join("; ")),
                ));
            }
        }
        out
    }

    /// Ends the state if on (analysis stops).
    pub fn close(&mut self, unix_ms: i64) -> Vec<Event> {
        self.events.close(EventTime {
            unix_ms,
            media: Time90k(0),
        })
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
