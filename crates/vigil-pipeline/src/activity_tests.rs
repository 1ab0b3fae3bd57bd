//! The baselines' events through the real rules engine and the real store.

use super::*;
use vigil_core::BBox;
use vigil_rules::{RuleEngine, RulesConfig};
use vigil_store::{BaselineStore, PersistedBaselines};

/// Monday 2024-06-03 00:00 UTC.
const MONDAY: i64 = 1_717_372_800_000;
const MINUTE: i64 = 60_000;
const WEEK: i64 = 7 * 24 * 60 * MINUTE;
/// Tuesday 03:00 in the fifth week.
const TUESDAY_3AM: i64 = MONDAY + 4 * WEEK + (24 + 3) * 60 * MINUTE;
const CLASSES: [&str; 3] = ["person", "bicycle", "car"];

fn rules() -> RulesConfig {
    toml::from_str(
        r#"
timezone = "UTC"
[[zone]]
name = "Loading dock"
points = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]
"#,
    )
    .unwrap()
}

fn settings() -> ActivitySettings {
    ActivitySettings {
        params: BaselineParams::default(),
        classes: vec!["person".into()],
        hold_minutes: 2,
    }
}

fn people_at(measure_zone: Option<&str>) -> Measure {
    Measure {
        metric: Metric::Count("person".into()),
        zone: measure_zone.map(str::to_string),
    }
}

/// Four weeks of quiet Tuesday nights (03:00-04:00: nobody, one person every 5th minute), in the view
/// and the zone, written to the store at `db` as a previous run would have.
fn quiet_history(db: &std::path::Path) {
    let tz = TimeZone::utc();
    let mut b = ActivityBaseline::default();
    let mut records = Vec::new();
    for w in 0..4 {
        for minute in 0..60 {
            let t = MONDAY + w * WEEK + (24 + 3) * 60 * MINUTE + minute * MINUTE;
            let x = if minute % 5 == 0 { 1.0 } else { 0.0 };
            for m in [people_at(None), people_at(Some("Loading dock"))] {
                records.push(b.learn(&m, x, t, &tz));
            }
        }
    }
    let mut store = BaselineStore::open(db).unwrap();
    store.save("dock", &records).unwrap();
}

/// `n` people standing in the lower half of a 640x480 picture.
fn crowd(n: u64) -> Vec<TrackedObject> {
    (0..n)
        .map(|i| TrackedObject {
            id: i + 1,
            bbox: BBox {
                x1: 20.0 + 45.0 * i as f32,
                y1: 300.0,
                x2: 60.0 + 45.0 * i as f32,
                y2: 420.0,
            },
            score: 0.8,
            class_id: 0,
            age: 10,
            matched: true,
        })
        .collect()
}

/// Frames at 5 fps from `from` for `minutes`, `n` people in view; the events.
fn run(
    engine: &mut RuleEngine,
    stage: &mut ActivityStage,
    from: i64,
    minutes: i64,
    n: u64,
) -> Vec<Event> {
    let names: Vec<String> = CLASSES.iter().map(|c| c.to_string()).collect();
    let tracks = crowd(n);
    let mut out = Vec::new();
    for i in 0..minutes * 60 * 5 {
        let ctx = FrameContext {
            time_unix_ms: from + i * 200,
            media_time: Default::default(),
            frame_w: 640,
            frame_h: 480,
        };
        engine.update(&ctx, &tracks);
        if stage.due(ctx.time_unix_ms) {
            out.extend(stage.observe(&ctx, &tracks, &names, &engine.occupancy()));
        }
    }
    out
}

#[test]
fn twelve_people_at_the_dock_at_3am_is_an_event_that_names_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("index.db");
    quiet_history(&db);
    let persist = PersistedBaselines::new(BaselineStore::open(&db).unwrap());
    let mut stage =
        ActivityStage::new("dock", TimeZone::utc(), settings(), Some(Box::new(persist)));
    let mut engine = RuleEngine::new("dock", &rules(), &CLASSES).unwrap();

    // Three minutes of 12 people: the deviation holds two minutes, then the event starts.
    let on = run(&mut engine, &mut stage, TUESDAY_3AM, 3, 12);
    let starts: Vec<&Event> = on.iter().filter(|e| e.phase == EventPhase::Start).collect();
    assert_eq!(starts.len(), 2, "{on:#?}");
    let dock = starts
        .iter()
        .find(|e| e.zone.as_deref() == Some("Loading dock"))
        .unwrap();
    assert_eq!(
        dock.description,
        "Unusual activity: 12 people at 'Loading dock' at 03:00 on Tuesday; usually 0-1"
    );
    assert_eq!(dock.kind.name(), "activity_anomaly");
    assert_eq!(dock.rule, RULE);
    assert_eq!(dock.class_name, "person");
    assert_eq!(dock.start.unix_ms, TUESDAY_3AM);
    let view = starts.iter().find(|e| e.zone.is_none()).unwrap();
    assert!(
        view.description.contains("12 people in view"),
        "{}",
        view.description
    );

    // They leave: both end after two normal minutes, and nothing starts.
    let off = run(&mut engine, &mut stage, TUESDAY_3AM + 3 * MINUTE, 4, 0);
    assert_eq!(off.len(), 2, "{off:#?}");
    assert!(off.iter().all(|e| e.phase == EventPhase::End));
    let ended = off.iter().find(|e| e.id == dock.id).unwrap();
    assert!(
        ended
            .description
            .starts_with("Unusual activity for 3 min (03:00"),
        "{}",
        ended.description
    );

    // The minutes seen were learned and kept: a new run starts from them.
    let back = BaselineStore::open(&db).unwrap().load("dock").unwrap();
    let learned = ActivityBaseline::from_records(&back);
    let slot = learned.get(&people_at(Some("Loading dock")), 27).unwrap();
    assert_eq!(slot.samples, 240 + 6);
    assert!(
        learned
            .get(
                &Measure {
                    metric: Metric::Dwell,
                    zone: Some("Loading dock".into())
                },
                27
            )
            .is_some()
    );
}

#[test]
fn without_enough_history_the_same_burst_raises_nothing() {
    let mut stage = ActivityStage::new("dock", TimeZone::utc(), settings(), None);
    let mut engine = RuleEngine::new("dock", &rules(), &CLASSES).unwrap();
    assert!(run(&mut engine, &mut stage, TUESDAY_3AM, 4, 12).is_empty());
}
