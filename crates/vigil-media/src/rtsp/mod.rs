//! RTSP ingest: one supervised task per camera stream that turns RTSP (via `retina`, TCP interleaved) into
//! [`vigil_core::EncodedFrame`]s for the recorder and the decoder.
//!
//! # Contract for the consumer
//!
//! ```text
//! let (tx, mut rx) = tokio::sync::mpsc::channel(256);          // bounded; a few seconds of frames
//! let handle = spawn_stream(StreamSource::new("gate/main", url, creds), IngestOptions::default(), tx);
//! while let Some(event) = rx.recv().await {
//!     match event {
//!         StreamEvent::Discontinuity(d) => { /* close the current segment; the next frame starts a new one */ }
//!         StreamEvent::Frame(frame) => { /* append; frame.params may be a new Arc after a discontinuity */ }
//!     }
//! }
//! handle.status();                                              // any time: state, fps, bitrate, errors...
//! ```
//!
//! - Every session begins with `Discontinuity { reason: NewSession }` followed by a key frame: frames before
//!   the first key frame of a session are not sent (counted in `skipped_before_key`).
//! - `pts` is the session's RTP time on the 90 kHz clock (RTP's 32-bit wrap undone), starting near 0 at
//!   each session. Frames come in decode order, so with B-frames `pts` steps back by a frame or two; that
//!   is not a discontinuity. Each frame carries a `composition_offset`: its decode time
//!   (`EncodedFrame::dts`) strictly increases, one frame spacing at a time, and lies behind `pts` by the
//!   stream's reorder depth (see `decode_time.rs`; 0 without B-frames). When the SPS declares B-frames or
//!   does not say, the first frames of a session (at most its first GOP, 16 frames or 2 s) are held
//!   until the reorder depth is known, then delivered together; nothing is dropped.
//! - A jump forward well beyond the wall-clock time that passed (default 5 s more), back by more than
//!   1 s, or back past more frames than any stream reorders is signalled with
//!   `Discontinuity { reason: TimestampJump }` before the frame; decode times start afresh after it.
//! - A parameter change (new SPS/PPS, resolution) gives a new `Arc<VideoParams>` and is announced with
//!   `Discontinuity { reason: ParametersChanged }`, so a recorder only has to watch for discontinuities.
//! - Backpressure: the channel is bounded and never skipped. When it is full the supervisor waits (the
//!   TCP connection backs up to the camera) and counts `consumer_stalls` / `consumer_wait`, logging a
//!   warning. A consumer that stays behind for long enough makes the camera drop the session; that shows
//!   as an error and a reconnect.
//! - Failures (refused, 401/404, timeout, stall, dropped connection) never end the supervisor: it records
//!   `last_error`, goes to `Backoff` (exponential, full jitter, capped; reset after a session stayed healthy)
//!   and reconnects. It ends only when stopped, dropped, or the receiver is dropped.
//! - Credentials are passed to RTSP authentication only; URLs in logs and status have no user info.

mod backoff;
mod decode_time;
mod error;
mod event;
mod session;
mod source;
mod status;
mod supervisor;
mod timeline;

pub use error::IngestError;
pub use event::{Discontinuity, DiscontinuityReason, StreamEvent};
pub use source::{StreamSource, redact_url};
pub use status::{StatusHandle, StreamState, StreamStatus};
pub use supervisor::{StreamHandle, spawn_stream};

use std::time::Duration;

/// Tuning of a stream supervisor. The defaults suit IP cameras on a LAN.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Limit for each of DESCRIBE, SETUP and PLAY (default 10 s).
    pub connect_timeout: Duration,
    /// Watchdog: a playing session with no frame for this long is dropped and reconnected (default 10 s).
    pub stall_timeout: Duration,
    /// A session whose frames include no key frame for this long after PLAY is restarted (default 20 s).
    pub first_key_timeout: Duration,
    /// First backoff cap after a failure (default 1 s); doubles per consecutive failure.
    pub backoff_initial: Duration,
    /// Largest backoff cap (default 5 s): after a camera comes back, at most this much more is lost
    /// before it is recorded again; a connection attempt is cheap.
    pub backoff_max: Duration,
    /// A session that delivered frames this long resets the backoff (default 30 s).
    pub healthy_after: Duration,
    /// A forward timestamp step this much larger than the wall-clock time between the frames is a jump
    /// (default 5 s).
    pub jump_tolerance: Duration,
    /// A backward timestamp step up to this is frame reordering, beyond it a jump (default 1 s).
    pub reorder_tolerance: Duration,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(10),
            first_key_timeout: Duration::from_secs(20),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5),
            healthy_after: Duration::from_secs(30),
            jump_tolerance: Duration::from_secs(5),
            reorder_tolerance: Duration::from_secs(1),
        }
    }
}
