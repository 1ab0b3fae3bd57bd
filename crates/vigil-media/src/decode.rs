//! Codec-level video decoding: compressed access units in, [`DecodedFrame`]s out.
//!
//! [`VideoDecoder`] takes packets from anywhere: a camera (RTSP frames in MP4 form, decoded through
//! [`VideoDecoder::from_params`]), an Annex B stream, JPEG images (MJPEG), or the demuxer of a
//! [`crate::VideoSource`]. Damaged data is concealed by FFmpeg and counted, never fatal.

use crate::MediaError;
use crate::frame::DecodedFrame;
use crate::sample_entry;
use ffmpeg_next::codec::{self, threading};
use ffmpeg_next::frame::Video as VideoFrame;
use ffmpeg_next::{Packet, Rational};
use std::collections::VecDeque;
use vigil_core::{TICKS_PER_SECOND, Time90k, VideoCodec, VideoParams};

/// Codecs Vigil decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// H.264 / AVC.
    H264,
    /// H.265 / HEVC.
    H265,
    /// Motion JPEG (each packet one JPEG image).
    Mjpeg,
}

impl Codec {
    /// Lower-case name as FFmpeg spells it (`h264`, `hevc`, `mjpeg`).
    pub fn name(&self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::H265 => "hevc",
            Codec::Mjpeg => "mjpeg",
        }
    }

    fn id(&self) -> codec::Id {
        match self {
            Codec::H264 => codec::Id::H264,
            Codec::H265 => codec::Id::HEVC,
            Codec::Mjpeg => codec::Id::MJPEG,
        }
    }

    /// The Vigil codec for an FFmpeg codec id, or `None` when Vigil does not accept it.
    pub(crate) fn from_id(id: codec::Id) -> Option<Codec> {
        match id {
            codec::Id::H264 => Some(Codec::H264),
            codec::Id::HEVC => Some(Codec::H265),
            codec::Id::MJPEG => Some(Codec::Mjpeg),
            _ => None,
        }
    }
}

impl From<VideoCodec> for Codec {
    fn from(c: VideoCodec) -> Self {
        match c {
            VideoCodec::H264 => Codec::H264,
            VideoCodec::H265 => Codec::H265,
        }
    }
}

/// How a decoder runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderOptions {
    /// Decoder threads. 1 decodes on the calling thread with no added latency; more use FFmpeg frame
    /// threading, which delays output by about one frame per extra thread. 0 means one per core.
    pub threads: usize,
}

impl Default for DecoderOptions {
    /// One thread per available core, at most 8 (beyond that FFmpeg gains little per stream).
    fn default() -> Self {
        Self {
            threads: available_threads(),
        }
    }
}

impl DecoderOptions {
    /// Decode on the calling thread only (many camera streams at once, or lowest latency).
    pub fn single_thread() -> Self {
        Self { threads: 1 }
    }
}

fn available_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8)
}

/// Counters of one decoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecoderStats {
    /// Packets sent.
    pub packets: u64,
    /// Frames delivered.
    pub frames: u64,
    /// Packets the decoder rejected as invalid data (their picture is lost or concealed).
    pub corrupt_packets: u64,
    /// Frames delivered with concealed damage.
    pub concealed_frames: u64,
}

/// Warn for the first few damaged packets, then every hundredth, so a broken stream cannot flood the log.
fn should_warn(count: u64) -> bool {
    count <= 5 || count.is_multiple_of(100)
}

