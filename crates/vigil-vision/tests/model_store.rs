//! The model store against real files and a real HTTP server on loopback (std `TcpListener`).

mod common;

use common::{models_dir, spec};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use vigil_vision::model::{DownloadProgress, ModelError, ModelSpec, ModelStore, sha256_hex};

/// A loopback HTTP/1.1 server answering every GET with `status` and `body`; counts the requests.
struct Server {
    url: String,
    hits: Arc<AtomicUsize>,
}

fn serve(status: u16, body: Vec<u8>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/models/file.onnx", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            // Read the request head up to the blank line.
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if line == "\r\n" {
                    break;
                }
                line.clear();
            }
            let reason = if status == 200 { "OK" } else { "Not Found" };
            let head = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
            let _ = stream.flush();
        }
    });
    Server { url, hits }
}

fn with_url(spec: ModelSpec, url: &str) -> ModelSpec {
    ModelSpec {
        url: Some(url.to_string()),
        ..spec
    }
}

/// Files left in a directory (to prove that failed downloads leave nothing behind).
fn entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn resolves_from_the_configured_directory_and_verifies() {
    let Some(dir) = models_dir("resolves_from_the_configured_directory_and_verifies") else {
        return;
    };
    let empty = tempfile::tempdir().unwrap();
    let store = ModelStore::new(vec![empty.path().to_path_buf(), dir.clone()], None);
    for name in ["yolox-nano", "nanodet", "person-192"] {
        let m = store.load_by_name(name).unwrap();
        assert_eq!(m.path, dir.join(&m.spec.file_name));
        assert_eq!(sha256_hex(&m.bytes), m.spec.sha256);
    }
    let err = store.load_by_name("yolo-huge").unwrap_err().to_string();
    assert!(
        err.contains("yolo-huge") && err.contains("yolox-nano"),
        "{err}"
    );
}

#[test]
fn a_tampered_file_is_refused_naming_file_and_hashes() {
    let Some(dir) = models_dir("a_tampered_file_is_refused_naming_file_and_hashes") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(dir.join("yolox_nano_416.onnx")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    let tampered = tmp.path().join("yolox_nano_416.onnx");
    std::fs::write(&tampered, &bytes).unwrap();
    // The tampered copy comes first: it is refused, not skipped in favour of the good one.
    let store = ModelStore::new(vec![tmp.path().to_path_buf(), dir], None);
    let err = store.load_by_name("yolox-nano").unwrap_err();
    let actual = sha256_hex(&bytes);
    match &err {
        ModelError::HashMismatch {
            path,
            expected,
            actual: got,
        } => {
            assert_eq!(path, &tampered);
            assert_eq!(expected, &spec("yolox-nano").sha256);
            assert_eq!(got, &actual);
        }
        other => panic!("expected a hash mismatch, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&tampered.display().to_string())
            && msg.contains(&actual)
            && msg.contains(&spec("yolox-nano").sha256),
        "{msg}"
    );
}

#[test]
fn a_missing_model_is_downloaded_verified_and_cached() {
    let Some(dir) = models_dir("a_missing_model_is_downloaded_verified_and_cached") else {
        return;
    };
    let real = std::fs::read(dir.join("light_person_detector_192.onnx")).unwrap();
    let server = serve(200, real.clone());
    let empty = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("nested/models");
    let store = ModelStore::new(vec![empty.path().to_path_buf()], Some(cache_dir.clone()));
    let model = with_url(spec("person-192"), &server.url);

    let mut reports: Vec<DownloadProgress> = Vec::new();
    let m = store
        .load_with_progress(&model, &mut |p| reports.push(p))
        .unwrap();
    assert_eq!(m.bytes, real);
    assert_eq!(m.path, cache_dir.join("light_person_detector_192.onnx"));
    assert_eq!(std::fs::read(&m.path).unwrap(), real);
    assert_eq!(entries(&cache_dir), vec!["light_person_detector_192.onnx"]);
    // Progress grows to the announced total.
    let last = reports.last().copied().unwrap();
    assert_eq!(
        last,
        DownloadProgress {
            downloaded: real.len() as u64,
            total: Some(real.len() as u64)
        }
    );
    assert!(
        reports
            .windows(2)
            .all(|w| w[0].downloaded < w[1].downloaded)
    );
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);

    // Second time it comes from the cache, with no request.
    let again = store.load(&model).unwrap();
    assert_eq!(again.path, m.path);
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

#[test]
fn wrong_bytes_from_the_server_are_discarded() {
    let Some(dir) = models_dir("wrong_bytes_from_the_server_are_discarded") else {
        return;
    };
    // A real model file, but not the one pinned for yolox-nano.
    let other = std::fs::read(dir.join("light_person_detector_192.onnx")).unwrap();
    let server = serve(200, other.clone());
    let cache = tempfile::tempdir().unwrap();
    let store = ModelStore::new(vec![], Some(cache.path().to_path_buf()));
    let err = store
        .load(&with_url(spec("yolox-nano"), &server.url))
        .unwrap_err();
    match &err {
        ModelError::DownloadHashMismatch {
            url,
            expected,
            actual,
        } => {
            assert_eq!(url, &server.url);
            assert_eq!(expected, &spec("yolox-nano").sha256);
            assert_eq!(actual, &sha256_hex(&other));
        }
        other => panic!("expected a download hash mismatch, got {other}"),
    }
    assert!(err.to_string().contains(&server.url));
    assert!(
        entries(cache.path()).is_empty(),
        "{:?}",
        entries(cache.path())
    );
}

#[test]
fn http_errors_and_disabled_downloads_are_reported() {
    let server = serve(404, b"no such model".to_vec());
    let cache = tempfile::tempdir().unwrap();
    let store = ModelStore::new(vec![], Some(cache.path().to_path_buf()));
    let model = with_url(spec("yolox-nano"), &server.url);
    let err = store.load(&model).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::Download { .. }), "{msg}");
    assert!(msg.contains("404") && msg.contains(&server.url), "{msg}");
    assert!(entries(cache.path()).is_empty());

    // Nothing listening: a connection error naming the URL.
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/m.onnx", l.local_addr().unwrap())
    };
    let err = store
        .load(&with_url(spec("yolox-nano"), &closed))
        .unwrap_err();
    assert!(err.to_string().contains(&closed), "{err}");

    // Downloads off, or no cache directory: not found, saying where it looked and why.
    let off = ModelStore::new(
        vec![cache.path().to_path_buf()],
        Some(cache.path().join("c")),
    )
    .with_downloads(false);
    let msg = off.load(&model).unwrap_err().to_string();
    assert!(
        msg.contains("yolox_nano_416.onnx") && msg.contains("disabled"),
        "{msg}"
    );
    let msg = ModelStore::new(vec![], None)
        .load(&model)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no cache directory"), "{msg}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}
