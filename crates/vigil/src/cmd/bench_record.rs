//! `vigil bench-record`: records many simulated 1080p H.264 cameras at real time in one process and
//! measures what recording costs: CPU (cores, per stream), memory per stream, index size per
//! stream-hour, and export speed for a long range. The reference in the same run is plain appends of
//! the same bytes to one file per stream (no index, no fsync). With `--encryption both` (the default)
//! the whole measurement runs twice, in the clear and encrypted at rest (`[storage] encrypt`), and the
//! ratios between the two are printed.

use anyhow::{Context, bail};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use vigil_core::{EncodedFrame, Time90k};
use vigil_media::demux::{DemuxedVideo, demux_file};
use vigil_store::{Store, StoreConfig};

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Simulated cameras.
    #[arg(long, default_value_t = 32)]
    streams: usize,
    /// Seconds of real-time recording.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Target bit rate of the generated clip (kbit/s).
    #[arg(long, default_value_t = 4000)]
    kbps: u32,
    /// Minutes of video recorded at full speed for the export measurement.
    #[arg(long, default_value_t = 10)]
    export_minutes: u64,
    /// Storage directory (default: a temporary directory, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Where the generated clip is cached (default: ~/.cache/vigil).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Record in the clear (`off`), encrypted at rest (`on`), or both one after the other with their
    /// ratios (`both`).
    #[arg(long, default_value = "both", value_parser = ["both", "on", "off"])]
    encryption: String,
}

#[derive(Serialize)]
struct Summary {
    bench: &'static str,
    encrypted: bool,
    streams: usize,
    seconds: f64,
    clip: String,
    fps: f64,
    mbit_per_stream: f64,
    cpu_cores_total: f64,
    cpu_cores_recorder: f64,
    cpu_cores_feeder: f64,
    cpu_percent_per_stream: f64,
    reference_cpu_cores_plain_writes: f64,
    recorder_vs_plain_writes: f64,
    rss_mb_per_stream: f64,
    rss_mb_peak_delta: f64,
    frames_written: u64,
    frames_dropped: u64,
    segments: u64,
    index_bytes_per_stream_hour: f64,
    frame_table_bytes_per_stream_hour: f64,
    fast_record_mb_s: f64,
    export_mb: f64,
    export_mb_s: f64,
    export_build_ms: f64,
}

