//! The ipycam camera process, and FFmpeg readers of its streams.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `$VIGIL_PY` when it is set and has ipycam 1.3.0 and FFmpeg is on the PATH; otherwise prints a visible
/// `SKIP:` line (once per reason) and returns `None`.
pub fn python() -> Option<PathBuf> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = FOUND.get_or_init(|| {
        let py = match std::env::var_os("VIGIL_PY") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => {
                return Err(
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
            return Err(format!(
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
                return Err(format!("{tool} is not on the PATH (run dev/install-deps)"));
            }
        }
        Ok(py)
    });
    match found {
        Ok(p) => Some(p.clone()),
        Err(reason) => {
            eprintln!("SKIP: {reason}");
            None
        }
    }
}

/// The shared footage clip the camera plays (a static indoor camera, 139 s at 10 fps), when present.
pub fn footage() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/footage/intel/one-by-one-person-detection.mp4");
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "note: {} not found (../shared absent); the camera shows a generated pattern",
            p.display()
        );
        None
    }
}

/// A running ipycam camera; stopped (with its encoders) on drop.
pub struct Camera {
    child: Child,
    stdin: Option<ChildStdin>,
    log: PathBuf,
    _dir: tempfile::TempDir,
    /// Device service URL, e.g. `http://127.0.0.1:41234/onvif/device_service`.
    pub device_url: String,
    /// The RTSP port.
    pub rtsp_port: u16,
}

impl Camera {
    /// Starts a camera with optional `(user, password)`; waits until it streams.
    pub fn start(python: &PathBuf, auth: Option<(&str, &str)>) -> Camera {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("ipycam.log");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ipycam_camera.py");
        let mut cmd = Command::new(python);
        cmd.arg(&script);
        if let Some(video) = footage() {
            cmd.arg("--video").arg(video);
        }
        if let Some((u, p)) = auth {
            cmd.args(["--username", u, "--password", p]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start ipycam_camera.py");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(json) = line.strip_prefix("READY ") {
                    let _ = tx.send(json.to_string());
                }
            }
        });
        let stdin = child.stdin.take();
        let mut camera = Camera {
            child,
            stdin,
            log,
            _dir: dir,
            device_url: String::new(),
            rtsp_port: 0,
        };
        let ready = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(json) => json,
            Err(_) => panic!(
                "ipycam did not become ready in 60 s; its log:\n{}",
                camera.log()
            ),
        };
        let ready: Value = serde_json::from_str(&ready).expect("READY json");
        camera.device_url = ready["device_url"]
            .as_str()
            .expect("device_url")
            .to_string();
        camera.rtsp_port = ready["rtsp_port"].as_u64().expect("rtsp_port") as u16;
        assert_eq!(
            ready["mode"], "native_rtsp",
            "ipycam should serve RTSP itself: {ready}"
        );
        camera
    }

    /// The camera's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Camera {
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

/// Decodes an RTSP stream with FFmpeg, continuously, into small grey frames; keeps the latest.
pub struct FrameReader {
    child: Child,
    latest: Latest,
}

/// Width and height of the frames a [`FrameReader`] keeps.
pub const FRAME_W: usize = 160;
/// See [`FRAME_W`].
pub const FRAME_H: usize = 90;

impl FrameReader {
    /// Starts decoding `uri` (RTSP over TCP).
    pub fn open(uri: &str) -> FrameReader {
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
            .expect("start ffmpeg");
        let mut stdout = child.stdout.take().expect("ffmpeg stdout");
        let latest: Latest = Arc::new((Mutex::new((0u64, Vec::new())), Condvar::new()));
        let shared = Arc::clone(&latest);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; FRAME_W * FRAME_H];
            while stdout.read_exact(&mut buf).is_ok() {
                let (lock, cvar) = &*shared;
                let mut l = lock.lock().expect("frame lock");
                l.0 += 1;
                l.1.clone_from(&buf);
                cvar.notify_all();
            }
        });
        FrameReader { child, latest }
    }

    /// Frames decoded so far.
    pub fn count(&self) -> u64 {
        self.latest.0.lock().expect("frame lock").0
    }

    /// Waits for `n` more frames to be decoded and returns the last one.
    pub fn frame_after(&self, n: u64) -> Vec<u8> {
        let (lock, cvar) = &*self.latest;
        let mut l = lock.lock().expect("frame lock");
        let target = l.0 + n;
        let deadline = Instant::now() + Duration::from_secs(30);
        while l.0 < target {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no video: {} frames decoded, waited for {target}",
                l.0
            );
            l = cvar.wait_timeout(l, left).expect("frame lock").0;
        }
        l.1.clone()
    }
}

impl Drop for FrameReader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Mean absolute difference of two grey frames (0..255).
pub fn mad(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.len() as f64
}

/// `ffprobe`'s codec, width and height of the first video stream of `uri`.
pub fn ffprobe(uri: &str) -> (String, u32, u32) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-select_streams",
            "v:0",
        ])
        .args([
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
            uri,
        ])
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "ffprobe {uri}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parts: Vec<&str> = text.split(',').collect();
    assert_eq!(parts.len(), 3, "ffprobe said {text:?}");
    (
        parts[0].to_string(),
        parts[1].parse().expect("width"),
        parts[2].parse().expect("height"),
    )
}

/// Decodes `frames` frames of `uri` with FFmpeg and returns how many it decoded.
pub fn decode_frames(uri: &str, frames: u32) -> u32 {
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
            uri,
        ])
        .args(["-frames:v", &frames.to_string(), "-f", "framemd5", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg {uri}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count() as u32
}
