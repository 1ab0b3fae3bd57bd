//! Faces (YuNet) and licence plates (LPD-YuNet) on real footage and a drawn plate.

mod common;

use common::{setup, shared, store};
use vigil_core::{BBox, BgrImage};
use vigil_media::VideoSource;
use vigil_media::convert::Converter;
use vigil_media::draw::{draw_text, fill_rect, text_size};
use vigil_vision::detector::DetectorError;
use vigil_vision::faces::FaceDetector;
use vigil_vision::model::{LPD_YUNET, YUNET};
use vigil_vision::plates::PlateDetector;

/// Every 10th frame of a shared clip.
fn frames(clip: &str) -> Vec<BgrImage> {
    let mut src = VideoSource::open(shared().join("footage").join(clip)).expect("clip opens");
    let mut conv = Converter::new();
    let mut out = Vec::new();
    let mut n = 0;
    while let Some(f) = src.next_frame().expect("clip decodes") {
        if n % 10 == 0 {
            out.push(f.bgr(&mut conv, f.width(), f.height()).expect("bgr"));
        }
        n += 1;
    }
    out
}

#[test]
fn yunet_finds_the_faces_of_the_shared_clips() {
    let Some((rt, dir)) = setup("yunet_finds_the_faces_of_the_shared_clips") else {
        return;
    };
    let (path, bytes) = store(&dir).load_asset(&YUNET).expect("yunet verified");
    let mut faces = FaceDetector::new(&rt, &path, &bytes, 2).expect("session");
    // Counted by eye on the clips: three people facing the camera in the corridor, four pupils in front.
    for (clip, people) in [
        ("intel/face-demographics-walking-and-pause.mp4", 3),
        ("intel/classroom.mp4", 4),
    ] {
        for (i, img) in frames(clip).iter().enumerate() {
            let found = faces.detect(img).expect("detects");
            assert_eq!(found.len(), people, "{clip} frame {}: {found:?}", i * 10);
            for f in &found {
                assert!(f.score >= 0.6 && f.bbox.x2 <= img.width() as f32);
                let (cx, cy) = f.landmarks[2];
                let b = f.bbox;
                assert!(
                    cx > b.x1 && cx < b.x2 && cy > b.y1 && cy < b.y2,
                    "{clip}: the nose {cx},{cy} is outside its face {b:?}"
                );
            }
        }
    }
    // Nobody in an empty grey picture.
    assert!(
        faces
            .detect(&BgrImage::filled(640, 360, 120))
            .expect("detects")
            .is_empty()
    );
}

/// A grey scene with a dark car and a plate of `bg` with `fg` letters, and where the plate is.
fn drawn_plate(bg: [u8; 3], fg: [u8; 3]) -> (BgrImage, BBox) {
    let mut img = BgrImage::filled(640, 480, 110);
    fill_rect(&mut img, 170, 200, 300, 200, [60, 60, 70]);
    let (tw, th) = text_size("AB 123 CD", 1);
    let (pw, ph) = (tw + 12, th + 8);
    let (px, py) = (320 - pw as i64 / 2, 330);
    fill_rect(&mut img, px, py, pw, ph, bg);
    draw_text(&mut img, px + 6, py + 4, "AB 123 CD", fg, 1);
    let b = BBox::new(
        px as f32,
        py as f32,
        (px + pw as i64) as f32,
        (py + ph as i64) as f32,
    );
    (img, b)
}

#[test]
fn lpd_yunet_finds_a_drawn_plate_and_nothing_on_an_empty_car() {
    let Some((rt, dir)) = setup("lpd_yunet_finds_a_drawn_plate_and_nothing_on_an_empty_car") else {
        return;
    };
    let (path, bytes) = store(&dir)
        .load_asset(&LPD_YUNET)
        .expect("lpd-yunet verified");
    let mut plates = PlateDetector::new(&rt, &path, &bytes, 2).expect("session");
    // A blue plate with white letters, as the model was trained on.
    let (img, truth) = drawn_plate([200, 60, 20], [255, 255, 255]);
    let found = plates.detect(&img).expect("detects");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].bbox.iou(&truth) > 0.5,
        "{:?} vs {truth:?}",
        found[0].bbox
    );
    // The same car without its plate.
    let (mut empty, _) = drawn_plate([60, 60, 70], [60, 60, 70]);
    fill_rect(&mut empty, 0, 0, 1, 1, [110, 110, 110]);
    assert!(plates.detect(&empty).expect("detects").is_empty());
}

