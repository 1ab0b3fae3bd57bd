//! Line crossing and counting on synthetic tracks: direction, hysteresis against jitter, vertices, moving
//! along the line, going around its ends, once-per-track counting, event grouping.

mod common;

use common::*;
use vigil_core::{CrossingDirection, EventKind, EventPhase};

/// A horizontal line drawn left to right: side A above it, side B below it. A rule reports inbound crossings
/// only, another both directions.
const GATE: &str = r#"
timezone = "CET-1CEST,M3.5.0,M10.5.0/3"
[[line]]
name = "Gate line"
p1 = [0.2, 0.5]
p2 = [0.8, 0.5]
hysteresis = 0.02

[[rule]]
name = "In only"
kind = "line_crossing"
line = "Gate line"
direction = "in"

[[rule]]
name = "Any"
kind = "line_crossing"
line = "Gate line"
"#;

fn counts(sim: &Sim) -> (u64, u64) {
    let c = &sim.engine.counters()[0];
    (c.total.a_to_b, c.total.b_to_a)
}

#[test]
fn one_person_crossing_counts_once_in_the_right_direction() {
    let mut sim = Sim::new(GATE);
    walk(&mut sim, 1, &[(0.5, 0.3), (0.5, 0.7)], 30);
    assert_eq!(counts(&sim), (1, 0));
    let c = &sim.engine.counters()[0];
    assert_eq!((c.inbound(), c.outbound(), c.net()), (1, 0, 1));
    assert_eq!(c.by_class["person"].a_to_b, 1);
    // Cooldown 0: one event per crossing, Start and End in the same frame.
    assert_eq!(sim.phases("In only"), [EventPhase::Start, EventPhase::End]);
    let e = sim.last_of("In only");
    assert_eq!(
        e.kind,
        EventKind::LineCrossing {
            direction: CrossingDirection::AToB,
            inbound: true,
            inbound_count: 1,
            outbound_count: 0
        }
    );
    assert_eq!(e.line.as_deref(), Some("Gate line"));
    assert_eq!(e.track_ids, [1]);
    assert_eq!(e.class_name, "person");
    // 12:00 UTC + the frame where the point got 0.02 past the line; 14:00 in Berlin.
    assert!(
        e.description
            .starts_with("A person crossed 'Gate line' inbound at 14:00:0"),
        "{}",
        e.description
    );
    // The crossing is reported when the point settles 0.02 beyond the line: y >= 0.52, i.e. frame 16 of 30 (y = 0.3 + 0.4 * 16 / 29 = 0.5207).
    let frame_of_crossing = (e.start.unix_ms - T0) / FRAME_MS;
    assert_eq!(frame_of_crossing, 16);
}

#[test]
fn walking_the_other_way_counts_out_and_the_inbound_rule_stays_quiet() {
    let mut sim = Sim::new(GATE);
    walk(&mut sim, 1, &[(0.5, 0.7), (0.5, 0.3)], 30);
    assert_eq!(counts(&sim), (0, 1));
    let c = &sim.engine.counters()[0];
    assert_eq!((c.inbound(), c.outbound(), c.net()), (0, 1, -1));
    assert!(sim.phases("In only").is_empty());
    assert_eq!(sim.phases("Any"), [EventPhase::Start, EventPhase::End]);
    assert!(sim.last_of("Any").description.contains("outbound"));
}

#[test]
fn jitter_on_the_line_never_counts() {
    let mut sim = Sim::new(GATE);
    walk(&mut sim, 1, &[(0.5, 0.3), (0.5, 0.5)], 20);
    // Boxes jittering 0.015 either side of the line (less than the 0.02 hysteresis) for 20 s.
    sim.run(200, |i| {
        let y = if i % 2 == 0 { 0.515 } else { 0.485 };
        vec![person(1, 0.5 + (i % 7) as f32 * 0.005, y)]
    });
    assert_eq!(counts(&sim), (0, 0), "jitter must not count");
    // Back where it came from: still nothing.
    walk(&mut sim, 1, &[(0.5, 0.5), (0.5, 0.3)], 20);
    assert_eq!(counts(&sim), (0, 0));
    assert!(sim.events.is_empty());
}

#[test]
fn jitter_then_walking_on_counts_exactly_once() {
    let mut sim = Sim::new(GATE);
    walk(&mut sim, 1, &[(0.5, 0.3), (0.5, 0.5)], 20);
    sim.run(100, |i| {
        let y = if i % 2 == 0 { 0.51 } else { 0.49 };
        vec![person(1, 0.5, y)]
    });
    walk(&mut sim, 1, &[(0.5, 0.5), (0.5, 0.8)], 20);
    assert_eq!(counts(&sim), (1, 0));
    assert_eq!(sim.count("Any", EventPhase::Start), 1);
}

#[test]
fn a_path_through_the_lines_end_vertex_counts_and_one_beside_it_does_not() {
    let mut sim = Sim::new(GATE);
    // Straight down through p2 = (0.8, 0.5), hitting the vertex exactly in one frame.
    walk(&mut sim, 1, &[(0.8, 0.3), (0.8, 0.7)], 21);
    assert_eq!(counts(&sim), (1, 0), "through the vertex");
    // Just beyond the end.
    walk(&mut sim, 2, &[(0.81, 0.3), (0.81, 0.7)], 21);
    assert_eq!(counts(&sim), (1, 0), "beside the end");
    // Through p1 the other way.
    walk(&mut sim, 3, &[(0.2, 0.7), (0.2, 0.3)], 21);
    assert_eq!(counts(&sim), (1, 1), "through the start vertex");
}

