//! Shared helpers for the server's tests: a real HTTPS server on loopback (own data directory,
//! generated certificate, a recording store with two cameras recorded from real footage and events),
//! and a real HTTPS client (ureq + rustls) that trusts that certificate.
#![allow(dead_code)]

pub mod child;
pub mod net;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use vigil_core::{
    BBox, BestObject, ClassCount, Event, EventId, EventKind, EventPhase, EventTime, Time90k,
};
use vigil_server::{AppContext, Policy, Security, Server, ServerOptions, StoreStatus};
use vigil_store::{Store, StoreConfig};

/// Recording start of the test cameras: 2024-01-01T00:00:00Z.
pub const T0_MS: i64 = 1_704_067_200_000;
/// Cameras of the test store.
pub const CAM_A: &str = "cam-a";
pub const CAM_B: &str = "cam-b";
/// Password used for every test user.
pub const PASSWORD: &str = "tulip-orbit-42-canyon";

/// `../shared` beside the repository (footage and models).
pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

pub fn footage(rel: &str) -> Option<PathBuf> {
    let p = shared().join("footage").join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIP: {} not found (../shared footage absent)", p.display());
        None
    }
}

/// A running test server.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub runtime: tokio::runtime::Runtime,
    pub server: Option<Server>,
    pub ctx: Arc<AppContext>,
    pub url: String,
    pub agent: ureq::Agent,
    pub setup_token: Option<String>,
    /// Whether the cameras have recordings (footage present).
    pub recorded: bool,
    /// Ids of the events stored: (camera, id).
    pub events: Vec<(String, String)>,
}

/// Options of a test server.
#[derive(Default)]
pub struct Setup {
    pub policy: Option<Policy>,
    /// Record the two cameras from footage and store events.
    pub store: bool,
    /// Plugged-in live video.
    pub live: Option<Arc<dyn vigil_server::LiveSource>>,
    /// Plugged-in web UI files.
    pub assets: Option<Arc<dyn vigil_server::Assets>>,
    /// Connection limits and timeouts (default: the server's).
    pub limits: Option<vigil_server::ConnLimits>,
    /// Camera health (default: the store's cameras, or none).
    pub status: Option<Arc<dyn vigil_server::StatusSource>>,
    /// Cameras marked sensitive (dual authorization).
    pub sensitive: Vec<String>,
    /// Watchlists (`identity.db` in the server's folder, sealed under a generated master key).
    pub identity: bool,
    /// The segment rewriter of erasures by blurring.
    pub rewriter: Option<Arc<dyn vigil_store::SegmentRewriter>>,
    /// Face enrolment through the API.
    pub enroller: Option<Arc<dyn vigil_server::FaceEnroller>>,
    /// Camera links (`[[links.camera]]`).
    pub camera_links: vigil_identity::CameraLinks,
    /// Plate lists in the server's folder, over these `[plates]` settings.
    pub plate_lists: Option<vigil_identity::PlatesConfig>,
    /// The cameras with an ONVIF address (PTZ).
    pub ptz: vigil_server::routes::ptz::PtzCameras,
    /// Search's names and time zone (default: none, UTC).
    pub search: Option<vigil_server::search::SearchContext>,
    /// Events published here reach browsers over `/api/events/live`.
    pub event_bus: Option<vigil_bus::EventBus>,
}

/// Face enrolment with the real models (YuNet and MobileFaceNet from `../shared/models`), as the binary
/// plugs it in; `None` after a visible SKIP when the models or ONNX Runtime are missing.
pub fn real_enroller() -> Option<Arc<dyn vigil_server::FaceEnroller>> {
    use vigil_vision::model::{MOBILEFACENET, ModelStore, YUNET};
    let dir = shared().join("models");
    if !dir.join(YUNET.file_name).is_file() || !dir.join(MOBILEFACENET.file_name).is_file() {
        eprintln!("SKIP: the face models are not in {}", dir.display());
        return None;
    }
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        eprintln!("SKIP: ORT_DYLIB_PATH not set (source dev/install-deps)");
        return None;
    }
    let rt = vigil_vision::runtime::Runtime::init(None).unwrap();
    let store = ModelStore::new(vec![dir], None);
    let (p, b) = store.load_asset(&YUNET).unwrap();
    let detector = vigil_vision::faces::FaceDetector::new(&rt, &p, &b, 1).unwrap();
    let (p, b) = store.load_asset(&MOBILEFACENET).unwrap();
    let embedder = vigil_vision::face_embed::FaceEmbedder::new(&rt, &p, &b, 1).unwrap();
    struct Enroller(std::sync::Mutex<vigil_pipeline::faces::FaceModels>);
    impl vigil_server::FaceEnroller for Enroller {
        fn template(&self, photo: &[u8]) -> Result<Vec<f32>, String> {
            let mut m = self.0.lock().unwrap();
            vigil_pipeline::faces::photo_bytes_template(&mut m, photo, "the photo")
                .map_err(|e| e.to_string())
        }
    }
    Some(Arc::new(Enroller(std::sync::Mutex::new(
        vigil_pipeline::faces::FaceModels { detector, embedder },
    ))))
}

