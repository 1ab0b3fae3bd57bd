//! Erasure by blurring (`vigil erase --blur`): the footage of a camera over a time range stays, but every
//! face and licence plate in it is blurred, and the camera's privacy masks blacked out, in the recording
//! itself, so that later playback and exports no longer show the person.
//!
//! Segments are the unit, as for erasure by deletion (`erasure.rs`): every segment overlapping the range
//! is re-encoded whole by a [`SegmentRewriter`] (plugged in by the binary: the store links no codec).
//! The new frames keep the segment's decode times, so its start, duration, frame count and every frame's
//! wall-clock time stay the same, and each new frame is shown at the recorded time of the same rank. A
//! segment where nothing needed changing (no face, plate or mask) stays as recorded.
//!
//! The rewrite follows the order of `rewrite.rs` (invariant R20 of docs/design/recording.md): refused,
//! nothing changed, under an evidence hold or when the camera's chains fail their check; each new file
//! written beside the old one as `<name>.blurring` with the recorder's own writer (encrypted under a new
//! data key when the original was or the store encrypts) and fsynced; then per stream one transaction
//! with the rows (bytes, checksums, frame tables, sample entry, key frames), keys, a record in
//! `rewritten_segments` with the reason, the chain re-linked and its changed signed heads signed again;
//! then the renames (`commit.rs`). Start-up reconciliation finishes or undoes an interrupted run.

mod commit;

use crate::crypt::SegmentKey;
use crate::erasure::unheld_rows;
use crate::error::{db_err, io_err};
use crate::frame_index::FrameIndex;
use crate::rewrite::{BLURRING_SUFFIX, copy_path, remove_if_there, verify_streams};
use crate::segment_file::{FinishedFile, SegmentHeader, SegmentReading, SegmentWriter};
use crate::store::{DirState, Inner};
use crate::{Store, StoreError};
use commit::{commit_batch, discard};
use serde::Serialize;
use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use vigil_core::{EncodedFrame, RedactionReport, Time90k, VideoParams};
use vigil_mp4::fragment::FragmentSample;

/// What `rewritten_segments.kind` says for a blurred segment.
pub(crate) const KIND_BLUR: &str = "blur";
/// A stream's rewritten segments are committed (and its chain re-linked) at least this often.
const BATCH_SEGMENTS: usize = 64;

/// Re-encodes recorded segments for an erasure by blurring: every face and licence plate blurred, the
/// camera's privacy masks blacked out (`vigil_pipeline::redact`, plugged in by the binary so that the
/// store links no codec).
pub trait SegmentRewriter: Send + Sync {
    /// Whether it can run at all (its models are there), said before anything is changed; may take a
    /// while the first time (models loaded).
    fn ready(&self) -> Result<(), String> {
        Ok(())
    }

