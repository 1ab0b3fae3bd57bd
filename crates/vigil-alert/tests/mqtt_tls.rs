//! MQTT over TLS (feature `mqtt-tls`) against a private Mosquitto with a TLS listener and a certificate
//! authority made by the openssl command line for the test.
//! Run: `cargo test -p vigil-alert --features mqtt-tls --test mqtt_tls`.
#![cfg(feature = "mqtt-tls")]

mod common;

use common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vigil_alert::{AlertConfig, Alerts, MqttConfig};
use vigil_core::EventPhase;

fn openssl(dir: &std::path::Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

struct TlsBroker {
    plain: u16,
    tls: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_broker() -> Option<TlsBroker> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(p.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
    let ok = openssl(
        p,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=vigil-test-ca",
        ],
    ) && openssl(
        p,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    ) && openssl(
        p,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
    if !ok {
        eprintln!("SKIP mqtt_tls: openssl could not make the test certificates");
        return None;
    }
    for f in ["ca.crt", "server.crt", "server.key"] {
        std::fs::set_permissions(p.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let (plain, tls) = (free_port(), free_port());
    std::fs::write(
        p.join("mosquitto.conf"),
        format!(
            "per_listener_settings false\nallow_anonymous true\nlistener {plain} 127.0.0.1\n\
             listener {tls} 127.0.0.1\ncafile {d}/ca.crt\ncertfile {d}/server.crt\n\
             keyfile {d}/server.key\n",
            d = p.display()
        ),
    )
    .unwrap();
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(p.join("mosquitto.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let end = Instant::now() + Duration::from_secs(10);
    while !(port_open(plain) && port_open(tls)) {
        assert!(Instant::now() < end, "TLS mosquitto did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(TlsBroker {
        plain,
        tls,
        dir,
        child,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_go_through_a_tls_listener_verified_with_the_ca_file() {
    if !mosquitto_available("events_go_through_a_tls_listener_verified_with_the_ca_file") {
        return;
    }
    let Some(broker) = tls_broker() else { return };
    let prefix = unique("vtls");
    let mut sub = Subscriber::connect(
        broker.plain,
        &unique("sub"),
        &[&format!("{prefix}/events/#")],
        false,
    )
    .await;
    let (alerts, _dead) = Alerts::start(AlertConfig {
        mqtt: Some(MqttConfig {
            host: "localhost".into(),
            port: broker.tls,
            client_id: unique("vigil"),
            topic_prefix: prefix.clone(),
            discovery: false,
            tls: true,
            ca_file: Some(broker.dir.path().join("ca.crt")),
            ..Default::default()
        }),
        ..Default::default()
    })
    .unwrap();
    alerts.publish_event(&event("Yard", "Intruder", EventPhase::Start, 1));
    let got = sub
        .collect_until(Duration::from_secs(10), |g| !g.is_empty())
        .await;
    assert_eq!(got.len(), 1, "{:?}", alerts.status().mqtt);
    assert_eq!(got[0].json()["phase"], "start");
    alerts.shutdown(Duration::from_secs(5)).await;

    // A CA that did not sign the broker's certificate: no connection, a clear error.
    let other = broker.dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    assert!(openssl(
        &other,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=someone-else",
        ],
    ));
    let (alerts, _dead) = Alerts::start(AlertConfig {
        mqtt: Some(MqttConfig {
            host: "localhost".into(),
            port: broker.tls,
            client_id: unique("vigil"),
            topic_prefix: prefix,
            discovery: false,
            tls: true,
            ca_file: Some(other.join("ca.crt")),
            ..Default::default()
        }),
        ..Default::default()
    })
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let st = alerts.status().mqtt.unwrap();
    assert!(!st.connected);
    let err = st.last_error.unwrap_or_default();
    assert!(
        err.contains("TLS") || err.to_lowercase().contains("certificate"),
        "{err}"
    );
    alerts.shutdown(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_ca_file_is_an_error_naming_the_file() {
    let rt_result = Alerts::start(AlertConfig {
        mqtt: Some(MqttConfig {
            tls: true,
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        }),
        ..Default::default()
    });
    let e = rt_result.err().unwrap().to_string();
    assert!(
        e.contains("/nonexistent/ca.pem") && e.starts_with("mqtt:"),
        "{e}"
    );
}
