//! Helpers for synthetic track scenarios: a 1920x1080 camera at 10 analysed frames per second, objects
//! placed by the normalized position of their reference point (bottom centre).

#![allow(dead_code)]

use vigil_core::{BBox, Event, EventPhase, Time90k, TrackedObject};
use vigil_rules::{FrameContext, RuleEngine, RulesConfig};

/// COCO's first classes, in class-id order.
pub const CLASSES: [&str; 8] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
];
pub const W: u32 = 1920;
pub const H: u32 = 1080;
/// Friday 2024-06-07 12:00:00 UTC.
pub const T0: i64 = 1_717_761_600_000;
pub const FRAME_MS: i64 = 100;

pub fn config(toml_text: &str) -> RulesConfig {
    toml::from_str(toml_text).unwrap_or_else(|e| panic!("config does not parse: {e}"))
}

pub fn engine(toml_text: &str) -> RuleEngine {
    RuleEngine::new("front", &config(toml_text), &CLASSES).unwrap()
}

/// A person-sized box whose bottom centre is at normalized (x, y).
pub fn obj(id: u64, class_id: u16, x: f32, y: f32) -> TrackedObject {
    obj_scored(id, class_id, x, y, 0.9)
}

pub fn obj_scored(id: u64, class_id: u16, x: f32, y: f32, score: f32) -> TrackedObject {
    let (px, py) = (x * W as f32, y * H as f32);
    TrackedObject {
        id,
        bbox: BBox::new(px - 30.0, py - 160.0, px + 30.0, py),
        score,
        class_id,
        age: 10,
        matched: true,
    }
}

pub fn person(id: u64, x: f32, y: f32) -> TrackedObject {
    obj(id, 0, x, y)
}

/// Runs frames through an engine, keeping time and every event emitted.
pub struct Sim {
    pub engine: RuleEngine,
    pub t: i64,
    pub events: Vec<Event>,
}

impl Sim {
    pub fn new(toml_text: &str) -> Self {
        Self::at(toml_text, T0)
    }

    pub fn at(toml_text: &str, t0: i64) -> Self {
        Self {
            engine: engine(toml_text),
            t: t0,
            events: Vec::new(),
        }
    }

    /// One frame with these objects; time advances by one frame afterwards.
    pub fn frame(&mut self, objs: &[TrackedObject]) -> Vec<Event> {
        let ctx = FrameContext {
            time_unix_ms: self.t,
            media_time: Time90k((self.t - T0) * 90),
            frame_w: W,
            frame_h: H,
        };
        let ev = self.engine.update(&ctx, objs);
        self.events.extend(ev.iter().cloned());
        self.t += FRAME_MS;
        ev
    }

    /// One frame with these objects and motion boxes (normalized `x1, y1, x2, y2`), the rules and their
    /// second opinion both run; time advances by one frame afterwards.
    pub fn frame_with_motion(
        &mut self,
        objs: &[TrackedObject],
        motion: &[(f32, f32, f32, f32)],
    ) -> Vec<Event> {
        let ctx = FrameContext {
            time_unix_ms: self.t,
            media_time: Time90k((self.t - T0) * 90),
            frame_w: W,
            frame_h: H,
        };
        let (w, h) = (W as f32, H as f32);
        let boxes: Vec<BBox> = motion
            .iter()
            .map(|&(a, b, c, d)| BBox::new(a * w, b * h, c * w, d * h))
            .collect();
        let mut ev = self.engine.update(&ctx, objs);
        ev.extend(self.engine.unclassified(&ctx, &boxes, objs));
        self.events.extend(ev.iter().cloned());
        self.t += FRAME_MS;
        ev
    }

    /// `n` frames, the objects of each given by `f(frame index)`.
    pub fn run(&mut self, n: usize, mut f: impl FnMut(usize) -> Vec<TrackedObject>) {
        for i in 0..n {
            let objs = f(i);
            self.frame(&objs);
        }
    }

    /// Empty frames for `secs` seconds.
    pub fn idle(&mut self, secs: f32) {
        self.run((secs * 1000.0 / FRAME_MS as f32) as usize, |_| vec![]);
    }

    pub fn phases(&self, rule: &str) -> Vec<EventPhase> {
        self.events
            .iter()
            .filter(|e| e.rule == rule)
            .map(|e| e.phase)
            .collect()
    }

    pub fn count(&self, rule: &str, phase: EventPhase) -> usize {
        self.events
            .iter()
            .filter(|e| e.rule == rule && e.phase == phase)
            .count()
    }

    pub fn last_of(&self, rule: &str) -> &Event {
        self.events
            .iter()
            .rev()
            .find(|e| e.rule == rule)
            .unwrap_or_else(|| panic!("no event of rule {rule}"))
    }
}

/// Linear interpolation of a path from a to b over `n` frames (frame 0 at a, frame n-1 at b).
pub fn lerp(a: (f32, f32), b: (f32, f32), i: usize, n: usize) -> (f32, f32) {
    let t = if n <= 1 {
        1.0
    } else {
        i as f32 / (n - 1) as f32
    };
    (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t)
}

/// Walks person `id` through the bottom-centre `points` (normalized), `frames_per_leg` frames per leg.
pub fn walk(sim: &mut Sim, id: u64, points: &[(f32, f32)], frames_per_leg: usize) {
    for leg in points.windows(2) {
        sim.run(frames_per_leg, |i| {
            let (x, y) = lerp(leg[0], leg[1], i, frames_per_leg);
            vec![person(id, x, y)]
        });
    }
}
