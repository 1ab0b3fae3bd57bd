//! The learned normal: tails of each cue, per cell of a grid over the picture with the whole picture's as
//! fall-back, headings and class counts per cell, and how a frame is scored against them.

use super::{FrameFeatures, ObjectFeatures, PersonFeatures};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most training values kept per cue for the whole picture (evenly thinned beyond).
const MAX_SAMPLES: usize = 20_000;
/// Most training values kept per cue in one cell.
const MAX_CELL_SAMPLES: usize = 2_000;
/// Cells across and down the grid over the picture (where the feet are).
pub const GRID: usize = 4;
/// Different people (tracks) a cell needs to have seen before its own values are used instead of the
/// whole picture's; also the detections a class needs before where it goes counts. (The frames of one
/// person are far from independent: counting frames, a cell that saw one person standing for two
/// seconds would look well known.)
pub const MIN_CELL: usize = 20;
/// Heading bins (45 degrees each; bin 0 points right, counting clockwise in the picture).
pub const DIRECTIONS: usize = 8;
/// Body heights per second from which a person's heading counts (a slow walk is about 0.8).
pub const MOVING_SPEED: f32 = 0.5;

/// Names of the cues of [`SceneModel::person_surprise`], in order.
pub const PERSON_FEATURES: [&str; 5] = ["size", "speed", "aspect", "inner", "dwell"];
/// Names of the cues of [`SceneModel::person_cues`], in order.
pub const PERSON_CUES: [&str; 7] = [
    "size",
    "speed",
    "aspect",
    "inner",
    "dwell",
    "direction",
    "place",
];

/// The training values of one cue, sorted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tail {
    values: Vec<f32>,
}

impl Tail {
    fn new(values: Vec<f32>) -> Tail {
        Tail::capped(values, MAX_SAMPLES)
    }

    fn capped(mut values: Vec<f32>, cap: usize) -> Tail {
        values.retain(|v| v.is_finite());
        values.sort_by(f32::total_cmp);
        if values.len() > cap {
            let step = values.len() as f64 / cap as f64;
            values = (0..cap)
                .map(|i| values[(i as f64 * step) as usize])
                .collect();
        }
        Tail { values }
    }

    /// Training values held.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no training value is held.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The training value below which a share `q` (0..1) of them lie (`None` when empty).
    pub fn quantile(&self, q: f32) -> Option<f32> {
        let n = self.values.len();
        (n > 0).then(|| self.values[((q.clamp(0.0, 1.0) * n as f32) as usize).min(n - 1)])
    }

    /// `-log10` of how rarely training reached `x` or more.
    pub fn surprise(&self, x: f32) -> f32 {
        let n = self.values.len();
        if n == 0 || !x.is_finite() {
            return 0.0;
        }
        let at_least = n - self.values.partition_point(|v| *v < x);
        let p = if at_least > 0 {
            (at_least + 1) as f32 / (n + 1) as f32
        } else {
            let max = self.values[n - 1];
            let q90 = self.values[(n * 9 / 10).min(n - 1)];
            let scale = ((max - q90) / 2.3).max(1e-6);
            (1.0 / (n + 1) as f32) * (-(x - max) / scale).exp()
        };
        -p.max(1e-30).log10()
    }
}

/// What training saw in one cell of the grid.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// |ln height - perspective| of the people whose feet were here.
    pub size: Tail,
    /// Their speeds.
    pub speed: Tail,
    /// Their dwell.
    pub dwell: Tail,
    /// Headings of those moving at [`MOVING_SPEED`] or more, per bin.
    pub headings: [u32; DIRECTIONS],
    /// Detections per class (people and other classes) whose feet were here.
    pub classes: BTreeMap<String, u32>,
    /// Different people (tracks) seen here.
    #[serde(default)]
    pub people: u32,
}

