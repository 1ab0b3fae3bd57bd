//! Connected components of a 0/1 mask (8-connected, run-based union-find) and box merging.

/// One connected component: its pixel count and inclusive pixel bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Blob {
    /// Pixels in the component.
    pub area: u32,
    /// Leftmost column.
    pub x0: u32,
    /// Top row.
    pub y0: u32,
    /// Rightmost column (inclusive).
    pub x1: u32,
    /// Bottom row (inclusive).
    pub y1: u32,
}

/// A horizontal run of set pixels: row, first and last column (inclusive), provisional label.
#[derive(Debug, Clone, Copy)]
struct Run {
    y: u32,
    x0: u32,
    x1: u32,
    label: u32,
}

/// Reusable buffers for labelling masks.
#[derive(Debug, Default)]
pub(crate) struct Labeler {
    runs: Vec<Run>,
    parent: Vec<u32>,
    compact: Vec<u32>,
    blobs: Vec<Blob>,
}

impl Labeler {
    /// Labels the components of `mask`, clears from `mask` those with fewer than `min_area` pixels, and
    /// returns the kept ones. Works on runs of set pixels, so the cost is one scan of the mask (mostly
    /// empty in practice) plus a little per run.
    pub(crate) fn blobs(
        &mut self,
        mask: &mut [u8],
        w: usize,
        h: usize,
        min_area: u32,
    ) -> &mut [Blob] {
        debug_assert!(mask.len() == w * h);
        self.runs.clear();
        self.parent.clear();
        let (runs, parent) = (&mut self.runs, &mut self.parent);
        let mut prev = 0..0;
        for y in 0..h {
            let row = &mask[y * w..(y + 1) * w];
            let start = runs.len();
            let mut p = prev.start;
            let mut x = 0;
            while let Some(skip) = row[x..].iter().position(|&v| v != 0) {
                let x0 = x + skip;
                let len = row[x0..].iter().position(|&v| v == 0).unwrap_or(w - x0);
                let x1 = x0 + len - 1;
                x = x1 + 1;
                let label = parent.len() as u32;
                parent.push(label);
                // runs of the previous row touching [x0 - 1, x1 + 1] (8-connectivity)
                while p < prev.end && (runs[p].x1 as usize) + 1 < x0 {
                    p += 1;
                }
                let mut q = p;
                while q < prev.end && (runs[q].x0 as usize) <= x1 + 1 {
                    union(parent, label, runs[q].label);
                    q += 1;
                }
                runs.push(Run {
                    y: y as u32,
                    x0: x0 as u32,
                    x1: x1 as u32,
                    label,
                });
                if x >= w {
                    break;
                }
            }
            prev = start..runs.len();
        }
        // resolve roots to compact ids and accumulate each blob from its runs
        self.compact.clear();
        self.compact.resize(parent.len(), u32::MAX);
        self.blobs.clear();
        for run in runs.iter_mut() {
            let root = find(parent, run.label) as usize;
            if self.compact[root] == u32::MAX {
                self.compact[root] = self.blobs.len() as u32;
                self.blobs.push(Blob {
                    area: 0,
                    x0: u32::MAX,
                    y0: u32::MAX,
                    x1: 0,
                    y1: 0,
                });
            }
            let id = self.compact[root];
            run.label = id;
            let b = &mut self.blobs[id as usize];
            b.area += run.x1 - run.x0 + 1;
            b.x0 = b.x0.min(run.x0);
            b.y0 = b.y0.min(run.y);
            b.x1 = b.x1.max(run.x1);
            b.y1 = b.y1.max(run.y);
        }
        if self.blobs.iter().any(|b| b.area < min_area) {
            for run in runs.iter() {
                if self.blobs[run.label as usize].area < min_area {
                    let row = run.y as usize * w;
                    mask[row + run.x0 as usize..=row + run.x1 as usize].fill(0);
                }
            }
            self.blobs.retain(|b| b.area >= min_area);
        }
        &mut self.blobs
    }
}

fn find(parent: &mut [u32], mut l: u32) -> u32 {
    while parent[l as usize] != l {
        let grand = parent[parent[l as usize] as usize];
        parent[l as usize] = grand;
        l = grand;
    }
    l
}

fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[hi as usize] = lo;
    }
}

