//! `vigil bench-api --hostile`: the event-list queries of `vigil bench-api` from one normal client, first
//! on a quiet server, then while the same server is attacked from other loopback addresses:
//!
//! - 200 clients sending bad logins in a loop (keep-alive, ignoring `Retry-After`, from 50 addresses,
//!   each for its own account name),
//! - 200 idle TLS connections and 200 slowloris connections (a request head a byte every 2 s), from 16
//!   addresses, each reconnecting 250 ms after the server closes it,
//! - a live-view viewer (WebSocket) of a camera replaying footage in real time.
//!
//! The quiet and the hostile measurements alternate, three times each, and the attack is stopped (its
//! connections closed) between them. Prints the normal client's p50/p99 in both phases and their ratio
//! (target: p99 within 2x of idle), what the attackers got, the viewer's segment rate, the connections
//! open and the process's memory.

use anyhow::Context;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

/// Quiet and hostile measurements alternate this many times (so that load from elsewhere on the
/// machine weighs on both alike).
const ROUNDS: usize = 3;

/// Each measurement lasts this long.
const SLICE: Duration = Duration::from_secs(6);

/// The attack starts this long before its measurement (all 600 connections are up by then).
const RAMP_UP: Duration = Duration::from_secs(4);

/// What the hostile phase needs from `vigil bench-api`.
pub struct Target<'a> {
    /// The server.
    pub server: &'a vigil_server::Server,
    /// Its certificate.
    pub cert: &'a Path,
    /// An API token with the `events` and `live` scopes.
    pub token: &'a str,
    /// Paths (with query) the normal client cycles through, by name.
    pub queries: &'a [(&'a str, String)],
    /// Minimum requests per phase.
    pub requests: usize,
    /// The camera the viewer watches, if one is live.
    pub camera: Option<&'a str>,
}

/// What the attackers saw.
#[derive(Default)]
struct Attack {
    logins: Mutex<BTreeMap<u16, u64>>,
    idle_closed: AtomicU64,
    slow_closed: AtomicU64,
    connect_failed: AtomicU64,
    segments: AtomicU64,
    stop: AtomicBool,
}

fn lo(n: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, (n / 250) as u8, (n % 250 + 2) as u8))
}

async fn tls(
    from: IpAddr,
    to: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(from, 0))?;
    let tcp = sock.connect(to).await?;
    tokio_rustls::TlsConnector::from(config.clone())
        .connect(ServerName::IpAddress(to.ip().into()), tcp)
        .await
}

/// Reads one HTTP/1.1 response with a `Content-Length` off a keep-alive connection: its status.
async fn read_response<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<u16> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await? == 0 || head.len() > 16 * 1024 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_lowercase();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let length: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).await?;
    Ok(status)
}

async fn bad_logins<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, who: &str, attack: &Attack) {
    let body = format!("{{\"username\": \"{who}\", \"password\": \"not-the-password\"}}");
    let req = format!(
        "POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    while !attack.stop.load(Ordering::Relaxed) {
        if s.write_all(req.as_bytes()).await.is_err() {
            return;
        }
        match read_response(s).await {
            Ok(status) => {
                *attack
                    .logins
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(status)
                    .or_default() += 1;
            }
            Err(_) => return,
        }
    }
}

