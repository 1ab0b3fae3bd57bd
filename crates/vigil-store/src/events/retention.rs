//! Event retention: events, their snapshots and footage marks are deleted `retention_days` after the
//! event's last moment, never while an evidence hold covers the event's footage.

use super::snapshot::{SnapshotKind, discard, file_name};
use super::write::Timing;
use super::{COUNT_BUCKET_MS, key_of_ms, ms_of_key, now_ms};
use crate::StoreError;
use crate::alerts::lock;
use crate::error::db_err;
use crate::store::{Inner, Store};
use rusqlite::params;
use serde::Serialize;
use std::time::{Duration, Instant};
use vigil_core::EventId;

/// Events examined per transaction.
const BATCH: i64 = 500;
/// Event retention runs at most this often from the background retention thread.
const PERIOD: Duration = Duration::from_secs(60);

/// What one event retention pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EventRetentionReport {
    /// Events deleted (with their marks).
    pub deleted_events: usize,
    /// Snapshot files deleted.
    pub deleted_snapshot_files: usize,
    /// Events past their retention kept because an evidence hold covers them.
    pub held_events: usize,
    /// Footage marks of events dropped because their footage is already gone (the events stay).
    pub pruned_marks: usize,
    /// People's appearances deleted (as old as the events).
    pub deleted_appearances: usize,
    /// Object paths deleted (as old as the events).
    pub deleted_paths: usize,
}

/// An event to delete.
struct Victim {
    id: i64,
    camera_id: i64,
    kind: String,
    start_ms: i64,
    mark_id: Option<i64>,
    snapshot: Option<String>,
}

/// The columns [`Victim::from_row`] reads, in its order.
const VICTIM_COLUMNS: &str =
    "id, camera_id, kind, start_ms, COALESCE(end_ms, last_ms), mark_id, snapshot";

impl Victim {
    /// A row of `SELECT {VICTIM_COLUMNS}`: the event and when it ended (or was last seen).
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Victim, i64)> {
        Ok((
            Victim {
                id: r.get(0)?,
                camera_id: r.get(1)?,
                kind: r.get(2)?,
                start_ms: r.get(3)?,
                mark_id: r.get(5)?,
                snapshot: r.get(6)?,
            },
            r.get(4)?,
        ))
    }
}

/// An evidence hold: camera (`None` = all) and wall-clock range in 90 kHz.
struct Hold {
    camera_id: Option<i64>,
    start: i64,
    end: i64,
}

