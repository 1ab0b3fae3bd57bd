//! The HTTP layer's tables in the hub's PostgreSQL database (on [`HubDb`]'s pool): central users and
//! their login sessions, plus reading the hub's `audit` table. Every query of the HTTP layer is here;
//! the handlers never write SQL.
//!
//! Secrets are not stored in clear: passwords as argon2id hashes (vigil-server's
//! [`vigil_server::auth::password`]), session ids as SHA-256 hashes. TOTP secrets are stored as they
//! are (they are needed to check codes), like the site server before its key store seals them.

use crate::db::db_err;
use crate::{HubDb, HubError};
use serde::Serialize;
use sqlx::Row;
use sqlx::postgres::PgRow;
use vigil_server::perms::Role;

/// The schema of the HTTP layer's tables, one step per entry (tracked in `hub_http_schema`, apart from
/// [`HubDb`]'s own steps so that both grow independently).
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE hub_users (
    id BIGSERIAL PRIMARY KEY,
    username TEXT NOT NULL,
    role TEXT NOT NULL,
    -- NULL: every site
    sites TEXT[],
    -- NULL: every camera of the user's sites; else 'site/camera' entries
    cameras TEXT[],
    -- a viewer may watch recordings
    playback BOOLEAN NOT NULL DEFAULT false,
    password_hash TEXT NOT NULL,
    mfa_secret BYTEA,
    mfa_pending BYTEA,
    mfa_last_step BIGINT NOT NULL DEFAULT 0,
    disabled BOOLEAN NOT NULL DEFAULT false,
    created_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX hub_users_name ON hub_users (lower(username));
CREATE TABLE hub_sessions (
    hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES hub_users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    ip TEXT NOT NULL
);
CREATE INDEX hub_sessions_user ON hub_sessions (user_id);
"#];

/// A central user.
#[derive(Debug, Clone, Serialize)]
pub struct HubUser {
    /// Id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Role (the site server's roles).
    pub role: Role,
    /// Sites the user may see (`None`: all).
    pub sites: Option<Vec<String>>,
    /// Cameras the user may see, as `site/camera` (`None`: every camera of their sites).
    pub cameras: Option<Vec<String>>,
    /// A viewer may watch recordings.
    pub playback: bool,
    /// MFA is on.
    pub mfa: bool,
    /// Cannot log in.
    pub disabled: bool,
    /// Created (unix ms).
    pub created_ms: i64,
}

/// What a new user gets.
#[derive(Debug, Clone)]
pub struct NewHubUser {
    /// Login name.
    pub username: String,
    /// The argon2id hash of the password.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Sites (`None`: all).
    pub sites: Option<Vec<String>>,
    /// Cameras as `site/camera` (`None`: all of the sites).
    pub cameras: Option<Vec<String>>,
    /// A viewer may watch recordings.
    pub playback: bool,
}

/// A change to a user (`None`: unchanged; `Some(None)` for the scopes: all).
#[derive(Debug, Clone, Default)]
pub struct HubUserPatch {
    /// New role.
    pub role: Option<Role>,
    /// New sites.
    pub sites: Option<Option<Vec<String>>>,
    /// New cameras.
    pub cameras: Option<Option<Vec<String>>>,
    /// New playback flag.
    pub playback: Option<bool>,
    /// New password hash (ends the user's sessions).
    pub password_hash: Option<String>,
    /// Disable or enable (disabling ends the user's sessions).
    pub disabled: Option<bool>,
}

/// A user's stored secrets (for login).
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user.
    pub user: HubUser,
    /// argon2id hash.
    pub password_hash: String,
    /// The TOTP secret, when MFA is on.
    pub mfa_secret: Option<Vec<u8>>,
    /// The last TOTP step used.
    pub mfa_last_step: i64,
}

/// A login session found by its id.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// SHA-256 of the session id, hex.
    pub hash: String,
    /// Its CSRF token.
    pub csrf: String,
    /// Created (unix ms).
    pub created_ms: i64,
    /// Last request (unix ms).
    pub last_ms: i64,
    /// The user.
    pub user: HubUser,
}

