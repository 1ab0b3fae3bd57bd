//! `vigil bench-api`: the HTTPS API under load on loopback. Fills an event store with a million events
//! (16 cameras over 30 days, five kinds, searchable descriptions), starts the real server (TLS, API-token
//! authentication, the same router as `vigil run`), and drives `GET /api/events` from concurrent Rust
//! clients with keep-alive connections: first page, one camera, one kind, a word search and the next
//! page by cursor. Prints p50 / p99 / max per query and overall, the request rate, and each p50 against
//! the same query through `EventReader` in-process in the same run (the floor without HTTP and TLS).
//! `--hostile` measures one client before and during an attack instead ([`super::bench_hostile`]).

use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_core::latency::percentile_sorted;
use vigil_core::{
    BBox, BestObject, ClassCount, Event, EventId, EventKind, EventPhase, EventTime, Time90k,
};
use vigil_server::{
    AppContext, Policy, Security, Server, ServerOptions, StatusSource, SystemStatus,
};
use vigil_store::{EventQuery, Store, StoreConfig};

/// Arguments of `vigil bench-api`.
#[derive(clap::Args)]
pub struct Args {
    /// Events in the store.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Requests per query kind and client.
    #[arg(long, default_value_t = 200)]
    pub requests: usize,
    /// Where the store is built; reused when it already holds `--events` events.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Server worker threads (like `vigil run`'s I/O runtime).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// One normal client, first on a quiet server, then while it is attacked (bad logins, idle and
    /// slowloris connections) and a live viewer watches: p99 under attack against quiet.
    #[arg(long)]
    pub hostile: bool,
    /// The video a live camera replays for the viewer of `--hostile` (default: the shared footage's
    /// car clip, when present).
    #[arg(long)]
    pub video: Option<PathBuf>,
}

const CAMERAS: usize = 16;
const DAY_MS: i64 = 86_400_000;
const KINDS: [&str; 5] = [
    "line_crossing",
    "intrusion",
    "loitering",
    "crowding",
    "queue",
];
const CLASSES: [&str; 4] = ["person", "car", "bicycle", "truck"];
const PLACES: [&str; 8] = [
    "Main entrance",
    "Car park",
    "Loading bay",
    "Reception",
    "East gate",
    "Cold store",
    "Fire exit",
    "Server racks",
];

fn camera(i: usize) -> String {
    format!("cam-{i:02}")
}

fn event(n: usize, start_ms: i64, rng: &mut fastrand::Rng) -> Event {
    let cam = camera(rng.usize(..CAMERAS));
    let kind_i = rng.usize(..KINDS.len());
    let class = CLASSES[rng.usize(..CLASSES.len())];
    let place = PLACES[rng.usize(..PLACES.len())];
    let kind = match kind_i {
        0 => EventKind::LineCrossing {
            direction: vigil_core::CrossingDirection::AToB,
            inbound: true,
            inbound_count: 1,
            outbound_count: 0,
        },
        1 => EventKind::Intrusion,
        2 => EventKind::Loitering {
            dwell_ms: 90_000,
            min_dwell_ms: 60_000,
        },
        3 => EventKind::Crowding {
            count: 6,
            peak: 7,
            more_than: 5,
        },
        _ => EventKind::Queue {
            length: 5,
            peak_length: 6,
            mean_wait_ms: 120_000,
            max_wait_ms: 200_000,
        },
    };
    let t = EventTime {
        unix_ms: start_ms,
        media: Time90k(start_ms * 90),
    };
    let end = EventTime {
        unix_ms: start_ms + 8_000,
        media: Time90k((start_ms + 8_000) * 90),
    };
    Event {
        attributes: Default::default(),
        id: EventId::from_parts(start_ms as u64, n as u128),
        camera: cam.clone(),
        rule: format!("{place} {}", KINDS[kind_i]),
        kind,
        phase: EventPhase::End,
        class_name: class.into(),
        objects: vec![ClassCount {
            class_name: class.into(),
            class_id: 0,
            count: 1,
        }],
        track_ids: vec![n as u64],
        zone: Some(place.into()),
        line: None,
        start: t,
        last: end,
        end: Some(end),
        best: Some(BestObject {
            track_id: n as u64,
            score: 0.8,
            bbox: BBox::new(100.0, 100.0, 160.0, 280.0),
            frame_w: 1920,
            frame_h: 1080,
            time: t,
        }),
        description: format!(
            "A {class} at {place} on {cam} ({})",
            KINDS[kind_i].replace('_', " ")
        ),
    }
}

