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

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = y as i64 - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month, day) of a day number (days since 1970-01-01).
pub fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

/// The ISO 8601 week of a day number (days since 1970-01-01) as `2026-W49`: weeks start on Monday and
/// week 1 holds the year's first Thursday.
pub fn iso_week_text(day: i64) -> String {
    // 1970-01-01 was a Thursday; Monday = 0.
    let weekday = (day + 3).rem_euclid(7);
    let thursday = day - weekday + 3;
    let (year, _, _) = civil_from_days(thursday);
    let week = (thursday - days_from_civil(year, 1, 1)) / 7 + 1;
    format!("{year}-W{week:02}")
}

/// The calendar fields of a unix-ms time in UTC: (year, month, day, hour, minute, second, ms).
fn utc_fields(unix_ms: i64) -> (i32, u8, u8, i64, i64, i64, i64) {
    let secs = unix_ms.div_euclid(1000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    (
        y,
        mo,
        d,
        s / 3600,
        s / 60 % 60,
        s % 60,
        unix_ms.rem_euclid(1000),
    )
}

/// A unix-ms time as RFC 3339 in UTC, for messages and logs people read: `2026-12-07T05:15:18Z`, with
/// milliseconds when there are any (`2026-12-07T05:15:18.250Z`). One format everywhere the server
/// writes a time into text (errors, audit details); the UI shows times in the browser's zone.
pub fn utc_text(unix_ms: i64) -> String {
    let (y, mo, d, h, mi, s, ms) = utc_fields(unix_ms);
    if ms == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    }
}

/// A unix-ms time in UTC for file names (no colons, which some systems refuse): `20261207T051518Z`.
pub fn utc_file_stamp(unix_ms: i64) -> String {
    let (y, mo, d, h, mi, s, _) = utc_fields(unix_ms);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_weeks_start_on_monday_and_cross_years() {
        assert_eq!(iso_week_text(days_from_civil(2026, 12, 7)), "2026-W50");
        assert_eq!(iso_week_text(days_from_civil(2026, 12, 6)), "2026-W49");
        // 2021-01-03 (a Sunday) still belongs to 2020's week 53; 2024-12-30 to 2025's week 1.
        assert_eq!(iso_week_text(days_from_civil(2021, 1, 3)), "2020-W53");
        assert_eq!(iso_week_text(days_from_civil(2024, 12, 30)), "2025-W01");
        assert_eq!(iso_week_text(0), "1970-W01");
    }

    #[test]
    fn utc_texts_read_as_calendar_times() {
        assert_eq!(utc_text(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_text(1_796_546_186_000), "2026-12-06T08:36:26Z");
        assert_eq!(utc_text(1_796_546_186_250), "2026-12-06T08:36:26.250Z");
        assert_eq!(utc_text(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(utc_file_stamp(1_796_546_186_250), "20261206T083626Z");
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

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
