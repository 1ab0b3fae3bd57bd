//! Issue 9, finding 8: footage readable by any local user. After a real `vigil run` that created its
//! data directory, recorded a camera, stored events with snapshots (when the shared models are there),
//! and wrote an export, every folder under the data directory is `0700` and every file `0600`,
//! including the folders created while it ran (snapshot days, exports).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{Vigil, free_port};

/// Sets up the first admin, logs in and exports the first seconds recorded; returns the export's id.
fn export_something(vigil: &mut Vigil, data: &Path) -> String {
    let support::AdminSession {
        agent: a,
        cookie,
        csrf,
    } = support::first_admin(vigil, data);
    let url = vigil.url();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        // The last minute (the newest segment may still be open: then nothing is there yet).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let mut r = a
            .post(&format!("{url}/api/exports"))
            .header("content-type", "application/json")
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .send(
                serde_json::json!({"camera": "yard", "start": now - 60_000, "end": now})
                    .to_string(),
            )
            .unwrap();
        let text = r.body_mut().read_to_string().unwrap();
        assert_eq!(r.status().as_u16(), 202, "{text}");
        let id = serde_json::from_str::<serde_json::Value>(&text).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let state = loop {
            let mut r = a
                .get(&format!("{url}/api/exports/{id}"))
                .header("cookie", &cookie)
                .call()
                .unwrap();
            let job: serde_json::Value =
                serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
            if job["state"] != "running" {
                break job;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        if state["state"] == "done" {
            return id;
        }
        assert!(Instant::now() < deadline, "no export: {state}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Every path under `root` (itself included) with its mode bits.
fn walk(root: &Path) -> Vec<(PathBuf, u32, bool)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        out.push((p.clone(), meta.permissions().mode() & 0o777, meta.is_dir()));
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    out
}

#[test]
fn everything_vigil_run_writes_is_owner_only() {
    let Some(video) = support::footage("intel/car-detection.mp4") else {
        return;
    };
    // With the shared models and ONNX Runtime the camera is analysed too, so snapshots are written.
    let models = support::analysis_models(&video);
    if models.is_none() {
        eprintln!(
            "SKIP: snapshots (no ../shared/models or ORT_DYLIB_PATH): recordings and exports only"
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let (analysis, roles, rules) = match models {
        None => ("enabled = false", "[\"record\"]", String::new()),
        Some(_) => (
            "detect_fps = 5\nthreads = 1",
            "[\"record\", \"analyze\"]",
            "\n[[rules.yard.zone]]\nname = \"All\"\npoints = [[0, 0], [1, 0], [1, 1], [0, 1]]\n\
             classes = [\"car\", \"bus\", \"truck\", \"person\"]\n\n[[rules.yard.rule]]\n\
             name = \"Anything\"\nkind = \"intrusion\"\nzone = \"All\"\n"
                .to_string(),
        ),
    };
    // The data directory does not exist yet, nor the recordings folder under it: vigil creates both.
    let config = format!(
        "data_dir = {data:?}\n\n[server]\nlisten = \"127.0.0.1:{port}\"\n\n[analysis]\n{analysis}\n\n\
         [storage]\nsegment_seconds = 4\n\n\
         [[camera]]\nname = \"yard\"\nmain = \"file://{video}\"\nroles = {roles}\n{rules}",
        data = data.display().to_string(),
        video = video.display(),
    );
    let path = tmp.path().join("vigil.toml");
    std::fs::write(&path, config).unwrap();
    let mut vigil = Vigil::spawn(&path, port, models.as_deref());
    let export = export_something(&mut vigil, &data);
    let snapshots = data.join("snapshots");
    let deadline = Instant::now() + Duration::from_secs(60);
    while models.is_some()
        && !walk(&data)
            .iter()
            .any(|(p, _, d)| !d && p.starts_with(&snapshots))
    {
        assert!(
            Instant::now() < deadline,
            "no snapshot written:\n{}",
            vigil.dump()
        );
        vigil.run_for(Duration::from_secs(1));
    }
    vigil.run_for(Duration::from_secs(5));
    assert!(
        vigil.stop(),
        "vigil run did not stop cleanly:\n{}",
        vigil.dump()
    );

    let all = walk(&data);
    let open: Vec<String> = all
        .iter()
        .filter(|(_, mode, dir)| {
            mode & 0o077 != 0 || (*dir && *mode != 0o700) || (!dir && *mode != 0o600)
        })
        .map(|(p, mode, _)| format!("{:o} {}", mode, p.display()))
        .collect();
    assert!(open.is_empty(), "readable by others:\n{}", open.join("\n"));
    // And it covered what matters: recordings, the index, the security database, keys, the export.
    let has = |f: &dyn Fn(&Path) -> bool| all.iter().any(|(p, _, dir)| !dir && f(p));
    assert!(has(
        &|p| p.starts_with(data.join("recordings")) && p.extension().is_some_and(|e| e != "lock")
    ));
    assert!(has(&|p| p.ends_with("index.db")));
    assert!(has(&|p| p.ends_with("security.db")));
    assert!(has(&|p| p.ends_with("keys/audit.key")));
    assert!(has(&|p| p.ends_with(format!("exports/{export}.mp4"))));
    if models.is_some() {
        assert!(has(&|p| p.starts_with(&snapshots)));
    }
    eprintln!("{} paths checked, all owner-only", all.len());
}
