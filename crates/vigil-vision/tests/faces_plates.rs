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
