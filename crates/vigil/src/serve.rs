//! The HTTPS server of `vigil run` and `vigil demo`: `vigil-server` with a context built from the
//! running engine (cameras, store, health figures).

use crate::engine::{CameraRuntime, Engine};
use anyhow::Context;
use sha2::Digest;
use std::sync::Arc;
use tracing::warn;
use vigil_config::VigilConfig;
use vigil_media::rtsp::StreamState;
use vigil_server::{
    AppContext, Assets, CameraHealth, ConsumerHealth, DetectorHealth, EventFeed, LiveSource,
    LiveStreams, MqttHealth, Policy, Security, Server, ServerOptions, StatusSource, SystemStatus,
    WebAssets,
};
use vigil_store::Store;

/// Camera health from the engine's stream and analysis figures.
struct EngineStatus {
    cameras: Vec<CameraRuntime>,
    store: Option<Arc<Store>>,
    alerts: Option<vigil_alert::AlertHandle>,
    bus: vigil_bus::EventBus,
    event_writer: Option<Arc<vigil_store::EventWriterStats>>,
    pool: Option<Arc<vigil_pipeline::DetectorPool>>,
}

/// A consumer this far behind is reported as a degraded state.
const CONSUMER_LAG_WARNING_MS: u64 = 5_000;

impl EngineStatus {
    /// The event bus's consumers and the degraded states they are in.
    fn consumers(&self) -> (Vec<ConsumerHealth>, Vec<String>) {
        let mut warnings = Vec::new();
        let consumers = self
            .bus
            .stats()
            .into_iter()
            .map(|s| {
                if s.lag_ms >= CONSUMER_LAG_WARNING_MS {
                    warnings.push(format!(
                        "event consumer '{}' is {:.1} s behind ({} messages queued)",
                        s.name,
                        s.lag_ms as f64 / 1000.0,
                        s.depth
                    ));
                }
                if s.dropped > 0 {
                    warnings.push(format!(
                        "event consumer '{}' fell a full queue behind and lost {} messages",
                        s.name, s.dropped
                    ));
                }
                if s.panics > 0 {
                    warnings.push(format!(
                        "event consumer '{}' failed (panicked) on {} messages",
                        s.name, s.panics
                    ));
                }
                ConsumerHealth {
                    name: s.name,
                    depth: s.depth,
                    lag_ms: s.lag_ms,
                    dropped: s.dropped,
                    shed: s.shed,
                    panics: s.panics,
                }
            })
            .collect();
        if let Some(w) = &self.event_writer {
            let failed = w.failed.load(std::sync::atomic::Ordering::Relaxed);
            if failed > 0 {
                warnings.push(format!("{failed} event messages could not be stored"));
            }
        }
        (consumers, warnings)
    }
}

