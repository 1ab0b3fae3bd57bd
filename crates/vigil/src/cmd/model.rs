//! `vigil model trial --candidate MODEL` and `vigil model use MODEL`: try a detector in shadow before
//! anyone switches to it, and switch (or back) with one command.
//!
//! A trial runs the current detector and the candidate over the same frames, at the analysis rate, on each
//! camera's recent recordings (`--config`, exported from the store) or on video files (`--video`), and
//! reports how far they agree: detections matched (same class, IoU >= 0.5), lost (only the current model
//! found them) and gained (only the candidate did), the events the camera's rules would have raised with
//! each, and each model's time per frame. Nothing running is touched.

use crate::cmd::anomaly::ModelArgs;
use crate::{models, report};
use anyhow::{Context, bail};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vigil_core::{Detection, Time90k};
use vigil_pipeline::stats::process_cpu_time;
use vigil_pipeline::{Analyzer, FileRun, Gating, PipelineConfig};
use vigil_rules::{FrameContext, RuleEngine, RulesConfig};
use vigil_vision::model::ModelSpec;

/// `vigil model` subcommands.
#[derive(clap::Subcommand)]
pub enum ModelCommand {
    /// Run a candidate detector in shadow beside the current one and report the differences.
    Trial(TrialArgs),
    /// Make a detector the one `vigil run` uses (`[analysis] model` in vigil.toml); restart to apply.
    Use(UseArgs),
}

/// Arguments of `vigil model trial`.
#[derive(clap::Args)]
pub struct TrialArgs {
    /// The detector to try (`yolox-nano`, `nanodet`, `person-192`).
    #[arg(long)]
    pub candidate: String,
    /// The installation whose cameras' recent recordings (and rules) to try it on.
    #[arg(long, required_unless_present = "video")]
    pub config: Option<PathBuf>,
    /// Only this camera (default: every recorded camera).
    #[arg(long, requires = "config")]
    pub camera: Option<String>,
    /// Minutes of recent recording per camera.
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
    /// Try it on these video files instead.
    #[arg(long, conflicts_with = "config")]
    pub video: Vec<PathBuf>,
    /// The current detector (default: `[analysis] model` of `--config`, else yolox-nano).
    #[arg(long)]
    pub current: Option<String>,
    /// Frames analysed per second (default: `[analysis] detect_fps`, else 5).
    #[arg(long)]
    pub detect_fps: Option<f64>,
    /// Detections scoring at least this are compared.
    #[arg(long, default_value_t = 0.3)]
    pub score: f32,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Arguments of `vigil model use`.
#[derive(clap::Args)]
pub struct UseArgs {
    /// The detector (`yolox-nano`, `nanodet`, `person-192`).
    pub model: String,
    /// The vigil.toml to change.
    #[arg(long)]
    pub config: PathBuf,
}

/// One source's comparison.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceReport {
    /// Camera or file.
    pub source: String,
    /// Frames compared.
    pub frames: usize,
    /// Detections both models found.
    pub matched: usize,
    /// Detections only the current model found.
    pub lost: usize,
    /// Detections only the candidate found.
    pub gained: usize,
    /// matched / (matched + lost + gained).
    pub agreement: f64,
    /// Per class: (matched, lost, gained).
    pub by_class: BTreeMap<String, [usize; 3]>,
    /// Event starts per rule with the current model and with the candidate (rules of `--config`).
    pub events: BTreeMap<String, [usize; 2]>,
    /// CPU per frame (ms): current, candidate.
    pub cpu_ms_per_frame: [f64; 2],
}

/// Runs a `vigil model` subcommand.
pub fn run(command: ModelCommand) -> anyhow::Result<()> {
    match command {
        ModelCommand::Trial(a) => trial(a),
        ModelCommand::Use(a) => use_model(a),
    }
}

/// What one model saw in a video: per analysed frame its detections and time, and the rules' events.
struct Seen {
    frames: Vec<Vec<(String, Detection)>>,
    events: BTreeMap<String, usize>,
    cpu_ms: f64,
}

