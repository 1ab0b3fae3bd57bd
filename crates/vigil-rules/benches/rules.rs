//! Rules engine cost per frame: 100 rules (line crossing, intrusion with schedules, loitering, crowding,
//! queue) over 30 zones and 10 lines, 50 live tracks wandering the frame, tracks ending and new ones
//! starting. Prints median / p99 / max per frame, against two references measured in the same run: an
//! engine with no rules (the cost of reading the tracks) and one with a single zone rule.
//!
//! Run: `cargo bench -p vigil-rules --bench rules` (prints figures; asserts nothing).

use std::fmt::Write;
use std::hint::black_box;
use std::time::Instant;
use vigil_core::{BBox, Time90k, TrackedObject};
use vigil_rules::{FrameContext, RuleEngine, RulesConfig};

const CLASSES: [&str; 8] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
];
const W: u32 = 1920;
const H: u32 = 1080;
const TRACKS: usize = 50;
const WARMUP: usize = 300;
const FRAMES: usize = 6000;

/// A small deterministic random generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// A zone outline: an irregular octagon around (cx, cy).
fn octagon(rng: &mut Rng, cx: f32, cy: f32, r: f32) -> String {
    let pts: Vec<String> = (0..8)
        .map(|k| {
            let a = k as f32 * std::f32::consts::TAU / 8.0;
            let rr = r * (0.7 + 0.3 * rng.next());
            format!(
                "[{:.4}, {:.4}]",
                (cx + rr * a.cos()).clamp(0.0, 1.0),
                (cy + rr * a.sin()).clamp(0.0, 1.0)
            )
        })
        .collect();
    format!("[{}]", pts.join(", "))
}

fn config(zones: usize, lines: usize, rules: usize) -> RulesConfig {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut t = String::from("timezone = \"CET-1CEST,M3.5.0,M10.5.0/3\"\n");
    for z in 0..zones {
        let (cx, cy, r) = (
            0.1 + 0.8 * rng.next(),
            0.1 + 0.8 * rng.next(),
            0.08 + 0.1 * rng.next(),
        );
        let _ = writeln!(
            t,
            "[[zone]]\nname = \"z{z}\"\npoints = {}\n{}",
            octagon(&mut rng, cx, cy, r),
            if z % 3 == 0 {
                "classes = [\"person\"]"
            } else {
                ""
            }
        );
    }
    for l in 0..lines {
        let (x, y) = (0.1 + 0.6 * rng.next(), 0.1 + 0.8 * rng.next());
        let _ = writeln!(
            t,
            "[[line]]\nname = \"l{l}\"\np1 = [{x:.3}, {y:.3}]\np2 = [{:.3}, {:.3}]",
            x + 0.25,
            y + 0.05
        );
    }
    let _ = writeln!(
        t,
        "[[mask]]\nname = \"m\"\nkind = \"ignore\"\npoints = [[0.0, 0.0], [0.1, 0.0], [0.1, 0.1]]"
    );
    for r in 0..rules {
        let zone = r % zones.max(1);
        let body = match r % 10 {
            0 if lines > 0 => format!(
                "kind = \"line_crossing\"\nline = \"l{}\"\ncooldown = \"2s\"",
                (r / 10) % lines
            ),
            1 | 2 => format!(
                "kind = \"intrusion\"\nzone = \"z{zone}\"\nschedule = [{{ days = [\"weekdays\"], from = \"08:00\", to = \"20:00\" }}]"
            ),
            3 | 4 => format!("kind = \"intrusion\"\nzone = \"z{zone}\""),
            5 | 6 => format!("kind = \"loitering\"\nzone = \"z{zone}\"\nmin_dwell = \"5s\""),
            7 | 8 => format!(
                "kind = \"crowding\"\nzone = \"z{zone}\"\nmore_than = 2\nmin_duration = \"2s\""
            ),
            _ => format!("kind = \"queue\"\nzone = \"z{zone}\"\nmore_than = 3\nmax_wait = \"20s\""),
        };
        let _ = writeln!(t, "[[rule]]\nname = \"r{r}\"\n{body}");
    }
    toml::from_str(&t).unwrap_or_else(|e| panic!("benchmark config: {e}"))
}

/// 50 tracks taking random walks; each lives 20-60 s, then a new id takes its place.
struct Crowd {
    rng: Rng,
    next_id: u64,
    tracks: Vec<(u64, f32, f32, f32, f32, u32, u16)>, // id, x, y, vx, vy, frames left, class
}

