//! Finding 11: the audit chain was an unkeyed SHA-256 chain, so whoever could write `security.db` could
//! delete entries, renumber the rest, recompute the chain, and `verify` said "intact". Now it is an
//! HMAC-SHA256 chain under a key outside the database (`keys/audit.key`, owner-only) and its head is
//! anchored outside the database (`audit-anchor.json`, optionally sent to syslog): a rewrite, a
//! truncation of the newest entries, an edited or deleted anchor are all named.

use crate::common::{Setup, TestServer};
use rusqlite::Connection;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;
use vigil_server::Policy;

/// Who does things worth auditing: three users created by the admin.
fn busy_server() -> TestServer {
    let (s, admin) = TestServer::with_admin(Setup::default());
    for name in ["u1", "u2", "u3", "u4"] {
        s.user(&admin, name, "viewer", json!({}));
    }
    s.ctx.security.flush_audit_anchor();
    s
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn verify(s: &TestServer) -> vigil_server::audit::VerifyReport {
    vigil_server::audit::verify(&s.security_db()).unwrap()
}

/// What the pen tester did: triggers dropped, entries `gone` deleted, the rest renumbered, and the
/// chain recomputed as documented before (plain SHA-256).
fn delete_renumber_recompute(db: &Path, gone: &[i64]) {
    let conn = Connection::open(db).unwrap();
    conn.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
        .unwrap();
    for id in gone {
        conn.execute("DELETE FROM audit WHERE id = ?1", [id])
            .unwrap();
    }
    let rows: Vec<(i64, i64, String, String, String, String, String)> = conn
        .prepare("SELECT id, at_ms, user, ip, action, target, detail FROM audit ORDER BY id")
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    conn.execute("DELETE FROM audit", []).unwrap();
    let mut prev = [0u8; 32];
    for (n, (_, at, user, ip, action, target, detail)) in rows.into_iter().enumerate() {
        let id = n as i64 + 1;
        let canonical =
            serde_json::to_vec(&(id, at, &user, &ip, &action, &target, &detail)).unwrap();
        let mut h = Sha256::new();
        h.update(prev);
        h.update(&canonical);
        prev = h.finalize().into();
        conn.execute(
            "INSERT INTO audit (id, at_ms, user, ip, action, target, detail, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            rusqlite::params![id, at, user, ip, action, target, detail, hex::encode(prev)],
        )
        .unwrap();
    }
}

#[test]
fn a_recomputed_chain_is_detected_without_the_key() {
    let s = busy_server();
    let db = s.security_db();
    let clean = verify(&s);
    assert_eq!(clean.first_bad, None, "{clean:?}");
    assert_eq!(
        clean.keyed_from,
        Some(1),
        "a new log is keyed from its first entry"
    );
    assert!(clean.anchored.is_some());
    // The key lives outside the database, owner-only; so does the anchor.
    let keys = s.dir.path().join("keys");
    assert_eq!(mode(&keys), 0o700);
    assert_eq!(mode(&keys.join("audit.key")), 0o600);
    assert_eq!(mode(&s.dir.path().join("audit-anchor.json")), 0o600);
    let key_text = std::fs::read_to_string(keys.join("audit.key")).unwrap();
    let key_hex = serde_json::from_str::<Value>(&key_text).unwrap()["material"]["plain"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !std::fs::read(&db)
            .unwrap()
            .windows(64)
            .any(|w| w == key_hex.as_bytes()),
        "the key is not in security.db"
    );

    delete_renumber_recompute(&db, &[3, 4, 5]);
    let report = verify(&s);
    let (id, why) = report.first_bad.expect("a rewritten log does not verify");
    assert_eq!(id, 1, "{why}");
    assert!(why.contains("edited"), "{why}");
}

#[test]
fn deleting_the_newest_entries_or_touching_the_anchor_is_detected() {
    let s = busy_server();
    let db = s.security_db();
    let n = verify(&s).entries as i64;
    let conn = Connection::open(&db).unwrap();
    conn.execute_batch("DROP TRIGGER audit_no_delete").unwrap();
    conn.execute("DELETE FROM audit WHERE id >= ?1", [n - 1])
        .unwrap();
    let (id, why) = verify(&s).first_bad.expect("truncation detected");
    assert_eq!(id, n - 1, "{why}");
    assert!(why.contains("newest entries were deleted"), "{why}");

    // The anchor itself: edited to match the shorter log, or deleted.
    let anchor = s.dir.path().join("audit-anchor.json");
    let original = std::fs::read_to_string(&anchor).unwrap();
    let mut a: Value = serde_json::from_str(&original).unwrap();
    a["last_id"] = json!(n - 2);
    a["entries"] = json!(n - 2);
    std::fs::write(&anchor, a.to_string()).unwrap();
    let (_, why) = verify(&s).first_bad.expect("an edited anchor is detected");
    assert!(why.contains("MAC does not match"), "{why}");
    std::fs::remove_file(&anchor).unwrap();
    let (_, why) = verify(&s).first_bad.expect("a deleted anchor is detected");
    assert!(why.contains("anchor") && why.contains("missing"), "{why}");
}

#[test]
fn the_anchor_follows_new_entries_and_goes_to_syslog() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("log.sock");
    let syslog = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
    syslog
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (s, admin) = TestServer::with_admin(Setup {
        policy: Some(Policy {
            audit_syslog: Some(socket.clone()),
            ..Policy::default()
        }),
        ..Setup::default()
    });
    // Within a second or two of the last entry, the server has anchored it (no flush by hand).
    s.user(&admin, "late", "viewer", json!({}));
    let newest = s.ctx.security.audit_entries(None, 1).unwrap()[0].id;
    let anchor_path = s.dir.path().join("audit-anchor.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let anchor = loop {
        let a: Value =
            serde_json::from_str(&std::fs::read_to_string(&anchor_path).unwrap()).unwrap();
        if a["last_id"] == json!(newest) {
            break a;
        }
        assert!(std::time::Instant::now() < deadline, "anchor stuck at {a}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // Every anchor written also went to the syslog socket, in syslog's format.
    let mut last = None;
    let mut buf = vec![0u8; 4096];
    while let Ok(n) = syslog.recv(&mut buf) {
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(msg.starts_with("<86>vigil["), "{msg}");
        let json = msg
            .split_once("audit-anchor ")
            .unwrap()
            .1
            .trim()
            .to_string();
        let sent: Value = serde_json::from_str(&json).unwrap();
        let done = sent == anchor;
        last = Some(sent);
        if done {
            break;
        }
    }
    assert_eq!(last.as_ref(), Some(&anchor), "syslog got the newest anchor");
}
