//! `vigil user`, `vigil audit verify` and the first start of `vigil run` (URL and one-time setup token on
//! the console, the token in no file).

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn vigil(args: &[&str], data: &Path, stdin: Option<&str>) -> (i32, String, String) {
    let data = data.display().to_string();
    let mut all = args.to_vec();
    all.extend(["--data", data.as_str()]);
    support::cli(&all, stdin, &[])
}

#[test]
fn users_are_managed_from_the_command_line_and_audit_verify_names_a_tampered_entry() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pw = "tulip-orbit-42-canyon\n";
    let (code, out, err) = vigil(
        &[
            "user",
            "add",
            "alice",
            "--role",
            "admin",
            "--password-stdin",
        ],
        d,
        Some(pw),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("created alice (admin)"), "{out}");
    let (code, _, err) = vigil(
        &["user", "add", "bob", "--password-stdin"],
        d,
        Some("bob12345\n"),
    );
    assert_ne!(code, 0);
    assert!(err.contains("password refused"), "{err}");
    let (code, _, err) = vigil(
        &["user", "add", "bob", "--role", "king", "--password-stdin"],
        d,
        Some(pw),
    );
    assert_ne!(code, 0);
    assert!(err.contains("unknown role"), "{err}");
    assert_eq!(
        vigil(&["user", "add", "bob", "--password-stdin"], d, Some(pw)).0,
        0
    );
    let (code, out, err) = vigil(
        &["user", "role", "bob", "operator", "--cameras", "gate,yard"],
        d,
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        vigil(
            &["user", "passwd", "bob", "--password-stdin"],
            d,
            Some("another-long-secret-9\n")
        )
        .0,
        0
    );
    assert_eq!(vigil(&["user", "reset-mfa", "bob"], d, None).0, 0);
    let (code, _, err) = vigil(&["user", "role", "alice", "viewer"], d, None);
    assert_ne!(code, 0, "the last admin cannot be demoted");
    assert!(err.contains("last enabled admin"), "{err}");
    let (_, list, _) = vigil(&["user", "list"], d, None);
    assert!(
        list.lines()
            .any(|l| l.contains("bob") && l.contains("operator") && l.contains("gate,yard")),
        "{list}"
    );

    let (code, out, err) = vigil(&["audit", "verify"], d, None);
    assert_eq!(code, 0, "{out}{err}");
    // The keyed-section entry opens the log, then the five changes.
    assert!(
        out.contains("audit log OK: 6 entries, HMAC-SHA256 chain intact, anchored up to entry 6"),
        "{out}"
    );

    let db = d.join("security.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_no_update; UPDATE audit SET user = 'mallory' WHERE id = 3",
    )
    .unwrap();
    drop(conn);
    let (code, out, err) = vigil(&["audit", "verify"], d, None);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("tampered at entry 3"), "{err}");
}