    /// Rewrites `input`, a standard MP4 holding exactly one recorded segment of `camera`; `scratch` is a
    /// path the rewriter may write a file to (the caller removes it). Reports progress (0..1).
    fn rewrite(
        &self,
        camera: &str,
        input: &Path,
        scratch: &Path,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Rewritten, String>;
}

/// What a [`SegmentRewriter`] made of one segment.
#[derive(Debug, Clone)]
pub struct Rewritten {
    /// The new frames in decode order, one for each of the input's, with their codec parameters and
    /// their presentation times on the input's timeline; `None` when nothing needed changing (no face,
    /// plate or mask): the segment then stays as recorded.
    pub frames: Option<Vec<EncodedFrame>>,
    /// What was found and blurred.
    pub report: RedactionReport,
}

/// One segment of a blurring.
#[derive(Debug, Clone, Serialize)]
pub struct BlurredSegment {
    /// Stream name.
    pub stream: String,
    /// Wall-clock start (90 kHz since the epoch); unchanged.
    pub start: Time90k,
    /// Wall-clock end; unchanged.
    pub end: Time90k,
    /// The file (name in its storage directory).
    pub file: String,
    /// Whether it was rewritten (`false`: nothing to blur in it, it stays as recorded).
    pub rewritten: bool,
    /// File length before.
    pub bytes_before: u64,
    /// File length after.
    pub bytes_after: u64,
    /// Frames (the same before and after).
    pub frames: u64,
    /// Frames where at least one face was blurred.
    pub frames_with_faces: u64,
    /// Face detections blurred.
    pub faces: u64,
    /// Frames where at least one plate was blurred.
    pub frames_with_plates: u64,
    /// Plate detections blurred.
    pub plates: u64,
}

/// What an erasure by blurring did.
#[derive(Debug, Clone, Serialize)]
pub struct BlurReport {
    /// Always `"blur"` (an [`crate::ErasureReport`] is the `"delete"` kind).
    pub mode: &'static str,
    /// Camera.
    pub camera: String,
    /// The range asked for.
    pub requested: (Time90k, Time90k),
    /// The range really covered (whole segments), when anything was recorded in it.
    pub blurred: Option<(Time90k, Time90k)>,
    /// Every segment of the range, oldest first, rewritten or not.
    pub segments: Vec<BlurredSegment>,
    /// Segments left as they were because they are marked damaged (never served): file and reason.
    pub skipped: Vec<(String, String)>,
    /// Segments rewritten.
    pub rewritten: usize,
    /// Their bytes before.
    pub bytes_before: u64,
    /// Their bytes after.
    pub bytes_after: u64,
    /// Frames looked at.
    pub frames: u64,
    /// Frames where at least one face was blurred.
    pub frames_with_faces: u64,
    /// Face detections blurred.
    pub faces: u64,
    /// Frames where at least one plate was blurred.
    pub frames_with_plates: u64,
    /// Plate detections blurred.
    pub plates: u64,
    /// Privacy masks blacked out in every frame.
    pub masks: usize,
    /// The encoder of the new video, when anything was rewritten.
    pub encoder: Option<String>,
    /// Signed chain heads signed again over their new links.
    pub heads_resigned: u64,
    /// Events of the camera in the range deleted, with their snapshots (stills of the person, unblurred).
    pub events: usize,
    /// Snapshot files deleted.
    pub snapshots: usize,
    /// Why (recorded with each rewritten segment).
    pub reason: String,
}

/// Progress of [`Store::blur`], for its callback.
#[derive(Debug)]
pub enum BlurProgress<'a> {
    /// The camera's chains are being verified first: bytes hashed, of `total`.
    Verifying {
        /// Bytes hashed so far.
        hashed: u64,
        /// Bytes to hash.
        total: u64,
    },
    /// Segment `index` (from 1) of `total` is being re-encoded; `fraction` of it done.
    Segment {
        /// Its place, from 1.
        index: usize,
        /// Segments in the range.
        total: usize,
        /// Its file.
        file: &'a Path,
        /// How much of it is done (0..1).
        fraction: f64,
    },
}

/// A segment of the range.
struct Target {
    id: i64,
    stream_id: i64,
    camera_id: i64,
    seq: i64,
    dir_id: i64,
    file_name: String,
    bytes: u64,
    checksum: u32,
    sha256: Option<Vec<u8>>,
    damaged: Option<String>,
    start: i64,
    end: i64,
    stream: String,
    encrypted: bool,
}

/// A segment's blurred copy, written and waiting for its batch's commit.
struct Copy<'a> {
    target: &'a Target,
    dir: &'a DirState,
    tmp: PathBuf,
    file: FinishedFile,
    params: Arc<VideoParams>,
    /// The new data key and its id, when encrypted.
    key: Option<[u8; 32]>,
    key_id: Option<[u8; 8]>,
}

