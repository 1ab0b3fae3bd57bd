//! The event store's consumer of the event bus: one thread that writes every event message (a batch per
//! transaction, on the event connection), then its snapshot files, so that a slow disk slows this
//! writer and nothing else. Its lag (the age of the oldest message it has not written) is the bus
//! subscription's, on `/metrics` and in health; see `docs/design/events.md`.

use crate::Store;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;
use tracing::warn;
use vigil_bus::{Message, Subscription};
use vigil_core::latency::{LatencySummary, LatencyWindow};

/// Most event messages written in one transaction.
const BATCH: usize = 64;

/// What the event writer has done.
#[derive(Debug, Default)]
pub struct EventWriterStats {
    /// Event messages stored.
    pub written: AtomicU64,
    /// Event messages that could not be stored (logged).
    pub failed: AtomicU64,
    /// Snapshots saved.
    pub snapshots: AtomicU64,
    /// Snapshots that could not be saved (logged).
    pub snapshot_failures: AtomicU64,
    latency: std::sync::Mutex<Option<LatencyWindow>>,
}

impl EventWriterStats {
    /// Time per batch written (rows committed and snapshots saved), last 1024 batches.
    pub fn batch_latency(&self) -> LatencySummary {
        self.latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(LatencyWindow::summary)
            .unwrap_or_default()
    }

    fn record(&self, started: Instant) {
        self.latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert_with(|| LatencyWindow::new(1024))
            .push(started.elapsed());
    }
}

/// The running event writer.
pub struct EventWriter {
    thread: Option<JoinHandle<()>>,
    /// Its figures.
    pub stats: Arc<EventWriterStats>,
}

impl EventWriter {
    /// Starts the writer thread (`event-writer`) on `subscription`. It ends when the bus's publishers
    /// are gone and everything queued is written.
    pub fn start(store: Arc<Store>, subscription: Subscription<Message>) -> std::io::Result<Self> {
        let stats = Arc::new(EventWriterStats::default());
        let s = stats.clone();
        let thread = std::thread::Builder::new()
            .name("event-writer".into())
            .spawn(move || run(&store, subscription, &s))?;
        Ok(Self {
            thread: Some(thread),
            stats,
        })
    }

    /// Waits until everything queued is written (the bus's publishers must be gone).
    pub fn join(mut self) {
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the event writer thread panicked");
        }
    }
}

fn run(store: &Store, sub: Subscription<Message>, stats: &EventWriterStats) {
    while let Some(first) = sub.recv() {
        let mut batch = Vec::with_capacity(BATCH);
        let mut appearances = Vec::new();
        let mut paths = Vec::new();
        for m in std::iter::once(first).chain(std::iter::from_fn(|| sub.try_recv())) {
            match m {
                Message::Event(e) => batch.push(e),
                Message::Appearance(a) => appearances.push((*a).clone()),
                Message::TrackPath(p) => paths.push(p),
                _ => {}
            }
            if batch.len() + appearances.len() + paths.len() >= BATCH {
                break;
            }
        }
        if !paths.is_empty()
            && let Err(err) = store.record_paths(&paths)
        {
            warn!("{} object paths not stored: {err}", paths.len());
        }
        if !appearances.is_empty()
            && let Err(err) = store.record_appearances(&appearances)
        {
            warn!(
                "{} people's appearances not stored: {err}",
                appearances.len()
            );
        }
        if batch.is_empty() {
            continue;
        }
        let started = Instant::now();
        sub.guard(|| write_batch(store, &batch, stats));
        stats.record(started);
    }
}

fn write_batch(store: &Store, batch: &[Arc<vigil_bus::EventMessage>], stats: &EventWriterStats) {
    let events: Vec<vigil_core::Event> = batch.iter().map(|m| m.event.clone()).collect();
    match store.record_events(&events) {
        Ok(_) => {
            stats
                .written
                .fetch_add(events.len() as u64, Ordering::Relaxed);
        }
        Err(batch_err) => {
            // One bad message fails its batch: write them one by one so only that one is lost.
            warn!("event batch not stored ({batch_err}); storing its events one by one");
            for e in &events {
                match store.record_event(e) {
                    Ok(_) => stats.written.fetch_add(1, Ordering::Relaxed),
                    Err(err) => {
                        warn!(event = %e.id, camera = e.camera, rule = e.rule, "event not stored: {err}");
                        stats.failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }
    }
    for m in batch {
        let Some(snap) = &m.snapshot else { continue };
        match store.save_snapshot(m.event.id, &snap.full, snap.crop.as_deref()) {
            Ok(_) => stats.snapshots.fetch_add(1, Ordering::Relaxed),
            Err(err) => {
                warn!(event = %m.event.id, camera = m.event.camera, "snapshot not saved: {err}");
                stats.snapshot_failures.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}
