//! One camera's streams: sources (RTSP ingest, or a video file replayed as a camera) and the
//! [`CameraSink`] each hands its frames to, in the ingest task itself — no relay thread.
//!
//! Recording is sacred: the sink awaits the recorder's queue (backpressure to this one camera, never a
//! dropped frame) and never waits on analysis; only the camera's recording switch (flipped from Home
//! Assistant) stops it: off ends the run, on resumes at the next key frame; analysis gets frames through its [`AnalysisFeed`], which
//! skips to the next key frame when analysis is behind; the live view is muxed once per frame for every
//! viewer (a viewer-count read when nobody watches). Threads and channels: `docs/design/threads.md`.

use anyhow::Context;
use std::future::Future;
use tracing::{info, warn};
use url::Url;
use vigil_core::CameraControls;
use vigil_core::config::Credentials;
use vigil_media::replay::{ReplayOptions, spawn_replay};
use vigil_media::rtsp::{
    DiscontinuityReason, IngestOptions, StreamEvent, StreamHandle, StreamSource, spawn_stream,
};
use vigil_media::sink::{SinkClosed, StreamSink};
use vigil_mp4::live_hub::LivePublisher;
use vigil_pipeline::live::AnalysisFeed;
use vigil_pipeline::masked_live::MaskedLive;
use vigil_store::RecorderInput;

/// Starts the source of one stream on the current tokio runtime: RTSP ingest for `rtsp://`, a looping
/// real-time replay for `file://`.
pub fn start_source(
    name: &str,
    url: &Url,
    credentials: Option<Credentials>,
    sink: CameraSink,
) -> anyhow::Result<StreamHandle> {
    match url.scheme() {
        "file" => {
            let path = url
                .to_file_path()
                .map_err(|_| anyhow::anyhow!("{url}: not a file path"))?;
            spawn_replay(name, &path, ReplayOptions::default(), sink)
                .with_context(|| format!("camera stream {name}: {}", path.display()))
        }
        _ => Ok(spawn_stream(
            StreamSource::new(name, url.clone(), credentials),
            IngestOptions::default(),
            sink,
        )),
    }
}

/// A camera's live view: its frames as sent, or decoded, masked and encoded again when it has privacy
/// masks.
pub enum LiveOut {
    /// The camera's own frames.
    Direct(LivePublisher),
    /// Through the masking thread.
    Masked(MaskedLive),
}

impl LiveOut {
    fn publish(&mut self, frame: &vigil_core::EncodedFrame) {
        match self {
            LiveOut::Direct(p) => p.publish(frame),
            LiveOut::Masked(m) => m.offer(frame),
        }
    }

    fn discontinuity(&mut self) {
        match self {
            LiveOut::Direct(p) => p.discontinuity(),
            LiveOut::Masked(m) => m.discontinuity(),
        }
    }
}

/// Where one stream's frames go: its recorder (when recorded), its live view (when it is the one
/// viewers see) and its analysis (when analysed).
pub struct CameraSink {
    /// The camera, for logs.
    pub camera: String,
    /// The recorder's queue.
    pub record: Option<RecorderInput>,
    /// The live view.
    pub live: Option<LiveOut>,
    /// The analysis thread's feed.
    pub analysis: Option<AnalysisFeed>,
    /// The camera's switches (recording on or off).
    pub controls: CameraControls,
    recording: bool,
    failures: u64,
}

impl CameraSink {
    /// A sink for `camera` with none of its consumers yet.
    pub fn new(camera: &str) -> Self {
        Self {
            camera: camera.to_string(),
            record: None,
            live: None,
            analysis: None,
            controls: CameraControls::default(),
            recording: true,
            failures: 0,
        }
    }

    fn failed(&mut self, what: &str, e: &vigil_store::StoreError) {
        self.failures += 1;
        if self.failures.is_power_of_two() {
            warn!(
                camera = self.camera,
                failures = self.failures,
                "{what} failed: {e}"
            );
        }
    }
}

impl StreamSink for CameraSink {
    fn would_wait(&self) -> bool {
        self.record.as_ref().is_some_and(RecorderInput::would_wait)
    }

    async fn deliver(&mut self, event: StreamEvent) -> Result<(), SinkClosed> {
        match &event {
            StreamEvent::Discontinuity(d) if d.reason == DiscontinuityReason::NewSession => {
                if let Some(live) = self.live.as_mut() {
                    live.discontinuity();
                }
                info!(
                    camera = self.camera,
                    session = d.session,
                    "stream (re)started"
                );
            }
            StreamEvent::Discontinuity(d) => {
                info!(camera = self.camera, reason = ?d.reason, session = d.session, "stream timeline break; recording continues");
            }
            StreamEvent::Frame(frame) => {
                if let Some(live) = self.live.as_mut() {
                    live.publish(frame);
                }
            }
        }
        if let Some(feed) = self.analysis.as_mut() {
            feed.offer(event.clone());
        }
        let switched = self.record.is_some() && self.controls.recording() != self.recording;
        if switched {
            self.recording = !self.recording;
            if self.recording {
                info!(
                    camera = self.camera,
                    "recording switched on: resumes at the next key frame"
                );
            } else {
                info!(camera = self.camera, "recording switched off");
            }
        }
        let record = self.record.as_ref();
        let done = match (record, event) {
            (Some(record), _) if switched && !self.recording => record.end_run().await,
            (Some(_), _) if !self.recording => Ok(()),
            (None, _) => Ok(()),
            // Only a new session ends the run: after a clock jump or a parameter change within a session
            // the frames still decode, and ending the run would drop them up to the next key frame
            // (invariant R10 of docs/design/recording.md).
            (Some(record), StreamEvent::Discontinuity(d))
                if d.reason == DiscontinuityReason::NewSession =>
            {
                record.end_run().await
            }
            (Some(_), StreamEvent::Discontinuity(_)) => Ok(()),
            (Some(record), StreamEvent::Frame(frame)) => record.append(frame).await,
        };
        if let Err(e) = done {
            self.failed("recording", &e);
        }
        Ok(())
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let record = self.record.clone();
        let analysis = self.analysis.as_ref().map(AnalysisFeed::closed_signal);
        async move {
            match (record, analysis) {
                (Some(r), _) => r.closed().await,
                (None, Some(a)) => a.await,
                // Only a live view: it runs until the stream is stopped.
                (None, None) => std::future::pending().await,
            }
        }
    }
}
