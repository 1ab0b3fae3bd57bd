//! Re-linking people the tracker lost for longer than its buffer: a person hidden behind a pillar or a van
//! for a few seconds comes back under a new tracker id; this stage gives them their earlier id again when
//! they look the same, so the rules, the events and the counts see one person.
//!
//! Per person track, an appearance embedding (`vigil_vision::reid`, 256-d) is the running mean of samples
//! taken at most once a second while the track is matched and its box is whole (inside the frame, at
//! least [`MIN_HEIGHT`] pixels tall). When the tracker drops a track, its mean goes to a gallery of lost
//! people for `window` seconds. A new person track is compared with the gallery on its first whole view:
//! it takes the lost id whose embedding is most alike when that cosine is at least `threshold` and beats
//! the next candidate by [`MARGIN`]; otherwise it keeps its own id. A wrong link merges two people,
//! which costs more than a missed one (a second event), so the threshold sits above every
//! different-people score measured (see [`DEFAULT_THRESHOLD`]).
//!
//! Stable ids are earlier tracker ids, which the tracker never hands out again.

use crate::PipelineError;
use std::collections::HashMap;
use std::sync::Arc;
use vigil_core::embedding::{cosine, mean_direction};
use vigil_core::{Appearance, BBox, BgrImage, ClassId, TrackId, TrackedObject};
use vigil_vision::reid::ReidEmbedder;
use vigil_vision::shared::SharedModel;

/// Cosine at and above which a new track is the lost person. On MOT17-mini (`crates/vigil-vision/tests/
/// faces_plates.rs`, pedestrians 3 to 7 frames apart) the same person scored at least 0.47 (5th
/// percentile 0.73, median 0.91) and two different people at most 0.756 (99th percentile 0.66): set above
/// the different-people maximum.
pub const DEFAULT_THRESHOLD: f32 = 0.78;
/// How much the best lost candidate must beat the next one by.
pub const MARGIN: f32 = 0.05;
/// Default `window`: how long a lost person can be re-linked (seconds).
pub const DEFAULT_WINDOW_S: f64 = 30.0;
/// Shortest box (pixels) an embedding is taken from.
pub const MIN_HEIGHT: f32 = 64.0;
/// Shortest time between two samples of one track (ms).
const SAMPLE_EVERY_MS: i64 = 1000;

/// A person track being followed.
struct Live {
    stable: TrackId,
    sum: Vec<f32>,
    samples: u32,
    last_sample: Option<i64>,
    first_ms: i64,
    last_ms: i64,
}

/// A person the tracker let go of.
struct Lost {
    stable: TrackId,
    embedding: Vec<f32>,
    since: i64,
}

/// What the stage did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RelinkStats {
    /// New person tracks compared with the gallery.
    pub compared: u64,
    /// Of those, given an earlier id.
    pub relinked: u64,
    /// Embeddings computed.
    pub embeddings: u64,
}

/// One camera's re-linking.
pub struct Relinker {
    camera: String,
    reid: Arc<SharedModel<ReidEmbedder>>,
    person: ClassId,
    threshold: f32,
    window_ms: i64,
    /// Tracker id -> its person.
    live: HashMap<TrackId, Live>,
    /// Appearances of the tracks that ended, not taken yet.
    ended: Vec<Appearance>,
    /// People lost recently.
    lost: Vec<Lost>,
    stats: RelinkStats,
}

impl Relinker {
    /// Re-linking of `camera`'s `person` tracks with `reid` (shared with the other cameras), at
    /// `threshold`, for people lost at most `window_s` ago.
    pub fn new(
        camera: &str,
        reid: Arc<SharedModel<ReidEmbedder>>,
        person: ClassId,
        threshold: f32,
        window_s: f64,
    ) -> Relinker {
        Relinker {
            camera: camera.to_string(),
            reid,
            person,
            threshold,
            window_ms: (window_s * 1000.0) as i64,
            live: HashMap::new(),
            ended: Vec::new(),
            lost: Vec::new(),
            stats: RelinkStats::default(),
        }
    }

    /// What it did so far.
    pub fn stats(&self) -> RelinkStats {
        self.stats
    }

    fn whole(&self, b: &BBox, w: u32, h: u32) -> bool {
        b.height() >= MIN_HEIGHT
            && b.x1 >= 2.0
            && b.y1 >= 2.0
            && b.x2 <= w as f32 - 2.0
            && b.y2 <= h as f32 - 2.0
    }

