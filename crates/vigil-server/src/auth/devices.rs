//! Known devices: a browser that logged in to an account gets a `vigil_device` cookie (a 256-bit random
//! token, stored only as its SHA-256, bound to the account). Presented at a later login of that
//! account, it gives the attempt a failure count of its own ([`super::limit`]): failures typed from
//! anywhere else never slow that browser down. The cookie is no credential (the password and MFA are
//! still checked); it only keeps an attacker from locking the owner out.

use super::{Security, now_ms, random_bytes, sha256_hex};
use crate::error::ServerError;
use rusqlite::{OptionalExtension, params};

/// The cookie's name.
pub const COOKIE: &str = "vigil_device";

/// How long a device stays known without a login (also the cookie's `Max-Age`).
pub const KEEP_DAYS: u64 = 90;

/// Most known devices per user; logging in on one more forgets the least recently used.
pub const MAX_PER_USER: i64 = 20;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS devices (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    used_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS devices_user ON devices (user_id);
";

impl Security {
    /// The id of the known device with cookie `token`, when it belongs to the account `name`.
    pub fn known_device(&self, name: &str, token: &str) -> Result<Option<i64>, ServerError> {
        if token.len() != 64 {
            return Ok(None);
        }
        self.db()
            .query_row(
                "SELECT d.id FROM devices d JOIN users u ON u.id = d.user_id
                 WHERE d.hash = ?1 AND u.username = ?2 AND d.used_ms >= ?3",
                params![sha256_hex(token), name, now_ms() - keep_ms()],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.e())
    }

    /// After a successful login of `user_id`: marks the known device `device` as used, or remembers a
    /// new one and returns the cookie value to set.
    pub fn remember_device(
        &self,
        user_id: i64,
        device: Option<i64>,
    ) -> Result<Option<String>, ServerError> {
        let now = now_ms();
        let db = self.db();
        if let Some(id) = device {
            db.execute(
                "UPDATE devices SET used_ms = ?2 WHERE id = ?1",
                params![id, now],
            )
            .map_err(self.e())?;
            return Ok(None);
        }
        let token = hex::encode(random_bytes::<32>()?);
        db.execute(
            "INSERT INTO devices (user_id, hash, created_ms, used_ms) VALUES (?1, ?2, ?3, ?3)",
            params![user_id, sha256_hex(&token), now],
        )
        .map_err(self.e())?;
        db.execute(
            "DELETE FROM devices WHERE user_id = ?1 AND id NOT IN
             (SELECT id FROM devices WHERE user_id = ?1 ORDER BY used_ms DESC, id DESC LIMIT ?2)",
            params![user_id, MAX_PER_USER],
        )
        .map_err(self.e())?;
        Ok(Some(token))
    }

    /// Forgets devices unused for [`KEEP_DAYS`]. Returns how many.
    pub fn sweep_devices(&self) -> Result<usize, ServerError> {
        self.db()
            .execute(
                "DELETE FROM devices WHERE used_ms < ?1",
                [now_ms() - keep_ms()],
            )
            .map_err(self.e())
    }
}

fn keep_ms() -> i64 {
    (KEEP_DAYS * 86_400_000) as i64
}
