//! Reads a video file (MP4, Matroska, MPEG-TS...) with FFmpeg into [`EncodedFrame`]s with complete
//! [`VideoParams`], exactly as the RTSP ingest hands frames to the recorder: 4-byte length-prefixed NAL
//! units, a key-frame flag, a 90 kHz presentation time and the composition offset to the decode time the
//! file gives (B-frames). Used by tests, benchmarks, file cameras and imports; no decoding happens.

use crate::MediaError;
use ffmpeg_next::media::Type;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vigil_core::{EncodedFrame, Time90k, VideoCodec, VideoParams};
use vigil_mp4::Mp4Error;
use vigil_mp4::codec::{decoder_config_from_extradata, nal_length_size, video_params_from_config};
use vigil_mp4::h26x::{is_annexb, split_annexb, split_length_prefixed};

/// A file's video track as encoded frames.
#[derive(Debug, Clone)]
pub struct DemuxedVideo {
    /// The file read.
    pub path: PathBuf,
    /// Codec parameters (one set for the whole file).
    pub params: Arc<VideoParams>,
    /// Frames in decode order. `pts` is the file's presentation time on the 90 kHz clock and
    /// `composition_offset` its distance from the file's decode time; `received_unix_micros` is the decode
    /// time in microseconds counted from the first frame (callers that simulate a live camera re-stamp it).
    pub frames: Vec<EncodedFrame>,
    /// Nominal frame duration from the stream's average frame rate (90 kHz ticks; 0 when unknown).
    pub frame_duration: Time90k,
    /// True when presentation order differs from decode order (B-frames).
    pub has_b_frames: bool,
}

impl DemuxedVideo {
    /// Duration from the first frame's decode time to the last frame's end (90 kHz ticks).
    pub fn duration(&self) -> Time90k {
        match (self.frames.first(), self.frames.last()) {
            (Some(a), Some(b)) => Time90k(b.dts().0 - a.dts().0 + self.frame_duration.0),
            _ => Time90k(0),
        }
    }
}

