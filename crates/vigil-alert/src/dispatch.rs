//! The dispatcher the binary calls: start it once, hand it every event message, counts, camera status and
//! pictures, and shut it down at exit. What is published about cameras besides events is in
//! [`crate::entities`].

use crate::config::AlertConfig;
use crate::controls::Controls;
use crate::dead_letter::{DeadLetterSink, DeadLetters};
use crate::error::AlertError;
use crate::mqtt::{Mqtt, MqttStatus, Record, RecordKind};
use crate::output::{Output, OutputStatus};
use crate::payload::{EventMessage, now_unix_ms};
use crate::template::{Escape, Template};
use crate::webhook::{Webhook, WebhookStatus};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_core::{Event, EventId, EventKind, EventPhase};

/// Starts alert delivery.
pub struct Alerts;

impl Alerts {
    /// Checks the configuration, connects to the MQTT broker (in the background: an unreachable broker is
    /// retried, not an error) and starts one delivery thread per webhook and per HTTP output. An empty
    /// `[mqtt] client_id` or `topic_prefix` is derived from the host name and `config.data_dir`
    /// ([`crate::mqtt::Instance`]).
    ///
    /// Must be called inside a tokio runtime (the MQTT connection is a task on it). Returns the handle
    /// and the receiving end of dead letters: deliveries that failed for good, for the binary to persist.
    pub fn start(config: AlertConfig) -> Result<(AlertHandle, DeadLetters), AlertError> {
        config.validate()?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(AlertError::NoRuntime);
        }
        let controls = Arc::new(Controls::load(config.data_dir.as_deref()));
        let (dead, dead_rx) = DeadLetterSink::new();
        let mut threads = Vec::new();
        let mut webhooks = Vec::new();
        let mut outputs = Vec::new();
        let started = (|| {
            for w in &config.webhook {
                let (hook, thread) = Webhook::start(w, dead.clone())?;
                webhooks.push(hook);
                threads.push(thread);
            }
            for o in &config.output {
                let (out, thread) = Output::start(o, dead.clone())?;
                outputs.push(out);
                threads.extend(thread);
            }
            config
                .mqtt
                .as_ref()
                .map(|m| Mqtt::start(&m.resolved(config.data_dir.as_deref()), controls.clone()))
                .transpose()
        })();
        let mqtt = match started {
            Ok(m) => m,
            Err(e) => {
                // Stop the threads already started.
                let now = Instant::now();
                webhooks.iter().for_each(|w| w.queue.close(now));
                outputs
                    .iter()
                    .filter_map(|o| o.queue.as_ref())
                    .for_each(|q| q.close(now));
                return Err(e);
            }
        };
        let link = |t: &Option<String>| t.as_deref().and_then(|t| Template::parse(t).ok());
        let inner = Inner {
            snapshot_url: link(&config.links.snapshot_url),
            clip_url: link(&config.links.clip_url),
            ui_url: config.links.ui_url.clone(),
            mqtt,
            webhooks,
            outputs,
            dead,
            threads: Mutex::new(threads),
            closed: AtomicBool::new(false),
            controls,
            known: Mutex::new(HashSet::new()),
            open: Mutex::new(HashMap::new()),
            cameras: Mutex::new(HashMap::new()),
        };
        Ok((
            AlertHandle {
                inner: Arc::new(inner),
            },
            dead_rx,
        ))
    }
}

pub(crate) struct Inner {
    pub mqtt: Option<Mqtt>,
    webhooks: Vec<Webhook>,
    outputs: Vec<Output>,
    snapshot_url: Option<Template>,
    clip_url: Option<Template>,
    /// The web UI, for Home Assistant's "Visit" links.
    pub ui_url: Option<String>,
    dead: DeadLetterSink,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    closed: AtomicBool,
    /// Camera switches.
    pub controls: Arc<Controls>,
    /// Entities whose discovery configs and initial states are already set: (kind, camera, item).
    pub known: Mutex<HashSet<(u8, String, String)>>,
    /// Open events per (camera, rule).
    open: Mutex<HashMap<(String, String), OpenEvents>>,
    /// Per camera: motion hold and picture timing.
    pub cameras: Mutex<HashMap<String, crate::entities::CameraState>>,
}

