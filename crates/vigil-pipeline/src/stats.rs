//! Measurement helpers for benchmarks and summaries: per-stage latency percentiles, process CPU time and
//! peak resident memory.

use serde::Serialize;
use std::time::Duration;

/// The pipeline stages that are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Demuxing and decoding (every frame, analysed or not), per analysed frame.
    Decode,
    /// Gray conversion, motion detection and region planning.
    Motion,
    /// BGR conversion for the detector.
    Convert,
    /// Detector input preparation (letterbox, normalisation).
    Preprocess,
    /// The ONNX Runtime call.
    Inference,
    /// Output decoding, NMS, region merging.
    Postprocess,
    /// Tracker update.
    Tracking,
    /// Behaviour rules.
    Rules,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 8] = [
        Stage::Decode,
        Stage::Motion,
        Stage::Convert,
        Stage::Preprocess,
        Stage::Inference,
        Stage::Postprocess,
        Stage::Tracking,
        Stage::Rules,
    ];

    /// Lower-case name.
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Motion => "motion",
            Stage::Convert => "convert",
            Stage::Preprocess => "preprocess",
            Stage::Inference => "inference",
            Stage::Postprocess => "postprocess",
            Stage::Tracking => "tracking",
            Stage::Rules => "rules",
        }
    }
}

/// Collected stage durations.
#[derive(Debug, Clone, Default)]
pub struct StageStats {
    samples: [Vec<f64>; 8],
}

/// Summary of one stage.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StageSummary {
    /// The stage.
    pub stage: Stage,
    /// Number of times it ran.
    pub count: usize,
    /// Total time in milliseconds.
    pub total_ms: f64,
    /// Median duration in milliseconds.
    pub median_ms: f64,
    /// 99th percentile duration in milliseconds (nearest rank).
    pub p99_ms: f64,
}

impl StageStats {
    /// Empty statistics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one run of `stage`.
    pub fn record(&mut self, stage: Stage, duration: Duration) {
        self.samples[stage as usize].push(duration.as_secs_f64() * 1000.0);
    }

    /// Records the stages of one analysed frame (stages that did not run are not recorded).
    pub fn record_frame(&mut self, timings: &crate::FrameTimings) {
        let d = &timings.detector;
        for (stage, duration) in [
            (Stage::Motion, timings.motion),
            (Stage::Convert, timings.convert),
            (Stage::Preprocess, d.preprocess),
            (Stage::Inference, d.inference),
            (Stage::Postprocess, d.postprocess),
        ] {
            if !duration.is_zero() {
                self.record(stage, duration);
            }
        }
        self.record(Stage::Tracking, timings.tracking);
    }

    /// Summary of every stage that ran at least once, in pipeline order.
    pub fn summary(&self) -> Vec<StageSummary> {
        Stage::ALL
            .iter()
            .filter_map(|&stage| {
                let s = &self.samples[stage as usize];
                (!s.is_empty()).then(|| StageSummary {
                    stage,
                    count: s.len(),
                    total_ms: s.iter().sum(),
                    median_ms: percentile(s, 50.0),
                    p99_ms: percentile(s, 99.0),
                })
            })
            .collect()
    }
}

pub use vigil_core::latency::percentile;

/// CPU time (user + system) consumed by this process so far, all threads included.
pub fn process_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Peak resident memory of this process in bytes, if the platform reports it. The kernel updates its
/// high-water mark (`VmHWM`) lazily, so it can trail the current usage; the peak is at least that.
pub fn peak_rss_bytes() -> Option<u64> {
    let hwm = proc_status_kib("VmHWM:")?;
    Some(hwm.max(proc_status_kib("VmRSS:").unwrap_or(0)) * 1024)
}

/// Current resident memory of this process in bytes (`VmRSS`), if the platform reports it.
pub fn current_rss_bytes() -> Option<u64> {
    proc_status_kib("VmRSS:").map(|k| k * 1024)
}

/// Resets the peak resident memory mark to the current usage (Linux `clear_refs` 5), so a later
/// [`peak_rss_bytes`] measures one phase. Returns false where that is not supported.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn proc_status_kib(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn summaries_only_for_stages_that_ran() {
        let mut s = StageStats::new();
        s.record(Stage::Inference, Duration::from_millis(20));
        s.record(Stage::Inference, Duration::from_millis(10));
        let sum = s.summary();
        assert_eq!(sum.len(), 1);
        assert_eq!(sum[0].stage, Stage::Inference);
        assert_eq!(sum[0].count, 2);
        assert!((sum[0].total_ms - 30.0).abs() < 1e-9);
    }

    #[test]
    fn cpu_time_advances_with_work_and_memory_is_reported() {
        let before = process_cpu_time();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(process_cpu_time() > before);
        let peak = peak_rss_bytes().unwrap_or(0);
        let now = current_rss_bytes().unwrap_or(0);
        assert!(peak >= now && now > 0, "peak {peak} now {now}");
    }
}
