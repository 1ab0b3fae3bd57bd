//! Vigil's HTTPS server: the JSON API of `/api/*` (described at `/api/openapi.json`), `/metrics`, and
//! the security around them — accounts with argon2id passwords, session cookies with CSRF tokens,
//! API tokens with scopes, TOTP MFA, roles with per-camera scopes, login rate limiting and lockout,
//! an audit log HMAC-chained under a key outside the database ([`keys`]) and anchored outside it
//! ([`anchor`]), and export jobs kept across restarts ([`exports`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), vigil_server::ServerError> {
//! use std::sync::Arc;
//! use vigil_server::{AppContext, Policy, Security, Server, ServerOptions, StatusSource, SystemStatus};
//! struct NoCameras;
//! impl StatusSource for NoCameras {
//!     fn status(&self) -> SystemStatus { SystemStatus::default() }
//! }
//! let data = std::path::Path::new("/var/lib/vigil");
//! let security = Arc::new(Security::open_in(data, Policy::default())?);
//! if let Some(token) = security.new_setup_token()? {
//!     println!("setup token: {token}");
//! }
//! let ctx = Arc::new(AppContext::new(security, None, Arc::new(NoCameras), data));
//! let options = ServerOptions::from_config(&Default::default(), data)?;
//! let server = Server::start(ctx, options).await?;
//! println!("serving on {}", server.url());
//! # Ok(()) }
//! ```
//!
//! Extension points: [`LiveSource`] (live video over WebSocket; [`LiveStreams`] serves the cameras'
//! live hubs), [`EventFeed`] (events pushed to browsers as they happen, from the event bus) and
//! [`Assets`] (the web UI; [`WebAssets`] is `web/`, embedded) are set on [`AppContext`]
//! before starting; the routes themselves, with their permissions, are the table in
//! [`routes::ROUTES`].

pub mod anchor;
pub mod approvals;
pub mod audit;
mod audit_verify;
pub mod auth;
pub mod cases;
pub mod config_edit;
mod conn;
mod context;
mod error;
pub mod event_feed;
pub mod exports;
pub mod fsmode;
pub mod integrity_checks;
pub mod jobs;
pub mod keys;
pub mod layouts;
pub mod live;
pub mod openapi;
pub mod origin;
pub mod overlay;
pub mod perms;
pub mod review;
pub mod routes;
pub mod search;
mod server;
pub mod tls;
pub mod web;

pub use auth::{Policy, Security};
pub use conn::ConnLimits;
pub use context::{
    AppContext, AppState, Asset, Assets, CameraHealth, ConsumerHealth, CrowdHealth, DetectorHealth,
    FaceEnroller, LiveSource, MqttHealth, RECHECK_EVERY, ResponseFuture, StatusSource,
    StillAllowed, StoreStatus, SystemStatus, Thumbnailer,
};
pub use error::{ApiError, ServerError};
pub use event_feed::EventFeed;
pub use live::{CLOSE_ACCESS_ENDED, LiveStreams};
pub use routes::router;
pub use server::{Server, ServerOptions};
pub use web::WebAssets;
