//! The Review page in headless Chromium against the real HTTPS server serving the embedded web UI, with
//! events in the real store: `ui/review.mjs` moves with j/k, marks an item reviewed with r and the next a
//! false alarm with f; here the server's state is checked (the user's marks and verdicts, the count).
//! A new event raised on the live feed afterwards raises the badge. Screenshots go to `target/ui-screenshots/review-*.png`.

use crate::common::{Auth, CAM_A, CAM_B, PASSWORD, Setup, TestServer};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use vigil_core::{EventId, EventKind};

/// playwright-core's node_modules (`VIGIL_NODE_MODULES`, else the project's tool cache), or `None`
/// after a visible skip line.
fn node_modules() -> Option<PathBuf> {
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!("skipped: node not found (install Node.js >= 20 and run dev/install-deps)");
        return None;
    }
    let dir = std::env::var_os("VIGIL_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.vigil-cache/node/node_modules")
        });
    let found = dir.join("playwright-core/package.json").exists();
    if !found {
        eprintln!(
            "skipped: playwright-core not found in {} (run dev/install-deps)",
            dir.display()
        );
    }
    found.then_some(dir)
}

/// Debian's Chromium, or `None` after a visible skip line.
fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        eprintln!("skipped: chromium not found (run dev/install-deps)");
    }
    found
}

#[test]
fn the_review_page_works_from_the_keyboard_in_chromium() {
    let (Some(modules), Some(chromium)) = (node_modules(), chromium()) else {
        return;
    };
    let bus = vigil_bus::EventBus::new();
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        assets: Some(Arc::new(vigil_server::web::WebAssets)),
        event_bus: Some(bus.clone()),
        ..Setup::default()
    });
    let olga = s.user(&admin, "olga", "operator", json!({}));
    let olga = Auth::Session(olga);
    // Three items of the last hour (the 2024 events of the store make two more, outside the count).
    let b = (vigil_core::time::now_unix_ms() - 3_600_000) / 60_000 * 60_000;
    crate::review::record(&s, CAM_A, 1, b, 2, EventKind::Intrusion);
    crate::review::record(&s, CAM_B, 2, b + 10_000, 2, crate::review::crossing());
    crate::review::record(&s, CAM_A, 3, b + 300_000, 2, crate::review::crossing());
    let count = |who: &Auth| s.call("GET", "/api/review/count", who, None).json();
    assert_eq!(count(&olga)["total"], 3);

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("ui-screenshots");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/ui/review.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .env("VIGIL_URL", &s.url)
        .env("VIGIL_USER", "olga")
        .env("VIGIL_PASSWORD", PASSWORD)
        .env("VIGIL_ITEMS", "5")
        .env("VIGIL_BADGE", "3")
        .env("VIGIL_SCREENSHOTS", &shots)
        .env("VIGIL_NODE_MODULES", &modules)
        .env("VIGIL_CHROMIUM", &chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // When the page asks for it, a new event is stored and raised on the live feed, as `vigil run` does.
    let mut stdout = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line.contains("WAITING_LIVE") {
            let b4 = vigil_core::time::now_unix_ms() - 60_000;
            crate::review::record(&s, CAM_B, 4, b4, 2, EventKind::Intrusion);
            let id: EventId = EventId::from_parts(b4 as u64, 4);
            let event = s
                .ctx
                .store
                .as_ref()
                .unwrap()
                .event_reader()
                .unwrap()
                .get(id)
                .unwrap()
                .event;
            bus.publish(vigil_bus::Message::Event(Arc::new(
                vigil_bus::EventMessage {
                    event,
                    snapshot: None,
                },
            )));
        }
        stdout.push_str(&line);
        stdout.push('\n');
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("[review-ui] OK"),
        "browser flow failed:\n{stdout}\n{stderr}"
    );
    let result: Value = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(|l| serde_json::from_str(l).unwrap())
        .expect("a RESULT line");
    assert_eq!(
        (
            result["badge_before"].as_u64(),
            result["badge_after"].as_u64()
        ),
        (Some(3), Some(1))
    );

    // The server agrees: the two items are olga's reviewed ones, the second judged a false alarm.
    let items = s.call("GET", "/api/review", &olga, None).json();
    let item = |id: &Value| {
        items["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| &i["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no item {id}"))
    };
    assert_eq!(item(&result["reviewed"])["reviewed"], true);
    assert_eq!(item(&result["false_alarm"])["reviewed"], true);
    assert_eq!(count(&olga)["total"], 2);
    assert_eq!(
        count(&Auth::Session(admin))["total"],
        4,
        "the admin's own marks are untouched"
    );
    let judged: EventId = result["false_alarm"].as_str().unwrap().parse().unwrap();
    let reader = s.ctx.store.as_ref().unwrap().event_reader().unwrap();
    let report = reader
        .weekly_feedback(
            &Default::default(),
            1,
            vigil_core::time::now_unix_ms(),
            &|_, ms| ms,
        )
        .unwrap();
    let fa: u64 = report.iter().map(|r| r.false_alarms).sum();
    assert_eq!(fa, 1, "{judged}: {report:?}");
    assert!(shots.join("review-keyboard.png").exists());
}
