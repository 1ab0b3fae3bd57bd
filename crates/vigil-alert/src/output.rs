//! Deterrence outputs: switch a light, siren or speaker by an HTTP call or an MQTT message when a rule's
//! event starts, and optionally switch it back when the events are over.
//!
//! State per output: the set of matching events still open and whether the output is "on".
//! - A matching `start` joins the set. If the output is off and the last trigger is at least
//!   `min_interval` old (event time), the start action runs; with a reset action the output is then on.
//! - A matching `end` leaves the set. When the set is empty and the output is on, the reset action runs.
//!
//! So two cameras sharing a siren do not switch it off while one of them still sees an intruder, and a
//! momentary trigger (no reset) fires at most once per `min_interval`. HTTP calls run on the output's own
//! thread, retried within `max_delay`; MQTT messages go through the MQTT buffer with the same deadline.

use crate::config::{EventFilter, HttpAction, MqttAction, OutputConfig};
use crate::dead_letter::{DeadLetter, DeadLetterSink, Target};
use crate::http::{self, Outcome};
use crate::mqtt::{Mqtt, Record, RecordKind};
use crate::payload::now_unix_ms;
use crate::queue::{Droppable, WorkQueue};
use crate::template::{Escape, Template};
use crate::webhook::EndpointStats;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_core::{Event, EventId, EventPhase};

/// Capacity of an output's HTTP queue (triggers are never dropped for updates: there are none).
const OUTPUT_QUEUE: usize = 64;
/// Most open events remembered per output (events whose end never came are forgotten oldest first).
const MAX_ACTIVE: usize = 1024;

enum Action {
    Http {
        method: String,
        url: Template,
        body: Template,
        headers: Vec<(String, String)>,
    },
    Mqtt {
        topic: String,
        payload: Template,
        retain: bool,
    },
}

impl Action {
    fn from_config(http: &Option<HttpAction>, mqtt: &Option<MqttAction>) -> Option<Self> {
        if let Some(h) = http {
            return Some(Self::Http {
                method: h.method.to_ascii_uppercase(),
                url: Template::parse(&h.url).ok()?,
                body: Template::parse(&h.body).ok()?,
                headers: h
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.expose().to_string()))
                    .collect(),
            });
        }
        mqtt.as_ref().and_then(|m| {
            Some(Self::Mqtt {
                topic: m.topic.clone(),
                payload: Template::parse(&m.payload).ok()?,
                retain: m.retain,
            })
        })
    }
}

/// One HTTP call of an output.
#[derive(Debug, Clone)]
pub(crate) struct HttpJob {
    method: String,
    url: String,
    body: String,
    headers: Vec<(String, String)>,
    deadline: Instant,
    event_id: String,
    camera: String,
    rule: String,
    phase: EventPhase,
    queued_unix_ms: i64,
}

impl Droppable for HttpJob {
    fn droppable(&self) -> bool {
        false
    }
}

impl HttpJob {
    fn dead(&self, name: &str, attempts: u32, error: String) -> DeadLetter {
        DeadLetter {
            target: Target::Output,
            name: name.to_string(),
            event_id: self.event_id.clone(),
            camera: self.camera.clone(),
            rule: self.rule.clone(),
            phase: self.phase,
            body: self.body.clone(),
            attempts,
            error,
            queued_unix_ms: self.queued_unix_ms,
            failed_unix_ms: now_unix_ms(),
        }
    }
}

#[derive(Debug, Default)]
struct OutputState {
    active: BTreeSet<EventId>,
    on: bool,
    last_trigger_ms: Option<i64>,
}

/// A snapshot of one output (see [`crate::AlertHandle::status`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutputStatus {
    /// Its name.
    pub name: String,
    /// Start actions run.
    pub triggered: u64,
    /// Reset actions run.
    pub reset: u64,
    /// Starts that did not trigger because of `min_interval`.
    pub suppressed: u64,
    /// HTTP calls answered with 2xx.
    pub delivered: u64,
    /// HTTP calls given up (dead letters).
    pub failed: u64,
}

