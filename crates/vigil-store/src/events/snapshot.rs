//! Event snapshots: the best full frame and a crop around the object, as JPEG files under the snapshot
//! directory, referenced from the event's row with their lengths and CRC-32s.
//!
//! Crash safety: the names a write will create go into `event_snapshot_garbage` first (committed);
//! then each file is written to a temporary name, fsynced, renamed and the directory fsynced; then one
//! transaction points the row at the new files, moves the replaced ones into the garbage table and
//! takes the new ones out; then the replaced files are unlinked and their garbage rows dropped. A crash
//! anywhere leaves only files listed in the garbage table without a row, and opening the store deletes
//! those. Files are never rewritten in place, so a reader sees an old snapshot or a new one, whole.

use super::{SnapshotInfo, now_ms};
use crate::StoreError;
use crate::error::{db_err, io_err};
use crate::segment_file::sync_dir;
use crate::store::{Inner, Store};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use vigil_core::EventId;

/// Which image of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotKind {
    /// The whole frame.
    Full,
    /// A crop around the best object.
    Crop,
}

impl SnapshotKind {
    /// `full` or `crop`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Crop => "crop",
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Self::Full => "-full.jpg",
            Self::Crop => "-crop.jpg",
        }
    }
}

/// The file of a snapshot (relative to the snapshot directory) from its row's base name.
pub(crate) fn file_name(base: &str, kind: SnapshotKind) -> String {
    format!("{base}{}", kind.suffix())
}

/// A unique, increasing number for new snapshot names (never reused, even across restarts, as it
/// starts from the clock in nanoseconds).
fn unique() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let prev = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or(0);
    now.max(prev + 1)
}

