//! Vigil media: FFmpeg-backed demuxing, decoding, pixel conversion, encoding and drawing.
//!
//! - [`VideoSource`]: open a file or URL, read [`DecodedFrame`]s ([`source`]).
//! - [`VideoDecoder`]: codec-level decoding of packets from a camera ([`decode`]).
//! - [`FrameSampler`], [`AnalysisSize`]: which frames to analyse, at what size ([`sampler`]).
//! - [`convert`]: YUV (or any FFmpeg pixel format) to packed gray / BGR images at a chosen size, only when asked.
//! - [`VideoWriter`]: BGR frames to an H.264 MP4 ([`writer`]); [`draw`]: boxes and labels on BGR images;
//!   [`encode`]: JPEG / PNG in memory.
//! - [`image_file`]: read still images (JPEG, PNG, BMP) into [`vigil_core::BgrImage`] / [`vigil_core::GrayImage`].
//! - [`demux`]: a video file read with FFmpeg into [`vigil_core::EncodedFrame`]s (tests, benchmarks,
//!   importing footage), in the same form the RTSP ingest produces.
//! - [`replay`]: a video file played as a live camera (demo, `file://` cameras, tests).
//! - [`stream_encode`]: BGR frames to a camera-like H.264 stream of `EncodedFrame`s (masked live view).
//! - [`sink`]: where a stream's frames go ([`sink::StreamSink`]; a bounded channel is one).
//! - [`rtsp`]: supervised RTSP ingest of camera streams into [`vigil_core::EncodedFrame`]s.
//! - `test_server` (feature `test-server`): a real RTSP server on loopback serving footage, for tests.
//!
//! MP4 muxing and the live hub live in `vigil-mp4`, which links no FFmpeg.

pub mod convert;
pub mod decode;
pub mod demux;
pub mod draw;
pub mod encode;
pub mod error;
mod font;
pub mod frame;
pub mod image_file;
mod probe;
pub mod replay;
pub mod rtsp;
mod sample_entry;
pub mod sampler;
pub mod sink;
pub mod source;
pub mod stream_encode;
#[cfg(feature = "test-server")]
pub mod test_server;
pub mod writer;

pub use convert::Converter;
pub use decode::{Codec, DecoderOptions, DecoderStats, VideoDecoder};
pub use error::MediaError;
pub use frame::DecodedFrame;
pub use sampler::{AnalysisSize, FrameSampler};
pub use source::{StreamInfo, VideoSource};
pub use writer::VideoWriter;

/// Initializes FFmpeg once per process (idempotent, cheap after the first call) and quiets its logging
/// to errors only; Vigil reports problems through `tracing` and its own errors.
pub fn init() -> Result<(), MediaError> {
    static INIT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    INIT.get_or_init(|| {
        ffmpeg_next::init().map_err(|e| e.to_string())?;
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
        Ok(())
    })
    .clone()
    .map_err(MediaError::Init)
}

#[cfg(test)]
mod tests {
    /// Decoding runs on its own thread, frames and converters move to workers: all of these must be `Send`.
    #[test]
    fn pipeline_types_are_send() {
        fn send<T: Send>() {}
        send::<crate::VideoSource>();
        send::<crate::VideoDecoder>();
        send::<crate::DecodedFrame>();
        send::<crate::Converter>();
        send::<crate::VideoWriter>();
    }
}
