//! The per-segment frame table stored in the index as a compact blob: per frame its duration (90 kHz),
//! size, key flag and composition offset; per fragment where its frame data starts in the file. About 3
//! bytes per frame, 4 with B-frames.
//!
//! Layout (version 1: no frame has a composition offset), all integers LEB128 varints, `zz` =
//! zigzag-signed:
//! `1, frame_count, [zz(duration - prev_duration) << 1 | key, zz(size - prev_size_of_same_kind)]*,
//!  fragment_count, [frames_in_fragment, data_offset - end_of_previous_fragment_data]*`.
//! Version 2 (B-frames) has `unit` after `frame_count` (the greatest common divisor of the composition
//! offsets, typically the frame spacing) and `zz(composition_offset / unit - previous)` after each
//! frame's size: about one byte per frame.
//! Key and non-key frames keep separate size predictors because their sizes differ by an order of
//! magnitude. Tables written before B-frames were recorded are all version 1 and read as offsets of 0.

/// One frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameEntry {
    /// Duration in 90 kHz ticks (camera clock).
    pub duration: u32,
    /// Size in bytes.
    pub size: u32,
    /// Key frame.
    pub is_key: bool,
    /// Presentation time minus decode time (90 kHz): 0 without B-frames.
    pub composition_offset: i32,
}

/// One fragment: a run of frames stored back to back in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentEntry {
    /// File offset of the first frame's bytes.
    pub data_offset: u64,
    /// Number of frames.
    pub frames: u32,
}

/// The frame table of one segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameIndex {
    /// Frames in order.
    pub frames: Vec<FrameEntry>,
    /// Fragments in order; their frame counts sum to `frames.len()`.
    pub fragments: Vec<FragmentEntry>,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .data
                .get(self.pos)
                .ok_or_else(|| format!("frame index ends early at byte {}", self.pos))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("frame index: varint too long at byte {}", self.pos))
    }
}

impl FrameIndex {
    /// Total media duration (90 kHz ticks).
    pub fn duration(&self) -> u64 {
        self.frames.iter().map(|f| u64::from(f.duration)).sum()
    }

    /// Number of key frames.
    pub fn key_frames(&self) -> usize {
        self.frames.iter().filter(|f| f.is_key).count()
    }

    /// True when some frame has a composition offset (B-frames).
    pub fn has_composition_offsets(&self) -> bool {
        self.frames.iter().any(|f| f.composition_offset != 0)
    }

    /// Serializes to the blob stored in the index (version 2 only when some frame has a composition
    /// offset, so tables of streams without B-frames stay as small and as readable as before).
    pub fn encode(&self) -> Vec<u8> {
        let unit = self.frames.iter().fold(0u64, |g, f| {
            gcd(g, u64::from(f.composition_offset.unsigned_abs()))
        });
        let offsets = unit > 0;
        let mut out = Vec::with_capacity(8 + self.frames.len() * 4 + self.fragments.len() * 4);
        out.push(if offsets { 2 } else { 1 });
        put_varint(&mut out, self.frames.len() as u64);
        if offsets {
            put_varint(&mut out, unit);
        }
        let unit = unit.max(1) as i64;
        let mut prev_dur = 0i64;
        let mut prev_size = [0i64; 2];
        let mut prev_offset = 0i64;
        for f in &self.frames {
            let d = i64::from(f.duration);
            put_varint(&mut out, (zigzag(d - prev_dur) << 1) | u64::from(f.is_key));
            prev_dur = d;
            let k = usize::from(f.is_key);
            let s = i64::from(f.size);
            put_varint(&mut out, zigzag(s - prev_size[k]));
            prev_size[k] = s;
            if offsets {
                let o = i64::from(f.composition_offset) / unit;
                put_varint(&mut out, zigzag(o - prev_offset));
                prev_offset = o;
            }
        }
        put_varint(&mut out, self.fragments.len() as u64);
        let mut prev_end = 0u64;
        let mut frame = 0usize;
        for g in &self.fragments {
            put_varint(&mut out, u64::from(g.frames));
            put_varint(&mut out, g.data_offset.saturating_sub(prev_end));
            let bytes: u64 = self.frames[frame..frame + g.frames as usize]
                .iter()
                .map(|f| u64::from(f.size))
                .sum();
            frame += g.frames as usize;
            prev_end = g.data_offset + bytes;
        }
        out
    }

