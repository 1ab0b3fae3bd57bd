//! `vigil anomaly learn VIDEO... --out MODEL` and `vigil anomaly score VIDEO --model MODEL --out scores.csv`:
//! a scene's normal learned from videos of normal activity, and every decoded frame of another video scored
//! against it (`frame,score`, higher = more abnormal). The features and the scoring are
//! `vigil_vision::anomaly`'s; people are detected and tracked on every frame, the motion field is block
//! matching on a copy 320 pixels wide between frames two apart.

use crate::cmd::analyze::progress_bar;
use crate::models;
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};
use vigil_core::GrayImage;
use vigil_pipeline::{Analyzer, FileRun, Gating, PipelineConfig};
use vigil_vision::anomaly::{FeatureTracker, FrameFeatures, SceneModel, Scoring, smooth};
use vigil_vision::flow::{Field, block_flow};
use vigil_vision::model::DEFAULT_MODEL;

/// Width of the copy the motion field is measured on.
const FIELD_WIDTH: u32 = 320;
/// Frames between the two the motion field compares.
const FIELD_GAP: usize = 2;
/// Seconds a frame's score is smoothed over (Gaussian sigma).
pub const SMOOTH_SECONDS: f64 = 0.25;

/// `vigil anomaly` subcommands.
#[derive(clap::Subcommand)]
pub enum AnomalyCommand {
    /// Learn a scene's normal from videos of normal activity.
    Learn(LearnArgs),
    /// Score every frame of a video against a learned normal.
    Score(ScoreArgs),
}

/// Where the detector comes from.
#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// Detector model (`yolox-nano`, `nanodet`, `person-192`).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub detector: String,
    /// Directory holding the model files (default: ../shared/models, then the download cache).
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Detector threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Arguments of `vigil anomaly learn`.
#[derive(clap::Args)]
pub struct LearnArgs {
    /// Videos of the scene's normal activity.
    #[arg(required = true)]
    pub videos: Vec<PathBuf>,
    /// Where to write the model (JSON).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Arguments of `vigil anomaly score`.
#[derive(clap::Args)]
pub struct ScoreArgs {
    /// The video to score.
    pub video: PathBuf,
    /// The model `vigil anomaly learn` wrote.
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write `frame,score` for every decoded frame.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub detector: ModelArgs,
}

/// Runs a `vigil anomaly` subcommand.
pub fn run(command: AnomalyCommand) -> anyhow::Result<()> {
    match command {
        AnomalyCommand::Learn(a) => {
            let mut frames = Vec::new();
            for v in &a.videos {
                let f = video_features(v, &a.model)?;
                eprintln!("{}: {} frames", v.display(), f.len());
                frames.extend(f);
            }
            let model = SceneModel::learn(&frames);
            save(&model, &a.out)?;
            eprintln!(
                "learned the normal of {} frames ({} people seen); wrote {}",
                model.frames,
                frames.iter().map(|f| f.people.len()).sum::<usize>(),
                a.out.display()
            );
            Ok(())
        }
        AnomalyCommand::Score(a) => {
            let model = load(&a.model)?;
            let (scores, _) = score_video(&a.video, &model, &a.detector)?;
            write_scores(&scores, &a.out)?;
            let max = scores.iter().copied().fold(0.0f32, f32::max);
            eprintln!(
                "{} frames scored (highest {max:.1}); wrote {}",
                scores.len(),
                a.out.display()
            );
            Ok(())
        }
    }
}

/// Writes `model` as JSON.
pub fn save(model: &SceneModel, path: &Path) -> anyhow::Result<()> {
    let text = serde_json::to_string(model).context("encoding the model")?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Reads a model `vigil anomaly learn` wrote.
pub fn load(path: &Path) -> anyhow::Result<SceneModel> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a model written by `vigil anomaly learn`",
            path.display()
        )
    })
}

/// Every decoded frame of `video` scored against `model`, smoothed, and the frame rate.
pub fn score_video(
    video: &Path,
    model: &SceneModel,
    args: &ModelArgs,
) -> anyhow::Result<(Vec<f32>, f64)> {
    let (frames, fps) = video_features_fps(video, args)?;
    Ok((score_frames(model, &frames, fps, Scoring::default()), fps))
}

