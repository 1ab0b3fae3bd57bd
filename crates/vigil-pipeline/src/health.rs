//! Camera health while `vigil run` runs: each condition a `camera_health` event with the rules' lifecycle
//! (start, end), on the event bus like any other event, so it is stored, shown on the camera's tile and
//! the events page, sent to MQTT (one Home Assistant problem sensor per condition: rule `health_<state>`)
//! and to webhooks.
//!
//! Two sources judge a camera:
//! - [`HealthStage`], on the camera's analysis thread: the picture (covered, blocked, dark, defocused,
//!   moved, frozen; `vigil_vision::health`), on every analysed frame, and its switches to IR mode
//!   (`ir_mode`, information; `vigil_vision::day_night`);
//! - [`StreamHealth`], fed by the server's status loop every few seconds: the stream (`offline` when it
//!   has been disconnected for [`OFFLINE_AFTER_MS`], `stream_quality` when frames arrive at under half the
//!   rate the camera usually sends for [`SLOW_AFTER_MS`]).
//!
//! Both make their events with [`HealthEvents`].

use crate::track_events::{at, round3};
use std::collections::BTreeMap;
use vigil_core::{Event, EventKind, EventPhase, EventTime, GrayImage, Time90k, health_rule};
use vigil_media::{Converter, DecodedFrame, MediaError};
use vigil_rules::{FrameContext, IdGen, TimeZone};
use vigil_vision::day_night::{DayNightDetector, IR_MODE};
use vigil_vision::health::{HealthConfig, HealthDetector, work_size};

/// The open health events of one camera and one source, made and ended with the rules' lifecycle.
pub struct HealthEvents {
    camera: String,
    ids: IdGen,
    tz: TimeZone,
    open: BTreeMap<String, Event>,
}

impl HealthEvents {
    /// Events of `camera` from `source` (a name that keeps this source's ids apart from others').
    pub fn new(camera: &str, source: &str, tz: TimeZone) -> HealthEvents {
        HealthEvents {
            camera: camera.to_string(),
            ids: IdGen::new(&format!("{camera}/{source}")),
            tz,
            open: BTreeMap::new(),
        }
    }

    /// The `start` of `state` (condition held since `since`, seen at `now`), unless it is already on.
    pub fn start(
        &mut self,
        state: &str,
        since: EventTime,
        now: EventTime,
        shift: Option<[f32; 2]>,
        detail: Option<String>,
    ) -> Option<Event> {
        if self.open.contains_key(state) {
            return None;
        }
        let mut e = Event {
            attributes: Default::default(),
            id: self.ids.next(now.unix_ms),
            camera: self.camera.clone(),
            rule: health_rule(state),
            kind: EventKind::CameraHealth {
                state: state.to_string(),
                shift,
                detail,
            },
            phase: EventPhase::Start,
            class_name: String::new(),
            objects: Vec::new(),
            track_ids: Vec::new(),
            zone: None,
            line: None,
            start: since,
            last: now,
            end: None,
            best: None,
            description: String::new(),
        };
        e.description = vigil_rules::describe(&e, &self.tz);
        self.open.insert(state.to_string(), e.clone());
        Some(e)
    }

    /// The `end` of `state` at `at`, if it is on.
    pub fn end(&mut self, state: &str, at: EventTime) -> Option<Event> {
        let e = self.open.remove(state)?;
        Some(vigil_rules::ended(e, at, &self.tz))
    }

    /// Ends every state on (the source stops).
    pub fn close(&mut self, at: EventTime) -> Vec<Event> {
        let states: Vec<String> = self.open.keys().cloned().collect();
        states.iter().filter_map(|s| self.end(s, at)).collect()
    }

    /// The states on now.
    pub fn active(&self) -> Vec<String> {
        self.open.keys().cloned().collect()
    }
}

/// The picture's health on a camera's analysis thread, and its switches to IR mode (information:
/// `ir_mode` events of their own source, not among [`HealthStage::active`]).
pub struct HealthStage {
    detector: HealthDetector,
    converter: Converter,
    events: HealthEvents,
    day_night: DayNightDetector,
    day_night_events: HealthEvents,
}

