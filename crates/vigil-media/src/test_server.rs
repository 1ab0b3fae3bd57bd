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
        loopback_url(self.port, mount)
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

/// How a [`TimestampShiftProxy`] rewrites the RTP timestamps of the video packets it forwards.
#[derive(Debug, Clone, Default)]
pub struct TimestampShift {
    /// The first frame's timestamp becomes this (the rest keep their distance to it): e.g.
    /// `u32::MAX - 2 * 90_000` makes the 32-bit RTP clock wrap around two seconds in.
    pub first: Option<u32>,
    /// From frame `n` (0-based, counted by RTP marker bits) on, timestamps are shifted by `ticks` more
    /// (90 kHz; negative steps back), like a camera whose clock is reset.
    pub jumps: Vec<(u32, i64)>,
}

/// A TCP proxy in front of an RTSP server (TCP-interleaved RTP) that rewrites the RTP timestamps of the
/// video packets (channel 0) as [`TimestampShift`] says; RTSP messages pass through. Every connection
/// gets the same rewriting from its own first frame. Its threads serve until the test process ends.
#[derive(Debug)]
pub struct TimestampShiftProxy {
    port: u16,
}

impl TimestampShiftProxy {
    /// Listens on a free loopback port and forwards to `127.0.0.1:upstream_port`.
    pub fn start(upstream_port: u16, shift: TimestampShift) -> Result<Self, TestServerError> {
        let io = |source| TestServerError::Io {
            path: PathBuf::from("127.0.0.1:0"),
            source,
        };
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(io)?;
        let port = listener.local_addr().map_err(io)?.port();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let shift = shift.clone();
                std::thread::spawn(move || proxy_connection(client, upstream_port, shift));
            }
        });
        Ok(Self { port })
    }

    /// The port to connect to instead of the server's.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rtsp://127.0.0.1:PORT/<mount>` through the proxy.
    pub fn url(&self, mount: &str) -> Url {
        loopback_url(self.port, mount)
    }
}

/// `rtsp://127.0.0.1:PORT/<mount>`.
fn loopback_url(port: u16, mount: &str) -> Url {
    // The text is built from a port number and a mount name: always a valid URL.
    Url::parse(&format!(
        "rtsp://127.0.0.1:{port}/{}",
        mount.trim_matches('/')
    ))
    .unwrap_or_else(|_| unreachable!("loopback RTSP URL"))
}

fn proxy_connection(client: std::net::TcpStream, upstream_port: u16, shift: TimestampShift) {
    use std::io::{Read, Write};
    let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream_port)) else {
        return;
    };
    let (Ok(mut client_read), Ok(mut server_write)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    let upstream = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut server_write);
        let _ = server_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut server_read, mut client_write) = (server, client);
    let mut rewriter = RtpRewriter::new(shift);
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match server_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        let ready = rewriter.process(&mut pending);
        if client_write.write_all(&ready).is_err() {
            break;
        }
    }
    let _ = client_write.shutdown(std::net::Shutdown::Both);
    let _ = upstream.join();
}

/// Rewrites the timestamps of interleaved RTP packets on channel 0 in a byte stream.
struct RtpRewriter {
    shift: TimestampShift,
    frame: u32,
    in_frame: bool,
    offset: Option<u32>,
}

impl RtpRewriter {
    fn new(shift: TimestampShift) -> Self {
        Self {
            shift,
            frame: 0,
            in_frame: false,
            offset: None,
        }
    }

    /// Takes every complete message off the front of `pending` (rewriting RTP packets) and returns them.
    fn process(&mut self, pending: &mut Vec<u8>) -> Vec<u8> {
        let mut done = 0;
        loop {
            let rest = &mut pending[done..];
            if rest.is_empty() {
                break;
            }
            let len = if rest[0] == b'$' {
                if rest.len() < 4 {
                    break;
                }
                let len = 4 + u16::from_be_bytes([rest[2], rest[3]]) as usize;
                if rest.len() < len {
                    break;
                }
                if rest[1] == 0 && len >= 16 {
                    self.rewrite(&mut rest[4..len]);
                }
                len
            } else {
                let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
                    break;
                };
                let head = String::from_utf8_lossy(&rest[..end]).to_ascii_lowercase();
                let body = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if rest.len() < end + 4 + body {
                    break;
                }
                end + 4 + body
            };
            done += len;
        }
        pending.drain(..done).collect()
    }

    fn rewrite(&mut self, packet: &mut [u8]) {
        let ts = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let mut offset = *self
            .offset
            .get_or_insert_with(|| self.shift.first.map_or(0, |first| first.wrapping_sub(ts)));
        if !self.in_frame {
            self.in_frame = true;
            for (frame, ticks) in &self.shift.jumps {
                if *frame == self.frame {
                    offset = offset.wrapping_add(*ticks as u32);
                }
            }
            self.offset = Some(offset);
        }
        packet[4..8].copy_from_slice(&ts.wrapping_add(offset).to_be_bytes());
        if packet[1] & 0x80 != 0 {
            self.frame += 1;
            self.in_frame = false;
        }
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
    let text = ffprobe(
        path,
        &[
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
        ],
    )?;
    text.trim()
        .parse()
        .map_err(|_| tool_error("ffprobe", path, format!("unexpected output {text:?}")))
}

