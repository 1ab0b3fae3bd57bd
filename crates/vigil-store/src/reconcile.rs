//! Start-up reconciliation of the index with the storage directories, run before anything records:
//!
//! 1. garbage rows (deletions that were interrupted) are completed: unlink, fsync the directory, drop
//!    the row;
//! 2. segment files without a row (the process died while writing them) are recovered up to their last
//!    complete, checksummed fragment, cut to that length and indexed; files that cannot be read at all
//!    are moved to `quarantine/`;
//! 3. rows without a file are reported and removed;
//! 4. rows whose file length (always) or checksum (per [`VerifyLevel`]) does not match are marked
//!    damaged and reported; they are never served.
//!
//! A directory that is missing (not mounted) is skipped entirely: its rows are kept.
//!
//! Invariants R3, R4 and R5 (completing deletions) of docs/design/recording.md.

use crate::StoreError;
use crate::alerts::lock;
use crate::config::VerifyLevel;
use crate::error::{db_err, io_err};
use crate::segment_file::{file_checksum, parse_file_name, recover, sync_dir};
use crate::store::{Inner, NewSegment};
use rusqlite::params;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

/// A file recovered into the index.
#[derive(Debug, Clone)]
pub struct RecoveredFile {
    /// The segment file.
    pub file: PathBuf,
    /// Frames kept.
    pub frames: usize,
    /// Bytes cut off the end (an incomplete fragment).
    pub bytes_dropped: u64,
}

/// A file or row that had to be set aside.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The segment file.
    pub file: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// What start-up reconciliation found and did.
#[derive(Debug, Clone, Default)]
pub struct ReconcileReport {
    /// Unfinished segments recovered and indexed.
    pub recovered: Vec<RecoveredFile>,
    /// Unreadable files moved to the directory's `quarantine/` folder.
    pub quarantined: Vec<Problem>,
    /// Index rows whose file was gone (removed from the index).
    pub missing: Vec<Problem>,
    /// Segments whose file does not match the index (kept, marked damaged, not served).
    pub damaged: Vec<Problem>,
    /// Interrupted deletions completed.
    pub garbage_collected: usize,
    /// Directories skipped because they are missing.
    pub offline_dirs: Vec<String>,
    /// Segments whose length and checksum were verified.
    pub verified: usize,
    /// Encrypted copies of an interrupted `vigil keys encrypt` put in place (their rows were committed).
    pub encryptions_finished: Vec<PathBuf>,
    /// Encrypted copies of an interrupted `vigil keys encrypt` deleted (their rows were not committed;
    /// the plain originals stay).
    pub encryptions_undone: Vec<PathBuf>,
    /// Blurred copies of an interrupted `vigil erase --blur` put in place (their rows were committed).
    pub blurs_finished: Vec<PathBuf>,
    /// Blurred copies of an interrupted `vigil erase --blur` deleted (their rows were not committed;
    /// the originals stay, not blurred: run the erasure again).
    pub blurs_undone: Vec<PathBuf>,
}

impl ReconcileReport {
    /// True when nothing needed attention.
    pub fn is_clean(&self) -> bool {
        self.recovered.is_empty()
            && self.quarantined.is_empty()
            && self.missing.is_empty()
            && self.damaged.is_empty()
            && self.offline_dirs.is_empty()
            && self.encryptions_finished.is_empty()
            && self.encryptions_undone.is_empty()
            && self.blurs_finished.is_empty()
            && self.blurs_undone.is_empty()
    }
}

impl fmt::Display for ReconcileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} recovered, {} quarantined, {} missing, {} damaged, {} deletions completed, {} verified",
            self.recovered.len(),
            self.quarantined.len(),
            self.missing.len(),
            self.damaged.len(),
            self.garbage_collected,
            self.verified
        )?;
        if !self.offline_dirs.is_empty() {
            write!(f, ", offline: {}", self.offline_dirs.join(", "))?;
        }
        if !self.encryptions_finished.is_empty() || !self.encryptions_undone.is_empty() {
            write!(
                f,
                ", interrupted encryption: {} segment(s) finished, {} copies removed",
                self.encryptions_finished.len(),
                self.encryptions_undone.len()
            )?;
        }
        if !self.blurs_finished.is_empty() || !self.blurs_undone.is_empty() {
            write!(
                f,
                ", interrupted blurring: {} segment(s) finished, {} copies removed (not blurred)",
                self.blurs_finished.len(),
                self.blurs_undone.len()
            )?;
        }
        for p in self
            .damaged
            .iter()
            .chain(&self.missing)
            .chain(&self.quarantined)
        {
            write!(f, "; {}: {}", p.file.display(), p.reason)?;
        }
        Ok(())
    }
}

