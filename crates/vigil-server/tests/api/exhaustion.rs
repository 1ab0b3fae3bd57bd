//! Resource exhaustion by unauthenticated clients, against a real HTTPS server: floods of logins that
//! each want a 19 MiB password hash, idle and half-sent connections, half-finished TLS handshakes and
//! more connections than the server takes. Each is bounded, and a normal client is served meanwhile.

use crate::common;

use common::child::{ChildOptions, ChildServer};
use common::net::{closed_within, get_keep_alive, lo, post_json, tcp_from, tls_config, tls_from};
use common::{PASSWORD, Setup, TestServer, agent_trusting};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use vigil_server::ConnLimits;

fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `GET /api/me` as `who` on a new connection (a pooled one may have been closed by the server).
fn me_on_new_connection(s: &TestServer, who: &common::Session) -> u16 {
    agent_trusting(&s.dir.path().join("tls/cert.pem"))
        .get(format!("{}/api/me", s.url))
        .header("Cookie", format!("vigil_session={}", who.cookie))
        .call()
        .unwrap()
        .status()
        .as_u16()
}

fn login_ok(agent: &ureq::Agent, url: &str) -> bool {
    agent
        .post(format!("{url}/api/login"))
        .header("Content-Type", "application/json")
        .send(json!({"username": "admin", "password": PASSWORD}).to_string())
        .is_ok_and(|r| r.status() == 200)
}

/// Samples a process's resident memory every 10 ms until stopped; the largest value (KiB).
fn sample_rss(pid: u32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            peak = peak.max(common::child::status_kib(pid, "VmRSS"));
            std::thread::sleep(Duration::from_millis(10));
        }
        peak
    })
}

#[test]
fn two_hundred_concurrent_bad_logins_keep_memory_bounded_and_get_clean_answers() {
    let server = ChildServer::start(ChildOptions::default());
    let agent = agent_trusting(&server.cert);
    // One login first: the server has hashed once (its hashing buffer exists).
    assert!(login_ok(&agent, &server.url));
    let before = server.status_kib("VmRSS");
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample_rss(server.pid(), stop.clone());
    let rt = client_runtime();
    let started = Instant::now();
    let answers = rt.block_on(async {
        let config = tls_config(&server.cert);
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let (config, addr) = (config.clone(), server.addr);
                // From 50 addresses, each guess for its own account: neither the per-address nor the
                // per-account limit stops them, only the bound on hashing.
                tokio::spawn(async move {
                    let mut s = tls_from(lo(2 + (i % 50) as u8), addr, &config).await?;
                    let body = json!({"username": format!("user-{i}"), "password": "not-it-123"});
                    post_json(&mut s, "/api/login", &body.to_string()).await
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap().unwrap());
        }
        out
    });
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap().max(server.status_kib("VmRSS"));
    let mut counts = std::collections::BTreeMap::new();
    for a in &answers {
        *counts.entry(a.status).or_insert(0) += 1;
        assert!(
            matches!(a.status, 401 | 429 | 503),
            "unexpected answer {a:?}"
        );
        if a.status != 401 {
            assert!(
                a.header("retry-after").is_some(),
                "{a:?} without Retry-After"
            );
        }
    }
    // Hashes run at once: half the cores (see HashGate::default_concurrency), each in 19 MiB.
    let hashes = vigil_server::auth::password::HashGate::default_concurrency() as u64;
    let bound = 64 * 1024 + hashes * 20 * 1024;
    let grew = peak.saturating_sub(before);
    eprintln!(
        "200 bad logins in {took:?}: {counts:?}; RSS {before} KiB before, peak {peak} KiB \
         (+{grew} KiB, bound {bound} KiB)"
    );
    assert!(
        grew <= bound,
        "memory grew by {grew} KiB (bound {bound} KiB)"
    );
    // A normal client still logs in afterwards.
    assert!(login_ok(&agent, &server.url));
}

/// A server with these connection limits, its admin, address and a TLS client configuration for it,
/// and a runtime for raw clients.
fn limited_server(
    limits: ConnLimits,
) -> (
    TestServer,
    common::Session,
    std::net::SocketAddr,
    Arc<tokio_rustls::rustls::ClientConfig>,
    tokio::runtime::Runtime,
) {
    let (s, admin) = TestServer::with_admin(Setup {
        limits: Some(limits),
        ..Setup::default()
    });
    let addr = s.server.as_ref().unwrap().addr();
    let config = tls_config(&s.dir.path().join("tls/cert.pem"));
    (s, admin, addr, config, client_runtime())
}

