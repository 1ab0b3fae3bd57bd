//! `vigil eval count`: people counting against MOTChallenge ground truth, per grid of tiles, with the
//! counting threshold chosen by leave-one-sequence-out cross-validation (so the figure that counts is the
//! held-out one, not the one tuned on the frames it is scored on).
//!
//! Truth: the people visible in each frame: pedestrians and static people (MOT17 classes 1 and 7) at
//! least a quarter visible (`visibility >= 0.25`), whatever their `consider` flag: a count should include
//! the person standing still. Beside it, a *tolerant* error that does not blame counting what the truth
//! leaves ambiguous (a reflection or a poster person, class 12 and 8; a person on a vehicle, 2; a person
//! less than a quarter visible): a count between the visible people and those plus the ambiguous ones is
//! no error. Cost: process CPU time per counted frame, on the threads given (default 1,
//! the per-camera budget).

use super::detect::{frames, mot_data_and_model, person_detector, sequences};
use crate::report;
use serde::Serialize;
use std::path::PathBuf;
use vigil_eval::motchallenge;
use vigil_pipeline::stats::process_cpu_time;
use vigil_vision::count::{COUNT_SCORE, Grid, GridPolicy, choose_grid, detect_people};
use vigil_vision::model::DEFAULT_MODEL;

/// Lowest visibility of a person the count should include.
pub const MIN_VISIBILITY: f32 = 0.25;

/// Thresholds tried for the count.
const THRESHOLDS: [f32; 13] = [
    0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75,
];

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Detector model (`yolox-nano`, `nanodet`, `person-192`).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// Grids to compare (`auto` is chosen per sequence from its first frame, as `vigil count` does).
    #[arg(long, value_delimiter = ',', default_value = "1x1,2x2,3x2,auto")]
    pub grids: Vec<String>,
    /// MOTChallenge `train` directory with `<SEQ>/img1` and `<SEQ>/gt/gt.txt` (default: the shared
    /// footage's `mot17-mini/train`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Inference threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Directory searched for the model file first (default: the shared models directory).
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// For `auto`: the height (model pixels) the scene's typical person should reach.
    #[arg(long, default_value_t = vigil_vision::count::TARGET_PERSON_PX)]
    pub target_px: f32,
    /// For `auto`: the most tiles.
    #[arg(long, default_value_t = vigil_vision::count::MAX_TILES)]
    pub max_tiles: u32,
    /// Images (whole frame and tiles) per ONNX Runtime call (1: one call per region; more needs a model
    /// with a batch axis, or one the detector can give one).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
}

/// One grid's figures.
#[derive(Debug, Clone, Serialize)]
pub struct GridReport {
    /// `1x1`, `3x2`, `auto`...
    pub grid: String,
    /// The grid `auto` chose per sequence.
    pub chosen: Vec<(String, String)>,
    /// Model runs per counted frame.
    pub runs_per_frame: f64,
    /// Process CPU per counted frame (ms).
    pub cpu_ms_per_frame: f64,
    /// Mean absolute count error with the threshold chosen on the other sequences (leave one out).
    pub mae_held_out: f64,
    /// The best mean absolute error on all frames, and its threshold (in sample: optimistic).
    pub mae_in_sample: f64,
    /// Threshold of the in-sample figure.
    pub threshold_in_sample: f32,
    /// Mean absolute error at the shipped default threshold.
    pub mae_at_default: f64,
    /// The tolerant error at the held-out thresholds (counting the ambiguous is no error).
    pub mae_held_out_tolerant: f64,
}

/// The one-line JSON summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Always `eval count`.
    pub command: &'static str,
    /// Model name.
    pub model: String,
    /// Frames scored.
    pub frames: usize,
    /// Mean true count per frame.
    pub mean_true: f64,
    /// The default threshold `vigil count` uses.
    pub default_threshold: f32,
    /// Per grid.
    pub grids: Vec<GridReport>,
}

