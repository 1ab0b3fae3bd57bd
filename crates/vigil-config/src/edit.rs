//! Changing `vigil.toml` from the browser while the file stays the source of truth: edits go through
//! `toml_edit`, so comments, order and layout survive; every new text is checked exactly as `vigil config
//! check` checks a file ([`VigilConfig::parse_at`]) before it is written; a write names the version it
//! replaces (the SHA-256 of the text read), so two admins cannot overwrite each other unseen; the file is
//! replaced atomically (written beside it, synced, renamed) and the text it replaces is kept in a history
//! folder, newest last, so any earlier version can be looked at and restored.

use crate::VigilConfig;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, Value, value};
use vigil_core::config::ConfigErrors;

/// Versions kept in the history folder (the oldest go first).
pub const HISTORY_KEPT: usize = 200;

/// Why a configuration change was not made.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file changed since it was read (someone else saved first).
    #[error(
        "the configuration changed since it was read (now version {current}): reload and edit again"
    )]
    Stale {
        /// The version on disk now.
        current: String,
    },
    /// The new text is not a valid configuration.
    #[error("the configuration has {} problem(s)", .0.diagnostics.len())]
    Invalid(ConfigErrors),
    /// The edit itself cannot be made (unknown camera, bad value).
    #[error("{0}")]
    Refused(String),
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EditError + '_ {
    move |source| EditError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The version of a configuration text: SHA-256, hex.
pub fn version_of(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A configuration text as read, with its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigText {
    /// The whole file.
    pub text: String,
    /// [`version_of`] the text.
    pub version: String,
}

/// One earlier version in the history folder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HistoryEntry {
    /// Its file name in the history folder (the id to ask for it by).
    pub id: String,
    /// When it was replaced (unix ms).
    pub replaced_ms: i64,
    /// Its version.
    pub version: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// The configuration file and its history folder.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// `vigil.toml`.
    pub path: PathBuf,
    /// Where replaced versions go (`data_dir/config-history`).
    pub history: PathBuf,
}

impl ConfigFile {
    /// The file at `path`, its history under `data_dir/config-history`.
    pub fn new(path: &Path, data_dir: &Path) -> ConfigFile {
        ConfigFile {
            path: path.to_path_buf(),
            history: data_dir.join("config-history"),
        }
    }

    /// Reads the file.
    pub fn read(&self) -> Result<ConfigText, EditError> {
        let text = std::fs::read_to_string(&self.path).map_err(io(&self.path))?;
        Ok(ConfigText {
            version: version_of(&text),
            text,
        })
    }

    /// Checks a text as this file, exactly as `vigil config check` would.
    pub fn check(&self, text: &str) -> Result<VigilConfig, ConfigErrors> {
        VigilConfig::parse_at(text, &self.path)
    }

    /// Replaces the file with `text` if it is still at version `expected` and `text` is valid; the
    /// text replaced goes into the history. Returns the new configuration and version.
    pub fn write(&self, text: &str, expected: &str) -> Result<(VigilConfig, String), EditError> {
        let current = self.read()?;
        if current.version != expected {
            return Err(EditError::Stale {
                current: current.version,
            });
        }
        let config = self.check(text).map_err(EditError::Invalid)?;
        if current.text == text {
            return Ok((config, current.version));
        }
        self.keep(&current)?;
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "vigil.toml".into());
        let tmp = dir.join(format!(".{name}.new"));
        {
            let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(text.as_bytes()).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        // The file keeps its permissions (it may hold camera passwords).
        if let Ok(meta) = std::fs::metadata(&self.path) {
            std::fs::set_permissions(&tmp, meta.permissions()).map_err(io(&tmp))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok((config, version_of(text)))
    }

    fn keep(&self, old: &ConfigText) -> Result<(), EditError> {
        std::fs::create_dir_all(&self.history).map_err(io(&self.history))?;
        let now = vigil_core::time::now_unix_ms();
        let file = self
            .history
            .join(format!("{now:013}-{}.toml", &old.version[..12]));
        std::fs::write(&file, &old.text).map_err(io(&file))?;
        let entries = self.history()?;
        for e in entries
            .iter()
            .take(entries.len().saturating_sub(HISTORY_KEPT))
        {
            let _ = std::fs::remove_file(self.history.join(&e.id));
        }
        Ok(())
    }

    /// The versions replaced so far, oldest first.
    pub fn history(&self) -> Result<Vec<HistoryEntry>, EditError> {
        let dir = match std::fs::read_dir(&self.history) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.history)(e)),
        };
        let mut out = Vec::new();
        for entry in dir.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            let Some((ms, rest)) = id.strip_suffix(".toml").and_then(|s| s.split_once('-')) else {
                continue;
            };
            let Ok(replaced_ms) = ms.parse::<i64>() else {
                continue;
            };
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            out.push(HistoryEntry {
                replaced_ms,
                version: if rest.is_empty() {
                    String::new()
                } else {
                    version_of(&text)
                },
                bytes: text.len() as u64,
                id,
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The text of one earlier version.
    pub fn history_text(&self, id: &str) -> Result<String, EditError> {
        let plain = id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !plain || !id.ends_with(".toml") || id.starts_with('.') {
            return Err(EditError::Refused(format!("no version {id:?}")));
        }
        let path = self.history.join(id);
        std::fs::read_to_string(&path).map_err(|_| EditError::Refused(format!("no version {id:?}")))
    }
}

/// A zone as drawn in the browser.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DrawnZone {
    /// Its name (unique on the camera).
    pub name: String,
    /// Outline points, normalised (0..1).
    pub points: Vec<[f32; 2]>,
}

