//! MQTT delivery: topics, the outgoing buffer, retained state topics and the connection task.
//!
//! Two kinds of traffic:
//! - **Messages** (event messages, output triggers) go through a bounded FIFO buffer ([`MqttConfig::buffer`],
//!   drop policy in the crate documentation) and are removed only when the broker acknowledges them (QoS 1). When
//!   the connection drops, every unacknowledged message goes back to the front of the buffer, in order, and
//!   is sent again after the reconnection: nothing is lost across a broker restart, order is kept, and a
//!   consumer may see a message twice (it upserts by event id).
//! - **State topics** (availability, discovery configs, rule active flags, counts, camera status and
//!   pictures, switch positions) are retained; only the latest value of each topic is kept and sent, and
//!   only when it changed.
//!
//! After every (re)connection: the values are published again (a restarted broker may have lost them),
//! then `online`, last, so that Home Assistant never shows a value of the previous run as current. The
//! discovery configs are compared with what the broker retains (a subscription to this installation's
//! discovery topics, answered before a marker message comes back) and only missing or changed ones are
//! sent: discovery goes out once, not once per connection. Once every camera is registered
//! ([`crate::AlertHandle::finish_registration`]), retained discovery configs of this installation that name
//! nothing registered (a removed camera, a renamed rule) are cleared, which removes their entities from Home
//! Assistant. `online` itself waits for that registration (at most [`ONLINE_FALLBACK`]).
//!
//! The connection task polls rumqttc's event loop without pause; a new message wakes it at once, so a
//! message is written to the socket as soon as it is handed over (no batching, no timer in the path).

mod discovery;
mod instance;
mod link;

pub(crate) use discovery::Discovery;
pub use discovery::{CameraEntities, LineEntity, RuleEntity, ZoneEntity};
pub use instance::{Instance, host_name};

use crate::config::MqttConfig;
use crate::payload::slug;
use crate::queue::{BoundedDeque, Droppable};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::Notify;
use vigil_core::EventPhase;

/// Largest payload accepted (larger ones are refused with an error log rather than break the connection).
pub const MAX_PAYLOAD: usize = 256 * 1024;

/// Largest picture accepted for a camera or image entity (JPEG).
pub const MAX_IMAGE: usize = 1000 * 1024;

/// Most retained state topics kept (discovery configs, flags, counts); new topics past this are refused
/// with a warning.
pub const MAX_STATE_TOPICS: usize = 20_000;

/// `online` is published at the latest this long after the start when
/// [`crate::AlertHandle::finish_registration`] is never called.
pub const ONLINE_FALLBACK: std::time::Duration = std::time::Duration::from_secs(10);

/// The topics Vigil publishes on, under `topic_prefix` (`P`) and `discovery_prefix` (`D`). Names are
/// [`slug`]ged into single topic levels.
///
/// | topic | retained | payload |
/// |---|---|---|
/// | `P/availability` | yes (Last Will `offline`) | `online` / `offline` |
/// | `P/events/<camera>/<rule>` | no | [`crate::EventMessage`] JSON |
/// | `P/<camera>/rule/<rule>/active` | yes | `ON` while any event of the rule is open, else `OFF` |
/// | `P/<camera>/rule/<rule>/event` | yes | the latest [`crate::EventMessage`] of an open event of the rule (of the last one when none is open); `{}` before the first |
/// | `P/<camera>/rule/<rule>/crossing` | no | line crossing rules: `{"event_type":"in"\|"out", ...}` per crossing (a Home Assistant `event`) |
/// | `P/<camera>/line/<line>/count` | yes | [`crate::LineCountMessage`] |
/// | `P/<camera>/zone/<zone>/occupancy` | yes | [`crate::ZoneOccupancyMessage`] |
/// | `P/<camera>/occupancy` | yes | [`crate::OccupancyMessage`]: objects in view |
/// | `P/<camera>/motion` | yes | `ON` / `OFF` |
/// | `P/<camera>/status` | yes | [`crate::CameraStatusMessage`] |
/// | `P/<camera>/snapshot` | yes | JPEG: the camera's latest picture |
/// | `P/<camera>/event_snapshot` | yes | JPEG: the picture of the latest event |
/// | `P/<camera>/detection/state`, `P/<camera>/recording/state` | yes | `ON` / `OFF`: switch positions |
/// | `P/<camera>/detection/set`, `P/<camera>/recording/set` | (subscribed) | `ON` / `OFF`: commands |
/// | `P/server` | yes | [`crate::ServerStatusMessage`] |
/// | `D/<component>/<client_id>/<object_id>/config` | yes | Home Assistant discovery |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
    discovery_prefix: String,
    node: String,
}