/// How a frame's cues are combined (the shipped scoring is [`Scoring::default`]; the others are kept to
/// measure what each part brings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scoring {
    /// Per-cell values (falling back to the whole picture's where a cell has too few), with the heading,
    /// place and class cues; off: the whole picture's values and no heading, place or class cue.
    pub per_cell: bool,
    /// Correct the most surprising person (or object) for how many were looked at: with `n` of them the
    /// frame's p-value is `n` times the smallest (Bonferroni), i.e. `log10 n` less surprise. Off: the
    /// largest surprise as is (a busy frame scores higher by chance).
    pub multiplicity: bool,
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring {
            per_cell: true,
            multiplicity: true,
        }
    }
}

/// The learned normal of a scene.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SceneModel {
    /// Perspective: `ln height = slope * feet_y + intercept`.
    pub slope: f32,
    /// See `slope`.
    pub intercept: f32,
    /// Training values: |ln height - perspective|.
    pub size: Tail,
    /// Training speeds.
    pub speed: Tail,
    /// Training aspects.
    pub aspect: Tail,
    /// Training inner motion.
    pub inner: Tail,
    /// Training dwell.
    pub dwell: Tail,
    /// Training free motion per frame.
    pub free: Tail,
    /// Frames learned from.
    pub frames: usize,
    /// The [`GRID`] x [`GRID`] cells, row-major (empty in models learned before cells existed).
    #[serde(default)]
    pub cells: Vec<Cell>,
    /// Headings over the whole picture.
    #[serde(default)]
    pub headings: [u32; DIRECTIONS],
    /// Detections per class over the whole picture.
    #[serde(default)]
    pub classes: BTreeMap<String, u32>,
    /// Different people (tracks) seen.
    #[serde(default)]
    pub people: u32,
}

/// The cell (row-major index) of feet at (`x`, `y`), shares of the picture.
pub fn cell_of(x: f32, y: f32) -> usize {
    let at = |v: f32| ((v.clamp(0.0, 1.0) * GRID as f32) as usize).min(GRID - 1);
    at(y) * GRID + at(x)
}

/// The heading bin of a velocity.
fn heading(vx: f32, vy: f32) -> usize {
    let a = vy.atan2(vx).rem_euclid(std::f32::consts::TAU);
    ((a / std::f32::consts::TAU * DIRECTIONS as f32).round() as usize) % DIRECTIONS
}

/// `-log10` of the p-value of category `k` under `counts`: the share of the (add-half smoothed)
/// probability held by categories no likelier than `k`. 0 without counts.
fn categorical_surprise(counts: &[u32], k: usize) -> f32 {
    let total: u32 = counts.iter().sum();
    if total == 0 || k >= counts.len() {
        return 0.0;
    }
    let norm = total as f32 + 0.5 * counts.len() as f32;
    let prob = |c: u32| (c as f32 + 0.5) / norm;
    let pk = prob(counts[k]);
    let p: f32 = counts.iter().map(|c| prob(*c)).filter(|q| *q <= pk).sum();
    -p.clamp(1e-30, 1.0).log10()
}

/// `-log10` of the p-value of the smallest of `n` p-values given as surprises (Bonferroni).
fn corrected(surprise: f32, n: usize) -> f32 {
    (surprise - (n.max(1) as f32).log10()).max(0.0)
}