/// A counting line as drawn.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DrawnLine {
    /// Its name.
    pub name: String,
    /// First end, normalised.
    pub p1: [f32; 2],
    /// Second end, normalised.
    pub p2: [f32; 2],
    /// Which way is "in": `a_to_b` (default) or `b_to_a`.
    #[serde(default)]
    pub inbound: Option<String>,
}

/// A mask as drawn.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DrawnMask {
    /// Its name.
    pub name: String,
    /// `privacy` or `ignore`.
    pub kind: String,
    /// Outline points, normalised.
    pub points: Vec<[f32; 2]>,
}

/// What the browser draws on one camera: the whole set replaces the camera's zones, lines and masks
/// (matched by name, so each keeps its other settings: classes, scores, timings).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Geometry {
    /// Zones.
    #[serde(default)]
    pub zones: Vec<DrawnZone>,
    /// Lines.
    #[serde(default)]
    pub lines: Vec<DrawnLine>,
    /// Masks.
    #[serde(default)]
    pub masks: Vec<DrawnMask>,
}

/// A new camera.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCamera {
    /// Name.
    pub name: String,
    /// Main stream URL.
    pub main: String,
    /// Sub stream URL.
    #[serde(default)]
    pub sub: Option<String>,
    /// RTSP user.
    #[serde(default)]
    pub username: Option<String>,
    /// RTSP password.
    #[serde(default)]
    pub password: Option<String>,
    /// ONVIF device service URL.
    #[serde(default)]
    pub onvif: Option<String>,
}

fn parse_doc(text: &str) -> Result<DocumentMut, EditError> {
    text.parse::<DocumentMut>()
        .map_err(|e| EditError::Refused(format!("the file is not valid TOML: {e}")))
}

/// A number rounded to 4 decimals (a pixel at 10,000 wide), as TOML writes it.
fn coord(v: f32) -> Value {
    let r = (f64::from(v) * 10_000.0).round() / 10_000.0;
    Value::from(r)
}

fn point(p: [f32; 2]) -> Value {
    let mut a = Array::new();
    a.push(coord(p[0]));
    a.push(coord(p[1]));
    Value::Array(a)
}

fn points(ps: &[[f32; 2]]) -> Value {
    let mut a = Array::new();
    for p in ps {
        a.push(point(*p));
    }
    Value::Array(a)
}

/// The `[rules.CAMERA]` table, made (as a header-less parent) when absent.
fn rules_table<'a>(doc: &'a mut DocumentMut, camera: &str) -> Result<&'a mut Table, EditError> {
    let rules = doc
        .entry("rules")
        .or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| EditError::Refused("`rules` is not a table".into()))?;
    rules
        .entry(camera)
        .or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| EditError::Refused(format!("`rules.{camera}` is not a table")))
}

/// Replaces the tables of `key` (`zone`, `line`, `mask`) by `items` matched by name: an existing table
/// keeps its other keys and its place, a new one goes at the end, one not drawn any more goes.
fn replace_named(rules: &mut Table, key: &str, items: Vec<(String, Vec<(&str, Value)>)>) {
    let mut old = match rules.remove(key) {
        Some(Item::ArrayOfTables(a)) => a,
        _ => ArrayOfTables::new(),
    };
    let mut out = ArrayOfTables::new();
    for (name, values) in items {
        let found = old
            .iter()
            .position(|t| t.get("name").and_then(Item::as_str) == Some(name.as_str()));
        let mut table = match found {
            Some(i) => {
                let t = old.get(i).cloned().unwrap_or_default();
                old.remove(i);
                t
            }
            None => {
                let mut t = Table::new();
                t.insert("name", value(name.clone()));
                t
            }
        };
        for (k, v) in values {
            table.insert(k, Item::Value(v));
        }
        out.push(table);
    }
    if !out.is_empty() {
        rules.insert(key, Item::ArrayOfTables(out));
    }
}

