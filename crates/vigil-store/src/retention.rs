//! Retention: byte budgets per storage directory and per camera, a free-space floor per directory, and
//! time-range marks that protect footage.
//!
//! Deletion order when space is needed: the oldest segments not covered by any active mark first; then,
//! only if that is not enough, the oldest segments under keep-longer marks (an alert says so); never a
//! segment under an evidence hold. Deletion is crash-safe: one transaction records the files in
//! `garbage` and removes their rows; then the files are unlinked and the directory fsynced; then the
//! garbage rows are dropped (start-up finishes any step left undone).
//!
//! Invariants R5 and R13 of docs/design/recording.md.

use crate::StoreError;
use crate::alerts::{AlertKind, Severity, lock, now_90k};
use crate::error::db_err;
use crate::segment_file::sync_dir;
use crate::store::{Inner, Store, free_bytes};
use rusqlite::params;
use serde::Serialize;
use std::collections::HashSet;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use vigil_core::Time90k;

/// A time range to keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mark {
    /// Row id.
    pub id: i64,
    /// Camera, or `None` for every camera.
    pub camera: Option<String>,
    /// Wall-clock range (90 kHz since the Unix epoch).
    pub start: Time90k,
    /// End of the range (exclusive).
    pub end: Time90k,
    /// What made it (`"hold"` for evidence holds; events write their own kinds, e.g. `"event"`).
    pub kind: String,
    /// Kept in preference to unmarked footage until then; `None` = an evidence hold, never deleted.
    pub keep_until: Option<Time90k>,
    /// Free text (case number, event id).
    pub note: String,
}

/// What one retention pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionReport {
    /// Segments deleted.
    pub deleted_segments: usize,
    /// Bytes deleted.
    pub deleted_bytes: u64,
    /// Of those, segments under keep-longer marks (deleted because nothing else was left).
    pub deleted_marked: usize,
    /// Bytes that should have been freed but could not be (everything left is held).
    pub shortfall_bytes: u64,
    /// Events deleted by event retention (it runs at most once a minute within these passes).
    pub deleted_events: usize,
}

#[derive(Clone, Copy)]
enum Scope {
    Dir(i64),
    Camera(i64),
}

pub(crate) struct Victim {
    pub id: i64,
    pub dir_id: i64,
    pub camera_id: i64,
    pub file_name: String,
    pub bytes: u64,
}

pub(crate) struct ActiveMark {
    camera_id: Option<i64>,
    start: i64,
    end: i64,
    pub hold: bool,
}

impl ActiveMark {
    /// Whether it protects segment `v`, recorded over `[start, end)`.
    pub(crate) fn covers(&self, v: &Victim, start: i64, end: i64) -> bool {
        self.camera_id.is_none_or(|c| c == v.camera_id) && self.start < end && self.end > start
    }
}

impl Store {
    /// Adds a mark: footage of `camera` (or all cameras with `None`) in `range` is kept in preference to
    /// other footage until `keep_until`, or never deleted by retention when `keep_until` is `None`.
    pub fn add_mark(
        &self,
        camera: Option<&str>,
        range: Range<Time90k>,
        kind: &str,
        keep_until: Option<Time90k>,
        note: &str,
    ) -> Result<i64, StoreError> {
        if range.end <= range.start {
            return Err(StoreError::EmptyRange {
                from: range.start,
                to: range.end,
            });
        }
        let inner = self.inner();
        let camera_id = camera.map(|c| inner.ensure_camera(c)).transpose()?;
        insert_mark(&inner.db(), camera_id, range, kind, keep_until, note)
            .map_err(db_err(&inner.db_path))
    }

    /// Adds an evidence hold (a mark that retention never deletes).
    pub fn add_hold(
        &self,
        camera: Option<&str>,
        range: Range<Time90k>,
        note: &str,
    ) -> Result<i64, StoreError> {
        self.add_mark(camera, range, "hold", None, note)
    }

    /// Removes a mark (releasing a hold). Returns false when there was no such mark.
    pub fn remove_mark(&self, id: i64) -> Result<bool, StoreError> {
        let inner = self.inner();
        let n = inner
            .db()
            .execute("DELETE FROM marks WHERE id = ?1", [id])
            .map_err(db_err(&inner.db_path))?;
        inner.retention_wake.wake();
        Ok(n > 0)
    }

    /// The evidence holds, oldest range first.
    pub fn holds(&self) -> Result<Vec<Mark>, StoreError> {
        let inner = self.inner();
        marks_where(&inner.db(), "m.kind = 'hold' AND m.keep_until_90k IS NULL")
            .map_err(db_err(&inner.db_path))
    }

