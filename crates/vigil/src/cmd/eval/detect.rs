//! `vigil eval detect`: person AP50 of a detector on MOTChallenge frames, full-frame and tiled
//! (full frame + 2x2 overlapping tiles), with per-stage timings.
//!
//! Ground truth follows the MOT17 rules (pedestrians with `consider = 1` are positives; classes 2, 7, 8, 12
//! are ignore regions). Detections are kept down to a low score so the whole precision/recall curve counts.

use crate::{paths, report};
use anyhow::{Context, bail};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vigil_eval::ap::{ApAccumulator, ApSummary, FrameGt, ScoredBox};
use vigil_eval::motchallenge;
use vigil_vision::detector::{Detector, DetectorConfig, StageTimings};
use vigil_vision::model::{DEFAULT_MODEL, ModelFile, ModelStore};
use vigil_vision::regions::{DEFAULT_TILE_OVERLAP, tiled_regions};

/// Which detection modes to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// The whole frame letterboxed to the model input.
    Full,
    /// The whole frame plus 2x2 overlapping tiles, merged.
    Tiled,
    /// Both, one after the other on each frame.
    Both,
}

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Detector model (`yolox-nano`, `nanodet`, `person-192`).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// Full frame, tiled, or both.
    #[arg(long, value_enum, default_value_t = Mode::Both)]
    pub mode: Mode,
    /// MOTChallenge `train` directory with `<SEQ>/img1` and `<SEQ>/gt/gt.txt`
    /// (default: the shared footage's `mot17-mini/train`).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Inference threads (default: all available cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Lowest detection score kept (the precision/recall curve runs down to it).
    #[arg(long, default_value_t = 0.01)]
    pub score: f32,
    /// Directory searched for the model file first (default: the shared models directory).
    #[arg(long)]
    pub models: Option<PathBuf>,
}

/// Accuracy and speed of one mode.
#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    /// AP50 and the counts behind it.
    #[serde(flatten)]
    pub ap: ApSummary,
    /// Mean wall time of a detection call per frame (ms).
    pub ms_per_frame: f64,
    /// Model runs per frame.
    pub runs_per_frame: f64,
    /// Mean preprocessing time per model run (ms).
    pub preprocess_ms_per_run: f64,
    /// Mean ONNX Runtime `run` time per model run (ms).
    pub inference_ms_per_run: f64,
    /// Mean postprocessing time per frame (ms).
    pub postprocess_ms_per_frame: f64,
}

/// One sequence's AP per mode.
#[derive(Debug, Clone, Serialize)]
pub struct SequenceReport {
    /// Sequence name.
    pub name: String,
    /// Frames evaluated.
    pub frames: usize,
    /// Full-frame AP50.
    pub full_ap50: Option<f64>,
    /// Tiled AP50.
    pub tiled_ap50: Option<f64>,
}

/// The one-line JSON summary.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Always `eval detect`.
    pub command: &'static str,
    /// Model name.
    pub model: String,
    /// Intra-op threads.
    pub threads: usize,
    /// Lowest score kept.
    pub score_threshold: f32,
    /// Frames evaluated.
    pub frames: usize,
    /// Full-frame results.
    pub full: Option<ModeReport>,
    /// Tiled results.
    pub tiled: Option<ModeReport>,
    /// Per sequence.
    pub sequences: Vec<SequenceReport>,
}

/// Accumulates one mode over frames.
struct ModeRun {
    overall: ApAccumulator,
    sequence: ApAccumulator,
    timings: StageTimings,
    wall: Duration,
    frames: usize,
}

impl ModeRun {
    fn new() -> Self {
        Self {
            overall: ApAccumulator::new(0.5),
            sequence: ApAccumulator::new(0.5),
            timings: StageTimings::default(),
            wall: Duration::ZERO,
            frames: 0,
        }
    }

    fn end_sequence(&mut self) -> f64 {
        let ap = self.sequence.summary().ap;
        self.overall.merge(&self.sequence);
        self.sequence = ApAccumulator::new(0.5);
        ap
    }

