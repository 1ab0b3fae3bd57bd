//! Real peers for the tests: the machine's Mosquitto on 1883, private Mosquitto instances the test starts
//! and kills, a rumqttc subscriber, and a tiny HTTP receiver on a std TcpListener.
#![allow(dead_code)]

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use vigil_core::{
    BBox, BestObject, ClassCount, Event as VEvent, EventId, EventKind, EventPhase, EventTime,
    Time90k,
};

pub const BROKER_PORT: u16 = 1883;

pub fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .is_ok()
}

/// True when the shared broker is up; prints a visible SKIP otherwise.
pub fn broker_available(test: &str) -> bool {
    if port_open(BROKER_PORT) {
        true
    } else {
        eprintln!(
            "SKIP {test}: no MQTT broker on 127.0.0.1:{BROKER_PORT} (start it with dev/services)"
        );
        false
    }
}

/// True when the mosquitto program exists; prints a visible SKIP otherwise.
pub fn mosquitto_available(test: &str) -> bool {
    let ok = Command::new("mosquitto")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        eprintln!("SKIP {test}: the mosquitto program is not installed");
    }
    ok
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this test run (topic prefixes, client ids).
pub fn unique(base: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 1_000_000_000;
    format!("{base}{}x{t}x{n}", std::process::id())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An event message as the rules engine makes them; `seq` makes the id.
pub fn event(camera: &str, rule: &str, phase: EventPhase, seq: u128) -> VEvent {
    let t = EventTime {
        unix_ms: 1_717_000_000_000 + seq as i64,
        media: Time90k(90 * seq as i64),
    };
    VEvent {
        attributes: Default::default(),
        id: EventId::from_parts(1_717_000_000_000, seq),
        camera: camera.into(),
        rule: rule.into(),
        kind: EventKind::Intrusion,
        phase,
        class_name: "person".into(),
        objects: vec![ClassCount {
            class_name: "person".into(),
            class_id: 0,
            count: 1,
        }],
        track_ids: vec![seq as u64],
        zone: Some("Loading dock".into()),
        line: None,
        start: t,
        last: t,
        end: (phase == EventPhase::End).then_some(t),
        best: Some(BestObject {
            track_id: seq as u64,
            score: 0.9,
            bbox: BBox::new(10.0, 20.0, 50.0, 120.0),
            frame_w: 640,
            frame_h: 360,
            time: t,
        }),
        description: format!("A person entered Loading dock ({seq})"),
    }
}

/// One message received by a subscriber.
#[derive(Debug, Clone)]
pub struct Received {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or_else(|e| {
            panic!(
                "{}: not JSON ({e}): {}",
                self.topic,
                String::from_utf8_lossy(&self.payload)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// A rumqttc subscriber polled on its own task; messages come out of `rx`.
pub struct Subscriber {
    pub client: AsyncClient,
    pub rx: mpsc::UnboundedReceiver<Received>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    /// Connects and subscribes (QoS 1); returns once the broker acknowledged the subscription.
    /// `persistent`: a session that survives disconnections (clean_session = false).
    pub async fn connect(port: u16, id: &str, filters: &[&str], persistent: bool) -> Self {
        let mut opts = MqttOptions::new(id, "127.0.0.1", port);
        opts.set_clean_session(!persistent);
        opts.set_keep_alive(Duration::from_secs(5));
        opts.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(opts, 100);
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
        let subs: Vec<String> = filters.iter().map(|s| s.to_string()).collect();
        let sub_client = client.clone();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        if !ack.session_present {
                            let filters = subs.iter().map(|f| {
                                rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce)
                            });
                            let _ = sub_client.try_subscribe_many(filters);
                        } else {
                            let _ = ready_tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send(Received {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                            at: Instant::now(),
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx.recv())
            .await
            .expect("subscriber connected and subscribed");
        Self { client, rx, task }
    }

    /// Collects messages until `done` says so or `timeout` passes.
    pub async fn collect_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&[Received]) -> bool,
    ) -> Vec<Received> {
        let mut got = Vec::new();
        let end = Instant::now() + timeout;
        while !done(&got) {
            let left = end.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.rx.recv()).await {
                Ok(Some(m)) => got.push(m),
                _ => break,
            }
        }
        got
    }

    /// Messages arriving within `quiet` of each other, stopping at the first gap.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Received> {
        let mut got = Vec::new();
        while let Ok(Some(m)) = tokio::time::timeout(quiet, self.rx.recv()).await {
            got.push(m);
        }
        got
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Clears retained topics on the shared broker (publishes empty retained payloads).
pub async fn clear_retained(port: u16, topics: &[String]) {
    let mut opts = MqttOptions::new(unique("clear"), "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = AsyncClient::new(opts, topics.len() + 10);
    for t in topics {
        let _ = client.try_publish(t.clone(), QoS::AtLeastOnce, true, Vec::<u8>::new());
    }
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => break,
                _ => {}
            }
        }
    })
    .await;
}

/// A private Mosquitto on its own port, with persistence so subscriber sessions survive restarts.
pub struct Mosquitto {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Mosquitto {
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// A private Mosquitto with `extra` configuration lines (`allow_anonymous false`...), which take
    /// precedence over the defaults here.
    pub fn start_with(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Mosquitto started as root drops to its own user: let it write its database here.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let port = free_port();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\n{}\npersistence true\n\
                 persistence_location {}/\nautosave_interval 1\nautosave_on_changes true\n\
                 log_dest stderr\nmax_queued_messages 100000\n{extra}\n",
                if extra.contains("allow_anonymous") {
                    ""
                } else {
                    "allow_anonymous true"
                },
                dir.path().display()
            ),
        )
        .unwrap();
        let mut m = Self {
            port,
            dir,
            child: None,
        };
        m.launch();
        m
    }

    fn launch(&mut self) {
        let conf = self.dir.path().join("mosquitto.conf");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("mosquitto.log"))
            .unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mosquitto runs");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(10);
        while !port_open(self.port) {
            assert!(
                Instant::now() < end,
                "mosquitto did not open port {}: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Stops the broker with a signal (`TERM`: saves its database; `KILL`: does not) and waits for it.
    pub fn stop(&mut self, signal: &str) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
        assert!(!port_open(self.port), "port still open after stopping");
    }

    /// Freezes the broker (SIGSTOP): it keeps its sockets open but reads and acknowledges nothing.
    pub fn freeze(&mut self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .arg("-STOP")
                .arg(child.id().to_string())
                .status();
        }
    }

    pub fn restart(&mut self) {
        self.launch();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One HTTP request received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.1 server on a std TcpListener answering each request with the status `respond(n)` gives
/// for the n-th request (0-based), recording every request.
pub struct HttpReceiver {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl HttpReceiver {
    pub fn start(respond: impl Fn(usize) -> u16 + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let reqs = requests.clone();
        let respond = Arc::new(respond);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let reqs = reqs.clone();
                let respond = respond.clone();
                std::thread::spawn(move || serve(stream, &reqs, &*respond));
            }
        });
        Self { port, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let end = Instant::now() + timeout;
        loop {
            let r = self.requests();
            if r.len() >= n || Instant::now() > end {
                return r;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn serve(stream: TcpStream, reqs: &Mutex<Vec<Request>>, respond: &(dyn Fn(usize) -> u16 + Sync)) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_string(), v.trim().to_string());
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.parse().unwrap_or(0);
                }
                headers.push((k, v));
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let n = {
            let mut r = reqs.lock().unwrap();
            r.push(Request {
                method,
                path,
                headers,
                body,
                at: Instant::now(),
            });
            r.len() - 1
        };
        let status = respond(n);
        let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok");
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// HMAC-SHA256 with the openssl command line (independent of the crate's implementation).
pub fn openssl_hmac_hex(key: &str, data: &[u8]) -> Option<String> {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", key])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(data).ok()?;
    let out = child.wait_with_output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.rsplit("= ").next()?.trim().to_string())
}

/// Log lines of this test binary: a global tracing subscriber writing into memory (tests filter by what
/// they own: their client id, their camera names).
pub fn capture_logs() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| LogWriter)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line captured so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// Alerts publishing with `mqtt` to the broker on `port`, the installation's data in `data_dir`.
pub fn start_alerts(
    port: u16,
    data_dir: &std::path::Path,
    mqtt: vigil_alert::MqttConfig,
) -> vigil_alert::AlertHandle {
    let (alerts, _dead) = vigil_alert::Alerts::start(vigil_alert::AlertConfig {
        mqtt: Some(vigil_alert::MqttConfig { port, ..mqtt }),
        data_dir: Some(data_dir.to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    alerts
}

/// Waits until the broker has every message and state topic the handle holds.
pub async fn settled(alerts: &vigil_alert::AlertHandle) {
    let t0 = Instant::now();
    loop {
        let st = alerts.status().mqtt.unwrap();
        if st.connected && st.states_pending == 0 && st.inflight == 0 && st.queued == 0 {
            return;
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "{st:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The retained value of `topic` on the broker at `port`, as a subscriber arriving now sees it (empty when
/// there is none).
pub async fn retained_on(port: u16, topic: &str) -> Vec<u8> {
    let mut sub = Subscriber::connect(port, &unique("sub"), &[topic], false).await;
    sub.collect_until(Duration::from_secs(3), |g| !g.is_empty())
        .await
        .pop()
        .map(|m| m.payload)
        .unwrap_or_default()
}

/// A confirmed person track with box `[x1, y1, x2, y2]` (pixels of a 640x360 frame).
pub fn person(id: u64, b: [f32; 4]) -> vigil_core::TrackedObject {
    vigil_core::TrackedObject {
        id,
        bbox: BBox::new(b[0], b[1], b[2], b[3]),
        score: 0.9,
        class_id: 0,
        age: 10,
        matched: true,
    }
}

/// The context of analysed frame `i` of a 640x360 camera at 10 fps.
pub fn frame(i: i64) -> vigil_rules::FrameContext {
    vigil_rules::FrameContext {
        time_unix_ms: 1_717_000_000_000 + 100 * i,
        media_time: Time90k(9000 * i),
        frame_w: 640,
        frame_h: 360,
    }
}
