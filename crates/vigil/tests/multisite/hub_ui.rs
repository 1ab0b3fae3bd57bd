//! The hub's HTTPS API and UI against real peers: a `vigil hub`, one real `vigil run` site analysing
//! footage (events flow over the kit's private NATS server into a fresh PostgreSQL database), a second
//! site known to the hub but never connected, and central users made with `vigil hub user add`.
//!
//! - `hub_api_auth_scope_limits_and_audit`: login; MFA required for an admin (enrol, then a code at
//!   every login); CSRF on writes; an operator scoped to site A sees none of site B's events (empty list,
//!   404 by id); 100 wrong passwords sent at once from another address are rate limited (at most the
//!   free failures checked) and the right password still works after; words search; audit rows for the
//!   logins and for a relay request.
//! - `hub_ui_in_chromium`: headless Chromium (playwright-core) logs in, sees the site online with its
//!   camera, sees events appear in the list, narrows them with the search box and the site filter, and
//!   opens the site's page. Screenshots go to `target/hub-ui-screenshots/`.

use super::kit::{HubProcess, HubSetup, Nats, eventually, nats_server, postgres};
use crate::support::{self, Vigil, cli};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const ADMIN: (&str, &str) = ("boss", "tulip-orbit-42-canyon");
const OPERATOR: (&str, &str) = ("ops-alpha", "marble-kettle-77-summit");

/// A hub with site `alpha` (a real `vigil run` with camera `gate`) and site `beta` (never connected).
struct Stack {
    _tmp: tempfile::TempDir,
    hub: HubSetup,
    _nats: Nats,
    process: HubProcess,
    site: Vigil,
    url: String,
    cert: PathBuf,
}

fn stack() -> Option<Stack> {
    let (Some(_), Some(pg)) = (nats_server(), postgres()) else {
        return None;
    };
    let video = support::footage("intel/car-detection.mp4")?;
    let Some(models) = support::analysis_models(&video) else {
        eprintln!("SKIP: no ../shared/models or ORT_DYLIB_PATH: the site would raise no events");
        return None;
    };
    let tmp = tempfile::tempdir().unwrap();
    let hub = HubSetup::new(&tmp.path().join("hub"), &pg);
    let seed = hub.add_site("alpha");
    hub.add_site("beta");
    let nats = hub.start_nats();
    let mut process = hub.start_hub();
    process.wait_line(Duration::from_secs(60), "hub UI at");
    for (name, role, extra) in [
        (ADMIN.0, "admin", None),
        (OPERATOR.0, "operator", Some("alpha")),
    ] {
        let password = if name == ADMIN.0 { ADMIN.1 } else { OPERATOR.1 };
        let mut args = vec![
            "hub",
            "--config",
            hub.config.to_str().unwrap(),
            "user",
            "add",
            name,
            "--role",
            role,
            "--password-stdin",
        ];
        if let Some(sites) = extra {
            args.extend(["--sites", sites]);
        }
        let (code, out, err) = cli(&args, Some(&format!("{password}\n")), &[]);
        assert_eq!(code, 0, "vigil hub user add: {out}\n{err}");
    }
    let listed = hub.cli(&["user", "list"]);
    assert!(
        listed.contains(ADMIN.0) && listed.contains(OPERATOR.0),
        "{listed}"
    );
    let site_dir = tmp.path().join("site");
    std::fs::create_dir_all(&site_dir).unwrap();
    let site = Vigil::start_with_extra(
        &site_dir,
        "gate",
        &video,
        Some(&models),
        &hub.uplink_section("alpha", &seed),
    );
    let url = format!("https://127.0.0.1:{}", hub.port);
    let cert = hub.dir.join("data/tls/cert.pem");
    Some(Stack {
        _tmp: tmp,
        hub,
        _nats: nats,
        process,
        site,
        url,
        cert,
    })
}

impl Stack {
    /// Waits until the hub holds at least `n` of the site's events (the site still running).
    fn wait_events(&mut self, n: usize) -> Vec<Value> {
        let hub = &self.hub;
        let events = eventually(Duration::from_secs(240), "events at the hub", || {
            let ev = hub.events();
            (ev.len() >= n).then_some(ev)
        });
        assert!(
            !self.site.dump().contains("panicked"),
            "{}",
            self.site.dump()
        );
        events
    }

    /// Copies three of alpha's events as site beta's (beta never connects).
    fn fake_beta_events(&self) {
        self.hub.db.sql(
            "INSERT INTO events (id, site, camera, seq, start_ms, end_ms, kind, rule, class, phase,
                                 description, line, received_ms)
             SELECT 'B' || id, 'beta', camera, seq, start_ms, end_ms, kind, rule, class, phase,
                    description, jsonb_set(line, '{id}', to_jsonb('B' || id)), received_ms
             FROM events WHERE site = 'alpha' ORDER BY start_ms LIMIT 3",
        );
    }
}