fn cpu_seconds(id: rustix::time::ClockId) -> f64 {
    let t = rustix::time::clock_gettime(id);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn process_cpu() -> f64 {
    cpu_seconds(rustix::time::ClockId::ProcessCPUTime)
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// Generates (once) a 1080p25 H.264 clip without B-frames (like a camera) at the wanted bit rate.
fn clip(cache: &Path, kbps: u32) -> anyhow::Result<PathBuf> {
    let out = cache.join(format!("bench-1080p25-{kbps}k.mp4"));
    if out.exists() {
        return Ok(out);
    }
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let source = crate::paths::footage_dir().join("anomaly-avenue/test_17.mp4");
    let tmp = cache.join(format!("bench-1080p25-{kbps}k.partial.mp4"));
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-y"]);
    if source.exists() {
        cmd.args(["-stream_loop", "1", "-i"]).arg(&source);
    } else {
        eprintln!(
            "{} not found: using a synthetic test pattern",
            source.display()
        );
        cmd.args(["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25"]);
    }
    let rate = format!("{kbps}k");
    let buf = format!("{}k", kbps * 2);
    cmd.args([
        "-t",
        "30",
        "-vf",
        "scale=1920:1080,fps=25",
        "-an",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-profile:v",
        "high",
        "-bf",
        "0",
        "-g",
        "50",
        "-keyint_min",
        "50",
        "-sc_threshold",
        "0",
        "-b:v",
        &rate,
        "-maxrate",
        &rate,
        "-bufsize",
        &buf,
    ])
    .arg(&tmp);
    eprintln!("generating the benchmark clip {} (once)...", out.display());
    let status = cmd.status().context("running ffmpeg (is it installed?)")?;
    if !status.success() {
        bail!("ffmpeg failed to generate {}", out.display());
    }
    std::fs::rename(&tmp, &out)?;
    Ok(out)
}

fn default_cache() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(x).join("vigil");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".cache/vigil");
    }
    std::env::temp_dir().join("vigil-cache")
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.streams == 0 || args.seconds == 0 {
        bail!("--streams and --seconds must be positive");
    }
    let clip_path = clip(&args.cache.clone().unwrap_or_else(default_cache), args.kbps)?;
    let clip = Arc::new(demux_file(&clip_path)?);
    if clip.has_b_frames {
        bail!(
            "{}: has B-frames; the benchmark needs camera-like footage",
            clip_path.display()
        );
    }
    let fd = clip.frame_duration.0.max(1);

    let tmp = match &args.dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("vigil-bench-record")
                .tempdir()?,
        ),
    };
    let root = args
        .dir
        .clone()
        .or_else(|| tmp.as_ref().map(|t| t.path().to_path_buf()))
        .context("no directory")?;
    std::fs::create_dir_all(&root)?;

    // Reference: the same bytes appended to one plain file per stream (no index, no fsync).
    let ref_seconds = args.seconds.min(10);
    let reference_cores = plain_writes(&root, &clip, args.streams, ref_seconds, fd)?;

    let modes: &[bool] = match args.encryption.as_str() {
        "on" => &[true],
        "off" => &[false],
        _ => &[false, true],
    };
    let mut summaries = Vec::new();
    for &encrypt in modes {
        let dir = root.join(if encrypt { "encrypted" } else { "clear" });
        std::fs::create_dir_all(dir.join("recordings"))?;
        let s = measure(&args, &clip, &clip_path, &dir, encrypt, reference_cores)?;
        summaries.push(s);
    }
    print_table(&summaries);
    if let [clear, enc] = &summaries[..] {
        println!(
            "encrypted vs clear: recorder CPU {:.2}x ({:.4} vs {:.4} cores), export {:.0} vs {:.0} MB/s ({:.2}x)",
            enc.cpu_cores_recorder / clear.cpu_cores_recorder.max(1e-9),
            enc.cpu_cores_recorder,
            clear.cpu_cores_recorder,
            enc.export_mb_s,
            clear.export_mb_s,
            enc.export_mb_s / clear.export_mb_s.max(1e-9)
        );
    }
    for s in &summaries {
        crate::report::print_json_summary(s)?;
    }
    drop(tmp);
    Ok(())
}

