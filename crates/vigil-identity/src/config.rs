//! `[faces]` in `vigil.toml`: face recognition in the live analysis. Off unless a camera is listed under
//! `[faces.camera.NAME]` (privacy by default: opted in per camera).
//!
//! ```toml
//! [faces]
//! threshold = 0.75        # cosine at and above which a face is the enrolled person
//! min_quality = 0.2       # faces below this quality (size x sharpness x frontal) are not matched
//! sample_seconds = 0.5    # a track's face is looked at most this often
//! [faces.alerts]          # alert level of each watchlist's matches (default "high")
//! staff = "none"
//! banned = "high"
//! [faces.camera.door]     # face recognition on camera "door"
//! only_enrolled = ["Lab"] # zones of [rules.door] where an unknown face raises face_unknown
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;

/// Default `threshold` (the measured one: see `vigil_vision::face_embed::DEFAULT_THRESHOLD`).
pub const DEFAULT_THRESHOLD: f32 = 0.75;
/// Default `min_quality`.
pub const DEFAULT_MIN_QUALITY: f32 = 0.2;
/// Default `sample_seconds`.
pub const DEFAULT_SAMPLE_SECONDS: f64 = 0.5;
/// Alert level of a watchlist not named in `[faces.alerts]`.
pub const DEFAULT_ALERT: &str = "high";
/// The alert levels a watchlist may have.
pub const ALERT_LEVELS: [&str; 4] = ["none", "low", "normal", "high"];

/// `[faces]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacesConfig {
    /// Similarity at and above which a face is taken for an enrolled person (0..1).
    #[serde(default = "default_threshold")]
    pub threshold: f32,
    /// Faces of lower quality (0..1) are neither matched nor reported as unknown.
    #[serde(default = "default_min_quality")]
    pub min_quality: f32,
    /// Shortest time between two looks at one track's face (seconds).
    #[serde(default = "default_sample_seconds")]
    pub sample_seconds: f64,
    /// Alert level per watchlist: `none`, `low`, `normal` or `high` (default `high`).
    #[serde(default)]
    pub alerts: BTreeMap<String, String>,
    /// The cameras with face recognition, by name.
    #[serde(default)]
    pub camera: BTreeMap<String, CameraFaces>,
}

/// `[faces.camera.NAME]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraFaces {
    /// Zones of the camera's rules where only enrolled people may be: an unknown face there raises
    /// `face_unknown`.
    #[serde(default)]
    pub only_enrolled: Vec<String>,
}

fn default_threshold() -> f32 {
    DEFAULT_THRESHOLD
}

fn default_min_quality() -> f32 {
    DEFAULT_MIN_QUALITY
}

fn default_sample_seconds() -> f64 {
    DEFAULT_SAMPLE_SECONDS
}

impl Default for FacesConfig {
    fn default() -> Self {
        Self {
            threshold: DEFAULT_THRESHOLD,
            min_quality: DEFAULT_MIN_QUALITY,
            sample_seconds: DEFAULT_SAMPLE_SECONDS,
            alerts: BTreeMap::new(),
            camera: BTreeMap::new(),
        }
    }
}

impl FacesConfig {
    /// Whether face recognition runs on `camera`.
    pub fn on(&self, camera: &str) -> Option<&CameraFaces> {
        self.camera.get(camera)
    }

    /// The alert level of `list`'s matches.
    pub fn alert_of(&self, list: &str) -> &str {
        self.alerts.get(list).map_or(DEFAULT_ALERT, String::as_str)
    }

    /// What is wrong with the values, each as (field, problem); the cameras and zones are checked by
    /// the caller, who knows them.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            out.push(("threshold".into(), "must be between 0 and 1".into()));
        }
        if !(0.0..1.0).contains(&self.min_quality) {
            out.push((
                "min_quality".into(),
                "must be at least 0 and below 1".into(),
            ));
        }
        if !(self.sample_seconds >= 0.05 && self.sample_seconds <= 60.0) {
            out.push((
                "sample_seconds".into(),
                "must be between 0.05 and 60 seconds".into(),
            ));
        }
        for (list, level) in &self.alerts {
            if !ALERT_LEVELS.contains(&level.as_str()) {
                out.push((
                    format!("alerts.{list}"),
                    format!("{level:?} is not one of {}", ALERT_LEVELS.join(", ")),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_bad_values_are_named() {
        let c = FacesConfig::default();
        assert!(c.on("door").is_none());
        assert_eq!(c.alert_of("staff"), "high");
        assert!(c.problems().is_empty());
        let bad = FacesConfig {
            threshold: 1.5,
            min_quality: -0.1,
            sample_seconds: 0.0,
            alerts: [("staff".to_string(), "loud".to_string())].into(),
            ..FacesConfig::default()
        };
        let fields: Vec<String> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            ["threshold", "min_quality", "sample_seconds", "alerts.staff"]
        );
    }
}
