//! The running system behind `vigil run` and `vigil demo`: every configured camera ingested, its main
//! stream recorded, its analysis stream analysed (motion-gated detection, tracking, behaviour rules), events
//! stored with snapshots and delivered as alerts; shut down cleanly on SIGTERM / Ctrl-C with every segment
//! closed and indexed.
//!
//! Threads: tokio (2 workers) for I/O — RTSP, MQTT, webhooks; per camera one recorder thread (never waits
//! on analysis) and one analysis thread; the detectors are shared by all cameras ([`DetectorPool`]).

pub mod analysis;
pub mod camera;
pub mod events;

use crate::models;
use analysis::{AnalysisSetup, AnalysisStats};
use anyhow::Context;
use camera::{
    ANALYSIS_CHANNEL, AnalysisFeed, INGEST_CHANNEL, feed_loop, record_loop, start_source,
};
use events::EventSink;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::{error, info, warn};
use vigil_alert::{AlertHandle, Alerts, CameraEntities, CameraStatus};
use vigil_config::VigilConfig;
use vigil_core::config::{CameraConfig, CameraRole};
use vigil_media::rtsp::{StatusHandle, StreamHandle, StreamState};
use vigil_mp4::live_hub::{LiveHub, live_channel};
use vigil_pipeline::{DetectorPool, PipelineConfig};
use vigil_store::{NewDeadLetter, Store};

/// Start-up options that are not part of `vigil.toml`.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Directory holding the model files (default: the shared models directory, then the cache).
    pub models_dir: Option<PathBuf>,
}

/// One running camera, for status reporting.
#[derive(Clone)]
pub struct CameraRuntime {
    /// Camera name.
    pub name: String,
    /// Status of its recorded (main) stream, when recorded.
    pub main: Option<StatusHandle>,
    /// Status of its analysis stream when that is a separate stream (the sub stream, or the only one).
    pub sub: Option<StatusHandle>,
    /// Analysis figures, when analysed.
    pub analysis: Option<AnalysisStats>,
    /// Live view of its main stream (of its analysis stream when it is not recorded).
    pub live: LiveHub,
}

/// The running system.
pub struct Engine {
    runtime: tokio::runtime::Runtime,
    store: Option<Arc<Store>>,
    alerts: Option<AlertHandle>,
    sink: Arc<EventSink>,
    streams: Vec<StreamHandle>,
    threads: Vec<(String, std::thread::JoinHandle<()>)>,
    cameras: Vec<CameraRuntime>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

/// What shutting down did.
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Threads that panicked (by name).
    pub panicked: Vec<String>,
    /// Events stored while running.
    pub events_recorded: u64,
}

