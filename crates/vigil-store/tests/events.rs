//! The event store's write side: lifecycles from the real rules engine, footage marks, snapshots,
//! event retention with holds, interrupted work, and bad input.

mod common;
mod event_helpers;

use event_helpers::*;
use std::path::Path;
use vigil_core::{EventKind, EventPhase, Time90k};
use vigil_store::{
    EventQuery, EventReader, EventWrite, SnapshotKind, Store, StoreError, StoredEvent,
};

fn all(reader: &EventReader) -> Vec<StoredEvent> {
    reader
        .list(&EventQuery {
            limit: 1000,
            ..Default::default()
        })
        .unwrap()
        .events
}

fn count_rows(root: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db_path(root))
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_lifecycle_from_the_rules_engine_is_one_row_with_the_final_values() {
    // One person loiters on the dock for 8 s, a second joins, both leave.
    let messages = run_rules("dock", DOCK, T0_MS, 140, |i| {
        let mut v = Vec::new();
        if i < 80 {
            v.push(person(1, 0.5, 0.5));
        }
        if (40..80).contains(&i) {
            v.push(person(2, 0.6, 0.6));
        }
        v
    });
    let phases: Vec<EventPhase> = messages.iter().map(|m| m.phase).collect();
    assert_eq!(phases.first(), Some(&EventPhase::Start), "{phases:?}");
    assert_eq!(phases.last(), Some(&EventPhase::End), "{phases:?}");
    assert!(phases.contains(&EventPhase::Update), "{phases:?}");
    assert!(messages.iter().all(|m| m.id == messages[0].id));

    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let reader = store.event_reader().unwrap();
    for (i, m) in messages.iter().enumerate() {
        let w = store.record_event(m).unwrap();
        assert_eq!(
            w,
            if i == 0 {
                EventWrite::Inserted
            } else {
                EventWrite::Updated
            }
        );
        let rows = all(&reader);
        assert_eq!(rows.len(), 1, "one row per event after message {i}");
        assert_eq!(&rows[0].event, m, "the row holds the latest message");
        assert_eq!(rows[0].open, m.phase != EventPhase::End);
    }
    let last = messages.last().unwrap();
    let stored = reader.get(last.id).unwrap();
    assert_eq!(&stored.event, last);
    assert!(!stored.open && !stored.interrupted);
    assert_eq!(stored.event.objects.iter().map(|c| c.count).sum::<u32>(), 2);
    match stored.event.kind {
        EventKind::Loitering { dwell_ms, .. } => assert!(dwell_ms >= 7000, "{dwell_ms}"),
        ref k => panic!("{k:?}"),
    }

    // A late Update after the End changes nothing.
    let mut late = messages[1].clone();
    late.description = "late message".into();
    assert_eq!(store.record_event(&late).unwrap(), EventWrite::Stale);
    assert_eq!(&reader.get(last.id).unwrap().event, last);
    // So does an older message, even when it claims to be an End.
    let mut old = last.clone();
    old.last.unix_ms -= 1000;
    assert_eq!(store.record_event(&old).unwrap(), EventWrite::Stale);

    // A batch with several messages of one event gives the same single row.
    let tmp2 = tempfile::tempdir().unwrap();
    let store2 = open(tmp2.path());
    let writes = store2.record_events(&messages).unwrap();
    assert_eq!(writes.len(), messages.len());
    let rows = all(&store2.event_reader().unwrap());
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0].event, last);
}

