//! Users: create, list, change, delete; the last enabled admin can be neither removed nor demoted.

use super::{Security, now_ms, password};
use crate::error::ServerError;
use crate::perms::{Permissions, Role};
use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Deserializer, Serialize};

/// A user as the API shows it (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Cameras the user may see (`null`: all).
    pub cameras: Option<Vec<String>>,
    /// Viewer may watch recordings.
    pub playback: bool,
    /// Viewer may export.
    pub export: bool,
    /// MFA is enabled.
    pub mfa: bool,
    /// Cannot log in.
    pub disabled: bool,
    /// Created (unix ms).
    pub created_ms: i64,
    /// What the user may do.
    pub permissions: Vec<&'static str>,
}

impl User {
    /// The user's permissions.
    pub fn perms(&self) -> Permissions {
        Permissions::for_role(self.role, self.playback, self.export)
    }
}

/// A new user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name: 1-64 of letters, digits, `.`, `_`, `-`, `@`.
    pub username: String,
    /// Password (strength rules apply).
    pub password: String,
    /// Role.
    pub role: Role,
    /// Cameras the user may see (absent or `null`: all).
    #[serde(default)]
    pub cameras: Option<Vec<String>>,
    /// Viewer may watch recordings.
    #[serde(default)]
    pub playback: bool,
    /// Viewer may export.
    #[serde(default)]
    pub export: bool,
}

/// Changes to a user; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// New role.
    #[serde(default)]
    pub role: Option<Role>,
    /// New camera scope (`null`: all cameras).
    #[serde(default, deserialize_with = "present")]
    pub cameras: Option<Option<Vec<String>>>,
    /// Viewer may watch recordings.
    #[serde(default)]
    pub playback: Option<bool>,
    /// Viewer may export.
    #[serde(default)]
    pub export: Option<bool>,
    /// New password (ends the user's sessions).
    #[serde(default)]
    pub password: Option<String>,
    /// Disable or enable (disabling ends the user's sessions).
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// A field that is present (even as `null`) becomes `Some(..)`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Checks a user name.
pub fn check_username(name: &str) -> Result<(), ServerError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(ServerError::Invalid(
            "user names are 1-64 characters: letters, digits, '.', '_', '-', '@'".into(),
        ))
    }
}

/// Whether text typed as a user name looks like a secret rather than a name: not a valid user name
/// (spaces, symbols, too long), or long and mixing at least three kinds of characters (lower case,
/// upper case, digits, punctuation), or long with letters and digits mixed.
pub fn looks_like_secret(typed: &str) -> bool {
    if check_username(typed).is_err() {
        return !typed.is_empty();
    }
    let n = typed.chars().count();
    let kinds = [
        typed.chars().any(|c| c.is_ascii_lowercase()),
        typed.chars().any(|c| c.is_ascii_uppercase()),
        typed.chars().any(|c| c.is_ascii_digit()),
        typed.chars().any(|c| !c.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|k| **k)
    .count();
    let letters_and_digits = typed.chars().any(|c| c.is_ascii_alphabetic())
        && typed.chars().filter(|c| c.is_ascii_digit()).count() >= 2;
    (n >= 12 && kinds >= 3) || (n >= 16 && letters_and_digits)
}

fn check_cameras(cameras: &Option<Vec<String>>) -> Result<(), ServerError> {
    if let Some(list) = cameras
        && (list.len() > 1000 || list.iter().any(|c| c.is_empty() || c.len() > 128))
    {
        return Err(ServerError::Invalid(
            "cameras: at most 1000 names of 1-128 characters".into(),
        ));
    }
    Ok(())
}

pub(crate) const USER_COLUMNS: &str =
    "id, username, role, cameras, playback, export, mfa_secret IS NOT NULL, disabled, created_ms";

pub(crate) fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = r.get(2)?;
    let cameras: Option<String> = r.get(3)?;
    let mut u = User {
        id: r.get(0)?,
        username: r.get(1)?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        cameras: cameras.and_then(|c| serde_json::from_str(&c).ok()),
        playback: r.get(4)?,
        export: r.get(5)?,
        mfa: r.get(6)?,
        disabled: r.get(7)?,
        created_ms: r.get(8)?,
        permissions: Vec::new(),
    };
    u.permissions = u.perms().names();
    Ok(u)
}

