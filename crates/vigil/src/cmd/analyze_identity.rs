//! `vigil analyze VIDEO --identity`: re-identification, face and plate fields on the tracks JSON lines.
//!
//! Sampled per track, not per frame (at most once every [`SAMPLE_EVERY_S`] seconds of a track, and only
//! while it is matched in the frame): a person's appearance embedding (re-id, the running mean of its
//! samples, re-normalised) and the best face found in the upper part of its box; a vehicle's plate, read
//! from its box and voted over the track's reads (confidence-weighted).

use crate::cmd::face::{MIN_FACE, load_models};
use crate::models::Assets;
use anyhow::Context;
use serde::Serialize;
use std::collections::HashMap;
use std::path::PathBuf;
use vigil_core::{BBox, BgrImage, TrackedObject};
use vigil_pipeline::faces::FaceModels;
use vigil_pipeline::faces::{crop_of, face_of_person};
use vigil_vision::face_embed::FaceEmbedder;
use vigil_vision::faces::FaceDetector;
use vigil_vision::model::REID;
use vigil_vision::plate_ocr::PlateOcr;
use vigil_vision::reid::ReidEmbedder;

/// Shortest time between two samples of one track (seconds).
pub const SAMPLE_EVERY_S: f64 = 1.0;
/// Classes whose plates are read.
const VEHICLES: [&str; 4] = ["car", "truck", "bus", "motorcycle"];

/// The best face of a track so far.
#[derive(Debug, Clone, Serialize)]
pub struct FaceField {
    /// YuNet's score.
    pub score: f32,
    /// Its quality for recognition (size x sharpness x frontal pose, 0..1): the track keeps its best.
    pub quality: f32,
    /// Face width in pixels.
    pub width: f32,
    /// Where it was, in frame pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Its 128-d embedding (MobileFaceNet), when the face is wide enough for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
}

/// A track's plate, voted over its reads.
#[derive(Debug, Clone, Serialize)]
pub struct PlateField {
    /// The winning text (letters and digits).
    pub text: String,
    /// Its share of the reads' confidence, 0..1.
    pub confidence: f32,
    /// Reads so far.
    pub reads: u32,
}

/// What a track line gains.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IdentityFields {
    /// The appearance embedding (on the frames where it was sampled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reid: Option<Vec<f32>>,
    /// The track's best face so far (on the frames where it got better).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face: Option<FaceField>,
    /// The track's plate (on the frames where a read came in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plate: Option<PlateField>,
}

#[derive(Default)]
struct TrackState {
    last_sample: Option<f64>,
    reid_sum: Vec<f32>,
    face: Option<FaceField>,
    votes: HashMap<String, (f32, u32)>,
}

/// The models and per-track state.
pub struct IdentityRun {
    reid: ReidEmbedder,
    faces: FaceDetector,
    embedder: FaceEmbedder,
    plates: PlateOcr,
    tracks: HashMap<u64, TrackState>,
}

fn round3(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| (x * 1000.0).round() / 1000.0).collect()
}

impl IdentityRun {
    /// Loads the re-id, face and plate models.
    pub fn load(models: Option<PathBuf>) -> anyhow::Result<IdentityRun> {
        let context = "--identity needs the re-identification, face and plate models";
        let assets = Assets::open(models)?;
        let (p, b) = assets.load(&REID).context(context)?;
        let reid = ReidEmbedder::new(&assets.runtime, &p, &b, 1)?;
        let FaceModels { detector, embedder } = load_models(&assets, 1).context(context)?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let plates = crate::cmd::plate::load(&assets, cores).context(context)?;
        Ok(IdentityRun {
            reid,
            faces: detector,
            embedder,
            plates,
            tracks: HashMap::new(),
        })
    }

    /// The fields of each matched track of this frame (`time` in seconds), sampling those due.
    pub fn update(
        &mut self,
        time: f64,
        frame: &BgrImage,
        tracks: &[TrackedObject],
        class_name: impl Fn(u16) -> String,
    ) -> anyhow::Result<HashMap<u64, IdentityFields>> {
        let mut out = HashMap::new();
        for t in tracks.iter().filter(|t| t.matched) {
            let state = self.tracks.entry(t.id).or_default();
            if state
                .last_sample
                .is_some_and(|last| time - last < SAMPLE_EVERY_S)
            {
                continue;
            }
            state.last_sample = Some(time);
            let class = class_name(t.class_id);
            let mut fields = IdentityFields::default();
            if class == "person" {
                let e = self.reid.embed(frame, &t.bbox)?;
                if state.reid_sum.is_empty() {
                    state.reid_sum = e;
                } else {
                    state.reid_sum.iter_mut().zip(&e).for_each(|(s, v)| *s += v);
                }
                let mean = vigil_core::embedding::mean_direction(&state.reid_sum);
                fields.reid = Some(round3(&mean));
                if let Some(face) = best_face(&mut self.faces, &mut self.embedder, frame, &t.bbox)?
                    && state.face.as_ref().is_none_or(|f| face.quality > f.quality)
                {
                    state.face = Some(face.clone());
                    fields.face = Some(face);
                }
            } else if VEHICLES.contains(&class.as_str())
                && let Some((crop, _)) = crop_of(frame, &t.bbox)
                && let Some(read) = self.plates.read_image(&crop)?
            {
                let v = state.votes.entry(read.text.text.clone()).or_default();
                v.0 += read.text.confidence;
                v.1 += 1;
                let total: f32 = state.votes.values().map(|v| v.0).sum();
                let reads: u32 = state.votes.values().map(|v| v.1).sum();
                if let Some((text, (w, _))) =
                    state.votes.iter().max_by(|a, b| a.1.0.total_cmp(&b.1.0))
                {
                    fields.plate = Some(PlateField {
                        text: text.clone(),
                        confidence: (w / total.max(1e-6) * 1000.0).round() / 1000.0,
                        reads,
                    });
                }
            }
            if fields.reid.is_some() || fields.face.is_some() || fields.plate.is_some() {
                out.insert(t.id, fields);
            }
        }
        Ok(out)
    }
}

/// The best face in the upper half of a person's box, in frame pixels, with its embedding when wide
/// enough.
fn best_face(
    faces: &mut FaceDetector,
    embedder: &mut FaceEmbedder,
    frame: &BgrImage,
    person: &BBox,
) -> anyhow::Result<Option<FaceField>> {
    let Some(found) = face_of_person(faces, frame, person)? else {
        return Ok(None);
    };
    let width = found.face.bbox.width();
    let embedding = if width >= MIN_FACE {
        Some(round3(&embedder.embed(&found.aligned)?))
    } else {
        None
    };
    let b = found.face.bbox;
    Ok(Some(FaceField {
        score: (found.face.score * 1000.0).round() / 1000.0,
        quality: (found.quality.score * 1000.0).round() / 1000.0,
        width: width.round(),
        bbox: [b.x1, b.y1, b.x2, b.y2],
        embedding,
    }))
}
