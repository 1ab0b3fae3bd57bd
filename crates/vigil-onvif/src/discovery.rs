//! WS-Discovery (2005/04, as ONVIF uses it): a `Probe` for `dn:NetworkVideoTransmitter` sent to the
//! multicast group 239.255.255.250:3702 and/or to given unicast addresses, and the `ProbeMatches` that
//! come back until a deadline.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::{debug, warn};

use crate::Error;
use crate::soap::random_urn_uuid;
use crate::xml::{self, Element};

/// The WS-Discovery multicast group and port.
pub const MULTICAST_ADDR: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 255, 255, 250), 3702);

/// What to probe and for how long.
#[derive(Debug, Clone)]
pub struct DiscoveryOptions {
    /// How long to collect answers after the probe is sent (default 3 s).
    pub timeout: Duration,
    /// Send the probe to the multicast group (default true).
    pub multicast: bool,
    /// Also send the probe to these addresses (`host:3702`), e.g. a camera on another subnet.
    pub unicast: Vec<SocketAddr>,
    /// Local IPv4 address to send from; picks the network interface for multicast on a machine with several
    /// (default: any, the interface of the multicast route).
    pub bind: Option<Ipv4Addr>,
    /// Multicast TTL (default 1: the local network only, as WS-Discovery specifies).
    pub ttl: u32,
}

impl Default for DiscoveryOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3),
            multicast: true,
            unicast: Vec::new(),
            bind: None,
            ttl: 1,
        }
    }
}

impl DiscoveryOptions {
    /// Options that probe only `address` (`host:port`, port 3702 when absent), not the multicast group.
    pub fn unicast(address: &str, timeout: Duration) -> Result<Self, Error> {
        Ok(Self {
            timeout,
            multicast: false,
            unicast: vec![resolve_probe_address(address)?],
            ..Self::default()
        })
    }
}

/// Resolves `host[:port]` (port 3702 when absent) to the first IPv4 socket address.
pub fn resolve_probe_address(address: &str) -> Result<SocketAddr, Error> {
    let with_port = if address
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        address.to_string()
    } else {
        format!("{address}:3702")
    };
    let invalid = |reason: String| Error::InvalidAddress {
        address: address.to_string(),
        reason,
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| invalid(e.to_string()))?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| invalid("no IPv4 address".into()))
}

/// One device that answered a probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiscoveredDevice {
    /// Endpoint reference (usually `urn:uuid:...`); stable across reboots and address changes.
    pub endpoint: String,
    /// Device service URLs (`XAddrs`), e.g. `http://192.168.1.20/onvif/device_service`.
    pub xaddrs: Vec<String>,
    /// Types, e.g. `dn:NetworkVideoTransmitter tds:Device`.
    pub types: Vec<String>,
    /// Scope URIs, e.g. `onvif://www.onvif.org/name/Front%20door`.
    pub scopes: Vec<String>,
    /// Metadata version, when given.
    pub metadata_version: Option<u32>,
    /// Where the answer came from.
    pub from: SocketAddr,
}

impl DiscoveredDevice {
    /// The device service URL to use: the first `http(s)` XAddr on an IPv4 host, else the first one.
    pub fn device_url(&self) -> Option<&str> {
        self.xaddrs
            .iter()
            .find(|x| x.starts_with("http") && !x.contains("://["))
            .or_else(|| self.xaddrs.first())
            .map(String::as_str)
    }

    /// The `onvif://www.onvif.org/name/...` scope, decoded.
    pub fn name(&self) -> Option<String> {
        self.scope("name")
    }

    /// The `onvif://www.onvif.org/hardware/...` scope (model), decoded.
    pub fn hardware(&self) -> Option<String> {
        self.scope("hardware")
    }

    /// The `onvif://www.onvif.org/location/...` scope, decoded.
    pub fn location(&self) -> Option<String> {
        self.scope("location")
    }

    /// The decoded value of the first `onvif://www.onvif.org/<kind>/...` scope.
    pub fn scope(&self, kind: &str) -> Option<String> {
        let prefix = format!("onvif://www.onvif.org/{kind}/");
        self.scopes
            .iter()
            .find_map(|s| s.strip_prefix(&prefix))
            .map(percent_decode)
    }
}

