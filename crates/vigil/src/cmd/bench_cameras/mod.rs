//! `vigil bench-cameras`: how many cameras one box runs. N RTSP cameras from the GStreamer test server
//! (each a 1280x720 25 fps 2 Mbit/s main stream and a 640x360 sub stream, made once from the demo footage),
//! the whole system running in this process as under `vigil run` (main streams recorded, sub streams
//! analysed at `detect_fps`, the demo scenes' rules, events stored, alerts over MQTT, the HTTPS server
//! up and idle). After a warm-up it measures, per camera: analysed fps, skipped analysis frames, frames
//! received and recorded, recording drops, the CPU of its threads; for the process: CPU by thread kind
//! and memory; the RTSP server's CPU apart; and the true alert latency, from the receive time of the
//! frame that started an event to its MQTT message at a subscriber in this process.
//!
//! `--search` looks for the largest N that runs with zero skipped analysis frames, every camera at its
//! target analysis rate and zero recording drops: it doubles N until a run fails, then bisects.

mod probe;
mod scenes;

use crate::cmd::demo::rules_section;
use crate::engine::{Engine, EngineOptions};
use anyhow::{Context, bail};
use probe::{AlertProbe, Sample, broker, rss_mb, sample, thread_kind};
use scenes::{Scene, default_cache, is_quiet, prepare_scenes, scene_of};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vigil_core::latency::percentile;
use vigil_media::test_server::{Mount, RtspTestServer};

/// Arguments of `vigil bench-cameras`.
#[derive(clap::Args)]
pub struct Args {
    /// Cameras (the first N tried with `--search`).
    #[arg(long, default_value_t = 16)]
    cameras: usize,
    /// Seconds measured after the warm-up.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seconds of warm-up before measuring (connections, model load, first key frames).
    #[arg(long, default_value_t = 20)]
    warmup: u64,
    /// Share of the cameras (0 to 1, spread evenly) that watch a still scene with sensor noise instead
    /// of the footage, as most cameras do most of the time (motion gating keeps their detector idle).
    #[arg(long, default_value_t = 0.0)]
    quiet_share: f64,
    /// Face recognition and plate reading on every camera (`[faces.camera.NAME]`, `[plates.camera.NAME]`),
    /// as on a box where every camera has them opted in.
    #[arg(long)]
    identity: bool,
    /// Frame rate of the sub (analysed) stream.
    #[arg(long, default_value_t = 5.0)]
    sub_fps: f64,
    /// Analysed frames per second per camera (`[analysis] detect_fps`).
    #[arg(long, default_value_t = 5.0)]
    detect_fps: f64,
    /// Search for the largest N that passes (doubling from `--cameras`, then bisecting).
    #[arg(long)]
    search: bool,
    /// Resolution of the search, in cameras.
    #[arg(long, default_value_t = 4)]
    step: usize,
    /// Largest N the search tries.
    #[arg(long, default_value_t = 128)]
    max: usize,
    /// MQTT broker for the alerts and the latency probe (`HOST:PORT`); none listening: no alerts.
    #[arg(long, default_value = "127.0.0.1:1883")]
    mqtt: String,
    /// Directory holding the model files (default: ../shared/models, then the download cache).
    #[arg(long)]
    models: Option<PathBuf>,
    /// Where the generated streams are cached (default: ~/.cache/vigil).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Print one JSON line per run as well.
    #[arg(long)]
    json: bool,
}

/// One camera's figures over the measured window.
#[derive(Debug, Clone, Serialize)]
struct CameraFigures {
    name: String,
    analysed_fps: f64,
    skipped: u64,
    main_received_fps: f64,
    sub_received_fps: f64,
    recorded_frames: u64,
    recording_dropped: u64,
    /// Frames the main stream received in the whole run that were neither written, nor skipped before
    /// the first key frame, nor counted as dropped (checked after every recorder closed).
    recording_lost: i64,
    cpu_percent: f64,
    /// Mean wait for the shared detector (last 10 s of the run), milliseconds.
    detector_wait_ms: f64,
}