/// `YYYY-MM-DD` (UTC) of a unix ms time (days from civil, H. Hinnant's algorithm).
pub(crate) fn utc_day(unix_ms: i64) -> String {
    let z = unix_ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Checks that bytes look like a whole JPEG image (start and end markers).
fn check_jpeg(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 4 {
        return Err(format!(
            "{} bytes is too short for a JPEG image",
            bytes.len()
        ));
    }
    if bytes[..3] != [0xFF, 0xD8, 0xFF] {
        return Err("does not start with a JPEG start-of-image marker".into());
    }
    if bytes[bytes.len() - 2..] != [0xFF, 0xD9] {
        return Err("does not end with a JPEG end-of-image marker (truncated?)".into());
    }
    Ok(())
}

/// Writes a file crash-safely: temporary name, fsync, rename (the caller fsyncs the directory).
fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = tmp_path(path);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl Store {
    /// Saves an event's best snapshot: the full frame and optionally a crop around the object, both
    /// JPEG bytes (encoded by the caller). Replaces the event's previous snapshot. Refused when the
    /// event is unknown, the bytes are not JPEG images, or together they exceed
    /// `events.max_snapshot_bytes`.
    pub fn save_snapshot(
        &self,
        id: EventId,
        full: &[u8],
        crop: Option<&[u8]>,
    ) -> Result<SnapshotInfo, StoreError> {
        let inner = self.inner();
        let id_text = id.to_string();
        let total = full.len() as u64 + crop.map_or(0, |c| c.len() as u64);
        let max = inner.config.events.max_snapshot_bytes;
        if total > max {
            return Err(StoreError::SnapshotTooLarge {
                id: id_text,
                bytes: total,
                max,
            });
        }
        for (kind, bytes) in [(SnapshotKind::Full, Some(full)), (SnapshotKind::Crop, crop)] {
            if let Some(b) = bytes {
                check_jpeg(b).map_err(|reason| StoreError::InvalidSnapshot {
                    id: id_text.clone(),
                    reason: format!("{} image {reason}", kind.name()),
                })?;
            }
        }
        let root = super::snapshot_root(&inner.config);
        let e = db_err(&inner.db_path);
        let base = format!("{}/{id_text}-{:x}", utc_day(id.unix_ms() as i64), unique());
        let mut files: Vec<(SnapshotKind, Vec<u8>)> = vec![(SnapshotKind::Full, full.to_vec())];
        if let Some(c) = crop {
            files.push((SnapshotKind::Crop, c.to_vec()));
        }
        // Encrypted at rest like the recordings (crypt.rs `SnapshotCipher`); never written in the clear
        // when encryption is on.
        if inner.config.encrypt {
            let keys = crate::store::lock_keys(inner).ok_or_else(|| {
                StoreError::Crypto(
                    "[storage] encrypt is on but no key store is set: snapshots are not written in the clear"
                        .into(),
                )
            })?;
            let cipher = crate::crypt::SnapshotCipher::of(&keys)?;
            for (kind, bytes) in &mut files {
                *bytes = cipher.seal(&file_name(&base, *kind), bytes)?;
            }
        }
        let new_names: Vec<String> = files
            .iter()
            .flat_map(|(k, _)| {
                let f = file_name(&base, *k);
                [format!("{f}.tmp"), f]
            })
            .collect();

        // 1. the event exists; the new names are garbage until the row points at them
        {
            let mut conn = inner.events_db();
            let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
            let exists = tx
                .prepare_cached("SELECT 1 FROM events WHERE event_id = ?1")
                .map_err(&e)?
                .exists([&id_text])
                .map_err(&e)?;
            if !exists {
                return Err(StoreError::EventNotFound { id: id_text });
            }
            for n in &new_names {
                tx.execute(
                    "INSERT OR IGNORE INTO event_snapshot_garbage (file) VALUES (?1)",
                    [n],
                )
                .map_err(&e)?;
            }
            tx.commit().map_err(&e)?;
        }

        // 2. the files
        let day_dir = root.join(utc_day(id.unix_ms() as i64));
        let written = (|| -> Result<Vec<(u64, u32)>, StoreError> {
            std::fs::create_dir_all(&day_dir).map_err(io_err(&day_dir))?;
            let mut sums = Vec::new();
            for (kind, bytes) in &files {
                let path = root.join(file_name(&base, *kind));
                write_file(&path, bytes).map_err(io_err(&path))?;
                sums.push((bytes.len() as u64, crc32fast::hash(bytes)));
            }
            sync_dir(&day_dir).map_err(io_err(&day_dir))?;
            sync_dir(&root).map_err(io_err(&root))?;
            Ok(sums)
        })();
        let sums = match written {
            Ok(s) => s,
            Err(err) => {
                discard(inner, &root, &new_names);
                return Err(err);
            }
        };

        // 3. point the row at them; the replaced files become garbage
        let saved_ms = now_ms();
        let old: Option<Option<String>> = {
            let mut conn = inner.events_db();
            let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
            let old: Option<Option<String>> = tx
                .query_row(
                    "SELECT snapshot FROM events WHERE event_id = ?1",
                    [&id_text],
                    |r| r.get(0),
                )
                .optional()
                .map_err(&e)?;
            if old.is_some() {
                let crop_sum = sums.get(1);
                tx.execute(
                    "UPDATE events SET snapshot = ?2, snapshot_full_bytes = ?3, snapshot_full_crc = ?4,
                        snapshot_crop_bytes = ?5, snapshot_crop_crc = ?6, snapshot_ms = ?7
                     WHERE event_id = ?1",
                    params![
                        id_text,
                        base,
                        sums[0].0 as i64,
                        i64::from(sums[0].1),
                        crop_sum.map(|s| s.0 as i64),
                        crop_sum.map(|s| i64::from(s.1)),
                        saved_ms
                    ],
                )
                .map_err(&e)?;
                for n in &new_names {
                    tx.execute("DELETE FROM event_snapshot_garbage WHERE file = ?1", [n])
                        .map_err(&e)?;
                }
                if let Some(Some(prev)) = &old {
                    for k in [SnapshotKind::Full, SnapshotKind::Crop] {
                        tx.execute(
                            "INSERT OR IGNORE INTO event_snapshot_garbage (file) VALUES (?1)",
                            [file_name(prev, k)],
                        )
                        .map_err(&e)?;
                    }
                }
            }
            tx.commit().map_err(&e)?;
            old
        };
        match old {
            None => {
                // deleted while the files were written
                discard(inner, &root, &new_names);
                Err(StoreError::EventNotFound { id: id_text })
            }
            Some(prev) => {
                if let Some(prev) = prev {
                    let names: Vec<String> = [SnapshotKind::Full, SnapshotKind::Crop]
                        .iter()
                        .map(|k| file_name(&prev, *k))
                        .collect();
                    discard(inner, &root, &names);
                }
                Ok(SnapshotInfo {
                    full_bytes: sums[0].0,
                    crop_bytes: sums.get(1).map(|s| s.0),
                    saved_ms,
                })
            }
        }
    }
}

/// Unlinks files listed in the garbage table, fsyncs their directories, then drops their rows. A
/// failure is logged and leaves the rows for the next start-up.
pub(crate) fn discard(inner: &Inner, root: &Path, names: &[String]) {
    if let Err(err) = try_discard(inner, root, names) {
        tracing::error!("deleting snapshot files: {err}");
    }
}

fn try_discard(inner: &Inner, root: &Path, names: &[String]) -> Result<(), StoreError> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for n in names {
        let p = root.join(n);
        remove_if_present(&p).map_err(io_err(&p))?;
        if let Some(d) = p.parent()
            && !dirs.iter().any(|x| x == d)
        {
            dirs.push(d.to_path_buf());
        }
    }
    for d in &dirs {
        match sync_dir(d) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(io_err(d)(err)),
        }
    }
    let e = db_err(&inner.db_path);
    let mut conn = inner.db();
    let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
    for n in names {
        tx.prepare_cached("DELETE FROM event_snapshot_garbage WHERE file = ?1")
            .map_err(&e)?
            .execute([n])
            .map_err(&e)?;
    }
    tx.commit().map_err(&e)
}

