//! Installations on one broker, against private Mosquitto instances: default client ids and topics unique
//! per installation (two coexist without a single reconnection), two clients with one id reported and
//! slowed down instead of fighting every half second, discovery sent once and kept, discovery of what no
//! longer exists cleared after a restart, fresh values before `online`, a broker refusing the connection.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use vigil_alert::{
    AlertHandle, CameraEntities, MqttConfig, MqttHealth, RuleEntity, Topics, ZoneEntity,
};

fn front(rules: &[&str], zones: &[&str]) -> CameraEntities {
    CameraEntities {
        camera: "Front".into(),
        rules: rules
            .iter()
            .map(|r| RuleEntity {
                name: r.to_string(),
                kind: "intrusion".into(),
            })
            .collect(),
        lines: vec!["Gate".into()],
        zones: zones.iter().map(|z| ZoneEntity::from(*z)).collect(),
        analysed: true,
        recorded: true,
    }
}

/// Two installations (two data directories) with `mqtt` on one broker, each with a camera registered,
/// for 20 s; returns them and what `sub` saw meanwhile.
async fn run_two(
    broker: &Mosquitto,
    sub: &mut Subscriber,
    mqtt: MqttConfig,
) -> (AlertHandle, AlertHandle, Vec<Received>) {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let [a, b] = dirs
        .each_ref()
        .map(|d| start_alerts(broker.port, d.path(), mqtt.clone()));
    for alerts in [&a, &b] {
        alerts.register_camera(&front(&["Intruder"], &["Dock"]));
        alerts.finish_registration();
    }
    let t0 = Instant::now();
    let got = sub
        .collect_until(Duration::from_secs(20), |_| {
            t0.elapsed() > Duration::from_secs(20)
        })
        .await;
    (a, b, got)
}

