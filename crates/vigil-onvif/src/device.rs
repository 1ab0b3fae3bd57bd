//! The Device service (`GetSystemDateAndTime`, `GetDeviceInformation`, `GetCapabilities`/`GetServices`)
//! and the Media service calls (`GetProfiles`, `GetStreamUri`) of one device, and [`Device::probe`], which
//! puts them together.

use std::sync::Arc;

use serde::Serialize;
use tracing::{debug, warn};
use url::Url;

use crate::events::{PullPointOptions, PullPointSubscription};
use crate::media::{Profile, choose_streams, parse_profiles};
use crate::ptz::Ptz;
use crate::soap::{Call, ClientOptions, Credentials, SoapClient};
use crate::xml::{self, Element};
use crate::{Error, ns};

/// Manufacturer, model, firmware and serial number (`GetDeviceInformation`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeviceInfo {
    /// Manufacturer, e.g. `HIKVISION`.
    pub manufacturer: String,
    /// Model, e.g. `DS-2CD2143G0-I`.
    pub model: String,
    /// Firmware version.
    pub firmware_version: String,
    /// Serial number.
    pub serial_number: String,
    /// Hardware id.
    pub hardware_id: String,
}

/// The service URLs of a device (from `GetCapabilities`, or `GetServices` when that fails).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Services {
    /// Device service (the URL connected to).
    pub device: String,
    /// Media service (ver10), for profiles and stream URIs.
    pub media: Option<String>,
    /// PTZ service, when the device has one.
    pub ptz: Option<String>,
    /// Event service, when the device has one.
    pub events: Option<String>,
}

/// A profile with its RTSP URI, as [`Device::probe`] reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileStream {
    /// The profile.
    #[serde(flatten)]
    pub profile: Profile,
    /// Its RTSP URI (`GetStreamUri`, RTP unicast over RTSP), when the device gave one.
    pub stream_uri: Option<String>,
}

/// Everything Vigil needs to add a camera: identity, profiles, chosen streams and capabilities.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceSummary {
    /// The device service URL.
    pub address: String,
    /// Manufacturer, model, firmware, serial.
    pub info: DeviceInfo,
    /// Service URLs.
    pub services: Services,
    /// Every media profile, with its stream URI.
    pub profiles: Vec<ProfileStream>,
    /// The main stream (highest resolution): its profile token and RTSP URI.
    pub main: Option<ChosenStream>,
    /// The sub stream (lowest resolution, when smaller than the main one): its profile token and RTSP URI.
    pub sub: Option<ChosenStream>,
    /// True when the device has a PTZ service and a profile with a PTZ configuration.
    pub ptz: bool,
    /// True when the device advertises an event service.
    pub events: bool,
}

/// A stream chosen for Vigil: which profile, and where to play it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChosenStream {
    /// Profile token.
    pub profile: String,
    /// RTSP URI (without credentials).
    pub uri: String,
}

/// A connection to one ONVIF device: its service URLs and a shared, thread-safe SOAP client. Cheap to
/// clone; `Send + Sync`. Every call blocks the calling thread for at most the configured timeout.
#[derive(Debug, Clone)]
pub struct Device {
    client: Arc<SoapClient>,
    services: Services,
}

/// Connects to `url` and reports identity, profiles, stream URIs and capabilities in one go.
pub fn probe(
    url: &str,
    credentials: Option<Credentials>,
    options: &ClientOptions,
) -> Result<DeviceSummary, Error> {
    Device::connect(url, credentials, options)?.probe()
}

