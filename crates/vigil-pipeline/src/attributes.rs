//! Attributes of each track as the analysis follows it ([`Attributes`]): the colours of a person's upper
//! and lower body or of a vehicle's body, voted over a few good looks (a fresh detection with a good
//! score, the box whole inside the frame and not covered by another, in the BGR frame the detector saw:
//! no extra conversion), the median size and speed, the overall direction and the zones visited. Events
//! about a track carry its attributes ([`AttributeStage::fill`]) and so does its path when it ends
//! ([`AttributeStage::complete`]). See `docs/attributes.md`.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};
use vigil_core::{
    Attributes, BBox, BgrImage, Colour, Event, Heading, TrackId, TrackPath, TrackedObject,
};
use vigil_rules::{FrameContext, ZoneOccupancy};
use vigil_vision::colour::{Part, frame_has_colour, name_part};

/// Colour looks per track at most.
pub const MAX_LOOKS: u32 = 8;
/// Looks at a track at least this far apart (different poses, not the same frame twice).
pub const LOOK_EVERY_MS: i64 = 500;
/// Least detection score of a look.
pub const MIN_SCORE: f32 = 0.5;
/// Least box height of a look, in pixels (a person's bands are then at least ~10 rows).
pub const MIN_HEIGHT_PX: f32 = 40.0;
/// A box within this many pixels of the frame's edge may be cut off: its bands would be wrong.
const EDGE_PX: f32 = 2.0;
/// A box covered by another track's box over more than this share of its area is not looked at.
const MAX_COVERED: f32 = 0.2;
/// A track unseen this long is over (as its path, [`crate::paths::GONE_MS`]).
const GONE_MS: i64 = crate::paths::GONE_MS;
/// Ended tracks whose attributes are kept for the events that end after them.
const KEEP_ENDED: usize = 512;
/// Speed is measured over steps at least this long.
const SPEED_STEP_MS: i64 = 400;
/// Size and speed samples kept per track at most (halved when full).
const MAX_SAMPLES: usize = 256;
/// Displacement (in frame widths/heights) under which a track is `still`.
const STILL: f32 = 0.1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Person,
    Vehicle,
    Other,
}

impl Kind {
    fn of(class: &str) -> Kind {
        match class {
            "person" | "pedestrian" => Kind::Person,
            "car" | "truck" | "bus" | "motorcycle" | "motorbike" | "van" | "vehicle" => {
                Kind::Vehicle
            }
            _ => Kind::Other,
        }
    }
}

#[derive(Default)]
struct TrackState {
    last_ms: i64,
    first: Option<(f32, f32)>,
    latest: (f32, f32),
    step_from: Option<(i64, f32, f32)>,
    heights: Vec<f32>,
    speeds: Vec<f32>,
    zones: Vec<String>,
    looks: u32,
    last_look_ms: Option<i64>,
    /// Votes per part (upper, lower, body), weighted by each look's share.
    votes: [[f32; Colour::ALL.len()]; 3],
}

/// One camera's attributes being gathered.
pub struct AttributeStage {
    kinds: Vec<Kind>,
    open: HashMap<TrackId, TrackState>,
    ended: VecDeque<(TrackId, Attributes)>,
    spent: Duration,
    frames: u64,
}

impl AttributeStage {
    /// A stage for a model with these class names.
    pub fn new(classes: &[String]) -> Self {
        Self {
            kinds: classes.iter().map(|c| Kind::of(c)).collect(),
            open: HashMap::new(),
            ended: VecDeque::new(),
            spent: Duration::ZERO,
            frames: 0,
        }
    }

    fn kind(&self, t: &TrackedObject) -> Kind {
        self.kinds
            .get(t.class_id as usize)
            .copied()
            .unwrap_or(Kind::Other)
    }

