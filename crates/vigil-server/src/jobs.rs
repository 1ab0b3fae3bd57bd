//! Long work the server runs in the background for a user (recording integrity checks, erasures by
//! blurring): one of a kind at a time, with its progress while it runs and its outcome afterwards, the
//! last [`KEEP`] of each kind kept in memory (the audit log keeps the record).

use serde::Serialize;
use std::sync::{Arc, Mutex, MutexGuard};

/// Jobs kept per kind, newest first.
pub const KEEP: usize = 20;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Working.
    Running,
    /// Finished: see `report`.
    Done,
    /// Could not finish: see `error`.
    Failed,
}

/// One job as the API shows it: what was asked (`S`, its fields inline), its progress (`P`, inline) and
/// its report (`R`).
#[derive(Debug, Clone, Serialize)]
pub struct Job<S, P, R> {
    /// Its number (1, 2, ... since the server started).
    pub id: u64,
    /// Who asked for it.
    pub requested_by: String,
    /// When it started (unix ms).
    pub started: i64,
    /// When it ended (unix ms).
    pub ended: Option<i64>,
    /// What was asked.
    #[serde(flatten)]
    pub scope: S,
    /// Where it is.
    pub state: JobState,
    /// How far it is.
    #[serde(flatten)]
    pub progress: P,
    /// The result, once done.
    pub report: Option<R>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The last job number given, and the jobs kept (newest first).
type Kept<S, P, R> = (u64, Vec<Job<S, P, R>>);

/// The jobs of one kind.
pub struct Jobs<S, P, R> {
    inner: Arc<Mutex<Kept<S, P, R>>>,
}

impl<S, P, R> Clone for Jobs<S, P, R> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S, P, R> Default for Jobs<S, P, R> {
    fn default() -> Self {
        Self {
            inner: Arc::new(Mutex::new((0, Vec::new()))),
        }
    }
}

impl<S: Clone, P: Clone + Default, R: Clone> Jobs<S, P, R> {
    fn lock(&self) -> MutexGuard<'_, Kept<S, P, R>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new running job, or returns the id of the one still running.
    pub fn start(&self, requested_by: &str, scope: S) -> Result<u64, u64> {
        let mut g = self.lock();
        if let Some(running) = g.1.iter().find(|c| c.state == JobState::Running) {
            return Err(running.id);
        }
        g.0 += 1;
        let id = g.0;
        g.1.insert(
            0,
            Job {
                id,
                requested_by: requested_by.to_string(),
                started: vigil_core::time::now_unix_ms(),
                ended: None,
                scope,
                state: JobState::Running,
                progress: P::default(),
                report: None,
                error: None,
            },
        );
        g.1.truncate(KEEP);
        Ok(id)
    }

    /// Records the progress of job `id`.
    pub fn progress(&self, id: u64, progress: P) {
        if let Some(c) = self.lock().1.iter_mut().find(|c| c.id == id) {
            c.progress = progress;
        }
    }

    /// Ends job `id` with its result.
    pub fn finish(&self, id: u64, result: Result<R, String>) {
        if let Some(c) = self.lock().1.iter_mut().find(|c| c.id == id) {
            c.ended = Some(vigil_core::time::now_unix_ms());
            match result {
                Ok(r) => {
                    c.state = JobState::Done;
                    c.report = Some(r);
                }
                Err(e) => {
                    c.state = JobState::Failed;
                    c.error = Some(e);
                }
            }
        }
    }

    /// Every job kept, newest first.
    pub fn list(&self) -> Vec<Job<S, P, R>> {
        self.lock().1.clone()
    }

    /// Job `id`.
    pub fn get(&self, id: u64) -> Option<Job<S, P, R>> {
        self.lock().1.iter().find(|c| c.id == id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_job_of_a_kind_runs_at_a_time_and_the_last_are_kept() {
        let jobs: Jobs<String, u64, String> = Jobs::default();
        let a = jobs.start("ann", "first".into()).unwrap();
        assert_eq!(jobs.start("bob", "second".into()), Err(a));
        jobs.progress(a, 7);
        assert_eq!(jobs.get(a).map(|j| j.progress), Some(7));
        jobs.finish(a, Err("disk gone".into()));
        let b = jobs.start("bob", "second".into()).unwrap();
        jobs.finish(b, Ok("fine".into()));
        let all = jobs.list();
        assert_eq!(all.iter().map(|j| j.id).collect::<Vec<_>>(), vec![b, a]);
        assert_eq!(all[0].state, JobState::Done);
        assert_eq!(all[1].error.as_deref(), Some("disk gone"));
        for _ in 0..KEEP + 3 {
            let id = jobs.start("ann", "more".into()).unwrap();
            jobs.finish(id, Ok(String::new()));
        }
        assert_eq!(jobs.list().len(), KEEP);
    }
}
