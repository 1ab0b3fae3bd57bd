//! Evidence you can trust, end to end with the real binary: `vigil run` records and signs its chain
//! heads; `vigil verify recordings` checks them and names tampering; `vigil export --evidence` writes a
//! signed bundle that `vigil verify DIR` checks with nothing but the folder, naming a flipped byte, an
//! edited field, a swapped key or a truncated file; `vigil keys rotate` keeps everything verifiable;
//! a wrong master key refuses to start.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{Vigil, cli, footage};
use vigil_core::Time90k;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn mp4_in(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "mp4"))
        .unwrap()
}

/// The recorded range of camera `cam` as RFC 3339 strings, and its segment files.
fn recorded(dir: &Path, cam: &str) -> (String, String, Vec<PathBuf>) {
    let reader = vigil_store::Reader::open(&dir.join("index.db")).unwrap();
    let segs = reader
        .segments(cam, "main", Time90k(0), Time90k(i64::MAX / 4))
        .unwrap();
    assert!(
        segs.len() >= 2,
        "too little recorded: {} segment(s)",
        segs.len()
    );
    let first = segs[0].start;
    let last = segs.last().unwrap();
    let end = Time90k(last.start.0 + last.duration.0);
    (
        vigil_store::evidence::rfc3339(first),
        vigil_store::evidence::rfc3339(end),
        segs.into_iter().map(|s| s.file).collect(),
    )
}

