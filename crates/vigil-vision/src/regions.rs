//! Which parts of a frame to run the detector on.
//!
//! - [`tiled_regions`]: for still images, the full frame plus 2x2 overlapping tiles, so small people far from
//!   the camera get more pixels (YOLOX-nano person AP50 on MOT17 frames 0.42 -> 0.52+).
//! - [`plan_regions`]: for video, square crops around motion and live tracks, each at least the model input in
//!   size so small objects keep their pixels (a bigger cluster gets a bigger square that the detector
//!   downscales). Neighbouring squares are merged when one square covers them more cheaply than two, the
//!   count is bounded, and the plan falls back to the full frame when the squares would cost more than it.
//!
//! Cost is measured in frame pixels a square covers (`side^2`, with the side at least the model input): every
//! square is one model run at fixed size, so covering more frame per run means less resolution per object,
//! and squares that together cover more than the frame are not worth their extra runs.

use vigil_core::BBox;

/// Default overlap of the 2x2 tiles, as a fraction of the frame side.
pub const DEFAULT_TILE_OVERLAP: f32 = 0.2;

/// The full frame followed by 2x2 tiles that overlap by `overlap` of the frame's width and height
/// (each tile is `(0.5 + overlap / 2)` of the frame in each direction).
pub fn tiled_regions(frame_w: u32, frame_h: u32, overlap: f32) -> Vec<BBox> {
    let (w, h) = (frame_w as f32, frame_h as f32);
    let f = (0.5 + overlap.clamp(0.0, 1.0) / 2.0).min(1.0);
    let (tw, th) = (w * f, h * f);
    let mut regions = vec![BBox::new(0.0, 0.0, w, h)];
    for y in [0.0, h - th] {
        for x in [0.0, w - tw] {
            regions.push(BBox::new(x, y, x + tw, y + th));
        }
    }
    regions
}

/// Tuning of [`plan_regions`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionPlanConfig {
    /// Margin added around each motion box, as a fraction of its larger side.
    pub motion_margin: f32,
    /// Margin added around each live track's box, as a fraction of its larger side (tracks move between
    /// frames; the margin keeps them inside their crop).
    pub track_margin: f32,
    /// At most this many squares; beyond, the cheapest merges are forced.
    pub max_regions: usize,
    /// Fall back to the full frame when the squares cover at least this fraction of the frame area.
    pub full_frame_ratio: f32,
    /// More input boxes than this means the scene is busy everywhere: use the full frame.
    pub max_input_boxes: usize,
}

impl Default for RegionPlanConfig {
    fn default() -> Self {
        Self {
            motion_margin: 0.1,
            track_margin: 0.25,
            max_regions: 4,
            full_frame_ratio: 1.0,
            max_input_boxes: 256,
        }
    }
}

/// Side of the square that shows `b` at no less than model resolution.
fn square_side(b: &BBox, model_input: f32) -> f32 {
    b.width().max(b.height()).max(model_input)
}

/// Frame pixels covered by the square for `b`.
fn cost(b: &BBox, model_input: f32) -> f32 {
    let s = square_side(b, model_input);
    s * s
}

/// The square of side `side` centred on `b`, moved inside the frame, then clipped to it (a square larger than
/// the frame in one direction becomes a rectangle).
fn square_around(b: &BBox, side: f32, frame_w: f32, frame_h: f32) -> BBox {
    let c = b.center();
    let place = |centre: f32, len: f32| {
        if side >= len {
            0.0
        } else {
            (centre - side / 2.0).clamp(0.0, len - side)
        }
    };
    let x1 = place(c.x, frame_w);
    let y1 = place(c.y, frame_h);
    BBox::new(x1, y1, x1 + side, y1 + side).clip(frame_w, frame_h)
}

