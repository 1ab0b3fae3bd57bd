//! Plain-language descriptions of events, from their facts, in the site's local time:
//! "A person crossed 'Gate line' inbound at 14:02:31", "A person stayed 3 min 12 s in 'Loading dock'
//! (14:02:31–14:05:43)".

use crate::tz::TimeZone;
use vigil_core::{Event, EventKind, EventPhase, EventTime};

/// A duration for people: "under 1 s", "45 s", "3 min 12 s", "2 h 5 min", "3 d 4 h".
pub fn humanize_duration(ms: u64) -> String {
    if ms < 1000 {
        return "under 1 s".into();
    }
    let s = (ms + 500) / 1000;
    let join = |a: u64, ua: &str, b: u64, ub: &str| {
        if b == 0 {
            format!("{a} {ua}")
        } else {
            format!("{a} {ua} {b} {ub}")
        }
    };
    match s {
        0..60 => format!("{s} s"),
        60..3600 => join(s / 60, "min", s % 60, "s"),
        3600..86400 => join(s / 3600, "h", s % 3600 / 60, "min"),
        _ => join(s / 86400, "d", s % 86400 / 3600, "h"),
    }
}

/// The plural of a class name ("person" -> "people", "bus" -> "buses", "knife" -> "knives").
pub fn plural(noun: &str) -> String {
    let irregular = [
        ("person", "people"),
        ("mouse", "mice"),
        ("sheep", "sheep"),
        ("skis", "skis"),
        ("scissors", "scissors"),
        ("knife", "knives"),
        ("child", "children"),
    ];
    let lower = noun.to_ascii_lowercase();
    for (one, many) in irregular {
        if let Some(stem) = lower.strip_suffix(one)
            && (stem.is_empty() || stem.ends_with(' '))
        {
            return format!("{}{many}", &noun[..stem.len()]);
        }
    }
    let ends = |s: &str| lower.ends_with(s);
    if ends("s") || ends("x") || ends("ch") || ends("sh") || ends("z") {
        format!("{noun}es")
    } else if ends("y")
        && !matches!(
            lower.chars().rev().nth(1),
            Some('a' | 'e' | 'i' | 'o' | 'u')
        )
    {
        format!("{}ies", &noun[..noun.len() - 1])
    } else {
        format!("{noun}s")
    }
}

fn count_noun(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {}", plural(noun))
    }
}

fn with_article(noun: &str) -> String {
    let an = noun
        .chars()
        .next()
        .is_some_and(|c| "aeiouAEIOU".contains(c));
    format!("{} {noun}", if an { "an" } else { "a" })
}

fn capitalize(s: String) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => s,
    }
}

/// Who took part: "a person", "3 people", "3 objects (2 people, 1 car)". Returns the phrase and whether it is
/// plural.
fn who(e: &Event) -> (String, bool) {
    let n = e.object_count();
    let main = if e.class_name.is_empty() {
        "object"
    } else {
        e.class_name.as_str()
    };
    match e.objects.as_slice() {
        [] | [_] if n <= 1 => (one(e, main), false),
        [_] => (count_noun(n, main), true),
        many => {
            let parts: Vec<String> = many
                .iter()
                .map(|c| count_noun(c.count, &c.class_name))
                .collect();
            (format!("{n} objects ({})", parts.join(", ")), true)
        }
    }
}

/// One object, with what it looked like when known: "a person", "a person in red top and black
/// trousers", "a white car".
fn one(e: &Event, main: &str) -> String {
    match (e.attributes.colour, e.attributes.phrase()) {
        (Some(c), _) => with_article(&format!("{c} {main}")),
        (None, Some(p)) => format!("{} {p}", with_article(main)),
        (None, None) => with_article(main),
    }
}

/// Local clock times of an event's span, naming their zone once: "14:02:31 UTC+1", "14:02:31–14:02:40 UTC",
/// or with dates when it crosses midnight. Without the zone a reader in another one (the UI shows times
/// in the browser's zone) could not tell which clock the description speaks of.
struct Clock<'a> {
    tz: &'a TimeZone,
}

