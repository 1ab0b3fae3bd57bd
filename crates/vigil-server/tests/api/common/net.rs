//! Raw clients for the connection and load tests: TCP and TLS sockets opened from a chosen loopback
//! address (Linux routes all of 127.0.0.0/8 to the loopback interface), so that one test can act as
//! many clients, and a bare HTTP/1.1 exchange over them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

/// The loopback address `127.0.0.n`.
pub fn lo(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// A TCP connection to `to` from the address `from`.
pub async fn tcp_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(from, 0))?;
    sock.connect(to).await
}

/// A TLS client configuration trusting the certificate at `cert` (HTTP/1.1: no ALPN).
pub fn tls_config(cert: &Path) -> Arc<rustls::ClientConfig> {
    let pem = std::fs::read(cert).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// A TLS connection (handshake done) to `to` from `from`.
pub async fn tls_from(
    from: IpAddr,
    to: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = tcp_from(from, to).await?;
    tokio_rustls::TlsConnector::from(config.clone())
        .connect(ServerName::IpAddress(to.ip().into()), tcp)
        .await
}

/// Reads until the peer closes (end of stream or an error): how long that took, or `None` when still
/// open after `within`. Anything the peer sends is read and dropped.
pub async fn closed_within<S: AsyncRead + Unpin>(s: &mut S, within: Duration) -> Option<Duration> {
    let t = tokio::time::Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(t + within, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(t.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// A response read off a raw connection.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `POST path` with a JSON body and `Connection: close`, and reads the response to its end.
pub async fn post_json<S>(s: &mut S, path: &str, body: &str) -> std::io::Result<RawResponse>
where
    S: AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    read_response(s).await
}

/// Reads a response to the end of the connection (send `Connection: close`).
pub async fn read_response<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<RawResponse> {
    let mut raw = Vec::new();
    // A peer that closes without close_notify ends the read with an error after the response.
    let _ = s.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no response: {text:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect();
    Ok(RawResponse {
        status,
        headers,
        body: body.to_string(),
    })
}

/// Sends `GET path` on a keep-alive connection and reads the response (by its `Content-Length`): the
/// status, with the connection left open for the next request.
pub async fn get_keep_alive<S>(s: &mut S, path: &str) -> std::io::Result<u16>
where
    S: AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    s.write_all(req.as_bytes()).await?;
    read_keep_alive(s).await
}

/// Reads one response off a keep-alive connection (by its `Content-Length`) and returns its status,
/// leaving the connection open for the next request.
pub async fn read_keep_alive<S>(s: &mut S) -> std::io::Result<u16>
where
    S: AsyncRead + Unpin,
{
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_lowercase();
    let length: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    s.read_exact(&mut vec![0u8; length]).await?;
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {text:?}")))
}