/// A video decoder for one stream: send packets, receive frames.
///
/// ```no_run
/// # use vigil_media::{VideoDecoder, DecoderOptions};
/// # fn run(params: &vigil_core::VideoParams, frames: &[vigil_core::EncodedFrame]) -> Result<(), vigil_media::MediaError> {
/// let mut decoder = VideoDecoder::from_params(params, DecoderOptions::single_thread())?;
/// for f in frames {
///     decoder.send(&f.data, f.pts)?;
///     while let Some(frame) = decoder.receive()? {
///         println!("{} at {:?}", frame.index(), frame.pts());
///     }
/// }
/// decoder.flush()?;
/// while let Some(frame) = decoder.receive()? { /* the last frames */ }
/// # Ok(()) }
/// ```
pub struct VideoDecoder {
    decoder: ffmpeg_next::decoder::Video,
    codec: Codec,
    /// Names the stream in logs and errors (a path, or the codec).
    label: String,
    /// Frames taken out of FFmpeg to make room for a packet, waiting for `receive`.
    pending: VecDeque<VideoFrame>,
    /// Between `flush` and the end of the drained frames.
    draining: bool,
    next_index: u64,
    last_pts: Option<i64>,
    /// Spacing of the last two timestamps; `default_step` until two frames have been seen.
    last_step: i64,
    stats: DecoderStats,
}

impl VideoDecoder {
    /// A decoder for `codec`. `extradata` is the codec configuration: an `avcC` / `hvcC` record for
    /// packets in MP4 form (NAL units with 4-byte length prefixes), or `None` for Annex B packets
    /// (start codes, parameter sets in band) and for MJPEG.
    pub fn new(
        codec: Codec,
        extradata: Option<&[u8]>,
        options: DecoderOptions,
    ) -> Result<Self, MediaError> {
        crate::init()?;
        let err = |reason: String| MediaError::Decoder {
            codec: codec.name().to_string(),
            reason,
        };
        let ff_codec = ffmpeg_next::decoder::find(codec.id())
            .ok_or_else(|| err("FFmpeg has no decoder for it".to_string()))?;
        let mut context = codec::Context::new_with_codec(ff_codec);
        if let Some(data) = extradata {
            set_extradata(&mut context, data).map_err(err)?;
        }
        Self::open(context, codec, codec.name().to_string(), options).map_err(err)
    }

    /// A decoder for a camera stream, configured from the `avcC` / `hvcC` record inside
    /// `params.sample_entry`, so [`vigil_core::EncodedFrame::data`] (MP4 form) decodes as it is.
    pub fn from_params(params: &VideoParams, options: DecoderOptions) -> Result<Self, MediaError> {
        let expected = Codec::from(params.codec);
        let (codec, config) =
            sample_entry::codec_config(&params.sample_entry).map_err(|reason| {
                MediaError::Decoder {
                    codec: expected.name().to_string(),
                    reason: format!("invalid sample entry: {reason}"),
                }
            })?;
        if codec != expected {
            return Err(MediaError::Decoder {
                codec: expected.name().to_string(),
                reason: format!("sample entry is for {}", codec.name()),
            });
        }
        Self::new(codec, Some(config), options)
    }

    /// A decoder from a demuxed stream's parameters (extradata included).
    /// `fps` (when known) spaces frames that come without any timestamp.
    pub(crate) fn from_stream(
        parameters: codec::Parameters,
        codec: Codec,
        label: String,
        fps: f64,
        options: DecoderOptions,
    ) -> Result<Self, String> {
        let context = codec::Context::from_parameters(parameters).map_err(|e| e.to_string())?;
        let mut decoder = Self::open(context, codec, label, options)?;
        if fps.is_finite() && fps > 0.0 {
            decoder.last_step = (TICKS_PER_SECOND as f64 / fps).round() as i64;
        }
        Ok(decoder)
    }

