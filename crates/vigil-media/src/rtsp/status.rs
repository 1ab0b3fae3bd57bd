//! Per-stream status: a snapshot anyone can read at any time (UI, `/metrics`, health checks) while the
//! supervisor updates it.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use vigil_core::VideoParams;

/// Where a stream's supervisor is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamState {
    /// Connecting: DESCRIBE / SETUP / PLAY in progress.
    Connecting,
    /// Playing: frames are (or should be) flowing.
    Connected,
    /// Waiting before the next connection attempt after a failure (see `last_error`).
    Backoff {
        /// How long this wait is.
        delay: Duration,
        /// Consecutive failures so far.
        attempt: u32,
    },
    /// Stopped for good: shut down, or the consumer dropped its receiver.
    Stopped,
}

/// A point-in-time copy of one stream's status. Rates are over the last completed window of about two
/// seconds, and read as zero when no frame arrived in the last two windows.
#[derive(Debug, Clone)]
pub struct StreamStatus {
    /// The stream's name.
    pub name: String,
    /// The URL without credentials.
    pub url: String,
    /// Current state.
    pub state: StreamState,
    /// The most recent failure (connect error, stall, dropped connection...), kept after recovery.
    pub last_error: Option<String>,
    /// When `last_error` happened (µs since the Unix epoch).
    pub last_error_unix_micros: Option<i64>,
    /// When the current session started playing (µs since the Unix epoch); `None` unless connected.
    pub connected_since_unix_micros: Option<i64>,
    /// When the last frame arrived (µs since the Unix epoch).
    pub last_frame_unix_micros: Option<i64>,
    /// Frames per second received.
    pub fps: f64,
    /// Bits per second received (frame payload).
    pub bitrate_bps: f64,
    /// Frames forwarded to the consumer, over all sessions.
    pub frames: u64,
    /// Payload bytes forwarded, over all sessions.
    pub bytes: u64,
    /// Key frames forwarded.
    pub key_frames: u64,
    /// Sessions that reached PLAY.
    pub sessions: u64,
    /// Connection attempts after the first one (each retry after a failure or a lost session).
    pub reconnects: u64,
    /// Discontinuity events sent (session starts, timestamp jumps, parameter changes).
    pub discontinuities: u64,
    /// Timestamp jumps among them (the camera's clock leapt forward or stepped back).
    pub timestamp_jumps: u64,
    /// Reorder depth used to derive decode times (frames a B-frame stream holds back; 0 without
    /// B-frames): declared by the SPS or learnt from the first frames of the session.
    pub reorder_depth: u32,
    /// The deepest reordering seen in the last complete GOP (0: a GOP without B-frames); `None` before
    /// the first GOP of the session ends.
    pub gop_reorder_depth: Option<u32>,
    /// Frames that reordered deeper than the depth in use (decode times then catch up over a few frames;
    /// nothing is lost).
    pub late_reordered_frames: u64,
    /// GOPs that switched between having B-frames and not.
    pub reorder_switches: u64,
    /// Times the consumer's channel was full and ingest had to wait (the recorder fell behind).
    pub consumer_stalls: u64,
    /// Total time ingest waited on a full channel.
    pub consumer_wait: Duration,
    /// Frames dropped at the start of a session while waiting for the first key frame.
    pub skipped_before_key: u64,
    /// RTP packets reported lost by the depacketizer.
    pub lost_packets: u64,
    /// Codec parameters in force (from the last session).
    pub params: Option<Arc<VideoParams>>,
}

impl StreamStatus {
    fn new(name: &str, url: &str) -> Self {
        Self {
            name: name.to_string(),
            url: url.to_string(),
            state: StreamState::Connecting,
            last_error: None,
            last_error_unix_micros: None,
            connected_since_unix_micros: None,
            last_frame_unix_micros: None,
            fps: 0.0,
            bitrate_bps: 0.0,
            frames: 0,
            bytes: 0,
            key_frames: 0,
            sessions: 0,
            reconnects: 0,
            discontinuities: 0,
            timestamp_jumps: 0,
            reorder_depth: 0,
            gop_reorder_depth: None,
            late_reordered_frames: 0,
            reorder_switches: 0,
            consumer_stalls: 0,
            consumer_wait: Duration::ZERO,
            skipped_before_key: 0,
            lost_packets: 0,
            params: None,
        }
    }
}

