//! Writing BGR frames to a standard MP4 video (H.264 through libx264, or MPEG-4 Part 2 where FFmpeg was
//! built without libx264), for annotated analysis output.

use crate::MediaError;
use crate::convert::{SendScaler, frame_from_packed};
use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame::Video as VideoFrame;
use ffmpeg_next::software::scaling::{Context as Scaler, Flags};
use ffmpeg_next::{Dictionary, Packet, Rational, codec, encoder, format};
use std::path::{Path, PathBuf};
use vigil_core::BgrImage;

/// How a writer times and structures its video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Constant frame rate, the encoder's own defaults.
    Plain,
    /// Constant frame rate, no B-frames, a key frame every two seconds.
    CameraLike,
    /// Per-frame presentation times (90 kHz), a key frame every two seconds.
    Timed,
    /// Like `Timed`, with no B-frames (decode order is presentation order), as cameras send video.
    TimedInOrder,
}

/// Encodes BGR frames at a constant frame rate (or at given times) into an MP4 file.
///
/// yuv420p needs even dimensions: an odd width or height loses its last column or row.
/// Call [`finish`](Self::finish) to complete the file; a writer dropped without it finishes on a
/// best-effort basis and only logs failures.
pub struct VideoWriter {
    path: PathBuf,
    output: format::context::Output,
    encoder: encoder::Video,
    scaler: SendScaler,
    width: u32,
    height: u32,
    encoded_width: u32,
    encoded_height: u32,
    stream_index: usize,
    encoder_time_base: Rational,
    stream_time_base: Rational,
    encoder_name: &'static str,
    timed: bool,
    last_pts: Option<i64>,
    frames: u64,
    finished: bool,
}

impl VideoWriter {
    /// Creates (or replaces) `path` as an MP4 for `width` x `height` BGR frames at `fps` frames per second,
    /// encoded with libx264 (`preset veryfast`, yuv420p), or FFmpeg's `mpeg4` encoder when libx264 is absent.
    pub fn create(path: &Path, width: u32, height: u32, fps: f64) -> Result<Self, MediaError> {
        Self::create_styled(path, width, height, fps, Style::Plain)
    }

    /// Like [`VideoWriter::create`], encoded the way IP cameras send video: no B-frames (presentation
    /// order is decode order) and a key frame every two seconds. Used to turn footage into camera-like
    /// streams for the demo and tests.
    pub fn create_camera_like(
        path: &Path,
        width: u32,
        height: u32,
        fps: f64,
    ) -> Result<Self, MediaError> {
        Self::create_styled(path, width, height, fps, Style::CameraLike)
    }

    /// Like [`VideoWriter::create`], but each frame carries its own presentation time
    /// ([`write_at`](Self::write_at)): re-encoded recordings keep the camera's timing, gaps and jitter
    /// included. `fps` is the nominal rate (rate control, a key frame every two seconds).
    pub fn create_timed(
        path: &Path,
        width: u32,
        height: u32,
        fps: f64,
    ) -> Result<Self, MediaError> {
        Self::create_styled(path, width, height, fps, Style::Timed)
    }

    /// Like [`VideoWriter::create_timed`], without B-frames: each frame is decoded when it is shown, as
    /// cameras send video, so the frames can replace a recording's own one for one (erasure by blurring).
    pub fn create_timed_in_order(
        path: &Path,
        width: u32,
        height: u32,
        fps: f64,
    ) -> Result<Self, MediaError> {
        Self::create_styled(path, width, height, fps, Style::TimedInOrder)
    }

    fn create_styled(
        path: &Path,
        width: u32,
        height: u32,
        fps: f64,
        style: Style,
    ) -> Result<Self, MediaError> {
        let (codec, name) = match encoder::find_by_name("libx264") {
            Some(c) => (c, "libx264"),
            None => {
                tracing::info!("libx264 not available; writing MPEG-4 Part 2 video instead");
                let c = encoder::find(codec::Id::MPEG4).ok_or_else(|| MediaError::Encode {
                    target: path.display().to_string(),
                    reason: "FFmpeg has neither libx264 nor the mpeg4 encoder".to_string(),
                })?;
                (c, "mpeg4")
            }
        };
        Self::create_with(path, width, height, fps, codec, name, style)
    }

    /// Creates the writer with a given encoder (`libx264` or `mpeg4`).
    pub(crate) fn create_with(
        path: &Path,
        width: u32,
        height: u32,
        fps: f64,
        codec: ffmpeg_next::Codec,
        encoder_name: &'static str,
        style: Style,
    ) -> Result<Self, MediaError> {
        let camera_like = matches!(style, Style::CameraLike | Style::TimedInOrder);
        let timed = matches!(style, Style::Timed | Style::TimedInOrder);
        crate::init()?;
        let err = |reason: String| MediaError::Encode {
            target: path.display().to_string(),
            reason,
        };
        if width < 2 || height < 2 {
            return Err(err(format!("frame size {width}x{height} is too small")));
        }
        if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
            return Err(err(format!("frame rate {fps} is not a positive rate")));
        }
        let (encoded_width, encoded_height) = (width & !1, height & !1);
        let frame_rate = Rational::from(fps).reduce();
        let encoder_time_base = if timed {
            Rational::new(1, vigil_core::TICKS_PER_SECOND as i32)
        } else {
            frame_rate.invert()
        };

