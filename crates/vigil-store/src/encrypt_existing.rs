//! Encryption of recordings made without it (`vigil keys encrypt`): every segment file that has no key
//! in `segment_keys` is rewritten encrypted, exactly as the recorder writes encrypted segments (crypt.rs),
//! its index row, frame table and seal updated, its stream's chain re-linked from there on and the
//! signed heads that the new links replace signed again. Resumable, and safe to kill at any point.
//!
//! Order, per batch of segments of one stream (invariant R19 of docs/design/recording.md):
//!
//! 1. each segment's encrypted copy is written beside it as `<name>.encrypting` (fragment by fragment,
//!    read and hashed in one pass, checked against the row), fsynced, and the directory fsynced;
//! 2. one index transaction, under the key folder's shared lock (so that a master key rotation finds
//!    the new keys stored): the sealed data keys, the rows (`bytes`, `checksum`, `sha256`), the frame
//!    tables (each fragment's data moves by 8 bytes for the header's key id and 16 more per earlier
//!    fragment for the longer trailers), the stream's chain links from the first segment of the batch
//!    on, and new signatures for the signed heads whose links changed (the old ones deleted);
//! 3. each copy renamed over its original, then the directory fsynced.
//!
//! A crash before 2 commits leaves the originals and their rows untouched: the copies are stray and
//! start-up reconciliation ([`crate::rewrite::finish_interrupted`]) deletes them. A crash after it leaves rows that
//! describe the copies, which are complete and durable: reconciliation renames them into place before
//! it checks any file against its row. So whenever the store opens, every row matches its file, every
//! frame plays and the chain verifies; and running the command again carries on with what is left.

use crate::alerts::lock;
use crate::crypt::{SegmentKey, key_aad};
use crate::error::{db_err, io_err};
use crate::frame_index::FrameIndex;
use crate::reconcile::Problem;
use crate::rewrite::{ENCRYPTING_SUFFIX, copy_path, relink, remove_if_there, with_wrapped};
use crate::segment_file::{FinishedFile, SegmentHeader, SegmentReading, SegmentWriter, sync_dir};
use crate::store::{DirState, Inner};
use crate::{Store, StoreError};
use rusqlite::{Transaction, params};
use std::collections::{BTreeMap, HashSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use vigil_keys::{KeyStore, SiteKey, WrappedKey};

/// A batch ends once its segments hold this many bytes (their copies are on disk beside them until it
/// commits) ...
const BATCH_BYTES: u64 = 1 << 30;
/// ... or holds this many segments. Each batch re-links its stream's chain once from its first segment.
const BATCH_SEGMENTS: usize = 256;

/// What [`Store::encrypt_existing`] did.
#[derive(Debug, Clone, Default)]
pub struct EncryptReport {
    /// Segments encrypted by this run.
    pub encrypted: u64,
    /// Their size before (plain).
    pub bytes_before: u64,
    /// Their size now (encrypted: 8 bytes more per file, 16 more per fragment).
    pub bytes_after: u64,
    /// Segments that were encrypted already (recorded encrypted, or by an earlier run).
    pub already_encrypted: u64,
    /// Segments an interrupted earlier run had committed, whose copies the store's start-up put in place.
    pub resumed: usize,
    /// Segments left plain: in a storage directory that is offline, or marked damaged.
    pub skipped: Vec<Problem>,
    /// Signed chain heads signed again over their new links.
    pub heads_resigned: u64,
    /// True when the progress callback stopped the run; `remaining` segments are still plain.
    pub stopped: bool,
    /// Plain segments left when stopped.
    pub remaining: u64,
}

/// Progress of [`Store::encrypt_existing`], for its callback.
#[derive(Debug)]
pub enum EncryptProgress<'a> {
    /// The chains of the streams to encrypt are being verified first: bytes hashed, of `total`.
    Verifying {
        /// Bytes hashed so far.
        hashed: u64,
        /// Bytes to hash (grows as each camera's check starts).
        total: u64,
    },
    /// One more segment's encrypted copy is written (it is committed with its batch).
    Segment {
        /// Segments copied so far in this run.
        done: u64,
        /// Plain segments this run set out to encrypt.
        total: u64,
        /// Their bytes copied so far.
        bytes_done: u64,
        /// Their bytes in all.
        bytes_total: u64,
        /// The segment's file.
        file: &'a Path,
    },
}

/// A plain segment to encrypt.
struct Todo {
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
    camera: String,
    stream: String,
}

/// A segment whose encrypted copy is written, waiting for its batch's commit.
struct Copied<'a> {
    todo: &'a Todo,
    dir: &'a DirState,
    key: [u8; 32],
    key_id: [u8; 8],
    file: FinishedFile,
    tmp: PathBuf,
}