    fn report(&self) -> ModeReport {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let frames = self.frames.max(1) as f64;
        let runs = self.timings.runs.max(1) as f64;
        ModeReport {
            ap: self.overall.summary(),
            ms_per_frame: ms(self.wall) / frames,
            runs_per_frame: self.timings.runs as f64 / frames,
            preprocess_ms_per_run: ms(self.timings.preprocess) / runs,
            inference_ms_per_run: ms(self.timings.inference) / runs,
            postprocess_ms_per_frame: ms(self.timings.postprocess) / frames,
        }
    }
}

/// The sequences under `data`: directories with `img1/` and `gt/gt.txt`, sorted by name.
pub(crate) fn sequences(data: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(data)
        .with_context(|| format!("cannot read the data directory {}", data.display()))?;
    let mut seqs = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", data.display()))?
            .path();
        if path.join("img1").is_dir() && path.join("gt/gt.txt").is_file() {
            seqs.push(path);
        }
    }
    seqs.sort();
    if seqs.is_empty() {
        bail!(
            "no MOTChallenge sequences (<SEQ>/img1 and <SEQ>/gt/gt.txt) in {}",
            data.display()
        );
    }
    Ok(seqs)
}

/// The image files of a sequence as (frame number, path), in frame order.
pub(crate) fn frames(seq: &Path) -> anyhow::Result<Vec<(u32, PathBuf)>> {
    let dir = seq.join("img1");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        let is_image = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"));
        let number = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u32>().ok());
        if let (true, Some(n)) = (is_image, number) {
            out.push((n, path));
        }
    }
    out.sort();
    Ok(out)
}

/// The MOTChallenge `train` directory (`data`, else the shared footage's `mot17-mini/train`), the ONNX
/// Runtime and the detector model `name` (from `models`, else the shared models directory).
pub(crate) fn mot_data_and_model(
    data: &Option<PathBuf>,
    models: &Option<PathBuf>,
    name: &str,
) -> anyhow::Result<(PathBuf, vigil_vision::runtime::Runtime, ModelFile)> {
    let data = data
        .clone()
        .unwrap_or_else(|| paths::footage_dir().join("mot17-mini/train"));
    let models_dir = models.clone().unwrap_or_else(paths::models_dir);
    let runtime = crate::models::runtime()?;
    let store = ModelStore::new(vec![models_dir], ModelStore::default_cache_dir());
    let model = store
        .load_by_name(name)
        .with_context(|| format!("resolving model `{name}`"))?;
    Ok((data, runtime, model))
}

/// A detector of `model` on `threads` keeping every detection down to `score` (no cap per frame: the
/// evaluations want the whole curve), and its person class.
pub(crate) fn person_detector(
    runtime: &vigil_vision::runtime::Runtime,
    model: &ModelFile,
    threads: Option<usize>,
    score: f32,
) -> anyhow::Result<(Detector, vigil_core::ClassId)> {
    let config = DetectorConfig {
        threads,
        score_threshold: score,
        max_detections: usize::MAX,
        ..DetectorConfig::default()
    };
    let detector = Detector::new(runtime, model, config)?;
    let person = detector
        .spec()
        .class_id("person")
        .with_context(|| format!("model `{}` has no person class", detector.spec().name))?;
    Ok((detector, person))
}

