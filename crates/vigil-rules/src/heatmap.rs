//! Per-camera occupancy heatmap: seconds of object presence accumulated on a grid over the frame, rendered
//! to a colour-mapped image (PNG encoding is the caller's, e.g. with vigil-media).

use vigil_core::{BgrImage, Point};

/// Seconds objects spent in each cell of a grid over the frame (row-major, row 0 at the top).
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    cols: u32,
    rows: u32,
    cells: Vec<f32>,
    total: f64,
}

impl Heatmap {
    /// An empty heatmap of `cols` x `rows` cells (at least 1 x 1).
    pub fn new(cols: u32, rows: u32) -> Self {
        let (cols, rows) = (cols.max(1), rows.max(1));
        Self {
            cols,
            rows,
            cells: vec![0.0; cols as usize * rows as usize],
            total: 0.0,
        }
    }

    /// Grid columns.
    pub fn cols(&self) -> u32 {
        self.cols
    }

    /// Grid rows.
    pub fn rows(&self) -> u32 {
        self.rows
    }

    /// Seconds per cell, row after row.
    pub fn cells(&self) -> &[f32] {
        &self.cells
    }

    /// Seconds in one cell (0 outside the grid).
    pub fn value(&self, col: u32, row: u32) -> f32 {
        if col >= self.cols || row >= self.rows {
            return 0.0;
        }
        self.cells[(row * self.cols + col) as usize]
    }

    /// The largest cell value.
    pub fn max(&self) -> f32 {
        self.cells.iter().copied().fold(0.0, f32::max)
    }

    /// Object-seconds accumulated over the whole grid.
    pub fn total_seconds(&self) -> f64 {
        self.total
    }

    /// Clears every cell.
    pub fn reset(&mut self) {
        self.cells.fill(0.0);
        self.total = 0.0;
    }

    /// Adds `seconds` at a normalized point (points off the frame land in the nearest edge cell).
    pub fn add(&mut self, p: Point, seconds: f32) {
        if !(p.x.is_finite() && p.y.is_finite() && seconds.is_finite() && seconds > 0.0) {
            return;
        }
        let col = ((p.x * self.cols as f32) as i64).clamp(0, self.cols as i64 - 1) as u32;
        let row = ((p.y * self.rows as f32) as i64).clamp(0, self.rows as i64 - 1) as u32;
        self.cells[(row * self.cols + col) as usize] += seconds;
        self.total += seconds as f64;
    }

    /// Intensities in 0..1 per cell: lightly smoothed, scaled to the maximum, square-root so that places
    /// visited briefly still show.
    fn intensities(&self) -> Vec<f32> {
        let (c, r) = (self.cols as usize, self.rows as usize);
        let at = |v: &[f32], x: isize, y: isize| {
            let x = x.clamp(0, c as isize - 1) as usize;
            let y = y.clamp(0, r as isize - 1) as usize;
            v[y * c + x]
        };
        let mut tmp = vec![0.0f32; c * r];
        for y in 0..r as isize {
            for x in 0..c as isize {
                tmp[y as usize * c + x as usize] = (at(&self.cells, x - 1, y)
                    + 2.0 * at(&self.cells, x, y)
                    + at(&self.cells, x + 1, y))
                    / 4.0;
            }
        }
        let mut out = vec![0.0f32; c * r];
        for y in 0..r as isize {
            for x in 0..c as isize {
                out[y as usize * c + x as usize] =
                    (at(&tmp, x, y - 1) + 2.0 * at(&tmp, x, y) + at(&tmp, x, y + 1)) / 4.0;
            }
        }
        let max = out.iter().copied().fold(0.0, f32::max);
        if max > 0.0 {
            for v in &mut out {
                *v = (*v / max).sqrt();
            }
        }
        out
    }

    /// Renders the heatmap alone as a `width` x `height` colour-mapped image (dark blue = never, red = most).
    pub fn render(&self, width: u32, height: u32) -> BgrImage {
        let mut img = BgrImage::filled(width, height, 0);
        self.paint(&mut img, None);
        img
    }

    /// Renders the heatmap blended over a background frame: places never visited show the frame unchanged,
    /// the busiest ones `opacity` (0..1) colour.
    pub fn render_over(&self, background: &BgrImage, opacity: f32) -> BgrImage {
        let mut img = background.clone();
        self.paint(&mut img, Some(opacity.clamp(0.0, 1.0)));
        img
    }

