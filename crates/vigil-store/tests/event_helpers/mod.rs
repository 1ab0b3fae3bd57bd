//! Helpers for the event-store tests: a store in a temporary directory, event messages, real rule-engine
//! scenarios and real JPEG snapshots.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use vigil_core::{
    BBox, BestObject, ClassCount, Event, EventId, EventKind, EventPhase, EventTime, Time90k,
    TrackedObject,
};
use vigil_rules::{FrameContext, RuleEngine, RulesConfig};
use vigil_store::{Store, StoreConfig};

/// 2024-06-07T12:00:00Z.
pub const T0_MS: i64 = 1_717_761_600_000;

/// A store config rooted at `root` (index in `root/db`, recordings in `root/dir1`), no background
/// retention, no free-space floor.
pub fn store_config(root: &Path) -> StoreConfig {
    let dir = root.join("dir1");
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = StoreConfig::new(root.join("db/index.db"), "dir1", &dir);
    c.dirs[0].min_free_bytes = 0;
    c.background_retention = false;
    c
}

pub fn open(root: &Path) -> Store {
    Store::open(store_config(root)).unwrap().0
}

pub fn db_path(root: &Path) -> PathBuf {
    root.join("db/index.db")
}

/// An intrusion event message: `n` makes the id unique.
pub fn event(n: u64, camera: &str, start_ms: i64, phase: EventPhase) -> Event {
    let start = EventTime {
        unix_ms: start_ms,
        media: Time90k(start_ms * 90),
    };
    Event {
        attributes: Default::default(),
        id: EventId::from_parts(start_ms as u64, n as u128),
        camera: camera.to_string(),
        rule: "Yard intrusion".into(),
        kind: EventKind::Intrusion,
        phase,
        class_name: "person".into(),
        objects: vec![ClassCount {
            class_name: "person".into(),
            class_id: 0,
            count: 1,
        }],
        track_ids: vec![n],
        zone: Some("Yard".into()),
        line: None,
        start,
        last: start,
        end: (phase == EventPhase::End).then_some(start),
        best: Some(BestObject {
            track_id: n,
            score: 0.8,
            bbox: BBox::new(10.0, 20.0, 70.0, 180.0),
            frame_w: 1920,
            frame_h: 1080,
            time: start,
        }),
        description: format!("A person entered 'Yard' on {camera}"),
    }
}

/// The same event later in its life: `last` moved to `last_ms`; ended when `phase` is End.
pub fn later(e: &Event, phase: EventPhase, last_ms: i64) -> Event {
    let mut e = e.clone();
    e.phase = phase;
    e.last = EventTime {
        unix_ms: last_ms,
        media: Time90k(last_ms * 90),
    };
    e.end = (phase == EventPhase::End).then_some(e.last);
    e
}

/// A person-sized box whose bottom centre is at normalized (x, y) of a 1920x1080 frame.
pub fn person(id: u64, x: f32, y: f32) -> TrackedObject {
    let (px, py) = (x * 1920.0, y * 1080.0);
    TrackedObject {
        id,
        bbox: BBox::new(px - 30.0, py - 160.0, px + 30.0, py),
        score: 0.9,
        class_id: 0,
        age: 10,
        matched: true,
    }
}

/// Runs the real rules engine over a scenario at 10 frames per second from `t0_ms`: `objects(i)` gives
/// the tracks of frame `i`. Returns every event message in order.
pub fn run_rules(
    camera: &str,
    toml_text: &str,
    t0_ms: i64,
    frames: usize,
    objects: impl Fn(usize) -> Vec<TrackedObject>,
) -> Vec<Event> {
    let config: RulesConfig = toml::from_str(toml_text).unwrap();
    let mut engine = RuleEngine::new(camera, &config, &["person", "bicycle", "car"]).unwrap();
    let mut out = Vec::new();
    for i in 0..frames {
        let t = t0_ms + i as i64 * 100;
        let ctx = FrameContext {
            time_unix_ms: t,
            media_time: Time90k((t - t0_ms) * 90),
            frame_w: 1920,
            frame_h: 1080,
        };
        out.extend(engine.update(&ctx, &objects(i)));
    }
    out
}

