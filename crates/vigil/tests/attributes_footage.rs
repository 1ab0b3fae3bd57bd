//! End to end on real footage: `vigil analyze --rules demo/rules/walkway.toml --events` on
//! `one-by-one-person-detection.mp4` gives each of the six people's events the attributes of their track,
//! and their colours match the hand labels of `crates/vigil-eval/data/colour_labels.toml` (how they were
//! made is written there): person 1 grey cardigan, 2 black jacket and trousers, 3 black clothes under long
//! blonde hair, 4 black T-shirt and trousers, 5 grey jumper over very dark jeans, 6 grey shirt and blue
//! jeans.
//!
//! Honest error rate: the namer gets 9 of the 12 parts right on this clip (person 3's top is hidden by
//! her hair: not named; the dark jeans of persons 5 and 6 come out grey, see `docs/attributes.md`). The
//! test asks for at least 8 of 12 and for every person's event to carry size, direction and the zone
//! visited, so it fails when attributes are missing or wrong for most people.

mod common;

use common::{analyze, ready, shared};
use std::path::Path;
use vigil_core::{Colour, Event, EventPhase};

#[derive(serde::Deserialize)]
struct Labels {
    object: Vec<Label>,
}

#[derive(serde::Deserialize)]
struct Label {
    clip: String,
    time: f64,
    upper: Option<Colour>,
    #[serde(default)]
    upper_also: Vec<Colour>,
    lower: Option<Colour>,
    #[serde(default)]
    lower_also: Vec<Colour>,
}

fn labels() -> Vec<Label> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vigil-eval/data/colour_labels.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let labels: Labels = toml::from_str(&text).unwrap();
    labels
        .object
        .into_iter()
        .filter(|l| l.clip == "intel/one-by-one-person-detection.mp4")
        .collect()
}

#[test]
fn each_persons_events_carry_their_clothing_colours_size_direction_and_zones() {
    let video = shared().join("footage/intel/one-by-one-person-detection.mp4");
    if !ready(&video) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/rules/walkway.toml");
    let out = analyze(&[
        video.as_os_str(),
        "--rules".as_ref(),
        rules.as_os_str(),
        "--events".as_ref(),
        events.as_os_str(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The attribute stage's cost is printed, and small.
    let us: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("attributes: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no attribute cost in {stdout}"));
    assert!(us < 1000.0, "attributes cost {us} µs per frame");
    let events: Vec<Event> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let stays: Vec<&Event> = events
        .iter()
        .filter(|e| e.rule == "Long stay at the table" && e.phase == EventPhase::End)
        .collect();
    assert_eq!(stays.len(), 6, "one stay per person");
    let labels = labels();
    assert_eq!(labels.len(), 6);
    let (mut right, mut parts) = (0, 0);
    for l in &labels {
        let ms = (l.time * 1000.0) as i64;
        let e = stays
            .iter()
            .find(|e| e.start.unix_ms <= ms && e.end.is_some_and(|t| t.unix_ms >= ms))
            .unwrap_or_else(|| panic!("no stay at {} s", l.time));
        let a = &e.attributes;
        eprintln!(
            "{:>6.1} s: labelled {:?}/{:?}, named {:?}/{:?}, size {:?}, speed {:?}, {:?}, zones {:?}",
            l.time,
            l.upper,
            l.lower,
            a.upper_colour,
            a.lower_colour,
            a.size,
            a.speed,
            a.direction,
            a.zones
        );
        assert!(a.size.is_some_and(|s| s > 0.3 && s <= 1.0), "{a:?}");
        assert!(a.speed.is_some() && a.direction.is_some(), "{a:?}");
        assert_eq!(a.zones, vec!["Table".to_string()]);
        assert_eq!(a.colour, None, "people have no body colour");
        for (label, also, named) in [
            (l.upper, &l.upper_also, a.upper_colour),
            (l.lower, &l.lower_also, a.lower_colour),
        ] {
            let label = label.unwrap();
            parts += 1;
            right += usize::from(named == Some(label) || named.is_some_and(|n| also.contains(&n)));
        }
        // The description says what the person looked like, as far as it is known.
        if let Some(p) = a.phrase() {
            assert!(e.description.contains(&p), "{}: {p}", e.description);
        }
        // Every message of the event about this person carries the same kind of attributes.
        assert!(
            events
                .iter()
                .filter(|m| m.id == e.id)
                .all(|m| !m.attributes.is_empty()),
            "a message of {} without attributes",
            e.id
        );
    }
    eprintln!("colours right: {right} of {parts}");
    assert!(right >= 8, "only {right} of {parts} colours right");
}

#[test]
fn eval_colours_refuses_labels_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    for (text, says) in [
        (
            "[[object]]\nclip = \"a.mp4\"\ntime = 1.0\nat = [0.5, 0.5]\n",
            "labels no colour",
        ),
        (
            "[[object]]\nclip = \"a.mp4\"\ntime = 1.0\nat = [0.5, 0.5]\nupper = \"plaid\"\n",
            "plaid",
        ),
        (
            "[[object]]\nclip = \"none/such.mp4\"\ntime = 1.0\nat = [0.5, 0.5]\nupper = \"red\"\n",
            "no clip",
        ),
    ] {
        let labels = dir.path().join("labels.toml");
        std::fs::write(&labels, text).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["eval", "colours", "--labels"])
            .arg(&labels)
            .args(["--footage"])
            .arg(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}");
        assert!(stderr.contains(says), "{text}: {stderr}");
    }
}

/// Night/IR pictures carry no colour: on a grayscale copy of the walkway clip's first 45 s (as an infrared
/// camera sends it: equal channels), no colour is named, while size, speed, direction and zones still are.
#[test]
fn a_grayscale_picture_names_no_colour() {
    let video = shared().join("footage/intel/one-by-one-person-detection.mp4");
    if !ready(&video) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gray = dir.path().join("gray.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&video)
        .args([
            "-t",
            "45",
            "-vf",
            "format=gray,format=yuv420p",
            "-c:v",
            "libx264",
        ])
        .args(["-preset", "veryfast"])
        .arg(&gray)
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        eprintln!("SKIP: ffmpeg with libx264 not available to make the grayscale copy");
        return;
    }
    let events = dir.path().join("events.jsonl");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/rules/walkway.toml");
    let out = analyze(&[
        gray.as_os_str(),
        "--rules".as_ref(),
        rules.as_os_str(),
        "--events".as_ref(),
        events.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<Event> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events.len() >= 2, "the people are still seen");
    for e in &events {
        let a = &e.attributes;
        assert_eq!(a.colours().count(), 0, "{a:?}");
        assert!(a.size.is_some() && !a.zones.is_empty(), "{a:?}");
    }
}
