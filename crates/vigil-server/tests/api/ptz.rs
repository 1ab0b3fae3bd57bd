//! PTZ through the API against a real ONVIF camera (ipycam 1.3.0, a third-party virtual camera with
//! digital PTZ, started on loopback): who may move it, what is checked, what is audited, and that a move
//! through the API changes the picture the camera streams. Skips with a `SKIP:` line without ipycam.

use crate::common::{self, Auth, Setup, TestServer};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigil_onvif::test_camera::{FrameReader, IpyCam, IpyCamOptions, mad, python};
use vigil_onvif::{ClientOptions, PtzLink};
use vigil_server::routes::ptz::PtzCameras;
use vigil_server::{CameraHealth, StatusSource, SystemStatus};

/// Cameras by name: `ptz` is the ipycam, `plain` has no ONVIF address, `dead` one where nothing listens.
struct Cameras;

impl StatusSource for Cameras {
    fn status(&self) -> SystemStatus {
        SystemStatus {
            cameras: ["ptz", "plain", "dead"]
                .iter()
                .map(|n| CameraHealth {
                    name: n.to_string(),
                    online: true,
                    ..CameraHealth::default()
                })
                .collect(),
            ..SystemStatus::default()
        }
    }
}

fn link(url: &str) -> Arc<PtzLink> {
    Arc::new(PtzLink::new(url, None, ClientOptions::default()))
}

/// Frames to wait after a move before looking (10 fps: one second, beyond ipycam's encoder latency).
const SETTLE: u64 = 10;

