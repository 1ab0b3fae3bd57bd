//! Per-camera switches that Home Assistant (or anything that can publish on MQTT) flips: object detection
//! and recording, each on or off. The analysis and recorder threads read them through
//! [`CameraControls`] (from `vigil-core`, an atomic load per frame); a command on `P/<camera>/<switch>/set`
//! changes them and the new position is reported back on the retained `P/<camera>/<switch>/state`.
//!
//! Positions are kept across restarts in `alert-controls.json` in the data directory (written through a
//! temporary file and a rename, so a crash leaves the old or the new file, never half of one). A camera
//! not in the file starts with both switches on.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
pub use vigil_core::{CameraControls, Switch};

/// File name of the switch positions in the data directory.
pub const CONTROLS_FILE: &str = "alert-controls.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Saved {
    detection: bool,
    recording: bool,
}

/// Every camera's switches, and where their positions are kept.
#[derive(Debug, Default)]
pub(crate) struct Controls {
    cameras: Mutex<BTreeMap<String, CameraControls>>,
    file: Option<PathBuf>,
}

impl Controls {
    /// The switches kept in `dir/alert-controls.json` (none kept when `dir` is `None`). An unreadable or
    /// damaged file is reported and ignored: every switch starts on.
    pub fn load(dir: Option<&Path>) -> Self {
        let file = dir.map(|d| d.join(CONTROLS_FILE));
        let mut cameras = BTreeMap::new();
        if let Some(path) = &file {
            match std::fs::read(path) {
                Ok(bytes) => match serde_json::from_slice::<BTreeMap<String, Saved>>(&bytes) {
                    Ok(saved) => {
                        for (camera, s) in saved {
                            let c = CameraControls::default();
                            c.set(Switch::Detection, s.detection);
                            c.set(Switch::Recording, s.recording);
                            cameras.insert(camera, c);
                        }
                    }
                    Err(e) => tracing::warn!(
                        file = %path.display(),
                        "camera switches file is damaged ({e}); every switch starts on"
                    ),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(
                    file = %path.display(),
                    "camera switches file unreadable ({e}); every switch starts on"
                ),
            }
        }
        Self {
            cameras: Mutex::new(cameras),
            file,
        }
    }

    /// A camera's switches (created on first use, on).
    pub fn camera(&self, camera: &str) -> CameraControls {
        let mut map = self.cameras.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(camera.to_string()).or_default().clone()
    }

    /// The camera among those known whose name slugs to `slug`.
    pub fn find_slug(&self, slug: &str) -> Option<String> {
        let map = self.cameras.lock().unwrap_or_else(|p| p.into_inner());
        map.keys()
            .find(|c| crate::payload::slug(c) == slug)
            .cloned()
    }

    /// Sets a switch; returns true when it changed (and then saves every position).
    pub fn set(&self, camera: &str, switch: Switch, on: bool) -> bool {
        let mut map = self.cameras.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.entry(camera.to_string()).or_default();
        if c.set(switch, on) == on {
            return false;
        }
        let saved: BTreeMap<&str, Saved> = map
            .iter()
            .map(|(k, c)| {
                (
                    k.as_str(),
                    Saved {
                        detection: c.detection(),
                        recording: c.recording(),
                    },
                )
            })
            .collect();
        // Saved under the lock: two commands at once write in the order they were applied.
        if let Some(path) = &self.file
            && let Err(e) = save(path, &saved)
        {
            tracing::warn!(
                file = %path.display(),
                "camera switch positions not saved ({e}); they hold until the next restart"
            );
        }
        true
    }
}

fn save(path: &Path, saved: &BTreeMap<&str, Saved>) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(saved).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_survive_a_restart_and_a_damaged_file_starts_everything_on() {
        let dir = tempfile::tempdir().unwrap();
        let c = Controls::load(Some(dir.path()));
        let front = c.camera("Front door");
        assert!(front.detection() && front.recording());
        assert!(c.set("Front door", Switch::Detection, false));
        assert!(!c.set("Front door", Switch::Detection, false), "no change");
        assert!(!front.detection(), "the shared flag follows");
        assert!(front.recording());

        let again = Controls::load(Some(dir.path()));
        assert!(!again.camera("Front door").detection());
        assert!(again.camera("Front door").recording());
        assert!(again.camera("Yard").detection());
        assert_eq!(again.find_slug("front_door").as_deref(), Some("Front door"));

        std::fs::write(dir.path().join(CONTROLS_FILE), b"{not json").unwrap();
        assert!(
            Controls::load(Some(dir.path()))
                .camera("Front door")
                .detection()
        );
    }
}
