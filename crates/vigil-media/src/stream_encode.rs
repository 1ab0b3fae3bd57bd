//! Encoding BGR frames into a camera-like H.264 stream of [`EncodedFrame`]s, for a live view that must
//! show a changed picture (privacy masks): libx264 `ultrafast` with `zerolatency` (no B-frames, no
//! lookahead: a frame in, its packet out), a key frame every two seconds carrying its parameter sets.

use crate::MediaError;
use crate::convert::{SendScaler, frame_from_packed};
use crate::demux::to_length_prefixed;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame::Video as VideoFrame;
use ffmpeg_next::software::scaling::{Context as Scaler, Flags};
use ffmpeg_next::{Dictionary, Packet, Rational, codec, encoder};
use std::sync::Arc;
use vigil_core::{BgrImage, EncodedFrame, Time90k, VideoCodec, VideoParams};
use vigil_mp4::codec::{decoder_config_from_extradata, video_params_from_config};

/// A live H.264 encoder.
pub struct StreamEncoder {
    encoder: encoder::Video,
    scaler: SendScaler,
    width: u32,
    height: u32,
    params: Option<Arc<VideoParams>>,
    /// Wall-clock arrival of the frames sent and not yet out, by presentation time.
    pending: Vec<(i64, i64)>,
}

impl StreamEncoder {
    /// An encoder for `width` x `height` frames (odd sizes lose their last column or row) at about `fps`.
    pub fn new(width: u32, height: u32, fps: f64) -> Result<Self, MediaError> {
        crate::init()?;
        let err = |reason: String| MediaError::Encode {
            target: "live view".into(),
            reason,
        };
        let codec = encoder::find_by_name("libx264")
            .ok_or_else(|| err("FFmpeg has no libx264 encoder".into()))?;
        let (w, h) = (width & !1, height & !1);
        if w < 2 || h < 2 {
            return Err(err(format!("frame size {width}x{height} is too small")));
        }
        let fps = if fps.is_finite() && fps > 0.0 {
            fps
        } else {
            10.0
        };
        let mut video = codec::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(|e| err(e.to_string()))?;
        video.set_width(w);
        video.set_height(h);
        video.set_format(Pixel::YUV420P);
        video.set_time_base(Rational::new(1, vigil_core::TICKS_PER_SECOND as i32));
        video.set_frame_rate(Some(Rational::from(fps).reduce()));
        let gop = (fps * 2.0).round().max(1.0) as u32;
        video.set_gop(gop);
        video.set_max_b_frames(0);
        let mut options = Dictionary::new();
        options.set("preset", "ultrafast");
        options.set("tune", "zerolatency");
        options.set(
            "x264-params",
            &format!("keyint={gop}:min-keyint={gop}:scenecut=0:repeat-headers=1:threads=1"),
        );
        let encoder = video
            .open_as_with(codec, options)
            .map_err(|e| err(format!("cannot open libx264: {e}")))?;
        let scaler = Scaler::get(Pixel::BGR24, w, h, Pixel::YUV420P, w, h, Flags::BILINEAR)
            .map_err(|e| err(format!("colour conversion: {e}")))?;
        Ok(Self {
            encoder,
            scaler: SendScaler(scaler),
            width: w,
            height: h,
            params: None,
            pending: Vec::new(),
        })
    }

    /// Encodes one frame presented at `pts` that arrived at `received_unix_micros`; returns the frames
    /// the encoder gives out (with `zerolatency`, this one).
    pub fn encode(
        &mut self,
        image: &BgrImage,
        pts: Time90k,
        received_unix_micros: i64,
    ) -> Result<Vec<EncodedFrame>, MediaError> {
        let err = |reason: String| MediaError::Encode {
            target: "live view".into(),
            reason,
        };
        if image.width() < self.width || image.height() < self.height {
            return Err(err(format!(
                "frame is {}x{}, the stream is {}x{}",
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
            self.width,
            self.height,
            3,
        )
        .map_err(err)?;
        let mut yuv = VideoFrame::empty();
        self.scaler
            .0
            .run(&bgr, &mut yuv)
            .map_err(|e| err(format!("colour conversion: {e}")))?;
        yuv.set_pts(Some(pts.0));
        self.pending.push((pts.0, received_unix_micros));
        self.encoder
            .send_frame(&yuv)
            .map_err(|e| err(format!("encode: {e}")))?;
        let mut out = Vec::new();
        let mut packet = Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            let Some(data) = packet.data() else { continue };
            let pts = packet.pts().unwrap_or(pts.0);
            if packet.is_key() || self.params.is_none() {
                let config = decoder_config_from_extradata(VideoCodec::H264, data)
                    .map_err(|e| err(format!("parameter sets: {e}")))?;
                let params =
                    video_params_from_config(VideoCodec::H264, self.width, self.height, &config)
                        .map_err(|e| err(format!("parameter sets: {e}")))?;
                if self.params.as_deref() != Some(&params) {
                    self.params = Some(Arc::new(params));
                }
            }
            let Some(params) = self.params.clone() else {
                continue;
            };
            let data =
                to_length_prefixed("live view", data, true, 4).map_err(|e| err(e.to_string()))?;
            let received = match self.pending.iter().position(|(p, _)| *p == pts) {
                Some(i) => self.pending.remove(i).1,
                None => received_unix_micros,
            };
            self.pending.retain(|(p, _)| *p > pts);
            out.push(EncodedFrame {
                params,
                pts: Time90k(pts),
                composition_offset: 0,
                received_unix_micros: received,
                is_key: packet.is_key(),
                data: data.into(),
            });
        }
        Ok(out)
    }
}
