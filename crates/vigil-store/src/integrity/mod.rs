//! Recording integrity: each segment's SHA-256 in its index row, every row linked into a hash chain per
//! stream, and the chain's head signed with the site's Ed25519 key about once a minute.
//!
//! ```text
//! link(n) = SHA-256("vigil segment chain v1" || link(n-1) || stream, seq, seq(n-1), file name, start, durations,
//!                   bytes, frame and key-frame counts, flags || SHA-256(file) || SHA-256(frame table)
//!                   || SHA-256(sample entry))
//! ```
//!
//! `link(n-1)` is the link of the stream's previous segment (the previous sequence number present in
//! `segments` or, for segments deleted on purpose, in `removed_segments`); 32 zero bytes for the first.
//! So an edited file changes its hash, an edited row its link, a removed or inserted segment breaks the
//! links around it, and someone who rewrites the whole chain to hide an edit cannot sign the new head
//! without the site key. Retention and start-up reconciliation record what they delete in
//! `removed_segments` with the reason, so the chain stays checkable across them.
//!
//! Invariants R15 and R16 of docs/design/recording.md; checked by [`verify::verify_recordings`].

pub mod verify;

use rusqlite::{OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use vigil_keys::SiteKey;

/// A chain head is signed at most this often per stream while it records (and once more when the store
/// closes), so a rewrite can hide at most the last minute before a crash.
pub const SIGN_EVERY: Duration = Duration::from_secs(60);

/// A segment's integrity seal as the index holds it (`None`s for segments recorded before integrity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// Sequence number in its stream.
    pub seq: i64,
    /// Wall-clock start.
    pub start: vigil_core::Time90k,
    /// SHA-256 of the segment file.
    pub sha256: Option<Vec<u8>>,
    /// Its link in the stream's hash chain.
    pub chain: Option<[u8; 32]>,
}

/// What the link of a segment covers.
pub(crate) struct LinkFields<'a> {
    pub stream_id: i64,
    pub seq: i64,
    /// The sequence number of the link before (0: none), so that a segment removed or inserted between
    /// two others is named.
    pub prev_seq: i64,
    pub file_name: &'a str,
    pub start_90k: i64,
    pub duration_90k: i64,
    pub media_duration_90k: i64,
    pub bytes: i64,
    pub frames: i64,
    pub key_frames: i64,
    pub run_start: bool,
    pub recovered: bool,
    pub reordered: bool,
    pub sha256: &'a [u8],
    pub frame_index: &'a [u8],
    pub sample_entry: &'a [u8],
}

/// The chain link of a segment after `prev`.
pub(crate) fn link(prev: &[u8; 32], f: &LinkFields<'_>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"vigil segment chain v1");
    h.update(prev);
    for v in [
        f.stream_id,
        f.seq,
        f.prev_seq,
        f.start_90k,
        f.duration_90k,
        f.media_duration_90k,
        f.bytes,
        f.frames,
        f.key_frames,
    ] {
        h.update(v.to_be_bytes());
    }
    h.update([
        u8::from(f.run_start),
        u8::from(f.recovered),
        u8::from(f.reordered),
    ]);
    h.update((f.file_name.len() as u32).to_be_bytes());
    h.update(f.file_name.as_bytes());
    h.update((f.sha256.len() as u32).to_be_bytes());
    h.update(f.sha256);
    h.update(Sha256::digest(f.frame_index));
    h.update(Sha256::digest(f.sample_entry));
    h.finalize().into()
}

/// A stored link as 32 bytes (`None` for rows written before integrity, or a malformed value).
pub(crate) fn as_link(blob: Option<Vec<u8>>) -> Option<[u8; 32]> {
    blob.and_then(|b| b.try_into().ok())
}

/// The entry before `seq` in `stream_id`'s chain (the previous segment, kept or removed on purpose):
/// its sequence number (0 when there is none) and link (zeros when none or it predates integrity).
pub(crate) fn prev_link(
    tx: &Transaction<'_>,
    stream_id: i64,
    seq: i64,
) -> rusqlite::Result<(i64, [u8; 32])> {
    let prev: Option<(i64, Option<Vec<u8>>)> = tx
        .prepare_cached(
            "SELECT seq, chain FROM (
                 SELECT seq, chain FROM segments WHERE stream_id = ?1 AND seq < ?2
                 UNION ALL
                 SELECT seq, chain FROM removed_segments WHERE stream_id = ?1 AND seq < ?2)
             ORDER BY seq DESC LIMIT 1",
        )?
        .query_row(params![stream_id, seq], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match prev {
        Some((p, chain)) => (p, as_link(chain).unwrap_or([0; 32])),
        None => (0, [0; 32]),
    })
}

