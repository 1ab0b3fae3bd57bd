//! Behaviour rules in `vigil analyze`: the same rules engine `vigil run` uses, evaluated on a file so rules
//! can be tried on footage before going live. Times in events are positions in the file (from 00:00:00).

use anyhow::{Context, bail};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use vigil_config::VigilConfig;
use vigil_core::config::parse_toml;
use vigil_core::{BgrImage, Event, EventPhase, Time90k, TrackedObject};
use vigil_pipeline::Analyzer;
use vigil_pipeline::attributes::AttributeStage;
use vigil_pipeline::crowd::{CrowdStage, CrowdStatus};
use vigil_pipeline::faces::FaceStage;
use vigil_pipeline::plates::PlateStage;
use vigil_pipeline::second_opinion::SecondOpinionStage;
use vigil_pipeline::snapshot::{take_snapshot, wants_snapshot};
use vigil_rules::{FrameContext, LineCounts, RuleEngine, RulesConfig, SecondOpinionStats};
use vigil_vision::model::ModelSpec;

/// The rules being evaluated and where their events go.
pub struct RulesRun {
    engine: RuleEngine,
    /// Face recognition, when the camera has it (`[faces.camera.NAME]`).
    faces: Option<FaceStage>,
    /// Plate reading, when the camera has it (`[plates.camera.NAME]`).
    plates: Option<PlateStage>,
    /// The second detector of rules with `second_opinion` (`--second-model`).
    second: Option<SecondOpinionStage>,
    /// Each track's attributes, carried by its events.
    attributes: AttributeStage,
    events: Option<(PathBuf, BufWriter<File>)>,
    snapshots: Option<PathBuf>,
    started: BTreeMap<String, u32>,
    messages: u64,
    /// Crowd counts for the crowding rules (and occupancy), as `vigil run` makes them.
    crowd: Option<CrowdStage>,
}

/// Where the rules come from: a rules file (`[[zone]]`, `[[line]]`, `[[rule]]`...), or a camera's
/// `[rules.NAME]` in a `vigil.toml`.
pub enum RulesSource<'a> {
    /// A rules file.
    File(&'a Path),
    /// `vigil.toml` and a camera name.
    Camera(&'a Path, &'a str),
}