/// A loitering rule on a dock zone: 3 s of dwell raises it, 2 s away ends it. One event for everyone on the
/// dock (`per_situation`), so a lifecycle has people joining as well as heartbeats.
pub const DOCK: &str = r#"
[[zone]]
name = "Loading dock"
points = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]

[[rule]]
name = "Dock loitering"
kind = "loitering"
zone = "Loading dock"
min_dwell = "3s"
cooldown = "2s"
update_every = "2s"
events = "per_situation"
"#;

/// A real frame of MOT17-05 (640x480 JPEG), if the shared footage is present.
pub fn frame_jpeg_path(n: u32) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/footage/mot17-mini/train/MOT17-05-FRCNN/img1")
        .join(format!("{n:06}.jpg"));
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIP: {} not found (../shared footage absent)", p.display());
        None
    }
}

/// A snapshot as the pipeline makes one: the decoded frame re-encoded, and a crop around a box.
pub fn snapshot_pair(n: u32) -> Option<(Vec<u8>, Vec<u8>)> {
    let path = frame_jpeg_path(n)?;
    vigil_media::init().unwrap();
    let img = vigil_media::image_file::read_bgr(&path).unwrap();
    let full = vigil_media::encode::encode_jpeg(&img, 85).unwrap();
    let crop = img.crop(200, 100, 120, 240).unwrap();
    let crop = vigil_media::encode::encode_jpeg(&crop, 90).unwrap();
    Some((full, crop))
}

/// Words that appear in some descriptions only, for search tests.
pub const COLOURS: [&str; 4] = ["red", "blue", "green", "white"];

/// `n` ended events with distinct start times spread over `span_ms` from `t0_ms`, over `cameras`
/// cameras, mixed kinds, classes, rules and zones, descriptions naming a colour.
pub fn random_events(seed: u64, n: usize, cameras: usize, t0_ms: i64, span_ms: i64) -> Vec<Event> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut starts = std::collections::BTreeSet::new();
    while starts.len() < n {
        starts.insert(t0_ms + rng.i64(0..span_ms));
    }
    let mut starts: Vec<i64> = starts.into_iter().collect();
    rng.shuffle(&mut starts);
    starts
        .into_iter()
        .enumerate()
        .map(|(i, start)| {
            let camera = format!("cam{:02}", rng.usize(0..cameras));
            let mut e = event(
                seed * 1_000_000 + i as u64,
                &camera,
                start,
                EventPhase::Start,
            );
            let (kind, rule, zone, line) = match rng.usize(0..10) {
                0..=3 => (EventKind::Intrusion, "Yard intrusion", Some("Yard"), None),
                4..=6 => (
                    EventKind::LineCrossing {
                        direction: vigil_core::CrossingDirection::AToB,
                        inbound: true,
                        inbound_count: 1,
                        outbound_count: 0,
                    },
                    "Gate count",
                    None,
                    Some("Gate line"),
                ),
                7 | 8 => (
                    EventKind::Loitering {
                        dwell_ms: 90_000,
                        min_dwell_ms: 60_000,
                    },
                    "Dock loitering",
                    Some("Loading dock"),
                    None,
                ),
                _ => (
                    EventKind::Crowding {
                        count: 6,
                        peak: 7,
                        more_than: 5,
                    },
                    "Dock crowd",
                    Some("Loading dock"),
                    None,
                ),
            };
            let class = ["person", "person", "car", "bicycle"][rng.usize(0..4)];
            let colour = COLOURS[rng.usize(0..COLOURS.len())];
            e.kind = kind;
            e.rule = rule.into();
            e.zone = zone.map(str::to_string);
            e.line = line.map(str::to_string);
            e.class_name = class.into();
            e.objects[0].class_name = class.into();
            e.description = format!(
                "A {colour} {class} was seen by {camera} in '{}'",
                zone.or(line).unwrap_or("?")
            );
            later(&e, EventPhase::End, start + rng.i64(0..120_000))
        })
        .collect()
}
