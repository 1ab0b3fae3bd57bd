//! The PTZ service (ver20): continuous, relative and absolute moves, stop, home, presets and status, in
//! the device's default (generic, normalised) spaces: pan and tilt -1..1, zoom 0..1 for positions and
//! -1..1 for speeds and translations.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::Device;
use crate::soap::{Call, ClientOptions, Credentials, SoapClient};
use crate::xml::{self, Element};
use crate::{Error, ns};

/// Pan, tilt and zoom values for a move; a part left `None` is left out of the request (and so not
/// moved, for absolute and relative moves).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PtzVector {
    /// Pan and tilt, together (ONVIF moves them as one vector).
    pub pan_tilt: Option<(f64, f64)>,
    /// Zoom.
    pub zoom: Option<f64>,
}

impl PtzVector {
    /// All three parts.
    pub fn new(pan: f64, tilt: f64, zoom: f64) -> Self {
        Self {
            pan_tilt: Some((pan, tilt)),
            zoom: Some(zoom),
        }
    }

    /// Pan and tilt only.
    pub fn pan_tilt(pan: f64, tilt: f64) -> Self {
        Self {
            pan_tilt: Some((pan, tilt)),
            zoom: None,
        }
    }

    /// Zoom only.
    pub fn zoom(zoom: f64) -> Self {
        Self {
            pan_tilt: None,
            zoom: Some(zoom),
        }
    }

    /// `<tt:PanTilt x y/><tt:Zoom x/>` for the parts that are set; refuses non-finite numbers.
    fn to_xml(self) -> Result<String, Error> {
        let mut out = String::new();
        if let Some((x, y)) = self.pan_tilt {
            out.push_str(&format!(
                r#"<tt:PanTilt x="{}" y="{}"/>"#,
                number(x)?,
                number(y)?
            ));
        }
        if let Some(z) = self.zoom {
            out.push_str(&format!(r#"<tt:Zoom x="{}"/>"#, number(z)?));
        }
        if out.is_empty() {
            return Err(Error::InvalidArgument(
                "a PTZ move needs pan/tilt or zoom".into(),
            ));
        }
        Ok(out)
    }
}

fn number(v: f64) -> Result<String, Error> {
    if v.is_finite() {
        Ok(format!("{v}"))
    } else {
        Err(Error::InvalidArgument(format!("{v} is not a PTZ value")))
    }
}

/// A preset position (`GetPresets`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preset {
    /// Token, used to go to it.
    pub token: String,
    /// Name, as set by the user.
    pub name: String,
    /// Stored position, when the device tells it.
    pub position: Option<PtzVector>,
}

/// Where the camera points and whether it moves (`GetStatus`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PtzStatus {
    /// Current position, when reported.
    pub position: PtzVector,
    /// Pan/tilt movement state as reported (`IDLE`, `MOVING`, `UNKNOWN`), when given.
    pub pan_tilt_status: Option<String>,
    /// Zoom movement state as reported, when given.
    pub zoom_status: Option<String>,
    /// The device's time of the status, when given.
    pub utc_time: Option<String>,
    /// The device's error text, when it reports one.
    pub error: Option<String>,
}

impl PtzStatus {
    /// True when either axis reports `MOVING` (false when idle or unknown).
    pub fn is_moving(&self) -> bool {
        [&self.pan_tilt_status, &self.zoom_status].iter().any(|s| {
            s.as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("MOVING"))
        })
    }
}

/// A PTZ handle on one media profile of one device. `Clone + Send + Sync`; every call blocks for at most
/// the client timeout (use `spawn_blocking` from async code).
#[derive(Debug, Clone)]
pub struct Ptz {
    client: Arc<SoapClient>,
    url: String,
    profile: String,
}

impl Ptz {
    /// Connects to the device service at `url` and returns the PTZ handle of `profile`, or of the first
    /// profile with a PTZ configuration when `None`: all a camera's `onvif` address and credentials need.
    pub fn connect(
        url: &str,
        credentials: Option<Credentials>,
        options: &ClientOptions,
        profile: Option<&str>,
    ) -> Result<Self, Error> {
        Device::connect(url, credentials, options)?.ptz(profile)
    }

    pub(crate) fn new(client: Arc<SoapClient>, url: String, profile: String) -> Self {
        Self {
            client,
            url,
            profile,
        }
    }

    /// The PTZ service URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The media profile token the moves apply to.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// Starts moving at `velocity` (-1..1 per axis) until [`Ptz::stop`], or for `timeout` when given (the
    /// device stops by itself; not every device honours it, so call `stop` anyway).
    pub fn continuous_move(
        &self,
        velocity: PtzVector,
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        let timeout = timeout
            .map(|t| format!("<tptz:Timeout>{}</tptz:Timeout>", xs_duration(t)))
            .unwrap_or_default();
        self.call(
            "ContinuousMove",
            &format!(
                "<tptz:Velocity>{}</tptz:Velocity>{timeout}",
                velocity.to_xml()?
            ),
        )
        .map(drop)
    }

