//! The ipycam camera process and FFmpeg readers of its streams: `vigil_onvif::test_camera` (feature
//! `test-camera`, shared with the other crates' tests), with panics for the tests' brevity.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use vigil_onvif::test_camera::{self, IpyCam, IpyCamOptions};

pub use vigil_onvif::test_camera::mad;

/// `$VIGIL_PY` when it is set and has ipycam 1.3.0 and FFmpeg is on the PATH; otherwise prints a visible
/// `SKIP:` line (once per reason) and returns `None`.
pub fn python() -> Option<PathBuf> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = FOUND.get_or_init(|| test_camera::python().map_err(|e| e.to_string()));
    match found {
        Ok(p) => Some(p.clone()),
        Err(reason) => {
            eprintln!("SKIP: {reason}");
            None
        }
    }
}

/// The shared footage clip the camera plays (a static indoor camera, 139 s at 10 fps), when present.
pub fn footage() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/footage/intel/one-by-one-person-detection.mp4");
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "note: {} not found (../shared absent); the camera shows a generated pattern",
            p.display()
        );
        None
    }
}

/// A running ipycam camera playing the footage; stopped (with its encoders) on drop.
pub struct Camera(IpyCam);

impl std::ops::Deref for Camera {
    type Target = IpyCam;

    fn deref(&self) -> &IpyCam {
        &self.0
    }
}

impl Camera {
    /// Starts a camera with optional `(user, password)`; waits until it streams.
    pub fn start(python: &Path, auth: Option<(&str, &str)>) -> Camera {
        let options = IpyCamOptions {
            video: footage(),
            auth: auth.map(|(u, p)| (u.to_string(), p.to_string())),
            ..IpyCamOptions::default()
        };
        Camera(IpyCam::start(python, &options).unwrap_or_else(|e| panic!("{e}")))
    }
}

/// Decodes an RTSP stream with FFmpeg, continuously, into small grey frames; keeps the latest.
pub struct FrameReader(test_camera::FrameReader);

impl FrameReader {
    /// Starts decoding `uri` (RTSP over TCP).
    pub fn open(uri: &str) -> FrameReader {
        FrameReader(test_camera::FrameReader::open(uri).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Frames decoded so far.
    pub fn count(&self) -> u64 {
        self.0.count()
    }

    /// Waits for `n` more frames to be decoded and returns the last one.
    pub fn frame_after(&self, n: u64) -> Vec<u8> {
        self.0.frame_after(n).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// `ffprobe`'s codec, width and height of the first video stream of `uri`.
pub fn ffprobe(uri: &str) -> (String, u32, u32) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-select_streams",
            "v:0",
        ])
        .args([
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "csv=p=0",
            uri,
        ])
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "ffprobe {uri}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parts: Vec<&str> = text.split(',').collect();
    assert_eq!(parts.len(), 3, "ffprobe said {text:?}");
    (
        parts[0].to_string(),
        parts[1].parse().expect("width"),
        parts[2].parse().expect("height"),
    )
}

/// Decodes `frames` frames of `uri` with FFmpeg and returns how many it decoded.
pub fn decode_frames(uri: &str, frames: u32) -> u32 {
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-rtsp_transport",
            "tcp",
            "-i",
            uri,
        ])
        .args(["-frames:v", &frames.to_string(), "-f", "framemd5", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg {uri}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count() as u32
}
