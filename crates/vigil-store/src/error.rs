//! Errors of the recording store. Each names the file, camera or time range it concerns.

use std::path::PathBuf;
use thiserror::Error;
use vigil_core::Time90k;

/// A store failure.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A file or directory operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The index database failed.
    #[error("index database {path}: {source}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The configuration is unusable.
    #[error("storage configuration: {0}")]
    Config(String),
    /// Another process holds the store open for writing.
    #[error("{path} is locked by another Vigil process (only one recorder may write a store)")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A storage directory belongs to another store or is not set up.
    #[error("storage directory {path}: {reason}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No camera of that name in the index.
    #[error("unknown camera {name:?} (known: {})", if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    UnknownCamera {
        /// The name asked for.
        name: String,
        /// The cameras the index knows.
        known: Vec<String>,
    },
    /// The camera has no stream of that name.
    #[error("camera {camera:?} has no stream {stream:?}")]
    UnknownStream {
        /// Camera.
        camera: String,
        /// Stream asked for.
        stream: String,
    },
    /// Nothing was recorded in the requested range.
    #[error("no recording of camera {camera:?} between {} and {}", fmt_time(*from), fmt_time(*to))]
    NoRecording {
        /// Camera.
        camera: String,
        /// Range start (wall clock, 90 kHz since the Unix epoch).
        from: Time90k,
        /// Range end.
        to: Time90k,
    },
    /// A time range with its end not after its start.
    #[error("empty time range: {} is not before {}", fmt_time(*from), fmt_time(*to))]
    EmptyRange {
        /// Start.
        from: Time90k,
        /// End.
        to: Time90k,
    },
    /// A recorded segment's frame index does not decode or does not match its file.
    #[error("segment {file}: {reason}")]
    BadSegment {
        /// Segment file.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The recorder of this stream has stopped (its thread ended).
    #[error("recorder for {camera}/{stream} has stopped: {reason}")]
    RecorderStopped {
        /// Camera.
        camera: String,
        /// Stream.
        stream: String,
        /// Why.
        reason: String,
    },
    /// The recorder's queue is full: the disk is not keeping up.
    #[error("recorder for {camera}/{stream} is {queued} frames behind; frame not queued")]
    Backlogged {
        /// Camera.
        camera: String,
        /// Stream.
        stream: String,
        /// Frames waiting.
        queued: usize,
    },
    /// A second recorder was asked for a stream that already has one.
    #[error("stream {camera}/{stream} already has a recorder")]
    AlreadyRecording {
        /// Camera.
        camera: String,
        /// Stream.
        stream: String,
    },
    /// No event with that id (never recorded, or deleted by retention).
    #[error("no event {id} (never recorded, or deleted by event retention)")]
    EventNotFound {
        /// The event id asked for.
        id: String,
    },
    /// An event message that cannot be stored.
    #[error("event {id}: {reason}")]
    BadEvent {
        /// The event id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Footage under an evidence hold cannot be erased.
    #[error(
        "footage of {camera} in that range is under an evidence hold: release the hold first (nothing was erased)"
    )]
    FootageHeld {
        /// The camera.
        camera: String,
    },
    /// An event under an evidence hold cannot be deleted.
    #[error("event {id} is under an evidence hold; release the hold first")]
    EventHeld {
        /// The event id.
        id: String,
    },
    /// A snapshot bigger than the per-event cap.
    #[error("snapshot of event {id} is {bytes} bytes, more than the {max} bytes allowed per event")]
    SnapshotTooLarge {
        /// The event id.
        id: String,
        /// Bytes offered (full frame and crop together).
        bytes: u64,
        /// The cap (`events.max_snapshot_bytes`).
        max: u64,
    },
    /// Snapshot bytes offered that are not a JPEG image.
    #[error("snapshot of event {id}: {reason}")]
    InvalidSnapshot {
        /// The event id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The event has no snapshot of that kind.
    #[error("event {id} has no {kind} snapshot")]
    NoSnapshot {
        /// The event id.
        id: String,
        /// `full` or `crop`.
        kind: &'static str,
    },
    /// A stored snapshot file is missing, truncated or damaged.
    #[error("snapshot file {path}: {reason}")]
    CorruptSnapshot {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An event query that cannot be run (bad cursor, search text without words, bad range).
    #[error("event query: {0}")]
    BadQuery(String),
    /// MP4 assembly or parsing failed.
    #[error(transparent)]
    Mp4(#[from] vigil_mp4::Mp4Error),
    /// Recordings that fail their integrity check where a change would re-seal them (encrypting a
    /// plain store, blurring on request: both re-link chains): refused, since re-sealing would hide
    /// the problem.
    #[error(
        "the recordings of {camera}/{stream} fail their integrity check (`vigil verify recordings`), so \
         nothing was changed: re-sealing them would hide it: {}",
        problems.join("; ")
    )]
    TamperedChain {
        /// Camera.
        camera: String,
        /// Stream.
        stream: String,
        /// Each problem: its kind, the segment's file (or number) and what is wrong.
        problems: Vec<String>,
    },
    /// A segment could not be rewritten (erasure by blurring): the rewriter failed, or what it made
    /// cannot replace the segment frame for frame. Nothing of that segment was changed.
    #[error("rewriting segment {file}: {reason}")]
    Rewrite {
        /// Segment file.
        file: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Part of the range is in a segment still being written: an erasure by blurring rewrites finished
    /// segments only, so it is refused, nothing changed, until that segment closes.
    #[error(
        "{camera}'s footage from {since} on is in the segment still being recorded: ask again once it \
         closes (segments last {segment_seconds} s)"
    )]
    StillRecording {
        /// Camera.
        camera: String,
        /// Start of the open segment (RFC 3339, UTC).
        since: String,
        /// The configured segment length, in seconds.
        segment_seconds: u32,
    },
    /// Encryption or decryption of recordings failed.
    #[error("encryption: {0}")]
    Crypto(String),
    /// A key could not be sealed or opened (the master key is wrong or missing).
    #[error(transparent)]
    Keys(#[from] vigil_keys::KeyError),
}

/// Formats a wall-clock 90 kHz time for a message: RFC 3339 in UTC ([`vigil_core::time::utc_text`]).
pub(crate) fn fmt_time(t: Time90k) -> String {
    vigil_core::time::utc_text(t.0.div_euclid(90))
}

/// Wraps a rusqlite error with the database path.
pub(crate) fn db_err(path: &std::path::Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Db {
        path: path.to_path_buf(),
        source,
    }
}

/// Wraps an I/O error with a path.
pub(crate) fn io_err(path: &std::path::Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}
