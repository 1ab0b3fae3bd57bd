//! Letterbox preprocessing: resize a rectangle of a BGR frame into a square model input keeping the aspect
//! ratio, pad the rest, normalise, and write planar CHW floats, all in one pass over the output.
//!
//! The resize is bilinear with OpenCV's `INTER_LINEAR` sampling (pixel centres at +0.5, edge samples clamped),
//! which is what the detectors' reference code feeds them. The output buffer and the per-column sampling tables
//! are reused between calls, so steady-state preprocessing allocates nothing.

use vigil_core::{BBox, BgrImage};

/// Where the resized image goes on the square canvas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadPlacement {
    /// Resized image at the top-left corner; padding right and bottom (YOLOX).
    TopLeft,
    /// Resized image centred; padding split on both sides (NanoDet).
    Centre,
}

/// How a model wants its input: canvas size, pad, and per-channel normalisation `(x - mean) / std` in BGR order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LetterboxSpec {
    /// Side of the square model input in pixels.
    pub size: u32,
    /// Where the resized image sits on the canvas.
    pub placement: PadPlacement,
    /// Byte value of the padding (before normalisation).
    pub pad_value: u8,
    /// Per-channel mean (B, G, R) subtracted from 0..255 values.
    pub mean: [f32; 3],
    /// Per-channel standard deviation (B, G, R) the centred values are divided by.
    pub std: [f32; 3],
}

/// The mapping between source pixels and model-input pixels produced by one letterbox operation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// The source rectangle that was resized (frame pixels; the whole frame or a region).
    pub source: BBox,
    /// Resize factor, model pixels per source pixel.
    pub scale: f32,
    /// Left padding in model pixels.
    pub pad_x: f32,
    /// Top padding in model pixels.
    pub pad_y: f32,
    /// Width of the resized image on the canvas.
    pub resized_w: u32,
    /// Height of the resized image on the canvas.
    pub resized_h: u32,
}

impl Letterbox {
    /// Maps a box from model-input pixels back to source-frame pixels.
    pub fn to_source(&self, b: &BBox) -> BBox {
        let inv = 1.0 / self.scale;
        BBox::new(
            (b.x1 - self.pad_x) * inv + self.source.x1,
            (b.y1 - self.pad_y) * inv + self.source.y1,
            (b.x2 - self.pad_x) * inv + self.source.x1,
            (b.y2 - self.pad_y) * inv + self.source.y1,
        )
    }
}

/// An integer pixel rectangle inside an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelRect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Width (at least 1).
    pub w: u32,
    /// Height (at least 1).
    pub h: u32,
}

impl PixelRect {
    /// The whole image.
    pub fn full(width: u32, height: u32) -> Self {
        Self {
            x: 0,
            y: 0,
            w: width,
            h: height,
        }
    }

    /// The smallest pixel rectangle covering `b` after clipping it to a `width` x `height` image, or `None`
    /// when nothing of it is inside (or it is not finite).
    pub fn covering(b: &BBox, width: u32, height: u32) -> Option<Self> {
        if !b.is_finite() {
            return None;
        }
        let c = b.clip(width as f32, height as f32);
        let x1 = c.x1.floor() as u32;
        let y1 = c.y1.floor() as u32;
        let x2 = (c.x2.ceil() as u32).min(width);
        let y2 = (c.y2.ceil() as u32).min(height);
        (x2 > x1 && y2 > y1).then_some(Self {
            x: x1,
            y: y1,
            w: x2 - x1,
            h: y2 - y1,
        })
    }

    /// As a box in pixel coordinates.
    pub fn to_bbox(&self) -> BBox {
        BBox::from_xywh(self.x as f32, self.y as f32, self.w as f32, self.h as f32)
    }
}

/// One bilinear tap along an axis: two source indices and the weight of the second.
#[derive(Debug, Clone, Copy, Default)]
struct Tap {
    i0: usize,
    i1: usize,
    w1: f32,
}

/// OpenCV `INTER_LINEAR` taps for resizing `src_len` samples to `dst_len`.
fn taps(src_len: u32, dst_len: u32, out: &mut Vec<Tap>) {
    out.clear();
    let scale = src_len as f64 / dst_len as f64;
    let last = src_len as i64 - 1;
    for d in 0..dst_len {
        let f = (d as f64 + 0.5) * scale - 0.5;
        let mut s = f.floor() as i64;
        let mut w1 = f - s as f64;
        if s < 0 {
            s = 0;
            w1 = 0.0;
        }
        if s >= last {
            s = last;
            w1 = 0.0;
        }
        out.push(Tap {
            i0: s as usize,
            i1: (s + 1).min(last) as usize,
            w1: w1 as f32,
        });
    }
}

