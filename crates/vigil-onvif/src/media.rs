//! Media service (ver10) answers: media profiles, and the choice of main and sub stream among them.

use serde::Serialize;

use crate::xml::Element;

/// One media profile (`GetProfiles`): a video source, encoder and optional PTZ configuration bundled
/// under a token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// Profile token, used in `GetStreamUri` and PTZ calls.
    pub token: String,
    /// Human-readable name, e.g. `mainStream`.
    pub name: String,
    /// The video encoder configuration, if the profile has one.
    pub video: Option<VideoEncoder>,
    /// Token of the PTZ configuration, if the profile has one (PTZ calls need such a profile).
    pub ptz_configuration: Option<String>,
    /// Token of the video source (the physical sensor) the profile encodes.
    pub video_source: Option<String>,
}

/// A profile's video encoder settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoEncoder {
    /// Codec as the device names it: `H264`, `H265`, `JPEG`, `MPEG4`.
    pub encoding: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frame rate limit, when given.
    pub fps: Option<f64>,
    /// Bit rate limit in kbit/s, when given.
    pub bitrate_kbps: Option<u32>,
}

impl VideoEncoder {
    fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// Reads the profiles of a `GetProfilesResponse`.
pub(crate) fn parse_profiles(response: &Element) -> Vec<Profile> {
    response
        .children_named("Profiles")
        .map(parse_profile)
        .collect()
}

fn parse_profile(p: &Element) -> Profile {
    let video = p.child("VideoEncoderConfiguration").and_then(|v| {
        let width = v.path_text(&["Resolution", "Width"])?.parse().ok()?;
        let height = v.path_text(&["Resolution", "Height"])?.parse().ok()?;
        Some(VideoEncoder {
            encoding: v.path_text(&["Encoding"]).unwrap_or_default(),
            width,
            height,
            fps: v
                .path_text(&["RateControl", "FrameRateLimit"])
                .and_then(|f| f.parse::<f64>().ok())
                .filter(|f| f.is_finite() && *f > 0.0),
            bitrate_kbps: v
                .path_text(&["RateControl", "BitrateLimit"])
                .and_then(|b| b.parse().ok()),
        })
    });
    Profile {
        token: p.attr("token").unwrap_or_default().to_string(),
        name: p.path_text(&["Name"]).unwrap_or_default(),
        video,
        ptz_configuration: p
            .child("PTZConfiguration")
            .map(|c| c.attr("token").unwrap_or_default().to_string()),
        video_source: p.path_text(&["VideoSourceConfiguration", "SourceToken"]),
    }
}

/// Indexes of the main stream (highest resolution, then highest frame rate, then first) and the sub
/// stream (lowest resolution, only when it is smaller than the main one) among `profiles`. Profiles
/// without video are never chosen.
pub fn choose_streams(profiles: &[Profile]) -> (Option<usize>, Option<usize>) {
    let mut main: Option<(usize, &VideoEncoder)> = None;
    let mut sub: Option<(usize, &VideoEncoder)> = None;
    for (i, p) in profiles.iter().enumerate() {
        let Some(v) = &p.video else { continue };
        let fps = v.fps.unwrap_or(0.0);
        if main.is_none_or(|(_, m)| {
            v.pixels() > m.pixels() || (v.pixels() == m.pixels() && fps > m.fps.unwrap_or(0.0))
        }) {
            main = Some((i, v));
        }
        if sub.is_none_or(|(_, s)| v.pixels() < s.pixels()) {
            sub = Some((i, v));
        }
    }
    let main_pixels = main.map(|(_, m)| m.pixels());
    let sub = sub.filter(|(_, s)| Some(s.pixels()) < main_pixels);
    (main.map(|(i, _)| i), sub.map(|(i, _)| i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml;

    /// Shaped like a Hikvision `GetProfiles` answer: `trt:`/`tt:` prefixes, three profiles.
    pub(crate) const HIKVISION_PROFILES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:trt="http://www.onvif.org/ver10/media/wsdl">
<env:Body><trt:GetProfilesResponse>
<trt:Profiles token="Profile_1" fixed="true"><tt:Name>mainStream</tt:Name>
 <tt:VideoSourceConfiguration token="VideoSourceToken"><tt:Name>VideoSourceConfig</tt:Name><tt:UseCount>3</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken><tt:Bounds x="0" y="0" width="2560" height="1440"></tt:Bounds></tt:VideoSourceConfiguration>
 <tt:VideoEncoderConfiguration token="VideoEncoderToken_1"><tt:Name>VideoEncoder_1</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>
  <tt:Resolution><tt:Width>2560</tt:Width><tt:Height>1440</tt:Height></tt:Resolution><tt:Quality>3.000000</tt:Quality>
  <tt:RateControl><tt:FrameRateLimit>25</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>4096</tt:BitrateLimit></tt:RateControl>
  <tt:H264><tt:GovLength>50</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264><tt:SessionTimeout>PT5S</tt:SessionTimeout></tt:VideoEncoderConfiguration>
 <tt:PTZConfiguration token="PTZToken"><tt:Name>PTZ</tt:Name><tt:NodeToken>PTZNODETOKEN</tt:NodeToken></tt:PTZConfiguration>
</trt:Profiles>
<trt:Profiles token="Profile_2" fixed="true"><tt:Name>subStream</tt:Name>
 <tt:VideoEncoderConfiguration token="VideoEncoderToken_2"><tt:Name>VideoEncoder_2</tt:Name><tt:Encoding>H264</tt:Encoding>
  <tt:Resolution><tt:Width>640</tt:Width><tt:Height>360</tt:Height></tt:Resolution>
  <tt:RateControl><tt:FrameRateLimit>15</tt:FrameRateLimit><tt:BitrateLimit>512</tt:BitrateLimit></tt:RateControl></tt:VideoEncoderConfiguration>
</trt:Profiles>
<trt:Profiles token="Profile_3" fixed="true"><tt:Name>thirdStream</tt:Name>
 <tt:VideoEncoderConfiguration token="VideoEncoderToken_3"><tt:Encoding>H264</tt:Encoding>
  <tt:Resolution><tt:Width>1280</tt:Width><tt:Height>720</tt:Height></tt:Resolution></tt:VideoEncoderConfiguration>
</trt:Profiles>
<trt:Profiles token="Profile_Audio"><tt:Name>audioOnly</tt:Name></trt:Profiles>
</trt:GetProfilesResponse></env:Body></env:Envelope>"#;

    fn response(doc: &str) -> Element {
        xml::parse(doc)
            .unwrap()
            .path(&["Body", "GetProfilesResponse"])
            .unwrap()
            .clone()
    }

    #[test]
    fn hikvision_profiles() {
        let profiles = parse_profiles(&response(HIKVISION_PROFILES));
        assert_eq!(profiles.len(), 4);
        let main = &profiles[0];
        assert_eq!(
            (main.token.as_str(), main.name.as_str()),
            ("Profile_1", "mainStream")
        );
        let v = main.video.as_ref().unwrap();
        assert_eq!(
            (
                v.encoding.as_str(),
                v.width,
                v.height,
                v.fps,
                v.bitrate_kbps
            ),
            ("H264", 2560, 1440, Some(25.0), Some(4096))
        );
        assert_eq!(main.ptz_configuration.as_deref(), Some("PTZToken"));
        assert_eq!(main.video_source.as_deref(), Some("VideoSource_1"));
        assert_eq!(profiles[2].video.as_ref().unwrap().fps, None);
        assert!(profiles[3].video.is_none());
        assert_eq!(choose_streams(&profiles), (Some(0), Some(1)));
    }

    /// Shaped like an Axis answer: default namespace, no prefixes, `Profiles` without PTZ.
    #[test]
    fn axis_profiles_without_prefixes() {
        let doc = r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope"><Body>
          <GetProfilesResponse xmlns="http://www.onvif.org/ver10/media/wsdl">
          <Profiles token="profile_1_h264" fixed="true"><Name xmlns="http://www.onvif.org/ver10/schema">profile_1 h264</Name>
           <VideoEncoderConfiguration xmlns="http://www.onvif.org/ver10/schema" token="default_1_h264"><Encoding>H264</Encoding>
           <Resolution><Width>1920</Width><Height>1080</Height></Resolution><RateControl><FrameRateLimit>30</FrameRateLimit></RateControl></VideoEncoderConfiguration></Profiles>
          <Profiles token="profile_1_jpeg"><Name xmlns="http://www.onvif.org/ver10/schema">profile_1 jpeg</Name>
           <VideoEncoderConfiguration xmlns="http://www.onvif.org/ver10/schema" token="default_1_jpeg"><Encoding>JPEG</Encoding>
           <Resolution><Width>1920</Width><Height>1080</Height></Resolution><RateControl><FrameRateLimit>30</FrameRateLimit></RateControl></VideoEncoderConfiguration></Profiles>
          </GetProfilesResponse></Body></Envelope>"#;
        let profiles = parse_profiles(&response(doc));
        assert_eq!(profiles.len(), 2);
        assert_eq!(profiles[0].name, "profile_1 h264");
        assert!(profiles[0].ptz_configuration.is_none());
        // Same resolution and rate: the first is main, and there is no smaller sub stream.
        assert_eq!(choose_streams(&profiles), (Some(0), None));
    }

    #[test]
    fn choice_prefers_higher_rate_on_equal_resolution_and_skips_videoless() {
        let p = |token: &str, w, h, fps| Profile {
            token: token.into(),
            name: token.into(),
            video: Some(VideoEncoder {
                encoding: "H264".into(),
                width: w,
                height: h,
                fps,
                bitrate_kbps: None,
            }),
            ptz_configuration: None,
            video_source: None,
        };
        let none = Profile {
            video: None,
            ..p("audio", 1, 1, None)
        };
        let profiles = vec![
            none,
            p("a", 1920, 1080, Some(15.0)),
            p("b", 1920, 1080, Some(30.0)),
            p("c", 352, 288, None),
        ];
        assert_eq!(choose_streams(&profiles), (Some(2), Some(3)));
        assert_eq!(choose_streams(&[]), (None, None));
    }
}
