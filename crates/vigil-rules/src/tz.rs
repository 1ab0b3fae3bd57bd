//! Site-local time without a time zone database: UTC, a fixed offset, or a POSIX TZ rule with daylight
//! saving time (`"CET-1CEST,M3.5.0,M10.5.0/3"`), which is what `tail -1 /usr/share/zoneinfo/Europe/Berlin`
//! prints for any current zone.

use std::fmt;

/// A time zone: a standard offset and, optionally, daylight saving time rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZone {
    text: String,
    /// Standard offset from UTC in seconds, positive east of Greenwich (Berlin: +3600).
    std_offset: i32,
    dst: Option<Dst>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Dst {
    offset: i32,
    start: DateRule,
    start_time: i32,
    end: DateRule,
    end_time: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateRule {
    /// Month 1-12, week 1-5 (5 = last), weekday 0 = Sunday.
    MonthWeekDay(u8, u8, u8),
    /// Day 1-365, February 29 never counted.
    Julian1(u16),
    /// Day 0-365, February 29 counted in leap years.
    Julian0(u16),
}

/// A broken-down local date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalDateTime {
    /// Year, e.g. 2024.
    pub year: i32,
    /// Month 1-12.
    pub month: u8,
    /// Day of month 1-31.
    pub day: u8,
    /// Day of week, 0 = Monday .. 6 = Sunday.
    pub weekday: u8,
    /// Hour 0-23.
    pub hour: u8,
    /// Minute 0-59.
    pub minute: u8,
    /// Second 0-59.
    pub second: u8,
    /// Local day number (days since 1970-01-01 in local time), to compare calendar days.
    pub day_number: i64,
}

impl LocalDateTime {
    /// Seconds since local midnight.
    pub fn seconds_of_day(&self) -> u32 {
        self.hour as u32 * 3600 + self.minute as u32 * 60 + self.second as u32
    }
}

impl fmt::Display for LocalDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        Self::utc()
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl TimeZone {
    /// Coordinated Universal Time.
    pub fn utc() -> Self {
        Self {
            text: "UTC".into(),
            std_offset: 0,
            dst: None,
        }
    }

    /// A fixed offset from UTC in seconds, positive east of Greenwich.
    pub fn fixed(offset_seconds: i32) -> Self {
        let sign = if offset_seconds < 0 { '-' } else { '+' };
        let a = offset_seconds.unsigned_abs();
        Self {
            text: format!("{sign}{:02}:{:02}", a / 3600, a / 60 % 60),
            std_offset: offset_seconds,
            dst: None,
        }
    }

    /// Parses `"UTC"`, an ISO offset (`"+02:00"`, `"-0530"`, `"+2"`) or a POSIX TZ rule
    /// (`"EST5EDT,M3.2.0,M11.1.0"`). Note that POSIX offsets count hours *west*: `"UTC+2"` in POSIX would be
    /// two hours behind UTC, so that ambiguous form is refused in favour of `"+02:00"` / `"-02:00"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.is_empty()
            || ["UTC", "Z", "GMT", "UTC0", "GMT0"].contains(&t.to_ascii_uppercase().as_str())
        {
            return Ok(Self {
                text: if t.is_empty() { "UTC".into() } else { t.into() },
                ..Self::utc()
            });
        }
        if t.starts_with('+') || t.starts_with('-') {
            let secs = parse_iso_offset(t).ok_or_else(|| {
                format!("{t:?} is not an offset; write it like \"+02:00\" or \"-05:30\"")
            })?;
            return Ok(Self {
                text: t.into(),
                ..Self::fixed(secs)
            });
        }
        if t.contains('/') && !t.contains(',') {
            return Err(format!(
                "{t:?}: zone names need a time zone database; give the POSIX rule instead, the last line of \
                 `tail -1 /usr/share/zoneinfo/{t}` (e.g. \"CET-1CEST,M3.5.0,M10.5.0/3\" for Europe/Berlin)"
            ));
        }
        parse_posix(t).map_err(|e| {
            format!("{t:?}: {e} (expected \"UTC\", an offset like \"+02:00\", or a POSIX TZ rule like \"CET-1CEST,M3.5.0,M10.5.0/3\")")
        })
    }

    /// Offset from UTC in seconds (positive east) in force at `unix_ms`.
    pub fn offset_at(&self, unix_ms: i64) -> i32 {
        let Some(dst) = &self.dst else {
            return self.std_offset;
        };
        let t = unix_ms.div_euclid(1000);
        let (year, _, _) = civil_from_days((t + self.std_offset as i64).div_euclid(86_400));
        let start =
            rule_day(dst.start, year) * 86_400 + dst.start_time as i64 - self.std_offset as i64;
        let end = rule_day(dst.end, year) * 86_400 + dst.end_time as i64 - dst.offset as i64;
        let in_dst = if start < end {
            t >= start && t < end
        } else {
            // Southern hemisphere: summer time spans the new year.
            t >= start || t < end
        };
        if in_dst { dst.offset } else { self.std_offset }
    }

    /// The local date and time at `unix_ms`.
    pub fn local(&self, unix_ms: i64) -> LocalDateTime {
        let secs = unix_ms.div_euclid(1000) + self.offset_at(unix_ms) as i64;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        LocalDateTime {
            year,
            month,
            day,
            weekday: (days + 3).rem_euclid(7) as u8,
            hour: (sod / 3600) as u8,
            minute: (sod / 60 % 60) as u8,
            second: (sod % 60) as u8,
            day_number: days,
        }
    }
}

