//! Licence plates as text: how two reads are compared, allow/deny lists, and `[plates]` in `vigil.toml`.
//!
//! OCR confuses a few characters more than others (O and 0, I and 1, S and 5...), and plates are written
//! with separators the recogniser may or may not see. Plates are therefore compared on a canonical form
//! ([`canonical`]): letters and digits only, upper case, each group of look-alikes folded onto one
//! character. A list entry matches a read when their canonical forms are equal; a search can also accept
//! a prefix, or one character inserted, deleted or changed ([`matches`]).
//!
//! ```toml
//! [plates]
//! min_confidence = 0.6    # reads less sure than this are ignored
//! min_reads = 2           # a track's plate is reported once its leading text has this many reads
//! sample_seconds = 0.5    # a vehicle track is read at most this often
//! [plates.lists]          # named lists of plates (any spelling: separators and case do not matter)
//! deny = ["KX58 RTY", "AB12-CDE"]
//! staff = ["LM07ABC"]
//! [plates.alerts]         # alert level of each list's reads (default "high")
//! staff = "none"
//! [plates.camera.gate]    # plate reading on camera "gate"
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;

/// Default `min_confidence`.
pub const DEFAULT_MIN_CONFIDENCE: f32 = 0.6;
/// Default `min_reads`.
pub const DEFAULT_MIN_READS: u32 = 2;
/// Default `sample_seconds`.
pub const DEFAULT_SAMPLE_SECONDS: f64 = 0.5;
/// Alert level of a read on no list.
pub const NO_LIST_ALERT: &str = "none";

/// `[plates]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatesConfig {
    /// Reads less sure than this (0..1) are ignored.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: f32,
    /// Reads of its leading text before a track's plate is reported.
    #[serde(default = "default_min_reads")]
    pub min_reads: u32,
    /// Shortest time between two reads of one track (seconds).
    #[serde(default = "default_sample_seconds")]
    pub sample_seconds: f64,
    /// Named lists of plates.
    #[serde(default)]
    pub lists: BTreeMap<String, Vec<String>>,
    /// Alert level per list: `none`, `low`, `normal` or `high` (default `high`).
    #[serde(default)]
    pub alerts: BTreeMap<String, String>,
    /// The cameras whose vehicles' plates are read, by name.
    #[serde(default)]
    pub camera: BTreeMap<String, CameraPlates>,
}

/// `[plates.camera.NAME]` (nothing to set yet: its presence switches plate reading on).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraPlates {}

fn default_min_confidence() -> f32 {
    DEFAULT_MIN_CONFIDENCE
}

fn default_min_reads() -> u32 {
    DEFAULT_MIN_READS
}

fn default_sample_seconds() -> f64 {
    DEFAULT_SAMPLE_SECONDS
}

impl Default for PlatesConfig {
    fn default() -> Self {
        Self {
            min_confidence: DEFAULT_MIN_CONFIDENCE,
            min_reads: DEFAULT_MIN_READS,
            sample_seconds: DEFAULT_SAMPLE_SECONDS,
            lists: BTreeMap::new(),
            alerts: BTreeMap::new(),
            camera: BTreeMap::new(),
        }
    }
}

impl PlatesConfig {
    /// Whether plates are read on `camera`.
    pub fn on(&self, camera: &str) -> bool {
        self.camera.contains_key(camera)
    }

    /// The list `plate` is on (the first by name when on several), compared canonically.
    pub fn list_of(&self, plate: &str) -> Option<&str> {
        let c = canonical(plate);
        if c.is_empty() {
            return None;
        }
        self.lists
            .iter()
            .find(|(_, plates)| plates.iter().any(|p| canonical(p) == c))
            .map(|(name, _)| name.as_str())
    }

    /// The alert level of a read on `list` (`none` when on no list).
    pub fn alert_of(&self, list: Option<&str>) -> &str {
        match list {
            None => NO_LIST_ALERT,
            Some(l) => self
                .alerts
                .get(l)
                .map_or(crate::config::DEFAULT_ALERT, String::as_str),
        }
    }

    /// What is wrong with the values, each as (field, problem); cameras are checked by the caller.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !(0.0..1.0).contains(&self.min_confidence) {
            out.push((
                "min_confidence".into(),
                "must be at least 0 and below 1".into(),
            ));
        }
        if !(1..=20).contains(&self.min_reads) {
            out.push(("min_reads".into(), "must be 1 to 20".into()));
        }
        if !(self.sample_seconds >= 0.05 && self.sample_seconds <= 60.0) {
            out.push((
                "sample_seconds".into(),
                "must be between 0.05 and 60 seconds".into(),
            ));
        }
        for (list, plates) in &self.lists {
            for (i, p) in plates.iter().enumerate() {
                if canonical(p).len() < 2 {
                    out.push((
                        format!("lists.{list}[{i}]"),
                        format!("{p:?} has fewer than two letters or digits"),
                    ));
                }
            }
        }
        for (list, level) in &self.alerts {
            if !crate::config::ALERT_LEVELS.contains(&level.as_str()) {
                out.push((
                    format!("alerts.{list}"),
                    format!(
                        "{level:?} is not one of {}",
                        crate::config::ALERT_LEVELS.join(", ")
                    ),
                ));
            } else if !self.lists.contains_key(list) {
                out.push((
                    format!("alerts.{list}"),
                    format!("there is no list {list:?}"),
                ));
            }
        }
        out
    }
}

