//! Still images encoded in memory (JPEG for event snapshots, PNG for masks and heatmaps), through FFmpeg's
//! `mjpeg` and `png` encoders.

use crate::MediaError;
use crate::convert::frame_from_packed;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame::Video as VideoFrame;
use ffmpeg_next::software::scaling::{Context as Scaler, Flags};
use ffmpeg_next::{Dictionary, Packet, Rational, codec, encoder};
use vigil_core::{BgrImage, GrayImage};

/// An image to encode: gray or BGR.
#[derive(Debug, Clone, Copy)]
pub enum ImageRef<'a> {
    /// 8-bit gray.
    Gray(&'a GrayImage),
    /// Packed BGR.
    Bgr(&'a BgrImage),
}

impl<'a> From<&'a GrayImage> for ImageRef<'a> {
    fn from(image: &'a GrayImage) -> Self {
        ImageRef::Gray(image)
    }
}

impl<'a> From<&'a BgrImage> for ImageRef<'a> {
    fn from(image: &'a BgrImage) -> Self {
        ImageRef::Bgr(image)
    }
}

/// JPEG bytes of a BGR image. `quality` runs from 1 (smallest) to 100 (best); 85-90 suits snapshots.
/// It maps linearly onto FFmpeg's quantizer scale 31..1 (quality 90 is quantizer 4).
pub fn encode_jpeg(image: &BgrImage, quality: u8) -> Result<Vec<u8>, MediaError> {
    crate::init()?;
    let what = format!("JPEG {}x{}", image.width(), image.height());
    let err = |reason: String| MediaError::Encode {
        target: what.clone(),
        reason,
    };
    check_size(image.width(), image.height()).map_err(err)?;
    let bgr = frame_from_packed(
        image.data(),
        image.stride(),
        Pixel::BGR24,
        image.width(),
        image.height(),
        3,
    )
    .map_err(err)?;
    // Full-range 4:2:0, the way JPEG files store colour.
    let mut yuv = VideoFrame::empty();
    Scaler::get(
        Pixel::BGR24,
        image.width(),
        image.height(),
        Pixel::YUVJ420P,
        image.width(),
        image.height(),
        Flags::BILINEAR,
    )
    .and_then(|mut s| s.run(&bgr, &mut yuv))
    .map_err(|e| err(format!("colour conversion: {e}")))?;
    let q = jpeg_quantizer(quality).to_string();
    let mut options = Dictionary::new();
    // Equal bounds pin the quantizer: a fixed quality, no rate control guesswork.
    options.set("qmin", &q);
    options.set("qmax", &q);
    encode_still(codec::Id::MJPEG, yuv, options, &what)
}

/// FFmpeg quantizer (1 best .. 31 worst) for a JPEG quality of 1..=100.
fn jpeg_quantizer(quality: u8) -> u32 {
    let quality = quality.clamp(1, 100) as u32;
    1 + ((100 - quality) * 30 + 49) / 99
}

/// PNG bytes of a gray or BGR image (lossless).
pub fn encode_png<'a>(image: impl Into<ImageRef<'a>>) -> Result<Vec<u8>, MediaError> {
    crate::init()?;
    let image = image.into();
    let (width, height) = match image {
        ImageRef::Gray(g) => (g.width(), g.height()),
        ImageRef::Bgr(b) => (b.width(), b.height()),
    };
    let what = format!("PNG {width}x{height}");
    let err = |reason: String| MediaError::Encode {
        target: what.clone(),
        reason,
    };
    check_size(width, height).map_err(err)?;
    let frame = match image {
        ImageRef::Gray(g) => {
            frame_from_packed(g.data(), g.stride(), Pixel::GRAY8, width, height, 1)
        }
        ImageRef::Bgr(b) => {
            // FFmpeg's PNG encoder takes RGB: swap the channel order.
            let rgb: Vec<u8> = b
                .data()
                .chunks_exact(3)
                .flat_map(|p| [p[2], p[1], p[0]])
                .collect();
            frame_from_packed(&rgb, b.stride(), Pixel::RGB24, width, height, 3)
        }
    }
    .map_err(err)?;
    encode_still(codec::Id::PNG, frame, Dictionary::new(), &what)
}

fn check_size(width: u32, height: u32) -> Result<(), String> {
    if width == 0 || height == 0 {
        return Err("empty image".to_string());
    }
    if width > 16384 || height > 16384 {
        return Err("image larger than 16384 pixels on a side".to_string());
    }
    Ok(())
}

/// Encodes one frame with a still-image encoder and returns the single packet it produces.
fn encode_still(
    id: codec::Id,
    frame: VideoFrame,
    options: Dictionary,
    what: &str,
) -> Result<Vec<u8>, MediaError> {
    let err = |reason: String| MediaError::Encode {
        target: what.to_string(),
        reason,
    };
    let codec = encoder::find(id).ok_or_else(|| err(format!("FFmpeg has no {id:?} encoder")))?;
    let mut video = codec::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(|e| err(e.to_string()))?;
    video.set_width(frame.width());
    video.set_height(frame.height());
    video.set_format(frame.format());
    video.set_time_base(Rational::new(1, 25));
    let mut encoder = video
        .open_as_with(codec, options)
        .map_err(|e| err(format!("cannot open encoder: {e}")))?;
    let mut frame = frame;
    frame.set_pts(Some(0));
    encoder
        .send_frame(&frame)
        .and_then(|()| encoder.send_eof())
        .map_err(|e| err(e.to_string()))?;
    let mut packet = Packet::empty();
    encoder
        .receive_packet(&mut packet)
        .map_err(|e| err(e.to_string()))?;
    packet
        .data()
        .map(<[u8]>::to_vec)
        .ok_or_else(|| err("encoder produced no data".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_maps_onto_quantizer() {
        assert_eq!(jpeg_quantizer(100), 1);
        assert_eq!(jpeg_quantizer(90), 4);
        assert_eq!(jpeg_quantizer(1), 31);
        assert_eq!(jpeg_quantizer(0), 31);
        assert!(jpeg_quantizer(50) > jpeg_quantizer(80));
    }
}
