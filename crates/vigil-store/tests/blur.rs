//! Erasure by blurring (`Store::blur`, invariant R20): segments re-encoded in place frame for frame,
//! encrypted under new keys, their chain re-linked and re-signed and each recorded with its reason;
//! refused, nothing changed, under a hold, over a tampered chain, or when the rewriter returns other
//! frames; an interrupted run finished or undone at start-up.
//!
//! The rewriter here decodes and re-encodes each segment with FFmpeg (libx264, no B-frames) without
//! detecting anything: the store's part (frame times, files, rows, chain, crash safety) is the same
//! whatever is drawn into the pixels, and the face detector lives in crates the store does not depend
//! on. The real one (faces and plates blurred) is tested end to end in
//! `crates/vigil/tests/evidence_cli.rs` `an_erasure_by_blurring_leaves_no_face_in_the_range_and_verifies`.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vigil_core::{RedactionReport, Time90k};
use vigil_keys::{KeyStore, MasterSource};
use vigil_store::{
    BlurReport, Reader, Rewritten, SegmentInfo, SegmentRewriter, Store, StoreConfig, StoreError,
};

const FOREVER: Time90k = Time90k(i64::MAX / 4);

/// Re-encodes every frame at its own time (drops the second frame when `drop_one`).
struct Reencode {
    drop_one: bool,
}

