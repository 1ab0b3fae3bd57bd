//! Identity events over the API. Biometric events (`face_recognized`, `face_unknown`) are for the `faces`
//! permission only: listed, asked for by kind and their snapshots, all refused to the operator and viewer
//! as if they did not exist; the admin sees them, and seeing them is audited (`face.view`, repeats
//! merged). Plate events are found by plate (`GET /api/plates`), within the caller's cameras, every
//! search audited. "Where else was this person?" ranks the people of the caller's cameras by appearance,
//! audited too. Admins enrol people from a photo or an event's face crop with the real face models.

use crate::common;
use common::{Auth, CAM_A, Setup, TestServer};
use serde_json::json;
use vigil_core::{ClassCount, Event, EventId, EventKind, EventPhase, EventTime, Time90k};

/// The audit log's entries of `action`, as `who` reads them.
pub(crate) fn audited(s: &TestServer, who: &Auth, action: &str) -> Vec<serde_json::Value> {
    let log = s.call("GET", "/api/audit?limit=1000", who, None).json();
    log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

pub(crate) fn face_event(n: u128) -> Event {
    let t = EventTime {
        unix_ms: common::T0_MS + 9000,
        media: Time90k(0),
    };
    Event {
        attributes: Default::default(),
        id: EventId::from_parts((common::T0_MS + 9000) as u64, 100 + n),
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
        track_ids: vec![7],
        zone: None,
        line: None,
        start: t,
        last: t,
        end: Some(t),
        best: None,
        description: "Ann Example (watchlist 'staff') was seen".into(),
    }
}

#[test]
fn face_events_are_shown_only_to_the_faces_permission_and_audited() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let store = s.ctx.store.clone().unwrap();
    let face = face_event(1);
    store.record_event(&face).unwrap();
    store
        .save_snapshot(face.id, &common::snapshot_bytes(CAM_A, "full"), None)
        .unwrap();
    let id = face.id.to_string();
    let olga = Auth::Session(s.user(&admin, "olga", "operator", json!({})));
    let vera = Auth::Session(s.user(&admin, "vera", "viewer", json!({})));
    let admin = Auth::Session(admin);
    let ids = |who: &Auth, query: &str| -> Vec<String> {
        let r = s.call("GET", &format!("/api/events{query}"), who, None);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    for who in [&olga, &vera] {
        let all = ids(who, "");
        assert_eq!(all.len(), 4, "the rules' events only: {all:?}");
        assert!(!all.contains(&id));
        assert!(ids(who, "?kind=face_recognized").is_empty());
        assert!(ids(who, "?q=Ann").is_empty());
        let r = s.call(
            "GET",
            &format!("/api/events/{id}/snapshot?kind=full"),
            who,
            None,
        );
        assert_eq!(r.status, 404, "{}", r.text());
    }
    let all = ids(&admin, "");
    assert_eq!(all.len(), 5);
    assert_eq!(all[0], id, "newest first");
    assert_eq!(ids(&admin, "?kind=face_recognized"), vec![id.clone()]);
    assert_eq!(ids(&admin, "?q=Ann"), vec![id.clone()]);
    let r = s.call(
        "GET",
        &format!("/api/events/{id}/snapshot?kind=full"),
        &admin,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Three lists with the face event: one audit entry.
    let views = audited(&s, &admin, "face.view");
    let views: Vec<_> = views.iter().filter(|e| e["target"] == "events").collect();
    assert_eq!(views.len(), 1, "{views:?}");
    assert_eq!(views[0]["user"], "admin");
}

fn plate_event(n: u128, camera: &str, plate: &str) -> Event {
    let mut e = face_event(n);
    e.camera = camera.into();
    e.rule = "plates".into();
    e.class_name = "car".into();
    e.kind = EventKind::PlateRead {
        plate: plate.into(),
        confidence: 0.9,
        reads: 4,
        list: Some("deny".into()),
        alert: "high".into(),
    };
    e.description = format!("Plate {plate} (list 'deny') on a car");
    e.start.unix_ms += n as i64;
    e.last = e.start;
    e.end = Some(e.start);
    e
}

#[test]
fn plates_are_searched_within_the_callers_cameras_and_every_search_is_audited() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let store = s.ctx.store.clone().unwrap();
    store
        .record_events(&[
            plate_event(1, CAM_A, "KX58RTY"),
            plate_event(2, common::CAM_B, "KX58RTV"),
            plate_event(3, CAM_A, "AB12CDE"),
        ])
        .unwrap();
    let olga = Auth::Session(s.user(&admin, "olga", "operator", json!({})));
    let bob = Auth::Session(s.user(&admin, "bob", "viewer", json!({"cameras": [common::CAM_B]})));
    let plates = |who: &Auth, query: &str| -> Vec<String> {
        let r = s.call("GET", &format!("/api/plates?{query}"), who, None);
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v["complete"], true);
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["facts"]["plate"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(plates(&olga, "q=kx58-rty"), ["KX58RTY"]);
    assert_eq!(
        plates(&olga, "q=KX58RTY&match=fuzzy"),
        ["KX58RTV", "KX58RTY"]
    );
    assert_eq!(plates(&olga, "q=KX&match=prefix"), ["KX58RTV", "KX58RTY"]);
    assert_eq!(
        plates(&olga, "q=AB12CDE&camera=cam-b"),
        Vec::<String>::new()
    );
    // Bob sees camera B only, whatever he asks.
    assert_eq!(plates(&bob, "q=KX&match=prefix"), ["KX58RTV"]);
    assert_eq!(
        plates(&bob, &format!("q=KX58RTY&camera={CAM_A}")),
        Vec::<String>::new()
    );
    for bad in ["q=", "q=--", "q=KX&match=sounds-like", "q=KX&limit=0"] {
        let r = s.call("GET", &format!("/api/plates?{bad}"), &olga, None);
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    let searches = audited(&s, &Auth::Session(admin), "plate.search").len();
    assert_eq!(searches, 6, "every search that ran is audited");
}

#[test]
fn where_else_ranks_people_by_appearance_within_the_callers_cameras() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let store = s.ctx.store.clone().unwrap();
    let mut e = face_event(9);
    e.kind = EventKind::Intrusion;
    e.rule = "Yard intrusion".into();
    e.track_ids = vec![42];
    store.record_event(&e).unwrap();
    let t = e.start.unix_ms;
    // Unit vectors: the event's person, the same person on camera B, someone else on B, and the same
    // person on camera A a day later (outside the window).
    store
        .record_appearances(&[
            appearance(CAM_A, 42, t - 1000, 0.0),
            appearance(common::CAM_B, 7, t + 60_000, 0.2),
            appearance(common::CAM_B, 8, t + 90_000, 1.2),
            appearance(CAM_A, 43, t + 86_400_000, 0.05),
        ])
        .unwrap();
    let olga = Auth::Session(s.user(&admin, "olga", "operator", json!({})));
    let vera = Auth::Session(s.user(&admin, "vera", "viewer", json!({"cameras": [CAM_A]})));
    let id = e.id;
    let sightings = |who: &Auth, query: &str| -> Vec<(String, u64)> {
        let r = s.call(
            "GET",
            &format!("/api/events/{id}/elsewhere{query}"),
            who,
            None,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["sightings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["camera"].as_str().unwrap().to_string(),
                    x["track"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    // cos(0.2) = 0.98 first, cos(1.2) = 0.36 below the default floor of 0.5.
    assert_eq!(sightings(&olga, ""), [(common::CAM_B.to_string(), 7)]);
    assert_eq!(
        sightings(&olga, "?min_similarity=0.3"),
        [
            (common::CAM_B.to_string(), 7),
            (common::CAM_B.to_string(), 8)
        ]
    );
    assert_eq!(
        sightings(&olga, "?window=100000"),
        [(CAM_A.to_string(), 43), (common::CAM_B.to_string(), 7)],
        "a day later on the same camera, with a wider window"
    );
    assert!(sightings(&vera, "").is_empty(), "camera B is not hers");
    for bad in ["?window=0", "?min_similarity=2", "?limit=0"] {
        let r = s.call(
            "GET",
            &format!("/api/events/{id}/elsewhere{bad}"),
            &olga,
            None,
        );
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    let r = s.call(
        "GET",
        "/api/events/01HK1545S8000000000000ZZZZ/elsewhere",
        &olga,
        None,
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(audited(&s, &Auth::Session(admin), "person.search").len(), 4);
}

/// A person's appearance on `camera` for 5 s from `first_ms`: a unit vector at `angle` radians in the
/// first two dimensions (so the cosine of two is the cosine of their angle difference).
pub(crate) fn appearance(
    camera: &str,
    track: u64,
    first_ms: i64,
    angle: f32,
) -> vigil_core::Appearance {
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

/// With `[[links.camera]]`, a sighting whose timing fits the walk between the cameras ranks above a
/// slightly more alike one that came too soon, and each says how it was judged.
#[test]
fn camera_links_rank_a_sighting_that_fits_the_walk_above_one_too_soon() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        camera_links: vigil_identity::CameraLinks::new(vec![vigil_identity::CameraLink {
            from: CAM_A.into(),
            to: common::CAM_B.into(),
            transit: [30.0, 120.0],
            both_ways: true,
        }]),
        ..Setup::default()
    });
    let store = s.ctx.store.clone().unwrap();
    let mut e = face_event(9);
    e.kind = EventKind::Intrusion;
    e.track_ids = vec![42];
    store.record_event(&e).unwrap();
    let t = e.start.unix_ms;
    let end = t + 4000;
    store
        .record_appearances(&[
            appearance(CAM_A, 42, t - 1000, 0.0),
            // 3 s after leaving A: nobody walks it that fast, however alike.
            appearance(common::CAM_B, 7, end + 3000, 0.1),
            // 60 s after: fits.
            appearance(common::CAM_B, 8, end + 60_000, 0.25),
            // 10 minutes after: late.
            appearance(common::CAM_B, 9, end + 600_000, 0.05),
        ])
        .unwrap();
    let olga = Auth::Session(s.user(&admin, "olga", "operator", json!({})));
    let r = s.call(
        "GET",
        &format!("/api/events/{}/elsewhere", e.id),
        &olga,
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let got: Vec<(u64, String)> = r.json()["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["track"].as_u64().unwrap(),
                x["transit"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (8, "fits".to_string()),
            (9, "late".to_string()),
            (7, "too_soon".to_string())
        ]
    );
}

/// JPEG crops around the faces of the corridor clip's first frame, left to right.
fn face_crops() -> Option<Vec<Vec<u8>>> {
    use vigil_vision::model::{ModelStore, YUNET};
    let clip = common::footage("intel/face-demographics-walking-and-pause.mp4")?;
    let rt = vigil_vision::runtime::Runtime::init(None).unwrap();
    let (p, b) = ModelStore::new(vec![common::shared().join("models")], None)
        .load_asset(&YUNET)
        .unwrap();
    let mut yunet = vigil_vision::faces::FaceDetector::new(&rt, &p, &b, 1).unwrap();
    let mut src = vigil_media::VideoSource::open(&clip).unwrap();
    let f = src.next_frame().unwrap().unwrap();
    let img = f
        .bgr(&mut vigil_media::Converter::new(), f.width(), f.height())
        .unwrap();
    let mut faces = yunet.detect(&img).unwrap();
    faces.sort_by(|a, b| a.bbox.x1.total_cmp(&b.bbox.x1));
    Some(
        faces
            .iter()
            .map(|face| {
                let b = face.bbox;
                let side = b.width().max(b.height()) * 2.0;
                let x = ((b.x1 + b.x2 - side) / 2.0).max(0.0) as u32;
                let y = ((b.y1 + b.y2 - side) / 2.0).max(0.0) as u32;
                let w = (side as u32).min(img.width() - x);
                let h = (side as u32).min(img.height() - y);
                vigil_media::encode::encode_jpeg(&img.crop(x, y, w, h).unwrap(), 90).unwrap()
            })
            .collect(),
    )
}

#[test]
fn admins_enrol_people_from_a_photo_or_an_events_face_crop() {
    let Some(enroller) = common::real_enroller() else {
        return;
    };
    let Some(crops) = face_crops() else {
        return;
    };
    assert!(crops.len() >= 2, "{} faces", crops.len());
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        identity: true,
        enroller: Some(enroller),
        ..Setup::default()
    });
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let olga = Auth::Session(s.user(&admin, "olga", "operator", json!({})));
    let admin = Auth::Session(admin);
    let enrol =
        |who: &Auth, body: serde_json::Value| s.call("POST", "/api/faces/people", who, Some(body));

    let r = enrol(&olga, json!({"name": "Ann", "photo": b64(&crops[0])}));
    assert_eq!(r.status, 403, "{}", r.text());
    let r = enrol(
        &admin,
        json!({"name": "Ann", "list": "staff", "photo": b64(&crops[0])}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"name": "Ann", "list": "staff", "templates": 1})
    );
    let r = enrol(&admin, json!({"name": "Ann", "photo": b64(&crops[1])}));
    assert_eq!(r.status, 409, "{}", r.text());
    let grey =
        vigil_media::encode::encode_jpeg(&vigil_core::BgrImage::filled(120, 120, 128), 90).unwrap();
    for (body, says) in [
        (
            json!({"name": "Nobody", "photo": b64(&grey)}),
            "no face found in the photo",
        ),
        (json!({"name": "Nobody", "photo": "not base64!"}), "base64"),
        (
            json!({"name": "Nobody", "photo": b64(b"GIF89a not a photo")}),
            "not a readable",
        ),
        (json!({"name": "Nobody"}), "either photo"),
    ] {
        let r = enrol(&admin, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(r.text().contains(says), "{body}: {}", r.text());
    }

    // From an event whose snapshot crop shows the person on the right.
    let store = s.ctx.store.clone().unwrap();
    let mut e = face_event(20);
    e.kind = EventKind::Intrusion;
    store.record_event(&e).unwrap();
    store
        .save_snapshot(e.id, &crops[crops.len() - 1], Some(&crops[crops.len() - 1]))
        .unwrap();
    let r = enrol(&admin, json!({"name": "Bo", "event": e.id.to_string()}));
    assert_eq!(r.status, 201, "{}", r.text());
    let people = s.call("GET", "/api/faces/people", &admin, None).json();
    let names: Vec<&str> = people["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{people}");
    assert!(names.contains(&"Ann") && names.contains(&"Bo"));
    // Who is this: Ann's photo is Ann; the other person is nobody enrolled (Bo's crop was the last one).
    let identify = |who: &Auth, photo: &[u8]| {
        s.call(
            "POST",
            "/api/faces/identify",
            who,
            Some(json!({"photo": b64(photo)})),
        )
    };
    assert_eq!(identify(&olga, &crops[0]).status, 403);
    let r = identify(&admin, &crops[0]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["match"]["name"], "Ann", "{}", r.text());
    if crops.len() >= 3 {
        let r = identify(&admin, &crops[1]);
        assert_eq!(r.json()["match"], serde_json::Value::Null, "{}", r.text());
    }
    assert_eq!(identify(&admin, &grey).status, 400);
    assert_eq!(
        audited(&s, &admin, "face.search").len(),
        1 + usize::from(crops.len() >= 3)
    );
    let enrolments = audited(&s, &admin, "face.enrol");
    assert_eq!(enrolments.len(), 2, "{enrolments:?}");
    assert!(
        enrolments
            .iter()
            .any(|e| e["detail"].as_str().unwrap().contains("from event"))
    );
}

/// Plate lists through the API: vigil.toml's list shown read-only beside lists made here; a gate system's
/// token keeps a list in step; eight identical requests at once put the plate on once; operators are
/// refused; every change is audited.
#[test]
fn plate_lists_are_kept_through_the_api_and_vigil_toml_stays_read_only() {
    let mut plates = vigil_identity::PlatesConfig::default();
    plates.lists.insert("deny".into(), vec!["KX58 RTY".into()]);
    let (s, admin) = TestServer::with_admin(Setup {
        plate_lists: Some(plates),
        ..Setup::default()
    });
    let a = Auth::Session(admin.clone());
    let lists = |who: &Auth| -> serde_json::Value {
        let r = s.call("GET", "/api/plates/lists", who, None);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["lists"].clone()
    };
    let l = lists(&a);
    assert_eq!(l[0]["name"], "deny");
    assert_eq!(l[0]["source"], "config");
    assert_eq!(l[0]["plates"][0]["plate"], "KX58 RTY");

    let add = |who: &Auth, list: &str, body: serde_json::Value| {
        s.call(
            "POST",
            &format!("/api/plates/lists/{list}/plates"),
            who,
            Some(body),
        )
    };
    let r = add(
        &a,
        "staff",
        json!({"plate": "AB12 CDE", "note": "caretaker", "alert": "none"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["alert"], "none");
    assert_eq!(r.json()["plates"][0]["by"], "admin");

    // A gate system's token, scoped to plate lists, adds to vigil.toml's list.
    let r = s.call(
        "POST",
        "/api/tokens",
        &a,
        Some(json!({"name": "gate", "scopes": ["plate_lists"]})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let gate = Auth::Bearer(r.json()["secret"].as_str().unwrap().to_string());
    let results: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (add, gate) = (&add, &gate);
                scope.spawn(move || add(gate, "deny", json!({"plate": "zz-99-zzz"})).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        results.iter().filter(|&&st| st == 201).count(),
        1,
        "{results:?}"
    );
    assert!(
        results.iter().all(|&st| st == 201 || st == 409),
        "{results:?}"
    );
    let l = lists(&gate);
    assert_eq!(l[0]["plates"].as_array().unwrap().len(), 2, "{l}");
    assert_eq!(l[0]["plates"][1]["source"], "ui");

    // Refusals.
    let cases = [
        (
            add(&a, "deny", json!({"plate": "QQ11QQQ", "alert": "low"})),
            409,
            "vigil.toml",
        ),
        (
            add(&a, "staff", json!({"plate": "ab-12-cde"})),
            409,
            "already",
        ),
        (add(&a, "staff", json!({"plate": "-"})), 400, "two letters"),
        (
            add(&a, "staff", json!({"plate": "QQ11", "colour": "red"})),
            422,
            "colour",
        ),
        (
            s.call("DELETE", "/api/plates/lists/deny/plates/KX58RTY", &a, None),
            409,
            "vigil.toml",
        ),
        (
            s.call("DELETE", "/api/plates/lists/staff/plates/NOPE1", &a, None),
            404,
            "not on",
        ),
    ];
    for (r, status, needle) in cases {
        assert_eq!(r.status, status, "{}", r.text());
        assert!(r.text().contains(needle), "{needle}: {}", r.text());
    }
    let olga = Auth::Session(s.user(&admin, "olga", "operator", json!({})));
    assert_eq!(s.call("GET", "/api/plates/lists", &olga, None).status, 403);
    assert_eq!(add(&olga, "staff", json!({"plate": "QQ11QQQ"})).status, 403);

    // Off again, in any spelling; the made list goes with its last plate.
    let r = s.call("DELETE", "/api/plates/lists/staff/plates/A812CDE", &a, None);
    assert_eq!(r.status, 204, "{}", r.text());
    let names: Vec<String> = lists(&a)
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["deny"]);
    let changes = audited(&s, &a, "plate.list");
    assert_eq!(changes.len(), 3, "two adds and a removal: {changes:?}");
}
