//! `vigil eval motion`: motion-mask precision / recall / F1 of the motion detector on CDnet sequences.
//!
//! Every frame of each sequence is fed in order to a fresh [`MotionDetector`] (the model bootstraps from
//! the first frame; no look-ahead) and its mask is scored per pixel against the CDnet ground truth inside
//! the spatial and temporal ROI, shadow and unknown pixels excluded. Prints a table, then one JSON line.

use crate::{paths, report};
use anyhow::Context;
use serde::Serialize;
use std::path::{Path, PathBuf};
use vigil_eval::motion::{CdnetSequence, SequenceScore, evaluate_sequence};
use vigil_vision::motion::{MotionConfig, MotionDetector};

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Folder holding one CDnet sequence folder per name (default: the shared `footage/motion-gt`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Sequences to evaluate, comma-separated folder names.
    #[arg(long, value_delimiter = ',', default_value = "highway,traffic,fall")]
    sequences: Vec<String>,
    /// Processed frames left out of the "after warm-up" score (the headline score counts every frame).
    #[arg(long, default_value_t = 30)]
    warmup: usize,
    /// Process every N-th frame only, as the pipeline's analysis rate does (6: 30 fps -> 5 fps).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    stride: u16,
    /// TOML file with motion detector settings (any `MotionConfig` field; missing ones keep defaults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Write every predicted mask as `DIR/<sequence>/maskNNNNNN.pgm` for inspection.
    #[arg(long)]
    save_masks: Option<PathBuf>,
}

#[derive(Serialize)]
struct SequenceRow {
    name: String,
    frames: usize,
    precision: f64,
    recall: f64,
    f1: f64,
    f1_after_warmup: f64,
    specificity: f64,
    pwc: f64,
    ms_per_frame: f64,
}

#[derive(Serialize)]
struct Summary {
    eval: &'static str,
    warmup: usize,
    stride: u16,
    sequences: Vec<SequenceRow>,
    mean_f1: f64,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let data = args
        .data
        .unwrap_or_else(|| paths::footage_dir().join("motion-gt"));
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str::<MotionConfig>(&text)
                .with_context(|| format!("parsing {}", path.display()))?
        }
        None => MotionConfig::default(),
    };
    // open every sequence first, so a wrong name fails before any work
    let sequences = args
        .sequences
        .iter()
        .map(|name| {
            let dir = data.join(name);
            CdnetSequence::open(&dir)
                .with_context(|| format!("opening CDnet sequence {}", dir.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    println!(
        "{:<10} {:>6} {:>9} {:>7} {:>6} {:>8} {:>7} {:>6} {:>9}",
        "sequence", "frames", "precision", "recall", "F1", "F1>warm", "spec", "PWC", "ms/frame"
    );
    let mut rows = Vec::new();
    for seq in &sequences {
        let score = score_sequence(
            seq,
            &config,
            args.warmup,
            args.stride as usize,
            args.save_masks.as_deref(),
        )?;
        let row = SequenceRow {
            name: score.name.clone(),
            frames: score.frames_scored,
            precision: score.all.precision(),
            recall: score.all.recall(),
            f1: score.all.f1(),
            f1_after_warmup: score.after_warmup.f1(),
            specificity: score.all.specificity(),
            pwc: score.all.pwc(),
            ms_per_frame: score.ms_per_frame(),
        };
        println!(
            "{:<10} {:>6} {:>9.3} {:>7.3} {:>6.3} {:>8.3} {:>7.4} {:>6.2} {:>9.2}",
            row.name,
            row.frames,
            row.precision,
            row.recall,
            row.f1,
            row.f1_after_warmup,
            row.specificity,
            row.pwc,
            row.ms_per_frame
        );
        rows.push(row);
    }
    let mean_f1 = if rows.is_empty() {
        0.0
    } else {
        rows.iter().map(|r| r.f1).sum::<f64>() / rows.len() as f64
    };
    report::print_json_summary(&Summary {
        eval: "motion",
        warmup: args.warmup,
        stride: args.stride,
        sequences: rows,
        mean_f1,
    })
}

fn score_sequence(
    seq: &CdnetSequence,
    config: &MotionConfig,
    warmup: usize,
    stride: usize,
    save_masks: Option<&Path>,
) -> anyhow::Result<SequenceScore> {
    let mut detector = MotionDetector::new(config.clone())?;
    let mut masks = Vec::new();
    let score = evaluate_sequence(seq, warmup, stride, |frame| {
        let out = detector.update(frame)?;
        if save_masks.is_some() {
            masks.push(out.mask.clone());
        }
        Ok::<_, vigil_vision::motion::MotionError>(out.mask)
    })?;
    if let Some(dir) = save_masks {
        let dir = dir.join(&seq.name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (frame, mask) in seq.frames.iter().step_by(stride).zip(&masks) {
            let path = dir.join(format!("mask{:06}.pgm", frame.number));
            let mut bytes = format!("P5\n{} {}\n255\n", mask.width(), mask.height()).into_bytes();
            bytes.extend_from_slice(mask.data());
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(score)
}
