//! `vigil keys rotate`: every data key rewrapped under a new master key, then the old one retired.
//!
//! Crash-safe and resumable at every step, for a generated master key:
//! 1. the new master key is written to `keys/master.next.key` (or the one an interrupted rotation left
//!    there is taken up again);
//! 2. each data key wrapped by the old master is rewrapped under the new one and its file replaced
//!    atomically (keys already under the new master are left as they are);
//! 3. `master.next.key` is renamed over `master.key`: the old master key is gone.
//!
//! Until step 3, [`KeyStore::open`] reads both master keys, so a kill at any point loses nothing, and
//! running the command again finishes the job. A supplied master key (`file:`, `env:`, `command:`) is
//! rotated to the one given with `--new-master`; the operator then points `[keys] master` at it.

use crate::fsmode::{replace_private, sync_parent};
use crate::keyfile::{self, KeyFile, Sealed, read_text};
use crate::master::MASTER_PURPOSE;
use crate::store::{MASTER_FILE, NEXT_FILE, data_key_files, lock_dir, read_master_file};
use crate::{KeyError, KeyStore, MasterSource, WrappedKey};
use std::path::Path;

/// Rewraps data keys stored elsewhere (the index's segment keys) during a rotation.
pub struct Rewrap {
    old: KeyFile,
    new: KeyFile,
}

impl Rewrap {
    /// Id of the master key being retired.
    pub fn old_id(&self) -> &str {
        &self.old.id
    }

    /// Id of the new master key.
    pub fn new_id(&self) -> &str {
        &self.new.id
    }

