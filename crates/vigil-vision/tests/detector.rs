//! The detectors on real frames and real (and deliberately wrong) model files.

mod common;

use common::{frame, gt_ignore, gt_people, setup, spec, store};
use vigil_core::{BBox, BgrImage, Detection};
use vigil_vision::detector::{Detector, DetectorConfig, DetectorError};
use vigil_vision::model::{ModelSpec, PERSON};
use vigil_vision::regions::{DEFAULT_TILE_OVERLAP, tiled_regions};

fn config(threads: usize, score: f32) -> DetectorConfig {
    DetectorConfig {
        threads: Some(threads),
        score_threshold: score,
        ..DetectorConfig::default()
    }
}

fn people(dets: &[Detection]) -> Vec<Detection> {
    dets.iter()
        .filter(|d| d.class_id == PERSON)
        .copied()
        .collect()
}

fn best_iou(b: &BBox, others: &[BBox]) -> f32 {
    others.iter().map(|o| b.iou(o)).fold(0.0, f32::max)
}

#[test]
fn every_model_finds_the_large_people_of_a_real_frame() {
    let Some((rt, dir)) = setup("every_model_finds_the_large_people_of_a_real_frame") else {
        return;
    };
    let image = frame("MOT17-09-FRCNN", 1);
    // Fully visible people at least 200 px tall: every model should find these.
    let large: Vec<BBox> = gt_people("MOT17-09-FRCNN", 1)
        .into_iter()
        .filter(|b| b.height() >= 200.0 && b.x1 >= 0.0 && b.x2 <= 1920.0)
        .collect();
    assert!(large.len() >= 3, "{large:?}");
    for name in ["yolox-nano", "nanodet", "person-192"] {
        let model = store(&dir).load_by_name(name).unwrap();
        let mut det = Detector::new(&rt, &model, config(2, 0.3)).unwrap();
        let out = det.detect(&image).unwrap();
        let found = people(&out.detections);
        assert!(!found.is_empty(), "{name}: no person");
        // Sorted by score, finite, sensible sizes.
        assert!(out.detections.windows(2).all(|w| w[0].score >= w[1].score));
        for d in &found {
            assert!(d.bbox.is_finite() && d.score >= 0.3 && d.score <= 1.0);
            assert!(d.bbox.width() > 5.0 && d.bbox.height() > d.bbox.width() * 0.8);
        }
        // Each large person is matched by a detection at IoU >= 0.5.
        let boxes: Vec<BBox> = found.iter().map(|d| d.bbox).collect();
        let matched = large.iter().filter(|g| best_iou(g, &boxes) >= 0.5).count();
        // The 192 px person model is the weak, cheap second opinion (README: AP50 0.21).
        let need = if name == "person-192" {
            1
        } else {
            large.len() - 1
        };
        assert!(
            matched >= need,
            "{name}: {matched}/{} large people found; detections {found:?}",
            large.len()
        );
        // The strongest detections are real people (annotated ones, or the static people and mannequins
        // that MOT17 marks as ignore regions).
        let mut annotated = gt_people("MOT17-09-FRCNN", 1);
        annotated.extend(gt_ignore("MOT17-09-FRCNN", 1));
        // A person half out of the picture is annotated with their full extent: there the detection lies
        // inside the annotation.
        let top = if name == "person-192" { 1 } else { 3 };
        for d in found.iter().take(top) {
            let inside = annotated.iter().any(|a| d.bbox.coverage_by(a) >= 0.8);
            assert!(
                best_iou(&d.bbox, &annotated) >= 0.4 || inside,
                "{name}: {d:?} is nobody"
            );
        }
        assert_eq!(out.timings.runs, 1);
        assert!(out.timings.inference > std::time::Duration::ZERO);
        assert_eq!(det.threads(), 2);
    }
}

