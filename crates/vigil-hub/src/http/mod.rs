//! The hub's HTTPS API and web UI (`web/hub/`), started by `vigil hub --config hub.toml` on `[hub] listen`.
//!
//! The same security as the site server, reused from `vigil-server` rather than copied (the `vigil`
//! binary links both crates anyway, so depending on it costs no extra build): its self-signed TLS
//! certificate generation (`data_dir/tls/cert.pem`, rustls on ring, HTTP/2 and HTTP/1.1), argon2id
//! password hashing behind its bounded [`HashGate`], its password strength rules, TOTP enrolment and
//! code checks, its per-address login [`Limiter`], its roles and permissions ([`Role`], [`Permissions`])
//! and its JSON error answers ([`ApiError`]). What differs is where things are kept: central users and
//! sessions in the hub's PostgreSQL ([`store`]), the audit log in the hub's `audit` table.
//!
//! - Sessions: a random 256-bit id in the cookie `vigil_hub_session` (`Secure; HttpOnly;
//!   SameSite=Strict`), stored as its SHA-256; every write with a session needs the session's CSRF token
//!   in `X-CSRF-Token` (given by the login and `GET /api/me`). Idle 30 minutes or 12 hours old: ended.
//! - MFA: TOTP, required for admins (a session of an admin without MFA can only enrol it).
//! - Login limits: per address (vigil-server's limiter) and per account and address
//!   ([`auth::AccountLimiter`]): guesses in progress count as failures; after 5 failures an account is
//!   slowed down from that address (30 s, doubling, at most 15 minutes), so guesses from elsewhere never
//!   keep the real user out.
//! - Scope: a user sees the sites of their `sites` list (all when empty) and, when `cameras` is set,
//!   only those `site/camera`s; anything else is answered like something that does not exist.
//! - Audit: logins (success, failure, lockout), logouts, MFA changes, user changes and every relay
//!   request (live picture, recordings, clip, configuration) go to the `audit` table.
//!
//! Routes: [`api`] and [`auth`]; docs/hub.md.

pub mod api;
mod assets;
pub mod auth;
pub mod store;

use crate::{Hub, HubDb, HubError};
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::routing::{get, post};
use axum_server::Handle;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use store::{HubUser, Store};
use tower_http::set_header::SetResponseHeaderLayer;
use vigil_server::ApiError;
use vigil_server::auth::limit::{Limiter, LoginLimits};
use vigil_server::auth::password::HashGate;
use vigil_server::perms::{Permission, Permissions, Role};

/// The session cookie.
pub const COOKIE: &str = "vigil_hub_session";
/// The header carrying the CSRF token on writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Sessions, MFA and login protection.
#[derive(Debug, Clone)]
pub struct HubPolicy {
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// A session ends this long after login.
    pub session_max: Duration,
    /// Roles whose users must have MFA (default: admin).
    pub require_mfa: Vec<Role>,
    /// Login rate limits (vigil-server's thresholds).
    pub limits: LoginLimits,
}

impl Default for HubPolicy {
    fn default() -> Self {
        Self {
            session_idle: Duration::from_secs(30 * 60),
            session_max: Duration::from_secs(12 * 3600),
            require_mfa: vec![Role::Admin],
            limits: LoginLimits::default(),
        }
    }
}

/// What every request handler shares.
pub struct HttpState {
    /// The hub's database (sites, events, audit).
    pub db: HubDb,
    /// Users and sessions.
    pub store: Store,
    /// NATS, for relays to sites.
    pub client: async_nats::Client,
    /// The hub's data directory (snapshots).
    pub data_dir: PathBuf,
    /// Sessions, MFA and login limits.
    pub policy: HubPolicy,
    /// Per-address login limiter.
    pub ip_limiter: Arc<Limiter>,
    /// Per-account (and address) login limiter.
    pub accounts: auth::AccountLimiter,
    /// Bounds concurrent password hashing.
    pub hashing: Arc<HashGate>,
}

/// The shared state.
pub type AppState = Arc<HttpState>;

impl HttpState {
    /// Records an audit row; a failure to write it is logged, not returned (the action happened).
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: serde_json::Value,
        ip: Option<IpAddr>,
    ) {
        let ip = ip.map(|i| i.to_string());
        if let Err(e) = self
            .db
            .audit(actor, action, target, detail, ip.as_deref())
            .await
        {
            tracing::error!("audit {action} by {actor}: {e}");
        }
    }
}