/// A logged-in (or not yet) API client with its session cookie and CSRF token.
struct Api {
    agent: ureq::Agent,
    url: String,
    cookie: String,
    csrf: String,
}

impl Api {
    fn new(s: &Stack) -> Api {
        Api {
            agent: support::https_agent(&std::fs::read(&s.cert).unwrap()),
            url: s.url.clone(),
            cookie: String::new(),
            csrf: String::new(),
        }
    }

    /// A request; returns the status and the JSON answer (`Null` when not JSON).
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, _, bytes) = self.raw(method, path, body, true);
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        csrf: bool,
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let url = format!("{}{path}", self.url);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        if !self.cookie.is_empty() {
            req = req.header("cookie", &self.cookie);
        }
        if csrf && !self.csrf.is_empty() {
            req = req.header("x-csrf-token", &self.csrf);
        }
        let mut r = match body {
            Some(b) => self
                .agent
                .run(
                    req.header("content-type", "application/json")
                        .body(b.to_string())
                        .unwrap(),
                )
                .unwrap(),
            None => self.agent.run(req.body(()).unwrap()).unwrap(),
        };
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let bytes = r.body_mut().read_to_vec().unwrap();
        (r.status().as_u16(), headers, bytes)
    }

    /// Logs in; returns the status and answer, keeping the session on success.
    fn login(&mut self, user: &str, password: &str, totp: Option<&str>) -> (u16, Value) {
        let mut body = json!({"username": user, "password": password});
        if let Some(code) = totp {
            body["totp"] = json!(code);
        }
        let (status, headers, bytes) = self.raw("POST", "/api/login", Some(body), false);
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status == 200 {
            let set = headers
                .iter()
                .find(|(k, _)| k == "set-cookie")
                .map(|(_, v)| v.clone())
                .expect("a session cookie");
            for attr in ["HttpOnly", "Secure", "SameSite=Strict"] {
                assert!(set.contains(attr), "cookie without {attr}: {set}");
            }
            self.cookie = set.split(';').next().unwrap().to_string();
            self.csrf = v["csrf"].as_str().unwrap().to_string();
        }
        (status, v)
    }
}

/// Seconds until the next TOTP step begins.
fn wait_next_totp_step() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    std::thread::sleep(Duration::from_secs(30 - now % 30 + 1));
}

/// One wrong-password login answered: (status, error code, has `Retry-After`).
type Answer = (u16, String, bool);

