//! Licence plates of vehicle tracks (`[plates.camera.NAME]`; off unless a camera is listed), as `vigil
//! run`'s live analysis and `vigil analyze --events` run it.
//!
//! Per track, not per frame: at most once every `sample_seconds` while a car, truck, bus or motorcycle
//! track is matched, the plate chain (`vigil_vision::plate_ocr::PlateOcr`: LPD-YuNet, else the text
//! detector, then PP-OCR) reads its box. Reads under `min_confidence` are dropped; the others vote for
//! their canonical text (`vigil_identity::plates::canonical`, so `O`/`0` or a separator do not split the
//! vote), weighted by their confidence. Once the leading text has `min_reads` reads the track starts a
//! `plate_read` event (the plate, the leader's share of the vote, the reads, the `[plates.lists]` list it
//! is on and that list's alert level); the event is updated when the leader changes and ended when the
//! track is gone.

use crate::PipelineError;
use crate::faces::crop_of;
use crate::track_events;
use std::collections::HashMap;
use std::sync::Arc;
use tracing::warn;
use vigil_core::{BgrImage, ClassId, Event, EventKind, TrackId, TrackedObject};
use vigil_identity::plates::canonical;
use vigil_identity::{PlateLists, PlatesConfig};
use vigil_rules::{FrameContext, IdGen, TimeZone};
use vigil_vision::plate_ocr::PlateOcr;
use vigil_vision::shared::SharedModel;

/// The rule name plate events carry.
pub const RULE: &str = "plates";
/// The classes whose plates are read.
pub const VEHICLES: [&str; 4] = ["car", "truck", "bus", "motorcycle"];

/// One text's votes on a track.
#[derive(Default)]
struct Votes {
    /// Summed confidence.
    weight: f32,
    reads: u32,
    /// The text as read most confidently (for display).
    shown: String,
    best: f32,
}

#[derive(Default)]
struct TrackPlates {
    last_sample: Option<i64>,
    votes: HashMap<String, Votes>,
    open: Option<Event>,
}

impl TrackPlates {
    fn reads(&self) -> u32 {
        self.votes.values().map(|v| v.reads).sum()
    }

    /// The leading canonical text and its votes.
    fn leader(&self) -> Option<(&String, &Votes)> {
        self.votes
            .iter()
            .max_by(|a, b| a.1.weight.total_cmp(&b.1.weight).then(b.0.cmp(a.0)))
    }
}

/// One camera's plate reading.
pub struct PlateStage {
    camera: String,
    ocr: Arc<SharedModel<PlateOcr>>,
    config: PlatesConfig,
    lists: Arc<PlateLists>,
    vehicles: HashMap<ClassId, String>,
    tz: TimeZone,
    ids: IdGen,
    tracks: HashMap<TrackId, TrackPlates>,
}

impl PlateStage {
    /// Plate reading on `camera` with `ocr`; reads are looked up in `lists` (shared: changes from the
    /// UI apply at the next read); `classes` are the detector's (vehicle tracks are read), `tz` the
    /// site's time zone for descriptions.
    pub fn new(
        camera: &str,
        ocr: Arc<SharedModel<PlateOcr>>,
        config: &PlatesConfig,
        lists: Arc<PlateLists>,
        classes: &[String],
        tz: TimeZone,
    ) -> PlateStage {
        let vehicles = classes
            .iter()
            .enumerate()
            .filter(|(_, c)| VEHICLES.contains(&c.as_str()))
            .filter_map(|(i, c)| Some((ClassId::try_from(i).ok()?, c.clone())))
            .collect();
        PlateStage {
            camera: camera.to_string(),
            ocr,
            config: config.clone(),
            lists,
            vehicles,
            tz,
            ids: IdGen::new(&format!("{camera}/{RULE}")),
            tracks: HashMap::new(),
        }
    }

    fn sample_ms(&self) -> i64 {
        (self.config.sample_seconds * 1000.0) as i64
    }

    /// Whether this frame has a vehicle track due for a read (the caller then needs the frame in BGR).
    pub fn due(&self, now_ms: i64, tracks: &[TrackedObject]) -> bool {
        tracks.iter().any(|t| {
            t.matched
                && self.vehicles.contains_key(&t.class_id)
                && track_events::due(
                    self.tracks.get(&t.id).and_then(|s| s.last_sample),
                    now_ms,
                    self.sample_ms(),
                )
        })
    }

