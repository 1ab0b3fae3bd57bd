//! `vigil eval night`: person AP50 on the MOT17-mini frames by day, at night (the night model of
//! `vigil_eval::night`: 4 stops less light, sensor noise, gamma, blur), and at night brightened by each
//! enhancement (`vigil_vision::lowlight`), full frame and tiled, with the enhancement's cost per frame.
//! The figure that decides what `vigil run` does on a dark camera.

use super::detect::{frames, mot_data_and_model, person_detector, sequences};
use crate::report;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use vigil_core::BgrImage;
use vigil_eval::ap::{ApAccumulator, FrameGt, ScoredBox};
use vigil_eval::motchallenge;
use vigil_eval::night::{NightModel, darken};
use vigil_vision::lowlight::{self, Enhancement};
use vigil_vision::model::DEFAULT_MODEL;
use vigil_vision::regions::{DEFAULT_TILE_OVERLAP, tiled_regions};

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Detector model (`yolox-nano`, `nanodet`, `person-192`).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// MOTChallenge `train` directory (default: the shared footage's `mot17-mini/train`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Directory searched for the model files first (default: the shared models directory).
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Exposure of the night model (share of the day's light).
    #[arg(long, default_value_t = NightModel::default().exposure)]
    pub exposure: f32,
    /// Inference threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// One condition's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Condition {
    /// `day`, `night`, `night+gamma`...
    pub name: String,
    /// Person AP50, whole frame.
    pub full_ap50: f64,
    /// Person recall at the lowest score, whole frame.
    pub full_recall: f64,
    /// Person AP50, whole frame and 2x2 tiles.
    pub tiled_ap50: f64,
    /// Mean time of the enhancement per frame (ms; 0 for none).
    pub enhance_ms: f64,
}

/// The one-line JSON summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Always `eval night`.
    pub command: &'static str,
    /// Frames.
    pub frames: usize,
    /// Exposure of the night model.
    pub exposure: f32,
    /// Per condition.
    pub conditions: Vec<Condition>,
}

/// Runs the evaluation.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (data, runtime, model) = mot_data_and_model(&args.data, &args.models, &args.model)?;
    let (mut detector, person) =
        person_detector(&runtime, &model, Some(args.threads.max(1)), 0.01)?;
    let assets = crate::models::Assets::open(args.models.clone())?;
    let mut zero_dce = match assets.load(&vigil_vision::model::ZERO_DCE) {
        Ok((path, bytes)) => Some(vigil_vision::onnx::OnnxModel::new(
            &assets.runtime,
            &path,
            &bytes,
            args.threads.max(1),
        )?),
        Err(e) => {
            eprintln!("zero-dce left out: {e:#}");
            None
        }
    };
    let night = NightModel {
        exposure: args.exposure,
        ..NightModel::default()
    };
    let mut enhancements = vec![Enhancement::Gamma, Enhancement::Clahe];
    if zero_dce.is_some() {
        enhancements.push(Enhancement::ZeroDce);
    }
    // Day, night, then night brightened by each enhancement.
    let names: Vec<String> = ["day".to_string(), "night".to_string()]
        .into_iter()
        .chain(enhancements.iter().map(|e| format!("night+{}", e.name())))
        .collect();
    let mut full: Vec<ApAccumulator> = names.iter().map(|_| ApAccumulator::new(0.5)).collect();
    let mut tiled: Vec<ApAccumulator> = names.iter().map(|_| ApAccumulator::new(0.5)).collect();
    let mut spent = vec![Duration::ZERO; names.len()];
    let mut count = 0usize;
    let persons = |dets: &[vigil_core::Detection]| -> Vec<ScoredBox> {
        dets.iter()
            .filter(|d| d.class_id == person)
            .map(|d| ScoredBox::new(d.bbox, d.score))
            .collect()
    };
    for seq in sequences(&data)? {
        let gt_rows = motchallenge::read_gt(&seq.join("gt/gt.txt"))?;
        let by_frame = motchallenge::by_frame(&gt_rows, |g| g.frame);
        for (number, path) in frames(&seq)? {
            let day = vigil_media::image_file::read_bgr(&path)?;
            let gt = FrameGt::from_mot(by_frame.get(&number).map_or(&[][..], |v| v));
            let dark = darken(&day, &night, u64::from(number) * 7919 + count as u64);
            for i in 0..names.len() {
                let t = Instant::now();
                let image: BgrImage = match i {
                    0 => day.clone(),
                    1 => dark.clone(),
                    _ => lowlight::enhance(enhancements[i - 2], &dark, zero_dce.as_mut())?,
                };
                if i >= 2 {
                    spent[i] += t.elapsed();
                }
                let out = detector.detect(&image)?;
                full[i].add_frame(&persons(&out.detections), &gt);
                let regions = tiled_regions(image.width(), image.height(), DEFAULT_TILE_OVERLAP);
                let out = detector.detect_regions(&image, &regions)?;
                tiled[i].add_frame(&persons(&out.detections), &gt);
            }
            count += 1;
        }
    }
    anyhow::ensure!(count > 0, "no frames in {}", data.display());
    println!(
        "{count} frames; night model: exposure {}, shot noise {}, read noise {}, gamma {}, blur",
        night.exposure, night.shot, night.read, night.gamma
    );
    println!(
        "{:<16} {:>10} {:>8} {:>11} {:>12}",
        "condition", "AP50 full", "recall", "AP50 tiled", "enhance ms"
    );
    let mut conditions = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (f, t) = (full[i].summary(), tiled[i].summary());
        let c = Condition {
            name: name.clone(),
            full_ap50: f.ap,
            full_recall: f.max_recall,
            tiled_ap50: t.ap,
            enhance_ms: spent[i].as_secs_f64() * 1000.0 / count as f64,
        };
        println!(
            "{:<16} {:>10.3} {:>8.3} {:>11.3} {:>12.1}",
            c.name, c.full_ap50, c.full_recall, c.tiled_ap50, c.enhance_ms
        );
        conditions.push(c);
    }
    report::print_json_summary(&Summary {
        command: "eval night",
        frames: count,
        exposure: night.exposure,
        conditions,
    })
}
