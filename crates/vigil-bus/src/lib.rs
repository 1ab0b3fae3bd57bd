//! The event bus: the one road every event travels from the rules engine to its consumers (alerts, the
//! event store, the live UI, later the site uplink), bounded, with a stated policy for each consumer that
//! falls behind. Design: [`docs/design/events.md`](../../../docs/design/events.md).
//!
//! - [`Bus::publish`] never waits: it appends to each subscriber's own queue and returns. The analysis
//!   thread that publishes is never held back by a slow disk or network.
//! - Each [`Subscription`] has a capacity and an [`Overflow`] policy: the live UI drops its oldest
//!   messages, the event store first *coalesces* (a newer update of the same event replaces a queued one)
//!   and *sheds* heavy payloads (snapshot images) before it drops anything; every drop is counted.
//! - [`Subscription::recv`] (threads) and [`Subscription::recv_async`] (tokio tasks) take messages in
//!   order; [`Subscription::run`] handles each message under `catch_unwind`, so a consumer that panics on
//!   one message logs it, counts it and goes on with the next.
//! - [`Bus::stats`] reports every subscriber's depth, lag (age of its oldest message), drops and panics,
//!   for `/metrics` and health.

mod message;
pub mod overlay;
mod queue;

pub use message::{CountsMessage, EventMessage, Message, Snapshot, StatusMessage, ViewMessage};
pub use overlay::{OverlayFrame, OverlayObject, OverlaySender, overlay_channel};
pub use queue::{Overflow, Subscription, SubscriptionStats};

use std::sync::{Arc, RwLock};

/// What a bus message may offer its queue: a weight in bytes, merging with an older message it
/// supersedes, and shedding a heavy payload under pressure. The defaults do none of these.
pub trait Payload: Clone + Send + Sync + 'static {
    /// Bytes this message holds beyond its fixed size (e.g. snapshot images).
    fn weight(&self) -> usize {
        0
    }
    /// Folds `newer` into `self` when `newer` supersedes it (same event, later state); returns false when
    /// the two are unrelated and both must be kept.
    fn absorb(&mut self, _newer: &Self) -> bool {
        false
    }
    /// Drops this message's heavy payload, returning the bytes freed (0 when there is nothing to shed).
    fn shed(&mut self) -> usize {
        0
    }
}

/// A bounded fan-out of messages of type `M` to any number of subscribers. Cheap to clone; when the last
/// clone is dropped, subscribers drain what is queued and then see the end.
pub struct Bus<M: Payload> {
    inner: Arc<Subscribers<M>>,
}

struct Subscribers<M: Payload> {
    list: RwLock<Vec<Arc<queue::Queue<M>>>>,
}

impl<M: Payload> Drop for Subscribers<M> {
    fn drop(&mut self) {
        for q in self
            .list
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            q.close_publisher();
        }
    }
}

impl<M: Payload> Clone for Bus<M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<M: Payload> Default for Bus<M> {
    fn default() -> Self {
        Self {
            inner: Arc::new(Subscribers {
                list: RwLock::new(Vec::new()),
            }),
        }
    }
}

impl<M: Payload> Bus<M> {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new subscriber named `name` (for logs and metrics), receiving every message published from now
    /// on, queued up to `capacity` messages and `max_bytes` of payload, handled per `overflow` beyond.
    pub fn subscribe(
        &self,
        name: &str,
        capacity: usize,
        max_bytes: usize,
        overflow: Overflow,
    ) -> Subscription<M> {
        let q = Arc::new(queue::Queue::new(name, capacity, max_bytes, overflow));
        self.inner
            .list
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(q.clone());
        Subscription::new(q)
    }

    /// Hands `message` to every subscriber without waiting. Subscribers whose receiving end is gone are
    /// forgotten.
    pub fn publish(&self, message: M) {
        let subs = self.inner.list.read().unwrap_or_else(|p| p.into_inner());
        let mut gone = false;
        for q in subs.iter() {
            gone |= !q.push(message.clone());
        }
        drop(subs);
        if gone {
            self.inner
                .list
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|q| !q.is_closed());
        }
    }

    /// Every live subscriber's figures.
    pub fn stats(&self) -> Vec<SubscriptionStats> {
        self.inner
            .list
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|q| q.stats())
            .collect()
    }
}

/// The bus `vigil run` uses: events, counts and camera status from every camera's analysis.
pub type EventBus = Bus<Message>;

#[cfg(test)]
mod tests;
