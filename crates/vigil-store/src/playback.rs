//! Playback and export, built on demand from the index: a standard MP4 or a fragmented MP4 for any time
//! range of a stream, starting at the key frame at or before the range start and spanning segments.
//! Frame bytes are read from the segment files as the result is written or served
//! ([`VirtualFile`]), so nothing is copied ahead of time. Invariant R14 of docs/design/recording.md.

use crate::StoreError;
use crate::error::db_err;
use crate::frame_index::FrameIndex;
use crate::reconcile::Problem;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vigil_core::Time90k;
use vigil_mp4::fragment;
use vigil_mp4::{Mp4Builder, Part, SampleInfo, VirtualFile};

/// Longest segment considered when searching by time (a segment longer than this — a stream with
/// key frames hours apart — is found only from its start).
const MAX_SEGMENT_90K: i64 = 6 * 3600 * 90_000;
/// Discontinuity reported as a gap.
const GAP_TOLERANCE_90K: i64 = 45_000;

/// Read-only access to the index (its own SQLite connection; safe while a recorder writes).
pub struct Reader {
    conn: Connection,
    db_path: PathBuf,
    /// The index has `segments.reordered` (an index the recorder has not migrated yet does not).
    reordered_column: bool,
    /// The index has `segment_keys`: segments may be encrypted.
    segment_keys: bool,
    /// The key store that opens encrypted segments' keys.
    keys: Option<Arc<vigil_keys::KeyStore>>,
}

/// A camera and its recorded streams.
#[derive(Debug, Clone, Serialize)]
pub struct CameraInfo {
    /// Camera name.
    pub name: String,
    /// Stream names.
    pub streams: Vec<String>,
}

/// One segment as the index describes it.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentInfo {
    /// Row id.
    pub id: i64,
    /// The file.
    pub file: PathBuf,
    /// Wall-clock start.
    pub start: Time90k,
    /// Wall-clock duration.
    pub duration: Time90k,
    /// Sum of frame durations.
    pub media_duration: Time90k,
    /// File length.
    pub bytes: u64,
    /// Frames.
    pub frames: u64,
    /// Key frames.
    pub key_frames: u64,
    /// Starts a run (after a gap or at recorder start).
    pub run_start: bool,
    /// Indexed by start-up recovery.
    pub recovered: bool,
    /// Its frames have composition offsets: the camera sent B-frames (decode order differs from
    /// presentation order).
    pub reordered: bool,
    /// Why it is not served, if damaged.
    pub damaged: Option<String>,
    /// RFC 6381 codec string.
    pub codec: String,
}

/// An MP4 ready to write or serve.
#[derive(Debug, Clone)]
pub struct Export {
    /// The file; write it with [`VirtualFile::write_all`] or serve ranges with
    /// [`VirtualFile::write_range`].
    pub file: VirtualFile,
    /// Wall-clock time of the first frame (the key frame at or before the requested start).
    pub start: Time90k,
    /// Wall-clock end of the last frame.
    pub end: Time90k,
    /// Frames included.
    pub frames: usize,
    /// Media duration (what players show), 90 kHz.
    pub duration: Time90k,
    /// Segments read.
    pub segments: usize,
    /// Wall-clock ranges inside the export with no recording (skipped, not filled).
    pub gaps: Vec<Range<Time90k>>,
    /// Segments in range that were left out (damaged, unreadable, overlapping).
    pub skipped: Vec<Problem>,
    /// RFC 6381 codec string of the first frame's parameters (for `Content-Type`/MSE).
    pub codec: String,
    /// For fragmented output: true when the range continues past a parameter change that a single
    /// init segment cannot describe (the output stops there).
    pub truncated: bool,
}

/// The frames of a range: pieces of segments, the gaps between them, segments left out.
type Plan = (Vec<Piece>, Vec<Range<Time90k>>, Vec<Problem>);

struct Piece {
    path: PathBuf,
    /// Decrypts the file's frame data when the segment is encrypted.
    reader: Option<Arc<dyn vigil_mp4::SourceReader>>,
    entry: Arc<Vec<u8>>,
    codec: String,
    index: FrameIndex,
    offsets: Vec<u64>,
    first: usize,
    end: usize,
    start: i64,
    end_time: i64,
}

