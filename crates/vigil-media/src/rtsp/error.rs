//! Why a session ended. Every message names the stream (by its credential-free URL) and what went wrong;
//! the supervisor puts it in the status and retries.

use std::time::Duration;
use thiserror::Error;

/// A session failure. None of these stop the supervisor: it records the error and reconnects after a
/// backoff delay.
#[derive(Debug, Clone, Error)]
pub enum IngestError {
    /// DESCRIBE / SETUP / PLAY failed: refused connection, unknown host, 401, 404, bad SDP...
    #[error("{url}: {phase} failed: {reason}")]
    Connect {
        /// The URL (no credentials).
        url: String,
        /// `DESCRIBE`, `SETUP` or `PLAY`.
        phase: &'static str,
        /// What the RTSP client said.
        reason: String,
    },
    /// Connecting took longer than the connect timeout.
    #[error("{url}: no answer to {phase} within {}s", timeout.as_secs_f64())]
    ConnectTimeout {
        /// The URL.
        url: String,
        /// The step that hung.
        phase: &'static str,
        /// The timeout.
        timeout: Duration,
    },
    /// The presentation has no H.264 / H.265 video stream.
    #[error("{url}: no H.264 or H.265 video stream (streams: {streams})")]
    NoVideo {
        /// The URL.
        url: String,
        /// The streams the camera offered, as `media/encoding`.
        streams: String,
    },
    /// The codec parameters could not be turned into an MP4 sample entry.
    #[error("{url}: unusable codec parameters: {reason}")]
    Parameters {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The watchdog fired: connected, but no frame for this long.
    #[error("{url}: no frames for {}s (stalled stream)", timeout.as_secs_f64())]
    Stalled {
        /// The URL.
        url: String,
        /// The watchdog timeout.
        timeout: Duration,
    },
    /// The connection broke or the stream could not be depacketized.
    #[error("{url}: stream error: {reason}")]
    Stream {
        /// The URL.
        url: String,
        /// What the RTSP client said.
        reason: String,
    },
    /// Frames arrive but none is a key frame, so nothing can be recorded.
    #[error("{url}: no key frame within {}s of PLAY", timeout.as_secs_f64())]
    NoKeyFrame {
        /// The URL.
        url: String,
        /// The limit.
        timeout: Duration,
    },
    /// The server ended the session.
    #[error("{url}: the server ended the stream")]
    Ended {
        /// The URL.
        url: String,
    },
}