const RATE_WINDOW: Duration = Duration::from_secs(2);

/// Frame and byte counts over fixed windows.
#[derive(Debug)]
struct RateMeter {
    window_start: Instant,
    frames: u64,
    bytes: u64,
    last_window_end: Option<Instant>,
    fps: f64,
    bps: f64,
}

impl RateMeter {
    fn new() -> Self {
        Self {
            window_start: Instant::now(),
            frames: 0,
            bytes: 0,
            last_window_end: None,
            fps: 0.0,
            bps: 0.0,
        }
    }

    fn add(&mut self, now: Instant, bytes: usize) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= RATE_WINDOW {
            let secs = elapsed.as_secs_f64();
            self.fps = self.frames as f64 / secs;
            self.bps = self.bytes as f64 * 8.0 / secs;
            self.last_window_end = Some(now);
            self.window_start = now;
            self.frames = 0;
            self.bytes = 0;
        }
        self.frames += 1;
        self.bytes += bytes as u64;
    }

    fn reset(&mut self) {
        *self = Self::new();
    }

    fn rates(&self, now: Instant) -> (f64, f64) {
        match self.last_window_end {
            Some(end) if now.saturating_duration_since(end) <= 2 * RATE_WINDOW => {
                (self.fps, self.bps)
            }
            _ => (0.0, 0.0),
        }
    }
}

#[derive(Debug)]
struct Inner {
    status: StreamStatus,
    meter: RateMeter,
}

/// A shared, cheaply cloneable handle on one stream's status.
#[derive(Debug, Clone)]
pub struct StatusHandle(Arc<Mutex<Inner>>);

impl StatusHandle {
    pub(crate) fn new(name: &str, url: &str) -> Self {
        Self(Arc::new(Mutex::new(Inner {
            status: StreamStatus::new(name, url),
            meter: RateMeter::new(),
        })))
    }

    /// A copy of the current status.
    pub fn snapshot(&self) -> StreamStatus {
        let inner = self.lock();
        let mut status = inner.status.clone();
        let (fps, bps) = if status.state == StreamState::Connected {
            inner.meter.rates(Instant::now())
        } else {
            (0.0, 0.0)
        };
        status.fps = fps;
        status.bitrate_bps = bps;
        status
    }

    /// Locks the status. A panic while holding the lock cannot leave it inconsistent in a way that
    /// matters (plain counters), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `f` to the status.
    pub(crate) fn update(&self, f: impl FnOnce(&mut StreamStatus)) {
        f(&mut self.lock().status);
    }

    /// Counts one forwarded frame.
    pub(crate) fn frame(&self, bytes: usize, is_key: bool, unix_micros: i64, lost: u16) {
        let mut inner = self.lock();
        inner.meter.add(Instant::now(), bytes);
        let s = &mut inner.status;
        s.frames += 1;
        s.bytes += bytes as u64;
        s.key_frames += u64::from(is_key);
        s.lost_packets += u64::from(lost);
        s.last_frame_unix_micros = Some(unix_micros);
    }

    /// Marks the stream connected (session playing); returns the session's number (1 for the first).
    pub(crate) fn connected(&self, unix_micros: i64) -> u64 {
        let mut inner = self.lock();
        inner.meter.reset();
        let s = &mut inner.status;
        s.state = StreamState::Connected;
        s.sessions += 1;
        s.connected_since_unix_micros = Some(unix_micros);
        s.sessions
    }

    /// Records a failure.
    pub(crate) fn error(&self, message: String, unix_micros: i64) {
        self.update(|s| {
            s.last_error = Some(message);
            s.last_error_unix_micros = Some(unix_micros);
            s.connected_since_unix_micros = None;
        });
    }
}
