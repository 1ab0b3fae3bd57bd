//! The storage status the server shows: usage per directory and camera, oldest recordings, recorder
//! counters and alerts.

use crate::StoreError;
use crate::alerts::{StorageAlert, lock};
use crate::error::db_err;
use crate::recorder::RecorderStatus;
use crate::store::{Store, free_bytes, total_bytes};
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use vigil_core::Time90k;

/// One storage directory.
#[derive(Debug, Clone, Serialize)]
pub struct DirStatus {
    /// Name.
    pub name: String,
    /// Path.
    pub path: PathBuf,
    /// Present and usable.
    pub online: bool,
    /// Bytes of indexed recordings.
    pub used_bytes: u64,
    /// Budget.
    pub max_bytes: Option<u64>,
    /// Free bytes on the filesystem.
    pub free_bytes: Option<u64>,
    /// Size of the filesystem.
    pub total_bytes: Option<u64>,
    /// Free-space floor.
    pub min_free_bytes: u64,
    /// Indexed segments.
    pub segments: u64,
    /// Start of the oldest recording here.
    pub oldest: Option<Time90k>,
    /// Bytes written per second over the last hour (since the start when shorter; `None` before a
    /// minute of recording).
    pub write_bytes_per_s: Option<f64>,
    /// Days until the directory is full at that rate: its budget (`max_bytes`) or the disk's free space
    /// above `min_free_bytes`, whichever comes first. Past it, retention deletes the oldest recordings:
    /// this is how far back the footage will reach.
    pub days_until_full: Option<f64>,
    /// Days of footage the directory holds at that rate (its budget, or what it uses plus the free space
    /// above `min_free_bytes`): compare with the retention wanted.
    pub days_kept: Option<f64>,
    /// The longest retention (`max_days`) asked by a camera that records here (names this directory or
    /// none); `None` when no camera sets one. When `days_kept` falls under it, a `short_of_retention`
    /// storage alert is on.
    pub retention_days: Option<u32>,
}

/// How far back the write rate looks (ms).
pub(crate) const RATE_WINDOW_MS: i64 = 3_600_000;

/// A directory's write forecast: the rate, the days until `room` bytes are used, the days `capacity`
/// bytes hold.
#[derive(Debug)]
struct Forecast {
    rate: Option<f64>,
    until_full: Option<f64>,
    kept: Option<f64>,
}

/// The forecast of a directory from its recent commits.
fn forecast(
    writes: Option<&std::collections::VecDeque<(i64, u64)>>,
    room: Option<u64>,
    capacity: Option<u64>,
) -> Forecast {
    let none = Forecast {
        rate: None,
        until_full: None,
        kept: None,
    };
    let Some(w) = writes.filter(|w| !w.is_empty()) else {
        return none;
    };
    let now = vigil_core::time::now_unix_ms();
    let span_ms = w.front().map_or(0, |(t, _)| now - t);
    if span_ms < 60_000 {
        return none;
    }
    let bytes: u64 = w.iter().map(|(_, b)| b).sum();
    let rate = bytes as f64 / (span_ms as f64 / 1000.0);
    let days = |bytes: Option<u64>| {
        bytes
            .filter(|_| rate > 0.0)
            .map(|b| b as f64 / rate / 86_400.0)
    };
    Forecast {
        rate: Some(rate),
        until_full: days(room),
        kept: days(capacity),
    }
}

/// Raises or clears directory `dir`'s short-of-retention condition: `kept` days of footage at the
/// current rate against the `wanted` retention.
fn short_of_retention(
    alerts: &crate::alerts::Alerts,
    dir: &str,
    kept: Option<f64>,
    wanted: Option<u32>,
) {
    let kind = crate::alerts::AlertKind::ShortOfRetention;
    match (kept, wanted) {
        (Some(kept), Some(wanted)) if kept < f64::from(wanted) => alerts.raise(
            kind,
            crate::alerts::Severity::Warning,
            Some(dir),
            None,
            format!(
                "storage '{dir}' holds {kept:.1} days of footage at the current write rate, \
                 but retention asks for {wanted}: the oldest footage will go early (more space, a \
                 larger budget, or a shorter max_days)"
            ),
        ),
        (Some(_), _) | (_, None) => alerts.clear(kind, Some(dir), None),
        (None, Some(_)) => {}
    }
}