fn short_limits() -> ConnLimits {
    ConnLimits {
        max_total: 1000,
        max_per_address: 30,
        handshake: Duration::from_secs(2),
        header: Duration::from_secs(2),
        idle: Duration::from_secs(3),
    }
}

/// The first 40 bytes of a TLS 1.3 ClientHello record (the rest never comes).
const HALF_HELLO: &[u8] = &[
    0x16, 0x03, 0x01, 0x00, 0xf8, 0x01, 0x00, 0x00, 0xf4, 0x03, 0x03, 0x00, 0x01, 0x02, 0x03, 0x04,
    0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14,
    0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c,
];

#[test]
fn idle_half_sent_and_half_handshaken_connections_are_closed_while_clients_are_served() {
    let limits = short_limits();
    let (s, admin, addr, config, rt) = limited_server(limits);
    let n = limits.max_per_address;
    // Each kind from its own address, as many as one address may open.
    let (bare, half, idle, slow) = rt.block_on(async {
        let mut bare = Vec::new();
        let mut half = Vec::new();
        let mut idle = Vec::new();
        let mut slow = Vec::new();
        for _ in 0..n {
            bare.push(tcp_from(lo(2), addr).await.unwrap());
            let mut h = tcp_from(lo(3), addr).await.unwrap();
            h.write_all(HALF_HELLO).await.unwrap();
            half.push(h);
            idle.push(tls_from(lo(4), addr, &config).await.unwrap());
            let mut w = tls_from(lo(5), addr, &config).await.unwrap();
            w.write_all(b"GET /api/setup HTTP/1.1\r\nHost: localhost\r\n")
                .await
                .unwrap();
            slow.push(w);
        }
        (bare, half, idle, slow)
    });
    let opened = Instant::now();
    // One more from a full address is closed at once.
    let refused = rt.block_on(async {
        let mut extra = tcp_from(lo(2), addr).await.unwrap();
        closed_within(&mut extra, Duration::from_secs(1)).await
    });
    assert!(
        refused.is_some(),
        "a connection past the per-address limit stays open"
    );

    // Watch every hostile connection until the server closes it; the slow ones keep sending a header
    // byte every 500 ms.
    let closes = Arc::new(std::sync::Mutex::new(Vec::<(&str, Option<Duration>)>::new()));
    let watchers: Vec<_> = {
        let mut w = Vec::new();
        let within = Duration::from_secs(15);
        for mut c in bare {
            let closes = closes.clone();
            w.push(rt.spawn(async move {
                let t = closed_within(&mut c, within).await;
                closes.lock().unwrap().push(("bare TCP", t));
            }));
        }
        for mut c in half {
            let closes = closes.clone();
            w.push(rt.spawn(async move {
                let t = closed_within(&mut c, within).await;
                closes.lock().unwrap().push(("half handshake", t));
            }));
        }
        for mut c in idle {
            let closes = closes.clone();
            w.push(rt.spawn(async move {
                let t = closed_within(&mut c, within).await;
                closes.lock().unwrap().push(("idle TLS", t));
            }));
        }
        for c in slow {
            let closes = closes.clone();
            w.push(rt.spawn(async move {
                let (mut r, mut wr) = tokio::io::split(c);
                let t0 = tokio::time::Instant::now();
                let drip = async {
                    for i in 0u32.. {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        let byte = if i % 20 == 19 { b"\n" } else { b"a" };
                        if wr.write_all(byte).await.is_err() {
                            break;
                        }
                    }
                };
                let t = tokio::select! {
                    t = closed_within(&mut r, within) => t,
                    _ = drip => Some(t0.elapsed()),
                };
                closes.lock().unwrap().push(("slow head", t));
            }));
        }
        w
    };
    // Meanwhile a normal client is served, again and again.
    let mut served = 0;
    while opened.elapsed() < Duration::from_secs(5) {
        let t = Instant::now();
        assert_eq!(me_on_new_connection(&s, &admin), 200);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "slow answer: {:?}",
            t.elapsed()
        );
        served += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(served >= 10);
    for w in watchers {
        rt.block_on(w).unwrap();
    }
    let closes = closes.lock().unwrap();
    let slack = Duration::from_millis(2500);
    for (kind, t) in closes.iter() {
        let limit = match *kind {
            "bare TCP" | "half handshake" => limits.handshake,
            "idle TLS" => limits.idle,
            _ => limits.header,
        };
        let t = t.unwrap_or_else(|| panic!("a {kind} connection was still open after 15 s"));
        assert!(
            t <= limit + slack,
            "a {kind} connection closed after {t:?} (limit {limit:?})"
        );
    }
    assert_eq!(closes.len(), 4 * n);
    // At most the test client's own pooled connection is left.
    assert!(s.server.as_ref().unwrap().connections() <= 1);
}

