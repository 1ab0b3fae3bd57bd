//! Privacy on real footage. Redacted copies: the face detector finds no face in the copy of a clip full of
//! faces, masks come out black after encoding, timing is kept, and a copy that needs no change is not made.
//! The masked live view: the fMP4 viewers receive, decoded by FFmpeg, is black in the mask.

use std::path::{Path, PathBuf};
use vigil_core::{BgrImage, Point, Redaction};
use vigil_media::convert::Converter;
use vigil_media::{VideoSource, VideoWriter};
use vigil_pipeline::redact::Redactor;
use vigil_rules::{Polygon, PrivacyMask};
use vigil_vision::faces::FaceDetector;
use vigil_vision::model::{ModelStore, YUNET};
use vigil_vision::runtime::Runtime;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// The redactor and a face detector to check with, or `None` after a visible SKIP.
fn setup() -> Option<(Redactor, FaceDetector)> {
    let models = shared().join("models");
    if !models.join(YUNET.file_name).is_file() {
        eprintln!("SKIP: {} not found (../shared absent)", models.display());
        return None;
    }
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        eprintln!("SKIP: ORT_DYLIB_PATH not set (source dev/install-deps)");
        return None;
    }
    let rt = Runtime::init(None).expect("ONNX Runtime");
    let store = ModelStore::new(vec![models], None);
    let (redactor, missing) = Redactor::new(rt.clone(), &store, 2);
    assert!(missing.is_empty(), "{missing:?}");
    let (p, b) = store.load_asset(&YUNET).expect("yunet");
    Some((
        redactor,
        FaceDetector::new(&rt, &p, &b, 2).expect("detector"),
    ))
}

/// Every frame of a video with its presentation time.
fn decode(path: &Path) -> Vec<(i64, BgrImage)> {
    let mut src = VideoSource::open(path).expect("opens");
    let mut conv = Converter::new();
    let mut out = Vec::new();
    while let Some(f) = src.next_frame().expect("decodes") {
        out.push((
            f.pts().0,
            f.bgr(&mut conv, f.width(), f.height()).expect("bgr"),
        ));
    }
    out
}

#[test]
fn no_face_survives_redaction_and_the_timing_is_kept() {
    let Some((redactor, mut faces)) = setup() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    for clip in ["face-demographics-walking-and-pause.mp4", "classroom.mp4"] {
        let input = shared().join("footage/intel").join(clip);
        let output = dir.path().join(clip);
        let what = Redaction {
            faces: true,
            plates: true,
            ..Redaction::default()
        };
        let mut last = 0.0;
        let report = redactor
            .redact_file(&input, &output, &what, &[], &mut |p| last = p)
            .expect("redacts");
        assert!(
            report.reencoded && report.frames_with_faces > 0,
            "{report:?}"
        );
        assert!((last - 1.0).abs() < 1e-9, "progress ends at {last}");
        let (before, after) = (decode(&input), decode(&output));
        assert_eq!(before.len(), after.len(), "{clip}: every frame is kept");
        assert_eq!(report.frames as usize, before.len());
        let shift = after[0].0 - before[0].0;
        for ((tb, _), (ta, _)) in before.iter().zip(&after) {
            assert_eq!(ta - tb, shift, "{clip}: frame times keep their spacing");
        }
        let mut found_before = 0;
        for ((_, b), (_, a)) in before.iter().zip(&after) {
            found_before += faces.detect(b).expect("detects").len();
            let left = faces.detect(a).expect("detects");
            assert!(
                left.is_empty(),
                "{clip}: a face survived redaction: {left:?}"
            );
        }
        assert!(
            found_before >= before.len() * 3,
            "{clip}: {found_before} faces in the original"
        );
    }
}

