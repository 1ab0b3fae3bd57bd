//! Live view cost and latency against a real `vigil run` (HTTPS on loopback, one camera replaying footage
//! at real time, recording on, analysis off):
//!
//! 1. the vigil process's CPU time over a window with no live viewer (the reference),
//! 2. one viewer: latency from the frame's arrival in vigil (the `prft` wall time the live hub writes into
//!    every segment) to the segment's arrival in a Rust WebSocket client,
//! 3. 16 concurrent viewers of the same camera: the vigil process's CPU over an equal window, and latency.
//!
//! Prints the extra CPU of 16 viewers in % of one core (target < 10%), the ratio to the reference, and
//! latency percentiles (target < 1 s). Run: `cargo bench -p vigil --bench live_view`.

#[path = "../tests/support/mod.rs"]
mod support;

use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::Vigil;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vigil_mp4::fragment::parse_producer_reference_time;

const CAMERA: &str = "yard";
const WINDOW: Duration = Duration::from_secs(20);
const VIEWERS: usize = 16;

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// What the viewers saw.
#[derive(Default)]
struct Seen {
    latencies_ms: Mutex<Vec<f64>>,
    segments: AtomicU64,
    bytes: AtomicU64,
    recording: AtomicBool,
}

fn main() {
    let Some(video) = support::footage("intel/car-detection.mp4") else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let clips = tempfile::tempdir().unwrap();
    // The footage as it is (768x432, 12.5 fps, ~0.6 Mbit/s), then the same scenes as a typical main
    // stream: 1080p, 25 fps, 4 Mbit/s, a key frame every 2 s, no B-frames (made here with ffmpeg).
    let hd = clips.path().join("car-1080p-4mbit.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&video)
        .args([
            "-vf",
            "scale=1920:1080,fps=25",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-b:v",
            "4M",
            "-maxrate",
            "4M",
            "-bufsize",
            "8M",
            "-g",
            "50",
            "-bf",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-an",
        ])
        .arg(&hd)
        .status()
        .is_ok_and(|s| s.success());
    measure(&video, "footage as recorded, 768x432 12.5 fps");
    if made {
        measure(&hd, "1080p 25 fps 4 Mbit/s");
    } else {
        eprintln!("SKIP: the 1080p case (ffmpeg with libx264 not available)");
    }
}

/// One vigil, one camera replaying `video`: CPU with 0 and 16 viewers, latency with 1 and 16.
fn measure(video: &std::path::Path, label: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let mut vigil = Vigil::start(tmp.path(), CAMERA, video);
    let token = vigil.setup_token();
    vigil.wait_listening();
    let pem = std::fs::read(tmp.path().join("tls/cert.pem")).unwrap();
    let cert = CertificateDer::from_pem_slice(&pem).unwrap();
    let cookie = login(&vigil, &pem, &token);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let tls = Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    // Let start-up settle, then the reference window: nobody watching.
    std::thread::sleep(Duration::from_secs(3));
    let idle = cpu_over(&vigil, WINDOW);

    // One viewer: latency.
    let one = Arc::new(Seen::default());
    let (lat1, _) = rt.block_on(watch(
        &vigil,
        &tls,
        &cookie,
        1,
        one.clone(),
        Duration::from_secs(10),
        None,
    ));
    // 16 viewers: CPU over the same window, and latency.
    let many = Arc::new(Seen::default());
    let (lat16, busy) = rt.block_on(watch(
        &vigil,
        &tls,
        &cookie,
        VIEWERS,
        many.clone(),
        WINDOW,
        Some(&vigil),
    ));
    let busy = busy.unwrap_or(0.0);
    assert!(vigil.stop(), "vigil did not stop cleanly");

    let extra = (busy - idle) * 100.0;
    let segments = many.segments.load(Ordering::Relaxed);
    let mbit = many.bytes.load(Ordering::Relaxed) as f64 * 8.0
        / 1e6
        / WINDOW.as_secs_f64()
        / VIEWERS as f64;
    println!("live view, one camera ({label}), HTTPS on loopback:");
    println!(
        "  vigil CPU, no viewer:        {:6.2}% of one core (reference)",
        idle * 100.0
    );
    println!(
        "  vigil CPU, {VIEWERS} viewers:        {:6.2}% of one core",
        busy * 100.0
    );
    println!(
        "  extra for {VIEWERS} viewers:         {extra:6.2}% of one core ({:.2}% per viewer; ratio to reference {:.2}); target < 10%",
        extra / VIEWERS as f64,
        if idle > 0.0 { busy / idle } else { f64::NAN }
    );
    println!("  segments received:           {segments} ({mbit:.2} Mbit/s per viewer)");
    println!("  latency, camera frame -> client (1 viewer):   {lat1}");
    println!("  latency, camera frame -> client ({VIEWERS} viewers): {lat16}");
}

/// Logs in through the API (setup first) and returns the session cookie.
fn login(vigil: &Vigil, pem: &[u8], token: &str) -> String {
    let agent = support::https_agent(pem);
    let (user, password) = ("bench", "tulip-orbit-42-canyon");
    let mut r = agent
        .post(&format!("{}/api/setup", vigil.url()))
        .header("content-type", "application/json")
        .send(
            serde_json::json!({"token": token, "username": user, "password": password}).to_string(),
        )
        .unwrap();
    assert!(
        r.status().is_success(),
        "setup: {} {}",
        r.status(),
        r.body_mut().read_to_string().unwrap_or_default()
    );
    let r = agent
        .post(&format!("{}/api/login", vigil.url()))
        .header("content-type", "application/json")
        .send(serde_json::json!({"username": user, "password": password}).to_string())
        .unwrap();
    assert!(r.status().is_success(), "login: {}", r.status());
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Process CPU of `vigil` over `window`, in cores.
fn cpu_over(vigil: &Vigil, window: Duration) -> f64 {
    let (c0, t0) = (vigil.cpu_seconds(), Instant::now());
    std::thread::sleep(window);
    (vigil.cpu_seconds() - c0) / t0.elapsed().as_secs_f64()
}

/// Runs `n` viewers for `window` (after 2 s of warm-up); returns their latency summary and, when
/// `measure` is given, that process's CPU over the window in cores.
async fn watch(
    vigil: &Vigil,
    tls: &Arc<rustls::ClientConfig>,
    cookie: &str,
    n: usize,
    seen: Arc<Seen>,
    window: Duration,
    measure: Option<&Vigil>,
) -> (String, Option<f64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let url = format!("wss://127.0.0.1:{}/api/cameras/{CAMERA}/live", vigil.port);
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
        // A browser on the UI's page sends its origin; the server refuses cookie upgrades without it.
        let origin = format!("https://127.0.0.1:{}", vigil.port);
        req.headers_mut().insert("origin", origin.parse().unwrap());
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", vigil.port))
            .await
            .unwrap();
        tcp.set_nodelay(true).unwrap();
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(
                ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
                tcp,
            )
            .await
            .unwrap();
        let (mut ws, _) = tokio_tungstenite::client_async(req, stream).await.unwrap();
        let (seen, stop) = (seen.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Message::Binary(data) = msg
                    && let Some((micros, _)) = parse_producer_reference_time(&data)
                    && seen.recording.load(Ordering::Relaxed)
                {
                    let ms = (now_micros() - micros) as f64 / 1000.0;
                    seen.latencies_ms.lock().unwrap().push(ms);
                    seen.segments.fetch_add(1, Ordering::Relaxed);
                    seen.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    seen.recording.store(true, Ordering::Relaxed);
    let c0 = measure.map(|v| (v.cpu_seconds(), Instant::now()));
    tokio::time::sleep(window).await;
    let cpu = match (measure, c0) {
        (Some(v), Some((c0, t0))) => Some((v.cpu_seconds() - c0) / t0.elapsed().as_secs_f64()),
        _ => None,
    };
    seen.recording.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.abort();
    }
    let mut l = seen.latencies_ms.lock().unwrap().clone();
    l.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        l.get(((l.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let summary = format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} segments",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        l.len()
    );
    (summary, cpu)
}
