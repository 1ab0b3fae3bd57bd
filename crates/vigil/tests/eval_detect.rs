//! End to end: `vigil eval detect` on MOT17-mini must reach the YOLOX-nano person AP50 targets
//! (>= 0.41 full frame, the reference Python/onnxruntime implementation scores 0.416 on OpenCV-decoded
//! frames; >= 0.51 with 2x2 tiles), and say so in its one-line JSON summary.

mod common;

use common::{ready, shared};
use std::process::Command;

/// Runs `vigil eval ARGS --data DATA --models SHARED/models`; its output and its one-line JSON summary.
fn eval(
    args: &[&str],
    data: &std::path::Path,
    shared: &std::path::Path,
) -> (String, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("eval")
        .args(args)
        .arg("--data")
        .arg(data)
        .arg("--models")
        .arg(shared.join("models"))
        .output()
        .expect("vigil runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "vigil eval {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{stdout}");
    let last = stdout.lines().last().expect("output");
    let summary = serde_json::from_str(last).expect("last line is JSON");
    (stdout, summary)
}

#[test]
fn yolox_nano_reaches_the_person_ap50_targets_on_mot17_mini() {
    let shared = shared();
    let data = shared.join("footage/mot17-mini/train");
    if !ready(&data.join("MOT17-02-FRCNN/gt/gt.txt")) {
        return;
    }
    let (stdout, summary) = eval(
        &["detect", "--model", "yolox-nano", "--mode", "both"],
        &data,
        &shared,
    );
    assert_eq!(summary["command"], "eval detect");
    assert_eq!(summary["frames"], 39);
    assert_eq!(summary["full"]["positives"], 814);
    let full = summary["full"]["ap"].as_f64().unwrap();
    let tiled = summary["tiled"]["ap"].as_f64().unwrap();
    assert!(full >= 0.41, "full-frame AP50 {full}");
    assert!(tiled >= 0.51, "tiled AP50 {tiled}");
    assert_eq!(summary["tiled"]["runs_per_frame"], 5.0);
    assert_eq!(summary["sequences"].as_array().unwrap().len(), 7);
    // The human table precedes the JSON and names every sequence and the overall row.
    for seq in ["MOT17-02-FRCNN", "MOT17-13-FRCNN", "overall"] {
        assert!(stdout.contains(seq), "{seq} missing from the table");
    }
}

/// `vigil eval count`: counting detections on tiles sized to the scene beats the whole frame by far on
/// MOT17-mini, held out (the threshold chosen on the other sequences), within the cost of a counted frame.
#[test]
fn counting_on_scene_sized_tiles_beats_the_whole_frame_held_out() {
    let shared = shared();
    let data = shared.join("footage/mot17-mini/train");
    if !ready(&data.join("MOT17-02-FRCNN/gt/gt.txt")) {
        return;
    }
    let (_, summary) = eval(&["count", "--grids", "1x1,auto"], &data, &shared);
    assert_eq!(summary["command"], "eval count");
    assert_eq!(summary["frames"], 39);
    let grids = summary["grids"].as_array().unwrap();
    let held = |i: usize| grids[i]["mae_held_out"].as_f64().unwrap();
    // Measured 8.82 and 2.92.
    assert!(held(0) > 7.0, "whole frame {}", held(0));
    assert!(held(1) < 3.5, "auto {}", held(1));
    let runs = grids[1]["runs_per_frame"].as_f64().unwrap();
    assert!((2.0..=6.5).contains(&runs), "{runs} runs per counted frame");
}

/// `vigil anomaly learn` / `score` write a model (with its grid of cells) and one `frame,score` row per
/// decoded frame, the abnormal frames of an Avenue test video scoring higher; `vigil eval anomaly` reaches
/// its measured frame-level AUC on the six shared test videos (0.764 pooled, 0.940 mean within the videos
/// that have both kinds of frames: 0.96 / 1.00 / 0.86 / 0.93).
#[test]
fn the_learned_normal_scores_avenue_s_abnormal_frames_higher() {
    let shared = shared();
    let data = shared.join("footage/anomaly-avenue");
    if !ready(&data.join("train_12.mp4")) {
        return;
    }
    let vigil = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(args)
            .arg("--models")
            .arg(shared.join("models"))
            .arg("--quiet")
            .output()
            .expect("vigil runs");
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        text
    };
    let dir = tempfile::tempdir().unwrap();
    let (model, scores) = (
        dir.path().join("avenue.json"),
        dir.path().join("scores.csv"),
    );
    vigil(&[
        "anomaly".as_ref(),
        "learn".as_ref(),
        data.join("train_12.mp4").as_os_str(),
        data.join("train_16.mp4").as_os_str(),
        "--out".as_ref(),
        model.as_os_str(),
    ]);
    let learned: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    let cells = learned["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 16, "a 4x4 grid");
    // Avenue's people walk in the lower half of the picture: its cells saw them, the top row none.
    let people = |c: &serde_json::Value| c["classes"]["person"].as_u64().unwrap_or(0);
    assert!(cells[8..].iter().map(people).sum::<u64>() > 1000);
    assert_eq!(cells[..4].iter().map(people).sum::<u64>(), 0);
    vigil(&[
        "anomaly".as_ref(),
        "score".as_ref(),
        data.join("test_21.mp4").as_os_str(),
        "--model".as_ref(),
        model.as_os_str(),
        "--out".as_ref(),
        scores.as_os_str(),
    ]);
    let rows: Vec<(usize, f64)> = std::fs::read_to_string(&scores)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let (f, s) = l.split_once(',').unwrap();
            (f.parse().unwrap(), s.parse().unwrap())
        })
        .collect();
    assert_eq!(rows.len(), 76, "one row per decoded frame");
    assert!(rows.iter().enumerate().all(|(i, r)| r.0 == i));
    // Test video 21: a child runs through frames 13-65.
    let mean = |r: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = r.collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let abnormal = mean(&mut rows[13..=65].iter().map(|r| r.1));
    let normal = mean(&mut rows[..13].iter().chain(&rows[66..]).map(|r| r.1));
    assert!(
        abnormal > normal,
        "running {abnormal:.2} vs walking {normal:.2}"
    );

    let text = vigil(&[
        "eval".as_ref(),
        "anomaly".as_ref(),
        "--threads".as_ref(),
        "2".as_ref(),
    ]);
    eprintln!("{text}");
    let summary: serde_json::Value = serde_json::from_str(
        text.lines()
            .find(|l| l.starts_with('{'))
            .expect("JSON summary"),
    )
    .unwrap();
    assert_eq!(summary["command"], "eval anomaly");
    let pooled = summary["auc"].as_f64().unwrap();
    assert!(pooled >= 0.7, "pooled AUC {pooled}");
    let within = summary["mean_within_auc"].as_f64().unwrap();
    assert!(within >= 0.88, "mean AUC within the videos {within}");
    for v in summary["videos"].as_array().unwrap() {
        if let Some(a) = v["auc"].as_f64() {
            assert!(a >= 0.8, "{v}");
        }
    }
}
