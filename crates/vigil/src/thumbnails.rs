//! Thumbnails of recorded moments for the camera timeline (`GET /api/cameras/{camera}/thumbnail.jpg`):
//! the first picture of the recording at or after the asked time (a key frame: recordings start runs at
//! one), decoded, scaled down, the camera's privacy masks blacked out, as JPEG. No re-encoding of video,
//! one frame decoded per request; the browser asks for one per hover position, rounded. The same code
//! gives the hub its pictures of a camera (`crate::site_relay`): full size, the latest recorded or live.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vigil_core::Time90k;
use vigil_media::convert::Converter;
use vigil_media::decode::{DecoderOptions, VideoDecoder};
use vigil_rules::PrivacyMask;
use vigil_store::Store;

/// JPEG quality of thumbnails.
const QUALITY: u8 = 70;
/// How much recording after the asked time is read to find a picture (a key frame at most a GOP away).
const LOOK_AHEAD_MS: i64 = 4_000;

/// Thumbnails of one store's recordings.
pub struct Thumbnails {
    store: Arc<Store>,
    masks: BTreeMap<String, Vec<PrivacyMask>>,
    tmp: PathBuf,
}

impl Thumbnails {
    /// Thumbnails of `store`'s recordings with each camera's privacy `masks`; temporary files in `tmp`.
    pub fn new(store: Arc<Store>, masks: BTreeMap<String, Vec<PrivacyMask>>, tmp: PathBuf) -> Self {
        Thumbnails { store, masks, tmp }
    }
}

impl Thumbnails {
    /// The camera's privacy masks.
    pub fn masks(&self, camera: &str) -> &[PrivacyMask] {
        self.masks.get(camera).map_or(&[], Vec::as_slice)
    }

    /// The picture recorded at `at_ms` (the key frame at or before it), `width` wide (`None`: the
    /// camera's own size), privacy masks blacked out, as JPEG.
    pub fn picture(&self, camera: &str, at_ms: i64, width: Option<u32>) -> Result<Vec<u8>, String> {
        let reader = self.store.reader().map_err(|e| e.to_string())?;
        let export = reader
            .export(
                camera,
                "main",
                Time90k(at_ms * 90),
                Time90k((at_ms + LOOK_AHEAD_MS) * 90),
            )
            .map_err(|e| format!("nothing recorded there: {e}"))?;
        std::fs::create_dir_all(&self.tmp).map_err(|e| e.to_string())?;
        let file = tempfile::Builder::new()
            .prefix("thumb-")
            .suffix(".mp4")
            .tempfile_in(&self.tmp)
            .map_err(|e| e.to_string())?;
        {
            let mut out = std::io::BufWriter::new(file.as_file());
            export
                .file
                .write_all(&mut out, &mut |_| {})
                .map_err(|e| e.to_string())?;
            std::io::Write::flush(&mut out).map_err(|e| e.to_string())?;
        }
        first_picture(file.path(), width, self.masks(camera))
    }

    /// The latest picture recorded of `camera` (the last key frame of its last closed segment, within
    /// the last 10 minutes), at its own size, masks blacked out, as JPEG.
    pub fn latest(&self, camera: &str) -> Result<Vec<u8>, String> {
        let now = vigil_core::time::now_unix_ms();
        let reader = self.store.reader().map_err(|e| e.to_string())?;
        let ranges = reader
            .recordings(
                camera,
                "main",
                Time90k((now - 600_000) * 90),
                Time90k((now + 60_000) * 90),
            )
            .map_err(|e| e.to_string())?;
        let Some(last) = ranges.last() else {
            return Err(format!("{camera}: nothing recorded in the last 10 minutes"));
        };
        self.picture(camera, last.end.0 / 90 - 1, None)
    }
}

/// The first picture that decodes from the video file at `path` (MP4, fragmented or not), `width` wide
/// (`None`: its own size; even sizes), `masks` blacked out, as JPEG.
pub fn first_picture(
    path: &Path,
    width: Option<u32>,
    masks: &[PrivacyMask],
) -> Result<Vec<u8>, String> {
    let video = vigil_media::demux::demux_file(path).map_err(|e| e.to_string())?;
    let mut decoder = VideoDecoder::from_params(&video.params, DecoderOptions::single_thread())
        .map_err(|e| e.to_string())?;
    let mut converter = Converter::new();
    let mut picture = |d: &vigil_media::DecodedFrame| -> Result<Vec<u8>, String> {
        let (w, h) = match width {
            Some(w) => {
                let w = w & !1;
                let h = ((u64::from(w) * u64::from(d.height()) / u64::from(d.width().max(1)))
                    as u32)
                    .max(2)
                    & !1;
                (w, h)
            }
            None => (d.width(), d.height()),
        };
        let mut image = converter.bgr(d.frame(), w, h).map_err(|e| e.to_string())?;
        if !masks.is_empty() {
            vigil_rules::black_out_masks(&mut image, masks);
        }
        vigil_media::encode::encode_jpeg(&image, QUALITY).map_err(|e| e.to_string())
    };
    for f in &video.frames {
        decoder.send(&f.data, f.pts).map_err(|e| e.to_string())?;
        if let Some(d) = decoder.receive().map_err(|e| e.to_string())? {
            return picture(&d);
        }
    }
    decoder.flush().map_err(|e| e.to_string())?;
    if let Some(d) = decoder.receive().map_err(|e| e.to_string())? {
        return picture(&d);
    }
    Err("no picture could be decoded there".into())
}

impl vigil_server::Thumbnailer for Thumbnails {
    fn thumbnail(&self, camera: &str, at_ms: i64, width: u32) -> Result<Vec<u8>, String> {
        self.picture(camera, at_ms, Some(width.clamp(32, 640)))
    }
}
