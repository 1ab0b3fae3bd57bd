//! Segment files: each one a fragmented MP4 that any player opens on its own.
//!
//! ```text
//! ftyp | uuid "vigil-segment-v1" (stream, sequence, wall-clock start, camera and stream names)
//!      | moov (the sample entry; mvex)
//!      | [ moof | mdat | free "VCRC" crc32(moof+mdat) ]*     one fragment per GOP or per second
//! ```
//!
//! Why this format: a fragment is written with one `write` once its frames' durations are known, so a
//! file cut at any point (process killed, power lost) holds every complete fragment before the cut and
//! plays in standard tools; the checksum box after each fragment (a `free` box, ignored by players) lets
//! start-up recovery tell a complete fragment from a torn or zero-filled tail; and the header box makes
//! each file self-describing, so the index can be rebuilt from the files alone. The index row adds the
//! exact length and a CRC-32 of the whole file, which is how truncation or corruption of a committed
//! segment is detected. Exports read frame bytes straight from these files (the frame table in the index
//! gives their offsets), so the recorder never copies video twice.
//!
//! Invariant R2 of docs/design/recording.md: a file cut at any byte keeps its complete fragments, with
//! their frames' composition offsets.

use crate::crypt::{ENC_MARK, ENC_TRAILER_LEN, SegmentKey};
use crate::frame_index::{FragmentEntry, FrameEntry, FrameIndex};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use vigil_mp4::fragment::{self, FragmentSample};
use vigil_mp4::read_box_header;

/// UUID of the header box (16 ASCII bytes).
const HEADER_UUID: &[u8; 16] = b"vigil-segment-v1";
/// Marker inside the per-fragment checksum box.
const CRC_MARK: &[u8; 4] = b"VCRC";
/// Size of the checksum box.
const CRC_BOX_LEN: u64 = 16;

/// What a segment file says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub stream_id: i64,
    pub seq: i64,
    /// Wall-clock start, 90 kHz since the Unix epoch.
    pub start_90k: i64,
    pub run_start: bool,
    pub camera: String,
    pub stream: String,
    /// Id of the segment's data key when its frame data is encrypted (crypt.rs; header version 2).
    pub key_id: Option<[u8; 8]>,
}

impl SegmentHeader {
    fn to_box(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(80);
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(b"uuid");
        b.extend_from_slice(HEADER_UUID);
        b.push(if self.key_id.is_some() { 2 } else { 1 }); // version
        b.extend_from_slice(&self.stream_id.to_be_bytes());
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&self.start_90k.to_be_bytes());
        b.push(u8::from(self.run_start));
        for s in [&self.camera, &self.stream] {
            let bytes = &s.as_bytes()[..s.len().min(1024)];
            b.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            b.extend_from_slice(bytes);
        }
        if let Some(id) = &self.key_id {
            b.extend_from_slice(id);
        }
        let len = b.len() as u32;
        b[0..4].copy_from_slice(&len.to_be_bytes());
        b
    }

    fn from_box_body(body: &[u8]) -> Result<Self, String> {
        let err = || "header box is truncated".to_string();
        if body.get(..16) != Some(&HEADER_UUID[..]) {
            return Err("not a Vigil segment (header uuid missing)".into());
        }
        let b = &body[16..];
        let version = b.first().copied();
        if version != Some(1) && version != Some(2) {
            return Err(format!("segment header version {version:?} is unknown"));
        }
        let i64_at = |p: usize| -> Result<i64, String> {
            let s = b.get(p..p + 8).ok_or_else(err)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            Ok(i64::from_be_bytes(a))
        };
        let stream_id = i64_at(1)?;
        let seq = i64_at(9)?;
        let start_90k = i64_at(17)?;
        let run_start = *b.get(25).ok_or_else(err)? == 1;
        let mut p = 26;
        let mut strings = Vec::new();
        for _ in 0..2 {
            let l = b.get(p..p + 2).ok_or_else(err)?;
            let l = usize::from(u16::from_be_bytes([l[0], l[1]]));
            let s = b.get(p + 2..p + 2 + l).ok_or_else(err)?;
            strings.push(String::from_utf8_lossy(s).into_owned());
            p += 2 + l;
        }
        let stream = strings.pop().unwrap_or_default();
        let camera = strings.pop().unwrap_or_default();
        let key_id = match version {
            Some(2) => {
                let id = b.get(p..p + 8).ok_or_else(err)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(id);
                Some(a)
            }
            _ => None,
        };
        Ok(Self {
            stream_id,
            seq,
            start_90k,
            run_start,
            camera,
            stream,
            key_id,
        })
    }
}

