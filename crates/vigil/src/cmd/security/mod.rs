//! `vigil security check --config vigil.toml [--json]`: a hardening checklist of an installation. Each
//! finding has a severity (high, medium, low, info) and a fix; the command exits 1 when a high finding
//! exists. It reads the configuration, the files it names and the audit log (read-only); it changes
//! nothing.

mod keys;

use crate::cmd::config::load_or_report;
use serde::Serialize;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use vigil_config::VigilConfig;

/// `vigil security` subcommands.
#[derive(clap::Subcommand)]
pub enum SecurityCommand {
    /// Check an installation against a hardening checklist (exit 1 when a high finding exists).
    Check(CheckArgs),
}

/// Arguments of `vigil security check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The configuration file.
    #[arg(long, short, default_value = "vigil.toml", env = "VIGIL_CONFIG")]
    pub config: PathBuf,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fix before exposing the installation.
    High,
    /// Fix soon.
    Medium,
    /// Worth fixing.
    Low,
    /// For information.
    Info,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Info => "INFO",
        }
    }
}

/// One thing found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Which check (`mfa.admins`, `files.data`, ...).
    pub check: &'static str,
    /// How bad.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// What exactly.
    pub detail: String,
    /// How to fix it.
    pub fix: String,
}

/// The checklist's outcome.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The configuration checked.
    pub config: String,
    /// Findings, worst first.
    pub findings: Vec<Finding>,
    /// Checks that found nothing, with what they checked.
    pub passed: Vec<(&'static str, String)>,
}

impl Report {
    fn find(
        &mut self,
        check: &'static str,
        severity: Severity,
        title: &str,
        detail: String,
        fix: &str,
    ) {
        self.findings.push(Finding {
            check,
            severity,
            title: title.to_string(),
            detail,
            fix: fix.to_string(),
        });
    }

    fn pass(&mut self, check: &'static str, what: impl Into<String>) {
        self.passed.push((check, what.into()));
    }

    fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }
}

/// High findings exist (the process exits with code 1).
#[derive(Debug)]
pub struct HighFindings(pub usize);

impl std::fmt::Display for HighFindings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} high finding(s): fix them first", self.0)
    }
}

impl std::error::Error for HighFindings {}

/// Runs `vigil security ...`.
pub fn run(command: SecurityCommand) -> anyhow::Result<()> {
    match command {
        SecurityCommand::Check(args) => {
            let config = load_or_report(&args.config)?;
            let report = check(&config, &args.config);
            if args.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", render(&report));
            }
            match report.count(Severity::High) {
                0 => Ok(()),
                n => Err(HighFindings(n).into()),
            }
        }
    }
}

/// Runs every check.
pub fn check(config: &VigilConfig, file: &Path) -> Report {
    let mut r = Report {
        config: file.display().to_string(),
        ..Report::default()
    };
    check_mfa(config, &mut r);
    check_listener(config, &mut r);
    check_files(config, &mut r);
    check_secrets(config, file, &mut r);
    check_certificate(config, &mut r);
    check_audit(config, &mut r);
    keys::check_keys(config, &mut r);
    r.pass(
        "metrics.open",
        "/metrics answers only callers with the metrics permission (admins, tokens with that scope), \
         and only with their cameras' series",
    );
    r.findings.sort_by_key(|f| f.severity);
    r
}

fn check_mfa(config: &VigilConfig, r: &mut Report) {
    let required = &config.server.require_mfa;
    if !required.iter().any(|x| x == "admin") {
        r.find(
            "mfa.admins",
            Severity::High,
            "admins can log in without MFA",
            "[server] require_mfa does not list \"admin\": a stolen or guessed admin password is enough \
             to manage users and watch every camera"
                .into(),
            "add require_mfa = [\"admin\"] (or more roles) to [server]; admins enrol on their account page",
        );
    } else {
        r.pass("mfa.admins", "admins must use TOTP MFA");
    }
    if !required.iter().any(|x| x == "operator") {
        r.find(
            "mfa.operators",
            Severity::Low,
            "operators can log in without MFA",
            "operators watch and export every camera in their scope".into(),
            "add \"operator\" to [server] require_mfa",
        );
    }
    if config.server.session_max_hours > 24 || config.server.session_idle_minutes > 60 {
        r.find(
            "sessions.long",
            Severity::Low,
            "sessions last long",
            format!(
                "a session ends after {} minutes idle and {} hours at most",
                config.server.session_idle_minutes, config.server.session_max_hours
            ),
            "lower [server] session_idle_minutes (30) and session_max_hours (12)",
        );
    }
}

