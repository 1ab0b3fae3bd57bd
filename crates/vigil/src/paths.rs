//! Where Vigil finds the shared footage and models during development and evaluation.

use std::path::PathBuf;

/// The shared data directory (footage and models): `$VIGIL_SHARED`, else `../shared` from the working
/// directory, else `../shared` beside the source checkout this binary was built from.
pub fn shared_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VIGIL_SHARED") {
        return PathBuf::from(dir);
    }
    let from_cwd = PathBuf::from("../shared");
    if from_cwd.is_dir() {
        return from_cwd;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// `shared_dir()/footage`.
pub fn footage_dir() -> PathBuf {
    shared_dir().join("footage")
}

/// `shared_dir()/models`.
pub fn models_dir() -> PathBuf {
    shared_dir().join("models")
}
