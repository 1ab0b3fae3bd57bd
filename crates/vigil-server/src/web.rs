//! The web UI, built into the binary: every file under `web/` at the repository root, embedded at build
//! time (see `build.rs`) and served through [`Assets`]: `/` is `web/index.html`, `/assets/<path>` is
//! `web/assets/<path>`.

use crate::context::{Asset, Assets};
use std::borrow::Cow;

/// Every embedded file: (path under `web/`, bytes).
static FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/web_files.rs"));

/// The embedded web UI.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebAssets;

impl WebAssets {
    /// Paths of every embedded file, relative to `web/`.
    pub fn files() -> impl Iterator<Item = &'static str> {
        FILES.iter().map(|(p, _)| *p)
    }

    fn file(path: &str) -> Option<&'static [u8]> {
        FILES.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
    }
}

impl Assets for WebAssets {
    fn get(&self, path: &str) -> Option<Asset> {
        let bytes = if path == "index.html" {
            Self::file("index.html")?
        } else {
            Self::file(&format!("assets/{path}"))?
        };
        Some(Asset {
            bytes: Cow::Borrowed(bytes),
            content_type: content_type(path),
        })
    }
}

/// `Content-Type` by file extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative module specifiers (`from './x.js'`, `import('./views/y.js')`) in a JS file.
    fn imports(js: &str) -> Vec<String> {
        let mut out = Vec::new();
        for pat in ["from '", "import('"] {
            let mut rest = js;
            while let Some(i) = rest.find(pat) {
                rest = &rest[i + pat.len()..];
                if let Some(end) = rest.find('\'') {
                    if rest.starts_with('.') {
                        out.push(rest[..end].to_string());
                    }
                    rest = &rest[end..];
                }
            }
        }
        out
    }

    /// Resolves `spec` relative to the file at `from` (both under `web/assets`).
    fn resolve(from: &str, spec: &str) -> String {
        let mut parts: Vec<&str> = from.split('/').collect();
        parts.pop();
        for seg in spec.split('/') {
            match seg {
                "." => {}
                ".." => {
                    parts.pop();
                }
                s => parts.push(s),
            }
        }
        parts.join("/")
    }

    #[test]
    fn index_and_every_file_it_loads_are_embedded() {
        let index = WebAssets.get("index.html").expect("index.html embedded");
        assert_eq!(index.content_type, "text/html; charset=utf-8");
        let html = std::str::from_utf8(&index.bytes).unwrap();
        let mut referenced = 0;
        for attr in ["src=\"/assets/", "href=\"/assets/"] {
            for piece in html.split(attr).skip(1) {
                let path = &piece[..piece.find('"').unwrap()];
                assert!(
                    WebAssets.get(path).is_some(),
                    "index.html loads missing {path}"
                );
                referenced += 1;
            }
        }
        assert!(referenced >= 3, "{referenced}");
        assert!(WebAssets.get("nope.js").is_none());
    }

    #[test]
    fn every_module_import_resolves_to_an_embedded_file() {
        let mut checked = 0;
        for path in WebAssets::files().filter(|p| p.ends_with(".js")) {
            let rel = path.strip_prefix("assets/").unwrap();
            let js = std::str::from_utf8(WebAssets.get(rel).unwrap().bytes.as_ref())
                .unwrap()
                .to_string();
            for spec in imports(&js) {
                let target = resolve(rel, &spec);
                assert!(
                    WebAssets.get(&target).is_some(),
                    "{path} imports {spec}: assets/{target} is not embedded"
                );
                checked += 1;
            }
        }
        assert!(checked >= 20, "only {checked} imports found");
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type("views/grid.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("app.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("icon.svg"), "image/svg+xml");
        assert_eq!(content_type("x"), "application/octet-stream");
    }
}
