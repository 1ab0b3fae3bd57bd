//! The configuration file behind `/api/config*`: the server's [`ConfigEditor`] made of `vigil-config`'s
//! editing (comments kept, checked like `vigil config check`, versioned) and the running system's two
//! ways to take a change: rules straight into the running analysis, anything else by restarting the
//! cameras and the server in-process (`vigil run` and `vigil demo` loop on [`Reload`]).

use crate::engine::RulesUpdates;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use vigil_config::edit::{self, Applying, ConfigFile, EditError, Geometry, NewCamera};
use vigil_core::config::{ConfigErrors, Credentials, Secret};
use vigil_media::rtsp::{IngestOptions, StreamEvent, StreamSource, spawn_stream};
use vigil_server::config_edit::{
    ConfigDoc, ConfigEdit, ConfigEditor, ConfigProblem, ConfigRefusal, Saved, StreamProbe,
};

/// Asks the run loop to restart with the file as it is now.
pub type Reload = tokio::sync::mpsc::Sender<String>;

/// How long a probe listens to a stream at most.
const PROBE_FOR: Duration = Duration::from_secs(6);
/// Frames a probe wants (enough to measure the rate).
const PROBE_FRAMES: u32 = 25;

/// `vigil.toml` as the browser edits it.
pub struct FileEditor {
    file: ConfigFile,
    rules: RulesUpdates,
    reload: Reload,
    runtime: tokio::runtime::Handle,
    /// One save at a time (the version check and the write go together).
    saving: Mutex<()>,
    /// Rule previews on recent recordings (`None`: nothing is recorded).
    previewer: Option<crate::preview::Previewer>,
    /// The review's rule severities, kept in step with rules applied while running.
    review: Option<vigil_server::review::ReviewSettings>,
}

impl FileEditor {
    /// The editor of `path` (history under `data_dir`), applying through `rules` and `reload`, previewing
    /// rules with `previewer`.
    pub fn new(
        path: &Path,
        data_dir: &Path,
        rules: RulesUpdates,
        reload: Reload,
        runtime: tokio::runtime::Handle,
        previewer: Option<crate::preview::Previewer>,
    ) -> FileEditor {
        FileEditor {
            file: ConfigFile::new(path, data_dir),
            rules,
            reload,
            runtime,
            saving: Mutex::new(()),
            previewer,
            review: None,
        }
    }

    /// Keeps `review`'s rule severities in step with the rules this editor applies while running.
    pub fn with_review(mut self, review: vigil_server::review::ReviewSettings) -> FileEditor {
        self.review = Some(review);
        self
    }
}

fn problems(e: &ConfigErrors) -> Vec<ConfigProblem> {
    e.diagnostics
        .iter()
        .map(|d| ConfigProblem {
            line: d.line,
            column: d.column,
            field: d.field.clone(),
            message: d.message.clone(),
            source_line: d.source_line.clone(),
        })
        .collect()
}

fn refusal(e: EditError) -> ConfigRefusal {
    match e {
        EditError::Stale { current } => ConfigRefusal::Stale { current },
        EditError::Invalid(errors) => ConfigRefusal::Invalid(problems(&errors)),
        EditError::Refused(m) => ConfigRefusal::Refused(m),
        e @ EditError::Io { .. } => ConfigRefusal::Failed(e.to_string()),
    }
}

fn shape<T: serde::de::DeserializeOwned>(
    what: &str,
    v: &serde_json::Value,
) -> Result<T, ConfigRefusal> {
    serde_json::from_value(v.clone()).map_err(|e| ConfigRefusal::Refused(format!("{what}: {e}")))
}

impl ConfigEditor for FileEditor {
    fn read(&self) -> Result<ConfigDoc, ConfigRefusal> {
        let t = self.file.read().map_err(refusal)?;
        let cameras = match self.file.check(&t.text) {
            Ok(config) => cameras_json(&config),
            Err(_) => serde_json::Value::Null,
        };
        Ok(ConfigDoc {
            path: self.file.path.display().to_string(),
            version: t.version,
            text: t.text,
            cameras,
        })
    }

