//! Weekly schedules in local time: when a rule is armed.

use crate::config::ScheduleWindow;
use crate::tz::LocalDateTime;

/// A validated weekly schedule; empty means always armed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schedule {
    windows: Vec<Window>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Window {
    /// Bit d set when weekday d (0 = Monday) is included.
    days: u8,
    /// Seconds since midnight, inclusive.
    from: u32,
    /// Seconds since midnight, exclusive; <= from means the window runs past midnight.
    to: u32,
}

const DAY: u32 = 86_400;

impl Schedule {
    /// Builds a schedule; errors say which window and field is wrong.
    pub fn new(windows: &[ScheduleWindow]) -> Result<Self, String> {
        let mut out = Vec::with_capacity(windows.len());
        for (i, w) in windows.iter().enumerate() {
            let at = |field: &str, msg: String| format!("window {}: {field}: {msg}", i + 1);
            let mut days = 0u8;
            for d in &w.days {
                days |= parse_days(d).ok_or_else(|| {
                    at(
                        "days",
                        format!(
                            "{d:?} is not a day; use mon, tue, wed, thu, fri, sat, sun, weekdays, weekends or daily"
                        ),
                    )
                })?;
            }
            if w.days.is_empty() {
                days = 0x7f;
            }
            let from = match &w.from {
                Some(t) => parse_clock(t).ok_or_else(|| at("from", bad_clock(t)))?,
                None => 0,
            };
            let to = match &w.to {
                Some(t) => parse_clock(t).ok_or_else(|| at("to", bad_clock(t)))?,
                None => DAY,
            };
            if from >= DAY {
                return Err(at("from", "24:00 cannot start a window".into()));
            }
            if from == to {
                return Err(at(
                    "to",
                    "the window is empty (from = to); leave out from and to for the whole day"
                        .into(),
                ));
            }
            out.push(Window {
                days,
                from,
                to: if to == DAY { DAY } else { to },
            });
        }
        Ok(Self { windows: out })
    }

    /// True when there are no windows (always armed).
    pub fn is_always(&self) -> bool {
        self.windows.is_empty()
    }

    /// True when the schedule is armed at this local time.
    pub fn is_armed(&self, t: &LocalDateTime) -> bool {
        if self.windows.is_empty() {
            return true;
        }
        let s = t.seconds_of_day();
        let today = 1u8 << t.weekday;
        let yesterday = 1u8 << ((t.weekday + 6) % 7);
        self.windows.iter().any(|w| {
            if w.from < w.to {
                w.days & today != 0 && s >= w.from && s < w.to
            } else {
                // Runs past midnight: the evening part today, the morning part from yesterday's window.
                (w.days & today != 0 && s >= w.from) || (w.days & yesterday != 0 && s < w.to)
            }
        })
    }
}

fn bad_clock(t: &str) -> String {
    format!("{t:?} is not a time of day; write \"HH:MM\" or \"HH:MM:SS\" (24-hour clock)")
}

fn parse_days(d: &str) -> Option<u8> {
    let d = d.trim().to_ascii_lowercase();
    let single = |name: &str| -> Option<u8> {
        const NAMES: [&str; 7] = [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ];
        NAMES
            .iter()
            .position(|n| name.len() >= 3 && n.starts_with(name))
            .map(|i| 1u8 << i)
    };
    match d.as_str() {
        "weekdays" | "weekday" => Some(0x1f),
        "weekends" | "weekend" => Some(0x60),
        "daily" | "all" | "every day" => Some(0x7f),
        other => single(other),
    }
}

/// "HH:MM" or "HH:MM:SS" in seconds; "24:00" is the end of the day.
fn parse_clock(t: &str) -> Option<u32> {
    let parts: Vec<&str> = t.trim().split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty() || p.len() > 2) {
        return None;
    }
    let n: Vec<u32> = parts
        .iter()
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let (h, m, s) = (n[0], n[1], n.get(2).copied().unwrap_or(0));
    if h == 24 && m == 0 && s == 0 {
        return Some(DAY);
    }
    (h < 24 && m < 60 && s < 60).then_some(h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tz::TimeZone;

    fn window(days: &[&str], from: Option<&str>, to: Option<&str>) -> ScheduleWindow {
        ScheduleWindow {
            days: days.iter().map(|d| d.to_string()).collect(),
            from: from.map(String::from),
            to: to.map(String::from),
        }
    }

    /// 2024-06-07 was a Friday.
    fn at(day: u8, h: i64, m: i64) -> LocalDateTime {
        let ms = (crate::tz::days_from_civil(2024, 6, day) * 86_400 + h * 3600 + m * 60) * 1000;
        TimeZone::utc().local(ms)
    }

    #[test]
    fn overnight_window_belongs_to_the_day_it_starts() {
        let s = Schedule::new(&[window(&["fri"], Some("22:00"), Some("06:00"))]).unwrap();
        assert!(!s.is_armed(&at(7, 21, 59)), "Friday before 22:00");
        assert!(s.is_armed(&at(7, 22, 0)), "Friday 22:00");
        assert!(s.is_armed(&at(8, 5, 59)), "Saturday early morning");
        assert!(!s.is_armed(&at(8, 6, 0)), "Saturday 06:00 is the end");
        assert!(
            !s.is_armed(&at(8, 22, 30)),
            "Saturday night is not in a Friday-only window"
        );
        assert!(
            !s.is_armed(&at(7, 3, 0)),
            "Friday early morning belongs to Thursday's window"
        );
    }

    #[test]
    fn day_groups_and_whole_days() {
        let s = Schedule::new(&[window(&["weekends"], None, None)]).unwrap();
        assert!(s.is_armed(&at(8, 0, 0)) && s.is_armed(&at(9, 23, 59)));
        assert!(!s.is_armed(&at(7, 12, 0)));
        let s = Schedule::new(&[window(&["weekdays"], Some("09:00"), Some("17:30"))]).unwrap();
        assert!(s.is_armed(&at(7, 9, 0)) && !s.is_armed(&at(7, 17, 30)));
        assert!(!s.is_armed(&at(8, 10, 0)));
        assert!(Schedule::new(&[]).unwrap().is_armed(&at(8, 10, 0)));
        let s = Schedule::new(&[window(&["Monday", "tue"], Some("20:00"), Some("24:00"))]).unwrap();
        assert!(s.is_armed(&at(3, 23, 59)) && !s.is_armed(&at(5, 23, 0)));
    }

    #[test]
    fn bad_windows_name_the_field() {
        let e = Schedule::new(&[window(&["fryday"], None, None)]).unwrap_err();
        assert!(e.contains("window 1: days") && e.contains("fryday"), "{e}");
        let e = Schedule::new(&[window(&[], Some("25:00"), None)]).unwrap_err();
        assert!(e.contains("from"), "{e}");
        let e = Schedule::new(&[window(&[], Some("08:00"), Some("8:00"))]).unwrap_err();
        assert!(e.contains("empty"), "{e}");
        assert!(
            Schedule::new(&[window(&["mo"], None, None)]).is_err(),
            "too short to be a day"
        );
    }
}
