//! Thumbnails of recorded moments for the camera timeline (`GET /api/cameras/{camera}/thumbnail.jpg`):
//! the first picture of the recording at or after the asked time (a key frame: recordings start runs at
//! one), decoded, scaled down, the camera's privacy masks blacked out, as JPEG. No re-encoding of video,
//! one frame decoded per request; the browser asks for one per hover position, rounded.

use std::collections::BTreeMap;
use std::path::PathBuf;
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

impl vigil_server::Thumbnailer for Thumbnails {
    fn thumbnail(&self, camera: &str, at_ms: i64, width: u32) -> Result<Vec<u8>, String> {
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
        let video = vigil_media::demux::demux_file(file.path()).map_err(|e| e.to_string())?;
        let mut decoder = VideoDecoder::from_params(&video.params, DecoderOptions::single_thread())
            .map_err(|e| e.to_string())?;
        let mut converter = Converter::new();
        for f in &video.frames {
            decoder.send(&f.data, f.pts).map_err(|e| e.to_string())?;
            if let Some(d) = decoder.receive().map_err(|e| e.to_string())? {
                let w = width.clamp(32, 640) & !1;
                let h = ((u64::from(w) * u64::from(d.height()) / u64::from(d.width().max(1)))
                    as u32)
                    .max(2)
                    & !1;
                let mut image = converter.bgr(d.frame(), w, h).map_err(|e| e.to_string())?;
                if let Some(masks) = self.masks.get(camera) {
                    vigil_rules::black_out_masks(&mut image, masks);
                }
                return vigil_media::encode::encode_jpeg(&image, QUALITY)
                    .map_err(|e| e.to_string());
            }
        }
        decoder.flush().map_err(|e| e.to_string())?;
        Err("no picture could be decoded there".into())
    }
}