    /// All marks, oldest range first.
    pub fn marks(&self) -> Result<Vec<Mark>, StoreError> {
        let inner = self.inner();
        marks_where(&inner.db(), "1").map_err(db_err(&inner.db_path))
    }
}

impl Inner {
    /// One retention pass over every directory budget, floor and camera budget.
    pub(crate) fn run_retention(&self) -> Result<RetentionReport, StoreError> {
        let _guard = lock(&self.retention_lock);
        let mut report = RetentionReport::default();
        for (i, dir) in self.dirs.iter().enumerate() {
            if !dir.online.load(Ordering::Relaxed) {
                continue;
            }
            let used = lock(&self.state)
                .dir_bytes
                .get(&dir.id)
                .copied()
                .unwrap_or(0);
            let over = dir.max_bytes.map_or(0, |m| used.saturating_sub(m));
            let floor = self.floor_shortfall(i);
            if floor > 0 {
                self.low_space_alert(i);
            } else {
                self.alerts
                    .clear(AlertKind::LowSpace, Some(&dir.name), None);
            }
            let need = over.max(floor);
            if need > 0 {
                self.delete_oldest(Scope::Dir(dir.id), need, floor > 0, &mut report)?;
            }
        }
        let budgets: Vec<(i64, u64)> = lock(&self.state)
            .camera_budgets
            .iter()
            .map(|(&c, &b)| (c, b))
            .collect();
        for (camera_id, budget) in budgets {
            let used = lock(&self.state)
                .camera_bytes
                .get(&camera_id)
                .copied()
                .unwrap_or(0);
            if used > budget {
                self.delete_oldest(Scope::Camera(camera_id), used - budget, false, &mut report)?;
            }
        }
        // Each camera's age limit, capped by the auditor's continuous maximum (which also reaches
        // cameras without a limit of their own, configured or not).
        let ages: Vec<(i64, i64)> = {
            let cameras: Vec<i64> = {
                let conn = self.db();
                let mut q = conn
                    .prepare_cached("SELECT id FROM cameras")
                    .map_err(db_err(&self.db_path))?;
                q.query_map([], |r| r.get(0))
                    .map_err(db_err(&self.db_path))?
                    .collect::<Result<_, _>>()
                    .map_err(db_err(&self.db_path))?
            };
            let st = lock(&self.state);
            cameras
                .into_iter()
                .filter_map(|c| {
                    st.limits
                        .cap_age(st.camera_max_age.get(&c).copied())
                        .map(|a| (c, a))
                })
                .collect()
        };
        self.expire_holds(now_90k())?;
        for (camera_id, max_age) in ages {
            self.delete_older(camera_id, now_90k() - max_age, &mut report)?;
        }
        report.deleted_events = self.event_retention_if_due()?;
        Ok(report)
    }

    /// Deletes a camera's segments that ended before `cutoff` (90 kHz wall clock), except footage under a
    /// live keep-longer mark or an evidence hold.
    fn delete_older(
        &self,
        camera_id: i64,
        cutoff: i64,
        report: &mut RetentionReport,
    ) -> Result<(), StoreError> {
        let e = db_err(&self.db_path);
        let now = now_90k();
        let victims = {
            let conn = self.db();
            let old = segment_rows(
                &conn,
                "st.camera_id = ?1 AND s.start_90k + s.duration_90k <= ?2
                 ORDER BY s.start_90k, s.id LIMIT 4096",
                params![camera_id, cutoff],
            )
            .map_err(&e)?;
            let marks = marks_over(&conn, &old, now).map_err(&e)?;
            old.into_iter()
                .filter(|(v, start, end)| !marks.iter().any(|m| m.covers(v, *start, *end)))
                .map(|(v, _, _)| v)
                .collect::<Vec<_>>()
        };
        if victims.is_empty() {
            return Ok(());
        }
        let (n, bytes) =
            self.delete_segments(&victims, crate::integrity::verify::REASON_RETENTION)?;
        report.deleted_segments += n;
        report.deleted_bytes += bytes;
        tracing::info!(
            camera_id,
            "retention (age limit): deleted {n} segments, {bytes} bytes"
        );
        Ok(())
    }

    /// Bytes missing to get the directory's free space back above its floor.
    fn floor_shortfall(&self, dir: usize) -> u64 {
        let d = &self.dirs[dir];
        match free_bytes(&d.path) {
            Some(free) => d.min_free_bytes.saturating_sub(free),
            None => 0,
        }
    }

