//! The second opinion of intrusion rules (`unclassified_after`): motion that keeps moving in an armed zone
//! with no detection over it raises `unclassified_motion` under the rule's name; motion a track explains,
//! motion outside the zone, short motion and a disarmed schedule raise nothing.

mod common;

use common::*;
use vigil_core::{EventKind, EventPhase};

const YARD: &str = r#"
timezone = "+02:00"
[[zone]]
name = "Yard"
points = [[0.2, 0.4], [0.8, 0.4], [0.8, 0.9], [0.2, 0.9]]
classes = ["person"]

[[rule]]
name = "Yard intrusion"
kind = "intrusion"
zone = "Yard"
unclassified_after = "3s"
"#;

/// Frames with nothing moving for `secs` seconds (the second opinion runs on them too).
fn quiet(sim: &mut Sim, secs: f32) {
    for _ in 0..(secs * 1000.0 / FRAME_MS as f32) as usize {
        sim.frame_with_motion(&[], &[]);
    }
}

/// A blob of motion about a person's size with its feet at (x, y), walking.
fn blob(x: f32, y: f32) -> (f32, f32, f32, f32) {
    (x - 0.02, y - 0.15, x + 0.02, y)
}

#[test]
fn motion_no_detector_explains_raises_unclassified_motion_after_its_time() {
    let mut sim = Sim::new(YARD);
    // Something crosses the yard for 6 s; the detector sees nothing (blinded).
    for i in 0..60 {
        let x = 0.25 + 0.005 * i as f32;
        sim.frame_with_motion(&[], &[blob(x, 0.7)]);
    }
    quiet(&mut sim, 15.0);
    let ev: Vec<_> = sim
        .events
        .iter()
        .filter(|e| e.rule == "Yard intrusion")
        .collect();
    assert_eq!(
        ev.iter().map(|e| e.phase).collect::<Vec<_>>(),
        [EventPhase::Start, EventPhase::End],
        "{ev:#?}"
    );
    let start = ev[0];
    assert!(matches!(start.kind, EventKind::UnclassifiedMotion { moving_ms } if moving_ms >= 3000));
    assert_eq!(start.kind.name(), "unclassified_motion");
    assert_eq!(start.zone.as_deref(), Some("Yard"));
    assert_eq!(start.start.unix_ms, T0, "dated from when it started moving");
    assert!(
        start
            .description
            .starts_with("Something has moved in 'Yard' for 3 s"),
        "{}",
        start.description
    );
    // It ends after the cooldown, dated when the motion stopped.
    assert_eq!(ev[1].end.unwrap().unix_ms, T0 + 59 * FRAME_MS);
}

#[test]
fn a_detected_person_short_motion_and_motion_outside_the_zone_raise_none() {
    let mut sim = Sim::new(YARD);
    // A person the detector sees, with their motion: an intrusion, not unclassified motion.
    for i in 0..60 {
        let x = 0.25 + 0.005 * i as f32;
        sim.frame_with_motion(&[person(1, x, 0.7)], &[blob(x, 0.7)]);
    }
    quiet(&mut sim, 15.0);
    // Two seconds of unexplained motion (a bird, a shadow): under the rule's 3 s.
    for _ in 0..20 {
        sim.frame_with_motion(&[], &[blob(0.5, 0.6)]);
    }
    quiet(&mut sim, 15.0);
    // Trees moving outside the zone all the while.
    for _ in 0..100 {
        sim.frame_with_motion(&[], &[blob(0.9, 0.2)]);
    }
    let kinds: Vec<&str> = sim.events.iter().map(|e| e.kind.name()).collect();
    assert!(kinds.iter().all(|k| *k == "intrusion"), "{kinds:?}");
    assert_eq!(sim.count("Yard intrusion", EventPhase::Start), 1);
}

#[test]
fn a_disarmed_schedule_and_rules_without_it_raise_none() {
    // Armed only 01:00-02:00 local; the clock says 12:00 local.
    let disarmed = YARD.replace(
        "unclassified_after = \"3s\"",
        "unclassified_after = \"3s\"\nschedule = [{ days = [\"fri\"], from = \"01:00\", to = \"02:00\" }]",
    );
    let without = YARD.replace("unclassified_after = \"3s\"\n", "");
    for text in [disarmed, without] {
        let mut sim = Sim::new(&text);
        for _ in 0..80 {
            sim.frame_with_motion(&[], &[blob(0.5, 0.7)]);
        }
        assert!(sim.events.is_empty(), "{text}: {:?}", sim.events);
    }
    // Only intrusion rules take it.
    let bad = YARD.replace("kind = \"intrusion\"", "kind = \"crowding\"\nmore_than = 3");
    let err = vigil_rules::RuleEngine::new("cam", &config(&bad), &CLASSES).unwrap_err();
    assert!(err.to_string().contains("unclassified_after"), "{err}");
}

// An independent second detector (`second_opinion`): the engine asks, a stand-in detector answers.

const GATE: &str = r#"
[[zone]]
name = "Yard"
points = [[0.2, 0.4], [0.8, 0.4], [0.8, 0.9], [0.2, 0.9]]
classes = ["person"]

[[rule]]
name = "Yard intrusion"
kind = "intrusion"
zone = "Yard"
second_opinion = "MODE"
"#;