#[test]
fn a_detector_model_given_as_the_face_model_is_refused_by_name() {
    let Some((rt, dir)) = setup("a_detector_model_given_as_the_face_model_is_refused_by_name")
    else {
        return;
    };
    let path = dir.join("yolox_nano_416.onnx");
    let bytes = std::fs::read(&path).expect("yolox");
    let mut faces = FaceDetector::new(&rt, &path, &bytes, 1).expect("it loads");
    match faces.detect(&BgrImage::filled(64, 64, 0)) {
        Err(DetectorError::Run { reason, .. }) => {
            assert!(
                reason.contains("cls_8") || reason.contains("input"),
                "{reason}"
            )
        }
        other => panic!("expected a run error, got {other:?}"),
    }
}

/// MobileFaceNet on aligned YuNet faces of the shared clips with faces (corridor: three people; classroom:
/// four pupils): the same face ten frames later is the same person, two faces of one frame are not.
/// Identities come from the video itself: a face's match in the next sampled frame is the one whose box
/// moved least (people move little and stay apart), so no labels are needed. The shipped threshold
/// ([`vigil_vision::face_embed::DEFAULT_THRESHOLD`]) was set on the corridor clip; the classroom clip is the
/// held-out check. Prints the score distributions.
#[test]
fn mobilefacenet_tells_the_same_face_from_another_on_the_shared_clips() {
    use vigil_vision::face_embed::{DEFAULT_THRESHOLD, FaceEmbedder, align, cosine};
    use vigil_vision::model::MOBILEFACENET;
    let Some((rt, dir)) =
        setup("mobilefacenet_tells_the_same_face_from_another_on_the_shared_clips")
    else {
        return;
    };
    let (path, bytes) = store(&dir).load_asset(&YUNET).expect("yunet verified");
    let mut faces = FaceDetector::new(&rt, &path, &bytes, 2).expect("session");
    let (path, bytes) = store(&dir)
        .load_asset(&MOBILEFACENET)
        .expect("mobilefacenet verified");
    let mut embedder = FaceEmbedder::new(&rt, &path, &bytes, 2).expect("session");
    for clip in [
        "intel/face-demographics-walking-and-pause.mp4",
        "intel/classroom.mp4",
    ] {
        let mut prev: Vec<(BBox, Vec<f32>)> = Vec::new();
        let (mut same, mut other) = (Vec::new(), Vec::new());
        for img in frames(clip) {
            let mut now = Vec::new();
            for f in faces.detect(&img).expect("detects") {
                let e = embedder.embed(&align(&img, &f.landmarks)).expect("embeds");
                assert_eq!(e.len(), 128);
                now.push((f.bbox, e));
            }
            for (i, (_, a)) in now.iter().enumerate() {
                for (_, b) in &now[i + 1..] {
                    other.push(cosine(a, b));
                }
            }
            let centre = |x: &BBox| ((x.x1 + x.x2) / 2.0, (x.y1 + x.y2) / 2.0);
            for (b, e) in &now {
                let (cx, cy) = centre(b);
                let d = |z: &BBox| (centre(z).0 - cx).hypot(centre(z).1 - cy);
                if let Some((_, pe)) = prev.iter().min_by(|x, y| d(&x.0).total_cmp(&d(&y.0))) {
                    same.push(cosine(e, pe));
                }
            }
            prev = now;
        }
        let stats = |v: &mut Vec<f32>| {
            v.sort_by(f32::total_cmp);
            (v[0], v[v.len() / 2], v[v.len() - 1])
        };
        let (s_min, s_med, _) = stats(&mut same);
        let (_, o_med, o_max) = stats(&mut other);
        let false_rejects = same.iter().filter(|s| **s < DEFAULT_THRESHOLD).count();
        let false_accepts = other.iter().filter(|s| **s >= DEFAULT_THRESHOLD).count();
        println!(
            "{clip}: same person 10 frames apart: {} pairs, min {s_min:.2}, median {s_med:.2}; two people of one \
             frame: {} pairs, median {o_med:.2}, max {o_max:.2}; at {DEFAULT_THRESHOLD}: {false_rejects} false \
             rejects, {false_accepts} false accepts",
            same.len(),
            other.len()
        );
        assert!(same.len() >= 10 && other.len() >= 10, "{clip}");
        // Faces 20-60 pixels wide: different people score far higher (about 0.5) than on the model's own
        // check (0.03 on large faces), which is why the threshold is not the model's 0.31. No stranger may
        // pass for someone else; a missed match is the price (the classroom's small faces, held out).
        assert_eq!(false_accepts, 0, "{clip}");
        assert!(
            s_med > o_med + 0.2,
            "{clip}: same median {s_med}, other median {o_med}"
        );
        if clip.contains("face-demographics") {
            assert!(s_min > o_max, "{clip}: same >= {s_min}, others <= {o_max}");
            assert_eq!(false_rejects, 0, "{clip}");
        } else {
            // Faces under 20 pixels wide: at least half the same-person pairs are still recognised.
            assert!(
                false_rejects * 2 <= same.len(),
                "{clip}: {false_rejects} of {}",
                same.len()
            );
        }
    }
}
