//! The camera page's PTZ panel in headless Chromium against a real `vigil run` recording an ipycam camera
//! with its `onvif` address: `ptz_panel.mjs` logs in as an admin, holds "Zoom in" and sees the live
//! picture change, pans with the keyboard, saves a preset and goes back home; a viewer gets no panel.
//! Screenshots go to `target/ui-screenshots/ptz/`.

use crate::ipycam_python;
use crate::support::{self, Vigil, chromium, node_modules};
use std::path::Path;
use std::process::Command;
use vigil_onvif::test_camera::{IpyCam, IpyCamOptions};
use vigil_onvif::{ClientOptions, Ptz};

#[test]
fn the_ptz_panel_moves_the_camera_in_chromium() {
    let Some(py) = ipycam_python() else { return };
    let (Some(modules), Some(chromium)) = (node_modules(), chromium()) else {
        return;
    };
    let options = IpyCamOptions {
        // The footage when present, else ipycam's moving pattern: either shows a zoom.
        video: support::footage("intel/one-by-one-person-detection.mp4"),
        ..IpyCamOptions::default()
    };
    let cam = IpyCam::start(&py, &options).expect("ipycam");
    let tmp = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let rec = tmp.path().join("recordings");
    std::fs::create_dir_all(&rec).unwrap();
    let config = format!(
        "data_dir = {data:?}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n[analysis]\nenabled = false\n\n\
         [storage]\nsegment_seconds = 4\n[[storage.dirs]]\nname = \"main\"\npath = {rec:?}\nmin_free_bytes = 0\n\n\
         [[camera]]\nname = \"ptz\"\nmain = {main:?}\nroles = [\"record\"]\nonvif = {url:?}\n",
        data = tmp.path().display().to_string(),
        rec = rec.display().to_string(),
        main = cam.main,
        url = cam.device_url,
    );
    let path = tmp.path().join("vigil.toml");
    std::fs::write(&path, config).unwrap();
    let mut vigil = Vigil::spawn(&path, port, None);
    let admin = support::first_admin(&mut vigil, tmp.path());
    // A viewer, who may watch but not move.
    let r = admin
        .agent
        .post(&format!("{}/api/users", vigil.url()))
        .header("cookie", &admin.cookie)
        .header("x-csrf-token", &admin.csrf)
        .header("content-type", "application/json")
        .send(
            serde_json::json!({"username": "watcher", "password": "tulip-orbit-42-canyon", "role": "viewer"})
                .to_string(),
        )
        .unwrap();
    assert_eq!(r.status(), 201);

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("ui-screenshots/ptz");
    let _ = std::fs::remove_dir_all(&shots);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onvif_e2e/ptz_panel.mjs");
    let out = Command::new("node")
        .arg(&script)
        .env("VIGIL_URL", vigil.url())
        .env("VIGIL_CAMERA", "ptz")
        .env("VIGIL_ADMIN", "keeper")
        .env("VIGIL_VIEWER", "watcher")
        .env("VIGIL_PASSWORD", "tulip-orbit-42-canyon")
        .env("VIGIL_SCREENSHOTS", &shots)
        .env("VIGIL_NODE_MODULES", &modules)
        .env("VIGIL_CHROMIUM", &chromium)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("[ptz-test] OK"),
        "browser flow failed:\n{stdout}\n{stderr}\n--- vigil output ---\n{}",
        vigil.dump()
    );
    // The camera itself is back home after the flow; the moves were audited under the admin's name.
    let ptz = Ptz::connect(&cam.device_url, None, &ClientOptions::default(), None).expect("PTZ");
    let status = ptz.status().expect("GetStatus");
    assert_eq!(status.position.zoom, Some(0.0), "{status:?}");
    let mut r = admin
        .agent
        .get(&format!("{}/api/audit?limit=1000", vigil.url()))
        .header("cookie", &admin.cookie)
        .call()
        .unwrap();
    let log = r.body_mut().read_to_string().unwrap();
    for action in ["ptz.move", "ptz.stop", "ptz.preset_set", "ptz.preset"] {
        assert!(
            log.contains(&format!("\"action\":\"{action}\"")),
            "{action} not audited: {log}"
        );
    }
    assert!(
        vigil.stop(),
        "vigil run did not stop cleanly:\n{}",
        vigil.dump()
    );
}