impl StatusSource for EngineStatus {
    fn status(&self) -> SystemStatus {
        let bytes: Vec<(String, u64)> = self
            .store
            .as_ref()
            .and_then(|s| s.status().ok())
            .map(|s| {
                s.cameras
                    .into_iter()
                    .map(|c| (c.name, c.used_bytes))
                    .collect()
            })
            .unwrap_or_default();
        let mut detector_ms: Vec<f64> = Vec::new();
        let pool = self.pool.as_ref().map(|p| p.status());
        let share = |name: &str| {
            pool.as_ref()
                .and_then(|p| p.cameras.iter().find(|c| c.name == name))
        };
        let cameras = self
            .cameras
            .iter()
            .map(|c| {
                let main = c.main.as_ref().map(|h| h.snapshot());
                let sub = c.sub.as_ref().map(|h| h.snapshot());
                let input = main.as_ref().or(sub.as_ref());
                let (analysed, skipped, picture_health, rules_changed_ms, crowd) = match &c.analysis
                {
                    Some(a) => {
                        let (s, skipped) = a.snapshot();
                        if s.detector_ms > 0.0 {
                            detector_ms.push(s.detector_ms);
                        }
                        let crowd = s.crowd.map(|c| vigil_server::CrowdHealth {
                            counts: c.counts,
                            runs: c.runs,
                            mean_ms: c.mean_ms,
                            people: c.people,
                        });
                        (s.fps, skipped, s.health, s.rules_changed_unix_ms, crowd)
                    }
                    None => (0.0, 0, Vec::new(), None, None),
                };
                CameraHealth {
                    name: c.name.clone(),
                    recording: c.main.is_some(),
                    analysing: c.analysis.is_some(),
                    online: input.is_some_and(|s| s.state == StreamState::Connected),
                    fps_in: input.map_or(0.0, |s| s.fps),
                    fps_analysed: analysed,
                    skipped,
                    reconnects: main.iter().chain(sub.iter()).map(|s| s.reconnects).sum(),
                    recording_bytes: bytes
                        .iter()
                        .find(|(n, _)| *n == c.name)
                        .map_or(0, |(_, b)| *b),
                    fps_target: share(&c.name).map_or(0.0, |s| s.target_fps),
                    analysis_state: share(&c.name).and_then(|s| s.health()),
                    reorder_depth: input
                        .map_or(0, |s| s.gop_reorder_depth.unwrap_or(s.reorder_depth)),
                    timestamp_jumps: main
                        .iter()
                        .chain(sub.iter())
                        .map(|s| s.timestamp_jumps)
                        .sum(),
                    health: picture_health
                        .into_iter()
                        .chain(
                            c.stream_health
                                .iter()
                                .flat_map(|h| h.lock().unwrap_or_else(|p| p.into_inner()).active()),
                        )
                        .collect(),
                    rules_changed_ms,
                    crowd,
                }
            })
            .collect();
        // Per-camera means of the last seconds: their median and maximum stand in for percentiles.
        detector_ms.sort_by(f64::total_cmp);
        let detector = DetectorHealth {
            latency_ms_p50: detector_ms
                .get(detector_ms.len() / 2)
                .copied()
                .unwrap_or(0.0),
            latency_ms_p99: detector_ms.last().copied().unwrap_or(0.0),
            fair_fps: pool.as_ref().and_then(|p| p.fair_fps),
        };
        let mqtt = self
            .alerts
            .as_ref()
            .and_then(|a| a.status().mqtt)
            .map(|m| MqttHealth {
                state: m.health.name().to_string(),
                client_id: m.client_id,
                reconnects: m.reconnects,
                queued: m.queued,
                last_error: m.last_error,
            });
        let (consumers, mut warnings) = self.consumers();
        if let Some(m) = &mqtt
            && !matches!(m.state.as_str(), "connected" | "connecting")
        {
            warnings.push(format!(
                "MQTT {} (client id {}){}",
                m.state,
                m.client_id,
                m.last_error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ));
        }
        SystemStatus {
            cameras,
            detector,
            mqtt,
            consumers,
            segment_commit: self
                .store
                .as_ref()
                .map(|s| s.segment_commit_latency())
                .unwrap_or_default(),
            warnings,
        }
    }

    fn camera_names(&self) -> Vec<String> {
        self.cameras.iter().map(|c| c.name.clone()).collect()
    }
}

/// What the server of a running engine can be given beyond the engine itself.
#[derive(Default)]
pub struct Extras {
    /// Live video.
    pub live: Option<Arc<dyn LiveSource>>,
    /// The web UI.
    pub assets: Option<Arc<dyn Assets>>,
    /// Where a configuration change that rules alone cannot take asks for an in-process restart
    /// (absent: the configuration cannot be edited through the API).
    pub reload: Option<crate::config_editor::Reload>,
}

impl Extras {
    /// Live video of the engine's cameras (their live hubs) and the web UI embedded in the binary.
    pub fn ui(engine: &Engine) -> Extras {
        let hubs = engine.cameras().iter().map(|c| c.live.clone());
        Extras {
            live: Some(Arc::new(LiveStreams::new(hubs))),
            assets: Some(Arc::new(WebAssets)),
            reload: None,
        }
    }
}

/// Raises the soft limit on open files to the hard one (at most 65536), so that the server's
/// connection limit (at most half of it) is not lowered by a small default such as 1024. A failure
/// only costs that.
pub fn raise_open_files_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let want = limit.maximum.unwrap_or(u64::MAX).min(65_536);
    if limit.current.is_some_and(|c| c < want) {
        let raised = Rlimit {
            current: Some(want),
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            warn!("could not raise the open-file limit to {want}: {e}");
        }
    }
}

