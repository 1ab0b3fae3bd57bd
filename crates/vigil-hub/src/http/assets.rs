//! The hub's web UI (`web/hub/`: plain HTML, CSS and ES modules, no bundler), embedded at build time.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use vigil_server::ApiError;

/// Every file of the UI: (path under `/assets/`, bytes).
const FILES: &[(&str, &[u8])] = &[
    ("hub.css", include_bytes!("../../../../web/hub/hub.css")),
    ("hub.js", include_bytes!("../../../../web/hub/hub.js")),
    ("api.js", include_bytes!("../../../../web/hub/api.js")),
    ("views.js", include_bytes!("../../../../web/hub/views.js")),
    ("site.js", include_bytes!("../../../../web/hub/site.js")),
    (
        "icon.svg",
        include_bytes!("../../../../web/assets/icon.svg"),
    ),
];

const INDEX: &[u8] = include_bytes!("../../../../web/hub/index.html");

/// `GET /`: the single page.
pub async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

/// `GET /assets/{path}`.
pub async fn asset(Path(path): Path<String>) -> Result<Response, ApiError> {
    let (_, bytes) = FILES
        .iter()
        .find(|(p, _)| *p == path)
        .ok_or_else(|| ApiError::not_found(format!("no asset {path}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, vigil_server::web::content_type(&path)),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        *bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file the page and the modules load is embedded.
    #[test]
    fn every_file_referenced_is_embedded() {
        let mut texts = vec![std::str::from_utf8(INDEX).unwrap().to_string()];
        for (p, b) in FILES {
            if p.ends_with(".js") {
                texts.push(std::str::from_utf8(b).unwrap().to_string());
            }
        }
        let mut n = 0;
        for t in &texts {
            for pat in ["/assets/", "from './"] {
                for piece in t.split(pat).skip(1) {
                    let name: String = piece
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
                        .collect();
                    if name.is_empty() || !name.contains('.') {
                        continue;
                    }
                    assert!(
                        FILES.iter().any(|(p, _)| *p == name),
                        "{name} is not embedded"
                    );
                    n += 1;
                }
            }
        }
        assert!(n >= 5, "{n}");
    }
}
