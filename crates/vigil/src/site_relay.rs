//! The site's answers to the hub's requests ([`SiteResponder`], run by `crate::uplink`): what stays on
//! site, fetched through the hub on demand.
//!
//! - `ping`: the site's name and version.
//! - `snapshot`: the camera's latest picture as JPEG at its own size, privacy masks blacked out: the
//!   first key frame of its live view (waited for up to [`LIVE_WAIT`]), else the latest recorded one
//!   (both decoded by `crate::thumbnails`, the code behind the timeline's thumbnails).
//! - `recordings`: the camera's recorded ranges (main stream) from the store.
//! - `clip` + `chunk`: an MP4 of a range made the way `vigil export` makes one (the store's export, then
//!   the privacy masks burnt in by the export filter), kept under `data_dir/tmp/relay-clips` with a
//!   random id and served in parts of [`wire::CHUNK_BYTES`]. It is prepared on its own thread: when it
//!   is not ready within [`CLIP_WAIT`] the answer is `preparing` and the hub asks again. Deleted once
//!   read to its end or after
//!   [`wire::CLIP_KEEP_S`]; at most [`wire::MAX_CLIPS`] at once, at most [`wire::MAX_CLIP_MS`] of
//!   video each.
//! - `config_get` / `config_put`: `vigil.toml` through the same editor as the browser's settings page
//!   (`crate::config_editor`): checked like `vigil config check`, the text replaced kept in
//!   `data_dir/config-history`, refused when `base_version` is not the file's version now (edited on
//!   site since), applied like a browser save (rules straight into the running analysis, anything else
//!   by restarting the engine in-process, a second after the answer has gone). Refused with `[uplink]
//!   remote_config = false`.
//!
//! Every request is logged (`tracing`, target `vigil::site_relay`) and counted by the uplink
//! (`UplinkStats::requests`).

use crate::config_editor::{FileEditor, Reload};
use crate::engine::Engine;
use crate::thumbnails::{Thumbnails, first_picture};
use base64::Engine as _;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tracing::{info, warn};
use vigil_config::VigilConfig;
use vigil_core::Time90k;
use vigil_mp4::live_hub::{LiveChunk, LiveHub};
use vigil_server::config_edit::{ConfigEditor, ConfigRefusal};
use vigil_store::Store;
use vigil_uplink::Responder;
use vigil_uplink::wire::{self, RecordedRange, Reply, Request};

/// How long a snapshot waits for a key frame of the live view before taking the latest recorded one.
pub const LIVE_WAIT: Duration = Duration::from_secs(6);
/// How long a `clip` request waits for its clip before answering `preparing` (inside the minute a site
/// has to answer).
const CLIP_WAIT: Duration = Duration::from_secs(40);
/// How long after answering a configuration change that needs it the engine restarts (so the answer
/// leaves before the uplink stops).
const RESTART_AFTER: Duration = Duration::from_secs(1);

/// The site's answers to the hub.
pub struct SiteResponder {
    site: String,
    remote_config: bool,
    store: Arc<Store>,
    cameras: Vec<String>,
    live: HashMap<String, LiveHub>,
    runtime: tokio::runtime::Handle,
    thumbnails: Thumbnails,
    redactor: Arc<crate::redaction::ConfigRedactor>,
    /// `None` when the run loop cannot restart (no reload channel): configuration changes are refused.
    editor: Option<FileEditor>,
    tmp: PathBuf,
    clips: Arc<Mutex<Clips>>,
    /// The site's security database and the hours central users are cached (`None`: refused).
    central: Option<(Arc<vigil_server::Security>, u32)>,
}

/// Clips being prepared or waiting to be read.
#[derive(Default)]
struct Clips {
    by_id: HashMap<String, Clip>,
}

struct Clip {
    path: PathBuf,
    state: ClipState,
    /// When it was prepared (or failed).
    made: Instant,
}

enum ClipState {
    Preparing,
    Ready(u64),
    Failed(String),
}

impl Clips {
    /// Forgets (and deletes) clips prepared more than [`wire::CLIP_KEEP_S`] ago.
    fn sweep(&mut self) {
        let keep = Duration::from_secs(wire::CLIP_KEEP_S);
        self.by_id.retain(|id, c| {
            let old = !matches!(c.state, ClipState::Preparing) && c.made.elapsed() > keep;
            if old {
                info!(clip = %id, "relay clip not read to its end within 10 minutes: deleted");
                let _ = std::fs::remove_file(&c.path);
            }
            !old
        });
    }
}

