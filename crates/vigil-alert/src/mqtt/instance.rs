//! Which installation this is on the broker: the default MQTT client id and topic prefix are derived
//! from the host name and a hash of the data directory, so two Vigil instances on one broker (two boxes,
//! or two data directories on one box) never share a client id or a topic.
//!
//! Why it matters: a broker allows one connection per client id and drops the older one when another
//! connects with the same id. Two instances with the same id then kick each other off forever, reconnecting
//! every half second and publishing their discovery again each time (1260 discovery messages for one camera
//! in 70 s were seen); and two instances on one topic prefix overwrite each other's availability.

use sha2::{Digest, Sha256};
use std::path::Path;

/// The longest host name part kept in ids (client ids stay short enough for strict brokers' logs).
const HOST_MAX: usize = 24;

/// An installation's identity: `<host>-<hash>` where `hash` is 6 hex digits of SHA-256 of the data
/// directory's absolute path (`nvr1-3fa2c1`). Stable across restarts as long as the host name and the data
/// directory stay the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    host: String,
    hash: String,
}

impl Instance {
    /// The identity of the installation keeping its data in `data_dir` (the current directory when
    /// `None`) on this host.
    pub fn of(data_dir: Option<&Path>) -> Self {
        let dir = match data_dir {
            Some(d) => d.to_path_buf(),
            None => std::env::current_dir().unwrap_or_default(),
        };
        // The same directory named two ways (relative, through a link) is one installation.
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        Self::from_parts(&host_name(), &dir)
    }

    /// The identity for a given host name and data directory.
    pub fn from_parts(host: &str, data_dir: &Path) -> Self {
        let mut host: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        host = host.trim_matches('-').to_string();
        host.truncate(HOST_MAX);
        if host.is_empty() {
            host.push_str("host");
        }
        let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
        Self {
            host,
            hash: hex::encode(&digest[..3]),
        }
    }

    /// `<host>-<hash>`.
    pub fn id(&self) -> String {
        format!("{}-{}", self.host, self.hash)
    }

    /// The default MQTT client id: `vigil-<host>-<hash>`.
    pub fn client_id(&self) -> String {
        format!("vigil-{}", self.id())
    }

    /// The default topic prefix: `vigil/<host>-<hash>`.
    pub fn topic_prefix(&self) -> String {
        format!("vigil/{}", self.id())
    }

    /// The host name part.
    pub fn host(&self) -> &str {
        &self.host
    }
}

/// This machine's host name (`/proc/sys/kernel/hostname`, `/etc/hostname`, `$HOSTNAME`), or `host`.
pub fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .chain(std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .find(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_by_host_and_by_data_directory_and_are_stable() {
        let a = Instance::from_parts("nvr1", Path::new("/var/lib/vigil"));
        let b = Instance::from_parts("nvr1", Path::new("/srv/vigil2"));
        let c = Instance::from_parts("nvr2", Path::new("/var/lib/vigil"));
        assert_ne!(a.client_id(), b.client_id());
        assert_ne!(a.client_id(), c.client_id());
        assert_ne!(a.topic_prefix(), b.topic_prefix());
        assert_eq!(a, Instance::from_parts("nvr1", Path::new("/var/lib/vigil")));
        assert!(a.client_id().starts_with("vigil-nvr1-"));
        assert_eq!(a.client_id().len(), "vigil-nvr1-".len() + 6);
        assert!(a.topic_prefix().starts_with("vigil/nvr1-"));
    }

    #[test]
    fn host_names_become_safe_topic_text() {
        let i = Instance::from_parts("Büro.example.COM", Path::new("/d"));
        assert!(i.host().starts_with("b-ro-example-com"), "{}", i.host());
        assert!(!i.topic_prefix().contains(['+', '#', ' ']));
        let long = Instance::from_parts(&"x".repeat(100), Path::new("/d"));
        assert_eq!(long.host().len(), HOST_MAX);
        assert_eq!(Instance::from_parts("...", Path::new("/d")).host(), "host");
    }

    #[test]
    fn one_directory_named_two_ways_is_one_installation() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("data");
        std::fs::create_dir(&sub).unwrap();
        let dotted = dir.path().join("data/../data");
        assert_eq!(Instance::of(Some(&sub)), Instance::of(Some(&dotted)));
    }
}
