//! `vigil eval colours`: how well the tracks' colour attributes match colours labelled by hand on the
//! shared footage (`crates/vigil-eval/data/colour_labels.toml`, built in; how the labels were made is
//! written there and in `docs/attributes.md`).
//!
//! Each labelled clip is analysed as `vigil run` analyses a camera (the real detector and tracker,
//! motion-gated, at `--detect-fps`), with the same attribute stage; a label is matched to the track whose
//! box holds its point in the analysed frame nearest its time, and that track's final colours are scored
//! per part: correct (strict: the label's colour; lenient: or one of its `*_also`), wrong, or not named
//! (`None`: no clear colour, no good view, or no track at all). No threshold of the colour namer was
//! chosen on these labels, so there is no leave-one-clip-out figure to give: in-sample is out-of-sample.
//! Prints a table, a confusion summary and the attribute stage's cost per analysed frame, then one JSON
//! line.

use crate::{models, paths, report};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use vigil_core::{Colour, TrackId};
use vigil_pipeline::attributes::AttributeStage;
use vigil_pipeline::{Analyzer, FileRun, PipelineConfig};
use vigil_rules::FrameContext;
use vigil_vision::model::DEFAULT_MODEL;

/// The built-in labels.
pub const LABELS: &str = include_str!("../../../../vigil-eval/data/colour_labels.toml");

/// Arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Labels file (default: the built-in `crates/vigil-eval/data/colour_labels.toml`).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Folder the labels' clip paths are relative to (default: the shared footage).
    #[arg(long)]
    footage: Option<PathBuf>,
    /// Detector model.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    /// Directory holding the model files (default: ../shared/models, then the download cache).
    #[arg(long)]
    models: Option<PathBuf>,
    /// Frames analysed per second.
    #[arg(long, default_value_t = 5.0)]
    detect_fps: f64,
}

/// The labels file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Labels {
    /// Labelled objects.
    pub object: Vec<Label>,
}

/// One object labelled by hand.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// Clip, relative to the footage folder.
    pub clip: String,
    /// Seconds from the clip's start.
    pub time: f64,
    /// A point on the object then (fractions of width, height).
    pub at: [f32; 2],
    /// People: upper body colour.
    pub upper: Option<Colour>,
    /// Also fair for the upper body.
    #[serde(default)]
    pub upper_also: Vec<Colour>,
    /// People: lower body colour.
    pub lower: Option<Colour>,
    /// Also fair for the lower body.
    #[serde(default)]
    pub lower_also: Vec<Colour>,
    /// Vehicles: body colour.
    pub colour: Option<Colour>,
    /// Also fair for the body.
    #[serde(default)]
    pub colour_also: Vec<Colour>,
    /// What the labeller saw.
    #[serde(default)]
    pub note: String,
}

impl Labels {
    /// Reads labels, checking that each labels at least one part.
    pub fn parse(text: &str, name: &str) -> anyhow::Result<Labels> {
        let labels: Labels = toml::from_str(text).with_context(|| format!("parsing {name}"))?;
        for (i, l) in labels.object.iter().enumerate() {
            if l.upper.is_none() && l.lower.is_none() && l.colour.is_none() {
                anyhow::bail!("{name}: object {} ({}) labels no colour", i + 1, l.clip);
            }
        }
        Ok(labels)
    }
}

/// Score of one part.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PartScore {
    /// Labelled.
    pub labelled: u32,
    /// Named by the analysis.
    pub named: u32,
    /// Named as the label's colour.
    pub strict: u32,
    /// Named as the label's colour or one of its `*_also`.
    pub lenient: u32,
}

impl PartScore {
    fn pct(n: u32, d: u32) -> f64 {
        if d == 0 {
            0.0
        } else {
            100.0 * f64::from(n) / f64::from(d)
        }
    }
}