impl HealthStage {
    /// Health of `camera`'s picture, described in `tz`.
    pub fn new(camera: &str, tz: TimeZone) -> HealthStage {
        HealthStage {
            detector: HealthDetector::new(HealthConfig::default()),
            converter: Converter::new(),
            events: HealthEvents::new(camera, "health", tz.clone()),
            day_night: DayNightDetector::new(),
            day_night_events: HealthEvents::new(camera, "day_night", tz),
        }
    }

    /// Judges one analysed frame (seen at `ctx`); the events of the states that start or end. `small` is
    /// a gray copy the analysis already made (the motion model's), used when it has the health check's
    /// size; otherwise the frame is converted here.
    pub fn update(
        &mut self,
        frame: &DecodedFrame,
        small: Option<&GrayImage>,
        ctx: &FrameContext,
    ) -> Result<Vec<Event>, MediaError> {
        let (w, h) = work_size(frame.width(), frame.height());
        let converted;
        let gray = match small {
            Some(g) if (g.width(), g.height()) == (w, h) => g,
            _ => {
                converted = frame.gray(&mut self.converter, w, h)?;
                &converted
            }
        };
        let changes = self.detector.update(gray, ctx.time_unix_ms);
        let now = at(ctx);
        let mut out = Vec::new();
        let when = |at_ms: i64| EventTime {
            unix_ms: at_ms,
            media: Time90k(ctx.media_time.0 - (ctx.time_unix_ms - at_ms) * 90),
        };
        if let Some(chroma) = frame.chroma()
            && let Some(c) = self.day_night.update(gray, chroma, ctx.time_unix_ms)
        {
            out.extend(if c.on {
                let (after, before) = c.brightness;
                let detail = format!("brightness {before:.0} before, {after:.0} after (of 255)");
                self.day_night_events
                    .start(IR_MODE, when(c.at_ms), now, None, Some(detail))
            } else {
                self.day_night_events.end(IR_MODE, when(c.at_ms))
            });
        }
        for c in changes {
            let state = c.kind.name();
            let e = if c.on {
                let shift = c.shift.map(|(dx, dy)| [round3(dx), round3(dy)]);
                self.events.start(state, when(c.at_ms), now, shift, None)
            } else {
                self.events.end(state, when(c.at_ms))
            };
            out.extend(e);
        }
        Ok(out)
    }

    /// The states on now.
    pub fn active(&self) -> Vec<String> {
        self.events.active()
    }

    /// Ends the states on (analysis stops or pauses), IR mode too; the picture's reference is kept.
    pub fn close(&mut self, ctx: &FrameContext) -> Vec<Event> {
        self.detector.finish(ctx.time_unix_ms);
        self.day_night.finish(ctx.time_unix_ms);
        let mut out = self.events.close(at(ctx));
        out.extend(self.day_night_events.close(at(ctx)));
        out
    }
}

/// A stream disconnected this long is `offline` (a camera's reconnects take a few seconds).
pub const OFFLINE_AFTER_MS: i64 = 30_000;
/// A stream in poor shape this long is `stream_quality`.
pub const SLOW_AFTER_MS: i64 = 30_000;
/// Share of the usual frame rate under which the stream is degraded.
pub const SLOW_SHARE: f32 = 0.5;
/// Share of the usual frame rate above which a slow stream is well again (a gap against flapping).
const WELL_SHARE: f32 = 0.7;
/// The usual frame rate forgets a higher past rate with this half-life (a camera reconfigured to a lower
/// rate is learned again within hours).
const NOMINAL_HALF_LIFE_MS: f64 = 6.0 * 3_600_000.0;
/// Window over which clock jumps and lost packets are counted.
const WINDOW_MS: i64 = 60_000;
/// Clock jumps in a window that make a stream degraded (one is a camera's NTP step; several a minute
/// break playback).
const JUMPS: u64 = 3;
/// RTP packets lost in a window that make a stream degraded (a lost packet costs the rest of its frame;
/// a few a minute are a network's bad moment, this many are a bad link).
const LOST: u64 = 50;

/// One sample of a stream's figures (counters are totals since start).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StreamSample {
    /// The stream is connected.
    pub online: bool,
    /// Frames received per second.
    pub fps: f32,
    /// Times the camera's clock jumped or stepped back.
    pub timestamp_jumps: u64,
    /// RTP packets lost.
    pub lost_packets: u64,
}

