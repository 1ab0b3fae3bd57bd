//! Zone rules on synthetic tracks: intrusion (with schedules), loitering through occlusions, crowding with
//! hysteresis, queues and waits, cooldown and deduplication, filters and anchors.

mod common;

use common::*;
use vigil_core::{EventKind, EventPhase};

const DOCK: &str = r#"
timezone = "+02:00"
[[zone]]
name = "Dock"
points = [[0.2, 0.4], [0.8, 0.4], [0.8, 0.9], [0.2, 0.9]]
classes = ["person"]
"#;

fn with_rule(rule: &str) -> String {
    format!("{DOCK}\n[[rule]]\n{rule}")
}

#[test]
fn a_person_entering_and_leaving_is_one_intrusion_event() {
    let mut sim = Sim::new(&with_rule(
        "name = \"In\"\nkind = \"intrusion\"\nzone = \"Dock\"",
    ));
    sim.run(10, |i| {
        let (x, y) = lerp((0.1, 0.6), (0.3, 0.6), i, 10);
        vec![person(1, x, y)]
    });
    sim.run(50, |_| vec![person(1, 0.3, 0.6)]);
    sim.run(10, |i| {
        let (x, y) = lerp((0.3, 0.6), (0.1, 0.6), i, 10);
        vec![person(1, x, y)]
    });
    sim.idle(12.0);
    assert_eq!(sim.phases("In"), [EventPhase::Start, EventPhase::End]);
    let start = &sim.events[0];
    let end = &sim.events[1];
    assert_eq!(start.kind, EventKind::Intrusion);
    assert_eq!(start.id, end.id);
    // x reaches 0.2 (the zone's edge) at frame 5 of the walk in; the stay begins there.
    assert_eq!(start.start.unix_ms, T0 + 5 * FRAME_MS);
    assert_eq!(end.end, Some(end.last));
    // Last frame inside: frame 10 + 50 + 4 of the walk out (x = 0.211).
    assert_eq!(end.last.unix_ms, T0 + 64 * FRAME_MS);
    assert_eq!(
        start.description,
        "A person entered 'Dock' at 14:00:00 UTC+2"
    );
    assert_eq!(
        end.description,
        "A person was in 'Dock' for 6 s (14:00:00–14:00:06 UTC+2)"
    );
    assert_eq!(end.best.map(|b| b.track_id), Some(1));
}

#[test]
fn a_single_frame_inside_or_jitter_on_the_edge_does_not_flap() {
    let mut sim = Sim::new(&with_rule(
        "name = \"In\"\nkind = \"intrusion\"\nzone = \"Dock\"",
    ));
    // One frame just inside (enter_frames = 2): nothing.
    sim.frame(&[person(1, 0.1, 0.6)]);
    sim.frame(&[person(1, 0.21, 0.6)]);
    sim.frame(&[person(1, 0.1, 0.6)]);
    sim.idle(12.0);
    assert!(sim.events.is_empty(), "{:?}", sim.events);
    // On the edge for 20 s: two frames in, two frames out, ... one event, not dozens.
    sim.run(200, |i| {
        let x = if i % 4 < 2 { 0.21 } else { 0.19 };
        vec![person(2, x, 0.6)]
    });
    sim.idle(12.0);
    assert_eq!(sim.phases("In"), [EventPhase::Start, EventPhase::End]);
}

