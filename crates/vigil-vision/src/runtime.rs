//! ONNX Runtime, loaded once per process from a shared library (`ort`'s `load-dynamic`).
//!
//! The library comes from an explicit path or from `ORT_DYLIB_PATH` (set by `dev/install-deps`). ONNX Runtime
//! allows one environment per process, so [`Runtime::init`] creates it on the first call and hands out the
//! same runtime afterwards; asking for a different library later is an error rather than a silent mismatch.

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::SessionBuilder;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use thiserror::Error;

/// The environment variable naming the ONNX Runtime shared library.
pub const ORT_DYLIB_ENV: &str = "ORT_DYLIB_PATH";

/// Errors loading ONNX Runtime or creating sessions.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// No library path was given and `ORT_DYLIB_PATH` is unset.
    #[error(
        "ONNX Runtime library not configured: set {ORT_DYLIB_ENV} (`source dev/install-deps`) or pass its path"
    )]
    NotConfigured,
    /// No library in any of the places searched.
    #[error(
        "ONNX Runtime library ({}) not found; looked in: {}. Set {ORT_DYLIB_ENV} to its path, or put it beside the vigil binary (`./dev/install-deps` fetches it into .vigil-cache/)",
        crate::ort_library::LIBRARY_NAME,
        searched.join(", ")
    )]
    NotFound {
        /// Every place that was searched, in order.
        searched: Vec<String>,
    },
    /// The library file does not exist.
    #[error("ONNX Runtime library {path} does not exist")]
    LibraryMissing {
        /// The path that was tried.
        path: PathBuf,
    },
    /// The library exists but could not be loaded (not a shared library, wrong version...).
    #[error("cannot load ONNX Runtime library {path}: {reason}")]
    Load {
        /// The library path.
        path: PathBuf,
        /// What the loader said.
        reason: String,
    },
    /// ONNX Runtime is already loaded from another library in this process.
    #[error("ONNX Runtime is already loaded from {loaded}; cannot also load {requested}")]
    AlreadyLoaded {
        /// The library in use.
        loaded: PathBuf,
        /// The library asked for.
        requested: PathBuf,
    },
    /// Creating the environment or a session builder failed.
    #[error("ONNX Runtime: {0}")]
    Ort(String),
}

/// A handle on the process-wide ONNX Runtime environment. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Runtime {
    env: Environment,
    library: PathBuf,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

impl Runtime {
    /// Loads ONNX Runtime from `library`, or from `ORT_DYLIB_PATH` when `None`, once per process.
    /// Later calls return the same runtime when they name the same library (or none).
    pub fn init(library: Option<&Path>) -> Result<Runtime, RuntimeError> {
        let requested = match library {
            Some(p) => Some(p.to_path_buf()),
            None => std::env::var_os(ORT_DYLIB_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        };
        if let Some(rt) = RUNTIME.get() {
            return rt.check_same(requested.as_deref());
        }
        let _guard = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rt) = RUNTIME.get() {
            return rt.check_same(requested.as_deref());
        }
        let path = requested.ok_or(RuntimeError::NotConfigured)?;
        if !path.is_file() {
            return Err(RuntimeError::LibraryMissing { path });
        }
        let load_err = |reason: String| RuntimeError::Load {
            path: path.clone(),
            reason,
        };
        let builder = ort::init_from(&path).map_err(|e| load_err(e.to_string()))?;
        let env = builder
            .with_name("vigil")
            .build()
            .map_err(|e| load_err(e.to_string()))?;
        let library = path.canonicalize().unwrap_or(path);
        tracing::info!(library = %library.display(), "ONNX Runtime loaded");
        Ok(RUNTIME.get_or_init(|| Runtime { env, library }).clone())
    }

    /// The runtime if it has been initialised, without loading anything.
    pub fn get() -> Option<Runtime> {
        RUNTIME.get().cloned()
    }

    fn check_same(&self, requested: Option<&Path>) -> Result<Runtime, RuntimeError> {
        match requested {
            None => Ok(self.clone()),
            Some(p) => {
                let canon = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
                if canon == self.library {
                    Ok(self.clone())
                } else if !p.exists() {
                    Err(RuntimeError::LibraryMissing {
                        path: p.to_path_buf(),
                    })
                } else {
                    Err(RuntimeError::AlreadyLoaded {
                        loaded: self.library.clone(),
                        requested: p.to_path_buf(),
                    })
                }
            }
        }
    }

    /// The shared library in use (canonical path).
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// The ONNX Runtime environment.
    pub fn environment(&self) -> &Environment {
        &self.env
    }

    /// A session builder with `intra_threads` intra-op threads (default: [`default_threads`]) and one
    /// inter-op thread. Graph optimisation is ONNX Runtime's default (all optimisations).
    pub fn session_builder(
        &self,
        intra_threads: Option<usize>,
    ) -> Result<SessionBuilder, RuntimeError> {
        let threads = intra_threads.unwrap_or_else(default_threads).max(1);
        let ort_err = |e: ort::Error| RuntimeError::Ort(e.to_string());
        let builder = Session::builder(&self.env).map_err(ort_err)?;
        let builder = builder
            .with_intra_threads(threads)
            .map_err(|e| ort_err(ort::Error::from(e)))?;
        builder
            .with_inter_threads(1)
            .map_err(|e| ort_err(ort::Error::from(e)))
    }
}

/// The number of cores this process may use (at least 1).
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}
