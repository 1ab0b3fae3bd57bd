//! Vigil's recording store: the main stream's encoded frames appended to segment files in one or more
//! storage directories, a SQLite index of segments and their frames, retention, and MP4 / fragmented
//! MP4 built on demand for playback and export. Video is never decoded or re-encoded.
//!
//! Design (after Moonfire NVR, with its crash-recovery gap closed):
//! - **Segment files**: each ~1 minute segment is a fragmented MP4 (playable on its own) with one
//!   fragment per GOP or per second, a header box naming its camera, stream and wall-clock start, and a
//!   CRC-32 box after each fragment. A file cut off by a crash keeps every complete fragment; start-up
//!   recovery indexes it. At most `fragment_seconds` of video is in memory per stream. (A framed format
//!   with per-frame headers would recover the same way but needs our own tools to read; Moonfire's raw
//!   sample files cannot be recovered at all without their index row.)
//! - **Index**: SQLite in WAL mode with `synchronous=FULL` (see `schema.rs`): cameras, streams, sample
//!   entries, segments (wall-clock start in 90 kHz since the epoch, duration, bytes, frame and key-frame
//!   counts, checksum) with a compact per-frame table, a garbage table and retention marks.
//! - **Crash-safe ordering**: write + fsync the file, fsync the directory, then commit the row.
//!   Deletions: garbage row, unlink + fsync directory, drop the garbage row. [`Store::open`] reconciles
//!   files with rows before anything records ([`ReconcileReport`]).
//! - **Time**: frames in decode order with their composition offsets (B-frames); frame durations from
//!   the camera's decode-time deltas (implausible ones replaced by the nominal duration, starting a new
//!   run); each run anchored on the local receive time; segment wall durations slewed by at most
//!   `max_slew_ppm` toward the local clock. Exports carry the offsets (`ctts`, version-1 `trun`).
//!
//! The crash-safety and no-loss invariants, each with the test that proves it:
//! `docs/design/recording.md`.
//! - **Retention**: byte budgets per directory and per camera, a free-space floor, keep-longer marks and
//!   evidence holds ([`Mark`]); a full disk deletes the oldest unprotected footage and keeps recording,
//!   raising [`StorageAlert`]s.
//! - **Events** (in the same index): one row per event lifecycle, best snapshots as files, keep-longer
//!   marks over event footage, full-text search, keyset-paginated lists for the server
//!   ([`Store::record_event`], [`EventReader`]), and dead letters of undeliverable alerts.
//!
//! Typical use by `vigil run`:
//! ```no_run
//! # fn main() -> Result<(), vigil_store::StoreError> {
//! use vigil_store::{Store, StoreConfig};
//! let (store, report) = Store::open(StoreConfig::new("/var/lib/vigil/index.db", "disk1", "/srv/vigil"))?;
//! store.on_alert(|a| eprintln!("storage alert: {}", a.message));
//! let recorder = store.recorder("front-door", "main")?;
//! // for each frame from the camera: recorder.try_append(&frame)?;
//! // on disconnect: recorder.end_run()?;
//! let status = store.status()?;
//! let export = store.reader()?.export("front-door", "main", status.cameras[0].oldest.unwrap(),
//!     status.cameras[0].newest_end.unwrap())?;
//! # Ok(()) }
//! ```

mod alerts;
mod baselines;
mod blur;
mod config;
mod crypt;
mod encrypt_existing;
mod erasure;
mod error;
mod events;
pub mod evidence;
mod export_filter;
mod frame_index;
mod holds;
mod integrity;
mod playback;
mod queue;
mod reconcile;
mod recorder;
mod retention;
mod retention_limits;
mod rewrite;
mod schema;
mod segment_file;
mod status;
mod store;
mod timing;
mod write_latency;

pub use alerts::{AlertKind, Severity, StorageAlert};
pub use baselines::{BaselineStore, PersistedBaselines};
pub use blur::{BlurProgress, BlurReport, BlurredSegment, Rewritten, SegmentRewriter};
pub use config::{
    CameraStorageConfig, DirConfig, EventStoreConfig, StoreConfig, VerifyLevel, parse_bytes,
};
pub use crypt::rewrap_segment_keys;
pub use encrypt_existing::{EncryptProgress, EncryptReport};
pub use erasure::{ErasedSegment, ErasureReport};
pub use error::StoreError;
pub use events::{
    DeadLetter, DeadLetterQuery, ElsewhereQuery, EventPage, EventQuery, EventReader,
    EventRetentionReport, EventWrite, EventWriter, EventWriterStats, HistogramBin, Lifecycle,
    NewDeadLetter, PlateQuery, PlateSearch, Sighting, SnapshotInfo, SnapshotKind, StoredAppearance,
    StoredEvent,
};
pub use events::{FeedbackGiven, ReviewRow, ReviewScope, Verdict, WeeklyFeedback};
pub use events::{OutboxDepth, OutboxItem, OutboxOp};
pub use export_filter::{ExportFilter, filter_in_place};
pub use frame_index::{FragmentEntry, FrameEntry, FrameIndex};
pub use holds::Holds;
pub use integrity::verify::{
    IntegrityFault, IntegrityProblem, IntegrityReport, RewrittenSegment, VerifyScope,
    verify_recordings,
};
pub use integrity::{SIGN_EVERY, Seal};
pub use playback::{CameraInfo, Export, Reader, SegmentInfo};
pub use reconcile::{Problem, ReconcileReport, RecoveredFile};
pub use recorder::{Recorder, RecorderInput, RecorderStatus};
pub use retention::{Mark, RetentionReport};
pub use retention_limits::RetentionLimits;
pub use status::{CameraStatus, DirStatus, StorageStatus};
pub use store::Store;
