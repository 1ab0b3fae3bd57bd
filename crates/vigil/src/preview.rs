//! Rule previews: a camera's rules (a draft from the Settings page, or the saved file) run over the last
//! minutes of its recording with the same detector and tracker as live, answering "this line would have
//! counted 4 in, 1 out; 'Dock at night' would have raised 2 events". The recording is exported from the
//! store (no re-encoding) into a temporary file and analysed at the configured rate on the shared
//! detector pool, where it takes a camera's share while it runs.

use anyhow::Context;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use vigil_core::{EventPhase, Time90k};
use vigil_pipeline::{Analyzer, DetectorPool, FileRun, PipelineConfig};
use vigil_rules::{FrameContext, RuleEngine, RulesConfig};
use vigil_server::config_edit::{PreviewLine, PreviewReport, PreviewRule};
use vigil_store::Store;

/// What a preview runs with.
#[derive(Clone)]
pub struct Previewer {
    /// The recordings.
    pub store: Arc<Store>,
    /// The shared detectors (`None`: analysis is off, nothing to preview with).
    pub pool: Option<Arc<DetectorPool>>,
    /// Analysed frames per second (`[analysis] detect_fps`).
    pub fps: f64,
    /// Temporary files go here.
    pub tmp: PathBuf,
}

impl Previewer {
    /// Runs `rules` of `camera` over its last `minutes` of recording.
    pub fn run(
        &self,
        camera: &str,
        rules: &RulesConfig,
        minutes: f64,
        progress: &(dyn Fn(f64) + Sync),
    ) -> anyhow::Result<PreviewReport> {
        let Some(pool) = self.pool.clone() else {
            anyhow::bail!(
                "analysis is switched off ([analysis] enabled = false): nothing to preview with"
            );
        };
        let now_ms = vigil_core::time::now_unix_ms();
        let from_ms = now_ms - (minutes * 60_000.0) as i64;
        let export = self
            .store
            .reader()?
            .export(camera, "main", Time90k(from_ms * 90), Time90k(now_ms * 90))
            .with_context(|| format!("{camera}: nothing recorded in the last {minutes} minutes"))?;
        let start_ms = export.start.0 / 90;
        let span = export.duration.as_secs_f64().max(0.001);
        std::fs::create_dir_all(&self.tmp)?;
        let file = tempfile::Builder::new()
            .prefix("preview-")
            .suffix(".mp4")
            .tempfile_in(&self.tmp)?;
        {
            let mut out = std::io::BufWriter::new(file.as_file());
            export.file.write_all(&mut out, &mut |_| {})?;
            std::io::Write::flush(&mut out)?;
        }
        let classes = pool.spec().classes.clone();
        let mut engine = RuleEngine::new(camera, rules, &classes).context("the rules")?;
        let mut run = FileRun::open(file.path(), Some(self.fps))?;
        let config = PipelineConfig {
            analysis_fps: run.analysis_fps(Some(self.fps)) as f32,
            ..PipelineConfig::default()
        };
        let mut analyzer = Analyzer::new(config, pool)?;
        let mut events: BTreeMap<String, (u64, Option<i64>, Option<i64>)> = BTreeMap::new();
        let mut frames = 0u64;
        let mut first_pts = None;
        while let Some(frame) = run.next_frame() {
            let a = analyzer.process(&frame, false)?;
            let t0 = *first_pts.get_or_insert(a.pts.0);
            let at_ms = start_ms + (a.pts.0 - t0) / 90;
            let ctx = FrameContext {
                time_unix_ms: at_ms,
                media_time: a.pts,
                frame_w: a.frame_size.0,
                frame_h: a.frame_size.1,
            };
            for e in engine.update(&ctx, &a.tracks) {
                if e.phase == EventPhase::Start {
                    let entry = events.entry(e.rule.clone()).or_insert((0, None, None));
                    entry.0 += 1;
                    entry.1.get_or_insert(e.start.unix_ms);
                    entry.2 = Some(e.start.unix_ms);
                }
            }
            frames += 1;
            if frames.is_multiple_of(10) {
                progress((((a.pts.0 - t0) as f64 / 90_000.0) / span).clamp(0.0, 0.99));
            }
        }
        progress(1.0);
        let lines: Vec<PreviewLine> = engine
            .counters()
            .iter()
            .map(|c| {
                let (a_to_b, b_to_a) = (c.total.a_to_b, c.total.b_to_a);
                let (i, o) = match c.inbound_direction {
                    vigil_core::CrossingDirection::AToB => (a_to_b, b_to_a),
                    vigil_core::CrossingDirection::BToA => (b_to_a, a_to_b),
                };
                PreviewLine {
                    name: c.line.clone(),
                    r#in: i,
                    out: o,
                }
            })
            .collect();
        let rules_out: Vec<PreviewRule> = rules
            .rule
            .iter()
            .filter(|r| r.enabled)
            .map(|r| {
                let (n, first, last) = events.get(&r.name).copied().unwrap_or((0, None, None));
                PreviewRule {
                    name: r.name.clone(),
                    kind: r.kind.map(|k| k.name().to_string()).unwrap_or_default(),
                    events: n,
                    first_ms: first,
                    last_ms: last,
                }
            })
            .collect();
        let mut words: Vec<String> = lines
            .iter()
            .map(|l| format!("{} would have counted {} in, {} out", l.name, l.r#in, l.out))
            .collect();
        words.extend(rules_out.iter().map(|r| {
            format!(
                "'{}' would have raised {} event{}",
                r.name,
                r.events,
                if r.events == 1 { "" } else { "s" }
            )
        }));
        let seconds = span;
        Ok(PreviewReport {
            camera: camera.to_string(),
            from_ms: start_ms,
            to_ms: start_ms + (seconds * 1000.0) as i64,
            seconds,
            frames,
            summary: if words.is_empty() {
                format!("{camera} has no lines or rules to preview")
            } else {
                format!(
                    "In the last {:.0} s of recording: {}.",
                    seconds,
                    words.join("; ")
                )
            },
            lines,
            rules: rules_out,
        })
    }
}
