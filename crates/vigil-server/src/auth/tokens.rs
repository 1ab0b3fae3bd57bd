//! API tokens for integrations: `vgl_` + 256 random bits, shown once, stored as SHA-256, with scopes
//! (a subset of the permissions an API token may carry), acting for the user who created them.

use super::users::{USER_COLUMNS, User, user_row};
use super::{Security, now_ms, random_bytes, sha256_hex};
use crate::error::ServerError;
use crate::perms::{Permission, Permissions, Principal, Via};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// A token as listed (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Id.
    pub id: i64,
    /// Name given at creation.
    pub name: String,
    /// The user it acts for.
    pub user: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Created (unix ms).
    pub created_ms: i64,
    /// Last used (unix ms).
    pub last_used_ms: Option<i64>,
}

/// Parses scope names; administration scopes and unknown names are refused.
pub fn parse_scopes(scopes: &[String]) -> Result<Permissions, ServerError> {
    let mut set = Permissions::default();
    if scopes.is_empty() || scopes.len() > 16 {
        return Err(ServerError::Invalid("give 1-16 scopes".into()));
    }
    for s in scopes {
        match Permission::parse(s) {
            Some(p) if p.token_scope() => set.add(p),
            _ => {
                let known: Vec<&str> = Permission::ALL
                    .into_iter()
                    .filter(|p| p.token_scope())
                    .map(Permission::name)
                    .collect();
                return Err(ServerError::Invalid(format!(
                    "unknown scope {s:?} (known: {})",
                    known.join(", ")
                )));
            }
        }
    }
    Ok(set)
}

fn scopes_of(text: &str) -> Permissions {
    let mut set = Permissions::default();
    for s in text.split(',') {
        if let Some(p) = Permission::parse(s).filter(|p| p.token_scope()) {
            set.add(p);
        }
    }
    set
}

/// Makes token ids never come back after a deletion (so `alice (token 3)` in the audit log names one
/// token forever): a `tokens` table created without `AUTOINCREMENT` is rebuilt with it, and its counter
/// starts after the highest id ever used, in the table or in the audit log's `token.create` entries.
pub(crate) fn never_reuse_ids(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let sql: String = conn.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'tokens'",
        [],
        |r| r.get(0),
    )?;
    if sql.to_ascii_uppercase().contains("AUTOINCREMENT") {
        return Ok(());
    }
    let audited: i64 = conn.query_row(
        "SELECT coalesce(max(CAST(substr(target, 7) AS INTEGER)), 0) FROM audit
         WHERE action = 'token.create' AND target LIKE 'token %'",
        [],
        |r| r.get(0),
    )?;
    // Rebuilt from the schema's own definition: the old table moves aside, the schema creates the new.
    conn.execute_batch("BEGIN IMMEDIATE; ALTER TABLE tokens RENAME TO tokens_old;")?;
    let moved = conn
        .execute_batch(super::SCHEMA)
        .and_then(|()| {
            conn.execute_batch(
                "INSERT INTO tokens (id, hash, user_id, name, scopes, created_ms, last_used_ms)
                     SELECT id, hash, user_id, name, scopes, created_ms, last_used_ms FROM tokens_old;
                 DROP TABLE tokens_old;",
            )
        });
    if let Err(e) = moved {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e);
    }
    let done = (|| {
        let used: i64 =
            conn.query_row("SELECT coalesce(max(id), 0) FROM tokens", [], |r| r.get(0))?;
        conn.execute("DELETE FROM sqlite_sequence WHERE name = 'tokens'", [])?;
        conn.execute(
            "INSERT INTO sqlite_sequence (name, seq) VALUES ('tokens', ?1)",
            [used.max(audited)],
        )?;
        conn.execute_batch("COMMIT")
    })();
    if done.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    done
}

