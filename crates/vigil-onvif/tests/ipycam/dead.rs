//! Dead and silent addresses give clear errors within a bounded time (no ipycam needed).

use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use vigil_onvif::{ClientOptions, Device, DiscoveryOptions, Error, discover};

#[test]
fn nothing_listening_is_unreachable_at_once() {
    // A port that was just free: connection refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/onvif/device_service");
    let started = Instant::now();
    let err = Device::connect(&url, None, &ClientOptions::default()).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().contains(&url) && err.to_string().contains("cannot connect"),
        "{err}"
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
    eprintln!("dead address ({took:?}): {err}");
}

#[test]
fn a_silent_device_times_out_within_the_limit() {
    // Accepts connections (the kernel does, from the backlog) but never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/onvif/device_service",
        listener.local_addr().unwrap()
    );
    let options = ClientOptions {
        timeout: Duration::from_millis(800),
    };
    let started = Instant::now();
    let err = Device::connect(&url, None, &options).unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("no answer within 800 ms"), "{err}");
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(3),
        "took {took:?}"
    );
    eprintln!("silent device ({took:?}): {err}");
    drop(listener);
}

#[test]
fn discovery_of_a_silent_address_ends_at_the_timeout() {
    // A UDP socket that receives the probe and never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let options = DiscoveryOptions::unicast(
        &silent.local_addr().unwrap().to_string(),
        Duration::from_millis(500),
    )
    .unwrap();
    let started = Instant::now();
    let found = discover(&options).expect("discover");
    let took = started.elapsed();
    assert!(found.is_empty());
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(2),
        "took {took:?}"
    );
    let mut buf = [0u8; 4096];
    silent
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let (n, _) = silent.recv_from(&mut buf).expect("the probe arrived");
    let probe = String::from_utf8_lossy(&buf[..n]);
    assert!(
        probe.contains("dn:NetworkVideoTransmitter") && probe.contains("discovery/Probe"),
        "{probe}"
    );
}
