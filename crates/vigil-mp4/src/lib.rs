//! Vigil MP4: MP4 (ISO BMFF) muxing for recording, export and live view, in a crate of its own so that the
//! store and the server use it without linking FFmpeg. Nothing here decodes or re-encodes video:
//! it only arranges the camera's compressed frames into boxes.
//!
//! - [`codec`]: `avc1`/`hvc1` sample entries and RFC 6381 codec strings from decoder configuration
//!   (FFmpeg extradata in avcC/hvcC or Annex B form), and back from a sample entry.
//! - [`fragment`]: fragmented MP4 — an init segment (`ftyp`+`moov` with `mvex`) and media segments
//!   (`moof`+`mdat`) for live view, HTTP playback and the recorder's crash-tolerant segment files; plus a
//!   parser for reading such files back.
//! - [`progressive`]: a standard MP4 (`ftyp`, `moov` with `stts`/`stss`/`stsz`/`stsc`/`stco`|`co64`, then
//!   `mdat`) assembled on demand as a [`VirtualFile`] whose bytes come partly from memory and partly from
//!   ranges of recorded files, so a server can answer byte-range requests without writing the MP4.
//! - [`live`]: live view — frames in, init and media segments out, as they arrive.
//! - [`live_hub`]: a camera's live view, muxed once and broadcast to any number of viewers.
//! - [`h26x`]: NAL unit framing (Annex B and length-prefixed) and parameter-set helpers.
//!
//! All timestamps are on the 90 kHz clock ([`TIMESCALE`]).

mod boxes;
pub mod codec;
mod error;
pub mod fragment;
pub mod fragmented_frames;
pub mod h26x;
pub mod live;
pub mod live_hub;
mod moov;
pub mod progressive;
mod virtual_file;

pub use boxes::{BoxHeader, read_box_header};
pub use error::Mp4Error;
pub use progressive::{Mp4Builder, SampleInfo};
pub use virtual_file::{Part, SourceReader, VirtualFile};

/// Timescale of every track Vigil writes: 90 kHz, the RTP video clock.
pub const TIMESCALE: u32 = 90_000;

/// Seconds from 1904-01-01 (the MP4 epoch) to 1970-01-01 (the Unix epoch).
pub const MP4_EPOCH_OFFSET_SECS: i64 = 2_082_844_800;
