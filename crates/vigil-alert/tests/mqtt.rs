//! MQTT delivery against the machine's Mosquitto (127.0.0.1:1883): event JSON at a real subscriber, Home
//! Assistant discovery, retained state topics, Last Will, clean shutdown.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::time::Duration;
use vigil_alert::{
    AlertConfig, Alerts, CameraEntities, CameraStatus, EventMessage, MqttConfig, Topics,
};
use vigil_core::EventPhase;

fn mqtt_config(prefix: &str, discovery_prefix: &str) -> MqttConfig {
    MqttConfig {
        port: BROKER_PORT,
        client_id: unique("vigil"),
        topic_prefix: prefix.to_string(),
        discovery_prefix: discovery_prefix.to_string(),
        ..Default::default()
    }
}

fn config(mqtt: MqttConfig) -> AlertConfig {
    AlertConfig {
        mqtt: Some(mqtt),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_at_a_real_subscriber_with_the_documented_json() {
    if !broker_available("events_arrive_at_a_real_subscriber_with_the_documented_json") {
        return;
    }
    let prefix = unique("vt");
    let mut mqtt = mqtt_config(&prefix, &unique("ha"));
    mqtt.discovery = false;
    let mut sub = Subscriber::connect(
        BROKER_PORT,
        &unique("sub"),
        &[&format!("{prefix}/events/#")],
        false,
    )
    .await;
    let (alerts, _dead) = Alerts::start(config(mqtt)).unwrap();

    let mut sent = Vec::new();
    for seq in 1..=20u128 {
        let camera = if seq % 2 == 0 { "Front door" } else { "Yard" };
        let phase = match seq % 3 {
            0 => EventPhase::Start,
            1 => EventPhase::Update,
            _ => EventPhase::End,
        };
        let mut e = event(camera, "Dock after hours", phase, seq);
        if seq % 2 == 0 {
            // What the person looked like (issue 13): carried when known, omitted when not.
            e.attributes = vigil_core::Attributes {
                upper_colour: Some(vigil_core::Colour::Red),
                lower_colour: Some(vigil_core::Colour::Black),
                size: Some(0.4),
                direction: Some(vigil_core::Heading::Left),
                zones: vec!["Loading dock".into()],
                ..Default::default()
            };
        }
        alerts.publish_event(&e);
        sent.push(e);
    }
    let got = sub
        .collect_until(Duration::from_secs(10), |g| g.len() >= sent.len())
        .await;
    assert_eq!(got.len(), sent.len(), "not every event arrived");

    for (m, e) in got.iter().zip(&sent) {
        // Same order as published (one connection, one FIFO).
        let expected_topic = format!(
            "{prefix}/events/{}/dock_after_hours",
            vigil_alert::slug(&e.camera)
        );
        assert_eq!(m.topic, expected_topic);
        assert!(!m.retain, "event messages are not retained");
        let v = m.json();
        assert_eq!(v["schema"], 1);
        assert_eq!(v["id"], e.id.to_string());
        assert_eq!(v["camera"], e.camera.as_str());
        assert_eq!(v["rule"], "Dock after hours");
        assert_eq!(v["kind"], "intrusion");
        assert_eq!(v["phase"], vigil_alert::payload::phase_name(e.phase));
        assert_eq!(v["class"], "person");
        assert_eq!(v["object_count"], 1);
        assert_eq!(v["track_ids"][0], e.track_ids[0]);
        assert_eq!(v["zone"], "Loading dock");
        assert!(v["line"].is_null());
        assert_eq!(v["start"]["unix_ms"], e.start.unix_ms);
        assert_eq!(v["start"]["media_90k"], e.start.media.0);
        assert!(v["start"]["utc"].as_str().unwrap().ends_with('Z'));
        assert_eq!(v["end"].is_null(), e.phase != EventPhase::End);
        assert!((v["score"].as_f64().unwrap() - 0.9).abs() < 1e-6);
        assert_eq!(v["best"]["frame_w"], 640);
        assert_eq!(v["description"], e.description.as_str());
        assert!(v.get("snapshot_url").is_some() && v["snapshot_url"].is_null());
        assert!(v["sent_unix_ms"].as_i64().unwrap() > 1_600_000_000_000);
        if e.attributes.is_empty() {
            assert!(v.get("attributes").is_none(), "{v}");
        } else {
            assert_eq!(
                v["attributes"],
                serde_json::json!({"upper_colour": "red", "lower_colour": "black", "size": 0.4,
                                   "direction": "left", "zones": ["Loading dock"]})
            );
        }
        // And it reads back into the documented type.
        let typed: EventMessage = serde_json::from_value(v).unwrap();
        assert_eq!(typed.phase, e.phase);
        assert_eq!(typed.attributes, e.attributes);
    }
    let report = alerts.shutdown(Duration::from_secs(5)).await;
    assert!(report.clean && report.mqtt_unsent == 0, "{report:?}");
    let st = alerts.status().mqtt.unwrap();
    assert_eq!(st.delivered, 20);
    assert_eq!(st.dropped_updates + st.dropped_critical, 0);
}

const HA_REQUIRED: &[&str] = &[
    "name",
    "unique_id",
    "availability_topic",
    "payload_available",
    "payload_not_available",
    "device",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_assistant_discovery_configs_are_retained_and_well_formed() {
    if !broker_available("home_assistant_discovery_configs_are_retained_and_well_formed") {
        return;
    }
    let prefix = unique("vt");
    let dprefix = unique("ha");
    let mqtt = mqtt_config(&prefix, &dprefix);
    let topics = Topics::new(&mqtt);
    let (alerts, _dead) = Alerts::start(AlertConfig {
        mqtt: Some(mqtt),
        links: vigil_alert::LinksConfig {
            ui_url: Some("https://nvr.example:8443/".into()),
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    let cam = CameraEntities {
        camera: "Front door".into(),
        rules: vec![
            vigil_alert::RuleEntity {
                name: "Dock after hours".into(),
                kind: "intrusion".into(),
            },
            vigil_alert::RuleEntity {
                name: "Gate count".into(),
                kind: "line_crossing".into(),
            },
        ],
        lines: vec!["Gate line".into()],
        zones: vec!["Loading dock".into()],
        analysed: true,
        recorded: true,
    };
    alerts.register_camera(&cam.with_health(true));
    alerts.finish_registration();
    alerts.publish_server(&vigil_alert::ServerStatus {
        detector_ms: Some(12.34),
        cpu_percent: 55.55,
        storage_used_bytes: Some(3_000_000_000),
        storage_free_bytes: Some(40_000_000_000),
        cameras_online: 1,
        cameras: 1,
        storage_problems: Vec::new(),
    });
    alerts.publish_camera_status(
        "Front door",
        &CameraStatus {
            online: true,
            fps: 9.97,
            message: None,
        },
    );
    settled(&alerts).await;

    // A subscriber that arrives afterwards gets everything as retained messages.
    let mut sub = Subscriber::connect(
        BROKER_PORT,
        &unique("sub"),
        &[&format!("{dprefix}/#"), &format!("{prefix}/#")],
        false,
    )
    .await;
    let got = sub.drain(Duration::from_millis(700)).await;
    let by_topic: BTreeMap<String, Received> =
        got.iter().map(|m| (m.topic.clone(), m.clone())).collect();
    assert!(
        got.iter().all(|m| m.retain),
        "all state topics are retained"
    );

    let configs: Vec<&Received> = got
        .iter()
        .filter(|m| m.topic.starts_with(&format!("{dprefix}/")))
        .collect();
    let mut components: BTreeMap<String, usize> = BTreeMap::new();
    let mut unique_ids = std::collections::BTreeSet::new();
    for m in &configs {
        let parts: Vec<&str> = m.topic.split('/').collect();
        assert_eq!(parts.len(), 5, "{}", m.topic);
        assert_eq!(parts[2], topics.node());
        assert_eq!(parts[4], "config");
        assert!(
            parts[3]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "object id {}",
            parts[3]
        );
        let component = parts[1];
        *components.entry(component.to_string()).or_default() += 1;
        let v = m.json();
        for key in HA_REQUIRED {
            assert!(v.get(*key).is_some(), "{}: missing {key}", m.topic);
        }
        let device = &v["device"];
        assert!(device["identifiers"][0].is_string());
        assert!(
            device["configuration_url"]
                .as_str()
                .unwrap()
                .starts_with("https://nvr.example:8443/"),
            "{device}"
        );
        assert!(unique_ids.insert(v["unique_id"].as_str().unwrap().to_string()));
        assert_eq!(v["availability_topic"], format!("{prefix}/availability"));
        // Pictures have no state topic: the picture itself is on `topic` / `image_topic`.
        let state_key = match component {
            "camera" => "topic",
            "image" => "image_topic",
            _ => "state_topic",
        };
        let state_topic = v[state_key].as_str().unwrap();
        if component == "camera" || component == "image" || component == "event" {
            // Pictures arrive when taken; crossings are not retained.
            continue;
        }
        if device["name"] == "Front door" {
            assert_eq!(device["via_device"], format!("{}_server", topics.node()));
        }
        let state = by_topic
            .get(state_topic)
            .unwrap_or_else(|| panic!("{}: state topic {state_topic} has no value", m.topic));
        if component == "binary_sensor" || component == "switch" {
            assert_eq!(v["payload_on"], "ON");
            assert_eq!(v["payload_off"], "OFF");
        }
        if component == "switch" {
            assert_eq!(
                v["command_topic"],
                format!("{}/set", state_topic.trim_end_matches("/state"))
            );
            assert_eq!(state.text(), "ON", "switches start on");
        }
        if let Some(tpl) = v.get("value_template").and_then(|t| t.as_str()) {
            // `{{ value_json['<key>'] ... }}` (brackets: `in` is a Jinja keyword): the key exists in
            // the state JSON.
            let key = tpl
                .split("value_json['")
                .nth(1)
                .unwrap_or_else(|| panic!("{tpl}"))
                .split('\'')
                .next()
                .unwrap();
            assert!(state.json().get(key).is_some(), "{tpl} on {}", state.text());
        } else if component == "binary_sensor" {
            assert_eq!(state.text(), "OFF", "rule flags and motion start off");
        }
    }
    // 1 rule sensor + 1 crossing event; 3 line sensors; zone: 1 + person + car; camera: fps, stream,
    // motion, person, car, picture, last event, 2 switches, 9 health problems; server: 5 + storage
    // problem.
    let expected: BTreeMap<String, usize> = [
        ("binary_sensor", 3 + 9 + 1),
        ("event", 1),
        ("sensor", 3 + 3 + 3 + 5),
        ("camera", 1),
        ("image", 1),
        ("switch", 2),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(components, expected, "{:?}", by_topic.keys());
    let rule =
        by_topic[&topics.discovery("binary_sensor", "front_door_rule_dock_after_hours")].json();
    assert_eq!(rule["device_class"], "safety");
    let covered =
        by_topic[&topics.discovery("binary_sensor", "front_door_rule_health_covered")].json();
    assert_eq!(covered["device_class"], "problem");
    assert_eq!(covered["name"], "Covered");
    let storage = by_topic[&topics.discovery("binary_sensor", "server_storage_problem")].json();
    assert_eq!(storage["device_class"], "problem");
    let crossing = by_topic[&topics.discovery("event", "front_door_rule_gate_count")].json();
    assert_eq!(crossing["event_types"], serde_json::json!(["in", "out"]));
    // Same unique ids on every start (stable): computed from client id and names only.
    assert!(unique_ids.contains(&format!(
        "{}_front_door_rule_dock_after_hours",
        topics.node()
    )));
    assert_eq!(by_topic[&format!("{prefix}/availability")].text(), "online");
    let status = by_topic[&topics.camera_status("Front door")].json();
    assert_eq!(status["online"], true);
    // Rounded without float noise: 10, not 9.970000267028809.
    assert_eq!(status["fps"].to_string(), "10.0");
    let server = by_topic[&topics.server()].json();
    assert_eq!(server["cpu_percent"].to_string(), "55.6");
    assert_eq!(server["storage_free_gb"].to_string(), "40.0");

    alerts.shutdown(Duration::from_secs(5)).await;
    let all: Vec<String> = by_topic.keys().cloned().collect();
    clear_retained(BROKER_PORT, &all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_retained_and_sent_only_when_they_change() {
    if !broker_available("counts_are_retained_and_sent_only_when_they_change") {
        return;
    }
    let prefix = unique("vt");
    let mut mqtt = mqtt_config(&prefix, &unique("ha"));
    mqtt.discovery = false;
    let topics = Topics::new(&mqtt);
    let mut sub = Subscriber::connect(
        BROKER_PORT,
        &unique("sub"),
        &[&format!("{prefix}/+/line/#"), &format!("{prefix}/+/zone/#")],
        false,
    )
    .await;
    let (alerts, _dead) = Alerts::start(config(mqtt)).unwrap();

    // Real counters from a real rules engine: one person walks down across the gate line.
    let rules: vigil_rules::RulesConfig = toml::from_str(
        r#"
[[zone]]
name = "Yard"
points = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]
[[line]]
name = "Gate line"
p1 = [0.0, 0.5]
p2 = [1.0, 0.5]
"#,
    )
    .unwrap();
    let mut engine = vigil_rules::RuleEngine::new("Front", &rules, &["person"]).unwrap();
    for i in 0..20 {
        let y = 100.0 + 12.0 * i as f32;
        let track = vigil_core::TrackedObject {
            id: 1,
            bbox: vigil_core::BBox::new(300.0, y - 60.0, 340.0, y),
            score: 0.9,
            class_id: 0,
            age: i,
            matched: true,
        };
        let ctx = vigil_rules::FrameContext {
            time_unix_ms: 1_717_000_000_000 + 100 * i as i64,
            media_time: vigil_core::Time90k(9000 * i as i64),
            frame_w: 640,
            frame_h: 360,
        };
        engine.update(&ctx, &[track]);
        alerts.publish_counts("Front", engine.counters(), &engine.occupancy());
    }
    let got = sub.drain(Duration::from_millis(700)).await;
    let line_msgs: Vec<_> = got
        .iter()
        .filter(|m| m.topic == topics.line_count("Front", "Gate line"))
        .collect();
    let zone_msgs: Vec<_> = got
        .iter()
        .filter(|m| m.topic == topics.zone_occupancy("Front", "Yard"))
        .collect();
    // 20 calls, but the line count changed once (0 -> 1 in) and the zone once (0 -> 1 person); the first
    // value may be coalesced with the change.
    assert!(
        (1..=2).contains(&line_msgs.len()),
        "line messages: {}",
        line_msgs.len()
    );
    assert!(
        (1..=2).contains(&zone_msgs.len()),
        "zone messages: {}",
        zone_msgs.len()
    );
    let last = line_msgs.last().unwrap().json();
    assert_eq!(
        (
            last["in"].as_u64(),
            last["out"].as_u64(),
            last["net"].as_i64()
        ),
        (Some(1), Some(0), Some(1)),
        "{last}"
    );
    assert_eq!(last["by_class"]["person"]["in"], 1);
    assert_eq!(zone_msgs.last().unwrap().json()["count"], 1);
    alerts.shutdown(Duration::from_secs(5)).await;
    clear_retained(
        BROKER_PORT,
        &[
            topics.line_count("Front", "Gate line"),
            topics.zone_occupancy("Front", "Yard"),
            topics.availability(),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_shutdown_flushes_everything_then_says_offline() {
    if !broker_available("clean_shutdown_flushes_everything_then_says_offline") {
        return;
    }
    let prefix = unique("vt");
    let mut mqtt = mqtt_config(&prefix, &unique("ha"));
    mqtt.discovery = false;
    let mut sub = Subscriber::connect(
        BROKER_PORT,
        &unique("sub"),
        &[
            &format!("{prefix}/events/#"),
            &format!("{prefix}/availability"),
        ],
        false,
    )
    .await;
    let (alerts, _dead) = Alerts::start(config(mqtt)).unwrap();
    for seq in 1..=300u128 {
        alerts.publish_event(&event("Yard", "Intruder", EventPhase::Start, seq));
    }
    // Shut down at once: everything queued must still go out, then `offline`.
    let report = alerts.shutdown(Duration::from_secs(10)).await;
    assert!(report.clean, "{report:?}");
    assert_eq!((report.mqtt_unsent, report.mqtt_states_unsent), (0, 0));
    let got = sub
        .collect_until(Duration::from_secs(10), |g| {
            g.last().is_some_and(|m| m.text() == "offline")
        })
        .await;
    let events = got.iter().filter(|m| m.topic.contains("/events/")).count();
    assert_eq!(events, 300);
    assert_eq!(got.last().unwrap().topic, format!("{prefix}/availability"));
    // Publishing after shutdown is refused quietly.
    alerts.publish_event(&event("Yard", "Intruder", EventPhase::Start, 999));
    assert_eq!(alerts.status().mqtt.unwrap().delivered, 300);
    clear_retained(BROKER_PORT, &[format!("{prefix}/availability")]).await;
}

#[test]
fn last_will_says_offline_when_the_process_dies() {
    if !broker_available("last_will_says_offline_when_the_process_dies") {
        return;
    }
    let prefix = unique("vt");
    let mut mqtt = mqtt_config(&prefix, &unique("ha"));
    mqtt.discovery = false;
    let avail = format!("{prefix}/availability");
    let test_rt = tokio::runtime::Runtime::new().unwrap();
    let mut sub = test_rt.block_on(Subscriber::connect(
        BROKER_PORT,
        &unique("sub"),
        &[&avail],
        false,
    ));

    // Vigil in its own runtime, which is then dropped without a shutdown: the socket closes without
    // DISCONNECT, as when the process is killed.
    let vigil_rt = tokio::runtime::Runtime::new().unwrap();
    let (alerts, _dead) = vigil_rt.block_on(async { Alerts::start(config(mqtt)).unwrap() });
    alerts.finish_registration();
    let online = test_rt.block_on(sub.collect_until(Duration::from_secs(10), |g| {
        g.iter().any(|m| m.text() == "online")
    }));
    assert!(online.iter().any(|m| m.text() == "online"));
    drop(vigil_rt);
    drop(alerts);
    let offline = test_rt.block_on(sub.collect_until(Duration::from_secs(10), |g| {
        g.iter().any(|m| m.text() == "offline")
    }));
    assert!(
        offline.iter().any(|m| m.text() == "offline"),
        "the broker published the Last Will"
    );
    test_rt.block_on(clear_retained(BROKER_PORT, &[avail]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_buffers_and_reports_the_error() {
    let port = free_port();
    let mqtt = MqttConfig {
        port,
        client_id: unique("vigil"),
        buffer: 5,
        ..Default::default()
    };
    let (alerts, _dead) = Alerts::start(config(mqtt)).unwrap();
    for seq in 1..=3u128 {
        alerts.publish_event(&event("Yard", "Intruder", EventPhase::Start, seq));
    }
    for seq in 4..=10u128 {
        alerts.publish_event(&event("Yard", "Intruder", EventPhase::Update, seq));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let st = alerts.status().mqtt.unwrap();
    assert!(!st.connected);
    assert_eq!(st.queued, 5);
    assert_eq!(st.dropped_updates, 5, "{st:?}");
    assert_eq!(st.dropped_critical, 0);
    let err = st.last_error.unwrap();
    assert!(err.to_lowercase().contains("refused"), "{err}");
    let report = alerts.shutdown(Duration::from_millis(300)).await;
    assert_eq!(report.mqtt_unsent, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_is_published_again_when_home_assistant_restarts() {
    if !broker_available("discovery_is_published_again_when_home_assistant_restarts") {
        return;
    }
    let prefix = unique("vt");
    let dprefix = unique("ha");
    let mqtt = mqtt_config(&prefix, &dprefix);
    let topics = Topics::new(&mqtt);
    let mut sub = Subscriber::connect(
        BROKER_PORT,
        &unique("sub"),
        &[&format!("{dprefix}/binary_sensor/#")],
        false,
    )
    .await;
    let (alerts, _dead) = Alerts::start(config(mqtt)).unwrap();
    alerts.register_camera(&CameraEntities {
        camera: "Yard".into(),
        rules: vec!["Intruder".into()],
        ..Default::default()
    });
    let first = sub
        .collect_until(Duration::from_secs(10), |g| g.len() >= 2)
        .await;
    assert_eq!(first.len(), 2, "rule and connectivity binary sensors");
    assert!(sub.drain(Duration::from_millis(300)).await.is_empty());

    // Home Assistant's birth message: everything comes again.
    let ha = Subscriber::connect(BROKER_PORT, &unique("ha"), &[&topics.ha_status()], false).await;
    ha.client
        .publish(
            topics.ha_status(),
            rumqttc::QoS::AtLeastOnce,
            false,
            "online",
        )
        .await
        .unwrap();
    let again = sub
        .collect_until(Duration::from_secs(10), |g| g.len() >= 2)
        .await;
    let mut a: Vec<_> = first.iter().map(|m| m.topic.clone()).collect();
    let mut b: Vec<_> = again.iter().map(|m| m.topic.clone()).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    alerts.shutdown(Duration::from_secs(5)).await;
    let mut all = a;
    all.push(topics.availability());
    all.push(topics.rule_active("Yard", "Intruder"));
    clear_retained(BROKER_PORT, &all).await;
}

/// The retained value of `topic`, as a subscriber arriving now sees it.
async fn retained(topic: &str) -> String {
    String::from_utf8_lossy(&retained_on(BROKER_PORT, topic).await).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_per_object_rule_stays_on_until_its_last_person_leaves() {
    if !broker_available("a_per_object_rule_stays_on_until_its_last_person_leaves") {
        return;
    }
    let prefix = unique("vt");
    let mut mqtt = mqtt_config(&prefix, &unique("ha"));
    mqtt.discovery = false;
    let topics = Topics::new(&mqtt);
    let flag = topics.rule_active("Front", "Yard entry");
    let (alerts, _dead) = Alerts::start(config(mqtt)).unwrap();

    // A real rules engine: two people walk into the yard (one event each), then leave one after the other.
    let rules: vigil_rules::RulesConfig = toml::from_str(
        r#"
[[zone]]
name = "Yard"
points = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]
[[rule]]
name = "Yard entry"
kind = "intrusion"
zone = "Yard"
cooldown = "1s"
"#,
    )
    .unwrap();
    let mut engine = vigil_rules::RuleEngine::new("Front", &rules, &["person"]).unwrap();
    let mut frame = 0i64;
    let mut step = |people: &[(u64, f32)]| {
        let tracks: Vec<_> = people
            .iter()
            .map(|&(id, y)| vigil_core::TrackedObject {
                id,
                bbox: vigil_core::BBox::new(
                    100.0 * id as f32,
                    y - 60.0,
                    100.0 * id as f32 + 40.0,
                    y,
                ),
                score: 0.9,
                class_id: 0,
                age: 10,
                matched: true,
            })
            .collect();
        let ctx = vigil_rules::FrameContext {
            time_unix_ms: 1_717_000_000_000 + 100 * frame,
            media_time: vigil_core::Time90k(9000 * frame),
            frame_w: 640,
            frame_h: 360,
        };
        frame += 1;
        let events = engine.update(&ctx, &tracks);
        for e in &events {
            alerts.publish_event(e);
        }
        events
    };
    let mut events = Vec::new();
    for _ in 0..30 {
        events.extend(step(&[(1, 300.0), (2, 320.0)]));
    }
    // Person 1 walks out of the yard; person 2 stays past person 1's cooldown.
    for _ in 0..30 {
        events.extend(step(&[(1, 100.0), (2, 320.0)]));
    }
    let starts: Vec<_> = events
        .iter()
        .filter(|e| e.phase == EventPhase::Start)
        .collect();
    assert_eq!(starts.len(), 2, "one event per person");
    let ends: Vec<_> = events
        .iter()
        .filter(|e| e.phase == EventPhase::End)
        .collect();
    assert_eq!(ends.len(), 1, "person 1's event ended");
    assert_eq!(ends[0].track_ids, [1]);
    settled(&alerts).await;
    assert_eq!(retained(&flag).await, "ON", "person 2 is still in the yard");
    // The attributes describe person 2's open event, not person 1's ended one.
    let attributes: serde_json::Value =
        serde_json::from_str(&retained(&topics.rule_event("Front", "Yard entry")).await).unwrap();
    assert_eq!(
        attributes["track_ids"],
        serde_json::json!([2]),
        "{attributes}"
    );
    assert_ne!(attributes["phase"], "end", "{attributes}");

    for _ in 0..30 {
        events.extend(step(&[(1, 100.0), (2, 100.0)]));
    }
    assert_eq!(
        events.iter().filter(|e| e.phase == EventPhase::End).count(),
        2
    );
    settled(&alerts).await;
    assert_eq!(retained(&flag).await, "OFF", "everyone has left");
    let attributes: serde_json::Value =
        serde_json::from_str(&retained(&topics.rule_event("Front", "Yard entry")).await).unwrap();
    assert_eq!(
        attributes["phase"], "end",
        "the last event, ended: {attributes}"
    );

    alerts.shutdown(Duration::from_secs(5)).await;
    clear_retained(
        BROKER_PORT,
        &[
            flag,
            topics.rule_event("Front", "Yard entry"),
            topics.availability(),
        ],
    )
    .await;
}
