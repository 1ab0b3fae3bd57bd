//! Live video over a real WebSocket (tungstenite over rustls) from a real HTTPS server, fed by a camera's
//! live hub replaying footage: what a viewer receives plays (ffmpeg decodes every frame), the route checks
//! authentication and camera scope, the audit log names who watched; and the web UI's files are served.

use crate::common::{self, Auth, PASSWORD, Session, TestServer, agent_trusting};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vigil_bus::{EventBus, EventMessage, Message as BusMessage, Overflow};
use vigil_core::{Event, EventId, EventKind, EventPhase, EventTime, Time90k};
use vigil_mp4::live_hub::live_channel;
use vigil_server::{
    AppContext, EventFeed, LiveStreams, Policy, Security, Server, ServerOptions, StatusSource,
    SystemStatus, WebAssets,
};

const CAM: &str = "cam-a";

struct OneCamera;

impl StatusSource for OneCamera {
    fn status(&self) -> SystemStatus {
        SystemStatus {
            cameras: ["cam-a", "cam-b"]
                .iter()
                .map(|n| vigil_server::CameraHealth {
                    name: n.to_string(),
                    online: true,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}

/// A server whose `cam-a` replays the car footage into its live hub (at 4x real time, looping) until
/// the returned flag is set.
pub(crate) fn start(video: &Path) -> (TestServer, Arc<AtomicBool>) {
    start_with(video, Vec::new())
}

/// [`start`] with origins allowed besides the server's own.
pub(crate) fn start_with(
    video: &Path,
    allowed_origins: Vec<String>,
) -> (TestServer, Arc<AtomicBool>) {
    let (s, stop, _, _) = start_with_events(video, allowed_origins);
    (s, stop)
}

/// [`start_with`], with a live event feed fed by the returned event bus, and overlays fed by the
/// returned sender (`cam-a` has a zone and a line).
fn start_with_events(
    video: &Path,
    allowed_origins: Vec<String>,
) -> (
    TestServer,
    Arc<AtomicBool>,
    EventBus,
    vigil_bus::OverlaySender,
) {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let security = Arc::new(Security::open_in(dir.path(), Policy::default()).unwrap());
    let setup_token = security.new_setup_token().unwrap();
    let (mut publisher, hub) = live_channel(CAM);
    let stop = Arc::new(AtomicBool::new(false));
    let frames = vigil_media::demux::demux_file(video).unwrap();
    let flag = stop.clone();
    std::thread::spawn(move || {
        let span = frames.duration().0;
        let mut offset = 0;
        while !flag.load(Ordering::Relaxed) {
            for f in &frames.frames {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let mut f = f.clone();
                f.pts.0 += offset;
                publisher.publish(&f);
                std::thread::sleep(Duration::from_millis(20));
            }
            offset += span;
        }
    });
    let mut ctx = AppContext::new(security, None, Arc::new(OneCamera), dir.path());
    ctx.live = Some(Arc::new(LiveStreams::new([hub])));
    ctx.assets = Some(Arc::new(WebAssets));
    let bus = EventBus::new();
    ctx.events_feed = {
        let _enter = runtime.enter();
        Some(EventFeed::start(bus.subscribe(
            "live-ui",
            64,
            1 << 20,
            Overflow::DropOldest,
        )))
    };
    let overlay = vigil_bus::overlay_channel();
    ctx.overlays = Some(vigil_server::overlay::Overlays {
        frames: overlay.clone(),
        geometry: Arc::new(
            [(
                CAM.to_string(),
                json!({"zones": [{"name": "Dock", "points": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}],
                       "lines": [{"name": "Gate", "p1": [0.2, 0.6], "p2": [0.8, 0.6], "inbound": "a_to_b"}],
                       "masks": []}),
            )]
            .into_iter()
            .collect(),
        ),
    });
    ctx.allowed_origins = allowed_origins;
    let ctx = Arc::new(ctx);
    let mut options = ServerOptions::from_config(&Default::default(), dir.path()).unwrap();
    options.listen = "127.0.0.1:0".parse().unwrap();
    let cert = options.tls.as_ref().unwrap().cert.clone();
    let server = runtime
        .block_on(Server::start(ctx.clone(), options))
        .unwrap();
    let url = server.url();
    let s = TestServer {
        agent: agent_trusting(&cert),
        dir,
        runtime,
        server: Some(server),
        ctx,
        url,
        setup_token,
        recorded: false,
        events: Vec::new(),
    };
    (s, stop, bus, overlay)
}

/// A live WebSocket over TLS.
pub(crate) type LiveSocket =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// The server's own origin, as a browser on its page sends it.
pub(crate) fn own_origin(s: &TestServer) -> String {
    format!("https://{}", s.server.as_ref().unwrap().addr())
}

/// Opens the live WebSocket of `camera` as a browser on the server's own page would (the session's
/// cookie and the page's `Origin`); the HTTP status when the upgrade is refused.
async fn connect(
    s: &TestServer,
    camera: &str,
    session: Option<&Session>,
) -> Result<LiveSocket, u16> {
    connect_path(s, &format!("/api/cameras/{camera}/live"), session).await
}

/// Opens a WebSocket on `path` from the server's own origin, with `session`'s cookie; the HTTP status
/// when the upgrade is refused.
async fn connect_path(
    s: &TestServer,
    path: &str,
    session: Option<&Session>,
) -> Result<LiveSocket, u16> {
    let mut headers = vec![("origin", own_origin(s))];
    if let Some(session) = session {
        headers.push(("cookie", format!("vigil_session={}", session.cookie)));
    }
    upgrade_path(s, path, &headers).await
}

/// Opens the live WebSocket of `camera` with exactly these extra request headers; the HTTP status
/// when the upgrade is refused.
pub(crate) async fn upgrade(
    s: &TestServer,
    camera: &str,
    headers: &[(&'static str, String)],
) -> Result<LiveSocket, u16> {
    upgrade_path(s, &format!("/api/cameras/{camera}/live"), headers).await
}

/// Opens a WebSocket on `path` with exactly these extra request headers; the HTTP status when the
/// upgrade is refused.
pub(crate) async fn upgrade_path(
    s: &TestServer,
    path: &str,
    headers: &[(&'static str, String)],
) -> Result<LiveSocket, u16> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem = std::fs::read(s.dir.path().join("tls/cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(&pem).unwrap())
        .unwrap();
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let addr = s.server.as_ref().unwrap().addr();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(ServerName::IpAddress(addr.ip().into()), tcp)
        .await
        .unwrap();
    let mut req = format!("wss://{addr}{path}").into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(*k, v.parse().unwrap());
    }
    match tokio_tungstenite::client_async(req, stream).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("websocket: {e}"),
    }
}

pub(crate) fn admin(s: &TestServer) -> Session {
    let token = s.setup_token.clone().unwrap();
    let r = s.call(
        "POST",
        "/api/setup",
        &Auth::None,
        Some(json!({"token": token, "username": "admin", "password": PASSWORD})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    s.login("admin", PASSWORD)
}

#[test]
fn a_viewer_receives_playable_live_video_and_is_audited() {
    let Some(video) = common::footage("intel/car-detection.mp4") else {
        return;
    };
    let (s, stop) = start(&video);
    let admin = admin(&s);
    let scoped = s.user(&admin, "bob", "viewer", json!({"cameras": ["cam-b"]}));

    let (mime, stream, media) = s.runtime.block_on(async {
        // Refused before the upgrade: nobody logged in, and a user scoped to another camera.
        assert_eq!(connect(&s, CAM, None).await.err(), Some(401));
        let refused = connect(&s, CAM, Some(&scoped)).await.err();
        assert!(matches!(refused, Some(403 | 404)), "{refused:?}");

        // A camera that does not exist: a clean 404, no upgrade.
        assert_eq!(connect(&s, "nope", Some(&admin)).await.err(), Some(404));

        let mut ws = connect(&s, CAM, Some(&admin)).await.unwrap();
        let mut mime = None;
        let mut stream = Vec::new();
        let mut media = 0;
        while media < 40 {
            let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
                .await
                .expect("live segments keep coming")
                .unwrap()
                .unwrap();
            match msg {
                Message::Text(t) => {
                    assert!(mime.is_none(), "one mime message, before the data");
                    let v: Value = serde_json::from_str(&t).unwrap();
                    mime = Some(v["mime"].as_str().unwrap().to_string());
                }
                Message::Binary(b) => {
                    assert!(mime.is_some(), "the mime message comes first");
                    if stream.is_empty() {
                        assert_eq!(&b[4..8], b"ftyp", "the init segment comes next");
                    } else {
                        assert_eq!(&b[4..8], b"prft");
                        media += 1;
                    }
                    stream.extend_from_slice(&b);
                }
                _ => {}
            }
        }
        ws.close(None).await.unwrap();
        (mime.unwrap(), stream, media)
    });
    stop.store(true, Ordering::Relaxed);
    assert!(mime.starts_with("video/mp4; codecs=\"avc1."), "{mime}");

    // What arrived plays: every frame decodes, from a key frame.
    let file = s.dir.path().join("live.mp4");
    std::fs::write(&file, &stream).unwrap();
    let frames = vigil_media::test_server::frame_md5s(&file).unwrap().len();
    assert_eq!(frames, media);

    // The audit log names who watched which camera.
    let r = s.call("GET", "/api/audit?limit=100", &Auth::Session(admin), None);
    let entries = r.json()["entries"].as_array().unwrap().clone();
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "live.view" && e["user"] == "admin" && e["target"] == CAM),
        "{entries:?}"
    );
}

#[test]
fn the_web_ui_is_served_from_the_binary() {
    let Some(video) = common::footage("intel/car-detection.mp4") else {
        return;
    };
    let (s, stop) = start(&video);
    stop.store(true, Ordering::Relaxed);
    let r = s.call("GET", "/", &Auth::None, None);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.text().contains("/assets/app.js"));
    let r = s.call("GET", "/assets/views/camera.js", &Auth::None, None);
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(
        r.body,
        include_bytes!("../../../../web/assets/views/camera.js")
    );
    assert_eq!(
        s.call("GET", "/assets/nope.js", &Auth::None, None).status,
        404
    );
    let r = s.call("GET", "/assets/..%2fCargo.toml", &Auth::None, None);
    assert!((400..500).contains(&r.status), "{}", r.status);
}

/// Reads the live socket until it closes; the close code, or `None` when it is still open after
/// `within` (frames keep coming) or ended without a close frame.
pub(crate) async fn close_code<S>(ws: &mut S, within: Duration) -> Option<u16>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return None,
        }
    }
}

#[test]
fn an_open_live_stream_closes_when_its_session_ends_or_the_user_is_disabled() {
    let Some(video) = common::footage("intel/car-detection.mp4") else {
        return;
    };
    let (s, stop) = start(&video);
    let admin = admin(&s);
    let viewer = s.user(&admin, "vera", "viewer", json!({}));
    let other = s.user(&admin, "otto", "viewer", json!({}));
    let recheck = vigil_server::RECHECK_EVERY + Duration::from_secs(3);

    // Logged out: the stream that was already open stops.
    let mut ws = s.runtime.block_on(connect(&s, CAM, Some(&viewer))).unwrap();
    // Still open and streaming a while later while the session is valid.
    assert_eq!(s.runtime.block_on(close_code(&mut ws, recheck)), None);
    let r = s.call("POST", "/api/logout", &Auth::Session(viewer), None);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        s.runtime.block_on(close_code(&mut ws, recheck)),
        Some(vigil_server::CLOSE_ACCESS_ENDED)
    );

    // A user disabled by an admin: the same.
    let mut ws = s.runtime.block_on(connect(&s, CAM, Some(&other))).unwrap();
    let users = s.call("GET", "/api/users", &Auth::Session(admin.clone()), None);
    let id = users
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "otto")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = s.call(
        "PATCH",
        &format!("/api/users/{id}"),
        &Auth::Session(admin),
        Some(json!({"disabled": true})),
    );
    assert!(r.status < 300, "{} {}", r.status, r.text());
    assert_eq!(
        s.runtime.block_on(close_code(&mut ws, recheck)),
        Some(vigil_server::CLOSE_ACCESS_ENDED)
    );
    stop.store(true, Ordering::Relaxed);
}

fn event(camera: &str, n: u128, phase: EventPhase) -> Event {
    let at = EventTime {
        unix_ms: 1_700_000_000_000,
        media: Time90k(0),
    };
    Event {
        attributes: Default::default(),
        id: EventId::from_parts(1_700_000_000_000, n),
        camera: camera.into(),
        rule: "door".into(),
        kind: EventKind::Intrusion,
        phase,
        class_name: "person".into(),
        objects: Vec::new(),
        track_ids: vec![1],
        zone: Some("door".into()),
        line: None,
        start: at,
        last: at,
        end: (phase == EventPhase::End).then_some(at),
        best: None,
        description: format!("person at the door of {camera}"),
    }
}

/// The next text message of a socket, as JSON.
async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    match tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("an event arrives")
        .unwrap()
        .unwrap()
    {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("unexpected {other:?}"),
    }
}