    fn low_space_alert(&self, dir: usize) {
        let d = &self.dirs[dir];
        self.alerts.raise(
            AlertKind::LowSpace,
            Severity::Warning,
            Some(&d.name),
            None,
            format!(
                "free space on storage directory {} is under its floor of {} bytes; deleting the \
                 oldest unprotected recordings",
                d.name, d.min_free_bytes
            ),
        );
    }

    /// Emergency deletion for a recorder that hit a full disk or the floor: frees `need` bytes plus
    /// whatever the floor requires, oldest unprotected first. Returns the bytes freed.
    pub(crate) fn make_room(&self, dir: usize, need: u64) -> u64 {
        let _guard = lock(&self.retention_lock);
        let floor = self.floor_shortfall(dir);
        if floor > 0 {
            self.low_space_alert(dir);
        }
        let mut report = RetentionReport::default();
        let id = self.dirs[dir].id;
        if let Err(e) = self.delete_oldest(Scope::Dir(id), need + floor, true, &mut report) {
            tracing::error!("emergency deletion in {}: {e}", self.dirs[dir].name);
        }
        report.deleted_bytes
    }

    /// Deletes the oldest segments in `scope` until `need` bytes are freed.
    fn delete_oldest(
        &self,
        scope: Scope,
        need: u64,
        emergency: bool,
        report: &mut RetentionReport,
    ) -> Result<(), StoreError> {
        let e = db_err(&self.db_path);
        let now = now_90k();
        let mut victims: Vec<Victim> = Vec::new();
        let mut marked: Vec<Victim> = Vec::new();
        let mut freed = 0u64;
        let mut offset = 0i64;
        const PAGE: i64 = 512;
        'pages: loop {
            let conn = self.db();
            let (filter, key) = match scope {
                Scope::Dir(d) => ("s.dir_id = ?1", d),
                Scope::Camera(c) => ("st.camera_id = ?1", c),
            };
            let page = segment_rows(
                &conn,
                &format!("{filter} ORDER BY s.start_90k, s.id LIMIT ?2 OFFSET ?3"),
                params![key, PAGE, offset],
            )
            .map_err(&e)?;
            if page.is_empty() {
                break;
            }
            offset += page.len() as i64;
            let marks = marks_over(&conn, &page, now).map_err(&e)?;
            drop(conn);
            for (v, start, end) in page {
                let covering = marks.iter().filter(|m| m.covers(&v, start, end));
                let mut hold = false;
                let mut kept = false;
                for m in covering {
                    hold |= m.hold;
                    kept = true;
                }
                if hold {
                    continue;
                }
                if kept {
                    marked.push(v);
                    continue;
                }
                freed += v.bytes;
                victims.push(v);
                if freed >= need {
                    break 'pages;
                }
            }
        }
        let mut marked_taken = 0;
        if freed < need {
            for v in marked {
                if freed >= need {
                    break;
                }
                freed += v.bytes;
                victims.push(v);
                marked_taken += 1;
            }
        }
        let scope_name = match scope {
            Scope::Dir(d) => self
                .dirs
                .iter()
                .find(|x| x.id == d)
                .map_or_else(|| d.to_string(), |x| x.name.clone()),
            Scope::Camera(c) => lock(&self.state)
                .camera_names
                .get(&c)
                .cloned()
                .unwrap_or_else(|| c.to_string()),
        };
        let (dir_label, cam_label) = match scope {
            Scope::Dir(_) => (Some(scope_name.as_str()), None),
            Scope::Camera(_) => (None, Some(scope_name.as_str())),
        };
        if freed < need {
            report.shortfall_bytes += need - freed;
            self.alerts.raise(
                AlertKind::NothingDeletable,
                Severity::Critical,
                dir_label,
                cam_label,
                format!(
                    "{scope_name}: {} bytes must be freed but everything left is under an evidence hold",
                    need - freed
                ),
            );
        } else {
            self.alerts
                .clear(AlertKind::NothingDeletable, dir_label, cam_label);
        }
        if victims.is_empty() {
            return Ok(());
        }
        let (n, bytes) =
            self.delete_segments(&victims, crate::integrity::verify::REASON_RETENTION)?;
        report.deleted_segments += n;
        report.deleted_bytes += bytes;
        report.deleted_marked += marked_taken;
        if marked_taken > 0 {
            self.alerts.raise(
                AlertKind::MarkedFootageDeleted,
                Severity::Critical,
                dir_label,
                cam_label,
                format!(
                    "{scope_name}: {marked_taken} segment(s) under keep-longer marks deleted early: \
                     nothing unmarked was left to delete"
                ),
            );
        }
        if emergency {
            self.alerts.raise(
                AlertKind::EmergencyDeletion,
                Severity::Critical,
                dir_label,
                cam_label,
                format!(
                    "{scope_name}: disk full or free space under the floor; deleted {n} oldest \
                     segment(s), {bytes} bytes, to keep recording"
                ),
            );
        } else {
            tracing::info!("retention ({scope_name}): deleted {n} segments, {bytes} bytes");
        }
        Ok(())
    }

    /// Deletes segments crash-safely. Returns the number and bytes actually deleted.
    pub(crate) fn delete_segments(
        &self,
        victims: &[Victim],
        reason: &str,
    ) -> Result<(usize, u64), StoreError> {
        let e = db_err(&self.db_path);
        let mut deleted = Vec::with_capacity(victims.len());
        {
            let mut conn = self.db();
            let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
            let mut streams = std::collections::BTreeSet::new();
            for v in victims {
                streams.extend(crate::integrity::record_removed(&tx, v.id, reason).map_err(&e)?);
                crate::crypt::forget_key(&tx, v.id).map_err(&e)?;
                let n = tx
                    .execute("DELETE FROM segments WHERE id = ?1", [v.id])
                    .map_err(&e)?;
                if n == 1 {
                    tx.execute(
                        "INSERT OR IGNORE INTO garbage (dir_id, file_name) VALUES (?1, ?2)",
                        params![v.dir_id, v.file_name],
                    )
                    .map_err(&e)?;
                    deleted.push(v);
                }
            }
            for stream_id in streams {
                crate::integrity::prune(&tx, stream_id).map_err(&e)?;
            }
            tx.commit().map_err(&e)?;
        }
        let mut unlinked: Vec<&Victim> = Vec::with_capacity(deleted.len());
        let mut dirs_touched: HashSet<i64> = HashSet::new();
        for v in &deleted {
            let Some(d) = self.dir_index(v.dir_id) else {
                continue;
            };
            let path = self.dirs[d].path.join(&v.file_name);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => {
                    // The garbage row stays; start-up will retry.
                    tracing::error!("deleting {}: {err}", path.display());
                    continue;
                }
            }
            unlinked.push(v);
            dirs_touched.insert(v.dir_id);
        }
        let mut synced: HashSet<i64> = HashSet::new();
        for &d in &dirs_touched {
            let Some(i) = self.dir_index(d) else { continue };
            match sync_dir(&self.dirs[i].path) {
                Ok(()) => {
                    synced.insert(d);
                }
                Err(err) => tracing::error!("fsync {}: {err}", self.dirs[i].path.display()),
            }
        }
        {
            let mut conn = self.db();
            let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
            for v in unlinked.iter().filter(|v| synced.contains(&v.dir_id)) {
                tx.execute(
                    "DELETE FROM garbage WHERE dir_id = ?1 AND file_name = ?2",
                    params![v.dir_id, v.file_name],
                )
                .map_err(&e)?;
            }
            tx.commit().map_err(&e)?;
        }
        let mut st = lock(&self.state);
        let mut bytes = 0;
        for v in &deleted {
            bytes += v.bytes;
            if let Some(b) = st.dir_bytes.get_mut(&v.dir_id) {
                *b = b.saturating_sub(v.bytes);
            }
            if let Some(b) = st.camera_bytes.get_mut(&v.camera_id) {
                *b = b.saturating_sub(v.bytes);
            }
        }
        Ok((deleted.len(), bytes))
    }
}

