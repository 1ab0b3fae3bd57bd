//! `vigil hub`: the central service of many sites (vigil-hub).
//!
//! - `vigil hub --config hub.toml`: run it (take in every site's events, snapshots and status; serve the
//!   hub's API and UI) until Ctrl-C or SIGTERM.
//! - `vigil hub events --config hub.toml --json`: every site's events as JSON lines (with `site`).
//! - `vigil hub site add NAME --seed-out FILE [--standby-for A,B]`: a new site and its NKey (a standby
//!   box may watch the status of the sites it stands by for); `site list`, `site remove NAME`.
//! - `vigil hub ask --site S ping|picture|recordings|clip|config-get|config-push|config-versions|
//!   config-rollback`: ask a site through the hub (`hub_ask`, docs/hub-relay.md).
//! - `vigil hub bench --sites S --cameras C --duration 60 [--events-per-camera-minute N]
//!   [--query-events 10000000]`: the scale benchmark (`hub_bench`).
//! - `vigil hub site add NAME --seed-out FILE`: a new site and its NKey; `site list`, `site remove NAME`.
//! - `vigil hub user add NAME --role admin [--sites a,b]`, `vigil hub user list`: central users of the hub's
//!   API and UI (docs/hub.md).
//! - `vigil hub nats-config --listen … --store-dir … --out nats.conf`: the NATS server's configuration
//!   with each site's permissions.
//!
//! docs/design/multisite.md.

use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use vigil_hub::{HubConfig, HubDb, nats_conf};

/// `vigil hub` arguments.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = false)]
pub struct Args {
    /// The hub's configuration file.
    #[arg(
        long,
        short,
        default_value = "hub.toml",
        env = "VIGIL_HUB_CONFIG",
        global = true
    )]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Option<HubCommand>,
}

