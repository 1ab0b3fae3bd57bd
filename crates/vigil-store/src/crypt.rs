//! Encryption at rest of segment files (`[storage] encrypt`): each segment has its own random 256-bit
//! data key, sealed under the master key (vigil-keys) in the index's `segment_keys` table before the
//! first byte of video is written, so start-up recovery can still read what a crash left.
//!
//! Each fragment's frame data (the `mdat` payload) is encrypted with AES-256-GCM, nonce = the fragment's
//! sequence number in the file, associated data = that number and the data's offset (a fragment moved
//! elsewhere does not open). The ciphertext has the plaintext's length, so every offset of the frame
//! table is unchanged: exports and playback read a range by decrypting the fragments that hold it
//! ([`DecryptingReader`], one fragment cached). The 16-byte tag goes into the fragment's trailer box,
//! which grows from 16 to 32 bytes (`free` `VENC` crc32 tag); the CRC-32 still covers `moof` + `mdat` as
//! stored, so recovery checks fragments without the key. `moof` (frame sizes and times) and the header
//! box stay readable; the video does not.
//!
//! ring's AES-GCM uses the CPU's AES and carry-less multiply instructions where present; on CPUs
//! without them it falls back to a constant-time software implementation.

use crate::StoreError;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use rusqlite::params;
use sha2::{Digest, Sha256};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Mutex;

/// Length of an encrypted fragment's trailer box: size, `free`, `VENC`, CRC-32, GCM tag.
pub(crate) const ENC_TRAILER_LEN: u64 = 32;
/// Marker of an encrypted fragment's trailer.
pub(crate) const ENC_MARK: &[u8; 4] = b"VENC";

/// A segment's data key.
pub(crate) struct SegmentKey {
    key: LessSafeKey,
    /// First 8 bytes of `SHA-256("vigil segment key" || key)`: names the key in the file header.
    pub id: [u8; 8],
}

impl std::fmt::Debug for SegmentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SegmentKey({})", hex::encode(self.id))
    }
}

fn crypto(what: &str) -> StoreError {
    StoreError::Crypto(what.to_string())
}

impl SegmentKey {
    /// The cipher of a 256-bit key.
    pub(crate) fn new(bytes: &[u8; 32]) -> Result<Self, StoreError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map(LessSafeKey::new)
            .map_err(|_| crypto("AES-256-GCM key setup failed"))?;
        let mut h = Sha256::new();
        h.update(b"vigil segment key");
        h.update(bytes);
        let mut id = [0u8; 8];
        id.copy_from_slice(&h.finalize()[..8]);
        Ok(Self { key, id })
    }

    fn nonce(seq: u32) -> Nonce {
        let mut n = [0u8; 12];
        n[8..].copy_from_slice(&seq.to_be_bytes());
        Nonce::assume_unique_for_key(n)
    }

    fn aad(seq: u32, data_offset: u64) -> [u8; 29] {
        let mut a = [0u8; 29];
        a[..17].copy_from_slice(b"vigil fragment v1");
        a[17..21].copy_from_slice(&seq.to_be_bytes());
        a[21..].copy_from_slice(&data_offset.to_be_bytes());
        a
    }

    /// Encrypts fragment `seq`'s data (at `data_offset` in the file) in place; returns the tag.
    pub(crate) fn seal(
        &self,
        seq: u32,
        data_offset: u64,
        data: &mut [u8],
    ) -> Result<[u8; 16], StoreError> {
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Self::nonce(seq),
                Aad::from(Self::aad(seq, data_offset)),
                data,
            )
            .map_err(|_| crypto("encrypting a fragment failed"))?;
        let mut t = [0u8; 16];
        t.copy_from_slice(tag.as_ref());
        Ok(t)
    }

    /// Decrypts fragment `seq`'s data in place, checking its tag.
    pub(crate) fn open(
        &self,
        seq: u32,
        data_offset: u64,
        data: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), StoreError> {
        self.key
            .open_in_place_separate_tag(
                Self::nonce(seq),
                Aad::from(Self::aad(seq, data_offset)),
                Tag::from(*tag),
                data,
                0..,
            )
            .map(|_| ())
            .map_err(|_| crypto("a fragment does not decrypt (wrong key, or the file was altered)"))
    }
}

/// A segment's key as the index stores it.
pub(crate) struct StoredKey {
    stream_id: i64,
    seq: i64,
    key_id: Vec<u8>,
    wrapped: vigil_keys::WrappedKey,
}

