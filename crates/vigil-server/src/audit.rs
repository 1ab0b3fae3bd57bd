//! The audit log: who did what, when, from where — every login (success and failure), logout, user,
//! role, token and MFA change, configuration change, live view, playback and export.
//!
//! Append-only and chained, in `security.db`: entry `n` stores
//! `hash = HMAC-SHA256(key, hash(n-1) || canonical(n))` (the genesis `hash(0)` is 32 zero bytes), where
//! `canonical` is the JSON array `[id, at_ms, user, ip, action, target, detail]` and `key` the audit key
//! in `data_dir/keys/audit.key` (see [`crate::keys`]), which is not in the database. Entries written
//! before audit keys existed are chained with plain SHA-256 (`sha256(hash(n-1) || canonical(n))`); an
//! `audit.keyed` entry (target `key <id>`) marks where the keyed section begins, and is keyed itself.
//! Triggers refuse `UPDATE` and `DELETE` on the table, so editing it takes dropping them by hand —
//! which [`verify`] then exposes: an edited entry no longer matches its hash, a deleted entry leaves a
//! gap in the ids, and a rewritten chain cannot be recomputed without the key. The newest entries'
//! deletion (or a rewrite of the whole log) is caught by the anchor outside the database
//! ([`crate::anchor`]).

pub use crate::audit_verify::{VerifyReport, verify};
use crate::auth::{Security, now_ms};
use crate::error::ServerError;
use hmac::{Hmac, Mac};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A time range as audit details write it: `2026-12-07T05:15:18Z to 2026-12-07T05:15:48Z` (UTC, RFC 3339).
pub fn span(start_ms: i64, end_ms: i64) -> String {
    format!(
        "{} to {}",
        vigil_core::time::utc_text(start_ms),
        vigil_core::time::utc_text(end_ms)
    )
}

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    user TEXT NOT NULL,
    ip TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
";

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Position in the chain (1, 2, ...).
    pub id: i64,
    /// When (unix ms).
    pub at: i64,
    /// Who (`alice`, `alice (token 3)`, `cli:root`, `-` for nobody logged in).
    pub user: String,
    /// From where (IP address, `local` for the command line).
    pub ip: String,
    /// What (`login.success`, `user.create`, `recording.play`, ...).
    pub action: String,
    /// On what (user name, camera, export id).
    pub target: String,
    /// Details.
    pub detail: String,
}

/// An entry from the columns `id, at_ms, user, ip, action, target, detail` (in that order, first).
pub(crate) fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        id: r.get(0)?,
        at: r.get(1)?,
        user: r.get(2)?,
        ip: r.get(3)?,
        action: r.get(4)?,
        target: r.get(5)?,
        detail: r.get(6)?,
    })
}

/// The canonical bytes an entry's hash covers.
fn canonical(e: &AuditEntry) -> Vec<u8> {
    serde_json::to_vec(&(e.id, e.at, &e.user, &e.ip, &e.action, &e.target, &e.detail))
        .unwrap_or_default()
}

/// The chain hash of `e` after `prev`: HMAC-SHA256 under `key`, or plain SHA-256 (entries written
/// before audit keys) when `key` is `None`.
pub(crate) fn link(prev: &[u8; 32], e: &AuditEntry, key: Option<&[u8; 32]>) -> [u8; 32] {
    match key {
        Some(key) => {
            let mut m =
                <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
            m.update(prev);
            m.update(&canonical(e));
            m.finalize().into_bytes().into()
        }
        None => {
            let mut h = Sha256::new();
            h.update(prev);
            h.update(canonical(e));
            h.finalize().into()
        }
    }
}

/// Action of the entry that starts a keyed section (its target is `key <id>`).
pub const KEYED: &str = "audit.keyed";

