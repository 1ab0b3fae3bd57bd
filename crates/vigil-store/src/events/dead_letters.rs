//! Dead letters: alerts (MQTT messages, webhook calls) that could not be delivered, with their exact
//! payload, kept for inspection and retry. At most `events.max_dead_letters` are kept; beyond that the
//! oldest are dropped with a warning.

use super::query::EventReader;
use crate::StoreError;
use crate::error::db_err;
use crate::store::Store;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use vigil_core::EventId;

/// Longest error text kept (bytes; longer ones are cut).
const MAX_ERROR: usize = 4096;
/// Largest payload accepted.
const MAX_PAYLOAD: usize = 1 << 20;

/// An undeliverable alert to keep.
#[derive(Debug, Clone, Copy)]
pub struct NewDeadLetter<'a> {
    /// Where it was going (e.g. `mqtt:vigil/events`, `webhook:https://...`).
    pub destination: &'a str,
    /// The event it was about, if any.
    pub event_id: Option<EventId>,
    /// The message as it was to be sent (JSON text).
    pub payload: &'a str,
    /// Delivery attempts made.
    pub attempts: u32,
    /// The last failure.
    pub last_error: &'a str,
    /// When the last attempt failed (unix ms).
    pub failed_ms: i64,
}

/// A stored dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// Row id (increasing: newer letters have larger ids).
    pub id: i64,
    /// Where it was going.
    pub destination: String,
    /// The event it was about.
    pub event_id: Option<EventId>,
    /// The JSON payload, byte for byte as given.
    pub payload: String,
    /// Delivery attempts made.
    pub attempts: u32,
    /// The last failure.
    pub last_error: String,
    /// When the last attempt failed (unix ms).
    pub failed_ms: i64,
}

/// Which dead letters to list: newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeadLetterQuery {
    /// Only this destination.
    pub destination: Option<String>,
    /// Only ids below this (the last id of the previous page).
    pub before_id: Option<i64>,
    /// Page size: 0 means 100; at most 1000.
    pub limit: usize,
}

fn bad(reason: String) -> StoreError {
    StoreError::BadQuery(format!("dead letter: {reason}"))
}

impl Store {
    /// Keeps an undeliverable alert. The payload must be JSON. Returns its id.
    pub fn add_dead_letter(&self, d: &NewDeadLetter<'_>) -> Result<i64, StoreError> {
        if d.destination.trim().is_empty() {
            return Err(bad("empty destination".into()));
        }
        if d.payload.len() > MAX_PAYLOAD {
            return Err(bad(format!(
                "payload of {} bytes is larger than {MAX_PAYLOAD}",
                d.payload.len()
            )));
        }
        if let Err(err) = serde_json::from_str::<serde::de::IgnoredAny>(d.payload) {
            return Err(bad(format!(
                "payload for {} is not JSON: {err}",
                d.destination
            )));
        }
        let mut error = d.last_error;
        if error.len() > MAX_ERROR {
            let mut cut = MAX_ERROR;
            while !error.is_char_boundary(cut) {
                cut -= 1;
            }
            error = &error[..cut];
        }
        let inner = self.inner();
        let e = db_err(&inner.db_path);
        let max = inner.config.events.max_dead_letters;
        let mut conn = inner.events_db();
        let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
        tx.prepare_cached(
            "INSERT INTO dead_letters (destination, event_id, payload, attempts, last_error, failed_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(&e)?
        .execute(params![
            d.destination,
            d.event_id.map(|i| i.to_string()),
            d.payload,
            d.attempts,
            error,
            d.failed_ms
        ])
        .map_err(&e)?;
        let id = tx.last_insert_rowid();
        let dropped = tx
            .prepare_cached(
                "DELETE FROM dead_letters WHERE id <= (SELECT id FROM dead_letters ORDER BY id DESC
                 LIMIT 1 OFFSET ?1)",
            )
            .map_err(&e)?
            .execute([max as i64])
            .map_err(&e)?;
        tx.commit().map_err(&e)?;
        if dropped > 0 {
            tracing::warn!(
                "more than {max} dead letters: dropped the oldest {dropped} undeliverable alert(s)"
            );
        }
        Ok(id)
    }

    /// Deletes a dead letter (delivered on retry, or dismissed). Returns false when there was none.
    pub fn delete_dead_letter(&self, id: i64) -> Result<bool, StoreError> {
        let inner = self.inner();
        let n = inner
            .db()
            .execute("DELETE FROM dead_letters WHERE id = ?1", [id])
            .map_err(db_err(&inner.db_path))?;
        Ok(n > 0)
    }
}

impl EventReader {
    /// Dead letters, newest first.
    pub fn dead_letters(&self, q: &DeadLetterQuery) -> Result<Vec<DeadLetter>, StoreError> {
        let limit = match q.limit {
            0 => 100,
            n if n > 1000 => return Err(bad(format!("limit {n} is more than 1000"))),
            n => n,
        };
        let e = db_err(self.db_path());
        let rows: Vec<(DeadLetter, Option<String>)> = self
            .conn()
            .prepare_cached(
                "SELECT id, destination, event_id, payload, attempts, last_error, failed_ms
                 FROM dead_letters WHERE id < ?1 AND (?2 IS NULL OR destination = ?2)
                 ORDER BY id DESC LIMIT ?3",
            )
            .map_err(&e)?
            .query_map(
                params![q.before_id.unwrap_or(i64::MAX), q.destination, limit as i64],
                |r| {
                    Ok((
                        DeadLetter {
                            id: r.get(0)?,
                            destination: r.get(1)?,
                            event_id: None,
                            payload: r.get(3)?,
                            attempts: r.get(4)?,
                            last_error: r.get(5)?,
                            failed_ms: r.get(6)?,
                        },
                        r.get(2)?,
                    ))
                },
            )
            .map_err(&e)?
            .collect::<Result<_, _>>()
            .map_err(&e)?;
        Ok(rows
            .into_iter()
            .map(|(mut d, event)| {
                d.event_id = event.and_then(|t| t.parse().ok());
                d
            })
            .collect())
    }
}
