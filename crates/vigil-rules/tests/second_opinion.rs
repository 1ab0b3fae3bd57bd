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
