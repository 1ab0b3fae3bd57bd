//! Deterrence outputs against real peers: an HTTP device (std TcpListener) and Mosquitto.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::time::Duration;
use vigil_alert::{
    AlertConfig, Alerts, HttpAction, MqttAction, MqttConfig, OutputConfig, Secret, Target,
};
use vigil_core::EventPhase;
use vigil_rules::ConfigDuration;

fn light(device: &HttpReceiver) -> OutputConfig {
    OutputConfig {
        name: "Dock floodlight".into(),
        rules: vec!["Dock after hours".into()],
        min_interval: ConfigDuration::from_secs(60),
        http: Some(HttpAction {
            method: "PUT".into(),
            url: device.url("/relay/0?on=1&cam={camera}"),
            body: r#"{"on": true, "why": "{description}", "event": "{event_id}"}"#.into(),
            headers: BTreeMap::from([("Authorization".to_string(), Secret::new("Bearer abc"))]),
        }),
        reset_http: Some(HttpAction {
            url: device.url("/relay/0?on=0"),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_light_turns_on_at_start_and_off_when_every_event_is_over() {
    let device = HttpReceiver::start(|_| 200);
    let (alerts, _dead) = Alerts::start(AlertConfig {
        output: vec![light(&device)],
        ..Default::default()
    })
    .unwrap();
    let rule = "Dock after hours";
    // Two cameras see intruders at once; the light goes on once and off when both are over.
    let mut a = event("Front door", rule, EventPhase::Start, 1);
    a.description = "A \"person\" entered".into();
    let b = event("Yard", rule, EventPhase::Start, 2);
    alerts.publish_event(&a);
    alerts.publish_event(&b);
    alerts.publish_event(&event("Front door", rule, EventPhase::Update, 1));
    alerts.publish_event(&event("Yard", "Other rule", EventPhase::Start, 3));
    alerts.publish_event(&event("Front door", rule, EventPhase::End, 1));
    let reqs = device.wait_for(1, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        device.requests().len(),
        1,
        "on once; not off while Yard is open"
    );
    let on = &reqs[0];
    assert_eq!(on.method, "PUT");
    assert_eq!(on.path, "/relay/0?on=1&cam=Front%20door");
    assert_eq!(on.header("Authorization"), Some("Bearer abc"));
    let body: serde_json::Value = serde_json::from_slice(&on.body).unwrap();
    assert_eq!(body["on"], true);
    assert_eq!(body["why"], "A \"person\" entered");
    assert_eq!(body["event"], a.id.to_string());

    alerts.publish_event(&event("Yard", rule, EventPhase::End, 2));
    let reqs = device.wait_for(2, Duration::from_secs(5));
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[1].method, "POST");
    assert_eq!(reqs[1].path, "/relay/0?on=0");

    // A new intruder 2 s later (event time): within min_interval, the light stays off.
    alerts.publish_event(&event("Yard", rule, EventPhase::Start, 2_000));
    // 61 s later: on again.
    alerts.publish_event(&event("Yard", rule, EventPhase::Start, 61_000));
    let reqs = device.wait_for(3, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(device.requests().len(), 3);
    assert!(reqs[2].path.starts_with("/relay/0?on=1"));
    let st = &alerts.status().outputs[0];
    assert_eq!(
        (st.triggered, st.reset, st.suppressed, st.delivered),
        (2, 1, 1, 3),
        "{st:?}"
    );
    alerts.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_device_gives_a_dead_letter_within_max_delay() {
    let port = free_port();
    let out = OutputConfig {
        name: "Siren".into(),
        rules: vec!["Intruder".into()],
        max_delay: ConfigDuration::from_millis(1500),
        http: Some(HttpAction {
            url: format!("http://127.0.0.1:{port}/siren"),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (alerts, mut dead) = Alerts::start(AlertConfig {
        output: vec![out],
        ..Default::default()
    })
    .unwrap();
    let t0 = std::time::Instant::now();
    alerts.publish_event(&event("Yard", "Intruder", EventPhase::Start, 1));
    let dl = tokio::time::timeout(Duration::from_secs(5), dead.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert_eq!(dl.target, Target::Output);
    assert_eq!(dl.name, "Siren");
    assert_eq!(dl.attempts, 3, "1 try + 2 retries: {}", dl.error);
    assert_eq!(alerts.status().outputs[0].failed, 1);
    alerts.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt_siren_gets_its_message_and_its_reset() {
    if !broker_available("an_mqtt_siren_gets_its_message_and_its_reset") {
        return;
    }
    let topic = format!("{}/siren/set", unique("z2m"));
    let mut sub = Subscriber::connect(BROKER_PORT, &unique("sub"), &[&topic], false).await;
    let out = OutputConfig {
        name: "Siren".into(),
        rules: vec!["Intruder".into()],
        cameras: vec!["Yard".into()],
        mqtt: Some(MqttAction {
            topic: topic.clone(),
            payload: r#"{"warning":{"mode":"burglar"},"camera":"{camera}"}"#.into(),
            retain: false,
        }),
        reset_mqtt: Some(MqttAction {
            topic: topic.clone(),
            payload: r#"{"warning":{"mode":"stop"}}"#.into(),
            retain: false,
        }),
        ..Default::default()
    };
    let (alerts, _dead) = Alerts::start(AlertConfig {
        mqtt: Some(MqttConfig {
            port: BROKER_PORT,
            client_id: unique("vigil"),
            topic_prefix: unique("vt"),
            discovery: false,
            ..Default::default()
        }),
        output: vec![out],
        ..Default::default()
    })
    .unwrap();
    alerts.publish_event(&event("Front", "Intruder", EventPhase::Start, 1)); // other camera
    alerts.publish_event(&event("Yard", "Intruder", EventPhase::Start, 2));
    alerts.publish_event(&event("Yard", "Intruder", EventPhase::End, 2));
    let got = sub
        .collect_until(Duration::from_secs(10), |g| g.len() >= 2)
        .await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].json()["warning"]["mode"], "burglar");
    assert_eq!(got[0].json()["camera"], "Yard");
    assert_eq!(got[1].json()["warning"]["mode"], "stop");
    assert!(sub.drain(Duration::from_millis(300)).await.is_empty());
    alerts.shutdown(Duration::from_secs(5)).await;
}
