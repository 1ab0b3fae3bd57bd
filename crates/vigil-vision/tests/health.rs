//! Camera health on real footage: every untouched shared clip raises nothing, and each tamper made with
//! FFmpeg filters on the longest clip (from 40 s to 70 s) is found within 10 s of its onset and ended
//! within 15 s of its end, as itself and nothing else.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use vigil_vision::day_night::DayNightDetector;
use vigil_vision::health::{HealthConfig, HealthDetector, HealthKind, work_size};

/// The health states and IR-mode spells of a video.
struct Found {
    /// (kind, start s, end s) of every health state.
    health: Vec<(HealthKind, f64, f64)>,
    /// (start s, end s) of every spell in IR mode (information, not a health state).
    ir: Vec<(f64, f64)>,
    /// The camera's usual colourfulness at the end, and the lowest of any frame.
    colour: (Option<f32>, f32),
}

/// Every health state and IR-mode spell in `video`.
fn health_events(video: &Path) -> Found {
    let mut src = vigil_media::VideoSource::open(video).unwrap();
    let mut converter = vigil_media::Converter::new();
    let mut d = HealthDetector::new(HealthConfig::default());
    let mut day_night = DayNightDetector::new();
    let mut open: Vec<(HealthKind, f64)> = Vec::new();
    let mut out = Vec::new();
    let (mut ir, mut ir_on, mut lowest) = (Vec::new(), None, f32::MAX);
    let mut first = None;
    let mut last = 0i64;
    while let Some(frame) = src.next_frame().unwrap() {
        let (w, h) = work_size(frame.width(), frame.height());
        let gray = frame.gray(&mut converter, w, h).unwrap();
        let first = *first.get_or_insert(frame.pts().0);
        let ms = (frame.pts().0 - first) / 90;
        last = ms;
        let chroma = frame.chroma().expect("H.264 decodes to YUV");
        lowest = lowest.min(chroma);
        if let Some(c) = day_night.update(&gray, chroma, ms) {
            let at = c.at_ms as f64 / 1000.0;
            match ir_on.take() {
                Some(start) if !c.on => ir.push((start, at)),
                _ => ir_on = c.on.then_some(at),
            }
        }
        for c in d.update(&gray, ms) {
            let at = c.at_ms as f64 / 1000.0;
            if c.on {
                open.push((c.kind, at));
            } else if let Some(i) = open.iter().position(|(k, _)| *k == c.kind) {
                let (k, start) = open.remove(i);
                out.push((k, start, at));
            }
        }
    }
    for c in d.finish(last) {
        if let Some(i) = open.iter().position(|(k, _)| *k == c.kind) {
            let (k, start) = open.remove(i);
            out.push((k, start, c.at_ms as f64 / 1000.0));
        }
    }
    if let (Some(start), Some(c)) = (ir_on, day_night.finish(last)) {
        ir.push((start, c.at_ms as f64 / 1000.0));
    }
    Found {
        health: out,
        ir,
        colour: (day_night.usual(), lowest),
    }
}

fn clips() -> Vec<PathBuf> {
    let root = common::shared().join("footage");
    let mut out = Vec::new();
    for dir in ["intel", "traffic", "anomaly-avenue"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "mp4") {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// Neither a health state nor a switch to IR mode (`vigil_vision::day_night`) on any untouched clip.
#[test]
fn untouched_shared_footage_raises_no_health_event() {
    let clips = clips();
    if clips.is_empty() {
        eprintln!("SKIP: no shared footage in {}", common::shared().display());
        return;
    }
    let mut raised = Vec::new();
    for clip in &clips {
        let found = health_events(clip);
        let (usual, lowest) = found.colour;
        eprintln!(
            "{}: {:?}, IR mode {:?}, colourfulness usual {usual:?} lowest {lowest:.2}",
            clip.display(),
            found.health,
            found.ir
        );
        if !found.health.is_empty() || !found.ir.is_empty() {
            raised.push((clip.clone(), found.health, found.ir));
        }
    }
    eprintln!("{} clips, {} with health events", clips.len(), raised.len());
    assert!(raised.is_empty(), "{raised:?}");
}

/// The one-by-one clip with `filter` (an FFmpeg -filter_complex from [0:v] to [v]) applied, re-encoded.
fn tampered(dir: &Path, name: &str, filter: &str) -> Option<PathBuf> {
    let src = common::shared().join("footage/intel/one-by-one-person-detection.mp4");
    if !src.is_file() {
        eprintln!("SKIP: {} not found", src.display());
        return None;
    }
    let out = dir.join(format!("{name}.mp4"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&src)
        .args([
            "-filter_complex",
            filter,
            "-map",
            "[v]",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "23",
            "-g",
            "20",
            "-bf",
            "0",
        ])
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => Some(out),
        Ok(s) => panic!("ffmpeg {name}: {s}"),
        Err(e) => {
            eprintln!("SKIP: ffmpeg not runnable ({e})");
            None
        }
    }
}

#[test]
fn each_tamper_made_with_ffmpeg_is_found_and_ended_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let on = "between(t,40,70)";
    let cases = [
        (
            "cover",
            format!("[0:v]drawbox=x=0:y=0:w=iw:h=ih:color=0x505050:t=fill:enable='{on}'[v]"),
            HealthKind::Covered,
        ),
        (
            "board",
            format!(
                "[0:v]drawbox=x=0:y=0:w=iw*0.8:h=ih*0.8:color=0x8a6a4a:t=fill:enable='{on}'[v]"
            ),
            HealthKind::Blocked,
        ),
        (
            "blur",
            format!("[0:v]gblur=sigma=8:enable='{on}'[v]"),
            HealthKind::Defocused,
        ),
        (
            "shift",
            format!(
                "[0:v]split[a][b];[b]crop=iw*0.85:ih*0.85:iw*0.15:ih*0.05,scale=768:432[z];[a][z]overlay=enable='{on}'[v]"
            ),
            HealthKind::Moved,
        ),
        (
            "freeze",
            "[0:v]split[a][b];[a][b]freezeframes=first=400:last=700:replace=400[v]".to_string(),
            HealthKind::Frozen,
        ),
        (
            "darken",
            format!("[0:v]lutyuv=y=val*0.12:enable='{on}'[v]"),
            HealthKind::Dark,
        ),
    ];
    let mut report = Vec::new();
    for (name, filter, kind) in &cases {
        let Some(video) = tampered(dir.path(), name, filter) else {
            return;
        };
        let found = health_events(&video);
        let events = found.health;
        eprintln!("{name}: {events:?}, IR mode {:?}", found.ir);
        assert!(
            found.ir.is_empty(),
            "{name}: taken for IR mode: {:?}",
            found.ir
        );
        report.push((name, events.clone()));
        let found: Vec<_> = events.iter().filter(|(k, ..)| k == kind).collect();
        assert_eq!(found.len(), 1, "{name}: one {kind:?} state: {events:?}");
        let (_, start, end) = *found[0];
        assert!(
            (40.0..=50.0).contains(&start),
            "{name}: started at {start} s"
        );
        assert!((70.0..=85.0).contains(&end), "{name}: ended at {end} s");
        let others: Vec<_> = events.iter().filter(|(k, ..)| k != kind).collect();
        assert!(others.is_empty(), "{name}: other states too: {others:?}");
    }
    eprintln!("{report:?}");
}
