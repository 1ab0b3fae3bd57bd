//! Does recording wait behind event writes? Records 16 streams at real time (25 fps, 1 s segments, so
//! every stream commits a segment a second) for two phases of the same length: without events, then while
//! 50 event messages a second (one in five with whole-frame and crop JPEG snapshots) go through the event
//! bus to the store's `EventWriter`, as in `vigil run`. Prints each phase's segment commit latency (p50,
//! p99, max; the index lock wait included) and the ratio of the p99s, plus the event writer's batches.
//!
//! Run: `cargo bench -p vigil-store --bench commits [-- --seconds 20 --streams 16 --events 50]`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use vigil_bus::{EventBus, EventMessage, Message, Overflow, Snapshot};
use vigil_core::latency::LatencySummary;
use vigil_core::{
    BBox, BestObject, BgrImage, EncodedFrame, Event, EventId, EventKind, EventPhase, EventTime,
    Time90k, VideoCodec,
};
use vigil_store::{EventWriter, Store, StoreConfig};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> i64 {
    vigil_core::time::now_unix_ms()
}

/// A camera-like frame: a key frame every second, 25 fps, ~12 KB (a 2.4 Mbit/s stream).
fn frames() -> (Arc<vigil_core::VideoParams>, Vec<u8>, Vec<u8>) {
    let config = vigil_mp4::codec::avc_config_from_nals(
        &[&[0x67, 0x42, 0xc0, 0x1e, 0x95]],
        &[&[0x68, 0xce, 0x38, 0x80]],
    )
    .unwrap();
    let params =
        vigil_mp4::codec::video_params_from_config(VideoCodec::H264, 1280, 720, &config).unwrap();
    let nal = |len: usize, kind: u8| {
        let mut v = (len as u32).to_be_bytes().to_vec();
        v.push(kind);
        v.extend(std::iter::repeat_n(0xab, len - 1));
        v
    };
    (Arc::new(params), nal(60_000, 0x65), nal(10_000, 0x41))
}

/// Message `phase` of event `n` of a run that began at `base_ms`: one id and start time per event.
fn event(base_ms: i64, n: u64, phase: EventPhase) -> Event {
    let start = base_ms + n as i64 * 60;
    let last = start
        + match phase {
            EventPhase::Start => 0,
            EventPhase::Update => 20,
            EventPhase::End => 40,
        };
    let at = |t: i64| EventTime {
        unix_ms: t,
        media: Time90k(t * 90),
    };
    Event {
        attributes: Default::default(),
        id: EventId::from_parts(start as u64, u128::from(n)),
        camera: format!("cam-{:02}", n % 16),
        rule: "door".into(),
        kind: EventKind::Intrusion,
        phase,
        class_name: "person".into(),
        objects: Vec::new(),
        track_ids: vec![n],
        zone: Some("door".into()),
        line: None,
        start: at(start),
        last: at(last),
        end: (phase == EventPhase::End).then_some(at(last)),
        best: Some(BestObject {
            track_id: n,
            score: 0.9,
            bbox: BBox::new(100.0, 100.0, 200.0, 300.0),
            frame_w: 640,
            frame_h: 360,
            time: at(start),
        }),
        description: format!("A person entered door on cam-{:02}", n % 16),
    }
}

