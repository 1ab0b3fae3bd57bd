//! Reconnect delays: exponential backoff with full jitter, capped, reset after a healthy session.

use std::time::Duration;

/// Exponential backoff with "full jitter": the n-th delay is uniform in `[0, min(max, initial * 2^n)]`,
/// which spreads reconnects of many cameras that failed together (a switch reboot) instead of having them
/// retry in lockstep.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A backoff starting at `initial` (the first cap) and capped at `max`.
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            attempt: 0,
            rng: fastrand::Rng::new(),
        }
    }

    /// The current cap: `min(max, initial * 2^attempt)`.
    pub(crate) fn cap(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .map_or(self.max, |d| d.min(self.max))
    }

    /// The next delay (uniform in `[0, cap]`), and advances the exponent.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let cap = self.cap();
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.u64(0..=nanos))
    }

    /// Consecutive failures since the last reset.
    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Back to the first delay (after a session that stayed healthy).
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_grow_exponentially_then_stop() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let mut caps = Vec::new();
        for _ in 0..10 {
            caps.push(b.cap().as_millis());
            let d = b.next_delay();
            assert!(d <= Duration::from_secs(30));
        }
        assert_eq!(
            caps,
            vec![
                500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000
            ]
        );
        b.reset();
        assert_eq!(b.cap(), Duration::from_millis(500));
        assert_eq!(b.attempt(), 0);
    }

    #[test]
    fn delays_are_jittered_within_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(8), Duration::from_secs(8));
        let delays: Vec<Duration> = (0..200).map(|_| b.next_delay()).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(8)));
        let mean = delays.iter().map(|d| d.as_secs_f64()).sum::<f64>() / delays.len() as f64;
        // Uniform on [0, 8]: mean 4; 200 samples put it well inside 3..5.
        assert!((3.0..5.0).contains(&mean), "mean {mean}");
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 150);
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..100 {
            b.next_delay();
        }
        assert_eq!(b.cap(), Duration::from_secs(60));
    }
}
