//! The key store's part of `vigil security check`: the master key and the key folder owner-only, every
//! wrapped key opening with the configured master key.

use super::{Report, Severity};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use vigil_config::VigilConfig;
use vigil_keys::{KeyStore, MasterSource};

/// `path`'s mode when others may read or enter it.
fn open_mode(path: &Path) -> Option<u32> {
    let m = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (m & 0o077 != 0).then_some(m)
}

/// Checks `keys.master` (where the master key is and who may read it) and `keys.open` (the key store
/// opens with it).
pub(super) fn check_keys(config: &VigilConfig, r: &mut Report) {
    let dir = config.data_dir.join("keys");
    let master_file = match &config.keys.master {
        MasterSource::Generated => Some(dir.join("master.key")),
        MasterSource::File(p) => Some(p.clone()),
        MasterSource::Env(_) | MasterSource::Command(_) => None,
    };
    let exposed: Vec<String> = [Some(dir.clone()), master_file.clone()]
        .into_iter()
        .flatten()
        .filter_map(|p| open_mode(&p).map(|m| format!("{m:o} {}", p.display())))
        .collect();
    if !exposed.is_empty() {
        r.find(
            "keys.master",
            Severity::High,
            "the master key is readable by others",
            exposed.join(", "),
            &format!("chmod 700 {} and chmod 600 the key file", dir.display()),
        );
    } else if matches!(config.keys.master, MasterSource::Generated) {
        r.find(
            "keys.master",
            Severity::Info,
            "the master key lives on this machine",
            format!(
                "{} is owner-only; whoever copies the disk with it can open what it wraps, and losing it loses \
                 that data",
                dir.join("master.key").display()
            ),
            "back it up off the machine, or supply it with [keys] master = \"command:...\" (a KMS or TPM)",
        );
    } else {
        r.pass(
            "keys.master",
            format!("the master key is supplied ({})", config.keys.master),
        );
    }
    // Opening creates nothing when the master key exists (a check changes nothing).
    let generated_missing =
        matches!(config.keys.master, MasterSource::Generated) && !dir.join("master.key").exists();
    if !dir.exists() || generated_missing {
        r.pass("keys.open", "no key store yet (created at the first start)");
        return;
    }
    match KeyStore::open(&config.data_dir, &config.keys.master).and_then(|s| {
        let n = s.list()?.len();
        let site = KeyStore::public_key(&config.data_dir)?;
        Ok((s.master_id().to_string(), n, site))
    }) {
        Ok((master, n, site)) => r.pass(
            "keys.open",
            format!(
                "{n} key(s) open with master key {master}{}",
                site.map(|k| format!("; site key {}", k.fingerprint()))
                    .unwrap_or_default()
            ),
        ),
        Err(e) => r.find(
            "keys.open",
            Severity::High,
            "the key store does not open",
            e.to_string(),
            "supply the master key the keys were wrapped with (vigil run refuses to start without it)",
        ),
    }
}
