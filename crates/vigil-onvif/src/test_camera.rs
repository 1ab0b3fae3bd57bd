//! A real third-party ONVIF camera on loopback for tests in any crate (feature `test-camera`): ipycam
//! 1.3.0 (PyPI; `dev/install-deps` puts it in the venv named by `$VIGIL_PY`), started by the launcher
//! `tests/ipycam_camera.py` (embedded here) with free ports, playing a video file (looping) or a generated
//! pattern; and FFmpeg readers of its streams to judge what the picture does.
//!
//! ```no_run
//! # use vigil_onvif::test_camera::{IpyCam, IpyCamOptions, python};
//! let py = python().expect("ipycam installed");
//! let cam = IpyCam::start(&py, &IpyCamOptions::default()).expect("camera");
//! println!("{} {}", cam.device_url, cam.sub);
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The launcher script, embedded so that tests of any crate can run it.
const LAUNCHER: &str = include_str!("../tests/ipycam_camera.py");

/// How long the camera may take to stream its first frames.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a test camera or reader could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TestCameraError {
    /// ipycam, its Python or FFmpeg is not installed (tests print this as a `SKIP:` line).
    #[error("{0}")]
    Unavailable(String),
    /// The camera or a reader did not start or stopped.
    #[error("{0}")]
    Failed(String),
}

/// `$VIGIL_PY` when it is set and imports ipycam 1.3.0, and FFmpeg and ffprobe are on the PATH; else why
/// not (a sentence for a `SKIP:` line).
pub fn python() -> Result<PathBuf, TestCameraError> {
    let unavailable = |s: String| Err(TestCameraError::Unavailable(s));
    let py = match std::env::var_os("VIGIL_PY") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => {
            return unavailable(
                "$VIGIL_PY is not set (run `source dev/install-deps` for ipycam)".into(),
            );
        }
    };
    let check = Command::new(&py)
        .args([
            "-c",
            "import ipycam, sys; sys.exit(0 if ipycam.__version__ == '1.3.0' else 3)",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !check.is_ok_and(|s| s.success()) {
        return unavailable(format!(
            "ipycam 1.3.0 is not importable by {} (run dev/install-deps)",
            py.display()
        ));
    }
    for tool in ["ffmpeg", "ffprobe"] {
        let ok = Command::new(tool)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return unavailable(format!("{tool} is not on the PATH (run dev/install-deps)"));
        }
    }
    Ok(py)
}

/// How to start a test camera.
#[derive(Debug, Clone)]
pub struct IpyCamOptions {
    /// The video it plays (looping, resized to the main stream); a generated moving pattern when `None`.
    pub video: Option<PathBuf>,
    /// User name and password it requires (WS-Security), when given.
    pub auth: Option<(String, String)>,
    /// Main stream width and height (the sub stream is half of each).
    pub size: (u32, u32),
    /// Frames per second of both streams.
    pub fps: u32,
}

impl Default for IpyCamOptions {
    fn default() -> Self {
        Self {
            video: None,
            auth: None,
            size: (640, 360),
            fps: 10,
        }
    }
}

/// A running ipycam camera; stopped (with its FFmpeg encoders) on drop.
pub struct IpyCam {
    child: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
    _dir: tempfile::TempDir,
    /// Device service URL, e.g. `http://127.0.0.1:41234/onvif/device_service`.
    pub device_url: String,
    /// The RTSP port.
    pub rtsp_port: u16,
    /// Main stream URI.
    pub main: String,
    /// Sub stream URI.
    pub sub: String,
}

impl IpyCam {
    /// Starts a camera with `python` (from [`python`]) and waits until it streams. The camera stops when
    /// the thread that started it ends (the launcher asks for the parent-death signal), so start it from
    /// the thread that keeps it; [`IpyCam::start_many`] starts several at once.
    pub fn start(python: &Path, options: &IpyCamOptions) -> Result<IpyCam, TestCameraError> {
        Self::launch(python, options)?.ready()
    }

    /// Starts one camera per options, all at once (their footage then runs nearly in step), and waits
    /// until each streams.
    pub fn start_many(
        python: &Path,
        options: &[IpyCamOptions],
    ) -> Result<Vec<IpyCam>, TestCameraError> {
        let launched = options
            .iter()
            .map(|o| Self::launch(python, o))
            .collect::<Result<Vec<_>, _>>()?;
        launched.into_iter().map(Launched::ready).collect()
    }

