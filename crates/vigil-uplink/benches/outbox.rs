//! The durable outbox, measured: what queuing every event change costs the event store, and how fast a
//! backlog drains to a real JetStream server (started by the bench on a free port), with the
//! publish-to-acknowledgement latency of a live link. Figures for docs/design/multisite.md.
//!
//! - write cost: N events (Start, Update, End: 3 changes each) recorded in batches of 64, as the event
//!   writer does, with the outbox off (the reference, measured in the same run) and on;
//! - drain: the whole backlog (3N changes, coalesced to N messages) published with acknowledgements;
//! - live: one event at a time, publish to acknowledgement.
//!
//! Run: `cargo bench -p vigil-uplink --bench outbox [-- --events N]` (needs `/usr/sbin/nats-server`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_core::{
    BBox, BestObject, ClassCount, Event, EventId, EventKind, EventPhase, EventTime, Time90k,
};
use vigil_store::{Store, StoreConfig};
use vigil_uplink::wire::{Reply, Request, SiteStatus};
use vigil_uplink::{Responder, Uplink, UplinkConfig};

fn event(n: u64, phase: EventPhase) -> Event {
    let ms = 1_717_761_600_000 + n as i64 * 100;
    let t = EventTime {
        unix_ms: ms,
        media: Time90k(ms * 90),
    };
    Event {
        attributes: Default::default(),
        id: EventId::from_parts(ms as u64, u128::from(n)),
        camera: format!("cam-{}", n % 16),
        rule: "Yard intrusion".into(),
        kind: EventKind::Intrusion,
        phase,
        class_name: "person".into(),
        objects: vec![ClassCount {
            class_name: "person".into(),
            class_id: 0,
            count: 1,
        }],
        track_ids: vec![n],
        zone: Some("Yard".into()),
        line: None,
        start: t,
        last: t,
        end: (phase == EventPhase::End).then_some(t),
        best: Some(BestObject {
            track_id: n,
            score: 0.8,
            bbox: BBox::new(10.0, 20.0, 70.0, 180.0),
            frame_w: 1920,
            frame_h: 1080,
            time: t,
        }),
        description: format!("A person entered 'Yard' (#{n})"),
    }
}

fn open(root: &Path) -> Arc<Store> {
    let dir = root.join("rec");
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = StoreConfig::new(root.join("index.db"), "rec", &dir);
    c.dirs[0].min_free_bytes = 0;
    c.background_retention = false;
    Arc::new(Store::open(c).unwrap().0)
}

/// Records `n` events (3 changes each) in batches of 64; returns the seconds taken.
fn record(store: &Store, n: u64, offset: u64) -> f64 {
    let started = Instant::now();
    let mut batch = Vec::with_capacity(64);
    for i in offset..offset + n {
        for phase in [EventPhase::Start, EventPhase::Update, EventPhase::End] {
            let mut e = event(i, phase);
            if phase != EventPhase::Start {
                e.last.unix_ms += if phase == EventPhase::End { 400 } else { 200 };
                if phase == EventPhase::End {
                    e.end = Some(e.last);
                }
            }
            batch.push(e);
            if batch.len() == 64 {
                store.record_events(&batch).unwrap();
                batch.clear();
            }
        }
    }
    if !batch.is_empty() {
        store.record_events(&batch).unwrap();
    }
    started.elapsed().as_secs_f64()
}

struct Quiet;

impl Responder for Quiet {
    fn answer(&self, _: Request) -> Reply {
        Reply::Error {
            message: "bench".into(),
        }
    }
}

fn status() -> vigil_uplink::StatusSource {
    Arc::new(|| SiteStatus {
        site: String::new(),
        version: "bench".into(),
        at_ms: 0,
        started_ms: 0,
        heartbeat_s: 0,
        config_version: None,
        cameras: Vec::new(),
        storage: Vec::new(),
        uplink: Default::default(),
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args
        .iter()
        .position(|a| a == "--events")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    if !Path::new("/usr/sbin/nats-server").exists() {
        eprintln!("SKIP: /usr/sbin/nats-server not found");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();

    // Write cost: the reference (outbox off) and the outbox on, same store, same events.
    let off = open(&tmp.path().join("off"));
    let t_off = record(&off, n, 0);
    let on = open(&tmp.path().join("on"));
    on.set_uplink_outbox(true).unwrap();
    let t_on = record(&on, n, 0);
    let per = |t: f64| t / (3 * n) as f64 * 1e6;
    println!(
        "write: {} changes; outbox off {:.1} µs/change (reference), on {:.1} µs/change ({:.2}x)",
        3 * n,
        per(t_off),
        per(t_on),
        t_on / t_off
    );

    // A JetStream server of our own.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new("/usr/sbin/nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(tmp.path().join("js"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = format!("nats://127.0.0.1:{port}");
    let js_url = url.clone();
    rt.block_on(async move {
        let c = async_nats::connect(js_url).await.unwrap();
        let js = async_nats::jetstream::new(c);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: vigil_uplink::wire::EVENTS_STREAM.into(),
            subjects: vec!["vigil.site.*.event.>".into()],
            duplicate_window: Duration::from_secs(3600),
            ..Default::default()
        })
        .await
        .unwrap();
    });
    let config: UplinkConfig = toml::from_str(&format!(
        "site = \"bench\"\nnats_url = \"{url}\"\nsend_snapshots = false\nheartbeat_s = 60\n"
    ))
    .unwrap();

    // Drain: the whole backlog.
    let queued = on.event_reader().unwrap().outbox_depth().unwrap().queued;
    let started = Instant::now();
    let uplink = Uplink::start(
        &config,
        on.clone(),
        on.event_reader().unwrap(),
        status(),
        Arc::new(Quiet),
    )
    .unwrap();
    let reader = on.event_reader().unwrap();
    while reader.outbox_depth().unwrap().queued > 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let drain = started.elapsed().as_secs_f64();
    println!(
        "drain: {queued} changes ({n} events) acknowledged in {drain:.2} s: {:.0} events/s, {:.0} changes/s",
        n as f64 / drain,
        queued as f64 / drain
    );

    // Live: one event at a time, stored to acknowledged (and forgotten by the outbox): the latency a
    // quiet site's events see to the hub's stream.
    let mut lat = Vec::new();
    for i in 0..50u64 {
        let t = Instant::now();
        on.record_event(&event(n + 1_000_000 + i, EventPhase::Start))
            .unwrap();
        while reader.outbox_depth().unwrap().queued > 0 {
            std::thread::sleep(Duration::from_micros(500));
        }
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "live: stored to acknowledged p50 {:.1} ms, p99 {:.1} ms",
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100]
    );
    uplink.stop(Duration::ZERO);
    let _ = server.kill();
    let _ = server.wait();
}
