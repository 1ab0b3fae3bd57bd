//! Motion detector speed on one core: ms/frame at 320x180, 320x240 and 720x480 (internally halved), next to
//! a plain frame-difference pass over the same frames as the in-run reference.
//!
//! `cargo bench -p vigil-vision --bench motion [-- NAME...]` (NAME filters the sizes, e.g. `320x180`;
//! `VIGIL_BENCH_PASSES` sets the passes per size, default 3). Uses the CDnet highway and fall frames from
//! `../shared/footage/motion-gt` when present, else synthetic frames (noise plus moving boxes).
//! CPU time is the thread's own (from /proc, 10 ms ticks summed over hundreds of frames), so other load
//! on a shared machine does not inflate it; wall time is printed too.

use std::path::Path;
use std::time::Instant;
use vigil_core::GrayImage;
use vigil_vision::motion::{MotionConfig, MotionDetector};

fn main() {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let passes = std::env::var("VIGIL_BENCH_PASSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3usize);
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/footage/motion-gt");
    let (highway, fall) = if shared.is_dir() {
        (
            read_frames(&shared.join("highway/input")),
            read_frames(&shared.join("fall/input")),
        )
    } else {
        eprintln!("NOTE: {} absent; timing synthetic frames", shared.display());
        (synthetic(320, 240, 300), synthetic(720, 480, 100))
    };
    let cropped: Vec<GrayImage> = highway
        .iter()
        .map(|f| {
            f.crop(0, 30, 320, 180)
                .expect("320x180 crop of a 320x240 frame")
        })
        .collect();
    println!(
        "{:<16} {:>7} {:>12} {:>12} {:>14} {:>8}",
        "frames", "count", "cpu ms/frame", "wall ms/fr", "framediff ms/fr", "ratio"
    );
    for (name, frames) in [
        ("320x180", &cropped),
        ("320x240", &highway),
        ("720x480 (/2)", &fall),
    ] {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let (cpu, wall) = time_per_frame(frames, passes, |frames| {
            let mut det = MotionDetector::new(MotionConfig::default()).expect("default config");
            let mut boxes = 0usize;
            for f in frames {
                boxes += det.update(f).expect("frame").boxes.len();
            }
            boxes
        });
        // the reference repeats its (very cheap) pass so the 10 ms CPU clock resolves it
        let (diff_cpu, _) = time_per_frame(frames, passes, |frames| {
            let mut moving = 0usize;
            for pair in frames
                .windows(2)
                .cycle()
                .take(frames.len() * REFERENCE_REPEAT)
            {
                moving += pair[0]
                    .data()
                    .iter()
                    .zip(pair[1].data())
                    .filter(|(a, b)| a.abs_diff(**b) > 15)
                    .count();
            }
            moving / REFERENCE_REPEAT
        });
        let diff_cpu = diff_cpu / REFERENCE_REPEAT as f64;
        println!(
            "{:<16} {:>7} {:>12.3} {:>12.3} {:>14.3} {:>8.1}",
            name,
            frames.len(),
            cpu,
            wall,
            diff_cpu,
            cpu / diff_cpu.max(1e-6)
        );
    }
}

const REFERENCE_REPEAT: usize = 20;

/// Best-of-`passes` (thread CPU ms, wall ms) per frame of `run` over `frames`.
fn time_per_frame(
    frames: &[GrayImage],
    passes: usize,
    run: impl Fn(&[GrayImage]) -> usize,
) -> (f64, f64) {
    let mut best = (f64::MAX, f64::MAX);
    for _ in 0..passes.max(1) {
        let cpu0 = thread_cpu_ms();
        let t0 = Instant::now();
        std::hint::black_box(run(frames));
        let wall = t0.elapsed().as_secs_f64() * 1000.0;
        let cpu = thread_cpu_ms()
            .zip(cpu0)
            .map(|(b, a)| b - a)
            .unwrap_or(wall);
        let n = frames.len() as f64;
        best = (best.0.min(cpu / n), best.1.min(wall / n));
    }
    best
}

/// This thread's user + system CPU time in ms, from /proc (Linux); None elsewhere.
fn thread_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // fields after the ")" that closes the command name: state is field 3, utime 14, stime 15
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 10.0) // USER_HZ is 100 on Linux
}

fn read_frames(dir: &Path) -> Vec<GrayImage> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("frame folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| vigil_media::image_file::read_gray(p).expect("frame"))
        .collect()
}

fn synthetic(w: u32, h: u32, n: usize) -> Vec<GrayImage> {
    let mut seed = 12345u32;
    (0..n)
        .map(|t| {
            let data = (0..w * h)
                .map(|i| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    let (x, y) = (i % w, i / w);
                    let bx = (t as u32 * 3) % w;
                    let inside = x >= bx && x < bx + w / 8 && y >= h / 3 && y < h / 3 + h / 6;
                    let base = if inside { 200 } else { 80 + (x / 16 % 4) * 20 };
                    (base + (seed % 7)) as u8
                })
                .collect();
            GrayImage::from_vec(w, h, data).expect("synthetic frame size")
        })
        .collect()
}
