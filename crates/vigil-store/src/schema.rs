//! The SQLite index: connection settings and schema migrations (tracked in `PRAGMA user_version`).
//!
//! Settings: WAL journal (readers such as exports never block the recorder) and `synchronous=FULL`:
//! a commit happens about once per segment per stream (one a minute each) plus retention batches, so
//! the extra WAL fsync per commit costs nothing measurable, and it makes every committed segment row and
//! garbage row survive power loss. That keeps the crash-safety argument simple: a row exists only for a
//! file already fsynced, and a deletion is recorded before the unlink. Invariants R1 and R7 of
//! docs/design/recording.md.

use crate::StoreError;
use crate::error::db_err;
use rusqlite::Connection;
use std::path::Path;

/// Schema migrations, applied in order; entry `i` moves `user_version` from `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- Storage directories. The path may change (remounts); the name and uuid identify it.
CREATE TABLE storage_dirs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    uuid TEXT NOT NULL
);
CREATE TABLE cameras (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE streams (
    id INTEGER PRIMARY KEY,
    camera_id INTEGER NOT NULL REFERENCES cameras(id),
    name TEXT NOT NULL,
    UNIQUE (camera_id, name)
);
-- Codec parameters: the complete MP4 sample entry box, shared by all segments that use it.
CREATE TABLE sample_entries (
    id INTEGER PRIMARY KEY,
    codec TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    rfc6381_codec TEXT NOT NULL,
    data BLOB NOT NULL UNIQUE
);
-- One row per segment file. Times are wall clock in 90 kHz units since the Unix epoch.
CREATE TABLE segments (
    id INTEGER PRIMARY KEY,
    stream_id INTEGER NOT NULL REFERENCES streams(id),
    dir_id INTEGER NOT NULL REFERENCES storage_dirs(id),
    seq INTEGER NOT NULL,
    file_name TEXT NOT NULL,
    start_90k INTEGER NOT NULL,
    -- wall-clock duration (media duration slewed toward the local clock)
    duration_90k INTEGER NOT NULL,
    -- sum of the frame durations (camera clock)
    media_duration_90k INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    frames INTEGER NOT NULL,
    key_frames INTEGER NOT NULL,
    sample_entry_id INTEGER NOT NULL REFERENCES sample_entries(id),
    -- CRC-32 (IEEE) of the whole file
    checksum INTEGER NOT NULL,
    -- 1 when this segment does not continue the previous one (first after start, gap or clock resync)
    run_start INTEGER NOT NULL,
    -- 1 when indexed by start-up recovery from a file the recorder did not finish
    recovered INTEGER NOT NULL DEFAULT 0,
    -- non-NULL: why the file does not match this row; such segments are not served
    damaged TEXT,
    UNIQUE (dir_id, file_name),
    UNIQUE (stream_id, seq)
);
CREATE INDEX segments_stream_time ON segments (stream_id, start_90k);
CREATE INDEX segments_dir_time ON segments (dir_id, start_90k);
-- The frame table of each segment (compact blob, see frame_index.rs); kept apart so that scans of
-- `segments` stay small.
CREATE TABLE segment_frames (
    segment_id INTEGER PRIMARY KEY REFERENCES segments(id) ON DELETE CASCADE,
    frame_index BLOB NOT NULL
);
-- Files whose rows are gone but which may still exist: unlinked, then the row is dropped.
CREATE TABLE garbage (
    dir_id INTEGER NOT NULL REFERENCES storage_dirs(id),
    file_name TEXT NOT NULL,
    PRIMARY KEY (dir_id, file_name)
);
-- Time ranges to keep: `keep_until_90k` NULL = an evidence hold (never deleted by retention);
-- otherwise footage is kept in preference to unmarked footage until that time.
-- `camera_id` NULL = every camera.
CREATE TABLE marks (
    id INTEGER PRIMARY KEY,
    camera_id INTEGER REFERENCES cameras(id),
    start_90k INTEGER NOT NULL,
    end_90k INTEGER NOT NULL,
    kind TEXT NOT NULL,
    keep_until_90k INTEGER,
    note TEXT NOT NULL DEFAULT '',
    created_90k INTEGER NOT NULL
);
CREATE INDEX marks_time ON marks (start_90k);
"#,
    r#"
-- Events (see events/mod.rs): one row per event lifecycle, upserted by the event id on every Start /
-- Update / End message. `id` is the sort key, not an arbitrary rowid: (unix ms of the start first
-- reported << 12) | n, n making it unique. Newest-first order, keyset pagination and time filters are
-- therefore rowid ranges, and every secondary index below is ordered by time within its key (SQLite
-- appends the rowid to each index entry).
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    -- the event's ULID text (26 Crockford base-32 characters)
    event_id TEXT NOT NULL UNIQUE,
    camera_id INTEGER NOT NULL REFERENCES cameras(id),
    rule TEXT NOT NULL,
    -- line_crossing, intrusion, loitering, crowding, queue
    kind TEXT NOT NULL,
    -- main object class
    class TEXT NOT NULL,
    zone TEXT,
    line TEXT,
    -- JSON: the kind with its facts (serde form of vigil_core::EventKind)
    facts TEXT NOT NULL,
    -- JSON: [{class_name, class_id, count}]
    objects TEXT NOT NULL,
    -- JSON: [track id, ...]
    track_ids TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    start_media_90k INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    last_media_90k INTEGER NOT NULL,
    end_ms INTEGER,
    end_media_90k INTEGER,
    -- start, update, end (of the last message applied)
    phase TEXT NOT NULL,
    -- 1 until the End message (or until closed as interrupted)
    open INTEGER NOT NULL,
    -- 1 when the process stopped before the event's End message came
    interrupted INTEGER NOT NULL DEFAULT 0,
    best_score REAL,
    best_track INTEGER,
    best_x1 REAL,
    best_y1 REAL,
    best_x2 REAL,
    best_y2 REAL,
    best_frame_w INTEGER,
    best_frame_h INTEGER,
    best_ms INTEGER,
    best_media_90k INTEGER,
    description TEXT NOT NULL,
    -- the keep-longer mark protecting the event's footage (marks.id; no foreign key, so that deleting
    -- marks never has to search this table)
    mark_id INTEGER,
    -- snapshot files: '<day>/<event id>-<n>', then '-full.jpg' and '-crop.jpg' (relative to the
    -- snapshot directory); lengths and CRC-32s to detect damage
    snapshot TEXT,
    snapshot_full_bytes INTEGER,
    snapshot_full_crc INTEGER,
    snapshot_crop_bytes INTEGER,
    snapshot_crop_crc INTEGER,
    snapshot_ms INTEGER,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX events_camera ON events (camera_id);
