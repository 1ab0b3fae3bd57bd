//! MQTT delivery: topics, the outgoing buffer, retained state topics and the connection task.
//!
//! Two kinds of traffic:
//! - **Messages** (event messages, output triggers) go through a bounded FIFO buffer ([`MqttConfig::buffer`],
//!   drop policy in the crate documentation) and are removed only when the broker acknowledges them (QoS 1). When
//!   the connection drops, every unacknowledged message goes back to the front of the buffer, in order, and
//!   is sent again after the reconnection: nothing is lost across a broker restart, order is kept, and a
//!   consumer may see a message twice (it upserts by event id).
//! - **State topics** (availability, discovery configs, rule active flags, counts, camera status) are
//!   retained; only the latest value of each topic is kept and sent, and only when it changed. They are
//!   all published again after every (re)connection, since a restarted broker may have lost them.
//!
//! The connection task polls rumqttc's event loop without pause; a new message wakes it at once, so a
//! message is written to the socket as soon as it is handed over (no batching, no timer in the path).

mod discovery;
mod link;

pub use discovery::CameraEntities;
pub(crate) use discovery::Discovery;

use crate::config::MqttConfig;
use crate::payload::slug;
use crate::queue::{BoundedDeque, Droppable};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::Notify;
use vigil_core::EventPhase;

/// Largest payload accepted (larger ones are refused with an error log rather than break the connection).
pub const MAX_PAYLOAD: usize = 256 * 1024;

/// Most retained state topics kept (discovery configs, flags, counts); new topics past this are refused
/// with a warning.
pub const MAX_STATE_TOPICS: usize = 20_000;

/// The topics Vigil publishes on, under `topic_prefix` (`P`) and `discovery_prefix` (`D`). Names are
/// [`slug`]ged into single topic levels.
///
/// | topic | retained | payload |
/// |---|---|---|
/// | `P/availability` | yes (Last Will `offline`) | `online` / `offline` |
/// | `P/events/<camera>/<rule>` | no | [`crate::EventMessage`] JSON |
/// | `P/<camera>/rule/<rule>/active` | yes | `ON` while any event of the rule is open, else `OFF` |
/// | `P/<camera>/rule/<rule>/event` | yes | the rule's last [`crate::EventMessage`] |
/// | `P/<camera>/line/<line>/count` | yes | [`crate::LineCountMessage`] |
/// | `P/<camera>/zone/<zone>/occupancy` | yes | [`crate::ZoneOccupancyMessage`] |
/// | `P/<camera>/status` | yes | [`crate::CameraStatusMessage`] |
/// | `D/<component>/<client_id>/<object_id>/config` | yes | Home Assistant discovery |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
    discovery_prefix: String,
    node: String,
}

impl Topics {
    /// Topics of a configuration.
    pub fn new(config: &MqttConfig) -> Self {
        Self {
            prefix: config.topic_prefix.clone(),
            discovery_prefix: config.discovery_prefix.clone(),
            node: slug(&config.client_id),
        }
    }

    /// The node id in discovery topics and unique ids (the slugged client id).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Availability (`online`/`offline`).
    pub fn availability(&self) -> String {
        format!("{}/availability", self.prefix)
    }

    /// Event messages of a camera's rule.
    pub fn event(&self, camera: &str, rule: &str) -> String {
        format!("{}/events/{}/{}", self.prefix, slug(camera), slug(rule))
    }

    /// Whether a rule has an open event.
    pub fn rule_active(&self, camera: &str, rule: &str) -> String {
        format!(
            "{}/{}/rule/{}/active",
            self.prefix,
            slug(camera),
            slug(rule)
        )
    }

    /// A rule's last event message.
    pub fn rule_event(&self, camera: &str, rule: &str) -> String {
        format!("{}/{}/rule/{}/event", self.prefix, slug(camera), slug(rule))
    }

    /// A line's counters.
    pub fn line_count(&self, camera: &str, line: &str) -> String {
        format!("{}/{}/line/{}/count", self.prefix, slug(camera), slug(line))
    }

    /// A zone's occupancy.
    pub fn zone_occupancy(&self, camera: &str, zone: &str) -> String {
        format!(
            "{}/{}/zone/{}/occupancy",
            self.prefix,
            slug(camera),
            slug(zone)
        )
    }

    /// A camera's status.
    pub fn camera_status(&self, camera: &str) -> String {
        format!("{}/{}/status", self.prefix, slug(camera))
    }

    /// A Home Assistant discovery config topic.
    pub fn discovery(&self, component: &str, object_id: &str) -> String {
        format!(
            "{}/{component}/{}/{object_id}/config",
            self.discovery_prefix, self.node
        )
    }

    /// Home Assistant's birth/will topic (`online` when it (re)starts).
    pub fn ha_status(&self) -> String {
        format!("{}/status", self.discovery_prefix)
    }
}

/// What a buffered message is.
#[derive(Debug, Clone)]
pub(crate) enum RecordKind {
    /// An event message.
    Event(EventPhase),
    /// An output trigger, abandoned after its deadline.
    Output { name: String, deadline: Instant },
}