    /// Stops pan, tilt and zoom movement.
    pub fn stop(&self) -> Result<(), Error> {
        self.call(
            "Stop",
            "<tptz:PanTilt>true</tptz:PanTilt><tptz:Zoom>true</tptz:Zoom>",
        )
        .map(drop)
    }

    /// Moves by `translation` from the current position (-1..1 per axis), at `speed` when given.
    pub fn relative_move(
        &self,
        translation: PtzVector,
        speed: Option<PtzVector>,
    ) -> Result<(), Error> {
        let speed = match speed {
            Some(s) => format!("<tptz:Speed>{}</tptz:Speed>", s.to_xml()?),
            None => String::new(),
        };
        self.call(
            "RelativeMove",
            &format!(
                "<tptz:Translation>{}</tptz:Translation>{speed}",
                translation.to_xml()?
            ),
        )
        .map(drop)
    }

    /// Moves to `position` (pan, tilt -1..1; zoom 0..1), at `speed` when given.
    pub fn absolute_move(
        &self,
        position: PtzVector,
        speed: Option<PtzVector>,
    ) -> Result<(), Error> {
        let speed = match speed {
            Some(s) => format!("<tptz:Speed>{}</tptz:Speed>", s.to_xml()?),
            None => String::new(),
        };
        self.call(
            "AbsoluteMove",
            &format!(
                "<tptz:Position>{}</tptz:Position>{speed}",
                position.to_xml()?
            ),
        )
        .map(drop)
    }

    /// Goes to the home position.
    pub fn goto_home(&self) -> Result<(), Error> {
        self.call("GotoHomePosition", "").map(drop)
    }

    /// The presets of this profile.
    pub fn presets(&self) -> Result<Vec<Preset>, Error> {
        let r = self.call("GetPresets", "")?;
        Ok(parse_presets(&r))
    }

    /// Goes to the preset with token `token`.
    pub fn goto_preset(&self, token: &str) -> Result<(), Error> {
        self.call(
            "GotoPreset",
            &format!(
                "<tptz:PresetToken>{}</tptz:PresetToken>",
                xml::escape(token)
            ),
        )
        .map(drop)
    }

    /// Finds a preset by token, or else by name (ignoring case).
    pub fn find_preset(&self, token_or_name: &str) -> Result<Option<Preset>, Error> {
        let presets = self.presets()?;
        let by_token = presets.iter().position(|p| p.token == token_or_name);
        let by_name = || {
            presets
                .iter()
                .position(|p| p.name.eq_ignore_ascii_case(token_or_name))
        };
        Ok(by_token.or_else(by_name).map(|i| presets[i].clone()))
    }

    /// Saves the current position as a preset named `name` (overwriting the preset `token` when given) and
    /// returns its token.
    pub fn set_preset(&self, name: &str, token: Option<&str>) -> Result<String, Error> {
        if name.trim().is_empty() {
            return Err(Error::InvalidArgument("a preset needs a name".into()));
        }
        let token_xml = token
            .map(|t| format!("<tptz:PresetToken>{}</tptz:PresetToken>", xml::escape(t)))
            .unwrap_or_default();
        let r = self.call(
            "SetPreset",
            &format!(
                "<tptz:PresetName>{}</tptz:PresetName>{token_xml}",
                xml::escape(name)
            ),
        )?;
        r.path_text(&["PresetToken"])
            .ok_or_else(|| Error::Unexpected {
                url: self.url.clone(),
                action: "SetPreset".into(),
                detail: "no PresetToken in the answer".into(),
            })
    }

    /// Deletes the preset with token `token`.
    pub fn remove_preset(&self, token: &str) -> Result<(), Error> {
        self.call(
            "RemovePreset",
            &format!(
                "<tptz:PresetToken>{}</tptz:PresetToken>",
                xml::escape(token)
            ),
        )
        .map(drop)
    }

    /// Current position and movement state.
    pub fn status(&self) -> Result<PtzStatus, Error> {
        let r = self.call("GetStatus", "")?;
        let status = r.child("PTZStatus").ok_or_else(|| Error::Unexpected {
            url: self.url.clone(),
            action: "GetStatus".into(),
            detail: "no PTZStatus in the answer".into(),
        })?;
        Ok(PtzStatus {
            position: status
                .child("Position")
                .map(parse_vector)
                .unwrap_or_default(),
            pan_tilt_status: status
                .path_text(&["MoveStatus", "PanTilt"])
                .filter(|s| known_state(s)),
            zoom_status: status
                .path_text(&["MoveStatus", "Zoom"])
                .filter(|s| known_state(s)),
            utc_time: status.path_text(&["UtcTime"]).filter(|s| !s.contains("{{")),
            error: status.path_text(&["Error"]),
        })
    }

