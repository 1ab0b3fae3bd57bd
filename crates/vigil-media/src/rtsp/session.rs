//! One RTSP session: DESCRIBE / SETUP (TCP interleaved, MP4 framing) / PLAY, then frames into the
//! consumer's channel until something ends it.

use super::IngestOptions;
use super::decode_time::DecodeTimes;
use super::error::IngestError;
use super::event::{Discontinuity, DiscontinuityReason, StreamEvent};
use super::source::StreamSource;
use super::status::StatusHandle;
use super::timeline::TimelineCheck;
use crate::sink::StreamSink;
use futures_util::StreamExt;
use retina::client::{
    Demuxed, PlayOptions, Session, SessionOptions, SetupOptions, TeardownPolicy, Transport,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef, VideoParametersCodec};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;
use tracing::{debug, info, warn};
use vigil_core::{EncodedFrame, Time90k, VideoCodec, VideoParams};

/// How a session ended.
pub(crate) enum SessionEnd {
    /// Shutdown was requested.
    Shutdown,
    /// The consumer dropped its receiver.
    ConsumerGone,
    /// The session failed; `healthy` says whether it had delivered frames for `healthy_after` first.
    Failed { error: IngestError, healthy: bool },
}

/// What one session works with.
pub(crate) struct SessionContext<'a, S: StreamSink> {
    pub source: &'a StreamSource,
    /// The URL as logged (no credentials).
    pub url: &'a str,
    pub options: &'a IngestOptions,
    pub status: &'a StatusHandle,
    pub sink: &'a mut S,
    pub shutdown: &'a mut watch::Receiver<bool>,
}

/// Resolves once shutdown is requested (`true` sent, or the sender dropped). Cancel-safe.
pub(crate) async fn shutdown_requested(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Microseconds since the Unix epoch, now.
pub(crate) fn unix_micros_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Runs one session to its end.
pub(crate) async fn run<S: StreamSink>(ctx: SessionContext<'_, S>) -> SessionEnd {
    let connected = tokio::select! {
        biased;
        _ = shutdown_requested(ctx.shutdown) => return SessionEnd::Shutdown,
        _ = ctx.sink.closed() => return SessionEnd::ConsumerGone,
        connected = connect(ctx.source, ctx.url, ctx.options) => connected,
    };
    match connected {
        Ok((demuxed, video)) => stream(ctx, demuxed, video).await,
        Err(error) => SessionEnd::Failed {
            error,
            healthy: false,
        },
    }
}

/// Runs one connection step under the connect timeout, naming the step in errors.
async fn step<T>(
    url: &str,
    timeout: std::time::Duration,
    phase: &'static str,
    fut: impl Future<Output = Result<T, retina::Error>>,
) -> Result<T, IngestError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(IngestError::Connect {
            url: url.to_string(),
            phase,
            reason: err.to_string(),
        }),
        Err(_) => Err(IngestError::ConnectTimeout {
            url: url.to_string(),
            phase,
            timeout,
        }),
    }
}

