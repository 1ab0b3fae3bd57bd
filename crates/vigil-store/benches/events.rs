//! Event store at scale: records 1,000,000 events (16 cameras, 30 days, a day/night rhythm, busy and
//! quiet cameras, mixed kinds; each event as the rules engine sends it: Start, heartbeat Updates, End;
//! real descriptions from `vigil_rules::describe`) through `Store::record_events`, then times the
//! server's queries through `EventReader`: first page, camera, camera set, kind, camera x kind, time
//! ranges, full-text search, zone, open events, deep pages by cursor, single events, histograms,
//! snapshots; then queries while a writer records, and an event retention pass that deletes a third.
//!
//! Prints p50 / p99 / max per query type and each p50 against a reference measured in the same run: a
//! bare SQLite read of the newest 50 rows by row id (the floor any page costs).
//!
//! Run: `cargo bench -p vigil-store --bench events [-- --events N --dir PATH --keep]`. With `--keep`
//! the database is left in PATH (default: a directory under the system temp dir) and reused by the
//! next run with the same N (the insert figures are then skipped, and so is the retention pass).

use std::collections::{BinaryHeap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vigil_core::latency::percentile_sorted;
use vigil_core::{
    BBox, BestObject, ClassCount, CrossingDirection, Event, EventId, EventKind, EventPhase,
    EventTime, Time90k,
};
use vigil_rules::{TimeZone, describe};
use vigil_store::{EventQuery, EventReader, SnapshotKind, Store, StoreConfig};

const CAMERAS: [&str; 16] = [
    "front-door",
    "back-yard",
    "parking-north",
    "parking-south",
    "loading-dock",
    "lobby",
    "till-area",
    "gate-east",
    "gate-west",
    "warehouse-1",
    "warehouse-2",
    "side-alley",
    "roof",
    "garden",
    "corridor-2f",
    "server-room",
];
const PLACES: [&str; 16] = [
    "Main entrance",
    "Garden path",
    "Car park north",
    "Car park south",
    "Forklift bay",
    "Reception",
    "Till 1",
    "East gate",
    "West gate",
    "Racking aisle",
    "Cold store",
    "Bin store",
    "Roof hatch",
    "Pond",
    "Fire exit",
    "Server racks",
];
const DAY_MS: i64 = 86_400_000;

/// One kind of rule on a camera: name, kind tag, share of events.
const RULES: [(&str, u8, f64); 5] = [
    ("count", 0, 0.45),
    ("intrusion", 1, 0.25),
    ("loitering", 2, 0.15),
    ("crowd", 3, 0.08),
    ("queue", 4, 0.07),
];
const CLASSES: [(&str, u16, f64); 4] = [
    ("person", 0, 0.70),
    ("car", 2, 0.20),
    ("bicycle", 1, 0.05),
    ("truck", 7, 0.05),
];

struct Args {
    events: usize,
    dir: PathBuf,
    keep: bool,
}

fn args() -> Args {
    let mut a = Args {
        events: 1_000_000,
        dir: PathBuf::new(),
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    let mut dir = None;
    while let Some(x) = it.next() {
        match x.as_str() {
            "--events" => a.events = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.events),
            "--dir" => dir = it.next().map(PathBuf::from),
            "--keep" => a.keep = true,
            _ => {} // cargo bench passes --bench
        }
    }
    a.dir = dir
        .unwrap_or_else(|| std::env::temp_dir().join(format!("vigil-bench-events-{}", a.events)));
    a
}

/// Deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f64(&mut self) -> f64 {
        (self.u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.u64() % n.max(1)
    }
    /// An index drawn with the given weights (summing to 1).
    fn pick(&mut self, weights: &[f64]) -> usize {
        let mut x = self.f64();
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// An event to generate: everything needed to build its messages.
#[derive(Clone, Copy)]
struct Spec {
    start_ms: i64,
    end_ms: i64,
    camera: u8,
    rule: u8,
    class: u8,
    seq: u32,
    updates: u8,
}

fn build(s: &Spec, phase: EventPhase, last_ms: i64, tz: &TimeZone) -> Event {
    let t = |ms: i64| EventTime {
        unix_ms: ms,
        media: Time90k((ms - s.start_ms) * 90),
    };
    let (class, class_id, _) = CLASSES[s.class as usize];
    let (rule, kind_tag, _) = RULES[s.rule as usize];
    let dur = (last_ms - s.start_ms) as u64;
    let place = PLACES[s.camera as usize];
    let n = 1 + (s.seq % 3);
    let kind = match kind_tag {
        0 => EventKind::LineCrossing {
            direction: if s.seq.is_multiple_of(2) {
                CrossingDirection::AToB
            } else {
                CrossingDirection::BToA
            },
            inbound: s.seq.is_multiple_of(2),
            inbound_count: n,
            outbound_count: s.seq % 2,
        },
        1 => EventKind::Intrusion,
        2 => EventKind::Loitering {
            dwell_ms: dur + 60_000,
            min_dwell_ms: 60_000,
        },
        3 => EventKind::Crowding {
            count: 6 + n,
            peak: 7 + n,
            more_than: 5,
        },
        _ => EventKind::Queue {
            length: 4 + n,
            peak_length: 5 + n,
            mean_wait_ms: 90_000,
            max_wait_ms: 180_000 + dur,
        },
    };
    let camera = CAMERAS[s.camera as usize];
    let mut e = Event {
        attributes: Default::default(),
        id: EventId::from_parts(
            s.start_ms as u64,
            (u128::from(s.camera) << 64) | u128::from(s.seq),
        ),
        camera: camera.to_string(),
        rule: format!("{place} {rule}"),
        kind,
        phase,
        class_name: class.to_string(),
        objects: vec![ClassCount {
            class_name: class.to_string(),
            class_id,
            count: n,
        }],
        track_ids: (0..u64::from(n))
            .map(|i| u64::from(s.seq) * 4 + i)
            .collect(),
        zone: (kind_tag != 0).then(|| place.to_string()),
        line: (kind_tag == 0).then(|| format!("{place} line")),
        start: t(s.start_ms),
        last: t(last_ms),
        end: (phase == EventPhase::End).then(|| t(last_ms)),
        best: Some(BestObject {
            track_id: u64::from(s.seq) * 4,
            score: 0.5 + (s.seq % 50) as f32 / 100.0,
            bbox: BBox::new(100.0, 200.0, 180.0, 420.0),
            frame_w: 1280,
            frame_h: 720,
            time: t(s.start_ms + (last_ms - s.start_ms) / 2),
        }),
        description: String::new(),
    };
    e.description = describe(&e, tz);
    e
}

/// Start times over 30 days up to `end_ms`: busy and quiet cameras, more by day than by night.
fn specs(n: usize, end_ms: i64) -> Vec<Spec> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let weights: Vec<f64> = (0..16).map(|i| 1.0 / (1.0 + i as f64).powf(0.8)).collect();
    let total: f64 = weights.iter().sum();
    let cams: Vec<f64> = weights.iter().map(|w| w / total).collect();
    let begin = end_ms - 30 * DAY_MS + 3_600_000;
    let mut out: Vec<Spec> = (0..n)
        .map(|i| {
            // day/night: hours 7-22 three times as busy
            let start_ms = loop {
                let t = begin + rng.below((end_ms - begin) as u64) as i64;
                let hour = (t / 3_600_000) % 24;
                if (7..22).contains(&hour) || rng.f64() < 0.33 {
                    break t;
                }
            };
            let rule = rng.pick(&RULES.map(|r| r.2));
            let dur = match RULES[rule].1 {
                0 => rng.below(10_000) as i64,
                1 => 5_000 + rng.below(115_000) as i64,
                2 => 60_000 + rng.below(540_000) as i64,
                3 => 10_000 + rng.below(290_000) as i64,
                _ => 60_000 + rng.below(840_000) as i64,
            };
            Spec {
                start_ms,
                end_ms: start_ms + dur,
                camera: rng.pick(&cams) as u8,
                rule: rule as u8,
                class: rng.pick(&CLASSES.map(|c| c.2)) as u8,
                seq: i as u32,
                updates: (dur / 60_000).min(5) as u8,
            }
        })
        .collect();
    out.sort_by_key(|s| s.start_ms);
    out
}

/// A message due at a time (min-heap by time).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Due(std::cmp::Reverse<i64>, usize, u8);

fn insert(store: &Store, specs: &[Spec], end_ms: i64) -> (usize, Duration) {
    let tz = TimeZone::utc();
    let mut due: BinaryHeap<Due> = BinaryHeap::new();
    let mut batch: Vec<Event> = Vec::with_capacity(2000);
    let mut messages = 0;
    let mut elapsed = Duration::ZERO;
    let flush = |batch: &mut Vec<Event>, elapsed: &mut Duration| {
        let t = Instant::now();
        store.record_events(batch).expect("record events");
        *elapsed += t.elapsed();
        batch.clear();
    };
    let emit = |due: &mut BinaryHeap<Due>, batch: &mut Vec<Event>, i: usize, k: u8| {
        let s = &specs[i];
        let steps = u64::from(s.updates) + 1;
        let at = s.start_ms + (s.end_ms - s.start_ms) * i64::from(k) / steps as i64;
        let phase = if k == 0 {
            EventPhase::Start
        } else if u64::from(k) == steps {
            EventPhase::End
        } else {
            EventPhase::Update
        };
        batch.push(build(s, phase, at, &tz));
        if phase != EventPhase::End {
            let next = s.start_ms + (s.end_ms - s.start_ms) * i64::from(k + 1) / steps as i64;
            due.push(Due(std::cmp::Reverse(next), i, k + 1));
        }
    };
    let progress_every = (specs.len() / 10).max(1);
    for (i, s) in specs.iter().enumerate() {
        while due.peek().is_some_and(|d| d.0.0 <= s.start_ms) {
            let Due(_, j, k) = due.pop().expect("peeked");
            emit(&mut due, &mut batch, j, k);
        }
        emit(&mut due, &mut batch, i, 0);
        if batch.len() >= 2000 {
            messages += batch.len();
            flush(&mut batch, &mut elapsed);
        }
        if (i + 1) % progress_every == 0 {
            eprintln!(
                "  {} events started, {messages} messages, {:.0} messages/s",
                i + 1,
                messages as f64 / elapsed.as_secs_f64().max(1e-9)
            );
        }
    }
    // messages due after the end stay unsent: those events are still open "now"
    while let Some(Due(std::cmp::Reverse(at), j, k)) = due.pop() {
        if at > end_ms {
            break;
        }
        emit(&mut due, &mut batch, j, k);
        if batch.len() >= 2000 {
            messages += batch.len();
            flush(&mut batch, &mut elapsed);
        }
    }
    messages += batch.len();
    flush(&mut batch, &mut elapsed);
    (messages, elapsed)
}

fn config(dir: &Path) -> StoreConfig {
    let rec = dir.join("recordings");
    std::fs::create_dir_all(&rec).expect("create dir");
    let mut c = StoreConfig::new(dir.join("index.db"), "disk1", rec);
    c.background_retention = false;
    c.dirs[0].min_free_bytes = 0;
    c
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Report {
    reference_p50: f64,
    worst_list_p99: f64,
}

impl Report {
    /// Times `iters` calls of `f` (its result: rows returned) and prints one line.
    fn measure(&mut self, name: &str, iters: usize, list: bool, mut f: impl FnMut(usize) -> usize) {
        for i in 0..3.min(iters) {
            f(i);
        }
        let mut times = Vec::with_capacity(iters);
        let mut rows = 0;
        for i in 0..iters {
            let t = Instant::now();
            rows += f(i);
            times.push(t.elapsed());
        }
        times.sort();
        let (p50, p99, max) = (
            ms(percentile_sorted(&times, 50.0)),
            ms(percentile_sorted(&times, 99.0)),
            ms(times[times.len() - 1]),
        );
        if list {
            self.worst_list_p99 = self.worst_list_p99.max(p99);
        }
        println!(
            "{name:<44} {p50:>8.3} {p99:>8.3} {max:>8.3}  {:>6.1}x  {:>7.1}",
            p50 / self.reference_p50,
            rows as f64 / iters as f64
        );
    }
}

fn dir_bytes(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|it| {
            it.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_bytes(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    let a = args();
    let db = a.dir.join("index.db");
    let marker = a.dir.join("complete");
    // the data set ends now (a kept one: when it was made), so event retention has nothing to do
    let kept_end: Option<i64> = std::fs::read_to_string(&marker)
        .ok()
        .and_then(|t| t.trim().parse().ok());
    let reuse = a.keep && kept_end.is_some();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let end_ms = match kept_end {
        Some(t) if reuse => t,
        _ => now_ms - now_ms % 60_000,
    };
    let specs = specs(a.events, end_ms);
    if !reuse {
        let _ = std::fs::remove_dir_all(&a.dir);
        std::fs::create_dir_all(&a.dir).expect("bench dir");
    }
    let store = std::sync::Arc::new(Store::open(config(&a.dir)).expect("open store").0);
    if !reuse {
        eprintln!("recording {} events into {}", a.events, a.dir.display());
        let (messages, elapsed) = insert(&store, &specs, end_ms);
        std::fs::write(&marker, end_ms.to_string()).expect("marker");
        println!(
            "insert: {} events as {messages} messages (Start, Updates, End) in {:.1} s: {:.0} messages/s, \
             {:.0} events/s (batches of 2000 messages, one transaction each)",
            a.events,
            elapsed.as_secs_f64(),
            messages as f64 / elapsed.as_secs_f64(),
            a.events as f64 / elapsed.as_secs_f64()
        );
    } else {
        println!("reusing {} (insert not measured)", a.dir.display());
    }
    let conn = rusqlite::Connection::open(&db).expect("db");
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!(
        "database: {:.1} MB ({:.0} bytes per event)",
        size as f64 / 1e6,
        size as f64 / a.events as f64
    );
    if let Ok(mut q) =
        conn.prepare("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 14")
    {
        let rows: Vec<(String, i64)> = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map(|it| it.flatten().collect())
            .unwrap_or_default();
        let parts: Vec<String> = rows
            .iter()
            .map(|(n, b)| format!("{n} {:.1}", *b as f64 / 1e6))
            .collect();
        println!("  by object (MB): {}", parts.join(", "));
    }
    drop(conn);

    let reader = EventReader::open(&db).expect("reader");
    let reference = rusqlite::Connection::open_with_flags(
        &db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("reference connection");
    let mut ref_times = Vec::new();
    {
        let mut stmt = reference
            .prepare("SELECT * FROM events WHERE id < ?1 ORDER BY id DESC LIMIT 50")
            .expect("reference query");
        for i in 0..500 {
            let t = Instant::now();
            let n = stmt
                .query_map([i64::MAX - i], |r| r.get::<_, i64>(0))
                .expect("reference")
                .count();
            ref_times.push(t.elapsed());
            assert_eq!(n, 50);
        }
    }
    ref_times.sort();
    let mut rep = Report {
        reference_p50: ms(percentile_sorted(&ref_times, 50.0)),
        worst_list_p99: 0.0,
    };
    println!(
        "\n{:<44} {:>8} {:>8} {:>8}  {:>7}  {:>7}",
        "query (ms)", "p50", "p99", "max", "vs ref", "rows"
    );
    println!(
        "{:<44} {:>8.3} {:>8.3} {:>8.3}",
        "reference: bare SQLite newest 50 rows",
        rep.reference_p50,
        ms(percentile_sorted(&ref_times, 99.0)),
        ms(ref_times[ref_times.len() - 1])
    );

    let mut rng = Rng(42);
    let begin = end_ms - 30 * DAY_MS;
    let q = |f: &dyn Fn(&mut EventQuery)| {
        let mut q = EventQuery::default();
        f(&mut q);
        q
    };
    let list = |q: &EventQuery| reader.list(q).expect("list").events.len();
    const N: usize = 300;
    rep.measure("first page, newest 50", N, true, |_| list(&q(&|_| {})));
    let cams: Vec<String> = (0..N)
        .map(|_| CAMERAS[rng.below(16) as usize].to_string())
        .collect();
    rep.measure("one camera (any of 16)", N, true, |i| {
        list(&q(&|q| q.cameras = Some(vec![cams[i].clone()])))
    });
    rep.measure("quietest camera", N, true, |_| {
        list(&q(&|q| q.cameras = Some(vec![CAMERAS[15].to_string()])))
    });
    let sets: Vec<Vec<String>> = (0..N)
        .map(|_| {
            let mut s: Vec<String> = CAMERAS.iter().map(|c| c.to_string()).collect();
            for _ in 0..8 {
                s.swap_remove(rng.below(s.len() as u64) as usize);
            }
            s
        })
        .collect();
    rep.measure("camera set (user allowed 8 of 16)", N, true, |i| {
        list(&q(&|q| q.cameras = Some(sets[i].clone())))
    });
    let kinds = [
        "line_crossing",
        "intrusion",
        "loitering",
        "crowding",
        "queue",
    ];
    rep.measure("one kind (any of 5)", N, true, |i| {
        list(&q(&|q| q.kinds = Some(vec![kinds[i % 5].to_string()])))
    });
    rep.measure("camera + kind", N, true, |i| {
        list(&q(&|q| {
            q.cameras = Some(vec![cams[i].clone()]);
            q.kinds = Some(vec![kinds[i % 5].to_string()]);
        }))
    });
    rep.measure("camera set (8) + kind", N, true, |i| {
        list(&q(&|q| {
            q.cameras = Some(sets[i].clone());
            q.kinds = Some(vec![kinds[i % 5].to_string()]);
        }))
    });
    rep.measure("class (truck)", N, true, |_| {
        list(&q(&|q| q.classes = Some(vec!["truck".into()])))
    });
    rep.measure("rule", N, true, |i| {
        let r = format!("{} count", PLACES[i % 16]);
        list(&q(&|q| q.rules = Some(vec![r.clone()])))
    });
    rep.measure("zone", N, true, |i| {
        list(&q(&|q| q.zone = Some(PLACES[i % 16].to_string())))
    });
    let hours: Vec<i64> = (0..N)
        .map(|_| begin + rng.below(30 * 24) as i64 * 3_600_000)
        .collect();
    rep.measure("time range: a random hour", N, true, |i| {
        list(&q(&|q| {
            q.from_ms = Some(hours[i]);
            q.to_ms = Some(hours[i] + 3_600_000);
        }))
    });
    rep.measure("time range: a random day + camera", N, true, |i| {
        list(&q(&|q| {
            q.from_ms = Some(hours[i]);
            q.to_ms = Some(hours[i] + DAY_MS);
            q.cameras = Some(vec![cams[i].clone()]);
        }))
    });
    rep.measure("open events", N, true, |_| {
        list(&q(&|q| q.open_only = true))
    });
    let words = [
        "person",
        "car",
        "truck",
        "forklift",
        "reception",
        "inbound",
        "crossed",
        "queue",
        "pond",
        "servers",
    ];
    rep.measure("text: one word (common to rare)", N, true, |i| {
        list(&q(&|q| q.text = Some(words[i % words.len()].to_string())))
    });
    rep.measure("text: \"person\" (70% of events)", N, true, |_| {
        list(&q(&|q| q.text = Some("person".into())))
    });
    rep.measure("text: two words \"truck forklift\"", N, true, |_| {
        list(&q(&|q| q.text = Some("truck forklift".into())))
    });
    rep.measure("text: prefix \"fork*\"", N, true, |_| {
        list(&q(&|q| q.text = Some("fork*".into())))
    });
    rep.measure("text: phrase \"east gate\"", N, true, |_| {
        list(&q(&|q| q.text = Some("\"east gate\"".into())))
    });
    rep.measure("text: no match", N, true, |_| {
        list(&q(&|q| q.text = Some("zeppelin".into())))
    });
    rep.measure("text + camera set (8)", N, true, |i| {
        list(&q(&|q| {
            q.text = Some("person".into());
            q.cameras = Some(sets[i].clone());
        }))
    });
    rep.measure("text + time range (a day)", N, true, |i| {
        list(&q(&|q| {
            q.text = Some("car".into());
            q.from_ms = Some(hours[i]);
            q.to_ms = Some(hours[i] + DAY_MS);
        }))
    });

    // deep pages: follow the cursor 400 pages (20,000 events) down
    for (name, base) in [
        ("deep pages 1-400 by cursor", q(&|_| {})),
        (
            "deep pages 1-400 by cursor, one camera",
            q(&|q| q.cameras = Some(vec![CAMERAS[3].to_string()])),
        ),
        (
            "deep pages 1-400 by cursor, text \"car\"",
            q(&|q| q.text = Some("car".into())),
        ),
    ] {
        let mut cur = base.clone();
        rep.measure(name, 400, true, |i| {
            if i == 0 {
                cur = base.clone();
            }
            let page = reader.list(&cur).expect("page");
            cur.cursor = page.next_cursor.clone();
            if cur.cursor.is_none() {
                cur = base.clone();
            }
            page.events.len()
        });
    }
    rep.measure("page size 1000", 50, true, |_| {
        list(&q(&|q| q.limit = 1000))
    });

    // adversarial: two selective filters that rarely meet (the driver walks one index)
    rep.measure(
        "adversarial: quiet camera + class truck + queue",
        50,
        true,
        |_| {
            list(&q(&|q| {
                q.cameras = Some(vec![CAMERAS[15].to_string()]);
                q.kinds = Some(vec!["queue".into()]);
                q.classes = Some(vec!["truck".into()]);
            }))
        },
    );

    let ids: Vec<EventId> = (0..N)
        .map(|_| {
            let s = &specs[rng.below(specs.len() as u64) as usize];
            EventId::from_parts(
                s.start_ms as u64,
                (u128::from(s.camera) << 64) | u128::from(s.seq),
            )
        })
        .collect();
    rep.measure("get(id)", N, false, |i| {
        usize::from(reader.get(ids[i]).is_ok())
    });
    let cam4: Vec<String> = CAMERAS[..4].iter().map(|c| c.to_string()).collect();
    // timelines: quarter-hour boundaries read the counts table; others count the events
    let (hb, he) = (begin - begin % 900_000 + 900_000, end_ms - end_ms % 900_000);
    rep.measure(
        "histogram: 30 days by hour, all (56k bins)",
        20,
        false,
        |_| {
            reader
                .histogram(hb, he, 3_600_000, None)
                .expect("histogram")
                .len()
        },
    );
    rep.measure("histogram: 30 days by day, 4 cameras", 20, false, |_| {
        reader
            .histogram(hb, he, DAY_MS, Some(&cam4))
            .expect("histogram")
            .len()
    });
    rep.measure("histogram: a day by hour, one camera", N, false, |i| {
        let from = hours[i] - hours[i] % 900_000;
        reader
            .histogram(from, from + DAY_MS, 3_600_000, Some(&cams[i..=i]))
            .expect("histogram")
            .len()
    });
    rep.measure("histogram: a day by 5 min, unaligned", 50, false, |i| {
        let from = hours[i] + 7 * 60_000 + 13;
        reader
            .histogram(from, from + DAY_MS, 300_000, None)
            .expect("histogram")
            .len()
    });
    rep.measure("histogram: 30 days by hour, unaligned", 10, false, |_| {
        reader
            .histogram(begin + 60_000, end_ms, 3_600_000, None)
            .expect("histogram")
            .len()
    });

    // snapshots: real JPEGs when the shared footage is there
    let frame = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/footage/mot17-mini/train/MOT17-05-FRCNN/img1/000001.jpg");
    match std::fs::read(&frame) {
        Ok(full) => {
            let crop = full.clone();
            let mut seen = HashSet::new();
            let targets: Vec<EventId> = ids
                .iter()
                .copied()
                .filter(|i| seen.insert(*i))
                .take(200)
                .collect();
            rep.measure(
                "save_snapshot (2 JPEGs, fsyncs, 2 commits)",
                targets.len(),
                false,
                |i| {
                    store
                        .save_snapshot(targets[i % targets.len()], &full, Some(&crop))
                        .map(|_| 1)
                        .unwrap_or(0)
                },
            );
            rep.measure(
                "snapshot read + CRC check (35 kB)",
                targets.len(),
                false,
                |i| {
                    reader
                        .snapshot(targets[i % targets.len()], SnapshotKind::Full)
                        .map(|b| usize::from(!b.is_empty()))
                        .unwrap_or(0)
                },
            );
        }
        Err(_) => eprintln!("SKIP snapshots: {} not found", frame.display()),
    }

    // one message per call, as the event bus sends them: one commit (WAL fsync) each
    {
        let tz = TimeZone::utc();
        let mut seq = 3_000_000_000u32;
        rep.measure("record_event: one message, one commit", N, false, |_| {
            seq += 1;
            let at = end_ms + 600_000 + i64::from(seq - 3_000_000_000) * 7;
            let s = Spec {
                start_ms: at,
                end_ms: at + 5000,
                camera: (seq % 16) as u8,
                rule: (seq % 5) as u8,
                class: 0,
                seq,
                updates: 0,
            };
            store
                .record_event(&build(&s, EventPhase::Start, at, &tz))
                .map(|_| 1)
                .unwrap_or(0)
        });
    }

    // queries while the recorder side writes events (a busy site: ~200 messages/s)
    {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            let store = store.clone();
            let tz = TimeZone::utc();
            std::thread::spawn(move || {
                let mut seq = 4_000_000_000u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let batch: Vec<Event> = (0..20)
                        .map(|_| {
                            seq += 1;
                            let s = Spec {
                                start_ms: end_ms + i64::from(seq - 4_000_000_000) * 10,
                                end_ms: end_ms + i64::from(seq - 4_000_000_000) * 10 + 5000,
                                camera: (seq % 16) as u8,
                                rule: (seq % 5) as u8,
                                class: 0,
                                seq,
                                updates: 0,
                            };
                            build(&s, EventPhase::Start, s.start_ms, &tz)
                        })
                        .collect();
                    store.record_events(&batch).expect("concurrent write");
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        rep.measure("while writing: first page", N, true, |_| list(&q(&|_| {})));
        rep.measure("while writing: camera set (8)", N, true, |i| {
            list(&q(&|q| q.cameras = Some(sets[i].clone())))
        });
        rep.measure("while writing: text", N, true, |i| {
            list(&q(&|q| q.text = Some(words[i % words.len()].to_string())))
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().expect("writer");
    }
    println!(
        "\nworst list-query p99: {:.1} ms (target: under 50 ms)",
        rep.worst_list_p99
    );

    if !a.keep {
        let t = Instant::now();
        let r = store.run_event_retention().expect("retention");
        println!(
            "event retention pass, nothing due: {:.1} ms ({} deleted)",
            ms(t.elapsed()),
            r.deleted_events
        );
    }
    drop(store);
    if !a.keep {
        // a third of the events past a 20-day retention
        let mut cfg = config(&a.dir);
        cfg.events.retention_days = ((now_ms - (end_ms - 20 * DAY_MS)) / DAY_MS) as u32;
        let store = Store::open(cfg).expect("reopen").0;
        let t = Instant::now();
        let r = store.run_event_retention().expect("retention");
        let secs = t.elapsed().as_secs_f64();
        println!(
            "event retention deleting {} events (rows, search entries, counts, marks, {} snapshot files): \
             {secs:.1} s, {:.0} events/s",
            r.deleted_events,
            r.deleted_snapshot_files,
            r.deleted_events as f64 / secs
        );
        drop(store);
        println!("total on disk: {:.1} MB", dir_bytes(&a.dir) as f64 / 1e6);
        let _ = std::fs::remove_dir_all(&a.dir);
    }
}
