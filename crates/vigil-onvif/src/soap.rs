//! SOAP 1.2 over HTTP: envelopes, WS-Security `UsernameToken`, faults and the blocking transport.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest as _, Sha1};
use tracing::{debug, trace};

use crate::Error;
use crate::xml::{self, Element};

/// Namespaces declared on every request envelope (prefix, URI).
const NAMESPACES: &[(&str, &str)] = &[
    ("s", "http://www.w3.org/2003/05/soap-envelope"),
    ("tds", "http://www.onvif.org/ver10/device/wsdl"),
    ("trt", "http://www.onvif.org/ver10/media/wsdl"),
    ("tt", "http://www.onvif.org/ver10/schema"),
    ("tptz", "http://www.onvif.org/ver20/ptz/wsdl"),
    ("tev", "http://www.onvif.org/ver10/events/wsdl"),
    ("wsnt", "http://docs.oasis-open.org/wsn/b-2"),
    ("wsa", "http://www.w3.org/2005/08/addressing"),
];

const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const PASSWORD_DIGEST: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest";
const BASE64_BINARY: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

/// Largest answer read from a device (a big NVR's `GetProfiles` is a few hundred KiB).
const MAX_ANSWER_BYTES: u64 = 4 << 20;

/// User name and password for a device's ONVIF services (sent as a WS-Security `PasswordDigest`, never in
/// clear).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password (redacted in `Debug`).
    pub password: String,
}

impl Credentials {
    /// Credentials from a user name and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// Options of the HTTP client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Time allowed for one whole call (connect, send, answer); default 5 s. `PullMessages` gets its own
    /// wait added to this.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
        }
    }
}

/// The blocking SOAP transport shared by the device, media, PTZ and event calls of one device.
pub(crate) struct SoapClient {
    agent: ureq::Agent,
    credentials: Option<Credentials>,
    timeout: Duration,
    /// Device clock minus local clock, in seconds (WS-Security `Created` is stamped in device time).
    clock_offset: AtomicI64,
}

impl fmt::Debug for SoapClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoapClient")
            .field("credentials", &self.credentials)
            .field("timeout", &self.timeout)
            .field("clock_offset", &self.clock_offset.load(Ordering::Relaxed))
            .finish()
    }
}

/// One call: where, what, and optional extra SOAP header content.
pub(crate) struct Call<'a> {
    /// Service URL.
    pub url: &'a str,
    /// Full SOAP action URI; its last path segment names the operation in errors.
    pub action: &'a str,
    /// Body content (one element).
    pub body: &'a str,
    /// Extra header content (WS-Addressing), already XML.
    pub header: &'a str,
    /// Namespace declarations for `header` beyond the standard ones.
    pub header_xmlns: &'a [(String, String)],
    /// Added to the client's timeout (long polls).
    pub extra_wait: Duration,
    /// Send without WS-Security even when credentials are set (`GetSystemDateAndTime`).
    pub anonymous: bool,
}

impl<'a> Call<'a> {
    /// A plain call with no extra header.
    pub fn new(url: &'a str, action: &'a str, body: &'a str) -> Self {
        Self {
            url,
            action,
            body,
            header: "",
            header_xmlns: &[],
            extra_wait: Duration::ZERO,
            anonymous: false,
        }
    }
}

