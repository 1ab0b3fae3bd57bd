//! End to end: `vigil analyze` on real footage writes every output it is asked for (tracks as JSON lines,
//! MOTChallenge rows, an annotated MP4 that ffprobe accepts), prints its summary, and on a truncated video
//! keeps what it analysed and exits with an error naming the file.

mod common;

use common::{analyze, ready, shared};
use std::process::Command;

#[test]
fn analyze_writes_tracks_mot_rows_and_an_annotated_video() {
    let video = shared().join("footage/intel/worker-zone-detection.mp4");
    if !ready(&video) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (jsonl, mot, mp4) = (
        dir.path().join("t.jsonl"),
        dir.path().join("t.txt"),
        dir.path().join("a.mp4"),
    );
    let out = analyze(&[
        video.as_os_str(),
        "--detect-fps".as_ref(),
        "5".as_ref(),
        "--out".as_ref(),
        jsonl.as_os_str(),
        "--mot".as_ref(),
        mot.as_os_str(),
        "--annotate".as_ref(),
        mp4.as_os_str(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 71 frames at 15 fps analysed at 5 fps: every third frame.
    assert!(
        stdout.contains("frames: 71 decoded, 24 analysed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("person"),
        "a worker walks through the zone:\n{stdout}"
    );
    for stage in ["decode", "motion", "inference", "tracking"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(stage)),
            "stage {stage} missing:\n{stdout}"
        );
    }

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 24);
    let with_person = lines
        .iter()
        .filter(|l| {
            l["tracks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["class"] == "person")
        })
        .count();
    assert!(
        with_person >= 10,
        "{with_person} frames with a tracked person"
    );

    let rows = std::fs::read_to_string(&mot).unwrap();
    assert!(!rows.is_empty());
    for row in rows.lines() {
        let f: Vec<f64> = row.split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(f.len(), 10, "{row}");
        assert!(
            f[0] >= 1.0 && f[0] <= 71.0 && f[1] >= 1.0 && f[4] > 0.0 && f[5] > 0.0,
            "{row}"
        );
    }

    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
        ])
        .args([
            "stream=codec_name,nb_read_frames,width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(&mp4)
        .output()
        .unwrap();
    assert!(probe.status.success());
    assert_eq!(
        String::from_utf8_lossy(&probe.stdout).trim(),
        "h264,480,270,24"
    );
}

#[test]
fn a_truncated_video_keeps_its_results_and_fails_naming_the_file() {
    let src = shared().join("footage/intel/worker-zone-detection.mp4");
    if !ready(&src) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let faststart = dir.path().join("faststart.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&src)
        .args(["-c", "copy", "-movflags", "+faststart"])
        .arg(&faststart)
        .status()
        .unwrap();
    assert!(status.success());
    let cut = dir.path().join("cut.mp4");
    let bytes = std::fs::read(&faststart).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let jsonl = dir.path().join("t.jsonl");
    let out = analyze(&[cut.as_os_str(), "--out".as_ref(), jsonl.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cut.mp4") && stderr.contains("ended early"),
        "{stderr}"
    );
    let analysed = std::fs::read_to_string(&jsonl).unwrap().lines().count();
    assert!(analysed >= 5, "{analysed} frames kept");
}

#[test]
fn a_file_that_is_not_video_is_a_clear_error() {
    let models = shared().join("models/yolox_nano_416.onnx");
    if !ready(&models) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("notes.mp4");
    std::fs::write(&bogus, "meeting notes, not a video\n").unwrap();
    let out = analyze(&[bogus.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("notes.mp4") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

/// The binary finds ONNX Runtime without `ORT_DYLIB_PATH`: beside itself (a copied install) and in the
/// project's cache above it; with neither, the error lists every place it looked.
#[test]
fn onnx_runtime_is_found_without_ort_dylib_path_and_a_miss_names_every_place_searched() {
    let video = shared().join("footage/intel/worker-zone-detection.mp4");
    if !ready(&video) {
        return;
    }
    let real = std::path::PathBuf::from(std::env::var_os("ORT_DYLIB_PATH").unwrap());
    let run = |exe: &std::path::Path, cwd: &std::path::Path| {
        Command::new(exe)
            .current_dir(cwd)
            .env_remove("ORT_DYLIB_PATH")
            .env_remove("LD_LIBRARY_PATH")
            .args([
                "analyze".as_ref(),
                video.as_os_str(),
                "--detect-fps".as_ref(),
            ])
            .arg("1")
            .arg("--models")
            .arg(shared().join("models"))
            .arg("--quiet")
            .output()
            .unwrap()
    };
    let tmp = tempfile::tempdir().unwrap();

    // The build's own binary (target/debug) sits below the checkout holding .vigil-cache.
    let out = run(env!("CARGO_BIN_EXE_vigil").as_ref(), tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A copy of the binary alone, far from any cache: a clear error naming the places searched.
    let alone = tmp.path().join("bin");
    std::fs::create_dir_all(&alone).unwrap();
    let exe = alone.join("vigil");
    std::fs::copy(env!("CARGO_BIN_EXE_vigil"), &exe).unwrap();
    let out = run(&exe, tmp.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("libonnxruntime.so"), "{stderr}");
    assert!(stderr.contains(&alone.display().to_string()), "{stderr}");
    assert!(stderr.contains("/usr/lib"), "{stderr}");
    assert!(stderr.contains("ORT_DYLIB_PATH"), "{stderr}");

    // The library placed beside that copy: found.
    std::fs::copy(&real, alone.join("libonnxruntime.so")).unwrap();
    let out = run(&exe, tmp.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A GPU device on a machine whose ONNX Runtime has no GPU provider (the CPU wheel, as here) falls back to
/// the CPU, says why, and analyses all the same.
#[test]
fn a_gpu_device_without_its_provider_falls_back_to_the_cpu_and_says_why() {
    let video = shared().join("footage/intel/worker-zone-detection.mp4");
    if !ready(&video) {
        return;
    }
    for device in ["cuda", "tensorrt", "openvino"] {
        let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["analyze".as_ref(), video.as_os_str()])
            .args(["--detect-fps", "1", "--device", device, "--models"])
            .arg(shared().join("models"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{device}: {stderr}");
        assert!(
            stderr.contains(&format!("device = \"{device}\" is not usable here"))
                && stderr.contains("running on the CPU"),
            "{device}: {stderr}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["analyze".as_ref(), video.as_os_str()])
        .args(["--device", "gpu"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cpu, cuda, tensorrt or openvino"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--identity` on the corridor clip (three people facing the camera): each person track gets a face with
/// its embedding and a re-identification embedding, sampled about once a second, not on every frame; the
/// same person's samples are more alike than two people's.
#[test]
fn identity_adds_reid_and_face_fields_to_the_person_tracks() {
    let video = shared().join("footage/intel/face-demographics-walking-and-pause.mp4");
    if !ready(&video) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("t.jsonl");
    let out = analyze(&[
        video.as_os_str(),
        "--identity".as_ref(),
        "--out".as_ref(),
        jsonl.as_os_str(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dot = |a: &serde_json::Value, b: &serde_json::Value| -> f64 {
        let (a, b) = (a.as_array().unwrap(), b.as_array().unwrap());
        a.iter()
            .zip(b)
            .map(|(x, y)| x.as_f64().unwrap() * y.as_f64().unwrap())
            .sum()
    };
    let mut reid: std::collections::BTreeMap<u64, Vec<serde_json::Value>> = Default::default();
    let mut faces: std::collections::BTreeMap<u64, serde_json::Value> = Default::default();
    let (mut lines, mut with_reid) = (0, 0);
    for line in std::fs::read_to_string(&jsonl).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for t in v["tracks"].as_array().unwrap() {
            lines += 1;
            let id = t["id"].as_u64().unwrap();
            if let Some(e) = t.get("reid") {
                assert_eq!(e.as_array().map(Vec::len), Some(256));
                reid.entry(id).or_default().push(e.clone());
                with_reid += 1;
            }
            if let Some(f) = t.get("face") {
                assert_eq!(f["embedding"].as_array().map(Vec::len), Some(128), "{f}");
                faces.insert(id, f.clone());
            }
        }
    }
    assert_eq!(reid.len(), 3, "person tracks with re-id: {:?}", reid.keys());
    assert_eq!(
        faces.len(),
        3,
        "person tracks with a face: {:?}",
        faces.keys()
    );
    assert!(
        with_reid * 2 < lines,
        "sampled on {with_reid} of {lines} track lines: not per track"
    );
    // The same person's first and last samples versus two people's first samples.
    let ids: Vec<u64> = reid.keys().copied().collect();
    let same: f64 = ids
        .iter()
        .map(|i| dot(&reid[i][0], reid[i].last().unwrap()))
        .fold(f64::MAX, f64::min);
    let other =
        dot(&reid[&ids[0]][0], &reid[&ids[1]][0]).max(dot(&reid[&ids[1]][0], &reid[&ids[2]][0]));
    assert!(
        same > other,
        "same person >= {same:.3}, two people up to {other:.3}"
    );
}

/// `vigil analyze CLIP --health FILE --detect-fps FPS` on `video` (its first `seconds`, or all of it)
/// passed through the FFmpeg filter `filter`: the JSON lines written and the run's stderr; `None` (with a
/// SKIP line) when the footage is absent or FFmpeg cannot make the clip.
fn health_of_filtered(
    video: &str,
    seconds: Option<&str>,
    filter: &str,
    fps: &str,
) -> Option<(Vec<serde_json::Value>, String, String)> {
    let video = shared().join(video);
    if !ready(&video) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    let mut ffmpeg = Command::new("ffmpeg");
    ffmpeg.args(["-v", "error", "-y"]);
    if let Some(t) = seconds {
        ffmpeg.args(["-t", t]);
    }
    let made = ffmpeg
        .arg("-i")
        .arg(&video)
        .args(["-vf", filter, "-c:v", "libx264", "-preset", "ultrafast"])
        .arg(&clip)
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("SKIP: ffmpeg could not make the clip ({filter})");
        return None;
    }
    let health = dir.path().join("health.jsonl");
    let out = analyze(&[
        clip.as_os_str(),
        "--detect-fps".as_ref(),
        fps.as_ref(),
        "--health".as_ref(),
        health.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let text = std::fs::read_to_string(&health).unwrap();
    eprintln!("{text}");
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Some((lines, text, stderr))
}

/// `vigil analyze VIDEO --health FILE`: the car clip with its lens covered from 10 s to 20 s (FFmpeg
/// drawbox) gives one `covered` line with `start` and `end` in seconds from the video's start.
#[test]
fn health_writes_each_state_as_a_json_line_with_start_and_end() {
    let Some((lines, text, stderr)) = health_of_filtered(
        "footage/intel/car-detection.mp4",
        None,
        "drawbox=x=0:y=0:w=iw:h=ih:color=0x404040:t=fill:enable='between(t,10,20)'",
        "2",
    ) else {
        return;
    };
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["kind"], "covered", "{text}");
    let (start, end) = (
        lines[0]["start"].as_f64().unwrap(),
        lines[0]["end"].as_f64().unwrap(),
    );
    assert!(
        (9.5..=12.0).contains(&start) && (19.5..=23.0).contains(&end),
        "{text}"
    );
    assert!(stderr.contains("health: 1 event(s) written"));
}

/// `vigil analyze VIDEO --health FILE` on a camera switching to IR mode: 40 s of the one-by-one clip
/// turned monochrome with a brightness step (FFmpeg `hue=s=0`, `eq=brightness`) from 10 s to 25 s gives
/// one `ir_mode` line of severity `information`, found within 10 s of the switch and ended within 15 s
/// of the way back, with the brightness step, and no health state.
#[test]
fn a_switch_to_ir_mode_is_one_information_line_with_start_end_and_brightness_step() {
    let on = "enable='between(t,10,25)'";
    let Some((lines, text, _)) = health_of_filtered(
        "footage/intel/one-by-one-person-detection.mp4",
        Some("40"),
        &format!("hue=s=0:{on},eq=brightness=0.12:{on}"),
        "1",
    ) else {
        return;
    };
    assert_eq!(lines.len(), 1, "{text}");
    let l = &lines[0];
    assert_eq!(
        (&l["kind"], &l["severity"]),
        (&"ir_mode".into(), &"information".into()),
        "{text}"
    );
    let (start, end) = (l["start"].as_f64().unwrap(), l["end"].as_f64().unwrap());
    assert!(
        (9.5..=20.0).contains(&start) && (24.5..=40.0).contains(&end),
        "{text}"
    );
    assert!(l.get("ongoing").is_none(), "{text}");
    let (before, after) = (
        l["brightness"][0].as_f64().unwrap(),
        l["brightness"][1].as_f64().unwrap(),
    );
    assert!(after > before + 15.0, "a brightness step: {text}");
}

/// The people visible in each frame of a MOT17 sequence (pedestrians and static people, at least a
/// quarter visible: `vigil eval count`'s truth).
fn visible_people(gt: &std::path::Path) -> std::collections::BTreeMap<u32, usize> {
    let mut by_frame = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(gt).unwrap().lines() {
        let v: Vec<f64> = line.split(',').map(|x| x.trim().parse().unwrap()).collect();
        if (v[7] == 1.0 || v[7] == 7.0) && v[8] >= 0.25 {
            *by_frame.entry(v[0] as u32).or_insert(0) += 1;
        }
    }
    by_frame
}

/// MOT17-04's 8 frames (a crowded street, 1920x1080) as a 2 fps H.264 video in `dir`.
fn street_video(seq: &std::path::Path, dir: &std::path::Path) -> std::path::PathBuf {
    let video = dir.join("street.mp4");
    let ok = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-framerate", "2", "-i"])
        .arg(seq.join("img1/%06d.jpg"))
        .args(["-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p"])
        .arg(&video)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ffmpeg made no video");
    video
}

/// Crowding rules count people with the crowd counter (detections on a grid of tiles sized to the scene,
/// about once a second), not with tracks, which undercount a crowd: on MOT17-04's street (about 40 people)
/// a crowding rule over the whole picture with `more_than` between what the tracks hold and what is there
/// fires with the crowd counter, its peak near the truth, and stays silent with `count_every = 0`
/// (tracks).
#[test]
fn crowding_fires_on_the_crowd_count_where_tracks_undercount() {
    let seq = shared().join("footage/mot17-mini/train/MOT17-04-FRCNN");
    if !ready(&seq.join("img1/000001.jpg")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let video = street_video(&seq, dir.path());
    let truth = visible_people(&seq.join("gt/gt.txt"));
    let mean_truth = truth.values().sum::<usize>() as f64 / truth.len() as f64;
    let run = |count_every: &str| {
        let rules = dir.path().join(format!("crowd-{count_every}.toml"));
        let events = dir.path().join(format!("events-{count_every}.jsonl"));
        std::fs::write(
            &rules,
            format!(
                "[[zone]]\nname = \"Street\"\n\
                 points = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]\nclasses = [\"person\"]\n\n\
                 [[rule]]\nname = \"Crowd\"\nkind = \"crowding\"\nzone = \"Street\"\n\
                 more_than = {CROWD_MORE_THAN}\nmin_duration = 0\n\n\
                 [occupancy]\ncount_every = \"{count_every}\"\n"
            ),
        )
        .unwrap();
        let out = analyze(&[
            video.as_os_str(),
            "--rules".as_ref(),
            rules.as_os_str(),
            "--detect-fps".as_ref(),
            "2".as_ref(),
            "--events".as_ref(),
            events.as_os_str(),
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let peak = std::fs::read_to_string(&events)
            .unwrap()
            .lines()
            .filter_map(|l| {
                let e: vigil_core::Event = serde_json::from_str(l).unwrap();
                match e.kind {
                    vigil_core::EventKind::Crowding { peak, .. } => Some(peak),
                    _ => None,
                }
            })
            .max();
        (peak, stdout)
    };
    let (by_tracks, _) = run("0");
    let (by_counter, stdout) = run("1s");
    eprintln!(
        "MOT17-04: {mean_truth:.1} people per frame; crowding peak by tracks {by_tracks:?}, by the \
         crowd counter {by_counter:?}\n{stdout}"
    );
    assert_eq!(
        by_tracks, None,
        "tracks hold no more than {CROWD_MORE_THAN}"
    );
    let peak = by_counter.expect("the crowd counter's count is over the limit");
    assert!(
        (peak as f64 - mean_truth).abs() <= 0.2 * mean_truth,
        "peak {peak} against {mean_truth:.1} people"
    );
    // 4 s of video counted every second; the cost is printed.
    assert!(stdout.contains("crowd counts: 4 count(s)"), "{stdout}");
}

/// The crowding limit of the MOT17-04 test: between the people the tracks hold and those there.
const CROWD_MORE_THAN: u32 = 25;

#[test]
fn count_writes_every_frame_s_count_close_to_the_truth_and_honours_a_zone() {
    let seq = shared().join("footage/mot17-mini/train/MOT17-04-FRCNN");
    if !ready(&seq.join("img1/000001.jpg")) {
        return;
    }
    // The crowded street's 8 frames as a 2 fps video, counted every second: every other frame is
    // counted, the others carry its count.
    let dir = tempfile::tempdir().unwrap();
    let video = street_video(&seq, dir.path());
    let count = |extra: &[&str], out: &std::path::Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .arg("count")
            .arg(&video)
            .arg("--out")
            .arg(out)
            .args(extra)
            .arg("--models")
            .arg(shared().join("models"))
            .arg("--quiet")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "{stderr}");
        let rows: Vec<(u32, usize)> = std::fs::read_to_string(out)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let (f, c) = l.split_once(',').unwrap();
                (f.parse().unwrap(), c.parse().unwrap())
            })
            .collect();
        (rows, stderr)
    };
    let (all, summary) = count(&[], &dir.path().join("all.csv"));
    assert_eq!(
        all.iter().map(|r| r.0).collect::<Vec<_>>(),
        (0..8).collect::<Vec<_>>(),
        "one row per decoded frame"
    );
    assert!(summary.contains("4 counted"), "{summary}");
    let truth = visible_people(&seq.join("gt/gt.txt"));
    let mae = all
        .iter()
        .map(|(f, c)| (*c as f64 - truth[&(f + 1)] as f64).abs())
        .sum::<f64>()
        / all.len() as f64;
    eprintln!("MOT17-04 as video: MAE {mae:.2} over 8 frames ({summary})");
    // About 40 people; tracks from a full-frame detector would give fewer than 25.
    assert!(mae <= 5.0, "MAE {mae:.2}: {all:?} against {truth:?}");
    // Frames between counts carry the last count.
    assert!(all.chunks(2).all(|p| p[0].1 == p[1].1), "{all:?}");
    // The lower half of the street: fewer people, never more.
    let (lower, _) = count(
        &["--zone", "0,0.5", "1,0.5", "1,1", "0,1"],
        &dir.path().join("lower.csv"),
    );
    assert!(
        lower.iter().zip(&all).all(|(l, a)| l.1 < a.1 && l.1 > 0),
        "{lower:?} vs {all:?}"
    );
    // A zone that is not a polygon is a clear error.
    let o = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["count"])
        .arg(&video)
        .args(["--out"])
        .arg(dir.path().join("bad.csv"))
        .args(["--zone", "0,0", "2,0", "1,1"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("shares of the picture, 0 to 1"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// `vigil model trial` runs a candidate detector beside the current one on the same frames and says how
/// far they agree; `vigil model use` switches vigil.toml's detector (and back) in one command, refusing a
/// model that does not exist and leaving the file as it was.
#[test]
fn model_trial_compares_two_detectors_and_model_use_switches_and_back() {
    let video = shared().join("footage/intel/worker-zone-detection.mp4");
    if !ready(&video) {
        return;
    }
    let vigil = |args: &[&std::ffi::OsStr]| {
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(args)
            .output()
            .unwrap()
    };
    let models = shared().join("models");
    let out = vigil(&[
        "model".as_ref(),
        "trial".as_ref(),
        "--candidate".as_ref(),
        "nanodet".as_ref(),
        "--video".as_ref(),
        video.as_os_str(),
        "--models".as_ref(),
        models.as_os_str(),
        "--quiet".as_ref(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap()).expect("JSON summary");
    let s = &summary["sources"][0];
    assert_eq!(summary["candidate"], "nanodet");
    assert!(s["frames"].as_u64().unwrap() >= 20, "{s}");
    // One worker, seen by both: mostly agreement (measured 92%).
    let agreement = s["agreement"].as_f64().unwrap();
    assert!((0.6..=1.0).contains(&agreement), "{s}");
    assert!(s["by_class"]["person"][0].as_u64().unwrap() >= 15, "{s}");
    assert!(
        stdout.contains("to switch: vigil model use nanodet"),
        "{stdout}"
    );
    // A candidate that does not exist.
    let out = vigil(&[
        "model".as_ref(),
        "trial".as_ref(),
        "--candidate".as_ref(),
        "yolo-giant".as_ref(),
        "--video".as_ref(),
        video.as_os_str(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no detector named `yolo-giant`"));

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vigil.toml");
    let text = format!(
        "data_dir = {:?}\n\n[analysis]\ndetect_fps = 5\n\n[[camera]]\nname = \"gate\"\nmain = \"rtsp://127.0.0.1:8554/gate\"\n",
        dir.path().join("data")
    );
    std::fs::write(&config, &text).unwrap();
    let use_model = |m: &str| {
        vigil(&[
            "model".as_ref(),
            "use".as_ref(),
            m.as_ref(),
            "--config".as_ref(),
            config.as_os_str(),
        ])
    };
    assert!(use_model("nanodet").status.success());
    let changed = std::fs::read_to_string(&config).unwrap();
    assert!(
        changed.contains("[analysis]\ndetect_fps = 5\n\nmodel = \"nanodet\"")
            || changed.contains("model = \"nanodet\""),
        "{changed}"
    );
    let check = vigil(&[
        "config".as_ref(),
        "check".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // And back; a model that does not exist changes nothing.
    assert!(use_model("yolox-nano").status.success());
    let back = std::fs::read_to_string(&config).unwrap();
    assert!(
        back.contains("model = \"yolox-nano\"") && !back.contains("nanodet"),
        "{back}"
    );
    let out = use_model("yolo-giant");
    assert!(!out.status.success());
    assert_eq!(std::fs::read_to_string(&config).unwrap(), back);
}
