//! Search over HTTPS (`GET /api/search`, `/api/search/similar`): queries parsed into filters, colours
//! known to differ left out, tracks found by what they looked like, the caller's cameras only, bad queries
//! refused with the reason, many searches at once.

use crate::common::{self, Auth, CAM_A, CAM_B, Setup, T0_MS, TestServer};
use serde_json::{Value, json};
use vigil_core::{Attributes, Colour, EventKind, PathPoint, TrackPath};

fn car(n: u128, camera: &str, colour: Colour, start_ms: i64) -> vigil_core::Event {
    let mut e = crate::face_events::face_event(n);
    e.kind = EventKind::Intrusion;
    e.rule = "Gate watch".into();
    e.camera = camera.into();
    e.class_name = "car".into();
    e.objects[0].class_name = "car".into();
    e.objects[0].class_id = 2;
    e.zone = Some("Gate".into());
    e.start.unix_ms = start_ms;
    e.last.unix_ms = start_ms + 4000;
    e.end = Some(e.last);
    e.track_ids = vec![n as u64];
    e.description = format!("A car entered 'Gate' on {camera}");
    e.attributes = Attributes {
        colour: Some(colour),
        ..Default::default()
    };
    e
}

fn server() -> (
    TestServer,
    common::Session,
    Auth,
    Auth,
    Vec<vigil_core::Event>,
) {
    let vocabulary = vigil_search::Vocabulary {
        cameras: vec![CAM_A.into(), CAM_B.into()],
        places: vec!["Gate".into(), "Yard".into()],
        rules: vec!["Gate watch".into(), "Yard intrusion".into()],
        people: Vec::new(),
    };
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        search: Some(vigil_server::search::SearchContext::new(
            vocabulary,
            vigil_rules::tz::TimeZone::utc(),
            None,
        )),
        ..Setup::default()
    });
    let store = s.ctx.store.clone().unwrap();
    let cars = vec![
        car(101, CAM_A, Colour::Red, T0_MS + 60_000),
        car(102, CAM_B, Colour::White, T0_MS + 70_000),
        car(103, CAM_B, Colour::Red, T0_MS + 80_000),
    ];
    store.record_events(&cars).unwrap();
    // A person in a blue top and black trousers, tracked on camera A through the yard (no event).
    store
        .record_paths(&[std::sync::Arc::new(TrackPath {
            camera: CAM_A.into(),
            track: 77,
            class: "person".into(),
            first_ms: T0_MS + 100_000,
            last_ms: T0_MS + 110_000,
            points: vec![PathPoint {
                ms: T0_MS + 100_000,
                x: 0.5,
                y: 0.5,
                w: 0.1,
                h: 0.3,
            }],
            attributes: Attributes {
                upper_colour: Some(Colour::Blue),
                lower_colour: Some(Colour::Black),
                zones: vec!["Yard".into()],
                ..Default::default()
            },
        })])
        .unwrap();
    let olga = Auth::Session(s.user(&admin, "olga", "operator", json!({})));
    let bob = Auth::Session(s.user(&admin, "bob", "viewer", json!({"cameras": [CAM_B]})));
    (s, admin, olga, bob, cars)
}

fn search(s: &TestServer, who: &Auth, q: &str) -> Value {
    let r = s.call(
        "GET",
        &format!("/api/search?q={}", urlencoding(q)),
        who,
        None,
    );
    assert_eq!(r.status, 200, "{q}: {}", r.text());
    r.json()
}

