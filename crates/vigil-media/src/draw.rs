//! Drawing on BGR images for annotated output: rectangles, filled label boxes and short text in a tiny
//! built-in bitmap font, with a distinct colour per class or track id.
//!
//! Everything clips to the image: shapes partly or wholly outside, and non-finite coordinates, draw
//! what is visible (possibly nothing) and never panic.

use crate::font::{ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, glyph};
use vigil_core::{BBox, BgrImage};

/// A colour as (blue, green, red).
pub type Bgr = [u8; 3];

/// Distinct, saturated colours (the palette supervision uses by default), as BGR.
const PALETTE: [Bgr; 20] = [
    [0xfb, 0x51, 0xa3],
    [0x40, 0x40, 0xff],
    [0x33, 0x76, 0xff],
    [0x33, 0xb6, 0xff],
    [0x35, 0xd4, 0xd1],
    [0x12, 0xfb, 0x4c],
    [0x1a, 0xcf, 0x94],
    [0x8a, 0xde, 0x40],
    [0x40, 0x96, 0x1b],
    [0xc1, 0xd6, 0x00],
    [0xaa, 0x9c, 0x2e],
    [0xff, 0xc4, 0x00],
    [0x97, 0x47, 0x36],
    [0xff, 0x75, 0x66],
    [0xef, 0x19, 0x00],
    [0xff, 0x3a, 0x86],
    [0x87, 0x00, 0x53],
    [0xff, 0x3a, 0xcd],
    [0xca, 0x97, 0xff],
    [0xc9, 0x39, 0xff],
];

/// The colour for a class or track id: the same id always gets the same colour, neighbours differ.
pub fn color_for_id(id: u64) -> Bgr {
    PALETTE[(id % PALETTE.len() as u64) as usize]
}

/// Black or white, whichever reads better on `background`.
pub fn text_color_on(background: Bgr) -> Bgr {
    let [b, g, r] = background.map(u32::from);
    // Rec. 601 luma.
    if 299 * r + 587 * g + 114 * b > 140_000 {
        [0, 0, 0]
    } else {
        [255, 255, 255]
    }
}

/// Fills the rectangle with top-left (x, y) and size w x h.
pub fn fill_rect(image: &mut BgrImage, x: i64, y: i64, w: u32, h: u32, color: Bgr) {
    let (iw, ih) = (i64::from(image.width()), i64::from(image.height()));
    let x0 = x.clamp(0, iw);
    let y0 = y.clamp(0, ih);
    let x1 = x.saturating_add(i64::from(w)).clamp(0, iw);
    let y1 = y.saturating_add(i64::from(h)).clamp(0, ih);
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    let stride = image.stride();
    let data = image.data_mut();
    for row in y0..y1 {
        let start = row as usize * stride + x0 as usize * 3;
        let end = row as usize * stride + x1 as usize * 3;
        for px in data[start..end].chunks_exact_mut(3) {
            px.copy_from_slice(&color);
        }
    }
}

/// Draws the outline of `bbox` (pixel coordinates, corners rounded to the nearest pixel), `thickness`
/// pixels wide, inside the box edges.
pub fn draw_rect(image: &mut BgrImage, bbox: &BBox, color: Bgr, thickness: u32) {
    let Some((x1, y1, x2, y2)) = pixel_corners(bbox) else {
        return;
    };
    let (w, h) = ((x2 - x1) as u32, (y2 - y1) as u32);
    let t = thickness.max(1).min(w.div_ceil(2)).min(h.div_ceil(2));
    fill_rect(image, x1, y1, w, t, color);
    fill_rect(image, x1, y2 - i64::from(t), w, t, color);
    fill_rect(image, x1, y1, t, h, color);
    fill_rect(image, x2 - i64::from(t), y1, t, h, color);
}

