//! Fragmented MP4: an init segment (`ftyp` + `moov` with `mvex`) followed by media segments
//! (`moof` + `mdat`), each self-contained. Browsers play it through Media Source Extensions, and a file
//! written this way and cut off mid-write (a crash) still holds every complete fragment before the cut.
//! Also the parser that reads such files back (recovery of recorder segment files).

use super::boxes::{BoxWriter, Reader, children, find_child};
use super::moov::{MoovSpec, entry_dimensions, write_ftyp, write_moov};
use super::{MP4_EPOCH_OFFSET_SECS, Mp4Error};

/// One sample (frame) of a fragment or of a progressive MP4's sample table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FragmentSample {
    /// Duration in 90 kHz ticks (decode time to the next sample's decode time).
    pub duration: u32,
    /// Size in bytes.
    pub size: u32,
    /// A sync sample (key frame).
    pub is_key: bool,
    /// Presentation time minus decode time (90 kHz; `trun`/`ctts` composition offset): 0 without
    /// B-frames, may be negative.
    pub composition_offset: i32,
}

/// `sample_flags` of a key frame: depends on no other sample.
const FLAGS_KEY: u32 = 0x0200_0000;
/// `sample_flags` of other frames: depends on others, not a sync sample.
const FLAGS_NON_KEY: u32 = 0x0101_0000;
/// trun flags: data offset, per-sample duration, size and flags.
const TRUN_FLAGS: u32 = 0x000001 | 0x000100 | 0x000200 | 0x000400;
/// trun flag: per-sample composition time offsets.
const TRUN_COMPOSITION_OFFSETS: u32 = 0x000800;
/// tfhd flag: offsets are relative to the start of the `moof`.
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x020000;

/// The `ftyp` box of a fragmented file.
pub fn ftyp() -> Vec<u8> {
    let mut w = BoxWriter::with_capacity(40);
    write_ftyp(&mut w, true);
    w.into_bytes()
}

/// The `moov` box of a fragmented file with one video track described by `sample_entry`.
/// `creation_unix_secs` goes into the header times (0 for unknown).
pub fn moov(sample_entry: &[u8], creation_unix_secs: i64) -> Vec<u8> {
    let (width, height) = entry_dimensions(sample_entry);
    let mut w = BoxWriter::with_capacity(sample_entry.len() + 700);
    let spec = MoovSpec {
        creation_mp4_secs: mp4_time(creation_unix_secs),
        duration: 0,
        width,
        height,
        entries: &[sample_entry],
        fragmented: true,
        edit: None,
    };
    write_moov(&mut w, &spec, |w| {
        w.start_full(b"stts", 0, 0);
        w.u32(0);
        w.end();
        w.start_full(b"stsc", 0, 0);
        w.u32(0);
        w.end();
        w.start_full(b"stsz", 0, 0);
        w.u32(0);
        w.u32(0);
        w.end();
        w.start_full(b"stco", 0, 0);
        w.u32(0);
        w.end();
    });
    w.into_bytes()
}

/// The init segment (`ftyp` + `moov`) for live view or fragmented playback.
pub fn init_segment(sample_entry: &[u8]) -> Vec<u8> {
    let mut out = ftyp();
    out.extend_from_slice(&moov(sample_entry, 0));
    out
}

/// Converts Unix seconds to MP4 (1904) seconds, 0 for times before 1904.
pub(crate) fn mp4_time(unix_secs: i64) -> u64 {
    u64::try_from(unix_secs.saturating_add(MP4_EPOCH_OFFSET_SECS)).unwrap_or(0)
}

/// True when some sample has a composition offset, so a `trun` must carry them.
fn has_composition_offsets(samples: &[FragmentSample]) -> bool {
    samples.iter().any(|s| s.composition_offset != 0)
}