fn cameras_json(c: &Option<Vec<String>>) -> Option<String> {
    c.as_ref()
        .map(|l| serde_json::to_string(l).unwrap_or_else(|_| "[]".into()))
}

impl Security {
    /// Users in the database.
    pub fn user_count(&self) -> Result<i64, ServerError> {
        self.db()
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .map_err(self.e())
    }

    /// Creates a user (argon2id hash; strength rules apply).
    pub fn add_user(&self, new: &NewUser) -> Result<User, ServerError> {
        check_username(&new.username)?;
        check_cameras(&new.cameras)?;
        password::check_strength(&new.username, &new.password)?;
        let hash = password::hash(&new.password)?;
        let db = self.db();
        let taken: bool = db
            .query_row(
                "SELECT count(*) > 0 FROM users WHERE username = ?1",
                [&new.username],
                |r| r.get(0),
            )
            .map_err(self.e())?;
        if taken {
            return Err(ServerError::Invalid(format!(
                "user {:?} exists already",
                new.username
            )));
        }
        db.execute(
            "INSERT INTO users (username, role, cameras, playback, export, password_hash, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                new.username,
                new.role.name(),
                cameras_json(&new.cameras),
                new.playback,
                new.export,
                hash,
                now_ms()
            ],
        )
        .map_err(self.e())?;
        let id = db.last_insert_rowid();
        drop(db);
        self.user(id)
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<User>, ServerError> {
        let db = self.db();
        let mut q = db
            .prepare(&format!(
                "SELECT {USER_COLUMNS} FROM users ORDER BY username"
            ))
            .map_err(self.e())?;
        q.query_map([], user_row)
            .map_err(self.e())?
            .collect::<Result<_, _>>()
            .map_err(self.e())
    }