/// A started server with what to print.
pub struct Started {
    /// The server.
    pub server: Server,
    /// The one-time setup token, when no user exists yet.
    pub setup_token: Option<String>,
    /// Its security database (for the `server.stop` entry).
    security: Arc<Security>,
    /// The `[[reports]]` scheduler, when reports are configured.
    reports: Option<crate::reports::Scheduler>,
}

impl Started {
    /// The server's security database (users, sessions, audit).
    pub fn security(&self) -> Arc<Security> {
        self.security.clone()
    }

    /// Stops the server (requests in flight get 3 s), records `server.stop` in the audit log and
    /// anchors it.
    pub fn stop(self, runtime: &tokio::runtime::Runtime) {
        if let Some(r) = self.reports {
            r.stop();
        }
        let url = self.server.url();
        runtime.block_on(self.server.shutdown(std::time::Duration::from_secs(3)));
        self.security
            .audit_or_log("-", "local", "server.stop", &url, "");
        self.security.flush_audit_anchor();
    }
}

/// Starts the HTTPS server for a running engine; `config_file` is the `vigil.toml` it runs with (its
/// SHA-256 goes into the audit log, and a change since the last start is recorded as one).
pub fn start(
    engine: &Engine,
    config: &VigilConfig,
    config_file: &std::path::Path,
    extras: Extras,
) -> anyhow::Result<Started> {
    let security = Arc::new(
        Security::open_in(&config.data_dir, Policy::from_config(&config.server))
            .context("opening the security database")?,
    );
    // TOTP secrets sealed at rest under the key store (those stored in the clear before are sealed now).
    let keys = crate::cmd::keys::open_key_store(config)?;
    security
        .set_secret_key(&keys)
        .context("sealing the TOTP secrets")?;
    let setup_token = security.new_setup_token()?;
    let status = Arc::new(EngineStatus {
        cameras: engine.cameras().to_vec(),
        store: engine.store(),
        bus: engine.bus().clone(),
        event_writer: engine.event_writer_stats(),
        pool: engine.detector_pool(),
        alerts: engine.alerts(),
    });
    let mut ctx = AppContext::new(security.clone(), engine.store(), status, &config.data_dir);
    ctx.live = extras.live;
    ctx.site = Arc::new(crate::reports::site(config));
    ctx.assets = extras.assets;
    // Redaction (exports, playback, erasures by blurring) shares the box with recording and analysis:
    // one core.
    let redactor = Arc::new(crate::redaction::ConfigRedactor::new(
        config,
        engine.models_dir(),
        1,
    )?);
    ctx.redactor = Some(redactor.clone());
    ctx.rewriter = Some(redactor);
    ctx.privacy = crate::redaction::policy(config);
    // Watchlists (face templates, sealed): erasure requests reach them through the API.
    ctx.identity = Some(match engine.identity() {
        Some(book) => book,
        None => Arc::new(std::sync::Mutex::new(
            vigil_identity::FaceBook::open(&config.data_dir, &keys)
                .context("opening the identity database")?,
        )),
    });
    // Enrolment through the API, with the face models of the analysis.
    ctx.enroller = Some(Arc::new(crate::cmd::face::ApiEnroller::new(
        engine.models_dir(),
    )));
    ctx.face_threshold = config.faces.threshold;
    ctx.camera_links = config.links.camera_links();
    ctx.review = crate::cmd::review::settings(config)?;
    ctx.summary_zones = crate::cmd::summary::zones(config)?;
    ctx.plate_lists = Some(engine.plate_lists());
    // PTZ: the cameras' links (shared with their autotrackers) and which of them autotrack.
    ctx.ptz = vigil_server::routes::ptz::PtzCameras::new(engine.ptz_links()).with_autotrack(
        config
            .cameras
            .iter()
            .filter(|c| c.enabled && config.analysis.enabled)
            .filter_map(|c| Some((c.name.clone(), c.autotrack.as_ref()?.preset.clone()))),
    );
    ctx.sensitive = config
        .cameras
        .iter()
        .filter(|c| c.sensitive)
        .map(|c| c.name.clone())
        .collect();
    ctx.events_feed = {
        let _enter = engine.runtime().enter();
        Some(EventFeed::start(engine.subscribe_live_ui()))
    };
    if let Some(reload) = extras.reload {
        ctx.config = Some(Arc::new(
            crate::config_editor::FileEditor::new(
                config_file,
                &config.data_dir,
                engine.rules_updates(),
                reload,
                engine.runtime().handle().clone(),
                engine.store().map(|store| crate::preview::Previewer {
                    store,
                    pool: engine.detector_pool(),
                    fps: config.analysis.detect_fps,
                    tmp: config.data_dir.join("tmp"),
                }),
            )
            .with_review(ctx.review.clone()),
        ));
    }
    if let Some(store) = engine.store() {
        let masks = config
            .cameras
            .iter()
            .filter_map(|c| {
                let m = vigil_rules::privacy_masks(&config.rules_for(&c.name)).ok()?;
                (!m.is_empty()).then(|| (c.name.clone(), m))
            })
            .collect();
        ctx.thumbnails = Some(Arc::new(crate::thumbnails::Thumbnails::new(
            store,
            masks,
            config.data_dir.join("tmp"),
        )));
    }
    // The sentence model is loaded by the first search that needs it (a box nobody searches does not
    // carry ONNX Runtime and the model).
    let models_dir = engine.models_dir();
    ctx.search = vigil_server::search::SearchContext::with_loader(
        crate::cmd::search::vocabulary(config),
        config.site_time_zone(),
        Box::new(move || {
            crate::models::Assets::open(models_dir)
                .and_then(|a| crate::cmd::search::load_encoder(&a))
                .map(|e| Box::new(e) as Box<dyn vigil_search::TextEncoder>)
                .map_err(|e| format!("{e:#}"))
        }),
    );
    ctx.overlays = Some(vigil_server::overlay::Overlays {
        frames: engine.overlay(),
        geometry: Arc::new(overlay_geometry(config)),
    });
    ctx.allowed_origins = config
        .server
        .allowed_origins
        .iter()
        .filter_map(|o| vigil_server::origin::normalise(o))
        .collect();
    raise_open_files_limit();
    let options =
        ServerOptions::from_config(&config.server, &config.data_dir).context("preparing TLS")?;
    let server = engine
        .runtime()
        .block_on(Server::start(Arc::new(ctx), options))
        .with_context(|| format!("starting the server on {}", config.server.listen))?;
    security.audit_or_log("-", "local", "server.start", &server.url(), "");
    match std::fs::read(config_file) {
        Ok(bytes) => {
            let hash = hex::encode(sha2::Sha256::digest(&bytes));
            if let Err(e) = security.audit_config(&config_file.display().to_string(), &hash) {
                warn!("auditing the configuration: {e}");
            }
        }
        Err(e) => warn!("reading {} for the audit log: {e}", config_file.display()),
    }
    Ok(Started {
        server,
        setup_token,
        security,
        reports: crate::reports::Scheduler::start(config, engine.store()),
    })
}

