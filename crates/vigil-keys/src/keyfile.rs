//! One key per file: `{"vigil_key": 1, "purpose": "...", "id": "<16 hex>", "created_ms": ...,
//! "material": {"plain": "<64 hex>"} | {"wrapped": {"by": "<master id>", "alg": "aes-256-gcm",
//! "nonce": "<24 hex>", "sealed": "<96 hex>"}}}`.
//!
//! `id` is derived from the key (the first 8 bytes of `SHA-256("vigil key id" || key)`), so a record
//! made with a key (an audit entry, an anchor, a signature) names it without revealing it, and an
//! edited file is caught when the key no longer matches its id.

use crate::fsmode::{create_private_dir, private_file};
use crate::{KeyError, now_ms, parse_hex_key, random_bytes};
use ring::aead::AES_256_GCM;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Format version written into key files.
const FORMAT: u64 = 1;
/// The only wrapping algorithm (named in the file so another can follow).
const WRAP_ALG: &str = "aes-256-gcm";

/// The id of a key.
pub fn key_id(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"vigil key id");
    h.update(key);
    hex::encode(&h.finalize()[..8])
}

/// How a key file holds its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// In the clear (the master key Vigil generated, the audit key).
    Plain,
    /// Sealed under the master key with this id.
    Wrapped {
        /// Id of the master key it is wrapped by.
        by: String,
    },
}

/// A 256-bit key read from (or just written to) its file.
#[derive(Clone)]
pub struct KeyFile {
    /// What it is for (`audit-hmac-sha256`, `site-ed25519-seed`, ...).
    pub purpose: String,
    /// Its id (16 hex digits, derived from the key).
    pub id: String,
    /// When it was created (unix ms).
    pub created_ms: i64,
    /// The file.
    pub path: PathBuf,
    /// How the file holds it.
    pub material: KeyMaterial,
    key: [u8; 32],
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile")
            .field("purpose", &self.purpose)
            .field("id", &self.id)
            .field("path", &self.path)
            .field("material", &self.material)
            .finish_non_exhaustive()
    }
}

/// A key file's content before the key is unsealed.
pub(crate) struct Parsed {
    pub purpose: String,
    pub id: String,
    pub created_ms: i64,
    pub material: Sealed,
}

/// The key as the file holds it.
pub(crate) enum Sealed {
    Plain([u8; 32]),
    Wrapped {
        by: String,
        nonce: [u8; 12],
        sealed: Vec<u8>,
    },
}

fn wrap_aad(purpose: &str, id: &str) -> Vec<u8> {
    format!("vigil key wrap v1|{purpose}|{id}").into_bytes()
}

pub(crate) fn parse(path: &Path, text: &str) -> Result<Parsed, KeyError> {
    let bad = |why: &str| KeyError::Invalid(format!("{}: {why}", path.display()));
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|_| bad("not a Vigil key file (not JSON)"))?;
    if v["vigil_key"].as_u64() != Some(FORMAT) {
        return Err(bad("not a Vigil key file of a known version"));
    }
    let purpose = v["purpose"].as_str().unwrap_or_default().to_string();
    let id = v["id"]
        .as_str()
        .ok_or_else(|| bad("the key file has no id"))?
        .to_string();
    let created_ms = v["created_ms"].as_i64().unwrap_or(0);
    let m = &v["material"];
    let material = if let Some(plain) = m["plain"].as_str() {
        Sealed::Plain(parse_hex_key(plain).ok_or_else(|| bad("the key is not 64 hex digits"))?)
    } else if m["wrapped"].is_object() {
        let w = &m["wrapped"];
        if w["alg"].as_str() != Some(WRAP_ALG) {
            return Err(bad("the key is wrapped with an unknown algorithm"));
        }
        let by = w["by"]
            .as_str()
            .ok_or_else(|| bad("the wrapped key does not name its master key"))?
            .to_string();
        let nonce = w["nonce"]
            .as_str()
            .and_then(|n| hex::decode(n).ok())
            .and_then(|n| <[u8; 12]>::try_from(n).ok())
            .ok_or_else(|| bad("the wrapped key's nonce is not 24 hex digits"))?;
        let sealed = w["sealed"]
            .as_str()
            .and_then(|s| hex::decode(s).ok())
            .filter(|s| s.len() == 32 + AES_256_GCM.tag_len())
            .ok_or_else(|| bad("the wrapped key is not 96 hex digits"))?;
        Sealed::Wrapped { by, nonce, sealed }
    } else {
        return Err(bad("the key file holds no key material"));
    };
    Ok(Parsed {
        purpose,
        id,
        created_ms,
        material,
    })
}

