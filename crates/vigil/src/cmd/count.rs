//! `vigil count VIDEO --out counts.csv [--zone x,y x,y ...]`: how many people are in view (or in a zone),
//! for crowds: the person detections on the whole frame and a grid of tiles sized to the scene
//! (`vigil_vision::count`), counted about once a second; `frame,count` for every decoded frame (the frames
//! between two counts carry the last one).

use crate::cmd::analyze::progress_bar;
use crate::models;
use anyhow::Context;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use vigil_core::Point;
use vigil_media::{Converter, FrameSampler, VideoSource};
use vigil_pipeline::stats::process_cpu_time;
use vigil_rules::Polygon;
use vigil_vision::count::{COUNT_SCORE, Grid, GridPolicy, MAX_TILES, PeopleCounter};
use vigil_vision::detector::{Detector, DetectorConfig};
use vigil_vision::model::DEFAULT_MODEL;

/// Arguments of `vigil count`.
#[derive(clap::Args)]
pub struct Args {
    /// Video file (H.264, H.265, MJPEG) or a URL FFmpeg can open.
    pub video: PathBuf,
    /// Where to write `frame,count` for every decoded frame (0-based decoded frame numbers).
    #[arg(long)]
    pub out: PathBuf,
    /// Count only people standing in this polygon: three or more `x,y` corners as shares of the width and
    /// height (0..1), e.g. `--zone 0,0.5 1,0.5 1,1 0,1` for the lower half. A person is in the zone when
    /// the middle of the bottom of their box (their feet) is.
    #[arg(long, num_args = 3.., value_name = "X,Y")]
    pub zone: Vec<String>,
    /// Seconds between two counts.
    #[arg(long, default_value_t = 1.0)]
    pub every: f64,
    /// Tiles: `auto` (chosen from the first frame by the size of the people in it), or `COLSxROWS` with
    /// `+full` to look at the whole frame too (e.g. `3x2+full`), or `1x1` for the whole frame only.
    #[arg(long, default_value = "auto")]
    pub grid: String,
    /// With `--grid auto`, the most tiles (each costs one model run, ~17 ms on one core).
    #[arg(long, default_value_t = MAX_TILES)]
    pub max_tiles: u32,
    /// Lowest person score counted.
    #[arg(long, default_value_t = COUNT_SCORE)]
    pub score: f32,
    /// Detector model (`yolox-nano`, `nanodet`, `person-192`).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// Inference threads (default 1: the budget of one camera).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Directory holding the model files (default: ../shared/models, then the download cache).
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// The zone of `--zone`, checked.
fn zone(points: &[String]) -> anyhow::Result<Option<Polygon>> {
    if points.is_empty() {
        return Ok(None);
    }
    let mut corners = Vec::new();
    for p in points {
        let (x, y) = p
            .split_once(',')
            .with_context(|| format!("--zone corner {p:?}: expected X,Y (shares of 0..1)"))?;
        let (x, y): (f32, f32) = (
            x.trim()
                .parse()
                .with_context(|| format!("--zone corner {p:?}: {x:?} is not a number"))?,
            y.trim()
                .parse()
                .with_context(|| format!("--zone corner {p:?}: {y:?} is not a number"))?,
        );
        if !(0.0..=1.0).contains(&x) || !(0.0..=1.0).contains(&y) {
            anyhow::bail!("--zone corner {p:?}: coordinates are shares of the picture, 0 to 1");
        }
        corners.push(Point::new(x, y));
    }
    Polygon::new(corners)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("--zone: {e}"))
}

/// Runs `vigil count`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let zone = zone(&args.zone)?;
    anyhow::ensure!(
        args.every > 0.0 && args.every.is_finite(),
        "--every must be a positive number of seconds"
    );
    let grid: Option<Grid> = match args.grid.as_str() {
        "auto" => None,
        g => Some(g.parse().map_err(anyhow::Error::msg)?),
    };
    let loaded = models::load(&args.model, args.models.clone())?;
    let config = DetectorConfig {
        threads: Some(args.threads.max(1)),
        score_threshold: args.score.min(COUNT_SCORE),
        max_detections: usize::MAX,
        ..DetectorConfig::default()
    };
    let detector = Detector::new(&loaded.runtime, &loaded.model, config)?;
    let policy = GridPolicy {
        max_tiles: args.max_tiles.max(1),
        ..GridPolicy::default()
    };
    let mut counter = PeopleCounter::new(detector, grid, args.score, policy)?;
    let mut source = VideoSource::open(&args.video)
        .with_context(|| format!("opening {}", args.video.display()))?;
    let info = source.info().clone();
    let out =
        File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = BufWriter::new(out);
    writeln!(out, "frame,count").with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "counting people in {} ({}x{} {:.1} fps) every {} s{}",
        args.video.display(),
        info.width,
        info.height,
        info.fps,
        args.every,
        if zone.is_some() { ", in the zone" } else { "" }
    );

    let progress = progress_bar(info.frame_count, args.quiet);
    let mut sampler = FrameSampler::new(1.0 / args.every);
    let mut converter = Converter::new();
    let mut last: Option<usize> = None;
    let (mut frames, mut counted, mut runs, mut sum, mut peak) = (0u64, 0u64, 0u64, 0u64, 0usize);
    let mut cpu = std::time::Duration::ZERO;
    let ended_early = loop {
        let frame = match source.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break None,
            Err(e) => break Some(e),
        };
        if sampler.accept(frame.pts()) || last.is_none() {
            let t = process_cpu_time();
            let image = frame
                .bgr(&mut converter, frame.width(), frame.height())
                .context("converting a frame")?;
            let c = counter.count(&image)?;
            cpu += process_cpu_time().saturating_sub(t);
            runs += u64::from(c.runs);
            let (w, h) = (image.width() as f32, image.height() as f32);
            let n = match &zone {
                Some(z) => c
                    .people
                    .iter()
                    .filter(|d| {
                        let f = d.bbox.bottom_center();
                        z.contains(Point::new(f.x / w, f.y / h))
                    })
                    .count(),
                None => c.people.len(),
            };
            last = Some(n);
            counted += 1;
            sum += n as u64;
            peak = peak.max(n);
        }
        writeln!(out, "{},{}", frames, last.unwrap_or(0))
            .with_context(|| format!("writing {}", args.out.display()))?;
        frames += 1;
        progress.inc(1);
    };
    progress.finish_and_clear();
    out.flush()
        .with_context(|| format!("writing {}", args.out.display()))?;
    if let Some(e) = ended_early {
        eprintln!("warning: the video ended early after {frames} frames: {e}");
    }
    anyhow::ensure!(
        frames > 0,
        "{}: no frame could be decoded",
        args.video.display()
    );
    let n = counted.max(1) as f64;
    eprintln!(
        "{frames} frames, {counted} counted (grid {}): {:.1} people on average, at most {peak}; \
         {:.1} model runs and {:.0} ms CPU per counted frame; wrote {}",
        counter
            .grid()
            .map_or_else(|| "-".to_string(), |g| g.to_string()),
        sum as f64 / n,
        runs as f64 / n,
        cpu.as_secs_f64() * 1000.0 / n,
        args.out.display()
    );
    Ok(())
}