/// Reads every video frame of `path` (the best video stream). H.264 and H.265 only.
pub fn demux_file(path: &Path) -> Result<DemuxedVideo, MediaError> {
    crate::init()?;
    let open_err = |reason: String| MediaError::Open {
        path: path.to_path_buf(),
        reason,
    };
    let mut input = ffmpeg_next::format::input(path).map_err(|e| open_err(e.to_string()))?;
    let stream = input
        .streams()
        .best(Type::Video)
        .ok_or_else(|| MediaError::NoVideoStream {
            path: path.to_path_buf(),
        })?;
    let index = stream.index();
    let parameters = stream.parameters();
    let codec = match parameters.id() {
        ffmpeg_next::codec::Id::H264 => VideoCodec::H264,
        ffmpeg_next::codec::Id::HEVC => VideoCodec::H265,
        other => {
            return Err(MediaError::UnsupportedCodec {
                path: path.to_path_buf(),
                codec: format!("{other:?}"),
            });
        }
    };
    // SAFETY: `parameters` borrows the stream's live AVCodecParameters (owned by `input`, which outlives
    // this block); FFmpeg guarantees `extradata` points to `extradata_size` readable bytes when non-null.
    // The bytes are copied out before `input` is used again.
    let (extradata, width, height) = unsafe {
        let p = parameters.as_ptr();
        let extradata = if (*p).extradata.is_null() || (*p).extradata_size <= 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts((*p).extradata, (*p).extradata_size as usize).to_vec()
        };
        (extradata, (*p).width, (*p).height)
    };
    let time_base = stream.time_base();
    let rate = stream.avg_frame_rate();
    let frame_duration = if rate.numerator() > 0 && rate.denominator() > 0 {
        Time90k::from_rational(1, rate.denominator(), rate.numerator())
    } else {
        Time90k(0)
    };
    let what = path.display().to_string();
    // MP4/Matroska give a configuration record and length-prefixed packets; MPEG-TS and raw streams give
    // Annex B. (Sniffing each packet for a start code would misread a 4-byte length of 256..511.)
    let packets_annexb = extradata.is_empty() || is_annexb(&extradata);
    let mut config = if extradata.is_empty() {
        None
    } else {
        Some(decoder_config_from_extradata(codec, &extradata).map_err(|e| context(&what, e))?)
    };

    let mut raw = Vec::new();
    let mut packet = ffmpeg_next::Packet::empty();
    loop {
        match packet.read(&mut input) {
            Ok(()) => {
                if packet.stream() != index {
                    continue;
                }
                let Some(data) = packet.data() else { continue };
                let pts = packet.pts().or(packet.dts()).unwrap_or(0);
                let dts = packet.dts().unwrap_or(pts);
                raw.push((pts, dts, packet.is_key(), data.to_vec()));
            }
            Err(ffmpeg_next::Error::Eof) => break,
            Err(e) => {
                return Err(MediaError::Decode {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                });
            }
        }
    }
    if config.is_none() {
        // No extradata: take the parameter sets from the first key frame (raw Annex B streams).
        if let Some((_, _, _, data)) = raw.iter().find(|(_, _, key, d)| *key && is_annexb(d)) {
            config =
                Some(decoder_config_from_extradata(codec, data).map_err(|e| context(&what, e))?);
        }
    }
    let config = config.ok_or_else(|| {
        Mp4Error::invalid(
            &what,
            "no codec parameter sets (no extradata and no key frame)",
        )
    })?;
    let length_size = nal_length_size(codec, &config).map_err(|e| context(&what, e))?;
    let params = Arc::new(
        video_params_from_config(
            codec,
            u32::try_from(width).unwrap_or(0),
            u32::try_from(height).unwrap_or(0),
            &config,
        )
        .map_err(|e| context(&what, e))?,
    );

    let first_dts = raw.first().map_or(0, |r| r.1);
    let mut frames = Vec::with_capacity(raw.len());
    let mut has_b_frames = false;
    let mut last_pts = None;
    let to_90k = |t: i64| Time90k::from_rational(t, time_base.numerator(), time_base.denominator());
    for (i, (pts, dts, is_key, data)) in raw.into_iter().enumerate() {
        let data = to_length_prefixed(
            &format!("{what}: frame {i}"),
            &data,
            packets_annexb,
            length_size,
        )?;
        let pts90 = to_90k(pts);
        if last_pts.is_some_and(|l| pts90 <= l) {
            has_b_frames = true;
        }
        last_pts = Some(pts90);
        let offset = pts90.0 - to_90k(dts).0;
        let composition_offset = i32::try_from(offset).map_err(|_| {
            Mp4Error::invalid(
                format!("{what}: frame {i}"),
                format!("presentation time {offset} ticks away from decode time"),
            )
        })?;
        has_b_frames |= composition_offset != 0;
        frames.push(EncodedFrame {
            params: params.clone(),
            pts: pts90,
            composition_offset,
            received_unix_micros: to_90k(dts - first_dts).0 * 100 / 9,
            is_key,
            data: data.into(),
        });
    }
    Ok(DemuxedVideo {
        path: path.to_path_buf(),
        params,
        frames,
        frame_duration,
        has_b_frames,
    })
}

fn context(what: &str, e: Mp4Error) -> Mp4Error {
    match e {
        Mp4Error::Invalid { what: w, reason } => Mp4Error::Invalid {
            what: format!("{what}: {w}"),
            reason,
        },
        other => other,
    }
}

/// Converts one access unit to 4-byte length-prefixed NAL units, from Annex B (`annexb`) or from
/// `length_size`-byte prefixes; 4-byte input is copied as is (after validation).
pub fn to_length_prefixed(
    what: &str,
    data: &[u8],
    annexb: bool,
    length_size: usize,
) -> Result<Vec<u8>, Mp4Error> {
    let nals = if annexb {
        split_annexb(data)
    } else {
        let nals = split_length_prefixed(what, data, length_size)?;
        if length_size == 4 {
            return Ok(data.to_vec());
        }
        nals
    };
    let mut out = Vec::with_capacity(data.len() + 4 * nals.len());
    for n in nals {
        out.extend_from_slice(&(n.len() as u32).to_be_bytes());
        out.extend_from_slice(n);
    }
    Ok(out)
}