impl Store {
    /// Whether [`Store::blur`] of `camera` over `[from, to)` would start: not under an evidence hold
    /// ([`StoreError::FootageHeld`]) and not reaching into a segment still being recorded
    /// ([`StoreError::StillRecording`]). For a caller that answers before running the blur in the
    /// background; `blur` checks again.
    pub fn blur_precheck(
        &self,
        camera: &str,
        from: Time90k,
        to: Time90k,
    ) -> Result<(), StoreError> {
        if to <= from {
            return Err(StoreError::EmptyRange { from, to });
        }
        let inner = self.inner();
        let open = {
            let st = crate::alerts::lock(&inner.state);
            st.recorders
                .values()
                .filter(|r| r.camera == camera && r.running.load(Ordering::Relaxed))
                .map(|r| r.open_since.load(Ordering::Relaxed))
                .filter(|&since| since != 0 && since < to.0)
                .min()
        };
        if let Some(since) = open {
            return Err(StoreError::StillRecording {
                camera: camera.to_string(),
                since: crate::evidence::rfc3339(Time90k(since)),
                segment_seconds: inner.config.segment_seconds.ceil() as u32,
            });
        }
        let e = db_err(&inner.db_path);
        let conn = inner.db();
        unheld_rows(&conn, camera, from, to).map_err(|err| err.into_store(&e))?;
        Ok(())
    }