/// Open events remembered per rule for its flag; past this the oldest is forgotten (its end is lost).
const MAX_OPEN_PER_RULE: usize = 4096;

/// A rule's open events: its flag is `ON` while any is open (per-object rules have one event per person,
/// which end one by one), and its attributes describe the one updated last.
#[derive(Default)]
struct OpenEvents {
    events: BTreeMap<EventId, OpenEvent>,
    seq: u64,
}

/// One open event of a rule.
struct OpenEvent {
    /// When it was last updated (a sequence number).
    seq: u64,
    /// Its latest message.
    body: Arc<[u8]>,
    /// Crossings already announced as Home Assistant events (in, out).
    announced: (u32, u32),
}

/// What one event message changes for its rule.
struct RuleChange {
    /// The rule has an open event.
    on: bool,
    /// The rule's attributes: the latest message of the open event updated last, or this message.
    attributes: Arc<[u8]>,
    /// New crossings of a line crossing event: (inbound, outbound).
    crossings: (u32, u32),
}

impl OpenEvents {
    fn apply(&mut self, event: &Event, body: &Arc<[u8]>) -> RuleChange {
        let counts = match event.kind {
            EventKind::LineCrossing {
                inbound_count,
                outbound_count,
                ..
            } => (inbound_count, outbound_count),
            _ => (0, 0),
        };
        let announced = self.events.get(&event.id).map_or((0, 0), |e| e.announced);
        let crossings = (
            counts.0.saturating_sub(announced.0),
            counts.1.saturating_sub(announced.1),
        );
        let total = (counts.0.max(announced.0), counts.1.max(announced.1));
        self.seq += 1;
        if event.phase == EventPhase::End {
            self.events.remove(&event.id);
        } else {
            self.events.insert(
                event.id,
                OpenEvent {
                    seq: self.seq,
                    body: body.clone(),
                    announced: total,
                },
            );
            if self.events.len() > MAX_OPEN_PER_RULE {
                self.events.pop_first();
            }
        }
        let attributes = self
            .events
            .values()
            .max_by_key(|e| e.seq)
            .map_or_else(|| body.clone(), |e| e.body.clone());
        RuleChange {
            on: !self.events.is_empty(),
            attributes,
            crossings,
        }
    }
}

/// A snapshot of every delivery channel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertStatus {
    /// The MQTT side, when configured.
    pub mqtt: Option<MqttStatus>,
    /// Each webhook.
    pub webhooks: Vec<WebhookStatus>,
    /// Each output.
    pub outputs: Vec<OutputStatus>,
    /// Dead letters that found the channel full or closed (logged only).
    pub dead_letters_lost: u64,
}

/// What was left undelivered at shutdown.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShutdownReport {
    /// MQTT messages still buffered or unacknowledged.
    pub mqtt_unsent: usize,
    /// MQTT state topics not sent.
    pub mqtt_states_unsent: usize,
    /// True when every task and thread finished before the timeout.
    pub clean: bool,
}

/// The handle the binary uses to publish; cheap to clone and shareable between threads. Every method
/// returns at once: the work is queued (bounded queues, see the crate documentation for the policies).
#[derive(Clone)]
pub struct AlertHandle {
    pub(crate) inner: Arc<Inner>,
}

