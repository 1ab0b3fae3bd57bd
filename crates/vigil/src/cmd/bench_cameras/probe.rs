//! What `vigil bench-cameras` reads while a run goes: the engine's counters, CPU per thread from
//! `/proc`, memory, and the MQTT subscriber that times each event's alert.

use crate::engine::Engine;
use anyhow::Context;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Counters read at the start and at the end of the measured window.
pub(super) struct Sample {
    pub(super) at: Instant,
    pub(super) process_cpu: f64,
    pub(super) threads: BTreeMap<String, f64>,
    pub(super) server_cpu: f64,
    pub(super) cameras: Vec<CameraSample>,
}

#[derive(Default, Clone)]
pub(super) struct CameraSample {
    pub(super) analysed: u64,
    pub(super) skipped: u64,
    pub(super) main_received: u64,
    pub(super) sub_received: u64,
    pub(super) written: u64,
    pub(super) dropped: u64,
}

pub(super) fn sample(engine: &Engine, server_pid: Option<u32>) -> Sample {
    let recorders: BTreeMap<String, vigil_store::RecorderStatus> =
        engine.recorder_status().into_iter().collect();
    let cameras = engine
        .cameras()
        .iter()
        .map(|c| {
            let (analysed, skipped) = c
                .analysis
                .as_ref()
                .map(|a| {
                    let (s, skipped) = a.snapshot();
                    (s.frames, skipped)
                })
                .unwrap_or_default();
            let r = recorders.get(&c.name).cloned().unwrap_or_default();
            CameraSample {
                analysed,
                skipped,
                main_received: c.main.as_ref().map_or(0, |m| m.snapshot().frames),
                sub_received: c.sub.as_ref().map_or(0, |m| m.snapshot().frames),
                written: r.frames_written,
                dropped: r.frames_dropped,
            }
        })
        .collect();
    Sample {
        at: Instant::now(),
        process_cpu: proc_cpu_seconds("/proc/self/stat").unwrap_or(0.0),
        threads: thread_cpu(),
        server_cpu: server_pid
            .and_then(|p| proc_cpu_seconds(&format!("/proc/{p}/stat")))
            .unwrap_or(0.0),
        cameras,
    }
}

/// utime + stime of a `/proc/.../stat` file, in seconds.
fn proc_cpu_seconds(path: &str) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / rustix::param::clock_ticks_per_second() as f64)
}

/// CPU seconds of this process's threads by name.
fn thread_cpu() -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in dir.flatten() {
        let p = task.path();
        let name = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        let stat = p.join("stat");
        if let Some(cpu) = stat.to_str().and_then(proc_cpu_seconds) {
            *out.entry(name.trim().to_string()).or_insert(0.0) += cpu;
        }
    }
    out
}

/// The kind of a thread for the CPU breakdown (`rec:c01/main` -> `rec`, `vigil-io` -> `vigil-io`).
pub(super) fn thread_kind(name: &str) -> String {
    match name.split_once(':') {
        Some((kind, _)) => kind.to_string(),
        None => name.to_string(),
    }
}

pub(super) fn rss_mb() -> f64 {
    vigil_pipeline::stats::current_rss_bytes().unwrap_or(0) as f64 / 1e6
}

fn now_ms() -> i64 {
    vigil_core::time::now_unix_ms()
}

/// Latencies (ms) of event start messages received on `prefix/events/#` while `measuring` is set.
#[derive(Clone, Default)]
pub(super) struct AlertProbe {
    pub(super) latencies: Arc<Mutex<Vec<f64>>>,
    pub(super) measuring: Arc<std::sync::atomic::AtomicBool>,
}

impl AlertProbe {
    pub(super) fn start(host: &str, port: u16, prefix: &str) -> anyhow::Result<Self> {
        use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
        let probe = AlertProbe::default();
        let mut options = MqttOptions::new(format!("{prefix}-probe"), host, port);
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut connection) = Client::new(options, 64);
        client
            .subscribe(format!("{prefix}/events/#"), QoS::AtMostOnce)
            .context("subscribing the alert probe")?;
        let p = probe.clone();
        std::thread::Builder::new()
            .name("alert-probe".into())
            .spawn(move || {
                let _client = client;
                for n in connection.iter() {
                    match n {
                        Ok(Event::Incoming(Packet::Publish(m))) => p.on_message(&m.payload),
                        Ok(_) => {}
                        Err(_) => std::thread::sleep(Duration::from_millis(200)),
                    }
                }
            })?;
        Ok(probe)
    }

    fn on_message(&self, payload: &[u8]) {
        let received = now_ms();
        if !self.measuring.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else {
            return;
        };
        if v["phase"] != "start" {
            return;
        }
        if let Some(frame_ms) = v["last"]["unix_ms"].as_i64()
            && let Ok(mut l) = self.latencies.lock()
        {
            l.push((received - frame_ms) as f64);
        }
    }
}

/// A broker listening at `addr`, as (host, port).
pub(super) fn broker(addr: &str) -> Option<(String, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let sock = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .ok()?
        .next()?;
    std::net::TcpStream::connect_timeout(&sock, Duration::from_millis(300)).ok()?;
    Some((host.to_string(), port))
}