/// A plate's canonical form: letters and digits only, upper case, look-alikes folded (O, Q, D -> 0;
/// I, L -> 1; Z -> 2; S -> 5; G -> 6; B -> 8).
pub fn canonical(plate: &str) -> String {
    plate
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| match c.to_ascii_uppercase() {
            'O' | 'Q' | 'D' => '0',
            'I' | 'L' => '1',
            'Z' => '2',
            'S' => '5',
            'G' => '6',
            'B' => '8',
            other => other,
        })
        .collect()
}

/// How a search compares plates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlateMatch {
    /// The same plate.
    Exact,
    /// Plates starting with the query.
    Prefix,
    /// The same plate, or one character inserted, deleted or changed.
    Fuzzy,
}

/// Whether `plate` answers the search `query` (both compared canonically).
pub fn matches(query: &str, plate: &str, how: PlateMatch) -> bool {
    let (q, p) = (canonical(query), canonical(plate));
    if q.is_empty() {
        return false;
    }
    match how {
        PlateMatch::Exact => q == p,
        PlateMatch::Prefix => p.starts_with(&q),
        PlateMatch::Fuzzy => within_one_edit(&q, &p),
    }
}

/// Whether `a` becomes `b` with at most one character inserted, deleted or changed.
pub fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    match long.len() - short.len() {
        0 => {
            short
                .iter()
                .zip(long.iter())
                .filter(|(x, y)| x != y)
                .count()
                <= 1
        }
        1 => {
            let first = short
                .iter()
                .zip(long.iter())
                .position(|(x, y)| x != y)
                .unwrap_or(short.len());
            short[first..] == long[first + 1..]
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_and_separators_do_not_matter() {
        assert_eq!(canonical("kx58 rty"), canonical("KX58-RTY"));
        assert_eq!(canonical("B0L1DS"), canonical("8O1IO5"));
        assert_ne!(canonical("KX58RTY"), canonical("KX58RTV"));
        assert_eq!(canonical(" - "), "");
    }

    #[test]
    fn searches_find_exact_prefix_and_one_edit() {
        use PlateMatch::*;
        assert!(matches("KX58 RTY", "KX58RTY", Exact));
        assert!(!matches("KX58", "KX58RTY", Exact));
        assert!(matches("kx58", "KX58RTY", Prefix));
        assert!(!matches("X58", "KX58RTY", Prefix));
        assert!(matches("KX58RTV", "KX58RTY", Fuzzy), "one changed");
        assert!(matches("KX58RT", "KX58RTY", Fuzzy), "one deleted");
        assert!(matches("KXX58RTY", "KX58RTY", Fuzzy), "one inserted");
        assert!(matches("KX58RTY", "KX58RTY", Fuzzy), "the same");
        assert!(!matches("KX59RTV", "KX58RTY", Fuzzy), "two changed");
        assert!(
            !matches("", "KX58RTY", Prefix),
            "an empty query finds nothing"
        );
        assert!(within_one_edit("", "A") && !within_one_edit("", "AB"));
    }

    #[test]
    fn lists_match_canonically_and_bad_values_are_named() {
        let c = PlatesConfig {
            lists: [
                ("deny".to_string(), vec!["KX58 RTY".to_string()]),
                ("staff".to_string(), vec!["LM07ABC".to_string()]),
            ]
            .into(),
            alerts: [("staff".to_string(), "none".to_string())].into(),
            ..PlatesConfig::default()
        };
        assert_eq!(c.list_of("kx58-rty"), Some("deny"));
        assert_eq!(c.list_of("KX58RTY"), Some("deny"));
        assert_eq!(c.list_of("1M07A8C"), Some("staff"), "look-alikes");
        assert_eq!(c.list_of("ZZ99ZZZ"), None);
        assert_eq!(c.alert_of(Some("deny")), "high");
        assert_eq!(c.alert_of(Some("staff")), "none");
        assert_eq!(c.alert_of(None), "none");
        assert!(c.problems().is_empty());
        let bad = PlatesConfig {
            min_confidence: 1.0,
            min_reads: 0,
            lists: [("deny".to_string(), vec!["-".to_string()])].into(),
            alerts: [
                ("deny".to_string(), "loud".to_string()),
                ("vip".to_string(), "low".to_string()),
            ]
            .into(),
            ..PlatesConfig::default()
        };
        let fields: Vec<String> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "min_confidence",
                "min_reads",
                "lists.deny[0]",
                "alerts.deny",
                "alerts.vip"
            ]
        );
    }
}