/// A segment rewriter that paints every frame black (the server's part of an erasure by blurring is
/// the same whatever is drawn), after waiting for `gate` (a test holds it to catch a job running).
#[derive(Default)]
pub struct Blackout {
    pub gate: std::sync::Mutex<()>,
}

impl vigil_store::SegmentRewriter for Blackout {
    fn rewrite(
        &self,
        _camera: &str,
        input: &Path,
        scratch: &Path,
        progress: &mut dyn FnMut(f64),
    ) -> Result<vigil_store::Rewritten, String> {
        let _open = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        let e = |e: vigil_media::MediaError| e.to_string();
        let frames = vigil_media::writer::reencode_timed(input, scratch, |_, image| {
            image.data_mut().fill(0);
            progress(0.5);
            true
        })
        .map_err(e)?;
        Ok(vigil_store::Rewritten {
            frames: Some(vigil_media::demux::demux_file(scratch).map_err(e)?.frames),
            report: vigil_core::RedactionReport {
                reencoded: true,
                frames,
                ..Default::default()
            },
        })
    }
}

fn store_config(root: &Path) -> StoreConfig {
    let dir = root.join("dir1");
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = StoreConfig::new(root.join("index.db"), "dir1", &dir);
    c.segment_seconds = 4.0;
    c.fragment_seconds = 1.0;
    c.dirs[0].min_free_bytes = 0;
    c.background_retention = false;
    c
}

/// Records ~10 s of the car clip into each camera, and two events per camera (one with a snapshot).
fn fill_store(store: &Store) -> (bool, Vec<(String, String)>) {
    let mut recorded = false;
    if let Some(path) = footage("intel/car-detection.mp4") {
        let video = vigil_media::demux::demux_file(&path).unwrap();
        for cam in [CAM_A, CAM_B] {
            let rec = store.recorder(cam, "main").unwrap();
            let first = video.frames[0].pts.0;
            for f in video.frames.iter().take(130) {
                let mut f = f.clone();
                let t = f.pts.0 - first;
                f.pts = Time90k(t);
                f.received_unix_micros = T0_MS * 1000 + t * 100 / 9;
                rec.append(&f).unwrap();
            }
            rec.close();
        }
        recorded = true;
    } else {
        for cam in [CAM_A, CAM_B] {
            store.recorder(cam, "main").unwrap().close();
        }
    }
    let mut events = Vec::new();
    for (i, cam) in [CAM_A, CAM_B, CAM_A, CAM_B].iter().enumerate() {
        let start_ms = T0_MS + 1000 * i as i64;
        let t = EventTime {
            unix_ms: start_ms,
            media: Time90k(start_ms * 90),
        };
        let id = EventId::from_parts(start_ms as u64, i as u128 + 1);
        let e = Event {
            attributes: Default::default(),
            id,
            camera: cam.to_string(),
            rule: "Yard intrusion".into(),
            kind: EventKind::Intrusion,
            phase: EventPhase::End,
            class_name: "person".into(),
            objects: vec![ClassCount {
                class_name: "person".into(),
                class_id: 0,
                count: 1,
            }],
            track_ids: vec![i as u64],
            zone: Some("Yard".into()),
            line: None,
            start: t,
            last: t,
            end: Some(t),
            best: Some(BestObject {
                track_id: i as u64,
                score: 0.8,
                bbox: BBox::new(10.0, 20.0, 70.0, 180.0),
                frame_w: 1920,
                frame_h: 1080,
                time: t,
            }),
            description: format!("A person entered 'Yard' on {cam}"),
        };
        store.record_event(&e).unwrap();
        if i < 2 {
            store
                .save_snapshot(
                    id,
                    &snapshot_bytes(cam, "full"),
                    Some(&snapshot_bytes(cam, "crop")),
                )
                .unwrap();
        }
        events.push((cam.to_string(), id.to_string()));
    }
    (recorded, events)
}

