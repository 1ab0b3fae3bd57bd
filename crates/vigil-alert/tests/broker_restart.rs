//! A private Mosquitto started, killed and restarted on the same port by the test: events published
//! before, while and after it is down all arrive, in order per camera; the buffer policy holds.
//!
//! The subscriber keeps a persistent session (clean_session = false) on a broker with persistence, so it
//! misses nothing the broker accepted while the subscriber itself was reconnecting: what is tested is that
//! Vigil's side loses nothing.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use vigil_alert::{AlertConfig, AlertHandle, Alerts, MqttConfig};
use vigil_core::EventPhase;

fn start_alerts(port: u16, prefix: &str, buffer: usize) -> AlertHandle {
    let mqtt = MqttConfig {
        port,
        client_id: unique("vigil"),
        topic_prefix: prefix.to_string(),
        discovery: false,
        buffer,
        reconnect_max: vigil_rules::ConfigDuration::from_millis(500),
        ..Default::default()
    };
    let (alerts, _dead) = Alerts::start(AlertConfig {
        mqtt: Some(mqtt),
        ..Default::default()
    })
    .unwrap();
    alerts
}

const CAMERAS: [&str; 3] = ["North", "South", "East"];

/// (camera, seq) of each event message received, first copies only (QoS 1 may repeat one).
fn received_events(got: &[Received]) -> (Vec<(String, u64)>, usize) {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut dups = 0;
    for m in got.iter().filter(|m| m.topic.contains("/events/")) {
        let v = m.json();
        let seq = v["track_ids"][0].as_u64().unwrap();
        let key = (
            v["id"].as_str().unwrap().to_string(),
            v["phase"].to_string(),
        );
        if seen.insert(key) {
            out.push((v["camera"].as_str().unwrap().to_string(), seq));
        } else {
            dups += 1;
        }
    }
    (out, dups)
}

