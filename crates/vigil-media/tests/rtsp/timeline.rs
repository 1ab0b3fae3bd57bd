//! Cameras whose timestamps jump or whose parameters change mid-stream: every frame still arrives, and the
//! break is announced so the recorder can start a new segment.

use crate::common::*;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use vigil_core::Time90k;
use vigil_media::rtsp::{DiscontinuityReason, IngestOptions, StreamSource, spawn_stream};
use vigil_media::test_server::{Mount, RtspTestServer, TimestampShift, TimestampShiftProxy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamp_jumps_are_marked_and_no_frame_is_lost() {
    let Some(footage) = footage_or_skip("timestamp_jumps") else {
        return;
    };
    // 45 frames; the clock leaps 1000 s forward at frame 10 and back again at frame 25.
    let file = footage.join("intel/classroom.mp4");
    let server = RtspTestServer::start(&[Mount::new("jumpy", &file).fast()]).unwrap();
    let proxy = TimestampShiftProxy::start(
        server.port(),
        TimestampShift {
            jumps: vec![(10, 1000 * 90_000), (25, -1000 * 90_000)],
            ..TimestampShift::default()
        },
    )
    .unwrap();
    let url = proxy.url("jumpy");
    let (tx, mut rx) = mpsc::channel(64);
    let handle = spawn_stream(
        StreamSource::new("jumpy", url, None),
        IngestOptions::default(),
        tx,
    );
    let mut received = Received::default();
    collect_until(&mut rx, &mut received, Duration::from_secs(20), |r| {
        r.frames.len() >= 45
    })
    .await;
    collect_until(&mut rx, &mut received, Duration::from_millis(500), |_| {
        false
    })
    .await;
    assert_eq!(
        received.frames.len(),
        45,
        "{:?} {:?}",
        received.discontinuities,
        handle.status()
    );

    let breaks: Vec<(usize, DiscontinuityReason)> = received
        .discontinuities
        .iter()
        .map(|(at, d)| (*at, d.reason.clone()))
        .collect();
    assert_eq!(breaks.len(), 3, "{breaks:?}");
    assert_eq!(breaks[0], (0, DiscontinuityReason::NewSession));
    let frames = &received.frames;
    // Forward leap before frame 10: to is ~1000 s after from.
    assert_eq!(breaks[1].0, 10);
    let DiscontinuityReason::TimestampJump { from, to } = breaks[1].1 else {
        panic!("{breaks:?}");
    };
    assert_eq!(from, frames[9].pts);
    assert_eq!(to, frames[10].pts);
    let leap = (to.0 - from.0) as f64 / 90_000.0;
    assert!((999.0..1001.0).contains(&leap), "leap {leap}");
    // And back before frame 25.
    assert_eq!(breaks[2].0, 25);
    let DiscontinuityReason::TimestampJump { from, to } = breaks[2].1 else {
        panic!("{breaks:?}");
    };
    assert!(to.0 < from.0 - 999 * 90_000, "{from:?} -> {to:?}");
    // Frames between the breaks are on the shifted clock, the others on the original one (45 frames at
    // 15 fps span 3 s).
    let secs = |t: Time90k| t.0 as f64 / 90_000.0;
    for (i, frame) in frames.iter().enumerate() {
        let t = secs(frame.pts);
        if (10..25).contains(&i) {
            assert!((1000.0..1003.0).contains(&t), "frame {i} at {t}");
        } else {
            assert!((0.0..3.0).contains(&t), "frame {i} at {t}");
        }
    }
    // The clip has B-frames: within each stretch between breaks decode times increase frame by frame
    // and lie behind the presentation times; they start afresh after a jump.
    let bounds = [0, 10, 25, 45];
    for stretch in bounds.windows(2) {
        let part = &frames[stretch[0]..stretch[1]];
        assert!(
            part.windows(2).all(|w| w[1].dts() > w[0].dts()),
            "{stretch:?}"
        );
        assert!(
            part.iter().all(|f| f.composition_offset >= 0),
            "{stretch:?}"
        );
    }
    assert_eq!(handle.status().discontinuities, 3);
    assert_eq!(handle.status().timestamp_jumps, 2);
    handle.stop().await;
}

/// Annex B MPEG-TS copy of the first `frames` frames of `input` (stream copy).
fn to_ts(input: &std::path::Path, output: &std::path::Path, frames: u32) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(input)
        .args(["-an", "-frames:v", &frames.to_string(), "-c", "copy"])
        .args(["-bsf:v", "h264_mp4toannexb"])
        .arg(output)
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_change_mid_stream_gives_new_params() {
    let Some(footage) = footage_or_skip("parameter_change") else {
        return;
    };
    // 480x270 for 45 frames, then 320x240 for 60: a camera whose resolution is changed while streaming.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.ts"), dir.path().join("b.ts"));
    to_ts(&footage.join("intel/classroom.mp4"), &a, 45);
    to_ts(&footage.join("traffic/highway-320x240.mp4"), &b, 60);
    let joined = dir.path().join("joined.ts");
    let mut bytes = std::fs::read(&a).unwrap();
    bytes.extend(std::fs::read(&b).unwrap());
    std::fs::write(&joined, bytes).unwrap();

    let server = RtspTestServer::start(&[Mount::new("resize", &joined).fast()]).unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let handle = spawn_stream(
        StreamSource::new("resize", server.url("resize"), None),
        IngestOptions::default(),
        tx,
    );
    let mut received = Received::default();
    collect_until(&mut rx, &mut received, Duration::from_secs(20), |r| {
        r.frames.len() >= 105
    })
    .await;
    collect_until(&mut rx, &mut received, Duration::from_millis(500), |_| {
        false
    })
    .await;
    assert_eq!(received.frames.len(), 105);

    let frames = &received.frames;
    let first = frames[0].params.clone();
    let second = frames[45].params.clone();
    assert_eq!((first.width, first.height), (480, 270));
    assert_eq!((second.width, second.height), (320, 240));
    assert_ne!(first.sample_entry, second.sample_entry);
    assert!(frames[..45].iter().all(|f| Arc::ptr_eq(&f.params, &first)));
    assert!(frames[45..].iter().all(|f| Arc::ptr_eq(&f.params, &second)));
    assert!(frames[45].is_key);
    let changes: Vec<usize> = received
        .discontinuities
        .iter()
        .filter(|(_, d)| d.reason == DiscontinuityReason::ParametersChanged)
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(changes, vec![45], "{:?}", received.discontinuities);
    assert_eq!(handle.status().params.as_deref(), Some(&*second));
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_starting_mid_gop_waits_for_the_first_key_frame() {
    let Some(footage) = footage_or_skip("starts_mid_gop") else {
        return;
    };
    // Cut 1 s into a 2 s GOP, keeping the non-key frames before the next key frame (-copyinkf).
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.ts");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(footage.join("intel/store-aisle-detection.mp4"))
        .args([
            "-ss",
            "1.0",
            "-an",
            "-c",
            "copy",
            "-copyinkf",
            "-bsf:v",
            "h264_mp4toannexb",
        ])
        .arg(&cut)
        .status()
        .unwrap();
    assert!(status.success());
    let flags = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-show_entries",
            "packet=flags",
        ])
        .args(["-of", "csv=p=0"])
        .arg(&cut)
        .output()
        .unwrap();
    let flags: Vec<bool> = String::from_utf8_lossy(&flags.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.starts_with('K'))
        .collect();
    let leading = flags.iter().position(|k| *k).unwrap();
    assert!(
        leading >= 5,
        "the cut must start with non-key frames: {flags:?}"
    );

    let server = RtspTestServer::start(&[Mount::new("cut", &cut).fast()]).unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let handle = spawn_stream(
        StreamSource::new("cut", server.url("cut"), None),
        IngestOptions::default(),
        tx,
    );
    let expected = flags.len() - leading;
    let mut received = Received::default();
    collect_until(&mut rx, &mut received, Duration::from_secs(20), |r| {
        r.frames.len() >= expected
    })
    .await;
    collect_until(&mut rx, &mut received, Duration::from_millis(500), |_| {
        false
    })
    .await;
    let status = handle.status();
    assert_eq!(received.frames.len(), expected, "{status:?}");
    assert!(received.frames[0].is_key);
    assert_eq!(received.discontinuities.len(), 1);
    assert_eq!(status.skipped_before_key as usize, leading, "{status:?}");
    handle.stop().await;
}
