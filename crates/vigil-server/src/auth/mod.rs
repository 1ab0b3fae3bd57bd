//! The security database (`security.db`, SQLite in WAL mode): users, sessions, API tokens, MFA recovery
//! codes and the audit log, plus the one-time setup token and the login rate limiter.
//!
//! Secrets are never stored in clear: passwords as argon2id hashes, session ids, API tokens and recovery
//! codes (256-bit / 50-bit random values) as SHA-256 hashes, the setup token only as a hash in memory.
//! The TOTP secrets are stored as they are (needed to check codes); the database file is created
//! readable by its owner only.

pub mod limit;
pub mod mfa;
pub mod password;
pub mod sessions;
pub mod tokens;
pub mod users;

use crate::error::ServerError;
use crate::perms::Role;
use limit::{Limiter, LoginLimits};
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How sessions, MFA and login protection behave.
#[derive(Debug, Clone)]
pub struct Policy {
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// A session ends this long after login.
    pub session_max: Duration,
    /// Roles whose users must have MFA.
    pub require_mfa: Vec<Role>,
    /// Login rate limits and lockout.
    pub limits: LoginLimits,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            session_idle: Duration::from_secs(30 * 60),
            session_max: Duration::from_secs(12 * 3600),
            require_mfa: Vec::new(),
            limits: LoginLimits::default(),
        }
    }
}

impl Policy {
    /// The policy of a `[server]` section.
    pub fn from_config(c: &vigil_core::config::ServerConfig) -> Policy {
        Policy {
            session_idle: Duration::from_secs(c.session_idle_minutes.max(1) * 60),
            session_max: Duration::from_secs(c.session_max_hours.max(1) * 3600),
            require_mfa: c
                .require_mfa
                .iter()
                .filter_map(|r| Role::parse(r))
                .collect(),
            limits: LoginLimits::default(),
        }
    }
}

/// The security database and the state kept beside it.
pub struct Security {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// Sessions, MFA and login protection settings.
    pub policy: Policy,
    setup: Mutex<Option<[u8; 32]>>,
    /// Login rate limiting and lockout.
    pub limiter: Limiter,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role TEXT NOT NULL,
    cameras TEXT,
    playback INTEGER NOT NULL DEFAULT 0,
    export INTEGER NOT NULL DEFAULT 0,
    password_hash TEXT NOT NULL,
    mfa_secret BLOB,
    mfa_pending BLOB,
    mfa_last_step INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    ip TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    last_used_ms INTEGER
);
CREATE TABLE IF NOT EXISTS recovery_codes (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    PRIMARY KEY (user_id, hash)
);
";

/// Now in unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `n` random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], ServerError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)
        .map_err(|e| ServerError::Invalid(format!("no randomness from the OS: {e}")))?;
    Ok(b)
}

/// SHA-256 of `text`, hex.
pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Equal in time independent of where they differ.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Security {
    /// Opens (creating) `security.db` in `data_dir`.
    pub fn open_in(data_dir: &Path, policy: Policy) -> Result<Security, ServerError> {
        std::fs::create_dir_all(data_dir).map_err(|source| ServerError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        Security::open(&data_dir.join("security.db"), policy)
    }

    /// Opens (creating) a security database.
    pub fn open(path: &Path, policy: Policy) -> Result<Security, ServerError> {
        let e = |source| ServerError::Db {
            path: path.to_path_buf(),
            source,
        };
        let existed = path.exists();
        let conn = Connection::open(path).map_err(e)?;
        if !existed {
            restrict_to_owner(path)?;
        }
        conn.busy_timeout(Duration::from_secs(5)).map_err(e)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(e)?;
        conn.execute_batch(SCHEMA).map_err(e)?;
        conn.execute_batch(crate::audit::SCHEMA).map_err(e)?;
        let limiter = Limiter::new(policy.limits.clone());
        Ok(Security {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            policy,
            setup: Mutex::new(None),
            limiter,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn db(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn e(&self) -> impl Fn(rusqlite::Error) -> ServerError + '_ {
        |source| ServerError::Db {
            path: self.path.clone(),
            source,
        }
    }

    /// When no user exists yet: a new one-time setup token (only its hash is kept, in memory; print
    /// it to the console). `None` when users exist.
    pub fn new_setup_token(&self) -> Result<Option<String>, ServerError> {
        if self.user_count()? > 0 {
            *self.setup.lock().unwrap_or_else(|p| p.into_inner()) = None;
            return Ok(None);
        }
        let token = hex::encode(random_bytes::<16>()?);
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        *self.setup.lock().unwrap_or_else(|p| p.into_inner()) = Some(hash);
        Ok(Some(token))
    }

    /// Whether the first admin still has to be created.
    pub fn setup_needed(&self) -> Result<bool, ServerError> {
        Ok(self.user_count()? == 0)
    }

    /// Checks a setup token; on success it is dead (a second use fails).
    pub(crate) fn take_setup_token(&self, token: &str) -> bool {
        let mut slot = self.setup.lock().unwrap_or_else(|p| p.into_inner());
        let given: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        match *slot {
            Some(h) if same(&h, &given) => {
                *slot = None;
                true
            }
            _ => false,
        }
    }
}

#[cfg(unix)]
fn restrict_to_owner(path: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        ServerError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(not(unix))]
fn restrict_to_owner(_: &Path) -> Result<(), ServerError> {
    Ok(())
}
