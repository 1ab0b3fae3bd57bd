//! `vigil analyze VIDEO`: detect and track the objects in a video file or stream, with a progress bar and a
//! summary (objects by class, frames processed and skipped, time per stage). With `--identity` the track
//! lines also carry re-identification, face and plate fields (`analyze_identity.rs`).

use crate::cmd::analyze_identity::{IdentityFields, IdentityRun};
use crate::cmd::analyze_rules::{RulesRun, RulesSource};
use crate::models;
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;
use vigil_core::TrackedObject;
use vigil_media::VideoWriter;
use vigil_media::draw::{color_for_id, draw_box_with_label, draw_rect};
use vigil_pipeline::stats::{StageSummary, process_cpu_time};
use vigil_pipeline::{Analyzer, FileRun, FrameAnalysis, Gating, PipelineConfig};
use vigil_vision::model::{DEFAULT_MODEL, ModelSpec};

/// Arguments of `vigil analyze`.
#[derive(clap::Args)]
pub struct Args {
    /// Video file (H.264, H.265, MJPEG) or a URL FFmpeg can open.
    pub video: PathBuf,
    /// Detector model (`yolox-nano`, `nanodet`, `person-192`).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// Frames analysed per second (the rest are decoded but not analysed).
    #[arg(long, default_value_t = 5.0)]
    pub detect_fps: f64,
    /// Write the tracks as JSON lines: one line per analysed frame.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write the tracks in MOTChallenge format (`frame,id,left,top,width,height,score,-1,-1,-1`).
    #[arg(long)]
    pub mot: Option<PathBuf>,
    /// Write an annotated H.264 MP4 of the analysed frames (tracks, and motion regions in gray).
    #[arg(long)]
    pub annotate: Option<PathBuf>,
    /// Run the detector only where there is motion or a live track (`motion`), or on every analysed frame.
    #[arg(long, value_enum, default_value_t = GatingArg::Motion)]
    pub gating: GatingArg,
    /// Detector threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where inference runs: cpu, cuda, tensorrt or openvino (a provider the ONNX Runtime library
    /// lacks falls back to the CPU, saying why).
    #[arg(long, default_value = "cpu")]
    pub device: vigil_vision::device::InferenceDevice,
    /// Object classes to keep, comma separated (default: people, vehicles, animals, bags).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Directory holding the model files (default: ../shared/models, then the download cache).
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Evaluate the behaviour rules of this rules file (`[[zone]]`, `[[line]]`, `[[rule]]`... as under
    /// `[rules.CAMERA]` in vigil.toml).
    #[arg(long, conflicts_with = "config")]
    pub rules: Option<PathBuf>,
    /// Evaluate the rules of `--camera` in this vigil.toml.
    #[arg(long, requires = "camera")]
    pub config: Option<PathBuf>,
    /// The camera of `--config` whose rules to evaluate.
    #[arg(long, requires = "config")]
    pub camera: Option<String>,
    /// Write the rules' event messages as JSON lines.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// Write event snapshots (full frame and crop, JPEG) into this directory.
    #[arg(long)]
    pub snapshots: Option<PathBuf>,
    /// Add re-identification (`reid`), face (`face`) and plate (`plate`) fields to the tracks of `--out`,
    /// sampled per track about once a second (needs the re-id, face and OCR models).
    #[arg(long, requires = "out")]
    pub identity: bool,
    /// Give a person the tracker lost back their id when they reappear looking the same within this many
    /// seconds (re-identification; 0: off).
    #[arg(long, default_value_t = 30.0)]
    pub relink_seconds: f64,
    /// Write the camera health states the picture shows (covered, blocked, dark, defocused, moved,
    /// frozen), and its switches to IR mode as information (`ir_mode`), to this JSON-lines file:
    /// `kind`, `start` and `end` in seconds from the video's start.
    #[arg(long)]
    pub health: Option<PathBuf>,
    /// The independent second detector (`nanodet`, `person-192`...) for the rules with `second_opinion`
    /// (`[analysis] second_model` in vigil.toml).
    #[arg(long)]
    pub second_model: Option<String>,
    /// A fault for measuring the second opinion: the main detector also reports a CLASS object at
    /// X1,Y1,X2,Y2 (shares 0..1 of the frame) on every analysed frame, where there may be none.
    #[arg(long, value_name = "CLASS@X1,Y1,X2,Y2")]
    pub phantom: Option<super::analyze_rules::Phantom>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// `--gating` values.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum GatingArg {
    /// Motion-gated region detection.
    Motion,
    /// The detector on every analysed frame.
    EveryFrame,
}

impl From<GatingArg> for Gating {
    fn from(g: GatingArg) -> Self {
        match g {
            GatingArg::Motion => Gating::Motion,
            GatingArg::EveryFrame => Gating::EveryFrame,
        }
    }
}

#[derive(Serialize)]
struct TrackLine<'a> {
    id: u64,
    class: &'a str,
    score: f32,
    #[serde(rename = "box")]
    bbox: [f32; 4],
    #[serde(flatten)]
    identity: Option<IdentityFields>,
}

