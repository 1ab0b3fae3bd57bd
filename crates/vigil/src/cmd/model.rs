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
use std::path::{Path, PathBuf};
use vigil_core::Time90k;
use vigil_pipeline::FileRun;
use vigil_pipeline::stats::process_cpu_time;
use vigil_pipeline::trial::{Seen, SourceReport, TrialSide, compare};
use vigil_rules::RulesConfig;
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
    /// Try it live instead: on the frames the running `vigil run` of `--config` analyses, for
    /// `--minutes`, at low priority (frames are skipped, never waited for, while the trial is busy).
    #[arg(long, requires = "config")]
    pub live: bool,
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

/// Runs a `vigil model` subcommand.
pub fn run(command: ModelCommand) -> anyhow::Result<()> {
    match command {
        ModelCommand::Trial(a) => trial(a),
        ModelCommand::Use(a) => use_model(a),
    }
}

/// What `model` sees in `video` at `fps`, with the camera's `rules`; its time per frame the process's
/// CPU.
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
    let mut file =
        FileRun::open(video, Some(fps)).with_context(|| format!("opening {}", video.display()))?;
    let mut side = TrialSide::new(pool, file.analysis_fps(Some(fps)) as f32, rules)?;
    let cpu = process_cpu_time();
    let mut frames = 0usize;
    while let Some(frame) = file.next_frame() {
        side.frame(&frame, 0)?;
        frames += 1;
    }
    let mut seen = side.finish();
    seen.cpu_ms =
        process_cpu_time().saturating_sub(cpu).as_secs_f64() * 1000.0 / frames.max(1) as f64;
    Ok(seen)
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
    if args.live
        && let Some(config) = &config
    {
        let reports = live_trial(&args, config)?;
        return print_reports(&args, &current, &reports, "time");
    }
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
        reports.push(compare(name, &a, &b, args.score));
    }
    print_reports(&args, &current, &reports, "CPU")
}

/// Prints each source's comparison, how to switch, and the JSON summary; `time` names what the time
/// per frame is (`CPU`, or wall `time` on a live trial).
fn print_reports(
    args: &TrialArgs,
    current: &str,
    reports: &[SourceReport],
    time: &str,
) -> anyhow::Result<()> {
    for r in reports {
        let skipped = if r.skipped > 0 {
            format!(" ({} skipped while busy)", r.skipped)
        } else {
            String::new()
        };
        println!(
            "{}: {} frames{skipped}; agreement {:.1}% ({} matched, {} lost, {} gained); {time} {:.1} / {:.1} ms per frame",
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
    }
    println!(
        "to switch: vigil model use {} --config vigil.toml (and back: vigil model use {current} --config vigil.toml)",
        args.candidate
    );
    #[derive(Serialize)]
    struct Summary<'a> {
        command: &'static str,
        live: bool,
        current: &'a str,
        candidate: &'a str,
        sources: &'a [SourceReport],
    }
    report::print_json_summary(&Summary {
        command: "model trial",
        live: args.live,
        current,
        candidate: &args.candidate,
        sources: reports,
    })
}

/// Asks the running `vigil run` of `config` for a live trial (a request file in its data directory)
/// and waits for its report.
fn live_trial(
    args: &TrialArgs,
    config: &vigil_config::VigilConfig,
) -> anyhow::Result<Vec<SourceReport>> {
    use crate::engine::trial::{TrialReport, TrialRequest, folder};
    use std::time::{Duration, Instant};
    let dir = folder(&config.data_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (request, report) = (dir.join("request.json"), dir.join("report.json"));
    match std::fs::remove_file(&report) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing the old {}", report.display()));
        }
        _ => {}
    }
    let asked = TrialRequest {
        candidate: args.candidate.clone(),
        camera: args.camera.clone(),
        minutes: args.minutes,
        score: args.score,
    };
    let tmp = dir.join("request.json.new");
    std::fs::write(&tmp, serde_json::to_vec(&asked)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &request).with_context(|| format!("writing {}", request.display()))?;
    eprintln!(
        "asked the running vigil for {} minute(s) of live frames{}",
        args.minutes,
        args.camera
            .as_ref()
            .map_or(String::new(), |c| format!(" of {c}"))
    );
    let started = Instant::now();
    let limit = Duration::from_secs_f64(args.minutes.max(0.0) * 60.0) + Duration::from_secs(180);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        if request.exists() && started.elapsed() > Duration::from_secs(20) {
            // Nobody took it: take it back, so that a later start does not run a stale request.
            let _ = std::fs::remove_file(&request);
            bail!(
                "vigil run did not take the request within 20 s: is it running with {} as its data \
                 directory, with a camera analysed?",
                config.data_dir.display()
            );
        }
        if let Ok(text) = std::fs::read_to_string(&report) {
            let got: TrialReport = serde_json::from_str(&text)
                .with_context(|| format!("reading {}", report.display()))?;
            if let Some(e) = got.error {
                bail!("the live trial failed: {e}");
            }
            return Ok(got.sources);
        }
        if started.elapsed() > limit {
            bail!("no report in {} s: see vigil run's log", limit.as_secs());
        }
    }
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
