//! Per-frame evaluation of each rule kind: does its condition hold, who takes part, and the facts.

use crate::compile::{RuleSpec, Target};
use crate::config::RuleKind;
use crate::episode::{Observation, Participant, RuleState};
use crate::lines::Crossing;
use crate::tz::LocalDateTime;
use crate::zones::{Presence, ZoneState};
use vigil_core::{EventKind, EventTime};

/// Everything a rule may look at in one frame.
pub(crate) struct FrameView<'a> {
    /// The model's person class (crowd counts are of people).
    pub person: Option<vigil_core::ClassId>,
    pub now: EventTime,
    pub zones: &'a [ZoneState],
    pub crossings: &'a [Crossing],
    /// Local time, computed when some rule has a schedule.
    pub local: Option<LocalDateTime>,
    /// The second detector's verdicts (`second_opinion = "confirm"`).
    pub second: &'a crate::second::SecondOpinionState,
}

fn earlier(a: Option<EventTime>, b: EventTime) -> Option<EventTime> {
    Some(match a {
        Some(a) if a.unix_ms <= b.unix_ms => a,
        _ => b,
    })
}

fn later(a: Option<EventTime>, b: EventTime) -> Option<EventTime> {
    Some(match a {
        Some(a) if a.unix_ms >= b.unix_ms => a,
        _ => b,
    })
}

/// A zone member as a participant; its `since` is not before `armed_since`.
fn participant(id: u64, p: &Presence, armed_since: EventTime) -> Participant {
    Participant {
        track_id: id,
        class_id: p.class_id,
        best: p.best,
        key: p.stay,
        since: if p.entered.unix_ms < armed_since.unix_ms {
            armed_since
        } else {
            p.entered
        },
        evidence: p.last_inside,
        dwell_ms: p.dwell_ms(),
    }
}