#[test]
fn footage_marks_cover_the_pre_and_post_roll_and_follow_the_event() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let t = T0_MS;
    let start = event(1, "gate", t, EventPhase::Start);
    store.record_event(&start).unwrap();
    let day_90k = 86_400_000 * 90;
    let mark = |store: &Store| {
        let marks: Vec<_> = store
            .marks()
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == "event")
            .collect();
        assert_eq!(marks.len(), 1, "{marks:?}");
        marks[0].clone()
    };
    let m = mark(&store);
    assert_eq!(m.camera.as_deref(), Some("gate"));
    assert_eq!(m.note, start.id.to_string());
    assert_eq!(m.start, Time90k((t - 10_000) * 90));
    assert_eq!(m.end, Time90k((t + 10_000) * 90));
    assert_eq!(
        m.keep_until,
        Some(Time90k((t + 10_000 - 10_000) * 90 + 30 * day_90k))
    );

    // open: the mark grows with the event
    store
        .record_event(&later(&start, EventPhase::Update, t + 45_000))
        .unwrap();
    let m = mark(&store);
    assert_eq!(m.end, Time90k((t + 55_000) * 90));
    assert_eq!(
        m.keep_until,
        Some(Time90k((t + 45_000) * 90 + 30 * day_90k))
    );

    // ended: final range
    store
        .record_event(&later(&start, EventPhase::End, t + 61_000))
        .unwrap();
    let m = mark(&store);
    assert_eq!(m.start, Time90k((t - 10_000) * 90));
    assert_eq!(m.end, Time90k((t + 71_000) * 90));
    assert_eq!(
        m.keep_until,
        Some(Time90k((t + 61_000) * 90 + 30 * day_90k))
    );
}

