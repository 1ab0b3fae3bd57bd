//! Choosing which decoded frames to analyse, and at what size.
//!
//! Every frame is still decoded (inter prediction needs it); the sampler only decides which ones get
//! converted and analysed, by timestamp, so it keeps an even rate on variable-frame-rate streams and
//! recovers after timestamp gaps or jumps.

use vigil_core::{TICKS_PER_SECOND, Time90k};

/// Picks frames at a target rate by presentation time, counting what it delivers and skips.
///
/// ```
/// # use vigil_media::FrameSampler;
/// # use vigil_core::Time90k;
/// let mut sampler = FrameSampler::new(5.0); // 5 fps out of a 10 fps stream
/// let kept: Vec<bool> = (0..6).map(|i| sampler.accept(Time90k(i * 9000))).collect();
/// assert_eq!(kept, [true, false, true, false, true, false]);
/// ```
#[derive(Debug, Clone)]
pub struct FrameSampler {
    /// Ticks between delivered frames; 0 delivers everything.
    interval: i64,
    /// Time at which the next frame is due.
    next_due: Option<i64>,
    /// Smoothed spacing of the source's frames (ticks), for the tolerance on early frames.
    source_step: i64,
    last_pts: Option<i64>,
    delivered: u64,
    skipped: u64,
}

/// A timestamp this far before the previous one is a clock reset, not reordering.
const BACKWARD_JUMP: i64 = TICKS_PER_SECOND;

impl FrameSampler {
    /// Delivers about `fps` frames per second of stream time. A rate of 0, negative or not finite
    /// delivers every frame; a rate at or above the source's delivers every frame too.
    pub fn new(fps: f64) -> Self {
        let interval = if fps.is_finite() && fps > 0.0 {
            (TICKS_PER_SECOND as f64 / fps).round() as i64
        } else {
            0
        };
        Self {
            interval,
            next_due: None,
            source_step: 0,
            last_pts: None,
            delivered: 0,
            skipped: 0,
        }
    }

    /// Delivers every frame.
    pub fn every_frame() -> Self {
        Self::new(0.0)
    }

    /// Whether the frame at `pts` should be analysed. Call once per decoded frame, in output order.
    pub fn accept(&mut self, pts: Time90k) -> bool {
        if self.interval == 0 {
            self.delivered += 1;
            return true;
        }
        let pts = pts.0;
        if let Some(last) = self.last_pts {
            let step = pts - last;
            if step > 0 && step <= TICKS_PER_SECOND {
                // Exponential average of the source's frame spacing (1/4 weight to the newest).
                self.source_step = if self.source_step == 0 {
                    step
                } else {
                    (3 * self.source_step + step) / 4
                };
            }
            if pts < last - BACKWARD_JUMP {
                // The clock went back (camera restart, stream loop): start over from here.
                self.next_due = None;
            }
        }
        self.last_pts = Some(pts);
        let take = match self.next_due {
            None => true,
            // A frame within half a source frame of its due time counts as on time (timestamp jitter).
            Some(due) => pts + self.source_step.min(self.interval) / 2 >= due,
        };
        if take {
            self.delivered += 1;
            let due = self.next_due.map_or(pts, |d| d) + self.interval;
            // Keep the long-run rate exact, but after a gap do not burst to catch up.
            self.next_due = Some(if due <= pts { pts + self.interval } else { due });
        } else {
            self.skipped += 1;
        }
        take
    }

    /// Frames accepted so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Frames declined so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// A size limit for analysis frames: the largest size that fits within `max_width` x `max_height`,
/// keeping the aspect ratio, never enlarging, with even dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalysisSize {
    /// Largest width.
    pub max_width: u32,
    /// Largest height.
    pub max_height: u32,
}

impl AnalysisSize {
    /// A limit of `max_width` x `max_height`.
    pub fn new(max_width: u32, max_height: u32) -> Self {
        Self {
            max_width,
            max_height,
        }
    }

    /// A limit on width only.
    pub fn width(max_width: u32) -> Self {
        Self::new(max_width, u32::MAX)
    }