/// Sends a probe as `options` say and returns every device that answered before the timeout, one entry
/// per endpoint reference, in order of first answer.
pub fn discover(options: &DiscoveryOptions) -> Result<Vec<DiscoveredDevice>, Error> {
    let io = |context: &str| {
        let context = context.to_string();
        move |source| Error::Io { context, source }
    };
    let bind = SocketAddrV4::new(options.bind.unwrap_or(Ipv4Addr::UNSPECIFIED), 0);
    let socket = UdpSocket::bind(bind).map_err(io(&format!("WS-Discovery: bind {bind}")))?;
    if options.multicast {
        socket
            .set_multicast_ttl_v4(options.ttl)
            .map_err(io("WS-Discovery: multicast TTL"))?;
        socket
            .set_multicast_loop_v4(true)
            .map_err(io("WS-Discovery: multicast loop"))?;
    }
    let message_id = random_urn_uuid();
    let probe = probe_message(&message_id);
    let mut targets: Vec<SocketAddr> = options.unicast.clone();
    if options.multicast {
        targets.push(SocketAddr::V4(MULTICAST_ADDR));
    }
    if targets.is_empty() {
        return Err(Error::InvalidAddress {
            address: String::new(),
            reason: "nothing to probe: multicast is off and no unicast address was given".into(),
        });
    }
    let mut sent = 0;
    let mut last_error = None;
    // UDP may drop a datagram; WS-Discovery clients send the probe twice (same MessageID).
    for round in 0..2 {
        for target in &targets {
            match socket.send_to(probe.as_bytes(), target) {
                Ok(_) => sent += 1,
                Err(e) => {
                    if round == 0 {
                        warn!(%target, error = %e, "WS-Discovery probe not sent");
                    }
                    last_error = Some((*target, e));
                }
            }
        }
    }
    if sent == 0 {
        let (target, source) =
            last_error.unwrap_or((targets[0], std::io::Error::other("send failed")));
        return Err(Error::Io {
            context: format!("WS-Discovery: send probe to {target}"),
            source,
        });
    }
    debug!(?targets, %message_id, "WS-Discovery probe sent");

    let deadline = Instant::now() + options.timeout;
    let mut found: Vec<DiscoveredDevice> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .map_err(io("WS-Discovery: read timeout"))?;
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            // ICMP port unreachable from a unicast target surfaces here on Linux; keep listening.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                debug!("WS-Discovery: a unicast target refused the probe");
                continue;
            }
            Err(e) => {
                return Err(Error::Io {
                    context: "WS-Discovery: receive".into(),
                    source: e,
                });
            }
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        let matches = match parse_probe_matches(&text, from) {
            Ok(m) => m,
            Err(e) => {
                debug!(%from, error = %e, "WS-Discovery: ignoring an unreadable datagram");
                continue;
            }
        };
        for device in matches {
            let key = if device.endpoint.is_empty() {
                device.xaddrs.join(" ")
            } else {
                device.endpoint.clone()
            };
            match index.get(&key) {
                Some(&i) => {
                    let known = &mut found[i];
                    for x in device.xaddrs {
                        if !known.xaddrs.contains(&x) {
                            known.xaddrs.push(x);
                        }
                    }
                }
                None => {
                    debug!(endpoint = %device.endpoint, xaddrs = ?device.xaddrs, "WS-Discovery: device answered");
                    index.insert(key, found.len());
                    found.push(device);
                }
            }
        }
    }
    Ok(found)
}

/// The Probe message for network video transmitters.
pub(crate) fn probe_message(message_id: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" "#,
            r#"xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" "#,
            r#"xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" "#,
            r#"xmlns:dn="http://www.onvif.org/ver10/network/wsdl">"#,
            "<s:Header>",
            r#"<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>"#,
            "<a:MessageID>{id}</a:MessageID>",
            "<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>",
            r#"<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"#,
            "</s:Header>",
            "<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>",
            "</s:Envelope>"
        ),
        id = xml::escape(message_id)
    )
}

/// The devices in a `ProbeMatches` datagram (empty for other messages, e.g. `Hello` or someone's `Probe`).
pub(crate) fn parse_probe_matches(
    text: &str,
    from: SocketAddr,
) -> Result<Vec<DiscoveredDevice>, Error> {
    let root = xml::parse(text)?;
    let mut matches = Vec::new();
    root.find_all("ProbeMatch", &mut matches);
    Ok(matches
        .into_iter()
        .map(|m| device_from_match(m, from))
        .collect())
}