/// `vigil hub` subcommands (none: run the hub).
#[derive(clap::Subcommand)]
pub enum HubCommand {
    /// Every site's events as JSON lines, oldest first, each with its `site`.
    Events {
        /// One JSON object per line (the only format; kept for scripts that say so).
        #[arg(long)]
        json: bool,
        /// Only this site's events.
        #[arg(long)]
        site: Option<String>,
    },
    /// The scale benchmark: simulated sites publishing events and statuses to the running hub, then
    /// the event list's query times over millions of events (`docs/design/multisite.md`, "Scale").
    Bench(crate::cmd::hub_bench::BenchArgs),
    /// Sites: `add`, `list`, `remove`.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Ask a site for what stays on site: `ping`, `picture`, `recordings`, `clip`, `config-get`,
    /// `config-push`, `config-versions`, `config-rollback` (audited, actor `cli`; docs/hub-relay.md).
    Ask(super::hub_ask::Args),
    /// Central users of the hub's API and UI: `add`, `list`.
    #[command(subcommand)]
    User(crate::cmd::hub_user::HubUserCommand),
    /// Write the NATS server's configuration: JetStream, TLS and each site's permissions.
    NatsConfig {
        /// Where the NATS server listens.
        #[arg(long, default_value = "0.0.0.0:4222")]
        listen: String,
        /// JetStream's directory.
        #[arg(long)]
        store_dir: PathBuf,
        /// Server certificate (PEM) for TLS.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// Its key.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `vigil hub site` subcommands.
#[derive(clap::Subcommand)]
pub enum SiteCommand {
    /// Add a site: makes its NKey, keeps the public key, writes the seed (for the site's `[uplink]
    /// nkey_seed_file`) to `--seed-out`, owner-only.
    Add {
        /// The site's name (letters, digits, `-`, `_`).
        name: String,
        /// Where to write the site's seed (refuses to overwrite).
        #[arg(long)]
        seed_out: PathBuf,
        /// This site is a standby box for these sites (comma-separated): it may watch their status
        /// and takes their cameras over when they fall silent (its `[standby]` section).
        #[arg(long, value_delimiter = ',')]
        standby_for: Vec<String>,
    },
    /// List sites: name, online, last seen.
    List,
    /// Remove a site (its events stay until the hub's retention).
    Remove {
        /// The site's name.
        name: String,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("hub-io")
        .enable_all()
        .build()
        .context("starting the I/O runtime")
}

/// Runs `vigil hub`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let config = HubConfig::load(&args.config)?;
    let rt = runtime()?;
    rt.block_on(async move {
        match args.command {
            None => serve(config).await,
            Some(HubCommand::Events { json: _, site }) => {
                let db = HubDb::open(&config.hub.postgres_url, 2).await?;
                let sites = site.map(|s| vec![s]);
                let lines = db.all_events(sites.as_deref()).await?;
                let mut out = std::io::stdout().lock();
                for l in lines {
                    serde_json::to_writer(&mut out, &l)?;
                    out.write_all(b"\n")?;
                }
                out.flush()?;
                Ok(())
            }
            Some(HubCommand::Site(cmd)) => site(config, cmd).await,
            Some(HubCommand::Ask(args)) => super::hub_ask::run(config, args).await,
            Some(HubCommand::Bench(bench)) => crate::cmd::hub_bench::run(config, bench).await,
            Some(HubCommand::User(cmd)) => crate::cmd::hub_user::run(&config, cmd).await,
            Some(HubCommand::NatsConfig {
                listen,
                store_dir,
                tls_cert,
                tls_key,
                out,
            }) => {
                let hub_public = nats_conf::hub_key(&config.seed_file())?;
                let db = HubDb::open(&config.hub.postgres_url, 2).await?;
                let text = nats_conf::server_config(
                    &hub_public,
                    &db.sites().await?,
                    &nats_conf::ServerOptions {
                        listen,
                        store_dir,
                        tls_cert,
                        tls_key,
                    },
                );
                match out {
                    Some(path) => std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?,
                    None => print!("{text}"),
                }
                Ok(())
            }
        }
    })
}

async fn site(config: HubConfig, cmd: SiteCommand) -> anyhow::Result<()> {
    let db = HubDb::open(&config.hub.postgres_url, 2).await?;
    match cmd {
        SiteCommand::Add {
            name,
            seed_out,
            standby_for,
        } => {
            vigil_uplink::wire::check_site_name(&name)?;
            for primary in &standby_for {
                vigil_uplink::wire::check_site_name(primary)?;
                anyhow::ensure!(primary != &name, "a site cannot stand by for itself");
            }
            let (public, seed) = nats_conf::new_user_key()?;
            nats_conf::write_seed(&seed_out, &seed)?;
            db.add_site(&name, Some(&public)).await?;
            db.set_standby_for(&name, &standby_for).await?;
            db.audit(
                "cli",
                "site.add",
                Some(&name),
                serde_json::json!({ "nkey": public, "standby_for": standby_for }),
                None,
            )
            .await?;
            eprintln!(
                "vigil: site {name:?} added (NKey {public}); its seed is in {} — copy it to the site, set \
                 [uplink] nkey_seed_file there, then run `vigil hub nats-config` and reload the NATS server",
                seed_out.display()
            );
        }
        SiteCommand::List => {
            let mut out = std::io::stdout().lock();
            for s in db.sites().await? {
                serde_json::to_writer(
                    &mut out,
                    &serde_json::json!({
                        "site": s.name,
                        "online": s.online(),
                        "last_seen_ms": s.last_seen_ms,
                        "offline_since_ms": s.offline_since_ms,
                        "version": s.version,
                        "standby_for": s.standby_for,
                    }),
                )?;
                out.write_all(b"\n")?;
            }
        }
        SiteCommand::Remove { name } => {
            if !db.remove_site(&name).await? {
                anyhow::bail!("no site named {name:?}");
            }
            db.audit(
                "cli",
                "site.remove",
                Some(&name),
                serde_json::json!({}),
                None,
            )
            .await?;
            eprintln!(
                "vigil: site {name:?} removed; run `vigil hub nats-config` and reload the NATS server to revoke its key"
            );
        }
    }
    Ok(())
}

async fn serve(config: HubConfig) -> anyhow::Result<()> {
    let hub = vigil_hub::Hub::start(config).await?;
    let http = vigil_hub::http::HubHttp::start(&hub, Default::default()).await?;
    let central = tokio::spawn(vigil_hub::central::push_loop(
        hub.db.clone(),
        vigil_hub::http::store::Store::open(&hub.db).await?,
        hub.client.clone(),
    ));
    eprintln!(
        "vigil: hub running (PostgreSQL {}, NATS {}); stop with Ctrl-C or SIGTERM",
        redact_url(&hub.config.hub.postgres_url),
        hub.config.hub.nats_url
    );
    eprintln!(
        "vigil: hub UI at {} (certificate {}; first admin: vigil hub user add NAME --role admin)",
        http.url(),
        hub.config.hub.data_dir.join("tls/cert.pem").display()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    central.abort();
    http.shutdown(std::time::Duration::from_secs(5)).await;
    hub.stop().await;
    eprintln!("vigil: hub stopped");
    Ok(())
}

/// A database URL without its password, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
