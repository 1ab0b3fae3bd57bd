//! The site uplink: this box as one site of a hub, over NATS JetStream.
//!
//! - **Events go up from a durable outbox.** The event store queues every change of an event in its own
//!   database, in the same transaction (`vigil_store` `uplink_outbox`). [`drain`] publishes the queue in
//!   order to JetStream with the message id `<site>-<seq>`, waits for the stream's acknowledgements and
//!   only then forgets what was acknowledged. A lost link, a hub restart or a site crash therefore loses
//!   nothing; a change sent twice (acknowledged but not yet forgotten when the site stopped) is dropped
//!   by the stream's duplicate window and, past it, by the hub applying only newer sequence numbers.
//!   Design and measurements: `docs/design/multisite.md`.
//! - **Status** ([`SiteStatus`](wire::SiteStatus)) every `heartbeat_s`: cameras, storage, backlog.
//! - **Requests** from the hub (`vigil.site.S.req.*`) are answered by the binary's [`Responder`].
//! - Nothing here blocks recording, analysis or alerts: the uplink is one more consumer of the event
//!   store, on the I/O runtime, and it only reads the database.

pub mod config;
pub mod link;
pub mod wire;

pub use config::UplinkConfig;
pub use link::NatsAuth;

use async_nats::jetstream;
use async_nats::jetstream::message::PublishMessage;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{debug, info, warn};
use vigil_store::{EventReader, OutboxItem, OutboxOp, SnapshotKind, Store};
use wire::{EventEnvelope, EventLine, EventOp, Reply, Request, SiteStatus};

/// What went wrong in the uplink.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    /// A setting is wrong.
    #[error("uplink configuration: {0}")]
    Config(String),
    /// A file could not be read.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The NATS link failed.
    #[error("NATS: {0}")]
    Nats(String),
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] vigil_store::StoreError),
}

/// Changes read from the outbox per round.
const BATCH: usize = 256;
/// How often an empty outbox is looked at again without being told of a write (deletions by retention
/// and erasure ring no bell).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Longest wait between tries while the hub does not acknowledge.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The uplink's figures (for `/metrics`, the system page and the status it sends).
#[derive(Debug, Default)]
pub struct UplinkStats {
    /// Changes the hub acknowledged.
    pub sent: AtomicU64,
    /// Changes published again after a failed round.
    pub resent: AtomicU64,
    /// Changes dropped over the backlog bound.
    pub dropped: AtomicU64,
    /// Snapshots sent.
    pub snapshots: AtomicU64,
    /// Changes waiting (as of the last look).
    pub backlog: AtomicU64,
    /// When the oldest waiting change was queued (unix ms; 0 when none).
    pub oldest_ms: AtomicI64,
    /// The last round was acknowledged.
    pub connected: AtomicBool,
    /// The last failure, for people.
    pub last_error: Mutex<Option<String>>,
    /// Requests answered.
    pub requests: AtomicU64,
}