/// A message waiting for delivery.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub topic: String,
    pub payload: Arc<[u8]>,
    pub retain: bool,
    pub kind: RecordKind,
}

impl Droppable for Record {
    fn droppable(&self) -> bool {
        matches!(self.kind, RecordKind::Event(EventPhase::Update))
    }
}

/// Rank of a state topic: lower ranks are sent first after a connection.
pub(crate) const RANK_AVAILABILITY: u8 = 0;
/// Discovery configs.
pub(crate) const RANK_DISCOVERY: u8 = 1;
/// Values (flags, counts, status).
pub(crate) const RANK_VALUE: u8 = 2;

pub(crate) type StateKey = (u8, String);

#[derive(Debug)]
struct StateEntry {
    compare: Vec<u8>,
    payload: Arc<[u8]>,
    version: u64,
    acked: u64,
}

/// Latest value of each retained topic, and which ones still need sending.
#[derive(Debug, Default)]
pub(crate) struct States {
    map: BTreeMap<StateKey, StateEntry>,
    dirty: BTreeSet<StateKey>,
    next_version: u64,
    pub refused: u64,
}

impl States {
    /// Sets a topic's value; `compare` is what decides whether it changed (the payload without its time).
    /// Returns true when it changed.
    pub fn set(&mut self, rank: u8, topic: String, compare: Vec<u8>, payload: Vec<u8>) -> bool {
        let key = (rank, topic);
        if let Some(e) = self.map.get(&key)
            && e.compare == compare
        {
            return false;
        }
        if !self.map.contains_key(&key) && self.map.len() >= MAX_STATE_TOPICS {
            self.refused += 1;
            if self.refused == 1 {
                tracing::warn!(
                    "MQTT: more than {MAX_STATE_TOPICS} state topics; new ones are not published"
                );
            }
            return false;
        }
        self.next_version += 1;
        let version = self.next_version;
        let entry = self.map.entry(key.clone()).or_insert(StateEntry {
            compare: Vec::new(),
            payload: Arc::from(&[][..]),
            version: 0,
            acked: 0,
        });
        entry.compare = compare;
        entry.payload = payload.into();
        entry.version = version;
        self.dirty.insert(key);
        true
    }

    /// True when the topic has a value.
    pub fn contains(&self, rank: u8, topic: &str) -> bool {
        self.map.contains_key(&(rank, topic.to_string()))
    }

    /// The next topic to send with a rank at most `max_rank`.
    pub fn take_dirty(&mut self, max_rank: u8) -> Option<(StateKey, Arc<[u8]>, u64)> {
        let key = self.dirty.first()?.clone();
        if key.0 > max_rank {
            return None;
        }
        self.dirty.remove(&key);
        let e = self.map.get(&key)?;
        Some((key, e.payload.clone(), e.version))
    }

    /// Puts a topic back among those to send (its hand-over failed).
    pub fn mark_dirty(&mut self, key: StateKey) {
        if self.map.contains_key(&key) {
            self.dirty.insert(key);
        }
    }

    /// Topics waiting to be sent.
    pub fn dirty_count(&self) -> usize {
        self.dirty.len()
    }

    /// Marks a sent version acknowledged.
    pub fn acked(&mut self, key: &StateKey, version: u64) {
        if let Some(e) = self.map.get_mut(key) {
            e.acked = e.acked.max(version);
        }
    }

    /// After a lost connection: what was not acknowledged is sent again.
    pub fn requeue_unacked(&mut self) {
        for (k, e) in &self.map {
            if e.acked < e.version {
                self.dirty.insert(k.clone());
            }
        }
    }

    /// After a (re)connection or a Home Assistant restart: everything is sent again.
    pub fn mark_all_dirty(&mut self) {
        for (k, e) in self.map.iter_mut() {
            e.acked = 0;
            self.dirty.insert(k.clone());
        }
    }

    /// True when the topic's latest value is acknowledged.
    pub fn is_acked(&self, rank: u8, topic: &str) -> bool {
        self.map
            .get(&(rank, topic.to_string()))
            .is_some_and(|e| e.acked >= e.version)
    }
}

/// What the dispatcher and the connection task share.
#[derive(Debug)]
pub(crate) struct MqttShared {
    pub outbox: BoundedDeque<Record>,
    pub states: States,
    /// Set by shutdown: the deadline for flushing.
    pub closing: Option<Instant>,
    pub expired: u64,
    pub refused: u64,
}

/// Counters of the MQTT side.
#[derive(Debug, Default)]
pub(crate) struct MqttStats {
    pub connected: AtomicBool,
    pub delivered: AtomicU64,
    pub reconnects: AtomicU64,
    pub inflight: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

/// A snapshot of the MQTT side (see [`crate::AlertHandle::status`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MqttStatus {
    /// Connected to the broker now.
    pub connected: bool,
    /// Messages waiting in the buffer.
    pub queued: usize,
    /// Messages sent and not yet acknowledged.
    pub inflight: u64,
    /// State topics waiting to be sent.
    pub states_pending: usize,
    /// Messages acknowledged by the broker (event messages and output triggers).
    pub delivered: u64,
    /// Event updates dropped because the buffer was full.
    pub dropped_updates: u64,
    /// Starts, ends and output triggers dropped because the buffer was full of them.
    pub dropped_critical: u64,
    /// Output triggers abandoned after their `max_delay`.
    pub expired: u64,
    /// Messages refused (too large, bad topic) or state topics past the limit.
    pub refused: u64,
    /// Reconnections after a lost connection.
    pub reconnects: u64,
    /// The last connection error, if any.
    pub last_error: Option<String>,
}

