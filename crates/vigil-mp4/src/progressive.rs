//! Standard ("progressive", fast-start) MP4: `ftyp`, `moov` with the full sample table, then one
//! `mdat`. Built from runs of frames that lie contiguously in recorded files, it is served as a
//! [`VirtualFile`]: only the header is held in memory, frame data is read from the recordings on demand.
//!
//! Frames with B-frames' composition offsets get a `ctts` table (version 0 while every offset is
//! non-negative, version 1 otherwise) and an edit list that starts the presentation at the first frame
//! shown, so players show the first frame at time 0 as with any FFmpeg-made file (invariant R9 of
//! docs/design/recording.md).

use super::Mp4Error;
use super::boxes::BoxWriter;
use super::fragment::{FragmentSample, mp4_time};
use super::moov::{MoovSpec, entry_dimensions, write_ftyp, write_moov};
use super::virtual_file::{Part, VirtualFile};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One frame as the sample table sees it: the same description as a fragment's sample.
pub type SampleInfo = FragmentSample;

struct Chunk {
    /// 1-based index into the sample entries.
    entry: u32,
    source: usize,
    offset: u64,
    count: u32,
    bytes: u64,
}

/// Collects runs of frames (chunks) and builds the MP4.
pub struct Mp4Builder {
    creation_unix_secs: i64,
    entries: Vec<Vec<u8>>,
    sources: Vec<PathBuf>,
    source_index: HashMap<PathBuf, usize>,
    samples: Vec<SampleInfo>,
    chunks: Vec<Chunk>,
}

impl Mp4Builder {
    /// A new, empty MP4 whose header times say it was made at `creation_unix_secs` (Vigil uses the
    /// wall-clock start of the footage).
    pub fn new(creation_unix_secs: i64) -> Self {
        Self {
            creation_unix_secs,
            entries: Vec::new(),
            sources: Vec::new(),
            source_index: HashMap::new(),
            samples: Vec::new(),
            chunks: Vec::new(),
        }
    }

    /// Appends `samples`, whose bytes lie back to back from `offset` in file `source`, described by the
    /// sample entry box `sample_entry`. The first sample of the whole MP4 must be a key frame.
    pub fn add_chunk(
        &mut self,
        sample_entry: &[u8],
        source: &Path,
        offset: u64,
        samples: &[SampleInfo],
    ) -> Result<(), Mp4Error> {
        if samples.is_empty() {
            return Ok(());
        }
        if self.samples.is_empty() && !samples[0].is_key {
            return Err(Mp4Error::invalid(
                format!("MP4 from {}", source.display()),
                "the first frame is not a key frame",
            ));
        }
        let entry = match self.entries.iter().position(|e| e == sample_entry) {
            Some(i) => i,
            None => {
                super::codec::video_params_from_sample_entry(sample_entry)?;
                self.entries.push(sample_entry.to_vec());
                self.entries.len() - 1
            }
        } as u32
            + 1;
        let source = match self.source_index.get(source) {
            Some(&i) => i,
            None => {
                self.sources.push(source.to_path_buf());
                self.source_index
                    .insert(source.to_path_buf(), self.sources.len() - 1);
                self.sources.len() - 1
            }
        };
        let bytes = samples.iter().map(|s| u64::from(s.size)).sum();
        self.samples.extend_from_slice(samples);
        self.chunks.push(Chunk {
            entry,
            source,
            offset,
            count: samples.len() as u32,
            bytes,
        });
        Ok(())
    }