impl Engine {
    /// Starts everything `config` describes.
    pub fn start(config: &VigilConfig, options: EngineOptions) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("vigil-io")
            .enable_all()
            .build()
            .context("starting the I/O runtime")?;
        let store = open_store(config)?;
        let (alerts, dead_letters) = {
            let _enter = runtime.enter();
            start_alerts(config, store.clone())?
        };
        let pool = if config.analysed_cameras().next().is_some() {
            let loaded = models::load(&config.analysis.model, options.models_dir.clone())?;
            let threads = match config.analysis.threads {
                0 => std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1),
                n => n,
            };
            Some(loaded.pool(models::tracking_detector_config(Some(threads)), 1)?)
        } else {
            None
        };
        let sink = Arc::new(EventSink::new(store.clone(), alerts.clone()));
        let mut engine = Engine {
            runtime,
            store,
            alerts,
            sink,
            streams: Vec::new(),
            threads: Vec::new(),
            cameras: Vec::new(),
            background: Vec::new(),
        };
        if let Some(task) = dead_letters {
            engine.background.push(engine.runtime.spawn(task));
        }
        for camera in config.cameras.iter().filter(|c| c.enabled) {
            engine.start_camera(config, camera, pool.as_ref())?;
        }
        let status = publish_status(engine.cameras.clone(), engine.sink.clone());
        engine.background.push(engine.runtime.spawn(status));
        info!(cameras = engine.cameras.len(), "vigil running");
        Ok(engine)
    }

    fn start_camera(
        &mut self,
        config: &VigilConfig,
        camera: &CameraConfig,
        pool: Option<&Arc<DetectorPool>>,
    ) -> anyhow::Result<()> {
        let name = camera.name.clone();
        let record = self.store.is_some() && camera.has_role(CameraRole::Record);
        let analyze = config.analysis.enabled && camera.has_role(CameraRole::Analyze);
        let pool = pool.filter(|_| analyze);
        let (live, live_hub) = live_channel(&name);
        let mut live = Some(live);
        let mut runtime_entry = CameraRuntime {
            name: name.clone(),
            main: None,
            sub: None,
            analysis: None,
            live: live_hub,
        };
        let _enter = self.runtime.enter();

        // Analysis thread, fed by the main stream's recorder thread or by a separate sub stream.
        let mut analysis_tx = None;
        if let Some(pool) = pool {
            let stats = AnalysisStats::default();
            let (tx, rx) = mpsc::channel(ANALYSIS_CHANNEL);
            let mut pipeline = PipelineConfig {
                analysis_fps: config.analysis.detect_fps as f32,
                ..PipelineConfig::default()
            };
            if let Some(classes) = &config.analysis.classes {
                pipeline.classes = classes.clone();
            }
            let setup = AnalysisSetup {
                camera: name.clone(),
                pool: pool.clone(),
                pipeline,
                rules: config.rules_for(&name),
                sink: self.sink.clone(),
                stats: stats.clone(),
            };
            self.spawn_thread(format!("ana-{name}"), move || analysis::run(setup, rx))?;
            if let Some(alerts) = &self.alerts {
                alerts
                    .register_camera(&CameraEntities::from_rules(&name, &config.rules_for(&name)));
            }
            runtime_entry.analysis = Some(stats.clone());
            analysis_tx = Some((tx, stats));
        }

        let separate_analysis_stream =
            !record || camera.sub.as_ref().is_some_and(|s| *s != camera.main);
        if record {
            let (tx, rx) = mpsc::channel(INGEST_CHANNEL);
            let source = start_source(
                &format!("{name}/main"),
                &camera.main,
                camera.credentials(),
                tx,
            )?;
            runtime_entry.main = Some(source.status_handle());
            self.streams.push(source);
            let recorder = match &self.store {
                Some(store) => Some(
                    store
                        .recorder(&name, "main")
                        .with_context(|| format!("recorder of {name}"))?,
                ),
                None => None,
            };
            let feed = match (&analysis_tx, separate_analysis_stream) {
                (Some((tx, stats)), false) => Some(AnalysisFeed::new(tx.clone(), stats.clone())),
                _ => None,
            };
            let cam = name.clone();
            let live = live.take();
            self.spawn_thread(format!("rec-{name}"), move || {
                record_loop(cam, rx, recorder, feed, live)
            })?;
        }
        if let Some((tx, stats)) = analysis_tx
            && separate_analysis_stream
        {
            let (stream_tx, rx) = mpsc::channel(INGEST_CHANNEL);
            let url = camera.analysis_url();
            let source =
                start_source(&format!("{name}/sub"), url, camera.credentials(), stream_tx)?;
            runtime_entry.sub = Some(source.status_handle());
            self.streams.push(source);
            let feed = AnalysisFeed::new(tx, stats);
            let live = live.take();
            self.spawn_thread(format!("feed-{name}"), move || feed_loop(rx, feed, live))?;
        }
        info!(
            camera = name,
            record,
            analyze = runtime_entry.analysis.is_some(),
            "camera started"
        );
        self.cameras.push(runtime_entry);
        Ok(())
    }

    fn spawn_thread(
        &mut self,
        name: String,
        f: impl FnOnce() + Send + 'static,
    ) -> anyhow::Result<()> {
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .spawn(f)
            .with_context(|| format!("starting thread {name}"))?;
        self.threads.push((name, handle));
        Ok(())
    }

    /// The running cameras.
    pub fn cameras(&self) -> &[CameraRuntime] {
        &self.cameras
    }

    /// The recording and event store, when a camera records.
    pub fn store(&self) -> Option<Arc<Store>> {
        self.store.clone()
    }

    /// The I/O runtime (the HTTPS server runs on it).
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// Waits for SIGTERM or SIGINT (Ctrl-C).
    pub fn wait_for_signal(&self) -> anyhow::Result<()> {
        self.runtime.block_on(wait_signal())
    }

    /// Waits for SIGTERM or SIGINT (Ctrl-C), or until `deadline`.
    pub fn wait_for_signal_until(&self, deadline: std::time::Instant) -> anyhow::Result<()> {
        self.runtime.block_on(async {
            tokio::select! {
                r = wait_signal() => r,
                _ = tokio::time::sleep_until(deadline.into()) => Ok(()),
            }
        })
    }

    /// Stops every stream, lets the recorders close their segments and the analysis end its open events,
    /// flushes alerts and closes the store.
    pub fn shutdown(self) -> ShutdownReport {
        let Engine {
            runtime,
            store,
            alerts,
            sink,
            streams,
            threads,
            cameras,
            background,
        } = self;
        drop(cameras);
        runtime.block_on(async {
            for s in streams {
                s.stop().await;
            }
        });
        let mut report = ShutdownReport::default();
        for (name, handle) in threads {
            if handle.join().is_err() {
                error!(thread = name, "thread panicked");
                report.panicked.push(name);
            }
        }
        for task in &background {
            task.abort();
        }
        report.events_recorded = sink.recorded.load(std::sync::atomic::Ordering::Relaxed);
        drop(sink);
        if let Some(alerts) = alerts {
            let done = runtime.block_on(alerts.shutdown(Duration::from_secs(5)));
            info!(?done, "alerts flushed");
        }
        runtime.shutdown_timeout(Duration::from_secs(5));
        if let Some(store) = store {
            match Arc::try_unwrap(store) {
                Ok(store) => store.close(),
                Err(_) => warn!(
                    "the store is still in use at shutdown; it closes when the last user ends"
                ),
            }
        }
        report
    }
}

