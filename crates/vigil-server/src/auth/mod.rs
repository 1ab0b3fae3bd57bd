//! The security database (`security.db`, SQLite in WAL mode): users, sessions, API tokens, MFA recovery
//! codes, known devices, per-account login counts and the audit log, plus the one-time setup token,
//! the per-address login limiter and the gate bounding password hashing.
//!
//! Secrets are never stored in clear: passwords as argon2id hashes, session ids, API tokens and recovery
//! codes (256-bit / 50-bit random values) as SHA-256 hashes, the setup token only as a hash in memory.
//! The TOTP secrets are stored as they are (needed to check codes); the database file is created
//! readable by its owner only.

pub mod attempts;
pub mod central;
pub mod devices;
pub mod limit;
pub mod mfa;
pub mod password;
pub mod sessions;
pub mod tokens;
pub mod users;

use crate::error::ServerError;
use crate::perms::Role;
use limit::{Limiter, LoginLimits};
use password::HashGate;
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
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
    /// A syslog datagram socket (e.g. `/dev/log`) each audit anchor is also sent to.
    pub audit_syslog: Option<PathBuf>,
    /// A finished export's file is deleted this long after it was written.
    pub export_keep: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            session_idle: Duration::from_secs(30 * 60),
            session_max: Duration::from_secs(12 * 3600),
            require_mfa: Vec::new(),
            limits: LoginLimits::default(),
            audit_syslog: None,
            export_keep: Duration::from_secs(24 * 3600),
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
            audit_syslog: c.audit_syslog.clone(),
            export_keep: Duration::from_secs(c.export_retention_hours.max(1) * 3600),
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
    /// Login rate limiting and slowing down (per address; the per-account counts are in the
    /// database).
    pub limiter: Arc<Limiter>,
    /// Bounds concurrent password hashing.
    pub hashing: Arc<HashGate>,
    /// Failed attempts waiting to be written to the audit log as counts.
    attempts: attempts::AttemptLog,
    /// The key of the audit chain (`data_dir/keys/audit.key`).
    pub(crate) audit_key: crate::keys::KeyFile,
    /// Where the audit log's current keyed section begins.
    pub(crate) keyed_from: std::sync::atomic::AtomicI64,
    /// The audit log's anchor outside the database.
    pub(crate) anchor: crate::anchor::Anchorer,
    /// Seals TOTP secrets at rest once the key store gives a key ([`Security::set_secret_key`]).
    pub(crate) secrets: Mutex<Option<Arc<vigil_keys::SecretBox>>>,
}

impl Drop for Security {
    fn drop(&mut self) {
        self.flush_audit_anchor();
    }
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
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
pub fn now_ms() -> i64 {
    vigil_core::time::now_unix_ms()
}

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], ServerError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)
        .map_err(|e| ServerError::Invalid(format!("no randomness from the OS: {e}")))?;
    Ok(b)
}

/// SHA-256 of `text`, hex.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Equal in time independent of where they differ.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Security {
    /// Opens (creating, owner-only) `security.db` in `data_dir`.
    pub fn open_in(data_dir: &Path, policy: Policy) -> Result<Security, ServerError> {
        crate::fsmode::create_private_dir(data_dir)?;
        Security::open(&data_dir.join("security.db"), policy)
    }

    /// Opens (creating) a security database, with the audit key beside it (`keys/audit.key` in the
    /// same folder, created at first start) and the audit anchor.
    pub fn open(path: &Path, policy: Policy) -> Result<Security, ServerError> {
        let e = |source| ServerError::Db {
            path: path.to_path_buf(),
            source,
        };
        let existed = path.exists();
        let conn = Connection::open(path).map_err(e)?;
        if !existed {
            crate::fsmode::restrict_to_owner(path)?;
        }
        conn.busy_timeout(Duration::from_secs(5)).map_err(e)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(e)?;
        conn.execute_batch(SCHEMA).map_err(e)?;
        central::migrate(&conn).map_err(e)?;
        conn.execute_batch(crate::audit::SCHEMA).map_err(e)?;
        conn.execute_batch(crate::exports::SCHEMA).map_err(e)?;
        crate::exports::migrate(&conn).map_err(e)?;
        conn.execute_batch(crate::cases::SCHEMA).map_err(e)?;
        conn.execute_batch(crate::approvals::SCHEMA).map_err(e)?;
        conn.execute_batch(limit::SCHEMA).map_err(e)?;
        conn.execute_batch(devices::SCHEMA).map_err(e)?;
        conn.execute_batch(crate::layouts::SCHEMA).map_err(e)?;
        tokens::never_reuse_ids(&conn).map_err(e)?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let (audit_key, created) =
            crate::keys::KeyFile::read_or_create(&dir.join("keys"), "audit", "audit-hmac-sha256")?;
        if created {
            tracing::info!("created the audit key {}", audit_key.path.display());
        }
        let limiter = Arc::new(Limiter::new(policy.limits.clone()));
        let l = &policy.limits;
        let hashing = HashGate::new(l.hash_concurrency, l.hash_queue, l.hash_wait);
        let anchor = crate::anchor::Anchorer::new(dir, policy.audit_syslog.clone());
        let sec = Security {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
            policy,
            setup: Mutex::new(None),
            limiter,
            hashing,
            attempts: Default::default(),
            audit_key,
            keyed_from: Default::default(),
            anchor,
            secrets: Mutex::new(None),
        };
        sec.start_keyed_section()?;
        Ok(sec)
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