/// One row of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    /// Id (increasing).
    pub id: i64,
    /// When (unix ms).
    pub at_ms: i64,
    /// Who (`cli`, a user name).
    pub actor: String,
    /// What (`login.success`, `relay.live`, …).
    pub action: String,
    /// On what.
    pub target: Option<String>,
    /// Details.
    pub detail: Option<serde_json::Value>,
    /// From where.
    pub ip: Option<String>,
}

/// A user's columns, the table being aliased `u` (a macro, so that queries stay literal strings).
macro_rules! user_columns {
    () => {
        "u.id, u.username, u.role, u.sites, u.cameras, u.playback, u.mfa_secret IS NOT NULL, \
         u.disabled, u.created_ms"
    };
}

fn user_of(r: &PgRow) -> Result<HubUser, sqlx::Error> {
    let role: String = r.try_get(2)?;
    Ok(HubUser {
        id: r.try_get(0)?,
        username: r.try_get(1)?,
        role: Role::parse(&role).unwrap_or(Role::Viewer),
        sites: r.try_get(3)?,
        cameras: r.try_get(4)?,
        playback: r.try_get(5)?,
        mfa: r.try_get(6)?,
        disabled: r.try_get(7)?,
        created_ms: r.try_get(8)?,
    })
}

/// The HTTP layer's access to the hub's database.
#[derive(Clone)]
pub struct Store {
    db: HubDb,
}

impl Store {
    /// Brings the HTTP layer's tables up to date on `db`'s pool.
    pub async fn open(db: &HubDb) -> Result<Store, HubError> {
        let s = Store { db: db.clone() };
        s.migrate().await?;
        Ok(s)
    }

