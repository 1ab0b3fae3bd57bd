//! The route table ([`ROUTES`]): every route with its method, path, what it needs, its summary and
//! its schemas. The router, the OpenAPI description and the authorization tests are all built from it,
//! so a route cannot exist without a declared permission. Authorization happens in one place
//! ([`authorize`]) before any handler runs: authentication (session cookie or API token), CSRF for
//! cookie-authenticated writes, the route's permission, and the camera scope of a `{camera}` path
//! parameter (a camera the caller may not see is answered like one that does not exist).

pub mod admin;
pub mod analytics;
pub mod approvals;
pub mod auth;
pub mod cases;
pub mod config;
pub mod erasures;
pub mod events;
pub mod extract;
pub mod faces;
pub mod holds;
pub mod integrity;
pub mod layouts;
pub mod media;
pub mod plates;
pub mod ptz;
pub mod retention;
pub mod review;
pub mod search;
pub mod summary;
pub mod system;
mod table;

use crate::auth::same;
use crate::auth::sessions::COOKIE;
use crate::context::AppState;
use crate::error::{ApiError, ServerError};
use crate::perms::{ClientIp, Permission, Principal, Via};
use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{DefaultBodyLimit, FromRequestParts, RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use serde_json::Value;
use std::net::SocketAddr;
use tower_http::set_header::SetResponseHeaderLayer;

pub use table::ROUTES;

/// Largest request body accepted (413 beyond).
pub const MAX_BODY: usize = 64 * 1024;

/// Oversized bodies up to this size are read and dropped before the 413 is sent.
const DRAIN_LIMIT: usize = 1 << 20;

/// Header carrying the CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The `Content-Security-Policy` of every response.
pub const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
    connect-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";

/// An HTTP method of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Verb {
    /// Lower-case name (OpenAPI operation key).
    pub fn name(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Public,
    /// A logged-in user (session cookie; also while MFA enrolment is pending).
    Session,
    /// A permission (session or API token).
    Perm(Permission),
}

impl Access {
    /// Its name in the OpenAPI description (`x-vigil-permission`).
    pub fn name(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Session => "session",
            Access::Perm(p) => p.name(),
        }
    }
}

/// Where a parameter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamIn {
    /// In the path.
    Path,
    /// In the query string.
    Query,
}

/// A path or query parameter.
pub struct Param {
    /// Name.
    pub name: &'static str,
    /// Where.
    pub at: ParamIn,
    /// Must be given.
    pub required: bool,
    /// JSON schema.
    pub schema: fn() -> Value,
    /// What it is.
    pub description: &'static str,
}

/// What a route answers on success.
#[derive(Clone, Copy)]
pub enum Body {
    /// JSON of this schema.
    Json(fn() -> Value),
    /// An MP4 file.
    Mp4,
    /// A finished export: an MP4 file, or a zip (a signed evidence bundle).
    Export,
    /// A JPEG image.
    Jpeg,
    /// Prometheus text.
    Text,
    /// A web UI file (any type).
    Asset,
    /// JSON of this schema, or (as the request's `format` asks) one of these other media types.
    JsonOr(fn() -> Value, &'static [&'static str]),
    /// A file of one of these media types.
    File(&'static [&'static str]),
    /// Nothing.
    Empty,
    /// A WebSocket upgrade.
    WebSocket,
}

/// One route.
pub struct RouteSpec {
    /// Method.
    pub verb: Verb,
    /// Path in axum syntax (`/api/users/{id}`), which is also OpenAPI's.
    pub path: &'static str,
    /// What it needs.
    pub access: Access,
    /// One line.
    pub summary: &'static str,
    /// Path and query parameters.
    pub params: &'static [Param],
    /// JSON request body schema.
    pub request: Option<fn() -> Value>,
    /// Success status.
    pub status: u16,
    /// Success body.
    pub response: Body,
    /// The handler.
    pub handler: fn() -> MethodRouter<AppState>,
}

/// Runs blocking work (database, files) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServerError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

/// The router of every route in [`ROUTES`], with authorization, body limit and security headers.
pub fn router(ctx: AppState) -> Router {
    let mut r: Router<AppState> = Router::new();
    for spec in ROUTES {
        let mr = (spec.handler)().route_layer(middleware::from_fn_with_state(
            (ctx.clone(), spec),
            authorize,
        ));
        r = r.route(spec.path, mr);
    }
    let headers: [(header::HeaderName, &'static str); 6] = [
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::CACHE_CONTROL, "no-store"),
    ];
    let mut r = r
        .fallback(fallback)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(read_body_first));
    for (name, value) in headers {
        r = r.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    r.with_state(ctx)
}

/// Reads every request body whole before any route sees the request, and refuses one over
/// [`MAX_BODY`] (413; a client that sent `Expect: 100-continue` gets it instead of a `100 Continue`).
///
/// Handlers and the authorization gate may answer without looking at the body (a refused login, a path
/// that does not parse, a body that is not JSON). Had the body not been read, the connection would
/// close after the answer, under a client that is still sending it or about to reuse the connection
/// for its next request. Read here, every answer leaves a keep-alive connection usable. A body that
/// stops coming is cut by the connection's idle timeout.
async fn read_body_first(req: Request, next: Next) -> Response {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("request bodies are limited to {MAX_BODY} bytes"),
        )
        .into_response()
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > MAX_BODY as u64) {
        // A client that did not wait for `100 Continue` is sending the body already: read (and drop) a
        // bounded amount, so that it is not reset before it reads the answer.
        let expects = req.headers().contains_key(header::EXPECT);
        if !expects && n <= DRAIN_LIMIT as u64 {
            let _ = axum::body::to_bytes(req.into_body(), DRAIN_LIMIT).await;
        }
        return too_large();
    }
    let has_body =
        declared.is_some_and(|n| n > 0) || req.headers().contains_key(header::TRANSFER_ENCODING);
    if !has_body {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Err(_) => too_large(),
    }
}