    /// Reads the plates of the vehicle tracks due in `frame` (BGR, the size the boxes refer to; `None`:
    /// nothing is read), ends the events of tracks gone, and returns the event messages to publish.
    pub fn update(
        &mut self,
        ctx: &FrameContext,
        frame: Option<&BgrImage>,
        tracks: &[TrackedObject],
    ) -> Vec<Event> {
        let now = ctx.time_unix_ms;
        let every = self.sample_ms();
        let mut out = Vec::new();
        if let Some(frame) = frame {
            for t in tracks {
                if !t.matched || !self.vehicles.contains_key(&t.class_id) {
                    continue;
                }
                let state = self.tracks.entry(t.id).or_default();
                if !track_events::due(state.last_sample, now, every) {
                    continue;
                }
                state.last_sample = Some(now);
                match self.read(ctx, frame, t) {
                    Ok(event) => out.extend(event),
                    Err(e) => warn!(camera = %self.camera, track = t.id, "plate reading: {e}"),
                }
            }
        }
        let gone = track_events::gone(&self.tracks, tracks);
        for id in gone {
            if let Some(open) = self.tracks.remove(&id).and_then(|s| s.open) {
                out.push(track_events::end(open, ctx, &self.tz));
            }
        }
        out
    }

    /// Ends every open event (the camera stops).
    pub fn close(&mut self, ctx: &FrameContext) -> Vec<Event> {
        let open: Vec<Event> = self.tracks.drain().filter_map(|(_, s)| s.open).collect();
        open.into_iter()
            .map(|e| track_events::end(e, ctx, &self.tz))
            .collect()
    }

    /// One read of track `t`'s plate; the event message it makes, if any.
    fn read(
        &mut self,
        ctx: &FrameContext,
        frame: &BgrImage,
        t: &TrackedObject,
    ) -> Result<Option<Event>, PipelineError> {
        let Some((crop, _)) = crop_of(frame, &t.bbox) else {
            return Ok(None);
        };
        let Some(read) = self.ocr.with(|o| o.read_image(&crop))? else {
            return Ok(None);
        };
        let confidence = read.text.confidence;
        let key = canonical(&read.text.text);
        if confidence < self.config.min_confidence || key.len() < 2 {
            return Ok(None);
        }
        let state = self.tracks.entry(t.id).or_default();
        let v = state.votes.entry(key).or_default();
        v.weight += confidence;
        v.reads += 1;
        if confidence > v.best {
            v.best = confidence;
            v.shown.clone_from(&read.text.text);
        }
        let total: f32 = state.votes.values().map(|v| v.weight).sum();
        let reads = state.reads();
        let Some((_, leader)) = state.leader() else {
            return Ok(None);
        };
        if leader.reads < self.config.min_reads {
            return Ok(None);
        }
        let plate = leader.shown.clone();
        let (list, alert) = match self.lists.lookup(&plate) {
            Some((list, alert)) => (Some(list), alert),
            None => (None, vigil_identity::plates::NO_LIST_ALERT.to_string()),
        };
        let kind = EventKind::PlateRead {
            plate: plate.clone(),
            confidence: track_events::round3(leader.weight / total.max(1e-6)),
            reads,
            alert,
            list,
        };
        let class = self.vehicles.get(&t.class_id).cloned().unwrap_or_default();
        let event = match state.open.take() {
            Some(open) => {
                let changed = match &open.kind {
                    EventKind::PlateRead { plate: was, .. } => *was != plate,
                    _ => true,
                };
                if !changed {
                    // The same plate again: no message now; the end message carries the final count.
                    let mut open = open;
                    open.kind = kind;
                    open.last = track_events::at(ctx);
                    state.open = Some(open);
                    return Ok(None);
                }
                track_events::update(open, kind, t, ctx, &self.tz)
            }
            None => track_events::start(
                &self.camera,
                &mut self.ids,
                RULE,
                kind,
                &class,
                None,
                t,
                ctx,
                &self.tz,
            ),
        };
        state.open = Some(event.clone());
        Ok(Some(event))
    }
}
