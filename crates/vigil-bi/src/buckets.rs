//! Time buckets in the site's local time: hours, days and weeks (Monday first), correct across daylight
//! saving time switches (a spring-forward day has 23 hourly buckets, a fall-back day 25).

use crate::BiError;
use serde::{Deserialize, Serialize};
use vigil_rules::TimeZone;

/// How long one bucket of a series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// A local clock hour.
    Hour,
    /// A local calendar day (midnight to midnight: 23, 24 or 25 hours).
    Day,
    /// A local week from Monday midnight.
    Week,
}

impl Bucket {
    /// Reads `hour`, `day` or `week`.
    pub fn parse(text: &str) -> Result<Bucket, BiError> {
        match text {
            "hour" => Ok(Bucket::Hour),
            "day" => Ok(Bucket::Day),
            "week" => Ok(Bucket::Week),
            other => Err(BiError::BadQuery(format!(
                "bucket {other:?}: expected hour, day or week"
            ))),
        }
    }

    /// `hour`, `day` or `week`.
    pub fn name(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
            Bucket::Week => "week",
        }
    }

    /// A bucket that keeps a series of `span_ms` readable: hours up to two days, days up to ten weeks.
    pub fn for_span(span_ms: i64) -> Bucket {
        if span_ms <= 2 * 86_400_000 {
            Bucket::Hour
        } else if span_ms <= 70 * 86_400_000 {
            Bucket::Day
        } else {
            Bucket::Week
        }
    }
}

/// Most buckets one series may have.
pub const MAX_BUCKETS: usize = 5000;

/// The start (unix ms) of the bucket holding `t`.
fn floor(tz: &TimeZone, t: i64, bucket: Bucket) -> i64 {
    let l = tz.local(t);
    match bucket {
        Bucket::Hour => {
            // the local hour began minute*60+second seconds ago (offsets are whole minutes)
            let into = (l.minute as i64 * 60 + l.second as i64) * 1000 + t.rem_euclid(1000);
            t - into
        }
        Bucket::Day => tz.unix_ms_of_local(l.day_number, 0),
        Bucket::Week => tz.unix_ms_of_local(l.day_number - l.weekday as i64, 0),
    }
}

/// The start of the bucket after the one starting at `start`.
fn next(tz: &TimeZone, start: i64, bucket: Bucket) -> i64 {
    match bucket {
        Bucket::Hour => start + 3_600_000,
        Bucket::Day => tz.unix_ms_of_local(tz.local(start).day_number + 1, 0),
        Bucket::Week => tz.unix_ms_of_local(tz.local(start).day_number + 7, 0),
    }
}

/// The buckets covering `[from_ms, to_ms)`: their starts, with one more at the end (the last one's
/// end), so bucket `i` is `edges[i]..edges[i + 1]`. The first starts at or before `from_ms`.
pub fn edges(tz: &TimeZone, from_ms: i64, to_ms: i64, bucket: Bucket) -> Result<Vec<i64>, BiError> {
    if to_ms <= from_ms {
        return Err(BiError::BadQuery(format!(
            "the range is empty: from {from_ms} is not before to {to_ms}"
        )));
    }
    let mut out = vec![floor(tz, from_ms, bucket)];
    loop {
        let last = out[out.len() - 1];
        if last >= to_ms {
            break;
        }
        if out.len() > MAX_BUCKETS {
            return Err(BiError::BadQuery(format!(
                "more than {MAX_BUCKETS} {} buckets; use a larger bucket or a shorter range",
                bucket.name()
            )));
        }
        let n = next(tz, last, bucket);
        // a zone rule must move time forward; guard against a zero step all the same
        out.push(if n > last { n } else { last + 3_600_000 });
    }
    Ok(out)
}

/// The index of the bucket of `edges` holding `t`, if any.
pub fn index_of(edges: &[i64], t: i64) -> Option<usize> {
    if edges.len() < 2 || t < edges[0] || t >= edges[edges.len() - 1] {
        return None;
    }
    Some(edges.partition_point(|&e| e <= t) - 1)
}

/// A bucket's label in local time: `2026-03-29 02:00` (hours), `2026-03-29` (days and weeks).
pub fn label(tz: &TimeZone, start: i64, bucket: Bucket) -> String {
    let l = tz.local(start);
    match bucket {
        Bucket::Hour => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            l.year, l.month, l.day, l.hour, l.minute
        ),
        Bucket::Day | Bucket::Week => format!("{:04}-{:02}-{:02}", l.year, l.month, l.day),
    }
}

/// Local date and time text of `t` (`2026-03-29 14:05`), for reports.
pub fn local_text(tz: &TimeZone, t: i64) -> String {
    label(tz, t, Bucket::Hour)
        .get(..11)
        .map(|d| {
            let l = tz.local(t);
            format!("{d}{:02}:{:02}", l.hour, l.minute)
        })
        .unwrap_or_default()
}