fn holds(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<Hold>> {
    conn.prepare_cached(
        "SELECT camera_id, start_90k, end_90k FROM marks INDEXED BY marks_holds
         WHERE keep_until_90k IS NULL",
    )?
    .query_map([], |r| {
        Ok(Hold {
            camera_id: r.get(0)?,
            start: r.get(1)?,
            end: r.get(2)?,
        })
    })?
    .collect()
}

fn is_held(holds: &[Hold], timing: &Timing, camera_id: i64, start_ms: i64, end_ms: i64) -> bool {
    let (start, end, _) = timing.mark(start_ms, end_ms);
    holds
        .iter()
        .any(|h| h.camera_id.is_none_or(|c| c == camera_id) && h.start < end && h.end > start)
}

impl Store {
    /// Deletes the `face_recognized` events naming `person`, with their snapshots, except those under an
    /// evidence hold (erasing a person's biometric data removes their matches too). Returns the events
    /// and the snapshot files deleted.
    pub fn erase_face_matches(&self, person: &str) -> Result<(usize, usize), StoreError> {
        self.inner().erase_face_matches(person)
    }

    /// Deletes the events (with their snapshots and footage marks) that ended more than
    /// `events.retention_days` ago and are not under an evidence hold. The background retention
    /// thread runs this about once a minute.
    pub fn run_event_retention(&self) -> Result<EventRetentionReport, StoreError> {
        self.inner().event_retention(now_ms())
    }

    /// Deletes one event now, with its snapshot files and footage mark. Returns false when there is
    /// no such event; refused while an evidence hold covers the event's footage.
    pub fn delete_event(&self, id: EventId) -> Result<bool, StoreError> {
        let inner = self.inner();
        let e = db_err(&inner.db_path);
        let timing = Timing::of(inner);
        let id_text = id.to_string();
        let victim = {
            let conn = inner.db();
            let row = conn
                .prepare_cached(&format!(
                    "SELECT {VICTIM_COLUMNS} FROM events WHERE event_id = ?1"
                ))
                .map_err(&e)?
                .query_row([&id_text], Victim::from_row);
            let (v, end_ms) = match row {
                Ok(x) => x,
                Err(rusqlite::Error::QueryReturnedNoRows) => return Ok(false),
                Err(err) => return Err(e(err)),
            };
            let holds = holds(&conn).map_err(&e)?;
            if is_held(&holds, &timing, v.camera_id, v.start_ms, end_ms) {
                return Err(StoreError::EventHeld { id: id_text });
            }
            v
        };
        inner.delete_events(&[victim])?;
        Ok(true)
    }
}

impl Inner {
    /// Deletes the events of `camera_id` that overlap `[from_ms, to_ms)`, with their snapshots and
    /// footage marks (an erasure request), except those under an evidence hold. Returns the events
    /// deleted and the snapshot files deleted.
    pub(crate) fn erase_events(
        &self,
        camera_id: i64,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<(usize, usize), StoreError> {
        let e = db_err(&self.db_path);
        let victims = self.unheld_victims(
            "camera_id = ?1 AND start_ms < ?3 AND COALESCE(end_ms, last_ms) >= ?2",
            params![camera_id, from_ms, to_ms],
        )?;
        let files = self.delete_events(&victims)?;
        // The people's appearances there go too (they are how a person is found again).
        self.events_db()
            .prepare_cached(
                "DELETE FROM appearances WHERE camera_id = ?1 AND first_ms < ?3 AND last_ms >= ?2",
            )
            .and_then(|mut st| st.execute(params![camera_id, from_ms, to_ms]))
            .map_err(&e)?;
        self.events_db()
            .prepare_cached(
                "DELETE FROM track_paths WHERE camera_id = ?1 AND first_ms < ?3 AND last_ms >= ?2",
            )
            .and_then(|mut st| st.execute(params![camera_id, from_ms, to_ms]))
            .map_err(&e)?;
        Ok((victims.len(), files))
    }

    /// The events matching `filter` (an SQL condition on `events` with its `params`) that no evidence
    /// hold covers.
    fn unheld_victims(
        &self,
        filter: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Victim>, StoreError> {
        let e = db_err(&self.db_path);
        let timing = Timing::of(self);
        let conn = self.db();
        let holds = holds(&conn).map_err(&e)?;
        let mut q = conn
            .prepare(&format!(
                "SELECT {VICTIM_COLUMNS} FROM events WHERE {filter}"
            ))
            .map_err(&e)?;
        let rows = q
            .query_map(params, Victim::from_row)
            .map_err(&e)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&e)?;
        Ok(rows
            .into_iter()
            .filter(|(v, end)| !is_held(&holds, &timing, v.camera_id, v.start_ms, *end))
            .map(|(v, _)| v)
            .collect())
    }

    /// Deletes the `face_recognized` events naming `person`, with their snapshots (erasing a person's
    /// biometric data removes their matches too), except those under an evidence hold. Returns the events
    /// deleted and the snapshot files deleted.
    pub(crate) fn erase_face_matches(&self, person: &str) -> Result<(usize, usize), StoreError> {
        let victims = self.unheld_victims(
            "kind = 'face_recognized' AND json_extract(facts, '$.person') = ?1",
            [person],
        )?;
        let files = self.delete_events(&victims)?;
        Ok((victims.len(), files))
    }

    /// The background thread's call: event retention when a minute has passed since the last pass.
    pub(crate) fn event_retention_if_due(&self) -> Result<usize, StoreError> {
        {
            let mut last = lock(&self.events.last_retention);
            if last.is_some_and(|t| t.elapsed() < PERIOD) {
                return Ok(0);
            }
            *last = Some(Instant::now());
        }
        Ok(self.event_retention(now_ms())?.deleted_events)
    }

    /// One event retention pass as of `now` (unix ms).
    pub(crate) fn event_retention(&self, now: i64) -> Result<EventRetentionReport, StoreError> {
        let e = db_err(&self.db_path);
        let timing = Timing::of(self);
        let cutoff = now - timing.retention_ms;
        let mut report = EventRetentionReport::default();
        // Only events that started before the cutoff can have ended before it.
        let cutoff_key = key_of_ms(cutoff);
        let mut after = -1i64;
        loop {
            let (victims, scanned_to, held) = {
                let conn = self.db();
                let holds = holds(&conn).map_err(&e)?;
                let rows: Vec<(Victim, i64)> = conn
                    .prepare_cached(&format!(
                        "SELECT {VICTIM_COLUMNS} FROM events
                         WHERE id > ?1 AND id < ?2 ORDER BY id LIMIT ?3"
                    ))
                    .map_err(&e)?
                    .query_map(params![after, cutoff_key, BATCH], Victim::from_row)
                    .map_err(&e)?
                    .collect::<Result<_, _>>()
                    .map_err(&e)?;
                let scanned_to = rows.last().map(|(v, _)| v.id);
                let mut held = 0;
                let victims: Vec<Victim> = rows
                    .into_iter()
                    .filter(|(_, end_ms)| *end_ms < cutoff)
                    .filter(|(v, end_ms)| {
                        let h = is_held(&holds, &timing, v.camera_id, v.start_ms, *end_ms);
                        held += usize::from(h);
                        !h
                    })
                    .map(|(v, _)| v)
                    .collect();
                (victims, scanned_to, held)
            };
            report.held_events += held;
            let Some(scanned_to) = scanned_to else { break };
            after = scanned_to;
            if !victims.is_empty() {
                report.deleted_snapshot_files += self.delete_events(&victims)?;
                report.deleted_events += victims.len();
            }
        }
        report.pruned_marks = self.prune_event_marks()?;
        report.deleted_appearances = self
            .events_db()
            .prepare_cached("DELETE FROM appearances WHERE last_ms < ?1")
            .and_then(|mut st| st.execute([cutoff]))
            .map_err(&e)?;
        report.deleted_paths = self
            .events_db()
            .prepare_cached("DELETE FROM track_paths WHERE last_ms < ?1")
            .and_then(|mut st| st.execute([cutoff]))
            .map_err(&e)?;
        if report.deleted_events > 0 {
            tracing::info!(
                "event retention: deleted {} event(s) and {} snapshot file(s); {} kept under holds",
                report.deleted_events,
                report.deleted_snapshot_files,
                report.held_events
            );
        }
        Ok(report)
    }

    /// Drops the footage marks of events whose footage is gone: marks that end before the oldest
    /// recording of their camera protect nothing, and the recording retention reads every mark that
    /// starts before the footage it is deleting. Cameras with no recording keep their marks (their
    /// first segment may still be being written).
    fn prune_event_marks(&self) -> Result<usize, StoreError> {
        let e = db_err(&self.db_path);
        let conn = self.db();
        let oldest: Vec<(i64, Option<i64>)> = conn
            .prepare_cached(
                "SELECT st.camera_id, (SELECT MIN(s.start_90k) FROM segments s WHERE s.stream_id = st.id)
                 FROM streams st",
            )
            .map_err(&e)?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(&e)?
            .collect::<Result<_, _>>()
            .map_err(&e)?;
        let mut per_camera: std::collections::HashMap<i64, i64> = Default::default();
        for (camera, start) in oldest {
            if let Some(t) = start {
                let v = per_camera.entry(camera).or_insert(t);
                *v = (*v).min(t);
            }
        }
        let mut pruned = 0;
        let mut stmt = conn
            .prepare_cached(
                "DELETE FROM marks WHERE start_90k < ?2 AND end_90k <= ?2 AND camera_id = ?1
                 AND kind = 'event'",
            )
            .map_err(&e)?;
        for (camera, start) in per_camera {
            pruned += stmt.execute(params![camera, start]).map_err(&e)?;
        }
        Ok(pruned)
    }

    /// Deletes events with their search entries, counts and marks in one transaction, then their
    /// snapshot files (through the garbage table). Returns the snapshot files named.
    fn delete_events(&self, victims: &[Victim]) -> Result<usize, StoreError> {
        let e = db_err(&self.db_path);
        let mut files = Vec::new();
        {
            let mut conn = self.db();
            let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
            for v in victims {
                let n = tx
                    .prepare_cached("DELETE FROM events WHERE id = ?1")
                    .map_err(&e)?
                    .execute([v.id])
                    .map_err(&e)?;
                if n == 0 {
                    continue;
                }
                tx.prepare_cached("DELETE FROM events_fts WHERE rowid = ?1")
                    .map_err(&e)?
                    .execute([v.id])
                    .map_err(&e)?;
                let count_key = params![
                    ms_of_key(v.id).div_euclid(COUNT_BUCKET_MS),
                    v.camera_id,
                    v.kind
                ];
                tx.prepare_cached(
                    "UPDATE event_counts SET count = count - 1
                     WHERE bucket = ?1 AND camera_id = ?2 AND kind = ?3",
                )
                .map_err(&e)?
                .execute(count_key)
                .map_err(&e)?;
                tx.prepare_cached(
                    "DELETE FROM event_counts
                     WHERE bucket = ?1 AND camera_id = ?2 AND kind = ?3 AND count <= 0",
                )
                .map_err(&e)?
                .execute(count_key)
                .map_err(&e)?;
                if let Some(m) = v.mark_id {
                    tx.prepare_cached("DELETE FROM marks WHERE id = ?1 AND kind = 'event'")
                        .map_err(&e)?
                        .execute([m])
                        .map_err(&e)?;
                }
                if let Some(base) = &v.snapshot {
                    for k in [SnapshotKind::Full, SnapshotKind::Crop] {
                        let f = file_name(base, k);
                        tx.prepare_cached(
                            "INSERT OR IGNORE INTO event_snapshot_garbage (file) VALUES (?1)",
                        )
                        .map_err(&e)?
                        .execute([&f])
                        .map_err(&e)?;
                        files.push(f);
                    }
                }
            }
            tx.commit().map_err(&e)?;
        }
        if !files.is_empty() {
            let root = super::snapshot_root(&self.config);
            let existing = files.iter().filter(|f| root.join(f).exists()).count();
            discard(self, &root, &files);
            return Ok(existing);
        }
        Ok(0)
    }
}