/// Merges boxes (x0, y0, x1, y1 with exclusive right/bottom edges) whose horizontal and vertical gaps are
/// both at most `gap`, until no two boxes are that close.
pub(crate) fn merge_close(boxes: &mut Vec<[f32; 4]>, gap: f32) {
    let close = |a: &[f32; 4], b: &[f32; 4]| {
        let gx = (a[0] - b[2]).max(b[0] - a[2]);
        let gy = (a[1] - b[3]).max(b[1] - a[3]);
        gx <= gap && gy <= gap
    };
    let mut merged = true;
    while merged {
        merged = false;
        'outer: for i in 0..boxes.len() {
            for j in i + 1..boxes.len() {
                if close(&boxes[i], &boxes[j]) {
                    let b = boxes.swap_remove(j);
                    let a = &mut boxes[i];
                    a[0] = a[0].min(b[0]);
                    a[1] = a[1].min(b[1]);
                    a[2] = a[2].max(b[2]);
                    a[3] = a[3].max(b[3]);
                    merged = true;
                    break 'outer;
                }
            }
        }
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
    fn labels_eight_connected_components_and_drops_small_ones() {
        let (mut m, w, h) = grid(&[
            "##....#", //
            ".#....#", //
            "..#....", // diagonal joins the first blob
            ".......", //
            "....#..", // single pixel: dropped with min_area 2
        ]);
        let mut lab = Labeler::default();
        let blobs = lab.blobs(&mut m, w, h, 2).to_vec();
        assert_eq!(blobs.len(), 2);
        let big = blobs.iter().find(|b| b.area == 4).unwrap();
        assert_eq!((big.x0, big.y0, big.x1, big.y1), (0, 0, 2, 2));
        let right = blobs.iter().find(|b| b.area == 2).unwrap();
        assert_eq!((right.x0, right.y0, right.x1, right.y1), (6, 0, 6, 1));
        assert_eq!(m[4 * w + 4], 0, "small blob cleared from the mask");
    }

    #[test]
    fn u_shape_merges_into_one_label() {
        let (mut m, w, h) = grid(&["#...#", "#...#", "#####"]);
        let mut lab = Labeler::default();
        assert_eq!(lab.blobs(&mut m, w, h, 1).len(), 1);
    }

    /// Reference: 8-connected flood fill, one component at a time.
    fn flood_blobs(mask: &[u8], w: usize, h: usize) -> Vec<(u32, u32, u32, u32, u32)> {
        let mut seen = vec![false; w * h];
        let mut out = Vec::new();
        for start in 0..w * h {
            if mask[start] == 0 || seen[start] {
                continue;
            }
            let (mut area, mut b) = (0, (u32::MAX, u32::MAX, 0, 0));
            let mut stack = vec![start];
            seen[start] = true;
            while let Some(i) = stack.pop() {
                let (x, y) = ((i % w) as i64, (i / w) as i64);
                area += 1;
                b = (
                    b.0.min(x as u32),
                    b.1.min(y as u32),
                    b.2.max(x as u32),
                    b.3.max(y as u32),
                );
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        let (nx, ny) = (x + dx, y + dy);
                        if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                            continue;
                        }
                        let j = ny as usize * w + nx as usize;
                        if mask[j] != 0 && !seen[j] {
                            seen[j] = true;
                            stack.push(j);
                        }
                    }
                }
            }
            out.push((area, b.0, b.1, b.2, b.3));
        }
        out.sort();
        out
    }

    #[test]
    fn agrees_with_a_flood_fill_on_random_masks() {
        let (w, h) = (37, 23);
        let mut seed = 99u32;
        let mut lab = Labeler::default();
        for density in [2, 4, 5, 6] {
            let mut mask: Vec<u8> = (0..w * h)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    u8::from(seed % 10 < density)
                })
                .collect();
            let want = flood_blobs(&mask, w, h);
            let mut got: Vec<_> = lab
                .blobs(&mut mask, w, h, 1)
                .iter()
                .map(|b| (b.area, b.x0, b.y0, b.x1, b.y1))
                .collect();
            got.sort();
            assert_eq!(got, want, "density {density}");
        }
    }

    #[test]
    fn merges_close_boxes_only() {
        let mut b = vec![
            [0.0, 0.0, 10.0, 10.0],
            [12.0, 0.0, 20.0, 10.0],
            [50.0, 50.0, 60.0, 60.0],
        ];
        merge_close(&mut b, 3.0);
        b.sort_by(|a, c| a[0].total_cmp(&c[0]));
        assert_eq!(b, vec![[0.0, 0.0, 20.0, 10.0], [50.0, 50.0, 60.0, 60.0]]);
    }
}