/// A running output.
pub(crate) struct Output {
    pub name: String,
    filter: EventFilter,
    min_interval_ms: i64,
    max_delay: Duration,
    start: Action,
    reset: Option<Action>,
    state: Mutex<OutputState>,
    pub queue: Option<Arc<WorkQueue<HttpJob>>>,
    stats: Arc<EndpointStats>,
    triggered: AtomicU64,
    resets: AtomicU64,
    dead: DeadLetterSink,
}

impl Output {
    /// Builds the output and, if it makes HTTP calls, starts its thread. The configuration must have
    /// been validated.
    pub fn start(
        config: &OutputConfig,
        dead: DeadLetterSink,
    ) -> Result<(Self, Option<std::thread::JoinHandle<()>>), crate::AlertError> {
        let bad = || crate::AlertError::config(&config.name, "http", "invalid action");
        let start = Action::from_config(&config.http, &config.mqtt).ok_or_else(bad)?;
        let reset = Action::from_config(&config.reset_http, &config.reset_mqtt);
        let stats = Arc::new(EndpointStats::default());
        let needs_http =
            matches!(start, Action::Http { .. }) || matches!(reset, Some(Action::Http { .. }));
        let (queue, thread) = if needs_http {
            let queue = Arc::new(WorkQueue::new(OUTPUT_QUEUE));
            let worker = Worker {
                name: config.name.clone(),
                timeout: Duration::from_millis(config.timeout.as_millis()),
                retries: config.retries,
                queue: queue.clone(),
                stats: stats.clone(),
                dead: dead.clone(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("output-{}", config.name))
                .spawn(move || worker.run())
                .map_err(|source| crate::AlertError::Thread {
                    what: format!("output '{}'", config.name),
                    source,
                })?;
            (Some(queue), Some(thread))
        } else {
            (None, None)
        };
        Ok((
            Self {
                name: config.name.clone(),
                filter: config.filter(),
                min_interval_ms: config.min_interval.as_millis() as i64,
                max_delay: Duration::from_millis(config.max_delay.as_millis()),
                start,
                reset,
                state: Mutex::new(OutputState::default()),
                queue,
                stats,
                triggered: AtomicU64::new(0),
                resets: AtomicU64::new(0),
                dead,
            },
            thread,
        ))
    }

    /// Reacts to an event message.
    pub fn on_event(&self, e: &Event, mqtt: Option<&Mqtt>) {
        if !self.filter.matches(e) {
            return;
        }
        let run = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            match e.phase {
                EventPhase::Start => {
                    s.active.insert(e.id);
                    if s.active.len() > MAX_ACTIVE
                        && let Some(oldest) = s.active.first().copied()
                    {
                        s.active.remove(&oldest);
                    }
                    let t = e.start.unix_ms;
                    let recent = s
                        .last_trigger_ms
                        .is_some_and(|last| t - last < self.min_interval_ms);
                    if s.on {
                        None
                    } else if recent {
                        self.stats.suppressed.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(output = %self.name, event = %e.id, "output trigger suppressed by min_interval");
                        None
                    } else {
                        s.last_trigger_ms = Some(t);
                        s.on = self.reset.is_some();
                        Some(&self.start)
                    }
                }
                EventPhase::End => {
                    let was_active = s.active.remove(&e.id);
                    if was_active && s.active.is_empty() && s.on {
                        s.on = false;
                        self.reset.as_ref()
                    } else {
                        None
                    }
                }
                EventPhase::Update => None,
            }
        };
        let Some(action) = run else {
            return;
        };
        if e.phase == EventPhase::Start {
            self.triggered.fetch_add(1, Ordering::Relaxed);
            tracing::info!(output = %self.name, camera = %e.camera, rule = %e.rule, "output triggered");
        } else {
            self.resets.fetch_add(1, Ordering::Relaxed);
            tracing::info!(output = %self.name, camera = %e.camera, rule = %e.rule, "output reset");
        }
        self.execute(action, e, mqtt);
    }

