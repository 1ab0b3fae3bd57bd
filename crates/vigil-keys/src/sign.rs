//! The site's Ed25519 key: it signs recording chain heads and evidence manifests. Its public half is
//! written to `data_dir/keys/site.pub` and into every evidence bundle, so anyone can check a signature
//! with nothing but the bundle (and compare the key's fingerprint with the one the site publishes).

use crate::KeyError;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use sha2::{Digest, Sha256};

/// The site's signing key (the private half stays in memory; its seed is wrapped on disk).
pub struct SiteKey {
    pair: Ed25519KeyPair,
    public: PublicKey,
}

impl std::fmt::Debug for SiteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl SiteKey {
    /// The key pair of a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Result<SiteKey, KeyError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|_| KeyError::Crypto("Ed25519 key from seed failed".into()))?;
        let bytes: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| KeyError::Crypto("Ed25519 public key is not 32 bytes".into()))?;
        Ok(SiteKey {
            pair,
            public: PublicKey(bytes),
        })
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `msg` (64 bytes).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(msg).as_ref());
        out
    }
}

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub [u8; 32]);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.id())
    }
}

impl PublicKey {
    /// SHA-256 of the key, hex: what a site publishes for others to compare.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(self.0))
    }

    /// A short id: the fingerprint's first 16 hex digits.
    pub fn id(&self) -> String {
        self.fingerprint()[..16].to_string()
    }

    /// True when `sig` is this key's signature of `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, self.0)
            .verify(msg, sig)
            .is_ok()
    }

    /// The text of a `.pub` file: `{"vigil_public_key": 1, "algorithm": "ed25519", "key": "<64 hex>",
    /// "fingerprint": "<sha-256 hex>"}`.
    pub fn to_file_text(&self) -> String {
        serde_json::json!({
            "vigil_public_key": 1,
            "algorithm": "ed25519",
            "key": hex::encode(self.0),
            "fingerprint": self.fingerprint(),
        })
        .to_string()
            + "\n"
    }

    /// Reads the text of a `.pub` file; the fingerprint, when present, must match the key.
    pub fn from_file_text(text: &str) -> Result<PublicKey, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|_| "not a Vigil public key file (not JSON)")?;
        if v["vigil_public_key"].as_u64() != Some(1) || v["algorithm"].as_str() != Some("ed25519") {
            return Err("not an Ed25519 Vigil public key of a known version".into());
        }
        let key = v["key"]
            .as_str()
            .and_then(|k| hex::decode(k).ok())
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or("the key is not 64 hex digits")?;
        let key = PublicKey(key);
        if let Some(f) = v["fingerprint"].as_str()
            && f != key.fingerprint()
        {
            return Err("the fingerprint does not match the key".into());
        }
        Ok(key)
    }
}

/// True when `sig` (hex) is `key`'s signature of `msg`; false for malformed hex too.
pub fn verify_signature(key: &PublicKey, msg: &[u8], sig_hex: &str) -> bool {
    hex::decode(sig_hex.trim()).is_ok_and(|sig| key.verify(msg, &sig))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_their_key_and_message() {
        let k = SiteKey::from_seed(&[7; 32]).unwrap();
        let other = SiteKey::from_seed(&[8; 32]).unwrap();
        let sig = k.sign(b"manifest");
        assert!(k.public().verify(b"manifest", &sig));
        assert!(!k.public().verify(b"manifesT", &sig));
        assert!(!other.public().verify(b"manifest", &sig));
        let text = k.public().to_file_text();
        assert_eq!(PublicKey::from_file_text(&text).unwrap(), *k.public());
        let swapped = text.replace(&hex::encode(k.public().0), &hex::encode(other.public().0));
        assert!(PublicKey::from_file_text(&swapped).is_err());
        assert!(verify_signature(k.public(), b"manifest", &hex::encode(sig)));
        assert!(!verify_signature(k.public(), b"manifest", "zz"));
    }
}
