//! `vigil config check`: exit status, the error report (file:line:col, field, source line) and the summary.

use std::process::Command;

const GOOD: &str = r#"[[storage.dirs]]
name = "disk1"
path = "/var/lib/vigil/recordings"
max_bytes = "1 TB"

[[camera]]
name = "gate"
main = "rtsp://10.0.0.5/main"
sub = "rtsp://10.0.0.5/sub"
username = "viewer"
password = "do-not-print-me"
"#;

fn check(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["config", "check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

#[test]
fn valid_config_prints_a_summary_without_secrets() {
    let (code, stdout, stderr) = check(GOOD);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("vigil.toml: OK"), "{stdout}");
    assert!(
        stdout.contains("cameras: 1 (1 enabled, 1 recording, 1 analysed)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("gate: rtsp://10.0.0.5/main [record, analyze] (credentials set)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("disk1: /var/lib/vigil/recordings (1.00 TB)"),
        "{stdout}"
    );
    assert!(!stdout.contains("do-not-print-me") && !stderr.contains("do-not-print-me"));
}

#[test]
fn broken_config_exits_non_zero_naming_line_field_and_source() {
    let text = GOOD.replace(
        "sub = \"rtsp://10.0.0.5/sub\"",
        "sub = \"rtsps://10.0.0.5/sub\"",
    );
    let (code, stdout, stderr) = check(&text);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("vigil.toml:9:7: `camera[0].sub`: URL scheme is \"rtsps\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("9 | sub = \"rtsps://10.0.0.5/sub\""),
        "{stderr}"
    );
    assert!(stderr.contains("1 problem"), "{stderr}");
    assert!(!stderr.contains("do-not-print-me"));
}

#[test]
fn syntax_error_exits_non_zero() {
    let text = GOOD.replace("max_bytes = \"1 TB\"", "max_bytes = ");
    let (code, _, stderr) = check(&text);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("vigil.toml:4:"), "{stderr}");
    assert!(stderr.contains("`storage.dirs.max_bytes`"), "{stderr}");
}

#[test]
fn missing_file_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["config", "check", "--config", "/nonexistent/vigil.toml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("/nonexistent/vigil.toml: cannot read: No such file"),
        "{stderr}"
    );
}