/// What one labelled object got.
#[derive(Debug, Serialize)]
struct ObjectResult {
    clip: String,
    time: f64,
    track: Option<TrackId>,
    part: &'static str,
    label: Colour,
    got: Option<Colour>,
    correct: bool,
    note: String,
}

#[derive(Serialize)]
struct Summary {
    eval: &'static str,
    detect_fps: f64,
    parts: BTreeMap<&'static str, PartScore>,
    objects: Vec<ObjectResult>,
    attribute_us_per_frame: f64,
    frames: u64,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let labels = match &args.labels {
        Some(p) => Labels::parse(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            &p.display().to_string(),
        )?,
        None => Labels::parse(LABELS, "the built-in colour labels")?,
    };
    let footage = args.footage.clone().unwrap_or_else(paths::footage_dir);
    let mut clips: BTreeMap<&str, Vec<&Label>> = BTreeMap::new();
    for l in &labels.object {
        clips.entry(l.clip.as_str()).or_default().push(l);
    }
    for clip in clips.keys() {
        let path = footage.join(clip);
        anyhow::ensure!(path.is_file(), "no clip {} (labelled)", path.display());
    }
    let loaded = models::load(&args.model, args.models.clone())?;
    let pool = loaded.pool(
        models::tracking_detector_config(None, Default::default()),
        1,
    )?;
    let classes = pool.spec().classes.clone();
    let mut results = Vec::new();
    let (mut spent, mut frames) = (0.0f64, 0u64);
    for (clip, labels) in &clips {
        let path = footage.join(clip);
        let mut file = FileRun::open(&path, Some(args.detect_fps))
            .with_context(|| format!("opening {}", path.display()))?;
        let config = PipelineConfig {
            analysis_fps: file.analysis_fps(Some(args.detect_fps)) as f32,
            ..Default::default()
        };
        let mut analyzer = Analyzer::new(config, pool.clone())?;
        let mut stage = AttributeStage::new(&classes);
        // Per label: (distance in seconds, the track chosen then).
        let mut chosen: Vec<(f64, Option<TrackId>)> = vec![(f64::INFINITY, None); labels.len()];
        while let Some(frame) = file.next_frame() {
            let analysis = analyzer.process(&frame, false)?;
            let t = analysis.pts.as_secs_f64();
            let (w, h) = analysis.frame_size;
            let ctx = FrameContext {
                time_unix_ms: (t * 1000.0).round() as i64,
                media_time: analysis.pts,
                frame_w: w,
                frame_h: h,
            };
            stage.observe(&ctx, &analysis.tracks, analysis.detected_frame(), Vec::new);
            for (l, c) in labels.iter().zip(chosen.iter_mut()) {
                let dt = (t - l.time).abs();
                if dt < c.0 {
                    let (px, py) = (l.at[0] * w as f32, l.at[1] * h as f32);
                    let track = analysis
                        .tracks
                        .iter()
                        .filter(|tr| {
                            let b = &tr.bbox;
                            (b.x1..=b.x2).contains(&px) && (b.y1..=b.y2).contains(&py)
                        })
                        .min_by(|a, b| {
                            centre_distance(a, px, py).total_cmp(&centre_distance(b, px, py))
                        })
                        .map(|tr| tr.id);
                    *c = (dt, track);
                }
            }
        }
        let (mean, n) = stage.cost();
        spent += mean.as_secs_f64() * n as f64;
        frames += n;
        stage.flush();
        for (l, (_, track)) in labels.iter().zip(&chosen) {
            let got = track.and_then(|id| stage.of(id)).unwrap_or_default();
            for (part, label, also, named) in [
                ("upper", l.upper, &l.upper_also, got.upper_colour),
                ("lower", l.lower, &l.lower_also, got.lower_colour),
                ("body", l.colour, &l.colour_also, got.colour),
            ] {
                if let Some(label) = label {
                    results.push((
                        ObjectResult {
                            clip: clip.to_string(),
                            time: l.time,
                            track: *track,
                            part,
                            label,
                            got: named,
                            correct: named == Some(label),
                            note: l.note.clone(),
                        },
                        named.is_some_and(|n| also.contains(&n)),
                    ));
                }
            }
        }
    }
    print_report(results, spent, frames, args.detect_fps)
}