    /// `<tptz:{op}><tptz:ProfileToken>..</tptz:ProfileToken>{inner}</tptz:{op}>` to the PTZ service.
    fn call(&self, op: &str, inner: &str) -> Result<Element, Error> {
        let body = format!(
            "<tptz:{op}><tptz:ProfileToken>{}</tptz:ProfileToken>{inner}</tptz:{op}>",
            xml::escape(&self.profile)
        );
        self.client.call(&Call::new(&self.url, &ns::ptz(op), &body))
    }
}

/// Only the ONVIF move states (ipycam leaves a template placeholder there).
fn known_state(s: &str) -> bool {
    ["IDLE", "MOVING", "UNKNOWN"]
        .iter()
        .any(|k| s.eq_ignore_ascii_case(k))
}

fn parse_vector(e: &Element) -> PtzVector {
    let f = |el: Option<&Element>, a: &str| {
        el.and_then(|el| el.attr(a))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let pt = e.child("PanTilt");
    PtzVector {
        pan_tilt: f(pt, "x").zip(f(pt, "y")),
        zoom: f(e.child("Zoom"), "x"),
    }
}

pub(crate) fn parse_presets(r: &Element) -> Vec<Preset> {
    r.children_named("Preset")
        .map(|p| Preset {
            token: p.attr("token").unwrap_or_default().to_string(),
            name: p.path_text(&["Name"]).unwrap_or_default(),
            position: p
                .child("PTZPosition")
                .map(parse_vector)
                .filter(|v| v.pan_tilt.is_some() || v.zoom.is_some()),
        })
        .collect()
}

/// An `xs:duration` such as `PT1.5S`.
pub(crate) fn xs_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("PT{}S", ms / 1000)
    } else {
        format!("PT{}.{:03}S", ms / 1000, ms % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_to_xml() {
        assert_eq!(
            PtzVector::new(0.5, -1.0, 0.0).to_xml().unwrap(),
            r#"<tt:PanTilt x="0.5" y="-1"/><tt:Zoom x="0"/>"#
        );
        assert_eq!(
            PtzVector::zoom(0.25).to_xml().unwrap(),
            r#"<tt:Zoom x="0.25"/>"#
        );
        assert!(PtzVector::default().to_xml().is_err());
        assert!(PtzVector::pan_tilt(f64::NAN, 0.0).to_xml().is_err());
    }

    /// Shaped like a Hikvision `GetPresets` answer (numbered tokens) and an ipycam one (undeclared
    /// `ptz:`/`tptz:` prefixes).
    #[test]
    fn presets() {
        let hik = xml::parse(
            r#"<env:Envelope xmlns:env="e" xmlns:tptz="p" xmlns:tt="t"><env:Body><tptz:GetPresetsResponse>
            <tptz:Preset token="1"><tt:Name>Gate</tt:Name><tt:PTZPosition><tt:PanTilt x="0.125" y="-0.5" space="s"/><tt:Zoom x="0.3"/></tt:PTZPosition></tptz:Preset>
            <tptz:Preset token="2"><tt:Name>preset 2</tt:Name></tptz:Preset>
            </tptz:GetPresetsResponse></env:Body></env:Envelope>"#,
        )
        .unwrap();
        let presets = parse_presets(hik.path(&["Body", "GetPresetsResponse"]).unwrap());
        assert_eq!(presets.len(), 2);
        assert_eq!(presets[0].token, "1");
        assert_eq!(presets[0].name, "Gate");
        assert_eq!(presets[0].position, Some(PtzVector::new(0.125, -0.5, 0.3)));
        assert_eq!(presets[1].position, None);

        let ipycam = xml::parse(
            r#"<s:Envelope xmlns:s="e"><s:Body><ptz:GetPresetsResponse>
            <tptz:Preset token="home"><tt:Name>Home</tt:Name><tt:PTZPosition><tt:PanTilt x="0.0" y="0.0"/><tt:Zoom x="0.0"/></tt:PTZPosition></tptz:Preset>
            </ptz:GetPresetsResponse></s:Body></s:Envelope>"#,
        )
        .unwrap();
        let presets = parse_presets(ipycam.path(&["Body", "GetPresetsResponse"]).unwrap());
        assert_eq!(presets[0].name, "Home");
    }

    #[test]
    fn durations() {
        assert_eq!(xs_duration(Duration::from_secs(2)), "PT2S");
        assert_eq!(xs_duration(Duration::from_millis(1500)), "PT1.500S");
    }

    #[test]
    fn status_states() {
        let s = PtzStatus {
            position: PtzVector::default(),
            pan_tilt_status: Some("IDLE".into()),
            zoom_status: Some("MOVING".into()),
            utc_time: None,
            error: None,
        };
        assert!(s.is_moving());
        assert!(!known_state("{{pan_tilt_status}}"));
    }
}
