//! `vigil demo`: Vigil on real footage with the embedded defaults. Each input (by default the footage in
//! `../shared/footage`) becomes a camera — a video file is first turned into a camera-like stream (no
//! B-frames, a key frame every 2 s) and then played at real time, looping; an `rtsp://` URL is a real
//! camera. Recording, analysis, rules for the known demo scenes, events and alerts (MQTT when a broker
//! listens on 127.0.0.1:1883) all run as under `vigil run`, from a `vigil.toml` written into the demo's
//! data directory so it can be read, edited and run again.

use crate::paths;
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vigil_config::VigilConfig;
use vigil_media::{Converter, VideoSource, VideoWriter};
use vigil_store::{EventQuery, Reader};

/// Arguments of `vigil demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Video files or rtsp:// URLs to use as cameras (default: the footage in ../shared/footage).
    pub inputs: Vec<String>,
    /// Where the demo keeps its configuration, recordings and events.
    #[arg(long, default_value = "vigil-demo")]
    pub data: PathBuf,
    /// Stop after this many seconds (default: run until Ctrl-C or SIGTERM).
    #[arg(long)]
    pub seconds: Option<u64>,
    /// Directory holding the model files (default: ../shared/models, then the download cache).
    #[arg(long)]
    pub models: Option<PathBuf>,
}

/// The demo scenes known by file name, with the rules drawn for them (`demo/rules/*.toml`).
pub(crate) const SCENES: &[(&str, &str, &str)] = &[
    (
        "intel/one-by-one-person-detection.mp4",
        "walkway",
        WALKWAY_RULES,
    ),
    (
        "intel/worker-zone-detection.mp4",
        "worker-zone",
        WORKER_RULES,
    ),
    (
        "intel/store-aisle-detection.mp4",
        "store-aisle",
        STORE_RULES,
    ),
    ("intel/car-detection.mp4", "parking", ""),
];

const WALKWAY_RULES: &str = include_str!("../../../../demo/rules/walkway.toml");
const WORKER_RULES: &str = include_str!("../../../../demo/rules/worker-zone.toml");
const STORE_RULES: &str = include_str!("../../../../demo/rules/store-aisle.toml");

