//! Live video over WebSocket: `GET /api/cameras/{camera}/live` (after the router has checked the `live`
//! permission and camera scope, and the route its `Origin`) is upgraded and fed from the camera's
//! [`LiveHub`]: a text message `{"mime": "video/mp4; codecs=\"...\""}`, the init segment, then one
//! media segment per frame from a key frame on (again a mime message and an init segment whenever the
//! camera's parameters change). The segments are muxed once per camera and shared by every viewer; a
//! viewer whose connection cannot keep up skips to the next key frame, and one that stops reading for
//! [`SEND_TIMEOUT`] is disconnected. Every [`RECHECK_EVERY`] the viewer's session or token is checked
//! again: a logout, expiry, revocation or lost camera scope closes the stream with [`CLOSE_ACCESS_ENDED`].

use crate::context::{LiveSource, RECHECK_EVERY, ResponseFuture, StillAllowed};
use crate::error::ApiError;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use std::collections::HashMap;
use std::time::Duration;
use tracing::debug;
use vigil_mp4::live_hub::{LiveChunk, LiveHub, LiveViewer};

/// WebSocket close code sent when the viewer's session ended (logout, expiry), its token was revoked,
/// its user disabled or the camera taken out of its scope (4000-4999: application codes).
pub const CLOSE_ACCESS_ENDED: u16 = 4401;

/// A viewer whose socket accepts nothing for this long is disconnected.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The live hubs of the running cameras, by name.
#[derive(Debug, Clone, Default)]
pub struct LiveStreams {
    hubs: HashMap<String, LiveHub>,
}

impl LiveStreams {
    /// Serves these cameras' hubs.
    pub fn new(hubs: impl IntoIterator<Item = LiveHub>) -> Self {
        Self {
            hubs: hubs
                .into_iter()
                .map(|h| (h.camera().to_string(), h))
                .collect(),
        }
    }

    /// Viewers now watching `camera`.
    pub fn viewers(&self, camera: &str) -> usize {
        self.hubs.get(camera).map_or(0, LiveHub::viewers)
    }
}

impl LiveSource for LiveStreams {
    fn serve(&self, camera: String, request: Request, allowed: StillAllowed) -> ResponseFuture {
        let hub = self.hubs.get(&camera).cloned();
        Box::pin(async move {
            let (mut parts, _) = request.into_parts();
            let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
                Ok(u) => u,
                Err(rejection) => return rejection.into_response(),
            };
            let Some(hub) = hub else {
                return ApiError::not_found(format!("no camera named {camera} is running"))
                    .into_response();
            };
            let Some(viewer) = hub.subscribe() else {
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "camera_not_live",
                    format!("camera {camera} has no live stream now"),
                )
                .into_response();
            };
            upgrade
                .on_upgrade(move |socket| stream(socket, viewer, camera, allowed))
                .into_response()
        })
    }
}

/// Sends one message, giving up after [`SEND_TIMEOUT`] (live video and the live event feed).
pub(crate) async fn send(socket: &mut WebSocket, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}

async fn stream(
    mut socket: WebSocket,
    mut viewer: LiveViewer,
    camera: String,
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
                    debug!(camera, "live viewer's session ended or lost access: closing");
                    let close = CloseFrame { code: CLOSE_ACCESS_ENDED, reason: "access ended".into() };
                    let _ = send(&mut socket, Message::Close(Some(close))).await;
                    break;
                }
            }
            chunk = viewer.next() => {
                let ok = match chunk {
                    Some(LiveChunk::Init(init)) => {
                        let mime = serde_json::json!({ "mime": init.mime() }).to_string();
                        send(&mut socket, Message::Text(mime.into())).await
                            && send(&mut socket, Message::Binary(init.data.clone())).await
                    }
                    Some(LiveChunk::Media(data)) => send(&mut socket, Message::Binary(data)).await,
                    None => {
                        let _ = send(&mut socket, Message::Close(None)).await;
                        false
                    }
                };
                if !ok {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    debug!(camera, skipped = viewer.skipped(), "live viewer left");
}
