//! `vigil audit verify`: walks the audit log of a security database (opened read-only) with the audit
//! key beside it and checks it against the anchor, naming the first thing that does not verify.

use crate::anchor::Anchor;
use crate::audit::{KEYED, decode_hash, entry_row, link};
use crate::error::ServerError;
use crate::keys::KeyFile;
use rusqlite::Connection;
use serde::Serialize;
use std::path::Path;

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// Where the keyed (HMAC-SHA256) section begins; `None` for a log written before audit keys.
    pub keyed_from: Option<i64>,
    /// The anchor checked against: (newest entry it covers, when it was written, unix ms).
    pub anchored: Option<(i64, i64)>,
    /// The first entry that does not verify, with the reason (id 0: not one entry, e.g. the anchor).
    pub first_bad: Option<(i64, String)>,
}

/// Walks the chain of the audit log in a security database (opened read-only), with the audit key and
/// the anchor of its folder, and names the first entry (or anchor) that does not verify.
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
    let dir = db
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut report = VerifyReport {
        entries: 0,
        keyed_from: None,
        anchored: None,
        first_bad: None,
    };
    let key_path = dir.join("keys").join("audit.key");
    let key = match KeyFile::read(&key_path) {
        Ok(k) => k,
        Err(err) => return Ok(report.bad(0, format!("the audit key is unusable: {err}"))),
    };
    let anchor = match Anchor::read(dir) {
        Ok(a) => a,
        Err(err) => return Ok(report.bad(0, format!("the anchor is unusable: {err}"))),
    };
    if let Some(a) = &anchor {
        report.anchored = Some((a.last_id, a.at_ms));
        match &key {
            Some(k) if k.id == a.key && a.authentic(k.bytes()) => {}
            Some(k) if k.id == a.key => {
                return Ok(report.bad(
                    a.last_id,
                    format!(
                        "the anchor ({}) was edited: its MAC does not match",
                        crate::anchor::ANCHOR_FILE
                    ),
                ));
            }
            _ => {
                return Ok(report.bad(
                    a.last_id,
                    format!(
                        "the anchor was made with audit key {}, which is not {}: restore that key file",
                        a.key,
                        key_path.display()
                    ),
                ));
            }
        }
    }
    let conn =
        Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(e)?;
    walk(&conn, key.as_ref(), anchor.as_ref(), report, &key_path).map_err(e)
}

impl VerifyReport {
    fn bad(mut self, id: i64, why: String) -> VerifyReport {
        self.first_bad = Some((id, why));
        self
    }
}

fn walk(
    conn: &Connection,
    key: Option<&KeyFile>,
    anchor: Option<&Anchor>,
    mut report: VerifyReport,
    key_path: &Path,
) -> rusqlite::Result<VerifyReport> {
    let mut q = conn.prepare(
        "SELECT id, at_ms, user, ip, action, target, detail, hash FROM audit ORDER BY id",
    )?;
    let mut rows = q.query([])?;
    let mut prev = [0u8; 32];
    let mut expect = 1i64;
    // The key of the section being walked: `None` before the first `audit.keyed` entry.
    let mut keyed: Option<&[u8; 32]> = None;
    while let Some(r) = rows.next()? {
        let entry = entry_row(r)?;
        let stored: String = r.get(7)?;
        report.entries += 1;
        if entry.id != expect {
            return Ok(report.bad(
                expect,
                format!(
                    "entry {expect} is missing (deleted): the log jumps from {} to {}",
                    expect - 1,
                    entry.id
                ),
            ));
        }
        if entry.action == KEYED {
            let id = entry.target.strip_prefix("key ").unwrap_or_default();
            match key {
                Some(k) if k.id == id => {
                    keyed = Some(k.bytes());
                    report.keyed_from = Some(entry.id);
                }
                _ => {
                    return Ok(report.bad(
                        entry.id,
                        format!(
                            "the entries from {} on are keyed with audit key {id:?}, which is not \
                             {}: they cannot be verified without it",
                            entry.id,
                            key_path.display()
                        ),
                    ));
                }
            }
        }
        let want = link(&prev, &entry, keyed);
        match decode_hash(&stored) {
            Some(h) if h == want => prev = h,
            _ => {
                let why = if entry.id == 1 {
                    "entry 1 does not match its hash: it was edited".to_string()
                } else {
                    format!(
                        "entry {} does not match its hash: it was edited (or entry {} was, and \
                         its hash recomputed{})",
                        entry.id,
                        entry.id - 1,
                        if keyed.is_some() {
                            " without the audit key"
                        } else {
                            ""
                        }
                    )
                };
                return Ok(report.bad(entry.id, why));
            }
        }
        if let Some(a) = anchor
            && a.last_id == entry.id
            && hex::encode(prev) != a.head
        {
            return Ok(report.bad(
                entry.id,
                format!(
                    "entry {} is not the one anchored at {} ms: the log was rewritten",
                    entry.id, a.at_ms
                ),
            ));
        }
        expect += 1;
    }
    let last = expect - 1;
    if let Some(a) = anchor {
        if last < a.last_id {
            return Ok(report.bad(
                last + 1,
                format!(
                    "the log ends at entry {last}, but the anchor written at {} ms covers entries up \
                     to {}: the newest entries were deleted",
                    a.at_ms, a.last_id
                ),
            ));
        }
        if report.keyed_from != Some(a.keyed_from) {
            let seen = report
                .keyed_from
                .map_or("has none".to_string(), |k| format!("at {k}"));
            return Ok(report.bad(
                a.keyed_from,
                format!(
                    "the anchor says the keyed section begins at entry {}, the log {seen}: it was \
                     rewritten",
                    a.keyed_from
                ),
            ));
        }
    } else if key.is_some() && last > 0 {
        return Ok(report.bad(
            0,
            format!(
                "the audit key exists but the anchor ({}) is missing: it was deleted, so the \
                 newest entries cannot be checked",
                crate::anchor::ANCHOR_FILE
            ),
        ));
    }
    Ok(report)
}
