//! What to connect to: a named RTSP URL with optional credentials, kept out of every log line.

use std::fmt;
use url::Url;
use vigil_core::config::{Credentials, Secret};

/// One camera stream to ingest: a name for logs and status, the URL (never with credentials inside) and
/// the credentials handed to RTSP authentication.
#[derive(Clone)]
pub struct StreamSource {
    name: String,
    url: Url,
    credentials: Option<Credentials>,
}

impl StreamSource {
    /// A source named `name` (e.g. `front-door/main`). Credentials embedded in `url`
    /// (`rtsp://user:pass@host/...`) are moved out of it: they are used when `credentials` is `None` and
    /// dropped otherwise, so the stored URL never carries a password.
    pub fn new(name: impl Into<String>, url: Url, credentials: Option<Credentials>) -> Self {
        let mut url = url;
        let embedded = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let username = percent_decode(url.username());
            let password = url.password().map(percent_decode).unwrap_or_default();
            // Both setters only fail for URLs that cannot have credentials (no host), which never had any.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            Some(Credentials {
                username,
                password: Secret::new(password),
            })
        };
        Self {
            name: name.into(),
            url,
            credentials: credentials.or(embedded),
        }
    }

    /// The stream's name in logs and status.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL, without credentials.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The credentials, if any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }
}

impl fmt::Debug for StreamSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSource")
            .field("name", &self.name)
            .field("url", &redact_url(&self.url))
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// The URL as it may appear in logs: any user name and password are replaced by `***`.
pub fn redact_url(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut clean = url.clone();
    let _ = clean.set_password(None);
    if clean.set_username("***").is_err() {
        return format!("{}://***", url.scheme());
    }
    clean.to_string()
}

/// Decodes `%XX` escapes of a URL's user info (invalid escapes are kept as written).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |b: u8| (b as char).to_digit(16);
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_moved_out_of_the_url() {
        let url = Url::parse("rtsp://admin:p%40ss@10.0.0.1:554/live").unwrap();
        let source = StreamSource::new("cam", url, None);
        assert_eq!(source.url().as_str(), "rtsp://10.0.0.1:554/live");
        let creds = source.credentials().unwrap();
        assert_eq!(creds.username, "admin");
        assert_eq!(creds.password.expose(), "p@ss");
        let debug = format!("{source:?}");
        assert!(
            !debug.contains("p@ss") && !debug.contains("p%40ss"),
            "{debug}"
        );
    }

    #[test]
    fn explicit_credentials_win() {
        let url = Url::parse("rtsp://a:b@h/x").unwrap();
        let given = Credentials {
            username: "u".into(),
            password: Secret::new("p"),
        };
        let source = StreamSource::new("cam", url, Some(given.clone()));
        assert_eq!(source.credentials(), Some(&given));
        assert_eq!(source.url().as_str(), "rtsp://h/x");
    }

    #[test]
    fn redaction_hides_user_info() {
        let url = Url::parse("rtsp://admin:secret@10.0.0.1/live").unwrap();
        assert_eq!(redact_url(&url), "rtsp://***@10.0.0.1/live");
        let plain = Url::parse("rtsp://10.0.0.1/live").unwrap();
        assert_eq!(redact_url(&plain), "rtsp://10.0.0.1/live");
        assert_eq!(percent_decode("a%zz%41"), "a%zzA");
    }
}
