//! Facts into sentences: the headline, counts per camera and kind, each event, incidents, coverage.
//! Every figure in a sentence comes from the facts; the confidence formula is in `docs/summaries.md`.

use crate::facts::{CLIP_ROLL_MS, Facts, Incident, SAME_PERSON, end_ms};
use crate::{Citation, Footage, Sentence, SentenceKind, Summary, SummaryRequest};
use std::collections::BTreeMap;
use vigil_core::{EventKind, EventPhase};
use vigil_identity::transit::Transit;
use vigil_rules::{TimeZone, clock_at, clock_range, describe, humanize_duration, plural};
use vigil_store::StoredEvent;

/// Most events written one sentence each (the counts still cover all).
pub const MAX_EVENT_SENTENCES: usize = 200;
/// Most recorded runs cited per camera.
const MAX_RUN_CITATIONS: usize = 5;
/// Parts of the headline at most.
const HEADLINE_PARTS: usize = 6;

fn round2(x: f32) -> f32 {
    (x.clamp(0.0, 1.0) * 100.0).round() / 100.0
}

/// How sure an event's facts are: the detector's best score (the face similarity or plate vote for
/// those; 0.95 for camera health, activity anomalies and the camera's own ONVIF events, which are measured, not detected),
/// lowered to 70 % when the event was interrupted (Vigil stopped before its end) and to 85 % while it
/// is still open.
pub fn event_confidence(e: &StoredEvent) -> f32 {
    let base = match &e.event.kind {
        EventKind::FaceRecognized { similarity, .. } => *similarity,
        EventKind::PlateRead { confidence, .. } => *confidence,
        EventKind::CameraHealth { .. }
        | EventKind::OnvifEvent { .. }
        | EventKind::ActivityAnomaly { .. } => 0.95,
        _ => e.event.best.map_or(0.5, |b| b.score),
    };
    let lifecycle = if e.interrupted {
        0.7
    } else if e.open {
        0.85
    } else {
        1.0
    };
    round2(base * lifecycle)
}

/// Percent-encodes a path segment or query value (everything but unreserved characters).
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn citation(
    f: &Facts,
    req: &SummaryRequest,
    n: usize,
    event: Option<&StoredEvent>,
    camera: &str,
    want: std::ops::Range<i64>,
) -> Citation {
    let (footage, r) = f
        .coverage
        .get(camera)
        .map_or((Footage::Gone, want.clone()), |c| {
            c.clip(want.start, want.end)
        });
    let cam = enc(camera);
    let live = footage != Footage::Gone;
    let ui_base = if req.links.ui.is_empty() {
        "/"
    } else {
        req.links.ui.as_str()
    };
    Citation {
        n,
        event: event.map(|e| e.event.id.to_string()),
        camera: camera.to_string(),
        from_ms: r.start,
        to_ms: r.end,
        footage,
        clip: live.then(|| {
            format!(
                "{}/api/cameras/{cam}/playback.mp4?start={}&end={}",
                req.links.api, r.start, r.end
            )
        }),
        ui: live.then(|| format!("{ui_base}#/camera/{cam}?t={}", r.start)),
        snapshot: event
            .filter(|e| e.snapshot.is_some())
            .map(|e| format!("{}/api/events/{}/snapshot", req.links.api, e.event.id)),
    }
}

fn count_noun(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {}", plural(noun))
    }
}

fn mean(xs: impl Iterator<Item = f32>) -> f32 {
    let (sum, n) = xs.fold((0.0, 0u32), |(s, n), x| (s + x, n + 1));
    if n == 0 { 1.0 } else { round2(sum / n as f32) }
}

/// The period's name: "overnight" for 22:00 to 06:00 local, "day" for 06:00 to 22:00, else "range".
pub fn period_name(tz: &TimeZone, from: i64, to: i64) -> &'static str {
    let (a, b) = (tz.local(from), tz.local(to));
    let hm = |l: &vigil_rules::LocalDateTime| (l.hour, l.minute, l.second);
    if to - from > 86_400_000 {
        return "range";
    }
    match (hm(&a), hm(&b)) {
        ((22, 0, 0), (6, 0, 0)) if b.day_number == a.day_number + 1 => "overnight",
        ((6, 0, 0), (22, 0, 0)) if b.day_number == a.day_number => "day",
        _ => "range",
    }
}