impl Clock<'_> {
    fn bare(&self, ms: i64) -> String {
        let l = self.tz.local(ms);
        format!("{:02}:{:02}:{:02}", l.hour, l.minute, l.second)
    }

    /// The zone in force at `ms` as an offset from UTC: "UTC", "UTC+1", "UTC-5", "UTC+5:30".
    fn zone(&self, ms: i64) -> String {
        let l = self.tz.local(ms);
        let local = l.day_number * 86_400 + i64::from(l.seconds_of_day());
        let offset = local - ms.div_euclid(1000);
        if offset == 0 {
            return "UTC".into();
        }
        let sign = if offset < 0 { '-' } else { '+' };
        let (h, m) = (offset.abs() / 3600, offset.abs() / 60 % 60);
        if m == 0 {
            format!("UTC{sign}{h}")
        } else {
            format!("UTC{sign}{h}:{m:02}")
        }
    }

    fn at(&self, ms: i64) -> String {
        format!("{} {}", self.bare(ms), self.zone(ms))
    }

    /// "between A and B", the zone named once.
    fn between(&self, a: i64, b: i64) -> String {
        format!("between {} and {}", self.bare(a), self.at(b))
    }

    fn range(&self, a: i64, b: i64) -> String {
        let (la, lb) = (self.tz.local(a), self.tz.local(b));
        if la.day_number == lb.day_number {
            format!("{}–{} {}", self.bare(a), self.bare(b), self.zone(b))
        } else {
            format!("{la}–{lb} {}", self.zone(b))
        }
    }
}

/// A local clock time naming its zone: "14:02:31 UTC+1" (for summaries that speak like descriptions).
pub fn clock_at(tz: &TimeZone, ms: i64) -> String {
    Clock { tz }.at(ms)
}

/// A local span naming its zone once: "14:02:31–14:05:43 UTC", with dates when it crosses midnight.
pub fn clock_range(tz: &TimeZone, a: i64, b: i64) -> String {
    Clock { tz }.range(a, b)
}

/// What a camera health state means, for people.
fn health_phrase(state: &str, shift: Option<[f32; 2]>) -> String {
    match state {
        "covered" => "view covered".into(),
        "blocked" => "view blocked".into(),
        "dark" => "too dark to see".into(),
        "defocused" => "out of focus".into(),
        "moved" => match shift {
            Some([dx, dy]) => format!(
                "view moved {:.0}% {}, {:.0}% {}",
                (dx * 100.0).abs(),
                if dx < 0.0 { "left" } else { "right" },
                (dy * 100.0).abs(),
                if dy < 0.0 { "up" } else { "down" }
            ),
            None => "view moved: turned or zoomed".into(),
        },
        "frozen" => "picture frozen".into(),
        "analytics_degraded" => "analytics degraded".into(),
        "offline" => "offline".into(),
        "stream_quality" => "stream degraded".into(),
        "ir_mode" => "in IR (night) mode".into(),
        other => other.replace('_', " "),
    }
}