impl UplinkStats {
    /// The figures sent in the site's status.
    pub fn figures(&self) -> wire::UplinkFigures {
        let oldest = self.oldest_ms.load(Ordering::Relaxed);
        wire::UplinkFigures {
            backlog: self.backlog.load(Ordering::Relaxed),
            oldest_ms: (oldest > 0).then_some(oldest),
            sent: self.sent.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    fn failed(&self, why: String) {
        self.connected.store(false, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
    }
}

/// Answers the hub's requests (implemented by the binary, which has the recordings and the config).
/// Called on a blocking thread.
pub trait Responder: Send + Sync + 'static {
    /// The answer to `request`.
    fn answer(&self, request: Request) -> Reply;
}

/// Builds the site's status (called on a blocking thread every heartbeat).
pub type StatusSource = Arc<dyn Fn() -> SiteStatus + Send + Sync>;

/// The running uplink: its own thread (`uplink`) with a small runtime of its own, so neither the
/// engine's runtime nor its restarts and shutdown hold it back, and it can finish sending what the
/// engine's last moments stored.
pub struct Uplink {
    /// Its figures.
    pub stats: Arc<UplinkStats>,
    store: Arc<Store>,
    stop: Option<tokio::sync::oneshot::Sender<std::time::Instant>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Uplink {
    /// Starts the uplink on a thread of its own: turns the store's outbox on, connects (in the background
    /// if the hub cannot be reached now: events wait in the outbox), and starts draining, the heartbeat
    /// and the request answering. Fails only on a wrong setting or an unreadable key file.
    pub fn start(
        config: &UplinkConfig,
        store: Arc<Store>,
        reader: EventReader,
        status: StatusSource,
        responder: Arc<dyn Responder>,
    ) -> Result<Uplink, UplinkError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(UplinkError::Config(problems.join("; ")));
        }
        // Read the key now, so a wrong file is an error at start, not a silent retry loop.
        if let Some(p) = &config.nkey_seed_file {
            link::read_seed(p)?;
        }
        store.set_uplink_outbox(true)?;
        let stats = Arc::new(UplinkStats::default());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<std::time::Instant>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), UplinkError>>();
        let config = config.clone();
        let thread_store = store.clone();
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("uplink".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(UplinkError::Io {
                            what: "starting the uplink's runtime".into(),
                            source: e,
                        }));
                        return;
                    }
                };
                rt.block_on(async move {
                    let tasks = match run_tasks(
                        &config,
                        thread_store.clone(),
                        reader,
                        status,
                        responder,
                        thread_stats,
                    )
                    .await
                    {
                        Ok(t) => {
                            let _ = ready_tx.send(Ok(()));
                            t
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let deadline = stop_rx.await.unwrap_or_else(|_| std::time::Instant::now());
                    // Finish sending what is queued (the engine's last events), within the deadline.
                    while std::time::Instant::now() < deadline {
                        let store = thread_store.clone();
                        let depth = tokio::task::spawn_blocking(move || {
                            store.event_reader().and_then(|r| r.outbox_depth())
                        })
                        .await;
                        match depth {
                            Ok(Ok(d)) if d.queued == 0 => break,
                            Ok(Err(_)) | Err(_) => break,
                            _ => tokio::time::sleep(Duration::from_millis(100)).await,
                        }
                    }
                    for t in &tasks.0 {
                        t.abort();
                    }
                    let _ = tasks.1.flush().await;
                });
            })
            .map_err(|source| UplinkError::Io {
                what: "starting the uplink thread".into(),
                source,
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Uplink {
                stats,
                store,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(UplinkError::Config(
                    "the uplink thread ended at start".into(),
                ))
            }
        }
    }

    /// Stops the uplink, after sending what is queued if that takes less than `drain` (what is not
    /// acknowledged stays in the outbox for the next start).
    pub fn stop(mut self, drain: Duration) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(std::time::Instant::now() + drain);
        }
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the uplink thread panicked");
        }
    }

    /// The store it sends from.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

impl Drop for Uplink {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(std::time::Instant::now());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Tasks = (Vec<tokio::task::JoinHandle<()>>, async_nats::Client);

async fn run_tasks(
    config: &UplinkConfig,
    store: Arc<Store>,
    reader: EventReader,
    status: StatusSource,
    responder: Arc<dyn Responder>,
    stats: Arc<UplinkStats>,
) -> Result<Tasks, UplinkError> {
    let site = config.site.clone();
    let conn_stats = stats.clone();
    let client = config
        .auth()
        .options(
            &format!("vigil-site-{site}"),
            Some(wire::inbox_prefix(&site)),
        )
        .await?
        .event_callback(move |event| {
            let stats = conn_stats.clone();
            async move {
                match event {
                    async_nats::Event::Connected => info!("uplink connected to the hub"),
                    async_nats::Event::Disconnected => {
                        stats.failed("disconnected from the hub's NATS server".into());
                        warn!("uplink disconnected from the hub; events wait in the outbox")
                    }
                    other => debug!("uplink: {other}"),
                }
            }
        })
        .connect(config.nats_url.as_str())
        .await
        .map_err(|e| UplinkError::Nats(format!("connecting to {}: {e}", config.nats_url)))?;
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(5))
        .build(client.clone());
    let drainer = Drainer {
        site: site.clone(),
        store,
        reader: Arc::new(Mutex::new(reader)),
        js,
        stats: stats.clone(),
        max_backlog: config.max_backlog,
        send_snapshots: config.send_snapshots,
        send_biometric: config.send_biometric,
        snapshots_sent: HashMap::new(),
    };
    let tasks = vec![
        tokio::spawn(drainer.run()),
        tokio::spawn(heartbeat(
            client.clone(),
            site.clone(),
            config.heartbeat_s,
            status,
            stats.clone(),
        )),
        tokio::spawn(answer_requests(client.clone(), site, responder, stats)),
    ];
    Ok((tasks, client))
}