#[test]
fn recordings_and_evidence_bundles_verify_and_every_tampering_is_named() {
    let Some(video) = footage("intel/car-detection.mp4") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut vigil = Vigil::start(dir, "driveway", &video);
    vigil.wait_listening();
    vigil.run_for(Duration::from_secs(13));
    assert!(
        vigil.stop(),
        "vigil run did not stop cleanly:\n{}",
        vigil.dump()
    );
    let config = dir.join("vigil.toml");
    let config = s(&config);

    // The key store: owner-only, the site key wrapped by the master key.
    use std::os::unix::fs::PermissionsExt;
    for f in ["keys/master.key", "keys/site-signing.key"] {
        let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let (code, shown, err) = cli(&["keys", "show", "--config", config], None, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        shown.contains("site-signing.key") && shown.contains("wrapped by"),
        "{shown}"
    );
    let fingerprint = vigil_keys::KeyStore::public_key(dir)
        .unwrap()
        .unwrap()
        .fingerprint();
    assert!(shown.contains(&fingerprint), "{shown}");

    // Untouched recordings verify, heads signed at the clean stop.
    let (code, out, err) = cli(&["verify", "recordings", "--config", config], None, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("recordings OK") && out.contains("0 after the newest signed head"),
        "{out}"
    );

    // A signed evidence bundle, audited.
    let (from, to, segments) = recorded(dir, "driveway");
    let bundle = dir.join("case-17");
    let (code, out, err) = cli(
        &[
            "export",
            "--config",
            config,
            "--camera",
            "driveway",
            "--from",
            &from,
            "--to",
            &to,
            "--evidence",
            s(&bundle),
            "--case",
            "17",
            "--reason",
            "hit and run",
        ],
        None,
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["case"], "17");
    assert_eq!(manifest["reason"], "hit and run");
    assert!(
        manifest["exported_by"]
            .as_str()
            .unwrap()
            .starts_with("cli:")
    );
    assert!(manifest["audit_entry"].as_i64().unwrap() > 0);
    assert_eq!(
        manifest["segments"].as_array().unwrap().len(),
        segments.len()
    );
    assert_eq!(manifest["site"]["key_fingerprint"], fingerprint.as_str());
    let (code, out, err) = cli(&["verify", s(&bundle)], None, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("evidence OK") && out.contains("case \"17\"") && out.contains(&fingerprint),
        "{out}"
    );
    // The export is in the audit log, which still verifies.
    let (code, out, err) = cli(&["audit", "verify", "--config", config], None, &[]);
    assert_eq!(code, 0, "{out}{err}");

    // Each tampering of a copy is named by the file (and field) that fails.
    let tamper = |name: &str, f: &dyn Fn(&Path)| -> String {
        let copy = dir.join(name);
        copy_dir(&bundle, &copy);
        f(&copy);
        let (code, out, err) = cli(&["verify", s(&copy)], None, &[]);
        assert_eq!(code, 1, "{name} verified:\n{out}{err}");
        err
    };
    let video_name = mp4_in(&bundle)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let err = tamper("flipped", &|d| {
        let p = mp4_in(d);
        let mut b = std::fs::read(&p).unwrap();
        let i = b.len() * 2 / 3;
        b[i] ^= 1;
        std::fs::write(&p, b).unwrap();
    });
    assert!(
        err.contains(&video_name) && err.contains("SHA-256"),
        "{err}"
    );
    let err = tamper("edited", &|d| {
        let p = d.join("manifest.json");
        let t = std::fs::read_to_string(&p)
            .unwrap()
            .replace("\"17\"", "\"18\"");
        std::fs::write(&p, t).unwrap();
    });
    assert!(err.contains("manifest.json field `case`"), "{err}");
    let err = tamper("swapped", &|d| {
        let other = vigil_keys::SiteKey::from_seed(&[3; 32]).unwrap();
        std::fs::write(d.join("site.pub"), other.public().to_file_text()).unwrap();
    });
    assert!(err.contains("site.pub") && err.contains("swapped"), "{err}");
    let err = tamper("truncated", &|d| {
        let p = mp4_in(d);
        let len = std::fs::metadata(&p).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(len - 1000)
            .unwrap();
    });
    assert!(
        err.contains(&video_name) && err.contains("truncated"),
        "{err}"
    );

    // Rotating the master key keeps the site key, so everything still verifies.
    let (code, out, err) = cli(&["keys", "rotate", "--config", config], None, &[]);
    assert_eq!(code, 0, "{out}{err}");
    // The site key, the TOTP key (vigil run's server seals TOTP secrets) and the face-template key (its
    // server opens the watchlists) are wrapped key files.
    assert!(
        out.contains("rotated") && out.contains("3 key(s) rewrapped"),
        "{out}"
    );
    assert!(!out.contains(" 0 segment key(s)"), "{out}");
    let (code, out, err) = cli(&["verify", s(&bundle)], None, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = cli(&["verify", "recordings", "--config", config], None, &[]);
    assert_eq!(code, 0, "{out}{err}");

    // Tampered recordings: exit 1, naming each segment.
    let mut b = std::fs::read(&segments[0]).unwrap();
    let i = b.len() - 100;
    b[i] ^= 0x10;
    std::fs::write(&segments[0], b).unwrap();
    std::fs::remove_file(&segments[1]).unwrap();
    let (code, out, err) = cli(&["verify", "recordings", "--config", config], None, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("file-edited") && out.contains(s(&segments[0])),
        "{out}"
    );
    assert!(
        out.contains("file-missing") && out.contains(s(&segments[1])),
        "{out}"
    );
    assert!(err.contains("2 problem(s)"), "{err}");
    // The same as JSON, for monitoring.
    let (code, out, err) = cli(
        &["verify", "recordings", "--config", config, "--json"],
        None,
        &[],
    );
    assert_eq!(code, 1, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let faults: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["fault"].as_str().unwrap())
        .collect();
    assert_eq!(faults, ["file-edited", "file-missing"], "{out}");
    assert!(report["segments"].as_u64().unwrap() >= 2, "{out}");
}

#[test]
fn a_wrong_or_missing_master_key_refuses_to_start() {
    let Some(video) = footage("intel/car-detection.mp4") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let right = "5a".repeat(32);
    let wrong = "a5".repeat(32);
    // A first start writes the configuration and the data directory.
    let mut vigil = Vigil::start(dir, "driveway", &video);
    vigil.wait_listening();
    assert!(vigil.stop());
    let config = dir.join("vigil.toml");
    // Re-key the fresh installation: a supplied master from the environment.
    std::fs::remove_dir_all(dir.join("keys")).unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[keys]\nmaster = \"env:VIGIL_TEST_MASTER\"\n"),
    )
    .unwrap();
    let (code, out, err) = cli(
        &["keys", "show", "--config", s(&config)],
        None,
        &[("VIGIL_TEST_MASTER", &right)],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !dir.join("keys/master.key").exists(),
        "a supplied master key is never written to disk"
    );
    let before = segment_count(dir);
    for (env, why) in [
        (Some(wrong.as_str()), "not the configured master key"),
        (None, "not set"),
    ] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"));
        cmd.args(["run", "--config", s(&config)])
            .env_remove("VIGIL_TEST_MASTER");
        if let Some(v) = env {
            cmd.env("VIGIL_TEST_MASTER", v);
        }
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("vigil run started with a wrong or missing master key");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains("master key") && err.contains(why), "{err}");
        assert!(!err.contains(&wrong), "the key was printed: {err}");
    }
    // Nothing was recorded meanwhile: it refused before opening the store.
    assert_eq!(segment_count(dir), before);
}