/// `n` logins with wrong passwords for `user`, all at once, each on its own TLS connection from
/// 127.0.0.2.
fn flood_from_another_address(addr: SocketAddr, cert: &Path, user: &str, n: usize) -> Vec<Answer> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(cert).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Every connection is open (handshake done) before the first login is sent.
        let mut conns = Vec::new();
        for _ in 0..n {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            let tcp = sock.connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await
                .unwrap();
            conns.push(tls);
        }
        let tasks: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                let user = user.to_string();
                tokio::spawn(async move {
                    let body = json!({"username": user, "password": format!("wrong-guess-{i:04}")})
                        .to_string();
                    let req = format!(
                        "POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    c.write_all(req.as_bytes()).await.unwrap();
                    let mut raw = Vec::new();
                    let _ = c.read_to_end(&mut raw).await;
                    let text = String::from_utf8_lossy(&raw).into_owned();
                    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
                    let status = head
                        .split_whitespace()
                        .nth(1)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    let retry = head.to_lowercase().contains("\nretry-after:");
                    let code = serde_json::from_str::<Value>(body).unwrap_or_default()["error"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    (status, code, retry)
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    })
}

fn actions(api: &Api, action: &str) -> Vec<Value> {
    let (status, v) = api.call(
        "GET",
        &format!("/api/audit?action={action}&limit=1000"),
        None,
    );
    assert_eq!(status, 200, "{v}");
    v["entries"].as_array().unwrap().clone()
}

#[test]
fn hub_api_auth_scope_limits_and_audit() {
    let Some(mut s) = stack() else { return };
    let hub_events = s.wait_events(3);
    s.fake_beta_events();

    // The admin logs in with the password alone, but may do nothing before enrolling MFA.
    let mut admin = Api::new(&s);
    let (status, me) = admin.login(ADMIN.0, ADMIN.1, None);
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["mfa_enrollment_required"], json!(true), "{me}");
    let (status, v) = admin.call("GET", "/api/sites", None);
    assert_eq!(
        (status, v["error"].as_str()),
        (403, Some("mfa_enrollment_required")),
        "{v}"
    );
    // Writes need the CSRF token.
    let (status, _, _) = admin.raw("POST", "/api/me/mfa/enroll", Some(json!({})), false);
    assert_eq!(status, 403, "a write without the CSRF token");
    let (status, enrol) = admin.call("POST", "/api/me/mfa/enroll", Some(json!({})));
    assert_eq!(status, 200, "{enrol}");
    let secret = enrol["secret"].as_str().unwrap().to_string();
    assert!(enrol["qr_svg"].as_str().unwrap().contains("<svg"));
    let code = vigil_server::auth::mfa::current_code(&secret).unwrap();
    let (status, me) = admin.call("POST", "/api/me/mfa/confirm", Some(json!({"code": code})));
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user"]["mfa"], json!(true));
    // From now on the password alone is not enough.
    let mut again = Api::new(&s);
    let (status, v) = again.login(ADMIN.0, ADMIN.1, None);
    assert_eq!(
        (status, v["error"].as_str()),
        (401, Some("mfa_required")),
        "{v}"
    );
    let (status, v) = again.login(ADMIN.0, ADMIN.1, Some("000000"));
    assert_eq!(status, 401, "{v}");
    wait_next_totp_step();
    let code = vigil_server::auth::mfa::current_code(&secret).unwrap();
    let (status, v) = again.login(ADMIN.0, ADMIN.1, Some(&code));
    assert_eq!(status, 200, "{v}");
    let admin = again;

    // Every site at a glance: alpha online with its camera, beta never seen.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let sites = loop {
        let (status, v) = admin.call("GET", "/api/sites", None);
        assert_eq!(status, 200, "{v}");
        let alpha = v["sites"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == "alpha"));
        if alpha.is_some_and(|a| a["online"] == json!(true) && a["cameras"][0]["name"] == "gate") {
            break v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "alpha not online with gate: {v:#}\n--- site ---\n{}",
            s.site.dump()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let names: Vec<&str> = sites["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    let beta = &sites["sites"][1];
    assert_eq!(beta["online"], json!(false));
    assert!(sites["sites"][0]["version"].is_string(), "{sites}");
    assert!(sites["sites"][0]["backlog"].is_u64(), "{sites}");

    // One list across sites for the admin; the operator of alpha sees alpha's only.
    let (status, all) = admin.call("GET", "/api/events?limit=500", None);
    assert_eq!(status, 200, "{all}");
    let all = all["events"].as_array().unwrap().clone();
    assert!(all.iter().any(|e| e["site"] == "beta"), "admin sees beta");
    assert!(all.iter().any(|e| e["site"] == "alpha"), "admin sees alpha");
    let beta_id = all.iter().find(|e| e["site"] == "beta").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ops = Api::new(&s);
    let (status, me) = ops.login(OPERATOR.0, OPERATOR.1, None);
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["mfa_enrollment_required"], json!(false));
    let (status, mine) = ops.call("GET", "/api/events?limit=500", None);
    assert_eq!(status, 200, "{mine}");
    let mine = mine["events"].as_array().unwrap();
    assert!(!mine.is_empty());
    assert!(mine.iter().all(|e| e["site"] == "alpha"), "{mine:?}");
    let (status, v) = ops.call("GET", "/api/events?site=beta", None);
    assert_eq!(status, 200);
    assert_eq!(v["events"], json!([]), "beta's events for alpha's operator");
    let (status, _) = ops.call("GET", &format!("/api/events/{beta_id}"), None);
    assert_eq!(status, 404, "beta's event by id");
    let (status, _) = ops.call("GET", &format!("/api/events/{beta_id}/snapshot"), None);
    assert_eq!(status, 404, "beta's snapshot");
    let (status, v) = ops.call("GET", "/api/sites", None);
    assert_eq!(status, 200);
    assert_eq!(v["sites"].as_array().unwrap().len(), 1, "{v}");
    let (status, _) = ops.call("GET", "/api/users", None);
    assert_eq!(status, 403, "an operator lists no users");
    let (status, _) = ops.call("GET", "/api/sites/beta/cameras/gate/live.jpg", None);
    assert_eq!(status, 404, "beta's live picture for alpha's operator");

    // The words search narrows: the camera's name finds alpha's events, a word nobody used nothing.
    let (status, v) = admin.call("GET", "/api/events?q=gate&site=alpha&limit=500", None);
    assert_eq!(status, 200);
    assert!(!v["events"].as_array().unwrap().is_empty());
    let (status, v) = admin.call("GET", "/api/events?q=zeppelin", None);
    assert_eq!(status, 200);
    assert_eq!(v["events"], json!([]));
    let with_snapshot = hub_events.iter().find(|e| e["snapshot"] == json!(true));
    if let Some(e) = with_snapshot {
        let id = e["id"].as_str().unwrap();
        let snap = eventually(Duration::from_secs(30), "a snapshot at the hub", || {
            let (status, headers, bytes) =
                admin.raw("GET", &format!("/api/events/{id}/snapshot"), None, true);
            (status == 200).then_some((headers, bytes))
        });
        assert!(snap.1.starts_with(&[0xff, 0xd8]), "a JPEG");
    }

    // A relay request is audited whether the site answered or not (502 with the reason when not).
    let (status, headers, bytes) =
        ops.raw("GET", "/api/sites/alpha/cameras/gate/live.jpg", None, true);
    match status {
        200 => assert!(bytes.starts_with(&[0xff, 0xd8]), "a JPEG"),
        502 => println!("live picture relay: {}", String::from_utf8_lossy(&bytes)),
        s => panic!("live.jpg answered {s}: {headers:?}"),
    }

    // 100 wrong passwords at once from 127.0.0.2: few are checked, the rest refused with Retry-After.
    let addr: SocketAddr = format!("127.0.0.1:{}", s.hub.port).parse().unwrap();
    let answers = flood_from_another_address(addr, &s.cert, OPERATOR.0, 100);
    let checked = answers
        .iter()
        .filter(|a| a.0 == 401 && a.1 == "invalid_credentials")
        .count();
    let refused = answers.iter().filter(|a| matches!(a.0, 429 | 503)).count();
    println!("100 wrong passwords at once: {checked} checked, {refused} refused");
    for a in &answers {
        assert!(
            (a.0 == 401 && a.1 == "invalid_credentials") || (matches!(a.0, 429 | 503) && a.2),
            "unexpected answer {a:?}"
        );
    }
    assert!(checked <= 5, "{checked} passwords checked");
    assert!(refused >= 95, "{refused} refused");
    // That address is refused now, even with the right password…
    // …while the operator, from their own address, still logs in.
    let mut ops2 = Api::new(&s);
    let (status, v) = ops2.login(OPERATOR.0, OPERATOR.1, None);
    assert_eq!(status, 200, "the right password after the flood: {v}");

    // The audit log has the logins, the failures, the MFA enrolment and the relay request.
    let ok = actions(&admin, "login.success");
    assert!(ok.iter().any(|e| e["actor"] == ADMIN.0), "{ok:?}");
    assert!(ok.iter().any(|e| e["actor"] == OPERATOR.0), "{ok:?}");
    let failures = actions(&admin, "login.failure");
    let of_ops = failures
        .iter()
        .filter(|e| e["target"] == OPERATOR.0 && e["ip"] == "127.0.0.2")
        .count();
    assert_eq!(of_ops, checked, "each checked guess audited once");
    assert!(!actions(&admin, "mfa.enabled").is_empty());
    let relays = actions(&admin, "relay.live");
    assert!(
        relays
            .iter()
            .any(|e| e["actor"] == OPERATOR.0 && e["target"] == "alpha/gate"),
        "{relays:?}"
    );
    let rows = s
        .hub
        .db
        .sql("SELECT count(*) FROM audit WHERE action = 'relay.live'");
    assert!(rows.trim().parse::<u32>().unwrap() >= 1);
    // The operator cannot read the audit log.
    let (status, _) = ops2.call("GET", "/api/audit", None);
    assert_eq!(status, 403);
    // Logging out ends the session.
    let (status, _) = ops2.call("POST", "/api/logout", Some(json!({})));
    assert_eq!(status, 204);
    let (status, _) = ops2.call("GET", "/api/me", None);
    assert_eq!(status, 401);
}

#[test]
fn hub_ui_in_chromium() {
    let (Some(modules), Some(chromium)) = (support::node_modules(), support::chromium()) else {
        return;
    };
    let Some(mut s) = stack() else { return };
    s.wait_events(2);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("hub-ui-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/multisite/hub_ui_flow.mjs");
    let out = std::process::Command::new("node")
        .arg(&script)
        .env("HUB_URL", &s.url)
        .env("HUB_USER", OPERATOR.0)
        .env("HUB_PASSWORD", OPERATOR.1)
        .env("HUB_SITE", "alpha")
        .env("HUB_CAMERA", "gate")
        .env("HUB_SCREENSHOTS", &shots)
        .env("VIGIL_NODE_MODULES", &modules)
        .env("VIGIL_CHROMIUM", &chromium)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("[hub-ui] OK"),
        "browser flow failed:\n{stdout}\n{stderr}\n--- hub ---\n{}",
        s.process.dump()
    );
    let pngs = std::fs::read_dir(&shots).unwrap().count();
    assert!(pngs >= 4, "{pngs} screenshots");
}
