//! A file assembled on demand from in-memory parts and byte ranges of other files: an MP4 built from
//! recorded segments is served or written out without ever being stored whole.

use super::Mp4Error;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

/// One piece of a [`VirtualFile`].
#[derive(Debug, Clone)]
pub enum Part {
    /// Bytes held in memory (box headers, `moov`, `moof`).
    Bytes(Arc<[u8]>),
    /// `len` bytes at `offset` of source file number `source`.
    File {
        /// Index into the virtual file's sources.
        source: usize,
        /// Byte offset in that file.
        offset: u64,
        /// Number of bytes.
        len: u64,
    },
}

impl Part {
    fn len(&self) -> u64 {
        match self {
            Part::Bytes(b) => b.len() as u64,
            Part::File { len, .. } => *len,
        }
    }
}

/// Reads a source whose bytes on disk are not the bytes it stands for (an encrypted segment file):
/// `read_exact_at` gives the bytes at `offset` of the plain layout.
pub trait SourceReader: Send + Sync + std::fmt::Debug {
    /// Fills `buf` with the bytes at `offset`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

/// A read-only file made of [`Part`]s; any byte range can be produced without building the rest.
#[derive(Debug, Clone)]
pub struct VirtualFile {
    sources: Vec<PathBuf>,
    /// A reader per source whose bytes must be transformed (decrypted); `None`: read the file as it is.
    readers: Vec<Option<Arc<dyn SourceReader>>>,
    parts: Vec<Part>,
    /// Start offset of each part.
    starts: Vec<u64>,
    len: u64,
}

/// Read size when copying from source files.
const COPY_CHUNK: usize = 1 << 20;

impl VirtualFile {
    /// Assembles a virtual file; adjacent ranges of the same source are merged.
    pub fn new(sources: Vec<PathBuf>, parts: Vec<Part>) -> Self {
        let mut merged: Vec<Part> = Vec::with_capacity(parts.len());
        for p in parts {
            if p.len() == 0 {
                continue;
            }
            if let (
                Some(Part::File {
                    source: s0,
                    offset: o0,
                    len: l0,
                }),
                Part::File {
                    source,
                    offset,
                    len,
                },
            ) = (merged.last_mut(), &p)
                && *s0 == *source
                && *o0 + *l0 == *offset
            {
                *l0 += *len;
                continue;
            }
            merged.push(p);
        }
        let mut starts = Vec::with_capacity(merged.len());
        let mut len = 0;
        for p in &merged {
            starts.push(len);
            len += p.len();
        }
        Self {
            readers: vec![None; sources.len()],
            sources,
            parts: merged,
            starts,
            len,
        }
    }

    /// Total length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for a zero-length file.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The source files this file reads from.
    pub fn sources(&self) -> &[PathBuf] {
        &self.sources
    }

    /// Reads source `path` through `reader` (its offsets are those of the plain layout).
    pub fn set_reader(&mut self, path: &std::path::Path, reader: Arc<dyn SourceReader>) {
        for (i, s) in self.sources.iter().enumerate() {
            if s == path {
                self.readers[i] = Some(reader.clone());
            }
        }
    }

    /// Checks that every source file exists and is long enough for the ranges taken from it.
    pub fn check_sources(&self) -> Result<(), Mp4Error> {
        let mut need = vec![0u64; self.sources.len()];
        for p in &self.parts {
            if let Part::File {
                source,
                offset,
                len,
            } = p
            {
                need[*source] = need[*source].max(offset + len);
            }
        }
        for (path, &n) in self.sources.iter().zip(&need) {
            let meta = std::fs::metadata(path).map_err(|source| Mp4Error::Io {
                path: path.clone(),
                source,
            })?;
            if meta.len() < n {
                return Err(Mp4Error::SourceTooShort {
                    path: path.clone(),
                    offset: meta.len(),
                    end: n,
                });
            }
        }
        Ok(())
    }