    /// Blurs every face and licence plate, and blacks out the privacy masks, in the recorded footage of
    /// `camera` (all its streams) overlapping `[from, to)`, whole segments at a time, with `rewriter`;
    /// records `reason` with each segment rewritten. Refused, nothing changed, when footage in the range
    /// is under an evidence hold ([`StoreError::FootageHeld`]), when the camera's recordings fail their
    /// integrity check ([`StoreError::TamperedChain`]), or when a segment is in a storage directory that
    /// is offline. Needs the site key ([`Store::set_site_key`]) to sign the re-linked chain, and the
    /// key store ([`Store::set_keys`]) when segments are encrypted. `progress` hears of the check and of
    /// each segment. Only finished segments are rewritten: a range reaching into the segment a recorder
    /// is writing is refused ([`StoreError::StillRecording`]); recording may go on meanwhile.
    pub fn blur(
        &self,
        camera: &str,
        from: Time90k,
        to: Time90k,
        reason: &str,
        rewriter: &dyn SegmentRewriter,
        progress: &mut dyn FnMut(&BlurProgress<'_>),
    ) -> Result<BlurReport, StoreError> {
        if to <= from {
            return Err(StoreError::EmptyRange { from, to });
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(StoreError::Config(
                "an erasure needs a reason (it is recorded)".into(),
            ));
        }
        self.blur_precheck(camera, from, to)?;
        let inner = self.inner();
        let e = db_err(&inner.db_path);
        let site = self.site_key().ok_or_else(|| {
            StoreError::Config(
                "blurring re-signs the recording chain: the store has no site key".into(),
            )
        })?;
        let keys = crate::store::lock_keys(inner);
        let targets = {
            let conn = inner.db();
            let (_, rows) =
                unheld_rows(&conn, camera, from, to).map_err(|err| err.into_store(&e))?;
            let ids: Vec<i64> = rows.iter().map(|(v, _, _)| v.id).collect();
            load_targets(&conn, &ids).map_err(&e)?
        };
        let mut report = BlurReport {
            mode: "blur",
            camera: camera.to_string(),
            requested: (from, to),
            blurred: match (targets.first(), targets.iter().map(|t| t.end).max()) {
                (Some(first), Some(end)) => Some((Time90k(first.start), Time90k(end))),
                _ => None,
            },
            segments: Vec::new(),
            skipped: Vec::new(),
            rewritten: 0,
            bytes_before: 0,
            bytes_after: 0,
            frames: 0,
            frames_with_faces: 0,
            faces: 0,
            frames_with_plates: 0,
            plates: 0,
            masks: 0,
            encoder: None,
            heads_resigned: 0,
            events: 0,
            snapshots: 0,
            reason: reason.to_string(),
        };
        let mut work: Vec<(&Target, &DirState)> = Vec::new();
        for t in &targets {
            if let Some(why) = &t.damaged {
                report.skipped.push((t.file_name.clone(), why.clone()));
                continue;
            }
            let dir = inner.dir_index(t.dir_id).map(|i| &inner.dirs[i]);
            match dir {
                Some(d) if d.online.load(Ordering::Relaxed) => work.push((t, d)),
                _ => {
                    return Err(StoreError::Config(format!(
                        "segment {} of camera {camera} is in a storage directory that is not online; \
                         nothing was blurred",
                        t.file_name
                    )));
                }
            }
            if t.encrypted && keys.is_none() {
                return Err(StoreError::Crypto(format!(
                    "{} is encrypted: blurring it needs the key store",
                    t.file_name
                )));
            }
        }
        let streams: HashSet<(String, String)> = work
            .iter()
            .map(|(t, _)| (camera.to_string(), t.stream.clone()))
            .collect();
        verify_streams(&inner.db_path, &streams, &site, &mut |hashed, total| {
            progress(&BlurProgress::Verifying { hashed, total });
            ControlFlow::Continue(())
        })?;
        let scratch = ScratchDir::new()?;
        let reader = self.reader()?;
        let total = work.len();
        let mut batch: Vec<Copy<'_>> = Vec::new();
        for (i, &(t, dir)) in work.iter().enumerate() {
            let path = dir.path.join(&t.file_name);
            let mut fraction = |f: f64| {
                progress(&BlurProgress::Segment {
                    index: i + 1,
                    total,
                    file: &path,
                    fraction: f,
                })
            };
            fraction(0.0);
            let made = rewrite_one(
                inner,
                &reader,
                rewriter,
                camera,
                t,
                dir,
                &scratch,
                &mut fraction,
            );
            let (copy, redaction) = match made {
                Ok(m) => m,
                Err(err) => {
                    discard(&batch);
                    return Err(err);
                }
            };
            fraction(1.0);
            report.add(t, copy.as_ref().map(|c| c.file.bytes), &redaction);
            batch.extend(copy);
            let next_stream = work.get(i + 1).map(|(n, _)| n.stream_id);
            if !batch.is_empty()
                && (next_stream != Some(t.stream_id) || batch.len() >= BATCH_SEGMENTS)
            {
                report.heads_resigned += commit_batch(
                    inner,
                    camera,
                    from,
                    to,
                    reason,
                    &site,
                    keys.as_deref(),
                    &mut batch,
                )?;
            }
        }
        // The events of the range go, with their snapshots: those stills show the person as recorded.
        let camera_id: Option<i64> = inner
            .db()
            .query_row("SELECT id FROM cameras WHERE name = ?1", [camera], |r| {
                r.get(0)
            })
            .ok();
        if let Some(camera_id) = camera_id {
            let (lo, hi) = report
                .blurred
                .map_or((from, to), |(a, b)| (a.min(from), b.max(to)));
            (report.events, report.snapshots) =
                inner.erase_events(camera_id, lo.0.div_euclid(90), hi.0.div_euclid(90))?;
        }
        if report.rewritten > 0 {
            tracing::warn!(
                camera,
                segments = report.rewritten,
                faces = report.faces,
                plates = report.plates,
                reason,
                "footage blurred on request"
            );
        }
        Ok(report)
    }
}

impl BlurReport {
    /// Accounts for segment `t`: rewritten into `bytes_after` bytes, or left as it was (`None`).
    fn add(&mut self, t: &Target, bytes_after: Option<u64>, r: &RedactionReport) {
        self.segments.push(BlurredSegment {
            stream: t.stream.clone(),
            start: Time90k(t.start),
            end: Time90k(t.end),
            file: t.file_name.clone(),
            rewritten: bytes_after.is_some(),
            bytes_before: t.bytes,
            bytes_after: bytes_after.unwrap_or(t.bytes),
            frames: r.frames,
            frames_with_faces: r.frames_with_faces,
            faces: r.faces,
            frames_with_plates: r.frames_with_plates,
            plates: r.plates,
        });
        if let Some(after) = bytes_after {
            self.rewritten += 1;
            self.bytes_before += t.bytes;
            self.bytes_after += after;
        }
        self.frames += r.frames;
        self.frames_with_faces += r.frames_with_faces;
        self.faces += r.faces;
        self.frames_with_plates += r.frames_with_plates;
        self.plates += r.plates;
        self.masks = self.masks.max(r.masks);
        if self.encoder.is_none() {
            self.encoder.clone_from(&r.encoder);
        }
    }

