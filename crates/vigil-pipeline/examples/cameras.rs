//! Many simulated cameras in one process sharing one detector pool, in real time: how many cameras the
//! analysis keeps up with, and whether the cameras it cannot keep up with degrade alike.
//!
//! ```text
//! source dev/install-deps
//! cargo run --release -p vigil-pipeline --example cameras -- --cameras 48 --seconds 60
//! ```
//! Each camera is a thread that decodes one of the shared footage clips (480x270 and 768x432 Intel clips,
//! looped, each camera starting at another point) as a live camera would deliver it, and analyses it at
//! `--fps` (default 5) with motion gating, like `vigil run`: at every tick it takes the newest frame (the
//! frames it was too busy for are skipped and counted), analyses it, and sleeps until the next tick.
//! The detector pool is `vigil run`'s: one detector session with `--threads` intra-op threads (default: all
//! cores); `--workers` sessions, `--max-batch` regions per ONNX Runtime call (default 1, the detector's
//! default on the CPU), `--batch-wait-ms` the batch deadline (default 2).
//!
//! Printed: per camera analysed fps, skipped frames, detector runs and CPU share; the spread of analysed fps
//! between cameras (min, max, max/min); the process's CPU in cores; and the pool's figures (images per call,
//! the common rate of degraded cameras, the health state of the first one).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use vigil_media::DecoderOptions;
use vigil_pipeline::stats::{peak_rss_bytes, process_cpu_time};
use vigil_pipeline::{Analyzer, DetectorPool, FileRun, PipelineConfig, PoolOptions, PoolStatus};
use vigil_vision::detector::DetectorConfig;
use vigil_vision::model::ModelStore;
use vigil_vision::runtime::Runtime;

/// The clips cameras cycle through (file cameras of 480x270 to 768x432).
const CLIPS: &[&str] = &[
    "intel/one-by-one-person-detection.mp4",
    "intel/store-aisle-detection.mp4",
    "intel/worker-zone-detection.mp4",
    "intel/car-detection.mp4",
    "intel/people-detection.mp4",
    "intel/person-bicycle-car-detection.mp4",
    "intel/classroom.mp4",
    "intel/face-demographics-walking-and-pause.mp4",
];