fn analyse(
    video: &Path,
    model: &str,
    fps: f64,
    rules: Option<&RulesConfig>,
    args: &ModelArgs,
) -> anyhow::Result<Seen> {
    let loaded = models::load(model, args.models.clone())?;
    let pool = loaded.pool(
        models::tracking_detector_config(args.threads, Default::default()),
        1,
    )?;
    let spec = pool.spec().clone();
    let mut file =
        FileRun::open(video, Some(fps)).with_context(|| format!("opening {}", video.display()))?;
    let config = PipelineConfig {
        gating: Gating::EveryFrame,
        analysis_fps: file.analysis_fps(Some(fps)) as f32,
        ..PipelineConfig::default()
    };
    let mut analyzer = Analyzer::new(config, pool)?;
    let mut engine = rules
        .map(|r| RuleEngine::new("trial", r, &spec.classes))
        .transpose()
        .context("the camera's rules")?;
    let mut seen = Seen {
        frames: Vec::new(),
        events: BTreeMap::new(),
        cpu_ms: 0.0,
    };
    let cpu = process_cpu_time();
    while let Some(frame) = file.next_frame() {
        let a = analyzer.process(&frame, false)?;
        seen.frames.push(
            a.detections
                .iter()
                .map(|d| (spec.class_name(d.class_id).to_string(), *d))
                .collect(),
        );
        if let Some(engine) = engine.as_mut() {
            let ctx = FrameContext {
                time_unix_ms: (a.pts.as_secs_f64() * 1000.0) as i64,
                media_time: a.pts,
                frame_w: a.frame_size.0,
                frame_h: a.frame_size.1,
            };
            for e in engine.update(&ctx, &a.tracks) {
                if e.phase == vigil_core::EventPhase::Start {
                    *seen.events.entry(e.rule.clone()).or_insert(0) += 1;
                }
            }
        }
    }
    seen.cpu_ms = process_cpu_time().saturating_sub(cpu).as_secs_f64() * 1000.0
        / seen.frames.len().max(1) as f64;
    Ok(seen)
}

/// The two models' detections compared frame by frame: greedy matching by IoU within a class.
fn compare(source: &str, current: &Seen, candidate: &Seen, score: f32) -> SourceReport {
    let mut r = SourceReport {
        source: source.to_string(),
        frames: current.frames.len().min(candidate.frames.len()),
        cpu_ms_per_frame: [current.cpu_ms, candidate.cpu_ms],
        ..SourceReport::default()
    };
    for (a, b) in current.frames.iter().zip(&candidate.frames) {
        let a: Vec<&(String, Detection)> = a.iter().filter(|d| d.1.score >= score).collect();
        let b: Vec<&(String, Detection)> = b.iter().filter(|d| d.1.score >= score).collect();
        let mut used = vec![false; b.len()];
        for (class, d) in &a {
            let best = b
                .iter()
                .enumerate()
                .filter(|(j, (c, _))| !used[*j] && c == class)
                .map(|(j, (_, e))| (j, d.bbox.iou(&e.bbox)))
                .filter(|(_, iou)| *iou >= 0.5)
                .max_by(|x, y| x.1.total_cmp(&y.1));
            let slot = r.by_class.entry(class.clone()).or_insert([0; 3]);
            match best {
                Some((j, _)) => {
                    used[j] = true;
                    slot[0] += 1;
                    r.matched += 1;
                }
                None => {
                    slot[1] += 1;
                    r.lost += 1;
                }
            }
        }
        for (j, (class, _)) in b.iter().enumerate() {
            if !used[j] {
                r.by_class.entry(class.clone()).or_insert([0; 3])[2] += 1;
                r.gained += 1;
            }
        }
    }
    let total = r.matched + r.lost + r.gained;
    r.agreement = if total == 0 {
        1.0
    } else {
        r.matched as f64 / total as f64
    };
    let rules: std::collections::BTreeSet<&String> = current
        .events
        .keys()
        .chain(candidate.events.keys())
        .collect();
    for rule in rules {
        r.events.insert(
            rule.clone(),
            [
                current.events.get(rule).copied().unwrap_or(0),
                candidate.events.get(rule).copied().unwrap_or(0),
            ],
        );
    }
    r
}

