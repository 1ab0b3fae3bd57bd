use super::*;

const BASE: &str = r#"# Site configuration: keep this comment.
data_dir = "data"

[[camera]]
name = "gate"   # the front gate
main = "rtsp://10.0.0.2/main"

[rules.gate]
timezone = "UTC"

# The driveway, people only.
[[rules.gate.zone]]
name = "Driveway"
points = [[0.1, 0.5], [0.6, 0.5], [0.6, 0.9]]
classes = ["person"]

[[rules.gate.zone]]
name = "Old"
points = [[0.0, 0.0], [0.1, 0.0], [0.1, 0.1]]

[[rules.gate.rule]]
name = "Driveway intrusion"
kind = "intrusion"
zone = "Driveway"
"#;

fn file(text: &str) -> (tempfile::TempDir, ConfigFile) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.toml");
    std::fs::write(&path, text).unwrap();
    let f = ConfigFile::new(&path, &dir.path().join("data"));
    (dir, f)
}

#[test]
fn drawn_geometry_replaces_outlines_and_keeps_comments_and_other_settings() {
    let geometry = Geometry {
        zones: vec![DrawnZone {
            name: "Driveway".into(),
            points: vec![[0.2, 0.5], [0.7, 0.5], [0.7, 0.95], [0.2, 0.95]],
        }],
        lines: vec![DrawnLine {
            name: "Gate line".into(),
            p1: [0.2, 0.6],
            p2: [0.8, 0.612_345],
            inbound: Some("b_to_a".into()),
        }],
        masks: vec![DrawnMask {
            name: "Window".into(),
            kind: "privacy".into(),
            points: vec![[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]],
        }],
    };
    let text = set_geometry(BASE, "gate", &geometry).unwrap();
    for kept in [
        "# Site configuration: keep this comment.",
        "# the front gate",
        "# The driveway, people only.",
        "classes = [\"person\"]",
        "timezone = \"UTC\"",
    ] {
        assert!(text.contains(kept), "{kept:?} kept in:\n{text}");
    }
    assert!(
        !text.contains("name = \"Old\""),
        "a zone not drawn any more goes"
    );
    assert!(
        text.contains("p2 = [0.8, 0.6123]"),
        "rounded to 4 decimals:\n{text}"
    );
    let c = VigilConfig::parse(&text, "t").unwrap();
    let r = c.rules_for("gate");
    assert_eq!(r.zone.len(), 1);
    assert_eq!(r.zone[0].classes, vec!["person".to_string()]);
    assert_eq!(r.line[0].name, "Gate line");
    assert_eq!(r.mask[0].name, "Window");
    assert!(set_geometry(BASE, "nope", &geometry).is_err());
}

#[test]
fn a_camera_without_rules_gets_a_rules_table_without_an_empty_header() {
    let text = "[[camera]]\nname = \"yard\"\nmain = \"rtsp://10.0.0.3/\"\n";
    let g = Geometry {
        lines: vec![DrawnLine {
            name: "L".into(),
            p1: [0.1, 0.5],
            p2: [0.9, 0.5],
            inbound: None,
        }],
        ..Geometry::default()
    };
    let out = set_geometry(text, "yard", &g).unwrap();
    assert!(out.contains("[[rules.yard.line]]"), "{out}");
    assert!(!out.contains("[rules]\n"), "{out}");
    VigilConfig::parse(&out, "t").unwrap();
}

#[test]
fn rules_are_made_replaced_in_place_and_removed() {
    let mut fields = RuleFields::new();
    fields.insert("name".into(), "Driveway intrusion".into());
    fields.insert("kind".into(), "loitering".into());
    fields.insert("zone".into(), "Driveway".into());
    fields.insert("min_dwell".into(), "30s".into());
    fields.insert("classes".into(), serde_json::json!(["person"]));
    let text = set_rule(BASE, "gate", &fields).unwrap();
    let c = VigilConfig::parse(&text, "t").unwrap();
    assert_eq!(c.rules_for("gate").rule.len(), 1, "replaced, not added");
    assert!(text.contains("kind = \"loitering\""), "{text}");
    fields.insert("name".into(), "Second".into());
    let text = set_rule(&text, "gate", &fields).unwrap();
    assert_eq!(
        VigilConfig::parse(&text, "t")
            .unwrap()
            .rules_for("gate")
            .rule
            .len(),
        2
    );
    let text = remove_rule(&text, "gate", "Second").unwrap();
    assert_eq!(
        VigilConfig::parse(&text, "t")
            .unwrap()
            .rules_for("gate")
            .rule
            .len(),
        1
    );
    assert!(remove_rule(&text, "gate", "Second").is_err());
}

