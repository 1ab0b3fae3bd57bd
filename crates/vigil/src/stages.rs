//! The identity stages of one camera's analysis (face recognition, plate reading), built the same way
//! for `vigil run` and `vigil analyze --events`: only for the cameras opted in (`[faces.camera.NAME]`,
//! `[plates.camera.NAME]`), with their models loaded once per camera on one thread each.

use crate::models::Assets;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use vigil_config::VigilConfig;
use vigil_identity::{FaceBook, PlateLists};
use vigil_pipeline::faces::FaceStage;
use vigil_pipeline::plates::PlateStage;

/// A camera's identity stages (each `None` when the camera is not opted in).
#[derive(Default)]
pub struct Stages {
    /// Face recognition.
    pub faces: Option<FaceStage>,
    /// Plate reading.
    pub plates: Option<PlateStage>,
}

/// Re-linking of the people a camera's tracker loses for up to `window` seconds (`[analysis]
/// relink_seconds`, on by default):
/// `None` when switched off, when the detector has no person class, or (with a warning saying what
/// is missing) when the re-identification model cannot be loaded: analysis goes on without it.
pub fn relinker(
    window: f64,
    camera: &str,
    classes: &[String],
    models_dir: Option<PathBuf>,
) -> Option<vigil_pipeline::relink::Relinker> {
    let person = classes.iter().position(|c| c == "person")?;
    if window <= 0.0 {
        return None;
    }
    let loaded = Assets::open(models_dir).and_then(|assets| {
        let (p, b) = assets.load(&vigil_vision::model::REID)?;
        Ok(vigil_vision::reid::ReidEmbedder::new(
            &assets.runtime,
            &p,
            &b,
            1,
        )?)
    });
    match loaded {
        Ok(reid) => Some(vigil_pipeline::relink::Relinker::new(
            camera,
            reid,
            u16::try_from(person).ok()?,
            vigil_pipeline::relink::DEFAULT_THRESHOLD,
            window,
        )),
        Err(e) => {
            tracing::warn!(
                camera,
                "people lost by the tracker will not be re-linked: {e:#} (set [analysis] relink_seconds = 0 to say so)"
            );
            None
        }
    }
}

/// The stages of `camera` for a detector with `classes`; `book` is the watchlists (needed, and only
/// used, when the camera has face recognition), `plate_lists` the plate lists (`None`: `vigil.toml`'s
/// alone); models from `models_dir`.
pub fn for_camera(
    config: &VigilConfig,
    camera: &str,
    classes: &[String],
    models_dir: Option<PathBuf>,
    book: Option<Arc<Mutex<FaceBook>>>,
    plate_lists: Option<Arc<PlateLists>>,
) -> anyhow::Result<Stages> {
    let faces_on = config.faces.on(camera).is_some();
    let plates_on = config.plates.on(camera);
    if !faces_on && !plates_on {
        return Ok(Stages::default());
    }
    let assets = Assets::open(models_dir)?;
    let tz = vigil_rules::TimeZone::parse(&config.rules_for(camera).timezone)
        .map_err(|e| anyhow::anyhow!("[rules.{camera}] timezone: {e}"))?;
    let faces = match (faces_on, book) {
        (true, Some(book)) => {
            let models = crate::cmd::face::load_models(&assets, 1).with_context(|| {
                format!("face recognition on {camera} needs its models (docs/security.md, Faces)")
            })?;
            Some(FaceStage::new(
                camera,
                models,
                book,
                &config.faces,
                classes,
                tz.clone(),
            ))
        }
        (true, None) => anyhow::bail!("face recognition on {camera} needs the watchlists"),
        (false, _) => None,
    };
    let plates = if plates_on {
        let ocr = crate::cmd::plate::load(&assets, 1).with_context(|| {
            format!("plate reading on {camera} needs its models (docs/identity.md, Licence plates)")
        })?;
        let lists =
            plate_lists.unwrap_or_else(|| Arc::new(PlateLists::from_config(&config.plates)));
        Some(PlateStage::new(
            camera,
            ocr,
            &config.plates,
            lists,
            classes,
            tz,
        ))
    } else {
        None
    };
    Ok(Stages { faces, plates })
}