/// Opens the store in `dir`, filling it to `events` events when it holds fewer.
fn store(dir: &std::path::Path, events: usize) -> anyhow::Result<Store> {
    let recordings = dir.join("recordings");
    std::fs::create_dir_all(&recordings)?;
    let mut config = StoreConfig::new(dir.join("index.db"), "disk1", &recordings);
    config.background_retention = false;
    config.dirs[0].min_free_bytes = 0;
    config.events.retention_days = 100_000;
    let (store, _) = Store::open(config).context("opening the bench store")?;
    let have = store
        .event_reader()?
        .list(&EventQuery {
            limit: 1,
            ..EventQuery::default()
        })?
        .events
        .len();
    let marker = dir.join(format!("filled-{events}"));
    if have > 0 && marker.exists() {
        eprintln!("bench-api: reusing {events} events in {}", dir.display());
        return Ok(store);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let start = now - 30 * DAY_MS;
    let step = (30 * DAY_MS) / events.max(1) as i64;
    let mut rng = fastrand::Rng::with_seed(42);
    let t = Instant::now();
    let mut batch = Vec::with_capacity(5000);
    for n in 0..events {
        batch.push(event(
            n,
            start + n as i64 * step + rng.i64(0..step.max(1)),
            &mut rng,
        ));
        if batch.len() == 5000 || n + 1 == events {
            store.record_events(&batch)?;
            batch.clear();
            if (n + 1) % 100_000 == 0 {
                eprintln!(
                    "bench-api: {} events stored ({:.0} s)",
                    n + 1,
                    t.elapsed().as_secs_f64()
                );
            }
        }
    }
    std::fs::write(&marker, b"")?;
    eprintln!(
        "bench-api: stored {events} events in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(store)
}

/// The live cameras of the bench (none, or the one `--hostile` replays).
struct BenchCameras(Vec<String>);

impl StatusSource for BenchCameras {
    fn status(&self) -> SystemStatus {
        SystemStatus {
            cameras: self
                .0
                .iter()
                .map(|name| vigil_server::CameraHealth {
                    name: name.clone(),
                    online: true,
                    ..Default::default()
                })
                .collect(),
            ..SystemStatus::default()
        }
    }
}

/// A live camera replaying `video` in real time, looping, for as long as the process runs.
fn replay_live(video: &std::path::Path) -> anyhow::Result<vigil_mp4::live_hub::LiveHub> {
    let frames = vigil_media::demux::demux_file(video)
        .with_context(|| format!("reading {}", video.display()))?;
    let (mut publisher, hub) = vigil_mp4::live_hub::live_channel(LIVE_CAMERA);
    std::thread::spawn(move || {
        let span = frames.duration().0;
        let step = Duration::from_secs_f64(frames.frame_duration.0 as f64 / 90_000.0);
        let mut offset = 0;
        loop {
            for f in &frames.frames {
                let mut f = f.clone();
                f.pts.0 += offset;
                publisher.publish(&f);
                std::thread::sleep(step);
            }
            offset += span;
        }
    });
    Ok(hub)
}

const LIVE_CAMERA: &str = "live";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A client (keep-alive) trusting only the certificate in `pem`.
pub(crate) fn agent_trusting(pem: &[u8]) -> anyhow::Result<ureq::Agent> {
    let ca = ureq::tls::Certificate::from_pem(pem)?.to_owned();
    Ok(ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]))
                .build(),
        )
        .build()
        .into())
}

fn ctx_camera(video: &Option<PathBuf>) -> Option<&'static str> {
    video.as_ref().map(|_| LIVE_CAMERA)
}

