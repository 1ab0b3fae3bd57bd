//! Binary-mask clean-up on 0/1 byte masks: square dilation and erosion of any radius, 3x3 majority
//! (median) and hole filling.
//!
//! Every operation is separable or linear in the pixel count and writes into caller-owned buffers, so the
//! per-frame cost is a few passes over the mask and no allocation after the first frame.

/// Reusable scratch space for the mask operations of one frame size.
#[derive(Debug, Default)]
pub(crate) struct MaskOps {
    tmp: Vec<u8>,
    stack: Vec<(u32, u32)>,
}

impl MaskOps {
    /// 3x3 dilation (max) of `src` into `dst`; pixels outside the image do not count.
    #[cfg(test)]
    pub(crate) fn dilate(&mut self, src: &[u8], dst: &mut [u8], w: usize, h: usize) {
        self.separable(src, dst, w, h, |a, b, c| a | b | c);
    }

    /// 3x3 erosion (min) of `src` into `dst`; pixels outside the image do not count (borders do not erode).
    #[cfg(test)]
    pub(crate) fn erode(&mut self, src: &[u8], dst: &mut [u8], w: usize, h: usize) {
        self.separable(src, dst, w, h, |a, b, c| a & b & c);
    }

    /// Dilation by a (2r+1)x(2r+1) square, as `r` 3x3 dilations would give; pixels outside the image do
    /// not count.
    pub(crate) fn dilate_by(&mut self, src: &[u8], dst: &mut [u8], w: usize, h: usize, r: usize) {
        self.window(src, dst, w, h, r, |a, b| a | b);
    }

    /// Erosion by a (2r+1)x(2r+1) square; pixels outside the image do not count (borders do not erode).
    pub(crate) fn erode_by(&mut self, src: &[u8], dst: &mut [u8], w: usize, h: usize, r: usize) {
        self.window(src, dst, w, h, r, |a, b| a & b);
    }

    /// A separable square-window pass combining with `op` (OR or AND of 0/1 bytes) every pixel within `r`
    /// along rows, then along columns; windows are clipped to the image. Each step combines whole shifted
    /// row slices, which the compiler runs 16 or 32 bytes at a time: for the small radii used here this
    /// beats a running-sum filter.
    fn window(
        &mut self,
        src: &[u8],
        dst: &mut [u8],
        w: usize,
        h: usize,
        r: usize,
        op: impl Fn(u8, u8) -> u8 + Copy,
    ) {
        debug_assert!(src.len() == w * h && dst.len() == w * h);
        self.tmp.resize(w * h, 0);
        let tmp = &mut self.tmp;
        tmp.copy_from_slice(src);
        for (srow, trow) in src.chunks_exact(w).zip(tmp.chunks_exact_mut(w)) {
            for k in 1..=r.min(w - 1) {
                // right neighbours into x < w - k, left neighbours into x >= k
                for (t, &s) in trow[..w - k].iter_mut().zip(&srow[k..]) {
                    *t = op(*t, s);
                }
                for (t, &s) in trow[k..].iter_mut().zip(&srow[..w - k]) {
                    *t = op(*t, s);
                }
            }
        }
        for y in 0..h {
            let out = &mut dst[y * w..(y + 1) * w];
            out.copy_from_slice(&tmp[y * w..(y + 1) * w]);
            for ny in y.saturating_sub(r)..=(y + r).min(h - 1) {
                if ny != y {
                    for (d, &t) in out.iter_mut().zip(&tmp[ny * w..(ny + 1) * w]) {
                        *d = op(*d, t);
                    }
                }
            }
        }
    }

