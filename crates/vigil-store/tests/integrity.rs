//! Recording integrity (docs/design/recording.md R15, R16): segment hashes, the hash chain per stream and
//! signed chain heads, checked by `verify_recordings` as `vigil verify recordings` does. Every kind of
//! tampering is named, and what the store deletes on purpose is not.

mod common;
#[path = "event_helpers/mod.rs"]
mod event_helpers;

use common::*;
use std::path::Path;
use std::sync::Arc;
use vigil_core::Time90k;
use vigil_keys::{KeyStore, MasterSource, PublicKey};
use vigil_store::{IntegrityFault, IntegrityReport, Reader, Store, VerifyScope, verify_recordings};

const FOREVER: Time90k = Time90k(i64::MAX / 4);

/// Records 13 segments of camera "gate" with the site key of `root`, closes the store; returns the key.
fn record_signed(root: &Path) -> PublicKey {
    let keys = KeyStore::open(root, &MasterSource::Generated).unwrap();
    let site = Arc::new(keys.site_key().unwrap());
    let public = *site.public();
    let (store, _) = Store::open(config(root)).unwrap();
    store.set_site_key(site);
    let rec = store.recorder("gate", "main").unwrap();
    Camera::new(car().unwrap(), T0_MICROS).feed(&rec, 377 * 2);
    rec.close();
    store.close();
    public
}

fn verify(root: &Path, key: &PublicKey) -> IntegrityReport {
    verify_recordings(
        &root.join("db/index.db"),
        &VerifyScope::default(),
        Some(key),
        &mut |_, _| {},
    )
    .unwrap()
}

fn faults(r: &IntegrityReport) -> Vec<(IntegrityFault, Option<i64>)> {
    let mut v: Vec<_> = r.problems.iter().map(|p| (p.fault, p.seq)).collect();
    v.sort_by_key(|(f, s)| (*s, f.as_str()));
    v
}

fn db(root: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(root.join("db/index.db")).unwrap()
}

/// (seq, file) of every segment, oldest first.
fn files(root: &Path) -> Vec<(i64, std::path::PathBuf)> {
    let reader = Reader::open(&root.join("db/index.db")).unwrap();
    let infos = reader
        .segments("gate", "main", Time90k(0), FOREVER)
        .unwrap();
    let seals = reader.seals("gate", "main", Time90k(0), FOREVER).unwrap();
    seals
        .iter()
        .zip(infos)
        .map(|(s, i)| (s.seq, i.file))
        .collect()
}

#[test]
fn untouched_recordings_verify_and_every_tampering_is_named() {
    if car().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let key = record_signed(root);
    let clean = verify(root, &key);
    assert!(clean.problems.is_empty(), "{:?}", clean.problems);
    assert_eq!(clean.segments, 13);
    assert!(clean.heads >= 1, "no chain head was signed");
    assert_eq!(clean.unsigned, 0, "closing the store signs the newest head");
    assert_eq!(clean.before_integrity, 0);

    let segs = files(root);
    let seq = |i: usize| segs[i].0;
    // A flipped byte in one file.
    let mut bytes = std::fs::read(&segs[2].1).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&segs[2].1, bytes).unwrap();
    // Another file deleted.
    std::fs::remove_file(&segs[4].1).unwrap();
    // An index row edited: the segment claims to start a second later.
    db(root)
        .execute(
            "UPDATE segments SET start_90k = start_90k + 90000 WHERE seq = ?1",
            [seq(6)],
        )
        .unwrap();
    // A segment inserted: another one's file and row copied in under a new number.
    let copy = segs[8].1.with_file_name("inserted.mp4");
    std::fs::copy(&segs[8].1, &copy).unwrap();
    db(root)
        .execute(
            "INSERT INTO segments (stream_id, dir_id, seq, file_name, start_90k, duration_90k,
                media_duration_90k, bytes, frames, key_frames, sample_entry_id, checksum, run_start,
                recovered, reordered, sha256, chain, prev_seq)
             SELECT stream_id, dir_id, 1000, 'inserted.mp4', start_90k + 90000000, duration_90k,
                media_duration_90k, bytes, frames, key_frames, sample_entry_id, checksum, run_start,
                recovered, reordered, sha256, chain, prev_seq FROM segments WHERE seq = ?1",
            [seq(8)],
        )
        .unwrap();
    db(root)
        .execute(
            "INSERT INTO segment_frames (segment_id, frame_index)
             SELECT (SELECT id FROM segments WHERE seq = 1000), frame_index FROM segment_frames
             WHERE segment_id = (SELECT id FROM segments WHERE seq = ?1)",
            [seq(8)],
        )
        .unwrap();
    // A segment removed with its row, leaving no record.
    std::fs::remove_file(&segs[10].1).unwrap();
    db(root)
        .execute("DELETE FROM segments WHERE seq = ?1", [seq(10)])
        .unwrap();

    let r = verify(root, &key);
    let found = faults(&r);
    for expected in [
        (IntegrityFault::FileEdited, Some(seq(2))),
        (IntegrityFault::FileMissing, Some(seq(4))),
        (IntegrityFault::RowEdited, Some(seq(6))),
        (IntegrityFault::Inserted, Some(1000)),
        (IntegrityFault::Removed, Some(seq(10))),
    ] {
        assert!(
            found.contains(&expected),
            "{expected:?} not named in {found:?}"
        );
    }
    // Nothing else is blamed: untouched segments verify.
    for (f, s) in &found {
        assert!(
            [seq(2), seq(4), seq(6), 1000, seq(10)].contains(&s.unwrap_or(-1)),
            "an untouched segment was blamed: {f:?} {s:?} in {found:?}"
        );
    }
    // Each problem names the file concerned where there is one.
    let edited = r
        .problems
        .iter()
        .find(|p| p.fault == IntegrityFault::FileEdited)
        .unwrap();
    assert_eq!(edited.file.as_deref(), Some(segs[2].1.as_path()));
    assert_eq!(edited.camera, "gate");
}

