//! Webhooks: each matching event message is POSTed as JSON by the webhook's own thread, signed, retried
//! with exponential backoff, and dead-lettered when it cannot be delivered.
//!
//! # Request
//!
//! ```text
//! POST <url>
//! Content-Type: application/json
//! User-Agent: vigil/<version>
//! X-Vigil-Event: <event id>
//! X-Vigil-Timestamp: <unix seconds when this try was made>
//! X-Vigil-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>   (when a secret is set)
//!
//! <the event message JSON, see crate::EventMessage>
//! ```
//!
//! # Verifying a request
//!
//! 1. Take the `X-Vigil-Timestamp` value `t` and the raw body bytes `b` (before any JSON parsing).
//! 2. Compute `HMAC-SHA256(secret, t + "." + b)` and write it as lower-case hex.
//! 3. Compare it with the `X-Vigil-Signature` value after `sha256=`, in constant time.
//! 4. Refuse `t` more than 5 minutes from your clock (replays). Each retry is signed afresh.
//!
//! In Python: `hmac.compare_digest(sig, hmac.new(secret, t.encode() + b"." + body, "sha256").hexdigest())`;
//! from a shell: `printf '%s.%s' "$t" "$body" | openssl dgst -sha256 -hmac "$secret"`.
//!
//! # Retries and order
//!
//! One delivery at a time per webhook, in order. Connection errors, timeouts, 5xx, 408 and 429 are retried
//! `retries` times, waiting `retry_delay` doubling up to `retry_delay_max` (or `Retry-After`, when longer);
//! other answers are final. While a delivery waits for its retry the ones after it wait too, so the receiver
//! sees each event's start, updates and end in order.

use crate::config::{EventFilter, WebhookConfig};
use crate::dead_letter::{DeadLetter, DeadLetterSink, Target};
use crate::http::{self, Outcome};
use crate::payload::now_unix_ms;
use crate::queue::{Droppable, WorkQueue};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_core::{Event, EventId, EventPhase};

/// The signature header value for a body: `sha256=` and the hex HMAC-SHA256 of `"<timestamp>.<body>"`.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length; new_from_slice cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// One queued delivery.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub event_id: String,
    pub camera: String,
    pub rule: String,
    pub phase: EventPhase,
    pub body: Arc<[u8]>,
    pub queued_unix_ms: i64,
}

impl Droppable for Delivery {
    fn droppable(&self) -> bool {
        self.phase == EventPhase::Update
    }
}

impl Delivery {
    fn dead(&self, name: &str, attempts: u32, error: String) -> DeadLetter {
        DeadLetter {
            target: Target::Webhook,
            name: name.to_string(),
            event_id: self.event_id.clone(),
            camera: self.camera.clone(),
            rule: self.rule.clone(),
            phase: self.phase,
            body: String::from_utf8_lossy(&self.body).into_owned(),
            attempts,
            error,
            queued_unix_ms: self.queued_unix_ms,
            failed_unix_ms: now_unix_ms(),
        }
    }
}

/// Counters of one webhook or output.
#[derive(Debug, Default)]
pub(crate) struct EndpointStats {
    pub delivered: AtomicU64,
    pub retried: AtomicU64,
    pub dead: AtomicU64,
    pub dropped: AtomicU64,
    pub suppressed: AtomicU64,
}

/// A snapshot of one webhook (see [`crate::AlertHandle::status`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WebhookStatus {
    /// Its name.
    pub name: String,
    /// Deliveries waiting.
    pub queued: usize,
    /// Deliveries answered with 2xx.
    pub delivered: u64,
    /// Retries made.
    pub retried: u64,
    /// Deliveries given up (dead letters).
    pub dead: u64,
    /// Updates dropped from a full queue (starts and ends dropped are dead letters).
    pub dropped: u64,
    /// Messages not sent because of `min_interval`.
    pub suppressed: u64,
}

/// `min_interval` per camera and rule: a start within the interval of the last one let through is
/// suppressed along with the rest of its event.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval_ms: i64,
    last_start: HashMap<(String, String), i64>,
    suppressed: HashSet<EventId>,
    order: VecDeque<EventId>,
}

const MAX_SUPPRESSED: usize = 4096;

