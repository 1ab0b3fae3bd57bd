//! Finding model files: configured directories first, then a cache directory, then a verified download.
//!
//! Whatever is loaded is checked against the spec's pinned sha256 and handed out as the verified bytes
//! ([`ModelFile`]), so the session is built from exactly the bytes that were checked. A file whose hash does not
//! match is refused, never skipped over: a tampered model is a security problem to report, not to work around.
//! Downloads go to a temporary file in the cache directory, are hashed while streaming, and are renamed into
//! place only when the hash matches.

use super::{ModelAsset, ModelSpec};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use thiserror::Error;

/// Largest download accepted (a guard against a hostile or broken server; the models are a few MB).
pub const MAX_DOWNLOAD_BYTES: u64 = 1 << 30;

/// Errors resolving, verifying or downloading a model.
#[derive(Debug, Error)]
pub enum ModelError {
    /// No built-in model has this name.
    #[error("unknown model `{name}` (known: {known})")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The built-in names.
        known: String,
    },
    /// The file is in no directory and cannot be downloaded.
    #[error("model `{name}`: {file_name} not found in {searched} and {why}")]
    NotFound {
        /// Model name.
        name: String,
        /// File name looked for.
        file_name: String,
        /// The directories searched, joined for display.
        searched: String,
        /// Why no download was attempted.
        why: &'static str,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A model file on disk does not have the pinned hash.
    #[error("refusing model file {path}: sha256 {actual} does not match the expected {expected}")]
    HashMismatch {
        /// The file.
        path: PathBuf,
        /// Pinned hash.
        expected: String,
        /// Hash of the file's contents.
        actual: String,
    },
    /// The download failed (connection, HTTP status, size limit).
    #[error("downloading {url}: {reason}")]
    Download {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The downloaded bytes do not have the pinned hash (nothing was installed).
    #[error(
        "downloaded {url}: sha256 {actual} does not match the expected {expected}; file discarded"
    )]
    DownloadHashMismatch {
        /// The URL.
        url: String,
        /// Pinned hash.
        expected: String,
        /// Hash of what was received.
        actual: String,
    },
}

/// A model file whose contents matched the pinned hash.
#[derive(Debug, Clone)]
pub struct ModelFile {
    /// The model's spec.
    pub spec: ModelSpec,
    /// Where the file was found (or downloaded to).
    pub path: PathBuf,
    /// The verified contents.
    pub bytes: Vec<u8>,
}

/// Download progress, reported after every chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadProgress {
    /// Bytes received so far.
    pub downloaded: u64,
    /// Total size when the server announced it.
    pub total: Option<u64>,
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Resolves models by name: configured directories, then the cache directory, then a download into the cache.
#[derive(Debug, Clone)]
pub struct ModelStore {
    dirs: Vec<PathBuf>,
    cache_dir: Option<PathBuf>,
    downloads: bool,
}

impl ModelStore {
    /// The development models directory, relative to the project root.
    pub const DEV_MODELS_DIR: &'static str = "../shared/models";

    /// A store searching `dirs` in order, then `cache_dir`, downloading into `cache_dir` when it is set.
    pub fn new(dirs: Vec<PathBuf>, cache_dir: Option<PathBuf>) -> Self {
        Self {
            dirs,
            cache_dir,
            downloads: true,
        }
    }

    /// The development store: `../shared/models`, then [`ModelStore::default_cache_dir`].
    pub fn development() -> Self {
        Self::new(
            vec![PathBuf::from(Self::DEV_MODELS_DIR)],
            Self::default_cache_dir(),
        )
    }