/// Waits for SIGTERM or SIGINT (Ctrl-C).
async fn wait_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: shutting down"),
        r = tokio::signal::ctrl_c() => { r.context("listening for Ctrl-C")?; info!("Ctrl-C: shutting down") }
    }
    Ok(())
}

/// Opens the recording store when a camera records (creating the data directory for its index).
fn open_store(config: &VigilConfig) -> anyhow::Result<Option<Arc<Store>>> {
    if config.recording_cameras().next().is_none() {
        return Ok(None);
    }
    let store_config = config
        .store_config()
        .context("cameras record, but there is no [storage] section")?;
    // The default directory lives under data_dir and is ours to create; configured directories must
    // exist (a missing mount point is never created).
    let default_dir = config.default_recordings_dir();
    if store_config.dirs.iter().any(|d| d.path == default_dir) {
        std::fs::create_dir_all(&default_dir)
            .with_context(|| format!("creating {}", default_dir.display()))?;
    }
    if let Some(parent) = store_config.db.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let db = store_config.db.clone();
    let (store, report) = Store::open(store_config)
        .with_context(|| format!("opening the store at {}", db.display()))?;
    for (what, problems) in [
        ("damaged", &report.damaged),
        ("missing", &report.missing),
        ("quarantined", &report.quarantined),
    ] {
        for problem in problems {
            warn!("storage check at start-up: {what}: {problem:?}");
        }
    }
    for dir in &report.offline_dirs {
        warn!(
            "storage directory {dir} is offline: its recordings are kept in the index but not served"
        );
    }
    info!(
        recovered = report.recovered.len(),
        clean = report.is_clean(),
        "storage reconciled"
    );
    store.on_alert(|alert| warn!(kind = ?alert.kind, "storage alert: {}", alert.message));
    Ok(Some(Arc::new(store)))
}

type DeadLetterTask = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Starts alert delivery when any is configured; dead letters are kept in the store.
fn start_alerts(
    config: &VigilConfig,
    store: Option<Arc<Store>>,
) -> anyhow::Result<(Option<AlertHandle>, Option<DeadLetterTask>)> {
    let alert_config = config.alert_config();
    if alert_config.mqtt.is_none()
        && alert_config.webhook.is_empty()
        && alert_config.output.is_empty()
    {
        return Ok((None, None));
    }
    let (handle, mut dead) = Alerts::start(alert_config).context("starting alerts")?;
    let task: DeadLetterTask = Box::pin(async move {
        while let Some(letter) = dead.recv().await {
            warn!(target = ?letter.target, name = letter.name, "undeliverable alert: {}", letter.error);
            if let Some(store) = &store {
                let destination = format!("{:?}:{}", letter.target, letter.name).to_lowercase();
                let record = NewDeadLetter {
                    destination: &destination,
                    event_id: letter.event_id.parse().ok(),
                    payload: &letter.body,
                    attempts: letter.attempts,
                    last_error: &letter.error,
                    failed_ms: letter.queued_unix_ms,
                };
                if let Err(e) = store.add_dead_letter(&record) {
                    warn!("dead letter not stored: {e}");
                }
            }
        }
    });
    Ok((Some(handle), Some(task)))
}

/// Publishes each camera's status (online, analysed fps) every 10 seconds.
async fn publish_status(cameras: Vec<CameraRuntime>, sink: Arc<EventSink>) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        for c in &cameras {
            let stream = c.sub.as_ref().or(c.main.as_ref()).map(|s| s.snapshot());
            let online = stream
                .as_ref()
                .is_some_and(|s| s.state == StreamState::Connected);
            let fps = match &c.analysis {
                Some(a) => a.snapshot().0.fps as f32,
                None => stream.as_ref().map(|s| s.fps as f32).unwrap_or(0.0),
            };
            let message = stream.and_then(|s| if online { None } else { s.last_error });
            sink.camera_status(
                &c.name,
                &CameraStatus {
                    online,
                    fps,
                    message,
                },
            );
        }
    }
}
