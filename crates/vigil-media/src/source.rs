//! Video files (and any URL FFmpeg opens) demuxed and decoded frame by frame.
//!
//! [`VideoSource`] drives `av_read_frame` itself so that every read error is seen (ffmpeg-next's packet
//! iterator ends silently on one). A file cut short delivers every frame that decodes, then one
//! [`MediaError::Truncated`]; damaged packets are concealed by the decoder and counted in
//! [`VideoSource::stats`].

use crate::MediaError;
use crate::decode::{Codec, DecoderOptions, DecoderStats, VideoDecoder};
use crate::frame::DecodedFrame;
use crate::probe;
use ffmpeg_next::format::context::Input;
use ffmpeg_next::media::Type;
use ffmpeg_next::{Packet, Rational};
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigil_core::TICKS_PER_SECOND;

/// What a video stream is, as far as the container says before decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Nominal frame rate (average rate when the container gives one); 0 when unknown.
    pub fps: f64,
    /// Codec name as FFmpeg spells it (`h264`, `hevc`, `mjpeg`).
    pub codec: String,
    /// Frames in the stream when the container records it (MP4 does; live streams do not).
    pub frame_count: Option<u64>,
    /// Stream duration when known.
    pub duration: Option<Duration>,
}

/// Consecutive demuxer read errors tolerated (each skipping a damaged packet) before reading stops.
const MAX_CONSECUTIVE_READ_ERRORS: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading packets.
    Reading,
    /// Input ended (or failed); the decoder gives out its last frames.
    Draining,
    /// Everything delivered, any failure reported.
    Done,
}

/// Why reading stopped early, reported once every decodable frame has been delivered.
enum Failure {
    Truncated(String),
    Read(String),
}

/// A demuxed and decoded video stream: a file, or any URL FFmpeg opens.
pub struct VideoSource {
    path: PathBuf,
    input: Input,
    stream_index: usize,
    time_base: Rational,
    decoder: VideoDecoder,
    info: StreamInfo,
    state: State,
    /// Video packets read from the container.
    packets_read: u64,
    consecutive_read_errors: u32,
    /// The latest video packet was flagged corrupt by the demuxer.
    last_packet_cut: bool,
    failure: Option<Failure>,
}

