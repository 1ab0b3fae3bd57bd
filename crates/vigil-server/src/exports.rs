//! Export jobs: an MP4 of a camera's recording over a time range, written in the background to
//! `data_dir/exports/<id>.mp4` (owner-only) with progress, then served as an attachment; or a signed
//! evidence bundle (`vigil_store::evidence`: the MP4, its manifest, the site's public key, the signature,
//! audited as `export.evidence`) zipped into `<id>.zip`. Ids are 128-bit
//! random hex, so a file path is never built from anything a client chose.
//!
//! Jobs are kept in `security.db` (table `exports`), so a restart forgets none of them: at start
//! ([`Exports::reap`]) a job that was being written is marked failed and its partial file deleted, and
//! every file in the folder that no finished job owns is deleted. A finished export expires
//! `export_keep` (`[server] export_retention_hours`) after it was written: its file is deleted and
//! the job says `expired`. Checked at start and every 10 minutes.

use crate::auth::{Security, now_ms, random_bytes};
use crate::error::ServerError;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use vigil_core::{Redaction, Time90k};
use vigil_store::{ExportFilter, Store};

/// Exports running at once.
pub const MAX_RUNNING: usize = 2;
/// Finished exports kept (the oldest ones' files are deleted beyond it, whatever their age).
pub const MAX_JOBS: usize = 100;
/// Longest range exported (24 h).
pub const MAX_RANGE_MS: i64 = 24 * 3600 * 1000;
/// Jobs that ended (failed or expired) are forgotten this long after they ended.
const FORGET_AFTER_MS: i64 = 30 * 24 * 3600 * 1000;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS exports (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    camera TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    state TEXT NOT NULL,
    bytes INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_ms INTEGER NOT NULL,
    finished_ms INTEGER,
    redaction TEXT
);
";

/// Adds the columns later versions need to an `exports` table an older version created.
pub(crate) fn migrate(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let has_redaction: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('exports') WHERE name = 'redaction'")?
        .exists([])?;
    if !has_redaction {
        conn.execute_batch("ALTER TABLE exports ADD COLUMN redaction TEXT")?;
    }
    Ok(())
}

/// State of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportState {
    /// Being written.
    Running,
    /// Ready to download.
    Done,
    /// Failed (see `error`), or interrupted by a restart.
    Failed,
    /// Finished, then deleted when it became older than the retention.
    Expired,
}