struct Args {
    cameras: usize,
    seconds: f64,
    fps: f64,
    threads: usize,
    workers: usize,
    max_batch: usize,
    batch_wait_ms: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        cameras: 16,
        seconds: 30.0,
        fps: 5.0,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        workers: 1,
        max_batch: 1,
        batch_wait_ms: 2.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--cameras" => a.cameras = value.parse().map_err(|e| bad(&e))?,
            "--seconds" => a.seconds = value.parse().map_err(|e| bad(&e))?,
            "--fps" => a.fps = value.parse().map_err(|e| bad(&e))?,
            "--threads" => a.threads = value.parse().map_err(|e| bad(&e))?,
            "--workers" => a.workers = value.parse().map_err(|e| bad(&e))?,
            "--max-batch" => a.max_batch = value.parse().map_err(|e| bad(&e))?,
            "--batch-wait-ms" => a.batch_wait_ms = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

/// What one camera did.
#[derive(Default)]
struct CameraResult {
    clip: String,
    analysed: u64,
    skipped: u64,
    detector_runs: u64,
    cpu: Duration,
    error: Option<String>,
}

fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// One camera: a looping clip delivered in real time, analysed at `fps`, newest frame first.
fn camera(
    index: usize,
    clip: PathBuf,
    pool: Arc<DetectorPool>,
    args: (f64, Instant, Duration),
    stop: Arc<AtomicBool>,
) -> CameraResult {
    let (fps, start, run_for) = args;
    let mut out = CameraResult {
        clip: clip
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        ..CameraResult::default()
    };
    let config = PipelineConfig {
        analysis_fps: fps as f32,
        ..PipelineConfig::default()
    };
    let mut analyzer = match Analyzer::for_camera(&format!("camera-{index}"), config, pool) {
        Ok(a) => a,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    let open = || FileRun::open_with(&clip, Some(fps), DecoderOptions::single_thread());
    let mut file = match open() {
        Ok(f) => f,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    // Cameras start at different points of their clip (about 7 s apart) so they do not move in step.
    for _ in 0..(index / CLIPS.len()) * 35 {
        if file.next_frame().is_none() {
            break;
        }
    }
    let period = Duration::from_secs_f64(1.0 / fps);
    let cpu0 = thread_cpu();
    let mut next_tick: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let elapsed = start.elapsed();
        if elapsed >= run_for {
            break;
        }
        // Frames delivered so far; everything between the last analysed one and the newest is skipped.
        let due = (elapsed.as_secs_f64() * fps) as u64;
        if due < next_tick {
            std::thread::sleep(period.mul_f64((next_tick - due) as f64).min(period));
            continue;
        }
        let behind = due - next_tick;
        let mut frame = None;
        for _ in 0..=behind {
            frame = file.next_frame();
            if frame.is_none() {
                match open() {
                    Ok(f) => file = f,
                    Err(e) => {
                        out.error = Some(e.to_string());
                        return out;
                    }
                }
                frame = file.next_frame();
            }
        }
        out.skipped += behind;
        next_tick = due + 1;
        let Some(frame) = frame else {
            out.error = Some("clip delivers no frames".into());
            return out;
        };
        match analyzer.process(&frame, false) {
            Ok(a) => {
                out.analysed += 1;
                out.detector_runs += u64::from(a.detector_ran);
            }
            Err(e) => {
                out.error = Some(e.to_string());
                return out;
            }
        }
    }
    out.cpu = thread_cpu() - cpu0;
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    let runtime = Runtime::init(None)?;
    let model = ModelStore::new(vec![shared.join("models")], None).load_by_name("yolox-nano")?;
    let config = DetectorConfig {
        threads: Some(args.threads),
        score_threshold: 0.1,
        max_batch: args.max_batch,
        ..DetectorConfig::default()
    };
    let options = PoolOptions {
        workers: args.workers,
        batch_wait: Duration::from_secs_f64(args.batch_wait_ms / 1e3),
    };
    let pool = Arc::new(DetectorPool::with_options(
        &runtime, &model, config, options,
    )?);
    println!(
        "{} cameras at {} fps for {} s; detector: {} worker(s) x {} thread(s), up to {} regions per call, batch wait {} ms",
        args.cameras,
        args.fps,
        args.seconds,
        args.workers,
        args.threads,
        pool.max_batch(),
        args.batch_wait_ms
    );

    let stop = Arc::new(AtomicBool::new(false));
    let run_for = Duration::from_secs_f64(args.seconds);
    let start = Instant::now() + Duration::from_millis(500);
    let cpu0 = process_cpu_time();
    let handles: Vec<_> = (0..args.cameras)
        .map(|i| {
            let clip = shared.join("footage").join(CLIPS[i % CLIPS.len()]);
            let (pool, stop) = (pool.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("camera-{i}"))
                .spawn(move || camera(i, clip, pool, (args.fps, start, run_for), stop))
        })
        .collect::<Result<_, _>>()?;
    // The pool's view shortly before the end (every camera still has its slot).
    std::thread::sleep(
        run_for.saturating_sub(Duration::from_millis(500)) + Duration::from_millis(500),
    );
    let status: PoolStatus = pool.status();
    let results: Vec<CameraResult> = handles
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .collect();
    let wall = start.elapsed().min(run_for).as_secs_f64();
    let cpu = (process_cpu_time() - cpu0).as_secs_f64();

    println!(
        "{:>6} {:<42} {:>8} {:>8} {:>9} {:>8}",
        "camera", "clip", "fps", "skipped", "detector", "cpu %"
    );
    let mut rates = Vec::new();
    for (i, r) in results.iter().enumerate() {
        let fps = r.analysed as f64 / wall;
        rates.push(fps);
        println!(
            "{i:>6} {:<42} {fps:>8.2} {:>8} {:>9} {:>8.1}{}",
            r.clip,
            r.skipped,
            r.detector_runs,
            r.cpu.as_secs_f64() / wall * 100.0,
            r.error
                .as_deref()
                .map(|e| format!("  ERROR {e}"))
                .unwrap_or_default()
        );
    }
    let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let max = rates.iter().copied().fold(0.0, f64::max);
    let mean = rates.iter().sum::<f64>() / rates.len().max(1) as f64;
    let skipped: u64 = results.iter().map(|r| r.skipped).sum();
    let runs: u64 = results.iter().map(|r| r.detector_runs).sum();
    println!(
        "analysed fps per camera: mean {mean:.2}, min {min:.2}, max {max:.2}, max/min {:.2}",
        max / min.max(1e-9)
    );
    println!(
        "skipped frames: {skipped} in all ({} of {} cameras skipped any); detector runs {runs}",
        results.iter().filter(|r| r.skipped > 0).count(),
        results.len()
    );
    println!(
        "pool: {} frames in {} images in {} calls ({:.2} images per call); degraded cameras {}, common rate {}{}",
        status.frames,
        status.images,
        status.calls,
        status.images as f64 / status.calls.max(1) as f64,
        status.cameras.iter().filter(|c| c.degraded).count(),
        status
            .fair_fps
            .map_or("-".into(), |f| format!("{f:.2} fps")),
        status
            .cameras
            .iter()
            .find_map(|c| c.health().map(|h| format!(" ({}: {h})", c.name)))
            .unwrap_or_default()
    );
    println!(
        "process CPU {:.2} cores; peak RSS {} MB",
        cpu / wall,
        peak_rss_bytes().unwrap_or(0) / 1_000_000
    );
    Ok(())
}
