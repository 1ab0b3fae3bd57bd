//! PTZ autotracking of one camera (`[[camera]] autotrack = {...}`): keep a tracked object centred by moving
//! the camera, and go back to a preset when it is gone.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

/// `autotrack = { preset = "home", classes = ["person"], return_after = "10s" }` on a `[[camera]]` with an
/// `onvif` address that is analysed: the camera follows the longest-followed object of `classes` with
/// continuous pan and tilt moves proportional to its distance from the centre, stops when it is centred,
/// and goes to `preset` once nothing of `classes` has been seen for `return_after` (and at start).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AutotrackConfig {
    /// The preset (token or name, as `vigil onvif ptz --presets` lists them) the camera waits at and goes
    /// back to.
    pub preset: String,
    /// The classes followed (default `["person"]`).
    #[serde(default = "AutotrackConfig::default_classes")]
    pub classes: Vec<String>,
    /// How long the target may be gone before the camera goes back to `preset` (seconds, or a text with a
    /// unit: `"10s"`, `"500ms"`, `"2m"`; default 10 s).
    #[serde(
        default = "AutotrackConfig::default_return_after",
        deserialize_with = "de_duration",
        serialize_with = "ser_duration"
    )]
    pub return_after: Duration,
    /// Pan/tilt speed (ONVIF's -1..1 velocity space) asked for when the target is at the edge of the
    /// picture; nearer the centre the speed falls in proportion (default 0.5). Raise it for a camera that
    /// turns slowly, lower it for one that overshoots.
    #[serde(default = "AutotrackConfig::default_speed")]
    pub speed: f64,
    /// How far from the centre (a share of the picture's half-width and half-height, 0..1) the target may
    /// be before the camera moves (default 0.15).
    #[serde(default = "AutotrackConfig::default_dead_zone")]
    pub dead_zone: f64,
}

impl AutotrackConfig {
    fn default_classes() -> Vec<String> {
        vec!["person".into()]
    }

    fn default_return_after() -> Duration {
        Duration::from_secs(10)
    }

    fn default_speed() -> f64 {
        0.5
    }

    fn default_dead_zone() -> f64 {
        0.15
    }

    /// What is wrong with these settings (field name, message), if anything.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.preset.trim().is_empty() {
            out.push(("preset", "autotrack needs a preset to wait at".to_string()));
        }
        if self.classes.is_empty() || self.classes.iter().any(|c| c.trim().is_empty()) {
            out.push((
                "classes",
                "autotrack needs at least one class to follow (e.g. [\"person\"])".to_string(),
            ));
        }
        if self.return_after < Duration::from_secs(1)
            || self.return_after > Duration::from_secs(3600)
        {
            out.push((
                "return_after",
                format!(
                    "return_after is {:.1} s; it must be between 1 s and 1 h",
                    self.return_after.as_secs_f64()
                ),
            ));
        }
        if !(self.speed > 0.0 && self.speed <= 1.0) {
            out.push((
                "speed",
                format!("speed is {}; it must be above 0 and at most 1", self.speed),
            ));
        }
        if !(0.0..0.9).contains(&self.dead_zone) {
            out.push((
                "dead_zone",
                format!(
                    "dead_zone is {}; it must be at least 0 and below 0.9",
                    self.dead_zone
                ),
            ));
        }
        out
    }
}

/// Parses a duration: a number of seconds, or a number with a unit `ms`, `s`, `m`/`min` or `h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!("invalid duration {text:?}: write seconds or e.g. \"10s\", \"500ms\"")
    })?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1000.0,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => {
            return Err(format!(
                "invalid duration {text:?}: unknown unit {other:?} (use ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("invalid duration {text:?}"))
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(f64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Seconds(s) => Duration::try_from_secs_f64(s)
            .map_err(|_| serde::de::Error::custom(format!("invalid duration {s}"))),
        Raw::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
    }
}

fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    match d.subsec_millis() {
        0 => s.serialize_str(&format!("{}s", d.as_secs())),
        _ => s.serialize_str(&format!("{}ms", d.as_millis())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Serialize)]
    struct Camera {
        autotrack: AutotrackConfig,
    }

    #[test]
    fn defaults_units_and_round_trip() {
        let c: Camera = toml::from_str(r#"autotrack = { preset = "home" }"#).unwrap();
        assert_eq!(c.autotrack.classes, vec!["person".to_string()]);
        assert_eq!(c.autotrack.return_after, Duration::from_secs(10));
        assert!(c.autotrack.problems().is_empty());
        for (text, ms) in [
            ("\"10s\"", 10_000),
            ("\"500ms\"", 500),
            ("\"2m\"", 120_000),
            ("3", 3_000),
            ("2.5", 2_500),
        ] {
            let c: Camera = toml::from_str(&format!(
                "autotrack = {{ preset = \"p\", return_after = {text} }}"
            ))
            .unwrap();
            assert_eq!(c.autotrack.return_after.as_millis(), ms, "{text}");
        }
        let c: Camera = toml::from_str(
            r#"autotrack = { preset = "p", return_after = "1500ms", classes = ["car"] }"#,
        )
        .unwrap();
        let back: Camera = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(back.autotrack, c.autotrack);
    }

    #[test]
    fn bad_values_are_named() {
        let err = toml::from_str::<Camera>(
            r#"autotrack = { preset = "p", return_after = "10 parsecs" }"#,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("unknown unit"), "{err}");
        assert!(toml::from_str::<Camera>(r#"autotrack = { preset = "p", zoom = true }"#).is_err());
        let c: Camera = toml::from_str(
            r#"autotrack = { preset = " ", classes = [], return_after = "0.2s", speed = 2, dead_zone = 0.95 }"#,
        )
        .unwrap();
        let fields: Vec<&str> = c.autotrack.problems().iter().map(|p| p.0).collect();
        assert_eq!(
            fields,
            ["preset", "classes", "return_after", "speed", "dead_zone"]
        );
    }
}