#[test]
fn past_the_connection_limit_new_clients_displace_idle_ones() {
    let limits = ConnLimits {
        max_total: 40,
        max_per_address: 30,
        handshake: Duration::from_secs(60),
        header: Duration::from_secs(60),
        idle: Duration::from_secs(60),
    };
    let (s, admin, addr, config, rt) = limited_server(limits);
    let peak = Arc::new(AtomicU64::new(0));
    // A client that made a request and keeps its connection open for the next one.
    let mut client = rt.block_on(async {
        let mut c = tls_from(lo(9), addr, &config).await.unwrap();
        assert_eq!(get_keep_alive(&mut c, "/api/setup").await.unwrap(), 200);
        c
    });
    // 60 idle TLS connections from two addresses: 22 more than the server takes.
    let mut held = rt.block_on(async {
        let mut held = Vec::new();
        for i in 0..60 {
            if let Ok(c) = tls_from(lo(2 + (i % 2) as u8), addr, &config).await {
                held.push(c);
            }
        }
        held
    });
    peak.fetch_max(
        s.server.as_ref().unwrap().connections() as u64,
        Ordering::Relaxed,
    );
    // A normal client is served at once, each time on a new connection.
    for _ in 0..10 {
        let t = Instant::now();
        assert_eq!(me_on_new_connection(&s, &admin), 200);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        peak.fetch_max(
            s.server.as_ref().unwrap().connections() as u64,
            Ordering::Relaxed,
        );
    }
    assert!(peak.load(Ordering::Relaxed) <= limits.max_total as u64);
    // The displaced ones were closed by the server.
    let closed = rt.block_on(async {
        let mut closed = 0;
        for c in held.iter_mut() {
            if closed_within(c, Duration::from_millis(50)).await.is_some() {
                closed += 1;
            }
        }
        closed
    });
    // 60 held + 2 (the client, the test client's pooled one) on a server taking 40: 22 displaced (the
    // first new client displaces one more; it leaves room for the next when it closes).
    assert!(
        closed >= 20,
        "only {closed} idle connections were displaced"
    );
    assert!(s.server.as_ref().unwrap().connections() <= limits.max_total);
    // The idle attackers went first: the client that had made a request still has its connection.
    let again = rt.block_on(get_keep_alive(&mut client, "/api/setup"));
    assert_eq!(
        again.ok(),
        Some(200),
        "the client's connection was displaced"
    );
}

#[test]
fn under_a_low_open_file_limit_idle_connections_cannot_lock_clients_out() {
    // The penetration test: with `ulimit -n 256`, 237 idle TLS connections made new clients time out.
    let server = ChildServer::start(ChildOptions {
        open_files: Some(256),
        ..ChildOptions::default()
    });
    let rt = client_runtime();
    let config = tls_config(&server.cert);
    let held = rt.block_on(async {
        let mut held = Vec::new();
        for i in 0..300 {
            if let Ok(Ok(c)) = tokio::time::timeout(
                Duration::from_secs(5),
                tls_from(lo(2 + (i % 10) as u8), server.addr, &config),
            )
            .await
            {
                held.push(c);
            }
        }
        held
    });
    assert!(
        server.open_files() < 256,
        "{} files open",
        server.open_files()
    );
    let agent = agent_trusting(&server.cert);
    for _ in 0..5 {
        let t = Instant::now();
        assert!(login_ok(&agent, &server.url));
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    }
    drop(held);
}

struct OneCamera;

