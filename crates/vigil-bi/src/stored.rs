//! Reports kept under `data_dir/reports/`: `<id>.json` (what the list shows: name, range, cameras, KPIs)
//! next to `<id>.pdf` and `<id>.html`. The id is `<name>-<local start>` made file-safe, so a report made
//! twice for the same period replaces itself.

use crate::BiError;
use crate::report::{Kpis, Report, write_file};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A report's formats.
pub const FORMATS: [&str; 2] = ["pdf", "html"];

/// What is kept of a report besides its files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredReport {
    /// Id (file stem).
    pub id: String,
    /// The `[[reports]]` name.
    pub name: String,
    /// Range start (unix ms).
    pub from: i64,
    /// Range end (unix ms).
    pub to: i64,
    /// When it was made (unix ms).
    pub created: i64,
    /// Cameras.
    pub cameras: Vec<String>,
    /// The headline figures.
    pub kpis: serde_json::Value,
    /// Its files (`<id>.pdf`, `<id>.html`).
    pub files: Vec<String>,
}

fn safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes `report` as `formats` (`pdf`, `html`) with its JSON entry; returns the entry.
pub fn save(
    dir: &Path,
    name: &str,
    stamp: &str,
    report: &Report,
    formats: &[String],
    created: i64,
) -> Result<StoredReport, BiError> {
    for f in formats {
        if !FORMATS.contains(&f.as_str()) {
            return Err(BiError::BadQuery(format!(
                "report format {f:?}: expected pdf or html"
            )));
        }
    }
    let id = format!("{}-{}", safe(name), safe(stamp));
    let mut files = Vec::new();
    for f in formats {
        let file = format!("{id}.{f}");
        let bytes = if f == "pdf" {
            report.pdf()
        } else {
            report.html().into_bytes()
        };
        write_file(&dir.join(&file), &bytes)?;
        files.push(file);
    }
    let kpis: &Kpis = &report.kpis;
    let entry = StoredReport {
        id: id.clone(),
        name: name.to_string(),
        from: report.from,
        to: report.to,
        created,
        cameras: report.cameras.clone(),
        kpis: serde_json::to_value(kpis).unwrap_or_default(),
        files,
    };
    let json = serde_json::to_vec_pretty(&entry)
        .map_err(|e| BiError::BadQuery(format!("report entry: {e}")))?;
    write_file(&dir.join(format!("{id}.json")), &json)?;
    Ok(entry)
}

/// Every report kept, newest period first (unreadable entries are skipped with a warning).
pub fn list(dir: &Path) -> Vec<StoredReport> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<StoredReport> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| {
            let p = e.path();
            match std::fs::read(&p).map(|b| serde_json::from_slice::<StoredReport>(&b)) {
                Ok(Ok(r)) => Some(r),
                other => {
                    tracing::warn!("report entry {}: unreadable ({other:?})", p.display());
                    None
                }
            }
        })
        .collect();
    out.sort_by(|a, b| b.from.cmp(&a.from).then(a.name.cmp(&b.name)));
    out
}

/// The path of a report file named `file` (`<id>.pdf` or `<id>.html`), refusing anything else.
pub fn file_path(dir: &Path, file: &str) -> Result<PathBuf, BiError> {
    let ok = file.rsplit_once('.').is_some_and(|(stem, ext)| {
        FORMATS.contains(&ext) && !stem.is_empty() && safe(stem) == stem && stem.len() <= 200
    });
    if !ok {
        return Err(BiError::BadQuery(format!(
            "{file:?} is not a report file name (<id>.pdf or <id>.html)"
        )));
    }
    Ok(dir.join(file))
}
