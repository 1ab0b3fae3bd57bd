//! Overlays over live video: `GET /api/cameras/{camera}/overlay` upgrades to a WebSocket that first sends
//! the camera's drawn geometry (`{"geometry": {"zones": [...], "lines": [...], "masks": [...]}}`, the
//! `[rules.CAMERA]` outlines, normalised) and then, for each analysed frame with objects (and once when
//! they are gone), `{"t": unix_ms, "objects": [{"track", "class", "score", "bbox": [x1, y1, x2, y2],
//! "matched"}]}`. `t` is the time the frame reached Vigil, the clock of the live video's `prft` boxes, so
//! the browser draws each frame's boxes when that frame shows. Lossy on purpose: a slow browser skips
//! frames (`{"lagged": n}`); the caller is re-checked like live video.

use crate::context::{RECHECK_EVERY, StillAllowed};
use crate::live::{CLOSE_ACCESS_ENDED, send};
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::broadcast;
use vigil_bus::{OverlayFrame, OverlaySender};

/// The overlay source: analysed frames of every camera, and each camera's geometry.
#[derive(Clone)]
pub struct Overlays {
    /// Analysed frames.
    pub frames: OverlaySender,
    /// Zones, lines and masks by camera (JSON as sent).
    pub geometry: Arc<std::collections::BTreeMap<String, Value>>,
}

impl Overlays {
    /// Upgrades the request and streams `camera`'s overlay.
    pub fn serve(
        &self,
        upgrade: WebSocketUpgrade,
        camera: String,
        allowed: StillAllowed,
    ) -> Response {
        let rx = self.frames.subscribe();
        let geometry = self
            .geometry
            .get(&camera)
            .cloned()
            .unwrap_or_else(|| json!({"zones": [], "lines": [], "masks": []}));
        upgrade
            .on_upgrade(move |socket| stream(socket, rx, camera, geometry, allowed))
            .into_response()
    }
}

async fn stream(
    mut socket: WebSocket,
    mut rx: broadcast::Receiver<Arc<OverlayFrame>>,
    camera: String,
    geometry: Value,
    allowed: StillAllowed,
) {
    let first = json!({ "geometry": geometry }).to_string();
    if !send(&mut socket, WsMessage::Text(first.into())).await {
        return;
    }
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
                    Ok(f) if f.camera == camera => {
                        let text = json!({ "t": f.unix_ms, "objects": f.objects }).to_string();
                        send(&mut socket, WsMessage::Text(text.into())).await
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
}