/// A hub error as an API answer (500, the message kept for the log).
pub(crate) fn internal(e: HubError) -> ApiError {
    ApiError::internal(e)
}

/// The address of the client (from the connection).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// A logged-in caller (session cookie checked, CSRF token checked on writes).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: HubUser,
    /// What their role allows.
    pub perms: Permissions,
    /// SHA-256 of the session id.
    pub session_hash: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// Their role needs MFA and they have not enrolled it: only enrolment is allowed.
    pub mfa_pending: bool,
    /// Their address.
    pub ip: Option<IpAddr>,
}

impl Caller {
    /// Refuses unless the caller may do `p` (403; also while MFA enrolment is pending).
    pub fn need(&self, p: Permission) -> Result<(), ApiError> {
        if self.mfa_pending {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "mfa_enrollment_required",
                "your role requires MFA: enrol it first (POST /api/me/mfa/enroll)",
            ));
        }
        if !self.perms.has(p) {
            return Err(ApiError::forbidden(format!(
                "this needs the {} permission",
                p.name()
            )));
        }
        Ok(())
    }

    /// Whether the caller's scope includes `site`.
    pub fn sees_site(&self, site: &str) -> bool {
        self.user
            .sites
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x == site))
    }

    /// Whether the caller's scope includes `camera` of `site`.
    pub fn sees_camera(&self, site: &str, camera: &str) -> bool {
        self.sees_site(site)
            && self
                .user
                .cameras
                .as_ref()
                .is_none_or(|c| c.iter().any(|x| x.split_once('/') == Some((site, camera))))
    }

    /// 404 unless the caller sees `site`.
    pub fn site(&self, site: &str) -> Result<(), ApiError> {
        if self.sees_site(site) {
            Ok(())
        } else {
            Err(ApiError::not_found(format!("no site {site:?}")))
        }
    }

    /// 404 unless the caller sees `camera` of `site`.
    pub fn camera(&self, site: &str, camera: &str) -> Result<(), ApiError> {
        if self.sees_camera(site, camera) {
            Ok(())
        } else {
            Err(ApiError::not_found(format!("no camera {site}/{camera}")))
        }
    }

    /// The name written in the audit log.
    pub fn actor(&self) -> &str {
        &self.user.username
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let ip = ClientAddr::from_request_parts(parts, st)
            .await
            .ok()
            .and_then(|c| c.0);
        let Some(id) = vigil_server::routes::cookie(&parts.headers, COOKIE) else {
            return Err(ApiError::unauthenticated());
        };
        let hash = vigil_server::auth::sha256_hex(&id);
        let p = &st.policy;
        let row = st
            .store
            .session(
                &hash,
                p.session_idle.as_millis() as i64,
                p.session_max.as_millis() as i64,
            )
            .await
            .map_err(internal)?
            .ok_or_else(ApiError::unauthenticated)?;
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let given = parts
                .headers
                .get(CSRF_HEADER)
                .map(HeaderValue::as_bytes)
                .unwrap_or_default();
            if !vigil_server::auth::same(given, row.csrf.as_bytes()) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "missing or wrong X-CSRF-Token header",
                ));
            }
        }
        let user = row.user;
        let mfa_pending = p.require_mfa.contains(&user.role) && !user.mfa;
        Ok(Caller {
            perms: Permissions::for_role(user.role, user.playback, false),
            user,
            session_hash: row.hash,
            csrf: row.csrf,
            mfa_pending,
            ip,
        })
    }
}

