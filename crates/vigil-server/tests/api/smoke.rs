//! The server starts on HTTPS with a generated certificate, and its description lists every route.

use crate::common;

use common::{Auth, Setup, TestServer};

#[test]
fn serves_https_and_describes_every_route() {
    let s = TestServer::start(Setup::default());
    assert!(s.url.starts_with("https://127.0.0.1:"));
    let r = s.call("GET", "/api/openapi.json", &Auth::None, None);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("strict-transport-security").as_deref(),
        Some("max-age=31536000")
    );
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let ops = common::operations(&doc);
    assert_eq!(ops.len(), vigil_server::routes::ROUTES.len());
    assert!(
        ops.iter()
            .any(|(m, p, perm)| m == "GET" && p == "/api/audit" && perm == "audit")
    );
    let r = s.call("GET", "/api/setup", &Auth::None, None);
    assert_eq!(r.json()["needed"], true);
    let r = s.call("GET", "/api/nothing-here", &Auth::None, None);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not_found");
}

/// The camera timeline asks for a camera's events over its window: `start` and `end` select by time, and
/// a time passed where a page cursor belongs is refused rather than read as a cursor (it used to answer
/// `[]`, so the timeline never showed an event).
#[test]
fn events_are_listed_by_time_and_a_time_is_not_taken_for_a_cursor() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let a = Auth::Session(admin);
    let list = |query: &str| {
        let r = s.call(
            "GET",
            &format!("/api/events?camera={}&{query}", common::CAM_A),
            &a,
            None,
        );
        (r.status, r.json())
    };
    let (st, all) = list("limit=100");
    assert_eq!(st, 200);
    let starts: Vec<i64> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["start"].as_i64().unwrap())
        .collect();
    assert!(starts.len() >= 2, "{all}");
    let (lo, hi) = (*starts.iter().min().unwrap(), *starts.iter().max().unwrap());
    assert!(lo < hi, "{starts:?}");
    let (_, window) = list(&format!("start={}&end={}", lo - 1000, hi + 1));
    assert_eq!(window["events"].as_array().unwrap().len(), starts.len());
    let (_, newest) = list(&format!("start={hi}&end={}", hi + 1));
    assert_eq!(newest["events"].as_array().unwrap().len(), 1, "{newest}");
    let (_, older) = list(&format!("start={}&end={hi}", lo - 1000));
    assert_eq!(older["events"].as_array().unwrap().len(), starts.len() - 1);
    let (st, v) = list(&format!("before={}", hi + 60_000));
    assert_eq!(st, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains("cursor"), "{v}");
    let (st, _) = list(&format!("start={hi}&end={lo}"));
    assert_eq!(st, 400);
    // A real cursor still pages.
    let (_, first) = list("limit=1");
    let next = first["next"].as_str().unwrap().to_string();
    let (st, second) = list(&format!("limit=1&before={next}"));
    assert_eq!(st, 200);
    assert_ne!(first["events"][0]["id"], second["events"][0]["id"]);
}

/// What an event's object looked like (issue 13) is stored with the event and comes back from
/// `GET /api/events/{id}` and the list; an event nobody knows is a 404.
#[test]
fn an_events_attributes_come_back_from_the_api() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let a = Auth::Session(admin);
    let r = s.call(
        "GET",
        &format!("/api/events?camera={}&limit=1", common::CAM_A),
        &a,
        None,
    );
    let seeded: vigil_core::EventId = r.json()["events"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let store = s.ctx.store.clone().unwrap();
    let mut e = store.event_reader().unwrap().get(seeded).unwrap().event;
    e.id = vigil_core::EventId::from_parts(e.start.unix_ms as u64 + 1, 4242);
    e.attributes = vigil_core::Attributes {
        upper_colour: Some(vigil_core::Colour::Red),
        lower_colour: Some(vigil_core::Colour::Blue),
        size: Some(0.25),
        speed: Some(0.125),
        direction: Some(vigil_core::Heading::Right),
        zones: vec!["Yard".into(), "Door".into()],
        ..Default::default()
    };
    store.record_event(&e).unwrap();
    let want = serde_json::json!({"upper_colour": "red", "lower_colour": "blue", "size": 0.25,
                                  "speed": 0.125, "direction": "right", "zones": ["Yard", "Door"]});
    let r = s.call("GET", &format!("/api/events/{}", e.id), &a, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["id"], e.id.to_string());
    assert_eq!(v["attributes"], want);
    let r = s.call(
        "GET",
        &format!("/api/events?camera={}&limit=100", common::CAM_A),
        &a,
        None,
    );
    let listed = r.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == e.id.to_string())
        .cloned()
        .unwrap();
    assert_eq!(listed["attributes"], want);
    // The seeded event knows nothing of its object: an empty object, not an error.
    let r = s.call("GET", &format!("/api/events/{seeded}"), &a, None);
    assert_eq!(r.json()["attributes"], serde_json::json!({}));
    for bad in ["01HK1545S8000000000000ZZZZ", "not-an-id"] {
        let r = s.call("GET", &format!("/api/events/{bad}"), &a, None);
        assert_eq!(r.status, 404, "{bad}: {}", r.text());
    }
}