impl Security {
    /// Creates a token for `user_id`; returns it with its secret (shown once).
    pub fn create_token(
        &self,
        user_id: i64,
        name: &str,
        scopes: &[String],
    ) -> Result<(TokenInfo, String), ServerError> {
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(ServerError::Invalid(
                "token names are 1-100 printable characters".into(),
            ));
        }
        let set = parse_scopes(scopes)?;
        let secret = format!("vgl_{}", hex::encode(random_bytes::<32>()?));
        let scope_text = set.names().join(",");
        let db = self.db();
        db.execute(
            "INSERT INTO tokens (hash, user_id, name, scopes, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![sha256_hex(&secret), user_id, name, scope_text, now_ms()],
        )
        .map_err(self.e())?;
        let id = db.last_insert_rowid();
        drop(db);
        let info = self
            .tokens()?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| ServerError::NotFound(format!("token {id} vanished")))?;
        Ok((info, secret))
    }

    /// Every token.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, ServerError> {
        let db = self.db();
        let mut q = db
            .prepare(
                "SELECT t.id, t.name, u.username, t.scopes, t.created_ms, t.last_used_ms
                 FROM tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id",
            )
            .map_err(self.e())?;
        q.query_map([], |r| {
            let scopes: String = r.get(3)?;
            Ok(TokenInfo {
                id: r.get(0)?,
                name: r.get(1)?,
                user: r.get(2)?,
                scopes: scopes
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
                created_ms: r.get(4)?,
                last_used_ms: r.get(5)?,
            })
        })
        .map_err(self.e())?
        .collect::<Result<_, _>>()
        .map_err(self.e())
    }

    /// Revokes a token.
    pub fn delete_token(&self, id: i64) -> Result<(), ServerError> {
        let n = self
            .db()
            .execute("DELETE FROM tokens WHERE id = ?1", [id])
            .map_err(self.e())?;
        if n == 0 {
            return Err(ServerError::NotFound(format!("no token with id {id}")));
        }
        Ok(())
    }

    /// The principal of a bearer token, or `None` (unknown, or its user is disabled).
    pub fn token(&self, secret: &str) -> Result<Option<Principal>, ServerError> {
        if !secret.starts_with("vgl_") || secret.len() != 68 {
            return Ok(None);
        }
        self.token_where("hash = ?1", sha256_hex(secret))
    }

    /// The principal of the token with row id `id`, or `None` (revoked, or its user is disabled).
    pub fn token_by_id(&self, id: i64) -> Result<Option<Principal>, ServerError> {
        self.token_where("id = ?1", id)
    }

    fn token_where(
        &self,
        condition: &str,
        value: impl rusqlite::ToSql,
    ) -> Result<Option<Principal>, ServerError> {
        let db = self.db();
        let row: Option<(i64, i64, String, Option<i64>)> = db
            .query_row(
                &format!("SELECT id, user_id, scopes, last_used_ms FROM tokens WHERE {condition}"),
                [value],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(self.e())?;
        let Some((id, user_id, scopes, last)) = row else {
            return Ok(None);
        };
        let now = now_ms();
        if last.is_none_or(|l| now - l > 60_000) {
            db.execute(
                "UPDATE tokens SET last_used_ms = ?2 WHERE id = ?1",
                params![id, now],
            )
            .map_err(self.e())?;
        }
        let user: Option<User> = db
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1 AND disabled = 0"),
                [user_id],
                user_row,
            )
            .optional()
            .map_err(self.e())?;
        // A token acts for its user as they stand now: when their role requires MFA they have not
        // enrolled, the token is held back like their sessions are.
        Ok(user.map(|u| Principal {
            user_id: u.id,
            perms: u.perms().intersect(scopes_of(&scopes)),
            mfa_pending: self.policy.require_mfa.contains(&u.role) && !u.mfa,
            username: u.username,
            role: u.role,
            cameras: u.cameras,
            via: Via::Token { id },
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::{Policy, Security};

    #[test]
    fn a_table_from_before_autoincrement_never_hands_out_a_used_id_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("security.db");
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE COLLATE NOCASE,
                 role TEXT NOT NULL, cameras TEXT, playback INTEGER NOT NULL DEFAULT 0,
                 export INTEGER NOT NULL DEFAULT 0, password_hash TEXT NOT NULL, mfa_secret BLOB,
                 mfa_pending BLOB, mfa_last_step INTEGER NOT NULL DEFAULT 0,
                 disabled INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL);
             CREATE TABLE tokens (id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE,
                 user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE, name TEXT NOT NULL,
                 scopes TEXT NOT NULL, created_ms INTEGER NOT NULL, last_used_ms INTEGER);
             INSERT INTO users (id, username, role, password_hash, created_ms) VALUES (1, 'a', 'admin', 'x', 0);
             INSERT INTO tokens VALUES (2, 'h2', 1, 'kept', 'events', 0, NULL);",
        )
        .unwrap();
        drop(conn);
        // Token 5 was created and revoked earlier: only the audit log remembers it.
        let sec = Security::open(&db, Policy::default()).unwrap();
        sec.audit("a", "local", "token.create", "token 5 (gone)", "events")
            .unwrap();
        drop(sec);
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "DROP TABLE tokens;
             CREATE TABLE tokens (id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE,
                 user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE, name TEXT NOT NULL,
                 scopes TEXT NOT NULL, created_ms INTEGER NOT NULL, last_used_ms INTEGER);
             INSERT INTO tokens VALUES (2, 'h2', 1, 'kept', 'events', 0, NULL);",
        )
        .unwrap();
        drop(conn);
        let sec = Security::open(&db, Policy::default()).unwrap();
        let (t, _) = sec.create_token(1, "next", &["events".into()]).unwrap();
        assert_eq!(t.id, 6, "after the highest id ever audited");
        assert_eq!(
            sec.tokens().unwrap().len(),
            2,
            "the existing token survived"
        );
        sec.delete_token(6).unwrap();
        let (t, _) = sec.create_token(1, "again", &["events".into()]).unwrap();
        assert_eq!(t.id, 7);
    }
}