/// Segments matching `condition` (SQL over `s` = segments and `st` = streams, with its ORDER BY and
/// LIMIT), each with its wall-clock start and end (90 kHz).
pub(crate) fn segment_rows(
    conn: &rusqlite::Connection,
    condition: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<Vec<(Victim, i64, i64)>> {
    let mut q = conn.prepare_cached(&format!(
        "SELECT s.id, s.dir_id, st.camera_id, s.file_name, s.bytes, s.start_90k,
                s.start_90k + s.duration_90k
         FROM segments s JOIN streams st ON st.id = s.stream_id
         WHERE {condition}"
    ))?;
    q.query_map(params, |r| {
        Ok((
            Victim {
                id: r.get(0)?,
                dir_id: r.get(1)?,
                camera_id: r.get(2)?,
                file_name: r.get(3)?,
                bytes: r.get::<_, i64>(4)? as u64,
            },
            r.get(5)?,
            r.get(6)?,
        ))
    })?
    .collect()
}

/// Marks in force now over the time span of `rows` (from [`segment_rows`]).
pub(crate) fn marks_over(
    conn: &rusqlite::Connection,
    rows: &[(Victim, i64, i64)],
    now: i64,
) -> rusqlite::Result<Vec<ActiveMark>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let lo = rows.iter().map(|r| r.1).min().unwrap_or(0);
    let hi = rows.iter().map(|r| r.2).max().unwrap_or(0);
    active_marks(conn, lo, hi, now)
}

