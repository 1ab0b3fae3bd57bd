//! Connecting to the hub's NATS server: who we are (NKey seed, credentials file, or user and password)
//! and TLS (the CA that signs the server, optionally a client certificate). Shared by the site uplink
//! and the hub.

use crate::UplinkError;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to reach and prove oneself to a NATS server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct NatsAuth {
    /// `nats://host:4222`, or `tls://host:4222` to require TLS.
    pub url: String,
    /// A file holding the NKey seed (`SU…`), readable by its owner only.
    pub nkey_seed_file: Option<PathBuf>,
    /// A NATS credentials file (JWT and seed).
    pub credentials_file: Option<PathBuf>,
    /// User name (with `password`).
    pub user: Option<String>,
    /// Password (with `user`).
    pub password: Option<String>,
    /// PEM file of the CA that signed the server's certificate (implies TLS).
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate, when the server asks for one (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
}

/// Reads an NKey seed file: the first line starting with `S`, checked to be a seed. Warns when the
/// file can be read by others than its owner.
pub fn read_seed(path: &Path) -> Result<String, UplinkError> {
    let text = std::fs::read_to_string(path).map_err(|source| UplinkError::Io {
        what: format!("reading the NKey seed file {}", path.display()),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                "the NKey seed file {} can be read by other users: chmod 600 it",
                path.display()
            );
        }
    }
    let seed = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with('S'))
        .ok_or_else(|| UplinkError::Config(format!("{} holds no NKey seed", path.display())))?;
    nkeys::KeyPair::from_seed(seed)
        .map_err(|e| UplinkError::Config(format!("{}: not an NKey seed ({e})", path.display())))?;
    Ok(seed.to_string())
}

impl NatsAuth {
    /// Connect options for this identity; `name` names the connection on the server, `inbox` is the
    /// inbox prefix (a site's own, so its permissions can confine it).
    pub async fn options(
        &self,
        name: &str,
        inbox: Option<String>,
    ) -> Result<async_nats::ConnectOptions, UplinkError> {
        let mut o = if let Some(path) = &self.nkey_seed_file {
            async_nats::ConnectOptions::with_nkey(read_seed(path)?)
        } else if let Some(path) = &self.credentials_file {
            async_nats::ConnectOptions::with_credentials_file(path)
                .await
                .map_err(|source| UplinkError::Io {
                    what: format!("reading the NATS credentials file {}", path.display()),
                    source,
                })?
        } else if let (Some(u), Some(p)) = (&self.user, &self.password) {
            async_nats::ConnectOptions::with_user_and_password(u.clone(), p.clone())
        } else {
            async_nats::ConnectOptions::new()
        };
        if let Some(ca) = &self.tls_ca {
            o = o.require_tls(true).add_root_certificates(ca.clone());
        }
        if self.url.starts_with("tls://") {
            o = o.require_tls(true);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            o = o.add_client_certificate(cert.clone(), key.clone());
        }
        if let Some(prefix) = inbox {
            o = o.custom_inbox_prefix(prefix);
        }
        Ok(o.name(name)
            .connection_timeout(Duration::from_secs(5))
            .ping_interval(Duration::from_secs(10))
            .request_timeout(Some(Duration::from_secs(10)))
            .max_reconnects(None)
            .reconnect_delay_callback(|attempt| {
                // 0.1 s, doubling, at most 5 s: a link back is used within seconds.
                Duration::from_millis((100u64 << attempt.min(6)).min(5000))
            })
            .retry_on_initial_connect())
    }

    /// Connects (in the background when the server cannot be reached now: the client keeps trying).
    pub async fn connect(
        &self,
        name: &str,
        inbox: Option<String>,
    ) -> Result<async_nats::Client, UplinkError> {
        self.options(name, inbox)
            .await?
            .connect(self.url.as_str())
            .await
            .map_err(|e| UplinkError::Nats(format!("connecting to {}: {e}", self.url)))
    }
}