fn check_listener(config: &VigilConfig, r: &mut Report) {
    let s = &config.server;
    if s.http_loopback_only {
        r.find(
            "listener.plain_http",
            Severity::Medium,
            "the API and UI are served over plain HTTP",
            format!(
                "http_loopback_only = true: {} speaks HTTP without TLS (loopback only); passwords, \
                 cookies and video cross it in clear to whatever connects locally",
                s.listen
            ),
            "serve HTTPS (remove http_loopback_only), or keep a TLS-terminating reverse proxy as the only \
             local client",
        );
    } else {
        r.pass(
            "listener.plain_http",
            format!("HTTPS on {} (TLS 1.2/1.3, rustls defaults)", s.listen),
        );
    }
    let plain: Vec<&String> = s
        .allowed_origins
        .iter()
        .filter(|o| o.starts_with("http://"))
        .collect();
    if !plain.is_empty() {
        r.find(
            "listener.origins",
            Severity::Medium,
            "plain-HTTP origins may open live video",
            format!("allowed_origins lists {plain:?}"),
            "list only https:// origins in [server] allowed_origins",
        );
    }
}

/// Files and folders (below `roots`, not following links) readable, writable or searchable by group or
/// others; at most `limit` entries are looked at.
fn open_paths(roots: &[PathBuf], limit: usize) -> (usize, Vec<(PathBuf, u32)>) {
    let mut seen = 0;
    let mut open = Vec::new();
    let mut stack: Vec<PathBuf> = roots.iter().filter(|p| p.exists()).cloned().collect();
    stack.dedup();
    while let Some(p) = stack.pop() {
        if seen >= limit {
            break;
        }
        seen += 1;
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 && !meta.file_type().is_symlink() {
            open.push((p.clone(), mode));
        }
        if meta.is_dir()
            && let Ok(entries) = std::fs::read_dir(&p)
        {
            stack.extend(entries.flatten().map(|e| e.path()));
        }
    }
    (seen, open)
}

fn check_files(config: &VigilConfig, r: &mut Report) {
    let mut roots = vec![config.data_dir.clone()];
    if let Some(store) = config.store_config() {
        roots.extend(store.dirs.iter().map(|d| d.path.clone()));
        if let Some(parent) = store.db.parent() {
            roots.push(parent.to_path_buf());
        }
    }
    // Each folder once: those inside another one are walked with it.
    roots.sort();
    roots.dedup();
    let nested: Vec<PathBuf> = roots
        .iter()
        .filter(|r| roots.iter().any(|o| o != *r && r.starts_with(o)))
        .cloned()
        .collect();
    roots.retain(|r| !nested.contains(r));
    if !config.data_dir.exists() {
        r.find(
            "files.data",
            Severity::Info,
            "the data directory does not exist yet",
            format!(
                "{} is created (owner-only) at the first start",
                config.data_dir.display()
            ),
            "nothing to do",
        );
    }
    let (seen, open) = open_paths(&roots, 500_000);
    if open.is_empty() {
        r.pass(
            "files.data",
            format!(
                "{seen} files and folders under the data and storage directories are owner-only"
            ),
        );
    } else {
        let examples: Vec<String> = open
            .iter()
            .take(5)
            .map(|(p, m)| format!("{m:o} {}", p.display()))
            .collect();
        let dirs: Vec<String> = roots.iter().map(|d| d.display().to_string()).collect();
        r.find(
            "files.data",
            Severity::High,
            "recordings or other data are readable by other local users",
            format!(
                "{} of {seen} files and folders have group or other permissions, e.g. {}",
                open.len(),
                examples.join(", ")
            ),
            &format!(
                "chmod -R go-rwx {} (what Vigil creates from now on is owner-only)",
                dirs.join(" ")
            ),
        );
    }
}