/// Plans the regions to detect on from motion boxes and live tracks (frame pixels). Returns square crops
/// (clipped to the frame), `[full frame]` when that is cheaper, or nothing when there is nothing to look at.
pub fn plan_regions(
    motion_boxes: &[BBox],
    track_boxes: &[BBox],
    frame_w: u32,
    frame_h: u32,
    model_input: u32,
    cfg: &RegionPlanConfig,
) -> Vec<BBox> {
    let (fw, fh) = (frame_w as f32, frame_h as f32);
    let m = model_input.max(1) as f32;
    if frame_w == 0 || frame_h == 0 {
        return Vec::new();
    }
    let grow = |b: &BBox, frac: f32| b.expand(frac.max(0.0) * b.width().max(b.height()));
    let mut clusters: Vec<BBox> = motion_boxes
        .iter()
        .map(|b| grow(b, cfg.motion_margin))
        .chain(track_boxes.iter().map(|b| grow(b, cfg.track_margin)))
        .filter(BBox::is_finite)
        .map(|b| b.clip(fw, fh))
        .filter(|b| !b.is_empty())
        .collect();
    let full = vec![BBox::new(0.0, 0.0, fw, fh)];
    if clusters.is_empty() {
        return Vec::new();
    }
    // The whole frame fits the model at native resolution: one run sees everything at full detail.
    if fw.max(fh) <= m || clusters.len() > cfg.max_input_boxes {
        return full;
    }

    // Greedy merging: take the pair whose merged square saves the most, while it saves anything; then force the
    // cheapest merges until the count is within bounds.
    while let Some((i, j, delta)) = best_merge(&clusters, m) {
        if delta > 0.0 && clusters.len() <= cfg.max_regions.max(1) {
            break;
        }
        let merged = clusters[i].union(&clusters[j]);
        clusters[i] = merged;
        clusters.swap_remove(j);
    }

    let total: f32 = clusters.iter().map(|c| cost(c, m)).sum();
    if clusters.len() > 1 && total >= cfg.full_frame_ratio * fw * fh {
        return full;
    }
    clusters
        .iter()
        .map(|c| square_around(c, square_side(c, m), fw, fh))
        .collect()
}

