//! Average precision of one detection class at one IoU threshold (AP50 by default), with ignore regions.
//!
//! Protocol (PASCAL VOC all-point interpolation, MOT17 ground-truth rules):
//! - Within each frame, detections are matched in descending score order to the unmatched positive with the
//!   highest IoU, if that IoU is at least the threshold: a true positive. Frames are independent, so matching
//!   frame by frame equals matching in global score order.
//! - A detection not matched to a positive but overlapping an ignore region (IoU at or above the threshold)
//!   is neither a true nor a false positive: it is left out of the curve. Otherwise it is a false positive.
//! - AP is the area under the precision envelope (precision made monotonically non-increasing) over recall,
//!   with the curve taken over all detections sorted by score.

use crate::motchallenge::GtBox;
use serde::Serialize;
use vigil_core::BBox;

/// Ground truth of one frame for one class.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameGt {
    /// Objects that must be found.
    pub positives: Vec<BBox>,
    /// Regions where detections count neither way.
    pub ignore: Vec<BBox>,
}

impl FrameGt {
    /// MOT17 rules: positives are pedestrians with `consider == 1`; classes 2, 7, 8, 12 are ignore regions.
    pub fn from_mot(rows: &[GtBox]) -> Self {
        Self {
            positives: rows
                .iter()
                .filter(|g| g.is_positive())
                .map(|g| g.bbox)
                .collect(),
            ignore: rows
                .iter()
                .filter(|g| g.is_ignore_region())
                .map(|g| g.bbox)
                .collect(),
        }
    }
}

/// A detection for AP: a box and its confidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredBox {
    /// Box in the ground truth's pixel coordinates.
    pub bbox: BBox,
    /// Confidence; higher is more certain.
    pub score: f32,
}

impl ScoredBox {
    /// A scored box.
    pub const fn new(bbox: BBox, score: f32) -> Self {
        Self { bbox, score }
    }
}

/// What one detection turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    TruePositive,
    FalsePositive,
}

/// Accumulates matched detections over frames (and sequences) and computes AP.
#[derive(Debug, Clone)]
pub struct ApAccumulator {
    iou_threshold: f32,
    positives: usize,
    ignored: usize,
    outcomes: Vec<(f32, Outcome)>,
}

/// AP and the counts behind it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ApSummary {
    /// Average precision (0..1); 0 when there are no positives.
    pub ap: f64,
    /// Number of ground-truth positives.
    pub positives: usize,
    /// Detections counted (true + false positives).
    pub detections: usize,
    /// True positives at the lowest score.
    pub true_positives: usize,
    /// False positives at the lowest score.
    pub false_positives: usize,
    /// Detections left out because they hit an ignore region.
    pub ignored: usize,
    /// Recall at the lowest score.
    pub max_recall: f64,
}

impl ApAccumulator {
    /// An empty accumulator matching at `iou_threshold` (0.5 for AP50).
    pub fn new(iou_threshold: f32) -> Self {
        Self {
            iou_threshold,
            positives: 0,
            ignored: 0,
            outcomes: Vec::new(),
        }
    }

    /// Matches one frame's detections against its ground truth.
    pub fn add_frame(&mut self, detections: &[ScoredBox], gt: &FrameGt) {
        self.positives += gt.positives.len();
        let mut order: Vec<usize> = (0..detections.len())
            .filter(|&i| detections[i].score.is_finite() && detections[i].bbox.is_finite())
            .collect();
        order.sort_by(|&a, &b| detections[b].score.total_cmp(&detections[a].score));
        let mut used = vec![false; gt.positives.len()];
        for i in order {
            let d = &detections[i];
            let mut best: Option<(usize, f32)> = None;
            for (k, g) in gt.positives.iter().enumerate() {
                if used[k] {
                    continue;
                }
                let iou = d.bbox.iou(g);
                if iou >= self.iou_threshold && best.is_none_or(|(_, b)| iou > b) {
                    best = Some((k, iou));
                }
            }
            if let Some((k, _)) = best {
                used[k] = true;
                self.outcomes.push((d.score, Outcome::TruePositive));
            } else if gt
                .ignore
                .iter()
                .any(|g| d.bbox.iou(g) >= self.iou_threshold)
            {
                self.ignored += 1;
            } else {
                self.outcomes.push((d.score, Outcome::FalsePositive));
            }
        }
    }