    /// One user by id.
    pub fn user(&self, id: i64) -> Result<User, ServerError> {
        self.db()
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [id],
                user_row,
            )
            .optional()
            .map_err(self.e())?
            .ok_or_else(|| ServerError::NotFound(format!("no user with id {id}")))
    }

    /// One user by name (case-insensitive).
    pub fn user_by_name(&self, name: &str) -> Result<Option<User>, ServerError> {
        self.db()
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"),
                [name],
                user_row,
            )
            .optional()
            .map_err(self.e())
    }

    /// The user whose password this is, or `None` (unknown user, disabled user, wrong password: the
    /// same time is spent in each case).
    pub fn check_password(
        &self,
        name: &str,
        password: &str,
        slot: &mut password::HashSlot,
    ) -> Result<Option<User>, ServerError> {
        let row: Option<(i64, String, bool)> = self
            .db()
            .query_row(
                "SELECT id, password_hash, disabled FROM users WHERE username = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(self.e())?;
        match row {
            Some((id, hash, disabled)) => {
                let ok = slot.verify(&hash, password);
                // A central user whose cached validity ran out waits for the hub's next push.
                if ok && !disabled && !self.central_expired(id)? {
                    Ok(Some(self.user(id)?))
                } else {
                    Ok(None)
                }
            }
            None => {
                slot.verify_dummy(password);
                Ok(None)
            }
        }
    }

    /// What the audit log records as the target of a failed login for the name typed: the name when
    /// it is a user's, or when it looks like a name; otherwise (a password typed into the user name
    /// field, say) a marker that cannot be turned back into it: `unknown name (secret-like, <id>)`,
    /// where `<id>` is an HMAC under the audit key, the same for the same text (so attempts can be
    /// told apart and counted without revealing what was typed).
    pub fn login_target(&self, typed: &str) -> Result<String, ServerError> {
        if !looks_like_secret(typed) || self.user_by_name(typed)?.is_some() {
            return Ok(typed.to_string());
        }
        let mut m = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(self.audit_key.bytes())
            .expect("HMAC takes any key length");
        hmac::Mac::update(&mut m, b"vigil login name");
        hmac::Mac::update(&mut m, typed.as_bytes());
        let tag = hmac::Mac::finalize(m).into_bytes();
        Ok(format!(
            "unknown name (secret-like, {})",
            hex::encode(&tag[..6])
        ))
    }

    fn enabled_admins_except(&self, id: i64) -> Result<i64, ServerError> {
        self.db()
            .query_row(
                "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id != ?1",
                [id],
                |r| r.get(0),
            )
            .map_err(self.e())
    }

    /// Applies a change; a password change or disabling ends the user's sessions. Refused when it
    /// would leave no enabled admin.
    pub fn update_user(&self, id: i64, patch: &UserPatch) -> Result<User, ServerError> {
        let before = self.user(id)?;
        let stays_admin = patch.role.unwrap_or(before.role) == Role::Admin
            && !patch.disabled.unwrap_or(before.disabled);
        if before.role == Role::Admin && !stays_admin && self.enabled_admins_except(id)? == 0 {
            return Err(ServerError::Invalid(
                "this is the last enabled admin: make another admin first".into(),
            ));
        }
        if let Some(c) = &patch.cameras {
            check_cameras(c)?;
        }
        let hash = match &patch.password {
            Some(p) => {
                password::check_strength(&before.username, p)?;
                Some(password::hash(p)?)
            }
            None => None,
        };
        let mut db = self.db();
        let tx = db.transaction().map_err(self.e())?;
        if let Some(role) = patch.role {
            tx.execute(
                "UPDATE users SET role = ?2 WHERE id = ?1",
                params![id, role.name()],
            )
            .map_err(self.e())?;
        }
        if let Some(c) = &patch.cameras {
            tx.execute(
                "UPDATE users SET cameras = ?2 WHERE id = ?1",
                params![id, cameras_json(c)],
            )
            .map_err(self.e())?;
        }
        if let Some(p) = patch.playback {
            tx.execute(
                "UPDATE users SET playback = ?2 WHERE id = ?1",
                params![id, p],
            )
            .map_err(self.e())?;
        }
        if let Some(x) = patch.export {
            tx.execute("UPDATE users SET export = ?2 WHERE id = ?1", params![id, x])
                .map_err(self.e())?;
        }
        if let Some(d) = patch.disabled {
            tx.execute(
                "UPDATE users SET disabled = ?2 WHERE id = ?1",
                params![id, d],
            )
            .map_err(self.e())?;
        }
        if let Some(h) = &hash {
            tx.execute(
                "UPDATE users SET password_hash = ?2 WHERE id = ?1",
                params![id, h],
            )
            .map_err(self.e())?;
        }
        if hash.is_some() || patch.disabled == Some(true) {
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id])
                .map_err(self.e())?;
        }
        tx.commit().map_err(self.e())?;
        drop(db);
        self.user(id)
    }

    /// Deletes a user with their sessions, tokens and recovery codes. Refused for the last enabled
    /// admin.
    pub fn delete_user(&self, id: i64) -> Result<User, ServerError> {
        let user = self.user(id)?;
        if user.role == Role::Admin && !user.disabled && self.enabled_admins_except(id)? == 0 {
            return Err(ServerError::Invalid(
                "this is the last enabled admin: make another admin first".into(),
            ));
        }
        self.db()
            .execute("DELETE FROM users WHERE id = ?1", [id])
            .map_err(self.e())?;
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_secret;

    #[test]
    fn passwords_typed_as_names_are_told_from_names() {
        for secret in [
            "tulip-orbit-42-canyon",
            "correct horse battery staple",
            "Tr0ub4dor&3xyz",
            "hunter2!",
            "a8f3k29dk3l29s0f",
        ] {
            assert!(looks_like_secret(secret), "{secret}");
        }
        for name in [
            "admin",
            "root",
            "alice",
            "bob.smith",
            "j.doe@example.org",
            "operator-2",
            "cam-ops",
        ] {
            assert!(!looks_like_secret(name), "{name}");
        }
    }
}
