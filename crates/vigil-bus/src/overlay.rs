//! What the analysis sees frame by frame, for drawing over live video: each analysed frame's tracked
//! objects. Not an event-bus message: nothing stores or forwards it, it is only worth having while
//! someone watches, and a stale one is worthless. So it travels on a lossy broadcast channel (no
//! receiver: the send costs a failed check; a slow receiver loses the oldest frames).

use std::sync::Arc;
use tokio::sync::broadcast;

/// Frames a slow overlay viewer may fall behind before it loses the oldest.
pub const OVERLAY_BUFFER: usize = 64;

/// One tracked object as drawn: box corners normalised to the frame (0..1).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OverlayObject {
    /// Track id (stable while the object is followed).
    pub track: u64,
    /// Class name (`person`, `car`, ...).
    pub class: String,
    /// Detection score (0..1).
    pub score: f32,
    /// `[x1, y1, x2, y2]`, normalised.
    pub bbox: [f32; 4],
    /// Whether a detection matched the track in this frame (false: the tracker's prediction).
    pub matched: bool,
}

/// One analysed frame of one camera.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OverlayFrame {
    /// The camera.
    pub camera: String,
    /// When the frame reached Vigil (unix ms), the clock live video segments carry (`prft`).
    pub unix_ms: i64,
    /// The tracked objects.
    pub objects: Vec<OverlayObject>,
}

/// The sending side, shared by every camera's analysis.
pub type OverlaySender = broadcast::Sender<Arc<OverlayFrame>>;

/// A new overlay channel (subscribe with [`broadcast::Sender::subscribe`]).
pub fn overlay_channel() -> OverlaySender {
    broadcast::channel(OVERLAY_BUFFER).0
}
