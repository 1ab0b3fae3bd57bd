//! Where inference runs: ONNX Runtime's CPU provider, or an execution provider for a GPU or accelerator
//! (CUDA, TensorRT, OpenVINO) when the loaded ONNX Runtime library has it (the `onnxruntime-gpu` or
//! `onnxruntime-openvino` builds; the default `onnxruntime` wheel is CPU only). A provider that is missing
//! or fails to start (no GPU, no driver) falls back to the CPU with a message saying why, so a setting
//! copied to a machine without a GPU never stops the system.

use ort::ep::ExecutionProvider;
use ort::session::builder::SessionBuilder;
pub use vigil_core::config::InferenceDevice;

/// What device a session ended up on, and why when it is not the one asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceChoice {
    /// The device asked for.
    pub requested: InferenceDevice,
    /// The device in use.
    pub used: InferenceDevice,
    /// Why `used` differs from `requested`.
    pub fallback: Option<String>,
}

/// Registers the execution provider for `device` on `builder`. On failure the builder is left for the
/// CPU and the returned choice says why.
pub fn register(builder: &mut SessionBuilder, device: InferenceDevice) -> DeviceChoice {
    let attempt = match device {
        InferenceDevice::Cpu => Ok(()),
        InferenceDevice::Cuda => try_register(builder, ort::ep::CUDA::default()),
        InferenceDevice::Tensorrt => try_register(builder, ort::ep::TensorRT::default())
            .and_then(|()| try_register(builder, ort::ep::CUDA::default())),
        InferenceDevice::Openvino => try_register(builder, ort::ep::OpenVINO::default()),
    };
    match attempt {
        Ok(()) => DeviceChoice {
            requested: device,
            used: device,
            fallback: None,
        },
        Err(reason) => {
            let fallback =
                format!("device = \"{device}\" is not usable here ({reason}); running on the CPU");
            tracing::warn!("{fallback}");
            DeviceChoice {
                requested: device,
                used: InferenceDevice::Cpu,
                fallback: Some(fallback),
            }
        }
    }
}

fn try_register<E: ExecutionProvider>(builder: &mut SessionBuilder, ep: E) -> Result<(), String> {
    match E::is_available() {
        Ok(true) => {}
        Ok(false) => {
            return Err(format!(
                "this ONNX Runtime library has no {}: it is a build without it (install the GPU or OpenVINO \
                 build of ONNX Runtime and point ORT_DYLIB_PATH at its libonnxruntime.so)",
                E::NAME
            ));
        }
        Err(e) => return Err(format!("{}: {e}", E::NAME)),
    }
    ep.register(builder)
        .map_err(|e| format!("{} failed to start: {e}", E::NAME))
}
