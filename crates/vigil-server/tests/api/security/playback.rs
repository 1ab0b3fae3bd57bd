//! Finding 4: playback without an audit entry. Every playback is audited whatever its `Range`;
//! repeats (the range requests a video element makes while playing) are merged per session, camera
//! and time range for a few minutes.

use crate::common::{self, Auth, CAM_A, CAM_B, Setup, TestServer};
use serde_json::json;

fn plays(s: &TestServer) -> Vec<vigil_server::audit::AuditEntry> {
    let mut v: Vec<_> = s
        .ctx
        .security
        .audit_entries(None, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "recording.play")
        .collect();
    v.reverse();
    v
}

#[test]
fn every_playback_is_audited_whatever_its_range_and_repeats_are_merged() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    if !s.recorded {
        return;
    }
    let viewer = s.user(&admin, "pat", "viewer", json!({"playback": true}));
    let v = Auth::Session(viewer.clone());
    let (t0, t1) = (common::T0_MS, common::T0_MS + 8000);
    let url = format!("/api/cameras/{CAM_A}/playback.mp4?start={t0}&end={t1}");

    // The reproduction: one byte in, the rest of the file, and no audit row.
    let r = s.raw("GET", &url, &v, &[("Range", "bytes=1-")], None);
    assert_eq!(r.status, 206);
    assert!(r.body.len() > 100_000, "{} bytes of video", r.body.len());
    let p = plays(&s);
    assert_eq!(
        p.len(),
        1,
        "a playback starting at byte 1 is audited: {p:#?}"
    );
    assert_eq!((p[0].user.as_str(), p[0].target.as_str()), ("pat", CAM_A));
    assert!(
        p[0].detail.contains(&vigil_server::audit::span(t0, t1)),
        "{}",
        p[0].detail
    );

    // What a video element does while playing the same range: merged into that entry.
    for range in ["bytes=0-", "bytes=0-65535", "bytes=65536-", "bytes=-1000"] {
        let r = s.raw("GET", &url, &v, &[("Range", range)], None);
        assert_eq!(r.status, 206, "{range}");
    }
    assert_eq!(s.call("GET", &url, &v, None).status, 200);
    assert_eq!(plays(&s).len(), 1, "{:#?}", plays(&s));

    // Another range, another camera, another session, a token: each its own entry.
    let other = format!(
        "/api/cameras/{CAM_A}/playback.mp4?start={t0}&end={}",
        t1 - 2000
    );
    assert_eq!(
        s.raw("GET", &other, &v, &[("Range", "bytes=5-")], None)
            .status,
        206
    );
    let cam_b = format!("/api/cameras/{CAM_B}/playback.mp4?start={t0}&end={t1}");
    assert_eq!(
        s.raw("GET", &cam_b, &v, &[("Range", "bytes=5-")], None)
            .status,
        206
    );
    let again = Auth::Session(s.login("pat", common::PASSWORD));
    assert_eq!(
        s.raw("GET", &url, &again, &[("Range", "bytes=9-")], None)
            .status,
        206
    );
    let token = s
        .call(
            "POST",
            "/api/tokens",
            &Auth::Session(admin),
            Some(json!({"name": "nvr", "scopes": ["playback"]})),
        )
        .json()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let t = Auth::Bearer(token);
    assert_eq!(
        s.raw("GET", &url, &t, &[("Range", "bytes=100-")], None)
            .status,
        206
    );
    assert_eq!(
        s.raw("GET", &url, &t, &[("Range", "bytes=200-")], None)
            .status,
        206
    );
    let p = plays(&s);
    let got: Vec<(&str, &str)> = p
        .iter()
        .map(|e| (e.user.as_str(), e.target.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("pat", CAM_A),
            ("pat", CAM_A),
            ("pat", CAM_B),
            ("pat", CAM_A),
            ("admin (token 1)", CAM_A),
        ],
        "{p:#?}"
    );
    // A refused range (416) is no playback.
    let r = s.raw("GET", &url, &v, &[("Range", "bytes=999999999-")], None);
    assert_eq!(r.status, 416);
    assert_eq!(plays(&s).len(), 5);
}