/// One run at N cameras.
#[derive(Debug, Clone, Serialize)]
struct RunFigures {
    bench: &'static str,
    cameras: usize,
    /// Cameras of the run watching a still scene (`--quiet-share`).
    quiet_cameras: usize,
    /// Face recognition and plate reading on every camera (`--identity`).
    identity: bool,
    seconds: f64,
    target_fps: f64,
    passed: bool,
    why_not: Vec<String>,
    analysed_fps_min: f64,
    analysed_fps_median: f64,
    analysed_fps_max: f64,
    skipped_total: u64,
    recorded_frames: u64,
    recording_dropped: u64,
    recording_lost: i64,
    cpu_cores: f64,
    cpu_cores_by_thread: BTreeMap<String, f64>,
    rtsp_server_cores: f64,
    rss_mb: f64,
    rss_mb_per_camera: f64,
    degraded_cameras: usize,
    fair_fps: Option<f64>,
    alerts: usize,
    alert_latency_ms_p50: Option<f64>,
    alert_latency_ms_p99: Option<f64>,
    alert_latency_ms_max: Option<f64>,
    per_camera: Vec<CameraFigures>,
}

/// Runs `vigil bench-cameras`.
pub fn run(args: Args) -> anyhow::Result<()> {
    RtspTestServer::check_available().context("the GStreamer RTSP test server is needed")?;
    if args.cameras == 0 || args.seconds == 0 {
        bail!("--cameras and --seconds must be at least 1");
    }
    crate::serve::raise_open_files_limit();
    let cache = args.cache.clone().unwrap_or_else(default_cache);
    let scenes = prepare_scenes(&cache, args.sub_fps, args.quiet_share > 0.0)?;
    if !args.search {
        let r = measure(&args, &scenes, args.cameras)?;
        report(&args, &r);
        return Ok(());
    }
    let mut best: Option<RunFigures> = None;
    let mut first_fail: Option<usize> = None;
    let mut n = args.cameras.min(args.max);
    let step = args.step.max(1);
    loop {
        let r = measure(&args, &scenes, n)?;
        report(&args, &r);
        if r.passed {
            best = Some(r);
        } else {
            first_fail = Some(n);
        }
        let lo = best.as_ref().map_or(0, |b| b.cameras);
        let next = match first_fail {
            None if n >= args.max => break,
            None => (n * 2).min(args.max),
            Some(hi) if hi <= lo + step => break,
            Some(hi) => {
                let mid = lo + (hi - lo) / 2;
                (mid / step * step).max(lo + step).min(hi - 1).max(1)
            }
        };
        if next == n || next == 0 {
            break;
        }
        n = next;
    }
    match best {
        Some(b) => println!(
            "\nlargest passing: {} cameras (analysis {:.2}-{:.2} fps of {}, 0 skipped, 0 recording drops, \
             {:.2} cores, {:.0} MB RSS{})",
            b.cameras,
            b.analysed_fps_min,
            b.analysed_fps_max,
            b.target_fps,
            b.cpu_cores,
            b.rss_mb,
            first_fail.map_or(String::new(), |f| format!("; {f} cameras failed"))
        ),
        None => println!("\nno N passed (smallest tried: {})", args.cameras),
    }
    Ok(())
}

fn camera_name(i: usize) -> String {
    format!("c{:02}", i + 1)
}

/// The `vigil.toml` of a run.
fn config_text(
    args: &Args,
    data: &Path,
    server: &RtspTestServer,
    scenes: &[Scene],
    n: usize,
    mqtt: Option<(&str, u16, &str)>,
) -> anyhow::Result<String> {
    let recordings = data.join("recordings");
    std::fs::create_dir_all(&recordings)?;
    let listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut text = format!(
        "data_dir = {:?}\n\n[server]\nlisten = \"{listen}\"\n\n[analysis]\ndetect_fps = {}\n\n\
         [storage]\n[[storage.dirs]]\nname = \"bench\"\npath = {:?}\nmax_bytes = \"200 GiB\"\n",
        data.display().to_string(),
        args.detect_fps,
        recordings.display().to_string(),
    );
    if let Some((host, port, prefix)) = mqtt {
        text.push_str(&format!(
            "\n[mqtt]\nhost = {host:?}\nport = {port}\ntopic_prefix = {prefix:?}\n\
             client_id = {prefix:?}\ndiscovery = false\n"
        ));
    }
    for i in 0..n {
        let name = camera_name(i);
        text.push_str(&format!(
            "\n[[camera]]\nname = {name:?}\nmain = \"{}\"\nsub = \"{}\"\n",
            server.url(&format!("{name}-main")),
            server.url(&format!("{name}-sub")),
        ));
    }
    if args.identity {
        for i in 0..n {
            let name = camera_name(i);
            text.push_str(&format!(
                "\n[faces.camera.{name}]\n[plates.camera.{name}]\n"
            ));
        }
    }
    for i in 0..n {
        let scene = &scenes[scene_of(i, scenes.len())];
        if !scene.rules.is_empty() {
            text.push('\n');
            text.push_str(&rules_section(&camera_name(i), scene.rules));
        }
    }
    Ok(text)
}