/// Reusable letterbox preprocessor for one model input spec.
#[derive(Debug)]
pub struct Preprocessor {
    spec: LetterboxSpec,
    input: Vec<f32>,
    x_taps: Vec<Tap>,
    y_taps: Vec<Tap>,
}

impl Preprocessor {
    /// A preprocessor writing `3 * size * size` floats.
    pub fn new(spec: LetterboxSpec) -> Self {
        let n = 3 * spec.size as usize * spec.size as usize;
        Self {
            spec,
            input: vec![0.0; n],
            x_taps: Vec::new(),
            y_taps: Vec::new(),
        }
    }

    /// Floats in one model input (`3 * size * size`).
    pub fn input_len(&self) -> usize {
        3 * self.spec.size as usize * self.spec.size as usize
    }

    /// The spec this preprocessor follows.
    pub fn spec(&self) -> &LetterboxSpec {
        &self.spec
    }

    /// The model input written by the last [`Preprocessor::run`] (CHW, planes B, G, R).
    pub fn input(&self) -> &[f32] {
        &self.input
    }

    /// The letterbox geometry for a `w` x `h` source, as the reference code computes it
    /// (`r = min(S/h, S/w)`, resized size truncated).
    pub fn geometry(&self, rect: PixelRect) -> Letterbox {
        let size = self.spec.size;
        let s = size as f64;
        let r = (s / rect.h as f64).min(s / rect.w as f64);
        let resized_w = ((rect.w as f64 * r) as u32).clamp(1, size);
        let resized_h = ((rect.h as f64 * r) as u32).clamp(1, size);
        let (pad_x, pad_y) = match self.spec.placement {
            PadPlacement::TopLeft => (0, 0),
            PadPlacement::Centre => ((size - resized_w) / 2, (size - resized_h) / 2),
        };
        Letterbox {
            source: rect.to_bbox(),
            scale: r as f32,
            pad_x: pad_x as f32,
            pad_y: pad_y as f32,
            resized_w,
            resized_h,
        }
    }

    /// Letterboxes `rect` of `image` into the input buffer and returns the geometry.
    /// `rect` must lie inside the image (use [`PixelRect::covering`]); it is clamped if it does not.
    pub fn run(&mut self, image: &BgrImage, rect: PixelRect) -> Letterbox {
        let mut input = std::mem::take(&mut self.input);
        let lb = self.run_into(image, rect, &mut input);
        self.input = input;
        lb
    }

    /// Like [`Preprocessor::run`], writing into `out` (`3 * size * size` floats) instead of the own buffer.
    ///
    /// # Panics
    /// When `out` has another length.
    pub fn run_into(&mut self, image: &BgrImage, rect: PixelRect, out: &mut [f32]) -> Letterbox {
        assert_eq!(out.len(), self.input_len(), "model input buffer size");
        let rect = clamp_rect(rect, image.width(), image.height());
        let lb = self.geometry(rect);
        let size = self.spec.size as usize;
        let plane = size * size;
        let (pad_x, pad_y) = (lb.pad_x as usize, lb.pad_y as usize);
        let (rw, rh) = (lb.resized_w as usize, lb.resized_h as usize);

        // Normalisation as one multiply-add per channel: v * a + b.
        let a: [f32; 3] = std::array::from_fn(|c| 1.0 / self.spec.std[c]);
        let b: [f32; 3] = std::array::from_fn(|c| -self.spec.mean[c] / self.spec.std[c]);
        let pad: [f32; 3] = std::array::from_fn(|c| self.spec.pad_value as f32 * a[c] + b[c]);

        taps(rect.w, lb.resized_w, &mut self.x_taps);
        taps(rect.h, lb.resized_h, &mut self.y_taps);
        // Column taps as byte offsets inside a source row (relative to the rectangle's left edge).
        let x0 = rect.x as usize * 3;
        let stride = image.stride();
        let data = image.data();

        let (p0, rest) = out.split_at_mut(plane);
        let (p1, p2) = rest.split_at_mut(plane);
        for y in 0..size {
            let row = y * size;
            let (o0, o1, o2) = (
                &mut p0[row..row + size],
                &mut p1[row..row + size],
                &mut p2[row..row + size],
            );
            if y < pad_y || y >= pad_y + rh {
                o0.fill(pad[0]);
                o1.fill(pad[1]);
                o2.fill(pad[2]);
                continue;
            }
            let ty = self.y_taps[y - pad_y];
            let r0 = (rect.y as usize + ty.i0) * stride + x0;
            let r1 = (rect.y as usize + ty.i1) * stride + x0;
            let row0 = &data[r0..r0 + rect.w as usize * 3];
            let row1 = &data[r1..r1 + rect.w as usize * 3];
            let wy1 = ty.w1;
            let wy0 = 1.0 - wy1;
            o0[..pad_x].fill(pad[0]);
            o1[..pad_x].fill(pad[1]);
            o2[..pad_x].fill(pad[2]);
            if rect.w as usize == rw && wy1 == 0.0 {
                // A crop at model resolution (motion regions): the taps are the pixels themselves.
                for (x, px) in row0.chunks_exact(3).enumerate() {
                    let o = pad_x + x;
                    o0[o] = px[0] as f32 * a[0] + b[0];
                    o1[o] = px[1] as f32 * a[1] + b[1];
                    o2[o] = px[2] as f32 * a[2] + b[2];
                }
                o0[pad_x + rw..].fill(pad[0]);
                o1[pad_x + rw..].fill(pad[1]);
                o2[pad_x + rw..].fill(pad[2]);
                continue;
            }
            for (x, tx) in self.x_taps.iter().enumerate() {
                let (i0, i1) = (tx.i0 * 3, tx.i1 * 3);
                let wx1 = tx.w1;
                let wx0 = 1.0 - wx1;
                let sample = |c: usize| {
                    let top = row0[i0 + c] as f32 * wx0 + row0[i1 + c] as f32 * wx1;
                    let bottom = row1[i0 + c] as f32 * wx0 + row1[i1 + c] as f32 * wx1;
                    top * wy0 + bottom * wy1
                };
                let o = pad_x + x;
                o0[o] = sample(0) * a[0] + b[0];
                o1[o] = sample(1) * a[1] + b[1];
                o2[o] = sample(2) * a[2] + b[2];
            }
            o0[pad_x + rw..].fill(pad[0]);
            o1[pad_x + rw..].fill(pad[1]);
            o2[pad_x + rw..].fill(pad[2]);
        }
        lb
    }
}

