//! What a stream supervisor sends to its consumer (the recorder, the decoder).

use vigil_core::{EncodedFrame, Time90k};

/// One item on a stream's channel.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// The frames that follow do not continue the timeline of the frames before: the recorder starts a new
    /// run / segment. Always sent before the first frame of every session.
    Discontinuity(Discontinuity),
    /// A compressed frame, in arrival (decode) order.
    Frame(EncodedFrame),
}

/// Why the timeline breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscontinuityReason {
    /// A new RTSP session started (first connection or a reconnect): `pts` restarts near zero and the
    /// first frame that follows is a key frame.
    NewSession,
    /// The camera's timestamps jumped forward much further than wall-clock time passed, or went backwards
    /// by more than frame reordering explains. `pts` of the next frame is `to`.
    TimestampJump {
        /// `pts` of the previous frame.
        from: Time90k,
        /// `pts` of the next frame.
        to: Time90k,
    },
    /// The codec parameters changed mid-stream (new SPS/PPS, new resolution); the next frame carries the
    /// new `Arc<VideoParams>`.
    ParametersChanged,
}

/// A break in the timeline, sent just before the first frame after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discontinuity {
    /// Why.
    pub reason: DiscontinuityReason,
    /// The session it happened in (1 for the first successful session of the stream).
    pub session: u64,
    /// Wall-clock time it was detected (µs since the Unix epoch).
    pub unix_micros: i64,
}
