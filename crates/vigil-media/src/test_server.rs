//! A real RTSP server on loopback for tests in any crate (feature `test-server`): GStreamer's RTSP server
//! through Debian's `/usr/bin/python3` (`dev/rtsp-server.py`, embedded here), serving video files without
//! re-encoding, one mount per file.
//!
//! ```no_run
//! # use vigil_media::test_server::{Mount, RtspTestServer};
//! let server = RtspTestServer::start(&[Mount::new("cam", "/path/to/file.mp4").looped(5)]).unwrap();
//! let url = server.url("cam"); // rtsp://127.0.0.1:PORT/cam
//! ```
//!
//! The server runs as a child process and is killed (SIGKILL, like a camera losing power) by
//! [`RtspTestServer::stop`] and on drop; [`RtspTestServer::restart`] brings it back on the same port.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use thiserror::Error;
use url::Url;

/// The server script, embedded so tests in any crate can run it.
const SCRIPT: &str = include_str!("../../../dev/rtsp-server.py");

/// Debian's Python, which has PyGObject and the GStreamer RTSP server typelib.
const PYTHON: &str = "/usr/bin/python3";

/// How long the server may take to print READY (looping a file with ffmpeg first takes a moment).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Test server failures.
#[derive(Debug, Error)]
pub enum TestServerError {
    /// GStreamer's RTSP server, Python or ffmpeg is not installed.
    #[error("RTSP test server unavailable: {0}")]
    Unavailable(String),
    /// The server process could not be started or did not become ready.
    #[error("RTSP test server did not start: {0}")]
    Start(String),
    /// A helper tool (ffmpeg, ffprobe) failed.
    #[error("{tool} failed on {path}: {reason}")]
    Tool {
        /// The tool.
        tool: &'static str,
        /// The file it worked on.
        path: PathBuf,
        /// Its error output.
        reason: String,
    },
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// One mount: `rtsp://127.0.0.1:PORT/<name>` serves `file` (H.264 or H.265, in MP4 or MPEG-TS).
#[derive(Debug, Clone)]
pub struct Mount {
    name: String,
    file: PathBuf,
    loops: u32,
    realtime: bool,
}

impl Mount {
    /// Serves `file` once, at real time (like a camera).
    pub fn new(name: &str, file: impl Into<PathBuf>) -> Self {
        Self {
            name: name.trim_matches('/').to_string(),
            file: file.into(),
            loops: 1,
            realtime: true,
        }
    }

    /// Serves the file `times` times back to back (pre-concatenated with ffmpeg, stream copy).
    pub fn looped(mut self, times: u32) -> Self {
        self.loops = times.max(1);
        self
    }

    /// Sends as fast as the client reads instead of at real time.
    pub fn fast(mut self) -> Self {
        self.realtime = false;
        self
    }

    fn arg(&self) -> OsString {
        let mut arg = OsString::from(format!("{}=", self.name));
        arg.push(&self.file);
        if self.loops > 1 {
            arg.push(format!(",loop={}", self.loops));
        }
        if !self.realtime {
            arg.push(",fast");
        }
        arg
    }
}

/// A running GStreamer RTSP server on 127.0.0.1 (killed on drop).
#[derive(Debug)]
pub struct RtspTestServer {
    work_dir: tempfile::TempDir,
    args: Vec<OsString>,
    port: u16,
    child: Option<Child>,
}

impl RtspTestServer {
    /// Checks that Debian's python3 with the GStreamer RTSP server and ffprobe are installed; tests skip
    /// (with a visible message) when this fails.
    pub fn check_available() -> Result<(), TestServerError> {
        let probe = Command::new(PYTHON)
            .args([
                "-c",
                "import gi; gi.require_version('GstRtspServer', '1.0'); \
                 from gi.repository import GstRtspServer",
            ])
            .output()
            .map_err(|e| TestServerError::Unavailable(format!("{PYTHON}: {e}")))?;
        if !probe.status.success() {
            return Err(TestServerError::Unavailable(format!(
                "{PYTHON} cannot load GstRtspServer: {}",
                String::from_utf8_lossy(&probe.stderr).trim()
            )));
        }
        for tool in ["ffprobe", "ffmpeg"] {
            Command::new(tool)
                .arg("-version")
                .output()
                .map_err(|e| TestServerError::Unavailable(format!("{tool}: {e}")))?;
        }
        Ok(())
    }