    /// Takes an analysed frame: its tracks, the BGR frame the detector ran on (`None` when it did not
    /// run: no colours are looked at), and the rules' zones after this frame (asked only when something
    /// is tracked; the time it takes counts in [`AttributeStage::cost`]).
    pub fn observe(
        &mut self,
        ctx: &FrameContext,
        tracks: &[TrackedObject],
        detected: Option<&BgrImage>,
        zones: impl FnOnce() -> Vec<ZoneOccupancy>,
    ) {
        let started = Instant::now();
        let zones = if tracks.is_empty() {
            Vec::new()
        } else {
            zones()
        };
        let now = ctx.time_unix_ms;
        let (w, h) = (ctx.frame_w.max(1) as f32, ctx.frame_h.max(1) as f32);
        // Whether the frame has colour at all: asked once, when a look is due.
        let mut coloured: Option<bool> = None;
        for (i, t) in tracks.iter().enumerate() {
            let kind = self.kind(t);
            let s = self.open.entry(t.id).or_default();
            s.last_ms = now;
            if !t.matched {
                continue;
            }
            let anchor = ((t.bbox.x1 + t.bbox.x2) / 2.0 / w, t.bbox.y2 / h);
            s.first.get_or_insert(anchor);
            s.latest = anchor;
            push_capped(&mut s.heights, t.bbox.height() / h);
            match s.step_from {
                Some((ms, x, y)) if now - ms >= SPEED_STEP_MS => {
                    // Frame heights per second, x scaled to heights.
                    let d = ((anchor.0 - x) * w / h).hypot(anchor.1 - y);
                    push_capped(&mut s.speeds, d * 1000.0 / (now - ms) as f32);
                    s.step_from = Some((now, anchor.0, anchor.1));
                }
                Some(_) => {}
                None => s.step_from = Some((now, anchor.0, anchor.1)),
            }
            let Some(frame) = detected else { continue };
            if kind == Kind::Other
                || s.looks >= MAX_LOOKS
                || !crate::track_events::due(s.last_look_ms, now, LOOK_EVERY_MS)
                || !good_view(t, i, tracks, frame)
            {
                continue;
            }
            if !*coloured.get_or_insert_with(|| frame_has_colour(frame)) {
                continue;
            }
            s.looks += 1;
            s.last_look_ms = Some(now);
            let parts: &[(usize, Part)] = match kind {
                Kind::Person => &[(0, Part::Upper), (1, Part::Lower)],
                _ => &[(2, Part::Body)],
            };
            for &(slot, part) in parts {
                if let Some(r) = name_part(frame, &t.bbox, part) {
                    s.votes[slot][r.colour.index()] += r.share;
                }
            }
        }
        for z in &zones {
            for m in &z.members {
                if let Some(s) = self.open.get_mut(&m.track_id)
                    && !s.zones.contains(&z.zone)
                {
                    s.zones.push(z.zone.clone());
                }
            }
        }
        let gone: Vec<TrackId> = self
            .open
            .iter()
            .filter(|(_, s)| now - s.last_ms >= GONE_MS)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.retire(id);
        }
        self.spent += started.elapsed();
        self.frames += 1;
    }

    fn retire(&mut self, id: TrackId) {
        if let Some(s) = self.open.remove(&id) {
            if self.ended.len() == KEEP_ENDED {
                self.ended.pop_front();
            }
            self.ended.push_back((id, summarise(&s)));
        }
    }

    /// What is known of track `id` so far (or when it ended); `None` for a track never seen.
    pub fn of(&self, id: TrackId) -> Option<Attributes> {
        match self.open.get(&id) {
            Some(s) => Some(summarise(s)),
            None => self
                .ended
                .iter()
                .rev()
                .find(|(t, _)| *t == id)
                .map(|(_, a)| a.clone()),
        }
    }

    /// Gives event `e` the attributes of its main object's track (its best view's, else its first);
    /// with `tz`, a single object's description says what it looked like when that is known ("A person in
    /// grey top and black trousers stayed 12 s in 'Table'").
    pub fn fill(&self, e: &mut Event, tz: Option<&vigil_rules::TimeZone>) {
        let id = e
            .best
            .as_ref()
            .map(|b| b.track_id)
            .or_else(|| e.track_ids.first().copied());
        if let Some(a) = id.and_then(|id| self.of(id)) {
            let looks_changed = a.phrase() != e.attributes.phrase();
            e.attributes = a;
            if let Some(tz) = tz
                && looks_changed
                && e.object_count() <= 1
            {
                e.description = vigil_rules::describe(e, tz);
            }
        }
    }

    /// Gives ended paths the attributes of their tracks.
    pub fn complete(&mut self, mut paths: Vec<TrackPath>) -> Vec<TrackPath> {
        for p in &mut paths {
            if let Some(a) = self.of(p.track) {
                p.attributes = a;
            }
        }
        paths
    }

    /// Ends every open track (analysis pauses or stops); their attributes stay for late events.
    pub fn flush(&mut self) {
        let ids: Vec<TrackId> = self.open.keys().copied().collect();
        for id in ids {
            self.retire(id);
        }
    }

    /// Mean time spent per observed frame, and frames observed.
    pub fn cost(&self) -> (Duration, u64) {
        let mean = if self.frames == 0 {
            Duration::ZERO
        } else {
            self.spent / self.frames as u32
        };
        (mean, self.frames)
    }
}