/// The file name of segment `seq` of stream `stream_id`.
pub(crate) fn file_name(stream_id: i64, seq: i64) -> String {
    format!("{stream_id}-{seq:08}.mp4")
}

/// Parses a segment file name back into `(stream_id, seq)`.
pub(crate) fn parse_file_name(name: &str) -> Option<(i64, i64)> {
    let stem = name.strip_suffix(".mp4")?;
    let (a, b) = stem.split_once('-')?;
    if a.is_empty() || b.is_empty() || !a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// fsyncs a directory so that created, renamed or removed entries in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A segment file being written.
pub(crate) struct SegmentWriter {
    path: PathBuf,
    file: File,
    len: u64,
    crc: crc32fast::Hasher,
    /// SHA-256 of what is written so far (the integrity chain's file hash).
    sha: Sha256,
    /// The segment's data key when its frame data is encrypted (crypt.rs).
    cipher: Option<SegmentKey>,
    /// The buffer fragments are encrypted in (kept between fragments).
    scratch: Vec<u8>,
    sequence: u32,
    index: FrameIndex,
    media_duration: u64,
    /// A failed write could not be rolled back: no more fragments; cut to `len` when finishing.
    broken: bool,
}

/// `write_all` for vectored writes (the std one is unstable).
fn write_all_vectored(file: &mut File, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match file.write_vectored(slices) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "failed to write whole fragment",
                ));
            }
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A finished, fsynced segment file.
pub(crate) struct FinishedFile {
    pub index: FrameIndex,
    pub bytes: u64,
    pub checksum: u32,
    pub sha256: [u8; 32],
}