    fn execute(&self, action: &Action, e: &Event, mqtt: Option<&Mqtt>) {
        let deadline = Instant::now() + self.max_delay;
        match action {
            Action::Http {
                method,
                url,
                body,
                headers,
            } => {
                let job = HttpJob {
                    method: method.clone(),
                    url: url.render(e, Escape::Url),
                    body: body.render(e, Escape::Json),
                    headers: headers.clone(),
                    deadline,
                    event_id: e.id.to_string(),
                    camera: e.camera.clone(),
                    rule: e.rule.clone(),
                    phase: e.phase,
                    queued_unix_ms: now_unix_ms(),
                };
                let Some(queue) = &self.queue else {
                    return;
                };
                match queue.push(job) {
                    Ok(None) => {}
                    Ok(Some(dropped)) => {
                        self.stats.dead.fetch_add(1, Ordering::Relaxed);
                        self.dead
                            .emit(dropped.dead(&self.name, 0, "queue full".into()));
                    }
                    Err(job) => self.dead.emit(job.dead(&self.name, 0, "shutdown".into())),
                }
            }
            Action::Mqtt {
                topic,
                payload,
                retain,
            } => match mqtt {
                Some(m) => m.push(Record {
                    topic: topic.clone(),
                    payload: payload.render(e, Escape::Json).into_bytes().into(),
                    retain: *retain,
                    kind: RecordKind::Output {
                        name: self.name.clone(),
                        deadline,
                    },
                }),
                None => {
                    tracing::error!(output = %self.name, "MQTT output without an MQTT connection")
                }
            },
        }
    }

    /// A snapshot of the counters.
    pub fn status(&self) -> OutputStatus {
        OutputStatus {
            name: self.name.clone(),
            triggered: self.triggered.load(Ordering::Relaxed),
            reset: self.resets.load(Ordering::Relaxed),
            suppressed: self.stats.suppressed.load(Ordering::Relaxed),
            delivered: self.stats.delivered.load(Ordering::Relaxed),
            failed: self.stats.dead.load(Ordering::Relaxed),
        }
    }
}

struct Worker {
    name: String,
    timeout: Duration,
    retries: u32,
    queue: Arc<WorkQueue<HttpJob>>,
    stats: Arc<EndpointStats>,
    dead: DeadLetterSink,
}

impl Worker {
    fn run(self) {
        let agent = http::agent(self.timeout);
        while let Some(job) = self.queue.pop() {
            self.call(&agent, &job);
        }
        for job in self.queue.drain_all() {
            self.give_up(&job, 0, "shutdown: not sent before the deadline".into());
        }
    }

    fn call(&self, agent: &ureq::Agent, job: &HttpJob) {
        let mut attempt = 0;
        loop {
            if Instant::now() > job.deadline {
                return self.give_up(job, attempt, "not sent within max_delay".into());
            }
            attempt += 1;
            let outcome = http::call(
                agent,
                &job.method,
                &job.url,
                &job.headers,
                job.body.as_bytes(),
            );
            let (error, retry_after) = match outcome {
                Outcome::Delivered(_) => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Outcome::Fail(error) => return self.give_up(job, attempt, error),
                Outcome::Retry { error, retry_after } => (error, retry_after),
            };
            if attempt > self.retries {
                return self.give_up(job, attempt, format!("{error} after {attempt} tries"));
            }
            let wait = http::backoff(
                attempt,
                Duration::from_millis(200),
                Duration::from_secs(2),
                retry_after,
            );
            if Instant::now() + wait > job.deadline {
                return self.give_up(job, attempt, format!("{error}; max_delay reached"));
            }
            tracing::warn!(output = %self.name, attempt, "output call failed: {error}; retrying");
            self.stats.retried.fetch_add(1, Ordering::Relaxed);
            let wake = Instant::now() + wait;
            if self.queue.sleep(wait).is_some() {
                std::thread::sleep(wake.saturating_duration_since(Instant::now()));
            }
        }
    }

    fn give_up(&self, job: &HttpJob, attempts: u32, error: String) {
        self.stats.dead.fetch_add(1, Ordering::Relaxed);
        self.dead.emit(job.dead(&self.name, attempts, error));
    }
}
