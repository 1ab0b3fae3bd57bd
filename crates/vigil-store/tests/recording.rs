//! Recording real footage and exporting it: the exported MP4s are checked with ffprobe and decoded
//! with ffmpeg, frame for frame against the source.

mod common;

use common::*;
use std::process::Command;
use vigil_core::Time90k;
use vigil_media::demux::demux_file;
use vigil_store::{Store, StoreError};

#[test]
fn recorded_clip_exports_bit_exact_across_segments() {
    let Some(car) = car() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (store, report) = Store::open(config(tmp.path())).unwrap();
    assert!(report.is_clean(), "{report}");
    let rec = store.recorder("gate", "main").unwrap();
    let mut cam = Camera::new(car.clone(), T0_MICROS);
    cam.feed(&rec, car.frames.len());
    let st = rec.close();
    assert_eq!(st.frames_written, 377);
    assert_eq!(st.frames_dropped + st.frames_skipped, 0);
    // a key frame every 4.8 s and a 2 s target: one segment per GOP
    assert_eq!(st.segments, 7);

    let reader = store.reader().unwrap();
    let segs = reader
        .segments("gate", "main", T0, Time90k(T0.0 + 3600 * 90_000))
        .unwrap();
    assert_eq!(segs.len(), 7);
    assert_eq!(segs.iter().map(|s| s.frames).sum::<u64>(), 377);
    assert!(segs[0].run_start && segs[1..].iter().all(|s| !s.run_start));
    assert_eq!(segs[0].start, T0);
    for w in segs.windows(2) {
        assert_eq!(
            w[0].start.0 + w[0].duration.0,
            w[1].start.0,
            "segments are contiguous"
        );
    }
    assert!(segs.iter().all(|s| s.codec.starts_with("avc1.42")));

    // every segment file is itself a playable fMP4
    let (codec, n, _) = probe(&segs[1].file);
    assert_eq!((codec.as_str(), n as u64), ("h264", segs[1].frames));

    let export = reader
        .export("gate", "main", T0, Time90k(T0.0 + 60 * 90_000))
        .unwrap();
    assert_eq!(export.frames, 377);
    assert_eq!(export.segments, 7);
    assert!(export.gaps.is_empty() && export.skipped.is_empty());
    let out = tmp.path().join("export.mp4");
    write_export(&export, &out);
    let (codec, n, dur) = probe(&out);
    assert_eq!((codec.as_str(), n), ("h264", 377));
    assert!((dur - 30.16).abs() < 0.05, "duration {dur}");
    // decoded frames identical to the source's
    let src = footage("intel/car-detection.mp4").unwrap();
    assert_same_frames(&frame_md5s(&out), &frame_md5s(&src));
    // faststart and brand for browsers
    let head = std::fs::read(&out).unwrap();
    let pos = |tag: &[u8]| head.windows(4).position(|w| w == tag).unwrap();
    assert!(pos(b"moov") < pos(b"mdat"));
    assert_eq!(&head[4..8], b"ftyp");
    assert!(pos(b"avc1") < pos(b"mdat"));
}