    fn open(
        mut context: codec::Context,
        codec: Codec,
        label: String,
        options: DecoderOptions,
    ) -> Result<Self, String> {
        let threads = match options.threads {
            0 => available_threads(),
            n => n,
        };
        context.set_threading(threading::Config {
            kind: if threads > 1 {
                threading::Type::Frame
            } else {
                threading::Type::None
            },
            count: threads,
            ..Default::default()
        });
        let mut decoder = context.decoder();
        // Packets carry 90 kHz timestamps (the camera clock; demuxed packets are rescaled to it).
        decoder.set_packet_time_base(Rational::new(1, TICKS_PER_SECOND as i32));
        let ff_codec = ffmpeg_next::decoder::find(codec.id())
            .ok_or_else(|| "FFmpeg has no decoder for it".to_string())?;
        let decoder = decoder
            .open_as(ff_codec)
            .and_then(|o| o.video())
            .map_err(|e| format!("cannot open decoder: {e}"))?;
        Ok(Self {
            decoder,
            codec,
            label,
            pending: VecDeque::new(),
            draining: false,
            next_index: 0,
            last_pts: None,
            last_step: 0,
            stats: DecoderStats::default(),
        })
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Coded width and height as configured (0 x 0 until known for a stream without configuration).
    pub(crate) fn coded_size(&self) -> (u32, u32) {
        (self.decoder.width(), self.decoder.height())
    }

    /// Counters so far.
    pub fn stats(&self) -> DecoderStats {
        self.stats
    }

    /// Sends one access unit with its presentation time. Damaged data is counted and concealed, not an
    /// error. Call [`receive`](Self::receive) until it returns `None` after each send.
    pub fn send(&mut self, data: &[u8], pts: Time90k) -> Result<(), MediaError> {
        let mut packet = Packet::copy(data);
        packet.set_pts(Some(pts.0));
        self.send_packet(&packet)
    }

    /// Sends a packet whose timestamps are already on the 90 kHz clock.
    pub(crate) fn send_packet(&mut self, packet: &Packet) -> Result<(), MediaError> {
        if self.draining {
            // A new stream after flush: keep the frames still inside, then start afresh.
            self.drain_to_pending()?;
        }
        self.stats.packets += 1;
        if packet.is_corrupt() {
            // The demuxer already knows this packet is damaged (e.g. cut short); the decoder will conceal.
            self.count_corrupt_packet("packet marked corrupt by the demuxer");
        }
        loop {
            match self.decoder.send_packet(packet) {
                Ok(()) => return Ok(()),
                Err(ffmpeg_next::Error::Other { errno }) if errno == libc_eagain() => {
                    // FFmpeg's output is full: move its frames aside, then the packet fits.
                    let before = self.pending.len();
                    while let Some(frame) = self.receive_raw()? {
                        self.pending.push_back(frame);
                    }
                    if self.pending.len() == before {
                        return Err(self.error("decoder refuses input but has no output".into()));
                    }
                }
                Err(ffmpeg_next::Error::InvalidData) => {
                    if !packet.is_corrupt() {
                        self.count_corrupt_packet("invalid data");
                    }
                    return Ok(());
                }
                Err(e) => return Err(self.error(format!("send packet: {e}"))),
            }
        }
    }

    /// Ends the stream: the frames still inside the decoder come out of [`receive`](Self::receive).
    /// After the last one the decoder accepts a new stream (same codec and configuration).
    pub fn flush(&mut self) -> Result<(), MediaError> {
        if self.draining {
            return Ok(());
        }
        match self.decoder.send_eof() {
            Ok(()) | Err(ffmpeg_next::Error::Eof) => {}
            // The end of stream is registered; the error belongs to a frame decoded on the way.
            Err(ffmpeg_next::Error::InvalidData) => self.count_corrupt_packet("invalid data"),
            Err(e) => return Err(self.error(format!("flush: {e}"))),
        }
        self.draining = true;
        Ok(())
    }

    /// Drops every frame inside the decoder without delivering it (after a stream discontinuity).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.decoder.flush();
        self.draining = false;
    }

    /// The next decoded frame, or `None` when the decoder needs more input (or, after
    /// [`flush`](Self::flush), when every frame has come out).
    pub fn receive(&mut self) -> Result<Option<DecodedFrame>, MediaError> {
        let frame = match self.pending.pop_front() {
            Some(f) => f,
            None => match self.receive_raw()? {
                Some(f) => f,
                None => return Ok(None),
            },
        };
        Ok(Some(self.deliver(frame)))
    }

    /// Takes every remaining frame of a flushed stream out of FFmpeg, leaving the decoder ready for more.
    fn drain_to_pending(&mut self) -> Result<(), MediaError> {
        while let Some(frame) = self.receive_raw()? {
            self.pending.push_back(frame);
        }
        Ok(())
    }