impl Reader {
    /// Opens the index read-only.
    pub fn open(db: &Path) -> Result<Reader, StoreError> {
        let conn = crate::schema::open_ro(db)?;
        let reordered_column = crate::schema::has_reordered_column(&conn).map_err(db_err(db))?;
        let segment_keys = crate::schema::has_segment_keys(&conn).map_err(db_err(db))?;
        Ok(Reader {
            conn,
            db_path: db.to_path_buf(),
            reordered_column,
            segment_keys,
            keys: None,
        })
    }

    /// Opens encrypted segments with `keys` (exports and playback of an encrypted store need it).
    pub fn with_keys(mut self, keys: Arc<vigil_keys::KeyStore>) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The decrypting reader of segment `id` when it is encrypted.
    fn segment_reader(
        &self,
        id: i64,
        file: &Path,
        index: &FrameIndex,
    ) -> Result<Option<Arc<dyn vigil_mp4::SourceReader>>, StoreError> {
        if !self.segment_keys {
            return Ok(None);
        }
        let Some(stored) = crate::crypt::stored_key(&self.conn, id).map_err(self.e())? else {
            return Ok(None);
        };
        let Some(keys) = &self.keys else {
            return Err(StoreError::Crypto(format!(
                "{} is encrypted: reading it needs the key store (give --config)",
                file.display()
            )));
        };
        let key = stored.open(keys, file)?;
        let mut frame = 0usize;
        let fragments = index
            .fragments
            .iter()
            .map(|g| {
                let end = (frame + g.frames as usize).min(index.frames.len());
                let len: u64 = index.frames[frame..end]
                    .iter()
                    .map(|f| u64::from(f.size))
                    .sum();
                frame = end;
                (g.data_offset, len)
            })
            .collect();
        Ok(Some(Arc::new(crate::crypt::DecryptingReader::new(
            file.to_path_buf(),
            key,
            fragments,
        ))))
    }

    fn e(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        db_err(&self.db_path)
    }

