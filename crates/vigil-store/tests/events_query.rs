//! The event store's read side: filters against a brute-force scan, search, keyset pagination while
//! events are written, a read-only reader beside the writer, histograms, dead letters, bad queries.

mod event_helpers;

use event_helpers::*;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use vigil_core::{Event, EventId, EventPhase};
use vigil_store::{
    DeadLetterQuery, EventPage, EventQuery, EventReader, NewDeadLetter, Store, StoreError,
};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Every page of a query; checks each page's order and that no event comes twice.
fn all_pages(reader: &EventReader, q: &EventQuery) -> Vec<EventId> {
    let mut q = q.clone();
    let mut out: Vec<EventId> = Vec::new();
    let mut seen = HashSet::new();
    let mut last_start = i64::MAX;
    loop {
        let EventPage {
            events,
            next_cursor,
        } = reader.list(&q).unwrap();
        assert!(events.len() <= q.limit.max(1));
        for e in &events {
            assert!(seen.insert(e.event.id), "{} twice", e.event.id);
            assert!(e.event.start.unix_ms <= last_start, "newest first");
            last_start = e.event.start.unix_ms;
            out.push(e.event.id);
        }
        match next_cursor {
            Some(c) => {
                assert_eq!(events.len(), q.limit, "only a full page has a next page");
                q.cursor = Some(c);
            }
            None => return out,
        }
    }
}

/// What a query should return, by a plain scan of the events written (distinct start times).
fn brute_force(events: &[Event], q: &EventQuery) -> Vec<EventId> {
    let within = |list: &Option<Vec<String>>, v: &str| {
        list.as_ref().is_none_or(|l| l.iter().any(|x| x == v))
    };
    let mut hits: Vec<&Event> = events
        .iter()
        .filter(|e| within(&q.cameras, &e.camera))
        .filter(|e| within(&q.kinds, e.kind.name()))
        .filter(|e| within(&q.rules, &e.rule))
        .filter(|e| within(&q.classes, &e.class_name))
        .filter(|e| q.from_ms.is_none_or(|f| e.start.unix_ms >= f))
        .filter(|e| q.to_ms.is_none_or(|t| e.start.unix_ms < t))
        .filter(|e| {
            q.zone
                .as_ref()
                .is_none_or(|z| e.zone.as_ref().or(e.line.as_ref()) == Some(z))
        })
        .filter(|e| !q.open_only || e.phase != EventPhase::End)
        .filter(|e| {
            q.text.as_ref().is_none_or(|t| {
                t.split_whitespace().all(|w| {
                    e.description
                        .split(|c: char| !c.is_alphanumeric())
                        .any(|d| d.eq_ignore_ascii_case(w))
                })
            })
        })
        .collect();
    hits.sort_by_key(|e| std::cmp::Reverse(e.start.unix_ms));
    hits.into_iter().map(|e| e.id).collect()
}

fn strings(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|s| s.to_string()).collect())
}

fn dataset(root: &std::path::Path) -> (Store, Vec<Event>) {
    let store = open(root);
    let mut events = random_events(1, 2000, 6, T0_MS, 3 * DAY);
    // a tenth still open
    for e in events.iter_mut().step_by(10) {
        *e = later(e, EventPhase::Update, e.last.unix_ms);
    }
    for chunk in events.chunks(250) {
        store.record_events(chunk).unwrap();
    }
    (store, events)
}

