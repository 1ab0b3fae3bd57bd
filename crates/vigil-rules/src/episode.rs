//! Event lifecycle. A per-situation rule has one open episode at a time, so a situation is one event with
//! updates (not one event per frame or per flicker): it starts when the rule's condition holds, takes in every
//! object that meets the condition while it is open, and ends once the condition has been off for the rule's
//! cooldown; a recurrence within the cooldown continues the same event. A per-object rule (intrusion and
//! loitering by default) runs the same lifecycle once per object: each object that meets the condition has
//! its own episode, keyed by its zone stay (which survives the tracker handing the object a new id within
//! the zone's grace), and the same track meeting the condition again within the cooldown continues it.

use crate::compile::RuleSpec;
use crate::describe::describe;
use crate::tz::TimeZone;
use std::collections::BTreeMap;
use vigil_core::{
    BestObject, ClassCount, ClassId, Event, EventId, EventKind, EventPhase, EventTime, TrackId,
};

/// Track ids listed in an event (the counts in `objects` go on past this).
pub(crate) const MAX_LISTED_TRACKS: usize = 32;
/// Distinct tracks remembered per episode for counting; beyond this new tracks are no longer counted.
const MAX_DISTINCT_TRACKS: usize = 4096;
/// Least time between two update messages triggered by changes (heartbeats have their own interval).
const MIN_UPDATE_GAP_MS: i64 = 1000;

/// Open per-object episodes per rule; objects beyond this get no event of their own (and a warning).
const MAX_OBJECT_EPISODES: usize = 1024;

/// An object that meets a rule's condition in this frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Participant {
    pub track_id: TrackId,
    pub class_id: ClassId,
    /// The best view of its track so far.
    pub best: BestObject,
    /// Its identity for per-object episodes: the zone stay (zone rules) or the track id.
    pub key: u64,
    /// When it began to meet the condition (its stay began, or the rule was armed if later).
    pub since: EventTime,
    /// The latest time it was seen meeting the condition.
    pub evidence: EventTime,
    /// How long it has stayed in the zone, in ms (zone rules).
    pub dwell_ms: i64,
}

/// What a rule's condition looks like in this frame.
#[derive(Debug, Clone)]
pub(crate) struct Observation {
    /// The condition holds.
    pub active: bool,
    /// When the situation began (used when an episode opens).
    pub since: EventTime,
    /// The latest time the condition was seen to hold.
    pub evidence: EventTime,
    /// Facts now, already merged with the open episode's.
    pub kind: EventKind,
    /// The condition is momentary (a crossing), not a state.
    pub instant: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Episode {
    pub id: EventId,
    pub start: EventTime,
    pub last: EventTime,
    pub track_ids: Vec<TrackId>,
    seen: BTreeMap<TrackId, ClassId>,
    /// Distinct tracks per class, in first-seen order.
    pub class_counts: Vec<(ClassId, u32)>,
    pub best: Option<BestObject>,
    pub kind: EventKind,
    last_emit_ms: i64,
    dirty: bool,
}

impl Episode {
    fn open(id: EventId, start: EventTime, last: EventTime, kind: EventKind, t: i64) -> Self {
        Self {
            id,
            start,
            last,
            track_ids: Vec::new(),
            seen: BTreeMap::new(),
            class_counts: Vec::new(),
            best: None,
            kind,
            last_emit_ms: t,
            dirty: false,
        }
    }

    /// Pushes an update when something worth saying changed (at most once a second) or a heartbeat is due.
    fn maybe_update(&mut self, t: i64, ctx: &EventContext<'_>, out: &mut Vec<Event>) {
        let since_emit = t - self.last_emit_ms;
        let every = ctx.rule.update_every_ms;
        if (self.dirty && since_emit >= MIN_UPDATE_GAP_MS) || (every > 0 && since_emit >= every) {
            self.dirty = false;
            self.last_emit_ms = t;
            out.push(ctx.make(self, EventPhase::Update));
        }
    }

