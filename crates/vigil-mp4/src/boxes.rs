//! Low-level ISO BMFF box writing (sizes back-patched) and reading (headers, big-endian fields).

use super::Mp4Error;

/// Builds boxes into a byte vector; nested boxes get their sizes filled in when closed.
#[derive(Default)]
pub(crate) struct BoxWriter {
    pub(crate) buf: Vec<u8>,
    stack: Vec<usize>,
}

impl BoxWriter {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
            stack: Vec::new(),
        }
    }

    /// Opens a plain box.
    pub(crate) fn start(&mut self, fourcc: &[u8; 4]) {
        self.stack.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(fourcc);
    }

    /// Opens a full box (with version and 24-bit flags).
    pub(crate) fn start_full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) {
        self.start(fourcc);
        self.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
    }

    /// Closes the innermost open box, writing its size. Boxes built in memory stay far below 4 GiB (the
    /// largest is a `moov` of ~4 bytes per frame), so a 32-bit size always fits.
    pub(crate) fn end(&mut self) {
        if let Some(start) = self.stack.pop() {
            let size = (self.buf.len() - start) as u32;
            self.buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
        }
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    pub(crate) fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// The header of one box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxHeader {
    /// The four-character type.
    pub fourcc: [u8; 4],
    /// Header length in bytes (8, or 16 with a 64-bit size).
    pub header_len: u64,
    /// Total box size including the header; `None` for a box that extends to the end of the file
    /// (size field 0).
    pub size: Option<u64>,
}

impl BoxHeader {
    /// The fourcc as text, for messages.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(&self.fourcc).into_owned()
    }
}

/// Reads a box header from the start of `data`. Returns `Ok(None)` when `data` is too short to hold a
/// complete header, an error when the header is impossible (size smaller than the header).
pub fn read_box_header(data: &[u8]) -> Result<Option<BoxHeader>, Mp4Error> {
    if data.len() < 8 {
        return Ok(None);
    }
    let size32 = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
    let fourcc = [data[4], data[5], data[6], data[7]];
    let (header_len, size) = match size32 {
        0 => (8, None),
        1 => {
            if data.len() < 16 {
                return Ok(None);
            }
            let mut b = [0u8; 8];
            b.copy_from_slice(&data[8..16]);
            (16, Some(u64::from_be_bytes(b)))
        }
        s => (8, Some(u64::from(s))),
    };
    if let Some(s) = size
        && s < header_len
    {
        return Err(Mp4Error::invalid(
            format!("box '{}'", String::from_utf8_lossy(&fourcc)),
            format!("size {s} is smaller than its header"),
        ));
    }
    Ok(Some(BoxHeader {
        fourcc,
        header_len,
        size,
    }))
}

/// Iterates the child boxes of a box body held in memory: yields `(fourcc, body)` pairs.
pub(crate) fn children<'a>(
    what: &'a str,
    mut data: &'a [u8],
) -> impl Iterator<Item = Result<([u8; 4], &'a [u8]), Mp4Error>> + 'a {
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        let header = match read_box_header(data) {
            Ok(Some(h)) => h,
            Ok(None) => {
                data = &[];
                return Some(Err(Mp4Error::invalid(
                    what,
                    "truncated box header".to_string(),
                )));
            }
            Err(e) => {
                data = &[];
                return Some(Err(e));
            }
        };
        let size = header.size.unwrap_or(data.len() as u64);
        if size > data.len() as u64 {
            let name = header.name();
            data = &[];
            return Some(Err(Mp4Error::invalid(
                what,
                format!("child box '{name}' of {size} bytes runs past its parent"),
            )));
        }
        let body = &data[header.header_len as usize..size as usize];
        data = &data[size as usize..];
        Some(Ok((header.fourcc, body)))
    })
}

/// Finds the first child of the given type in a box body.
pub(crate) fn find_child<'a>(
    what: &'a str,
    data: &'a [u8],
    fourcc: &[u8; 4],
) -> Result<Option<&'a [u8]>, Mp4Error> {
    for child in children(what, data) {
        let (cc, body) = child?;
        if &cc == fourcc {
            return Ok(Some(body));
        }
    }
    Ok(None)
}

/// A bounds-checked big-endian reader over a byte slice.
pub(crate) struct Reader<'a> {
    what: &'a str,
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(what: &'a str, data: &'a [u8]) -> Self {
        Self { what, data, pos: 0 }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Mp4Error> {
        if self.data.len() - self.pos < n {
            return Err(Mp4Error::invalid(
                self.what,
                format!(
                    "needs {n} bytes at offset {} but only {} remain",
                    self.pos,
                    self.data.len() - self.pos
                ),
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, Mp4Error> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, Mp4Error> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, Mp4Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn i32(&mut self) -> Result<i32, Mp4Error> {
        Ok(self.u32()? as i32)
    }
    pub(crate) fn u64(&mut self) -> Result<u64, Mp4Error> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    pub(crate) fn skip(&mut self, n: usize) -> Result<(), Mp4Error> {
        self.take(n).map(|_| ())
    }
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = &self.data[self.pos..];
        self.pos = self.data.len();
        s
    }
    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_sizes_are_back_patched() {
        let mut w = BoxWriter::default();
        w.start(b"moov");
        w.start_full(b"mvhd", 1, 0x000003);
        w.u32(7);
        w.end();
        w.end();
        let b = w.into_bytes();
        assert_eq!(&b[0..8], &[0, 0, 0, 24, b'm', b'o', b'o', b'v']);
        assert_eq!(&b[8..16], &[0, 0, 0, 16, b'm', b'v', b'h', b'd']);
        assert_eq!(&b[16..20], &[1, 0, 0, 3]);
        let kids: Vec<_> = children("moov", &b[8..]).collect::<Result<_, _>>().unwrap();
        assert_eq!(kids.len(), 1);
        assert_eq!(&kids[0].0, b"mvhd");
        assert_eq!(kids[0].1.len(), 8);
    }

    #[test]
    fn impossible_and_truncated_headers() {
        // size 4 < 8-byte header
        let bad = [0, 0, 0, 4, b'f', b'r', b'e', b'e'];
        let err = read_box_header(&bad).unwrap_err();
        assert!(err.to_string().contains("free"), "{err}");
        assert_eq!(read_box_header(&bad[..5]).unwrap(), None);
        // child running past its parent
        let parent = [0, 0, 0, 100, b'm', b'd', b'a', b't'];
        let err = children("test", &parent).next().unwrap().unwrap_err();
        assert!(err.to_string().contains("runs past"), "{err}");
        // reader bounds
        let mut r = Reader::new("avcC", &[1, 2]);
        assert!(r.u32().unwrap_err().to_string().contains("avcC"));
    }
}
