//! What stays on site, fetched through the hub on demand by request-reply: a camera's live picture, its
//! recorded ranges and clips, and the site's configuration (pushed with versions and rollback).
//!
//! Every function here asks one site over NATS (`vigil.site.<site>.req.<verb>`, the messages of
//! [`vigil_uplink::wire::Request`] and [`Reply`]); nothing is stored on the hub but the configuration
//! versions (PostgreSQL `site_configs`, through [`HubDb`]). Callers audit (the HTTP routes with the
//! hub user, `vigil hub ask` with actor `cli`).
//!
//! - **Failures are sentences.** A site that is not connected fails at once ("site S is not connected
//!   to the hub"); one that does not answer fails after the verb's timeout ([`timeout_of`]).
//! - **Clips** are prepared on the site (an MP4 the way `vigil export` makes one, privacy masks burnt
//!   in; a site still preparing after 40 s answers `preparing` and the hub asks again every second, up
//!   to [`CLIP_PREPARE_MAX`]), then fetched in parts of at most [`wire::CHUNK_BYTES`] (base64 in JSON keeps each message well
//!   under NATS's 1 MiB `max_payload`); the site deletes the file once read, or after 10 minutes.
//! - **Configuration pushes** name the version they replace (`base_version`): the latest version the hub
//!   holds for the site that the site applied. The site refuses the push when its `vigil.toml` changed
//!   since (edited on site); the hub then fetches the site's text and keeps it as a version pushed by
//!   `site`, so the next push is based on what is really there and nothing is overwritten unseen. Every
//!   push is kept with whether the site applied it and, when not, the site's message. A rollback pushes
//!   an earlier version's text again (same text, same version).
//!
//! Design notes: `docs/design/multisite.md` ("Relays"); the CLI: `docs/hub-relay.md`.

use crate::HubError;
use crate::db::HubDb;
use base64::Engine as _;
use serde::Serialize;
use std::time::Duration;
use tracing::{debug, info};
use vigil_uplink::wire::{self, RecordedRange, Reply, Request};

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

/// How long the hub waits for a site to prepare a clip that it did not finish within its first answer.
pub const CLIP_PREPARE_MAX: Duration = Duration::from_secs(600);
/// How often the hub asks again for a clip being prepared.
const CLIP_POLL: Duration = Duration::from_secs(1);

/// Who a version found on the site (not pushed by anyone at the hub) is recorded as.
pub const FOUND_ON_SITE: &str = "site";

/// How long the hub waits for a site's answer to `request`: quick questions 10 s, a live picture 20 s
/// (the site may wait for a key frame), preparing a clip 55 s (inside the minute NATS lets a site
/// answer a request, `allow_responses`), a configuration change 30 s (checked, written, applied).
pub fn timeout_of(request: &Request) -> Duration {
    Duration::from_secs(match request {
        Request::Ping
        | Request::Recordings { .. }
        | Request::ConfigGet
        | Request::Chunk { .. }
        | Request::CentralUsers { .. } => 10,
        Request::Snapshot { .. } => 20,
        Request::Clip { .. } => 55,
        Request::ConfigPut { .. } => 30,
    })
}

/// Asks `site` and waits for its answer; a [`Reply::Error`] becomes [`HubError::Site`].
async fn ask(
    client: &async_nats::Client,
    site: &str,
    request: &Request,
) -> Result<Reply, HubError> {
    wire::check_site_name(site).map_err(|e| HubError::Config(e.to_string()))?;
    let body = serde_json::to_vec(request)
        .map_err(|e| HubError::Nats(format!("encoding the request: {e}")))?;
    let timeout = timeout_of(request);
    let subject = wire::request_subject(site, request.verb());
    let req = async_nats::client::Request::new()
        .payload(body.into())
        .timeout(Some(timeout));
    let started = std::time::Instant::now();
    let msg = match tokio::time::timeout(
        timeout + Duration::from_secs(1),
        client.send_request(subject, req),
    )
    .await
    {
        Err(_) => return Err(no_answer(site, timeout)),
        Ok(Err(e)) => {
            use async_nats::client::RequestErrorKind as K;
            return Err(match e.kind() {
                K::NoResponders => HubError::Nats(format!(
                    "site {site} is not connected to the hub (nothing answers its requests)"
                )),
                K::TimedOut => no_answer(site, timeout),
                _ => HubError::Nats(format!("asking site {site}: {e}")),
            });
        }
        Ok(Ok(m)) => m,
    };
    debug!(
        site,
        verb = request.verb(),
        ms = started.elapsed().as_millis() as u64,
        "site answered"
    );
    match serde_json::from_slice::<Reply>(&msg.payload) {
        Ok(Reply::Error { message }) => Err(HubError::Site {
            site: site.to_string(),
            message,
        }),
        Ok(reply) => Ok(reply),
        Err(e) => Err(HubError::Nats(format!(
            "site {site} answered something this hub does not understand: {e}"
        ))),
    }
}

