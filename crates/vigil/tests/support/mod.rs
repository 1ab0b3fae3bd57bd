//! A real `vigil run` for end-to-end tests and benchmarks: a data directory with a `vigil.toml` whose
//! camera replays footage (`file://`, real time), the binary started with its output captured, the
//! one-time setup token read from that output, and a clean SIGTERM at the end.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A file of the shared footage ([`vigil_media::test_server::shared_footage`]), or `None` after printing a
/// visible SKIP line.
pub fn footage(rel: &str) -> Option<PathBuf> {
    let found = vigil_media::test_server::shared_footage()
        .map(|d| d.join(rel))
        .filter(|p| p.exists());
    if found.is_none() {
        eprintln!("SKIP: footage {rel} not found (../shared footage absent)");
    }
    found
}

/// playwright-core's node_modules (`VIGIL_NODE_MODULES`, else `.vigil-cache/node/node_modules` from
/// `dev/install-deps`), or `None` after a SKIP line (no Node.js, or not installed).
pub fn node_modules() -> Option<PathBuf> {
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!("SKIP: node not found (install Node.js >= 20 and run dev/install-deps)");
        return None;
    }
    let dir = std::env::var_os("VIGIL_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.vigil-cache/node/node_modules")
        });
    if dir.join("playwright-core/package.json").exists() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: playwright-core not found in {} (run dev/install-deps)",
            dir.display()
        );
        None
    }
}

/// Debian's Chromium, or `None` after a SKIP line.
pub fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        eprintln!("SKIP: chromium not found (run dev/install-deps)");
    }
    found
}

/// Runs the `vigil` binary with `args` and the extra environment `env`, writing `stdin` to it; returns
/// its exit code, stdout and stderr.
pub fn cli(args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The shared models folder beside the footage `video` came from, when the detector model is there and
/// ONNX Runtime is configured (`ORT_DYLIB_PATH`): a camera can then be analysed.
pub fn analysis_models(video: &Path) -> Option<PathBuf> {
    video
        .ancestors()
        .nth(3)
        .map(|shared| shared.join("models"))
        .filter(|m| m.join("yolox_nano_416.onnx").is_file())
        .filter(|_| std::env::var_os("ORT_DYLIB_PATH").is_some())
}

/// An HTTPS client trusting only the PEM certificate `pem`, never turning statuses into errors.
pub fn https_agent(pem: &[u8]) -> ureq::Agent {
    let cert = ureq::tls::Certificate::from_pem(pem).unwrap().to_owned();
    ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![cert])))
                .build(),
        )
        .http_status_as_error(false)
        .build()
        .into()
}

/// A logged-in admin of a running `vigil run`: its HTTPS agent (trusting the server's certificate),
/// session cookie (`name=value`) and CSRF token.
pub struct AdminSession {
    pub agent: ureq::Agent,
    pub cookie: String,
    pub csrf: String,
}

/// Creates the first admin of `vigil` (set up with its one-time token; `data` is its data directory,
/// holding `tls/cert.pem`) and logs in.
pub fn first_admin(vigil: &mut Vigil, data: &Path) -> AdminSession {
    let token = vigil.setup_token();
    vigil.wait_listening();
    let agent = https_agent(&std::fs::read(data.join("tls/cert.pem")).unwrap());
    let url = vigil.url();
    let (user, password) = ("keeper", "tulip-orbit-42-canyon");
    let r = agent
        .post(&format!("{url}/api/setup"))
        .header("content-type", "application/json")
        .send(
            serde_json::json!({"token": token, "username": user, "password": password}).to_string(),
        )
        .unwrap();
    assert!(r.status().is_success(), "setup: {}", r.status());
    let mut r = agent
        .post(&format!("{url}/api/login"))
        .header("content-type", "application/json")
        .send(serde_json::json!({"username": user, "password": password}).to_string())
        .unwrap();
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string();
    let me: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let csrf = me["csrf"].as_str().unwrap().to_string();
    AdminSession {
        agent,
        cookie,
        csrf,
    }
}

/// A TCP port free on loopback right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `vigil run`.
pub struct Vigil {
    child: Child,
    /// Every line it printed (stdout and stderr).
    pub output: Arc<Mutex<Vec<String>>>,
    /// Its data directory (holds `vigil.toml`).
    pub dir: PathBuf,
    /// Its HTTPS port on 127.0.0.1.
    pub port: u16,
}

impl Vigil {
    /// Starts `vigil run` in `dir` with one recorded (not analysed) camera `camera` replaying `video`.
    pub fn start(dir: &Path, camera: &str, video: &Path) -> Vigil {
        Self::start_with(dir, camera, video, None)
    }