    /// The report as the audit log keeps it: the `footage.erase` action with `"mode": "blur"`, so the
    /// list of erasures shows it beside deletions; the fields of [`crate::ErasureReport::audit_detail`]
    /// (`erased` is the range blurred, `segments` the segments rewritten, `bytes` their new size, no
    /// events or snapshots deleted) and what was blurred.
    pub fn audit_detail(&self) -> serde_json::Value {
        use crate::evidence::rfc3339;
        let range = self.blurred.map(|(a, b)| [rfc3339(a), rfc3339(b)]);
        serde_json::json!({
            "mode": self.mode,
            "from": rfc3339(self.requested.0),
            "to": rfc3339(self.requested.1),
            "erased": range,
            "blurred": range,
            "segments": self.segments.iter().map(|s| serde_json::json!({
                "stream": s.stream,
                "start": rfc3339(s.start),
                "end": rfc3339(s.end),
                "file": s.file,
                "rewritten": s.rewritten,
                "bytes": s.bytes_after,
                "bytes_before": s.bytes_before,
                "frames": s.frames,
                "faces": s.faces,
                "plates": s.plates,
            })).collect::<Vec<_>>(),
            "skipped": self.skipped.iter().map(|(f, why)| serde_json::json!({"file": f, "reason": why}))
                .collect::<Vec<_>>(),
            "rewritten": self.rewritten,
            "bytes": self.bytes_after,
            "bytes_before": self.bytes_before,
            "frames": self.frames,
            "frames_with_faces": self.frames_with_faces,
            "faces": self.faces,
            "frames_with_plates": self.frames_with_plates,
            "plates": self.plates,
            "masks": self.masks,
            "encoder": self.encoder,
            "events": self.events,
            "snapshots": self.snapshots,
            "reason": self.reason,
        })
    }
}

/// The rows of segments `ids`, oldest first.
fn load_targets(conn: &rusqlite::Connection, ids: &[i64]) -> rusqlite::Result<Vec<Target>> {
    let mut q = conn.prepare_cached(
        "SELECT g.id, g.stream_id, st.camera_id, g.seq, g.dir_id, g.file_name, g.bytes, g.checksum,
                g.sha256, g.damaged, g.start_90k, g.start_90k + g.duration_90k, st.name,
                EXISTS (SELECT 1 FROM segment_keys k WHERE k.stream_id = g.stream_id AND k.seq = g.seq)
         FROM segments g JOIN streams st ON st.id = g.stream_id WHERE g.id = ?1",
    )?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(q.query_row([id], |r| {
            Ok(Target {
                id: r.get(0)?,
                stream_id: r.get(1)?,
                camera_id: r.get(2)?,
                seq: r.get(3)?,
                dir_id: r.get(4)?,
                file_name: r.get(5)?,
                bytes: r.get::<_, i64>(6)? as u64,
                checksum: r.get::<_, i64>(7)? as u32,
                sha256: r.get(8)?,
                damaged: r.get(9)?,
                start: r.get(10)?,
                end: r.get(11)?,
                stream: r.get(12)?,
                encrypted: r.get(13)?,
            })
        })?);
    }
    // Per stream, in chain order: each stream is committed as one batch.
    out.sort_by_key(|t| (t.stream_id, t.seq));
    Ok(out)
}

