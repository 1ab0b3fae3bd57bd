//! Shared helpers for the store's tests: real footage, frame feeding with simulated receive times, and
//! checks with the real `ffprobe` / `ffmpeg`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use vigil_core::{EncodedFrame, Time90k};
use vigil_media::demux::{DemuxedVideo, demux_file};
use vigil_store::{Recorder, StoreConfig};

/// A wall-clock origin for simulated recordings (2024-01-01T00:00:00Z).
pub const T0_MICROS: i64 = 1_704_067_200_000_000;
pub const T0: Time90k = Time90k(1_704_067_200 * 90_000);

pub fn footage(rel: &str) -> Option<PathBuf> {
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

/// Intel's car-detection clip: 377 H.264 frames, 12.5 fps, a key frame every 60 frames (4.8 s).
pub fn car() -> Option<Arc<DemuxedVideo>> {
    static V: OnceLock<Option<Arc<DemuxedVideo>>> = OnceLock::new();
    V.get_or_init(|| footage("intel/car-detection.mp4").map(|p| Arc::new(demux_file(&p).unwrap())))
        .clone()
}

/// Intel's classroom clip: 45 H.264 High frames at 15 fps with B-frames in a pyramid (reorder depth 2),
/// key frames at 0 and 30 (2 s).
pub fn classroom() -> Option<Arc<DemuxedVideo>> {
    static V: OnceLock<Option<Arc<DemuxedVideo>>> = OnceLock::new();
    V.get_or_init(|| footage("intel/classroom.mp4").map(|p| Arc::new(demux_file(&p).unwrap())))
        .clone()
}

/// A config for tests: short segments, no floor, retention only when asked.
pub fn config(root: &Path) -> StoreConfig {
    let dir = root.join("dir1");
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = StoreConfig::new(root.join("db/index.db"), "dir1", &dir);
    c.segment_seconds = 2.0;
    c.fragment_seconds = 1.0;
    c.dirs[0].min_free_bytes = 0;
    c.background_retention = false;
    c
}

/// Simulates a camera: the clip's frames (in decode order) in a loop, timestamps continuing across loops,
/// received at `start_micros` + decode time (a camera and local clock that agree). Presentation times
/// keep the clip's composition offsets (B-frames).
pub struct Camera {
    pub video: Arc<DemuxedVideo>,
    pub next: usize,
    pub loops: i64,
    pub start_micros: i64,
    /// Added to every pts (a camera clock that starts elsewhere).
    pub pts_offset: i64,
}

impl Camera {
    pub fn new(video: Arc<DemuxedVideo>, start_micros: i64) -> Self {
        Self {
            video,
            next: 0,
            loops: 0,
            start_micros,
            pts_offset: 0,
        }
    }

    /// Media (decode) time of the next frame from the start (90 kHz).
    pub fn media_time(&self) -> i64 {
        let v = &self.video;
        let first = v.frames[0].dts().0;
        self.loops * v.duration().0 + v.frames[self.next].dts().0 - first
    }

    pub fn next_frame(&mut self) -> EncodedFrame {
        let t = self.media_time();
        let mut f = self.video.frames[self.next].clone();
        f.pts = Time90k(t + i64::from(f.composition_offset) + self.pts_offset);
        f.received_unix_micros = self.start_micros + t * 100 / 9;
        self.next += 1;
        if self.next == self.video.frames.len() {
            self.next = 0;
            self.loops += 1;
        }
        f
    }

    /// Appends `n` frames.
    pub fn feed(&mut self, rec: &Recorder, n: usize) {
        for _ in 0..n {
            rec.append(&self.next_frame()).unwrap();
        }
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

/// ffprobe's codec name, packet count and duration of the first video stream.
pub fn probe(path: &Path) -> (String, usize, f64) {
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

/// MD5 of every decoded frame, in order; fails on any decoder complaint.
pub fn frame_md5s(path: &Path) -> Vec<String> {
    vigil_media::test_server::frame_md5s(path).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes an export to a file.
pub fn write_export(e: &vigil_store::Export, path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    e.file.write_all(&mut f, &mut |_| {}).unwrap();
}

/// Runs a tool and returns stdout (panics with stderr on failure).
pub fn tool(cmd: &mut Command) -> String {
    run(cmd)
}

/// `(pts, dts)` of every packet of `path` (ffprobe, 90 kHz), relative to the first packet's decode time.
pub fn relative_packet_times(path: &Path) -> Vec<(i64, i64)> {
    let times = vigil_media::test_server::packet_times(path).unwrap_or_else(|e| panic!("{e}"));
    vigil_media::test_server::relative_to_first_dts(&times)
}

/// FFmpeg remuxes `path` without a warning (no "non monotonically increasing dts" and the like).
pub fn assert_remuxes_cleanly(path: &Path) {
    let warnings = vigil_media::test_server::remux_warnings(path).unwrap_or_else(|e| panic!("{e}"));
    assert!(warnings.is_empty(), "{}: {warnings}", path.display());
}

/// Asserts two decoded-frame hash lists are equal without printing hundreds of hashes.
pub fn assert_same_frames(a: &[String], b: &[String]) {
    assert_eq!(a.len(), b.len(), "decoded frame counts differ");
    if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
        panic!("decoded frame {i} differs");
    }
}

/// A tmpfs mounted for a test, unmounted on drop.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`8m`) at `path`; `None` after a SKIP line when that is not allowed.
    pub fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            Some(Tmpfs(path.to_path_buf()))
        } else {
            eprintln!(
                "SKIP: cannot mount a tmpfs at {} (needs root)",
                path.display()
            );
            None
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
