//! Face recognition on person tracks (`[faces.camera.NAME]`; off unless a camera is listed), as `vigil
//! run`'s live analysis and `vigil analyze --events` run it.
//!
//! Per track, not per frame: at most once every `sample_seconds` while a person track is matched, YuNet
//! looks for a face in the upper half of its box ([`face_of_person`]); the face is aligned on its five
//! landmarks and scored ([`FaceQuality`]: size, sharpness, frontal pose). Faces below `min_quality` are
//! dropped; the others are embedded (MobileFaceNet) and compared with every enrolled template
//! ([`FaceBook::best_match`]). A match at or above `threshold` starts a `face_recognized` event for the
//! track (updated when a later face matches better, ended when the track is gone); a clear face that
//! matches nobody, on a person inside one of the camera's `only_enrolled` zones (the rules engine's zone
//! membership), starts a `face_unknown` event. Embeddings are not kept: an event says who and how sure,
//! never the face's vector.

use crate::PipelineError;
use crate::track_events;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tracing::warn;
use vigil_core::{BBox, BgrImage, ClassId, Event, EventKind, TrackId, TrackedObject};
use vigil_identity::{CameraFaces, FaceBook, FacesConfig};
use vigil_rules::{FrameContext, IdGen, TimeZone, ZoneOccupancy};
use vigil_vision::face_embed::{FaceEmbedder, align, on_canvas};
use vigil_vision::face_quality::FaceQuality;
use vigil_vision::faces::{Face, FaceDetector};
use vigil_vision::shared::SharedModel;

/// The rule name face events carry.
pub const RULE: &str = "faces";

/// A face found on a person: in frame pixels, aligned, and its quality.
#[derive(Debug, Clone)]
pub struct PersonFace {
    /// The face, box and landmarks in frame pixels.
    pub face: Face,
    /// The 112x112 aligned face.
    pub aligned: BgrImage,
    /// Its quality.
    pub quality: FaceQuality,
}

/// `bbox` of `frame`, clipped, when at least 8x8 pixels; and where it starts.
pub fn crop_of(frame: &BgrImage, bbox: &BBox) -> Option<(BgrImage, (f32, f32))> {
    let x = bbox.x1.max(0.0) as u32;
    let y = bbox.y1.max(0.0) as u32;
    let w = (bbox.x2.min(frame.width() as f32) as u32).saturating_sub(x);
    let h = (bbox.y2.min(frame.height() as f32) as u32).saturating_sub(y);
    if w < 8 || h < 8 {
        return None;
    }
    frame
        .crop(x, y, w, h)
        .ok()
        .map(|c| (c, (x as f32, y as f32)))
}

/// The most confident face in the upper half of a person's box (YuNet on the crop set at its own scale on
/// a canvas, so small faces are seen at the scale the threshold was measured at), in frame pixels.
pub fn face_of_person(
    detector: &mut FaceDetector,
    frame: &BgrImage,
    person: &BBox,
) -> Result<Option<PersonFace>, PipelineError> {
    let upper = BBox::new(
        person.x1,
        person.y1,
        person.x2,
        person.y1 + (person.y2 - person.y1) / 2.0,
    );
    let Some((crop, (ox, oy))) = crop_of(frame, &upper) else {
        return Ok(None);
    };
    let (cw, ch) = (crop.width(), crop.height());
    let canvas = on_canvas(crop);
    // Where the crop sits on the canvas (centred when it was set on one).
    let (cx, cy) = if canvas.width() == cw && canvas.height() == ch {
        (0.0, 0.0)
    } else {
        (
            ((canvas.width() - cw) / 2) as f32,
            ((canvas.height() - ch) / 2) as f32,
        )
    };
    let Some(mut face) = detector.detect(&canvas)?.into_iter().next() else {
        return Ok(None);
    };
    let aligned = align(&canvas, &face.landmarks);
    let quality = FaceQuality::of(&face, &canvas);
    let (dx, dy) = (ox - cx, oy - cy);
    face.bbox = BBox::new(
        face.bbox.x1 + dx,
        face.bbox.y1 + dy,
        face.bbox.x2 + dx,
        face.bbox.y2 + dy,
    );
    face.landmarks = face.landmarks.map(|(x, y)| (x + dx, y + dy));
    Ok(Some(PersonFace {
        face,
        aligned,
        quality,
    }))
}

