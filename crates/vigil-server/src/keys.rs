//! Key files under `data_dir/keys/`: 256-bit keys created at first start, readable by their owner only,
//! kept outside the databases they protect.
//!
//! Each key is one small JSON file, `data_dir/keys/<name>.key`:
//!
//! ```json
//! {"vigil_key": 1, "purpose": "audit-hmac-sha256", "id": "3f9c0a6e12b4d7e8",
//!  "created_ms": 1767225600000, "material": {"plain": "<64 hex digits>"}}
//! ```
//!
//! `id` is derived from the key (the first 8 bytes of `SHA-256("vigil key id" || key)`), so a record
//! made with a key (an audit entry, an anchor) names it without revealing it. The layout is the one
//! the key store of encryption at rest takes over: its master key lives beside these files, and a
//! data key's `material` then becomes `{"wrapped": {"by": "<master key id>", ...}}` instead of
//! `plain`; `purpose`, `id` and the file name stay.

use crate::error::ServerError;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Format version written into key files.
const FORMAT: u64 = 1;

/// A 256-bit key read from (or just written to) its file.
#[derive(Clone)]
pub struct KeyFile {
    /// What it is for (`audit-hmac-sha256`).
    pub purpose: String,
    /// Its id (16 hex digits, derived from the key).
    pub id: String,
    /// When it was created (unix ms).
    pub created_ms: i64,
    /// The file.
    pub path: PathBuf,
    key: [u8; 32],
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile")
            .field("purpose", &self.purpose)
            .field("id", &self.id)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The id of a key.
pub fn key_id(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"vigil key id");
    h.update(key);
    hex::encode(&h.finalize()[..8])
}

impl KeyFile {
    /// The key itself.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// Reads a key file; `Ok(None)` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<KeyFile>, ServerError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ServerError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let bad = |why: &str| ServerError::Invalid(format!("{}: {why}", path.display()));
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|_| bad("not a Vigil key file (not JSON)"))?;
        if v["vigil_key"].as_u64() != Some(FORMAT) {
            return Err(bad("not a Vigil key file of a known version"));
        }
        let Some(plain) = v["material"]["plain"].as_str() else {
            return Err(bad(
                "the key is not stored in plain form (wrapped keys need the key store)",
            ));
        };
        let key: [u8; 32] = hex::decode(plain)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("the key is not 64 hex digits"))?;
        let id = key_id(&key);
        if v["id"].as_str() != Some(id.as_str()) {
            return Err(bad("the key does not match its id (the file was edited)"));
        }
        Ok(Some(KeyFile {
            purpose: v["purpose"].as_str().unwrap_or_default().to_string(),
            id,
            created_ms: v["created_ms"].as_i64().unwrap_or(0),
            path: path.to_path_buf(),
            key,
        }))
    }

    /// Reads `dir/<name>.key`, creating it (and `dir`, owner-only) with a new random key when absent.
    /// Returns the key and whether it was created now.
    pub fn read_or_create(
        dir: &Path,
        name: &str,
        purpose: &str,
    ) -> Result<(KeyFile, bool), ServerError> {
        let path = dir.join(format!("{name}.key"));
        if let Some(k) = KeyFile::read(&path)? {
            return Ok((k, false));
        }
        crate::fsmode::create_private_dir(dir)?;
        let key = crate::auth::random_bytes::<32>()?;
        let id = key_id(&key);
        let created_ms = crate::auth::now_ms();
        let text = serde_json::json!({
            "vigil_key": FORMAT,
            "purpose": purpose,
            "id": id,
            "created_ms": created_ms,
            "material": {"plain": hex::encode(key)},
        })
        .to_string();
        let io = |source| ServerError::Io {
            path: path.clone(),
            source,
        };
        // `create_new`: when two processes start at once, one writes it and the other reads it.
        match crate::fsmode::private_file(&path, true) {
            Ok(mut f) => {
                f.write_all(text.as_bytes()).map_err(io)?;
                f.write_all(b"\n").map_err(io)?;
                f.sync_all().map_err(io)?;
                Ok((
                    KeyFile {
                        purpose: purpose.to_string(),
                        id,
                        created_ms,
                        path,
                        key,
                    },
                    true,
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let k = KeyFile::read(&path)?
                    .ok_or_else(|| ServerError::NotFound(format!("{} vanished", path.display())))?;
                Ok((k, false))
            }
            Err(e) => Err(io(e)),
        }
    }
}