    fn check(&self, text: &str) -> Vec<ConfigProblem> {
        match self.file.check(text) {
            Ok(_) => Vec::new(),
            Err(e) => problems(&e),
        }
    }

    fn edit(&self, text: &str, change: &ConfigEdit) -> Result<String, ConfigRefusal> {
        match change {
            ConfigEdit::Geometry { camera, geometry } => {
                let g: Geometry = shape("geometry", geometry)?;
                edit::set_geometry(text, camera, &g)
            }
            ConfigEdit::SetRule { camera, rule } => edit::set_rule(text, camera, rule),
            ConfigEdit::RemoveRule { camera, name } => edit::remove_rule(text, camera, name),
            ConfigEdit::AddCamera { camera } => {
                let c: NewCamera = shape("camera", camera)?;
                edit::add_camera(text, &c)
            }
            ConfigEdit::RemoveCamera { name } => edit::remove_camera(text, name),
        }
        .map_err(refusal)
    }

    fn save(&self, text: &str, version: &str) -> Result<Saved, ConfigRefusal> {
        let _one = self.saving.lock().unwrap_or_else(|p| p.into_inner());
        let before = self.file.read().map_err(refusal)?;
        let (config, version) = self.file.write(text, version).map_err(refusal)?;
        let saved = |applied, cameras, detail| Saved {
            version: version.clone(),
            applied,
            cameras,
            detail,
        };
        Ok(match edit::plan(&before.text, text) {
            Applying::Nothing => saved("nothing", Vec::new(), String::new()),
            Applying::Rules(cameras) => {
                let mut idle = Vec::new();
                for c in &cameras {
                    if let Some(review) = &self.review {
                        review.set_camera_rules(c, config.rules_for(c).severities());
                    }
                    if !self.rules.send(c, config.rules_for(c)) {
                        idle.push(c.clone());
                    }
                }
                tracing::info!(cameras = ?cameras, "configuration saved: rules applied while running");
                let detail = if idle.is_empty() {
                    String::new()
                } else {
                    format!("not analysed now: {}", idle.join(", "))
                };
                saved("rules", cameras, detail)
            }
            Applying::Restart(why) => {
                tracing::info!("configuration saved: restarting cameras and server ({why})");
                if self.reload.try_send(why.clone()).is_err() {
                    tracing::warn!("a restart is already on its way");
                }
                saved("restart", Vec::new(), why)
            }
        })
    }

    fn history(&self) -> Result<serde_json::Value, ConfigRefusal> {
        let h = self.file.history().map_err(refusal)?;
        serde_json::to_value(h).map_err(|e| ConfigRefusal::Failed(e.to_string()))
    }

    fn history_text(&self, id: &str) -> Result<String, ConfigRefusal> {
        self.file.history_text(id).map_err(refusal)
    }

    fn preview(
        &self,
        camera: &str,
        minutes: f64,
        text: Option<&str>,
        progress: &(dyn Fn(f64) + Sync),
    ) -> Result<vigil_server::config_edit::PreviewReport, ConfigRefusal> {
        let Some(previewer) = &self.previewer else {
            return Err(ConfigRefusal::Refused(
                "nothing is recorded here, so there is nothing to preview on".into(),
            ));
        };
        let text = match text {
            Some(t) => t.to_string(),
            None => self.file.read().map_err(refusal)?.text,
        };
        let config = self
            .file
            .check(&text)
            .map_err(|e| ConfigRefusal::Invalid(problems(&e)))?;
        if !config.cameras.iter().any(|c| c.name == camera) {
            return Err(ConfigRefusal::Refused(format!(
                "no camera called {camera:?}"
            )));
        }
        previewer
            .run(camera, &config.rules_for(camera), minutes, progress)
            .map_err(|e| ConfigRefusal::Failed(format!("{e:#}")))
    }

