//! `vigil security check` through the binary, on a deliberately weak installation (every finding the
//! checklist knows, each with its severity, and exit 1) and on a hardened one (no high or medium
//! finding, exit 0). Certificates are made by `openssl` (skipped visibly when it is absent).

mod support;

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const PW: &str = "tulip-orbit-42-canyon\n";

fn vigil(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    support::cli(args, stdin, &[])
}

/// A self-signed certificate by openssl: `key` is e.g. `rsa:1024` or `ec`, `digest` `sha1`.
fn openssl_cert(dir: &Path, key: &str, digest: &str, days: u32) -> Option<()> {
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509", "-newkey", key]);
    if key == "ec" {
        cmd.args(["-pkeyopt", "ec_paramgen_curve:prime256v1"]);
    }
    let ok = cmd
        .arg(format!("-{digest}"))
        .args([
            "-days",
            &days.to_string(),
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .ok()?
        .status
        .success();
    if !ok {
        eprintln!("SKIP: openssl could not make a {key} {digest} certificate");
        return None;
    }
    Some(())
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A data directory `d/data` with an admin made by `vigil user add`, and an openssl certificate under
/// `d/tls` (`key`, `digest`, `days`, its key file chmod `key_mode`); `None` when openssl cannot make it.
fn installation(
    d: &Path,
    key: &str,
    digest: &str,
    days: u32,
    key_mode: u32,
) -> Option<(PathBuf, PathBuf)> {
    let data = d.join("data");
    let (code, out, err) = vigil(
        &[
            "user",
            "add",
            "chief",
            "--role",
            "admin",
            "--password-stdin",
            "--data",
            data.to_str().unwrap(),
        ],
        Some(PW),
    );
    assert_eq!(code, 0, "{out}{err}");
    let tls = d.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    openssl_cert(&tls, key, digest, days)?;
    chmod(&tls.join("key.pem"), key_mode);
    Some((data, tls))
}

fn check(config: &Path) -> (i32, Value, String) {
    let (code, json, err) = vigil(
        &[
            "security",
            "check",
            "--json",
            "--config",
            config.to_str().unwrap(),
        ],
        None,
    );
    let report: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}{err}"));
    let (_, text, _) = vigil(
        &["security", "check", "--config", config.to_str().unwrap()],
        None,
    );
    (code, report, text)
}

fn severity_of<'a>(report: &'a Value, check: &str) -> Option<&'a str> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == check)
        .map(|f| f["severity"].as_str().unwrap())
}

