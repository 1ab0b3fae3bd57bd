//! Events about one track (a face recognised, a plate read), raised by the identity stages beside the
//! rules engine: made, updated and ended the same way, with the rules' lifecycle and descriptions.

use std::collections::{HashMap, HashSet};
use vigil_core::{
    BestObject, ClassCount, Event, EventKind, EventPhase, EventTime, TrackId, TrackedObject,
};
use vigil_rules::{FrameContext, IdGen, TimeZone};

/// Whether a track last looked at `last` (unix ms) is due for another look at `now`, `every_ms` apart.
pub(crate) fn due(last: Option<i64>, now: i64, every_ms: i64) -> bool {
    last.is_none_or(|l| now - l >= every_ms)
}

/// The tracks a stage keeps state for that are no longer among this frame's `tracks` (the tracker let
/// them go).
pub(crate) fn gone<S>(states: &HashMap<TrackId, S>, tracks: &[TrackedObject]) -> Vec<TrackId> {
    let present: HashSet<TrackId> = tracks.iter().map(|t| t.id).collect();
    states
        .keys()
        .filter(|id| !present.contains(id))
        .copied()
        .collect()
}

/// The moment of a frame on both clocks.
pub(crate) fn at(ctx: &FrameContext) -> EventTime {
    EventTime {
        unix_ms: ctx.time_unix_ms,
        media: ctx.media_time,
    }
}

/// Track `t`'s view in this frame.
pub(crate) fn best_object(t: &TrackedObject, ctx: &FrameContext) -> BestObject {
    BestObject {
        track_id: t.id,
        score: t.score,
        bbox: t.bbox,
        frame_w: ctx.frame_w,
        frame_h: ctx.frame_h,
        time: at(ctx),
    }
}

/// The `start` message of a new event about track `t` (of class `class`), described.
#[allow(clippy::too_many_arguments)]
pub(crate) fn start(
    camera: &str,
    ids: &mut IdGen,
    rule: &str,
    kind: EventKind,
    class: &str,
    zone: Option<String>,
    t: &TrackedObject,
    ctx: &FrameContext,
    tz: &TimeZone,
) -> Event {
    let mut e = Event {
        attributes: Default::default(),
        id: ids.next(ctx.time_unix_ms),
        camera: camera.to_string(),
        rule: rule.to_string(),
        kind,
        phase: EventPhase::Start,
        class_name: class.to_string(),
        objects: vec![ClassCount {
            class_name: class.to_string(),
            class_id: t.class_id,
            count: 1,
        }],
        track_ids: vec![t.id],
        zone,
        line: None,
        start: at(ctx),
        last: at(ctx),
        end: None,
        best: Some(best_object(t, ctx)),
        description: String::new(),
    };
    e.description = vigil_rules::describe(&e, tz);
    e
}

/// The `update` message of `open` with its new facts, seen on track `t` now.
pub(crate) fn update(
    mut open: Event,
    kind: EventKind,
    t: &TrackedObject,
    ctx: &FrameContext,
    tz: &TimeZone,
) -> Event {
    open.phase = EventPhase::Update;
    open.kind = kind;
    open.last = at(ctx);
    open.best = Some(best_object(t, ctx));
    open.description = vigil_rules::describe(&open, tz);
    open
}

/// The `end` message of `open`, now.
pub(crate) fn end(mut open: Event, ctx: &FrameContext, tz: &TimeZone) -> Event {
    let now = EventTime {
        unix_ms: ctx.time_unix_ms.max(open.last.unix_ms),
        media: ctx.media_time,
    };
    open.phase = EventPhase::End;
    open.last = now;
    open.end = Some(now);
    open.description = vigil_rules::describe(&open, tz);
    open
}

/// Rounded to three decimals (for figures people read).
pub(crate) fn round3(v: f32) -> f32 {
    (v * 1000.0).round() / 1000.0
}
