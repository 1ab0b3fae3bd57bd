//! Failed and refused login attempts in the audit log, rate-limited without losing what happened.
//!
//! Anyone can cause these entries, so they are aggregated per action, address and account within a
//! window (`audit_window`, a minute by default): the first attempt is written at once as usual, the
//! rest are counted and written as one entry when the window ends (`"27 more within 60 s: wrong user
//! name or password x25, wrong MFA code x2"`). One address gets at most [`ROWS_PER_ADDRESS`] such
//! accounts per window; further accounts from it go into one entry naming them (`target` `*`,
//! `"30 failures for 30 other names: a, b, ..."`). Pending counts are written when their window ends
//! (the server flushes every few seconds), when too many are pending, and when the server stops.

use super::{Security, now_ms};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

/// Accounts per address and window that get entries of their own.
pub const ROWS_PER_ADDRESS: usize = 10;

/// Names listed in an entry for the accounts past [`ROWS_PER_ADDRESS`]; the rest are counted.
const NAMES_LISTED: usize = 50;

/// Pending counts past which everything is written at once.
const MAX_PENDING: usize = 50_000;

#[derive(Default)]
struct Pending {
    /// When the window started (unix ms).
    since: i64,
    /// Attempts counted after the first (which was written at once).
    count: u64,
    /// How many of them for each reason.
    why: BTreeMap<String, u64>,
    /// For the address's entry of other accounts: their names (the first [`NAMES_LISTED`]).
    names: BTreeSet<String>,
    /// ... and how many more names.
    more_names: u64,
}

/// The pending counts.
#[derive(Default)]
pub struct AttemptLog {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// By (action, address, account).
    pending: HashMap<(String, String, String), Pending>,
    /// Entries of their own written per (action, address) in the window starting at `.0`.
    rows: HashMap<(String, String), (i64, usize)>,
}

impl AttemptLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The account key of the entry for further accounts of an address.
const OTHERS: &str = "*";

impl Security {
    /// Records a failed or refused attempt (`login.failure`, `login.locked`, `login.lockout`,
    /// `setup.refused`, `password.change_refused`) from `ip` on the account `target`, aggregated as
    /// described in [`self`](crate::auth::attempts).
    pub fn audit_attempt(&self, ip: &str, action: &str, target: &str, detail: &str) {
        let now = now_ms();
        let window = self.policy.limits.audit_window.as_millis() as i64;
        let (write_now, full) = {
            let mut st = self.attempts.lock();
            let State { pending, rows } = &mut *st;
            let key = (action.to_string(), ip.to_string(), target.to_string());
            let write_now =
                if let Some(p) = pending.get_mut(&key).filter(|p| now - p.since < window) {
                    p.count += 1;
                    *p.why.entry(detail.to_string()).or_default() += 1;
                    false
                } else {
                    let r = rows
                        .entry((action.to_string(), ip.to_string()))
                        .or_insert((now, 0));
                    if now - r.0 >= window {
                        *r = (now, 0);
                    }
                    if r.1 < ROWS_PER_ADDRESS {
                        r.1 += 1;
                        pending.insert(
                            key,
                            Pending {
                                since: now,
                                ..Pending::default()
                            },
                        );
                        true
                    } else {
                        let p = pending
                            .entry((action.to_string(), ip.to_string(), OTHERS.to_string()))
                            .or_insert_with(|| Pending {
                                since: now,
                                ..Pending::default()
                            });
                        p.count += 1;
                        *p.why.entry(detail.to_string()).or_default() += 1;
                        if p.names.len() < NAMES_LISTED {
                            p.names.insert(target.to_string());
                        } else if !p.names.contains(target) {
                            p.more_names += 1;
                        }
                        false
                    }
                };
            (write_now, pending.len() > MAX_PENDING)
        };
        if write_now {
            self.audit_or_log("-", ip, action, target, detail);
        }
        if full {
            self.flush_attempts(true);
        }
    }

    /// Writes the counts of the windows that have ended (`all`: of every window). Returns how many
    /// entries it wrote.
    pub fn flush_attempts(&self, all: bool) -> usize {
        let now = now_ms();
        let window = self.policy.limits.audit_window.as_millis() as i64;
        let due: Vec<((String, String, String), Pending)> = {
            let mut st = self.attempts.lock();
            st.rows
                .retain(|_, (since, _)| !all && now - *since < window);
            let pending = &mut st.pending;
            let keys: Vec<_> = pending
                .iter()
                .filter(|(_, p)| all || now - p.since >= window)
                .map(|(k, _)| k.clone())
                .collect();
            keys.into_iter()
                .filter_map(|k| pending.remove(&k).map(|p| (k, p)))
                .collect()
        };
        let secs = self.policy.limits.audit_window.as_secs().max(1);
        let mut written = 0;
        for ((action, ip, target), p) in due {
            if p.count == 0 {
                continue;
            }
            let why = p
                .why
                .iter()
                .map(|(w, n)| format!("{w} x{n}"))
                .collect::<Vec<_>>()
                .join(", ");
            let detail = if target == OTHERS {
                let mut names = p.names.iter().cloned().collect::<Vec<_>>().join(", ");
                if p.more_names > 0 {
                    names.push_str(&format!(" and {} more", p.more_names));
                }
                let n = p.names.len() as u64 + p.more_names;
                format!(
                    "{} failures for {n} other names within {secs} s ({why}): {names}",
                    p.count
                )
            } else {
                format!("{} more within {secs} s: {why}", p.count)
            };
            self.audit_or_log("-", &ip, &action, &target, &detail);
            written += 1;
        }
        written
    }
}
