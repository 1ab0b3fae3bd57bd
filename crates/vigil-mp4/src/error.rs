//! Errors of MP4 muxing, parsing and file-backed serving. Each names the thing it concerns.

use std::path::PathBuf;
use thiserror::Error;

/// An MP4 failure.
#[derive(Debug, Error)]
pub enum Mp4Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Writing to the output failed (a client disconnect, a full disk).
    #[error("writing MP4 output: {0}")]
    Output(#[source] std::io::Error),
    /// Malformed input: a box, a decoder configuration, a NAL unit.
    #[error("{what}: {reason}")]
    Invalid {
        /// What was being read (e.g. `avcC`, `moof at byte 1234 of /x/y.mp4`).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Valid input Vigil does not handle (e.g. a codec other than H.264/H.265).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A source file is shorter than the ranges the MP4 needs from it (deleted, truncated).
    #[error("{path}: needs bytes {offset}..{end} but the file is shorter")]
    SourceTooShort {
        /// The file.
        path: PathBuf,
        /// Start of the needed range.
        offset: u64,
        /// End of the needed range.
        end: u64,
    },
    /// A byte range outside the virtual file was requested.
    #[error("range {start}..{end} is outside the file of {len} bytes")]
    BadRange {
        /// Requested start.
        start: u64,
        /// Requested end.
        end: u64,
        /// File length.
        len: u64,
    },
}

impl Mp4Error {
    /// A shorthand for [`Mp4Error::Invalid`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Mp4Error::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