impl SoapClient {
    /// A client with these credentials and options.
    pub fn new(credentials: Option<Credentials>, options: &ClientOptions) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .http_status_as_error(false)
            // Cameras live on the local network: a system HTTP proxy would not reach them.
            .proxy(None)
            .user_agent("vigil-onvif")
            .build()
            .into();
        Self {
            agent,
            credentials,
            timeout: options.timeout,
            clock_offset: AtomicI64::new(0),
        }
    }

    /// Sets the device-minus-local clock offset used for WS-Security timestamps.
    pub fn set_clock_offset(&self, seconds: i64) {
        self.clock_offset.store(seconds, Ordering::Relaxed);
    }

    /// Sends `call` and returns the first element inside the answer's `Body`.
    pub fn call(&self, call: &Call<'_>) -> Result<Element, Error> {
        let operation = operation_name(call.action);
        let envelope = self.envelope(call);
        trace!(url = call.url, operation, "ONVIF request");
        let content_type = format!(
            "application/soap+xml; charset=utf-8; action=\"{}\"",
            call.action
        );
        let timeout = self.timeout + call.extra_wait;
        let request = self
            .agent
            .post(call.url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("Content-Type", &content_type)
            .header("SOAPAction", &format!("\"{}\"", call.action));
        let mut response = request
            .send(envelope.as_str())
            .map_err(|e| transport_error(call.url, timeout, e))?;
        let status = response.status().as_u16();
        let digest_challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("digest"));
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|e| transport_error(call.url, timeout, e))?;
        debug!(
            url = call.url,
            operation,
            status,
            bytes = text.len(),
            "ONVIF answer"
        );
        let parsed = xml::parse(&text);
        let fault = parsed.as_ref().ok().and_then(find_fault);
        if status == 401 || status == 403 || fault.as_ref().is_some_and(Fault::is_auth) {
            return Err(Error::Unauthorized {
                url: call.url.to_string(),
                detail: self.auth_hint(status, fault.as_ref(), digest_challenge),
            });
        }
        if let Some(fault) = fault {
            return Err(Error::Fault {
                url: call.url.to_string(),
                action: operation.to_string(),
                code: fault.code,
                subcode: fault.subcode,
                reason: fault.reason,
            });
        }
        if !(200..300).contains(&status) {
            return Err(Error::Http {
                url: call.url.to_string(),
                status,
                body: snippet(&text),
            });
        }
        let root = parsed?;
        if root.child("Body").is_none() {
            return Err(Error::Unexpected {
                url: call.url.to_string(),
                action: operation.to_string(),
                detail: format!("no SOAP Body in the answer (root <{}>)", root.name),
            });
        }
        body_element(&root).ok_or_else(|| Error::Unexpected {
            url: call.url.to_string(),
            action: operation.to_string(),
            detail: "empty SOAP Body".into(),
        })
    }

    fn auth_hint(&self, status: u16, fault: Option<&Fault>, digest_challenge: bool) -> String {
        let mut detail = match fault {
            Some(f) if !f.reason.is_empty() => f.reason.clone(),
            _ => format!("HTTP {status}"),
        };
        detail.push_str(if self.credentials.is_some() {
            "; the user name or password was refused (sent as a WS-Security PasswordDigest)"
        } else {
            "; the device needs a user name and password"
        });
        if digest_challenge {
            detail.push_str("; the device also asks for HTTP Digest authentication, which this client does not do");
        }
        detail
    }

    pub(crate) fn envelope(&self, call: &Call<'_>) -> String {
        let mut out = String::with_capacity(1024 + call.body.len());
        out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?><s:Envelope"#);
        for (prefix, uri) in NAMESPACES {
            out.push_str(&format!(r#" xmlns:{prefix}="{uri}""#));
        }
        out.push('>');
        let security = match (&self.credentials, call.anonymous) {
            (Some(c), false) => self.security_header(c),
            _ => String::new(),
        };
        if !security.is_empty() || !call.header.is_empty() {
            out.push_str("<s:Header");
            for (prefix, uri) in call.header_xmlns {
                if prefix.is_empty() || NAMESPACES.iter().any(|(p, _)| p == prefix) {
                    continue;
                }
                out.push_str(&format!(r#" xmlns:{}="{}""#, prefix, xml::escape(uri)));
            }
            out.push('>');
            out.push_str(&security);
            out.push_str(call.header);
            out.push_str("</s:Header>");
        }
        out.push_str("<s:Body>");
        out.push_str(call.body);
        out.push_str("</s:Body></s:Envelope>");
        out
    }

    fn security_header(&self, credentials: &Credentials) -> String {
        let mut nonce = [0u8; 16];
        random_bytes(&mut nonce);
        let now = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_secs(
                self.clock_offset.load(Ordering::Relaxed),
            ))
            .unwrap_or_else(|_| jiff::Timestamp::now());
        let created = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        security_header(credentials, &nonce, &created)
    }
}

/// The first element in the envelope's `Body`, carrying the namespace declarations of the envelope and
/// body too (so that raw content of it can be re-embedded).
pub(crate) fn body_element(root: &Element) -> Option<Element> {
    let body = root.child("Body")?;
    let mut element = body.children.first()?.clone();
    let mut xmlns = root.xmlns.clone();
    xmlns.extend(body.xmlns.iter().cloned());
    xmlns.append(&mut element.xmlns);
    element.xmlns = xmlns;
    Some(element)
}

/// The WS-Security header for these credentials, nonce and creation time.
pub(crate) fn security_header(credentials: &Credentials, nonce: &[u8], created: &str) -> String {
    let digest = password_digest(nonce, created, &credentials.password);
    format!(
        concat!(
            r#"<wsse:Security s:mustUnderstand="1" xmlns:wsse="{wsse}" xmlns:wsu="{wsu}">"#,
            "<wsse:UsernameToken><wsse:Username>{user}</wsse:Username>",
            r#"<wsse:Password Type="{pd}">{digest}</wsse:Password>"#,
            r#"<wsse:Nonce EncodingType="{b64}">{nonce}</wsse:Nonce>"#,
            "<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
        ),
        wsse = WSSE_NS,
        wsu = WSU_NS,
        user = xml::escape(&credentials.username),
        pd = PASSWORD_DIGEST,
        digest = digest,
        b64 = BASE64_BINARY,
        nonce = BASE64.encode(nonce),
        created = xml::escape(created),
    )
}

/// `Base64(SHA-1(nonce + created + password))`, the WS-Security `PasswordDigest`.
pub fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(nonce);
    sha.update(created.as_bytes());
    sha.update(password.as_bytes());
    BASE64.encode(sha.finalize())
}

/// Fills `buf` from the operating system's random source, falling back to a time-seeded generator (a
/// nonce only has to be unique; the password stays hashed either way).
pub(crate) fn random_bytes(buf: &mut [u8]) {
    if getrandom::fill(buf).is_err() {
        let mut seed = jiff::Timestamp::now().as_nanosecond() as u64 | 1;
        for b in buf.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
    }
}

/// A random `urn:uuid:` (version 4).
pub(crate) fn random_urn_uuid() -> String {
    let mut b = [0u8; 16];
    random_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    )
}

