//! PTZ autotracking measured: two ipycam cameras play the same footage (people walking in one at a time,
//! standing at a table, leaving) at the same moments, both zoomed in at the same preset; `vigil run`
//! analyses both, with `autotrack` on one. The person's distance from the picture's centre is read from
//! Vigil's own overlay WebSocket (each analysed frame's tracked objects, normalised to the picture) over
//! the same 40 seconds on both.

use crate::support::{self, Vigil};
use crate::{OverlaySample, cameras, ipycam_python, read_overlays};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use vigil_onvif::{ClientOptions, Ptz, PtzVector};

/// The preset both cameras wait at: centred, zoomed in (ipycam's digital zoom: 1 + 3 x zoom times, so
/// 2.5x; pan and tilt move the crop within the frame).
const ZOOM: f64 = 0.5;
const PRESET: &str = "vigil-track";
/// How long the positions are compared.
const WINDOW: Duration = Duration::from_secs(40);
/// Time bins the positions are compared in.
const BIN_MS: i64 = 500;
/// What a person out of a camera's view counts as (the edge of the picture).
const OUT_OF_VIEW: f64 = 0.5;

/// Per bin, the largest person's centre distance from the picture's centre, for one camera.
fn distances(samples: &[OverlaySample], camera: &str, from: i64) -> BTreeMap<i64, f64> {
    let mut out = BTreeMap::new();
    for s in samples.iter().filter(|s| s.camera == camera && s.t >= from) {
        let bin = (s.t - from) / BIN_MS;
        let largest = s
            .objects
            .iter()
            .filter(|o| o["class"] == "person")
            .filter_map(|o| {
                let b: Vec<f64> = o["bbox"]
                    .as_array()?
                    .iter()
                    .filter_map(|v| v.as_f64())
                    .collect();
                (b.len() == 4).then(|| ((b[2] - b[0]) * (b[3] - b[1]), b))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0));
        match largest {
            Some((_, b)) => {
                let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
                out.insert(bin, (cx - 0.5).hypot(cy - 0.5));
            }
            // The frame shows no person: the latest frame of the bin decides.
            None => {
                out.remove(&bin);
            }
        }
    }
    out
}

struct Figures {
    /// Mean distance over the bins where either camera sees the person (out of view: the edge).
    mean: f64,
    /// Share of those bins in which this camera sees the person.
    in_view: f64,
    /// Mean distance while it sees the person.
    while_seen: f64,
}

fn figures(mine: &BTreeMap<i64, f64>, bins: &[i64]) -> Figures {
    let seen: Vec<f64> = bins.iter().filter_map(|b| mine.get(b).copied()).collect();
    let all: f64 = bins
        .iter()
        .map(|b| mine.get(b).copied().unwrap_or(OUT_OF_VIEW))
        .sum();
    Figures {
        mean: all / bins.len().max(1) as f64,
        in_view: seen.len() as f64 / bins.len().max(1) as f64,
        while_seen: seen.iter().sum::<f64>() / seen.len().max(1) as f64,
    }
}