#[test]
fn b_frame_camera_records_every_frame_in_decode_order_with_presentation_times() {
    let Some(clip) = classroom() else { return };
    let src = footage("intel/classroom.mp4").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(config(tmp.path())).unwrap();
    let rec = store.recorder("hall", "main").unwrap();
    // Four passes of the clip: 180 frames, 12 s, key frames every 2 s.
    let mut cam = Camera::new(clip.clone(), T0_MICROS);
    let mut sent = Vec::new();
    for _ in 0..4 * clip.frames.len() {
        let f = cam.next_frame();
        sent.push((f.pts.0, f.dts().0));
        rec.append(&f).unwrap();
    }
    let st = rec.close();
    assert_eq!(st.frames_written, 180, "{st:?}");
    assert_eq!(st.frames_dropped + st.frames_skipped, 0);

    let reader = store.reader().unwrap();
    let segs = reader
        .segments("hall", "main", T0, Time90k(T0.0 + 3600 * 90_000))
        .unwrap();
    // One run: the decode times advance frame by frame, so nothing looks like a clock jump.
    assert_eq!(segs.iter().filter(|s| s.run_start).count(), 1, "{segs:?}");
    assert!(segs.iter().all(|s| s.reordered), "{segs:?}");
    for w in segs.windows(2) {
        assert_eq!(w[0].start.0 + w[0].duration.0, w[1].start.0);
    }
    let origin = sent[0].1;
    let sent: Vec<(i64, i64)> = sent
        .iter()
        .map(|&(p, d)| (p - origin, d - origin))
        .collect();
    let source = relative_packet_times(&src);
    assert_eq!(
        sent[..45],
        source[..],
        "the simulated camera sends the clip's timeline"
    );
    let one = frame_md5s(&src);
    let md5s: Vec<String> = (0..4).flat_map(|_| one.iter().cloned()).collect();

    let e = reader
        .export("hall", "main", T0, Time90k(T0.0 + 60 * 90_000))
        .unwrap();
    assert_eq!(e.frames, 180);
    let out = tmp.path().join("export.mp4");
    write_export(&e, &out);
    // Every frame in decode order, with the camera's presentation and decode times (ctts).
    assert_eq!(relative_packet_times(&out), sent);
    assert_same_frames(&frame_md5s(&out), &md5s);
    assert_remuxes_cleanly(&out);
    // Its edit list starts the presentation at the first frame shown, as FFmpeg's own files do.
    let shown = vigil_media::test_server::packet_times(&out).unwrap();
    assert_eq!(shown.iter().map(|t| t.0).min(), Some(0));

    let f = reader
        .export_fragmented("hall", "main", T0, Time90k(T0.0 + 60 * 90_000))
        .unwrap();
    let out = tmp.path().join("export-frag.mp4");
    write_export(&f, &out);
    assert_eq!(relative_packet_times(&out), sent);
    assert_same_frames(&frame_md5s(&out), &md5s);
    assert_remuxes_cleanly(&out);

    // A range that ends between a P-frame and the B-frames shown before it keeps those B-frames: the
    // cut moves past them. 1 s in: frame 15 of the first pass in presentation order.
    let e = reader
        .export("hall", "main", T0, Time90k(T0.0 + 90_000))
        .unwrap();
    let out = tmp.path().join("first-second.mp4");
    write_export(&e, &out);
    let times = relative_packet_times(&out);
    let mut shown: Vec<i64> = times.iter().map(|t| t.0).collect();
    shown.sort_unstable();
    let step = shown[1] - shown[0];
    assert!(
        shown.windows(2).all(|w| w[1] - w[0] == step),
        "no presentation hole: {shown:?}"
    );
    assert_same_frames(&frame_md5s(&out), &md5s[..times.len()]);
}

#[test]
fn range_export_starts_at_the_key_frame_before_the_start() {
    let Some(car) = car() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(config(tmp.path())).unwrap();
    let rec = store.recorder("gate", "main").unwrap();
    Camera::new(car.clone(), T0_MICROS).feed(&rec, 377);
    rec.close();
    let reader = store.reader().unwrap();
    // 10 s .. 20 s: key frames at 0, 4.8, 9.6, 14.4, 19.2 s -> starts at 9.6 s (frame 120), ends
    // before the frame at 20 s (frame 250), spanning three segments.
    let e = reader
        .export(
            "gate",
            "main",
            Time90k(T0.0 + 900_000),
            Time90k(T0.0 + 1_800_000),
        )
        .unwrap();
    assert_eq!(e.start, Time90k(T0.0 + 864_000));
    assert_eq!(e.frames, 130);
    assert_eq!(e.segments, 3);
    let out = tmp.path().join("range.mp4");
    write_export(&e, &out);
    let (_, n, dur) = probe(&out);
    assert_eq!(n, 130);
    assert!((dur - 10.4).abs() < 0.01, "{dur}");
    let src = frame_md5s(&footage("intel/car-detection.mp4").unwrap());
    assert_same_frames(&frame_md5s(&out), &src[120..250]);

    // The fragmented form of the same range: same frames; any byte range reads the same bytes.
    let f = reader
        .export_fragmented(
            "gate",
            "main",
            Time90k(T0.0 + 900_000),
            Time90k(T0.0 + 1_800_000),
        )
        .unwrap();
    assert_eq!(f.frames, 130);
    let out = tmp.path().join("range-frag.mp4");
    write_export(&f, &out);
    assert_same_frames(&frame_md5s(&out), &src[120..250]);
    let whole = std::fs::read(&out).unwrap();
    let len = f.file.len();
    for (a, b) in [(0, 100), (17, 5000), (len / 3, len / 2), (len - 10, len)] {
        assert_eq!(
            f.file.read_range(a, b).unwrap(),
            &whole[a as usize..b as usize]
        );
    }
    assert!(f.file.read_range(len - 1, len + 1).is_err());
}