    /// Adds participants; returns true when a new track joined.
    fn join(&mut self, participants: &[Participant]) -> bool {
        let mut joined = false;
        for p in participants {
            if !self.seen.contains_key(&p.track_id) && self.seen.len() < MAX_DISTINCT_TRACKS {
                self.seen.insert(p.track_id, p.class_id);
                match self.class_counts.iter_mut().find(|(c, _)| *c == p.class_id) {
                    Some((_, n)) => *n += 1,
                    None => self.class_counts.push((p.class_id, 1)),
                }
                if self.track_ids.len() < MAX_LISTED_TRACKS {
                    self.track_ids.push(p.track_id);
                }
                joined = true;
            }
            if self.best.is_none_or(|b| p.best.score > b.score) {
                self.best = Some(p.best);
            }
        }
        joined
    }
}

/// True when new facts are worth an update message on their own (a new peak, more crossings).
fn material_change(old: &EventKind, new: &EventKind) -> bool {
    match (old, new) {
        (
            EventKind::LineCrossing {
                inbound_count: a,
                outbound_count: b,
                ..
            },
            EventKind::LineCrossing {
                inbound_count: c,
                outbound_count: d,
                ..
            },
        ) => c + d > a + b,
        (EventKind::Crowding { peak: a, .. }, EventKind::Crowding { peak: b, .. }) => b > a,
        (EventKind::Queue { peak_length: a, .. }, EventKind::Queue { peak_length: b, .. }) => b > a,
        _ => false,
    }
}

/// Makes unique, time-sortable event ids for one camera (and one source of events: the rules engine
/// names it after the camera, other stages after the camera and themselves, so their ids never meet).
#[derive(Debug, Clone)]
pub struct IdGen {
    camera_bits: u128,
    seq: u64,
}

impl IdGen {
    /// Ids for `camera` (any name: hashed into the ids).
    pub fn new(camera: &str) -> Self {
        // FNV-1a of the camera name: stable across runs and platforms.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in camera.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Self {
            camera_bits: (h & ((1 << 40) - 1)) as u128,
            seq: 0,
        }
    }

    /// The next id, created at `unix_ms`.
    pub fn next(&mut self, unix_ms: i64) -> EventId {
        self.seq += 1;
        let seq = (self.seq & ((1 << 40) - 1)) as u128;
        EventId::from_parts(unix_ms.max(0) as u64, (self.camera_bits << 40) | seq)
    }
}

/// What an event message needs beyond the episode.
pub(crate) struct EventContext<'a> {
    pub camera: &'a str,
    pub rule: &'a RuleSpec,
    pub zone: Option<&'a str>,
    pub line: Option<&'a str>,
    pub class_names: &'a [String],
    pub tz: &'a TimeZone,
}

pub(crate) fn class_name(names: &[String], id: ClassId) -> String {
    names
        .get(id as usize)
        .cloned()
        .unwrap_or_else(|| format!("class {id}"))
}

impl EventContext<'_> {
    fn make(&self, ep: &Episode, phase: EventPhase) -> Event {
        let mut main: Option<(ClassId, u32)> = None;
        for &(c, n) in &ep.class_counts {
            if main.is_none_or(|(_, m)| n > m) {
                main = Some((c, n));
            }
        }
        let mut event = Event {
            attributes: Default::default(),
            id: ep.id,
            camera: self.camera.to_string(),
            rule: self.rule.name.clone(),
            kind: ep.kind.clone(),
            phase,
            class_name: main.map_or_else(String::new, |(c, _)| class_name(self.class_names, c)),
            objects: ep
                .class_counts
                .iter()
                .map(|&(c, n)| ClassCount {
                    class_name: class_name(self.class_names, c),
                    class_id: c,
                    count: n,
                })
                .collect(),
            track_ids: ep.track_ids.clone(),
            zone: self.zone.map(String::from),
            line: self.line.map(String::from),
            start: ep.start,
            last: ep.last,
            end: (phase == EventPhase::End).then_some(ep.last),
            best: ep.best,
            description: String::new(),
        };
        event.description = describe(&event, self.tz);
        event
    }
}

/// Facts of a per-object episode after seeing `p` again (`prev`: the episode's facts so far).
fn object_kind(spec: &RuleSpec, prev: Option<&EventKind>, p: &Participant) -> EventKind {
    match spec.kind {
        crate::config::RuleKind::Loitering => {
            let before = match prev {
                Some(&EventKind::Loitering { dwell_ms, .. }) => dwell_ms,
                _ => 0,
            };
            EventKind::Loitering {
                dwell_ms: before.max(p.dwell_ms.max(0) as u64),
                min_dwell_ms: spec.min_dwell_ms as u64,
            }
        }
        _ => EventKind::Intrusion,
    }
}

/// Runtime state of one rule.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuleState {
    /// The open episode of a per-situation rule.
    pub open: Option<Episode>,
    /// The open episodes of a per-object rule, by the object's key (see [`Participant::key`]).
    pub objects: BTreeMap<u64, Episode>,
    /// Since when the condition has held without a break (for `min_duration`).
    pub over_since: Option<EventTime>,
    /// Since when the schedule has been armed.
    pub armed_since: Option<EventTime>,
    /// Objects refused an episode because [`MAX_OBJECT_EPISODES`] were open (warned once).
    refused: bool,
}

impl RuleState {
    /// True while the rule has an open event.
    pub fn has_open(&self) -> bool {
        self.open.is_some() || !self.objects.is_empty()
    }

