//! Live view distribution against real footage: frames demuxed from `../shared/footage` are published into
//! a camera's live hub; what each viewer receives (init segment + media segments, concatenated) must be an
//! MP4 that `ffprobe` reads and `ffmpeg` decodes without error, with exactly the frames the viewer should
//! have got: every frame from the first key frame after it joined.

mod common;

use futures_util::FutureExt;
use std::path::Path;
use std::process::Command;
use vigil_core::EncodedFrame;
use vigil_media::demux::{DemuxedVideo, demux_file};
use vigil_mp4::fragment::{parse_moof, parse_producer_reference_time};
use vigil_mp4::live_hub::{LIVE_BUFFER, LiveChunk, LiveViewer, live_channel};

/// The footage with the most GOPs in few frames (a key frame every ~5 s at 12.5 fps, 377 frames).
fn car_footage() -> Option<DemuxedVideo> {
    let path = common::shared("footage/intel/car-detection.mp4")?;
    Some(demux_file(&path).unwrap())
}

/// What one viewer got so far.
#[derive(Default)]
struct Received {
    bytes: Vec<u8>,
    inits: usize,
    media: usize,
    mime: Option<String>,
    /// `prft` wall-clock time of each media segment.
    prft_micros: Vec<i64>,
    /// Each media segment's place on the timeline: (decode time, duration), 90 kHz.
    timeline: Vec<(u64, u64)>,
}

/// Takes every chunk that is ready now, without waiting.
fn drain(viewer: &mut LiveViewer, into: &mut Received) {
    while let Some(chunk) = viewer.next().now_or_never() {
        match chunk {
            Some(LiveChunk::Init(init)) => {
                into.inits += 1;
                into.mime = Some(init.mime());
                into.bytes.extend_from_slice(&init.data);
            }
            Some(LiveChunk::Media(m)) => {
                into.media += 1;
                let (micros, _) =
                    parse_producer_reference_time(&m).expect("segment starts with prft");
                into.prft_micros.push(micros);
                let moof = &m[32..];
                let size = u32::from_be_bytes(moof[..4].try_into().unwrap()) as usize;
                let f = parse_moof("segment", &moof[..size], 0).unwrap();
                let duration = f.samples.iter().map(|s| u64::from(s.duration)).sum();
                into.timeline.push((f.base_decode_time, duration));
                into.bytes.extend_from_slice(&m);
            }
            None => break,
        }
    }
}

/// Frames `ffmpeg` decodes from `data` (written to a file), asserting that it reports no error.
fn decoded_frames(data: &[u8]) -> usize {
    decoded_frames_and_duration(data).0
}

/// Frames `ffmpeg` decodes from `data` and the time `ffprobe` says they span (seconds; a viewer that
/// joined late starts where the live timeline was).
fn decoded_frames_and_duration(data: &[u8]) -> (usize, f64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.mp4");
    std::fs::write(&path, data).unwrap();
    let probe = common::ffprobe_stream(&path, "codec_name", false);
    assert_eq!(common::field(&probe, "codec_name"), "h264");
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=start_time,duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&out.stdout);
    let (start, end) = out.trim().split_once(',').unwrap();
    let duration = end.parse::<f64>().unwrap() - start.parse::<f64>().unwrap();
    // ffprobe reads as many frames as ffmpeg decodes without complaint.
    let decoded = decodes_cleanly(&path);
    let packets = vigil_media::test_server::count_video_frames(&path).unwrap();
    assert_eq!(packets, decoded as u64);
    (decoded, duration)
}

fn decodes_cleanly(path: &Path) -> usize {
    vigil_media::test_server::frame_md5s(path).unwrap().len()
}

/// Index of the first key frame at or after `from`.
fn next_key(frames: &[EncodedFrame], from: usize) -> usize {
    from + frames[from..].iter().position(|f| f.is_key).unwrap()
}

