//! Time phrases in a query, in the site's local time: days (`today`, `yesterday`, `last night`, `this
//! morning`, `monday`, `2026-12-01`), clock times and ranges (`15:00-17:00`, `between 3pm and 5pm`,
//! `after 22:00`, `at 14:30`), and spans back from now (`last 2 hours`, `past week`).

use crate::error::QueryError;
use crate::query::Tok;
use vigil_core::time::days_from_civil;
use vigil_rules::tz::TimeZone;

const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// A time range, unix ms, `from <= t < to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Range {
    /// Start (unix ms).
    pub from_ms: i64,
    /// End (unix ms, exclusive).
    pub to_ms: i64,
}

/// Which part of a day a phrase names, in seconds from local midnight (the end may pass midnight).
#[derive(Debug, Clone, Copy)]
struct DayPart(i64, i64);

/// A clock time in seconds from midnight.
fn clock(word: &str) -> Option<i64> {
    let w = word.trim_end_matches('h');
    let (body, add) = if let Some(b) = w.strip_suffix("am") {
        (b, Some(0))
    } else if let Some(b) = w.strip_suffix("pm") {
        (b, Some(12))
    } else {
        (w, None)
    };
    let (h, m) = match body.split_once(':') {
        Some((h, m)) => (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?),
        None if add.is_some() || word.ends_with('h') => (body.parse::<i64>().ok()?, 0),
        None => return None,
    };
    if !(0..60).contains(&m) {
        return None;
    }
    let h = match add {
        Some(_) if !(1..=12).contains(&h) => return None,
        Some(0) if h == 12 => 0,
        Some(12) if h == 12 => 12,
        Some(a) => h + a,
        None if (0..=24).contains(&h) => h,
        None => return None,
    };
    Some(h * HOUR + m * 60)
}

/// A bare hour after a word that announces a time (`at 3`, `after 17`).
fn clock_after_keyword(word: &str) -> Option<i64> {
    clock(word).or_else(|| {
        let h: i64 = word.parse().ok()?;
        (0..=24).contains(&h).then_some(h * HOUR)
    })
}

/// `15:00-17:00`, `3pm-5pm`.
fn clock_range(word: &str) -> Option<(i64, i64)> {
    let (a, b) = word.split_once('-')?;
    Some((clock(a)?, clock(b)?))
}

fn weekday(word: &str) -> Option<i64> {
    let days = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    days.iter()
        .position(|d| *d == word || (word.len() >= 3 && d.starts_with(word) && word != "sun"))
        .map(|i| i as i64)
}

fn unit_seconds(word: &str) -> Option<i64> {
    match word {
        "second" | "seconds" | "sec" | "secs" | "s" => Some(1),
        "minute" | "minutes" | "min" | "mins" | "m" => Some(60),
        "hour" | "hours" | "h" | "hr" | "hrs" => Some(HOUR),
        "day" | "days" | "d" => Some(DAY),
        "week" | "weeks" | "w" => Some(7 * DAY),
        _ => None,
    }
}

fn day_part(word: &str) -> Option<DayPart> {
    match word {
        "morning" => Some(DayPart(6 * HOUR, 12 * HOUR)),
        "afternoon" => Some(DayPart(12 * HOUR, 18 * HOUR)),
        "evening" => Some(DayPart(18 * HOUR, 24 * HOUR)),
        "night" => Some(DayPart(18 * HOUR, 30 * HOUR)),
        _ => None,
    }
}

/// `2026-12-01` as a local day number.
fn iso_date(word: &str) -> Result<Option<i64>, QueryError> {
    let parts: Vec<&str> = word.split('-').collect();
    if parts.len() != 3
        || parts[0].len() != 4
        || !word.chars().all(|c| c.is_ascii_digit() || c == '-')
    {
        return Ok(None);
    }
    let bad = || QueryError::BadTime(format!("{word} is not a date"));
    let y: i32 = parts[0].parse().map_err(|_| bad())?;
    let m: u8 = parts[1].parse().map_err(|_| bad())?;
    let d: u8 = parts[2].parse().map_err(|_| bad())?;
    let days_in = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if d == 0 || d > days_in {
        return Err(bad());
    }
    Ok(Some(days_from_civil(y, m, d)))
}

