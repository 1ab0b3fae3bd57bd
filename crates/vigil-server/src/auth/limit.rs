//! Login protection, in two parts that count an attempt in progress as a failure (so guesses sent in
//! parallel are checked no more often than guesses sent one after another):
//!
//! - **Per address** ([`Limiter::ip_turn`], in memory, bounded): after `ip_free_failures` failures
//!   within `window`, each attempt waits `ip_delay_step` longer (up to `ip_max_delay`); after
//!   `ip_block_failures` the address is refused until its failures age out.
//! - **Per account** ([`Security::begin_attempt`], in `security.db`, so that `vigil user unlock` works
//!   while the server runs and limits survive restarts), keyed by the name typed, known or not: the
//!   first `account_free_failures` failures are free; after that the account is slowed down, not
//!   locked: one attempt per `slow_base`, doubling with each further failure up to `slow_max`. One
//!   failure is forgotten every `forget_every`. A browser that logged in to the account before (a
//!   known device, [`super::devices`]) has a count of its own, so failures from elsewhere never slow
//!   it down.

use super::{Security, now_ms};
use crate::error::ServerError;
use rusqlite::{OptionalExtension, params};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
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
    /// Failures of one account (or one known device of it) before it is slowed down.
    pub account_free_failures: u32,
    /// Wait between attempts once the free failures are used; doubled for each further failure.
    pub slow_base: Duration,
    /// Longest wait between attempts.
    pub slow_max: Duration,
    /// One failure of an account is forgotten each time this passes.
    pub forget_every: Duration,
    /// Password hashes computed at once (see [`super::password::HashGate`]).
    pub hash_concurrency: usize,
    /// Requests queued for a hash before further ones are refused (503).
    pub hash_queue: usize,
    /// How long a queued request waits for a hash before it is refused (503).
    pub hash_wait: Duration,
    /// Failed attempts of one account from one address within this period are one audit entry with
    /// a count (see [`super::attempts`]).
    pub audit_window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        let hash_concurrency = super::password::HashGate::default_concurrency();
        Self {
            ip_free_failures: 10,
            ip_delay_step: Duration::from_millis(100),
            ip_max_delay: Duration::from_secs(3),
            ip_block_failures: 100,
            window: Duration::from_secs(15 * 60),
            account_free_failures: 5,
            slow_base: Duration::from_secs(30),
            slow_max: Duration::from_secs(15 * 60),
            forget_every: Duration::from_secs(15 * 60),
            hash_concurrency,
            hash_queue: 4 * hash_concurrency,
            hash_wait: Duration::from_secs(2),
            audit_window: Duration::from_secs(60),
        }
    }
}

impl LoginLimits {
    /// The wait after an attempt that brings an account to `failures` failures: none while they are
    /// within the free ones, then `slow_base` doubled per failure past them, at most `slow_max`. A
    /// failure partly forgotten still counts whole (one is forgotten per full `forget_every`).
    pub fn slowdown(&self, failures: f64) -> Option<Duration> {
        let failures = failures.ceil();
        let free = f64::from(self.account_free_failures);
        if failures < free {
            return None;
        }
        let doublings = (failures - free).min(20.0) as u32;
        Some(
            self.slow_base
                .checked_mul(1u32 << doublings)
                .map_or(self.slow_max, |d| d.min(self.slow_max)),
        )
    }

    /// `failures` counted `elapsed` ago, less one per `forget_every` since.
    pub fn decayed(&self, failures: f64, elapsed: Duration) -> f64 {
        let forgotten = elapsed.as_secs_f64() / self.forget_every.as_secs_f64().max(1e-3);
        (failures - forgotten).max(0.0)
    }
}

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS login_throttle (
    account TEXT NOT NULL,
    device INTEGER NOT NULL DEFAULT 0,
    failures REAL NOT NULL,
    updated_ms INTEGER NOT NULL,
    next_ms INTEGER NOT NULL,
    PRIMARY KEY (account, device)
);
";

/// Most tracked addresses; past it, addresses with nothing current are dropped.
const MAX_IPS: usize = 100_000;

/// Most per-account rows kept; past it, the longest unchanged are dropped by the sweep.
const MAX_ACCOUNT_ROWS: i64 = 100_000;

