//! Bad configuration gives errors that name the item, the field and the problem.

mod common;

use common::*;
use vigil_rules::{PolygonError, RuleEngine, RulesError};

fn error_of(toml_text: &str) -> RulesError {
    match RuleEngine::new("front", &config(toml_text), &CLASSES) {
        Ok(_) => panic!("accepted:\n{toml_text}"),
        Err(e) => e,
    }
}

fn message_of(toml_text: &str) -> String {
    error_of(toml_text).to_string()
}

#[test]
fn a_polygon_with_holes_is_refused() {
    let m = message_of(
        r#"
[[zone]]
name = "Courtyard"
points = [[[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]], [[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6]]]
"#,
    );
    assert!(m.starts_with("zone 'Courtyard': points:"), "{m}");
    assert!(
        m.contains("2 rings") && m.contains("holes are not supported"),
        "{m}"
    );
}

#[test]
fn a_self_intersecting_zone_is_refused_naming_the_edges() {
    let e = error_of(
        r#"
[[zone]]
name = "Bow tie"
points = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]
"#,
    );
    assert_eq!(
        e,
        RulesError::Polygon {
            item: "zone 'Bow tie'".into(),
            field: "points",
            source: PolygonError::SelfIntersecting {
                edge_a: (0, 1),
                edge_b: (2, 3)
            }
        }
    );
    assert!(
        e.to_string().contains(
            "zone 'Bow tie': points: the outline crosses itself: edge 0-1 crosses edge 2-3"
        ),
        "{e}"
    );
}

#[test]
fn degenerate_and_out_of_frame_zones_are_refused() {
    let m = message_of("[[zone]]\nname = \"Flat\"\npoints = [[0.1, 0.5], [0.5, 0.5], [0.9, 0.5]]");
    assert!(
        m.contains("zone 'Flat': points: the polygon has no area"),
        "{m}"
    );
    let m = message_of("[[zone]]\nname = \"Big\"\npoints = [[0, 0], [1920, 0], [1920, 1080]]");
    assert!(
        m.contains("zone 'Big': points: point 1 [1920, 0] is outside the frame"),
        "{m}"
    );
    let m = message_of("[[zone]]\nname = \"Two\"\npoints = [[0, 0], [1, 1]]");
    assert!(m.contains("at least 3 points, 2 given"), "{m}");
    let m = message_of("[[zone]]\nname = \"None\"");
    assert!(m.contains("zone 'None': points: required"), "{m}");
}

#[test]
fn names_must_be_present_and_unique() {
    let m = message_of(
        "[[zone]]\nname = \"A\"\npoints = [[0, 0], [1, 0], [1, 1]]\n[[zone]]\nname = \"A\"\npoints = [[0, 0], [1, 0], [1, 1]]",
    );
    assert_eq!(
        m,
        "zone name 'A' is used by items #1 and #2; names must be unique"
    );
    let m = message_of("[[line]]\np1 = [0, 0]\np2 = [1, 1]");
    assert_eq!(m, "line #1: name: required");
}

#[test]
fn lines_need_two_distinct_points_and_a_point_anchor() {
    let m = message_of("[[line]]\nname = \"L\"\np1 = [0.5, 0.5]\np2 = [0.5, 0.5]");
    assert!(m.contains("line 'L': p2: the line has zero length"), "{m}");
    let m = message_of("[[line]]\nname = \"L\"\np1 = [0.5, 0.5]");
    assert!(m.contains("line 'L': p2: required"), "{m}");
    let m = message_of("[[line]]\nname = \"L\"\np1 = [0, 0]\np2 = [1, 1]\nanchor = \"any_corner\"");
    assert!(
        m.contains("line 'L': anchor: must be a single point"),
        "{m}"
    );
    let m = message_of("[[line]]\nname = \"L\"\np1 = [0, 0]\np2 = [1, 1]\nhysteresis = 2.0");
    assert!(m.contains("line 'L': hysteresis"), "{m}");
}

const ZONE: &str =
    "[[zone]]\nname = \"Dock\"\npoints = [[0, 0], [1, 0], [1, 1]]\nclasses = [\"person\"]\n";