fn segment_count(dir: &Path) -> i64 {
    rusqlite::Connection::open(dir.join("index.db"))
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM segments", [], |r| r.get(0)))
        .unwrap_or(0)
}

/// Every frame of a video.
fn frames_of(path: &Path) -> Vec<vigil_core::BgrImage> {
    let mut src = vigil_media::VideoSource::open(path).unwrap();
    let mut conv = vigil_media::Converter::new();
    let mut out = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        out.push(f.bgr(&mut conv, f.width(), f.height()).unwrap());
    }
    out
}

#[test]
fn a_redacted_evidence_export_has_no_face_left_and_masks_black() {
    let Some(video) = footage("intel/face-demographics-walking-and-pause.mp4") else {
        return;
    };
    let models = vigil_media::test_server::shared_footage()
        .map(|d| d.join("../models"))
        .filter(|d| d.join("face_detection_yunet_2023mar_640.onnx").is_file());
    let (Some(models), true) = (models, std::env::var_os("ORT_DYLIB_PATH").is_some()) else {
        eprintln!(
            "SKIP a_redacted_evidence_export_has_no_face_left_and_masks_black: models or ORT_DYLIB_PATH absent"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut vigil = Vigil::start(dir, "corridor", &video);
    vigil.wait_listening();
    vigil.run_for(Duration::from_secs(9));
    assert!(
        vigil.stop(),
        "vigil run did not stop cleanly:\n{}",
        vigil.dump()
    );
    let (from, to, _) = recorded(dir, "corridor");
    let range = ["--camera", "corridor", "--from", &from, "--to", &to];
    // The original (no mask yet, no redaction asked) is the camera's own video, faces and all.
    let config_path = dir.join("vigil.toml");
    let original = dir.join("original.mp4");
    let mut args = vec!["export", "--config", s(&config_path)];
    args.extend(range);
    args.push(s(&original));
    let (code, out, err) = cli(&args, None, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("redact"), "{out}");
    // A privacy mask over the bottom-right corner (a neighbour's window).
    let config = dir.join("vigil.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "\n[[rules.corridor.mask]]\nname = \"window\"\nkind = \"privacy\"\n\
         points = [[0.75, 0.75], [1.0, 0.75], [1.0, 1.0], [0.75, 1.0]]\n",
    );
    std::fs::write(&config, text).unwrap();
    let config = s(&config);
    let m = s(&models);

    let bundle = dir.join("redacted");
    let mut args = vec![
        "export",
        "--config",
        config,
        "--models",
        m,
        "--evidence",
        s(&bundle),
    ];
    args.extend(range);
    args.extend(["--redact", "faces,plates", "--reason", "public appeal"]);
    let (code, out, err) = cli(&args, None, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("redacted and re-encoded"), "{out}");
    let (code, out, err) = cli(&["verify", s(&bundle)], None, &[]);
    assert_eq!(code, 0, "the redacted bundle verifies: {out}{err}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("manifest.json")).unwrap())
            .unwrap();
    let r = &manifest["redaction"];
    assert_eq!(r["reencoded"], true, "{manifest:#}");
    assert_eq!(r["masks"], 1);
    assert!(r["frames_with_faces"].as_u64().unwrap() > 0, "{r}");

    let rt = vigil_vision::runtime::Runtime::init(None).unwrap();
    let store = vigil_vision::model::ModelStore::new(vec![models.clone()], None);
    let (p, b) = store.load_asset(&vigil_vision::model::YUNET).unwrap();
    let mut faces = vigil_vision::faces::FaceDetector::new(&rt, &p, &b, 2).unwrap();
    let before = frames_of(&original);
    let after = frames_of(&mp4_in(&bundle));
    assert_eq!(before.len(), after.len(), "every frame is exported");
    let seen: usize = before.iter().map(|f| faces.detect(f).unwrap().len()).sum();
    assert!(
        seen >= before.len(),
        "{seen} faces in {} original frames",
        before.len()
    );
    for (i, f) in after.iter().enumerate() {
        let left = faces.detect(f).unwrap();
        assert!(
            left.is_empty(),
            "frame {i}: a face survived redaction: {left:?}"
        );
        let (w, h) = (f.width(), f.height());
        let [b, g, r] = f.get(w - 3, h - 3);
        assert!(
            b.max(g).max(r) < 24,
            "frame {i}: the mask is not black ({b},{g},{r})"
        );
    }
}

/// Unix milliseconds now.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The viewer's watermark in playback, over HTTPS from a real `vigil run`: the recording comes back
/// re-encoded (a fragmented MP4 streamed as it is made, no byte ranges) with the name and time burned in,
/// and FFmpeg decodes every frame of it. Re-encodings are one per core: with every core held by a viewer
/// who stopped reading, the next one is told `busy` (503, Retry-After), and once they go the server plays
/// again.
#[test]
fn playback_is_watermarked_and_reencodings_are_bounded_by_the_cores() {
    let Some(video) = footage("intel/car-detection.mp4") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = support::free_port();
    let config = format!(
        "data_dir = {data:?}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n[analysis]\nenabled = false\n\n\
         [storage]\nsegment_seconds = 4\n\n[privacy]\nwatermark = true\n\n\
         [[camera]]\nname = \"yard\"\nmain = \"file://{video}\"\nroles = [\"record\"]\n",
        data = data.display().to_string(),
        video = video.display(),
    );
    let path = tmp.path().join("vigil.toml");
    std::fs::write(&path, config).unwrap();
    let mut vigil = Vigil::spawn(&path, port, None);
    let admin = support::first_admin(&mut vigil, &data);
    let url = vigil.url();
    let started = now_ms();
    // Some footage first: 12 s recorded (three segments closed).
    let deadline = Instant::now() + Duration::from_secs(60);
    let (start, end) = loop {
        let mut r = admin
            .agent
            .get(&format!(
                "{url}/api/cameras/yard/recordings?start={}&end={}",
                started - 60_000,
                now_ms()
            ))
            .header("cookie", &admin.cookie)
            .call()
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        let runs = v
            .as_array()
            .or_else(|| v["runs"].as_array())
            .cloned()
            .unwrap_or_default();
        if let Some(run) = runs.first()
            && run["end"].as_i64().unwrap_or(0) - run["start"].as_i64().unwrap_or(0) >= 12_000
        {
            break (run["start"].as_i64().unwrap(), run["end"].as_i64().unwrap());
        }
        assert!(Instant::now() < deadline, "nothing recorded: {v}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let play = format!("{url}/api/cameras/yard/playback.mp4?start={start}&end={end}");
    let get = || {
        admin
            .agent
            .get(&play)
            .header("cookie", &admin.cookie)
            .call()
            .unwrap()
    };
    let mut r = get();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()
            .get("accept-ranges")
            .and_then(|v| v.to_str().ok()),
        Some("none")
    );
    let bytes = r
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap();
    let file = tmp.path().join("playback.mp4");
    std::fs::write(&file, &bytes).unwrap();
    let mut src = vigil_media::VideoSource::open(&file).unwrap();
    let mut conv = vigil_media::convert::Converter::new();
    let (mut frames, mut marked) = (0, 0);
    while let Some(f) = src.next_frame().unwrap() {
        frames += 1;
        let img = f.bgr(&mut conv, f.width(), f.height()).unwrap();
        // The watermark: white letters on a dark grey (40) box in the top-left corner (grey sky there).
        let (mut dark, mut light) = (0, 0);
        for y in 0..img.height() / 16 {
            for x in 0..img.width() / 3 {
                let [b, g, r] = img.get(x, y);
                let v = b.max(g).max(r);
                dark += usize::from(v < 60);
                light += usize::from(b.min(g).min(r) > 180);
            }
        }
        if frames == 1 {
            println!("first frame: {dark} dark and {light} light pixels in the corner");
        }
        marked += usize::from(dark > 200 && light > 30);
    }
    let want = (end - start) as f64 / 1000.0 * 12.5;
    assert!(
        frames as f64 >= want * 0.9,
        "{frames} frames decoded of about {want:.0}"
    );
    assert_eq!(marked, frames, "frames without the watermark");

    // Every core re-encoding for a viewer who does not read: the next is told to come back.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let held: Vec<_> = (0..cores).map(|_| get()).collect();
    assert!(held.iter().all(|r| r.status().as_u16() == 200));
    let busy = get();
    assert_eq!(busy.status().as_u16(), 503);
    assert_eq!(
        busy.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5")
    );
    drop(busy);
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = get();
        if r.status().as_u16() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cores were not given back after the viewers left: {}",
            r.status()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(vigil.stop(), "{}", vigil.dump());
}

/// Presentation times of every frame of a video, in order.
fn frame_times(path: &Path) -> Vec<i64> {
    let mut t: Vec<i64> = vigil_media::demux::demux_file(path)
        .unwrap()
        .frames
        .iter()
        .map(|f| f.pts.0)
        .collect();
    t.sort_unstable();
    t
}

/// An erasure by blurring (`vigil erase --blur`), end to end on the recorded corridor clip (faces in
/// every frame): the segments over the range are re-encoded in place; an export of that range then has
/// no face YuNet can find, in any frame, and the same frames at the same times as before, while the
/// footage outside it keeps its faces and its files; `vigil verify recordings` passes and names the
/// blurred segments with the request's reference; the audit log holds it as an erasure.
#[test]
fn an_erasure_by_blurring_leaves_no_face_in_the_range_and_verifies() {
    let Some(video) = footage("intel/face-demographics-walking-and-pause.mp4") else {
        return;
    };
    let models = vigil_media::test_server::shared_footage()
        .map(|d| d.join("../models"))
        .filter(|d| d.join("face_detection_yunet_2023mar_640.onnx").is_file());
    let (Some(models), true) = (models, std::env::var_os("ORT_DYLIB_PATH").is_some()) else {
        eprintln!(
            "SKIP an_erasure_by_blurring_leaves_no_face_in_the_range_and_verifies: models or ORT_DYLIB_PATH absent"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut vigil = Vigil::start(dir, "corridor", &video);
    vigil.wait_listening();
    vigil.run_for(Duration::from_secs(9));
    assert!(
        vigil.stop(),
        "vigil run did not stop cleanly:\n{}",
        vigil.dump()
    );
    let reader = vigil_store::Reader::open(&dir.join("index.db")).unwrap();
    let segs = reader
        .segments("corridor", "main", Time90k(0), Time90k(i64::MAX / 4))
        .unwrap();
    assert!(
        segs.len() >= 2,
        "too little recorded: {} segment(s)",
        segs.len()
    );
    let config = dir.join("vigil.toml");
    let config = s(&config);
    let rfc = vigil_store::evidence::rfc3339;
    let end_of = |i: usize| Time90k(segs[i].start.0 + segs[i].duration.0);
    // The first segment is blurred (asked for a second of it: the whole segment goes), the last is not.
    let (a, b) = (rfc(segs[0].start), rfc(end_of(0)));
    let last = segs.len() - 1;
    let (c, d) = (rfc(segs[last].start), rfc(end_of(last)));
    let export = |from: &str, to: &str, out: &Path| {
        let args = [
            "export",
            "--config",
            config,
            "--camera",
            "corridor",
            "--from",
            from,
            "--to",
            to,
            s(out),
        ];
        let (code, o, e) = cli(&args, None, &[]);
        assert_eq!(code, 0, "{o}{e}");
    };
    let before = dir.join("before.mp4");
    export(&a, &b, &before);
    let files_before: Vec<Vec<u8>> = segs
        .iter()
        .map(|g| std::fs::read(&g.file).unwrap())
        .collect();

    let started = Instant::now();
    let part = rfc(Time90k(segs[0].start.0 + 90_000));
    let (code, out, err) = cli(
        &[
            "erase",
            "--config",
            config,
            "--camera",
            "corridor",
            "--from",
            &a,
            "--to",
            &part,
            "--reason",
            "REQ-42 subject access",
            "--blur",
            "--models",
            s(&models),
        ],
        None,
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    eprintln!(
        "vigil erase --blur of one segment took {:?}",
        started.elapsed()
    );
    assert!(out.contains("blurred 1 of 1 segment(s)"), "{out}");
    assert!(
        err.contains("blurring segment 1/1"),
        "progress on stderr: {err}"
    );

    // (d) The blurred segment's file changed; the others are as recorded.
    for (i, g) in segs.iter().enumerate() {
        let now = std::fs::read(&g.file).unwrap();
        assert_eq!(
            now != files_before[i],
            i == 0,
            "segment {i} ({})",
            g.file.display()
        );
    }
    // (b) The same frames at the same times.
    let after = dir.join("after.mp4");
    export(&a, &b, &after);
    let times = frame_times(&before);
    assert!(times.len() > 10, "{} frames", times.len());
    assert_eq!(frame_times(&after), times, "frame count and times are kept");
    // (a) No face left in the range; faces outside it.
    let rt = vigil_vision::runtime::Runtime::init(None).unwrap();
    let store = vigil_vision::model::ModelStore::new(vec![models.clone()], None);
    let (p, bytes) = store.load_asset(&vigil_vision::model::YUNET).unwrap();
    let mut faces = vigil_vision::faces::FaceDetector::new(&rt, &p, &bytes, 2).unwrap();
    let seen: usize = frames_of(&before)
        .iter()
        .map(|f| faces.detect(f).unwrap().len())
        .sum();
    assert!(seen > 0, "the original range shows faces");
    for (i, f) in frames_of(&after).iter().enumerate() {
        let left = faces.detect(f).unwrap();
        assert!(
            left.is_empty(),
            "frame {i}: a face survived the blurring: {left:?}"
        );
    }
    let outside = dir.join("outside.mp4");
    export(&c, &d, &outside);
    let kept: usize = frames_of(&outside)
        .iter()
        .map(|f| faces.detect(f).unwrap().len())
        .sum();
    assert!(kept > 0, "the footage outside the range keeps its faces");

    // (c) The recordings verify, the blurred segment named with the reason.
    let (code, out, err) = cli(&["verify", "recordings", "--config", config], None, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("recordings OK") && out.contains("1 blurred on request"),
        "{out}"
    );
    assert!(
        out.contains("blurred on request: REQ-42 subject access")
            && out.contains(
                &segs[0]
                    .file
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .to_string()
            ),
        "{out}"
    );
    // Audited as an erasure, in blur mode, with the segment and what was blurred.
    let conn = rusqlite::Connection::open(dir.join("security.db")).unwrap();
    let detail: String = conn
        .query_row(
            "SELECT detail FROM audit WHERE action = 'footage.erase' AND target = 'corridor'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["mode"], "blur", "{detail}");
    assert_eq!(detail["reason"], "REQ-42 subject access");
    assert_eq!(
        detail["segments"].as_array().map(Vec::len),
        Some(1),
        "{detail}"
    );
    assert!(detail["faces"].as_u64().unwrap() > 0, "{detail}");
}
