//! PTZ moves change the picture; a preset brings it back. ipycam's PTZ is digital: zoom crops the frame
//! (up to 4x), pan and tilt move the crop, so pan only shows when zoomed in.

use std::time::Duration;

use vigil_onvif::{ClientOptions, Device, Error, PtzVector};

use crate::common::{Camera, FrameReader, mad, python};

/// Frames to wait after a move before looking (10 fps: one second, well above ipycam's encoder latency).
const SETTLE: u64 = 10;

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 0.02)
}

#[test]
fn moves_change_the_picture_and_a_preset_brings_it_back() {
    let Some(py) = python() else { return };
    let camera = Camera::start(&py, None);
    let device =
        Device::connect(&camera.device_url, None, &ClientOptions::default()).expect("connect");
    let ptz = device.ptz(None).expect("PTZ handle");
    assert_eq!(ptz.profile(), "Profile_Main");
    let sub = device.stream_uri("Profile_Sub").expect("sub stream URI");
    let video = FrameReader::open(&sub);

    ptz.goto_home().expect("GotoHomePosition");
    let status = ptz.status().expect("GetStatus");
    assert_eq!(status.position, PtzVector::new(0.0, 0.0, 0.0));
    let wide = video.frame_after(SETTLE);
    let wide_again = video.frame_after(5);
    // How much the scene itself changes between two looks (cars move in the footage).
    let noise = mad(&wide, &wide_again);

    // Remember the wide view as a preset.
    let token = ptz.set_preset("vigil wide", None).expect("SetPreset");
    let presets = ptz.presets().expect("GetPresets");
    let preset = presets
        .iter()
        .find(|p| p.token == token)
        .expect("new preset listed");
    assert_eq!(preset.name, "vigil wide");
    assert_eq!(preset.position, Some(PtzVector::new(0.0, 0.0, 0.0)));
    assert!(
        presets.iter().any(|p| p.token == "home"),
        "ipycam's built-in preset: {presets:?}"
    );
    assert_eq!(
        ptz.find_preset("VIGIL WIDE")
            .expect("find")
            .map(|p| p.token),
        Some(token.clone())
    );

    // Zoom in with a continuous move, then stop.
    ptz.continuous_move(PtzVector::zoom(1.0), Some(Duration::from_secs(2)))
        .expect("ContinuousMove");
    std::thread::sleep(Duration::from_millis(700));
    ptz.stop().expect("Stop");
    let zoom = ptz
        .status()
        .expect("GetStatus")
        .position
        .zoom
        .expect("zoom");
    assert!(
        (0.4..=1.0).contains(&zoom),
        "zoom after 0.7 s at full speed: {zoom}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        ptz.status().expect("GetStatus").position.zoom,
        Some(zoom),
        "Stop stopped the zoom"
    );
    let zoomed = video.frame_after(SETTLE);
    let zoom_change = mad(&wide, &zoomed);
    eprintln!("scene noise {noise:.1}, zoom change {zoom_change:.1} (mean abs grey difference)");
    assert!(
        zoom_change > 4.0 * noise && zoom_change > 8.0,
        "zoom did not change the picture: {zoom_change:.1} vs noise {noise:.1}"
    );

    // Absolute move to the left edge at half zoom, then a relative move to the right edge: the view pans.
    ptz.absolute_move(PtzVector::new(-1.0, 0.0, 0.5), None)
        .expect("AbsoluteMove");
    let status = ptz.status().expect("GetStatus");
    assert!(
        close(status.position.pan_tilt.map(|p| p.0), -1.0) && close(status.position.zoom, 0.5),
        "{status:?}"
    );
    let left = video.frame_after(SETTLE);
    ptz.relative_move(PtzVector::pan_tilt(2.0, 0.0), None)
        .expect("RelativeMove");
    let status = ptz.status().expect("GetStatus");
    assert!(
        close(status.position.pan_tilt.map(|p| p.0), 1.0),
        "{status:?}"
    );
    let right = video.frame_after(SETTLE);
    let pan_change = mad(&left, &right);
    eprintln!("pan change {pan_change:.1}");
    assert!(
        pan_change > 4.0 * noise && pan_change > 8.0,
        "pan did not change the picture: {pan_change:.1} vs noise {noise:.1}"
    );

    // Back to the preset: the position and the picture are the wide ones again.
    ptz.goto_preset(&token).expect("GotoPreset");
    assert_eq!(
        ptz.status().expect("GetStatus").position,
        PtzVector::new(0.0, 0.0, 0.0)
    );
    let back = video.frame_after(SETTLE);
    // The footage moved on meanwhile, so compare with the other views: the picture is far closer to the
    // wide view than to any zoomed or panned one.
    let to_wide = mad(&back, &wide);
    let to_moved = [&zoomed, &left, &right].map(|v| mad(&back, v));
    eprintln!(
        "back at the preset: difference to the wide view {to_wide:.1}, to the moved views {to_moved:.1?}"
    );
    assert!(
        to_moved.iter().all(|m| to_wide < m / 2.0),
        "preset did not restore the view: {to_wide:.1} vs {to_moved:.1?}"
    );

    // ipycam does not implement RemovePreset: a SOAP fault naming the operation, not a hang or a panic.
    match ptz.remove_preset(&token) {
        Err(Error::Fault { action, reason, .. }) => {
            assert_eq!(action, "RemovePreset");
            assert!(reason.contains("not supported"), "{reason}");
        }
        other => panic!("RemovePreset on ipycam: {other:?}"),
    }
    // A NaN speed never reaches the device.
    assert!(matches!(
        ptz.continuous_move(PtzVector::pan_tilt(f64::NAN, 0.0), None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(video.count() > 0);
}
