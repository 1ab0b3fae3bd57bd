//! The event store: every event the rules raise, its best snapshot, the footage around it, and the alerts
//! that could not be delivered — in the recording index (same SQLite database, WAL), so that the server
//! can list and search "everything that happened" from a read-only connection while recording writes.
//!
//! - **One row per event**: every [`Event`] message (Start, Updates, End) carries the whole current
//!   state under one id, so [`Store::record_event`] upserts it; a stale message (older than what is
//!   stored, or an Update after the End) is ignored. Events still open when the process stopped are
//!   closed as *interrupted* when the store opens again.
//! - **Order and pagination**: the row id is the sort key `(start unix ms << 12) | n`, so newest-first
//!   order, time filters and the keyset cursor are rowid ranges, and every secondary index is ordered
//!   by time within its key. A page never shifts when events are inserted: the cursor is a position
//!   in that order, not an offset. Events are ordered and filtered by the start time their first
//!   message reported.
//! - **Search**: an FTS5 index over camera, rule, kind, classes, zone/line and description; the words
//!   typed are matched as whole words (`word*` for a prefix, `"two words"` for a phrase), newest first.
//! - **Snapshots**: the best full frame and a crop around the object (JPEG bytes from the caller),
//!   files under the snapshot directory (`<day>/<event id>-<n>-full.jpg`), written crash-safely
//!   (temporary file, fsync, rename, directory fsync; a garbage table covers every file that may exist
//!   without a row), checked against their length and CRC-32 when read, capped per event.
//! - **Footage**: each event's range with pre-/post-roll is a keep-longer mark in the recording's
//!   `marks` table (extended while the event is open, final at the End), kept until the event's
//!   retention ends; retention deletes marked footage only when nothing unmarked is left.
//! - **Event retention**: events, their snapshots and marks are deleted `retention_days` after they
//!   end, never while an evidence hold covers their footage (run with the recording retention).
//! - **Timeline counts**: events per 15 minutes, camera and kind, kept with the rows, so a month's
//!   histogram reads a small table.
//! - **Dead letters**: alerts that could not be delivered, with their payload, kept for retry.
//!
//! - **Writer**: `vigil run` stores events through [`EventWriter`], the event bus's store consumer: one
//!   thread, batched transactions on a connection of its own, so recording commits never wait behind it.
//!
//! Reading goes through [`EventReader`] (its own read-only connection; open one per thread).

mod appearances;
mod dead_letters;
mod outbox;
mod paths;
mod plan;
mod plates;
mod query;
mod retention;
mod review;
mod snapshot;
mod write;
mod writer;

pub use appearances::{ElsewhereQuery, Sighting, StoredAppearance};
pub use dead_letters::{DeadLetter, DeadLetterQuery, NewDeadLetter};
pub use outbox::{OutboxDepth, OutboxItem, OutboxOp};
pub use paths::Lifecycle;
pub use plates::{PlateQuery, PlateSearch};
pub use query::{EventReader, HistogramBin};
pub use retention::EventRetentionReport;
pub use review::{FeedbackGiven, ReviewRow, ReviewScope, Verdict, WeeklyFeedback};
pub use snapshot::SnapshotKind;
pub use writer::{EventWriter, EventWriterStats};

use crate::config::StoreConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;
use vigil_core::Event;

/// Bits of the row id below the start time (events starting in the same millisecond).
const KEY_SHIFT: u32 = 12;
/// Start times must be below this (unix ms), so that the row id fits (year ~37,600).
const MAX_START_MS: i64 = 1 << 50;
/// Granularity of the timeline counts.
const COUNT_BUCKET_MS: i64 = 15 * 60 * 1000;

/// The row id range start of a unix ms time, clamped to the representable range.
fn key_of_ms(ms: i64) -> i64 {
    ms.clamp(0, MAX_START_MS) << KEY_SHIFT
}

/// The start time (unix ms) a row id sorts by.
fn ms_of_key(key: i64) -> i64 {
    key >> KEY_SHIFT
}

/// Now on the wall clock in unix milliseconds.
fn now_ms() -> i64 {
    vigil_core::time::now_unix_ms()
}