/// Starts the HTTPS server with the web UI for `engine`, or shuts the engine down cleanly (every segment
/// closed, every event written) and returns the error: what `run`, `demo` and `bench-cameras` do.
pub fn start_or_shut_down(
    engine: Engine,
    config: &VigilConfig,
    config_file: &std::path::Path,
    reload: Option<crate::config_editor::Reload>,
) -> anyhow::Result<(Engine, Started)> {
    let extras = Extras {
        reload,
        ..Extras::ui(&engine)
    };
    match start(&engine, config, config_file, extras) {
        Ok(started) => Ok((engine, started)),
        Err(e) => {
            engine.shutdown();
            Err(e)
        }
    }
}

/// Prints where the server is and, on first start, the setup token.
pub fn announce(started: &Started) {
    let s = &started.server;
    eprintln!("vigil: web UI and API at {}", s.url());
    if let Some(tls) = s.tls()
        && tls.generated
    {
        eprintln!(
            "  self-signed certificate {} (trust it in the browser or replace it with tls_cert/tls_key)",
            tls.cert.display()
        );
    }
    if let Some(token) = &started.setup_token {
        eprintln!(
            "  no user exists yet: create the first admin at {}/ with the one-time setup token",
            s.url()
        );
        eprintln!("  setup token: {token}");
    }
}

