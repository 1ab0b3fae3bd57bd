//! `[[reports]]`: scheduled business-intelligence reports (vigil-bi), made by `vigil run` daily or weekly
//! at a local time, kept under `data_dir/reports/` and announced by webhook.

use serde::Deserialize;
use vigil_core::config::{FieldPath, Problem, Seg, key};

/// How often a report is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportSchedule {
    /// Every day at `at`, about the day before (local midnight to midnight).
    Daily,
    /// Every Monday at `at`, about the week before (Monday to Monday).
    Weekly,
}

/// One `[[reports]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// Unique name (`"Shop daily"`): the report's title and the start of its file names.
    pub name: String,
    /// `daily` or `weekly`.
    pub schedule: ReportSchedule,
    /// Local time it is made, `"HH:MM"` (default `"07:00"`).
    #[serde(default = "default_at")]
    pub at: String,
    /// Cameras it covers (empty: every camera).
    #[serde(default)]
    pub cameras: Vec<String>,
    /// Where it is announced: the name of a `[[webhook]]` (signed with its secret) or a URL; none when
    /// absent.
    #[serde(default)]
    pub webhook: Option<String>,
    /// `["pdf", "html"]` (default both).
    #[serde(default = "default_formats")]
    pub formats: Vec<String>,
}

fn default_at() -> String {
    "07:00".into()
}

fn default_formats() -> Vec<String> {
    vec!["pdf".into(), "html".into()]
}

impl ReportConfig {
    /// `at` as seconds after local midnight, if well formed.
    pub fn at_seconds(&self) -> Option<i64> {
        let (h, m) = self.at.split_once(':')?;
        let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
        ((0..24).contains(&h) && (0..60).contains(&m) && self.at.len() == 5)
            .then_some(h * 3600 + m * 60)
    }
}

/// What is wrong with the `[[reports]]` entries: names, times, formats, cameras and webhooks that do
/// not exist.
pub(crate) fn problems(
    reports: &[ReportConfig],
    cameras: &[String],
    webhooks: &[String],
) -> Vec<Problem> {
    let mut out = Vec::new();
    let at =
        |i: usize, field: &str| -> FieldPath { vec![key("reports"), Seg::Index(i), key(field)] };
    for (i, r) in reports.iter().enumerate() {
        if r.name.trim().is_empty() || r.name.len() > 100 {
            out.push(Problem::new(at(i, "name"), "must be 1-100 characters"));
        }
        if reports[..i].iter().any(|o| o.name == r.name) {
            out.push(Problem::new(
                at(i, "name"),
                format!("{:?} is used twice", r.name),
            ));
        }
        if r.at_seconds().is_none() {
            out.push(Problem::new(
                at(i, "at"),
                format!("{:?}: expected local time \"HH:MM\"", r.at),
            ));
        }
        if r.formats.is_empty() {
            out.push(Problem::new(at(i, "formats"), "name pdf, html or both"));
        }
        for f in &r.formats {
            if f != "pdf" && f != "html" {
                out.push(Problem::new(
                    at(i, "formats"),
                    format!("{f:?}: expected pdf or html"),
                ));
            }
        }
        for c in &r.cameras {
            if !cameras.contains(c) {
                out.push(Problem::new(
                    at(i, "cameras"),
                    format!("no [[camera]] is named {c:?}"),
                ));
            }
        }
        if let Some(w) = &r.webhook
            && !w.starts_with("http://")
            && !w.starts_with("https://")
            && !webhooks.contains(w)
        {
            out.push(Problem::new(
                at(i, "webhook"),
                format!("{w:?} is neither a [[webhook]] name nor an http(s) URL"),
            ));
        }
    }
    out
}
