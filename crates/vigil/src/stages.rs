//! The identity stages of one camera's analysis (face recognition, plate reading, re-linking), built the
//! same way for `vigil run` and `vigil analyze --events`: only for the cameras opted in
//! (`[faces.camera.NAME]`, `[plates.camera.NAME]`), their models loaded once per process and shared by
//! every camera ([`ModelPools`], `vigil_vision::shared`).

use crate::models::Assets;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use vigil_config::VigilConfig;
use vigil_identity::{FaceBook, PlateLists};
use vigil_pipeline::faces::{FaceModels, FaceStage};
use vigil_pipeline::plates::PlateStage;
use vigil_vision::plate_ocr::PlateOcr;
use vigil_vision::reid::ReidEmbedder;
use vigil_vision::shared::SharedModel;

/// A camera's identity stages (each `None` when the camera is not opted in).
#[derive(Default)]
pub struct Stages {
    /// Face recognition.
    pub faces: Option<FaceStage>,
    /// Plate reading.
    pub plates: Option<PlateStage>,
}

/// One model's shared instances, loaded at first use.
type Slot<T> = Mutex<Option<Arc<SharedModel<T>>>>;

/// The identity models of a process, loaded when a camera first needs them and shared by every camera:
/// `instances` of each (one per core: a call keeps a core busy, so more would only wait), one thread per
/// call. A box with many cameras holds five identity models once, not once per camera.
pub struct ModelPools {
    models_dir: Option<PathBuf>,
    instances: usize,
    faces: Slot<FaceModels>,
    plates: Slot<PlateOcr>,
    reid: Slot<ReidEmbedder>,
}

impl ModelPools {
    /// Pools of models from `models_dir`, `instances` of each (at least one).
    pub fn new(models_dir: Option<PathBuf>, instances: usize) -> ModelPools {
        ModelPools {
            models_dir,
            instances: instances.max(1),
            faces: Mutex::default(),
            plates: Mutex::default(),
            reid: Mutex::default(),
        }
    }

    /// Pools with one instance per core of this machine.
    pub fn per_core(models_dir: Option<PathBuf>) -> ModelPools {
        ModelPools::new(
            models_dir,
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        )
    }

    fn get<T>(
        &self,
        slot: &Slot<T>,
        load: impl Fn(&Assets) -> anyhow::Result<T>,
    ) -> anyhow::Result<Arc<SharedModel<T>>> {
        let mut held = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pool) = &*held {
            return Ok(pool.clone());
        }
        let assets = Assets::open(self.models_dir.clone())?;
        let instances = (0..self.instances)
            .map(|_| load(&assets))
            .collect::<anyhow::Result<Vec<T>>>()?;
        let pool = SharedModel::new(instances).context("no model instance")?;
        *held = Some(pool.clone());
        Ok(pool)
    }

    /// YuNet and MobileFaceNet.
    pub fn faces(&self) -> anyhow::Result<Arc<SharedModel<FaceModels>>> {
        self.get(&self.faces, |a| crate::cmd::face::load_models(a, 1))
    }

    /// LPD-YuNet, the text detector and PP-OCR.
    pub fn plates(&self) -> anyhow::Result<Arc<SharedModel<PlateOcr>>> {
        self.get(&self.plates, |a| crate::cmd::plate::load(a, 1))
    }

    /// The re-identification model.
    pub fn reid(&self) -> anyhow::Result<Arc<SharedModel<ReidEmbedder>>> {
        self.get(&self.reid, |a| {
            let (p, b) = a.load(&vigil_vision::model::REID)?;
            Ok(ReidEmbedder::new(&a.runtime, &p, &b, 1)?)
        })
    }
}