impl AlertHandle {
    /// Delivers one event message from the rules engine: MQTT (event topic, rule flag, the rule's
    /// attributes, and for line crossings one Home Assistant event per crossing), matching webhooks, and
    /// deterrence outputs.
    pub fn publish_event(&self, event: &Event) {
        if self.inner.closed.load(Ordering::Relaxed) {
            tracing::warn!(event = %event.id, "event published after alert shutdown: not delivered");
            return;
        }
        let mut msg = EventMessage::new(event, now_unix_ms());
        msg.snapshot_url = self
            .inner
            .snapshot_url
            .as_ref()
            .map(|t| t.render(event, Escape::Url));
        msg.clip_url = self
            .inner
            .clip_url
            .as_ref()
            .map(|t| t.render(event, Escape::Url));
        let body: Arc<[u8]> = match serde_json::to_vec(&msg) {
            Ok(b) => b.into(),
            Err(e) => {
                tracing::error!(event = %event.id, "event message not serializable: {e}");
                return;
            }
        };
        if let Some(m) = &self.inner.mqtt {
            self.ensure_rule(m, &event.camera, &event.rule, event.kind.name());
            let change = {
                let mut open = self.inner.open.lock().unwrap_or_else(|p| p.into_inner());
                open.entry((event.camera.clone(), event.rule.clone()))
                    .or_default()
                    .apply(event, &body)
            };
            let flag: &[u8] = if change.on { b"ON" } else { b"OFF" };
            m.push_with_states(
                Record {
                    topic: m.topics.event(&event.camera, &event.rule),
                    payload: body.clone(),
                    retain: false,
                    kind: RecordKind::Event(event.phase),
                },
                vec![
                    (
                        m.topics.rule_active(&event.camera, &event.rule),
                        flag.to_vec(),
                        flag.to_vec(),
                    ),
                    (
                        m.topics.rule_event(&event.camera, &event.rule),
                        change.attributes.to_vec(),
                        change.attributes.to_vec(),
                    ),
                ],
            );
            let (inbound, outbound) = change.crossings;
            for (event_type, count) in [("in", inbound), ("out", outbound)] {
                if count > 0 {
                    self.publish_crossing(m, &msg, event_type, count);
                }
            }
        }
        for w in &self.inner.webhooks {
            w.offer(event, &body);
        }
        for o in &self.inner.outputs {
            o.on_event(event, self.inner.mqtt.as_ref());
        }
    }

    /// One Home Assistant event for new crossings of a line crossing rule.
    fn publish_crossing(&self, m: &Mqtt, msg: &EventMessage, event_type: &str, count: u32) {
        let doc = serde_json::json!({
            "event_type": event_type,
            "count": count,
            "class": msg.class,
            "line": msg.line,
            "event_id": msg.id,
            "track_ids": msg.track_ids,
            "description": msg.description,
        });
        let Ok(payload) = serde_json::to_vec(&doc) else {
            return;
        };
        m.push(Record {
            topic: m.topics.rule_crossing(&msg.camera, &msg.rule),
            payload: payload.into(),
            retain: false,
            kind: RecordKind::Event(EventPhase::Start),
        });
    }

    /// Counters and queue lengths of every channel.
    pub fn status(&self) -> AlertStatus {
        AlertStatus {
            mqtt: self.inner.mqtt.as_ref().map(Mqtt::status),
            webhooks: self.inner.webhooks.iter().map(Webhook::status).collect(),
            outputs: self.inner.outputs.iter().map(Output::status).collect(),
            dead_letters_lost: self.inner.dead.lost.load(Ordering::Relaxed),
        }
    }

    /// Stops taking messages and delivers what is queued within `timeout`: MQTT messages and states are
    /// flushed, `offline` is published and the connection closed cleanly; webhooks finish their queues
    /// (what cannot finish in time becomes dead letters). Later calls return at once.
    pub async fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return ShutdownReport {
                clean: true,
                ..Default::default()
            };
        }
        let deadline = Instant::now() + timeout;
        for w in &self.inner.webhooks {
            w.queue.close(deadline);
        }
        for o in &self.inner.outputs {
            if let Some(q) = &o.queue {
                q.close(deadline);
            }
        }
        let mut report = ShutdownReport {
            clean: true,
            ..Default::default()
        };
        if let Some(m) = &self.inner.mqtt {
            m.lock().closing = Some(deadline);
            m.notify.notify_one();
            let wait = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
            let finished = tokio::time::timeout(wait, async {
                while !m.task.is_finished() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
            .is_ok();
            if !finished {
                m.task.abort();
                report.clean = false;
            }
            let g = m.lock();
            report.mqtt_unsent = g.outbox.len();
            report.mqtt_states_unsent = g.states.dirty_count();
        }
        let threads: Vec<_> =
            std::mem::take(&mut *self.inner.threads.lock().unwrap_or_else(|p| p.into_inner()));
        let joined = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        });
        let wait = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
        if tokio::time::timeout(wait, joined).await.is_err() {
            report.clean = false;
        }
        report
    }
}
