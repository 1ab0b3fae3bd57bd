//! Finding 6 (cross-site WebSocket hijacking) and the `live.view` entry of a failed upgrade (13): a
//! live-video upgrade whose `Origin` is not the server's own (or configured) is refused with 403
//! before any 101, and only accepted upgrades are audited.

use crate::common::{self, Auth};
use crate::live_ws::{self, own_origin, upgrade};
use futures_util::StreamExt;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

#[test]
fn live_upgrades_from_foreign_origins_are_refused_before_101() {
    let Some(video) = common::footage("intel/car-detection.mp4") else {
        return;
    };
    let (s, stop) = live_ws::start_with(&video, vec!["https://vigil.example.com".into()]);
    let admin = live_ws::admin(&s);
    let viewer = s.user(&admin, "vic", "viewer", json!({}));
    let token = s.call(
        "POST",
        "/api/tokens",
        &Auth::Session(admin.clone()),
        Some(json!({"name": "wall", "scopes": ["live"]})),
    );
    assert_eq!(token.status, 201, "{}", token.text());
    let token = token.json()["secret"].as_str().unwrap().to_string();
    let cookie = ("cookie", format!("vigil_session={}", viewer.cookie));
    let bearer = ("authorization", format!("Bearer {token}"));
    let addr = s.server.as_ref().unwrap().addr();
    let origin = |o: String| ("origin", o);

    let refused = [
        // What the pen test did: a viewer's cookie sent by a page elsewhere.
        vec![cookie.clone(), origin("https://evil.example".into())],
        vec![cookie.clone(), origin("null".into())],
        vec![
            cookie.clone(),
            origin(format!("https://{}:{}", addr.ip(), addr.port() + 1)),
        ],
        vec![
            cookie.clone(),
            origin(format!("https://{}.evil.example", addr.ip())),
        ],
        // A cookie without any Origin: not a browser on our page.
        vec![cookie.clone()],
        // A token may come without an Origin, never with a foreign one.
        vec![bearer.clone(), origin("https://evil.example".into())],
    ];
    let accepted = [
        vec![cookie.clone(), origin(own_origin(&s))],
        vec![cookie.clone(), origin("https://VIGIL.example.com".into())],
        vec![bearer.clone()],
        vec![bearer.clone(), origin(own_origin(&s))],
    ];
    s.runtime.block_on(async {
        for headers in &refused {
            let r = upgrade(&s, "cam-a", headers).await.err();
            assert_eq!(r, Some(403), "{headers:?}");
        }
        for headers in &accepted {
            let mut ws = upgrade(&s, "cam-a", headers)
                .await
                .unwrap_or_else(|st| panic!("{headers:?}: {st}"));
            // And video comes: the mime message first.
            let first = tokio::time::timeout(Duration::from_secs(20), ws.next())
                .await
                .expect("live data")
                .unwrap()
                .unwrap();
            assert!(matches!(first, Message::Text(_)), "{first:?}");
            ws.close(None).await.unwrap();
        }
    });
    stop.store(true, Ordering::Relaxed);

    // Exactly the accepted upgrades are in the audit log (none for the refused ones).
    let entries = s.ctx.security.audit_entries(None, 1000).unwrap();
    let views = entries.iter().filter(|e| e.action == "live.view").count();
    assert_eq!(views, accepted.len(), "{entries:#?}");
}
