//! [`SecretBox`]: small secrets kept in a database (TOTP secrets) sealed with a data key of the store:
//! `magic || nonce (12) || AES-256-GCM ciphertext and tag`, bound to what they belong to by the
//! associated data.

use crate::{KeyError, random_bytes};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// Seals and opens small secrets with one data key.
pub struct SecretBox {
    key: LessSafeKey,
    magic: &'static [u8],
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox")
    }
}

impl SecretBox {
    /// A box for `key`; sealed values start with `magic` (so that values written before encryption,
    /// which do not, can be told apart).
    pub fn new(key: &[u8; 32], magic: &'static [u8]) -> Result<SecretBox, KeyError> {
        let key = UnboundKey::new(&AES_256_GCM, key)
            .map(LessSafeKey::new)
            .map_err(|_| KeyError::Crypto("AES-256-GCM key setup failed".into()))?;
        Ok(SecretBox { key, magic })
    }

    /// True when `stored` is a value this kind of box sealed.
    pub fn is_sealed(&self, stored: &[u8]) -> bool {
        stored.starts_with(self.magic)
    }

    /// `plain` sealed, bound to `aad`.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, KeyError> {
        let nonce = random_bytes::<12>()?;
        let mut body = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| KeyError::Crypto("sealing a secret failed".into()))?;
        let mut out = Vec::with_capacity(self.magic.len() + 12 + body.len());
        out.extend_from_slice(self.magic);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// The secret in `stored`, which must have been sealed with `aad`.
    pub fn open(&self, aad: &[u8], stored: &[u8]) -> Result<Vec<u8>, KeyError> {
        let bad = || {
            KeyError::Crypto("a sealed secret does not open (wrong key, or it was altered)".into())
        };
        let rest = stored.strip_prefix(self.magic).ok_or_else(bad)?;
        if rest.len() < 12 + AES_256_GCM.tag_len() {
            return Err(bad());
        }
        let (nonce, body) = rest.split_at(12);
        let mut n = [0u8; 12];
        n.copy_from_slice(nonce);
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(Nonce::assume_unique_for_key(n), Aad::from(aad), &mut body)
            .map_err(|_| bad())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_their_key_and_aad_only() {
        let b = SecretBox::new(&[1; 32], b"T1").unwrap();
        let s = b.seal(b"user 7", b"twenty bytes secret!").unwrap();
        assert!(b.is_sealed(&s));
        assert!(!s.windows(20).any(|w| w == b"twenty bytes secret!"));
        assert_eq!(b.open(b"user 7", &s).unwrap(), b"twenty bytes secret!");
        assert!(b.open(b"user 8", &s).is_err());
        assert!(
            SecretBox::new(&[2; 32], b"T1")
                .unwrap()
                .open(b"user 7", &s)
                .is_err()
        );
        assert!(!b.is_sealed(b"plain"));
    }
}