/// Events reach browsers the moment the rules raise them, each viewer only those of the cameras they
/// see (and biometric ones only to the `faces` permission), and the socket is refused to anyone without
/// the events permission.
#[test]
fn events_are_pushed_as_they_happen_to_those_who_see_their_camera() {
    let Some(video) = common::footage("intel/car-detection.mp4") else {
        return;
    };
    let (s, stop, bus, _) = start_with_events(&video, Vec::new());
    stop.store(true, Ordering::Relaxed);
    let admin = admin(&s);
    let scoped = s.user(&admin, "bob", "viewer", json!({"cameras": ["cam-b"]}));
    let operator = s.user(&admin, "olga", "operator", json!({}));
    let auditor = s.user(&admin, "audrey", "auditor", json!({}));
    s.runtime.block_on(async {
        assert_eq!(
            connect_path(&s, "/api/events/live", None).await.err(),
            Some(401)
        );
        assert_eq!(
            connect_path(&s, "/api/events/live", Some(&auditor))
                .await
                .err(),
            Some(403)
        );
        // A page on another site cannot ride an operator's cookie (cross-site WebSocket hijacking).
        let foreign = vec![
            ("origin", "https://evil.example".to_string()),
            ("cookie", format!("vigil_session={}", admin.cookie)),
        ];
        assert_eq!(
            upgrade_path(&s, "/api/events/live", &foreign).await.err(),
            Some(403)
        );
        let mut all = connect_path(&s, "/api/events/live", Some(&admin))
            .await
            .unwrap();
        let mut only_b = connect_path(&s, "/api/events/live", Some(&scoped))
            .await
            .unwrap();
        let mut no_faces = connect_path(&s, "/api/events/live", Some(&operator))
            .await
            .unwrap();
        // The sockets are subscribed once the upgrade is answered; give the server a moment to start
        // their loops, then raise events on both cameras.
        tokio::time::sleep(Duration::from_millis(200)).await;
        for (n, cam) in [(1, "cam-a"), (2, "cam-b")] {
            bus.publish(BusMessage::Event(Arc::new(EventMessage {
                event: event(cam, n, EventPhase::Start),
                snapshot: None,
            })));
        }
        bus.publish(BusMessage::Event(Arc::new(EventMessage {
            event: event("cam-b", 2, EventPhase::End),
            snapshot: None,
        })));
        let a = next_json(&mut all).await;
        let b = next_json(&mut all).await;
        assert_eq!(
            (a["camera"].as_str(), a["phase"].as_str()),
            (Some("cam-a"), Some("start"))
        );
        assert_eq!(
            (b["camera"].as_str(), b["phase"].as_str()),
            (Some("cam-b"), Some("start"))
        );
        assert_eq!(b["description"], "person at the door of cam-b");
        let first = next_json(&mut only_b).await;
        assert_eq!(first["camera"], "cam-b", "cam-a's event is not sent to bob");
        let end = next_json(&mut only_b).await;
        assert_eq!(
            (end["phase"].as_str(), end["open"].as_bool()),
            (Some("end"), Some(false))
        );

        // A face recognised: to the admin (faces permission), not to the operator, who gets the
        // intrusion that follows it.
        for _ in 0..3 {
            next_json(&mut no_faces).await;
        }
        assert_eq!(next_json(&mut all).await["phase"], "end");
        let mut face = event("cam-a", 3, EventPhase::Start);
        face.kind = EventKind::FaceRecognized {
            person: "Ann".into(),
            list: "staff".into(),
            similarity: 0.8,
            alert: "high".into(),
            quality: 0.5,
        };
        for e in [face, event("cam-a", 4, EventPhase::Start)] {
            bus.publish(BusMessage::Event(Arc::new(EventMessage {
                event: e,
                snapshot: None,
            })));
        }
        assert_eq!(next_json(&mut all).await["kind"], "face_recognized");
        assert_eq!(next_json(&mut all).await["kind"], "intrusion");
        assert_eq!(next_json(&mut no_faces).await["kind"], "intrusion");
    });
}