fn device_from_match(m: &Element, from: SocketAddr) -> DiscoveredDevice {
    let words = |name: &str| -> Vec<String> {
        m.child(name)
            .map(|e| e.trimmed().split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    DiscoveredDevice {
        endpoint: m
            .path_text(&["EndpointReference", "Address"])
            .unwrap_or_default(),
        xaddrs: words("XAddrs"),
        types: words("Types"),
        scopes: split_scopes(m.child("Scopes").map(Element::trimmed).unwrap_or_default()),
        metadata_version: m
            .path_text(&["MetadataVersion"])
            .and_then(|v| v.parse().ok()),
        from,
    }
}

/// Splits a `Scopes` list on white space; a word that is not a URI is glued back (with its space) to the
/// scope before it, for devices that do not percent-encode spaces in names (ipycam does not).
fn split_scopes(text: &str) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let is_uri = word.split_once(':').is_some_and(|(scheme, _)| {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        match scopes.last_mut() {
            Some(last) if !is_uri => {
                last.push(' ');
                last.push_str(word);
            }
            _ => scopes.push(word.to_string()),
        }
    }
    scopes
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
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

    fn from() -> SocketAddr {
        "192.168.1.64:3702".parse().unwrap()
    }

    /// Shaped like a Hikvision answer: SOAP-ENV/wsa/d prefixes, several scopes, percent-encoded name.
    const HIKVISION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:soapenc="http://www.w3.org/2003/05/soap-encoding" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:wsadis="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:wsdd="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">
 <env:Header>
  <wsadis:MessageID>urn:uuid:4c4a1d7e-1dd2-11b2-8046-4419b6a1b2c3</wsadis:MessageID>
  <wsadis:RelatesTo>urn:uuid:0a6dc791-2be6-4991-9af1-454778a1917a</wsadis:RelatesTo>
  <wsadis:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsadis:To>
  <wsadis:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsadis:Action>
 </env:Header>
 <env:Body>
  <wsdd:ProbeMatches>
   <wsdd:ProbeMatch>
    <wsadis:EndpointReference><wsadis:Address>urn:uuid:4c4a1d7e-1dd2-11b2-8046-4419b6a1b2c3</wsadis:Address></wsadis:EndpointReference>
    <wsdd:Types>dn:NetworkVideoTransmitter tds:Device</wsdd:Types>
    <wsdd:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/MAC/44:19:b6:a1:b2:c3 onvif://www.onvif.org/hardware/DS-2CD2143G0-I onvif://www.onvif.org/name/HIKVISION%20DS-2CD2143G0-I onvif://www.onvif.org/location/city/hangzhou</wsdd:Scopes>
    <wsdd:XAddrs>http://192.168.1.64/onvif/device_service http://[fe80::4619:b6ff:fea1:b2c3]/onvif/device_service</wsdd:XAddrs>
    <wsdd:MetadataVersion>10</wsdd:MetadataVersion>
   </wsdd:ProbeMatch>
  </wsdd:ProbeMatches>
 </env:Body>
</env:Envelope>"#;

    /// Shaped like an Axis answer: SOAP-ENV prefixes, default-namespace elements, IPv6 first.
    const AXIS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
<SOAP-ENV:Header><wsa:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action></SOAP-ENV:Header>
<SOAP-ENV:Body><d:ProbeMatches><ProbeMatch xmlns="http://schemas.xmlsoap.org/ws/2005/04/discovery">
<wsa:EndpointReference><wsa:Address>urn:uuid:a1b2c3d4-0000-1111-2222-00408cabcdef</wsa:Address></wsa:EndpointReference>
<Types>dn:NetworkVideoTransmitter</Types>
<Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/hardware/P3245-LV onvif://www.onvif.org/name/AXIS%20P3245-LV</Scopes>
<XAddrs>http://[fd00::1]/onvif/device_service http://10.0.0.7/onvif/device_service</XAddrs>
<MetadataVersion>1</MetadataVersion></ProbeMatch></d:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;

    #[test]
    fn hikvision_probe_match() {
        let devices = parse_probe_matches(HIKVISION, from()).unwrap();
        assert_eq!(devices.len(), 1);
        let d = &devices[0];
        assert_eq!(d.endpoint, "urn:uuid:4c4a1d7e-1dd2-11b2-8046-4419b6a1b2c3");
        assert_eq!(
            d.device_url(),
            Some("http://192.168.1.64/onvif/device_service")
        );
        assert_eq!(d.name().as_deref(), Some("HIKVISION DS-2CD2143G0-I"));
        assert_eq!(d.hardware().as_deref(), Some("DS-2CD2143G0-I"));
        assert_eq!(d.location().as_deref(), Some("city/hangzhou"));
        assert_eq!(d.types, ["dn:NetworkVideoTransmitter", "tds:Device"]);
        assert_eq!(d.metadata_version, Some(10));
    }

    #[test]
    fn axis_probe_match_prefers_ipv4() {
        let d = &parse_probe_matches(AXIS, from()).unwrap()[0];
        assert_eq!(d.device_url(), Some("http://10.0.0.7/onvif/device_service"));
        assert_eq!(d.name().as_deref(), Some("AXIS P3245-LV"));
    }

    #[test]
    fn unencoded_spaces_in_scopes() {
        let scopes = split_scopes(
            "onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/name/Vigil Test Cam",
        );
        assert_eq!(scopes.len(), 2);
        assert_eq!(scopes[1], "onvif://www.onvif.org/name/Vigil Test Cam");
    }

    #[test]
    fn other_messages_have_no_matches() {
        let probe = probe_message("urn:uuid:1");
        assert!(parse_probe_matches(&probe, from()).unwrap().is_empty());
        assert!(parse_probe_matches("not xml <", from()).is_err());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%zz%4"), "a b%zz%4");
        assert_eq!(percent_decode("caf%C3%A9"), "café");
    }

    #[test]
    fn probe_addresses() {
        assert_eq!(resolve_probe_address("127.0.0.1").unwrap().port(), 3702);
        assert_eq!(
            resolve_probe_address("127.0.0.1:4000").unwrap().port(),
            4000
        );
        assert!(resolve_probe_address("no such host.invalid").is_err());
    }

    #[test]
    fn nothing_to_probe_is_an_error() {
        let options = DiscoveryOptions {
            multicast: false,
            ..DiscoveryOptions::default()
        };
        assert!(matches!(
            discover(&options),
            Err(Error::InvalidAddress { .. })
        ));
    }
}
