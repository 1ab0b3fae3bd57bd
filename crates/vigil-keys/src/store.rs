//! [`KeyStore`]: the master key and the data keys it wraps, in `data_dir/keys/`.

use crate::fsmode::{create_private_dir, replace_private};
use crate::keyfile::{self, KeyFile, KeyMaterial, Sealed, read_text};
use crate::master::MASTER_PURPOSE;
use crate::sign::{PublicKey, SiteKey};
use crate::{KeyError, MasterSource};
use std::path::{Path, PathBuf};

/// The generated master key's file.
pub(crate) const MASTER_FILE: &str = "master.key";
/// The master key a rotation moves to, until it is done.
pub(crate) const NEXT_FILE: &str = "master.next.key";
/// The site signing key's file stem.
const SITE_SIGNING: &str = "site-signing";
/// Purpose of the site signing key's seed.
const SITE_SIGNING_PURPOSE: &str = "site-ed25519-seed";
/// The site's public key, in `data_dir/keys/`.
pub const SITE_PUB_FILE: &str = "site.pub";

/// The key store of one data directory.
#[derive(Debug)]
pub struct KeyStore {
    dir: PathBuf,
    source: MasterSource,
    /// The current master key first, then the one an unfinished rotation moves to.
    masters: Vec<KeyFile>,
    /// Master keys seen since (by id; a key's id never changes meaning): for opening data keys.
    seen: std::sync::Mutex<std::collections::HashMap<String, [u8; 32]>>,
}

/// Holds the key folder's lock (an `flock` on `keys/.lock`) while keys are created or rotated.
pub(crate) struct DirLock(std::fs::File);

pub(crate) fn lock_dir(dir: &Path) -> Result<DirLock, KeyError> {
    lock_dir_as(dir, rustix::fs::FlockOperation::LockExclusive)
}

/// The key folder's lock, shared: data keys being sealed and stored (see wrap.rs).
pub(crate) fn lock_dir_shared(dir: &Path) -> Result<DirLock, KeyError> {
    lock_dir_as(dir, rustix::fs::FlockOperation::LockShared)
}

fn lock_dir_as(dir: &Path, op: rustix::fs::FlockOperation) -> Result<DirLock, KeyError> {
    let path = dir.join(".lock");
    let io = |source| KeyError::Io {
        path: path.clone(),
        source,
    };
    let f = crate::fsmode::private_file_keep(&path).map_err(io)?;
    rustix::fs::flock(&f, op).map_err(|e| io(e.into()))?;
    Ok(DirLock(f))
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = rustix::fs::flock(&self.0, rustix::fs::FlockOperation::Unlock);
    }
}

