//! Login sessions: a random 256-bit id in an HttpOnly + Secure + SameSite=Strict cookie, stored as its
//! SHA-256; a CSRF token per session; idle and absolute timeouts checked on every request.

use super::users::{USER_COLUMNS, User, user_row};
use super::{Security, now_ms, random_bytes, sha256_hex};
use crate::error::ServerError;
use crate::perms::{Principal, Via};
use rusqlite::{OptionalExtension, params};

/// Name of the session cookie.
pub const COOKIE: &str = "vigil_session";

/// A new session as handed to the client.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The id to put into the cookie (never stored).
    pub id: String,
    /// The CSRF token for writes.
    pub csrf: String,
}

impl Security {
    /// Starts a session for a user who has just proven who they are.
    pub fn create_session(&self, user_id: i64, ip: &str) -> Result<NewSession, ServerError> {
        let id = hex::encode(random_bytes::<32>()?);
        let csrf = hex::encode(random_bytes::<32>()?);
        let now = now_ms();
        self.db()
            .execute(
                "INSERT INTO sessions (hash, user_id, csrf, created_ms, last_ms, ip)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
                params![sha256_hex(&id), user_id, csrf, now, ip],
            )
            .map_err(self.e())?;
        Ok(NewSession { id, csrf })
    }

    /// The principal of a session cookie, or `None` when unknown, expired (idle or absolute) or the
    /// user is disabled. Expired sessions are deleted.
    pub fn session(&self, id: &str) -> Result<Option<Principal>, ServerError> {
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        self.session_by_hash(sha256_hex(id))
    }

    /// [`session`](Self::session) by the stored hash of the id (what a [`Principal`] keeps).
    pub fn session_by_hash(&self, hash: String) -> Result<Option<Principal>, ServerError> {
        let now = now_ms();
        let db = self.db();
        let row: Option<(i64, String, i64, i64)> = db
            .query_row(
                "SELECT user_id, csrf, created_ms, last_ms FROM sessions WHERE hash = ?1",
                [&hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(self.e())?;
        let Some((user_id, csrf, created, last)) = row else {
            return Ok(None);
        };
        let idle = self.policy.session_idle.as_millis() as i64;
        let max = self.policy.session_max.as_millis() as i64;
        if now - last > idle || now - created > max {
            db.execute("DELETE FROM sessions WHERE hash = ?1", [&hash])
                .map_err(self.e())?;
            return Ok(None);
        }
        // Touch at most every 1/8 of the idle timeout (a write per request would cost an fsync).
        if now - last > (idle / 8).min(30_000) {
            db.execute(
                "UPDATE sessions SET last_ms = ?2 WHERE hash = ?1",
                params![hash, now],
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
        Ok(user.map(|u| {
            let mfa_pending = self.policy.require_mfa.contains(&u.role) && !u.mfa;
            Principal {
                user_id: u.id,
                perms: u.perms(),
                username: u.username,
                role: u.role,
                cameras: u.cameras,
                via: Via::Session { hash, csrf },
                mfa_pending,
            }
        }))
    }

    /// The principal behind `via` as it stands now: `None` when the session ended or expired, the token
    /// was revoked or the user was disabled. Long-lived connections (live video) check this periodically.
    pub fn recheck(&self, via: &Via) -> Result<Option<Principal>, ServerError> {
        match via {
            Via::Session { hash, .. } => self.session_by_hash(hash.clone()),
            Via::Token { id } => self.token_by_id(*id),
            Via::Display { id, .. } => self.display_by_id(*id),
        }
    }

    /// Ends a session by its stored hash.
    pub fn end_session(&self, hash: &str) -> Result<(), ServerError> {
        self.db()
            .execute("DELETE FROM sessions WHERE hash = ?1", [hash])
            .map_err(self.e())?;
        Ok(())
    }

    /// Ends every session of a user.
    pub fn end_sessions_of(&self, user_id: i64) -> Result<usize, ServerError> {
        self.db()
            .execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])
            .map_err(self.e())
    }

    /// Ends every session of a user but the one with stored hash `keep`; returns how many ended.
    pub fn end_other_sessions(&self, user_id: i64, keep: &str) -> Result<usize, ServerError> {
        self.db()
            .execute(
                "DELETE FROM sessions WHERE user_id = ?1 AND hash != ?2",
                params![user_id, keep],
            )
            .map_err(self.e())
    }

    /// Deletes expired sessions; returns how many.
    pub fn sweep_sessions(&self) -> Result<usize, ServerError> {
        let now = now_ms();
        self.db()
            .execute(
                "DELETE FROM sessions WHERE last_ms < ?1 OR created_ms < ?2",
                params![
                    now - self.policy.session_idle.as_millis() as i64,
                    now - self.policy.session_max.as_millis() as i64
                ],
            )
            .map_err(self.e())
    }
}
