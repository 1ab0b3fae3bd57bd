//! Decode throughput of one video file: decode only, decode + small gray (motion input), decode + full
//! BGR (detector input), each on one thread, plus decode with frame threads for comparison.
//!
//! `cargo run --release -p vigil-media --example decode_speed [FILE] [RUNS]`
//! (default: `../shared/footage/intel/one-by-one-person-detection.mp4`, 5 runs)
//!
//! The machine may be shared: cases run interleaved (each round runs every case once), and single-thread
//! cases are also timed in CPU time of the decoding thread (Linux `/proc/thread-self/stat`), which other
//! processes disturb much less than wall time. Figures are medians over the rounds.

use std::path::PathBuf;
use std::time::Instant;
use vigil_media::{AnalysisSize, Converter, DecoderOptions, FrameSampler, MediaError, VideoSource};

#[derive(Clone, Copy)]
enum Work {
    DecodeOnly,
    Gray320,
    BgrNative,
    Gray320Sampled5,
}

/// CPU seconds used so far by the calling thread, when the OS tells.
fn thread_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces): state is field 3,
    // utime field 14, stime field 15, in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// (frames, wall seconds, CPU seconds of this thread).
fn run(
    path: &PathBuf,
    options: DecoderOptions,
    work: Work,
) -> Result<(u64, f64, Option<f64>), MediaError> {
    let mut source = VideoSource::open_with(path, options)?;
    let (w, h) = (source.info().width, source.info().height);
    let (gw, gh) = AnalysisSize::width(320).fit(w, h);
    let mut converter = Converter::new();
    let mut sampler = FrameSampler::new(5.0);
    let mut checksum = 0u64;
    let cpu_start = thread_cpu_secs();
    let start = Instant::now();
    let mut frames = 0u64;
    while let Some(frame) = source.next_frame()? {
        frames += 1;
        match work {
            Work::DecodeOnly => {}
            Work::Gray320 => checksum += frame.gray(&mut converter, gw, gh)?.data()[0] as u64,
            Work::BgrNative => checksum += frame.bgr(&mut converter, w, h)?.data()[0] as u64,
            Work::Gray320Sampled5 => {
                if sampler.accept(frame.pts()) {
                    checksum += frame.gray(&mut converter, gw, gh)?.data()[0] as u64;
                }
            }
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_start.zip(thread_cpu_secs()).map(|(a, b)| b - a);
    std::hint::black_box(checksum);
    Ok((frames, wall, cpu))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/footage/intel/one-by-one-person-detection.mp4")
        });
    let rounds: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let info = VideoSource::open(&path)?.info().clone();
    println!(
        "{}: {}x{} {} {:.2} fps, {:?} frames; {rounds} interleaved rounds, {} cores",
        path.display(),
        info.width,
        info.height,
        info.codec,
        info.fps,
        info.frame_count,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let one = DecoderOptions::single_thread();
    let threaded = DecoderOptions::default();
    let cases = [
        ("decode only, 1 thread", one, Work::DecodeOnly),
        ("decode + gray 320 wide, 1 thread", one, Work::Gray320),
        ("decode + BGR native, 1 thread", one, Work::BgrNative),
        (
            "decode + gray 320 of 5 fps sampled, 1 thread",
            one,
            Work::Gray320Sampled5,
        ),
        (
            "decode only, default threads (wall only)",
            threaded,
            Work::DecodeOnly,
        ),
    ];
    let mut wall = vec![Vec::new(); cases.len()];
    let mut cpu = vec![Vec::new(); cases.len()];
    let mut frames = 0;
    for _ in 0..rounds {
        for (i, (_, options, work)) in cases.iter().enumerate() {
            let (n, w, c) = run(&path, *options, *work)?;
            frames = n;
            wall[i].push(n as f64 / w);
            if let Some(c) = c.filter(|&c| c > 0.0) {
                cpu[i].push(n as f64 / c);
            }
        }
    }
    let base_wall = median(wall[0].clone());
    let base_cpu = (!cpu[0].is_empty()).then(|| median(cpu[0].clone()));
    println!("{frames} frames per run; fps = frames / time; ratio against decode only, 1 thread");
    for (i, (name, options, _)) in cases.iter().enumerate() {
        let w = median(wall[i].clone());
        let mut line = format!("{name:<46} wall {w:7.1} fps ({:.2}x)", w / base_wall);
        if options.threads == 1
            && let Some(base) = base_cpu
            && !cpu[i].is_empty()
        {
            let c = median(cpu[i].clone());
            line += &format!("   cpu {c:7.1} fps ({:.2}x)", c / base);
        }
        println!("{line}");
    }

    // Conversion alone, on one decoded frame, to separate it from decode.
    let frame = VideoSource::open(&path)?.nth(100).ok_or("short file")??;
    let (w, h) = (frame.width(), frame.height());
    let (gw, gh) = AnalysisSize::width(320).fit(w, h);
    let mut converter = Converter::new();
    for (name, bgr) in [("gray 320 wide", false), ("BGR native", true)] {
        let n = 500;
        let cpu_start = thread_cpu_secs();
        let start = Instant::now();
        for _ in 0..n {
            let v = if bgr {
                frame.bgr(&mut converter, w, h)?.data()[0]
            } else {
                frame.gray(&mut converter, gw, gh)?.data()[0]
            };
            std::hint::black_box(v);
        }
        let wall_ms = start.elapsed().as_secs_f64() * 1000.0 / n as f64;
        let cpu_ms = cpu_start
            .zip(thread_cpu_secs())
            .map_or(f64::NAN, |(a, b)| (b - a) * 1000.0 / n as f64);
        println!("convert only: {name:<32} wall {wall_ms:6.3} ms, cpu {cpu_ms:6.3} ms per frame");
    }
    Ok(())
}
