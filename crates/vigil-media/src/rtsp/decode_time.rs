//! Decode times for frames that arrive with presentation times only.
//!
//! RTP carries one timestamp per frame, its presentation time, while frames arrive in decode order. With
//! B-frames the two orders differ, and an MP4 needs each frame's decode time (strictly increasing) plus a
//! composition offset (presentation minus decode time). As FFmpeg's demuxers do, the decode time of a frame
//! is the (D+1)-th largest presentation time seen so far, where D is the stream's reorder depth: the most
//! frames that precede any frame in decode order and follow it in presentation order. That is the sorted
//! presentation times delayed by D frames, so decode times advance by the frame spacing, never pass the
//! frame's own presentation time (offsets are >= 0), and need no look-ahead.
//!
//! D comes from the sequence parameter set when it says (H.265 always, H.264 with VUI bitstream
//! restrictions, 0 for H.264 Baseline). Otherwise, and whenever D > 0 (to learn the frame spacing for the
//! first frames' decode times), frames are held at the start of a session until the first GOP ends or
//! [`LEARN_FRAMES`] frames or [`LEARN_TIME`] have passed, and D is the deepest reordering seen in them
//! ("one GOP of reorder", like FFmpeg's stream probing). A camera that later reorders deeper than that (a
//! switch from plain GOPs to B-frame GOPs without a declared depth) raises D from then on: decode times
//! then advance by one tick per frame until they are back behind the presentation times, so they stay
//! strictly increasing and every presentation time stays exact. That is logged and counted.
//!
//! Design and invariants (R9, R10): `docs/design/recording.md`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tracing::{info, warn};
use vigil_core::{EncodedFrame, Time90k};

/// The deepest reordering H.264 and H.265 allow (their decoded picture buffers hold at most 16 frames).
/// A frame whose presentation time is earlier than all of the last `MAX_REORDER + 1` frames' is not
/// reordered but a clock that stepped back.
pub(crate) const MAX_REORDER: usize = 16;
/// At most this many frames are held at the start of a session to learn the reorder depth.
pub(crate) const LEARN_FRAMES: usize = 16;
/// ...or for at most this long.
pub(crate) const LEARN_TIME: Duration = Duration::from_secs(2);
/// Frame spacing assumed before any is measured (1/30 s).
const FALLBACK_SPACING: i64 = 3000;

/// Derives decode times for one stream; reset at every discontinuity.
#[derive(Debug)]
pub(crate) struct DecodeTimes {
    /// Stream name, for log lines.
    name: String,
    /// Reorder depth in use (frames).
    depth: usize,
    /// Since when frames are held to learn the depth; `None` once decode times flow.
    learning: Option<Instant>,
    /// Frames held while learning, each with its observed reorder depth.
    held: Vec<(EncodedFrame, usize)>,
    /// Presentation times of the last `MAX_REORDER + 1` frames, oldest first.
    recent: VecDeque<i64>,
    /// The largest presentation times given a decode time since the reset, ascending (at most
    /// `MAX_REORDER + 1`).
    top: Vec<i64>,
    /// Frame spacing (90 kHz), for the decode times of a stretch's first frames.
    spacing: i64,
    last_dts: Option<i64>,
    /// Deepest reordering seen in the GOP now arriving, and in the one before.
    gop_depth: usize,
    last_gop_depth: Option<usize>,
    /// Frames that reordered deeper than the depth in use (their decode times crawl).
    late: u64,
    /// GOPs that switched between reordered (B-frame) and plain.
    switches: u64,
}