#[test]
fn every_filter_matches_a_brute_force_scan_across_all_pages() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, events) = dataset(tmp.path());
    let reader = store.event_reader().unwrap();
    let q = |f: &dyn Fn(&mut EventQuery)| {
        let mut q = EventQuery {
            limit: 37,
            ..Default::default()
        };
        f(&mut q);
        q
    };
    let many_kinds: Vec<String> = (0..40)
        .map(|i| ["intrusion", "queue", "loitering"][i % 3].to_string())
        .collect();
    let queries = [
        q(&|_| {}),
        q(&|q| q.cameras = strings(&["cam03"])),
        q(&|q| q.cameras = strings(&["cam01", "cam04", "nosuch"])),
        q(&|q| q.kinds = strings(&["loitering"])),
        q(&|q| q.kinds = Some(many_kinds.clone())),
        q(&|q| {
            q.cameras = strings(&["cam00", "cam02"]);
            q.kinds = strings(&["crowding", "line_crossing"]);
        }),
        q(&|q| q.classes = strings(&["car", "bicycle"])),
        q(&|q| q.rules = strings(&["Gate count"])),
        q(&|q| q.zone = Some("Loading dock".into())),
        q(&|q| {
            q.zone = Some("Gate line".into());
            q.cameras = strings(&["cam05"]);
        }),
        q(&|q| q.open_only = true),
        q(&|q| {
            q.open_only = true;
            q.cameras = strings(&["cam01"]);
        }),
        q(&|q| {
            q.from_ms = Some(T0_MS + DAY);
            q.to_ms = Some(T0_MS + DAY + 5 * HOUR);
        }),
        q(&|q| {
            q.from_ms = Some(T0_MS + 2 * DAY);
            q.kinds = strings(&["intrusion"]);
            q.classes = strings(&["person"]);
        }),
        q(&|q| q.text = Some("green".into())),
        q(&|q| q.text = Some("green car".into())),
        q(&|q| {
            q.text = Some("white".into());
            q.cameras = strings(&["cam02"]);
            q.to_ms = Some(T0_MS + DAY);
        }),
        q(&|q| {
            q.text = Some("red".into());
            q.open_only = true;
        }),
        q(&|q| q.limit = 1000),
        q(&|q| q.cameras = Some(vec![])),
        q(&|q| q.cameras = strings(&["nosuch"])),
        q(&|q| q.from_ms = Some(T0_MS + 10 * DAY)),
    ];
    for query in &queries {
        let got = all_pages(&reader, query);
        let want = brute_force(&events, query);
        assert_eq!(got.len(), want.len(), "{query:?}");
        assert_eq!(got, want, "{query:?}");
    }
    // the filters are not vacuous
    assert_eq!(all_pages(&reader, &queries[0]).len(), 2000);
    assert!(brute_force(&events, &queries[9]).len() > 10);
    assert!(brute_force(&events, &queries[16]).len() > 10);
}

#[test]
fn search_finds_events_by_the_words_that_describe_them() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let reader = store.event_reader().unwrap();
    let mut a = event(1, "Back door", T0_MS, EventPhase::Start);
    a.description = "A person stayed 3 min 12 s in 'Loading dock' (14:02:31–14:05:43)".into();
    a.zone = Some("Loading dock".into());
    let mut b = event(2, "Front gate", T0_MS + 1000, EventPhase::Start);
    b.description = "A car crossed 'Gate line' inbound at 14:03:10".into();
    b.class_name = "car".into();
    b.objects[0].class_name = "car".into();
    b.zone = None;
    b.line = Some("Gate line".into());
    b.rule = "Gate count".into();
    b.kind = vigil_core::EventKind::LineCrossing {
        direction: vigil_core::CrossingDirection::AToB,
        inbound: true,
        inbound_count: 1,
        outbound_count: 0,
    };
    store.record_events(&[a.clone(), b.clone()]).unwrap();
    let search = |text: &str| -> Vec<EventId> {
        reader
            .list(&EventQuery {
                text: Some(text.into()),
                ..Default::default()
            })
            .unwrap()
            .events
            .into_iter()
            .map(|e| e.event.id)
            .collect()
    };
    assert_eq!(search("loading"), vec![a.id]);
    assert_eq!(search("DOCK person"), vec![a.id]);
    assert_eq!(search("car"), vec![b.id]);
    assert_eq!(search("inbound"), vec![b.id]);
    assert_eq!(search("crossing"), vec![b.id], "the kind's words");
    assert_eq!(search("front"), vec![b.id], "the camera's name");
    assert_eq!(search("Gate"), vec![b.id]);
    assert_eq!(search("intrusion"), vec![a.id]);
    assert_eq!(search("a"), vec![b.id, a.id], "newest first");
    assert_eq!(search("load*"), vec![a.id], "prefix");
    assert_eq!(search("\"loading dock\""), vec![a.id], "phrase");
    assert!(search("\"dock loading\"").is_empty());
    assert!(search("bicycle").is_empty());
    assert!(search("person car").is_empty(), "every word must match");
    assert_eq!(search("14:02:31"), vec![a.id]);
    // FTS syntax typed by a user is only words, never an error
    assert!(search("NEAR(person OR car) AND -dock ^x").is_empty());
    assert_eq!(search("person) OR (car"), Vec::<EventId>::new());

    // an update that changes the description changes what is found
    let mut a2 = later(&a, EventPhase::End, T0_MS + 200_000);
    a2.description = "A person stayed 5 min in 'Loading dock' near the forklift".into();
    store.record_event(&a2).unwrap();
    assert_eq!(search("forklift"), vec![a.id]);
    assert!(search("14:02:31").is_empty());
    assert_eq!(search("loading"), vec![a.id]);
    // a deleted event is no longer found
    assert!(store.delete_event(a.id).unwrap());
    assert!(search("forklift").is_empty());
}

