//! Bad input: every case is a clear `MediaError` naming the file and the problem, never a panic, and a
//! damaged file still gives the frames that decode.

mod common;

use common::{ffmpeg, make_clip, make_h264_mp4};
use std::path::Path;
use vigil_core::{Time90k, VideoCodec, VideoParams};
use vigil_media::{Codec, DecoderOptions, MediaError, VideoDecoder, VideoSource};

fn open_err(path: &Path) -> MediaError {
    VideoSource::open(path).expect_err("opening should fail")
}

/// Decodes everything: (frames delivered, the error that ended it, if any).
fn decode_all(path: &Path) -> (u64, Option<MediaError>, VideoSource) {
    let mut source = VideoSource::open(path).unwrap();
    let mut frames = 0;
    let mut error = None;
    loop {
        match source.next_frame() {
            Ok(Some(f)) => {
                assert_eq!(f.index(), frames);
                frames += 1;
            }
            Ok(None) => break,
            Err(e) => {
                assert!(error.is_none(), "second error {e} after {error:?}");
                error = Some(e);
            }
        }
    }
    // the end stays the end
    assert!(source.next_frame().unwrap().is_none());
    (frames, error, source)
}

#[test]
fn missing_file() {
    let err = open_err(Path::new("/nonexistent/dir/cam1.mp4"));
    let msg = err.to_string();
    assert!(matches!(err, MediaError::Open { .. }), "{err:?}");
    assert!(msg.contains("/nonexistent/dir/cam1.mp4"), "{msg}");
    assert!(msg.contains("no such file"), "{msg}");
}

#[test]
fn empty_file_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.mp4");
    std::fs::write(&p, b"").unwrap();
    let msg = open_err(&p).to_string();
    assert!(
        msg.contains("empty.mp4") && msg.contains("empty (0 bytes)"),
        "{msg}"
    );

    let msg = open_err(dir.path()).to_string();
    assert!(msg.contains("is a directory"), "{msg}");
}

#[test]
fn text_file() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["notes.mp4", "notes.txt"] {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            "camera 1: front door\nrtsp://10.0.0.5/stream1\n".repeat(20),
        )
        .unwrap();
        let err = open_err(&p);
        let msg = err.to_string();
        assert!(matches!(err, MediaError::Open { .. }), "{err:?}");
        assert!(msg.contains(name) && msg.contains("contains text"), "{msg}");
    }
}

#[test]
fn random_bytes_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("noise.mp4");
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..50_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(&p, bytes).unwrap();
    // Whatever FFmpeg makes of noise, it is an error naming the file, not a panic or a silent success.
    match VideoSource::open(&p) {
        Err(e) => assert!(e.to_string().contains("noise.mp4"), "{e}"),
        Ok(s) => {
            let mut n = 0;
            for r in s {
                if let Err(e) = r {
                    assert!(e.to_string().contains("noise.mp4"), "{e}");
                }
                n += 1;
                assert!(n < 10_000);
            }
        }
    }
}

#[test]
fn mp4_without_moov() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.mp4");
    // Without faststart the index (moov) is written last: a copy cut short loses it.
    make_clip(
        &full,
        4,
        "320x240",
        25,
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let data = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let err = open_err(&cut);
    let msg = err.to_string();
    assert!(matches!(err, MediaError::Open { .. }), "{err:?}");
    assert!(
        msg.contains("cut.mp4") && msg.contains("no moov box"),
        "{msg}"
    );
    assert!(msg.contains("mdat"), "lists the boxes it found: {msg}");
}

#[test]
fn mp4_truncated_in_its_data_keeps_the_frames_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.mp4");
    make_h264_mp4(&full, 10, 25);
    let (frames, error, _) = decode_all(&full);
    assert_eq!((frames, error.map(|e| e.to_string())), (250, None));
    let data = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &data[..data.len() * 6 / 10]).unwrap();

    let source = VideoSource::open(&cut).unwrap();
    assert_eq!(source.info().frame_count, Some(250));
    let (frames, error, source) = decode_all(&cut);
    // Roughly 60% of the bytes: most of the first 60% of frames decode.
    assert!((100..200).contains(&frames), "{frames} frames");
    let err = error.expect("truncation must be reported");
    let msg = err.to_string();
    assert!(
        matches!(err, MediaError::Truncated { frames: f, .. } if f == frames),
        "{err:?}"
    );
    assert!(msg.contains("cut.mp4") && msg.contains("250"), "{msg}");
    eprintln!("{msg}; stats {:?}", source.stats());
}