/// Runs `ffprobe -v error -select_streams v:0 ARGS PATH`; its output, or its error output as the error.
fn ffprobe(path: &Path, args: &[&str]) -> Result<String, TestServerError> {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error", "-select_streams", "v:0"])
        .args(args)
        .arg(path);
    let out = run_tool("ffprobe", path, &mut cmd)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `cmd` (the tool `tool`, working on `what`); a failure to start or a non-zero exit is an error
/// with its error output.
fn run_tool(
    tool: &'static str,
    what: &Path,
    cmd: &mut Command,
) -> Result<std::process::Output, TestServerError> {
    let out = cmd
        .output()
        .map_err(|e| tool_error(tool, what, e.to_string()))?;
    if !out.status.success() {
        return Err(tool_error(
            tool,
            what,
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(out)
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
    let text = ffprobe(
        path,
        &[
            "-show_entries",
            "stream=time_base:packet=pts,dts",
            "-of",
            "compact=p=0:nk=0",
        ],
    )?;
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

/// `times` (as [`packet_times`] gives them) relative to the first packet's decode time: the timeline a
/// file or a recording describes, wherever its clock started.
pub fn relative_to_first_dts(times: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let origin = times.first().map_or(0, |t| t.1);
    times
        .iter()
        .map(|&(p, d)| (p - origin, d - origin))
        .collect()
}

/// The MD5s (as [`frame_md5s`] gives them, presentation order) of the pictures a file holding the first
/// `kept` frames in decode order of a source shows: the source's pictures of those frames, in
/// presentation order. `source_pts` are the source's presentation times in decode order. Where a file
/// ends between a P-frame and the B-frames shown before it, the P-frame's picture comes right after the
/// ones before those B-frames.
pub fn kept_frame_md5s(source_md5s: &[String], source_pts: &[i64], kept: usize) -> Vec<String> {
    let mut shown = source_pts.to_vec();
    shown.sort_unstable();
    let mut kept_pts = source_pts[..kept.min(source_pts.len())].to_vec();
    kept_pts.sort_unstable();
    kept_pts
        .iter()
        .filter_map(|p| shown.binary_search(p).ok())
        .filter_map(|i| source_md5s.get(i).cloned())
        .collect()
}

/// What FFmpeg complains about (warnings and errors) when it copies `path`'s video stream to nowhere, the
/// way a user remuxes an export: e.g. "non monotonically increasing dts". Empty when it reads cleanly.
pub fn remux_warnings(path: &Path) -> Result<String, TestServerError> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "warning", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-c", "copy", "-f", "mp4"])
        .args(["-movflags", "frag_keyframe+empty_moov", "-y", "/dev/null"]);
    let out = run_tool("ffmpeg", path, &mut cmd)?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
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

/// Runs ffmpeg with `args` (after `-v error -y`), failing with its error output.
fn ffmpeg(what: &Path, args: &[&std::ffi::OsStr]) -> Result<(), TestServerError> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y"]).args(args);
    run_tool("ffmpeg", what, &mut cmd).map(|_| ())
}

/// Re-encodes `frames` frames of `input` (from `start_secs` on, scaled to `width` pixels wide) with the
/// encoder's default B-frames, as many encoders and restreamers send them: libx264 (3 B-frames in a
/// pyramid) or libx265 (its defaults, open GOPs included), a key frame every `gop` frames. Returns the
/// new MP4 in `out_dir`.
pub fn make_b_frames(
    input: &Path,
    out_dir: &Path,
    codec: vigil_core::VideoCodec,
    frames: u32,
    gop: u32,
    width: u32,
) -> Result<PathBuf, TestServerError> {
    let (encoder, params_flag, tag, name) = match codec {
        vigil_core::VideoCodec::H264 => ("libx264", "-x264-params", "avc1", "bframes-h264.mp4"),
        vigil_core::VideoCodec::H265 => ("libx265", "-x265-params", "hvc1", "bframes-h265.mp4"),
    };
    let output = out_dir.join(name);
    let frames = frames.to_string();
    let scale = format!("scale={width}:-2");
    let params = format!("keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error");
    let mut args: Vec<&std::ffi::OsStr> = vec!["-i".as_ref(), input.as_os_str()];
    let options = encode_options(&frames, &scale, encoder);
    let tagged = ["-tag:v", tag, params_flag, &params];
    args.extend(
        options
            .iter()
            .chain(&tagged)
            .map(|a: &&str| std::ffi::OsStr::new(*a)),
    );
    args.push(output.as_os_str());
    ffmpeg(input, &args)?;
    Ok(output)
}

/// ffmpeg output options: `frames` frames of video only, scaled by `scale`, through `encoder` at its
/// superfast preset.
fn encode_options<'a>(frames: &'a str, scale: &'a str, encoder: &'a str) -> [&'a str; 9] {
    [
        "-an",
        "-frames:v",
        frames,
        "-vf",
        scale,
        "-c:v",
        encoder,
        "-preset",
        "superfast",
    ]
}

/// A stream that switches between GOPs without and with B-frames under one SPS, as some cameras do:
/// `gops` GOPs of `gop` frames from `input` (at `width` pixels wide), encoded by libx264 with 3 B-frames
/// allowed; the even GOPs are biased to use none, the odd ones always use them. The parts are encoded
/// separately (same settings, so the same SPS) and joined with FFmpeg's concat demuxer. Returns the MP4.
pub fn make_b_frame_switching(
    input: &Path,
    out_dir: &Path,
    gops: u32,
    gop: u32,
    width: u32,
) -> Result<PathBuf, TestServerError> {
    let scale = format!("scale={width}:-2");
    let frames = gop.to_string();
    let rate = frame_rate(input)?;
    let mut list = String::new();
    for i in 0..gops {
        let part = out_dir.join(format!("switching-{i}.ts"));
        let start = format!("{:.6}", f64::from(i * gop) / rate);
        let params = format!(
            "bframes=3:keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error:{}",
            if i % 2 == 0 {
                "b-bias=-100"
            } else {
                "b-adapt=0"
            }
        );
        let mut args: Vec<&std::ffi::OsStr> = vec!["-ss".as_ref(), start.as_ref()];
        args.extend(["-i".as_ref(), input.as_os_str()]);
        let options = encode_options(&frames, &scale, "libx264");
        let ts = [
            "-x264-params",
            &params,
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "mpegts",
        ];
        args.extend(
            options
                .iter()
                .chain(&ts)
                .map(|a: &&str| std::ffi::OsStr::new(*a)),
        );
        args.push(part.as_os_str());
        ffmpeg(input, &args)?;
        list.push_str(&format!("file '{}'\n", part.display()));
    }
    let list_path = out_dir.join("switching.txt");
    std::fs::write(&list_path, list).map_err(|source| TestServerError::Io {
        path: list_path.clone(),
        source,
    })?;
    let output = out_dir.join("switching.mp4");
    let args: Vec<&std::ffi::OsStr> = vec![
        "-f".as_ref(),
        "concat".as_ref(),
        "-safe".as_ref(),
        "0".as_ref(),
        "-i".as_ref(),
        list_path.as_os_str(),
        "-c".as_ref(),
        "copy".as_ref(),
        output.as_os_str(),
    ];
    ffmpeg(input, &args)?;
    Ok(output)
}

/// The average frame rate of `path`'s first video stream (ffprobe).
fn frame_rate(path: &Path) -> Result<f64, TestServerError> {
    let text = ffprobe(
        path,
        &["-show_entries", "stream=avg_frame_rate", "-of", "csv=p=0"],
    )?;
    text.trim()
        .split_once('/')
        .and_then(|(n, d)| Some(n.parse::<f64>().ok()? / d.parse::<f64>().ok()?))
        .filter(|r| r.is_finite() && *r > 0.0)
        .ok_or_else(|| tool_error("ffprobe", path, format!("no frame rate in {text:?}")))
}

fn tool_error(tool: &'static str, path: &Path, reason: String) -> TestServerError {
    TestServerError::Tool {
        tool,
        path: path.to_path_buf(),
        reason,
    }
}
