//! Latency figures, in one place: nearest-rank percentiles, a summary (count, p50, p99, max) and a window
//! of recent samples that live code keeps for `/metrics` (segment commits, event writes).

use serde::Serialize;
use std::collections::VecDeque;
use std::time::Duration;

/// The `p`-th percentile (0..=100) of `values` by nearest rank; 0 for no values.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[nearest_rank(sorted.len(), p)]
}

/// The `p`-th percentile (0..=100) of `sorted` (ascending) by nearest rank; zero for no values.
pub fn percentile_sorted(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[nearest_rank(sorted.len(), p)]
}

fn nearest_rank(n: usize, p: f64) -> usize {
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    rank.clamp(1, n) - 1
}

/// Count, median, 99th percentile and maximum of some latencies, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: usize,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Maximum, ms.
    pub max_ms: f64,
}

impl LatencySummary {
    /// The summary of `samples` (any order).
    pub fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        Self {
            count: samples.len(),
            p50_ms: ms(percentile_sorted(&samples, 50.0)),
            p99_ms: ms(percentile_sorted(&samples, 99.0)),
            max_ms: samples.last().map_or(0.0, |d| ms(*d)),
        }
    }
}

/// The last `capacity` latencies of something, for live percentiles.
#[derive(Debug, Clone)]
pub struct LatencyWindow {
    samples: VecDeque<Duration>,
    capacity: usize,
    total: u64,
}

impl LatencyWindow {
    /// A window of the last `capacity` samples.
    pub fn new(capacity: usize) -> Self {
        Self {
            samples: VecDeque::with_capacity(capacity.min(4096)),
            capacity: capacity.max(1),
            total: 0,
        }
    }

    /// Adds one sample, forgetting the oldest beyond the capacity.
    pub fn push(&mut self, d: Duration) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(d);
        self.total += 1;
    }

    /// Samples ever pushed.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The summary of the samples in the window.
    pub fn summary(&self) -> LatencySummary {
        LatencySummary::of(self.samples.iter().copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_and_a_bounded_window() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
        let mut w = LatencyWindow::new(10);
        for i in 1..=20 {
            w.push(Duration::from_millis(i));
        }
        let s = w.summary();
        assert_eq!((s.count, s.p50_ms, s.max_ms), (10, 15.0, 20.0));
        assert_eq!(w.total(), 20);
    }
}
