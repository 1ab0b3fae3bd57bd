//! What rewriting committed segments in place needs, whatever the rewrite: encryption of a plain store
//! (`encrypt_existing.rs`, `vigil keys encrypt`) and erasure by blurring (`blur.rs`, `vigil erase --blur`).
//!
//! Both follow one order (invariants R19 and R20 of docs/design/recording.md): the new file is written
//! beside the old one as `<name><suffix>` and fsynced with its directory; one index transaction then
//! stores the new rows, re-links the stream's chain from the first changed segment on ([`relink`]) and
//! signs again the signed heads whose links changed; then the copies are renamed into place. Before any
//! of it, the chains of the streams concerned are verified ([`verify_streams`]): re-sealing recordings
//! that fail their check would hide tampering. At start-up, [`finish_interrupted`] renames into place
//! each copy whose row was committed and deletes the others, before any file is checked against its row.

use crate::StoreError;
use crate::error::{db_err, io_err};
use crate::integrity::verify::{Entry, VerifyScope, load_entries, lookup_chain, verify_recordings};
use crate::reconcile::ReconcileReport;
use crate::segment_file::{file_checksum, parse_file_name, sync_dir};
use crate::store::{DirState, Inner};
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use vigil_keys::{KeyStore, SiteKey, WrappedKey};

/// Suffix of a segment's encrypted copy until it replaces the original (`vigil keys encrypt`).
pub(crate) const ENCRYPTING_SUFFIX: &str = ".encrypting";
/// Suffix of a segment's blurred copy until it replaces the original (`vigil erase --blur`).
pub(crate) const BLURRING_SUFFIX: &str = ".blurring";

/// The path of `file`'s copy with `suffix`.
pub(crate) fn copy_path(file: &Path, suffix: &str) -> PathBuf {
    let mut p = file.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Removes `path` if it exists.
pub(crate) fn remove_if_there(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(io_err(path)(err)),
    }
}

/// Verifies the recordings of the `(camera, stream)` pairs in `streams` (`vigil verify recordings` per
/// camera), reporting (bytes hashed, bytes to hash) to `progress`. `false` when the callback stopped it;
/// [`StoreError::TamperedChain`] naming the problems when a stream concerned fails.
pub(crate) fn verify_streams(
    db: &Path,
    streams: &HashSet<(String, String)>,
    site: &SiteKey,
    progress: &mut dyn FnMut(u64, u64) -> ControlFlow<()>,
) -> Result<bool, StoreError> {
    let cameras: BTreeSet<&str> = streams.iter().map(|(c, _)| c.as_str()).collect();
    let (mut base, mut stopped) = (0u64, false);
    for camera in cameras {
        let scope = VerifyScope {
            camera: Some(camera.to_string()),
            ..Default::default()
        };
        let mut seen = (0u64, 0u64);
        let checked = verify_recordings(db, &scope, Some(site.public()), &mut |hashed, total| {
            seen = (hashed, total);
            if !stopped {
                stopped = progress(base + hashed, base + total).is_break();
            }
        })?;
        if stopped {
            return Ok(false);
        }
        base += seen.1;
        let mut problems = checked
            .problems
            .iter()
            .filter(|p| streams.contains(&(p.camera.clone(), p.stream.clone())))
            .peekable();
        if let Some(first) = problems.peek() {
            let (camera, stream) = (first.camera.clone(), first.stream.clone());
            let named = problems
                .map(|p| {
                    let what = match (p.seq, &p.file) {
                        (_, Some(f)) => format!("{}", f.display()),
                        (Some(s), None) => format!("segment {s}"),
                        (None, None) => "the stream".into(),
                    };
                    format!("{} {what}: {}", p.fault.as_str(), p.detail)
                })
                .collect();
            return Err(StoreError::TamperedChain {
                camera,
                stream,
                problems: named,
            });
        }
    }
    Ok(true)
}

