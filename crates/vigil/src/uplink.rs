//! `[uplink]` in `vigil run`: this box as a site of a hub (vigil-uplink). Started after the engine and
//! the server, stopped before them; it only reads the event store, so recording, analysis, alerts and
//! local login never wait on the link.
//!
//! The site's answers to the hub's requests are in `crate::site_relay` (`SiteResponder`): they need the
//! configuration file, the store and the cameras, which only the binary holds.

use crate::engine::{CameraRuntime, Engine};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vigil_config::VigilConfig;
use vigil_store::Store;
use vigil_uplink::Uplink;
use vigil_uplink::wire::{self, CameraStatus, SiteStatus, StorageStatus};

/// Starts the uplink when `[uplink]` is set and the box has a store (events go up from its outbox).
/// `reload` restarts the engine in-process after a configuration change pushed by the hub that needs it
/// (`None`: such changes are refused).
pub fn start(
    config: &VigilConfig,
    config_path: &Path,
    engine: &Engine,
    security: Arc<vigil_server::Security>,
    reload: Option<crate::config_editor::Reload>,
) -> anyhow::Result<Option<Uplink>> {
    let Some(up) = &config.uplink else {
        return Ok(None);
    };
    let Some(store) = engine.store() else {
        tracing::warn!(
            "[uplink] is set but no camera records: there is no event store to send from"
        );
        return Ok(None);
    };
    let reader = store.event_reader()?;
    let started_ms = vigil_core::time::now_unix_ms();
    let status = status_source(
        engine.cameras().to_vec(),
        config.standby.camera_primaries(),
        store.clone(),
        config_path.to_path_buf(),
        started_ms,
    );
    let responder = Arc::new(
        crate::site_relay::SiteResponder::new(
            &up.site,
            up.remote_config,
            config,
            config_path,
            engine,
            store.clone(),
            reload,
        )?
        .with_central_users(security, up.central_users_hours),
    );
    let uplink = Uplink::start(up, store, reader, status, responder)?;
    eprintln!(
        "vigil: site {:?} linked to the hub at {} (events wait in the outbox while the link is down)",
        up.site, up.nats_url
    );
    Ok(Some(uplink))
}

/// Turns the outbox off when `[uplink]` is not (or no longer) set.
pub fn outbox_off_unless_linked(config: &VigilConfig, engine: &Engine) {
    if config.uplink.is_none()
        && let Some(store) = engine.store()
        && let Err(e) = store.set_uplink_outbox(false)
    {
        tracing::warn!("cannot turn the uplink outbox off: {e}");
    }
}

fn status_source(
    cameras: Vec<CameraRuntime>,
    standby: std::collections::BTreeMap<String, String>,
    store: Arc<Store>,
    config_path: PathBuf,
    started_ms: i64,
) -> vigil_uplink::StatusSource {
    Arc::new(move || {
        let cams = cameras
            .iter()
            .map(|c| {
                let view = c.stream_view();
                let (stream, online) = (view.stream, view.online);
                // The stream's states (offline, degraded) and the picture's (covered, moved, …).
                let mut problems = c
                    .stream_health
                    .as_ref()
                    .map(|h| h.lock().unwrap_or_else(|p| p.into_inner()).active())
                    .unwrap_or_default();
                problems.extend(view.picture_health);
                problems.sort();
                problems.dedup();
                CameraStatus {
                    name: c.name.clone(),
                    online,
                    fps: view.fps,
                    message: stream.and_then(|s| if online { None } else { s.last_error }),
                    problems,
                    standby_for: standby.get(&c.name).cloned(),
                }
            })
            .collect();
        let storage = store
            .status()
            .map(|s| {
                s.dirs
                    .iter()
                    .map(|d| StorageStatus {
                        name: d.name.clone(),
                        used_bytes: d.used_bytes,
                        free_bytes: d.free_bytes,
                        days_until_full: d.days_until_full,
                    })
                    .collect()
            })
            .unwrap_or_default();
        SiteStatus {
            site: String::new(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            at_ms: vigil_core::time::now_unix_ms(),
            started_ms,
            heartbeat_s: 0,
            config_version: std::fs::read_to_string(&config_path)
                .ok()
                .map(|t| wire::config_version(&t)),
            cameras: cams,
            storage,
            uplink: Default::default(),
        }
    })
}