fn no_answer(site: &str, timeout: Duration) -> HubError {
    HubError::Nats(format!(
        "site {site} did not answer within {} s",
        timeout.as_secs()
    ))
}

fn unexpected(site: &str, what: &str, reply: &Reply) -> HubError {
    let kind = serde_json::to_value(reply)
        .ok()
        .and_then(|v| v.get("reply").and_then(|r| r.as_str()).map(str::to_string))
        .unwrap_or_default();
    HubError::Nats(format!(
        "site {site} answered {kind:?} when asked for {what}"
    ))
}

fn base64_of(site: &str, data: &str) -> Result<Vec<u8>, HubError> {
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| HubError::Nats(format!("site {site} sent bytes that are not base64: {e}")))
}

/// Is the site there? Its version.
pub async fn ping(client: &async_nats::Client, site: &str) -> Result<String, HubError> {
    match ask(client, site, &Request::Ping).await? {
        Reply::Pong { version, .. } => Ok(version),
        other => Err(unexpected(site, "a pong", &other)),
    }
}

/// The latest picture of a camera (JPEG).
pub async fn live_picture(
    client: &async_nats::Client,
    site: &str,
    camera: &str,
) -> Result<Vec<u8>, HubError> {
    let request = Request::Snapshot {
        camera: camera.to_string(),
    };
    match ask(client, site, &request).await? {
        Reply::Picture { jpeg_base64 } => base64_of(site, &jpeg_base64),
        other => Err(unexpected(site, "a picture", &other)),
    }
}

