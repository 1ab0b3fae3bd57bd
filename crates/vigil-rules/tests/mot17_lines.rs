//! Line counting on real pedestrian trajectories: the MOT17 ground-truth tracks of two static-camera
//! sequences, fed frame by frame to the engine, against an independent count of each track's side changes.
//!
//! The lines span the whole frame, so a crossing is simply a track that was settled (at least `hysteresis`
//! away) on one side and later settles on the other; the oracle counts that directly from the trajectory,
//! once per track and direction. Needs `../shared/footage/mot17-gt`; skips with a message when absent.

use std::collections::BTreeMap;
use std::path::PathBuf;
use vigil_core::{BBox, EventKind, EventPhase, Time90k, TrackedObject};
use vigil_rules::{FrameContext, RuleEngine, RulesConfig};

fn footage() -> Option<PathBuf> {
    let dir = match std::env::var_os("VIGIL_SHARED") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    }
    .join("footage/mot17-gt");
    dir.is_dir().then_some(dir)
}

struct Seq {
    w: u32,
    h: u32,
    fps: u32,
    /// frame -> tracks (pedestrians to consider, boxes clipped to the frame).
    frames: BTreeMap<u32, Vec<TrackedObject>>,
}

fn ini_value(ini: &str, key: &str) -> u32 {
    ini.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("seqinfo.ini has no {key}"))
}

fn read_seq(dir: &std::path::Path) -> Seq {
    let ini = std::fs::read_to_string(dir.join("seqinfo.ini")).unwrap();
    let (w, h, fps) = (
        ini_value(&ini, "imWidth"),
        ini_value(&ini, "imHeight"),
        ini_value(&ini, "frameRate"),
    );
    let gt = std::fs::read_to_string(dir.join("gt/gt.txt")).unwrap();
    let mut frames: BTreeMap<u32, Vec<TrackedObject>> = BTreeMap::new();
    for line in gt.lines() {
        let f: Vec<f32> = line.split(',').map(|v| v.trim().parse().unwrap()).collect();
        // frame, id, left, top, width, height, consider, class (1 = pedestrian), visibility
        if f[6] != 1.0 || f[7] != 1.0 {
            continue;
        }
        let bbox = BBox::from_xywh(f[2], f[3], f[4], f[5]).clip(w as f32, h as f32);
        if bbox.is_empty() {
            continue;
        }
        frames.entry(f[0] as u32).or_default().push(TrackedObject {
            id: f[1] as u64,
            bbox,
            score: 0.9,
            class_id: 0,
            age: 0,
            matched: true,
        });
    }
    Seq { w, h, fps, frames }
}

/// Crossings per direction (a_to_b, b_to_a) of a frame-spanning line, counted straight from each track's
/// signed distances to the line.
fn oracle(seq: &Seq, side_of: impl Fn(f32, f32) -> f64, h: f64) -> (u64, u64) {
    let mut settled: BTreeMap<u64, i8> = BTreeMap::new();
    let mut counted: BTreeMap<u64, [bool; 2]> = BTreeMap::new();
    let (mut ab, mut ba) = (0, 0);
    for tracks in seq.frames.values() {
        for t in tracks {
            let x = (t.bbox.x1 + t.bbox.x2) / 2.0 / seq.w as f32;
            let y = t.bbox.y2 / seq.h as f32;
            let s = side_of(x, y);
            let side = if s >= h && s > 0.0 {
                1
            } else if s <= -h && s < 0.0 {
                -1
            } else {
                continue;
            };
            if let Some(&prev) = settled.get(&t.id)
                && prev != side
            {
                let c = counted.entry(t.id).or_default();
                let k = usize::from(side < 0);
                if !c[k] {
                    c[k] = true;
                    if side > 0 { ab += 1 } else { ba += 1 }
                }
            }
            settled.insert(t.id, side);
        }
    }
    (ab, ba)
}

fn run_engine(seq: &Seq, config: &RulesConfig) -> (RuleEngine, usize) {
    let mut engine = RuleEngine::new("mot17", config, &["person"]).unwrap();
    let frame_ms = 1000 / seq.fps as i64;
    let mut events = 0;
    let last = *seq.frames.keys().last().unwrap();
    for f in 1..=last {
        let tracks = seq.frames.get(&f).map(Vec::as_slice).unwrap_or(&[]);
        let ctx = FrameContext {
            time_unix_ms: 1_700_000_000_000 + f as i64 * frame_ms,
            media_time: Time90k(f as i64 * 90_000 / seq.fps as i64),
            frame_w: seq.w,
            frame_h: seq.h,
        };
        for e in engine.update(&ctx, tracks) {
            if let (
                EventPhase::Start,
                EventKind::LineCrossing {
                    inbound_count,
                    outbound_count,
                    ..
                },
            ) = (e.phase, &e.kind)
            {
                events += (inbound_count + outbound_count) as usize;
            }
        }
    }
    (engine, events)
}

#[test]
fn counts_on_real_trajectories_match_an_independent_count() {
    let Some(dir) = footage() else {
        eprintln!("SKIP: ../shared/footage/mot17-gt is absent");
        return;
    };
    let config: RulesConfig = toml::from_str(
        r#"
[[line]]
name = "Horizontal"
p1 = [0.0, 0.6]
p2 = [1.0, 0.6]
[[line]]
name = "Vertical"
p1 = [0.5, 0.0]
p2 = [0.5, 1.0]
[[rule]]
name = "Crossing"
kind = "line_crossing"
line = "Horizontal"
"#,
    )
    .unwrap();
    let h = 0.02;
    let mut total = 0;
    for name in ["MOT17-02-FRCNN", "MOT17-04-FRCNN"] {
        let seq = read_seq(&dir.join(name));
        let (engine, event_crossings) = run_engine(&seq, &config);
        let c = engine.counters();
        // Horizontal line p1 -> p2 left to right: A above (y < 0.6), B below.
        let horizontal = oracle(&seq, |_, y| y as f64 - 0.6f32 as f64, h);
        // Vertical line drawn downwards: A is to the right of it (x > 0.5), B to the left.
        let vertical = oracle(&seq, |x, _| 0.5f32 as f64 - x as f64, h);
        eprintln!(
            "{name}: horizontal engine {:?} oracle {horizontal:?}, vertical engine {:?} oracle {vertical:?}, \
             {event_crossings} crossings in events",
            (c[0].total.a_to_b, c[0].total.b_to_a),
            (c[1].total.a_to_b, c[1].total.b_to_a),
        );
        assert_eq!(
            (c[0].total.a_to_b, c[0].total.b_to_a),
            horizontal,
            "{name} horizontal"
        );
        assert_eq!(
            (c[1].total.a_to_b, c[1].total.b_to_a),
            vertical,
            "{name} vertical"
        );
        assert_eq!(
            event_crossings as u64,
            horizontal.0 + horizontal.1,
            "every crossing is in an event"
        );
        total += horizontal.0 + horizontal.1 + vertical.0 + vertical.1;
    }
    assert!(
        total >= 10,
        "the sequences should give a real number of crossings, got {total}"
    );
}
