//! The standby box (`[standby]` in `vigil.toml`, issue 15 "Redundancy"): watches its primaries' status
//! through the hub's NATS server and takes their cameras over when one stops answering.
//!
//! - **Watching.** One NATS connection with the box's own site identity (`[uplink]`) subscribes to
//!   `vigil.site.<primary>.status` for each `[[standby.primary]]` (the hub lets it:
//!   `vigil hub site add NAME --standby-for A,B`). Every heartbeat of a primary is a sign of life.
//! - **Taking over.** A primary silent for `takeover_after_s` while this box's own link is up is
//!   declared dead: [`Watcher`] asks the running system for an in-process restart
//!   ([`crate::running`]) with that primary's cameras enabled
//!   ([`VigilConfig::with_standby_active`]). They record, are analysed with the rules of this file and
//!   raise alerts; their events keep the camera's name and go up from this box's own outbox (site =
//!   the standby), and its status reports them with `standby_for`.
//! - **Giving back.** When the primary's status comes again, the cameras are given back (restart
//!   without them) as soon as that status shows all of them online on the primary, or after
//!   `takeover_after_s` of statuses at the latest: a short overlap rather than a hole.
//! - **Not fooled by its own link.** While this box is cut from the hub it hears nobody; it then takes
//!   nothing over (and gives nothing back) until its link has been up for `takeover_after_s`. A
//!   refused subscription (the hub's NATS permissions do not list this box as a standby of that
//!   primary) is reported and that primary is never taken over: a missing permission must not look
//!   like a dead primary.
//!
//! Figures (takeover time, overlap) and the design: `docs/design/multisite.md`, "Redundancy".

use anyhow::Context;
use futures_util::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::{error, info, warn};
use vigil_config::VigilConfig;
use vigil_uplink::wire::{self, SiteStatus};

/// How often the watcher judges its primaries.
const TICK: Duration = Duration::from_millis(250);

/// One watched primary.
struct Primary {
    takeover_after: Duration,
    cameras: Vec<String>,
    /// Last status received.
    last_seen: Option<Instant>,
    /// Its cameras run here.
    covering: bool,
    /// First status received since it was taken over.
    back_since: Option<Instant>,
    /// The last status showed every camera of ours online there.
    all_online: bool,
    /// The hub's NATS server refused our subscription to its status.
    refused: bool,
}

struct State {
    primaries: BTreeMap<String, Primary>,
    /// The primaries whose cameras the running engine has.
    applied: BTreeSet<String>,
    /// Asks the running system for a restart.
    reload: Option<tokio::sync::mpsc::Sender<String>>,
    /// Since when our own link is up (none while down).
    link_up_since: Option<Instant>,
    /// Why the last restart was asked (sent once per change).
    asked: Option<BTreeSet<String>>,
}

