//! Misbehaving peers: a server that dies and comes back, a connection that hangs, a refused port, a wrong
//! path, wrong credentials. The supervisor must report, back off, recover by itself, never panic, and never
//! leak the password.

use crate::common::*;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use vigil_core::config::{Credentials, Secret};
use vigil_media::rtsp::{
    DiscontinuityReason, IngestOptions, StreamSource, StreamState, spawn_stream,
};
use vigil_media::test_server::{Mount, RtspTestServer};

fn options() -> IngestOptions {
    IngestOptions {
        stall_timeout: Duration::from_secs(3),
        backoff_initial: Duration::from_millis(250),
        backoff_max: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(5),
        ..IngestOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_by_itself_when_the_server_comes_back() {
    let Some(footage) = footage_or_skip("reconnects_by_itself") else {
        return;
    };
    let file = footage.join("intel/classroom.mp4"); // 45 frames at 15 fps, looped to 60 s
    let mut server = RtspTestServer::start(&[Mount::new("room", &file).looped(20)]).unwrap();
    let port = server.port();
    let (tx, mut rx) = mpsc::channel(64);
    let handle = spawn_stream(
        StreamSource::new("room", server.url("room"), None),
        options(),
        tx,
    );
    let mut received = Received::default();
    assert!(
        collect_until(&mut rx, &mut received, Duration::from_secs(15), |r| r
            .frames
            .len()
            >= 20)
        .await
    );

    server.stop();
    let killed = Instant::now();
    let (down, status) = wait_status(
        &handle,
        &mut rx,
        &mut received,
        Duration::from_secs(10),
        |s| matches!(s.state, StreamState::Backoff { .. }) && s.last_error.is_some(),
    )
    .await;
    assert!(down, "{status:?}");
    // The server stays down ~6 s; the supervisor keeps retrying (refused) meanwhile.
    tokio::time::sleep(Duration::from_secs(6).saturating_sub(killed.elapsed())).await;
    let while_down = handle.status();
    assert!(while_down.reconnects >= 2, "{while_down:?}");
    assert_eq!(while_down.sessions, 1);
    let frames_before = received.frames.len();

    server.restart().unwrap();
    assert_eq!(server.port(), port);
    let (up, status) = wait_status(
        &handle,
        &mut rx,
        &mut received,
        Duration::from_secs(15),
        |s| s.sessions == 2 && s.state == StreamState::Connected,
    )
    .await;
    assert!(up, "{status:?}");
    assert!(
        collect_until(&mut rx, &mut received, Duration::from_secs(15), |r| {
            r.frames.len() >= frames_before + 20
        })
        .await
    );
    // The new session is announced before its first frame, which is a key frame.
    let (at, second) = received
        .discontinuities
        .iter()
        .find(|(_, d)| d.session == 2)
        .cloned()
        .expect("a NewSession discontinuity for session 2");
    assert_eq!(second.reason, DiscontinuityReason::NewSession);
    assert!(received.frames[at].is_key);
    let status = handle.status();
    assert!(status.reconnects >= 2, "{status:?}");
    assert!(status.last_error.is_some());
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchdog_reconnects_a_stalled_stream() {
    let Some(footage) = footage_or_skip("watchdog_reconnects") else {
        return;
    };
    let file = footage.join("intel/classroom.mp4");
    let server = RtspTestServer::start(&[Mount::new("room", &file).looped(20)]).unwrap();
    let proxy = FreezableProxy::start(server.port()).await;
    let url = url::Url::parse(&format!("rtsp://127.0.0.1:{}/room", proxy.port)).unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let handle = spawn_stream(StreamSource::new("room", url, None), options(), tx);
    let mut received = Received::default();
    assert!(
        collect_until(&mut rx, &mut received, Duration::from_secs(15), |r| r
            .frames
            .len()
            >= 15)
        .await
    );

    // The connection stays open but no more data comes through.
    proxy.freeze_current();
    let frozen_at = Instant::now();
    let (fired, status) = wait_status(
        &handle,
        &mut rx,
        &mut received,
        Duration::from_secs(10),
        |s| s.reconnects >= 1,
    )
    .await;
    assert!(fired, "{status:?}");
    let waited = frozen_at.elapsed();
    assert!(
        waited >= Duration::from_millis(2500),
        "watchdog fired after {waited:?}"
    );
    let error = status.last_error.clone().unwrap();
    assert!(error.contains("no frames for 3s"), "{error}");
    assert!(
        error.contains(&format!("127.0.0.1:{}/room", proxy.port)),
        "{error}"
    );

    // A fresh connection through the proxy flows again.
    let frames_before = received.frames.len();
    assert!(
        collect_until(&mut rx, &mut received, Duration::from_secs(15), |r| {
            r.frames.len() >= frames_before + 15
        })
        .await
    );
    assert!(proxy.connections() >= 2);
    assert_eq!(handle.status().sessions, 2);
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connection_is_reported_and_retried_with_backoff() {
    install_log_capture();
    // A port nobody listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = url::Url::parse(&format!("rtsp://127.0.0.1:{port}/nothing")).unwrap();
    let (tx, mut rx) = mpsc::channel(8);
    let handle = spawn_stream(StreamSource::new("nothing", url, None), options(), tx);
    let mut received = Received::default();
    let (retried, status) = wait_status(
        &handle,
        &mut rx,
        &mut received,
        Duration::from_secs(10),
        |s| s.reconnects >= 3,
    )
    .await;
    assert!(retried, "{status:?}");
    let error = status.last_error.clone().unwrap();
    assert!(
        error.contains(&format!("rtsp://127.0.0.1:{port}/nothing")),
        "{error}"
    );
    assert!(error.contains("DESCRIBE failed"), "{error}");
    assert!(error.to_lowercase().contains("refused"), "{error}");
    assert_eq!(status.frames, 0);
    assert_eq!(status.sessions, 0);
    assert!(received.frames.is_empty() && received.discontinuities.is_empty());
    // Stopping while in backoff ends the supervisor promptly.
    let stopping = Instant::now();
    handle.stop().await;
    assert!(stopping.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_path_gives_a_clear_error() {
    let Some(footage) = footage_or_skip("unknown_path") else {
        return;
    };
    let server =
        RtspTestServer::start(&[Mount::new("room", footage.join("intel/classroom.mp4"))]).unwrap();
    let (tx, mut rx) = mpsc::channel(8);
    let handle = spawn_stream(
        StreamSource::new("typo", server.url("rooom"), None),
        options(),
        tx,
    );
    let mut received = Received::default();
    let (failed, status) = wait_status(
        &handle,
        &mut rx,
        &mut received,
        Duration::from_secs(10),
        |s| s.last_error.is_some(),
    )
    .await;
    assert!(failed, "{status:?}");
    let error = status.last_error.unwrap();
    assert!(error.contains("/rooom: DESCRIBE failed"), "{error}");
    assert!(error.contains("404"), "{error}");
    assert!(matches!(
        status.state,
        StreamState::Backoff { .. } | StreamState::Connecting
    ));
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_authenticate_and_the_password_never_leaks() {
    let Some(footage) = footage_or_skip("credentials") else {
        return;
    };
    const PASSWORD: &str = "Zebra-Quartz-4471";
    let server = RtspTestServer::start_with_auth(
        &[Mount::new("room", footage.join("intel/classroom.mp4")).looped(10)],
        "vigil",
        PASSWORD,
    )
    .unwrap();

    // Right credentials (given separately): frames flow.
    let creds = Credentials {
        username: "vigil".into(),
        password: Secret::new(PASSWORD),
    };
    let (tx, mut rx) = mpsc::channel(64);
    let good = spawn_stream(
        StreamSource::new("good", server.url("room"), Some(creds)),
        options(),
        tx,
    );
    let mut received = Received::default();
    assert!(
        collect_until(&mut rx, &mut received, Duration::from_secs(15), |r| r
            .frames
            .len()
            >= 10)
        .await
    );

    // Right credentials inside the URL: moved out of it, still authenticate.
    let mut embedded = server.url("room");
    embedded.set_username("vigil").unwrap();
    embedded.set_password(Some(PASSWORD)).unwrap();
    let source = StreamSource::new("embedded", embedded, None);
    assert!(!format!("{source:?}").contains(PASSWORD));
    let (tx2, mut rx2) = mpsc::channel(64);
    let in_url = spawn_stream(source, options(), tx2);
    let mut received2 = Received::default();
    assert!(
        collect_until(&mut rx2, &mut received2, Duration::from_secs(15), |r| r
            .frames
            .len()
            >= 10)
        .await
    );

    // Wrong password: a clear 401, retried, no frames.
    let wrong = Credentials {
        username: "vigil".into(),
        password: Secret::new(format!("{PASSWORD}-wrong")),
    };
    let (tx3, mut rx3) = mpsc::channel(8);
    let bad = spawn_stream(
        StreamSource::new("bad", server.url("room"), Some(wrong)),
        options(),
        tx3,
    );
    let mut received3 = Received::default();
    let (failed, status) = wait_status(
        &bad,
        &mut rx3,
        &mut received3,
        Duration::from_secs(10),
        |s| s.reconnects >= 1,
    )
    .await;
    assert!(failed, "{status:?}");
    let error = status.last_error.clone().unwrap();
    assert!(error.contains("401"), "{error}");
    assert_eq!(status.frames, 0);

    let statuses = format!(
        "{:?} {:?} {:?}",
        good.status(),
        in_url.status(),
        bad.status()
    );
    good.stop().await;
    in_url.stop().await;
    bad.stop().await;
    let logs = captured_logs();
    assert!(
        logs.contains("playing"),
        "log capture works: {}",
        &logs[..logs.len().min(2000)]
    );
    assert!(logs.contains("401"), "the failure is logged");
    for text in [&logs, &statuses] {
        assert!(!text.contains(PASSWORD), "password leaked");
    }
}