/// Runs the whole system with `n` cameras and measures it.
fn measure(args: &Args, scenes: &[Scene], n: usize) -> anyhow::Result<RunFigures> {
    eprintln!(
        "\nbench-cameras: {n} cameras, {} s warm-up, {} s measured",
        args.warmup, args.seconds
    );
    let total = args.warmup + args.seconds + 60;
    let mut mounts = Vec::new();
    for i in 0..n {
        let scene = &scenes[scene_of(i, scenes.len())];
        let (main, sub) = match (&scene.still, is_quiet(i, args.quiet_share)) {
            (Some((main, sub)), true) => (main, sub),
            _ => (&scene.main, &scene.sub),
        };
        let loops = total.div_ceil(60).max(2) as u32;
        let name = camera_name(i);
        mounts.push(Mount::new(&format!("{name}-main"), main).looped(loops));
        mounts.push(Mount::new(&format!("{name}-sub"), sub).looped(loops));
    }
    let mut server = RtspTestServer::start(&mounts).context("starting the RTSP test server")?;
    let data = tempfile::Builder::new()
        .prefix("vigil-bench-cameras-")
        .tempdir()
        .context("creating the data directory")?;
    let prefix = format!("vigil-bench-{}-{n}", std::process::id());
    let mqtt = broker(&args.mqtt);
    if mqtt.is_none() {
        eprintln!(
            "bench-cameras: no MQTT broker at {}: alerts off, no alert latency",
            args.mqtt
        );
    }
    let config_path = data.path().join("vigil.toml");
    let text = config_text(
        args,
        data.path(),
        &server,
        scenes,
        n,
        mqtt.as_ref()
            .map(|(h, p)| (h.as_str(), *p, prefix.as_str())),
    )?;
    std::fs::write(&config_path, text)?;
    let config = crate::cmd::config::load_or_report(&config_path)?;
    let probe = match &mqtt {
        Some((h, p)) => Some(AlertProbe::start(h, *p, &prefix)?),
        None => None,
    };
    let engine = Engine::start(
        &config,
        EngineOptions {
            models_dir: args.models.clone(),
        },
    )?;
    let (engine, started) = crate::serve::start_or_shut_down(engine, &config, &config_path, None)?;
    std::thread::sleep(Duration::from_secs(args.warmup));
    let rss_before = rss_mb();
    let pid = server.pid();
    let a = sample(&engine, pid);
    if let Some(p) = &probe {
        p.measuring
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let mut peak_rss = rss_before;
    let end = Instant::now() + Duration::from_secs(args.seconds);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(500));
        peak_rss = peak_rss.max(rss_mb());
    }
    let b = sample(&engine, pid);
    if let Some(p) = &probe {
        p.measuring
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
    let pool = engine.detector_pool().map(|p| p.status());
    let latencies = probe
        .map(|p| p.latencies.lock().map(|l| l.clone()).unwrap_or_default())
        .unwrap_or_default();
    let runtimes = engine.cameras().to_vec();
    started.stop(engine.runtime());
    let report = engine.shutdown();
    server.stop();
    if !report.panicked.is_empty() {
        bail!("threads panicked: {}", report.panicked.join(", "));
    }
    // The whole run's accounting, once every stream stopped and every recorder closed: each frame a main
    // stream received was written, skipped before the first key frame, or counted as dropped.
    let finals: BTreeMap<String, vigil_store::RecorderStatus> =
        report.recorders.into_iter().collect();
    let lost: Vec<i64> = runtimes
        .iter()
        .map(|c| {
            let received = c.main.as_ref().map_or(0, |m| m.snapshot().frames) as i64;
            let r = finals.get(&c.name).cloned().unwrap_or_default();
            received - (r.frames_written + r.frames_skipped + r.frames_dropped) as i64
        })
        .collect();
    let end = RunEnd {
        rss: peak_rss,
        pool,
        latencies,
        lost,
    };
    Ok(figures(args, n, &a, &b, end))
}

