//! A plain ONNX Runtime session for the models that are not COCO detectors (faces, plates): one image
//! input, every output copied out with its name and shape so the caller can pick them by name or shape.

use crate::detector::DetectorError;
use crate::runtime::Runtime;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::{Path, PathBuf};

/// One output of a run.
#[derive(Debug, Clone)]
pub struct Output {
    /// The graph's name for it.
    pub name: String,
    /// Its shape.
    pub shape: Vec<i64>,
    /// Its values, row-major.
    pub data: Vec<f32>,
}

/// A session on one model file.
pub struct OnnxModel {
    session: Session,
    input: String,
    path: PathBuf,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("path", &self.path)
            .field("input", &self.input)
            .finish_non_exhaustive()
    }
}

impl OnnxModel {
    /// A session on the verified `bytes` of the model at `path`, with `threads` intra-op threads and no
    /// spinning (these models run beside the detector and must not burn its cores while idle).
    pub fn new(
        runtime: &Runtime,
        path: &Path,
        bytes: &[u8],
        threads: usize,
    ) -> Result<Self, DetectorError> {
        let load_err = |reason: String| DetectorError::Load {
            path: path.to_path_buf(),
            reason,
        };
        let session = session(runtime, path, bytes, threads)?;
        let input = session
            .inputs()
            .first()
            .map(|i| i.name().to_string())
            .ok_or_else(|| load_err("the model has no input".into()))?;
        Ok(Self {
            session,
            input,
            path: path.to_path_buf(),
        })
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs the model on one NCHW float input of `shape` and returns every output.
    pub fn run(&mut self, shape: [usize; 4], input: &[f32]) -> Result<Vec<Output>, DetectorError> {
        let run_err = |reason: String| DetectorError::Run {
            path: self.path.clone(),
            reason,
        };
        let tensor =
            TensorRef::from_array_view((shape, input)).map_err(|e| run_err(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(|e| run_err(e.to_string()))?;
        let mut out = Vec::with_capacity(outputs.len());
        for (name, value) in outputs.iter() {
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| run_err(format!("output `{name}`: {e}")))?;
            out.push(Output {
                name: name.to_string(),
                shape: shape.iter().copied().collect(),
                data: data.to_vec(),
            });
        }
        Ok(out)
    }
}

/// A session on the verified `bytes` of the model at `path`, with `threads` intra-op threads and no
/// spinning (models that run beside the detector must not burn its cores while idle).
pub(crate) fn session(
    runtime: &Runtime,
    path: &Path,
    bytes: &[u8],
    threads: usize,
) -> Result<Session, DetectorError> {
    let load_err = |reason: String| DetectorError::Load {
        path: path.to_path_buf(),
        reason,
    };
    let mut builder = runtime
        .session_builder(Some(threads))?
        .with_intra_op_spinning(false)
        .map_err(|e| load_err(e.to_string()))?;
    builder
        .commit_from_memory(bytes)
        .map_err(|e| load_err(e.to_string()))
}

/// The output called `name`, or an error naming what the model has.
pub(crate) fn by_name<'a>(outputs: &'a [Output], name: &str) -> Result<&'a Output, String> {
    outputs.iter().find(|o| o.name == name).ok_or_else(|| {
        format!(
            "output `{name}` missing (the model has {})",
            outputs
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}
