//! How urgently an event asks for a person's attention: an *alert* (someone should look now) or a
//! *detection* (worth a look when reviewing). Each rule may set it (`severity` in `[[rule]]`); without
//! one, [`Severity::default_for`] decides from the event's kind.

use serde::{Deserialize, Serialize};

/// An event's severity; `Alert` sorts above `Detection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look when reviewing (counts, crossings, loitering, plates read, unknown faces).
    Detection,
    /// Someone should look now (intrusion, a watchlist face, tampering and camera health problems).
    Alert,
}

impl Severity {
    /// The severity of an event of `kind` raised by `rule` when its rule sets none: intrusions (and the
    /// motion the detector could not explain there), watchlist faces, camera health problems and ONVIF
    /// tamper signals are alerts; everything else is a detection, a camera's switch to IR mode
    /// (information) included.
    pub fn default_for(kind: &str, rule: &str) -> Severity {
        match kind {
            "camera_health"
                if crate::INFO_HEALTH_STATES
                    .iter()
                    .any(|s| rule.strip_prefix("health_") == Some(s)) =>
            {
                Severity::Detection
            }
            "intrusion" | "unclassified_motion" | "face_recognized" | "camera_health" => {
                Severity::Alert
            }
            "onvif_event" if rule.contains("tamper") => Severity::Alert,
            _ => Severity::Detection,
        }
    }

    /// The name used in configuration and JSON (`alert`, `detection`).
    pub fn name(self) -> &'static str {
        match self {
            Severity::Alert => "alert",
            Severity::Detection => "detection",
        }
    }

    /// Parses a name as [`Severity::name`] gives it.
    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "alert" => Some(Severity::Alert),
            "detection" => Some(Severity::Detection),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_kind_and_alerts_sort_first() {
        assert_eq!(Severity::default_for("intrusion", "x"), Severity::Alert);
        assert_eq!(
            Severity::default_for("line_crossing", "x"),
            Severity::Detection
        );
        assert_eq!(Severity::default_for("loitering", "x"), Severity::Detection);
        assert_eq!(
            Severity::default_for("onvif_event", "onvif_tamper"),
            Severity::Alert
        );
        assert_eq!(
            Severity::default_for("camera_health", "health_covered"),
            Severity::Alert
        );
        assert_eq!(
            Severity::default_for("camera_health", "health_ir_mode"),
            Severity::Detection
        );
        assert!(Severity::Alert > Severity::Detection);
        assert_eq!(Severity::parse("alert"), Some(Severity::Alert));
        assert_eq!(Severity::parse("loud"), None);
    }
}