/// Length of the `moof` box [`fragment_header`] writes for `samples`: 12 bytes per sample, 16 when some
/// sample has a composition offset (B-frames).
pub fn moof_len(samples: &[FragmentSample]) -> usize {
    let per_sample = if has_composition_offsets(samples) {
        16
    } else {
        12
    };
    88 + per_sample * samples.len()
}

/// Writes the `moof` box and the `mdat` header of one fragment; the samples' bytes (in order) follow
/// directly. `base_decode_time` is the fragment's start on the track timeline (90 kHz). Composition
/// offsets, when a sample has one, go into a version 1 `trun` (signed offsets, ISO/IEC 14496-12 8.8.8).
pub fn fragment_header(
    sequence: u32,
    base_decode_time: u64,
    samples: &[FragmentSample],
) -> Vec<u8> {
    let data_len: u64 = samples.iter().map(|s| u64::from(s.size)).sum();
    let mdat_header_len = if data_len + 8 > u64::from(u32::MAX) {
        16
    } else {
        8
    };
    let offsets = has_composition_offsets(samples);
    let moof_len = moof_len(samples);
    let mut w = BoxWriter::with_capacity(moof_len + mdat_header_len);
    w.start(b"moof");
    w.start_full(b"mfhd", 0, 0);
    w.u32(sequence);
    w.end();
    w.start(b"traf");
    w.start_full(b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF);
    w.u32(1); // track_ID
    w.end();
    w.start_full(b"tfdt", 1, 0);
    w.u64(base_decode_time);
    w.end();
    if offsets {
        w.start_full(b"trun", 1, TRUN_FLAGS | TRUN_COMPOSITION_OFFSETS);
    } else {
        w.start_full(b"trun", 0, TRUN_FLAGS);
    }
    w.u32(samples.len() as u32);
    w.i32((moof_len + mdat_header_len) as i32);
    for s in samples {
        w.u32(s.duration);
        w.u32(s.size);
        w.u32(if s.is_key { FLAGS_KEY } else { FLAGS_NON_KEY });
        if offsets {
            w.i32(s.composition_offset);
        }
    }
    w.end();
    w.end();
    w.end();
    debug_assert_eq!(w.buf.len(), moof_len);
    if mdat_header_len == 8 {
        w.u32((data_len + 8) as u32);
        w.bytes(b"mdat");
    } else {
        w.u32(1);
        w.bytes(b"mdat");
        w.u64(data_len + 16);
    }
    w.into_bytes()
}

/// A complete media segment (`moof` + `mdat`) for frames held in memory (live view).
pub fn media_segment(
    sequence: u32,
    base_decode_time: u64,
    samples: &[FragmentSample],
    data: &[&[u8]],
) -> Vec<u8> {
    let mut out = fragment_header(sequence, base_decode_time, samples);
    for d in data {
        out.extend_from_slice(d);
    }
    out
}

/// Seconds from 1900-01-01 (the NTP epoch) to 1970-01-01 (the Unix epoch).
const NTP_EPOCH_OFFSET_SECS: u64 = 2_208_988_800;

/// A `prft` box (ProducerReferenceTimeBox, ISO/IEC 14496-12 8.16.5) for track 1: the wall-clock time
/// `unix_micros` at which the sample at `media_time` (90 kHz, the following fragment's `tfdt`) was received.
/// Placed before a `moof`, it lets a player or a client measure end-to-end latency; players that do not
/// use it skip it as an unknown top-level box.
pub fn producer_reference_time(unix_micros: i64, media_time: u64) -> Vec<u8> {
    let micros = u64::try_from(unix_micros).unwrap_or(0);
    let secs = micros / 1_000_000 + NTP_EPOCH_OFFSET_SECS;
    let frac = ((micros % 1_000_000) << 32) / 1_000_000;
    let mut w = BoxWriter::with_capacity(32);
    w.start_full(b"prft", 1, 0);
    w.u32(1); // reference_track_ID
    w.u64((secs << 32) | frac);
    w.u64(media_time);
    w.end();
    w.into_bytes()
}

