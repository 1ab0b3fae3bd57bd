//! The privacy step of an export ([`ExportFilter`]): the store writes the camera's own bitstream, a filter
//! (faces and plates blurred, privacy masks, watermark: `vigil_pipeline::redact`, plugged in by the binary)
//! may then write a changed copy. Kept as a trait so the store and the server link no video codec.

use std::path::Path;
use vigil_core::{Redaction, RedactionReport};

/// Rewrites exported video for privacy.
pub trait ExportFilter: Send + Sync {
    /// Whether `camera` has privacy masks to black out.
    fn has_masks(&self, camera: &str) -> bool;

    /// Writes `input` (an MP4 of `camera`) to `output` with `what` applied, reporting progress (0..1).
    /// When nothing needed changing the report says `reencoded: false` and `output` does not exist.
    fn apply(
        &self,
        camera: &str,
        what: &Redaction,
        input: &Path,
        output: &Path,
        progress: &mut dyn FnMut(f64),
    ) -> Result<RedactionReport, String>;

    /// Playback: re-encodes the recorded `frames` of `camera` (decode order) with the masks and the
    /// watermark of `what` (faces and plates are for exports), handing a fragmented MP4 to `out` a piece
    /// at a time as it is made. Returns the frames written.
    fn stream(
        &self,
        camera: &str,
        what: &Redaction,
        frames: &mut dyn Iterator<Item = Result<vigil_core::EncodedFrame, String>>,
        out: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, String>;
}

/// Applies `filter` to the export at `path` in place: the changed copy (written beside it as
/// `<path>.redacting`) replaces it when there is one.
/// Returns the report, or `None` when `what` asks for nothing.
pub fn filter_in_place(
    filter: Option<&dyn ExportFilter>,
    camera: &str,
    what: &Redaction,
    path: &Path,
    progress: &mut dyn FnMut(f64),
) -> Result<Option<RedactionReport>, crate::StoreError> {
    let masks = filter.is_some_and(|f| f.has_masks(camera));
    let what = Redaction {
        masks: what.masks && masks,
        ..what.clone()
    };
    if what.is_none() {
        return Ok(None);
    }
    let Some(filter) = filter else {
        return Err(crate::StoreError::Config(
            "this export must be redacted, and redaction is not available here".into(),
        ));
    };
    let mut copy = path.as_os_str().to_owned();
    copy.push(".redacting");
    let copy = std::path::PathBuf::from(copy);
    let result = filter.apply(camera, &what, path, &copy, progress);
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&copy);
            return Err(crate::StoreError::Config(format!(
                "redacting the export: {e}"
            )));
        }
    };
    if report.reencoded {
        std::fs::rename(&copy, path).map_err(|source| crate::StoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(Some(report))
}
