//! What the hub takes in from the sites: the JetStream streams it owns, and one durable pull consumer per
//! stream (events, snapshots, status). A message is acknowledged only after PostgreSQL committed what it
//! says, so a hub or database restart redelivers it, and applying it again changes nothing (see
//! [`crate::db`]). A message whose body names another site than its subject is refused (logged,
//! audited, acknowledged so it is not redelivered).

use crate::HubError;
use crate::db::HubDb;
use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tracing::{debug, info, warn};
use vigil_uplink::wire::{self, EventEnvelope, EventOp, SiteStatus};

/// Messages taken per fetch (one database transaction).
const FETCH: usize = 512;

/// The hub's intake figures.
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Event messages applied.
    pub events: AtomicU64,
    /// Messages refused (wrong site, unreadable).
    pub refused: AtomicU64,
    /// Snapshots stored.
    pub snapshots: AtomicU64,
    /// Status messages recorded.
    pub statuses: AtomicU64,
}

/// Creates (or updates) the hub's streams.
pub async fn ensure_streams(js: &jetstream::Context) -> Result<(), HubError> {
    let nats = |e: String| HubError::Nats(e);
    let configs = [
        stream::Config {
            name: wire::EVENTS_STREAM.into(),
            subjects: vec!["vigil.site.*.event.>".into()],
            storage: stream::StorageType::File,
            // A buffer in front of PostgreSQL, not the archive: a week covers a hub down for days.
            max_age: Duration::from_secs(7 * 86_400),
            // Longer than any resend after a failed round: a copy sent again is stored once.
            duplicate_window: Duration::from_secs(3600),
            ..Default::default()
        },
        stream::Config {
            name: wire::SNAPSHOTS_STREAM.into(),
            subjects: vec!["vigil.site.*.snapshot.>".into()],
            storage: stream::StorageType::File,
            max_age: Duration::from_secs(2 * 86_400),
            max_message_size: 1 << 20,
            duplicate_window: Duration::from_secs(600),
            ..Default::default()
        },
        stream::Config {
            name: wire::STATUS_STREAM.into(),
            subjects: vec!["vigil.site.*.status".into()],
            storage: stream::StorageType::File,
            max_messages_per_subject: 1,
            max_age: Duration::from_secs(86_400),
            ..Default::default()
        },
    ];
    for c in configs {
        let name = c.name.clone();
        js.get_or_create_stream(c)
            .await
            .map_err(|e| nats(format!("creating JetStream stream {name}: {e}")))?;
    }
    Ok(())
}