    fn paint(&self, img: &mut BgrImage, blend: Option<f32>) {
        let (w, h) = (img.width() as usize, img.height() as usize);
        if w == 0 || h == 0 {
            return;
        }
        let grid = self.intensities();
        let lut = turbo_lut();
        let (c, r) = (self.cols as usize, self.rows as usize);
        // Bilinear sampling positions for each output column and row.
        let sample = |n: usize, cells: usize| -> Vec<(usize, usize, f32)> {
            (0..n)
                .map(|i| {
                    let g = ((i as f32 + 0.5) / n as f32 * cells as f32 - 0.5)
                        .clamp(0.0, cells as f32 - 1.0);
                    let i0 = g.floor() as usize;
                    (i0, (i0 + 1).min(cells - 1), g - i0 as f32)
                })
                .collect()
        };
        let xs = sample(w, c);
        let ys = sample(h, r);
        let data = img.data_mut();
        for (y, &(y0, y1, fy)) in ys.iter().enumerate() {
            let (row0, row1) = (&grid[y0 * c..(y0 + 1) * c], &grid[y1 * c..(y1 + 1) * c]);
            let line = &mut data[y * w * 3..(y + 1) * w * 3];
            for (x, &(x0, x1, fx)) in xs.iter().enumerate() {
                let top = row0[x0] + (row0[x1] - row0[x0]) * fx;
                let bottom = row1[x0] + (row1[x1] - row1[x0]) * fx;
                let v = (top + (bottom - top) * fy).clamp(0.0, 1.0);
                let colour = lut[(v * 255.0).round() as usize];
                let px = &mut line[x * 3..x * 3 + 3];
                match blend {
                    None => px.copy_from_slice(&colour),
                    Some(opacity) => {
                        let a = opacity * v;
                        for k in 0..3 {
                            px[k] = (px[k] as f32 * (1.0 - a) + colour[k] as f32 * a).round() as u8;
                        }
                    }
                }
            }
        }
    }
}

/// The Turbo colour map (Google, Apache-2.0 polynomial approximation) as 256 BGR entries.
fn turbo_lut() -> [[u8; 3]; 256] {
    let mut lut = [[0u8; 3]; 256];
    for (i, e) in lut.iter_mut().enumerate() {
        let x = i as f64 / 255.0;
        let r = 0.13572138
            + x * (4.61539260
                + x * (-42.66032258 + x * (132.13108234 + x * (-152.94239396 + x * 59.28637943))));
        let g = 0.09140261
            + x * (2.19418839
                + x * (4.84296658 + x * (-14.18503333 + x * (4.27729857 + x * 2.82956604))));
        let b = 0.10667330
            + x * (12.64194608
                + x * (-60.58204836 + x * (110.36276771 + x * (-89.90310912 + x * 27.34824973))));
        let q = |v: f64| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        *e = [q(b), q(g), q(r)];
    }
    lut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulates_seconds_in_the_right_cell() {
        let mut h = Heatmap::new(4, 2);
        h.add(Point::new(0.9, 0.9), 0.5);
        h.add(Point::new(0.9, 0.9), 0.5);
        h.add(Point::new(0.1, 0.1), 0.25);
        h.add(Point::new(1.3, -0.2), 1.0); // off the frame: top-right cell
        assert_eq!(h.value(3, 1), 1.0);
        assert_eq!(h.value(0, 0), 0.25);
        assert_eq!(h.value(3, 0), 1.0);
        assert!((h.total_seconds() - 2.25).abs() < 1e-9);
        h.reset();
        assert_eq!(h.max(), 0.0);
    }

    #[test]
    fn render_is_hot_where_objects_were_and_keeps_the_background_elsewhere() {
        let mut h = Heatmap::new(8, 8);
        for _ in 0..10 {
            h.add(Point::new(0.8, 0.8), 1.0);
        }
        let img = h.render(64, 64);
        assert_eq!((img.width(), img.height()), (64, 64));
        let hot = img.get(51, 51);
        let cold = img.get(5, 5);
        // Turbo: the hottest place is dark red (high R, low G and B), the coldest almost black.
        assert!(hot[2] > 120 && hot[1] < 60 && hot[0] < 60, "{hot:?}");
        assert!(
            cold.iter().all(|&v| v < 60),
            "never visited is dark: {cold:?}"
        );

        let bg = BgrImage::filled(64, 48, 128);
        let over = h.render_over(&bg, 0.6);
        assert_eq!((over.width(), over.height()), (64, 48));
        assert_eq!(
            over.get(2, 2),
            [128, 128, 128],
            "unvisited places keep the frame"
        );
        assert_ne!(over.get(51, 38), [128, 128, 128]);
        // An empty heatmap leaves the background as it is.
        assert_eq!(Heatmap::new(8, 8).render_over(&bg, 0.6), bg);
    }
}
