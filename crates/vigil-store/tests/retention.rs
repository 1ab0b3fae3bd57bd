//! Retention: byte budgets, keep-longer marks and evidence holds, and a real full disk (a small tmpfs).

mod common;

use common::*;
use std::path::Path;
use std::sync::{Arc, Mutex};
use vigil_core::Time90k;
use vigil_store::{AlertKind, Reader, SegmentInfo, StorageAlert, Store};

const FOREVER: Time90k = Time90k(i64::MAX / 4);
const SEC: i64 = 90_000;

fn record(store: &Store, camera: &str, frames: usize, start_micros: i64) {
    let rec = store.recorder(camera, "main").unwrap();
    Camera::new(car().unwrap(), start_micros).feed(&rec, frames);
    let st = rec.close();
    assert_eq!(st.frames_written as usize, frames);
}

fn segments(root: &Path, camera: &str) -> Vec<SegmentInfo> {
    Reader::open(&root.join("db/index.db"))
        .unwrap()
        .segments(camera, "main", Time90k(0), FOREVER)
        .unwrap()
}

fn garbage_rows(root: &Path) -> i64 {
    rusqlite::Connection::open(root.join("db/index.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM garbage", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn budget_deletes_oldest_unprotected_and_keeps_holds_and_marks() {
    if car().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    {
        let (store, _) = Store::open(config(tmp.path())).unwrap();
        record(&store, "gate", 377 * 2, T0_MICROS);
    }
    let before = segments(tmp.path(), "gate");
    assert_eq!(before.len(), 13);
    let total: u64 = before.iter().map(|s| s.bytes).sum();

    let mut cfg = config(tmp.path());
    cfg.dirs[0].max_bytes = Some(total / 2);
    let (store, _) = Store::open(cfg).unwrap();
    let at = |s: &SegmentInfo| s.start..Time90k(s.start.0 + SEC);
    let hold = store
        .add_hold(Some("gate"), at(&before[0]), "case 42")
        .unwrap();
    let far = Time90k(i64::MAX / 8);
    store
        .add_mark(Some("gate"), at(&before[1]), "event", Some(far), "person")
        .unwrap();
    // an expired keep-longer mark protects nothing
    store
        .add_mark(
            Some("gate"),
            at(&before[2]),
            "event",
            Some(Time90k(1)),
            "old",
        )
        .unwrap();
    // a mark on another camera does not protect this one
    store
        .add_mark(Some("porch"), at(&before[3]), "event", Some(far), "")
        .unwrap();

    let report = store.run_retention().unwrap();
    assert!(report.deleted_segments > 0);
    assert_eq!(report.deleted_marked, 0);
    let after = segments(tmp.path(), "gate");
    let kept: u64 = after.iter().map(|s| s.bytes).sum();
    assert!(kept <= total / 2, "{kept} > {}", total / 2);
    assert_eq!(after[0].id, before[0].id, "held segment kept");
    assert_eq!(after[1].id, before[1].id, "marked segment kept");
    // The deleted ones are exactly the oldest unprotected: 2, 3, 4, ...
    let deleted: Vec<i64> = before
        .iter()
        .filter(|b| !after.iter().any(|a| a.id == b.id))
        .map(|b| b.id)
        .collect();
    let expect: Vec<i64> = before[2..2 + deleted.len()].iter().map(|b| b.id).collect();
    assert_eq!(deleted, expect);
    for b in &before {
        assert_eq!(
            b.file.exists(),
            after.iter().any(|a| a.id == b.id),
            "{}",
            b.file.display()
        );
    }
    assert_eq!(garbage_rows(tmp.path()), 0);
    let st = store.status().unwrap();
    assert_eq!(st.dirs[0].used_bytes, kept);
    assert_eq!(st.dirs[0].oldest, Some(before[0].start));
    assert_eq!(
        st.cameras
            .iter()
            .find(|c| c.name == "gate")
            .unwrap()
            .segments,
        after.len() as u64
    );

    // A camera budget of one byte: everything unprotected goes, then the keep-longer mark's segment
    // (with an alert); the evidence hold stays and the shortfall is reported.
    let alerts = Arc::new(Mutex::new(Vec::<StorageAlert>::new()));
    let sink = alerts.clone();
    store.on_alert(move |a| sink.lock().unwrap().push(a.clone()));
    store.set_camera_budget("gate", Some(1)).unwrap();
    let report = store.run_retention().unwrap();
    assert_eq!(report.deleted_marked, 1);
    assert!(report.shortfall_bytes > 0);
    let left = segments(tmp.path(), "gate");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, before[0].id);
    let kinds: Vec<AlertKind> = alerts.lock().unwrap().iter().map(|a| a.kind).collect();
    assert!(
        kinds.contains(&AlertKind::MarkedFootageDeleted),
        "{kinds:?}"
    );
    assert!(kinds.contains(&AlertKind::NothingDeletable), "{kinds:?}");
    // releasing the hold lets retention take it
    assert!(store.remove_mark(hold).unwrap());
    assert!(!store.remove_mark(hold).unwrap());
    store.run_retention().unwrap();
    assert!(segments(tmp.path(), "gate").is_empty());
    assert_eq!(store.marks().unwrap().len(), 3);
}

#[test]
fn camera_budgets_only_touch_their_camera() {
    if car().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(config(tmp.path())).unwrap();
    record(&store, "gate", 377, T0_MICROS);
    record(&store, "porch", 377, T0_MICROS);
    let gate: u64 = segments(tmp.path(), "gate").iter().map(|s| s.bytes).sum();
    store.set_camera_budget("gate", Some(gate / 3)).unwrap();
    store.run_retention().unwrap();
    assert!(
        segments(tmp.path(), "gate")
            .iter()
            .map(|s| s.bytes)
            .sum::<u64>()
            <= gate / 3
    );
    assert_eq!(segments(tmp.path(), "porch").len(), 7);
}

#[test]
fn age_limit_deletes_old_recordings_but_keeps_holds_and_recent_footage() {
    if car().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let now_micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let day = 86_400_000_000i64;
    let mut cfg = config(tmp.path());
    cfg.cameras.push(vigil_store::CameraStorageConfig {
        name: "gate".into(),
        max_bytes: None,
        dir: None,
        max_days: Some(30),
    });
    let (store, _) = Store::open(cfg).unwrap();
    record(&store, "gate", 377, now_micros - 40 * day); // 7 segments, 40 days old
    record(&store, "gate", 377, now_micros - 10 * day); // 7 segments, 10 days old
    record(&store, "porch", 377, now_micros - 40 * day); // no age limit on this camera
    let before = segments(tmp.path(), "gate");
    assert_eq!(before.len(), 14);
    let hold = before[3].start..Time90k(before[3].start.0 + SEC);
    store.add_hold(Some("gate"), hold, "case 7").unwrap();

    let report = store.run_retention().unwrap();
    assert_eq!(report.deleted_segments, 6, "{report:?}");
    let after = segments(tmp.path(), "gate");
    let kept: Vec<i64> = after.iter().map(|s| s.id).collect();
    let expect: Vec<i64> = std::iter::once(before[3].id)
        .chain(before[7..].iter().map(|s| s.id))
        .collect();
    assert_eq!(
        kept, expect,
        "the held old segment and the 10-day-old run stay"
    );
    for b in &before {
        assert_eq!(
            b.file.exists(),
            kept.contains(&b.id),
            "{}",
            b.file.display()
        );
    }
    assert_eq!(segments(tmp.path(), "porch").len(), 7);
    // Idempotent: nothing more to do.
    assert_eq!(store.run_retention().unwrap().deleted_segments, 0);
}

#[test]
fn the_auditors_maximums_cap_every_camera_and_release_old_holds() {
    if car().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let now_micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let day = 86_400_000_000i64;
    let mut cfg = config(tmp.path());
    cfg.cameras.push(vigil_store::CameraStorageConfig {
        name: "gate".into(),
        max_bytes: None,
        dir: None,
        max_days: Some(30),
    });
    let (store, _) = Store::open(cfg.clone()).unwrap();
    record(&store, "gate", 377, now_micros - 20 * day);
    record(&store, "gate", 377, now_micros - 3 * day);
    record(&store, "porch", 377, now_micros - 20 * day); // no age limit of its own
    record(&store, "porch", 377, now_micros - 3 * day);
    let gate = segments(tmp.path(), "gate");
    assert_eq!(gate.len(), 14);
    // Within the configuration (30 days, none): nothing goes.
    assert_eq!(store.run_retention().unwrap().deleted_segments, 0);

    let zero = vigil_store::RetentionLimits {
        hold_days: Some(0),
        ..Default::default()
    };
    assert!(store.set_retention_limits(&zero, "audrey").is_err());
    let limits = vigil_store::RetentionLimits {
        continuous_days: Some(10),
        event_days: None,
        hold_days: Some(7),
    };
    store.set_retention_limits(&limits, "audrey").unwrap();
    store
        .add_hold(
            Some("gate"),
            gate[2].start..Time90k(gate[2].start.0 + SEC),
            "case 9",
        )
        .unwrap();
    let report = store.run_retention().unwrap();
    assert_eq!(report.deleted_segments, 13, "{report:?}");
    let kept: Vec<i64> = segments(tmp.path(), "gate").iter().map(|s| s.id).collect();
    let expect: Vec<i64> = std::iter::once(gate[2].id)
        .chain(gate[7..].iter().map(|s| s.id))
        .collect();
    assert_eq!(
        kept, expect,
        "the 10-day maximum beats the camera's 30 days; the hold stays"
    );
    assert_eq!(
        segments(tmp.path(), "porch").len(),
        7,
        "the maximum reaches a camera without a limit"
    );

    // Eight days later the hold is past the 7-day maximum: released, and its footage goes.
    rusqlite::Connection::open(tmp.path().join("db/index.db"))
        .unwrap()
        .execute(
            "UPDATE marks SET created_90k = created_90k - ?1 WHERE kind = 'hold'",
            [8 * 86_400 * SEC],
        )
        .unwrap();
    assert_eq!(store.run_retention().unwrap().deleted_segments, 1);
    assert!(store.marks().unwrap().iter().all(|m| m.kind != "hold"));
    assert_eq!(segments(tmp.path(), "gate").len(), 7);

    // The maximums survive a restart.
    drop(store);
    let (store, _) = Store::open(cfg).unwrap();
    assert_eq!(store.retention_limits(), limits);
}

/// Records ~23 MB into an 8 MB filesystem with a hold and a keep-longer mark at the start.
fn fill_small_disk(
    min_free: u64,
) -> Option<(
    Vec<StorageAlert>,
    vigil_store::StorageStatus,
    Vec<SegmentInfo>,
)> {
    let car = car()?;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dir1");
    let _fs = Tmpfs::mount(&dir, "8m")?;
    let mut cfg = config(tmp.path());
    cfg.dirs[0].min_free_bytes = min_free;
    let (store, _) = Store::open(cfg).unwrap();
    let alerts = Arc::new(Mutex::new(Vec::<StorageAlert>::new()));
    let sink = alerts.clone();
    store.on_alert(move |a| sink.lock().unwrap().push(a.clone()));
    store
        .add_hold(Some("gate"), T0..Time90k(T0.0 + SEC), "evidence")
        .unwrap();
    store
        .add_mark(
            Some("gate"),
            Time90k(T0.0 + 10 * SEC)..Time90k(T0.0 + 11 * SEC),
            "event",
            Some(Time90k(i64::MAX / 8)),
            "",
        )
        .unwrap();
    let rec = store.recorder("gate", "main").unwrap();
    let mut cam = Camera::new(car.clone(), T0_MICROS);
    let n = 377 * 10;
    cam.feed(&rec, n);
    let st = rec.close();
    assert_eq!(
        st.frames_written as usize, n,
        "recording continued through the full disk: {st:?}"
    );
    assert_eq!(st.frames_dropped, 0);
    let status = store.status().unwrap();
    let segs = segments(tmp.path(), "gate");
    // the newest footage is there and exports
    let last = segs.last().unwrap();
    assert_eq!(last.start.0 + last.duration.0, T0.0 + (n as i64) * 7200);
    let e = store
        .reader()
        .unwrap()
        .export("gate", "main", Time90k(last.start.0 - 20 * SEC), FOREVER)
        .unwrap();
    let out = tmp.path().join("newest.mp4");
    write_export(&e, &out);
    assert_eq!(probe(&out).1, e.frames);
    // the files in the directory are exactly the indexed ones
    let files = std::fs::read_dir(&dir).unwrap().filter(|e| {
        e.as_ref()
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".mp4")
    });
    assert_eq!(files.count(), segs.len());
    drop(store);
    // Every file written through the full disk matches its index row byte for byte, and all of the
    // remaining recording decodes without a single decoder complaint.
    let mut cfg = config(tmp.path());
    cfg.dirs[0].min_free_bytes = min_free;
    cfg.verify = vigil_store::VerifyLevel::Full;
    let (store, report) = Store::open(cfg).unwrap();
    assert!(
        report.is_clean() && report.verified == segs.len(),
        "{report}"
    );
    let e = store
        .reader()
        .unwrap()
        .export("gate", "main", T0, FOREVER)
        .unwrap();
    let all = tmp.path().join("all.mp4");
    write_export(&e, &all);
    assert_eq!(frame_md5s(&all).len(), e.frames);
    drop(store);
    let alerts = alerts.lock().unwrap().clone();
    Some((alerts, status, segs))
}

fn check_protected_kept_and_oldest_gone(segs: &[SegmentInfo]) {
    // segment 0 (held) and segment 2 (10 s..11 s marked; GOPs are 4.8 s) are kept; 1 and 3 are gone
    assert_eq!(segs[0].start, T0);
    assert_eq!(segs[1].start, Time90k(T0.0 + 2 * 432_000));
    assert!(
        segs[2].start.0 > T0.0 + 100 * SEC,
        "oldest unprotected deleted first: {:?}",
        segs[2].start
    );
}

#[test]
fn full_disk_deletes_oldest_unprotected_keeps_recording_and_alerts() {
    let Some((alerts, status, segs)) = fill_small_disk(0) else {
        return;
    };
    check_protected_kept_and_oldest_gone(&segs);
    let kinds: Vec<AlertKind> = alerts.iter().map(|a| a.kind).collect();
    assert!(kinds.contains(&AlertKind::DiskFull), "{kinds:?}");
    assert!(kinds.contains(&AlertKind::EmergencyDeletion), "{kinds:?}");
    assert!(status.dirs[0].used_bytes <= 8 << 20);
    assert!(
        alerts
            .iter()
            .filter(|a| matches!(a.kind, AlertKind::DiskFull | AlertKind::EmergencyDeletion))
            .all(|a| a.dir.as_deref() == Some("dir1"))
    );
}

#[test]
fn free_space_floor_deletes_before_the_disk_is_full() {
    let Some((alerts, status, segs)) = fill_small_disk(3 << 20) else {
        return;
    };
    check_protected_kept_and_oldest_gone(&segs);
    let kinds: Vec<AlertKind> = alerts.iter().map(|a| a.kind).collect();
    assert!(kinds.contains(&AlertKind::LowSpace), "{kinds:?}");
    assert!(kinds.contains(&AlertKind::EmergencyDeletion), "{kinds:?}");
    assert!(
        !kinds.contains(&AlertKind::DiskFull),
        "the floor kept the disk from filling: {kinds:?}"
    );
    // at most one fragment (~1 s of video) below the floor
    assert!(
        status.dirs[0].free_bytes.unwrap() + (512 << 10) >= 3 << 20,
        "{:?}",
        status.dirs[0]
    );
}