/// Starts `vigil run` on a configuration, reads its console until the setup token (or 30 s), stops it
/// with SIGINT and returns the URL and token lines it printed.
fn start_and_stop(config: &Path) -> (Option<String>, Option<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["run", "--config"])
        .arg(config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut url, mut token) = (None, None);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(u) = line.strip_prefix("vigil: web UI and API at ") {
            url = Some(u.to_string());
        }
        if let Some(t) = line.trim().strip_prefix("setup token: ") {
            token = Some(t.to_string());
        }
        if line.contains("stop with Ctrl-C") && url.is_some() || token.is_some() {
            break;
        }
    }
    // The announcement follows the "running" line; give it a moment when no token comes.
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status();
    for line in lines.map_while(Result::ok) {
        if let Some(u) = line.strip_prefix("vigil: web UI and API at ") {
            url = Some(u.to_string());
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    (url, token)
}

#[test]
fn first_start_prints_the_url_and_a_setup_token_kept_in_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vigil.toml");
    let text = format!(
        "data_dir = {:?}\n[server]\nlisten = \"127.0.0.1:0\"\n",
        dir.path().join("data")
    );
    std::fs::write(&config, &text).unwrap();
    let (url, token) = start_and_stop(&config);
    let url = url.expect("the URL is printed");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let token = token.expect("the setup token is printed");
    assert_eq!(token.len(), 32);
    let mut files = 0;
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files += 1;
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                    "the setup token is in {}",
                    path.display()
                );
            }
        }
    }
    assert!(files >= 3, "security.db, cert and key were written");

    // A start with the same file records nothing new; an edited file is a config.change.
    let (_, again) = start_and_stop(&config);
    assert!(again.is_some(), "still no user: a new token");
    std::fs::write(&config, format!("{text}# edited\n")).unwrap();
    start_and_stop(&config);
    let db = dir.path().join("data/security.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let actions: Vec<String> = conn
        .prepare("SELECT action FROM audit WHERE action LIKE 'config.%' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(actions, vec!["config.loaded", "config.change"]);
    let starts: i64 = conn
        .query_row(
            "SELECT count(*) FROM audit WHERE action = 'server.start'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(starts, 3);
    let stops: i64 = conn
        .query_row(
            "SELECT count(*) FROM audit WHERE action = 'server.stop'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stops, 3, "every clean stop is recorded");
    let (code, out, err) = vigil(&["audit", "verify"], &dir.path().join("data"), None);
    assert_eq!(code, 0, "{out}{err}");
}

/// `vigil run` on a configuration, running until dropped (SIGINT, then its exit status is checked).
struct Running {
    child: std::process::Child,
    url: String,
}

impl Running {
    fn start(config: &Path) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["run", "--config"])
            .arg(config)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(u) = line.strip_prefix("vigil: web UI and API at ") {
                        break u.to_string();
                    }
                }
                _ => panic!("vigil run printed no URL"),
            }
        };
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Running { child, url }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().unwrap();
        if !std::thread::panicking() {
            assert!(status.success(), "{status:?}");
        }
    }
}

#[test]
fn user_unlock_lets_a_slowed_down_admin_in_while_vigil_run_is_running() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("vigil.toml");
    std::fs::write(
        &config,
        format!("data_dir = {data:?}\n[server]\nlisten = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    let pw = "tulip-orbit-42-canyon";
    let (code, out, err) = vigil(
        &["user", "add", "root", "--role", "admin", "--password-stdin"],
        &data,
        Some(&format!("{pw}\n")),
    );
    assert_eq!(code, 0, "{out}{err}");
    let run = Running::start(&config);
    let pem = std::fs::read(data.join("tls/cert.pem")).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[
                    ureq::tls::Certificate::from_pem(&pem).unwrap(),
                ]))
                .build(),
        )
        .http_status_as_error(false)
        .build()
        .into();
    let login = |password: &str| {
        agent
            .post(format!("{}/api/login", run.url))
            .header("Content-Type", "application/json")
            .send(format!(
                "{{\"username\": \"root\", \"password\": \"{password}\"}}"
            ))
            .unwrap()
    };
    for i in 0..5 {
        assert_eq!(login(&format!("wrong-password-{i}")).status(), 401);
    }
    let r = login(pw);
    assert_eq!(r.status(), 429, "slowed down after 5 failures");
    assert!(r.headers().contains_key("retry-after"));
    // On the box, while the server runs.
    let (code, out, err) = vigil(&["user", "unlock", "root"], &data, None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("root: 5 recent failed logins forgotten"),
        "{out}"
    );
    assert_eq!(login(pw).status(), 200, "in at once");
    let (code, out, _) = vigil(&["user", "unlock", "root"], &data, None);
    assert_eq!(code, 0);
    assert!(out.contains("no recent failed logins"), "{out}");
    let (code, _, err) = vigil(&["user", "unlock", "nobody"], &data, None);
    assert_ne!(code, 0);
    assert!(err.contains("no user"), "{err}");
    drop(run);
    let conn = rusqlite::Connection::open(data.join("security.db")).unwrap();
    let unlocks: i64 = conn
        .query_row(
            "SELECT count(*) FROM audit WHERE action = 'user.unlock' AND user LIKE 'cli:%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unlocks, 2);
}