/// Marks in force now that overlap `[lo, hi)`.
fn active_marks(
    conn: &rusqlite::Connection,
    lo: i64,
    hi: i64,
    now: i64,
) -> rusqlite::Result<Vec<ActiveMark>> {
    // Footage kept for events (a mark with an end) is kept no longer than the auditor's event maximum.
    let event_max: Option<i64> = crate::retention_limits::load(conn)?.event_age();
    let mut q = conn.prepare_cached(
        "SELECT camera_id, start_90k, end_90k, keep_until_90k FROM marks
         WHERE start_90k < ?2 AND end_90k > ?1 AND (keep_until_90k IS NULL OR keep_until_90k > ?3)
           AND (keep_until_90k IS NULL OR ?4 IS NULL OR created_90k + ?4 > ?3)",
    )?;
    q.query_map(params![lo, hi, now, event_max], |r| {
        Ok(ActiveMark {
            camera_id: r.get(0)?,
            start: r.get(1)?,
            end: r.get(2)?,
            hold: r.get::<_, Option<i64>>(3)?.is_none(),
        })
    })?
    .collect()
}

/// Wakes the retention thread (after a commit, a budget change) or tells it to stop.
#[derive(Default)]
pub(crate) struct Wake {
    flags: Mutex<(bool, bool)>, // (woken, stop)
    cv: Condvar,
}

impl Wake {
    pub(crate) fn wake(&self) {
        lock(&self.flags).0 = true;
        self.cv.notify_all();
    }
}

/// The background retention thread.
pub(crate) struct RetentionThread {
    inner: Arc<Inner>,
    handle: Option<JoinHandle<()>>,
}

impl RetentionThread {
    pub(crate) fn spawn(inner: Arc<Inner>) -> Self {
        let period = Duration::from_secs_f64(inner.config.retention_interval_seconds.max(0.05));
        let worker = inner.clone();
        let handle = std::thread::Builder::new()
            .name("retention".into())
            .spawn(move || {
                loop {
                    if let Err(e) = worker.run_retention() {
                        tracing::error!("retention pass failed: {e}");
                    }
                    let mut flags = lock(&worker.retention_wake.flags);
                    if !flags.0 && !flags.1 {
                        flags = worker
                            .retention_wake
                            .cv
                            .wait_timeout(flags, period)
                            .map(|(g, _)| g)
                            .unwrap_or_else(|p| p.into_inner().0);
                    }
                    if flags.1 {
                        return;
                    }
                    flags.0 = false;
                }
            })
            .map_err(|e| tracing::error!("cannot start the retention thread: {e}"))
            .ok();
        Self { inner, handle }
    }

    pub(crate) fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        lock(&self.inner.retention_wake.flags).1 = true;
        self.inner.retention_wake.cv.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for RetentionThread {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// The marks matching an SQL condition on `marks m`, oldest range first.
pub(crate) fn marks_where(
    conn: &rusqlite::Connection,
    condition: &str,
) -> rusqlite::Result<Vec<Mark>> {
    let mut q = conn.prepare(&format!(
        "SELECT m.id, c.name, m.start_90k, m.end_90k, m.kind, m.keep_until_90k, m.note
         FROM marks m LEFT JOIN cameras c ON c.id = m.camera_id WHERE {condition}
         ORDER BY m.start_90k, m.id"
    ))?;
    q.query_map([], |r| {
        Ok(Mark {
            id: r.get(0)?,
            camera: r.get(1)?,
            start: Time90k(r.get(2)?),
            end: Time90k(r.get(3)?),
            kind: r.get(4)?,
            keep_until: r.get::<_, Option<i64>>(5)?.map(Time90k),
            note: r.get(6)?,
        })
    })?
    .collect()
}

/// Inserts a mark; returns its id.
pub(crate) fn insert_mark(
    conn: &rusqlite::Connection,
    camera_id: Option<i64>,
    range: Range<Time90k>,
    kind: &str,
    keep_until: Option<Time90k>,
    note: &str,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO marks (camera_id, start_90k, end_90k, kind, keep_until_90k, note, created_90k)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            camera_id,
            range.start.0,
            range.end.0,
            kind,
            keep_until.map(|t| t.0),
            note,
            now_90k()
        ],
    )?;
    Ok(conn.last_insert_rowid())
}