impl vigil_server::StatusSource for OneCamera {
    fn status(&self) -> vigil_server::SystemStatus {
        vigil_server::SystemStatus {
            cameras: vec![vigil_server::CameraHealth {
                name: "cam-a".into(),
                online: true,
                ..Default::default()
            }],
            ..Default::default()
        }
    }
}

/// Media segments received on `ws` within `within`.
async fn media_within<S>(ws: &mut S, within: Duration) -> usize
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + within;
    let mut n = 0;
    while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, ws.next()).await {
        if matches!(m, tokio_tungstenite::tungstenite::Message::Binary(_)) {
            n += 1;
        }
    }
    n
}

#[test]
fn a_live_stream_outlives_the_idle_timeout_counts_toward_the_limits_and_is_never_displaced() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let Some(video) = common::footage("intel/car-detection.mp4") else {
        return;
    };
    let limits = ConnLimits {
        max_total: 4,
        max_per_address: 2,
        handshake: Duration::from_secs(2),
        header: Duration::from_secs(2),
        idle: Duration::from_secs(2),
    };
    // A camera whose frames can be paused.
    let (mut publisher, hub) = vigil_mp4::live_hub::live_channel("cam-a");
    let (stop, pause) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let frames = vigil_media::demux::demux_file(&video).unwrap();
    let (st, pa) = (stop.clone(), pause.clone());
    std::thread::spawn(move || {
        let span = frames.duration().0;
        let mut offset = 0;
        while !st.load(Ordering::Relaxed) {
            for f in &frames.frames {
                while pa.load(Ordering::Relaxed) && !st.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let mut f = f.clone();
                f.pts.0 += offset;
                publisher.publish(&f);
                std::thread::sleep(Duration::from_millis(20));
            }
            offset += span;
        }
    });
    let (s, admin) = TestServer::with_admin(Setup {
        limits: Some(limits),
        live: Some(Arc::new(vigil_server::LiveStreams::new([hub]))),
        status: Some(Arc::new(OneCamera)),
        ..Setup::default()
    });
    let addr = s.server.as_ref().unwrap().addr();
    let config = tls_config(&s.dir.path().join("tls/cert.pem"));
    let rt = client_runtime();
    rt.block_on(async {
        let tls = tls_from(lo(6), addr, &config).await.unwrap();
        let mut req = format!("wss://{addr}/api/cameras/cam-a/live")
            .into_client_request()
            .unwrap();
        let h = req.headers_mut();
        h.insert(
            "cookie",
            format!("vigil_session={}", admin.cookie).parse().unwrap(),
        );
        h.insert("origin", s.url.parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::client_async(req, tls).await.unwrap();
        assert!(media_within(&mut ws, Duration::from_secs(3)).await > 10);

        // It counts toward its address's limit: one more from there fits, a third does not.
        let mut second = tls_from(lo(6), addr, &config).await.unwrap();
        let mut third = tcp_from(lo(6), addr).await.unwrap();
        assert!(
            closed_within(&mut third, Duration::from_secs(1))
                .await
                .is_some()
        );
        // The server is full (4) with two more idle ones; a new client displaces an idle connection,
        // never the live stream.
        let mut others = Vec::new();
        for _ in 0..2 {
            others.push(tls_from(lo(7), addr, &config).await.unwrap());
        }
        let mut fresh = tls_from(lo(8), addr, &config).await.unwrap();
        let r = post_json(
            &mut fresh,
            "/api/login",
            r#"{"username":"x","password":"y"}"#,
        )
        .await
        .unwrap();
        assert_eq!(r.status, 401);
        let mut displaced = closed_within(&mut second, Duration::from_millis(200))
            .await
            .is_some() as usize;
        for o in others.iter_mut() {
            displaced += closed_within(o, Duration::from_millis(200)).await.is_some() as usize;
        }
        assert_eq!(displaced, 1, "one idle connection made room");
        assert!(media_within(&mut ws, Duration::from_secs(1)).await > 0);

        // The camera sends nothing for three idle timeouts: the stream stays open, and plays on.
        pause.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let quiet = media_within(&mut ws, limits.idle * 3).await;
        assert!(quiet <= 2, "{quiet} segments while paused");
        pause.store(false, Ordering::Relaxed);
        assert!(
            media_within(&mut ws, Duration::from_secs(3)).await > 10,
            "the live stream was closed while its camera was quiet"
        );
    });
    stop.store(true, Ordering::Relaxed);
}