    fn launch(python: &Path, options: &IpyCamOptions) -> Result<Launched, TestCameraError> {
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            TestCameraError::Failed(format!("ipycam test camera: {what}: {e}"))
        };
        let dir = tempfile::tempdir().map_err(|e| failed("temporary directory", &e))?;
        let script = dir.path().join("ipycam_camera.py");
        std::fs::write(&script, LAUNCHER).map_err(|e| failed("writing the launcher", &e))?;
        let log = dir.path().join("ipycam.log");
        let log_file = std::fs::File::create(&log).map_err(|e| failed("log file", &e))?;
        let mut cmd = Command::new(python);
        cmd.arg(&script)
            .args(["--width", &options.size.0.to_string()])
            .args(["--height", &options.size.1.to_string()])
            .args(["--fps", &options.fps.to_string()]);
        if let Some(video) = &options.video {
            cmd.arg("--video").arg(video);
        }
        if let Some((u, p)) = &options.auth {
            cmd.args(["--username", u, "--password", p]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| failed("starting the launcher", &e))?;
        let stdout = child.stdout.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(json) = line.strip_prefix("READY ") {
                    let _ = tx.send(json.to_string());
                }
            }
        });
        let stdin = child.stdin.take();
        let camera = IpyCam {
            child,
            stdin,
            log,
            _dir: dir,
            device_url: String::new(),
            rtsp_port: 0,
            main: String::new(),
            sub: String::new(),
        };
        Ok(Launched { camera, ready: rx })
    }

    /// The camera's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A camera started, not yet streaming.
struct Launched {
    camera: IpyCam,
    ready: mpsc::Receiver<String>,
}

impl Launched {
    /// Waits for the READY line and reads the camera's addresses from it.
    fn ready(self) -> Result<IpyCam, TestCameraError> {
        let Launched { mut camera, ready } = self;
        let Ok(ready) = ready.recv_timeout(READY_TIMEOUT) else {
            return Err(TestCameraError::Failed(format!(
                "ipycam did not stream within {} s; its log:\n{}",
                READY_TIMEOUT.as_secs(),
                camera.log()
            )));
        };
        let ready: serde_json::Value = serde_json::from_str(&ready).map_err(|e| {
            TestCameraError::Failed(format!("ipycam test camera: its READY line: {e}"))
        })?;
        let text = |k: &str| ready[k].as_str().unwrap_or_default().to_string();
        camera.device_url = text("device_url");
        camera.main = text("main");
        camera.sub = text("sub");
        camera.rtsp_port = ready["rtsp_port"].as_u64().unwrap_or(0) as u16;
        if ready["mode"] != "native_rtsp" || camera.device_url.is_empty() {
            return Err(TestCameraError::Failed(format!(
                "ipycam should serve RTSP itself and say where: {ready}"
            )));
        }
        Ok(camera)
    }
}

impl Drop for IpyCam {
    fn drop(&mut self) {
        // Closing stdin asks the launcher to stop ipycam and its FFmpeg encoders.
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Frames decoded so far and the latest one, with a condition variable signalled on each new frame.
type Latest = Arc<(Mutex<(u64, Vec<u8>)>, Condvar)>;

/// Width of the frames a [`FrameReader`] keeps.
pub const FRAME_W: usize = 160;
/// Height of the frames a [`FrameReader`] keeps.
pub const FRAME_H: usize = 90;

/// Decodes an RTSP stream with FFmpeg, continuously, into small grey frames ([`FRAME_W`] x
/// [`FRAME_H`]); keeps the latest.
pub struct FrameReader {
    child: Child,
    latest: Latest,
}

impl FrameReader {
    /// Starts decoding `uri` (RTSP over TCP).
    pub fn open(uri: &str) -> Result<FrameReader, TestCameraError> {
        let scale = format!("scale={FRAME_W}:{FRAME_H}");
        let mut child = Command::new("ffmpeg")
            .args(["-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp"])
            .args(["-fflags", "nobuffer", "-flags", "low_delay", "-i", uri])
            .args([
                "-an", "-vf", &scale, "-pix_fmt", "gray", "-f", "rawvideo", "-",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| TestCameraError::Failed(format!("starting ffmpeg on {uri}: {e}")))?;
        let stdout = child.stdout.take();
        let latest: Latest = Arc::new((Mutex::new((0u64, Vec::new())), Condvar::new()));
        let shared = Arc::clone(&latest);
        std::thread::spawn(move || {
            let Some(mut stdout) = stdout else { return };
            let mut buf = vec![0u8; FRAME_W * FRAME_H];
            while stdout.read_exact(&mut buf).is_ok() {
                let (lock, cvar) = &*shared;
                let mut l = lock.lock().unwrap_or_else(|p| p.into_inner());
                l.0 += 1;
                l.1.clone_from(&buf);
                cvar.notify_all();
            }
        });
        Ok(FrameReader { child, latest })
    }

    /// Frames decoded so far.
    pub fn count(&self) -> u64 {
        self.latest.0.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    /// Waits (at most 30 s) for `n` more frames and returns the last one.
    pub fn frame_after(&self, n: u64) -> Result<Vec<u8>, TestCameraError> {
        let (lock, cvar) = &*self.latest;
        let mut l = lock.lock().unwrap_or_else(|p| p.into_inner());
        let target = l.0 + n;
        let deadline = Instant::now() + Duration::from_secs(30);
        while l.0 < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TestCameraError::Failed(format!(
                    "no video: {} frames decoded, waited for {target}",
                    l.0
                )));
            }
            l = cvar
                .wait_timeout(l, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Ok(l.1.clone())
    }
}

impl Drop for FrameReader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Mean absolute difference of two grey frames (0..255); 255 when their sizes differ.
pub fn mad(a: &[u8], b: &[u8]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 255.0;
    }
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.len() as f64
}