/// Integer corners (exclusive right/bottom) of a box, or `None` when it is empty or not finite.
fn pixel_corners(bbox: &BBox) -> Option<(i64, i64, i64, i64)> {
    if !bbox.is_finite() {
        return None;
    }
    let r = |v: f32| (v.round() as i64).clamp(-(1 << 30), 1 << 30);
    let (x1, y1, x2, y2) = (r(bbox.x1), r(bbox.y1), r(bbox.x2), r(bbox.y2));
    (x2 > x1 && y2 > y1).then_some((x1, y1, x2, y2))
}

/// Width and height in pixels of `text` drawn at `scale` (1 = 5x7 pixel glyphs).
pub fn text_size(text: &str, scale: u32) -> (u32, u32) {
    let scale = scale.max(1);
    let n = text.chars().count() as u32;
    if n == 0 {
        return (0, GLYPH_HEIGHT * scale);
    }
    ((n * ADVANCE - 1) * scale, GLYPH_HEIGHT * scale)
}

/// Draws `text` with its top-left corner at (x, y), each font pixel a `scale` x `scale` square.
/// Lower-case letters are drawn upper case; characters the font lacks are drawn as a hollow box.
pub fn draw_text(image: &mut BgrImage, x: i64, y: i64, text: &str, color: Bgr, scale: u32) {
    let s = scale.max(1);
    let step = i64::from(s);
    for (i, c) in text.chars().enumerate() {
        let gx = x.saturating_add(i as i64 * i64::from(ADVANCE) * step);
        if gx >= i64::from(image.width()) {
            break;
        }
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..GLYPH_WIDTH {
                if bits & (1 << (GLYPH_WIDTH - 1 - col)) != 0 {
                    let px = gx + i64::from(col) * step;
                    let py = y.saturating_add(row as i64 * step);
                    fill_rect(image, px, py, s, s, color);
                }
            }
        }
    }
}

/// Draws `text` on a filled box of `background` with the top-left corner at (x, y), in black or white
/// as reads best; returns the box's size.
pub fn draw_label(
    image: &mut BgrImage,
    x: i64,
    y: i64,
    text: &str,
    background: Bgr,
    scale: u32,
) -> (u32, u32) {
    let s = scale.max(1);
    let pad = 2 * s;
    let (tw, th) = text_size(text, s);
    let (bw, bh) = (tw + 2 * pad, th + 2 * pad);
    fill_rect(image, x, y, bw, bh, background);
    draw_text(
        image,
        x + i64::from(pad),
        y + i64::from(pad),
        text,
        text_color_on(background),
        s,
    );
    (bw, bh)
}