/// One frame through the rules and their second opinion: `sees` is what the second detector finds in
/// the requested regions (boxes in pixels). Returns the requests made.
fn frame_with_second(
    sim: &mut Sim,
    objs: &[vigil_core::TrackedObject],
    motion: &[(f32, f32, f32, f32)],
    sees: &[vigil_core::BBox],
) -> vigil_rules::SecondOpinionRequest {
    sim.frame_with_motion(objs, motion);
    let req = sim.engine.second_opinion_request();
    let seen: Vec<vigil_rules::SecondDetection> = sees
        .iter()
        .filter(|b| req.boxes().any(|r| r.intersection(b).area() > 0.0))
        .map(|b| vigil_rules::SecondDetection {
            class_name: "person".into(),
            score: 0.8,
            bbox: *b,
        })
        .collect();
    let ev = sim.engine.second_opinion_answer(&req, &seen);
    sim.events.extend(ev);
    req
}

#[test]
fn confirm_holds_the_event_of_an_object_the_second_detector_does_not_see() {
    let text = GATE.replace("MODE", "confirm");
    let mut sim = Sim::new(&text);
    sim.engine
        .set_second_model("stand-in", vec!["person".into()]);
    let real = |x: f32| person(1, x, 0.7);
    let phantom = person(2, 0.5, 0.5);
    let mut asked = Vec::new();
    for i in 0..50 {
        let r = real(0.3 + 0.004 * i as f32);
        // The second detector sees the real person (box a little off), never the phantom.
        let seen =
            vigil_core::BBox::new(r.bbox.x1 + 4.0, r.bbox.y1 - 6.0, r.bbox.x2 + 2.0, r.bbox.y2);
        let req = frame_with_second(&mut sim, &[r, phantom], &[], &[seen]);
        asked.extend(req.confirm.iter().map(|c| (i, c.track_id)));
    }
    let starts: Vec<_> = sim
        .events
        .iter()
        .filter(|e| e.phase == EventPhase::Start)
        .collect();
    assert_eq!(starts.len(), 1, "{starts:#?}");
    assert_eq!(starts[0].track_ids, [1]);
    // The real person is asked about once; the phantom again about every second, never every frame.
    assert_eq!(
        asked.iter().filter(|(_, id)| *id == 1).count(),
        1,
        "{asked:?}"
    );
    let phantom_asks = asked.iter().filter(|(_, id)| *id == 2).count();
    assert!((4..=6).contains(&phantom_asks), "{asked:?}");
    let stats = sim.engine.second_opinion_stats();
    assert_eq!(
        (stats.confirmed, stats.held, stats.suppressed),
        (1, 1, 1),
        "{stats:?}"
    );

    // Without a second detector the rule goes on as before: both raise an event.
    let mut plain = Sim::new(&text);
    for i in 0..50 {
        let r = real(0.3 + 0.004 * i as f32);
        frame_with_second(&mut plain, &[r, phantom], &[], &[]);
    }
    assert_eq!(plain.count("Yard intrusion", EventPhase::Start), 2);
}

#[test]
fn catch_raises_the_rule_on_what_the_second_detector_finds_in_unexplained_motion() {
    let text = GATE.replace("MODE", "catch");
    let run = |sees_it: bool| {
        let mut sim = Sim::new(&text);
        sim.engine
            .set_second_model("stand-in", vec!["person".into()]);
        let mut first_ask = None;
        // Someone crosses the yard for 6 s; the main detector sees nothing (blinded).
        for i in 0..60 {
            let x = 0.25 + 0.005 * i as f32;
            let (x1, y1, x2, y2) = blob(x, 0.7);
            let body =
                vigil_core::BBox::new(x1 * W as f32, y1 * H as f32, x2 * W as f32, y2 * H as f32);
            let sees = if sees_it { vec![body] } else { vec![] };
            let req = frame_with_second(&mut sim, &[], &[blob(x, 0.7)], &sees);
            if !req.catch.is_empty() && first_ask.is_none() {
                first_ask = Some(i);
            }
        }
        for _ in 0..150 {
            frame_with_second(&mut sim, &[], &[], &[]);
        }
        (sim, first_ask)
    };
    let (sim, first_ask) = run(true);
    // Looked at once the motion had gone unexplained for a second, not before.
    assert_eq!(first_ask, Some(10));
    let ev: Vec<_> = sim.events.iter().collect();
    assert_eq!(
        ev.iter().map(|e| e.phase).collect::<Vec<_>>(),
        [EventPhase::Start, EventPhase::End],
        "{ev:#?}"
    );
    assert_eq!(ev[0].kind, EventKind::Intrusion);
    assert_eq!(ev[0].class_name, "person");
    assert_eq!(ev[0].start.unix_ms, T0 + 10 * FRAME_MS);
    assert!(
        ev[0]
            .description
            .contains("seen by the second detector, stand-in"),
        "{}",
        ev[0].description
    );
    // It ends the rule's cooldown (10 s) after the last find, dated then.
    assert_eq!(ev[1].end.unwrap().unix_ms, T0 + 50 * FRAME_MS);
    let stats = sim.engine.second_opinion_stats();
    assert_eq!(stats.caught_events, 1);
    assert!(
        (5..=6).contains(&stats.catch_checks),
        "about once a second: {stats:?}"
    );
    // Motion the second detector finds nothing in raises nothing.
    let (sim, _) = run(false);
    assert!(sim.events.is_empty(), "{:?}", sim.events);
}

#[test]
fn second_opinion_is_for_intrusion_rules() {
    let bad = GATE
        .replace("MODE", "both")
        .replace("kind = \"intrusion\"", "kind = \"crowding\"\nmore_than = 3");
    let err = vigil_rules::RuleEngine::new("cam", &config(&bad), &CLASSES).unwrap_err();
    assert!(err.to_string().contains("second_opinion"), "{err}");
}