#[test]
fn retention_keeps_event_footage_while_the_event_mark_is_live() {
    let Some(video) = common::car() else { return };
    let tmp = tempfile::tempdir().unwrap();
    {
        let (store, _) = Store::open(common::config(tmp.path())).unwrap();
        let rec = store.recorder("gate", "main").unwrap();
        common::Camera::new(video, common::T0_MICROS).feed(&rec, 377 * 2);
        rec.close();
    }
    let segments = |root: &Path| {
        vigil_store::Reader::open(&db_path(root))
            .unwrap()
            .segments("gate", "main", Time90k(0), Time90k(i64::MAX / 4))
            .unwrap()
    };
    let before = segments(tmp.path());
    assert_eq!(before.len(), 13);
    let total: u64 = before.iter().map(|s| s.bytes).sum();
    // An event in the 7th segment (segments are ~4.8 s long, one GOP): with 10 s of pre-roll its
    // mark reaches back over the segments before it, not to the first ones.
    let ev_start_ms = before[6].start.0 / 90 + 500;
    let covered = |s: &vigil_store::SegmentInfo| {
        let (a, b) = (s.start.0, s.start.0 + s.duration.0);
        a < (ev_start_ms + 2000) * 90 && b > (ev_start_ms - 10_000) * 90
    };
    assert!(!covered(&before[0]) && !covered(&before[12]));

    for (retention_days, protected) in [(36_500, true), (1, false)] {
        let root = tempfile::tempdir().unwrap();
        copy_dir(tmp.path(), root.path());
        let mut cfg = common::config(root.path());
        cfg.dirs[0].max_bytes = Some(total / 2);
        cfg.events.post_roll_seconds = 1.0;
        cfg.events.retention_days = retention_days;
        let (store, _) = Store::open(cfg).unwrap();
        let ev = event(7, "gate", ev_start_ms, EventPhase::Start);
        store
            .record_event(&later(&ev, EventPhase::End, ev_start_ms + 1000))
            .unwrap();
        let report = store.run_retention().unwrap();
        assert!(report.deleted_segments > 0);
        let after = segments(root.path());
        let kept: u64 = after.iter().map(|s| s.bytes).sum();
        assert!(kept <= total / 2, "budget met: {kept} of {total}");
        let marked: Vec<_> = before.iter().filter(|s| covered(s)).collect();
        assert!(
            marked.len() >= 3,
            "{} segments under the mark",
            marked.len()
        );
        for s in &marked {
            let still = after.iter().any(|a| a.id == s.id);
            assert_eq!(
                still, protected,
                "segment {} (retention {retention_days} d): kept {still}",
                s.id
            );
        }
        if protected {
            assert_eq!(report.deleted_marked, 0);
            // older unmarked footage went first
            assert!(!after.iter().any(|a| a.id == before[0].id));
            // an event whose footage is already gone keeps its row but not its mark
            let gone_ms = after[0].start.0 / 90 - 20_000;
            let gone = later(
                &event(8, "gate", gone_ms, EventPhase::Start),
                EventPhase::End,
                gone_ms + 1000,
            );
            store.record_event(&gone).unwrap();
            let has_mark = |id: &vigil_core::EventId| {
                store
                    .marks()
                    .unwrap()
                    .iter()
                    .any(|m| m.note == id.to_string())
            };
            assert!(has_mark(&gone.id));
            let r = store.run_event_retention().unwrap();
            assert_eq!((r.pruned_marks, r.deleted_events), (1, 0));
            assert!(!has_mark(&gone.id) && has_mark(&ev.id));
            assert!(store.event_reader().unwrap().get(gone.id).is_ok());
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else if !entry.file_name().to_string_lossy().ends_with(".lock") {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn snapshots_round_trip_are_replaced_and_leave_no_garbage() {
    let Some((full, crop)) = snapshot_pair(1) else {
        return;
    };
    let Some((full2, _)) = snapshot_pair(2) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let ev = event(1, "porch", T0_MS, EventPhase::Start);
    store.record_event(&ev).unwrap();
    let info = store.save_snapshot(ev.id, &full, Some(&crop)).unwrap();
    assert_eq!(info.full_bytes, full.len() as u64);
    assert_eq!(info.crop_bytes, Some(crop.len() as u64));

    let reader = store.event_reader().unwrap();
    assert_eq!(reader.snapshot(ev.id, SnapshotKind::Full).unwrap(), full);
    assert_eq!(reader.snapshot(ev.id, SnapshotKind::Crop).unwrap(), crop);
    assert_eq!(reader.get(ev.id).unwrap().snapshot, Some(info));
    // the files are real JPEGs under the snapshot directory, not in the database
    let full_path = reader.snapshot_path(ev.id, SnapshotKind::Full).unwrap();
    let crop_path = reader.snapshot_path(ev.id, SnapshotKind::Crop).unwrap();
    assert!(full_path.starts_with(tmp.path().join("db/snapshots/2024-06-07")));
    let img = vigil_media::image_file::read_bgr(&crop_path).unwrap();
    assert_eq!((img.width(), img.height()), (120, 240));

    // a better view replaces it; the old files go
    let info2 = store.save_snapshot(ev.id, &full2, None).unwrap();
    assert_eq!(info2.crop_bytes, None);
    assert_eq!(reader.snapshot(ev.id, SnapshotKind::Full).unwrap(), full2);
    assert!(!full_path.exists() && !crop_path.exists());
    assert!(matches!(
        reader.snapshot(ev.id, SnapshotKind::Crop),
        Err(StoreError::NoSnapshot { kind: "crop", .. })
    ));
    let day_dir = full_path.parent().unwrap();
    let files: Vec<_> = std::fs::read_dir(day_dir).unwrap().collect();
    assert_eq!(files.len(), 1, "only the current full frame remains");
    assert_eq!(
        count_rows(tmp.path(), "SELECT COUNT(*) FROM event_snapshot_garbage"),
        0
    );

    // deleting the event deletes its files
    let path = reader.snapshot_path(ev.id, SnapshotKind::Full).unwrap();
    assert!(store.delete_event(ev.id).unwrap());
    assert!(!path.exists());
    assert!(matches!(
        reader.get(ev.id),
        Err(StoreError::EventNotFound { .. })
    ));
    assert!(!store.delete_event(ev.id).unwrap());
}

#[test]
fn old_events_and_their_snapshots_are_deleted_unless_a_hold_covers_them() {
    let Some((full, crop)) = snapshot_pair(3) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let old_a = later(
        &event(1, "yard", T0_MS, EventPhase::Start),
        EventPhase::End,
        T0_MS + 5000,
    );
    let old_b = later(
        &event(2, "yard", T0_MS + 3_600_000, EventPhase::Start),
        EventPhase::End,
        T0_MS + 3_605_000,
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let recent = event(3, "yard", now - 60_000, EventPhase::Start);
    store
        .record_events(&[old_a.clone(), old_b.clone(), recent.clone()])
        .unwrap();
    for e in [&old_a, &old_b, &recent] {
        store.save_snapshot(e.id, &full, Some(&crop)).unwrap();
    }
    let reader = store.event_reader().unwrap();
    let b_files = [
        reader.snapshot_path(old_b.id, SnapshotKind::Full).unwrap(),
        reader.snapshot_path(old_b.id, SnapshotKind::Crop).unwrap(),
    ];
    // an evidence hold over part of event a's footage (its pre-roll)
    let hold = store
        .add_hold(
            Some("yard"),
            Time90k((T0_MS - 8000) * 90)..Time90k((T0_MS - 7000) * 90),
            "case 17",
        )
        .unwrap();
    // a hold on another camera protects nothing here
    store
        .add_hold(
            Some("porch"),
            Time90k((T0_MS + 3_600_000) * 90)..Time90k((T0_MS + 3_601_000) * 90),
            "other",
        )
        .unwrap();

    let report = store.run_event_retention().unwrap();
    assert_eq!(report.deleted_events, 1);
    assert_eq!(report.deleted_snapshot_files, 2);
    assert_eq!(report.held_events, 1);
    assert!(b_files.iter().all(|f| !f.exists()));
    assert!(matches!(
        reader.get(old_b.id),
        Err(StoreError::EventNotFound { .. })
    ));
    assert!(reader.get(old_a.id).is_ok());
    assert!(reader.get(recent.id).is_ok());
    assert_eq!(
        reader
            .list(&EventQuery {
                text: Some("yard".into()),
                ..Default::default()
            })
            .unwrap()
            .events
            .len(),
        2,
        "the search entry went with the row"
    );
    assert!(
        !store
            .marks()
            .unwrap()
            .iter()
            .any(|m| m.note == old_b.id.to_string()),
        "its footage mark went too"
    );
    assert!(matches!(
        store.delete_event(old_a.id),
        Err(StoreError::EventHeld { .. })
    ));

    // releasing the hold lets retention take it
    assert!(store.remove_mark(hold).unwrap());
    let report = store.run_event_retention().unwrap();
    assert_eq!((report.deleted_events, report.held_events), (1, 0));
    assert_eq!(all(&reader).len(), 1);
    assert_eq!(
        count_rows(
            tmp.path(),
            "SELECT COALESCE(SUM(count), 0) FROM event_counts"
        ),
        1
    );
    assert_eq!(
        count_rows(tmp.path(), "SELECT COUNT(*) FROM event_snapshot_garbage"),
        0
    );
}

#[test]
fn interrupted_events_and_snapshot_writes_are_finished_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let ev = event(1, "dock", T0_MS, EventPhase::Start);
    let orphan = tmp.path().join("db/snapshots/2024-06-07/orphan-full.jpg");
    {
        let store = open(tmp.path());
        store
            .record_event(&later(&ev, EventPhase::Update, T0_MS + 9000))
            .unwrap();
        // a crash after a snapshot file was written but before its row was committed
        std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
        std::fs::write(&orphan, b"\xff\xd8\xff partial").unwrap();
        rusqlite::Connection::open(db_path(tmp.path()))
            .unwrap()
            .execute(
                "INSERT INTO event_snapshot_garbage (file) VALUES ('2024-06-07/orphan-full.jpg')",
                [],
            )
            .unwrap();
    }
    let store = open(tmp.path());
    assert!(!orphan.exists());
    let got = store.event_reader().unwrap().get(ev.id).unwrap();
    assert!(!got.open && got.interrupted);
    assert_eq!(got.event.phase, EventPhase::End);
    assert_eq!(got.event.end.map(|t| t.unix_ms), Some(T0_MS + 9000));
    let m = store
        .marks()
        .unwrap()
        .into_iter()
        .find(|m| m.note == ev.id.to_string())
        .unwrap();
    assert_eq!(m.end, Time90k((T0_MS + 19_000) * 90));
}

#[test]
fn bad_snapshots_are_refused_and_damaged_files_reported_by_path() {
    let Some((full, crop)) = snapshot_pair(4) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = store_config(tmp.path());
    cfg.events.max_snapshot_bytes = (full.len() + crop.len()) as u64;
    let (store, _) = Store::open(cfg).unwrap();
    let ev = event(1, "porch", T0_MS, EventPhase::Start);
    store.record_event(&ev).unwrap();

    let unknown = event(99, "porch", T0_MS, EventPhase::Start).id;
    let err = store.save_snapshot(unknown, &full, None).unwrap_err();
    assert!(matches!(err, StoreError::EventNotFound { .. }), "{err}");
    assert!(err.to_string().contains(&unknown.to_string()));

    let mut big = full.clone();
    big.extend_from_slice(&crop);
    big.push(0);
    let err = store.save_snapshot(ev.id, &big, None).unwrap_err();
    assert!(matches!(err, StoreError::SnapshotTooLarge { .. }), "{err}");
    assert!(err.to_string().contains("bytes allowed"), "{err}");

    let err = store
        .save_snapshot(ev.id, b"<html>not an image</html>", None)
        .unwrap_err();
    assert!(err.to_string().contains("JPEG"), "{err}");
    let err = store
        .save_snapshot(ev.id, &full, Some(&crop[..crop.len() - 10]))
        .unwrap_err();
    assert!(err.to_string().contains("crop image"), "{err}");
    let reader = store.event_reader().unwrap();
    assert!(matches!(
        reader.snapshot(ev.id, SnapshotKind::Full),
        Err(StoreError::NoSnapshot { .. })
    ));

    store.save_snapshot(ev.id, &full, Some(&crop)).unwrap();
    let path = reader.snapshot_path(ev.id, SnapshotKind::Full).unwrap();
    // one flipped byte
    let mut damaged = full.clone();
    damaged[full.len() / 2] ^= 0x40;
    std::fs::write(&path, &damaged).unwrap();
    let err = reader.snapshot(ev.id, SnapshotKind::Full).unwrap_err();
    assert!(matches!(err, StoreError::CorruptSnapshot { .. }), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(err.to_string().contains("damaged"), "{err}");
    // truncated
    std::fs::write(&path, &full[..1000]).unwrap();
    let err = reader.snapshot(ev.id, SnapshotKind::Full).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    // gone
    std::fs::remove_file(&path).unwrap();
    let err = reader.snapshot(ev.id, SnapshotKind::Full).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    // the crop is still fine
    assert_eq!(reader.snapshot(ev.id, SnapshotKind::Crop).unwrap(), crop);
}

#[test]
fn bad_event_messages_are_refused_with_the_reason_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let reader = store.event_reader().unwrap();
    let good = event(1, "gate", T0_MS, EventPhase::Start);

    let mut backwards = event(2, "gate", T0_MS, EventPhase::Start);
    backwards.last.unix_ms = T0_MS - 1;
    let err = store
        .record_events(&[good.clone(), backwards.clone()])
        .unwrap_err();
    assert!(err.to_string().contains(&backwards.id.to_string()), "{err}");
    assert!(err.to_string().contains("before the start"), "{err}");
    assert!(all(&reader).is_empty(), "the batch wrote nothing");

    let mut nameless = good.clone();
    nameless.camera = " ".into();
    assert!(
        store
            .record_event(&nameless)
            .unwrap_err()
            .to_string()
            .contains("empty camera")
    );
    let mut nan = good.clone();
    if let Some(b) = nan.best.as_mut() {
        b.score = f32::NAN;
    }
    assert!(
        store
            .record_event(&nan)
            .unwrap_err()
            .to_string()
            .contains("non-finite")
    );
    let mut ancient = good.clone();
    ancient.start.unix_ms = -5;
    assert!(store.record_event(&ancient).is_err());

    store.record_event(&good).unwrap();
    let mut moved = later(&good, EventPhase::Update, T0_MS + 10);
    moved.camera = "porch".into();
    let err = store.record_event(&moved).unwrap_err();
    assert!(err.to_string().contains("camera changed"), "{err}");
    let mut rekind = later(&good, EventPhase::Update, T0_MS + 10);
    rekind.kind = EventKind::Loitering {
        dwell_ms: 1,
        min_dwell_ms: 1,
    };
    assert!(store.record_event(&rekind).is_err());

    let unknown = event(42, "gate", T0_MS, EventPhase::Start).id;
    let err = reader.get(unknown).unwrap_err();
    assert!(matches!(err, StoreError::EventNotFound { .. }));
    assert!(err.to_string().contains(&unknown.to_string()), "{err}");
    assert_eq!(all(&reader).len(), 1);
}

/// Event batches and another connection's writes (segment commits in `vigil run`) interleave without a
/// batch failing: a write transaction that began by reading would get SQLITE_BUSY at once (no busy wait)
/// when the other connection committed in between, and its events would be lost. Seen as "event batch not
/// stored (database is locked)" with 48 cameras in `vigil bench-cameras`.
#[test]
fn event_batches_never_fail_while_another_connection_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let db = db_path(dir.path());
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let written = std::sync::Arc::new(AtomicU64::new(0));
    let writer = {
        let stop = stop.clone();
        let written = written.clone();
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.busy_timeout(std::time::Duration::from_secs(10))
                .unwrap();
            conn.execute_batch("CREATE TABLE IF NOT EXISTS test_noise (x INTEGER)")
                .unwrap();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                conn.execute("INSERT INTO test_noise (x) VALUES (?1)", [n as i64])
                    .unwrap();
                n += 1;
                written.store(n, Ordering::Relaxed);
                // SQLite's write lock is not fair: a connection committing in a tight loop can starve a
                // waiting one past its busy timeout. Segment commits come a few per second per camera;
                // a pause between commits (hundreds a second still) keeps the test about interleaving.
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            n
        })
    };
    // The other connection writes before the batches start (its thread may start late on a busy machine).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while written.load(Ordering::Relaxed) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let before = written.load(Ordering::Relaxed);
    assert!(before > 0, "the other connection never wrote");
    let t0 = 1_700_000_000_000;
    let mut failures = Vec::new();
    // At least 200 rounds, and until the other connection has committed 50 times in between.
    let mut round = 0u64;
    while round < 200
        || (written.load(Ordering::Relaxed) - before < 50 && std::time::Instant::now() < deadline)
    {
        round += 1;
        let batch: Vec<_> = (0..8)
            .map(|i| {
                event(
                    round * 8 + i,
                    &format!("cam{}", i % 3),
                    t0 + (round * 8 + i) as i64 * 10,
                    EventPhase::Start,
                )
            })
            .collect();
        if let Err(e) = store.record_events(&batch) {
            failures.push(format!("round {round}: {e}"));
        }
        // Updates read the stored event before writing.
        let updates: Vec<_> = batch
            .iter()
            .map(|e| later(e, EventPhase::Update, e.start.unix_ms + 5))
            .collect();
        if let Err(e) = store.record_events(&updates) {
            failures.push(format!("round {round} (updates): {e}"));
        }
        // Events come in batches a few milliseconds apart, not back to back (see the writer's pause).
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let other_writes = written.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} batches failed while the other connection wrote {other_writes} rows: {:?}",
        failures.len(),
        round * 2,
        &failures[..failures.len().min(3)]
    );
    assert!(
        other_writes >= 50,
        "the other connection wrote {other_writes} rows while the batches ran"
    );
}