impl SceneModel {
    /// The normal of `frames` (normal activity only).
    pub fn learn(frames: &[FrameFeatures]) -> SceneModel {
        let people: Vec<&PersonFeatures> = frames.iter().flat_map(|f| &f.people).collect();
        // Least squares of ln height on feet height.
        let n = people.len() as f32;
        let (slope, intercept) = if people.len() >= 20 {
            let (sx, sy) = people.iter().fold((0.0, 0.0), |(a, b), p| {
                (a + p.feet_y, b + p.height.max(1e-4).ln())
            });
            let (mx, my) = (sx / n, sy / n);
            let (sxy, sxx) = people.iter().fold((0.0, 0.0), |(a, b), p| {
                let dx = p.feet_y - mx;
                (a + dx * (p.height.max(1e-4).ln() - my), b + dx * dx)
            });
            let slope = if sxx > 1e-9 { sxy / sxx } else { 0.0 };
            (slope, my - slope * mx)
        } else {
            let my = people.iter().map(|p| p.height.max(1e-4).ln()).sum::<f32>() / n.max(1.0);
            (0.0, my)
        };
        let size_of =
            |p: &PersonFeatures| (p.height.max(1e-4).ln() - (slope * p.feet_y + intercept)).abs();
        // Per cell.
        let mut values: Vec<[Vec<f32>; 3]> = vec![Default::default(); GRID * GRID];
        let mut cells = vec![Cell::default(); GRID * GRID];
        let mut headings = [0u32; DIRECTIONS];
        let mut classes = BTreeMap::new();
        let mut tracks = vec![std::collections::HashSet::new(); GRID * GRID];
        for p in &people {
            let c = cell_of(p.feet_x, p.feet_y);
            tracks[c].insert(p.track);
            values[c][0].push(size_of(p));
            values[c][1].extend(p.speed);
            values[c][2].push(p.dwell);
            if let Some((vx, vy)) = p.velocity.filter(|v| v.0.hypot(v.1) >= MOVING_SPEED) {
                let h = heading(vx, vy);
                cells[c].headings[h] += 1;
                headings[h] += 1;
            }
            *cells[c].classes.entry("person".into()).or_insert(0) += 1;
            *classes.entry("person".to_string()).or_insert(0) += 1;
        }
        for o in frames.iter().flat_map(|f| &f.objects) {
            let c = cell_of(o.feet_x, o.feet_y);
            *cells[c].classes.entry(o.class.clone()).or_insert(0) += 1;
            *classes.entry(o.class.clone()).or_insert(0) += 1;
        }
        for ((cell, [size, speed, dwell]), seen) in cells.iter_mut().zip(values).zip(&tracks) {
            cell.people = seen.len() as u32;
            cell.size = Tail::capped(size, MAX_CELL_SAMPLES);
            cell.speed = Tail::capped(speed, MAX_CELL_SAMPLES);
            cell.dwell = Tail::capped(dwell, MAX_CELL_SAMPLES);
        }
        SceneModel {
            slope,
            intercept,
            size: Tail::new(people.iter().map(|p| size_of(p)).collect()),
            speed: Tail::new(people.iter().filter_map(|p| p.speed).collect()),
            aspect: Tail::new(people.iter().map(|p| p.aspect).collect()),
            inner: Tail::new(people.iter().filter_map(|p| p.inner).collect()),
            dwell: Tail::new(people.iter().map(|p| p.dwell).collect()),
            free: Tail::new(frames.iter().map(|f| f.free).collect()),
            frames: frames.len(),
            cells,
            headings,
            classes,
            people: people
                .iter()
                .map(|p| p.track)
                .collect::<std::collections::HashSet<_>>()
                .len() as u32,
        }
    }

    /// Whether `cell` saw at least [`MIN_CELL`] different people.
    fn known(&self, cell: usize) -> bool {
        self.cells
            .get(cell)
            .is_some_and(|c| c.people as usize >= MIN_CELL)
    }