#[test]
fn rules_name_their_missing_or_misplaced_fields() {
    let rule = |body: &str| message_of(&format!("{ZONE}[[rule]]\nname = \"R\"\n{body}"));
    let m = rule("zone = \"Dock\"");
    assert!(m.contains("rule 'R': kind: required"), "{m}");
    let m = rule("kind = \"loitering\"\nzone = \"Dock\"");
    assert_eq!(
        m,
        "rule 'R' (loitering): min_dwell: required: how long is too long, e.g. \"2m\""
    );
    let m = rule("kind = \"loitering\"\nzone = \"Dok\"\nmin_dwell = 30");
    assert!(
        m.contains("rule 'R' (loitering): zone: no zone is named 'Dok'"),
        "{m}"
    );
    let m = rule("kind = \"intrusion\"\nzone = \"Dock\"\nmore_than = 3");
    assert!(
        m.contains("rule 'R' (intrusion): more_than: does not apply to intrusion rules"),
        "{m}"
    );
    let m = rule("kind = \"crowding\"\nzone = \"Dock\"");
    assert!(
        m.contains("rule 'R' (crowding): more_than: required"),
        "{m}"
    );
    let m = rule("kind = \"crowding\"\nzone = \"Dock\"\nmore_than = 3\nevents = \"per_object\"");
    assert!(
        m.contains("rule 'R' (crowding): events: does not apply to crowding rules"),
        "{m}"
    );
    let m = rule("kind = \"queue\"\nzone = \"Dock\"");
    assert!(m.contains("more_than (queue length) or max_wait"), "{m}");
    let m = rule("kind = \"line_crossing\"\nzone = \"Dock\"");
    assert!(
        m.contains("rule 'R' (line_crossing): zone: does not apply"),
        "{m}"
    );
    let m = rule("kind = \"intrusion\"\nzone = \"Dock\"\nclasses = [\"car\"]");
    assert!(
        m.contains("\"car\" is not among the classes of zone 'Dock'"),
        "{m}"
    );
    let m = rule("kind = \"intrusion\"\nzone = \"Dock\"\nclasses = [\"unicorn\"]");
    assert!(
        m.contains(
            "rule 'R' (intrusion): classes: unknown class \"unicorn\"; the detector knows person"
        ),
        "{m}"
    );
    let m = rule(
        "kind = \"intrusion\"\nzone = \"Dock\"\nschedule = [{ days = [\"fri\"], from = \"22:00\", to = \"26:00\" }]",
    );
    assert!(
        m.contains("rule 'R' (intrusion): schedule: window 1: to:"),
        "{m}"
    );
    let m = rule("kind = \"intrusion\"\nzone = \"Dock\"\nmin_score = 1.5");
    assert!(
        m.contains("rule 'R' (intrusion): min_score: 1.5 is not in 0..1"),
        "{m}"
    );
}

#[test]
fn disabled_rules_are_still_checked_but_not_run() {
    let m = message_of(&format!(
        "{ZONE}[[rule]]\nname = \"Off\"\nkind = \"loitering\"\nzone = \"Dock\"\nenabled = false"
    ));
    assert!(m.contains("min_dwell"), "{m}");
    let mut sim = Sim::new(&format!(
        "{ZONE}[[rule]]\nname = \"Off\"\nkind = \"intrusion\"\nzone = \"Dock\"\nenabled = false"
    ));
    sim.run(20, |_| vec![person(1, 0.9, 0.5)]);
    assert!(sim.events.is_empty());
}

#[test]
fn time_zones_masks_and_grids_are_checked() {
    let m = message_of("timezone = \"Europe/Berlin\"");
    assert!(
        m.starts_with("rules: timezone:")
            && m.contains("tail -1 /usr/share/zoneinfo/Europe/Berlin"),
        "{m}"
    );
    let m = message_of("timezone = \"UTC+2\"");
    assert!(m.contains("ambiguous"), "{m}");
    let m = message_of("[[mask]]\nname = \"M\"\npoints = [[0, 0], [1, 0], [1, 1]]");
    assert!(m.contains("mask 'M': kind: required"), "{m}");
    let m = message_of("[heatmap]\ncols = 0");
    assert!(m.contains("heatmap: cols: 0 is not in 1..1024"), "{m}");
    let m = message_of("[occupancy]\nbucket = \"1s\"\nkeep = \"30d\"");
    assert!(m.contains("occupancy: keep:"), "{m}");
}

#[test]
fn typos_are_refused_when_reading_the_file() {
    let e = toml::from_str::<vigil_rules::RulesConfig>(
        "[[zone]]\nname = \"A\"\npoint = [[0, 0], [1, 0], [1, 1]]",
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown field `point`"), "{e}");
    let e = toml::from_str::<vigil_rules::RulesConfig>("[[rule]]\nname = \"A\"\nkind = \"loiter\"")
        .unwrap_err();
    assert!(e.to_string().contains("loiter"), "{e}");
    let e = toml::from_str::<vigil_rules::RulesConfig>(
        "[[rule]]\nname = \"A\"\ncooldown = \"5 fortnights\"",
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown unit"), "{e}");
    let e = toml::from_str::<vigil_rules::RulesConfig>(
        "[[rule]]\nname = \"A\"\nkind = \"intrusion\"\nevents = \"per_person\"",
    )
    .unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("per_person") && m.contains("per_object") && m.contains("per_situation"),
        "{m}"
    );
}