    /// Parses a blob; the error says what is inconsistent.
    pub fn decode(blob: &[u8]) -> Result<Self, String> {
        let mut c = Cursor { data: blob, pos: 0 };
        let offsets = match blob.first() {
            Some(1) => false,
            Some(2) => true,
            Some(v) => return Err(format!("frame index version {v} is unknown")),
            None => return Err("frame index is empty".into()),
        };
        c.pos = 1;
        let n = c.varint()?;
        if n > blob.len() as u64 {
            return Err(format!(
                "frame index claims {n} frames in {} bytes",
                blob.len()
            ));
        }
        let unit = if offsets {
            match c.varint()? {
                0 => return Err("frame index: composition offset unit 0".into()),
                u => i64::try_from(u).map_err(|_| format!("composition offset unit {u}"))?,
            }
        } else {
            1
        };
        let mut frames = Vec::with_capacity(n as usize);
        let mut prev_dur = 0i64;
        let mut prev_size = [0i64; 2];
        let mut prev_offset = 0i64;
        for i in 0..n {
            let a = c.varint()?;
            let is_key = a & 1 == 1;
            let d = prev_dur.wrapping_add(unzigzag(a >> 1));
            let k = usize::from(is_key);
            let s = prev_size[k].wrapping_add(unzigzag(c.varint()?));
            let (Ok(duration), Ok(size)) = (u32::try_from(d), u32::try_from(s)) else {
                return Err(format!("frame {i}: duration {d} or size {s} out of range"));
            };
            prev_dur = d;
            prev_size[k] = s;
            let composition_offset = if offsets {
                let o = prev_offset.wrapping_add(unzigzag(c.varint()?));
                prev_offset = o;
                o.checked_mul(unit)
                    .and_then(|o| i32::try_from(o).ok())
                    .ok_or_else(|| {
                        format!("frame {i}: composition offset {o} x {unit} out of range")
                    })?
            } else {
                0
            };
            frames.push(FrameEntry {
                duration,
                size,
                is_key,
                composition_offset,
            });
        }
        let g = c.varint()?;
        if g > n.max(1) {
            return Err(format!("{g} fragments for {n} frames"));
        }
        let mut fragments = Vec::with_capacity(g as usize);
        let mut prev_end = 0u64;
        let mut frame = 0usize;
        for _ in 0..g {
            let count = c.varint()?;
            let gap = c.varint()?;
            if count == 0 || frame as u64 + count > n {
                return Err(format!(
                    "fragment of {count} frames overruns the {n} frames"
                ));
            }
            let data_offset = prev_end
                .checked_add(gap)
                .ok_or("fragment offset overflows")?;
            let bytes: u64 = frames[frame..frame + count as usize]
                .iter()
                .map(|f| u64::from(f.size))
                .sum();
            frame += count as usize;
            prev_end = data_offset + bytes;
            fragments.push(FragmentEntry {
                data_offset,
                frames: count as u32,
            });
        }
        if frame as u64 != n {
            return Err(format!("fragments cover {frame} of {n} frames"));
        }
        if c.pos != blob.len() {
            return Err(format!("{} trailing bytes", blob.len() - c.pos));
        }
        Ok(Self { frames, fragments })
    }

