//! `vigil eval anomaly`: the learned normal on CUHK Avenue: learned on the normal training videos
//! (`train_*.mp4`), every frame of each test video (`test_*.mp4`) scored, and the frame-level area under
//! the ROC curve against `frame_labels_all21.csv`, pooled over all test frames (the published protocol)
//! and per video. Nothing is fitted on the test videos. `--ablation` also scores every [`Scoring`]
//! variant and checks the choice among them on held-out videos (see `ablation.rs`); `--cache DIR` keeps
//! each video's features so a second run skips detection.

use crate::cmd::anomaly::{ModelArgs, score_frames, video_features_fps};
use crate::{paths, report};
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vigil_vision::anomaly::{FrameFeatures, SceneModel, Scoring, auc};

mod ablation;

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Directory with `train_*.mp4`, `test_*.mp4` and `frame_labels_all21.csv` (default: the shared
    /// footage's `anomaly-avenue`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Keep each video's features here (JSON) and reuse them on the next run.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Also score every scoring variant and check the choice among them on held-out videos.
    #[arg(long)]
    pub ablation: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Version of the cached features (bump when `FeatureTracker` changes what it measures).
const FEATURES_VERSION: u32 = 3;

/// The features of `video` and its frame rate, from `cache` when there.
fn features(video: &Path, args: &Args) -> anyhow::Result<(Vec<FrameFeatures>, f64)> {
    let Some(dir) = &args.cache else {
        return video_features_fps(video, &args.model);
    };
    let stem = video
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let path = dir.join(format!(
        "{stem}.{}.v{FEATURES_VERSION}.json",
        args.model.detector
    ));
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(cached) = serde_json::from_str::<(Vec<FrameFeatures>, f64)>(&text)
    {
        return Ok(cached);
    }
    let got = video_features_fps(video, &args.model)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&path, serde_json::to_string(&got)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(got)
}

/// One test video's figures.
#[derive(Debug, Clone, Serialize)]
pub struct VideoReport {
    /// `test_17`...
    pub name: String,
    /// Frames scored.
    pub frames: usize,
    /// Abnormal frames.
    pub abnormal: usize,
    /// AUC within the video (`None` when it is all one class).
    pub auc: Option<f64>,
}

/// The one-line JSON summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Always `eval anomaly`.
    pub command: &'static str,
    /// Frames learned from.
    pub train_frames: usize,
    /// Frame-level AUC over every test frame.
    pub auc: f64,
    /// Mean of the AUCs within the videos that have both kinds of frames.
    pub mean_within_auc: Option<f64>,
    /// Per test video.
    pub videos: Vec<VideoReport>,
}

fn videos(dir: &std::path::Path, prefix: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "mp4")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    v.sort();
    Ok(v)
}

/// Runs the evaluation.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = args
        .data
        .clone()
        .unwrap_or_else(|| paths::footage_dir().join("anomaly-avenue"));
    let labels_path = dir.join("frame_labels_all21.csv");
    let text = std::fs::read_to_string(&labels_path)
        .with_context(|| format!("reading {}", labels_path.display()))?;
    // Video number -> abnormal flag per frame.
    let mut labels: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        anyhow::ensure!(
            f.len() >= 3,
            "{}:{}: expected test_video,frame_idx0,abnormal",
            labels_path.display(),
            n + 1
        );
        labels
            .entry(f[0].trim().to_string())
            .or_default()
            .push(f[2].trim() == "1");
    }
    let train = videos(&dir, "train_")?;
    let test = videos(&dir, "test_")?;
    anyhow::ensure!(
        !train.is_empty() && !test.is_empty(),
        "no train_*.mp4 or test_*.mp4 in {}",
        dir.display()
    );
    let started = std::time::Instant::now();
    let mut frames = Vec::new();
    for v in &train {
        frames.extend(features(v, &args)?.0);
    }
    let model = SceneModel::learn(&frames);
    println!(
        "learned on {} frames of {} training videos",
        model.frames,
        train.len()
    );
    let (mut all_scores, mut all_labels) = (Vec::new(), Vec::new());
    let mut reports = Vec::new();
    let mut scored = Vec::new();
    for v in &test {
        let name = v
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let number = name.trim_start_matches("test_").to_string();
        let truth = labels.get(&number).with_context(|| {
            format!("no labels for video {number} in {}", labels_path.display())
        })?;
        let (feats, fps) = features(v, &args)?;
        let scores = score_frames(&model, &feats, fps, Scoring::default());
        let n = scores.len().min(truth.len());
        if scores.len() != truth.len() {
            eprintln!(
                "warning: {name}: {} frames decoded, {} labelled; scoring the first {n}",
                scores.len(),
                truth.len()
            );
        }
        let r = VideoReport {
            name: name.clone(),
            frames: n,
            abnormal: truth[..n].iter().filter(|x| **x).count(),
            auc: auc(&scores[..n], &truth[..n]),
        };
        println!(
            "{name}: {} frames, {} abnormal, AUC {}",
            r.frames,
            r.abnormal,
            r.auc.map_or("- (one class)".into(), |a| format!("{a:.3}"))
        );
        all_scores.extend_from_slice(&scores[..n]);
        all_labels.extend_from_slice(&truth[..n]);
        reports.push(r);
        scored.push(ablation::Video {
            name,
            frames: feats[..n].to_vec(),
            fps,
            truth: truth[..n].to_vec(),
        });
    }
    let pooled = auc(&all_scores, &all_labels).context("the test frames are all one class")?;
    let within: Vec<f64> = reports.iter().filter_map(|r| r.auc).collect();
    let mean_within_auc =
        (!within.is_empty()).then(|| within.iter().sum::<f64>() / within.len() as f64);
    println!(
        "frame-level AUC over {} test frames: {pooled:.3} pooled, {} mean within the videos ({:.0} s)",
        all_scores.len(),
        mean_within_auc.map_or("-".into(), |a| format!("{a:.3}")),
        started.elapsed().as_secs_f64()
    );
    if args.ablation {
        ablation::report(&model, &scored);
    }
    report::print_json_summary(&Summary {
        command: "eval anomaly",
        train_frames: model.frames,
        auc: pooled,
        mean_within_auc,
        videos: reports,
    })
}
