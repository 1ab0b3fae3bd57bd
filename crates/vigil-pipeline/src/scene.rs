//! The scene model live (`scene_anomaly` events): each person track of an analysed frame is described
//! as `vigil anomaly` describes it ([`vigil_vision::anomaly::FeatureTracker`]) and scored against the
//! camera's [`SceneModel`], loaded from `vigil anomaly learn`'s output or learned from the camera's own
//! frames. A person whose most surprising feature stays above `threshold` for `min_duration` starts an
//! event naming the feature and the learned normal ("speed 4.2 body heights/s where 95% of people move
//! below 1.5"); it ends once every feature has been below `release` as long, or the track is gone. After
//! an event starts, no other starts on the camera for `cooldown` (one running child is one event, not
//! one per frame or per track the tracker splits them into).
//!
//! Live, the motion field is not measured (it would cost a block matching per frame), so `inner` and
//! `free` do not score here; `size`, `speed`, `aspect` and `dwell` do.

use crate::track_events::{end, round3, start};
use std::collections::{HashMap, VecDeque};
use tracing::info;
use vigil_core::{ClassId, Event, EventKind, TrackId, TrackedObject};
use vigil_rules::{FrameContext, IdGen, TimeZone};
use vigil_vision::anomaly::{FeatureTracker, FrameFeatures, PERSON_FEATURES, SceneModel, Tail};
use vigil_vision::flow::Field;

/// The rule name of scene anomaly events.
pub const RULE: &str = "scene_anomaly";
/// Frames with people kept to learn from (the oldest go first).
const MAX_LEARN_FRAMES: usize = 50_000;
/// Surprise of the 95th percentile: `-log10 0.05`.
const Q95: f32 = 1.301;

/// When a person is surprising enough, and how the model is learned.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneSettings {
    /// A feature's surprise (`-log10` of how rarely the normal reaches it) that starts an event.
    pub threshold: f32,
    /// Every feature below this surprise ends it.
    pub release: f32,
    /// How long (ms) the surprise must hold above `threshold` (and below `release` to end).
    pub min_duration_ms: i64,
    /// No new event on the camera this long (ms) after one started.
    pub cooldown_ms: i64,
    /// Learn from the camera's own frames (replacing a loaded model once learned).
    pub learn: bool,
    /// Analysis time (ms) before the first own model (and between relearning).
    pub learn_ms: i64,
}

/// A track above the threshold, not yet an event.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    since_ms: i64,
}

/// An open event and since when it has been quiet.
#[derive(Debug)]
struct Open {
    event: Event,
    quiet_since: Option<i64>,
}

/// A camera's scene model, judging its people live.
pub struct SceneStage {
    camera: String,
    tz: TimeZone,
    settings: SceneSettings,
    person: ClassId,
    model: Option<SceneModel>,
    features: FeatureTracker,
    learning: VecDeque<FrameFeatures>,
    /// When learning began, or the model was last learned.
    learned_ms: Option<i64>,
    candidates: HashMap<TrackId, Candidate>,
    open: HashMap<TrackId, Open>,
    last_start_ms: Option<i64>,
    ids: IdGen,
}

impl SceneStage {
    /// The scene stage of `camera` (people are class `person`), starting from `model` when given.
    pub fn new(
        camera: &str,
        tz: TimeZone,
        settings: SceneSettings,
        person: ClassId,
        model: Option<SceneModel>,
    ) -> SceneStage {
        SceneStage {
            camera: camera.to_string(),
            tz,
            settings,
            person,
            model,
            features: FeatureTracker::new(),
            learning: VecDeque::new(),
            learned_ms: None,
            candidates: HashMap::new(),
            open: HashMap::new(),
            last_start_ms: None,
            ids: IdGen::new(&format!("{camera}/scene")),
        }
    }

    /// Whether a model judges the people now.
    pub fn has_model(&self) -> bool {
        self.model.is_some()
    }

