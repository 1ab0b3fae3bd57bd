//! Loading detectors the same way in every command: ONNX Runtime from `ORT_DYLIB_PATH`, models from the
//! shared models directory (development) or the cache, verified by sha256.

use crate::paths;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;
use vigil_pipeline::DetectorPool;
use vigil_vision::detector::DetectorConfig;
use vigil_vision::model::{ModelFile, ModelStore};
use vigil_vision::runtime::Runtime;

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
    let runtime = Runtime::init(None)
        .context("loading ONNX Runtime (set ORT_DYLIB_PATH; dev/install-deps does)")?;
    let dir = models_dir.unwrap_or_else(paths::models_dir);
    let store = ModelStore::new(vec![dir], ModelStore::default_cache_dir());
    let model = store
        .load_by_name(name)
        .with_context(|| format!("resolving model `{name}`"))?;
    Ok(LoadedModel { runtime, model })
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
/// low-score boxes ByteTrack relies on.
pub fn tracking_detector_config(threads: Option<usize>) -> DetectorConfig {
    DetectorConfig {
        threads,
        score_threshold: 0.1,
        ..DetectorConfig::default()
    }
}