/// One camera.
#[derive(Debug, Clone, Serialize)]
pub struct CameraStatus {
    /// Name.
    pub name: String,
    /// Bytes of indexed recordings (all streams and directories).
    pub used_bytes: u64,
    /// Budget.
    pub max_bytes: Option<u64>,
    /// Indexed segments.
    pub segments: u64,
    /// Start of the oldest recording.
    pub oldest: Option<Time90k>,
    /// End of the newest committed recording.
    pub newest_end: Option<Time90k>,
}

/// Everything about storage at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct StorageStatus {
    /// Directories.
    pub dirs: Vec<DirStatus>,
    /// Cameras.
    pub cameras: Vec<CameraStatus>,
    /// Recorders started by this process.
    pub recorders: Vec<RecorderStatus>,
    /// Conditions in force (disk full, low space, directory offline...).
    pub active_alerts: Vec<StorageAlert>,
    /// The last alerts raised (at most 100).
    pub recent_alerts: Vec<StorageAlert>,
    /// Segments marked damaged (not served).
    pub damaged_segments: u64,
    /// Size of the index database (pages in use, including data still in the WAL).
    pub index_bytes: u64,
    /// Bytes of per-frame tables in the index.
    pub frame_table_bytes: u64,
    /// No active alert and every directory online.
    pub healthy: bool,
}

/// id, name, segments, oldest start, newest end.
type CameraRow = (i64, String, i64, Option<i64>, Option<i64>);

impl Store {
    /// The current storage status.
    pub fn status(&self) -> Result<StorageStatus, StoreError> {
        let inner = self.inner();
        let e = db_err(&inner.db_path);
        let conn = inner.db();
        let mut per_dir: HashMap<i64, (u64, Option<i64>)> = HashMap::new();
        let mut q = conn
            .prepare_cached("SELECT dir_id, COUNT(*), MIN(start_90k) FROM segments GROUP BY dir_id")
            .map_err(&e)?;
        for row in q
            .query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get(2)?))
            })
            .map_err(&e)?
        {
            let (d, n, oldest) = row.map_err(&e)?;
            per_dir.insert(d, (n as u64, oldest));
        }
        drop(q);
        let mut q = conn
            .prepare_cached(
                "SELECT c.id, c.name, COUNT(s.id), MIN(s.start_90k), MAX(s.start_90k + s.duration_90k)
                 FROM cameras c LEFT JOIN streams st ON st.camera_id = c.id
                 LEFT JOIN segments s ON s.stream_id = st.id
                 GROUP BY c.id ORDER BY c.name",
            )
            .map_err(&e)?;
        let cams: Vec<CameraRow> = q
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(&e)?
            .collect::<Result<_, _>>()
            .map_err(&e)?;
        drop(q);
        let damaged: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM segments WHERE damaged IS NOT NULL",
                [],
                |r| r.get(0),
            )
            .map_err(&e)?;
        let index_bytes: i64 = conn
            .query_row(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                [],
                |r| r.get(0),
            )
            .map_err(&e)?;
        let frame_table_bytes: i64 = conn
            .query_row(
                "SELECT COALESCE(SUM(length(frame_index)), 0) FROM segment_frames",
                [],
                |r| r.get(0),
            )
            .map_err(&e)?;
        drop(conn);
        let st = lock(&inner.state);
        let dirs: Vec<DirStatus> = inner
            .dirs
            .iter()
            .map(|d| {
                let (segments, oldest) = per_dir.get(&d.id).copied().unwrap_or((0, None));
                let used = st.dir_bytes.get(&d.id).copied().unwrap_or(0);
                let free = free_bytes(&d.path);
                let room = [
                    d.max_bytes.map(|m| m.saturating_sub(used)),
                    free.map(|f| f.saturating_sub(d.min_free_bytes)),
                ]
                .into_iter()
                .flatten()
                .min();
                let capacity = [
                    d.max_bytes,
                    free.map(|f| (used + f).saturating_sub(d.min_free_bytes)),
                ]
                .into_iter()
                .flatten()
                .min();
                let f = forecast(st.dir_writes.get(&d.id), room, capacity);
                let retention_days = inner
                    .config
                    .cameras
                    .iter()
                    .filter(|c| c.dir.as_ref().is_none_or(|n| *n == d.name))
                    .filter_map(|c| c.max_days)
                    .max();
                short_of_retention(&inner.alerts, &d.name, f.kept, retention_days);
                DirStatus {
                    name: d.name.clone(),
                    path: d.path.clone(),
                    online: d.online.load(Ordering::Relaxed),
                    used_bytes: used,
                    max_bytes: d.max_bytes,
                    free_bytes: free,
                    total_bytes: total_bytes(&d.path),
                    min_free_bytes: d.min_free_bytes,
                    segments,
                    oldest: oldest.map(Time90k),
                    write_bytes_per_s: f.rate,
                    days_until_full: f.until_full,
                    days_kept: f.kept,
                    retention_days,
                }
            })
            .collect();
        let cameras = cams
            .into_iter()
            .map(|(id, name, n, oldest, newest)| CameraStatus {
                name,
                used_bytes: st.camera_bytes.get(&id).copied().unwrap_or(0),
                max_bytes: st.camera_budgets.get(&id).copied(),
                segments: n as u64,
                oldest: oldest.map(Time90k),
                newest_end: newest.map(Time90k),
            })
            .collect();
        let mut recorders: Vec<RecorderStatus> =
            st.recorders.values().map(|r| r.snapshot()).collect();
        drop(st);
        recorders.sort_by(|a, b| (&a.camera, &a.stream).cmp(&(&b.camera, &b.stream)));
        let active_alerts = inner.alerts.active();
        let healthy = active_alerts.is_empty() && dirs.iter().all(|d| d.online);
        Ok(StorageStatus {
            dirs,
            cameras,
            recorders,
            active_alerts,
            recent_alerts: inner.alerts.recent(),
            damaged_segments: damaged as u64,
            index_bytes: index_bytes as u64,
            frame_table_bytes: frame_table_bytes as u64,
            healthy,
        })
    }
}