#[test]
fn the_overlay_sends_geometry_then_the_cameras_own_frames_to_those_who_see_it() {
    let Some(video) = common::footage("intel/car-detection.mp4") else {
        return;
    };
    let (s, stop, _, overlay) = start_with_events(&video, Vec::new());
    let admin = admin(&s);
    let scoped = s.user(&admin, "ola", "viewer", json!({"cameras": ["cam-b"]}));
    let frame = |camera: &str, t: i64| {
        Arc::new(vigil_bus::OverlayFrame {
            camera: camera.into(),
            unix_ms: t,
            objects: vec![vigil_bus::OverlayObject {
                track: 7,
                class: "person".into(),
                score: 0.9,
                bbox: [0.1, 0.2, 0.3, 0.4],
                matched: true,
            }],
        })
    };
    s.runtime.block_on(async {
        let path = format!("/api/cameras/{CAM}/overlay");
        // Out of scope: no upgrade; another site's page: refused.
        let refused = connect_path(&s, &path, Some(&scoped)).await.err();
        assert!(matches!(refused, Some(403 | 404)), "{refused:?}");
        let foreign = [
            ("cookie", format!("vigil_session={}", admin.cookie)),
            ("origin", "https://evil.example".to_string()),
        ];
        assert_eq!(upgrade_path(&s, &path, &foreign).await.err(), Some(403));
        let mut ws = connect_path(&s, &path, Some(&admin)).await.unwrap();
        let first = next_json(&mut ws).await;
        assert_eq!(first["geometry"]["zones"][0]["name"], "Dock");
        assert_eq!(first["geometry"]["lines"][0]["inbound"], "a_to_b");
        // Another camera's frame is not sent; this camera's is, boxes normalised.
        overlay.send(frame("cam-b", 1)).unwrap();
        overlay.send(frame(CAM, 2)).unwrap();
        let got = next_json(&mut ws).await;
        assert_eq!(got["t"], 2, "{got}");
        assert_eq!(got["objects"][0]["track"], 7);
        assert_eq!(
            got["objects"][0]["bbox"][2]
                .as_f64()
                .map(|v| (v * 10.0).round()),
            Some(3.0)
        );
        // A browser that does not read loses the oldest frames and is told, without holding the sender.
        for t in 0..(vigil_bus::overlay::OVERLAY_BUFFER as i64 * 16) {
            let _ = overlay.send(frame(CAM, 100 + t));
        }
        let mut lagged = false;
        for _ in 0..(vigil_bus::overlay::OVERLAY_BUFFER * 16) {
            if next_json(&mut ws).await.get("lagged").is_some() {
                lagged = true;
                break;
            }
        }
        assert!(lagged, "a lagging viewer is told");
    });
    stop.store(true, Ordering::Relaxed);
}
