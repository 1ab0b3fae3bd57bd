//! PTZ autotracking: keep a tracked object centred by moving the camera, and go back to a preset when it is
//! gone (`[[camera]] autotrack = {...}`).
//!
//! [`Autotracker`] decides, from each analysed frame's tracked objects (the overlay frames of
//! [`vigil_bus::overlay`], boxes normalised to the picture), what the camera should do:
//! - the target is the longest-followed object of the configured classes (the earliest first seen, the
//!   larger on a tie); it is kept while the tracker follows it and given up after [`LOST_AFTER`] out of
//!   sight, when the next longest-followed one is taken;
//! - while the target's centre is farther from the picture's centre than the dead zone (a share of the
//!   half-width and half-height), the camera moves continuously with pan and tilt velocities proportional
//!   to the offset (`speed` at the picture's edge); it stops once the target is within half the dead
//!   zone (hysteresis, so that it does not chatter at the border), and at once when the target is not in
//!   the latest frame;
//! - commands are rate-limited (at most one per [`MIN_INTERVAL`]; a move is sent again only when its
//!   velocity changed by a tenth of `speed`, or after [`KEEP_ALIVE`] as a keep-alive, since every move
//!   carries a device-side timeout of [`MOVE_TIMEOUT`] so that a camera left moving stops by itself);
//! - the camera goes to the preset at start and once nothing has been followed for `return_after`.
//!
//! Zoom is left as the preset sets it. A person moving the camera (the API, the UI) holds the tracker back
//! ([`vigil_onvif::PtzLink::hold_manual`]); afterwards it tracks again, or goes back to the preset after
//! `return_after`.
//!
//! [`AutotrackTask::run`] is the per-camera thread that feeds the frames in and sends the commands
//! through the camera's [`PtzLink`]. The analysis never waits for it: frames reach it on the lossy
//! overlay broadcast (a slow tracker loses the oldest).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tracing::{debug, info, warn};
use vigil_bus::OverlayFrame;
use vigil_core::config::AutotrackConfig;
use vigil_onvif::{PtzLink, PtzVector};

/// A target out of sight this long is given up (the tracker may follow it again under a new id).
pub const LOST_AFTER: Duration = Duration::from_millis(1500);
/// The shortest time between two commands.
pub const MIN_INTERVAL: Duration = Duration::from_millis(250);
/// A move in progress is sent again after this long (its device-side timeout is longer).
pub const KEEP_ALIVE: Duration = Duration::from_secs(1);
/// The device-side timeout of every continuous move.
pub const MOVE_TIMEOUT: Duration = Duration::from_secs(2);
/// A track not seen for this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(5);
/// How often the thread looks for new frames.
const POLL: Duration = Duration::from_millis(40);

/// What the tracker asks of the camera.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PtzCommand {
    /// Continuous pan and tilt at these velocities (-1..1; positive pan is right, positive tilt up).
    Move {
        /// Pan velocity.
        pan: f64,
        /// Tilt velocity.
        tilt: f64,
    },
    /// Stop moving.
    Stop,
    /// Go to the configured preset.
    GotoPreset,
}

/// One followed object.
#[derive(Debug, Clone, Copy)]
struct Seen {
    first_ms: u64,
    last_ms: u64,
}

/// The autotracking decisions of one camera. Times are milliseconds of a monotonic clock chosen by the
/// caller.
pub struct Autotracker {
    classes: Vec<String>,
    speed: f64,
    dead_zone: f64,
    return_after_ms: u64,
    tracks: HashMap<u64, Seen>,
    target: Option<u64>,
    /// The target's centre (x, y, normalised) and when it was last seen there.
    target_at: Option<(f64, f64, u64)>,
    /// Whether the target is in the latest frame.
    in_view: bool,
    /// When something was last followed, or a person last moved the camera, or the tracker started.
    active_ms: u64,
    moving: Option<(f64, f64)>,
    at_preset: bool,
    /// Go to the preset now, whatever the time (at start).
    go_home: bool,
    last_command_ms: Option<u64>,
}

