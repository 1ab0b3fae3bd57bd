//! The site-to-hub link under faults, with a real event store (its SQLite outbox), the real uplink, a
//! real `vigil hub` process, a private NATS server and a fresh PostgreSQL database; events are written
//! straight into the store so the faults, not the footage, decide what happens:
//! - the link cut (NATS killed) while events keep coming, the hub killed (-9) meanwhile, the site's
//!   uplink restarted in the middle of draining its backlog: the hub ends with exactly the site's
//!   events, same ids and final states, no duplicates, in the site's order per camera;
//! - a site publishing as another site, or reading another's requests: refused.

use super::kit::{self, HubSetup, eventually};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use vigil_core::{
    BBox, BestObject, ClassCount, Event, EventId, EventKind, EventPhase, EventTime, Time90k,
};
use vigil_store::{Store, StoreConfig};
use vigil_uplink::wire::{Reply, Request, SiteStatus};
use vigil_uplink::{Responder, Uplink, UplinkConfig};

const CAMERAS: [&str; 3] = ["gate", "yard", "door.1"];

fn event(n: u64, camera: &str, start_ms: i64, phase: EventPhase) -> Event {
    let t = |ms: i64| EventTime {
        unix_ms: ms,
        media: Time90k(ms * 90),
    };
    Event {
        attributes: Default::default(),
        id: EventId::from_parts(start_ms as u64, u128::from(n) << 8 | 0x5a),
        camera: camera.to_string(),
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
        start: t(start_ms),
        last: t(start_ms + 500),
        end: (phase == EventPhase::End).then(|| t(start_ms + 500)),
        best: Some(BestObject {
            track_id: n,
            score: 0.8,
            bbox: BBox::new(10.0, 20.0, 70.0, 180.0),
            frame_w: 1920,
            frame_h: 1080,
            time: t(start_ms),
        }),
        description: format!("A person entered 'Yard' on {camera} (#{n})"),
    }
}

struct Pong;

impl Responder for Pong {
    fn answer(&self, _request: Request) -> Reply {
        Reply::Pong {
            site: "s1".into(),
            version: "test".into(),
        }
    }
}

fn open_store(root: &Path) -> Arc<Store> {
    let dir = root.join("rec");
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = StoreConfig::new(root.join("index.db"), "rec", &dir);
    c.dirs[0].min_free_bytes = 0;
    c.background_retention = false;
    Arc::new(Store::open(c).unwrap().0)
}

fn start_uplink(store: &Arc<Store>, config: &UplinkConfig) -> Uplink {
    let status: vigil_uplink::StatusSource = Arc::new(|| SiteStatus {
        site: String::new(),
        version: "test".into(),
        at_ms: vigil_core::time::now_unix_ms(),
        started_ms: 0,
        heartbeat_s: 0,
        config_version: None,
        cameras: Vec::new(),
        storage: Vec::new(),
        uplink: Default::default(),
    });
    Uplink::start(
        config,
        store.clone(),
        store.event_reader().unwrap(),
        status,
        Arc::new(Pong),
    )
    .unwrap()
}

