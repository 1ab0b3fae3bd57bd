//! RTSP ingest against a real RTSP server (GStreamer, started by the tests on loopback) serving the shared
//! footage. Tests skip with a message when `../shared` or GStreamer is absent.

mod bframes;
mod common;
mod failures;
mod streams;
mod timeline;
