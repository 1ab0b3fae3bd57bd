//! A decoded picture with its position in the stream. Pixels stay in the decoder's format (usually YUV)
//! until someone asks for gray or BGR: a frame that nobody reads is never converted.

use crate::MediaError;
use crate::convert::Converter;
use ffmpeg_next::frame::Video as VideoFrame;
use vigil_core::{BgrImage, GrayImage, Time90k};

/// One decoded video frame (a clone copies its pixels).
#[derive(Clone)]
pub struct DecodedFrame {
    index: u64,
    pts: Time90k,
    frame: VideoFrame,
}

impl DecodedFrame {
    pub(crate) fn new(index: u64, pts: Time90k, frame: VideoFrame) -> Self {
        Self { index, pts, frame }
    }

    /// 0-based number of this frame in the order the decoder delivered them (presentation order).
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Presentation time on the 90 kHz clock (the stream's own timestamps, not rebased to zero).
    pub fn pts(&self) -> Time90k {
        self.pts
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.frame.width()
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.frame.height()
    }

    /// True for a key (intra) frame.
    pub fn is_key(&self) -> bool {
        self.frame.is_key()
    }

    /// True when the decoder found damage in this frame's data and concealed it (pixels may be smeared).
    pub fn has_errors(&self) -> bool {
        self.frame.is_corrupt() || self.frame.has_decode_errors()
    }

    /// The FFmpeg frame (planes in the decoder's pixel format).
    pub fn frame(&self) -> &VideoFrame {
        &self.frame
    }

    /// The FFmpeg frame, giving the decoded frame up.
    pub fn into_frame(self) -> VideoFrame {
        self.frame
    }

    /// The frame as 8-bit gray at `width` x `height` (scaled with area averaging when shrinking).
    pub fn gray(
        &self,
        converter: &mut Converter,
        width: u32,
        height: u32,
    ) -> Result<GrayImage, MediaError> {
        converter.gray(&self.frame, width, height)
    }

    /// How colourful the picture is: the mean distance of its chroma from neutral, `|U-128| + |V-128|`
    /// (0 for a monochrome picture such as a camera's IR mode; a few levels to tens for a colour scene),
    /// sampled on a grid of about 80 x 45 chroma pixels straight from the decoded planes (no conversion).
    /// `None` for a pixel format without YUV chroma planes.
    pub fn chroma(&self) -> Option<f32> {
        use ffmpeg_next::format::Pixel;
        let f = &self.frame;
        let planar = match f.format() {
            Pixel::YUV420P
            | Pixel::YUVJ420P
            | Pixel::YUV422P
            | Pixel::YUVJ422P
            | Pixel::YUV444P
            | Pixel::YUVJ444P => true,
            Pixel::NV12 | Pixel::NV21 => false,
            _ => return None,
        };
        let (pw, ph) = (f.plane_width(1) as usize, f.plane_height(1) as usize);
        if pw == 0 || ph == 0 {
            return None;
        }
        let (sx, sy) = ((pw / 80).max(1), (ph / 45).max(1));
        let mut sum = 0u64;
        let mut n = 0u64;
        let mut add = |row: &[u8], x: usize| {
            if let Some(&v) = row.get(x) {
                sum += u64::from(v.abs_diff(128));
            }
        };
        for y in (0..ph).step_by(sy) {
            if planar {
                let (u, v) = (f.data(1), f.data(2));
                let (su, sv) = (f.stride(1), f.stride(2));
                let (Some(ru), Some(rv)) = (u.get(y * su..), v.get(y * sv..)) else {
                    break;
                };
                for x in (0..pw).step_by(sx) {
                    add(ru, x);
                    add(rv, x);
                    n += 1;
                }
            } else {
                let uv = f.data(1);
                let Some(row) = uv.get(y * f.stride(1)..) else {
                    break;
                };
                for x in (0..pw).step_by(sx) {
                    add(row, 2 * x);
                    add(row, 2 * x + 1);
                    n += 1;
                }
            }
        }
        (n > 0).then(|| sum as f32 / n as f32)
    }

    /// The frame as packed BGR at `width` x `height`.
    pub fn bgr(
        &self,
        converter: &mut Converter,
        width: u32,
        height: u32,
    ) -> Result<BgrImage, MediaError> {
        converter.bgr(&self.frame, width, height)
    }
}

impl std::fmt::Debug for DecodedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedFrame")
            .field("index", &self.index)
            .field("pts", &self.pts)
            .field("size", &(self.width(), self.height()))
            .field("format", &self.frame.format())
            .finish()
    }
}
