//! The bus's promises: publishing never waits, order is kept, each policy does what it says when a
//! consumer falls behind, superseded updates merge, heavy payloads are shed before anything is lost, and
//! a consumer that panics goes on.

use crate::*;
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_core::{Event, EventId, EventKind, EventPhase, EventTime, Time90k};

fn event(id: u64, phase: EventPhase, last_ms: i64) -> Event {
    let at = |unix_ms| EventTime {
        unix_ms,
        media: Time90k(unix_ms * 90),
    };
    Event {
        attributes: Default::default(),
        id: EventId::from_parts(1_000, u128::from(id)),
        camera: "gate".into(),
        rule: "r".into(),
        kind: EventKind::Intrusion,
        phase,
        class_name: "person".into(),
        objects: Vec::new(),
        track_ids: vec![id],
        zone: None,
        line: None,
        start: at(0),
        last: at(last_ms),
        end: (phase == EventPhase::End).then(|| at(last_ms)),
        best: None,
        description: String::new(),
    }
}

fn msg(id: u64, phase: EventPhase, last_ms: i64, snapshot_bytes: usize) -> Message {
    Message::Event(Arc::new(EventMessage {
        event: event(id, phase, last_ms),
        snapshot: (snapshot_bytes > 0).then(|| Snapshot {
            full: Bytes::from(vec![0u8; snapshot_bytes]),
            crop: None,
        }),
    }))
}