/// Evaluates one rule for this frame, filling `parts` with the objects that meet its condition.
pub(crate) fn observe(
    spec: &RuleSpec,
    state: &mut RuleState,
    f: &FrameView<'_>,
    parts: &mut Vec<Participant>,
) -> Observation {
    let now = f.now;
    let t = now.unix_ms;
    parts.clear();
    let armed =
        spec.schedule.is_always() || f.local.as_ref().is_some_and(|l| spec.schedule.is_armed(l));
    let armed_since = if armed {
        *state.armed_since.get_or_insert(now)
    } else {
        state.armed_since = None;
        now
    };
    let prev = state.open.as_ref().map(|e| &e.kind);
    // Facts are only read from active observations; an inactive one carries a placeholder.
    let inactive = || Observation {
        active: false,
        since: now,
        evidence: now,
        kind: EventKind::Intrusion,
        instant: false,
    };

    let zone = match spec.target {
        Target::Line(line) => {
            let (mut n_in, mut n_out, mut first) = (0u32, 0u32, None);
            let (mut at, mut last_at): (Option<EventTime>, Option<EventTime>) = (None, None);
            if armed {
                for c in f.crossings.iter().filter(|c| c.line == line) {
                    let o = &c.obj;
                    if !spec.directions[c.direction as usize]
                        || !spec.filter.allows(o.class_id, o.max_score, o.area)
                    {
                        continue;
                    }
                    // When the crossing happened: now, or for a track that left the picture unseen
                    // the moment its path met the line.
                    parts.push(Participant {
                        track_id: o.id,
                        class_id: o.class_id,
                        best: o.best,
                        key: o.id,
                        since: c.at,
                        evidence: c.at,
                        dwell_ms: 0,
                    });
                    at = earlier(at, c.at);
                    last_at = later(last_at, c.at);
                    if c.direction == spec.inbound {
                        n_in += 1;
                    } else {
                        n_out += 1;
                    }
                    first.get_or_insert(c.direction);
                }
            }
            let kind = match prev {
                Some(&EventKind::LineCrossing {
                    direction,
                    inbound,
                    inbound_count,
                    outbound_count,
                }) => EventKind::LineCrossing {
                    direction,
                    inbound,
                    inbound_count: inbound_count + n_in,
                    outbound_count: outbound_count + n_out,
                },
                _ => {
                    let d = first.unwrap_or(spec.inbound);
                    EventKind::LineCrossing {
                        direction: d,
                        inbound: d == spec.inbound,
                        inbound_count: n_in,
                        outbound_count: n_out,
                    }
                }
            };
            return Observation {
                active: !parts.is_empty(),
                since: at.unwrap_or(now),
                evidence: last_at.unwrap_or(now),
                kind,
                instant: true,
            };
        }
        Target::Zone(z) => &f.zones[z],
    };

    // Zone rules: the confirmed objects in the zone that pass the rule's filter.
    let members = zone
        .presences
        .iter()
        .filter(|(_, p)| p.confirmed && spec.filter.allows(p.class_id, p.max_score, p.area));
    let (mut first_entered, mut last_inside) = (None, None);
    let kind = match spec.kind {
        RuleKind::Intrusion | RuleKind::Loitering => {
            let mut dwell = 0i64;
            if armed {
                let confirms = spec.second.is_some_and(|s| s.confirms());
                for (&id, p) in members {
                    if spec.kind == RuleKind::Loitering && p.dwell_ms() < spec.min_dwell_ms {
                        continue;
                    }
                    // Held until the second detector has seen it too.
                    if confirms && !f.second.is_confirmed(id) {
                        continue;
                    }
                    parts.push(participant(id, p, armed_since));
                    first_entered = earlier(first_entered, p.entered);
                    last_inside = later(last_inside, p.last_inside);
                    dwell = dwell.max(p.dwell_ms());
                }
            }
            if spec.per_object {
                // Each participant is judged on its own (see `RuleState::step_objects`).
                state.over_since = None;
                return Observation {
                    active: !parts.is_empty(),
                    ..inactive()
                };
            }
            if spec.kind == RuleKind::Intrusion {
                EventKind::Intrusion
            } else {
                let before = match prev {
                    Some(&EventKind::Loitering { dwell_ms, .. }) => dwell_ms,
                    _ => 0,
                };
                EventKind::Loitering {
                    dwell_ms: before.max(dwell as u64),
                    min_dwell_ms: spec.min_dwell_ms as u64,
                }
            }
        }
        RuleKind::Crowding | RuleKind::Queue => {
            // A crowding rule that counts people takes them from the crowd counter while its count is
            // fresh (the tracks of people still take part, for the event's pictures); other classes
            // and queues count tracks.
            let crowd = match (spec.kind, f.person, zone.crowd_now) {
                (RuleKind::Crowding, Some(person), Some(people))
                    if spec.filter.allows_class(person) =>
                {
                    Some((person, people))
                }
                _ => None,
            };
            let (mut n, mut sum_wait, mut max_wait) = (0u32, 0i64, 0i64);
            if armed {
                for (&id, p) in members {
                    parts.push(participant(id, p, armed_since));
                    let wait = p.wait_ms(t).max(0);
                    if crowd.is_none_or(|(person, _)| p.class_id != person) {
                        n += 1;
                    }
                    sum_wait += wait;
                    max_wait = max_wait.max(wait);
                }
                if let Some((_, people)) = crowd {
                    n += people;
                }
            }
            let over = match spec.kind {
                RuleKind::Crowding => spec.more_than.is_some_and(|m| n > m),
                _ => {
                    spec.more_than.is_some_and(|m| n > m)
                        || spec.max_wait_ms.is_some_and(|w| max_wait > w)
                }
            };
            if !over {
                parts.clear();
                state.over_since = None;
                return inactive();
            }
            last_inside = Some(now);
            if spec.kind == RuleKind::Crowding {
                let peak = match prev {
                    Some(&EventKind::Crowding { peak, .. }) => peak,
                    _ => 0,
                };
                EventKind::Crowding {
                    count: n,
                    peak: peak.max(n),
                    more_than: spec.more_than.unwrap_or(0),
                }
            } else {
                let (peak, max_before) = match prev {
                    Some(&EventKind::Queue {
                        peak_length,
                        max_wait_ms,
                        ..
                    }) => (peak_length, max_wait_ms),
                    _ => (0, 0),
                };
                EventKind::Queue {
                    length: n,
                    peak_length: peak.max(n),
                    mean_wait_ms: if n == 0 {
                        0
                    } else {
                        (sum_wait / n as i64) as u64
                    },
                    max_wait_ms: max_before.max(max_wait as u64),
                }
            }
        }
        // Line rules were handled above (their target is a line).
        RuleKind::LineCrossing => return inactive(),
    };
    let Some(evidence) = last_inside else {
        state.over_since = None;
        return inactive();
    };
    let over_since = *state.over_since.get_or_insert(now);
    let held_long_enough = t - over_since.unix_ms >= spec.min_duration_ms;
    let since = match spec.kind {
        RuleKind::Crowding | RuleKind::Queue => over_since,
        _ => first_entered.unwrap_or(now),
    };
    let since = if since.unix_ms < armed_since.unix_ms {
        armed_since
    } else {
        since
    };
    Observation {
        active: state.open.is_some() || held_long_enough,
        since,
        evidence,
        kind,
        instant: false,
    }
}