impl ExportState {
    fn name(self) -> &'static str {
        match self {
            ExportState::Running => "running",
            ExportState::Done => "done",
            ExportState::Failed => "failed",
            ExportState::Expired => "expired",
        }
    }

    fn parse(s: &str) -> ExportState {
        match s {
            "running" => ExportState::Running,
            "done" => ExportState::Done,
            "expired" => ExportState::Expired,
            _ => ExportState::Failed,
        }
    }
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ExportJob {
    /// Id (32 hex digits).
    pub id: String,
    /// Camera.
    pub camera: String,
    /// Requested start (unix ms).
    pub start: i64,
    /// Requested end (unix ms).
    pub end: i64,
    /// State.
    pub state: ExportState,
    /// 0..1.
    pub progress: f64,
    /// Bytes of the MP4 (when known).
    pub bytes: u64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What was blurred, masked or burned in (absent: the camera's own video).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redaction: Option<vigil_core::RedactionReport>,
    /// User who asked.
    #[serde(skip)]
    pub user_id: i64,
}

/// The export jobs.
pub struct Exports {
    dir: PathBuf,
    security: Arc<Security>,
    /// Progress of the jobs being written here: (fraction, bytes).
    progress: Arc<Mutex<HashMap<String, (f64, u64)>>>,
}

/// Whether `id` has the shape of an export id.
pub fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ExportJob> {
    let state: String = r.get(5)?;
    let bytes: i64 = r.get(6)?;
    let state = ExportState::parse(&state);
    Ok(ExportJob {
        id: r.get(0)?,
        user_id: r.get(1)?,
        camera: r.get(2)?,
        start: r.get(3)?,
        end: r.get(4)?,
        state,
        progress: if state == ExportState::Running {
            0.0
        } else {
            1.0
        },
        bytes: bytes.max(0) as u64,
        error: r.get(7)?,
        redaction: r
            .get::<_, Option<String>>(8)?
            .and_then(|t| serde_json::from_str(&t).ok()),
    })
}

const JOB_COLUMNS: &str = "id, user_id, camera, start_ms, end_ms, state, bytes, error, redaction";

impl Exports {
    /// Jobs writing into `dir`, kept in `security`'s database.
    pub fn new(dir: PathBuf, security: Arc<Security>) -> Exports {
        Exports {
            dir,
            security,
            progress: Default::default(),
        }
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, HashMap<String, (f64, u64)>> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The finished file of job `id`: `<id>.zip` for an evidence bundle, else `<id>.mp4`.
    fn file_of(&self, id: &str) -> PathBuf {
        let zip = self.dir.join(format!("{id}.zip"));
        if zip.exists() {
            zip
        } else {
            self.dir.join(format!("{id}.mp4"))
        }
    }

    /// A job by id.
    pub fn get(&self, id: &str) -> Result<Option<ExportJob>, ServerError> {
        let sec = &self.security;
        let job = sec
            .db()
            .query_row(
                &format!("SELECT {JOB_COLUMNS} FROM exports WHERE id = ?1"),
                [id],
                job_row,
            )
            .optional()
            .map_err(sec.e())?;
        Ok(job.map(|mut j| {
            // The live figures of a job still writing; a finished job's row is the truth (the map can
            // still hold its last 0.99 for a moment).
            if j.state == ExportState::Running
                && let Some((p, b)) = self.progress().get(id)
            {
                j.progress = *p;
                j.bytes = *b;
            }
            j
        }))
    }

    /// The file of a finished job.
    pub fn file(&self, id: &str) -> Result<Option<PathBuf>, ServerError> {
        if !valid_id(id) {
            return Ok(None);
        }
        Ok(self
            .get(id)?
            .filter(|j| j.state == ExportState::Done)
            .map(|_| self.file_of(id)))
    }

    fn set_state(
        &self,
        id: &str,
        state: ExportState,
        bytes: Option<u64>,
        error: Option<&str>,
    ) -> Result<(), ServerError> {
        let sec = &self.security;
        sec.db()
            .execute(
                "UPDATE exports SET state = ?2, bytes = coalesce(?3, bytes),
                     error = coalesce(?4, error), finished_ms = ?5 WHERE id = ?1",
                params![id, state.name(), bytes.map(|b| b as i64), error, now_ms()],
            )
            .map_err(sec.e())?;
        Ok(())
    }

    fn set_redaction(
        &self,
        id: &str,
        report: Option<&vigil_core::RedactionReport>,
    ) -> Result<(), ServerError> {
        let Some(report) = report else { return Ok(()) };
        let text = serde_json::to_string(report).unwrap_or_default();
        let sec = &self.security;
        sec.db()
            .execute(
                "UPDATE exports SET redaction = ?2 WHERE id = ?1",
                params![id, text],
            )
            .map_err(sec.e())?;
        Ok(())
    }

    /// Starts an export on a blocking thread; returns its id.
    pub fn start(&self, store: Arc<Store>, order: ExportOrder) -> Result<String, ServerError> {
        let ExportOrder {
            camera,
            start_ms,
            end_ms,
            user_id,
            evidence,
            redaction,
            filter,
        } = order;
        let camera = camera.as_str();
        if evidence.is_some() && store.site_key().is_none() {
            return Err(ServerError::Invalid(
                "this server has no site key to sign evidence with".into(),
            ));
        }
        if end_ms <= start_ms || end_ms - start_ms > MAX_RANGE_MS {
            return Err(ServerError::Invalid(format!(
                "the range must be non-empty and at most {} hours",
                MAX_RANGE_MS / 3_600_000
            )));
        }
        crate::fsmode::create_private_dir(&self.dir)?;
        let id = hex::encode(random_bytes::<16>()?);
        {
            let sec = &self.security;
            let mut db = sec.db();
            let tx = db
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(sec.e())?;
            let running: i64 = tx
                .query_row(
                    "SELECT count(*) FROM exports WHERE state = 'running'",
                    [],
                    |r| r.get(0),
                )
                .map_err(sec.e())?;
            if running as usize >= MAX_RUNNING {
                return Err(ServerError::Invalid(format!(
                    "{running} exports are running; wait for one to finish"
                )));
            }
            tx.execute(
                "INSERT INTO exports (id, user_id, camera, start_ms, end_ms, state, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6)",
                params![id, user_id, camera, start_ms, end_ms, now_ms()],
            )
            .map_err(sec.e())?;
            tx.commit().map_err(sec.e())?;
        }
        self.progress().insert(id.clone(), (0.0, 0));
        self.keep_at_most(MAX_JOBS)?;
        let job = Job {
            id: id.clone(),
            dir: self.dir.clone(),
            progress: self.progress.clone(),
            redaction,
            filter,
        };
        let (cam, me) = (camera.to_string(), self.handle());
        tokio::task::spawn_blocking(move || {
            let result = match &evidence {
                None => write_export(&store, &cam, start_ms, end_ms, &job),
                Some(opts) => {
                    write_evidence(&store, &cam, start_ms, end_ms, &job, opts, &me.security)
                }
            };
            let saved = match &result {
                Ok((bytes, report)) => me
                    .set_state(&job.id, ExportState::Done, Some(*bytes), None)
                    .and_then(|()| me.set_redaction(&job.id, report.as_ref())),
                Err(e) => {
                    let _ = std::fs::remove_file(job.part());
                    let _ = std::fs::remove_file(
                        job.dir.join(format!("{}.mp4.part.redacting", job.id)),
                    );
                    let _ = std::fs::remove_file(job.zip_part());
                    let _ = std::fs::remove_dir_all(job.bundle_dir());
                    me.set_state(&job.id, ExportState::Failed, None, Some(&e.to_string()))
                }
            };
            if let Err(e) = saved {
                tracing::error!("export {}: recording its state: {e}", job.id);
            }
            job.progress
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&job.id);
        });
        Ok(id)
    }

    /// Another handle on the same jobs (for the thread writing one).
    fn handle(&self) -> Exports {
        Exports {
            dir: self.dir.clone(),
            security: self.security.clone(),
            progress: self.progress.clone(),
        }
    }

    /// Deletes the files of the oldest finished exports beyond `n` (they expire early).
    fn keep_at_most(&self, n: usize) -> Result<(), ServerError> {
        let old = self.ids_where(
            "state = 'done' ORDER BY finished_ms DESC LIMIT -1 OFFSET ?1",
            n as i64,
        )?;
        for id in old {
            self.expire(&id, "more than the exports kept")?;
        }
        Ok(())
    }

    fn expire(&self, id: &str, why: &str) -> Result<(), ServerError> {
        let path = self.file_of(id);
        // (`file_of` gives the zip when there is one, else the MP4: one of them is the job's.)
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!("export {id} expired ({why}): deleted {}", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(ServerError::Io { path, source }),
        }
        self.set_state(id, ExportState::Expired, None, Some(why))
    }

    /// Applies the retention: finished exports older than the policy's `export_keep` expire, finished
    /// jobs whose file vanished too; files of the folder that no finished (or, unless `at_start`,
    /// running) job owns are deleted; at start, jobs still marked running were interrupted. Returns
    /// how many files were deleted.
    pub fn reap(&self, at_start: bool) -> Result<usize, ServerError> {
        let sec = &self.security;
        if at_start {
            let n = sec
                .db()
                .execute(
                    "UPDATE exports SET state = 'failed', finished_ms = ?1,
                         error = 'interrupted: the server stopped while it was being written'
                     WHERE state = 'running'",
                    [now_ms()],
                )
                .map_err(sec.e())?;
            if n > 0 {
                tracing::warn!("{n} export(s) were interrupted by the last stop");
            }
        }
        let cutoff = now_ms() - sec.policy.export_keep.as_millis() as i64;
        let old = self.ids_where("state = 'done' AND finished_ms < ?1", cutoff)?;
        let done = self.ids_where("state = 'done' AND finished_ms >= ?1", cutoff)?;
        for id in &old {
            self.expire(id, "older than the export retention")?;
        }
        for id in &done {
            if !self.file_of(id).exists() {
                self.set_state(id, ExportState::Expired, None, Some("its file is gone"))?;
            }
        }
        sec.db()
            .execute(
                "DELETE FROM exports WHERE state IN ('failed', 'expired') AND finished_ms < ?1",
                [now_ms() - FORGET_AFTER_MS],
            )
            .map_err(sec.e())?;
        self.delete_strays(at_start)
    }

    /// Ids of the jobs matching an SQL condition on `?1 = value`.
    fn ids_where(&self, condition: &str, value: i64) -> Result<Vec<String>, ServerError> {
        let sec = &self.security;
        let db = sec.db();
        let mut q = db
            .prepare(&format!("SELECT id FROM exports WHERE {condition}"))
            .map_err(sec.e())?;
        q.query_map([value], |r| r.get(0))
            .map_err(sec.e())?
            .collect::<Result<_, _>>()
            .map_err(sec.e())
    }

    /// Deletes the files of the folder no job may still use.
    fn delete_strays(&self, at_start: bool) -> Result<usize, ServerError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(source) => {
                return Err(ServerError::Io {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut deleted = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let partial_name = name
                .strip_suffix(".mp4.part.redacting")
                .or_else(|| name.strip_suffix(".mp4.part"))
                .or_else(|| name.strip_suffix(".zip.part"))
                .or_else(|| name.strip_suffix(".evidence"));
            let done_name = name
                .strip_suffix(".mp4")
                .or_else(|| name.strip_suffix(".zip"));
            let (id, partial) = match (partial_name, done_name) {
                (Some(id), _) => (id.to_string(), true),
                (None, Some(id)) => (id.to_string(), false),
                _ => {
                    tracing::warn!("{}: not an export file, left alone", entry.path().display());
                    continue;
                }
            };
            let owner = if valid_id(&id) { self.get(&id)? } else { None };
            let wanted = match owner.map(|j| j.state) {
                Some(ExportState::Done) => !partial,
                Some(ExportState::Running) => !at_start,
                _ => false,
            };
            if !wanted {
                let path = entry.path();
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                match removed {
                    Ok(()) => {
                        tracing::info!("deleted {}: no export owns it", path.display());
                        deleted += 1;
                    }
                    Err(e) => tracing::warn!("{}: {e}", path.display()),
                }
            }
        }
        Ok(deleted)
    }
}

/// One export to write.
pub struct ExportOrder {
    /// The camera.
    pub camera: String,
    /// Start (unix ms).
    pub start_ms: i64,
    /// End (unix ms).
    pub end_ms: i64,
    /// Who asked.
    pub user_id: i64,
    /// A signed evidence bundle instead of a bare MP4.
    pub evidence: Option<EvidenceOptions>,
    /// What to blur, mask and burn in.
    pub redaction: Redaction,
    /// What does it (absent: an export that needs redaction fails).
    pub filter: Option<Arc<dyn ExportFilter>>,
}

/// What exports do for privacy (`[privacy]` of the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyPolicy {
    /// What a redacted export blurs (`faces`, `plates`).
    pub redact: Redaction,
    /// Burn the exporting user and the time into every exported frame.
    pub watermark: bool,
}

impl Default for PrivacyPolicy {
    fn default() -> Self {
        Self {
            redact: Redaction {
                faces: true,
                plates: true,
                ..Redaction::default()
            },
            watermark: false,
        }
    }
}

impl PrivacyPolicy {
    /// What an export by `who` does: faces and plates blurred when `redacted`, privacy masks always,
    /// the watermark when configured.
    pub fn for_export(&self, redacted: bool, who: &str) -> Redaction {
        Redaction {
            faces: redacted && self.redact.faces,
            plates: redacted && self.redact.plates,
            masks: true,
            watermark: self.watermark_of(who),
        }
    }

    /// What a playback by `who` does: privacy masks, and the watermark when configured (faces and plates
    /// are for exports: a viewer allowed to play recordings sees them).
    pub fn for_playback(&self, who: &str) -> Redaction {
        Redaction {
            masks: true,
            watermark: self.watermark_of(who),
            ..Redaction::default()
        }
    }

    /// `who` and the time now (UTC), when watermarks are on.
    fn watermark_of(&self, who: &str) -> Option<String> {
        self.watermark.then(|| {
            let now = Time90k(vigil_core::time::now_unix_ms().saturating_mul(90));
            let stamp = vigil_store::evidence::rfc3339(now);
            format!("{who} {} UTC", stamp.get(..19).unwrap_or(&stamp))
        })
    }
}

/// What an evidence export adds to a job: written into its manifest and the audit log.
#[derive(Debug, Clone)]
pub struct EvidenceOptions {
    /// The case it belongs to.
    pub case: Option<String>,
    /// Why it is exported.
    pub reason: Option<String>,
    /// Who asks (as the audit log names them).
    pub by: String,
    /// From where.
    pub ip: String,
}

/// What the thread writing a job needs.
struct Job {
    id: String,
    dir: PathBuf,
    progress: Arc<Mutex<HashMap<String, (f64, u64)>>>,
    redaction: Redaction,
    filter: Option<Arc<dyn ExportFilter>>,
}

impl Job {
    fn part(&self) -> PathBuf {
        self.dir.join(format!("{}.mp4.part", self.id))
    }

    fn zip_part(&self) -> PathBuf {
        self.dir.join(format!("{}.zip.part", self.id))
    }

    /// The folder an evidence bundle is written into before it is zipped.
    fn bundle_dir(&self) -> PathBuf {
        self.dir.join(format!("{}.evidence", self.id))
    }

    fn set_progress(&self, fraction: f64, bytes: u64) {
        if let Some(p) = self
            .progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&self.id)
        {
            *p = (fraction.min(0.99), bytes);
        }
    }
}

