//! Decoding real footage and generated H.265 / MJPEG clips, through files and through the codec-level
//! decoder the RTSP path uses.

mod common;

use common::{ffmpeg, ffprobe_frame_count, luma, make_clip, mp4_packets, mp4_sample_entry, shared};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use vigil_core::{Time90k, VideoCodec, VideoParams};
use vigil_media::{
    AnalysisSize, Codec, Converter, DecodedFrame, DecoderOptions, FrameSampler, VideoDecoder,
    VideoSource,
};

const ONE_BY_ONE: &str = "footage/intel/one-by-one-person-detection.mp4";

/// What identifies a decoded frame: index, pts, size and a hash of its luma plane.
type Fingerprint = (u64, Time90k, u32, u32, u64);

fn fingerprint(frame: &DecodedFrame) -> Fingerprint {
    let mut h = DefaultHasher::new();
    luma(frame).hash(&mut h);
    (
        frame.index(),
        frame.pts(),
        frame.width(),
        frame.height(),
        h.finish(),
    )
}

/// Fingerprints of every frame of a file (panics on any error). Frames are not kept: a whole decoded
/// video would not fit in memory.
fn decode_file(path: &Path, options: DecoderOptions) -> Vec<Fingerprint> {
    VideoSource::open_with(path, options)
        .unwrap()
        .map(|f| fingerprint(&f.unwrap()))
        .collect()
}

/// Fingerprints of every frame of an MP4 file decoded the way camera frames are: its packets in MP4
/// form through a decoder configured only from the file's sample entry (as `VideoParams` carries it).
fn decode_as_camera(path: &Path, codec: VideoCodec) -> Vec<Fingerprint> {
    let params = VideoParams {
        codec,
        width: 0,
        height: 0,
        rfc6381_codec: String::new(),
        sample_entry: mp4_sample_entry(path),
    };
    let mut decoder = VideoDecoder::from_params(&params, DecoderOptions::single_thread()).unwrap();
    let mut frames = Vec::new();
    for (data, pts) in mp4_packets(path) {
        decoder.send(&data, pts).unwrap();
        while let Some(f) = decoder.receive().unwrap() {
            frames.push(fingerprint(&f));
        }
    }
    decoder.flush().unwrap();
    while let Some(f) = decoder.receive().unwrap() {
        frames.push(fingerprint(&f));
    }
    assert_eq!(decoder.stats().corrupt_packets, 0);
    frames
}

fn assert_same_frames(a: &[Fingerprint], b: &[Fingerprint]) {
    assert_eq!(a.len(), b.len(), "frame counts differ");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(
            x, y,
            "frame {} differs (index, pts, width, height, luma hash)",
            x.0
        );
    }
}

#[test]
fn one_by_one_decodes_every_frame_and_samples_5_of_10_fps() {
    let Some(path) = shared(ONE_BY_ONE) else {
        return;
    };
    let mut source = VideoSource::open(&path).unwrap();
    let info = source.info().clone();
    assert_eq!((info.width, info.height), (768, 432));
    assert_eq!(info.fps, 10.0);
    assert_eq!(info.codec, "h264");
    assert_eq!(info.frame_count, Some(1394));
    let secs = info.duration.unwrap().as_secs_f64();
    assert!((secs - 139.4).abs() < 0.01, "{secs}");

    let size = AnalysisSize::width(320).fit(info.width, info.height);
    assert_eq!(size, (320, 180));
    let mut sampler = FrameSampler::new(5.0);
    let mut converter = Converter::new();
    let (mut decoded, mut converted) = (0u64, 0u64);
    let mut last_pts: Option<Time90k> = None;
    let mut last_sampled: Option<Time90k> = None;
    while let Some(frame) = source.next_frame().unwrap() {
        assert_eq!(frame.index(), decoded);
        assert!(
            last_pts < Some(frame.pts()),
            "pts not increasing at {}",
            frame.index()
        );
        last_pts = Some(frame.pts());
        decoded += 1;
        if !sampler.accept(frame.pts()) {
            continue;
        }
        if let Some(prev) = last_sampled {
            // 5 fps: 0.2 s apart, on the 10 fps grid
            assert_eq!(frame.pts().0 - prev.0, 18_000, "at frame {}", frame.index());
        }
        last_sampled = Some(frame.pts());
        if frame.index() % 50 == 0 {
            let gray = frame.gray(&mut converter, size.0, size.1).unwrap();
            let (min, max) = gray
                .data()
                .iter()
                .fold((255, 0), |(lo, hi), &v| (v.min(lo), v.max(hi)));
            assert!(max - min > 50, "flat gray frame {}", frame.index());
            converted += 1;
        }
    }
    assert_eq!(decoded, 1394);
    assert_eq!(decoded, ffprobe_frame_count(&path));
    assert!(
        (696..=698).contains(&sampler.delivered()),
        "{}",
        sampler.delivered()
    );
    assert_eq!(sampler.delivered() + sampler.skipped(), decoded);
    assert!(converted > 10);
    let stats = source.stats();
    assert_eq!(
        (stats.packets, stats.frames, stats.corrupt_packets),
        (1394, 1394, 0)
    );
}

