//! Connection limits and timeouts, below TLS and HTTP, so they hold whatever a client does (or does not
//! do) on the socket:
//!
//! - at most `max_per_address` connections from one IP address and `max_total` in all (lowered to half
//!   the process's open-file limit); past the total, a new connection takes the place of one not
//!   serving a request: the oldest that has made no request yet (in the TLS handshake, sending its
//!   first head, or idle since it connected), else the one quiet the longest; it is refused only
//!   when every connection is busy;
//! - the TLS handshake must end within `handshake` (rustls acceptor);
//! - a request head must be complete within `header` of its first byte (HTTP/1; an HTTP/2
//!   connection's first request too);
//! - a connection with no request in progress closes after `idle` without a byte either way, and so
//!   does one whose request stalls that long (a client that stopped reading, a body that stopped
//!   coming).
//!
//! A connection upgraded to a WebSocket (live view) is long-lived by design: it keeps counting toward
//! the limits, is never closed for being quiet here (the live stream has its own send timeout and
//! re-checks its viewer's access) and is never displaced by a new connection.

use axum::body::HttpBody;
use axum::http::{Request, Response, StatusCode, Version};
use futures_util::task::AtomicWaker;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Connection limits and timeouts (the `[server]` keys of the same names, in seconds there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Connections open at once, in all.
    pub max_total: usize,
    /// Connections open at once from one IP address.
    pub max_per_address: usize,
    /// Time for the TLS handshake.
    pub handshake: Duration,
    /// Time for a request head, from its first byte.
    pub header: Duration,
    /// Time without a byte either way before a connection closes.
    pub idle: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            max_total: 1024,
            max_per_address: 64,
            handshake: Duration::from_secs(10),
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
        }
    }
}

impl ConnLimits {
    /// The limits of a `[server]` section.
    pub fn from_config(c: &vigil_core::config::ServerConfig) -> ConnLimits {
        ConnLimits {
            max_total: c.max_connections,
            max_per_address: c.max_connections_per_address,
            handshake: Duration::from_secs(c.handshake_timeout_seconds),
            header: Duration::from_secs(c.header_timeout_seconds),
            idle: Duration::from_secs(c.idle_timeout_seconds),
        }
    }

    /// `max_total`, lowered to half the soft open-file limit of the process when that is smaller (the
    /// rest is for recordings, cameras and databases).
    pub fn effective_total(&self) -> usize {
        match open_files_limit() {
            Some(n) if (n / 2) < self.max_total as u64 => (n / 2).max(1) as usize,
            _ => self.max_total,
        }
    }
}

/// The soft limit on open files of this process (Linux: `/proc/self/limits`).
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What one connection is doing, shared by its socket, its HTTP service and the registry.
struct ConnState {
    id: u64,
    ip: Option<IpAddr>,
    /// Milliseconds since `epoch` (the registry's, common to all connections) of the accept.
    opened: u64,
    /// ... and of the last byte read or written.
    last_io: AtomicU64,
    /// Requests whose response has not been sent to its end.
    active: AtomicUsize,
    /// Upgraded to a WebSocket.
    upgraded: AtomicBool,
    /// Has served an HTTP/2 request (later bytes without a request are frames, not a slow head).
    h2: AtomicBool,
    /// Set when a request starts; the socket then forgets when the current head began.
    requests: AtomicU64,
    /// Displaced by a new connection: the socket fails its next read or write.
    kill: AtomicBool,
    waker: AtomicWaker,
    epoch: Instant,
}

impl ConnState {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn busy(&self) -> bool {
        self.upgraded.load(Ordering::Acquire) || self.active.load(Ordering::Acquire) > 0
    }

