//! A coarse motion field: block matching between two small gray frames. Each 8x8 block of the newer frame
//! is looked for in the older one within a few pixels; a block that changed enough is *moving*, with the
//! displacement that matched it best.

use vigil_core::GrayImage;

/// Block side in pixels.
pub const BLOCK: usize = 8;
/// Search radius in pixels.
pub const RADIUS: i32 = 4;
/// Mean absolute difference (gray levels) over which a block is moving.
pub const MOVING: f32 = 6.0;

/// The motion field of one frame pair.
#[derive(Debug, Clone, Default)]
pub struct Field {
    /// Blocks across.
    pub cols: usize,
    /// Blocks down.
    pub rows: usize,
    /// Per block (row-major): `Some((dx, dy))` in pixels of the small frame when it moves.
    pub blocks: Vec<Option<(f32, f32)>>,
}

impl Field {
    /// The block at (`col`, `row`).
    pub fn at(&self, col: usize, row: usize) -> Option<(f32, f32)> {
        self.blocks.get(row * self.cols + col).copied().flatten()
    }
}

/// The field from `older` to `newer` (same size).
pub fn block_flow(older: &GrayImage, newer: &GrayImage) -> Field {
    let (w, h) = (newer.width() as usize, newer.height() as usize);
    if older.width() as usize != w || older.height() as usize != h {
        return Field::default();
    }
    let (cols, rows) = (w / BLOCK, h / BLOCK);
    let (a, b) = (older.data(), newer.data());
    let sad = |bx: usize, by: usize, dx: i32, dy: i32| -> u32 {
        let mut s = 0u32;
        for y in 0..BLOCK {
            let ny = by * BLOCK + y;
            let oy = (ny as i32 - dy).clamp(0, h as i32 - 1) as usize;
            for x in 0..BLOCK {
                let nx = bx * BLOCK + x;
                let ox = (nx as i32 - dx).clamp(0, w as i32 - 1) as usize;
                s += u32::from(b[ny * w + nx].abs_diff(a[oy * w + ox]));
            }
        }
        s
    };
    let mut blocks = Vec::with_capacity(cols * rows);
    let area = (BLOCK * BLOCK) as f32;
    for by in 0..rows {
        for bx in 0..cols {
            let still = sad(bx, by, 0, 0);
            if (still as f32) / area <= MOVING {
                blocks.push(None);
                continue;
            }
            let mut best = (still, 0, 0);
            for dy in -RADIUS..=RADIUS {
                for dx in -RADIUS..=RADIUS {
                    let s = sad(bx, by, dx, dy);
                    if s < best.0 {
                        best = (s, dx, dy);
                    }
                }
            }
            blocks.push(Some((best.1 as f32, best.2 as f32)));
        }
    }
    Field { cols, rows, blocks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_square_is_found_with_its_displacement() {
        let (w, h) = (64u32, 48u32);
        // A textured square (plain ones are ambiguous along their edges) on a flat background.
        let square = |ox: u32| {
            let mut d = vec![40u8; (w * h) as usize];
            for y in 16..32 {
                for x in ox..ox + 16 {
                    d[(y * w + x) as usize] = 100 + (((x - ox) * 37 + y * 91) % 150) as u8;
                }
            }
            GrayImage::from_vec(w, h, d).unwrap()
        };
        let f = block_flow(&square(16), &square(19));
        let moving: Vec<(f32, f32)> = f.blocks.iter().flatten().copied().collect();
        assert!(!moving.is_empty());
        assert!(moving.iter().all(|m| *m == (3.0, 0.0)), "{moving:?}");
        // Still background is not moving.
        assert_eq!(f.at(0, 0), None);
        assert!(
            block_flow(&square(16), &square(16))
                .blocks
                .iter()
                .all(Option::is_none)
        );
    }
}
