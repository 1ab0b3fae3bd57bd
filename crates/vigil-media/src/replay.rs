//! A video file played as a live camera: its frames at real time (or as fast as the consumer takes them),
//! looping, on the same channel contract as RTSP ingest ([`crate::rtsp`]): a `NewSession` discontinuity,
//! then frames stamped with their local receive time. Used by `vigil demo`, by `file://` camera URLs for
//! trying rules on recorded footage, and by tests and benchmarks that need a camera without a network.
//!
//! A looping file continues its timeline: each pass's timestamps follow the previous pass's, so the
//! recorder sees one unbroken stream.

use crate::MediaError;
use crate::demux::{DemuxedVideo, demux_file};
use crate::rtsp::{
    Discontinuity, DiscontinuityReason, StatusHandle, StreamEvent, StreamHandle, StreamState,
};
use crate::sink::StreamSink;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;
use vigil_core::Time90k;

/// How a file is replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayOptions {
    /// Start again from the beginning at the end (default true), as a camera never ends.
    pub looping: bool,
    /// Pace frames at their decode times (default true); otherwise as fast as the consumer reads.
    pub realtime: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            looping: true,
            realtime: true,
        }
    }
}

/// Largest file replayed (its frames are held in memory).
pub const MAX_REPLAY_BYTES: u64 = 512 * 1024 * 1024;

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Reads `path` (H.264 / H.265) and starts replaying it on the current tokio runtime as stream `name`.
/// Frames go to `sink` (the replay waits when it is behind, like RTSP ingest). Errors reading the
/// file are returned before anything starts.
pub fn spawn_replay<S: StreamSink>(
    name: &str,
    path: &Path,
    options: ReplayOptions,
    sink: S,
) -> Result<StreamHandle, MediaError> {
    let size = std::fs::metadata(path)
        .map_err(|e| MediaError::Open {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?
        .len();
    if size > MAX_REPLAY_BYTES {
        return Err(MediaError::Open {
            path: path.to_path_buf(),
            reason: format!(
                "{size} bytes is too large to replay as a camera (at most {MAX_REPLAY_BYTES})"
            ),
        });
    }
    let video = demux_file(path).map_err(|e| MediaError::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if video.frames.is_empty() {
        return Err(MediaError::Decode {
            path: path.to_path_buf(),
            reason: "no video frames".into(),
        });
    }
    let status = StatusHandle::new(name, &format!("file://{}", path.display()));
    let (shutdown, stop) = watch::channel(false);
    let task = tokio::spawn(run(Arc::new(video), options, sink, status.clone(), stop));
    Ok(StreamHandle::from_parts(
        name.to_string(),
        status,
        shutdown,
        task,
    ))
}

async fn run<S: StreamSink>(
    video: Arc<DemuxedVideo>,
    options: ReplayOptions,
    mut sink: S,
    status: StatusHandle,
    mut stop: watch::Receiver<bool>,
) {
    let session = status.connected(now_micros());
    let start = Discontinuity {
        reason: DiscontinuityReason::NewSession,
        session,
        unix_micros: now_micros(),
    };
    if sink
        .deliver(StreamEvent::Discontinuity(start))
        .await
        .is_err()
    {
        return;
    }
    // Frames are paced by decode time (they are sent in decode order); presentation times keep their
    // composition offsets, shifted with the decode times.
    let first = video.frames[0].dts().0;
    // One pass lasts until the last frame's end; the next pass's timestamps continue from there.
    let pass = video.duration().0.max(1);
    let started = Instant::now();
    let mut offset = 0i64;
    loop {
        for frame in &video.frames {
            let media = frame.dts().0 - first + offset;
            if options.realtime {
                let due = started + Time90k(media.max(0)).to_duration();
                tokio::select! {
                    _ = tokio::time::sleep_until(due.into()) => {}
                    _ = stop.changed() => break,
                }
            }
            if *stop.borrow() {
                break;
            }
            let mut out = frame.clone();
            out.pts = Time90k(media + i64::from(frame.composition_offset));
            out.received_unix_micros = now_micros();
            status.frame(out.data.len(), out.is_key, out.received_unix_micros, 0);
            tokio::select! {
                sent = sink.deliver(StreamEvent::Frame(out)) => if sent.is_err() { return },
                _ = stop.changed() => break,
            }
        }
        if *stop.borrow() || !options.looping {
            break;
        }
        offset += pass;
    }
    // The end of a file that does not loop ends the stream: the channel closes with this task.
    status.update(|s| s.state = StreamState::Stopped);
}