    /// Like [`Vigil::start`]; with `models` (a model directory) the camera is also analysed, with an
    /// intrusion rule raising an event for every vehicle or person anywhere in the picture, a privacy
    /// mask over the top-left corner (so its live view is the masked, re-encoded one) and the viewer's
    /// watermark on (so playback and exports are re-encoded with both).
    pub fn start_with(dir: &Path, camera: &str, video: &Path, models: Option<&Path>) -> Vigil {
        Self::start_with_extra(dir, camera, video, models, "")
    }

    /// [`Vigil::start_with`] with `extra` TOML (whole sections) appended to its configuration.
    pub fn start_with_extra(
        dir: &Path,
        camera: &str,
        video: &Path,
        models: Option<&Path>,
        extra: &str,
    ) -> Vigil {
        let port = free_port();
        let rec = dir.join("recordings");
        std::fs::create_dir_all(&rec).unwrap();
        let (analysis, roles, rules) = match models {
            None => ("enabled = false", "[\"record\"]", String::new()),
            Some(_) => (
                "detect_fps = 5\nthreads = 1",
                "[\"record\", \"analyze\"]",
                format!(
                    "\n[[rules.{camera}.zone]]\nname = \"Everywhere\"\n\
                     points = [[0, 0], [1, 0], [1, 1], [0, 1]]\nclasses = [\"car\", \"bus\", \"truck\", \"motorcycle\", \"person\"]\n\
                     \n[[rules.{camera}.rule]]\nname = \"Anything in view\"\nkind = \"intrusion\"\n\
                     zone = \"Everywhere\"\n\
                     \n[[rules.{camera}.mask]]\nname = \"Corner\"\nkind = \"privacy\"\n\
                     points = [[0, 0], [0.1, 0], [0.1, 0.1], [0, 0.1]]\n\
                     \n[privacy]\nwatermark = true\n"
                ),
            ),
        };
        let config = format!(
            "data_dir = {data:?}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [analysis]\n{analysis}\n\n\
             [storage]\nsegment_seconds = 4\n[[storage.dirs]]\nname = \"main\"\npath = {rec:?}\n\
             min_free_bytes = 0\n\n\
             [[camera]]\nname = {camera:?}\nmain = \"file://{video}\"\nroles = {roles}\n{rules}",
            data = dir.display().to_string(),
            rec = rec.display().to_string(),
            video = video.display(),
        );
        let path = dir.join("vigil.toml");
        std::fs::write(&path, format!("{config}\n{extra}")).unwrap();
        Self::spawn(&path, port, models)
    }

    /// Starts `vigil run --config CONFIG` (a configuration written by the caller, serving on
    /// 127.0.0.1:`port`; its folder is [`Vigil::dir`]), with `--models` when given.
    pub fn spawn(config: &Path, port: u16, models: Option<&Path>) -> Vigil {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
        cmd.args(["run", "--config"]).arg(config);
        if let Some(models) = models {
            cmd.arg("--models").arg(models);
        }
        let mut child = cmd
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().unwrap(), output.clone());
        collect(child.stderr.take().unwrap(), output.clone());
        Vigil {
            child,
            output,
            dir: config.parent().unwrap_or(Path::new(".")).to_path_buf(),
            port,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Waits for a printed line `f` accepts; panics with the output after `timeout` or if the process
    /// ends.
    pub fn wait_line<T>(&mut self, timeout: Duration, f: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self.output.lock().unwrap().iter().find_map(|l| f(l)) {
                return found;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("vigil run ended ({status}):\n{}", self.dump());
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for vigil run:\n{}",
                self.dump()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The one-time setup token it printed.
    pub fn setup_token(&mut self) -> String {
        self.wait_line(Duration::from_secs(60), setup_token_in)
    }

    /// Waits until the HTTPS port accepts connections.
    pub fn wait_listening(&mut self) {
        let port = self.port;
        self.wait_line(Duration::from_secs(60), |_| {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        });
    }

    /// Lets it run for `d`, panicking at once (with its output) if it exits meanwhile.
    pub fn run_for(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("vigil run ended early ({status}):\n{}", self.dump());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything it printed so far.
    pub fn dump(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Process CPU time (user + system, every thread) in seconds, from `/proc/PID/stat`.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid())
    }

    /// Stops it with SIGTERM and waits (kills it after 20 s); returns whether it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// The setup token in a printed line: the word after "token" in a line that mentions the setup token.
pub fn setup_token_in(line: &str) -> Option<String> {
    let lower = line.to_lowercase();
    if !lower.contains("setup token") {
        return None;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words
        .iter()
        .rposition(|w| w.to_lowercase().trim_end_matches(':') == "token")?;
    let token = words
        .get(i + 1)?
        .trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_');
    (token.len() >= 16).then(|| token.to_string())
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            into.lock().unwrap().push(line);
        }
    });
}

/// CPU time of process `pid` in seconds: utime + stime from `/proc/PID/stat` (fields 14 and 15, in clock
/// ticks of the Linux user ABI, always 100 per second), covering every thread.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}
