use super::*;
use crate::motchallenge::{read_gt, read_seqinfo};
use std::path::PathBuf;

fn matrix(rows: &[&[f64]]) -> CostMatrix {
    let cols = rows.first().map_or(0, |r| r.len());
    CostMatrix::from_fn(rows.len(), cols, |r, c| rows[r][c])
}

const NAN: f64 = f64::NAN;

/// py-motmetrics' README example, extended by one frame; every event worked out by hand below.
#[test]
fn readme_sequence_by_hand() {
    let mut acc = MotAccumulator::new(1.0);
    // Frame 1: no history; the cheapest two pairs are 1-1 (0.1) and 2-2 (0.2); hypothesis 3 is an FP.
    acc.update_with_distances(
        &[1, 2],
        &[1, 2, 3],
        matrix(&[&[0.1, NAN, 0.3], &[0.5, 0.2, 0.3]]),
    );
    // Frame 2: 1 keeps 1; object 2 has nothing left: a miss.
    acc.update_with_distances(&[1, 2], &[1], matrix(&[&[0.2], &[0.4]]));
    // Frame 3: 1 keeps 1 although 1-3 would be cheaper; 2 takes 3 while last matched to 2: a switch.
    acc.update_with_distances(&[1, 2], &[1, 3], matrix(&[&[0.6, 0.2], &[0.1, 0.6]]));
    // Frame 4: 2 keeps 3.
    acc.update_with_distances(&[2], &[3], matrix(&[&[0.1]]));
    let m = acc.metrics();
    assert_eq!(
        (
            m.objects,
            m.predictions,
            m.matches,
            m.switches,
            m.false_positives,
            m.misses
        ),
        (7, 7, 5, 1, 1, 1)
    );
    assert!((m.mota() - (1.0 - 3.0 / 7.0)).abs() < 1e-12);
    assert!((m.motp() - 1.8 / 6.0).abs() < 1e-12);
    // Object 2: tracked, missed, tracked, tracked -> one fragmentation; 1 is MT (3/3), 2 is PT (3/4).
    assert_eq!(m.fragmentations, 1);
    assert_eq!(
        (m.mostly_tracked, m.partially_tracked, m.mostly_lost),
        (1, 1, 0)
    );
    // Identity: frames within threshold 1-1: 3, 2-3: 3, 1-3: 2, 2-1: 3, 2-2: 1. Best pairing 1-1 + 2-3 = 6.
    assert_eq!((m.idtp, m.idfn, m.idfp), (6, 1, 1));
    assert!((m.idf1() - 12.0 / 14.0).abs() < 1e-12);
}