    /// Cameras with their streams, by name.
    pub fn cameras(&self) -> Result<Vec<CameraInfo>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT c.name, s.name FROM cameras c LEFT JOIN streams s ON s.camera_id = c.id
                 ORDER BY c.name, s.name",
            )
            .map_err(self.e())?;
        let rows: Vec<(String, Option<String>)> = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.e())?
            .collect::<Result<_, _>>()
            .map_err(self.e())?;
        let mut out: Vec<CameraInfo> = Vec::new();
        for (cam, stream) in rows {
            if out.last().is_none_or(|c| c.name != cam) {
                out.push(CameraInfo {
                    name: cam,
                    streams: Vec::new(),
                });
            }
            if let (Some(s), Some(c)) = (stream, out.last_mut()) {
                c.streams.push(s);
            }
        }
        Ok(out)
    }

    fn stream_id(&self, camera: &str, stream: &str) -> Result<i64, StoreError> {
        let cam: Option<i64> = self
            .conn
            .query_row("SELECT id FROM cameras WHERE name = ?1", [camera], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.e())?;
        let Some(cam) = cam else {
            return Err(StoreError::UnknownCamera {
                name: camera.to_string(),
                known: self.cameras()?.into_iter().map(|c| c.name).collect(),
            });
        };
        self.conn
            .query_row(
                "SELECT id FROM streams WHERE camera_id = ?1 AND name = ?2",
                params![cam, stream],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.e())?
            .ok_or_else(|| StoreError::UnknownStream {
                camera: camera.to_string(),
                stream: stream.to_string(),
            })
    }

    /// Segments of a stream overlapping `[from, to)`, oldest first (damaged ones included).
    pub fn segments(
        &self,
        camera: &str,
        stream: &str,
        from: Time90k,
        to: Time90k,
    ) -> Result<Vec<SegmentInfo>, StoreError> {
        let stream_id = self.stream_id(camera, stream)?;
        // Segments of an index from before B-frames were recorded (not migrated yet) have none.
        let sql = format!(
            "SELECT s.id, d.path, s.file_name, s.start_90k, s.duration_90k, s.media_duration_90k,
                    s.bytes, s.frames, s.key_frames, s.run_start, s.recovered, s.damaged,
                    e.rfc6381_codec, {}
             FROM segments s JOIN storage_dirs d ON d.id = s.dir_id
             JOIN sample_entries e ON e.id = s.sample_entry_id
             WHERE s.stream_id = ?1 AND s.start_90k < ?3 AND s.start_90k > ?2 - ?4
               AND s.start_90k + s.duration_90k > ?2
             ORDER BY s.start_90k, s.id",
            if self.reordered_column {
                "s.reordered"
            } else {
                "0"
            }
        );
        let mut q = self.conn.prepare_cached(&sql).map_err(self.e())?;
        q.query_map(params![stream_id, from.0, to.0, MAX_SEGMENT_90K], |r| {
            Ok(SegmentInfo {
                id: r.get(0)?,
                file: Path::new(&r.get::<_, String>(1)?).join(r.get::<_, String>(2)?),
                start: Time90k(r.get(3)?),
                duration: Time90k(r.get(4)?),
                media_duration: Time90k(r.get(5)?),
                bytes: r.get::<_, i64>(6)? as u64,
                frames: r.get::<_, i64>(7)? as u64,
                key_frames: r.get::<_, i64>(8)? as u64,
                run_start: r.get(9)?,
                recovered: r.get(10)?,
                damaged: r.get(11)?,
                codec: r.get(12)?,
                reordered: r.get(13)?,
            })
        })
        .map_err(self.e())?
        .collect::<Result<_, _>>()
        .map_err(self.e())
    }

    /// The integrity seals of a stream's segments overlapping `[from, to)`, oldest first.
    pub fn seals(
        &self,
        camera: &str,
        stream: &str,
        from: Time90k,
        to: Time90k,
    ) -> Result<Vec<crate::Seal>, StoreError> {
        let stream_id = self.stream_id(camera, stream)?;
        if !crate::schema::has_integrity(&self.conn).map_err(self.e())? {
            return Ok(Vec::new());
        }
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT seq, start_90k, sha256, chain FROM segments
                 WHERE stream_id = ?1 AND start_90k < ?3 AND start_90k > ?2 - ?4
                   AND start_90k + duration_90k > ?2
                 ORDER BY start_90k, id",
            )
            .map_err(self.e())?;
        q.query_map(params![stream_id, from.0, to.0, MAX_SEGMENT_90K], |r| {
            Ok(crate::Seal {
                seq: r.get(0)?,
                start: Time90k(r.get(1)?),
                sha256: r.get(2)?,
                chain: crate::integrity::as_link(r.get(3)?),
            })
        })
        .map_err(self.e())?
        .collect::<Result<_, _>>()
        .map_err(self.e())
    }

    /// Recorded time of a stream within `[from, to)` as continuous ranges (for a timeline).
    pub fn recordings(
        &self,
        camera: &str,
        stream: &str,
        from: Time90k,
        to: Time90k,
    ) -> Result<Vec<Range<Time90k>>, StoreError> {
        let mut out: Vec<Range<Time90k>> = Vec::new();
        for s in self.segments(camera, stream, from, to)? {
            if s.damaged.is_some() {
                continue;
            }
            let end = Time90k(s.start.0 + s.duration.0);
            match out.last_mut() {
                Some(last) if s.start.0 - last.end.0 <= GAP_TOLERANCE_90K => {
                    last.end = last.end.max(end)
                }
                _ => out.push(s.start..end),
            }
        }
        Ok(out)
    }

    /// Selects the frames of `[from, to)`.
    fn plan(
        &self,
        camera: &str,
        stream: &str,
        from: Time90k,
        to: Time90k,
    ) -> Result<Plan, StoreError> {
        if to <= from {
            return Err(StoreError::EmptyRange { from, to });
        }
        let segments = self.segments(camera, stream, from, to)?;
        let mut pieces: Vec<Piece> = Vec::new();
        let mut gaps = Vec::new();
        let mut skipped = Vec::new();
        for s in segments {
            if let Some(reason) = &s.damaged {
                skipped.push(Problem {
                    file: s.file.clone(),
                    reason: reason.clone(),
                });
                continue;
            }
            let (blob, entry): (Vec<u8>, Vec<u8>) = self
                .conn
                .query_row(
                    "SELECT f.frame_index, e.data FROM segment_frames f, segments s, sample_entries e
                     WHERE f.segment_id = ?1 AND s.id = ?1 AND e.id = s.sample_entry_id",
                    [s.id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(self.e())?;
            let index = match FrameIndex::decode(&blob) {
                Ok(i) if i.frames.len() as u64 == s.frames && i.data_end() <= s.bytes => i,
                Ok(_) => {
                    skipped.push(Problem {
                        file: s.file.clone(),
                        reason: "frame table disagrees with the segment row".into(),
                    });
                    continue;
                }
                Err(reason) => {
                    skipped.push(Problem {
                        file: s.file.clone(),
                        reason,
                    });
                    continue;
                }
            };
            if let Some(prev) = pieces.last() {
                if s.start.0 < prev.end_time - 90_000 {
                    skipped.push(Problem {
                        file: s.file.clone(),
                        reason: "overlaps the previous segment (local clock stepped back)".into(),
                    });
                    continue;
                }
                if s.start.0 - prev.end_time > GAP_TOLERANCE_90K {
                    gaps.push(Time90k(prev.end_time)..s.start);
                }
            }
            // Wall-clock start of each frame.
            let media = i128::from(s.media_duration.0.max(1));
            let wall = i128::from(s.duration.0);
            let mut times = Vec::with_capacity(index.frames.len());
            let mut cum = 0i128;
            for f in &index.frames {
                times.push(s.start.0 + (cum * wall / media) as i64);
                cum += i128::from(f.duration);
            }
            let first = if pieces.is_empty() {
                (0..index.frames.len())
                    .rev()
                    .find(|&i| index.frames[i].is_key && times[i] <= from.0)
                    .unwrap_or(0)
            } else {
                0
            };
            if !index.frames.get(first).is_some_and(|f| f.is_key) {
                skipped.push(Problem {
                    file: s.file.clone(),
                    reason: "does not start with a key frame".into(),
                });
                continue;
            }
            let end = times
                .iter()
                .position(|&t| t >= to.0)
                .unwrap_or(index.frames.len())
                .max(first + 1);
            let end = complete_reordering(&index, first, end);
            let end_time = if end < times.len() {
                times[end]
            } else {
                s.start.0 + s.duration.0
            };
            let offsets = index.offsets();
            let done = end < index.frames.len();
            let reader = self.segment_reader(s.id, &s.file, &index)?;
            pieces.push(Piece {
                path: s.file.clone(),
                reader,
                entry: Arc::new(entry),
                codec: s.codec.clone(),
                start: times[first],
                end_time,
                index,
                offsets,
                first,
                end,
            });
            if done {
                break;
            }
        }
        if pieces.is_empty() {
            return Err(StoreError::NoRecording {
                camera: camera.to_string(),
                from,
                to,
            });
        }
        Ok((pieces, gaps, skipped))
    }

    /// A standard MP4 (`moov` first) of `[from, to)`: from the key frame at or before `from` to the
    /// last frame starting before `to`, across segments; gaps are skipped.
    pub fn export(
        &self,
        camera: &str,
        stream: &str,
        from: Time90k,
        to: Time90k,
    ) -> Result<Export, StoreError> {
        let (pieces, gaps, skipped) = self.plan(camera, stream, from, to)?;
        let start = pieces[0].start;
        let mut b = Mp4Builder::new(start.div_euclid(90_000));
        for p in &pieces {
            for (offset, samples) in runs(p) {
                b.add_chunk(&p.entry, &p.path, offset, &samples)?;
            }
        }
        let frames = b.sample_count();
        let duration = Time90k(b.duration() as i64);
        let mut file = b.build()?;
        set_readers(&mut file, &pieces);
        file.check_sources()?;
        Ok(Export {
            file,
            start: Time90k(start),
            end: Time90k(pieces.last().map_or(start, |p| p.end_time)),
            frames,
            duration,
            segments: pieces.len(),
            gaps,
            skipped,
            codec: pieces[0].codec.clone(),
            truncated: false,
        })
    }

    /// A standard MP4 of exactly one segment's frames (row `id`), whatever its neighbours: what
    /// erasure by blurring re-encodes. Returns it with the segment's frame table.
    pub(crate) fn export_segment(&self, id: i64) -> Result<(VirtualFile, FrameIndex), StoreError> {
        let (dir, name, start, blob, entry): (String, String, i64, Vec<u8>, Vec<u8>) = self
            .conn
            .query_row(
                "SELECT d.path, s.file_name, s.start_90k, f.frame_index, e.data
                 FROM segments s JOIN storage_dirs d ON d.id = s.dir_id
                 JOIN segment_frames f ON f.segment_id = s.id
                 JOIN sample_entries e ON e.id = s.sample_entry_id WHERE s.id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .map_err(self.e())?;
        let path = Path::new(&dir).join(name);
        let index = FrameIndex::decode(&blob).map_err(|reason| StoreError::BadSegment {
            file: path.clone(),
            reason,
        })?;
        let piece = Piece {
            reader: self.segment_reader(id, &path, &index)?,
            path,
            entry: Arc::new(entry),
            codec: String::new(),
            offsets: index.offsets(),
            first: 0,
            end: index.frames.len(),
            start,
            end_time: start,
            index,
        };
        let mut b = Mp4Builder::new(start.div_euclid(90_000));
        for (offset, samples) in runs(&piece) {
            b.add_chunk(&piece.entry, &piece.path, offset, &samples)?;
        }
        let mut file = b.build()?;
        set_readers(&mut file, std::slice::from_ref(&piece));
        file.check_sources()?;
        Ok((file, piece.index))
    }

    /// A fragmented MP4 (init segment, then one `moof`+`mdat` per recorded fragment) of `[from, to)`,
    /// for Media Source Extensions and HTTP range playback. It stops at a parameter change.
    pub fn export_fragmented(
        &self,
        camera: &str,
        stream: &str,
        from: Time90k,
        to: Time90k,
    ) -> Result<Export, StoreError> {
        let (mut pieces, gaps, skipped) = self.plan(camera, stream, from, to)?;
        let truncated = match pieces.iter().position(|p| p.entry != pieces[0].entry) {
            Some(i) => {
                pieces.truncate(i);
                true
            }
            None => false,
        };
        let mut parts = vec![Part::Bytes(Arc::from(fragment::init_segment(
            &pieces[0].entry,
        )))];
        let mut sources = Vec::new();
        let mut base = 0u64;
        let mut seq = 1u32;
        let mut frames = 0;
        for p in &pieces {
            sources.push(p.path.clone());
            let source = sources.len() - 1;
            for (offset, fs) in runs(p) {
                let len: u64 = fs.iter().map(|s| u64::from(s.size)).sum();
                parts.push(Part::Bytes(Arc::from(fragment::fragment_header(
                    seq, base, &fs,
                ))));
                parts.push(Part::File {
                    source,
                    offset,
                    len,
                });
                base += fs.iter().map(|s| u64::from(s.duration)).sum::<u64>();
                frames += fs.len();
                seq += 1;
            }
        }
        let mut file = VirtualFile::new(sources, parts);
        set_readers(&mut file, &pieces);
        file.check_sources()?;
        Ok(Export {
            file,
            start: Time90k(pieces[0].start),
            end: Time90k(pieces.last().map_or(0, |p| p.end_time)),
            frames,
            duration: Time90k(base as i64),
            segments: pieces.len(),
            gaps,
            skipped,
            codec: pieces[0].codec.clone(),
            truncated,
        })
    }
}

/// Moves a cut after frame `end - 1` (decode order) forward past any frame shown before a frame already
/// included: B-frames decoded after the cut but presented before it belong to the range. Without
/// composition offsets the cut stays where it is.
fn complete_reordering(index: &FrameIndex, first: usize, end: usize) -> usize {
    if !index.has_composition_offsets() {
        return end;
    }
    let mut dts = 0i64;
    let pts: Vec<i64> = index
        .frames
        .iter()
        .map(|f| {
            let p = dts + i64::from(f.composition_offset);
            dts += i64::from(f.duration);
            p
        })
        .collect();
    let Some(mut shown) = pts[first..end].iter().copied().max() else {
        return end;
    };
    let mut end = end;
    // A frame is presented at most MAX_REORDER (16) frames after it is decoded; look that far ahead.
    while end < pts.len() && pts[end..pts.len().min(end + 17)].iter().any(|&p| p < shown) {
        shown = shown.max(pts[end]);
        end += 1;
    }
    end
}

/// Reads the encrypted pieces' files through their decrypting readers.
fn set_readers(file: &mut VirtualFile, pieces: &[Piece]) {
    for p in pieces {
        if let Some(r) = &p.reader {
            file.set_reader(&p.path, r.clone());
        }
    }
}

/// Splits a piece's frames into runs stored back to back (one per recorded fragment).
fn runs(p: &Piece) -> Vec<(u64, Vec<SampleInfo>)> {
    let mut out: Vec<(u64, Vec<SampleInfo>)> = Vec::new();
    let mut frame = 0usize;
    for g in &p.index.fragments {
        let lo = frame.max(p.first);
        let hi = (frame + g.frames as usize).min(p.end);
        if lo < hi {
            let samples = p.index.frames[lo..hi]
                .iter()
                .map(|f| SampleInfo {
                    duration: f.duration,
                    size: f.size,
                    is_key: f.is_key,
                    composition_offset: f.composition_offset,
                })
                .collect();
            out.push((p.offsets[lo], samples));
        }
        frame += g.frames as usize;
    }
    out
}