impl Topics {
    /// Topics of a configuration; empty `client_id` / `topic_prefix` are derived as
    /// [`MqttConfig::resolved`] does without a data directory.
    pub fn new(config: &MqttConfig) -> Self {
        let config = config.resolved(None);
        Self {
            prefix: config.topic_prefix.clone(),
            discovery_prefix: config.discovery_prefix.clone(),
            node: slug(&config.client_id),
        }
    }

    /// The topic prefix (`P`).
    pub fn prefix(&self) -> &str {
        &self.prefix
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

    /// Crossings of a line crossing rule (Home Assistant `event` entity).
    pub fn rule_crossing(&self, camera: &str, rule: &str) -> String {
        format!(
            "{}/{}/rule/{}/crossing",
            self.prefix,
            slug(camera),
            slug(rule)
        )
    }

    /// A camera's status.
    pub fn camera_status(&self, camera: &str) -> String {
        self.camera_topic(camera, "status")
    }

    /// Objects in a camera's view, per class.
    pub fn camera_occupancy(&self, camera: &str) -> String {
        self.camera_topic(camera, "occupancy")
    }

    /// Whether a camera sees motion.
    pub fn camera_motion(&self, camera: &str) -> String {
        self.camera_topic(camera, "motion")
    }

    /// A camera's latest picture (JPEG).
    pub fn camera_snapshot(&self, camera: &str) -> String {
        self.camera_topic(camera, "snapshot")
    }

    /// The picture of a camera's latest event (JPEG).
    pub fn event_snapshot(&self, camera: &str) -> String {
        self.camera_topic(camera, "event_snapshot")
    }

    /// A camera switch's position.
    pub fn switch_state(&self, camera: &str, switch: crate::Switch) -> String {
        format!("{}/{}/{}/state", self.prefix, slug(camera), switch.name())
    }

    /// Where commands for a camera switch arrive.
    pub fn switch_command(&self, camera: &str, switch: crate::Switch) -> String {
        format!("{}/{}/{}/set", self.prefix, slug(camera), switch.name())
    }

    /// The server's figures.
    pub fn server(&self) -> String {
        format!("{}/server", self.prefix)
    }

    fn camera_topic(&self, camera: &str, what: &str) -> String {
        format!("{}/{}/{what}", self.prefix, slug(camera))
    }

    /// The subscriptions to the switch commands (`P/+/detection/set`, `P/+/recording/set`).
    pub(crate) fn command_filters(&self) -> Vec<String> {
        crate::Switch::ALL
            .iter()
            .map(|s| format!("{}/+/{}/set", self.prefix, s.name()))
            .collect()
    }

    /// `(camera slug, switch name)` of a command topic.
    pub(crate) fn parse_command<'t>(&self, topic: &'t str) -> Option<(&'t str, &'t str)> {
        let rest = topic.strip_prefix(&self.prefix)?.strip_prefix('/')?;
        let mut parts = rest.split('/');
        let (camera, switch, set) = (parts.next()?, parts.next()?, parts.next()?);
        (set == "set" && parts.next().is_none()).then_some((camera, switch))
    }

    /// The marker topic that tells when the broker has sent every retained discovery config.
    pub(crate) fn sync_marker(&self) -> String {
        format!("{}/sync/{}", self.prefix, self.node)
    }

    /// The subscription to this installation's discovery configs (`D/+/<node>/+/config`).
    pub(crate) fn discovery_filter(&self) -> String {
        format!("{}/+/{}/+/config", self.discovery_prefix, self.node)
    }