impl TimeZone {
    /// The unix ms of a local wall-clock time: `seconds_of_day` after the local midnight starting
    /// `day_number` (days since 1970-01-01 in local time; may exceed a day). A time skipped by a switch to
    /// summer time is taken with the offset before the switch (it lands after it); a time that occurs twice
    /// is its first occurrence.
    pub fn unix_ms_of_local(&self, day_number: i64, seconds_of_day: i64) -> i64 {
        let local = day_number * 86_400 + seconds_of_day;
        // The offset in force an offset's width before and after; the earlier reading wins when both fit.
        let before = self.offset_at((local - 86_400) * 1000) as i64;
        let after = self.offset_at((local + 86_400) * 1000) as i64;
        for off in [before.max(after), before.min(after)] {
            let t = local - off;
            if self.offset_at(t * 1000) as i64 == off {
                return t * 1000;
            }
        }
        (local - before) * 1000
    }

    /// The unix ms of the local midnight starting the local day of `unix_ms`.
    pub fn start_of_day(&self, unix_ms: i64) -> i64 {
        self.unix_ms_of_local(self.local(unix_ms).day_number, 0)
    }
}

fn parse_iso_offset(t: &str) -> Option<i32> {
    let sign = if t.starts_with('-') { -1 } else { 1 };
    let body = &t[1..];
    let (h, m) = if let Some((h, m)) = body.split_once(':') {
        (h, m)
    } else if body.len() == 4 {
        body.split_at(2)
    } else {
        (body, "0")
    };
    let h: i32 = h.parse().ok()?;
    let m: i32 = m.parse().ok()?;
    (h <= 14 && m < 60 && !body.is_empty()).then_some(sign * (h * 3600 + m * 60))
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let start = self.i;
        if self.eat(b'<') {
            while let Some(c) = self.peek() {
                self.i += 1;
                if c == b'>' {
                    return Ok(String::from_utf8_lossy(&self.s[start + 1..self.i - 1]).into());
                }
            }
            return Err("unterminated <name>".into());
        }
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.i += 1;
        }
        if self.i - start < 3 {
            return Err("a zone name needs at least 3 letters".into());
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into())
    }

    fn number(&mut self, max: i64) -> Result<i64, String> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let v: i64 = std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| format!("expected a number at position {}", start + 1))?;
        if v > max {
            return Err(format!("{v} is out of range (at most {max})"));
        }
        Ok(v)
    }

    /// `[+-]hh[:mm[:ss]]` in seconds.
    fn hms(&mut self, max_hours: i64) -> Result<i64, String> {
        let sign = if self.eat(b'-') {
            -1
        } else {
            self.eat(b'+');
            1
        };
        let mut v = self.number(max_hours)? * 3600;
        if self.eat(b':') {
            v += self.number(59)? * 60;
            if self.eat(b':') {
                v += self.number(59)?;
            }
        }
        Ok(sign * v)
    }

    fn date_rule(&mut self) -> Result<(DateRule, i32), String> {
        let rule = if self.eat(b'M') {
            let m = self.number(12)?;
            if !self.eat(b'.') {
                return Err("expected Mm.w.d".into());
            }
            let w = self.number(5)?;
            if !self.eat(b'.') {
                return Err("expected Mm.w.d".into());
            }
            let d = self.number(6)?;
            if m < 1 || w < 1 {
                return Err("month and week in Mm.w.d start at 1".into());
            }
            DateRule::MonthWeekDay(m as u8, w as u8, d as u8)
        } else if self.eat(b'J') {
            let n = self.number(365)?;
            if n < 1 {
                return Err("Jn days start at 1".into());
            }
            DateRule::Julian1(n as u16)
        } else {
            DateRule::Julian0(self.number(365)? as u16)
        };
        let time = if self.eat(b'/') { self.hms(167)? } else { 7200 };
        Ok((rule, time as i32))
    }
}