/// Seals each `(data key, associated data)` under the master key and calls `store` with the wrapped
/// keys, all under the key folder's shared lock (taken by the first wrap), so that a master key rotation
/// finds them stored (R17). Without keys, `store` gets none.
pub(crate) fn with_wrapped<T>(
    keys: &KeyStore,
    plain: &[([u8; 32], Vec<u8>)],
    store: impl FnOnce(Vec<WrappedKey>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let Some(((first, aad), rest)) = plain.split_first() else {
        return store(Vec::new());
    };
    keys.wrap_and(first, aad, |w| {
        let mut wrapped = vec![w.clone()];
        for (k, aad) in rest {
            wrapped.push(keys.wrap_and(k, aad, |w| Ok::<_, StoreError>(w.clone()))?);
        }
        store(wrapped)
    })
}

/// Recomputes the links of `stream_id` from segment `from_seq` on (rows already updated) and signs
/// again, with `site`, each signed head whose link changed. Returns the heads signed.
pub(crate) fn relink(
    tx: &Transaction<'_>,
    stream_id: i64,
    from_seq: i64,
    site: &SiteKey,
) -> rusqlite::Result<u64> {
    let entries = load_entries(tx, stream_id, i64::MIN, i64::MAX)?;
    let mut chains: HashMap<i64, Option<[u8; 32]>> = HashMap::new();
    for (&seq, entry) in &entries {
        let chain = match entry {
            // A removal record keeps the link the segment had: the next one links to that.
            Entry::Removed { chain, .. } => *chain,
            Entry::Row(r) => match r.chain {
                Some(old) if seq >= from_seq => {
                    let prev = match r.prev_seq {
                        None => None,
                        Some(p) => match chains.get(&p) {
                            Some(c) => *c,
                            None => lookup_chain(tx, stream_id, p)?.flatten(),
                        },
                    };
                    let new = r.link_after(stream_id, &prev.unwrap_or([0; 32]));
                    if new != old {
                        tx.prepare_cached(
                            "UPDATE segments SET chain = ?3 WHERE stream_id = ?1 AND seq = ?2",
                        )?
                        .execute(params![stream_id, seq, &new[..]])?;
                    }
                    Some(new)
                }
                other => other,
            },
        };
        chains.insert(seq, chain);
    }
    let heads: Vec<(i64, i64, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT id, seq, chain FROM chain_heads WHERE stream_id = ?1 AND seq >= ?2",
        )?
        .query_map(params![stream_id, from_seq], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stale = BTreeMap::new();
    for (id, seq, signed) in heads {
        if let Some(Some(now)) = chains.get(&seq)
            && now[..] != signed[..]
        {
            tx.prepare_cached("DELETE FROM chain_heads WHERE id = ?1")?
                .execute([id])?;
            stale.insert(seq, *now);
        }
    }
    let now_ms = vigil_core::time::now_unix_ms();
    for (seq, chain) in &stale {
        crate::integrity::sign_head(tx, site, stream_id, *seq, chain, now_ms)?;
    }
    Ok(stale.len() as u64)
}

/// Start-up reconciliation's part (before any file is checked against its row): each copy an
/// interrupted rewrite left in `dir` is renamed into place when its row was committed, else deleted (the
/// original and its row are as they were).
///
/// - An encrypted copy (`.encrypting`) was committed when its segment has a key and the copy the row's
///   length and CRC-32.
/// - A blurred copy (`.blurring`) was committed when it has the row's length and CRC-32; it was not when
///   the original still has them.
///
/// A copy that matches nothing cannot happen short of a disk fault (copies are fsynced before the
/// commit): it is kept for a person to look at, and the row's check marks the segment damaged.
pub(crate) fn finish_interrupted(
    inner: &Inner,
    dir: &DirState,
    report: &mut ReconcileReport,
) -> Result<(), StoreError> {
    let e = db_err(&inner.db_path);
    let mut touched = false;
    for entry in std::fs::read_dir(&dir.path).map_err(io_err(&dir.path))? {
        let entry = entry.map_err(io_err(&dir.path))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((segment, suffix)) = [ENCRYPTING_SUFFIX, BLURRING_SUFFIX]
            .into_iter()
            .find_map(|suffix| Some((name.strip_suffix(suffix)?, suffix)))
            .filter(|(s, _)| parse_file_name(s).is_some())
        else {
            continue;
        };
        let tmp = dir.path.join(&name);
        let file = dir.path.join(segment);
        let encrypting = suffix == ENCRYPTING_SUFFIX;
        let row: Option<(i64, i64, bool)> = inner
            .db()
            .query_row(
                "SELECT g.bytes, g.checksum, EXISTS (SELECT 1 FROM segment_keys k
                     WHERE k.stream_id = g.stream_id AND k.seq = g.seq)
                 FROM segments g WHERE g.dir_id = ?1 AND g.file_name = ?2",
                params![dir.id, segment],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(&e)?;
        touched = true;
        let row = row.map(|(bytes, crc, keyed)| ((bytes as u64, crc as u32), keyed));
        // Committed, as far as the index tells without reading the copy.
        let maybe_committed = match row {
            None => false,
            Some((_, keyed)) => !encrypting || keyed,
        };
        let copy_matches = match row {
            Some((expected, _)) if maybe_committed => {
                file_checksum(&tmp).map_err(io_err(&tmp))? == expected
            }
            _ => false,
        };
        let (finished, undone) = if encrypting {
            (
                &mut report.encryptions_finished,
                &mut report.encryptions_undone,
            )
        } else {
            (&mut report.blurs_finished, &mut report.blurs_undone)
        };
        if copy_matches {
            std::fs::rename(&tmp, &file).map_err(io_err(&file))?;
            finished.push(file);
            continue;
        }
        let undo = match row {
            None => true,
            Some(_) if encrypting => !maybe_committed,
            // Blurred: the row still describes the original.
            Some((expected, _)) => match file_checksum(&file) {
                Ok(found) => found == expected,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => false,
                Err(err) => return Err(io_err(&file)(err)),
            },
        };
        if undo {
            std::fs::remove_file(&tmp).map_err(io_err(&tmp))?;
            undone.push(tmp);
        } else {
            tracing::error!(copy = %tmp.display(), "a rewritten copy does not match its committed row");
        }
    }
    if touched {
        sync_dir(&dir.path).map_err(io_err(&dir.path))?;
    }
    Ok(())
}