#[test]
fn masks_are_black_after_encoding_and_a_clean_clip_is_not_reencoded() {
    let Some((redactor, _)) = setup() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    // A grey clip with a soft moving gradient: no face, no plate.
    let input = dir.path().join("grey.mp4");
    let mut w = VideoWriter::create_timed(&input, 320, 240, 10.0).expect("writer");
    for i in 0..20 {
        let mut img = BgrImage::filled(320, 240, 128);
        for (k, px) in img.data_mut().chunks_exact_mut(3).enumerate() {
            let x = (k % 320) as i64;
            px.fill((110 + (x + i * 4) % 320 / 8) as u8);
        }
        w.write_at(&img, vigil_core::Time90k(i * 9000))
            .expect("frame");
    }
    w.finish().expect("finish");
    let output = dir.path().join("copy.mp4");
    let what = Redaction {
        faces: true,
        plates: true,
        ..Redaction::default()
    };
    let report = redactor
        .redact_file(&input, &output, &what, &[], &mut |_| {})
        .expect("redacts");
    assert!(!report.reencoded && report.frames == 20, "{report:?}");
    assert!(!output.exists(), "nothing needed changing: no copy is left");

    // The right half masked: black after encoding and decoding; the left half as it was.
    let pts = |x, y| Point::new(x, y);
    let mask = PrivacyMask {
        name: "neighbour".into(),
        polygon: Polygon::new(vec![
            pts(0.5, 0.0),
            pts(1.0, 0.0),
            pts(1.0, 1.0),
            pts(0.5, 1.0),
        ])
        .expect("polygon"),
    };
    let what = Redaction {
        masks: true,
        watermark: Some("alice 2026-12-06".into()),
        ..Redaction::default()
    };
    let report = redactor
        .redact_file(&input, &output, &what, &[mask], &mut |_| {})
        .expect("masks");
    assert!(report.reencoded && report.masks == 1, "{report:?}");
    for (_, img) in decode(&output) {
        for y in (0..240).step_by(7) {
            for x in (164..320).step_by(7) {
                let [b, g, r] = img.get(x, y);
                let corner = x > 200 && y > 200; // the watermark's label
                assert!(
                    corner || b.max(g).max(r) < 24,
                    "pixel {x},{y} = {b},{g},{r} in the mask"
                );
            }
        }
        let [b, _, _] = img.get(80, 50);
        assert!(b > 100, "outside the mask: {b}");
    }
}