/// Plate search over `plate_read` events: exact, prefix and one-edit fuzzy on canonical forms, newest
/// first, within the cameras asked, bounded by `limit` and `max_scan` (and saying so).
#[test]
fn plates_are_found_exactly_by_prefix_and_with_one_character_wrong() {
    use vigil_identity::PlateMatch::{Exact, Fuzzy, Prefix};
    use vigil_store::PlateQuery;
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let reader = store.event_reader().unwrap();
    let plate = |n: u64, camera: &str, text: &str| {
        let mut e = event(n, camera, T0_MS + n as i64 * 1000, EventPhase::End);
        e.rule = "plates".into();
        e.kind = vigil_core::EventKind::PlateRead {
            plate: text.into(),
            confidence: 0.9,
            reads: 3,
            list: None,
            alert: "none".into(),
        };
        e
    };
    let events = [
        plate(1, "gate", "KX58RTY"),
        plate(2, "gate", "AB12CDE"),
        plate(3, "yard", "KX58RTV"),
        plate(4, "yard", "KX5BRTY"),
        event(5, "gate", T0_MS + 5000, EventPhase::End),
    ];
    store.record_events(&events).unwrap();
    let find = |text: &str, how, cameras: Option<Vec<String>>| -> Vec<u64> {
        let scope = if cameras.is_some() { 2 } else { 4 };
        let r = reader
            .search_plates(&PlateQuery {
                plate: text.into(),
                how,
                cameras,
                from_ms: None,
                to_ms: None,
                limit: 100,
                max_scan: 10_000,
            })
            .unwrap();
        assert!(r.complete);
        assert_eq!(r.scanned, scope, "only plate events in scope are looked at");
        r.events
            .iter()
            .map(|e| events.iter().position(|x| x.id == e.event.id).unwrap() as u64 + 1)
            .collect()
    };
    // KX5BRTY reads as KX58RTY (B and 8 look alike).
    assert_eq!(find("kx58 rty", Exact, None), vec![4, 1]);
    assert_eq!(find("KX58", Prefix, None), vec![4, 3, 1]);
    assert_eq!(find("KX58RTY", Fuzzy, None), vec![4, 3, 1]);
    assert_eq!(find("KX58RTY", Fuzzy, Some(vec!["gate".into()])), vec![1]);
    assert!(find("ZZ99", Prefix, None).is_empty());
    let r = reader
        .search_plates(&PlateQuery {
            plate: "KX".into(),
            how: Prefix,
            cameras: None,
            from_ms: None,
            to_ms: None,
            limit: 2,
            max_scan: 10_000,
        })
        .unwrap();
    assert_eq!(
        (r.events.len(), r.complete),
        (2, false),
        "the limit says so"
    );
}

