//! One subscriber's bounded queue, its overflow policy and its figures.

use crate::Payload;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::Notify;
use tracing::{error, warn};

/// How far back a new message looks for a queued one it supersedes.
const ABSORB_SCAN: usize = 256;

/// What a full queue does with the next message. Before either, a message that supersedes a queued one
/// replaces it ([`Payload::absorb`]), and heavy payloads are shed oldest first when over the byte budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// Drop the oldest queued message: for views where the newest state matters (the live UI).
    DropOldest,
    /// Keep what is queued and drop the new message, loudly: for consumers that must see every message in
    /// order (the event store) and whose capacity is sized for minutes of a stalled disk.
    DropNewest,
}

struct State<M> {
    items: VecDeque<(Instant, M)>,
    bytes: usize,
}

pub(crate) struct Queue<M> {
    name: String,
    capacity: usize,
    max_bytes: usize,
    overflow: Overflow,
    state: Mutex<State<M>>,
    ready: Condvar,
    notify: Notify,
    publisher_gone: AtomicBool,
    receiver_gone: AtomicBool,
    received: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    coalesced: AtomicU64,
    shed: AtomicU64,
    panics: AtomicU64,
    max_depth: AtomicU64,
}

/// A subscriber's figures.
#[derive(Debug, Clone, Serialize)]
pub struct SubscriptionStats {
    /// The subscriber's name.
    pub name: String,
    /// Its policy when full.
    pub overflow: Overflow,
    /// Capacity in messages.
    pub capacity: usize,
    /// Messages queued now.
    pub depth: usize,
    /// Most messages ever queued at once.
    pub max_depth: u64,
    /// Payload bytes queued now.
    pub bytes: usize,
    /// Age of the oldest queued message (how far behind the consumer is), milliseconds.
    pub lag_ms: u64,
    /// Messages offered to this subscriber.
    pub received: u64,
    /// Messages it took.
    pub delivered: u64,
    /// Messages dropped because the queue was full.
    pub dropped: u64,
    /// Messages merged into a queued message they superseded (nothing lost).
    pub coalesced: u64,
    /// Heavy payloads (snapshot images) shed to stay within the byte budget.
    pub shed: u64,
    /// Messages whose handling panicked (logged; the consumer went on).
    pub panics: u64,
}