    /// 3x3 majority (the median of a binary image): a pixel is set when at least 5 of its 9 neighbours are
    /// (outside pixels repeat the border). Sums of shifted row slices, so it runs many pixels per
    /// instruction.
    pub(crate) fn majority(&mut self, src: &[u8], dst: &mut [u8], w: usize, h: usize) {
        debug_assert!(src.len() == w * h && dst.len() == w * h);
        self.tmp.resize(w * h, 0);
        let tmp = &mut self.tmp;
        tmp.copy_from_slice(src);
        for (srow, trow) in src.chunks_exact(w).zip(tmp.chunks_exact_mut(w)) {
            for (t, &s) in trow[1..].iter_mut().zip(&srow[..w - 1]) {
                *t += s;
            }
            for (t, &s) in trow[..w - 1].iter_mut().zip(&srow[1..]) {
                *t += s;
            }
            trow[0] += srow[0];
            trow[w - 1] += srow[w - 1];
        }
        for y in 0..h {
            let (up, down) = (y.saturating_sub(1), (y + 1).min(h - 1));
            let rows = tmp[up * w..(up + 1) * w]
                .iter()
                .zip(&tmp[y * w..(y + 1) * w])
                .zip(&tmp[down * w..(down + 1) * w]);
            for (d, ((&a, &b), &c)) in dst[y * w..(y + 1) * w].iter_mut().zip(rows) {
                *d = u8::from(a + b + c >= 5);
            }
        }
    }

    /// Applies a 3-tap operation along rows into `tmp`, then along columns into `dst`. The border pixel is
    /// repeated, which for max/min means "outside does not count".
    #[cfg(test)]
    fn separable(
        &mut self,
        src: &[u8],
        dst: &mut [u8],
        w: usize,
        h: usize,
        op: impl Fn(u8, u8, u8) -> u8,
    ) {
        debug_assert!(src.len() == w * h && dst.len() == w * h);
        self.tmp.resize(w * h, 0);
        let tmp = &mut self.tmp;
        for (srow, trow) in src.chunks_exact(w).zip(tmp.chunks_exact_mut(w)) {
            if w == 1 {
                trow[0] = op(srow[0], srow[0], srow[0]);
                continue;
            }
            trow[0] = op(srow[0], srow[0], srow[1]);
            for x in 1..w - 1 {
                trow[x] = op(srow[x - 1], srow[x], srow[x + 1]);
            }
            trow[w - 1] = op(srow[w - 2], srow[w - 1], srow[w - 1]);
        }
        for y in 0..h {
            let up = y.saturating_sub(1) * w;
            let mid = y * w;
            let down = (y + 1).min(h - 1) * w;
            let (a, b, c) = (&tmp[up..up + w], &tmp[mid..mid + w], &tmp[down..down + w]);
            for (x, d) in dst[mid..mid + w].iter_mut().enumerate() {
                *d = op(a[x], b[x], c[x]);
            }
        }
    }

