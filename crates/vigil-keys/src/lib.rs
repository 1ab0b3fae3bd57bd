//! The key store: what keeps Vigil's secrets and signs its evidence.
//!
//! Everything lives in `data_dir/keys/` (folder `0700`, files `0600`), one small JSON file per key:
//!
//! ```text
//! keys/master.key          the 256-bit master key (when Vigil generated it; else supplied, see MasterSource)
//! keys/master.next.key     only during `vigil keys rotate`: the master key being rotated to
//! keys/site-signing.key    the seed of the site's Ed25519 key, wrapped by the master key
//! keys/site.pub            the site's public key (plain, meant to be handed out)
//! keys/audit.key           the audit log's HMAC key (plain; see docs/security.md)
//! ```
//!
//! A data key's file holds `{"material": {"wrapped": {"by": "<master key id>", ...}}}`: the key sealed
//! with AES-256-GCM under the master key, bound to its purpose and id. Lose the master key and every
//! wrapped key, and what it protects, is gone: there is no back door.
//!
//! [`KeyStore::rotate`] rewraps every data key under a new master key and then retires the old one;
//! it is resumable after a crash at any point (the store reads both masters until it is done).

pub mod fsmode;
mod keyfile;
mod master;
mod rotate;
mod sealed;
mod sign;
mod store;
mod wrap;

pub use keyfile::{KeyFile, KeyMaterial, key_id};
pub use master::{KeysConfig, MasterSource};
pub use rotate::{Rewrap, RotateReport};
pub use sealed::SecretBox;
pub use sign::{PublicKey, SiteKey, verify_signature};
pub use store::{KeyStore, SITE_PUB_FILE};
pub use wrap::WrappedKey;

use std::path::PathBuf;

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key file or supplied key is malformed.
    #[error("{0}")]
    Invalid(String),
    /// The master key is missing or is not the one the data keys were wrapped with: refuse to start
    /// rather than record what could never be read back.
    #[error("{0}")]
    Master(String),
    /// The operating system gave no randomness, or a cryptographic operation failed.
    #[error("cryptography: {0}")]
    Crypto(String),
}

/// `N` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], KeyError> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| KeyError::Crypto("no randomness from the operating system".into()))?;
    Ok(b)
}

/// Now in unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    vigil_core::time::now_unix_ms()
}

/// Parses 64 hex digits (surrounding white space ignored) into a 256-bit key.
pub(crate) fn parse_hex_key(text: &str) -> Option<[u8; 32]> {
    hex::decode(text.trim()).ok()?.try_into().ok()
}