#[test]
fn viewers_get_playable_fmp4_from_the_next_key_frame() {
    let Some(v) = car_footage() else { return };
    let n = v.frames.len();
    let (mut publisher, hub) = live_channel("car");
    assert_eq!(hub.camera(), "car");

    // Nobody watches: publishing muxes nothing.
    for f in &v.frames[..20] {
        publisher.publish(f);
    }
    assert_eq!(publisher.published(), 0);

    // Viewer A joins at frame 20, viewer B at frame 150; both read as frames arrive.
    let mut a = hub.subscribe().unwrap();
    let (mut got_a, mut got_b) = (Received::default(), Received::default());
    let mut b = None;
    for (i, f) in v.frames.iter().enumerate().skip(20) {
        if i == 150 {
            b = Some(hub.subscribe().unwrap());
            assert_eq!(hub.viewers(), 2);
        }
        publisher.publish(f);
        drain(&mut a, &mut got_a);
        if let Some(b) = b.as_mut() {
            drain(b, &mut got_b);
        }
    }

    // Each gets every frame from the first key frame after joining, as it arrives: one init segment and
    // one media segment per frame.
    let expect_a = n - next_key(&v.frames, 20);
    let expect_b = n - next_key(&v.frames, 150);
    assert!(expect_b < expect_a && expect_b > 0, "{expect_a} {expect_b}");
    for (got, expect) in [(&got_a, expect_a), (&got_b, expect_b)] {
        assert_eq!(got.inits, 1);
        assert_eq!(got.media, expect);
        assert_eq!(
            got.mime.as_deref(),
            Some(format!("video/mp4; codecs=\"{}\"", v.params.rfc6381_codec).as_str())
        );
        // Frames keep the camera's timing (12.5 fps): durations come from the frames' timestamps.
        let (frames, seconds) = decoded_frames_and_duration(&got.bytes);
        assert_eq!(frames, expect);
        assert!(
            (seconds - expect as f64 / 12.5).abs() < 0.1,
            "{seconds} s for {expect} frames"
        );
    }
    // The prft of each segment carries its frame's receive time.
    let first_b = next_key(&v.frames, 150);
    let expected: Vec<i64> = v.frames[first_b..]
        .iter()
        .map(|f| f.received_unix_micros)
        .collect();
    assert_eq!(got_b.prft_micros, expected);

    // Every viewer leaves: the publisher stops muxing.
    drop((a, b));
    assert_eq!(hub.viewers(), 0);
    let before = publisher.published();
    for f in &v.frames[..50] {
        publisher.publish(f);
    }
    assert_eq!(publisher.published(), before);

    // The camera stops: no new viewers; a viewer still subscribed sees the end of its stream.
    let mut c = hub.subscribe().unwrap();
    drop(publisher);
    assert!(hub.subscribe().is_none());
    assert_eq!(c.next().now_or_never(), Some(None));
}

#[test]
fn a_slow_viewer_skips_to_a_key_frame_and_does_not_hold_back_others() {
    let Some(v) = car_footage() else { return };
    let n = v.frames.len();
    assert!(n > LIVE_BUFFER + 100);
    let (mut publisher, hub) = live_channel("car");
    let mut fast = hub.subscribe().unwrap();
    let mut slow = hub.subscribe().unwrap();
    let (mut got_fast, mut got_slow) = (Received::default(), Received::default());
    let stall = 30..(30 + LIVE_BUFFER + 40);
    for (i, f) in v.frames.iter().enumerate() {
        publisher.publish(f);
        drain(&mut fast, &mut got_fast);
        if !stall.contains(&i) {
            drain(&mut slow, &mut got_slow);
        }
    }
    // The fast one got everything from the first key frame.
    let expect_fast = n - next_key(&v.frames, 0);
    assert_eq!(got_fast.media, expect_fast);
    assert_eq!(decoded_frames(&got_fast.bytes), expect_fast);
    // The slow one lost its place, skipped to a later key frame, and still plays cleanly (no frame that
    // depends on a skipped one): fewer frames, each decodable, without a second init segment.
    assert!(slow.skipped() > 0);
    assert_eq!(got_slow.inits, 1);
    assert!(got_slow.media < expect_fast - 40, "{}", got_slow.media);
    assert!(got_slow.media > 0);
    assert_eq!(decoded_frames(&got_slow.bytes), got_slow.media);
}

#[test]
fn a_parameter_change_sends_a_new_init_segment() {
    let Some(v) = car_footage() else { return };
    let Some(other) = common::shared("footage/traffic/motorway-320x240.mp4") else {
        return;
    };
    let w = demux_file(&other).unwrap();
    let (mut publisher, hub) = live_channel("cam");
    let mut viewer = hub.subscribe().unwrap();
    let mut got = Received::default();
    // The camera switches stream (another resolution) after 100 frames.
    let t0 = v.frames[99].pts.0 + 7200;
    for f in &v.frames[..100] {
        publisher.publish(f);
        drain(&mut viewer, &mut got);
    }
    for f in &w.frames[..100] {
        let mut f = f.clone();
        f.pts.0 += t0;
        publisher.publish(&f);
        drain(&mut viewer, &mut got);
    }
    assert_eq!(got.inits, 2);
    for pair in got.timeline.windows(2) {
        assert_eq!(pair[1].0, pair[0].0 + pair[0].1, "{:?}", got.timeline);
    }
    let mime = got.mime.unwrap();
    assert!(mime.contains(&w.params.rfc6381_codec), "{mime}");
}

#[test]
fn a_reconnect_sends_a_new_init_and_the_timeline_runs_on() {
    let Some(v) = car_footage() else { return };
    let (mut publisher, hub) = live_channel("car");
    let mut viewer = hub.subscribe().unwrap();
    let mut got = Received::default();
    for f in &v.frames[..100] {
        publisher.publish(f);
        drain(&mut viewer, &mut got);
    }
    // The camera reconnects: its timestamps start over, mid-GOP frames come first.
    publisher.discontinuity();
    for f in &v.frames[30..200] {
        publisher.publish(f);
        drain(&mut viewer, &mut got);
    }
    let second = next_key(&v.frames, 30);
    assert_eq!(got.inits, 2);
    assert_eq!(got.media, 100 + (200 - second));
    // Every segment starts where the previous one ended: the player never jumps back or waits.
    for pair in got.timeline.windows(2) {
        let ((t0, d0), (t1, _)) = (pair[0], pair[1]);
        assert_eq!(t1, t0 + d0, "{:?}", got.timeline);
    }
}