impl SiteResponder {
    /// Takes the hub's users into `security`, cached for `hours` after each push (0: none).
    pub fn with_central_users(mut self, security: Arc<vigil_server::Security>, hours: u32) -> Self {
        self.central = Some((security, hours));
        self
    }

    /// Replaces the cached central users with the hub's list.
    fn central_users(
        &self,
        users: &[vigil_core::account::CentralAccount],
    ) -> Result<Reply, String> {
        let Some((security, hours)) = &self.central else {
            return Err("this site takes no central users".into());
        };
        // 0 hours: central users are not welcome here; the push removes any cached ones.
        let users = if *hours == 0 { &[][..] } else { users };
        let valid_until_ms = vigil_core::time::now_unix_ms() + i64::from(*hours) * 3_600_000;
        let s = security
            .sync_central_users(users, valid_until_ms)
            .map_err(|e| format!("central users not taken: {e}"))?;
        Ok(Reply::CentralUsers {
            added: s.added,
            updated: s.updated,
            removed: s.removed,
            skipped: s.skipped,
            valid_until_ms,
        })
    }

    /// The answers of the site `site` running `config` (from `config_path`) on `engine`; configuration
    /// changes restart through `reload`.
    pub fn new(
        site: &str,
        remote_config: bool,
        config: &VigilConfig,
        config_path: &Path,
        engine: &Engine,
        store: Arc<Store>,
        reload: Option<Reload>,
    ) -> anyhow::Result<SiteResponder> {
        let masks = config
            .cameras
            .iter()
            .filter_map(|c| {
                let m = vigil_rules::privacy_masks(&config.rules_for(&c.name)).ok()?;
                (!m.is_empty()).then(|| (c.name.clone(), m))
            })
            .collect();
        let tmp = config.data_dir.join("tmp").join("relay-clips");
        // Clips of an earlier run are never asked for again.
        let _ = std::fs::remove_dir_all(&tmp);
        let runtime = engine.runtime().handle().clone();
        let editor = reload.map(|reload| {
            // The engine restarts a moment after the answer, so the answer reaches the hub.
            let (delayed, mut rx) = tokio::sync::mpsc::channel::<String>(1);
            runtime.spawn(async move {
                while let Some(why) = rx.recv().await {
                    tokio::time::sleep(RESTART_AFTER).await;
                    if reload.try_send(why).is_err() {
                        warn!("a restart is already on its way");
                    }
                }
            });
            FileEditor::new(
                config_path,
                &config.data_dir,
                engine.rules_updates(),
                delayed,
                runtime.clone(),
                None,
            )
        });
        let clips = Arc::new(Mutex::new(Clips::default()));
        sweep_in_background(Arc::downgrade(&clips));
        Ok(SiteResponder {
            site: site.to_string(),
            remote_config,
            cameras: config.cameras.iter().map(|c| c.name.clone()).collect(),
            live: engine
                .cameras()
                .iter()
                .map(|c| (c.name.clone(), c.live.clone()))
                .collect(),
            runtime,
            thumbnails: Thumbnails::new(store.clone(), masks, config.data_dir.join("tmp")),
            redactor: Arc::new(crate::redaction::ConfigRedactor::new(
                config,
                engine.models_dir(),
                1,
            )?),
            store,
            editor,
            tmp,
            clips,
            central: None,
        })
    }

    fn camera(&self, camera: &str) -> Result<(), String> {
        if self.cameras.iter().any(|c| c == camera) {
            Ok(())
        } else {
            Err(format!(
                "site {} has no camera called {camera:?}",
                self.site
            ))
        }
    }

    fn snapshot(&self, camera: &str) -> Result<Reply, String> {
        self.camera(camera)?;
        let jpeg = match self.live_picture(camera) {
            Ok(j) => j,
            Err(live) => self.thumbnails.latest(camera).map_err(|recorded| {
                format!("no picture of {camera}: live view: {live}; recordings: {recorded}")
            })?,
        };
        Ok(Reply::Picture {
            jpeg_base64: base64::engine::general_purpose::STANDARD.encode(jpeg),
        })
    }