fn ids(sub: &Subscription<Message>) -> Vec<(u32, EventPhase, i64)> {
    std::iter::from_fn(|| sub.try_recv())
        .map(|m| match m {
            Message::Event(e) => (
                (e.event.id.0 & 0xffff_ffff) as u32,
                e.event.phase,
                e.event.last.unix_ms,
            ),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn publishing_to_a_consumer_that_never_reads_does_not_wait_and_stays_bounded() {
    let bus = EventBus::new();
    let keep = bus.subscribe("store", 1000, 1 << 20, Overflow::DropNewest);
    let live = bus.subscribe("live", 10, 1 << 20, Overflow::DropOldest);
    let t = Instant::now();
    for i in 0..100_000 {
        bus.publish(msg(i, EventPhase::Start, 0, 0));
    }
    // Generous: 100k publishes to two subscribers take milliseconds; a wait would take forever.
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let (k, l) = (keep.stats(), live.stats());
    assert_eq!((k.depth, k.dropped), (1000, 99_000));
    assert_eq!((l.depth, l.dropped), (10, 99_990));
    // The store keeps the oldest in order; the live view the newest.
    let kept = ids(&keep);
    assert_eq!(kept.first().map(|k| k.0), Some(0));
    assert!(kept.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(ids(&live).first().map(|k| k.0), Some(99_990));
}

#[test]
fn a_queued_update_is_superseded_by_a_newer_update_or_the_end_and_starts_are_kept() {
    let bus = EventBus::new();
    let sub = bus.subscribe("store", 100, 1 << 20, Overflow::DropNewest);
    bus.publish(msg(1, EventPhase::Start, 0, 10));
    bus.publish(msg(1, EventPhase::Update, 100, 20));
    bus.publish(msg(2, EventPhase::Start, 150, 0));
    bus.publish(msg(1, EventPhase::Update, 200, 0));
    bus.publish(msg(1, EventPhase::End, 300, 0));
    let got: Vec<Message> = std::iter::from_fn(|| sub.try_recv()).collect();
    let summary: Vec<(u32, EventPhase, i64, bool)> = got
        .iter()
        .map(|m| match m {
            Message::Event(e) => (
                (e.event.id.0 & 0xffff_ffff) as u32,
                e.event.phase,
                e.event.last.unix_ms,
                e.snapshot.is_some(),
            ),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, EventPhase::Start, 0, true),
            // Both later updates and the end merged into the queued update, which kept its snapshot.
            (1, EventPhase::End, 300, true),
            (2, EventPhase::Start, 150, false),
        ]
    );
    assert_eq!(sub.stats().coalesced, 2);
}

#[test]
fn snapshots_are_shed_oldest_first_before_any_event_is_lost() {
    let bus = EventBus::new();
    let sub = bus.subscribe("store", 100, 25_000, Overflow::DropNewest);
    for i in 0..5 {
        bus.publish(msg(i, EventPhase::Start, 0, 10_000));
    }
    let s = sub.stats();
    assert_eq!((s.depth, s.dropped), (5, 0));
    assert!(s.bytes <= 25_000, "{s:?}");
    assert_eq!(s.shed, 3);
    let snaps: Vec<bool> = std::iter::from_fn(|| sub.try_recv())
        .map(|m| match m {
            Message::Event(e) => e.snapshot.is_some(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(snaps, vec![false, false, false, true, true]);
    assert_eq!(sub.stats().bytes, 0);
}

fn view(camera: &str, people: u32, picture_bytes: usize) -> Message {
    Message::View(Arc::new(ViewMessage {
        camera: camera.into(),
        motion: people > 0,
        in_view: [("person".to_string(), people)].into_iter().collect(),
        picture: (picture_bytes > 0).then(|| Bytes::from(vec![0u8; picture_bytes])),
    }))
}

#[test]
fn a_queued_view_is_superseded_per_camera_and_keeps_its_picture_until_shed() {
    let bus = EventBus::new();
    let sub = bus.subscribe("alerts", 100, 15_000, Overflow::DropOldest);
    bus.publish(view("gate", 1, 10_000));
    bus.publish(view("yard", 1, 0));
    // Newer views of the gate: the queued one takes their state and keeps its picture.
    bus.publish(view("gate", 2, 0));
    bus.publish(view("gate", 3, 0));
    assert_eq!(sub.stats().depth, 2);
    // Another camera's picture over the byte budget: the older picture is shed, every view stays.
    bus.publish(view("door", 1, 10_000));
    let got: Vec<(String, u32, bool)> = std::iter::from_fn(|| sub.try_recv())
        .map(|m| match m {
            Message::View(v) => (v.camera.clone(), v.in_view["person"], v.picture.is_some()),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("gate".into(), 3, false),
            ("yard".into(), 1, false),
            ("door".into(), 1, true)
        ]
    );
    assert_eq!(sub.stats().shed, 1);
}

#[test]
fn a_consumer_that_panics_logs_counts_and_goes_on_with_the_next_message() {
    let bus = EventBus::new();
    let sub = bus.subscribe("flaky", 100, 1 << 20, Overflow::DropNewest);
    let stats = bus.clone();
    let handled = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = handled.clone();
    let worker = std::thread::spawn(move || {
        sub.run(|m| {
            if let Message::Event(e) = m {
                if (e.event.id.0 & 0xffff_ffff) as u32 == 2 {
                    panic!("consumer bug on event 2");
                }
                seen.lock()
                    .unwrap()
                    .push((e.event.id.0 & 0xffff_ffff) as u32);
            }
        })
    });
    for i in 1..=4 {
        bus.publish(msg(i, EventPhase::Start, 0, 0));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while handled.lock().unwrap().len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(*handled.lock().unwrap(), vec![1, 3, 4]);
    assert_eq!(stats.stats()[0].panics, 1);
    drop(stats);
    drop(bus);
    worker.join().unwrap();
}

#[test]
fn async_consumers_get_every_message_in_order_then_the_end() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bus = EventBus::new();
    let sub = bus.subscribe("alerts", 10_000, 1 << 20, Overflow::DropOldest);
    let producer = std::thread::spawn(move || {
        for i in 0..5_000 {
            bus.publish(msg(i, EventPhase::Start, 0, 0));
            if i % 500 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    let got = rt.block_on(async {
        let mut got = Vec::new();
        while let Some(Message::Event(e)) = sub.recv_async().await {
            got.push((e.event.id.0 & 0xffff_ffff) as u32);
        }
        got
    });
    producer.join().unwrap();
    assert_eq!(got, (0..5_000).collect::<Vec<u32>>());
}