#[test]
fn moving_along_the_line_counts_once_or_not_at_all() {
    let mut sim = Sim::new(GATE);
    // Onto the line from A, along it exactly for 3 s, then off to B.
    walk(
        &mut sim,
        1,
        &[(0.3, 0.3), (0.3, 0.5), (0.7, 0.5), (0.7, 0.7)],
        30,
    );
    assert_eq!(counts(&sim), (1, 0));
    // Onto the line from A, along it, then back to A.
    walk(
        &mut sim,
        2,
        &[(0.3, 0.3), (0.3, 0.5), (0.7, 0.5), (0.7, 0.3)],
        30,
    );
    assert_eq!(counts(&sim), (1, 0));
    // Along the line's extension beyond its end, then into B: went around the end, no count.
    walk(
        &mut sim,
        3,
        &[(0.9, 0.3), (0.9, 0.5), (0.85, 0.5), (0.85, 0.7)],
        30,
    );
    assert_eq!(counts(&sim), (1, 0));
}

#[test]
fn going_around_the_end_does_not_count_but_a_jump_across_does() {
    let mut sim = Sim::new(GATE);
    walk(
        &mut sim,
        1,
        &[(0.5, 0.4), (0.9, 0.45), (0.9, 0.55), (0.5, 0.6)],
        20,
    );
    assert_eq!(counts(&sim), (0, 0), "around the end");
    // A slow analysis rate: one frame on A, the next far on B.
    sim.frame(&[person(2, 0.5, 0.2)]);
    sim.frame(&[person(2, 0.5, 0.8)]);
    assert_eq!(counts(&sim), (1, 0), "a jump across in one frame");
    // A track hidden on one side that reappears on the other (same id) crossed.
    sim.frame(&[person(3, 0.4, 0.8)]);
    sim.idle(2.0);
    sim.frame(&[person(3, 0.4, 0.2)]);
    assert_eq!(counts(&sim), (1, 1), "crossed while hidden");
}

#[test]
fn each_track_counts_at_most_once_per_direction_unless_configured() {
    let path = [(0.5, 0.3), (0.5, 0.7), (0.5, 0.3), (0.5, 0.7), (0.5, 0.3)];
    let mut sim = Sim::new(GATE);
    walk(&mut sim, 1, &path, 15);
    assert_eq!(counts(&sim), (1, 1));
    let mut sim = Sim::new(&GATE.replace(
        "hysteresis = 0.02",
        "hysteresis = 0.02\nonce_per_track = false",
    ));
    walk(&mut sim, 1, &path, 15);
    assert_eq!(counts(&sim), (2, 2));
}

#[test]
fn crossings_within_the_cooldown_are_one_event_with_updates() {
    let toml = r#"
[[line]]
name = "Gate line"
p1 = [0.2, 0.5]
p2 = [0.8, 0.5]

[[rule]]
name = "Group"
kind = "line_crossing"
line = "Gate line"
cooldown = "5s"
"#;
    let mut sim = Sim::new(toml);
    // Three people cross 1.5 s apart; a car crosses too.
    sim.run(80, |i| {
        (0..3u64)
            .map(|k| {
                let start = k as usize * 15;
                let (x, y) = lerp(
                    (0.3 + 0.1 * k as f32, 0.3),
                    (0.3 + 0.1 * k as f32, 0.7),
                    i.saturating_sub(start).min(30),
                    31,
                );
                person(k + 1, x, y)
            })
            .chain(std::iter::once(obj(9, 2, 0.7, 0.7 - 0.005 * i as f32)))
            .collect()
    });
    sim.idle(6.0);
    let c = &sim.engine.counters()[0];
    assert_eq!(c.total.a_to_b, 3);
    assert_eq!(c.total.b_to_a, 1);
    assert_eq!(c.by_class["car"].b_to_a, 1);
    assert_eq!(sim.count("Group", EventPhase::Start), 1);
    assert_eq!(sim.count("Group", EventPhase::End), 1);
    assert!(sim.count("Group", EventPhase::Update) >= 1);
    let end = sim.last_of("Group");
    assert_eq!(end.phase, EventPhase::End);
    assert_eq!(end.object_count(), 4);
    assert!(matches!(
        end.kind,
        EventKind::LineCrossing {
            inbound_count: 3,
            outbound_count: 1,
            ..
        }
    ));
    assert_eq!(end.class_name, "person");
    assert!(
        end.description.starts_with(
            "4 objects (3 people, 1 car) crossed 'Gate line' (3 inbound, 1 outbound) between"
        ),
        "{}",
        end.description
    );
    // All messages of the event share its id.
    assert!(sim.events.iter().all(|e| e.id == end.id));
}

#[test]
fn the_center_anchor_follows_the_box_centre() {
    // With the centre anchor, a box whose bottom crosses but whose centre stays above does not count.
    let toml = GATE.replace(
        "hysteresis = 0.02",
        "hysteresis = 0.02\nanchor = \"center\"",
    );
    let mut sim = Sim::new(&toml);
    // Box height 160 px = 0.148 of the frame: bottom at 0.585 puts the centre at 0.511, inside the band.
    walk(&mut sim, 1, &[(0.5, 0.3), (0.5, 0.585)], 30);
    assert_eq!(counts(&sim), (0, 0));
    walk(&mut sim, 1, &[(0.5, 0.585), (0.5, 0.8)], 30);
    assert_eq!(counts(&sim), (1, 0));
}