    /// Fills the holes of a blob: every background pixel inside the inclusive box `(x0, y0, x1, y1)` that
    /// cannot reach the box's border through background (4-connected) becomes set. Returns how many
    /// pixels were filled. Span-based flood fill from the border, so the cost is about the box's area.
    pub(crate) fn fill_holes_in(
        &mut self,
        mask: &mut [u8],
        w: usize,
        (x0, y0, x1, y1): (usize, usize, usize, usize),
    ) -> u32 {
        const REACHED: u8 = 2;
        let stack = &mut self.stack;
        stack.clear();
        for x in x0..=x1 {
            stack.push((x as u32, y0 as u32));
            stack.push((x as u32, y1 as u32));
        }
        for y in y0..=y1 {
            stack.push((x0 as u32, y as u32));
            stack.push((x1 as u32, y as u32));
        }
        while let Some((x, y)) = stack.pop() {
            let (x, y) = (x as usize, y as usize);
            let row = &mut mask[y * w..(y + 1) * w];
            if row[x] != 0 {
                continue;
            }
            let mut a = x;
            while a > x0 && row[a - 1] == 0 {
                a -= 1;
            }
            let mut b = x;
            while b < x1 && row[b + 1] == 0 {
                b += 1;
            }
            row[a..=b].fill(REACHED);
            for ny in [y.wrapping_sub(1), y + 1] {
                if ny < y0 || ny > y1 {
                    continue;
                }
                let next = &mask[ny * w..(ny + 1) * w];
                // one seed per run of unreached background touching [a, b]
                let mut in_run = false;
                for (nx, &v) in next.iter().enumerate().take(b + 1).skip(a) {
                    if v == 0 && !in_run {
                        stack.push((nx as u32, ny as u32));
                    }
                    in_run = v == 0;
                }
            }
        }
        let mut filled = 0;
        for y in y0..=y1 {
            for v in &mut mask[y * w + x0..=y * w + x1] {
                filled += u32::from(*v == 0);
                *v = u8::from(*v != REACHED);
            }
        }
        filled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(rows: &[&str]) -> (Vec<u8>, usize, usize) {
        let w = rows[0].len();
        let data = rows
            .iter()
            .flat_map(|r| r.bytes().map(|b| u8::from(b == b'#')))
            .collect();
        (data, w, rows.len())
    }

    #[test]
    fn dilate_and_erode_are_3x3() {
        let (src, w, h) = grid(&[".....", ".....", "..#..", ".....", "....."]);
        let mut ops = MaskOps::default();
        let mut dst = vec![0; w * h];
        ops.dilate(&src, &mut dst, w, h);
        assert_eq!(dst, grid(&[".....", ".###.", ".###.", ".###.", "....."]).0);
        let mut back = vec![0; w * h];
        ops.erode(&dst, &mut back, w, h);
        assert_eq!(back, src);
    }

    #[test]
    fn radius_ops_equal_repeated_3x3_ops() {
        let (w, h) = (23, 17);
        let src: Vec<u8> = (0..w * h).map(|i| u8::from((i * 7919) % 11 < 2)).collect();
        let mut ops = MaskOps::default();
        for r in 1..=3 {
            let (mut a, mut b) = (src.clone(), vec![0; w * h]);
            for _ in 0..r {
                ops.dilate(&a, &mut b, w, h);
                std::mem::swap(&mut a, &mut b);
            }
            let mut fast = vec![0; w * h];
            ops.dilate_by(&src, &mut fast, w, h, r);
            assert_eq!(fast, a, "dilate r={r}");
            let dilated = a.clone();
            for _ in 0..r {
                ops.erode(&a, &mut b, w, h);
                std::mem::swap(&mut a, &mut b);
            }
            ops.erode_by(&dilated, &mut fast, w, h, r);
            assert_eq!(fast, a, "erode r={r}");
        }
    }

    #[test]
    fn majority_removes_specks_and_keeps_blocks() {
        let (src, w, h) = grid(&["#.....", "......", "..###.", "..###.", "..###.", "......"]);
        let mut ops = MaskOps::default();
        let mut dst = vec![0; w * h];
        ops.majority(&src, &mut dst, w, h);
        assert_eq!(dst[0], 0, "isolated pixel removed");
        assert_eq!(dst[3 * w + 3], 1, "block centre kept");
    }

    #[test]
    fn fill_holes_fills_enclosed_background_only() {
        let (mut m, w, _) = grid(&[
            "......#...",
            ".####.#.#.",
            ".#..#.#...",
            ".####.####",
            "......#..#",
            "##....####",
        ]);
        let mut ops = MaskOps::default();
        // the ring's box: its 2-pixel hole is filled
        assert_eq!(ops.fill_holes_in(&mut m, w, (1, 1, 4, 3)), 2);
        // the right-hand shape's box: its hole (row 4) is enclosed, the gap at the top is open
        assert_eq!(ops.fill_holes_in(&mut m, w, (6, 0, 9, 5)), 2);
        let (want, _, _) = grid(&[
            "......#...",
            ".####.#.#.",
            ".####.#...",
            ".####.####",
            "......####",
            "##....####",
        ]);
        assert_eq!(m, want);
    }
}
