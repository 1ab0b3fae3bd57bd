//! Retention maximums per class, set by the privacy auditor (`POST /api/retention`), that no configuration
//! can exceed: continuous recordings, event footage and event records, evidence holds.
//!
//! Kept in the index (`retention_limits`, migration 6) and mirrored in the store's state. Each retention
//! pass applies them: a camera's recordings are deleted after the smaller of its `max_days` and the
//! continuous maximum (a camera without `max_days` gets the maximum); events and the footage kept for them
//! go after the smaller of `[storage.events] retention_days` and the event maximum; an evidence hold older
//! than the hold maximum is released (logged as `hold expired`).

use crate::alerts::lock;
use crate::error::db_err;
use crate::store::Inner;
use crate::{Store, StoreError};
use rusqlite::params;
use serde::{Deserialize, Serialize};

/// The maximums (days; `None`: no maximum).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionLimits {
    /// Continuous recordings.
    #[serde(default)]
    pub continuous_days: Option<u32>,
    /// Events, their snapshots and the footage kept around them.
    #[serde(default)]
    pub event_days: Option<u32>,
    /// Evidence holds.
    #[serde(default)]
    pub hold_days: Option<u32>,
}

const CLASSES: [&str; 3] = ["continuous", "event", "hold"];
/// 90 kHz ticks in a day.
const DAY_90K: i64 = 86_400 * 90_000;

impl RetentionLimits {
    fn get(&self, class: &str) -> Option<u32> {
        match class {
            "continuous" => self.continuous_days,
            "event" => self.event_days,
            _ => self.hold_days,
        }
    }

    fn set(&mut self, class: &str, days: Option<u32>) {
        match class {
            "continuous" => self.continuous_days = days,
            "event" => self.event_days = days,
            _ => self.hold_days = days,
        }
    }

    /// The smaller of a configured age (90 kHz ticks) and the continuous maximum.
    pub(crate) fn cap_age(&self, configured: Option<i64>) -> Option<i64> {
        let max = self.continuous_days.map(|d| i64::from(d) * DAY_90K);
        match (configured, max) {
            (Some(c), Some(m)) => Some(c.min(m)),
            (c, m) => c.or(m),
        }
    }

    /// The event maximum in 90 kHz ticks.
    pub(crate) fn event_age(&self) -> Option<i64> {
        self.event_days.map(|d| i64::from(d) * DAY_90K)
    }
}

pub(crate) fn load(conn: &rusqlite::Connection) -> rusqlite::Result<RetentionLimits> {
    let mut limits = RetentionLimits::default();
    let mut q = conn.prepare("SELECT class, max_days FROM retention_limits")?;
    for row in q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (class, days) = row?;
        limits.set(&class, u32::try_from(days).ok());
    }
    Ok(limits)
}

impl Store {
    /// The maximums in force.
    pub fn retention_limits(&self) -> RetentionLimits {
        lock(&self.inner().state).limits
    }

    /// Sets the maximums (`by` names who, for the record) and wakes retention to apply them. A maximum of
    /// 0 days is refused.
    pub fn set_retention_limits(
        &self,
        limits: &RetentionLimits,
        by: &str,
    ) -> Result<(), StoreError> {
        if CLASSES.iter().any(|c| limits.get(c) == Some(0)) {
            return Err(StoreError::Config(
                "a retention maximum is at least 1 day".into(),
            ));
        }
        let inner = self.inner();
        let e = db_err(&inner.db_path);
        {
            let mut conn = inner.db();
            let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
            for class in CLASSES {
                match limits.get(class) {
                    None => tx
                        .execute("DELETE FROM retention_limits WHERE class = ?1", [class])
                        .map_err(&e)?,
                    Some(days) => tx
                        .execute(
                            "INSERT OR REPLACE INTO retention_limits (class, max_days, set_by, set_ms)
                             VALUES (?1, ?2, ?3, ?4)",
                            params![class, days, by, vigil_core::time::now_unix_ms()],
                        )
                        .map_err(&e)?,
                };
            }
            tx.commit().map_err(&e)?;
        }
        lock(&inner.state).limits = *limits;
        tracing::info!(?limits, by, "retention maximums set");
        inner.retention_wake.wake();
        Ok(())
    }
}

impl Inner {
    /// Releases the evidence holds older than the hold maximum; returns how many.
    pub(crate) fn expire_holds(&self, now_90k: i64) -> Result<usize, StoreError> {
        let Some(days) = lock(&self.state).limits.hold_days else {
            return Ok(0);
        };
        let cutoff = now_90k - i64::from(days) * DAY_90K;
        let n = self
            .db()
            .execute(
                "DELETE FROM marks WHERE kind = 'hold' AND keep_until_90k IS NULL AND created_90k < ?1",
                [cutoff],
            )
            .map_err(db_err(&self.db_path))?;
        if n > 0 {
            tracing::warn!(
                "hold expired: {n} evidence hold(s) older than the {days}-day maximum released"
            );
        }
        Ok(n)
    }
}