    /// `$XDG_CACHE_HOME/vigil/models`, else `$HOME/.cache/vigil/models`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("vigil").join("models"))
    }

    /// Turns downloading on or off (on by default when a cache directory is set).
    pub fn with_downloads(mut self, enabled: bool) -> Self {
        self.downloads = enabled;
        self
    }

    /// The directories searched before the cache.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The cache directory (searched last, where downloads go).
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// Loads the built-in model called `name`.
    pub fn load_by_name(&self, name: &str) -> Result<ModelFile, ModelError> {
        let spec = ModelSpec::builtin(name).ok_or_else(|| ModelError::UnknownModel {
            name: name.to_string(),
            known: super::builtin_models()
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        self.load(&spec)
    }

    /// Finds, verifies (and if needed downloads) the file of `spec`.
    pub fn load(&self, spec: &ModelSpec) -> Result<ModelFile, ModelError> {
        self.load_with_progress(spec, &mut |_| {})
    }

    /// As [`ModelStore::load`], reporting download progress.
    pub fn load_with_progress(
        &self,
        spec: &ModelSpec,
        progress: &mut dyn FnMut(DownloadProgress),
    ) -> Result<ModelFile, ModelError> {
        let (path, bytes) = self.find_verified(
            &spec.name,
            &spec.file_name,
            &spec.sha256,
            spec.url.as_deref(),
            progress,
        )?;
        Ok(ModelFile {
            spec: spec.clone(),
            path,
            bytes,
        })
    }

    /// Finds, verifies (and if needed downloads) a model that is not a detector (faces, plates,
    /// re-identification, OCR); returns where it was found and its verified bytes.
    pub fn load_asset(&self, asset: &ModelAsset) -> Result<(PathBuf, Vec<u8>), ModelError> {
        self.find_verified(
            asset.name,
            asset.file_name,
            asset.sha256,
            asset.url,
            &mut |_| {},
        )
    }

    fn find_verified(
        &self,
        name: &str,
        file_name: &str,
        sha256: &str,
        url: Option<&str>,
        progress: &mut dyn FnMut(DownloadProgress),
    ) -> Result<(PathBuf, Vec<u8>), ModelError> {
        let searched: Vec<&PathBuf> = self.dirs.iter().chain(self.cache_dir.iter()).collect();
        for dir in &searched {
            let path = dir.join(file_name);
            if path.is_file() {
                let bytes = read_verified(&path, sha256)?;
                tracing::debug!(model = %name, path = %path.display(), "model verified");
                return Ok((path, bytes));
            }
        }
        let not_found = |why| ModelError::NotFound {
            name: name.to_string(),
            file_name: file_name.to_string(),
            searched: searched
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            why,
        };
        let Some(cache) = self.cache_dir.as_deref() else {
            return Err(not_found("no cache directory is configured for downloads"));
        };
        if !self.downloads {
            return Err(not_found("downloads are disabled"));
        }
        let Some(url) = url else {
            return Err(not_found("the model has no download URL"));
        };
        std::fs::create_dir_all(cache).map_err(|source| ModelError::Io {
            path: cache.to_path_buf(),
            source,
        })?;
        let path = cache.join(file_name);
        tracing::info!(model = %name, url, "downloading model");
        let bytes = download_verified(url, &path, sha256, progress)?;
        Ok((path, bytes))
    }
}

/// Reads `path` and checks its sha256 against `expected` (lowercase hex).
pub fn read_verified(path: &Path, expected: &str) -> Result<Vec<u8>, ModelError> {
    let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let actual = sha256_hex(&bytes);
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(ModelError::HashMismatch {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(bytes)
}

/// Downloads `url` to `dest`: streams into a temporary file beside it while hashing, checks the hash, then
/// renames it into place (and syncs the directory). Returns the verified bytes. On any failure nothing is
/// left at `dest` and the temporary file is removed.
pub fn download_verified(
    url: &str,
    dest: &Path,
    expected_sha256: &str,
    progress: &mut dyn FnMut(DownloadProgress),
) -> Result<Vec<u8>, ModelError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = dest.parent().unwrap_or(Path::new("."));
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let tmp = dir.join(format!(
        ".{name}.{}.{}.part",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = download_to(url, &tmp, expected_sha256, progress).and_then(|bytes| {
        std::fs::rename(&tmp, dest).map_err(|source| ModelError::Io {
            path: dest.to_path_buf(),
            source,
        })?;
        // Make the rename durable; a failure here does not make the file wrong, so it is only logged.
        if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
            tracing::warn!(dir = %dir.display(), "cannot sync directory after download: {e}");
        }
        Ok(bytes)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn download_to(
    url: &str,
    tmp: &Path,
    expected_sha256: &str,
    progress: &mut dyn FnMut(DownloadProgress),
) -> Result<Vec<u8>, ModelError> {
    let dl_err = |reason: String| ModelError::Download {
        url: url.to_string(),
        reason,
    };
    let io_err = |source| ModelError::Io {
        path: tmp.to_path_buf(),
        source,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| dl_err(e.to_string()))?;
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if total.is_some_and(|t| t > MAX_DOWNLOAD_BYTES) {
        return Err(dl_err(format!(
            "{} bytes announced, more than the {MAX_DOWNLOAD_BYTES} byte limit",
            total.unwrap_or_default()
        )));
    }
    let mut reader = response.into_body().into_reader();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(io_err)?;
    let mut hasher = Sha256::new();
    let mut bytes = Vec::with_capacity(total.unwrap_or(0).min(64 << 20) as usize);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(|e| dl_err(e.to_string()))?;
        if n == 0 {
            break;
        }
        if bytes.len() as u64 + n as u64 > MAX_DOWNLOAD_BYTES {
            return Err(dl_err(format!(
                "more than the {MAX_DOWNLOAD_BYTES} byte limit"
            )));
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(io_err)?;
        bytes.extend_from_slice(&buf[..n]);
        progress(DownloadProgress {
            downloaded: bytes.len() as u64,
            total,
        });
    }
    file.sync_all().map_err(io_err)?;
    let actual = hex::encode(hasher.finalize());
    if !actual.eq_ignore_ascii_case(expected_sha256) {
        return Err(ModelError::DownloadHashMismatch {
            url: url.to_string(),
            expected: expected_sha256.to_string(),
            actual,
        });
    }
    Ok(bytes)
}