/// DESCRIBE, SETUP of the first H.264/H.265 video stream over TCP with MP4 framing, PLAY.
async fn connect(
    source: &StreamSource,
    url: &str,
    options: &IngestOptions,
) -> Result<(Demuxed, usize), IngestError> {
    let timeout = options.connect_timeout;
    let mut session_options = SessionOptions::default()
        .user_agent(format!("vigil/{}", env!("CARGO_PKG_VERSION")))
        .teardown(TeardownPolicy::Auto);
    if let Some(creds) = source.credentials() {
        session_options = session_options.creds(Some(retina::client::Credentials {
            username: creds.username.clone(),
            password: creds.password.expose().to_string(),
        }));
    }
    let mut session = step(
        url,
        timeout,
        "DESCRIBE",
        Session::describe(source.url().clone(), session_options),
    )
    .await?;
    let video = session
        .streams()
        .iter()
        .position(|s| s.media() == "video" && matches!(s.encoding_name(), "h264" | "h265"))
        .ok_or_else(|| IngestError::NoVideo {
            url: url.to_string(),
            streams: session
                .streams()
                .iter()
                .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let setup = SetupOptions::default()
        .transport(Transport::default())
        .frame_format(FrameFormat::MP4);
    step(url, timeout, "SETUP", session.setup(video, setup)).await?;
    let playing = step(url, timeout, "PLAY", session.play(PlayOptions::default())).await?;
    let demuxed = playing.demuxed().map_err(|err| IngestError::Connect {
        url: url.to_string(),
        phase: "PLAY",
        reason: err.to_string(),
    })?;
    Ok((demuxed, video))
}

/// The stream's current parameters as [`VideoParams`] with the reorder depth its SPS declares (see
/// [`vigil_mp4::h26x::max_reorder_frames`]), `Ok(None)` while not known yet.
fn video_params(
    stream: &retina::client::Stream,
) -> Result<Option<(VideoParams, Option<usize>)>, String> {
    let Some(ParametersRef::Video(params)) = stream.parameters() else {
        return Ok(None);
    };
    let (codec, sps) = match params.codec_params() {
        VideoParametersCodec::H264 { sps, .. } => (VideoCodec::H264, sps),
        VideoParametersCodec::H265 { sps, .. } => (VideoCodec::H265, sps),
        _ => return Err(format!("unsupported codec {}", params.rfc6381_codec())),
    };
    // An SPS this parser cannot follow only means the depth is learnt from the frames instead.
    let reorder = match vigil_mp4::h26x::max_reorder_frames(codec, sps) {
        Ok(depth) => depth.map(|d| d as usize),
        Err(err) => {
            debug!("reorder depth not read from the SPS: {err}");
            None
        }
    };
    let (width, height) = params.pixel_dimensions();
    let sample_entry = params
        .mp4_sample_entry()
        .build()
        .map_err(|err| format!("cannot build the MP4 sample entry: {err}"))?;
    Ok(Some((
        VideoParams {
            codec,
            width,
            height,
            rfc6381_codec: params.rfc6381_codec().to_string(),
            sample_entry,
        },
        reorder,
    )))
}

/// True when the first VCL NAL unit of an H.265 access unit (MP4 framing) is an IRAP picture (BLA, IDR
/// or CRA, types 16..=23). `retina` flags only IDR pictures as random access points; cameras that use CRA
/// pictures would otherwise never get past "waiting for the first key frame".
fn is_h265_irap(data: &[u8]) -> bool {
    let mut rest = data;
    while rest.len() > 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let Some(nal) = rest.get(4..4 + len) else {
            return false;
        };
        let Some(&header) = nal.first() else {
            return false;
        };
        let unit_type = (header >> 1) & 0x3f;
        if unit_type < 32 {
            return (16..=23).contains(&unit_type);
        }
        rest = &rest[4 + len..];
    }
    false
}

/// A frame timestamp on the 90 kHz clock (H.264/H.265 RTP clocks are 90 kHz already).
fn pts_90k(timestamp: retina::Timestamp) -> Time90k {
    let rate = timestamp.clock_rate().get();
    if rate == 90_000 {
        Time90k(timestamp.elapsed())
    } else {
        Time90k::from_rational(
            timestamp.elapsed(),
            1,
            i32::try_from(rate).unwrap_or(i32::MAX),
        )
    }
}

/// Sends `event`, waiting (never dropping) when the consumer is behind and counting that as a consumer stall.
async fn send<S: StreamSink>(
    ctx: &mut SessionContext<'_, S>,
    event: StreamEvent,
) -> Result<(), SessionEnd> {
    if !ctx.sink.would_wait() {
        return ctx
            .sink
            .deliver(event)
            .await
            .map_err(|_| SessionEnd::ConsumerGone);
    }
    let started = Instant::now();
    let mut stalls = 0;
    ctx.status.update(|s| {
        s.consumer_stalls += 1;
        stalls = s.consumer_stalls;
    });
    // Log the first stall and then ever more rarely, so a slow disk does not flood the log.
    if stalls.is_power_of_two() {
        warn!(
            stream = ctx.source.name(),
            stalls, "consumer is behind: channel full, ingest waits (no frame is dropped)"
        );
    }
    let sent = tokio::select! {
        biased;
        _ = shutdown_requested(ctx.shutdown) => return Err(SessionEnd::Shutdown),
        sent = ctx.sink.deliver(event) => sent,
    };
    let waited = started.elapsed();
    ctx.status.update(|s| s.consumer_wait += waited);
    sent.map_err(|_| SessionEnd::ConsumerGone)
}

/// Counts `frame` in the status and sends it on.
async fn forward<S: StreamSink>(
    ctx: &mut SessionContext<'_, S>,
    frame: EncodedFrame,
) -> Result<(), SessionEnd> {
    // Counted before sending: a consumer that reads the frame sees it in the status already.
    ctx.status.frame(
        frame.data.len(),
        frame.is_key,
        frame.received_unix_micros,
        0,
    );
    send(ctx, StreamEvent::Frame(frame)).await
}

/// Forwards frames until the session ends. Frames still held for their decode times when the session
/// fails are delivered before the failure is handled: they are the camera's, and nothing is dropped.
async fn stream<S: StreamSink>(
    mut ctx: SessionContext<'_, S>,
    demuxed: Demuxed,
    video: usize,
) -> SessionEnd {
    let mut decode = DecodeTimes::new(ctx.source.name());
    let end = play(&mut ctx, demuxed, video, &mut decode).await;
    if let SessionEnd::Failed { .. } = end {
        let mut held = Vec::new();
        decode.flush(&mut held);
        for frame in held {
            if let Err(other) = forward(&mut ctx, frame).await {
                return other;
            }
        }
    }
    end
}

/// The session's frame loop (see [`stream`]).
async fn play<S: StreamSink>(
    ctx: &mut SessionContext<'_, S>,
    mut demuxed: Demuxed,
    video: usize,
    decode: &mut DecodeTimes,
) -> SessionEnd {
    let session_no = ctx.status.connected(unix_micros_now());
    let playing_since = Instant::now();
    let mut params: Option<Arc<VideoParams>> = None;
    let mut declared_reorder: Option<usize> = None;
    let mut ready: Vec<EncodedFrame> = Vec::new();
    let mut reorder_seen = (0, None, 0, 0);
    let mut started_at: Option<Instant> = None;
    let mut timeline =
        TimelineCheck::new(ctx.options.jump_tolerance, ctx.options.reorder_tolerance);
    let stall = ctx.options.stall_timeout;
    let mut deadline = tokio::time::Instant::now() + stall;
    // The futures the frame loop selects on besides the next frame are made once per session, not per
    // frame: a new sleep per frame registered and removed a timer, and new shutdown and consumer
    // futures registered and removed wakers, for every frame of every camera. The stall timer is
    // pushed back with `reset`, which only moves its deadline later.
    let mut shutdown_rx = ctx.shutdown.clone();
    let shutdown = shutdown_requested(&mut shutdown_rx);
    tokio::pin!(shutdown);
    let closed = ctx.sink.closed();
    tokio::pin!(closed);
    let stalled = tokio::time::sleep_until(deadline);
    tokio::pin!(stalled);
    let healthy = |started_at: Option<Instant>, options: &IngestOptions| {
        started_at.is_some_and(|t| t.elapsed() >= options.healthy_after)
    };
    info!(
        stream = ctx.source.name(),
        url = ctx.url,
        session = session_no,
        "playing"
    );

    loop {
        if stalled.deadline() != deadline {
            stalled.as_mut().reset(deadline);
        }
        let item = tokio::select! {
            biased;
            _ = &mut shutdown => return SessionEnd::Shutdown,
            _ = &mut closed => return SessionEnd::ConsumerGone,
            _ = &mut stalled => {
                return SessionEnd::Failed {
                    error: IngestError::Stalled { url: ctx.url.to_string(), timeout: stall },
                    healthy: healthy(started_at, ctx.options),
                };
            }
            item = demuxed.next() => item,
        };
        let frame = match item {
            None => {
                return SessionEnd::Failed {
                    error: IngestError::Ended {
                        url: ctx.url.to_string(),
                    },
                    healthy: healthy(started_at, ctx.options),
                };
            }
            Some(Err(err)) => {
                return SessionEnd::Failed {
                    error: IngestError::Stream {
                        url: ctx.url.to_string(),
                        reason: err.to_string(),
                    },
                    healthy: healthy(started_at, ctx.options),
                };
            }
            Some(Ok(CodecItem::VideoFrame(frame))) if frame.stream_id() == video => frame,
            Some(Ok(_)) => continue, // RTCP and anything else
        };
        let now = Instant::now();
        let unix_micros = unix_micros_now();

        // Parameters: known from the SDP or from the first frame; a frame may bring new ones.
        let mut changed = false;
        if params.is_none() || frame.has_new_parameters() {
            match video_params(&demuxed.streams()[video]) {
                Ok(Some((new, reorder))) => {
                    declared_reorder = reorder;
                    if params.as_deref() != Some(&new) {
                        changed = params.is_some();
                        let new = Arc::new(new);
                        info!(
                            stream = ctx.source.name(),
                            codec = %new.rfc6381_codec,
                            width = new.width,
                            height = new.height,
                            changed,
                            declared_reorder = ?reorder,
                            "video parameters"
                        );
                        ctx.status.update(|s| s.params = Some(new.clone()));
                        params = Some(new);
                    }
                }
                Ok(None) => {}
                Err(reason) => {
                    return SessionEnd::Failed {
                        error: IngestError::Parameters {
                            url: ctx.url.to_string(),
                            reason,
                        },
                        healthy: healthy(started_at, ctx.options),
                    };
                }
            }
        }
        let is_key = frame.is_random_access_point()
            || (params.as_ref().is_some_and(|p| p.codec == VideoCodec::H265)
                && is_h265_irap(frame.data()));
        let Some(current) = params.clone().filter(|_| started_at.is_some() || is_key) else {
            // Nothing is recordable before the first key frame (and its parameters).
            ctx.status.update(|s| s.skipped_before_key += 1);
            debug!(
                stream = ctx.source.name(),
                "waiting for the first key frame"
            );
            if playing_since.elapsed() >= ctx.options.first_key_timeout {
                return SessionEnd::Failed {
                    error: IngestError::NoKeyFrame {
                        url: ctx.url.to_string(),
                        timeout: ctx.options.first_key_timeout,
                    },
                    healthy: false,
                };
            }
            // Frames are arriving: the camera is not stalled.
            deadline = tokio::time::Instant::now() + stall;
            continue;
        };

        let pts = pts_90k(frame.timestamp());
        let jump_from = timeline
            .check(pts, now)
            .or_else(|| decode.beyond_reorder(pts));
        let reason = if started_at.is_none() {
            started_at = Some(now);
            Some(DiscontinuityReason::NewSession)
        } else if changed {
            Some(DiscontinuityReason::ParametersChanged)
        } else {
            jump_from.map(|from| DiscontinuityReason::TimestampJump { from, to: pts })
        };
        if let Some(reason) = reason {
            // Frames held for their decode times belong before the break.
            decode.flush(&mut ready);
            for frame in ready.drain(..) {
                if let Err(end) = forward(ctx, frame).await {
                    return end;
                }
            }
            let jump = matches!(reason, DiscontinuityReason::TimestampJump { .. });
            if !matches!(reason, DiscontinuityReason::NewSession) {
                warn!(
                    stream = ctx.source.name(),
                    ?reason,
                    "timeline discontinuity"
                );
            }
            let event = StreamEvent::Discontinuity(Discontinuity {
                reason,
                session: session_no,
                unix_micros,
            });
            if let Err(end) = send(ctx, event).await {
                return end;
            }
            ctx.status.update(|s| {
                s.discontinuities += 1;
                s.timestamp_jumps += u64::from(jump);
            });
            decode.reset(declared_reorder, now);
        }

        let loss = frame.loss();
        if loss > 0 {
            ctx.status.update(|s| s.lost_packets += u64::from(loss));
        }
        decode.push(
            EncodedFrame {
                params: current,
                pts,
                composition_offset: 0,
                received_unix_micros: unix_micros,
                is_key,
                data: bytes::Bytes::from(frame.into_data()),
            },
            now,
            &mut ready,
        );
        let seen = (
            decode.depth(),
            decode.gop_depth(),
            decode.late(),
            decode.switches(),
        );
        if seen != reorder_seen {
            reorder_seen = seen;
            ctx.status.update(|s| {
                s.reorder_depth = seen.0 as u32;
                s.gop_reorder_depth = seen.1.map(|d| d as u32);
                s.late_reordered_frames = seen.2;
                s.reorder_switches = seen.3;
            });
        }
        for frame in ready.drain(..) {
            if let Err(end) = forward(ctx, frame).await {
                return end;
            }
        }
        // Time spent waiting on the consumer is not the camera's fault: the watchdog restarts from here.
        deadline = tokio::time::Instant::now() + stall;
    }
}

#[cfg(test)]
mod tests {
    use super::is_h265_irap;

    fn au(nals: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for nal in nals {
            out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
            out.extend_from_slice(nal);
        }
        out
    }

    #[test]
    fn h265_irap_detection_looks_at_the_first_vcl_nal() {
        // SEI (39) then CRA (21): key.
        assert!(is_h265_irap(&au(&[&[39 << 1, 1], &[21 << 1, 1, 0xaa]])));
        // IDR_W_RADL (19): key.
        assert!(is_h265_irap(&au(&[&[19 << 1, 1]])));
        // TRAIL_R (1): not key.
        assert!(!is_h265_irap(&au(&[&[39 << 1, 1], &[1 << 1, 1]])));
        // Truncated / empty data: not key, no panic.
        assert!(!is_h265_irap(&[0, 0, 0, 9, 38]));
        assert!(!is_h265_irap(&[]));
        assert!(!is_h265_irap(&[0, 0, 0, 0, 0]));
    }
}