/// Reads a `prft` box (header included) back: (wall-clock Unix microseconds, media time). `None` when
/// `data` does not start with a well-formed `prft`.
pub fn parse_producer_reference_time(data: &[u8]) -> Option<(i64, u64)> {
    let size = u32::from_be_bytes(data.get(..4)?.try_into().ok()?) as usize;
    if data.get(4..8)? != b"prft" || size < 24 || size > data.len() {
        return None;
    }
    let version = *data.get(8)?;
    let ntp = u64::from_be_bytes(data.get(16..24)?.try_into().ok()?);
    let media_time = if version == 1 {
        u64::from_be_bytes(data.get(24..32)?.try_into().ok()?)
    } else {
        u64::from(u32::from_be_bytes(data.get(24..28)?.try_into().ok()?))
    };
    let secs = (ntp >> 32).checked_sub(NTP_EPOCH_OFFSET_SECS)?;
    let micros = ((ntp & 0xffff_ffff) * 1_000_000 + (1 << 31)) >> 32;
    Some((i64::try_from(secs * 1_000_000 + micros).ok()?, media_time))
}

/// A fragment read back from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFragment {
    /// `mfhd` sequence number.
    pub sequence: u32,
    /// `tfdt` base media decode time (90 kHz).
    pub base_decode_time: u64,
    /// The samples, in order.
    pub samples: Vec<FragmentSample>,
    /// Absolute offset of the first sample's data in the file.
    pub data_offset: u64,
}

impl ParsedFragment {
    /// Total bytes of sample data.
    pub fn data_len(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.size)).sum()
    }
}