/// The range of a named shift on local day `day_number` (days since 1970-01-01 in `tz`): "overnight"
/// is 22:00 the evening before to 06:00 that morning, "day" 06:00 to 22:00. `None` for another name.
pub fn shift_range(tz: &TimeZone, name: &str, day_number: i64) -> Option<(i64, i64)> {
    match name {
        "overnight" => Some((
            tz.unix_ms_of_local(day_number - 1, 22 * 3600),
            tz.unix_ms_of_local(day_number, 6 * 3600),
        )),
        "day" => Some((
            tz.unix_ms_of_local(day_number, 6 * 3600),
            tz.unix_ms_of_local(day_number, 22 * 3600),
        )),
        _ => None,
    }
}

/// The sentence of one event: its description on its camera, what the object looked like, and whether
/// it ended normally.
fn event_text(e: &StoredEvent, tz: &TimeZone) -> String {
    let mut ev = e.event.clone();
    if !e.open {
        ev.phase = EventPhase::End;
        ev.end = Some(ev.end.unwrap_or(ev.last));
    }
    let desc = describe(&ev, tz);
    let cam = &ev.camera;
    let mut text = match desc.strip_prefix("Camera ") {
        Some(rest) if matches!(ev.kind, EventKind::CameraHealth { .. }) => {
            format!("Camera '{cam}' {rest}")
        }
        _ => format!("{desc} on '{cam}'"),
    };
    if let Some(p) = ev.attributes.phrase() {
        text.push_str(&format!(" ({p})"));
    }
    if e.interrupted {
        text.push_str(" (interrupted: Vigil stopped before it ended)");
    } else if e.open {
        text.push_str(" (still going on)");
    }
    text
}

