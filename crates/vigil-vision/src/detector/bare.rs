//! A bare ONNX Runtime session on the same model and threads as a [`Detector`], for benchmarks: it times
//! the `run` call alone with nothing of ours around it, so `StageTimings::inference` can be compared with it.

use super::{Detector, DetectorConfig, DetectorError, build_session, layout};
use crate::model::ModelFile;
use crate::runtime::Runtime;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A session built exactly like a detector's, fed a caller-supplied input.
pub struct BareSession {
    session: Session,
    input_name: String,
    size: usize,
    path: PathBuf,
}

impl std::fmt::Debug for BareSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BareSession")
            .field("path", &self.path)
            .field("input", &self.input_name)
            .finish_non_exhaustive()
    }
}

impl BareSession {
    /// A session for `model` built exactly as a [`Detector`] with `config` builds its own (threads, spinning).
    pub fn new(
        runtime: &Runtime,
        model: &ModelFile,
        config: &DetectorConfig,
    ) -> Result<Self, DetectorError> {
        let (session, _) = build_session(runtime, &model.path, &model.bytes, config)?;
        let io = layout::validate(&session, &model.spec).map_err(|mismatch| {
            DetectorError::Mismatch {
                path: model.path.clone(),
                model: model.spec.name.clone(),
                mismatch,
            }
        })?;
        Ok(Self {
            session,
            input_name: io.input_name,
            size: model.spec.input_size as usize,
            path: model.path.clone(),
        })
    }

    /// Runs the model once on `input` (`3 * size * size` floats, e.g. [`Detector::input`]) and returns the
    /// duration of the `run` call.
    pub fn run(&mut self, input: &[f32]) -> Result<Duration, DetectorError> {
        let run_err = |reason: String| DetectorError::Run {
            path: self.path.clone(),
            reason,
        };
        let tensor = TensorRef::from_array_view(([1usize, 3, self.size, self.size], input))
            .map_err(|e| run_err(e.to_string()))?;
        let t = Instant::now();
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => tensor])
            .map_err(|e| run_err(e.to_string()))?;
        let elapsed = t.elapsed();
        drop(outputs);
        Ok(elapsed)
    }
}

impl Detector {
    /// The model input of the first region of the last detection call (CHW floats), for feeding a
    /// [`BareSession`].
    pub fn input(&self) -> &[f32] {
        self.preparer.last_input()
    }
}