/// At start-up: deletes every file left in the garbage table (interrupted writes, replacements and
/// deletions). Only safe while nothing else writes snapshots.
pub(crate) fn sweep_garbage(inner: &Inner, root: &Path) -> Result<(), StoreError> {
    let e = db_err(&inner.db_path);
    let names: Vec<String> = {
        let conn = inner.db();
        let mut q = conn
            .prepare("SELECT file FROM event_snapshot_garbage")
            .map_err(&e)?;
        q.query_map([], |r| r.get(0))
            .map_err(&e)?
            .collect::<Result<_, _>>()
            .map_err(&e)?
    };
    if names.is_empty() {
        return Ok(());
    }
    tracing::info!(
        "finishing {} interrupted snapshot write(s) or deletion(s)",
        names.len()
    );
    for chunk in names.chunks(1000) {
        try_discard(inner, root, chunk)?;
    }
    Ok(())
}

/// Reads a stored snapshot file and checks it against the row's length and CRC-32.
pub(crate) fn read_checked(path: &Path, bytes: u64, crc: u32) -> Result<Vec<u8>, StoreError> {
    let corrupt = |reason: String| StoreError::CorruptSnapshot {
        path: path.to_path_buf(),
        reason,
    };
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(corrupt("missing (deleted or lost outside Vigil)".into()));
        }
        Err(err) => return Err(io_err(path)(err)),
    };
    if data.len() as u64 != bytes {
        return Err(corrupt(format!(
            "{} bytes, the index says {bytes} (truncated or overwritten)",
            data.len()
        )));
    }
    let got = crc32fast::hash(&data);
    if got != crc {
        return Err(corrupt(format!(
            "checksum {got:08x} does not match the index ({crc:08x}): the file is damaged"
        )));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_days() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(1_704_067_200_000), "2024-01-01");
        assert_eq!(utc_day(1_709_164_800_000), "2024-02-29");
        assert_eq!(utc_day(1_709_251_199_999), "2024-02-29");
        assert_eq!(utc_day(-1), "1969-12-31");
    }

    #[test]
    fn names_are_unique_and_increase() {
        let a = unique();
        let b = unique();
        assert!(b > a);
    }

    #[test]
    fn jpeg_markers_are_checked() {
        assert!(check_jpeg(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0, 0xFF, 0xD9]).is_ok());
        assert!(check_jpeg(b"GIF89a....").unwrap_err().contains("start"));
        assert!(
            check_jpeg(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0])
                .unwrap_err()
                .contains("truncated")
        );
        assert!(check_jpeg(&[]).unwrap_err().contains("too short"));
    }
}
