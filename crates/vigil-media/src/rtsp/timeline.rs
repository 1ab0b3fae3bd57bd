//! Detects camera timestamps that jump or run backwards, so the recorder can cut there instead of writing
//! a segment with an impossible timeline.

use std::time::{Duration, Instant};
use vigil_core::Time90k;

/// Follows one session's frame timestamps.
#[derive(Debug)]
pub(crate) struct TimelineCheck {
    /// Forward jumps may exceed the wall-clock time that passed by this much before they count.
    forward_tolerance: i64,
    /// Backward steps up to this are frame reordering (B-frames arrive in decode order), not a jump.
    backward_tolerance: i64,
    last: Option<(Time90k, Instant)>,
}

impl TimelineCheck {
    pub(crate) fn new(forward_tolerance: Duration, backward_tolerance: Duration) -> Self {
        let ticks = |d: Duration| Time90k::from_secs_f64(d.as_secs_f64()).0;
        Self {
            forward_tolerance: ticks(forward_tolerance),
            backward_tolerance: ticks(backward_tolerance),
            last: None,
        }
    }

    /// Checks `pts` of a frame that arrived at `now`; returns the previous `pts` when the step from it is
    /// a discontinuity.
    ///
    /// Forward: the step is compared with the wall-clock time between the two arrivals, so a slow camera
    /// (one frame every 20 s) is fine and a clock that leaps an hour is not. Frames that arrive in a burst
    /// after the consumer held ingest up have small steps and small gaps, so they do not trigger either.
    pub(crate) fn check(&mut self, pts: Time90k, now: Instant) -> Option<Time90k> {
        let previous = self.last.replace((pts, now));
        let (last_pts, last_at) = previous?;
        let step = pts.0.saturating_sub(last_pts.0);
        let wall = Time90k::from_secs_f64(now.saturating_duration_since(last_at).as_secs_f64()).0;
        if step < -self.backward_tolerance || step > wall.saturating_add(self.forward_tolerance) {
            Some(last_pts)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> TimelineCheck {
        TimelineCheck::new(Duration::from_secs(5), Duration::from_secs(1))
    }

    #[test]
    fn steady_and_reordered_frames_are_continuous() {
        let mut t = check();
        let start = Instant::now();
        // 25 fps with B-frame reordering: decode order I P B B P B B ...
        let pts = [0, 10_800, 3_600, 7_200, 21_600, 14_400, 18_000];
        for (i, p) in pts.iter().enumerate() {
            let at = start + Duration::from_millis(40 * i as u64);
            assert_eq!(t.check(Time90k(*p), at), None, "frame {i}");
        }
    }

    #[test]
    fn slow_camera_is_continuous() {
        let mut t = check();
        let start = Instant::now();
        assert_eq!(t.check(Time90k(0), start), None);
        let later = start + Duration::from_secs(20);
        assert_eq!(t.check(Time90k(20 * 90_000), later), None);
    }

    #[test]
    fn forward_leap_and_backward_jump_are_discontinuities() {
        let mut t = check();
        let start = Instant::now();
        assert_eq!(t.check(Time90k(0), start), None);
        let at = start + Duration::from_millis(40);
        assert_eq!(t.check(Time90k(3600 * 90_000), at), Some(Time90k(0)));
        // Continuing from the new position is fine again.
        let at = at + Duration::from_millis(40);
        assert_eq!(t.check(Time90k(3600 * 90_000 + 3600), at), None);
        let at = at + Duration::from_millis(40);
        assert_eq!(
            t.check(Time90k(90_000), at),
            Some(Time90k(3600 * 90_000 + 3600))
        );
    }
}
