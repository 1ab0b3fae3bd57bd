//! MP4 muxing against real footage and the real FFmpeg tools: frames demuxed from `../shared/footage`,
//! written as fragmented MP4 and as progressive MP4 built from file ranges, then checked with `ffprobe`
//! and decoded with `ffmpeg`.

use std::path::{Path, PathBuf};
use std::process::Command;
use vigil_core::{EncodedFrame, VideoCodec};
use vigil_media::demux::{DemuxedVideo, demux_file};
use vigil_media::test_server;
use vigil_mp4::fragment::{self, FragmentSample};
use vigil_mp4::{Mp4Builder, SampleInfo};

fn footage(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/footage")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIP: {} not found (../shared footage absent)", p.display());
        None
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// ffprobe's codec name, frame count (by reading packets) and duration.
fn probe(path: &Path) -> (String, usize, f64) {
    let out = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=codec_name,nb_read_packets:format=duration",
            "-of",
            "default=nw=1",
        ])
        .arg(path));
    let field = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in {out}"))
            .to_string()
    };
    (
        field("codec_name"),
        field("nb_read_packets").parse().unwrap(),
        field("duration").parse().unwrap(),
    )
}

/// Decodes every frame with ffmpeg; any decoder complaint fails.
fn decodes_cleanly(path: &Path) -> usize {
    vigil_media::test_server::frame_md5s(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .len()
}

fn durations(frames: &[EncodedFrame], nominal: u32) -> Vec<u32> {
    (0..frames.len())
        .map(|i| match frames.get(i + 1) {
            Some(next) => (next.dts().0 - frames[i].dts().0) as u32,
            None => nominal,
        })
        .collect()
}

/// Writes an fMP4 with one fragment per GOP; returns the path.
fn write_fmp4(dir: &Path, v: &DemuxedVideo) -> PathBuf {
    let path = dir.join("fragmented.mp4");
    let durs = durations(&v.frames, v.frame_duration.0 as u32);
    let mut out = fragment::init_segment(&v.params.sample_entry);
    let mut start = 0;
    let mut t = 0u64;
    let mut seq = 1;
    while start < v.frames.len() {
        let end = (start + 1..v.frames.len())
            .find(|&i| v.frames[i].is_key)
            .unwrap_or(v.frames.len());
        let samples: Vec<FragmentSample> = (start..end)
            .map(|i| FragmentSample {
                duration: durs[i],
                size: v.frames[i].data.len() as u32,
                is_key: v.frames[i].is_key,
                composition_offset: v.frames[i].composition_offset,
            })
            .collect();
        let data: Vec<&[u8]> = v.frames[start..end].iter().map(|f| &f.data[..]).collect();
        out.extend_from_slice(&fragment::media_segment(seq, t, &samples, &data));
        t += samples.iter().map(|s| u64::from(s.duration)).sum::<u64>();
        seq += 1;
        start = end;
    }
    std::fs::write(&path, out).unwrap();
    path
}

/// Parses the fMP4 back and builds a progressive MP4 from its fragments' byte ranges.
fn progressive_from_fmp4(dir: &Path, fmp4: &Path) -> (PathBuf, usize) {
    let bytes = std::fs::read(fmp4).unwrap();
    let mut pos = 0usize;
    let mut entry = None;
    let mut builder = Mp4Builder::new(1_700_000_000);
    while pos < bytes.len() {
        let h = vigil_mp4::read_box_header(&bytes[pos..]).unwrap().unwrap();
        let size = h.size.unwrap() as usize;
        match &h.fourcc {
            b"moov" => {
                entry = Some(
                    fragment::sample_entry_from_moov("test", &bytes[pos + 8..pos + size]).unwrap(),
                )
            }
            b"moof" => {
                let f = fragment::parse_moof("test", &bytes[pos..pos + size], pos as u64).unwrap();
                let samples: &[SampleInfo] = &f.samples;
                builder
                    .add_chunk(entry.as_ref().unwrap(), fmp4, f.data_offset, samples)
                    .unwrap();
            }
            _ => {}
        }
        pos += size;
    }
    let n = builder.sample_count();
    let vf = builder.build().unwrap();
    let path = dir.join("progressive.mp4");
    let mut file = std::fs::File::create(&path).unwrap();
    let mut last = 0;
    vf.write_all(&mut file, &mut |p| {
        assert!(p >= last);
        last = p;
    })
    .unwrap();
    assert_eq!(last, vf.len());
    // faststart: moov before mdat
    let head = std::fs::read(&path).unwrap();
    let moov = head.windows(4).position(|w| w == b"moov").unwrap();
    let mdat = head.windows(4).position(|w| w == b"mdat").unwrap();
    assert!(moov < mdat);
    (path, n)
}

#[test]
fn h264_footage_round_trips_through_fragmented_and_progressive_mp4() {
    let Some(src) = footage("intel/car-detection.mp4") else {
        return;
    };
    let v = demux_file(&src).unwrap();
    assert_eq!(v.frames.len(), 377);
    assert!(!v.has_b_frames);
    assert_eq!(v.params.codec, VideoCodec::H264);
    assert_eq!((v.params.width, v.params.height), (768, 432));
    assert!(
        v.params.rfc6381_codec.starts_with("avc1.42"),
        "{}",
        v.params.rfc6381_codec
    );
    assert_eq!(v.frame_duration.0, 7200); // 12.5 fps
    assert_eq!(v.frames.iter().filter(|f| f.is_key).count(), 7);

    let dir = tempfile::tempdir().unwrap();
    let fmp4 = write_fmp4(dir.path(), &v);
    let (codec, n, dur) = probe(&fmp4);
    assert_eq!((codec.as_str(), n), ("h264", 377));
    assert!((dur - 30.16).abs() < 0.05, "{dur}");
    assert_eq!(decodes_cleanly(&fmp4), 377);

    let (mp4, n) = progressive_from_fmp4(dir.path(), &fmp4);
    assert_eq!(n, 377);
    let (codec, n, dur) = probe(&mp4);
    assert_eq!((codec.as_str(), n), ("h264", 377));
    assert!((dur - 30.16).abs() < 0.05, "{dur}");
    assert_eq!(decodes_cleanly(&mp4), 377);
}

#[test]
fn b_frame_footage_keeps_decode_order_and_presentation_times_in_both_mp4_forms() {
    // Intel's classroom clip: libx264 High with a B-pyramid (reorder depth 2), 15 fps.
    let Some(src) = footage("intel/classroom.mp4") else {
        return;
    };
    let v = demux_file(&src).unwrap();
    assert!(v.has_b_frames);
    assert!(v.frames.iter().any(|f| f.composition_offset > 0));
    let source_times = test_server::packet_times(&src).unwrap();
    let source_md5s = test_server::frame_md5s(&src).unwrap();
    assert_eq!(source_times.len(), v.frames.len());
    // What the demuxer hands out is what the file says.
    let demuxed: Vec<(i64, i64)> = v.frames.iter().map(|f| (f.pts.0, f.dts().0)).collect();
    assert_eq!(
        test_server::relative_to_first_dts(&demuxed),
        test_server::relative_to_first_dts(&source_times)
    );

    let dir = tempfile::tempdir().unwrap();
    let fmp4 = write_fmp4(dir.path(), &v);
    let (mp4, n) = progressive_from_fmp4(dir.path(), &fmp4);
    assert_eq!(n, v.frames.len());
    for file in [&fmp4, &mp4] {
        let times = test_server::packet_times(file).unwrap();
        // Same packets in the same (decode) order with the same presentation and decode times, up to
        // where the timeline starts.
        assert_eq!(
            test_server::relative_to_first_dts(&times),
            test_server::relative_to_first_dts(&source_times),
            "{}",
            file.display()
        );
        assert_eq!(test_server::frame_md5s(file).unwrap(), source_md5s);
        let warnings = test_server::remux_warnings(file).unwrap();
        assert!(warnings.is_empty(), "{}: {warnings}", file.display());
    }
    // The progressive file's edit list starts the presentation at its first frame, as the source's does.
    let times = test_server::packet_times(&mp4).unwrap();
    assert_eq!(times.iter().map(|t| t.0).min(), Some(0));
    assert_eq!(
        times.iter().map(|t| t.0).min(),
        source_times.iter().map(|t| t.0).min()
    );
}

#[test]
fn annexb_input_gives_the_same_parameters_and_frames() {
    let Some(src) = footage("intel/car-detection.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ts = dir.path().join("car.ts");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&src)
        .args(["-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "mpegts"])
        .arg(&ts));
    let a = demux_file(&src).unwrap();
    let b = demux_file(&ts).unwrap();
    assert_eq!(a.params.rfc6381_codec, b.params.rfc6381_codec);
    assert_eq!(a.frames.len(), b.frames.len());
    // (The source's final access unit embeds an end-of-sequence NAL that the TS remux splits out.)
    let n = a.frames.len() - 1;
    for (x, y) in a.frames[..n].iter().zip(&b.frames[..n]) {
        assert_eq!(x.is_key, y.is_key);
        // the TS copy may carry parameter sets / AUDs in band: the MP4 frame's NALs are a suffix
        assert!(y.data.ends_with(&x.data), "frame data differs");
    }
}

#[test]
fn h265_from_libx265_round_trips_including_annexb_parameter_sets() {
    let Some(src) = footage("intel/car-detection.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mp4 = dir.path().join("hevc.mp4");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&src)
        .args([
            "-t",
            "4",
            "-vf",
            "scale=384:216",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "bframes=0:keyint=25:log-level=error",
            "-tag:v",
            "hvc1",
        ])
        .arg(&mp4));
    let v = demux_file(&mp4).unwrap();
    assert_eq!(v.params.codec, VideoCodec::H265);
    assert!(
        v.params.rfc6381_codec.starts_with("hvc1.1.6.L"),
        "{}",
        v.params.rfc6381_codec
    );
    assert_eq!(&v.params.sample_entry[4..8], b"hvc1");
    let frames = v.frames.len();
    assert_eq!(frames, 50);

    let fmp4 = write_fmp4(dir.path(), &v);
    assert_eq!(probe(&fmp4).0, "hevc");
    assert_eq!(decodes_cleanly(&fmp4), frames);
    let (prog, _) = progressive_from_fmp4(dir.path(), &fmp4);
    let (codec, n, _) = probe(&prog);
    assert_eq!((codec.as_str(), n), ("hevc", frames));
    assert_eq!(decodes_cleanly(&prog), frames);

    // Annex B (MPEG-TS) input: hvcC is built from VPS/SPS/PPS NAL units.
    let ts = dir.path().join("hevc.ts");
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&mp4)
        .args(["-c", "copy", "-bsf:v", "hevc_mp4toannexb", "-f", "mpegts"])
        .arg(&ts));
    let t = demux_file(&ts).unwrap();
    assert_eq!(t.params.rfc6381_codec, v.params.rfc6381_codec);
    assert_eq!(t.frames.len(), frames);
    let fmp4_ts = write_fmp4(&dir.path().join(""), &t);
    assert_eq!(decodes_cleanly(&fmp4_ts), frames);
}

#[test]
fn missing_and_non_video_files_are_clear_errors() {
    let err = demux_file(Path::new("/nonexistent/cam.mp4")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/cam.mp4"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.mp4");
    std::fs::write(&junk, b"this is not a video").unwrap();
    let err = demux_file(&junk).unwrap_err();
    assert!(err.to_string().contains("junk.mp4"), "{err}");
}

#[test]
fn live_fragmenter_streams_playable_fmp4() {
    use vigil_mp4::live::{LiveFragmenter, LiveOutput};
    let Some(src) = footage("intel/car-detection.mp4") else {
        return;
    };
    let v = demux_file(&src).unwrap();
    let mut live = LiveFragmenter::new(90_000);
    let mut stream = Vec::new();
    let (mut inits, mut medias) = (0, 0);
    // start mid-GOP: frames before the first key frame are skipped
    for f in &v.frames[10..] {
        for out in live.push(f) {
            match out {
                LiveOutput::Init { data, codec } => {
                    assert_eq!(codec, v.params.rfc6381_codec);
                    inits += 1;
                    stream.extend_from_slice(&data);
                }
                LiveOutput::Media(m) => {
                    medias += 1;
                    stream.extend_from_slice(&m);
                }
            }
        }
    }
    assert_eq!(inits, 1);
    // 6 GOPs after frame 60, each cut into 1 s fragments (12-13 frames at 12.5 fps)
    assert!(medias >= 6 * 4, "{medias}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("live.mp4");
    std::fs::write(&p, &stream).unwrap();
    // what was emitted so far plays: frames from 60 on, minus the fragment still open (<= 1 s)
    let (_, n, _) = probe(&p);
    assert!((317 - 13..317).contains(&n), "{n}");
    assert_eq!(decodes_cleanly(&p), n);
    // at the end of the stream the rest comes out: frames 60..=376
    if let Some(LiveOutput::Media(m)) = live.finish() {
        stream.extend_from_slice(&m);
    }
    std::fs::write(&p, &stream).unwrap();
    assert_eq!(probe(&p).1, 317);
    assert_eq!(decodes_cleanly(&p), 317);
    assert!(live.finish().is_none());
}

#[test]
fn live_view_of_b_frames_keeps_their_order_and_composition_offsets() {
    use vigil_mp4::live::{LiveFragmenter, LiveOutput};
    let Some(src) = footage("intel/classroom.mp4") else {
        return;
    };
    let v = demux_file(&src).unwrap();
    // Both live forms: one frame per media segment (what viewers get) and one fragment per GOP.
    for mut live in [
        LiveFragmenter::immediate().with_producer_time(),
        LiveFragmenter::new(90_000),
    ] {
        let mut stream = Vec::new();
        for f in &v.frames {
            for out in live.push(f) {
                match out {
                    LiveOutput::Init { data, .. } | LiveOutput::Media(data) => stream.extend(data),
                }
            }
        }
        if let Some(LiveOutput::Media(m)) = live.finish() {
            stream.extend(m);
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("live.mp4");
        std::fs::write(&p, &stream).unwrap();
        // Every frame in decode order, shown when the source shows it: each frame's composition offset
        // is the source's (decode times are the live timeline's own: the first frame's duration is a
        // guess in the immediate form).
        let offsets = |times: Vec<(i64, i64)>| times.iter().map(|t| t.0 - t.1).collect::<Vec<_>>();
        assert_eq!(
            offsets(test_server::packet_times(&p).unwrap()),
            offsets(test_server::packet_times(&src).unwrap())
        );
        assert_eq!(
            test_server::frame_md5s(&p).unwrap(),
            test_server::frame_md5s(&src).unwrap()
        );
    }
}
