//! Alert latency: from the frame that completes an intrusion to the MQTT message at a subscriber.
//!
//! A real `vigil_rules::RuleEngine` runs on synthetic tracks on its own thread (as the analytics thread
//! does): a person walks into an intrusion zone, stays, leaves; repeated with a new track each time. The
//! instant `update()` returns the `Start` event is stamped, the event goes through the dispatcher to the
//! Mosquitto on 127.0.0.1:1883, and a rumqttc subscriber stamps its arrival. The reference is a bare
//! rumqttc client publishing the same payloads at the same pace in the same run.
//!
//! Run: `cargo bench -p vigil-alert --bench alert_latency` (`VIGIL_BENCH_EVENTS=2000` for more).
//! Prints figures only; nothing is asserted.

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use vigil_alert::{AlertConfig, Alerts, CameraEntities, MqttConfig};
use vigil_core::{BBox, EventPhase, Time90k, TrackedObject};
use vigil_rules::{FrameContext, RuleEngine, RulesConfig};

const RULES: &str = r#"
[[zone]]
name = "Dock"
points = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]
enter_frames = 2
leave_frames = 1
leave_after = 0

[[rule]]
name = "Dock intrusion"
kind = "intrusion"
zone = "Dock"
cooldown = 0
"#;

/// Frame spacing on the media clock and the wall-clock pause between frames.
const FRAME_MS: i64 = 100;
const FRAME_PAUSE: Duration = Duration::from_millis(2);

fn percentiles(v: Vec<Duration>) -> (f64, f64, f64, usize) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN, 0);
    }
    let s = vigil_core::latency::LatencySummary::of(v);
    (s.p50_ms, s.p99_ms, s.max_ms, s.count)
}

/// A subscriber stamping each message's arrival.
fn subscriber(
    rt: &tokio::runtime::Runtime,
    filter: String,
) -> mpsc::Receiver<(String, Vec<u8>, Instant)> {
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut opts = MqttOptions::new(
        format!("bench-sub-{}", std::process::id()),
        "127.0.0.1",
        1883,
    );
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(opts, 10);
    rt.spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = client.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                }
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = ready_tx.send(());
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send((p.topic.clone(), p.payload.to_vec(), Instant::now()));
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("subscriber: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("subscriber ready");
    rx
}

fn track(id: u64, x: f32, age: u32) -> TrackedObject {
    TrackedObject {
        id,
        bbox: BBox::new(x * 640.0 - 20.0, 200.0, x * 640.0 + 20.0, 320.0),
        score: 0.9,
        class_id: 0,
        age,
        matched: true,
    }
}

