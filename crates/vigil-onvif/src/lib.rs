//! ONVIF client for Vigil: find cameras, read what they stream, move them, and read their events.
//!
//! - [`discover`]: WS-Discovery `Probe` over UDP multicast (239.255.255.250:3702) and/or unicast, answers
//!   collected until a timeout and deduplicated by endpoint reference.
//! - [`Device`]: the Device service (clock, identity, service URLs) and the Media service (ver10:
//!   profiles, RTSP stream URIs); [`Device::probe`] (or [`probe`]) reports identity, profiles and the
//!   chosen main (highest resolution) and sub (lowest resolution) streams in one call.
//! - [`Ptz`]: continuous, relative and absolute moves, stop, home, presets, status.
//! - [`PullPointSubscription`]: `CreatePullPointSubscription` + `PullMessages`, notifications read into
//!   [`Event`]s (motion and tamper recognised from the topic).
//! - [`PtzLink`]: a camera's PTZ as the running system shares it (connected on first use and again after
//!   a failure; a person's moves hold automatic movers back).
//! - `test_camera` (feature `test-camera`): the ipycam virtual camera on loopback, for tests of any crate.
//!
//! With [`Credentials`], every call carries a WS-Security `UsernameToken` with a `PasswordDigest`
//! (`Base64(SHA-1(nonce + created + password))`), timestamped in the device's clock; without, calls are
//! plain. HTTP Digest authentication is not implemented.
//!
//! All calls are blocking (ureq) and bounded by [`ClientOptions::timeout`]; [`Device`], [`Ptz`] and
//! [`PullPointSubscription`] are `Send + Sync`, so async code can move them into `spawn_blocking`. Answers
//! are read by local element names, so any namespace prefix (or none, or an undeclared one) works.
//!
//! Tested against ipycam 1.3.0 (a Python virtual camera): discovery, device information, capabilities and
//! services, profiles, stream URIs, PTZ (continuous, relative, absolute moves, stop, home, status, presets:
//! get, set, go to) and WS-Security. ipycam has no event service and no `RemovePreset`, so events and preset
//! removal are checked on recorded-shape answers only (see `docs/onvif.md`).

#![warn(missing_docs)]

mod device;
mod discovery;
mod error;
mod events;
mod link;
mod media;
mod ptz;
mod soap;
mod xml;

#[cfg(feature = "test-camera")]
pub mod test_camera;

pub use device::{ChosenStream, Device, DeviceInfo, DeviceSummary, ProfileStream, Services, probe};
pub use discovery::{
    DiscoveredDevice, DiscoveryOptions, MULTICAST_ADDR, discover, resolve_probe_address,
};
pub use error::Error;
pub use events::{Event, EventKind, PullPointOptions, PullPointSubscription};
pub use link::PtzLink;
pub use media::{Profile, VideoEncoder, choose_streams};
pub use ptz::{Preset, Ptz, PtzStatus, PtzVector};
pub use soap::{ClientOptions, Credentials, password_digest};

/// SOAP action URIs of the services used.
mod ns {
    /// Device service (ver10) action.
    pub fn device(op: &str) -> String {
        format!("http://www.onvif.org/ver10/device/wsdl/{op}")
    }

    /// Media service (ver10) action.
    pub fn media(op: &str) -> String {
        format!("http://www.onvif.org/ver10/media/wsdl/{op}")
    }

    /// PTZ service (ver20) action.
    pub fn ptz(op: &str) -> String {
        format!("http://www.onvif.org/ver20/ptz/wsdl/{op}")
    }

    /// Event service (ver10) action; `op` includes the port type, e.g. `EventPortType/...Request`.
    pub fn events(op: &str) -> String {
        format!("http://www.onvif.org/ver10/events/wsdl/{op}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_are_send_and_sync() {
        assert_send_sync::<Device>();
        assert_send_sync::<Ptz>();
        assert_send_sync::<PtzLink>();
        assert_send_sync::<PullPointSubscription>();
        assert_send_sync::<Error>();
    }
}
