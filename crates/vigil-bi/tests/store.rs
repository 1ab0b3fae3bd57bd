//! The figures against their sources: the real rules engine raises line crossings and queue events from
//! walking people, the real store keeps them with the track paths, and the dashboard's numbers must equal
//! the engine's line counters and the stored events; the CSV must equal the JSON; the PDF report's text
//! (pdftotext) must hold the KPIs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use vigil_bi::csv::ToCsv;
use vigil_bi::{Ask, Bucket, Report, Site, ZoneShape};
use vigil_core::{
    BBox, CrossingDirection, Event, EventKind, PathPoint, Point, Time90k, TrackPath, TrackedObject,
};
use vigil_rules::{FrameContext, RuleEngine, RulesConfig, TimeZone};
use vigil_store::{Store, StoreConfig};

/// 2026-03-29 00:00 in Berlin (a 23-hour day: clocks go forward at 02:00).
fn day0(tz: &TimeZone) -> i64 {
    tz.unix_ms_of_local(vigil_core::time::days_from_civil(2026, 3, 29), 0)
}

const RULES: &str = r#"
timezone = "CET-1CEST,M3.5.0,M10.5.0/3"
[[line]]
name = "Door"
p1 = [0.0, 0.5]
p2 = [1.0, 0.5]
[[zone]]
name = "Till"
points = [[0.0, 0.0], [0.3, 0.0], [0.3, 0.4], [0.0, 0.4]]
[[rule]]
name = "Door count"
kind = "line_crossing"
line = "Door"
[[rule]]
name = "Till queue"
kind = "queue"
zone = "Till"
more_than = 2
"#;

fn open(root: &Path) -> Store {
    let dir = root.join("dir1");
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = StoreConfig::new(root.join("db/index.db"), "dir1", &dir);
    c.dirs[0].min_free_bytes = 0;
    c.background_retention = false;
    Store::open(c).unwrap().0
}

fn person(id: u64, x: f32, y: f32) -> TrackedObject {
    let (px, py) = (x * 1920.0, y * 1080.0);
    TrackedObject {
        id,
        bbox: BBox::new(px - 30.0, py - 160.0, px + 30.0, py),
        score: 0.9,
        class_id: 0,
        age: 10,
        matched: true,
    }
}

/// A scene: who is where in each frame (10 fps), from `t0`.
struct Scene {
    engine: RuleEngine,
    events: Vec<Event>,
    paths: BTreeMap<u64, TrackPath>,
}

impl Scene {
    fn frame(&mut self, t: i64, objects: &[TrackedObject]) {
        let ctx = FrameContext {
            time_unix_ms: t,
            media_time: Time90k(t * 90),
            frame_w: 1920,
            frame_h: 1080,
        };
        self.events.extend(self.engine.update(&ctx, objects));
        for o in objects {
            let p = self.paths.entry(o.id).or_insert_with(|| TrackPath {
                camera: "Shop".into(),
                track: o.id,
                class: "person".into(),
                first_ms: t,
                last_ms: t,
                points: Vec::new(),
                attributes: Default::default(),
            });
            p.last_ms = t;
            // sampled every half second, as the pipeline stores them
            if p.points.last().is_none_or(|q| t - q.ms >= 500) {
                p.points.push(PathPoint {
                    ms: t,
                    x: (o.bbox.x1 + o.bbox.x2) / 2.0 / 1920.0,
                    y: o.bbox.y2 / 1080.0,
                    w: (o.bbox.x2 - o.bbox.x1) / 1920.0,
                    h: (o.bbox.y2 - o.bbox.y1) / 1080.0,
                });
            }
        }
    }

    /// One person walks across the door line (down, or up), 3 s.
    fn walk(&mut self, id: u64, t0: i64, down: bool) {
        for i in 0..30 {
            let f = i as f32 / 29.0;
            let y = if down { 0.2 + 0.6 * f } else { 0.8 - 0.6 * f };
            self.frame(t0 + i * 100, &[person(id, 0.6, y)]);
        }
        self.frame(t0 + 3000, &[]);
    }