    fn discover(
        &self,
        seconds: f64,
        address: Option<&str>,
        username: Option<&str>,
        password: Option<&str>,
    ) -> Result<Vec<serde_json::Value>, String> {
        if !(0.5..=15.0).contains(&seconds) {
            return Err("seconds: 0.5 to 15".into());
        }
        let unicast = match address.filter(|a| !a.trim().is_empty()) {
            Some(a) => vec![
                vigil_onvif::resolve_probe_address(a.trim())
                    .map_err(|e| format!("address {a}: {e}"))?,
            ],
            None => Vec::new(),
        };
        let discovery = vigil_onvif::DiscoveryOptions {
            timeout: Duration::from_secs_f64(seconds),
            multicast: unicast.is_empty(),
            unicast,
            ..vigil_onvif::DiscoveryOptions::default()
        };
        let found = vigil_onvif::discover(&discovery).map_err(|e| format!("WS-Discovery: {e}"))?;
        let credentials = username.filter(|u| !u.is_empty()).map(|u| {
            vigil_onvif::Credentials::new(u.to_string(), password.unwrap_or_default().to_string())
        });
        Ok(crate::cmd::onvif::probe_all(
            &found,
            credentials,
            &vigil_onvif::ClientOptions::default(),
        ))
    }

    fn probe(
        &self,
        url: &str,
        username: Option<&str>,
        password: Option<&str>,
    ) -> Result<StreamProbe, String> {
        let url = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(url.scheme(), "rtsp" | "rtsps") {
            return Err(format!(
                "only rtsp:// and rtsps:// streams can be probed, not {}://",
                url.scheme()
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("give the user name and password separately, not in the URL".into());
        }
        let credentials = username.filter(|u| !u.is_empty()).map(|u| Credentials {
            username: u.to_string(),
            password: Secret::new(password.unwrap_or_default()),
        });
        probe_stream(&self.runtime, url, credentials)
    }
}

/// The cameras of a configuration as the settings page shows them: no passwords.
fn cameras_json(config: &vigil_config::VigilConfig) -> serde_json::Value {
    let analysed: Vec<&str> = config.analysed_cameras().map(|c| c.name.as_str()).collect();
    serde_json::Value::Array(
        config
            .cameras
            .iter()
            .map(|c| {
                serde_json::json!({
                    "name": c.name,
                    "main": c.main.as_str(),
                    "sub": c.sub.as_ref().map(url::Url::as_str),
                    "username": c.username,
                    "enabled": c.enabled,
                    "analysed": analysed.contains(&c.name.as_str()),
                    "rules": serde_json::to_value(config.rules_for(&c.name)).unwrap_or_default(),
                })
            })
            .collect(),
    )
}

/// Listens to a stream until [`PROBE_FRAMES`] frames or [`PROBE_FOR`], whichever first.
fn probe_stream(
    runtime: &tokio::runtime::Handle,
    url: url::Url,
    credentials: Option<Credentials>,
) -> Result<StreamProbe, String> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<StreamEvent>(64);
    let handle = {
        let _in = runtime.enter();
        spawn_stream(
            StreamSource::new("probe", url, credentials),
            IngestOptions::default(),
            tx,
        )
    };
    let status = handle.status_handle();
    let started = Instant::now();
    let frames = runtime.block_on(async {
        let mut frames = Vec::new();
        let deadline = tokio::time::Instant::now() + PROBE_FOR;
        while frames.len() < PROBE_FRAMES as usize {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(StreamEvent::Frame(f))) => frames.push(f),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        handle.stop().await;
        frames
    });
    let Some(first) = frames.first() else {
        let why = status
            .snapshot()
            .last_error
            .unwrap_or_else(|| format!("no video within {} s", started.elapsed().as_secs()));
        return Err(format!("the stream sent no video: {why}"));
    };
    let fps = match (frames.first(), frames.last()) {
        (Some(a), Some(b)) if frames.len() > 1 && b.dts().0 > a.dts().0 => {
            (frames.len() - 1) as f64 * 90_000.0 / (b.dts().0 - a.dts().0) as f64
        }
        _ => 0.0,
    };
    Ok(StreamProbe {
        codec: match first.params.codec {
            vigil_core::VideoCodec::H264 => "h264".into(),
            vigil_core::VideoCodec::H265 => "h265".into(),
        },
        width: first.params.width,
        height: first.params.height,
        fps: (fps * 100.0).round() / 100.0,
        frames: frames.len() as u32,
    })
}
