//! Device information, services, profiles and stream URIs, proven by decoding the streams.

use vigil_onvif::{ClientOptions, Device, Error, PullPointOptions};

use crate::common::{Camera, decode_frames, ffprobe, python};

#[test]
fn information_profiles_and_streams_that_decode() {
    let Some(py) = python() else { return };
    let camera = Camera::start(&py, None);
    let device =
        Device::connect(&camera.device_url, None, &ClientOptions::default()).expect("connect");

    let info = device.information().expect("GetDeviceInformation");
    assert_eq!(info.manufacturer, "PythonCam");
    assert_eq!(info.model, "VirtualCam-1");
    assert_eq!(info.firmware_version, "1.3.0");
    assert_eq!(info.serial_number, "PY-000001");

    let services = device.services();
    assert!(
        services
            .media
            .as_deref()
            .is_some_and(|m| m.ends_with("/onvif/media_service"))
    );
    assert!(
        services
            .ptz
            .as_deref()
            .is_some_and(|p| p.ends_with("/onvif/ptz_service"))
    );
    assert_eq!(services.events, None, "ipycam has no event service");

    let summary = device.probe().expect("probe");
    assert_eq!(summary.address, camera.device_url);
    assert!(summary.ptz);
    assert!(!summary.events);
    let profiles: Vec<_> = summary
        .profiles
        .iter()
        .map(|p| {
            let v = p.profile.video.as_ref().expect("video");
            (
                p.profile.token.as_str(),
                v.encoding.as_str(),
                v.width,
                v.height,
                v.fps,
            )
        })
        .collect();
    assert_eq!(
        profiles,
        [
            ("Profile_Main", "H264", 640, 360, Some(10.0)),
            ("Profile_Sub", "H264", 320, 180, Some(10.0))
        ]
    );
    let main = summary.main.as_ref().expect("main stream");
    let sub = summary.sub.as_ref().expect("sub stream");
    assert_eq!(main.profile, "Profile_Main");
    assert_eq!(sub.profile, "Profile_Sub");
    assert_eq!(
        main.uri,
        format!("rtsp://127.0.0.1:{}/video_main", camera.rtsp_port)
    );
    assert_eq!(
        sub.uri,
        format!("rtsp://127.0.0.1:{}/video_sub", camera.rtsp_port)
    );

    // The URIs are real: FFmpeg finds H.264 at the advertised sizes and decodes frames from them.
    assert_eq!(ffprobe(&main.uri), ("h264".to_string(), 640, 360));
    assert_eq!(ffprobe(&sub.uri), ("h264".to_string(), 320, 180));
    assert_eq!(decode_frames(&main.uri, 5), 5);

    // No event service: a clear "not supported", without a network call.
    let err = device.pull_point(&PullPointOptions::default()).unwrap_err();
    assert!(matches!(err, Error::NotSupported(_)), "{err}");
    assert!(err.to_string().contains("no event service"), "{err}");
}