    /// Whether this frame needs a look (a new person track to compare, or one due for a sample): the
    /// caller then passes the frame in BGR to [`Relinker::apply`]. A new track is decided on in the frame
    /// it first appears in, so a caller that skips a frame where this is true loses that chance.
    pub fn wants_frame(&self, now_ms: i64, tracks: &[TrackedObject], size: (u32, u32)) -> bool {
        tracks.iter().any(|t| {
            t.matched
                && t.class_id == self.person
                && self.whole(&t.bbox, size.0, size.1)
                && self.live.get(&t.id).is_none_or(|l| {
                    crate::track_events::due(l.last_sample, now_ms, SAMPLE_EVERY_MS)
                })
        })
    }

    /// Gives this frame's person tracks their stable ids (in place), comparing new ones with the lost
    /// and sampling the live; `frame` is the BGR picture the boxes refer to (`None`: nothing new is
    /// decided this frame, ids already decided still apply).
    pub fn apply(
        &mut self,
        now_ms: i64,
        frame: Option<&BgrImage>,
        tracks: &mut [TrackedObject],
    ) -> Result<(), PipelineError> {
        self.lost.retain(|l| now_ms - l.since <= self.window_ms);
        // Tracks the tracker dropped: into the gallery, when they were ever seen whole.
        let gone = crate::track_events::gone(&self.live, tracks);
        for id in gone {
            if let Some(l) = self.live.remove(&id)
                && l.samples > 0
            {
                let embedding = mean_direction(&l.sum);
                self.ended.push(Appearance {
                    camera: self.camera.clone(),
                    track: l.stable,
                    first_ms: l.first_ms,
                    last_ms: l.last_ms,
                    embedding: embedding.clone(),
                });
                self.lost.push(Lost {
                    stable: l.stable,
                    embedding,
                    since: now_ms,
                });
            }
        }
        for t in tracks.iter_mut() {
            if t.class_id != self.person {
                continue;
            }
            let tracker_id = t.id;
            let whole = frame.is_some_and(|f| self.whole(&t.bbox, f.width(), f.height()));
            let embedding = match (frame, self.live.get(&tracker_id)) {
                // A new track is decided on at once: a later change of id would split what the rules
                // already saw.
                (Some(f), None) if whole && t.matched => {
                    Some(self.reid.with(|r| r.embed(f, &t.bbox))?)
                }
                (Some(f), Some(l))
                    if whole
                        && t.matched
                        && crate::track_events::due(l.last_sample, now_ms, SAMPLE_EVERY_MS) =>
                {
                    Some(self.reid.with(|r| r.embed(f, &t.bbox))?)
                }
                _ => None,
            };
            self.stats.embeddings += u64::from(embedding.is_some());
            if !self.live.contains_key(&tracker_id) {
                let stable = embedding
                    .as_deref()
                    .and_then(|e| self.relink(e))
                    .unwrap_or(tracker_id);
                self.live.insert(
                    tracker_id,
                    Live {
                        stable,
                        sum: vec![0.0; vigil_vision::reid::DIM],
                        samples: 0,
                        last_sample: None,
                        first_ms: now_ms,
                        last_ms: now_ms,
                    },
                );
            }
            if let Some(l) = self.live.get_mut(&tracker_id) {
                if t.matched {
                    l.last_ms = now_ms;
                }
                if let Some(e) = &embedding {
                    l.sum.iter_mut().zip(e).for_each(|(s, v)| *s += v);
                    l.samples += 1;
                    l.last_sample = Some(now_ms);
                }
                t.id = l.stable;
            }
        }
        Ok(())
    }

    /// The appearances of the person tracks that ended since the last call (to be kept by the store).
    pub fn take_appearances(&mut self) -> Vec<Appearance> {
        std::mem::take(&mut self.ended)
    }

    /// The appearances of every person track still followed and of those that ended, at the end of
    /// the analysis.
    pub fn finish(&mut self) -> Vec<Appearance> {
        let live: Vec<Live> = self.live.drain().map(|(_, l)| l).collect();
        for l in live.into_iter().filter(|l| l.samples > 0) {
            self.ended.push(Appearance {
                camera: self.camera.clone(),
                track: l.stable,
                first_ms: l.first_ms,
                last_ms: l.last_ms,
                embedding: mean_direction(&l.sum),
            });
        }
        self.take_appearances()
    }

    /// The lost person `e` is, if any, taken out of the gallery.
    fn relink(&mut self, e: &[f32]) -> Option<TrackId> {
        if self.lost.is_empty() {
            return None;
        }
        self.stats.compared += 1;
        let mut scored: Vec<(f32, usize)> = self
            .lost
            .iter()
            .enumerate()
            .map(|(i, l)| (cosine(e, &l.embedding), i))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let (best, i) = scored[0];
        let second = scored.get(1).map_or(-1.0, |s| s.0);
        if best < self.threshold || best - second < MARGIN {
            return None;
        }
        self.stats.relinked += 1;
        Some(self.lost.swap_remove(i).stable)
    }
}
