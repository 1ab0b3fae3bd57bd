//! Streams with B-frames over RTSP: RTP carries presentation times only, frames arrive in decode order.
//! Every frame must come out with the decode time and composition offset the encoder gave it (as the
//! source file's packets carry them), for H.264 and H.265, with the reorder depth declared by the SPS or
//! not, for a camera that switches between GOPs with and without B-frames, and across RTP's 32-bit
//! timestamp wrap.

use crate::common::*;
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;
use vigil_core::VideoCodec;
use vigil_media::rtsp::{
    DiscontinuityReason, IngestOptions, StreamSource, StreamStatus, spawn_stream,
};
use vigil_media::test_server::{
    Mount, RtspTestServer, TimestampShift, TimestampShiftProxy, make_b_frame_switching,
    make_b_frames, packet_times, relative_to_first_dts,
};

/// Receives all of `file` served at `url` (fast) and checks each frame against the file's packets: same
/// order, same key frames, presentation and decode times equal up to where the timeline starts (±1 tick
/// of the server's nanosecond-to-RTP rounding), decode times strictly increasing, offsets >= 0, and one
/// discontinuity (the session start). Returns the stream's status at the end.
async fn receive_and_compare(file: &Path, url: url::Url, name: &str) -> StreamStatus {
    let source = packet_times(file).unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let handle = spawn_stream(
        StreamSource::new(name, url, None),
        IngestOptions::default(),
        tx,
    );
    let mut received = Received::default();
    collect_until(&mut rx, &mut received, Duration::from_secs(60), |r| {
        r.frames.len() >= source.len()
    })
    .await;
    collect_until(&mut rx, &mut received, Duration::from_millis(500), |_| {
        false
    })
    .await;
    let status = handle.status();
    let frames = &received.frames;
    assert_eq!(frames.len(), source.len(), "{name}: {status:?}");
    let breaks: Vec<_> = received
        .discontinuities
        .iter()
        .map(|(_, d)| d.reason.clone())
        .collect();
    assert_eq!(breaks, vec![DiscontinuityReason::NewSession], "{name}");
    let got: Vec<(i64, i64)> = frames.iter().map(|f| (f.pts.0, f.dts().0)).collect();
    for (i, (g, s)) in relative_to_first_dts(&got)
        .iter()
        .zip(relative_to_first_dts(&source))
        .enumerate()
    {
        assert!(
            (g.0 - s.0).abs() <= 1 && (g.1 - s.1).abs() <= 1,
            "{name}: frame {i}: (pts, dts) {g:?}, the file has {s:?}"
        );
    }
    for w in frames.windows(2) {
        assert!(
            w[1].dts() > w[0].dts(),
            "{name}: decode times must increase"
        );
    }
    assert!(frames.iter().all(|f| f.composition_offset >= 0), "{name}");
    assert!(
        frames.iter().any(|f| f.composition_offset > 0),
        "{name}: no B-frames seen"
    );
    assert_eq!(status.late_reordered_frames, 0, "{name}: {status:?}");
    handle.stop().await;
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_and_h265_b_frames_arrive_with_the_encoders_decode_times() {
    let Some(footage) = footage_or_skip("b_frames_h264_h265") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = footage.join("intel/one-by-one-person-detection.mp4");
    for codec in [VideoCodec::H264, VideoCodec::H265] {
        let file = make_b_frames(&input, dir.path(), codec, 90, 30, 384).unwrap();
        let server = RtspTestServer::start(&[Mount::new("cam", &file).fast()]).unwrap();
        let status = receive_and_compare(&file, server.url("cam"), &format!("{codec:?}")).await;
        // Both encoders declare a reorder depth of 2 (a B-pyramid) in their SPS.
        assert_eq!(status.reorder_depth, 2, "{codec:?}");
        assert_eq!(status.gop_reorder_depth, Some(2), "{codec:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeclared_reorder_depth_is_learnt_from_the_first_gop() {
    let Some(footage) = footage_or_skip("b_frames_undeclared") else {
        return;
    };
    // Intel's one-by-one clip as it is (stream copy): Main profile with B-frames, no bitstream
    // restriction in its VUI, so nothing says how deep it reorders.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one-by-one-100.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(footage.join("intel/one-by-one-person-detection.mp4"))
        .args(["-an", "-frames:v", "100", "-c", "copy"])
        .arg(&file)
        .status()
        .unwrap();
    assert!(status.success());
    let server = RtspTestServer::start(&[Mount::new("cam", &file).fast()]).unwrap();
    let status = receive_and_compare(&file, server.url("cam"), "one-by-one").await;
    assert_eq!(status.reorder_depth, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_between_gops_with_and_without_b_frames_keeps_every_frame_and_time() {
    let Some(footage) = footage_or_skip("b_frames_switching") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = footage.join("intel/one-by-one-person-detection.mp4");
    let file = make_b_frame_switching(&input, dir.path(), 4, 20, 384).unwrap();
    let server = RtspTestServer::start(&[Mount::new("cam", &file).fast()]).unwrap();
    install_log_capture();
    let status = receive_and_compare(&file, server.url("cam"), "switching").await;
    // plain -> B -> plain -> B: the ends of GOPs 2 and 3 are switches (the last GOP has no end).
    assert_eq!(status.reorder_switches, 2, "{status:?}");
    assert_eq!(
        status.gop_reorder_depth,
        Some(0),
        "GOP 3 was plain: {status:?}"
    );
    let logs = captured_logs();
    assert!(
        logs.contains("switched to GOPs with B-frames")
            && logs.contains("switched to GOPs without B-frames"),
        "a log line says so"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_timestamps_wrapping_around_keep_one_timeline() {
    let Some(footage) = footage_or_skip("b_frames_wrap") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = footage.join("intel/one-by-one-person-detection.mp4");
    let file = make_b_frames(&input, dir.path(), VideoCodec::H264, 60, 30, 384).unwrap();
    let server = RtspTestServer::start(&[Mount::new("cam", &file).fast()]).unwrap();
    // The 32-bit RTP clock wraps 2 s (20 frames) in.
    let proxy = TimestampShiftProxy::start(
        server.port(),
        TimestampShift {
            first: Some(u32::MAX - 2 * 90_000),
            ..TimestampShift::default()
        },
    )
    .unwrap();
    let status = receive_and_compare(&file, proxy.url("cam"), "wrap").await;
    assert_eq!(status.timestamp_jumps, 0);
}