/// The template (embedding) of the one face in a photo, or what is wrong with the photo (`what` names it
/// in the message): too small, no face, several faces, a face narrower than
/// `vigil_vision::face_quality::MIN_FACE`. The rules of every enrolment (`vigil face enrol`, the API).
pub fn photo_template(
    models: &mut FaceModels,
    photo: BgrImage,
    what: &str,
) -> Result<Vec<f32>, PipelineError> {
    let refuse = |m: String| Err(PipelineError::Photo(m));
    if photo.width() < 32 || photo.height() < 32 {
        return refuse(format!(
            "{what} is {}x{} pixels: too small to hold a face",
            photo.width(),
            photo.height()
        ));
    }
    let image = on_canvas(photo);
    let faces = models.detector.detect(&image)?;
    let face = match faces.as_slice() {
        [] => return refuse(format!("no face found in {what}")),
        [one] => one,
        many => {
            return refuse(format!(
                "{} faces in {what}: crop the photo to the one person",
                many.len()
            ));
        }
    };
    let width = face.bbox.width();
    let min = vigil_vision::face_quality::MIN_FACE;
    if width < min {
        return refuse(format!(
            "the face in {what} is {width:.0} pixels wide: at least {min:.0} are needed for a reliable template"
        ));
    }
    Ok(models.embedder.embed(&align(&image, &face.landmarks))?)
}

/// [`photo_template`] of a photo given as JPEG or PNG bytes (decoded by FFmpeg from a private temporary
/// file, removed at once).
pub fn photo_bytes_template(
    models: &mut FaceModels,
    photo: &[u8],
    what: &str,
) -> Result<Vec<f32>, PipelineError> {
    let io = |e: std::io::Error| PipelineError::Photo(format!("a temporary file for {what}: {e}"));
    let mut file = tempfile::Builder::new()
        .prefix("vigil-photo-")
        .tempfile()
        .map_err(io)?;
    std::io::Write::write_all(&mut file, photo).map_err(io)?;
    let image = vigil_media::image_file::read_bgr(file.path())
        .map_err(|_| PipelineError::Photo(format!("{what} is not a readable JPEG or PNG image")))?;
    photo_template(models, image, what)
}

/// The face models a stage runs.
pub struct FaceModels {
    /// YuNet.
    pub detector: FaceDetector,
    /// MobileFaceNet.
    pub embedder: FaceEmbedder,
}

/// What the stage knows of one track.
#[derive(Default)]
struct TrackFaces {
    last_sample: Option<i64>,
    /// The open `face_recognized` event.
    recognized: Option<Event>,
    /// The open `face_unknown` event.
    unknown: Option<Event>,
    /// Best quality and best similarity of the faces that matched nobody.
    unmatched: Option<(f32, f32)>,
}

/// One camera's face recognition.
pub struct FaceStage {
    camera: String,
    models: Arc<SharedModel<FaceModels>>,
    book: Arc<Mutex<FaceBook>>,
    config: FacesConfig,
    camera_config: CameraFaces,
    person: Option<ClassId>,
    tz: TimeZone,
    ids: IdGen,
    tracks: HashMap<TrackId, TrackFaces>,
}

impl FaceStage {
    /// Face recognition on `camera` (`config.camera[camera]`, or nothing special when absent), matching
    /// against `book`; `classes` are the detector's (person tracks are looked at), `tz` the site's time
    /// zone for descriptions.
    pub fn new(
        camera: &str,
        models: Arc<SharedModel<FaceModels>>,
        book: Arc<Mutex<FaceBook>>,
        config: &FacesConfig,
        classes: &[String],
        tz: TimeZone,
    ) -> FaceStage {
        FaceStage {
            camera: camera.to_string(),
            models,
            book,
            camera_config: config.on(camera).cloned().unwrap_or_default(),
            config: config.clone(),
            person: classes
                .iter()
                .position(|c| c == "person")
                .and_then(|i| ClassId::try_from(i).ok()),
            tz,
            ids: IdGen::new(&format!("{camera}/{RULE}")),
            tracks: HashMap::new(),
        }
    }

    fn sample_ms(&self) -> i64 {
        (self.config.sample_seconds * 1000.0) as i64
    }

    /// Whether this frame has a person track due for a look (the caller then needs the frame in BGR).
    pub fn due(&self, now_ms: i64, tracks: &[TrackedObject]) -> bool {
        tracks.iter().any(|t| {
            t.matched
                && Some(t.class_id) == self.person
                && track_events::due(
                    self.tracks.get(&t.id).and_then(|s| s.last_sample),
                    now_ms,
                    self.sample_ms(),
                )
        })
    }

    /// Whether [`FaceStage::update`] needs the zones' members this frame: the camera has `only_enrolled`
    /// zones and a face is due for a look (the rules engine's occupancy is not built for nothing).
    pub fn needs_zones(&self, now_ms: i64, tracks: &[TrackedObject]) -> bool {
        !self.camera_config.only_enrolled.is_empty() && self.due(now_ms, tracks)
    }

