//! Engine-wide behaviour: ignore and privacy masks, heatmap, determinism and ids, closing, bad input.

mod common;

use common::*;
use vigil_core::{BBox, BgrImage, EventPhase, Time90k};
use vigil_rules::{FrameContext, RuleEngine, black_out_masks, privacy_masks};

const SITE: &str = r#"
[[zone]]
name = "Yard"
points = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]

[[line]]
name = "Gate"
p1 = [0.1, 0.5]
p2 = [0.9, 0.5]

[[mask]]
name = "Pavement"
kind = "ignore"
points = [[0.6, 0.1], [0.9, 0.1], [0.9, 0.9], [0.6, 0.9]]

[[mask]]
name = "Window"
kind = "privacy"
points = [[0.0, 0.0], [0.25, 0.0], [0.25, 0.5], [0.0, 0.5]]

[[rule]]
name = "Yard intrusion"
kind = "intrusion"
zone = "Yard"

[[rule]]
name = "Gate"
kind = "line_crossing"
line = "Gate"

[heatmap]
cols = 10
rows = 10
"#;

#[test]
fn ignore_masks_hide_objects_from_rules_counters_and_heatmap() {
    let mut sim = Sim::new(SITE);
    // Walks down across the line inside the ignore mask (x = 0.75).
    sim.run(40, |i| {
        let (x, y) = lerp((0.75, 0.2), (0.75, 0.8), i, 40);
        vec![person(1, x, y)]
    });
    sim.idle(12.0);
    assert!(sim.events.is_empty(), "{:?}", sim.events);
    assert_eq!(sim.engine.counters()[0].total.a_to_b, 0);
    assert_eq!(sim.engine.heatmap().total_seconds(), 0.0);
    assert_eq!(sim.engine.occupancy()[0].count, 0);
    // The same walk outside the mask (x = 0.4) is seen by everything.
    sim.run(40, |i| {
        let (x, y) = lerp((0.4, 0.2), (0.4, 0.8), i, 40);
        vec![person(2, x, y)]
    });
    assert_eq!(sim.engine.counters()[0].total.a_to_b, 1);
    assert_eq!(sim.count("Yard intrusion", EventPhase::Start), 1);
    assert_eq!(sim.count("Gate", EventPhase::Start), 1);
    // 40 frames 0.1 s apart (the engine kept seeing frames while the yard was empty).
    assert!((sim.engine.heatmap().total_seconds() - 4.0).abs() < 1e-3);
}

#[test]
fn heatmap_accumulates_seconds_where_people_stand() {
    let mut sim = Sim::new(SITE);
    sim.run(101, |_| vec![person(1, 0.25, 0.75)]);
    let h = sim.engine.heatmap();
    // 100 intervals of 0.1 s in cell (2, 7); nothing elsewhere.
    assert!((h.value(2, 7) - 10.0).abs() < 1e-3, "{}", h.value(2, 7));
    assert!((h.total_seconds() - 10.0).abs() < 1e-3);
    assert_eq!(h.max(), h.value(2, 7));
    let img = h.render_over(&BgrImage::filled(192, 108, 100), 0.7);
    assert_ne!(
        img.get(48, 81),
        [100, 100, 100],
        "hot where the person stood"
    );
    assert_eq!(img.get(150, 20), [100, 100, 100], "untouched elsewhere");
    sim.engine.reset_heatmap();
    assert_eq!(sim.engine.heatmap().total_seconds(), 0.0);
}

#[test]
fn privacy_masks_are_exposed_and_blacked_out() {
    let engine = engine(SITE);
    let masks = engine.privacy_masks();
    assert_eq!(masks.len(), 1);
    assert_eq!(masks[0].name, "Window");
    assert_eq!(privacy_masks(&config(SITE)).unwrap(), masks);
    let mut img = BgrImage::filled(200, 100, 255);
    black_out_masks(&mut img, masks);
    assert_eq!(img.get(10, 10), [0, 0, 0]);
    assert_eq!(img.get(49, 49), [0, 0, 0]);
    assert_eq!(img.get(50, 10), [255, 255, 255]);
    assert_eq!(img.get(10, 50), [255, 255, 255]);
}

fn scenario() -> Vec<vigil_core::Event> {
    let mut sim = Sim::new(SITE);
    sim.run(300, |i| {
        (0..5u64)
            .map(|k| {
                let phase = (i as f32 * 0.01 + k as f32 * 0.2) % 1.0;
                person(k + 1, 0.15 + 0.08 * k as f32, 0.15 + 0.7 * phase)
            })
            .collect()
    });
    sim.idle(12.0);
    sim.events
}