    /// The first key frame of the camera's live view, decoded.
    fn live_picture(&self, camera: &str) -> Result<Vec<u8>, String> {
        let hub = self.live.get(camera).ok_or("no live view")?;
        let mut viewer = hub.subscribe().ok_or("the camera's stream has stopped")?;
        let bytes = self.runtime.block_on(async {
            let mut bytes: Vec<u8> = Vec::new();
            let deadline = tokio::time::Instant::now() + LIVE_WAIT;
            loop {
                match tokio::time::timeout_at(deadline, viewer.next()).await {
                    Ok(Some(LiveChunk::Init(init))) => {
                        bytes.clear();
                        bytes.extend_from_slice(&init.data);
                    }
                    Ok(Some(LiveChunk::Media(m))) if !bytes.is_empty() => {
                        bytes.extend_from_slice(&m);
                        return Ok(bytes);
                    }
                    Ok(Some(LiveChunk::Media(_))) => {}
                    Ok(None) => return Err("the camera's stream has stopped".to_string()),
                    Err(_) => {
                        return Err(format!("no key frame within {} s", LIVE_WAIT.as_secs()));
                    }
                }
            }
        })?;
        std::fs::create_dir_all(&self.tmp).map_err(|e| e.to_string())?;
        let mut file = tempfile::Builder::new()
            .prefix("live-")
            .suffix(".mp4")
            .tempfile_in(&self.tmp)
            .map_err(|e| e.to_string())?;
        file.write_all(&bytes).map_err(|e| e.to_string())?;
        file.flush().map_err(|e| e.to_string())?;
        first_picture(file.path(), None, self.thumbnails.masks(camera))
    }

    fn recordings(&self, camera: &str, from_ms: i64, to_ms: i64) -> Result<Reply, String> {
        self.camera(camera)?;
        if to_ms <= from_ms {
            return Err("the range ends before it starts".into());
        }
        let reader = self.store.reader().map_err(|e| e.to_string())?;
        let ranges = reader
            .recordings(camera, "main", Time90k(from_ms * 90), Time90k(to_ms * 90))
            .map_err(|e| e.to_string())?;
        Ok(Reply::Recordings {
            ranges: ranges
                .into_iter()
                .map(|r| RecordedRange {
                    from_ms: r.start.0 / 90,
                    to_ms: r.end.0 / 90,
                    site: self.site.clone(),
                })
                .collect(),
        })
    }

    fn clip(&self, camera: &str, from_ms: i64, to_ms: i64) -> Result<Reply, String> {
        self.camera(camera)?;
        if to_ms <= from_ms {
            return Err("the clip ends before it starts".into());
        }
        if to_ms - from_ms > wire::MAX_CLIP_MS {
            return Err(format!(
                "a clip is at most {} minutes of video; ask for several",
                wire::MAX_CLIP_MS / 60_000
            ));
        }
        std::fs::create_dir_all(&self.tmp).map_err(|e| e.to_string())?;
        let id = format!("{:016x}", fastrand::u64(..));
        let path = self.tmp.join(format!("{id}.mp4"));
        {
            let mut clips = self.clips.lock().unwrap_or_else(|p| p.into_inner());
            clips.sweep();
            if clips.by_id.len() >= wire::MAX_CLIPS {
                return Err(format!(
                    "this site is already preparing or serving {} clips; try again once one is fetched",
                    wire::MAX_CLIPS
                ));
            }
            clips.by_id.insert(
                id.clone(),
                Clip {
                    path: path.clone(),
                    state: ClipState::Preparing,
                    made: Instant::now(),
                },
            );
        }
        // Prepared on its own thread: a long clip with masks to burn in takes longer than the minute
        // a site has to answer a request; the hub then asks again until it is ready.
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let job = ClipJob {
            store: self.store.clone(),
            redactor: self.redactor.clone(),
            clips: self.clips.clone(),
            camera: camera.to_string(),
            id: id.clone(),
            path,
        };
        std::thread::Builder::new()
            .name("relay-clip".into())
            .spawn(move || {
                let made = job.make(from_ms, to_ms);
                let _ = done_tx.send(made);
            })
            .map_err(|e| {
                self.clips
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .by_id
                    .remove(&id);
                format!("cannot prepare a clip now: {e}")
            })?;
        match done_rx.recv_timeout(clip_wait()) {
            Ok(Ok(size)) => Ok(Reply::Clip { clip: id, size }),
            Ok(Err(e)) => {
                self.clips
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .by_id
                    .remove(&id);
                Err(e)
            }
            Err(_) => Ok(Reply::Preparing { clip: id }),
        }
    }

