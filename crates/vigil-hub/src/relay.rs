//! What stays on site, fetched through the hub on demand by request-reply: a camera's live picture, its
//! recorded ranges and clips, and the site's configuration (pushed with versions and rollback).
//!
//! PLACEHOLDER API (being implemented): the signatures are fixed, the bodies answer "not available".

use crate::HubError;
use crate::db::HubDb;
use serde::Serialize;
use vigil_uplink::wire::RecordedRange;

/// A configuration version pushed to a site.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigVersion {
    /// The site.
    pub site: String,
    /// The version (`vigil_uplink::wire::config_version` of the text).
    pub version: String,
    /// Who pushed it (a hub user; `site` for the text found on the site).
    pub pushed_by: String,
    /// When (unix ms).
    pub pushed_ms: i64,
    /// The site took it.
    pub applied: bool,
    /// The site's answer when it did not.
    pub message: Option<String>,
}

fn not_yet() -> HubError {
    HubError::Nats("not available yet".into())
}

/// Is the site there? Its version.
pub async fn ping(_client: &async_nats::Client, _site: &str) -> Result<String, HubError> {
    Err(not_yet())
}

/// The latest picture of a camera (JPEG).
pub async fn live_picture(
    _client: &async_nats::Client,
    _site: &str,
    _camera: &str,
) -> Result<Vec<u8>, HubError> {
    Err(not_yet())
}

/// The recorded ranges of a camera over a range.
pub async fn recordings(
    _client: &async_nats::Client,
    _site: &str,
    _camera: &str,
    _from_ms: i64,
    _to_ms: i64,
) -> Result<Vec<RecordedRange>, HubError> {
    Err(not_yet())
}

/// A clip of recorded video (MP4 bytes), fetched in parts.
pub async fn clip(
    _client: &async_nats::Client,
    _site: &str,
    _camera: &str,
    _from_ms: i64,
    _to_ms: i64,
) -> Result<Vec<u8>, HubError> {
    Err(not_yet())
}

/// The site's configuration text and its version.
pub async fn config_get(
    _client: &async_nats::Client,
    _site: &str,
) -> Result<(String, String), HubError> {
    Err(not_yet())
}

/// Pushes a new configuration to a site (kept as a version in PostgreSQL, audited by the caller).
pub async fn config_push(
    _db: &HubDb,
    _client: &async_nats::Client,
    _site: &str,
    _text: &str,
    _actor: &str,
) -> Result<ConfigVersion, HubError> {
    Err(not_yet())
}

/// The versions pushed to a site, newest first.
pub async fn config_versions(_db: &HubDb, _site: &str) -> Result<Vec<ConfigVersion>, HubError> {
    Err(not_yet())
}

/// Pushes an earlier version again.
pub async fn config_rollback(
    _db: &HubDb,
    _client: &async_nats::Client,
    _site: &str,
    _version: &str,
    _actor: &str,
) -> Result<ConfigVersion, HubError> {
    Err(not_yet())
}
