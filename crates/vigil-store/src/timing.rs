//! Recorded time (invariants R9, R11 and R12 of docs/design/recording.md): frame durations come from the camera's 90 kHz clock — the deltas of its decode times,
//! which increase frame by frame even with B-frames (precise between frames, but the clock can jump and
//! drifts from real time); the wall-clock position of a run of segments is anchored on the
//! local receive time of its first frame and then slewed — never jumped — toward the local clock.

/// Converts local receive time (µs since the Unix epoch) to 90 kHz ticks.
pub(crate) fn micros_to_90k(us: i64) -> i64 {
    us.saturating_mul(9).div_euclid(100)
}

/// Turns camera decode times into frame durations, replacing impossible ones.
#[derive(Debug, Clone)]
pub(crate) struct DurationEstimator {
    /// Last good duration (the nominal frame duration); 0 until one is seen.
    nominal: u32,
    /// Largest plausible duration.
    max: i64,
}

/// Used when nothing better is known: 1/30 s.
const FALLBACK_DURATION: u32 = 3000;

impl DurationEstimator {
    pub(crate) fn new(max_frame_90k: i64) -> Self {
        Self {
            nominal: 0,
            max: max_frame_90k.max(1),
        }
    }

    /// Duration of a frame from its decode time and the next frame's. Returns `(duration, plausible)`: a
    /// zero, negative or over-long delta is replaced by the nominal duration (or the receive-time delta
    /// when no nominal is known yet) and reported as implausible.
    pub(crate) fn duration(&mut self, dts: i64, next_dts: i64, recv_delta_90k: i64) -> (u32, bool) {
        let d = next_dts.saturating_sub(dts);
        if d > 0 && d <= self.max {
            self.nominal = d as u32;
            return (d as u32, true);
        }
        (self.fallback(recv_delta_90k), false)
    }

    /// The duration to give the last frame of a run (whose successor never came).
    pub(crate) fn nominal(&self) -> u32 {
        if self.nominal > 0 {
            self.nominal
        } else {
            FALLBACK_DURATION
        }
    }

    fn fallback(&self, recv_delta_90k: i64) -> u32 {
        if self.nominal > 0 {
            self.nominal
        } else if recv_delta_90k > 0 && recv_delta_90k <= self.max {
            recv_delta_90k as u32
        } else {
            FALLBACK_DURATION
        }
    }
}

/// The outcome of slewing one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slew {
    /// Wall-clock duration to record.
    pub wall_duration: i64,
    /// Median disagreement (local receive time minus recorded time) over the segment's frames.
    pub error: i64,
    /// The disagreement is too large to slew away: the next segment starts a new run.
    pub resync: bool,
}

/// Computes a segment's wall duration: its media duration corrected by the median disagreement between
/// the local receive times and the recorded times of its frames, limited to `max_ppm` of the media
/// duration. `errors` is reordered.
pub(crate) fn slew(media: i64, errors: &mut [i64], max_ppm: u32, resync_90k: i64) -> Slew {
    if errors.is_empty() {
        return Slew {
            wall_duration: media,
            error: 0,
            resync: false,
        };
    }
    let mid = errors.len() / 2;
    let (_, &mut median, _) = errors.select_nth_unstable(mid);
    if median.abs() > resync_90k {
        return Slew {
            wall_duration: media,
            error: median,
            resync: true,
        };
    }
    let max = (media as i128 * i128::from(max_ppm) / 1_000_000) as i64;
    Slew {
        wall_duration: media + median.clamp(-max, max),
        error: median,
        resync: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implausible_deltas_fall_back_to_nominal() {
        let mut e = DurationEstimator::new(5 * 90_000);
        // before any good delta: receive-time delta, then the 30 fps fallback
        assert_eq!(e.duration(100, 100, 3600), (3600, false));
        assert_eq!(e.duration(100, 50, -5), (3000, false));
        assert_eq!(e.duration(0, 3600, 3590), (3600, true));
        assert_eq!(e.duration(3600, 3600 - 90_000, 3600), (3600, false)); // backwards
        assert_eq!(e.duration(0, 10 * 90_000, 3600), (3600, false)); // 10 s jump
        assert_eq!(e.duration(0, 7200, 7200), (7200, true));
        assert_eq!(e.nominal(), 7200);
        assert!(!e.duration(i64::MAX - 5, i64::MIN + 5, 0).1);
    }

    #[test]
    fn slew_is_bounded_and_follows_the_median() {
        // 60 s segment, local clock 30 ms ahead: fully corrected (limit at 1000 ppm is 60 ms)
        let media = 60 * 90_000;
        let mut errs = vec![2700; 1500];
        errs[0] = 900_000; // an outlier (a late burst) does not move the median
        let s = slew(media, &mut errs, 1000, 5 * 90_000);
        assert_eq!(
            s,
            Slew {
                wall_duration: media + 2700,
                error: 2700,
                resync: false
            }
        );
        // 1 s behind: corrected by at most 60 ms this segment
        let mut errs = vec![-90_000; 100];
        let s = slew(media, &mut errs, 1000, 5 * 90_000);
        assert_eq!(s.wall_duration, media - 5400);
        assert!(!s.resync);
        // 10 s off: a new run is anchored instead
        let mut errs = vec![900_000; 100];
        assert!(slew(media, &mut errs, 1000, 5 * 90_000).resync);
        assert_eq!(slew(media, &mut [], 1000, 1).wall_duration, media);
    }

    #[test]
    fn receive_time_conversion() {
        assert_eq!(micros_to_90k(1_000_000), 90_000);
        assert_eq!(micros_to_90k(1_700_000_000_000_000), 1_700_000_000 * 90_000);
    }
}