async fn pull_consumer(
    js: &jetstream::Context,
    stream_name: &str,
    durable: &str,
    deliver: consumer::DeliverPolicy,
    filter: &str,
) -> Result<consumer::PullConsumer, HubError> {
    let s = js
        .get_stream(stream_name)
        .await
        .map_err(|e| HubError::Nats(format!("opening stream {stream_name}: {e}")))?;
    s.get_or_create_consumer(
        durable,
        consumer::pull::Config {
            durable_name: Some(durable.into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            deliver_policy: deliver,
            // NATS 2.9 wants a filter with "last per subject".
            filter_subject: filter.into(),
            max_ack_pending: 20_000,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| HubError::Nats(format!("creating consumer {durable} on {stream_name}: {e}")))
}

/// [`pull_consumer`], tried every 2 s until the NATS server has it (it may not be up yet).
async fn consumer_when_ready(
    js: &jetstream::Context,
    stream_name: &str,
    durable: &str,
    deliver: consumer::DeliverPolicy,
    filter: &str,
) -> consumer::PullConsumer {
    loop {
        match pull_consumer(js, stream_name, durable, deliver, filter).await {
            Ok(c) => return c,
            Err(e) => {
                warn!("{e}; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

fn published_ms(m: &jetstream::Message) -> i64 {
    m.info()
        .map(|i| (i.published.unix_timestamp_nanos() / 1_000_000) as i64)
        .unwrap_or_else(|_| vigil_core::time::now_unix_ms())
}

/// Takes in events until the process stops: fetch, apply in one transaction, acknowledge.
pub async fn events_loop(
    js: jetstream::Context,
    db: HubDb,
    data_dir: PathBuf,
    stats: Arc<IngestStats>,
) {
    let consumer = consumer_when_ready(
        &js,
        wire::EVENTS_STREAM,
        "hub-events",
        consumer::DeliverPolicy::All,
        "vigil.site.*.event.>",
    )
    .await;
    info!("taking in events");
    loop {
        let mut batch = match consumer
            .fetch()
            .max_messages(FETCH)
            .expires(Duration::from_millis(500))
            .messages()
            .await
        {
            Ok(b) => b,
            Err(e) => {
                debug!("fetching events: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut msgs = Vec::new();
        while let Some(m) = batch.next().await {
            match m {
                Ok(m) => msgs.push(m),
                Err(e) => debug!("fetching events: {e}"),
            }
        }
        if msgs.is_empty() {
            continue;
        }
        let mut good = Vec::with_capacity(msgs.len());
        for m in &msgs {
            match check_event(m) {
                Ok(pair) => good.push(pair),
                Err(why) => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    warn!(subject = %m.subject, "event refused: {why}");
                    let _ = db
                        .audit(
                            "hub",
                            "site.refused",
                            wire::site_of_subject(&m.subject),
                            serde_json::json!({ "subject": m.subject.as_str(), "why": why }),
                            None,
                        )
                        .await;
                }
            }
        }
        // Retried until PostgreSQL takes it: nothing is acknowledged before it is stored.
        let mut wait = Duration::from_millis(200);
        loop {
            match db.apply_events(&good).await {
                Ok(_) => break,
                Err(e) => {
                    warn!("{e}; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
        for (site, env) in &good {
            if env.op == EventOp::Delete {
                let _ = std::fs::remove_file(snapshot_path(&data_dir, site, &env.id));
            }
        }
        stats.events.fetch_add(good.len() as u64, Ordering::Relaxed);
        for m in msgs {
            if let Err(e) = m.ack().await {
                debug!("acknowledging an event: {e}");
            }
        }
    }
}

/// The site of a message, checked: its body names the same site as its subject.
fn check_event(m: &jetstream::Message) -> Result<(String, EventEnvelope), String> {
    let site = wire::site_of_subject(&m.subject)
        .ok_or_else(|| "not a site subject".to_string())?
        .to_string();
    let env: EventEnvelope =
        serde_json::from_slice(&m.payload).map_err(|e| format!("unreadable event: {e}"))?;
    if env.site != site {
        return Err(format!(
            "published on site {site}'s subject but names site {}",
            env.site
        ));
    }
    if let Some(line) = &env.event
        && line.id != env.id
    {
        return Err("event id differs from its envelope's".into());
    }
    Ok((site, env))
}

/// Where the hub keeps a site's snapshot of an event.
pub fn snapshot_path(data_dir: &Path, site: &str, event_id: &str) -> PathBuf {
    let safe: String = event_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    data_dir
        .join("snapshots")
        .join(site)
        .join(format!("{safe}.jpg"))
}

/// Takes in snapshots: written to `data_dir/snapshots/<site>/<event>.jpg` (temporary file, rename).
pub async fn snapshots_loop(
    js: jetstream::Context,
    db: HubDb,
    data_dir: PathBuf,
    max_bytes: usize,
    stats: Arc<IngestStats>,
) {
    let consumer = consumer_when_ready(
        &js,
        wire::SNAPSHOTS_STREAM,
        "hub-snapshots",
        consumer::DeliverPolicy::All,
        "vigil.site.*.snapshot.>",
    )
    .await;
    loop {
        let mut batch = match consumer
            .fetch()
            .max_messages(32)
            .expires(Duration::from_secs(1))
            .messages()
            .await
        {
            Ok(b) => b,
            Err(e) => {
                debug!("fetching snapshots: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        while let Some(Ok(m)) = batch.next().await {
            let site = wire::site_of_subject(&m.subject).map(str::to_string);
            let event = m
                .headers
                .as_ref()
                .and_then(|h| h.get(wire::EVENT_HEADER))
                .map(|v| v.to_string());
            if let (Some(site), Some(event)) = (site, event)
                && m.payload.len() <= max_bytes
                && m.payload.starts_with(&[0xFF, 0xD8])
            {
                let path = snapshot_path(&data_dir, &site, &event);
                let bytes = m.payload.clone();
                let written = tokio::task::spawn_blocking(move || write_file(&path, &bytes)).await;
                match written {
                    Ok(Ok(())) => {
                        if let Err(e) = db.record_snapshot(&site, &event, m.payload.len()).await {
                            warn!("{e}");
                            continue; // not acknowledged: redelivered
                        }
                        stats.snapshots.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(e)) => {
                        warn!("snapshot of {event} not stored: {e}");
                        continue;
                    }
                    Err(_) => continue,
                }
            } else {
                stats.refused.fetch_add(1, Ordering::Relaxed);
                warn!(subject = %m.subject, "snapshot refused (no event header, not a JPEG, or too big)");
            }
            let _ = m.ack().await;
        }
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("jpg.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Takes in the sites' status and marks silent sites offline.
pub async fn status_loop(js: jetstream::Context, db: HubDb, stats: Arc<IngestStats>) {
    let consumer = consumer_when_ready(
        &js,
        wire::STATUS_STREAM,
        "hub-status",
        consumer::DeliverPolicy::LastPerSubject,
        "vigil.site.*.status",
    )
    .await;
    loop {
        if let Ok(sites) = db.mark_offline(vigil_core::time::now_unix_ms()).await {
            for s in sites {
                warn!(site = s, "site offline: no status for three heartbeats");
                let _ = db
                    .audit("hub", "site.offline", Some(&s), serde_json::json!({}), None)
                    .await;
            }
        }
        let mut batch = match consumer
            .fetch()
            .max_messages(256)
            .expires(Duration::from_secs(1))
            .messages()
            .await
        {
            Ok(b) => b,
            Err(e) => {
                debug!("fetching status: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        while let Some(Ok(m)) = batch.next().await {
            let site = wire::site_of_subject(&m.subject).map(str::to_string);
            match serde_json::from_slice::<SiteStatus>(&m.payload) {
                Ok(s) if Some(&s.site) == site.as_ref() => {
                    match db.record_status(&s, published_ms(&m)).await {
                        Ok(true) => {
                            stats.statuses.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(false) => debug!(site = s.site, "status of an unknown site ignored"),
                        Err(e) => {
                            warn!("{e}");
                            continue;
                        }
                    }
                }
                _ => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    warn!(subject = %m.subject, "status refused (unreadable, or another site's)");
                }
            }
            let _ = m.ack().await;
        }
    }
}