/// An event as stored: its latest state, with what the store adds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    /// The event as its last applied message described it (`phase` is that message's phase).
    pub event: Event,
    /// No End message yet.
    pub open: bool,
    /// Closed by the store because the process stopped before the event's End message came.
    pub interrupted: bool,
    /// The best snapshot, if one was saved.
    pub snapshot: Option<SnapshotInfo>,
    /// When the row was last written (unix ms).
    pub updated_ms: i64,
}

/// What is stored of an event's snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SnapshotInfo {
    /// Bytes of the full-frame JPEG.
    pub full_bytes: u64,
    /// Bytes of the crop JPEG, if one was saved.
    pub crop_bytes: Option<u64>,
    /// When it was saved (unix ms).
    pub saved_ms: i64,
}

/// What [`Store::record_event`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventWrite {
    /// First message of the event: a new row.
    Inserted,
    /// The row now holds this message's state.
    Updated,
    /// Older than what is stored (an earlier `last`, or an Update after the End): ignored.
    Stale,
}

/// Which events to list. `None` filters are not applied; `Some(empty list)` matches nothing (a user
/// allowed no camera sees no event). Times are unix ms of the event's start: `from <= start < to`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventQuery {
    /// Camera names.
    pub cameras: Option<Vec<String>>,
    /// Start at or after (unix ms).
    pub from_ms: Option<i64>,
    /// Start before (unix ms).
    pub to_ms: Option<i64>,
    /// Kind names (`line_crossing`, `intrusion`, `loitering`, `crowding`, `queue`).
    pub kinds: Option<Vec<String>>,
    /// Rule names.
    pub rules: Option<Vec<String>>,
    /// Main object class names.
    pub classes: Option<Vec<String>>,
    /// Zone or line name.
    pub zone: Option<String>,
    /// Words to search for (all must match; `word*` matches a prefix, `"two words"` a phrase).
    pub text: Option<String>,
    /// Only events that have not ended.
    pub open_only: bool,
    /// Page size: 0 means 50; at most 1000.
    pub limit: usize,
    /// Continue after this cursor (from the previous page's `next_cursor`).
    pub cursor: Option<String>,
}

/// One page of events, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventPage {
    /// The events.
    pub events: Vec<StoredEvent>,
    /// Pass as `cursor` for the next page; `None` when this is the last one.
    pub next_cursor: Option<String>,
}

/// Event-store state of a running store.
#[derive(Default)]
pub(crate) struct EventsState {
    /// When event retention last ran (it runs at most once a minute from the retention thread).
    last_retention: Mutex<Option<Instant>>,
    /// Rung after each committed batch of event writes (the uplink's drainer waits on it).
    pub(crate) written: std::sync::Arc<tokio::sync::Notify>,
}

/// The snapshot directory a configuration names (default: `snapshots` next to the index).
pub(crate) fn snapshot_root(config: &StoreConfig) -> PathBuf {
    match &config.events.snapshot_dir {
        Some(d) => d.clone(),
        None => config
            .db
            .parent()
            .map_or_else(|| PathBuf::from("snapshots"), |p| p.join("snapshots")),
    }
}

/// Work done when the store opens, before anything records: remember the snapshot directory for
/// readers, finish interrupted snapshot writes and deletions, and close the events left open by the
/// previous process.
pub(crate) fn on_open(inner: &crate::store::Inner) -> Result<(), crate::StoreError> {
    let root = snapshot_root(&inner.config);
    let root = std::path::absolute(&root).unwrap_or(root);
    {
        let conn = inner.db();
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('event_snapshot_dir', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [root.to_string_lossy()],
        )
        .map_err(crate::error::db_err(&inner.db_path))?;
    }
    snapshot::sweep_garbage(inner, &root)?;
    let closed = write::close_interrupted(inner)?;
    if closed > 0 {
        tracing::warn!(
            "{closed} event(s) were still open when Vigil stopped; closed them as interrupted"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_start_and_round_trip() {
        let a = key_of_ms(1_717_000_000_000);
        assert_eq!(ms_of_key(a), 1_717_000_000_000);
        assert_eq!(ms_of_key(a + 4095), 1_717_000_000_000);
        assert!(key_of_ms(1_717_000_000_001) > a + 4095);
        assert_eq!(key_of_ms(-5), 0);
        assert!(key_of_ms(i64::MAX) > 0, "clamped, no overflow");
    }
}