/// The pair of clusters whose merge changes the cost least (most negative = largest saving), `i < j`.
fn best_merge(clusters: &[BBox], m: f32) -> Option<(usize, usize, f32)> {
    let mut best: Option<(usize, usize, f32)> = None;
    for i in 0..clusters.len() {
        for j in i + 1..clusters.len() {
            let merged = clusters[i].union(&clusters[j]);
            let delta = cost(&merged, m) - cost(&clusters[i], m) - cost(&clusters[j], m);
            if best.is_none_or(|(_, _, d)| delta < d) {
                best = Some((i, j, delta));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u32 = 1920;
    const H: u32 = 1080;

    fn plan(motion: &[BBox], tracks: &[BBox]) -> Vec<BBox> {
        plan_regions(motion, tracks, W, H, 416, &RegionPlanConfig::default())
    }

    fn contains(outer: &BBox, inner: &BBox) -> bool {
        inner.x1 >= outer.x1 - 1e-3
            && inner.y1 >= outer.y1 - 1e-3
            && inner.x2 <= outer.x2 + 1e-3
            && inner.y2 <= outer.y2 + 1e-3
    }

    #[test]
    fn tiles_cover_the_frame_with_overlap() {
        let t = tiled_regions(1920, 1080, 0.2);
        assert_eq!(t.len(), 5);
        assert_eq!(t[0], BBox::new(0.0, 0.0, 1920.0, 1080.0));
        assert_eq!(t[1], BBox::new(0.0, 0.0, 1152.0, 648.0));
        assert_eq!(t[4], BBox::new(768.0, 432.0, 1920.0, 1080.0));
        // Tiles overlap by 20% of the frame in each direction.
        assert!((t[1].x2 - t[2].x1 - 384.0).abs() < 1e-3);
        assert!((t[1].y2 - t[3].y1 - 216.0).abs() < 1e-3);
    }

    #[test]
    fn nothing_moving_means_nothing_to_detect() {
        assert!(plan(&[], &[]).is_empty());
        // Boxes entirely outside the frame or degenerate count as nothing.
        assert!(plan(&[BBox::new(3000.0, 0.0, 3100.0, 50.0)], &[]).is_empty());
        assert!(plan(&[BBox::new(f32::NAN, 0.0, 10.0, 10.0)], &[]).is_empty());
    }

    #[test]
    fn a_small_motion_box_gets_a_model_sized_square_around_it() {
        let b = BBox::new(1000.0, 500.0, 1040.0, 600.0);
        let r = plan(&[b], &[]);
        assert_eq!(r.len(), 1);
        assert!((r[0].width() - 416.0).abs() < 1e-3 && (r[0].height() - 416.0).abs() < 1e-3);
        assert!(contains(&r[0], &b));
        // Centred on the box.
        assert!((r[0].center().x - 1020.0).abs() < 1e-3 && (r[0].center().y - 550.0).abs() < 1e-3);
    }

    #[test]
    fn squares_near_the_border_move_inside_the_frame() {
        let b = BBox::new(1900.0, 1060.0, 1920.0, 1080.0);
        let r = plan(&[b], &[]);
        assert_eq!(r, vec![BBox::new(1504.0, 664.0, 1920.0, 1080.0)]);
    }

    #[test]
    fn a_large_cluster_gets_a_larger_square() {
        let b = BBox::new(100.0, 100.0, 700.0, 400.0);
        let r = plan(&[b], &[]);
        assert_eq!(r.len(), 1);
        let side = 600.0 * 1.2; // 10% motion margin each side
        assert!((r[0].width() - side).abs() < 1e-2 && (r[0].height() - side).abs() < 1e-2);
        assert!(contains(&r[0], &b));
    }

    #[test]
    fn close_neighbours_share_a_square_and_distant_ones_do_not() {
        let a = BBox::new(500.0, 500.0, 540.0, 600.0);
        let b = BBox::new(700.0, 520.0, 740.0, 620.0);
        let r = plan(&[a, b], &[]);
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(contains(&r[0], &a) && contains(&r[0], &b));

        let far = BBox::new(1700.0, 100.0, 1740.0, 200.0);
        let r = plan(&[a, far], &[]);
        assert_eq!(r.len(), 2);
        assert!(r.iter().any(|s| contains(s, &a)) && r.iter().any(|s| contains(s, &far)));
    }

    #[test]
    fn track_boxes_are_covered_with_their_margin() {
        let t = BBox::new(300.0, 300.0, 400.0, 500.0);
        let r = plan(&[], &[t]);
        assert_eq!(r.len(), 1);
        assert!(contains(&r[0], &t.expand(50.0)));
    }

    fn grid(cols: usize, rows: usize, dx: f32, dy: f32) -> Vec<BBox> {
        (0..cols * rows)
            .map(|i| {
                let (x, y) = ((i % cols) as f32 * dx + 60.0, (i / cols) as f32 * dy + 40.0);
                BBox::new(x, y, x + 30.0, y + 60.0)
            })
            .collect()
    }

    #[test]
    fn the_count_is_bounded_and_every_box_stays_covered() {
        // Twelve small boxes spread over the left two thirds of the frame.
        let boxes = grid(4, 3, 320.0, 330.0);
        let r = plan(&boxes, &[]);
        assert!(!r.is_empty() && r.len() <= 4, "{r:?}");
        assert!(r.iter().all(|s| s.area() < 1920.0 * 1080.0));
        for b in &boxes {
            assert!(
                r.iter().any(|s| contains(s, b)),
                "{b:?} not covered by {r:?}"
            );
        }
    }

    #[test]
    fn squares_costing_more_than_the_frame_fall_back_to_it() {
        // Activity in the four corners with at most two regions: each region must span the frame's height,
        // and two such squares cover more than the frame.
        let boxes = [
            BBox::new(20.0, 20.0, 60.0, 100.0),
            BBox::new(1860.0, 20.0, 1900.0, 100.0),
            BBox::new(20.0, 980.0, 60.0, 1060.0),
            BBox::new(1860.0, 980.0, 1900.0, 1060.0),
        ];
        let two = RegionPlanConfig {
            max_regions: 2,
            ..RegionPlanConfig::default()
        };
        assert_eq!(
            plan_regions(&boxes, &[], W, H, 416, &two),
            vec![BBox::new(0.0, 0.0, 1920.0, 1080.0)]
        );
        // Allowed to cost more than the frame, the planner keeps two squares covering every box.
        let lax = RegionPlanConfig {
            full_frame_ratio: 10.0,
            ..two
        };
        let r = plan_regions(&boxes, &[], W, H, 416, &lax);
        assert_eq!(r.len(), 2, "{r:?}");
        for b in &boxes {
            assert!(
                r.iter().any(|s| contains(s, b)),
                "{b:?} not covered by {r:?}"
            );
        }
        // With the default bound of four, four small squares are far cheaper than the frame.
        assert_eq!(plan(&boxes, &[]).len(), 4);
    }

    #[test]
    fn small_frames_use_the_full_frame() {
        let b = BBox::new(10.0, 10.0, 50.0, 50.0);
        let r = plan_regions(&[b], &[], 320, 240, 416, &RegionPlanConfig::default());
        assert_eq!(r, vec![BBox::new(0.0, 0.0, 320.0, 240.0)]);
        // 640x480: one 416 square is cheaper than the frame, two distant ones are not.
        let r = plan_regions(&[b], &[], 640, 480, 416, &RegionPlanConfig::default());
        assert_eq!(r.len(), 1);
        assert!((r[0].width() - 416.0).abs() < 1e-3);
        let far = BBox::new(600.0, 440.0, 630.0, 470.0);
        let r = plan_regions(&[b, far], &[], 640, 480, 416, &RegionPlanConfig::default());
        assert_eq!(r, vec![BBox::new(0.0, 0.0, 640.0, 480.0)]);
    }
}