/// Discovery configs in `got` per node (the third topic level).
fn discovery_per_node(got: &[Received]) -> BTreeMap<String, Vec<&Received>> {
    let mut out: BTreeMap<String, Vec<&Received>> = BTreeMap::new();
    for m in got.iter().filter(|m| m.topic.starts_with("homeassistant/")) {
        if let Some(node) = m.topic.split('/').nth(2) {
            out.entry(node.to_string()).or_default().push(m);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_installations_with_default_ids_share_a_broker_without_a_fight() {
    if !mosquitto_available("two_installations_with_default_ids_share_a_broker_without_a_fight") {
        return;
    }
    let broker = Mosquitto::start();
    let mut sub = Subscriber::connect(broker.port, &unique("sub"), &["#"], false).await;
    // Nothing but the broker's address: what a user writes for each of two boxes.
    let (a, b, got) = run_two(&broker, &mut sub, MqttConfig::default()).await;
    let (sa, sb) = (a.status().mqtt.unwrap(), b.status().mqtt.unwrap());
    assert_ne!(sa.client_id, sb.client_id, "default client ids differ");
    for st in [&sa, &sb] {
        assert!(st.client_id.starts_with("vigil-"), "{}", st.client_id);
        assert!(st.connected, "{st:?}");
        assert_eq!(st.reconnects, 0, "not one reconnection in 20 s: {st:?}");
        assert_eq!(st.health, MqttHealth::Connected);
    }
    // Each installation's discovery went out once: one message per config, none repeated.
    let per_node = discovery_per_node(&got);
    assert_eq!(per_node.len(), 2, "{:?}", per_node.keys());
    for (node, msgs) in &per_node {
        let topics: BTreeSet<&str> = msgs.iter().map(|m| m.topic.as_str()).collect();
        assert_eq!(
            topics.len(),
            msgs.len(),
            "{node}: discovery published more than once"
        );
        assert!(msgs.len() >= 15, "{node}: {} configs", msgs.len());
    }
    // Each on its own availability topic, said once.
    let avail: Vec<&Received> = got
        .iter()
        .filter(|m| m.topic.ends_with("/availability"))
        .collect();
    let avail_topics: BTreeSet<&str> = avail.iter().map(|m| m.topic.as_str()).collect();
    assert_eq!(avail_topics.len(), 2, "{avail_topics:?}");
    assert_eq!(avail.len(), 2, "online once each");
    println!(
        "two installations, 20 s: {} discovery messages ({} configs each), {} availability messages, \
         0 reconnections",
        per_node.values().map(Vec::len).sum::<usize>(),
        per_node.values().next().map_or(0, Vec::len),
        avail.len()
    );
    a.shutdown(Duration::from_secs(5)).await;
    b.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_with_one_id_are_reported_and_slow_down() {
    if !mosquitto_available("two_clients_with_one_id_are_reported_and_slow_down") {
        return;
    }
    capture_logs();
    let broker = Mosquitto::start();
    let mut sub =
        Subscriber::connect(broker.port, &unique("sub"), &["homeassistant/#"], false).await;
    // The same client id given by hand to two installations (their topics differ by data directory).
    let id = unique("twin");
    let twin = MqttConfig {
        client_id: id.clone(),
        ..Default::default()
    };
    let (a, b, got) = run_two(&broker, &mut sub, twin).await;
    let (sa, sb) = (a.status().mqtt.unwrap(), b.status().mqtt.unwrap());
    let reconnects = sa.reconnects + sb.reconnects;
    // Reconnecting every 0.5 s, as before, would be about 80 in 20 s; the backoff grows to 5 s instead.
    assert!(
        reconnects <= 24,
        "{reconnects} reconnections in 20 s: {sa:?} {sb:?}"
    );
    assert!(
        [sa.health, sb.health].contains(&MqttHealth::Kicked),
        "{sa:?} {sb:?}"
    );
    let logs = logs();
    let line = logs
        .lines()
        .find(|l| l.contains(&id) && l.contains("same client id"))
        .unwrap_or_else(|| panic!("no clear log line:\n{logs}"));
    assert!(line.contains("ERROR"), "{line}");
    // Both share one node in discovery (the id names it) and overwrite each other's configs: at most one
    // discovery per connection.
    let configs = discovery_per_node(&got)
        .values()
        .map(Vec::len)
        .sum::<usize>();
    let distinct: BTreeSet<&str> = got.iter().map(|m| m.topic.as_str()).collect();
    assert!(
        configs <= (reconnects as usize + 2) * distinct.len(),
        "{configs} discovery messages for {} configs over {reconnects} reconnections",
        distinct.len()
    );
    println!(
        "one client id twice, 20 s: {reconnects} reconnections, {configs} discovery messages for {} \
         configs",
        distinct.len()
    );
    a.shutdown(Duration::from_secs(2)).await;
    b.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_clears_what_no_longer_exists_and_resends_nothing_unchanged() {
    if !mosquitto_available("a_restart_clears_what_no_longer_exists_and_resends_nothing_unchanged")
    {
        return;
    }
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let first = start_alerts(broker.port, dir.path(), MqttConfig::default());
    first.register_camera(&front(&["Old name", "Kept"], &["Dock"]));
    first.register_camera(&CameraEntities {
        camera: "Gone".into(),
        analysed: true,
        ..Default::default()
    });
    first.finish_registration();
    settled(&first).await;
    first.shutdown(Duration::from_secs(5)).await;
    let mut before =
        Subscriber::connect(broker.port, &unique("sub"), &["homeassistant/#"], false).await;
    let old: BTreeSet<String> = before
        .drain(Duration::from_millis(500))
        .await
        .into_iter()
        .map(|m| m.topic)
        .collect();
    assert!(old.iter().any(|t| t.contains("rule_old_name")));

    // The rule renamed, the zone and the camera "Gone" removed.
    let mut live =
        Subscriber::connect(broker.port, &unique("sub"), &["homeassistant/#"], false).await;
    // What the broker retains arrives first, flagged retained.
    let _ = live.drain(Duration::from_millis(500)).await;
    let second = start_alerts(broker.port, dir.path(), MqttConfig::default());
    second.register_camera(&front(&["New name", "Kept"], &[]));
    second.finish_registration();
    settled(&second).await;
    let sent = live.drain(Duration::from_millis(700)).await;
    assert!(sent.iter().all(|m| !m.retain));
    let cleared: BTreeSet<&str> = sent
        .iter()
        .filter(|m| m.payload.is_empty())
        .map(|m| m.topic.as_str())
        .collect();
    let published: BTreeSet<&str> = sent
        .iter()
        .filter(|m| !m.payload.is_empty())
        .map(|m| m.topic.as_str())
        .collect();
    assert!(
        published.len() == 1 && published.iter().all(|t| t.contains("rule_new_name")),
        "only the new rule's config is sent; the unchanged ones are on the broker: {published:?}"
    );
    let stale: BTreeSet<&str> = old
        .iter()
        .map(String::as_str)
        .filter(|t| t.contains("old_name") || t.contains("zone_dock") || t.contains("/gone_"))
        .collect();
    assert!(stale.len() >= 5, "{stale:?}");
    assert_eq!(cleared, stale, "exactly the stale configs are cleared");
    assert_eq!(
        second.status().mqtt.unwrap().discovery_cleared,
        stale.len() as u64
    );
    // What a Home Assistant starting now sees: the current configs only.
    let mut after =
        Subscriber::connect(broker.port, &unique("sub"), &["homeassistant/#"], false).await;
    let now: BTreeSet<String> = after
        .drain(Duration::from_millis(500))
        .await
        .into_iter()
        .map(|m| m.topic)
        .collect();
    let expected: BTreeSet<String> = old
        .iter()
        .filter(|t| !stale.contains(t.as_str()))
        .cloned()
        .chain(published.iter().map(|t| t.to_string()))
        .collect();
    assert_eq!(now, expected);
    second.shutdown(Duration::from_secs(5)).await;
}

#[test]
fn after_a_restart_fresh_values_come_before_online() {
    if !mosquitto_available("after_a_restart_fresh_values_come_before_online") {
        return;
    }
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let mqtt = MqttConfig {
        discovery: false,
        ..Default::default()
    };
    let topics = Topics::new(&mqtt.resolved(Some(dir.path())));
    let rules: vigil_rules::RulesConfig = toml::from_str(
        r#"
[[zone]]
name = "Dock"
points = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
[[rule]]
name = "Intruder"
kind = "intrusion"
zone = "Dock"
"#,
    )
    .unwrap();
    let entities = CameraEntities::from_rules("Front", &rules);

    // The first run sees two people, then dies without a shutdown (its Last Will says offline).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let first = rt.block_on(async { start_alerts(broker.port, dir.path(), mqtt.clone()) });
    first.register_camera(&entities);
    first.finish_registration();
    let mut engine = vigil_rules::RuleEngine::new("Front", &rules, &["person"]).unwrap();
    for i in 0..5 {
        let tracks: Vec<_> = (1..=2)
            .map(|id| {
                person(
                    id,
                    [100.0 * id as f32, 100.0, 100.0 * id as f32 + 40.0, 200.0],
                )
            })
            .collect();
        let ctx = frame(i);
        for e in engine.update(&ctx, &tracks) {
            first.publish_event(&e);
        }
        first.publish_counts("Front", engine.counters(), &engine.occupancy());
    }
    rt.block_on(settled(&first));
    drop(rt);
    drop(first);

    let test_rt = tokio::runtime::Runtime::new().unwrap();
    let zone = topics.zone_occupancy("Front", "Dock");
    let flag = topics.rule_active("Front", "Intruder");
    let mut retained = test_rt.block_on(Subscriber::connect(
        broker.port,
        &unique("sub"),
        &["vigil/#"],
        false,
    ));
    let old = test_rt.block_on(retained.drain(Duration::from_millis(700)));
    let value = |got: &[Received], topic: &str| {
        got.iter()
            .rev()
            .find(|m| m.topic == topic)
            .map(|m| m.text())
            .unwrap_or_default()
    };
    assert!(
        value(&old, &zone).contains("\"count\":2"),
        "{}",
        value(&old, &zone)
    );
    assert_eq!(value(&old, &flag), "ON");
    assert_eq!(value(&old, &topics.availability()), "offline");

    // The second run: the previous run's values are replaced before it says online.
    let mut live = test_rt.block_on(Subscriber::connect(
        broker.port,
        &unique("sub"),
        &["vigil/#"],
        false,
    ));
    test_rt.block_on(async {
        let second = start_alerts(broker.port, dir.path(), mqtt.clone());
        // A slow start (the detector loading): registration comes later than the connection.
        tokio::time::sleep(Duration::from_millis(800)).await;
        second.register_camera(&entities);
        second.finish_registration();
        let got = live
            .collect_until(Duration::from_secs(10), |g| {
                g.iter().any(|m| m.text() == "online")
            })
            .await;
        let online = got.iter().position(|m| m.text() == "online").unwrap();
        let before = &got[..online];
        assert!(
            value(before, &zone).contains("\"count\":0"),
            "zone occupancy 0 before online: {got:?}"
        );
        assert_eq!(value(before, &flag), "OFF", "rule off before online");
        second.shutdown(Duration::from_secs(5)).await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_refusing_the_connection_is_a_health_state_with_a_reason() {
    if !mosquitto_available("a_broker_refusing_the_connection_is_a_health_state_with_a_reason") {
        return;
    }
    // Anonymous clients refused: CONNACK "not authorized".
    let broker = Mosquitto::start_with("allow_anonymous false");
    let dir = tempfile::tempdir().unwrap();
    let alerts = start_alerts(broker.port, dir.path(), MqttConfig::default());
    let t0 = Instant::now();
    let st = loop {
        let st = alerts.status().mqtt.unwrap();
        if st.health == MqttHealth::Refused || t0.elapsed() > Duration::from_secs(10) {
            break st;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(st.health, MqttHealth::Refused, "{st:?}");
    assert!(!st.connected);
    let err = st.last_error.unwrap_or_default();
    assert!(
        err.contains("refused") && err.contains("username and password"),
        "{err}"
    );
    alerts.shutdown(Duration::from_millis(300)).await;
}
