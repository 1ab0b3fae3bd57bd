//! Central users: the hub's accounts, pushed to this site and cached here for a bounded time, so the
//! people the hub manages can log in to the site's own UI, also while the link to the hub is down.
//!
//! They are rows of `users` marked with `central_until_ms`: the time until which the last push from the
//! hub vouches for them (`[uplink] central_users_hours` after it). Past it they cannot log in until the
//! hub pushes again, so a user removed or disabled at the hub is locked out of a site that cannot hear
//! about it after that bound at the latest. A local user of the same name always wins: the push skips it.
//! Passwords arrive as argon2id hashes (the hub hashes with this crate's [`super::password`]), never
//! in clear; a user the hub no longer lists is deleted here with its sessions.

use super::{Security, now_ms};
use crate::error::ServerError;
use crate::perms::Role;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
pub use vigil_core::account::CentralAccount;

/// What a push changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CentralSync {
    /// Users added.
    pub added: usize,
    /// Users updated (hash, role, cameras, validity).
    pub updated: usize,
    /// Users the hub no longer lists, deleted.
    pub removed: usize,
    /// Users skipped: a local user has the name, or the entry is not valid.
    pub skipped: Vec<String>,
}

/// Adds the `central_until_ms` column to an older database.
pub(crate) fn migrate(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let has: bool = conn.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('users') WHERE name = 'central_until_ms'",
        [],
        |r| r.get(0),
    )?;
    if !has {
        conn.execute_batch("ALTER TABLE users ADD COLUMN central_until_ms INTEGER")?;
    }
    Ok(())
}

impl Security {
    /// Replaces the cached central users with `accounts`, valid until `valid_until_ms`; audited.
    pub fn sync_central_users(
        &self,
        accounts: &[CentralAccount],
        valid_until_ms: i64,
    ) -> Result<CentralSync, ServerError> {
        let mut out = CentralSync::default();
        {
            let mut db = self.db();
            let tx = db
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(self.e())?;
            let mut kept = Vec::new();
            for a in accounts {
                let valid = super::users::check_username(&a.username).is_ok()
                    && Role::parse(&a.role).is_some()
                    && a.password_hash.starts_with("$argon2");
                if !valid {
                    out.skipped.push(a.username.clone());
                    continue;
                }
                let existing: Option<Option<i64>> = tx
                    .query_row(
                        "SELECT central_until_ms FROM users WHERE username = ?1",
                        [&a.username],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(self.e())?;
                let cameras = a
                    .cameras
                    .as_ref()
                    .map(|c| serde_json::to_string(c).unwrap_or_else(|_| "[]".into()));
                match existing {
                    Some(None) => {
                        out.skipped.push(a.username.clone());
                        continue;
                    }
                    Some(Some(_)) => {
                        tx.execute(
                            "UPDATE users SET role = ?2, cameras = ?3, playback = ?4, export = ?5,
                                 password_hash = ?6, central_until_ms = ?7, disabled = 0
                             WHERE username = ?1",
                            params![
                                a.username,
                                a.role,
                                cameras,
                                a.playback,
                                a.export,
                                a.password_hash,
                                valid_until_ms
                            ],
                        )
                        .map_err(self.e())?;
                        out.updated += 1;
                    }
                    None => {
                        tx.execute(
                            "INSERT INTO users (username, role, cameras, playback, export, password_hash,
                                 created_ms, central_until_ms)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                            params![
                                a.username,
                                a.role,
                                cameras,
                                a.playback,
                                a.export,
                                a.password_hash,
                                now_ms(),
                                valid_until_ms
                            ],
                        )
                        .map_err(self.e())?;
                        out.added += 1;
                    }
                }
                kept.push(a.username.to_lowercase());
            }
            let listed: Vec<String> = tx
                .prepare("SELECT username FROM users WHERE central_until_ms IS NOT NULL")
                .and_then(|mut s| {
                    s.query_map([], |r| r.get::<_, String>(0))?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(self.e())?;
            for name in listed {
                if !kept.contains(&name.to_lowercase()) {
                    tx.execute("DELETE FROM users WHERE username = ?1", [&name])
                        .map_err(self.e())?;
                    out.removed += 1;
                }
            }
            tx.commit().map_err(self.e())?;
        }
        if out.added + out.updated + out.removed > 0 || !out.skipped.is_empty() {
            self.audit_or_log(
                "hub",
                "uplink",
                "central_users.sync",
                &format!("{} users", accounts.len()),
                &serde_json::to_string(&out).unwrap_or_default(),
            );
        }
        Ok(out)
    }

    /// Whether `user_id` is a central user whose cached validity has run out (cannot log in).
    pub(crate) fn central_expired(&self, user_id: i64) -> Result<bool, ServerError> {
        let until: Option<i64> = self
            .db()
            .query_row(
                "SELECT central_until_ms FROM users WHERE id = ?1",
                [user_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.e())?
            .flatten();
        Ok(until.is_some_and(|t| t < now_ms()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Policy, password};

    fn account(name: &str, pw: &str) -> CentralAccount {
        CentralAccount {
            username: name.into(),
            role: "operator".into(),
            cameras: Some(vec!["gate".into()]),
            password_hash: password::hash(pw).unwrap(),
            playback: false,
            export: false,
        }
    }

    fn login(sec: &Security, name: &str, pw: &str) -> bool {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut slot = rt.block_on(sec.hashing.slot()).ok().unwrap();
        sec.check_password(name, pw, &mut slot).unwrap().is_some()
    }

    #[test]
    fn central_users_log_in_until_their_bound_and_local_users_win() {
        let dir = tempfile::tempdir().unwrap();
        let sec = Security::open(&dir.path().join("security.db"), Policy::default()).unwrap();
        let local = crate::auth::users::NewUser {
            username: "alice".into(),
            password: "a local password of some length".into(),
            role: Role::Admin,
            cameras: None,
            playback: false,
            export: false,
        };
        sec.add_user(&local).unwrap();
        let pw = "the hub's password for bob 42";
        let later = now_ms() + 3_600_000;
        let s = sec
            .sync_central_users(
                &[account("bob", pw), account("alice", "hub alice password 9")],
                later,
            )
            .unwrap();
        assert_eq!((s.added, s.skipped.clone()), (1, vec!["alice".to_string()]));
        assert!(login(&sec, "bob", pw), "a central user logs in");
        assert!(!login(&sec, "bob", "wrong password here"));
        assert!(
            login(&sec, "alice", "a local password of some length"),
            "the local alice is untouched"
        );
        let bob = sec.user_by_name("bob").unwrap().unwrap();
        assert_eq!(bob.cameras, Some(vec!["gate".to_string()]));
        // The bound passes without a push: bob waits for the hub.
        sec.sync_central_users(&[account("bob", pw)], now_ms() - 1)
            .unwrap();
        assert!(
            !login(&sec, "bob", pw),
            "an expired central user is refused"
        );
        // The hub stops listing bob: he is gone.
        let s = sec.sync_central_users(&[], later).unwrap();
        assert_eq!(s.removed, 1);
        assert!(sec.user_by_name("bob").unwrap().is_none());
        assert!(sec.user_by_name("alice").unwrap().is_some());
    }
}