fn parse_posix(t: &str) -> Result<TimeZone, String> {
    let mut c = Cursor {
        s: t.as_bytes(),
        i: 0,
    };
    let std_name = c.name()?;
    if c.peek().is_none() {
        return Err(format!("{std_name} has no offset"));
    }
    let std_west = c.hms(24)?;
    let std_offset = -std_west as i32;
    let upper = std_name.to_ascii_uppercase();
    if (upper == "UTC" || upper == "GMT") && std_west != 0 && c.peek().is_none() {
        return Err(format!(
            "ambiguous: in POSIX rules {t} means {} hours {} UTC; write an offset like \"{}\" instead",
            std_west.abs() as f64 / 3600.0,
            if std_west > 0 { "behind" } else { "ahead of" },
            if std_west > 0 { "-HH:MM" } else { "+HH:MM" }
        ));
    }
    if c.peek().is_none() {
        return Ok(TimeZone {
            text: t.into(),
            std_offset,
            dst: None,
        });
    }
    let _dst_name = c.name()?;
    let dst_offset = match c.peek() {
        Some(b',') | None => std_offset + 3600,
        _ => -c.hms(24)? as i32,
    };
    if !c.eat(b',') {
        return Err("daylight saving time needs its rules: ,start[/time],end[/time]".into());
    }
    let (start, start_time) = c.date_rule()?;
    if !c.eat(b',') {
        return Err("expected ,end[/time] after the start rule".into());
    }
    let (end, end_time) = c.date_rule()?;
    if c.peek().is_some() {
        return Err(format!("unexpected text at position {}", c.i + 1));
    }
    Ok(TimeZone {
        text: t.into(),
        std_offset,
        dst: Some(Dst {
            offset: dst_offset,
            start,
            start_time,
            end,
            end_time,
        }),
    })
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u8) -> u8 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Day number (days since 1970-01-01) of a rule's date in `year`.
fn rule_day(rule: DateRule, year: i32) -> i64 {
    let jan1 = days_from_civil(year, 1, 1);
    match rule {
        DateRule::Julian0(n) => jan1 + n as i64,
        DateRule::Julian1(n) => jan1 + n as i64 - 1 + i64::from(is_leap(year) && n >= 60),
        DateRule::MonthWeekDay(m, w, d) => {
            let first = days_from_civil(year, m, 1);
            let first_wd = (first + 4).rem_euclid(7); // 0 = Sunday; 1970-01-01 was a Thursday
            let mut day = 1 + (d as i64 - first_wd).rem_euclid(7) + (w as i64 - 1) * 7;
            while day > days_in_month(year, m) as i64 {
                day -= 7;
            }
            first + day - 1
        }
    }
}