impl SegmentWriter {
    /// Creates the file (it must not exist) and writes its header and init segment.
    pub(crate) fn create(
        path: &Path,
        header: &SegmentHeader,
        sample_entry: &[u8],
        cipher: Option<SegmentKey>,
    ) -> io::Result<Self> {
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        let mut init = fragment::ftyp();
        init.extend_from_slice(&header.to_box());
        init.extend_from_slice(&fragment::moov(
            sample_entry,
            header.start_90k.div_euclid(90_000),
        ));
        let mut w = Self {
            path: path.to_path_buf(),
            file,
            len: 0,
            crc: crc32fast::Hasher::new(),
            sha: Sha256::new(),
            cipher,
            scratch: Vec::new(),
            sequence: 0,
            index: FrameIndex::default(),
            media_duration: 0,
            broken: false,
        };
        if let Err(e) = w.file.write_all(&init) {
            drop(w.file);
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        w.crc.update(&init);
        w.sha.update(&init);
        w.len = init.len() as u64;
        Ok(w)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Length of each fragment's trailer box: 16 bytes (CRC), 32 when encrypted (CRC and tag).
    fn trailer_len(&self) -> u64 {
        if self.cipher.is_some() {
            ENC_TRAILER_LEN
        } else {
            CRC_BOX_LEN
        }
    }

    /// Frames written so far.
    pub(crate) fn frames(&self) -> usize {
        self.index.frames.len()
    }

    /// Media time written so far (90 kHz).
    pub(crate) fn media_duration(&self) -> u64 {
        self.media_duration
    }

    /// Appends one fragment: `data` holds the samples' bytes, one slice per sample. Written with one
    /// vectored write (no copy of the video). On failure (a full disk) the file is cut back to its
    /// previous length, so it still ends with a complete fragment.
    pub(crate) fn write_fragment(
        &mut self,
        samples: &[FragmentSample],
        data: &[&[u8]],
    ) -> io::Result<()> {
        if samples.is_empty() {
            return Ok(());
        }
        if self.broken {
            return Err(io::Error::other(
                "an earlier failed write could not be undone; the segment must end",
            ));
        }
        let seq = self.sequence + 1;
        let header = fragment::fragment_header(seq, self.media_duration, samples);
        let data_offset = self.len + header.len() as u64;
        // Encrypted: the frames copied into one buffer and sealed in place; the tag goes into the trailer.
        // The buffer is the writer's, reused fragment after fragment: a fresh one each time would be
        // a new mapping with its pages faulted in, which cost more CPU than the encryption itself.
        let mut sealed = None;
        if let Some(key) = &self.cipher {
            let mut buf = std::mem::take(&mut self.scratch);
            buf.clear();
            for d in data {
                buf.extend_from_slice(d);
            }
            let tag = key
                .seal(seq, data_offset, &mut buf)
                .map_err(io::Error::other)?;
            sealed = Some((buf, tag));
        }
        let result = self.write_stored(samples, seq, &header, data_offset, data, &sealed);
        if let Some((buf, _)) = sealed {
            self.scratch = buf;
        }
        result
    }

    /// Writes a fragment's header, data (`sealed` when encrypted, else `data`) and trailer, and
    /// accounts for them.
    fn write_stored(
        &mut self,
        samples: &[FragmentSample],
        seq: u32,
        header: &[u8],
        data_offset: u64,
        data: &[&[u8]],
        sealed: &Option<(Vec<u8>, [u8; 16])>,
    ) -> io::Result<()> {
        let stored: Vec<&[u8]> = match sealed {
            Some((buf, _)) => vec![buf.as_slice()],
            None => data.to_vec(),
        };
        let mut fragment_crc = crc32fast::Hasher::new();
        fragment_crc.update(header);
        let mut data_len = 0u64;
        for d in &stored {
            fragment_crc.update(d);
            data_len += d.len() as u64;
        }
        let fragment_len = header.len() as u64 + data_len;
        let crc = fragment_crc.clone().finalize();
        let trailer_len = self.trailer_len();
        let mut trailer = [0u8; ENC_TRAILER_LEN as usize];
        trailer[0..4].copy_from_slice(&(trailer_len as u32).to_be_bytes());
        trailer[4..8].copy_from_slice(b"free");
        trailer[12..16].copy_from_slice(&crc.to_be_bytes());
        match sealed {
            Some((_, tag)) => {
                trailer[8..12].copy_from_slice(ENC_MARK);
                trailer[16..32].copy_from_slice(tag);
            }
            None => trailer[8..12].copy_from_slice(CRC_MARK),
        }
        let trailer = &trailer[..trailer_len as usize];
        let mut slices = Vec::with_capacity(stored.len() + 2);
        slices.push(IoSlice::new(header));
        slices.extend(stored.iter().map(|d| IoSlice::new(d)));
        slices.push(IoSlice::new(trailer));
        if let Err(e) = write_all_vectored(&mut self.file, &mut slices) {
            // Cut off whatever part of the fragment made it to the file and write on from there.
            if self.file.set_len(self.len).is_err()
                || self.file.seek(SeekFrom::Start(self.len)).is_err()
            {
                self.broken = true;
            }
            return Err(e);
        }
        // The file checksum continues over the fragment (combined, not recomputed) and its trailer.
        self.crc.combine(&fragment_crc);
        self.crc.update(trailer);
        self.sha.update(header);
        for d in &stored {
            self.sha.update(d);
        }
        self.sha.update(trailer);
        self.len += fragment_len + trailer_len;
        self.sequence = seq;
        self.index.fragments.push(FragmentEntry {
            data_offset,
            frames: samples.len() as u32,
        });
        for s in samples {
            self.index.frames.push(FrameEntry {
                duration: s.duration,
                size: s.size,
                is_key: s.is_key,
                composition_offset: s.composition_offset,
            });
            self.media_duration += u64::from(s.duration);
        }
        Ok(())
    }

    /// fsyncs the file and returns what the index needs. The caller fsyncs the directory.
    pub(crate) fn finish(self) -> io::Result<FinishedFile> {
        if self.broken {
            self.file.set_len(self.len)?;
        }
        self.file.sync_all()?;
        Ok(FinishedFile {
            bytes: self.len,
            checksum: self.crc.finalize(),
            sha256: self.sha.finalize().into(),
            index: self.index,
        })
    }

    /// Removes the file (a segment that got no frame).
    pub(crate) fn discard(self) -> io::Result<()> {
        drop(self.file);
        std::fs::remove_file(&self.path)
    }
}

/// A segment file read back by start-up recovery.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub header: SegmentHeader,
    pub sample_entry: Vec<u8>,
    pub index: FrameIndex,
    /// Length of the valid prefix (header + complete, checksummed fragments).
    pub valid_len: u64,
    /// Length of the file as found.
    pub file_len: u64,
    /// CRC-32 of the valid prefix.
    pub checksum: u32,
    /// SHA-256 of the valid prefix.
    pub sha256: [u8; 32],
}

fn read_at(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// Reads a segment file and keeps its longest valid prefix. Errors mean the file is not a readable
/// Vigil segment at all (no valid header or init segment).
pub(crate) fn recover(path: &Path) -> Result<Recovered, String> {
    let mut r = SegmentReading::open(path)?;
    while r.next_fragment().is_some() {}
    Ok(r.finish())
}

/// A segment file read fragment by fragment, as [`recover`] reads it (also by the migration to
/// encryption at rest, which re-writes each fragment as it reads it: one pass, hashed as read).
pub(crate) struct SegmentReading {
    file: File,
    what: String,
    pub header: SegmentHeader,
    pub sample_entry: Vec<u8>,
    file_len: u64,
    trailer_len: u64,
    pos: u64,
    crc: crc32fast::Hasher,
    sha: Sha256,
    index: FrameIndex,
    media: u64,
}

impl SegmentReading {
    /// Opens `path` and reads its init region (ftyp, header box, moov); errors mean it is not a
    /// readable Vigil segment.
    pub(crate) fn open(path: &Path) -> Result<Self, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        let file_len = file.metadata().map_err(|e| e.to_string())?.len();
        let mut crc = crc32fast::Hasher::new();
        let mut sha = Sha256::new();
        let mut pos = 0u64;
        // The init region: ftyp, uuid header, moov, each read whole.
        let mut header = None;
        let mut sample_entry = None;
        for expected in [b"ftyp", b"uuid", b"moov"] {
            let head = read_at(&file, pos, 16.min((file_len - pos) as usize))
                .map_err(|e| format!("reading box at byte {pos}: {e}"))?;
            let h = read_box_header(&head)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("file ends inside the init region at byte {pos}"))?;
            if &h.fourcc != expected {
                return Err(format!(
                    "expected '{}' at byte {pos}, found '{}'",
                    String::from_utf8_lossy(expected),
                    h.name()
                ));
            }
            let size = h.size.ok_or("init box without size")?;
            if size > 1 << 20 || pos + size > file_len {
                return Err(format!(
                    "'{}' box of {size} bytes does not fit the file",
                    h.name()
                ));
            }
            let b = read_at(&file, pos, size as usize).map_err(|e| e.to_string())?;
            let body = &b[h.header_len as usize..];
            match expected {
                b"uuid" => header = Some(SegmentHeader::from_box_body(body)?),
                b"moov" => {
                    let entry = fragment::sample_entry_from_moov(&path.display().to_string(), body)
                        .map_err(|e| e.to_string())?;
                    vigil_mp4::codec::video_params_from_sample_entry(&entry)
                        .map_err(|e| e.to_string())?;
                    sample_entry = Some(entry);
                }
                _ => {}
            }
            crc.update(&b);
            sha.update(&b);
            pos += size;
        }
        let (Some(header), Some(sample_entry)) = (header, sample_entry) else {
            return Err("init region incomplete".into());
        };
        let trailer_len = if header.key_id.is_some() {
            ENC_TRAILER_LEN
        } else {
            CRC_BOX_LEN
        };
        Ok(Self {
            file,
            what: path.display().to_string(),
            header,
            sample_entry,
            file_len,
            trailer_len,
            pos,
            crc,
            sha,
            index: FrameIndex::default(),
            media: 0,
        })
    }