    /// One frame out of FFmpeg; `None` when it needs input or has finished draining.
    fn receive_raw(&mut self) -> Result<Option<VideoFrame>, MediaError> {
        loop {
            let mut frame = VideoFrame::empty();
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => return Ok(Some(frame)),
                Err(ffmpeg_next::Error::Other { errno }) if errno == libc_eagain() => {
                    return Ok(None);
                }
                Err(ffmpeg_next::Error::Eof) => {
                    // Drained: make the decoder usable for a new stream.
                    self.decoder.flush();
                    self.draining = false;
                    return Ok(None);
                }
                // With frame threading, damage in a packet surfaces here.
                Err(ffmpeg_next::Error::InvalidData) => self.count_corrupt_packet("invalid data"),
                Err(e) => return Err(self.error(format!("receive frame: {e}"))),
            }
        }
    }

    fn deliver(&mut self, frame: VideoFrame) -> DecodedFrame {
        let pts = match frame.timestamp().or(frame.pts()) {
            Some(ts) => {
                if let Some(last) = self.last_pts
                    && ts > last
                {
                    self.last_step = ts - last;
                }
                ts
            }
            // No timestamp at all: continue from the previous frame at the last seen spacing.
            None => self.last_pts.map_or(0, |last| last + self.last_step),
        };
        self.last_pts = Some(pts);
        let index = self.next_index;
        self.next_index += 1;
        self.stats.frames += 1;
        if frame.is_corrupt() || frame.has_decode_errors() {
            self.stats.concealed_frames += 1;
            if should_warn(self.stats.concealed_frames) {
                tracing::warn!(
                    stream = %self.label,
                    frame = index,
                    concealed_frames = self.stats.concealed_frames,
                    "decoded frame has concealed damage"
                );
            }
        }
        DecodedFrame::new(index, Time90k(pts), frame)
    }

    fn count_corrupt_packet(&mut self, why: &str) {
        self.stats.corrupt_packets += 1;
        if should_warn(self.stats.corrupt_packets) {
            tracing::warn!(
                stream = %self.label,
                packet = self.stats.packets,
                corrupt_packets = self.stats.corrupt_packets,
                "corrupt video packet ({why}); decoder conceals and goes on"
            );
        }
    }

    fn error(&self, reason: String) -> MediaError {
        MediaError::Decoder {
            codec: format!("{} ({})", self.codec.name(), self.label),
            reason,
        }
    }
}

impl std::fmt::Debug for VideoDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoDecoder")
            .field("codec", &self.codec)
            .field("label", &self.label)
            .field("stats", &self.stats)
            .finish()
    }
}

/// EAGAIN as ffmpeg-next reports it (`Error::Other { errno: EAGAIN }`).
fn libc_eagain() -> i32 {
    ffmpeg_next::error::EAGAIN
}

/// Copies `data` into the codec context as its extradata (the avcC / hvcC configuration record).
fn set_extradata(context: &mut codec::Context, data: &[u8]) -> Result<(), String> {
    use ffmpeg_next::ffi;
    let size = i32::try_from(data.len())
        .map_err(|_| format!("extradata of {} bytes is too large", data.len()))?;
    let padding = ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
    // SAFETY: `av_mallocz` returns either null (checked) or a zeroed buffer of `data.len() + padding`
    // bytes, into which exactly `data.len()` bytes are copied from a valid slice; the zeroed padding is what
    // FFmpeg requires after extradata. `context.as_mut_ptr()` is the valid, exclusively borrowed
    // AVCodecContext of a not yet opened decoder; any previous extradata it owned is released with
    // `av_freep` before the field is replaced, and the context frees the new buffer with `av_free` when it
    // is dropped (`avcodec_free_context`), which matches the `av_mallocz` allocation.
    unsafe {
        let buf = ffi::av_mallocz(data.len() + padding).cast::<u8>();
        if buf.is_null() {
            return Err("out of memory for extradata".to_string());
        }
        std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
        let raw = context.as_mut_ptr();
        ffi::av_freep(std::ptr::addr_of_mut!((*raw).extradata).cast());
        (*raw).extradata = buf;
        (*raw).extradata_size = size;
    }
    Ok(())
}