/// The stored key of segment row `segment_id`; `None` when the segment is not encrypted.
pub(crate) fn stored_key(
    conn: &rusqlite::Connection,
    segment_id: i64,
) -> rusqlite::Result<Option<StoredKey>> {
    use rusqlite::OptionalExtension;
    conn.prepare_cached(
        "SELECT k.stream_id, k.seq, k.key_id, k.master_id, k.nonce, k.sealed
         FROM segment_keys k JOIN segments s ON s.stream_id = k.stream_id AND s.seq = k.seq
         WHERE s.id = ?1",
    )?
    .query_row([segment_id], |r| {
        let nonce: Vec<u8> = r.get(4)?;
        Ok(StoredKey {
            stream_id: r.get(0)?,
            seq: r.get(1)?,
            key_id: r.get(2)?,
            wrapped: vigil_keys::WrappedKey {
                by: r.get(3)?,
                // A malformed nonce fails to open below, named.
                nonce: nonce.try_into().unwrap_or([0; 12]),
                sealed: r.get(5)?,
            },
        })
    })
    .optional()
}

impl StoredKey {
    /// The segment key, opened with the key store (checked against the id the file was written with).
    pub(crate) fn open(
        &self,
        keys: &vigil_keys::KeyStore,
        file: &std::path::Path,
    ) -> Result<SegmentKey, StoreError> {
        let key =
            SegmentKey::new(&keys.unwrap(&self.wrapped, &key_aad(self.stream_id, self.seq))?)?;
        if key.id[..] != self.key_id[..] {
            return Err(StoreError::Crypto(format!(
                "the key stored for {} is not the one it was written with",
                file.display()
            )));
        }
        Ok(key)
    }
}

/// Magic at the start of an encrypted snapshot file (a JPEG starts with `FF D8`).
pub(crate) const SNAPSHOT_MAGIC: &[u8; 5] = b"VSNP1";

/// Encrypts and decrypts event snapshots: each file has its own key, derived (HKDF-SHA256) from the
/// store's snapshot key (`keys/snapshots.key`, sealed under the master key, so a rotation rewraps it)
/// and the file's name; the file is `VSNP1`, a random nonce, then the JPEG sealed with AES-256-GCM.
pub(crate) struct SnapshotCipher {
    kek: ring::hkdf::Prk,
}

impl std::fmt::Debug for SnapshotCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SnapshotCipher")
    }
}

/// Purpose of the snapshot key file.
pub(crate) const SNAPSHOT_KEY_PURPOSE: &str = "snapshot-kek";

impl SnapshotCipher {
    /// The cipher of the store's snapshot key (created at first use).
    pub(crate) fn of(keys: &vigil_keys::KeyStore) -> Result<Self, StoreError> {
        let (kek, _) = keys.data_key("snapshots", SNAPSHOT_KEY_PURPOSE)?;
        Ok(Self {
            kek: ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"vigil snapshot v1")
                .extract(kek.bytes()),
        })
    }

    fn file_key(&self, name: &str) -> Result<LessSafeKey, StoreError> {
        let info = [name.as_bytes()];
        let okm = self
            .kek
            .expand(&info, &AES_256_GCM)
            .map_err(|_| crypto("deriving a snapshot key failed"))?;
        Ok(LessSafeKey::new(UnboundKey::from(okm)))
    }

    /// The stored form of snapshot file `name` holding `jpeg`.
    pub(crate) fn seal(&self, name: &str, jpeg: &[u8]) -> Result<Vec<u8>, StoreError> {
        let nonce = vigil_keys::random_bytes::<12>()?;
        let mut body = jpeg.to_vec();
        self.file_key(name)?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut body,
            )
            .map_err(|_| crypto("encrypting a snapshot failed"))?;
        let mut out = Vec::with_capacity(SNAPSHOT_MAGIC.len() + 12 + body.len());
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// The JPEG of stored snapshot file `name`.
    pub(crate) fn open(&self, name: &str, stored: &[u8]) -> Result<Vec<u8>, StoreError> {
        let rest = stored
            .strip_prefix(&SNAPSHOT_MAGIC[..])
            .filter(|r| r.len() >= 12 + 16)
            .ok_or_else(|| crypto("not an encrypted snapshot"))?;
        let (nonce, body) = rest.split_at(12);
        let mut n = [0u8; 12];
        n.copy_from_slice(nonce);
        let mut body = body.to_vec();
        let plain = self
            .file_key(name)?
            .open_in_place(
                Nonce::assume_unique_for_key(n),
                Aad::from(name.as_bytes()),
                &mut body,
            )
            .map_err(|_| {
                crypto("a snapshot does not decrypt (wrong key, or the file was altered)")
            })?;
        Ok(plain.to_vec())
    }
}

/// Deletes the key of segment row `segment_id` (in the transaction that deletes the row).
pub(crate) fn forget_key(tx: &rusqlite::Transaction<'_>, segment_id: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "DELETE FROM segment_keys WHERE (stream_id, seq) IN
             (SELECT stream_id, seq FROM segments WHERE id = ?1)",
    )?
    .execute([segment_id])?;
    Ok(())
}