/// Records `streams` streams for `seconds`; meanwhile `events_per_sec` event messages when non-zero.
fn phase(store: &Arc<Store>, streams: usize, seconds: u64, events_per_sec: u64, tag: &str) {
    let (params, key, delta) = frames();
    let key = bytes::Bytes::from(key);
    let delta = bytes::Bytes::from(delta);
    let recorders: Vec<_> = (0..streams)
        .map(|s| store.recorder(&format!("{tag}-{s:02}"), "main").unwrap())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = (events_per_sec > 0).then(|| {
        let bus = EventBus::new();
        let writer = EventWriter::start(
            store.clone(),
            bus.subscribe("store", 65_536, 64 << 20, Overflow::DropNewest),
        )
        .unwrap();
        let stop = stop.clone();
        // A gradient with some noise: JPEGs of a few tens of KB, like real snapshots.
        let noise: Vec<u8> = (0..640 * 360 * 3)
            .map(|i| ((i / 3 % 640 + i / 1920) % 200) as u8 + fastrand::u8(..32))
            .collect();
        let image = BgrImage::from_vec(640, 360, noise).unwrap();
        let full = bytes::Bytes::from(vigil_media::encode::encode_jpeg(&image, 85).unwrap());
        let crop = bytes::Bytes::from(
            vigil_media::encode::encode_jpeg(&image.crop(100, 100, 120, 220).unwrap(), 85).unwrap(),
        );
        std::thread::spawn(move || {
            let pause = Duration::from_secs_f64(1.0 / events_per_sec as f64);
            let mut n = 0u64;
            let t0 = Instant::now();
            let base_ms = now_ms();
            while !stop.load(Ordering::Relaxed) {
                let phase = match n % 3 {
                    0 => EventPhase::Start,
                    1 => EventPhase::Update,
                    _ => EventPhase::End,
                };
                n += 1;
                let snapshot = n.is_multiple_of(5).then(|| Snapshot {
                    full: full.clone(),
                    crop: Some(crop.clone()),
                });
                bus.publish(Message::Event(Arc::new(EventMessage {
                    event: event(base_ms, (n - 1) / 3, phase),
                    snapshot,
                })));
                let due = t0 + pause * n as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            drop(bus);
            let stats = writer.stats.clone();
            writer.join();
            (n, stats)
        })
    });
    let t0 = Instant::now();
    let wall0 = now_ms() * 1000;
    let frame = Duration::from_millis(40);
    let total = seconds * 25;
    for k in 0..total {
        for (s, r) in recorders.iter().enumerate() {
            let is_key = k % 25 == 0;
            r.append_owned(EncodedFrame {
                params: params.clone(),
                pts: Time90k(k as i64 * 3600),
                composition_offset: 0,
                received_unix_micros: wall0 + k as i64 * 40_000 + s as i64,
                is_key,
                data: if is_key { key.clone() } else { delta.clone() },
            })
            .unwrap();
        }
        let due = t0 + frame * (k as u32 + 1);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    for r in recorders {
        r.close();
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(p) = publisher {
        let (n, stats) = p.join().unwrap();
        let b = stats.batch_latency();
        println!(
            "  events: {n} messages published, {} stored, {} failed, {} snapshots; event batch p50 {:.2} ms, p99 {:.2} ms",
            stats.written.load(Ordering::Relaxed),
            stats.failed.load(Ordering::Relaxed),
            stats.snapshots.load(Ordering::Relaxed),
            b.p50_ms,
            b.p99_ms
        );
    }
}

fn show(name: &str, s: &LatencySummary) {
    println!(
        "  {name}: {} segment commits, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        s.count, s.p50_ms, s.p99_ms, s.max_ms
    );
}

fn main() {
    let seconds = arg("--seconds", 20);
    let streams = arg("--streams", 16) as usize;
    let events = arg("--events", 50);
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path().join("index.db"), "bench", dir.path().join("rec"));
    std::fs::create_dir_all(dir.path().join("rec")).unwrap();
    config.segment_seconds = 1.0;
    config.fragment_seconds = 1.0;
    // Two stores, one per phase, so that each phase's window holds its own commits only.
    println!("segment commits of {streams} streams (1 s segments) for {seconds} s per phase");
    let (quiet, _) = Store::open(config.clone()).unwrap();
    let quiet = Arc::new(quiet);
    phase(&quiet, streams, seconds, 0, "quiet");
    let without = quiet.segment_commit_latency();
    show("without events", &without);
    drop(quiet);
    let dir2 = tempfile::tempdir().unwrap();
    config.db = dir2.path().join("index.db");
    config.dirs[0].path = dir2.path().join("rec");
    std::fs::create_dir_all(dir2.path().join("rec")).unwrap();
    let (busy, _) = Store::open(config).unwrap();
    let busy = Arc::new(busy);
    phase(&busy, streams, seconds, events, "busy");
    let with = busy.segment_commit_latency();
    show(&format!("with {events} events/s"), &with);
    println!(
        "segment commit p99 with events / without: {:.2} (p50 {:.2})",
        with.p99_ms / without.p99_ms.max(1e-9),
        with.p50_ms / without.p50_ms.max(1e-9)
    );
}
