//! Finding 14: what the API shows and who it still lets in. Storage paths and disk sizes only to
//! admins; an API token stops working once its owner's role requires MFA the owner has not enrolled;
//! the Content-Security-Policy allows no inline styles.

use crate::common::{Auth, Setup, TestServer};
use serde_json::json;
use vigil_server::Policy;
use vigil_server::perms::Role;

#[test]
fn only_admins_see_storage_paths_and_disk_sizes() {
    let (s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let root = Auth::Session(admin.clone());
    let dir = s.dir.path().display().to_string();
    let full = s.call("GET", "/api/system", &root, None);
    assert!(full.text().contains(&dir), "{}", full.text());
    assert!(
        full.json()["storage"][0]["total_bytes"].is_u64(),
        "{}",
        full.text()
    );
    for role in ["viewer", "operator", "auditor"] {
        let who = Auth::Session(s.user(&admin, &format!("u-{role}"), role, json!({})));
        let r = s.call("GET", "/api/system", &who, None);
        assert_eq!(r.status, 200, "{}", r.text());
        let text = r.text();
        assert!(!text.contains(&dir), "{role} sees the path: {text}");
        let store = &r.json()["storage"][0];
        assert_eq!(store["name"], "dir1", "{text}");
        for field in ["path", "free_bytes", "total_bytes", "min_free_bytes"] {
            assert!(store.get(field).is_none(), "{role} sees {field}: {text}");
        }
    }
}

#[test]
fn tokens_stop_working_once_their_owners_role_requires_mfa_they_lack() {
    let (mut s, admin) = TestServer::with_admin(Setup {
        store: true,
        ..Setup::default()
    });
    let r = s.call(
        "POST",
        "/api/tokens",
        &Auth::Session(admin),
        Some(json!({"name": "bridge", "scopes": ["events", "cameras"]})),
    );
    let token = Auth::Bearer(r.json()["secret"].as_str().unwrap().to_string());
    assert_eq!(s.call("GET", "/api/events", &token, None).status, 200);
    // The operator turns require_mfa on for admins and restarts; the admin has no MFA yet.
    s.restart(Policy {
        require_mfa: vec![Role::Admin],
        ..Policy::default()
    });
    for path in ["/api/events", "/api/cameras"] {
        let r = s.call("GET", path, &token, None);
        assert_eq!(r.status, 403, "{path}: {}", r.text());
        assert_eq!(r.json()["error"], "mfa_enrollment_required", "{}", r.text());
    }
}

#[test]
fn the_content_security_policy_allows_no_inline_style_or_script() {
    let s = TestServer::start(Setup::default());
    let r = s.call("GET", "/", &Auth::None, None);
    let csp = r.header("content-security-policy").unwrap();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    assert!(csp.contains("style-src 'self'"), "{csp}");
    // Nor does the UI rely on them: no style attribute or element in any embedded file.
    for path in vigil_server::WebAssets::files() {
        let asset = vigil_server::Assets::get(
            &vigil_server::WebAssets,
            path.strip_prefix("assets/").unwrap_or(path),
        )
        .unwrap();
        let text = String::from_utf8_lossy(&asset.bytes);
        for bad in [
            "style=\"",
            "style: `",
            "style: '",
            "<style",
            "setAttribute('style'",
        ] {
            assert!(!text.contains(bad), "{path} uses an inline style ({bad})");
        }
    }
}