#[test]
fn autotracking_keeps_the_person_nearer_the_centre_than_a_still_camera() {
    let Some(py) = ipycam_python() else { return };
    let Some(video) = support::footage("intel/one-by-one-person-detection.mp4") else {
        return;
    };
    let Some(models) = support::analysis_models(&video) else {
        eprintln!("SKIP: autotracking needs the analysis (../shared/models and ORT_DYLIB_PATH)");
        return;
    };
    let cams = cameras(&py, &video, 2);
    let (on, off) = (&cams[0], &cams[1]);
    // Both wait at the same zoomed-in preset.
    let options = ClientOptions::default();
    for cam in &cams {
        let ptz = Ptz::connect(&cam.device_url, None, &options, None).expect("PTZ");
        ptz.absolute_move(PtzVector::new(0.0, 0.0, ZOOM), None)
            .expect("AbsoluteMove");
        ptz.set_preset(PRESET, None).expect("SetPreset");
    }

    let tmp = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let camera = |name: &str, cam: &vigil_onvif::test_camera::IpyCam, extra: &str| {
        format!(
            "[[camera]]\nname = {name:?}\nmain = {main:?}\nroles = [\"analyze\"]\nonvif = {url:?}\n{extra}\n",
            main = cam.main,
            url = cam.device_url,
        )
    };
    let config = format!(
        "data_dir = {data:?}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n\
         [analysis]\ndetect_fps = 5\nthreads = 2\n\n{}\n{}",
        camera(
            "on",
            on,
            &format!(
                "autotrack = {{ preset = {PRESET:?}, classes = [\"person\"], return_after = \"3s\" }}"
            )
        ),
        camera("off", off, ""),
        data = tmp.path().display().to_string(),
    );
    let path = tmp.path().join("vigil.toml");
    std::fs::write(&path, &config).unwrap();
    let mut vigil = Vigil::spawn(&path, port, Some(&models));
    let admin = support::first_admin(&mut vigil, tmp.path());
    let pem = std::fs::read(tmp.path().join("tls/cert.pem")).unwrap();
    let (samples, stop) = read_overlays(port, &pem, &admin.cookie, &["on", "off"]);
    // The API says which camera follows people by itself.
    for (camera, preset) in [
        ("on", serde_json::json!({"preset": PRESET, "held": false})),
        ("off", serde_json::Value::Null),
    ] {
        let mut r = admin
            .agent
            .get(&format!("{}/api/cameras/{camera}/ptz", vigil.url()))
            .header("cookie", &admin.cookie)
            .call()
            .unwrap();
        let info: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(info["autotrack"], preset, "{info}");
    }

    // Where the autotracked camera points, four times a second.
    let watcher = Ptz::connect(&on.device_url, None, &options, None).expect("PTZ");
    let started = Instant::now();
    let warm_up = Duration::from_secs(8);
    let mut pans: Vec<(f64, f64)> = Vec::new();
    while started.elapsed() < warm_up + WINDOW {
        vigil.run_for(Duration::from_millis(250));
        if let Ok(s) = watcher.status()
            && let Some((pan, _)) = s.position.pan_tilt
        {
            pans.push((started.elapsed().as_secs_f64(), pan));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let samples = samples.lock().unwrap().clone();
    let from = samples
        .iter()
        .map(|s| s.t)
        .min()
        .map(|t0| t0.max(vigil_core::time::now_unix_ms() - WINDOW.as_millis() as i64))
        .unwrap_or(0);
    let on_d = distances(&samples, "on", from);
    let off_d = distances(&samples, "off", from);
    let mut bins: Vec<i64> = on_d.keys().chain(off_d.keys()).copied().collect();
    bins.sort_unstable();
    bins.dedup();
    let (on_f, off_f) = (figures(&on_d, &bins), figures(&off_d, &bins));
    let moved = pans.iter().map(|p| p.1.abs()).fold(0.0, f64::max);
    let returned = pans
        .windows(2)
        .any(|w| w[0].1.abs() > 0.05 && w[1].1.abs() < 1e-3);
    eprintln!(
        "autotrack over {} s with a person in view of either camera for {} bins of {BIN_MS} ms:\n\
         \x20 on:  mean distance from the centre {:.3} (in view {:.0}% of the time; {:.3} while in view)\n\
         \x20 off: mean distance from the centre {:.3} (in view {:.0}% of the time; {:.3} while in view)\n\
         \x20 the tracking camera panned up to {moved:.2} and {} back to its preset",
        WINDOW.as_secs(),
        bins.len(),
        on_f.mean,
        on_f.in_view * 100.0,
        on_f.while_seen,
        off_f.mean,
        off_f.in_view * 100.0,
        off_f.while_seen,
        if returned { "went" } else { "did not go" },
    );
    // ipycam has no event service: said once per camera at info level, never retried as a failure.
    let log = vigil.dump();
    assert!(!log.contains("ONVIF events:"), "{log}");
    assert!(
        bins.len() as f64 >= 0.3 * (WINDOW.as_millis() as f64 / BIN_MS as f64),
        "too little of a person seen to judge: {} bins\n{log}",
        bins.len()
    );
    assert!(moved > 0.1, "the autotracked camera never panned: {pans:?}");
    assert!(
        on_f.mean < 0.6 * off_f.mean && off_f.mean - on_f.mean > 0.05,
        "autotracking is not clearly better: on {:.3}, off {:.3}",
        on_f.mean,
        off_f.mean
    );
    assert!(
        vigil.stop(),
        "vigil run did not stop cleanly:\n{}",
        vigil.dump()
    );
}
