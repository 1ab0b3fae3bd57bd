//! Recorded video over the API: playback as a real MP4 (checked by ffprobe), HTTP range requests, and
//! an export job from start to download.

use crate::common;

use common::{Auth, CAM_A, Setup, TestServer};
use serde_json::json;
use std::time::{Duration, Instant};

fn ffprobe_frames(path: &std::path::Path) -> usize {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_packets"])
        .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe (dev/install-deps installs ffmpeg)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// The export job `id` once it is no longer running (20 s at most).
fn finished(s: &TestServer, a: &Auth, id: &str) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let j = s.call("GET", &format!("/api/exports/{id}"), a, None).json();
        if j["state"] != "running" {
            return j;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{j}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn playback_ranges_and_exports() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    if !s.recorded {
        return;
    }
    let a = Auth::Session(admin);
    let (t0, t1) = (common::T0_MS, common::T0_MS + 8000);
    let ranges = s
        .call(
            "GET",
            &format!(
                "/api/cameras/{CAM_A}/recordings?start={}&end={}",
                t0 - 60_000,
                t0 + 60_000
            ),
            &a,
            None,
        )
        .json();
    let r0 = &ranges[0];
    assert_eq!(ranges.as_array().unwrap().len(), 1, "{ranges}");
    assert!((r0["start"].as_i64().unwrap() - t0).abs() < 100, "{ranges}");
    assert!(r0["end"].as_i64().unwrap() > t0 + 9000, "{ranges}");

    let url = format!("/api/cameras/{CAM_A}/playback.mp4?start={t0}&end={t1}");
    let full = s.call("GET", &url, &a, None);
    assert_eq!(full.status, 200);
    assert_eq!(full.header("content-type").as_deref(), Some("video/mp4"));
    assert_eq!(full.header("accept-ranges").as_deref(), Some("bytes"));
    let file = s.dir.path().join("play.mp4");
    std::fs::write(&file, &full.body).unwrap();
    let frames = ffprobe_frames(&file);
    assert!(
        (90..=110).contains(&frames),
        "{frames} frames for 8 s at 12.5 fps"
    );
    // Ranges: a middle slice and a suffix, byte-identical to the whole.
    let r = s.raw("GET", &url, &a, &[("Range", "bytes=100-1099")], None);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, full.body[100..1100]);
    let len = full.body.len();
    assert_eq!(
        r.header("content-range").unwrap(),
        format!("bytes 100-1099/{len}")
    );
    let r = s.raw("GET", &url, &a, &[("Range", "bytes=-500")], None);
    assert_eq!(r.body, full.body[len - 500..]);
    for bad in [
        format!("bytes={len}-"),
        "bytes=5-1".into(),
        "items=0-1".into(),
        "bytes=0-1,4-5".into(),
    ] {
        let r = s.raw("GET", &url, &a, &[("Range", &bad)], None);
        assert_eq!(r.status, 416, "{bad}");
    }
    // Nothing recorded there: a clean 404.
    let r = s.call(
        "GET",
        &format!(
            "/api/cameras/{CAM_A}/playback.mp4?start={}&end={}",
            t0 - 100_000,
            t0 - 90_000
        ),
        &a,
        None,
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "no_recording");

    // Export: 202, progress to done, download.
    let r = s.call(
        "POST",
        "/api/exports",
        &a,
        Some(json!({"camera": CAM_A, "start": t0, "end": t1})),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let job = finished(&s, &a, &id);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["progress"], 1.0);
    let f = s.call("GET", &format!("/api/exports/{id}/file"), &a, None);
    assert_eq!(f.status, 200);
    assert_eq!(job["bytes"].as_u64().unwrap() as usize, f.body.len());
    assert!(
        f.header("content-disposition")
            .unwrap()
            .starts_with("attachment; filename=\"vigil-cam-a-")
    );
    assert_eq!(f.body, full.body, "export and playback build the same MP4");
    // Bad exports: empty or reversed range, over 24 h.
    for (start, end) in [(t1, t0), (t0, t0), (t0, t0 + 25 * 3_600_000)] {
        let r = s.call(
            "POST",
            "/api/exports",
            &a,
            Some(json!({"camera": CAM_A, "start": start, "end": end})),
        );
        assert_eq!(r.status, 400, "{start}..{end}: {}", r.text());
    }
}

#[test]
fn evidence_exports_are_signed_zips_that_verify_with_nothing_else() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    if !s.recorded {
        return;
    }
    let a = Auth::Session(admin);
    let (t0, t1) = (common::T0_MS, common::T0_MS + 8000);
    // Case and reason belong to evidence; control characters are refused.
    for body in [
        json!({"camera": CAM_A, "start": t0, "end": t1, "case": "17"}),
        json!({"camera": CAM_A, "start": t0, "end": t1, "evidence": true, "case": "a\nb"}),
    ] {
        let r = s.call("POST", "/api/exports", &a, Some(body.clone()));
        assert_eq!(r.status, 400, "{body}: {}", r.text());
    }
    let r = s.call(
        "POST",
        "/api/exports",
        &a,
        Some(
            json!({"camera": CAM_A, "start": t0, "end": t1, "evidence": true,
                    "case": "17", "reason": "hit and run"}),
        ),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let job = finished(&s, &a, &id);
    assert_eq!(job["state"], "done", "{job}");
    let f = s.call("GET", &format!("/api/exports/{id}/file"), &a, None);
    assert_eq!(f.status, 200);
    assert_eq!(f.header("content-type").as_deref(), Some("application/zip"));
    assert!(
        f.header("content-disposition")
            .unwrap()
            .starts_with("attachment; filename=\"vigil-evidence-cam-a-"),
        "{:?}",
        f.header("content-disposition")
    );
    assert_eq!(job["bytes"].as_u64().unwrap() as usize, f.body.len());
    // Unzipped by a standard tool, the bundle verifies with nothing but its folder.
    let zip = s.dir.path().join("evidence.zip");
    std::fs::write(&zip, &f.body).unwrap();
    let out = s.dir.path().join("unzipped");
    let ok = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])",
        ])
        .arg(&zip)
        .arg(&out)
        .status()
        .unwrap();
    assert!(ok.success());
    let folder = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bundle = vigil_store::evidence::verify_bundle(&folder).unwrap_or_else(|e| panic!("{e}"));
    let m = &bundle.manifest;
    assert_eq!(m.camera, CAM_A);
    assert_eq!(m.case.as_deref(), Some("17"));
    assert_eq!(m.reason.as_deref(), Some("hit and run"));
    assert!(m.audit_entry.is_some_and(|id| id > 0));
    assert!(m.video.frames > 80, "{}", m.video.frames);
    // The exported video is the playback of the same range.
    let play = s.call(
        "GET",
        &format!("/api/cameras/{CAM_A}/playback.mp4?start={t0}&end={t1}"),
        &a,
        None,
    );
    assert_eq!(
        std::fs::read(vigil_store::evidence::video_path(&folder, m)).unwrap(),
        play.body
    );
    // And the audit log names it.
    let audit = s.call("GET", "/api/audit?limit=20", &a, None).json();
    assert!(audit.to_string().contains("export.evidence"), "{audit}");
}