/// Prints how recordings are kept: encrypted at rest or not, sealed for `vigil verify recordings`.
pub fn announce_storage(config: &VigilConfig) {
    if let Some(store) = config.store_config() {
        eprintln!(
            "  recordings {} at rest; segments sealed for `vigil verify recordings` (keys in {})",
            if store.encrypt {
                "encrypted"
            } else {
                "NOT encrypted ([storage] encrypt = false)"
            },
            config.data_dir.join("keys").display()
        );
    }
}

/// Each camera's zones, lines (with the side counted as "in") and masks, as drawn over its video.
fn overlay_geometry(config: &VigilConfig) -> std::collections::BTreeMap<String, serde_json::Value> {
    config
        .cameras
        .iter()
        .map(|c| {
            let rules = config.rules_for(&c.name);
            let ring = |o: &Option<vigil_rules::config::Outline>| {
                o.as_ref()
                    .and_then(|o| o.rings.first().cloned())
                    .unwrap_or_default()
            };
            let geometry = serde_json::json!({
                "zones": rules.zone.iter().map(|z| serde_json::json!({
                    "name": z.name, "points": ring(&z.points),
                })).collect::<Vec<_>>(),
                "lines": rules.line.iter().filter_map(|l| Some(serde_json::json!({
                    "name": l.name, "p1": l.p1?, "p2": l.p2?, "inbound": l.inbound,
                }))).collect::<Vec<_>>(),
                "masks": rules.mask.iter().map(|m| serde_json::json!({
                    "name": m.name, "kind": m.kind, "points": ring(&m.points),
                })).collect::<Vec<_>>(),
            });
            (c.name.clone(), geometry)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};
    use vigil_alert::{AlertConfig, Alerts, MqttConfig};
    use vigil_bus::{EventBus, Overflow};

    /// A consumer that panicked, one that fell behind and lost messages, and one far behind are each a
    /// degraded state in words on the system page; a healthy one is not.
    #[test]
    fn behind_or_failing_event_consumers_are_reported_as_degraded() {
        let bus = EventBus::new();
        let flaky = bus.subscribe("store", 10, 1 << 20, Overflow::DropNewest);
        let full = bus.subscribe("alerts", 1, 1 << 20, Overflow::DropOldest);
        let _healthy = bus.subscribe("live-ui", 100, 1 << 20, Overflow::DropOldest);
        flaky.guard(|| panic!("consumer bug"));
        for _ in 0..3 {
            bus.publish(vigil_bus::Message::Status(Arc::new(
                vigil_bus::StatusMessage {
                    camera: format!("cam-{}", fastrand::u32(..)),
                    online: true,
                    fps: 5.0,
                    message: None,
                },
            )));
        }
        let status = EngineStatus {
            cameras: Vec::new(),
            store: None,
            alerts: None,
            bus,
            event_writer: None,
            pool: None,
        };
        let (consumers, warnings) = status.consumers();
        assert_eq!(consumers.len(), 3);
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("'store'") && w.contains("panicked")),
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("'alerts'") && w.contains("lost 2 messages")),
            "{warnings:?}"
        );
        assert!(
            !warnings.iter().any(|w| w.contains("live-ui")),
            "{warnings:?}"
        );
        drop(full);
    }

    #[test]
    fn the_mqtt_connection_state_reaches_the_system_status() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        // A port nobody listens on: the broker is down.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (alerts, _dead) = rt
            .block_on(async {
                Alerts::start(AlertConfig {
                    mqtt: Some(MqttConfig {
                        port,
                        client_id: "health-test".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
            })
            .unwrap();
        let status = EngineStatus {
            cameras: Vec::new(),
            store: None,
            alerts: Some(alerts),
            bus: EventBus::new(),
            event_writer: None,
            pool: None,
        };
        let t0 = Instant::now();
        let mqtt = loop {
            let m = status.status().mqtt.unwrap();
            if m.state != "connecting" || t0.elapsed() > Duration::from_secs(10) {
                break m;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(mqtt.state, "disconnected");
        assert_eq!(mqtt.client_id, "health-test");
        let warnings = status.status().warnings;
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("MQTT disconnected (client id health-test)")),
            "{warnings:?}"
        );
        assert!(
            mqtt.last_error
                .as_deref()
                .unwrap_or_default()
                .contains("refused"),
            "{mqtt:?}"
        );
    }
}
