//! Findings 8 and 9 for exports: the job list survives a restart (it lived in memory, so the files of
//! earlier jobs stayed in `data/exports` for good), interrupted jobs and stray files are reaped at
//! start, finished exports expire by age, and what is kept is owner-only.

use crate::common::{self, Auth, CAM_A, Setup, TestServer};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};
use vigil_server::Policy;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn export(s: &TestServer, a: &Auth) -> String {
    let r = s.call(
        "POST",
        "/api/exports",
        a,
        Some(json!({"camera": CAM_A, "start": common::T0_MS, "end": common::T0_MS + 4000})),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let started = Instant::now();
    loop {
        let j = s.call("GET", &format!("/api/exports/{id}"), a, None).json();
        if j["state"] != "running" {
            assert_eq!(j["state"], "done", "{j}");
            return id;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{j}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn job(s: &TestServer, a: &Auth, id: &str) -> (u16, Value) {
    let r = s.call("GET", &format!("/api/exports/{id}"), a, None);
    (r.status, r.json())
}

#[test]
fn exports_survive_restarts_expire_by_age_and_leave_no_orphans() {
    let (mut s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    if !s.recorded {
        return;
    }
    let a = Auth::Session(admin);
    let kept = export(&s, &a);
    let old = export(&s, &a);
    let dir = s.dir.path().join("exports");
    assert_eq!(mode(&dir), 0o700, "the exports folder is owner-only");
    assert_eq!(
        mode(&dir.join(format!("{kept}.mp4"))),
        0o600,
        "so is each export"
    );
    let body = s
        .call("GET", &format!("/api/exports/{kept}/file"), &a, None)
        .body;

    // What a crash leaves behind: a job that was being written, its partial file, and files of jobs
    // nobody knows about (e.g. from before jobs were kept in the database).
    let interrupted = "0123456789abcdef0123456789abcdef";
    let stray = "fedcba9876543210fedcba9876543210";
    let db = rusqlite::Connection::open(s.security_db()).unwrap();
    db.execute(
        "INSERT INTO exports (id, user_id, camera, start_ms, end_ms, state, bytes, created_ms)
         SELECT ?1, user_id, camera, start_ms, end_ms, 'running', 0, created_ms FROM exports WHERE id = ?2",
        [interrupted, &kept],
    )
    .unwrap();
    std::fs::write(dir.join(format!("{interrupted}.mp4.part")), b"half an mp4").unwrap();
    std::fs::write(dir.join(format!("{stray}.mp4")), b"someone's footage").unwrap();
    std::fs::write(dir.join(format!("{stray}.mp4.part")), b"more footage").unwrap();
    // And an export finished two days ago: past the default 24 hours.
    let two_days_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 48 * 3_600_000;
    db.execute(
        "UPDATE exports SET finished_ms = ?2, created_ms = ?2 WHERE id = ?1",
        rusqlite::params![old, two_days_ago],
    )
    .unwrap();
    drop(db);

    s.restart(Policy::default());
    // The finished job is still known and its file still served, byte for byte.
    let (status, j) = job(&s, &a, &kept);
    assert_eq!((status, j["state"].as_str()), (200, Some("done")), "{j}");
    let again = s.call("GET", &format!("/api/exports/{kept}/file"), &a, None);
    assert_eq!(again.status, 200);
    assert_eq!(again.body, body);
    // The interrupted one says so, and its partial file is gone.
    let (status, j) = job(&s, &a, interrupted);
    assert_eq!((status, j["state"].as_str()), (200, Some("failed")), "{j}");
    assert!(j["error"].as_str().unwrap().contains("interrupted"), "{j}");
    // The old one expired: its file is deleted.
    let (status, j) = job(&s, &a, &old);
    assert_eq!((status, j["state"].as_str()), (200, Some("expired")), "{j}");
    let r = s.call("GET", &format!("/api/exports/{old}/file"), &a, None);
    assert_eq!(r.status, 410, "{}", r.text());
    // Nothing else is left in the folder.
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec![format!("{kept}.mp4")]);
}
