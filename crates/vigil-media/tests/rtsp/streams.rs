//! Frames from a real RTSP server: complete, correctly framed, with the right parameters, for H.264 and
//! H.265, and none lost when the consumer is slow.

use crate::common::*;
use std::time::Duration;
use tokio::sync::mpsc;
use vigil_core::VideoCodec;
use vigil_media::rtsp::{DiscontinuityReason, IngestOptions, StreamSource, spawn_stream};
use vigil_media::test_server::{Mount, RtspTestServer, count_video_frames, make_h265};

fn options() -> IngestOptions {
    IngestOptions {
        stall_timeout: Duration::from_secs(5),
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
        ..IngestOptions::default()
    }
}

/// Sorted `pts` values must be evenly spaced by one frame duration (±1 tick of rounding in the server's
/// nanosecond-to-RTP conversion): every frame arrived and timestamps survived reordering (B-frames arrive
/// in decode order).
fn assert_even_spacing(pts: &mut [i64], frame_ticks: i64) {
    pts.sort_unstable();
    for pair in pts.windows(2) {
        assert!(
            (pair[1] - pair[0] - frame_ticks).abs() <= 1,
            "pts {pair:?}, expected a step of {frame_ticks}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h264_file_arrives_complete_with_params_and_key_frames() {
    let Some(footage) = footage_or_skip("h264_file_arrives_complete") else {
        return;
    };
    // 480x270, 15 fps, High profile with B-frames.
    let file = footage.join("intel/store-aisle-detection.mp4");
    let expected = count_video_frames(&file).unwrap();
    let server = RtspTestServer::start(&[Mount::new("aisle", &file).fast()]).unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let source = StreamSource::new("aisle", server.url("aisle"), None);
    let handle = spawn_stream(source, options(), tx);

    let mut received = Received::default();
    collect_until(&mut rx, &mut received, Duration::from_secs(30), |r| {
        r.frames.len() as u64 >= expected
    })
    .await;
    // Nothing more arrives after the file's last frame.
    collect_until(&mut rx, &mut received, Duration::from_millis(500), |_| {
        false
    })
    .await;
    assert_eq!(received.frames.len() as u64, expected);

    let (at, first) = &received.discontinuities[0];
    assert_eq!(*at, 0);
    assert_eq!(first.reason, DiscontinuityReason::NewSession);
    assert_eq!(first.session, 1);
    assert_eq!(
        received.discontinuities.len(),
        1,
        "{:?}",
        received.discontinuities
    );

    let frames = &received.frames;
    assert!(frames[0].is_key, "a session starts with a key frame");
    let params = frames[0].params.clone();
    assert_eq!(params.codec, VideoCodec::H264);
    assert_eq!((params.width, params.height), (480, 270));
    assert!(
        params.rfc6381_codec.starts_with("avc1.64"),
        "{}",
        params.rfc6381_codec
    );
    let entry = &params.sample_entry;
    assert_eq!(
        u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]) as usize,
        entry.len()
    );
    assert_eq!(&entry[4..8], b"avc1");
    assert!(entry.windows(4).any(|w| w == b"avcC"));
    for frame in frames {
        assert!(std::sync::Arc::ptr_eq(&frame.params, &params));
        let nal_types: Vec<u8> = nal_units(&frame.data).iter().map(|h| h & 0x1f).collect();
        // IDR slices (5) exactly in the key frames; no in-band SPS/PPS (they are in the sample entry).
        assert_eq!(frame.is_key, nal_types.contains(&5), "{nal_types:?}");
        assert!(
            !nal_types.contains(&7) && !nal_types.contains(&8),
            "{nal_types:?}"
        );
        assert!(frame.received_unix_micros > 1_600_000_000_000_000);
    }
    let mut pts: Vec<i64> = frames.iter().map(|f| f.pts.0).collect();
    assert_eq!(pts[0], 0, "pts starts at the session start");
    assert_eq!(
        pts.iter().filter(|&&p| p < 0).count(),
        0,
        "no pts before the session start"
    );
    assert_even_spacing(&mut pts, 6000);

    let status = handle.status();
    assert_eq!(status.frames, expected);
    assert_eq!(
        status.bytes,
        frames.iter().map(|f| f.data.len() as u64).sum::<u64>()
    );
    assert_eq!(
        status.key_frames,
        frames.iter().filter(|f| f.is_key).count() as u64
    );
    assert_eq!(status.sessions, 1);
    assert_eq!(status.skipped_before_key, 0);
    assert!(status.last_frame_unix_micros.is_some());
    assert_eq!(status.params.as_deref(), Some(&*params));
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h265_stream_delivers_hvc1_params_and_every_frame() {
    let Some(footage) = footage_or_skip("h265_stream") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = make_h265(
        &footage.join("intel/worker-zone-detection.mp4"),
        dir.path(),
        60,
        15,
    )
    .unwrap();
    assert_eq!(count_video_frames(&file).unwrap(), 60);
    let server = RtspTestServer::start(&[Mount::new("hevc", &file).fast()]).unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let handle = spawn_stream(
        StreamSource::new("hevc", server.url("hevc"), None),
        options(),
        tx,
    );

    let mut received = Received::default();
    collect_until(&mut rx, &mut received, Duration::from_secs(30), |r| {
        r.frames.len() >= 60
    })
    .await;
    collect_until(&mut rx, &mut received, Duration::from_millis(500), |_| {
        false
    })
    .await;
    assert_eq!(received.frames.len(), 60);
    let params = received.frames[0].params.clone();
    assert_eq!(params.codec, VideoCodec::H265);
    assert_eq!((params.width, params.height), (480, 270));
    assert!(
        params.rfc6381_codec.starts_with("hvc1."),
        "{}",
        params.rfc6381_codec
    );
    assert_eq!(&params.sample_entry[4..8], b"hvc1");
    assert!(params.sample_entry.windows(4).any(|w| w == b"hvcC"));
    // A key frame every 15 frames, and only there: IRAP NAL types are 16..=23 (x265's open GOP makes
    // the later ones CRA pictures, which retina alone would not flag).
    let keys: Vec<usize> = received
        .frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.is_key)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(keys, vec![0, 15, 30, 45]);
    for frame in &received.frames {
        let types: Vec<u8> = nal_units(&frame.data)
            .iter()
            .map(|h| (h >> 1) & 0x3f)
            .collect();
        assert_eq!(
            frame.is_key,
            types.iter().any(|t| (16..=23).contains(t)),
            "{types:?}"
        );
    }
    let mut pts: Vec<i64> = received.frames.iter().map(|f| f.pts.0).collect();
    assert_even_spacing(&mut pts, 6000);
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_gets_backpressure_not_losses() {
    let Some(footage) = footage_or_skip("slow_consumer") else {
        return;
    };
    let file = footage.join("intel/worker-zone-detection.mp4");
    let expected = count_video_frames(&file).unwrap();
    let server = RtspTestServer::start(&[Mount::new("wz", &file).fast()]).unwrap();
    // A tiny channel and a consumer that sleeps before reading: ingest must wait, not drop.
    let (tx, mut rx) = mpsc::channel(2);
    let handle = spawn_stream(
        StreamSource::new("wz", server.url("wz"), None),
        options(),
        tx,
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stalled = handle.status();
    assert!(stalled.consumer_stalls >= 1, "{stalled:?}");
    assert!(stalled.frames < expected, "{stalled:?}");

    let mut received = Received::default();
    collect_until(&mut rx, &mut received, Duration::from_secs(30), |r| {
        r.frames.len() as u64 >= expected
    })
    .await;
    let status = handle.status();
    assert_eq!(received.frames.len() as u64, expected, "{status:?}");
    assert_eq!(status.frames, expected);
    assert!(
        status.consumer_wait >= Duration::from_millis(500),
        "{status:?}"
    );
    assert_eq!(status.reconnects, 0, "{status:?}");
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_stream_reports_rates() {
    let Some(footage) = footage_or_skip("realtime_stream_reports_rates") else {
        return;
    };
    // 768x432 at 10 fps, served at real time.
    let file = footage.join("intel/one-by-one-person-detection.mp4");
    let server = RtspTestServer::start(&[Mount::new("person", &file)]).unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let handle = spawn_stream(
        StreamSource::new("person", server.url("person"), None),
        options(),
        tx,
    );
    let mut received = Received::default();
    let (ok, status) = wait_status(
        &handle,
        &mut rx,
        &mut received,
        Duration::from_secs(15),
        |s| s.fps > 0.0 && s.frames >= 50,
    )
    .await;
    assert!(ok, "{status:?}");
    assert!((7.0..=13.0).contains(&status.fps), "fps {}", status.fps);
    let bytes_per_sec = status.bitrate_bps / 8.0;
    assert!(bytes_per_sec > 1000.0, "{status:?}");
    assert!(status.connected_since_unix_micros.is_some());
    handle.stop().await;
}