    fn displace(&self) {
        self.kill.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// The registry of open connections.
pub(crate) struct Connections {
    limits: ConnLimits,
    max_total: usize,
    inner: Mutex<Registry>,
    next_id: AtomicU64,
    epoch: Instant,
}

#[derive(Default)]
struct Registry {
    open: HashMap<u64, Arc<ConnState>>,
    per_ip: HashMap<IpAddr, usize>,
}

impl Connections {
    /// A registry enforcing `limits`.
    pub(crate) fn new(limits: ConnLimits) -> Arc<Connections> {
        let max_total = limits.effective_total();
        if max_total < limits.max_total {
            tracing::warn!(
                "max_connections lowered from {} to {max_total}: the open-file limit is {}",
                limits.max_total,
                max_total * 2
            );
        }
        Arc::new(Connections {
            limits,
            max_total,
            inner: Mutex::new(Registry::default()),
            next_id: AtomicU64::new(1),
            epoch: Instant::now(),
        })
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.lock().open.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new connection from `ip`, or refuses it (`None`).
    fn admit(&self, ip: Option<IpAddr>) -> Option<Arc<ConnState>> {
        let ip = ip.map(|i| i.to_canonical());
        let mut reg = self.lock();
        if let Some(ip) = ip
            && reg.per_ip.get(&ip).copied().unwrap_or(0) >= self.limits.max_per_address
        {
            tracing::debug!(%ip, "connection refused: too many from this address");
            return None;
        }
        if reg.open.len() >= self.max_total {
            // Displace, among the connections serving nothing, first the oldest one that has not
            // made a request yet (in the TLS handshake, sending its first head, or idle since it
            // connected), then the one quiet the longest: clients that made requests stay.
            let victim = reg
                .open
                .values()
                .filter(|c| !c.busy() && !c.kill.load(Ordering::Acquire))
                .min_by_key(|c| {
                    let proven = c.requests.load(Ordering::Acquire) > 0;
                    let since = if proven {
                        c.last_io.load(Ordering::Acquire)
                    } else {
                        c.opened
                    };
                    (proven, since)
                })
                .cloned();
            match victim {
                Some(v) => {
                    v.displace();
                    // It leaves the registry when its socket is dropped; count it out now.
                    reg.open.remove(&v.id);
                    if let Some(vip) = v.ip {
                        decrement(&mut reg.per_ip, vip);
                    }
                }
                None => {
                    tracing::debug!("connection refused: every connection is busy");
                    return None;
                }
            }
        }
        let now = self.epoch.elapsed().as_millis() as u64;
        let state = Arc::new(ConnState {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            ip,
            opened: now,
            last_io: AtomicU64::new(now),
            active: AtomicUsize::new(0),
            upgraded: AtomicBool::new(false),
            h2: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            kill: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            epoch: self.epoch,
        });
        reg.open.insert(state.id, state.clone());
        if let Some(ip) = ip {
            *reg.per_ip.entry(ip).or_default() += 1;
        }
        Some(state)
    }

    fn leave(&self, state: &ConnState) {
        let mut reg = self.lock();
        if reg.open.remove(&state.id).is_some()
            && let Some(ip) = state.ip
        {
            decrement(&mut reg.per_ip, ip);
        }
    }
}

fn decrement(per_ip: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    if let Some(n) = per_ip.get_mut(&ip) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            per_ip.remove(&ip);
        }
    }
}

/// Accepts TCP connections within the limits, wrapping the socket ([`Guarded`]) and the HTTP service
/// ([`ConnService`]); a refused connection is closed at once.
#[derive(Clone)]
pub(crate) struct GuardAcceptor {
    conns: Arc<Connections>,
}

impl GuardAcceptor {
    pub(crate) fn new(conns: Arc<Connections>) -> Self {
        Self { conns }
    }
}

impl<S> axum_server::accept::Accept<TcpStream, S> for GuardAcceptor {
    type Stream = Guarded;
    type Service = ConnService<S>;
    type Future = std::future::Ready<io::Result<(Guarded, ConnService<S>)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let ip = stream.peer_addr().ok().map(|a| a.ip());
        let Some(state) = self.conns.admit(ip) else {
            return std::future::ready(Err(io::Error::other("connection limit reached")));
        };
        let _ = stream.set_nodelay(true);
        let guarded = Guarded {
            stream,
            state: state.clone(),
            conns: self.conns.clone(),
            limits: self.conns.limits,
            head_since: None,
            seen_requests: 0,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
        };
        std::future::ready(Ok((
            guarded,
            ConnService {
                inner: service,
                state,
            },
        )))
    }
}