/// The stream's health, judged from the samples the server takes every few seconds. Bitrate is not
/// judged: a still scene at night legitimately sends a tenth of the day's bits.
pub struct StreamHealth {
    events: HealthEvents,
    offline_since: Option<i64>,
    /// Usual frame rate and when it was last raised or decayed.
    nominal: Option<(f32, i64)>,
    poor_since: Option<i64>,
    /// Recent (time, sample) pairs, for the counts over [`WINDOW_MS`].
    recent: std::collections::VecDeque<(i64, StreamSample)>,
}

impl StreamHealth {
    /// Health of `camera`'s stream, described in `tz`.
    pub fn new(camera: &str, tz: TimeZone) -> StreamHealth {
        StreamHealth {
            events: HealthEvents::new(camera, "stream", tz),
            offline_since: None,
            nominal: None,
            poor_since: None,
            recent: std::collections::VecDeque::new(),
        }
    }

    /// One sample at `unix_ms`.
    pub fn observe(&mut self, unix_ms: i64, sample: StreamSample) -> Vec<Event> {
        let now = wall(unix_ms);
        let mut out = Vec::new();
        self.recent.push_back((unix_ms, sample));
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| unix_ms - t > WINDOW_MS)
        {
            self.recent.pop_front();
        }
        if !sample.online {
            let since = *self.offline_since.get_or_insert(unix_ms);
            self.poor_since = None;
            out.extend(self.events.end("stream_quality", now));
            if unix_ms - since >= OFFLINE_AFTER_MS {
                out.extend(self.events.start("offline", wall(since), now, None, None));
            }
            return out;
        }
        self.offline_since = None;
        out.extend(self.events.end("offline", now));
        let fps = sample.fps;
        // The usual rate: the highest seen, slowly forgotten.
        let nominal = match self.nominal {
            Some((n, t)) => {
                let decay = 0.5f64.powf((unix_ms - t).max(0) as f64 / NOMINAL_HALF_LIFE_MS);
                (n * decay as f32).max(fps)
            }
            None => fps,
        };
        self.nominal = Some((nominal, unix_ms));
        let (jumps, lost) = match self.recent.front() {
            Some((_, first)) => (
                sample.timestamp_jumps.saturating_sub(first.timestamp_jumps),
                sample.lost_packets.saturating_sub(first.lost_packets),
            ),
            None => (0, 0),
        };
        let mut problems = Vec::new();
        if nominal > 0.0 && fps < SLOW_SHARE * nominal {
            problems.push(format!(
                "{fps:.1} fps where the camera usually sends {nominal:.0}"
            ));
        }
        if jumps >= JUMPS {
            problems.push(format!(
                "the camera's clock jumped {jumps} times in a minute"
            ));
        }
        if lost >= LOST {
            problems.push(format!("{lost} packets lost in a minute"));
        }
        let well = fps >= WELL_SHARE * nominal && jumps < JUMPS && lost < LOST;
        if !problems.is_empty() {
            let since = *self.poor_since.get_or_insert(unix_ms);
            if unix_ms - since >= SLOW_AFTER_MS {
                let detail = problems.join("; ");
                out.extend(self.events.start(
                    "stream_quality",
                    wall(since),
                    now,
                    None,
                    Some(detail),
                ));
            }
        } else if well {
            self.poor_since = None;
            out.extend(self.events.end("stream_quality", now));
        }
        out
    }

    /// The states on now.
    pub fn active(&self) -> Vec<String> {
        self.events.active()
    }
}

