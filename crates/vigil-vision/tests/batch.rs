//! Batching on real footage: every bundled model gets a dynamic batch axis, and a batch of regions from
//! several frames of different sizes gives the detections each region gets on the unmodified model, one
//! image per call.

mod common;

use common::{frame, setup, spec, store};
use vigil_core::{BBox, BgrImage, Detection};
use vigil_vision::detector::{Detector, DetectorConfig};
use vigil_vision::regions::{DEFAULT_TILE_OVERLAP, tiled_regions};

fn config(max_batch: usize) -> DetectorConfig {
    DetectorConfig {
        threads: Some(1),
        score_threshold: 0.2,
        max_batch,
        ..DetectorConfig::default()
    }
}

/// Same detections, in the same order, boxes within 0.05 px and scores within 1e-4.
fn assert_same(what: &str, batched: &[Detection], single: &[Detection]) {
    assert_eq!(
        batched.len(),
        single.len(),
        "{what}: {batched:?} vs {single:?}"
    );
    for (a, b) in batched.iter().zip(single) {
        assert_eq!(a.class_id, b.class_id, "{what}");
        assert!((a.score - b.score).abs() < 1e-4, "{what}: {a:?} vs {b:?}");
        let d = [
            a.bbox.x1 - b.bbox.x1,
            a.bbox.y1 - b.bbox.y1,
            a.bbox.x2 - b.bbox.x2,
            a.bbox.y2 - b.bbox.y2,
        ];
        assert!(d.iter().all(|v| v.abs() < 0.05), "{what}: {a:?} vs {b:?}");
    }
}

/// Three real frames of different sizes (1920x1080, 640x480 and a 768x432 crop-and-scale of a third).
fn frames() -> Vec<(BgrImage, Vec<BBox>)> {
    let mut out = Vec::new();
    for (seq, n) in [
        ("MOT17-04-FRCNN", 1),
        ("MOT17-09-FRCNN", 1),
        ("MOT17-05-FRCNN", 1),
    ] {
        let image = frame(seq, n);
        let mut regions = tiled_regions(image.width(), image.height(), DEFAULT_TILE_OVERLAP);
        // And a square around the middle, as the region planner makes.
        let (w, h) = (image.width() as f32, image.height() as f32);
        regions.push(BBox::new(w * 0.3, h * 0.2, w * 0.3 + h * 0.5, h * 0.7));
        out.push((image, regions));
    }
    out
}

#[test]
fn every_model_takes_a_batch_and_gives_the_detections_of_single_runs() {
    let Some((rt, dir)) =
        setup("every_model_takes_a_batch_and_gives_the_detections_of_single_runs")
    else {
        return;
    };
    let frames = frames();
    for name in ["yolox-nano", "nanodet", "person-192"] {
        let model = store(&dir).load(&spec(name)).unwrap();
        let mut single = Detector::new(&rt, &model, config(1)).unwrap();
        let mut batched = Detector::new(&rt, &model, config(8)).unwrap();
        assert_eq!(single.max_batch(), 1);
        assert_eq!(batched.max_batch(), 8, "{name} was not given a batch axis");

        for (i, (image, regions)) in frames.iter().enumerate() {
            let a = batched.detect_regions(image, regions).unwrap();
            let b = single.detect_regions(image, regions).unwrap();
            assert_eq!((a.timings.runs, a.timings.calls), (6, 1), "{name}");
            assert_eq!((b.timings.runs, b.timings.calls), (6, 6), "{name}");
            assert_same(&format!("{name} frame {i}"), &a.detections, &b.detections);
            assert!(!b.detections.is_empty(), "{name} frame {i} finds nothing");
            let a = batched.detect(image).unwrap();
            let b = single.detect(image).unwrap();
            assert_same(
                &format!("{name} frame {i} full"),
                &a.detections,
                &b.detections,
            );
        }

        // Regions of three frames in one batch (as the scheduler runs cameras together): 18 regions run in
        // calls of 8, 8 and 2; frame 0 takes part in the first call, frames 1 and 2 in two calls each.
        let mut preparers: Vec<_> = frames.iter().map(|_| batched.preparer()).collect();
        let mut prepared: Vec<_> = frames
            .iter()
            .zip(&mut preparers)
            .map(|((image, regions), p)| p.regions(image, regions).unwrap())
            .collect();
        let mut refs: Vec<_> = prepared.iter_mut().collect();
        batched.run_frames(&mut refs).unwrap();
        let calls: u32 = prepared.iter().map(|p| p.timings().calls).sum();
        assert_eq!(calls, 5, "{name}");
        for (i, ((p, prep), (image, regions))) in prepared
            .into_iter()
            .zip(&mut preparers)
            .zip(&frames)
            .enumerate()
        {
            let a = prep.finish(p);
            let b = single.detect_regions(image, regions).unwrap();
            assert_same(
                &format!("{name} cross-frame batch {i}"),
                &a.detections,
                &b.detections,
            );
        }
    }
}

#[test]
fn a_frame_with_no_region_left_runs_nothing() {
    let Some((rt, dir)) = setup("a_frame_with_no_region_left_runs_nothing") else {
        return;
    };
    let model = store(&dir).load(&spec("yolox-nano")).unwrap();
    let mut det = Detector::new(&rt, &model, config(8)).unwrap();
    let image = frame("MOT17-09-FRCNN", 1);
    // Entirely outside the frame: clipped away.
    let out = det
        .detect_regions(&image, &[BBox::new(5000.0, 5000.0, 5100.0, 5100.0)])
        .unwrap();
    assert_eq!((out.timings.runs, out.timings.calls), (0, 0));
    assert!(out.detections.is_empty());
    let mut prep = det.preparer();
    let bad = prep.regions(&image, &[BBox::new(f32::NAN, 0.0, 10.0, 10.0)]);
    assert!(bad.is_err());
}