/// Holds a connection open until the server closes it (idle), or sends a request head a byte every
/// 2 s (slow).
async fn hold<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, slow: bool, attack: &Attack) {
    let mut buf = [0u8; 1024];
    if slow
        && s.write_all(b"GET /api/setup HTTP/1.1\r\nHost: localhost\r\n")
            .await
            .is_err()
    {
        return;
    }
    while !attack.stop.load(Ordering::Relaxed) {
        tokio::select! {
            r = s.read(&mut buf) => if !matches!(r, Ok(n) if n > 0) { break },
            _ = tokio::time::sleep(Duration::from_secs(2)) => {
                if slow && s.write_all(b"x").await.is_err() {
                    break;
                }
            }
        }
    }
    if !attack.stop.load(Ordering::Relaxed) {
        let closed = if slow {
            &attack.slow_closed
        } else {
            &attack.idle_closed
        };
        closed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Starts the attackers and the viewer on `rt`; aborting the set stops them and closes their
/// connections.
fn attack(
    rt: &tokio::runtime::Runtime,
    t: &Target<'_>,
    config: &Arc<rustls::ClientConfig>,
    attack: &Arc<Attack>,
    round: usize,
) -> anyhow::Result<tokio::task::JoinSet<()>> {
    let _entered = rt.enter();
    let mut set = tokio::task::JoinSet::new();
    let to = t.server.addr();
    for i in 0..600 {
        let (config, attack) = (config.clone(), attack.clone());
        // Bad logins from 50 addresses, idle and slow connections from 8 each; each round from new
        // addresses and for new accounts (the limits of the last round's still hold).
        let base = 100 * round;
        let (from, kind) = match i {
            0..200 => (lo(base + i % 50), 0),
            200..400 => (lo(base + 50 + i % 8), 1),
            _ => (lo(base + 60 + i % 8), 2),
        };
        let who = format!("guess-{round}-{i}");
        set.spawn(async move {
            while !attack.stop.load(Ordering::Relaxed) {
                match tls(from, to, &config).await {
                    Ok(mut s) => match kind {
                        0 => bad_logins(&mut s, &who, &attack).await,
                        k => hold(&mut s, k == 2, &attack).await,
                    },
                    Err(_) => {
                        attack.connect_failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
    }
    if let Some(camera) = t.camera {
        let base_viewer = 100 * round + 70;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("wss://{to}/api/cameras/{camera}/live").into_client_request()?;
        let h = req.headers_mut();
        h.insert("authorization", format!("Bearer {}", t.token).parse()?);
        h.insert("origin", t.server.url().parse()?);
        let (config, attack) = (config.clone(), attack.clone());
        set.spawn(async move {
            let Ok(s) = tls(lo(base_viewer), to, &config).await else {
                return;
            };
            let Ok((mut ws, _)) = tokio_tungstenite::client_async(req, s).await else {
                eprintln!("bench-api: the live viewer could not connect");
                return;
            };
            while let Some(Ok(m)) = ws.next().await {
                if m.is_binary() {
                    attack.segments.fetch_add(1, Ordering::Relaxed);
                }
                if attack.stop.load(Ordering::Relaxed) {
                    break;
                }
            }
        });
    }
    Ok(set)
}

/// The normal client: cycles through the queries for `SLICE` (and at least `min` requests).
fn normal_client(t: &Target<'_>, agent: &ureq::Agent, min: usize) -> anyhow::Result<Vec<Duration>> {
    let url = t.server.url();
    let started = Instant::now();
    let mut times = Vec::new();
    let mut i = 0;
    while times.len() < min || started.elapsed() < SLICE {
        let (_, q) = &t.queries[i % t.queries.len()];
        i += 1;
        let at = Instant::now();
        let mut r = agent
            .get(format!("{url}/api/events?{q}"))
            .header("Authorization", &format!("Bearer {}", t.token))
            .call()?;
        let body = r.body_mut().read_to_vec()?;
        times.push(at.elapsed());
        anyhow::ensure!(body.len() > 100, "short answer: {}", body.len());
    }
    Ok(times)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs both phases and prints the figures.
pub fn run(t: Target<'_>) -> anyhow::Result<()> {
    let pem = std::fs::read(t.cert).context("reading the certificate")?;
    let agent = super::bench_api::agent_trusting(&pem)?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&pem) {
        roots.add(c?)?;
    }
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let state = Arc::new(Attack::default());
    let min = t.requests / ROUNDS;
    let (mut quiet, mut hostile) = (Vec::new(), Vec::new());
    let rss_before = rss_kib();
    let (mut rss_peak, mut conns_peak) = (0, 0);
    let (mut segments, mut watched) = (0, Duration::ZERO);
    for round in 0..ROUNDS {
        quiet.extend(normal_client(&t, &agent, min)?);
        let mut set = attack(&rt, &t, &config, &state, round)?;
        std::thread::sleep(RAMP_UP);
        let sampling = AtomicBool::new(true);
        let seen = state.segments.load(Ordering::Relaxed);
        let started = Instant::now();
        let (measured, (rss, conns)) = std::thread::scope(|scope| {
            let (sampling, server) = (&sampling, t.server);
            let sampler = scope.spawn(move || {
                let (mut rss, mut conns) = (0, 0);
                while sampling.load(Ordering::Relaxed) {
                    rss = rss_kib().max(rss);
                    conns = server.connections().max(conns);
                    std::thread::sleep(Duration::from_millis(100));
                }
                (rss, conns)
            });
            let measured = normal_client(&t, &agent, min);
            sampling.store(false, Ordering::Relaxed);
            (measured, sampler.join().unwrap_or((0, 0)))
        });
        segments += state.segments.load(Ordering::Relaxed) - seen;
        watched += started.elapsed();
        hostile.extend(measured?);
        (rss_peak, conns_peak) = (rss_peak.max(rss), conns_peak.max(conns));
        // Stop the attack: its connections close, and the server sees them go.
        rt.block_on(async { set.shutdown().await });
        std::thread::sleep(Duration::from_secs(1));
    }
    state.stop.store(true, Ordering::Relaxed);
    rt.shutdown_timeout(Duration::from_secs(1));
    quiet.sort();
    hostile.sort();
    let viewer_rate = segments as f64 / watched.as_secs_f64().max(1e-3);
    let took = (watched + RAMP_UP * ROUNDS as u32).as_secs_f64();

    let pct = |v: &[Duration], p: f64| {
        v.get(((v.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "bench-api --hostile: GET /api/events over HTTPS (TLS 1.3, keep-alive, API token), one normal client"
    );
    println!(
        "{:<8} {:>8} {:>8} {:>8} {:>8}",
        "phase", "requests", "p50 ms", "p99 ms", "max ms"
    );
    for (name, v) in [("idle", &quiet), ("hostile", &hostile)] {
        println!(
            "{:<8} {:>8} {:>8.2} {:>8.2} {:>8.2}",
            name,
            v.len(),
            ms(pct(v, 0.5)),
            ms(pct(v, 0.99)),
            ms(v.last().copied().unwrap_or_default())
        );
    }
    println!(
        "p99 hostile / idle: {:.2}x (target <= 2)",
        ms(pct(&hostile, 0.99)) / ms(pct(&quiet, 0.99)).max(1e-6)
    );
    let logins = state
        .logins
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let answered: u64 = logins.values().sum();
    println!(
        "attack over {took:.0} s in {ROUNDS} rounds: 200 bad-login clients got {answered} answers \
         {logins:?}; 200 idle and 200 slowloris connections were closed by the server {} and {} times \
         (and came back); {} connections refused or failed; at most {conns_peak} connections open at once",
        state.idle_closed.load(Ordering::Relaxed),
        state.slow_closed.load(Ordering::Relaxed),
        state.connect_failed.load(Ordering::Relaxed),
    );
    match t.camera {
        Some(_) => println!("live viewer during the hostile phase: {viewer_rate:.1} segments/s"),
        None => println!("live viewer: none (no footage to replay; pass --video FILE)"),
    }
    println!(
        "memory (RSS of this process: server and attackers): {} MiB before the first attack, peak {} MiB",
        rss_before / 1024,
        rss_peak / 1024
    );
    Ok(())
}
