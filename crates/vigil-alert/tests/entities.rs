//! What Home Assistant's entities read and write, against a private Mosquitto: switch commands that turn
//! detection and recording off and on (reported back, kept across restarts, bad payloads refused), line
//! crossings as instant events, the motion sensor's hold, objects in view, pictures.

mod common;

use common::*;
use std::time::{Duration, Instant};
use vigil_alert::{CameraEntities, MqttConfig, Switch, Topics};
use vigil_core::EventPhase;
use vigil_rules::ConfigDuration;

fn camera(name: &str) -> CameraEntities {
    CameraEntities {
        camera: name.into(),
        analysed: true,
        recorded: true,
        ..Default::default()
    }
}

async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(5), "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_commands_turn_detection_and_recording_off_and_on_and_are_kept() {
    if !mosquitto_available("switch_commands_turn_detection_and_recording_off_and_on_and_are_kept")
    {
        return;
    }
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let alerts = start_alerts(broker.port, dir.path(), MqttConfig::default());
    let topics = Topics::new(&MqttConfig::default().resolved(Some(dir.path())));
    alerts.register_camera(&camera("Front door"));
    alerts.finish_registration();
    let controls = alerts.controls("Front door");
    assert!(controls.detection() && controls.recording());
    settled(&alerts).await;
    let state = topics.switch_state("Front door", Switch::Detection);
    assert_eq!(retained_on(broker.port, &state).await, b"ON");

    // What Home Assistant sends when the switch is turned off.
    let ha = Subscriber::connect(broker.port, &unique("ha"), &["unused/#"], false).await;
    let command = topics.switch_command("Front door", Switch::Detection);
    ha.client
        .publish(&command, rumqttc::QoS::AtLeastOnce, false, "OFF")
        .await
        .unwrap();
    wait_for("detection off", || !controls.detection()).await;
    assert!(controls.recording(), "only the switch commanded");
    settled(&alerts).await;
    assert_eq!(
        retained_on(broker.port, &state).await,
        b"OFF",
        "reported back"
    );

    // Nonsense and unknown cameras change nothing; an unknown switch is not even listened to.
    for (topic, payload) in [
        (format!("{}/front_door/lights/set", topics.prefix()), "ON"),
        (command.clone(), "maybe"),
        (topics.switch_command("Nowhere", Switch::Detection), "ON"),
    ] {
        ha.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }
    wait_for("two more commands", || {
        alerts.status().mqtt.unwrap().commands == 3
    })
    .await;
    assert!(!controls.detection());
    assert_eq!(
        retained_on(broker.port, &state).await,
        b"OFF",
        "still off after nonsense"
    );

    let recording = topics.switch_command("Front door", Switch::Recording);
    ha.client
        .publish(&recording, rumqttc::QoS::AtLeastOnce, false, "OFF")
        .await
        .unwrap();
    wait_for("recording off", || !controls.recording()).await;
    alerts.shutdown(Duration::from_secs(5)).await;

    // A restart keeps both positions and says so at once.
    let again = start_alerts(broker.port, dir.path(), MqttConfig::default());
    let controls = again.controls("Front door");
    assert!(!controls.detection() && !controls.recording());
    again.register_camera(&camera("Front door"));
    again.finish_registration();
    settled(&again).await;
    assert_eq!(retained_on(broker.port, &state).await, b"OFF");
    ha.client
        .publish(&command, rumqttc::QoS::AtLeastOnce, false, "ON")
        .await
        .unwrap();
    wait_for("detection back on", || controls.detection()).await;
    settled(&again).await;
    assert_eq!(retained_on(broker.port, &state).await, b"ON");
    again.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_crossings_are_instant_events_one_per_crossing() {
    if !mosquitto_available("line_crossings_are_instant_events_one_per_crossing") {
        return;
    }
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let alerts = start_alerts(broker.port, dir.path(), MqttConfig::default());
    let topics = Topics::new(&MqttConfig::default().resolved(Some(dir.path())));
    let rules: vigil_rules::RulesConfig = toml::from_str(
        r#"
[[line]]
name = "Gate line"
p1 = [0.0, 0.5]
p2 = [1.0, 0.5]
[[rule]]
name = "Gate crossing"
kind = "line_crossing"
line = "Gate line"
"#,
    )
    .unwrap();
    alerts.register_camera(&CameraEntities::from_rules("Front", &rules));
    alerts.finish_registration();
    settled(&alerts).await;
    let crossing = topics.rule_crossing("Front", "Gate crossing");
    let mut sub = Subscriber::connect(broker.port, &unique("sub"), &[&crossing], false).await;

    // Three people walk down across the line one after the other, then one walks back up.
    let mut engine = vigil_rules::RuleEngine::new("Front", &rules, &["person"]).unwrap();
    let mut n = 0i64;
    let mut events = Vec::new();
    let mut walk = |id: u64, down: bool| {
        for i in 0..20 {
            let y = if down {
                60.0 + 15.0 * i as f32
            } else {
                345.0 - 15.0 * i as f32
            };
            let track = person(id, [300.0, y - 50.0, 340.0, y]);
            let ctx = frame(n);
            n += 1;
            for e in engine.update(&ctx, &[track]) {
                alerts.publish_event(&e);
                events.push(e);
            }
        }
    };
    for id in 1..=3 {
        walk(id, true);
    }
    walk(4, false);
    let starts = events
        .iter()
        .filter(|e| e.phase == EventPhase::Start)
        .count();
    assert_eq!(starts, 4, "the rules engine saw four crossings");
    let got = sub
        .collect_until(Duration::from_secs(5), |g| g.len() >= 4)
        .await;
    assert!(
        sub.drain(Duration::from_millis(300)).await.is_empty(),
        "no more"
    );
    let types: Vec<String> = got
        .iter()
        .map(|m| m.json()["event_type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, ["in", "in", "in", "out"], "a_to_b (down) is in");
    assert!(got.iter().all(|m| !m.retain), "an instant is not retained");
    let first = got[0].json();
    assert_eq!(first["class"], "person");
    assert_eq!(first["line"], "Gate line");
    assert_eq!(first["count"], 1);
    alerts.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn motion_holds_objects_in_view_and_pictures_are_retained() {
    if !mosquitto_available("motion_holds_objects_in_view_and_pictures_are_retained") {
        return;
    }
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let mqtt = MqttConfig {
        motion_off_delay: ConfigDuration::from_millis(2000),
        ..Default::default()
    };
    let topics = Topics::new(&mqtt.resolved(Some(dir.path())));
    let alerts = start_alerts(broker.port, dir.path(), mqtt);
    alerts.register_camera(&camera("Yard"));
    alerts.finish_registration();
    settled(&alerts).await;
    let motion = topics.camera_motion("Yard");
    assert_eq!(retained_on(broker.port, &motion).await, b"OFF");

    let mut sub = Subscriber::connect(broker.port, &unique("sub"), &[&motion], false).await;
    let _ = sub.drain(Duration::from_millis(300)).await;
    // Motion in one frame, then none: on at once, off only after the hold, and no flicker between.
    let t0 = Instant::now();
    alerts.publish_motion("Yard", true);
    while t0.elapsed() < Duration::from_millis(4500) {
        alerts.publish_motion("Yard", false);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = sub.drain(Duration::from_millis(300)).await;
    let texts: Vec<String> = got.iter().map(|m| m.text()).collect();
    assert_eq!(texts, ["ON", "OFF"]);
    let held = got[1].at.duration_since(got[0].at);
    assert!(
        // 2 s, with room for a loaded machine's delays on either message.
        held >= Duration::from_millis(1500) && held < Duration::from_millis(3500),
        "held {held:?}"
    );

    let by_class = [("person".to_string(), 2), ("car".to_string(), 1)]
        .into_iter()
        .collect();
    alerts.publish_occupancy("Yard", &by_class);
    let jpeg: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    alerts.publish_snapshot("Yard", &jpeg);
    alerts.publish_event_snapshot("Yard", &jpeg[..1000]);
    settled(&alerts).await;
    let occupancy: serde_json::Value =
        serde_json::from_slice(&retained_on(broker.port, &topics.camera_occupancy("Yard")).await)
            .unwrap();
    assert_eq!(occupancy["count"], 3);
    assert_eq!(occupancy["by_class"]["person"], 2);
    assert_eq!(
        retained_on(broker.port, &topics.camera_snapshot("Yard")).await,
        jpeg
    );
    assert_eq!(
        retained_on(broker.port, &topics.event_snapshot("Yard")).await,
        &jpeg[..1000]
    );
    alerts.shutdown(Duration::from_secs(5)).await;
}
