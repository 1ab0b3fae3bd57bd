//! `vigil hub bench --config hub.toml --sites S --cameras C --duration 60 [--events-per-camera-minute N]`:
//! the hub's scale benchmark (issue 15 "Scale").
//!
//! 1. **Ingest.** Simulates S sites of C cameras against a running `vigil hub` (same `hub.toml`) over
//!    real NATS connections (`--connections`, sites spread over them; the hub's identity, which may
//!    publish on every site's subjects). Each camera starts events at N per minute on average (Poisson
//!    arrivals); each event is three changes as a site sends them (start, an update 2 s later, the end
//!    3 s after that), real [`EventEnvelope`]s on the real subjects (`vigil.site.S.event.CAM`), published
//!    with JetStream acknowledgements and message ids like the outbox drainer. Each site also sends its
//!    [`SiteStatus`] (health and metrics: cameras, fps, storage, uplink figures) every `--heartbeat-s`.
//!    Measured: the events and changes per second the hub applied, and the site-to-hub latency (the
//!    `updated_ms` the simulator stamps on each change at publishing to the hub's `received_ms` when the
//!    row is written, same clock) at p50 / p99 / max, for each event's last change.
//! 2. **Event list.** `--query-events 10000000` first bulk-loads synthetic events up to that many rows
//!    ([`HubDb::bench_fill`]), then times `HubDb::events` (the hub's event list) with typical filters:
//!    the newest page, the next page (keyset cursor), one site, one camera, a kind, a common words
//!    search, a rare word; `--queries` each, p50 / p99 (target p99 < 100 ms).
//!
//! Figures and what they mean for 10,000 sites: `docs/design/multisite.md`, "Scale". Run it against a
//! scratch hub database: the simulated sites (`bench-NNNN`) and events stay there.

use anyhow::Context;
use async_nats::jetstream;
use async_nats::jetstream::message::PublishMessage;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vigil_core::{Event, EventId, EventKind, EventPhase, EventTime, Time90k};
use vigil_hub::db::{BenchFill, EventFilter};
use vigil_hub::{HubConfig, HubDb};
use vigil_uplink::wire::{
    self, CameraStatus, EventEnvelope, EventLine, EventOp, SiteStatus, StorageStatus, UplinkFigures,
};

/// `vigil hub bench` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Simulated sites.
    #[arg(long, default_value_t = 100)]
    pub sites: u32,
    /// Cameras per site.
    #[arg(long, default_value_t = 4)]
    pub cameras: u32,
    /// Seconds of publishing (0: no ingest run, only the event-list benchmark).
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Events each camera starts per minute, on average.
    #[arg(long, default_value_t = 2.0)]
    pub events_per_camera_minute: f64,
    /// Seconds between a site's statuses.
    #[arg(long, default_value_t = 5)]
    pub heartbeat_s: u32,
    /// NATS connections the simulated sites share.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Before the event-list benchmark, bulk-load synthetic events until the hub holds this many
    /// (0: no event-list benchmark).
    #[arg(long, default_value_t = 0)]
    pub query_events: u64,
    /// Times each event-list query is run.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
}

/// Every simulated change published (acknowledged or not).
#[derive(Default)]
struct Counters {
    published: AtomicU64,
    acked: AtomicU64,
    failed: AtomicU64,
    statuses: AtomicU64,
    events: AtomicU64,
}

/// Runs the benchmark; prints figures as it goes and one JSON line at the end.
pub async fn run(config: HubConfig, args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.sites > 0 && args.sites <= 10_000,
        "--sites must be 1-10000"
    );
    anyhow::ensure!(
        args.cameras > 0 && args.cameras <= 64,
        "--cameras must be 1-64"
    );
    anyhow::ensure!(args.connections > 0, "--connections must be at least 1");
    let db = HubDb::open(&config.hub.postgres_url, 4).await?;
    let mut figures = serde_json::json!({
        "sites": args.sites,
        "cameras_per_site": args.cameras,
        "events_per_camera_minute": args.events_per_camera_minute,
    });
    if args.duration > 0 {
        figures["ingest"] = ingest(&config, &db, &args).await?;
    }
    if args.query_events > 0 {
        figures["event_list"] = event_list(&db, &args).await?;
    }
    println!("{figures}");
    Ok(())
}

fn site_name(i: u32) -> String {
    format!("bench-{i:04}")
}

