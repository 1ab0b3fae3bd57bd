//! The audit log: who did what, when, from where — every login (success and failure), logout, user,
//! role, token and MFA change, configuration change, live view, playback and export.
//!
//! Append-only and hash-chained, in `security.db`: entry `n` stores
//! `hash = sha256(hash(n-1) || canonical(n))` (the genesis `hash(0)` is 32 zero bytes), where
//! `canonical` is the JSON array `[id, at_ms, user, ip, action, target, detail]`. Triggers refuse
//! `UPDATE` and `DELETE` on the table, so editing it takes dropping them by hand — which
//! [`verify`] then exposes: an edited entry no longer hashes to its stored hash (or the next one no
//! longer chains to it), a deleted entry leaves a gap in the ids. Deleting the newest entries is
//! not detectable from the file alone.

use crate::auth::{Security, now_ms};
use crate::error::ServerError;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;

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

/// The canonical bytes an entry's hash covers.
fn canonical(e: &AuditEntry) -> Vec<u8> {
    serde_json::to_vec(&(e.id, e.at, &e.user, &e.ip, &e.action, &e.target, &e.detail))
        .unwrap_or_default()
}

fn chain(prev: &[u8; 32], e: &AuditEntry) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(canonical(e));
    h.finalize().into()
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// The first entry that does not verify, with the reason.
    pub first_bad: Option<(i64, String)>,
}

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
        let hash = hex::encode(chain(&prev, &entry));
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
        Ok(entry.id)
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
            |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    user: r.get(2)?,
                    ip: r.get(3)?,
                    action: r.get(4)?,
                    target: r.get(5)?,
                    detail: r.get(6)?,
                })
            },
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
];

fn decode_hash(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

/// Walks the chain of the audit log in a security database (opened read-only) and names the first
/// entry that does not verify.
pub fn verify(db: &Path) -> Result<VerifyReport, ServerError> {
    let e = |source| ServerError::Db {
        path: db.to_path_buf(),
        source,
    };
    if !db.exists() {
        return Err(ServerError::NotFound(format!(
            "{}: no security database",
            db.display()
        )));
    }
    let conn =
        Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(e)?;
    verify_conn(&conn).map_err(e)
}

fn verify_conn(conn: &Connection) -> rusqlite::Result<VerifyReport> {
    let mut q = conn.prepare(
        "SELECT id, at_ms, user, ip, action, target, detail, hash FROM audit ORDER BY id",
    )?;
    let mut rows = q.query([])?;
    let mut prev = [0u8; 32];
    let mut expect = 1i64;
    let mut n = 0u64;
    while let Some(r) = rows.next()? {
        let entry = AuditEntry {
            id: r.get(0)?,
            at: r.get(1)?,
            user: r.get(2)?,
            ip: r.get(3)?,
            action: r.get(4)?,
            target: r.get(5)?,
            detail: r.get(6)?,
        };
        let stored: String = r.get(7)?;
        n += 1;
        let bad = |id: i64, why: String| {
            Ok(VerifyReport {
                entries: n,
                first_bad: Some((id, why)),
            })
        };
        if entry.id != expect {
            return bad(
                expect,
                format!(
                    "entry {expect} is missing (deleted): the log jumps from {} to {}",
                    expect - 1,
                    entry.id
                ),
            );
        }
        let want = chain(&prev, &entry);
        match decode_hash(&stored) {
            Some(h) if h == want => prev = h,
            _ => {
                let why = if entry.id == 1 {
                    "entry 1 does not match its hash: it was edited".to_string()
                } else {
                    format!(
                        "entry {} does not match its hash: it was edited (or entry {} was, and \
                         its hash recomputed)",
                        entry.id,
                        entry.id - 1
                    )
                };
                return bad(entry.id, why);
            }
        }
        expect += 1;
    }
    Ok(VerifyReport {
        entries: n,
        first_bad: None,
    })
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