/// Snapshots are encrypted at rest like the recordings: no run of the JPEG on disk, read back whole
/// through the store's key store (also after a master key rotation), refused without it, and never
/// written in the clear when encryption is on but no key store is set.
#[test]
fn snapshots_are_encrypted_at_rest_and_read_back_with_the_keys() {
    let Some((full, crop)) = snapshot_pair(1) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let config = vigil_store::StoreConfig {
        encrypt: true,
        ..store_config(root)
    };
    let keys = || {
        std::sync::Arc::new(
            vigil_keys::KeyStore::open(root, &vigil_keys::MasterSource::Generated).unwrap(),
        )
    };
    let (store, _) = vigil_store::Store::open(config.clone()).unwrap();
    let ev = event(1, "porch", T0_MS, EventPhase::Start);
    store.record_event(&ev).unwrap();
    // No key store: refused, nothing written.
    let e = store.save_snapshot(ev.id, &full, Some(&crop)).unwrap_err();
    assert!(e.to_string().contains("not written in the clear"), "{e}");
    let files = |dir: &Path| -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out
    };
    let snapshots = db_path(root).parent().unwrap().join("snapshots");
    assert!(files(&snapshots).is_empty());
    store.set_keys(keys());
    store.save_snapshot(ev.id, &full, Some(&crop)).unwrap();
    let stored = files(&snapshots);
    assert_eq!(stored.len(), 2, "{stored:?}");
    for p in &stored {
        let b = std::fs::read(p).unwrap();
        assert!(b.starts_with(b"VSNP1"), "{} is not encrypted", p.display());
        // Every 16-byte-aligned piece of the JPEGs: a run of 31 bytes of either would contain one.
        let pieces: std::collections::HashSet<&[u8]> =
            full.chunks_exact(16).chain(crop.chunks_exact(16)).collect();
        let leaked = b.windows(16).any(|w| pieces.contains(w));
        assert!(!leaked, "{} holds JPEG bytes in the clear", p.display());
    }
    let reader = store.event_reader().unwrap();
    assert_eq!(reader.snapshot(ev.id, SnapshotKind::Full).unwrap(), full);
    assert_eq!(reader.snapshot(ev.id, SnapshotKind::Crop).unwrap(), crop);
    let e = vigil_store::EventReader::open(&db_path(root))
        .unwrap()
        .snapshot(ev.id, SnapshotKind::Full)
        .unwrap_err();
    assert!(e.to_string().contains("encrypted"), "{e}");
    drop(reader);
    store.close();
    // After a rotation of the master key the snapshot key opens under the new one.
    let report =
        vigil_keys::KeyStore::rotate(root, &vigil_keys::MasterSource::Generated, None).unwrap();
    assert!(
        report.rewrapped.contains(&"snapshots.key".to_string()),
        "{report:?}"
    );
    let (store, _) = vigil_store::Store::open(config).unwrap();
    store.set_keys(keys());
    let reader = store.event_reader().unwrap();
    assert_eq!(reader.snapshot(ev.id, SnapshotKind::Full).unwrap(), full);
}

