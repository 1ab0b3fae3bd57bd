//! Camera groups (a named set of cameras in a saved order with a grid layout) and wall displays (kiosk
//! mode): a display token, made by an admin for one group, that logs a screen into the live view of that
//! group and nothing else. A display has no idle timeout (a wall screen shows video all day without
//! anyone touching it); it lives until revoked, and acts within its creator's rights as they stand now
//! (creator disabled, demoted or deleted: the display stops). Its secret is 256 random bits, kept as a
//! SHA-256 hash, shown once; the browser keeps it in an HttpOnly cookie ([`DISPLAY_COOKIE`]).

use crate::auth::users::{USER_COLUMNS, User, user_row};
use crate::auth::{Security, now_ms, random_bytes, sha256_hex};
use crate::error::ServerError;
use crate::perms::{Permission, Permissions, Principal, Role, Via};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// Name of a wall display's cookie.
pub const DISPLAY_COOKIE: &str = "vigil_display";

/// Most cameras in one group (a wall of 8x8).
pub const MAX_GROUP_CAMERAS: usize = 64;

/// What a wall display may do, at most: list and watch its group's cameras.
const DISPLAY_PERMS: [Permission; 2] = [Permission::Cameras, Permission::Live];

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS camera_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    cameras TEXT NOT NULL,
    columns INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS displays (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    group_id INTEGER NOT NULL REFERENCES camera_groups (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_ms INTEGER NOT NULL,
    last_used_ms INTEGER
);
";

/// A camera group with its saved layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CameraGroup {
    /// Id.
    pub id: i64,
    /// Name, unique (case does not matter).
    pub name: String,
    /// The cameras, in the order the grid shows them.
    pub cameras: Vec<String>,
    /// Tiles per row (1-8), or 0 to fit the screen.
    pub columns: u8,
    /// Created (unix ms).
    pub created_ms: i64,
}

/// A group as created or changed through the API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRequest {
    /// Name: 1-64 printable characters.
    pub name: String,
    /// Cameras in order (1-64, each once).
    pub cameras: Vec<String>,
    /// Tiles per row (1-8), or 0 to fit the screen (default).
    #[serde(default)]
    pub columns: u8,
}

/// A wall display as listed (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Display {
    /// Id.
    pub id: i64,
    /// Name (where the screen hangs).
    pub name: String,
    /// The group it shows.
    pub group_id: i64,
    /// The group's name.
    pub group: String,
    /// Who made it (the display acts within their rights).
    pub created_by: String,
    /// Created (unix ms).
    pub created_ms: i64,
    /// Last request (unix ms; updated at most once a minute).
    pub last_used_ms: Option<i64>,
}

/// Checks a display or group name.
fn check_name(what: &str, name: &str) -> Result<(), ServerError> {
    if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ServerError::Invalid(format!(
            "{what} name: give 1-64 printable characters"
        )));
    }
    Ok(())
}

fn group_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CameraGroup> {
    let cameras: String = r.get(2)?;
    Ok(CameraGroup {
        id: r.get(0)?,
        name: r.get(1)?,
        cameras: serde_json::from_str(&cameras).unwrap_or_default(),
        columns: r.get(3)?,
        created_ms: r.get(4)?,
    })
}

fn unique(e: rusqlite::Error, what: &str) -> Option<ServerError> {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            Some(ServerError::Conflict(format!("{what} already exists")))
        }
        _ => None,
    }
}

