//! Encoded video as it travels from a camera to the recorder: codec parameters and compressed frames.
//! Recording never decodes, so these carry the exact bytes the camera sent.

use crate::time::Time90k;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Video codecs Vigil records and decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    /// H.264 / AVC.
    H264,
    /// H.265 / HEVC.
    H265,
}

impl VideoCodec {
    /// The RFC 6381 / MP4 sample entry four-character code (`avc1`, `hvc1`).
    pub fn fourcc(&self) -> &'static str {
        match self {
            VideoCodec::H264 => "avc1",
            VideoCodec::H265 => "hvc1",
        }
    }
}

/// Parameters of one encoded video stream; a change (new SPS/PPS, new size) means a new value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoParams {
    /// Codec.
    pub codec: VideoCodec,
    /// Display width in pixels (as in the sample entry).
    pub width: u32,
    /// Display height in pixels (as in the sample entry).
    pub height: u32,
    /// RFC 6381 codec string for browsers, e.g. `avc1.64001f`.
    pub rfc6381_codec: String,
    /// The complete ISO BMFF sample entry box (`avc1` with `avcC`, or `hvc1` with `hvcC`), as written
    /// into an MP4 `stsd`.
    pub sample_entry: Vec<u8>,
}

/// One compressed video frame (an access unit) as received from a camera. Frames travel in decode order;
/// with B-frames that is not presentation order, so `pts` steps back now and then while
/// [`EncodedFrame::dts`] always advances.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    /// Parameters in force for this frame (shared; compare with `Arc::ptr_eq` or by value to see a change).
    pub params: Arc<VideoParams>,
    /// Presentation time on the camera's 90 kHz clock (not trusted for wall time; may jump).
    pub pts: Time90k,
    /// Presentation time minus decode time, in 90 kHz ticks (the MP4 composition offset, `ctts`): 0 for
    /// streams without B-frames. Kept as an offset so that shifting `pts` shifts the decode time with it.
    pub composition_offset: i32,
    /// Local wall-clock time the frame arrived, in microseconds since the Unix epoch.
    pub received_unix_micros: i64,
    /// True for a random access point (IDR / IRAP): playback and export may start here.
    pub is_key: bool,
    /// The access unit in MP4 form: NAL units each prefixed with a 4-byte big-endian length. Shared and
    /// reference-counted: the recorder, the live view and analysis each hold the same bytes, never a copy.
    pub data: bytes::Bytes,
}

impl EncodedFrame {
    /// Decode time on the camera's 90 kHz clock: `pts - composition_offset`. Strictly increasing from frame
    /// to frame of a stream (between discontinuities), so frame durations are its deltas.
    pub fn dts(&self) -> Time90k {
        Time90k(self.pts.0 - i64::from(self.composition_offset))
    }
}
