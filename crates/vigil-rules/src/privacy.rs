//! Blacking out privacy masks on images (recordings' snapshots, live view, exports).

use crate::compile::PrivacyMask;
use crate::geometry::Polygon;
use vigil_core::BgrImage;

/// Float noise (in pixels) ignored when deciding whether an outline enters a pixel.
const TOL: f64 = 1e-3;

/// Paints every pixel the polygons (normalized coordinates) touch black. Conservative: a pixel only partly
/// covered is painted too, so nothing of a masked area leaks at its edges.
pub fn black_out<'a>(image: &mut BgrImage, polygons: impl IntoIterator<Item = &'a Polygon>) {
    let (w, h) = (image.width() as usize, image.height() as usize);
    if w == 0 || h == 0 {
        return;
    }
    let stride = w * 3;
    let data = image.data_mut();
    let mut xs: Vec<f64> = Vec::new();
    for poly in polygons {
        let pts: Vec<(f64, f64)> = poly
            .points()
            .iter()
            .map(|p| (p.x as f64 * w as f64, p.y as f64 * h as f64))
            .collect();
        let b = poly.bounds();
        let y_first = ((b.y1 as f64 * h as f64 + TOL).floor().max(0.0)) as usize;
        let y_last = (((b.y2 as f64 * h as f64 - TOL).ceil().max(0.0)) as usize).min(h);
        for y in y_first..y_last {
            // Spans at the top, middle and bottom of the pixel row, widened to whole pixels: together they
            // cover every pixel the outline passes through except at sub-pixel spikes.
            let mut row_spans: Vec<(usize, usize)> = Vec::new();
            for sy in [y as f64 + TOL, y as f64 + 0.5, y as f64 + 1.0 - TOL] {
                xs.clear();
                let n = pts.len();
                for i in 0..n {
                    let (ax, ay) = pts[i];
                    let (bx, by) = pts[(i + 1) % n];
                    if (ay > sy) != (by > sy) {
                        xs.push(ax + (sy - ay) * (bx - ax) / (by - ay));
                    }
                }
                xs.sort_by(f64::total_cmp);
                for pair in xs.chunks_exact(2) {
                    // Widen to whole pixels, ignoring float noise of a thousandth of a pixel.
                    let x0 = (pair[0] + TOL).floor().max(0.0) as usize;
                    let x1 = ((pair[1] - TOL).ceil().max(0.0) as usize).min(w);
                    if x0 < x1 {
                        row_spans.push((x0, x1));
                    }
                }
            }
            // Vertices strictly inside a pixel of this row (tips of spikes between the sample heights; a
            // vertex on a pixel border only touches it).
            for &(px, py) in &pts {
                let (fy, fx) = (py - y as f64, px.fract());
                if fy > TOL && fy < 1.0 - TOL && fx > TOL && fx < 1.0 - TOL {
                    let x = (px.floor().max(0.0) as usize).min(w - 1);
                    row_spans.push((x, x + 1));
                }
            }
            let row = &mut data[y * stride..(y + 1) * stride];
            for (x0, x1) in row_spans {
                row[x0 * 3..x1 * 3].fill(0);
            }
        }
    }
}

/// Blacks out a camera's privacy masks (from [`crate::RuleEngine::privacy_masks`] or
/// [`crate::privacy_masks`]).
pub fn black_out_masks(image: &mut BgrImage, masks: &[PrivacyMask]) {
    black_out(image, masks.iter().map(|m| &m.polygon));
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::Point;

    #[test]
    fn blacks_out_the_polygon_and_nothing_else() {
        let mut img = BgrImage::filled(100, 50, 200);
        let sq = Polygon::new(vec![
            Point::new(0.2, 0.2),
            Point::new(0.5, 0.2),
            Point::new(0.5, 0.6),
            Point::new(0.2, 0.6),
        ])
        .unwrap();
        black_out(&mut img, [&sq]);
        // The square covers x 20..50, y 10..30.
        for y in 0..50 {
            for x in 0..100 {
                let inside = (20..50).contains(&x) && (10..30).contains(&y);
                assert_eq!(img.get(x, y) == [0, 0, 0], inside, "pixel {x},{y}");
            }
        }
    }

    #[test]
    fn partly_covered_pixels_are_blacked_out() {
        let mut img = BgrImage::filled(10, 10, 255);
        // A triangle whose edges cut through pixels.
        let tri = Polygon::new(vec![
            Point::new(0.13, 0.11),
            Point::new(0.87, 0.52),
            Point::new(0.21, 0.93),
        ])
        .unwrap();
        black_out(&mut img, [&tri]);
        // Every pixel whose centre or any corner is inside must be black.
        for y in 0..10u32 {
            for x in 0..10u32 {
                let samples = [
                    (0.5, 0.5),
                    (0.01, 0.01),
                    (0.99, 0.01),
                    (0.01, 0.99),
                    (0.99, 0.99),
                ];
                let touched = samples.iter().any(|(dx, dy)| {
                    tri.contains(Point::new((x as f32 + dx) / 10.0, (y as f32 + dy) / 10.0))
                });
                if touched {
                    assert_eq!(img.get(x, y), [0, 0, 0], "pixel {x},{y} leaks");
                }
            }
        }
        assert_eq!(img.get(9, 0), [255, 255, 255]);
    }
}