/// Writes a signed evidence bundle and zips it; returns the zip's length and the redaction.
fn write_evidence(
    store: &Store,
    camera: &str,
    start_ms: i64,
    end_ms: i64,
    job: &Job,
    opts: &EvidenceOptions,
    security: &Security,
) -> Result<(u64, Option<vigil_core::RedactionReport>), ServerError> {
    let key = store
        .site_key()
        .ok_or_else(|| ServerError::Invalid("this server has no site key".into()))?;
    let request = vigil_store::evidence::EvidenceRequest {
        camera: camera.to_string(),
        stream: "main".into(),
        from: Time90k(start_ms.saturating_mul(90)),
        to: Time90k(end_ms.saturating_mul(90)),
        exported_by: opts.by.clone(),
        case: opts.case.clone(),
        reason: opts.reason.clone(),
        site: rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
        redaction: job.redaction.clone(),
    };
    let dir = job.bundle_dir();
    let manifest = vigil_store::evidence::write_bundle(
        &store.reader()?,
        &dir,
        &request,
        &key,
        job.filter.as_deref(),
        &mut |sha| {
            let detail = serde_json::json!({
                "from_ms": start_ms, "to_ms": end_ms, "sha256": sha,
                "case": opts.case, "reason": opts.reason, "export": job.id,
            })
            .to_string();
            security
                .audit(&opts.by, &opts.ip, "export.evidence", camera, &detail)
                .map(Some)
                .map_err(|e| format!("the export could not be audited: {e}"))
        },
        &mut |done, total| job.set_progress(0.9 * done as f64 / total.max(1) as f64, done),
    )?;
    let folder = format!(
        "evidence-{}-{}",
        manifest
            .camera
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            })
            .collect::<String>(),
        start_ms
    );
    let len = vigil_store::evidence::zip_bundle(&dir, &folder, &job.zip_part())?;
    let done = job.dir.join(format!("{}.zip", job.id));
    std::fs::rename(job.zip_part(), &done).map_err(|source| ServerError::Io {
        path: done.clone(),
        source,
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((len, manifest.redaction))
}

fn write_export(
    store: &Store,
    camera: &str,
    start_ms: i64,
    end_ms: i64,
    job: &Job,
) -> Result<(u64, Option<vigil_core::RedactionReport>), ServerError> {
    let export = store.reader()?.export(
        camera,
        "main",
        Time90k(start_ms.saturating_mul(90)),
        Time90k(end_ms.saturating_mul(90)),
    )?;
    let total = export.file.len().max(1);
    let part = job.part();
    let done = job.dir.join(format!("{}.mp4", job.id));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ServerError::Io { path, source }
    };
    let file = crate::fsmode::private_file(&part, true).map_err(io(&part))?;
    let mut f = std::io::BufWriter::new(file);
    // When the copy will be redacted, writing it is the first fifth of the work.
    let r = &job.redaction;
    let filtered = job.filter.as_deref().is_some_and(|f| {
        r.faces || r.plates || r.watermark.is_some() || (r.masks && f.has_masks(camera))
    });
    let share = if filtered { 0.2 } else { 1.0 };
    export
        .file
        .write_all(&mut f, &mut |written| {
            job.set_progress(share * written as f64 / total as f64, written);
        })
        .map_err(|e| ServerError::Invalid(format!("writing the export: {e}")))?;
    let f = f
        .into_inner()
        .map_err(|e| ServerError::Invalid(format!("writing the export: {e}")))?;
    f.sync_all().map_err(io(&part))?;
    drop(f);
    let report = vigil_store::filter_in_place(
        job.filter.as_deref(),
        camera,
        &job.redaction,
        &part,
        &mut |p| job.set_progress(0.2 + 0.8 * p, 0),
    )?;
    let len = match &report {
        Some(r) if r.reencoded => std::fs::metadata(&part).map_err(io(&part))?.len(),
        _ => export.file.len(),
    };
    std::fs::rename(&part, &done).map_err(io(&done))?;
    Ok((len, report))
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_exports_table_from_before_redaction_gets_its_column_once() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE exports (id TEXT PRIMARY KEY, user_id INTEGER NOT NULL, camera TEXT NOT NULL,
                 start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, state TEXT NOT NULL,
                 bytes INTEGER NOT NULL DEFAULT 0, error TEXT, created_ms INTEGER NOT NULL,
                 finished_ms INTEGER);
             INSERT INTO exports (id, user_id, camera, start_ms, end_ms, state, created_ms)
                 VALUES ('a', 1, 'gate', 0, 1, 'done', 0);",
        )
        .unwrap();
        super::migrate(&conn).unwrap();
        super::migrate(&conn).unwrap();
        let r: Option<String> = conn
            .query_row("SELECT redaction FROM exports WHERE id = 'a'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(r, None);
    }
}
