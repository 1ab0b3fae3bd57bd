//! `vigil analyze VIDEO --health FILE`: the camera health states the picture shows (covered, blocked,
//! dark, defocused, moved, frozen; `vigil_vision::health`), one JSON line each once it has ended:
//! `{"kind":"covered","start":40.1,"end":70.0}` in seconds from the video's start, with `"shift":[dx,dy]`
//! (shares of the width and height) for a view that moved, and `"ongoing":true` for a state still on
//! when the video ends. A switch to IR (night) mode is information, not a problem
//! (`vigil_vision::day_night`): `{"kind":"ir_mode","severity":"information","start":..,"end":..,
//! "brightness":[before,after]}` (mean brightness 0-255 before and after the switch).

use anyhow::Context;
use serde_json::json;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use vigil_core::Time90k;
use vigil_media::{Converter, DecodedFrame};
use vigil_vision::day_night::{DayNightChange, DayNightDetector, IR_MODE};
use vigil_vision::health::{HealthChange, HealthConfig, HealthDetector, HealthKind, work_size};

/// The health part of one `vigil analyze` run.
pub struct HealthRun {
    detector: HealthDetector,
    converter: Converter,
    out: BufWriter<File>,
    path: PathBuf,
    first: Option<Time90k>,
    last_s: f64,
    /// Kind -> (start in seconds, shift) of the states on.
    open: BTreeMap<HealthKind, (f64, Option<(f32, f32)>)>,
    day_night: DayNightDetector,
    /// Start in seconds and brightness (before, after) of IR mode while it is on.
    ir: Option<(f64, (f32, f32))>,
    written: usize,
}

impl HealthRun {
    /// Writes the health events of the run to `path`.
    pub fn create(path: &Path) -> anyhow::Result<HealthRun> {
        let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(HealthRun {
            detector: HealthDetector::new(HealthConfig::default()),
            converter: Converter::new(),
            out: BufWriter::new(f),
            path: path.to_path_buf(),
            first: None,
            last_s: 0.0,
            open: BTreeMap::new(),
            day_night: DayNightDetector::new(),
            ir: None,
            written: 0,
        })
    }

    /// Judges one decoded frame.
    pub fn update(&mut self, frame: &DecodedFrame) -> anyhow::Result<()> {
        let (w, h) = work_size(frame.width(), frame.height());
        let gray = frame
            .gray(&mut self.converter, w, h)
            .context("converting a frame for the health check")?;
        let first = *self.first.get_or_insert(frame.pts());
        let at_s = Time90k(frame.pts().0 - first.0).as_secs_f64();
        self.last_s = self.last_s.max(at_s);
        let at_ms = (at_s * 1000.0).round() as i64;
        if let Some(chroma) = frame.chroma()
            && let Some(c) = self.day_night.update(&gray, chroma, at_ms)
        {
            self.apply_ir(c, false)?;
        }
        let changes = self.detector.update(&gray, at_ms);
        self.apply(changes, false)
    }

    fn apply_ir(&mut self, c: DayNightChange, at_end: bool) -> anyhow::Result<()> {
        let at = c.at_ms as f64 / 1000.0;
        if c.on {
            self.ir = Some((at, (c.brightness.1, c.brightness.0)));
            return Ok(());
        }
        let Some((start, (before, after))) = self.ir.take() else {
            return Ok(());
        };
        let mut line = json!({
            "kind": IR_MODE,
            "severity": "information",
            "start": (start * 1000.0).round() / 1000.0,
            "end": (at * 1000.0).round() / 1000.0,
            "brightness": [before.round(), after.round()],
        });
        if at_end {
            line["ongoing"] = json!(true);
        }
        writeln!(self.out, "{line}").with_context(|| format!("writing {}", self.path.display()))?;
        self.written += 1;
        Ok(())
    }

    fn apply(&mut self, changes: Vec<HealthChange>, at_end: bool) -> anyhow::Result<()> {
        for c in changes {
            let at = c.at_ms as f64 / 1000.0;
            if c.on {
                self.open.insert(c.kind, (at, c.shift));
                continue;
            }
            let Some((start, shift)) = self.open.remove(&c.kind) else {
                continue;
            };
            let mut line = json!({
                "kind": c.kind.name(),
                "start": (start * 1000.0).round() / 1000.0,
                "end": (at * 1000.0).round() / 1000.0,
            });
            if let Some((dx, dy)) = shift {
                line["shift"] = json!([
                    (dx * 1000.0).round() / 1000.0,
                    (dy * 1000.0).round() / 1000.0
                ]);
            }
            if at_end {
                line["ongoing"] = json!(true);
            }
            writeln!(self.out, "{line}")
                .with_context(|| format!("writing {}", self.path.display()))?;
            self.written += 1;
        }
        Ok(())
    }

    /// Ends the states still on at the last frame, flushes, and says how many events were written.
    pub fn finish(mut self) -> anyhow::Result<usize> {
        let end_ms = (self.last_s * 1000.0).round() as i64;
        let changes = self.detector.finish(end_ms);
        self.apply(changes, true)?;
        if let Some(c) = self.day_night.finish(end_ms) {
            self.apply_ir(c, true)?;
        }
        self.out
            .flush()
            .with_context(|| format!("writing {}", self.path.display()))?;
        Ok(self.written)
    }
}