    /// The analysis size for a `width` x `height` source (at least 2 x 2).
    pub fn fit(&self, width: u32, height: u32) -> (u32, u32) {
        if width == 0 || height == 0 {
            return (2, 2);
        }
        let scale = (self.max_width as f64 / width as f64)
            .min(self.max_height as f64 / height as f64)
            .min(1.0);
        let even = |v: f64| ((v.round() as u32) & !1).max(2);
        (even(width as f64 * scale), even(height as f64 * scale))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(sampler: &mut FrameSampler, pts: impl IntoIterator<Item = i64>) -> Vec<i64> {
        pts.into_iter()
            .filter(|&p| sampler.accept(Time90k(p)))
            .collect()
    }

    #[test]
    fn five_of_fifteen_takes_every_third() {
        let mut s = FrameSampler::new(5.0);
        let got = run(&mut s, (0..30).map(|i| i * 6000));
        assert_eq!(got, (0..10).map(|i| i * 18000).collect::<Vec<_>>());
        assert_eq!((s.delivered(), s.skipped()), (10, 20));
    }

    #[test]
    fn jittery_timestamps_keep_an_even_rate() {
        // 15 fps with +-1 ms jitter (camera clocks): still every third frame.
        let mut s = FrameSampler::new(5.0);
        let jitter = [0, 90, -90, 45, -45, 0];
        let pts = (0..60).map(|i| i * 6000 + jitter[i as usize % jitter.len()]);
        let got = run(&mut s, pts);
        assert_eq!(got.len(), 20);
        for w in got.windows(2) {
            let d = w[1] - w[0];
            assert!((17_800..=18_200).contains(&d), "spacing {d}");
        }
    }

    #[test]
    fn variable_frame_rate_is_sampled_by_time() {
        // 2 s at 30 fps, then 2 s at 10 fps: 5 fps means ~10 frames in each half.
        let mut s = FrameSampler::new(5.0);
        let mut pts: Vec<i64> = (0..60).map(|i| i * 3000).collect();
        pts.extend((0..20).map(|i| 180_000 + i * 9000));
        let got = run(&mut s, pts);
        let first = got.iter().filter(|&&p| p < 180_000).count();
        let second = got.len() - first;
        assert_eq!((first, second), (10, 10), "{got:?}");
    }

    #[test]
    fn gap_does_not_cause_a_burst() {
        // 10 fps, then 5 s without frames, then 10 fps again.
        let mut s = FrameSampler::new(2.0);
        let mut pts: Vec<i64> = (0..20).map(|i| i * 9000).collect();
        pts.extend((0..20).map(|i| 630_000 + i * 9000));
        let got = run(&mut s, pts);
        for w in got.windows(2) {
            assert!(w[1] - w[0] >= 45_000 - 4500, "burst {w:?}");
        }
        assert_eq!(got.len(), 8, "{got:?}");
    }

    #[test]
    fn clock_reset_restarts_sampling() {
        let mut s = FrameSampler::new(5.0);
        let mut pts: Vec<i64> = (0..20).map(|i| 900_000 + i * 9000).collect();
        pts.extend((0..20).map(|i| i * 9000));
        let got = run(&mut s, pts);
        assert_eq!(got.len(), 20, "{got:?}");
        assert!(got.contains(&0));
    }

    #[test]
    fn higher_target_than_source_keeps_everything() {
        let mut s = FrameSampler::new(30.0);
        assert_eq!(run(&mut s, (0..50).map(|i| i * 9000)).len(), 50);
        let mut all = FrameSampler::every_frame();
        assert_eq!(run(&mut all, [0, 0, 10, 5, 90_000]).len(), 5);
    }

    #[test]
    fn analysis_size_keeps_aspect_and_even() {
        assert_eq!(AnalysisSize::width(320).fit(768, 432), (320, 180));
        assert_eq!(AnalysisSize::new(640, 640).fit(1920, 1080), (640, 360));
        assert_eq!(AnalysisSize::new(640, 360).fit(480, 270), (480, 270));
        assert_eq!(AnalysisSize::new(100, 100).fit(333, 999), (32, 100));
        assert_eq!(AnalysisSize::new(4000, 4000).fit(641, 481), (640, 480));
        assert_eq!(AnalysisSize::new(10, 10).fit(0, 5), (2, 2));
    }
}