fn operation_name(action: &str) -> &str {
    let last = action.rsplit('/').next().unwrap_or(action);
    last.strip_suffix("Request").unwrap_or(last)
}

fn snippet(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

fn transport_error(url: &str, timeout: Duration, e: ureq::Error) -> Error {
    match e {
        ureq::Error::Timeout(_) => Error::Timeout {
            url: url.to_string(),
            after: timeout,
        },
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Error::Timeout {
            url: url.to_string(),
            after: timeout,
        },
        ureq::Error::BadUri(reason) => Error::InvalidAddress {
            address: url.to_string(),
            reason,
        },
        other => Error::Unreachable {
            url: url.to_string(),
            reason: other.to_string(),
        },
    }
}

/// A SOAP fault (1.1 or 1.2).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fault {
    pub code: String,
    pub subcode: Option<String>,
    pub reason: String,
}

impl Fault {
    fn is_auth(&self) -> bool {
        let sub = self.subcode.as_deref().unwrap_or_default();
        let reason = self.reason.to_ascii_lowercase();
        sub.ends_with("NotAuthorized")
            || sub.ends_with("FailedAuthentication")
            || reason.contains("not authorized")
            || reason.contains("unauthorized")
    }
}

/// The fault in an answer, if it is one.
pub(crate) fn find_fault(root: &Element) -> Option<Fault> {
    let fault = root.child("Body")?.child("Fault")?;
    // SOAP 1.2: Code/Value, Code/Subcode/Value, Reason/Text. SOAP 1.1: faultcode, faultstring.
    let code = fault
        .path_text(&["Code", "Value"])
        .or_else(|| fault.path_text(&["faultcode"]))
        .unwrap_or_default();
    let subcode = fault.path_text(&["Code", "Subcode", "Value"]);
    let reason = fault
        .path_text(&["Reason", "Text"])
        .or_else(|| fault.path_text(&["faultstring"]))
        .unwrap_or_default();
    Some(Fault {
        code,
        subcode,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_the_ws_security_example() {
        // From the ONVIF Application Programmer's Guide (section 6.1.1.3).
        let nonce = BASE64.decode("LKqI6G/AikKCQrN0zqZFlg==").unwrap();
        assert_eq!(
            password_digest(&nonce, "2010-09-16T07:50:45Z", "userpassword"),
            "tuOSpGlFlIXsozq4HFNeeGeFLEI="
        );
    }

    #[test]
    fn security_header_carries_digest_nonce_and_created() {
        let h = security_header(
            &Credentials::new("ad<min", "pw"),
            &[1, 2, 3],
            "2024-01-02T03:04:05Z",
        );
        assert!(h.contains("<wsse:Username>ad&lt;min</wsse:Username>"));
        assert!(h.contains("<wsse:Nonce EncodingType="));
        assert!(h.contains(">AQID</wsse:Nonce>"));
        assert!(h.contains(&password_digest(&[1, 2, 3], "2024-01-02T03:04:05Z", "pw")));
        assert!(!h.contains(">pw<"));
        xml::parse(&format!(r#"<s:Header xmlns:s="x">{h}</s:Header>"#)).unwrap();
    }

    #[test]
    fn envelope_with_and_without_credentials() {
        let plain = SoapClient::new(None, &ClientOptions::default());
        let call = Call::new(
            "http://x",
            "http://www.onvif.org/ver10/device/wsdl/GetDeviceInformation",
            "<tds:GetDeviceInformation/>",
        );
        let env = plain.envelope(&call);
        assert!(!env.contains("Header"));
        let root = xml::parse(&env).unwrap();
        assert_eq!(
            root.path(&["Body", "GetDeviceInformation"])
                .map(|e| e.name.as_str()),
            Some("GetDeviceInformation")
        );

        let auth = SoapClient::new(Some(Credentials::new("u", "p")), &ClientOptions::default());
        let root = xml::parse(&auth.envelope(&call)).unwrap();
        assert!(
            root.path(&["Header", "Security", "UsernameToken", "Password"])
                .is_some()
        );
        let anonymous = Call {
            anonymous: true,
            ..Call::new("http://x", "a", "<b/>")
        };
        assert!(!auth.envelope(&anonymous).contains("Security"));
    }

    #[test]
    fn faults_soap12_and_soap11() {
        let f12 = r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error">
          <env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code>
          <env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>"#;
        let fault = find_fault(&xml::parse(f12).unwrap()).unwrap();
        assert_eq!(fault.code, "env:Sender");
        assert_eq!(fault.subcode.as_deref(), Some("ter:NotAuthorized"));
        assert!(fault.is_auth());
        let f11 = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault>
          <faultcode>SOAP-ENV:Client</faultcode><faultstring>Method not implemented</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
        let fault = find_fault(&xml::parse(f11).unwrap()).unwrap();
        assert_eq!(
            (fault.code.as_str(), fault.reason.as_str()),
            ("SOAP-ENV:Client", "Method not implemented")
        );
        assert!(!fault.is_auth());
    }

    #[test]
    fn uuids_and_operation_names() {
        let u = random_urn_uuid();
        assert_eq!(u.len(), 45);
        assert_ne!(u, random_urn_uuid());
        assert_eq!(
            operation_name("http://www.onvif.org/ver10/media/wsdl/GetProfiles"),
            "GetProfiles"
        );
        assert_eq!(
            operation_name(
                "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest"
            ),
            "PullMessages"
        );
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let s = format!("{:?}", Credentials::new("admin", "hunter2"));
        assert!(s.contains("admin") && !s.contains("hunter2"));
    }
}
