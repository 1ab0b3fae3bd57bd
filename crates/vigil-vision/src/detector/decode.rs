//! Raw model outputs to candidate boxes in model-input pixels (before NMS), per `shared/models/README.md`.

use vigil_core::{BBox, Detection};

/// Decodes a YOLOX output of `cols = 5 + classes` values per row laid out on the stride 8, 16, 32 grids
/// (row-major within each). `score = objectness * best class probability`; one class per box.
pub(crate) fn decode_yolox(
    output: &[f32],
    cols: usize,
    size: u32,
    strides: [u32; 3],
    score_threshold: f32,
    out: &mut Vec<Detection>,
) {
    let mut rows = output.chunks_exact(cols);
    for stride in strides {
        let n = size.div_ceil(stride);
        let s = stride as f32;
        for gy in 0..n {
            for gx in 0..n {
                let Some(row) = rows.next() else { return };
                let obj = row[4];
                // Class probabilities are at most 1, so the score cannot beat the objectness.
                if obj.is_nan() || obj < score_threshold {
                    continue;
                }
                let (class, prob) = best_class(&row[5..]);
                let score = obj * prob;
                if score.is_nan() || score < score_threshold {
                    continue;
                }
                let cx = (row[0] + gx as f32) * s;
                let cy = (row[1] + gy as f32) * s;
                let w = row[2].exp() * s;
                let h = row[3].exp() * s;
                out.push(Detection::new(
                    BBox::from_cxcywh(cx, cy, w, h),
                    score,
                    class,
                ));
            }
        }
    }
}

/// Decodes NanoDet GFL heads: per stride, class scores `[cells, classes]` (sigmoid applied) and box
/// distributions `[cells, 4 * bins]` (softmax over bins, expectation times the stride = distances l, t, r, b
/// from the cell centre `g * s + (s - 1) / 2`).
pub(crate) fn decode_nanodet(
    heads: &NanoDetHeads<'_>,
    size: u32,
    strides: [u32; 3],
    score_threshold: f32,
    out: &mut Vec<Detection>,
) {
    let NanoDetHeads {
        cls,
        reg,
        classes,
        bins,
    } = *heads;
    for level in 0..3 {
        let stride = strides[level];
        let n = size.div_ceil(stride) as usize;
        let s = stride as f32;
        let scores = cls[level].chunks_exact(classes);
        let dists = reg[level].chunks_exact(4 * bins);
        for (i, (sc, dist)) in scores.zip(dists).enumerate() {
            let (class, score) = best_class(sc);
            if score.is_nan() || score < score_threshold {
                continue;
            }
            let (gx, gy) = ((i % n) as f32, (i / n) as f32);
            let cx = gx * s + 0.5 * (s - 1.0);
            let cy = gy * s + 0.5 * (s - 1.0);
            let d: [f32; 4] =
                std::array::from_fn(|k| expected_bin(&dist[k * bins..(k + 1) * bins]) * s);
            out.push(Detection::new(
                BBox::new(cx - d[0], cy - d[1], cx + d[2], cy + d[3]),
                score,
                class,
            ));
        }
    }
}

/// The raw NanoDet head outputs of one run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NanoDetHeads<'a> {
    /// Class scores per stride, `[cells, classes]`.
    pub cls: [&'a [f32]; 3],
    /// Box distributions per stride, `[cells, 4 * bins]`.
    pub reg: [&'a [f32]; 3],
    /// Number of classes.
    pub classes: usize,
    /// Bins per box side.
    pub bins: usize,
}

/// The index and value of the largest probability (first on ties).
fn best_class(probs: &[f32]) -> (u16, f32) {
    let mut best = (0u16, f32::NEG_INFINITY);
    for (i, &p) in probs.iter().enumerate() {
        if p > best.1 {
            best = (i as u16, p);
        }
    }
    best
}

/// Expectation of the bin index under softmax(`logits`).
fn expected_bin(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    let mut weighted = 0.0;
    for (i, &l) in logits.iter().enumerate() {
        let e = (l - max).exp();
        sum += e;
        weighted += e * i as f32;
    }
    if sum > 0.0 { weighted / sum } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yolox_row_decodes_on_its_grid_cell() {
        // size 64: strides 8/16/32 give 8x8 + 4x4 + 2x2 = 84 rows of 5 + 2 values.
        let cols = 7;
        let mut out = vec![0.0f32; 84 * cols];
        // Row 64 + 5 is the stride-16 grid cell (gx=1, gy=1).
        let r = (64 + 5) * cols;
        out[r..r + cols].copy_from_slice(&[0.5, 0.25, 0.0, 2f32.ln(), 0.8, 0.1, 0.9]);
        let mut dets = Vec::new();
        decode_yolox(&out, cols, 64, [8, 16, 32], 0.5, &mut dets);
        assert_eq!(dets.len(), 1);
        let d = dets[0];
        assert_eq!(d.class_id, 1);
        assert!((d.score - 0.72).abs() < 1e-6);
        // cx = 1.5 * 16 = 24, cy = 1.25 * 16 = 20, w = 16, h = 32.
        assert_eq!(d.bbox, BBox::new(16.0, 4.0, 32.0, 36.0));
    }

    #[test]
    fn yolox_threshold_uses_the_product_of_objectness_and_class() {
        let cols = 6;
        let mut out = vec![0.0f32; 84 * cols];
        out[..cols].copy_from_slice(&[0.0, 0.0, 0.0, 0.0, 0.9, 0.5]);
        let mut dets = Vec::new();
        decode_yolox(&out, cols, 64, [8, 16, 32], 0.5, &mut dets);
        assert!(dets.is_empty(), "0.9 * 0.5 = 0.45 < 0.5");
    }

    #[test]
    fn nanodet_distributions_give_expected_distances() {
        // size 32: cells 16, 4, 1. Put one box on stride 8 cell (gx=2, gy=1) = index 6.
        let classes = 3;
        let bins = 8;
        let mut cls = [vec![0.0f32; 16 * 3], vec![0.0; 4 * 3], vec![0.0; 3]];
        let mut reg = [vec![0.0f32; 16 * 32], vec![0.0; 4 * 32], vec![0.0; 32]];
        cls[0][6 * 3 + 2] = 0.7;
        // One-hot-ish logits: side k peaks at bin k+1 (distance (k+1) * 8).
        for k in 0..4 {
            reg[0][6 * 32 + k * bins + k + 1] = 50.0;
        }
        let mut dets = Vec::new();
        let heads = NanoDetHeads {
            cls: [&cls[0], &cls[1], &cls[2]],
            reg: [&reg[0], &reg[1], &reg[2]],
            classes,
            bins,
        };
        decode_nanodet(&heads, 32, [8, 16, 32], 0.5, &mut dets);
        assert_eq!(dets.len(), 1);
        let d = dets[0];
        assert_eq!((d.class_id, d.score), (2, 0.7));
        // Centre (2*8 + 3.5, 1*8 + 3.5) = (19.5, 11.5); distances 8, 16, 24, 32.
        let want = BBox::new(11.5, -4.5, 43.5, 43.5);
        for (a, b) in [
            (d.bbox.x1, want.x1),
            (d.bbox.y1, want.y1),
            (d.bbox.x2, want.x2),
            (d.bbox.y2, want.y2),
        ] {
            assert!((a - b).abs() < 1e-3, "{:?} vs {want:?}", d.bbox);
        }
    }

    #[test]
    fn softmax_expectation_of_uniform_logits_is_the_middle() {
        assert!((expected_bin(&[0.0; 8]) - 3.5).abs() < 1e-6);
    }
}