/// Rewraps every segment key sealed under the retiring master key (`vigil keys rotate`), in batches
/// of 500 rows per transaction so that recording commits interleave. Returns the number rewrapped; run
/// again after an interruption, it goes on where it stopped.
pub fn rewrap_segment_keys(
    db: &std::path::Path,
    rewrap: &vigil_keys::Rewrap,
) -> Result<usize, StoreError> {
    let e = crate::error::db_err(db);
    let mut conn = crate::schema::open_rw(db)?;
    let mut done = 0usize;
    loop {
        let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
        let rows: Vec<(i64, i64, Vec<u8>, Vec<u8>)> = tx
            .prepare_cached(
                "SELECT stream_id, seq, nonce, sealed FROM segment_keys WHERE master_id = ?1 LIMIT 500",
            )
            .and_then(|mut st| {
                st.query_map([rewrap.old_id()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect()
            })
            .map_err(&e)?;
        if rows.is_empty() {
            return Ok(done);
        }
        for (stream_id, seq, nonce, sealed) in rows {
            let w = vigil_keys::WrappedKey {
                by: rewrap.old_id().to_string(),
                nonce: nonce
                    .try_into()
                    .map_err(|_| crypto("a stored segment key's nonce is malformed"))?,
                sealed,
            };
            if let Some(n) = rewrap.rewrap(&w, &key_aad(stream_id, seq))? {
                tx.prepare_cached(
                    "UPDATE segment_keys SET master_id = ?3, nonce = ?4, sealed = ?5
                     WHERE stream_id = ?1 AND seq = ?2",
                )
                .and_then(|mut st| {
                    st.execute(params![stream_id, seq, n.by, &n.nonce[..], n.sealed])
                })
                .map_err(&e)?;
                done += 1;
            }
        }
        tx.commit().map_err(&e)?;
    }
}

/// The associated data a segment's key is sealed with in the index: binds it to its stream and number.
pub(crate) fn key_aad(stream_id: i64, seq: i64) -> Vec<u8> {
    format!("vigil segment key v1|{stream_id}|{seq}").into_bytes()
}

/// Reads an encrypted segment file by the offsets of its plain layout, decrypting whole fragments (the
/// last one kept for the next read: exports and playback read in order).
pub(crate) struct DecryptingReader {
    pub path: PathBuf,
    pub key: SegmentKey,
    /// Each fragment's data: offset and length, in file order (fragment `i` has sequence number `i + 1`).
    pub fragments: Vec<(u64, u64)>,
    cache: Mutex<Option<(usize, Vec<u8>)>>,
}

impl std::fmt::Debug for DecryptingReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptingReader")
            .field("path", &self.path)
            .field("fragments", &self.fragments.len())
            .finish_non_exhaustive()
    }
}

impl DecryptingReader {
    /// A reader of `path` with `key`, whose fragments' data lie at `fragments`.
    pub(crate) fn new(path: PathBuf, key: SegmentKey, fragments: Vec<(u64, u64)>) -> Self {
        Self {
            path,
            key,
            fragments,
            cache: Mutex::new(None),
        }
    }

    fn decrypt(&self, file: &std::fs::File, i: usize) -> std::io::Result<Vec<u8>> {
        let (offset, len) = self.fragments[i];
        let mut buf = vec![0u8; len as usize + ENC_TRAILER_LEN as usize];
        file.read_exact_at(&mut buf, offset)?;
        let trailer = buf.split_off(len as usize);
        if &trailer[8..12] != ENC_MARK {
            return Err(std::io::Error::other(format!(
                "fragment {} of {} is not encrypted as its segment says",
                i + 1,
                self.path.display()
            )));
        }
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&trailer[16..32]);
        self.key
            .open(i as u32 + 1, offset, &mut buf, &tag)
            .map_err(|e| std::io::Error::other(format!("{}: {e}", self.path.display())))?;
        Ok(buf)
    }
}

impl vigil_mp4::SourceReader for DecryptingReader {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let file = std::fs::File::open(&self.path)?;
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let i = self
                .fragments
                .partition_point(|&(o, l)| o + l <= at)
                .min(self.fragments.len().saturating_sub(1));
            let Some(&(frag_offset, frag_len)) = self.fragments.get(i) else {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            };
            if at < frag_offset || at >= frag_offset + frag_len {
                return Err(std::io::Error::other(format!(
                    "byte {at} of {} is outside every fragment's data",
                    self.path.display()
                )));
            }
            let mut cache = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if cache.as_ref().is_none_or(|(c, _)| *c != i) {
                *cache = Some((i, self.decrypt(&file, i)?));
            }
            let Some((_, plain)) = cache.as_ref() else {
                return Err(std::io::Error::other("fragment cache empty"));
            };
            let from = (at - frag_offset) as usize;
            let n = (plain.len() - from).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&plain[from..from + n]);
            done += n;
        }
        Ok(())
    }
}