    /// Advances a per-object rule by one frame: `participants` are the objects meeting its condition now.
    pub fn step_objects(
        &mut self,
        participants: &[Participant],
        now: EventTime,
        ids: &mut IdGen,
        ctx: &EventContext<'_>,
        out: &mut Vec<Event>,
    ) {
        let spec = ctx.rule;
        let t = now.unix_ms;
        let mut touched = Vec::with_capacity(participants.len());
        for p in participants {
            if !self.objects.contains_key(&p.key) {
                // The same track meeting the condition again in a new stay, within the cooldown, continues
                // its event.
                let back = self
                    .objects
                    .iter()
                    .find(|(k, ep)| {
                        ep.seen.contains_key(&p.track_id)
                            && !participants.iter().any(|q| q.key == **k)
                    })
                    .map(|(k, _)| *k);
                if let Some(ep) = back.and_then(|k| self.objects.remove(&k)) {
                    self.objects.insert(p.key, ep);
                }
            }
            match self.objects.get_mut(&p.key) {
                Some(ep) => {
                    if p.evidence.unix_ms > ep.last.unix_ms {
                        ep.last = p.evidence;
                    }
                    let joined = ep.join(std::slice::from_ref(p));
                    let kind = object_kind(spec, Some(&ep.kind), p);
                    ep.dirty |= joined || material_change(&ep.kind, &kind);
                    ep.kind = kind;
                    ep.maybe_update(t, ctx, out);
                }
                None => {
                    if t - p.since.unix_ms < spec.min_duration_ms {
                        continue;
                    }
                    if self.objects.len() >= MAX_OBJECT_EPISODES {
                        if !std::mem::replace(&mut self.refused, true) {
                            tracing::warn!(
                                camera = ctx.camera,
                                rule = spec.name,
                                "{MAX_OBJECT_EPISODES} events open at once: further objects get no event of their own"
                            );
                        }
                        continue;
                    }
                    let kind = object_kind(spec, None, p);
                    let mut ep = Episode::open(ids.next(t), p.since, p.evidence, kind, t);
                    ep.join(std::slice::from_ref(p));
                    out.push(ctx.make(&ep, EventPhase::Start));
                    self.objects.insert(p.key, ep);
                }
            }
            touched.push(p.key);
        }
        touched.sort_unstable();
        // Objects that no longer meet the condition: their events end once the cooldown has passed.
        let mut ended = Vec::new();
        for (k, ep) in self.objects.iter_mut() {
            if touched.binary_search(k).is_ok() {
                continue;
            }
            if t - ep.last.unix_ms >= spec.cooldown_ms {
                ended.push(*k);
            } else if ep.dirty && t - ep.last_emit_ms >= MIN_UPDATE_GAP_MS {
                ep.dirty = false;
                ep.last_emit_ms = t;
                out.push(ctx.make(ep, EventPhase::Update));
            }
        }
        for k in ended {
            if let Some(ep) = self.objects.remove(&k) {
                out.push(ctx.make(&ep, EventPhase::End));
            }
        }
    }

    /// Advances a per-situation rule by one frame, pushing the messages it emits.
    pub fn step(
        &mut self,
        obs: Observation,
        participants: &[Participant],
        now: EventTime,
        ids: &mut IdGen,
        ctx: &EventContext<'_>,
        out: &mut Vec<Event>,
    ) {
        let spec = ctx.rule;
        let t = now.unix_ms;
        if obs.active {
            match &mut self.open {
                None => {
                    let mut ep = Episode::open(ids.next(t), obs.since, obs.evidence, obs.kind, t);
                    ep.join(participants);
                    out.push(ctx.make(&ep, EventPhase::Start));
                    self.open = Some(ep);
                }
                Some(ep) => {
                    if obs.evidence.unix_ms > ep.last.unix_ms {
                        ep.last = obs.evidence;
                    }
                    let joined = ep.join(participants);
                    ep.dirty |= joined || material_change(&ep.kind, &obs.kind);
                    ep.kind = obs.kind;
                    ep.maybe_update(t, ctx, out);
                }
            }
            if obs.instant && spec.cooldown_ms == 0 {
                self.close(ctx, out);
            }
        } else if let Some(ep) = &mut self.open {
            if t - ep.last.unix_ms >= spec.cooldown_ms {
                self.close(ctx, out);
            } else if ep.dirty && t - ep.last_emit_ms >= MIN_UPDATE_GAP_MS {
                ep.dirty = false;
                ep.last_emit_ms = t;
                out.push(ctx.make(ep, EventPhase::Update));
            }
        }
    }

    /// Ends every open episode, pushing their `End` messages.
    pub fn close(&mut self, ctx: &EventContext<'_>, out: &mut Vec<Event>) {
        if let Some(ep) = self.open.take() {
            out.push(ctx.make(&ep, EventPhase::End));
        }
        for (_, ep) in std::mem::take(&mut self.objects) {
            out.push(ctx.make(&ep, EventPhase::End));
        }
    }
}