impl Crowd {
    fn new() -> Self {
        let mut c = Self {
            rng: Rng(42),
            next_id: 1,
            tracks: Vec::new(),
        };
        for _ in 0..TRACKS {
            let t = c.spawn();
            c.tracks.push(t);
        }
        c
    }

    fn spawn(&mut self) -> (u64, f32, f32, f32, f32, u32, u16) {
        let r = &mut self.rng;
        let id = self.next_id;
        self.next_id += 1;
        let class = if r.next() < 0.7 { 0 } else { 2 };
        (
            id,
            r.next(),
            0.15 + 0.85 * r.next(),
            (r.next() - 0.5) * 0.01,
            (r.next() - 0.5) * 0.01,
            200 + (r.next() * 400.0) as u32,
            class,
        )
    }

    fn step(&mut self) -> Vec<TrackedObject> {
        for i in 0..self.tracks.len() {
            let (ax, ay) = (
                (self.rng.next() - 0.5) * 0.002,
                (self.rng.next() - 0.5) * 0.002,
            );
            let t = &mut self.tracks[i];
            t.3 = (t.3 + ax).clamp(-0.01, 0.01);
            t.4 = (t.4 + ay).clamp(-0.01, 0.01);
            t.1 = (t.1 + t.3).clamp(0.0, 1.0);
            t.2 = (t.2 + t.4).clamp(0.15, 1.0);
            t.5 = t.5.saturating_sub(1);
            if t.5 == 0 {
                self.tracks[i] = self.spawn();
            }
        }
        self.tracks
            .iter()
            .map(|&(id, x, y, _, _, _, class)| {
                let (px, py) = (x * W as f32, y * H as f32);
                TrackedObject {
                    id,
                    bbox: BBox::new(px - 30.0, py - 150.0, px + 30.0, py),
                    score: 0.8,
                    class_id: class,
                    age: 10,
                    matched: true,
                }
            })
            .collect()
    }
}

struct Figures {
    median_us: f64,
    p99_us: f64,
    max_us: f64,
    /// Start, Update, End messages.
    events: [usize; 3],
}

fn measure(config: &RulesConfig) -> Figures {
    let mut engine = RuleEngine::new("bench", config, &CLASSES).unwrap_or_else(|e| panic!("{e}"));
    let mut crowd = Crowd::new();
    // Wednesday 2024-06-05 10:00 UTC (12:00 in the configured zone: schedules armed).
    let t0 = 1_717_581_600_000i64;
    let mut times = Vec::with_capacity(FRAMES);
    let mut events = [0; 3];
    for f in 0..WARMUP + FRAMES {
        let tracks = crowd.step();
        let ctx = FrameContext {
            time_unix_ms: t0 + f as i64 * 100,
            media_time: Time90k(f as i64 * 9000),
            frame_w: W,
            frame_h: H,
        };
        let start = Instant::now();
        let out = engine.update(&ctx, black_box(&tracks));
        let dt = start.elapsed();
        if f >= WARMUP {
            times.push(dt.as_secs_f64() * 1e6);
            for e in &out {
                events[e.phase as usize] += 1;
            }
        }
        black_box(out);
    }
    black_box(engine.occupancy());
    times.sort_by(f64::total_cmp);
    Figures {
        median_us: times[times.len() / 2],
        p99_us: times[times.len() * 99 / 100],
        max_us: times[times.len() - 1],
        events,
    }
}

fn main() {
    let runs = [
        ("no rules (reference)", config(0, 0, 0)),
        ("1 zone, 1 rule", config(1, 0, 1)),
        ("30 zones, 10 lines, 100 rules", config(30, 10, 100)),
    ];
    println!(
        "rules engine: {TRACKS} live tracks, {FRAMES} frames at 10 fps after {WARMUP} warm-up frames"
    );
    let mut reference = None;
    for (name, cfg) in &runs {
        let f = measure(cfg);
        let base = *reference.get_or_insert(f.median_us);
        println!(
            "{name:30} median {:6.1} us  p99 {:6.1} us  max {:8.1} us  ({:4.1}x the reference median; \
             events: {} starts, {} updates, {} ends)",
            f.median_us,
            f.p99_us,
            f.max_us,
            f.median_us / base,
            f.events[0],
            f.events[1],
            f.events[2]
        );
    }
    println!("target: under 1000 us per frame for 100 rules and 50 tracks");
}
