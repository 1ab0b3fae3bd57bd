//! A second opinion for intrusion rules: motion that nothing explains. The detector can be blinded (a patch
//! or a noise pattern on the intruder), fooled, or simply not know what it sees (a crawling person, an
//! animal it was not trained on); the motion model does not care what something is. A blob of motion that
//! keeps moving in an armed zone for the rule's `unclassified_after` while no tracked object overlaps it
//! raises an `unclassified_motion` event under the intrusion rule's name (so its alert, Home Assistant
//! sensor and webhooks are the intrusion's).
//!
//! Blobs are followed from frame to frame by overlap (motion boxes of one object move and change shape, so
//! the match is generous: overlapping or with centres closer than the larger box's size). A blob that any
//! confirmed track overlaps by a fifth of its area is explained, and its clock restarts. A blob counts
//! only once it has travelled [`MIN_TRAVEL`] of the frame: flicker and the "ghost" a person who stood
//! still leaves in the motion model stay put. A blob unseen for
//! [`BLOB_GAP_MS`] is gone; the event ends after the rule's cooldown with no unexplained blob in the zone.

use crate::compile::{Compiled, RuleSpec, Target};
use crate::describe::describe;
use crate::episode::IdGen;
use crate::geometry::Polygon;
use vigil_core::{BBox, Event, EventKind, EventPhase, EventTime, Point};

/// A blob unseen this long is gone (motion flickers on a slow or still object).
pub const BLOB_GAP_MS: i64 = 1_500;
/// Share of a blob's area a track must cover to explain it.
const EXPLAINED: f32 = 0.2;
/// How far (a share of the frame) an unexplained blob must travel before it counts: something that moves
/// across the zone, not a flicker or the "ghost" a person leaves in the motion model where they stood.
pub const MIN_TRAVEL: f32 = 0.03;

/// One followed blob of motion, in normalized coordinates.
#[derive(Debug, Clone)]
struct Blob {
    bbox: BBox,
    /// Since when it has moved in the zone unexplained, and where it was then (`None`: not in the zone,
    /// or explained now).
    unexplained_since: Option<(i64, Point)>,
    /// The farthest it has gone from there.
    travelled: f32,
    last_seen: i64,
}

/// The fallback state of one intrusion rule.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fallback {
    blobs: Vec<Blob>,
    open: Option<Event>,
    /// When an unexplained blob was last in the zone (the event ends a cooldown after).
    last_unexplained: i64,
}

fn overlap(a: &BBox, b: &BBox) -> f32 {
    a.intersection(b).area()
}

fn near(a: &BBox, b: &BBox) -> bool {
    if overlap(a, b) > 0.0 {
        return true;
    }
    let (ca, cb) = (a.center(), b.center());
    let reach = a.width().max(a.height()).max(b.width()).max(b.height());
    (ca.x - cb.x).hypot(ca.y - cb.y) < reach
}

