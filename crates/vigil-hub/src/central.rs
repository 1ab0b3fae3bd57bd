//! The hub's users, pushed to the sites they may use, where they are cached for a bounded time so they
//! can log in to a site's own UI also while the link is down (`[uplink] central_users_hours` on the site;
//! `vigil_server::auth::central` there). Every 15 s each online site whose list changed gets it again,
//! and every site gets it at least every 10 minutes (which renews the bound) and as soon as it comes back
//! online. A push that fails is retried at the next round. Passwords go as argon2id hashes only.

use crate::HubDb;
use crate::http::store::Store;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};
use vigil_uplink::wire::Reply;

/// How often the lists are compared.
const ROUND: Duration = Duration::from_secs(15);
/// How often an unchanged list is pushed anyway.
const REFRESH: Duration = Duration::from_secs(600);

/// Pushes central users to the sites until the process stops.
pub async fn push_loop(db: HubDb, store: Store, client: async_nats::Client) {
    // Per site: what was last taken and when.
    let mut sent: HashMap<String, (String, Instant)> = HashMap::new();
    let mut tick = tokio::time::interval(ROUND);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let sites = match db.sites().await {
            Ok(s) => s,
            Err(e) => {
                debug!("central users: {e}");
                continue;
            }
        };
        for site in sites {
            if !site.online() {
                // Pushed again as soon as it is back.
                sent.remove(&site.name);
                continue;
            }
            let users = match store.central_accounts(&site.name).await {
                Ok(u) => u,
                Err(e) => {
                    warn!("central users for {}: {e}", site.name);
                    continue;
                }
            };
            let digest = serde_json::to_string(&users).unwrap_or_default();
            let fresh = sent
                .get(&site.name)
                .is_some_and(|(d, at)| *d == digest && at.elapsed() < REFRESH);
            if fresh {
                continue;
            }
            let n = users.len();
            match crate::relay::push_central_users(&client, &site.name, users).await {
                Ok(Reply::CentralUsers {
                    added,
                    updated,
                    removed,
                    skipped,
                    ..
                }) => {
                    if added + removed > 0 || !skipped.is_empty() {
                        info!(
                            site = site.name,
                            users = n,
                            added,
                            updated,
                            removed,
                            "central users pushed (skipped: {skipped:?})"
                        );
                    }
                    let _ = db
                        .audit(
                            "hub",
                            "central_users.push",
                            Some(&site.name),
                            serde_json::json!({
                                "users": n, "added": added, "removed": removed, "skipped": skipped
                            }),
                            None,
                        )
                        .await;
                    sent.insert(site.name, (digest, Instant::now()));
                }
                Ok(other) => debug!(
                    site = site.name,
                    "central users: unexpected answer {other:?}"
                ),
                Err(e) => debug!(site = site.name, "central users not pushed: {e}"),
            }
        }
    }
}