/// Unknown paths: the web UI's `index.html` for a browser navigating to one of its own pages (a GET
/// outside `/api/` and `/assets/` asking for HTML, when the UI is built in), a JSON 404 otherwise.
async fn fallback(State(ctx): State<AppState>, req: Request) -> Response {
    let path = req.uri().path();
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if req.method() == Method::GET
        && wants_html
        && !path.starts_with("/api/")
        && !path.starts_with("/assets/")
        && path != "/metrics"
        && let Some(asset) = ctx.assets.as_ref().and_then(|a| a.get("index.html"))
    {
        let mut r = asset.bytes.into_owned().into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        return r;
    }
    ApiError::not_found("no such route").into_response()
}

fn is_write(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The session id in a `Cookie` header, if any.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE)
}

/// The value of the cookie `name` in the `Cookie` headers, if any.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Who sent the request: a valid session cookie first, else a bearer token (`Ok(None)`: neither is
/// valid). Cross-site requests cannot add an `Authorization` header (no CORS is allowed), so the
/// order does not open a CSRF path; cookie-authenticated writes still need the CSRF token.
async fn authenticate(ctx: &AppState, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    if let Some(id) = session_cookie(headers) {
        let sec = ctx.security.clone();
        if let Some(p) = blocking(move || sec.session(&id)).await? {
            return Ok(Some(p));
        }
    }
    if let Some(secret) = cookie(headers, crate::layouts::DISPLAY_COOKIE) {
        let sec = ctx.security.clone();
        if let Some(p) = blocking(move || sec.display(&secret)).await? {
            return Ok(Some(p));
        }
    }
    let Some(auth) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let Some(token) = auth
        .to_str()
        .ok()
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
    else {
        return Ok(None);
    };
    let sec = ctx.security.clone();
    blocking(move || sec.token(&token)).await
}

/// The one authorization gate in front of every route (the body has been read by [`read_body_first`],
/// so a refusal leaves the connection usable).
async fn authorize(
    State((ctx, spec)): State<(AppState, &'static RouteSpec)>,
    req: Request,
    next: Next,
) -> Response {
    let ip = ClientIp(
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip()),
    );
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(ip);
    if spec.access == Access::Public {
        return next.run(Request::from_parts(parts, body)).await;
    }
    match gate(&ctx, spec, &mut parts).await {
        Ok(principal) => {
            parts.extensions.insert(principal);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(refusal) => refusal,
    }
}

/// Who may make this request to a non-public route, or the answer that refuses it.
async fn gate(
    ctx: &AppState,
    spec: &'static RouteSpec,
    parts: &mut axum::http::request::Parts,
) -> Result<Principal, Response> {
    let principal = match authenticate(ctx, &parts.headers).await {
        Ok(Some(p)) => p,
        Ok(None) => return Err(ApiError::unauthenticated().into_response()),
        Err(e) => return Err(e.into_response()),
    };
    if let Via::Session { csrf, .. } = &principal.via
        && is_write(&parts.method)
    {
        let given = parts
            .headers
            .get(CSRF_HEADER)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        if !same(given, csrf.as_bytes()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "missing or wrong X-CSRF-Token header",
            )
            .into_response());
        }
    }
    match spec.access {
        Access::Public => {}
        Access::Session => {
            if !matches!(principal.via, Via::Session { .. }) {
                return Err(ApiError::forbidden(
                    "this route needs a login session, not an API token",
                )
                .into_response());
            }
        }
        Access::Perm(p) => {
            if principal.mfa_pending {
                let message = match principal.via {
                    Via::Session { .. } => {
                        "your role requires MFA: enrol it first (POST /api/me/mfa/enroll)"
                    }
                    Via::Token { .. } | Via::Display { .. } => {
                        "this token's user has a role that requires MFA and has not enrolled it: \
                         the token works again once they have"
                    }
                };
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "mfa_enrollment_required",
                    message,
                )
                .into_response());
            }
            if !principal.can(p) {
                return Err(
                    ApiError::forbidden(format!("this needs the {} permission", p.name()))
                        .into_response(),
                );
            }
        }
    }
    if let Ok(params) = RawPathParams::from_request_parts(parts, &()).await
        && let Some((_, camera)) = params.iter().find(|(k, _)| *k == "camera")
    {
        let camera = camera.to_string();
        let visible = principal.sees(&camera) && {
            let c = ctx.clone();
            let name = camera.clone();
            blocking(move || Ok(c.camera_names().contains(&name)))
                .await
                .unwrap_or(false)
        };
        if !visible {
            return Err(ApiError::not_found(format!("no camera {camera:?}")).into_response());
        }
    }
    Ok(principal)
}

/// The recording store, or 404 when this server records nothing.
pub(crate) fn store_of(
    ctx: &crate::context::AppState,
) -> Result<std::sync::Arc<vigil_store::Store>, crate::error::ApiError> {
    ctx.store
        .clone()
        .ok_or_else(|| crate::error::ApiError::not_found("no recordings in this server"))
}
