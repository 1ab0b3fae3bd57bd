//! Reading a video file (or any URL FFmpeg opens) at the analysis rate, timing the decode stage.

use crate::PipelineError;
use crate::stats::{Stage, StageStats};
use std::path::Path;
use std::time::{Duration, Instant};
use vigil_media::source::StreamInfo;
use vigil_media::{DecodedFrame, DecoderOptions, FrameSampler, MediaError, VideoSource};

/// A file being read frame by frame; only frames picked by the rate sampler come out of [`FileRun::next`].
///
/// A file that ends early (truncated, read error) delivers every frame that decoded, then ends; the
/// problem is kept in [`FileRun::ended_early`] so the caller can report it after using what it got.
pub struct FileRun {
    source: VideoSource,
    sampler: FrameSampler,
    decode_since_last: Duration,
    last_decode: Duration,
    decoded: u64,
    analysed: u64,
    ended_early: Option<MediaError>,
    /// Stage timings: decode is recorded here per analysed frame; callers add the other stages.
    pub stats: StageStats,
}

impl FileRun {
    /// Opens `path` for analysis at `fps` frames per second (`None`: every frame), decoding with a thread
    /// per core.
    pub fn open(path: &Path, fps: Option<f64>) -> Result<Self, PipelineError> {
        Self::open_with(path, fps, DecoderOptions::default())
    }

    /// Like [`FileRun::open`] with explicit decoder options (benchmarks decode on one thread so that the
    /// decoder's CPU time is spent inside [`FileRun::next_frame`]).
    pub fn open_with(
        path: &Path,
        fps: Option<f64>,
        decoder: DecoderOptions,
    ) -> Result<Self, PipelineError> {
        let source = VideoSource::open_with(path, decoder)?;
        let sampler = match fps {
            Some(f) if f > 0.0 && f < source.info().fps => FrameSampler::new(f),
            _ => FrameSampler::every_frame(),
        };
        Ok(Self {
            source,
            sampler,
            decode_since_last: Duration::ZERO,
            last_decode: Duration::ZERO,
            decoded: 0,
            analysed: 0,
            ended_early: None,
            stats: StageStats::new(),
        })
    }

    /// The stream's properties.
    pub fn info(&self) -> &StreamInfo {
        self.source.info()
    }

    /// The frame rate frames come out at (the analysis rate, or the source's when it is lower).
    pub fn analysis_fps(&self, requested: Option<f64>) -> f64 {
        let source = self.source.info().fps;
        match requested {
            Some(f) if f > 0.0 && (source <= 0.0 || f < source) => f,
            _ if source > 0.0 => source,
            _ => requested.unwrap_or(5.0),
        }
    }

    /// The next frame to analyse; `None` at the end of the stream (or after an early end, see
    /// [`FileRun::ended_early`]). The time spent decoding it and the frames skipped before it is recorded
    /// as the decode stage.
    pub fn next_frame(&mut self) -> Option<DecodedFrame> {
        loop {
            let t = Instant::now();
            let next = self.source.next_frame();
            self.decode_since_last += t.elapsed();
            match next {
                Ok(Some(frame)) => {
                    self.decoded += 1;
                    if self.sampler.accept(frame.pts()) {
                        self.analysed += 1;
                        self.last_decode = std::mem::take(&mut self.decode_since_last);
                        self.stats.record(Stage::Decode, self.last_decode);
                        return Some(frame);
                    }
                }
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!("{e}");
                    self.ended_early = Some(e);
                    return None;
                }
            }
        }
    }

    /// Decode time spent for the last frame handed out (it and the skipped frames before it).
    pub fn last_decode(&self) -> Duration {
        self.last_decode
    }

    /// Frames decoded so far (analysed or skipped).
    pub fn decoded(&self) -> u64 {
        self.decoded
    }

    /// Frames handed out for analysis so far.
    pub fn analysed(&self) -> u64 {
        self.analysed
    }

    /// Why the stream ended before its end, if it did.
    pub fn ended_early(&self) -> Option<&MediaError> {
        self.ended_early.as_ref()
    }

    /// Takes the early-end error, if any.
    pub fn take_ended_early(&mut self) -> Option<MediaError> {
        self.ended_early.take()
    }

    /// Frames with decoding errors concealed so far, and corrupt packets.
    pub fn damage(&self) -> (u64, u64) {
        let s = self.source.stats();
        (s.concealed_frames, s.corrupt_packets)
    }
}