        let mut output = format::output_as(path, "mp4").map_err(|e| err(e.to_string()))?;
        let global_header = output
            .format()
            .flags()
            .contains(format::Flags::GLOBAL_HEADER);
        let stream_index = output
            .add_stream(codec)
            .map_err(|e| err(format!("add stream: {e}")))?
            .index();

        let mut video = codec::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(|e| err(format!("{encoder_name} encoder: {e}")))?;
        video.set_width(encoded_width);
        video.set_height(encoded_height);
        video.set_format(Pixel::YUV420P);
        video.set_frame_rate(Some(frame_rate));
        video.set_time_base(encoder_time_base);
        let mut options = Dictionary::new();
        let gop = (fps * 2.0).round().max(1.0) as u32;
        if style != Style::Plain {
            video.set_gop(gop);
        }
        if camera_like {
            video.set_max_b_frames(0);
        }
        if encoder_name == "libx264" {
            options.set("preset", "veryfast");
            if camera_like {
                options.set(
                    "x264-params",
                    &format!("bframes=0:keyint={gop}:min-keyint={gop}:scenecut=0"),
                );
            }
        } else {
            // Quantizer pinned at 4 (of 1..31): clean boxes and text without a bitrate to guess.
            options.set("qmin", "4");
            options.set("qmax", "4");
        }
        if global_header {
            video.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let encoder = video
            .open_as_with(codec, options)
            .map_err(|e| err(format!("cannot open {encoder_name}: {e}")))?;

        let mut stream = output
            .stream_mut(stream_index)
            .ok_or_else(|| err("output stream vanished".to_string()))?;
        stream.set_parameters(&encoder);
        stream.set_time_base(encoder_time_base);
        stream.set_avg_frame_rate(frame_rate);
        stream.set_rate(frame_rate);

        let mut header_options = Dictionary::new();
        // The index at the front: the file plays in a browser before it has fully downloaded.
        header_options.set("movflags", "+faststart");
        output
            .write_header_with(header_options)
            .map_err(|e| err(format!("write header: {e}")))?;
        let stream_time_base = output
            .stream(stream_index)
            .map(|s| s.time_base())
            .ok_or_else(|| err("output stream vanished".to_string()))?;

        let scaler = Scaler::get(
            Pixel::BGR24,
            encoded_width,
            encoded_height,
            Pixel::YUV420P,
            encoded_width,
            encoded_height,
            Flags::BILINEAR,
        )
        .map_err(|e| err(format!("colour conversion: {e}")))?;
        tracing::debug!(path = %path.display(), encoder_name, width, height, fps, "video writer created");
        Ok(Self {
            path: path.to_path_buf(),
            output,
            encoder,
            scaler: SendScaler(scaler),
            width,
            height,
            encoded_width,
            encoded_height,
            stream_index,
            encoder_time_base,
            stream_time_base,
            encoder_name,
            timed,
            last_pts: None,
            frames: 0,
            finished: false,
        })
    }

    /// The encoder in use (`libx264` or `mpeg4`).
    pub fn encoder_name(&self) -> &'static str {
        self.encoder_name
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Appends one frame; it must have the size given to [`create`](Self::create).
    pub fn write(&mut self, image: &BgrImage) -> Result<(), MediaError> {
        if self.timed {
            return Err(self.err("a timed writer needs each frame's time (write_at)".into()));
        }
        self.write_frame(image, self.frames as i64)
    }

    /// Appends one frame presented at `pts` (90 kHz, increasing) to a writer made by
    /// [`create_timed`](Self::create_timed).
    pub fn write_at(
        &mut self,
        image: &BgrImage,
        pts: vigil_core::Time90k,
    ) -> Result<(), MediaError> {
        if !self.timed {
            return Err(self.err("only a timed writer takes frame times".into()));
        }
        if self.last_pts.is_some_and(|last| pts.0 <= last) {
            return Err(self.err(format!(
                "frame time {} does not follow the previous frame's {}",
                pts.0,
                self.last_pts.unwrap_or_default()
            )));
        }
        self.last_pts = Some(pts.0);
        self.write_frame(image, pts.0)
    }