impl GroupRequest {
    /// Checks the request against the cameras that exist.
    pub fn check(&self, known: &[String]) -> Result<(), ServerError> {
        check_name("group", &self.name)?;
        if self.cameras.is_empty() || self.cameras.len() > MAX_GROUP_CAMERAS {
            return Err(ServerError::Invalid(format!(
                "cameras: give 1-{MAX_GROUP_CAMERAS} cameras"
            )));
        }
        for (i, c) in self.cameras.iter().enumerate() {
            if !known.contains(c) {
                return Err(ServerError::Invalid(format!(
                    "cameras: no camera called {c:?} (cameras here: {})",
                    known.join(", ")
                )));
            }
            if self.cameras[..i].contains(c) {
                return Err(ServerError::Invalid(format!(
                    "cameras: {c:?} is listed twice"
                )));
            }
        }
        if self.columns > 8 {
            return Err(ServerError::Invalid(
                "columns: 1-8 tiles per row, or 0 to fit the screen".into(),
            ));
        }
        Ok(())
    }
}

impl Security {
    /// Every camera group, by name.
    pub fn groups(&self) -> Result<Vec<CameraGroup>, ServerError> {
        let db = self.db();
        let mut q = db
            .prepare(
                "SELECT id, name, cameras, columns, created_ms FROM camera_groups ORDER BY name",
            )
            .map_err(self.e())?;
        q.query_map([], group_row)
            .map_err(self.e())?
            .collect::<Result<_, _>>()
            .map_err(self.e())
    }

    /// One group.
    pub fn group(&self, id: i64) -> Result<CameraGroup, ServerError> {
        self.db()
            .query_row(
                "SELECT id, name, cameras, columns, created_ms FROM camera_groups WHERE id = ?1",
                [id],
                group_row,
            )
            .optional()
            .map_err(self.e())?
            .ok_or_else(|| ServerError::NotFound(format!("no camera group with id {id}")))
    }

    /// Creates a group (checked by the caller with [`GroupRequest::check`]).
    pub fn add_group(&self, g: &GroupRequest) -> Result<CameraGroup, ServerError> {
        let cameras = serde_json::to_string(&g.cameras)
            .map_err(|e| ServerError::Invalid(format!("cameras: {e}")))?;
        let id = {
            let db = self.db();
            db.execute(
                "INSERT INTO camera_groups (name, cameras, columns, created_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![g.name.trim(), cameras, g.columns, now_ms()],
            )
            .map_err(|e| {
                unique(e, &format!("a group called {:?}", g.name))
                    .unwrap_or_else(|| ServerError::Invalid("the group could not be stored".into()))
            })?;
            db.last_insert_rowid()
        };
        self.group(id)
    }

    /// Replaces a group's name, cameras and layout.
    pub fn update_group(&self, id: i64, g: &GroupRequest) -> Result<CameraGroup, ServerError> {
        let cameras = serde_json::to_string(&g.cameras)
            .map_err(|e| ServerError::Invalid(format!("cameras: {e}")))?;
        let n = self
            .db()
            .execute(
                "UPDATE camera_groups SET name = ?2, cameras = ?3, columns = ?4 WHERE id = ?1",
                params![id, g.name.trim(), cameras, g.columns],
            )
            .map_err(|e| {
                unique(e, &format!("a group called {:?}", g.name))
                    .unwrap_or_else(|| ServerError::Invalid("the group could not be stored".into()))
            })?;
        if n == 0 {
            return Err(ServerError::NotFound(format!(
                "no camera group with id {id}"
            )));
        }
        self.group(id)
    }

    /// Deletes a group and the wall displays that show it.
    pub fn delete_group(&self, id: i64) -> Result<(), ServerError> {
        let n = self
            .db()
            .execute("DELETE FROM camera_groups WHERE id = ?1", [id])
            .map_err(self.e())?;
        if n == 0 {
            return Err(ServerError::NotFound(format!(
                "no camera group with id {id}"
            )));
        }
        Ok(())
    }

    /// Every wall display (no secrets).
    pub fn displays(&self) -> Result<Vec<Display>, ServerError> {
        let db = self.db();
        let mut q = db
            .prepare(
                "SELECT d.id, d.name, d.group_id, g.name, u.username, d.created_ms, d.last_used_ms
                 FROM displays d JOIN camera_groups g ON g.id = d.group_id
                 JOIN users u ON u.id = d.user_id ORDER BY d.name",
            )
            .map_err(self.e())?;
        q.query_map([], |r| {
            Ok(Display {
                id: r.get(0)?,
                name: r.get(1)?,
                group_id: r.get(2)?,
                group: r.get(3)?,
                created_by: r.get(4)?,
                created_ms: r.get(5)?,
                last_used_ms: r.get(6)?,
            })
        })
        .map_err(self.e())?
        .collect::<Result<_, _>>()
        .map_err(self.e())
    }

