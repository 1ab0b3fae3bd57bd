//! Dashboards over the real HTTPS server: the analyst reaches the figures, which equal the events stored,
//! as JSON and CSV alike, and the stored reports; never a picture (live, recordings, snapshots, faces).

use crate::common;

use common::{Auth, CAM_A, Setup, TestServer};
use serde_json::json;
use vigil_core::{
    ClassCount, CrossingDirection, Event, EventId, EventKind, EventPhase, EventTime, Time90k,
};

fn crossing(n: u64, camera: &str, ms: i64, ins: u32, outs: u32) -> Event {
    let t = EventTime {
        unix_ms: ms,
        media: Time90k(ms * 90),
    };
    Event {
        attributes: Default::default(),
        id: EventId::from_parts(ms as u64, 7000 + n as u128),
        camera: camera.into(),
        rule: "Door count".into(),
        kind: EventKind::LineCrossing {
            direction: CrossingDirection::AToB,
            inbound: true,
            inbound_count: ins,
            outbound_count: outs,
        },
        phase: EventPhase::End,
        class_name: "person".into(),
        objects: vec![ClassCount {
            class_name: "person".into(),
            class_id: 0,
            count: ins + outs,
        }],
        track_ids: vec![n],
        zone: None,
        line: Some("Door".into()),
        start: t,
        last: t,
        end: Some(t),
        best: None,
        description: "people crossed Door".into(),
    }
}

#[test]
fn the_analyst_sees_figures_equal_to_the_stored_events_but_no_picture() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let store = s.ctx.store.clone().unwrap();
    // an hour of crossings from T0 (UTC site): 3 events in the first hour, 1 in the second
    let t0 = common::T0_MS - common::T0_MS.rem_euclid(3_600_000);
    for (n, (dt, i, o)) in [
        (60_000, 2, 1),
        (120_000, 1, 0),
        (1_800_000, 0, 3),
        (4_000_000, 5, 2),
    ]
    .into_iter()
    .enumerate()
    {
        store
            .record_event(&crossing(n as u64, CAM_A, t0 + dt, i, o))
            .unwrap();
    }
    let analyst = Auth::Session(s.user(&admin, "ann", "analyst", json!({})));
    let range = format!(
        "camera={CAM_A}&from={t0}&to={}&bucket=hour",
        t0 + 2 * 3_600_000
    );

    let r = s.call(
        "GET",
        &format!("/api/analytics/footfall?{range}&compare=previous"),
        &analyst,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["current"]["in"], json!([3, 5]));
    assert_eq!(j["current"]["out"], json!([4, 2]));
    assert_eq!(j["current"]["total_in"], 8);
    assert_eq!(j["current"]["lines"][0]["line"], "Door");
    assert_eq!(j["previous"]["total_in"], 0);

    // the CSV holds the same numbers
    let r = s.call(
        "GET",
        &format!("/api/analytics/footfall?{range}&format=csv"),
        &analyst,
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    let csv = r.text();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "start,end,label,in,out");
    assert!(
        rows[1].ends_with(",3,4") && rows[2].ends_with(",5,2"),
        "{csv}"
    );

    for what in ["occupancy", "dwell", "queues", "kpis"] {
        let r = s.call(
            "GET",
            &format!("/api/analytics/{what}?{range}"),
            &analyst,
            None,
        );
        assert_eq!(r.status, 200, "{what}: {}", r.text());
    }
    let k = s
        .call(
            "GET",
            &format!("/api/analytics/kpis?{range}"),
            &analyst,
            None,
        )
        .json();
    assert_eq!(k["kpis"][0]["key"], "footfall_in");
    assert_eq!(k["kpis"][0]["value"], 8.0);
    let r = s.call(
        "GET",
        &format!("/api/analytics/heatmap?{range}&format=png"),
        &analyst,
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type").as_deref(), Some("image/png"));

    // bad input: a clear 400
    let r = s.call(
        "GET",
        &format!("/api/analytics/footfall?camera={CAM_A}&from=10&to=5"),
        &analyst,
        None,
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("before"), "{}", r.text());
    let r = s.call(
        "GET",
        &format!("/api/analytics/footfall?{range}&bucket=month"),
        &analyst,
        None,
    );
    assert_eq!(r.status, 400);

    // a stored report is listed and downloadable
    let reader = store.event_reader().unwrap();
    let ask = vigil_bi::Ask {
        cameras: vec![CAM_A.into()],
        from_ms: t0,
        to_ms: t0 + 2 * 3_600_000,
        bucket: vigil_bi::Bucket::Hour,
        compare: true,
    };
    let report =
        vigil_bi::Report::build(&reader, &vigil_bi::Site::default(), &ask, "Door daily").unwrap();
    let entry = vigil_bi::stored::save(
        &s.dir.path().join("reports"),
        "Door daily",
        "2024-06-07",
        &report,
        &["pdf".into(), "html".into()],
        t0,
    )
    .unwrap();
    let list = s.call("GET", "/api/reports", &analyst, None).json();
    assert_eq!(list[0]["id"], entry.id);
    let r = s.call(
        "GET",
        &format!("/api/reports/{}.pdf", entry.id),
        &analyst,
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("%PDF-1.4"));
    let r = s.call("GET", "/api/reports/..%2Fsecurity.db.pdf", &analyst, None);
    assert_eq!(r.status, 400);

    // no picture of any kind, no faces
    let (_, event) = s.events.iter().find(|(c, _)| c == CAM_A).unwrap().clone();
    for url in [
        format!("/api/cameras/{CAM_A}/live"),
        format!(
            "/api/cameras/{CAM_A}/recordings?start={t0}&end={}",
            t0 + 60_000
        ),
        format!("/api/cameras/{CAM_A}/thumbnail.jpg?at={t0}"),
        format!("/api/events/{event}/snapshot"),
        "/api/events".to_string(),
        "/api/faces/people".to_string(),
    ] {
        let r = s.call("GET", &url, &analyst, None);
        assert_eq!(r.status, 403, "{url}: {}", r.text());
    }
    // the camera list names the cameras
    let cams = s.call("GET", "/api/cameras", &analyst, None).json();
    assert!(cams.as_array().unwrap().iter().any(|c| c["name"] == CAM_A));
    // a viewer has no dashboards
    let viewer = Auth::Session(s.user(&admin, "vic", "viewer", json!({})));
    let r = s.call(
        "GET",
        &format!("/api/analytics/footfall?{range}"),
        &viewer,
        None,
    );
    assert_eq!(r.status, 403);
}