CREATE INDEX events_camera_kind ON events (camera_id, kind);
CREATE INDEX events_kind ON events (kind);
CREATE INDEX events_class ON events (class);
CREATE INDEX events_rule ON events (rule);
CREATE INDEX events_place ON events (COALESCE(zone, line));
CREATE INDEX events_open ON events (open) WHERE open = 1;
-- Full-text search over what happened: contentless (the text lives in `events`), rowid = events.id.
CREATE VIRTUAL TABLE events_fts USING fts5 (
    camera, rule, kind, class, place, description,
    content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
);
-- Events per 15 minutes (of the start's bucket in `id`), camera and kind, for timelines.
CREATE TABLE event_counts (
    bucket INTEGER NOT NULL,
    camera_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (bucket, camera_id, kind)
) WITHOUT ROWID;
-- Snapshot files that may exist without a row referencing them (being written, replaced or deleted):
-- unlinked, then the row is dropped. Paths are relative to the snapshot directory.
CREATE TABLE event_snapshot_garbage (
    file TEXT PRIMARY KEY
);
-- Alerts that could not be delivered (MQTT, webhooks), kept for inspection and retry.
CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY,
    destination TEXT NOT NULL,
    event_id TEXT,
    -- JSON text exactly as it was to be sent
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    failed_ms INTEGER NOT NULL
);
CREATE INDEX dead_letters_destination ON dead_letters (destination);
-- Evidence holds among the many event marks, for event retention.
CREATE INDEX marks_holds ON marks (start_90k) WHERE keep_until_90k IS NULL;
"#,
    r#"
-- B-frames: a segment's frame table (segment_frames.frame_index) may be version 2 from here on, with each
-- frame's composition offset (presentation minus decode time). Rows written before hold version-1
-- tables, which mean offsets of 0, exactly what their frames had; this flag says which segments have any.
ALTER TABLE segments ADD COLUMN reordered INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
-- Recording integrity (docs/design/recording.md R15, integrity/mod.rs): each segment's SHA-256, its link
-- in its stream's hash chain and the sequence number of the link before it. Rows written before hold
-- NULLs: they are reported as recorded before integrity, not as faults.
ALTER TABLE segments ADD COLUMN sha256 BLOB;
ALTER TABLE segments ADD COLUMN chain BLOB;
ALTER TABLE segments ADD COLUMN prev_seq INTEGER;
-- Segments deleted on purpose (retention, start-up reconciliation), so that the chain stays checkable
-- across them.
CREATE TABLE removed_segments (
    stream_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    chain BLOB NOT NULL,
    removed_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (stream_id, seq)
);
-- Chain heads signed with the site's Ed25519 key.
CREATE TABLE chain_heads (
    id INTEGER PRIMARY KEY,
    stream_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    chain BLOB NOT NULL,
    signed_ms INTEGER NOT NULL,
    key_id TEXT NOT NULL,
    signature BLOB NOT NULL
);
CREATE INDEX chain_heads_stream ON chain_heads (stream_id, seq);
"#,
    r#"
