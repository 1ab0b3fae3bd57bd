//! Encryption at rest (crypt.rs, `[storage] encrypt`): no frame bytes on disk in the clear, exports and
//! playback byte-identical to an unencrypted store's, and master key rotations (while recording, and
//! one killed half-way) that lose nothing.

mod common;

use common::*;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use vigil_core::Time90k;
use vigil_keys::{KeyError, KeyStore, MasterSource};
use vigil_store::{Reader, Store, StoreConfig};

const FOREVER: Time90k = Time90k(i64::MAX / 4);

fn encrypted_config(root: &Path) -> StoreConfig {
    StoreConfig {
        encrypt: true,
        ..config(root)
    }
}

fn keys(root: &Path) -> Arc<KeyStore> {
    Arc::new(KeyStore::open(root, &MasterSource::Generated).unwrap())
}

/// Records `frames` frames of the car clip into a store at `root` starting at `start_micros`.
fn record(root: &Path, encrypt: bool, frames: usize, start_micros: i64) {
    let cfg = if encrypt {
        encrypted_config(root)
    } else {
        config(root)
    };
    let (store, _) = Store::open(cfg).unwrap();
    store.set_keys(keys(root));
    let rec = store.recorder("gate", "main").unwrap();
    Camera::new(car().unwrap(), start_micros).feed(&rec, frames);
    assert_eq!(rec.close().frames_written as usize, frames);
    store.close();
}

fn reader(root: &Path) -> Reader {
    Reader::open(&root.join("db/index.db"))
        .unwrap()
        .with_keys(keys(root))
}

/// The whole recording of "gate" as a standard and as a fragmented MP4.
fn exports(root: &Path) -> (Vec<u8>, Vec<u8>) {
    let r = reader(root);
    let mut plain = Vec::new();
    r.export("gate", "main", Time90k(0), FOREVER)
        .unwrap()
        .file
        .write_all(&mut plain, &mut |_| {})
        .unwrap();
    let mut frag = Vec::new();
    r.export_fragmented("gate", "main", Time90k(0), FOREVER)
        .unwrap()
        .file
        .write_all(&mut frag, &mut |_| {})
        .unwrap();
    (plain, frag)
}

/// 32-byte windows of the clip's coded frames at every 16th byte: any verbatim run of 47 bytes or more
/// of a frame contains one.
fn frame_windows() -> HashSet<[u8; 32]> {
    let mut set = HashSet::new();
    for f in &car().unwrap().frames {
        let d = &f.data[..];
        let mut i = 0;
        while i + 32 <= d.len() {
            set.insert(<[u8; 32]>::try_from(&d[i..i + 32]).unwrap());
            i += 16;
        }
    }
    set
}

/// Files under `dir` holding any of `windows` verbatim.
fn files_with_frames(dir: &Path, windows: &HashSet<[u8; 32]>) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if !p.is_file() {
            continue;
        }
        let b = std::fs::read(&p).unwrap();
        if b.windows(32).any(|w| windows.contains(w)) {
            found.push(p.display().to_string());
        }
    }
    found
}

