//! A real Home Assistant (2025.4 from PyPI, installed by `dev/install-ha` into `.vigil-cache/ha-venv`) and a
//! private Mosquitto, both started by the test on free loopback ports, driven through Home Assistant's
//! REST API exactly as a new user's browser would: onboarding (first user, location, analytics,
//! integrations), the MQTT integration added through its config flow, then `GET /api/states` and service
//! calls.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Home Assistant's Python, or why there is none.
pub fn python() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.vigil-cache/ha-venv/bin/python");
    let py = std::env::var_os("VIGIL_HA_PY")
        .map(PathBuf::from)
        .unwrap_or(venv);
    if !py.exists() {
        return Err(format!(
            "Home Assistant is not installed ({} missing): run dev/install-ha (or dev/install-deps), \
             which installs homeassistant 2025.4.4 for Python 3.13",
            py.display()
        ));
    }
    let ok = Command::new(&py)
        .args([
            "-c",
            "import homeassistant.const as c; print(c.__version__)",
        ])
        .output()
        .map_err(|e| format!("{}: {e}", py.display()))?;
    if !ok.status.success() {
        return Err(format!(
            "{} cannot import homeassistant: {}",
            py.display(),
            String::from_utf8_lossy(&ok.stderr)
        ));
    }
    Ok(py)
}

/// A process killed (after a SIGTERM and a grace period) when dropped.
pub struct Proc {
    child: Option<Child>,
}