/// A private folder for the plain MP4s handed to the rewriter, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Result<Self, StoreError> {
        use std::os::unix::fs::DirBuilderExt;
        let name = format!(
            "vigil-blur-{}-{}",
            std::process::id(),
            hex::encode(vigil_keys::random_bytes::<6>()?)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(io_err(&path))?;
        Ok(Self(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Re-encodes segment `t` and writes its blurred copy beside it (`None` when nothing needed changing).
#[allow(clippy::too_many_arguments)]
fn rewrite_one<'a>(
    inner: &Inner,
    reader: &crate::Reader,
    rewriter: &dyn SegmentRewriter,
    camera: &str,
    t: &'a Target,
    dir: &'a DirState,
    scratch: &ScratchDir,
    progress: &mut dyn FnMut(f64),
) -> Result<(Option<Copy<'a>>, RedactionReport), StoreError> {
    let path = dir.path.join(&t.file_name);
    let bad = |reason: String| StoreError::Rewrite {
        file: path.clone(),
        reason,
    };
    let (mp4, index) = reader.export_segment(t.id)?;
    let input = scratch.0.join(format!("{}-in.mp4", t.id));
    let output = scratch.0.join(format!("{}-out.mp4", t.id));
    let written = (|| {
        let mut f = std::fs::File::create(&input).map_err(io_err(&input))?;
        mp4.write_all(&mut f, &mut |_| {})?;
        rewriter
            .rewrite(camera, &input, &output, progress)
            .map_err(&bad)
    })();
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&output);
    let rewritten = written?;
    let Some(frames) = rewritten.frames else {
        return Ok((None, rewritten.report));
    };
    let samples = retime(&index, &frames).map_err(&bad)?;
    let params = frames[0].params.clone();
    if frames.iter().any(|f| *f.params != *params) {
        return Err(bad("the new frames change codec parameters midway".into()));
    }
    let original = SegmentReading::open(&path).map_err(|r| bad(format!("unreadable: {r}")))?;
    let encrypt = t.encrypted || inner.config.encrypt;
    let key = encrypt.then(vigil_keys::random_bytes::<32>).transpose()?;
    let cipher = key.as_ref().map(SegmentKey::new).transpose()?;
    let key_id = cipher.as_ref().map(|c| c.id);
    let header = SegmentHeader {
        key_id,
        ..original.header.clone()
    };
    drop(original);
    let tmp = copy_path(&path, BLURRING_SUFFIX);
    remove_if_there(&tmp)?;
    let fragment_max = (inner.config.fragment_seconds * 90_000.0) as u64;
    let file = (|| {
        let mut w = SegmentWriter::create(&tmp, &header, &params.sample_entry, cipher)
            .map_err(io_err(&tmp))?;
        for range in fragments(&samples, fragment_max) {
            let data: Vec<&[u8]> = frames[range.clone()].iter().map(|f| &f.data[..]).collect();
            w.write_fragment(&samples[range], &data)
                .map_err(io_err(&tmp))?;
        }
        w.finish().map_err(io_err(&tmp))
    })();
    match file {
        Ok(file) => Ok((
            Some(Copy {
                target: t,
                dir,
                tmp,
                file,
                params,
                key,
                key_id,
            }),
            rewritten.report,
        )),
        Err(err) => {
            let _ = std::fs::remove_file(&tmp);
            Err(err)
        }
    }
}

/// The new file's samples: the recorded decode times kept (so each frame's duration, and with them the
/// segment's duration and every frame's wall-clock time, stay the same), and each new frame shown at
/// the recorded presentation time of the same rank. Fails when the frame count differs, the first frame
/// is no key frame, or the new timing strays from the recorded one by more than half a frame.
fn retime(index: &FrameIndex, frames: &[EncodedFrame]) -> Result<Vec<FragmentSample>, String> {
    let n = index.frames.len();
    if frames.len() != n {
        return Err(format!(
            "the rewriter returned {} frames for the segment's {n}; nothing was changed",
            frames.len()
        ));
    }
    if !frames.first().is_some_and(|f| f.is_key) {
        return Err("the new frames do not start with a key frame".into());
    }
    let mut dts = Vec::with_capacity(n);
    let mut shown = Vec::with_capacity(n);
    let mut t = 0i64;
    for f in &index.frames {
        dts.push(t);
        shown.push(t + i64::from(f.composition_offset));
        t += i64::from(f.duration);
    }
    shown.sort_unstable();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (frames[i].pts.0, i));
    let shortest = index
        .frames
        .iter()
        .map(|f| i64::from(f.duration))
        .filter(|&d| d > 0)
        .min()
        .unwrap_or(0);
    let tolerance = (shortest / 2).max(90);
    let (base_new, base_old) = (frames[order[0]].pts.0, shown[0]);
    let mut rank = vec![0usize; n];
    for (r, &i) in order.iter().enumerate() {
        let strayed = (frames[i].pts.0 - base_new) - (shown[r] - base_old);
        if strayed.abs() > tolerance {
            return Err(format!(
                "new frame {i} is shown {strayed} ticks (90 kHz) away from the recorded time of its rank"
            ));
        }
        rank[i] = r;
    }
    (0..n)
        .map(|j| {
            let offset = i32::try_from(shown[rank[j]] - dts[j])
                .map_err(|_| format!("frame {j}'s composition offset is out of range"))?;
            Ok(FragmentSample {
                duration: index.frames[j].duration,
                size: u32::try_from(frames[j].data.len())
                    .map_err(|_| format!("frame {j} is too large"))?,
                is_key: frames[j].is_key,
                composition_offset: offset,
            })
        })
        .collect()
}

