//! Recording integrity checks run by the server (`/api/integrity/checks*`): `vigil verify recordings` as a
//! background job, one at a time (it hashes every file in range), with its progress and report kept for
//! the last [`KEEP`] checks, and its start and outcome in the audit log (`recordings.verify`).

use serde::Serialize;
use std::sync::{Arc, Mutex, MutexGuard};
use vigil_store::IntegrityReport;

/// Checks kept, newest first.
pub const KEEP: usize = 20;

/// Where a check is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    /// Hashing.
    Running,
    /// Finished: see `report` (problems, if any, are in it).
    Done,
    /// Could not run (the index could not be read): see `error`.
    Failed,
}

/// One check, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct IntegrityCheck {
    /// Its number (1, 2, ... since the server started).
    pub id: u64,
    /// Who asked for it.
    pub requested_by: String,
    /// When it started (unix ms).
    pub started: i64,
    /// When it ended (unix ms).
    pub ended: Option<i64>,
    /// Only this camera (`None`: all).
    pub camera: Option<String>,
    /// Range checked (unix ms; `None`: everything).
    pub start: Option<i64>,
    /// End of the range.
    pub end: Option<i64>,
    /// Where it is.
    pub state: CheckState,
    /// Bytes hashed so far.
    pub hashed: u64,
    /// Bytes to hash.
    pub total: u64,
    /// The result, once done.
    pub report: Option<IntegrityReport>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The checks of this server.
#[derive(Default, Clone)]
pub struct IntegrityChecks {
    inner: Arc<Mutex<(u64, Vec<IntegrityCheck>)>>,
}

impl IntegrityChecks {
    fn lock(&self) -> MutexGuard<'_, (u64, Vec<IntegrityCheck>)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new running check, or returns the id of the one still running.
    pub fn start(
        &self,
        requested_by: &str,
        camera: Option<String>,
        range: (Option<i64>, Option<i64>),
    ) -> Result<u64, u64> {
        let mut g = self.lock();
        if let Some(running) = g.1.iter().find(|c| c.state == CheckState::Running) {
            return Err(running.id);
        }
        g.0 += 1;
        let id = g.0;
        g.1.insert(
            0,
            IntegrityCheck {
                id,
                requested_by: requested_by.to_string(),
                started: vigil_core::time::now_unix_ms(),
                ended: None,
                camera,
                start: range.0,
                end: range.1,
                state: CheckState::Running,
                hashed: 0,
                total: 0,
                report: None,
                error: None,
            },
        );
        g.1.truncate(KEEP);
        Ok(id)
    }

    /// Records progress of check `id`.
    pub fn progress(&self, id: u64, hashed: u64, total: u64) {
        if let Some(c) = self.lock().1.iter_mut().find(|c| c.id == id) {
            c.hashed = hashed;
            c.total = total;
        }
    }

    /// Ends check `id` with its result.
    pub fn finish(&self, id: u64, result: Result<IntegrityReport, String>) {
        if let Some(c) = self.lock().1.iter_mut().find(|c| c.id == id) {
            c.ended = Some(vigil_core::time::now_unix_ms());
            match result {
                Ok(r) => {
                    c.state = CheckState::Done;
                    c.hashed = r.bytes;
                    c.total = c.total.max(r.bytes);
                    c.report = Some(r);
                }
                Err(e) => {
                    c.state = CheckState::Failed;
                    c.error = Some(e);
                }
            }
        }
    }

    /// Every check kept, newest first.
    pub fn list(&self) -> Vec<IntegrityCheck> {
        self.lock().1.clone()
    }

    /// Check `id`.
    pub fn get(&self, id: u64) -> Option<IntegrityCheck> {
        self.lock().1.iter().find(|c| c.id == id).cloned()
    }
}
