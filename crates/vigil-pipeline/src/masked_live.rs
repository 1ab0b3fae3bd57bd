//! The live view of a camera with privacy masks: what viewers receive is decoded, masked and encoded
//! again (`vigil_media::stream_encode`), so a masked area never reaches a browser, not even for a
//! frame. Runs on a thread of its own, only while someone watches; the camera's sink hands it frames
//! without waiting ([`MaskedLive::offer`]) and, when the thread is behind, drops frames up to the next
//! key frame (the live view skips, recording never does).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use tracing::{info, warn};
use vigil_core::{EncodedFrame, VideoParams};
use vigil_media::stream_encode::StreamEncoder;
use vigil_media::{Converter, DecoderOptions, VideoDecoder};
use vigil_mp4::live_hub::LivePublisher;
use vigil_rules::{PrivacyMask, black_out_masks};

/// Frames queued for the masking thread before the live view skips to the next key frame.
pub const QUEUE: usize = 32;

enum Input {
    Frame(EncodedFrame),
    Discontinuity,
}

/// The camera side of a masked live view.
pub struct MaskedLive {
    tx: SyncSender<Input>,
    /// A frame was dropped: send nothing until the next key frame.
    resync: bool,
}

impl MaskedLive {
    /// The camera side, and the masking loop publishing into `publisher` (run it on a thread of its
    /// own; it returns when the camera side is dropped).
    pub fn new(
        camera: &str,
        masks: Vec<PrivacyMask>,
        publisher: LivePublisher,
    ) -> (Self, impl FnOnce() + Send + 'static) {
        let (tx, rx) = sync_channel(QUEUE);
        let name = camera.to_string();
        let run = move || run(&name, &masks, publisher, rx);
        (Self { tx, resync: false }, run)
    }

    /// Offers a frame without waiting.
    pub fn offer(&mut self, frame: &EncodedFrame) {
        if self.resync && !frame.is_key {
            return;
        }
        match self.tx.try_send(Input::Frame(frame.clone())) {
            Ok(()) => self.resync = false,
            Err(TrySendError::Full(_)) => self.resync = true,
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// The stream restarted (a new session).
    pub fn discontinuity(&mut self) {
        self.resync = true;
        let _ = self.tx.try_send(Input::Discontinuity);
    }
}

struct Coder {
    params: Arc<VideoParams>,
    decoder: VideoDecoder,
    encoder: Option<StreamEncoder>,
}

fn run(camera: &str, masks: &[PrivacyMask], mut publisher: LivePublisher, rx: Receiver<Input>) {
    let mut coder: Option<Coder> = None;
    let mut converter = Converter::new();
    // Arrival times by presentation time, for the frames inside the decoder.
    let mut arrivals: VecDeque<(i64, i64)> = VecDeque::new();
    let mut last_error_logged = false;
    while let Ok(input) = rx.recv() {
        let frame = match input {
            Input::Discontinuity => {
                publisher.discontinuity();
                coder = None;
                continue;
            }
            Input::Frame(f) => f,
        };
        if !publisher.watched() {
            // Nobody watches: no decoding; the next viewer starts at a key frame.
            coder = None;
            arrivals.clear();
            continue;
        }
        let same = coder
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(&c.params, &frame.params) || *c.params == *frame.params);
        if !same {
            if !frame.is_key {
                continue;
            }
            match VideoDecoder::from_params(&frame.params, DecoderOptions::single_thread()) {
                Ok(decoder) => {
                    coder = Some(Coder {
                        params: frame.params.clone(),
                        decoder,
                        encoder: None,
                    });
                    info!(camera, "masked live view: decoding and encoding again");
                }
                Err(e) => {
                    warn!(camera, "masked live view: no decoder: {e}");
                    coder = None;
                    continue;
                }
            }
        }
        let Some(c) = coder.as_mut() else { continue };
        arrivals.push_back((frame.pts.0, frame.received_unix_micros));
        if arrivals.len() > 64 {
            arrivals.pop_front();
        }
        let result = (|| -> Result<(), vigil_media::MediaError> {
            c.decoder.send(&frame.data, frame.pts)?;
            while let Some(decoded) = c.decoder.receive()? {
                let mut image = decoded.bgr(&mut converter, decoded.width(), decoded.height())?;
                black_out_masks(&mut image, masks);
                let encoder = match c.encoder.as_mut() {
                    Some(e) => e,
                    None => {
                        c.encoder
                            .insert(StreamEncoder::new(image.width(), image.height(), 10.0)?)
                    }
                };
                let pts = decoded.pts();
                let received = arrivals
                    .iter()
                    .find(|(p, _)| *p == pts.0)
                    .map_or(frame.received_unix_micros, |a| a.1);
                for out in encoder.encode(&image, pts, received)? {
                    publisher.publish(&out);
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => last_error_logged = false,
            Err(e) => {
                if !last_error_logged {
                    warn!(camera, "masked live view: {e}");
                    last_error_logged = true;
                }
                // Start again at the next key frame.
                coder = None;
            }
        }
    }
}