#[test]
fn a_rewritten_chain_fails_its_signed_head_and_a_forged_signature_is_named() {
    if car().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let key = record_signed(root);
    let (head_seq, _): (i64, i64) = db(root)
        .query_row(
            "SELECT seq, signed_ms FROM chain_heads ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    // Someone who rewrites the stored links (to hide an edit) cannot sign the new head.
    db(root)
        .execute(
            "UPDATE segments SET chain = zeroblob(32) WHERE seq = ?1",
            [head_seq],
        )
        .unwrap();
    let found = faults(&verify(root, &key));
    assert!(
        found.contains(&(IntegrityFault::HeadMismatch, Some(head_seq))),
        "{found:?}"
    );
    // A head signed with another key (or a tampered signature) does not verify.
    db(root)
        .execute(
            "UPDATE chain_heads SET signature = zeroblob(64) WHERE seq = ?1",
            [head_seq],
        )
        .unwrap();
    let found = faults(&verify(root, &key));
    assert!(
        found.contains(&(IntegrityFault::BadSignature, Some(head_seq))),
        "{found:?}"
    );
    // And checked with the wrong site key, every head fails.
    let other = *vigil_keys::SiteKey::from_seed(&[9; 32]).unwrap().public();
    let r = verify(root, &other);
    assert_eq!(
        r.problems
            .iter()
            .filter(|p| p.fault == IntegrityFault::BadSignature)
            .count() as u64,
        r.heads
    );
}

#[test]
fn retention_deletions_verify_and_files_missing_at_start_up_are_named() {
    if car().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let key = record_signed(root);
    let segs = files(root);
    let total: u64 = segs
        .iter()
        .map(|(_, f)| std::fs::metadata(f).unwrap().len())
        .sum();
    // Retention deletes the oldest half: recorded, not a fault.
    let mut cfg = config(root);
    cfg.dirs[0].max_bytes = Some(total / 2);
    {
        let (store, _) = Store::open(cfg).unwrap();
        let report = store.run_retention().unwrap();
        assert!(report.deleted_segments > 0);
        store.close();
    }
    let r = verify(root, &key);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert!(r.segments < 13 && r.segments > 0);
    // Pruned: only the newest deletion stays as the anchor of the oldest remaining segment.
    let anchors: i64 = db(root)
        .query_row("SELECT COUNT(*) FROM removed_segments", [], |r| r.get(0))
        .unwrap();
    assert_eq!(anchors, 1);

    // A file deleted behind the store's back: start-up removes its row but records why.
    let segs = files(root);
    let (gone_seq, gone) = segs[segs.len() / 2].clone();
    std::fs::remove_file(&gone).unwrap();
    {
        let (store, report) = Store::open(config(root)).unwrap();
        assert_eq!(report.missing.len(), 1);
        store.close();
    }
    let r = verify(root, &key);
    let found = faults(&r);
    assert_eq!(found, vec![(IntegrityFault::Removed, Some(gone_seq))]);
    assert!(r.problems[0].detail.contains("missing"), "{:?}", r.problems);
}

#[test]
fn scope_by_camera_and_time_and_rows_without_a_hash_after_hashed_ones_are_inserted() {
    if car().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let key = record_signed(root);
    let segs = files(root);
    // A row added by hand without hash or link, as someone unaware of the chain would.
    db(root)
        .execute(
            "UPDATE segments SET sha256 = NULL, chain = NULL WHERE seq = ?1",
            [segs[12].0],
        )
        .unwrap();
    let found = faults(&verify(root, &key));
    assert!(
        found.contains(&(IntegrityFault::Inserted, Some(segs[12].0))),
        "{found:?}"
    );
    // The first few seconds only: the tampered segment is outside the range.
    let scoped = verify_recordings(
        &root.join("db/index.db"),
        &VerifyScope {
            camera: Some("gate".into()),
            from_90k: Some(T0.0),
            to_90k: Some(T0.0 + 4 * 90_000),
            ..Default::default()
        },
        Some(&key),
        &mut |_, _| {},
    )
    .unwrap();
    assert!(scoped.problems.is_empty(), "{:?}", scoped.problems);
    assert!(
        scoped.segments >= 1 && scoped.segments <= 3,
        "{}",
        scoped.segments
    );
    let unknown = verify_recordings(
        &root.join("db/index.db"),
        &VerifyScope {
            camera: Some("porch".into()),
            ..Default::default()
        },
        Some(&key),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(unknown.to_string().contains("porch"), "{unknown}");
}

/// An erasure request deletes the segments over a range, whole, says exactly what went, is recorded in
/// the chain so that verification reports it as an erasure and not as tampering, and never touches
/// footage under an evidence hold.
#[test]
fn erasure_deletes_whole_segments_reports_them_and_verifies() {
    if car().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let key = record_signed(root);
    let (store, _) = Store::open(config(root)).unwrap();
    let before = files(root);
    let seg = |i: usize| {
        Reader::open(&root.join("db/index.db"))
            .unwrap()
            .segments("gate", "main", Time90k(0), FOREVER)
            .unwrap()[i]
            .clone()
    };
    let (s2, s3, s4) = (seg(2), seg(3), seg(4));
    // A hold on segment 0: an erasure reaching it is refused whole.
    store
        .add_hold(
            Some("gate"),
            seg(0).start..Time90k(seg(0).start.0 + 90_000),
            "case 9",
        )
        .unwrap();
    let e = store
        .erase("gate", seg(0).start, s2.start, "request 41")
        .unwrap_err();
    assert!(e.to_string().contains("evidence hold"), "{e}");
    assert_eq!(
        files(root).len(),
        before.len(),
        "a refused erasure erased something"
    );
    // From the middle of segment 2 to the middle of segment 4: 2, 3 and 4 go, whole.
    let from = Time90k(s2.start.0 + s2.duration.0 / 2);
    let to = Time90k(s4.start.0 + s4.duration.0 / 2);
    // Events of the camera: one inside the range with its snapshot files, one before it, one of
    // another camera at the same time. Only the first goes, files and all.
    let ms = |t: Time90k| t.0 / 90;
    let phase = vigil_core::EventPhase::End;
    let inside = event_helpers::event(1, "gate", ms(s3.start), phase);
    let before_range = event_helpers::event(2, "gate", ms(seg(0).start) + 100, phase);
    let other_camera = event_helpers::event(3, "porch", ms(s3.start), phase);
    for e in [&inside, &before_range, &other_camera] {
        store.record_event(e).unwrap();
    }
    let snapshot_files = event_helpers::snapshot_pair(1).map(|(full, crop)| {
        store.save_snapshot(inside.id, &full, Some(&crop)).unwrap();
        let reader = store.event_reader().unwrap();
        [
            reader
                .snapshot_path(inside.id, vigil_store::SnapshotKind::Full)
                .unwrap(),
            reader
                .snapshot_path(inside.id, vigil_store::SnapshotKind::Crop)
                .unwrap(),
        ]
    });
    let report = store.erase("gate", from, to, "request 42").unwrap();
    assert_eq!(report.events, 1, "{report:?}");
    let events = store.event_reader().unwrap();
    assert!(
        events.get(inside.id).is_err(),
        "the event in the range stayed"
    );
    assert!(events.get(before_range.id).is_ok() && events.get(other_camera.id).is_ok());
    if let Some(files) = snapshot_files {
        assert_eq!(report.snapshots, 2);
        for f in files {
            assert!(!f.exists(), "{} stayed", f.display());
        }
    }
    let detail = report.audit_detail();
    assert_eq!(detail["events"], 1);
    assert_eq!(detail["segments"].as_array().map(Vec::len), Some(3));
    assert_eq!(detail["reason"], "request 42");
    assert_eq!(report.segments.len(), 3, "{report:?}");
    assert_eq!(
        report.erased,
        Some((s2.start, Time90k(s4.start.0 + s4.duration.0)))
    );
    assert_eq!(report.bytes, s2.bytes + s3.bytes + s4.bytes);
    for f in &before[2..5] {
        assert!(!f.1.exists(), "{} still there", f.1.display());
    }
    let e = store
        .reader()
        .unwrap()
        .export("gate", "main", from, to)
        .unwrap_err();
    assert!(
        matches!(e, vigil_store::StoreError::NoRecording { .. }),
        "{e}"
    );
    store.close();
    let r = verify(root, &key);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.erased, 3);
    let reason: String = db(root)
        .query_row(
            "SELECT reason FROM removed_segments WHERE seq = ?1",
            [before[3].0],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reason, "erasure: request 42");
}