/// Every route of the hub.
pub fn router(st: AppState) -> Router {
    let api = Router::new()
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .route("/api/me", get(auth::me))
        .route("/api/me/mfa/enroll", post(auth::enroll))
        .route("/api/me/mfa/confirm", post(auth::confirm))
        .route("/api/sites", get(api::sites))
        .route("/api/events", get(api::events))
        .route("/api/events/{id}", get(api::event))
        .route("/api/events/{id}/snapshot", get(api::snapshot))
        .route(
            "/api/sites/{site}/cameras/{camera}/live.jpg",
            get(api::live),
        )
        .route(
            "/api/sites/{site}/cameras/{camera}/recordings",
            get(api::recordings),
        )
        .route("/api/sites/{site}/cameras/{camera}/clip", get(api::clip))
        .route(
            "/api/sites/{site}/config",
            get(api::config_get).put(api::config_put),
        )
        .route(
            "/api/sites/{site}/config/versions",
            get(api::config_versions),
        )
        .route(
            "/api/sites/{site}/config/rollback",
            post(api::config_rollback),
        )
        .route("/api/users", get(api::users).post(api::user_add))
        .route(
            "/api/users/{id}",
            axum::routing::patch(api::user_patch).delete(api::user_delete),
        )
        .route("/api/users/{id}/reset-mfa", post(api::user_reset_mfa))
        .route("/api/audit", get(api::audit))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(axum::extract::DefaultBodyLimit::max(1 << 20));
    Router::new()
        .merge(api)
        .route("/", get(assets::index))
        .route("/assets/{*path}", get(assets::asset))
        .fallback(|| async { ApiError::not_found("no such page") })
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(vigil_server::routes::CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        ))
        .with_state(st)
}

/// The running HTTPS server.
pub struct HubHttp {
    addr: SocketAddr,
    handle: Handle<SocketAddr>,
    task: tokio::task::JoinHandle<()>,
    sweeper: tokio::task::JoinHandle<()>,
}

impl HubHttp {
    /// Serves the API and UI of `hub` on `[hub] listen`, with the certificate under
    /// `data_dir/tls` (generated at first start).
    pub async fn start(hub: &Hub, policy: HubPolicy) -> Result<HubHttp, HubError> {
        let listen: SocketAddr = hub.config.hub.listen.parse().map_err(|e| {
            HubError::Config(format!(
                "[hub] listen {:?} is not an address: {e}",
                hub.config.hub.listen
            ))
        })?;
        let data_dir = hub.config.hub.data_dir.clone();
        let tls = |e: vigil_server::ServerError| HubError::Config(format!("HTTPS: {e}"));
        let files = vigil_server::tls::ensure_files(&data_dir, None, None).map_err(tls)?;
        let config =
            RustlsConfig::from_config(vigil_server::tls::server_config(&files).map_err(tls)?);
        let store = Store::open(&hub.db).await?;
        let l = &policy.limits;
        let st = Arc::new(HttpState {
            db: hub.db.clone(),
            store,
            client: hub.client.clone(),
            data_dir,
            ip_limiter: Arc::new(Limiter::new(l.clone())),
            accounts: auth::AccountLimiter::new(l.clone()),
            hashing: HashGate::new(l.hash_concurrency, l.hash_queue, l.hash_wait),
            policy,
        });
        let bind = |e: std::io::Error| HubError::Config(format!("listening on {listen}: {e}"));
        let listener = std::net::TcpListener::bind(listen).map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        let addr = listener.local_addr().map_err(bind)?;
        let app = router(st.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let handle: Handle<SocketAddr> = Handle::new();
        let server = axum_server::from_tcp(listener)
            .map_err(bind)?
            .acceptor(RustlsAcceptor::new(config).handshake_timeout(Duration::from_secs(10)))
            .handle(handle.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = server.serve(app).await {
                tracing::error!("hub HTTPS server stopped: {e}");
            }
        });
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(600));
            loop {
                tick.tick().await;
                let p = &st.policy;
                if let Err(e) = st
                    .store
                    .sweep_sessions(
                        p.session_idle.as_millis() as i64,
                        p.session_max.as_millis() as i64,
                    )
                    .await
                {
                    tracing::warn!("{e}");
                }
                st.accounts.sweep();
            }
        });
        Ok(HubHttp {
            addr,
            handle,
            task,
            sweeper,
        })
    }

    /// `https://host:port` (an unspecified address shown as `localhost`).
    pub fn url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() {
            "localhost".to_string()
        } else if self.addr.is_ipv6() {
            format!("[{}]", self.addr.ip())
        } else {
            self.addr.ip().to_string()
        };
        format!("https://{host}:{}", self.addr.port())
    }

    /// Stops, letting requests in flight finish for up to `grace`.
    pub async fn shutdown(self, grace: Duration) {
        self.handle.graceful_shutdown(Some(grace));
        self.sweeper.abort();
        let _ = tokio::time::timeout(grace + Duration::from_secs(1), self.task).await;
    }
}
