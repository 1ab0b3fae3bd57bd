//! The detectors shared by all cameras of a process.
//!
//! The bundled models take one image per run, so cameras cannot be batched into one call; instead the pool
//! holds `workers` sessions (each with its own intra-op threads) and lends one to whichever camera needs it.
//! A camera waits when all are busy — its analysis falls behind, and its decoder skips frames (newest
//! frame wins), while recording is unaffected.

use crate::PipelineError;
use std::sync::{Condvar, Mutex, MutexGuard};
use vigil_vision::detector::{Detector, DetectorConfig};
use vigil_vision::model::{ModelFile, ModelSpec};
use vigil_vision::runtime::Runtime;

/// A fixed set of detectors lent out one call at a time.
pub struct DetectorPool {
    spec: ModelSpec,
    free: Mutex<Vec<Detector>>,
    returned: Condvar,
    size: usize,
}

impl std::fmt::Debug for DetectorPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetectorPool")
            .field("model", &self.spec.name)
            .field("size", &self.size)
            .finish()
    }
}

impl DetectorPool {
    /// `workers` detectors for `model`, each configured with `config` (its `threads` per session).
    pub fn new(
        runtime: &Runtime,
        model: &ModelFile,
        config: DetectorConfig,
        workers: usize,
    ) -> Result<Self, PipelineError> {
        let workers = workers.max(1);
        let detectors = (0..workers)
            .map(|_| Detector::new(runtime, model, config.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_detectors(detectors).ok_or_else(|| PipelineError::Config("no detector".into()))
    }

    /// A pool of already loaded detectors (all of the same model); `None` when empty.
    pub fn from_detectors(detectors: Vec<Detector>) -> Option<Self> {
        let spec = detectors.first()?.spec().clone();
        Some(Self {
            spec,
            size: detectors.len(),
            free: Mutex::new(detectors),
            returned: Condvar::new(),
        })
    }

    /// The model all detectors of the pool run.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Number of detectors.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Runs `f` with a free detector, waiting until one is free. The detector goes back to the pool
    /// afterwards, also if `f` panics.
    pub fn with<R>(&self, f: impl FnOnce(&mut Detector) -> R) -> R {
        let mut free = self.lock();
        let detector = loop {
            if let Some(d) = free.pop() {
                break d;
            }
            free = self
                .returned
                .wait(free)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        };
        drop(free);
        let mut lease = Lease {
            pool: self,
            detector: Some(detector),
        };
        match lease.detector.as_mut() {
            Some(d) => f(d),
            None => unreachable!("a lease always holds its detector until dropped"),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Detector>> {
        // A panic while holding the lock cannot leave the Vec inconsistent (push/pop only).
        self.free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct Lease<'a> {
    pool: &'a DetectorPool,
    detector: Option<Detector>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(d) = self.detector.take() {
            self.pool.lock().push(d);
            self.pool.returned.notify_one();
        }
    }
}
