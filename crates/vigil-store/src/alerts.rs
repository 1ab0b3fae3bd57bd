//! Storage alerts: raised on a condition (disk full, low space, a directory offline, a recorder falling
//! behind, footage deleted early), delivered to subscribers, kept as active flags until the condition
//! clears, and logged.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use vigil_core::Time90k;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A write failed with "no space left on device".
    DiskFull,
    /// Free space fell under the directory's floor.
    LowSpace,
    /// Recordings were deleted early to make room (disk full or free space under the floor).
    EmergencyDeletion,
    /// Footage under a keep-longer mark was deleted because nothing else was left to delete.
    MarkedFootageDeleted,
    /// Space is needed but everything left is under an evidence hold: recording cannot continue there.
    NothingDeletable,
    /// A storage directory is missing or unusable.
    DirOffline,
    /// Writing a segment failed for a reason other than space.
    WriteFailed,
    /// A recorder's queue is more than half full: the disk is not keeping up.
    RecorderBehind,
    /// Frames were dropped (a full queue with `try_append`, or a write that could not be completed).
    FramesDropped,
    /// Start-up found segments whose files do not match the index; they are not served.
    DamagedSegments,
    /// At the current write rate a directory holds fewer days of footage than its cameras' retention
    /// (`max_days`) asks for: the oldest footage will be deleted before its time.
    ShortOfRetention,
    /// Making segments durable in a directory takes far longer than it usually does there (its write
    /// latency's 99th percentile over 10 minutes at least 10 times its median and 2 s; `write_latency.rs`).
    SlowWrites,
}

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; recording continues.
    Warning,
    /// Video is being lost or deleted early.
    Critical,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageAlert {
    /// What happened.
    pub kind: AlertKind,
    /// How bad it is.
    pub severity: Severity,
    /// Storage directory concerned, if any.
    pub dir: Option<String>,
    /// Camera concerned, if any.
    pub camera: Option<String>,
    /// A sentence for people.
    pub message: String,
    /// When (wall clock, 90 kHz since the Unix epoch).
    pub at: Time90k,
}

type Callback = Box<dyn Fn(&StorageAlert) + Send + Sync>;
type Key = (AlertKind, Option<String>, Option<String>);

/// Keeps subscribers, the recent history and the active conditions.
#[derive(Default)]
pub(crate) struct Alerts {
    callbacks: Mutex<Vec<Callback>>,
    recent: Mutex<VecDeque<StorageAlert>>,
    active: Mutex<BTreeMap<Key, StorageAlert>>,
}

const RECENT: usize = 100;

/// Now on the wall clock in 90 kHz ticks.
pub(crate) fn now_90k() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_micros() as i64).saturating_mul(9) / 100
}

impl Alerts {
    pub(crate) fn subscribe(&self, f: Callback) {
        lock(&self.callbacks).push(f);
    }

    /// Raises an alert: logged, kept as active (for conditions) and delivered, unless the same
    /// condition is already active.
    pub(crate) fn raise(
        &self,
        kind: AlertKind,
        severity: Severity,
        dir: Option<&str>,
        camera: Option<&str>,
        message: String,
    ) {
        let alert = StorageAlert {
            kind,
            severity,
            dir: dir.map(str::to_string),
            camera: camera.map(str::to_string),
            message,
            at: Time90k(now_90k()),
        };
        let is_condition = matches!(
            kind,
            AlertKind::DiskFull
                | AlertKind::LowSpace
                | AlertKind::NothingDeletable
                | AlertKind::DirOffline
                | AlertKind::RecorderBehind
                | AlertKind::DamagedSegments
                | AlertKind::ShortOfRetention
                | AlertKind::SlowWrites
        );
        if is_condition {
            let key = (kind, alert.dir.clone(), alert.camera.clone());
            let mut active = lock(&self.active);
            if active.contains_key(&key) {
                return;
            }
            active.insert(key, alert.clone());
        }
        match severity {
            Severity::Critical => tracing::error!(?kind, dir, camera, "{}", alert.message),
            Severity::Warning => tracing::warn!(?kind, dir, camera, "{}", alert.message),
        }
        {
            let mut recent = lock(&self.recent);
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(alert.clone());
        }
        for f in lock(&self.callbacks).iter() {
            f(&alert);
        }
    }

    /// Clears an active condition (logged when it was set).
    pub(crate) fn clear(&self, kind: AlertKind, dir: Option<&str>, camera: Option<&str>) {
        let key = (kind, dir.map(str::to_string), camera.map(str::to_string));
        if lock(&self.active).remove(&key).is_some() {
            tracing::info!(?kind, dir, camera, "storage condition cleared");
        }
    }

    pub(crate) fn is_active(&self, kind: AlertKind, dir: Option<&str>) -> bool {
        lock(&self.active)
            .keys()
            .any(|(k, d, _)| *k == kind && d.as_deref() == dir)
    }

    pub(crate) fn active(&self) -> Vec<StorageAlert> {
        lock(&self.active).values().cloned().collect()
    }

    pub(crate) fn recent(&self) -> Vec<StorageAlert> {
        lock(&self.recent).iter().cloned().collect()
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the store's invariants live
/// in the database and files, not in these in-memory maps).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
