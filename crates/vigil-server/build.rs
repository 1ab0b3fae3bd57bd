//! Embeds the web UI (`web/` at the repository root, but for the hub's `web/hub/`) into the crate: a table
//! of every file under `web/` with its bytes (`include_bytes!`), regenerated whenever anything under `web/`
//! changes. No bundler, no npm: the UI is plain HTML, CSS and ES modules.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let web = manifest.join("../../web");
    println!("cargo:rerun-if-changed={}", web.display());
    let mut files = Vec::new();
    collect(&web, &web, &mut files);
    files.sort();
    let mut out = String::from("&[\n");
    for (rel, abs) in files {
        let _ = writeln!(out, "    ({rel:?}, include_bytes!({abs:?})),");
    }
    out.push_str("]\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("web_files.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("writing {}: {e}", dest.display());
    }
}

/// Every regular file under `dir`, as (path relative to `root` with `/` separators, absolute path).
fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // `web/hub/` is the hub's UI (embedded by vigil-hub), not the site's.
        if name.starts_with('.') || (dir == root && name == "hub") {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, out);
        } else if let (Ok(rel), Ok(abs)) = (path.strip_prefix(root), path.canonicalize()) {
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push((rel.join("/"), abs.to_string_lossy().into_owned()));
        }
    }
}
