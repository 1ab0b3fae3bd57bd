//! One camera's streams: sources (RTSP ingest, or a video file replayed as a camera), the recorder thread
//! that appends every frame of the main stream to the store, and the feed of the analysis thread.
//!
//! Recording is sacred: the recorder thread takes every frame (the ingest channel is lossless and applies
//! backpressure to the camera only) and never waits on analysis. Analysis gets frames through a small
//! bounded channel; when it is full, frames are skipped up to the next key frame and counted.

use crate::engine::analysis::AnalysisStats;
use anyhow::Context;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;
use tracing::{info, warn};
use url::Url;
use vigil_core::config::Credentials;
use vigil_media::replay::{ReplayOptions, spawn_replay};
use vigil_media::rtsp::{
    DiscontinuityReason, IngestOptions, StreamEvent, StreamHandle, StreamSource, spawn_stream,
};
use vigil_mp4::live_hub::LivePublisher;
use vigil_store::Recorder;

/// Capacity of an ingest channel (a few seconds of frames; lossless).
pub const INGEST_CHANNEL: usize = 256;
/// Capacity of an analysis channel (encoded frames waiting for the decoder).
pub const ANALYSIS_CHANNEL: usize = 64;

/// Starts the source of one stream on the current tokio runtime: RTSP ingest for `rtsp://`, a looping
/// real-time replay for `file://`.
pub fn start_source(
    name: &str,
    url: &Url,
    credentials: Option<Credentials>,
    tx: mpsc::Sender<StreamEvent>,
) -> anyhow::Result<StreamHandle> {
    match url.scheme() {
        "file" => {
            let path = url
                .to_file_path()
                .map_err(|_| anyhow::anyhow!("{url}: not a file path"))?;
            spawn_replay(name, &path, ReplayOptions::default(), tx)
                .with_context(|| format!("camera stream {name}: {}", path.display()))
        }
        _ => Ok(spawn_stream(
            StreamSource::new(name, url.clone(), credentials),
            IngestOptions::default(),
            tx,
        )),
    }
}

/// Forwards frames to an analysis thread without ever waiting: when its channel is full, frames are
/// skipped until the next key frame (the decoder can only restart there).
pub struct AnalysisFeed {
    tx: mpsc::Sender<StreamEvent>,
    stats: AnalysisStats,
    resync: bool,
    closed: bool,
}

impl AnalysisFeed {
    /// A feed into `tx`, counting skipped frames in `stats`.
    pub fn new(tx: mpsc::Sender<StreamEvent>, stats: AnalysisStats) -> Self {
        Self {
            tx,
            stats,
            resync: false,
            closed: false,
        }
    }

    /// Offers one event; never blocks.
    pub fn offer(&mut self, event: StreamEvent) {
        if self.closed {
            return;
        }
        if let StreamEvent::Frame(f) = &event
            && self.resync
            && !f.is_key
        {
            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let is_frame = matches!(event, StreamEvent::Frame(_));
        match self.tx.try_send(event) {
            Ok(()) => {
                if is_frame {
                    self.resync = false;
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.resync = true;
                self.stats.skipped.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.closed = true,
        }
    }
}

/// The recorder thread of one camera: appends every frame of the main stream, ends the run when a new
/// session starts (so a reconnect is a gap, not a false continuation), tees frames to `live` viewers (one
/// uncontended lock per frame while nobody watches) and to the analysis feed. Ends when the ingest channel
/// closes; then closes the recorder.
///
/// A timestamp jump or a parameter change within a session does not end the run here: the frames after it
/// still decode, so the recorder keeps them (it gives the frame before a jump the nominal duration and
/// starts the next run at the following key frame; it starts a new segment for new parameters). Ending
/// the run would drop every frame up to the next key frame (invariant R10 of docs/design/recording.md).
pub fn record_loop(
    camera: String,
    mut rx: mpsc::Receiver<StreamEvent>,
    recorder: Option<Recorder>,
    mut feed: Option<AnalysisFeed>,
    mut live: Option<LivePublisher>,
) {
    let mut failures = 0u64;
    while let Some(event) = rx.blocking_recv() {
        match &event {
            StreamEvent::Discontinuity(d) if d.reason == DiscontinuityReason::NewSession => {
                if let Some(r) = &recorder
                    && let Err(e) = r.end_run()
                {
                    warn!(camera, "ending the recording run: {e}");
                }
                if let Some(live) = live.as_mut() {
                    live.discontinuity();
                }
                info!(camera, session = d.session, "stream (re)started");
            }
            StreamEvent::Discontinuity(d) => {
                info!(camera, reason = ?d.reason, session = d.session, "stream timeline break; recording continues");
            }
            StreamEvent::Frame(frame) => {
                if let Some(r) = &recorder
                    && let Err(e) = r.append(frame)
                {
                    failures += 1;
                    if failures.is_power_of_two() {
                        warn!(camera, failures, "recording a frame failed: {e}");
                    }
                }
                if let Some(live) = live.as_mut() {
                    live.publish(frame);
                }
            }
        }
        if let Some(feed) = feed.as_mut() {
            feed.offer(event);
        }
    }
    if let Some(r) = recorder {
        let status = r.close();
        info!(camera, ?status, "recorder closed");
    }
}

/// Forwards a separate analysis stream (a camera's sub stream) into its feed, on its own thread, and to
/// `live` viewers when the camera is not recorded (then this is its only stream).
pub fn feed_loop(
    mut rx: mpsc::Receiver<StreamEvent>,
    mut feed: AnalysisFeed,
    mut live: Option<LivePublisher>,
) {
    while let Some(event) = rx.blocking_recv() {
        if let Some(live) = live.as_mut() {
            match &event {
                StreamEvent::Frame(frame) => live.publish(frame),
                StreamEvent::Discontinuity(d) if d.reason == DiscontinuityReason::NewSession => {
                    live.discontinuity()
                }
                StreamEvent::Discontinuity(_) => {}
            }
        }
        feed.offer(event);
    }
}
