//! Fuzzes the API from its own OpenAPI description with schemathesis (PyPI; installed into the
//! project's venv by dev/install-deps, found through `VIGIL_PY`) for a bounded number of cases per
//! operation, logged in as an admin: no 5xx, every status, content type and JSON body as described.

use crate::common;

use common::{Auth, Setup, TestServer};
use std::process::Command;
use std::time::{Duration, Instant};
use vigil_server::Policy;
use vigil_server::auth::limit::LoginLimits;

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let Some(py) = std::env::var_os("VIGIL_PY") else {
        eprintln!("SKIP: VIGIL_PY is not set (run dev/install-deps); schemathesis not run");
        return;
    };
    // The console script installed next to the venv's python.
    let cli = std::path::Path::new(&py).with_file_name("schemathesis");
    let probe = Command::new(&cli).arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIP: schemathesis is not installed beside {py:?} (run dev/install-deps)");
        return;
    }
    // The fuzzer logs in with random names from one address: the login limits would only slow it.
    let policy = Policy {
        limits: LoginLimits {
            ip_free_failures: usize::MAX / 2,
            ip_block_failures: usize::MAX,
            account_free_failures: u32::MAX,
            ..LoginLimits::default()
        },
        ..Policy::default()
    };
    let (s, admin) = TestServer::with_admin(Setup {
        policy: Some(policy),
        store: true,
        plate_lists: Some(Default::default()),
        ..Setup::default()
    });
    let report = s.dir.path().join("schemathesis");
    std::fs::create_dir_all(&report).unwrap();
    let (out_path, err_path) = (report.join("stdout.txt"), report.join("stderr.txt"));
    let mut attempt = 0;
    let (status, stdout, stderr, started) = loop {
        attempt += 1;
        let started = Instant::now();
        let mut child = Command::new(&cli)
            // Its cache (.schemathesis/) goes into the temporary directory, not the source tree.
            .current_dir(s.dir.path())
            .arg("run")
            .arg(format!("{}/api/openapi.json", s.url))
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--max-examples",
                "20",
                "--phases",
                "examples,coverage,fuzzing",
                "--seed",
                "7",
                "--workers",
                "2",
                "--request-timeout",
                "20",
                "--exclude-path",
                "/api/logout",
                "--exclude-path",
                "/api/cameras/{camera}/live",
                // A WebSocket too; tested with a real client (live_ws.rs).
                "--exclude-path",
                "/api/cameras/{camera}/overlay",
                // Parts the binary plugs in (it edits vigil.toml, restarts in-process and decodes video):
                // this server has none and answers 503; they are tested against the real `vigil run`
                // (crates/vigil/tests/record_e2e/config_live.rs).
                "--exclude-path-regex",
                "^/api/config",
                "--exclude-path",
                "/api/cameras/{camera}/thumbnail.jpg",
                "--exclude-path",
                "/api/setup",
            ])
            .arg("--tls-verify")
            .arg(s.dir.path().join("tls/cert.pem"))
            .arg("-H")
            .arg(format!("Cookie: vigil_session={}", admin.cookie))
            .arg("-H")
            .arg(format!("X-CSRF-Token: {}", admin.csrf))
            .arg("--report-dir")
            .arg(&report)
            // Files, not pipes: an undrained pipe would stall the run.
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap();
        let limit = Duration::from_secs(300);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                panic!("schemathesis ran over {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
        let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        // A crash inside schemathesis or hypothesis themselves (a "Runtime Error" while every generated
        // case passed, e.g. CPython's "AST constructor recursion depth mismatch" in hypothesis' lambda
        // descriptions) says nothing of the server: it is run once more.
        if !status.success() && attempt == 1 && tool_crash_only(&stdout) {
            eprintln!("schemathesis crashed inside itself, not a finding; once more:\n{stdout}");
            continue;
        }
        break (status, stdout, stderr, started);
    };
    eprintln!(
        "schemathesis took {:.0} s\n{}",
        started.elapsed().as_secs_f64(),
        stdout
            .lines()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(status.success(), "schemathesis failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("passed"), "{stdout}");
    // The server survived it and the admin session still works.
    assert_eq!(
        s.call("GET", "/api/me", &Auth::Session(admin), None).status,
        200
    );
}

/// Whether a failed schemathesis run found nothing: its only errors are its own ("Runtime Error") and
/// every generated test case passed ("N generated, N passed").
fn tool_crash_only(stdout: &str) -> bool {
    let all_passed = stdout.lines().any(|l| {
        let l = l.trim();
        l.split_once(" generated, ")
            .and_then(|(n, rest)| Some((n, rest.strip_suffix(" passed")?)))
            .is_some_and(|(n, m)| n == m)
    });
    stdout.contains("Runtime Error") && !stdout.contains("FAILURES") && all_passed
}
