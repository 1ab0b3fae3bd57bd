//! Output: annotated MP4 written with `VideoWriter` and checked by ffprobe and by decoding it back;
//! JPEG / PNG encoded in memory and read back through `image_file`.

mod common;

use common::{ffprobe_frame_count, ffprobe_stream, field, shared};
use vigil_core::{BBox, BgrImage, GrayImage};
use vigil_media::draw::{color_for_id, draw_box_with_label};
use vigil_media::encode::{encode_jpeg, encode_png};
use vigil_media::image_file::{read_bgr, read_gray};
use vigil_media::{Converter, MediaError, VideoSource, VideoWriter};

/// A frame with a red square moving right by 4 pixels per frame on a gray background.
fn moving_square(i: u32, width: u32, height: u32) -> BgrImage {
    let mut img = BgrImage::filled(width, height, 90);
    let x = 10 + 4 * i as usize;
    let stride = img.stride();
    for y in 40..80 {
        for px in img.data_mut()[y * stride + x * 3..y * stride + (x + 40) * 3].chunks_exact_mut(3)
        {
            px.copy_from_slice(&[0, 0, 255]);
        }
    }
    img
}

#[test]
fn writer_round_trip_passes_ffprobe_and_decodes_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annotated.mp4");
    let mut writer = VideoWriter::create(&path, 320, 240, 12.5).unwrap();
    assert_eq!(writer.encoder_name(), "libx264");
    for i in 0..30 {
        writer.write(&moving_square(i, 320, 240)).unwrap();
    }
    assert_eq!(writer.finish().unwrap(), 30);

    let probe = ffprobe_stream(
        &path,
        "codec_name,width,height,pix_fmt,avg_frame_rate",
        false,
    );
    assert_eq!(field(&probe, "codec_name"), "h264");
    assert_eq!(field(&probe, "width"), "320");
    assert_eq!(field(&probe, "height"), "240");
    assert_eq!(field(&probe, "pix_fmt"), "yuv420p");
    assert_eq!(field(&probe, "avg_frame_rate"), "25/2");
    assert_eq!(ffprobe_frame_count(&path), 30);

    // Decode it back: the square is where it was drawn, in red.
    let mut converter = Converter::new();
    let mut source = VideoSource::open(&path).unwrap();
    assert_eq!(source.info().frame_count, Some(30));
    let mut n = 0;
    while let Some(frame) = source.next_frame().unwrap() {
        let img = frame.bgr(&mut converter, 320, 240).unwrap();
        let x = 10 + 4 * n + 20;
        let [b, g, r] = img.get(x, 60);
        assert!(
            r > 200 && g < 60 && b < 60,
            "frame {n} centre {:?}",
            [b, g, r]
        );
        let [b, g, r] = img.get(x + 60, 60);
        assert!(
            (r as i32 - 90).abs() < 12 && (b as i32 - 90).abs() < 12,
            "frame {n} background"
        );
        let _ = g;
        n += 1;
    }
    assert_eq!(n, 30);
}

#[test]
fn writer_with_odd_size_drops_the_last_column_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.mp4");
    let mut writer = VideoWriter::create(&path, 321, 241, 10.0).unwrap();
    for i in 0..5 {
        writer.write(&moving_square(i, 321, 241)).unwrap();
    }
    // the wrong size is refused with a clear error
    let err = writer.write(&BgrImage::filled(320, 240, 0)).unwrap_err();
    assert!(
        err.to_string()
            .contains("frame is 320x240, the video is 321x241"),
        "{err}"
    );
    writer.finish().unwrap();
    let probe = ffprobe_stream(&path, "width,height", false);
    assert_eq!(
        (field(&probe, "width"), field(&probe, "height")),
        ("320", "240")
    );
    assert_eq!(ffprobe_frame_count(&path), 5);
}

#[test]
fn writer_refuses_bad_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.mp4");
    for (w, h, fps) in [
        (0, 240, 10.0),
        (320, 1, 10.0),
        (320, 240, 0.0),
        (320, 240, f64::NAN),
    ] {
        let err = VideoWriter::create(&p, w, h, fps).unwrap_err();
        assert!(matches!(err, MediaError::Encode { .. }), "{err:?}");
        assert!(err.to_string().contains("x.mp4"), "{err}");
    }
    let err =
        VideoWriter::create(&dir.path().join("no/such/dir/x.mp4"), 320, 240, 10.0).unwrap_err();
    assert!(err.to_string().contains("no/such/dir/x.mp4"), "{err}");
}

