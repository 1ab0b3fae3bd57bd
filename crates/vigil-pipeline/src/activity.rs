//! Activity baselines on a camera's analysis thread (`activity_anomaly` events): once a second the
//! objects present per class (whole view and each zone), the longest stay in each zone and the direction
//! tracks move are noted; once a minute they become samples (count: mean over the minute; dwell: the
//! longest stay, minutes; flow: tracks that moved in each of 8 directions), each judged against what was
//! learned at this hour of the week ([`vigil_rules::baseline`]) and then learned. A deviation that holds
//! for `hold_minutes` starts an event naming its cause ("12 people at 'Loading dock' at 03:00 on
//! Tuesday; usually 0-1"); it ends once the measure has been back within its normal as long. The slots
//! learned are written to the store every minute, so the normal survives restarts.

use crate::track_events::at;
use std::collections::{BTreeMap, HashMap, HashSet};
use tracing::warn;
use vigil_core::{Event, EventKind, EventPhase, EventTime, TrackId, TrackedObject};
use vigil_rules::baseline::{Deviation, direction_sector, explain};
use vigil_rules::{
    ActivityBaseline, BaselineParams, BaselinePersist, FrameContext, IdGen, Measure, Metric,
    SlotRecord, TimeZone, ZoneOccupancy,
};

/// How often the scene is noted (ms).
const NOTE_MS: i64 = 1000;
/// Notes a minute needs to be a sample (analysis paused or stalled for most of it: no sample).
const MIN_NOTES: u32 = 20;
/// A track moved if its feet went this far (frame heights) over at least a second.
const MIN_MOVE: f32 = 0.05;
/// Track positions older than this are forgotten (ms).
const FORGET_MS: i64 = 10_000;
/// The rule name of activity anomaly events.
pub const RULE: &str = "activity_anomaly";

/// Activity baseline settings for one camera.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivitySettings {
    /// When a sample deviates.
    pub params: BaselineParams,
    /// Classes counted.
    pub classes: Vec<String>,
    /// Minutes a deviation (and its end) must hold.
    pub hold_minutes: u32,
}

/// What the current minute has noted.
#[derive(Debug, Default)]
struct Minute {
    index: i64,
    first: EventTime,
    notes: u32,
    /// Sums of counts over the notes.
    counts: HashMap<Measure, f64>,
    /// The longest stay per zone (minutes).
    dwell: BTreeMap<String, f64>,
    /// Tracks that moved per zone (`None`: view) and direction.
    flow: HashMap<(Option<String>, u8), HashSet<TrackId>>,
    zones: Vec<String>,
}

/// One measure's episode state.
#[derive(Debug, Default)]
struct Episode {
    deviating: u32,
    normal: u32,
    since: Option<EventTime>,
    /// The first deviating minute's deviation (its usual range is the normal before the burst, which is
    /// learned too).
    first: Option<Deviation>,
    /// The first minute back within the normal, while open.
    back: Option<EventTime>,
    open: Option<Event>,
}

/// A camera's activity baselines, judged and learned live.
pub struct ActivityStage {
    camera: String,
    tz: TimeZone,
    settings: ActivitySettings,
    baseline: ActivityBaseline,
    persist: Option<Box<dyn BaselinePersist>>,
    ids: IdGen,
    minute: Option<Minute>,
    last_note: Option<i64>,
    /// Where each track's feet were (time, x, y in frame heights) when its last move was measured.
    positions: HashMap<TrackId, (i64, f32, f32)>,
    episodes: HashMap<Measure, Episode>,
}