#[test]
fn camera_path_decodes_exactly_like_the_file() {
    let Some(path) = shared(ONE_BY_ONE) else {
        return;
    };
    let from_file = decode_file(&path, DecoderOptions::single_thread());
    let from_packets = decode_as_camera(&path, VideoCodec::H264);
    assert_eq!(from_file.len(), 1394);
    assert_same_frames(&from_file, &from_packets);
    // Frame threading changes nothing but speed.
    let threaded = decode_file(&path, DecoderOptions { threads: 2 });
    assert_same_frames(&from_file, &threaded);
}

/// The first `n` frames of `path` as raw `pix_fmt` bytes, decoded and converted by the ffmpeg CLI with the
/// given swscale flags.
fn ffmpeg_raw(path: &Path, n: usize, pix_fmt: &str, sws_flags: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("frames.raw");
    ffmpeg(&[
        "-i",
        path.to_str().unwrap(),
        "-sws_flags",
        sws_flags,
        "-frames:v",
        &n.to_string(),
        "-f",
        "rawvideo",
        "-pix_fmt",
        pix_fmt,
        raw.to_str().unwrap(),
    ]);
    std::fs::read(&raw).unwrap()
}

fn diff_stats(a: &[u8], b: &[u8]) -> (u8, f64) {
    assert_eq!(a.len(), b.len());
    let max = a
        .iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0);
    let sum: u64 = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y) as u64).sum();
    (max, sum as f64 / a.len() as f64)
}

#[test]
fn pixels_match_the_ffmpeg_cli() {
    let Some(path) = shared(ONE_BY_ONE) else {
        return;
    };
    let (w, h, n) = (768usize, 432usize, 40usize);
    let yuv = ffmpeg_raw(&path, n, "yuv420p", "bilinear");
    let gray = ffmpeg_raw(&path, n, "gray", "bilinear");
    // The converter interpolates chroma and rounds accurately for colour output (closer to libjpeg /
    // OpenCV decodes, which the detectors were trained on); ask the CLI for the same.
    let bgr = ffmpeg_raw(&path, n, "bgr24", "bilinear+full_chroma_int+accurate_rnd");
    let yuv_size = w * h * 3 / 2;
    assert_eq!(yuv.len(), n * yuv_size);
    let mut converter = Converter::new();
    for (i, f) in VideoSource::open(&path).unwrap().take(n).enumerate() {
        let f = f.unwrap();
        // decoded luma: bit-exact
        assert!(
            luma(&f) == yuv[i * yuv_size..i * yuv_size + w * h],
            "frame {i} luma differs"
        );
        // gray within rounding of ffmpeg's (it reads luma directly), BGR identical
        let g = f.gray(&mut converter, w as u32, h as u32).unwrap();
        let (max, mean) = diff_stats(g.data(), &gray[i * w * h..(i + 1) * w * h]);
        assert!(
            max <= 1 && mean < 0.01,
            "frame {i} gray: max {max} mean {mean}"
        );
        let b = f.bgr(&mut converter, w as u32, h as u32).unwrap();
        let (max, mean) = diff_stats(b.data(), &bgr[i * w * h * 3..(i + 1) * w * h * 3]);
        assert!(max == 0, "frame {i} bgr: max {max} mean {mean}");
    }
}

#[test]
fn h265_clip_decodes_from_file_and_from_its_sample_entry() {
    let Some(src) = shared(ONE_BY_ONE) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip-hevc.mp4");
    ffmpeg(&[
        "-i",
        src.to_str().unwrap(),
        "-frames:v",
        "40",
        "-vf",
        "scale=384:216",
        "-c:v",
        "libx265",
        "-preset",
        "ultrafast",
        "-x265-params",
        "log-level=error:keyint=20",
        "-tag:v",
        "hvc1",
        "-an",
        clip.to_str().unwrap(),
    ]);
    let source = VideoSource::open(&clip).unwrap();
    assert_eq!(source.info().codec, "hevc");
    assert_eq!((source.info().width, source.info().height), (384, 216));
    let from_file = decode_file(&clip, DecoderOptions::default());
    assert_eq!(from_file.len(), 40);
    assert_eq!(from_file.len() as u64, ffprobe_frame_count(&clip));
    let frame = VideoSource::open(&clip).unwrap().nth(20).unwrap().unwrap();
    let bgr = frame.bgr(&mut Converter::new(), 384, 216).unwrap();
    assert_eq!(bgr.data().len(), 384 * 216 * 3);
    assert!(bgr.data().iter().any(|&v| v > 100) && bgr.data().iter().any(|&v| v < 50));

    let entry = mp4_sample_entry(&clip);
    assert_eq!(&entry[4..8], b"hvc1");
    let from_packets = decode_as_camera(&clip, VideoCodec::H265);
    assert_same_frames(&from_file, &from_packets);

    // The wrong codec for the sample entry is refused.
    let params = VideoParams {
        codec: VideoCodec::H264,
        width: 384,
        height: 216,
        rfc6381_codec: String::new(),
        sample_entry: entry,
    };
    let err = VideoDecoder::from_params(&params, DecoderOptions::single_thread()).unwrap_err();
    assert_eq!(err.to_string(), "h264 decoder: sample entry is for hevc");
}