/// A moment known only on the wall clock (the stream's own clock is not at hand).
pub(crate) fn wall(unix_ms: i64) -> EventTime {
    EventTime {
        unix_ms,
        media: Time90k(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;

    fn tz() -> TimeZone {
        TimeZone::default()
    }

    fn up(fps: f32) -> StreamSample {
        StreamSample {
            online: true,
            fps,
            ..StreamSample::default()
        }
    }

    const DOWN: StreamSample = StreamSample {
        online: false,
        fps: 0.0,
        timestamp_jumps: 0,
        lost_packets: 0,
    };

    fn states(events: &[Event]) -> Vec<(String, EventPhase)> {
        events
            .iter()
            .map(|e| match &e.kind {
                EventKind::CameraHealth { state, .. } => (state.clone(), e.phase),
                other => panic!("not a health event: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn offline_starts_after_its_time_and_ends_when_the_stream_is_back() {
        let mut h = StreamHealth::new("gate", tz());
        assert!(h.observe(T0, up(25.0)).is_empty());
        // A reconnect of a few seconds is not an outage.
        assert!(h.observe(T0 + 10_000, DOWN).is_empty());
        assert!(h.observe(T0 + 20_000, up(25.0)).is_empty());
        assert!(h.observe(T0 + 30_000, DOWN).is_empty());
        assert!(h.observe(T0 + 50_000, DOWN).is_empty());
        let on = h.observe(T0 + 60_000, DOWN);
        assert_eq!(states(&on), [("offline".into(), EventPhase::Start)]);
        assert_eq!(
            on[0].start.unix_ms,
            T0 + 30_000,
            "dated from the disconnection"
        );
        assert_eq!(on[0].rule, "health_offline");
        assert!(h.observe(T0 + 70_000, DOWN).is_empty(), "said once");
        let off = h.observe(T0 + 80_000, up(25.0));
        assert_eq!(states(&off), [("offline".into(), EventPhase::End)]);
        assert_eq!(off[0].id, on[0].id);
        assert!(h.active().is_empty());
    }

    #[test]
    fn a_stream_far_below_its_usual_rate_is_degraded_until_it_recovers() {
        let mut h = StreamHealth::new("gate", tz());
        for i in 0..6 {
            assert!(h.observe(T0 + i * 10_000, up(25.0)).is_empty());
        }
        let mut seen = Vec::new();
        for i in 6..16 {
            seen.extend(h.observe(T0 + i * 10_000, up(4.8)));
        }
        assert_eq!(
            states(&seen),
            [("stream_quality".into(), EventPhase::Start)]
        );
        let EventKind::CameraHealth { detail, .. } = &seen[0].kind else {
            unreachable!()
        };
        assert_eq!(
            detail.as_deref(),
            Some("4.8 fps where the camera usually sends 25")
        );
        // Slightly better is not well yet; back near the usual rate is.
        assert!(h.observe(T0 + 170_000, up(15.0)).is_empty());
        let end = h.observe(T0 + 180_000, up(24.0));
        assert_eq!(states(&end), [("stream_quality".into(), EventPhase::End)]);
    }

    #[test]
    fn a_short_dip_in_the_frame_rate_is_not_degraded() {
        let mut h = StreamHealth::new("gate", tz());
        h.observe(T0, up(25.0));
        for i in 1..4 {
            assert!(h.observe(T0 + i * 10_000, up(5.0)).is_empty());
        }
        assert!(h.observe(T0 + 40_000, up(25.0)).is_empty());
        assert!(h.observe(T0 + 130_000, up(5.0)).is_empty());
    }

    #[test]
    fn a_jumping_clock_or_a_lossy_link_is_degraded_until_it_settles() {
        let mut h = StreamHealth::new("gate", tz());
        let at = |jumps: u64, lost: u64| StreamSample {
            online: true,
            fps: 25.0,
            timestamp_jumps: jumps,
            lost_packets: lost,
        };
        // One clock step (NTP) and a few lost packets are life.
        for i in 0..10 {
            assert!(h.observe(T0 + i as i64 * 10_000, at(1, i)).is_empty());
        }
        // Then a jump every 10 s.
        let mut seen = Vec::new();
        for i in 10..16 {
            seen.extend(h.observe(T0 + i as i64 * 10_000, at(i - 8, 9)));
        }
        assert_eq!(
            states(&seen),
            [("stream_quality".into(), EventPhase::Start)]
        );
        assert!(
            seen[0].description.contains("clock jumped"),
            "{}",
            seen[0].description
        );
        // Settled: once the minute's window holds fewer jumps, it ends.
        let mut seen = Vec::new();
        for i in 16..24 {
            seen.extend(h.observe(T0 + i as i64 * 10_000, at(7, 9)));
        }
        assert_eq!(states(&seen), [("stream_quality".into(), EventPhase::End)]);
        // A link losing a hundred packets a minute.
        let mut seen = Vec::new();
        for i in 24..34 {
            seen.extend(h.observe(T0 + i as i64 * 10_000, at(7, 9 + (i - 23) * 20)));
        }
        assert_eq!(
            states(&seen),
            [("stream_quality".into(), EventPhase::Start)]
        );
        assert!(
            seen[0].description.contains("packets lost"),
            "{}",
            seen[0].description
        );
    }
}