/// A one-line description of an event message for people, in the time zone `tz`.
pub fn describe(e: &Event, tz: &TimeZone) -> String {
    let clock = Clock { tz };
    let (who, many) = who(e);
    let place = |p: &Option<String>| format!("'{}'", p.as_deref().unwrap_or("?"));
    let zone = place(&e.zone);
    let start = e.start.unix_ms;
    let end = e.end.map_or(e.last.unix_ms, |t| t.unix_ms);
    let ended = e.phase == EventPhase::End;
    let span = humanize_duration((end - start).max(0) as u64);
    let class_many = if e.objects.len() > 1 || e.class_name.is_empty() {
        "objects".to_string()
    } else {
        plural(&e.class_name)
    };
    let text = match &e.kind {
        EventKind::LineCrossing {
            inbound,
            inbound_count,
            outbound_count,
            ..
        } => {
            let crossings = inbound_count + outbound_count;
            let line = place(&e.line);
            let dirs = match (*inbound_count, *outbound_count) {
                (0, 0) if !*inbound => "outbound".to_string(),
                (_, 0) => "inbound".to_string(),
                (0, _) => "outbound".to_string(),
                (i, o) => format!("({i} inbound, {o} outbound)"),
            };
            let times = if crossings > e.object_count().max(1) {
                format!(" {crossings} times")
            } else {
                String::new()
            };
            let (a, b) = (clock.at(start), clock.at(end));
            let when = if a == b {
                format!("at {a}")
            } else if tz.local(start).day_number == tz.local(end).day_number {
                clock.between(start, end)
            } else {
                format!("({})", clock.range(start, end))
            };
            format!("{who} crossed {line}{times} {dirs} {when}")
        }
        EventKind::Intrusion if ended => format!(
            "{who} {} in {zone} for {span} ({})",
            if many { "were" } else { "was" },
            clock.range(start, end)
        ),
        EventKind::Intrusion => {
            let prep = if many { "since" } else { "at" };
            format!("{who} entered {zone} {prep} {}", clock.at(start))
        }
        EventKind::Loitering { dwell_ms, .. } => {
            let dwell = humanize_duration(*dwell_ms);
            let up_to = if many { "up to " } else { "" };
            if ended {
                format!(
                    "{who} stayed {up_to}{dwell} in {zone} ({})",
                    clock.range(start, end)
                )
            } else {
                format!(
                    "{who} {} been in {zone} for {up_to}{dwell} (since {})",
                    if many { "have" } else { "has" },
                    clock.at(start)
                )
            }
        }
        EventKind::Crowding {
            count,
            peak,
            more_than,
        } => {
            if ended {
                format!(
                    "Up to {peak} {class_many} in {zone} (more than {more_than}) for {span} ({})",
                    clock.range(start, end)
                )
            } else {
                format!(
                    "{count} {class_many} in {zone} (more than {more_than}) since {}",
                    clock.at(start)
                )
            }
        }
        EventKind::Queue {
            length,
            peak_length,
            max_wait_ms,
            ..
        } => {
            let wait = humanize_duration(*max_wait_ms);
            let singular = if e.class_name.is_empty() || e.objects.len() > 1 {
                "object"
            } else {
                e.class_name.as_str()
            };
            if ended {
                format!(
                    "Queue in {zone} for {span} ({}): up to {}, longest wait {wait}",
                    clock.range(start, end),
                    count_noun(*peak_length, singular)
                )
            } else {
                format!(
                    "Queue in {zone}: {}, longest wait {wait} (since {})",
                    count_noun(*length, singular),
                    clock.at(start)
                )
            }
        }
        EventKind::FaceRecognized {
            person,
            list,
            similarity,
            ..
        } => {
            let place = e
                .zone
                .as_ref()
                .map_or(String::new(), |z| format!(" in '{z}'"));
            if ended {
                format!(
                    "{person} (watchlist '{list}') was seen{place} for {span} ({}), similarity {similarity:.2}",
                    clock.range(start, end)
                )
            } else {
                format!(
                    "{person} (watchlist '{list}') recognised{place} at {}, similarity {similarity:.2}",
                    clock.at(start)
                )
            }
        }
        EventKind::PlateRead { plate, list, .. } => {
            let on = list
                .as_ref()
                .map_or(String::new(), |l| format!(" (list '{l}')"));
            let vehicle = with_article(if e.class_name.is_empty() {
                "vehicle"
            } else {
                e.class_name.as_str()
            });
            if ended {
                format!(
                    "Plate {plate}{on} on {vehicle}, seen for {span} ({})",
                    clock.range(start, end)
                )
            } else {
                format!("Plate {plate}{on} read on {vehicle} at {}", clock.at(start))
            }
        }
        EventKind::FaceUnknown { .. } if ended => format!(
            "An unknown face was in {zone}, where only enrolled people may be, for {span} ({})",
            clock.range(start, end)
        ),
        EventKind::FaceUnknown { .. } => format!(
            "An unknown face in {zone}, where only enrolled people may be, at {}",
            clock.at(start)
        ),
        EventKind::UnclassifiedMotion { .. } if ended => format!(
            "Something moved in {zone} that no detector recognised, for {span} ({}): check the footage",
            clock.range(start, end)
        ),
        EventKind::UnclassifiedMotion { moving_ms } => format!(
            "Something has moved in {zone} for {} that no detector recognises (since {}): check the footage",
            humanize_duration(*moving_ms),
            clock.at(start)
        ),
        EventKind::CameraHealth {
            state,
            shift,
            detail,
        } => {
            let what = health_phrase(state, *shift);
            let why = detail.as_ref().map_or(String::new(), |d| format!("; {d}"));
            if ended {
                format!(
                    "Camera {what} for {span} ({}){why}",
                    clock.range(start, end)
                )
            } else {
                format!("Camera {what} since {}{why}", clock.at(start))
            }
        }
        EventKind::ActivityAnomaly { detail, .. } if ended => format!(
            "Unusual activity for {span} ({}): {detail}",
            clock.range(start, end)
        ),
        EventKind::ActivityAnomaly { detail, .. } => format!("Unusual activity: {detail}"),
        EventKind::SceneAnomaly { detail, .. } if ended => format!(
            "A person unlike this scene's normal, for {span} ({}): {detail}",
            clock.range(start, end)
        ),
        EventKind::SceneAnomaly { detail, .. } => format!(
            "A person unlike this scene's normal at {}: {detail}",
            clock.at(start)
        ),
        EventKind::OnvifEvent { signal, source, .. } => {
            let what = match signal.as_str() {
                "motion" => "motion".to_string(),
                "tamper" => "tampering".to_string(),
                other => other.replace('_', " "),
            };
            let by = source.as_ref().map_or(String::new(), |s| format!(" ({s})"));
            if ended {
                format!(
                    "The camera reported {what}{by} for {span} ({})",
                    clock.range(start, end)
                )
            } else {
                format!("The camera reports {what}{by} since {}", clock.at(start))
            }
        }
    };
    capitalize(text)
}