/// A rules file (`[[zone]]`, `[[line]]`, `[[rule]]`...) placed under `[rules.CAMERA]` of a `vigil.toml`:
/// every table header is re-rooted; comments and values stay as they are.
pub(crate) fn rules_section(camera: &str, rules: &str) -> String {
    let mut out = String::new();
    for line in rules.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("[[") {
            out.push_str(&format!("[[rules.{camera}.{rest}\n"));
        } else if let Some(rest) = t
            .strip_prefix('[')
            .filter(|r| !r.starts_with('[') && t.contains(']') && !t.contains('='))
        {
            out.push_str(&format!("[rules.{camera}.{rest}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// One demo camera.
struct DemoCamera {
    name: String,
    /// Its stream, without credentials (printed and written as `main`).
    url: String,
    /// User name and password given in an `rtsp://user:pass@host/...` URL (written as the camera's
    /// `username` and `password`, never printed).
    credentials: Option<(String, String)>,
    rules: &'static str,
}

/// Runs `vigil demo`.
pub fn run(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("creating {}", args.data.display()))?;
    let data = std::fs::canonicalize(&args.data)
        .with_context(|| format!("resolving {}", args.data.display()))?;
    let cameras = prepare_cameras(&args.inputs, &data)?;
    let config_path = data.join("vigil.toml");
    std::fs::write(&config_path, config_text(&data, &cameras)?)
        .with_context(|| format!("writing {}", config_path.display()))?;
    let until = args
        .seconds
        .map(|s| Instant::now() + Duration::from_secs(s));
    let report = crate::running::run_with_reloads(
        &config_path,
        args.models.clone(),
        until,
        |config, _engine, started, first| {
            if first {
                eprintln!(
                    "vigil demo: {} camera(s), configuration in {}",
                    cameras.len(),
                    config_path.display()
                );
                for c in &cameras {
                    eprintln!("  {}: {}", c.name, c.url);
                }
                eprintln!(
                    "  recordings and events in {}; stop with Ctrl-C",
                    data.display()
                );
                crate::serve::announce_storage(config);
                crate::serve::announce(started);
            }
        },
    )?;
    let config = report.config;
    summarize(&config, report.events_recorded)?;
    Ok(())
}

/// Resolves the inputs into cameras, preparing camera-like copies of video files once.
fn prepare_cameras(inputs: &[String], data: &Path) -> anyhow::Result<Vec<DemoCamera>> {
    let mut cameras = Vec::new();
    if inputs.is_empty() {
        let footage = paths::footage_dir();
        for (rel, name, rules) in SCENES {
            let path = footage.join(rel);
            if path.is_file() {
                let prepared = prepare_file(&path, name, data)?;
                cameras.push(DemoCamera {
                    name: name.to_string(),
                    url: file_url(&prepared)?,
                    credentials: None,
                    rules,
                });
            }
        }
        if cameras.is_empty() {
            bail!(
                "no demo footage in {} — give a video file or an rtsp:// URL: vigil demo FILE_OR_URL",
                footage.display()
            );
        }
        return Ok(cameras);
    }
    for (i, input) in inputs.iter().enumerate() {
        if input.starts_with("rtsp://") {
            let mut url = url::Url::parse(input)
                .map_err(|e| anyhow::anyhow!("argument {}: not a URL ({e})", i + 1))?;
            let credentials = (!url.username().is_empty()).then(|| {
                let user = url.username().to_string();
                let password = url.password().unwrap_or_default().to_string();
                (user, password)
            });
            // The credentials go to their own fields: the URL itself carries none.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            cameras.push(DemoCamera {
                name: format!("camera-{}", i + 1),
                url: url.to_string(),
                credentials,
                rules: "",
            });
            continue;
        }
        let path = PathBuf::from(input);
        if !path.is_file() {
            bail!("{input}: no such video file (give a video file or an rtsp:// URL)");
        }
        let name = camera_name(&path, i);
        let known = SCENES.iter().find(|(rel, _, _)| path.ends_with(rel));
        let (name, rules) = match known {
            Some((_, scene, rules)) => (scene.to_string(), *rules),
            None => (name, ""),
        };
        let prepared = prepare_file(&path, &name, data)?;
        cameras.push(DemoCamera {
            url: file_url(&prepared)?,
            credentials: None,
            name,
            rules,
        });
    }
    Ok(cameras)
}

fn camera_name(path: &Path, i: usize) -> String {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("camera");
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(48)
        .collect();
    if name.is_empty() {
        format!("camera-{}", i + 1)
    } else {
        name
    }
}

fn file_url(path: &Path) -> anyhow::Result<String> {
    Ok(url::Url::from_file_path(path)
        .map_err(|_| anyhow::anyhow!("{}: not an absolute path", path.display()))?
        .to_string())
}

/// A camera-like copy of `source` (no B-frames, a key frame every 2 s) in `data/cameras`, made once.
fn prepare_file(source: &Path, name: &str, data: &Path) -> anyhow::Result<PathBuf> {
    let dir = data.join("cameras");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = dir.join(format!("{name}.mp4"));
    let fresh = |p: &Path| -> Option<std::time::SystemTime> {
        std::fs::metadata(p).and_then(|m| m.modified()).ok()
    };
    if let (Some(done), Some(src)) = (fresh(&out), fresh(source))
        && done >= src
    {
        return Ok(out);
    }
    eprintln!(
        "vigil demo: preparing camera {name} from {} (once)",
        source.display()
    );
    let mut video =
        VideoSource::open(source).with_context(|| format!("opening {}", source.display()))?;
    let info = video.info().clone();
    let fps = if info.fps > 0.0 { info.fps } else { 10.0 };
    let partial = dir.join(format!("{name}.partial.mp4"));
    let mut writer = VideoWriter::create_camera_like(&partial, info.width, info.height, fps)?;
    let mut converter = Converter::new();
    while let Some(frame) = video
        .next_frame()
        .with_context(|| format!("reading {}", source.display()))?
    {
        writer.write(&frame.bgr(&mut converter, frame.width(), frame.height())?)?;
    }
    writer.finish()?;
    std::fs::rename(&partial, &out).with_context(|| format!("writing {}", out.display()))?;
    Ok(out)
}

/// The demo's `vigil.toml`.
fn config_text(data: &Path, cameras: &[DemoCamera]) -> anyhow::Result<String> {
    let recordings = data.join("recordings");
    std::fs::create_dir_all(&recordings)
        .with_context(|| format!("creating {}", recordings.display()))?;
    let mut text = format!(
        "# Written by `vigil demo`; run it again with: vigil run --config {}\n\
         data_dir = {:?}\n\n[server]\nlisten = \"127.0.0.1:8443\"\n\n[analysis]\ndetect_fps = 5\n\n\
         [storage]\n[[storage.dirs]]\nname = \"demo\"\npath = {:?}\nmax_bytes = \"2 GiB\"\n",
        data.join("vigil.toml").display(),
        data.display().to_string(),
        recordings.display().to_string(),
    );
    for c in cameras {
        text.push_str(&format!(
            "\n[[camera]]\nname = {:?}\nmain = {:?}\n",
            c.name, c.url
        ));
        if let Some((user, password)) = &c.credentials {
            text.push_str(&format!("username = {user:?}\npassword = {password:?}\n"));
        }
    }
    for c in cameras.iter().filter(|c| !c.rules.is_empty()) {
        text.push('\n');
        text.push_str(&rules_section(&c.name, c.rules));
    }
    if std::net::TcpStream::connect_timeout(&"127.0.0.1:1883".parse()?, Duration::from_millis(300))
        .is_ok()
    {
        text.push_str("\n[mqtt]\nhost = \"127.0.0.1\"\n");
    }
    Ok(text)
}

/// What the demo recorded and found.
fn summarize(config: &VigilConfig, events: u64) -> anyhow::Result<()> {
    let Some(store) = config.store_config() else {
        return Ok(());
    };
    let reader = Reader::open(&store.db)?;
    println!("\nrecorded:");
    for camera in reader.cameras()? {
        let seconds: f64 = reader
            .segments(
                &camera.name,
                "main",
                vigil_core::Time90k(0),
                vigil_core::Time90k(i64::MAX),
            )?
            .iter()
            .map(|s| s.duration.as_secs_f64())
            .sum();
        println!("  {}: {:.0} s of video", camera.name, seconds);
    }
    let events_reader = vigil_store::EventReader::open(&store.db)?;
    let page = events_reader.list(&EventQuery {
        limit: 20,
        ..EventQuery::default()
    })?;
    println!("events: {events} messages stored; latest:");
    for e in page.events.iter().take(20) {
        println!("  {} — {}", e.event.camera, e.event.description);
    }
    Ok(())
}