/// The recorded ranges of a camera over a range.
pub async fn recordings(
    client: &async_nats::Client,
    site: &str,
    camera: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<RecordedRange>, HubError> {
    let request = Request::Recordings {
        camera: camera.to_string(),
        from_ms,
        to_ms,
    };
    match ask(client, site, &request).await? {
        Reply::Recordings { ranges } => Ok(ranges),
        other => Err(unexpected(site, "recordings", &other)),
    }
}

/// A clip of recorded video (MP4 bytes), fetched in parts.
pub async fn clip(
    client: &async_nats::Client,
    site: &str,
    camera: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<u8>, HubError> {
    let request = Request::Clip {
        camera: camera.to_string(),
        from_ms,
        to_ms,
    };
    let (id, mut size) = match ask(client, site, &request).await? {
        Reply::Clip { clip, size } => (clip, Some(size)),
        Reply::Preparing { clip } => (clip, None),
        other => return Err(unexpected(site, "a clip", &other)),
    };
    let deadline = tokio::time::Instant::now() + CLIP_PREPARE_MAX;
    let mut out = Vec::new();
    let mut offset = 0u64;
    while size.is_none_or(|s| offset < s) {
        let part = Request::Chunk {
            clip: id.clone(),
            offset,
        };
        match ask(client, site, &part).await? {
            Reply::Preparing { .. } => {
                if tokio::time::Instant::now() > deadline {
                    return Err(HubError::Nats(format!(
                        "site {site} did not finish preparing clip {id} within {} minutes",
                        CLIP_PREPARE_MAX.as_secs() / 60
                    )));
                }
                tokio::time::sleep(CLIP_POLL).await;
            }
            Reply::Chunk {
                data_base64,
                next,
                size: total,
            } => {
                if total > wire::MAX_CLIP_BYTES {
                    return Err(HubError::Nats(format!(
                        "site {site} prepared a clip of {total} bytes, more than the hub takes ({})",
                        wire::MAX_CLIP_BYTES
                    )));
                }
                if size.is_some_and(|s| s != total) {
                    return Err(HubError::Nats(format!(
                        "site {site} changed the size of clip {id} while it was read"
                    )));
                }
                size = Some(total);
                let data = base64_of(site, &data_base64)?;
                if next != offset + data.len() as u64 || data.is_empty() || next > total {
                    return Err(HubError::Nats(format!(
                        "site {site} sent a part of clip {id} that does not fit (offset {offset}, {} bytes, next {next}, size {total})",
                        data.len()
                    )));
                }
                if out.is_empty() {
                    out.reserve(total as usize);
                }
                out.extend_from_slice(&data);
                offset = next;
            }
            other => return Err(unexpected(site, "a part of a clip", &other)),
        }
    }
    let size = offset;
    info!(site, camera, bytes = size, "clip fetched from the site");
    Ok(out)
}

/// The site's configuration text and its version.
pub async fn config_get(
    client: &async_nats::Client,
    site: &str,
) -> Result<(String, String), HubError> {
    match ask(client, site, &Request::ConfigGet).await? {
        Reply::Config { text, version } => Ok((text, version)),
        other => Err(unexpected(site, "its configuration", &other)),
    }
}

/// Pushes a new configuration to a site (kept as a version in PostgreSQL, audited by the caller).
/// Based on the latest version the site applied that the hub holds (see [`config_push_on`]).
pub async fn config_push(
    db: &HubDb,
    client: &async_nats::Client,
    site: &str,
    text: &str,
    actor: &str,
) -> Result<ConfigVersion, HubError> {
    config_push_on(db, client, site, text, None, actor).await
}

/// Pushes a new configuration to a site as a change of `base` (default: the latest version the hub
/// holds for the site that it applied; the site's current text is fetched and kept first when the hub
/// holds none). The push is kept as a version whether or not the site applied it; `applied` and
/// `message` say which. When the site refuses it, what the site holds now is fetched and kept (as
/// pushed by `site`) if the hub did not know it, so a push made again is based on it.
pub async fn config_push_on(
    db: &HubDb,
    client: &async_nats::Client,
    site: &str,
    text: &str,
    base: Option<&str>,
    actor: &str,
) -> Result<ConfigVersion, HubError> {
    let base = match base {
        Some(b) => b.to_string(),
        None => match db.config_latest_applied(site).await? {
            Some(v) => v,
            None => refresh_from_site(db, client, site).await?,
        },
    };
    let version = wire::config_version(text);
    let request = Request::ConfigPut {
        text: text.to_string(),
        base_version: Some(base.clone()),
    };
    let (applied, message) = match ask(client, site, &request).await {
        Ok(Reply::Config { version: v, .. }) if v == version => (true, None),
        Ok(Reply::Config { version: v, .. }) => (
            false,
            Some(format!(
                "the site answered with version {v}, not the one pushed ({version})"
            )),
        ),
        Ok(other) => return Err(unexpected(site, "a configuration", &other)),
        Err(HubError::Site { message, .. }) => (false, Some(message)),
        Err(e) => return Err(e),
    };
    let pushed = db
        .config_record(
            site,
            &version,
            text,
            Some(&base),
            actor,
            applied,
            message.as_deref(),
        )
        .await?;
    if applied {
        info!(site, version = %version, actor, "configuration pushed and applied");
    } else {
        info!(site, version = %version, actor, why = ?message, "configuration push refused by the site");
        // What is there now (an edit on site makes a push stale): keep it, so the next push is based
        // on it and a rollback can return to it.
        match refresh_from_site(db, client, site).await {
            Ok(v) => debug!(site, version = %v, "the site's current configuration is kept"),
            Err(e) => debug!(
                site,
                "the site's current configuration was not fetched: {e}"
            ),
        }
    }
    Ok(pushed)
}

/// Fetches the site's configuration and keeps it as a version found on the site, unless the latest
/// applied version the hub holds is that one already. Returns its version.
async fn refresh_from_site(
    db: &HubDb,
    client: &async_nats::Client,
    site: &str,
) -> Result<String, HubError> {
    let (text, version) = config_get(client, site).await?;
    if db.config_latest_applied(site).await?.as_deref() != Some(version.as_str()) {
        db.config_record(site, &version, &text, None, FOUND_ON_SITE, true, None)
            .await?;
    }
    Ok(version)
}

/// The versions pushed to a site, newest first.
pub async fn config_versions(db: &HubDb, site: &str) -> Result<Vec<ConfigVersion>, HubError> {
    db.config_versions(site).await
}

/// Pushes an earlier version again.
pub async fn config_rollback(
    db: &HubDb,
    client: &async_nats::Client,
    site: &str,
    version: &str,
    actor: &str,
) -> Result<ConfigVersion, HubError> {
    let Some(text) = db.config_text(site, version).await? else {
        return Err(HubError::Config(format!(
            "the hub holds no version {version:?} of site {site}'s configuration (see config versions)"
        )));
    };
    config_push(db, client, site, &text, actor).await
}

/// Sends `site` the hub's users allowed there (the site replaces its cached central users with them).
pub async fn push_central_users(
    client: &async_nats::Client,
    site: &str,
    users: Vec<vigil_core::account::CentralAccount>,
) -> Result<Reply, HubError> {
    ask(client, site, &Request::CentralUsers { users }).await
}