impl RulesRun {
    /// Loads and compiles the rules for the model `spec`; with a camera of a `vigil.toml` that has
    /// face recognition, loads the face models (from `models`) and opens its watchlists too.
    pub fn new(
        source: RulesSource<'_>,
        spec: &ModelSpec,
        events: Option<&Path>,
        snapshots: Option<&Path>,
        models: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let classes = &spec.classes;
        let mut stages = crate::stages::Stages::default();
        let (camera, config) = match source {
            RulesSource::File(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let config: RulesConfig =
                    parse_toml(&text, &path.display().to_string(), |_| Vec::new())
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                let name = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("file")
                    .to_string();
                (name, config)
            }
            RulesSource::Camera(path, camera) => {
                let config = VigilConfig::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
                if !config.cameras.iter().any(|c| c.name == camera) {
                    let known: Vec<&str> = config.cameras.iter().map(|c| c.name.as_str()).collect();
                    bail!(
                        "{}: no camera {camera:?} (cameras: {})",
                        path.display(),
                        known.join(", ")
                    );
                }
                let book = match config.faces.on(camera) {
                    Some(_) => Some(open_book(&config, camera)?),
                    None => None,
                };
                stages = crate::stages::for_camera(
                    &config,
                    camera,
                    classes,
                    &crate::stages::ModelPools::new(models, 1),
                    book,
                    None,
                )?;
                (camera.to_string(), config.rules_for(camera))
            }
        };
        let engine = RuleEngine::new(&camera, &config, classes).context("the rules")?;
        let crowd = CrowdStage::for_rules(&engine, spec);
        let events = events
            .map(|p| -> anyhow::Result<_> {
                let f = File::create(p).with_context(|| format!("creating {}", p.display()))?;
                Ok((p.to_path_buf(), BufWriter::new(f)))
            })
            .transpose()?;
        if let Some(dir) = snapshots {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(Self {
            engine,
            faces: stages.faces,
            plates: stages.plates,
            second: None,
            attributes: AttributeStage::new(classes),
            events,
            snapshots: snapshots.map(Path::to_path_buf),
            started: BTreeMap::new(),
            messages: 0,
            crowd,
        })
    }

    /// Gives the rules with `second_opinion` their second detector.
    pub fn with_second(mut self, stage: SecondOpinionStage) -> Self {
        stage.attach(&mut self.engine);
        self.second = Some(stage);
        self
    }

    /// True when some rule has `second_opinion`.
    pub fn wants_second_opinion(&self) -> bool {
        self.engine.wants_second_opinion()
    }

    /// True when snapshots are written, faces looked at or a second detector may look (the caller must
    /// then pass the frame's BGR image).
    pub fn wants_frames(&self) -> bool {
        self.snapshots.is_some()
            || self.faces.is_some()
            || self.plates.is_some()
            || self.second.is_some()
    }

    /// True when the frame at `pts` should be counted for the crowding rules ([`RulesRun::count_people`]
    /// before [`RulesRun::update`]).
    pub fn crowd_due(&self, pts: Time90k) -> bool {
        self.crowd.as_ref().is_some_and(|c| c.due(media_ms(pts)))
    }

    /// Counts the people on `image` (the analysed frame at `pts`, `frame_size`) with the detectors of
    /// `analyzer`, for the crowding rules.
    pub fn count_people(
        &mut self,
        analyzer: &mut Analyzer,
        pts: Time90k,
        frame_size: (u32, u32),
        image: &BgrImage,
    ) -> anyhow::Result<()> {
        let Some(crowd) = self.crowd.as_mut() else {
            return Ok(());
        };
        let ctx = FrameContext {
            time_unix_ms: media_ms(pts),
            media_time: pts,
            frame_w: frame_size.0,
            frame_h: frame_size.1,
        };
        crowd
            .count(analyzer, &mut self.engine, &ctx, image)
            .context("counting people for the crowding rules")
    }

    /// Evaluates one analysed frame (`motion`: its motion boxes, for the intrusion rules' second opinion;
    /// `detected`: the frame the detector ran on, for the tracks' colours).
    pub fn update(
        &mut self,
        pts: Time90k,
        frame_size: (u32, u32),
        tracks: &[TrackedObject],
        motion: &[vigil_core::BBox],
        frame: Option<&BgrImage>,
        detected: Option<&BgrImage>,
    ) -> anyhow::Result<()> {
        let time_unix_ms = media_ms(pts);
        let ctx = FrameContext {
            time_unix_ms,
            media_time: pts,
            frame_w: frame_size.0,
            frame_h: frame_size.1,
        };
        let mut events = self.engine.update(&ctx, tracks);
        let engine = &self.engine;
        self.attributes
            .observe(&ctx, tracks, detected, || engine.occupancy());
        events.extend(self.engine.unclassified(&ctx, motion, tracks));
        if let Some(stage) = self.second.as_mut() {
            let req = self.engine.second_opinion_request();
            if let (false, Some(image)) = (req.is_empty(), frame) {
                events.extend(stage.consult(&mut self.engine, &req, image)?);
            }
        }
        if let Some(plates) = self.plates.as_mut() {
            events.extend(plates.update(&ctx, frame, tracks));
        }
        if let Some(faces) = self.faces.as_mut() {
            let zones = if faces.needs_zones(time_unix_ms, tracks) {
                self.engine.occupancy()
            } else {
                Vec::new()
            };
            events.extend(faces.update(&ctx, frame, tracks, &zones));
        }
        for e in &mut events {
            self.attributes.fill(e, Some(self.engine.timezone()));
            self.record(e, frame, tracks, time_unix_ms)?;
        }
        Ok(())
    }

    fn record(
        &mut self,
        e: &Event,
        frame: Option<&BgrImage>,
        tracks: &[TrackedObject],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        self.messages += 1;
        if e.phase == EventPhase::Start {
            *self.started.entry(e.rule.clone()).or_default() += 1;
        }
        if let Some((path, out)) = self.events.as_mut() {
            serde_json::to_writer(&mut *out, e)
                .with_context(|| format!("writing {}", path.display()))?;
            out.write_all(b"\n")?;
        }
        if let (Some(dir), Some(frame)) = (&self.snapshots, frame)
            && wants_snapshot(e, now_ms)
        {
            let snap = take_snapshot(e, frame, tracks, now_ms, self.engine.privacy_masks())?;
            std::fs::write(dir.join(format!("{}.jpg", e.id)), &snap.full)?;
            if let Some(crop) = &snap.crop {
                std::fs::write(dir.join(format!("{}-crop.jpg", e.id)), crop)?;
            }
        }
        Ok(())
    }

    /// Ends every open event, flushes the events file and prints what the rules found.
    pub fn finish(mut self, last_pts: Time90k) -> anyhow::Result<RulesSummary> {
        let now = (last_pts.as_secs_f64() * 1000.0).round() as i64;
        let mut closing = self.engine.close();
        let end = FrameContext {
            time_unix_ms: now,
            media_time: last_pts,
            ..FrameContext::default()
        };
        if let Some(plates) = self.plates.as_mut() {
            closing.extend(plates.close(&end));
        }
        if let Some(faces) = self.faces.as_mut() {
            closing.extend(faces.close(&end));
        }
        self.attributes.flush();
        for mut e in closing {
            self.attributes.fill(&mut e, Some(self.engine.timezone()));
            self.record(&e, None, &[], now)?;
        }
        if let Some((path, mut out)) = self.events.take() {
            out.flush()
                .with_context(|| format!("writing {}", path.display()))?;
        }
        let (attribute_cost, _) = self.attributes.cost();
        let second = self.second.as_ref().map(|stage| {
            let (cost, runs) = stage.cost();
            SecondSummary {
                model: stage.model().to_string(),
                ms_per_look: cost.as_secs_f64() * 1e3 / runs.max(1) as f64,
                stats: self.engine.second_opinion_stats(),
            }
        });
        Ok(RulesSummary {
            crowd: self.crowd.as_ref().map(|c| c.status().clone()),
            second,
            attribute_us: attribute_cost.as_secs_f64() * 1e6,
            events_started: self.started,
            messages: self.messages,
            lines: self.engine.counters().to_vec(),
        })
    }
}

/// A fault for measurements (`--phantom CLASS@X1,Y1,X2,Y2`): a main detector that reports an object
/// where there is none, on every analysed frame (corners as shares 0..1 of the frame).
#[derive(Debug, Clone)]
pub struct Phantom {
    class: String,
    corners: [f32; 4],
}

impl std::str::FromStr for Phantom {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?}: expected CLASS@X1,Y1,X2,Y2 with corners in 0..1");
        let (class, rest) = s.split_once('@').ok_or_else(bad)?;
        let v: Vec<f32> = rest
            .split(',')
            .map(|x| x.trim().parse::<f32>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        match v.as_slice() {
            &[x1, y1, x2, y2]
                if x1 < x2 && y1 < y2 && v.iter().all(|c| (0.0..=1.0).contains(c)) =>
            {
                Ok(Phantom {
                    class: class.trim().to_string(),
                    corners: [x1, y1, x2, y2],
                })
            }
            _ => Err(bad()),
        }
    }
}

