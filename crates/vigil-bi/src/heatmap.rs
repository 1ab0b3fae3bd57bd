//! Presence and path heatmaps over a range from track paths, on the rules engine's heatmap grid
//! ([`vigil_rules::Heatmap`]), and a small PNG writer for them (stored deflate blocks: no compression
//! library, no FFmpeg).

use crate::BiError;
use serde::Serialize;
use std::collections::HashSet;
use vigil_core::{Point, TrackPath};
use vigil_rules::Heatmap;

/// Which heatmap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeatKind {
    /// Seconds objects spent in each cell.
    Presence,
    /// Tracks that passed through each cell.
    Paths,
}

impl HeatKind {
    /// Reads `presence` or `paths`.
    pub fn parse(text: &str) -> Result<HeatKind, BiError> {
        match text {
            "presence" => Ok(HeatKind::Presence),
            "paths" => Ok(HeatKind::Paths),
            o => Err(BiError::BadQuery(format!(
                "heatmap kind {o:?}: expected presence or paths"
            ))),
        }
    }
}

/// A heatmap as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeatGrid {
    /// Which.
    pub kind: HeatKind,
    /// Columns.
    pub cols: u32,
    /// Rows.
    pub rows: u32,
    /// Row-major cells, row 0 at the top: seconds (presence) or tracks (paths).
    pub cells: Vec<f32>,
    /// The largest cell.
    pub max: f32,
    /// Tracks that contributed.
    pub tracks: u64,
    /// Object-seconds in all (presence) or cell visits (paths).
    pub total: f64,
    /// The grid itself, for rendering.
    #[serde(skip)]
    pub map: Heatmap,
}

/// Largest grid side.
pub const MAX_CELLS: u32 = 128;

/// The heatmap of `paths` (cut to `[from_ms, to_ms)`) on a `cols` x `rows` grid.
pub fn heatmap(
    paths: &[TrackPath],
    kind: HeatKind,
    cols: u32,
    rows: u32,
    from_ms: i64,
    to_ms: i64,
) -> Result<HeatGrid, BiError> {
    if !(1..=MAX_CELLS).contains(&cols) || !(1..=MAX_CELLS).contains(&rows) {
        return Err(BiError::BadQuery(format!(
            "grid {cols}x{rows}: columns and rows are 1-{MAX_CELLS}"
        )));
    }
    let mut map = Heatmap::new(cols, rows);
    let mut tracks = 0u64;
    for p in paths {
        let mut cells: HashSet<(u32, u32)> = HashSet::new();
        let mut any = false;
        for (i, a) in p.points.iter().enumerate() {
            let until = p.points.get(i + 1).map_or(a.ms, |b| b.ms).min(to_ms);
            let since = a.ms.max(from_ms);
            let inside = a.ms >= from_ms && a.ms < to_ms;
            match kind {
                HeatKind::Presence if until > since => {
                    map.add(Point { x: a.x, y: a.y }, (until - since) as f32 / 1000.0);
                    any = true;
                }
                HeatKind::Paths if inside => {
                    // the segment to the next point, sampled at half a cell, so fast objects leave no gaps
                    let b = p.points.get(i + 1).unwrap_or(a);
                    let steps = (((b.x - a.x).abs() * cols as f32)
                        .max((b.y - a.y).abs() * rows as f32)
                        * 2.0)
                        .ceil()
                        .clamp(1.0, 512.0) as u32;
                    for k in 0..=steps {
                        let f = k as f32 / steps as f32;
                        let (x, y) = (a.x + (b.x - a.x) * f, a.y + (b.y - a.y) * f);
                        let c = ((x * cols as f32) as i64).clamp(0, cols as i64 - 1) as u32;
                        let r = ((y * rows as f32) as i64).clamp(0, rows as i64 - 1) as u32;
                        cells.insert((c, r));
                    }
                }
                _ => {}
            }
        }
        for &(c, r) in &cells {
            map.add(
                Point {
                    x: (c as f32 + 0.5) / cols as f32,
                    y: (r as f32 + 0.5) / rows as f32,
                },
                1.0,
            );
        }
        if any || !cells.is_empty() {
            tracks += 1;
        }
    }
    Ok(HeatGrid {
        kind,
        cols,
        rows,
        cells: map.cells().to_vec(),
        max: map.max(),
        tracks,
        total: map.total_seconds(),
        map,
    })
}

/// The heatmap rendered to a `width` x `height` PNG (RGBA: never-visited cells transparent, so the
/// browser can lay it over any background).
pub fn png(grid: &HeatGrid, width: u32, height: u32) -> Vec<u8> {
    let img = grid.map.render(width.max(1), height.max(1));
    let (w, h) = (img.width(), img.height());
    let data = img.data();
    let mut raw = Vec::with_capacity((w as usize * 4 + 1) * h as usize);
    for y in 0..h as usize {
        raw.push(0u8); // filter: none
        for x in 0..w as usize {
            let i = (y * w as usize + x) * 3;
            let (b, g, r) = (data[i], data[i + 1], data[i + 2]);
            let alpha = if (b, g, r) == (0, 0, 0) { 0 } else { 170 };
            raw.extend_from_slice(&[r, g, b, alpha]);
        }
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib_stored(&raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], body: &[u8]) {
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(body);
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// A zlib stream of stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut blocks = data.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(b) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let n = b.len() as u16;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(!n).to_le_bytes());
        out.extend_from_slice(b);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + x as u32) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::PathPoint;

    #[test]
    fn presence_counts_seconds_and_paths_count_tracks_once_per_cell() {
        let p = TrackPath {
            camera: "c".into(),
            track: 1,
            class: "person".into(),
            first_ms: 0,
            last_ms: 20_000,
            points: [(0, 0.1), (10_000, 0.1), (20_000, 0.9)]
                .iter()
                .map(|&(ms, x)| PathPoint {
                    ms,
                    x,
                    y: 0.5,
                    w: 0.1,
                    h: 0.1,
                })
                .collect(),
            attributes: Default::default(),
        };
        let g = heatmap(
            std::slice::from_ref(&p),
            HeatKind::Presence,
            4,
            2,
            0,
            60_000,
        )
        .unwrap();
        assert_eq!(g.total, 20.0);
        assert_eq!(g.tracks, 1);
        let g = heatmap(&[p], HeatKind::Paths, 4, 2, 0, 60_000).unwrap();
        // the row through y = 0.5 (row 1), every column once
        assert_eq!(&g.cells[4..8], &[1.0, 1.0, 1.0, 1.0]);
        let png = png(&g, 8, 4);
        assert!(png.starts_with(b"\x89PNG"));
        assert!(heatmap(&[], HeatKind::Paths, 0, 2, 0, 1).is_err());
    }
}