impl VideoSource {
    /// Opens a file or URL and its best video stream, decoding with one thread per core.
    /// Vigil accepts H.264, H.265 and MJPEG; any other codec is [`MediaError::UnsupportedCodec`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, MediaError> {
        Self::open_with(path, DecoderOptions::default())
    }

    /// Opens a file or URL with the given decoder options.
    pub fn open_with(path: impl AsRef<Path>, options: DecoderOptions) -> Result<Self, MediaError> {
        crate::init()?;
        let path = path.as_ref();
        let open_err = |reason: String| MediaError::Open {
            path: path.to_path_buf(),
            reason,
        };
        let is_url = path.to_string_lossy().contains("://");
        if !is_url {
            probe::check_local_file(path).map_err(open_err)?;
        }
        let input = ffmpeg_next::format::input(path).map_err(|e| {
            let reason = if is_url {
                e.to_string()
            } else {
                probe::explain_open_failure(path, &e)
            };
            open_err(reason)
        })?;
        let stream =
            input
                .streams()
                .best(Type::Video)
                .ok_or_else(|| MediaError::NoVideoStream {
                    path: path.to_path_buf(),
                })?;
        let id = stream.parameters().id();
        let Some(codec) = Codec::from_id(id) else {
            // FFmpeg reads some text files as "ansi art" video; say what the file really is.
            if !is_url && probe::is_text_file(path) {
                return Err(open_err("not a video file: it contains text".to_string()));
            }
            return Err(MediaError::UnsupportedCodec {
                path: path.to_path_buf(),
                codec: id.name().to_string(),
            });
        };
        let fps = frame_rate(&stream);
        let decoder = VideoDecoder::from_stream(
            stream.parameters(),
            codec,
            path.display().to_string(),
            fps,
            options,
        )
        .map_err(|reason| MediaError::Decode {
            path: path.to_path_buf(),
            reason,
        })?;
        let time_base = stream.time_base();
        let (width, height) = decoder.coded_size();
        let info = StreamInfo {
            width,
            height,
            fps,
            codec: codec.name().to_string(),
            frame_count: u64::try_from(stream.frames()).ok().filter(|&n| n > 0),
            duration: duration(&stream, &input),
        };
        let stream_index = stream.index();
        tracing::debug!(path = %path.display(), ?info, "opened video source");
        Ok(Self {
            path: path.to_path_buf(),
            input,
            stream_index,
            time_base,
            decoder,
            info,
            state: State::Reading,
            packets_read: 0,
            consecutive_read_errors: 0,
            last_packet_cut: false,
            failure: None,
        })
    }

    /// The stream's description.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// The file or URL.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Decoder counters (packets, frames, corrupt packets, concealed frames).
    pub fn stats(&self) -> DecoderStats {
        self.decoder.stats()
    }

    /// The next frame in presentation order; `Ok(None)` at the end. When the input was cut short or
    /// failed, the frames that decode come first, then one error ([`MediaError::Truncated`] or
    /// [`MediaError::Read`]), then `Ok(None)`.
    pub fn next_frame(&mut self) -> Result<Option<DecodedFrame>, MediaError> {
        loop {
            if let Some(frame) = self.decoder.receive().map_err(|e| self.decode_err(e))? {
                return Ok(Some(frame));
            }
            match self.state {
                State::Reading => self.read_packet()?,
                State::Draining => {
                    self.state = State::Done;
                    return match self.failure.take() {
                        Some(failure) => Err(self.failure_error(failure)),
                        None => Ok(None),
                    };
                }
                State::Done => return Ok(None),
            }
        }
    }

    /// Reads one packet and sends it to the decoder if it belongs to the video stream.
    fn read_packet(&mut self) -> Result<(), MediaError> {
        let mut packet = Packet::empty();
        match packet.read(&mut self.input) {
            Ok(()) => {
                self.consecutive_read_errors = 0;
                if packet.stream() != self.stream_index {
                    return Ok(());
                }
                self.packets_read += 1;
                // The demuxer flags a packet it could only partly read (the file ends inside it).
                self.last_packet_cut = packet.is_corrupt();
                packet.rescale_ts(self.time_base, Rational::new(1, TICKS_PER_SECOND as i32));
                self.decoder
                    .send_packet(&packet)
                    .map_err(|e| self.decode_err(e))
            }
            Err(ffmpeg_next::Error::Eof) => {
                let failure = self.check_complete();
                self.end_input(failure)
            }
            Err(ffmpeg_next::Error::Other { errno }) if errno == ffmpeg_next::error::EAGAIN => {
                // A network input with nothing yet; wait a little instead of spinning.
                std::thread::sleep(Duration::from_millis(5));
                Ok(())
            }
            Err(e) => {
                self.consecutive_read_errors += 1;
                let recoverable = matches!(e, ffmpeg_next::Error::InvalidData);
                if recoverable && self.consecutive_read_errors < MAX_CONSECUTIVE_READ_ERRORS {
                    tracing::warn!(
                        path = %self.path.display(),
                        packets = self.packets_read,
                        "skipping unreadable packet: {e}"
                    );
                    return Ok(());
                }
                let failure = self.classify_read_error(&e);
                self.end_input(Some(failure))
            }
        }
    }

    /// Stops reading: the decoder gives out what it still holds, then `failure` (if any) is reported.
    fn end_input(&mut self, failure: Option<Failure>) -> Result<(), MediaError> {
        self.failure = failure;
        self.state = State::Draining;
        self.decoder.flush().map_err(|e| self.decode_err(e))
    }

    /// At the end of the input: did the container hold everything it announced?
    fn check_complete(&self) -> Option<Failure> {
        if self.last_packet_cut {
            let of = self
                .info
                .frame_count
                .map_or(String::new(), |n| format!(" of {n}"));
            return Some(Failure::Truncated(format!(
                "the data ends inside video packet {}{of}",
                self.packets_read
            )));
        }
        // MP4 / MOV sample tables list every frame exactly; other containers' counts are estimates.
        let exact_count = self.input.format().name().contains("mp4");
        match self.info.frame_count {
            Some(expected) if exact_count && self.packets_read < expected => {
                Some(Failure::Truncated(format!(
                    "the container lists {expected} video frames, the data ends after {}",
                    self.packets_read
                )))
            }
            _ => None,
        }
    }

    fn classify_read_error(&self, e: &ffmpeg_next::Error) -> Failure {
        match self.info.frame_count {
            Some(expected) if self.packets_read < expected => Failure::Truncated(format!(
                "the container lists {expected} video frames, only {} could be read ({e})",
                self.packets_read
            )),
            _ => Failure::Read(e.to_string()),
        }
    }

    fn failure_error(&self, failure: Failure) -> MediaError {
        let frames = self.decoder.stats().frames;
        match failure {
            Failure::Truncated(reason) => {
                tracing::warn!(path = %self.path.display(), frames, "input truncated: {reason}");
                MediaError::Truncated {
                    path: self.path.clone(),
                    frames,
                    reason,
                }
            }
            Failure::Read(reason) => MediaError::Read {
                path: self.path.clone(),
                packets: self.packets_read,
                reason,
            },
        }
    }

    /// A decoder error re-labelled with this source's path.
    fn decode_err(&self, e: MediaError) -> MediaError {
        match e {
            MediaError::Decoder { reason, .. } => MediaError::Decode {
                path: self.path.clone(),
                reason,
            },
            other => other,
        }
    }
}

impl Iterator for VideoSource {
    type Item = Result<DecodedFrame, MediaError>;

    /// The same as [`VideoSource::next_frame`]: frames, then at most one error, then the end.
    fn next(&mut self) -> Option<Self::Item> {
        self.next_frame().transpose()
    }
}

impl std::fmt::Debug for VideoSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoSource")
            .field("path", &self.path)
            .field("info", &self.info)
            .finish()
    }
}

fn positive_rate(r: Rational) -> Option<f64> {
    (r.numerator() > 0 && r.denominator() > 0).then(|| f64::from(r))
}

fn frame_rate(stream: &ffmpeg_next::Stream) -> f64 {
    positive_rate(stream.avg_frame_rate())
        .or_else(|| positive_rate(stream.rate()))
        .unwrap_or(0.0)
}

fn duration(stream: &ffmpeg_next::Stream, input: &Input) -> Option<Duration> {
    let tb = stream.time_base();
    if stream.duration() > 0 && tb.denominator() > 0 {
        let secs = stream.duration() as f64 * f64::from(tb);
        return Some(Duration::from_secs_f64(secs));
    }
    let micros = input.duration();
    (micros > 0).then(|| Duration::from_micros(micros as u64))
}
