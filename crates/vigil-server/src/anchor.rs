//! The audit log's anchor outside the database: `data_dir/audit-anchor.json` holds the newest entry's
//! id and chain hash, the number of entries, where the keyed section begins and the key's id, with an
//! HMAC-SHA256 of all of it under the audit key. Someone who rewrites or truncates the log in
//! `security.db` (even recomputing the chain) cannot make it match the anchor without the key.
//!
//! It is rewritten (atomically) at most every [`ANCHOR_EVERY`] while entries are appended, and once
//! more when the server stops ([`Anchorer::flush`]), so only the entries of the last second before a
//! crash can be removed unnoticed. With `[server] audit_syslog` every anchor is also sent to that
//! syslog socket (e.g. `/dev/log`), off the machine if syslog forwards it.

use crate::error::ServerError;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// File name of the anchor in the data directory.
pub const ANCHOR_FILE: &str = "audit-anchor.json";

/// The anchor is rewritten at most this often while entries are appended.
pub const ANCHOR_EVERY: Duration = Duration::from_secs(1);

/// What the anchor says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// Format version (1).
    pub vigil_audit_anchor: u32,
    /// Id of the audit key that MACs it (and the keyed section).
    pub key: String,
    /// Entries in the log when it was written (ids run from 1 without gaps, so the newest id).
    pub entries: i64,
    /// Id of the newest entry.
    pub last_id: i64,
    /// Chain hash of the newest entry (hex).
    pub head: String,
    /// Id of the entry where the keyed section begins.
    pub keyed_from: i64,
    /// When it was written (unix ms).
    pub at_ms: i64,
    /// HMAC-SHA256 under the audit key of the fields above (hex).
    pub mac: String,
}

impl Anchor {
    fn mac_of(&self, key: &[u8; 32]) -> String {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        let fields = serde_json::to_vec(&(
            "vigil audit anchor",
            self.vigil_audit_anchor,
            &self.key,
            self.entries,
            self.last_id,
            &self.head,
            self.keyed_from,
            self.at_ms,
        ))
        .unwrap_or_default();
        m.update(&fields);
        hex::encode(m.finalize().into_bytes())
    }

    /// Whether its MAC is right under `key`.
    pub fn authentic(&self, key: &[u8; 32]) -> bool {
        crate::auth::same(self.mac_of(key).as_bytes(), self.mac.as_bytes())
    }

    /// Reads the anchor of a data directory; `Ok(None)` when there is none.
    pub fn read(data_dir: &Path) -> Result<Option<Anchor>, ServerError> {
        let path = data_dir.join(ANCHOR_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                ServerError::Invalid(format!("{}: not an audit anchor: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ServerError::Io { path, source }),
        }
    }
}

struct State {
    /// Newest entry not yet anchored: (id, hash, entries).
    pending: Option<(i64, [u8; 32], i64)>,
    /// Newest entry anchored.
    written: i64,
    last_write: Option<Instant>,
}

/// Writes the anchor of one data directory.
pub struct Anchorer {
    path: PathBuf,
    syslog: Option<PathBuf>,
    state: Mutex<State>,
}

impl Anchorer {
    /// Anchors the log of `data_dir`; `syslog`: a syslog datagram socket every anchor is also sent to.
    pub fn new(data_dir: &Path, syslog: Option<PathBuf>) -> Anchorer {
        Anchorer {
            path: data_dir.join(ANCHOR_FILE),
            syslog,
            state: Mutex::new(State {
                pending: None,
                written: 0,
                last_write: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a new head (entry `id` with chain hash `hash`, `entries` in all); writes the anchor now
    /// when the last write is [`ANCHOR_EVERY`] old, else at the next [`flush`](Self::flush).
    pub fn record(&self, key: &crate::keys::KeyFile, keyed_from: i64, head: (i64, [u8; 32], i64)) {
        let mut st = self.lock();
        if st.pending.is_none_or(|(id, _, _)| id < head.0) {
            st.pending = Some(head);
        }
        if st.last_write.is_none_or(|t| t.elapsed() >= ANCHOR_EVERY) {
            self.write_locked(&mut st, key, keyed_from);
        }
    }

    /// Writes the anchor if a head is waiting.
    pub fn flush(&self, key: &crate::keys::KeyFile, keyed_from: i64) {
        let mut st = self.lock();
        self.write_locked(&mut st, key, keyed_from);
    }

    fn write_locked(&self, st: &mut State, key: &crate::keys::KeyFile, keyed_from: i64) {
        let Some((id, hash, entries)) = st.pending.take() else {
            return;
        };
        if id <= st.written {
            return;
        }
        let mut a = Anchor {
            vigil_audit_anchor: 1,
            key: key.id.clone(),
            entries,
            last_id: id,
            head: hex::encode(hash),
            keyed_from,
            at_ms: crate::auth::now_ms(),
            mac: String::new(),
        };
        a.mac = a.mac_of(key.bytes());
        let text = match serde_json::to_string(&a) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("audit anchor not written: {e}");
                return;
            }
        };
        match crate::fsmode::replace_private(&self.path, format!("{text}\n").as_bytes()) {
            Ok(()) => {
                st.written = id;
                st.last_write = Some(Instant::now());
            }
            Err(e) => {
                tracing::error!("audit anchor not written: {e}");
                st.pending = Some((id, hash, entries));
                return;
            }
        }
        if let Some(socket) = &self.syslog {
            send_syslog(socket, &text);
        }
    }
}

/// Sends one message to a syslog datagram socket (facility authpriv, severity info); failures are
/// logged, never fatal.
#[cfg(unix)]
fn send_syslog(socket: &Path, anchor: &str) {
    let msg = format!("<86>vigil[{}]: audit-anchor {anchor}", std::process::id());
    let sent =
        std::os::unix::net::UnixDatagram::unbound().and_then(|s| s.send_to(msg.as_bytes(), socket));
    if let Err(e) = sent {
        tracing::warn!("audit anchor not sent to syslog {}: {e}", socket.display());
    }
}

#[cfg(not(unix))]
fn send_syslog(socket: &Path, _: &str) {
    tracing::warn!(
        "audit anchor not sent to syslog {}: only on Unix",
        socket.display()
    );
}
