//! A camera's PTZ as the running system shares it: connected on first use, connected again after the
//! device went away, and told when a person took the controls (so that automatic movers such as the
//! autotracker hold back).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{debug, info};

use crate::{ClientOptions, Credentials, Error, Ptz};

/// One camera's PTZ, shared by whoever moves it (the API, the autotracker). `Send + Sync`; every call
/// blocks (connection included) for at most the client timeout per request, so call it from a thread or
/// `spawn_blocking`.
#[derive(Debug)]
pub struct PtzLink {
    url: String,
    credentials: Option<Credentials>,
    options: ClientOptions,
    handle: Mutex<Option<Ptz>>,
    manual_until: Mutex<Option<Instant>>,
}

impl PtzLink {
    /// A link to the device service at `url` (the camera's `onvif` address); nothing is sent until the
    /// first call.
    pub fn new(url: &str, credentials: Option<Credentials>, options: ClientOptions) -> Self {
        Self {
            url: url.to_string(),
            credentials,
            options,
            handle: Mutex::new(None),
            manual_until: Mutex::new(None),
        }
    }

    /// The device service URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `f` on the PTZ handle, connecting first when there is none (`GetSystemDateAndTime`,
    /// `GetCapabilities`, `GetProfiles`: the first profile with a PTZ configuration). When the call fails
    /// because the device is gone or refused us (unreachable, no answer, not authorized, an HTTP error),
    /// the handle is dropped so that the next call connects again (the device may have restarted with
    /// new service addresses or a new clock).
    pub fn call<T>(&self, f: impl FnOnce(&Ptz) -> Result<T, Error>) -> Result<T, Error> {
        let ptz = self.handle()?;
        let result = f(&ptz);
        if let Err(e) = &result
            && drops_connection(e)
        {
            debug!(url = %self.url, error = %e, "PTZ call failed; reconnecting on the next one");
            *self.handle.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        result
    }

    /// Whether a connection is held now (a call succeeded and nothing has failed since).
    pub fn connected(&self) -> bool {
        self.handle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Records that a person moves the camera now: automatic movers leave it alone for `hold`.
    pub fn hold_manual(&self, hold: Duration) {
        let until = Instant::now() + hold;
        let mut m = self.manual_until.lock().unwrap_or_else(|p| p.into_inner());
        if m.is_none_or(|t| t < until) {
            *m = Some(until);
        }
    }

    /// Whether a person moved the camera recently (within the last [`PtzLink::hold_manual`]'s hold).
    pub fn manual(&self) -> bool {
        self.manual_until
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| Instant::now() < t)
    }

    /// The connected handle, connecting first when needed. The lock is held while connecting so that
    /// callers arriving together make one connection.
    fn handle(&self) -> Result<Ptz, Error> {
        let mut handle = self.handle.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ptz) = handle.as_ref() {
            return Ok(ptz.clone());
        }
        let ptz = Ptz::connect(&self.url, self.credentials.clone(), &self.options, None)?;
        info!(url = %self.url, profile = ptz.profile(), "PTZ connected");
        *handle = Some(ptz.clone());
        Ok(ptz)
    }
}

/// Errors after which the connection is not trusted any more.
fn drops_connection(e: &Error) -> bool {
    matches!(
        e,
        Error::Unreachable { .. }
            | Error::Timeout { .. }
            | Error::Unauthorized { .. }
            | Error::Http { .. }
            | Error::Xml(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_address_fails_at_once_and_holds_no_connection() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(9);
        let link = PtzLink::new(
            &format!("http://127.0.0.1:{port}/onvif/device_service"),
            None,
            ClientOptions::default(),
        );
        let r = link.call(|p| p.status());
        assert!(matches!(r, Err(Error::Unreachable { .. })), "{r:?}");
        assert!(!link.connected());
    }

    #[test]
    fn manual_holds_extend_and_expire() {
        let link = PtzLink::new("http://127.0.0.1:9/", None, ClientOptions::default());
        assert!(!link.manual());
        link.hold_manual(Duration::from_millis(50));
        assert!(link.manual());
        link.hold_manual(Duration::ZERO);
        assert!(link.manual(), "a shorter hold does not cut a longer one");
        std::thread::sleep(Duration::from_millis(60));
        assert!(!link.manual());
    }
}
