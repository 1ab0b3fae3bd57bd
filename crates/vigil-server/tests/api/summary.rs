//! `GET /api/summary` on the real HTTPS server: sentences with confidence and citations from the stored
//! events, the same person across two cameras told as one incident (re-identification), a clip of a
//! citation fetched, and the caller's rights kept: a camera-scoped user's summary holds nothing of the
//! other camera, face events only for the `faces` permission; bad ranges are 400, unknown incidents 404.

use crate::common;
use common::{Auth, CAM_A, CAM_B, Setup, T0_MS, TestServer};
use serde_json::{Value, json};
use vigil_core::{ClassCount, Event, EventId, EventKind, EventPhase, EventTime, Time90k};

fn appearance(camera: &str, track: u64, first_ms: i64, angle: f32) -> vigil_core::Appearance {
    let mut embedding = vec![0.0f32; 256];
    embedding[0] = angle.cos();
    embedding[1] = angle.sin();
    vigil_core::Appearance {
        camera: camera.into(),
        track,
        first_ms,
        last_ms: first_ms + 5000,
        embedding,
    }
}

fn face_event() -> Event {
    let t = EventTime {
        unix_ms: T0_MS + 5000,
        media: Time90k(0),
    };
    Event {
        attributes: Default::default(),
        id: EventId::from_parts((T0_MS + 5000) as u64, 900),
        camera: CAM_A.into(),
        rule: "faces".into(),
        kind: EventKind::FaceRecognized {
            person: "Ann Example".into(),
            list: "staff".into(),
            similarity: 0.81,
            alert: "high".into(),
            quality: 0.4,
        },
        phase: EventPhase::End,
        class_name: "person".into(),
        objects: vec![ClassCount {
            class_name: "person".into(),
            class_id: 0,
            count: 1,
        }],
        track_ids: vec![77],
        zone: None,
        line: None,
        start: t,
        last: t,
        end: Some(t),
        best: None,
        description: "Ann Example (watchlist 'staff') was seen".into(),
    }
}

fn texts(s: &Value) -> Vec<String> {
    s["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn summaries_tell_what_happened_within_the_callers_rights() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let store = s.ctx.store.clone().unwrap();
    store.record_event(&face_event()).unwrap();
    // The person of the first event (camera A, track 0) is the person of the second (camera B, track
    // 1): cos(0.2) = 0.98.
    store
        .record_appearances(&[
            appearance(CAM_A, 0, T0_MS - 500, 0.0),
            appearance(CAM_B, 1, T0_MS + 500, 0.2),
        ])
        .unwrap();
    let olga = Auth::Session(s.user(&admin, "olga", "operator", json!({})));
    let vera = Auth::Session(s.user(&admin, "vera", "viewer", json!({"cameras": [CAM_A]})));
    let admin = Auth::Session(admin);
    let range = format!("from={}&to={}", T0_MS - 1000, T0_MS + 60_000);
    let get = |who: &Auth, query: &str| -> Value {
        let r = s.call("GET", &format!("/api/summary?{query}"), who, None);
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        r.json()
    };

    let all = get(&admin, &range);
    let t = texts(&all);
    assert_eq!(all["events"], 5, "{t:#?}");
    assert_eq!(all["sentences"][0]["kind"], "headline");
    assert!(
        t.iter()
            .any(|x| x.starts_with("2 intrusions into 'Yard' on 'cam-a'")),
        "{t:#?}"
    );
    let incident = all["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "incident")
        .unwrap_or_else(|| panic!("an incident: {t:#?}"));
    let text = incident["text"].as_str().unwrap();
    assert!(
        text.starts_with("The same person each time (re-identification similarity 0.98)"),
        "{text}"
    );
    assert!(
        text.contains("on 'cam-a'") && text.contains("on 'cam-b'"),
        "{text}"
    );
    let cams: Vec<&str> = incident["citations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["camera"].as_str().unwrap())
        .collect();
    assert_eq!(cams, [CAM_A, CAM_B]);
    assert!(
        t.iter().any(|x| x.contains("Ann Example")),
        "the admin sees faces"
    );
    for x in all["sentences"].as_array().unwrap() {
        let c = x["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&c), "{x:#}");
    }
    // A cited clip plays (the store holds footage when the shared clip is there).
    if s.recorded {
        let clip = all["sentences"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|x| x["citations"].as_array().unwrap())
            .find_map(|c| c["clip"].as_str())
            .expect("a clip");
        let r = s.call("GET", clip, &admin, None);
        assert_eq!(r.status, 200, "{clip}");
        assert_eq!(&r.body[4..8], b"ftyp");
    } else {
        eprintln!("SKIP (clip fetch): no footage recorded in the test store");
    }

    // No faces permission: no face event, no name.
    let op = get(&olga, &range);
    assert_eq!(op["events"], 4);
    assert!(!texts(&op).iter().any(|x| x.contains("Ann")));

    // Camera-scoped: nothing of camera B anywhere, not even through the incident.
    let v = get(&vera, &range);
    let whole = v.to_string();
    assert!(!whole.contains(CAM_B), "{whole}");
    assert_eq!(v["events"], 2);
    assert_eq!(v["cameras"], json!([CAM_A]));
    let v = get(&vera, &format!("{range}&camera={CAM_B}"));
    assert_eq!(v["empty"], true);
    assert!(!v.to_string().contains(CAM_B), "{v}");

    // A camera group: its cameras only, still within the caller's.
    let g = s.call(
        "POST",
        "/api/groups",
        &admin,
        Some(json!({"name": "Back", "cameras": [CAM_B]})),
    );
    assert_eq!(g.status, 201, "{}", g.text());
    let back = get(&admin, &format!("{range}&group=back"));
    assert_eq!(back["cameras"], json!([CAM_B]));
    assert_eq!(back["events"], 2);
    let back = get(&vera, &format!("{range}&group=Back"));
    assert_eq!(back["events"], 0);
    assert!(!back.to_string().contains(CAM_B), "{back}");
    let r = s.call(
        "GET",
        &format!("/api/summary?{range}&group=nope"),
        &admin,
        None,
    );
    assert_eq!(r.status, 404, "{}", r.text());

    // One incident, from its first event.
    let (_, first) = &s.events[0];
    let inc = get(&admin, &format!("incident={first}"));
    assert_eq!(inc["period"], "incident");
    assert_eq!(inc["events"], 2, "{:#?}", texts(&inc));
    let inc = get(&vera, &format!("incident={first}"));
    assert_eq!(inc["events"], 1);
    assert!(!inc.to_string().contains(CAM_B));
    let (_, on_b) = &s.events[1];
    let r = s.call("GET", &format!("/api/summary?incident={on_b}"), &vera, None);
    assert_eq!(r.status, 404, "{}", r.text());

    // Bad input.
    for bad in [
        format!("from={}&to={}", T0_MS, T0_MS - 1),
        format!("from={T0_MS}"),
        String::new(),
        format!("from=0&to={}", 40 * 86_400_000i64),
    ] {
        let r = s.call("GET", &format!("/api/summary?{bad}"), &admin, None);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
}