fn trial(args: TrialArgs) -> anyhow::Result<()> {
    ModelSpec::builtin(&args.candidate)
        .with_context(|| format!("no detector named `{}`", args.candidate))?;
    let config = args
        .config
        .as_ref()
        .map(|c| crate::cmd::config::load_or_report(c))
        .transpose()?;
    let current = args
        .current
        .clone()
        .or_else(|| config.as_ref().map(|c| c.analysis.model.clone()))
        .unwrap_or_else(|| vigil_vision::model::DEFAULT_MODEL.to_string());
    let fps = args
        .detect_fps
        .or_else(|| config.as_ref().map(|c| c.analysis.detect_fps))
        .unwrap_or(5.0);
    let tmp = tempfile::tempdir().context("a temporary folder for the recordings")?;
    // (source name, video, rules)
    let mut sources: Vec<(String, PathBuf, Option<RulesConfig>)> = args
        .video
        .iter()
        .map(|v| (v.display().to_string(), v.clone(), None))
        .collect();
    if let (Some(config), Some(path)) = (&config, &args.config) {
        sources.extend(recent_recordings(config, path, &args, tmp.path())?);
    }
    if sources.is_empty() {
        bail!(
            "nothing to try the candidate on: no --video, and no camera recorded in the last {} minutes",
            args.minutes
        );
    }
    eprintln!(
        "trying {} beside {} at {fps} fps on {} source(s)",
        args.candidate,
        current,
        sources.len()
    );
    let mut reports = Vec::new();
    for (name, video, rules) in &sources {
        let a = analyse(video, &current, fps, rules.as_ref(), &args.model)?;
        let b = analyse(video, &args.candidate, fps, rules.as_ref(), &args.model)?;
        let r = compare(name, &a, &b, args.score);
        println!(
            "{}: {} frames; agreement {:.1}% ({} matched, {} lost, {} gained); CPU {:.1} / {:.1} ms per frame",
            r.source,
            r.frames,
            r.agreement * 100.0,
            r.matched,
            r.lost,
            r.gained,
            r.cpu_ms_per_frame[0],
            r.cpu_ms_per_frame[1]
        );
        for (class, [m, l, g]) in &r.by_class {
            println!("  {class}: {m} matched, {l} lost, {g} gained");
        }
        for (rule, [x, y]) in &r.events {
            let note = if x == y { "" } else { "  <- differs" };
            println!(
                "  rule {rule}: {x} events with {current}, {y} with {}{note}",
                args.candidate
            );
        }
        reports.push(r);
    }
    println!(
        "to switch: vigil model use {} --config vigil.toml (and back: vigil model use {current} --config vigil.toml)",
        args.candidate
    );
    #[derive(Serialize)]
    struct Summary<'a> {
        command: &'static str,
        current: &'a str,
        candidate: &'a str,
        sources: &'a [SourceReport],
    }
    report::print_json_summary(&Summary {
        command: "model trial",
        current: &current,
        candidate: &args.candidate,
        sources: &reports,
    })
}