-- Encryption at rest (crypt.rs): each encrypted segment's data key, sealed under the master key
-- (AES-256-GCM, bound to its stream and number). Written before the segment's first byte, so that
-- start-up recovery can read what a crash left; deleted with the segment; rewrapped by
-- `vigil keys rotate`. A segment without a row here is not encrypted.
CREATE TABLE segment_keys (
    stream_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    key_id BLOB NOT NULL,
    master_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (stream_id, seq)
);
CREATE INDEX segment_keys_master ON segment_keys (master_id);
"#,
    r#"
CREATE TABLE retention_limits (
    class TEXT PRIMARY KEY,
    max_days INTEGER NOT NULL,
    set_by TEXT NOT NULL,
    set_ms INTEGER NOT NULL
);
"#,
    r#"
-- Segments rewritten in place on purpose (blur.rs, `vigil erase --blur`: faces and plates blurred on an
-- erasure request), with the reason and the file's hash before and after, so that `vigil verify
-- recordings` reports them as such (recording.md R20). Dropped with the segment.
CREATE TABLE rewritten_segments (
    id INTEGER PRIMARY KEY,
    stream_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    -- what was done: 'blur'
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    old_sha256 BLOB,
    new_sha256 BLOB NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX rewritten_segments_stream ON rewritten_segments (stream_id, seq);
"#,
    r#"
-- People's appearances (vigil-pipeline relink.rs): one row per person track the analysis followed, with
-- its mean appearance embedding (re-identification: 256 little-endian f32, unit length), for "where else
-- was this person?" (events/appearances.rs). Deleted with the events: by event retention and erasure.
CREATE TABLE appearances (
    id INTEGER PRIMARY KEY,
    camera_id INTEGER NOT NULL,
    track INTEGER NOT NULL,
    first_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX appearances_time ON appearances (first_ms);
CREATE INDEX appearances_camera ON appearances (camera_id, track, first_ms);
"#,
    r#"
-- Object paths (vigil-pipeline paths.rs): where each tracked object went across the picture, sampled,
-- for the lifecycle view (events/paths.rs). `points` is JSON: [[ms, x, y], ...] with x, y normalised.
-- Deleted with the events: by event retention and erasure.
CREATE TABLE track_paths (
    id INTEGER PRIMARY KEY,
    camera_id INTEGER NOT NULL,
    track INTEGER NOT NULL,
    class TEXT NOT NULL,
    first_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    points TEXT NOT NULL
);
CREATE INDEX track_paths_time ON track_paths (last_ms);
CREATE INDEX track_paths_camera ON track_paths (camera_id, track, first_ms);
"#,
    r#"
-- Attributes (vigil_core::Attributes as JSON: colours, size, speed, direction, zones visited; NULL when
-- nothing is known) of an event's main object and of each stored track, for search and summaries.
ALTER TABLE events ADD COLUMN attributes TEXT;
ALTER TABLE track_paths ADD COLUMN attributes TEXT;
"#,
    r#"
-- Review state (events/review.rs): which events each user has reviewed, and the false/true alarm
-- verdicts given on them. `event` is events.id; `user_id` is the user's id in the server's security
-- database (no foreign key across databases). Both go with their event, whatever deletes it
-- (retention, erasure, a face erasure): the trigger below, so no mark outlives its event.
CREATE TABLE review_marks (
    event INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    marked_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, event)
) WITHOUT ROWID;
CREATE INDEX review_marks_event ON review_marks (event);
CREATE TABLE event_feedback (
    event INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    username TEXT NOT NULL,
    -- false_alarm, true_alarm
    verdict TEXT NOT NULL,
    note TEXT NOT NULL,
    given_ms INTEGER NOT NULL,
    PRIMARY KEY (event, user_id)
) WITHOUT ROWID;
CREATE TRIGGER events_review_gone AFTER DELETE ON events BEGIN
    DELETE FROM review_marks WHERE event = old.id;
    DELETE FROM event_feedback WHERE event = old.id;
END;
"#,
    r#"
-- The site uplink's outbox (events/outbox.rs): every change of an event row (insert, update, delete)
-- queues its event id here, in the same transaction as the change, while the uplink is on
-- (meta 'uplink_outbox' = 'on'). The uplink drains it in `seq` order with JetStream acknowledgements
-- and deletes what the hub acknowledged, so no change is lost and the order per camera is kept.
-- AUTOINCREMENT: a sequence number is never reused, so `<site>-<seq>` is a safe message id.
CREATE TABLE uplink_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    -- upsert, delete
    op TEXT NOT NULL,
    queued_ms INTEGER NOT NULL
);
CREATE TRIGGER uplink_event_inserted AFTER INSERT ON events
WHEN (SELECT value FROM meta WHERE key = 'uplink_outbox') = 'on' BEGIN
    INSERT INTO uplink_outbox (event_id, op, queued_ms)
    VALUES (new.event_id, 'upsert', CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
CREATE TRIGGER uplink_event_updated AFTER UPDATE ON events
WHEN (SELECT value FROM meta WHERE key = 'uplink_outbox') = 'on' BEGIN
    INSERT INTO uplink_outbox (event_id, op, queued_ms)
    VALUES (new.event_id, 'upsert', CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
CREATE TRIGGER uplink_event_deleted AFTER DELETE ON events
WHEN (SELECT value FROM meta WHERE key = 'uplink_outbox') = 'on' BEGIN
    INSERT INTO uplink_outbox (event_id, op, queued_ms)
    VALUES (old.event_id, 'delete', CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
"#,
    r#"
-- Activity baselines (baselines.rs): per camera, measure (`count:person@Loading dock`, `dwell@Till 1`,
-- `flow:3@` for the whole view) and hour-of-week slot (0 = Monday 00:00 in the camera's time zone), the
-- weighted mean and variance `vigil run` learned, over how many samples and weeks.
CREATE TABLE activity_baselines (
    camera TEXT NOT NULL,
    key TEXT NOT NULL,
    slot INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    weeks INTEGER NOT NULL,
    mean REAL NOT NULL,
    var REAL NOT NULL,
    last_ms INTEGER NOT NULL,
    PRIMARY KEY (camera, key, slot)
) WITHOUT ROWID;
"#,
];

/// Opens the index read-write, applies pending migrations and the connection settings.
pub(crate) fn open_rw(path: &Path) -> Result<Connection, StoreError> {
    let e = db_err(path);
    let mut conn = Connection::open(path).map_err(&e)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(&e)?;
    conn.pragma_update(None, "journal_mode", "wal")
        .map_err(&e)?;
    conn.pragma_update(None, "synchronous", "full")
        .map_err(&e)?;
    conn.pragma_update(None, "foreign_keys", true).map_err(&e)?;
    migrate(&mut conn).map_err(&e)?;
    // the event store alone keeps a dozen statements in use
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Begins a write transaction on the index. The index has two writing connections (segment commits and
/// the event writer): a transaction that began by reading, as SQLite's default `BEGIN DEFERRED` does,
/// gets `SQLITE_BUSY` at once, without waiting, when the other connection commits before it writes, and
/// its rows would be lost. `BEGIN IMMEDIATE` takes the write lock first, waiting up to the busy timeout.
pub(crate) fn write_tx(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// The oldest schema version read-only access can read: migrations after it only add what readers can
/// do without (see [`has_reordered_column`]), so `vigil export` works on an index the new recorder has
/// not migrated yet.
const MIN_READABLE_VERSION: usize = 2;

/// True when the index has `segments.reordered` (migration 3); older indexes have no B-frame segments.
pub(crate) fn has_reordered_column(conn: &Connection) -> rusqlite::Result<bool> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    Ok(version >= 3)
}

/// True when the index has `segment_keys` (migration 5): segments may be encrypted.
pub(crate) fn has_segment_keys(conn: &Connection) -> rusqlite::Result<bool> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    Ok(version >= 5)
}

/// True when the index has `rewritten_segments` (migration 7).
pub(crate) fn has_rewritten_segments(conn: &Connection) -> rusqlite::Result<bool> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    Ok(version >= 7)
}

/// True when the index has the integrity columns and tables (migration 4).
pub(crate) fn has_integrity(conn: &Connection) -> rusqlite::Result<bool> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    Ok(version >= 4)
}

/// Opens the index read-only (exports, status tools); fails if it does not exist, is too new, or too old
/// to read (before [`MIN_READABLE_VERSION`]).
pub(crate) fn open_ro(path: &Path) -> Result<Connection, StoreError> {
    let e = db_err(path);
    if !path.exists() {
        return Err(StoreError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "index database not found"),
        });
    }
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(&e)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(&e)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(&e)?;
    let readable = MIN_READABLE_VERSION as i64..=MIGRATIONS.len() as i64;
    if !readable.contains(&version) {
        return Err(StoreError::Config(format!(
            "{}: index schema version {version}, this Vigil reads version {}{}",
            path.display(),
            MIGRATIONS.len(),
            if version == 0 {
                " (not a Vigil index, or never opened by the recorder)"
            } else {
                ""
            }
        )));
    }
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "schema version {version} is newer than this Vigil ({})",
                MIGRATIONS.len()
            )),
        ));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::Time90k;

    #[test]
    fn migrates_once_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index.db");
        drop(open_rw(&p).unwrap());
        let c = open_rw(&p).unwrap();
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
        let mode: String = c
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(c);
        open_ro(&p).unwrap();
    }

    #[test]
    fn an_index_from_before_b_frames_migrates_and_keeps_its_rows() {
        // A store as the previous release left it: schema version 2 with a segment and its version-1
        // frame table.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index.db");
        let blob = crate::frame_index::FrameIndex {
            frames: vec![crate::frame_index::FrameEntry {
                duration: 3600,
                size: 100,
                is_key: true,
                composition_offset: 0,
            }],
            fragments: vec![crate::frame_index::FragmentEntry {
                data_offset: 900,
                frames: 1,
            }],
        }
        .encode();
        {
            let mut c = Connection::open(&p).unwrap();
            for (i, sql) in MIGRATIONS[..2].iter().enumerate() {
                let tx = c.transaction().unwrap();
                tx.execute_batch(sql).unwrap();
                tx.pragma_update(None, "user_version", (i + 1) as i64)
                    .unwrap();
                tx.commit().unwrap();
            }
            c.execute_batch(
                "INSERT INTO storage_dirs VALUES (1, 'main', '/rec', 'u');
                 INSERT INTO cameras VALUES (1, 'gate');
                 INSERT INTO streams VALUES (1, 1, 'main');
                 INSERT INTO sample_entries VALUES (1, 'avc1', 320, 240, 'avc1.42c01e', x'00');
                 INSERT INTO segments (id, stream_id, dir_id, seq, file_name, start_90k, duration_90k,
                     media_duration_90k, bytes, frames, key_frames, sample_entry_id, checksum, run_start)
                 VALUES (1, 1, 1, 1, '1-00000001.mp4', 0, 3600, 3600, 1000, 1, 1, 1, 0, 1);",
            )
            .unwrap();
            c.execute(
                "INSERT INTO segment_frames VALUES (1, ?1)",
                rusqlite::params![blob],
            )
            .unwrap();
        }
        // Read-only access (`vigil export`) reads it before any recorder migrated it.
        let ro = open_ro(&p).unwrap();
        assert!(!has_reordered_column(&ro).unwrap());
        drop(ro);
        let reader = crate::Reader::open(&p).unwrap();
        let segs = reader
            .segments("gate", "main", Time90k(0), Time90k(90_000))
            .unwrap();
        assert_eq!(segs.len(), 1);
        assert!(!segs[0].reordered);
        drop(reader);
        let c = open_rw(&p).unwrap();
        assert!(has_reordered_column(&c).unwrap());
        let (reordered, table): (bool, Vec<u8>) = c
            .query_row(
                "SELECT s.reordered, f.frame_index FROM segments s JOIN segment_frames f
                 ON f.segment_id = s.id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(!reordered);
        assert_eq!(table, blob);
        let idx = crate::frame_index::FrameIndex::decode(&table).unwrap();
        assert_eq!(idx.frames[0].composition_offset, 0);
        drop(c);
        open_ro(&p).unwrap();
    }

    #[test]
    fn newer_or_foreign_databases_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index.db");
        {
            let c = Connection::open(&p).unwrap();
            c.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = open_rw(&p).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
        let err = open_ro(&p).unwrap_err();
        assert!(err.to_string().contains("index.db"), "{err}");
        let err = open_ro(&dir.path().join("missing.db")).unwrap_err();
        assert!(err.to_string().contains("missing.db"), "{err}");
        std::fs::write(
            dir.path().join("junk.db"),
            b"not a database at all, just text",
        )
        .unwrap();
        let err = open_rw(&dir.path().join("junk.db")).unwrap_err();
        assert!(err.to_string().contains("junk.db"), "{err}");
    }
}