/// Runs the evaluation.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (data, runtime, model) = mot_data_and_model(&args.data, &args.models, &args.model)?;
    // No cap on detections per frame: the whole precision/recall curve counts (as in the reference).
    let (mut detector, person) = person_detector(&runtime, &model, args.threads, args.score)?;

    let (do_full, do_tiled) = match args.mode {
        Mode::Full => (true, false),
        Mode::Tiled => (false, true),
        Mode::Both => (true, true),
    };
    let mut full = ModeRun::new();
    let mut tiled = ModeRun::new();
    let mut seq_reports = Vec::new();
    let persons = |dets: &[vigil_core::Detection]| -> Vec<ScoredBox> {
        dets.iter()
            .filter(|d| d.class_id == person)
            .map(|d| ScoredBox::new(d.bbox, d.score))
            .collect()
    };

    println!(
        "model {} ({}), {} threads, score >= {}",
        detector.spec().name,
        model.path.display(),
        detector.threads(),
        args.score
    );
    println!(
        "{:<18} {:>6} {:>10} {:>11} {:>9} {:>10}",
        "sequence", "frames", "AP50 full", "AP50 tiled", "full ms", "tiled ms"
    );
    for seq in sequences(&data)? {
        let name = seq
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let gt_rows = motchallenge::read_gt(&seq.join("gt/gt.txt"))?;
        let gt_by_frame = motchallenge::by_frame(&gt_rows, |g| g.frame);
        let files = frames(&seq)?;
        let (full_wall0, tiled_wall0) = (full.wall, tiled.wall);
        for (number, path) in &files {
            let image = vigil_media::image_file::read_bgr(path)?;
            let gt = FrameGt::from_mot(gt_by_frame.get(number).map_or(&[][..], |v| v));
            if do_full {
                let t = Instant::now();
                let out = detector.detect(&image)?;
                full.wall += t.elapsed();
                full.timings += out.timings;
                full.frames += 1;
                full.sequence.add_frame(&persons(&out.detections), &gt);
            }
            if do_tiled {
                let regions = tiled_regions(image.width(), image.height(), DEFAULT_TILE_OVERLAP);
                let t = Instant::now();
                let out = detector.detect_regions(&image, &regions)?;
                tiled.wall += t.elapsed();
                tiled.timings += out.timings;
                tiled.frames += 1;
                tiled.sequence.add_frame(&persons(&out.detections), &gt);
            }
        }
        let n = files.len().max(1) as f64;
        let full_ap = do_full.then(|| full.end_sequence());
        let tiled_ap = do_tiled.then(|| tiled.end_sequence());
        let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        let ms = |d: Duration| d.as_secs_f64() * 1e3 / n;
        println!(
            "{:<18} {:>6} {:>10} {:>11} {:>9.1} {:>10.1}",
            name,
            files.len(),
            cell(full_ap),
            cell(tiled_ap),
            ms(full.wall - full_wall0),
            ms(tiled.wall - tiled_wall0),
        );
        seq_reports.push(SequenceReport {
            name,
            frames: files.len(),
            full_ap50: full_ap,
            tiled_ap50: tiled_ap,
        });
    }

    let frames_total: usize = seq_reports.iter().map(|s| s.frames).sum();
    let full_report = do_full.then(|| full.report());
    let tiled_report = do_tiled.then(|| tiled.report());
    let cell =
        |r: &Option<ModeReport>| r.as_ref().map_or("-".into(), |r| format!("{:.3}", r.ap.ap));
    let ms = |r: &Option<ModeReport>| r.as_ref().map_or(0.0, |r| r.ms_per_frame);
    println!(
        "{:<18} {:>6} {:>10} {:>11} {:>9.1} {:>10.1}",
        "overall",
        frames_total,
        cell(&full_report),
        cell(&tiled_report),
        ms(&full_report),
        ms(&tiled_report)
    );
    for (label, r) in [("full", &full_report), ("tiled", &tiled_report)] {
        if let Some(r) = r {
            println!(
                "{label:>5}: {:.2} runs/frame; per run: preprocess {:.2} ms, inference {:.2} ms; \
                 postprocess {:.2} ms/frame; {} positives, recall {:.3}",
                r.runs_per_frame,
                r.preprocess_ms_per_run,
                r.inference_ms_per_run,
                r.postprocess_ms_per_frame,
                r.ap.positives,
                r.ap.max_recall
            );
        }
    }
    report::print_json_summary(&Summary {
        command: "eval detect",
        model: detector.spec().name.clone(),
        threads: detector.threads(),
        score_threshold: args.score,
        frames: frames_total,
        full: full_report,
        tiled: tiled_report,
        sequences: seq_reports,
    })
}
