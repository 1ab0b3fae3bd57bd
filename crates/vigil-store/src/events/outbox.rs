//! The site uplink's outbox: which event changes the hub has not acknowledged yet.
//!
//! Triggers on the `events` table queue the event id of every insert, update and delete in
//! `uplink_outbox`, in the same transaction as the change, while the uplink is on (see the schema). So
//! an event stored is an event queued: a crash, a lost link or a full hub never loses one. The uplink
//! (`vigil-uplink`) reads the outbox in sequence order with the events' current state, publishes, and
//! [`Store::outbox_ack`]s what JetStream acknowledged. The sequence number never repeats (AUTOINCREMENT),
//! so `<site>-<seq>` is a message id JetStream can deduplicate a resend by.
//!
//! The backlog is bounded by [`Store::outbox_trim`]: past the configured number of queued changes the
//! oldest are dropped and counted (each row is ~40 bytes; the events themselves are bounded by event
//! retention).

use super::StoredEvent;
use super::query::{COLUMNS, EventReader, decode, raw};
use crate::Store;
use crate::error::{StoreError, db_err};
use rusqlite::{OptionalExtension, params};

/// What happened to the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxOp {
    /// Inserted or updated: send its current state.
    Upsert,
    /// Deleted (retention, erasure): tell the hub to delete it too.
    Delete,
}

/// One queued change.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    /// Position in the outbox (increasing, never reused).
    pub seq: i64,
    /// The event's id (ULID text).
    pub event_id: String,
    /// What happened.
    pub op: OutboxOp,
    /// When it was queued (unix ms).
    pub queued_ms: i64,
    /// The event's current state, for an upsert whose row still exists.
    pub event: Option<StoredEvent>,
}

/// How much is waiting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxDepth {
    /// Changes queued.
    pub queued: u64,
    /// When the oldest was queued (unix ms), if any.
    pub oldest_ms: Option<i64>,
}

const META_KEY: &str = "uplink_outbox";

impl Store {
    /// Turns the outbox on (changes are queued from now on) or off (nothing is queued and what was
    /// queued is dropped: with no uplink configured nobody would drain it).
    pub fn set_uplink_outbox(&self, on: bool) -> Result<(), StoreError> {
        let mut db = self.inner().events_db();
        let e = db_err(&self.inner().db_path);
        let tx = crate::schema::write_tx(&mut db).map_err(&e)?;
        if on {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, 'on')
                 ON CONFLICT (key) DO UPDATE SET value = 'on'",
                [META_KEY],
            )
            .map_err(&e)?;
        } else {
            tx.execute("DELETE FROM meta WHERE key = ?1", [META_KEY])
                .map_err(&e)?;
            tx.execute("DELETE FROM uplink_outbox", []).map_err(&e)?;
        }
        tx.commit().map_err(&e)
    }

    /// Rung after every committed batch of event writes: a waiter learns there may be changes to
    /// send without polling (a ring with no waiter is kept for the next one).
    pub fn events_written(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.inner().events.written.clone()
    }

    /// Forgets every change up to and including `seq` (the hub acknowledged them). Returns how many.
    pub fn outbox_ack(&self, seq: i64) -> Result<usize, StoreError> {
        let db = self.inner().events_db();
        db.execute("DELETE FROM uplink_outbox WHERE seq <= ?1", [seq])
            .map_err(db_err(&self.inner().db_path))
    }

    /// Drops the oldest queued changes beyond `max` (the backlog bound). Returns how many were dropped.
    pub fn outbox_trim(&self, max: u64) -> Result<u64, StoreError> {
        let db = self.inner().events_db();
        let e = db_err(&self.inner().db_path);
        let cut: Option<i64> = db
            .query_row(
                "SELECT seq FROM uplink_outbox ORDER BY seq DESC LIMIT 1 OFFSET ?1",
                [max as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(&e)?;
        match cut {
            Some(seq) => Ok(db
                .execute("DELETE FROM uplink_outbox WHERE seq <= ?1", [seq])
                .map_err(&e)? as u64),
            None => Ok(0),
        }
    }
}

impl EventReader {
    /// Up to `limit` queued changes after `after_seq`, oldest first, each upsert with its event's current
    /// state (`None` when the row was deleted since: a delete follows in the outbox).
    pub fn outbox_batch(
        &self,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let e = self.e();
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT seq, event_id, op, queued_ms FROM uplink_outbox
                 WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )
            .map_err(&e)?;
        let rows = stmt
            .query_map(params![after_seq, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .map_err(&e)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&e)?;
        let mut get = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM events e JOIN cameras c ON c.id = e.camera_id
                 WHERE e.event_id = ?1"
            ))
            .map_err(&e)?;
        let mut out = Vec::with_capacity(rows.len());
        for (seq, event_id, op, queued_ms) in rows {
            let op = if op == "delete" {
                OutboxOp::Delete
            } else {
                OutboxOp::Upsert
            };
            let event = match op {
                OutboxOp::Delete => None,
                OutboxOp::Upsert => match get.query_row([&event_id], raw).optional().map_err(&e)? {
                    Some(r) => Some(decode(r)?),
                    None => None,
                },
            };
            out.push(OutboxItem {
                seq,
                event_id,
                op,
                queued_ms,
                event,
            });
        }
        Ok(out)
    }

    /// How many changes are queued and since when.
    pub fn outbox_depth(&self) -> Result<OutboxDepth, StoreError> {
        let e = self.e();
        self.conn()
            .query_row(
                "SELECT COUNT(*), MIN(queued_ms) FROM uplink_outbox",
                [],
                |r| {
                    Ok(OutboxDepth {
                        queued: r.get::<_, i64>(0)? as u64,
                        oldest_ms: r.get(1)?,
                    })
                },
            )
            .map_err(&e)
    }

    /// Every stored event, oldest first (by start), for `vigil events` and the uplink's resync.
    pub fn all_events(&self) -> Result<Vec<StoredEvent>, StoreError> {
        let e = self.e();
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM events e JOIN cameras c ON c.id = e.camera_id ORDER BY e.id"
            ))
            .map_err(&e)?;
        let rows = stmt
            .query_map([], raw)
            .map_err(&e)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&e)?;
        rows.into_iter().map(decode).collect()
    }
}