/// A `w` x `h` image whose pixel (x, y) is `image` sampled bilinearly at `source_of(x, y)` (source pixel
/// coordinates, pixel centres at whole numbers); outside the image counts as black. The one warp behind
/// face alignment (a similarity) and plate rectification (a perspective).
pub fn warp(
    image: &BgrImage,
    w: u32,
    h: u32,
    source_of: impl Fn(u32, u32) -> (f64, f64),
) -> BgrImage {
    let mut out = BgrImage::filled(w, h, 0);
    let (iw, ih) = (i64::from(image.width()), i64::from(image.height()));
    let (src, stride) = (image.data(), image.stride());
    let sample = |x: i64, y: i64, c: usize| -> f64 {
        if x < 0 || y < 0 || x >= iw || y >= ih {
            0.0
        } else {
            f64::from(src[y as usize * stride + x as usize * 3 + c])
        }
    };
    let out_stride = out.stride();
    let data = out.data_mut();
    for oy in 0..h {
        for ox in 0..w {
            let (sx, sy) = source_of(ox, oy);
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            for c in 0..3 {
                let top = sample(x0, y0, c) * (1.0 - fx) + sample(x0 + 1, y0, c) * fx;
                let bottom = sample(x0, y0 + 1, c) * (1.0 - fx) + sample(x0 + 1, y0 + 1, c) * fx;
                let v = top * (1.0 - fy) + bottom * fy;
                data[oy as usize * out_stride + ox as usize * 3 + c] =
                    v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// Clamps a rectangle into a `width` x `height` image, keeping it at least one pixel in size.
fn clamp_rect(r: PixelRect, width: u32, height: u32) -> PixelRect {
    let x = r.x.min(width.saturating_sub(1));
    let y = r.y.min(height.saturating_sub(1));
    PixelRect {
        x,
        y,
        w: r.w.clamp(1, width - x),
        h: r.h.clamp(1, height - y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(size: u32, placement: PadPlacement) -> LetterboxSpec {
        LetterboxSpec {
            size,
            placement,
            pad_value: 114,
            mean: [0.0; 3],
            std: [1.0; 3],
        }
    }

    fn px(p: &Preprocessor, c: usize, x: usize, y: usize) -> f32 {
        let s = p.spec.size as usize;
        p.input()[c * s * s + y * s + x]
    }

    #[test]
    fn wide_image_is_padded_below_at_top_left() {
        // 8x4 image of (b=10, g=20, r=30) into a 4x4 canvas: resized to 4x2, rows 2..4 padded.
        let img = BgrImage::from_vec(8, 4, [10u8, 20, 30].repeat(32)).unwrap();
        let mut p = Preprocessor::new(spec(4, PadPlacement::TopLeft));
        let lb = p.run(&img, PixelRect::full(8, 4));
        assert_eq!((lb.resized_w, lb.resized_h), (4, 2));
        assert_eq!((lb.pad_x, lb.pad_y, lb.scale), (0.0, 0.0, 0.5));
        for x in 0..4 {
            assert_eq!(
                [px(&p, 0, x, 1), px(&p, 1, x, 1), px(&p, 2, x, 1)],
                [10.0, 20.0, 30.0]
            );
            assert_eq!(px(&p, 1, x, 2), 114.0);
            assert_eq!(px(&p, 2, x, 3), 114.0);
        }
    }

    #[test]
    fn centred_placement_splits_padding_and_normalises() {
        let img = BgrImage::filled(4, 8, 100);
        let mut s = spec(4, PadPlacement::Centre);
        s.pad_value = 0;
        s.mean = [100.0, 50.0, 0.0];
        s.std = [1.0, 2.0, 4.0];
        let mut p = Preprocessor::new(s);
        let lb = p.run(&img, PixelRect::full(4, 8));
        assert_eq!(
            (lb.resized_w, lb.resized_h, lb.pad_x, lb.pad_y),
            (2, 4, 1.0, 0.0)
        );
        assert_eq!(px(&p, 0, 1, 0), 0.0);
        assert_eq!(px(&p, 1, 2, 3), 25.0);
        assert_eq!(px(&p, 2, 1, 2), 25.0);
        // Padding columns 0 and 3 hold the normalised pad value.
        assert_eq!(px(&p, 0, 0, 0), -100.0);
        assert_eq!(px(&p, 1, 3, 0), -25.0);
        assert_eq!(px(&p, 2, 3, 3), 0.0);
    }

    #[test]
    fn bilinear_matches_opencv_sampling_on_a_ramp() {
        // A horizontal ramp 0, 10, ..., 70 (8 px) halved to 4 px: OpenCV samples at src x = 0.5, 2.5, 4.5, 6.5.
        let data: Vec<u8> = (0..8u8).flat_map(|x| [x * 10; 3]).collect();
        let img = BgrImage::from_vec(8, 1, data).unwrap();
        let mut p = Preprocessor::new(spec(4, PadPlacement::TopLeft));
        p.run(&img, PixelRect::full(8, 1));
        let row: Vec<f32> = (0..4).map(|x| px(&p, 0, x, 0)).collect();
        assert_eq!(row, vec![5.0, 25.0, 45.0, 65.0]);
    }

    #[test]
    fn a_region_reads_only_its_own_pixels_and_maps_back() {
        // Left half 0, right half 200; a region on the right half sees only 200.
        let mut data = Vec::new();
        for _y in 0..10 {
            for x in 0..20 {
                data.extend_from_slice(&[if x < 10 { 0 } else { 200 }; 3]);
            }
        }
        let img = BgrImage::from_vec(20, 10, data).unwrap();
        let mut p = Preprocessor::new(spec(5, PadPlacement::TopLeft));
        let rect = PixelRect::covering(&BBox::new(10.0, 0.0, 20.0, 10.0), 20, 10).unwrap();
        let lb = p.run(&img, rect);
        assert!(p.input().iter().all(|&v| v == 200.0));
        // Model pixel (0,0)-(5,5) is the whole region.
        let back = lb.to_source(&BBox::new(0.0, 0.0, 5.0, 5.0));
        assert_eq!(back, BBox::new(10.0, 0.0, 20.0, 10.0));
    }

    #[test]
    fn a_crop_at_model_resolution_is_copied_pixel_for_pixel() {
        // A 6x6 crop of a 10x8 image of distinct values into a 6x6 model input: no resampling at all,
        // each input value is the normalised source pixel (mean 1, std 2 to see the normalisation).
        let data: Vec<u8> = (0..10 * 8 * 3).map(|i| (i * 7 % 251) as u8).collect();
        let img = BgrImage::from_vec(10, 8, data).unwrap();
        let mut s = spec(6, PadPlacement::TopLeft);
        s.mean = [1.0; 3];
        s.std = [2.0; 3];
        let mut p = Preprocessor::new(s);
        let lb = p.run(
            &img,
            PixelRect {
                x: 3,
                y: 1,
                w: 6,
                h: 6,
            },
        );
        assert_eq!((lb.resized_w, lb.resized_h, lb.scale), (6, 6, 1.0));
        for y in 0..6 {
            for x in 0..6 {
                let src = img.get(3 + x as u32, 1 + y as u32);
                for (c, v) in src.iter().enumerate() {
                    assert_eq!(px(&p, c, x, y), (*v as f32 - 1.0) / 2.0, "c{c} x{x} y{y}");
                }
            }
        }
    }

    #[test]
    fn covering_rect_clips_and_rejects_outside_or_nan() {
        assert_eq!(
            PixelRect::covering(&BBox::new(-5.0, 2.5, 7.2, 30.0), 10, 10),
            Some(PixelRect {
                x: 0,
                y: 2,
                w: 8,
                h: 8
            })
        );
        assert_eq!(
            PixelRect::covering(&BBox::new(20.0, 0.0, 30.0, 5.0), 10, 10),
            None
        );
        assert_eq!(
            PixelRect::covering(&BBox::new(f32::NAN, 0.0, 3.0, 5.0), 10, 10),
            None
        );
    }
}
