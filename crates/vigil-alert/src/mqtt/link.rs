//! The MQTT connection task: polls rumqttc's event loop continuously, hands buffered messages over while
//! connected, tracks every publish until the broker acknowledges it, and puts unacknowledged ones back in
//! the buffer when the connection drops.
//!
//! The session is clean (`clean_session = true`): after a reconnection the broker remembers nothing and
//! rumqttc forgets its pending publishes, so this task re-sends everything unacknowledged itself. That is
//! the one behaviour that holds whether or not the broker was restarted or persists sessions.
//!
//! After each connection it subscribes to Home Assistant's status, to this installation's discovery
//! topics and to switch commands, then publishes a marker to itself: when the marker comes back, every
//! retained discovery config has arrived (the broker answers in order), so the ones already there are not
//! sent again and stale ones can be cleared (see the module above).
//!
//! A broker that closes the connection within [`STABLE`] of each connection, again and again, is kicking
//! this client because another one connected with the same client id: that gets one clear error line, the
//! [`MqttHealth::Kicked`] state, and reconnection attempts that slow down to `reconnect_max` instead of
//! restarting at 250 ms each time.

use super::{
    MqttHealth, MqttShared, MqttStats, ONLINE_FALLBACK, RANK_AVAILABILITY, RANK_DISCOVERY,
    RANK_VALUE, Record, RecordKind, StateKey, Topics, log_dropped, payload_hash,
};
use crate::config::MqttConfig;
use crate::controls::{Controls, Switch};
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing};
use rumqttc::{Packet, QoS, SubscribeFilter};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Largest packet rumqttc may read or write (payloads are limited to [`super::MAX_IMAGE`] before).
const MAX_PACKET: usize = 1100 * 1024;
/// A connection that lasts this long is stable: the backoff restarts from its minimum.
const STABLE: Duration = Duration::from_secs(30);
/// Short connections closed by the broker in a row that mean "kicked".
const KICKS: u32 = 2;
/// How long to wait for the marker before sending every discovery config anyway.
const SYNC_TIMEOUT: Duration = Duration::from_secs(5);

/// What the task shares with the dispatcher.
pub(super) struct Shared {
    pub shared: Arc<Mutex<MqttShared>>,
    pub notify: Arc<Notify>,
    pub stats: Arc<MqttStats>,
    pub controls: Arc<Controls>,
}

enum Sent {
    Record(Record),
    State(StateKey, u64),
    /// The marker or another publish of the task's own.
    Own,
}

struct Inflight {
    pkid: Option<u16>,
    acked: bool,
    sent: Sent,
}

struct Link {
    client: AsyncClient,
    shared: Arc<Mutex<MqttShared>>,
    stats: Arc<MqttStats>,
    controls: Arc<Controls>,
    topics: Topics,
    client_id: String,
    qos: QoS,
    discovery: bool,
    broker: String,
    inflight: VecDeque<Inflight>,
    max_inflight: usize,
    connected: bool,
    ever_connected: bool,
    started: Instant,
    connected_at: Option<Instant>,
    down_since: Option<Instant>,
    /// Waiting for the marker since.
    sync_since: Option<Instant>,
    /// After a connection: every state goes out before any message, `online` last.
    burst: bool,
    /// Connections closed by the broker within [`STABLE`], in a row.
    kicks: u32,
    failures: u32,
    backoff: Duration,
    backoff_max: Duration,
    disconnecting: bool,
    done: bool,
}

