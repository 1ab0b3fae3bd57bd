//! Camera groups and wall displays (kiosk mode) against a real HTTPS server with a live camera: a display
//! sees its group live and nothing else, never idles out, and stops within seconds when revoked.

use crate::common::{self, Auth};
use crate::live_ws::{admin, own_origin, start, upgrade};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[test]
fn a_wall_display_watches_its_group_live_and_nothing_else_until_revoked() {
    let Some(video) = common::footage("intel/car-detection.mp4") else {
        return;
    };
    let (s, stop) = start(&video);
    let admin = admin(&s);
    let a = Auth::Session(admin.clone());
    let viewer = s.user(&admin, "vic", "viewer", json!({"cameras": ["cam-b"]}));

    // Groups name real cameras, each once; only admins make them.
    let bad = s.call(
        "POST",
        "/api/groups",
        &a,
        Some(json!({"name": "Front", "cameras": ["cam-a", "nope"]})),
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("nope"), "{}", bad.text());
    let denied = s.call(
        "POST",
        "/api/groups",
        &Auth::Session(viewer.clone()),
        Some(json!({"name": "Mine", "cameras": ["cam-b"]})),
    );
    assert_eq!(denied.status, 403);
    let g = s.call(
        "POST",
        "/api/groups",
        &a,
        Some(json!({"name": "Front", "cameras": ["cam-a", "cam-b"], "columns": 2})),
    );
    assert_eq!(g.status, 201, "{}", g.text());
    let group_id = g.json()["id"].as_i64().unwrap();
    let again = s.call(
        "POST",
        "/api/groups",
        &a,
        Some(json!({"name": "front", "cameras": ["cam-a"]})),
    );
    assert_eq!(again.status, 409, "names are unique whatever the case");
    // A viewer scoped to cam-b sees the group with cam-b alone.
    let seen = s.call("GET", "/api/groups", &Auth::Session(viewer), None);
    assert_eq!(seen.json()[0]["cameras"], json!(["cam-b"]));
    // The saved layout changes.
    let r = s.call(
        "PATCH",
        &format!("/api/groups/{group_id}"),
        &a,
        Some(json!({"name": "Front", "cameras": ["cam-a"], "columns": 1})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["columns"], 1);

    // A display for the group: the secret once, and a path a screen opens.
    let d = s.call(
        "POST",
        "/api/displays",
        &a,
        Some(json!({"name": "Lobby wall", "group_id": group_id})),
    );
    assert_eq!(d.status, 201, "{}", d.text());
    let d = d.json();
    let secret = d["secret"].as_str().unwrap().to_string();
    let display_id = d["display"]["id"].as_i64().unwrap();
    assert_eq!(d["path"], format!("/#/kiosk/{secret}"));
    let listed = s.call("GET", "/api/displays", &a, None).text();
    assert!(listed.contains("Lobby wall") && !listed.contains(&secret));

    // The screen logs in with the secret: an HttpOnly cookie.
    let wrong = s.call(
        "POST",
        "/api/display/login",
        &Auth::None,
        Some(json!({"secret": format!("vgd_{}", "0".repeat(64))})),
    );
    assert_eq!(wrong.status, 401);
    let r = s.call(
        "POST",
        "/api/display/login",
        &Auth::None,
        Some(json!({"secret": secret})),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let set = r.header("set-cookie").unwrap();
    for attr in ["vigil_display=", "HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(set.contains(attr), "{set}");
    }
    let cookie = format!("vigil_display={secret}");
    let get = |path: &str| {
        s.raw(
            "GET",
            path,
            &Auth::None,
            &[("Cookie", cookie.as_str())],
            None,
        )
    };
    let me = get("/api/display");
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.json()["name"], "Lobby wall");
    assert_eq!(me.json()["group"]["cameras"], json!(["cam-a"]));
    assert_eq!(get("/api/groups").json().as_array().unwrap().len(), 1);
    // Nothing but live view: no events, recordings, users or other cameras.
    for path in [
        "/api/events",
        "/api/users",
        "/api/cameras/cam-a/recordings?start=0&end=1",
    ] {
        let st = get(path).status;
        assert!(st == 403 || st == 404, "{path}: {st}");
    }
    let headers = [("cookie", cookie.clone()), ("origin", own_origin(&s))];
    let other = s.runtime.block_on(upgrade(&s, "cam-b", &headers)).err();
    assert_eq!(other, Some(404), "a camera outside the group is not there");
    // Another site's page cannot ride the display's cookie.
    let foreign = [
        ("cookie", cookie.clone()),
        ("origin", "https://evil.example".to_string()),
    ];
    assert_eq!(
        s.runtime.block_on(upgrade(&s, "cam-a", &foreign)).err(),
        Some(403)
    );
    let mut ws = s
        .runtime
        .block_on(upgrade(&s, "cam-a", &headers))
        .expect("the group's camera plays");

    // Revoked: the open stream ends within the recheck interval, and the cookie is dead.
    let r = s.call("DELETE", &format!("/api/displays/{display_id}"), &a, None);
    assert_eq!(r.status, 204);
    let recheck = vigil_server::RECHECK_EVERY + Duration::from_secs(3);
    assert_eq!(
        s.runtime
            .block_on(crate::live_ws::close_code(&mut ws, recheck)),
        Some(vigil_server::CLOSE_ACCESS_ENDED)
    );
    assert_eq!(get("/api/display").status, 401);

    // The audit log names the display and who made it.
    let audit = s.call("GET", "/api/audit?limit=50", &a, None).text();
    for action in [
        "group.create",
        "display.create",
        "display.login",
        "display.delete",
    ] {
        assert!(audit.contains(action), "{action} audited");
    }
    assert!(audit.contains("(Lobby wall, by admin)"), "{audit}");
    stop.store(true, Ordering::Relaxed);
}
