//! The running system behind `vigil run` and `vigil demo`: every configured camera ingested, its main
//! stream recorded, its analysis stream analysed (motion-gated detection, tracking, behaviour rules),
//! events published on the event bus and consumed by the event store, the alerts and the live UI; shut
//! down cleanly on SIGTERM / Ctrl-C with every segment closed and indexed and every event written.
//!
//! This module only wires parts together; what each part does lives in its crate. Threads and channels,
//! with their capacities and policies: `docs/design/threads.md`; the event road: `docs/design/events.md`.

pub mod camera;
pub mod onvif;
mod status;
pub mod trial;

use crate::models;
use anyhow::Context;
use camera::{CameraSink, LiveOut, start_source};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{error, info, warn};
use vigil_alert::{AlertHandle, Alerts, CameraEntities};
use vigil_bus::{EventBus, Message, Overflow, Subscription};
use vigil_config::VigilConfig;
use vigil_core::config::{CameraConfig, CameraRole, InferenceDevice};
use vigil_core::thread::thread_name;
use vigil_identity::{FaceBook, PlateLists};
use vigil_media::rtsp::{StatusHandle, StreamHandle};
use vigil_mp4::live_hub::{LiveHub, live_channel};
use vigil_pipeline::drift::DriftJudge;
use vigil_pipeline::health::{HealthStage, StreamHealth};
use vigil_pipeline::live::{AnalysisStats, LiveAnalysis, analysis_channel};
use vigil_pipeline::masked_live::MaskedLive;
use vigil_pipeline::{DetectorPool, PipelineConfig};
use vigil_store::{EventWriter, NewDeadLetter, Recorder, Store};

/// The event store's bus queue: minutes of events at a high rate while the disk stalls; beyond it
/// messages are dropped loudly (`docs/design/events.md`).
const STORE_QUEUE: usize = 65_536;
/// Snapshot bytes the event store's queue may hold before it sheds images (oldest first).
const STORE_QUEUE_BYTES: usize = 64 << 20;
/// The alerts' bus queue (they hand each message to their own queues at once).
const ALERTS_QUEUE: usize = 4_096;
/// The live UI's bus queue (the newest matters; the oldest are dropped when it is behind).
pub const LIVE_UI_QUEUE: usize = 1_024;

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
    /// Its stream's health (offline, degraded), judged by the status loop; `None` with `[analysis]
    /// health = false`.
    pub stream_health: Option<Arc<Mutex<StreamHealth>>>,
}

/// A camera's analysis stream as the status loop and the hub's status see it.
pub struct StreamView {
    /// The stream's status (its sub stream's when it has one), when it has a stream.
    pub stream: Option<vigil_media::rtsp::StreamStatus>,
    /// The stream is connected.
    pub online: bool,
    /// Analysed frames per second when analysed, else received frames per second.
    pub fps: f32,
    /// The picture's health states when analysed (covered, moved, …).
    pub picture_health: Vec<String>,
}

impl CameraRuntime {
    /// Its analysis stream's state now (one look at the stream and one at the analysis).
    pub fn stream_view(&self) -> StreamView {
        let stream = self
            .sub
            .as_ref()
            .or(self.main.as_ref())
            .map(|s| s.snapshot());
        let online = stream
            .as_ref()
            .is_some_and(|s| s.state == vigil_media::rtsp::StreamState::Connected);
        let (fps, picture_health) = match &self.analysis {
            Some(a) => {
                let (s, _) = a.snapshot();
                (s.fps as f32, s.health)
            }
            None => (
                stream.as_ref().map(|s| s.fps as f32).unwrap_or(0.0),
                Vec::new(),
            ),
        };
        StreamView {
            stream,
            online,
            fps,
            picture_health,
        }
    }
}

/// The running system.
pub struct Engine {
    runtime: tokio::runtime::Runtime,
    store: Option<Arc<Store>>,
    alerts: Option<AlertHandle>,
    bus: EventBus,
    /// Each analysed frame's tracks, for drawing over live video in the console.
    overlay: vigil_bus::OverlaySender,
    /// Each analysed camera's rules, replaceable while it runs.
    rules_updates: RulesUpdates,
    event_writer: Option<EventWriter>,
    pool: Option<Arc<DetectorPool>>,
    /// The second detector of rules with `second_opinion` (`[analysis] second_model`).
    second_pool: Option<Arc<DetectorPool>>,
    streams: Vec<StreamHandle>,
    recorders: Vec<(String, Recorder)>,
    threads: Vec<(String, std::thread::JoinHandle<()>)>,
    cameras: Vec<CameraRuntime>,
    consumers: Vec<tokio::task::JoinHandle<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
    models_dir: Option<PathBuf>,
    /// The identity models, shared by every camera.
    model_pools: crate::stages::ModelPools,
    /// The watchlists, when a camera has face recognition (shared with the server).
    identity: Option<Arc<Mutex<FaceBook>>>,
    /// The plate lists.
    plate_lists: Arc<PlateLists>,
    /// The cameras' ONVIF side: PTZ links, event readers, autotrackers.
    onvif: onvif::Onvif,
    /// Each analysed camera's hand-off to a live model trial, and its rules (trial.rs).
    trial_slots: std::collections::BTreeMap<
        String,
        (vigil_pipeline::trial::ShadowSlot, vigil_rules::RulesConfig),
    >,
}