/// One frame: its sequence, true count, and the person scores each grid found.
struct Frame {
    seq: usize,
    truth: usize,
    /// People the truth leaves ambiguous (reflections, posters, on vehicles, barely visible).
    ambiguous: usize,
    scores: Vec<Vec<f32>>,
}

/// Runs the evaluation.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (data, runtime, model) = mot_data_and_model(&args.data, &args.models, &args.model)?;
    let (mut detector, person) =
        person_detector(&runtime, &model, Some(args.threads.max(1)), THRESHOLDS[0])?;
    if args.batch > 1 {
        // A detector loaded for batches (the batch axis is made when the model loads).
        let config = vigil_vision::detector::DetectorConfig {
            max_batch: args.batch,
            ..detector.config().clone()
        };
        detector = vigil_vision::detector::Detector::new(&runtime, &model, config)?;
        eprintln!("{} images per ONNX Runtime call", detector.max_batch());
    }
    let grids: Vec<Option<Grid>> = args
        .grids
        .iter()
        .map(|g| match g.as_str() {
            "auto" => Ok(None),
            other => other.parse().map(Some).map_err(anyhow::Error::msg),
        })
        .collect::<anyhow::Result<_>>()?;

    let seqs = sequences(&data)?;
    let mut names = Vec::new();
    let mut all: Vec<Frame> = Vec::new();
    let mut cpu = vec![std::time::Duration::ZERO; grids.len()];
    let mut runs = vec![0u64; grids.len()];
    let mut chosen: Vec<Vec<(String, String)>> = vec![Vec::new(); grids.len()];
    for (si, seq) in seqs.iter().enumerate() {
        let name = seq
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let gt = motchallenge::read_gt(&seq.join("gt/gt.txt"))?;
        let by_frame = motchallenge::by_frame(&gt, |g| g.frame);
        let mut auto_grid: Option<Grid> = None;
        for (number, path) in frames(seq)? {
            let image = vigil_media::image_file::read_bgr(&path)?;
            let rows = by_frame.get(&number).map_or(&[][..], |v| v);
            let is_person = |g: &&motchallenge::GtBox| matches!(g.class, 1 | 7);
            let truth = rows
                .iter()
                .filter(is_person)
                .filter(|g| g.visibility >= MIN_VISIBILITY)
                .count();
            let ambiguous = rows
                .iter()
                .filter(|g| {
                    matches!(g.class, 2 | 8 | 12) || (is_person(g) && g.visibility < MIN_VISIBILITY)
                })
                .count();
            let mut scores = Vec::new();
            for (gi, grid) in grids.iter().enumerate() {
                let t = process_cpu_time();
                let g = match (grid, auto_grid) {
                    (Some(g), _) => *g,
                    (None, Some(g)) => g,
                    (None, None) => {
                        let policy = GridPolicy {
                            target_px: args.target_px,
                            max_tiles: args.max_tiles,
                        };
                        let (g, n) = choose_grid(&mut detector, person, &image, policy)?;
                        runs[gi] += u64::from(n);
                        chosen[gi].push((name.clone(), g.to_string()));
                        auto_grid = Some(g);
                        g
                    }
                };
                let (people, n) = detect_people(&mut detector, person, &image, g)?;
                cpu[gi] += process_cpu_time().saturating_sub(t);
                runs[gi] += u64::from(n);
                scores.push(people.iter().map(|d| d.score).collect());
            }
            all.push(Frame {
                seq: si,
                truth,
                ambiguous,
                scores,
            });
        }
        names.push(name);
    }
    anyhow::ensure!(!all.is_empty(), "no frames in {}", data.display());

    let n = all.len() as f64;
    let mae = |frames: &[&Frame], gi: usize, t: f32| -> f64 {
        let sum: f64 = frames
            .iter()
            .map(|f| {
                let c = f.scores[gi].iter().filter(|s| **s >= t).count();
                (c as f64 - f.truth as f64).abs()
            })
            .sum();
        sum / frames.len().max(1) as f64
    };
    let best = |frames: &[&Frame], gi: usize| -> (f32, f64) {
        THRESHOLDS
            .iter()
            .map(|t| (*t, mae(frames, gi, *t)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((COUNT_SCORE, f64::NAN))
    };
    let every: Vec<&Frame> = all.iter().collect();
    println!(
        "{} frames, {:.1} people per frame on average (classes 1 and 7, visibility >= {MIN_VISIBILITY})",
        all.len(),
        all.iter().map(|f| f.truth as f64).sum::<f64>() / n
    );
    println!(
        "{:<6} {:>6} {:>8} {:>10} {:>14} {:>11}  held-out thresholds",
        "grid", "runs", "CPU ms", "MAE held", "MAE in-sample", "MAE @default"
    );
    let mut reports = Vec::new();
    for (gi, label) in args.grids.iter().enumerate() {
        // Leave one sequence out: the threshold from the others, the error on it.
        let mut err = 0.0;
        let mut tolerant = 0.0;
        let mut picked = Vec::new();
        let mut per_seq = Vec::new();
        for (s, name) in names.iter().enumerate() {
            let train: Vec<&Frame> = all.iter().filter(|f| f.seq != s).collect();
            let test: Vec<&Frame> = all.iter().filter(|f| f.seq == s).collect();
            let (t, _) = best(&train, gi);
            picked.push(t);
            let m = mae(&test, gi, t);
            // Signed: does the grid miss people or count some twice?
            let bias: f64 = test
                .iter()
                .map(|f| f.scores[gi].iter().filter(|x| **x >= t).count() as f64 - f.truth as f64)
                .sum::<f64>()
                / test.len().max(1) as f64;
            let short = name.strip_prefix("MOT17-").unwrap_or(name);
            per_seq.push(format!(
                "{} {m:.1} ({bias:+.1})",
                &short[..short.len().min(2)]
            ));
            tolerant += test
                .iter()
                .map(|f| {
                    let c = f.scores[gi].iter().filter(|x| **x >= t).count();
                    let (lo, hi) = (f.truth, f.truth + f.ambiguous);
                    (lo.saturating_sub(c) + c.saturating_sub(hi)) as f64
                })
                .sum::<f64>();
            err += m * test.len() as f64;
        }
        let held = err / n;
        let (t_in, in_sample) = best(&every, gi);
        let report = GridReport {
            grid: label.clone(),
            chosen: chosen[gi].clone(),
            runs_per_frame: runs[gi] as f64 / n,
            cpu_ms_per_frame: cpu[gi].as_secs_f64() * 1000.0 / n,
            mae_held_out: held,
            mae_in_sample: in_sample,
            threshold_in_sample: t_in,
            mae_at_default: mae(&every, gi, COUNT_SCORE),
            mae_held_out_tolerant: tolerant / n,
        };
        println!(
            "{:<6} {:>6.2} {:>8.1} {:>10.2} {:>9.2} @{:.2} {:>11.2}  {:?}",
            label,
            report.runs_per_frame,
            report.cpu_ms_per_frame,
            held,
            in_sample,
            t_in,
            report.mae_at_default,
            picked
        );
        println!(
            "       held out per sequence, MAE (bias): {}; tolerant MAE {:.2}",
            per_seq.join(", "),
            report.mae_held_out_tolerant
        );
        if !report.chosen.is_empty() {
            println!("       auto chose {:?}", report.chosen);
        }
        reports.push(report);
    }
    report::print_json_summary(&Summary {
        command: "eval count",
        model: detector.spec().name.clone(),
        frames: all.len(),
        mean_true: all.iter().map(|f| f.truth as f64).sum::<f64>() / n,
        default_threshold: COUNT_SCORE,
        grids: reports,
    })
}