struct Row {
    id: i64,
    stream_id: i64,
    seq: i64,
    bytes: u64,
    checksum: u32,
    start: i64,
    damaged: Option<String>,
}

pub(crate) fn reconcile(inner: &Inner) -> Result<ReconcileReport, StoreError> {
    let e = db_err(&inner.db_path);
    let mut report = ReconcileReport::default();
    let mut max_seq: HashMap<i64, i64> = HashMap::new();
    for (dir_index, dir) in inner.dirs.iter().enumerate() {
        if !dir.online.load(Ordering::Relaxed) {
            report.offline_dirs.push(dir.name.clone());
            continue;
        }
        // 1. interrupted deletions
        let garbage: Vec<String> = {
            let conn = inner.db();
            let mut q = conn
                .prepare("SELECT file_name FROM garbage WHERE dir_id = ?1")
                .map_err(&e)?;
            q.query_map([dir.id], |r| r.get(0))
                .map_err(&e)?
                .collect::<Result<_, _>>()
                .map_err(&e)?
        };
        if !garbage.is_empty() {
            for name in &garbage {
                let p = dir.path.join(name);
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => return Err(io_err(&p)(err)),
                }
            }
            sync_dir(&dir.path).map_err(io_err(&dir.path))?;
            inner
                .db()
                .execute("DELETE FROM garbage WHERE dir_id = ?1", [dir.id])
                .map_err(&e)?;
            report.garbage_collected += garbage.len();
        }

        // Copies of an interrupted `vigil keys encrypt` or `vigil erase --blur`: in place or gone
        // before rows are checked (recording.md R19, R20).
        crate::rewrite::finish_interrupted(inner, dir, &mut report)?;

        // Index rows of this directory.
        let mut rows: HashMap<String, Row> = {
            let conn = inner.db();
            let mut q = conn
                .prepare(
                    "SELECT id, stream_id, seq, file_name, bytes, checksum, start_90k, damaged
                     FROM segments WHERE dir_id = ?1",
                )
                .map_err(&e)?;
            q.query_map([dir.id], |r| {
                Ok((
                    r.get::<_, String>(3)?,
                    Row {
                        id: r.get(0)?,
                        stream_id: r.get(1)?,
                        seq: r.get(2)?,
                        bytes: r.get::<_, i64>(4)? as u64,
                        checksum: r.get::<_, i64>(5)? as u32,
                        start: r.get(6)?,
                        damaged: r.get(7)?,
                    },
                ))
            })
            .map_err(&e)?
            .collect::<Result<_, _>>()
            .map_err(&e)?
        };
        for r in rows.values() {
            let m = max_seq.entry(r.stream_id).or_insert(0);
            *m = (*m).max(r.seq);
        }

        // Files on disk.
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir.path).map_err(io_err(&dir.path))? {
            let entry = entry.map_err(io_err(&dir.path))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some((stream_id, seq)) = parse_file_name(&name) {
                let m = max_seq.entry(stream_id).or_insert(0);
                *m = (*m).max(seq);
                files.push(name);
            }
        }
        files.sort();

        // The newest segment of each stream here gets its checksum verified in Quick mode.
        let mut newest: HashMap<i64, (i64, String)> = HashMap::new();
        for (name, r) in &rows {
            let n = newest.entry(r.stream_id).or_insert((r.start, name.clone()));
            if r.start > n.0 {
                *n = (r.start, name.clone());
            }
        }

        // 2 and 4: files
        for name in files {
            let path = dir.path.join(&name);
            match rows.remove(&name) {
                Some(row) => {
                    let full = inner.config.verify == VerifyLevel::Full
                        || newest.get(&row.stream_id).is_some_and(|(_, n)| n == &name);
                    let problem = check_file(&path, &row, full);
                    if full {
                        report.verified += 1;
                    }
                    set_damaged(inner, &row, problem.clone())?;
                    if let Some(reason) = problem {
                        report.damaged.push(Problem { file: path, reason });
                    }
                }
                None => recover_file(inner, dir_index, &path, &mut report)?,
            }
        }

        // 3. rows without files
        if !rows.is_empty() {
            let mut conn = inner.db();
            let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
            for (name, row) in &rows {
                // Kept in the chain as removed, with why: `vigil verify recordings` names it.
                crate::integrity::record_removed(
                    &tx,
                    row.id,
                    &format!("its file {name} was missing when the store opened"),
                )
                .map_err(&e)?;
                crate::crypt::forget_key(&tx, row.id).map_err(&e)?;
                tx.execute("DELETE FROM segments WHERE id = ?1", [row.id])
                    .map_err(&e)?;
                report.missing.push(Problem {
                    file: dir.path.join(name),
                    reason: "indexed segment file is missing; removed from the index".into(),
                });
            }
            tx.commit().map_err(&e)?;
        }
    }
    // 4. keys of segments that were never indexed nor left a file (nothing records yet; a directory
    // offline may still hold such files, so then they stay).
    if report.offline_dirs.is_empty() {
        let conn = inner.db();
        conn.execute(
            "DELETE FROM segment_keys WHERE NOT EXISTS (SELECT 1 FROM segments s
                 WHERE s.stream_id = segment_keys.stream_id AND s.seq = segment_keys.seq)",
            [],
        )
        .map_err(&e)?;
    }
    let mut st = lock(&inner.state);
    for (stream, seq) in max_seq {
        let next = st.next_seq.entry(stream).or_insert(seq + 1);
        *next = (*next).max(seq + 1);
    }
    Ok(report)
}