fn assert_all_in_order(received: &[(String, u64)], sent: &[(String, u64)]) {
    let sent_set: BTreeSet<_> = sent.iter().cloned().collect();
    let recv_set: BTreeSet<_> = received.iter().cloned().collect();
    let missing: Vec<_> = sent_set.difference(&recv_set).collect();
    assert!(
        missing.is_empty(),
        "{} lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let mut per_camera: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (cam, seq) in received {
        per_camera.entry(cam).or_default().push(*seq);
    }
    for (cam, seqs) in per_camera {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{cam}: out of order: {seqs:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_is_lost_when_the_broker_dies_holding_unacknowledged_messages() {
    if !mosquitto_available("no_event_is_lost_when_the_broker_dies_holding_unacknowledged_messages")
    {
        return;
    }
    let mut broker = Mosquitto::start();
    let prefix = unique("vr");
    let mut sub = Subscriber::connect(
        broker.port,
        &unique("sub"),
        &[&format!("{prefix}/events/#")],
        true,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let alerts = start_alerts(broker.port, &prefix, 10_000);

    // A steady stream from three cameras. Mid-stream the broker freezes (it accepts bytes into its socket
    // but acknowledges nothing), is killed, and comes back on the same port.
    let mut sent = Vec::new();
    let mut seq = 0u64;
    let t0 = Instant::now();
    let (mut frozen, mut killed, mut restarted) = (false, false, false);
    let mut unacked_at_kill = 0;
    while t0.elapsed() < Duration::from_millis(3000) {
        seq += 1;
        let camera = CAMERAS[(seq % 3) as usize];
        let phase = [EventPhase::Start, EventPhase::Update, EventPhase::End][(seq % 3) as usize];
        alerts.publish_event(&event(camera, "Intruder", phase, seq as u128));
        sent.push((camera.to_string(), seq));
        let t = t0.elapsed();
        if !frozen && t > Duration::from_millis(800) {
            broker.freeze();
            frozen = true;
        }
        if frozen && !killed && t > Duration::from_millis(1300) {
            unacked_at_kill = alerts.status().mqtt.unwrap().inflight;
            broker.stop("KILL");
            killed = true;
        }
        if killed && !restarted && t > Duration::from_millis(1800) {
            broker.restart();
            restarted = true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(restarted);
    assert!(
        unacked_at_kill > 0,
        "the frozen broker held unacknowledged publishes"
    );

    let n = sent.len();
    let got = sub
        .collect_until(Duration::from_secs(20), |g| received_events(g).0.len() >= n)
        .await;
    let (received, dups) = received_events(&got);
    eprintln!(
        "sent {n} events ({unacked_at_kill} unacknowledged when the broker died); \
         received {} distinct, {dups} duplicates",
        received.len()
    );
    assert_all_in_order(&received, &sent);
    let st = alerts.status().mqtt.unwrap();
    assert_eq!(st.dropped_updates + st.dropped_critical, 0);
    assert!(st.reconnects >= 1, "{st:?}");
    alerts.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_while_the_broker_is_killed_arrive_when_it_returns() {
    if !mosquitto_available("events_published_while_the_broker_is_killed_arrive_when_it_returns") {
        return;
    }
    let mut broker = Mosquitto::start();
    let prefix = unique("vr");
    let mut sub = Subscriber::connect(
        broker.port,
        &unique("sub"),
        &[&format!("{prefix}/events/#")],
        true,
    )
    .await;
    // Let the broker save the subscription before it is killed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let alerts = start_alerts(broker.port, &prefix, 10_000);
    let mut sent = Vec::new();
    let publish = |from: u64, to: u64, sent: &mut Vec<(String, u64)>| {
        for seq in from..=to {
            let camera = CAMERAS[(seq % 3) as usize];
            let phase =
                [EventPhase::Start, EventPhase::Update, EventPhase::End][(seq % 3) as usize];
            alerts.publish_event(&event(camera, "Intruder", phase, seq as u128));
            sent.push((camera.to_string(), seq));
        }
    };

    // Before: all arrive (and are acknowledged: a quiet moment).
    publish(1, 30, &mut sent);
    let got = sub
        .collect_until(Duration::from_secs(10), |g| {
            received_events(g).0.len() >= 30
        })
        .await;
    assert_eq!(received_events(&got).0.len(), 30);
    let t0 = Instant::now();
    while alerts.status().mqtt.unwrap().delivered < 30 {
        assert!(t0.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // While down (SIGKILL: no goodbye), then after it returns.
    broker.stop("KILL");
    publish(31, 60, &mut sent);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let st = alerts.status().mqtt.unwrap();
    assert!(!st.connected, "{st:?}");
    assert_eq!(st.queued, 30, "buffered while down: {st:?}");
    broker.restart();
    publish(61, 90, &mut sent);

    // The broker may deliver some of the first 30 again (its saved session state predates the
    // subscriber's acknowledgements): count over everything received.
    let before = got.clone();
    let mut all = got;
    all.extend(
        sub.collect_until(Duration::from_secs(20), |g| {
            received_events(&[before.as_slice(), g].concat()).0.len() >= 90
        })
        .await,
    );
    let (received, dups) = received_events(&all);
    eprintln!(
        "sent {} events; received {} distinct, {dups} duplicates",
        sent.len(),
        received.len()
    );
    assert_all_in_order(&received, &sent);
    let st = alerts.status().mqtt.unwrap();
    assert!(st.connected && st.reconnects >= 1, "{st:?}");
    assert_eq!(st.queued, 0);
    alerts.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_drops_updates_first_and_keeps_starts_and_ends() {
    if !mosquitto_available("a_full_buffer_drops_updates_first_and_keeps_starts_and_ends") {
        return;
    }
    let mut broker = Mosquitto::start();
    let prefix = unique("vr");
    let mut sub = Subscriber::connect(
        broker.port,
        &unique("sub"),
        &[&format!("{prefix}/events/#")],
        true,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let alerts = start_alerts(broker.port, &prefix, 12);
    // Wait for the connection, then take the broker away.
    let t0 = Instant::now();
    while !alerts.status().mqtt.unwrap().connected {
        assert!(t0.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    broker.stop("TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;

    // 6 events: start, 5 updates, end each -> 6 starts + 30 updates + 6 ends into a buffer of 12.
    let mut expected = Vec::new();
    let mut seq = 0u64;
    for ev in 0..6u64 {
        let camera = CAMERAS[(ev % 3) as usize];
        for phase in [
            EventPhase::Start,
            EventPhase::Update,
            EventPhase::Update,
            EventPhase::Update,
            EventPhase::Update,
            EventPhase::Update,
            EventPhase::End,
        ] {
            seq += 1;
            alerts.publish_event(&event(camera, "Intruder", phase, seq as u128));
            if phase != EventPhase::Update {
                expected.push((camera.to_string(), seq));
            }
        }
    }
    let st = alerts.status().mqtt.unwrap();
    assert_eq!(st.queued, 12);
    assert_eq!(st.dropped_updates, 30, "{st:?}");
    assert_eq!(st.dropped_critical, 0);

    broker.restart();
    let got = sub
        .collect_until(Duration::from_secs(20), |g| {
            received_events(g).0.len() >= 12
        })
        .await;
    let (received, _) = received_events(&got);
    assert_eq!(
        received,
        expected,
        "exactly the starts and ends, in order; {:?}\n{}",
        alerts.status().mqtt,
        broker.log()
    );
    alerts.shutdown(Duration::from_secs(5)).await;
}