/// True when track `t` (the `i`th of `tracks`) is seen well in `frame`: freshly detected with a good
/// score, big enough, not cut off at the frame's edge, not covered by another track.
fn good_view(t: &TrackedObject, i: usize, tracks: &[TrackedObject], frame: &BgrImage) -> bool {
    let b = &t.bbox;
    let (w, h) = (frame.width() as f32, frame.height() as f32);
    if t.score < MIN_SCORE
        || b.height() < MIN_HEIGHT_PX
        || b.x1 < EDGE_PX
        || b.y1 < EDGE_PX
        || b.x2 > w - EDGE_PX
        || b.y2 > h - EDGE_PX
    {
        return false;
    }
    let area = b.area().max(1.0);
    tracks
        .iter()
        .enumerate()
        .all(|(j, o)| j == i || overlap(b, &o.bbox) / area <= MAX_COVERED)
}

fn overlap(a: &BBox, b: &BBox) -> f32 {
    let w = (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0);
    let h = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    w * h
}

fn push_capped(v: &mut Vec<f32>, x: f32) {
    if v.len() >= MAX_SAMPLES {
        let mut i = 0;
        v.retain(|_| {
            i += 1;
            i % 2 == 1
        });
    }
    v.push(x);
}

fn median(v: &[f32]) -> Option<f32> {
    let mut s: Vec<f32> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f32::total_cmp);
    Some(s[s.len() / 2])
}

/// The colour with at least half of the votes (and more than any other).
fn vote(votes: &[f32; Colour::ALL.len()]) -> Option<Colour> {
    let total: f32 = votes.iter().sum();
    let (best, &w) = votes.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    let runner_up = votes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != best)
        .map(|(_, v)| *v)
        .fold(0.0, f32::max);
    (total > 0.0 && w >= 0.5 * total && w > runner_up).then(|| Colour::ALL[best])
}