#[test]
fn a_region_around_a_large_person_agrees_with_the_full_frame() {
    let Some((rt, dir)) = setup("a_region_around_a_large_person_agrees_with_the_full_frame") else {
        return;
    };
    let image = frame("MOT17-09-FRCNN", 1);
    let model = store(&dir).load_by_name("yolox-nano").unwrap();
    let mut det = Detector::new(&rt, &model, config(2, 0.3)).unwrap();
    let full = people(&det.detect(&image).unwrap().detections);
    // The person at about (1686, 387, 171 x 345): a 600 px square around them, away from the frame origin.
    let target = full
        .iter()
        .find(|d| d.bbox.iou(&BBox::from_xywh(1686.0, 387.0, 171.0, 345.0)) > 0.5)
        .copied()
        .expect("full frame finds the person at x 1686");
    let c = target.bbox.center();
    let region = BBox::from_cxcywh(c.x - 40.0, c.y + 30.0, 600.0, 600.0);
    let out = det.detect_regions(&image, &[region]).unwrap();
    assert_eq!(out.timings.runs, 1);
    let in_region = people(&out.detections);
    let same = in_region
        .iter()
        .find(|d| d.bbox.iou(&target.bbox) > 0.5)
        .unwrap_or_else(|| panic!("{target:?} not found in the region: {in_region:?}"));
    // Same person, and at three times the resolution the box is at least as tight on the ground truth.
    let gt = BBox::from_xywh(1686.0, 387.0, 171.0, 345.0);
    assert!(
        same.bbox.iou(&target.bbox) >= 0.6 && same.bbox.iou(&gt) >= 0.75,
        "region {:?} vs full {:?}",
        same.bbox,
        target.bbox
    );
    assert!(same.bbox.iou(&gt) >= target.bbox.iou(&gt) - 0.05);
    // Boxes come back in frame coordinates: inside the (clipped) region, not near the crop's origin.
    let clipped = region.clip(1920.0, 1080.0);
    for d in &in_region {
        assert!(
            d.bbox.center().x > clipped.x1 && d.bbox.center().y > clipped.y1,
            "{d:?}"
        );
    }
    // A region partly outside the frame is clipped, and one fully outside is skipped.
    let out = det
        .detect_regions(&image, &[BBox::new(5000.0, 0.0, 5400.0, 400.0)])
        .unwrap();
    assert_eq!((out.timings.runs, out.detections.len()), (0, 0));
    let err = det
        .detect_regions(&image, &[BBox::new(f32::NAN, 0.0, 10.0, 10.0)])
        .unwrap_err();
    assert!(
        matches!(err, DetectorError::BadRegion { index: 0, .. }),
        "{err}"
    );
}

#[test]
fn tiles_find_small_people_the_full_frame_misses() {
    let Some((rt, dir)) = setup("tiles_find_small_people_the_full_frame_misses") else {
        return;
    };
    // MOT17-04: a crowd seen from high up, most people under 120 px.
    let image = frame("MOT17-04-FRCNN", 1);
    let gt = gt_people("MOT17-04-FRCNN", 1);
    let model = store(&dir).load_by_name("yolox-nano").unwrap();
    let mut det = Detector::new(&rt, &model, config(2, 0.3)).unwrap();
    let hits = |dets: &[Detection]| {
        let boxes: Vec<BBox> = people(dets).iter().map(|d| d.bbox).collect();
        gt.iter().filter(|g| best_iou(g, &boxes) >= 0.5).count()
    };
    let full = det.detect(&image).unwrap();
    let regions = tiled_regions(image.width(), image.height(), DEFAULT_TILE_OVERLAP);
    let tiled = det.detect_regions(&image, &regions).unwrap();
    assert_eq!(tiled.timings.runs, 5);
    let (f, t) = (hits(&full.detections), hits(&tiled.detections));
    assert!(
        t as f32 >= f as f32 * 1.2 && t >= f + 5,
        "full {f}, tiled {t}"
    );
    // No duplicates survive the merge: no two people boxes overlap at IoU > 0.6.
    let p = people(&tiled.detections);
    for (i, a) in p.iter().enumerate() {
        for b in &p[i + 1..] {
            assert!(a.bbox.iou(&b.bbox) <= 0.6, "{a:?} {b:?}");
        }
    }
}

#[test]
fn a_model_loaded_with_the_wrong_recipe_is_refused_by_shape() {
    let Some((rt, dir)) = setup("a_model_loaded_with_the_wrong_recipe_is_refused_by_shape") else {
        return;
    };
    // The NanoDet file read as a YOLOX model.
    let nanodet = dir.join("object_detection_nanodet_2022nov.onnx");
    let as_yolox = ModelSpec {
        file_name: "object_detection_nanodet_2022nov.onnx".into(),
        ..spec("yolox-nano")
    };
    let err = Detector::from_file(&rt, as_yolox, &nanodet, DetectorConfig::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DetectorError::Mismatch { .. }), "{msg}");
    assert!(
        msg.contains("object_detection_nanodet_2022nov.onnx")
            && msg.contains("[1, 3549, 85]")
            && msg.contains("[1, 2704, 80]"),
        "{msg}"
    );
    // The YOLOX file read as NanoDet.
    let yolox = dir.join("yolox_nano_416.onnx");
    let err = Detector::from_file(&rt, spec("nanodet"), &yolox, DetectorConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("yolox_nano_416.onnx") && err.contains("nanodet"),
        "{err}"
    );
    // The right file with the wrong input size.
    let wrong_size = ModelSpec {
        input_size: 320,
        ..spec("yolox-nano")
    };
    let err = Detector::from_file(&rt, wrong_size, &yolox, DetectorConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[1, 3, 320, 320]") && err.contains("[1, 3, 416, 416]"),
        "{err}"
    );
    // person-192 read with 80 COCO classes: the output has 6 columns, not 85.
    let err = Detector::from_file(
        &rt,
        ModelSpec {
            input_size: 192,
            ..spec("yolox-nano")
        },
        &dir.join("light_person_detector_192.onnx"),
        DetectorConfig::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("[1, 756, 85]") && err.contains("[1, 756, 6]"),
        "{err}"
    );
}