impl Phantom {
    /// The phantom as a confirmed track of a `w` x `h` frame of a model with `classes`.
    pub fn track(&self, classes: &[String], (w, h): (u32, u32)) -> anyhow::Result<TrackedObject> {
        let class_id = classes
            .iter()
            .position(|c| c.eq_ignore_ascii_case(&self.class))
            .with_context(|| format!("--phantom: the model has no class {:?}", self.class))?;
        let [x1, y1, x2, y2] = self.corners;
        let (w, h) = (w as f32, h as f32);
        Ok(TrackedObject {
            id: PHANTOM_TRACK,
            bbox: vigil_core::BBox::new(x1 * w, y1 * h, x2 * w, y2 * h),
            score: 0.9,
            class_id: class_id as u16,
            age: 100,
            matched: true,
        })
    }
}

/// The phantom's track id (far from the tracker's).
const PHANTOM_TRACK: u64 = 1 << 40;

/// The watchlists of the configuration's data directory (opened with its key store), for face
/// recognition on `camera` as `vigil run` would run it.
fn open_book(
    config: &VigilConfig,
    camera: &str,
) -> anyhow::Result<std::sync::Arc<std::sync::Mutex<vigil_identity::FaceBook>>> {
    eprintln!(
        "face recognition on {camera}: {}",
        vigil_vision::face_embed::TRAINING_CAVEAT
    );
    let keys = crate::cmd::keys::open_key_store(config)?;
    let book = vigil_identity::FaceBook::open(&config.data_dir, &keys)
        .context("opening the identity database")?;
    Ok(std::sync::Arc::new(std::sync::Mutex::new(book)))
}