/// One measurement (recording at real time, then the export) into a store at `root`.
fn measure(
    args: &Args,
    clip: &Arc<DemuxedVideo>,
    clip_path: &Path,
    root: &Path,
    encrypt: bool,
    reference_cores: f64,
) -> anyhow::Result<Summary> {
    let fd = clip.frame_duration.0.max(1);
    let fps = 90_000.0 / fd as f64;
    let clip_bytes: usize = clip.frames.iter().map(|f| f.data.len()).sum();
    let mbit = clip_bytes as f64 * 8.0 / 1e6 / (clip.frames.len() as f64 / fps);
    let storage = root.join("recordings");
    let config = StoreConfig {
        encrypt,
        ..StoreConfig::new(root.join("index.db"), "bench", &storage)
    };
    let (store, _) = Store::open(config)?;
    if encrypt {
        let keys = vigil_keys::KeyStore::open(root, &vigil_keys::MasterSource::Generated)?;
        store.set_keys(Arc::new(keys));
    }
    let index_before = store.status()?.index_bytes;
    let rss_before = rss_bytes();
    let recorders: Vec<_> = (0..args.streams)
        .map(|s| store.recorder(&format!("bench-{s:02}"), "main"))
        .collect::<Result<_, _>>()?;

    // RSS sampler.
    let peak = Arc::new(AtomicU64::new(rss_before));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };

    eprintln!(
        "recording {} streams of {:.1} Mbit/s at real time for {} s ({})...",
        args.streams,
        mbit,
        args.seconds,
        if encrypt { "encrypted" } else { "in the clear" }
    );
    let cpu0 = process_cpu();
    let t0 = Instant::now();
    let wall0 = now_micros();
    let frame_ns = fd as u64 * 1_000_000_000 / 90_000;
    let end_ns = args.seconds * 1_000_000_000;
    let n = clip.frames.len();
    // Each stream starts at a key frame of the clip (spread over the clip) and at its own phase.
    let keys: Vec<usize> = (0..n).filter(|&i| clip.frames[i].is_key).collect();
    let offset = |s: usize| {
        keys.get(s * keys.len() / args.streams)
            .copied()
            .unwrap_or(0)
    };
    let feeder_cpu0 = cpu_seconds(rustix::time::ClockId::ThreadCPUTime);
    let mut heap: BinaryHeap<Reverse<(u64, usize, u64)>> = (0..args.streams)
        .map(|s| Reverse((s as u64 * frame_ns / args.streams as u64, s, 0)))
        .collect();
    while let Some(Reverse((due, s, k))) = heap.pop() {
        if due >= end_ns {
            continue;
        }
        let elapsed = t0.elapsed().as_nanos() as u64;
        if due > elapsed {
            std::thread::sleep(Duration::from_nanos(due - elapsed));
        }
        let src = &clip.frames[(offset(s) + k as usize) % n];
        let frame = EncodedFrame {
            params: src.params.clone(),
            pts: Time90k(k as i64 * fd),
            composition_offset: 0,
            received_unix_micros: wall0 + (due / 1000) as i64,
            is_key: src.is_key,
            data: src.data.clone(),
        };
        recorders[s].append_owned(frame)?;
        heap.push(Reverse((due + frame_ns, s, k + 1)));
    }
    let feeder_cpu = cpu_seconds(rustix::time::ClockId::ThreadCPUTime) - feeder_cpu0;
    let statuses: Vec<_> = recorders.into_iter().map(|r| r.close()).collect();
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = process_cpu() - cpu0;
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let rss_delta = peak.load(Ordering::Relaxed).saturating_sub(rss_before) as f64 / 1e6;

    let status = store.status()?;
    let reader = store.reader()?;
    let mut stream_hours = 0.0;
    for c in reader.cameras()? {
        for s in reader.segments(&c.name, "main", Time90k(0), Time90k(i64::MAX / 4))? {
            stream_hours += s.media_duration.as_secs_f64() / 3600.0;
        }
    }
    let index_growth = status.index_bytes.saturating_sub(index_before) as f64;
    let frames_written: u64 = statuses.iter().map(|s| s.frames_written).sum();
    let frames_dropped: u64 = statuses.iter().map(|s| s.frames_dropped).sum();
    let segments: u64 = statuses.iter().map(|s| s.segments).sum();

    // Export: a long range recorded at full speed, then written out as one MP4.
    let minutes = args.export_minutes.max(1);
    eprintln!("recording {minutes} min of one stream at full speed for the export test...");
    let rec = store.recorder("bench-export", "main")?;
    let frames_needed = (minutes * 60 * 90_000) as i64 / fd;
    let start = Time90k((wall0 / 1_000_000 - 7 * 86_400) * 90_000);
    let t1 = Instant::now();
    let mut fast_bytes = 0u64;
    for k in 0..frames_needed {
        // Full speed, but without piling up more than a third of the queue (that is backpressure,
        // not a slow disk).
        while rec.status().queued > 80 {
            std::thread::sleep(Duration::from_micros(200));
        }
        let src = &clip.frames[k as usize % n];
        fast_bytes += src.data.len() as u64;
        rec.append_owned(EncodedFrame {
            params: src.params.clone(),
            pts: Time90k(k * fd),
            composition_offset: 0,
            received_unix_micros: (start.0 + k * fd) * 100 / 9,
            is_key: src.is_key,
            data: src.data.clone(),
        })?;
    }
    rec.close();
    let fast_mb_s = fast_bytes as f64 / 1e6 / t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let export = reader.export(
        "bench-export",
        "main",
        start,
        Time90k(start.0 + frames_needed * fd),
    )?;
    let build_ms = t2.elapsed().as_secs_f64() * 1e3;
    let out = root.join("export.mp4");
    let file = std::fs::File::create(&out)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    export.file.write_all(&mut w, &mut |_| {})?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    let export_s = t2.elapsed().as_secs_f64();
    let export_mb = export.file.len() as f64 / 1e6;
    std::fs::remove_file(&out)?;
    drop(reader);
    store.close();

    Ok(Summary {
        bench: "record",
        encrypted: encrypt,
        streams: args.streams,
        seconds: elapsed,
        clip: clip_path.display().to_string(),
        fps,
        mbit_per_stream: mbit,
        cpu_cores_total: cpu / elapsed,
        cpu_cores_recorder: (cpu - feeder_cpu) / elapsed,
        cpu_cores_feeder: feeder_cpu / elapsed,
        cpu_percent_per_stream: (cpu - feeder_cpu) / elapsed / args.streams as f64 * 100.0,
        reference_cpu_cores_plain_writes: reference_cores,
        recorder_vs_plain_writes: ((cpu - feeder_cpu) / elapsed) / reference_cores.max(1e-9),
        rss_mb_per_stream: rss_delta / args.streams as f64,
        rss_mb_peak_delta: rss_delta,
        frames_written,
        frames_dropped,
        segments,
        index_bytes_per_stream_hour: index_growth / stream_hours.max(1e-9),
        frame_table_bytes_per_stream_hour: status.frame_table_bytes as f64 / stream_hours.max(1e-9),
        fast_record_mb_s: fast_mb_s,
        export_mb,
        export_mb_s: export_mb / export_s,
        export_build_ms: build_ms,
    })
}

