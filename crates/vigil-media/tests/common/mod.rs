//! Helpers shared by the integration tests: footage lookup, the ffmpeg / ffprobe CLIs, MP4 box reading.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A file under `../shared`, or `None` (after printing a visible SKIP line) when it is absent.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIP: {} not found (../shared footage absent)", p.display());
        None
    }
}

/// Runs the ffmpeg CLI (quiet, overwrite) and panics with its stderr when it fails.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg CLI not found");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ffprobe` stream fields of the first video stream, as `key=value` lines.
pub fn ffprobe_stream(path: &Path, entries: &str, count_frames: bool) -> String {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error", "-select_streams", "v:0"]);
    if count_frames {
        cmd.arg("-count_frames");
    }
    let out = cmd
        .args(["-show_entries", &format!("stream={entries}")])
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(path)
        .output()
        .expect("ffprobe CLI not found");
    assert!(
        out.status.success(),
        "ffprobe {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One field out of `ffprobe_stream` output.
pub fn field<'a>(probe: &'a str, key: &str) -> &'a str {
    probe
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {probe}"))
}

/// Frames ffprobe counts by decoding the whole stream.
pub fn ffprobe_frame_count(path: &Path) -> u64 {
    field(
        &ffprobe_stream(path, "nb_read_frames", true),
        "nb_read_frames",
    )
    .parse()
    .unwrap()
}

/// A synthetic but real clip: FFmpeg's moving test pattern encoded by `codec_args` into `path`.
pub fn make_clip(path: &Path, seconds: u32, size: &str, fps: u32, codec_args: &[&str]) {
    let src = format!("testsrc2=size={size}:rate={fps}:duration={seconds}");
    let mut args = vec!["-f", "lavfi", "-i", &src];
    args.extend_from_slice(codec_args);
    let p = path.to_str().unwrap();
    args.push(p);
    ffmpeg(&args);
}

/// H.264 (libx264, B-frames, faststart MP4) clip with a key frame every second.
pub fn make_h264_mp4(path: &Path, seconds: u32, fps: u32) {
    let g = fps.to_string();
    make_clip(
        path,
        seconds,
        "320x240",
        fps,
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-bf",
            "2",
            "-g",
            &g,
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
        ],
    );
}

/// The payload of the first box of `kind` found by descending through `path` (a list of container
/// box types) from the top level of an MP4 file, e.g. `["moov", "trak", "mdia", "minf", "stbl", "stsd"]`.
pub fn find_box<'a>(data: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
    let (first, rest) = path.split_first()?;
    let mut pos = 0;
    while pos + 8 <= data.len() {
        let size = u32::from_be_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &data[pos + 4..pos + 8];
        if size < 8 || pos + size > data.len() {
            return None;
        }
        if kind == *first {
            let payload = &data[pos + 8..pos + size];
            return if rest.is_empty() {
                Some(payload)
            } else {
                find_box(payload, rest)
            };
        }
        pos += size;
    }
    None
}

/// The first sample entry box (`avc1`, `hvc1`...) of the first track of an MP4 file, header included,
/// exactly as written in its `stsd` — what `vigil_core::VideoParams::sample_entry` carries.
pub fn mp4_sample_entry(path: &Path) -> Vec<u8> {
    let data = std::fs::read(path).unwrap();
    let stsd = find_box(
        &data,
        &[b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"],
    )
    .expect("no stsd in MP4");
    // stsd: version/flags (4), entry count (4), then the entries
    let entry = &stsd[8..];
    let size = u32::from_be_bytes(entry[0..4].try_into().unwrap()) as usize;
    entry[..size].to_vec()
}

/// Packets of the first video stream in MP4 form (as demuxed), with their pts on the 90 kHz clock.
pub fn mp4_packets(path: &Path) -> Vec<(Vec<u8>, vigil_core::Time90k)> {
    vigil_media::init().unwrap();
    let mut input = ffmpeg_next::format::input(path).unwrap();
    let stream = input
        .streams()
        .best(ffmpeg_next::media::Type::Video)
        .unwrap();
    let (index, tb) = (stream.index(), stream.time_base());
    let mut packets = Vec::new();
    let mut packet = ffmpeg_next::Packet::empty();
    loop {
        match packet.read(&mut input) {
            Ok(()) if packet.stream() == index => {
                let pts = packet.pts().unwrap();
                packets.push((
                    packet.data().unwrap().to_vec(),
                    vigil_core::Time90k::from_rational(pts, tb.numerator(), tb.denominator()),
                ));
            }
            Ok(()) => {}
            Err(ffmpeg_next::Error::Eof) => break,
            Err(e) => panic!("reading {}: {e}", path.display()),
        }
    }
    packets
}

/// Luma plane of a decoded frame, tightly packed.
pub fn luma(frame: &vigil_media::DecodedFrame) -> Vec<u8> {
    let f = frame.frame();
    let (w, h, stride) = (f.width() as usize, f.height() as usize, f.stride(0));
    let data = f.data(0);
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        out.extend_from_slice(&data[y * stride..y * stride + w]);
    }
    out
}
