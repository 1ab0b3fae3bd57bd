//! Loading ONNX Runtime: missing and broken libraries give clean errors, then the real one loads once.
//!
//! One test function on purpose: ONNX Runtime can be loaded only once per process, so the failure cases must
//! run before the successful load, in this order, in this (separate) test binary.

use std::path::Path;
use vigil_vision::runtime::{ORT_DYLIB_ENV, Runtime, RuntimeError, default_threads};

#[test]
fn library_errors_then_a_single_successful_load() {
    let tmp = tempfile::tempdir().unwrap();

    let missing = tmp.path().join("nowhere/libonnxruntime.so");
    let err = Runtime::init(Some(&missing)).unwrap_err();
    assert!(matches!(err, RuntimeError::LibraryMissing { .. }), "{err}");
    assert!(err.to_string().contains(&missing.display().to_string()));

    let garbage = tmp.path().join("libonnxruntime.so");
    std::fs::write(&garbage, b"not a shared library").unwrap();
    let err = Runtime::init(Some(&garbage)).unwrap_err();
    assert!(matches!(err, RuntimeError::Load { .. }), "{err}");
    assert!(err.to_string().contains(&garbage.display().to_string()));
    assert!(Runtime::get().is_none());

    let Some(real) = std::env::var_os(ORT_DYLIB_ENV) else {
        eprintln!("SKIP (success part): {ORT_DYLIB_ENV} not set (source dev/install-deps)");
        return;
    };
    let rt = Runtime::init(None).unwrap();
    assert_eq!(
        rt.library(),
        Path::new(&real).canonicalize().unwrap().as_path()
    );
    // Same library again (explicitly or not): the same runtime.
    assert_eq!(
        Runtime::init(Some(Path::new(&real))).unwrap().library(),
        rt.library()
    );
    assert!(Runtime::get().is_some());
    // A different library cannot be loaded into the same process.
    let err = Runtime::init(Some(&garbage)).unwrap_err();
    assert!(matches!(err, RuntimeError::AlreadyLoaded { .. }), "{err}");
    // Sessions can be configured with any thread count.
    assert!(rt.session_builder(Some(1)).is_ok());
    assert!(rt.session_builder(None).is_ok());
    assert!(default_threads() >= 1);
}
