//! vigil-onvif against a real third-party ONVIF device: ipycam 1.3.0 (PyPI), a Python virtual camera with
//! WS-Discovery, ONVIF Device/Media/PTZ services, WS-Security and a native RTSP server, started on loopback
//! by `tests/ipycam_camera.py` and fed the shared footage (`../shared/footage/intel/one-by-one-person-detection.mp4`, a static indoor camera, a
//! generated pattern when absent). No mocks: every answer comes from ipycam, every frame from FFmpeg.
//!
//! Needs `$VIGIL_PY` with ipycam 1.3.0, and ffmpeg/ffprobe (`source dev/install-deps`); the tests that
//! need them print `SKIP: ...` and pass without. Multicast discovery runs in a fresh user + network
//! namespace (`unshare`), where loopback is the only interface and multicast can be switched on for it;
//! see `discovery.rs`. The dead-address tests need nothing and always run.

mod common;
mod dead;
mod device;
mod discovery;
mod ptz;
mod security;