#[test]
fn pages_are_complete_and_never_repeat_while_events_are_inserted() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(open(tmp.path()));
    let mut events = random_events(2, 1500, 4, T0_MS, DAY);
    let mut added = events.split_off(1000);
    // half of the newcomers are newer than everything, half arrive late into the past
    for e in added.iter_mut().step_by(2) {
        let shift = DAY;
        e.start.unix_ms += shift;
        e.last.unix_ms += shift;
        e.end = Some(e.last);
        e.id = EventId::from_parts(e.start.unix_ms as u64, e.id.0 & 0xffff_ffff);
    }
    store.record_events(&events).unwrap();
    let initial = events;

    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let store = store.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            for chunk in added.chunks(5) {
                store.record_events(chunk).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let reader = store.event_reader().unwrap();
    let queries = [
        EventQuery {
            limit: 13,
            ..Default::default()
        },
        EventQuery {
            limit: 13,
            cameras: strings(&["cam01", "cam02"]),
            ..Default::default()
        },
        EventQuery {
            limit: 13,
            text: Some("blue".into()),
            ..Default::default()
        },
    ];
    let mut rounds = 0;
    while !done.load(Ordering::SeqCst) || rounds < 2 {
        for q in &queries {
            let got: HashSet<EventId> = all_pages(&reader, q).into_iter().collect();
            for id in brute_force(&initial, q) {
                assert!(got.contains(&id), "{id} missed while inserting ({q:?})");
            }
        }
        rounds += 1;
    }
    writer.join().unwrap();
    assert!(rounds >= 2);
}

#[test]
fn a_read_only_reader_sees_each_committed_batch_while_the_writer_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(open(tmp.path()));
    let reader = EventReader::open(&db_path(tmp.path())).unwrap();
    let events = random_events(3, 1000, 3, T0_MS, DAY);
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for chunk in events.chunks(20) {
                store.record_events(chunk).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        })
    };
    let count = || {
        reader
            .list(&EventQuery {
                limit: 1000,
                ..Default::default()
            })
            .unwrap()
            .events
            .len()
    };
    let mut seen = Vec::new();
    while !writer.is_finished() {
        let n = count();
        assert_eq!(n % 20, 0, "a batch is seen whole or not at all ({n})");
        assert!(seen.last().is_none_or(|&l| n >= l));
        seen.push(n);
    }
    writer.join().unwrap();
    assert_eq!(count(), 1000);
    let distinct: HashSet<usize> = seen.iter().copied().collect();
    assert!(
        distinct.len() > 3,
        "the reader saw the table grow while it was written: {distinct:?}"
    );
}

#[test]
fn histograms_count_per_bucket_camera_and_kind() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, events) = dataset(tmp.path());
    let reader = store.event_reader().unwrap();
    let check = |from: i64, to: i64, bucket: i64, cameras: Option<&[String]>| {
        let bins = reader.histogram(from, to, bucket, cameras).unwrap();
        let mut want = std::collections::BTreeMap::new();
        for e in &events {
            let t = e.start.unix_ms;
            if t < from || t >= to || cameras.is_some_and(|c| !c.contains(&e.camera)) {
                continue;
            }
            let b = from + (t - from) / bucket * bucket;
            *want
                .entry((b, e.camera.clone(), e.kind.name().to_string()))
                .or_insert(0u64) += 1;
        }
        let got: std::collections::BTreeMap<_, _> = bins
            .iter()
            .map(|b| ((b.start_ms, b.camera.clone(), b.kind.clone()), b.count))
            .collect();
        assert_eq!(got, want, "{from}..{to} by {bucket}");
        assert!(!got.is_empty());
        bins.iter().map(|b| b.count).sum::<u64>()
    };
    let day0 = T0_MS - T0_MS % DAY;
    // whole quarter hours: from the counts table
    assert_eq!(check(day0, day0 + 4 * DAY, HOUR, None), 2000);
    check(day0 + DAY, day0 + 2 * DAY, 6 * HOUR, None);
    let two = strings(&["cam01", "cam04"]).unwrap();
    check(day0, day0 + 4 * DAY, DAY, Some(&two));
    // anything else: counted from the events
    check(T0_MS + 7 * 60_000 + 13, T0_MS + 9 * HOUR, 10 * 60_000, None);
    check(T0_MS + 5000, T0_MS + 2 * DAY, 7 * HOUR, Some(&two));
    // deletion keeps the counts right
    let victim = events.iter().find(|e| e.phase == EventPhase::End).unwrap();
    let before = check(day0, day0 + 4 * DAY, HOUR, None);
    store.delete_event(victim.id).unwrap();
    let bins = reader.histogram(day0, day0 + 4 * DAY, HOUR, None).unwrap();
    assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), before - 1);

    for (from, to, bucket) in [(10, 10, 5), (0, 10, 0), (0, 10 * DAY, 1)] {
        let err = reader.histogram(from, to, bucket, None).unwrap_err();
        assert!(matches!(err, StoreError::BadQuery(_)), "{err}");
    }
}

