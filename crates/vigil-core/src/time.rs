//! Media time in 90 kHz ticks (the RTP / MPEG clock), as used throughout recording and analysis.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Ticks per second of the 90 kHz media clock.
pub const TICKS_PER_SECOND: i64 = 90_000;

/// A time or duration on the 90 kHz media clock.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Time90k(pub i64);

impl Time90k {
    /// From seconds (rounded to the nearest tick).
    pub fn from_secs_f64(secs: f64) -> Self {
        Self((secs * TICKS_PER_SECOND as f64).round() as i64)
    }

    /// In seconds.
    pub fn as_secs_f64(&self) -> f64 {
        self.0 as f64 / TICKS_PER_SECOND as f64
    }

    /// From a rational time base: `value * num / den` seconds, rounded to the nearest tick without overflow
    /// for any realistic stream time base.
    pub fn from_rational(value: i64, num: i32, den: i32) -> Self {
        if den == 0 {
            return Self(0);
        }
        let v = value as i128 * num as i128 * TICKS_PER_SECOND as i128;
        let d = den as i128;
        let rounded = if (v >= 0) == (d > 0) {
            (v + d / 2) / d
        } else {
            (v - d / 2) / d
        };
        Self(rounded.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
    }

    /// As a [`Duration`] (negative times become zero).
    pub fn to_duration(&self) -> Duration {
        Duration::from_nanos(
            (self.0.max(0) as u128 * 1_000_000_000 / TICKS_PER_SECOND as u128) as u64,
        )
    }
}

/// The wall clock now, in milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rational_conversion_rounds() {
        // 1 frame at 1/15 s = 6000 ticks
        assert_eq!(Time90k::from_rational(1, 1, 15), Time90k(6000));
        // MP4 time base 1/12800: 512 units = 0.04 s = 3600 ticks
        assert_eq!(Time90k::from_rational(512, 1, 12800), Time90k(3600));
        assert_eq!(Time90k::from_rational(-512, 1, 12800), Time90k(-3600));
        assert_eq!(Time90k::from_rational(5, 1, 0), Time90k(0));
    }

    #[test]
    fn seconds_round_trip() {
        assert_eq!(Time90k::from_secs_f64(1.5).as_secs_f64(), 1.5);
        assert_eq!(Time90k(45_000).to_duration(), Duration::from_millis(500));
    }
}