#[test]
fn h265_from_libx265_records_and_exports() {
    let Some(src) = footage("intel/car-detection.mp4") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hevc = tmp.path().join("hevc.mp4");
    tool(
        Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&src)
            .args([
                "-t",
                "6",
                "-vf",
                "scale=384:216",
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "bframes=0:keyint=25:log-level=error",
                "-tag:v",
                "hvc1",
            ])
            .arg(&hevc),
    );
    let v = std::sync::Arc::new(demux_file(&hevc).unwrap());
    let n = v.frames.len();
    let (store, _) = Store::open(config(tmp.path())).unwrap();
    let rec = store.recorder("yard", "main").unwrap();
    Camera::new(v.clone(), T0_MICROS).feed(&rec, n);
    let st = rec.close();
    assert_eq!(st.frames_written as usize, n);
    assert!(st.segments >= 2);
    let reader = store.reader().unwrap();
    let e = reader
        .export("yard", "main", T0, Time90k(T0.0 + 600 * 90_000))
        .unwrap();
    assert!(e.codec.starts_with("hvc1.1."), "{}", e.codec);
    let out = tmp.path().join("export.mp4");
    write_export(&e, &out);
    let (codec, count, _) = probe(&out);
    assert_eq!((codec.as_str(), count), ("hevc", n));
    assert_same_frames(&frame_md5s(&out), &frame_md5s(&hevc));
}

#[test]
fn a_stopped_stream_is_a_gap_not_fake_frames() {
    let Some(car) = car() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(config(tmp.path())).unwrap();
    let rec = store.recorder("gate", "main").unwrap();
    let mut cam = Camera::new(car.clone(), T0_MICROS);
    cam.feed(&rec, 180); // 14.4 s
    rec.end_run().unwrap(); // camera disconnected
    // reconnected 60 s later with a new RTP clock base (pts restart near zero)
    let mut cam2 = Camera::new(car.clone(), T0_MICROS + 74_400_000);
    cam2.pts_offset = -5_000_000;
    cam2.feed(&rec, 120);
    rec.close();
    let reader = store.reader().unwrap();
    let ranges = reader
        .recordings("gate", "main", T0, Time90k(T0.0 + 3600 * 90_000))
        .unwrap();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[0], T0..Time90k(T0.0 + 180 * 7200));
    assert_eq!(ranges[1].start, Time90k(T0.0 + 74_400_000 * 9 / 100));
    let e = reader
        .export("gate", "main", T0, Time90k(T0.0 + 3600 * 90_000))
        .unwrap();
    assert_eq!(e.frames, 300);
    assert_eq!(e.gaps, vec![ranges[0].end..ranges[1].start]);
    // The media timeline holds only real frames: 300 frames of 80 ms.
    assert_eq!(e.duration, Time90k(300 * 7200));
}