#[test]
fn bad_queries_say_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = dataset(tmp.path());
    let reader = store.event_reader().unwrap();
    let err = |q: EventQuery| reader.list(&q).unwrap_err().to_string();
    assert!(
        err(EventQuery {
            cursor: Some("not-a-cursor".into()),
            ..Default::default()
        })
        .contains("cursor")
    );
    assert!(
        err(EventQuery {
            limit: 5000,
            ..Default::default()
        })
        .contains("limit 5000")
    );
    assert!(
        err(EventQuery {
            text: Some("!!! ---".into()),
            ..Default::default()
        })
        .contains("no words")
    );
    // an empty search is no search
    let page = reader
        .list(&EventQuery {
            text: Some("   ".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.events.len(), 50);
    // a reader on something that is not a Vigil index
    let junk = tmp.path().join("junk.db");
    std::fs::write(&junk, b"just text").unwrap();
    assert!(EventReader::open(&junk).is_err());
}

#[test]
fn dead_letters_are_kept_listed_capped_and_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = store_config(tmp.path());
    cfg.events.max_dead_letters = 5;
    let (store, _) = Store::open(cfg).unwrap();
    let ev = event(1, "gate", T0_MS, EventPhase::Start).id;
    let letter = |dest: &'static str, n: i64| NewDeadLetter {
        destination: dest,
        event_id: Some(ev),
        payload: r#"{"type":"event","camera":"gate"}"#,
        attempts: 5,
        last_error: "connection refused (os error 111)",
        failed_ms: T0_MS + n,
    };
    let mut ids = Vec::new();
    for n in 0..7 {
        let dest = if n % 2 == 0 {
            "mqtt:vigil/events"
        } else {
            "webhook:https://example.org/hook"
        };
        ids.push(store.add_dead_letter(&letter(dest, n)).unwrap());
    }
    let reader = store.event_reader().unwrap();
    let listed = reader.dead_letters(&DeadLetterQuery::default()).unwrap();
    assert_eq!(listed.len(), 5, "capped at 5: the oldest two dropped");
    assert_eq!(
        listed.iter().map(|d| d.id).collect::<Vec<_>>(),
        ids[2..].iter().rev().copied().collect::<Vec<_>>()
    );
    let d = &listed[0];
    assert_eq!(d.payload, r#"{"type":"event","camera":"gate"}"#);
    assert_eq!(d.event_id, Some(ev));
    assert_eq!((d.attempts, d.failed_ms), (5, T0_MS + 6));
    assert!(d.last_error.contains("refused"));

    let mqtt = reader
        .dead_letters(&DeadLetterQuery {
            destination: Some("mqtt:vigil/events".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(mqtt.len(), 3);
    let page2 = reader
        .dead_letters(&DeadLetterQuery {
            before_id: Some(ids[4]),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        page2.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![ids[3], ids[2]]
    );

    assert!(store.delete_dead_letter(ids[6]).unwrap());
    assert!(!store.delete_dead_letter(ids[6]).unwrap());
    assert_eq!(
        reader
            .dead_letters(&DeadLetterQuery::default())
            .unwrap()
            .len(),
        4
    );

    let mut bad = letter("mqtt:x", 0);
    bad.payload = "{not json";
    let err = store.add_dead_letter(&bad).unwrap_err().to_string();
    assert!(err.contains("not JSON") && err.contains("mqtt:x"), "{err}");
    bad.payload = "{}";
    bad.destination = "";
    assert!(store.add_dead_letter(&bad).is_err());
}
