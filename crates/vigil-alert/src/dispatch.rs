//! The dispatcher the binary calls: start it once, hand it every event message, counts and camera status,
//! and shut it down at exit.

use crate::config::AlertConfig;
use crate::dead_letter::{DeadLetterSink, DeadLetters};
use crate::error::AlertError;
use crate::mqtt::{
    CameraEntities, Discovery, Mqtt, MqttStatus, RANK_DISCOVERY, RANK_VALUE, Record, RecordKind,
};
use crate::output::{Output, OutputStatus};
use crate::payload::{
    CameraStatus, CameraStatusMessage, EventMessage, LineCountMessage, ZoneOccupancyMessage,
    now_unix_ms,
};
use crate::template::{Escape, Template};
use crate::webhook::{Webhook, WebhookStatus};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_core::{Event, EventId, EventPhase};
use vigil_rules::{LineCounts, ZoneOccupancy};

/// Starts alert delivery.
pub struct Alerts;

impl Alerts {
    /// Checks the configuration, connects to the MQTT broker (in the background: an unreachable broker is
    /// retried, not an error) and starts one delivery thread per webhook and per HTTP output.
    ///
    /// Must be called inside a tokio runtime (the MQTT connection is a task on it). Returns the handle
    /// and the receiving end of dead letters: deliveries that failed for good, for the binary to persist.
    pub fn start(config: AlertConfig) -> Result<(AlertHandle, DeadLetters), AlertError> {
        config.validate()?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(AlertError::NoRuntime);
        }
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
            config.mqtt.as_ref().map(Mqtt::start).transpose()
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
            mqtt,
            webhooks,
            outputs,
            dead,
            threads: Mutex::new(threads),
            closed: AtomicBool::new(false),
            known: Mutex::new(HashSet::new()),
            open: Mutex::new(HashMap::new()),
        };
        Ok((
            AlertHandle {
                inner: Arc::new(inner),
            },
            dead_rx,
        ))
    }
}

struct Inner {
    mqtt: Option<Mqtt>,
    webhooks: Vec<Webhook>,
    outputs: Vec<Output>,
    snapshot_url: Option<Template>,
    clip_url: Option<Template>,
    dead: DeadLetterSink,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    closed: AtomicBool,
    /// Entities whose discovery configs and initial states are already set: (kind, camera, item).
    known: Mutex<HashSet<(u8, String, String)>>,
    /// Open events per (camera, rule): a rule's flag is `ON` while any of its events is open (per-object
    /// rules have one event per person, which end one by one).
    open: Mutex<HashMap<(String, String), BTreeSet<EventId>>>,
}

/// Open events remembered per rule for its flag; past this the oldest is forgotten (its end is lost).
const MAX_OPEN_PER_RULE: usize = 4096;

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
    inner: Arc<Inner>,
}

impl AlertHandle {
    /// Announces a camera's rules, lines and zones, so their Home Assistant entities exist before the
    /// first event (anything not announced gets its entity when first seen). Rule flags start `OFF`.
    pub fn register_camera(&self, entities: &CameraEntities) {
        let Some(m) = &self.inner.mqtt else {
            return;
        };
        for rule in &entities.rules {
            self.ensure_rule(m, &entities.camera, rule);
        }
        for line in &entities.lines {
            self.ensure_line(m, &entities.camera, line);
        }
        for zone in &entities.zones {
            self.ensure_zone(m, &entities.camera, zone);
        }
        self.ensure_camera(m, &entities.camera);
    }

    /// True the first time an entity is seen (so its configs are built once, not per message).
    fn first_sight(&self, kind: u8, camera: &str, item: &str) -> bool {
        let mut known = self.inner.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.contains(&(kind, camera.to_string(), item.to_string())) {
            return false;
        }
        if known.len() >= crate::mqtt::MAX_STATE_TOPICS {
            return false;
        }
        known.insert((kind, camera.to_string(), item.to_string()))
    }

    fn discovery_docs(&self, m: &Mqtt, docs: Vec<(String, serde_json::Value)>) {
        for (topic, doc) in docs {
            let bytes = serde_json::to_vec(&doc).unwrap_or_default();
            m.set_state(RANK_DISCOVERY, topic, bytes.clone(), bytes);
        }
    }