/// The message a chain head's signature covers.
pub(crate) fn head_message(stream_id: i64, seq: i64, chain: &[u8], signed_ms: i64) -> Vec<u8> {
    let mut m = b"vigil chain head v1".to_vec();
    m.extend_from_slice(&stream_id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(chain);
    m.extend_from_slice(&signed_ms.to_be_bytes());
    m
}

/// Signs the head `(seq, chain)` of a stream and stores the signature.
pub(crate) fn sign_head(
    tx: &Transaction<'_>,
    key: &SiteKey,
    stream_id: i64,
    seq: i64,
    chain: &[u8; 32],
    now_ms: i64,
) -> rusqlite::Result<()> {
    let sig = key.sign(&head_message(stream_id, seq, chain, now_ms));
    tx.prepare_cached(
        "INSERT INTO chain_heads (stream_id, seq, chain, signed_ms, key_id, signature)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        stream_id,
        seq,
        &chain[..],
        now_ms,
        key.public().id(),
        &sig[..]
    ])?;
    Ok(())
}

/// Records segments about to be deleted on purpose (`(segment id, reason)`), so that the chain stays
/// checkable across them, and drops the records of their rewrites. Run in the deleting transaction,
/// before the rows go.
/// Returns the segment's stream (for [`prune`] once the rows are gone).
pub(crate) fn record_removed(
    tx: &Transaction<'_>,
    segment_id: i64,
    reason: &str,
) -> rusqlite::Result<Option<i64>> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO removed_segments (stream_id, seq, chain, removed_ms, reason)
         SELECT stream_id, seq, chain, ?2, ?3 FROM segments WHERE id = ?1 AND chain IS NOT NULL",
    )?
    .execute(params![segment_id, vigil_core::time::now_unix_ms(), reason])?;
    // Its rewrites (erasure by blurring) go with it.
    tx.prepare_cached(
        "DELETE FROM rewritten_segments WHERE (stream_id, seq) IN
             (SELECT stream_id, seq FROM segments WHERE id = ?1)",
    )?
    .execute([segment_id])?;
    tx.prepare_cached("SELECT stream_id FROM segments WHERE id = ?1")?
        .query_row([segment_id], |r| r.get(0))
        .optional()
}

/// Prunes what no remaining segment of `stream_id` needs (run after rows are deleted): removals before
/// its oldest segment but the newest of them (the anchor its first link is checked against), and heads
/// signed before that anchor.
pub(crate) fn prune(tx: &Transaction<'_>, stream_id: i64) -> rusqlite::Result<()> {
    let anchor: Option<i64> = tx
        .prepare_cached(
            "SELECT MAX(seq) FROM removed_segments WHERE stream_id = ?1
               AND seq < COALESCE((SELECT MIN(seq) FROM segments WHERE stream_id = ?1), 9223372036854775807)",
        )?
        .query_row([stream_id], |r| r.get(0))?;
    if let Some(anchor) = anchor {
        tx.prepare_cached("DELETE FROM removed_segments WHERE stream_id = ?1 AND seq < ?2")?
            .execute(params![stream_id, anchor])?;
        tx.prepare_cached("DELETE FROM chain_heads WHERE stream_id = ?1 AND seq < ?2")?
            .execute(params![stream_id, anchor])?;
    }
    Ok(())
}

/// The site key a store signs chain heads with, and when it last signed each stream's head.
#[derive(Default)]
pub(crate) struct Signing {
    pub key: Option<Arc<SiteKey>>,
    /// Last signature per stream (unix ms).
    pub last_ms: std::collections::HashMap<i64, i64>,
}

impl Signing {
    /// True when `stream_id`'s head is due for a signature at `now_ms`.
    pub fn due(&self, stream_id: i64, now_ms: i64) -> bool {
        self.key.is_some()
            && self
                .last_ms
                .get(&stream_id)
                .is_none_or(|&t| now_ms - t >= SIGN_EVERY.as_millis() as i64)
    }
}

/// Length and SHA-256 of a file, reporting bytes read as it goes.
pub(crate) fn hash_file(
    path: &Path,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<(u64, [u8; 32])> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        len += n as u64;
        progress(n as u64);
    }
    Ok((len, h.finalize().into()))
}
