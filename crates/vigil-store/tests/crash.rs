//! Crash safety and start-up reconciliation: a recorder process killed with SIGKILL, truncated and
//! corrupted segment files, missing files, unreadable files, interrupted deletions, a second process,
//! a directory of another store and an unmounted directory.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vigil_core::Time90k;
use vigil_store::{AlertKind, Reader, Store, StoreError, VerifyLevel};

const FOREVER: Time90k = Time90k(i64::MAX / 4);

/// Not a test on its own: the recording process that `kill_9_during_recording...` starts and kills.
#[test]
#[ignore = "child process of kill_9_during_recording_keeps_every_committed_segment"]
fn child_recorder() {
    let Ok(root) = std::env::var("VIGIL_STORE_CHILD_ROOT") else {
        return;
    };
    let car = car().expect("footage");
    let (store, _) = Store::open(config(Path::new(&root))).unwrap();
    let rec = store.recorder("gate", "main").unwrap();
    let mut cam = Camera::new(car, T0_MICROS);
    loop {
        rec.append(&cam.next_frame()).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn segment_files(dir: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().map(|m| m.len()).unwrap_or(0),
            )
        })
        .filter(|(n, _)| n.ends_with(".mp4"))
        .collect();
    v.sort();
    v
}

#[test]
fn kill_9_during_recording_keeps_every_committed_segment() {
    if car().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_recorder",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("VIGIL_STORE_CHILD_ROOT", tmp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let db = tmp.path().join("db/index.db");
    let dir = tmp.path().join("dir1");
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid = child.id().to_string();
    let signal = |sig: &str| {
        let ok = Command::new("kill").args([sig, &pid]).status().unwrap();
        assert!(ok.success());
    };
    let ready = || {
        let committed = Reader::open(&db)
            .and_then(|r| r.segments("gate", "main", T0, FOREVER))
            .map(|s| s.len())
            .unwrap_or(0);
        let files = if dir.exists() {
            segment_files(&dir)
        } else {
            vec![]
        };
        committed >= 3 && files.len() > committed && files.last().is_some_and(|f| f.1 > 20_000)
    };
    // Wait for 3 committed segments and a 4th file in progress holding at least one fragment; freeze
    // the child (SIGSTOP) to confirm that state without racing it, then SIGKILL it.
    loop {
        assert!(child.try_wait().unwrap().is_none(), "child exited early");
        assert!(Instant::now() < deadline, "child did not record in time");
        if ready() {
            signal("-STOP");
            if ready() {
                break;
            }
            signal("-CONT");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let committed = Reader::open(&db)
        .unwrap()
        .segments("gate", "main", T0, FOREVER)
        .unwrap();
    let files = segment_files(&dir);
    assert_eq!(
        files.len(),
        committed.len() + 1,
        "one segment was in progress"
    );

    let (store, report) = Store::open(config(tmp.path())).unwrap();
    assert!(
        report.missing.is_empty() && report.damaged.is_empty(),
        "{report}"
    );
    assert!(report.quarantined.is_empty(), "{report}");
    assert_eq!(report.recovered.len(), 1, "{report}");
    assert!(report.recovered[0].frames > 0);
    let reader = store.reader().unwrap();
    let segs = reader.segments("gate", "main", T0, FOREVER).unwrap();
    assert_eq!(segs.len(), committed.len() + 1);
    assert!(segs.last().unwrap().recovered);
    // index and files agree: every row's file has exactly the indexed length
    for s in &segs {
        assert_eq!(
            std::fs::metadata(&s.file).unwrap().len(),
            s.bytes,
            "{}",
            s.file.display()
        );
    }
    // every segment exports on its own, and the whole recording in one piece
    for s in &segs {
        let e = reader
            .export("gate", "main", s.start, Time90k(s.start.0 + s.duration.0))
            .unwrap();
        assert_eq!(e.frames as u64, s.frames, "{}", s.file.display());
    }
    let e = reader.export("gate", "main", T0, FOREVER).unwrap();
    let total: u64 = segs.iter().map(|s| s.frames).sum();
    assert_eq!(e.frames as u64, total);
    let out = tmp.path().join("after-crash.mp4");
    write_export(&e, &out);
    assert_eq!(probe(&out).1 as u64, total);
    assert_eq!(frame_md5s(&out).len() as u64, total);
    // recording resumes after the crash with a new run
    let rec = store.recorder("gate", "main").unwrap();
    let mut cam = Camera::new(car().unwrap(), T0_MICROS + 3_600_000_000);
    cam.feed(&rec, 100);
    assert_eq!(rec.close().frames_written, 100);
}

#[test]
fn b_frame_segment_cut_mid_fragment_recovers_with_its_composition_offsets() {
    let Some(clip) = classroom() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = config(tmp.path());
    cfg.fragment_seconds = 0.5;
    let mut sent = Vec::new();
    {
        let (store, _) = Store::open(cfg.clone()).unwrap();
        let rec = store.recorder("hall", "main").unwrap();
        let mut cam = Camera::new(clip.clone(), T0_MICROS);
        for _ in 0..3 * clip.frames.len() {
            let f = cam.next_frame();
            sent.push((f.pts.0, f.dts().0));
            rec.append(&f).unwrap();
        }
        rec.close();
    }
    // The state a power cut leaves: the last segment's row never committed, its file cut in the middle
    // of its last fragment.
    let db = tmp.path().join("db/index.db");
    let segs = Reader::open(&db)
        .unwrap()
        .segments("hall", "main", T0, FOREVER)
        .unwrap();
    let last = segs.last().unwrap();
    assert!(last.reordered);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute(
            "DELETE FROM segment_frames WHERE segment_id = ?1",
            [last.id],
        )
        .unwrap();
        conn.execute("DELETE FROM segments WHERE id = ?1", [last.id])
            .unwrap();
    }
    let bytes = std::fs::read(&last.file).unwrap();
    let moofs: Vec<usize> = (0..bytes.len() - 4)
        .filter(|&i| &bytes[i..i + 4] == b"moof")
        .collect();
    assert!(moofs.len() >= 2, "{} fragments", moofs.len());
    let last_moof = moofs[moofs.len() - 1] - 4;
    let cut = last_moof + (bytes.len() - last_moof) / 2;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last.file)
        .unwrap()
        .set_len(cut as u64)
        .unwrap();

    let (store, report) = Store::open(cfg).unwrap();
    assert_eq!(report.recovered.len(), 1, "{report}");
    let kept = report.recovered[0].frames as u64;
    assert!(kept > 0 && kept < last.frames, "{kept} of {}", last.frames);
    let reader = store.reader().unwrap();
    let recovered = reader.segments("hall", "main", T0, FOREVER).unwrap();
    assert!(recovered.last().unwrap().recovered && recovered.last().unwrap().reordered);
    let e = reader.export("hall", "main", T0, FOREVER).unwrap();
    let total = (sent.len() as u64 - last.frames + kept) as usize;
    assert_eq!(e.frames, total);
    let out = tmp.path().join("after-power-cut.mp4");
    write_export(&e, &out);
    // The frames before the cut, presentation and decode times as the camera sent them.
    let origin = sent[0].1;
    let sent: Vec<(i64, i64)> = sent
        .iter()
        .map(|&(p, d)| (p - origin, d - origin))
        .collect();
    assert_eq!(relative_packet_times(&out), sent[..total]);
    assert_remuxes_cleanly(&out);
    // Decoded, they are the source's pictures: those of the kept frames, in presentation order (the cut
    // may take B-frames shown before the last kept P-frame with it).
    let one = frame_md5s(&footage("intel/classroom.mp4").unwrap());
    let md5s: Vec<String> = (0..3).flat_map(|_| one.iter().cloned()).collect();
    let pts: Vec<i64> = sent.iter().map(|t| t.0).collect();
    let expected = vigil_media::test_server::kept_frame_md5s(&md5s, &pts, total);
    assert_same_frames(&frame_md5s(&out), &expected);
}

