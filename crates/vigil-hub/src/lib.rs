//! The hub: many Vigil sites in one view (`vigil hub --config hub.toml`).
//!
//! Sites publish their events, snapshots and status on their own NATS subjects; the hub owns the
//! JetStream streams they land in, takes them in with durable consumers ([`ingest`]) and keeps them in
//! PostgreSQL ([`db`]); it asks sites for what stays on site (video, configuration) by request-reply
//! ([`vigil_uplink::ask`]). Site identities and the NATS server's permissions: [`nats_conf`].
//! Architecture, choices and figures: `docs/design/multisite.md`.

pub mod central;
pub mod config;
pub mod db;
pub mod http;
pub mod ingest;
pub mod nats_conf;
pub mod relay;

pub use config::HubConfig;
pub use db::HubDb;

use async_nats::jetstream;
use ingest::IngestStats;
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

/// What went wrong in the hub.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// A setting or file is wrong.
    #[error("{0}")]
    Config(String),
    /// PostgreSQL failed.
    #[error("hub database: {0}")]
    Db(String),
    /// NATS failed.
    #[error("NATS: {0}")]
    Nats(String),
    /// The uplink's link code failed.
    #[error(transparent)]
    Link(#[from] vigil_uplink::UplinkError),
    /// A site answered a request with a refusal or a failure (its words).
    #[error("site {site}: {message}")]
    Site {
        /// The site.
        site: String,
        /// What it said.
        message: String,
    },
}

/// The running hub's intake: the database, the NATS client and the consumer tasks.
pub struct Hub {
    /// The database.
    pub db: HubDb,
    /// The NATS connection (for asking sites).
    pub client: async_nats::Client,
    /// Intake figures.
    pub stats: Arc<IngestStats>,
    /// The configuration.
    pub config: HubConfig,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Hub {
    /// Opens the database, connects to NATS (with the hub's NKey, made at the first start), creates
    /// the streams and starts taking in what the sites send.
    pub async fn start(config: HubConfig) -> Result<Hub, HubError> {
        std::fs::create_dir_all(&config.hub.data_dir).map_err(|e| {
            HubError::Config(format!(
                "creating data_dir {}: {e}",
                config.hub.data_dir.display()
            ))
        })?;
        if config.hub.nats_user.is_none() {
            nats_conf::hub_key(&config.seed_file())?;
        }
        let db = HubDb::open(&config.hub.postgres_url, 8).await?;
        let client = config.nats_auth().connect("vigil-hub", None).await?;
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(10))
            .build(client.clone());
        // The server may not be up yet: keep trying, the sites' messages wait in their outboxes.
        let mut wait = Duration::from_millis(200);
        loop {
            match ingest::ensure_streams(&js).await {
                Ok(()) => break,
                Err(e) if wait < Duration::from_secs(5) => {
                    tracing::warn!("{e}; retrying");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Err(e) => return Err(e),
            }
        }
        let stats = Arc::new(IngestStats::default());
        let data_dir = config.hub.data_dir.clone();
        let tasks = vec![
            tokio::spawn(ingest::events_loop(
                js.clone(),
                db.clone(),
                data_dir.clone(),
                stats.clone(),
            )),
            tokio::spawn(ingest::snapshots_loop(
                js.clone(),
                db.clone(),
                data_dir,
                config.hub.snapshot_max_bytes,
                stats.clone(),
            )),
            tokio::spawn(ingest::status_loop(js, db.clone(), stats.clone())),
            tokio::spawn(retention_loop(db.clone(), config.hub.event_retention_days)),
        ];
        info!("hub running");
        Ok(Hub {
            db,
            client,
            stats,
            config,
            tasks,
        })
    }

    /// Stops taking in (what was not acknowledged is redelivered at the next start).
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.client.flush().await;
        self.db.pool().close().await;
    }
}

async fn retention_loop(db: HubDb, days: u32) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match db.expire_events(days).await {
            Ok(0) => {}
            Ok(n) => info!(events = n, "hub event retention: deleted"),
            Err(e) => tracing::warn!("{e}"),
        }
    }
}
