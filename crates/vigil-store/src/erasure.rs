//! Erasure requests: the footage of a camera over a time range deleted on request (a person's right to
//! erasure), whole segments at a time, with the camera's events in the range and their snapshots, and a
//! report of exactly what went.
//!
//! Segments are the unit: one that overlaps the range goes whole, so the report gives the range really
//! erased (it may start before and end after the one asked for, by at most a segment). Footage under an
//! evidence hold is never erased: the request is refused, naming the holds, until they are released.
//! The deletion goes through the crash-safe path of retention (R5) and is recorded in the integrity
//! chain as an erasure with its reason, so `vigil verify recordings` reports it as such, not as tampering.

use crate::alerts::now_90k;
use crate::error::db_err;
use crate::retention::{Victim, marks_over, segment_rows};
use crate::{Store, StoreError};
use rusqlite::params;
use serde::Serialize;
use vigil_core::Time90k;

/// What an erasure prefixes its reason with in the integrity chain's removal records.
pub(crate) const REASON_ERASURE: &str = "erasure";

/// One segment erased.
#[derive(Debug, Clone, Serialize)]
pub struct ErasedSegment {
    /// Wall-clock start (90 kHz since the epoch).
    pub start: Time90k,
    /// Wall-clock end.
    pub end: Time90k,
    /// File length.
    pub bytes: u64,
    /// The file (name in its storage directory).
    pub file: String,
}

/// What an erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct ErasureReport {
    /// Camera.
    pub camera: String,
    /// The range asked for.
    pub requested: (Time90k, Time90k),
    /// The range really erased (whole segments), when anything was.
    pub erased: Option<(Time90k, Time90k)>,
    /// The segments erased, oldest first.
    pub segments: Vec<ErasedSegment>,
    /// Bytes erased.
    pub bytes: u64,
    /// Events of the camera in the range deleted, with their snapshots and footage marks.
    pub events: usize,
    /// Snapshot files deleted.
    pub snapshots: usize,
    /// Why (recorded in the integrity chain).
    pub reason: String,
}

impl Store {
    /// Erases every segment of `camera` (all its streams) overlapping `[from, to)`, recording `reason`
    /// with each in the integrity chain. Refused, with nothing erased, when footage in the range is
    /// under an evidence hold.
    pub fn erase(
        &self,
        camera: &str,
        from: Time90k,
        to: Time90k,
        reason: &str,
    ) -> Result<ErasureReport, StoreError> {
        if to <= from {
            return Err(StoreError::EmptyRange { from, to });
        }
        if reason.trim().is_empty() {
            return Err(StoreError::Config(
                "an erasure needs a reason (it is recorded)".into(),
            ));
        }
        let inner = self.inner();
        let e = db_err(&inner.db_path);
        let _retention = crate::alerts::lock(&inner.retention_lock);
        let (camera_id, rows) = {
            let conn = inner.db();
            unheld_rows(&conn, camera, from, to).map_err(|err| err.into_store(&e))?
        };
        let segments: Vec<ErasedSegment> = rows
            .iter()
            .map(|(v, s, end)| ErasedSegment {
                start: Time90k(*s),
                end: Time90k(*end),
                bytes: v.bytes,
                file: v.file_name.clone(),
            })
            .collect();
        let erased = match (rows.first(), rows.iter().map(|r| r.2).max()) {
            (Some(first), Some(end)) => Some((Time90k(first.1), Time90k(end))),
            _ => None,
        };
        let victims: Vec<_> = rows.into_iter().map(|(v, _, _)| v).collect();
        let recorded = format!("{REASON_ERASURE}: {}", reason.trim());
        let (_, bytes) = inner.delete_segments(&victims, &recorded)?;
        // Events go over the requested range and whatever more the whole segments took.
        let (lo, hi) = erased.map_or((from, to), |(a, b)| (a.min(from), b.max(to)));
        let (events, snapshots) =
            inner.erase_events(camera_id, lo.0.div_euclid(90), hi.0.div_euclid(90))?;
        tracing::warn!(
            camera,
            segments = victims.len(),
            bytes,
            events,
            reason,
            "footage erased on request"
        );
        Ok(ErasureReport {
            camera: camera.to_string(),
            requested: (from, to),
            erased,
            segments,
            bytes,
            events,
            snapshots,
            reason: reason.trim().to_string(),
        })
    }
}

/// Why [`unheld_rows`] failed.
pub(crate) enum RowsError {
    Db(rusqlite::Error),
    Store(StoreError),
}

impl RowsError {
    pub(crate) fn into_store(self, e: &impl Fn(rusqlite::Error) -> StoreError) -> StoreError {
        match self {
            Self::Db(err) => e(err),
            Self::Store(err) => err,
        }
    }
}

impl From<rusqlite::Error> for RowsError {
    fn from(err: rusqlite::Error) -> Self {
        Self::Db(err)
    }
}

/// A camera's id and segments, each with its wall-clock start and end.
pub(crate) type CameraRows = (i64, Vec<(Victim, i64, i64)>);

/// The camera's id and its segments (every stream) overlapping `[from, to)`, oldest first, with their
/// wall-clock ranges; [`StoreError::FootageHeld`] when an evidence hold covers any of them.
pub(crate) fn unheld_rows(
    conn: &rusqlite::Connection,
    camera: &str,
    from: Time90k,
    to: Time90k,
) -> Result<CameraRows, RowsError> {
    let camera_id: Option<i64> = conn
        .query_row("SELECT id FROM cameras WHERE name = ?1", [camera], |r| {
            r.get(0)
        })
        .ok();
    let Some(camera_id) = camera_id else {
        return Err(RowsError::Store(StoreError::UnknownCamera {
            name: camera.to_string(),
            known: Vec::new(),
        }));
    };
    let rows = segment_rows(
        conn,
        "st.camera_id = ?1 AND s.start_90k < ?3 AND s.start_90k + s.duration_90k > ?2
         ORDER BY s.start_90k, s.id",
        params![camera_id, from.0, to.0],
    )?;
    let holds: Vec<_> = marks_over(conn, &rows, now_90k())?
        .into_iter()
        .filter(|m| m.hold)
        .collect();
    if rows
        .iter()
        .any(|(v, s, end)| holds.iter().any(|m| m.covers(v, *s, *end)))
    {
        return Err(RowsError::Store(StoreError::FootageHeld {
            camera: camera.to_string(),
        }));
    }
    Ok((camera_id, rows))
}

impl ErasureReport {
    /// The report as the audit log keeps it (`footage.erase` entries, written by `vigil erase` and the
    /// API alike): `"mode": "delete"`, times in RFC 3339 UTC, every segment erased, the events and
    /// snapshots deleted. (Erasure by blurring writes the same action with `"mode": "blur"`,
    /// [`crate::BlurReport::audit_detail`].)
    pub fn audit_detail(&self) -> serde_json::Value {
        use crate::evidence::rfc3339;
        serde_json::json!({
            "mode": "delete",
            "from": rfc3339(self.requested.0),
            "to": rfc3339(self.requested.1),
            "erased": self.erased.map(|(a, b)| [rfc3339(a), rfc3339(b)]),
            "segments": self.segments.iter().map(|s| serde_json::json!({
                "start": rfc3339(s.start),
                "end": rfc3339(s.end),
                "bytes": s.bytes,
                "file": s.file,
            })).collect::<Vec<_>>(),
            "bytes": self.bytes,
            "events": self.events,
            "snapshots": self.snapshots,
            "reason": self.reason,
        })
    }
}
