//! Write latency per storage directory as a storage condition (`slow_writes`).
//!
//! A segment's write latency is the time from finishing its file (the fsync of its data and of the
//! directory) to its row committed in the index: what it takes to make a minute of footage durable. A
//! healthy SSD does it in tens of milliseconds, a hard disk in a few hundred. The condition is on while
//! the 99th percentile over the last [`WINDOW_MS`] is both [`SLOW_FACTOR`] times the directory's own
//! normal (the median of its last [`NORMAL_SAMPLES`] writes) and at least [`SLOW_FLOOR`]: the floor
//! because a recorder's queue (`queue_frames`, 256 frames: about 10 s at 25 fps) absorbs anything
//! shorter with room to spare, and a warning at 2 s comes well before the queue is half full
//! (`recorder_behind`) or frames are lost; the factor because a disk that is always slow is the
//! installer's choice, while one ten times slower than itself is failing (sectors being remapped, an SMR
//! drive rewriting its cache, a dying SD card, a network share stalling). It ends once the 99th
//! percentile is back under half the threshold (a gap, so that a disk on the edge does not flap).

use std::collections::VecDeque;
use std::time::Duration;
use vigil_core::latency::{LatencyWindow, percentile_sorted};

/// The window the 99th percentile is taken over (ms).
pub(crate) const WINDOW_MS: i64 = 600_000;
/// Writes the normal (the median) is learned from.
pub(crate) const NORMAL_SAMPLES: usize = 1024;
/// Fewest writes in the window before anything is judged (one camera writes a segment a minute).
pub(crate) const MIN_RECENT: usize = 5;
/// How many times its normal a directory's 99th percentile must be to be slow.
pub(crate) const SLOW_FACTOR: f64 = 10.0;
/// The least 99th percentile that is slow, whatever the normal.
pub(crate) const SLOW_FLOOR: Duration = Duration::from_secs(2);

/// One directory's recent writes.
#[derive(Debug)]
pub(crate) struct DirWrites {
    recent: VecDeque<(i64, Duration)>,
    normal: LatencyWindow,
    slow: bool,
}

impl Default for DirWrites {
    fn default() -> Self {
        DirWrites {
            recent: VecDeque::new(),
            normal: LatencyWindow::new(NORMAL_SAMPLES),
            slow: false,
        }
    }
}

/// What the latest write says about a directory.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Judgement {
    /// Slow: the sentence for people.
    Slow(String),
    /// Well (again).
    Well,
    /// Too few writes to say, or between the thresholds: nothing changes.
    Same,
}

impl DirWrites {
    /// Adds a write of `took` at `now_ms` and judges directory `dir`.
    pub(crate) fn push(&mut self, dir: &str, now_ms: i64, took: Duration) -> Judgement {
        self.recent.push_back((now_ms, took));
        while self
            .recent
            .front()
            .is_some_and(|(t, _)| now_ms - t > WINDOW_MS)
        {
            self.recent.pop_front();
        }
        self.normal.push(took);
        if self.recent.len() < MIN_RECENT {
            return Judgement::Same;
        }
        let mut recent: Vec<Duration> = self.recent.iter().map(|(_, d)| *d).collect();
        recent.sort();
        let p99 = percentile_sorted(&recent, 99.0);
        let normal = Duration::from_secs_f64(self.normal.summary().p50_ms / 1000.0);
        let threshold = SLOW_FLOOR.max(normal.mul_f64(SLOW_FACTOR));
        if p99 >= threshold {
            self.slow = true;
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            return Judgement::Slow(format!(
                "storage '{dir}' is writing slowly: making a segment durable took {:.1} s at the 99th \
                 percentile over the last {} minutes, where it usually takes {:.0} ms (a failing disk, \
                 or another load on it: check the disk's health)",
                ms(p99) / 1000.0,
                WINDOW_MS / 60_000,
                ms(normal)
            ));
        }
        if self.slow && p99 < threshold / 2 {
            self.slow = false;
            return Judgement::Well;
        }
        if self.slow {
            Judgement::Same
        } else {
            Judgement::Well
        }
    }
}

impl crate::store::Inner {
    /// Records that making a segment durable in directory `dir` (index in `dirs`) took `took`, and raises
    /// or clears its `slow_writes` condition.
    pub(crate) fn judge_write_latency(&self, dir: usize, took: Duration) {
        let Some(d) = self.dirs.get(dir) else {
            return;
        };
        let now = vigil_core::time::now_unix_ms();
        let judgement = crate::alerts::lock(&self.state)
            .dir_latency
            .entry(dir)
            .or_default()
            .push(&d.name, now, took);
        let kind = crate::alerts::AlertKind::SlowWrites;
        match judgement {
            Judgement::Slow(sentence) => self.alerts.raise(
                kind,
                crate::alerts::Severity::Warning,
                Some(&d.name),
                None,
                sentence,
            ),
            Judgement::Well => self.alerts.clear(kind, Some(&d.name), None),
            Judgement::Same => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn a_disk_ten_times_slower_than_itself_and_over_two_seconds_is_slow_until_it_recovers() {
        let mut d = DirWrites::default();
        let mut t = 0i64;
        let mut step = |d: &mut DirWrites, took: Duration| {
            t += 60_000;
            d.push("main", t, took)
        };
        // Too few writes: no judgement.
        for _ in 0..MIN_RECENT - 1 {
            assert_eq!(step(&mut d, ms(40)), Judgement::Same);
        }
        // Two hours of a healthy SSD with an occasional 300 ms hiccup: well.
        for i in 0..120 {
            let took = if i % 20 == 0 { ms(300) } else { ms(40) };
            assert_eq!(step(&mut d, took), Judgement::Well, "write {i}");
        }
        // The disk starts to fail: writes take 2.5 s.
        let mut got = Judgement::Same;
        for _ in 0..3 {
            got = step(&mut d, ms(2_500));
        }
        let Judgement::Slow(sentence) = got else {
            panic!("not slow: {got:?}");
        };
        assert!(
            sentence.contains("'main'")
                && sentence.contains("2.5 s")
                && sentence.contains("usually takes 40 ms"),
            "{sentence}"
        );
        // Healthy again: the 2.5 s writes leave the 10-minute window and it ends.
        let mut ended_after = None;
        for i in 0..12 {
            if step(&mut d, ms(40)) == Judgement::Well {
                ended_after = Some(i + 1);
                break;
            }
        }
        assert_eq!(
            ended_after,
            Some(11),
            "ends once the last slow write is over 10 minutes old"
        );
    }

    #[test]
    fn a_disk_that_is_always_slow_or_slow_under_two_seconds_is_not_a_condition() {
        // A network share whose every write takes 1.5 s: its normal.
        let mut d = DirWrites::default();
        for i in 0..4 {
            assert_eq!(d.push("nas", i * 60_000, ms(1_500)), Judgement::Same);
        }
        for i in 4..60 {
            assert_eq!(d.push("nas", i * 60_000, ms(1_500)), Judgement::Well);
        }
        // A fast disk whose writes go from 20 ms to 1.5 s: 75 times slower, but under the floor.
        let mut d = DirWrites::default();
        for i in 0..60 {
            d.push("ssd", i * 60_000, ms(20));
        }
        for i in 60..70 {
            assert_eq!(d.push("ssd", i * 60_000, ms(1_500)), Judgement::Well);
        }
    }
}