fn check_secrets(config: &VigilConfig, file: &Path, r: &mut Report) {
    // Secrets written as `env:NAME` or `file:PATH` are not in the file.
    let inline = |s: &vigil_core::config::Secret| {
        !s.is_empty() && *s.source() == vigil_core::config::SecretSource::Inline
    };
    let mut clear: Vec<String> = config
        .cameras
        .iter()
        .filter(|c| c.password.as_ref().is_some_and(inline))
        .map(|c| format!("camera {}", c.name))
        .collect();
    if config
        .mqtt
        .as_ref()
        .is_some_and(|m| m.password.as_ref().is_some_and(inline))
    {
        clear.push("[mqtt] password".into());
    }
    for w in &config.webhook {
        if w.secret.as_ref().is_some_and(inline) || w.headers.values().any(inline) {
            clear.push(format!("webhook {}", w.name));
        }
    }
    let mode = std::fs::metadata(file)
        .map(|m| m.permissions().mode() & 0o777)
        .ok();
    if clear.is_empty() {
        r.pass(
            "secrets.config",
            "no passwords or secrets in the configuration file",
        );
        if let Some(m) = mode.filter(|m| m & 0o002 != 0) {
            r.find(
                "files.config",
                Severity::Medium,
                "the configuration file is writable by others",
                format!(
                    "{} is {m:o}: anyone can point cameras or alerts elsewhere",
                    file.display()
                ),
                &format!("chmod go-w {}", file.display()),
            );
        }
        return;
    }
    r.find(
        "secrets.config",
        Severity::Medium,
        "passwords are in the configuration file in clear",
        format!(
            "{} hold a password or secret in {} as plain text",
            clear.join(", "),
            file.display()
        ),
        "write each as env:NAME or file:PATH (an owner-only file) so that the configuration holds none; \
         keep the file owner-only (chmod 600); give cameras an account that can only stream",
    );
    if let Some(m) = mode.filter(|m| m & 0o077 != 0) {
        r.find(
            "files.config",
            Severity::High,
            "the configuration file with passwords is readable by others",
            format!("{} is {m:o}", file.display()),
            &format!("chmod 600 {}", file.display()),
        );
    }
}

/// What a certificate check reads of a PEM certificate.
struct CertFacts {
    not_after: i64,
    not_before: i64,
    key: String,
    key_bits: usize,
    weak_key: bool,
    signature: String,
    weak_signature: bool,
}

fn cert_facts(pem: &[u8]) -> Result<CertFacts, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem).map_err(|e| format!("not PEM: {e}"))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("not an X.509 certificate: {e}"))?;
    let v = cert.validity();
    let spki = cert.public_key();
    let (key, bits, weak_key) = match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(k)) => {
            let bits = k.key_size();
            ("RSA".to_string(), bits, bits < 2048)
        }
        Ok(x509_parser::public_key::PublicKey::EC(k)) => {
            let bits = k.key_size();
            ("EC".to_string(), bits, bits < 256)
        }
        Ok(x509_parser::public_key::PublicKey::DSA(_)) => ("DSA".to_string(), 0, true),
        _ => (spki.algorithm.algorithm.to_id_string(), 0, false),
    };
    let oid = cert.signature_algorithm.algorithm.to_id_string();
    let (signature, weak_signature) = match oid.as_str() {
        "1.2.840.113549.1.1.4" => ("md5WithRSAEncryption", true),
        "1.2.840.113549.1.1.2" => ("md2WithRSAEncryption", true),
        "1.2.840.113549.1.1.5" => ("sha1WithRSAEncryption", true),
        "1.2.840.10045.4.1" => ("ecdsa-with-SHA1", true),
        "1.2.840.10040.4.3" => ("dsa-with-sha1", true),
        "1.2.840.113549.1.1.11" => ("sha256WithRSAEncryption", false),
        "1.2.840.113549.1.1.12" => ("sha384WithRSAEncryption", false),
        "1.2.840.113549.1.1.13" => ("sha512WithRSAEncryption", false),
        "1.2.840.113549.1.1.10" => ("RSASSA-PSS", false),
        "1.2.840.10045.4.3.2" => ("ecdsa-with-SHA256", false),
        "1.2.840.10045.4.3.3" => ("ecdsa-with-SHA384", false),
        "1.2.840.10045.4.3.4" => ("ecdsa-with-SHA512", false),
        "1.3.101.112" => ("Ed25519", false),
        other => (other, false),
    };
    Ok(CertFacts {
        not_after: v.not_after.timestamp(),
        not_before: v.not_before.timestamp(),
        key,
        key_bits: bits,
        weak_key,
        signature: signature.to_string(),
        weak_signature,
    })
}