impl Security {
    /// Appends an entry (in one transaction with reading the previous hash).
    pub fn audit(
        &self,
        user: &str,
        ip: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<i64, ServerError> {
        let mut db = self.db();
        let tx = db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(self.e())?;
        let last: Option<(i64, String)> = tx
            .query_row(
                "SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.e())?;
        let (prev_id, prev) = match last {
            Some((id, h)) => (id, decode_hash(&h).unwrap_or([0; 32])),
            None => (0, [0; 32]),
        };
        let entry = AuditEntry {
            id: prev_id + 1,
            at: now_ms(),
            user: user.to_string(),
            ip: ip.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            detail: detail.to_string(),
        };
        let raw = link(&prev, &entry, Some(self.audit_key.bytes()));
        let hash = hex::encode(raw);
        tx.execute(
            "INSERT INTO audit (id, at_ms, user, ip, action, target, detail, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                entry.id,
                entry.at,
                entry.user,
                entry.ip,
                entry.action,
                entry.target,
                entry.detail,
                hash
            ],
        )
        .map_err(self.e())?;
        tx.commit().map_err(self.e())?;
        drop(db);
        // Ids are contiguous from 1 (deletions are refused), so the newest id is the number of entries.
        self.anchor.record(
            &self.audit_key,
            self.keyed_from(),
            (entry.id, raw, entry.id),
        );
        Ok(entry.id)
    }

    /// Writes the anchor now if entries are waiting for it (the server does so every
    /// [`crate::anchor::ANCHOR_EVERY`] and when it stops; dropping the `Security` does too).
    pub fn flush_audit_anchor(&self) {
        self.anchor.flush(&self.audit_key, self.keyed_from());
    }

    /// Makes sure the log's newest section is keyed with this start's audit key: appends an
    /// `audit.keyed` entry when the log is new, was written before audit keys, or its last keyed
    /// section used a key that is no longer there (named in the entry, and by `vigil audit verify`).
    pub(crate) fn start_keyed_section(&self) -> Result<(), ServerError> {
        let target = format!("key {}", self.audit_key.id);
        let (last, count): (Option<(i64, String)>, i64) = {
            let db = self.db();
            let last = db
                .query_row(
                    "SELECT id, target FROM audit WHERE action = ?1 ORDER BY id DESC LIMIT 1",
                    [KEYED],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(self.e())?;
            let count = db
                .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
                .map_err(self.e())?;
            (last, count)
        };
        let file = self.audit_key.path.display();
        let detail = match last {
            Some((id, t)) if t == target => {
                self.keyed_from
                    .store(id, std::sync::atomic::Ordering::Relaxed);
                return Ok(());
            }
            Some((id, t)) => {
                tracing::error!(
                    "the audit log's keyed section from entry {id} uses {t}, which is not {file}: \
                     those entries cannot be verified until that key file is restored"
                );
                format!(
                    "the entries from {id} on are keyed with {t}, which is missing; from here on \
                     HMAC-SHA256 with {file}"
                )
            }
            None if count == 0 => {
                format!("a new log: every entry is HMAC-SHA256 chained with {file}")
            }
            None => format!(
                "entries 1 to {count} are SHA-256 chained (written before audit keys); from here on \
                 HMAC-SHA256 with {file}"
            ),
        };
        // The marker is the first keyed entry: the anchor written with it must say so.
        let next = self
            .db()
            .query_row("SELECT coalesce(max(id), 0) + 1 FROM audit", [], |r| {
                r.get(0)
            })
            .map_err(self.e())?;
        self.keyed_from
            .store(next, std::sync::atomic::Ordering::Relaxed);
        let first = self.audit("-", "local", KEYED, &target, &detail)?;
        self.keyed_from
            .store(first, std::sync::atomic::Ordering::Relaxed);
        self.flush_audit_anchor();
        Ok(())
    }

    /// Id of the entry where the current keyed section begins (0 until it is known).
    pub(crate) fn keyed_from(&self) -> i64 {
        self.keyed_from.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Appends an entry; a failure is logged (the action it records has already happened).
    pub fn audit_or_log(&self, user: &str, ip: &str, action: &str, target: &str, detail: &str) {
        if let Err(e) = self.audit(user, ip, action, target, detail) {
            tracing::error!(action, target, "audit entry not written: {e}");
        }
    }

    /// Records the configuration a start runs with: `config.loaded` the first time, `config.change`
    /// (old and new SHA-256) when the file differs from the one the previous start recorded, nothing
    /// when it is the same. Returns whether it changed.
    pub fn audit_config(&self, file: &str, sha256: &str) -> Result<bool, ServerError> {
        let last: Option<String> = self
            .db()
            .query_row(
                "SELECT detail FROM audit WHERE action IN ('config.loaded', 'config.change')
                 ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.e())?;
        let previous = last.as_deref().and_then(|d| d.rsplit("sha256 ").next());
        match previous {
            Some(p) if p == sha256 => Ok(false),
            Some(p) => {
                let p = p.to_string();
                self.audit(
                    "-",
                    "local",
                    "config.change",
                    file,
                    &format!("was sha256 {p}, now sha256 {sha256}"),
                )?;
                Ok(true)
            }
            None => {
                self.audit(
                    "-",
                    "local",
                    "config.loaded",
                    file,
                    &format!("sha256 {sha256}"),
                )?;
                Ok(false)
            }
        }
    }

    /// The entry `id`, if there is one.
    pub fn audit_entry(&self, id: i64) -> Result<Option<AuditEntry>, ServerError> {
        let db = self.db();
        let mut q = db
            .prepare_cached(
                "SELECT id, at_ms, user, ip, action, target, detail FROM audit WHERE id = ?1",
            )
            .map_err(self.e())?;
        match q.query_row([id], entry_row) {
            Ok(e) => Ok(Some(e)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(self.e()(e)),
        }
    }

    /// The entries of one action, newest first, at most `limit`.
    pub fn audit_entries_of(
        &self,
        action: &str,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, ServerError> {
        let db = self.db();
        let mut q = db
            .prepare_cached(
                "SELECT id, at_ms, user, ip, action, target, detail FROM audit
                 WHERE action = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(self.e())?;
        q.query_map(params![action, limit.clamp(1, 1000) as i64], entry_row)
            .map_err(self.e())?
            .collect::<Result<_, _>>()
            .map_err(self.e())
    }

    /// Entries newest first, with ids below `before` (all when `None`), at most `limit`.
    pub fn audit_entries(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, ServerError> {
        self.audit_entries_in(before, limit, None)
    }

    /// [`audit_entries`](Self::audit_entries) as a reader limited to `cameras` sees them (`None`: every
    /// camera): the entries of [`CAMERA_ACTIONS`] on other cameras are left out.
    pub fn audit_entries_in(
        &self,
        before: Option<i64>,
        limit: usize,
        cameras: Option<&[String]>,
    ) -> Result<Vec<AuditEntry>, ServerError> {
        let scope = cameras.map(|c| serde_json::to_string(c).unwrap_or_else(|_| "[]".into()));
        let actions = serde_json::to_string(CAMERA_ACTIONS).unwrap_or_else(|_| "[]".into());
        let db = self.db();
        let mut q = db
            .prepare_cached(
                "SELECT id, at_ms, user, ip, action, target, detail FROM audit
                 WHERE id < ?1
                   AND (?3 IS NULL
                        OR action NOT IN (SELECT value FROM json_each(?4))
                        OR target IN (SELECT value FROM json_each(?3)))
                 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(self.e())?;
        q.query_map(
            params![
                before.unwrap_or(i64::MAX),
                limit.clamp(1, 1000) as i64,
                scope,
                actions
            ],
            entry_row,
        )
        .map_err(self.e())?
        .collect::<Result<_, _>>()
        .map_err(self.e())
    }
}

/// The actions whose target is a camera (what a camera-scoped reader of the log sees only for its
/// cameras).
pub const CAMERA_ACTIONS: &[&str] = &[
    "live.view",
    "recording.play",
    "export.create",
    "export.download",
    "footage.erase",
];

pub(crate) fn decode_hash(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

/// Repeats merged into one audit entry: what a client asks again and again while doing one thing
/// (the range requests of a video element playing a recording) is recorded once per `key` within
/// [`MERGE_WINDOW`]. Bounded: when full, old keys are dropped (which can only add entries, never
/// lose one).
#[derive(Default)]
pub struct Repeats {
    seen: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// How long a repeat is merged into the entry written for its first occurrence.
pub const MERGE_WINDOW: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Keys remembered at most.
const MAX_REPEATS: usize = 10_000;

impl Repeats {
    /// Whether `key` is new (not seen within [`MERGE_WINDOW`]); it counts as seen from now.
    pub fn first(&self, key: String) -> bool {
        let now = std::time::Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen
            .get(&key)
            .is_some_and(|t| now.duration_since(*t) < MERGE_WINDOW)
        {
            return false;
        }
        if seen.len() >= MAX_REPEATS {
            seen.retain(|_, t| now.duration_since(*t) < MERGE_WINDOW);
            if seen.len() >= MAX_REPEATS {
                seen.clear();
            }
        }
        seen.insert(key, now);
        true
    }
}
