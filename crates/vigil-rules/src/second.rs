//! An independent second detector per intrusion rule (`second_opinion = "confirm"`, `"catch"` or
//! `"both"`, with `[analysis] second_model`). The engine does no inference: each frame it says what it
//! wants looked at ([`SecondOpinionRequest`]), the caller runs the second detector there and hands back
//! what it saw ([`SecondDetection`]), and the engine draws the conclusions.
//!
//! - **confirm**: an object in an armed zone takes part in the rule only once the second detector, run on
//!   a square around the object's box, has seen an object of the same class there (IoU at least
//!   [`MATCH_IOU`]). Until then its event is held; a refusal is asked again after [`RECHECK_MS`] (a
//!   first view may be partial), and an object never confirmed is a suppressed false alarm (counted and
//!   logged). A confirmed track stays confirmed. A class the second model does not know is not judged.
//! - **catch**: motion in an armed zone that no track explains (followed as in `crate::fallback`) for
//!   [`CATCH_AFTER_MS`] is shown to the second detector, at most every [`CATCH_EVERY_MS`] per rule; an object of the rule's classes it
//!   finds there, standing in the zone and not on a track, raises the rule's intrusion event, marked in
//!   its description as the second detector's. The event ends once the second detector has found
//!   nothing there for the rule's cooldown (at least [`CATCH_GAP_MS`]).

use crate::compile::{Compiled, RuleSpec, Target};
use crate::describe::describe;
use crate::episode::IdGen;
use crate::zones::is_inside;
use std::collections::BTreeMap;
use vigil_core::{BBox, ClassCount, Event, EventKind, EventPhase, EventTime, TrackId};

/// A box of the second detector matches the object's when their IoU is at least this.
pub const MATCH_IOU: f32 = 0.3;
/// An object the second detector did not see is shown to it again after this long.
pub const RECHECK_MS: i64 = 1_000;
/// Motion is shown to the second detector once it has moved unexplained this long: a person walking in
/// is on a confirmed track of the main detector within a few frames, and a look before that would only
/// find them again.
pub const CATCH_AFTER_MS: i64 = 1_000;
/// Per catch rule, unexplained motion is shown to the second detector at most this often.
pub const CATCH_EVERY_MS: i64 = 1_000;
/// A caught intrusion ends when the second detector has found nothing for this long (or the rule's
/// cooldown, if longer).
pub const CATCH_GAP_MS: i64 = 3_000;

/// An object whose event waits for the second detector.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmRequest {
    /// Its track.
    pub track_id: TrackId,
    /// Its class name (from the main detector).
    pub class_name: String,
    /// Its box in frame pixels.
    pub bbox: BBox,
}

/// What the rules want the second detector to look at in one frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecondOpinionRequest {
    /// Objects to confirm.
    pub confirm: Vec<ConfirmRequest>,
    /// Unexplained motion in armed zones of catch rules, in frame pixels (rule index, box).
    pub catch: Vec<(usize, BBox)>,
}

impl SecondOpinionRequest {
    /// True when there is nothing to look at.
    pub fn is_empty(&self) -> bool {
        self.confirm.is_empty() && self.catch.is_empty()
    }

    /// The boxes to look at, in frame pixels (objects first, then motion).
    pub fn boxes(&self) -> impl Iterator<Item = BBox> + '_ {
        self.confirm
            .iter()
            .map(|c| c.bbox)
            .chain(self.catch.iter().map(|(_, b)| *b))
    }
}

/// One detection of the second detector, in frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct SecondDetection {
    /// Its class name in the second model's classes.
    pub class_name: String,
    /// Its score.
    pub score: f32,
    /// Its box in frame pixels.
    pub bbox: BBox,
}

/// What the second opinion did so far (for summaries and measurements).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecondOpinionStats {
    /// Frames in which the second detector was asked to look.
    pub looks: u64,
    /// Objects shown to it for confirmation (each check counted).
    pub confirm_checks: u64,
    /// Tracks it confirmed.
    pub confirmed: u64,
    /// Tracks it did not see at their first check (held).
    pub held: u64,
    /// Tracks held and never confirmed: false alarms suppressed (or true objects lost).
    pub suppressed: u64,
    /// Motion regions shown to it by catch rules.
    pub catch_checks: u64,
    /// Intrusion events raised from its finds.
    pub caught_events: u64,
}

#[derive(Debug, Clone, Copy)]
enum Verdict {
    Confirmed,
    Rejected { last_ms: i64 },
}

/// One catch rule's state.
#[derive(Debug, Clone, Default)]
struct Catch {
    last_look: Option<i64>,
    last_found: i64,
    open: Option<Event>,
}

