//! Deciding when a large change is the scene changing (lights switched, camera moved or re-aimed) rather
//! than objects: then the background model is rebuilt instead of reporting a flood of motion.
//!
//! Two tests, run only when a large fraction of the frame changed at once:
//! - spread: the change touches nearly every part of the frame (12 of the 16 cells of a 4x4 grid), which a
//!   large object close to the camera does not;
//! - structure: where the background has texture, the changed cells still show the same structure, only
//!   lit differently (high correlation between the frame and the background inside each cell), which an
//!   object covering the background does not. A lamp switched on at one side of a room passes this test
//!   although half of the frame is unchanged.

/// Cells per side of the structure test grid.
const GRID: usize = 8;
/// A cell takes part when this fraction of its pixels changed.
const CELL_CHANGED: f32 = 0.25;
/// Background standard deviation (gray levels) under which a cell has no structure to compare.
const MIN_TEXTURE: f32 = 4.0;
/// Correlation above which a changed cell is the same scene under a different light.
const SAME_STRUCTURE: f32 = 0.7;

/// True when the raw change (`raw`, 0/1) is a scene-wide change: spread over the frame, or mostly the same
/// structure as the background under a different light. `fraction` is the configured recalibration
/// fraction (the caller has checked that at least this much of the frame changed).
pub(crate) fn is_scene_change(
    raw: &[u8],
    frame: &[u8],
    background: &[u16],
    w: usize,
    h: usize,
    fraction: f32,
) -> bool {
    is_spread(raw, w, h, fraction / 2.0) || is_relit(raw, frame, background, w, h)
}

/// At least 12 of the 16 cells of a 4x4 grid have `cell_fraction` of their pixels changed.
fn is_spread(raw: &[u8], w: usize, h: usize, cell_fraction: f32) -> bool {
    let mut counts = [0u32; 16];
    for y in 0..h {
        let cy = y * 4 / h;
        for (x, &v) in raw[y * w..(y + 1) * w].iter().enumerate() {
            counts[cy * 4 + x * 4 / w] += u32::from(v);
        }
    }
    let cell_pixels = (w * h) as f32 / 16.0;
    counts
        .iter()
        .filter(|&&c| c as f32 >= cell_fraction * cell_pixels)
        .count()
        >= 12
}

/// Per-cell sums for the correlation test.
#[derive(Clone, Copy, Default)]
struct Cell {
    n: f64,
    changed: f64,
    sf: f64,
    sb: f64,
    sff: f64,
    sbb: f64,
    sfb: f64,
}

/// Most of the changed pixels in textured cells lie in cells that correlate with the background.
fn is_relit(raw: &[u8], frame: &[u8], background: &[u16], w: usize, h: usize) -> bool {
    let mut cells = [Cell::default(); GRID * GRID];
    for y in 0..h {
        let cy = y * GRID / h;
        for x in 0..w {
            let i = y * w + x;
            let c = &mut cells[cy * GRID + x * GRID / w];
            let (f, b) = (frame[i] as f64, (background[i] >> 8) as f64);
            c.n += 1.0;
            c.changed += raw[i] as f64;
            c.sf += f;
            c.sb += b;
            c.sff += f * f;
            c.sbb += b * b;
            c.sfb += f * b;
        }
    }
    let (mut relit, mut covered) = (0.0, 0.0);
    for c in cells
        .iter()
        .filter(|c| c.n > 0.0 && c.changed >= CELL_CHANGED as f64 * c.n)
    {
        let var_f = c.sff / c.n - (c.sf / c.n).powi(2);
        let var_b = c.sbb / c.n - (c.sb / c.n).powi(2);
        if var_b.sqrt() < MIN_TEXTURE as f64 || var_f <= 0.0 {
            continue;
        }
        let cov = c.sfb / c.n - (c.sf / c.n) * (c.sb / c.n);
        if cov / (var_f * var_b).sqrt() >= SAME_STRUCTURE as f64 {
            relit += c.changed;
        } else {
            covered += c.changed;
        }
    }
    relit > 0.0 && relit >= 2.0 * covered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn textured(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .map(|i| (60 + (i % w) / 3 + ((i / w) / 10 % 2) * 40 + (i * 7 % 13)) as u8)
            .collect()
    }

    #[test]
    fn relighting_is_told_from_an_object() {
        let (w, h) = (160, 96);
        let bg = textured(w, h);
        let background: Vec<u16> = bg.iter().map(|&v| (v as u16) << 8).collect();
        // the right half lit twice as bright: changed, same structure
        let lit: Vec<u8> = bg
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if i % w >= w / 2 {
                    (v as u32 * 2).min(255) as u8
                } else {
                    v
                }
            })
            .collect();
        let raw: Vec<u8> = (0..w * h).map(|i| u8::from(i % w >= w / 2)).collect();
        assert!(is_scene_change(&raw, &lit, &background, w, h, 0.25));
        // the same half covered by a flat object: changed, structure gone
        let covered: Vec<u8> = bg
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % w >= w / 2 { 30 } else { v })
            .collect();
        assert!(!is_scene_change(&raw, &covered, &background, w, h, 0.25));
        // a change everywhere is scene-wide whatever it looks like
        let all = vec![1u8; w * h];
        assert!(is_scene_change(
            &all,
            &vec![30; w * h],
            &background,
            w,
            h,
            0.25
        ));
    }
}