/// The key files of `dir` other than master keys, sorted by name.
pub(crate) fn data_key_files(dir: &Path) -> Result<Vec<PathBuf>, KeyError> {
    let io = |source| KeyError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".key") && name != MASTER_FILE && name != NEXT_FILE {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Reads a generated master key file (plain); `Ok(None)` when absent.
pub(crate) fn read_master_file(path: &Path) -> Result<Option<KeyFile>, KeyError> {
    let Some(k) = KeyFile::read(path)? else {
        return Ok(None);
    };
    if k.purpose != MASTER_PURPOSE {
        return Err(KeyError::Invalid(format!(
            "{}: not a master key (purpose {:?})",
            path.display(),
            k.purpose
        )));
    }
    Ok(Some(k))
}

impl KeyStore {
    /// Opens the key store of `data_dir`, creating the folder and (for a generated master key on a
    /// new installation) the master key. Fails with [`KeyError::Master`] when the master key is
    /// missing or is not the one the data keys were wrapped with.
    pub fn open(data_dir: &Path, source: &MasterSource) -> Result<KeyStore, KeyError> {
        let dir = data_dir.join("keys");
        create_private_dir(&dir)?;
        let _lock = lock_dir(&dir)?;
        let masters = match source {
            MasterSource::Generated => {
                let mut masters = Vec::new();
                match read_master_file(&dir.join(MASTER_FILE))? {
                    Some(k) => masters.push(k),
                    None => {
                        if let Some(wrapped) = first_wrapped(&dir)? {
                            return Err(KeyError::Master(format!(
                                "the master key {} is missing but {} is wrapped by it: restore the \
                                 master key from its backup (without it the data it protects is gone)",
                                dir.join(MASTER_FILE).display(),
                                wrapped.display()
                            )));
                        }
                        let k = KeyFile::generate(&dir.join(MASTER_FILE), MASTER_PURPOSE)?;
                        if k.write_new(&k.to_text(None)?)? {
                            tracing::info!(id = %k.id, path = %k.path.display(), "created the master key");
                            masters.push(k);
                        } else if let Some(k) = read_master_file(&dir.join(MASTER_FILE))? {
                            masters.push(k);
                        }
                    }
                }
                if let Some(next) = read_master_file(&dir.join(NEXT_FILE))? {
                    tracing::warn!(
                        "a master key rotation was interrupted; run `vigil keys rotate` again to finish it"
                    );
                    masters.push(next);
                }
                masters
            }
            supplied => vec![supplied.load_supplied()?],
        };
        let seen = masters.iter().map(|m| (m.id.clone(), *m.bytes())).collect();
        let store = KeyStore {
            dir,
            source: source.clone(),
            masters,
            seen: std::sync::Mutex::new(seen),
        };
        store.check_wrapped()?;
        Ok(store)
    }

    /// The key folder (`data_dir/keys`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the master key comes from.
    pub fn source(&self) -> &MasterSource {
        &self.source
    }

    /// The current master key's id.
    pub fn master_id(&self) -> &str {
        self.masters.first().map_or("", |m| m.id.as_str())
    }

    fn master_by_id(&self, id: &str) -> Option<[u8; 32]> {
        self.masters.iter().find(|m| m.id == id).map(|m| *m.bytes())
    }

    /// The master keys read when the store opened.
    pub(crate) fn masters(&self) -> &[KeyFile] {
        &self.masters
    }

    /// A master key seen by this store, by id.
    pub(crate) fn known(&self, id: &str) -> Option<[u8; 32]> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .copied()
    }

    /// Remembers a master key (by id) for opening data keys later.
    pub(crate) fn remember(&self, master: &KeyFile) {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(master.id.clone(), *master.bytes());
    }

    /// Every wrapped key file opens with a master key we hold: a wrong master key is found at start,
    /// not when the first recording is read back.
    fn check_wrapped(&self) -> Result<(), KeyError> {
        for path in data_key_files(&self.dir)? {
            if let Some(text) = read_text(&path)? {
                keyfile::parse(&path, &text)?.open(&path, |id| self.master_by_id(id))?;
            }
        }
        Ok(())
    }

    /// The data key `keys/<name>.key`, created (random, wrapped by the current master key) when absent.
    /// Returns the key and whether it was created now.
    pub fn data_key(&self, name: &str, purpose: &str) -> Result<(KeyFile, bool), KeyError> {
        let path = self.dir.join(format!("{name}.key"));
        if let Some(k) = self.read_key(&path)? {
            return Ok((k, false));
        }
        let _lock = lock_dir(&self.dir)?;
        if let Some(k) = self.read_key(&path)? {
            return Ok((k, false));
        }
        // Wrap under the master key current on disk: a rotation may have finished since this store opened.
        let master = match &self.source {
            MasterSource::Generated => read_master_file(&self.dir.join(MASTER_FILE))?
                .ok_or_else(|| KeyError::Master("the master key file vanished".into()))?,
            _ => self.masters[0].clone(),
        };
        let mut k = KeyFile::generate(&path, purpose)?;
        k.write_new(&k.to_text(Some(&master))?)?;
        k.material = KeyMaterial::Wrapped { by: master.id };
        Ok((k, true))
    }

    fn read_key(&self, path: &Path) -> Result<Option<KeyFile>, KeyError> {
        match read_text(path)? {
            None => Ok(None),
            Some(text) => keyfile::parse(path, &text)?
                .open(path, |id| {
                    self.master_by_id(id).or_else(|| {
                        // A rotation by another process since this store opened: its new master.
                        match self.source {
                            MasterSource::Generated => [MASTER_FILE, NEXT_FILE]
                                .iter()
                                .filter_map(|f| read_master_file(&self.dir.join(f)).ok().flatten())
                                .find(|m| m.id == id)
                                .map(|m| *m.bytes()),
                            _ => None,
                        }
                    })
                })
                .map(Some),
        }
    }

    /// Every key file but the master keys, opened (sorted by file name).
    pub fn list(&self) -> Result<Vec<KeyFile>, KeyError> {
        let mut out = Vec::new();
        for path in data_key_files(&self.dir)? {
            out.extend(self.read_key(&path)?);
        }
        Ok(out)
    }

    /// The site's Ed25519 signing key (created at first use) and its public key file `keys/site.pub`.
    pub fn site_key(&self) -> Result<SiteKey, KeyError> {
        let (seed, created) = self.data_key(SITE_SIGNING, SITE_SIGNING_PURPOSE)?;
        let key = SiteKey::from_seed(seed.bytes())?;
        let pub_path = self.dir.join(SITE_PUB_FILE);
        let text = key.public().to_file_text();
        if created || read_text(&pub_path)?.as_deref() != Some(text.as_str()) {
            replace_private(&pub_path, text.as_bytes())?;
        }
        if created {
            tracing::info!(fingerprint = %key.public().fingerprint(), "created the site signing key");
        }
        Ok(key)
    }

    /// The site's public key from `data_dir/keys/site.pub`, without the master key (for checking
    /// signatures); `Ok(None)` when the site has none yet.
    pub fn public_key(data_dir: &Path) -> Result<Option<PublicKey>, KeyError> {
        let path = data_dir.join("keys").join(SITE_PUB_FILE);
        match read_text(&path)? {
            None => Ok(None),
            Some(text) => PublicKey::from_file_text(&text)
                .map(Some)
                .map_err(|why| KeyError::Invalid(format!("{}: {why}", path.display()))),
        }
    }
}

/// The first wrapped key file of `dir`, if any.
fn first_wrapped(dir: &Path) -> Result<Option<PathBuf>, KeyError> {
    for path in data_key_files(dir)? {
        if let Some(text) = read_text(&path)?
            && matches!(
                keyfile::parse(&path, &text)?.material,
                Sealed::Wrapped { .. }
            )
        {
            return Ok(Some(path));
        }
    }
    Ok(None)
}