/// People's appearances (re-identification) go with the events: event retention deletes those older
/// than the events' retention, the others stay and are still found from an event.
#[test]
fn appearances_are_kept_as_long_as_events() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let now = vigil_core::time::now_unix_ms();
    let day = 86_400_000;
    let appearance = |track: u64, last_ms: i64| vigil_core::Appearance {
        camera: "yard".into(),
        track,
        first_ms: last_ms - 5000,
        last_ms,
        embedding: vec![1.0, 0.0, 0.0],
    };
    store
        .record_appearances(&[appearance(1, now - 40 * day), appearance(2, now - day)])
        .unwrap();
    assert!(
        store
            .record_appearances(&[vigil_core::Appearance {
                embedding: Vec::new(),
                ..appearance(3, now)
            }])
            .is_err(),
        "an empty embedding is refused"
    );
    let report = store.run_event_retention().unwrap();
    assert_eq!(report.deleted_appearances, 1, "{report:?}");
    let mut e = event(9, "yard", now - day - 3000, EventPhase::End);
    e.track_ids = vec![2];
    e.last.unix_ms = now - day - 2000;
    e.end = Some(e.last);
    store.record_event(&e).unwrap();
    let reader = store.event_reader().unwrap();
    let own = reader.appearances_of(e.id).unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].track, 2);
}

