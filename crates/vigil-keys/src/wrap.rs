//! Data keys stored outside the key folder (a segment's key in the index): sealed under the master key
//! in force, opened with whichever master key sealed them.
//!
//! Sealing happens under the key folder's shared lock, held until the caller has stored the sealed key,
//! and a rotation creates its new master key under the exclusive lock: so every key sealed after a
//! rotation began is sealed under the new master, and every one sealed before is already stored when the
//! rotation rewraps what is stored.

use crate::keyfile::KeyFile;
use crate::store::{MASTER_FILE, NEXT_FILE, lock_dir_shared, read_master_file};
use crate::{KeyError, KeyStore, MasterSource, random_bytes};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// A data key sealed under a master key (AES-256-GCM with a random nonce).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// Id of the master key that sealed it.
    pub by: String,
    /// The nonce.
    pub nonce: [u8; 12],
    /// The sealed key and its tag (48 bytes).
    pub sealed: Vec<u8>,
}

fn aead(master: &[u8; 32]) -> Result<LessSafeKey, KeyError> {
    UnboundKey::new(&AES_256_GCM, master)
        .map(LessSafeKey::new)
        .map_err(|_| KeyError::Crypto("AES-256-GCM key setup failed".into()))
}

/// Seals `key` under `master`, bound to `aad`.
pub(crate) fn seal(master: &KeyFile, key: &[u8; 32], aad: &[u8]) -> Result<WrappedKey, KeyError> {
    let nonce = random_bytes::<12>()?;
    let mut buf = key.to_vec();
    aead(master.bytes())?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| KeyError::Crypto("sealing a data key failed".into()))?;
    Ok(WrappedKey {
        by: master.id.clone(),
        nonce,
        sealed: buf,
    })
}

/// Opens `w` with `master` (which must be the one that sealed it).
pub(crate) fn open(master: &[u8; 32], w: &WrappedKey, aad: &[u8]) -> Result<[u8; 32], KeyError> {
    let mut buf = w.sealed.clone();
    let plain = aead(master)?
        .open_in_place(
            Nonce::assume_unique_for_key(w.nonce),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| {
            KeyError::Crypto(format!(
                "a data key does not open with master key {} (its record was edited)",
                w.by
            ))
        })?;
    plain
        .try_into()
        .map_err(|_| KeyError::Crypto("a data key is not 256 bits".into()))
}

impl KeyStore {
    /// The master key new data keys are sealed under now: for a generated master, the one a rotation
    /// in progress moves to, else the current one (read from disk: another process may have rotated).
    fn master_in_force(&self) -> Result<KeyFile, KeyError> {
        match self.source() {
            MasterSource::Generated => {
                if let Some(next) = read_master_file(&self.dir().join(NEXT_FILE))? {
                    return Ok(next);
                }
                read_master_file(&self.dir().join(MASTER_FILE))?
                    .ok_or_else(|| KeyError::Master("the master key file vanished".into()))
            }
            _ => self
                .masters()
                .first()
                .cloned()
                .ok_or_else(|| KeyError::Master("no master key".into())),
        }
    }

    /// Seals `key` (bound to `aad`) under the master key in force and calls `store` with it while the
    /// key folder's shared lock is held, so that a rotation beginning meanwhile finds it stored.
    pub fn wrap_and<T, E: From<KeyError>>(
        &self,
        key: &[u8; 32],
        aad: &[u8],
        store: impl FnOnce(&WrappedKey) -> Result<T, E>,
    ) -> Result<T, E> {
        let _lock = lock_dir_shared(self.dir())?;
        let master = self.master_in_force()?;
        self.remember(&master);
        let w = seal(&master, key, aad)?;
        store(&w)
    }

    /// Opens a data key sealed by [`KeyStore::wrap_and`] (or rewrapped by a rotation).
    pub fn unwrap(&self, w: &WrappedKey, aad: &[u8]) -> Result<[u8; 32], KeyError> {
        let master = match self.known(&w.by) {
            Some(m) => m,
            None => {
                // A rotation by another process since this store opened: its new master key.
                let found = match self.source() {
                    MasterSource::Generated => [MASTER_FILE, NEXT_FILE]
                        .iter()
                        .filter_map(|f| read_master_file(&self.dir().join(f)).ok().flatten())
                        .find(|m| m.id == w.by),
                    _ => None,
                };
                let m = found.ok_or_else(|| {
                    KeyError::Master(format!(
                        "a data key is sealed by master key {}, which is not the configured master key {}",
                        w.by,
                        self.master_id()
                    ))
                })?;
                self.remember(&m);
                *m.bytes()
            }
        };
        open(&master, w, aad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_keys_open_with_their_aad_only_and_follow_a_rotation() {
        let d = tempfile::tempdir().unwrap();
        let store = KeyStore::open(d.path(), &MasterSource::Generated).unwrap();
        let key = [42u8; 32];
        let w = store
            .wrap_and(&key, b"segment 1", |w| Ok::<_, KeyError>(w.clone()))
            .unwrap();
        assert_eq!(w.by, store.master_id());
        assert_eq!(store.unwrap(&w, b"segment 1").unwrap(), key);
        assert!(store.unwrap(&w, b"segment 2").is_err());
        // Another process rotates; this store opens keys sealed under the new master, and seals new
        // ones under it.
        let mut rows = vec![w];
        KeyStore::rotate_with(d.path(), &MasterSource::Generated, None, &mut |r| {
            for w in &mut rows {
                if let Some(n) = r.rewrap(w, b"segment 1")? {
                    *w = n;
                }
            }
            Ok(rows.len())
        })
        .unwrap();
        assert_ne!(rows[0].by, store.master_id());
        assert_eq!(store.unwrap(&rows[0], b"segment 1").unwrap(), key);
        let w2 = store
            .wrap_and(&key, b"segment 2", |w| Ok::<_, KeyError>(w.clone()))
            .unwrap();
        assert_eq!(w2.by, rows[0].by);
    }
}
