//! A test server in a process of its own: this test binary run again with only [`serve_as_child`]
//! (selected by its exact name, `--ignored`) and configured through environment variables, so that a
//! test can measure the server's memory alone, count its open files, or run it under `ulimit -n`.

use super::PASSWORD;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use vigil_server::{ConnLimits, Policy, Security, Server, ServerOptions};

const DIR: &str = "VIGIL_TEST_CHILD_DIR";
const LIMITS: &str = "VIGIL_TEST_CHILD_LIMITS";
const HASHES: &str = "VIGIL_TEST_CHILD_HASHES";

/// How to run the child.
#[derive(Default, Clone)]
pub struct ChildOptions {
    /// `ulimit -n` of the child.
    pub open_files: Option<u32>,
    /// Connection limits (default: the server's defaults).
    pub limits: Option<ConnLimits>,
    /// Password hashes at once and queued (default: the server's defaults).
    pub hashes: Option<(usize, usize)>,
}

/// The running child: a server with the user `admin` (password [`PASSWORD`]).
pub struct ChildServer {
    child: Child,
    stdin: Option<ChildStdin>,
    pub url: String,
    pub addr: SocketAddr,
    pub cert: PathBuf,
    _dir: tempfile::TempDir,
}

impl ChildServer {
    pub fn start(opts: ChildOptions) -> ChildServer {
        let dir = tempfile::tempdir().unwrap();
        let exe = std::env::current_exe().unwrap();
        let mut cmd = match opts.open_files {
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        cmd.args([
            "common::child::serve_as_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
        if let Some(l) = opts.limits {
            cmd.env(
                LIMITS,
                format!(
                    "{},{},{},{},{}",
                    l.max_total,
                    l.max_per_address,
                    l.handshake.as_millis(),
                    l.header.as_millis(),
                    l.idle.as_millis()
                ),
            );
        }
        if let Some((n, q)) = opts.hashes {
            cmd.env(HASHES, format!("{n},{q}"));
        }
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // The test harness prints the test's name on the same line first.
        let ready = loop {
            match lines.next() {
                Some(Ok(l)) if l.contains("CHILD-READY ") => {
                    break l
                        .split("CHILD-READY ")
                        .nth(1)
                        .unwrap_or_default()
                        .to_string();
                }
                Some(Ok(_)) => {}
                _ => panic!("the child server did not start"),
            }
        };
        // Keep draining its output so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        let mut parts = ready.split_whitespace();
        let url = parts.next().unwrap().to_string();
        let cert = PathBuf::from(parts.next().unwrap());
        let addr = url.trim_start_matches("https://").parse().unwrap();
        ChildServer {
            child,
            stdin,
            url,
            addr,
            cert,
            _dir: dir,
        }
    }

    /// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
    pub fn status_kib(&self, field: &str) -> u64 {
        status_kib(self.child.id(), field)
    }

    /// Files the child has open.
    pub fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// A field of `/proc/PID/status` in KiB (0 when the process is gone).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // Closing its stdin stops it; kill it if it does not go.
        drop(self.stdin.take());
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse<T: std::str::FromStr>(v: Option<&str>) -> T {
    v.and_then(|v| v.parse().ok()).expect("a number")
}

/// Not a test of its own: the server process of [`ChildServer`] (does nothing unless started by it).
#[test]
#[ignore = "the server process of other tests, started by common::child::ChildServer"]
fn serve_as_child() {
    let Ok(dir) = std::env::var(DIR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let mut policy = Policy::default();
    if let Ok(h) = std::env::var(HASHES) {
        let mut v = h.split(',');
        policy.limits.hash_concurrency = parse(v.next());
        policy.limits.hash_queue = parse(v.next());
    }
    let security = Arc::new(Security::open_in(&dir, policy).unwrap());
    security
        .add_user(&vigil_server::auth::users::NewUser {
            username: "admin".into(),
            password: PASSWORD.into(),
            role: vigil_server::perms::Role::Admin,
            cameras: None,
            playback: true,
            export: true,
        })
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ctx = Arc::new(vigil_server::AppContext::new(
        security,
        None,
        Arc::new(super::NoCameras),
        &dir,
    ));
    let mut options = ServerOptions::from_config(&Default::default(), &dir).unwrap();
    options.listen = "127.0.0.1:0".parse().unwrap();
    if let Ok(l) = std::env::var(LIMITS) {
        let mut v = l.split(',');
        options.limits = ConnLimits {
            max_total: parse(v.next()),
            max_per_address: parse(v.next()),
            handshake: Duration::from_millis(parse(v.next())),
            header: Duration::from_millis(parse(v.next())),
            idle: Duration::from_millis(parse(v.next())),
        };
    }
    let cert = options.tls.as_ref().unwrap().cert.clone();
    let server = runtime.block_on(Server::start(ctx, options)).unwrap();
    println!("CHILD-READY {} {}", server.url(), cert.display());
    // Serve until the parent closes stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    runtime.block_on(server.shutdown(Duration::from_secs(1)));
}