/// Runs `vigil bench-api`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let store = Arc::new(store(&dir, args.events)?);
    let data = dir.join("server");
    let _ = std::fs::remove_file(data.join("security.db"));
    let security = Arc::new(Security::open_in(&data, Policy::default())?);
    let admin = security.add_user(&vigil_server::auth::users::NewUser {
        username: "bench".into(),
        password: "load-generator-secret-7".into(),
        role: vigil_server::perms::Role::Admin,
        cameras: None,
        playback: true,
        export: true,
    })?;
    let (_, token) = security.create_token(
        admin.id,
        "bench",
        &["events".to_string(), "live".to_string()],
    )?;
    let video = match &args.video {
        Some(v) => Some(v.clone()),
        None => {
            Some(crate::paths::footage_dir().join("intel/car-detection.mp4")).filter(|p| p.exists())
        }
    };
    let live = match (&video, args.hostile) {
        (Some(v), true) => Some(replay_live(v)?),
        _ => None,
    };
    let cameras = live.iter().map(|h| h.camera().to_string()).collect();
    let mut ctx = AppContext::new(
        security,
        Some(store.clone()),
        Arc::new(BenchCameras(cameras)),
        &data,
    );
    ctx.live = live.map(|h| {
        Arc::new(vigil_server::LiveStreams::new([h])) as Arc<dyn vigil_server::LiveSource>
    });
    let ctx = Arc::new(ctx);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()?;
    crate::serve::raise_open_files_limit();
    let mut options = ServerOptions::from_config(&Default::default(), &data)?;
    options.listen = "127.0.0.1:0".parse()?;
    let cert = options
        .tls
        .as_ref()
        .map(|t| t.cert.clone())
        .context("TLS")?;
    let server = runtime.block_on(Server::start(ctx, options))?;
    let url = server.url();

    // A cursor for "next page" queries.
    let reader = store.event_reader()?;
    let first = reader.list(&EventQuery::default())?;
    let cursor = first.next_cursor.clone().unwrap_or_default();
    let queries: Vec<(&str, String, EventQuery)> = vec![
        ("first page", String::new(), EventQuery::default()),
        (
            "camera",
            "camera=cam-07".into(),
            EventQuery {
                cameras: Some(vec!["cam-07".into()]),
                ..EventQuery::default()
            },
        ),
        (
            "kind",
            "kind=loitering".into(),
            EventQuery {
                kinds: Some(vec!["loitering".into()]),
                ..EventQuery::default()
            },
        ),
        (
            "search",
            "q=bicycle".into(),
            EventQuery {
                text: Some("bicycle".into()),
                ..EventQuery::default()
            },
        ),
        (
            "next page",
            format!("before={cursor}"),
            EventQuery {
                cursor: Some(cursor.clone()),
                ..EventQuery::default()
            },
        ),
    ];
    // Reference: the same queries in-process.
    let mut direct = Vec::new();
    for (_, _, q) in &queries {
        let mut times = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            let page = reader.list(q)?;
            times.push(t.elapsed());
            anyhow::ensure!(!page.events.is_empty(), "a bench query found nothing");
        }
        times.sort();
        direct.push(percentile_sorted(&times, 50.0));
    }

    if args.hostile {
        let paths: Vec<(&str, String)> = queries.iter().map(|(n, q, _)| (*n, q.clone())).collect();
        let result = crate::cmd::bench_hostile::run(crate::cmd::bench_hostile::Target {
            server: &server,
            cert: &cert,
            token: &token,
            queries: &paths,
            requests: args.requests * queries.len(),
            camera: ctx_camera(&video),
        });
        runtime.block_on(server.shutdown(Duration::from_secs(2)));
        return result;
    }
    let pem = std::fs::read(&cert)?;
    let agents = (0..args.clients)
        .map(|_| agent_trusting(&pem))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let started = Instant::now();
    let results: Vec<Vec<Vec<Duration>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = agents
            .into_iter()
            .enumerate()
            .map(|(c, agent)| {
                let (url, token, queries) = (&url, &token, &queries);
                scope.spawn(move || -> anyhow::Result<Vec<Vec<Duration>>> {
                    let mut per = vec![Vec::with_capacity(args.requests); queries.len()];
                    for i in 0..args.requests * queries.len() {
                        let k = (i + c) % queries.len();
                        let path = format!("{url}/api/events?{}", queries[k].1);
                        let t = Instant::now();
                        let mut r = agent
                            .get(&path)
                            .header("Authorization", &format!("Bearer {token}"))
                            .call()?;
                        let body = r.body_mut().read_to_vec()?;
                        per[k].push(t.elapsed());
                        anyhow::ensure!(body.len() > 100, "short answer: {}", body.len());
                    }
                    Ok(per)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow::anyhow!("client panicked"))?)
            .collect::<anyhow::Result<Vec<_>>>()
    })?;
    let wall = started.elapsed();
    runtime.block_on(server.shutdown(Duration::from_secs(2)));

    let total: usize = results.iter().flatten().map(Vec::len).sum();
    println!(
        "bench-api: GET /api/events over HTTPS (TLS 1.3, keep-alive, API token) on loopback, {} events, {} clients, {} server workers",
        args.events, args.clients, args.workers
    );
    println!(
        "{:<12} {:>8} {:>9} {:>9} {:>9} {:>12} {:>8}",
        "query", "requests", "p50 ms", "p99 ms", "max ms", "direct p50", "ratio"
    );
    let mut all = Vec::new();
    for (k, (name, _, _)) in queries.iter().enumerate() {
        let mut t: Vec<Duration> = results.iter().flat_map(|c| c[k].iter().copied()).collect();
        t.sort();
        all.extend(t.iter().copied());
        let p50 = percentile_sorted(&t, 50.0);
        println!(
            "{:<12} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>10.2}ms {:>7.1}x",
            name,
            t.len(),
            ms(p50),
            ms(percentile_sorted(&t, 99.0)),
            ms(*t.last().unwrap_or(&Duration::ZERO)),
            ms(direct[k]),
            ms(p50) / ms(direct[k]).max(1e-6)
        );
    }
    all.sort();
    println!(
        "{:<12} {:>8} {:>9.2} {:>9.2} {:>9.2}   {:.0} requests/s",
        "all",
        total,
        ms(percentile_sorted(&all, 50.0)),
        ms(percentile_sorted(&all, 99.0)),
        ms(*all.last().unwrap_or(&Duration::ZERO)),
        total as f64 / wall.as_secs_f64()
    );
    Ok(())
}