impl RateLimiter {
    pub fn new(interval_ms: u64) -> Self {
        Self {
            interval_ms: interval_ms as i64,
            last_start: HashMap::new(),
            suppressed: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// True when the message may go out. Works on event times, so it is deterministic.
    pub fn admit(&mut self, e: &Event) -> bool {
        if self.interval_ms <= 0 {
            return true;
        }
        match e.phase {
            EventPhase::Start => {
                let key = (e.camera.to_lowercase(), e.rule.to_lowercase());
                let t = e.start.unix_ms;
                if let Some(&last) = self.last_start.get(&key)
                    && t - last < self.interval_ms
                {
                    if self.suppressed.insert(e.id) {
                        self.order.push_back(e.id);
                        if self.order.len() > MAX_SUPPRESSED
                            && let Some(old) = self.order.pop_front()
                        {
                            self.suppressed.remove(&old);
                        }
                    }
                    return false;
                }
                self.last_start.insert(key, t);
                true
            }
            EventPhase::Update => !self.suppressed.contains(&e.id),
            EventPhase::End => !self.suppressed.remove(&e.id),
        }
    }
}

/// A running webhook.
pub(crate) struct Webhook {
    pub name: String,
    filter: EventFilter,
    limiter: Mutex<RateLimiter>,
    pub queue: Arc<WorkQueue<Delivery>>,
    pub stats: Arc<EndpointStats>,
    dead: DeadLetterSink,
}

impl Webhook {
    /// Starts the webhook's delivery thread.
    pub fn start(
        config: &WebhookConfig,
        dead: DeadLetterSink,
    ) -> Result<(Self, std::thread::JoinHandle<()>), crate::AlertError> {
        let queue = Arc::new(WorkQueue::new(config.queue));
        let stats = Arc::new(EndpointStats::default());
        let worker = Worker {
            config: config.clone(),
            queue: queue.clone(),
            stats: stats.clone(),
            dead: dead.clone(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("webhook-{}", config.name))
            .spawn(move || worker.run())
            .map_err(|source| crate::AlertError::Thread {
                what: format!("webhook '{}'", config.name),
                source,
            })?;
        Ok((
            Self {
                name: config.name.clone(),
                filter: config.filter(),
                limiter: Mutex::new(RateLimiter::new(config.min_interval.as_millis())),
                queue,
                stats,
                dead,
            },
            thread,
        ))
    }

    /// Queues the event message if this webhook wants it.
    pub fn offer(&self, e: &Event, body: &Arc<[u8]>) {
        if !self.filter.matches_except_phase(e) {
            return;
        }
        let phases_ok = self.filter.phase_matches(e.phase);
        // The limiter sees every phase (a suppressed start suppresses its end), then the phase filter.
        let admitted = self
            .limiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(e);
        if !admitted {
            if phases_ok {
                self.stats.suppressed.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        if !phases_ok {
            return;
        }
        let d = Delivery {
            event_id: e.id.to_string(),
            camera: e.camera.clone(),
            rule: e.rule.clone(),
            phase: e.phase,
            body: body.clone(),
            queued_unix_ms: now_unix_ms(),
        };
        match self.queue.push(d) {
            Ok(None) => {}
            Ok(Some(dropped)) => self.dropped(dropped),
            Err(d) => {
                self.stats.dead.fetch_add(1, Ordering::Relaxed);
                self.dead
                    .emit(d.dead(&self.name, 0, "shutdown: no longer accepting".into()));
            }
        }
    }

    fn dropped(&self, d: Delivery) {
        if d.droppable() {
            let n = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_power_of_two() {
                tracing::warn!(webhook = %self.name, "webhook queue full: {n} updates dropped so far");
            }
        } else {
            self.stats.dead.fetch_add(1, Ordering::Relaxed);
            self.dead.emit(d.dead(&self.name, 0, "queue full".into()));
        }
    }

    /// A snapshot of the counters.
    pub fn status(&self) -> WebhookStatus {
        WebhookStatus {
            name: self.name.clone(),
            queued: self.queue.lock().q.len(),
            delivered: self.stats.delivered.load(Ordering::Relaxed),
            retried: self.stats.retried.load(Ordering::Relaxed),
            dead: self.stats.dead.load(Ordering::Relaxed),
            dropped: self.stats.dropped.load(Ordering::Relaxed),
            suppressed: self.stats.suppressed.load(Ordering::Relaxed),
        }
    }
}

struct Worker {
    config: WebhookConfig,
    queue: Arc<WorkQueue<Delivery>>,
    stats: Arc<EndpointStats>,
    dead: DeadLetterSink,
}

impl Worker {
    fn run(self) {
        let agent = http::agent(Duration::from_millis(self.config.timeout.as_millis()));
        while let Some(d) = self.queue.pop() {
            self.deliver(&agent, &d);
        }
        for d in self.queue.drain_all() {
            self.stats.dead.fetch_add(1, Ordering::Relaxed);
            self.dead.emit(d.dead(
                &self.config.name,
                0,
                "shutdown: not delivered before the deadline".into(),
            ));
        }
    }

    fn headers(&self, d: &Delivery, timestamp: &str) -> Vec<(String, String)> {
        let mut h = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("X-Vigil-Event".to_string(), d.event_id.clone()),
            ("X-Vigil-Timestamp".to_string(), timestamp.to_string()),
        ];
        if let Some(secret) = &self.config.secret {
            h.push((
                "X-Vigil-Signature".to_string(),
                signature(secret.expose().as_bytes(), timestamp, &d.body),
            ));
        }
        for (k, v) in &self.config.headers {
            h.push((k.clone(), v.expose().to_string()));
        }
        h
    }

    fn deliver(&self, agent: &ureq::Agent, d: &Delivery) {
        let name = &self.config.name;
        let first = Duration::from_millis(self.config.retry_delay.as_millis());
        let max = Duration::from_millis(self.config.retry_delay_max.as_millis());
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let timestamp = (now_unix_ms() / 1000).to_string();
            let outcome = http::call(
                agent,
                "POST",
                &self.config.url,
                &self.headers(d, &timestamp),
                &d.body,
            );
            let (error, retry_after) = match outcome {
                Outcome::Delivered(status) => {
                    tracing::debug!(webhook = %name, event = %d.event_id, status, attempt, "webhook delivered");
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Outcome::Fail(error) => {
                    return self.give_up(d, attempt, format!("{error} (not retried)"));
                }
                Outcome::Retry { error, retry_after } => (error, retry_after),
            };
            if attempt > self.config.retries {
                return self.give_up(d, attempt, format!("{error} after {attempt} tries"));
            }
            let wait = http::backoff(attempt, first, max, retry_after);
            tracing::warn!(
                webhook = %name,
                event = %d.event_id,
                attempt,
                "webhook failed: {error}; retrying in {:.1} s",
                wait.as_secs_f64()
            );
            self.stats.retried.fetch_add(1, Ordering::Relaxed);
            let wake = Instant::now() + wait;
            if let Some(deadline) = self.queue.sleep(wait) {
                if wake > deadline {
                    return self.give_up(
                        d,
                        attempt,
                        format!("shutdown before the next try (last error: {error})"),
                    );
                }
                std::thread::sleep(wake.saturating_duration_since(Instant::now()));
            }
        }
    }

    fn give_up(&self, d: &Delivery, attempts: u32, error: String) {
        self.stats.dead.fetch_add(1, Ordering::Relaxed);
        self.dead.emit(d.dead(&self.config.name, attempts, error));
    }
}

/// Posts one JSON body that is not an event (a scheduled report's summary) to the webhook `config`, now,
/// on the calling thread: headers and signature as for events (`X-Vigil-Timestamp`, `X-Vigil-Signature`),
/// with `X-Vigil-Report: <id>` instead of `X-Vigil-Event`, retried as configured. Returns the receiver's
/// status, or why it was not delivered.
pub fn post_once(config: &WebhookConfig, id: &str, body: &[u8]) -> Result<u16, String> {
    let agent = http::agent(Duration::from_millis(config.timeout.as_millis()));
    let first = Duration::from_millis(config.retry_delay.as_millis());
    let max = Duration::from_millis(config.retry_delay_max.as_millis());
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let timestamp = (now_unix_ms() / 1000).to_string();
        let mut h = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("X-Vigil-Report".to_string(), id.to_string()),
            ("X-Vigil-Timestamp".to_string(), timestamp.clone()),
        ];
        if let Some(secret) = &config.secret {
            h.push((
                "X-Vigil-Signature".to_string(),
                signature(secret.expose().as_bytes(), &timestamp, body),
            ));
        }
        for (k, v) in &config.headers {
            h.push((k.clone(), v.expose().to_string()));
        }
        let (error, retry_after) = match http::call(&agent, "POST", &config.url, &h, body) {
            Outcome::Delivered(status) => return Ok(status),
            Outcome::Fail(error) => return Err(format!("{error} (not retried)")),
            Outcome::Retry { error, retry_after } => (error, retry_after),
        };
        if attempt > config.retries {
            return Err(format!("{error} after {attempt} tries"));
        }
        std::thread::sleep(http::backoff(attempt, first, max, retry_after));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::event;

    #[test]
    fn signature_matches_an_independent_hmac() {
        // Python: hmac.new(b"Jefe", b'1717000000.{"a":1}', "sha256").hexdigest() (openssl dgst agrees).
        let sig = signature(b"Jefe", "1717000000", br#"{"a":1}"#);
        assert_eq!(
            sig,
            "sha256=71267699fb656bb67c2f0378bd6a9521feded64729b091974eba83b0aeb1a1c6"
        );
    }

    #[test]
    fn a_suppressed_start_takes_its_updates_and_end_with_it() {
        let mut rl = RateLimiter::new(60_000);
        let mut a = event("cam", "rule", EventPhase::Start, 1);
        a.start.unix_ms = 1_000_000;
        let mut b = event("cam", "rule", EventPhase::Start, 2);
        b.start.unix_ms = 1_030_000;
        let mut c = event("cam", "rule", EventPhase::Start, 3);
        c.start.unix_ms = 1_061_000;
        let other = event("cam", "other rule", EventPhase::Start, 4);
        assert!(rl.admit(&a));
        assert!(!rl.admit(&b));
        assert!(rl.admit(&other));
        b.phase = EventPhase::Update;
        assert!(!rl.admit(&b));
        b.phase = EventPhase::End;
        assert!(!rl.admit(&b));
        a.phase = EventPhase::End;
        assert!(rl.admit(&a));
        assert!(rl.admit(&c));
    }
}