/// `e` ended at `at` (never before it started), with its description redone for the end.
pub fn ended(mut e: Event, at: EventTime, tz: &TimeZone) -> Event {
    let at = EventTime {
        unix_ms: at.unix_ms.max(e.start.unix_ms),
        ..at
    };
    e.phase = EventPhase::End;
    e.last = at;
    e.end = Some(at);
    e.description = describe(&e, tz);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::{ClassCount, CrossingDirection, EventId};

    /// 2024-06-07 12:02:31 UTC = 14:02:31 in Berlin (summer time).
    const T0: i64 = 1_717_761_751_000;

    fn event(kind: EventKind, phase: EventPhase, objects: &[(&str, u32)], secs: i64) -> Event {
        let t = |ms| EventTime {
            unix_ms: ms,
            media: Default::default(),
        };
        Event {
            attributes: Default::default(),
            id: EventId(1),
            camera: "cam".into(),
            rule: "r".into(),
            kind,
            phase,
            class_name: objects.first().map_or(String::new(), |o| o.0.to_string()),
            objects: objects
                .iter()
                .map(|&(c, n)| ClassCount {
                    class_name: c.into(),
                    class_id: 0,
                    count: n,
                })
                .collect(),
            track_ids: vec![1],
            zone: Some("Loading dock".into()),
            line: Some("Gate line".into()),
            start: t(T0),
            last: t(T0 + secs * 1000),
            end: (phase == EventPhase::End).then(|| t(T0 + secs * 1000)),
            best: None,
            description: String::new(),
        }
    }

    fn berlin() -> TimeZone {
        TimeZone::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap()
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(humanize_duration(400), "under 1 s");
        assert_eq!(humanize_duration(45_000), "45 s");
        assert_eq!(humanize_duration(192_000), "3 min 12 s");
        assert_eq!(humanize_duration(180_000), "3 min");
        assert_eq!(humanize_duration(7_500_000), "2 h 5 min");
        assert_eq!(humanize_duration(3 * 86_400_000 + 4 * 3_600_000), "3 d 4 h");
    }

    #[test]
    fn plurals_of_coco_classes() {
        assert_eq!(plural("person"), "people");
        assert_eq!(plural("bus"), "buses");
        assert_eq!(plural("car"), "cars");
        assert_eq!(plural("wine glass"), "wine glasses");
        assert_eq!(plural("knife"), "knives");
        assert_eq!(plural("teddy bear"), "teddy bears");
        assert_eq!(plural("sheep"), "sheep");
        assert_eq!(plural("toothbrush"), "toothbrushes");
    }

    #[test]
    fn a_single_objects_looks_are_described_when_known() {
        let kind = EventKind::LineCrossing {
            direction: CrossingDirection::AToB,
            inbound: true,
            inbound_count: 1,
            outbound_count: 0,
        };
        let mut e = event(kind.clone(), EventPhase::Start, &[("person", 1)], 0);
        e.attributes.upper_colour = Some(vigil_core::Colour::Red);
        e.attributes.lower_colour = Some(vigil_core::Colour::Black);
        assert_eq!(
            describe(&e, &berlin()),
            "A person in red top and black trousers crossed 'Gate line' inbound at 14:02:31 UTC+2"
        );
        let mut car = event(kind, EventPhase::Start, &[("car", 1)], 0);
        car.class_name = "car".into();
        car.attributes.colour = Some(vigil_core::Colour::Orange);
        assert!(
            describe(&car, &berlin()).starts_with("An orange car crossed"),
            "{}",
            describe(&car, &berlin())
        );
    }

    #[test]
    fn line_crossing_descriptions() {
        let kind = EventKind::LineCrossing {
            direction: CrossingDirection::AToB,
            inbound: true,
            inbound_count: 1,
            outbound_count: 0,
        };
        let e = event(kind, EventPhase::Start, &[("person", 1)], 0);
        assert_eq!(
            describe(&e, &berlin()),
            "A person crossed 'Gate line' inbound at 14:02:31 UTC+2"
        );
        let kind = EventKind::LineCrossing {
            direction: CrossingDirection::AToB,
            inbound: true,
            inbound_count: 2,
            outbound_count: 1,
        };
        let e = event(kind, EventPhase::End, &[("person", 3)], 19);
        assert_eq!(
            describe(&e, &berlin()),
            "3 people crossed 'Gate line' (2 inbound, 1 outbound) between 14:02:31 and 14:02:50 UTC+2"
        );
        assert_eq!(
            describe(&e, &TimeZone::utc()),
            "3 people crossed 'Gate line' (2 inbound, 1 outbound) between 12:02:31 and 12:02:50 UTC"
        );
    }

    #[test]
    fn loitering_intrusion_crowding_and_queue_descriptions() {
        let loiter = EventKind::Loitering {
            dwell_ms: 192_000,
            min_dwell_ms: 60_000,
        };
        let e = event(loiter.clone(), EventPhase::End, &[("person", 1)], 192);
        assert_eq!(
            describe(&e, &berlin()),
            "A person stayed 3 min 12 s in 'Loading dock' (14:02:31–14:05:43 UTC+2)"
        );
        let e = event(loiter, EventPhase::Start, &[("person", 1)], 192);
        assert_eq!(
            describe(&e, &berlin()),
            "A person has been in 'Loading dock' for 3 min 12 s (since 14:02:31 UTC+2)"
        );
        let e = event(EventKind::Intrusion, EventPhase::Start, &[("car", 1)], 0);
        assert_eq!(
            describe(&e, &berlin()),
            "A car entered 'Loading dock' at 14:02:31 UTC+2"
        );
        let e = event(
            EventKind::Intrusion,
            EventPhase::End,
            &[("person", 2), ("car", 1)],
            155,
        );
        assert_eq!(
            describe(&e, &berlin()),
            "3 objects (2 people, 1 car) were in 'Loading dock' for 2 min 35 s (14:02:31–14:05:06 UTC+2)"
        );
        let crowd = EventKind::Crowding {
            count: 7,
            peak: 9,
            more_than: 5,
        };
        let e = event(crowd.clone(), EventPhase::Update, &[("person", 12)], 60);
        assert_eq!(
            describe(&e, &berlin()),
            "7 people in 'Loading dock' (more than 5) since 14:02:31 UTC+2"
        );
        let e = event(crowd, EventPhase::End, &[("person", 12)], 451);
        assert_eq!(
            describe(&e, &berlin()),
            "Up to 9 people in 'Loading dock' (more than 5) for 7 min 31 s (14:02:31–14:10:02 UTC+2)"
        );
        let queue = EventKind::Queue {
            length: 6,
            peak_length: 8,
            mean_wait_ms: 100_000,
            max_wait_ms: 250_000,
        };
        let e = event(queue, EventPhase::Start, &[("person", 6)], 0);
        assert_eq!(
            describe(&e, &berlin()),
            "Queue in 'Loading dock': 6 people, longest wait 4 min 10 s (since 14:02:31 UTC+2)"
        );
    }

    #[test]
    fn spans_across_midnight_show_dates() {
        let loiter = EventKind::Loitering {
            dwell_ms: 600_000,
            min_dwell_ms: 60_000,
        };
        let mut e = event(loiter, EventPhase::End, &[("person", 1)], 600);
        // 23:55 local (21:55 UTC) to 00:05 the next day.
        let start = T0 + (9 * 3600 + 52 * 60 + 29) * 1000;
        e.start.unix_ms = start;
        e.last.unix_ms = start + 600_000;
        e.end = Some(e.last);
        assert_eq!(
            describe(&e, &berlin()),
            "A person stayed 10 min in 'Loading dock' (2024-06-07 23:55:00–2024-06-08 00:05:00 UTC+2)"
        );
    }

    #[test]
    fn face_descriptions_name_the_person_and_their_list() {
        let kind = EventKind::FaceRecognized {
            person: "Ann Example".into(),
            list: "staff".into(),
            similarity: 0.8123,
            alert: "high".into(),
            quality: 0.7,
        };
        let e = event(kind.clone(), EventPhase::Start, &[("person", 1)], 0);
        assert_eq!(
            describe(&e, &berlin()),
            "Ann Example (watchlist 'staff') recognised in 'Loading dock' at 14:02:31 UTC+2, similarity 0.81"
        );
        let mut e = event(kind, EventPhase::End, &[("person", 1)], 12);
        e.zone = None;
        assert_eq!(
            describe(&e, &berlin()),
            "Ann Example (watchlist 'staff') was seen for 12 s (14:02:31–14:02:43 UTC+2), similarity 0.81"
        );
        let unknown = EventKind::FaceUnknown {
            quality: 0.6,
            best_similarity: 0.4,
        };
        let e = event(unknown, EventPhase::Start, &[("person", 1)], 0);
        assert_eq!(
            describe(&e, &berlin()),
            "An unknown face in 'Loading dock', where only enrolled people may be, at 14:02:31 UTC+2"
        );
    }

    #[test]
    fn plate_descriptions_name_the_plate_and_its_list() {
        let kind = EventKind::PlateRead {
            plate: "KX58RTY".into(),
            confidence: 0.9,
            reads: 4,
            list: Some("deny".into()),
            alert: "high".into(),
        };
        let e = event(kind.clone(), EventPhase::Start, &[("car", 1)], 0);
        assert_eq!(
            describe(&e, &berlin()),
            "Plate KX58RTY (list 'deny') read on a car at 14:02:31 UTC+2"
        );
        let e = event(kind, EventPhase::End, &[("car", 1)], 5);
        assert_eq!(
            describe(&e, &berlin()),
            "Plate KX58RTY (list 'deny') on a car, seen for 5 s (14:02:31–14:02:36 UTC+2)"
        );
    }

    #[test]
    fn health_descriptions_say_what_is_wrong_and_how_long() {
        let kind = EventKind::CameraHealth {
            state: "moved".into(),
            shift: Some([0.12, -0.03]),
            detail: None,
        };
        let e = event(kind, EventPhase::Start, &[], 0);
        assert_eq!(
            describe(&e, &berlin()),
            "Camera view moved 12% right, 3% up since 14:02:31 UTC+2"
        );
        let kind = EventKind::CameraHealth {
            state: "stream_quality".into(),
            shift: None,
            detail: Some("4.8 fps where the camera sends 25".into()),
        };
        let e = event(kind, EventPhase::End, &[], 90);
        assert_eq!(
            describe(&e, &berlin()),
            "Camera stream degraded for 1 min 30 s (14:02:31–14:04:01 UTC+2); 4.8 fps where the camera sends 25"
        );
    }
    #[test]
    fn onvif_events_say_the_camera_reported_them() {
        let kind = EventKind::OnvifEvent {
            signal: "motion".into(),
            topic: "tns1:RuleEngine/CellMotionDetector/Motion".into(),
            source: Some("VideoSourceConfigurationToken=VideoSource_1".into()),
        };
        let e = event(kind, EventPhase::Start, &[], 0);
        assert_eq!(
            describe(&e, &berlin()),
            "The camera reports motion (VideoSourceConfigurationToken=VideoSource_1) since 14:02:31 UTC+2"
        );
        let kind = EventKind::OnvifEvent {
            signal: "tamper".into(),
            topic: "tns1:VideoSource/GlobalSceneChange/ImagingService".into(),
            source: None,
        };
        let e = event(kind, EventPhase::End, &[], 12);
        assert_eq!(
            describe(&e, &berlin()),
            "The camera reported tampering for 12 s (14:02:31–14:02:43 UTC+2)"
        );
    }
}