/// The outbox drainer.
struct Drainer {
    site: String,
    store: Arc<Store>,
    reader: Arc<Mutex<EventReader>>,
    js: jetstream::Context,
    stats: Arc<UplinkStats>,
    max_backlog: u64,
    send_snapshots: bool,
    send_biometric: bool,
    /// Snapshots sent, by event id: the `saved_ms` of the one sent.
    snapshots_sent: HashMap<String, i64>,
}

/// One message to send: an event's latest state at its first place in the batch.
struct Outgoing {
    /// The first change of this event in the batch (the place it keeps in the order).
    first_seq: i64,
    /// The last change of this event in the batch (the sequence number it is sent with).
    last_seq: i64,
    item: OutboxItem,
}

/// Folds a batch so each event is sent once, at the place of its first change, with its current state
/// and its last change's sequence number: a backlog of updates drains as one message per event, and
/// per-camera order (by first appearance) is kept.
fn coalesce(batch: Vec<OutboxItem>) -> Vec<Outgoing> {
    let mut out: Vec<Outgoing> = Vec::with_capacity(batch.len());
    let mut at: HashMap<String, usize> = HashMap::new();
    for item in batch {
        match at.get(&item.event_id) {
            Some(&i) => {
                out[i].last_seq = item.seq;
                out[i].item.op = item.op;
                if item.event.is_some() || item.op == OutboxOp::Delete {
                    out[i].item.event = item.event;
                }
            }
            None => {
                at.insert(item.event_id.clone(), out.len());
                out.push(Outgoing {
                    first_seq: item.seq,
                    last_seq: item.seq,
                    item,
                });
            }
        }
    }
    out
}