fn urlencoding(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn ids(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn queries_become_filters_and_find_events_and_tracks_on_the_callers_cameras_only() {
    let (s, admin, olga, bob, cars) = server();
    let red = search(&s, &olga, "red car at the gate");
    assert_eq!(red["query"]["classes"], json!(["car"]));
    assert_eq!(red["query"]["places"], json!(["Gate"]));
    assert_eq!(
        red["query"]["colours"],
        json!([{"colour": "red", "part": "any"}])
    );
    // Both red cars (newest first on a tie); the white one is known to be another colour.
    assert_eq!(
        ids(&red),
        [cars[2].id.to_string(), cars[0].id.to_string()],
        "{red}"
    );
    assert!(
        red["results"][0]["why"]
            .as_array()
            .unwrap()
            .contains(&json!("red"))
    );
    // Bob sees camera B only, whatever he asks.
    assert_eq!(ids(&search(&s, &bob, "red car")), [cars[2].id.to_string()]);
    assert_eq!(
        ids(&search(&s, &bob, &format!("car on {CAM_A}"))),
        Vec::<String>::new()
    );
    // A track found by what the person wore, not by any event.
    let blue = search(&s, &olga, "person in a blue top in the yard");
    assert_eq!(blue["results"][0]["type"], "track", "{blue}");
    assert_eq!(blue["results"][0]["attributes"]["upper_colour"], "blue");
    assert!(
        ids(&search(&s, &olga, "person in a red top"))
            .iter()
            .all(|id| !id.contains("/77/")),
        "a person known to wear blue is not a person in red"
    );
    let bobs = search(&s, &bob, "person in a blue top");
    assert!(
        ids(&bobs).iter().all(|id| !id.contains("/77/")),
        "camera A's track is not Bob's: {bobs}"
    );
    // People whose colours are not known are kept, below those known to match.
    let all = search(&s, &olga, "person in a blue top");
    assert!(all["results"][0]["id"].as_str().unwrap().contains("/77/"));
    assert!(all["results"][0]["score"].as_f64() > all["results"][1]["score"].as_f64());
    // A plate in a query is personal data: the search is audited.
    let admin = Auth::Session(admin);
    let plate_searches = || crate::face_events::audited(&s, &admin, "plate.search").len();
    let before = plate_searches();
    search(&s, &olga, "car with plate KX58RTY");
    assert_eq!(plate_searches(), before + 1);
    // Nothing matches honestly.
    let none = search(&s, &olga, "xyzzy");
    assert_eq!(none["results"], json!([]));
    assert_eq!(none["total"], 0);
}

#[test]
fn empty_absurd_or_impossible_queries_are_refused_with_the_reason() {
    let (s, _admin, olga, _bob, _) = server();
    for (q, says) in [
        ("", "empty query"),
        ("   ", "empty query"),
        (&"x".repeat(501) as &str, "longer than"),
        ("car on 2024-02-30", "not a date"),
        ("car last 2 hours yesterday", "cannot be combined"),
    ] {
        let r = s.call(
            "GET",
            &format!("/api/search?q={}", urlencoding(q)),
            &olga,
            None,
        );
        assert_eq!(r.status, 400, "{q:?}: {}", r.text());
        assert!(r.text().contains(says), "{q:?}: {}", r.text());
    }
    for bad in [
        "/api/search",
        "/api/search?q=car&limit=0",
        "/api/search?q=car&limit=9999",
    ] {
        assert_eq!(s.call("GET", bad, &olga, None).status, 400, "{bad}");
    }
}

#[test]
fn more_like_this_finds_the_same_person_on_other_cameras_within_the_callers_cameras() {
    let (s, admin, olga, bob, _) = server();
    let store = s.ctx.store.clone().unwrap();
    let mut e = crate::face_events::face_event(9);
    e.kind = EventKind::Intrusion;
    e.rule = "Yard intrusion".into();
    e.track_ids = vec![42];
    store.record_event(&e).unwrap();
    let t = e.start.unix_ms;
    let look = crate::face_events::appearance;
    // The person; the same person on B a week later; someone else on B; the same on A the next month.
    store
        .record_appearances(&[
            look(CAM_A, 42, t - 1000, 0.0),
            look(CAM_B, 7, t + 7 * 86_400_000, 0.1),
            look(CAM_B, 8, t + 90_000, 1.4),
            look(CAM_A, 43, t + 30 * 86_400_000, 0.3),
        ])
        .unwrap();
    let similar = |who: &Auth, query: &str| -> Vec<(String, u64)> {
        let r = s.call("GET", &format!("/api/search/similar?{query}"), who, None);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["camera"].as_str().unwrap().to_string(),
                    a["track"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let id = e.id;
    assert_eq!(
        similar(&olga, &format!("event={id}&limit=2")),
        [(CAM_B.to_string(), 7), (CAM_A.to_string(), 43)],
        "across cameras and weeks, the person's own track left out"
    );
    let vera = Auth::Session(s.user(&admin, "vera", "viewer", json!({"cameras": [CAM_A]})));
    assert_eq!(
        similar(&vera, &format!("event={id}")),
        [(CAM_A.to_string(), 43)]
    );
    // A face event (who someone is) is the faces permission's: an operator gets no person from it.
    let face = crate::face_events::face_event(10);
    store.record_event(&face).unwrap();
    store
        .record_appearances(&[look(CAM_A, face.track_ids[0], face.start.unix_ms, 0.0)])
        .unwrap();
    let r = s.call(
        "GET",
        &format!("/api/search/similar?event={}", face.id),
        &olga,
        None,
    );
    assert_eq!(r.status, 404, "{}", r.text());
    let r = s.call(
        "GET",
        &format!("/api/search/similar?event={}", face.id),
        &Auth::Session(admin.clone()),
        None,
    );
    assert_eq!(r.status, 200, "an admin may: {}", r.text());
    // Bob may not see camera A's event at all.
    let r = s.call(
        "GET",
        &format!("/api/search/similar?event={id}"),
        &bob,
        None,
    );
    assert_eq!(r.status, 404, "{}", r.text());
    for (query, status) in [
        ("event=nope".to_string(), 400),
        ("event=01HK1545S8000000000000ZZZZ".to_string(), 404),
        (format!("event={}", s.events[0].1), 400),
    ] {
        let r = s.call("GET", &format!("/api/search/similar?{query}"), &olga, None);
        assert_eq!(r.status, status, "{query}: {}", r.text());
    }
}

#[test]
fn fifty_searches_at_once_all_answer() {
    let (s, _admin, olga, _bob, _) = server();
    let s = &s;
    let olga = &olga;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                scope.spawn(move || {
                    let q = if i % 2 == 0 {
                        "red car"
                    } else {
                        "person in blue yesterday"
                    };
                    s.call(
                        "GET",
                        &format!("/api/search?q={}", urlencoding(q)),
                        olga,
                        None,
                    )
                    .status
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), 200);
        }
    });
}