/// Starts the connection task.
pub(super) fn spawn(
    config: &MqttConfig,
    topics: &Topics,
    shared: Shared,
) -> Result<tokio::task::JoinHandle<()>, crate::AlertError> {
    let mut opts = MqttOptions::new(config.client_id.clone(), config.host.clone(), config.port);
    opts.set_keep_alive(Duration::from_millis(config.keep_alive.as_millis()));
    opts.set_clean_session(true);
    opts.set_inflight(config.inflight);
    opts.set_max_packet_size(MAX_PACKET, MAX_PACKET);
    opts.set_last_will(LastWill::new(
        topics.availability(),
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(user) = &config.username {
        let pass = config
            .password
            .as_ref()
            .map(|p| p.expose().to_string())
            .unwrap_or_default();
        opts.set_credentials(user.clone(), pass);
    }
    if config.tls {
        set_tls(&mut opts, config)?;
    }
    let max_inflight = usize::from(config.inflight);
    // Room for the subscriptions and the marker besides the publishes in flight.
    let (client, eventloop) = AsyncClient::new(opts, max_inflight + 16);
    let Shared {
        shared,
        notify,
        stats,
        controls,
    } = shared;
    let link = Link {
        client,
        shared,
        stats,
        controls,
        topics: topics.clone(),
        client_id: config.client_id.clone(),
        qos: if config.qos == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        },
        discovery: config.discovery,
        broker: format!("{}:{}", config.host, config.port),
        inflight: VecDeque::new(),
        max_inflight,
        connected: false,
        ever_connected: false,
        started: Instant::now(),
        connected_at: None,
        down_since: None,
        sync_since: None,
        burst: false,
        kicks: 0,
        failures: 0,
        backoff: BACKOFF_MIN,
        backoff_max: Duration::from_millis(config.reconnect_max.as_millis()).max(BACKOFF_MIN),
        disconnecting: false,
        done: false,
    };
    let handle = tokio::runtime::Handle::try_current().map_err(|_| crate::AlertError::NoRuntime)?;
    let stats = link.stats.clone();
    Ok(handle.spawn(supervised(run(link, eventloop, notify), stats)))
}

/// Runs the connection task; if it panics (a bug), says so clearly in the log and in the health state
/// instead of vanishing with a line on stderr.
async fn supervised(task: impl std::future::Future<Output = ()>, stats: Arc<MqttStats>) {
    use futures_util::FutureExt;
    if let Err(panic) = std::panic::AssertUnwindSafe(task).catch_unwind().await {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        tracing::error!(
            "MQTT delivery stopped: its connection task panicked ({why}); alerts and states are no \
             longer sent to the broker until Vigil restarts"
        );
        stats.connected.store(false, Ordering::Relaxed);
        stats.set_health(MqttHealth::Stopped);
        *stats.last_error.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(format!("connection task panicked: {why}"));
    }
}

#[cfg(feature = "mqtt-tls")]
fn set_tls(opts: &mut MqttOptions, config: &MqttConfig) -> Result<(), crate::AlertError> {
    let path = config.ca_file.clone().unwrap_or_default();
    let ca = std::fs::read(&path).map_err(|source| crate::AlertError::File {
        item: "mqtt".into(),
        path,
        source,
    })?;
    opts.set_transport(rumqttc::Transport::tls(ca, None, None));
    Ok(())
}

#[cfg(not(feature = "mqtt-tls"))]
fn set_tls(_opts: &mut MqttOptions, _config: &MqttConfig) -> Result<(), crate::AlertError> {
    Err(crate::AlertError::config(
        "mqtt",
        "tls",
        "this build has no MQTT TLS support (vigil-alert feature mqtt-tls)",
    ))
}

async fn run(mut link: Link, mut eventloop: EventLoop, notify: Arc<Notify>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !link.done {
        let result = {
            let poll = eventloop.poll();
            tokio::pin!(poll);
            loop {
                tokio::select! {
                    biased;
                    r = &mut poll => break Some(r),
                    _ = notify.notified() => link.after_change(),
                    _ = tick.tick() => {
                        link.on_tick();
                        link.after_change();
                        if link.past_deadline() {
                            break None;
                        }
                    }
                }
            }
        };
        match result {
            None => break,
            Some(Ok(event)) => link.on_event(event),
            Some(Err(e)) => {
                link.on_error(&e);
                if link.done {
                    break;
                }
                let wait = link.next_backoff();
                let deadline = link.lock().closing;
                match deadline {
                    Some(d) if Instant::now() + wait >= d => break,
                    _ => tokio::time::sleep(wait).await,
                }
            }
        }
    }
    link.finish();
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, MqttShared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn past_deadline(&self) -> bool {
        self.lock().closing.is_some_and(|d| Instant::now() >= d)
    }

    fn next_backoff(&mut self) -> Duration {
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(self.backoff_max);
        wait
    }

    /// Timers: a connection that lasted is stable; `online` without registration after a while; the
    /// marker that never came back.
    fn on_tick(&mut self) {
        if self.connected && self.connected_at.is_some_and(|t| t.elapsed() >= STABLE) {
            self.backoff = BACKOFF_MIN;
            if self.kicks > 0 {
                self.kicks = 0;
                self.stats.set_health(MqttHealth::Connected);
            }
        }
        let topics = self.topics.clone();
        let mut g = self.lock();
        if !g.online && self.started.elapsed() >= ONLINE_FALLBACK {
            tracing::debug!("MQTT: cameras not all registered yet; saying online anyway");
            g.go_online(&topics);
        }
        if self.sync_since.is_some_and(|t| t.elapsed() >= SYNC_TIMEOUT) {
            tracing::warn!(
                "MQTT: the broker did not return the marker message (no permission to subscribe to \
                 {} or {}?): publishing every discovery config, stale ones are not cleared",
                topics.discovery_filter(),
                topics.sync_marker()
            );
            drop(g);
            self.on_synced();
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Incoming(Packet::ConnAck(ack)) => self.on_connect(ack.session_present),
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                if let Some(f) = self.inflight.iter_mut().find(|f| f.pkid.is_none()) {
                    f.pkid = Some(pkid);
                    // QoS 0 publishes are done once written.
                    f.acked = pkid == 0;
                }
            }
            Event::Incoming(Packet::PubAck(ack)) => {
                if let Some(f) = self
                    .inflight
                    .iter_mut()
                    .find(|f| !f.acked && f.pkid == Some(ack.pkid))
                {
                    f.acked = true;
                }
            }
            Event::Incoming(Packet::Publish(p)) => self.on_publish(&p.topic, &p.payload, p.retain),
            Event::Outgoing(Outgoing::Disconnect) => {
                tracing::info!(broker = %self.broker, "MQTT disconnected cleanly");
                self.done = true;
            }
            _ => {}
        }
        self.after_change();
    }

    fn on_publish(&mut self, topic: &str, payload: &[u8], retain: bool) {
        if topic == self.topics.sync_marker() {
            if self.sync_since.is_some() {
                self.on_synced();
            }
        } else if self.topics.is_own_discovery(topic) {
            // Retained configs arrive with the retain flag; our own publishes come back without it.
            if retain && !payload.is_empty() && self.sync_since.is_some() {
                self.lock()
                    .broker
                    .retained
                    .insert(topic.to_string(), payload_hash(payload));
            }
        } else if topic == self.topics.ha_status() {
            // A retained birth message is an old one, not a restart.
            if self.discovery && payload == b"online" && !retain {
                tracing::info!("Home Assistant restarted: publishing discovery and states again");
                self.lock().states.mark_all_dirty();
            }
        } else if let Some((camera, switch)) = self.topics.parse_command(topic) {
            self.on_command(camera, switch, payload);
        }
    }

    /// A switch command: `ON` or `OFF` on `P/<camera>/<switch>/set`.
    fn on_command(&mut self, camera_slug: &str, switch: &str, payload: &[u8]) {
        self.stats.commands.fetch_add(1, Ordering::Relaxed);
        let Some(switch) = Switch::from_name(switch) else {
            tracing::warn!(switch, "MQTT command for an unknown switch ignored");
            return;
        };
        let Some(camera) = self.controls.find_slug(camera_slug) else {
            tracing::warn!(
                camera = camera_slug,
                "MQTT command for an unknown camera ignored"
            );
            return;
        };
        let on = match payload.trim_ascii() {
            b"ON" | b"on" => true,
            b"OFF" | b"off" => false,
            other => {
                tracing::warn!(
                    camera,
                    switch = switch.name(),
                    payload = %String::from_utf8_lossy(other),
                    "MQTT command ignored: the payload must be ON or OFF"
                );
                return;
            }
        };
        if self.controls.set(&camera, switch, on) {
            tracing::info!(
                camera,
                "{} turned {} by an MQTT command",
                switch.name(),
                if on { "on" } else { "off" }
            );
        }
        let state: &[u8] = if on { b"ON" } else { b"OFF" };
        let topic = self.topics.switch_state(&camera, switch);
        self.lock()
            .states
            .set(RANK_VALUE, topic, state.to_vec(), state.to_vec());
    }

    /// Every retained discovery config has arrived: send ours where the broker's differ; clear stale ones
    /// once every camera is registered.
    fn on_synced(&mut self) {
        self.sync_since = None;
        let mut g = self.lock();
        g.broker.synced = true;
        let retained = std::mem::take(&mut g.broker.retained);
        g.states.mark_discovery_dirty_unless(&retained);
        g.broker.retained = retained;
    }

    /// Clears retained discovery configs of this installation that name nothing registered now.
    fn sweep(&mut self) {
        let mut g = self.lock();
        if !g.registered || !g.broker.synced || g.broker.swept || !self.connected {
            return;
        }
        g.broker.swept = true;
        let current: std::collections::HashSet<&str> = g.states.topics(RANK_DISCOVERY).collect();
        let stale: Vec<String> = g
            .broker
            .retained
            .keys()
            .filter(|t| !current.contains(t.as_str()))
            .cloned()
            .collect();
        for topic in &stale {
            // An empty retained config deletes the entity in Home Assistant and the topic on the broker.
            g.states
                .set(RANK_DISCOVERY, topic.clone(), Vec::new(), Vec::new());
        }
        g.broker.retained.clear();
        drop(g);
        if !stale.is_empty() {
            self.stats
                .cleared
                .fetch_add(stale.len() as u64, Ordering::Relaxed);
            tracing::info!(
                "MQTT: clearing {} Home Assistant entities of cameras, rules, lines or zones that no \
                 longer exist",
                stale.len()
            );
        }
        if self
            .client
            .try_unsubscribe(self.topics.discovery_filter())
            .is_err()
        {
            tracing::debug!("MQTT: could not unsubscribe from the discovery topics");
        }
    }

    fn on_connect(&mut self, session_present: bool) {
        if session_present {
            // Cannot happen with a clean session; rumqttc would then re-send its own pending publishes
            // and ours would be duplicates, which QoS 1 consumers tolerate.
            tracing::warn!("MQTT broker reports a session present despite clean_session");
        }
        self.connected = true;
        self.connected_at = Some(Instant::now());
        self.stats.connected.store(true, Ordering::Relaxed);
        self.stats.set_health(if self.kicks >= KICKS {
            MqttHealth::Kicked
        } else {
            MqttHealth::Connected
        });
        self.failures = 0;
        self.burst = true;
        let queued = {
            let mut g = self.lock();
            g.states.mark_dirty_from(RANK_VALUE);
            g.broker = super::BrokerView::default();
            g.outbox.len()
        };
        if self.ever_connected {
            self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            let down = self.down_since.map_or(0.0, |t| t.elapsed().as_secs_f64());
            tracing::info!(
                broker = %self.broker,
                "MQTT reconnected after {down:.1} s; sending {queued} buffered messages"
            );
        } else {
            tracing::info!(broker = %self.broker, client_id = %self.client_id, "MQTT connected");
        }
        self.ever_connected = true;
        self.down_since = None;
        self.subscribe_and_sync();
    }

    /// Subscribes to what the task listens to and sends the marker behind the subscriptions.
    fn subscribe_and_sync(&mut self) {
        let mut filters: Vec<SubscribeFilter> = self
            .topics
            .command_filters()
            .into_iter()
            .map(|f| SubscribeFilter::new(f, QoS::AtLeastOnce))
            .collect();
        filters.push(SubscribeFilter::new(
            self.topics.sync_marker(),
            QoS::AtLeastOnce,
        ));
        if self.discovery {
            filters.push(SubscribeFilter::new(
                self.topics.ha_status(),
                QoS::AtLeastOnce,
            ));
            filters.push(SubscribeFilter::new(
                self.topics.discovery_filter(),
                QoS::AtLeastOnce,
            ));
        }
        let subscribed = self.client.try_subscribe_many(filters).is_ok();
        let marked = subscribed
            && self
                .client
                .try_publish(self.topics.sync_marker(), QoS::AtLeastOnce, false, "sync")
                .is_ok();
        if marked {
            self.inflight.push_back(Inflight {
                pkid: None,
                acked: false,
                sent: Sent::Own,
            });
            self.sync_since = Some(Instant::now());
        } else {
            tracing::warn!("MQTT: could not subscribe; switch commands are not received");
            self.on_synced();
        }
    }

    fn on_error(&mut self, e: &ConnectionError) {
        let (text, refused) = match e {
            ConnectionError::ConnectionRefused(code) => (
                format!(
                    "broker refused the connection ({code:?}); check [mqtt] client_id, username and password"
                ),
                true,
            ),
            other => (other.to_string(), false),
        };
        if self.connected {
            let lasted = self.connected_at.map_or(Duration::ZERO, |t| t.elapsed());
            if lasted < STABLE {
                self.kicks += 1;
            } else {
                self.kicks = 0;
            }
            if self.kicks >= KICKS {
                if self.kicks == KICKS || self.kicks.is_power_of_two() {
                    tracing::error!(
                        broker = %self.broker,
                        client_id = %self.client_id,
                        "MQTT: the broker closed the connection {} times in a row within {:.1} s of \
                         connecting ({text}): another client is connected with the same client id and \
                         the broker drops one of the two; give each Vigil its own [mqtt] client_id (the \
                         default is unique per host and data directory). Retrying every {} s at most",
                        self.kicks,
                        lasted.as_secs_f64(),
                        self.backoff_max.as_secs_f64(),
                    );
                }
                self.stats.set_health(MqttHealth::Kicked);
            } else {
                tracing::warn!(broker = %self.broker, "MQTT connection lost: {text}; buffering");
                self.stats.set_health(MqttHealth::Disconnected);
            }
            self.down_since = Some(Instant::now());
        } else {
            if self.failures == 0 {
                tracing::warn!(broker = %self.broker, "MQTT cannot connect: {text}; retrying");
                self.down_since.get_or_insert_with(Instant::now);
            } else {
                tracing::debug!(broker = %self.broker, "MQTT connect attempt failed: {text}");
            }
            if self.kicks < KICKS {
                self.stats.set_health(if refused {
                    MqttHealth::Refused
                } else {
                    MqttHealth::Disconnected
                });
            }
        }
        self.failures += 1;
        *self
            .stats
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(text);
        self.connected = false;
        self.connected_at = None;
        self.sync_since = None;
        self.burst = false;
        self.stats.connected.store(false, Ordering::Relaxed);
        if self.disconnecting {
            // The connection closed while shutting down: nothing more can be sent.
            self.done = true;
        }
        self.requeue_inflight();
    }

    /// Puts every unacknowledged publish back: messages at the front of the buffer in their order, state
    /// topics marked to be sent again.
    fn requeue_inflight(&mut self) {
        self.pop_acked();
        let mut records = Vec::new();
        for f in self.inflight.drain(..) {
            match f.sent {
                Sent::Record(r) if !f.acked => records.push(r),
                Sent::Record(_) => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Sent::State(..) | Sent::Own => {}
            }
        }
        self.stats.inflight.store(0, Ordering::Relaxed);
        let mut g = self.lock();
        g.states.requeue_unacked();
        let dropped = g.outbox.push_front_all(records);
        drop(g);
        for d in &dropped {
            log_dropped(d);
        }
    }

    fn pop_acked(&mut self) {
        while self.inflight.front().is_some_and(|f| f.acked) {
            let Some(f) = self.inflight.pop_front() else {
                break;
            };
            match f.sent {
                Sent::Record(_) => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Sent::State(key, version) => self.lock().states.acked(&key, version),
                Sent::Own => {}
            }
        }
        self.stats
            .inflight
            .store(self.inflight.len() as u64, Ordering::Relaxed);
    }

    /// After anything changed: retire acknowledged publishes, clear stale discovery, hand new publishes
    /// over, advance shutdown.
    fn after_change(&mut self) {
        self.pop_acked();
        self.sweep();
        self.hand_over();
        self.advance_shutdown();
    }

    /// Hands buffered messages and changed state topics to rumqttc while there is room in flight. Right
    /// after a connection every state goes first, `online` last; then discovery configs, event messages,
    /// other states.
    fn hand_over(&mut self) {
        if !self.connected || self.disconnecting {
            return;
        }
        let shared = self.shared.clone();
        let mut g = shared.lock().unwrap_or_else(|p| p.into_inner());
        // Discovery waits until the broker's retained configs are known.
        let lowest = if g.broker.synced {
            RANK_DISCOVERY
        } else {
            RANK_VALUE
        };
        while self.inflight.len() < self.max_inflight {
            let first = if self.burst {
                lowest..=RANK_AVAILABILITY
            } else {
                lowest..=RANK_DISCOVERY
            };
            if let Some((key, payload, version)) = g.states.take_dirty(first) {
                if !self.send_state(&key, &payload, version) {
                    g.states.mark_dirty(key);
                    break;
                }
                continue;
            }
            self.burst = false;
            if let Some(rec) = g.outbox.pop_front() {
                if let RecordKind::Output { name, deadline } = &rec.kind
                    && Instant::now() > *deadline
                {
                    tracing::warn!(output = %name, "output trigger abandoned: not sent within max_delay");
                    g.expired += 1;
                    continue;
                }
                match self.client.try_publish(
                    rec.topic.clone(),
                    self.qos,
                    rec.retain,
                    rec.payload.to_vec(),
                ) {
                    Ok(()) => self.inflight.push_back(Inflight {
                        pkid: None,
                        acked: false,
                        sent: Sent::Record(rec),
                    }),
                    Err(_) => {
                        g.outbox.push_front_all(vec![rec]);
                        break;
                    }
                }
                continue;
            }
            if let Some((key, payload, version)) = g.states.take_dirty(lowest..=RANK_AVAILABILITY) {
                if !self.send_state(&key, &payload, version) {
                    g.states.mark_dirty(key);
                    break;
                }
                continue;
            }
            break;
        }
        self.stats
            .inflight
            .store(self.inflight.len() as u64, Ordering::Relaxed);
    }

    fn send_state(&mut self, key: &StateKey, payload: &[u8], version: u64) -> bool {
        let ok = self
            .client
            .try_publish(key.1.clone(), self.qos, true, payload.to_vec())
            .is_ok();
        if ok {
            self.inflight.push_back(Inflight {
                pkid: None,
                acked: false,
                sent: Sent::State(key.clone(), version),
            });
        }
        ok
    }

    /// During shutdown: once everything is delivered, publish `offline` and disconnect.
    fn advance_shutdown(&mut self) {
        let avail = self.topics.availability();
        let mut g = self.lock();
        if g.closing.is_none() || !self.connected || self.disconnecting {
            return;
        }
        let flushed = g.outbox.is_empty() && g.states.dirty_count() == 0;
        if !flushed || !self.inflight.is_empty() {
            return;
        }
        let offline_set = g.states.set(
            RANK_AVAILABILITY,
            avail.clone(),
            b"offline".to_vec(),
            b"offline".to_vec(),
        );
        if offline_set {
            drop(g);
            self.hand_over();
            return;
        }
        if g.states.is_acked(RANK_AVAILABILITY, &avail) {
            drop(g);
            self.disconnecting = true;
            if self.client.try_disconnect().is_err() {
                self.done = true;
            }
        }
    }

    fn finish(&mut self) {
        self.requeue_inflight();
        let g = self.lock();
        let left = g.outbox.len();
        if left > 0 {
            tracing::warn!(
                broker = %self.broker,
                "MQTT stopped with {left} messages not delivered"
            );
        }
        self.stats.connected.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_connection_task_is_a_health_state_with_its_reason() {
        let stats = Arc::new(MqttStats::default());
        stats.connected.store(true, Ordering::Relaxed);
        supervised(async { panic!("index out of bounds") }, stats.clone()).await;
        assert!(!stats.connected.load(Ordering::Relaxed));
        assert_eq!(*stats.health.lock().unwrap(), MqttHealth::Stopped);
        let err = stats.last_error.lock().unwrap().clone().unwrap();
        assert!(err.contains("index out of bounds"), "{err}");
    }
}