    /// The next fragment whose moof, mdat and checksum box are complete and agree, accounted for;
    /// `None` at the end of the valid prefix.
    pub(crate) fn next_fragment(&mut self) -> Option<ReadFragment> {
        let frag = read_fragment(
            &self.file,
            &self.what,
            self.pos,
            self.file_len,
            self.media,
            self.trailer_len,
        )?;
        self.crc.update(&frag.bytes);
        self.sha.update(&frag.bytes);
        self.index.fragments.push(FragmentEntry {
            data_offset: frag.data_offset,
            frames: frag.samples.len() as u32,
        });
        for s in &frag.samples {
            self.index.frames.push(FrameEntry {
                duration: s.duration,
                size: s.size,
                is_key: s.is_key,
                composition_offset: s.composition_offset,
            });
            self.media += u64::from(s.duration);
        }
        self.pos += frag.bytes.len() as u64;
        Some(frag)
    }

    /// What was read: the valid prefix up to the last fragment returned.
    pub(crate) fn finish(self) -> Recovered {
        Recovered {
            header: self.header,
            sample_entry: self.sample_entry,
            index: self.index,
            valid_len: self.pos,
            file_len: self.file_len,
            checksum: self.crc.finalize(),
            sha256: self.sha.finalize().into(),
        }
    }
}