#[test]
fn garbage_and_truncated_model_files_give_errors_naming_the_file() {
    let Some((rt, dir)) = setup("garbage_and_truncated_model_files_give_errors_naming_the_file")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let garbage = tmp.path().join("garbage.onnx");
    std::fs::write(&garbage, b"this is not an onnx model at all\x00\x01\x02").unwrap();
    let truncated = tmp.path().join("truncated.onnx");
    let bytes = std::fs::read(dir.join("yolox_nano_416.onnx")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    for path in [&garbage, &truncated] {
        let err = Detector::from_file(&rt, spec("yolox-nano"), path, DetectorConfig::default())
            .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DetectorError::Load { .. }), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
    }
    let missing = tmp.path().join("missing.onnx");
    let err = Detector::from_file(&rt, spec("yolox-nano"), &missing, DetectorConfig::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.onnx"), "{err}");
}

#[test]
fn empty_and_tiny_images() {
    let Some((rt, dir)) = setup("empty_and_tiny_images") else {
        return;
    };
    let model = store(&dir).load_by_name("yolox-nano").unwrap();
    let mut det = Detector::new(&rt, &model, config(1, 0.3)).unwrap();
    let err = det.detect(&BgrImage::filled(0, 0, 0)).unwrap_err();
    assert!(matches!(err, DetectorError::EmptyImage { .. }), "{err}");
    assert!(
        det.detect_regions(&BgrImage::filled(10, 0, 0), &[])
            .is_err()
    );
    // A 1x1 and a 3000x2 image are valid input: they run and find nothing.
    for (w, h) in [(1, 1), (3000, 2)] {
        let out = det.detect(&BgrImage::filled(w, h, 128)).unwrap();
        assert!(out.detections.is_empty(), "{w}x{h}: {:?}", out.detections);
    }
}

#[test]
fn squares_planned_around_moving_people_find_more_of_them_than_the_full_frame() {
    let Some((rt, dir)) =
        setup("squares_planned_around_moving_people_find_more_of_them_than_the_full_frame")
    else {
        return;
    };
    use vigil_vision::regions::{RegionPlanConfig, plan_regions};
    let model = store(&dir).load_by_name("yolox-nano").unwrap();
    let mut det = Detector::new(&rt, &model, config(2, 0.3)).unwrap();
    for (seq, n) in [
        ("MOT17-02-FRCNN", 1),
        ("MOT17-10-FRCNN", 1),
        ("MOT17-13-FRCNN", 1),
    ] {
        let image = frame(seq, n);
        let gt = gt_people(seq, n);
        // Stand-in for motion: the annotated people (what a motion detector outputs for walkers).
        let plan = plan_regions(
            &gt,
            &[],
            image.width(),
            image.height(),
            416,
            &RegionPlanConfig::default(),
        );
        let hits = |dets: &[Detection]| {
            let boxes: Vec<BBox> = people(dets).iter().map(|d| d.bbox).collect();
            gt.iter().filter(|g| best_iou(g, &boxes) >= 0.5).count()
        };
        let full = hits(&det.detect(&image).unwrap().detections);
        let out = det.detect_regions(&image, &plan).unwrap();
        let planned = hits(&out.detections);
        eprintln!(
            "{seq}: {} people, full frame finds {full}, {} planned squares find {planned}",
            gt.len(),
            out.timings.runs
        );
        assert!((1..=4).contains(&out.timings.runs), "{plan:?}");
        // Every planned region is a square at least the model input in size, or the frame.
        for r in &plan {
            assert!(
                r.width() >= 415.9 && (r.width() - r.height()).abs() < 0.1,
                "{r:?}"
            );
        }
        assert!(
            planned >= full + 5 && planned as f32 >= 1.5 * full as f32,
            "{seq}: full {full}, planned {planned}"
        );
    }
}

#[test]
fn detectors_can_move_to_an_inference_thread() {
    fn is_send<T: Send>() {}
    is_send::<Detector>();
    is_send::<vigil_vision::detector::BareSession>();
    is_send::<vigil_vision::runtime::Runtime>();
}
