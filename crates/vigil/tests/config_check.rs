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

/// Runs `vigil <command> --config FILE` on a file holding `text`: exit code, stdout, stderr.
fn run_on(text: &str, command: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigil.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(command)
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

fn check(text: &str) -> (i32, String, String) {
    run_on(text, &["config", "check"])
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

/// Runs `vigil config check` and `vigil run` on `text`; both must fail, and print no secret.
fn both_fail_without(text: &str, secrets: &[&str]) -> String {
    let mut reports = String::new();
    for cmd in [&["config", "check"][..], &["run"][..]] {
        let (code, stdout, stderr) = run_on(text, cmd);
        let all = format!("{stdout}{stderr}");
        assert_eq!(code, 1, "vigil {cmd:?}: {all}");
        for s in secrets {
            assert!(!all.contains(s), "vigil {cmd:?} printed {s:?}:\n{all}");
        }
        reports.push_str(&all);
    }
    reports
}

#[test]
fn camera_passwords_are_masked_in_every_quoted_line() {
    // The pen test's case: credentials in the URL (an error on that line), the password nearby.
    let text = GOOD.replace(
        "main = \"rtsp://10.0.0.5/main\"",
        "main = \"rtsp://admin:secret123@10.0.0.5/main\"",
    );
    let out = both_fail_without(&text, &["secret123", "admin:", "do-not-print-me"]);
    assert!(
        out.contains("8 | main = \"rtsp://***@10.0.0.5/main\""),
        "{out}"
    );
    // The caret still marks the value, as masked.
    let caret = format!(
        "  |        {}\n",
        "^".repeat("\"rtsp://***@10.0.0.5/main\"".len())
    );
    assert!(out.contains(&caret), "{out}");

    // An error on the password line itself: a wrong type, a broken string.
    let text = GOOD.replace("password = \"do-not-print-me\"", "password = 987654321");
    let out = both_fail_without(&text, &["987654321"]);
    assert!(out.contains("11 | password = ***"), "{out}");
    let text = GOOD.replace(
        "password = \"do-not-print-me\"",
        "password = \"do-not-print-me",
    );
    let out = both_fail_without(&text, &["do-not-print-me"]);
    assert!(out.contains("password = ***"), "{out}");

    // Other secrets of the file (MQTT, webhook) and inline tables get the same.
    let text = format!(
        "{GOOD}\n[mqtt]\nhost = \"127.0.0.1\"\nport = \"not-a-port\"\npassword = \"mqtt-secret-9\"\n"
    );
    both_fail_without(&text, &["mqtt-secret-9", "do-not-print-me"]);
    let text = format!("{GOOD}\n[mqtt]\nhost = \"127.0.0.1\" password = \"mqtt-secret-9\"\n");
    both_fail_without(&text, &["mqtt-secret-9"]);
}

#[test]
fn the_demo_keeps_credentials_of_a_camera_url_out_of_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    // Nothing listens on port 9: the camera stays offline, the demo runs its two seconds anyway.
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "demo",
            "rtsp://cam-user:hunter2-pass@127.0.0.1:9/stream",
            "--seconds",
            "2",
        ])
        .arg("--data")
        .arg(&data)
        .env("VIGIL_LOG", "info")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("hunter2-pass"), "{all}");
    assert!(all.contains("rtsp://127.0.0.1:9/stream"), "{all}");
    // The credentials went to the camera's own fields.
    let config = std::fs::read_to_string(data.join("vigil.toml")).unwrap();
    assert!(
        config.contains("main = \"rtsp://127.0.0.1:9/stream\""),
        "{config}"
    );
    assert!(config.contains("username = \"cam-user\""), "{config}");
    assert!(config.contains("password = \"hunter2-pass\""), "{config}");
}