#[test]
fn cameras_are_added_and_removed_with_their_rules() {
    let cam = NewCamera {
        name: "yard".into(),
        main: "rtsp://10.0.0.3/main".into(),
        sub: Some("rtsp://10.0.0.3/sub".into()),
        username: Some("vigil".into()),
        password: Some("s3cret".into()),
        onvif: None,
    };
    let text = add_camera(BASE, &cam).unwrap();
    let c = VigilConfig::parse(&text, "t").unwrap();
    assert_eq!(c.cameras.len(), 2);
    assert!(add_camera(&text, &cam).is_err(), "names are unique");
    let text = remove_camera(&text, "gate").unwrap();
    let c = VigilConfig::parse(&text, "t").unwrap();
    assert_eq!(c.cameras.len(), 1);
    assert!(
        !text.contains("rules.gate"),
        "its rules went with it:\n{text}"
    );
    assert!(text.contains("# Site configuration"), "{text}");
}

#[test]
fn writes_check_like_config_check_refuse_stale_versions_and_keep_history() {
    let (_dir, f) = file(BASE);
    let v0 = f.read().unwrap().version;
    // Invalid: refused with located problems, the file untouched.
    let bad = BASE.replace("zone = \"Driveway\"", "zone = \"Nowhere\"");
    match f.write(&bad, &v0) {
        Err(EditError::Invalid(e)) => {
            assert!(e.diagnostics[0].line > 0, "{e}");
            assert!(e.to_string().contains("Nowhere"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.read().unwrap().text, BASE);
    // Valid: written, the old text kept.
    let new = BASE.replace("timezone = \"UTC\"", "timezone = \"+01:00\"");
    let (_, v1) = f.write(&new, &v0).unwrap();
    assert_eq!(f.read().unwrap().text, new);
    let h = f.history().unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].version, v0);
    assert_eq!(f.history_text(&h[0].id).unwrap(), BASE);
    // Someone else saved meanwhile: the old version is refused.
    match f.write(BASE, &v0) {
        Err(EditError::Stale { current }) => assert_eq!(current, v1),
        other => panic!("{other:?}"),
    }
    // Restoring an earlier text is a write like any other.
    f.write(BASE, &v1).unwrap();
    assert_eq!(f.read().unwrap().text, BASE);
    assert_eq!(f.history().unwrap().len(), 2);
    assert!(f.history_text("../vigil.toml").is_err());
}

#[test]
fn outlines_and_settings_apply_live_names_privacy_and_cameras_restart() {
    // Comments and layout only: nothing to do.
    let comment = BASE.replace("# The driveway", "# The drive");
    assert_eq!(plan(BASE, &comment), Applying::Nothing);
    // A zone redrawn, a rule's setting: applied to the running analysis.
    let moved = BASE.replace("[0.6, 0.9]]", "[0.65, 0.9]]");
    assert_eq!(plan(BASE, &moved), Applying::Rules(vec!["gate".into()]));
    let classes = BASE.replace("classes = [\"person\"]", "classes = [\"person\", \"car\"]");
    assert_eq!(plan(BASE, &classes), Applying::Rules(vec!["gate".into()]));
    // A zone renamed: its Home Assistant entities change.
    let renamed = BASE.replace("name = \"Old\"", "name = \"Older\"");
    assert!(matches!(plan(BASE, &renamed), Applying::Restart(why) if why.contains("zones")));
    // A privacy mask, a camera, a setting: restart.
    let zone = |name: &str, points: Vec<[f32; 2]>| DrawnZone {
        name: name.into(),
        points,
    };
    let g = Geometry {
        zones: vec![
            zone("Driveway", vec![[0.1, 0.5], [0.6, 0.5], [0.6, 0.9]]),
            zone("Old", vec![[0.0, 0.0], [0.1, 0.0], [0.1, 0.1]]),
        ],
        masks: vec![DrawnMask {
            name: "W".into(),
            kind: "privacy".into(),
            points: vec![[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]],
        }],
        ..Geometry::default()
    };
    let masked = set_geometry(BASE, "gate", &g).unwrap();
    assert!(
        matches!(plan(BASE, &masked), Applying::Restart(why) if why.contains("privacy")),
        "{:?}",
        plan(BASE, &masked)
    );
    let ignore = masked.replace("kind = \"privacy\"", "kind = \"ignore\"");
    let ignore2 = ignore.replace("[0.2, 0.2]]", "[0.25, 0.2]]");
    assert_eq!(
        plan(&ignore, &ignore2),
        Applying::Rules(vec!["gate".into()])
    );
    let camera = BASE.replace("rtsp://10.0.0.2/main", "rtsp://10.0.0.9/main");
    assert!(matches!(plan(BASE, &camera), Applying::Restart(why) if why.contains("camera")));
}