    /// Makes a wall display for a group, acting within `user_id`'s rights; returns it with its
    /// secret (shown once).
    pub fn create_display(
        &self,
        user_id: i64,
        name: &str,
        group_id: i64,
    ) -> Result<(Display, String), ServerError> {
        check_name("display", name)?;
        self.group(group_id)?;
        let secret = format!("vgd_{}", hex::encode(random_bytes::<32>()?));
        let id = {
            let db = self.db();
            db.execute(
                "INSERT INTO displays (hash, name, group_id, user_id, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    sha256_hex(&secret),
                    name.trim(),
                    group_id,
                    user_id,
                    now_ms()
                ],
            )
            .map_err(self.e())?;
            db.last_insert_rowid()
        };
        let display = self
            .displays()?
            .into_iter()
            .find(|d| d.id == id)
            .ok_or_else(|| ServerError::NotFound(format!("no display with id {id}")))?;
        Ok((display, secret))
    }

    /// Revokes a wall display: its screen is logged out at its next request (live video within
    /// seconds: long-lived connections recheck).
    pub fn delete_display(&self, id: i64) -> Result<(), ServerError> {
        let n = self
            .db()
            .execute("DELETE FROM displays WHERE id = ?1", [id])
            .map_err(self.e())?;
        if n == 0 {
            return Err(ServerError::NotFound(format!("no display with id {id}")));
        }
        Ok(())
    }

    /// The principal of a display secret, or `None` when unknown or revoked.
    pub fn display(&self, secret: &str) -> Result<Option<Principal>, ServerError> {
        if !secret.starts_with("vgd_") || secret.len() != 68 {
            return Ok(None);
        }
        self.display_where("hash = ?1", sha256_hex(secret))
    }

    /// The principal of a display by id as it stands now (long-lived connections recheck it).
    pub fn display_by_id(&self, id: i64) -> Result<Option<Principal>, ServerError> {
        self.display_where("d.id = ?1", id)
    }

    /// The group a display shows.
    pub fn display_group(&self, id: i64) -> Result<CameraGroup, ServerError> {
        let group_id: i64 = self
            .db()
            .query_row("SELECT group_id FROM displays WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.e())?
            .ok_or_else(|| ServerError::NotFound(format!("no display with id {id}")))?;
        self.group(group_id)
    }

    fn display_where(
        &self,
        condition: &str,
        value: impl rusqlite::ToSql,
    ) -> Result<Option<Principal>, ServerError> {
        let db = self.db();
        let row: Option<(i64, String, i64, String, Option<i64>)> = db
            .query_row(
                &format!(
                    "SELECT d.id, d.name, d.user_id, g.cameras, d.last_used_ms
                     FROM displays d JOIN camera_groups g ON g.id = d.group_id WHERE {condition}"
                ),
                [value],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(self.e())?;
        let Some((id, name, user_id, cameras, last)) = row else {
            return Ok(None);
        };
        let now = now_ms();
        if last.is_none_or(|l| now - l > 60_000) {
            db.execute(
                "UPDATE displays SET last_used_ms = ?2 WHERE id = ?1",
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
        let group: Vec<String> = serde_json::from_str(&cameras).unwrap_or_default();
        Ok(user.map(|u| {
            // The group's cameras that the creator may still see.
            let cameras = group
                .into_iter()
                .filter(|c| u.cameras.as_ref().is_none_or(|mine| mine.contains(c)))
                .collect();
            Principal {
                user_id: u.id,
                perms: u.perms().intersect(Permissions::of(&DISPLAY_PERMS)),
                username: u.username,
                role: Role::Viewer,
                cameras: Some(cameras),
                via: Via::Display { id, name },
                mfa_pending: false,
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;
    use crate::auth::users::NewUser;

    fn user(sec: &Security, name: &str, role: Role, cameras: Option<Vec<String>>) -> i64 {
        sec.add_user(&NewUser {
            username: name.into(),
            password: "correct horse battery staple 1".into(),
            role,
            cameras,
            playback: false,
            export: false,
        })
        .unwrap()
        .id
    }

    #[test]
    fn a_display_sees_its_group_within_its_creators_rights_until_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let sec = Security::open(&dir.path().join("security.db"), Policy::default()).unwrap();
        let admin = user(&sec, "root", Role::Admin, Some(vec!["gate".into()]));
        let known: Vec<String> = vec!["gate".into(), "yard".into()];
        let req = GroupRequest {
            name: "Front".into(),
            cameras: known.clone(),
            columns: 2,
        };
        req.check(&known).unwrap();
        let g = sec.add_group(&req).unwrap();
        assert!(matches!(sec.add_group(&req), Err(ServerError::Conflict(_))));
        let (d, secret) = sec.create_display(admin, "Lobby", g.id).unwrap();
        let p = sec.display(&secret).unwrap().unwrap();
        // Only live view, only the cameras both the group and the creator have.
        assert_eq!(p.cameras, Some(vec!["gate".to_string()]));
        assert!(p.can(Permission::Live) && !p.can(Permission::Playback));
        assert!(!p.can(Permission::Events) && !p.can(Permission::Layouts));
        assert_eq!(p.audit_name(), format!("display {} (Lobby, by root)", d.id));
        assert!(sec.display("vgd_wrong").unwrap().is_none());
        sec.delete_display(d.id).unwrap();
        assert!(sec.display(&secret).unwrap().is_none());
        // Deleting a group revokes its displays.
        let (d2, secret2) = sec.create_display(admin, "Wall", g.id).unwrap();
        sec.delete_group(g.id).unwrap();
        assert!(sec.display(&secret2).unwrap().is_none());
        assert!(sec.display_by_id(d2.id).unwrap().is_none());
    }

    #[test]
    fn a_display_is_never_logged_out_for_being_idle() {
        let dir = tempfile::tempdir().unwrap();
        let policy = Policy {
            session_idle: std::time::Duration::from_millis(1),
            ..Policy::default()
        };
        let sec = Security::open(&dir.path().join("security.db"), policy).unwrap();
        let admin = user(&sec, "root", Role::Admin, None);
        let g = sec
            .add_group(&GroupRequest {
                name: "Wall".into(),
                cameras: vec!["gate".into()],
                columns: 0,
            })
            .unwrap();
        let (_, secret) = sec.create_display(admin, "Hall", g.id).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(sec.display(&secret).unwrap().is_some());
        // Its creator disabled: the display stops with them.
        user(&sec, "other", Role::Admin, None);
        sec.update_user(
            admin,
            &serde_json::from_value(serde_json::json!({"disabled": true})).unwrap(),
        )
        .unwrap();
        assert!(sec.display(&secret).unwrap().is_none());
    }

    #[test]
    fn groups_name_real_cameras_once() {
        let known: Vec<String> = vec!["gate".into(), "yard".into()];
        let bad = |cameras: &[&str], columns| GroupRequest {
            name: "x".into(),
            cameras: cameras.iter().map(|c| c.to_string()).collect(),
            columns,
        };
        assert!(bad(&["gate", "nope"], 0).check(&known).is_err());
        assert!(bad(&["gate", "gate"], 0).check(&known).is_err());
        assert!(bad(&[], 0).check(&known).is_err());
        assert!(bad(&["gate"], 9).check(&known).is_err());
        assert!(bad(&["yard", "gate"], 8).check(&known).is_ok());
    }
}
