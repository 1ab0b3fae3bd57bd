//! Events pushed to browsers as they happen: `GET /api/events/live` upgrades to a WebSocket that sends
//! one JSON text message per event message (start, update, end) of the cameras the caller sees, the
//! moment the rules engine raises it (the server is a live-UI consumer of the event bus, see
//! `docs/design/events.md`). A browser that cannot keep up loses its oldest messages and is told how
//! many (`{"lagged": n}`); one that stops reading for [`SEND_TIMEOUT`] is disconnected. Like live video,
//! the caller is re-checked every [`RECHECK_EVERY`] and the socket closed with [`CLOSE_ACCESS_ENDED`]
//! once their access ends.

use crate::context::{RECHECK_EVERY, StillAllowed};
use crate::live::{CLOSE_ACCESS_ENDED, send};
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use tokio::sync::broadcast;
use tracing::debug;
use vigil_bus::{Message, Subscription};

/// Messages held for browsers that have not been sent them yet; a browser further behind loses the
/// oldest.
pub const FEED_BUFFER: usize = 256;

/// One event message, ready to send.
#[derive(Debug)]
pub struct LiveEvent {
    /// Its camera (for the caller's scope).
    pub camera: String,
    /// Whether it is biometric (sent only to the `faces` permission).
    pub biometric: bool,
    /// The JSON text sent.
    pub json: String,
}

/// Whether a caller is given an event: by its camera, and whether it is biometric.
pub type Sees = Arc<dyn Fn(&str, bool) -> bool + Send + Sync>;

/// The live event feed: one bus subscription, broadcast to every connected browser.
#[derive(Clone)]
pub struct EventFeed {
    tx: broadcast::Sender<Arc<LiveEvent>>,
}

impl EventFeed {
    /// Starts the feed on the current tokio runtime from an event-bus subscription.
    pub fn start(subscription: Subscription<Message>) -> EventFeed {
        let (tx, _) = broadcast::channel(FEED_BUFFER);
        let feed = tx.clone();
        tokio::spawn(subscription.run_async(move |m| {
            if let Message::Event(e) = m {
                let ev = &e.event;
                let json = json!({
                    "id": ev.id.to_string(),
                    "facts": serde_json::to_value(&ev.kind).unwrap_or(serde_json::Value::Null),
                    "phase": ev.phase,
                    "camera": ev.camera,
                    "rule": ev.rule,
                    "kind": ev.kind.name(),
                    "class": ev.class_name,
                    "start": ev.start.unix_ms,
                    "end": ev.end.map(|t| t.unix_ms),
                    "description": ev.description,
                    "has_snapshot": e.snapshot.is_some(),
                    "zone": ev.zone,
                    "line": ev.line,
                    "open": ev.end.is_none(),
                    "attributes": ev.attributes,
                })
                .to_string();
                // No browser connected is not an error.
                let _ = feed.send(Arc::new(LiveEvent {
                    camera: ev.camera.clone(),
                    biometric: ev.kind.is_biometric(),
                    json,
                }));
            }
        }));
        EventFeed { tx }
    }

    /// Browsers connected now.
    pub fn viewers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Upgrades the request and streams the events `sees` accepts.
    pub fn serve(&self, upgrade: WebSocketUpgrade, sees: Sees, allowed: StillAllowed) -> Response {
        let rx = self.tx.subscribe();
        upgrade
            .on_upgrade(move |socket| stream(socket, rx, sees, allowed))
            .into_response()
    }
}

async fn stream(
    mut socket: WebSocket,
    mut rx: broadcast::Receiver<Arc<LiveEvent>>,
    sees: Sees,
    allowed: StillAllowed,
) {
    let mut recheck =
        tokio::time::interval_at(tokio::time::Instant::now() + RECHECK_EVERY, RECHECK_EVERY);
    loop {
        tokio::select! {
            _ = recheck.tick() => {
                let allowed = allowed.clone();
                let still = tokio::task::spawn_blocking(move || allowed()).await.unwrap_or(false);
                if !still {
                    let close = CloseFrame { code: CLOSE_ACCESS_ENDED, reason: "access ended".into() };
                    let _ = send(&mut socket, WsMessage::Close(Some(close))).await;
                    break;
                }
            }
            next = rx.recv() => {
                let ok = match next {
                    Ok(ev) if sees(&ev.camera, ev.biometric) => {
                        send(&mut socket, WsMessage::Text(ev.json.clone().into())).await
                    }
                    Ok(_) => true,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let lagged = json!({ "lagged": n }).to_string();
                        send(&mut socket, WsMessage::Text(lagged.into())).await
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        let _ = send(&mut socket, WsMessage::Close(None)).await;
                        false
                    }
                };
                if !ok {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    debug!("live event viewer left");
}
