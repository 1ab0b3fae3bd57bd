//! Loading detectors the same way in every command: ONNX Runtime found by [`runtime`], models from the
//! shared models directory (development) or the cache, verified by sha256.

use crate::paths;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;
use vigil_pipeline::DetectorPool;
use vigil_vision::detector::DetectorConfig;
use vigil_vision::device::InferenceDevice;
use vigil_vision::model::{ModelAsset, ModelFile, ModelStore};
use vigil_vision::ort_library::{self, Place};
use vigil_vision::runtime::Runtime;

/// Loads ONNX Runtime once per process from the library `ORT_DYLIB_PATH` names when it is set (the
/// operator's explicit choice), else the first one found in [`ort_search_places`]; when there is none the
/// error lists every place searched.
pub fn runtime() -> anyhow::Result<Runtime> {
    if let Some(rt) = Runtime::get() {
        return Ok(rt);
    }
    let library = match ort_library::from_env() {
        Some(path) => path,
        None => ort_library::locate(&ort_search_places())?,
    };
    Runtime::init(Some(&library)).context("loading ONNX Runtime")
}

/// Where Vigil looks for `libonnxruntime.so`, in order: beside the binary (and its `lib/`, `../lib/`),
/// the project's cache (`.vigil-cache/onnxruntime-*`, which `dev/install-deps` fills) above the binary
/// and above the working directory, then the system library directories (`LD_LIBRARY_PATH` first).
pub fn ort_search_places() -> Vec<Place> {
    let mut places = Vec::new();
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.canonicalize().ok())
        .and_then(|p| p.parent().map(PathBuf::from));
    if let Some(dir) = &exe_dir {
        places.push(Place::Dir(dir.clone()));
        places.push(Place::Dir(dir.join("lib")));
        if let Some(parent) = dir.parent() {
            places.push(Place::Dir(parent.join("lib")));
        }
    }
    let cwd = std::env::current_dir().ok();
    for start in exe_dir.iter().chain(cwd.iter()) {
        for dir in start.ancestors() {
            let cache = dir.join(".vigil-cache");
            if cache.is_dir() {
                let place = Place::DirsWithPrefix {
                    parent: cache,
                    prefix: "onnxruntime-".into(),
                };
                if !places.contains(&place) {
                    places.push(place);
                }
                break;
            }
        }
    }
    if let Some(paths) = std::env::var_os("LD_LIBRARY_PATH") {
        places.extend(
            std::env::split_paths(&paths)
                .filter(|p| !p.as_os_str().is_empty())
                .map(Place::Dir),
        );
    }
    for dir in [
        "/usr/local/lib",
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
    ] {
        places.push(Place::Dir(PathBuf::from(dir)));
    }
    places
}

/// ONNX Runtime and one verified model file.
pub struct LoadedModel {
    /// The runtime (loaded once per process).
    pub runtime: Runtime,
    /// The verified model.
    pub model: ModelFile,
}

/// Loads ONNX Runtime and the model `name`, looking in `models_dir` (default: the shared models
/// directory) and then the cache (downloading and verifying it there when missing).
pub fn load(name: &str, models_dir: Option<PathBuf>) -> anyhow::Result<LoadedModel> {
    let runtime = runtime()?;
    let dir = models_dir.unwrap_or_else(paths::models_dir);
    let store = ModelStore::new(vec![dir], ModelStore::default_cache_dir());
    let model = store
        .load_by_name(name)
        .with_context(|| format!("resolving model `{name}`"))?;
    Ok(LoadedModel { runtime, model })
}

/// ONNX Runtime and the model files of a models directory (then the download cache), for the models
/// loaded by asset: faces, plates, re-identification.
pub struct Assets {
    /// The runtime (loaded once per process).
    pub runtime: Runtime,
    dir: PathBuf,
    store: ModelStore,
}

impl Assets {
    /// Models from `models_dir` (default: the shared models directory), then the cache.
    pub fn open(models_dir: Option<PathBuf>) -> anyhow::Result<Assets> {
        let dir = models_dir.unwrap_or_else(paths::models_dir);
        Ok(Assets {
            runtime: runtime()?,
            store: ModelStore::new(vec![dir.clone()], ModelStore::default_cache_dir()),
            dir,
        })
    }

    /// The verified file of `asset` and its bytes; the error names the model, its file and where it was
    /// looked for.
    pub fn load(&self, asset: &ModelAsset) -> anyhow::Result<(PathBuf, Vec<u8>)> {
        self.store.load_asset(asset).with_context(|| {
            format!(
                "the {} model ({}) is not in {} nor the download cache",
                asset.name,
                asset.file_name,
                self.dir.display()
            )
        })
    }
}

impl LoadedModel {
    /// A pool of `workers` detectors with `threads` intra-op threads each (`None`: all cores).
    pub fn pool(
        &self,
        config: DetectorConfig,
        workers: usize,
    ) -> anyhow::Result<Arc<DetectorPool>> {
        Ok(Arc::new(DetectorPool::new(
            &self.runtime,
            &self.model,
            config,
            workers,
        )?))
    }
}

/// Detector settings for tracking: a low score threshold so the tracker's second association sees the
/// low-score boxes ByteTrack relies on; inference on `device` (the CPU when it is not usable, said once).
pub fn tracking_detector_config(threads: Option<usize>, device: InferenceDevice) -> DetectorConfig {
    DetectorConfig {
        threads,
        score_threshold: 0.1,
        device,
        ..DetectorConfig::default()
    }
}

/// Tells the operator when inference does not run where it was configured to.
pub fn report_device(pool: &DetectorPool) {
    let choice = pool.with(|d| d.device().clone());
    match &choice.fallback {
        Some(why) => eprintln!("vigil: {why}"),
        None => tracing::info!(device = %choice.used, "inference device"),
    }
}