impl Proc {
    /// Owns `child`.
    pub fn new(child: Child) -> Self {
        Self { child: Some(child) }
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let end = Instant::now() + grace;
            while Instant::now() < end {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A private Mosquitto on `port` keeping nothing on disk.
pub fn mosquitto(dir: &Path, port: u16) -> Proc {
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .unwrap();
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto runs (apt-get install mosquitto)");
    let end = Instant::now() + Duration::from_secs(10);
    while !port_open(port) {
        assert!(Instant::now() < end, "mosquitto did not open port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    Proc { child: Some(child) }
}

/// A running, onboarded Home Assistant with the MQTT integration.
pub struct HomeAssistant {
    /// Its process.
    pub proc: Proc,
    /// Its configuration directory (holds `home-assistant.log`).
    pub dir: PathBuf,
    url: String,
    token: String,
    agent: ureq::Agent,
}

/// An HTTP answer.
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// Body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

impl HomeAssistant {
    /// Starts Home Assistant with `python` in `dir` on `port`; onboards it and adds the MQTT broker on
    /// `mqtt_port`. Returns once the MQTT integration is loaded.
    pub fn start(python: &Path, dir: &Path, port: u16, mqtt_port: u16) -> HomeAssistant {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("configuration.yaml"),
            format!(
                "homeassistant:\n  name: Test home\n  latitude: 52.37\n  longitude: 4.89\n  \
                 elevation: 0\n  unit_system: metric\n  time_zone: UTC\n  country: NL\n  currency: EUR\n\
                 http:\n  server_host: 127.0.0.1\n  server_port: {port}\n\
                 logger:\n  default: warning\n"
            ),
        )
        .unwrap();
        let out = std::fs::File::create(dir.join("stdout.log")).unwrap();
        // --skip-pip: nothing is installed at run time (the venv has what the MQTT integration needs).
        let child = Command::new(python)
            .args(["-m", "homeassistant", "--skip-pip", "--config"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("Home Assistant starts");
        let mut ha = HomeAssistant {
            proc: Proc { child: Some(child) },
            dir: dir.to_path_buf(),
            url: format!("http://127.0.0.1:{port}"),
            token: String::new(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into(),
        };
        let t0 = Instant::now();
        while ha.get("/api/onboarding").map(|a| a.status) != Some(200) {
            if let Some(child) = ha.proc.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("Home Assistant ended ({status}):\n{}", ha.output());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(240),
                "Home Assistant did not answer within 240 s:\n{}",
                ha.output()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        eprintln!("Home Assistant up in {:.1} s", t0.elapsed().as_secs_f64());
        ha.onboard();
        ha.add_mqtt(mqtt_port);
        ha
    }

    fn client_id(&self) -> String {
        format!("{}/", self.url)
    }

    /// Onboarding as the first-run pages do it: the owner account (whose auth code becomes an access
    /// token), then the location, analytics and integrations steps.
    fn onboard(&mut self) {
        let user = self.send(
            "POST",
            "/api/onboarding/users",
            json!({"client_id": self.client_id(), "name": "Owner", "username": "owner",
                   "password": "vigil-test-password", "language": "en"}),
        );
        assert_eq!(user.status, 200, "{}", String::from_utf8_lossy(&user.body));
        let code = user.json()["auth_code"].as_str().unwrap().to_string();
        let form = format!(
            "grant_type=authorization_code&code={code}&client_id={}",
            self.client_id()
        );
        let token = self
            .agent
            .post(format!("{}/auth/token", self.url))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(form.as_bytes())
            .unwrap();
        assert_eq!(token.status().as_u16(), 200);
        let v: Value = serde_json::from_slice(&token.into_body().read_to_vec().unwrap()).unwrap();
        self.token = v["access_token"].as_str().unwrap().to_string();
        for step in ["core_config", "analytics"] {
            let a = self.send("POST", &format!("/api/onboarding/{step}"), json!({}));
            assert_eq!(
                a.status,
                200,
                "{step}: {}",
                String::from_utf8_lossy(&a.body)
            );
        }
        let a = self.send(
            "POST",
            "/api/onboarding/integration",
            json!({"client_id": self.client_id(),
                   "redirect_uri": format!("{}?auth_callback=1", self.client_id())}),
        );
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    }

    /// Adds the MQTT integration through its config flow (the form asks for the broker and port).
    fn add_mqtt(&self, port: u16) {
        let flow = self.send(
            "POST",
            "/api/config/config_entries/flow",
            json!({"handler": "mqtt", "show_advanced_options": false}),
        );
        assert_eq!(flow.status, 200, "{}", String::from_utf8_lossy(&flow.body));
        let flow = flow.json();
        assert_eq!(flow["step_id"], "broker", "{flow}");
        let id = flow["flow_id"].as_str().unwrap();
        let done = self.send(
            "POST",
            &format!("/api/config/config_entries/flow/{id}"),
            json!({"broker": "127.0.0.1", "port": port}),
        );
        let done = done.json();
        assert_eq!(done["type"], "create_entry", "{done}");
        assert_eq!(done["result"]["state"], "loaded", "{done}");
    }

    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Option<Answer> {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url));
        if !self.token.is_empty() {
            b = b.header("Authorization", format!("Bearer {}", self.token));
        }
        let result = match body {
            Some(v) => self.agent.run(
                b.header("Content-Type", "application/json")
                    .body(v.to_string().into_bytes())
                    .unwrap(),
            ),
            None => self.agent.run(b.body(()).unwrap()),
        };
        let resp = result.ok()?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = resp
            .into_body()
            .with_config()
            .limit(50 << 20)
            .read_to_vec()
            .ok()?;
        Some(Answer {
            status,
            content_type,
            body,
        })
    }

    /// `GET path`, `None` when nothing answers.
    pub fn get(&self, path: &str) -> Option<Answer> {
        self.request("GET", path, None)
    }

    /// A request with a JSON body (panics when nothing answers).
    pub fn send(&self, method: &str, path: &str, body: Value) -> Answer {
        self.request(method, path, Some(body))
            .unwrap_or_else(|| panic!("{method} {path}: no answer"))
    }

    /// Every entity state (`GET /api/states`).
    pub fn states(&self) -> Vec<Value> {
        let a = self.get("/api/states").expect("Home Assistant answers");
        assert_eq!(a.status, 200);
        a.json().as_array().cloned().unwrap_or_default()
    }

    /// Calls a service on an entity (`switch.turn_off`...).
    pub fn call(&self, domain: &str, service: &str, entity_id: &str) {
        let a = self.send(
            "POST",
            &format!("/api/services/{domain}/{service}"),
            json!({"entity_id": entity_id}),
        );
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    }

    /// Its log file.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("home-assistant.log")).unwrap_or_default()
    }

    /// Its console output.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout.log")).unwrap_or_default()
    }
}
