//! Still image files (JPEG, PNG, BMP) read through FFmpeg's image decoders.

use crate::MediaError;
use crate::convert::Converter;
use ffmpeg_next::media::Type;
use std::path::Path;
use vigil_core::{BgrImage, GrayImage};

/// Reads an image file as packed BGR at its own size.
pub fn read_bgr(path: &Path) -> Result<BgrImage, MediaError> {
    let frame = decode_first_frame(path)?;
    Converter::new().bgr(&frame, frame.width(), frame.height())
}

/// Reads an image file as 8-bit gray at its own size. A gray or palette file keeps its exact byte values.
pub fn read_gray(path: &Path) -> Result<GrayImage, MediaError> {
    let frame = decode_first_frame(path)?;
    Converter::new().gray(&frame, frame.width(), frame.height())
}

/// Decodes the first picture of a file (an image, or the first frame of a video).
fn decode_first_frame(path: &Path) -> Result<ffmpeg_next::frame::Video, MediaError> {
    crate::init()?;
    let open_err = |reason: String| MediaError::Open {
        path: path.to_path_buf(),
        reason,
    };
    let mut input = ffmpeg_next::format::input(path).map_err(|e| open_err(e.to_string()))?;
    let stream = input
        .streams()
        .best(Type::Video)
        .ok_or_else(|| MediaError::NoVideoStream {
            path: path.to_path_buf(),
        })?;
    let index = stream.index();
    let ctx = ffmpeg_next::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| open_err(e.to_string()))?;
    let mut decoder = ctx
        .decoder()
        .video()
        .map_err(|e| MediaError::UnsupportedCodec {
            path: path.to_path_buf(),
            codec: format!("{:?} ({e})", stream.parameters().id()),
        })?;
    let decode_err = |reason: String| MediaError::Decode {
        path: path.to_path_buf(),
        reason,
    };
    let mut frame = ffmpeg_next::frame::Video::empty();
    let mut packet = ffmpeg_next::Packet::empty();
    loop {
        match packet.read(&mut input) {
            Ok(()) => {
                if packet.stream() != index {
                    continue;
                }
                decoder
                    .send_packet(&packet)
                    .map_err(|e| decode_err(e.to_string()))?;
                if decoder.receive_frame(&mut frame).is_ok() {
                    return Ok(frame);
                }
            }
            Err(ffmpeg_next::Error::Eof) => break,
            Err(e) => return Err(decode_err(e.to_string())),
        }
    }
    decoder.send_eof().map_err(|e| decode_err(e.to_string()))?;
    if decoder.receive_frame(&mut frame).is_ok() {
        return Ok(frame);
    }
    Err(MediaError::EmptyImage {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(rel: &str) -> Option<std::path::PathBuf> {
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

    #[test]
    fn reads_jpeg_as_bgr() {
        let Some(p) = shared("footage/mot17-mini/train/MOT17-05-FRCNN/img1/000001.jpg") else {
            return;
        };
        let img = read_bgr(&p).unwrap();
        assert_eq!((img.width(), img.height()), (640, 480));
        // a real photo is not flat
        let mean = img.data().iter().map(|&v| v as u64).sum::<u64>() / img.data().len() as u64;
        assert!(mean > 20 && mean < 235, "mean {mean}");
    }

    #[test]
    fn reads_cdnet_mask_values_exactly() {
        let Some(p) = shared("footage/motion-gt/highway/groundtruth/gt001200.png") else {
            return;
        };
        let img = read_gray(&p).unwrap();
        assert_eq!((img.width(), img.height()), (320, 240));
        // CDnet labels: 0 static, 50 shadow, 85 outside ROI, 170 unknown, 255 moving; nothing else.
        assert!(img.data().iter().all(|v| [0, 50, 85, 170, 255].contains(v)));
        assert!(img.data().contains(&255));
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = read_bgr(Path::new("/nonexistent/frame.jpg")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/frame.jpg"), "{err}");
    }

    #[test]
    fn garbage_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.jpg");
        std::fs::write(&p, b"\xff\xd8\xff\xe0 this is not really a jpeg").unwrap();
        let err = read_bgr(&p).unwrap_err();
        assert!(err.to_string().contains("bad.jpg"), "{err}");
    }
}