#[test]
fn intrusion_schedules_arm_in_local_time_including_overnight_windows() {
    let rule = r#"name = "Night"
kind = "intrusion"
zone = "Dock"
schedule = [{ days = ["weekdays"], from = "22:00", to = "06:00" }]"#;
    // Friday 21:59:50 local (+02:00) = 19:59:50 UTC; someone is already in the zone.
    let fri_2159 = T0 + (7 * 3600 + 59 * 60 + 50) * 1000;
    let mut sim = Sim::at(&with_rule(rule), fri_2159);
    sim.run(200, |_| vec![person(1, 0.5, 0.6)]);
    let start = sim
        .events
        .iter()
        .find(|e| e.phase == EventPhase::Start)
        .expect("armed at 22:00");
    assert_eq!(
        start.start.unix_ms,
        fri_2159 + 10_000,
        "the situation begins when armed"
    );
    assert_eq!(
        start.description,
        "A person entered 'Dock' at 22:00:00 UTC+2"
    );
    // Nothing was emitted before 22:00.
    let first_frame_with_event = sim.events.iter().map(|e| e.last.unix_ms).min().unwrap_or(0);
    assert!(first_frame_with_event >= fri_2159 + 10_000);

    // Saturday 05:59 local belongs to Friday's window: armed.
    let sat_0559 = T0 + (15 * 3600 + 59 * 60) * 1000;
    let mut sim = Sim::at(&with_rule(rule), sat_0559);
    sim.run(30, |_| vec![person(1, 0.5, 0.6)]);
    assert_eq!(sim.count("Night", EventPhase::Start), 1);
    // At 06:00 the window closes: the event ends after its cooldown (10 s), the person still there.
    sim.run(660, |_| vec![person(1, 0.5, 0.6)]); // until 06:00:09
    assert_eq!(sim.count("Night", EventPhase::End), 0);
    sim.run(30, |_| vec![person(1, 0.5, 0.6)]);
    let end = sim.last_of("Night");
    assert_eq!(end.phase, EventPhase::End);
    assert_eq!(
        end.end.unwrap().unix_ms,
        sat_0559 + 60_000 - FRAME_MS,
        "last armed frame 05:59:59.9"
    );

    // Saturday 10:00 local: not armed (weekdays only; Saturday night is not in the window).
    let sat_1000 = T0 + (20 * 3600) * 1000;
    let mut sim = Sim::at(&with_rule(rule), sat_1000);
    sim.run(100, |_| vec![person(1, 0.5, 0.6)]);
    assert!(sim.events.is_empty());
}

const LOITER: &str =
    "name = \"Loiter\"\nkind = \"loitering\"\nzone = \"Dock\"\nmin_dwell = \"30s\"";

#[test]
fn loitering_through_a_two_second_occlusion_is_one_event() {
    let mut sim = Sim::new(&with_rule(LOITER));
    sim.run(100, |_| vec![person(1, 0.5, 0.6)]); // 10 s
    sim.idle(2.0); // hidden: no track at all
    sim.run(300, |_| vec![person(1, 0.5, 0.6)]); // 30 s more
    sim.run(20, |_| vec![person(1, 0.1, 0.6)]); // walks out
    sim.idle(12.0);
    assert_eq!(sim.phases("Loiter"), [EventPhase::Start, EventPhase::End]);
    let start = &sim.events[0];
    // 30 s of dwell including the 2 s gap: reported at 30 s after the stay began (frame 1, confirmed at 2).
    assert_eq!(start.last.unix_ms - start.start.unix_ms, 30_000);
    let end = sim.last_of("Loiter");
    let EventKind::Loitering { dwell_ms, .. } = end.kind else {
        panic!("{:?}", end.kind)
    };
    assert_eq!(
        dwell_ms, 41_900,
        "10 s + 2 s hidden + 30 s, first to last frame inside"
    );
    assert_eq!(
        end.description,
        "A person stayed 42 s in 'Dock' (14:00:00–14:00:41 UTC+2)"
    );
}

#[test]
fn loitering_survives_a_new_track_id_after_occlusion_but_not_a_long_absence() {
    // The tracker lost the person and gave a new id when they reappeared at the same place.
    let mut sim = Sim::new(&with_rule(LOITER));
    sim.run(100, |_| vec![person(1, 0.5, 0.6)]);
    sim.idle(2.0);
    sim.run(300, |_| vec![person(2, 0.51, 0.6)]);
    sim.idle(12.0);
    assert_eq!(sim.phases("Loiter"), [EventPhase::Start, EventPhase::End]);
    assert_eq!(sim.events[0].track_ids, [2]);
    let EventKind::Loitering { dwell_ms, .. } = sim.last_of("Loiter").kind else {
        panic!()
    };
    assert_eq!(dwell_ms, 41_900);

    // Gone for 5 s (longer than the 3 s grace): two separate stays of 20 s, neither long enough.
    let mut sim = Sim::new(&with_rule(LOITER));
    sim.run(200, |_| vec![person(1, 0.5, 0.6)]);
    sim.idle(5.0);
    sim.run(200, |_| vec![person(1, 0.5, 0.6)]);
    sim.idle(12.0);
    assert!(sim.events.is_empty(), "{:?}", sim.phases("Loiter"));

    // Same absence, but 2 s: one stay of 42 s.
    let mut sim = Sim::new(&with_rule(LOITER));
    sim.run(200, |_| vec![person(1, 0.5, 0.6)]);
    sim.idle(2.0);
    sim.run(200, |_| vec![person(1, 0.5, 0.6)]);
    sim.idle(12.0);
    assert_eq!(sim.phases("Loiter"), [EventPhase::Start, EventPhase::End]);
}

