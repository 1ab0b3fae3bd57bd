//! Finding the ONNX Runtime shared library on a machine, so that a command works without `ORT_DYLIB_PATH`.
//!
//! The caller says where to look (its own install layout: beside the binary, a project cache, system
//! directories); [`locate`] returns the first library found and, when there is none, every place it looked,
//! so the error tells the operator exactly what was searched.

use crate::runtime::{ORT_DYLIB_ENV, RuntimeError};
use std::path::{Path, PathBuf};

/// The library's file name on Linux (versioned files such as `libonnxruntime.so.1.31.1` are found too).
pub const LIBRARY_NAME: &str = "libonnxruntime.so";

/// One place to look for the library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A directory holding `libonnxruntime.so` or a versioned `libonnxruntime.so.X.Y.Z`.
    Dir(PathBuf),
    /// Directories matching `parent/prefix*` (e.g. a cache's `onnxruntime-1.31.1/`), newest name first.
    DirsWithPrefix {
        /// The directory holding them.
        parent: PathBuf,
        /// The start of their names.
        prefix: String,
    },
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Dir(d) => write!(f, "{}", d.display()),
            Place::DirsWithPrefix { parent, prefix } => {
                write!(f, "{}", parent.join(format!("{prefix}*")).display())
            }
        }
    }
}

/// The library named by `ORT_DYLIB_PATH`, when that variable is set (an explicit choice: it must exist).
pub fn from_env() -> Option<PathBuf> {
    std::env::var_os(ORT_DYLIB_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The first library found in `places`, in order; [`RuntimeError::NotFound`] listing every place otherwise.
pub fn locate(places: &[Place]) -> Result<PathBuf, RuntimeError> {
    for place in places {
        let found = match place {
            Place::Dir(dir) => library_in(dir),
            Place::DirsWithPrefix { parent, prefix } => {
                let mut dirs: Vec<PathBuf> = std::fs::read_dir(parent)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(prefix.as_str()))
                    .map(|e| e.path())
                    .collect();
                dirs.sort();
                dirs.iter().rev().find_map(|d| library_in(d))
            }
        };
        if let Some(path) = found {
            return Ok(path);
        }
    }
    Err(RuntimeError::NotFound {
        searched: places.iter().map(ToString::to_string).collect(),
    })
}

/// `dir/libonnxruntime.so`, else the highest versioned `dir/libonnxruntime.so.*`.
fn library_in(dir: &Path) -> Option<PathBuf> {
    let plain = dir.join(LIBRARY_NAME);
    if plain.is_file() {
        return Some(plain);
    }
    let mut versioned: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{LIBRARY_NAME}."))
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    versioned.sort();
    versioned.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_place_with_a_library_and_lists_all_places_otherwise() {
        let tmp = tempfile::tempdir().unwrap();
        let empty = tmp.path().join("empty");
        let cache = tmp.path().join("cache");
        std::fs::create_dir_all(&empty).unwrap();
        std::fs::create_dir_all(cache.join("onnxruntime-1.2.0")).unwrap();
        std::fs::create_dir_all(cache.join("onnxruntime-1.31.1")).unwrap();
        std::fs::write(cache.join("onnxruntime-1.2.0/libonnxruntime.so"), b"old").unwrap();
        std::fs::write(
            cache.join("onnxruntime-1.31.1/libonnxruntime.so.1.31.1"),
            b"new",
        )
        .unwrap();
        let places = vec![
            Place::Dir(empty.clone()),
            Place::DirsWithPrefix {
                parent: cache.clone(),
                prefix: "onnxruntime-".into(),
            },
        ];
        assert_eq!(
            locate(&places).unwrap(),
            cache.join("onnxruntime-1.31.1/libonnxruntime.so.1.31.1")
        );
        let places = vec![
            Place::Dir(empty.clone()),
            Place::Dir(tmp.path().join("missing")),
        ];
        let err = locate(&places).unwrap_err().to_string();
        assert!(err.contains(&empty.display().to_string()), "{err}");
        assert!(err.contains("missing"), "{err}");
        assert!(err.contains(ORT_DYLIB_ENV), "{err}");
    }
}