#[test]
fn the_same_frames_give_the_same_events_and_ids() {
    let a = scenario();
    let b = scenario();
    assert!(a.len() > 4, "{}", a.len());
    assert_eq!(a, b);
    // Ids: unique per event, sorted by start; all messages of one event share one.
    let mut starts: Vec<_> = a
        .iter()
        .filter(|e| e.phase == EventPhase::Start)
        .map(|e| e.id)
        .collect();
    let n = starts.len();
    let sorted = starts.clone();
    starts.sort();
    starts.dedup();
    assert_eq!(starts.len(), n);
    assert_eq!(starts, sorted, "ids grow with time");
    for e in &a {
        assert!(e.id.unix_ms() as i64 <= e.last.unix_ms);
    }
    // Another camera gets other ids for the same frames.
    let other = RuleEngine::new("back", &config(SITE), &CLASSES).unwrap();
    let mut sim = Sim {
        engine: other,
        t: T0,
        events: Vec::new(),
    };
    sim.run(40, |i| vec![person(1, 0.4, 0.2 + 0.015 * i as f32)]);
    let first_back = sim.events[0].id;
    assert!(a.iter().all(|e| e.id != first_back));
}

#[test]
fn events_serialize_to_json_with_string_ids() {
    let events = scenario();
    let e = events.iter().find(|e| e.rule == "Gate").unwrap();
    let json = serde_json::to_string(e).unwrap();
    assert!(json.contains(&format!("\"id\":\"{}\"", e.id)), "{json}");
    assert!(json.contains("\"type\":\"line_crossing\""), "{json}");
    assert!(json.contains("\"phase\":\"start\""), "{json}");
    let back: vigil_core::Event = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, e);
}

#[test]
fn the_best_view_is_the_highest_scoring_frame() {
    let mut sim = Sim::new(SITE);
    let scores = [0.5, 0.6, 0.95, 0.7, 0.6, 0.55];
    for (i, &s) in scores.iter().enumerate() {
        sim.frame(&[obj_scored(1, 0, 0.3 + 0.01 * i as f32, 0.3, s)]);
    }
    sim.idle(12.0);
    let end = sim.last_of("Yard intrusion");
    let best = end.best.unwrap();
    assert_eq!(best.score, 0.95);
    assert_eq!(best.time.unix_ms, T0 + 2 * FRAME_MS);
    assert_eq!(best.time.media, Time90k(2 * FRAME_MS * 90));
    assert_eq!(best.bbox, person(1, 0.3 + 0.01 * 2.0, 0.3).bbox);
    assert_eq!((best.frame_w, best.frame_h), (W, H));
}

#[test]
fn close_ends_every_open_event() {
    let mut sim = Sim::new(SITE);
    sim.run(20, |_| vec![person(1, 0.3, 0.3)]);
    assert_eq!(sim.phases("Yard intrusion"), [EventPhase::Start]);
    let ended = sim.engine.close();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].phase, EventPhase::End);
    assert!(sim.engine.close().is_empty());
}

#[test]
fn bad_frames_and_boxes_are_survived() {
    let mut engine = engine(SITE);
    let ctx = |t: i64, w, h| FrameContext {
        time_unix_ms: T0 + t,
        media_time: Time90k(t * 90),
        frame_w: w,
        frame_h: h,
    };
    let mut nan = person(1, 0.3, 0.3);
    nan.bbox = BBox::new(f32::NAN, 0.0, 10.0, 10.0);
    let mut inf = person(2, 0.3, 0.3);
    inf.score = f32::INFINITY;
    let huge = vigil_core::TrackedObject {
        bbox: BBox::new(-1e30, -1e30, 1e30, 1e30),
        ..person(3, 0.3, 0.3)
    };
    assert!(
        engine
            .update(&ctx(0, 0, 0), &[person(4, 0.3, 0.3)])
            .is_empty()
    );
    for t in 0..30 {
        engine.update(
            &ctx(t * 100, W, H),
            &[nan, inf, huge, person(5, 0.3, 0.3), person(5, 0.5, 0.5)],
        );
    }
    // Time going backwards, then a resolution change: handled, no panic.
    engine.update(&ctx(0, W, H), &[person(5, 0.3, 0.3)]);
    engine.update(&ctx(3100, 640, 360), &[person(5, 0.3, 0.3)]);
    let occ = engine.occupancy();
    assert_eq!(occ[0].count, 1, "only the one valid, de-duplicated track");
}

#[test]
fn counters_reset() {
    let mut sim = Sim::new(SITE);
    sim.run(40, |i| vec![person(1, 0.4, 0.2 + 0.015 * i as f32)]);
    assert_eq!(sim.engine.counters()[0].total.a_to_b, 1);
    sim.engine.reset_counters();
    assert_eq!(sim.engine.counters()[0].total.a_to_b, 0);
    assert_eq!(sim.engine.counters()[0].line, "Gate");
}
