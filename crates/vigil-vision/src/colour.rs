//! Naming the dominant colour of part of an object from its box in an RGB frame, without a segmentation
//! model: the part's band of the box (upper or lower body of a person from body proportions, the middle
//! of a vehicle), its central columns, minus the pixels that look like the background just outside the
//! box; each pixel is named in the palette of [`Colour`] from CIELab (achromatic by chroma first, then by
//! lightness; chromatic by hue angle, with lightness telling pink from red and brown from orange), and the
//! most common name wins when it clearly does. Grayscale and infrared frames carry no colour: see
//! [`frame_has_colour`]. The method and its measured accuracy are in `docs/attributes.md`.

use std::collections::HashMap;
use std::sync::OnceLock;
use vigil_core::{BBox, BgrImage, Colour};

/// Which part of an object to name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// A person's upper body (top, jacket).
    Upper,
    /// A person's lower body (trousers, skirt).
    Lower,
    /// A vehicle's body.
    Body,
}

impl Part {
    /// The part's band of the box as fractions (left, top, right, bottom). People from body proportions
    /// (a standing adult is about eight heads tall): the head is the top eighth, the torso runs from the
    /// shoulders (~0.18) to the hips (~0.5), the legs from the crotch (~0.5) to the ankles (~0.92); the
    /// bands keep clear of the neck, belt and shoes, and of the arms at the sides. Vehicles: the middle,
    /// away from wheels, bumpers and the ground around the outline.
    pub fn band(self) -> (f32, f32, f32, f32) {
        match self {
            Part::Upper => (0.25, 0.20, 0.75, 0.45),
            Part::Lower => (0.30, 0.55, 0.70, 0.85),
            Part::Body => (0.20, 0.20, 0.80, 0.80),
        }
    }
}

/// A named colour and how sure the naming is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColourReading {
    /// The dominant colour.
    pub colour: Colour,
    /// Its share of the pixels named (0..1).
    pub share: f32,
    /// Pixels named.
    pub pixels: usize,
}

/// Chroma (CIELab C*) under which a pixel is black, grey or white: about five just-noticeable
/// differences, well above the chroma of compression noise on grey.
pub const ACHROMATIC_CHROMA: f32 = 12.0;
/// Lightness under which an achromatic pixel is black (and any pixel too dark for its hue to be seen).
pub const BLACK_L: f32 = 30.0;
/// Lightness from which an achromatic pixel is white.
pub const WHITE_L: f32 = 75.0;
/// Lightness under which no hue is named at all.
const TOO_DARK_L: f32 = 15.0;
/// Lightness above which a pixel is a specular highlight or clipped, and skipped.
const SPECULAR_L: f32 = 98.0;
/// Pixels at least named for a reading.
pub const MIN_PIXELS: usize = 40;
/// The winner's least share of the named pixels.
pub const MIN_SHARE: f32 = 0.35;
/// How many times the runner-up's share the winner's must be.
pub const MIN_MARGIN: f32 = 1.25;
/// A background colour cell: a crop pixel is dropped when its Lab cell holds at least this share of the
/// ring of background around the box.
const BACKGROUND_SHARE: f32 = 0.02;
/// Background rejection is given up (the object is the colour of its surroundings) when it would keep
/// less than this share of the band.
const MIN_KEPT_SHARE: f32 = 0.3;
/// Pixels looked at per band at most (sub-sampled evenly above that).
const MAX_SAMPLES: usize = 900;

/// CIELab (D65) of an sRGB pixel: (L*, a*, b*).
pub fn lab(r: u8, g: u8, b: u8) -> (f32, f32, f32) {
    static LINEAR: OnceLock<[f32; 256]> = OnceLock::new();
    let lin = LINEAR.get_or_init(|| {
        let mut t = [0.0f32; 256];
        for (i, v) in t.iter_mut().enumerate() {
            let c = i as f32 / 255.0;
            *v = if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            };
        }
        t
    });
    let (r, g, b) = (lin[r as usize], lin[g as usize], lin[b as usize]);
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    let f = |t: f32| {
        if t > 0.008856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    (116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz))
}

