//! Encryption at rest through the real binary: `vigil run` records a camera with the default
//! configuration (encrypted), `vigil keys rotate` runs while it records, and afterwards no 32-byte window
//! of the camera's coded frames is found in any file under the storage directory, while `vigil export`
//! gives every frame back (each decoded frame one of the source's) and `vigil verify recordings` passes.
//! A store recorded in the clear is then encrypted in place by `vigil keys encrypt`.

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;
use support::{Vigil, cli, footage, free_port};
use vigil_core::Time90k;

/// 32-byte windows of the source's coded frames at every 16th byte (any verbatim run of 47 bytes or
/// more of a frame contains one).
fn windows(video: &Path) -> HashSet<[u8; 32]> {
    let v = vigil_media::demux::demux_file(video).unwrap();
    let mut set = HashSet::new();
    for f in &v.frames {
        let mut i = 0;
        while i + 32 <= f.data.len() {
            set.insert(<[u8; 32]>::try_from(&f.data[i..i + 32]).unwrap());
            i += 16;
        }
    }
    set
}

fn leaks(path: &Path, windows: &HashSet<[u8; 32]>) -> bool {
    std::fs::read(path)
        .unwrap()
        .windows(32)
        .any(|w| windows.contains(w))
}

#[test]
fn recordings_are_encrypted_and_survive_a_rotation_while_recording() {
    let Some(video) = footage("intel/car-detection.mp4") else {
        return;
    };
    let windows = windows(&video);
    assert!(
        leaks(&video, &windows),
        "the check finds frames in the clear"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut vigil = Vigil::start(dir, "driveway", &video);
    vigil.wait_listening();
    vigil.run_for(Duration::from_secs(9));
    let config = dir.join("vigil.toml");
    let config = config.to_str().unwrap();
    let (code, out, err) = cli(&["keys", "rotate", "--config", config], None, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("segment key(s) rewrapped"), "{out}");
    vigil.run_for(Duration::from_secs(9));
    assert!(vigil.stop(), "{}", vigil.dump());
    assert!(
        vigil.dump().contains("encrypted at rest"),
        "{}",
        vigil.dump()
    );

    let mut files = 0;
    for e in std::fs::read_dir(dir.join("recordings")).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            files += 1;
            assert!(
                !leaks(&p, &windows),
                "{} holds frames in the clear",
                p.display()
            );
        }
    }
    assert!(files >= 3, "{files} files recorded");

    // Every frame comes back, decoded as the source's.
    let reader = vigil_store::Reader::open(&dir.join("index.db")).unwrap();
    let segs = reader
        .segments("driveway", "main", Time90k(0), Time90k(i64::MAX / 4))
        .unwrap();
    let from = vigil_store::evidence::rfc3339(segs[0].start);
    let last = segs.last().unwrap();
    let to = vigil_store::evidence::rfc3339(Time90k(last.start.0 + last.duration.0));
    let out = dir.join("all.mp4");
    let (code, stdout, err) = cli(
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
            out.to_str().unwrap(),
        ],
        None,
        &[],
    );
    assert_eq!(code, 0, "{stdout}{err}");
    let source: HashSet<String> = vigil_media::test_server::frame_md5s(&video)
        .unwrap()
        .into_iter()
        .collect();
    let exported = vigil_media::test_server::frame_md5s(&out).unwrap();
    let recorded: u64 = segs.iter().map(|s| s.frames).sum();
    assert_eq!(exported.len() as u64, recorded);
    assert!(recorded > 150, "{recorded} frames");
    assert!(
        exported.iter().all(|m| source.contains(m)),
        "a decoded frame is not the source's"
    );
    // Without the configuration (so without the keys) the export is refused, not garbage.
    let (code, _, err) = cli(
        &[
            "export",
            "--db",
            dir.join("index.db").to_str().unwrap(),
            "--camera",
            "driveway",
            "--from",
            &from,
            "--to",
            &to,
            dir.join("nokeys.mp4").to_str().unwrap(),
        ],
        None,
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("encrypted"), "{err}");
    let (code, out, err) = cli(&["verify", "recordings", "--config", config], None, &[]);
    assert_eq!(code, 0, "{out}{err}");
}

/// `vigil export` of everything "driveway" recorded: the decoded frames' MD5s.
fn export_all(dir: &Path, config: &str, name: &str) -> Vec<String> {
    let reader = vigil_store::Reader::open(&dir.join("index.db")).unwrap();
    let segs = reader
        .segments("driveway", "main", Time90k(0), Time90k(i64::MAX / 4))
        .unwrap();
    let from = vigil_store::evidence::rfc3339(segs[0].start);
    let last = segs.last().unwrap();
    let to = vigil_store::evidence::rfc3339(Time90k(last.start.0 + last.duration.0));
    let out = dir.join(name);
    let args = [
        "export", "--config", config, "--camera", "driveway", "--from", &from, "--to", &to,
    ];
    let (code, stdout, err) = cli(&[&args[..], &[out.to_str().unwrap()]].concat(), None, &[]);
    assert_eq!(code, 0, "{stdout}{err}");
    vigil_media::test_server::frame_md5s(&out).unwrap()
}

#[test]
fn vigil_keys_encrypt_encrypts_a_store_recorded_in_the_clear() {
    let Some(video) = footage("intel/car-detection.mp4") else {
        return;
    };
    let windows = windows(&video);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let rec = dir.join("recordings");
    std::fs::create_dir_all(&rec).unwrap();
    let path = dir.join("vigil.toml");
    let port = free_port();
    std::fs::write(
        &path,
        format!(
            "data_dir = {data:?}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n[analysis]\nenabled = false\n\n\
             [storage]\nencrypt = false\nsegment_seconds = 4\n[[storage.dirs]]\nname = \"main\"\n\
             path = {rec:?}\nmin_free_bytes = 0\n\n\
             [[camera]]\nname = \"driveway\"\nmain = \"file://{video}\"\nroles = [\"record\"]\n",
            data = dir.display().to_string(),
            rec = rec.display().to_string(),
            video = video.display(),
        ),
    )
    .unwrap();
    let config = path.to_str().unwrap();
    let mut vigil = Vigil::spawn(&path, port, None);
    vigil.wait_listening();
    vigil.run_for(Duration::from_secs(9));
    let (code, out, err) = cli(&["keys", "encrypt", "--config", config], None, &[]);
    assert_ne!(code, 0, "refused while `vigil run` records: {out}");
    assert!(err.contains("stop it first"), "{err}");
    assert!(vigil.stop(), "{}", vigil.dump());
    let files: Vec<_> = std::fs::read_dir(&rec)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
        .collect();
    assert!(files.len() >= 2, "{files:?}");
    assert!(
        files.iter().all(|f| leaks(f, &windows)),
        "recorded in the clear"
    );
    let before = export_all(dir, config, "before.mp4");
    assert!(before.len() > 100, "{} frames", before.len());

    let (code, out, err) = cli(&["keys", "encrypt", "--config", config], None, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("encrypted {} segment(s)", files.len())),
        "{out}"
    );
    assert!(out.contains("set it to true"), "{out}");
    for f in &files {
        assert!(
            !leaks(f, &windows),
            "{} holds frames in the clear",
            f.display()
        );
    }
    let (code, out, err) = cli(&["verify", "recordings", "--config", config], None, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 after the newest signed head"), "{out}");
    assert_eq!(
        export_all(dir, config, "after.mp4"),
        before,
        "frames changed"
    );
    let (code, out, err) = cli(&["keys", "encrypt", "--config", config], None, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("nothing to encrypt"), "{out}");
}
