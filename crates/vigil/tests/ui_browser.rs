//! The web UI end to end in headless Chromium (Debian's `chromium`, driven by Playwright's `playwright-core`
//! from `dev/install-deps`): a real `vigil run` with a camera replaying footage; `ui_browser/flow.mjs` does
//! first-run setup, logs in, enrols MFA, logs in again with a TOTP code, checks that live video plays in the
//! grid and that a recorded range plays in the camera view, exports it, checks events with snapshots (when
//! the shared models are there, the camera is analysed with a rule that fires on every vehicle), visits
//! every page, adds a user and logs out. Screenshots of each step are saved under `target/ui-screenshots/`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{Vigil, chromium, node_modules};

/// `target/ui-screenshots` (next to the build's own `tmp`).
fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("ui-screenshots");
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn setup_login_mfa_live_playback_logout_in_chromium() {
    let Some(video) = support::footage("intel/car-detection.mp4") else {
        return;
    };
    let (Some(modules), Some(chromium)) = (node_modules(), chromium()) else {
        return;
    };
    // With the shared models and ONNX Runtime the camera is analysed too, so events with snapshots show.
    let models = support::analysis_models(&video);
    if models.is_none() {
        eprintln!("SKIP: the events part (no ../shared/models or ORT_DYLIB_PATH)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut vigil = Vigil::start_with(tmp.path(), "yard", &video, models.as_deref());
    let token = vigil.setup_token();
    vigil.wait_listening();
    let shots = screenshots();

    // A photo to enrol on a watchlist: the face of the person on the left in the corridor clip's first
    // frame (480x270; the face is about 50 pixels wide around (116, 120)).
    let face = tmp.path().join("face.jpg");
    let face_ok = models.is_some()
        && support::footage("intel/face-demographics-walking-and-pause.mp4").is_some_and(|clip| {
            Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-i"])
                .arg(&clip)
                .args(["-vf", "crop=110:110:61:65", "-frames:v", "1"])
                .arg(&face)
                .status()
                .is_ok_and(|s| s.success())
        });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui_browser/flow.mjs");
    let out = Command::new("node")
        .arg(&script)
        .env("VIGIL_URL", vigil.url())
        .env("VIGIL_SETUP_TOKEN", &token)
        .env("VIGIL_CAMERA", "yard")
        .env("VIGIL_SCREENSHOTS", &shots)
        .env("VIGIL_NODE_MODULES", &modules)
        .env("VIGIL_CHROMIUM", &chromium)
        .env("VIGIL_EVENTS", if models.is_some() { "1" } else { "0" })
        .env(
            "VIGIL_FACE_PHOTO",
            if face_ok {
                face.as_os_str()
            } else {
                "".as_ref()
            },
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("[ui-test] OK"),
        "browser flow failed:\n{stdout}\n{stderr}\n--- vigil output ---\n{}",
        vigil.dump()
    );
    let pngs = std::fs::read_dir(&shots).unwrap().count();
    assert!(pngs >= 12, "{pngs} screenshots in {}", shots.display());
    assert!(
        vigil.stop(),
        "vigil run did not stop cleanly:\n{}",
        vigil.dump()
    );
}
