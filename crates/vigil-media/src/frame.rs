//! A decoded picture with its position in the stream. Pixels stay in the decoder's format (usually YUV)
//! until someone asks for gray or BGR: a frame that nobody reads is never converted.

use crate::MediaError;
use crate::convert::Converter;
use ffmpeg_next::frame::Video as VideoFrame;
use vigil_core::{BgrImage, GrayImage, Time90k};

/// One decoded video frame.
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