#[test]
fn mjpeg_decodes_from_file_and_packet_by_packet() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("cam.avi");
    make_clip(&clip, 2, "320x240", 10, &["-c:v", "mjpeg", "-q:v", "3"]);
    let from_file = decode_file(&clip, DecoderOptions::single_thread());
    assert_eq!(from_file.len(), 20);
    let source = VideoSource::open(&clip).unwrap();
    assert_eq!(source.info().codec, "mjpeg");

    // Each JPEG on its own, as an MJPEG camera sends them.
    let mut decoder =
        VideoDecoder::new(Codec::Mjpeg, None, DecoderOptions::single_thread()).unwrap();
    let mut n = 0;
    for (i, (data, _)) in mp4_packets(&clip).into_iter().enumerate() {
        decoder.send(&data, Time90k(i as i64 * 9000)).unwrap();
        while let Some(f) = decoder.receive().unwrap() {
            assert_eq!(f.pts(), Time90k(n as i64 * 9000));
            assert_eq!(fingerprint(&f).4, from_file[n].4, "frame {n}");
            n += 1;
        }
    }
    decoder.flush().unwrap();
    while decoder.receive().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 20);
}

#[test]
fn decoder_is_reusable_after_flush() {
    let Some(path) = shared("footage/traffic/highway-320x240.mp4") else {
        return;
    };
    let params = VideoParams {
        codec: VideoCodec::H264,
        width: 320,
        height: 240,
        rfc6381_codec: String::new(),
        sample_entry: mp4_sample_entry(&path),
    };
    let packets = mp4_packets(&path);
    let mut decoder = VideoDecoder::from_params(&params, DecoderOptions::single_thread()).unwrap();
    let count = |decoder: &mut VideoDecoder, packets: &[(Vec<u8>, Time90k)]| {
        let mut n = 0;
        for (data, pts) in packets {
            decoder.send(data, *pts).unwrap();
            while decoder.receive().unwrap().is_some() {
                n += 1;
            }
        }
        decoder.flush().unwrap();
        while decoder.receive().unwrap().is_some() {
            n += 1;
        }
        n
    };
    // The same stream twice (a reconnect): every frame both times, indices keep counting.
    let first = count(&mut decoder, &packets[..100]);
    let second = count(&mut decoder, &packets[..100]);
    assert_eq!((first, second), (100, 100));
    assert_eq!(decoder.stats().frames, 200);
}

#[test]
fn annex_b_stream_decodes_without_extradata() {
    let Some(src) = shared("footage/traffic/motorway-320x240.mp4") else {
        return;
    };
    // The elementary stream a camera sends with in-band SPS/PPS (retina's FrameFormat::SIMPLE).
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("motorway.h264");
    ffmpeg(&[
        "-i",
        src.to_str().unwrap(),
        "-c:v",
        "copy",
        "-bsf:v",
        "h264_mp4toannexb",
        "-f",
        "h264",
        raw.to_str().unwrap(),
    ]);
    let from_mp4 = decode_file(&src, DecoderOptions::single_thread());
    assert_eq!(from_mp4.len(), 748);

    // A raw stream has no timestamps: frames still get increasing ones, one frame period apart.
    let from_raw = decode_file(&raw, DecoderOptions::single_thread());
    assert_eq!(from_raw.len(), 748);
    for w in from_raw.windows(2) {
        assert!(w[1].1 > w[0].1, "pts not increasing: {:?} {:?}", w[0], w[1]);
    }
    for (a, b) in from_mp4.iter().zip(&from_raw) {
        assert_eq!(a.4, b.4, "frame {} pixels differ", a.0);
    }

    // Access units from the raw stream through the codec-level decoder, no extradata.
    let mut input = ffmpeg_next::format::input(&raw).unwrap();
    let mut decoder =
        VideoDecoder::new(Codec::H264, None, DecoderOptions::single_thread()).unwrap();
    let mut hashes = Vec::new();
    let mut packet = ffmpeg_next::Packet::empty();
    let mut pts = Time90k(0);
    loop {
        match packet.read(&mut input) {
            Ok(()) => decoder.send(packet.data().unwrap(), pts).unwrap(),
            Err(ffmpeg_next::Error::Eof) => break,
            Err(e) => panic!("{e}"),
        }
        pts.0 += 3600;
        while let Some(f) = decoder.receive().unwrap() {
            hashes.push(fingerprint(&f).4);
        }
    }
    decoder.flush().unwrap();
    while let Some(f) = decoder.receive().unwrap() {
        hashes.push(fingerprint(&f).4);
    }
    assert_eq!(hashes, from_mp4.iter().map(|f| f.4).collect::<Vec<_>>());
}
