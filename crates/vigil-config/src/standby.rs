//! `[standby]`: this box as the standby of other sites (issue 15, redundancy).
//!
//! ```toml
//! [uplink]                       # the standby is a site of the hub too: it watches through it
//! site = "standby-1"
//! nats_url = "nats://hub.example:4222"
//! nkey_seed_file = "standby-1.nk"
//!
//! [[standby.primary]]
//! site = "shop-1"                # the primary's [uplink] site
//! takeover_after_s = 10          # no status from it for this long: take its cameras over
//! cameras = ["door"]             # [[camera]] entries of THIS file that belong to shop-1
//!
//! [[camera]]                     # the primary's camera, with the same name, URL and rules
//! name = "door"
//! main = "rtsp://10.0.0.20/stream1"
//! [rules.door]                   # the same rules as on the primary: the same events and alerts
//! ```
//!
//! The cameras a `[[standby.primary]]` lists are not started at boot; the running system starts them
//! when that primary stops sending its status, and stops them again when it is back
//! (`crates/vigil/src/standby.rs`, `docs/design/multisite.md` "Redundancy").

use crate::VigilConfig;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use vigil_core::config::{CameraRole, Problem, Seg, key};

/// `[standby]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandbyConfig {
    /// `[[standby.primary]]`: the sites this box stands by for.
    #[serde(default)]
    pub primary: Vec<StandbyPrimary>,
}

/// One `[[standby.primary]]`: a site this box covers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandbyPrimary {
    /// The primary's site name (its `[uplink] site`).
    pub site: String,
    /// Seconds without a status from the primary before its cameras are taken over (default 10;
    /// 2-3600). Keep it above the primary's `[uplink] heartbeat_s` (default 5).
    #[serde(default = "default_takeover")]
    pub takeover_after_s: u32,
    /// The names of this file's `[[camera]]` entries that are the primary's cameras.
    pub cameras: Vec<String>,
}

fn default_takeover() -> u32 {
    10
}

impl StandbyConfig {
    /// The primary whose cameras include `camera`.
    pub fn primary_of(&self, camera: &str) -> Option<&str> {
        self.primary
            .iter()
            .find(|p| p.cameras.iter().any(|c| c == camera))
            .map(|p| p.site.as_str())
    }

    /// Each standby camera and its primary.
    pub fn camera_primaries(&self) -> BTreeMap<String, String> {
        self.primary
            .iter()
            .flat_map(|p| p.cameras.iter().map(|c| (c.clone(), p.site.clone())))
            .collect()
    }
}

impl VigilConfig {
    /// The configuration to run while this box covers the primaries in `covering`: every standby
    /// camera of another primary is disabled (not connected, not recorded, not analysed). Unchanged
    /// when there is no `[standby]`.
    pub fn with_standby_active(&self, covering: &BTreeSet<String>) -> VigilConfig {
        let mut out = self.clone();
        for camera in &mut out.cameras {
            if let Some(primary) = self.standby.primary_of(&camera.name)
                && !covering.contains(primary)
            {
                camera.enabled = false;
            }
        }
        out
    }

    /// A standby camera records when taken over (so the store is opened even while none runs).
    pub fn standby_records(&self) -> bool {
        self.cameras.iter().any(|c| {
            c.roles.contains(&CameraRole::Record) && self.standby.primary_of(&c.name).is_some()
        })
    }
}