impl Autotracker {
    /// A tracker with `config`'s classes, speed, dead zone and return time, started at `now_ms` (its first
    /// decision is to go to the preset).
    pub fn new(config: &AutotrackConfig, now_ms: u64) -> Self {
        Self {
            classes: config.classes.clone(),
            speed: config.speed.clamp(0.0, 1.0),
            dead_zone: config.dead_zone.clamp(0.0, 0.9),
            return_after_ms: config.return_after.as_millis() as u64,
            tracks: HashMap::new(),
            target: None,
            target_at: None,
            in_view: false,
            active_ms: now_ms,
            moving: None,
            at_preset: false,
            go_home: true,
            last_command_ms: None,
        }
    }

    /// The followed track, if any.
    pub fn target(&self) -> Option<u64> {
        self.target
    }

    /// Whether the last command sent was a move (the camera may be moving).
    pub fn moving(&self) -> bool {
        self.moving.is_some()
    }

    /// Takes in one analysed frame of this camera, seen at `now_ms`.
    pub fn observe(&mut self, frame: &OverlayFrame, now_ms: u64) {
        let mut present: Vec<(u64, f64, f64, f64)> = Vec::new();
        for o in frame
            .objects
            .iter()
            .filter(|o| self.classes.contains(&o.class))
        {
            let [x1, y1, x2, y2] = o.bbox.map(f64::from);
            let seen = self.tracks.entry(o.track).or_insert(Seen {
                first_ms: now_ms,
                last_ms: now_ms,
            });
            seen.last_ms = now_ms;
            present.push((
                o.track,
                (x1 + x2) / 2.0,
                (y1 + y2) / 2.0,
                (x2 - x1).abs() * (y2 - y1).abs(),
            ));
        }
        let forget = FORGET_AFTER.as_millis() as u64;
        self.tracks
            .retain(|_, s| now_ms.saturating_sub(s.last_ms) <= forget);
        if let Some(&(_, x, y, _)) = self.target.and_then(|t| present.iter().find(|p| p.0 == t)) {
            self.target_at = Some((x, y, now_ms));
            self.in_view = true;
            self.active_ms = now_ms;
            return;
        }
        self.in_view = false;
        let lost = self
            .target_at
            .is_none_or(|(_, _, at)| now_ms.saturating_sub(at) >= LOST_AFTER.as_millis() as u64);
        if self.target.is_some() && !lost {
            // Out of this frame: waited for a while before another is taken.
            return;
        }
        // The longest followed (earliest first seen), the larger on a tie.
        let first = |track: u64| self.tracks.get(&track).map_or(u64::MAX, |s| s.first_ms);
        let chosen = present
            .iter()
            .min_by(|a, b| first(a.0).cmp(&first(b.0)).then(b.3.total_cmp(&a.3)))
            .copied();
        match chosen {
            Some((track, x, y, _)) => {
                debug!(track, "autotrack: new target");
                self.target = Some(track);
                self.target_at = Some((x, y, now_ms));
                self.in_view = true;
                self.active_ms = now_ms;
            }
            None => {
                self.target = None;
                self.target_at = None;
            }
        }
    }