/// Fragments as the recorder cuts them: before each key frame, and once a fragment holds
/// `fragment_max` (90 kHz) of media.
fn fragments(samples: &[FragmentSample], fragment_max: u64) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut media) = (0usize, 0u64);
    for (i, s) in samples.iter().enumerate() {
        if i > start && (s.is_key || media >= fragment_max) {
            out.push(start..i);
            start = i;
            media = 0;
        }
        media += u64::from(s.duration);
    }
    if start < samples.len() {
        out.push(start..samples.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame_index::FrameEntry;

    fn index(frames: &[(u32, i32)]) -> FrameIndex {
        FrameIndex {
            frames: frames
                .iter()
                .enumerate()
                .map(|(i, &(duration, composition_offset))| FrameEntry {
                    duration,
                    size: 1,
                    is_key: i == 0,
                    composition_offset,
                })
                .collect(),
            fragments: Vec::new(),
        }
    }

    fn frame(pts: i64, is_key: bool) -> EncodedFrame {
        EncodedFrame {
            params: Arc::new(VideoParams {
                codec: vigil_core::VideoCodec::H264,
                width: 2,
                height: 2,
                rfc6381_codec: String::new(),
                sample_entry: Vec::new(),
            }),
            pts: Time90k(pts),
            composition_offset: 0,
            received_unix_micros: 0,
            is_key,
            data: bytes::Bytes::from_static(b"x"),
        }
    }

    #[test]
    fn new_frames_keep_the_recorded_decode_and_presentation_times() {
        // Recorded with B-frames (I P B B at 9000 ticks), re-encoded in order, 1000 ticks later.
        let old = index(&[(9000, 18000), (9000, 36000), (9000, 9000), (9000, 9000)]);
        let new: Vec<_> = [1000, 10000, 19000, 28000]
            .iter()
            .enumerate()
            .map(|(i, &p)| frame(p, i == 0))
            .collect();
        let s = retime(&old, &new).unwrap();
        // Shown at 18000, 27000, 36000, 45000 (the recorded times, in order), decoded at 0, 9000, ...
        let offsets: Vec<i32> = s.iter().map(|s| s.composition_offset).collect();
        assert_eq!(offsets, vec![18000, 18000, 18000, 18000]);
        assert!(s.iter().all(|s| s.duration == 9000));
        // A frame missing, a frame out of step, no key frame first: refused.
        assert!(retime(&old, &new[..3]).is_err());
        let mut late = new.clone();
        late[2].pts = Time90k(26000);
        assert!(retime(&old, &late).is_err());
        let mut keyless = new;
        keyless[0].is_key = false;
        assert!(retime(&old, &keyless).is_err());
    }

    #[test]
    fn fragments_start_at_key_frames_and_last_at_most_the_limit() {
        let s = |is_key| FragmentSample {
            duration: 45_000,
            size: 1,
            is_key,
            composition_offset: 0,
        };
        let samples = [s(true), s(false), s(false), s(false), s(true), s(false)];
        assert_eq!(fragments(&samples, 90_000), vec![0..2, 2..4, 4..6]);
    }
}