impl Device {
    /// Connects to the device service at `url` (e.g. `http://192.168.1.20/onvif/device_service`): reads
    /// the device clock (WS-Security timestamps are made in device time) and the service URLs. Fails fast
    /// with [`Error::Unreachable`]/[`Error::Timeout`] when nothing answers there, and with
    /// [`Error::Unauthorized`] when the credentials are refused.
    pub fn connect(
        url: &str,
        credentials: Option<Credentials>,
        options: &ClientOptions,
    ) -> Result<Self, Error> {
        let parsed = Url::parse(url).map_err(|e| Error::InvalidAddress {
            address: url.to_string(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(Error::InvalidAddress {
                address: url.to_string(),
                reason: "an ONVIF device service URL is http(s)://host[:port]/path".into(),
            });
        }
        let client = Arc::new(SoapClient::new(credentials, options));
        let device = url.to_string();
        match system_time_offset(&client, &device) {
            Ok(offset) => {
                debug!(url, offset, "device clock offset (s)");
                client.set_clock_offset(offset);
            }
            // Nothing there: say so now rather than after the next call times out too.
            Err(
                e @ (Error::Unreachable { .. }
                | Error::Timeout { .. }
                | Error::InvalidAddress { .. }),
            ) => {
                return Err(e);
            }
            Err(e) => debug!(url, error = %e, "GetSystemDateAndTime failed; using the local clock"),
        }
        let services = match capabilities(&client, &device) {
            Ok(s) => s,
            Err(e @ Error::Unauthorized { .. }) => return Err(e),
            Err(e) => {
                debug!(url, error = %e, "GetCapabilities failed; trying GetServices");
                services(&client, &device).map_err(|e2| match e2 {
                    Error::Fault { .. } => e,
                    other => other,
                })?
            }
        };
        let services = rebase_services(&parsed, services);
        debug!(?services, "ONVIF services");
        Ok(Self { client, services })
    }

    /// The device service URL.
    pub fn url(&self) -> &str {
        &self.services.device
    }

    /// The service URLs found at connection.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Manufacturer, model, firmware and serial number.
    pub fn information(&self) -> Result<DeviceInfo, Error> {
        let r = self.client.call(&Call::new(
            &self.services.device,
            &ns::device("GetDeviceInformation"),
            "<tds:GetDeviceInformation/>",
        ))?;
        let text = |name: &str| r.path_text(&[name]).unwrap_or_default();
        Ok(DeviceInfo {
            manufacturer: text("Manufacturer"),
            model: text("Model"),
            firmware_version: text("FirmwareVersion"),
            serial_number: text("SerialNumber"),
            hardware_id: text("HardwareId"),
        })
    }

    /// The media profiles.
    pub fn profiles(&self) -> Result<Vec<Profile>, Error> {
        let media = self.media_url()?;
        let r = self.client.call(&Call::new(
            media,
            &ns::media("GetProfiles"),
            "<trt:GetProfiles/>",
        ))?;
        Ok(parse_profiles(&r))
    }

    /// The RTSP URI (RTP unicast over RTSP) of the profile with token `profile`.
    pub fn stream_uri(&self, profile: &str) -> Result<String, Error> {
        let media = self.media_url()?;
        let body = format!(
            concat!(
                "<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>",
                "<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>",
                "<trt:ProfileToken>{}</trt:ProfileToken></trt:GetStreamUri>"
            ),
            xml::escape(profile)
        );
        let r = self
            .client
            .call(&Call::new(media, &ns::media("GetStreamUri"), &body))?;
        r.path_text(&["MediaUri", "Uri"])
            .ok_or_else(|| Error::Unexpected {
                url: media.to_string(),
                action: "GetStreamUri".into(),
                detail: "no MediaUri/Uri in the answer".into(),
            })
    }

    /// A PTZ handle for the profile with token `profile`, or for the first profile that has a PTZ
    /// configuration when `None`. Fails with [`Error::NotSupported`] when the device has no PTZ service or
    /// no such profile.
    pub fn ptz(&self, profile: Option<&str>) -> Result<Ptz, Error> {
        let url = self.services.ptz.clone().ok_or_else(|| {
            Error::NotSupported(format!(
                "{}: the device has no PTZ service",
                self.services.device
            ))
        })?;
        let token = match profile {
            Some(p) => p.to_string(),
            None => self
                .profiles()?
                .into_iter()
                .find(|p| p.ptz_configuration.is_some())
                .map(|p| p.token)
                .ok_or_else(|| {
                    Error::NotSupported(format!(
                        "{}: no media profile has a PTZ configuration",
                        self.services.device
                    ))
                })?,
        };
        Ok(Ptz::new(Arc::clone(&self.client), url, token))
    }

    /// Creates a pull-point event subscription. Fails with [`Error::NotSupported`] when the device
    /// advertises no event service.
    pub fn pull_point(&self, options: &PullPointOptions) -> Result<PullPointSubscription, Error> {
        let url = self.services.events.as_deref().ok_or_else(|| {
            Error::NotSupported(format!(
                "{}: the device has no event service",
                self.services.device
            ))
        })?;
        PullPointSubscription::create(Arc::clone(&self.client), url, options)
    }

    /// Identity, profiles with stream URIs, the chosen main and sub streams, and capabilities.
    pub fn probe(&self) -> Result<DeviceSummary, Error> {
        let info = self.information()?;
        let profiles = if self.services.media.is_some() {
            self.profiles()?
        } else {
            Vec::new()
        };
        let mut streams = Vec::with_capacity(profiles.len());
        for profile in profiles {
            let stream_uri = if profile.video.is_some() {
                match self.stream_uri(&profile.token) {
                    Ok(uri) => Some(uri),
                    Err(e @ Error::Unauthorized { .. }) => return Err(e),
                    Err(e) => {
                        warn!(profile = %profile.token, error = %e, "no stream URI for this profile");
                        None
                    }
                }
            } else {
                None
            };
            streams.push(ProfileStream {
                profile,
                stream_uri,
            });
        }
        let chosen = |i: Option<usize>| {
            let s = &streams[i?];
            Some(ChosenStream {
                profile: s.profile.token.clone(),
                uri: s.stream_uri.clone()?,
            })
        };
        let with_uri: Vec<Profile> = streams
            .iter()
            .map(|s| {
                let mut p = s.profile.clone();
                if s.stream_uri.is_none() {
                    p.video = None;
                }
                p
            })
            .collect();
        let (main, sub) = choose_streams(&with_uri);
        let (main, sub) = (chosen(main), chosen(sub));
        let ptz = self.services.ptz.is_some()
            && streams
                .iter()
                .any(|s| s.profile.ptz_configuration.is_some());
        Ok(DeviceSummary {
            address: self.services.device.clone(),
            info,
            events: self.services.events.is_some(),
            services: self.services.clone(),
            profiles: streams,
            main,
            sub,
            ptz,
        })
    }

    fn media_url(&self) -> Result<&str, Error> {
        self.services.media.as_deref().ok_or_else(|| {
            Error::NotSupported(format!(
                "{}: the device has no media service",
                self.services.device
            ))
        })
    }
}

/// Device clock minus local clock, in whole seconds (anonymous call, as the standard allows).
fn system_time_offset(client: &SoapClient, url: &str) -> Result<i64, Error> {
    let action = ns::device("GetSystemDateAndTime");
    let call = Call {
        anonymous: true,
        ..Call::new(url, &action, "<tds:GetSystemDateAndTime/>")
    };
    let r = client.call(&call)?;
    let device = parse_utc_date_time(&r).ok_or_else(|| Error::Unexpected {
        url: url.to_string(),
        action: "GetSystemDateAndTime".into(),
        detail: "no UTCDateTime".into(),
    })?;
    Ok(device.as_second() - jiff::Timestamp::now().as_second())
}

fn parse_utc_date_time(r: &Element) -> Option<jiff::Timestamp> {
    let utc = r.find("UTCDateTime")?;
    let n = |path: &[&str]| -> Option<i64> { utc.path_text(path)?.parse().ok() };
    let date = jiff::civil::DateTime::new(
        i16::try_from(n(&["Date", "Year"])?).ok()?,
        i8::try_from(n(&["Date", "Month"])?).ok()?,
        i8::try_from(n(&["Date", "Day"])?).ok()?,
        i8::try_from(n(&["Time", "Hour"])?).ok()?,
        i8::try_from(n(&["Time", "Minute"])?).ok()?,
        i8::try_from(n(&["Time", "Second"])?.min(59)).ok()?,
        0,
    )
    .ok()?;
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

fn capabilities(client: &SoapClient, url: &str) -> Result<Services, Error> {
    let body = "<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>";
    let r = client.call(&Call::new(url, &ns::device("GetCapabilities"), body))?;
    let caps = r.child("Capabilities").ok_or_else(|| Error::Unexpected {
        url: url.to_string(),
        action: "GetCapabilities".into(),
        detail: "no Capabilities".into(),
    })?;
    let xaddr = |name: &str| caps.path_text(&[name, "XAddr"]);
    Ok(Services {
        device: url.to_string(),
        media: xaddr("Media"),
        ptz: xaddr("PTZ"),
        events: xaddr("Events"),
    })
}

fn services(client: &SoapClient, url: &str) -> Result<Services, Error> {
    let body =
        "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>";
    let r = client.call(&Call::new(url, &ns::device("GetServices"), body))?;
    let mut services = Services {
        device: url.to_string(),
        ..Services::default()
    };
    for s in r.children_named("Service") {
        let (Some(namespace), Some(xaddr)) = (s.path_text(&["Namespace"]), s.path_text(&["XAddr"]))
        else {
            continue;
        };
        match namespace.as_str() {
            "http://www.onvif.org/ver10/media/wsdl" => services.media = Some(xaddr),
            "http://www.onvif.org/ver20/ptz/wsdl" => services.ptz = Some(xaddr),
            "http://www.onvif.org/ver10/events/wsdl" => services.events = Some(xaddr),
            _ => {}
        }
    }
    Ok(services)
}

/// Cameras report service URLs with the address they believe they have, which is wrong behind NAT or port
/// forwarding. When a service's host differs from the host the device was reached at, the service is
/// called at the device's host and port instead (path and query kept).
fn rebase_services(device: &Url, mut services: Services) -> Services {
    let rebase = |service: &mut Option<String>| {
        let Some(s) = service.as_deref() else { return };
        let Ok(mut u) = Url::parse(s) else {
            warn!(service = s, "ignoring an unparsable service URL");
            *service = None;
            return;
        };
        if u.host_str() == device.host_str() {
            return;
        }
        let ok = u.set_scheme(device.scheme()).is_ok()
            && u.set_host(device.host_str()).is_ok()
            && u.set_port(device.port()).is_ok();
        if ok {
            debug!(from = s, to = %u, "service URL moved onto the device's address");
            *service = Some(u.to_string());
        }
    };
    rebase(&mut services.media);
    rebase(&mut services.ptz);
    rebase(&mut services.events);
    services
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(doc: &str) -> Element {
        crate::soap::body_element(&xml::parse(doc).unwrap()).unwrap()
    }

    #[test]
    fn hikvision_capabilities_and_clock() {
        let caps = body(
            r#"<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="x" xmlns:tt="y"><env:Body>
            <tds:GetCapabilitiesResponse><tds:Capabilities>
            <tt:Analytics><tt:XAddr>http://192.168.1.64/onvif/Analytics</tt:XAddr></tt:Analytics>
            <tt:Device><tt:XAddr>http://192.168.1.64/onvif/device_service</tt:XAddr></tt:Device>
            <tt:Events><tt:XAddr>http://192.168.1.64/onvif/Events</tt:XAddr><tt:WSPullPointSupport>true</tt:WSPullPointSupport></tt:Events>
            <tt:Media><tt:XAddr>http://192.168.1.64/onvif/Media</tt:XAddr></tt:Media>
            <tt:PTZ><tt:XAddr>http://192.168.1.64/onvif/PTZ</tt:XAddr></tt:PTZ>
            </tds:Capabilities></tds:GetCapabilitiesResponse></env:Body></env:Envelope>"#,
        );
        let c = caps.child("Capabilities").unwrap();
        assert_eq!(
            c.path_text(&["Events", "XAddr"]).as_deref(),
            Some("http://192.168.1.64/onvif/Events")
        );

        let clock = body(
            r#"<s:Envelope xmlns:s="a"><s:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>
            <tt:DateTimeType>NTP</tt:DateTimeType><tt:UTCDateTime><tt:Time><tt:Hour>7</tt:Hour><tt:Minute>50</tt:Minute><tt:Second>45</tt:Second></tt:Time>
            <tt:Date><tt:Year>2010</tt:Year><tt:Month>9</tt:Month><tt:Day>16</tt:Day></tt:Date></tt:UTCDateTime>
            </tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></s:Body></s:Envelope>"#,
        );
        assert_eq!(
            parse_utc_date_time(&clock).unwrap().to_string(),
            "2010-09-16T07:50:45Z"
        );
    }

    #[test]
    fn service_urls_are_moved_onto_the_reached_address() {
        let device = Url::parse("http://203.0.113.5:8081/onvif/device_service").unwrap();
        let services = Services {
            device: device.to_string(),
            media: Some("http://192.168.1.64/onvif/Media".into()),
            ptz: Some("http://203.0.113.5:8081/onvif/PTZ".into()),
            events: Some("http://192.168.1.64:80/onvif/Events?x=1".into()),
        };
        let s = rebase_services(&device, services);
        assert_eq!(
            s.media.as_deref(),
            Some("http://203.0.113.5:8081/onvif/Media")
        );
        assert_eq!(s.ptz.as_deref(), Some("http://203.0.113.5:8081/onvif/PTZ"));
        assert_eq!(
            s.events.as_deref(),
            Some("http://203.0.113.5:8081/onvif/Events?x=1")
        );
    }

    #[test]
    fn bad_urls_are_refused_before_any_call() {
        for url in ["ftp://x/", "not a url", "http://"] {
            let e = Device::connect(url, None, &ClientOptions::default()).unwrap_err();
            assert!(matches!(e, Error::InvalidAddress { .. }), "{url}: {e}");
        }
    }
}