    /// Four people stand in the till zone for `secs`.
    fn queue(&mut self, first_id: u64, t0: i64, secs: i64) {
        for i in 0..secs * 10 {
            let people: Vec<_> = (0..4)
                .map(|k| person(first_id + k, 0.05 + 0.07 * k as f32, 0.3))
                .collect();
            self.frame(t0 + i * 100, &people);
        }
        for i in 0..200 {
            self.frame(t0 + secs * 1000 + i * 100, &[]);
        }
    }
}

#[test]
fn dashboard_numbers_equal_the_line_counters_and_the_event_store_csv_and_pdf_too() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let config: RulesConfig = toml::from_str(RULES).unwrap();
    let tz = TimeZone::parse(&config.timezone).unwrap();
    let mut scene = Scene {
        engine: RuleEngine::new("Shop", &config, &["person"]).unwrap(),
        events: Vec::new(),
        paths: BTreeMap::new(),
    };
    let d0 = day0(&tz);
    // a day of walks: people at 01:xx (before the switch), 03:xx, 09:xx and 17:xx local; the previous
    // day has 2 walks in, for the comparison
    let mut id = 1;
    let prev = d0 - 86_400_000 + 10 * 3_600_000;
    scene.walk(id, prev, true);
    scene.walk(id + 1, prev + 60_000, true);
    id += 2;
    for (hour_ms, downs, ups) in [
        (3_600_000i64, 3, 1),
        (2 * 3_600_000 + 600_000, 2, 0), // 03:10 local: an hour after midnight + 1 h
        (8 * 3_600_000, 5, 4),
        (16 * 3_600_000, 1, 2),
    ] {
        for k in 0..downs + ups {
            scene.walk(id, d0 + hour_ms + k * 60_000, k < downs);
            id += 1;
        }
    }
    scene.queue(100, d0 + 20 * 3_600_000, 30);
    scene.events.extend(scene.engine.close());
    store.record_events(&scene.events).unwrap();
    let paths: Vec<Arc<TrackPath>> = scene.paths.values().cloned().map(Arc::new).collect();
    store.record_paths(&paths).unwrap();

    let counter = &scene.engine.counters()[0];
    let (inbound, outbound) = match counter.inbound_direction {
        CrossingDirection::AToB => (counter.total.a_to_b, counter.total.b_to_a),
        CrossingDirection::BToA => (counter.total.b_to_a, counter.total.a_to_b),
    };
    assert_eq!(inbound + outbound, 20, "the engine saw every walk");

    let mut zones = BTreeMap::new();
    let till = &config.zone[0];
    let ring = till.points.as_ref().unwrap().rings[0].clone();
    zones.insert(
        "Shop".to_string(),
        vec![ZoneShape {
            name: till.name.clone(),
            polygon: vigil_rules::Polygon::new(
                ring.iter().map(|p| Point { x: p[0], y: p[1] }).collect(),
            )
            .unwrap(),
        }],
    );
    let site = Site {
        tz: tz.clone(),
        zones,
    };
    let reader = store.event_reader().unwrap();
    let ask = Ask {
        cameras: vec!["Shop".into()],
        from_ms: d0,
        to_ms: d0 + 23 * 3_600_000,
        bucket: Bucket::Hour,
        compare: true,
    };
    let f = vigil_bi::compared(&ask, |a| vigil_bi::footfall(&reader, &site, a)).unwrap();
    // the store's counts equal the engine's counters, less the previous day's 2
    assert_eq!(f.current.total_in + 2, inbound);
    assert_eq!(f.current.total_out, outbound);
    assert_eq!(f.previous.as_ref().unwrap().total_in, 2);
    // a 23-hour day: 23 hourly buckets, and 02:00 never happens
    assert_eq!(f.current.buckets.len(), 23);
    assert!(
        f.current
            .buckets
            .iter()
            .all(|b| !b.label.ends_with(" 02:00"))
    );
    let at = |label: &str| {
        let i = f
            .current
            .buckets
            .iter()
            .position(|b| b.label.ends_with(label))
            .unwrap();
        f.current.in_counts[i] + f.current.out_counts[i]
    };
    assert_eq!(
        (at("01:00"), at("03:00"), at("09:00"), at("17:00")),
        (4, 2, 9, 3)
    );
    // the events themselves
    let stored =
        vigil_bi::events_of(&reader, &ask.cameras, "line_crossing", d0, ask.to_ms).unwrap();
    let sum: u64 = stored
        .iter()
        .map(|e| match e.event.kind {
            EventKind::LineCrossing {
                inbound_count,
                outbound_count,
                ..
            } => (inbound_count + outbound_count) as u64,
            _ => 0,
        })
        .sum();
    assert_eq!(sum, f.current.total_in + f.current.total_out);

    // CSV equals JSON
    let csv = f.current.csv();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 23);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0].parse::<i64>().unwrap(), f.current.buckets[i].start);
        assert_eq!(r[3].parse::<u64>().unwrap(), f.current.in_counts[i]);
        assert_eq!(r[4].parse::<u64>().unwrap(), f.current.out_counts[i]);
    }

    // queues: the stored queue event's facts
    let q = vigil_bi::queues(&reader, &site, &ask).unwrap();
    let qe = vigil_bi::events_of(&reader, &ask.cameras, "queue", d0, ask.to_ms).unwrap();
    assert_eq!(q.events, qe.len() as u64);
    assert!(q.events >= 1, "the queue rule fired");
    let EventKind::Queue {
        peak_length,
        mean_wait_ms,
        ..
    } = qe[0].event.kind
    else {
        panic!("not a queue event")
    };
    assert_eq!(q.peak_length, peak_length);
    assert_eq!(q.peak_length, 4);
    let want = (mean_wait_ms as f64 / 1000.0 * 10.0).round() / 10.0;
    assert_eq!(q.mean_wait_s, Some(want));

    // occupancy and dwell of the till zone from the paths: four people for ~30 s
    let o = vigil_bi::occupancy(&reader, &site, &ask).unwrap();
    let till = o.zones.iter().find(|z| z.zone == "Till").unwrap();
    assert_eq!(till.peak, 4);
    assert_eq!(o.peak, 4);
    let d = vigil_bi::dwell(&reader, &site, &ask).unwrap();
    let till = d.zones.iter().find(|z| z.zone == "Till").unwrap();
    assert_eq!(till.visits, 4);
    let m = till.median_s.unwrap();
    assert!((29.0..=31.0).contains(&m), "median dwell {m}");
    let csv = o.csv();
    assert_eq!(csv.lines().count(), 1 + 2 * 23);

    // the PDF report's text holds the KPIs
    let report = Report::build(&reader, &site, &ask, "Shop daily").unwrap();
    let kpi = |k: &str| report.kpis.iter().find(|x| x.key == k).unwrap().clone();
    assert_eq!(kpi("footfall_in").value, Some(f.current.total_in as f64));
    assert_eq!(kpi("footfall_in").previous, Some(2.0));
    assert_eq!(kpi("peak_occupancy").value, Some(4.0));
    let pdf = tmp.path().join("r.pdf");
    vigil_bi::report::write_file(&pdf, &report.pdf()).unwrap();
    let html = report.html();
    assert!(html.contains("<svg") && html.contains("Footfall in"));
    let out = match std::process::Command::new("pdftotext")
        .arg(&pdf)
        .arg("-")
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: pdftotext not found ({e}); install poppler-utils");
            return;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Shop daily"), "{text}");
    for k in &report.kpis {
        assert!(text.contains(k.label), "{} missing in {text}", k.label);
        assert!(
            text.contains(&Report::value_text(k)),
            "{} missing in {text}",
            Report::value_text(k)
        );
    }
    assert!(
        text.contains(&format!("Shop / Door: in {}", f.current.total_in)),
        "{text}"
    );
}

#[test]
fn a_bad_range_is_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    let reader = store.event_reader().unwrap();
    let ask = Ask {
        cameras: vec![],
        from_ms: 10,
        to_ms: 5,
        bucket: Bucket::Day,
        compare: false,
    };
    let e =
        vigil_bi::compared(&ask, |a| vigil_bi::footfall(&reader, &Site::default(), a)).unwrap_err();
    assert!(e.to_string().contains("before"), "{e}");
}
