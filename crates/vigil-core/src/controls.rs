//! A camera's switches: object detection and recording, each on or off, flipped at run time (from Home
//! Assistant through MQTT, see `vigil-alert`) and obeyed by the camera's analysis and recording. A shared
//! pair of flags: reading one is an atomic load, cheap enough for every frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A camera switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Switch {
    /// Object detection (and so rules, events and alerts) on the camera's analysis stream.
    Detection,
    /// Recording of the camera's main stream.
    Recording,
}

impl Switch {
    /// Both switches.
    pub const ALL: [Switch; 2] = [Switch::Detection, Switch::Recording];

    /// `detection` or `recording`.
    pub fn name(self) -> &'static str {
        match self {
            Switch::Detection => "detection",
            Switch::Recording => "recording",
        }
    }

    /// The switch a name names.
    pub fn from_name(name: &str) -> Option<Switch> {
        Switch::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// One camera's switches, shared between whoever flips them and the threads that obey them; cheap to
/// clone. Both are on by default.
#[derive(Debug, Clone)]
pub struct CameraControls {
    detection: Arc<AtomicBool>,
    recording: Arc<AtomicBool>,
}

impl Default for CameraControls {
    fn default() -> Self {
        Self {
            detection: Arc::new(AtomicBool::new(true)),
            recording: Arc::new(AtomicBool::new(true)),
        }
    }
}

impl CameraControls {
    /// True while objects are to be detected on the camera.
    pub fn detection(&self) -> bool {
        self.get(Switch::Detection)
    }

    /// True while the camera is to be recorded.
    pub fn recording(&self) -> bool {
        self.get(Switch::Recording)
    }

    /// A switch's position.
    pub fn get(&self, switch: Switch) -> bool {
        self.flag(switch).load(Ordering::Relaxed)
    }

    /// Sets a switch; returns its previous position.
    pub fn set(&self, switch: Switch, on: bool) -> bool {
        self.flag(switch).swap(on, Ordering::Relaxed)
    }

    fn flag(&self, switch: Switch) -> &AtomicBool {
        match switch {
            Switch::Detection => &self.detection,
            Switch::Recording => &self.recording,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_switches() {
        let a = CameraControls::default();
        let b = a.clone();
        assert!(b.detection() && b.recording());
        assert!(a.set(Switch::Recording, false));
        assert!(!b.recording() && b.detection());
        assert_eq!(Switch::from_name("detection"), Some(Switch::Detection));
        assert_eq!(Switch::from_name("lights"), None);
    }
}