/// The running watcher (its own small runtime, so it lives across the engine's restarts).
pub struct Watcher {
    state: Arc<Mutex<State>>,
    runtime: Option<tokio::runtime::Runtime>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Watcher {
    /// Starts watching when `[standby]` lists primaries (and `[uplink]` is set: checked with the
    /// configuration).
    pub fn start(config: &VigilConfig) -> anyhow::Result<Option<Watcher>> {
        if config.standby.primary.is_empty() {
            return Ok(None);
        }
        let Some(up) = config.uplink.clone() else {
            anyhow::bail!("[standby] needs [uplink]: the primaries are watched through the hub");
        };
        let primaries = config
            .standby
            .primary
            .iter()
            .map(|p| {
                (
                    p.site.clone(),
                    Primary {
                        takeover_after: Duration::from_secs(u64::from(p.takeover_after_s)),
                        cameras: p.cameras.clone(),
                        last_seen: None,
                        covering: false,
                        back_since: None,
                        all_online: false,
                        refused: false,
                    },
                )
            })
            .collect();
        let state = Arc::new(Mutex::new(State {
            primaries,
            applied: BTreeSet::new(),
            reload: None,
            link_up_since: None,
            asked: None,
        }));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("vigil-standby")
            .enable_all()
            .build()
            .context("starting the standby watcher's runtime")?;
        let names: Vec<String> = config
            .standby
            .primary
            .iter()
            .map(|p| p.site.clone())
            .collect();
        let events_state = state.clone();
        let client = runtime.block_on(async {
            let options = up
                .auth()
                .options(
                    &format!("vigil-standby-{}", up.site),
                    Some(wire::inbox_prefix(&up.site)),
                )
                .await?;
            options
                .event_callback(move |event| {
                    let state = events_state.clone();
                    async move { on_link_event(&state, event) }
                })
                .connect(up.nats_url.as_str())
                .await
                .map_err(|e| {
                    vigil_uplink::UplinkError::Nats(format!("connecting to {}: {e}", up.nats_url))
                })
        })?;
        for site in &names {
            let sub = runtime
                .block_on(client.subscribe(wire::status_subject(site)))
                .with_context(|| format!("watching site {site}'s status"))?;
            runtime.spawn(listen(sub, site.clone(), state.clone()));
        }
        runtime.spawn(judge(client, state.clone()));
        eprintln!(
            "vigil: standby for {} (through the hub at {}): their cameras start here when they stop answering",
            names.join(", "),
            up.nats_url
        );
        Ok(Some(Watcher {
            state,
            runtime: Some(runtime),
        }))
    }

    /// The primaries whose cameras should run here now.
    pub fn covering(&self) -> BTreeSet<String> {
        lock(&self.state)
            .primaries
            .iter()
            .filter(|(_, p)| p.covering)
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// The engine started with the cameras of `applied`; `reload` restarts it.
    pub fn engine_started(
        &self,
        applied: BTreeSet<String>,
        reload: tokio::sync::mpsc::Sender<String>,
    ) {
        let mut s = lock(&self.state);
        s.applied = applied;
        s.reload = Some(reload);
        s.asked = None;
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn on_link_event(state: &Mutex<State>, event: async_nats::Event) {
    match event {
        async_nats::Event::Connected => {
            info!("standby: watching through the hub");
            lock(state).link_up_since = Some(Instant::now());
        }
        async_nats::Event::Disconnected => {
            warn!("standby: cut from the hub: no takeover until the link is back");
            lock(state).link_up_since = None;
        }
        async_nats::Event::ServerError(e) => {
            let text = e.to_string();
            let mut s = lock(state);
            for (site, p) in s.primaries.iter_mut() {
                if text.contains(&wire::status_subject(site)) && !p.refused {
                    p.refused = true;
                    error!(
                        primary = site,
                        "standby: the hub's NATS server refused to let this box watch {site}'s status \
                         ({text}); it will NOT be taken over. On the hub: `vigil hub site add <this site> \
                         --standby-for {site}`, then `vigil hub nats-config` and reload the NATS server"
                    );
                }
            }
        }
        other => tracing::debug!("standby link: {other}"),
    }
}

/// Takes in a primary's statuses.
async fn listen(mut sub: async_nats::Subscriber, site: String, state: Arc<Mutex<State>>) {
    while let Some(msg) = sub.next().await {
        let Ok(status) = serde_json::from_slice::<SiteStatus>(&msg.payload) else {
            warn!(primary = site, "standby: unreadable status");
            continue;
        };
        if status.site != site {
            continue;
        }
        let mut s = lock(&state);
        let Some(p) = s.primaries.get_mut(&site) else {
            continue;
        };
        let now = Instant::now();
        p.last_seen = Some(now);
        p.all_online = p.cameras.iter().all(|name| {
            status
                .cameras
                .iter()
                .any(|c| &c.name == name && c.online && c.standby_for.is_none())
        });
        if p.covering && p.back_since.is_none() {
            p.back_since = Some(now);
            info!(primary = site, "standby: the primary is back");
        }
    }
}

/// Declares primaries dead or back, and asks for a restart when what runs differs.
async fn judge(client: async_nats::Client, state: Arc<Mutex<State>>) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tick.tick().await;
        let connected = client.connection_state() == async_nats::connection::State::Connected;
        let mut s = lock(&state);
        if connected && s.link_up_since.is_none() {
            s.link_up_since = Some(Instant::now());
        }
        if !connected {
            s.link_up_since = None;
        }
        let link_up_since = s.link_up_since;
        let now = Instant::now();
        for (site, p) in s.primaries.iter_mut() {
            if p.refused {
                continue;
            }
            let Some(up_since) = link_up_since else {
                continue;
            };
            if !p.covering {
                // Heard of last: its status, or when we could first have heard it.
                let reference = [Some(started), Some(up_since), p.last_seen]
                    .into_iter()
                    .flatten()
                    .max()
                    .unwrap_or(started);
                let silent = now.saturating_duration_since(reference);
                if silent >= p.takeover_after {
                    p.covering = true;
                    p.back_since = None;
                    warn!(primary = site, cameras = ?p.cameras, "standby: primary silent: taking over");
                    eprintln!(
                        "vigil: standby: site {site} silent for {:.1} s: taking over its cameras ({})",
                        silent.as_secs_f64(),
                        p.cameras.join(", ")
                    );
                }
            } else if let Some(back) = p.back_since {
                let waited = now.saturating_duration_since(back);
                if p.all_online || waited >= p.takeover_after {
                    p.covering = false;
                    p.back_since = None;
                    info!(primary = site, "standby: giving the cameras back");
                    eprintln!(
                        "vigil: standby: site {site} is back (its cameras {}): giving them back",
                        if p.all_online {
                            "online there"
                        } else {
                            "not all online there yet"
                        }
                    );
                }
            }
        }
        let desired: BTreeSet<String> = s
            .primaries
            .iter()
            .filter(|(_, p)| p.covering)
            .map(|(n, _)| n.clone())
            .collect();
        if desired != s.applied && s.asked.as_ref() != Some(&desired) {
            let why = describe(&s.applied, &desired);
            if let Some(reload) = &s.reload {
                match reload.try_send(why) {
                    Ok(()) | Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                        // A restart is on its way: it takes the set as it is then.
                        s.asked = Some(desired);
                    }
                    Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
        }
    }
}

fn describe(applied: &BTreeSet<String>, desired: &BTreeSet<String>) -> String {
    let take: Vec<&str> = desired.difference(applied).map(String::as_str).collect();
    let give: Vec<&str> = applied.difference(desired).map(String::as_str).collect();
    let mut parts = Vec::new();
    if !take.is_empty() {
        parts.push(format!("taking over the cameras of {}", take.join(", ")));
    }
    if !give.is_empty() {
        parts.push(format!("giving the cameras back to {}", give.join(", ")));
    }
    format!("standby: {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_say_what_changes() {
        let a = BTreeSet::from(["shop-1".to_string()]);
        let none = BTreeSet::new();
        assert_eq!(
            describe(&none, &a),
            "standby: taking over the cameras of shop-1"
        );
        assert_eq!(
            describe(&a, &none),
            "standby: giving the cameras back to shop-1"
        );
    }
}