#[test]
fn one_loiterer_is_one_event_with_heartbeats_and_a_return_within_cooldown_continues_it() {
    let rule = "name = \"Loiter\"\nkind = \"loitering\"\nzone = \"Dock\"\nmin_dwell = \"5s\"\n\
                cooldown = \"20s\"\nupdate_every = \"10s\"";
    let mut sim = Sim::new(&with_rule(rule));
    sim.run(400, |_| vec![person(1, 0.5, 0.6)]); // 40 s
    sim.run(100, |_| vec![person(1, 0.1, 0.6)]); // out for 10 s
    sim.run(100, |_| vec![person(1, 0.5, 0.6)]); // back for 10 s
    sim.run(250, |_| vec![person(1, 0.1, 0.6)]); // out for 25 s
    let phases = sim.phases("Loiter");
    assert_eq!(phases.first(), Some(&EventPhase::Start));
    assert_eq!(phases.last(), Some(&EventPhase::End));
    assert_eq!(sim.count("Loiter", EventPhase::Start), 1, "{phases:?}");
    assert_eq!(sim.count("Loiter", EventPhase::End), 1);
    // Heartbeats every 10 s while it holds: at 15, 25, 35 s of the first stay, and once in the second.
    let updates = sim.count("Loiter", EventPhase::Update);
    assert!((3..=5).contains(&updates), "{updates} updates: {phases:?}");
    let id = sim.events[0].id;
    assert!(sim.events.iter().all(|e| e.id == id));

    // Coming back after the event ended is a new event with a later id.
    sim.run(100, |_| vec![person(1, 0.5, 0.6)]);
    let new_start = sim.events.last().unwrap();
    assert_eq!(new_start.phase, EventPhase::Start);
    assert!(new_start.id > id);
}

#[test]
fn crowding_needs_the_count_for_long_enough_and_does_not_flap() {
    let rule = "name = \"Crowd\"\nkind = \"crowding\"\nzone = \"Dock\"\nmore_than = 3\n\
                min_duration = \"5s\"\ncooldown = \"10s\"";
    let mut sim = Sim::new(&with_rule(rule));
    let inside = |n: u64| -> Vec<_> {
        (0..n)
            .map(|k| person(k + 1, 0.25 + 0.1 * k as f32, 0.6))
            .chain((n..6).map(|k| person(k + 1, 0.1, 0.2 + 0.1 * k as f32)))
            .collect()
    };
    // 4 people for 3 s only: not long enough.
    sim.run(30, |_| inside(4));
    sim.run(30, |_| inside(3));
    assert!(sim.events.is_empty());
    // 4 for 8 s: starts 5 s after the count went over 3.
    sim.run(80, |_| inside(4));
    assert_eq!(sim.phases("Crowd"), [EventPhase::Start]);
    // 5 people: a new peak (an update); then back to 3 for 6 s (within the cooldown), then 4 again.
    sim.run(30, |_| inside(5));
    sim.run(60, |_| inside(3));
    sim.run(50, |_| inside(4));
    // Everyone leaves: ends after the cooldown.
    sim.run(150, |_| inside(0));
    assert_eq!(
        sim.count("Crowd", EventPhase::Start),
        1,
        "{:?}",
        sim.phases("Crowd")
    );
    assert_eq!(sim.count("Crowd", EventPhase::End), 1);
    let end = sim.last_of("Crowd");
    let EventKind::Crowding {
        peak, more_than, ..
    } = end.kind
    else {
        panic!()
    };
    assert_eq!((peak, more_than), (5, 3));
    assert_eq!(end.object_count(), 5);
    assert!(
        end.description
            .starts_with("Up to 5 people in 'Dock' (more than 3) for "),
        "{}",
        end.description
    );
    let start = &sim.events[0];
    // The count went over 3 when the 4th person was confirmed in (2nd frame of the 8 s period).
    assert_eq!(start.start.unix_ms, T0 + 61 * FRAME_MS);
    assert_eq!(start.last.unix_ms - start.start.unix_ms, 5000);
}

