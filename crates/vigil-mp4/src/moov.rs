//! The `moov` box shared by progressive MP4 and fragmented MP4 init segments: one video track on the
//! 90 kHz timescale.

use super::TIMESCALE;
use super::boxes::BoxWriter;

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

/// What a `moov` needs besides the sample table.
pub(crate) struct MoovSpec<'a> {
    /// Creation time, seconds since 1904 (MP4 epoch).
    pub creation_mp4_secs: u64,
    /// Track duration in 90 kHz ticks (0 for fragmented files).
    pub duration: u64,
    pub width: u16,
    pub height: u16,
    /// Sample entry boxes for `stsd`.
    pub entries: &'a [&'a [u8]],
    /// Writes `mvex` (fragmented) when true.
    pub fragmented: bool,
    /// An edit list (`edts`/`elst`) of one edit: `(media_time, duration)`, the presentation starting at
    /// the composition time of the first frame shown (when B-frames put it after decode time 0) and
    /// lasting `duration` (then also the movie's and track's duration; `duration` stays the media's).
    pub edit: Option<(u64, u64)>,
}

/// Writes `moov`; `tables` writes the sample table boxes that follow `stsd` inside `stbl`.
pub(crate) fn write_moov(
    w: &mut BoxWriter,
    spec: &MoovSpec<'_>,
    tables: impl FnOnce(&mut BoxWriter),
) {
    let long = spec.duration > u64::from(u32::MAX)
        || spec.creation_mp4_secs > u64::from(u32::MAX)
        || spec
            .edit
            .is_some_and(|(t, d)| t.max(d) > u64::from(u32::MAX));
    let version = u8::from(long);
    let times = |w: &mut BoxWriter| {
        if long {
            w.u64(spec.creation_mp4_secs);
            w.u64(spec.creation_mp4_secs);
        } else {
            w.u32(spec.creation_mp4_secs as u32);
            w.u32(spec.creation_mp4_secs as u32);
        }
    };
    let write_duration = |w: &mut BoxWriter, d: u64| {
        if long {
            w.u64(d);
        } else {
            w.u32(d as u32);
        }
    };
    let presentation = spec.edit.map_or(spec.duration, |(_, d)| d);
    let duration = |w: &mut BoxWriter| write_duration(w, presentation);
    w.start(b"moov");

    w.start_full(b"mvhd", version, 0);
    times(w);
    w.u32(TIMESCALE);
    duration(w);
    w.u32(0x0001_0000); // rate 1.0
    w.u16(0x0100); // volume 1.0
    w.zeros(10);
    for m in MATRIX {
        w.u32(m);
    }
    w.zeros(24);
    w.u32(2); // next_track_ID
    w.end();

    w.start(b"trak");
    w.start_full(b"tkhd", version, 0x000003); // enabled, in movie
    times(w);
    w.u32(1); // track_ID
    w.u32(0);
    duration(w);
    w.zeros(8);
    w.u16(0); // layer
    w.u16(0); // alternate_group
    w.u16(0); // volume (video)
    w.u16(0);
    for m in MATRIX {
        w.u32(m);
    }
    w.u32(u32::from(spec.width) << 16);
    w.u32(u32::from(spec.height) << 16);
    w.end();

    if let Some((media_time, edit_duration)) = spec.edit {
        // One edit: the track from `media_time` on, at normal rate.
        w.start(b"edts");
        w.start_full(b"elst", version, 0);
        w.u32(1);
        write_duration(w, edit_duration);
        write_duration(w, media_time);
        w.u16(1); // media_rate_integer
        w.u16(0); // media_rate_fraction
        w.end();
        w.end();
    }

    w.start(b"mdia");
    w.start_full(b"mdhd", version, 0);
    times(w);
    w.u32(TIMESCALE);
    write_duration(w, spec.duration);
    w.u16(0x55c4); // language "und"
    w.u16(0);
    w.end();
    w.start_full(b"hdlr", 0, 0);
    w.u32(0);
    w.bytes(b"vide");
    w.zeros(12);
    w.bytes(b"VideoHandler\0");
    w.end();
    w.start(b"minf");
    w.start_full(b"vmhd", 0, 1);
    w.zeros(8);
    w.end();
    w.start(b"dinf");
    w.start_full(b"dref", 0, 0);
    w.u32(1);
    w.start_full(b"url ", 0, 1); // media in this file
    w.end();
    w.end();
    w.end();
    w.start(b"stbl");
    w.start_full(b"stsd", 0, 0);
    w.u32(spec.entries.len() as u32);
    for e in spec.entries {
        w.bytes(e);
    }
    w.end();
    tables(w);
    w.end(); // stbl
    w.end(); // minf
    w.end(); // mdia
    w.end(); // trak

    if spec.fragmented {
        w.start(b"mvex");
        w.start_full(b"trex", 0, 0);
        w.u32(1); // track_ID
        w.u32(1); // default_sample_description_index
        w.u32(0);
        w.u32(0);
        w.u32(0);
        w.end();
        w.end();
    }
    w.end(); // moov
}

/// Writes `ftyp`.
pub(crate) fn write_ftyp(w: &mut BoxWriter, fragmented: bool) {
    w.start(b"ftyp");
    w.bytes(b"isom");
    w.u32(0x200);
    w.bytes(b"isom");
    w.bytes(b"iso2");
    w.bytes(b"avc1");
    w.bytes(b"mp41");
    if fragmented {
        w.bytes(b"iso5");
        w.bytes(b"iso6");
    }
    w.end();
}

/// Picture width and height from a visual sample entry (0x0 when the entry is too short).
pub(crate) fn entry_dimensions(entry: &[u8]) -> (u16, u16) {
    if entry.len() < 36 {
        return (0, 0);
    }
    (
        u16::from_be_bytes([entry[32], entry[33]]),
        u16::from_be_bytes([entry[34], entry[35]]),
    )
}