/// Re-linking of the people a camera's tracker loses for up to `window` seconds (`[analysis]
/// relink_seconds`, on by default):
/// `None` when switched off, when the detector has no person class, or (with a warning saying what
/// is missing) when the re-identification model cannot be loaded: analysis goes on without it.
pub fn relinker(
    window: f64,
    camera: &str,
    classes: &[String],
    pools: &ModelPools,
) -> Option<vigil_pipeline::relink::Relinker> {
    let person = classes.iter().position(|c| c == "person")?;
    if window <= 0.0 {
        return None;
    }
    match pools.reid() {
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

/// The time zone `camera`'s events are described in (`[rules.CAMERA] timezone`).
pub fn camera_tz(config: &VigilConfig, camera: &str) -> anyhow::Result<vigil_rules::TimeZone> {
    vigil_rules::TimeZone::parse(&config.rules_for(camera).timezone)
        .map_err(|e| anyhow::anyhow!("[rules.{camera}] timezone: {e}"))
}

/// The stages of `camera` for a detector with `classes`; `book` is the watchlists (needed, and only
/// used, when the camera has face recognition), `plate_lists` the plate lists (`None`: `vigil.toml`'s
/// alone); models from `pools`.
pub fn for_camera(
    config: &VigilConfig,
    camera: &str,
    classes: &[String],
    pools: &ModelPools,
    book: Option<Arc<Mutex<FaceBook>>>,
    plate_lists: Option<Arc<PlateLists>>,
) -> anyhow::Result<Stages> {
    let faces_on = config.faces.on(camera).is_some();
    let plates_on = config.plates.on(camera);
    if !faces_on && !plates_on {
        return Ok(Stages::default());
    }
    let tz = camera_tz(config, camera)?;
    let faces = match (faces_on, book) {
        (true, Some(book)) => {
            let models = pools.faces().with_context(|| {
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
        let ocr = pools.plates().with_context(|| {
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

/// The activity baselines of `camera` (`[analysis.anomaly] baselines`), kept in `store`'s index when
/// there is one (otherwise learned in memory and lost at exit).
pub fn activity(
    config: &VigilConfig,
    camera: &str,
    store: Option<&vigil_store::Store>,
) -> anyhow::Result<Option<vigil_pipeline::activity::ActivityStage>> {
    use vigil_pipeline::activity::{ActivitySettings, ActivityStage};
    let a = &config.analysis.anomaly;
    if !a.baselines {
        return Ok(None);
    }
    let persist: Option<Box<dyn vigil_rules::BaselinePersist>> = match store {
        Some(s) => {
            Some(Box::new(s.baselines().with_context(|| {
                format!("activity baselines of {camera}")
            })?))
        }
        None => {
            tracing::info!(
                camera,
                "no store: activity baselines are not kept across restarts"
            );
            None
        }
    };
    let settings = ActivitySettings {
        params: vigil_rules::BaselineParams {
            min_weeks: a.min_weeks,
            sigma: a.sigma,
            min_change: a.min_change,
        },
        classes: a.classes.clone(),
        hold_minutes: a.hold_minutes,
    };
    let tz = camera_tz(config, camera)?;
    Ok(Some(ActivityStage::new(camera, tz, settings, persist)))
}

/// The scene model stage of `camera` (`[analysis.anomaly] scene`, or a model in `scene_models`), for a
/// detector with `classes`; `None` when off or the detector has no person class.
pub fn scene(
    config: &VigilConfig,
    camera: &str,
    classes: &[String],
) -> anyhow::Result<Option<vigil_pipeline::scene::SceneStage>> {
    use vigil_pipeline::scene::{SceneSettings, SceneStage};
    let a = &config.analysis.anomaly;
    let file = a.scene_models.get(camera);
    if !a.scene && file.is_none() {
        return Ok(None);
    }
    let Some(person) = classes.iter().position(|c| c == "person") else {
        tracing::warn!(
            camera,
            "no scene anomalies: the detector has no person class"
        );
        return Ok(None);
    };
    let model = match file {
        Some(path) => Some(
            crate::cmd::anomaly::load(path)
                .with_context(|| format!("[analysis.anomaly] scene_models.{camera}"))?,
        ),
        None => None,
    };
    let settings = SceneSettings {
        threshold: a.scene_threshold,
        release: (a.scene_threshold / 2.0).max(1.0),
        min_duration_ms: 1000,
        cooldown_ms: (a.scene_cooldown_seconds * 1000.0) as i64,
        learn: a.scene_learn,
        learn_ms: (a.scene_learn_hours * 3_600_000.0) as i64,
    };
    let tz = camera_tz(config, camera)?;
    tracing::info!(
        camera,
        loaded = model.is_some(),
        learn = a.scene_learn,
        "scene anomalies on"
    );
    Ok(Some(SceneStage::new(
        camera,
        tz,
        settings,
        person as vigil_core::ClassId,
        model,
    )))
}