fn main() {
    if std::net::TcpStream::connect("127.0.0.1:1883").is_err() {
        eprintln!(
            "SKIP alert_latency: no MQTT broker on 127.0.0.1:1883 (start it with dev/services)"
        );
        return;
    }
    let episodes: usize = std::env::var("VIGIL_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let prefix = format!("vigilbench{}", std::process::id());
    let rx = subscriber(&rt, format!("{prefix}/#"));

    let mqtt = MqttConfig {
        client_id: format!("vigil-bench-{}", std::process::id()),
        topic_prefix: prefix.clone(),
        discovery_prefix: format!("{prefix}ha"),
        ..Default::default()
    };
    let (alerts, _dead) = rt
        .block_on(async {
            Alerts::start(AlertConfig {
                mqtt: Some(mqtt),
                ..Default::default()
            })
        })
        .expect("alerts start");
    let rules: RulesConfig = toml::from_str(RULES).expect("rules");
    alerts.register_camera(&CameraEntities::from_rules("bench", &rules));
    // Let the connection and discovery settle.
    let t0 = Instant::now();
    while alerts
        .status()
        .mqtt
        .is_some_and(|m| !m.connected || m.states_pending > 0)
    {
        assert!(t0.elapsed() < Duration::from_secs(10), "no connection");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    while rx.try_recv().is_ok() {}

    // The analytics thread: rules engine -> dispatcher.
    let producer_alerts = alerts.clone();
    let producer = std::thread::spawn(move || {
        let mut engine = RuleEngine::new("bench", &rules, &["person"]).expect("engine");
        let mut stamps: HashMap<String, (EventPhase, Instant)> = HashMap::new();
        let mut call_cost = Vec::new();
        let mut frame = 0i64;
        let mut step = |engine: &mut RuleEngine, tracks: &[TrackedObject]| {
            frame += 1;
            let ctx = FrameContext {
                time_unix_ms: 1_717_000_000_000 + frame * FRAME_MS,
                media_time: Time90k(frame * FRAME_MS * 90),
                frame_w: 640,
                frame_h: 360,
            };
            let events = engine.update(&ctx, tracks);
            let done = Instant::now();
            for e in &events {
                stamps.insert(format!("{}:{:?}", e.id, e.phase), (e.phase, done));
                let t = Instant::now();
                producer_alerts.publish_event(e);
                call_cost.push(t.elapsed());
            }
            producer_alerts.publish_counts("bench", engine.counters(), &engine.occupancy());
            std::thread::sleep(FRAME_PAUSE);
        };
        for k in 0..episodes as u64 {
            let id = k + 1;
            for age in 0..2 {
                step(&mut engine, &[track(id, 0.25, age)]);
            }
            for age in 2..6 {
                step(&mut engine, &[track(id, 0.75, age)]);
            }
            for age in 6..9 {
                step(&mut engine, &[track(id, 0.25, age)]);
            }
            for _ in 0..2 {
                step(&mut engine, &[]);
            }
        }
        (stamps, call_cost)
    });
    let (stamps, call_cost) = producer.join().expect("producer");

    // Collect arrivals.
    let want = stamps.len();
    let mut arrivals: HashMap<String, Instant> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.len() < want && Instant::now() < deadline {
        let Ok((topic, payload, at)) = rx.recv_timeout(Duration::from_millis(500)) else {
            continue;
        };
        if !topic.starts_with(&format!("{prefix}/events/")) {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&payload) else {
            continue;
        };
        let phase: EventPhase = serde_json::from_value(v["phase"].clone()).expect("phase");
        let key = format!("{}:{:?}", v["id"].as_str().unwrap_or_default(), phase);
        arrivals.entry(key).or_insert(at);
    }
    let mut start_lat = Vec::new();
    let mut all_lat = Vec::new();
    for (key, (phase, t0)) in &stamps {
        if let Some(at) = arrivals.get(key) {
            let d = at.saturating_duration_since(*t0);
            all_lat.push(d);
            if *phase == EventPhase::Start {
                start_lat.push(d);
            }
        }
    }
    let starts = stamps
        .values()
        .filter(|(p, _)| *p == EventPhase::Start)
        .count();

    // Reference: a bare rumqttc client, same payload size, same pace.
    let payload_len = 900;
    let mut opts = MqttOptions::new(
        format!("bench-ref-{}", std::process::id()),
        "127.0.0.1",
        1883,
    );
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(opts, 100);
    rt.spawn(async move { while eventloop.poll().await.is_ok() {} });
    std::thread::sleep(Duration::from_millis(300));
    let mut ref_sent = HashMap::new();
    for i in 0..starts.max(1) {
        let mut body = format!("{i:08}").into_bytes();
        body.resize(payload_len, b' ');
        let t = Instant::now();
        let _ = client.try_publish(format!("{prefix}/ref"), QoS::AtLeastOnce, false, body);
        ref_sent.insert(i, t);
        std::thread::sleep(FRAME_PAUSE * 11);
    }
    let mut ref_lat = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ref_lat.len() < ref_sent.len() && Instant::now() < deadline {
        let Ok((topic, payload, at)) = rx.recv_timeout(Duration::from_millis(500)) else {
            continue;
        };
        if topic != format!("{prefix}/ref") {
            continue;
        }
        let i: usize = String::from_utf8_lossy(&payload[..8])
            .parse()
            .unwrap_or(usize::MAX);
        if let Some(t) = ref_sent.get(&i) {
            ref_lat.push(at.saturating_duration_since(*t));
        }
    }

    let (s50, s99, smax, sn) = percentiles(start_lat);
    let (a50, a99, amax, an) = percentiles(all_lat);
    let (r50, r99, rmax, rn) = percentiles(ref_lat);
    let (c50, c99, cmax, _) = percentiles(call_cost);
    println!(
        "alert latency, rules engine update() -> dispatcher -> Mosquitto 127.0.0.1:1883 -> rumqttc subscriber"
    );
    println!(
        "  start events  : n={sn}/{starts}  p50 {s50:.3} ms  p99 {s99:.3} ms  max {smax:.3} ms"
    );
    println!("  all messages  : n={an}/{want}  p50 {a50:.3} ms  p99 {a99:.3} ms  max {amax:.3} ms");
    println!(
        "  reference     : n={rn}  bare rumqttc publish -> subscriber  p50 {r50:.3} ms  p99 {r99:.3} ms  max {rmax:.3} ms"
    );
    println!(
        "  ratio to ref  : p50 {:.2}x  p99 {:.2}x",
        s50 / r50,
        s99 / r99
    );
    println!(
        "  publish_event cost on the analytics thread: p50 {:.1} us  p99 {:.1} us  max {:.1} us",
        c50 * 1000.0,
        c99 * 1000.0,
        cmax * 1000.0
    );
    println!("  target: start p99 < 250 ms on loopback");
    if let Some(m) = alerts.status().mqtt {
        println!(
            "  mqtt: delivered {}  dropped {}  reconnects {}",
            m.delivered,
            m.dropped_updates + m.dropped_critical,
            m.reconnects
        );
    }
    let report = rt.block_on(alerts.shutdown(Duration::from_secs(5)));
    if !report.clean {
        eprintln!("shutdown not clean: {report:?}");
    }
    // Clear what the run left retained on the shared broker.
    let mut topics: Vec<String> = vec![
        format!("{prefix}/availability"),
        format!("{prefix}/bench/rule/dock_intrusion/active"),
        format!("{prefix}/bench/rule/dock_intrusion/event"),
        format!("{prefix}/bench/zone/dock/occupancy"),
    ];
    for (c, o) in [
        ("binary_sensor", "bench_rule_dock_intrusion"),
        ("sensor", "bench_zone_dock_occupancy"),
        ("sensor", "bench_fps"),
        ("binary_sensor", "bench_online"),
    ] {
        topics.push(format!(
            "{prefix}ha/{c}/vigil_bench_{}/{o}/config",
            std::process::id()
        ));
    }
    for t in topics {
        let _ = client.try_publish(t, QoS::AtLeastOnce, true, Vec::<u8>::new());
    }
    std::thread::sleep(Duration::from_millis(300));
}