#[test]
fn queue_length_waits_and_events() {
    let toml = r#"
[[zone]]
name = "Till"
points = [[0.5, 0.5], [0.9, 0.5], [0.9, 0.9], [0.5, 0.9]]

[[rule]]
name = "Queue"
kind = "queue"
zone = "Till"
classes = ["person"]
more_than = 2
"#;
    let mut sim = Sim::new(toml);
    // Person k (0..4) joins at 5k s and leaves at 30 + 5k s.
    let at = |t: f32| -> Vec<_> {
        (0..4u64)
            .map(|k| {
                let joined = t >= 5.0 * k as f32 && t < 30.0 + 5.0 * k as f32;
                let x = if joined { 0.55 + 0.08 * k as f32 } else { 0.2 };
                person(k + 1, x, 0.7)
            })
            .collect()
    };
    sim.run(200, |i| at(i as f32 * 0.1));
    // At 19.9 s: four people waiting for 19.8, 14.8, 9.8, 4.8 s (since their first frame inside).
    let occ = &sim.engine.occupancy()[0];
    assert_eq!(occ.count, 4);
    assert_eq!(occ.by_class["person"], 4);
    assert_eq!(occ.waiting.count, 4);
    assert_eq!(occ.waiting.max_ms, 19_900);
    assert_eq!(occ.waiting.mean_ms, 12_400);
    let waits: Vec<(u64, u64)> = occ
        .members
        .iter()
        .map(|m| (m.track_id, m.wait_ms))
        .collect();
    assert_eq!(waits, [(1, 19_900), (2, 14_900), (3, 9_900), (4, 4_900)]);
    sim.run(400, |i| at(20.0 + i as f32 * 0.1));
    let occ = &sim.engine.occupancy()[0];
    assert_eq!(occ.count, 0);
    assert_eq!(occ.completed.count, 4);
    // Each stayed from its first to its last frame inside: 29.9 s.
    assert_eq!(occ.completed.max_ms, 29_900);
    assert_eq!(occ.completed.mean_ms, 29_900);
    assert_eq!(
        sim.phases("Queue"),
        [EventPhase::Start, EventPhase::Update, EventPhase::End]
    );
    let end = sim.last_of("Queue");
    let EventKind::Queue {
        peak_length,
        max_wait_ms,
        ..
    } = end.kind
    else {
        panic!()
    };
    assert_eq!(peak_length, 4);
    assert_eq!(
        max_wait_ms, 29_900,
        "time in the queue, not counting the leave hysteresis"
    );
    assert!(
        end.description.starts_with("Queue in 'Till' for "),
        "{}",
        end.description
    );
    assert!(
        end.description.contains("up to 4 people"),
        "{}",
        end.description
    );
}

#[test]
fn occupancy_history_samples_each_minute() {
    let mut sim = Sim::new(DOCK);
    sim.run(600, |_| vec![person(1, 0.3, 0.6), person(2, 0.6, 0.6)]);
    sim.run(600, |_| vec![]);
    sim.run(600, |_| vec![person(3, 0.3, 0.6)]);
    let h = sim.engine.occupancy_history("Dock").unwrap();
    assert_eq!(h.len(), 3);
    assert!((h[0].mean - 2.0).abs() < 0.05, "{:?}", h[0]);
    assert_eq!((h[0].min, h[0].max), (0, 2));
    // The second minute still holds the 3 s of grace before the two count as gone.
    assert!(h[1].mean < 0.15 && h[1].max == 2, "{:?}", h[1]);
    assert!((h[2].mean - 1.0).abs() < 0.05, "{:?}", h[2]);
    assert_eq!(h[1].start_unix_ms - h[0].start_unix_ms, 60_000);
    assert!(sim.engine.occupancy_history("Nowhere").is_none());
}

