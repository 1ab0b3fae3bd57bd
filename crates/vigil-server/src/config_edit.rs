//! The configuration file as the browser reads and changes it. The server does not parse `vigil.toml`
//! itself: the binary plugs in a [`ConfigEditor`] (built on `vigil-config`), so that a text is checked by
//! exactly the code `vigil config check` runs and applied by the code that runs the cameras.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The file as read.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigDoc {
    /// Where it is.
    pub path: String,
    /// SHA-256 of the text: name it when saving, so a change made meanwhile is not overwritten.
    pub version: String,
    /// The whole text.
    pub text: String,
    /// The cameras as the file describes them (no passwords), each with its `rules` (`zone`, `line`,
    /// `mask`, `rule` as in the file); `null` while the file has problems.
    pub cameras: Value,
}

/// One problem in a configuration text, located.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigProblem {
    /// 1-based line (0: unknown).
    pub line: usize,
    /// 1-based column (0: unknown).
    pub column: usize,
    /// The field, e.g. `rules.gate.zone[0].points`.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// The line of text it is on.
    pub source_line: String,
}

/// Why a configuration change was not made.
#[derive(Debug, Clone)]
pub enum ConfigRefusal {
    /// The file changed since the caller read it.
    Stale {
        /// Its version now.
        current: String,
    },
    /// The new text has problems (nothing was written).
    Invalid(Vec<ConfigProblem>),
    /// The change cannot be made as asked (unknown camera, duplicate name, ...).
    Refused(String),
    /// Reading or writing failed.
    Failed(String),
}

/// A change made through a form rather than by editing the text.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "edit", rename_all = "snake_case")]
pub enum ConfigEdit {
    /// Replace a camera's zones, lines and masks (matched by name; each keeps its other settings).
    Geometry {
        /// The camera.
        camera: String,
        /// `{"zones": [{name, points}], "lines": [{name, p1, p2, inbound}], "masks": [{name, kind, points}]}`.
        geometry: Value,
    },
    /// Make or replace a camera's rule (by name).
    SetRule {
        /// The camera.
        camera: String,
        /// Its keys as in `[[rules.CAMERA.rule]]`.
        rule: serde_json::Map<String, Value>,
    },
    /// Remove a camera's rule.
    RemoveRule {
        /// The camera.
        camera: String,
        /// The rule's name.
        name: String,
    },
    /// Add a camera: `{name, main, sub?, username?, password?, onvif?}`.
    AddCamera {
        /// The new `[[camera]]`.
        camera: Value,
    },
    /// Remove a camera and its rules (its recordings stay until retention removes them).
    RemoveCamera {
        /// The camera.
        name: String,
    },
}

impl ConfigEdit {
    /// The audit log's words for it.
    pub fn describe(&self) -> String {
        match self {
            ConfigEdit::Geometry { camera, geometry } => {
                let n = |k: &str| {
                    geometry
                        .get(k)
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len)
                };
                format!(
                    "{camera}: {} zone(s), {} line(s), {} mask(s) drawn",
                    n("zones"),
                    n("lines"),
                    n("masks")
                )
            }
            ConfigEdit::SetRule { camera, rule } => format!(
                "{camera}: rule {}",
                rule.get("name").and_then(Value::as_str).unwrap_or("?")
            ),
            ConfigEdit::RemoveRule { camera, name } => format!("{camera}: rule {name} removed"),
            ConfigEdit::AddCamera { camera } => format!(
                "camera {} added",
                camera.get("name").and_then(Value::as_str).unwrap_or("?")
            ),
            ConfigEdit::RemoveCamera { name } => format!("camera {name} removed"),
        }
    }
}

/// What saving did.
#[derive(Debug, Clone, Serialize)]
pub struct Saved {
    /// The new version.
    pub version: String,
    /// `nothing` (only comments or layout changed), `rules` (applied to the running analysis of
    /// `cameras`) or `restart` (cameras and server restart in-process with the new file; `detail` says
    /// why).
    pub applied: &'static str,
    /// The cameras whose rules changed (`rules`).
    pub cameras: Vec<String>,
    /// Why a restart, in words.
    pub detail: String,
}

