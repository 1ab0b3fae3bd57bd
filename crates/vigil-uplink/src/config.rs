//! `[uplink]` in `vigil.toml`: this box as a site of a hub.
//!
//! ```toml
//! [uplink]
//! site = "shop-12"                          # this site's name at the hub (letters, digits, - and _)
//! nats_url = "tls://hub.example.com:4222"   # the hub's NATS server
//! nkey_seed_file = "/etc/vigil/shop-12.nk"  # from `vigil hub site add shop-12`
//! tls_ca = "/etc/vigil/hub-ca.pem"          # the CA of the server's certificate
//! ```

use crate::link::NatsAuth;
use serde::Deserialize;
use std::path::PathBuf;

/// `[uplink]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UplinkConfig {
    /// This site's name at the hub (1-64 of letters, digits, `-`, `_`).
    pub site: String,
    /// The hub's NATS server (`nats://` or `tls://`).
    pub nats_url: String,
    /// File with this site's NKey seed (from `vigil hub site add`).
    #[serde(default)]
    pub nkey_seed_file: Option<PathBuf>,
    /// A NATS credentials file instead of a seed.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// User name instead of a seed (with `password`).
    #[serde(default)]
    pub user: Option<String>,
    /// Password (with `user`).
    #[serde(default)]
    pub password: Option<String>,
    /// CA certificate (PEM) of the NATS server (implies TLS).
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM), when the server asks for one.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// Key of `tls_cert` (PEM).
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Seconds between status heartbeats (default 5; the hub calls a site offline after 3 missed).
    #[serde(default = "default_heartbeat")]
    pub heartbeat_s: u32,
    /// Most event changes kept waiting while the hub cannot be reached (default 1,000,000, about
    /// 40 MB); past it the oldest are dropped and counted.
    #[serde(default = "default_backlog")]
    pub max_backlog: u64,
    /// Send events' best snapshots (default true).
    #[serde(default = "yes")]
    pub send_snapshots: bool,
    /// Send face recognition events (default false: biometric data stays on site).
    #[serde(default)]
    pub send_biometric: bool,
    /// Let the hub read and replace this site's `vigil.toml` (default true).
    #[serde(default = "yes")]
    pub remote_config: bool,
    /// Hours the hub's users, as last pushed, may log in here without hearing from the hub again
    /// (default 72; 0 refuses central users).
    #[serde(default = "default_central_hours")]
    pub central_users_hours: u32,
}

fn default_central_hours() -> u32 {
    72
}

fn default_heartbeat() -> u32 {
    5
}

fn default_backlog() -> u64 {
    1_000_000
}

fn yes() -> bool {
    true
}

impl UplinkConfig {
    /// The connection settings.
    pub fn auth(&self) -> NatsAuth {
        NatsAuth {
            url: self.nats_url.clone(),
            nkey_seed_file: self.nkey_seed_file.clone(),
            credentials_file: self.credentials_file.clone(),
            user: self.user.clone(),
            password: self.password.clone(),
            tls_ca: self.tls_ca.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
        }
    }

    /// What is wrong with it, for `vigil config check` (each a sentence).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Err(e) = crate::wire::check_site_name(&self.site) {
            out.push(e.to_string());
        }
        if !(self.nats_url.starts_with("nats://") || self.nats_url.starts_with("tls://")) {
            out.push(format!(
                "nats_url {:?} must start with nats:// or tls://",
                self.nats_url
            ));
        }
        if self.user.is_some() != self.password.is_some() {
            out.push("user and password go together".into());
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            out.push("tls_cert and tls_key go together".into());
        }
        if self.heartbeat_s == 0 || self.heartbeat_s > 300 {
            out.push("heartbeat_s must be 1-300".into());
        }
        out
    }
}
