//! `[uplink]` in `vigil run`: this box as a site of a hub (vigil-uplink). Started after the engine and
//! the server, stopped before them; it only reads the event store, so recording, analysis, alerts and
//! local login never wait on the link.
//!
//! The site's answers to the hub's requests are here ([`SiteResponder`]): they need the configuration
//! file, the store and the cameras, which only the binary holds.

use crate::engine::{CameraRuntime, Engine};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vigil_config::VigilConfig;
use vigil_media::rtsp::StreamState;
use vigil_store::Store;
use vigil_uplink::wire::{self, CameraStatus, Reply, Request, SiteStatus, StorageStatus};
use vigil_uplink::{Responder, Uplink};

/// Starts the uplink when `[uplink]` is set and the box has a store (events go up from its outbox).
pub fn start(
    config: &VigilConfig,
    config_path: &Path,
    engine: &Engine,
    security: Arc<vigil_server::Security>,
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
        store.clone(),
        config_path.to_path_buf(),
        started_ms,
    );
    let responder = Arc::new(SiteResponder {
        site: up.site.clone(),
        config_path: config_path.to_path_buf(),
        remote_config: up.remote_config,
        central_hours: up.central_users_hours,
        security,
    });
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
    store: Arc<Store>,
    config_path: PathBuf,
    started_ms: i64,
) -> vigil_uplink::StatusSource {
    Arc::new(move || {
        let cams = cameras
            .iter()
            .map(|c| {
                let stream = c.sub.as_ref().or(c.main.as_ref()).map(|s| s.snapshot());
                let online = stream
                    .as_ref()
                    .is_some_and(|s| s.state == StreamState::Connected);
                let fps = match &c.analysis {
                    Some(a) => a.snapshot().0.fps as f32,
                    None => stream.as_ref().map(|s| s.fps as f32).unwrap_or(0.0),
                };
                let problems = c
                    .stream_health
                    .as_ref()
                    .map(|h| h.lock().unwrap_or_else(|p| p.into_inner()).active())
                    .unwrap_or_default();
                CameraStatus {
                    name: c.name.clone(),
                    online,
                    fps,
                    message: stream.and_then(|s| if online { None } else { s.last_error }),
                    problems,
                    standby_for: None,
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

/// The site's answers to the hub.
pub struct SiteResponder {
    site: String,
    config_path: PathBuf,
    remote_config: bool,
    central_hours: u32,
    security: Arc<vigil_server::Security>,
}

impl Responder for SiteResponder {
    fn answer(&self, request: Request) -> Reply {
        match request {
            Request::Ping => Reply::Pong {
                site: self.site.clone(),
                version: env!("CARGO_PKG_VERSION").to_string(),
            },
            Request::ConfigGet if self.remote_config => {
                match std::fs::read_to_string(&self.config_path) {
                    Ok(text) => Reply::Config {
                        version: wire::config_version(&text),
                        text,
                    },
                    Err(e) => Reply::Error {
                        message: format!("cannot read the configuration: {e}"),
                    },
                }
            }
            Request::ConfigGet | Request::ConfigPut { .. } => Reply::Error {
                message:
                    "this site does not allow remote configuration ([uplink] remote_config = false)"
                        .into(),
            },
            Request::CentralUsers { users } => {
                // 0 hours: central users are not welcome here; the push removes any cached ones.
                let users = if self.central_hours == 0 {
                    Vec::new()
                } else {
                    users
                };
                let valid_until_ms =
                    vigil_core::time::now_unix_ms() + i64::from(self.central_hours) * 3_600_000;
                match self.security.sync_central_users(&users, valid_until_ms) {
                    Ok(s) => Reply::CentralUsers {
                        added: s.added,
                        updated: s.updated,
                        removed: s.removed,
                        skipped: s.skipped,
                        valid_until_ms,
                    },
                    Err(e) => Reply::Error {
                        message: format!("central users not taken: {e}"),
                    },
                }
            }
            other => Reply::Error {
                message: format!("this site does not answer {:?} requests yet", other.verb()),
            },
        }
    }
}