    /// `w` sealed under the new master key; `Ok(None)` when it already is.
    pub fn rewrap(&self, w: &WrappedKey, aad: &[u8]) -> Result<Option<WrappedKey>, KeyError> {
        if w.by == self.new.id {
            return Ok(None);
        }
        if w.by != self.old.id {
            return Err(KeyError::Master(format!(
                "a data key is sealed by master key {}, neither the current ({}) nor the new one ({})",
                w.by, self.old.id, self.new.id
            )));
        }
        let key = crate::wrap::open(self.old.bytes(), w, aad)?;
        crate::wrap::seal(&self.new, &key, aad).map(Some)
    }
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotateReport {
    /// Id of the retired master key.
    pub old_master: String,
    /// Id of the master key now in use.
    pub new_master: String,
    /// Files rewrapped now.
    pub rewrapped: Vec<String>,
    /// Files that were already under the new master key (an interrupted rotation resumed).
    pub already: Vec<String>,
    /// Plain key files, which no master key protects (listed, left as they are).
    pub plain: Vec<String>,
    /// Data keys stored elsewhere rewrapped by the caller's hook (segment keys in the index).
    pub rows: usize,
    /// True when an interrupted rotation was taken up again.
    pub resumed: bool,
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl KeyStore {
    /// Rotates the master key of `data_dir` (configured as `source`); `new_source` names the new
    /// master key when it is supplied rather than generated.
    pub fn rotate(
        data_dir: &Path,
        source: &MasterSource,
        new_source: Option<&MasterSource>,
    ) -> Result<RotateReport, KeyError> {
        rotate_until(data_dir, source, new_source, usize::MAX, &mut |_| Ok(0))
    }

    /// [`KeyStore::rotate`], with `more` rewrapping the data keys stored elsewhere (it returns how many
    /// it rewrapped; it may run again after an interruption and must skip keys already rewrapped, which
    /// [`Rewrap::rewrap`] does). New data keys are sealed under the new master key while it runs.
    pub fn rotate_with(
        data_dir: &Path,
        source: &MasterSource,
        new_source: Option<&MasterSource>,
        more: &mut dyn FnMut(&Rewrap) -> Result<usize, KeyError>,
    ) -> Result<RotateReport, KeyError> {
        rotate_until(data_dir, source, new_source, usize::MAX, more)
    }
}

/// [`KeyStore::rotate`], stopping (as a crash would) after rewrapping `stop_after` files.
pub(crate) fn rotate_until(
    data_dir: &Path,
    source: &MasterSource,
    new_source: Option<&MasterSource>,
    stop_after: usize,
    more: &mut dyn FnMut(&Rewrap) -> Result<usize, KeyError>,
) -> Result<RotateReport, KeyError> {
    // Opening checks that every wrapped key opens with the masters we hold.
    let store = KeyStore::open(data_dir, source)?;
    let dir = store.dir().to_path_buf();
    // Exclusive while the new master key appears: keys being sealed meanwhile are stored first.
    let lock = lock_dir(&dir)?;
    let next_path = dir.join(NEXT_FILE);
    let (old, new, resumed) = match (source, new_source) {
        (MasterSource::Generated, None | Some(MasterSource::Generated)) => {
            let old = read_master_file(&dir.join(MASTER_FILE))?
                .ok_or_else(|| KeyError::Master("the master key file vanished".into()))?;
            match read_master_file(&next_path)? {
                Some(next) => (old, next, true),
                None => {
                    let next = KeyFile::generate(&next_path, MASTER_PURPOSE)?;
                    next.write_new(&next.to_text(None)?)?;
                    (old, next, false)
                }
            }
        }
        (_, Some(MasterSource::Generated)) => {
            return Err(KeyError::Invalid(
                "rotating from a supplied master key to a generated one is not supported: supply the new key \
                 with --new-master file:PATH, env:NAME or command:CMD"
                    .into(),
            ));
        }
        (MasterSource::Generated, Some(new)) => {
            let old = read_master_file(&dir.join(MASTER_FILE))?
                .ok_or_else(|| KeyError::Master("the master key file vanished".into()))?;
            (old, new.load_supplied()?, false)
        }
        (supplied, Some(new)) => (supplied.load_supplied()?, new.load_supplied()?, false),
        (supplied, None) => {
            return Err(KeyError::Invalid(format!(
                "the master key is supplied ({supplied}): give the new one with --new-master"
            )));
        }
    };
    if old.id == new.id {
        return Err(KeyError::Invalid(
            "the new master key is the current one".into(),
        ));
    }
    // From here on new data keys are sealed under the new master key (wrap.rs): recording goes on.
    drop(lock);
    let mut report = RotateReport {
        old_master: old.id.clone(),
        new_master: new.id.clone(),
        rewrapped: Vec::new(),
        already: Vec::new(),
        plain: Vec::new(),
        rows: 0,
        resumed,
    };
    let rewrap = Rewrap {
        old: old.clone(),
        new: new.clone(),
    };
    report.rows = more(&rewrap)?;
    for path in data_key_files(&dir)? {
        let Some(text) = read_text(&path)? else {
            continue;
        };
        let parsed = keyfile::parse(&path, &text)?;
        match &parsed.material {
            Sealed::Plain(_) => report.plain.push(name_of(&path)),
            Sealed::Wrapped { by, .. } if *by == new.id => {
                report.already.push(name_of(&path));
                report.resumed = true;
            }
            Sealed::Wrapped { .. } => {
                if report.rewrapped.len() >= stop_after {
                    return Ok(report);
                }
                let key = parsed.open(&path, |id| (id == old.id).then(|| *old.bytes()))?;
                replace_private(&path, key.to_text(Some(&new))?.as_bytes())?;
                report.rewrapped.push(name_of(&path));
            }
        }
    }
    if stop_after != usize::MAX && report.rewrapped.len() >= stop_after {
        return Ok(report);
    }
    // Retire the old master key.
    let _lock = lock_dir(&dir)?;
    let master_path = dir.join(MASTER_FILE);
    if matches!(source, MasterSource::Generated) {
        if matches!(new_source, None | Some(MasterSource::Generated)) {
            std::fs::rename(&next_path, &master_path).map_err(|source| KeyError::Io {
                path: master_path.clone(),
                source,
            })?;
        } else {
            std::fs::remove_file(&master_path).map_err(|source| KeyError::Io {
                path: master_path.clone(),
                source,
            })?;
        }
        sync_parent(&master_path)?;
    }
    tracing::info!(old = %report.old_master, new = %report.new_master,
        rewrapped = report.rewrapped.len(), "master key rotated");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modes(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn generated_master_is_owner_only_and_wraps_data_keys() {
        let d = tempfile::tempdir().unwrap();
        let store = KeyStore::open(d.path(), &MasterSource::Generated).unwrap();
        let (k, created) = store.data_key("segments", "test").unwrap();
        assert!(created);
        assert_eq!(modes(&d.path().join("keys")), 0o700);
        assert_eq!(modes(&d.path().join("keys/master.key")), 0o600);
        assert_eq!(modes(&d.path().join("keys/segments.key")), 0o600);
        let text = std::fs::read_to_string(d.path().join("keys/segments.key")).unwrap();
        assert!(
            !text.contains(&hex::encode(k.bytes())),
            "the data key is stored plain"
        );
        assert!(text.contains(store.master_id()));
        let again = KeyStore::open(d.path(), &MasterSource::Generated).unwrap();
        assert_eq!(
            again.data_key("segments", "test").unwrap().0.bytes(),
            k.bytes()
        );
        let site = again.site_key().unwrap();
        assert_eq!(
            KeyStore::public_key(d.path()).unwrap(),
            Some(*site.public())
        );
    }

    #[test]
    fn a_missing_or_wrong_master_key_refuses_to_open() {
        let d = tempfile::tempdir().unwrap();
        let store = KeyStore::open(d.path(), &MasterSource::Generated).unwrap();
        store.data_key("a", "test").unwrap();
        std::fs::rename(d.path().join("keys/master.key"), d.path().join("elsewhere")).unwrap();
        let e = KeyStore::open(d.path(), &MasterSource::Generated).unwrap_err();
        assert!(matches!(e, KeyError::Master(_)), "{e}");
        assert!(e.to_string().contains("missing"), "{e}");
        // No new master key was made in its place.
        assert!(!d.path().join("keys/master.key").exists());
        let wrong = d.path().join("wrong.hex");
        std::fs::write(&wrong, "11".repeat(32)).unwrap();
        let e = KeyStore::open(d.path(), &MasterSource::File(wrong)).unwrap_err();
        assert!(
            e.to_string().contains("not the configured master key"),
            "{e}"
        );
    }

    #[test]
    fn rotation_rewraps_every_key_and_survives_a_crash_half_way() {
        let d = tempfile::tempdir().unwrap();
        let store = KeyStore::open(d.path(), &MasterSource::Generated).unwrap();
        let keys: Vec<_> = (0..4)
            .map(|i| *store.data_key(&format!("k{i}"), "test").unwrap().0.bytes())
            .collect();
        let old = store.master_id().to_string();
        // Killed after two of four keys.
        let partial =
            rotate_until(d.path(), &MasterSource::Generated, None, 2, &mut |_| Ok(0)).unwrap();
        assert_eq!(partial.rewrapped.len(), 2);
        let mid = KeyStore::open(d.path(), &MasterSource::Generated).unwrap();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(mid.data_key(&format!("k{i}"), "test").unwrap().0.bytes(), k);
        }
        let done = KeyStore::rotate(d.path(), &MasterSource::Generated, None).unwrap();
        assert!(done.resumed);
        assert_eq!(done.already.len() + done.rewrapped.len(), 4);
        assert_eq!(done.old_master, old);
        assert!(!d.path().join("keys/master.next.key").exists());
        let after = KeyStore::open(d.path(), &MasterSource::Generated).unwrap();
        assert_eq!(after.master_id(), done.new_master);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(
                after.data_key(&format!("k{i}"), "test").unwrap().0.bytes(),
                k
            );
            let text = std::fs::read_to_string(d.path().join(format!("keys/k{i}.key"))).unwrap();
            assert!(
                !text.contains(&old),
                "k{i} is still wrapped by the old master"
            );
        }
        // The old master key is gone from the disk.
        let master = std::fs::read_to_string(d.path().join("keys/master.key")).unwrap();
        assert!(!master.contains(&old));
    }

    #[test]
    fn supplied_master_keys_rotate_to_the_one_given() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a.hex");
        let b = d.path().join("b.hex");
        std::fs::write(&a, "aa".repeat(32)).unwrap();
        std::fs::write(&b, format!("{}\n", "bb".repeat(32))).unwrap();
        let (a, b) = (MasterSource::File(a), MasterSource::File(b));
        let store = KeyStore::open(d.path(), &a).unwrap();
        let site = *store.site_key().unwrap().public();
        assert!(!d.path().join("keys/master.key").exists());
        let e = KeyStore::rotate(d.path(), &a, None).unwrap_err();
        assert!(e.to_string().contains("--new-master"), "{e}");
        let r = KeyStore::rotate(d.path(), &a, Some(&b)).unwrap();
        assert_eq!(r.rewrapped, vec!["site-signing.key".to_string()]);
        assert!(KeyStore::open(d.path(), &a).is_err());
        let store = KeyStore::open(d.path(), &b).unwrap();
        assert_eq!(*store.site_key().unwrap().public(), site);
    }
}
