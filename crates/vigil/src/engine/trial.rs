//! Live model trials in `vigil run`: `vigil model trial --live` leaves a request in
//! `data_dir/model-trial/request.json`; the running system takes it (checked every 2 s), runs the
//! candidate detector beside the current one on each asked camera's analysed frames for the minutes
//! asked, on threads of the lowest CPU priority that take a frame only when free (the cameras' analysis
//! never waits for them: `vigil_pipeline::trial`), and writes `report.json` beside it.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing::{info, warn};
use vigil_pipeline::trial::{ShadowSlot, SourceReport, lower_priority, run_live};
use vigil_rules::RulesConfig;

/// The folder of `data_dir` where requests and reports are left.
pub fn folder(data_dir: &Path) -> PathBuf {
    data_dir.join("model-trial")
}

/// A request for a live trial.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialRequest {
    /// The detector to try.
    pub candidate: String,
    /// Only this camera (default: every analysed camera).
    pub camera: Option<String>,
    /// Minutes of live frames.
    pub minutes: f64,
    /// Detections scoring at least this are compared.
    pub score: f32,
}

/// A live trial's report (`report.json`): the same figures as a trial on recordings.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TrialReport {
    /// The current detector.
    pub current: String,
    /// The candidate.
    pub candidate: String,
    /// Per camera, its comparison.
    pub sources: Vec<SourceReport>,
    /// Why it could not run, when it could not.
    pub error: Option<String>,
}

/// What a live trial needs from the running system.
#[derive(Clone)]
pub struct TrialContext {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The models directory (`None`: the default).
    pub models_dir: Option<PathBuf>,
    /// The current detector (`[analysis] model`).
    pub current: String,
    /// The analysis rate.
    pub fps: f32,
    /// Each analysed camera's hand-off and rules.
    pub cameras: BTreeMap<String, (ShadowSlot, RulesConfig)>,
}

/// Checks for a request every 2 s, forever (a task of the engine's runtime, ended with it).
pub async fn watch(ctx: TrialContext) {
    let dir = folder(&ctx.data_dir);
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tick.tick().await;
        let request = dir.join("request.json");
        let Ok(text) = std::fs::read_to_string(&request) else {
            continue;
        };
        if let Err(e) = std::fs::remove_file(&request) {
            warn!("model trial request not taken: {e}");
            continue;
        }
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("model-trial".into())
            .spawn(move || {
                let report = match serde_json::from_str::<TrialRequest>(&text) {
                    Ok(r) => run(&ctx, &r),
                    Err(e) => TrialReport {
                        error: Some(format!("a request that is not understood: {e}")),
                        ..TrialReport::default()
                    },
                };
                if let Err(e) = write_report(&folder(&ctx.data_dir), &report) {
                    warn!("model trial report not written: {e:#}");
                }
            });
        if let Err(e) = spawned {
            warn!("model trial not started: {e}");
        }
    }
}

fn write_report(dir: &Path, report: &TrialReport) -> anyhow::Result<()> {
    let tmp = dir.join("report.json.new");
    let text = serde_json::to_vec_pretty(report)?;
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join("report.json")).context("replacing report.json")?;
    Ok(())
}

/// Runs a request: one low-priority thread per camera, each with its own pair of single-threaded
/// detectors (made on that thread, so their inference threads inherit its priority).
fn run(ctx: &TrialContext, request: &TrialRequest) -> TrialReport {
    let mut report = TrialReport {
        current: ctx.current.clone(),
        candidate: request.candidate.clone(),
        ..TrialReport::default()
    };
    let cameras: Vec<(String, ShadowSlot, RulesConfig)> = ctx
        .cameras
        .iter()
        .filter(|(name, _)| request.camera.as_ref().is_none_or(|c| c == *name))
        .map(|(name, (slot, rules))| (name.clone(), slot.clone(), rules.clone()))
        .collect();
    if cameras.is_empty() {
        report.error = Some(match &request.camera {
            Some(c) => format!("camera {c} is not analysed here"),
            None => "no camera is analysed here".into(),
        });
        return report;
    }
    if cameras.iter().any(|(_, slot, _)| slot.is_attached()) {
        report.error = Some("a trial is already running".into());
        return report;
    }
    info!(
        candidate = %request.candidate,
        cameras = cameras.len(),
        minutes = request.minutes,
        "live model trial started"
    );
    let duration = Duration::from_secs_f64(request.minutes.max(0.0) * 60.0);
    let threads: Vec<_> = cameras
        .into_iter()
        .map(|(name, slot, rules)| {
            let (ctx, request) = (ctx.clone(), request.clone());
            std::thread::Builder::new()
                .name(format!("trial-{name}"))
                .spawn(move || -> anyhow::Result<SourceReport> {
                    lower_priority();
                    let pool = |model: &str| {
                        crate::models::load(model, ctx.models_dir.clone())?.pool(
                            crate::models::tracking_detector_config(Some(1), Default::default()),
                            1,
                        )
                    };
                    let sides = (pool(&ctx.current)?, pool(&request.candidate)?);
                    Ok(run_live(
                        &name,
                        &slot,
                        sides,
                        ctx.fps,
                        Some(&rules),
                        duration,
                        request.score,
                    )?)
                })
        })
        .collect();
    for t in threads {
        let outcome = match t {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the trial thread panicked"))),
            Err(e) => Err(anyhow::anyhow!("no trial thread: {e}")),
        };
        match outcome {
            Ok(r) => report.sources.push(r),
            Err(e) => report.error = Some(format!("{e:#}")),
        }
    }
    info!(candidate = %request.candidate, "live model trial done");
    report
}