/// The palette name of a CIELab colour; `None` for a specular highlight.
pub fn name_lab(l: f32, a: f32, b: f32) -> Option<Colour> {
    if l > SPECULAR_L {
        return None;
    }
    let chroma = a.hypot(b);
    if l < TOO_DARK_L || (chroma < ACHROMATIC_CHROMA && l < BLACK_L) {
        return Some(Colour::Black);
    }
    if chroma < ACHROMATIC_CHROMA {
        return Some(if l >= WHITE_L {
            Colour::White
        } else {
            Colour::Grey
        });
    }
    // Hue angle in degrees: sRGB red is at ~40°, yellow ~100°, green ~136°, cyan ~196°, blue ~306°,
    // magenta ~328°.
    let h = b.atan2(a).to_degrees().rem_euclid(360.0);
    let light = l >= 60.0;
    Some(if !(45.0..350.0).contains(&h) {
        // Red, and light red is pink.
        if light { Colour::Pink } else { Colour::Red }
    } else if h < 75.0 {
        // Orange, and dark or dull orange is brown (brown, tan, beige).
        if l < 50.0 || chroma < 35.0 {
            Colour::Brown
        } else {
            Colour::Orange
        }
    } else if h < 105.0 {
        // Yellow; dull or dark yellow is beige/brown, towards green olive.
        if l >= 55.0 && chroma >= 35.0 {
            Colour::Yellow
        } else if h >= 90.0 {
            Colour::Green
        } else {
            Colour::Brown
        }
    } else if h < 190.0 {
        Colour::Green
    } else if h < 300.0 {
        Colour::Blue
    } else if light {
        Colour::Pink
    } else {
        Colour::Purple
    })
}

/// The palette name of one BGR pixel.
pub fn name_bgr(px: [u8; 3]) -> Option<Colour> {
    let (l, a, b) = lab(px[2], px[1], px[0]);
    name_lab(l, a, b)
}

/// False for a grayscale or infrared picture (night mode): fewer than one pixel in 200 has channels more
/// than 6 levels apart. An empty grey car park in daylight still has a few per cent of such pixels.
pub fn frame_has_colour(frame: &BgrImage) -> bool {
    let (w, h) = (frame.width(), frame.height());
    if w == 0 || h == 0 {
        return false;
    }
    let step = ((u64::from(w) * u64::from(h) / 8192) as f64)
        .sqrt()
        .max(1.0) as u32;
    let (mut n, mut coloured) = (0u32, 0u32);
    for y in (0..h).step_by(step as usize) {
        let row = frame.row(y);
        for x in (0..w).step_by(step as usize) {
            let i = x as usize * 3;
            let (b, g, r) = (row[i], row[i + 1], row[i + 2]);
            let spread = b.max(g).max(r) - b.min(g).min(r);
            n += 1;
            coloured += u32::from(spread > 6);
        }
    }
    coloured * 200 >= n
}

/// A Lab cell for background matching: 10 units of L*, a* and b*.
fn cell(l: f32, a: f32, b: f32) -> (i8, i8, i8) {
    (
        (l / 10.0).floor() as i8,
        (a / 10.0).floor().clamp(-13.0, 13.0) as i8,
        (b / 10.0).floor().clamp(-13.0, 13.0) as i8,
    )
}

/// Integer pixel rectangle (x0, y0, x1, y1), clamped to the frame.
fn rect(frame: &BgrImage, x0: f32, y0: f32, x1: f32, y1: f32) -> (u32, u32, u32, u32) {
    let (w, h) = (frame.width() as f32, frame.height() as f32);
    (
        x0.clamp(0.0, w) as u32,
        y0.clamp(0.0, h) as u32,
        x1.clamp(0.0, w) as u32,
        y1.clamp(0.0, h) as u32,
    )
}