/// The latest report period due at `now` for a report made every day (or, `weekly`, every Monday) at
/// `at_seconds` after local midnight: `(from, to)` local midnights, the day (or Monday-to-Monday week)
/// before the day it is made.
pub fn due_period(tz: &TimeZone, now: i64, at_seconds: i64, weekly: bool) -> (i64, i64) {
    let today = tz.local(now);
    let (mut day, step) = if weekly {
        (today.day_number - today.weekday as i64, 7)
    } else {
        (today.day_number, 1)
    };
    if tz.unix_ms_of_local(day, at_seconds) > now {
        day -= step;
    }
    (
        tz.unix_ms_of_local(day - step, 0),
        tz.unix_ms_of_local(day, 0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> TimeZone {
        TimeZone::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap()
    }

    #[test]
    fn a_spring_forward_day_has_23_hours_and_a_fall_back_day_25() {
        let tz = berlin();
        // 2026-03-29 and 2026-10-25 are the switch days in Berlin
        let spring = tz.unix_ms_of_local(vigil_core::time::days_from_civil(2026, 3, 29), 0);
        let spring_end = next(&tz, spring, Bucket::Day);
        assert_eq!(spring_end - spring, 23 * 3_600_000);
        let e = edges(&tz, spring, spring_end, Bucket::Hour).unwrap();
        assert_eq!(e.len() - 1, 23);
        assert_eq!(label(&tz, e[2], Bucket::Hour), "2026-03-29 03:00");
        let fall = tz.unix_ms_of_local(vigil_core::time::days_from_civil(2026, 10, 25), 0);
        let fall_end = next(&tz, fall, Bucket::Day);
        let e = edges(&tz, fall, fall_end, Bucket::Hour).unwrap();
        assert_eq!(e.len() - 1, 25);
        assert_eq!(label(&tz, e[2], Bucket::Hour), "2026-10-25 02:00");
        assert_eq!(label(&tz, e[3], Bucket::Hour), "2026-10-25 02:00");
        let days = edges(&tz, spring, fall_end, Bucket::Day).unwrap();
        assert!(
            days.windows(2)
                .all(|w| label(&tz, w[0], Bucket::Hour).ends_with("00:00"))
        );
    }

    #[test]
    fn weeks_start_on_monday_and_half_hour_zones_bucket_on_their_hours() {
        let tz = berlin();
        // Wednesday 2026-12-09 12:00 local
        let wed = tz.unix_ms_of_local(vigil_core::time::days_from_civil(2026, 12, 9), 12 * 3600);
        let e = edges(&tz, wed, wed + 1, Bucket::Week).unwrap();
        assert_eq!(label(&tz, e[0], Bucket::Week), "2026-12-07");
        let india = TimeZone::parse("+05:30").unwrap();
        let e = edges(&india, 0, 3 * 3_600_000, Bucket::Hour).unwrap();
        assert_eq!(label(&india, e[0], Bucket::Hour), "1970-01-01 05:00");
        assert_eq!(index_of(&e, 0), Some(0));
        assert_eq!(index_of(&e, 30 * 60_000), Some(1));
    }

    #[test]
    fn reports_are_due_for_the_day_or_week_before_once_their_time_has_come() {
        let tz = berlin();
        let day = |y, m, d| vigil_core::time::days_from_civil(y, m, d);
        // Monday 2026-03-30 06:59 local: today's 07:00 report is not due yet, so the latest due is
        // Saturday's (made Sunday 07:00); from 07:00 it is Sunday's, a 23-hour day
        let t = tz.unix_ms_of_local(day(2026, 3, 30), 6 * 3600 + 59 * 60);
        let (from, to) = due_period(&tz, t, 7 * 3600, false);
        assert_eq!(label(&tz, from, Bucket::Day), "2026-03-28");
        assert_eq!(to - from, 24 * 3_600_000);
        let (from, to) = due_period(&tz, t + 60_000, 7 * 3600, false);
        assert_eq!(label(&tz, from, Bucket::Day), "2026-03-29");
        assert_eq!(to - from, 23 * 3_600_000);
        // weekly: made Mondays; at 07:01 on Monday 2026-03-30 the week of 03-23..03-30 is due
        let (from, to) = due_period(&tz, t + 120_000, 7 * 3600, true);
        assert_eq!(label(&tz, from, Bucket::Day), "2026-03-23");
        assert_eq!(label(&tz, to, Bucket::Day), "2026-03-30");
        // before it: the week before
        let (from, _) = due_period(&tz, t, 7 * 3600, true);
        assert_eq!(label(&tz, from, Bucket::Day), "2026-03-16");
    }

    #[test]
    fn an_empty_or_huge_range_is_refused_with_the_reason() {
        let tz = TimeZone::utc();
        let e = edges(&tz, 10, 10, Bucket::Hour).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let e = edges(&tz, 0, 10_000 * 3_600_000, Bucket::Hour).unwrap_err();
        assert!(e.to_string().contains("larger bucket"), "{e}");
        assert!(Bucket::parse("month").is_err());
    }
}