/// The stand-in JPEG bytes saved as a camera's snapshot (markers are what the store checks).
pub fn snapshot_bytes(cam: &str, kind: &str) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    b.extend_from_slice(format!("{cam}-{kind}").as_bytes());
    b.extend_from_slice(&[0xFF, 0xD9]);
    b
}

impl TestServer {
    pub fn start(setup: Setup) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let security =
            Arc::new(Security::open_in(dir.path(), setup.policy.unwrap_or_default()).unwrap());
        let setup_token = security.new_setup_token().unwrap();
        let (store, recorded, events) = if setup.store {
            let (store, _) = Store::open(store_config(dir.path())).unwrap();
            // The site key evidence exports are signed with.
            store.set_site_key(Arc::new(vigil_keys::SiteKey::from_seed(&[11; 32]).unwrap()));
            let (recorded, events) = fill_store(&store);
            (Some(Arc::new(store)), recorded, events)
        } else {
            (None, false, Vec::new())
        };
        let status: Arc<dyn vigil_server::StatusSource> = match (setup.status, &store) {
            (Some(status), _) => status,
            (None, Some(s)) => Arc::new(StoreStatus(s.clone())),
            (None, None) => Arc::new(NoCameras),
        };
        let mut ctx = AppContext::new(security, store, status, dir.path());
        ctx.live = setup.live;
        ctx.assets = setup.assets;
        ctx.sensitive = setup.sensitive.into_iter().collect();
        ctx.rewriter = setup.rewriter;
        ctx.enroller = setup.enroller;
        ctx.camera_links = setup.camera_links;
        ctx.ptz = setup.ptz;
        if let Some(search) = setup.search {
            ctx.search = search;
        }
        if let Some(bus) = &setup.event_bus {
            let _enter = runtime.enter();
            ctx.events_feed = Some(vigil_server::event_feed::EventFeed::start(bus.subscribe(
                "live-ui",
                64,
                1 << 20,
                vigil_bus::Overflow::DropOldest,
            )));
        }
        if let Some(plates) = &setup.plate_lists {
            ctx.plate_lists = Some(Arc::new(
                vigil_identity::PlateLists::open(dir.path(), plates).unwrap(),
            ));
        }
        if setup.identity {
            let keys = vigil_keys::KeyStore::open(dir.path(), &vigil_keys::MasterSource::Generated)
                .unwrap();
            ctx.identity = Some(Arc::new(std::sync::Mutex::new(
                vigil_identity::FaceBook::open(dir.path(), &keys).unwrap(),
            )));
        }
        let ctx = Arc::new(ctx);
        let mut options = ServerOptions::from_config(&Default::default(), dir.path()).unwrap();
        options.listen = "127.0.0.1:0".parse().unwrap();
        if let Some(l) = setup.limits {
            options.limits = l;
        }
        let cert_path = options.tls.as_ref().unwrap().cert.clone();
        let server = runtime
            .block_on(Server::start(ctx.clone(), options))
            .unwrap();
        let url = server.url();
        let agent = agent_trusting(&cert_path);
        TestServer {
            dir,
            runtime,
            server: Some(server),
            ctx,
            url,
            agent,
            setup_token,
            recorded,
            events,
        }
    }

    /// Runs the first-admin setup as `admin` and logs in.
    pub fn with_admin(setup: Setup) -> (TestServer, Session) {
        let s = TestServer::start(setup);
        let token = s.setup_token.clone().unwrap();
        let r = s.call(
            "POST",
            "/api/setup",
            &Auth::None,
            Some(json!({"token": token, "username": "admin", "password": PASSWORD})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let admin = s.login("admin", PASSWORD);
        (s, admin)
    }

    /// A request; any status is returned (never an error for 4xx/5xx).
    pub fn call(&self, method: &str, path: &str, auth: &Auth, body: Option<Value>) -> Resp {
        let bytes = body.map(|b| serde_json::to_vec(&b).unwrap());
        self.raw(method, path, auth, &[], bytes)
    }

    /// A request with extra headers and a raw body.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        auth: &Auth,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.url, path));
        match auth {
            Auth::None => {}
            Auth::Session(s) => {
                b = b
                    .header("Cookie", format!("vigil_session={}", s.cookie))
                    .header("X-CSRF-Token", &s.csrf);
            }
            Auth::CookieOnly(s) => {
                b = b.header("Cookie", format!("vigil_session={}", s.cookie));
            }
            Auth::Bearer(t) => b = b.header("Authorization", format!("Bearer {t}")),
        }
        let has_body = body.is_some();
        if has_body
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            b = b.header("Content-Type", "application/json");
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let result = match body {
            Some(bytes) => self.agent.run(b.body(bytes).unwrap()),
            None => self.agent.run(b.body(()).unwrap()),
        };
        let resp = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .with_config()
            .limit(200 << 20)
            .read_to_vec()
            .unwrap();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Logs in (no MFA) and returns the session.
    pub fn login(&self, user: &str, password: &str) -> Session {
        let r = self.call(
            "POST",
            "/api/login",
            &Auth::None,
            Some(json!({"username": user, "password": password})),
        );
        assert_eq!(r.status, 200, "login {user}: {}", r.text());
        session_of(&r)
    }

    /// Creates a user as `admin` and logs them in.
    pub fn user(&self, admin: &Session, name: &str, role: &str, extra: Value) -> Session {
        let mut body = json!({"username": name, "password": PASSWORD, "role": role});
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        let r = self.call(
            "POST",
            "/api/users",
            &Auth::Session(admin.clone()),
            Some(body),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        self.login(name, PASSWORD)
    }

    /// Stops the server and starts a new one on the same data directory, store and certificate, with
    /// `policy` (what a restart of `vigil run` with a changed `[server]` section does).
    pub fn restart(&mut self, policy: Policy) {
        self.stop();
        let security = Arc::new(Security::open_in(self.dir.path(), policy).unwrap());
        let mut ctx = AppContext::new(
            security,
            self.ctx.store.clone(),
            self.ctx.status.clone(),
            self.dir.path(),
        );
        ctx.live = self.ctx.live.clone();
        ctx.assets = self.ctx.assets.clone();
        ctx.allowed_origins = self.ctx.allowed_origins.clone();
        ctx.sensitive = self.ctx.sensitive.clone();
        let ctx = Arc::new(ctx);
        let mut options = ServerOptions::from_config(&Default::default(), self.dir.path()).unwrap();
        options.listen = "127.0.0.1:0".parse().unwrap();
        let server = self
            .runtime
            .block_on(Server::start(ctx.clone(), options))
            .unwrap();
        self.url = server.url();
        self.server = Some(server);
        self.ctx = ctx;
    }

    pub fn security_db(&self) -> PathBuf {
        self.dir.path().join("security.db")
    }

    pub fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            self.runtime.block_on(s.shutdown(Duration::from_secs(2)));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub struct NoCameras;

impl vigil_server::StatusSource for NoCameras {
    fn status(&self) -> vigil_server::SystemStatus {
        vigil_server::SystemStatus::default()
    }
}

/// A ureq agent trusting only the given certificate, never turning statuses into errors, no
/// redirects.
pub fn agent_trusting(cert: &Path) -> ureq::Agent {
    let pem = std::fs::read(cert).unwrap();
    let cert = ureq::tls::Certificate::from_pem(&pem).unwrap();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    /// Cookie and CSRF header.
    Session(Session),
    /// Cookie without the CSRF header.
    CookieOnly(Session),
    Bearer(String),
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    }
}

/// The session a login response set.
pub fn session_of(r: &Resp) -> Session {
    let cookie = r.header("set-cookie").expect("a Set-Cookie header");
    let value = cookie
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("vigil_session="))
        .unwrap()
        .to_string();
    Session {
        cookie: value,
        csrf: r.json()["csrf"].as_str().unwrap().to_string(),
    }
}

/// Every (method, path template, permission) of the OpenAPI description.
pub fn operations(doc: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((
                method.to_uppercase(),
                path.clone(),
                op["x-vigil-permission"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

/// The failed attempts an aggregated audit entry stands for: N for "N more within ..." and "N failures
/// for ...", 1 otherwise.
pub fn attempts_in(e: &vigil_server::audit::AuditEntry) -> u64 {
    e.detail
        .split_once(" more within ")
        .or_else(|| e.detail.split_once(" failures for "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or(1)
}

/// The recorded runs of `camera` around the test footage, as `who` sees them.
pub fn runs(s: &TestServer, who: &Auth, camera: &str) -> Vec<Value> {
    let url = format!(
        "/api/cameras/{camera}/recordings?start={}&end={}",
        T0_MS - 60_000,
        T0_MS + 600_000
    );
    let r = s.call("GET", &url, who, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    v.as_array()
        .or_else(|| v["runs"].as_array())
        .cloned()
        .unwrap_or_default()
}