#[test]
fn filters_keep_out_other_classes_low_scores_and_tiny_boxes() {
    let toml = r#"
[[zone]]
name = "Yard"
points = [[0.2, 0.4], [0.8, 0.4], [0.8, 0.9], [0.2, 0.9]]
classes = ["person", "car"]
min_score = 0.5
min_area = 0.003

[[rule]]
name = "People"
kind = "intrusion"
zone = "Yard"
classes = ["person"]
"#;
    let mut sim = Sim::new(toml);
    sim.run(30, |_| vec![obj(1, 2, 0.5, 0.6)]); // a car
    assert_eq!(
        sim.engine.occupancy()[0].count,
        1,
        "the car counts in the zone, not for the rule"
    );
    sim.run(30, |_| vec![obj_scored(2, 0, 0.5, 0.6, 0.3)]); // a doubtful person
    sim.run(30, |_| vec![obj(7, 7, 0.5, 0.6)]); // a truck
    let mut tiny = person(3, 0.5, 0.6);
    tiny.bbox = vigil_core::BBox::new(950.0, 640.0, 970.0, 648.0); // 20x8 px, 0.00008 of the frame
    sim.run(30, |_| vec![tiny]);
    assert!(sim.events.is_empty(), "{:?}", sim.events);
    // Once the track has reached the score it counts, even if its score dips again.
    sim.frame(&[obj_scored(2, 0, 0.5, 0.6, 0.6)]);
    sim.run(20, |_| vec![obj_scored(2, 0, 0.5, 0.6, 0.35)]);
    assert_eq!(sim.phases("People"), [EventPhase::Start]);
    assert_eq!(sim.events[0].best.unwrap().score, 0.6);
}

#[test]
fn anchors_choose_which_part_of_the_box_must_be_inside() {
    let zone = |anchor: &str| {
        format!(
            "[[zone]]\nname = \"Z\"\npoints = [[0.4, 0.0], [1.0, 0.0], [1.0, 1.0], [0.4, 1.0]]\nanchor = {anchor}\n\
             [[rule]]\nname = \"R\"\nkind = \"intrusion\"\nzone = \"Z\""
        )
    };
    // A 60 px box from x = 0.3744 to 0.4056 on a zone starting at 0.4: the bottom centre (0.39) is outside,
    // the right corners and 18% of the box are inside.
    let box_at = |id| person(id, 0.39, 0.6);
    let fires = |anchor: &str| {
        let mut sim = Sim::new(&zone(anchor));
        sim.run(10, |_| vec![box_at(1)]);
        !sim.events.is_empty()
    };
    assert!(!fires("\"bottom_center\""));
    assert!(!fires("\"center\""));
    assert!(fires("\"any_corner\""), "the right corners are inside");
    assert!(
        fires("{ overlap = 0.1 }"),
        "about a fifth of the box is inside"
    );
    assert!(!fires("{ overlap = 0.5 }"));
}

#[test]
fn a_box_reaching_past_the_frame_edge_is_in_a_zone_drawn_to_the_edge() {
    // Someone walks in at the bottom: the tracker's box reaches a few pixels below the frame.
    let toml = r#"
[[zone]]
name = "Aisle"
points = [[0.45, 0.35], [1.0, 0.35], [1.0, 1.0], [0.45, 1.0]]

[[rule]]
name = "Stay"
kind = "loitering"
zone = "Aisle"
min_dwell = "2s"
"#;
    let mut sim = Sim::new(toml);
    sim.run(30, |i| {
        let mut p = person(1, 0.7, 1.0);
        p.bbox.y2 += if i % 2 == 0 { 3.0 } else { 1.0 };
        vec![p]
    });
    assert_eq!(sim.phases("Stay"), [EventPhase::Start]);
    assert_eq!(sim.engine.occupancy()[0].count, 1);
}