/// Lab of the pixels of a rectangle, sub-sampled to about `max` pixels, skipping `skip`.
fn sample(
    frame: &BgrImage,
    (x0, y0, x1, y1): (u32, u32, u32, u32),
    skip: Option<(u32, u32, u32, u32)>,
    max: usize,
    out: &mut Vec<(f32, f32, f32)>,
) {
    let area = u64::from(x1.saturating_sub(x0)) * u64::from(y1.saturating_sub(y0));
    if area == 0 {
        return;
    }
    let step = ((area as f64 / max as f64).sqrt().ceil() as usize).max(1);
    for y in (y0..y1).step_by(step) {
        let row = frame.row(y);
        for x in (x0..x1).step_by(step) {
            if let Some((sx0, sy0, sx1, sy1)) = skip
                && (sx0..sx1).contains(&x)
                && (sy0..sy1).contains(&y)
            {
                continue;
            }
            let i = x as usize * 3;
            out.push(lab(row[i + 2], row[i + 1], row[i]));
        }
    }
}

/// Names the dominant colour of `part` of the object in `bbox` (frame pixels of `frame`). `None` when
/// too few pixels are left or no colour clearly dominates. The caller checks [`frame_has_colour`] once
/// per frame.
pub fn name_part(frame: &BgrImage, bbox: &BBox, part: Part) -> Option<ColourReading> {
    let (bw, bh) = (bbox.width(), bbox.height());
    if !(bw >= 4.0 && bh >= 4.0) {
        return None;
    }
    let (fl, ft, fr, fb) = part.band();
    let band = rect(
        frame,
        bbox.x1 + fl * bw,
        bbox.y1 + ft * bh,
        bbox.x1 + fr * bw,
        bbox.y1 + fb * bh,
    );
    let mut pixels = Vec::new();
    sample(frame, band, None, MAX_SAMPLES, &mut pixels);
    if pixels.len() < MIN_PIXELS {
        return None;
    }
    // The background: a ring a tenth of the box wide just outside it, beside the band's rows (what the
    // object stands in front of at that height), and below the box for the lower body.
    let margin = (0.1 * bw.max(bh)).max(3.0);
    let box_px = rect(frame, bbox.x1, bbox.y1, bbox.x2, bbox.y2);
    let ring = rect(
        frame,
        bbox.x1 - margin,
        bbox.y1 + ft * bh - margin,
        bbox.x2 + margin,
        bbox.y1 + fb * bh + margin,
    );
    let mut background = Vec::new();
    sample(frame, ring, Some(box_px), MAX_SAMPLES, &mut background);
    let mut cells: HashMap<(i8, i8, i8), u32> = HashMap::new();
    for &(l, a, b) in &background {
        *cells.entry(cell(l, a, b)).or_default() += 1;
    }
    let min_count = (BACKGROUND_SHARE * background.len() as f32).ceil().max(1.0) as u32;
    let is_background = |&(l, a, b): &(f32, f32, f32)| {
        !background.is_empty() && cells.get(&cell(l, a, b)).is_some_and(|&n| n >= min_count)
    };
    let kept: Vec<(f32, f32, f32)> = pixels
        .iter()
        .filter(|p| !is_background(p))
        .copied()
        .collect();
    let named = if (kept.len() as f32) < MIN_KEPT_SHARE * pixels.len() as f32 {
        &pixels
    } else {
        &kept
    };
    dominant(named.iter().filter_map(|&(l, a, b)| name_lab(l, a, b)))
}