#[test]
fn no_frame_bytes_on_disk_and_exports_identical_to_an_unencrypted_store() {
    if car().is_none() {
        return;
    }
    let enc = tempfile::tempdir().unwrap();
    let plain = tempfile::tempdir().unwrap();
    record(enc.path(), true, 377 * 2, T0_MICROS);
    record(plain.path(), false, 377 * 2, T0_MICROS);
    let windows = frame_windows();
    // The check finds the frames where they are in the clear.
    assert!(!files_with_frames(&plain.path().join("dir1"), &windows).is_empty());
    let leaked = files_with_frames(&enc.path().join("dir1"), &windows);
    assert!(leaked.is_empty(), "frame bytes in the clear in {leaked:?}");
    let keys_in_db: i64 = rusqlite::Connection::open(enc.path().join("db/index.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM segment_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(keys_in_db, 13, "one sealed key per segment");
    // Exports and playback (fragmented) are byte for byte those of the same recording unencrypted.
    let (a, b) = (exports(enc.path()), exports(plain.path()));
    assert!(a.0 == b.0, "the encrypted store's export differs");
    assert!(
        a.1 == b.1,
        "the encrypted store's fragmented playback differs"
    );
    let out = enc.path().join("export.mp4");
    std::fs::write(&out, &a.0).unwrap();
    assert_eq!(frame_md5s(&out).len(), 377 * 2);
    // Without the key store an encrypted segment is refused, not served as noise.
    let e = Reader::open(&enc.path().join("db/index.db"))
        .unwrap()
        .export("gate", "main", Time90k(0), FOREVER)
        .unwrap_err();
    assert!(e.to_string().contains("encrypted"), "{e}");
}

#[test]
fn rotations_while_recording_and_killed_half_way_lose_nothing() {
    if car().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let db = root.join("db/index.db");
    record(root, true, 377, T0_MICROS);
    let before = exports(root);
    let before_end = reader(root)
        .export("gate", "main", Time90k(0), FOREVER)
        .unwrap()
        .end;

    // A rotation while a recorder records: segments sealed before and after it all open.
    {
        let (store, _) = Store::open(encrypted_config(root)).unwrap();
        store.set_keys(keys(root));
        let rec = store.recorder("gate", "main").unwrap();
        let mut cam = Camera::new(car().unwrap(), T0_MICROS + 60_000_000);
        cam.feed(&rec, 200);
        let report = KeyStore::rotate_with(root, &MasterSource::Generated, None, &mut |r| {
            vigil_store::rewrap_segment_keys(&db, r).map_err(|e| KeyError::Invalid(e.to_string()))
        })
        .unwrap();
        assert!(report.rows >= 7, "{report:?}");
        cam.feed(&rec, 177);
        rec.close();
        store.close();
    }
    let masters: Vec<String> = master_ids(&db);
    assert_eq!(
        masters.len(),
        1,
        "every segment key under the new master: {masters:?}"
    );
    let after = exports(root);
    assert!(after.0.len() > before.0.len());
    let whole = root.join("whole.mp4");
    std::fs::write(&whole, &after.0).unwrap();
    assert_eq!(frame_md5s(&whole).len(), 377 * 2);
    // The footage recorded before the rotation exports byte for byte as it did before it.
    let mut first = Vec::new();
    reader(root)
        .export("gate", "main", Time90k(0), before_end)
        .unwrap()
        .file
        .write_all(&mut first, &mut |_| {})
        .unwrap();
    assert!(
        first == before.0,
        "the footage from before the rotation exports differently"
    );

    // A rotation killed after rewrapping three segment keys: everything still opens (both master keys
    // are read until it finishes), and running it again finishes it.
    let killed = KeyStore::rotate_with(root, &MasterSource::Generated, None, &mut |r| {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let rows: Vec<(i64, i64, Vec<u8>, Vec<u8>)> = conn
            .prepare("SELECT stream_id, seq, nonce, sealed FROM segment_keys LIMIT 3")
            .unwrap()
            .query_map([], |x| Ok((x.get(0)?, x.get(1)?, x.get(2)?, x.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (stream, seq, nonce, sealed) in rows {
            let w = vigil_keys::WrappedKey {
                by: r.old_id().to_string(),
                nonce: nonce.try_into().unwrap(),
                sealed,
            };
            let aad = format!("vigil segment key v1|{stream}|{seq}");
            let n = r.rewrap(&w, aad.as_bytes())?.unwrap();
            conn.execute(
                "UPDATE segment_keys SET master_id = ?1, nonce = ?2, sealed = ?3 WHERE stream_id = ?4 AND seq = ?5",
                rusqlite::params![n.by, &n.nonce[..], n.sealed, stream, seq],
            )
            .unwrap();
        }
        Err(KeyError::Invalid("killed".into()))
    });
    assert!(killed.is_err());
    assert!(root.join("keys/master.next.key").exists());
    assert_eq!(master_ids(&db).len(), 2, "half rewrapped");
    assert!(
        exports(root) == after,
        "exports differ half-way through a rotation"
    );
    let finished = KeyStore::rotate_with(root, &MasterSource::Generated, None, &mut |r| {
        vigil_store::rewrap_segment_keys(&db, r).map_err(|e| KeyError::Invalid(e.to_string()))
    })
    .unwrap();
    assert!(finished.resumed);
    assert_eq!(finished.rows as i64, segment_count(&db) - 3);
    assert_eq!(master_ids(&db), vec![finished.new_master.clone()]);
    assert!(!root.join("keys/master.next.key").exists());
    assert!(exports(root) == after, "exports differ after the rotation");
}

fn master_ids(db: &Path) -> Vec<String> {
    rusqlite::Connection::open(db)
        .unwrap()
        .prepare("SELECT DISTINCT master_id FROM segment_keys ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn segment_count(db: &Path) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM segments", [], |r| r.get(0))
        .unwrap()
}

/// Fills the filesystem of `dir` with 4 KiB files until it is full; returns them (delete one to free a
/// page).
fn fill(dir: &Path) -> Vec<std::path::PathBuf> {
    use std::io::Write;
    let mut files = Vec::new();
    for i in 0.. {
        let p = dir.join(format!("filler-{i}"));
        let ok = std::fs::File::create(&p)
            .and_then(|mut f| f.write_all(&[0u8; 4096]).and_then(|()| f.sync_all()));
        if ok.is_err() {
            let _ = std::fs::remove_file(&p);
            break;
        }
        files.push(p);
    }
    files
}

#[test]
fn a_full_disk_during_rotation_loses_nothing() {
    if car().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let db = root.join("db/index.db");
    let Some(_fs) = Tmpfs::mount(&root.join("keys"), "1m") else {
        return;
    };
    record(root, true, 377, T0_MICROS);
    let site = *keys(root).site_key().unwrap().public();
    let before = exports(root);
    let mut fillers = fill(&root.join("keys"));
    assert!(!fillers.is_empty());
    let rotate = || {
        KeyStore::rotate_with(root, &MasterSource::Generated, None, &mut |r| {
            vigil_store::rewrap_segment_keys(&db, r).map_err(|e| KeyError::Invalid(e.to_string()))
        })
    };
    // Full: the new master key cannot even be written.
    let e = rotate().unwrap_err();
    assert!(e.to_string().contains("No space left"), "{e}");
    assert!(
        exports(root) == before,
        "a failed rotation changed what exports"
    );
    // Room for the new master key only: it fails while rewrapping a key file (after the segment keys).
    std::fs::remove_file(fillers.pop().unwrap()).unwrap();
    let e = rotate().unwrap_err();
    assert!(e.to_string().contains("No space left"), "{e}");
    assert!(root.join("keys/master.next.key").exists());
    assert!(
        exports(root) == before,
        "a rotation stopped by a full disk changed what exports"
    );
    assert!(KeyStore::open(root, &MasterSource::Generated).is_ok());
    // Space again: running it again finishes, and everything still opens.
    for f in fillers {
        std::fs::remove_file(f).unwrap();
    }
    let done = rotate().unwrap();
    assert!(done.resumed);
    assert_eq!(master_ids(&db), vec![done.new_master.clone()]);
    assert!(exports(root) == before);
    assert_eq!(*keys(root).site_key().unwrap().public(), site);
}

// ---- `vigil keys encrypt`: a store recorded without encryption, encrypted in place (R19) ----

/// Records `frames` frames of "gate" unencrypted, chain heads signed with the site key (13 segments for
/// 754 frames, heads signed at the first segment and at close).
fn record_plain_signed(root: &Path, frames: usize) {
    let (store, _) = Store::open(config(root)).unwrap();
    store.set_site_key(Arc::new(keys(root).site_key().unwrap()));
    let rec = store.recorder("gate", "main").unwrap();
    Camera::new(car().unwrap(), T0_MICROS).feed(&rec, frames);
    assert_eq!(rec.close().frames_written as usize, frames);
    store.close();
}

/// Runs the migration as `vigil keys encrypt` does (with `[storage] encrypt` off: it works whatever the
/// setting), stopping after `stop_after` segments when given.
fn encrypt_store(
    root: &Path,
    stop_after: Option<u64>,
) -> (
    Result<vigil_store::EncryptReport, vigil_store::StoreError>,
    vigil_store::ReconcileReport,
) {
    use std::ops::ControlFlow;
    let (store, opened) = Store::open(config(root)).unwrap();
    let keys = keys(root);
    let site = keys.site_key().unwrap();
    let report = store.encrypt_existing(&keys, &site, &mut |p| match p {
        vigil_store::EncryptProgress::Segment { done, .. } if Some(*done) == stop_after => {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    });
    store.close();
    (report, opened)
}

/// `vigil verify recordings`: the problems found, and the segments checked.
fn verify(root: &Path) -> (Vec<String>, u64) {
    let key = keys(root).site_key().unwrap();
    let r = vigil_store::verify_recordings(
        &root.join("db/index.db"),
        &vigil_store::VerifyScope::default(),
        Some(key.public()),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(r.unsigned, 0, "every link covered by a signed head");
    let problems = r
        .problems
        .iter()
        .map(|p| format!("{} {:?} {}", p.fault.as_str(), p.seq, p.detail))
        .collect();
    (problems, r.segments)
}

/// The segment files of `root`, oldest first, and the stray files beside them.
fn segment_files(root: &Path) -> (Vec<std::path::PathBuf>, Vec<String>) {
    let mut files = Vec::new();
    let mut stray = Vec::new();
    for e in std::fs::read_dir(root.join("dir1")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".mp4") {
            files.push(p);
        } else if name != ".vigil-dir" {
            stray.push(name);
        }
    }
    files.sort();
    (files, stray)
}

fn key_rows(root: &Path) -> i64 {
    rusqlite::Connection::open(root.join("db/index.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM segment_keys", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_plain_store_is_encrypted_in_place_frame_for_frame_and_verifies() {
    if car().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    record_plain_signed(root, 377 * 2);
    let before = exports(root);
    let windows = frame_windows();
    let dir = root.join("dir1");
    assert!(!files_with_frames(&dir, &windows).is_empty());
    assert_eq!(verify(root), (vec![], 13));

    let (report, _) = encrypt_store(root, None);
    let report = report.unwrap();
    assert_eq!(
        (report.encrypted, report.already_encrypted, report.stopped),
        (13, 0, false),
        "{report:?}"
    );
    assert!(report.skipped.is_empty() && report.resumed == 0);
    assert!(report.bytes_after > report.bytes_before);
    assert_eq!(
        report.heads_resigned, 2,
        "the first segment's head and the newest"
    );
    assert_eq!(key_rows(root), 13);
    // (a) no 32-byte window of any coded frame in any file, nothing left beside them.
    let leaked = files_with_frames(&dir, &windows);
    assert!(leaked.is_empty(), "frame bytes in the clear in {leaked:?}");
    assert_eq!(segment_files(root).1, Vec::<String>::new());
    // (b) exports and fragmented playback byte for byte as before; every frame decodes.
    let after = exports(root);
    assert!(after.0 == before.0, "the export changed");
    assert!(after.1 == before.1, "fragmented playback changed");
    let out = root.join("export.mp4");
    std::fs::write(&out, &after.0).unwrap();
    assert_eq!(frame_md5s(&out).len(), 377 * 2);
    // (c) the re-linked chains verify with their re-signed heads.
    assert_eq!(verify(root), (vec![], 13));
    // Every file matches its row at start-up, checksums included (and recovers without its key).
    let (store, opened) = Store::open(StoreConfig {
        verify: vigil_store::VerifyLevel::Full,
        ..config(root)
    })
    .unwrap();
    store.close();
    assert!(opened.is_clean(), "{opened}");
    assert_eq!(opened.verified, 13);
    // (d) a second run has nothing to do.
    let (again, _) = encrypt_store(root, None);
    let again = again.unwrap();
    assert_eq!(
        (
            again.encrypted,
            again.already_encrypted,
            again.heads_resigned
        ),
        (0, 13, 0)
    );
    assert_eq!(verify(root), (vec![], 13));
    assert!(exports(root) == before);
}

#[test]
fn an_interrupted_encryption_resumes_and_loses_nothing() {
    if car().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    record_plain_signed(root, 377 * 2);
    let before = exports(root);
    let (files, _) = segment_files(root);
    assert_eq!(files.len(), 13);

    // Stopped after three segments: a store half plain, half encrypted, whole.
    let (report, _) = encrypt_store(root, Some(3));
    let report = report.unwrap();
    assert_eq!(
        (report.encrypted, report.stopped, report.remaining),
        (3, true, 10)
    );
    assert_eq!(key_rows(root), 3);
    assert_eq!(verify(root), (vec![], 13));
    assert!(
        exports(root) == before,
        "a half-encrypted store exports differently"
    );

    // Killed after the fourth segment's batch committed, before its copy was renamed into place: the
    // row describes `<name>.encrypting`, the plain original is still at `<name>`.
    let plain4 = std::fs::read(&files[3]).unwrap();
    let (report, _) = encrypt_store(root, Some(1));
    assert_eq!(report.unwrap().encrypted, 1);
    let copy4 = std::path::PathBuf::from(format!("{}.encrypting", files[3].display()));
    std::fs::rename(&files[3], &copy4).unwrap();
    std::fs::write(&files[3], &plain4).unwrap();
    // Killed while writing the fifth segment's copy: a torn copy, nothing committed.
    let copy5 = std::path::PathBuf::from(format!("{}.encrypting", files[4].display()));
    std::fs::write(&copy5, &std::fs::read(&files[0]).unwrap()[..5000]).unwrap();

    // The store opens (start-up finishes the fourth, drops the fifth's copy), plays and verifies.
    let (store, opened) = Store::open(config(root)).unwrap();
    store.close();
    assert_eq!(opened.encryptions_finished, vec![files[3].clone()]);
    assert_eq!(opened.encryptions_undone, vec![copy5.clone()]);
    assert!(opened.damaged.is_empty(), "{opened}");
    assert_eq!(segment_files(root).1, Vec::<String>::new());
    assert_eq!(verify(root), (vec![], 13));
    assert!(
        exports(root) == before,
        "an interrupted run changed what exports"
    );

    // Both kinds of leftover again, then the command itself resumes them and finishes.
    let plain5 = std::fs::read(&files[4]).unwrap();
    let (report, _) = encrypt_store(root, Some(1));
    assert_eq!(report.unwrap().encrypted, 1);
    std::fs::rename(&files[4], &copy5).unwrap();
    std::fs::write(&files[4], &plain5).unwrap();
    let copy6 = std::path::PathBuf::from(format!("{}.encrypting", files[5].display()));
    std::fs::write(&copy6, b"torn").unwrap();
    let (report, opened) = encrypt_store(root, None);
    let report = report.unwrap();
    assert_eq!(opened.encryptions_finished, vec![files[4].clone()]);
    assert_eq!(opened.encryptions_undone, vec![copy6]);
    assert_eq!(
        (report.encrypted, report.already_encrypted, report.resumed),
        (8, 5, 1),
        "{report:?}"
    );
    assert_eq!(key_rows(root), 13);
    assert_eq!(segment_files(root).1, Vec::<String>::new());
    let leaked = files_with_frames(&root.join("dir1"), &frame_windows());
    assert!(leaked.is_empty(), "frame bytes in the clear in {leaked:?}");
    assert_eq!(verify(root), (vec![], 13));
    assert!(
        exports(root) == before,
        "the resumed migration changed what exports"
    );
}

#[test]
fn a_tampered_store_is_refused_naming_the_segment() {
    if car().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    record_plain_signed(root, 377);
    let (files, _) = segment_files(root);
    let bytes_of = |files: &[std::path::PathBuf]| -> Vec<Vec<u8>> {
        files.iter().map(|f| std::fs::read(f).unwrap()).collect()
    };
    let original = bytes_of(&files);

    // A byte of video changed in the third segment: refused, naming its file, nothing changed.
    let mut edited = original[2].clone();
    let n = edited.len();
    edited[n - 100] ^= 0x55;
    std::fs::write(&files[2], &edited).unwrap();
    let (report, _) = encrypt_store(root, None);
    let err = report.unwrap_err().to_string();
    let name = files[2].file_name().unwrap().to_string_lossy().into_owned();
    assert!(err.contains("file-edited") && err.contains(&name), "{err}");
    assert_eq!(key_rows(root), 0);
    assert_eq!(segment_files(root).1, Vec::<String>::new());
    let mut now = original.clone();
    now[2] = edited;
    assert!(bytes_of(&files) == now, "a refused run changed a file");

    // An index row edited (the second segment made longer): refused too.
    std::fs::write(&files[2], &original[2]).unwrap();
    let db = rusqlite::Connection::open(root.join("db/index.db")).unwrap();
    db.execute(
        "UPDATE segments SET duration_90k = duration_90k + 9000 WHERE seq = 2",
        [],
    )
    .unwrap();
    let (report, _) = encrypt_store(root, None);
    let err = report.unwrap_err().to_string();
    assert!(err.contains("row-edited"), "{err}");
    assert_eq!(key_rows(root), 0);
    assert!(bytes_of(&files) == original);
}