impl SegmentRewriter for Reencode {
    fn rewrite(
        &self,
        _camera: &str,
        input: &Path,
        scratch: &Path,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Rewritten, String> {
        let e = |e: vigil_media::MediaError| e.to_string();
        let drop_one = self.drop_one;
        let frames = vigil_media::writer::reencode_timed(input, scratch, |n, _| {
            progress(0.5);
            !(drop_one && n == 1)
        })
        .map_err(e)?;
        let video = vigil_media::demux::demux_file(scratch).map_err(e)?;
        Ok(Rewritten {
            frames: Some(video.frames),
            report: RedactionReport {
                reencoded: true,
                frames,
                ..Default::default()
            },
        })
    }
}

fn encrypted(root: &Path) -> StoreConfig {
    StoreConfig {
        encrypt: true,
        ..config(root)
    }
}

fn keys(root: &Path) -> Arc<KeyStore> {
    Arc::new(KeyStore::open(root, &MasterSource::Generated).unwrap())
}

/// The store opened as `vigil erase --blur` opens it: keys and site key set.
fn open(root: &Path) -> (Store, vigil_store::ReconcileReport) {
    let (store, opened) = Store::open(encrypted(root)).unwrap();
    let keys = keys(root);
    store.set_site_key(Arc::new(keys.site_key().unwrap()));
    store.set_keys(keys);
    (store, opened)
}

fn segments(root: &Path) -> Vec<SegmentInfo> {
    Reader::open(&root.join("db/index.db"))
        .unwrap()
        .segments("gate", "main", Time90k(0), FOREVER)
        .unwrap()
}

/// Every segment file's bytes, oldest first.
fn files(root: &Path) -> Vec<Vec<u8>> {
    segments(root)
        .iter()
        .map(|s| std::fs::read(&s.file).unwrap())
        .collect()
}

/// Files in the storage directory that are not segments.
fn strays(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join("dir1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".mp4") && n != ".vigil-dir")
        .collect()
}

/// The presentation times of every frame of the whole recording, exported.
fn frame_times(root: &Path) -> Vec<i64> {
    let out = root.join("export.mp4");
    let e = Reader::open(&root.join("db/index.db"))
        .unwrap()
        .with_keys(keys(root))
        .export("gate", "main", Time90k(0), FOREVER)
        .unwrap();
    write_export(&e, &out);
    let mut t: Vec<i64> = vigil_media::demux::demux_file(&out)
        .unwrap()
        .frames
        .iter()
        .map(|f| f.pts.0)
        .collect();
    t.sort_unstable();
    t
}

/// `vigil verify recordings`: the problems, and the segments listed as blurred.
fn verify(root: &Path) -> (Vec<String>, Vec<i64>) {
    let key = keys(root).site_key().unwrap();
    let r = vigil_store::verify_recordings(
        &root.join("db/index.db"),
        &vigil_store::VerifyScope::default(),
        Some(key.public()),
        &mut |_, _| {},
    )
    .unwrap();
    let problems = r
        .problems
        .iter()
        .map(|p| format!("{} {:?} {}", p.fault.as_str(), p.seq, p.detail))
        .collect();
    (problems, r.rewritten.iter().map(|w| w.seq).collect())
}

fn blur(store: &Store, seg: &SegmentInfo, rewriter: &Reencode) -> Result<BlurReport, StoreError> {
    // A second of the segment: the whole segment is rewritten.
    let to = Time90k(seg.start.0 + 90_000);
    store.blur("gate", seg.start, to, "request 7", rewriter, &mut |_| {})
}

#[test]
fn segments_are_blurred_in_place_frame_for_frame_and_verify() {
    if car().is_none() {
        eprintln!(
            "SKIP segments_are_blurred_in_place_frame_for_frame_and_verify: shared footage absent"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    {
        let (store, _) = open(root);
        let rec = store.recorder("gate", "main").unwrap();
        Camera::new(car().unwrap(), T0_MICROS).feed(&rec, 377);
        rec.close();
        store.close();
    }
    let segs = segments(root);
    assert!(segs.len() >= 6, "{} segments", segs.len());
    let times = frame_times(root);
    let before = files(root);
    let real = Reencode { drop_one: false };

    // Refused, nothing changed: under a hold; when the rewriter loses a frame.
    let (store, _) = open(root);
    let hold = store
        .add_hold(
            Some("gate"),
            segs[1].start..Time90k(segs[1].start.0 + 9000),
            "case 9",
        )
        .unwrap();
    let e = blur(&store, &segs[1], &real).unwrap_err();
    assert!(matches!(e, StoreError::FootageHeld { .. }), "{e}");
    store.remove_mark(hold).unwrap();
    let e = blur(&store, &segs[1], &Reencode { drop_one: true }).unwrap_err();
    assert!(e.to_string().contains("frames for the segment's"), "{e}");
    assert!(files(root) == before, "a refused blurring changed a file");
    assert_eq!(strays(root), Vec::<String>::new());

    // From the middle of segment 1 to the middle of segment 2: both re-encoded whole.
    let (s1, s2) = (&segs[1], &segs[2]);
    let from = Time90k(s1.start.0 + s1.duration.0 / 2);
    let to = Time90k(s2.start.0 + s2.duration.0 / 2);
    let mut seen = Vec::new();
    let report = store
        .blur("gate", from, to, "request 7", &real, &mut |p| {
            if let vigil_store::BlurProgress::Segment { index, total, .. } = p {
                seen.push((*index, *total));
            }
        })
        .unwrap();
    store.close();
    eprintln!(
        "{} segments recorded; blurred {} ({} frames, {} -> {} bytes)",
        segs.len(),
        report.rewritten,
        report.frames,
        report.bytes_before,
        report.bytes_after
    );
    assert_eq!(report.rewritten, 2, "{report:?}");
    assert_eq!(
        report.blurred,
        Some((s1.start, Time90k(s2.start.0 + s2.duration.0)))
    );
    assert!(seen.contains(&(1, 2)) && seen.contains(&(2, 2)), "{seen:?}");
    assert_eq!(report.audit_detail()["mode"], "blur");
    let after = files(root);
    for (i, (a, b)) in before.iter().zip(&after).enumerate() {
        assert_eq!(a != b, i == 1 || i == 2, "segment {i}");
    }
    let now = segments(root);
    for (a, b) in segs.iter().zip(&now) {
        assert_eq!(
            (a.start, a.duration, a.frames),
            (b.start, b.duration, b.frames),
            "times and frame counts are kept"
        );
    }
    assert_eq!(frame_times(root), times, "every frame at its time");
    assert_eq!(verify(root), (vec![], vec![s1.id_seq(), s2.id_seq()]));

    // Killed between the commit and the rename: the row describes `<name>.blurring`, the original is
    // still at `<name>`. Killed while writing another copy: a torn `.blurring`, nothing committed.
    let s4 = &segs[4];
    let original4 = std::fs::read(&s4.file).unwrap();
    let (store, _) = open(root);
    blur(&store, s4, &real).unwrap();
    store.close();
    let copy4 = PathBuf::from(format!("{}.blurring", s4.file.display()));
    std::fs::rename(&s4.file, &copy4).unwrap();
    std::fs::write(&s4.file, &original4).unwrap();
    let copy5 = PathBuf::from(format!("{}.blurring", segs[5].file.display()));
    std::fs::write(&copy5, &original4[..3000]).unwrap();
    let (store, opened) = open(root);
    store.close();
    assert_eq!(opened.blurs_finished, vec![s4.file.clone()]);
    assert_eq!(opened.blurs_undone, vec![copy5]);
    assert!(opened.damaged.is_empty(), "{opened}");
    assert_eq!(strays(root), Vec::<String>::new());
    assert!(std::fs::read(&s4.file).unwrap() != original4);
    assert!(files(root)[5] == before[5]);
    assert_eq!(frame_times(root), times);
    assert_eq!(
        verify(root),
        (vec![], vec![s1.id_seq(), s2.id_seq(), s4.id_seq()])
    );

    // A tampered recording is refused, naming it, and nothing is changed.
    let mut edited = std::fs::read(&segs[0].file).unwrap();
    let n = edited.len();
    edited[n - 100] ^= 1;
    std::fs::write(&segs[0].file, &edited).unwrap();
    let snapshot = files(root);
    let (store, _) = open(root);
    let e = blur(&store, &segs[3], &real).unwrap_err();
    store.close();
    assert!(matches!(e, StoreError::TamperedChain { .. }), "{e}");
    assert!(e.to_string().contains("file-edited"), "{e}");
    assert!(files(root) == snapshot, "a refused blurring changed a file");
}

/// The sequence number of a segment from its file name (`<stream>-<seq>.mp4`).
trait IdSeq {
    fn id_seq(&self) -> i64;
}

impl IdSeq for SegmentInfo {
    fn id_seq(&self) -> i64 {
        let name = self
            .file
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        name.rsplit('-').next().unwrap().parse().unwrap()
    }
}

/// Waits until the recorder's writer has taken in `n` frames.
fn drained(store: &Store, n: u64) {
    for _ in 0..500 {
        let st = store.status().unwrap();
        if st.recorders[0].frames_in == n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the recorder did not drain its queue");
}

#[test]
fn blurring_while_the_camera_records_refuses_the_open_segment_and_keeps_the_chain() {
    if car().is_none() {
        eprintln!(
            "SKIP blurring_while_the_camera_records_refuses_the_open_segment_and_keeps_the_chain: \
             shared footage absent"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (store, _) = open(root);
    let rec = store.recorder("gate", "main").unwrap();
    let mut camera = Camera::new(car().unwrap(), T0_MICROS);
    camera.feed(&rec, 200);
    drained(&store, 200);
    let done = segments(root);
    assert!(done.len() >= 3, "{} segments", done.len());
    let open_from = done
        .last()
        .map(|s| Time90k(s.start.0 + s.duration.0))
        .unwrap();
    let real = Reencode { drop_one: false };

    // A range reaching into the segment being written: refused before anything is done.
    let e = store
        .blur(
            "gate",
            done[0].start,
            Time90k(open_from.0 + 9000),
            "request 8",
            &real,
            &mut |_| {},
        )
        .unwrap_err();
    assert!(matches!(e, StoreError::StillRecording { .. }), "{e}");
    assert!(e.to_string().contains("still being recorded"), "{e}");
    let pre = store.blur_precheck("gate", done[0].start, open_from);
    assert!(pre.is_ok(), "{pre:?}");

    // The finished ones are blurred while frames keep arriving: each new segment links to the chain as
    // re-linked, and nothing is lost.
    let report = std::thread::scope(|s| {
        let feeder = s.spawn(|| {
            for _ in 0..177 {
                rec.append(&camera.next_frame()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
        let r = store.blur(
            "gate",
            done[0].start,
            open_from,
            "request 8",
            &real,
            &mut |_| {},
        );
        feeder.join().unwrap();
        r
    })
    .unwrap();
    assert_eq!(report.rewritten, done.len(), "{report:?}");
    rec.close();
    store.close();
    assert_eq!(frame_times(root).len(), 377, "every frame recorded");
    let (problems, blurred) = verify(root);
    assert_eq!(problems, Vec::<String>::new());
    assert_eq!(blurred, done.iter().map(IdSeq::id_seq).collect::<Vec<_>>());
    assert!(segments(root).len() > done.len());
}