    fn chunk(&self, id: &str, offset: u64) -> Result<Reply, String> {
        let gone = || {
            format!(
                "no clip {id:?} here (read to its end already, not read for 10 minutes, or never made)"
            )
        };
        let (path, size) = {
            let mut clips = self.clips.lock().unwrap_or_else(|p| p.into_inner());
            clips.sweep();
            let c = clips.by_id.get(id).ok_or_else(gone)?;
            match &c.state {
                ClipState::Preparing => {
                    return Ok(Reply::Preparing {
                        clip: id.to_string(),
                    });
                }
                ClipState::Failed(e) => {
                    let e = format!("the clip could not be made: {e}");
                    clips.by_id.remove(id);
                    return Err(e);
                }
                ClipState::Ready(size) => (c.path.clone(), *size),
            }
        };
        if offset >= size {
            return Err(format!(
                "offset {offset} is past the clip's end ({size} bytes)"
            ));
        }
        let mut file = std::fs::File::open(&path).map_err(|_| gone())?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| e.to_string())?;
        let want = (size - offset).min(wire::CHUNK_BYTES as u64) as usize;
        let mut data = vec![0u8; want];
        file.read_exact(&mut data).map_err(|e| e.to_string())?;
        let next = offset + want as u64;
        if next >= size {
            let mut clips = self.clips.lock().unwrap_or_else(|p| p.into_inner());
            clips.by_id.remove(id);
            let _ = std::fs::remove_file(&path);
            info!(clip = %id, "relay clip read to its end: deleted");
        }
        Ok(Reply::Chunk {
            data_base64: base64::engine::general_purpose::STANDARD.encode(&data),
            next,
            size,
        })
    }

    fn config_get(&self) -> Result<Reply, String> {
        let editor = self.editor()?;
        let doc = editor.read().map_err(refusal)?;
        Ok(Reply::Config {
            version: wire::config_version(&doc.text),
            text: doc.text,
        })
    }

    fn config_put(&self, text: &str, base_version: Option<&str>) -> Result<Reply, String> {
        let editor = self.editor()?;
        let now = editor.read().map_err(refusal)?;
        let current = wire::config_version(&now.text);
        if let Some(base) = base_version
            && base != current
        {
            return Err(stale(base, &current));
        }
        match editor.save(text, &now.version) {
            Ok(saved) => {
                info!(
                    version = %wire::config_version(text),
                    applied = saved.applied,
                    cameras = ?saved.cameras,
                    detail = %saved.detail,
                    "configuration replaced by the hub"
                );
                Ok(Reply::Config {
                    version: wire::config_version(text),
                    text: text.to_string(),
                })
            }
            Err(ConfigRefusal::Stale { .. }) => {
                let again = editor
                    .read()
                    .map(|d| wire::config_version(&d.text))
                    .unwrap_or_default();
                Err(stale(base_version.unwrap_or(&current), &again))
            }
            Err(e) => Err(refusal(e)),
        }
    }

    fn editor(&self) -> Result<&FileEditor, String> {
        if !self.remote_config {
            return Err(
                "this site does not allow remote configuration ([uplink] remote_config = false)"
                    .into(),
            );
        }
        self.editor
            .as_ref()
            .ok_or_else(|| "this site cannot take configuration changes while it runs".into())
    }
}