/// Each analysed camera's rules channel: a new `[rules.CAMERA]` sent here is applied by its analysis
/// thread at the next analysed frame, without stopping anything else.
#[derive(Clone, Default)]
pub struct RulesUpdates(
    Arc<
        Mutex<
            std::collections::BTreeMap<
                String,
                tokio::sync::watch::Sender<vigil_rules::RulesConfig>,
            >,
        >,
    >,
);

impl RulesUpdates {
    fn add(
        &self,
        camera: &str,
        rules: vigil_rules::RulesConfig,
    ) -> tokio::sync::watch::Receiver<vigil_rules::RulesConfig> {
        let (tx, rx) = tokio::sync::watch::channel(rules);
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(camera.to_string(), tx);
        rx
    }

    /// Sends `camera` its new rules; false when the camera is not analysed (nothing to apply).
    pub fn send(&self, camera: &str, rules: vigil_rules::RulesConfig) -> bool {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(camera).is_some_and(|tx| tx.send(rules).is_ok())
    }
}

/// What shutting down did.
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Threads that panicked (by name).
    pub panicked: Vec<String>,
    /// Event messages stored while running.
    pub events_recorded: u64,
    /// Each recorder's final counters (camera name, status), after its last segment was committed.
    pub recorders: Vec<(String, vigil_store::RecorderStatus)>,
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
            // Many cameras make many small calls: on the CPU, one single-threaded session per inference
            // thread runs more of them per second than one session splitting each call over the
            // threads (a 416 px call takes about as long on 2 threads as on 1). One camera gets one
            // session using every thread, for the shortest call.
            let many = config.analysed_cameras().nth(1).is_some();
            let (workers, per_session) = match config.analysis.device {
                InferenceDevice::Cpu if many => (threads, 1),
                _ => (1, threads),
            };
            let pool = loaded.pool(
                models::tracking_detector_config(Some(per_session), config.analysis.device),
                workers,
            )?;
            models::report_device(&pool);
            Some(pool)
        } else {
            None
        };
        let second_pool = match (&pool, &config.analysis.second_model) {
            (Some(_), Some(name)) => {
                let loaded = models::load(name, options.models_dir.clone())
                    .context("[analysis] second_model")?;
                // One single-threaded session: it runs seldom (see vigil_rules::second).
                let detector = vigil_vision::detector::DetectorConfig {
                    threads: Some(1),
                    device: config.analysis.device,
                    ..Default::default()
                };
                Some(loaded.pool(detector, 1)?)
            }
            _ => None,
        };
        // Consumers subscribe before any camera publishes.
        let bus = EventBus::new();
        let event_writer = match &store {
            Some(store) => Some(
                EventWriter::start(
                    store.clone(),
                    bus.subscribe(
                        "store",
                        STORE_QUEUE,
                        STORE_QUEUE_BYTES,
                        Overflow::DropNewest,
                    ),
                )
                .context("starting the event writer thread")?,
            ),
            None => None,
        };
        let mut consumers = Vec::new();
        if let Some(alerts) = &alerts {
            let sub = bus.subscribe("alerts", ALERTS_QUEUE, 16 << 20, Overflow::DropOldest);
            consumers.push(runtime.spawn(alerts.clone().consume(sub)));
        }
        let mut engine = Engine {
            runtime,
            store,
            alerts,
            bus,
            overlay: vigil_bus::overlay_channel(),
            rules_updates: RulesUpdates::default(),
            event_writer,
            pool: pool.clone(),
            second_pool,
            streams: Vec::new(),
            recorders: Vec::new(),
            threads: Vec::new(),
            cameras: Vec::new(),
            consumers,
            background: Vec::new(),
            models_dir: options.models_dir.clone(),
            model_pools: crate::stages::ModelPools::per_core(options.models_dir.clone()),
            identity: open_identity(config)?,
            plate_lists: Arc::new(
                PlateLists::open(&config.data_dir, &config.plates)
                    .context("opening the plate lists (identity database)")?,
            ),
            onvif: onvif::Onvif::default(),
            trial_slots: Default::default(),
        };
        if let Some(task) = dead_letters {
            engine.background.push(engine.runtime.spawn(task));
        }
        for camera in config.cameras.iter().filter(|c| c.enabled) {
            engine.start_camera(config, camera, pool.as_ref())?;
        }
        if let Some(alerts) = &engine.alerts {
            alerts.finish_registration();
        }
        if pool.is_some() {
            let trials = trial::watch(trial::TrialContext {
                data_dir: config.data_dir.clone(),
                models_dir: options.models_dir.clone(),
                current: config.analysis.model.clone(),
                fps: config.analysis.detect_fps as f32,
                cameras: std::mem::take(&mut engine.trial_slots),
            });
            engine.background.push(engine.runtime.spawn(trials));
        }
        let status = status::publish_status(
            engine.cameras.clone(),
            engine.bus.clone(),
            engine.alerts.clone(),
            engine.store.clone(),
        );
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
        let (bus, overlay) = (self.bus.clone(), self.overlay.clone());
        self.onvif
            .start_camera(config, camera, &bus, &overlay, pool.is_some())?;
        let (live, live_hub) = live_channel(&name);
        // A camera with privacy masks is shown live only through the masking thread.
        let masks = vigil_rules::privacy_masks(&config.rules_for(&name))
            .with_context(|| format!("privacy masks of {name}"))?;
        let mut live = Some(if masks.is_empty() {
            LiveOut::Direct(live)
        } else {
            let (masked, run) = MaskedLive::new(&name, masks, live);
            self.spawn_thread(thread_name("msk", &name), run)?;
            LiveOut::Masked(masked)
        });
        // Camera health (`[analysis] health`) describes its events in the camera's time zone.
        let health_tz = match config.analysis.health {
            true => Some(crate::stages::camera_tz(config, &name)?),
            false => None,
        };
        let mut runtime_entry = CameraRuntime {
            name: name.clone(),
            main: None,
            sub: None,
            analysis: None,
            live: live_hub,
            stream_health: health_tz
                .clone()
                .map(|tz| Arc::new(Mutex::new(StreamHealth::new(&name, tz)))),
        };
        let _enter = self.runtime.enter();
        // Home Assistant's switches for this camera (on when there is no MQTT), and its entities.
        let controls = self
            .alerts
            .as_ref()
            .map(|a| a.controls(&name))
            .unwrap_or_default();
        if let Some(alerts) = &self.alerts {
            let entities = match pool {
                Some(_) => CameraEntities::from_rules(&name, &config.rules_for(&name)),
                None => CameraEntities {
                    camera: name.clone(),
                    ..CameraEntities::default()
                },
            };
            let entities = match health_tz {
                Some(_) => entities.with_health(pool.is_some()),
                None => entities,
            };
            alerts.register_camera(&entities.recorded(record));
        }
        // Pictures for Home Assistant's camera entities, when MQTT discovery is on.
        let picture_every = config
            .mqtt
            .as_ref()
            .filter(|m| m.discovery && m.snapshot_interval.as_millis() > 0)
            .map(|m| Duration::from_millis(m.snapshot_interval.as_millis()));

        // The analysis thread, fed by the main stream's sink or by a separate sub stream's.
        let mut feed = None;
        if let Some(pool) = pool {
            let stats = AnalysisStats::default();
            let (analysis_feed, rx) = analysis_channel(&stats);
            let mut pipeline = PipelineConfig {
                analysis_fps: config.analysis.detect_fps as f32,
                ..PipelineConfig::default()
            };
            if let Some(classes) = &config.analysis.classes {
                pipeline.classes = classes.clone();
            }
            let stages = crate::stages::for_camera(
                config,
                &name,
                &pool.spec().classes,
                &self.model_pools,
                self.identity.clone(),
                Some(self.plate_lists.clone()),
            )?;
            if stages.faces.is_some() {
                info!(camera = %name, "face recognition on");
            }
            if stages.plates.is_some() {
                info!(camera = %name, "plate reading on");
            }
            let shadow = vigil_pipeline::trial::ShadowSlot::default();
            self.trial_slots
                .insert(name.clone(), (shadow.clone(), config.rules_for(&name)));
            let analysis = LiveAnalysis {
                camera: name.clone(),
                pool: pool.clone(),
                pipeline,
                rules: config.rules_for(&name),
                bus: self.bus.clone(),
                // Stored, or shown as the camera's last event in Home Assistant.
                snapshots: self.store.is_some() || picture_every.is_some(),
                stats: stats.clone(),
                controls: controls.clone(),
                picture_every,
                faces: stages.faces,
                plates: stages.plates,
                relink: crate::stages::relinker(
                    config.analysis.relink_seconds,
                    &name,
                    &pool.spec().classes,
                    &self.model_pools,
                ),
                health: health_tz.clone().map(|tz| HealthStage::new(&name, tz)),
                drift: health_tz.clone().map(|tz| DriftJudge::new(&name, tz)),
                second: self.second_pool.as_ref().map(|p| {
                    vigil_pipeline::second_opinion::SecondOpinionStage::new(
                        p,
                        &name,
                        config.analysis.detect_fps,
                    )
                }),
                activity: crate::stages::activity(config, &name, self.store.as_deref())?,
                scene: crate::stages::scene(config, &name, &pool.spec().classes)?,
                overlay: Some(self.overlay.clone()),
                rules_updates: Some(self.rules_updates.add(&name, config.rules_for(&name))),
                shadow: Some(shadow),
            };
            self.spawn_thread(thread_name("ana", &name), move || analysis.run(rx))?;
            runtime_entry.analysis = Some(stats);
            feed = Some(analysis_feed);
        }

        let separate_analysis_stream =
            !record || camera.sub.as_ref().is_some_and(|s| *s != camera.main);
        if record {
            let recorder = match &self.store {
                Some(store) => store
                    .recorder(&name, "main")
                    .with_context(|| format!("recorder of {name}"))?,
                None => anyhow::bail!("camera {name} records but there is no store"),
            };
            let mut sink = CameraSink::new(&name);
            sink.record = recorder.handle();
            sink.controls = controls.clone();
            sink.live = live.take();
            if !separate_analysis_stream {
                sink.analysis = feed.take();
            }
            let source = start_source(
                &format!("{name}/main"),
                &camera.main,
                camera.credentials(),
                sink,
            )?;
            runtime_entry.main = Some(source.status_handle());
            self.streams.push(source);
            self.recorders.push((name.clone(), recorder));
        }
        if let Some(feed) = feed.take() {
            let mut sink = CameraSink::new(&name);
            sink.analysis = Some(feed);
            sink.live = live.take();
            let url = camera.analysis_url();
            let source = start_source(&format!("{name}/sub"), url, camera.credentials(), sink)?;
            runtime_entry.sub = Some(source.status_handle());
            self.streams.push(source);
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

    /// Each recorder's counters (camera name, status), in start order.
    pub fn recorder_status(&self) -> Vec<(String, vigil_store::RecorderStatus)> {
        self.recorders
            .iter()
            .map(|(camera, r)| (camera.clone(), r.status()))
            .collect()
    }

    /// Alert delivery, when configured.
    pub fn alerts(&self) -> Option<AlertHandle> {
        self.alerts.clone()
    }

    /// The models directory given at start (`None`: the default).
    pub fn models_dir(&self) -> Option<PathBuf> {
        self.models_dir.clone()
    }

    /// The plate lists (`vigil.toml`'s and the UI's), shared with every camera's plate stage.
    pub fn plate_lists(&self) -> Arc<PlateLists> {
        self.plate_lists.clone()
    }

    /// The watchlists, when a camera has face recognition.
    pub fn identity(&self) -> Option<Arc<Mutex<FaceBook>>> {
        self.identity.clone()
    }

    /// The recording and event store, when a camera records.
    pub fn store(&self) -> Option<Arc<Store>> {
        self.store.clone()
    }

    /// The event bus (the server subscribes its live event feed to it).
    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// The detector scheduler shared by the analysed cameras (their rates and health).
    pub fn detector_pool(&self) -> Option<Arc<DetectorPool>> {
        self.pool.clone()
    }

    /// The event writer's figures, when events are stored.
    pub fn event_writer_stats(&self) -> Option<Arc<vigil_store::EventWriterStats>> {
        self.event_writer.as_ref().map(|w| w.stats.clone())
    }

    /// A new live-UI subscription to the event bus.
    pub fn subscribe_live_ui(&self) -> Subscription<Message> {
        self.bus
            .subscribe("live-ui", LIVE_UI_QUEUE, 8 << 20, Overflow::DropOldest)
    }

    /// Where new rules for the analysed cameras go while they run.
    pub fn rules_updates(&self) -> RulesUpdates {
        self.rules_updates.clone()
    }

    /// Each analysed frame's tracked objects, for drawing over live video.
    pub fn overlay(&self) -> vigil_bus::OverlaySender {
        self.overlay.clone()
    }

    /// The PTZ links of the cameras with an ONVIF address (shared with their autotracking).
    pub fn ptz_links(&self) -> std::collections::BTreeMap<String, Arc<vigil_onvif::PtzLink>> {
        self.onvif.links()
    }

    /// The I/O runtime (the HTTPS server runs on it).
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// Waits for SIGTERM or SIGINT (Ctrl-C), `deadline` or a restart asked for on `reload` (the
    /// configuration changed): `Some(why)` for a restart.
    pub fn wait_for_stop_or_reload(
        &self,
        deadline: Option<std::time::Instant>,
        reload: &mut tokio::sync::mpsc::Receiver<String>,
    ) -> anyhow::Result<Option<String>> {
        self.runtime.block_on(async {
            let deadline = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = wait_signal() => r.map(|()| None),
                _ = deadline => Ok(None),
                why = reload.recv() => Ok(why),
            }
        })
    }

    /// Stops every stream; lets the analysis end its open events and the recorders close their
    /// segments; then lets the event consumers drain the bus (every event written, every alert handed
    /// over), flushes alerts and closes the store.
    pub fn shutdown(self) -> ShutdownReport {
        let Engine {
            runtime,
            store,
            alerts,
            bus,
            event_writer,
            pool,
            second_pool,
            streams,
            recorders,
            threads,
            cameras,
            consumers,
            background,
            models_dir: _,
            model_pools: _,
            identity: _,
            plate_lists: _,
            overlay: _,
            onvif,
            rules_updates: _,
            trial_slots: _,
        } = self;
        drop((cameras, pool, second_pool));
        // Autotrackers stop their cameras, event readers end their open events (on the bus, still open).
        let onvif_panicked = onvif.stop();
        runtime.block_on(async {
            for s in streams {
                s.stop().await;
            }
            // Background tasks hold bus handles: they must be gone before the bus can close.
            for task in background {
                task.abort();
                let _ = task.await;
            }
        });
        let mut report = ShutdownReport {
            panicked: onvif_panicked,
            ..ShutdownReport::default()
        };
        for (name, handle) in threads {
            if handle.join().is_err() {
                error!(thread = name, "thread panicked");
                report.panicked.push(name);
            }
        }
        for (camera, recorder) in recorders {
            let status = recorder.close();
            info!(camera, ?status, "recorder closed");
            report.recorders.push((camera, status));
        }
        // Every publisher is gone now: consumers drain what is queued and end.
        drop(bus);
        if let Some(writer) = event_writer {
            let stats = writer.stats.clone();
            writer.join();
            report.events_recorded = stats.written.load(std::sync::atomic::Ordering::Relaxed);
        }
        runtime.block_on(async {
            for task in consumers {
                if let Err(e) = task.await
                    && e.is_panic()
                {
                    error!("an event consumer task panicked");
                }
            }
        });
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
    // A standby box keeps its store open while it covers nobody: its events go up from it.
    if config.recording_cameras().next().is_none() && !config.standby_records() {
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
    // The key store first: a wrong or missing master key refuses to start before anything records.
    let keys = crate::cmd::keys::open_key_store(config)?;
    let site_key = keys.site_key().context("the site signing key")?;
    let db = store_config.db.clone();
    let encrypt = store_config.encrypt;
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
    info!(site_key = %site_key.public().id(), "recording chain heads are signed with the site key");
    store.set_site_key(Arc::new(site_key));
    if encrypt {
        info!(master_key = %keys.master_id(), "new segments are encrypted at rest");
    } else {
        warn!("[storage] encrypt = false: new segments are written in the clear");
    }
    store.set_keys(Arc::new(keys));
    Ok(Some(Arc::new(store)))
}

/// The watchlists (`data_dir/identity.db`, templates sealed under the key store), opened when a camera
/// has face recognition (`[faces.camera.NAME]`); says what the model is and what that means.
fn open_identity(config: &VigilConfig) -> anyhow::Result<Option<Arc<Mutex<FaceBook>>>> {
    let on: Vec<&str> = config
        .analysed_cameras()
        .filter(|c| config.faces.on(&c.name).is_some())
        .map(|c| c.name.as_str())
        .collect();
    if on.is_empty() {
        return Ok(None);
    }
    warn!(
        cameras = %on.join(", "),
        "face recognition is on: {}",
        vigil_vision::face_embed::TRAINING_CAVEAT
    );
    let keys = crate::cmd::keys::open_key_store(config)?;
    let book = FaceBook::open(&config.data_dir, &keys).context("opening the identity database")?;
    Ok(Some(Arc::new(Mutex::new(book))))
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