/// Parses a `moof` box (header included) that starts at byte `moof_offset` of its file. Handles the
/// single-track layouts Vigil and common muxers write (explicit or `tfhd`-default durations, sizes and
/// flags); `what` names the file for errors.
pub fn parse_moof(what: &str, moof: &[u8], moof_offset: u64) -> Result<ParsedFragment, Mp4Error> {
    let what = format!("{what}: moof at byte {moof_offset}");
    let body = moof
        .get(8..)
        .ok_or_else(|| Mp4Error::invalid(&what, "shorter than its header"))?;
    let mut sequence = 0;
    let mut traf = None;
    for child in children(&what, body) {
        let (cc, b) = child?;
        match &cc {
            b"mfhd" => {
                let mut r = Reader::new(&what, b);
                r.skip(4)?;
                sequence = r.u32()?;
            }
            b"traf" if traf.is_none() => traf = Some(b),
            b"traf" => {
                return Err(Mp4Error::Unsupported(format!(
                    "{what}: more than one track"
                )));
            }
            _ => {}
        }
    }
    let traf = traf.ok_or_else(|| Mp4Error::invalid(&what, "no traf box"))?;
    let tfhd =
        find_child(&what, traf, b"tfhd")?.ok_or_else(|| Mp4Error::invalid(&what, "no tfhd box"))?;
    let mut r = Reader::new(&what, tfhd);
    let tfhd_flags = r.u32()? & 0x00ff_ffff;
    r.skip(4)?; // track_ID
    let base = if tfhd_flags & 0x1 != 0 {
        r.u64()?
    } else {
        moof_offset
    };
    if tfhd_flags & 0x2 != 0 {
        r.skip(4)?;
    }
    let default_duration = if tfhd_flags & 0x8 != 0 {
        Some(r.u32()?)
    } else {
        None
    };
    let default_size = if tfhd_flags & 0x10 != 0 {
        Some(r.u32()?)
    } else {
        None
    };
    let default_flags = if tfhd_flags & 0x20 != 0 {
        Some(r.u32()?)
    } else {
        None
    };

    let base_decode_time = match find_child(&what, traf, b"tfdt")? {
        Some(b) => {
            let mut r = Reader::new(&what, b);
            if r.u8()? == 1 {
                r.skip(3)?;
                r.u64()?
            } else {
                r.skip(3)?;
                u64::from(r.u32()?)
            }
        }
        None => return Err(Mp4Error::invalid(&what, "no tfdt box")),
    };

    let trun =
        find_child(&what, traf, b"trun")?.ok_or_else(|| Mp4Error::invalid(&what, "no trun box"))?;
    let mut r = Reader::new(&what, trun);
    // Composition offsets are unsigned in a version 0 trun and signed in version 1, but muxers write
    // negative ones into version 0 too; a real offset never exceeds i32::MAX ticks (6.6 hours), so both
    // versions are read as signed.
    let flags = r.u32()? & 0x00ff_ffff;
    let count = r.u32()? as usize;
    let data_offset = if flags & 0x1 != 0 {
        i64::from(r.i32()?)
    } else {
        0
    };
    let first_flags = if flags & 0x4 != 0 {
        Some(r.u32()?)
    } else {
        None
    };
    let per_sample = 4 * [0x100, 0x200, 0x400, 0x800]
        .iter()
        .filter(|&&f| flags & f != 0)
        .count();
    if count.saturating_mul(per_sample) > r.remaining() {
        return Err(Mp4Error::invalid(
            &what,
            format!(
                "trun claims {count} samples but holds only {} bytes",
                r.remaining()
            ),
        ));
    }
    let mut samples = Vec::with_capacity(count);
    for i in 0..count {
        let duration = if flags & 0x100 != 0 {
            r.u32()?
        } else {
            default_duration.ok_or_else(|| Mp4Error::invalid(&what, "no sample duration"))?
        };
        let size = if flags & 0x200 != 0 {
            r.u32()?
        } else {
            default_size.ok_or_else(|| Mp4Error::invalid(&what, "no sample size"))?
        };
        let sflags = if flags & 0x400 != 0 {
            r.u32()?
        } else if i == 0 && first_flags.is_some() {
            first_flags.unwrap_or(0)
        } else {
            default_flags.unwrap_or(FLAGS_NON_KEY)
        };
        let composition_offset = if flags & TRUN_COMPOSITION_OFFSETS != 0 {
            r.i32()?
        } else {
            0
        };
        samples.push(FragmentSample {
            duration,
            size,
            is_key: sflags & 0x0001_0000 == 0,
            composition_offset,
        });
    }
    let data_offset = i64::try_from(base)
        .ok()
        .and_then(|b| b.checked_add(data_offset))
        .and_then(|o| u64::try_from(o).ok())
        .ok_or_else(|| Mp4Error::invalid(&what, "data offset before the file start"))?;
    Ok(ParsedFragment {
        sequence,
        base_decode_time,
        samples,
        data_offset,
    })
}