    /// Adds everything another accumulator (same threshold) has seen.
    pub fn merge(&mut self, other: &ApAccumulator) {
        self.positives += other.positives;
        self.ignored += other.ignored;
        self.outcomes.extend_from_slice(&other.outcomes);
    }

    /// AP over everything added so far.
    pub fn summary(&self) -> ApSummary {
        let mut outcomes = self.outcomes.clone();
        // Stable: equal scores keep their insertion order.
        outcomes.sort_by(|a, b| b.0.total_cmp(&a.0));
        let npos = self.positives as f64;
        let (mut tp, mut fp) = (0usize, 0usize);
        // Points of the PR curve, in order of decreasing score.
        let mut recall = Vec::with_capacity(outcomes.len());
        let mut precision = Vec::with_capacity(outcomes.len());
        for (_, o) in &outcomes {
            match o {
                Outcome::TruePositive => tp += 1,
                Outcome::FalsePositive => fp += 1,
            }
            recall.push(if npos > 0.0 { tp as f64 / npos } else { 0.0 });
            precision.push(tp as f64 / (tp + fp) as f64);
        }
        ApSummary {
            ap: if npos > 0.0 {
                voc_ap(&recall, &precision)
            } else {
                0.0
            },
            positives: self.positives,
            detections: outcomes.len(),
            true_positives: tp,
            false_positives: fp,
            ignored: self.ignored,
            max_recall: recall.last().copied().unwrap_or(0.0),
        }
    }
}

