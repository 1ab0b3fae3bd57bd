//! Live view: turns a camera's frames, as they arrive, into a fragmented MP4 stream for Media Source
//! Extensions — an init segment whenever the parameters change, then one media segment per GOP (or
//! per `max_fragment` of video, whichever ends first). A frame's duration (decode time to the next
//! frame's decode time) is known when the next one arrives, so a fragment is emitted one frame after its
//! end. B-frames keep their composition offsets (a version 1 `trun`), so the browser shows them in order.

use super::fragment::{FragmentSample, init_segment, media_segment, producer_reference_time};
use std::sync::Arc;
use vigil_core::{EncodedFrame, VideoParams};

/// What [`LiveFragmenter::push`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveOutput {
    /// An init segment (`ftyp` + `moov`): (re)initialize the player's source buffer with it.
    Init {
        /// The bytes.
        data: Vec<u8>,
        /// RFC 6381 codec string for `MediaSource.isTypeSupported` / `addSourceBuffer`.
        codec: String,
    },
    /// A media segment (`moof` + `mdat`).
    Media(Vec<u8>),
}

/// Builds live fMP4 from frames. Frames before the first key frame (and after a parameter change or a
/// [`LiveFragmenter::restart`], until a key frame) are skipped: a player cannot start from them. The media
/// timeline (each fragment's decode time) runs on without a jump across parameter changes and restarts.
pub struct LiveFragmenter {
    params: Option<Arc<VideoParams>>,
    frames: Vec<EncodedFrame>,
    durations: Vec<u32>,
    sequence: u32,
    base: u64,
    max_fragment: u64,
    nominal: u32,
    producer_time: bool,
    immediate: bool,
    /// Decode time of the last frame taken (immediate mode).
    last_dts: Option<i64>,
}

/// Longest plausible frame duration (5 s); longer or negative deltas use the last good duration.
const MAX_FRAME: i64 = 5 * 90_000;

impl LiveFragmenter {
    /// A fragmenter emitting at least every `max_fragment_90k` ticks of video (0: every frame).
    pub fn new(max_fragment_90k: u64) -> Self {
        Self {
            params: None,
            frames: Vec::new(),
            durations: Vec::new(),
            sequence: 0,
            base: 0,
            max_fragment: max_fragment_90k,
            nominal: 3000,
            producer_time: false,
            immediate: false,
            last_dts: None,
        }
    }

    /// A fragmenter emitting every frame as its own media segment the moment it arrives (lowest latency
    /// for live view). A frame's duration is not known yet then: it gets the last measured frame interval,
    /// so the live timeline runs at the camera's recent frame rate without gaps or overlaps.
    pub fn immediate() -> Self {
        Self {
            immediate: true,
            ..Self::new(0)
        }
    }

    /// Starts every media segment with a `prft` box holding the wall-clock time its first frame was
    /// received ([`EncodedFrame::received_unix_micros`]), so viewers can measure latency.
    pub fn with_producer_time(mut self) -> Self {
        self.producer_time = true;
        self
    }

    /// Takes the next frame; returns the segments that are now complete, in order.
    pub fn push(&mut self, frame: &EncodedFrame) -> Vec<LiveOutput> {
        let mut out = Vec::new();
        let changed = self
            .params
            .as_ref()
            .is_some_and(|p| !Arc::ptr_eq(p, &frame.params) && **p != *frame.params);
        if self.immediate {
            if let Some(last) = self.last_dts {
                let d = frame.dts().0 - last;
                if d > 0 && d <= MAX_FRAME {
                    self.nominal = d as u32;
                }
            }
            self.last_dts = Some(frame.dts().0);
            if changed {
                self.params = None;
            }
            if self.start(frame, &mut out) {
                self.frames.push(frame.clone());
                self.durations.push(self.nominal);
                out.extend(self.flush());
            }
            return out;
        }
        if let Some(last) = self.frames.last() {
            let d = frame.dts().0 - last.dts().0;
            let d = if d > 0 && d <= MAX_FRAME {
                self.nominal = d as u32;
                d as u32
            } else {
                self.nominal
            };
            self.durations.push(d);
            let fragment: u64 = self.durations.iter().map(|&d| u64::from(d)).sum();
            if frame.is_key || changed || fragment >= self.max_fragment {
                out.extend(self.flush());
            }
        }
        if changed {
            self.frames.clear();
            self.durations.clear();
            self.params = None;
        }
        if self.start(frame, &mut out) {
            self.frames.push(frame.clone());
        }
        out
    }

    /// Before the first frame of a stream (or after a parameter change): starts at a key frame with an
    /// init segment. Returns false while waiting for one.
    fn start(&mut self, frame: &EncodedFrame, out: &mut Vec<LiveOutput>) -> bool {
        if self.params.is_some() {
            return true;
        }
        if !frame.is_key {
            return false;
        }
        self.params = Some(frame.params.clone());
        out.push(LiveOutput::Init {
            data: init_segment(&frame.params.sample_entry),
            codec: frame.params.rfc6381_codec.clone(),
        });
        true
    }

    /// The stream was interrupted (a camera reconnect): drops the frames held, and starts again at the
    /// next key frame with a new init segment. The media timeline continues where it was, so a player
    /// fed from this fragmenter keeps playing forward.
    pub fn restart(&mut self) {
        self.frames.clear();
        self.durations.clear();
        self.params = None;
        self.last_dts = None;
    }

    /// Emits the frames still held (the stream ended); the last one gets the nominal duration.
    pub fn finish(&mut self) -> Option<LiveOutput> {
        if self.frames.len() > self.durations.len() {
            self.durations.push(self.nominal);
        }
        self.flush()
    }

    fn flush(&mut self) -> Option<LiveOutput> {
        if self.durations.is_empty() {
            return None;
        }
        let n = self.durations.len();
        let samples: Vec<FragmentSample> = self.frames[..n]
            .iter()
            .zip(&self.durations)
            .map(|(f, &d)| FragmentSample {
                duration: d,
                size: f.data.len() as u32,
                is_key: f.is_key,
                composition_offset: f.composition_offset,
            })
            .collect();
        let data: Vec<&[u8]> = self.frames[..n].iter().map(|f| &f.data[..]).collect();
        self.sequence = self.sequence.wrapping_add(1);
        let mut seg = media_segment(self.sequence, self.base, &samples, &data);
        if self.producer_time {
            let received = self.frames.first().map_or(0, |f| f.received_unix_micros);
            let mut prft = producer_reference_time(received, self.base);
            prft.append(&mut seg);
            seg = prft;
        }
        self.base += samples.iter().map(|s| u64::from(s.duration)).sum::<u64>();
        self.frames.drain(..n);
        self.durations.clear();
        Some(LiveOutput::Media(seg))
    }
}