    /// Looks at the faces of the person tracks due in `frame` (BGR, the size the boxes refer to; `None`
    /// when the caller had none to give: nothing is sampled), ends the events of tracks gone, and returns
    /// the event messages to publish. `zones` are the rules engine's zones after this frame (only read when
    /// [`FaceStage::needs_zones`]).
    pub fn update(
        &mut self,
        ctx: &FrameContext,
        frame: Option<&BgrImage>,
        tracks: &[TrackedObject],
        zones: &[ZoneOccupancy],
    ) -> Vec<Event> {
        let now = ctx.time_unix_ms;
        let every = self.sample_ms();
        let mut out = Vec::new();
        for t in tracks {
            if !t.matched || Some(t.class_id) != self.person {
                continue;
            }
            let Some(frame) = frame else { break };
            let state = self.tracks.entry(t.id).or_default();
            if !track_events::due(state.last_sample, now, every) {
                continue;
            }
            state.last_sample = Some(now);
            match self.look(ctx, frame, t, zones) {
                Ok(events) => out.extend(events),
                Err(e) => warn!(camera = %self.camera, track = t.id, "face recognition: {e}"),
            }
        }
        // Tracks the tracker has let go of: their events end.
        let gone = track_events::gone(&self.tracks, tracks);
        for id in gone {
            if let Some(state) = self.tracks.remove(&id) {
                out.extend(self.end(state, ctx));
            }
        }
        out
    }

    /// Ends every open event (the camera stops).
    pub fn close(&mut self, ctx: &FrameContext) -> Vec<Event> {
        let states: Vec<TrackFaces> = self.tracks.drain().map(|(_, s)| s).collect();
        states.into_iter().flat_map(|s| self.end(s, ctx)).collect()
    }

    fn end(&self, state: TrackFaces, ctx: &FrameContext) -> Vec<Event> {
        [state.recognized, state.unknown]
            .into_iter()
            .flatten()
            .map(|e| track_events::end(e, ctx, &self.tz))
            .collect()
    }

    /// One look at track `t`'s face.
    fn look(
        &mut self,
        ctx: &FrameContext,
        frame: &BgrImage,
        t: &TrackedObject,
        zones: &[ZoneOccupancy],
    ) -> Result<Vec<Event>, PipelineError> {
        let min_quality = self.config.min_quality;
        let looked = self.models.with(|m| -> Result<_, PipelineError> {
            let Some(found) = face_of_person(&mut m.detector, frame, &t.bbox)? else {
                return Ok(None);
            };
            if found.quality.score < min_quality {
                return Ok(None);
            }
            let embedding = m.embedder.embed(&found.aligned)?;
            Ok(Some((found, embedding)))
        })?;
        let Some((found, embedding)) = looked else {
            return Ok(Vec::new());
        };
        let quality = found.quality.score;
        let best = self
            .book
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .best_match(&embedding, -1.0)
            .map_err(|e| PipelineError::Config(format!("the watchlists: {e}")))?;
        let zone = zones
            .iter()
            .find(|z| z.members.iter().any(|m| m.track_id == t.id))
            .map(|z| z.zone.clone());
        let mut out = Vec::new();
        let threshold = self.config.threshold;
        let matched = best.as_ref().filter(|m| m.score >= threshold);
        let state = self.tracks.entry(t.id).or_default();
        if let Some(m) = matched {
            let kind = EventKind::FaceRecognized {
                person: m.name.clone(),
                list: m.list.clone(),
                similarity: track_events::round3(m.score),
                alert: self.config.alert_of(&m.list).to_string(),
                quality: track_events::round3(quality),
            };
            let better = match &state.recognized {
                None => true,
                Some(open) => match &open.kind {
                    EventKind::FaceRecognized { similarity, .. } => m.score > *similarity + 0.01,
                    _ => false,
                },
            };
            if better {
                let event = match state.recognized.take() {
                    Some(open) => track_events::update(open, kind, t, ctx, &self.tz),
                    None => track_events::start(
                        &self.camera,
                        &mut self.ids,
                        RULE,
                        kind,
                        "person",
                        zone.clone(),
                        t,
                        ctx,
                        &self.tz,
                    ),
                };
                state.recognized = Some(event.clone());
                out.push(event);
            }
            // Someone enrolled after all.
            let unknown = state.unknown.take();
            if unknown.is_some() {
                let ended = TrackFaces {
                    unknown,
                    ..Default::default()
                };
                out.extend(self.end(ended, ctx));
            }
            return Ok(out);
        }
        let similarity = best.map_or(0.0, |m| m.score);
        let (q, s) = state.unmatched.unwrap_or((0.0, -1.0));
        state.unmatched = Some((q.max(quality), s.max(similarity)));
        let restricted = zone
            .as_ref()
            .is_some_and(|z| self.camera_config.only_enrolled.contains(z));
        if restricted && state.recognized.is_none() && state.unknown.is_none() {
            let (q, s) = state.unmatched.unwrap_or((quality, similarity));
            let kind = EventKind::FaceUnknown {
                quality: track_events::round3(q),
                best_similarity: track_events::round3(s),
            };
            let event = track_events::start(
                &self.camera,
                &mut self.ids,
                RULE,
                kind,
                "person",
                zone,
                t,
                ctx,
                &self.tz,
            );
            state.unknown = Some(event.clone());
            out.push(event);
        }
        Ok(out)
    }
}