impl Parsed {
    /// The key, unsealed with `master` when wrapped (`master` is looked up by id).
    pub(crate) fn open(
        self,
        path: &Path,
        master: impl Fn(&str) -> Option<[u8; 32]>,
    ) -> Result<KeyFile, KeyError> {
        let bad = |why: String| KeyError::Invalid(format!("{}: {why}", path.display()));
        let (key, material) = match self.material {
            Sealed::Plain(k) => (k, KeyMaterial::Plain),
            Sealed::Wrapped { by, nonce, sealed } => {
                let m = master(&by).ok_or_else(|| {
                    KeyError::Master(format!(
                        "{} is wrapped by master key {by}, which is not the configured master key \
                         (a wrong or missing master key: Vigil refuses to start rather than lose data)",
                        path.display()
                    ))
                })?;
                let w = crate::wrap::WrappedKey {
                    by: by.clone(),
                    nonce,
                    sealed,
                };
                let k = crate::wrap::open(&m, &w, &wrap_aad(&self.purpose, &self.id)).map_err(|_| {
                    bad(format!(
                        "the wrapped key does not open with master key {by} (the file was edited)"
                    ))
                })?;
                (k, KeyMaterial::Wrapped { by })
            }
        };
        if key_id(&key) != self.id {
            return Err(bad(
                "the key does not match its id (the file was edited)".into()
            ));
        }
        Ok(KeyFile {
            purpose: self.purpose,
            id: self.id,
            created_ms: self.created_ms,
            path: path.to_path_buf(),
            material,
            key,
        })
    }
}

/// Reads a file's text; `Ok(None)` when it does not exist.
pub(crate) fn read_text(path: &Path) -> Result<Option<String>, KeyError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeyError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl KeyFile {
    /// The key itself.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// A key that lives only in memory (a supplied master key), named `origin`.
    pub(crate) fn in_memory(key: [u8; 32], purpose: &str, origin: &str) -> KeyFile {
        KeyFile {
            purpose: purpose.to_string(),
            id: key_id(&key),
            created_ms: 0,
            path: PathBuf::from(origin),
            material: KeyMaterial::Plain,
            key,
        }
    }

    /// Reads a plain key file; `Ok(None)` when it does not exist. Wrapped keys need the [`crate::KeyStore`].
    pub fn read(path: &Path) -> Result<Option<KeyFile>, KeyError> {
        let Some(text) = read_text(path)? else {
            return Ok(None);
        };
        let parsed = parse(path, &text)?;
        if matches!(parsed.material, Sealed::Wrapped { .. }) {
            return Err(KeyError::Invalid(format!(
                "{}: the key is wrapped by the master key; open it through the key store",
                path.display()
            )));
        }
        parsed.open(path, |_| None).map(Some)
    }

    /// The file's JSON text, the key held plain or wrapped under `wrap_with` (a master key).
    pub(crate) fn to_text(&self, wrap_with: Option<&KeyFile>) -> Result<String, KeyError> {
        let material = match wrap_with {
            None => serde_json::json!({"plain": hex::encode(self.key)}),
            Some(master) => {
                let w = crate::wrap::seal(master, &self.key, &wrap_aad(&self.purpose, &self.id))?;
                serde_json::json!({"wrapped": {
                    "by": w.by, "alg": WRAP_ALG,
                    "nonce": hex::encode(w.nonce), "sealed": hex::encode(w.sealed),
                }})
            }
        };
        Ok(serde_json::json!({
            "vigil_key": FORMAT,
            "purpose": self.purpose,
            "id": self.id,
            "created_ms": self.created_ms,
            "material": material,
        })
        .to_string()
            + "\n")
    }

    /// A new random key for `path` (not written).
    pub(crate) fn generate(path: &Path, purpose: &str) -> Result<KeyFile, KeyError> {
        let key = random_bytes::<32>()?;
        Ok(KeyFile {
            purpose: purpose.to_string(),
            id: key_id(&key),
            created_ms: now_ms(),
            path: path.to_path_buf(),
            material: KeyMaterial::Plain,
            key,
        })
    }

    /// Writes a new key file that must not exist yet, atomically and durably: the text goes to a
    /// temporary file (synced), which is then hard-linked to the key's name (failing if it exists) and
    /// removed, and the folder is synced; a full disk or a crash never leaves a partial key file.
    /// `Ok(false)` when another process created it first.
    pub(crate) fn write_new(&self, text: &str) -> Result<bool, KeyError> {
        let tmp = self
            .path
            .with_extension(format!("key.new-{}", hex::encode(random_bytes::<6>()?)));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KeyError::Io { path, source }
        };
        let written = private_file(&tmp, true)
            .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(&self.path)(e));
        }
        let linked = std::fs::hard_link(&tmp, &self.path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                crate::fsmode::sync_parent(&self.path)?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io(&self.path)(e)),
        }
    }

    /// Reads `dir/<name>.key`, creating it (and `dir`, owner-only) with a new random plain key when
    /// absent. Returns the key and whether it was created now.
    pub fn read_or_create(
        dir: &Path,
        name: &str,
        purpose: &str,
    ) -> Result<(KeyFile, bool), KeyError> {
        let path = dir.join(format!("{name}.key"));
        if let Some(k) = KeyFile::read(&path)? {
            return Ok((k, false));
        }
        create_private_dir(dir)?;
        let k = KeyFile::generate(&path, purpose)?;
        // `create_new`: when two processes start at once, one writes it and the other reads it.
        if k.write_new(&k.to_text(None)?)? {
            return Ok((k, true));
        }
        let k = KeyFile::read(&path)?
            .ok_or_else(|| KeyError::Invalid(format!("{} vanished", path.display())))?;
        Ok((k, false))
    }
}
