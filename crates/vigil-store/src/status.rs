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
                DirStatus {
                    name: d.name.clone(),
                    path: d.path.clone(),
                    online: d.online.load(Ordering::Relaxed),
                    used_bytes: st.dir_bytes.get(&d.id).copied().unwrap_or(0),
                    max_bytes: d.max_bytes,
                    free_bytes: free_bytes(&d.path),
                    total_bytes: total_bytes(&d.path),
                    min_free_bytes: d.min_free_bytes,
                    segments,
                    oldest: oldest.map(Time90k),
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