#[test]
fn annotated_footage_round_trip() {
    let Some(src) = shared("footage/intel/one-by-one-person-detection.mp4") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("boxes.mp4");
    let mut source = VideoSource::open(&src).unwrap();
    let (w, h) = (source.info().width, source.info().height);
    let mut writer = VideoWriter::create(&path, w, h, source.info().fps).unwrap();
    let mut converter = Converter::new();
    for _ in 0..20 {
        let frame = source.next_frame().unwrap().unwrap();
        let mut img = frame.bgr(&mut converter, w, h).unwrap();
        draw_box_with_label(
            &mut img,
            &BBox::new(300.0, 100.0, 420.0, 380.0),
            "PERSON 0.91 #7",
            color_for_id(7),
            3,
        );
        writer.write(&img).unwrap();
    }
    writer.finish().unwrap();
    assert_eq!(ffprobe_frame_count(&path), 20);
    // The box outline survives encoding in its colour.
    let frame = VideoSource::open(&path).unwrap().nth(10).unwrap().unwrap();
    let img = frame.bgr(&mut converter, w, h).unwrap();
    let want = color_for_id(7);
    let got = img.get(301, 250);
    let diff: i32 = (0..3).map(|c| (got[c] as i32 - want[c] as i32).abs()).sum();
    assert!(diff < 60, "box edge {got:?}, drawn {want:?}");
}

/// A real photo (MOT17 frame) or, without the footage, a synthetic gradient with detail.
fn test_image() -> BgrImage {
    if let Some(p) = shared("footage/mot17-mini/train/MOT17-05-FRCNN/img1/000001.jpg") {
        return read_bgr(&p).unwrap();
    }
    let (w, h) = (641u32, 361u32);
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(&[(x % 256) as u8, (y % 256) as u8, ((x * y / 97) % 256) as u8]);
        }
    }
    BgrImage::from_vec(w, h, data).unwrap()
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x as i32 - y as i32).unsigned_abs() as f64)
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn jpeg_round_trip_and_quality() {
    let img = test_image();
    let dir = tempfile::tempdir().unwrap();
    let hi = encode_jpeg(&img, 90).unwrap();
    let lo = encode_jpeg(&img, 30).unwrap();
    assert_eq!(&hi[..3], &[0xff, 0xd8, 0xff], "JPEG SOI marker");
    assert!(
        lo.len() < hi.len(),
        "quality 30 {} >= quality 90 {}",
        lo.len(),
        hi.len()
    );
    let p = dir.path().join("snap.jpg");
    std::fs::write(&p, &hi).unwrap();
    let back = read_bgr(&p).unwrap();
    assert_eq!((back.width(), back.height()), (img.width(), img.height()));
    let d_hi = mean_abs_diff(back.data(), img.data());
    std::fs::write(&p, &lo).unwrap();
    let d_lo = mean_abs_diff(read_bgr(&p).unwrap().data(), img.data());
    eprintln!(
        "JPEG {}x{}: q90 {} bytes, mean error {d_hi:.2}; q30 {} bytes, mean error {d_lo:.2}",
        img.width(),
        img.height(),
        hi.len(),
        lo.len()
    );
    assert!(d_hi < 4.0, "quality 90 mean error {d_hi}");
    assert!(d_lo > d_hi);

    // odd sizes work
    let odd = img.crop(1, 1, 101, 77).unwrap();
    std::fs::write(&p, encode_jpeg(&odd, 85).unwrap()).unwrap();
    let back = read_bgr(&p).unwrap();
    assert_eq!((back.width(), back.height()), (101, 77));
}

#[test]
fn png_round_trip_is_lossless() {
    let img = test_image();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.png");
    let png = encode_png(&img).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    std::fs::write(&p, &png).unwrap();
    assert!(read_bgr(&p).unwrap() == img, "BGR PNG not lossless");

    let gray_data: Vec<u8> = (0..(97 * 45)).map(|i| (i * 7 % 256) as u8).collect();
    let gray = GrayImage::from_vec(97, 45, gray_data).unwrap();
    std::fs::write(&p, encode_png(&gray).unwrap()).unwrap();
    assert!(read_gray(&p).unwrap() == gray, "gray PNG not lossless");
}

#[test]
fn empty_images_are_refused() {
    let err = encode_jpeg(&BgrImage::filled(0, 10, 0), 90).unwrap_err();
    assert_eq!(err.to_string(), "JPEG 0x10: encode error: empty image");
    assert!(encode_png(&GrayImage::filled(5, 0, 0)).is_err());
}

#[test]
fn camera_like_writer_sends_no_b_frames_and_a_key_frame_every_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("camera.mp4");
    let mut w = VideoWriter::create_camera_like(&path, 320, 240, 10.0).unwrap();
    for i in 0..50 {
        w.write(&moving_square(i, 320, 240)).unwrap();
    }
    assert_eq!(w.finish().unwrap(), 50);
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pict_type",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .unwrap();
    // One picture type per frame (ffprobe adds empty side-data lines and a trailing comma on some).
    let types: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(',').to_string())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(types.len(), 50);
    assert!(!types.iter().any(|t| t == "B"), "{types:?}");
    let keys: Vec<usize> = types
        .iter()
        .enumerate()
        .filter(|(_, t)| *t == "I")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(keys, vec![0, 20, 40], "{types:?}");
}