fn camera_exists(doc: &DocumentMut, camera: &str) -> bool {
    doc.get("camera")
        .and_then(Item::as_array_of_tables)
        .is_some_and(|cams| {
            cams.iter()
                .any(|c| c.get("name").and_then(Item::as_str) == Some(camera))
        })
}

/// `text` with `camera`'s zones, lines and masks replaced by `geometry` (comments and everything else
/// kept).
pub fn set_geometry(text: &str, camera: &str, geometry: &Geometry) -> Result<String, EditError> {
    let mut doc = parse_doc(text)?;
    if !camera_exists(&doc, camera) {
        return Err(EditError::Refused(format!("no camera called {camera:?}")));
    }
    let rules = rules_table(&mut doc, camera)?;
    replace_named(
        rules,
        "zone",
        geometry
            .zones
            .iter()
            .map(|z| (z.name.clone(), vec![("points", points(&z.points))]))
            .collect(),
    );
    replace_named(
        rules,
        "line",
        geometry
            .lines
            .iter()
            .map(|l| {
                let mut v = vec![("p1", point(l.p1)), ("p2", point(l.p2))];
                if let Some(dir) = &l.inbound {
                    v.push(("inbound", Value::from(dir.as_str())));
                }
                (l.name.clone(), v)
            })
            .collect(),
    );
    replace_named(
        rules,
        "mask",
        geometry
            .masks
            .iter()
            .map(|m| {
                let v = vec![
                    ("kind", Value::from(m.kind.as_str())),
                    ("points", points(&m.points)),
                ];
                (m.name.clone(), v)
            })
            .collect(),
    );
    Ok(doc.to_string())
}

/// A rule as the browser sends it: its keys as in `[[rules.CAMERA.rule]]` (`name`, `kind`, `zone`,
/// `line`, `classes`, ...). Strings, numbers, booleans and arrays of them.
pub type RuleFields = serde_json::Map<String, serde_json::Value>;

fn json_value(v: &serde_json::Value) -> Result<Value, EditError> {
    Ok(match v {
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => Value::from(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::Array(items) => {
            let mut a = Array::new();
            for i in items {
                a.push(json_value(i)?);
            }
            Value::Array(a)
        }
        other => {
            return Err(EditError::Refused(format!(
                "rule values are strings, numbers, booleans or lists, not {other}"
            )));
        }
    })
}

/// `text` with the rule named `fields["name"]` of `camera` made or replaced (a replaced rule keeps its
/// place and the comments around it; keys it had that `fields` lacks go).
pub fn set_rule(text: &str, camera: &str, fields: &RuleFields) -> Result<String, EditError> {
    let name = fields
        .get("name")
        .and_then(serde_json::Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| EditError::Refused("a rule needs a name".into()))?
        .to_string();
    let mut doc = parse_doc(text)?;
    if !camera_exists(&doc, camera) {
        return Err(EditError::Refused(format!("no camera called {camera:?}")));
    }
    let rules = rules_table(&mut doc, camera)?;
    let list = rules
        .entry("rule")
        .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()));
    let list = list.as_array_of_tables_mut().ok_or_else(|| {
        EditError::Refused(format!("`rules.{camera}.rule` is not a list of tables"))
    })?;
    let mut table = Table::new();
    for (k, v) in fields {
        if v.is_null() {
            continue;
        }
        table.insert(k, Item::Value(json_value(v)?));
    }
    let found = list
        .iter()
        .position(|t| t.get("name").and_then(Item::as_str) == Some(name.as_str()));
    match found.and_then(|i| list.get_mut(i)) {
        Some(existing) => {
            let decor = existing.decor().clone();
            *existing = table;
            *existing.decor_mut() = decor;
        }
        None => list.push(table),
    }
    Ok(doc.to_string())
}

/// `text` without `camera`'s rule `name`.
pub fn remove_rule(text: &str, camera: &str, name: &str) -> Result<String, EditError> {
    let mut doc = parse_doc(text)?;
    let list = doc
        .get_mut("rules")
        .and_then(|r| r.get_mut(camera))
        .and_then(|c| c.get_mut("rule"))
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| EditError::Refused(format!("camera {camera:?} has no rules")))?;
    let i = list
        .iter()
        .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
        .ok_or_else(|| EditError::Refused(format!("camera {camera:?} has no rule {name:?}")))?;
    list.remove(i);
    Ok(doc.to_string())
}