impl DecodeTimes {
    /// A new stream; call [`DecodeTimes::reset`] before its first frame.
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            depth: 0,
            learning: None,
            held: Vec::new(),
            recent: VecDeque::with_capacity(MAX_REORDER + 1),
            top: Vec::with_capacity(MAX_REORDER + 2),
            spacing: FALLBACK_SPACING,
            last_dts: None,
            gop_depth: 0,
            last_gop_depth: None,
            late: 0,
            switches: 0,
        }
    }

    /// Starts a new stretch of timestamps (a session start, a jump, new parameters) whose parameter sets
    /// declare reorder depth `declared` (`None`: not declared). Frames still held must have been taken
    /// with [`DecodeTimes::flush`] first.
    pub(crate) fn reset(&mut self, declared: Option<usize>, now: Instant) {
        debug_assert!(self.held.is_empty());
        self.depth = declared.unwrap_or(0).min(MAX_REORDER);
        self.learning = (declared != Some(0)).then_some(now);
        self.recent.clear();
        self.top.clear();
        self.last_dts = None;
        self.gop_depth = 0;
        self.last_gop_depth = None;
    }

    /// The reorder depth in use (frames).
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// The deepest reordering seen in the last complete GOP: 0 for a GOP without B-frames.
    pub(crate) fn gop_depth(&self) -> Option<usize> {
        self.last_gop_depth
    }

    /// Frames that reordered deeper than the depth in use, so far.
    pub(crate) fn late(&self) -> u64 {
        self.late
    }

    /// Switches between GOPs with and without B-frames, so far.
    pub(crate) fn switches(&self) -> u64 {
        self.switches
    }

    /// Returns the presentation time of the previous frame when `pts` is earlier than all of the last
    /// `MAX_REORDER + 1` frames': more reordering than any H.264/H.265 stream has, so the clock stepped
    /// back (a timestamp jump).
    pub(crate) fn beyond_reorder(&self, pts: Time90k) -> Option<Time90k> {
        if self.recent.len() > MAX_REORDER && self.recent.iter().all(|&p| p > pts.0) {
            self.recent.back().map(|&p| Time90k(p))
        } else {
            None
        }
    }

    /// Takes the next frame (in decode order); appends the frames whose decode times are now known to
    /// `out`, in order, with their `composition_offset` set.
    pub(crate) fn push(&mut self, frame: EncodedFrame, now: Instant, out: &mut Vec<EncodedFrame>) {
        if frame.is_key {
            if self.learning.is_some() && !self.held.is_empty() {
                self.finish_learning(out);
            }
            self.end_gop();
        }
        let pts = frame.pts.0;
        let depth = self.recent.iter().filter(|&&p| p > pts).count();
        if self.recent.len() > MAX_REORDER {
            self.recent.pop_front();
        }
        self.recent.push_back(pts);
        self.gop_depth = self.gop_depth.max(depth);
        match self.learning {
            Some(since) => {
                self.held.push((frame, depth));
                if self.held.len() >= LEARN_FRAMES || now.duration_since(since) >= LEARN_TIME {
                    self.finish_learning(out);
                }
            }
            None => {
                if depth > self.depth {
                    self.late += 1;
                    if self.late.is_power_of_two() {
                        warn!(
                            stream = %self.name,
                            from = self.depth,
                            to = depth.min(MAX_REORDER),
                            late_frames = self.late,
                            "the camera reorders frames (B-frames) deeper than it declared or showed \
                             before; decode times catch up over the next frames (presentation times and \
                             frames are kept)"
                        );
                    }
                    self.depth = depth.min(MAX_REORDER);
                }
                out.push(self.assign(frame));
            }
        }
    }

    /// Gives the held frames their decode times now (the stream ends or breaks before the learning
    /// window is over).
    pub(crate) fn flush(&mut self, out: &mut Vec<EncodedFrame>) {
        if !self.held.is_empty() {
            self.finish_learning(out);
        }
        self.learning = None;
    }

    /// Ends the learning window: the depth is the deepest seen (or declared), the spacing the smallest
    /// step between the held frames' sorted presentation times. The held frames' decode times are their
    /// sorted presentation times delayed by the depth, the first ones extrapolated back by the spacing:
    /// knowing the whole window matters when it starts mid-GOP (after a jump), where a frame decoded
    /// later may be shown before the first one.
    fn finish_learning(&mut self, out: &mut Vec<EncodedFrame>) {
        self.learning = None;
        let seen = self.held.iter().map(|(_, d)| *d).max().unwrap_or(0);
        self.depth = self.depth.max(seen).min(MAX_REORDER);
        let mut sorted: Vec<i64> = self.held.iter().map(|(f, _)| f.pts.0).collect();
        sorted.sort_unstable();
        if let Some(step) = sorted
            .windows(2)
            .map(|w| w[1] - w[0])
            .filter(|&d| d > 0)
            .min()
        {
            self.spacing = step;
        }
        for (i, (frame, _)) in std::mem::take(&mut self.held).into_iter().enumerate() {
            let candidate = match i.checked_sub(self.depth) {
                Some(k) => sorted[k],
                None => sorted[0] - (self.depth - i) as i64 * self.spacing,
            };
            self.remember(frame.pts.0);
            out.push(self.give(frame, candidate));
        }
    }

    /// Notes the end of a GOP (a key frame arrives) and logs a switch between B-frame and plain GOPs.
    fn end_gop(&mut self) {
        if self.recent.is_empty() {
            return;
        }
        let depth = std::mem::take(&mut self.gop_depth);
        if let Some(before) = self.last_gop_depth.replace(depth)
            && (before == 0) != (depth == 0)
        {
            self.switches += 1;
            if self.switches.is_power_of_two() {
                info!(
                    stream = %self.name,
                    reorder_depth = depth,
                    switches = self.switches,
                    "{}",
                    if depth > 0 {
                        "the camera switched to GOPs with B-frames"
                    } else {
                        "the camera switched to GOPs without B-frames"
                    }
                );
            }
        }
    }

    /// Keeps `pts` among the largest presentation times seen.
    fn remember(&mut self, pts: i64) {
        let at = self.top.partition_point(|&p| p <= pts);
        self.top.insert(at, pts);
        if self.top.len() > MAX_REORDER + 1 {
            self.top.remove(0);
        }
    }

    /// Gives `frame` its decode time: the (depth+1)-th largest presentation time so far, extrapolated
    /// back by the spacing for the first frames.
    fn assign(&mut self, frame: EncodedFrame) -> EncodedFrame {
        self.remember(frame.pts.0);
        let n = self.top.len();
        let candidate = if n > self.depth {
            self.top[n - 1 - self.depth]
        } else {
            self.top[0] - (self.depth + 1 - n) as i64 * self.spacing
        };
        self.give(frame, candidate)
    }

    /// Sets `frame`'s composition offset for decode time `candidate`, or one tick after the previous
    /// decode time when that is not later.
    fn give(&mut self, mut frame: EncodedFrame, candidate: i64) -> EncodedFrame {
        let pts = frame.pts.0;
        let dts = match self.last_dts {
            Some(last) if candidate <= last => last + 1,
            _ => candidate,
        };
        self.last_dts = Some(dts);
        frame.composition_offset =
            i32::try_from(pts - dts).unwrap_or(if pts > dts { i32::MAX } else { i32::MIN });
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use vigil_core::{VideoCodec, VideoParams};

    /// One frame at 10 fps (9000 ticks): `slot` is its place in presentation order.
    fn frame(slot: i64, is_key: bool) -> EncodedFrame {
        EncodedFrame {
            params: Arc::new(VideoParams {
                codec: VideoCodec::H264,
                width: 16,
                height: 16,
                rfc6381_codec: "avc1.640016".into(),
                sample_entry: Vec::new(),
            }),
            pts: Time90k(1_000_000 + slot * 9000),
            composition_offset: 0,
            received_unix_micros: 0,
            is_key,
            data: Default::default(),
        }
    }

    /// x264's default GOP shape: 3 B-frames with a pyramid (reorder depth 2), in decode order, as slots.
    fn pyramid(gops: usize, gop: i64) -> Vec<(i64, bool)> {
        let mut out = Vec::new();
        for g in 0..gops as i64 {
            let base = g * gop;
            out.push((base, true));
            let mut p = base;
            while p + 4 < base + gop {
                out.extend([
                    (p + 4, false),
                    (p + 2, false),
                    (p + 1, false),
                    (p + 3, false),
                ]);
                p += 4;
            }
            for s in p + 1..base + gop {
                out.push((s, false));
            }
        }
        out
    }

    fn run(dt: &mut DecodeTimes, slots: &[(i64, bool)]) -> Vec<EncodedFrame> {
        let now = Instant::now();
        let mut out = Vec::new();
        for &(slot, key) in slots {
            dt.push(frame(slot, key), now, &mut out);
        }
        dt.flush(&mut out);
        out
    }

    /// Decode times are the presentation slots from `first` on, one frame apart, none after its frame's
    /// presentation time.
    fn assert_decode_slots(out: &[EncodedFrame], first: i64) {
        for (i, f) in out.iter().enumerate() {
            assert_eq!(
                f.dts().0,
                1_000_000 + (first + i as i64) * 9000,
                "frame {i}"
            );
            assert!(f.composition_offset >= 0, "frame {i}");
        }
    }

    /// Every frame came out once, in decode order, with its presentation time untouched; decode times
    /// strictly increase.
    fn check_common(input: &[(i64, bool)], out: &[EncodedFrame]) {
        assert_eq!(out.len(), input.len());
        for (f, &(slot, key)) in out.iter().zip(input) {
            assert_eq!(f.pts.0, 1_000_000 + slot * 9000);
            assert_eq!(f.is_key, key);
        }
        for w in out.windows(2) {
            assert!(
                w[1].dts() > w[0].dts(),
                "{:?} -> {:?}",
                w[0].dts(),
                w[1].dts()
            );
        }
    }

    #[test]
    fn declared_pyramid_b_frames_get_frame_spaced_decode_times_and_offsets() {
        let input = pyramid(3, 24);
        let mut dt = DecodeTimes::new("t");
        dt.reset(Some(2), Instant::now());
        let out = run(&mut dt, &input);
        check_common(&input, &out);
        // Decode times are the presentation slots delayed by two frames: one frame apart throughout.
        assert_decode_slots(&out, -2);
        assert_eq!(dt.depth(), 2);
        assert_eq!((dt.late(), dt.switches()), (0, 0));
        assert_eq!(dt.gop_depth(), Some(2));
    }

    #[test]
    fn undeclared_depth_is_learnt_from_the_first_frames_which_are_held_until_then() {
        // One B-frame run of three (reorder depth 1), as in Intel's one-by-one footage: I P B B B P B B B.
        let mut input = vec![(0, true)];
        for p in (4..40).step_by(4) {
            input.extend([(p, false), (p - 3, false), (p - 2, false), (p - 1, false)]);
        }
        let mut dt = DecodeTimes::new("t");
        let now = Instant::now();
        dt.reset(None, now);
        let mut out = Vec::new();
        for (i, &(slot, key)) in input.iter().enumerate() {
            dt.push(frame(slot, key), now, &mut out);
            let expected = if i + 1 < LEARN_FRAMES { 0 } else { i + 1 };
            assert_eq!(out.len(), expected, "after frame {i}");
        }
        dt.flush(&mut out);
        check_common(&input, &out);
        assert_decode_slots(&out, -1);
        assert_eq!(dt.depth(), 1);
        assert_eq!(dt.late(), 0);
    }

    #[test]
    fn a_second_key_frame_ends_the_learning_window() {
        let input = [(0, true), (1, false), (2, false), (3, true), (4, false)];
        let mut dt = DecodeTimes::new("t");
        let now = Instant::now();
        dt.reset(None, now);
        let mut out = Vec::new();
        for &(slot, key) in &input[..3] {
            dt.push(frame(slot, key), now, &mut out);
        }
        assert!(out.is_empty());
        dt.push(frame(3, true), now, &mut out);
        assert_eq!(out.len(), 4);
        dt.push(frame(4, false), now, &mut out);
        assert_eq!(out.len(), 5);
        check_common(&input, &out);
        assert!(out.iter().all(|f| f.composition_offset == 0));
    }

    #[test]
    fn a_stretch_starting_mid_gop_gets_decode_times_behind_every_frame() {
        // After a jump the next frames may start mid-GOP: a P-frame, then the B-frames shown before it.
        let input = [
            (8, false),
            (6, false),
            (5, false),
            (7, false),
            (12, true),
            (10, false),
            (9, false),
            (11, false),
        ];
        let mut dt = DecodeTimes::new("t");
        dt.reset(Some(2), Instant::now());
        let out = run(&mut dt, &input);
        check_common(&input, &out);
        assert_decode_slots(&out, 3);
    }

    #[test]
    fn learning_ends_after_its_time_limit_for_slow_cameras() {
        let mut dt = DecodeTimes::new("t");
        let start = Instant::now();
        dt.reset(None, start);
        let mut out = Vec::new();
        dt.push(frame(0, true), start, &mut out);
        assert!(out.is_empty());
        dt.push(frame(1, false), start + LEARN_TIME, &mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn declared_zero_passes_frames_through_with_no_offset() {
        let input: Vec<(i64, bool)> = (0..30).map(|i| (i, i % 10 == 0)).collect();
        let mut dt = DecodeTimes::new("t");
        let now = Instant::now();
        dt.reset(Some(0), now);
        let mut out = Vec::new();
        for &(slot, key) in &input {
            dt.push(frame(slot, key), now, &mut out);
            assert_eq!(out.last().map(|f| f.pts.0), Some(1_000_000 + slot * 9000));
        }
        check_common(&input, &out);
        assert!(out.iter().all(|f| f.composition_offset == 0));
    }

    #[test]
    fn switching_between_b_frame_and_plain_gops_keeps_the_timeline_when_declared() {
        // GOPs of 12: plain, pyramid, plain, pyramid (the same SPS declares depth 2 throughout).
        let mut input = Vec::new();
        for g in 0..4i64 {
            let gop: Vec<(i64, bool)> = if g % 2 == 0 {
                (0..12).map(|s| (g * 12 + s, s == 0)).collect()
            } else {
                pyramid(1, 12)
                    .iter()
                    .map(|&(s, k)| (g * 12 + s, k))
                    .collect()
            };
            input.extend(gop);
        }
        let mut dt = DecodeTimes::new("t");
        dt.reset(Some(2), Instant::now());
        let out = run(&mut dt, &input);
        check_common(&input, &out);
        assert_decode_slots(&out, -2);
        assert_eq!(dt.late(), 0);
        // plain -> B -> plain -> B: a switch is seen when a key frame ends a GOP, so those ending GOPs 2
        // and 3 count (the last GOP has no key frame after it).
        assert_eq!(dt.switches(), 2);
    }

    #[test]
    fn undeclared_b_frames_after_plain_gops_crawl_then_settle() {
        // Two plain GOPs (learnt depth 0), then pyramid GOPs the camera never declared.
        let mut input: Vec<(i64, bool)> = (0..24).map(|s| (s, s % 12 == 0)).collect();
        input.extend(pyramid(3, 12).iter().map(|&(s, k)| (24 + s, k)));
        let mut dt = DecodeTimes::new("t");
        dt.reset(None, Instant::now());
        let out = run(&mut dt, &input);
        check_common(&input, &out);
        assert_eq!(dt.depth(), 2);
        assert!(dt.late() >= 1);
        // Within a GOP of the change decode times are one frame apart again, behind presentation.
        let settled = &out[24 + 12..];
        for w in settled.windows(2) {
            assert_eq!(w[1].dts().0 - w[0].dts().0, 9000);
        }
        assert!(settled.iter().all(|f| f.composition_offset >= 0));
    }

    #[test]
    fn a_clock_stepping_back_further_than_any_reordering_is_a_jump() {
        let mut dt = DecodeTimes::new("t");
        let now = Instant::now();
        dt.reset(Some(0), now);
        let mut out = Vec::new();
        for s in 0..40 {
            dt.push(frame(s, s == 0), now, &mut out);
        }
        // Back by 20 frames (2 s at 10 fps would also trip the time check; this is frames).
        assert_eq!(
            dt.beyond_reorder(frame(19, false).pts),
            Some(frame(39, false).pts)
        );
        // A B-frame's step back is not.
        assert_eq!(dt.beyond_reorder(frame(37, false).pts), None);
    }
}
