//! The one error type of this crate.

use std::time::Duration;

/// Everything that can go wrong talking to an ONVIF device.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The device could not be reached (connection refused, no route, name not found, TLS failure).
    #[error("{url}: cannot connect: {reason}")]
    Unreachable {
        /// The service URL that was called.
        url: String,
        /// What the network stack said.
        reason: String,
    },
    /// The device did not answer within the time allowed.
    #[error("{url}: no answer within {} ms", .after.as_millis())]
    Timeout {
        /// The service URL that was called.
        url: String,
        /// The time allowed for the whole call.
        after: Duration,
    },
    /// The device refused the credentials (HTTP 401/403 or a SOAP `NotAuthorized` fault), or wants
    /// credentials and none were given.
    #[error("{url}: not authorized: {detail}")]
    Unauthorized {
        /// The service URL that was called.
        url: String,
        /// The device's reason, and a hint.
        detail: String,
    },
    /// The device answered the call with a SOAP fault.
    #[error("{url}: {action} failed: {reason} (code {code}{})", subcode_suffix(.subcode))]
    Fault {
        /// The service URL that was called.
        url: String,
        /// The operation, e.g. `GetStreamUri`.
        action: String,
        /// The fault code, e.g. `s:Sender`.
        code: String,
        /// The first fault subcode, e.g. `ter:InvalidArgVal`, when given.
        subcode: Option<String>,
        /// The human-readable reason.
        reason: String,
    },
    /// The device answered with an HTTP error status and no SOAP fault.
    #[error("{url}: HTTP {status}: {body}")]
    Http {
        /// The service URL that was called.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// An answer that is not well-formed XML.
    #[error("malformed XML: {0}")]
    Xml(String),
    /// A well-formed answer that lacks something required.
    #[error("{url}: unexpected answer to {action}: {detail}")]
    Unexpected {
        /// The service URL that was called.
        url: String,
        /// The operation, e.g. `GetProfiles`.
        action: String,
        /// What was missing or wrong.
        detail: String,
    },
    /// The device does not offer a service or operation this call needs.
    #[error("{0}")]
    NotSupported(String),
    /// A URL or address given to this crate is not usable.
    #[error("invalid address {address:?}: {reason}")]
    InvalidAddress {
        /// The address as given.
        address: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// An argument given to this crate is out of range (a NaN speed, an empty preset name).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A local socket operation failed (WS-Discovery).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

fn subcode_suffix(subcode: &Option<String>) -> String {
    subcode
        .as_ref()
        .map(|s| format!(", {s}"))
        .unwrap_or_default()
}

impl Error {
    /// True when the error means wrong or missing credentials.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Error::Unauthorized { .. })
    }
}