/// How long a `clip` request waits for the clip before answering `preparing`
/// (`VIGIL_RELAY_CLIP_WAIT_MS` changes it, for tests).
fn clip_wait() -> Duration {
    std::env::var("VIGIL_RELAY_CLIP_WAIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(CLIP_WAIT, Duration::from_millis)
}

/// One clip to prepare, on its own thread.
struct ClipJob {
    store: Arc<Store>,
    redactor: Arc<crate::redaction::ConfigRedactor>,
    clips: Arc<Mutex<Clips>>,
    camera: String,
    id: String,
    path: PathBuf,
}

impl ClipJob {
    /// Prepares it and records the outcome; its size.
    fn make(&self, from_ms: i64, to_ms: i64) -> Result<u64, String> {
        let started = Instant::now();
        let made = self.write(from_ms, to_ms);
        let mut clips = self.clips.lock().unwrap_or_else(|p| p.into_inner());
        if made.is_err() {
            let _ = std::fs::remove_file(&self.path);
        }
        match clips.by_id.get_mut(&self.id) {
            Some(c) => {
                c.made = Instant::now();
                c.state = match &made {
                    Ok(size) => ClipState::Ready(*size),
                    Err(e) => ClipState::Failed(e.clone()),
                };
            }
            // Forgotten meanwhile (the responder stopped).
            None => {
                let _ = std::fs::remove_file(&self.path);
            }
        }
        match &made {
            Ok(size) => info!(
                clip = %self.id,
                camera = %self.camera,
                bytes = size,
                ms = started.elapsed().as_millis() as u64,
                "relay clip prepared"
            ),
            Err(e) => warn!(clip = %self.id, camera = %self.camera, "relay clip failed: {e}"),
        }
        made
    }

    /// Writes the MP4 of `[from_ms, to_ms)` like `vigil export`, masks burnt in; its size.
    fn write(&self, from_ms: i64, to_ms: i64) -> Result<u64, String> {
        let (camera, path) = (self.camera.as_str(), self.path.as_path());
        let reader = self.store.reader().map_err(|e| e.to_string())?;
        let export = reader
            .export(camera, "main", Time90k(from_ms * 90), Time90k(to_ms * 90))
            .map_err(|e| e.to_string())?;
        let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        export
            .file
            .write_all(&mut w, &mut |_| {})
            .map_err(|e| e.to_string())?;
        let file = w.into_inner().map_err(|e| e.into_error().to_string())?;
        file.sync_all().map_err(|e| e.to_string())?;
        drop(file);
        let masks = vigil_core::Redaction {
            masks: true,
            ..Default::default()
        };
        vigil_store::filter_in_place(
            Some(self.redactor.as_ref() as &dyn vigil_store::ExportFilter),
            camera,
            &masks,
            path,
            &mut |_| {},
        )
        .map_err(|e| format!("applying the privacy masks: {e}"))?;
        std::fs::metadata(path)
            .map(|m| m.len())
            .map_err(|e| e.to_string())
    }
}

fn stale(base: &str, current: &str) -> String {
    format!(
        "the configuration changed on the site since version {base} (it is {current} now): fetch it and push again"
    )
}

fn refusal(e: ConfigRefusal) -> String {
    match e {
        ConfigRefusal::Stale { current } => {
            format!("the configuration changed meanwhile (now {current})")
        }
        ConfigRefusal::Invalid(problems) => format!(
            "the configuration has problems, nothing was changed: {}",
            problems
                .iter()
                .map(|p| {
                    let field = if p.field.is_empty() {
                        String::new()
                    } else {
                        format!(" {}:", p.field)
                    };
                    format!("line {}:{field} {}", p.line, p.message)
                })
                .collect::<Vec<_>>()
                .join("; ")
        ),
        ConfigRefusal::Refused(m) | ConfigRefusal::Failed(m) => m,
    }
}

/// Deletes clips left unread every 30 s while the responder lives.
fn sweep_in_background(clips: Weak<Mutex<Clips>>) {
    let spawned = std::thread::Builder::new()
        .name("relay-clips".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(30));
                let Some(c) = clips.upgrade() else { return };
                c.lock().unwrap_or_else(|p| p.into_inner()).sweep();
            }
        });
    if let Err(e) = spawned {
        warn!("relay clips will be swept only when asked for: {e}");
    }
}

impl Responder for SiteResponder {
    fn answer(&self, request: Request) -> Reply {
        let verb = request.verb();
        let started = Instant::now();
        let answer = match &request {
            Request::Ping => Ok(Reply::Pong {
                site: self.site.clone(),
                version: env!("CARGO_PKG_VERSION").to_string(),
            }),
            Request::Snapshot { camera } => self.snapshot(camera),
            Request::Recordings {
                camera,
                from_ms,
                to_ms,
            } => self.recordings(camera, *from_ms, *to_ms),
            Request::Clip {
                camera,
                from_ms,
                to_ms,
            } => self.clip(camera, *from_ms, *to_ms),
            Request::Chunk { clip, offset } => self.chunk(clip, *offset),
            Request::ConfigGet => self.config_get(),
            Request::ConfigPut { text, base_version } => {
                self.config_put(text, base_version.as_deref())
            }
            Request::CentralUsers { users } => self.central_users(users),
        };
        let ms = started.elapsed().as_millis() as u64;
        match answer {
            Ok(reply) => {
                info!(verb, ms, "hub request answered");
                reply
            }
            Err(message) => {
                warn!(verb, ms, "hub request refused: {message}");
                Reply::Error { message }
            }
        }
    }
}
