//! Errors of the media layer. Every variant that concerns a file or URL names it.

use std::path::PathBuf;
use thiserror::Error;

/// A media failure, with the file or stream it concerns.
#[derive(Debug, Error)]
pub enum MediaError {
    /// FFmpeg could not be initialized.
    #[error("FFmpeg initialization failed: {0}")]
    Init(String),
    /// The file or URL could not be opened or its container not understood.
    #[error("{path}: cannot open: {reason}")]
    Open {
        /// File or URL.
        path: PathBuf,
        /// What FFmpeg said.
        reason: String,
    },
    /// The input has no stream of the wanted kind.
    #[error("{path}: no video stream")]
    NoVideoStream {
        /// File or URL.
        path: PathBuf,
    },
    /// The codec is not one Vigil decodes (or FFmpeg has no decoder for it).
    #[error("{path}: unsupported codec {codec}")]
    UnsupportedCodec {
        /// File or URL.
        path: PathBuf,
        /// Codec name as FFmpeg reports it.
        codec: String,
    },
    /// Decoding failed in a way that cannot be skipped.
    #[error("{path}: decode error: {reason}")]
    Decode {
        /// File or URL.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Pixel conversion (scaling) failed.
    #[error("pixel conversion {from}->{to}: {reason}")]
    Convert {
        /// Source description (format and size).
        from: String,
        /// Target description.
        to: String,
        /// What FFmpeg said.
        reason: String,
    },
    /// An image file decoded to nothing.
    #[error("{path}: no image could be decoded")]
    EmptyImage {
        /// File.
        path: PathBuf,
    },
    /// The input ends early: the frames before the cut were delivered, the rest of the file is missing.
    #[error("{path}: truncated after {frames} decoded frames: {reason}")]
    Truncated {
        /// File or URL.
        path: PathBuf,
        /// Frames delivered before the cut.
        frames: u64,
        /// What is missing.
        reason: String,
    },
    /// Reading the input failed (I/O or demuxer error) after it was opened.
    #[error("{path}: read error after {packets} packets: {reason}")]
    Read {
        /// File or URL.
        path: PathBuf,
        /// Packets read before the failure.
        packets: u64,
        /// What FFmpeg said.
        reason: String,
    },
    /// A codec-level decoder (no file: packets come from a camera) could not be set up or failed.
    #[error("{codec} decoder: {reason}")]
    Decoder {
        /// Codec name.
        codec: String,
        /// What went wrong.
        reason: String,
    },
    /// Encoding an image or writing a video file failed.
    #[error("{target}: encode error: {reason}")]
    Encode {
        /// What was being encoded: an output path, or e.g. `JPEG 640x480`.
        target: String,
        /// What went wrong.
        reason: String,
    },
    /// A file's video could not be arranged into Vigil's frame form (bad parameter sets or NAL framing).
    #[error(transparent)]
    Mp4(#[from] vigil_mp4::Mp4Error),
}
