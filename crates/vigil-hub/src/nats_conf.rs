//! Site identities on the link and the NATS server's authorization.
//!
//! Each site gets its own NKey pair (`vigil hub site add NAME`): the hub keeps the public key in
//! PostgreSQL, the site keeps the seed. [`server_config`] writes the `nats-server` configuration from the
//! sites table: the hub's key may use every subject, each site's key may publish only under
//! `vigil.site.<site>.`, subscribe only to its own requests and its own inbox, and answer only requests
//! sent to it (`allow_responses`). So a site cannot publish as another, read another's traffic or answer
//! for it. A standby box (`vigil hub site add NAME --standby-for A,B`) may in addition subscribe to
//! its primaries' `vigil.site.<primary>.status`, to take their cameras over when they fall silent.
//! Run again (and reload the server: `nats-server --signal reload`) after adding a site.

use crate::HubError;
use crate::db::SiteRow;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use vigil_uplink::wire;

/// A new NKey pair for a user (a site or the hub): (public key, seed).
pub fn new_user_key() -> Result<(String, String), HubError> {
    let kp = nkeys::KeyPair::new_user();
    let seed = kp
        .seed()
        .map_err(|e| HubError::Config(format!("making an NKey: {e}")))?;
    Ok((kp.public_key(), seed))
}

/// The public key of a seed.
pub fn public_key_of_seed(seed: &str) -> Result<String, HubError> {
    nkeys::KeyPair::from_seed(seed.trim())
        .map(|kp| kp.public_key())
        .map_err(|e| HubError::Config(format!("not an NKey seed: {e}")))
}

/// Writes `seed` to `path`, readable by its owner only; refuses to overwrite a file.
pub fn write_seed(path: &Path, seed: &str) -> Result<(), HubError> {
    use std::io::Write as _;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let io = |e: std::io::Error| HubError::Config(format!("writing {}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut f = o.open(path).map_err(io)?;
    writeln!(f, "{seed}").map_err(io)?;
    f.sync_all().map_err(io)
}

/// The hub's own seed: read from `path`, or made and written there at the first start. Returns the
/// public key.
pub fn hub_key(path: &Path) -> Result<String, HubError> {
    match std::fs::read_to_string(path) {
        Ok(text) => public_key_of_seed(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (public, seed) = new_user_key()?;
            write_seed(path, &seed)?;
            Ok(public)
        }
        Err(e) => Err(HubError::Config(format!("reading {}: {e}", path.display()))),
    }
}

/// Where the NATS server listens and keeps JetStream, and its TLS, for [`server_config`].
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// `host:port`.
    pub listen: String,
    /// JetStream's directory.
    pub store_dir: PathBuf,
    /// Server certificate (PEM), for TLS.
    pub tls_cert: Option<PathBuf>,
    /// Its key.
    pub tls_key: Option<PathBuf>,
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// The `nats-server` configuration: listen address, JetStream, TLS, and one user per site with its
/// permissions (sites without an NKey are left out: they authenticate otherwise).
pub fn server_config(hub_public: &str, sites: &[SiteRow], o: &ServerOptions) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Written by `vigil hub nats-config`: run it again after adding or removing a site."
    );
    let _ = writeln!(s, "listen: {}", quote(&o.listen));
    let _ = writeln!(
        s,
        "jetstream {{\n  store_dir: {}\n}}",
        quote(&o.store_dir.to_string_lossy())
    );
    if let (Some(cert), Some(key)) = (&o.tls_cert, &o.tls_key) {
        let _ = writeln!(
            s,
            "tls {{\n  cert_file: {}\n  key_file: {}\n  timeout: 5\n}}",
            quote(&cert.to_string_lossy()),
            quote(&key.to_string_lossy())
        );
    }
    let _ = writeln!(s, "authorization {{\n  users = [");
    let _ = writeln!(s, "    # the hub\n    {{ nkey: {} }}", quote(hub_public));
    for site in sites {
        let Some(key) = &site.nkey_public else {
            continue;
        };
        if wire::check_site_name(&site.name).is_err() {
            continue;
        }
        let prefix = wire::site_prefix(&site.name);
        // A standby may also watch its primaries' status (and nothing else of theirs).
        let watch: String = site
            .standby_for
            .iter()
            .filter(|p| wire::check_site_name(p).is_ok())
            .map(|p| format!(", {}", quote(&wire::status_subject(p))))
            .collect();
        let _ = writeln!(
            s,
            "    # site {name}\n    {{ nkey: {key}, permissions: {{ publish: {{ allow: [{p}] }}, \
             subscribe: {{ allow: [{req}, {inbox}{watch}] }}, allow_responses: {{ max: 1, expires: \"1m\" }} }} }}",
            name = site.name,
            key = quote(key),
            p = quote(&format!("{prefix}>")),
            req = quote(&format!("{prefix}req.>")),
            inbox = quote(&format!("{}.>", wire::inbox_prefix(&site.name))),
        );
    }
    let _ = writeln!(s, "  ]\n}}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_site_is_confined_to_its_subjects() {
        let (hub, _) = new_user_key().unwrap();
        let (k1, seed1) = new_user_key().unwrap();
        assert_eq!(public_key_of_seed(&seed1).unwrap(), k1);
        let site = |name: &str, key: Option<String>| SiteRow {
            name: name.into(),
            nkey_public: key,
            last_seen_ms: None,
            offline_since_ms: None,
            version: None,
            config_version: None,
            status: None,
            standby_for: Vec::new(),
        };
        let text = server_config(
            &hub,
            &[site("shop-1", Some(k1.clone())), site("pw", None)],
            &ServerOptions {
                listen: "127.0.0.1:4222".into(),
                store_dir: "/tmp/js".into(),
                ..Default::default()
            },
        );
        assert!(text.contains(&format!("{{ nkey: \"{hub}\" }}")), "{text}");
        assert!(
            text.contains("publish: { allow: [\"vigil.site.shop-1.>\"] }"),
            "{text}"
        );
        assert!(text.contains("\"_INBOX_shop-1.>\""), "{text}");
        assert!(!text.contains("site pw"), "{text}");
        assert!(
            !text.contains("status\""),
            "no site watches another: {text}"
        );
        let mut standby = site("standby-1", Some(new_user_key().unwrap().0));
        standby.standby_for = vec!["shop-1".into()];
        let text = server_config(&hub, &[standby], &ServerOptions::default());
        assert!(
            text.contains("\"_INBOX_standby-1.>\", \"vigil.site.shop-1.status\"]"),
            "a standby watches its primary's status only: {text}"
        );
    }
}