#[test]
fn camera_clock_jumps_use_the_nominal_duration_and_start_a_new_run() {
    let Some(car) = car() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(config(tmp.path())).unwrap();
    let rec = store.recorder("gate", "main").unwrap();
    let mut cam = Camera::new(car.clone(), T0_MICROS);
    cam.feed(&rec, 100);
    cam.pts_offset = -40 * 90_000; // camera clock steps back 40 s; local clock keeps going
    cam.feed(&rec, 100);
    rec.close();
    let reader = store.reader().unwrap();
    let segs = reader
        .segments("gate", "main", T0, Time90k(T0.0 + 3600 * 90_000))
        .unwrap();
    assert_eq!(segs.iter().map(|s| s.frames).sum::<u64>(), 200);
    // No frame got a negative or huge duration: total media time is 200 nominal frames.
    assert_eq!(
        segs.iter().map(|s| s.media_duration.0).sum::<i64>(),
        200 * 7200
    );
    // The segment after the jump (at the next key frame, frame 120) starts a new run on the local clock.
    let after = segs
        .iter()
        .find(|s| s.start.0 >= T0.0 + 120 * 7200)
        .unwrap();
    assert!(after.run_start);
    assert_eq!(after.start, Time90k(T0.0 + 120 * 7200));
}

#[test]
fn drifting_camera_clock_is_slewed_toward_local_time() {
    let Some(car) = car() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(tmp.path());
    c.segment_seconds = 4.0;
    let (store, _) = Store::open(c).unwrap();
    let rec = store.recorder("gate", "main").unwrap();
    // The camera's clock runs 500 ppm slow: each 80 ms frame arrives 80.04 ms after the previous one
    // on the local clock. 40 loops ~ 20 minutes.
    let mut cam = Camera::new(car.clone(), T0_MICROS);
    let n = 377 * 40;
    for _ in 0..n {
        let mut f = cam.next_frame();
        let local = f.received_unix_micros - T0_MICROS;
        f.received_unix_micros = T0_MICROS + local + local / 2000;
        rec.append(&f).unwrap();
    }
    rec.close();
    let reader = store.reader().unwrap();
    let segs = reader
        .segments("gate", "main", T0, Time90k(T0.0 + 7200 * 90_000))
        .unwrap();
    assert!(segs.len() > 200);
    for s in &segs {
        // never more than the 1000 ppm limit
        let d = (s.duration.0 - s.media_duration.0).abs();
        assert!(d * 1000 <= s.media_duration.0 + 1000, "{s:?}");
    }
    assert!(
        segs[1..].iter().all(|s| !s.run_start),
        "slewed, not re-anchored"
    );
    let last = segs.last().unwrap();
    let end = last.start.0 + last.duration.0;
    let media: i64 = segs.iter().map(|s| s.media_duration.0).sum();
    let local_end = T0.0 + media + media / 2000;
    // Recorded end within 50 ms of the local clock (the 500 ppm drift alone is ~600 ms by now).
    assert!(
        (end - local_end).abs() < 4500,
        "end off by {} ms",
        (end - local_end) / 90
    );
}