/// The MQTT side as the dispatcher holds it.
pub(crate) struct Mqtt {
    pub shared: Arc<Mutex<MqttShared>>,
    pub notify: Arc<Notify>,
    pub stats: Arc<MqttStats>,
    pub topics: Topics,
    pub qos: u8,
    pub discovery: bool,
    pub task: tokio::task::JoinHandle<()>,
}

impl Mqtt {
    /// Starts the connection task on the current tokio runtime.
    pub fn start(config: &MqttConfig) -> Result<Self, crate::AlertError> {
        let topics = Topics::new(config);
        let mut states = States::default();
        let avail = topics.availability();
        states.set(
            RANK_AVAILABILITY,
            avail,
            b"online".to_vec(),
            b"online".to_vec(),
        );
        let shared = Arc::new(Mutex::new(MqttShared {
            outbox: BoundedDeque::new(config.buffer),
            states,
            closing: None,
            expired: 0,
            refused: 0,
        }));
        let notify = Arc::new(Notify::new());
        let stats = Arc::new(MqttStats::default());
        let task = link::spawn(
            config,
            &topics,
            shared.clone(),
            notify.clone(),
            stats.clone(),
        )?;
        Ok(Self {
            shared,
            notify,
            stats,
            topics,
            qos: config.qos,
            discovery: config.discovery,
            task,
        })
    }

    /// Locks the shared state.
    pub fn lock(&self) -> MutexGuard<'_, MqttShared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a message and wakes the connection task.
    pub fn push(&self, record: Record) {
        self.push_with_states(record, Vec::new());
    }

    /// Queues a message and sets value state topics `(topic, compare, payload)` under one lock, then wakes
    /// the connection task once.
    pub fn push_with_states(&self, record: Record, states: Vec<(String, Vec<u8>, Vec<u8>)>) {
        if record.payload.len() > MAX_PAYLOAD || !valid_topic(&record.topic) {
            tracing::error!(
                topic = %record.topic,
                bytes = record.payload.len(),
                "MQTT message refused: payload over {MAX_PAYLOAD} bytes or invalid topic"
            );
            self.lock().refused += 1;
            return;
        }
        let dropped = {
            let mut g = self.lock();
            if g.closing.is_some() {
                g.refused += 1;
                return;
            }
            for (topic, compare, payload) in states {
                if payload.len() <= MAX_PAYLOAD && valid_topic(&topic) {
                    g.states.set(RANK_VALUE, topic, compare, payload);
                }
            }
            g.outbox.push_back(record)
        };
        if let Some(d) = dropped {
            log_dropped(&d);
        }
        self.notify.notify_one();
    }

    /// Sets a retained state topic (sent only when changed).
    pub fn set_state(&self, rank: u8, topic: String, compare: Vec<u8>, payload: Vec<u8>) {
        if payload.len() > MAX_PAYLOAD || !valid_topic(&topic) {
            tracing::error!(%topic, "MQTT state refused: payload too large or invalid topic");
            self.lock().refused += 1;
            return;
        }
        let changed = self.lock().states.set(rank, topic, compare, payload);
        if changed {
            self.notify.notify_one();
        }
    }

    /// A snapshot of the counters.
    pub fn status(&self) -> MqttStatus {
        let g = self.lock();
        MqttStatus {
            connected: self.stats.connected.load(Ordering::Relaxed),
            queued: g.outbox.len(),
            inflight: self.stats.inflight.load(Ordering::Relaxed),
            states_pending: g.states.dirty_count(),
            delivered: self.stats.delivered.load(Ordering::Relaxed),
            dropped_updates: g.outbox.dropped_droppable,
            dropped_critical: g.outbox.dropped_critical,
            expired: g.expired,
            refused: g.refused + g.states.refused,
            reconnects: self.stats.reconnects.load(Ordering::Relaxed),
            last_error: self
                .stats
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

pub(crate) fn log_dropped(d: &Record) {
    match &d.kind {
        RecordKind::Event(EventPhase::Update) => {
            tracing::debug!(topic = %d.topic, "MQTT buffer full: dropped an event update")
        }
        RecordKind::Event(p) => tracing::warn!(
            topic = %d.topic,
            "MQTT buffer full of starts and ends: dropped the oldest ({})",
            crate::payload::phase_name(*p)
        ),
        RecordKind::Output { name, .. } => {
            tracing::warn!(output = %name, "MQTT buffer full: dropped an output trigger")
        }
    }
}

/// A topic name rumqttc and brokers accept for publishing.
pub(crate) fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#', '\0']) && topic.len() < 65_536
}