    fn write_frame(&mut self, image: &BgrImage, pts: i64) -> Result<(), MediaError> {
        if self.finished {
            return Err(self.err("writer already finished".to_string()));
        }
        if (image.width(), image.height()) != (self.width, self.height) {
            return Err(self.err(format!(
                "frame is {}x{}, the video is {}x{}",
                image.width(),
                image.height(),
                self.width,
                self.height
            )));
        }
        let bgr = frame_from_packed(
            image.data(),
            image.stride(),
            Pixel::BGR24,
            self.encoded_width,
            self.encoded_height,
            3,
        )
        .map_err(|e| self.err(e))?;
        // A fresh frame each time: the encoder may still hold references to earlier ones (lookahead).
        let mut yuv = VideoFrame::empty();
        self.scaler
            .0
            .run(&bgr, &mut yuv)
            .map_err(|e| self.err(format!("colour conversion: {e}")))?;
        yuv.set_pts(Some(pts));
        self.encoder
            .send_frame(&yuv)
            .map_err(|e| self.err(format!("encode frame {}: {e}", self.frames)))?;
        self.frames += 1;
        self.write_packets()
    }

    /// Flushes the encoder and writes the MP4 index; returns the number of frames written.
    pub fn finish(mut self) -> Result<u64, MediaError> {
        self.finish_inner()?;
        Ok(self.frames)
    }

    fn finish_inner(&mut self) -> Result<(), MediaError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.encoder
            .send_eof()
            .map_err(|e| self.err(format!("flush encoder: {e}")))?;
        self.write_packets()?;
        self.output
            .write_trailer()
            .map_err(|e| self.err(format!("write trailer: {e}")))
    }

    /// Moves every packet the encoder has ready into the file.
    fn write_packets(&mut self) -> Result<(), MediaError> {
        let mut packet = Packet::empty();
        loop {
            match self.encoder.receive_packet(&mut packet) {
                Ok(()) => {
                    packet.set_stream(self.stream_index);
                    packet.rescale_ts(self.encoder_time_base, self.stream_time_base);
                    packet
                        .write_interleaved(&mut self.output)
                        .map_err(|e| self.err(format!("write packet: {e}")))?;
                }
                Err(ffmpeg_next::Error::Eof) => return Ok(()),
                Err(ffmpeg_next::Error::Other { errno }) if errno == ffmpeg_next::error::EAGAIN => {
                    return Ok(());
                }
                Err(e) => return Err(self.err(format!("encode: {e}"))),
            }
        }
    }

    fn err(&self, reason: String) -> MediaError {
        MediaError::Encode {
            target: self.path.display().to_string(),
            reason,
        }
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        if !self.finished
            && let Err(e) = self.finish_inner()
        {
            tracing::warn!("video writer dropped without finish: {e}");
        }
    }
}

impl std::fmt::Debug for VideoWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoWriter")
            .field("path", &self.path)
            .field("size", &(self.width, self.height))
            .field("encoder", &self.encoder_name)
            .field("frames", &self.frames)
            .finish()
    }
}

/// Re-encodes `input` into `output` frame for frame at the frames' own presentation times, without
/// B-frames ([`VideoWriter::create_timed_in_order`]), each decoded frame's BGR image passed through
/// `edit` first with its number from 0 (`false`: the frame is left out). Returns the frames read.
pub fn reencode_timed(
    input: &Path,
    output: &Path,
    mut edit: impl FnMut(u64, &mut BgrImage) -> bool,
) -> Result<u64, MediaError> {
    let mut src = crate::VideoSource::open(input)?;
    let fps = src.info().fps;
    let mut conv = crate::Converter::new();
    let mut writer: Option<VideoWriter> = None;
    let mut read = 0u64;
    while let Some(f) = src.next_frame()? {
        let mut image = f.bgr(&mut conv, f.width(), f.height())?;
        read += 1;
        if !edit(read - 1, &mut image) {
            continue;
        }
        let w = match &mut writer {
            Some(w) => w,
            None => writer.insert(VideoWriter::create_timed_in_order(
                output,
                image.width(),
                image.height(),
                fps,
            )?),
        };
        w.write_at(&image, f.pts())?;
    }
    match writer {
        Some(w) => w.finish().map(|_| read),
        None => Err(MediaError::Encode {
            target: output.display().to_string(),
            reason: format!("{} holds no frame to re-encode", input.display()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ffprobe(path: &Path) -> String {
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=codec_name,nb_read_frames"])
            .args(["-of", "default=noprint_wrappers=1"])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn mpeg4_fallback_writes_a_playable_mp4() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fallback.mp4");
        let codec = encoder::find(codec::Id::MPEG4).unwrap();
        let mut w =
            VideoWriter::create_with(&path, 160, 120, 10.0, codec, "mpeg4", Style::Plain).unwrap();
        for i in 0..12u8 {
            w.write(&BgrImage::filled(160, 120, i * 20)).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 12);
        assert_eq!(ffprobe(&path), "codec_name=mpeg4\nnb_read_frames=12\n");
    }

    #[test]
    fn dropped_writer_still_completes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dropped.mp4");
        {
            let mut w = VideoWriter::create(&path, 64, 48, 5.0).unwrap();
            for _ in 0..7 {
                w.write(&BgrImage::filled(64, 48, 128)).unwrap();
            }
        }
        assert!(ffprobe(&path).ends_with("nb_read_frames=7\n"));
    }
}