#[derive(Default)]
struct IpState {
    failures: VecDeque<Instant>,
    in_flight: u32,
}

/// The per-address limiter and the attempts in progress of this process.
pub struct Limiter {
    limits: LoginLimits,
    ips: Mutex<HashMap<IpAddr, IpState>>,
    accounts: Mutex<HashMap<(String, i64), u32>>,
}

/// An address's turn to try a login, granted by [`Limiter::ip_turn`]. Counted as a failure of the
/// address until ended otherwise with [`IpTurn::end`] (dropped unended: a failure).
pub struct IpTurn {
    limiter: Arc<Limiter>,
    ip: Option<IpAddr>,
    delay: Duration,
    open: bool,
}

impl IpTurn {
    /// How long to wait before going on.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// Ends the turn: `failed` records a failure of the address.
    pub fn end(mut self, failed: bool) {
        self.close(failed);
    }

    fn close(&mut self, failed: bool) {
        if !self.open {
            return;
        }
        self.open = false;
        let Some(ip) = self.ip else { return };
        let mut ips = self.limiter.ips.lock().unwrap_or_else(|p| p.into_inner());
        let cap = self.limiter.limits.ip_block_failures.saturating_mul(2);
        if let Some(st) = ips.get_mut(&ip) {
            st.in_flight = st.in_flight.saturating_sub(1);
            if failed {
                st.failures.push_back(Instant::now());
                if st.failures.len() > cap {
                    st.failures.pop_front();
                }
            }
        }
    }
}

impl Drop for IpTurn {
    fn drop(&mut self) {
        self.close(true);
    }
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

    /// The thresholds.
    pub fn limits(&self) -> &LoginLimits {
        &self.limits
    }

    /// Before checking credentials from `ip`: its turn (with how long to wait first), or how long it
    /// is refused. Attempts of the address still in progress count as failures.
    pub fn ip_turn(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<IpTurn, Duration> {
        let turn = |delay| IpTurn {
            limiter: self.clone(),
            ip,
            delay,
            open: true,
        };
        let Some(addr) = ip else {
            return Ok(turn(Duration::ZERO));
        };
        let now = Instant::now();
        let window = self.limits.window;
        let mut ips = self.ips.lock().unwrap_or_else(|p| p.into_inner());
        if ips.len() >= MAX_IPS {
            ips.retain(|_, s| {
                s.in_flight > 0 || s.failures.back().is_some_and(|t| now - *t <= window)
            });
        }
        let st = ips.entry(addr).or_default();
        while st
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            st.failures.pop_front();
        }
        let n = st.failures.len() + st.in_flight as usize;
        if n >= self.limits.ip_block_failures {
            let wait = if st.failures.len() >= self.limits.ip_block_failures {
                let oldest = st.failures.front().copied().unwrap_or(now);
                window.saturating_sub(now.duration_since(oldest))
            } else {
                Duration::from_secs(1)
            };
            return Err(wait.max(Duration::from_secs(1)));
        }
        st.in_flight += 1;
        let over = n.saturating_sub(self.limits.ip_free_failures) as u32;
        let delay = self
            .limits
            .ip_delay_step
            .checked_mul(over)
            .map_or(self.limits.ip_max_delay, |d| {
                d.min(self.limits.ip_max_delay)
            });
        Ok(turn(delay))
    }

    fn in_flight(&self, key: &(String, i64)) -> u32 {
        let accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        accounts.get(key).copied().unwrap_or(0)
    }

    fn add_in_flight(&self, key: &(String, i64)) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        *accounts.entry(key.clone()).or_default() += 1;
    }

    fn remove_in_flight(&self, key: &(String, i64)) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = accounts.get_mut(key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                accounts.remove(key);
            }
        }
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The credentials were right: the count of the account (or the device) starts over.
    Success,
    /// Wrong password or code.
    Failure,
    /// No guess was made (a password that needs its MFA code next, a request refused for load).
    NotAGuess,
}

/// A login attempt admitted by [`Security::begin_attempt`], counted as a failure until
/// [`Attempt::finish`]ed (dropped unfinished: a failure).
pub struct Attempt {
    sec: Arc<Security>,
    key: (String, i64),
    /// The wait this attempt reserved when it began: (the account's `next_ms` before, after).
    reserved: Option<(i64, i64)>,
    open: bool,
}

