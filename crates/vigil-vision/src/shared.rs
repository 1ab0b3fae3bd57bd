//! A model shared by every camera of a process: a few loaded instances (one per core is enough: a call
//! keeps its core busy), each behind its own lock, lent to whichever camera's stage asks.
//!
//! The identity stages (face recognition, plate reading, re-identification) sample tracks a few times a
//! second, not every frame, so one instance per camera would sit idle almost all the time while holding
//! its weights and its ONNX Runtime arena (tens of MB per camera for the five identity models). Sharing
//! keeps the memory of a box with many cameras flat; the price is a wait when two cameras need the same
//! model at the same moment and every instance is busy, which at a few calls per second per camera is
//! rare and short.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Instances of one model, lent one call at a time.
pub struct SharedModel<T> {
    slots: Vec<Mutex<T>>,
    next: AtomicUsize,
}

impl<T> std::fmt::Debug for SharedModel<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedModel({} instances)", self.slots.len())
    }
}

impl<T> SharedModel<T> {
    /// A pool of `instances` (at least one: an empty list gives `None`).
    pub fn new(instances: Vec<T>) -> Option<Arc<SharedModel<T>>> {
        if instances.is_empty() {
            return None;
        }
        Some(Arc::new(SharedModel {
            slots: instances.into_iter().map(Mutex::new).collect(),
            next: AtomicUsize::new(0),
        }))
    }

    /// A pool of one instance (tests, one-camera commands).
    pub fn single(instance: T) -> Arc<SharedModel<T>> {
        Arc::new(SharedModel {
            slots: vec![Mutex::new(instance)],
            next: AtomicUsize::new(0),
        })
    }

    /// How many instances it holds.
    pub fn instances(&self) -> usize {
        self.slots.len()
    }

    fn guard(m: &Mutex<T>) -> MutexGuard<'_, T> {
        // A panic during a call leaves the model as it was: its state is its weights.
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on a free instance, or waits for one (taking turns, so no instance is favoured).
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            let slot = &self.slots[(start + i) % n];
            match slot.try_lock() {
                Ok(mut m) => return f(&mut m),
                Err(std::sync::TryLockError::Poisoned(p)) => return f(&mut p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        f(&mut Self::guard(&self.slots[start]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_at_once_run_once_each_and_spread_over_the_instances() {
        let pool = SharedModel::new(vec![0usize, 0]).unwrap();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..50 {
                        pool.with(|calls| {
                            *calls += 1;
                            std::thread::yield_now();
                        });
                    }
                });
            }
        });
        let calls: Vec<usize> = pool
            .slots
            .iter()
            .map(|m| *m.lock().unwrap_or_else(|p| p.into_inner()))
            .collect();
        assert_eq!(calls.iter().sum::<usize>(), 400, "every call ran once");
        assert!(
            calls.iter().all(|&c| c > 0),
            "both instances were used: {calls:?}"
        );
        assert!(SharedModel::<u8>::new(Vec::new()).is_none());
    }
}
