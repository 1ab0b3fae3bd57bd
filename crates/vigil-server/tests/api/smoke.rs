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