/// Finds the time phrases among `toks` (marking the words used) and returns the range they name, or
/// `None` when the query names no time.
pub(crate) fn parse(
    toks: &mut [Tok],
    now_ms: i64,
    tz: &TimeZone,
) -> Result<Option<Range>, QueryError> {
    let today = tz.local(now_ms).day_number;
    let at = |day: i64, secs: i64| tz.unix_ms_of_local(day, secs);
    let mut day: Option<i64> = None;
    let mut part: Option<DayPart> = None;
    let mut clocks: Option<(i64, i64)> = None;
    let mut span: Option<Range> = None;
    let n = toks.len();
    let mut i = 0;
    while i < n {
        if toks[i].used {
            i += 1;
            continue;
        }
        let w = toks[i].text.clone();
        let peek: [Option<String>; 4] =
            [0, 1, 2, 3].map(|k| toks.get(i + k).filter(|t| !t.used).map(|t| t.text.clone()));
        let next = |k: usize| peek[k].clone();
        let take = |count: usize, toks: &mut [Tok]| {
            for t in toks.iter_mut().skip(i).take(count) {
                t.used = true;
            }
        };
        match w.as_str() {
            "today" => {
                day = Some(today);
                take(1, toks);
            }
            "yesterday" => {
                day = Some(today - 1);
                take(1, toks);
            }
            "tonight" | "overnight" => {
                day = Some(if w == "overnight" { today - 1 } else { today });
                part = day_part("night");
                take(1, toks);
            }
            "this" if next(1).and_then(|x| day_part(&x)).is_some() => {
                day = Some(today);
                part = next(1).and_then(|x| day_part(&x));
                take(2, toks);
            }
            "this" if next(1).as_deref() == Some("week") => {
                let wd = tz.local(now_ms).weekday as i64;
                span = Some(Range {
                    from_ms: at(today - wd, 0),
                    to_ms: now_ms,
                });
                take(2, toks);
            }
            "last" | "past" => {
                if next(1).as_deref() == Some("night") {
                    day = Some(today - 1);
                    part = day_part("night");
                    take(2, toks);
                } else if let Some(u) = next(1).and_then(|x| unit_seconds(&x)) {
                    span = Some(Range {
                        from_ms: now_ms - u * 1000,
                        to_ms: now_ms,
                    });
                    take(2, toks);
                } else if let (Some(k), Some(u)) = (
                    next(1).and_then(|x| x.parse::<i64>().ok()),
                    next(2).and_then(|x| unit_seconds(&x)),
                ) {
                    if k <= 0 || k > 3650 {
                        return Err(QueryError::BadTime(format!("{w} {k}: not a sensible span")));
                    }
                    span = Some(Range {
                        from_ms: now_ms - k.saturating_mul(u) * 1000,
                        to_ms: now_ms,
                    });
                    take(3, toks);
                }
            }
            "between" | "from" => {
                let a = next(1).and_then(|x| clock_after_keyword(&x));
                let joiner = next(2);
                let b = next(3).and_then(|x| clock_after_keyword(&x));
                if let (Some(a), Some("and" | "to" | "until" | "till"), Some(b)) =
                    (a, joiner.as_deref(), b)
                {
                    clocks = Some((a, b));
                    take(4, toks);
                } else if let Some((a, b)) = next(1).and_then(|x| clock_range(&x)) {
                    clocks = Some((a, b));
                    take(2, toks);
                }
            }
            "after" | "since" => {
                if let Some(a) = next(1).and_then(|x| clock_after_keyword(&x)) {
                    clocks = Some((a, 24 * HOUR));
                    take(2, toks);
                }
            }
            "before" | "until" | "till" => {
                if let Some(b) = next(1).and_then(|x| clock_after_keyword(&x)) {
                    clocks = Some((0, b));
                    take(2, toks);
                }
            }
            "at" | "around" => {
                if let Some(a) = next(1).and_then(|x| clock_after_keyword(&x)) {
                    clocks = Some((a - 1800, a + 1800));
                    take(2, toks);
                }
            }
            "on" => {
                // "on monday", "on 2026-12-01": the next word is read on its own below.
            }
            _ => {
                if let Some((a, b)) = clock_range(&w) {
                    clocks = Some((a, b));
                    take(1, toks);
                } else if let Some(d) = iso_date(&w)? {
                    day = Some(d);
                    take(1, toks);
                } else if let Some(wd) = weekday(&w) {
                    let this = tz.local(now_ms).weekday as i64;
                    day = Some(today - (this - wd).rem_euclid(7));
                    take(1, toks);
                    if let Some(p) = next(1).and_then(|x| day_part(&x)) {
                        part = Some(p);
                        take(2, toks);
                    }
                } else if let Some(c) = clock(&w) {
                    clocks = Some((c - 1800, c + 1800));
                    take(1, toks);
                } else if let Some(p) = day_part(&w)
                    && i > 0
                    && matches!(toks[i - 1].text.as_str(), "yesterday" | "today")
                {
                    part = Some(p);
                    take(1, toks);
                }
            }
        }
        i += 1;
    }
    if let Some(s) = span {
        if day.is_some() || clocks.is_some() {
            return Err(QueryError::BadTime(
                "a span back from now (\"last 2 hours\") cannot be combined with a day or clock time"
                    .into(),
            ));
        }
        return Ok(Some(s));
    }
    let (lo, hi) = match (clocks, part) {
        (Some((a, b)), _) => (a, if b <= a { b + DAY } else { b }),
        (None, Some(DayPart(a, b))) => (a, b),
        (None, None) => (0, DAY),
    };
    if day.is_none() && clocks.is_none() && part.is_none() {
        return Ok(None);
    }
    let d = match day {
        Some(d) => d,
        // A clock range without a day: today's, or yesterday's when today's has not begun.
        None if at(today, lo) > now_ms => today - 1,
        None => today,
    };
    let range = Range {
        from_ms: at(d, lo.max(-DAY)),
        to_ms: at(d, hi.min(2 * DAY)),
    };
    if range.from_ms > now_ms {
        return Err(QueryError::BadTime(
            "that time is in the future: nothing has happened yet".into(),
        ));
    }
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::tokenize;

    /// 2026-12-07 14:00 UTC, a Monday.
    const NOW: i64 = 1_796_652_000_000;

    fn range(q: &str) -> Result<Option<Range>, QueryError> {
        let mut toks = tokenize(q);
        parse(&mut toks, NOW, &TimeZone::utc())
    }

    fn ms(y: i32, m: u8, d: u8, h: i64, mi: i64) -> i64 {
        (days_from_civil(y, m, d) * DAY + h * HOUR + mi * 60) * 1000
    }

    #[test]
    fn days_parts_of_days_and_clock_ranges() {
        assert_eq!(NOW, ms(2026, 12, 7, 14, 0));
        let r = |q| range(q).unwrap().unwrap();
        assert_eq!(r("yesterday").from_ms, ms(2026, 12, 6, 0, 0));
        assert_eq!(r("yesterday").to_ms, ms(2026, 12, 7, 0, 0));
        let night = r("red car at the gate last night");
        assert_eq!(
            (night.from_ms, night.to_ms),
            (ms(2026, 12, 6, 18, 0), ms(2026, 12, 7, 6, 0))
        );
        let y = r("person in black near the table yesterday 15:00-17:00");
        assert_eq!(
            (y.from_ms, y.to_ms),
            (ms(2026, 12, 6, 15, 0), ms(2026, 12, 6, 17, 0))
        );
        let b = r("between 3pm and 5pm on 2026-12-01");
        assert_eq!(
            (b.from_ms, b.to_ms),
            (ms(2026, 12, 1, 15, 0), ms(2026, 12, 1, 17, 0))
        );
        assert_eq!(r("this morning").from_ms, ms(2026, 12, 7, 6, 0));
        assert_eq!(r("last 2 hours").from_ms, ms(2026, 12, 7, 12, 0));
        assert_eq!(r("past week").from_ms, ms(2026, 11, 30, 14, 0));
        // Last Friday; and today's 15:00-17:00 has not begun, so it is yesterday's.
        assert_eq!(r("friday").from_ms, ms(2026, 12, 4, 0, 0));
        assert_eq!(r("15:00-17:00").from_ms, ms(2026, 12, 6, 15, 0));
        assert_eq!(r("22:00-02:00 yesterday").to_ms, ms(2026, 12, 7, 2, 0));
        assert_eq!(r("after 9am").from_ms, ms(2026, 12, 7, 9, 0));
        assert!(range("red car").unwrap().is_none());
    }

    #[test]
    fn impossible_times_are_refused_with_the_reason() {
        assert!(matches!(
            range("on 2026-02-30"),
            Err(QueryError::BadTime(_))
        ));
        let e = range("tomorrow 2026-12-09").unwrap_err().to_string();
        assert!(e.contains("future"), "{e}");
        assert!(range("last 2 hours yesterday").is_err());
        assert!(range("last 99999 days").is_err());
    }
}