#[test]
fn bad_requests_are_clear_errors() {
    let Some(car) = car() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(config(tmp.path())).unwrap();
    let rec = store.recorder("gate", "main").unwrap();
    Camera::new(car.clone(), T0_MICROS).feed(&rec, 100);
    rec.close();
    let reader = store.reader().unwrap();
    let far = Time90k(T0.0 + 90_000 * 86_400);
    match reader.export("porch", "main", T0, far) {
        Err(StoreError::UnknownCamera { name, known }) => {
            assert_eq!(name, "porch");
            assert_eq!(known, vec!["gate".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    let err = reader.export("gate", "sub", T0, far).unwrap_err();
    assert!(err.to_string().contains("no stream \"sub\""), "{err}");
    let err = reader
        .export("gate", "main", far, Time90k(far.0 + 90_000))
        .unwrap_err();
    assert!(matches!(err, StoreError::NoRecording { .. }), "{err}");
    assert!(err.to_string().contains("gate"), "{err}");
    let err = reader.export("gate", "main", far, T0).unwrap_err();
    assert!(matches!(err, StoreError::EmptyRange { .. }), "{err}");
    // a second recorder for the same stream is refused while the first runs
    let r1 = store.recorder("gate", "main").unwrap();
    let err = store.recorder("gate", "main").unwrap_err();
    assert!(matches!(err, StoreError::AlreadyRecording { .. }), "{err}");
    drop(r1);
    store.recorder("gate", "main").unwrap();
    // non-key frames before the first key frame are skipped, not written
    let rec = store.recorder("lobby", "main").unwrap();
    let mut cam = Camera::new(car.clone(), T0_MICROS);
    cam.next = 1;
    cam.feed(&rec, 70);
    let st = rec.close();
    assert_eq!((st.frames_skipped, st.frames_written), (59, 11));
}

#[test]
fn parameter_change_starts_a_new_segment_with_its_own_sample_entry() {
    let Some(car) = car() else { return };
    let Some(src) = footage("intel/car-detection.mp4") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let small = tmp.path().join("small.mp4");
    tool(
        Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&src)
            .args([
                "-t",
                "4",
                "-vf",
                "scale=384:216",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-bf",
                "0",
                "-g",
                "25",
            ])
            .arg(&small),
    );
    let small = std::sync::Arc::new(demux_file(&small).unwrap());
    let (store, _) = Store::open(config(tmp.path())).unwrap();
    let rec = store.recorder("gate", "main").unwrap();
    let mut a = Camera::new(car.clone(), T0_MICROS);
    a.feed(&rec, 30);
    // the camera switches resolution mid-GOP: same clock, new parameters
    let mut b = Camera::new(small.clone(), T0_MICROS + 30 * 80_000);
    b.pts_offset = 30 * 7200;
    b.feed(&rec, 50);
    rec.close();
    let reader = store.reader().unwrap();
    let segs = reader
        .segments("gate", "main", T0, Time90k(T0.0 + 3600 * 90_000))
        .unwrap();
    assert!(segs.len() >= 2);
    assert_eq!(segs[0].frames, 30);
    assert_eq!(segs[1..].iter().map(|s| s.frames).sum::<u64>(), 50);
    // different SPS (size, level): a different sample entry and codec string
    assert_ne!(segs[0].codec, segs[1].codec);
    let e = reader
        .export("gate", "main", T0, Time90k(T0.0 + 3600 * 90_000))
        .unwrap();
    assert_eq!(e.frames, 80);
    let out = tmp.path().join("two-entries.mp4");
    write_export(&e, &out);
    assert_eq!(probe(&out).1, 80);
    let f = reader
        .export_fragmented("gate", "main", T0, Time90k(T0.0 + 3600 * 90_000))
        .unwrap();
    assert!(f.truncated);
    assert_eq!(f.frames, 30);
}

#[test]
fn try_append_refuses_when_full_and_the_hole_becomes_a_gap() {
    let Some(car) = car() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path());
    cfg.queue_frames = 2;
    let (store, _) = Store::open(cfg).unwrap();
    let rec = store.recorder("gate", "main").unwrap();
    let mut cam = Camera::new(car.clone(), T0_MICROS);
    let n = 377 * 3;
    let mut refused = 0u64;
    // The first GOP and the last two are appended with waiting, so that every hole the full queue makes
    // lies between recorded frames, where it must show as a gap.
    for i in 0..n {
        if i < 60 || i >= n - 120 {
            rec.append(&cam.next_frame()).unwrap();
            continue;
        }
        match rec.try_append(&cam.next_frame()) {
            Ok(()) => {}
            Err(StoreError::Backlogged { .. }) => refused += 1,
            Err(e) => panic!("{e}"),
        }
        if i % 50 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    let st = rec.close();
    eprintln!("{refused} of {n} frames refused by a full queue");
    assert_eq!(st.frames_dropped, refused);
    assert_eq!(
        st.frames_written + st.frames_dropped + st.frames_skipped,
        n as u64
    );
    // Whatever was recorded decodes cleanly: no frame was written after a hole before a key frame.
    let reader = store.reader().unwrap();
    let e = reader
        .export("gate", "main", T0, Time90k(T0.0 + 3600 * 90_000))
        .unwrap();
    assert_eq!(e.frames as u64, st.frames_written);
    if refused > 0 {
        assert!(!e.gaps.is_empty());
    }
    let out = tmp.path().join("with-holes.mp4");
    write_export(&e, &out);
    assert_eq!(frame_md5s(&out).len() as u64, st.frames_written);
}