/// The last `--minutes` of each recorded camera (or `--camera`), exported to MP4 files in `dir`, with
/// the camera's rules.
fn recent_recordings(
    config: &vigil_config::VigilConfig,
    path: &Path,
    args: &TrialArgs,
    dir: &Path,
) -> anyhow::Result<Vec<(String, PathBuf, Option<RulesConfig>)>> {
    let Some(store) = config.store_config() else {
        bail!(
            "{}: no camera records, so no recordings to try on",
            path.display()
        );
    };
    let db = store.db;
    let mut reader = vigil_store::Reader::open(&db).with_context(|| {
        format!(
            "opening the recordings index {} ({})",
            db.display(),
            path.display()
        )
    })?;
    if config.data_dir.join("keys").exists() {
        let keys = crate::cmd::keys::open_key_store(config)?;
        reader = reader.with_keys(std::sync::Arc::new(keys));
    }
    let now = Time90k(vigil_core::time::now_unix_ms() * 90);
    let from = Time90k(now.0 - (args.minutes * 60.0 * 90_000.0) as i64);
    let mut out = Vec::new();
    for camera in config.cameras.iter().filter(|c| c.enabled) {
        if args.camera.as_ref().is_some_and(|c| *c != camera.name) {
            continue;
        }
        let export = match reader.export(&camera.name, "main", from, now) {
            Ok(e) if e.frames > 0 => e,
            Ok(_) | Err(_) => {
                eprintln!(
                    "{}: nothing recorded in the last {} minutes",
                    camera.name, args.minutes
                );
                continue;
            }
        };
        let file = dir.join(format!("camera-{}.mp4", out.len()));
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(&file).with_context(|| format!("creating {}", file.display()))?,
        );
        export.file.write_all(&mut w, &mut |_| {})?;
        std::io::Write::flush(&mut w).with_context(|| format!("writing {}", file.display()))?;
        out.push((
            camera.name.clone(),
            file,
            Some(config.rules_for(&camera.name)),
        ));
    }
    if let Some(c) = &args.camera
        && out.is_empty()
    {
        bail!(
            "camera {c}: nothing recorded in the last {} minutes",
            args.minutes
        );
    }
    Ok(out)
}

/// Sets `[analysis] model` in the file: the `model = ...` line of the `[analysis]` table, added when
/// missing, the table added when missing; the rest of the file as it was.
fn use_model(args: UseArgs) -> anyhow::Result<()> {
    ModelSpec::builtin(&args.model)
        .with_context(|| format!("no detector named `{}`", args.model))?;
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let updated = set_analysis_model(&text, &args.model);
    // The result must still be a valid configuration.
    vigil_config::VigilConfig::parse(&updated, &args.config.display().to_string())
        .map_err(|e| anyhow::anyhow!("the change would break the configuration: {e}"))?;
    let tmp = args.config.with_extension("toml.new");
    std::fs::write(&tmp, &updated).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &args.config)
        .with_context(|| format!("replacing {}", args.config.display()))?;
    println!(
        "{}: [analysis] model = \"{}\"; restart vigil run to use it",
        args.config.display(),
        args.model
    );
    Ok(())
}

/// `text` with `[analysis] model` set to `model`.
fn set_analysis_model(text: &str, model: &str) -> String {
    let line = format!("model = \"{model}\"");
    let mut out = Vec::new();
    let (mut in_analysis, mut done, mut seen_table) = (false, false, false);
    for l in text.lines() {
        let t = l.trim();
        if t.starts_with('[') {
            if in_analysis && !done {
                out.push(line.clone());
                done = true;
            }
            in_analysis = t == "[analysis]";
            seen_table |= in_analysis;
        } else if in_analysis && !done && t.split('=').next().is_some_and(|k| k.trim() == "model") {
            let comment = l
                .find('#')
                .map(|i| format!("  {}", &l[i..]))
                .unwrap_or_default();
            out.push(format!("{line}{comment}"));
            done = true;
            continue;
        }
        out.push(l.to_string());
    }
    if in_analysis && !done {
        out.push(line.clone());
        done = true;
    }
    if !seen_table && !done {
        out.push(String::new());
        out.push("[analysis]".into());
        out.push(line);
    }
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::set_analysis_model;

    #[test]
    fn the_model_line_is_set_where_it_belongs() {
        let t = "data_dir = \"/d\"\n[analysis]\ndetect_fps = 5\nmodel = \"yolox-nano\" # default\n[storage]\nmodel = \"x\"\n";
        let u = set_analysis_model(t, "nanodet");
        assert!(
            u.contains("model = \"nanodet\"  # default\n[storage]\nmodel = \"x\""),
            "{u}"
        );
        let u = set_analysis_model("[analysis]\ndetect_fps = 5\n[mqtt]\n", "nanodet");
        assert_eq!(
            u,
            "[analysis]\ndetect_fps = 5\nmodel = \"nanodet\"\n[mqtt]\n"
        );
        let u = set_analysis_model("data_dir = \"/d\"\n", "nanodet");
        assert!(u.ends_with("[analysis]\nmodel = \"nanodet\"\n"), "{u}");
    }
}