    /// Writes bytes `start..end` to `out`, calling `progress` with the number of bytes written so far.
    pub fn write_range(
        &self,
        start: u64,
        end: u64,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), Mp4Error> {
        if start > end || end > self.len {
            return Err(Mp4Error::BadRange {
                start,
                end,
                len: self.len,
            });
        }
        let first = match self.starts.binary_search(&start) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let mut open: Option<(usize, File)> = None;
        let mut buf = Vec::new();
        let mut pos = start;
        for (i, part) in self.parts.iter().enumerate().skip(first) {
            if pos >= end {
                break;
            }
            let part_start = self.starts[i];
            let from = pos - part_start;
            let to = (end - part_start).min(part.len());
            match part {
                Part::Bytes(b) => {
                    out.write_all(&b[from as usize..to as usize])
                        .map_err(Mp4Error::Output)?;
                }
                Part::File { source, offset, .. } => {
                    let path = &self.sources[*source];
                    let reader = self.readers[*source].as_ref();
                    let file = match (&open, reader) {
                        (_, Some(_)) => None,
                        (Some((s, f)), None) if s == source => Some(f),
                        _ => {
                            let f = File::open(path).map_err(|e| Mp4Error::Io {
                                path: path.clone(),
                                source: e,
                            })?;
                            Some(&open.insert((*source, f)).1)
                        }
                    };
                    let mut at = from;
                    while at < to {
                        let n = ((to - at) as usize).min(COPY_CHUNK);
                        buf.resize(n, 0);
                        let read = match (reader, file) {
                            (Some(r), _) => r.read_exact_at(&mut buf, offset + at),
                            (None, Some(f)) => f.read_exact_at(&mut buf, offset + at),
                            (None, None) => Err(std::io::ErrorKind::NotFound.into()),
                        };
                        read.map_err(|e| {
                            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                                Mp4Error::SourceTooShort {
                                    path: path.clone(),
                                    offset: offset + at,
                                    end: offset + to,
                                }
                            } else {
                                Mp4Error::Io {
                                    path: path.clone(),
                                    source: e,
                                }
                            }
                        })?;
                        out.write_all(&buf).map_err(Mp4Error::Output)?;
                        at += n as u64;
                        progress(part_start + at - start);
                    }
                }
            }
            pos = part_start + to;
            progress(pos - start);
        }
        Ok(())
    }

    /// Writes the whole file to `out`.
    pub fn write_all(
        &self,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), Mp4Error> {
        self.write_range(0, self.len, out, progress)
    }

    /// Returns bytes `start..end` (for HTTP range requests; keep ranges modest).
    pub fn read_range(&self, start: u64, end: u64) -> Result<Vec<u8>, Mp4Error> {
        let mut out = Vec::with_capacity(end.saturating_sub(start).min(64 << 20) as usize);
        self.write_range(start, end, &mut out, &mut |_| {})?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_span_memory_and_file_parts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("src.bin");
        std::fs::write(&path, b"0123456789").unwrap();
        let vf = VirtualFile::new(
            vec![path.clone()],
            vec![
                Part::Bytes(Arc::from(&b"hdr"[..])),
                Part::File {
                    source: 0,
                    offset: 2,
                    len: 3,
                },
                Part::File {
                    source: 0,
                    offset: 5,
                    len: 2,
                }, // merged with the previous
                Part::Bytes(Arc::from(&b"!"[..])),
            ],
        );
        assert_eq!(vf.len(), 9);
        assert_eq!(vf.parts.len(), 3);
        assert_eq!(vf.read_range(0, 9).unwrap(), b"hdr23456!");
        for s in 0..9 {
            for e in s..=9 {
                assert_eq!(
                    vf.read_range(s, e).unwrap(),
                    &b"hdr23456!"[s as usize..e as usize]
                );
            }
        }
        assert!(matches!(
            vf.read_range(3, 10),
            Err(Mp4Error::BadRange { .. })
        ));
        vf.check_sources().unwrap();
    }

    #[test]
    fn short_or_missing_source_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.mp4");
        std::fs::write(&path, b"0123").unwrap();
        let vf = VirtualFile::new(
            vec![path.clone()],
            vec![Part::File {
                source: 0,
                offset: 2,
                len: 10,
            }],
        );
        let err = vf.read_range(0, 10).unwrap_err();
        assert!(matches!(err, Mp4Error::SourceTooShort { .. }), "{err}");
        assert!(err.to_string().contains("seg.mp4"), "{err}");
        assert!(vf.check_sources().is_err());
        std::fs::remove_file(&path).unwrap();
        let err = vf.read_range(0, 1).unwrap_err();
        assert!(err.to_string().contains("seg.mp4"), "{err}");
    }
}
