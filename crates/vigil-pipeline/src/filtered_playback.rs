//! Playback of recordings that must not reach a viewer as recorded: the camera's privacy masks blacked
//! out and, when `[privacy] watermark` is on, the viewer's name and the time burned in. The recorded
//! frames are decoded, changed and encoded again (`vigil_media::stream_encode`, libx264 ultrafast /
//! zerolatency, a key frame every 2 s), then written out as a fragmented MP4 one fragment (about a
//! second) at a time, so the player starts after the first fragment instead of waiting for the whole
//! range. Frame times are kept.

use crate::PipelineError;
use crate::redact::burn_watermark;
use std::sync::Arc;
use vigil_core::{EncodedFrame, VideoParams};
use vigil_media::stream_encode::StreamEncoder;
use vigil_media::{Converter, DecoderOptions, VideoDecoder};
use vigil_mp4::live::{LiveFragmenter, LiveOutput};
use vigil_rules::{PrivacyMask, black_out_masks};

/// Longest fragment written (90 kHz): about a second of video reaches the player at a time.
const FRAGMENT_90K: u64 = 90_000;

/// What a filtered playback did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilteredPlayback {
    /// Frames written.
    pub frames: u64,
    /// Bytes written.
    pub bytes: u64,
}

struct Coder {
    params: Arc<VideoParams>,
    decoder: VideoDecoder,
}

/// Decodes `frames` (a recording, in decode order), blacks out `masks`, burns in `watermark`, encodes
/// again and hands the fragmented MP4 to `out` piece by piece (an init segment, then one `moof` + `mdat`
/// per fragment). `out` failing (the viewer went away) ends it with that error.
pub fn reencode_to_fmp4(
    frames: impl Iterator<Item = Result<EncodedFrame, String>>,
    masks: &[PrivacyMask],
    watermark: Option<&str>,
    out: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<FilteredPlayback, PipelineError> {
    let mut done = FilteredPlayback::default();
    let mut coder: Option<Coder> = None;
    let mut encoder: Option<StreamEncoder> = None;
    let mut converter = Converter::new();
    let mut fragmenter = LiveFragmenter::new(FRAGMENT_90K);
    let mut last_pts: Option<i64> = None;
    let mut write = |o: LiveOutput, done: &mut FilteredPlayback| -> Result<(), PipelineError> {
        let data = match &o {
            LiveOutput::Init { data, .. } | LiveOutput::Media(data) => data,
        };
        done.bytes += data.len() as u64;
        out(data).map_err(|e| PipelineError::Config(format!("the viewer went away: {e}")))
    };
    // Takes what the decoder has ready, changes it, encodes it, writes the fragments completed.
    let mut drain = |decoder: &mut VideoDecoder,
                     encoder: &mut Option<StreamEncoder>,
                     fragmenter: &mut LiveFragmenter,
                     done: &mut FilteredPlayback|
     -> Result<(), PipelineError> {
        while let Some(decoded) = decoder.receive()? {
            let mut image = decoded.bgr(&mut converter, decoded.width(), decoded.height())?;
            black_out_masks(&mut image, masks);
            if let Some(text) = watermark {
                burn_watermark(&mut image, text);
            }
            // Presentation times must increase; a repeated time (broken source) moves on by one tick.
            let pts = match last_pts {
                Some(last) if decoded.pts().0 <= last => last + 1,
                _ => decoded.pts().0,
            };
            last_pts = Some(pts);
            let enc = match encoder.as_mut() {
                Some(e) => e,
                None => encoder.insert(StreamEncoder::new(image.width(), image.height(), 10.0)?),
            };
            for frame in enc.encode(&image, vigil_core::Time90k(pts), 0)? {
                for o in fragmenter.push(&frame) {
                    write(o, done)?;
                }
                done.frames += 1;
            }
        }
        Ok(())
    };
    for frame in frames {
        let frame = frame.map_err(PipelineError::Config)?;
        let same = coder
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(&c.params, &frame.params) || *c.params == *frame.params);
        if !same {
            // New parameters: what the old decoder holds comes out first.
            if let Some(c) = coder.as_mut() {
                c.decoder.flush()?;
                drain(&mut c.decoder, &mut encoder, &mut fragmenter, &mut done)?;
            }
            coder = Some(Coder {
                params: frame.params.clone(),
                decoder: VideoDecoder::from_params(&frame.params, DecoderOptions::single_thread())?,
            });
        }
        let Some(c) = coder.as_mut() else { continue };
        c.decoder.send(&frame.data, frame.pts)?;
        drain(&mut c.decoder, &mut encoder, &mut fragmenter, &mut done)?;
    }
    if let Some(c) = coder.as_mut() {
        c.decoder.flush()?;
        drain(&mut c.decoder, &mut encoder, &mut fragmenter, &mut done)?;
    }
    if let Some(o) = fragmenter.finish() {
        write(o, &mut done)?;
    }
    Ok(done)
}