#[test]
fn ptz_routes_move_a_real_camera_for_those_allowed_and_audit_it() {
    let py = match python() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("SKIP: {e}");
            return;
        }
    };
    let options = IpyCamOptions {
        video: common::footage("intel/one-by-one-person-detection.mp4"),
        ..IpyCamOptions::default()
    };
    let camera = IpyCam::start(&py, &options).expect("ipycam");
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (s, admin) = TestServer::with_admin(Setup {
        status: Some(Arc::new(Cameras)),
        ptz: PtzCameras::new([
            ("ptz".to_string(), link(&camera.device_url)),
            (
                "dead".to_string(),
                link(&format!(
                    "http://127.0.0.1:{dead_port}/onvif/device_service"
                )),
            ),
        ]),
        ..Setup::default()
    });
    let a = Auth::Session(admin.clone());
    let op = Auth::Session(s.user(&admin, "otto", "operator", json!({})));
    let viewer = Auth::Session(s.user(&admin, "vera", "viewer", json!({})));
    let post = |who: &Auth, cam: &str, body: Value| {
        s.call("POST", &format!("/api/cameras/{cam}/ptz"), who, Some(body))
    };
    let get = |who: &Auth, cam: &str| s.call("GET", &format!("/api/cameras/{cam}/ptz"), who, None);

    // Who may: operators and admins, tokens with the ptz scope; not viewers.
    assert_eq!(get(&viewer, "ptz").status, 403);
    assert_eq!(post(&viewer, "ptz", json!({"stop": true})).status, 403);
    let token = |scopes: Value| {
        let r = s.call(
            "POST",
            "/api/tokens",
            &a,
            Some(json!({"name": format!("t{scopes}"), "scopes": scopes})),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        Auth::Bearer(r.json()["secret"].as_str().unwrap().to_string())
    };
    assert_eq!(get(&token(json!(["cameras", "live"])), "ptz").status, 403);
    let with_ptz = token(json!(["ptz"]));
    assert_eq!(get(&with_ptz, "ptz").status, 200);
    assert_eq!(get(&op, "nosuch").status, 404);

    // A camera without an ONVIF address says how to give it one.
    let plain = get(&op, "plain");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.json()["ptz"], false);
    let r = post(&op, "plain", json!({"move": [0.5, 0, 0]}));
    assert_eq!(r.status, 409, "{}", r.text());
    assert_eq!(r.json()["error"], "no_onvif");
    assert!(
        r.json()["message"].as_str().unwrap().contains("onvif = "),
        "{}",
        r.text()
    );
    // A device that is not there: 502 with the cause, at once.
    let t0 = Instant::now();
    let r = post(&op, "dead", json!({"home": true}));
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.json()["error"], "device_unreachable");
    assert!(r.text().contains("cannot connect"), "{}", r.text());
    assert_eq!(get(&op, "dead").status, 502);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());

    // Checked before anything is sent.
    for bad in [
        json!({}),
        json!({"move": [2, 0, 0]}),
        json!({"move": [0.5, 0, 0], "seconds": 30}),
        json!({"move": [0.5, 0, 0], "stop": true}),
        json!({"preset": ""}),
    ] {
        let r = post(&op, "ptz", bad.clone());
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    assert_eq!(post(&op, "ptz", json!({"spin": true})).status, 422);

    // The camera: presets and where it points.
    let info = get(&op, "ptz").json();
    assert_eq!(info["ptz"], true, "{info}");
    assert!(info["autotrack"].is_null(), "{info}");
    assert!(
        info["presets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["token"] == "home"),
        "{info}"
    );
    let r = post(&op, "ptz", json!({"home": true}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"]["zoom"], 0.0);

    // A continuous zoom through the API changes the picture; the server stops it after its seconds
    // (ipycam ignores ONVIF's Timeout).
    let video = FrameReader::open(&camera.sub).expect("ffmpeg");
    // How much the scene itself changes between looks (people walk in the footage): the least of three
    // (a person walking in changes up to about 16; a zoom the whole picture, about 50).
    let mut wide = video.frame_after(SETTLE).expect("video");
    let mut noise = f64::MAX;
    for _ in 0..3 {
        let again = video.frame_after(5).expect("video");
        noise = noise.min(mad(&wide, &again));
        wide = again;
    }
    let r = post(&op, "ptz", json!({"move": [0, 0, 1], "seconds": 0.6}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["action"], "move");
    std::thread::sleep(Duration::from_millis(1200));
    let zoom = |who: &Auth| get(who, "ptz").json()["status"]["zoom"].as_f64().unwrap();
    let z1 = zoom(&op);
    std::thread::sleep(Duration::from_millis(600));
    let z2 = zoom(&op);
    assert!(
        (0.3..=1.0).contains(&z1),
        "zoom after 0.6 s at full speed: {z1}"
    );
    assert_eq!(z1, z2, "the server's timed stop ended the move");
    let zoomed = video.frame_after(SETTLE).expect("video");
    let change = mad(&wide, &zoomed);
    eprintln!("scene noise {noise:.1}, change after a zoom through the API {change:.1}");
    assert!(
        change > 2.0 * noise && change > 20.0,
        "the zoom did not change the picture: {change:.1} vs noise {noise:.1}"
    );

    // Presets: saved (by name, replacing one of the same name), listed, gone to by name.
    let r = post(&op, "ptz", json!({"set_preset": "Vigil close"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let token_of = r.json()["preset"]["token"].as_str().unwrap().to_string();
    let listed = get(&op, "ptz").json()["presets"].clone();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["token"] == token_of.as_str() && p["name"] == "Vigil close"),
        "{listed}"
    );
    let r = post(&op, "ptz", json!({"relative": true, "move": [0.5, 0, 0]}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"]["pan"], 0.5);
    let r = post(&op, "ptz", json!({"preset": "vigil CLOSE"}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"]["pan"], 0.0);
    assert_eq!(r.json()["status"]["zoom"].as_f64(), Some(z1));
    let r = post(&op, "ptz", json!({"preset": "nowhere"}));
    assert_eq!(r.status, 404, "{}", r.text());

    // A held control: the same move sent again and again, then a stop; audited once.
    for _ in 0..3 {
        assert_eq!(
            post(&op, "ptz", json!({"move": [-0.3, 0, 0], "seconds": 2})).status,
            200
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(post(&op, "ptz", json!({"stop": true})).status, 200);
    assert_eq!(post(&with_ptz, "ptz", json!({"home": true})).status, 200);

    let log = s.call("GET", "/api/audit?limit=1000", &a, None).json();
    let entries: Vec<&Value> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap_or("").starts_with("ptz."))
        .collect();
    let has = |action: &str, user: &str, detail: &str| {
        entries.iter().any(|e| {
            e["action"] == action
                && e["user"].as_str().unwrap_or("").starts_with(user)
                && e["target"] == "camera ptz"
                && e["detail"].as_str().unwrap_or("").contains(detail)
        })
    };
    assert!(
        has(
            "ptz.move",
            "otto",
            "continuous pan 0 tilt 0 zoom 1 for 0.6 s"
        ),
        "{entries:?}"
    );
    assert!(has("ptz.move", "otto", "relative pan 0.5"), "{entries:?}");
    assert!(has("ptz.preset_set", "otto", "Vigil close"), "{entries:?}");
    assert!(has("ptz.preset", "otto", "Vigil close"), "{entries:?}");
    assert!(
        has("ptz.preset", "otto", "refused: no preset"),
        "{entries:?}"
    );
    assert!(has("ptz.stop", "otto", ""), "{entries:?}");
    assert!(has("ptz.home", "admin (token", ""), "{entries:?}");
    let held = entries
        .iter()
        .filter(|e| e["detail"].as_str().unwrap_or("").contains("pan -0.3"))
        .count();
    assert_eq!(held, 1, "a held control is audited once: {entries:?}");
    // Failed commands are audited with their cause.
    let dead = s.call("GET", "/api/audit?limit=1000", &a, None).text();
    assert!(
        dead.contains("failed: the camera cannot be reached"),
        "{dead}"
    );
}