    async fn migrate(&self) -> Result<(), HubError> {
        let e = db_err("migrating the hub's user tables");
        let pool = self.db.pool();
        sqlx::query("CREATE TABLE IF NOT EXISTS hub_http_schema (version INTEGER NOT NULL)")
            .execute(pool)
            .await
            .map_err(&e)?;
        let mut tx = pool.begin().await.map_err(&e)?;
        sqlx::query("LOCK TABLE hub_http_schema IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
        let version: Option<i32> = sqlx::query_scalar("SELECT max(version) FROM hub_http_schema")
            .fetch_one(&mut *tx)
            .await
            .map_err(&e)?;
        let version = version.unwrap_or(0) as usize;
        if version > MIGRATIONS.len() {
            return Err(HubError::Db(format!(
                "the hub's user tables are at schema {version}, newer than this hub knows: upgrade the hub"
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            sqlx::raw_sql(*sql).execute(&mut *tx).await.map_err(&e)?;
            sqlx::query("INSERT INTO hub_http_schema (version) VALUES ($1)")
                .bind(i as i32 + 1)
                .execute(&mut *tx)
                .await
                .map_err(&e)?;
        }
        tx.commit().await.map_err(&e)
    }

    /// Adds a user; an error when the name is taken.
    pub async fn add_user(&self, u: &NewHubUser) -> Result<HubUser, HubError> {
        let r = sqlx::query(concat!("INSERT INTO hub_users AS u (username, role, sites, cameras, playback, password_hash, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ", user_columns!(), ""))
        .bind(&u.username)
        .bind(u.role.name())
        .bind(&u.sites)
        .bind(&u.cameras)
        .bind(u.playback)
        .bind(&u.password_hash)
        .bind(vigil_core::time::now_unix_ms())
        .fetch_one(self.db.pool())
        .await;
        match r {
            Ok(row) => user_of(&row).map_err(db_err("reading a user")),
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(HubError::Config(
                format!("a user named {:?} exists already", u.username),
            )),
            Err(e) => Err(db_err("adding a user")(e)),
        }
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<HubUser>, HubError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM hub_users u ORDER BY lower(u.username)"
        ))
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err("listing users"))?;
        rows.iter()
            .map(user_of)
            .collect::<Result<_, _>>()
            .map_err(db_err("reading users"))
    }

    /// A user by id.
    pub async fn user(&self, id: i64) -> Result<Option<HubUser>, HubError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM hub_users u WHERE u.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err("reading a user"))?;
        row.as_ref()
            .map(user_of)
            .transpose()
            .map_err(db_err("reading a user"))
    }

    /// A user's credentials by login name (case-insensitive).
    pub async fn credentials(&self, username: &str) -> Result<Option<Credentials>, HubError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            ", u.password_hash, u.mfa_secret, u.mfa_last_step FROM hub_users u
             WHERE lower(u.username) = lower($1)"
        ))
        .bind(username)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err("reading a user"))?;
        let Some(r) = row else { return Ok(None) };
        let read = || -> Result<Credentials, sqlx::Error> {
            Ok(Credentials {
                user: user_of(&r)?,
                password_hash: r.try_get(9)?,
                mfa_secret: r.try_get(10)?,
                mfa_last_step: r.try_get(11)?,
            })
        };
        read().map(Some).map_err(db_err("reading a user"))
    }

    /// Changes a user; their sessions end when the password changes or they are disabled. `None` when
    /// there is no such user.
    pub async fn update_user(
        &self,
        id: i64,
        p: &HubUserPatch,
    ) -> Result<Option<HubUser>, HubError> {
        let e = db_err("changing a user");
        let mut tx = self.db.pool().begin().await.map_err(&e)?;
        let row = sqlx::query(concat!(
            "UPDATE hub_users AS u SET
                 role = COALESCE($2, role),
                 sites = CASE WHEN $3 THEN $4 ELSE sites END,
                 cameras = CASE WHEN $5 THEN $6 ELSE cameras END,
                 playback = COALESCE($7, playback),
                 password_hash = COALESCE($8, password_hash),
                 disabled = COALESCE($9, disabled)
             WHERE id = $1 RETURNING ",
            user_columns!(),
            ""
        ))
        .bind(id)
        .bind(p.role.map(Role::name))
        .bind(p.sites.is_some())
        .bind(p.sites.clone().flatten())
        .bind(p.cameras.is_some())
        .bind(p.cameras.clone().flatten())
        .bind(p.playback)
        .bind(&p.password_hash)
        .bind(p.disabled)
        .fetch_optional(&mut *tx)
        .await
        .map_err(&e)?;
        let Some(row) = row else { return Ok(None) };
        if p.password_hash.is_some() || p.disabled == Some(true) {
            sqlx::query("DELETE FROM hub_sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(&e)?;
        }
        tx.commit().await.map_err(&e)?;
        user_of(&row).map(Some).map_err(&e)
    }

    /// Deletes a user (and their sessions). Whether they existed.
    pub async fn delete_user(&self, id: i64) -> Result<bool, HubError> {
        let r = sqlx::query("DELETE FROM hub_users WHERE id = $1")
            .bind(id)
            .execute(self.db.pool())
            .await
            .map_err(db_err("deleting a user"))?;
        Ok(r.rows_affected() > 0)
    }

    /// Keeps a pending TOTP secret until it is confirmed.
    pub async fn set_mfa_pending(&self, id: i64, secret: &[u8]) -> Result<(), HubError> {
        sqlx::query("UPDATE hub_users SET mfa_pending = $2 WHERE id = $1")
            .bind(id)
            .bind(secret)
            .execute(self.db.pool())
            .await
            .map_err(db_err("starting MFA enrolment"))?;
        Ok(())
    }

    /// The pending TOTP secret of a user.
    pub async fn mfa_pending(&self, id: i64) -> Result<Option<Vec<u8>>, HubError> {
        let v: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT mfa_pending FROM hub_users WHERE id = $1")
                .bind(id)
                .fetch_optional(self.db.pool())
                .await
                .map_err(db_err("reading MFA enrolment"))?;
        Ok(v.flatten())
    }

    /// Turns MFA on with the pending secret, `step` being the step of the code that confirmed it.
    pub async fn confirm_mfa(&self, id: i64, step: i64) -> Result<(), HubError> {
        sqlx::query(
            "UPDATE hub_users SET mfa_secret = mfa_pending, mfa_pending = NULL, mfa_last_step = $2
             WHERE id = $1 AND mfa_pending IS NOT NULL",
        )
        .bind(id)
        .bind(step)
        .execute(self.db.pool())
        .await
        .map_err(db_err("confirming MFA"))?;
        Ok(())
    }

    /// Uses TOTP step `step` of a user: true when it is newer than the last one used (a code is
    /// accepted once, also under concurrent logins).
    pub async fn use_mfa_step(&self, id: i64, step: i64) -> Result<bool, HubError> {
        let r = sqlx::query(
            "UPDATE hub_users SET mfa_last_step = $2 WHERE id = $1 AND mfa_last_step < $2",
        )
        .bind(id)
        .bind(step)
        .execute(self.db.pool())
        .await
        .map_err(db_err("using an MFA code"))?;
        Ok(r.rows_affected() == 1)
    }

    /// Turns a user's MFA off (they enrol again) and ends their sessions.
    pub async fn reset_mfa(&self, id: i64) -> Result<bool, HubError> {
        let e = db_err("resetting MFA");
        let mut tx = self.db.pool().begin().await.map_err(&e)?;
        let r = sqlx::query(
            "UPDATE hub_users SET mfa_secret = NULL, mfa_pending = NULL, mfa_last_step = 0 WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(&e)?;
        sqlx::query("DELETE FROM hub_sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
        tx.commit().await.map_err(&e)?;
        Ok(r.rows_affected() > 0)
    }

    /// Stores a new session (its id's hash and CSRF token).
    pub async fn create_session(
        &self,
        hash: &str,
        user_id: i64,
        csrf: &str,
        ip: &str,
    ) -> Result<(), HubError> {
        let now = vigil_core::time::now_unix_ms();
        sqlx::query(
            "INSERT INTO hub_sessions (hash, user_id, csrf, created_ms, last_ms, ip)
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(hash)
        .bind(user_id)
        .bind(csrf)
        .bind(now)
        .bind(ip)
        .execute(self.db.pool())
        .await
        .map_err(db_err("creating a session"))?;
        Ok(())
    }

    /// The live session with this id hash: not idle for `idle_ms`, not older than `max_ms`, its user
    /// enabled; its last use becomes now.
    pub async fn session(
        &self,
        hash: &str,
        idle_ms: i64,
        max_ms: i64,
    ) -> Result<Option<SessionRow>, HubError> {
        let now = vigil_core::time::now_unix_ms();
        let row = sqlx::query(concat!(
            "WITH s AS (
                 UPDATE hub_sessions SET last_ms = $2
                 WHERE hash = $1 AND last_ms > $2 - $3 AND created_ms > $2 - $4
                 RETURNING hash, csrf, created_ms, last_ms, user_id)
             SELECT ",
            user_columns!(),
            ", s.hash, s.csrf, s.created_ms, s.last_ms
             FROM s JOIN hub_users u ON u.id = s.user_id WHERE NOT u.disabled"
        ))
        .bind(hash)
        .bind(now)
        .bind(idle_ms)
        .bind(max_ms)
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err("reading a session"))?;
        let Some(r) = row else { return Ok(None) };
        let read = || -> Result<SessionRow, sqlx::Error> {
            Ok(SessionRow {
                user: user_of(&r)?,
                hash: r.try_get(9)?,
                csrf: r.try_get(10)?,
                created_ms: r.try_get(11)?,
                last_ms: r.try_get(12)?,
            })
        };
        read().map(Some).map_err(db_err("reading a session"))
    }

    /// Ends a session.
    pub async fn end_session(&self, hash: &str) -> Result<(), HubError> {
        sqlx::query("DELETE FROM hub_sessions WHERE hash = $1")
            .bind(hash)
            .execute(self.db.pool())
            .await
            .map_err(db_err("ending a session"))?;
        Ok(())
    }

    /// Deletes sessions idle for `idle_ms` or older than `max_ms`. Returns how many.
    pub async fn sweep_sessions(&self, idle_ms: i64, max_ms: i64) -> Result<u64, HubError> {
        let now = vigil_core::time::now_unix_ms();
        let r = sqlx::query(
            "DELETE FROM hub_sessions WHERE last_ms <= $1 - $2 OR created_ms <= $1 - $3",
        )
        .bind(now)
        .bind(idle_ms)
        .bind(max_ms)
        .execute(self.db.pool())
        .await
        .map_err(db_err("sweeping sessions"))?;
        Ok(r.rows_affected())
    }

    /// Audit rows, newest first: before id `before` (when given), of `action` (when given), at most
    /// `limit` (1..=1000).
    pub async fn audit(
        &self,
        before: Option<i64>,
        action: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, HubError> {
        let rows = sqlx::query(
            "SELECT id, at_ms, actor, action, target, detail, ip FROM audit
             WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR action = $2)
             ORDER BY id DESC LIMIT $3",
        )
        .bind(before)
        .bind(action)
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err("reading the audit log"))?;
        rows.iter()
            .map(|r| {
                Ok(AuditRow {
                    id: r.try_get(0)?,
                    at_ms: r.try_get(1)?,
                    actor: r.try_get(2)?,
                    action: r.try_get(3)?,
                    target: r.try_get(4)?,
                    detail: r.try_get(5)?,
                    ip: r.try_get(6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err("reading the audit log"))
    }

    /// The central users allowed on `site`, as the site caches them (`Request::CentralUsers`): enabled,
    /// with the site in their scope, their cameras narrowed to that site's (a user whose camera list
    /// names none of its cameras is left out), with their password hash, never the password.
    pub async fn central_accounts(
        &self,
        site: &str,
    ) -> Result<Vec<vigil_core::account::CentralAccount>, HubError> {
        let rows = sqlx::query(
            "SELECT username, role, cameras, password_hash, playback FROM hub_users
             WHERE NOT disabled AND (sites IS NULL OR $1 = ANY(sites)) ORDER BY id",
        )
        .bind(site)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err("listing central users"))?;
        let mut out = Vec::new();
        for r in &rows {
            let read = || -> Result<_, sqlx::Error> {
                let cameras: Option<Vec<String>> = r.try_get(2)?;
                Ok((
                    r.try_get(0)?,
                    r.try_get(1)?,
                    cameras,
                    r.try_get(3)?,
                    r.try_get(4)?,
                ))
            };
            let (username, role, cameras, password_hash, playback) =
                read().map_err(db_err("reading central users"))?;
            let cameras = match cameras {
                None => None,
                Some(list) => {
                    let here: Vec<String> = list
                        .iter()
                        .filter_map(|c| c.split_once('/'))
                        .filter(|(s, _)| *s == site)
                        .map(|(_, c)| c.to_string())
                        .collect();
                    if here.is_empty() {
                        continue;
                    }
                    Some(here)
                }
            };
            out.push(vigil_core::account::CentralAccount {
                username,
                role,
                cameras,
                password_hash,
                playback,
                export: false,
            });
        }
        Ok(out)
    }

    /// Open camera-health events per site: (site, camera, what is wrong); a switch to IR mode is
    /// information, not a problem.
    pub async fn open_camera_problems(&self) -> Result<Vec<(String, String, String)>, HubError> {
        let info: Vec<String> = vigil_core::INFO_HEALTH_STATES
            .iter()
            .map(|s| vigil_core::health_rule(s))
            .collect();
        let rows = sqlx::query(
            "SELECT site, camera, description FROM events
             WHERE kind = 'camera_health' AND end_ms IS NULL AND (line->>'open')::boolean
               AND rule <> ALL($1)
             ORDER BY site, camera",
        )
        .bind(&info)
        .fetch_all(self.db.pool())
        .await
        .map_err(db_err("reading camera problems"))?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err("reading camera problems"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh database on the machine's PostgreSQL (`VIGIL_TEST_POSTGRES`, default
    /// `postgres://postgres@127.0.0.1:5432`), or `None` after a SKIP line.
    async fn fresh_db() -> Option<(HubDb, String, String)> {
        let base = std::env::var("VIGIL_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let Ok(admin) = sqlx::PgPool::connect(&format!("{base}/postgres")).await else {
            eprintln!("SKIP: PostgreSQL not reachable at {base}");
            return None;
        };
        let name = format!("vigil_hubstore_{}_{}", std::process::id(), now_nanos());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        let db = HubDb::open(&format!("{base}/{name}"), 4).await.unwrap();
        Some((db, base, name))
    }

    fn now_nanos() -> u32 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    }

    async fn drop_db(db: HubDb, base: &str, name: &str) {
        db.pool().close().await;
        let admin = sqlx::PgPool::connect(&format!("{base}/postgres"))
            .await
            .unwrap();
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&admin)
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn users_sessions_mfa_steps_and_central_accounts() {
        let Some((db, base, name)) = fresh_db().await else {
            return;
        };
        let store = Store::open(&db).await.unwrap();
        // Opening again applies nothing twice.
        Store::open(&db).await.unwrap();
        let new = |n: &str, sites: Option<Vec<&str>>, cameras: Option<Vec<&str>>| NewHubUser {
            username: n.into(),
            password_hash: format!("$argon2id$hash-of-{n}"),
            role: Role::Operator,
            sites: sites.map(|s| s.into_iter().map(String::from).collect()),
            cameras: cameras.map(|s| s.into_iter().map(String::from).collect()),
            playback: false,
        };
        let all = store.add_user(&new("Chief", None, None)).await.unwrap();
        let a = store
            .add_user(&new("ops-a", Some(vec!["a"]), None))
            .await
            .unwrap();
        store
            .add_user(&new("gate-b", Some(vec!["a", "b"]), Some(vec!["b/gate"])))
            .await
            .unwrap();
        // Names are unique whatever their case.
        assert!(store.add_user(&new("chief", None, None)).await.is_err());
        let c = store.credentials("CHIEF").await.unwrap().unwrap();
        assert_eq!(c.user.id, all.id);
        assert_eq!(c.password_hash, "$argon2id$hash-of-Chief");
        // Sessions: found while fresh, not once idle, ended by a new password.
        store
            .create_session("h1", a.id, "csrf1", "127.0.0.1")
            .await
            .unwrap();
        let s = store
            .session("h1", 60_000, 3_600_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.user.username.as_str(), s.csrf.as_str()),
            ("ops-a", "csrf1")
        );
        assert!(store.session("h1", 0, 3_600_000).await.unwrap().is_none());
        let patch = HubUserPatch {
            password_hash: Some("new".into()),
            sites: Some(None),
            ..Default::default()
        };
        let changed = store.update_user(a.id, &patch).await.unwrap().unwrap();
        assert_eq!(changed.sites, None);
        assert!(
            store
                .session("h1", 60_000, 3_600_000)
                .await
                .unwrap()
                .is_none()
        );
        // A TOTP step is used once, only forwards.
        store.set_mfa_pending(a.id, b"secret").await.unwrap();
        store.confirm_mfa(a.id, 100).await.unwrap();
        assert!(store.user(a.id).await.unwrap().unwrap().mfa);
        assert!(!store.use_mfa_step(a.id, 100).await.unwrap());
        assert!(store.use_mfa_step(a.id, 101).await.unwrap());
        assert!(!store.use_mfa_step(a.id, 101).await.unwrap());
        // What a site caches: its users, cameras narrowed to its own; none for a site outside scope.
        let at_b = store.central_accounts("b").await.unwrap();
        let names: Vec<_> = at_b.iter().map(|u| u.username.as_str()).collect();
        assert_eq!(names, ["Chief", "ops-a", "gate-b"]);
        assert_eq!(at_b[2].cameras, Some(vec!["gate".to_string()]));
        let at_a = store.central_accounts("a").await.unwrap();
        assert!(
            at_a.iter().all(|u| u.username != "gate-b"),
            "no camera of a"
        );
        assert!(store.delete_user(a.id).await.unwrap());
        drop_db(db, &base, &name).await;
    }
}
