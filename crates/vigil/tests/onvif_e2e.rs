//! ONVIF cameras in a running `vigil run`, against real ipycam 1.3.0 cameras (a third-party virtual ONVIF
//! camera with digital PTZ, started on loopback by `vigil_onvif::test_camera`):
//! - `autotrack`: PTZ autotracking judged by the person's distance from the picture's centre, one camera
//!   with it on and one with it off, both playing the same footage at once;
//! - `ptz_browser`: the camera page's PTZ panel moves the camera, in headless Chromium.
//!
//! Each skips with a visible `SKIP:` line when ipycam, the footage, the models or the browser are missing.

#[path = "onvif_e2e/autotrack.rs"]
mod autotrack;
#[path = "onvif_e2e/ptz_browser.rs"]
mod ptz_browser;
mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vigil_onvif::test_camera::{IpyCam, IpyCamOptions, python};

/// The ipycam launcher's Python, or `None` after a SKIP line.
pub fn ipycam_python() -> Option<PathBuf> {
    match python() {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("SKIP: {e}");
            None
        }
    }
}

/// Starts `n` ipycam cameras playing `video`, all at once (so that their footage runs nearly in step).
pub fn cameras(py: &Path, video: &Path, n: usize) -> Vec<IpyCam> {
    let options = IpyCamOptions {
        video: Some(video.to_path_buf()),
        ..IpyCamOptions::default()
    };
    IpyCam::start_many(py, &vec![options; n]).expect("ipycam")
}

/// One overlay message of one camera: when the frame reached Vigil (unix ms) and its objects.
#[derive(Debug, Clone)]
pub struct OverlaySample {
    pub camera: String,
    pub t: i64,
    pub objects: Vec<serde_json::Value>,
}

/// Reads the overlay WebSockets of `cameras` from `vigil` (logged in with `cookie`) into a shared list,
/// in a thread of its own, until the returned flag is set.
pub fn read_overlays(
    port: u16,
    cert_pem: &[u8],
    cookie: &str,
    cameras: &[&str],
) -> (
    Arc<Mutex<Vec<OverlaySample>>>,
    Arc<std::sync::atomic::AtomicBool>,
) {
    use futures_util::StreamExt;
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cert_pem).expect("certificate"))
        .expect("root");
    let tls = Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cameras: Vec<String> = cameras.iter().map(|c| c.to_string()).collect();
    let (out, done) = (samples.clone(), stop.clone());
    let cookie = cookie.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut tasks = Vec::new();
            for camera in cameras {
                let url = format!("wss://127.0.0.1:{port}/api/cameras/{camera}/overlay");
                let mut req = url.into_client_request().expect("request");
                req.headers_mut()
                    .insert("cookie", cookie.parse().expect("cookie"));
                req.headers_mut().insert(
                    "origin",
                    format!("https://127.0.0.1:{port}").parse().expect("origin"),
                );
                let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .expect("connect");
                let stream = tokio_rustls::TlsConnector::from(tls.clone())
                    .connect(
                        ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()),
                        tcp,
                    )
                    .await
                    .expect("TLS");
                let (mut ws, _) = tokio_tungstenite::client_async(req, stream)
                    .await
                    .expect("overlay WebSocket");
                let (out, done) = (out.clone(), done.clone());
                tasks.push(tokio::spawn(async move {
                    while let Some(Ok(msg)) = ws.next().await {
                        if done.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let Message::Text(text) = msg else { continue };
                        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
                            continue;
                        };
                        let Some(t) = v["t"].as_i64() else { continue };
                        out.lock().unwrap().push(OverlaySample {
                            camera: camera.clone(),
                            t,
                            objects: v["objects"].as_array().cloned().unwrap_or_default(),
                        });
                    }
                }));
            }
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            for t in tasks {
                t.abort();
            }
        });
    });
    (samples, stop)
}
