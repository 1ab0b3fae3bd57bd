//! A file replayed as a camera: every frame in order after a NewSession, paced at real time when asked,
//! looping with a continuous timeline, stopping on request; bad files are refused before anything starts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use vigil_media::replay::{ReplayOptions, spawn_replay};
use vigil_media::rtsp::{DiscontinuityReason, StreamEvent};

fn footage(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/footage")
        .join(rel);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("SKIP: {} not found (../shared absent)", p.display());
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_replays_every_frame_once_in_order() {
    let Some(path) = footage("intel/car-detection.mp4") else {
        return;
    };
    let (tx, mut rx) = mpsc::channel(16);
    let options = ReplayOptions {
        looping: false,
        realtime: false,
    };
    let handle = spawn_replay("cars", &path, options, tx).unwrap();
    let Some(StreamEvent::Discontinuity(d)) = rx.recv().await else {
        panic!("starts with a discontinuity")
    };
    assert_eq!(d.reason, DiscontinuityReason::NewSession);
    let mut frames = Vec::new();
    while let Some(event) = rx.recv().await {
        match event {
            StreamEvent::Frame(f) => frames.push(f),
            StreamEvent::Discontinuity(d) => panic!("unexpected {d:?}"),
        }
    }
    assert_eq!(frames.len(), 377, "ffprobe counts 377 frames");
    assert!(frames[0].is_key);
    assert!(
        frames.windows(2).all(|w| w[1].pts > w[0].pts),
        "no B-frames: pts increase"
    );
    assert_eq!(handle.status().frames, 377);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_replay_runs_at_real_time_with_a_continuous_timeline() {
    let Some(src) = footage("intel/car-detection.mp4") else {
        return;
    };
    // A one-second clip (12.5 fps, Baseline, no B-frames) looped: ~3 passes in 2.5 s.
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("one-second.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&src)
        .args(["-t", "1", "-c", "copy"])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(status.success());
    let (tx, mut rx) = mpsc::channel(64);
    let handle = spawn_replay("loop", &clip, ReplayOptions::default(), tx).unwrap();
    let t0 = Instant::now();
    let mut frames = Vec::new();
    while t0.elapsed() < Duration::from_millis(2500) {
        if let Ok(Some(StreamEvent::Frame(f))) =
            tokio::time::timeout(Duration::from_millis(200), rx.recv()).await
        {
            frames.push(f);
        }
    }
    handle.stop().await;
    // Real time: about 12.5 frames a second, not as fast as possible.
    assert!(
        (25..=36).contains(&frames.len()),
        "{} frames in 2.5 s",
        frames.len()
    );
    // The timeline never goes back across passes, and steps evenly (80 ms = 7200 ticks).
    for w in frames.windows(2) {
        let step = w[1].pts.0 - w[0].pts.0;
        assert!(
            (7000..=7400).contains(&step),
            "step {step} between {:?} and {:?}",
            w[0].pts,
            w[1].pts
        );
    }
    assert!(
        frames.iter().filter(|f| f.is_key).count() >= 2,
        "each pass starts on a key frame"
    );
}

#[tokio::test]
async fn unreadable_files_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not a video").unwrap();
    for path in [text, dir.path().join("missing.mp4")] {
        let (tx, _rx) = mpsc::channel(1);
        let err = spawn_replay("x", &path, ReplayOptions::default(), tx)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(path.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
    }
}