impl ActivityStage {
    /// Baselines of `camera` in `tz`, loaded from and kept in `persist` when given.
    pub fn new(
        camera: &str,
        tz: TimeZone,
        settings: ActivitySettings,
        persist: Option<Box<dyn BaselinePersist>>,
    ) -> ActivityStage {
        let records = match persist.as_ref().map(|p| p.load(camera)) {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                warn!(
                    camera,
                    "activity baselines not loaded (learning afresh): {e}"
                );
                Vec::new()
            }
            None => Vec::new(),
        };
        ActivityStage::with_baseline(
            camera,
            tz,
            settings,
            ActivityBaseline::from_records(&records),
            persist,
        )
    }

    /// A stage that starts from `baseline`.
    pub fn with_baseline(
        camera: &str,
        tz: TimeZone,
        settings: ActivitySettings,
        baseline: ActivityBaseline,
        persist: Option<Box<dyn BaselinePersist>>,
    ) -> ActivityStage {
        ActivityStage {
            camera: camera.to_string(),
            tz,
            settings,
            baseline,
            persist,
            ids: IdGen::new(&format!("{camera}/activity")),
            minute: None,
            last_note: None,
            positions: HashMap::new(),
            episodes: HashMap::new(),
        }
    }

    /// Whether the frame at `unix_ms` is to be noted (once a second; the caller then gathers the zones'
    /// occupancy for [`ActivityStage::observe`]).
    pub fn due(&self, unix_ms: i64) -> bool {
        self.last_note
            .is_none_or(|t| unix_ms - t >= NOTE_MS || unix_ms < t)
    }

    /// Notes a frame (`zones`: the rules engine's occupancy now); the events of deviations that start or
    /// end with the minute it completes.
    pub fn observe(
        &mut self,
        ctx: &FrameContext,
        tracks: &[TrackedObject],
        class_names: &[String],
        zones: &[ZoneOccupancy],
    ) -> Vec<Event> {
        let unix_ms = ctx.time_unix_ms;
        self.last_note = Some(unix_ms);
        let index = unix_ms.div_euclid(60_000);
        let mut out = Vec::new();
        if self.minute.as_ref().is_some_and(|m| m.index != index)
            && let Some(done) = self.minute.take()
        {
            out = self.finish(done, at(ctx));
        }
        let m = self.minute.get_or_insert_with(|| Minute {
            index,
            first: at(ctx),
            ..Minute::default()
        });
        m.notes += 1;
        for class in &self.settings.classes {
            let n = tracks
                .iter()
                .filter(|t| class_names.get(t.class_id as usize) == Some(class))
                .count();
            let view = Measure {
                metric: Metric::Count(class.clone()),
                zone: None,
            };
            *m.counts.entry(view).or_default() += n as f64;
            for z in zones {
                let key = Measure {
                    metric: Metric::Count(class.clone()),
                    zone: Some(z.zone.clone()),
                };
                *m.counts.entry(key).or_default() +=
                    f64::from(z.by_class.get(class).copied().unwrap_or(0));
            }
        }
        for z in zones {
            if !m.zones.contains(&z.zone) {
                m.zones.push(z.zone.clone());
            }
            let longest = z.members.iter().map(|x| x.wait_ms).max().unwrap_or(0);
            let d = m.dwell.entry(z.zone.clone()).or_default();
            *d = d.max(longest as f64 / 60_000.0);
        }
        let h = ctx.frame_h.max(1) as f32;
        for t in tracks {
            let (x, y) = ((t.bbox.x1 + t.bbox.x2) / 2.0 / h, t.bbox.y2 / h);
            let Some(&(t0, x0, y0)) = self.positions.get(&t.id) else {
                self.positions.insert(t.id, (unix_ms, x, y));
                continue;
            };
            if unix_ms - t0 < 1000 {
                continue;
            }
            self.positions.insert(t.id, (unix_ms, x, y));
            let (dx, dy) = (x - x0, y - y0);
            if (dx * dx + dy * dy).sqrt() < MIN_MOVE {
                continue;
            }
            let sector = direction_sector(dx, dy);
            m.flow.entry((None, sector)).or_default().insert(t.id);
            for z in zones
                .iter()
                .filter(|z| z.members.iter().any(|x| x.track_id == t.id))
            {
                m.flow
                    .entry((Some(z.zone.clone()), sector))
                    .or_default()
                    .insert(t.id);
            }
        }
        self.positions.retain(|_, p| unix_ms - p.0 <= FORGET_MS);
        out
    }

    /// The minute's samples: judged, learned, kept; the events of episodes starting or ending.
    fn finish(&mut self, m: Minute, now: EventTime) -> Vec<Event> {
        if m.notes < MIN_NOTES {
            return Vec::new();
        }
        let notes = f64::from(m.notes);
        let mut samples: Vec<(Measure, f64)> = m
            .counts
            .iter()
            .map(|(k, v)| (k.clone(), v / notes))
            .collect();
        for (zone, minutes) in &m.dwell {
            let key = Measure {
                metric: Metric::Dwell,
                zone: Some(zone.clone()),
            };
            samples.push((key, *minutes));
        }
        let places = std::iter::once(None).chain(m.zones.iter().cloned().map(Some));
        for zone in places {
            for s in 0..8u8 {
                let n = m.flow.get(&(zone.clone(), s)).map_or(0, |t| t.len());
                let key = Measure {
                    metric: Metric::Flow(s),
                    zone: zone.clone(),
                };
                samples.push((key, n as f64));
            }
        }
        let t = m.first.unix_ms;
        let mut records: Vec<SlotRecord> = Vec::with_capacity(samples.len());
        let mut out = Vec::new();
        for (measure, value) in samples {
            let deviation =
                self.baseline
                    .judge(&measure, value, t, &self.tz, &self.settings.params);
            records.push(self.baseline.learn(&measure, value, t, &self.tz));
            out.extend(self.episode(measure, deviation, m.first, now));
        }
        if let Some(p) = &self.persist
            && let Err(e) = p.save(&self.camera, &records)
        {
            warn!(camera = self.camera, "activity baselines not saved: {e}");
        }
        out
    }

    /// One measure's minute: deviating (`Some`) or not.
    fn episode(
        &mut self,
        measure: Measure,
        deviation: Option<Deviation>,
        minute: EventTime,
        now: EventTime,
    ) -> Option<Event> {
        let hold = self.settings.hold_minutes.max(1);
        let ep = self.episodes.entry(measure.clone()).or_default();
        match deviation {
            Some(d) => {
                ep.normal = 0;
                ep.back = None;
                ep.deviating += 1;
                let since = *ep.since.get_or_insert(minute);
                let d = ep.first.get_or_insert(d).clone();
                if ep.open.is_some() || ep.deviating < hold {
                    return None;
                }
                let mut e = Event {
                    attributes: Default::default(),
                    id: self.ids.next(now.unix_ms),
                    camera: self.camera.clone(),
                    rule: RULE.to_string(),
                    kind: EventKind::ActivityAnomaly {
                        metric: measure.metric_name().to_string(),
                        value: (d.value * 10.0).round() / 10.0,
                        usual: d.usual.map(|x| (x * 10.0).round() / 10.0),
                        detail: explain(&d, since.unix_ms, &self.tz),
                    },
                    phase: EventPhase::Start,
                    class_name: measure.class_name().unwrap_or_default().to_string(),
                    objects: Vec::new(),
                    track_ids: Vec::new(),
                    zone: measure.zone.clone(),
                    line: None,
                    start: since,
                    last: now,
                    end: None,
                    best: None,
                    description: String::new(),
                };
                e.description = vigil_rules::describe(&e, &self.tz);
                ep.open = Some(e.clone());
                Some(e)
            }
            None => {
                ep.deviating = 0;
                if ep.open.is_none() {
                    ep.since = None;
                    ep.first = None;
                    return None;
                }
                ep.normal += 1;
                let back = *ep.back.get_or_insert(minute);
                if ep.normal < hold {
                    return None;
                }
                let e = std::mem::take(ep).open?;
                Some(self.ended(e, back))
            }
        }
    }

    fn ended(&self, e: Event, at: EventTime) -> Event {
        vigil_rules::ended(e, at, &self.tz)
    }

    /// Ends every open episode (analysis stops) at `ctx`.
    pub fn close(&mut self, ctx: &FrameContext) -> Vec<Event> {
        let open: Vec<Event> = self
            .episodes
            .values_mut()
            .filter_map(|ep| std::mem::take(ep).open)
            .collect();
        self.minute = None;
        open.into_iter().map(|e| self.ended(e, at(ctx))).collect()
    }
}

#[cfg(test)]
#[path = "activity_tests.rs"]
mod tests;
