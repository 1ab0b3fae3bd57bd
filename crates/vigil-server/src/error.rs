//! Errors: [`ServerError`] for starting the server and the command-line tools, [`ApiError`] for what
//! a request gets back (`{"error": "<code>", "message": "<human text>"}` with a 4xx/5xx status).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::path::PathBuf;

/// Why the server or a security-database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The security database failed.
    #[error("security database {path}: {source}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// A request or command was refused (bad input, conflict).
    #[error("{0}")]
    Invalid(String),
    /// Something not found (user, token).
    #[error("{0}")]
    NotFound(String),
    /// Not allowed to the caller (answered 403).
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with what exists (answered 409).
    #[error("{0}")]
    Conflict(String),
    /// Something this server lacks (a model, a component) for the request (answered 503).
    #[error("{0}")]
    Unavailable(String),
    /// A password did not meet the strength rules.
    #[error("password refused: {0}")]
    WeakPassword(String),
    /// The recording or event store failed.
    #[error(transparent)]
    Store(#[from] vigil_store::StoreError),
    /// A key or key file failed.
    #[error(transparent)]
    Keys(#[from] vigil_keys::KeyError),
    /// The identity database failed.
    #[error(transparent)]
    Identity(vigil_identity::IdentityError),
    /// Binding or serving failed.
    #[error("serving on {addr}: {source}")]
    Serve {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// An error answered to a request.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code (`unauthenticated`, `forbidden`, `not_found`, ...).
    pub code: &'static str,
    /// Human-readable text.
    pub message: String,
    /// Seconds to put into `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "log in or send an API token",
        )
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 500 `internal`: the details go to the log, not to the client.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!("request failed: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error (see the server log)",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({"error": self.code, "message": self.message})),
        )
            .into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = s.to_string().parse()
        {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        r
    }
}

impl From<ServerError> for ApiError {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::Invalid(m) => ApiError::bad_request(m),
            ServerError::WeakPassword(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", m)
            }
            ServerError::NotFound(m) => ApiError::not_found(m),
            ServerError::Forbidden(m) => ApiError::forbidden(m),
            ServerError::Conflict(m) => ApiError::conflict(m),
            ServerError::Unavailable(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m)
            }
            ServerError::Store(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

impl From<vigil_store::StoreError> for ApiError {
    fn from(e: vigil_store::StoreError) -> Self {
        use vigil_store::StoreError as E;
        match &e {
            E::UnknownCamera { .. }
            | E::UnknownStream { .. }
            | E::EventNotFound { .. }
            | E::NoSnapshot { .. } => ApiError::not_found(e.to_string()),
            E::NoRecording { .. } => ApiError::new(
                StatusCode::NOT_FOUND,
                "no_recording",
                "nothing recorded in that range",
            ),
            E::EmptyRange { .. } | E::BadQuery(_) => ApiError::bad_request(e.to_string()),
            E::FootageHeld { .. } | E::EventHeld { .. } => {
                ApiError::new(StatusCode::CONFLICT, "held", e.to_string())
            }
            E::StillRecording {
                segment_seconds, ..
            } => ApiError {
                retry_after: Some(u64::from(*segment_seconds).max(1)),
                ..ApiError::new(StatusCode::CONFLICT, "still_recording", e.to_string())
            },
            E::TamperedChain { .. } => {
                ApiError::new(StatusCode::CONFLICT, "tampered", e.to_string())
            }
            _ => ApiError::internal(e),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let code = match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => "too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
            _ => "malformed_json",
        };
        ApiError::new(r.status(), code, r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request(r.body_text())
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