impl Attempt {
    /// Records how the attempt ended; for a failure, the wait it imposes on the next attempt, if any.
    /// Writes to the database: call it from a blocking task.
    pub fn finish(mut self, outcome: Outcome) -> Result<Option<Duration>, ServerError> {
        self.open = false;
        let r = self.sec.end_attempt(&self.key, self.reserved, outcome);
        self.sec.limiter.remove_in_flight(&self.key);
        r
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        // Abandoned (the client went away, or an error): a failure, recorded off the async threads.
        let (sec, key) = (self.sec.clone(), self.key.clone());
        let record = move || {
            if let Err(e) = sec.end_attempt(&key, None, Outcome::Failure) {
                tracing::warn!("recording an abandoned login attempt: {e}");
            }
            sec.limiter.remove_in_flight(&key);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(record);
            }
            Err(_) => record(),
        }
    }
}

/// The state of an account's (or a known device's) count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    /// Failures not yet forgotten.
    pub failures: f64,
    /// How long until the next attempt is allowed (zero: now).
    pub wait: Duration,
}

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

/// The failures of `key` not yet forgotten at `now`, and when its next attempt is allowed (unix ms).
fn read_count(
    db: &rusqlite::Connection,
    limits: &LoginLimits,
    key: &(String, i64),
    now: i64,
) -> rusqlite::Result<(f64, i64)> {
    let row: Option<(f64, i64, i64)> = db
        .query_row(
            "SELECT failures, updated_ms, next_ms FROM login_throttle
             WHERE account = ?1 AND device = ?2",
            params![key.0, key.1],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(row.map_or((0.0, 0), |(f, at, next)| {
        let elapsed = Duration::from_millis(now.saturating_sub(at).max(0) as u64);
        (limits.decayed(f, elapsed), next)
    }))
}

fn write_count(
    db: &rusqlite::Connection,
    key: &(String, i64),
    failures: f64,
    now: i64,
    next: i64,
) -> rusqlite::Result<()> {
    db.execute(
        "INSERT INTO login_throttle (account, device, failures, updated_ms, next_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (account, device) DO UPDATE SET failures = excluded.failures,
         updated_ms = excluded.updated_ms, next_ms = excluded.next_ms",
        params![key.0, key.1, failures, now, next],
    )
    .map(|_| ())
}

impl Security {
    /// Starts a login attempt on the account named `name` (as typed; known or not) from the known
    /// device `device` of it (`None`: any other client): admitted, or refused with how long until the
    /// next attempt is allowed. The check and the count are one step, so concurrent attempts each see
    /// the others. Writes to the database: call it from a blocking task.
    pub fn begin_attempt(
        self: &Arc<Self>,
        name: &str,
        device: Option<i64>,
    ) -> Result<Result<Attempt, Duration>, ServerError> {
        let key = (name.to_lowercase(), device.unwrap_or(0));
        let limits = &self.policy.limits;
        let now = now_ms();
        let mut db = self.db();
        let tx = db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(self.e())?;
        let (failures, next) = read_count(&tx, limits, &key, now).map_err(self.e())?;
        if now < next {
            return Ok(Err(Duration::from_millis((next - now) as u64)));
        }
        // Should this attempt fail, would the next one have to wait? Then it waits already: the
        // attempts in progress count as failures.
        let predicted = failures + f64::from(self.limiter.in_flight(&key)) + 1.0;
        let mut reserved = None;
        if let Some(wait) = limits.slowdown(predicted) {
            let until = now + ms(wait);
            write_count(&tx, &key, failures, now, until).map_err(self.e())?;
            reserved = Some((next, until));
        }
        tx.commit().map_err(self.e())?;
        // Still under the database lock: no other attempt of this process checks in between.
        self.limiter.add_in_flight(&key);
        drop(db);
        Ok(Ok(Attempt {
            sec: self.clone(),
            key,
            reserved,
            open: true,
        }))
    }

    fn end_attempt(
        &self,
        key: &(String, i64),
        reserved: Option<(i64, i64)>,
        outcome: Outcome,
    ) -> Result<Option<Duration>, ServerError> {
        let limits = &self.policy.limits;
        let now = now_ms();
        let mut db = self.db();
        match outcome {
            Outcome::Success => {
                db.execute(
                    "DELETE FROM login_throttle WHERE account = ?1 AND device = ?2",
                    params![key.0, key.1],
                )
                .map_err(self.e())?;
                Ok(None)
            }
            Outcome::NotAGuess => {
                // Give back the wait this attempt reserved, unless something changed it since.
                if let Some((before, after)) = reserved {
                    db.execute(
                        "UPDATE login_throttle SET next_ms = ?3
                         WHERE account = ?1 AND device = ?2 AND next_ms = ?4",
                        params![key.0, key.1, before, after],
                    )
                    .map_err(self.e())?;
                }
                Ok(None)
            }
            Outcome::Failure => {
                let tx = db
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(self.e())?;
                let (failures, next) = read_count(&tx, limits, key, now).map_err(self.e())?;
                let failures = failures + 1.0;
                let wait = limits.slowdown(failures);
                let next = wait.map_or(next, |w| next.max(now + ms(w)));
                write_count(&tx, key, failures, now, next).map_err(self.e())?;
                tx.commit().map_err(self.e())?;
                Ok(wait.map(|_| Duration::from_millis((next - now).max(0) as u64)))
            }
        }
    }

    /// The count of the account `name` (the shared one, not its known devices').
    pub fn throttle(&self, name: &str) -> Result<Throttle, ServerError> {
        let now = now_ms();
        let key = (name.to_lowercase(), 0);
        let (failures, next) =
            read_count(&self.db(), &self.policy.limits, &key, now).map_err(self.e())?;
        Ok(Throttle {
            failures,
            wait: Duration::from_millis(next.saturating_sub(now).max(0) as u64),
        })
    }

    /// Forgets every failure of the account `name` (and of its known devices): it can log in at once.
    /// Returns whether there was anything to forget. Works while the server runs (its next attempt
    /// reads the database).
    pub fn unlock(&self, name: &str) -> Result<bool, ServerError> {
        let n = self
            .db()
            .execute(
                "DELETE FROM login_throttle WHERE account = ?1",
                [name.to_lowercase()],
            )
            .map_err(self.e())?;
        Ok(n > 0)
    }

    /// Drops the counts that are forgotten and not waiting, and the oldest ones past
    /// [`MAX_ACCOUNT_ROWS`]. Returns how many went.
    pub fn sweep_logins(&self) -> Result<usize, ServerError> {
        let now = now_ms();
        let forget = ms(self.policy.limits.forget_every).max(1);
        let db = self.db();
        let mut n = db
            .execute(
                "DELETE FROM login_throttle
                 WHERE next_ms <= ?1 AND failures * ?2 <= ?1 - updated_ms",
                params![now, forget],
            )
            .map_err(self.e())?;
        n += db
            .execute(
                "DELETE FROM login_throttle WHERE rowid IN (SELECT rowid FROM login_throttle
                 ORDER BY updated_ms DESC LIMIT -1 OFFSET ?1)",
                [MAX_ACCOUNT_ROWS],
            )
            .map_err(self.e())?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Policy;

    fn limits() -> LoginLimits {
        LoginLimits::default()
    }

    #[test]
    fn the_wait_doubles_past_the_free_failures_and_failures_are_forgotten() {
        let l = limits();
        assert_eq!(l.slowdown(4.0), None);
        assert_eq!(l.slowdown(4.01), Some(Duration::from_secs(30)));
        assert_eq!(l.slowdown(5.0), Some(Duration::from_secs(30)));
        assert_eq!(l.slowdown(5.8), Some(Duration::from_secs(60)));
        assert_eq!(l.slowdown(9.0), Some(Duration::from_secs(480)));
        assert_eq!(l.slowdown(10.0), Some(Duration::from_secs(900)));
        assert_eq!(l.slowdown(1e9), Some(Duration::from_secs(900)));
        assert_eq!(l.decayed(6.0, Duration::from_secs(30 * 60)), 4.0);
        assert_eq!(l.decayed(1.0, Duration::from_secs(3600)), 0.0);
    }

    #[test]
    fn an_address_is_slowed_then_refused_counting_attempts_in_progress() {
        let l = Arc::new(Limiter::new(limits()));
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..7 {
            l.ip_turn(ip).unwrap().end(true);
        }
        // Six more at once: the 12th and later wait although the 8th to 11th have not failed yet.
        let turns: Vec<IpTurn> = (0..6).map(|_| l.ip_turn(ip).unwrap()).collect();
        let delays: Vec<u64> = turns.iter().map(|t| t.delay().as_millis() as u64).collect();
        assert_eq!(delays, [0, 0, 0, 0, 100, 200]);
        drop(turns); // dropped unended: failures
        assert_eq!(l.ip_turn(ip).unwrap().delay(), Duration::from_millis(300));
        let other = Some(IpAddr::from([10, 0, 0, 2]));
        let first = l.ip_turn(other).unwrap();
        assert_eq!(first.delay(), Duration::ZERO);
        first.end(false);
        let held: Vec<IpTurn> = (0..100).filter_map(|_| l.ip_turn(other).ok()).collect();
        assert_eq!(held.len(), 100);
        assert!(l.ip_turn(other).is_err(), "100 in progress: refused");
        for t in held {
            t.end(false);
        }
        assert!(l.ip_turn(other).is_ok());
        assert!(l.ip_turn(None).unwrap().delay().is_zero());
    }

    fn security() -> (tempfile::TempDir, Arc<Security>) {
        let dir = tempfile::tempdir().unwrap();
        let policy = Policy {
            limits: LoginLimits {
                slow_base: Duration::from_millis(300),
                ..limits()
            },
            ..Policy::default()
        };
        let sec = Arc::new(Security::open_in(dir.path(), policy).unwrap());
        (dir, sec)
    }

    #[test]
    fn attempts_in_progress_count_and_known_devices_have_their_own_count() {
        let (_dir, sec) = security();
        // Ten at once: five admitted (the fifth reserves the wait), the rest refused.
        let begun: Vec<_> = (0..10)
            .map(|_| sec.begin_attempt("Admin", None).unwrap())
            .collect();
        assert_eq!(begun.iter().filter(|b| b.is_ok()).count(), 5);
        let attempts: Vec<Attempt> = begun.into_iter().filter_map(Result::ok).collect();
        // A known device of the account is not slowed by them.
        let device = sec.begin_attempt("admin", Some(7)).unwrap().unwrap();
        device.finish(Outcome::Failure).unwrap();
        let mut waits = Vec::new();
        for a in attempts {
            waits.push(a.finish(Outcome::Failure).unwrap());
        }
        assert_eq!(waits.iter().filter(|w| w.is_some()).count(), 1, "{waits:?}");
        let t = sec.throttle("ADMIN").unwrap();
        assert_eq!(t.failures.round(), 5.0);
        assert!(t.wait > Duration::from_millis(200), "{t:?}");
        assert!(sec.begin_attempt("admin", None).unwrap().is_err());
        std::thread::sleep(t.wait + Duration::from_millis(20));
        // One attempt per (doubled) wait: this one is admitted, the next refused.
        let a = sec.begin_attempt("admin", None).unwrap().unwrap();
        assert!(sec.begin_attempt("admin", None).unwrap().is_err());
        // A password that needs its MFA code next is no guess: the wait it reserved is given back.
        a.finish(Outcome::NotAGuess).unwrap();
        let a = sec.begin_attempt("admin", None).unwrap().unwrap();
        a.finish(Outcome::Success).unwrap();
        assert_eq!(sec.throttle("admin").unwrap().failures, 0.0);
        // Unlock forgets everything, the devices' counts too.
        sec.begin_attempt("bob", None)
            .unwrap()
            .unwrap()
            .finish(Outcome::Failure)
            .unwrap();
        assert!(sec.unlock("BOB").unwrap());
        assert!(!sec.unlock("bob").unwrap());
        // An abandoned attempt counts as a failure.
        drop(sec.begin_attempt("carol", None).unwrap().unwrap());
        assert_eq!(sec.throttle("carol").unwrap().failures.round(), 1.0);
        assert_eq!(sec.limiter.in_flight(&("carol".into(), 0)), 0);
    }
}