async fn ingest(
    config: &HubConfig,
    db: &HubDb,
    args: &BenchArgs,
) -> anyhow::Result<serde_json::Value> {
    // Known sites, so the hub records their statuses.
    for i in 0..args.sites {
        db.add_site(&site_name(i), None).await?;
    }
    let auth = config.nats_auth();
    let mut clients = Vec::new();
    for k in 0..args.connections {
        clients.push(
            auth.connect(&format!("vigil-hub-bench-{k}"), None)
                .await
                .context("connecting to the hub's NATS server")?,
        );
    }
    let counters = Arc::new(Counters::default());
    let started_ms = vigil_core::time::now_unix_ms();
    let started = Instant::now();
    let until = started + Duration::from_secs(args.duration);
    // Sequence numbers above any earlier run's: the stream's duplicate window must not drop them.
    let seq_base = started_ms * 1000;
    let mut tasks = Vec::new();
    for (k, client) in clients.iter().enumerate() {
        let sites: Vec<u32> = (0..args.sites)
            .filter(|i| *i as usize % args.connections == k)
            .collect();
        tasks.push(tokio::spawn(simulate(
            client.clone(),
            sites,
            args.clone(),
            until,
            seq_base,
            counters.clone(),
        )));
    }
    let mut last = (Instant::now(), 0u64);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(10).min(until - Instant::now())).await;
        let acked = counters.acked.load(Ordering::Relaxed);
        let dt = last.0.elapsed().as_secs_f64().max(0.001);
        eprintln!(
            "bench: {:>4.0} s: {} changes acknowledged ({:.0}/s), {} failed, {} statuses",
            started.elapsed().as_secs_f64(),
            acked,
            (acked - last.1) as f64 / dt,
            counters.failed.load(Ordering::Relaxed),
            counters.statuses.load(Ordering::Relaxed)
        );
        last = (Instant::now(), acked);
    }
    for t in tasks {
        t.await.context("a simulator task failed")?;
    }
    let publish_s = started.elapsed().as_secs_f64();
    let published_events = counters.events.load(Ordering::Relaxed) as i64;
    // Wait for the hub to apply what was acknowledged (at most a minute).
    let drain_deadline = Instant::now() + Duration::from_secs(60);
    let mut at_hub = db.bench_ingest("bench-", started_ms).await?;
    while at_hub.ended < published_events && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        at_hub = db.bench_ingest("bench-", started_ms).await?;
    }
    let end_ms = started_ms + (publish_s * 1000.0) as i64;
    let drain_ms = at_hub.last_received_ms.map(|l| (l - end_ms).max(0));
    let window_s = (at_hub.last_received_ms.unwrap_or(end_ms) - started_ms).max(1) as f64 / 1000.0;
    let changes = counters.acked.load(Ordering::Relaxed);
    let out = serde_json::json!({
        "duration_s": publish_s,
        "offered_events_per_s": published_events as f64 / publish_s,
        "changes_acknowledged": changes,
        "changes_failed": counters.failed.load(Ordering::Relaxed),
        "statuses": counters.statuses.load(Ordering::Relaxed),
        "events_published": published_events,
        "events_at_hub": at_hub.events,
        "events_ended_at_hub": at_hub.ended,
        "hub_events_per_s": at_hub.ended as f64 / window_s,
        "hub_changes_per_s": (at_hub.ended * 3) as f64 / window_s,
        "latency_p50_ms": at_hub.latency_p50_ms,
        "latency_p99_ms": at_hub.latency_p99_ms,
        "latency_max_ms": at_hub.latency_max_ms,
        "drain_after_publishing_ms": drain_ms,
    });
    eprintln!(
        "bench: ingest: {} sites x {} cameras, {:.0} events/s offered ({} changes acknowledged, {} failed); \
         the hub applied {} of {} events ({:.0} events/s, {:.0} changes/s); site-to-hub latency p50 {:?} ms, \
         p99 {:?} ms, max {:?} ms; drained {:?} ms after publishing stopped",
        args.sites,
        args.cameras,
        published_events as f64 / publish_s,
        changes,
        counters.failed.load(Ordering::Relaxed),
        at_hub.ended,
        published_events,
        at_hub.ended as f64 / window_s,
        (at_hub.ended * 3) as f64 / window_s,
        at_hub.latency_p50_ms,
        at_hub.latency_p99_ms,
        at_hub.latency_max_ms,
        drain_ms
    );
    Ok(out)
}