    /// What the camera should do now, if anything (nothing while the rate limit holds).
    pub fn decide(&self, now_ms: u64) -> Option<PtzCommand> {
        if self
            .last_command_ms
            .is_some_and(|t| now_ms.saturating_sub(t) < MIN_INTERVAL.as_millis() as u64)
        {
            return None;
        }
        let fresh = self
            .target_at
            .filter(|_| self.in_view)
            .filter(|(_, _, at)| now_ms.saturating_sub(*at) < LOST_AFTER.as_millis() as u64 / 2);
        let Some((x, y, _)) = fresh else {
            if self.moving.is_some() {
                return Some(PtzCommand::Stop);
            }
            let idle = now_ms.saturating_sub(self.active_ms);
            return (self.go_home || (!self.at_preset && idle >= self.return_after_ms))
                .then_some(PtzCommand::GotoPreset);
        };
        let (nx, ny) = (2.0 * (x - 0.5), 2.0 * (y - 0.5));
        let threshold = match self.moving {
            Some(_) => self.dead_zone / 2.0,
            None => self.dead_zone,
        };
        let axis = |n: f64| {
            if n.abs() > threshold {
                (self.speed * n).clamp(-1.0, 1.0)
            } else {
                0.0
            }
        };
        let (pan, tilt) = (axis(nx), -axis(ny));
        if pan == 0.0 && tilt == 0.0 {
            return self.moving.map(|_| PtzCommand::Stop);
        }
        let resend = match (self.moving, self.last_command_ms) {
            (Some((p, t)), Some(at)) => {
                (p - pan).abs().max((t - tilt).abs()) >= self.speed / 10.0
                    || now_ms.saturating_sub(at) >= KEEP_ALIVE.as_millis() as u64
            }
            _ => true,
        };
        resend.then_some(PtzCommand::Move { pan, tilt })
    }

    /// Records that `command` was carried out at `now_ms`.
    pub fn sent(&mut self, command: PtzCommand, now_ms: u64) {
        self.last_command_ms = Some(now_ms);
        match command {
            PtzCommand::Move { pan, tilt } => {
                self.moving = Some((pan, tilt));
                self.at_preset = false;
            }
            PtzCommand::Stop => self.moving = None,
            PtzCommand::GotoPreset => {
                self.moving = None;
                self.at_preset = true;
                self.go_home = false;
                self.active_ms = now_ms;
            }
        }
    }

    /// Records that a command failed at `now_ms` (tried again after the rate limit).
    pub fn failed(&mut self, now_ms: u64) {
        self.last_command_ms = Some(now_ms);
    }

    /// A person has the controls: whatever the tracker last asked is overridden, and the return to the
    /// preset counts from now.
    pub fn yield_to_person(&mut self, now_ms: u64) {
        self.moving = None;
        self.at_preset = false;
        self.go_home = false;
        self.active_ms = now_ms;
    }
}

/// One camera's autotracking thread (`vigil run`, a camera with `autotrack`).
pub struct AutotrackTask {
    /// Camera name (its overlay frames are the ones followed).
    pub camera: String,
    /// Its PTZ, shared with the API.
    pub link: Arc<PtzLink>,
    /// Its settings.
    pub config: AutotrackConfig,
    /// The analysis' overlay frames (subscribed before the analysis starts: the analysis only sends
    /// frames while someone listens).
    pub frames: broadcast::Receiver<Arc<OverlayFrame>>,
    /// Set to end the thread (the camera is stopped first if the tracker moved it).
    pub stop: Arc<AtomicBool>,
}

impl AutotrackTask {
    /// Follows the camera's targets until told to stop.
    pub fn run(mut self) {
        let origin = Instant::now();
        let now = || origin.elapsed().as_millis() as u64;
        let mut tracker = Autotracker::new(&self.config, now());
        let mut preset: Option<String> = None;
        let mut failing = false;
        info!(camera = %self.camera, preset = %self.config.preset, classes = ?self.config.classes, "autotracking");
        loop {
            if self.stop.load(Ordering::Relaxed) {
                if tracker.moving()
                    && let Err(e) = self.link.call(|p| p.stop())
                {
                    warn!(camera = %self.camera, "autotrack: stopping the camera at the end: {e}");
                }
                return;
            }
            loop {
                match self.frames.try_recv() {
                    Ok(f) if f.camera == self.camera => tracker.observe(&f, now()),
                    Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                    Err(broadcast::error::TryRecvError::Empty) => break,
                    Err(broadcast::error::TryRecvError::Closed) => return,
                }
            }
            if self.link.manual() {
                tracker.yield_to_person(now());
            } else if let Some(command) = tracker.decide(now()) {
                match self.send(command, &mut preset) {
                    Ok(()) => {
                        tracker.sent(command, now());
                        if std::mem::take(&mut failing) {
                            info!(camera = %self.camera, "autotrack: the camera answers again");
                        }
                    }
                    Err(e) => {
                        tracker.failed(now());
                        if failing {
                            debug!(camera = %self.camera, ?command, "autotrack: {e}");
                        } else {
                            warn!(camera = %self.camera, ?command, "autotrack: {e} (further failures are logged at debug level)");
                            failing = true;
                        }
                    }
                }
            }
            std::thread::sleep(POLL);
        }
    }