#[test]
fn iou_distance_of_known_boxes() {
    let a = BBox::new(0.0, 0.0, 10.0, 10.0);
    assert_eq!(iou_distance(&a, &a), 0.0);
    assert!((iou_distance(&a, &BBox::new(5.0, 0.0, 15.0, 10.0)) - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(iou_distance(&a, &BBox::new(10.0, 0.0, 20.0, 10.0)), 1.0);
}

fn gt_box(frame: u32, id: i64, x: f32, class: u32, consider: bool) -> GtBox {
    GtBox {
        frame,
        id,
        bbox: BBox::from_xywh(x, 0.0, 100.0, 100.0),
        consider,
        class,
        visibility: 1.0,
    }
}

fn pred(frame: u32, id: i64, x: f32) -> DetBox {
    DetBox {
        frame,
        id,
        bbox: BBox::from_xywh(x, 0.0, 100.0, 100.0),
        score: 1.0,
    }
}

#[test]
fn distractor_matches_are_removed_by_the_global_matching() {
    // A pedestrian at x=0 and a static person (class 7) at x=10; one prediction on each. The matching
    // pairs each prediction with the box it sits on, so only the one on the static person goes.
    let gt = [gt_box(1, 1, 0.0, 1, true), gt_box(1, 2, 10.0, 7, false)];
    let kept = remove_distractor_matches(&gt, &[pred(1, 5, 0.0), pred(1, 6, 12.0)], 10);
    assert_eq!(kept, vec![pred(1, 5, 0.0)]);
    // Alone near the distractor, a prediction is dropped; far from it (IoU < 0.5) it stays, and then
    // counts as a false positive.
    let gt = [gt_box(1, 2, 10.0, 8, false)];
    assert!(remove_distractor_matches(&gt, &[pred(1, 6, 40.0)], 10).is_empty());
    let kept = remove_distractor_matches(&gt, &[pred(1, 6, 80.0)], 10);
    assert_eq!(kept.len(), 1);
    let m = evaluate_mot17(&gt, &kept, 10);
    assert_eq!((m.objects, m.false_positives), (0, 1));
    // Frames past the sequence length are not preprocessed (as py-motmetrics).
    let gt = [gt_box(11, 2, 10.0, 8, false)];
    assert_eq!(
        remove_distractor_matches(&gt, &[pred(11, 6, 10.0)], 10).len(),
        1
    );
}

#[test]
fn non_pedestrians_and_unconsidered_boxes_are_not_ground_truth() {
    let gt = [
        gt_box(1, 1, 0.0, 1, true),
        gt_box(1, 2, 300.0, 1, false),
        gt_box(1, 3, 600.0, 3, true),
    ];
    let m = evaluate_mot17(&gt, &[pred(1, 9, 0.0)], 1);
    assert_eq!(
        (m.objects, m.matches, m.misses, m.false_positives),
        (1, 1, 0, 0)
    );
    // A prediction on the car (class 3, not a distractor) is a false positive.
    let m = evaluate_mot17(&gt, &[pred(1, 9, 0.0), pred(1, 10, 600.0)], 1);
    assert_eq!(m.false_positives, 1);
}

#[test]
fn overall_sums_counts_and_recomputes_ratios() {
    let a = MotMetrics {
        objects: 10,
        predictions: 8,
        matches: 7,
        misses: 3,
        false_positives: 1,
        idtp: 6,
        distance_sum: 1.4,
        ..Default::default()
    };
    let b = MotMetrics {
        objects: 30,
        predictions: 30,
        matches: 26,
        switches: 2,
        misses: 2,
        false_positives: 2,
        idtp: 20,
        distance_sum: 5.6,
        ..Default::default()
    };
    let s = MotMetrics::sum([&a, &b]);
    assert!((s.mota() - (1.0 - 10.0 / 40.0)).abs() < 1e-12);
    assert!((s.idf1() - 52.0 / 78.0).abs() < 1e-12);
    assert!((s.motp() - 7.0 / 35.0).abs() < 1e-12);
    assert!(MotMetrics::default().mota().is_nan());
}

fn gt_dir() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/footage/mot17-gt");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIP: {} not found (../shared footage absent)", p.display());
        None
    }
}

#[test]
fn ground_truth_scored_against_itself_is_perfect_and_relabelling_costs_switches() {
    let Some(dir) = gt_dir() else { return };
    let seq = dir.join("MOT17-05-FRCNN");
    let gt = read_gt(&seq.join("gt/gt.txt")).unwrap();
    let info = read_seqinfo(&seq.join("seqinfo.ini")).unwrap();
    let as_results: Vec<DetBox> = gt
        .iter()
        .filter(|g| g.is_positive())
        .map(|g| DetBox {
            frame: g.frame,
            id: g.id,
            bbox: g.bbox,
            score: 1.0,
        })
        .collect();
    let m = evaluate_mot17(&gt, &as_results, info.seq_length);
    assert_eq!(m.objects, as_results.len() as u64);
    assert_eq!(
        (m.false_positives, m.misses, m.switches, m.fragmentations),
        (0, 0, 0, 0)
    );
    assert_eq!(m.mota(), 1.0);
    assert_eq!(m.idf1(), 1.0);
    assert!(m.motp().abs() < 1e-12);
    assert_eq!(m.mostly_tracked, m.unique_objects);

    // Give every identity a new hypothesis ID from frame 400 on: each identity present on both sides
    // of the cut switches exactly once, and IDF1 drops.
    let cut = 400;
    let relabelled: Vec<DetBox> = as_results
        .iter()
        .map(|r| DetBox {
            id: if r.frame >= cut { r.id + 100_000 } else { r.id },
            ..*r
        })
        .collect();
    let spanning = {
        let before: BTreeSet<i64> = as_results
            .iter()
            .filter(|r| r.frame < cut)
            .map(|r| r.id)
            .collect();
        let after: BTreeSet<i64> = as_results
            .iter()
            .filter(|r| r.frame >= cut)
            .map(|r| r.id)
            .collect();
        before.intersection(&after).count() as u64
    };
    assert!(spanning > 0);
    let m = evaluate_mot17(&gt, &relabelled, info.seq_length);
    assert_eq!(m.switches, spanning);
    assert_eq!((m.false_positives, m.misses), (0, 0));
    assert!(m.idf1() < 1.0 && m.idf1() > 0.5);
}