fn print_table(summaries: &[Summary]) {
    println!(
        "{:>9} {:>7} {:>6} {:>9} {:>10} {:>11} {:>12} {:>9} {:>10} {:>14} {:>10}",
        "storage",
        "streams",
        "secs",
        "Mbit/str",
        "CPU cores",
        "CPU/str %",
        "vs plain wr",
        "RSS/str",
        "dropped",
        "index B/str-h",
        "export MB/s"
    );
    for summary in summaries {
        println!(
            "{:>9} {:>7} {:>6.0} {:>9.2} {:>10.3} {:>11.3} {:>11.2}x {:>7.2}MB {:>10} {:>14.0} {:>10.0}",
            if summary.encrypted {
                "encrypted"
            } else {
                "clear"
            },
            summary.streams,
            summary.seconds,
            summary.mbit_per_stream,
            summary.cpu_cores_recorder,
            summary.cpu_percent_per_stream,
            summary.recorder_vs_plain_writes,
            summary.rss_mb_per_stream,
            summary.frames_dropped,
            summary.index_bytes_per_stream_hour,
            summary.export_mb_s
        );
    }
    if let Some(summary) = summaries.first() {
        println!(
            "(CPU cores: recorder threads, excluding the camera simulator at {:.3} cores; plain writes of \
             the same bytes: {:.3} cores; export of {:.0} MB in {:.0} ms + copy, page cache warm)",
            summary.cpu_cores_feeder,
            summary.reference_cpu_cores_plain_writes,
            summary.export_mb,
            summary.export_build_ms
        );
    }
}

/// CPU cores spent appending `seconds` of every stream's bytes to plain files, as fast as possible,
/// normalised to real time (CPU seconds per second of video).
fn plain_writes(
    root: &Path,
    clip: &DemuxedVideo,
    streams: usize,
    seconds: u64,
    fd: i64,
) -> anyhow::Result<f64> {
    use std::io::Write;
    let dir = root.join("reference");
    std::fs::create_dir_all(&dir)?;
    let mut files: Vec<std::fs::File> = (0..streams)
        .map(|s| std::fs::File::create(dir.join(format!("{s}.bin"))))
        .collect::<Result<_, _>>()?;
    let frames = (seconds as i64 * 90_000 / fd) as usize;
    let n = clip.frames.len();
    let cpu0 = process_cpu();
    for k in 0..frames {
        for (s, f) in files.iter_mut().enumerate() {
            let data = clip.frames[(s * n / streams + k) % n].data.clone();
            f.write_all(&data)?;
        }
    }
    let cpu = process_cpu() - cpu0;
    drop(files);
    std::fs::remove_dir_all(&dir)?;
    Ok(cpu / seconds as f64)
}
