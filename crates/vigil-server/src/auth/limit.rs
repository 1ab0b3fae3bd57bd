//! Login protection: per-IP slowing and blocking, per-account lockout with exponential backoff. Kept in
//! memory (bounded), keyed by the account name typed, so unknown and known names behave the same.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Thresholds.
#[derive(Debug, Clone)]
pub struct LoginLimits {
    /// Failures from one IP within `window` before its attempts are slowed.
    pub ip_free_failures: usize,
    /// Extra delay per failure past the free ones.
    pub ip_delay_step: Duration,
    /// Largest delay.
    pub ip_max_delay: Duration,
    /// Failures from one IP within `window` after which it is refused (429) until they age out.
    pub ip_block_failures: usize,
    /// How long a failure counts against an IP.
    pub window: Duration,
    /// Consecutive failures of one account before it locks.
    pub account_free_failures: u32,
    /// First lockout; doubled for each further failure after a lockout ends.
    pub lock_base: Duration,
    /// Longest lockout.
    pub lock_max: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            ip_free_failures: 10,
            ip_delay_step: Duration::from_millis(100),
            ip_max_delay: Duration::from_secs(3),
            ip_block_failures: 100,
            window: Duration::from_secs(15 * 60),
            account_free_failures: 5,
            lock_base: Duration::from_secs(30),
            lock_max: Duration::from_secs(3600),
        }
    }
}

#[derive(Default)]
struct Account {
    failures: u32,
    locked_until: Option<Instant>,
}

/// Most tracked IPs or accounts; past it, entries with nothing current are dropped.
const MAX_ENTRIES: usize = 100_000;

/// What to do with a login attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on after waiting this long.
    Proceed(Duration),
    /// Refuse: too many failures from this IP, retry after the duration.
    IpBlocked(Duration),
}

/// The limiter.
pub struct Limiter {
    limits: LoginLimits,
    ips: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    accounts: Mutex<HashMap<String, Account>>,
}

impl Limiter {
    /// A limiter with these thresholds.
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            limits,
            ips: Mutex::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// Before checking credentials from `ip`: how long to wait, or refuse.
    pub fn check_ip(&self, ip: Option<IpAddr>) -> Verdict {
        let Some(ip) = ip else {
            return Verdict::Proceed(Duration::ZERO);
        };
        let now = Instant::now();
        let mut ips = self.ips.lock().unwrap_or_else(|p| p.into_inner());
        let Some(q) = ips.get_mut(&ip) else {
            return Verdict::Proceed(Duration::ZERO);
        };
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.limits.window)
        {
            q.pop_front();
        }
        let n = q.len();
        if n >= self.limits.ip_block_failures {
            let oldest = q.front().copied().unwrap_or(now);
            return Verdict::IpBlocked(
                self.limits
                    .window
                    .saturating_sub(now.duration_since(oldest)),
            );
        }
        let over = n.saturating_sub(self.limits.ip_free_failures) as u32;
        Verdict::Proceed(
            self.limits
                .ip_delay_step
                .checked_mul(over)
                .map_or(self.limits.ip_max_delay, |d| {
                    d.min(self.limits.ip_max_delay)
                }),
        )
    }

    /// The remaining lockout of an account name, if locked.
    pub fn locked(&self, account: &str) -> Option<Duration> {
        let now = Instant::now();
        let accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        accounts
            .get(&account.to_lowercase())
            .and_then(|a| a.locked_until)
            .filter(|t| *t > now)
            .map(|t| t - now)
    }

    /// Records a failed attempt (wrong password or code, or an attempt while locked) from `ip` for
    /// `account`. Returns the lockout it started, if any.
    pub fn fail(&self, ip: Option<IpAddr>, account: Option<&str>) -> Option<Duration> {
        let now = Instant::now();
        if let Some(ip) = ip {
            let mut ips = self.ips.lock().unwrap_or_else(|p| p.into_inner());
            if ips.len() >= MAX_ENTRIES {
                let window = self.limits.window;
                ips.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) <= window));
            }
            let q = ips.entry(ip).or_default();
            q.push_back(now);
            if q.len() > self.limits.ip_block_failures.saturating_mul(2) {
                q.pop_front();
            }
        }
        let account = account?;
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        if accounts.len() >= MAX_ENTRIES {
            accounts.retain(|_, a| a.locked_until.is_some_and(|t| t > now));
        }
        let a = accounts.entry(account.to_lowercase()).or_default();
        if a.locked_until.is_some_and(|t| t > now) {
            return None; // attempts while locked do not lengthen the lock
        }
        a.failures += 1;
        if a.failures >= self.limits.account_free_failures {
            let doublings = (a.failures - self.limits.account_free_failures).min(16);
            let lock = self
                .limits
                .lock_base
                .checked_mul(1u32 << doublings)
                .map_or(self.limits.lock_max, |l| l.min(self.limits.lock_max));
            a.locked_until = Some(now + lock);
            return Some(lock);
        }
        None
    }

    /// Records a successful login: the account's failures are forgotten.
    pub fn succeed(&self, account: &str) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        accounts.remove(&account.to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_doubles_and_ip_slows() {
        let l = Limiter::new(LoginLimits {
            lock_base: Duration::from_millis(40),
            ..LoginLimits::default()
        });
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..4 {
            assert_eq!(l.fail(ip, Some("Bob")), None);
        }
        assert_eq!(l.fail(ip, Some("bob")), Some(Duration::from_millis(40)));
        assert!(l.locked("BOB").is_some());
        assert_eq!(l.fail(ip, Some("bob")), None, "no longer while locked");
        std::thread::sleep(Duration::from_millis(50));
        assert!(l.locked("bob").is_none());
        assert_eq!(l.fail(ip, Some("bob")), Some(Duration::from_millis(80)));
        assert_eq!(l.check_ip(ip), Verdict::Proceed(Duration::ZERO));
        for _ in 0..7 {
            l.fail(ip, None);
        }
        assert_eq!(l.check_ip(ip), Verdict::Proceed(Duration::from_millis(400)));
        assert_eq!(
            l.check_ip(Some(IpAddr::from([10, 0, 0, 2]))),
            Verdict::Proceed(Duration::ZERO)
        );
        l.succeed("bob");
        assert!(l.locked("bob").is_none());
    }
}
