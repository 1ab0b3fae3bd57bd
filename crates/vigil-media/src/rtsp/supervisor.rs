//! The per-stream supervisor task: connect, stream, and on any failure record it, back off and reconnect,
//! until shut down or the consumer goes away.

use super::IngestOptions;
use super::backoff::Backoff;
use super::session::{self, SessionContext, SessionEnd, shutdown_requested, unix_micros_now};
use super::source::{StreamSource, redact_url};
use super::status::{StatusHandle, StreamState, StreamStatus};
use crate::sink::StreamSink;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// A running stream supervisor. Dropping the handle stops the supervisor (like [`StreamHandle::stop`]
/// without waiting).
#[derive(Debug)]
pub struct StreamHandle {
    name: String,
    status: StatusHandle,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl StreamHandle {
    /// A handle on a stream task run by another source of this crate (file replay).
    pub(crate) fn from_parts(
        name: String,
        status: StatusHandle,
        shutdown: watch::Sender<bool>,
        task: JoinHandle<()>,
    ) -> Self {
        Self {
            name,
            status,
            shutdown,
            task,
        }
    }

    /// The stream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A snapshot of the stream's status.
    pub fn status(&self) -> StreamStatus {
        self.status.snapshot()
    }

    /// A handle on the status that outlives this one (for a status page or `/metrics`).
    pub fn status_handle(&self) -> StatusHandle {
        self.status.clone()
    }

    /// True once the supervisor has ended (stopped, or its consumer went away).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Asks the supervisor to stop (tearing down the session) and waits until it has.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        if let Err(err) = self.task.await
            && err.is_panic()
        {
            warn!(stream = self.name, "stream supervisor panicked");
        }
    }
}

/// Starts a supervisor for `source` on the current tokio runtime. Frames and discontinuities go to `sink`
/// (a bounded channel, or any [`StreamSink`]: when it is behind, ingest waits and counts a consumer stall,
/// it never drops a frame). The supervisor stops when the handle is stopped or dropped, or when the
/// consumer goes.
///
/// Must be called from within a tokio runtime (it uses `tokio::spawn`).
pub fn spawn_stream<S: StreamSink>(
    source: StreamSource,
    options: IngestOptions,
    sink: S,
) -> StreamHandle {
    let url = redact_url(source.url());
    let status = StatusHandle::new(source.name(), &url);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let name = source.name().to_string();
    let task = tokio::spawn(supervise(
        source,
        url,
        options,
        sink,
        status.clone(),
        shutdown_rx,
    ));
    StreamHandle {
        name,
        status,
        shutdown,
        task,
    }
}

async fn supervise<S: StreamSink>(
    source: StreamSource,
    url: String,
    options: IngestOptions,
    mut sink: S,
    status: StatusHandle,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(options.backoff_initial, options.backoff_max);
    let mut first = true;
    info!(stream = source.name(), url, "starting");
    loop {
        if !first {
            status.update(|s| s.reconnects += 1);
        }
        first = false;
        status.update(|s| s.state = StreamState::Connecting);
        let end = session::run(SessionContext {
            source: &source,
            url: &url,
            options: &options,
            status: &status,
            sink: &mut sink,
            shutdown: &mut shutdown,
        })
        .await;
        let (error, healthy) = match end {
            SessionEnd::Shutdown => {
                info!(stream = source.name(), "stopped");
                break;
            }
            SessionEnd::ConsumerGone => {
                info!(stream = source.name(), "consumer gone; stopping");
                break;
            }
            SessionEnd::Failed { error, healthy } => (error, healthy),
        };
        if healthy {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        let attempt = backoff.attempt();
        warn!(
            stream = source.name(),
            error = %error,
            retry_in_ms = delay.as_millis() as u64,
            attempt,
            "stream failed; reconnecting after backoff"
        );
        status.error(error.to_string(), unix_micros_now());
        status.update(|s| s.state = StreamState::Backoff { delay, attempt });
        tokio::select! {
            biased;
            _ = shutdown_requested(&mut shutdown) => break,
            _ = sink.closed() => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
    status.update(|s| {
        s.state = StreamState::Stopped;
        s.connected_since_unix_micros = None;
    });
}