/// The second opinion of one camera's rules.
#[derive(Debug, Clone, Default)]
pub(crate) struct SecondOpinionState {
    /// The second model's name and classes (`None`: no second detector, the rules that ask are inert).
    model: Option<(String, Vec<String>)>,
    verdicts: BTreeMap<TrackId, Verdict>,
    catches: Vec<Catch>,
    /// Held tracks forgotten without ever being confirmed.
    forgotten_held: u64,
    stats: SecondOpinionStats,
}

fn iou(a: &BBox, b: &BBox) -> f32 {
    let i = a.intersection(b).area();
    let u = a.area() + b.area() - i;
    if u > 0.0 { i / u } else { 0.0 }
}

impl SecondOpinionState {
    pub(crate) fn new(rules: usize) -> Self {
        Self {
            catches: vec![Catch::default(); rules],
            ..Self::default()
        }
    }

    pub(crate) fn set_model(&mut self, name: &str, classes: Vec<String>) {
        self.model = Some((name.to_string(), classes));
    }

    pub(crate) fn note_look(&mut self) {
        self.stats.looks += 1;
    }

    pub(crate) fn has_model(&self) -> bool {
        self.model.is_some()
    }

    /// Whether `track` may take part in a confirm rule.
    pub(crate) fn is_confirmed(&self, track: TrackId) -> bool {
        self.model.is_none() || matches!(self.verdicts.get(&track), Some(Verdict::Confirmed))
    }

    fn knows(&self, class: &str) -> bool {
        self.model
            .as_ref()
            .is_some_and(|(_, c)| c.iter().any(|k| k.eq_ignore_ascii_case(class)))
    }

    /// Whether `track` should be shown to the second detector at `t` (no verdict yet, or refused long
    /// enough ago); a class the second model does not know is confirmed without looking.
    pub(crate) fn due(&mut self, track: TrackId, class: &str, t: i64) -> bool {
        if !self.knows(class) {
            self.verdicts.insert(track, Verdict::Confirmed);
            return false;
        }
        match self.verdicts.get(&track) {
            None => true,
            Some(Verdict::Confirmed) => false,
            Some(Verdict::Rejected { last_ms }) => t - last_ms >= RECHECK_MS,
        }
    }

    /// Whether catch rule `rule` may look at `t` (its last look long enough ago, or at `t` itself).
    pub(crate) fn catch_due(&self, rule: usize, t: i64) -> bool {
        self.catches[rule]
            .last_look
            .is_none_or(|l| l == t || t - l >= CATCH_EVERY_MS)
    }

    /// Catch rule `rule` looks at `t`.
    pub(crate) fn catch_looks(&mut self, rule: usize, t: i64) {
        self.catches[rule].last_look = Some(t);
    }

    /// Forgets the verdicts of tracks no longer remembered (a held one is then a suppressed false alarm
    /// for good).
    pub(crate) fn retain(&mut self, keep: impl Fn(TrackId) -> bool) {
        let mut dropped = 0;
        self.verdicts.retain(|id, v| {
            let k = keep(*id);
            if !k && matches!(v, Verdict::Rejected { .. }) {
                dropped += 1;
            }
            k
        });
        self.forgotten_held += dropped;
    }

    /// The figures so far, `suppressed` included.
    pub(crate) fn stats(&self) -> SecondOpinionStats {
        SecondOpinionStats {
            suppressed: self.forgotten_held + self.held_now(),
            ..self.stats
        }
    }

    /// Records what the second detector saw for the confirm requests.
    pub(crate) fn judge(
        &mut self,
        camera: &str,
        req: &SecondOpinionRequest,
        seen: &[SecondDetection],
        t: i64,
    ) {
        for c in &req.confirm {
            self.stats.confirm_checks += 1;
            let found = seen.iter().any(|d| {
                d.class_name.eq_ignore_ascii_case(&c.class_name)
                    && iou(&d.bbox, &c.bbox) >= MATCH_IOU
            });
            let before = self.verdicts.get(&c.track_id).copied();
            if found {
                self.stats.confirmed += 1;
                self.verdicts.insert(c.track_id, Verdict::Confirmed);
            } else {
                if before.is_none() {
                    self.stats.held += 1;
                    tracing::info!(
                        camera,
                        track = c.track_id,
                        class = %c.class_name,
                        "second opinion: the second detector does not see this {} there; its event is held",
                        c.class_name
                    );
                }
                self.verdicts
                    .insert(c.track_id, Verdict::Rejected { last_ms: t });
            }
        }
    }

    /// Tracks held now (never confirmed).
    fn held_now(&self) -> u64 {
        self.verdicts
            .values()
            .filter(|v| matches!(v, Verdict::Rejected { .. }))
            .count() as u64
    }