impl Fallback {
    /// One analysed frame: `motion` and `tracks` boxes normalized to the frame; `armed` whether the rule
    /// is armed now. Returns the event messages that start, update or end (none without `after_ms`: the
    /// blobs are only followed, for [`Fallback::unexplained`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn step(
        &mut self,
        spec: &RuleSpec,
        after_ms: Option<i64>,
        c: &Compiled,
        camera: &str,
        ids: &mut IdGen,
        now: EventTime,
        motion: &[BBox],
        tracks: &[BBox],
        armed: bool,
    ) -> Vec<Event> {
        let t = now.unix_ms;
        let Target::Zone(z) = spec.target else {
            return Vec::new();
        };
        let zone: &Polygon = &c.zones[z].polygon;
        // Follow the blobs.
        let mut seen = vec![false; self.blobs.len()];
        for m in motion {
            let found = self
                .blobs
                .iter()
                .enumerate()
                .filter(|(i, b)| !seen[*i] && near(&b.bbox, m))
                .max_by(|a, b| overlap(&a.1.bbox, m).total_cmp(&overlap(&b.1.bbox, m)))
                .map(|(i, _)| i);
            match found {
                Some(i) => {
                    seen[i] = true;
                    self.blobs[i].bbox = *m;
                    self.blobs[i].last_seen = t;
                }
                None => {
                    self.blobs.push(Blob {
                        bbox: *m,
                        unexplained_since: None,
                        travelled: 0.0,
                        last_seen: t,
                    });
                    seen.push(true);
                }
            }
        }
        self.blobs.retain(|b| t - b.last_seen <= BLOB_GAP_MS);
        // Which are in the zone, unexplained, and for how long.
        let mut longest = 0;
        for b in &mut self.blobs {
            if b.last_seen != t {
                // Not moving this frame: its clock is kept across a flicker, but it does not count.
                continue;
            }
            let feet = Point::new(b.bbox.center().x, b.bbox.y2);
            let inside = zone.contains(feet) || zone.contains(b.bbox.center());
            let explained = tracks
                .iter()
                .any(|tb| overlap(tb, &b.bbox) >= EXPLAINED * b.bbox.area().max(1e-9));
            if inside && !explained && armed {
                let centre = b.bbox.center();
                let (since, origin) = *b.unexplained_since.get_or_insert((t, centre));
                b.travelled = b
                    .travelled
                    .max((centre.x - origin.x).hypot(centre.y - origin.y));
                if b.travelled >= MIN_TRAVEL {
                    longest = longest.max(t - since);
                }
            } else {
                b.unexplained_since = None;
                b.travelled = 0.0;
            }
        }
        let mut out = Vec::new();
        let Some(after_ms) = after_ms else {
            return out;
        };
        if longest > 0 {
            self.last_unexplained = t;
        }
        if longest >= after_ms && self.open.is_none() {
            let start = EventTime {
                unix_ms: t - longest,
                media: now.media,
            };
            let mut e = Event {
                attributes: Default::default(),
                id: ids.next(t),
                camera: camera.to_string(),
                rule: spec.name.clone(),
                kind: EventKind::UnclassifiedMotion {
                    moving_ms: longest as u64,
                },
                phase: EventPhase::Start,
                class_name: "unknown".into(),
                objects: Vec::new(),
                track_ids: Vec::new(),
                zone: Some(c.zones[z].name.clone()),
                line: None,
                start,
                last: now,
                end: None,
                best: None,
                description: String::new(),
            };
            e.description = describe(&e, &c.tz);
            self.open = Some(e.clone());
            out.push(e);
        } else if let Some(open) = self.open.as_mut() {
            let quiet = t - self.last_unexplained;
            if quiet >= spec.cooldown_ms.max(BLOB_GAP_MS) || !armed {
                let end = EventTime {
                    unix_ms: self.last_unexplained,
                    media: now.media,
                };
                out.extend(self.close(c, end));
            } else if longest > 0 {
                open.last = now;
            }
        }
        out
    }

    /// The blobs moving unexplained in the armed zone in the frame at `t` for at least `min_ms`
    /// (normalized), however far they have gone.
    pub(crate) fn unexplained(&self, t: i64, min_ms: i64) -> impl Iterator<Item = BBox> + '_ {
        self.blobs
            .iter()
            .filter(move |b| {
                b.last_seen == t && b.unexplained_since.is_some_and(|(s, _)| t - s >= min_ms)
            })
            .map(|b| b.bbox)
    }

    /// Ends the open event at `at` (never before it started): the motion stopped, or the engine closes.
    pub(crate) fn close(&mut self, c: &Compiled, at: EventTime) -> Option<Event> {
        let e = self.open.take()?;
        Some(crate::describe::ended(e, at, &c.tz))
    }
}

/// `boxes` (frame pixels) normalized to a `w` x `h` frame.
pub(crate) fn normalized_boxes(boxes: &[BBox], w: u32, h: u32) -> Vec<BBox> {
    let (w, h) = (w.max(1) as f32, h.max(1) as f32);
    boxes.iter().map(|b| b.scale(1.0 / w, 1.0 / h)).collect()
}