    /// Starts a server for `mounts` on a free port.
    pub fn start(mounts: &[Mount]) -> Result<Self, TestServerError> {
        Self::start_inner(mounts, None)
    }

    /// Starts a server that requires RTSP digest authentication with `username` / `password`.
    pub fn start_with_auth(
        mounts: &[Mount],
        username: &str,
        password: &str,
    ) -> Result<Self, TestServerError> {
        Self::start_inner(mounts, Some(format!("{username}:{password}")))
    }

    fn start_inner(mounts: &[Mount], auth: Option<String>) -> Result<Self, TestServerError> {
        let work_dir = tempfile::Builder::new()
            .prefix("vigil-rtsp-test-")
            .tempdir()
            .map_err(|source| TestServerError::Io {
                path: std::env::temp_dir(),
                source,
            })?;
        let script = work_dir.path().join("rtsp-server.py");
        std::fs::write(&script, SCRIPT).map_err(|source| TestServerError::Io {
            path: script.clone(),
            source,
        })?;
        let mut args: Vec<OsString> = vec![
            script.into_os_string(),
            "--host".into(),
            "127.0.0.1".into(),
            "--work-dir".into(),
            work_dir.path().as_os_str().to_owned(),
        ];
        if let Some(auth) = auth {
            args.push("--auth".into());
            args.push(auth.into());
        }
        args.extend(mounts.iter().map(Mount::arg));
        let mut server = Self {
            work_dir,
            args,
            port: 0,
            child: None,
        };
        server.spawn(0)?;
        Ok(server)
    }

    /// Spawns the server on `port` (0: any free port) and waits for its READY line.
    fn spawn(&mut self, port: u16) -> Result<(), TestServerError> {
        let log_path = self.work_dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).map_err(|source| TestServerError::Io {
            path: log_path.clone(),
            source,
        })?;
        let mut child = Command::new(PYTHON)
            .args(&self.args[..1])
            .arg("--port")
            .arg(port.to_string())
            .args(&self.args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| TestServerError::Start(format!("{PYTHON}: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| TestServerError::Start("no stdout pipe".into()))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.strip_prefix("READY port=") {
                    let _ = tx.send(port.trim().parse::<u16>().ok());
                }
            }
        });
        let ready = rx.recv_timeout(READY_TIMEOUT).ok().flatten();
        match ready {
            Some(bound) => {
                self.port = bound;
                self.child = Some(child);
                Ok(())
            }
            None => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                Err(TestServerError::Start(format!(
                    "no READY line from {PYTHON} rtsp-server.py (port {port}): {}",
                    log.trim()
                )))
            }
        }
    }

    /// The port the server listens on (kept across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rtsp://127.0.0.1:PORT/<mount>`.
    pub fn url(&self, mount: &str) -> Url {
        // The text is built from a port number and a mount name: always a valid URL.
        Url::parse(&format!(
            "rtsp://127.0.0.1:{}/{}",
            self.port,
            mount.trim_matches('/')
        ))
        .unwrap_or_else(|_| unreachable!("loopback RTSP URL"))
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the server process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills the server (SIGKILL: connections drop without a TEARDOWN, like a camera losing power).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if it runs and starts it again on the same port (retrying while the port is
    /// still being released).
    pub fn restart(&mut self) -> Result<(), TestServerError> {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.spawn(self.port) {
                Ok(()) => return Ok(()),
                Err(err) if Instant::now() >= deadline => return Err(err),
                Err(_) => std::thread::sleep(Duration::from_millis(300)),
            }
        }
    }
}