fn summarise(s: &TrackState) -> Attributes {
    let round = crate::track_events::round3;
    Attributes {
        upper_colour: vote(&s.votes[0]),
        lower_colour: vote(&s.votes[1]),
        colour: vote(&s.votes[2]),
        size: median(&s.heights).map(round),
        speed: median(&s.speeds).map(round),
        direction: s
            .first
            .filter(|_| s.heights.len() >= 2)
            .map(|(x, y)| Heading::of(s.latest.0 - x, s.latest.1 - y, STILL)),
        zones: s.zones.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_with_person(x: f32) -> (BgrImage, TrackedObject) {
        // Grey background, a red-topped, blue-trousered person 40 x 120 at x.
        let (w, h) = (320u32, 240u32);
        let mut data = vec![128u8; (w * h * 3) as usize];
        for y in 60..180u32 {
            for px in x as u32..x as u32 + 40 {
                let i = ((y * w + px) * 3) as usize;
                let bgr = if y < 120 {
                    [40, 30, 200]
                } else {
                    [180, 80, 30]
                };
                data[i..i + 3].copy_from_slice(&bgr);
            }
        }
        let t = TrackedObject {
            id: 3,
            bbox: BBox::new(x, 60.0, x + 40.0, 180.0),
            score: 0.9,
            class_id: 0,
            age: 5,
            matched: true,
        };
        (BgrImage::from_vec(w, h, data).unwrap(), t)
    }

    #[test]
    fn a_person_walking_right_gets_colours_size_speed_direction_and_zones() {
        let classes = vec!["person".to_string()];
        let mut stage = AttributeStage::new(&classes);
        let zone = |id| ZoneOccupancy {
            zone: "Yard".into(),
            count: 1,
            by_class: Default::default(),
            members: vec![vigil_rules::ZoneMember {
                track_id: id,
                class_name: "person".into(),
                since_unix_ms: 0,
                wait_ms: 0,
            }],
            waiting: Default::default(),
            completed: Default::default(),
        };
        // 10 fps for 4 s, 4 px a frame (40 px/s = 1/6 frame height per second).
        for i in 0..40 {
            let (frame, t) = frame_with_person(20.0 + 4.0 * i as f32);
            let ctx = FrameContext {
                time_unix_ms: i * 100,
                media_time: Default::default(),
                frame_w: 320,
                frame_h: 240,
            };
            let zones = if i > 20 { vec![zone(3)] } else { Vec::new() };
            stage.observe(&ctx, &[t], (i % 2 == 0).then_some(&frame), || zones);
        }
        let a = stage.of(3).unwrap();
        assert_eq!(a.upper_colour, Some(Colour::Red));
        assert_eq!(a.lower_colour, Some(Colour::Blue));
        assert_eq!(a.colour, None);
        assert_eq!(a.size, Some(0.5));
        assert!((a.speed.unwrap() - 40.0 / 240.0).abs() < 0.01, "{a:?}");
        assert_eq!(a.direction, Some(Heading::Right));
        assert_eq!(a.zones, vec!["Yard".to_string()]);
        // Gone: kept for late events.
        let ctx = FrameContext {
            time_unix_ms: 4_000 + GONE_MS,
            ..Default::default()
        };
        stage.observe(&ctx, &[], None, Vec::new);
        assert_eq!(stage.of(3), Some(a));
        assert_eq!(stage.of(4), None);
    }

    #[test]
    fn grayscale_frames_and_bad_views_give_no_colour() {
        let classes = vec!["person".to_string()];
        let mut stage = AttributeStage::new(&classes);
        let (frame, t) = frame_with_person(100.0);
        let gray = BgrImage::from_vec(320, 240, vec![100; 320 * 240 * 3]).unwrap();
        let low = TrackedObject { score: 0.3, ..t };
        let at_edge = TrackedObject {
            bbox: BBox::new(0.0, 60.0, 40.0, 180.0),
            ..t
        };
        for (i, (f, t)) in [(&gray, &t), (&frame, &low), (&frame, &at_edge)]
            .iter()
            .enumerate()
        {
            let ctx = FrameContext {
                time_unix_ms: i as i64 * 1000,
                frame_w: 320,
                frame_h: 240,
                ..Default::default()
            };
            stage.observe(&ctx, &[**t], Some(f), Vec::new);
        }
        let a = stage.of(3).unwrap();
        assert_eq!((a.upper_colour, a.lower_colour), (None, None), "{a:?}");
        assert!(a.size.is_some());
    }
}
