//! The MQTT connection task: polls rumqttc's event loop continuously, hands buffered messages over while
//! connected, tracks every publish until the broker acknowledges it, and puts unacknowledged ones back in
//! the buffer when the connection drops.
//!
//! The session is clean (`clean_session = true`): after a reconnection the broker remembers nothing and
//! rumqttc forgets its pending publishes, so this task re-sends everything unacknowledged itself. That is
//! the one behaviour that holds whether or not the broker was restarted or persists sessions.

use super::{
    MqttShared, MqttStats, RANK_AVAILABILITY, RANK_DISCOVERY, RANK_VALUE, Record, RecordKind,
    StateKey, Topics, log_dropped,
};
use crate::config::MqttConfig;
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, LastWill, MqttOptions, Outgoing};
use rumqttc::{Packet, QoS};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Largest packet rumqttc may read or write (payloads are limited to [`super::MAX_PAYLOAD`] before).
const MAX_PACKET: usize = 1024 * 1024;

enum Sent {
    Record(Record),
    State(StateKey, u64),
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
    topics: Topics,
    qos: QoS,
    discovery: bool,
    broker: String,
    inflight: VecDeque<Inflight>,
    max_inflight: usize,
    connected: bool,
    ever_connected: bool,
    down_since: Option<Instant>,
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
    shared: Arc<Mutex<MqttShared>>,
    notify: Arc<Notify>,
    stats: Arc<MqttStats>,
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
    let (client, eventloop) = AsyncClient::new(opts, max_inflight + 8);
    let link = Link {
        client,
        shared,
        stats,
        topics: topics.clone(),
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
        down_since: None,
        failures: 0,
        backoff: BACKOFF_MIN,
        backoff_max: Duration::from_millis(config.reconnect_max.as_millis()).max(BACKOFF_MIN),
        disconnecting: false,
        done: false,
    };
    let handle = tokio::runtime::Handle::try_current().map_err(|_| crate::AlertError::NoRuntime)?;
    Ok(handle.spawn(run(link, eventloop, notify)))
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
            Event::Incoming(Packet::Publish(p))
                if self.discovery
                    && p.topic == self.topics.ha_status()
                    && p.payload.as_ref() == b"online" =>
            {
                tracing::info!("Home Assistant restarted: publishing discovery and states again");
                self.lock().states.mark_all_dirty();
            }
            Event::Outgoing(Outgoing::Disconnect) => {
                tracing::info!(broker = %self.broker, "MQTT disconnected cleanly");
                self.done = true;
            }
            _ => {}
        }
        self.after_change();
    }

    fn on_connect(&mut self, session_present: bool) {
        if session_present {
            // Cannot happen with a clean session; rumqttc would then re-send its own pending publishes
            // and ours would be duplicates, which QoS 1 consumers tolerate.
            tracing::warn!("MQTT broker reports a session present despite clean_session");
        }
        self.connected = true;
        self.stats.connected.store(true, Ordering::Relaxed);
        self.backoff = BACKOFF_MIN;
        self.failures = 0;
        let queued = {
            let mut g = self.lock();
            g.states.mark_all_dirty();
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
            tracing::info!(broker = %self.broker, "MQTT connected");
        }
        self.ever_connected = true;
        self.down_since = None;
        if self.discovery
            && self
                .client
                .try_subscribe(self.topics.ha_status(), QoS::AtLeastOnce)
                .is_err()
        {
            tracing::warn!("MQTT: could not subscribe to Home Assistant's status topic");
        }
    }

    fn on_error(&mut self, e: &ConnectionError) {
        let text = match e {
            ConnectionError::ConnectionRefused(code) => format!(
                "broker refused the connection ({code:?}); check [mqtt] client_id, username and password"
            ),
            other => other.to_string(),
        };
        if self.connected {
            tracing::warn!(broker = %self.broker, "MQTT connection lost: {text}; buffering");
            self.down_since = Some(Instant::now());
        } else if self.failures == 0 {
            tracing::warn!(broker = %self.broker, "MQTT cannot connect: {text}; retrying");
            self.down_since.get_or_insert_with(Instant::now);
        } else {
            tracing::debug!(broker = %self.broker, "MQTT connect attempt failed: {text}");
        }
        self.failures += 1;
        *self
            .stats
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(text);
        self.connected = false;
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
                Sent::State(..) => {}
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
            }
        }
        self.stats
            .inflight
            .store(self.inflight.len() as u64, Ordering::Relaxed);
    }

    /// After anything changed: retire acknowledged publishes, hand new ones over, advance shutdown.
    fn after_change(&mut self) {
        self.pop_acked();
        self.hand_over();
        self.advance_shutdown();
    }

    /// Hands buffered messages and changed state topics to rumqttc while there is room in flight:
    /// availability and discovery first, then event messages, then other states.
    fn hand_over(&mut self) {
        if !self.connected || self.disconnecting {
            return;
        }
        let shared = self.shared.clone();
        let mut g = shared.lock().unwrap_or_else(|p| p.into_inner());
        while self.inflight.len() < self.max_inflight {
            if let Some((key, payload, version)) = g.states.take_dirty(RANK_DISCOVERY) {
                if !self.send_state(&key, &payload, version) {
                    g.states.mark_dirty(key);
                    break;
                }
                continue;
            }
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
            if let Some((key, payload, version)) = g.states.take_dirty(RANK_VALUE) {
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