#[test]
fn a_weak_installation_gets_every_finding_and_exit_1() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("SKIP: openssl not found");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let data = d.join("data");
    // An installation made by hand or an older version: recordings 0644 in a 0755 folder.
    std::fs::create_dir_all(data.join("recordings")).unwrap();
    std::fs::write(data.join("recordings/1-00000001.mp4"), b"footage").unwrap();
    chmod(&data, 0o755);
    chmod(&data.join("recordings"), 0o755);
    chmod(&data.join("recordings/1-00000001.mp4"), 0o644);
    // Its audit key got lost; its external certificate is RSA 1024, SHA-1, 5 days left, its key
    // readable by all.
    let Some((_, tls)) = installation(d, "rsa:1024", "sha1", 5, 0o644) else {
        return;
    };
    std::fs::remove_file(data.join("keys/audit.key")).unwrap();
    // Its master key was copied back from a backup readable by everyone.
    let keys = vigil_keys::KeyStore::open(&data, &vigil_keys::MasterSource::Generated).unwrap();
    keys.site_key().unwrap();
    chmod(&data.join("keys/master.key"), 0o644);
    let config = d.join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n\n[server]\nlisten = \"127.0.0.1:0\"\ntls_cert = {cert:?}\ntls_key = {key:?}\n\
             session_max_hours = 240\n\n[analysis]\nenabled = false\n\n\
             [[camera]]\nname = \"gate\"\nmain = \"rtsp://10.0.0.5/main\"\nusername = \"admin\"\n\
             password = \"camera-pass-1\"\nroles = [\"record\"]\n",
            data = data.display().to_string(),
            cert = tls.join("cert.pem").display().to_string(),
            key = tls.join("key.pem").display().to_string(),
        ),
    )
    .unwrap();
    chmod(&config, 0o644);

    let (code, report, text) = check(&config);
    assert_eq!(code, 1, "high findings exit 1:\n{text}");
    for (check, severity) in [
        ("mfa.admins", "high"),
        ("files.data", "high"),
        ("files.config", "high"),
        ("secrets.config", "medium"),
        ("tls.expiry", "medium"),
        ("tls.key", "high"),
        ("tls.signature", "high"),
        ("tls.key_file", "high"),
        ("audit.key", "high"),
        ("keys.master", "high"),
        ("audit.offsite", "low"),
        ("mfa.operators", "low"),
        ("sessions.long", "low"),
    ] {
        assert_eq!(
            severity_of(&report, check),
            Some(severity),
            "{check}:\n{text}"
        );
    }
    // Every finding says how to fix it; the text names the worst first and counts them.
    for f in report["findings"].as_array().unwrap() {
        assert!(!f["fix"].as_str().unwrap().is_empty(), "{f}");
    }
    assert!(text.contains("fix: chmod -R go-rwx"), "{text}");
    assert!(
        text.contains("write each as env:NAME or file:PATH"),
        "{text}"
    );
    assert!(text.contains("1024-bit RSA key"), "{text}");
    assert!(text.contains("sha1WithRSAEncryption"), "{text}");
    assert!(text.starts_with("security check of "), "{text}");
    assert!(text.lines().nth(2).unwrap().starts_with("HIGH"), "{text}");
    assert!(!text.contains("camera-pass-1") && !report.to_string().contains("camera-pass-1"));

    // Plain HTTP is its own finding.
    let plain = d.join("plain.toml");
    std::fs::write(
        &plain,
        format!(
            "data_dir = {data:?}\n[server]\nlisten = \"127.0.0.1:8080\"\nhttp_loopback_only = true\n\
             require_mfa = [\"admin\", \"operator\"]\n",
            data = data.display().to_string()
        ),
    )
    .unwrap();
    let (_, report, text) = check(&plain);
    assert_eq!(
        severity_of(&report, "listener.plain_http"),
        Some("medium"),
        "{text}"
    );
    assert_eq!(severity_of(&report, "mfa.admins"), None, "{text}");
}

#[test]
fn a_hardened_installation_passes() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("SKIP: openssl not found");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let storage = d.join("disk1");
    std::fs::create_dir_all(&storage).unwrap();
    chmod(&storage, 0o700);
    // Made by vigil itself (owner-only from the start); an EC P-256 SHA-256 certificate of 90 days.
    let Some((data, tls)) = installation(d, "ec", "sha256", 90, 0o600) else {
        return;
    };
    let config = d.join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {data:?}\n\n[server]\nlisten = \"127.0.0.1:0\"\ntls_cert = {cert:?}\ntls_key = {key:?}\n\
             require_mfa = [\"admin\", \"operator\"]\naudit_syslog = \"/dev/log\"\n\n\
             [analysis]\nenabled = false\n\n[storage]\n[[storage.dirs]]\nname = \"disk1\"\npath = {storage:?}\n\n\
             [[camera]]\nname = \"gate\"\nmain = \"rtsp://10.0.0.5/main\"\nroles = [\"record\"]\n",
            data = data.display().to_string(),
            cert = tls.join("cert.pem").display().to_string(),
            key = tls.join("key.pem").display().to_string(),
            storage = storage.display().to_string(),
        ),
    )
    .unwrap();
    chmod(&config, 0o600);
    let (code, report, text) = check(&config);
    assert_eq!(code, 0, "{text}");
    let worst: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "high" || f["severity"] == "medium")
        .collect();
    assert!(worst.is_empty(), "{text}");
    let passed: Vec<&str> = report["passed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    for check in [
        "mfa.admins",
        "listener.plain_http",
        "files.data",
        "secrets.config",
        "tls.certificate",
        "audit.key",
        "audit.chain",
        "audit.offsite",
        "metrics.open",
        "keys.open",
    ] {
        assert!(passed.contains(&check), "{check} not passed:\n{text}");
    }
    assert!(text.contains("0 high, 0 medium"), "{text}");
}