impl Drainer {
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store, &EventReader) -> Result<T, vigil_store::StoreError> + Send + 'static,
    ) -> Result<T, UplinkError> {
        let store = self.store.clone();
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let r = reader.lock().unwrap_or_else(|p| p.into_inner());
            f(&store, &r)
        })
        .await
        .map_err(|e| UplinkError::Config(format!("outbox reader stopped: {e}")))?
        .map_err(UplinkError::Store)
    }

    async fn run(mut self) {
        let mut backoff = Duration::from_millis(200);
        let mut last_trim = std::time::Instant::now() - Duration::from_secs(3600);
        loop {
            if last_trim.elapsed() > Duration::from_secs(30) {
                last_trim = std::time::Instant::now();
                let max = self.max_backlog;
                match self.blocking(move |s, _| s.outbox_trim(max)).await {
                    Ok(0) => {}
                    Ok(n) => {
                        self.stats.dropped.fetch_add(n, Ordering::Relaxed);
                        warn!(
                            dropped = n,
                            "uplink backlog over max_backlog ({max}): the oldest event changes were dropped"
                        );
                    }
                    Err(e) => warn!("uplink backlog trim failed: {e}"),
                }
            }
            let batch = match self.blocking(|_, r| r.outbox_batch(0, BATCH)).await {
                Ok(b) => b,
                Err(e) => {
                    warn!("uplink cannot read its outbox: {e}");
                    tokio::time::sleep(MAX_BACKOFF).await;
                    continue;
                }
            };
            if let Ok(depth) = self.blocking(|_, r| r.outbox_depth()).await {
                self.stats.backlog.store(depth.queued, Ordering::Relaxed);
                self.stats
                    .oldest_ms
                    .store(depth.oldest_ms.unwrap_or(0), Ordering::Relaxed);
            }
            let Some(last) = batch.last().map(|i| i.seq) else {
                let bell = self.store.events_written();
                let _ = tokio::time::timeout(IDLE_POLL, bell.notified()).await;
                continue;
            };
            let outgoing = coalesce(batch);
            match self.send(&outgoing).await {
                Ok(()) => {
                    backoff = Duration::from_millis(200);
                    if let Err(e) = self.blocking(move |s, _| s.outbox_ack(last)).await {
                        warn!("uplink cannot forget what the hub acknowledged: {e}");
                    }
                    self.stats.connected.store(true, Ordering::Relaxed);
                    self.send_snapshots(&outgoing).await;
                }
                Err((acked_below, why)) => {
                    if let Some(seq) = acked_below
                        && let Err(e) = self.blocking(move |s, _| s.outbox_ack(seq)).await
                    {
                        warn!("uplink cannot forget what the hub acknowledged: {e}");
                    }
                    debug!("uplink round failed ({why}); retrying in {backoff:?}");
                    self.stats.failed(why);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn envelope(&self, o: &Outgoing) -> Option<EventEnvelope> {
        let line = o.item.event.as_ref().map(EventLine::from_stored);
        let op = match (o.item.op, &line) {
            (OutboxOp::Delete, _) => EventOp::Delete,
            (OutboxOp::Upsert, Some(_)) => EventOp::Upsert,
            // Updated, then deleted before we read it: the delete follows in a later round.
            (OutboxOp::Upsert, None) => return None,
        };
        if let Some(l) = &line
            && !self.send_biometric
            && vigil_core::BIOMETRIC_KINDS.contains(&l.kind.as_str())
        {
            return None;
        }
        Some(EventEnvelope {
            site: self.site.clone(),
            seq: o.last_seq,
            op,
            id: o.item.event_id.clone(),
            event: line,
        })
    }

    /// Publishes every message, then waits for each acknowledgement in order. On a failure returns the
    /// highest sequence number below which everything was acknowledged, and why.
    async fn send(&self, outgoing: &[Outgoing]) -> Result<(), (Option<i64>, String)> {
        let mut pending = Vec::with_capacity(outgoing.len());
        for o in outgoing {
            let Some(env) = self.envelope(o) else {
                continue;
            };
            let camera = env
                .event
                .as_ref()
                .map(|l| l.camera.clone())
                .unwrap_or_else(|| "_".into());
            let body = match serde_json::to_vec(&env) {
                Ok(b) => b,
                Err(e) => return Err((None, format!("encoding an event: {e}"))),
            };
            let msg = PublishMessage::build()
                .payload(body.into())
                .message_id(wire::message_id(&self.site, o.last_seq));
            match self
                .js
                .send_publish(wire::event_subject(&self.site, &camera), msg)
                .await
            {
                Ok(ack) => pending.push((o.first_seq, ack)),
                Err(e) => {
                    pending.clear();
                    return Err((Some(o.first_seq - 1), format!("publishing: {e}")));
                }
            }
        }
        let mut n = 0u64;
        for (first_seq, ack) in pending {
            match ack.await {
                Ok(a) => {
                    if a.duplicate {
                        self.stats.resent.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
                Err(e) => {
                    self.stats.sent.fetch_add(n, Ordering::Relaxed);
                    return Err((
                        Some(first_seq - 1),
                        format!("the hub did not acknowledge: {e}"),
                    ));
                }
            }
        }
        self.stats.sent.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// Sends the best snapshot of each event that has a new one (best effort: a snapshot that fails
    /// goes with the event's next change).
    async fn send_snapshots(&mut self, outgoing: &[Outgoing]) {
        if !self.send_snapshots {
            return;
        }
        if self.snapshots_sent.len() > 20_000 {
            self.snapshots_sent.clear();
        }
        for o in outgoing {
            let Some(stored) = &o.item.event else {
                continue;
            };
            let Some(info) = stored.snapshot else {
                continue;
            };
            if !self.send_biometric
                && vigil_core::BIOMETRIC_KINDS.contains(&stored.event.kind.name())
            {
                continue;
            }
            if self.snapshots_sent.get(&o.item.event_id) == Some(&info.saved_ms) {
                continue;
            }
            let id = stored.event.id;
            let jpeg = match self
                .blocking(move |_, r| r.snapshot(id, SnapshotKind::Full))
                .await
            {
                Ok(j) => j,
                Err(e) => {
                    debug!(event = %id, "snapshot not sent: {e}");
                    continue;
                }
            };
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(wire::EVENT_HEADER, o.item.event_id.as_str());
            let msg = PublishMessage::build()
                .payload(jpeg.into())
                .headers(headers)
                .message_id(format!(
                    "{}-snap-{}-{}",
                    self.site, o.item.event_id, info.saved_ms
                ));
            let subject = wire::snapshot_subject(&self.site, &stored.event.camera);
            let sent = match self.js.send_publish(subject, msg).await {
                Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match sent {
                Ok(()) => {
                    self.stats.snapshots.fetch_add(1, Ordering::Relaxed);
                    self.snapshots_sent
                        .insert(o.item.event_id.clone(), info.saved_ms);
                }
                Err(e) => debug!(event = %id, "snapshot not sent: {e}"),
            }
        }
    }
}

/// Publishes the site's status every `every_s` seconds (the latest only: nothing queues while the
/// link is down).
async fn heartbeat(
    client: async_nats::Client,
    site: String,
    every_s: u32,
    status: StatusSource,
    stats: Arc<UplinkStats>,
) {
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(u64::from(every_s).max(2)))
        .build(client);
    let mut tick = tokio::time::interval(Duration::from_secs(u64::from(every_s)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let source = status.clone();
        let Ok(mut s) = tokio::task::spawn_blocking(move || source()).await else {
            continue;
        };
        s.site = site.clone();
        s.heartbeat_s = every_s;
        s.uplink = stats.figures();
        let Ok(body) = serde_json::to_vec(&s) else {
            continue;
        };
        match js.publish(wire::status_subject(&site), body.into()).await {
            Ok(ack) => {
                if let Err(e) = ack.await {
                    debug!("status not acknowledged: {e}");
                }
            }
            Err(e) => debug!("status not sent: {e}"),
        }
    }
}

/// Answers the hub's requests to this site, each on a blocking thread.
async fn answer_requests(
    client: async_nats::Client,
    site: String,
    responder: Arc<dyn Responder>,
    stats: Arc<UplinkStats>,
) {
    let subject = format!("{}req.>", wire::site_prefix(&site));
    let mut sub = loop {
        match client.subscribe(subject.clone()).await {
            Ok(s) => break s,
            Err(e) => {
                warn!("uplink cannot listen for the hub's requests ({e}); retrying");
                tokio::time::sleep(MAX_BACKOFF).await;
            }
        }
    };
    while let Some(msg) = sub.next().await {
        let Some(reply_to) = msg.reply.clone() else {
            continue;
        };
        let client = client.clone();
        let responder = responder.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            let reply = match serde_json::from_slice::<Request>(&msg.payload) {
                Ok(req) => tokio::task::spawn_blocking(move || responder.answer(req))
                    .await
                    .unwrap_or_else(|e| Reply::Error {
                        message: format!("the request failed: {e}"),
                    }),
                Err(e) => Reply::Error {
                    message: format!("not a request this site understands: {e}"),
                },
            };
            stats.requests.fetch_add(1, Ordering::Relaxed);
            let body = serde_json::to_vec(&reply).unwrap_or_default();
            if let Err(e) = client.publish(reply_to, body.into()).await {
                debug!("reply not sent: {e}");
            }
        });
    }
}

/// Asks a site for something and waits for its answer (the hub's side of [`Responder`]).
pub async fn ask(
    client: &async_nats::Client,
    site: &str,
    request: &Request,
    timeout: Duration,
) -> Result<Reply, UplinkError> {
    let body = serde_json::to_vec(request)
        .map_err(|e| UplinkError::Nats(format!("encoding the request: {e}")))?;
    let subject = wire::request_subject(site, request.verb());
    let msg = tokio::time::timeout(timeout, client.request(subject, body.into()))
        .await
        .map_err(|_| UplinkError::Nats(format!("site {site} did not answer within {timeout:?}")))?
        .map_err(|e| UplinkError::Nats(format!("asking site {site}: {e}")))?;
    serde_json::from_slice(&msg.payload)
        .map_err(|e| UplinkError::Nats(format!("site {site} answered nonsense: {e}")))
}