#[test]
fn damaged_missing_and_unreadable_files_are_reported_and_not_served() {
    let Some(car) = car() else { return };
    let tmp = tempfile::tempdir().unwrap();
    {
        let (store, _) = Store::open(config(tmp.path())).unwrap();
        let rec = store.recorder("gate", "main").unwrap();
        Camera::new(car.clone(), T0_MICROS).feed(&rec, 377);
        rec.close();
    }
    let segs = Reader::open(&tmp.path().join("db/index.db"))
        .unwrap()
        .segments("gate", "main", T0, FOREVER)
        .unwrap();
    assert_eq!(segs.len(), 7);
    // truncate segment 1, corrupt one byte of segment 3 (same length), delete segment 5
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&segs[1].file)
        .unwrap();
    f.set_len(segs[1].bytes - 1000).unwrap();
    let mut bytes = std::fs::read(&segs[3].file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&segs[3].file, &bytes).unwrap();
    std::fs::remove_file(&segs[5].file).unwrap();
    // an unreadable file with a segment name and no row
    let junk = tmp.path().join("dir1/1-00000077.mp4");
    std::fs::write(&junk, b"garbage, not an mp4").unwrap();

    let mut cfg = config(tmp.path());
    cfg.verify = VerifyLevel::Full;
    let (store, report) = Store::open(cfg).unwrap();
    assert_eq!(report.damaged.len(), 2, "{report}");
    let reason = |p: &Path| {
        report
            .damaged
            .iter()
            .find(|d| d.file == p)
            .map(|d| d.reason.clone())
            .unwrap_or_default()
    };
    assert!(reason(&segs[1].file).contains("length"), "{report}");
    assert!(reason(&segs[3].file).contains("checksum"), "{report}");
    assert_eq!(report.missing.len(), 1);
    assert_eq!(report.missing[0].file, segs[5].file);
    assert_eq!(report.quarantined.len(), 1);
    assert!(!junk.exists());
    assert!(
        report.quarantined[0]
            .file
            .starts_with(tmp.path().join("dir1/quarantine"))
    );

    let status = store.status().unwrap();
    assert_eq!(status.damaged_segments, 2);
    assert!(!status.healthy);
    assert!(
        status
            .active_alerts
            .iter()
            .any(|a| a.kind == AlertKind::DamagedSegments)
    );

    let reader = store.reader().unwrap();
    let e = reader.export("gate", "main", T0, FOREVER).unwrap();
    assert_eq!(e.skipped.len(), 2);
    let expected = 377 - segs[1].frames - segs[3].frames - segs[5].frames;
    assert_eq!(e.frames as u64, expected);
    assert_eq!(e.gaps.len(), 3);
    let out = tmp.path().join("without-damaged.mp4");
    write_export(&e, &out);
    assert_eq!(probe(&out).1 as u64, expected);
    assert_eq!(frame_md5s(&out).len() as u64, expected);
    // a range entirely inside a damaged segment is "no recording", never the damaged bytes
    let err = reader
        .export(
            "gate",
            "main",
            Time90k(segs[3].start.0 + 9000),
            Time90k(segs[3].start.0 + 18_000),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::NoRecording { .. }), "{err}");
    drop(reader);
    drop(store);

    // A quick check at the next start keeps both findings.
    let (store, report) = Store::open(config(tmp.path())).unwrap();
    assert_eq!(report.damaged.len(), 1, "{report}"); // the truncation is still visible to a quick check
    assert_eq!(store.status().unwrap().damaged_segments, 2);
}