/// A change due at `at`.
struct Due {
    at: Instant,
    site: u32,
    event: Event,
}

/// One connection's share of the sites: Poisson event arrivals, each event's update and end on time,
/// statuses spread over the heartbeat.
async fn simulate(
    client: async_nats::Client,
    sites: Vec<u32>,
    args: BenchArgs,
    until: Instant,
    seq_base: i64,
    counters: Arc<Counters>,
) {
    if sites.is_empty() {
        return;
    }
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(10))
        .build(client);
    let tick = Duration::from_millis(50);
    let rate_per_tick =
        sites.len() as f64 * f64::from(args.cameras) * args.events_per_camera_minute / 60.0
            * tick.as_secs_f64();
    let mut seqs: Vec<i64> = vec![seq_base; sites.len()];
    let mut updates: VecDeque<Due> = VecDeque::new();
    let mut ends: VecDeque<Due> = VecDeque::new();
    let status_every = (u64::from(args.heartbeat_s) * 1000 / tick.as_millis() as u64).max(1);
    let mut n: u64 = 0;
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let now = Instant::now();
        let publishing = now < until;
        if !publishing && updates.is_empty() && ends.is_empty() {
            break;
        }
        if publishing {
            // Poisson arrivals: exponential gaps, drawn per tick.
            let mut budget = -fastrand::f64().max(1e-12).ln();
            let mut starts = 0;
            while budget < rate_per_tick {
                starts += 1;
                budget += -fastrand::f64().max(1e-12).ln();
            }
            for _ in 0..starts {
                let idx = fastrand::usize(..sites.len());
                let camera = fastrand::u32(..args.cameras);
                let event = new_event(camera);
                publish_event(&js, &sites, idx, &mut seqs, &event, &counters).await;
                counters.events.fetch_add(1, Ordering::Relaxed);
                updates.push_back(Due {
                    at: now + Duration::from_secs(2),
                    site: idx as u32,
                    event,
                });
            }
            // Statuses: each site once per heartbeat, spread over the ticks.
            for (idx, site) in sites.iter().enumerate() {
                if (n + idx as u64).is_multiple_of(status_every) {
                    publish_status(&js, *site, &args, &counters).await;
                }
            }
        }
        while updates.front().is_some_and(|d| d.at <= now) {
            let Some(mut d) = updates.pop_front() else {
                break;
            };
            d.event.phase = EventPhase::Update;
            d.event.last = time_now();
            publish_event(&js, &sites, d.site as usize, &mut seqs, &d.event, &counters).await;
            d.at = now + Duration::from_secs(3);
            ends.push_back(d);
        }
        while ends.front().is_some_and(|d| d.at <= now) {
            let Some(mut d) = ends.pop_front() else {
                break;
            };
            d.event.phase = EventPhase::End;
            d.event.last = time_now();
            d.event.end = Some(d.event.last);
            publish_event(&js, &sites, d.site as usize, &mut seqs, &d.event, &counters).await;
        }
        n += 1;
    }
}

fn time_now() -> EventTime {
    EventTime {
        unix_ms: vigil_core::time::now_unix_ms(),
        media: Time90k(0),
    }
}

const CLASSES: [&str; 4] = ["person", "car", "truck", "bicycle"];
const COLOURS: [&str; 4] = ["red", "blue", "white", "black"];

fn new_event(camera: u32) -> Event {
    let now = time_now();
    let class = CLASSES[fastrand::usize(..CLASSES.len())];
    Event {
        id: EventId::from_parts(now.unix_ms as u64, fastrand::u128(..)),
        camera: format!("cam-{camera}"),
        rule: "Yard intrusion".into(),
        kind: EventKind::Intrusion,
        phase: EventPhase::Start,
        class_name: class.into(),
        objects: Vec::new(),
        track_ids: Vec::new(),
        zone: Some("Yard".into()),
        line: None,
        start: now,
        last: now,
        end: None,
        best: None,
        description: format!(
            "A {} {class} entered Yard",
            COLOURS[fastrand::usize(..COLOURS.len())]
        ),
        attributes: Default::default(),
    }
}

