//! `hub.toml`: the hub's one configuration file.
//!
//! ```toml
//! [hub]
//! listen = "0.0.0.0:9443"                              # the hub's HTTPS API and UI
//! data_dir = "/var/lib/vigil-hub"                      # snapshots, the hub's NKey, certificates
//! postgres_url = "postgres://vigil@127.0.0.1/vigil_hub"
//! nats_url = "nats://127.0.0.1:4222"                   # tls:// to require TLS
//! # nkey_seed_file = "/var/lib/vigil-hub/hub.nk"       # default: data_dir/hub.nk (made at first start)
//! # tls_ca = "/etc/vigil-hub/nats-ca.pem"
//! ```

use serde::Deserialize;
use std::path::{Path, PathBuf};
use vigil_uplink::NatsAuth;

/// Why `hub.toml` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HubConfigError {
    /// The file cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid `hub.toml`.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its place.
        message: String,
    },
}

/// The whole `hub.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// `[hub]`.
    pub hub: HubSection,
}

/// `[hub]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSection {
    /// Address of the HTTPS API and UI (default `0.0.0.0:9443`).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Snapshots, the hub's NKey and certificates (relative to the file's folder).
    pub data_dir: PathBuf,
    /// PostgreSQL (`postgres://user@host/db`).
    pub postgres_url: String,
    /// NATS server with JetStream (`nats://` or `tls://`).
    pub nats_url: String,
    /// The hub's NKey seed file (default `data_dir/hub.nk`, made at first start).
    #[serde(default)]
    pub nkey_seed_file: Option<PathBuf>,
    /// NATS user (instead of an NKey; with `nats_password`).
    #[serde(default)]
    pub nats_user: Option<String>,
    /// NATS password.
    #[serde(default)]
    pub nats_password: Option<String>,
    /// CA certificate (PEM) of the NATS server (implies TLS).
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for the NATS server.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// Key of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Days the hub keeps events (default 90; sites keep their own by their retention).
    #[serde(default = "default_retention")]
    pub event_retention_days: u32,
    /// Largest snapshot kept (default 1 MiB).
    #[serde(default = "default_snapshot_max")]
    pub snapshot_max_bytes: usize,
}

fn default_listen() -> String {
    "0.0.0.0:9443".into()
}

fn default_retention() -> u32 {
    90
}

fn default_snapshot_max() -> usize {
    1 << 20
}

impl HubConfig {
    /// Reads and checks `path`; relative paths become relative to its folder.
    pub fn load(path: &Path) -> Result<HubConfig, HubConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| HubConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut c = Self::parse(&text).map_err(|message| HubConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut c.hub.data_dir);
        for p in [
            &mut c.hub.nkey_seed_file,
            &mut c.hub.tls_ca,
            &mut c.hub.tls_cert,
            &mut c.hub.tls_key,
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
        Ok(c)
    }

    /// Parses and checks the text of a `hub.toml`.
    pub fn parse(text: &str) -> Result<HubConfig, String> {
        let c: HubConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        let h = &c.hub;
        if !(h.nats_url.starts_with("nats://") || h.nats_url.starts_with("tls://")) {
            return Err(format!(
                "[hub] nats_url {:?} must start with nats:// or tls://",
                h.nats_url
            ));
        }
        if !(h.postgres_url.starts_with("postgres://")
            || h.postgres_url.starts_with("postgresql://"))
        {
            return Err(format!(
                "[hub] postgres_url {:?} must start with postgres://",
                h.postgres_url
            ));
        }
        if h.nats_user.is_some() != h.nats_password.is_some() {
            return Err("[hub] nats_user and nats_password go together".into());
        }
        Ok(c)
    }

    /// The hub's own NKey seed file.
    pub fn seed_file(&self) -> PathBuf {
        self.hub
            .nkey_seed_file
            .clone()
            .unwrap_or_else(|| self.hub.data_dir.join("hub.nk"))
    }

    /// How the hub connects to NATS (its NKey unless a user and password are given).
    pub fn nats_auth(&self) -> NatsAuth {
        let h = &self.hub;
        let password = h.nats_user.is_some();
        NatsAuth {
            url: h.nats_url.clone(),
            nkey_seed_file: (!password).then(|| self.seed_file()),
            credentials_file: None,
            user: h.nats_user.clone(),
            password: h.nats_password.clone(),
            tls_ca: h.tls_ca.clone(),
            tls_cert: h.tls_cert.clone(),
            tls_key: h.tls_key.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_urls_and_unknown_keys() {
        let ok = "[hub]\ndata_dir = 'd'\npostgres_url = 'postgres://x@h/db'\nnats_url = 'nats://h:4222'\n";
        let c = HubConfig::parse(ok).unwrap();
        assert_eq!(c.hub.listen, "0.0.0.0:9443");
        assert_eq!(c.seed_file(), PathBuf::from("d/hub.nk"));
        let bad = ok.replace("nats://", "http://");
        assert!(HubConfig::parse(&bad).unwrap_err().contains("nats_url"));
        let unknown = format!("{ok}colour = 1\n");
        assert!(HubConfig::parse(&unknown).unwrap_err().contains("colour"));
    }
}