/// VOC all-point interpolated AP of a PR curve given in order of decreasing score.
pub fn voc_ap(recall: &[f64], precision: &[f64]) -> f64 {
    let mut mrec = Vec::with_capacity(recall.len() + 2);
    let mut mpre = Vec::with_capacity(precision.len() + 2);
    mrec.push(0.0);
    mrec.extend_from_slice(recall);
    mrec.push(1.0);
    mpre.push(0.0);
    mpre.extend_from_slice(precision);
    mpre.push(0.0);
    for i in (0..mpre.len() - 1).rev() {
        mpre[i] = mpre[i].max(mpre[i + 1]);
    }
    (1..mrec.len())
        .filter(|&i| mrec[i] != mrec[i - 1])
        .map(|i| (mrec[i] - mrec[i - 1]) * mpre[i])
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: f32, y: f32) -> BBox {
        BBox::new(x, y, x + 10.0, y + 20.0)
    }

    fn gt(positives: &[BBox], ignore: &[BBox]) -> FrameGt {
        FrameGt {
            positives: positives.to_vec(),
            ignore: ignore.to_vec(),
        }
    }

    fn ap(frames: &[(Vec<ScoredBox>, FrameGt)]) -> ApSummary {
        let mut acc = ApAccumulator::new(0.5);
        for (d, g) in frames {
            acc.add_frame(d, g);
        }
        acc.summary()
    }

    #[test]
    fn perfect_detections_give_one() {
        let g = gt(&[b(0.0, 0.0), b(50.0, 0.0)], &[]);
        let d = vec![
            ScoredBox::new(b(0.0, 0.0), 0.9),
            ScoredBox::new(b(51.0, 1.0), 0.8),
        ];
        let s = ap(&[(d, g)]);
        assert!((s.ap - 1.0).abs() < 1e-12);
        assert_eq!((s.true_positives, s.false_positives), (2, 0));
    }

    #[test]
    fn one_false_positive_above_all_true_positives() {
        // FP at 0.95, then 2 TPs: precision at recall 0.5 is 1/2, at recall 1 is 2/3; envelope is 2/3 for
        // both recall steps, so AP = 2/3.
        let g = gt(&[b(0.0, 0.0), b(50.0, 0.0)], &[]);
        let d = vec![
            ScoredBox::new(b(200.0, 0.0), 0.95),
            ScoredBox::new(b(0.0, 0.0), 0.9),
            ScoredBox::new(b(50.0, 0.0), 0.8),
        ];
        let s = ap(&[(d, g)]);
        assert!((s.ap - 2.0 / 3.0).abs() < 1e-12, "{}", s.ap);
        assert_eq!(s.false_positives, 1);
    }

    #[test]
    fn false_positive_in_the_middle_and_missed_object() {
        // TP 0.9, FP 0.8, TP 0.7; 4 positives. Points (0.25, 1), (0.25, 0.5), (0.5, 2/3).
        // AP = 0.25 * 1 + 0.25 * 2/3.
        let g = gt(
            &[b(0.0, 0.0), b(50.0, 0.0), b(100.0, 0.0), b(150.0, 0.0)],
            &[],
        );
        let d = vec![
            ScoredBox::new(b(0.0, 0.0), 0.9),
            ScoredBox::new(b(300.0, 0.0), 0.8),
            ScoredBox::new(b(50.0, 0.0), 0.7),
        ];
        let s = ap(&[(d, g)]);
        assert!((s.ap - (0.25 + 0.25 * 2.0 / 3.0)).abs() < 1e-12, "{}", s.ap);
        assert!((s.max_recall - 0.5).abs() < 1e-12);
    }

    #[test]
    fn detections_on_ignore_regions_count_neither_way() {
        let g = gt(&[b(0.0, 0.0)], &[b(100.0, 0.0)]);
        let d = vec![
            ScoredBox::new(b(100.0, 0.0), 0.99),
            ScoredBox::new(b(0.0, 0.0), 0.5),
        ];
        let s = ap(&[(d, g)]);
        assert!((s.ap - 1.0).abs() < 1e-12);
        assert_eq!((s.ignored, s.detections), (1, 1));
    }

    #[test]
    fn a_positive_match_wins_over_an_ignore_region() {
        // The detection overlaps both a positive and an ignore box: it is a true positive.
        let g = gt(&[b(0.0, 0.0)], &[b(1.0, 0.0)]);
        let s = ap(&[(vec![ScoredBox::new(b(0.0, 0.0), 0.9)], g)]);
        assert_eq!((s.true_positives, s.ignored), (1, 0));
    }

    #[test]
    fn duplicates_are_false_positives_and_frames_are_matched_separately() {
        let g = gt(&[b(0.0, 0.0)], &[]);
        let frames = vec![
            (
                vec![
                    ScoredBox::new(b(0.0, 0.0), 0.9),
                    ScoredBox::new(b(1.0, 0.0), 0.8),
                ],
                g.clone(),
            ),
            // Same box in another frame must not match frame 1's ground truth.
            (vec![ScoredBox::new(b(0.0, 0.0), 0.85)], gt(&[], &[])),
        ];
        let s = ap(&frames);
        assert_eq!((s.true_positives, s.false_positives), (1, 2));
        assert!(
            (s.ap - 1.0).abs() < 1e-12,
            "TP first at precision 1: {}",
            s.ap
        );
        // Reversed scores: the FP from frame 2 comes first.
        let mut acc = ApAccumulator::new(0.5);
        acc.add_frame(&[ScoredBox::new(b(0.0, 0.0), 0.5)], &g);
        let mut other = ApAccumulator::new(0.5);
        other.add_frame(&[ScoredBox::new(b(0.0, 0.0), 0.9)], &gt(&[], &[]));
        acc.merge(&other);
        assert!((acc.summary().ap - 0.5).abs() < 1e-12);
    }

    #[test]
    fn no_positives_or_no_detections() {
        assert_eq!(ap(&[(vec![], gt(&[b(0.0, 0.0)], &[]))]).ap, 0.0);
        let s = ap(&[(vec![ScoredBox::new(b(0.0, 0.0), 0.9)], gt(&[], &[]))]);
        assert_eq!((s.ap, s.false_positives), (0.0, 1));
    }
}