/// What a run leaves besides the two samples.
struct RunEnd {
    /// Peak RSS in the measured window (MB).
    rss: f64,
    pool: Option<vigil_pipeline::PoolStatus>,
    /// Alert latencies (ms).
    latencies: Vec<f64>,
    /// Frames lost per camera over the whole run.
    lost: Vec<i64>,
}

fn figures(args: &Args, n: usize, a: &Sample, b: &Sample, end: RunEnd) -> RunFigures {
    let RunEnd {
        rss,
        pool,
        mut latencies,
        lost,
    } = end;
    let secs = b.at.duration_since(a.at).as_secs_f64().max(1e-3);
    let target = args.detect_fps.min(args.sub_fps);
    let thread_delta = |name: &str| {
        b.threads.get(name).copied().unwrap_or(0.0) - a.threads.get(name).copied().unwrap_or(0.0)
    };
    let mut by_kind: BTreeMap<String, f64> = BTreeMap::new();
    for (name, cpu) in &b.threads {
        let d = cpu - a.threads.get(name).copied().unwrap_or(0.0);
        *by_kind.entry(thread_kind(name)).or_insert(0.0) += d / secs;
    }
    let per_camera: Vec<CameraFigures> = (0..n)
        .map(|i| {
            let name = camera_name(i);
            let (x, y) = (
                a.cameras.get(i).cloned().unwrap_or_default(),
                b.cameras.get(i).cloned().unwrap_or_default(),
            );
            let cpu =
                thread_delta(&format!("ana:{name}")) + thread_delta(&format!("rec:{name}/main"));
            let received = y.main_received - x.main_received;
            CameraFigures {
                analysed_fps: (y.analysed - x.analysed) as f64 / secs,
                skipped: y.skipped - x.skipped,
                main_received_fps: received as f64 / secs,
                sub_received_fps: (y.sub_received - x.sub_received) as f64 / secs,
                recorded_frames: y.written - x.written,
                recording_dropped: y.dropped - x.dropped,
                recording_lost: lost.get(i).copied().unwrap_or(0),
                cpu_percent: cpu / secs * 100.0,
                detector_wait_ms: pool
                    .as_ref()
                    .and_then(|p| p.cameras.iter().find(|c| c.name == name))
                    .map_or(0.0, |c| c.mean_wait_ms),
                name,
            }
        })
        .collect();
    let mut fps: Vec<f64> = per_camera.iter().map(|c| c.analysed_fps).collect();
    fps.sort_by(f64::total_cmp);
    let skipped_total = per_camera.iter().map(|c| c.skipped).sum::<u64>();
    let dropped = per_camera.iter().map(|c| c.recording_dropped).sum::<u64>();
    let lost = per_camera
        .iter()
        .map(|c| c.recording_lost.max(0))
        .sum::<i64>();
    let mut why_not = Vec::new();
    if skipped_total > 0 {
        why_not.push(format!("{skipped_total} analysis frames skipped"));
    }
    let slow = fps.iter().filter(|f| **f < 0.9 * target).count();
    if slow > 0 {
        why_not.push(format!("{slow} cameras analysed under 90% of {target} fps"));
    }
    if dropped > 0 || lost > 0 {
        why_not.push(format!("recording: {dropped} dropped, {lost} lost"));
    }
    let starved = per_camera
        .iter()
        .filter(|c| c.main_received_fps < 0.9 * 25.0)
        .count();
    if starved > 0 {
        why_not.push(format!(
            "{starved} main streams arrived under 90% of 25 fps (the RTSP server or the ingest fell behind)"
        ));
    }
    latencies.sort_by(f64::total_cmp);
    let cpu_cores = (b.process_cpu - a.process_cpu) / secs;
    RunFigures {
        bench: "cameras",
        cameras: n,
        quiet_cameras: (0..n).filter(|i| is_quiet(*i, args.quiet_share)).count(),
        identity: args.identity,
        seconds: secs,
        target_fps: target,
        passed: why_not.is_empty(),
        why_not,
        analysed_fps_min: fps.first().copied().unwrap_or(0.0),
        analysed_fps_median: fps.get(fps.len() / 2).copied().unwrap_or(0.0),
        analysed_fps_max: fps.last().copied().unwrap_or(0.0),
        skipped_total,
        recorded_frames: per_camera.iter().map(|c| c.recorded_frames).sum(),
        recording_dropped: dropped,
        recording_lost: lost,
        cpu_cores,
        cpu_cores_by_thread: by_kind.into_iter().filter(|(_, c)| *c >= 0.005).collect(),
        rtsp_server_cores: (b.server_cpu - a.server_cpu) / secs,
        rss_mb: rss,
        rss_mb_per_camera: rss / n as f64,
        degraded_cameras: pool
            .as_ref()
            .map_or(0, |p| p.cameras.iter().filter(|c| c.degraded).count()),
        fair_fps: pool.and_then(|p| p.fair_fps),
        alerts: latencies.len(),
        alert_latency_ms_p50: (!latencies.is_empty()).then(|| percentile(&latencies, 50.0)),
        alert_latency_ms_p99: (!latencies.is_empty()).then(|| percentile(&latencies, 99.0)),
        alert_latency_ms_max: latencies.last().copied(),
        per_camera,
    }
}