#[derive(Serialize)]
struct FrameLine<'a> {
    frame: u64,
    time: f64,
    tracks: Vec<TrackLine<'a>>,
}

/// Per-track tally for the summary.
struct TrackTally {
    class_votes: BTreeMap<u16, u32>,
}

/// Runs `vigil analyze`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let loaded = models::load(&args.model, args.models.clone())?;
    let pool = loaded.pool(
        models::tracking_detector_config(args.threads, args.device),
        1,
    )?;
    models::report_device(&pool);
    let spec = pool.spec().clone();

    let mut file = FileRun::open(&args.video, Some(args.detect_fps))
        .with_context(|| format!("opening {}", args.video.display()))?;
    let info = file.info().clone();
    let fps = file.analysis_fps(Some(args.detect_fps));
    let mut config = PipelineConfig {
        gating: args.gating.into(),
        analysis_fps: fps as f32,
        ..Default::default()
    };
    if let Some(classes) = &args.classes {
        config.classes = classes
            .iter()
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect();
    }
    let mut analyzer = Analyzer::new(config, pool.clone())?;
    let source = match (&args.rules, &args.config, &args.camera) {
        (Some(file), _, _) => Some(RulesSource::File(file)),
        (None, Some(config), Some(camera)) => Some(RulesSource::Camera(config, camera)),
        _ => None,
    };
    if source.is_none() && (args.events.is_some() || args.snapshots.is_some()) {
        anyhow::bail!(
            "--events and --snapshots need rules: give --rules FILE or --config vigil.toml --camera NAME"
        );
    }
    let mut rules = source
        .map(|src| {
            RulesRun::new(
                src,
                &spec,
                args.events.as_deref(),
                args.snapshots.as_deref(),
                args.models.clone(),
            )
        })
        .transpose()?;
    let mut second_pool = None;
    if let Some(name) = &args.second_model {
        let Some(r) = rules.take() else {
            anyhow::bail!(
                "--second-model needs rules: give --rules FILE or --config vigil.toml --camera NAME"
            );
        };
        let detector = vigil_vision::detector::DetectorConfig {
            threads: Some(1),
            device: args.device,
            ..Default::default()
        };
        let pool = models::load(name, args.models.clone())?.pool(detector, 1)?;
        let stage = vigil_pipeline::second_opinion::SecondOpinionStage::new(&pool, "file", fps);
        rules = Some(r.with_second(stage));
        second_pool = Some(pool);
    } else if rules.as_ref().is_some_and(RulesRun::wants_second_opinion) {
        eprintln!("vigil: rules with second_opinion run without one: give --second-model NAME");
    }
    let mut last_pts = vigil_core::Time90k(0);

    eprintln!(
        "analysing {} ({}x{} {} {:.1} fps{}) with {} ({}), {:.1} fps, {}",
        args.video.display(),
        info.width,
        info.height,
        info.codec,
        info.fps,
        info.frame_count
            .map(|n| format!(", {n} frames"))
            .unwrap_or_default(),
        spec.name,
        match args.gating {
            GatingArg::Motion => "motion-gated",
            GatingArg::EveryFrame => "every frame",
        },
        fps,
        loaded.model.path.display(),
    );

    let mut jsonl = args.out.as_ref().map(create).transpose()?;
    let mut mot = args.mot.as_ref().map(create).transpose()?;
    let mut writer = match &args.annotate {
        Some(p) => Some(
            VideoWriter::create(p, info.width, info.height, fps)
                .with_context(|| format!("creating {}", p.display()))?,
        ),
        None => None,
    };

    let progress = progress_bar(info.frame_count, args.quiet);
    let started = Instant::now();
    let cpu_start = process_cpu_time();
    let mut tracks: BTreeMap<u64, TrackTally> = BTreeMap::new();
    let mut detector_frames = 0u64;
    let mut regions = 0usize;

    let mut identity = if args.identity {
        Some(IdentityRun::load(args.models.clone())?)
    } else {
        None
    };
    let mut relink_converter = vigil_media::Converter::new();
    let mut relink = crate::stages::relinker(
        args.relink_seconds,
        "file",
        &spec.classes,
        &crate::stages::ModelPools::new(args.models.clone(), 1),
    );
    let mut health = args
        .health
        .as_deref()
        .map(super::analyze_health::HealthRun::create)
        .transpose()?;
    while let Some(frame) = file.next_frame() {
        if let Some(h) = health.as_mut() {
            h.update(&frame)?;
        }
        let want_bgr = writer.is_some()
            || identity.is_some()
            || rules.as_ref().is_some_and(RulesRun::wants_frames);
        let mut analysis = analyzer.process(&frame, want_bgr)?;
        if let Some(r) = relink.as_mut() {
            let now = (analysis.pts.as_secs_f64() * 1000.0).round() as i64;
            if r.wants_frame(now, &analysis.tracks, analysis.frame_size) {
                analysis.ensure_bgr(&frame, &mut relink_converter)?;
            }
            r.apply(now, analysis.bgr.as_ref(), &mut analysis.tracks)?;
        }
        if let Some(p) = &args.phantom {
            analysis
                .tracks
                .push(p.track(&spec.classes, analysis.frame_size)?);
        }
        let fields = match (identity.as_mut(), analysis.bgr.as_ref()) {
            (Some(id), Some(bgr)) => {
                id.update(analysis.pts.as_secs_f64(), bgr, &analysis.tracks, |c| {
                    spec.class_name(c).to_string()
                })?
            }
            _ => Default::default(),
        };
        if let Some(rules) = rules.as_mut() {
            if rules.crowd_due(analysis.pts) {
                analysis.ensure_bgr(&frame, &mut relink_converter)?;
                if let Some(bgr) = analysis.bgr.as_ref() {
                    rules.count_people(&mut analyzer, analysis.pts, analysis.frame_size, bgr)?;
                }
            }
            rules.update(
                analysis.pts,
                analysis.frame_size,
                &analysis.tracks,
                &analysis.motion_boxes,
                analysis.bgr.as_ref(),
                analysis.detected_frame(),
            )?;
        }
        last_pts = analysis.pts;
        file.stats.record_frame(&analysis.timings);
        if analysis.detector_ran {
            detector_frames += 1;
            regions += analysis.regions.len();
        }
        for t in &analysis.tracks {
            *tracks
                .entry(t.id)
                .or_insert_with(|| TrackTally {
                    class_votes: BTreeMap::new(),
                })
                .class_votes
                .entry(t.class_id)
                .or_default() += 1;
        }
        if let Some(out) = jsonl.as_mut() {
            write_jsonl(out, &analysis, &spec, fields)?;
        }
        if let Some(out) = mot.as_mut() {
            write_mot(out, &analysis.tracks, analysis.index)?;
        }
        if let Some(w) = writer.as_mut() {
            annotate(w, analysis, &spec)?;
        }
        progress.set_position(file.decoded());
    }
    progress.finish_and_clear();
    if let (Some(h), Some(path)) = (health, &args.health) {
        let n = h.finish()?;
        eprintln!("health: {n} event(s) written to {}", path.display());
    }

    for (out, path) in [(jsonl, &args.out), (mot, &args.mot)] {
        if let (Some(mut out), Some(path)) = (out, path) {
            out.flush()
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if let (Some(w), Some(path)) = (writer, &args.annotate) {
        let n = w
            .finish()
            .with_context(|| format!("finishing {}", path.display()))?;
        eprintln!("annotated video: {} ({n} frames)", path.display());
    }

    let wall = started.elapsed();
    let cpu = process_cpu_time().saturating_sub(cpu_start);
    print_summary(&file, &spec, &tracks, detector_frames, regions, wall, cpu);
    if let Some(rules) = rules {
        rules.finish(last_pts)?.print();
    }
    drop(second_pool);
    if let Some(e) = file.take_ended_early() {
        return Err(anyhow::Error::new(e).context(format!(
            "the video ended early; the {} frames analysed before that are in the results above",
            file.analysed()
        )));
    }
    Ok(())
}

fn create(path: &PathBuf) -> anyhow::Result<BufWriter<File>> {
    Ok(BufWriter::new(
        File::create(path).with_context(|| format!("creating {}", path.display()))?,
    ))
}

pub(crate) fn progress_bar(frames: Option<u64>, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = match frames {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} frames {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner(),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar
}

fn write_jsonl(
    out: &mut impl Write,
    a: &FrameAnalysis,
    spec: &ModelSpec,
    mut identity: std::collections::HashMap<u64, IdentityFields>,
) -> anyhow::Result<()> {
    let line = FrameLine {
        frame: a.index,
        time: a.pts.as_secs_f64(),
        tracks: a
            .tracks
            .iter()
            .map(|t| TrackLine {
                id: t.id,
                class: spec.class_name(t.class_id),
                score: t.score,
                bbox: [t.bbox.x1, t.bbox.y1, t.bbox.x2, t.bbox.y2],
                identity: identity.remove(&t.id),
            })
            .collect(),
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")?;
    Ok(())
}

fn write_mot(out: &mut impl Write, tracks: &[TrackedObject], index: u64) -> anyhow::Result<()> {
    for t in tracks {
        writeln!(
            out,
            "{},{},{:.2},{:.2},{:.2},{:.2},{:.3},-1,-1,-1",
            index + 1,
            t.id,
            t.bbox.x1,
            t.bbox.y1,
            t.bbox.width(),
            t.bbox.height(),
            t.score
        )?;
    }
    Ok(())
}

fn annotate(writer: &mut VideoWriter, a: FrameAnalysis, spec: &ModelSpec) -> anyhow::Result<()> {
    let Some(mut image) = a.bgr else {
        return Ok(());
    };
    for r in &a.regions {
        draw_rect(&mut image, r, [128, 128, 128], 1);
    }
    for t in &a.tracks {
        let label = format!("{} {} {:.2}", spec.class_name(t.class_id), t.id, t.score);
        draw_box_with_label(&mut image, &t.bbox, &label, color_for_id(t.id), 2);
    }
    writer.write(&image)?;
    Ok(())
}

fn print_summary(
    file: &FileRun,
    spec: &ModelSpec,
    tracks: &BTreeMap<u64, TrackTally>,
    detector_frames: u64,
    regions: usize,
    wall: std::time::Duration,
    cpu: std::time::Duration,
) {
    let mut by_class: BTreeMap<&str, u32> = BTreeMap::new();
    for tally in tracks.values() {
        if let Some((&class, _)) = tally.class_votes.iter().max_by_key(|(_, n)| **n) {
            *by_class.entry(spec.class_name(class)).or_default() += 1;
        }
    }
    let analysed = file.analysed();
    println!();
    println!(
        "frames: {} decoded, {} analysed, {} skipped by the analysis rate",
        file.decoded(),
        analysed,
        file.decoded() - analysed
    );
    println!(
        "detector: ran on {detector_frames} of {analysed} analysed frames ({} regions), skipped {} without motion or tracks",
        regions,
        analysed - detector_frames
    );
    let (concealed, corrupt) = file.damage();
    if concealed + corrupt > 0 {
        println!(
            "damage: {corrupt} corrupt packets, {concealed} frames decoded with concealed errors"
        );
    }
    if by_class.is_empty() {
        println!("objects: none");
    } else {
        let list: Vec<String> = by_class.iter().map(|(c, n)| format!("{n} {c}")).collect();
        println!("objects (tracks): {}", list.join(", "));
    }
    print_stage_table(&file.stats.summary());
    println!(
        "time: {:.1} s wall ({:.1} analysed frames/s), {:.1} CPU-s ({:.1} ms CPU per analysed frame)",
        wall.as_secs_f64(),
        analysed as f64 / wall.as_secs_f64().max(1e-9),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1000.0 / analysed.max(1) as f64
    );
}

/// Prints the per-stage table (runs, total, median, p99).
pub fn print_stage_table(stages: &[StageSummary]) {
    println!(
        "{:<12} {:>6} {:>10} {:>10} {:>10}",
        "stage", "runs", "total ms", "median ms", "p99 ms"
    );
    for s in stages {
        println!(
            "{:<12} {:>6} {:>10.1} {:>10.2} {:>10.2}",
            s.stage.name(),
            s.count,
            s.total_ms,
            s.median_ms,
            s.p99_ms
        );
    }
}