/// Compares a file with its row; `Some(reason)` when they disagree.
fn check_file(path: &std::path::Path, row: &Row, full: bool) -> Option<String> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) => return Some(format!("cannot stat: {e}")),
    };
    if len != row.bytes {
        return Some(format!(
            "length {len} bytes but the index says {} (truncated or overwritten)",
            row.bytes
        ));
    }
    if full {
        match file_checksum(path) {
            Ok((_, crc)) if crc != row.checksum => {
                return Some(format!(
                    "checksum {crc:08x} but the index says {:08x} (corrupted)",
                    row.checksum
                ));
            }
            Ok(_) => {}
            Err(e) => return Some(format!("cannot read: {e}")),
        }
    }
    None
}

fn set_damaged(inner: &Inner, row: &Row, problem: Option<String>) -> Result<(), StoreError> {
    if row.damaged == problem {
        return Ok(());
    }
    // A file that matches again (restored from a backup) is served again; a quick check that cannot
    // see a checksum problem does not clear an earlier full check's finding.
    if problem.is_none()
        && row
            .damaged
            .as_deref()
            .is_some_and(|d| d.starts_with("checksum"))
    {
        return Ok(());
    }
    inner
        .db()
        .execute(
            "UPDATE segments SET damaged = ?1 WHERE id = ?2",
            params![problem, row.id],
        )
        .map_err(db_err(&inner.db_path))?;
    Ok(())
}

/// Indexes an unfinished segment file, or quarantines it.
fn recover_file(
    inner: &Inner,
    dir_index: usize,
    path: &std::path::Path,
    report: &mut ReconcileReport,
) -> Result<(), StoreError> {
    let dir = &inner.dirs[dir_index];
    let recovered = match recover(path) {
        Ok(r) if !r.index.frames.is_empty() => r,
        Ok(_) => {
            // Header only: nothing was recorded in it.
            std::fs::remove_file(path).map_err(io_err(path))?;
            sync_dir(&dir.path).map_err(io_err(&dir.path))?;
            return Ok(());
        }
        Err(reason) => {
            let qdir = dir.path.join("quarantine");
            std::fs::create_dir_all(&qdir).map_err(io_err(&qdir))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let target = qdir.join(format!("{name}.{}", crate::alerts::now_90k()));
            std::fs::rename(path, &target).map_err(io_err(path))?;
            sync_dir(&qdir).map_err(io_err(&qdir))?;
            sync_dir(&dir.path).map_err(io_err(&dir.path))?;
            report.quarantined.push(Problem {
                file: target,
                reason: format!("unreadable segment file: {reason}"),
            });
            return Ok(());
        }
    };
    if recovered.valid_len < recovered.file_len {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        f.set_len(recovered.valid_len).map_err(io_err(path))?;
        f.sync_all().map_err(io_err(path))?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(io_err(path))?;
    }
    let h = &recovered.header;
    let (camera_id, stream_id) = inner.ensure_stream(&h.camera, &h.stream)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The file name carries the sequence number the recorder used; keep it unless it clashes.
    let seq = match parse_file_name(&file_name) {
        Some((_, seq)) => seq,
        None => h.seq,
    };
    let media = recovered.index.duration() as i64;
    inner.commit_segment(&NewSegment {
        stream_id,
        camera_id,
        dir: dir_index,
        seq: if stream_id == h.stream_id {
            seq
        } else {
            inner.next_seq(stream_id)
        },
        file_name: &file_name,
        start_90k: h.start_90k,
        duration_90k: media,
        media_duration_90k: media,
        bytes: recovered.valid_len,
        checksum: recovered.checksum,
        sha256: recovered.sha256,
        run_start: h.run_start,
        recovered: true,
        sample_entry: &recovered.sample_entry,
        index: &recovered.index,
    })?;
    report.recovered.push(RecoveredFile {
        file: path.to_path_buf(),
        frames: recovered.index.frames.len(),
        bytes_dropped: recovered.file_len - recovered.valid_len,
    });
    Ok(())
}