/// Overwrites `count` runs of `len` bytes inside the `mdat` of an MP4 with pseudo-random bytes.
fn corrupt_mdat(data: &mut [u8], count: usize, len: usize) {
    let mdat = data
        .windows(4)
        .position(|w| w == b"mdat")
        .expect("mdat box")
        + 4;
    let span = data.len() - mdat - len;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..count {
        let at = mdat + span / (count + 1) * (i + 1);
        for b in &mut data[at..at + len] {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
}

#[test]
fn corrupted_data_is_concealed_counted_and_decoding_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.mp4");
    make_h264_mp4(&full, 10, 25);
    let mut data = std::fs::read(&full).unwrap();
    corrupt_mdat(&mut data, 12, 200);
    let bad = dir.path().join("damaged.mp4");
    std::fs::write(&bad, &data).unwrap();

    let (frames, error, source) = decode_all(&bad);
    assert!(
        error.is_none(),
        "damage inside frames is not fatal: {error:?}"
    );
    let stats = source.stats();
    eprintln!("damaged.mp4: {frames} frames, {stats:?}");
    assert!(frames >= 225, "only {frames} of 250 frames decoded");
    assert_eq!(stats.packets, 250);
    assert!(
        stats.corrupt_packets + stats.concealed_frames > 0,
        "damage went unnoticed: {stats:?}"
    );
}

#[test]
fn unsupported_codec_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("lossless.mkv");
    make_clip(&p, 1, "160x120", 10, &["-c:v", "ffv1"]);
    let err = open_err(&p);
    let msg = err.to_string();
    assert!(
        matches!(&err, MediaError::UnsupportedCodec { codec, .. } if codec == "ffv1"),
        "{err:?}"
    );
    assert!(
        msg.contains("lossless.mkv") && msg.contains("unsupported codec ffv1"),
        "{msg}"
    );
}

#[test]
fn audio_only_file_has_no_video_stream() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sound.wav");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=1",
        p.to_str().unwrap(),
    ]);
    let err = open_err(&p);
    assert!(matches!(err, MediaError::NoVideoStream { .. }), "{err:?}");
    assert!(
        err.to_string().contains("sound.wav: no video stream"),
        "{err}"
    );
}

#[test]
fn decoder_refuses_broken_parameters() {
    let mut params = VideoParams {
        codec: VideoCodec::H264,
        width: 320,
        height: 240,
        rfc6381_codec: "avc1.64001e".into(),
        sample_entry: vec![0, 0, 0, 9, b'a', b'v', b'c', b'1', 0],
    };
    let err = VideoDecoder::from_params(&params, DecoderOptions::single_thread()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("h264 decoder: invalid sample entry"),
        "{msg}"
    );

    params.sample_entry.clear();
    assert!(VideoDecoder::from_params(&params, DecoderOptions::single_thread()).is_err());
}

#[test]
fn decoder_survives_garbage_packets() {
    for codec in [Codec::H264, Codec::H265, Codec::Mjpeg] {
        let mut dec = VideoDecoder::new(codec, None, DecoderOptions::single_thread()).unwrap();
        let mut x = 7u32;
        for i in 0..50 {
            let junk: Vec<u8> = (0..(i * 37 % 900 + 1))
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 16) as u8
                })
                .collect();
            dec.send(&junk, Time90k(i as i64 * 3000)).unwrap();
            while dec.receive().unwrap().is_some() {}
        }
        dec.flush().unwrap();
        while dec.receive().unwrap().is_some() {}
        assert_eq!(dec.stats().packets, 50, "{codec:?}");
    }
}