/// What a stream answered when probed.
#[derive(Debug, Clone, Serialize)]
pub struct StreamProbe {
    /// `h264` or `h265`.
    pub codec: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second measured over the frames received.
    pub fps: f64,
    /// Frames received while probing.
    pub frames: u32,
}

/// The configuration file, plugged in by the binary.
pub trait ConfigEditor: Send + Sync {
    /// Reads the file.
    fn read(&self) -> Result<ConfigDoc, ConfigRefusal>;
    /// Checks a text exactly as `vigil config check` would (empty: valid).
    fn check(&self, text: &str) -> Vec<ConfigProblem>;
    /// `text` with `edit` made (not checked, not saved).
    fn edit(&self, text: &str, edit: &ConfigEdit) -> Result<String, ConfigRefusal>;
    /// Checks `text`, writes it if the file is still at `version` (the text replaced kept in the
    /// history) and applies it.
    fn save(&self, text: &str, version: &str) -> Result<Saved, ConfigRefusal>;
    /// The versions replaced so far, oldest first (`id`, `replaced_ms`, `version`, `bytes`).
    fn history(&self) -> Result<Value, ConfigRefusal>;
    /// The text of one replaced version.
    fn history_text(&self, id: &str) -> Result<String, ConfigRefusal>;
    /// Finds ONVIF cameras (WS-Discovery on the local network for `seconds`, or a probe sent to
    /// `address` only) and asks each for its identity and streams (blocking): one JSON object per
    /// device (`address`, `manufacturer`, `model`, `name`, `main`, `sub`, `profiles`, `ptz`, or `error`).
    fn discover(
        &self,
        seconds: f64,
        address: Option<&str>,
        username: Option<&str>,
        password: Option<&str>,
    ) -> Result<Vec<Value>, String>;
    /// Runs `camera`'s rules from `text` (a draft; the file as it is when `None`) over the last `minutes`
    /// of its recording with the detector and tracker, and says what they would have raised and counted
    /// (blocking, long: `progress` gets 0..1 as it goes).
    fn preview(
        &self,
        camera: &str,
        minutes: f64,
        text: Option<&str>,
        progress: &(dyn Fn(f64) + Sync),
    ) -> Result<PreviewReport, ConfigRefusal>;
    /// Connects to a stream for a few seconds and says what it sends (blocking).
    fn probe(
        &self,
        url: &str,
        username: Option<&str>,
        password: Option<&str>,
    ) -> Result<StreamProbe, String>;
}

/// A line's counts in a rule preview.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewLine {
    /// The line.
    pub name: String,
    /// Crossings the way counted as "in".
    pub r#in: u64,
    /// Crossings the other way.
    pub out: u64,
}

/// A rule's events in a rule preview.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewRule {
    /// The rule.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Events it would have started.
    pub events: u64,
    /// When the first and last started (unix ms).
    pub first_ms: Option<i64>,
    /// When the last started (unix ms).
    pub last_ms: Option<i64>,
}

/// What a camera's rules would have done on its recent recording.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewReport {
    /// The camera.
    pub camera: String,
    /// The recording analysed: from, to (unix ms), and how many seconds of it.
    pub from_ms: i64,
    /// Its end.
    pub to_ms: i64,
    /// Seconds of recording analysed.
    pub seconds: f64,
    /// Frames analysed.
    pub frames: u64,
    /// Each line's counts.
    pub lines: Vec<PreviewLine>,
    /// Each rule's events.
    pub rules: Vec<PreviewRule>,
    /// The same in words ("Gate line would have counted 4 in, 1 out; ...").
    pub summary: String,
}

/// Where a preview is.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PreviewProgress {
    /// How far (0..1).
    pub done: f64,
}

/// What a preview was asked for.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewScope {
    /// The camera.
    pub camera: String,
    /// Minutes of recording.
    pub minutes: f64,
    /// Whether a draft (not the saved file) was previewed.
    pub draft: bool,
}

/// Rule previews run in the background.
pub type Previews = crate::jobs::Jobs<PreviewScope, PreviewProgress, PreviewReport>;