#[cfg(test)]
mod forecast_tests {
    use super::*;
    use crate::alerts::{AlertKind, Alerts};

    #[test]
    fn a_steady_megabyte_a_second_fills_a_day_of_room_in_a_day() {
        let now = vigil_core::time::now_unix_ms();
        // 1 MB committed every second for the last two minutes.
        let writes: std::collections::VecDeque<(i64, u64)> = (0..120)
            .map(|i| (now - 120_000 + i * 1000, 1_000_000))
            .collect();
        let f = forecast(Some(&writes), Some(86_400_000_000), Some(864_000_000_000));
        let rate = f.rate.unwrap();
        assert!((rate / 1e6 - 1.0).abs() < 0.02, "{rate}");
        assert!((f.until_full.unwrap() - 1.0).abs() < 0.02);
        assert!((f.kept.unwrap() - 10.0).abs() < 0.2);
        // Under a minute of history: no forecast yet.
        let young: std::collections::VecDeque<(i64, u64)> = [(now - 5_000, 1_000_000)].into();
        assert!(forecast(Some(&young), Some(1), Some(1)).rate.is_none());
        assert!(forecast(None, Some(1), Some(1)).rate.is_none());
    }

    #[test]
    fn short_of_retention_is_a_condition_while_the_disk_holds_fewer_days_than_asked() {
        let alerts = Alerts::default();
        let on = |a: &Alerts| {
            a.active()
                .iter()
                .filter(|x| x.kind == AlertKind::ShortOfRetention)
                .count()
        };
        short_of_retention(&alerts, "main", Some(7.1), Some(30));
        assert_eq!(on(&alerts), 1);
        let message = alerts.active()[0].message.clone();
        assert!(
            message.contains("holds 7.1 days") && message.contains("asks for 30"),
            "{message}"
        );
        // Said once while it lasts.
        short_of_retention(&alerts, "main", Some(7.0), Some(30));
        assert_eq!(alerts.recent().len(), 1);
        // Unknown rate: no judgement either way.
        short_of_retention(&alerts, "main", None, Some(30));
        assert_eq!(on(&alerts), 1);
        // Enough room, or no retention asked: cleared.
        short_of_retention(&alerts, "main", Some(31.0), Some(30));
        assert_eq!(on(&alerts), 0);
        short_of_retention(&alerts, "main", Some(7.0), None);
        assert_eq!(on(&alerts), 0);
    }
}