    /// The catch rules' conclusions from what the second detector saw (`tracks`: the main detector's
    /// boxes, normalized).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn catch(
        &mut self,
        c: &Compiled,
        camera: &str,
        ids: &mut IdGen,
        now: EventTime,
        (w, h): (u32, u32),
        req: &SecondOpinionRequest,
        seen: &[SecondDetection],
        tracks: &[BBox],
    ) -> Vec<Event> {
        let mut out = Vec::new();
        let Some((model, _)) = self.model.clone() else {
            return out;
        };
        let (fw, fh) = (w.max(1) as f32, h.max(1) as f32);
        for (i, spec) in c.rules.iter().enumerate() {
            let regions: Vec<&BBox> = req
                .catch
                .iter()
                .filter(|(r, _)| *r == i)
                .map(|(_, b)| b)
                .collect();
            if regions.is_empty() {
                continue;
            }
            self.stats.catch_checks += regions.len() as u64;
            let Target::Zone(z) = spec.target else {
                continue;
            };
            let zone = &c.zones[z];
            let found = seen.iter().find(|d| {
                let Some(class) = c
                    .class_names
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(&d.class_name))
                else {
                    return false;
                };
                let nbox = d.bbox.scale(1.0 / fw, 1.0 / fh).clip(1.0, 1.0);
                spec.filter.allows(class as u16, d.score, nbox.area())
                    && zone.filter.allows(class as u16, d.score, nbox.area())
                    && regions.iter().any(|r| r.intersection(&d.bbox).area() > 0.0)
                    && is_inside(&zone.polygon, zone.anchor, &nbox)
                    && !tracks.iter().any(|t| iou(t, &nbox) >= MATCH_IOU)
            });
            let Some(d) = found else {
                continue;
            };
            let state = &mut self.catches[i];
            state.last_found = now.unix_ms;
            match state.open.as_mut() {
                Some(open) => open.last = now,
                None => {
                    let class_id = c
                        .class_names
                        .iter()
                        .position(|n| n.eq_ignore_ascii_case(&d.class_name))
                        .unwrap_or(0) as u16;
                    let class_name = c
                        .class_names
                        .get(class_id as usize)
                        .cloned()
                        .unwrap_or_default();
                    let mut e = Event {
                        attributes: Default::default(),
                        id: ids.next(now.unix_ms),
                        camera: camera.to_string(),
                        rule: spec.name.clone(),
                        kind: EventKind::Intrusion,
                        phase: EventPhase::Start,
                        class_name: class_name.clone(),
                        objects: vec![ClassCount {
                            class_name,
                            class_id,
                            count: 1,
                        }],
                        track_ids: Vec::new(),
                        zone: Some(zone.name.clone()),
                        line: None,
                        start: now,
                        last: now,
                        end: None,
                        best: None,
                        description: String::new(),
                    };
                    e.description = caught_description(&e, c, &model);
                    tracing::info!(camera, rule = %spec.name, "second opinion: {}", e.description);
                    self.stats.caught_events += 1;
                    state.open = Some(e.clone());
                    out.push(e);
                }
            }
        }
        out
    }

    /// Ends the caught intrusions the second detector has not confirmed for their gap (or all of them
    /// with `force`, or those of rules no longer armed).
    pub(crate) fn end_quiet(
        &mut self,
        c: &Compiled,
        now: EventTime,
        armed: impl Fn(&RuleSpec) -> bool,
        force: bool,
    ) -> Vec<Event> {
        let mut out = Vec::new();
        let model = self.model.as_ref().map(|m| m.0.clone()).unwrap_or_default();
        for (state, spec) in self.catches.iter_mut().zip(&c.rules) {
            let gap = spec.cooldown_ms.max(CATCH_GAP_MS);
            let quiet = now.unix_ms - state.last_found >= gap;
            if state.open.is_some() && (force || quiet || !armed(spec)) {
                let Some(mut e) = state.open.take() else {
                    continue;
                };
                let at = EventTime {
                    unix_ms: state
                        .last_found
                        .clamp(e.start.unix_ms, now.unix_ms.max(e.start.unix_ms)),
                    media: now.media,
                };
                e.phase = EventPhase::End;
                e.last = at;
                e.end = Some(at);
                e.description = caught_description(&e, c, &model);
                out.push(e);
            }
        }
        out
    }
}

/// The intrusion's usual description, marked as the second detector's find.
fn caught_description(e: &Event, c: &Compiled, model: &str) -> String {
    format!(
        "{} (seen by the second detector, {model}; the main detector saw nothing there)",
        describe(e, &c.tz)
    )
}