fn check_certificate(config: &VigilConfig, r: &mut Report) {
    let s = &config.server;
    if s.http_loopback_only {
        return;
    }
    let (cert, key, external) = match (&s.tls_cert, &s.tls_key) {
        (Some(c), Some(k)) => (c.clone(), k.clone(), true),
        _ => (
            config.data_dir.join("tls/cert.pem"),
            config.data_dir.join("tls/key.pem"),
            false,
        ),
    };
    let origin = if external {
        "the configured"
    } else {
        "the generated"
    };
    let pem = match std::fs::read(&cert) {
        Ok(p) => p,
        Err(_) if !external => {
            r.find(
                "tls.certificate",
                Severity::Info,
                "no certificate yet",
                format!(
                    "{} is generated (ECDSA P-256) at the first start",
                    cert.display()
                ),
                "nothing to do, or set tls_cert and tls_key to a certificate clients trust",
            );
            return;
        }
        Err(e) => {
            r.find(
                "tls.certificate",
                Severity::High,
                "the configured certificate cannot be read",
                format!("{}: {e}", cert.display()),
                "fix tls_cert in [server]",
            );
            return;
        }
    };
    let facts = match cert_facts(&pem) {
        Ok(f) => f,
        Err(e) => {
            r.find(
                "tls.certificate",
                Severity::High,
                "the certificate cannot be parsed",
                format!("{}: {e}", cert.display()),
                "give tls_cert a PEM X.509 certificate (chain)",
            );
            return;
        }
    };
    let now = jiff::Timestamp::now().as_second();
    let days_left = (facts.not_after - now) / 86_400;
    let mut problems = 0;
    if facts.not_after <= now {
        problems += 1;
        r.find(
            "tls.expiry",
            Severity::High,
            "the certificate has expired",
            format!("{} expired {} days ago", cert.display(), -days_left),
            "renew it (or delete the generated pair under data_dir/tls to have a new one made)",
        );
    } else if days_left < 30 {
        problems += 1;
        r.find(
            "tls.expiry",
            Severity::Medium,
            "the certificate expires soon",
            format!("{} expires in {days_left} days", cert.display()),
            "renew it before it expires",
        );
    }
    if facts.weak_key {
        problems += 1;
        r.find(
            "tls.key",
            Severity::High,
            "the certificate's key is weak",
            format!(
                "{origin} certificate has a {}-bit {} key",
                facts.key_bits, facts.key
            ),
            "use RSA of at least 2048 bits (3072 preferred) or ECDSA P-256 or better",
        );
    }
    if facts.weak_signature {
        problems += 1;
        r.find(
            "tls.signature",
            Severity::High,
            "the certificate is signed with a broken hash",
            format!("{origin} certificate is signed with {}", facts.signature),
            "get a certificate signed with SHA-256 or better",
        );
    }
    if external {
        let years = (facts.not_after - facts.not_before) / (365 * 86_400);
        if facts.not_after - facts.not_before > 398 * 86_400 {
            r.find(
                "tls.validity",
                Severity::Low,
                "the certificate is valid for very long",
                format!(
                    "{} is valid for about {years} years (browsers accept 398 days for public CAs)",
                    cert.display()
                ),
                "use certificates of at most 398 days and renew them automatically",
            );
        }
        if let Ok(m) = std::fs::metadata(&key).map(|m| m.permissions().mode() & 0o777)
            && m & 0o077 != 0
        {
            problems += 1;
            r.find(
                "tls.key_file",
                Severity::High,
                "the TLS private key is readable by others",
                format!("{} is {m:o}", key.display()),
                &format!("chmod 600 {}", key.display()),
            );
        }
        let files = vigil_server::tls::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            generated: false,
        };
        if let Err(e) = vigil_server::tls::server_config(&files) {
            problems += 1;
            r.find(
                "tls.usable",
                Severity::High,
                "the certificate and key cannot be served",
                e.to_string(),
                "give tls_cert and tls_key a matching PEM certificate chain and private key",
            );
        }
    }
    if problems == 0 {
        r.pass(
            "tls.certificate",
            format!(
                "{origin} certificate: {} {} bits, {}, {days_left} days left",
                facts.key, facts.key_bits, facts.signature
            ),
        );
    }
}