impl Store {
    /// Encrypts every segment recorded without encryption (`vigil keys encrypt`), oldest first per
    /// stream, each under a new data key sealed with `keys` as the recorder seals them, re-linking the
    /// chains and re-signing their heads with `site` (the site key). Works whatever `[storage] encrypt`
    /// says. Open the store without background retention; nothing may record meanwhile (the store's
    /// lock already keeps `vigil run` out).
    ///
    /// Before anything changes, the chains of the streams concerned are verified: a store whose
    /// recordings fail `vigil verify recordings` there is refused ([`StoreError::TamperedChain`]), since
    /// re-sealing them would hide it. `progress` hears of the check and of each segment; returning
    /// `Break` ends the run once the segments copied so far are committed. Interrupted in any way, the
    /// store stays whole and running this again finishes the job (see the module's notes).
    pub fn encrypt_existing(
        &self,
        keys: &KeyStore,
        site: &SiteKey,
        progress: &mut dyn FnMut(&EncryptProgress<'_>) -> ControlFlow<()>,
    ) -> Result<EncryptReport, StoreError> {
        let inner = self.inner();
        let e = db_err(&inner.db_path);
        let (todo, all) = {
            let conn = inner.db();
            let all: i64 = conn
                .query_row("SELECT COUNT(*) FROM segments", [], |r| r.get(0))
                .map_err(&e)?;
            (plain_segments(&conn).map_err(&e)?, all as u64)
        };
        let mut report = EncryptReport {
            already_encrypted: all - todo.len() as u64,
            resumed: self.resumed_encryptions(),
            ..Default::default()
        };
        let mut work = Vec::new();
        for t in &todo {
            let dir = inner.dir_index(t.dir_id).map(|i| &inner.dirs[i]);
            let skip = match (dir, &t.damaged) {
                (_, Some(why)) => Some(format!("marked damaged, left plain: {why}")),
                (None, _) => Some("in a storage directory the configuration no longer has".into()),
                (Some(d), _) if !d.online.load(Ordering::Relaxed) => {
                    Some(format!("storage directory {} is offline", d.name))
                }
                (Some(d), None) => {
                    work.push((t, d));
                    None
                }
            };
            if let Some(reason) = skip {
                let file = dir.map(|d| d.path.join(&t.file_name));
                report.skipped.push(Problem {
                    file: file.unwrap_or_else(|| PathBuf::from(&t.file_name)),
                    reason,
                });
            }
        }
        if !verify_first(&inner.db_path, &work, site, progress)? {
            report.stopped = true;
            report.remaining = work.len() as u64;
            return Ok(report);
        }
        let total = work.len() as u64;
        let bytes_total: u64 = work.iter().map(|(t, _)| t.bytes).sum();
        let mut batch: Vec<Copied<'_>> = Vec::new();
        let mut batch_bytes = 0u64;
        let (mut done, mut bytes_done) = (0u64, 0u64);
        for (i, &(t, dir)) in work.iter().enumerate() {
            if let Err(err) = ensure_room(dir, t) {
                // Committing what is copied frees the originals' space.
                if batch.is_empty() {
                    return Err(err);
                }
                self.commit_batch(keys, site, &mut batch, &mut report)?;
                batch_bytes = 0;
                ensure_room(dir, t)?;
            }
            let copied = match copy_encrypted(inner, t, dir) {
                Ok(c) => c,
                Err(err) => {
                    discard(&batch);
                    return Err(err);
                }
            };
            batch_bytes += t.bytes;
            batch.push(copied);
            done += 1;
            bytes_done += t.bytes;
            let flow = progress(&EncryptProgress::Segment {
                done,
                total,
                bytes_done,
                bytes_total,
                file: &dir.path.join(&t.file_name),
            });
            let next_stream = work.get(i + 1).map(|(n, _)| n.stream_id);
            if flow.is_break()
                || next_stream != Some(t.stream_id)
                || batch_bytes >= BATCH_BYTES
                || batch.len() >= BATCH_SEGMENTS
            {
                self.commit_batch(keys, site, &mut batch, &mut report)?;
                batch_bytes = 0;
            }
            if flow.is_break() {
                report.stopped = true;
                report.remaining = total - done;
                break;
            }
        }
        Ok(report)
    }

    /// Steps 2 and 3 for the copies of `batch` (one stream), which it empties.
    fn commit_batch(
        &self,
        keys: &KeyStore,
        site: &SiteKey,
        batch: &mut Vec<Copied<'_>>,
        report: &mut EncryptReport,
    ) -> Result<(), StoreError> {
        let inner = self.inner();
        let dirs: BTreeMap<i64, &Path> = batch.iter().map(|c| (c.dir.id, &*c.dir.path)).collect();
        let fsync_dirs = || -> Result<(), StoreError> {
            for path in dirs.values() {
                sync_dir(path).map_err(io_err(path))?;
            }
            Ok(())
        };
        let heads = match fsync_dirs().and_then(|()| commit_rows(inner, keys, site, batch)) {
            Ok(heads) => heads,
            Err(err) => {
                discard(batch);
                batch.clear();
                return Err(err);
            }
        };
        // Committed: from here start-up reconciliation would finish the renames.
        for c in batch.iter() {
            let file = c.dir.path.join(&c.todo.file_name);
            std::fs::rename(&c.tmp, &file).map_err(io_err(&file))?;
        }
        fsync_dirs()?;
        let mut st = lock(&inner.state);
        for c in batch.iter() {
            let grew = c.file.bytes.saturating_sub(c.todo.bytes);
            *st.dir_bytes.entry(c.dir.id).or_default() += grew;
            *st.camera_bytes.entry(c.todo.camera_id).or_default() += grew;
            report.encrypted += 1;
            report.bytes_before += c.todo.bytes;
            report.bytes_after += c.file.bytes;
        }
        drop(st);
        report.heads_resigned += heads;
        batch.clear();
        Ok(())
    }
}

/// Every segment without a key, oldest first per stream.
fn plain_segments(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<Todo>> {
    conn.prepare(
        "SELECT g.id, g.stream_id, st.camera_id, g.seq, g.dir_id, g.file_name, g.bytes, g.checksum,
                g.sha256, g.damaged, c.name, st.name
         FROM segments g JOIN streams st ON st.id = g.stream_id JOIN cameras c ON c.id = st.camera_id
         WHERE NOT EXISTS (SELECT 1 FROM segment_keys k WHERE k.stream_id = g.stream_id AND k.seq = g.seq)
         ORDER BY g.stream_id, g.seq",
    )?
    .query_map([], |r| {
        Ok(Todo {
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
            camera: r.get(10)?,
            stream: r.get(11)?,
        })
    })?
    .collect()
}

/// Verifies the recordings of every stream in `work` (`vigil verify recordings` per camera). `false`
/// when the callback stopped it; an error naming the problems when any stream concerned fails.
fn verify_first(
    db: &Path,
    work: &[(&Todo, &DirState)],
    site: &SiteKey,
    progress: &mut dyn FnMut(&EncryptProgress<'_>) -> ControlFlow<()>,
) -> Result<bool, StoreError> {
    let streams: HashSet<(String, String)> = work
        .iter()
        .map(|(t, _)| (t.camera.clone(), t.stream.clone()))
        .collect();
    crate::rewrite::verify_streams(db, &streams, site, &mut |hashed, total| {
        progress(&EncryptProgress::Verifying { hashed, total })
    })
}

/// Checks that `dir` has room for `t`'s encrypted copy beside it.
fn ensure_room(dir: &DirState, t: &Todo) -> Result<(), StoreError> {
    // The copy: the file, 8 bytes more in its header and 16 per fragment (under 1% for any fragment of
    // more than 1.6 KB), plus a margin.
    let need = t.bytes + t.bytes / 100 + (1 << 20);
    match crate::store::free_bytes(&dir.path) {
        Some(free) if free < need => Err(StoreError::Dir {
            path: dir.path.clone(),
            reason: format!(
                "{} bytes free; encrypting {} needs about {need} (its copy is written beside it first)",
                free, t.file_name
            ),
        }),
        _ => Ok(()),
    }
}

/// Step 1: writes `t`'s encrypted copy under a new data key, reading the original in one pass and
/// checking it against its row (length, CRC-32, SHA-256, frame table): a file changed since it was
/// verified is refused, not sealed.
fn copy_encrypted<'a>(
    inner: &Inner,
    t: &'a Todo,
    dir: &'a DirState,
) -> Result<Copied<'a>, StoreError> {
    let path = dir.path.join(&t.file_name);
    let tmp = copy_path(&path, ENCRYPTING_SUFFIX);
    let bad = |reason: String| StoreError::BadSegment {
        file: path.clone(),
        reason,
    };
    let mut reading = SegmentReading::open(&path).map_err(|r| bad(format!("unreadable: {r}")))?;
    if reading.header.key_id.is_some() {
        return Err(bad(
            "the file is encrypted but the index holds no key for it".into(),
        ));
    }
    let key = vigil_keys::random_bytes::<32>()?;
    let cipher = SegmentKey::new(&key)?;
    let key_id = cipher.id;
    let header = SegmentHeader {
        key_id: Some(key_id),
        ..reading.header.clone()
    };
    remove_if_there(&tmp)?;
    let mut writer = SegmentWriter::create(&tmp, &header, &reading.sample_entry, Some(cipher))
        .map_err(io_err(&tmp))?;
    let written = (|| {
        while let Some(f) = reading.next_fragment() {
            writer
                .write_fragment(&f.samples, &[f.data()])
                .map_err(io_err(&tmp))?;
        }
        let old = reading.finish();
        let indexed = stored_frames(inner, t).map_err(|r| bad(format!("its frame table: {r}")))?;
        let mismatch = if old.valid_len != old.file_len || old.file_len != t.bytes {
            Some(format!(
                "{} bytes, {} of them valid fragments; the index says {}",
                old.file_len, old.valid_len, t.bytes
            ))
        } else if old.checksum != t.checksum {
            Some("its CRC-32 differs from the index".into())
        } else if t.sha256.as_deref().is_some_and(|s| s != old.sha256) {
            Some("its SHA-256 differs from the index".into())
        } else if old.index != indexed {
            Some("its fragments differ from the index's frame table".into())
        } else {
            None
        };
        if let Some(why) = mismatch {
            return Err(bad(format!(
                "changed since it was recorded ({why}): not encrypted"
            )));
        }
        let file = writer.finish().map_err(io_err(&tmp))?;
        if file.index.frames != old.index.frames {
            return Err(bad("its encrypted copy lists other frames".into()));
        }
        Ok(file)
    })();
    match written {
        Ok(file) => Ok(Copied {
            todo: t,
            dir,
            key,
            key_id,
            file,
            tmp,
        }),
        Err(err) => {
            let _ = std::fs::remove_file(&tmp);
            Err(err)
        }
    }
}

/// The frame table the index holds for `t`.
fn stored_frames(inner: &Inner, t: &Todo) -> Result<FrameIndex, String> {
    let blob: Vec<u8> = inner
        .db()
        .query_row(
            "SELECT frame_index FROM segment_frames WHERE segment_id = ?1",
            [t.id],
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())?;
    FrameIndex::decode(&blob)
}

/// Removes the copies of an uncommitted batch.
fn discard(batch: &[Copied<'_>]) {
    for c in batch {
        let _ = std::fs::remove_file(&c.tmp);
    }
}

/// Step 2 in one transaction, the keys sealed under the key folder's shared lock.
fn commit_rows(
    inner: &Inner,
    keys: &KeyStore,
    site: &SiteKey,
    batch: &[Copied<'_>],
) -> Result<u64, StoreError> {
    let Some((first, rest)) = batch.split_first() else {
        return Ok(0);
    };
    let stream_id = first.todo.stream_id;
    let e = db_err(&inner.db_path);
    let plain: Vec<([u8; 32], Vec<u8>)> = std::iter::once(first)
        .chain(rest)
        .map(|c| (c.key, key_aad(stream_id, c.todo.seq)))
        .collect();
    with_wrapped(keys, &plain, |wrapped| {
        let mut conn = inner.db();
        let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
        for (c, w) in batch.iter().zip(&wrapped) {
            update_row(&tx, c, w).map_err(&e)?;
        }
        let heads = relink(&tx, stream_id, first.todo.seq, site).map_err(&e)?;
        tx.commit().map_err(&e)?;
        Ok(heads)
    })
}

/// The row, frame table and key of one encrypted copy.
fn update_row(tx: &Transaction<'_>, c: &Copied<'_>, w: &WrappedKey) -> rusqlite::Result<()> {
    let t = c.todo;
    // Rows recorded before integrity keep no hash (they stay "before integrity" for the verifier).
    tx.prepare_cached(
        "UPDATE segments SET bytes = ?2, checksum = ?3,
             sha256 = CASE WHEN sha256 IS NULL THEN NULL ELSE ?4 END
         WHERE id = ?1",
    )?
    .execute(params![
        t.id,
        c.file.bytes as i64,
        i64::from(c.file.checksum),
        &c.file.sha256[..]
    ])?;
    tx.prepare_cached("UPDATE segment_frames SET frame_index = ?2 WHERE segment_id = ?1")?
        .execute(params![t.id, c.file.index.encode()])?;
    tx.prepare_cached(
        "INSERT INTO segment_keys (stream_id, seq, key_id, master_id, nonce, sealed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        t.stream_id,
        t.seq,
        &c.key_id[..],
        w.by,
        &w.nonce[..],
        w.sealed
    ])?;
    Ok(())
}