#[test]
fn interrupted_deletion_is_completed_at_start_up() {
    let Some(car) = car() else { return };
    let tmp = tempfile::tempdir().unwrap();
    {
        let (store, _) = Store::open(config(tmp.path())).unwrap();
        let rec = store.recorder("gate", "main").unwrap();
        Camera::new(car.clone(), T0_MICROS).feed(&rec, 200);
        rec.close();
    }
    let db = tmp.path().join("db/index.db");
    let segs = Reader::open(&db)
        .unwrap()
        .segments("gate", "main", T0, FOREVER)
        .unwrap();
    // Simulate a crash between the garbage commit and the unlink.
    {
        let mut c = rusqlite::Connection::open(&db).unwrap();
        c.pragma_update(None, "foreign_keys", true).unwrap();
        let tx = c.transaction().unwrap();
        tx.execute(
            "INSERT INTO garbage (dir_id, file_name) SELECT dir_id, file_name FROM segments WHERE id = ?1",
            [segs[0].id],
        )
        .unwrap();
        tx.execute("DELETE FROM segments WHERE id = ?1", [segs[0].id])
            .unwrap();
        tx.commit().unwrap();
    }
    assert!(segs[0].file.exists());
    let (store, report) = Store::open(config(tmp.path())).unwrap();
    assert_eq!(report.garbage_collected, 1);
    assert!(report.is_clean(), "{report}");
    assert!(!segs[0].file.exists());
    let n: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM garbage", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(
        store
            .reader()
            .unwrap()
            .segments("gate", "main", T0, FOREVER)
            .unwrap()
            .len(),
        segs.len() - 1
    );
}

#[test]
fn one_writer_per_store_and_directories_are_checked() {
    if car().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(config(tmp.path())).unwrap();
    let err = Store::open(config(tmp.path())).map(|_| ()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    // readers are fine while the writer runs
    store.reader().unwrap();
    drop(store);

    // A directory that belongs to another store is refused, not reconciled.
    let other = tempfile::tempdir().unwrap();
    let mut cfg = config(other.path());
    cfg.dirs[0].path = tmp.path().join("dir1");
    let err = Store::open(cfg).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("another Vigil store"), "{err}");

    // An unmounted directory: the store opens, the directory is offline, its rows are kept.
    {
        let (store, _) = Store::open(config(tmp.path())).unwrap();
        let rec = store.recorder("gate", "main").unwrap();
        Camera::new(car().unwrap(), T0_MICROS).feed(&rec, 130);
        rec.close();
    }
    std::fs::rename(tmp.path().join("dir1"), tmp.path().join("elsewhere")).unwrap();
    let (store, report) = Store::open(config_without_mkdir(tmp.path())).unwrap();
    assert_eq!(report.offline_dirs, vec!["dir1".to_string()]);
    assert!(report.missing.is_empty());
    let st = store.status().unwrap();
    assert!(!st.dirs[0].online);
    assert!(
        st.active_alerts
            .iter()
            .any(|a| a.kind == AlertKind::DirOffline)
    );
    drop(store);
    std::fs::rename(tmp.path().join("elsewhere"), tmp.path().join("dir1")).unwrap();
    let (store, report) = Store::open(config(tmp.path())).unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        store
            .reader()
            .unwrap()
            .segments("gate", "main", T0, FOREVER)
            .unwrap()
            .len(),
        3
    );
}

fn config_without_mkdir(root: &Path) -> vigil_store::StoreConfig {
    let mut c = vigil_store::StoreConfig::new(root.join("db/index.db"), "dir1", root.join("dir1"));
    c.segment_seconds = 2.0;
    c.dirs[0].min_free_bytes = 0;
    c.background_retention = false;
    c
}
