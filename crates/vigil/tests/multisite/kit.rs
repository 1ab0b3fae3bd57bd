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

    /// Writes (again) the NATS configuration (with TLS after [`HubSetup::enable_tls`]); returns its
    /// path.
    pub fn nats_conf(&self) -> PathBuf {
        let conf = self.dir.join("nats.conf");
        let js = self.dir.join("jetstream");
        let listen = format!("127.0.0.1:{}", self.nats_port);
        let (cert, key) = (self.dir.join("server.pem"), self.dir.join("server.key"));
        let mut args = vec![
            "nats-config",
            "--listen",
            &listen,
            "--store-dir",
            js.to_str().unwrap(),
            "--out",
            conf.to_str().unwrap(),
        ];
        if self.tls() {
            args.extend(["--tls-cert", cert.to_str().unwrap()]);
            args.extend(["--tls-key", key.to_str().unwrap()]);
        }
        self.cli(&args);
        conf
    }

    fn tls(&self) -> bool {
        self.dir.join("ca.pem").exists()
    }

    /// Makes a CA and a server certificate for 127.0.0.1 (openssl) and switches the hub and the sites'
    /// sections to TLS with that CA. Returns the CA's path.
    pub fn enable_tls(&self) -> PathBuf {
        let d = &self.dir;
        let sh = |script: &str| {
            let out = Command::new("sh")
                .arg("-c")
                .arg(script)
                .current_dir(d)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{script}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        sh(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout ca.key -out ca.pem -days 2 -subj /CN=vigil-test-ca",
        );
        sh(
            "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout server.key -out server.csr -subj /CN=127.0.0.1",
        );
        sh(
            "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && openssl x509 -req -in server.csr \
            -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext",
        );
        let text = std::fs::read_to_string(&self.config)
            .unwrap()
            .replace("nats_url = \"nats://", "nats_url = \"tls://");
        std::fs::write(&self.config, format!("{text}tls_ca = \"ca.pem\"\n")).unwrap();
        d.join("ca.pem")
    }

    /// Starts `vigil hub`.
    pub fn start_hub(&self) -> HubProcess {
        HubProcess::spawn(&self.config)
    }

    /// `vigil hub events --json`, parsed.
    pub fn events(&self) -> Vec<serde_json::Value> {
        json_lines(&self.cli(&["events", "--json"]))
    }

    /// The `[uplink]` section of a site named `site` using `seed` (TLS with the test CA after
    /// [`HubSetup::enable_tls`]).
    pub fn uplink_section(&self, site: &str, seed: &Path) -> String {
        let tls = if self.tls() {
            format!(
                "tls_ca = {:?}\n",
                self.dir.join("ca.pem").display().to_string()
            )
        } else {
            String::new()
        };
        format!(
            "\n[uplink]\nsite = \"{site}\"\nnats_url = \"{}://127.0.0.1:{}\"\nnkey_seed_file = {:?}\nheartbeat_s = 1\n{tls}",
            if self.tls() { "tls" } else { "nats" },
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

/// A PostgreSQL cluster of the test's own (initdb in a temporary folder, its own port), so a test can
/// restart it without disturbing anyone; `None` after a SKIP line when PostgreSQL's programs are missing.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl PrivatePostgres {
    /// initdb and start.
    pub fn start() -> Option<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|d| d.path().join("bin"))
            .find(|b| b.join("initdb").exists());
        let Some(bin) = bin else {
            eprintln!("SKIP: PostgreSQL's initdb not found (dev/install-deps installs postgresql)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let root = rustix::process::geteuid().is_root();
        if root {
            // initdb refuses root: the cluster belongs to the postgres user.
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("SKIP: cannot hand a folder to the postgres user");
                return None;
            }
        }
        let pg = PrivatePostgres {
            dir,
            bin,
            port: free_port(),
        };
        let data = pg.dir.path().join("data");
        let ok = pg
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIP: initdb failed (no postgres user?)");
            return None;
        }
        pg.up();
        Some(pg)
    }

    fn command(&self, program: &str) -> Command {
        if rustix::process::geteuid().is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(program));
            c
        } else {
            Command::new(self.bin.join(program))
        }
    }

    /// Starts it (waits until it accepts connections).
    pub fn up(&self) {
        let data = self.dir.path().join("data");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let ok = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-o", &opts, "-w", "-l"])
            .arg(self.dir.path().join("log"))
            .arg("start")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "pg_ctl start failed: {}",
            std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
        );
    }

    /// Stops it at once (as a crash would: `-m immediate`).
    pub fn down(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// `postgres://postgres@127.0.0.1:PORT` (add `/db`).
    pub fn base(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.down();
    }
}