/// A fragment as stored: moof, mdat and trailer box.
pub(crate) struct ReadFragment {
    bytes: Vec<u8>,
    /// Its frames.
    pub samples: Vec<FragmentSample>,
    data_offset: u64,
    trailer_len: u64,
}

impl ReadFragment {
    /// The frame data as stored (the mdat payload).
    pub(crate) fn data(&self) -> &[u8] {
        let start = self.bytes.len() as u64 - self.trailer_len - self.data_len();
        &self.bytes[start as usize..self.bytes.len() - self.trailer_len as usize]
    }

    fn data_len(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.size)).sum()
    }
}

/// Reads the fragment at `pos`; `None` when it is incomplete or inconsistent (the end of the valid data).
fn read_fragment(
    file: &File,
    what: &str,
    pos: u64,
    file_len: u64,
    media: u64,
    trailer_len: u64,
) -> Option<ReadFragment> {
    let avail = file_len.checked_sub(pos)?;
    let head = read_at(file, pos, 16.min(avail as usize)).ok()?;
    let h = read_box_header(&head).ok()??;
    let moof_size = h.size?;
    if &h.fourcc != b"moof" || moof_size > 16 << 20 || moof_size + 8 > avail {
        return None;
    }
    let moof = read_at(file, pos, moof_size as usize).ok()?;
    let parsed = fragment::parse_moof(what, &moof, pos).ok()?;
    if parsed.base_decode_time != media || parsed.samples.is_empty() {
        return None;
    }
    let mdat_pos = pos + moof_size;
    let mdat_head = read_at(file, mdat_pos, 16.min((file_len - mdat_pos) as usize)).ok()?;
    let mh = read_box_header(&mdat_head).ok()??;
    let mdat_size = mh.size?;
    if &mh.fourcc != b"mdat"
        || mdat_size != mh.header_len + parsed.data_len()
        || parsed.data_offset != mdat_pos + mh.header_len
    {
        return None;
    }
    let end = mdat_pos + mdat_size;
    if end + trailer_len > file_len || end - pos > 256 << 20 {
        return None;
    }
    let bytes = read_at(file, pos, (end + trailer_len - pos) as usize).ok()?;
    let (body, trailer) = bytes.split_at((end - pos) as usize);
    let mark = if trailer_len == ENC_TRAILER_LEN {
        ENC_MARK
    } else {
        CRC_MARK
    };
    if trailer[0..4] != (trailer_len as u32).to_be_bytes()
        || &trailer[4..8] != b"free"
        || &trailer[8..12] != mark
        || trailer[12..16] != crc32fast::hash(body).to_be_bytes()
    {
        return None;
    }
    Some(ReadFragment {
        bytes,
        samples: parsed.samples,
        data_offset: parsed.data_offset,
        trailer_len,
    })
}

/// Length and CRC-32 of a whole file (start-up verification).
pub(crate) fn file_checksum(path: &Path) -> io::Result<(u64, u32)> {
    let mut file = File::open(path)?;
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = io::Read::read(&mut file, &mut buf)?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, crc.finalize()))
}

#[cfg(test)]
mod tests;
