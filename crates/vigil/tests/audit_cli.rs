//! The audit log through the binary (issue 9, findings 11 and 13): a log written before audit keys keeps
//! verifying and is keyed from the next start on; the newest entries deleted from the database are
//! named by `vigil audit verify`; `vigil user` records who ran it by the real user id (not `$USER`)
//! and every grant it changed.

mod support;

use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

fn vigil(
    args: &[&str],
    data: &Path,
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let data = data.display().to_string();
    let mut all = args.to_vec();
    all.extend(["--data", data.as_str()]);
    support::cli(&all, stdin, env)
}

/// A `security.db` as the versions before audit keys wrote it: the audit table with its triggers and
/// `n` entries in a plain SHA-256 chain.
fn legacy_log(data: &Path, n: i64) {
    std::fs::create_dir_all(data).unwrap();
    let conn = rusqlite::Connection::open(data.join("security.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE audit (id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, user TEXT NOT NULL,
             ip TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL,
             hash TEXT NOT NULL);
         CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
         BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
         CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
         BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    )
    .unwrap();
    let mut prev = [0u8; 32];
    for id in 1..=n {
        let e = (
            id,
            1_700_000_000_000i64 + id,
            "-",
            "local",
            "server.start",
            "https://x",
            "",
        );
        let mut h = Sha256::new();
        h.update(prev);
        h.update(serde_json::to_vec(&e).unwrap());
        prev = h.finalize().into();
        conn.execute(
            "INSERT INTO audit VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            rusqlite::params![e.0, e.1, e.2, e.3, e.4, e.5, e.6, hex::encode(prev)],
        )
        .unwrap();
    }
}

#[test]
fn a_log_from_before_audit_keys_keeps_verifying_and_is_keyed_from_then_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    legacy_log(d, 4);
    let (code, out, err) = vigil(&["audit", "verify"], d, None, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("4 entries, SHA-256 chain intact (written before audit keys), no anchor"),
        "{out}"
    );

    // The next start (any command opening the database) creates the key and keys the log from there.
    let (code, out, err) = vigil(&["user", "list"], d, None, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(d.join("keys/audit.key").is_file());
    let (code, out, err) = vigil(&["audit", "verify"], d, None, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("5 entries, chain intact (SHA-256 up to entry 4, HMAC-SHA256 from entry 5), anchored up to entry 5"),
        "{out}"
    );
    let conn = rusqlite::Connection::open(d.join("security.db")).unwrap();
    let (action, detail): (String, String) = conn
        .query_row("SELECT action, detail FROM audit WHERE id = 5", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(action, "audit.keyed");
    assert!(
        detail.contains("entries 1 to 4 are SHA-256 chained"),
        "{detail}"
    );

    // An edit of the old part is still found.
    conn.execute_batch(
        "DROP TRIGGER audit_no_update; UPDATE audit SET user = 'mallory' WHERE id = 2",
    )
    .unwrap();
    let (code, _, err) = vigil(&["audit", "verify"], d, None, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("tampered at entry 2"), "{err}");
}

#[test]
fn deleting_the_newest_entries_is_named_by_audit_verify() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pw = "tulip-orbit-42-canyon\n";
    for name in ["ann", "ben", "cid"] {
        let (code, out, err) = vigil(
            &["user", "add", name, "--role", "admin", "--password-stdin"],
            d,
            Some(pw),
            &[],
        );
        assert_eq!(code, 0, "{out}{err}");
    }
    let (code, out, _) = vigil(&["audit", "verify"], d, None, &[]);
    assert_eq!(code, 0);
    assert!(out.contains("4 entries"), "{out}");
    // Someone removes the last change (cid's creation) behind the triggers' back.
    let conn = rusqlite::Connection::open(d.join("security.db")).unwrap();
    conn.execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id = 4")
        .unwrap();
    let (code, _, err) = vigil(&["audit", "verify"], d, None, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("tampered at entry 4"), "{err}");
    assert!(err.contains("the newest entries were deleted"), "{err}");
}

#[test]
fn the_cli_records_the_real_account_and_every_grant() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pw = "tulip-orbit-42-canyon\n";
    let me = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let me = format!("cli:{}", me.trim());
    let forged = [("USER", "mallory"), ("LOGNAME", "mallory")];
    let (code, out, err) = vigil(
        &[
            "user",
            "add",
            "vic",
            "--role",
            "viewer",
            "--cameras",
            "gate,yard",
            "--playback",
            "--password-stdin",
        ],
        d,
        Some(pw),
        &forged,
    );
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = vigil(
        &["user", "role", "vic", "viewer", "--export", "true"],
        d,
        None,
        &forged,
    );
    assert_eq!(code, 0, "{out}{err}");
    let conn = rusqlite::Connection::open(d.join("security.db")).unwrap();
    let rows: Vec<(String, String, String)> = conn
        .prepare("SELECT user, action, detail FROM audit WHERE action LIKE 'user.%' ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (user, _, _) in &rows {
        assert_eq!(user, &me, "{rows:?}");
    }
    assert_eq!(
        rows[0].2,
        "role viewer, cameras gate,yard, playback true, export false"
    );
    assert!(
        rows[1]
            .2
            .contains("now role viewer, cameras gate,yard, playback true, export true"),
        "{}",
        rows[1].2
    );
}