fn centre_distance(t: &vigil_core::TrackedObject, x: f32, y: f32) -> f32 {
    let b = &t.bbox;
    ((b.x1 + b.x2) / 2.0 - x).hypot((b.y1 + b.y2) / 2.0 - y)
}

fn print_report(
    results: Vec<(ObjectResult, bool)>,
    spent_s: f64,
    frames: u64,
    detect_fps: f64,
) -> anyhow::Result<()> {
    println!(
        "{:<40} {:>6} {:>6} {:<6} {:<8} {:<8}",
        "clip", "time", "track", "part", "label", "named"
    );
    let mut parts: BTreeMap<&'static str, PartScore> = BTreeMap::new();
    let mut confusion: BTreeMap<(Colour, String), u32> = BTreeMap::new();
    let mut objects = Vec::new();
    for (r, also) in results {
        let named = r.got.map_or("-".to_string(), |c| c.to_string());
        println!(
            "{:<40} {:>6.1} {:>6} {:<6} {:<8} {:<8} {}",
            r.clip,
            r.time,
            r.track.map_or("-".into(), |t| t.to_string()),
            r.part,
            r.label.name(),
            named,
            if r.correct {
                "ok"
            } else if also {
                "ok (also fair)"
            } else {
                ""
            }
        );
        let s = parts.entry(r.part).or_default();
        s.labelled += 1;
        s.named += u32::from(r.got.is_some());
        s.strict += u32::from(r.correct);
        s.lenient += u32::from(r.correct || also);
        if !r.correct && !also {
            *confusion.entry((r.label, named)).or_default() += 1;
        }
        objects.push(r);
    }
    println!();
    println!(
        "{:<6} {:>8} {:>8} {:>10} {:>11} {:>20}",
        "part", "labelled", "named", "strict %", "lenient %", "lenient % of named"
    );
    for (part, s) in &parts {
        println!(
            "{:<6} {:>8} {:>8} {:>10.0} {:>11.0} {:>20.0}",
            part,
            s.labelled,
            s.named,
            PartScore::pct(s.strict, s.labelled),
            PartScore::pct(s.lenient, s.labelled),
            PartScore::pct(s.lenient, s.named)
        );
    }
    if !confusion.is_empty() {
        println!("\nmistakes (label -> named, `-`: not named):");
        for ((label, named), n) in &confusion {
            println!("  {label} -> {named}: {n}");
        }
    }
    let us = if frames == 0 {
        0.0
    } else {
        spent_s * 1e6 / frames as f64
    };
    println!("\nattributes: {us:.1} µs per analysed frame on average ({frames} frames)");
    println!(
        "no threshold was chosen on these labels: the figures above are out-of-sample (leave-one-clip-out = in-sample)"
    );
    report::print_json_summary(&Summary {
        eval: "colours",
        detect_fps,
        parts,
        objects,
        attribute_us_per_frame: us,
        frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_labels_read_and_bad_labels_are_refused() {
        let labels = Labels::parse(LABELS, "built-in").unwrap();
        assert!(labels.object.len() >= 10);
        assert!(
            Labels::parse(
                "[[object]]\nclip = \"a.mp4\"\ntime = 1.0\nat = [0.5, 0.5]\n",
                "x"
            )
            .unwrap_err()
            .to_string()
            .contains("labels no colour")
        );
        assert!(
            Labels::parse(
                "[[object]]\nclip = \"a.mp4\"\ntime = 1.0\nat = [0.5, 0.5]\nupper = \"plaid\"\n",
                "x"
            )
            .is_err()
        );
    }
}