    /// Number of frames so far.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// Total duration so far, in 90 kHz ticks.
    pub fn duration(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.duration)).sum()
    }

    /// The presentation span `(start, end)` on the decode timeline that starts at 0 with the first frame:
    /// from the earliest composition time of any frame to the latest one plus that frame's duration.
    /// `(0, duration)` without B-frames.
    fn presentation(&self) -> (i64, i64) {
        let mut dts = 0i64;
        let (mut start, mut end) = (i64::MAX, 0i64);
        for s in &self.samples {
            let cts = dts + i64::from(s.composition_offset);
            start = start.min(cts);
            end = end.max(cts + i64::from(s.duration));
            dts += i64::from(s.duration);
        }
        if start == i64::MAX {
            (0, 0)
        } else {
            (start, end)
        }
    }

    /// Builds the MP4. Fails when no frame was added.
    pub fn build(self) -> Result<VirtualFile, Mp4Error> {
        if self.samples.is_empty() {
            return Err(Mp4Error::invalid("MP4", "no frames"));
        }
        let data_len: u64 = self.chunks.iter().map(|c| c.bytes).sum();
        let mut ftyp = BoxWriter::with_capacity(32);
        write_ftyp(&mut ftyp, false);
        let ftyp = ftyp.into_bytes();
        let mdat_header_len = if data_len + 8 > u64::from(u32::MAX) {
            16
        } else {
            8
        };
        // The moov's size depends only on whether chunk offsets need 64 bits, not on their values.
        let probe = self.moov(false, 0);
        let total = ftyp.len() as u64 + probe.len() as u64 + mdat_header_len + data_len;
        let co64 = total > u64::from(u32::MAX);
        let moov_len = if co64 {
            self.moov(true, 0).len()
        } else {
            probe.len()
        };
        let data_start = ftyp.len() as u64 + moov_len as u64 + mdat_header_len;
        let moov = self.moov(co64, data_start);
        debug_assert_eq!(moov.len(), moov_len);
        let mut header = ftyp;
        header.extend_from_slice(&moov);
        if mdat_header_len == 8 {
            header.extend_from_slice(&((data_len + 8) as u32).to_be_bytes());
            header.extend_from_slice(b"mdat");
        } else {
            header.extend_from_slice(&1u32.to_be_bytes());
            header.extend_from_slice(b"mdat");
            header.extend_from_slice(&(data_len + 16).to_be_bytes());
        }
        let mut parts = Vec::with_capacity(self.chunks.len() + 1);
        parts.push(Part::Bytes(Arc::from(header)));
        for c in &self.chunks {
            parts.push(Part::File {
                source: c.source,
                offset: c.offset,
                len: c.bytes,
            });
        }
        Ok(VirtualFile::new(self.sources, parts))
    }

    fn moov(&self, co64: bool, data_start: u64) -> Vec<u8> {
        let entries: Vec<&[u8]> = self.entries.iter().map(Vec::as_slice).collect();
        let (width, height) = entry_dimensions(&self.entries[0]);
        let spec = MoovSpec {
            creation_mp4_secs: mp4_time(self.creation_unix_secs),
            duration: self.duration(),
            width,
            height,
            entries: &entries,
            fragmented: false,
            // An edit list only when B-frames start the presentation after decode time 0 (a negative
            // start, from negative offsets, cannot be expressed by one; players then start at 0).
            edit: {
                let (start, end) = self.presentation();
                u64::try_from(start)
                    .ok()
                    .filter(|&t| t > 0)
                    .map(|t| (t, u64::try_from(end - start).unwrap_or(0)))
            },
        };
        let n = self.samples.len();
        let mut w = BoxWriter::with_capacity(1024 + 4 * n + 12 * self.chunks.len());
        write_moov(&mut w, &spec, |w| {
            // stts: run-length durations
            let mut runs: Vec<(u32, u32)> = Vec::new();
            for s in &self.samples {
                match runs.last_mut() {
                    Some((count, d)) if *d == s.duration => *count += 1,
                    _ => runs.push((1, s.duration)),
                }
            }
            w.start_full(b"stts", 0, 0);
            w.u32(runs.len() as u32);
            for (count, d) in runs {
                w.u32(count);
                w.u32(d);
            }
            w.end();
            // ctts: run-length composition offsets, only when some frame has one
            if self.samples.iter().any(|s| s.composition_offset != 0) {
                let mut runs: Vec<(u32, i32)> = Vec::new();
                for s in &self.samples {
                    match runs.last_mut() {
                        Some((count, o)) if *o == s.composition_offset => *count += 1,
                        _ => runs.push((1, s.composition_offset)),
                    }
                }
                let signed = runs.iter().any(|&(_, o)| o < 0);
                w.start_full(b"ctts", u8::from(signed), 0);
                w.u32(runs.len() as u32);
                for (count, o) in runs {
                    w.u32(count);
                    w.i32(o);
                }
                w.end();
            }
            // stss: omitted when every sample is a sync sample
            if self.samples.iter().any(|s| !s.is_key) {
                let keys: Vec<u32> = (0..n)
                    .filter(|&i| self.samples[i].is_key)
                    .map(|i| i as u32 + 1)
                    .collect();
                w.start_full(b"stss", 0, 0);
                w.u32(keys.len() as u32);
                for k in keys {
                    w.u32(k);
                }
                w.end();
            }
            // stsz
            w.start_full(b"stsz", 0, 0);
            w.u32(0);
            w.u32(n as u32);
            for s in &self.samples {
                w.u32(s.size);
            }
            w.end();
            // stsc: a row whenever samples-per-chunk or the sample entry changes
            let mut rows: Vec<(u32, u32, u32)> = Vec::new();
            for (i, c) in self.chunks.iter().enumerate() {
                if rows
                    .last()
                    .is_none_or(|&(_, count, entry)| count != c.count || entry != c.entry)
                {
                    rows.push((i as u32 + 1, c.count, c.entry));
                }
            }
            w.start_full(b"stsc", 0, 0);
            w.u32(rows.len() as u32);
            for (first, count, entry) in rows {
                w.u32(first);
                w.u32(count);
                w.u32(entry);
            }
            w.end();
            // stco / co64
            w.start_full(if co64 { b"co64" } else { b"stco" }, 0, 0);
            w.u32(self.chunks.len() as u32);
            let mut off = data_start;
            for c in &self.chunks {
                if co64 {
                    w.u64(off);
                } else {
                    w.u32(off as u32);
                }
                off += c.bytes;
            }
            w.end();
        });
        w.into_bytes()
    }
}