    /// One analysed frame; the events that start or end.
    pub fn observe(&mut self, ctx: &FrameContext, tracks: &[TrackedObject]) -> Vec<Event> {
        let now = ctx.time_unix_ms;
        let people: Vec<&TrackedObject> = tracks
            .iter()
            .filter(|t| t.class_id == self.person)
            .collect();
        let boxes: Vec<_> = people.iter().map(|t| (t.id, t.bbox)).collect();
        let f = self.features.frame(
            now as f64 / 1000.0,
            ctx.frame_h,
            &boxes,
            &Field::default(),
            1.0,
            1.0,
        );
        let mut out = Vec::new();
        if let Some(model) = &self.model {
            for (t, p) in people.iter().zip(&f.people) {
                let s = model.person_surprise(p);
                let (top, surprise) = s
                    .iter()
                    .copied()
                    .enumerate()
                    .fold((0, 0.0f32), |a, b| if b.1 > a.1 { b } else { a });
                if let Some(o) = self.open.get_mut(&t.id) {
                    o.quiet_since = match surprise < self.settings.release {
                        true => o.quiet_since.or(Some(now)),
                        false => None,
                    };
                    continue;
                }
                if surprise < self.settings.threshold {
                    self.candidates.remove(&t.id);
                    continue;
                }
                let c = *self
                    .candidates
                    .entry(t.id)
                    .or_insert(Candidate { since_ms: now });
                let cooling = self
                    .last_start_ms
                    .is_some_and(|l| now - l < self.settings.cooldown_ms);
                if now - c.since_ms < self.settings.min_duration_ms || cooling {
                    continue;
                }
                let value = feature_value(model, top, p);
                let kind = EventKind::SceneAnomaly {
                    feature: PERSON_FEATURES[top].to_string(),
                    value: round3(value),
                    usual_below: round3(usual_below(model, top)),
                    surprise: round3(surprise),
                    detail: explain_all(model, &s, top, p, self.settings.release),
                };
                let e = start(
                    &self.camera,
                    &mut self.ids,
                    RULE,
                    kind,
                    "person",
                    None,
                    t,
                    ctx,
                    &self.tz,
                );
                self.candidates.remove(&t.id);
                self.last_start_ms = Some(now);
                self.open.insert(
                    t.id,
                    Open {
                        event: e.clone(),
                        quiet_since: None,
                    },
                );
                out.push(e);
            }
        }
        let present: Vec<TrackId> = people.iter().map(|t| t.id).collect();
        self.candidates.retain(|id, _| present.contains(id));
        let min = self.settings.min_duration_ms;
        let done: Vec<TrackId> = self
            .open
            .iter()
            .filter(|(id, o)| {
                !present.contains(id) || o.quiet_since.is_some_and(|q| now - q >= min)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            if let Some(o) = self.open.remove(&id) {
                out.push(end(o.event, ctx, &self.tz));
            }
        }
        self.learn(now, f);
        out
    }

    /// Keeps a frame with people to learn from (not while an event is open), and learns when due.
    fn learn(&mut self, now: i64, f: FrameFeatures) {
        if !self.settings.learn {
            return;
        }
        let since = *self.learned_ms.get_or_insert(now);
        if !f.people.is_empty() && self.open.is_empty() {
            if self.learning.len() == MAX_LEARN_FRAMES {
                self.learning.pop_front();
            }
            self.learning.push_back(f);
        }
        if now - since >= self.settings.learn_ms && !self.learning.is_empty() {
            let frames: Vec<FrameFeatures> = self.learning.iter().cloned().collect();
            let people: usize = frames.iter().map(|f| f.people.len()).sum();
            self.model = Some(SceneModel::learn(&frames));
            self.learned_ms = Some(now);
            info!(
                camera = self.camera,
                frames = frames.len(),
                people,
                "scene model learned from the camera's own frames"
            );
        }
    }

    /// Ends every open event (analysis stops).
    pub fn close(&mut self, ctx: &FrameContext) -> Vec<Event> {
        self.candidates.clear();
        let open: Vec<Open> = self.open.drain().map(|(_, o)| o).collect();
        open.into_iter()
            .map(|o| end(o.event, ctx, &self.tz))
            .collect()
    }
}

/// The tail of feature `i` (in [`PERSON_FEATURES`] order).
fn tail(model: &SceneModel, i: usize) -> &Tail {
    match i {
        0 => &model.size,
        1 => &model.speed,
        2 => &model.aspect,
        3 => &model.inner,
        _ => &model.dwell,
    }
}

/// Feature `i`'s value for person `p`, as the model scores it.
fn feature_value(model: &SceneModel, i: usize, p: &vigil_vision::anomaly::PersonFeatures) -> f32 {
    match i {
        0 => (p.height.max(1e-4).ln() - (model.slope * p.feet_y + model.intercept)).abs(),
        1 => p.speed.unwrap_or(0.0),
        2 => p.aspect,
        3 => p.inner.unwrap_or(0.0),
        _ => p.dwell,
    }
}

/// The value 95% of the learned people stay below for feature `i` (found from the tail's surprise,
/// which only grows with the value).
pub fn usual_below(model: &SceneModel, i: usize) -> f32 {
    let t = tail(model, i);
    let mut hi = 1.0f32;
    while t.surprise(hi) < Q95 && hi < 1e6 {
        hi *= 2.0;
    }
    let mut lo = 0.0f32;
    for _ in 0..40 {
        let mid = (lo + hi) / 2.0;
        if t.surprise(mid) < Q95 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// The cause in plain language: the most surprising feature `top`, then any other above `also` (most
/// surprising first), each with the learned normal.
fn explain_all(
    model: &SceneModel,
    surprise: &[f32; 5],
    top: usize,
    p: &vigil_vision::anomaly::PersonFeatures,
    also: f32,
) -> String {
    let mut others: Vec<usize> = (0..5)
        .filter(|&i| i != top && surprise[i] >= also)
        .collect();
    others.sort_by(|a, b| surprise[*b].total_cmp(&surprise[*a]));
    std::iter::once(top)
        .chain(others)
        .map(|i| explain(model, i, feature_value(model, i, p), p.height))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The cause in plain language, naming the feature and the learned normal.
fn explain(model: &SceneModel, i: usize, value: f32, height: f32) -> String {
    let q = usual_below(model, i);
    match i {
        0 => format!(
            "size {:.1}x what people at this place in the picture usually measure, where 95% of \
             people are within {:.1}x",
            value.exp(),
            q.exp()
        ),
        1 => format!("speed {value:.1} body heights/s where 95% of people move below {q:.1}"),
        2 => format!(
            "shape {value:.2} wide for its height where 95% of people are below {q:.2} (bending, \
             lying or carrying something)"
        ),
        3 => format!(
            "motion inside the body {value:.1} body heights/s where 95% of people stay below {q:.1}"
        ),
        _ => format!(
            "stayed in one place {:.0} s (dwell {value:.1} weighted by size, where 95% of people \
             stay below {q:.1})",
            value / height.max(1e-3)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::{BBox, EventPhase};
    use vigil_vision::anomaly::PersonFeatures;

    /// A model of people walking at 0.2-1.0 body heights a second.
    fn walkers() -> SceneModel {
        let frames: Vec<FrameFeatures> = (0..2000)
            .map(|i| FrameFeatures {
                people: vec![PersonFeatures {
                    feet_y: 0.8,
                    height: 0.25 + 0.02 * (i % 6) as f32,
                    speed: Some(0.2 + 0.8 * (i % 100) as f32 / 100.0),
                    aspect: 0.3 + 0.02 * (i % 10) as f32,
                    inner: None,
                    dwell: 0.3 * (i % 10) as f32,
                    ..Default::default()
                }],
                free: 0.0,
                ..Default::default()
            })
            .collect();
        SceneModel::learn(&frames)
    }

    fn settings() -> SceneSettings {
        SceneSettings {
            threshold: 4.0,
            release: 2.0,
            min_duration_ms: 1000,
            cooldown_ms: 60_000,
            learn: false,
            learn_ms: 0,
        }
    }

    /// A person 144 px high (0.3 of 480) whose feet are at `x`.
    fn person(id: u64, x: f32) -> TrackedObject {
        TrackedObject {
            id,
            bbox: BBox {
                x1: x - 25.0,
                y1: 240.0,
                x2: x + 25.0,
                y2: 384.0,
            },
            score: 0.9,
            class_id: 0,
            age: 10,
            matched: true,
        }
    }

    /// `secs` of frames at 5 fps from `t0`, the person moving `px_per_s` from `x`; the events, and
    /// where the person got to.
    fn walk(s: &mut SceneStage, t0: i64, secs: i64, x: f32, px_per_s: f32) -> (Vec<Event>, f32) {
        let mut out = Vec::new();
        let mut last = x;
        for i in 0..secs * 5 {
            let ctx = FrameContext {
                time_unix_ms: t0 + i * 200,
                media_time: Default::default(),
                frame_w: 640,
                frame_h: 480,
            };
            last = x + px_per_s * i as f32 / 5.0;
            out.extend(s.observe(&ctx, &[person(1, last)]));
        }
        (out, last + px_per_s / 5.0)
    }

    #[test]
    fn a_runner_is_one_event_naming_speed_and_a_walker_is_nothing() {
        let mut s = SceneStage::new("walkway", TimeZone::utc(), settings(), 0, Some(walkers()));
        // Walking 0.5 body heights a second (72 px/s): nothing.
        let (quiet, x) = walk(&mut s, 0, 20, 60.0, 72.0);
        assert!(quiet.is_empty(), "{quiet:#?}");
        // Running 4 body heights a second: one event after the min duration, none per frame.
        let (on, x) = walk(&mut s, 20_000, 5, x, 576.0);
        assert_eq!(on.len(), 1, "{on:#?}");
        let EventKind::SceneAnomaly {
            feature, detail, ..
        } = &on[0].kind
        else {
            panic!("{:?}", on[0].kind)
        };
        assert_eq!(feature, "speed");
        assert!(
            detail.starts_with("speed 4.0 body heights/s where 95% of people move below 1.0"),
            "{detail}"
        );
        assert!(on[0].description.contains(detail.as_str()));
        // Back to walking: it ends.
        let (off, _) = walk(&mut s, 25_000, 5, x, 72.0);
        assert_eq!(off.len(), 1);
        assert_eq!(off[0].phase, EventPhase::End);
    }

    #[test]
    fn the_own_model_is_learned_after_the_learning_time() {
        let settings = SceneSettings {
            learn: true,
            learn_ms: 30_000,
            ..settings()
        };
        let mut s = SceneStage::new("walkway", TimeZone::utc(), settings, 0, None);
        let (quiet, x) = walk(&mut s, 0, 20, 60.0, 72.0);
        assert!(quiet.is_empty());
        assert!(!s.has_model());
        walk(&mut s, 20_000, 11, x, 72.0);
        assert!(s.has_model());
    }
}