/// A detection or track as annotated video shows it: the box outline and, when `label` is not empty, a
/// label in the same colour sitting on the box's top edge (inside the box when there is no room above).
/// Text scale follows the image size (1 up to 720 lines, 2 above).
pub fn draw_box_with_label(
    image: &mut BgrImage,
    bbox: &BBox,
    label: &str,
    color: Bgr,
    thickness: u32,
) {
    draw_rect(image, bbox, color, thickness);
    let Some((x1, y1, _, _)) = pixel_corners(bbox) else {
        return;
    };
    if label.is_empty() {
        return;
    }
    let scale = if image.height() > 720 { 2 } else { 1 };
    let (_, label_h) = text_size(label, scale);
    let label_h = i64::from(label_h + 4 * scale);
    let y = if y1 - label_h >= 0 { y1 - label_h } else { y1 };
    draw_label(image, x1.max(0), y, label, color, scale);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(image: &BgrImage, color: Bgr) -> usize {
        image.data().chunks_exact(3).filter(|p| *p == color).count()
    }

    #[test]
    fn rectangle_outline_has_the_right_pixels() {
        let mut img = BgrImage::filled(20, 10, 0);
        draw_rect(&mut img, &BBox::new(2.0, 1.0, 12.0, 9.0), [0, 0, 255], 2);
        // 10 x 8 box, 2 px border: 80 - 6 x 4 inside
        assert_eq!(count(&img, [0, 0, 255]), 80 - 24);
        assert_eq!(img.get(2, 1), [0, 0, 255]);
        assert_eq!(img.get(11, 8), [0, 0, 255]);
        assert_eq!(img.get(12, 8), [0, 0, 0]);
        assert_eq!(img.get(6, 4), [0, 0, 0]);
    }

    #[test]
    fn shapes_outside_or_invalid_clip_without_panic() {
        let mut img = BgrImage::filled(8, 8, 0);
        draw_rect(
            &mut img,
            &BBox::new(-5.0, -5.0, 4.0, 4.0),
            [255, 255, 255],
            1,
        );
        assert_eq!(img.get(3, 0), [255, 255, 255]);
        assert_eq!(img.get(0, 3), [255, 255, 255]); // bottom edge
        assert_eq!(img.get(0, 2), [0, 0, 0]); // the left edge is off the image
        draw_rect(&mut img, &BBox::new(f32::NAN, 0.0, 4.0, 4.0), [1, 1, 1], 1);
        draw_rect(
            &mut img,
            &BBox::new(100.0, 100.0, 200.0, 200.0),
            [1, 1, 1],
            3,
        );
        draw_rect(
            &mut img,
            &BBox::new(-1e30, -1e30, 1e30, 1e30),
            [2, 2, 2],
            1000,
        );
        fill_rect(
            &mut img,
            i64::MAX - 3,
            i64::MIN,
            u32::MAX,
            u32::MAX,
            [3, 3, 3],
        );
        draw_text(&mut img, -3, 6, "HELLO 123", [4, 4, 4], 3);
        draw_box_with_label(
            &mut img,
            &BBox::new(6.0, 0.0, 20.0, 20.0),
            "PERSON 7",
            [5, 5, 5],
            2,
        );
        assert_eq!(count(&img, [1, 1, 1]), 0);
    }

    #[test]
    fn text_renders_the_glyph_bitmap() {
        let mut img = BgrImage::filled(12, 9, 0);
        draw_text(&mut img, 1, 1, "1", [255, 255, 255], 1);
        // '1': rows 00100 01100 00100 00100 00100 00100 01110 => 10 pixels
        assert_eq!(count(&img, [255, 255, 255]), 10);
        assert_eq!(img.get(3, 1), [255, 255, 255]);
        assert_eq!(img.get(2, 2), [255, 255, 255]);
        assert_eq!(img.get(1, 1), [0, 0, 0]);
        let mut big = BgrImage::filled(30, 30, 0);
        draw_text(&mut big, 0, 0, "1", [255, 255, 255], 3);
        assert_eq!(count(&big, [255, 255, 255]), 10 * 9);
        assert_eq!(text_size("AB", 1), (11, 7));
        assert_eq!(text_size("AB", 2), (22, 14));
    }

    #[test]
    fn label_box_contrasts_its_text() {
        let mut img = BgrImage::filled(60, 30, 0);
        let (w, h) = draw_label(&mut img, 5, 5, "ID 3", [0, 255, 255], 1);
        assert_eq!((w, h), (23 + 4, 7 + 4));
        // yellow background gets black text
        assert!(count(&img, [0, 255, 255]) > 0);
        assert_eq!(text_color_on([0, 255, 255]), [0, 0, 0]);
        assert_eq!(text_color_on([120, 20, 20]), [255, 255, 255]);
        assert_eq!(img.get(5, 5), [0, 255, 255]);
    }

    #[test]
    fn ids_get_stable_distinct_colors() {
        assert_eq!(color_for_id(3), color_for_id(3));
        assert_eq!(color_for_id(3), color_for_id(3 + PALETTE.len() as u64));
        for i in 0..PALETTE.len() as u64 {
            assert_ne!(color_for_id(i), color_for_id(i + 1));
        }
    }
}