/// The frames of one video (at `fps`) scored against `model` with `scoring`, smoothed.
pub fn score_frames(
    model: &SceneModel,
    frames: &[FrameFeatures],
    fps: f64,
    scoring: Scoring,
) -> Vec<f32> {
    let raw: Vec<f32> = frames
        .iter()
        .map(|f| model.score_with(f, scoring))
        .collect();
    smooth(&raw, (SMOOTH_SECONDS * fps) as f32)
}

/// Writes `frame,score` lines.
pub fn write_scores(scores: &[f32], path: &Path) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    writeln!(out, "frame,score")?;
    for (i, s) in scores.iter().enumerate() {
        writeln!(out, "{i},{s:.4}")?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))
}

/// The features of every decoded frame of `video`.
pub fn video_features(video: &Path, args: &ModelArgs) -> anyhow::Result<Vec<FrameFeatures>> {
    video_features_fps(video, args).map(|(f, _)| f)
}

/// The features of every decoded frame of `video`, and its frame rate.
pub fn video_features_fps(
    video: &Path,
    args: &ModelArgs,
) -> anyhow::Result<(Vec<FrameFeatures>, f64)> {
    let loaded = models::load(&args.detector, args.models.clone())?;
    let pool = loaded.pool(
        models::tracking_detector_config(args.threads, Default::default()),
        1,
    )?;
    let spec = pool.spec().clone();
    let person = spec
        .class_id("person")
        .context("the detector has no person class")?;
    let mut file =
        FileRun::open(video, None).with_context(|| format!("opening {}", video.display()))?;
    let info = file.info().clone();
    let fps = if info.fps > 0.0 { info.fps } else { 25.0 };
    let config = PipelineConfig {
        gating: Gating::EveryFrame,
        analysis_fps: fps as f32,
        ..PipelineConfig::default()
    };
    let mut analyzer = Analyzer::new(config, pool)?;
    let mut converter = vigil_media::Converter::new();
    let progress = progress_bar(info.frame_count, args.quiet);
    let mut tracker = FeatureTracker::new();
    let mut recent: Vec<GrayImage> = Vec::new();
    let mut out = Vec::new();
    let mut first_pts = None;
    while let Some(frame) = file.next_frame() {
        let (w, h) = (frame.width(), frame.height());
        let fh = ((u64::from(h) * u64::from(FIELD_WIDTH) / u64::from(w.max(1))) as u32).max(8) & !1;
        let gray = frame
            .gray(&mut converter, FIELD_WIDTH, fh)
            .context("converting a frame for the motion field")?;
        recent.push(gray);
        if recent.len() > FIELD_GAP + 1 {
            recent.remove(0);
        }
        let field = match (recent.first(), recent.last()) {
            (Some(old), Some(new)) if recent.len() == FIELD_GAP + 1 => block_flow(old, new),
            _ => Field::default(),
        };
        let a = analyzer.process(&frame, false)?;
        let pts = frame.pts();
        let t0 = *first_pts.get_or_insert(pts);
        let t = vigil_core::Time90k(pts.0 - t0.0).as_secs_f64();
        let boxes: Vec<_> = a
            .tracks
            .iter()
            .filter(|t| t.class_id == person)
            .map(|t| (t.id, t.bbox))
            .collect();
        let objects: Vec<_> = a
            .tracks
            .iter()
            .filter(|t| t.class_id != person)
            .map(|t| (spec.class_name(t.class_id), t.bbox))
            .collect();
        out.push(tracker.observe(
            t,
            (w, h),
            &boxes,
            &objects,
            &field,
            w as f32 / FIELD_WIDTH as f32,
            FIELD_GAP as f32 / fps as f32,
        ));
        progress.inc(1);
    }
    progress.finish_and_clear();
    if let Some(e) = file.take_ended_early() {
        anyhow::bail!("{}: the video ended early: {e}", video.display());
    }
    anyhow::ensure!(
        !out.is_empty(),
        "{}: no frame could be decoded",
        video.display()
    );
    Ok((out, fps))
}