impl<M: Payload> Queue<M> {
    pub(crate) fn new(name: &str, capacity: usize, max_bytes: usize, overflow: Overflow) -> Self {
        Self {
            name: name.to_string(),
            capacity: capacity.max(1),
            max_bytes,
            overflow,
            state: Mutex::new(State {
                items: VecDeque::new(),
                bytes: 0,
            }),
            ready: Condvar::new(),
            notify: Notify::new(),
            publisher_gone: AtomicBool::new(false),
            receiver_gone: AtomicBool::new(false),
            received: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            max_depth: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<M>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.receiver_gone.load(Ordering::Relaxed)
    }

    /// Queues `message` under the policy; false when the receiver is gone.
    pub(crate) fn push(&self, mut message: M) -> bool {
        if self.is_closed() {
            return false;
        }
        self.received.fetch_add(1, Ordering::Relaxed);
        let mut st = self.lock();
        let absorbed = st
            .items
            .iter_mut()
            .rev()
            .take(ABSORB_SCAN)
            .find_map(|(_, queued)| {
                let before = queued.weight();
                queued
                    .absorb(&message)
                    .then(|| queued.weight() as isize - before as isize)
            });
        if let Some(delta) = absorbed {
            st.bytes = st.bytes.saturating_add_signed(delta);
            self.coalesced.fetch_add(1, Ordering::Relaxed);
        } else {
            if st.items.len() >= self.capacity {
                if self.overflow == Overflow::DropOldest
                    && let Some((_, old)) = st.items.pop_front()
                {
                    st.bytes = st.bytes.saturating_sub(old.weight());
                }
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    warn!(
                        consumer = self.name,
                        dropped = n,
                        capacity = self.capacity,
                        "event bus: consumer is a full queue behind; messages dropped ({:?})",
                        self.overflow
                    );
                }
                if self.overflow == Overflow::DropNewest {
                    return true;
                }
            }
            st.bytes += message.weight();
            if st.bytes > self.max_bytes {
                // Shed heavy payloads, oldest first, then the new message's own.
                let State { items, bytes } = &mut *st;
                for (_, queued) in items.iter_mut() {
                    if *bytes <= self.max_bytes {
                        break;
                    }
                    let freed = queued.shed();
                    if freed > 0 {
                        *bytes = bytes.saturating_sub(freed);
                        self.shed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if st.bytes > self.max_bytes {
                    let freed = message.shed();
                    st.bytes = st.bytes.saturating_sub(freed);
                    if freed > 0 {
                        self.shed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let n = self.shed.load(Ordering::Relaxed);
                if n.is_power_of_two() {
                    warn!(
                        consumer = self.name,
                        shed = n,
                        "event bus: consumer is behind by more than its byte budget; snapshot images shed"
                    );
                }
            }
            st.items.push_back((Instant::now(), message));
            self.max_depth
                .fetch_max(st.items.len() as u64, Ordering::Relaxed);
        }
        drop(st);
        self.ready.notify_one();
        self.notify.notify_one();
        true
    }

    fn try_pop(&self) -> Option<M> {
        let mut st = self.lock();
        let (_, m) = st.items.pop_front()?;
        st.bytes = st.bytes.saturating_sub(m.weight());
        drop(st);
        self.delivered.fetch_add(1, Ordering::Relaxed);
        Some(m)
    }

    pub(crate) fn close_publisher(&self) {
        self.publisher_gone.store(true, Ordering::Release);
        // Take the lock so that a receiver between its check and its wait cannot miss this.
        drop(self.lock());
        self.ready.notify_all();
        self.notify.notify_one();
    }

    pub(crate) fn stats(&self) -> SubscriptionStats {
        let st = self.lock();
        let lag_ms = st
            .items
            .front()
            .map_or(0, |(t, _)| t.elapsed().as_millis() as u64);
        SubscriptionStats {
            name: self.name.clone(),
            overflow: self.overflow,
            capacity: self.capacity,
            depth: st.items.len(),
            max_depth: self.max_depth.load(Ordering::Relaxed),
            bytes: st.bytes,
            lag_ms,
            received: self.received.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            shed: self.shed.load(Ordering::Relaxed),
            panics: self.panics.load(Ordering::Relaxed),
        }
    }
}

/// The receiving end of one subscriber. Dropping it unsubscribes.
pub struct Subscription<M: Payload> {
    q: Arc<Queue<M>>,
}

impl<M: Payload> Drop for Subscription<M> {
    fn drop(&mut self) {
        self.q.receiver_gone.store(true, Ordering::Relaxed);
    }
}

impl<M: Payload> Subscription<M> {
    pub(crate) fn new(q: Arc<Queue<M>>) -> Self {
        Self { q }
    }

    /// The subscriber's name.
    pub fn name(&self) -> &str {
        &self.q.name
    }

    /// The next message, waiting for one; `None` once every publisher is gone and the queue is empty.
    /// For threads (it blocks).
    pub fn recv(&self) -> Option<M> {
        let mut st = self.q.lock();
        loop {
            if let Some((_, m)) = st.items.pop_front() {
                st.bytes = st.bytes.saturating_sub(m.weight());
                drop(st);
                self.q.delivered.fetch_add(1, Ordering::Relaxed);
                return Some(m);
            }
            if self.q.publisher_gone.load(Ordering::Acquire) {
                return None;
            }
            st = self.q.ready.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The next message if one is queued, without waiting.
    pub fn try_recv(&self) -> Option<M> {
        self.q.try_pop()
    }

    /// The next message, awaiting one; `None` once every publisher is gone and the queue is empty. For
    /// async tasks.
    pub async fn recv_async(&self) -> Option<M> {
        loop {
            let notified = self.q.notify.notified();
            if let Some(m) = self.q.try_pop() {
                return Some(m);
            }
            if self.q.publisher_gone.load(Ordering::Acquire) {
                return self.q.try_pop();
            }
            notified.await;
        }
    }

    /// Handles every message with `handle` until the publishers are gone, on this thread. A panic while
    /// handling one message is caught, logged with the consumer's name and counted; the next message is
    /// handled as usual.
    pub fn run(self, mut handle: impl FnMut(M)) {
        while let Some(m) = self.recv() {
            self.guard(|| handle(m));
        }
    }

    /// Like [`Subscription::run`], in an async task, for a handler that does not wait.
    pub async fn run_async(self, mut handle: impl FnMut(M)) {
        while let Some(m) = self.recv_async().await {
            self.guard(|| handle(m));
        }
    }

    /// Runs `f`, catching and counting a panic.
    pub fn guard(&self, f: impl FnOnce()) {
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            let n = self.q.panics.fetch_add(1, Ordering::Relaxed) + 1;
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            error!(
                consumer = self.q.name,
                panics = n,
                "event consumer panicked on a message and goes on with the next: {what}"
            );
        }
    }

    /// This subscriber's figures.
    pub fn stats(&self) -> SubscriptionStats {
        self.q.stats()
    }
}