    /// File offset of each frame's bytes, in frame order.
    pub fn offsets(&self) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.frames.len());
        let mut frame = 0;
        for g in &self.fragments {
            let mut off = g.data_offset;
            for f in &self.frames[frame..frame + g.frames as usize] {
                out.push(off);
                off += u64::from(f.size);
            }
            frame += g.frames as usize;
        }
        out
    }

    /// End of the last frame's bytes in the file (0 when empty).
    pub fn data_end(&self) -> u64 {
        let offs = self.offsets();
        match (offs.last(), self.frames.last()) {
            (Some(o), Some(f)) => o + u64::from(f.size),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FrameIndex {
        let mut frames = Vec::new();
        for i in 0..200u32 {
            frames.push(FrameEntry {
                duration: 3600 + (i % 3),
                size: if i % 50 == 0 {
                    90_000 + i
                } else {
                    12_000 + 7 * i
                },
                is_key: i % 50 == 0,
                composition_offset: 0,
            });
        }
        let mut fragments = Vec::new();
        let mut off = 900;
        for k in 0..4 {
            fragments.push(FragmentEntry {
                data_offset: off,
                frames: 50,
            });
            off += frames[k * 50..k * 50 + 50]
                .iter()
                .map(|f| u64::from(f.size))
                .sum::<u64>()
                + 700;
        }
        FrameIndex { frames, fragments }
    }

    #[test]
    fn round_trip_and_size() {
        let idx = sample();
        let blob = idx.encode();
        assert_eq!(FrameIndex::decode(&blob).unwrap(), idx);
        // compact: ~3 bytes per frame
        assert!(blob.len() < idx.frames.len() * 4, "{} bytes", blob.len());
        let offs = idx.offsets();
        assert_eq!(offs[0], 900);
        assert_eq!(offs[50], idx.fragments[1].data_offset);
        assert_eq!(offs[1], 900 + u64::from(idx.frames[0].size));
    }

    /// The sample with x264's B-frame pattern: offsets of 2, 5, 3, 1, 2 frames... and one negative.
    fn sample_with_offsets() -> FrameIndex {
        let mut idx = sample();
        for (i, f) in idx.frames.iter_mut().enumerate() {
            f.composition_offset =
                [7200, 18_000, 10_800, 3600, 7200][i % 5] - 3600 * i32::from(i == 7);
        }
        idx
    }

    #[test]
    fn composition_offsets_round_trip_in_version_2_only_when_present() {
        let plain = sample().encode();
        assert_eq!(plain[0], 1, "no offsets: the version-1 table, as before");
        let idx = sample_with_offsets();
        let blob = idx.encode();
        assert_eq!(blob[0], 2);
        assert_eq!(FrameIndex::decode(&blob).unwrap(), idx);
        // one byte per frame more (offsets in frame units)
        assert!(
            blob.len() <= plain.len() + idx.frames.len() + 2,
            "{} vs {} bytes",
            blob.len(),
            plain.len()
        );
        // A version-1 table (every table written before offsets existed) reads as offsets of 0.
        assert!(
            FrameIndex::decode(&plain)
                .unwrap()
                .frames
                .iter()
                .all(|f| f.composition_offset == 0)
        );
    }

    #[test]
    fn corrupt_blobs_are_errors_not_panics() {
        for blob in [sample().encode(), sample_with_offsets().encode()] {
            corrupt_blob_is_an_error(&blob);
        }
    }

    fn corrupt_blob_is_an_error(blob: &[u8]) {
        assert!(FrameIndex::decode(&[]).is_err());
        assert!(FrameIndex::decode(&[9]).unwrap_err().contains("version 9"));
        for cut in 1..blob.len() {
            assert!(FrameIndex::decode(&blob[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = blob.to_vec();
        extra.push(0);
        assert!(FrameIndex::decode(&extra).unwrap_err().contains("trailing"));
        // every single-byte corruption either decodes to something else or errors; never panics
        for i in 0..blob.len() {
            let mut b = blob.to_vec();
            b[i] ^= 0x5a;
            let _ = FrameIndex::decode(&b);
        }
        // a huge claimed frame count
        assert!(FrameIndex::decode(&[1, 0xff, 0xff, 0xff, 0x7f]).is_err());
    }
}