/// A TCP socket that closes itself when its connection overstays a timeout or is displaced.
pub(crate) struct Guarded {
    stream: TcpStream,
    state: Arc<ConnState>,
    conns: Arc<Connections>,
    limits: ConnLimits,
    /// When the bytes of a request head (or TLS handshake) not yet answered by a request began (ms).
    head_since: Option<u64>,
    seen_requests: u64,
    sleep: Pin<Box<Sleep>>,
}

impl Guarded {
    /// The moment this connection has to close, if any (ms since its epoch).
    fn deadline(&mut self) -> Option<u64> {
        let s = &self.state;
        if s.upgraded.load(Ordering::Acquire) {
            return None;
        }
        let requests = s.requests.load(Ordering::Acquire);
        if requests != self.seen_requests {
            self.seen_requests = requests;
            self.head_since = None;
        }
        let idle = s.last_io.load(Ordering::Acquire) + self.limits.idle.as_millis() as u64;
        match self.head_since {
            Some(t) if s.active.load(Ordering::Acquire) == 0 => {
                Some(idle.min(t + self.limits.header.as_millis() as u64))
            }
            _ => Some(idle),
        }
    }

    /// Ready with an error when the connection must close now; otherwise arms the timer.
    fn check(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.state.waker.register(cx.waker());
        if self.state.kill.load(Ordering::Acquire) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "displaced by a newer connection (connection limit)",
            )));
        }
        loop {
            let Some(deadline) = self.deadline() else {
                return Poll::Pending;
            };
            let at = self.state.epoch + Duration::from_millis(deadline);
            if Instant::now() >= at {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection timed out (idle or slow request head)",
                )));
            }
            if self.sleep.deadline() != at {
                self.sleep.as_mut().reset(at);
            }
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    fn touched(&mut self, read: bool) {
        let s = &self.state;
        let now = s.now_ms();
        s.last_io.store(now, Ordering::Release);
        if read
            && self.head_since.is_none()
            && s.active.load(Ordering::Acquire) == 0
            && !s.h2.load(Ordering::Acquire)
        {
            // Sync with requests that started since the last look, then start the head's clock.
            self.seen_requests = s.requests.load(Ordering::Acquire);
            self.head_since = Some(now);
        }
    }
}

impl Guarded {
    /// After a write: bytes sent count as activity; a write that cannot go on (the client stopped
    /// reading) is given up when the connection's time is up.
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match r {
            Poll::Ready(Ok(n)) if n > 0 => self.touched(false),
            Poll::Pending => {
                if let Poll::Ready(Err(e)) = self.check(cx) {
                    return Poll::Ready(Err(e));
                }
            }
            _ => {}
        }
        r
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Poll::Ready(Err(e)) = this.check(cx) {
            return Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.touched(true);
        }
        r
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.wrote(cx, r)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.wrote(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.conns.leave(&self.state);
    }
}

/// The HTTP service of one connection: tells the connection's state when requests start and end
/// (at the end of their response body) and when it is upgraded.
#[derive(Clone)]
pub(crate) struct ConnService<S> {
    inner: S,
    state: Arc<ConnState>,
}

/// A request in progress on a connection (ends when dropped).
struct InProgress(Arc<ConnState>);

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
        self.0.last_io.store(self.0.now_ms(), Ordering::Release);
        self.0.waker.wake();
    }
}

impl<S, ReqBody, B> tower::Service<Request<ReqBody>> for ConnService<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: HttpBody + Unpin,
{
    type Response = Response<GuardBody<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let state = self.state.clone();
        if req.version() == Version::HTTP_2 {
            state.h2.store(true, Ordering::Release);
        }
        state.active.fetch_add(1, Ordering::AcqRel);
        state.requests.fetch_add(1, Ordering::AcqRel);
        let guard = InProgress(state.clone());
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                state.upgraded.store(true, Ordering::Release);
            }
            Ok(resp.map(|body| GuardBody {
                inner: body,
                _guard: guard,
            }))
        })
    }
}

/// A response body that keeps its request counted as in progress until it is sent or dropped.
pub(crate) struct GuardBody<B> {
    inner: B,
    _guard: InProgress,
}

impl<B: HttpBody + Unpin> HttpBody for GuardBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
