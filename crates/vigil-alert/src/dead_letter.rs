//! Dead letters: deliveries that failed for good, handed to the binary to persist (and logged).

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use vigil_core::EventPhase;

/// Capacity of the dead-letter channel; past it, dead letters are logged and counted but not queued.
pub const DEAD_LETTER_CAPACITY: usize = 1024;

/// What failed to deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A `[[webhook]]`.
    Webhook,
    /// A deterrence `[[output]]` HTTP call.
    Output,
}

/// A delivery that failed for good: after the last try, refused by the receiver (4xx), dropped from a full
/// queue (starts and ends only), or still pending at shutdown. Carries what is needed to send it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Webhook or output.
    pub target: Target,
    /// Its configured name.
    pub name: String,
    /// The event id.
    pub event_id: String,
    /// Camera name.
    pub camera: String,
    /// Rule name.
    pub rule: String,
    /// The event message's phase (for outputs: `start` for a trigger, `end` for a reset).
    pub phase: EventPhase,
    /// The request body that was (to be) sent.
    pub body: String,
    /// Tries made (0 when it never left the queue).
    pub attempts: u32,
    /// Why it failed (`HTTP 500`, `connection refused`, `queue full`, `shutdown`...).
    pub error: String,
    /// When it was queued (unix ms).
    pub queued_unix_ms: i64,
    /// When it was given up (unix ms).
    pub failed_unix_ms: i64,
}

/// The receiving end of dead letters, returned by [`crate::Alerts::start`]. Bounded
/// ([`DEAD_LETTER_CAPACITY`]): read it (or drop it, and rely on the logs).
pub type DeadLetters = mpsc::Receiver<DeadLetter>;

/// Where the delivery threads put dead letters.
#[derive(Debug, Clone)]
pub(crate) struct DeadLetterSink {
    tx: mpsc::Sender<DeadLetter>,
    pub lost: Arc<AtomicU64>,
}

impl DeadLetterSink {
    pub fn new() -> (Self, DeadLetters) {
        let (tx, rx) = mpsc::channel(DEAD_LETTER_CAPACITY);
        (
            Self {
                tx,
                lost: Arc::new(AtomicU64::new(0)),
            },
            rx,
        )
    }

    /// Logs the dead letter and queues it for the binary without ever blocking.
    pub fn emit(&self, d: DeadLetter) {
        tracing::error!(
            target_kind = ?d.target,
            name = %d.name,
            event = %d.event_id,
            camera = %d.camera,
            rule = %d.rule,
            attempts = d.attempts,
            "delivery failed for good: {}",
            d.error
        );
        if self.tx.try_send(d).is_err() {
            let n = self.lost.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_power_of_two() {
                tracing::error!("dead-letter channel full or closed: {n} dead letters only logged");
            }
        }
    }
}