    /// True when `topic` is one of this installation's discovery config topics.
    pub(crate) fn is_own_discovery(&self, topic: &str) -> bool {
        let Some(rest) = topic
            .strip_prefix(&self.discovery_prefix)
            .and_then(|r| r.strip_prefix('/'))
        else {
            return false;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        parts.len() == 4 && parts[1] == self.node && parts[3] == "config"
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

/// Rank of a state topic: lower ranks are sent first. Discovery configs.
pub(crate) const RANK_DISCOVERY: u8 = 0;
/// Values (flags, counts, status, pictures).
pub(crate) const RANK_VALUE: u8 = 1;
/// Availability: after a connection, `online` goes out after every value.
pub(crate) const RANK_AVAILABILITY: u8 = 2;

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

    /// The next topic to send with a rank in `ranks` (lower ranks first).
    pub fn take_dirty(
        &mut self,
        ranks: std::ops::RangeInclusive<u8>,
    ) -> Option<(StateKey, Arc<[u8]>, u64)> {
        let key = self
            .dirty
            .range((*ranks.start(), String::new())..)
            .next()?
            .clone();
        if key.0 > *ranks.end() {
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

    /// After a Home Assistant restart: everything is sent again.
    pub fn mark_all_dirty(&mut self) {
        self.mark_dirty_from(RANK_DISCOVERY);
    }

    /// Every topic of rank `min_rank` or above is to be sent again (after a connection: values and
    /// availability; discovery waits for the comparison with the broker's).
    pub fn mark_dirty_from(&mut self, min_rank: u8) {
        for (k, e) in self.map.iter_mut().filter(|(k, _)| k.0 >= min_rank) {
            e.acked = 0;
            self.dirty.insert(k.clone());
        }
    }

    /// Discovery configs are sent unless the broker already retains exactly them (`retained`: topic ->
    /// payload hash); an empty config (a deletion) is not sent when the broker has nothing there.
    pub fn mark_discovery_dirty_unless(&mut self, retained: &HashMap<String, u64>) {
        for (k, e) in self.map.iter_mut().filter(|(k, _)| k.0 == RANK_DISCOVERY) {
            let on_broker = match retained.get(&k.1) {
                Some(h) => *h == payload_hash(&e.payload),
                None => e.payload.is_empty(),
            };
            if on_broker {
                e.acked = e.version;
                self.dirty.remove(k);
            } else {
                e.acked = 0;
                self.dirty.insert(k.clone());
            }
        }
    }

    /// Marks a topic's value as already on the broker (nothing to send).
    pub fn settle(&mut self, rank: u8, topic: &str) {
        let key = (rank, topic.to_string());
        if let Some(e) = self.map.get_mut(&key) {
            e.acked = e.version;
            self.dirty.remove(&key);
        }
    }

    /// The topics of a rank.
    pub fn topics(&self, rank: u8) -> impl Iterator<Item = &str> {
        self.map
            .keys()
            .filter(move |k| k.0 == rank)
            .map(|k| k.1.as_str())
    }

    /// True when the topic's latest value is acknowledged.
    pub fn is_acked(&self, rank: u8, topic: &str) -> bool {
        self.map
            .get(&(rank, topic.to_string()))
            .is_some_and(|e| e.acked >= e.version)
    }
}

/// A payload's hash, to compare a retained discovery config with ours without keeping it.
pub(crate) fn payload_hash(payload: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    payload.hash(&mut h);
    h.finish()
}

/// What the broker retains of this installation's discovery configs, as learnt on this connection.
#[derive(Debug, Default)]
pub(crate) struct BrokerView {
    /// Retained discovery configs seen: topic -> payload hash.
    pub retained: HashMap<String, u64>,
    /// The marker came back: `retained` is complete.
    pub synced: bool,
    /// Stale configs were cleared on this connection.
    pub swept: bool,
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
    /// The broker's discovery configs of this installation.
    pub broker: BrokerView,
    /// Every camera is registered ([`crate::AlertHandle::finish_registration`]): stale discovery may be
    /// cleared.
    pub registered: bool,
    /// `online` was set (registration finished, or [`ONLINE_FALLBACK`] passed).
    pub online: bool,
}

impl MqttShared {
    /// Says `online` (after every value already set).
    pub fn go_online(&mut self, topics: &Topics) {
        if !self.online && self.closing.is_none() {
            self.online = true;
            self.states.set(
                RANK_AVAILABILITY,
                topics.availability(),
                b"online".to_vec(),
                b"online".to_vec(),
            );
        }
    }
}

/// Counters of the MQTT side.
#[derive(Debug, Default)]
pub(crate) struct MqttStats {
    pub connected: AtomicBool,
    pub delivered: AtomicU64,
    pub reconnects: AtomicU64,
    pub inflight: AtomicU64,
    pub last_error: Mutex<Option<String>>,
    pub health: Mutex<MqttHealth>,
    /// Switch commands received.
    pub commands: AtomicU64,
    /// Stale discovery configs cleared.
    pub cleared: AtomicU64,
}

impl MqttStats {
    pub fn set_health(&self, h: MqttHealth) {
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) = h;
    }
}

/// The state of the broker connection, for health pages and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MqttHealth {
    /// Not connected yet.
    #[default]
    Connecting,
    /// Connected.
    Connected,
    /// The connection was lost or could not be made (network, broker down); retrying.
    Disconnected,
    /// The broker refused the connection (credentials, client id); retrying.
    Refused,
    /// The broker closes the connection right after each connection: another client uses the same
    /// client id. Retrying, slower and slower.
    Kicked,
    /// The connection task ended unexpectedly (a panic): nothing is delivered until a restart.
    Stopped,
}

impl MqttHealth {
    /// `connecting`, `connected`, `disconnected`, `refused`, `kicked` or `stopped`.
    pub fn name(self) -> &'static str {
        match self {
            MqttHealth::Connecting => "connecting",
            MqttHealth::Connected => "connected",
            MqttHealth::Disconnected => "disconnected",
            MqttHealth::Refused => "refused",
            MqttHealth::Kicked => "kicked",
            MqttHealth::Stopped => "stopped",
        }
    }
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
    /// The connection's state.
    pub health: MqttHealth,
    /// The client id in use (derived or configured).
    pub client_id: String,
    /// Switch commands received from Home Assistant.
    pub commands: u64,
    /// Retained discovery configs of removed cameras, rules, lines and zones cleared from the broker.
    pub discovery_cleared: u64,
}

/// The MQTT side as the dispatcher holds it.
pub(crate) struct Mqtt {
    pub shared: Arc<Mutex<MqttShared>>,
    pub notify: Arc<Notify>,
    pub stats: Arc<MqttStats>,
    pub topics: Topics,
    /// The configuration with its defaults resolved.
    pub config: MqttConfig,
    pub task: tokio::task::JoinHandle<()>,
}

impl Mqtt {
    /// Starts the connection task on the current tokio runtime; `config` has its defaults resolved
    /// ([`MqttConfig::resolved`]); switch commands set `controls`.
    pub fn start(
        config: &MqttConfig,
        controls: Arc<crate::controls::Controls>,
    ) -> Result<Self, crate::AlertError> {
        let topics = Topics::new(config);
        let shared = Arc::new(Mutex::new(MqttShared {
            outbox: BoundedDeque::new(config.buffer),
            states: States::default(),
            closing: None,
            expired: 0,
            refused: 0,
            broker: BrokerView::default(),
            registered: false,
            online: false,
        }));
        let notify = Arc::new(Notify::new());
        let stats = Arc::new(MqttStats::default());
        let task = link::spawn(
            config,
            &topics,
            link::Shared {
                shared: shared.clone(),
                notify: notify.clone(),
                stats: stats.clone(),
                controls,
            },
        )?;
        Ok(Self {
            shared,
            notify,
            stats,
            topics,
            config: config.clone(),
            task,
        })
    }