/// Key of a count group: camera, kind, zone or line.
type GroupKey = (String, &'static str, String);

fn group_text(key: &GroupKey, members: &[&StoredEvent], tz: &TimeZone) -> String {
    let (camera, kind, place) = key;
    let first = members
        .iter()
        .map(|e| e.event.start.unix_ms)
        .min()
        .unwrap_or(0);
    let last = members.iter().map(|e| end_ms(e)).max().unwrap_or(first);
    let when = clock_range(tz, first, last);
    let n = members.len() as u64;
    let class = match members.first().map(|e| e.event.class_name.as_str()) {
        Some(c) if !c.is_empty() && members.iter().all(|e| e.event.class_name == c) => c,
        _ => "object",
    };
    match *kind {
        "line_crossing" => {
            let (mut inb, mut out) = (0u64, 0u64);
            for e in members {
                if let EventKind::LineCrossing {
                    inbound_count,
                    outbound_count,
                    ..
                } = e.event.kind
                {
                    inb += u64::from(inbound_count);
                    out += u64::from(outbound_count);
                }
            }
            let dirs = match (out, inb) {
                (o, 0) => format!("{} crossed '{place}' going out", count_noun(o, class)),
                (0, i) => format!("{} crossed '{place}' going in", count_noun(i, class)),
                (o, i) => format!(
                    "{} crossed '{place}' going out and {i} going in",
                    count_noun(o, class)
                ),
            };
            format!(
                "{dirs} on '{camera}' ({when}), in {}",
                count_noun(n, "crossing event")
            )
        }
        "intrusion" => format!(
            "{} into '{place}' on '{camera}' ({when})",
            count_noun(n, "intrusion")
        ),
        "loitering" => {
            let min = members
                .iter()
                .find_map(|e| match e.event.kind {
                    EventKind::Loitering { min_dwell_ms, .. } => Some(min_dwell_ms),
                    _ => None,
                })
                .unwrap_or(0);
            format!(
                "{} (over {}) in '{place}' on '{camera}' ({when})",
                count_noun(n, "long stay"),
                humanize_duration(min)
            )
        }
        "camera_health" => format!(
            "Camera '{camera}' had {} ({when})",
            count_noun(n, "health episode")
        ),
        other => {
            let at = if place.is_empty() {
                String::new()
            } else {
                format!(" in '{place}'")
            };
            format!(
                "{} {} events{at} on '{camera}' ({when})",
                n,
                other.replace('_', " ")
            )
        }
    }
}

fn incident_text(f: &Facts, inc: &Incident, req: &SummaryRequest) -> (String, f32) {
    let lo = inc
        .links
        .iter()
        .map(|l| l.similarity)
        .fold(1.0f32, f32::min);
    let hi = inc
        .links
        .iter()
        .map(|l| l.similarity)
        .fold(0.0f32, f32::max);
    let who = if lo >= SAME_PERSON {
        "The same person each time"
    } else {
        "Probably the same person each time"
    };
    let sims = if (hi - lo).abs() < 0.005 {
        format!("{lo:.2}")
    } else {
        format!("{lo:.2}–{hi:.2}")
    };
    let items: Vec<String> = inc
        .events
        .iter()
        .map(|&i| {
            let e = &f.events[i].event;
            let what = match (&e.kind, &e.zone, &e.line) {
                (_, _, Some(line)) => format!("{} at '{line}'", e.kind.name().replace('_', " ")),
                (_, Some(zone), _) => format!("{} in '{zone}'", e.kind.name().replace('_', " ")),
                _ => e.kind.name().replace('_', " "),
            };
            format!(
                "{what} on '{}' at {}",
                e.camera,
                clock_at(req.zones.of(&e.camera), e.start.unix_ms)
            )
        })
        .collect();
    let late = inc.links.iter().any(|l| l.transit == Transit::Late);
    let text = format!(
        "{who} (re-identification similarity {sims}) in {}: {}{}",
        count_noun(inc.events.len() as u64, "event"),
        items.join(", then "),
        if late {
            "; some walks between cameras took longer than usual"
        } else {
            ""
        }
    );
    let link = inc.links.iter().map(|l| l.score).fold(1.0f32, f32::min);
    let members = mean(inc.events.iter().map(|&i| event_confidence(&f.events[i])));
    (text, round2(link * members))
}

fn percent(covered: i64, total: i64) -> String {
    if total <= 0 {
        return "0%".into();
    }
    let p = covered as f64 * 100.0 / total as f64;
    if covered == total {
        "100%".into()
    } else if p >= 99.5 {
        "over 99%".into()
    } else {
        format!("{:.0}%", p.floor())
    }
}

/// Puts the facts in words.
pub fn compose(f: &Facts, req: &SummaryRequest) -> Summary {
    let head_tz = f
        .cameras
        .first()
        .map_or(&req.zones.default, |c| req.zones.of(c));
    let period = if f.incident_mode {
        "incident"
    } else {
        period_name(head_tz, f.from_ms, f.to_ms)
    };
    let span = clock_range(head_tz, f.from_ms, f.to_ms);
    let cites: Vec<Citation> = f
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            citation(
                f,
                req,
                i + 1,
                Some(e),
                &e.event.camera,
                e.event.start.unix_ms - CLIP_ROLL_MS..end_ms(e) + CLIP_ROLL_MS,
            )
        })
        .collect();
    let mut next_n = cites.len() + 1;
    let mut body: Vec<Sentence> = Vec::new();
    let mut parts: Vec<(String, Vec<usize>)> = Vec::new();

    // Counts per camera, kind and zone/line.
    let mut groups: BTreeMap<GroupKey, Vec<usize>> = BTreeMap::new();
    for (i, e) in f.events.iter().enumerate() {
        let place = e
            .event
            .line
            .clone()
            .or(e.event.zone.clone())
            .unwrap_or_default();
        groups
            .entry((e.event.camera.clone(), e.event.kind.name(), place))
            .or_default()
            .push(i);
    }
    for (key, idx) in &groups {
        let members: Vec<&StoredEvent> = idx.iter().map(|&i| &f.events[i]).collect();
        let text = group_text(key, &members, req.zones.of(&key.0));
        // In the headline a lone event speaks for itself ("camera 'yard' offline for 4 min (...)").
        let part = match members.as_slice() {
            [one] => event_text(one, req.zones.of(&key.0)),
            _ => text.clone(),
        };
        parts.push((part, idx.clone()));
        if idx.len() > 1 {
            body.push(Sentence {
                kind: SentenceKind::Count,
                text,
                confidence: mean(members.iter().map(|e| event_confidence(e))),
                citations: idx.iter().map(|&i| cites[i].clone()).collect(),
            });
        }
    }
    // Incidents across cameras and times.
    for inc in &f.incidents {
        let (text, confidence) = incident_text(f, inc, req);
        parts.push((text.clone(), inc.events.clone()));
        body.push(Sentence {
            kind: SentenceKind::Incident,
            text,
            confidence,
            citations: inc.events.iter().map(|&i| cites[i].clone()).collect(),
        });
    }
    // Each event.
    for (i, e) in f.events.iter().enumerate().take(MAX_EVENT_SENTENCES) {
        let mut text = event_text(e, req.zones.of(&e.event.camera));
        if cites[i].footage == Footage::Gone {
            text.push_str(if e.open {
                "; its footage is not in the recordings yet"
            } else {
                "; its footage is not in the recordings"
            });
        }
        body.push(Sentence {
            kind: SentenceKind::Event,
            text,
            confidence: event_confidence(e),
            citations: vec![cites[i].clone()],
        });
    }
    if f.events.len() > MAX_EVENT_SENTENCES || f.truncated {
        body.push(Sentence {
            kind: SentenceKind::Count,
            text: format!(
                "{} events are not written one by one here{}",
                f.events.len().saturating_sub(MAX_EVENT_SENTENCES),
                if f.truncated {
                    format!("; only the first {} events of the range were read: narrow the range or the cameras", f.events.len())
                } else {
                    String::new()
                }
            ),
            confidence: 1.0,
            citations: Vec::new(),
        });
    }
    // What the recordings cover.
    for camera in &f.cameras {
        let Some(cov) = f.coverage.get(camera) else {
            continue;
        };
        let covered = cov.covered_ms(f.from_ms, f.to_ms);
        let text = format!(
            "Recordings of '{camera}' cover {} of {span}",
            percent(covered, f.to_ms - f.from_ms)
        );
        let mut citations = Vec::new();
        for r in cov
            .within(f.from_ms, f.to_ms)
            .into_iter()
            .take(MAX_RUN_CITATIONS)
        {
            citations.push(citation(f, req, next_n, None, camera, r));
            next_n += 1;
        }
        body.push(Sentence {
            kind: SentenceKind::Coverage,
            text,
            confidence: 1.0,
            citations,
        });
    }

    let empty = f.events.is_empty();
    let headline = if empty {
        let who = if f.cameras.is_empty() {
            "any camera".to_string()
        } else {
            f.cameras
                .iter()
                .map(|c| format!("'{c}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Sentence {
            kind: SentenceKind::Headline,
            text: format!("Nothing was recorded as happening on {who} ({span}): no event"),
            confidence: 1.0,
            citations: Vec::new(),
        }
    } else {
        let label = match period {
            "overnight" => format!("Overnight ({span})"),
            "day" => format!("Day ({span})"),
            "incident" => format!("Incident ({span})"),
            _ => span.clone(),
        };
        let shown: Vec<&(String, Vec<usize>)> = parts.iter().take(HEADLINE_PARTS).collect();
        let more = parts.len().saturating_sub(HEADLINE_PARTS);
        let mut text = format!(
            "{label}: {} on {}: {}",
            count_noun(f.events.len() as u64, "event"),
            count_noun(
                f.events
                    .iter()
                    .map(|e| &e.event.camera)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len() as u64,
                "camera"
            ),
            shown
                .iter()
                .map(|(t, _)| lower_first(t))
                .collect::<Vec<_>>()
                .join("; ")
        );
        if more > 0 {
            text.push_str(&format!("; and {more} more"));
        }
        let mut idx: Vec<usize> = shown.iter().flat_map(|(_, i)| i.iter().copied()).collect();
        idx.sort_unstable();
        idx.dedup();
        Sentence {
            kind: SentenceKind::Headline,
            text,
            confidence: mean(idx.iter().map(|&i| event_confidence(&f.events[i]))),
            citations: idx.iter().map(|&i| cites[i].clone()).collect(),
        }
    };
    let mut sentences = vec![headline];
    sentences.extend(body);
    Summary {
        from_ms: f.from_ms,
        to_ms: f.to_ms,
        period: period.to_string(),
        cameras: f.cameras.clone(),
        empty,
        events: f.events.len(),
        sentences,
        rewrite: None,
    }
}

fn lower_first(s: &str) -> String {
    // Keep quoted names and "Camera 'x'" readable mid-sentence.
    match s.strip_prefix("Camera ") {
        Some(rest) => format!("camera {rest}"),
        None => match s.strip_prefix("The same") {
            Some(rest) => format!("the same{rest}"),
            None => match s.strip_prefix("Probably") {
                Some(rest) => format!("probably{rest}"),
                None => s.to_string(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Coverage;

    /// 2026-01-02T00:00:00Z.
    const DAY: i64 = 1_767_312_000_000;
    const H: i64 = 3_600_000;

    #[test]
    fn periods_are_named_by_their_local_hours() {
        let utc = TimeZone::utc();
        assert_eq!(period_name(&utc, DAY - 2 * H, DAY + 6 * H), "overnight");
        assert_eq!(period_name(&utc, DAY + 6 * H, DAY + 22 * H), "day");
        assert_eq!(period_name(&utc, DAY + 6 * H, DAY + 21 * H), "range");
        // 22:00-06:00 in UTC+1 is 21:00-05:00 UTC.
        let cet = TimeZone::parse("+01:00").unwrap();
        assert_eq!(period_name(&cet, DAY - 3 * H, DAY + 5 * H), "overnight");
        assert_eq!(period_name(&utc, DAY - 3 * H, DAY + 5 * H), "range");
    }

    #[test]
    fn shifts_name_their_ranges_and_back() {
        let cet = TimeZone::parse("+01:00").unwrap();
        let day = vigil_core::time::days_from_civil(2026, 1, 2);
        let (a, b) = shift_range(&cet, "overnight", day).unwrap();
        assert_eq!((a, b), (DAY - 3 * H, DAY + 5 * H));
        assert_eq!(period_name(&cet, a, b), "overnight");
        let (a, b) = shift_range(&cet, "day", day).unwrap();
        assert_eq!(period_name(&cet, a, b), "day");
        assert!(shift_range(&cet, "lunch", day).is_none());
    }

    #[test]
    fn clips_are_cut_to_what_the_recordings_hold() {
        let c = Coverage {
            stream: Some("main".into()),
            runs: vec![0..10_000, 12_000..30_000],
        };
        assert_eq!(c.clip(1_000, 5_000), (Footage::Recorded, 1_000..5_000));
        assert_eq!(c.clip(8_000, 20_000), (Footage::Partial, 12_000..20_000));
        assert_eq!(c.clip(40_000, 50_000).0, Footage::Gone);
        assert_eq!(c.covered_ms(0, 40_000), 28_000);
        assert_eq!(percent(28_000, 40_000), "70%");
        assert_eq!(percent(39_990, 40_000), "over 99%");
        assert_eq!(percent(40_000, 40_000), "100%");
    }

    fn event(
        n: u128,
        camera: &str,
        kind: EventKind,
        zone: &str,
        start: i64,
        end: i64,
    ) -> StoredEvent {
        let t = |ms| vigil_core::EventTime {
            unix_ms: ms,
            media: vigil_core::Time90k(0),
        };
        StoredEvent {
            event: vigil_core::Event {
                id: vigil_core::EventId::from_parts(start as u64, n),
                camera: camera.into(),
                rule: "r".into(),
                kind,
                phase: EventPhase::End,
                class_name: "person".into(),
                objects: vec![vigil_core::ClassCount {
                    class_name: "person".into(),
                    class_id: 0,
                    count: 1,
                }],
                track_ids: vec![n as u64],
                zone: Some(zone.into()),
                line: None,
                start: t(start),
                last: t(end),
                end: Some(t(end)),
                best: None,
                description: String::new(),
                attributes: Default::default(),
            },
            open: false,
            interrupted: false,
            snapshot: None,
            updated_ms: end,
        }
    }

    #[test]
    fn a_shift_report_leads_with_its_headline() {
        let at = |h: i64, m: i64| DAY + h * H + m * 60_000;
        let health = EventKind::CameraHealth {
            state: "offline".into(),
            shift: None,
            detail: None,
        };
        let events = vec![
            event(
                1,
                "dock",
                EventKind::Intrusion,
                "Loading dock",
                at(1, 5),
                at(1, 6),
            ),
            event(2, "yard", health, "", at(2, 10), at(2, 14)),
            event(
                3,
                "dock",
                EventKind::Intrusion,
                "Loading dock",
                at(3, 0),
                at(3, 2),
            ),
            event(
                4,
                "dock",
                EventKind::Intrusion,
                "Loading dock",
                at(4, 30),
                at(4, 31),
            ),
        ];
        let dock = Coverage {
            stream: Some("main".into()),
            runs: std::iter::once(DAY - 2 * H..DAY + 6 * H).collect(),
        };
        let facts = Facts {
            from_ms: DAY - 2 * H,
            to_ms: DAY + 6 * H,
            events,
            cameras: vec!["dock".into(), "yard".into()],
            coverage: [
                ("dock".to_string(), dock),
                ("yard".to_string(), Coverage::default()),
            ]
            .into_iter()
            .collect(),
            incidents: vec![Incident {
                events: vec![0, 2, 3],
                links: vec![
                    crate::Link {
                        a: 0,
                        b: 2,
                        similarity: 0.93,
                        transit: Transit::SameCamera,
                        score: 0.93,
                    },
                    crate::Link {
                        a: 2,
                        b: 3,
                        similarity: 0.95,
                        transit: Transit::SameCamera,
                        score: 0.95,
                    },
                ],
            }],
            ..Facts::default()
        };
        let s = compose(&facts, &SummaryRequest::default());
        assert_eq!(s.period, "overnight");
        let head = &s.sentences[0].text;
        assert!(head.starts_with("Overnight (2026-01-01 22:00:00–2026-01-02 06:00:00 UTC): 4 events on 2 cameras: 3 intrusions into 'Loading dock' on 'dock'"), "{head}");
        assert!(
            head.contains("camera 'yard' offline for 4 min (02:10:00–02:14:00 UTC)"),
            "{head}"
        );
        assert!(
            head.contains(
                "the same person each time (re-identification similarity 0.93–0.95) in 3 events"
            ),
            "{head}"
        );
        // The yard's episode has no footage: its citation says so and links nothing.
        let yard = s
            .sentences
            .iter()
            .find(|x| x.text.starts_with("Camera 'yard' offline"))
            .unwrap();
        assert_eq!(yard.citations[0].footage, Footage::Gone);
        assert!(yard.citations[0].clip.is_none());
        assert!(
            yard.text
                .ends_with("; its footage is not in the recordings"),
            "{}",
            yard.text
        );
        assert_eq!(yard.confidence, 0.95);
        let dock = s
            .sentences
            .iter()
            .find(|x| x.kind == SentenceKind::Incident)
            .unwrap();
        assert_eq!(dock.citations.len(), 3);
        assert!(
            dock.citations
                .iter()
                .all(|c| c.footage == Footage::Recorded && c.clip.is_some())
        );
        assert_eq!(
            dock.confidence, 0.47,
            "0.93 link x 0.5 (no detector score stored), rounded"
        );
    }

    #[test]
    fn camera_names_are_encoded_in_links() {
        assert_eq!(enc("Front door/1"), "Front%20door%2F1");
        assert_eq!(enc("yard-2_a.b~"), "yard-2_a.b~");
    }
}
