//! `vigil bench --identity`: what face recognition and plate reading add per analysed frame, on the
//! motion-gated mode's tracks of the benchmark video (the stages `vigil run` runs when a camera is
//! opted in: an empty watchlist, so every face is embedded and compared with nothing; plates on no list).
//! CPU is the process's around each call (ONNX Runtime's threads included); the frame's conversion to
//! BGR is charged to the stages, since the gated analysis does not need it otherwise.

use anyhow::Context;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;
use vigil_pipeline::FrameAnalysis;
use vigil_pipeline::faces::FaceStage;
use vigil_pipeline::plates::PlateStage;
use vigil_pipeline::stats::process_cpu_time;
use vigil_rules::FrameContext;

/// What the identity stages cost.
#[derive(Debug, Default, Serialize)]
pub struct IdentityCost {
    /// Analysed frames they ran on.
    pub frames: u64,
    /// Frames converted to BGR for them.
    pub converted: u64,
    /// Conversion CPU per analysed frame (ms).
    pub convert_cpu_ms_per_frame: f64,
    /// Face recognition CPU per analysed frame (ms).
    pub faces_cpu_ms_per_frame: f64,
    /// Plate reading CPU per analysed frame (ms).
    pub plates_cpu_ms_per_frame: f64,
    /// Face events raised (on an empty watchlist: none expected).
    pub face_events: u64,
    /// Plate events raised.
    pub plate_events: u64,
}

/// The stages and their tallies.
pub struct IdentityBench {
    faces: FaceStage,
    plates: PlateStage,
    _dir: tempfile::TempDir,
    convert: Duration,
    faces_cpu: Duration,
    plates_cpu: Duration,
    cost: IdentityCost,
    converter: vigil_media::Converter,
}

impl IdentityBench {
    /// Both stages with their models (from `models`), for a detector with `classes`.
    pub fn new(models: Option<PathBuf>, classes: &[String]) -> anyhow::Result<IdentityBench> {
        let dir = tempfile::tempdir().context("a scratch folder for the watchlists")?;
        let keys = vigil_keys::KeyStore::open(dir.path(), &vigil_keys::MasterSource::Generated)?;
        let book = vigil_identity::FaceBook::open(dir.path(), &keys)?;
        let config: vigil_config::VigilConfig = vigil_config::VigilConfig::parse(
            "[[camera]]\nname = \"bench\"\nmain = \"rtsp://127.0.0.1/bench\"\n\
             [faces.camera.bench]\n[plates.camera.bench]\n",
            "bench",
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let stages = crate::stages::for_camera(
            &config,
            "bench",
            classes,
            &crate::stages::ModelPools::new(models, 1),
            Some(std::sync::Arc::new(std::sync::Mutex::new(book))),
            None,
        )?;
        Ok(IdentityBench {
            faces: stages.faces.context("the face stage")?,
            plates: stages.plates.context("the plate stage")?,
            _dir: dir,
            convert: Duration::ZERO,
            faces_cpu: Duration::ZERO,
            plates_cpu: Duration::ZERO,
            cost: IdentityCost::default(),
            converter: vigil_media::Converter::new(),
        })
    }

    /// Runs both stages on one analysed frame (`decoded` and what the analysis found in it).
    pub fn frame(
        &mut self,
        decoded: &vigil_media::DecodedFrame,
        a: &FrameAnalysis,
    ) -> anyhow::Result<()> {
        let ctx = FrameContext {
            time_unix_ms: (a.pts.as_secs_f64() * 1000.0) as i64,
            media_time: a.pts,
            frame_w: a.frame_size.0,
            frame_h: a.frame_size.1,
        };
        self.cost.frames += 1;
        let due = self.faces.due(ctx.time_unix_ms, &a.tracks)
            || self.plates.due(ctx.time_unix_ms, &a.tracks);
        let image = if due {
            let c0 = process_cpu_time();
            let image = decoded.bgr(&mut self.converter, a.frame_size.0, a.frame_size.1)?;
            self.convert += process_cpu_time().saturating_sub(c0);
            self.cost.converted += 1;
            Some(image)
        } else {
            None
        };
        let c0 = process_cpu_time();
        let faces = self.faces.update(&ctx, image.as_ref(), &a.tracks, &[]);
        let c1 = process_cpu_time();
        let plates = self.plates.update(&ctx, image.as_ref(), &a.tracks);
        self.plates_cpu += process_cpu_time().saturating_sub(c1);
        self.faces_cpu += c1.saturating_sub(c0);
        self.cost.face_events += faces.len() as u64;
        self.cost.plate_events += plates.len() as u64;
        Ok(())
    }

    /// The figures, printed.
    pub fn report(mut self) -> IdentityCost {
        let per = |d: Duration| d.as_secs_f64() * 1000.0 / self.cost.frames.max(1) as f64;
        self.cost.convert_cpu_ms_per_frame = per(self.convert);
        self.cost.faces_cpu_ms_per_frame = per(self.faces_cpu);
        self.cost.plates_cpu_ms_per_frame = per(self.plates_cpu);
        let c = &self.cost;
        println!(
            "identity stages on the motion-gated tracks ({} frames, {} converted to BGR for them): faces {:.2} ms, \
             plates {:.2} ms, conversion {:.2} ms CPU per analysed frame; {} face and {} plate event messages",
            c.frames,
            c.converted,
            c.faces_cpu_ms_per_frame,
            c.plates_cpu_ms_per_frame,
            c.convert_cpu_ms_per_frame,
            c.face_events,
            c.plate_events
        );
        self.cost
    }
}
