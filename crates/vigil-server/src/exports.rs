//! Export jobs: an MP4 of a camera's recording over a time range, written in the background to
//! `data_dir/exports/<id>.mp4` with progress, then served as an attachment. Ids are 128-bit random hex,
//! so a file path is never built from anything a client chose.

use crate::auth::random_bytes;
use crate::error::ServerError;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use vigil_core::Time90k;
use vigil_store::Store;

/// Exports running at once.
pub const MAX_RUNNING: usize = 2;
/// Jobs remembered (the oldest finished ones and their files are dropped beyond it).
pub const MAX_JOBS: usize = 100;
/// Longest range exported (24 h).
pub const MAX_RANGE_MS: i64 = 24 * 3600 * 1000;

/// State of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportState {
    /// Being written.
    Running,
    /// Ready to download.
    Done,
    /// Failed (see `error`).
    Failed,
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
    /// User who asked.
    #[serde(skip)]
    pub user_id: i64,
    #[serde(skip)]
    seq: u64,
}

/// The export jobs.
pub struct Exports {
    dir: PathBuf,
    jobs: Arc<Mutex<HashMap<String, ExportJob>>>,
    seq: std::sync::atomic::AtomicU64,
}

/// Whether `id` has the shape of an export id.
pub fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl Exports {
    /// Jobs writing into `dir`.
    pub fn new(dir: PathBuf) -> Exports {
        Exports {
            dir,
            jobs: Arc::new(Mutex::new(HashMap::new())),
            seq: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ExportJob>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A job by id.
    pub fn get(&self, id: &str) -> Option<ExportJob> {
        self.lock().get(id).cloned()
    }

    /// The file of a finished job.
    pub fn file(&self, id: &str) -> Option<PathBuf> {
        if !valid_id(id) {
            return None;
        }
        let job = self.get(id)?;
        (job.state == ExportState::Done).then(|| self.dir.join(format!("{id}.mp4")))
    }

    /// Starts an export on a blocking thread; returns its id.
    pub fn start(
        &self,
        store: Arc<Store>,
        camera: &str,
        start_ms: i64,
        end_ms: i64,
        user_id: i64,
    ) -> Result<String, ServerError> {
        if end_ms <= start_ms || end_ms - start_ms > MAX_RANGE_MS {
            return Err(ServerError::Invalid(format!(
                "the range must be non-empty and at most {} hours",
                MAX_RANGE_MS / 3_600_000
            )));
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| ServerError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let id = hex::encode(random_bytes::<16>()?);
        {
            let mut jobs = self.lock();
            let running = jobs
                .values()
                .filter(|j| j.state == ExportState::Running)
                .count();
            if running >= MAX_RUNNING {
                return Err(ServerError::Invalid(format!(
                    "{running} exports are running; wait for one to finish"
                )));
            }
            while jobs.len() >= MAX_JOBS {
                let oldest = jobs
                    .values()
                    .filter(|j| j.state != ExportState::Running)
                    .min_by_key(|j| j.seq)
                    .map(|j| j.id.clone());
                let Some(old) = oldest else { break };
                jobs.remove(&old);
                let _ = std::fs::remove_file(self.dir.join(format!("{old}.mp4")));
            }
            jobs.insert(
                id.clone(),
                ExportJob {
                    id: id.clone(),
                    camera: camera.to_string(),
                    start: start_ms,
                    end: end_ms,
                    state: ExportState::Running,
                    progress: 0.0,
                    bytes: 0,
                    error: None,
                    user_id,
                    seq: self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                },
            );
        }
        let jobs = self.jobs.clone();
        let (job_id, cam, dir) = (id.clone(), camera.to_string(), self.dir.clone());
        tokio::task::spawn_blocking(move || {
            let result = write_export(&store, &cam, start_ms, end_ms, &dir, &job_id, &jobs);
            let mut jobs = jobs.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(j) = jobs.get_mut(&job_id) {
                match result {
                    Ok(bytes) => {
                        j.state = ExportState::Done;
                        j.progress = 1.0;
                        j.bytes = bytes;
                    }
                    Err(e) => {
                        j.state = ExportState::Failed;
                        j.error = Some(e.to_string());
                    }
                }
            }
        });
        Ok(id)
    }
}

fn write_export(
    store: &Store,
    camera: &str,
    start_ms: i64,
    end_ms: i64,
    dir: &std::path::Path,
    id: &str,
    jobs: &Mutex<HashMap<String, ExportJob>>,
) -> Result<u64, ServerError> {
    let export = store.reader()?.export(
        camera,
        "main",
        Time90k(start_ms.saturating_mul(90)),
        Time90k(end_ms.saturating_mul(90)),
    )?;
    let total = export.file.len().max(1);
    let part = dir.join(format!("{id}.mp4.part"));
    let done = dir.join(format!("{id}.mp4"));
    let io = |path: &PathBuf| {
        let path = path.clone();
        move |source| ServerError::Io { path, source }
    };
    let mut f = std::io::BufWriter::new(std::fs::File::create(&part).map_err(io(&part))?);
    let mut written = 0u64;
    export
        .file
        .write_all(&mut f, &mut |n| {
            written = n;
            if let Some(j) = jobs.lock().unwrap_or_else(|p| p.into_inner()).get_mut(id) {
                j.progress = (written as f64 / total as f64).min(0.99);
                j.bytes = written;
            }
        })
        .map_err(|e| ServerError::Invalid(format!("writing the export: {e}")))?;
    let f = f
        .into_inner()
        .map_err(|e| ServerError::Invalid(format!("writing the export: {e}")))?;
    f.sync_all().map_err(io(&part))?;
    std::fs::rename(&part, &done).map_err(io(&done))?;
    Ok(export.file.len())
}
