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

/// Plates rendered onto real frames (synthetic: white plates with black letters in the bitmap font of
/// `vigil_media::draw`, pasted onto frames of the shared car clip), at widths from 60 to 300 pixels, clean
/// and blurred with JPEG noise: read by the whole chain (`PlateOcr`: plate detector, else the text
/// detector, then the recogniser). Prints the exact-read rate per width; asserts the wide ones are read.
#[test]
fn rendered_plates_are_read_on_real_frames() {
    use vigil_media::encode::encode_jpeg;
    use vigil_vision::model::{PPOCR_DET, PPOCR_DICT, PPOCR_REC};
    use vigil_vision::plate_ocr::{PlateOcr, PlateReader, TextFinder};
    let Some((rt, dir)) = setup("rendered_plates_are_read_on_real_frames") else {
        return;
    };
    let s = store(&dir);
    let (p, b) = s.load_asset(&LPD_YUNET).expect("lpd");
    let plates = PlateDetector::new(&rt, &p, &b, 2).expect("session");
    let (p, b) = s.load_asset(&PPOCR_DET).expect("det");
    let lines = TextFinder::new(&rt, &p, &b, 2).expect("session");
    let (p, b) = s.load_asset(&PPOCR_REC).expect("rec");
    let (_, dict) = s.load_asset(&PPOCR_DICT).expect("dict");
    let dict = String::from_utf8(dict.to_vec()).expect("utf-8");
    let reader = PlateReader::new(&rt, &p, &b, &dict, 2).expect("session");
    let mut ocr = PlateOcr {
        plates,
        lines,
        reader,
    };
    let backgrounds = frames("intel/car-detection.mp4");
    let texts = [
        "KX58RTY", "AB123CD", "MH12DE14", "B7734XZ", "GT5012", "LR69KPN",
    ];
    let tmp = tempfile::tempdir().expect("tmp");
    let mut rows = Vec::new();
    for width in [60u32, 80, 100, 140, 200, 300] {
        let mut read = 0;
        let mut total = 0;
        for (i, text) in texts.iter().enumerate() {
            for noisy in [false, true] {
                // The plate at scale 4, then resized to `width` and pasted bottom centre.
                let (tw, th) = text_size(text, 4);
                let mut plate = BgrImage::filled(tw + 24, th + 16, 245);
                draw_text(&mut plate, 12, 8, text, [20, 20, 20], 4);
                let h = (width * plate.height() / plate.width()).max(4);
                let small = resize(&plate, width, h);
                let mut img = backgrounds[i % backgrounds.len()].clone();
                let (x0, y0) = ((img.width() - width) / 2, img.height() * 2 / 3);
                paste(&mut img, &small, x0, y0);
                if noisy {
                    img = box_blur(&img);
                    let path = tmp.path().join("noisy.jpg");
                    std::fs::write(&path, encode_jpeg(&img, 35).expect("jpeg")).expect("write");
                    img = vigil_media::image_file::read_bgr(&path).expect("read");
                }
                let got = ocr.read_image(&img).expect("reads");
                total += 1;
                if got.as_ref().is_some_and(|g| g.text.text == *text) {
                    read += 1;
                }
            }
        }
        rows.push((width, read, total));
    }
    for (w, r, t) in &rows {
        println!("plate {w:>3} px wide: {r}/{t} read exactly");
    }
    let wide: usize = rows.iter().filter(|r| r.0 >= 140).map(|r| r.1).sum();
    let wide_total: usize = rows.iter().filter(|r| r.0 >= 140).map(|r| r.2).sum();
    assert!(
        wide * 10 >= wide_total * 8,
        "plates 140 px and wider: {wide}/{wide_total} read"
    );
}

/// Bilinear resize (the test's own, to stay independent of the code under test).
fn resize(img: &BgrImage, w: u32, h: u32) -> BgrImage {
    let mut out = BgrImage::filled(w, h, 0);
    let (sx, sy) = (
        img.width() as f32 / w as f32,
        img.height() as f32 / h as f32,
    );
    let stride = out.stride();
    for y in 0..h {
        for x in 0..w {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, img.width() as f32 - 1.0);
            let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, img.height() as f32 - 1.0);
            let (x0, y0) = (fx as u32, fy as u32);
            let (x1, y1) = (
                (x0 + 1).min(img.width() - 1),
                (y0 + 1).min(img.height() - 1),
            );
            let (tx, ty) = (fx.fract(), fy.fract());
            for c in 0..3 {
                let v = f32::from(img.get(x0, y0)[c]) * (1.0 - tx) * (1.0 - ty)
                    + f32::from(img.get(x1, y0)[c]) * tx * (1.0 - ty)
                    + f32::from(img.get(x0, y1)[c]) * (1.0 - tx) * ty
                    + f32::from(img.get(x1, y1)[c]) * tx * ty;
                out.data_mut()[y as usize * stride + x as usize * 3 + c] = v.round() as u8;
            }
        }
    }
    out
}