/// A position in the file in milliseconds (the rules' clock in `vigil analyze`).
fn media_ms(pts: Time90k) -> i64 {
    (pts.as_secs_f64() * 1000.0).round() as i64
}

/// What the rules found over the whole file.
#[derive(Debug, Serialize)]
pub struct RulesSummary {
    /// What crowd counting for the crowding rules cost and found, when a rule wanted it.
    pub crowd: Option<CrowdStatus>,
    /// Mean time the attributes (colours, size, speed, direction, zones) took per analysed frame, µs.
    pub attribute_us: f64,
    /// Events started, by rule.
    pub events_started: BTreeMap<String, u32>,
    /// Event messages (start, update, end).
    pub messages: u64,
    /// Line counters.
    pub lines: Vec<LineCounts>,
    /// What the second detector did, when there was one.
    #[serde(skip)]
    pub second: Option<SecondSummary>,
}

/// What the second detector of `second_opinion` rules did over the file.
#[derive(Debug)]
pub struct SecondSummary {
    /// The second model.
    pub model: String,
    /// Mean time of one look (all the regions of a frame), ms.
    pub ms_per_look: f64,
    /// The engine's figures.
    pub stats: SecondOpinionStats,
}

impl RulesSummary {
    /// Prints the events per rule and the line counts.
    pub fn print(&self) {
        println!(
            "attributes: {:.1} µs per analysed frame on average",
            self.attribute_us
        );
        if let Some(c) = &self.crowd {
            println!(
                "crowd counts: {} count(s), {} model runs, {:.1} ms per count, grid {}, {} people at the last",
                c.counts,
                c.runs,
                c.mean_ms,
                c.grid.as_deref().unwrap_or("-"),
                c.people
            );
        }
        if self.events_started.is_empty() {
            println!("rules: no events");
        }
        for (rule, n) in &self.events_started {
            println!("rules: {n} event(s) of '{rule}'");
        }
        if let Some(s) = &self.second {
            let st = &s.stats;
            println!(
                "second opinion ({}): looked in {} frames, {:.1} ms per look; confirm: {} checks, {} tracks confirmed, {} held, {} never confirmed (suppressed); catch: {} motion regions, {} events",
                s.model,
                st.looks,
                s.ms_per_look,
                st.confirm_checks,
                st.confirmed,
                st.held,
                st.suppressed,
                st.catch_checks,
                st.caught_events
            );
        }
        for l in &self.lines {
            println!(
                "line '{}': {} in, {} out, net {}",
                l.line,
                l.inbound(),
                l.outbound(),
                l.net()
            );
        }
    }
}
