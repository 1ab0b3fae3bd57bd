//! Webhooks against a real HTTP receiver (std TcpListener): signing checked with the openssl command line,
//! retries with backoff, dead letters.

mod common;

use common::*;
use std::time::Duration;
use vigil_alert::{AlertConfig, Alerts, DeadLetter, Secret, Target, WebhookConfig};
use vigil_core::EventPhase;
use vigil_rules::ConfigDuration;

const SECRET: &str = "correct horse battery staple";

fn webhook(url: String, retries: u32, delay_ms: u64) -> WebhookConfig {
    WebhookConfig {
        name: "ops".into(),
        url,
        secret: Some(Secret::new(SECRET)),
        retries,
        retry_delay: ConfigDuration::from_millis(delay_ms),
        timeout: ConfigDuration::from_secs(2),
        ..Default::default()
    }
}

fn config(hooks: Vec<WebhookConfig>) -> AlertConfig {
    AlertConfig {
        webhook: hooks,
        ..Default::default()
    }
}

async fn next_dead(rx: &mut vigil_alert::DeadLetters) -> DeadLetter {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a dead letter in time")
        .expect("channel open")
}

fn verify_signature(r: &Request) {
    let ts = r.header("X-Vigil-Timestamp").expect("timestamp header");
    let sig = r.header("X-Vigil-Signature").expect("signature header");
    let mut signed = ts.as_bytes().to_vec();
    signed.push(b'.');
    signed.extend_from_slice(&r.body);
    let expected = openssl_hmac_hex(SECRET, &signed).expect("openssl runs");
    assert_eq!(sig, format!("sha256={expected}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let t: i64 = ts.parse().unwrap();
    assert!((now - t).abs() <= 5, "timestamp is the time of the try");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_failing_three_times_gets_the_event_once_signed() {
    let rx_http = HttpReceiver::start(|n| if n < 3 { 500 } else { 200 });
    let (alerts, mut dead) =
        Alerts::start(config(vec![webhook(rx_http.url("/hook"), 4, 50)])).unwrap();
    let e = event("Front door", "Dock after hours", EventPhase::Start, 1);
    alerts.publish_event(&e);
    let reqs = rx_http.wait_for(4, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    let reqs_after = rx_http.requests();
    assert_eq!(reqs_after.len(), 4, "3 failures + 1 success, then nothing");
    for r in &reqs {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/hook");
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.header("X-Vigil-Event"), Some(e.id.to_string().as_str()));
        verify_signature(r);
        // The same body each time: the event message JSON.
        assert_eq!(r.body, reqs[0].body);
    }
    let v: serde_json::Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(v["id"], e.id.to_string());
    assert_eq!(v["phase"], "start");
    // Exponential backoff: 50, 100, 200 ms at least between tries.
    for (i, want_ms) in [50u128, 100, 200].iter().enumerate() {
        let gap = reqs[i + 1].at.duration_since(reqs[i].at).as_millis();
        assert!(gap >= *want_ms, "gap {i}: {gap} ms < {want_ms} ms");
    }
    let st = &alerts.status().webhooks[0];
    assert_eq!((st.delivered, st.retried, st.dead), (1, 3, 0), "{st:?}");
    assert!(dead.try_recv().is_err(), "no dead letter");
    let report = alerts.shutdown(Duration::from_secs(2)).await;
    assert!(report.clean);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_always_fails_gives_a_dead_letter_after_the_last_try() {
    let rx_http = HttpReceiver::start(|_| 503);
    let (alerts, mut dead) =
        Alerts::start(config(vec![webhook(rx_http.url("/hook"), 2, 20)])).unwrap();
    let e = event("Yard", "Intruder", EventPhase::End, 7);
    alerts.publish_event(&e);
    let dl = next_dead(&mut dead).await;
    assert_eq!(rx_http.requests().len(), 3, "1 try + 2 retries");
    assert_eq!(dl.target, Target::Webhook);
    assert_eq!(dl.name, "ops");
    assert_eq!(dl.event_id, e.id.to_string());
    assert_eq!((dl.camera.as_str(), dl.rule.as_str()), ("Yard", "Intruder"));
    assert_eq!(dl.phase, EventPhase::End);
    assert_eq!(dl.attempts, 3);
    assert!(dl.error.contains("HTTP 503"), "{}", dl.error);
    assert_eq!(dl.body.as_bytes(), rx_http.requests()[0].body.as_slice());
    assert!(dl.failed_unix_ms >= dl.queued_unix_ms);
    // The dead letter can be persisted as JSON.
    let text = serde_json::to_string(&dl).unwrap();
    assert_eq!(serde_json::from_str::<DeadLetter>(&text).unwrap(), dl);
    let st = &alerts.status().webhooks[0];
    assert_eq!((st.delivered, st.dead), (0, 1));
    alerts.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_final_except_408_and_429() {
    // 400: not retried. 429: retried (then 200).
    let bad = HttpReceiver::start(|_| 400);
    let busy = HttpReceiver::start(|n| if n == 0 { 429 } else { 200 });
    let mut hooks = vec![
        webhook(bad.url("/a"), 3, 20),
        webhook(busy.url("/b"), 3, 20),
    ];
    hooks[1].name = "busy".into();
    let (alerts, mut dead) = Alerts::start(config(hooks)).unwrap();
    alerts.publish_event(&event("Yard", "Intruder", EventPhase::Start, 1));
    let dl = next_dead(&mut dead).await;
    assert_eq!(dl.name, "ops");
    assert_eq!(dl.attempts, 1);
    assert!(dl.error.contains("HTTP 400") && dl.error.contains("not retried"));
    let reqs = busy.wait_for(2, Duration::from_secs(5));
    assert_eq!(reqs.len(), 2);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(bad.requests().len(), 1);
    let st = alerts.status();
    assert_eq!(st.webhooks[1].delivered, 1);
    alerts.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_receiver_is_retried_then_dead_lettered() {
    let port = free_port();
    let (alerts, mut dead) = Alerts::start(config(vec![webhook(
        format!("http://127.0.0.1:{port}/hook?token=T0P"),
        2,
        20,
    )]))
    .unwrap();
    alerts.publish_event(&event("Yard", "Intruder", EventPhase::Start, 1));
    let dl = next_dead(&mut dead).await;
    assert_eq!(dl.attempts, 3);
    assert!(
        !dl.error.contains("T0P"),
        "URL secrets stay out: {}",
        dl.error
    );
    alerts.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_min_interval_pick_what_is_sent() {
    let rx_http = HttpReceiver::start(|_| 200);
    let mut hook = webhook(rx_http.url("/hook"), 0, 20);
    hook.phases = vec![EventPhase::Start, EventPhase::End];
    hook.cameras = vec!["front door".into()]; // names compare without case
    hook.min_interval = ConfigDuration::from_secs(60);
    let (alerts, _dead) = Alerts::start(config(vec![hook])).unwrap();
    let mut sent = Vec::new();
    // Event 1 (front door): start, update, end -> start and end sent.
    // Event 2 (front door, 1 s later): suppressed whole by min_interval.
    // Event 3 (yard): another camera, filtered out.
    for (seq, cam, phase) in [
        (1, "Front door", EventPhase::Start),
        (1, "Front door", EventPhase::Update),
        (2_000, "Front door", EventPhase::Start),
        (1, "Front door", EventPhase::End),
        (2_000, "Front door", EventPhase::End),
        (3, "Yard", EventPhase::Start),
    ] {
        let e = event(cam, "Intruder", phase, seq);
        alerts.publish_event(&e);
        sent.push(e);
    }
    let reqs = rx_http.wait_for(2, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    let reqs = if rx_http.requests().len() > reqs.len() {
        rx_http.requests()
    } else {
        reqs
    };
    let got: Vec<(String, String)> = reqs
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["phase"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let id1 = sent[0].id.to_string();
    assert_eq!(
        got,
        vec![(id1.clone(), "start".into()), (id1, "end".into())],
        "in order, one event"
    );
    let st = &alerts.status().webhooks[0];
    assert_eq!(st.suppressed, 2, "event 2's start and end: {st:?}");
    alerts.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_turns_what_cannot_be_delivered_into_dead_letters() {
    let rx_http = HttpReceiver::start(|_| 500);
    // Long waits between tries: shutdown must not wait for them.
    let (alerts, mut dead) =
        Alerts::start(config(vec![webhook(rx_http.url("/hook"), 5, 10_000)])).unwrap();
    alerts.publish_event(&event("Yard", "Intruder", EventPhase::Start, 1));
    alerts.publish_event(&event("Yard", "Intruder", EventPhase::End, 1));
    rx_http.wait_for(1, Duration::from_secs(5));
    let t0 = std::time::Instant::now();
    let report = alerts.shutdown(Duration::from_millis(300)).await;
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        t0.elapsed()
    );
    assert!(report.clean, "{report:?}");
    let a = next_dead(&mut dead).await;
    let b = next_dead(&mut dead).await;
    assert_eq!((a.phase, b.phase), (EventPhase::Start, EventPhase::End));
    assert!(
        a.error.contains("shutdown") && a.error.contains("HTTP 500"),
        "{}",
        a.error
    );
    assert!(b.error.contains("shutdown"), "{}", b.error);
}
