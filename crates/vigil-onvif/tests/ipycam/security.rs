//! WS-Security UsernameToken (PasswordDigest) against ipycam with authentication switched on.

use vigil_onvif::{ClientOptions, Credentials, Device, PtzVector};

use crate::common::{Camera, python};

#[test]
fn digest_credentials_work_and_wrong_ones_are_refused_clearly() {
    let Some(py) = python() else { return };
    let camera = Camera::start(&py, Some(("operator", "s3cret&<pw>")));
    let options = ClientOptions::default();

    // Right user and password: everything works, including a move.
    let good = Some(Credentials::new("operator", "s3cret&<pw>"));
    let device =
        Device::connect(&camera.device_url, good, &options).expect("connect with credentials");
    assert_eq!(
        device
            .information()
            .expect("GetDeviceInformation")
            .manufacturer,
        "PythonCam"
    );
    let summary = device.probe().expect("probe with credentials");
    assert!(summary.main.is_some() && summary.sub.is_some());
    let ptz = device.ptz(None).expect("PTZ");
    ptz.absolute_move(PtzVector::zoom(0.25), None)
        .expect("AbsoluteMove with credentials");
    assert_eq!(ptz.status().expect("GetStatus").position.zoom, Some(0.25));

    // Wrong password: refused, and the error says so.
    let wrong = Some(Credentials::new("operator", "guess"));
    let err = Device::connect(&camera.device_url, wrong, &options).unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("not authorized") && text.contains("refused"),
        "{text}"
    );
    eprintln!("wrong password: {text}");

    // Wrong user name, right password: refused too.
    let err = Device::connect(
        &camera.device_url,
        Some(Credentials::new("admin", "s3cret&<pw>")),
        &options,
    )
    .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");

    // No credentials: refused, and the error asks for them.
    let err = Device::connect(&camera.device_url, None, &options).unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert!(
        err.to_string().contains("needs a user name and password"),
        "{err}"
    );
}