/// What serde cannot check in `[standby]`.
pub(crate) fn problems(config: &VigilConfig) -> Vec<Problem> {
    let mut out = Vec::new();
    let at = |i: usize, field: &str| -> Vec<Seg> {
        vec![
            key("standby"),
            key("primary"),
            Seg::Index(i),
            key(field.to_string()),
        ]
    };
    if !config.standby.primary.is_empty() && config.uplink.is_none() {
        out.push(Problem::new(
            vec![key("standby")],
            "a standby watches its primaries through the hub: [uplink] must be set",
        ));
    }
    let own = config.uplink.as_ref().map(|u| u.site.as_str());
    let mut sites = BTreeSet::new();
    let mut taken: BTreeMap<&str, &str> = BTreeMap::new();
    for (i, p) in config.standby.primary.iter().enumerate() {
        if let Err(e) = vigil_uplink::wire::check_site_name(&p.site) {
            out.push(Problem::new(at(i, "site"), e.to_string()));
        }
        if Some(p.site.as_str()) == own {
            out.push(Problem::new(
                at(i, "site"),
                "a box cannot stand by for itself ([uplink] site)",
            ));
        }
        if !sites.insert(p.site.as_str()) {
            out.push(Problem::new(
                at(i, "site"),
                format!("primary {:?} is listed twice", p.site),
            ));
        }
        if !(2..=3600).contains(&p.takeover_after_s) {
            out.push(Problem::new(
                at(i, "takeover_after_s"),
                "must be 2-3600 seconds",
            ));
        }
        if p.cameras.is_empty() {
            out.push(Problem::new(
                at(i, "cameras"),
                "list the [[camera]] names this box takes over for the primary",
            ));
        }
        for (j, camera) in p.cameras.iter().enumerate() {
            let field = || {
                let mut f = at(i, "cameras");
                f.push(Seg::Index(j));
                f
            };
            if !config.cameras.iter().any(|c| &c.name == camera) {
                out.push(Problem::new(
                    field(),
                    format!("no [[camera]] is named {camera:?}"),
                ));
            }
            if let Some(other) = taken.insert(camera.as_str(), p.site.as_str()) {
                out.push(Problem::new(
                    field(),
                    format!("camera {camera:?} already stands by for {other:?}"),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "[uplink]\nsite = \"standby-1\"\nnats_url = \"nats://127.0.0.1:4222\"\n\
        [[camera]]\nname = \"own\"\nmain = \"rtsp://10.0.0.1/a\"\n\
        [[camera]]\nname = \"door\"\nmain = \"rtsp://10.0.0.2/a\"\n";

    #[test]
    fn standby_cameras_start_only_while_their_primary_is_covered() {
        let text = format!("{BASE}[[standby.primary]]\nsite = \"shop-1\"\ncameras = [\"door\"]\n");
        let c = VigilConfig::parse(&text, "t").unwrap();
        assert_eq!(c.standby.primary[0].takeover_after_s, 10);
        assert_eq!(c.standby.primary_of("door"), Some("shop-1"));
        let idle = c.with_standby_active(&BTreeSet::new());
        let enabled: Vec<_> = idle.recording_cameras().map(|c| c.name.as_str()).collect();
        assert_eq!(enabled, ["own"]);
        let covering = c.with_standby_active(&BTreeSet::from(["shop-1".to_string()]));
        assert_eq!(covering.recording_cameras().count(), 2);
        assert!(c.standby_records());
    }

    #[test]
    fn mistakes_are_reported() {
        for (extra, why) in [
            (
                "[[standby.primary]]\nsite = \"shop-1\"\ncameras = [\"nope\"]\n",
                "no [[camera]] is named",
            ),
            (
                "[[standby.primary]]\nsite = \"standby-1\"\ncameras = [\"door\"]\n",
                "stand by for itself",
            ),
            (
                "[[standby.primary]]\nsite = \"a\"\ncameras = [\"door\"]\n\
                 [[standby.primary]]\nsite = \"b\"\ncameras = [\"door\"]\n",
                "already stands by",
            ),
            (
                "[[standby.primary]]\nsite = \"a\"\ntakeover_after_s = 1\ncameras = [\"door\"]\n",
                "2-3600",
            ),
        ] {
            let err = VigilConfig::parse(&format!("{BASE}{extra}"), "t")
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{extra}: {err}");
        }
        let no_uplink = "[[camera]]\nname = \"door\"\nmain = \"rtsp://10.0.0.2/a\"\n\
            [[standby.primary]]\nsite = \"a\"\ncameras = [\"door\"]\n";
        let err = VigilConfig::parse(no_uplink, "t").unwrap_err().to_string();
        assert!(err.contains("[uplink] must be set"), "{err}");
    }
}