impl Drop for RtspTestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The shared footage directory (`$VIGIL_SHARED/footage`, else `../shared/footage` beside the checkout),
/// or `None` when it is absent (tests then skip with a message).
pub fn shared_footage() -> Option<PathBuf> {
    let shared = std::env::var_os("VIGIL_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let footage = shared.join("footage");
    footage.is_dir().then_some(footage)
}

/// The number of video packets (frames) in `path`, counted by ffprobe.
pub fn count_video_frames(path: &Path) -> Result<u64, TestServerError> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .map_err(|e| tool_error("ffprobe", path, e.to_string()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(tool_error(
            "ffprobe",
            path,
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    text.trim()
        .parse()
        .map_err(|_| tool_error("ffprobe", path, format!("unexpected output {text:?}")))
}

/// The MD5 of every decoded frame of `path`'s first video stream, in order (`ffmpeg -f framemd5`): two
/// files hold the same pictures exactly when these agree. Any decoder complaint is an error.
pub fn frame_md5s(path: &Path) -> Result<Vec<String>, TestServerError> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-map",
            "0:v:0",
            "-fps_mode",
            "passthrough",
            "-f",
            "framemd5",
            "-",
        ])
        .output()
        .map_err(|e| tool_error("ffmpeg", path, e.to_string()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stderr.trim().is_empty() {
        return Err(tool_error("ffmpeg", path, stderr.trim().to_string()));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|s| s.trim().to_string()))
        .collect())
}

/// Presentation and decode time of every video packet of `path` in file order (decode order), on the
/// 90 kHz clock, as ffprobe reads them (edit lists applied, as players do).
pub fn packet_times(path: &Path) -> Result<Vec<(i64, i64)>, TestServerError> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=time_base:packet=pts,dts"])
        .args(["-of", "compact=p=0:nk=0"])
        .arg(path)
        .output()
        .map_err(|e| tool_error("ffprobe", path, e.to_string()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(tool_error(
            "ffprobe",
            path,
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    let bad = |what: &str| tool_error("ffprobe", path, format!("{what} in {text:?}"));
    let (num, den) = text
        .lines()
        .find_map(|l| l.strip_prefix("time_base="))
        .and_then(|tb| tb.split_once('/'))
        .and_then(|(n, d)| Some((n.parse::<i128>().ok()?, d.parse::<i128>().ok()?)))
        .filter(|&(n, d)| n > 0 && d > 0)
        .ok_or_else(|| bad("no time base"))?;
    let to_90k = |v: &str| -> Option<i64> {
        let t: i128 = v.parse().ok()?;
        let scaled = t * 90_000 * num;
        // rounded to the nearest tick, halves away from zero
        i64::try_from((scaled + scaled.signum() * den / 2) / den).ok()
    };
    let mut packets = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("pts=")) {
        let mut pts = None;
        let mut dts = None;
        for field in line.split('|') {
            match field.split_once('=') {
                Some(("pts", v)) => pts = to_90k(v),
                Some(("dts", v)) => dts = to_90k(v),
                _ => {}
            }
        }
        packets.push((
            pts.ok_or_else(|| bad("a packet without pts"))?,
            dts.ok_or_else(|| bad("a packet without dts"))?,
        ));
    }
    Ok(packets)
}

/// What FFmpeg complains about (warnings and errors) when it copies `path`'s video stream to nowhere, the
/// way a user remuxes an export: e.g. "non monotonically increasing dts". Empty when it reads cleanly.
pub fn remux_warnings(path: &Path) -> Result<String, TestServerError> {
    let out = Command::new("ffmpeg")
        .args(["-v", "warning", "-i"])
        .arg(path)
        .args([
            "-map",
            "0:v:0",
            "-c",
            "copy",
            "-f",
            "mp4",
            "-movflags",
            "frag_keyframe+empty_moov",
        ])
        .args(["-y", "/dev/null"])
        .output()
        .map_err(|e| tool_error("ffmpeg", path, e.to_string()))?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        return Err(tool_error("ffmpeg", path, stderr));
    }
    Ok(stderr)
}

/// Re-encodes the first `frames` frames of `input` to H.265 (libx265, no B-frames, a key frame every
/// `gop` frames) into `out_dir`, for H.265 tests; returns the new file.
pub fn make_h265(
    input: &Path,
    out_dir: &Path,
    frames: u32,
    gop: u32,
) -> Result<PathBuf, TestServerError> {
    let stem = input
        .file_stem()
        .map_or_else(|| "video".into(), |s| s.to_string_lossy().into_owned());
    let output = out_dir.join(format!("{stem}-h265.mp4"));
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(input)
        .args(["-an", "-frames:v", &frames.to_string(), "-c:v", "libx265"])
        .args(["-preset", "ultrafast", "-tag:v", "hvc1", "-x265-params"])
        .arg(format!(
            "log-level=error:keyint={gop}:min-keyint={gop}:bframes=0"
        ))
        .arg(&output)
        .output()
        .map_err(|e| tool_error("ffmpeg", input, e.to_string()))?;
    if !out.status.success() {
        return Err(tool_error(
            "ffmpeg",
            input,
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(output)
}

fn tool_error(tool: &'static str, path: &Path, reason: String) -> TestServerError {
    TestServerError::Tool {
        tool,
        path: path.to_path_buf(),
        reason,
    }
}