/// Publishes one change of `event` as site `sites[idx]` would, stamped with the time it is sent.
async fn publish_event(
    js: &jetstream::Context,
    sites: &[u32],
    idx: usize,
    seqs: &mut [i64],
    event: &Event,
    counters: &Arc<Counters>,
) {
    let site = site_name(sites[idx]);
    seqs[idx] += 1;
    let seq = seqs[idx];
    let now = vigil_core::time::now_unix_ms();
    let line = line_of(event, now);
    let env = EventEnvelope {
        site: site.clone(),
        seq,
        op: EventOp::Upsert,
        id: line.id.clone(),
        event: Some(line),
    };
    let Ok(body) = serde_json::to_vec(&env) else {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let msg = PublishMessage::build()
        .payload(body.into())
        .message_id(wire::message_id(&site, seq));
    counters.published.fetch_add(1, Ordering::Relaxed);
    match js
        .send_publish(wire::event_subject(&site, &event.camera), msg)
        .await
    {
        Ok(ack) => {
            let counters = counters.clone();
            tokio::spawn(async move {
                match ack.await {
                    Ok(_) => counters.acked.fetch_add(1, Ordering::Relaxed),
                    Err(_) => counters.failed.fetch_add(1, Ordering::Relaxed),
                };
            });
        }
        Err(_) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A site's heartbeat: its cameras (fps), storage and uplink figures.
async fn publish_status(
    js: &jetstream::Context,
    site: u32,
    args: &BenchArgs,
    counters: &Arc<Counters>,
) {
    let name = site_name(site);
    let now = vigil_core::time::now_unix_ms();
    let status = SiteStatus {
        site: name.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        at_ms: now,
        started_ms: now - 3_600_000,
        heartbeat_s: args.heartbeat_s,
        config_version: Some(wire::config_version(&name)),
        cameras: (0..args.cameras)
            .map(|c| CameraStatus {
                name: format!("cam-{c}"),
                online: true,
                fps: 5.0 + fastrand::f32(),
                message: None,
                problems: Vec::new(),
                standby_for: None,
            })
            .collect(),
        storage: vec![StorageStatus {
            name: "main".into(),
            used_bytes: 1 << 40,
            free_bytes: Some(1 << 39),
            days_until_full: Some(30.0),
        }],
        uplink: UplinkFigures {
            backlog: 0,
            oldest_ms: None,
            sent: counters.acked.load(Ordering::Relaxed),
            dropped: 0,
        },
    };
    let Ok(body) = serde_json::to_vec(&status) else {
        return;
    };
    match js.publish(wire::status_subject(&name), body.into()).await {
        Ok(ack) => {
            let counters = counters.clone();
            tokio::spawn(async move {
                if ack.await.is_ok() {
                    counters.statuses.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        Err(_) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// p50 and p99 of `ms`, sorted here.
fn percentiles(ms: &mut [f64]) -> (f64, f64) {
    if ms.is_empty() {
        return (0.0, 0.0);
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

async fn event_list(db: &HubDb, args: &BenchArgs) -> anyhow::Result<serde_json::Value> {
    let held = db.count_events(false).await?;
    let target = args.query_events as i64;
    let sites = i64::from(args.sites);
    let cameras = i64::from(args.cameras);
    let mut fill = serde_json::Value::Null;
    if held < target {
        let count = target - held;
        eprintln!("bench: loading {count} synthetic events (the hub holds {held})…");
        let now = vigil_core::time::now_unix_ms();
        // A year of events, the newest an hour ago.
        let step_ms = (365 * 86_400_000 / target).max(1);
        let mut ended = new_event(0);
        ended.phase = EventPhase::End;
        ended.end = Some(ended.last);
        let template = serde_json::to_value(line_of(&ended, ended.last.unix_ms))?;
        let started = Instant::now();
        let (load_ms, index_ms) = db
            .bench_fill(
                &BenchFill {
                    first: 1_000_000_000 + held,
                    count,
                    sites,
                    cameras,
                    newest_ms: now - 3_600_000,
                    step_ms,
                },
                &template,
                |done| {
                    eprintln!(
                        "bench: {done} of {count} loaded ({:.0} s)",
                        started.elapsed().as_secs_f64()
                    )
                },
            )
            .await?;
        eprintln!(
            "bench: loaded in {:.0} s, indexes built in {:.0} s",
            load_ms as f64 / 1000.0,
            index_ms as f64 / 1000.0
        );
        fill = serde_json::json!({ "rows": count, "load_s": load_ms / 1000, "index_s": index_ms / 1000 });
    }
    let rows = db.count_events(true).await?;
    // The newest event's start: the "one day" queries pick days before it.
    let newest = db
        .events(&EventFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await?
        .first()
        .map(|l| l.start_ms)
        .unwrap_or_else(vigil_core::time::now_unix_ms);
    type MakeFilter = Box<dyn Fn() -> EventFilter>;
    let site = move || format!("bench-{:04}", fastrand::i64(0..sites));
    let cases: Vec<(&str, MakeFilter)> = vec![
        ("newest page", Box::new(EventFilter::default)),
        (
            "one site",
            Box::new(move || EventFilter {
                sites: Some(vec![site()]),
                ..Default::default()
            }),
        ),
        (
            "one camera",
            Box::new(move || EventFilter {
                sites: Some(vec![site()]),
                camera: Some(format!("cam-{}", fastrand::i64(0..cameras))),
                ..Default::default()
            }),
        ),
        (
            "a kind, one day",
            Box::new(move || {
                let day = newest - fastrand::i64(1..300) * 86_400_000;
                EventFilter {
                    kind: Some("loitering".into()),
                    from_ms: Some(day),
                    to_ms: Some(day + 86_400_000),
                    ..Default::default()
                }
            }),
        ),
        (
            "words: colour and class",
            Box::new(|| EventFilter {
                words: Some(format!(
                    "{} {}",
                    ["red", "blue", "white", "black"][fastrand::usize(..4)],
                    CLASSES[fastrand::usize(..4)]
                )),
                ..Default::default()
            }),
        ),
        (
            "words: a rare plate",
            Box::new(|| EventFilter {
                words: Some(format!("p{:05}", fastrand::u32(..100_000))),
                ..Default::default()
            }),
        ),
        (
            "words in one site",
            Box::new(move || EventFilter {
                sites: Some(vec![site()]),
                words: Some(
                    [
                        "red", "blue", "white", "black", "grey", "green", "yellow", "silver",
                    ][fastrand::usize(..8)]
                    .to_string(),
                ),
                ..Default::default()
            }),
        ),
    ];
    let mut out = serde_json::Map::new();
    let mut all = Vec::new();
    for (name, make) in &cases {
        eprintln!("bench: {name}, for example {:?}", make());
        let mut times = Vec::with_capacity(args.queries);
        let mut returned = 0;
        for i in 0..args.queries + 5 {
            let mut f = make();
            // Every other newest-page query asks for the next page (keyset cursor).
            if *name == "newest page" && i % 2 == 1 {
                let first = db.events(&EventFilter::default()).await?;
                f.before = first.last().map(|l| (l.start_ms, l.id.clone()));
            }
            let t = Instant::now();
            let page = db.events(&f).await?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            if i >= 5 {
                // The first few warm the cache.
                times.push(ms);
                returned += page.len();
            }
        }
        all.extend(times.iter().copied());
        let (p50, p99) = percentiles(&mut times);
        eprintln!(
            "bench: event list over {rows} events, {name}: p50 {p50:.1} ms, p99 {p99:.1} ms ({:.0} rows a page)",
            returned as f64 / args.queries.max(1) as f64
        );
        out.insert(
            (*name).to_string(),
            serde_json::json!({ "p50_ms": p50, "p99_ms": p99 }),
        );
    }
    let (p50, p99) = percentiles(&mut all);
    eprintln!(
        "bench: event list over {rows} events, every query: p50 {p50:.1} ms, p99 {p99:.1} ms"
    );
    Ok(serde_json::json!({
        "rows": rows,
        "load": fill,
        "queries": out,
        "p50_ms": p50,
        "p99_ms": p99,
    }))
}

/// The JSON line of `event` as a site sends it, written at `updated_ms`.
fn line_of(event: &Event, updated_ms: i64) -> EventLine {
    EventLine {
        id: event.id.to_string(),
        site: None,
        camera: event.camera.clone(),
        rule: event.rule.clone(),
        kind: event.kind.name().into(),
        class: event.class_name.clone(),
        phase: wire::phase_name(event.phase).into(),
        start_ms: event.start.unix_ms,
        end_ms: event.end.map(|t| t.unix_ms),
        open: event.end.is_none(),
        interrupted: false,
        description: event.description.clone(),
        snapshot: false,
        updated_ms,
        event: event.clone(),
    }
}
