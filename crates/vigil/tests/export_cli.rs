//! `vigil export` end to end: footage recorded into a store, exported by the binary, checked with
//! ffprobe; and its errors for bad input.

use std::path::Path;
use std::process::Command;
use vigil_media::demux::demux_file;
use vigil_store::{Store, StoreConfig};

const T0_MICROS: i64 = 1_704_067_200_000_000; // 2024-01-01T00:00:00Z

fn record(root: &Path) -> bool {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/footage/intel/car-detection.mp4");
    if !src.exists() {
        eprintln!(
            "SKIP: {} not found (../shared footage absent)",
            src.display()
        );
        return false;
    }
    let v = demux_file(&src).unwrap();
    std::fs::create_dir_all(root.join("rec")).unwrap();
    let mut cfg = StoreConfig::new(root.join("index.db"), "rec", root.join("rec"));
    cfg.segment_seconds = 5.0;
    cfg.dirs[0].min_free_bytes = 0;
    cfg.background_retention = false;
    let (store, _) = Store::open(cfg).unwrap();
    let rec = store.recorder("driveway", "main").unwrap();
    for f in &v.frames {
        let mut f = f.clone();
        f.received_unix_micros += T0_MICROS;
        rec.append_owned(f).unwrap();
    }
    rec.close();
    true
}

fn vigil(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exports_a_range_and_explains_bad_requests() {
    let tmp = tempfile::tempdir().unwrap();
    if !record(tmp.path()) {
        return;
    }
    let db = tmp.path().join("index.db");
    let db = db.to_str().unwrap();
    let out = tmp.path().join("clip.mp4");
    let (ok, stdout, stderr) = vigil(&[
        "export",
        "--camera",
        "driveway",
        "--from",
        "2024-01-01T00:00:10Z",
        "--to",
        "2024-01-01T00:00:20Z",
        "--db",
        db,
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("130 frames"), "{stdout}");
    assert!(stdout.contains("preceding key frame"), "{stdout}");
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_packets",
            "-show_entries",
            "stream=codec_name,nb_read_packets",
            "-of",
            "csv=p=0",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "h264,130");
    assert!(!tmp.path().join("clip.mp4.partial").exists());

    // the same through a config file with a [storage] table
    let cfg = tmp.path().join("vigil.toml");
    std::fs::write(
        &cfg,
        format!(
            "[storage]\ndb = {db:?}\ndirs = [{{ name = \"rec\", path = {:?}, min_free_bytes = \"1 GiB\" }}]\n",
            tmp.path().join("rec")
        ),
    )
    .unwrap();
    let out2 = tmp.path().join("all.mp4");
    let (ok, stdout, stderr) = vigil(&[
        "export",
        "--camera",
        "driveway",
        "--from",
        "2024-01-01T00:00:00Z",
        "--to",
        "2024-01-01T01:00:00Z",
        "--config",
        cfg.to_str().unwrap(),
        "--fragmented",
        out2.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("377 frames"), "{stdout}");

    let bad = |args: &[&str], expect: &str| {
        let mut full = vec!["export", "--db", db];
        full.extend_from_slice(args);
        let (ok, _, stderr) = vigil(&full);
        assert!(!ok);
        assert!(stderr.contains(expect), "expected {expect:?} in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    };
    let o = tmp.path().join("x.mp4");
    let o = o.to_str().unwrap();
    bad(
        &[
            "--camera",
            "porch",
            "--from",
            "2024-01-01 00:00:00",
            "--to",
            "2024-01-02 00:00:00",
            o,
        ],
        "unknown camera \"porch\" (known: driveway)",
    );
    bad(
        &[
            "--camera",
            "driveway",
            "--from",
            "2025-01-01T00:00:00Z",
            "--to",
            "2025-01-01T00:10:00Z",
            o,
        ],
        "no recording of camera \"driveway\"",
    );
    bad(
        &[
            "--camera",
            "driveway",
            "--from",
            "yesterday",
            "--to",
            "2025-01-01T00:10:00Z",
            o,
        ],
        "RFC 3339",
    );
    bad(
        &[
            "--camera",
            "driveway",
            "--from",
            "2024-01-01T00:10:00Z",
            "--to",
            "2024-01-01T00:00:00Z",
            o,
        ],
        "must be after",
    );
    assert!(!Path::new(o).exists());
    let (ok, _, stderr) = vigil(&[
        "export",
        "--camera",
        "driveway",
        "--from",
        "2024-01-01T00:00:00Z",
        "--to",
        "2024-01-01T00:10:00Z",
        "--db",
        "/nonexistent/index.db",
        o,
    ]);
    assert!(!ok && stderr.contains("/nonexistent/index.db"), "{stderr}");
}

#[test]
fn holds_and_erasure_of_a_range_whole_segments_audited() {
    let tmp = tempfile::tempdir().unwrap();
    if !record(tmp.path()) {
        return;
    }
    let root = tmp.path();
    let config = root.join("vigil.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[storage]\ndb = {:?}\n[[storage.dirs]]\nname = \"rec\"\npath = {:?}\nmin_free_bytes = 0\n",
            root.display().to_string(),
            root.join("index.db").display().to_string(),
            root.join("rec").display().to_string()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (from, to) = ("2024-01-01T00:00:12Z", "2024-01-01T00:00:14Z");
    let (ok, _, stderr) = vigil(&[
        "erase", "--config", config, "--camera", "driveway", "--from", from, "--to", to,
    ]);
    assert!(
        !ok && stderr.contains("--reason"),
        "a reason is required: {stderr}"
    );
    // An evidence hold over the range: the erasure is refused until it is released.
    let (ok, stdout, stderr) = vigil(&[
        "hold", "add", "--config", config, "--camera", "driveway", "--from", from, "--to", to,
        "--note", "case 17",
    ]);
    assert!(
        ok && stdout.contains("hold 1 on driveway"),
        "{stdout}{stderr}"
    );
    let (ok, stdout, _) = vigil(&["hold", "list", "--config", config]);
    assert!(ok && stdout.contains("case 17"), "{stdout}");
    let (ok, _, stderr) = vigil(&[
        "erase",
        "--config",
        config,
        "--camera",
        "driveway",
        "--from",
        from,
        "--to",
        to,
        "--reason",
        "subject access request 7",
    ]);
    assert!(!ok && stderr.contains("evidence hold"), "{stderr}");
    let (ok, stdout, stderr) = vigil(&["hold", "release", "--config", config, "1"]);
    assert!(ok && stdout.contains("released"), "{stdout}{stderr}");
    let (ok, _, stderr) = vigil(&["hold", "release", "--config", config, "1"]);
    assert!(!ok && stderr.contains("no hold 1"), "{stderr}");
    let (ok, stdout, stderr) = vigil(&[
        "erase",
        "--config",
        config,
        "--camera",
        "driveway",
        "--from",
        from,
        "--to",
        to,
        "--reason",
        "subject access request 7",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("erased 1 segment(s)"), "{stdout}");
    assert!(stdout.contains("audit entry"), "{stdout}");
    // The range is gone; what surrounds it exports; the audit log still verifies.
    let out = root.join("gone.mp4");
    let (ok, _, stderr) = vigil(&[
        "export",
        "--camera",
        "driveway",
        "--from",
        from,
        "--to",
        to,
        "--config",
        config,
        out.to_str().unwrap(),
    ]);
    assert!(!ok && stderr.contains("no recording"), "{stderr}");
    let (ok, _, stderr) = vigil(&["audit", "verify", "--config", config]);
    assert!(ok, "{stderr}");
}