/// The clearly most common colour of `names`, with its share.
pub fn dominant(names: impl IntoIterator<Item = Colour>) -> Option<ColourReading> {
    let mut counts = [0usize; Colour::ALL.len()];
    for c in names {
        counts[c.index()] += 1;
    }
    let total: usize = counts.iter().sum();
    if total < MIN_PIXELS {
        return None;
    }
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(counts[i]));
    let (first, second) = (counts[order[0]], counts[order[1]]);
    let share = first as f32 / total as f32;
    (share >= MIN_SHARE && first as f32 >= MIN_MARGIN * second as f32).then(|| ColourReading {
        colour: Colour::ALL[order[0]],
        share,
        pixels: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, bgr: [u8; 3]) -> BgrImage {
        let mut data = Vec::with_capacity((w * h * 3) as usize);
        for _ in 0..w * h {
            data.extend_from_slice(&bgr);
        }
        BgrImage::from_vec(w, h, data).unwrap()
    }

    fn paint(img: &mut BgrImage, (x0, y0, x1, y1): (u32, u32, u32, u32), bgr: [u8; 3]) {
        let w = img.width() as usize;
        let data = img.data_mut();
        for y in y0..y1 {
            for x in x0..x1 {
                let i = (y as usize * w + x as usize) * 3;
                data[i..i + 3].copy_from_slice(&bgr);
            }
        }
    }

    const GREY_BG: [u8; 3] = [128, 128, 128];

    #[test]
    fn focal_colours_get_their_names() {
        for (rgb, want) in [
            ((200, 30, 40), Colour::Red),
            ((240, 130, 30), Colour::Orange),
            ((240, 220, 40), Colour::Yellow),
            ((40, 150, 60), Colour::Green),
            ((30, 80, 180), Colour::Blue),
            ((30, 40, 80), Colour::Blue),
            ((110, 40, 130), Colour::Purple),
            ((240, 150, 180), Colour::Pink),
            ((110, 70, 40), Colour::Brown),
            ((200, 180, 150), Colour::Brown),
            ((20, 20, 22), Colour::Black),
            ((128, 128, 128), Colour::Grey),
            ((235, 235, 235), Colour::White),
        ] {
            let (l, a, b) = lab(rgb.0, rgb.1, rgb.2);
            assert_eq!(name_lab(l, a, b), Some(want), "{rgb:?} (Lab {l} {a} {b})");
        }
    }

    #[test]
    fn a_red_top_over_blue_trousers_on_grey() {
        let mut img = image(200, 200, GREY_BG);
        // A person 40 x 160 at (80, 20): red above the hips, blue below.
        paint(&mut img, (80, 20, 120, 100), [40, 30, 200]);
        paint(&mut img, (80, 100, 120, 180), [180, 80, 30]);
        let bbox = BBox::new(80.0, 20.0, 120.0, 180.0);
        let upper = name_part(&img, &bbox, Part::Upper).unwrap();
        assert_eq!(upper.colour, Colour::Red);
        assert!(upper.share > 0.9, "{upper:?}");
        assert_eq!(
            name_part(&img, &bbox, Part::Lower).map(|r| r.colour),
            Some(Colour::Blue)
        );
    }

    #[test]
    fn background_showing_through_the_box_is_rejected() {
        // A thin red figure in a loose box: most of the band is the green background, which the ring
        // around the box shows to be background, so red still wins.
        let mut img = image(200, 200, [40, 150, 40]);
        paint(&mut img, (95, 20, 105, 180), [40, 30, 200]);
        let bbox = BBox::new(70.0, 20.0, 130.0, 180.0);
        let upper = name_part(&img, &bbox, Part::Upper).unwrap();
        assert_eq!(upper.colour, Colour::Red, "{upper:?}");
        // An object the colour of its surroundings is still named (rejection is given up).
        let plain = image(200, 200, [40, 30, 200]);
        assert_eq!(
            name_part(&plain, &bbox, Part::Body).map(|r| r.colour),
            Some(Colour::Red)
        );
    }

    #[test]
    fn no_clear_winner_or_too_few_pixels_is_none() {
        // Stripes of four colours: none dominates.
        let mut img = image(200, 200, GREY_BG);
        for (i, bgr) in [[40, 30, 200], [180, 80, 30], [40, 150, 40], [40, 220, 240]]
            .into_iter()
            .enumerate()
        {
            let x = 60 + i as u32 * 20;
            paint(&mut img, (x, 20, x + 20, 180), bgr);
        }
        assert_eq!(
            name_part(&img, &BBox::new(60.0, 20.0, 140.0, 180.0), Part::Body),
            None
        );
        assert_eq!(
            name_part(&img, &BBox::new(60.0, 20.0, 66.0, 30.0), Part::Upper),
            None
        );
    }

    #[test]
    fn grayscale_frames_have_no_colour() {
        let mut gray = image(320, 240, [90, 90, 90]);
        paint(&mut gray, (100, 50, 140, 200), [200, 200, 200]);
        assert!(!frame_has_colour(&gray));
        let mut colour = gray.clone();
        paint(&mut colour, (0, 0, 60, 60), [40, 30, 200]);
        assert!(frame_has_colour(&colour));
    }
}
