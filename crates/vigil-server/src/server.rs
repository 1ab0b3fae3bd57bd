//! Starting and stopping the HTTPS server.

use crate::conn::{ConnLimits, Connections, GuardAcceptor};
use crate::context::AppState;
use crate::error::ServerError;
use crate::tls::{self, TlsFiles};
use axum_server::Handle;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use vigil_core::config::ServerConfig;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Certificate and key; `None` serves plain HTTP, which is refused unless `listen` is loopback.
    pub tls: Option<TlsFiles>,
    /// Connection limits and timeouts.
    pub limits: ConnLimits,
}

impl ServerOptions {
    /// The options of a `[server]` section: its certificate, or one generated under `data_dir/tls`;
    /// plain HTTP only with `http_loopback_only` on a loopback address.
    pub fn from_config(
        config: &ServerConfig,
        data_dir: &Path,
    ) -> Result<ServerOptions, ServerError> {
        let limits = ConnLimits::from_config(config);
        if config.http_loopback_only {
            return Ok(ServerOptions {
                listen: config.listen,
                tls: None,
                limits,
            });
        }
        let files = tls::ensure_files(
            data_dir,
            config.tls_cert.as_deref(),
            config.tls_key.as_deref(),
        )?;
        Ok(ServerOptions {
            listen: config.listen,
            tls: Some(files),
            limits,
        })
    }
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    handle: Handle<SocketAddr>,
    task: tokio::task::JoinHandle<()>,
    sweeper: tokio::task::JoinHandle<()>,
    flusher: tokio::task::JoinHandle<()>,
    security: Arc<crate::auth::Security>,
    tls: Option<TlsFiles>,
    conns: Arc<Connections>,
}

impl Server {
    /// Binds and starts serving [`crate::routes::router`] of `ctx` on the current tokio runtime.
    pub async fn start(ctx: AppState, options: ServerOptions) -> Result<Server, ServerError> {
        let serve_err = |source| ServerError::Serve {
            addr: options.listen.to_string(),
            source,
        };
        if options.tls.is_none() && !options.listen.ip().is_loopback() {
            return Err(ServerError::Invalid(format!(
                "plain HTTP is only served on loopback addresses, not {}",
                options.listen
            )));
        }
        let listener = std::net::TcpListener::bind(options.listen).map_err(serve_err)?;
        listener.set_nonblocking(true).map_err(serve_err)?;
        let addr = listener.local_addr().map_err(serve_err)?;
        let app =
            crate::routes::router(ctx.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let handle: Handle<SocketAddr> = Handle::new();
        let conns = Connections::new(options.limits);
        let guard = GuardAcceptor::new(conns.clone());
        let task = match &options.tls {
            Some(files) => {
                let config = RustlsConfig::from_config(tls::server_config(files)?);
                let acceptor = RustlsAcceptor::new(config)
                    .handshake_timeout(options.limits.handshake)
                    .acceptor(guard);
                let server = axum_server::from_tcp(listener)
                    .map_err(serve_err)?
                    .acceptor(acceptor)
                    .handle(handle.clone());
                tokio::spawn(async move {
                    if let Err(e) = server.serve(app).await {
                        tracing::error!("HTTPS server stopped: {e}");
                    }
                })
            }
            None => {
                let server = axum_server::from_tcp(listener)
                    .map_err(serve_err)?
                    .acceptor(guard)
                    .handle(handle.clone());
                tokio::spawn(async move {
                    if let Err(e) = server.serve(app).await {
                        tracing::error!("HTTP server stopped: {e}");
                    }
                })
            }
        };
        // Exports interrupted by the last stop, stray files and expired exports go now, then every
        // 10 minutes with the sessions.
        let c = ctx.clone();
        match tokio::task::spawn_blocking(move || c.exports.reap(true)).await {
            Ok(Err(e)) => tracing::warn!("reaping exports: {e}"),
            Err(e) => tracing::warn!("reaping exports: {e}"),
            Ok(Ok(_)) => {}
        }
        let sec = ctx.security.clone();
        let c = ctx.clone();
        let sweeper = tokio::spawn(async move {
            let mut sweep = tokio::time::interval(Duration::from_secs(600));
            let mut anchor = tokio::time::interval(crate::anchor::ANCHOR_EVERY);
            loop {
                let s = sec.clone();
                tokio::select! {
                    _ = sweep.tick() => {
                        let swept = tokio::task::spawn_blocking(move || {
                            s.sweep_sessions()?;
                            s.sweep_logins()?;
                            s.sweep_devices()
                        });
                        if let Ok(Err(e)) = swept.await {
                            tracing::warn!("sweeping sessions and login counts: {e}");
                        }
                        let c = c.clone();
                        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || c.exports.reap(false)).await {
                            tracing::warn!("reaping exports: {e}");
                        }
                    }
                    // Entries appended since the last anchor are anchored within a second.
                    _ = anchor.tick() => {
                        let _ = tokio::task::spawn_blocking(move || s.flush_audit_anchor()).await;
                    }
                }
            }
        });
        // Failed logins are written as counts when their window ends.
        let sec = ctx.security.clone();
        let every = (ctx.security.policy.limits.audit_window / 4).max(Duration::from_millis(250));
        let flusher = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let s = sec.clone();
                let _ = tokio::task::spawn_blocking(move || s.flush_attempts(false)).await;
            }
        });
        Ok(Server {
            addr,
            handle,
            task,
            sweeper,
            flusher,
            security: ctx.security.clone(),
            tls: options.tls,
            conns,
        })
    }

    /// Connections open now (TLS handshakes, HTTP and WebSockets).
    pub fn connections(&self) -> usize {
        self.conns.open()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://host:port` (`http://` when serving plain HTTP); an unspecified address is shown as
    /// `localhost`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let host = if self.addr.ip().is_unspecified() {
            "localhost".to_string()
        } else if self.addr.is_ipv6() {
            format!("[{}]", self.addr.ip())
        } else {
            self.addr.ip().to_string()
        };
        format!("{scheme}://{host}:{}", self.addr.port())
    }

    /// The certificate in use, if serving HTTPS.
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// Stops accepting, lets requests in flight finish for up to `grace`, then stops; failed logins
    /// still being counted are written to the audit log.
    pub async fn shutdown(self, grace: Duration) {
        self.handle.graceful_shutdown(Some(grace));
        self.sweeper.abort();
        let _ = tokio::time::timeout(grace + Duration::from_secs(1), self.task).await;
        self.flusher.abort();
        let sec = self.security.clone();
        let _ = tokio::task::spawn_blocking(move || sec.flush_attempts(true)).await;
    }
}
