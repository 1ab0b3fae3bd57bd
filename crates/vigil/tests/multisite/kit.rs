//! What the multi-site tests start for themselves on loopback: a private `nats-server -js` (killable, to
//! cut the link), a fresh PostgreSQL database, `vigil hub` processes and the sites' `[uplink]`
//! sections. Every test gets its own of each, so tests run side by side.
#![allow(dead_code)]

use crate::support::{cli, free_port};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Debian's nats-server, or `None` after a SKIP line.
pub fn nats_server() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/sbin/nats-server");
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "SKIP: /usr/sbin/nats-server not found (dev/install-deps installs Debian's nats-server)"
        );
        None
    }
}

/// The machine's PostgreSQL (`VIGIL_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432`), or
/// `None` after a SKIP line.
pub fn postgres() -> Option<String> {
    let base = std::env::var("VIGIL_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let ok = Command::new("psql")
        .args([&format!("{base}/postgres"), "-qAtc", "SELECT 1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(base)
    } else {
        eprintln!("SKIP: PostgreSQL not reachable at {base} (dev/services starts it)");
        None
    }
}

/// A database of its own, dropped at the end.
pub struct Database {
    base: String,
    /// Its name.
    pub name: String,
}

impl Database {
    /// Creates a fresh database on the server at `base`.
    pub fn fresh(base: &str, tag: &str) -> Database {
        let name = format!("vigil_{tag}_{}_{}", std::process::id(), fastrand::u32(..));
        psql(base, &format!("CREATE DATABASE {name}"));
        Database {
            base: base.to_string(),
            name,
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("{}/{}", self.base, self.name)
    }

    /// Runs SQL in it, returning what psql printed (unaligned, tuples only).
    pub fn sql(&self, sql: &str) -> String {
        psql(&self.base, &format!("\\c {}\n{sql}", self.name))
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                &format!("{}/postgres", self.base),
                "-qAtc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

fn psql(base: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([&format!("{base}/postgres"), "-qAt", "-v", "ON_ERROR_STOP=1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(sql.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "psql failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A private NATS server with JetStream, on its own port and directory; kill it to cut every link.
pub struct Nats {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its configuration file.
    pub conf: PathBuf,
    /// Its log.
    pub log: PathBuf,
}

impl Nats {
    /// Starts `nats-server -c conf` (the configuration names the port; see [`Nats::port`]).
    pub fn start(conf: &Path, port: u16) -> Nats {
        let mut n = Nats {
            child: None,
            port,
            conf: conf.to_path_buf(),
            log: conf.with_extension("log"),
        };
        n.restart();
        n
    }

    /// Starts it again (same port, same JetStream directory) after [`Nats::kill`].
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the NATS server is already running");
        let child = Command::new("/usr/sbin/nats-server")
            .arg("-c")
            .arg(&self.conf)
            .arg("-l")
            .arg(&self.log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {}: {}",
                self.port,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: the link is gone at once for everyone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A hub's files: `hub.toml`, its data directory, the sites' seeds, the NATS configuration.
pub struct HubSetup {
    /// Its folder.
    pub dir: PathBuf,
    /// `hub.toml`.
    pub config: PathBuf,
    /// Its database.
    pub db: Database,
    /// The NATS port.
    pub nats_port: u16,
    /// The hub's HTTPS port.
    pub port: u16,
}

impl HubSetup {
    /// Writes `hub.toml` in `dir` for a fresh database on `pg` and NATS on a free port.
    pub fn new(dir: &Path, pg: &str) -> HubSetup {
        std::fs::create_dir_all(dir).unwrap();
        let db = Database::fresh(pg, "hub");
        let nats_port = free_port();
        let port = free_port();
        let config = dir.join("hub.toml");
        std::fs::write(
            &config,
            format!(
                "[hub]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"data\"\npostgres_url = \"{}\"\n\
                 nats_url = \"nats://127.0.0.1:{nats_port}\"\n",
                db.url()
            ),
        )
        .unwrap();
        HubSetup {
            dir: dir.to_path_buf(),
            config,
            db,
            nats_port,
            port,
        }
    }

    /// `vigil hub ARGS --config hub.toml`, asserting success; returns stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut all = vec!["hub", "--config", self.config.to_str().unwrap()];
        all.extend_from_slice(args);
        let (code, out, err) = cli(&all, None, &[]);
        assert_eq!(code, 0, "vigil {all:?} failed:\n{err}");
        out
    }

    /// Adds a site; returns the path of its seed file.
    pub fn add_site(&self, name: &str) -> PathBuf {
        let seed = self.dir.join(format!("{name}.nk"));
        self.cli(&["site", "add", name, "--seed-out", seed.to_str().unwrap()]);
        seed
    }

    /// Writes the NATS configuration for the sites added so far and starts the server.
    pub fn start_nats(&self) -> Nats {
        let conf = self.nats_conf();
        Nats::start(&conf, self.nats_port)
    }

    /// Writes (again) the NATS configuration; returns its path.
    pub fn nats_conf(&self) -> PathBuf {
        let conf = self.dir.join("nats.conf");
        let js = self.dir.join("jetstream");
        self.cli(&[
            "nats-config",
            "--listen",
            &format!("127.0.0.1:{}", self.nats_port),
            "--store-dir",
            js.to_str().unwrap(),
            "--out",
            conf.to_str().unwrap(),
        ]);
        conf
    }

    /// Starts `vigil hub`.
    pub fn start_hub(&self) -> HubProcess {
        HubProcess::spawn(&self.config)
    }

    /// `vigil hub events --json`, parsed.
    pub fn events(&self) -> Vec<serde_json::Value> {
        json_lines(&self.cli(&["events", "--json"]))
    }

    /// The `[uplink]` section of a site named `site` using `seed`.
    pub fn uplink_section(&self, site: &str, seed: &Path) -> String {
        format!(
            "\n[uplink]\nsite = \"{site}\"\nnats_url = \"nats://127.0.0.1:{}\"\nnkey_seed_file = {:?}\nheartbeat_s = 1\n",
            self.nats_port,
            seed.display().to_string()
        )
    }
}

/// Parses JSON lines.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// `vigil events --config CONFIG --json`, parsed.
pub fn site_events(config: &Path) -> Vec<serde_json::Value> {
    let (code, out, err) = cli(
        &["events", "--config", config.to_str().unwrap(), "--json"],
        None,
        &[],
    );
    assert_eq!(code, 0, "vigil events failed:\n{err}");
    json_lines(&out)
}

/// A running `vigil hub`.
pub struct HubProcess {
    child: Option<Child>,
    config: PathBuf,
    /// Every line it printed.
    pub output: Arc<Mutex<Vec<String>>>,
}

impl HubProcess {
    /// Starts `vigil hub --config CONFIG` and waits until it says it runs.
    pub fn spawn(config: &Path) -> HubProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["hub", "--config"])
            .arg(config)
            .env("VIGIL_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().unwrap(), output.clone());
        collect(child.stderr.take().unwrap(), output.clone());
        let mut h = HubProcess {
            child: Some(child),
            config: config.to_path_buf(),
            output,
        };
        h.wait_line(Duration::from_secs(60), "hub running");
        h
    }

    /// Waits for a line containing `text`.
    pub fn wait_line(&mut self, timeout: Duration, text: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.output.lock().unwrap().iter().any(|l| l.contains(text)) {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("vigil hub ended ({status}):\n{}", self.dump());
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {text:?} from vigil hub:\n{}",
                self.dump()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL.
    pub fn kill_9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Its output so far.
    pub fn dump(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(c.id() as i32).unwrap(),
                rustix::process::Signal::TERM,
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            into.lock().unwrap().push(line);
        }
    });
}

/// Polls `f` every 200 ms until it returns `Some`, or panics with `what` after `timeout`.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
