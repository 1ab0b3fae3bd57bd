//! The `Origin` check of WebSocket upgrades (cross-site WebSocket hijacking).
//!
//! A browser sends a page's cookies with a WebSocket handshake whatever page opened it, and the
//! same-origin policy does not apply to WebSockets: the only defence is the `Origin` header, which
//! browsers always send on a WebSocket handshake and which a page cannot forge. An upgrade is allowed
//! when its `Origin` is the server's own origin (the scheme `https` or `http` with exactly the host
//! and port the request was sent to, the `Host` header or the HTTP/2 authority) or one of the
//! configured `[server] allowed_origins` (for a reverse proxy that changes the host name). `null`,
//! another host, another port, or a malformed value is refused. A cookie-authenticated upgrade without
//! `Origin` is refused too; an API-token upgrade may omit it (a token is never sent by a browser on
//! its own), but one that sends a foreign `Origin` is refused like any other.

use axum::http::{HeaderMap, Uri, header};

/// An origin normalised for comparison: lower case, default port removed, no trailing slash.
/// `None` when it is not `http(s)://host[:port]`.
pub fn normalise(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let authority = normalise_authority(authority, scheme)?;
    Some(format!("{scheme}://{authority}"))
}

/// `host[:port]` in lower case without the scheme's default port; `None` when it holds anything but a
/// host name or address and a port.
fn normalise_authority(authority: &str, scheme: &str) -> Option<String> {
    let a = authority.to_ascii_lowercase();
    if a.is_empty()
        || a.contains(['/', '@', '?', '#', ' ', '\\'])
        || a.chars().any(|c| c.is_control())
    {
        return None;
    }
    let default = if scheme == "https" { ":443" } else { ":80" };
    Some(a.strip_suffix(default).unwrap_or(&a).to_string())
}

/// Why an upgrade was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// Checks the `Origin` of an upgrade request against the server's own origin and `allowed` (already
/// normalised with [`normalise`]). `cookie` says whether the caller authenticated with the session
/// cookie (then `Origin` must be present).
pub fn check(
    headers: &HeaderMap,
    uri: &Uri,
    allowed: &[String],
    cookie: bool,
) -> Result<(), Refused> {
    let Some(value) = headers.get(header::ORIGIN) else {
        return if cookie {
            Err(Refused(
                "a browser upgrade must carry an Origin header (none was sent)".into(),
            ))
        } else {
            Ok(())
        };
    };
    let Some(origin) = value.to_str().ok().and_then(normalise) else {
        return Err(Refused(format!(
            "Origin {:?} is not this server's origin",
            String::from_utf8_lossy(value.as_bytes())
        )));
    };
    if allowed.contains(&origin) {
        return Ok(());
    }
    let host = uri.authority().map(|a| a.as_str().to_string()).or_else(|| {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(String::from)
    });
    let scheme = origin.split_once("://").map_or("", |(s, _)| s);
    let own = host.and_then(|h| normalise_authority(&h, scheme));
    match own {
        Some(own) if origin == format!("{scheme}://{own}") => Ok(()),
        _ => Err(Refused(format!(
            "Origin {origin} is not this server's origin (add it to [server] allowed_origins if \
             a reverse proxy serves Vigil under that name)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn own_origin_and_allow_list_pass_everything_else_is_refused() {
        let uri: Uri = "/api/cameras/a/live".parse().unwrap();
        let ok = |o: Option<&str>, host: &str, cookie: bool| {
            check(&headers(o, host), &uri, &[], cookie).is_ok()
        };
        assert!(ok(Some("https://127.0.0.1:8443"), "127.0.0.1:8443", true));
        assert!(ok(Some("https://Vigil.Example"), "vigil.example:443", true));
        assert!(ok(Some("http://127.0.0.1:8080"), "127.0.0.1:8080", true));
        assert!(!ok(Some("https://evil.example"), "127.0.0.1:8443", true));
        assert!(!ok(Some("null"), "127.0.0.1:8443", true));
        assert!(!ok(Some("https://127.0.0.1:9443"), "127.0.0.1:8443", true));
        assert!(!ok(
            Some("https://127.0.0.1:8443.evil.example"),
            "127.0.0.1:8443",
            true
        ));
        assert!(!ok(
            Some("https://a@127.0.0.1:8443"),
            "127.0.0.1:8443",
            true
        ));
        assert!(!ok(Some("ws://127.0.0.1:8443"), "127.0.0.1:8443", true));
        assert!(!ok(None, "127.0.0.1:8443", true));
        assert!(ok(None, "127.0.0.1:8443", false));
        assert!(!ok(Some("https://evil.example"), "127.0.0.1:8443", false));
        let allowed = vec![normalise("https://vigil.example.com/").unwrap()];
        let h = headers(Some("https://VIGIL.example.com"), "127.0.0.1:8443");
        assert!(check(&h, &uri, &allowed, true).is_ok());
        assert_eq!(normalise("https://x:443/"), Some("https://x".into()));
        assert_eq!(normalise("file:///etc"), None);
    }
}
