//! Ingest load: CPU and RSS of this process per RTSP stream, for N concurrent streams from the GStreamer
//! test server (served at real time, like cameras), each drained by a consumer that only counts.
//!
//! ```text
//! cargo run --release -p vigil-media --features test-server --example ingest_load -- [STREAMS] [SECONDS] [FILE]
//! ```
//!
//! Defaults: 8 streams, 20 s, `../shared/footage/motion-gt/mp4/fall_1460-1560.mp4` (720x480, 25 fps,
//! ~5.7 Mbit/s) looped. Prints the figures of this process (the server is a separate process; its CPU is
//! printed for context). Linux only (reads /proc).

use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use vigil_media::rtsp::{IngestOptions, StreamEvent, StreamSource, spawn_stream};
use vigil_media::test_server::{Mount, RtspTestServer, shared_footage};

/// (user + system CPU seconds, RSS bytes) of process `pid` ("self" for this one), from /proc.
fn cpu_and_rss(pid: &str) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based).
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // Linux reports CPU times in USER_HZ = 100 ticks per second on every mainstream architecture.
    Some((ticks / 100.0, rss_kb * 1024))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let streams: usize = args.first().map_or(Ok(8), |s| s.parse())?;
    let seconds: u64 = args.get(1).map_or(Ok(20), |s| s.parse())?;
    let file = match args.get(2) {
        Some(f) => PathBuf::from(f),
        None => shared_footage()
            .ok_or("../shared/footage is absent; pass a file")?
            .join("motion-gt/mp4/fall_1460-1560.mp4"),
    };
    RtspTestServer::check_available()?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;

    // Long enough to outlast the measurement: the file is a few seconds.
    let server = RtspTestServer::start(&[Mount::new("cam", &file).looped(30)])?;
    let server_pid = server.pid().map(|p| p.to_string()).unwrap_or_default();
    let (_, rss_base) = cpu_and_rss("self").ok_or("cannot read /proc/self")?;

    runtime.block_on(async {
        let mut handles = Vec::new();
        let mut counters = Vec::new();
        for i in 0..streams {
            let (tx, mut rx) = mpsc::channel(256);
            let source = StreamSource::new(format!("cam{i}"), server.url("cam"), None);
            handles.push(spawn_stream(source, IngestOptions::default(), tx));
            counters.push(tokio::spawn(async move {
                let (mut frames, mut bytes) = (0u64, 0u64);
                while let Some(event) = rx.recv().await {
                    if let StreamEvent::Frame(frame) = event {
                        frames += 1;
                        bytes += frame.data.len() as u64;
                    }
                }
                (frames, bytes)
            }));
        }
        // Warm up: connections made, buffers grown.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let start = Instant::now();
        let (cpu0, _) = cpu_and_rss("self").unwrap_or_default();
        let (server_cpu0, _) = cpu_and_rss(&server_pid).unwrap_or_default();
        let frames0: u64 = handles.iter().map(|h| h.status().frames).sum();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let wall = start.elapsed().as_secs_f64();
        let (cpu1, rss) = cpu_and_rss("self").unwrap_or_default();
        let (server_cpu1, server_rss) = cpu_and_rss(&server_pid).unwrap_or_default();
        let statuses: Vec<_> = handles.iter().map(|h| h.status()).collect();
        let frames1: u64 = statuses.iter().map(|s| s.frames).sum();
        let bitrate: f64 = statuses.iter().map(|s| s.bitrate_bps).sum();
        let reconnects: u64 = statuses.iter().map(|s| s.reconnects).sum();
        for handle in handles {
            handle.stop().await;
        }
        for counter in counters {
            let _ = counter.await;
        }

        let cpu_pct = (cpu1 - cpu0) / wall * 100.0;
        println!(
            "file: {} | streams: {streams} | measured: {wall:.1} s | runtime threads: {threads}",
            file.display()
        );
        println!(
            "received: {:.1} frames/s in all ({:.1} per stream), {:.2} Mbit/s in all, reconnects: {reconnects}",
            (frames1 - frames0) as f64 / wall,
            (frames1 - frames0) as f64 / wall / streams as f64,
            bitrate / 1e6
        );
        println!(
            "ingest process: CPU {cpu_pct:.2}% of one core in all, {:.3}% per stream; RSS {:.1} MiB \
             (base {:.1} MiB), {:.2} MiB per stream",
            cpu_pct / streams as f64,
            rss as f64 / 1048576.0,
            rss_base as f64 / 1048576.0,
            (rss.saturating_sub(rss_base)) as f64 / 1048576.0 / streams as f64
        );
        println!(
            "test server (GStreamer, separate process, for context): CPU {:.1}% of one core, RSS {:.1} MiB",
            (server_cpu1 - server_cpu0) / wall * 100.0,
            server_rss as f64 / 1048576.0
        );
    });
    Ok(())
}
