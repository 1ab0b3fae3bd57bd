//! The extension points the live-video and web-UI parts plug into: a `LiveSource` reached only after
//! authorization and the `Origin` check (audited once it upgrades), `Assets` served at `/` and `/assets/*` (and for the UI's own pages), and
//! the own-password route.

use crate::common;

use axum::extract::Request;
use axum::response::IntoResponse;
use common::{Auth, CAM_A, CAM_B, PASSWORD, Setup, TestServer};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use vigil_server::{Asset, Assets, LiveSource, ResponseFuture};

struct FakeLive(Arc<AtomicUsize>);

impl LiveSource for FakeLive {
    fn serve(
        &self,
        camera: String,
        request: Request,
        _allowed: vigil_server::StillAllowed,
    ) -> ResponseFuture {
        self.0.fetch_add(1, Ordering::SeqCst);
        let upgrade = request.headers().contains_key("upgrade");
        Box::pin(async move { format!("live {camera} upgrade={upgrade}").into_response() })
    }
}

struct FakeUi;

impl Assets for FakeUi {
    fn get(&self, path: &str) -> Option<Asset> {
        let (bytes, content_type): (&'static [u8], _) = match path {
            "index.html" => (
                b"<!doctype html><title>Vigil UI</title>",
                "text/html; charset=utf-8",
            ),
            "app.js" => (b"console.log('vigil')", "text/javascript"),
            _ => return None,
        };
        Some(Asset {
            bytes: bytes.into(),
            content_type,
        })
    }
}

#[test]
fn live_source_and_assets_are_plugged_in_behind_the_same_checks() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        live: Some(Arc::new(FakeLive(calls.clone()))),
        assets: Some(Arc::new(FakeUi)),
        ..Setup::default()
    });
    let live = format!("/api/cameras/{CAM_A}/live");
    assert_eq!(s.call("GET", &live, &Auth::None, None).status, 401);
    let auditor = s.user(&admin, "aud", "auditor", json!({}));
    assert_eq!(
        s.call("GET", &live, &Auth::Session(auditor), None).status,
        403
    );
    let scoped = s.user(&admin, "op", "operator", json!({"cameras": [CAM_A]}));
    let r = s.call(
        "GET",
        &format!("/api/cameras/{CAM_B}/live"),
        &Auth::Session(scoped.clone()),
        None,
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "refused before the live source"
    );
    // Reached with the page's own Origin; the fake source answers without upgrading, so nothing is
    // audited (a view is recorded only once the upgrade is accepted).
    let origin = s.url.clone();
    let r = s.raw(
        "GET",
        &live,
        &Auth::Session(scoped.clone()),
        &[("Origin", origin.as_str())],
        None,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), format!("live {CAM_A} upgrade=false"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Without it (or from elsewhere), refused before the live source.
    for headers in [vec![], vec![("Origin", "https://evil.example")]] {
        let r = s.raw("GET", &live, &Auth::Session(scoped.clone()), &headers, None);
        assert_eq!(r.status, 403, "{headers:?}");
        assert_eq!(r.json()["error"], "bad_origin");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let audit = s.ctx.security.audit_entries(None, 50).unwrap();
    assert!(!audit.iter().any(|e| e.action == "live.view"), "{audit:#?}");

    let r = s.call("GET", "/", &Auth::None, None);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("Vigil UI"));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let r = s.call("GET", "/assets/app.js", &Auth::None, None);
    assert_eq!(r.header("content-type").as_deref(), Some("text/javascript"));
    assert_eq!(
        s.call("GET", "/assets/missing.js", &Auth::None, None)
            .status,
        404
    );
    assert_eq!(
        s.call("GET", "/assets/..%2findex.html", &Auth::None, None)
            .status,
        400
    );
    // A browser opening one of the UI's pages gets index.html; an API client gets a JSON 404.
    let r = s.raw(
        "GET",
        "/cameras/cam-a",
        &Auth::None,
        &[("Accept", "text/html")],
        None,
    );
    assert!(r.text().contains("Vigil UI"));
    let r = s.raw(
        "GET",
        "/api/nope",
        &Auth::None,
        &[("Accept", "text/html")],
        None,
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not_found");
}

#[test]
fn users_change_their_own_password_with_the_current_one() {
    let (s, admin) = TestServer::with_admin(Setup::default());
    let v = s.user(&admin, "vera", "viewer", json!({}));
    let a = Auth::Session(v.clone());
    let change = |current: &str, new: &str| {
        s.call(
            "POST",
            "/api/me/password",
            &a,
            Some(json!({"current": current, "new": new})),
        )
    };
    assert_eq!(
        change("not-my-password-x", "brand-new-secret-55").status,
        401
    );
    assert_eq!(change(PASSWORD, "short").status, 422);
    let r = change(PASSWORD, "brand-new-secret-55");
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        s.call("GET", "/api/me", &a, None).status,
        401,
        "sessions ended"
    );
    s.login("vera", "brand-new-secret-55");
    let r = s.call(
        "POST",
        "/api/login",
        &Auth::None,
        Some(json!({"username": "vera", "password": PASSWORD})),
    );
    assert_eq!(r.status, 401);
}