fn report(args: &Args, r: &RunFigures) {
    println!(
        "\n{} cameras ({} watching a still scene{}), {:.0} s: {}",
        r.cameras,
        r.quiet_cameras,
        if r.identity {
            "; faces and plates on every camera"
        } else {
            ""
        },
        r.seconds,
        if r.passed {
            "PASS".to_string()
        } else {
            format!("FAIL ({})", r.why_not.join("; "))
        }
    );
    println!(
        "  analysed fps per camera: min {:.2} / median {:.2} / max {:.2} (target {}); skipped {}; \
         degraded (scheduler) {}{}",
        r.analysed_fps_min,
        r.analysed_fps_median,
        r.analysed_fps_max,
        r.target_fps,
        r.skipped_total,
        r.degraded_cameras,
        r.fair_fps
            .map_or(String::new(), |f| format!(", fair rate {f:.2} fps"))
    );
    println!(
        "  recording: {} frames, {} dropped, {} lost",
        r.recorded_frames, r.recording_dropped, r.recording_lost
    );
    let threads: Vec<String> = r
        .cpu_cores_by_thread
        .iter()
        .map(|(k, v)| format!("{k} {v:.3}"))
        .collect();
    println!(
        "  CPU: {:.2} cores (threads: {}); RTSP test server {:.2} cores apart; RSS {:.0} MB ({:.1} MB per camera)",
        r.cpu_cores,
        threads.join(", "),
        r.rtsp_server_cores,
        r.rss_mb,
        r.rss_mb_per_camera
    );
    match (r.alert_latency_ms_p50, r.alert_latency_ms_p99) {
        (Some(p50), Some(p99)) => println!(
            "  alert latency (frame received -> MQTT message at a subscriber): p50 {p50:.0} ms, \
             p99 {p99:.0} ms, max {:.0} ms over {} event starts",
            r.alert_latency_ms_max.unwrap_or(0.0),
            r.alerts
        ),
        _ => println!("  alert latency: no event start received"),
    }
    if r.cameras <= 16 {
        println!(
            "  camera  analysed-fps  skipped  main-fps  sub-fps  recorded  dropped  lost  cpu%"
        );
        for c in &r.per_camera {
            println!(
                "  {:<6}  {:>12.2}  {:>7}  {:>8.1}  {:>7.1}  {:>8}  {:>7}  {:>4}  {:>4.1}  {:>16.1}",
                c.name,
                c.analysed_fps,
                c.skipped,
                c.main_received_fps,
                c.sub_received_fps,
                c.recorded_frames,
                c.recording_dropped,
                c.recording_lost,
                c.cpu_percent,
                c.detector_wait_ms
            );
        }
    }
    if args.json
        && let Ok(line) = serde_json::to_string(r)
    {
        println!("{line}");
    }
}