/// Writes events on three cameras until stopped: each starts, is updated, ends; some are deleted
/// later (as retention or erasure would). Returns the insert order per camera.
fn write_events(
    store: Arc<Store>,
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
) -> std::thread::JoinHandle<BTreeMap<String, Vec<String>>> {
    std::thread::spawn(move || {
        let mut order: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let t0 = vigil_core::time::now_unix_ms() - 3_600_000;
        let mut n = 0u64;
        let mut open: Vec<Event> = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if paused.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            n += 1;
            let camera = CAMERAS[(n % 3) as usize];
            let e = event(n, camera, t0 + n as i64 * 10, EventPhase::Start);
            store.record_event(&e).unwrap();
            order
                .entry(camera.into())
                .or_default()
                .push(e.id.to_string());
            open.push(e);
            if open.len() > 4 {
                let e = open.remove(0);
                let mut u = e.clone();
                u.phase = EventPhase::Update;
                u.last.unix_ms += 200;
                store.record_event(&u).unwrap();
                let mut end = e.clone();
                end.phase = EventPhase::End;
                end.last.unix_ms += 400;
                end.end = Some(end.last);
                store.record_event(&end).unwrap();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for e in open {
            let mut end = e.clone();
            end.phase = EventPhase::End;
            end.last.unix_ms += 400;
            end.end = Some(end.last);
            store.record_event(&end).unwrap();
        }
        order
    })
}

/// The site's events as (id → phase).
fn site_states(store: &Store) -> BTreeMap<String, String> {
    store
        .event_reader()
        .unwrap()
        .all_events()
        .unwrap()
        .iter()
        .map(|e| {
            let l = vigil_uplink::wire::EventLine::from_stored(e);
            (l.id, l.phase)
        })
        .collect()
}

fn hub_states(hub: &HubSetup) -> (BTreeMap<String, String>, usize) {
    let lines = hub.events();
    let n = lines.len();
    let map = lines
        .iter()
        .map(|l| {
            assert_eq!(l["site"], "s1", "{l}");
            (
                l["id"].as_str().unwrap().to_string(),
                l["phase"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (map, n)
}

#[test]
fn every_event_arrives_once_in_order_whatever_the_link_does() {
    let (Some(_), Some(pg)) = (kit::nats_server(), kit::postgres()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hub = HubSetup::new(&tmp.path().join("hub"), &pg);
    let seed = hub.add_site("s1");
    let mut nats = hub.start_nats();
    let mut hubp = hub.start_hub();
    let store = open_store(&tmp.path().join("site"));
    let config: UplinkConfig = toml::from_str(
        hub.uplink_section("s1", &seed)
            .trim_start()
            .trim_start_matches("[uplink]"),
    )
    .unwrap();
    let mut uplink = start_uplink(&store, &config);

    let stop = Arc::new(AtomicBool::new(false));
    let paused = Arc::new(AtomicBool::new(false));
    let writer = write_events(store.clone(), stop.clone(), paused.clone());
    // Linked: events reach the hub within a second or two.
    eventually(Duration::from_secs(30), "first events at the hub", || {
        (hub.events().len() >= 20).then_some(())
    });
    eventually(Duration::from_secs(30), "the site shown online", || {
        hub.cli(&["site", "list"])
            .contains("\"online\":true")
            .then_some(())
    });

    // The link is cut (every connection at once) while events keep coming; the hub dies meanwhile.
    let cut = Duration::from_secs(
        std::env::var("VIGIL_LINK_CUT_S")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(8),
    );
    nats.kill();
    let before_cut = store.event_reader().unwrap().outbox_depth().unwrap();
    std::thread::sleep(cut / 2);
    hubp.kill_9();
    std::thread::sleep(cut / 2);
    let backlog = store.event_reader().unwrap().outbox_depth().unwrap();
    assert!(
        backlog.queued > before_cut.queued + 100,
        "events kept being stored while the link was down ({before_cut:?} then {backlog:?})"
    );
    // Deletions while offline (retention or erasure on the site) must reach the hub too.
    let deleted: Vec<String> = site_states(&store).keys().take(5).cloned().collect();
    {
        let db = rusqlite::Connection::open(tmp.path().join("site/index.db")).unwrap();
        for id in &deleted {
            db.execute("DELETE FROM events WHERE event_id = ?1", [id])
                .unwrap();
        }
    }

    // The link returns; the hub restarts; the site's uplink restarts in the middle of draining.
    paused.store(true, Ordering::Relaxed);
    nats.restart();
    let hubp = hub.start_hub();
    let full = store.event_reader().unwrap().outbox_depth().unwrap().queued;
    let reader = store.event_reader().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while reader.outbox_depth().unwrap().queued + 100 > full {
        assert!(
            std::time::Instant::now() < deadline,
            "the backlog did not start draining within 30 s of the link's return"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    uplink.stop(Duration::ZERO);
    let drained_then = store.event_reader().unwrap().outbox_depth().unwrap();
    assert!(
        drained_then.queued > 0 && drained_then.queued < full,
        "the restart should come in the middle of draining ({full} queued, {} left)",
        drained_then.queued
    );
    uplink = start_uplink(&store, &config);
    paused.store(false, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let order = writer.join().unwrap();

    // Afterwards the hub holds exactly the site's events, with their final states.
    let site = site_states(&store);
    let (hub_map, rows) = eventually(Duration::from_secs(60), "the backlog drained", || {
        let (m, n) = hub_states(&hub);
        (m == site).then_some((m, n))
    });
    assert_eq!(rows, site.len(), "no duplicates at the hub");
    assert_eq!(hub_map, site);
    for id in &deleted {
        assert!(!hub_map.contains_key(id), "deleted on the site: {id}");
    }
    // Per camera, the hub received events in the order the site stored them.
    for (camera, ids) in &order {
        let kept: Vec<&String> = ids.iter().filter(|id| site.contains_key(*id)).collect();
        let arrived = hub.db.sql(&format!(
            "SELECT id FROM events WHERE site = 's1' AND camera = '{camera}' ORDER BY hub_seq"
        ));
        let arrived: Vec<&str> = arrived.lines().collect();
        assert_eq!(
            arrived,
            kept.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "order of camera {camera}"
        );
    }
    let stats = &uplink.stats;
    eprintln!(
        "link test: {} events, {} deleted, backlog at the cut's end {}, site restarted with {} of {} left, \
         resent (dropped as duplicates by JetStream) {}",
        site.len() + deleted.len(),
        deleted.len(),
        backlog.queued,
        drained_then.queued,
        full,
        stats.resent.load(Ordering::Relaxed)
    );
    uplink.stop(Duration::from_secs(1));
    drop(hubp);
}

#[test]
fn a_site_cannot_speak_for_another() {
    let (Some(_), Some(pg)) = (kit::nats_server(), kit::postgres()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hub = HubSetup::new(&tmp.path().join("hub"), &pg);
    let seed1 = hub.add_site("s1");
    let _seed2 = hub.add_site("s2");
    let _nats = hub.start_nats();
    let _hubp = hub.start_hub();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let auth = vigil_uplink::NatsAuth {
            url: format!("nats://127.0.0.1:{}", hub.nats_port),
            nkey_seed_file: Some(seed1.clone()),
            ..Default::default()
        };
        // Without a key, nobody gets in.
        let anonymous = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(2))
            .connect(format!("127.0.0.1:{}", hub.nats_port))
            .await;
        assert!(anonymous.is_err(), "an anonymous client was let in");

        let client = auth.connect("attacker", Some("_INBOX_s1".into())).await.unwrap();
        let js = async_nats::jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(2))
            .build(client.clone());
        let forged = |site: &str| {
            let line = serde_json::json!({"site": site, "seq": 1, "op": "upsert", "id": "01HZZZZZZZZZZZZZZZZZZZZZZZ",
                "event": null});
            serde_json::to_vec(&line).unwrap()
        };
        // s1 publishing on s2's subject: the server refuses it (no acknowledgement ever comes).
        let r = match js
            .publish("vigil.site.s2.event.gate", forged("s2").into())
            .await
        {
            Ok(ack) => ack.await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(r.is_err(), "site s1 published on site s2's subject");
        // s1 listening to s2's requests: refused by the server.
        let mut sub = client.subscribe("vigil.site.s2.req.>").await.unwrap();
        client.flush().await.unwrap();
        let hub_auth = vigil_uplink::NatsAuth {
            url: auth.url.clone(),
            nkey_seed_file: Some(hub.dir.join("data/hub.nk")),
            ..Default::default()
        };
        let hub_client = hub_auth.connect("hub-test", None).await.unwrap();
        hub_client
            .publish("vigil.site.s2.req.ping", "{}".into())
            .await
            .unwrap();
        hub_client.flush().await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(1), futures_util::StreamExt::next(&mut sub)).await;
        assert!(!matches!(got, Ok(Some(_))), "s1 received s2's requests");
        // s1's own subject, but a body that claims to be s2: the hub refuses it.
        let ack = js
            .publish("vigil.site.s1.event.gate", forged("s2").into())
            .await
            .unwrap()
            .await;
        assert!(ack.is_ok(), "s1 may publish on its own subject");
    });
    let refused = eventually(
        Duration::from_secs(20),
        "the hub audits the forgery",
        || {
            let n = hub
                .db
                .sql("SELECT count(*) FROM audit WHERE action = 'site.refused' AND target = 's1'");
            (n.trim() != "0").then_some(n)
        },
    );
    assert_eq!(refused.trim(), "1");
    assert_eq!(hub.db.sql("SELECT count(*) FROM events").trim(), "0");
}

#[test]
fn the_hub_rides_out_a_postgresql_restart() {
    let Some(_) = kit::nats_server() else {
        return;
    };
    let Some(pg) = kit::PrivatePostgres::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hub = HubSetup::new(&tmp.path().join("hub"), &pg.base());
    let seed = hub.add_site("s1");
    let _nats = hub.start_nats();
    let hubp = hub.start_hub();
    let store = open_store(&tmp.path().join("site"));
    let config: UplinkConfig = toml::from_str(
        hub.uplink_section("s1", &seed)
            .trim_start()
            .trim_start_matches("[uplink]"),
    )
    .unwrap();
    let uplink = start_uplink(&store, &config);
    let stop = Arc::new(AtomicBool::new(false));
    let paused = Arc::new(AtomicBool::new(false));
    let writer = write_events(store.clone(), stop.clone(), paused.clone());
    eventually(Duration::from_secs(30), "first events at the hub", || {
        (hub.events().len() >= 20).then_some(())
    });
    // PostgreSQL crashes and comes back while events keep coming.
    pg.down();
    std::thread::sleep(Duration::from_secs(5));
    pg.up();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let site = site_states(&store);
    let (hub_map, rows) = eventually(Duration::from_secs(60), "the hub caught up", || {
        let (m, n) = hub_states(&hub);
        (m == site).then_some((m, n))
    });
    assert_eq!(rows, site.len(), "no duplicates at the hub");
    assert_eq!(hub_map, site);
    eprintln!(
        "postgres restart: {} events, all at the hub once",
        site.len()
    );
    uplink.stop(Duration::from_secs(1));
    drop(hubp);
}

#[test]
fn the_link_runs_over_tls_and_refuses_plain_text() {
    let (Some(_), Some(pg)) = (kit::nats_server(), kit::postgres()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hub = HubSetup::new(&tmp.path().join("hub"), &pg);
    hub.enable_tls();
    let seed = hub.add_site("s1");
    let _nats = hub.start_nats();
    let hubp = hub.start_hub();
    let store = open_store(&tmp.path().join("site"));
    let section = hub.uplink_section("s1", &seed);
    assert!(section.contains("tls://"), "{section}");
    let config: UplinkConfig =
        toml::from_str(section.trim_start().trim_start_matches("[uplink]")).unwrap();
    let uplink = start_uplink(&store, &config);
    for n in 1..=10 {
        store
            .record_event(&event(
                n,
                "gate",
                1_717_761_600_000 + n as i64,
                EventPhase::Start,
            ))
            .unwrap();
    }
    eventually(Duration::from_secs(30), "events over TLS", || {
        (hub.events().len() == 10).then_some(())
    });
    // The same key, without the hub's CA (the server requires TLS): turned away.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let plain = rt.block_on(async {
        let seed_text = std::fs::read_to_string(&seed).unwrap();
        async_nats::ConnectOptions::with_nkey(seed_text.trim().to_string())
            .connection_timeout(Duration::from_secs(2))
            .connect(format!("127.0.0.1:{}", hub.nats_port))
            .await
    });
    assert!(
        plain.is_err(),
        "a connection that does not trust the hub's CA was accepted"
    );
    uplink.stop(Duration::from_secs(1));
    drop(hubp);
}