/// Returns the first sample entry box in a `moov` box body (the part after its 8-byte header).
pub fn sample_entry_from_moov(what: &str, moov_body: &[u8]) -> Result<Vec<u8>, Mp4Error> {
    let missing = |name: &str| Mp4Error::invalid(what, format!("moov has no {name} box"));
    let trak = find_child(what, moov_body, b"trak")?.ok_or_else(|| missing("trak"))?;
    let mdia = find_child(what, trak, b"mdia")?.ok_or_else(|| missing("mdia"))?;
    let minf = find_child(what, mdia, b"minf")?.ok_or_else(|| missing("minf"))?;
    let stbl = find_child(what, minf, b"stbl")?.ok_or_else(|| missing("stbl"))?;
    let stsd = find_child(what, stbl, b"stsd")?.ok_or_else(|| missing("stsd"))?;
    let mut r = Reader::new(what, stsd);
    r.skip(4)?;
    let count = r.u32()?;
    if count == 0 {
        return Err(Mp4Error::invalid(what, "stsd has no sample entry"));
    }
    let rest = r.rest();
    let header = super::boxes::read_box_header(rest)?
        .ok_or_else(|| Mp4Error::invalid(what, "truncated sample entry"))?;
    let size = header.size.unwrap_or(rest.len() as u64) as usize;
    rest.get(..size)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| Mp4Error::invalid(what, "sample entry runs past stsd"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_round_trips_through_the_parser() {
        let samples = [
            FragmentSample {
                duration: 3600,
                size: 5,
                is_key: true,
                composition_offset: 0,
            },
            FragmentSample {
                duration: 3601,
                size: 3,
                is_key: false,
                composition_offset: 0,
            },
        ];
        let seg = media_segment(7, 123_456, &samples, &[b"AAAAA", b"BBB"]);
        let moof_size = u32::from_be_bytes([seg[0], seg[1], seg[2], seg[3]]) as usize;
        assert_eq!(moof_size, moof_len(&samples));
        // No B-frames: a version 0 trun without offsets (what every player reads).
        let trun = seg.windows(4).position(|w| w == b"trun").unwrap();
        assert_eq!(seg[trun + 4], 0, "trun version");
        let parsed = parse_moof("test", &seg[..moof_size], 1000).unwrap();
        assert_eq!(parsed.sequence, 7);
        assert_eq!(parsed.base_decode_time, 123_456);
        assert_eq!(parsed.samples, samples);
        assert_eq!(parsed.data_offset, 1000 + moof_size as u64 + 8);
        assert_eq!(&seg[moof_size + 8..], b"AAAAABBB");
    }

    #[test]
    fn composition_offsets_round_trip_through_a_version_1_trun() {
        // Decode order I P B B with the B-frames shown before the P: offsets 2, 5, 1 frames, and one
        // negative offset (a camera switching reorder depth mid-stream).
        let samples: Vec<FragmentSample> =
            [(true, 7200), (false, 18_000), (false, 3600), (false, -3600)]
                .iter()
                .map(|&(is_key, composition_offset)| FragmentSample {
                    duration: 3600,
                    size: 4,
                    is_key,
                    composition_offset,
                })
                .collect();
        let data = [b"IIII", b"PPPP", b"BBBB", b"bbbb"];
        let data: Vec<&[u8]> = data.iter().map(|d| &d[..]).collect();
        let seg = media_segment(3, 90_000, &samples, &data);
        let moof_size = u32::from_be_bytes([seg[0], seg[1], seg[2], seg[3]]) as usize;
        assert_eq!(moof_size, moof_len(&samples));
        let trun = seg.windows(4).position(|w| w == b"trun").unwrap();
        assert_eq!(seg[trun + 4], 1, "signed offsets need trun version 1");
        let parsed = parse_moof("test", &seg[..moof_size], 0).unwrap();
        assert_eq!(parsed.samples, samples);
        assert_eq!(&seg[moof_size + 8..], b"IIIIPPPPBBBBbbbb");
    }

    #[test]
    fn producer_reference_time_round_trips_to_the_microsecond() {
        for micros in [0i64, 1_763_000_000_123_456, 1_763_000_000_999_999] {
            let b = producer_reference_time(micros, 987_654_321_000);
            assert_eq!(b.len(), 32);
            assert_eq!(&b[4..8], b"prft");
            assert_eq!(
                parse_producer_reference_time(&b),
                Some((micros, 987_654_321_000))
            );
        }
        assert_eq!(parse_producer_reference_time(b"\0\0\0\x20moof"), None);
    }

    #[test]
    fn moof_with_impossible_sample_count_is_rejected() {
        let samples = [FragmentSample {
            duration: 1,
            size: 1,
            is_key: true,
            composition_offset: 0,
        }];
        let mut seg = fragment_header(1, 0, &samples);
        // trun sample_count lives 8 bytes before the first sample entry: set it to 1,000,000
        let pos = moof_len(&samples) - 12 - 8;
        seg[pos..pos + 4].copy_from_slice(&1_000_000u32.to_be_bytes());
        let err = parse_moof("cam1.mp4", &seg[..moof_len(&samples)], 0).unwrap_err();
        assert!(err.to_string().contains("cam1.mp4"), "{err}");
        assert!(err.to_string().contains("1000000 samples"), "{err}");
    }
}