/// `text` with a new `[[camera]]` at the end of the cameras.
pub fn add_camera(text: &str, camera: &NewCamera) -> Result<String, EditError> {
    let mut doc = parse_doc(text)?;
    if camera_exists(&doc, &camera.name) {
        return Err(EditError::Refused(format!(
            "a camera called {:?} exists already",
            camera.name
        )));
    }
    let mut t = Table::new();
    t.insert("name", value(camera.name.as_str()));
    t.insert("main", value(camera.main.as_str()));
    let optional = [
        ("sub", &camera.sub),
        ("username", &camera.username),
        ("password", &camera.password),
        ("onvif", &camera.onvif),
    ];
    for (k, v) in optional {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            t.insert(k, value(v));
        }
    }
    match doc.get_mut("camera") {
        Some(item) => item
            .as_array_of_tables_mut()
            .ok_or_else(|| EditError::Refused("`camera` is not a list of tables".into()))?
            .push(t),
        None => {
            let mut a = ArrayOfTables::new();
            a.push(t);
            doc.insert("camera", Item::ArrayOfTables(a));
        }
    }
    Ok(doc.to_string())
}

/// `text` without camera `name` and its `[rules.NAME]`.
pub fn remove_camera(text: &str, name: &str) -> Result<String, EditError> {
    let mut doc = parse_doc(text)?;
    let cams = doc
        .get_mut("camera")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or_else(|| EditError::Refused(format!("no camera called {name:?}")))?;
    let i = cams
        .iter()
        .position(|t| t.get("name").and_then(Item::as_str) == Some(name))
        .ok_or_else(|| EditError::Refused(format!("no camera called {name:?}")))?;
    cams.remove(i);
    if let Some(rules) = doc.get_mut("rules").and_then(Item::as_table_mut) {
        rules.remove(name);
    }
    Ok(doc.to_string())
}

/// How a saved configuration takes effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applying {
    /// Nothing that matters changed (comments, layout, spelling of the same values).
    Nothing,
    /// Only these cameras' zones, lines, ignore masks or rule settings changed: applied to their
    /// analysis while it runs, nothing else touched.
    Rules(Vec<String>),
    /// Something the running cameras, the server or Home Assistant's entities were built from changed:
    /// Vigil restarts its cameras and server in-process with the new file (why, in words).
    Restart(String),
}

/// The names of a rules table's `key` items (zones, lines, rules, masks).
fn names(rules: Option<&toml::Value>, key: &str) -> Vec<String> {
    let mut out: Vec<String> = rules
        .and_then(|r| r.get(key))
        .and_then(toml::Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.get("name").and_then(toml::Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The privacy masks of a rules table (they shape live video, playback and exports, not only analysis).
fn privacy_masks(rules: Option<&toml::Value>) -> Vec<toml::Value> {
    rules
        .and_then(|r| r.get("mask"))
        .and_then(toml::Value::as_array)
        .map(|masks| {
            masks
                .iter()
                .filter(|m| m.get("kind").and_then(toml::Value::as_str) == Some("privacy"))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// How going from `old` to `new` (both valid configuration texts) takes effect.
pub fn plan(old: &str, new: &str) -> Applying {
    let (Ok(mut old), Ok(mut new)) = (
        toml::from_str::<toml::Table>(old),
        toml::from_str::<toml::Table>(new),
    ) else {
        return Applying::Restart("the file was rewritten".into());
    };
    let old_rules = old.remove("rules");
    let new_rules = new.remove("rules");
    if old != new {
        let changed: Vec<&str> = old
            .keys()
            .chain(new.keys())
            .filter(|k| old.get(*k) != new.get(*k))
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        return Applying::Restart(format!("changed: {}", changed.join(", ")));
    }
    let table = |r: &Option<toml::Value>| r.as_ref().and_then(toml::Value::as_table).cloned();
    let (old_rules, new_rules) = (
        table(&old_rules).unwrap_or_default(),
        table(&new_rules).unwrap_or_default(),
    );
    let cameras: std::collections::BTreeSet<&String> =
        old_rules.keys().chain(new_rules.keys()).collect();
    let mut hot = Vec::new();
    for camera in cameras {
        let (a, b) = (old_rules.get(camera), new_rules.get(camera));
        if a == b {
            continue;
        }
        for key in ["zone", "line", "rule"] {
            if names(a, key) != names(b, key) {
                return Applying::Restart(format!(
                    "{camera}: {key}s added, removed or renamed (their Home Assistant entities change)"
                ));
            }
        }
        if privacy_masks(a) != privacy_masks(b) {
            return Applying::Restart(format!(
                "{camera}: privacy masks changed (they shape live video, playback and exports)"
            ));
        }
        hot.push(camera.clone());
    }
    if hot.is_empty() {
        Applying::Nothing
    } else {
        Applying::Rules(hot)
    }
}

#[cfg(test)]
mod tests;
