//! Helpers shared by the end-to-end tests of `vigil analyze`: the shared footage and models, and running
//! the real binary on them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared` beside the project root.
pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// True when `video`, the shared models and ONNX Runtime are there; otherwise prints a `SKIP:` line.
pub fn ready(video: &Path) -> bool {
    if !video.is_file() || !shared().join("models/yolox_nano_416.onnx").is_file() {
        eprintln!(
            "SKIP: {} or the shared models not found (../shared absent)",
            video.display()
        );
        return false;
    }
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        eprintln!("SKIP: ORT_DYLIB_PATH not set (source dev/install-deps)");
        return false;
    }
    true
}

/// Runs `vigil analyze ARGS --models ../shared/models --quiet`.
pub fn analyze(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("analyze")
        .args(args)
        .arg("--models")
        .arg(shared().join("models"))
        .arg("--quiet")
        .output()
        .expect("vigil runs")
}
