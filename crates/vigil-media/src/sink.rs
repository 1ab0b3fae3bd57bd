//! Where a stream's frames go: the [`StreamSink`] a stream source (RTSP ingest, file replay) hands every
//! [`StreamEvent`] to, in arrival order.
//!
//! A sink may make the source wait (backpressure to this one stream: a recorder whose disk is slow), but
//! never loses an event it accepted. A bounded tokio channel is the simplest sink; `vigil run` uses one that
//! tees each frame to the camera's recorder, live view and analysis without a relay thread in between.

use crate::rtsp::StreamEvent;
use std::future::Future;
use tokio::sync::mpsc;

/// The consumer has gone: the stream stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkClosed;

/// The consumer side of one stream.
pub trait StreamSink: Send + 'static {
    /// True when [`StreamSink::deliver`] would wait now (the consumer is behind); the source counts a stall.
    fn would_wait(&self) -> bool;

    /// Takes `event`, waiting while the consumer is full. Cancel-safe only in that a cancelled delivery
    /// may or may not have taken the event (sources cancel only to shut down).
    fn deliver(
        &mut self,
        event: StreamEvent,
    ) -> impl Future<Output = Result<(), SinkClosed>> + Send;

    /// Resolves when the consumer has gone (then the source stops). The future owns what it needs, so
    /// that a source can make it once and poll it across many deliveries.
    fn closed(&self) -> impl Future<Output = ()> + Send + 'static;
}

impl StreamSink for mpsc::Sender<StreamEvent> {
    fn would_wait(&self) -> bool {
        self.capacity() == 0
    }

    async fn deliver(&mut self, event: StreamEvent) -> Result<(), SinkClosed> {
        mpsc::Sender::send(self, event)
            .await
            .map_err(|_| SinkClosed)
    }

    fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let tx = self.clone();
        async move { tx.closed().await }
    }
}
