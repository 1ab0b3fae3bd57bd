//! Helpers for the RTSP ingest tests: skip checks, event collection, a pausable TCP proxy and log capture.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use vigil_core::EncodedFrame;
use vigil_media::rtsp::{Discontinuity, StreamEvent, StreamHandle, StreamStatus};
use vigil_media::test_server::{RtspTestServer, shared_footage};

/// The footage directory, or `None` after printing why the test is skipped.
pub fn footage_or_skip(test: &str) -> Option<PathBuf> {
    let Some(footage) = shared_footage() else {
        eprintln!("SKIP {test}: ../shared/footage is absent");
        return None;
    };
    if let Err(err) = RtspTestServer::check_available() {
        eprintln!("SKIP {test}: {err}");
        return None;
    }
    install_log_capture();
    Some(footage)
}

/// Events received so far, split by kind, in order.
#[derive(Default, Debug)]
pub struct Received {
    pub frames: Vec<EncodedFrame>,
    pub discontinuities: Vec<(usize, Discontinuity)>,
}

impl Received {
    fn push(&mut self, event: StreamEvent) {
        match event {
            StreamEvent::Frame(frame) => self.frames.push(frame),
            StreamEvent::Discontinuity(d) => self.discontinuities.push((self.frames.len(), d)),
        }
    }
}

/// Receives events into `received` until `done` says so or `timeout` passes; returns whether `done` was
/// reached.
pub async fn collect_until(
    rx: &mut mpsc::Receiver<StreamEvent>,
    received: &mut Received,
    timeout: Duration,
    mut done: impl FnMut(&Received) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while !done(received) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(event)) => received.push(event),
            Ok(None) | Err(_) => return done(received),
        }
    }
    true
}

/// Polls `handle`'s status until `cond` holds or `timeout` passes, draining `rx` meanwhile so the
/// supervisor is never held up by the test; returns the last status.
pub async fn wait_status(
    handle: &StreamHandle,
    rx: &mut mpsc::Receiver<StreamEvent>,
    received: &mut Received,
    timeout: Duration,
    cond: impl Fn(&StreamStatus) -> bool,
) -> (bool, StreamStatus) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let status = handle.status();
        if cond(&status) {
            return (true, status);
        }
        if tokio::time::Instant::now() >= deadline {
            return (false, status);
        }
        if let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(50), rx.recv()).await {
            received.push(event);
        }
    }
}

/// Checks that `data` is a sequence of 4-byte big-endian length-prefixed NAL units covering it exactly;
/// returns the NAL unit headers' first bytes.
pub fn nal_units(data: &[u8]) -> Vec<u8> {
    let mut headers = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        assert!(rest.len() >= 4, "truncated length prefix");
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        assert!(len > 0 && 4 + len <= rest.len(), "bad NAL length {len}");
        headers.push(rest[4]);
        rest = &rest[4 + len..];
    }
    headers
}

/// A TCP proxy in front of the RTSP server whose current connections can be frozen: frozen connections
/// stay open but stop forwarding server data (a camera that hangs without closing). Connections made
/// after the freeze flow normally.
pub struct FreezableProxy {
    pub port: u16,
    next_id: Arc<AtomicU64>,
    frozen_below: Arc<AtomicU64>,
}

impl FreezableProxy {
    pub async fn start(upstream_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let next_id = Arc::new(AtomicU64::new(0));
        let frozen_below = Arc::new(AtomicU64::new(0));
        let (ids, frozen) = (next_id.clone(), frozen_below.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let id = ids.fetch_add(1, Ordering::SeqCst);
                let frozen = frozen.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let upstream = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                    });
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        if id < frozen.load(Ordering::SeqCst) {
                            // Frozen: hold the connection open, forward nothing.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                        let n = match server_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    upstream.abort();
                });
            }
        });
        Self {
            port,
            next_id,
            frozen_below,
        }
    }

    /// Freezes every connection open now.
    pub fn freeze_current(&self) {
        self.frozen_below
            .store(self.next_id.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.next_id.load(Ordering::SeqCst)
    }
}

/// Everything logged in this test process, through `tracing` (Vigil) and `log` (retina), at every level.
pub fn captured_logs() -> String {
    log_buffer().lock().unwrap().clone()
}

fn log_buffer() -> &'static Mutex<String> {
    static BUFFER: OnceLock<Mutex<String>> = OnceLock::new();
    BUFFER.get_or_init(|| Mutex::new(String::new()))
}

struct BufferWriter;

impl std::io::Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        log_buffer()
            .lock()
            .unwrap()
            .push_str(&String::from_utf8_lossy(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct LogCapture;

impl log::Log for LogCapture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = format!(
            "{} {}: {}\n",
            record.level(),
            record.target(),
            record.args()
        );
        log_buffer().lock().unwrap().push_str(&line);
    }

    fn flush(&self) {}
}

/// Routes all `tracing` events (TRACE and up) and all `log` records into the capture buffer, once per
/// process.
pub fn install_log_capture() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(|| BufferWriter)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        if log::set_logger(&LogCapture).is_ok() {
            log::set_max_level(log::LevelFilter::Trace);
        }
    });
}