    /// Carries out one command; the preset's token is looked up once (by token or name).
    fn send(&self, command: PtzCommand, preset: &mut Option<String>) -> Result<(), String> {
        let r = match command {
            PtzCommand::Move { pan, tilt } => self
                .link
                .call(|p| p.continuous_move(PtzVector::pan_tilt(pan, tilt), Some(MOVE_TIMEOUT))),
            PtzCommand::Stop => self.link.call(|p| p.stop()),
            PtzCommand::GotoPreset => {
                let token = match preset.clone() {
                    Some(t) => t,
                    None => {
                        let found = self
                            .link
                            .call(|p| p.find_preset(&self.config.preset))
                            .map_err(|e| e.to_string())?;
                        let Some(found) = found else {
                            return Err(format!(
                                "the camera has no preset {:?} (`vigil onvif ptz --presets` lists them)",
                                self.config.preset
                            ));
                        };
                        *preset = Some(found.token.clone());
                        found.token
                    }
                };
                let r = self.link.call(|p| p.goto_preset(&token));
                if r.is_err() {
                    *preset = None;
                }
                r
            }
        };
        r.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_bus::OverlayObject;

    fn config() -> AutotrackConfig {
        AutotrackConfig {
            preset: "home".into(),
            classes: vec!["person".into()],
            return_after: Duration::from_secs(10),
            speed: 0.5,
            dead_zone: 0.15,
        }
    }

    fn frame(objects: &[(u64, &str, [f32; 4])]) -> OverlayFrame {
        OverlayFrame {
            camera: "ptz".into(),
            unix_ms: 0,
            objects: objects
                .iter()
                .map(|&(track, class, bbox)| OverlayObject {
                    track,
                    class: class.into(),
                    score: 0.9,
                    bbox,
                    matched: true,
                })
                .collect(),
        }
    }

    /// A box of 0.1 x 0.3 centred at (x, y).
    fn at(x: f32, y: f32) -> [f32; 4] {
        [x - 0.05, y - 0.15, x + 0.05, y + 0.15]
    }

    fn step(t: &mut Autotracker, f: &OverlayFrame, now: u64) -> Option<PtzCommand> {
        t.observe(f, now);
        let c = t.decide(now);
        if let Some(c) = c {
            t.sent(c, now);
        }
        c
    }

    #[test]
    fn goes_to_the_preset_first_then_follows_in_proportion_and_stops_when_centred() {
        let mut t = Autotracker::new(&config(), 0);
        assert_eq!(t.decide(0), Some(PtzCommand::GotoPreset));
        t.sent(PtzCommand::GotoPreset, 0);
        assert_eq!(t.decide(300), None, "waits at the preset");
        // A person right of and below the centre: pan right, tilt down, in proportion.
        let c = step(&mut t, &frame(&[(7, "person", at(0.9, 0.7))]), 1000);
        match c {
            Some(PtzCommand::Move { pan, tilt }) => {
                assert!((pan - 0.5 * 0.8).abs() < 1e-6, "{pan}");
                assert!((tilt + 0.5 * 0.4).abs() < 1e-6, "{tilt}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(t.target(), Some(7));
        // Rate-limited: nothing 100 ms later; the same speed is not sent again before the keep-alive.
        assert_eq!(
            step(&mut t, &frame(&[(7, "person", at(0.9, 0.7))]), 1100),
            None
        );
        assert_eq!(
            step(&mut t, &frame(&[(7, "person", at(0.9, 0.7))]), 1400),
            None
        );
        assert!(matches!(
            step(&mut t, &frame(&[(7, "person", at(0.9, 0.7))]), 2100),
            Some(PtzCommand::Move { .. })
        ));
        // Nearer: slower. Inside the dead zone but outside its half: the tilt stops, the pan goes on.
        match step(&mut t, &frame(&[(7, "person", at(0.6, 0.53))]), 2400) {
            Some(PtzCommand::Move { pan, tilt }) => {
                assert!((pan - 0.1).abs() < 1e-6, "{pan}");
                assert_eq!(tilt, 0.0);
            }
            other => panic!("{other:?}"),
        }
        // Centred: stop.
        assert_eq!(
            step(&mut t, &frame(&[(7, "person", at(0.52, 0.5))]), 2700),
            Some(PtzCommand::Stop)
        );
        // Within the dead zone while still: no move.
        assert_eq!(
            step(&mut t, &frame(&[(7, "person", at(0.56, 0.5))]), 3000),
            None
        );
    }

    #[test]
    fn follows_the_longest_followed_of_its_classes_and_keeps_it() {
        let mut t = Autotracker::new(&config(), 0);
        t.sent(PtzCommand::GotoPreset, 0);
        t.observe(&frame(&[(1, "car", at(0.1, 0.5))]), 100);
        assert_eq!(t.target(), None, "cars are not followed");
        t.observe(&frame(&[(2, "person", at(0.2, 0.5))]), 200);
        t.observe(
            &frame(&[(3, "person", at(0.8, 0.5)), (2, "person", at(0.2, 0.5))]),
            300,
        );
        assert_eq!(t.target(), Some(2));
        // Track 2 out of a few frames: kept (not switched to 3) until LOST_AFTER.
        t.observe(&frame(&[(3, "person", at(0.8, 0.5))]), 400);
        assert_eq!(t.target(), Some(2));
        assert_eq!(t.decide(400), None, "not steered towards the other one");
        t.observe(&frame(&[(3, "person", at(0.8, 0.5))]), 2000);
        assert_eq!(t.target(), Some(3));
        // Among new ones, the larger wins a tie.
        let mut t = Autotracker::new(&config(), 0);
        t.observe(
            &frame(&[
                (5, "person", at(0.3, 0.5)),
                (6, "person", [0.6, 0.2, 0.9, 0.9]),
            ]),
            0,
        );
        assert_eq!(t.target(), Some(6));
    }

    #[test]
    fn stops_when_the_target_leaves_and_goes_back_after_return_after() {
        let mut t = Autotracker::new(&config(), 0);
        t.sent(PtzCommand::GotoPreset, 0);
        assert!(matches!(
            step(&mut t, &frame(&[(7, "person", at(0.9, 0.5))]), 1000),
            Some(PtzCommand::Move { .. })
        ));
        // The analysis sends one empty frame when the objects are gone: stop at once.
        assert_eq!(step(&mut t, &frame(&[]), 1300), Some(PtzCommand::Stop));
        assert_eq!(t.decide(5000), None);
        assert_eq!(t.decide(10_900), None, "9.9 s without a target");
        assert_eq!(t.decide(11_000), Some(PtzCommand::GotoPreset));
        t.sent(PtzCommand::GotoPreset, 11_000);
        assert_eq!(t.decide(30_000), None, "once");
        // A stalled analysis (no frames at all) stops a move too.
        assert!(matches!(
            step(&mut t, &frame(&[(8, "person", at(0.1, 0.5))]), 31_000),
            Some(PtzCommand::Move { .. })
        ));
        assert_eq!(t.decide(31_900), Some(PtzCommand::Stop));
    }

    #[test]
    fn a_person_at_the_controls_holds_it_back_and_resets_the_return() {
        let mut t = Autotracker::new(&config(), 0);
        t.sent(PtzCommand::GotoPreset, 0);
        assert!(step(&mut t, &frame(&[(7, "person", at(0.9, 0.5))]), 1000).is_some());
        t.yield_to_person(2000);
        assert!(!t.moving());
        t.observe(&frame(&[]), 2100);
        assert_eq!(t.decide(11_000), None);
        assert_eq!(t.decide(12_000), Some(PtzCommand::GotoPreset));
    }
}