fn check_audit(config: &VigilConfig, r: &mut Report) {
    if config.server.audit_syslog.is_none() {
        r.find(
            "audit.offsite",
            Severity::Low,
            "the audit anchor stays on this machine",
            "someone with root on this machine can rewrite the log, the key and the anchor together".into(),
            "set [server] audit_syslog = \"/dev/log\" and forward syslog to another machine",
        );
    } else {
        r.pass("audit.offsite", "audit anchors are sent to syslog");
    }
    let db = config.data_dir.join("security.db");
    if !db.exists() {
        r.find(
            "audit.key",
            Severity::Info,
            "no security database yet",
            format!(
                "{} and the audit key are created at the first start",
                db.display()
            ),
            "nothing to do",
        );
        return;
    }
    let key = config.data_dir.join("keys/audit.key");
    match vigil_server::keys::KeyFile::read(&key) {
        Ok(Some(_)) => {
            let keys = config.data_dir.join("keys");
            let open: Vec<String> = [&keys, &key]
                .into_iter()
                .filter_map(|p| {
                    let m = std::fs::metadata(p).ok()?.permissions().mode() & 0o777;
                    (m & 0o077 != 0).then(|| format!("{m:o} {}", p.display()))
                })
                .collect();
            if open.is_empty() {
                r.pass("audit.key", format!("{} exists, owner-only", key.display()));
            } else {
                r.find(
                    "audit.key",
                    Severity::High,
                    "the audit key is readable by others",
                    open.join(", "),
                    &format!(
                        "chmod 700 {} && chmod 600 {}",
                        keys.display(),
                        key.display()
                    ),
                );
            }
        }
        Ok(None) => {
            r.find(
                "audit.key",
                Severity::High,
                "the audit key is missing",
                format!(
                    "{} does not exist: the keyed part of the audit log cannot be verified, and the next \
                     start begins a new keyed section",
                    key.display()
                ),
                "restore the key file from a backup (keep it outside backups of security.db)",
            );
            return;
        }
        Err(e) => {
            r.find(
                "audit.key",
                Severity::High,
                "the audit key is unusable",
                e.to_string(),
                "restore the key file from a backup",
            );
            return;
        }
    }
    match vigil_server::audit::verify(&db) {
        Ok(report) => match report.first_bad {
            None => r.pass(
                "audit.chain",
                format!(
                    "{} entries verify against the key and the anchor",
                    report.entries
                ),
            ),
            Some((id, why)) => r.find(
                "audit.chain",
                Severity::High,
                "the audit log does not verify",
                if id > 0 {
                    format!("entry {id}: {why}")
                } else {
                    why
                },
                "find out who changed security.db; keep the log and the anchor as evidence",
            ),
        },
        Err(e) => r.find(
            "audit.chain",
            Severity::High,
            "the audit log cannot be read",
            e.to_string(),
            "check security.db",
        ),
    }
}

/// The report as text.
pub fn render(r: &Report) -> String {
    let mut out = format!("security check of {}\n\n", r.config);
    for f in &r.findings {
        out.push_str(&format!(
            "{:<7} {:<20} {}\n        {}\n        fix: {}\n",
            f.severity.label(),
            f.check,
            f.title,
            f.detail,
            f.fix
        ));
    }
    if !r.passed.is_empty() {
        out.push_str("\npassed:\n");
        for (check, what) in &r.passed {
            out.push_str(&format!("  ok  {check:<20} {what}\n"));
        }
    }
    out.push_str(&format!(
        "\n{} high, {} medium, {} low, {} info; {} passed\n",
        r.count(Severity::High),
        r.count(Severity::Medium),
        r.count(Severity::Low),
        r.count(Severity::Info),
        r.passed.len()
    ));
    out
}