/// People boxes (frame pixels) of a crowd count, feet at normalized (x, y).
fn crowd_boxes(feet: &[(f32, f32)]) -> Vec<vigil_core::BBox> {
    feet.iter().map(|&(x, y)| person(0, x, y).bbox).collect()
}

#[test]
fn crowding_and_occupancy_count_the_crowd_counters_people_while_fresh() {
    let rule = "name = \"Crowd\"\nkind = \"crowding\"\nzone = \"Dock\"\nmore_than = 3\n\
                min_duration = 0\ncooldown = \"2s\"";
    let text = format!("{}\n[occupancy]\ncrowd_occupancy = true\n", with_rule(rule));
    let mut sim = Sim::new(&text);
    assert_eq!(
        sim.engine.people_count_every(),
        Some(std::time::Duration::from_secs(1))
    );
    // The tracker holds 2 people in the dock; the crowd counter sees 5 there and 2 outside it.
    let tracked = || vec![person(1, 0.3, 0.6), person(2, 0.5, 0.6)];
    sim.run(10, |_| tracked());
    assert!(sim.events.is_empty(), "2 tracks are not more than 3");
    assert_eq!(sim.engine.occupancy()[0].count, 2);
    let feet = [
        (0.3, 0.6),
        (0.4, 0.6),
        (0.5, 0.6),
        (0.6, 0.8),
        (0.7, 0.5),
        (0.1, 0.3),
        (0.9, 0.6),
    ];
    let ctx = vigil_rules::FrameContext {
        time_unix_ms: sim.t,
        media_time: vigil_core::Time90k(0),
        frame_w: W,
        frame_h: H,
    };
    sim.engine.set_people(&ctx, &crowd_boxes(&feet));
    sim.run(10, |_| tracked());
    assert_eq!(sim.phases("Crowd"), [EventPhase::Start]);
    let EventKind::Crowding { count, .. } = sim.events[0].kind else {
        panic!("{:?}", sim.events[0].kind)
    };
    assert_eq!(count, 5, "the counter's people in the zone, not the tracks");
    let occ = &sim.engine.occupancy()[0];
    assert_eq!((occ.count, occ.by_class.get("person")), (5, Some(&5)));
    assert_eq!(sim.engine.people_in_view(), Some(7));
    // The counter stops: its count goes stale after 3 s and the tracks count again; the event ends.
    sim.run(60, |_| tracked());
    assert_eq!(sim.phases("Crowd"), [EventPhase::Start, EventPhase::End]);
    assert_eq!(sim.engine.occupancy()[0].count, 2);
    assert_eq!(sim.engine.people_in_view(), None);
}

#[test]
fn crowd_counts_are_wanted_only_by_rules_that_count_people() {
    let crowd = "name = \"Crowd\"\nkind = \"crowding\"\nzone = \"Dock\"\nmore_than = 3";
    let off = format!("{}\n[occupancy]\ncount_every = 0\n", with_rule(crowd));
    assert_eq!(engine(&off).people_count_every(), None);
    let cars = "[[zone]]\nname = \"Lot\"\npoints = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]\n\
                [[rule]]\nname = \"Full\"\nkind = \"crowding\"\nzone = \"Lot\"\n\
                classes = [\"car\"]\nmore_than = 3\n[occupancy]\ncount_every = \"2s\"";
    assert_eq!(engine(cars).people_count_every(), None);
    let intrusion = with_rule("name = \"In\"\nkind = \"intrusion\"\nzone = \"Dock\"");
    assert_eq!(engine(&intrusion).people_count_every(), None);
    let people = format!("{}\n[occupancy]\ncount_every = \"2s\"\n", with_rule(crowd));
    assert_eq!(
        engine(&people).people_count_every(),
        Some(std::time::Duration::from_secs(2))
    );
    // A count every 10 ms would spend the detector on nothing else.
    let fast = format!(
        "{}\n[occupancy]\ncount_every = \"10ms\"\n",
        with_rule(crowd)
    );
    assert!(vigil_rules::RuleEngine::new("front", &config(&fast), &CLASSES).is_err());
}