    /// The cell's tail when it saw at least [`MIN_CELL`] different people, else the whole picture's.
    fn local<'a>(
        &'a self,
        cell: Option<usize>,
        pick: fn(&Cell) -> &Tail,
        global: &'a Tail,
    ) -> &'a Tail {
        match cell
            .filter(|c| self.known(*c))
            .and_then(|c| self.cells.get(c))
        {
            Some(c) if !pick(c).is_empty() => pick(c),
            _ => global,
        }
    }

    /// The person's cell, when the model has cells.
    pub fn cell(&self, x: f32, y: f32) -> Option<usize> {
        (!self.cells.is_empty()).then(|| cell_of(x, y))
    }

    /// Each cue's surprise for one person: size, speed, aspect, inner, dwell ([`PERSON_FEATURES`]); size,
    /// speed and dwell against the person's cell where it has enough training values.
    pub fn person_surprise(&self, p: &PersonFeatures) -> [f32; 5] {
        let all = self.person_cues(p);
        [all[0], all[1], all[2], all[3], all[4]]
    }

    /// Every cue's surprise for one person, in [`PERSON_CUES`] order: size, speed, aspect, inner, dwell,
    /// direction (the heading against those seen in its cell, or the whole picture's where the cell has
    /// too few; 0 below [`MOVING_SPEED`]) and place (how rarely people were seen in its cell).
    pub fn person_cues(&self, p: &PersonFeatures) -> [f32; 7] {
        self.person_cues_with(p, Scoring::default())
    }

    fn person_cues_with(&self, p: &PersonFeatures, scoring: Scoring) -> [f32; 7] {
        let size = (p.height.max(1e-4).ln() - (self.slope * p.feet_y + self.intercept)).abs();
        let cell = if scoring.per_cell {
            self.cell(p.feet_x, p.feet_y)
        } else {
            None
        };
        let (direction, place) = match cell {
            Some(c) => (
                self.direction_surprise(c, p.velocity),
                self.place_surprise(c, "person"),
            ),
            None => (0.0, 0.0),
        };
        [
            self.local(cell, |c| &c.size, &self.size).surprise(size),
            p.speed.map_or(0.0, |s| {
                self.local(cell, |c| &c.speed, &self.speed).surprise(s)
            }),
            self.aspect.surprise(p.aspect),
            p.inner.map_or(0.0, |s| self.inner.surprise(s)),
            self.local(cell, |c| &c.dwell, &self.dwell)
                .surprise(p.dwell),
            direction,
            place,
        ]
    }

    /// How unusual a heading is in `cell` (its own headings where it saw at least [`MIN_CELL`] people,
    /// else the whole picture's, or 0 where the whole picture saw fewer); 0 when not moving at
    /// [`MOVING_SPEED`].
    pub fn direction_surprise(&self, cell: usize, velocity: Option<(f32, f32)>) -> f32 {
        let Some((vx, vy)) = velocity.filter(|v| v.0.hypot(v.1) >= MOVING_SPEED) else {
            return 0.0;
        };
        let counts = match self.cells.get(cell) {
            Some(c) if self.known(cell) => &c.headings,
            _ if self.people as usize >= MIN_CELL => &self.headings,
            _ => return 0.0,
        };
        categorical_surprise(counts, heading(vx, vy))
    }

    /// How rarely `class` was seen in `cell` compared with an even spread over the cells: `-log10` of
    /// `(cells * n_cell + 1) / (n + 1)` (at most 1), `n` the class's detections. 0 while the class has
    /// fewer than [`MIN_CELL`] (where it goes is not known).
    pub fn place_surprise(&self, cell: usize, class: &str) -> f32 {
        let n = self.classes.get(class).copied().unwrap_or(0);
        if (n as usize) < MIN_CELL {
            return 0.0;
        }
        let here = self
            .cells
            .get(cell)
            .and_then(|c| c.classes.get(class))
            .copied()
            .unwrap_or(0);
        let p = ((self.cells.len() as f32 * here as f32 + 1.0) / (n as f32 + 1.0)).min(1.0);
        -p.log10()
    }

    /// How rarely `class` was seen at all: `-log10 ((n_class + 1) / (n + 1))`, `n` every detection; 0
    /// before anything was seen.
    pub fn class_surprise(&self, class: &str) -> f32 {
        let total: u32 = self.classes.values().sum();
        if total == 0 {
            return 0.0;
        }
        let n = self.classes.get(class).copied().unwrap_or(0);
        -((n as f32 + 1.0) / (total as f32 + 1.0)).min(1.0).log10()
    }

    /// An object's cues: class (how rarely it was seen at all) and place (how rarely in its cell).
    pub fn object_cues(&self, o: &ObjectFeatures) -> [f32; 2] {
        match self.cell(o.feet_x, o.feet_y) {
            Some(c) => [
                self.class_surprise(&o.class),
                self.place_surprise(c, &o.class),
            ],
            None => [0.0, 0.0],
        }
    }

    /// A frame's raw score with the shipped [`Scoring`].
    pub fn score(&self, f: &FrameFeatures) -> f32 {
        self.score_with(f, Scoring::default())
    }

    /// A frame's raw score: the most surprising person (sum of its cues) or object, corrected for how
    /// many were looked at when `scoring.multiplicity`, plus the free motion's surprise.
    pub fn score_with(&self, f: &FrameFeatures, scoring: Scoring) -> f32 {
        let people = f
            .people
            .iter()
            .map(|p| self.person_cues_with(p, scoring).iter().sum::<f32>());
        let objects = f
            .objects
            .iter()
            .filter(|_| scoring.per_cell)
            .map(|o| self.object_cues(o).iter().sum::<f32>());
        let (mut most, mut n) = (0.0f32, 0usize);
        for s in people.chain(objects) {
            most = most.max(s);
            n += 1;
        }
        let most = if scoring.multiplicity {
            corrected(most, n)
        } else {
            most
        };
        most + self.free.surprise(f.free)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walker(speed: f32, dwell: f32) -> PersonFeatures {
        PersonFeatures {
            feet_y: 0.6,
            height: 0.3,
            speed: Some(speed),
            aspect: 0.35,
            inner: Some(0.2),
            dwell,
            feet_x: 0.3,
            velocity: Some((speed, 0.0)),
            track: 0,
        }
    }

    /// 200 frames; every person a different track.
    fn frames(people: impl Fn(usize) -> Vec<PersonFeatures>) -> Vec<FrameFeatures> {
        (0..200)
            .map(|i| FrameFeatures {
                people: people(i)
                    .into_iter()
                    .enumerate()
                    .map(|(k, p)| PersonFeatures {
                        track: (i * 10 + k) as u64,
                        ..p
                    })
                    .collect(),
                ..FrameFeatures::default()
            })
            .collect()
    }

    fn one(p: PersonFeatures) -> FrameFeatures {
        FrameFeatures {
            people: vec![p],
            ..FrameFeatures::default()
        }
    }

    #[test]
    fn the_unusual_scores_higher_than_the_usual() {
        let m = SceneModel::learn(&frames(|i| vec![walker(0.8 + 0.001 * i as f32, 0.01)]));
        let usual = m.score(&one(walker(0.85, 0.01)));
        let running = m.score(&one(walker(3.0, 0.01)));
        let loitering = m.score(&one(walker(0.0, 2.0)));
        let thrown = m.score(&FrameFeatures {
            free: 0.1,
            ..one(walker(0.85, 0.01))
        });
        assert!(running > usual + 2.0, "{usual} vs running {running}");
        assert!(loitering > usual + 2.0, "{usual} vs loitering {loitering}");
        assert!(thrown > usual + 2.0, "{usual} vs thrown {thrown}");
    }

    /// People walk right in the left half and left in the right half: walking left in the left half is
    /// the wrong way there, though the whole picture sees as many going left.
    #[test]
    fn a_direction_never_seen_in_a_cell_scores_high() {
        let lane = |x: f32, vx: f32| PersonFeatures {
            feet_x: x,
            velocity: Some((vx, 0.0)),
            speed: Some(vx.abs()),
            ..walker(1.0, 0.01)
        };
        let m = SceneModel::learn(&frames(|i| {
            let v = 0.9 + 0.001 * i as f32;
            vec![lane(0.3, v), lane(0.7, -v)]
        }));
        let with = m.person_cues(&lane(0.3, 1.0));
        let against = m.person_cues(&lane(0.3, -1.0));
        assert!(with[5] < 0.1, "{with:?}");
        assert!(against[5] > 1.5, "{against:?}");
        assert_eq!(PERSON_CUES[5], "direction");
        assert!(m.score(&one(lane(0.3, -1.0))) > m.score(&one(lane(0.3, 1.0))) + 1.5);
        // Too slow for a heading: no opinion.
        assert_eq!(m.person_cues(&lane(0.3, -0.1))[5], 0.0);
        // The whole-picture scoring (the previous model) cannot tell.
        let global = Scoring {
            per_cell: false,
            multiplicity: true,
        };
        let d = m.score_with(&one(lane(0.3, -1.0)), global)
            - m.score_with(&one(lane(0.3, 1.0)), global);
        assert!(d.abs() < 0.5, "{d}");
    }

    #[test]
    fn a_class_never_seen_scores_high_and_where_people_never_go_too() {
        let mut f = frames(|_| vec![walker(0.9, 0.01)]);
        // Cars go by in the top row, never on the walkway.
        for x in f.iter_mut().step_by(2) {
            x.objects.push(ObjectFeatures {
                class: "car".into(),
                feet_x: 0.5,
                feet_y: 0.1,
                height: 0.1,
            });
        }
        let m = SceneModel::learn(&f);
        let object = |class: &str, y: f32| FrameFeatures {
            objects: vec![ObjectFeatures {
                class: class.into(),
                feet_x: 0.5,
                feet_y: y,
                height: 0.3,
            }],
            ..one(walker(0.9, 0.01))
        };
        let usual = m.score(&one(walker(0.9, 0.01)));
        let bicycle = m.score(&object("bicycle", 0.6));
        let car_on_walkway = m.score(&object("car", 0.6));
        let car_on_road = m.score(&object("car", 0.1));
        assert!(bicycle > usual + 1.5, "{usual} vs bicycle {bicycle}");
        assert!(m.object_cues(&object("bicycle", 0.6).objects[0])[0] > 2.0);
        assert!(
            car_on_walkway > car_on_road + 1.5,
            "{car_on_road} vs {car_on_walkway}"
        );
        // A person where nobody walks.
        let astray = PersonFeatures {
            feet_x: 0.9,
            feet_y: 0.95,
            ..walker(0.9, 0.01)
        };
        assert!(
            m.person_cues(&astray)[6] > 2.0,
            "{:?}",
            m.person_cues(&astray)
        );
        assert!(m.person_cues(&walker(0.9, 0.01))[6] < 0.1);
    }

    /// A cell with a few training people uses the whole picture's values: a speed that is usual over the
    /// picture is not surprising there just because the cell saw only slow people.
    #[test]
    fn a_cell_with_little_data_falls_back_to_the_whole_picture() {
        let m = SceneModel::learn(&frames(|i| {
            let mut v = vec![walker(0.5 + 0.01 * (i % 100) as f32, 0.01)];
            if i < 10 {
                v.push(PersonFeatures {
                    feet_x: 0.9,
                    ..walker(0.2, 0.01)
                });
            }
            v
        }));
        let busy = cell_of(0.3, 0.6);
        let sparse = cell_of(0.9, 0.6);
        assert!(m.cells[busy].people as usize >= MIN_CELL);
        assert_eq!(m.cells[sparse].people, 10);
        let at = |x: f32| {
            m.person_cues(&PersonFeatures {
                feet_x: x,
                ..walker(1.2, 0.01)
            })[1]
        };
        assert!(
            (at(0.9) - at(0.3)).abs() < 0.3,
            "{} vs {}",
            at(0.9),
            at(0.3)
        );
        // The cell's own tail would have called it extreme.
        assert!(m.cells[sparse].speed.surprise(1.2) > 1.0);
    }

    #[test]
    fn multiplicity_discounts_a_busy_frame() {
        let m = SceneModel::learn(&frames(|i| vec![walker(0.8 + 0.002 * i as f32, 0.01)]));
        let crowd = FrameFeatures {
            people: (0..10).map(|_| walker(1.5, 0.01)).collect(),
            ..FrameFeatures::default()
        };
        let raw = Scoring {
            per_cell: true,
            multiplicity: false,
        };
        assert!((m.score_with(&crowd, raw) - m.score(&crowd) - 1.0).abs() < 1e-3);
    }
}
