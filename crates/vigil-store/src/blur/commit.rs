//! Steps 2 and 3 of an erasure by blurring (see the parent module): one transaction per stream's batch
//! of blurred copies, then the renames.

use super::{Copy, KIND_BLUR};
use crate::StoreError;
use crate::alerts::lock;
use crate::crypt::key_aad;
use crate::erasure::unheld_rows;
use crate::error::{db_err, io_err};
use crate::rewrite::{relink, with_wrapped};
use crate::segment_file::sync_dir;
use crate::store::Inner;
use rusqlite::params;
use std::collections::BTreeMap;
use std::path::Path;
use vigil_core::Time90k;
use vigil_keys::{KeyStore, SiteKey};

/// Removes the copies of an uncommitted batch.
pub(super) fn discard(batch: &[Copy<'_>]) {
    for c in batch {
        let _ = std::fs::remove_file(&c.tmp);
    }
}

/// Commits the copies of `batch` (one stream), which it empties, and renames them into place.
/// Returns the signed heads signed again.
#[allow(clippy::too_many_arguments)]
pub(super) fn commit_batch(
    inner: &Inner,
    camera: &str,
    from: Time90k,
    to: Time90k,
    reason: &str,
    site: &SiteKey,
    keys: Option<&KeyStore>,
    batch: &mut Vec<Copy<'_>>,
) -> Result<u64, StoreError> {
    // Nothing is deleted from the transaction to the last rename: retention removing a segment in
    // between would otherwise find the old file and leave the new one without a row.
    let _retention = lock(&inner.retention_lock);
    let dirs: BTreeMap<i64, &Path> = batch.iter().map(|c| (c.dir.id, &*c.dir.path)).collect();
    let fsync_dirs = || -> Result<(), StoreError> {
        for path in dirs.values() {
            sync_dir(path).map_err(io_err(path))?;
        }
        Ok(())
    };
    let committed =
        fsync_dirs().and_then(|()| commit_rows(inner, camera, from, to, reason, site, keys, batch));
    let heads = match committed {
        Ok(h) => h,
        Err(err) => {
            discard(batch);
            batch.clear();
            return Err(err);
        }
    };
    // Committed: from here start-up reconciliation would finish the renames.
    for c in batch.iter() {
        let file = c.dir.path.join(&c.target.file_name);
        std::fs::rename(&c.tmp, &file).map_err(io_err(&file))?;
    }
    fsync_dirs()?;
    let mut st = lock(&inner.state);
    for c in batch.iter() {
        let (now, was) = (c.file.bytes, c.target.bytes);
        let dir = st.dir_bytes.entry(c.dir.id).or_default();
        *dir = (*dir + now).saturating_sub(was);
        let cam = st.camera_bytes.entry(c.target.camera_id).or_default();
        *cam = (*cam + now).saturating_sub(was);
    }
    drop(st);
    batch.clear();
    Ok(heads)
}

/// The batch's transaction (the caller holds the retention lock): under the key folder's shared lock
/// when there are keys to seal, with the holds checked again.
#[allow(clippy::too_many_arguments)]
fn commit_rows(
    inner: &Inner,
    camera: &str,
    from: Time90k,
    to: Time90k,
    reason: &str,
    site: &SiteKey,
    keys: Option<&KeyStore>,
    batch: &[Copy<'_>],
) -> Result<u64, StoreError> {
    let Some(first) = batch.first() else {
        return Ok(0);
    };
    let stream_id = first.target.stream_id;
    let e = db_err(&inner.db_path);
    let plain: Vec<([u8; 32], Vec<u8>)> = batch
        .iter()
        .filter_map(|c| Some((c.key?, key_aad(stream_id, c.target.seq))))
        .collect();
    let work = |wrapped: Vec<vigil_keys::WrappedKey>| -> Result<u64, StoreError> {
        let mut conn = inner.db();
        let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
        unheld_rows(&tx, camera, from, to).map_err(|err| err.into_store(&e))?;
        let mut wrapped = wrapped.into_iter();
        let now_ms = vigil_core::time::now_unix_ms();
        for c in batch {
            let w = match c.key {
                Some(_) => wrapped.next(),
                None => None,
            };
            update_row(&tx, c, w.as_ref(), reason, now_ms)
                .map_err(&e)?
                .then_some(())
                .ok_or_else(|| StoreError::Rewrite {
                    file: c.dir.path.join(&c.target.file_name),
                    reason:
                        "the segment changed or went while it was re-encoded; nothing was changed"
                            .into(),
                })?;
        }
        let heads = relink(&tx, stream_id, first.target.seq, site).map_err(&e)?;
        tx.commit().map_err(&e)?;
        Ok(heads)
    };
    match keys {
        Some(keys) => with_wrapped(keys, &plain, work),
        None if plain.is_empty() => work(Vec::new()),
        None => Err(StoreError::Crypto(
            "encrypting the blurred segments needs the key store".into(),
        )),
    }
}

/// One copy's row, frame table, key and rewrite record. `false` when the row is no longer the one the
/// copy was made from.
fn update_row(
    tx: &rusqlite::Transaction<'_>,
    c: &Copy<'_>,
    wrapped: Option<&vigil_keys::WrappedKey>,
    reason: &str,
    now_ms: i64,
) -> rusqlite::Result<bool> {
    let t = c.target;
    let entry_id = crate::store::sample_entry_id(tx, &c.params)?;
    // Rows recorded before integrity keep no hash (they stay "before integrity" for the verifier).
    let n = tx
        .prepare_cached(
            "UPDATE segments SET bytes = ?2, checksum = ?3,
                 sha256 = CASE WHEN sha256 IS NULL THEN NULL ELSE ?4 END,
                 key_frames = ?5, sample_entry_id = ?6, reordered = ?7
             WHERE id = ?1 AND bytes = ?8 AND checksum = ?9",
        )?
        .execute(params![
            t.id,
            c.file.bytes as i64,
            i64::from(c.file.checksum),
            &c.file.sha256[..],
            c.file.index.key_frames() as i64,
            entry_id,
            c.file.index.has_composition_offsets(),
            t.bytes as i64,
            i64::from(t.checksum),
        ])?;
    if n != 1 {
        return Ok(false);
    }
    tx.prepare_cached("UPDATE segment_frames SET frame_index = ?2 WHERE segment_id = ?1")?
        .execute(params![t.id, c.file.index.encode()])?;
    match (wrapped, c.key_id) {
        (Some(w), Some(id)) => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO segment_keys (stream_id, seq, key_id, master_id, nonce, sealed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![t.stream_id, t.seq, &id[..], w.by, &w.nonce[..], w.sealed])?;
        }
        _ => {
            tx.prepare_cached("DELETE FROM segment_keys WHERE stream_id = ?1 AND seq = ?2")?
                .execute(params![t.stream_id, t.seq])?;
        }
    }
    tx.prepare_cached(
        "INSERT INTO rewritten_segments (stream_id, seq, kind, reason, old_sha256, new_sha256, at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        t.stream_id,
        t.seq,
        KIND_BLUR,
        reason,
        t.sha256,
        &c.file.sha256[..],
        now_ms
    ])?;
    Ok(true)
}