#[test]
fn the_masked_live_view_decoded_by_ffmpeg_is_black_in_the_mask() {
    let clip = shared().join("footage/intel/face-demographics-walking-and-pause.mp4");
    if !clip.is_file() {
        eprintln!("SKIP: {} not found (../shared absent)", clip.display());
        return;
    }
    let video = vigil_media::demux::demux_file(&clip).expect("demux");
    let (publisher, hub) = vigil_mp4::live_hub::live_channel("corridor");
    let pts = |x, y| Point::new(x, y);
    let mask = PrivacyMask {
        name: "left".into(),
        polygon: Polygon::new(vec![
            pts(0.0, 0.0),
            pts(0.5, 0.0),
            pts(0.5, 1.0),
            pts(0.0, 1.0),
        ])
        .expect("polygon"),
    };
    let (mut masked, run) =
        vigil_pipeline::masked_live::MaskedLive::new("corridor", vec![mask], publisher);
    let mut viewer = hub.subscribe().expect("viewer");
    let thread = std::thread::spawn(run);
    let collector = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut bytes = Vec::new();
            let mut media = 0;
            while let Some(chunk) = viewer.next().await {
                match chunk {
                    vigil_mp4::live_hub::LiveChunk::Init(init) => {
                        bytes.extend_from_slice(&init.data)
                    }
                    vigil_mp4::live_hub::LiveChunk::Media(m) => {
                        bytes.extend_from_slice(&m);
                        media += 1;
                    }
                }
            }
            (bytes, media)
        })
    });
    for f in &video.frames {
        masked.offer(f);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(masked);
    thread.join().expect("masking thread");
    let (bytes, media) = collector.join().expect("collector");
    assert!(
        media + 5 >= video.frames.len(),
        "{media} of {} frames reached the viewer",
        video.frames.len()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("live.mp4");
    std::fs::write(&path, &bytes).expect("write");
    let frames = decode(&path);
    assert!(
        frames.len() + 5 >= video.frames.len(),
        "{} frames decoded",
        frames.len()
    );
    let mut lit_outside = 0;
    for (_, img) in &frames {
        let (w, h) = (img.width(), img.height());
        for y in (0..h).step_by(5) {
            for x in (0..w / 2 - 2).step_by(5) {
                let [b, g, r] = img.get(x, y);
                assert!(
                    b.max(g).max(r) < 24,
                    "pixel {x},{y} = {b},{g},{r} inside the mask"
                );
            }
            let [b, g, r] = img.get(w * 3 / 4, y);
            lit_outside += usize::from(b.max(g).max(r) > 40);
        }
    }
    assert!(
        lit_outside > frames.len() * 10,
        "the picture outside the mask is there"
    );
}

/// Playback of a masked camera, with the viewer's watermark: the recording (classroom: H.264 with
/// B-frames) re-encoded into a fragmented MP4, written a fragment at a time. Decoded by FFmpeg it has every
/// frame at its own time, black in the mask, the watermark burned in, and the rest of the picture.
#[test]
fn filtered_playback_keeps_every_frame_and_time_masked_and_watermarked() {
    let clip = shared().join("footage/intel/classroom.mp4");
    if !clip.is_file() {
        eprintln!("SKIP: {} not found (../shared absent)", clip.display());
        return;
    }
    let video = vigil_media::demux::demux_file(&clip).expect("demux");
    let pts = |x, y| Point::new(x, y);
    let mask = PrivacyMask {
        name: "right".into(),
        polygon: Polygon::new(vec![
            pts(0.5, 0.0),
            pts(1.0, 0.0),
            pts(1.0, 1.0),
            pts(0.5, 1.0),
        ])
        .expect("polygon"),
    };
    let mut bytes = Vec::new();
    let mut writes = 0;
    let done = vigil_pipeline::filtered_playback::reencode_to_fmp4(
        video.frames.iter().cloned().map(Ok),
        &[mask],
        Some("alice 2026-12-06T23:00:00"),
        &mut |chunk| {
            writes += 1;
            bytes.extend_from_slice(chunk);
            Ok(())
        },
    )
    .expect("re-encoded");
    assert_eq!(done.frames as usize, video.frames.len());
    assert_eq!(done.bytes as usize, bytes.len());
    assert!(writes >= 3, "written in {writes} pieces: not progressive");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("playback.mp4");
    std::fs::write(&path, &bytes).expect("write");
    let frames = decode(&path);
    assert_eq!(frames.len(), video.frames.len(), "frames decoded");
    let mut want: Vec<i64> = video.frames.iter().map(|f| f.pts.0).collect();
    want.sort_unstable();
    let first = want[0];
    let got: Vec<i64> = frames.iter().map(|(p, _)| *p).collect();
    let base = got[0];
    let shifted: Vec<i64> = want.iter().map(|p| p - first).collect();
    let got: Vec<i64> = got.iter().map(|p| p - base).collect();
    assert_eq!(got, shifted, "presentation times kept");
    // The plain picture, for comparison.
    let plain = decode(&clip);
    for ((_, img), (_, orig)) in frames.iter().zip(&plain) {
        let (w, h) = (img.width(), img.height());
        // Inside the mask (away from the watermark in the bottom-right corner): black.
        for y in (0..h / 2).step_by(7) {
            for x in (w / 2 + 2..w).step_by(7) {
                let [b, g, r] = img.get(x, y);
                assert!(
                    b.max(g).max(r) < 24,
                    "pixel {x},{y} = {b},{g},{r} in the mask"
                );
            }
        }
        // The watermark: the top-left corner differs from the recording there.
        let mut changed = 0;
        for y in 0..h / 12 {
            for x in 0..w / 4 {
                let (a, o) = (img.get(x, y), orig.get(x, y));
                changed += usize::from((0..3).any(|c| a[c].abs_diff(o[c]) > 60));
            }
        }
        assert!(changed > 50, "no watermark: {changed} pixels changed");
        // The left half otherwise close to the recording.
        let [b, g, r] = img.get(w / 4, h * 2 / 3);
        let [ob, og, or] = orig.get(w / 4, h * 2 / 3);
        assert!(
            b.abs_diff(ob).max(g.abs_diff(og)).max(r.abs_diff(or)) < 40,
            "outside the mask the picture changed"
        );
    }
}
