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
    AppContext, Assets, CameraHealth, DetectorHealth, LiveSource, LiveStreams, Policy, Security,
    Server, ServerOptions, StatusSource, SystemStatus, WebAssets,
};
use vigil_store::Store;

/// Camera health from the engine's stream and analysis figures.
struct EngineStatus {
    cameras: Vec<CameraRuntime>,
    store: Option<Arc<Store>>,
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
        let cameras = self
            .cameras
            .iter()
            .map(|c| {
                let main = c.main.as_ref().map(|h| h.snapshot());
                let sub = c.sub.as_ref().map(|h| h.snapshot());
                let input = main.as_ref().or(sub.as_ref());
                let (analysed, skipped) = match &c.analysis {
                    Some(a) => {
                        let (s, skipped) = a.snapshot();
                        if s.detector_ms > 0.0 {
                            detector_ms.push(s.detector_ms);
                        }
                        (s.fps, skipped)
                    }
                    None => (0.0, 0),
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
                    reorder_depth: input
                        .map_or(0, |s| s.gop_reorder_depth.unwrap_or(s.reorder_depth)),
                    timestamp_jumps: main
                        .iter()
                        .chain(sub.iter())
                        .map(|s| s.timestamp_jumps)
                        .sum(),
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
        };
        SystemStatus { cameras, detector }
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
}

impl Extras {
    /// Live video of the engine's cameras (their live hubs) and the web UI embedded in the binary.
    pub fn ui(engine: &Engine) -> Extras {
        let hubs = engine.cameras().iter().map(|c| c.live.clone());
        Extras {
            live: Some(Arc::new(LiveStreams::new(hubs))),
            assets: Some(Arc::new(WebAssets)),
        }
    }
}

/// A started server with what to print.
pub struct Started {
    /// The server.
    pub server: Server,
    /// The one-time setup token, when no user exists yet.
    pub setup_token: Option<String>,
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
    let setup_token = security.new_setup_token()?;
    let status = Arc::new(EngineStatus {
        cameras: engine.cameras().to_vec(),
        store: engine.store(),
    });
    let mut ctx = AppContext::new(security.clone(), engine.store(), status, &config.data_dir);
    ctx.live = extras.live;
    ctx.assets = extras.assets;
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
    })
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