    fn discovery<'a>(&self, m: &'a Mqtt) -> Option<Discovery<'a>> {
        m.discovery.then_some(Discovery {
            topics: &m.topics,
            qos: m.qos,
        })
    }

    fn ensure_rule(&self, m: &Mqtt, camera: &str, rule: &str) {
        if !self.first_sight(0, camera, rule) {
            return;
        }
        let active = m.topics.rule_active(camera, rule);
        if !m.lock().states.contains(RANK_VALUE, &active) {
            m.set_state(RANK_VALUE, active, b"OFF".to_vec(), b"OFF".to_vec());
        }
        if let Some(d) = self.discovery(m) {
            self.discovery_docs(m, vec![d.rule(camera, rule)]);
        }
    }

    fn ensure_line(&self, m: &Mqtt, camera: &str, line: &str) {
        if self.first_sight(1, camera, line)
            && let Some(d) = self.discovery(m)
        {
            self.discovery_docs(m, d.line(camera, line));
        }
    }

    fn ensure_zone(&self, m: &Mqtt, camera: &str, zone: &str) {
        if self.first_sight(2, camera, zone)
            && let Some(d) = self.discovery(m)
        {
            self.discovery_docs(m, vec![d.zone(camera, zone)]);
        }
    }

    fn ensure_camera(&self, m: &Mqtt, camera: &str) {
        if self.first_sight(3, camera, "")
            && let Some(d) = self.discovery(m)
        {
            self.discovery_docs(m, d.camera(camera));
        }
    }

    /// Delivers one event message from the rules engine: MQTT (event topic, rule flag, last event),
    /// matching webhooks, and deterrence outputs.
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
            self.ensure_rule(m, &event.camera, &event.rule);
            let flag: &[u8] = if self.rule_open(event) { b"ON" } else { b"OFF" };
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
                        body.to_vec(),
                        body.to_vec(),
                    ),
                ],
            );
        }
        for w in &self.inner.webhooks {
            w.offer(event, &body);
        }
        for o in &self.inner.outputs {
            o.on_event(event, self.inner.mqtt.as_ref());
        }
    }

    /// Notes the event as open or ended; true while the rule has any open event.
    fn rule_open(&self, event: &Event) -> bool {
        let mut open = self.inner.open.lock().unwrap_or_else(|p| p.into_inner());
        let key = (event.camera.clone(), event.rule.clone());
        if event.phase == EventPhase::End {
            let Some(set) = open.get_mut(&key) else {
                return false;
            };
            set.remove(&event.id);
            let any = !set.is_empty();
            if !any {
                open.remove(&key);
            }
            return any;
        }
        let set = open.entry(key).or_default();
        set.insert(event.id);
        if set.len() > MAX_OPEN_PER_RULE {
            set.pop_first();
        }
        true
    }

    /// Publishes a camera's line counters and zone occupancy as retained state topics (only the values
    /// that changed are sent; calling this every frame is fine).
    pub fn publish_counts(&self, camera: &str, lines: &[LineCounts], zones: &[ZoneOccupancy]) {
        let Some(m) = &self.inner.mqtt else {
            return;
        };
        let now = now_unix_ms();
        for c in lines {
            self.ensure_line(m, camera, &c.line);
            let msg = LineCountMessage::new(camera, c, now);
            set_timed(m, m.topics.line_count(camera, &c.line), &msg);
        }
        for z in zones {
            self.ensure_zone(m, camera, &z.zone);
            let msg = ZoneOccupancyMessage::new(camera, z, now);
            set_timed(m, m.topics.zone_occupancy(camera, &z.zone), &msg);
        }
    }

    /// Publishes a camera's status (online, fps) as a retained state topic; fps is rounded to 0.1 so a
    /// jittering rate does not flood the broker.
    pub fn publish_camera_status(&self, camera: &str, status: &CameraStatus) {
        let Some(m) = &self.inner.mqtt else {
            return;
        };
        self.ensure_camera(m, camera);
        let fps = if status.fps.is_finite() {
            (status.fps * 10.0).round() / 10.0
        } else {
            0.0
        };
        let msg = CameraStatusMessage {
            camera: camera.to_string(),
            online: status.online,
            fps,
            message: status.message.clone(),
            unix_ms: now_unix_ms(),
        };
        set_timed(m, m.topics.camera_status(camera), &msg);
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

/// Sets a state topic whose JSON has a `unix_ms` field that does not count as a change.
fn set_timed<T: serde::Serialize>(m: &Mqtt, topic: String, msg: &T) {
    let Ok(serde_json::Value::Object(mut v)) = serde_json::to_value(msg) else {
        return;
    };
    let payload = serde_json::to_vec(&v).unwrap_or_default();
    v.remove("unix_ms");
    let compare = serde_json::to_vec(&v).unwrap_or_default();
    m.set_state(RANK_VALUE, topic, compare, payload);
}
