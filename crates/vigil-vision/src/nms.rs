//! Non-maximum suppression: keeps the best-scoring box of each group of overlapping boxes of one class.
//!
//! Stable: detections are ordered by score (highest first) and, for equal scores, by their input order, so the
//! same input always gives the same output. A box is suppressed when its IoU with a kept box of the same class
//! is strictly greater than the threshold (the convention of the YOLOX and NanoDet reference code).

use vigil_core::{BBox, Detection};

/// IoU threshold of the YOLOX recipe.
pub const YOLOX_IOU: f32 = 0.45;
/// IoU threshold of the NanoDet recipe.
pub const NANODET_IOU: f32 = 0.6;

/// Indices of `detections` sorted by descending score; ties keep their input order.
pub fn order_by_score(detections: &[Detection]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..detections.len()).collect();
    // `sort_by` is stable; NaN scores (never produced by our decoders) sort last.
    order.sort_by(|&a, &b| {
        let (sa, sb) = (detections[a].score, detections[b].score);
        sb.partial_cmp(&sa)
            .unwrap_or_else(|| sa.is_nan().cmp(&sb.is_nan()))
    });
    order
}

/// Class-wise NMS: the indices of the kept detections, highest score first.
pub fn class_nms_indices(detections: &[Detection], iou_threshold: f32) -> Vec<usize> {
    let order = order_by_score(detections);
    let mut kept: Vec<usize> = Vec::new();
    // Kept boxes per class: a candidate is only compared with its own class.
    let mut by_class: Vec<Vec<BBox>> = Vec::new();
    for &i in &order {
        let d = &detections[i];
        if !d.score.is_finite() || !d.bbox.is_finite() {
            continue;
        }
        let class = d.class_id as usize;
        if by_class.len() <= class {
            by_class.resize_with(class + 1, Vec::new);
        }
        let same = &mut by_class[class];
        if !same.iter().any(|q| q.iou(&d.bbox) > iou_threshold) {
            same.push(d.bbox);
            kept.push(i);
        }
    }
    kept
}

/// Class-wise NMS returning the kept detections, highest score first.
pub fn class_nms(detections: &[Detection], iou_threshold: f32) -> Vec<Detection> {
    class_nms_indices(detections, iou_threshold)
        .into_iter()
        .map(|i| detections[i])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x1: f32, y1: f32, x2: f32, y2: f32, score: f32, class_id: u16) -> Detection {
        Detection::new(BBox::new(x1, y1, x2, y2), score, class_id)
    }

    #[test]
    fn overlapping_boxes_of_one_class_keep_the_best() {
        let dets = [
            det(0.0, 0.0, 10.0, 10.0, 0.5, 0),
            det(1.0, 1.0, 11.0, 11.0, 0.9, 0),
            det(50.0, 50.0, 60.0, 60.0, 0.3, 0),
        ];
        let kept = class_nms(&dets, 0.45);
        assert_eq!(kept, vec![dets[1], dets[2]]);
    }

    #[test]
    fn different_classes_never_suppress_each_other() {
        let dets = [
            det(0.0, 0.0, 10.0, 10.0, 0.9, 0),
            det(0.0, 0.0, 10.0, 10.0, 0.8, 2),
        ];
        assert_eq!(class_nms(&dets, 0.45).len(), 2);
    }

    #[test]
    fn threshold_is_strict_and_the_result_is_stable_under_ties() {
        // IoU of these two is exactly 1/3.
        let a = det(0.0, 0.0, 10.0, 10.0, 0.7, 0);
        let b = det(5.0, 0.0, 15.0, 10.0, 0.7, 0);
        assert_eq!(class_nms(&[a, b], 1.0 / 3.0), vec![a, b]);
        assert_eq!(class_nms(&[a, b], 0.3), vec![a]);
        assert_eq!(class_nms(&[b, a], 0.3), vec![b]);
    }

    #[test]
    fn chains_are_resolved_by_score_order() {
        // b overlaps both a and c; a and c do not overlap. b is best, so both a and c go.
        let a = det(0.0, 0.0, 10.0, 10.0, 0.6, 0);
        let b = det(3.0, 0.0, 13.0, 10.0, 0.9, 0);
        let c = det(6.0, 0.0, 16.0, 10.0, 0.5, 0);
        assert_eq!(class_nms(&[a, b, c], 0.3), vec![b]);
        // With a the best, b goes and c survives (its IoU with a is 0.25).
        let a = det(0.0, 0.0, 10.0, 10.0, 0.95, 0);
        assert_eq!(class_nms(&[a, b, c], 0.3), vec![a, c]);
    }

    #[test]
    fn non_finite_detections_are_dropped() {
        let dets = [
            det(0.0, 0.0, f32::NAN, 10.0, 0.9, 0),
            det(0.0, 0.0, 10.0, 10.0, f32::NAN, 0),
            det(0.0, 0.0, 10.0, 10.0, 0.1, 0),
        ];
        assert_eq!(class_nms(&dets, 0.45), vec![dets[2]]);
    }
}