/// Object paths: stored when a track ends, read back with every event of that track in order (the
/// lifecycle view), deleted with the events by retention.
#[test]
fn an_events_lifecycle_has_its_objects_path_and_its_other_events_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let now = vigil_core::time::now_unix_ms();
    let day = 86_400_000;
    let path = |track: u64, first_ms: i64| {
        std::sync::Arc::new(vigil_core::TrackPath {
            attributes: Default::default(),
            camera: "yard".into(),
            track,
            class: "person".into(),
            first_ms,
            last_ms: first_ms + 20_000,
            points: (0..50)
                .map(|i| vigil_core::PathPoint {
                    ms: first_ms + i * 400,
                    x: i as f32 / 50.0,
                    y: 0.8,
                    w: 0.1,
                    h: 0.3,
                })
                .collect(),
        })
    };
    let t0 = now - 60_000;
    // What track 5 looked like is kept with its path and with its events.
    let looks = vigil_core::Attributes {
        upper_colour: Some(vigil_core::Colour::Red),
        lower_colour: Some(vigil_core::Colour::Black),
        speed: Some(0.4),
        zones: vec!["Dock".into()],
        ..Default::default()
    };
    let five = std::sync::Arc::new(vigil_core::TrackPath {
        attributes: looks.clone(),
        ..(*path(5, t0)).clone()
    });
    store
        .record_paths(&[five, path(6, t0), path(5, now - 40 * day)])
        .unwrap();
    // Track 5 entered the dock, then crossed the gate; track 6 did something else.
    let ended = |n: u64, track: u64, start: i64, zone: Option<&str>| {
        let mut e = event(n, "yard", start, EventPhase::End);
        e.track_ids = vec![track];
        e.zone = zone.map(str::to_string);
        e.last.unix_ms = start + 3000;
        e.end = Some(e.last);
        e
    };
    let dock = ended(1, 5, t0 + 2_000, Some("Dock"));
    let mut gate = ended(2, 5, t0 + 12_000, None);
    gate.attributes = looks.clone();
    let other = ended(3, 6, t0 + 5_000, Some("Dock"));
    for e in [&gate, &dock, &other] {
        store.record_event(e).unwrap();
    }
    let reader = store.event_reader().unwrap();
    let life = reader.lifecycle(gate.id).unwrap();
    assert_eq!(life.paths.len(), 1, "only this track, near this time");
    assert_eq!(life.paths[0].track, 5);
    assert_eq!(life.paths[0].points.len(), 50);
    assert_eq!(life.paths[0].attributes, looks, "kept with the track");
    assert_eq!(
        reader.get(gate.id).unwrap().event.attributes,
        looks,
        "and its event"
    );
    assert!(reader.get(dock.id).unwrap().event.attributes.is_empty());
    assert!((life.paths[0].points[49].x - 0.98).abs() < 1e-6);
    assert!((life.paths[0].points[49].h - 0.3).abs() < 1e-6);
    // For playback: the paths crossing a range, cut to it (a point either side kept).
    let cut = reader
        .paths_between("yard", t0 + 4_000, t0 + 6_000, 10)
        .unwrap();
    assert_eq!(cut.len(), 2, "tracks 5 and 6");
    let five = cut.iter().find(|p| p.track == 5).unwrap();
    assert_eq!(five.attributes, looks);
    assert_eq!(cut[0].points.first().map(|p| p.ms), Some(t0 + 4_000));
    assert_eq!(cut[0].points.last().map(|p| p.ms), Some(t0 + 6_000));
    assert!(
        reader
            .paths_between("yard", now + 1, now + 2, 10)
            .unwrap()
            .is_empty()
    );
    let order: Vec<_> = life.events.iter().map(|s| s.event.id).collect();
    assert_eq!(
        order,
        vec![dock.id, gate.id],
        "the track's events, oldest first"
    );
    // Retention takes the old path with the old events.
    let report = store.run_event_retention().unwrap();
    assert_eq!(report.deleted_paths, 1, "{report:?}");
    assert!(
        store
            .record_paths(&[std::sync::Arc::new(vigil_core::TrackPath {
                points: Vec::new(),
                ..(*path(7, now)).clone()
            })])
            .is_err(),
        "an empty path is refused"
    );
}