fn paste(dst: &mut BgrImage, src: &BgrImage, x0: u32, y0: u32) {
    let stride = dst.stride();
    for y in 0..src.height().min(dst.height() - y0) {
        for x in 0..src.width().min(dst.width() - x0) {
            let i = (y0 + y) as usize * stride + (x0 + x) as usize * 3;
            dst.data_mut()[i..i + 3].copy_from_slice(&src.get(x, y));
        }
    }
}

/// A 3x3 box blur.
fn box_blur(img: &BgrImage) -> BgrImage {
    let mut out = img.clone();
    let stride = out.stride();
    for y in 1..img.height() - 1 {
        for x in 1..img.width() - 1 {
            for c in 0..3 {
                let mut sum = 0u32;
                for dy in 0..3 {
                    for dx in 0..3 {
                        sum += u32::from(img.get(x + dx - 1, y + dy - 1)[c]);
                    }
                }
                out.data_mut()[y as usize * stride + x as usize * 3 + c] = (sum / 9) as u8;
            }
        }
    }
    out
}

/// Re-identification on MOT17-mini: in each sequence, the people of the first frame are the gallery and
/// the same people in the last frame (4 to 8 frames later; ground-truth boxes, pedestrians at least half
/// visible and 64 pixels tall) are the queries; a query is right when its nearest gallery embedding is the
/// same identity (rank-1). No parameter is tuned, so there is no held-out split. Prints each sequence.
#[test]
fn reid_finds_the_same_people_again_across_frames_on_mot17_mini() {
    use vigil_vision::face_embed::cosine;
    use vigil_vision::model::REID;
    use vigil_vision::reid::ReidEmbedder;
    let Some((rt, dir)) = setup("reid_finds_the_same_people_again_across_frames_on_mot17_mini")
    else {
        return;
    };
    let root = shared().join("footage/mot17-mini/train");
    let (p, b) = store(&dir).load_asset(&REID).expect("reid verified");
    let mut reid = ReidEmbedder::new(&rt, &p, &b, 2).expect("session");
    let (mut right, mut total) = (0, 0);
    let mut seqs: Vec<_> = std::fs::read_dir(&root)
        .expect("mot17-mini")
        .map(|e| e.expect("entry").path())
        .collect();
    seqs.sort();
    for seq in seqs {
        let gt = vigil_eval::motchallenge::read_gt(&seq.join("gt/gt.txt")).expect("gt");
        let mut frames: Vec<u32> = std::fs::read_dir(seq.join("img1"))
            .expect("img1")
            .filter_map(|e| e.ok()?.path().file_stem()?.to_str()?.parse().ok())
            .collect();
        frames.sort_unstable();
        let (Some(&first), Some(&last)) = (frames.first(), frames.last()) else {
            continue;
        };
        let people = |frame: u32| -> Vec<(i64, BBox)> {
            gt.iter()
                .filter(|g| {
                    g.frame == frame
                        && g.is_positive()
                        && g.visibility >= 0.5
                        && g.bbox.height() >= 64.0
                })
                .map(|g| (g.id, g.bbox))
                .collect()
        };
        let image = |frame: u32| {
            vigil_media::image_file::read_bgr(&seq.join(format!("img1/{frame:06}.jpg")))
                .expect("frame")
        };
        let (img_a, img_b) = (image(first), image(last));
        let gallery: Vec<(i64, Vec<f32>)> = people(first)
            .iter()
            .map(|(id, b)| (*id, reid.embed(&img_a, b).expect("embeds")))
            .collect();
        let (mut seq_right, mut seq_total) = (0, 0);
        for (id, b) in people(last) {
            if !gallery.iter().any(|(g, _)| *g == id) {
                continue;
            }
            let q = reid.embed(&img_b, &b).expect("embeds");
            let best = gallery
                .iter()
                .max_by(|x, y| cosine(&q, &x.1).total_cmp(&cosine(&q, &y.1)))
                .map(|(g, _)| *g);
            seq_total += 1;
            seq_right += usize::from(best == Some(id));
        }
        println!(
            "{}: {seq_right}/{seq_total} rank-1 (gallery {} people, frames {first} and {last})",
            seq.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
            gallery.len()
        );
        right += seq_right;
        total += seq_total;
    }
    println!("rank-1 over MOT17-mini: {right}/{total}");
    assert!(total >= 50, "only {total} queries");
    assert!(right * 100 >= total * 90, "rank-1 {right}/{total}");
}