    /// True when Home Assistant discovery is on.
    pub fn discovery(&self) -> bool {
        self.config.discovery
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

    /// Sets a retained state topic (sent only when changed; a discovery config the broker already
    /// retains as it is is not sent again).
    pub fn set_state(&self, rank: u8, topic: String, compare: Vec<u8>, payload: Vec<u8>) {
        if payload.len() > MAX_IMAGE || !valid_topic(&topic) {
            tracing::error!(%topic, "MQTT state refused: payload too large or invalid topic");
            self.lock().refused += 1;
            return;
        }
        let changed = {
            let mut g = self.lock();
            let known = (rank == RANK_DISCOVERY)
                .then(|| g.broker.retained.get(&topic).copied())
                .flatten()
                .is_some_and(|h| h == payload_hash(&payload));
            let changed = g.states.set(rank, topic.clone(), compare, payload);
            if changed && known {
                g.states.settle(rank, &topic);
            }
            changed && !known
        };
        if changed {
            self.notify.notify_one();
        }
    }

    /// Sets a value state topic unless it already has a value (first values never overwrite live ones).
    pub fn set_state_if_absent(&self, topic: String, payload: Vec<u8>) {
        if !self.lock().states.contains(RANK_VALUE, &topic) {
            self.set_state(RANK_VALUE, topic, payload.clone(), payload);
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
            health: *self.stats.health.lock().unwrap_or_else(|p| p.into_inner()),
            client_id: self.config.client_id.clone(),
            commands: self.stats.commands.load(Ordering::Relaxed),
            discovery_cleared: self.stats.cleared.load(Ordering::Relaxed),
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