pub(crate) use vigil_core::time::{civil_from_days, days_from_civil};

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(y: i32, mo: u8, d: u8, h: i64, mi: i64) -> i64 {
        (days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60) * 1000
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        // 2024-06-03 was a Monday.
        assert_eq!(TimeZone::utc().local(ms(2024, 6, 3, 12, 0)).weekday, 0);
    }

    #[test]
    fn fixed_offsets() {
        let tz = TimeZone::parse("+05:30").unwrap();
        let l = tz.local(ms(2024, 1, 1, 23, 0));
        assert_eq!((l.day, l.hour, l.minute), (2, 4, 30));
        assert_eq!(TimeZone::parse("-0800").unwrap().offset_at(0), -8 * 3600);
        assert_eq!(TimeZone::parse("+2").unwrap().offset_at(0), 7200);
        assert!(TimeZone::parse("+25:00").is_err());
    }

    #[test]
    fn central_european_summer_time_switches_on_the_last_sundays() {
        let tz = TimeZone::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        // 2024: DST from 2024-03-31 01:00 UTC to 2024-10-27 01:00 UTC.
        assert_eq!(tz.offset_at(ms(2024, 3, 31, 0, 59)), 3600);
        assert_eq!(tz.offset_at(ms(2024, 3, 31, 1, 0)), 7200);
        assert_eq!(tz.offset_at(ms(2024, 10, 27, 0, 59)), 7200);
        assert_eq!(tz.offset_at(ms(2024, 10, 27, 1, 0)), 3600);
        assert_eq!(tz.local(ms(2024, 7, 1, 12, 0)).hour, 14);
        assert_eq!(tz.local(ms(2024, 1, 1, 12, 0)).hour, 13);
    }

    #[test]
    fn us_eastern_and_southern_hemisphere_rules() {
        let ny = TimeZone::parse("EST5EDT,M3.2.0,M11.1.0").unwrap();
        // 2024: 2024-03-10 07:00 UTC to 2024-11-03 06:00 UTC.
        assert_eq!(ny.offset_at(ms(2024, 3, 10, 6, 59)), -5 * 3600);
        assert_eq!(ny.offset_at(ms(2024, 3, 10, 7, 0)), -4 * 3600);
        assert_eq!(ny.offset_at(ms(2024, 11, 3, 5, 59)), -4 * 3600);
        assert_eq!(ny.offset_at(ms(2024, 11, 3, 6, 0)), -5 * 3600);
        // Sydney: AEST-10AEDT,M10.1.0,M4.1.0/3 - summer time across the new year.
        let syd = TimeZone::parse("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        assert_eq!(syd.offset_at(ms(2024, 1, 15, 0, 0)), 11 * 3600);
        assert_eq!(syd.offset_at(ms(2024, 6, 15, 0, 0)), 10 * 3600);
        assert_eq!(syd.offset_at(ms(2024, 12, 15, 0, 0)), 11 * 3600);
        // Quoted names with digits.
        let x = TimeZone::parse("<+0330>-3:30").unwrap();
        assert_eq!(x.offset_at(0), 3 * 3600 + 1800);
    }

    #[test]
    fn local_wall_clock_times_map_back_to_unix_time_across_dst_switches() {
        let tz = TimeZone::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        let day = |y, m, d| days_from_civil(y, m, d);
        // Winter and summer noon.
        assert_eq!(
            tz.unix_ms_of_local(day(2024, 1, 10), 12 * 3600),
            ms(2024, 1, 10, 11, 0)
        );
        assert_eq!(
            tz.unix_ms_of_local(day(2024, 7, 10), 12 * 3600),
            ms(2024, 7, 10, 10, 0)
        );
        // The spring-forward day is 23 hours long, the fall-back day 25.
        let len = |y, m, d| {
            tz.unix_ms_of_local(day(y, m, d) + 1, 0) - tz.unix_ms_of_local(day(y, m, d), 0)
        };
        assert_eq!(len(2024, 3, 31), 23 * 3_600_000);
        assert_eq!(len(2024, 10, 27), 25 * 3_600_000);
        assert_eq!(len(2024, 6, 1), 24 * 3_600_000);
        // 02:30 on 2024-10-27 happens twice: the first (summer time) is taken.
        assert_eq!(
            tz.unix_ms_of_local(day(2024, 10, 27), 9000),
            ms(2024, 10, 27, 0, 30)
        );
        // Round trip through local() for every hour of a year (the repeated hour of the fall-back night
        // maps to its first occurrence).
        for h in 0..(366 * 24) {
            let t = ms(2024, 1, 1, 0, 0) + h * 3_600_000;
            let l = tz.local(t);
            let back = tz.unix_ms_of_local(l.day_number, l.seconds_of_day() as i64);
            assert!(
                back == t || (back == t - 3_600_000 && tz.offset_at(back) != tz.offset_at(t)),
                "{l}"
            );
            assert_eq!(tz.start_of_day(t), tz.unix_ms_of_local(l.day_number, 0));
        }
    }

    #[test]
    fn bad_or_ambiguous_zones_are_refused_with_a_reason() {
        let e = TimeZone::parse("UTC+2").unwrap_err();
        assert!(e.contains("behind"), "{e}");
        assert!(TimeZone::parse("CET-1CEST").unwrap_err().contains("rules"));
        assert!(
            TimeZone::parse("Europe/Berlin")
                .unwrap_err()
                .contains("zoneinfo/Europe/Berlin")
        );
        assert!(TimeZone::parse("CET-1CEST,M13.5.0,M10.5.0").is_err());
    }
}
