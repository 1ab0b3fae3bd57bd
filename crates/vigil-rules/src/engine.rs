//! The rules engine of one camera: feed it each analysed frame's tracks, get the events back.

use crate::compile::{Compiled, PrivacyMask, Target, compile};
use crate::config::RulesConfig;
use crate::episode::{EventContext, IdGen, Participant, RuleState, class_name};
use crate::error::RulesError;
use crate::evaluate::{FrameView, observe};
use crate::heatmap::Heatmap;
use crate::lines::{Crossing, LineCounts, LineState};
use crate::second::{
    CATCH_AFTER_MS, SecondDetection, SecondOpinionRequest, SecondOpinionState, SecondOpinionStats,
};
use crate::tz::TimeZone;
use crate::zones::{OccupancySample, WaitStats, ZoneState, anchor_point, is_inside};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vigil_core::{BBox, BestObject, ClassId, Event, EventTime, Time90k, TrackId, TrackedObject};

/// Timing and size of one analysed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameContext {
    /// Wall-clock time of the frame in unix milliseconds.
    pub time_unix_ms: i64,
    /// Media time of the frame on the stream's 90 kHz clock (carried into events to find the recording).
    pub media_time: Time90k,
    /// Width of the frame the boxes refer to, in pixels.
    pub frame_w: u32,
    /// Height of the frame the boxes refer to, in pixels.
    pub frame_h: u32,
}

/// One object of the current frame as the rules see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Obj {
    pub id: TrackId,
    pub class_id: ClassId,
    /// Best score the track has reached so far (filters use this, so a score dip does not drop it).
    pub max_score: f32,
    /// Box in normalized coordinates, clipped to the picture.
    pub nbox: BBox,
    /// Box in normalized coordinates as the tracker gave it (it may extend past the picture's edges).
    pub raw: BBox,
    /// Box area as a fraction of the frame.
    pub area: f32,
    /// The best view of the track so far (this frame included).
    pub best: BestObject,
}

/// Who is in a zone now, and how long people wait there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneOccupancy {
    /// The zone's name.
    pub zone: String,
    /// Objects in the zone now (queue length for a queue zone).
    pub count: u32,
    /// Objects in the zone now, per class name.
    pub by_class: BTreeMap<String, u32>,
    /// Each object in the zone now, oldest stay first.
    pub members: Vec<ZoneMember>,
    /// Stays going on now (time since each object entered).
    pub waiting: WaitStats,
    /// Stays that ended within the configured `wait_window`.
    pub completed: WaitStats,
}

/// One object in a zone and how long it has been there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneMember {
    /// Its track.
    pub track_id: TrackId,
    /// Its class name.
    pub class_name: String,
    /// When its stay began (unix ms).
    pub since_unix_ms: i64,
    /// How long it has waited so far, in milliseconds.
    pub wait_ms: u64,
}

/// Frames further apart than this count as this long for time-weighted statistics (a stalled stream does
/// not paint the heatmap).
const MAX_FRAME_GAP_MS: i64 = 1000;
/// A crowd count is dropped after three counting periods, and never sooner than this.
const CROWD_STALE_MIN_MS: i64 = 3000;
/// Best-score memory of tracks unseen for this long is dropped.
const TRACK_MEMORY_MS: i64 = 120_000;

/// Behaviour rules for one camera: zones, lines, masks, rules, counters, occupancy and a heatmap.
///
/// Deterministic (the same frames give the same events and ids) and free of I/O. See the crate
/// documentation for the configuration.
#[derive(Debug, Clone)]
pub struct RuleEngine {
    camera: String,
    c: Compiled,
    ids: IdGen,
    zones: Vec<ZoneState>,
    lines: Vec<LineState>,
    rules: Vec<RuleState>,
    counters: Vec<LineCounts>,
    heatmap: Heatmap,
    /// Per track: best view so far and when it was last seen.
    tracks: BTreeMap<TrackId, (BestObject, i64)>,
    last_ms: Option<i64>,
    last_frame: (u32, u32),
    last_media: Time90k,
    needs_local_time: bool,
    objs: Vec<Obj>,
    crossings: Vec<Crossing>,
    parts: Vec<Participant>,
    /// Per rule: the second opinion of intrusion rules with `unclassified_after`.
    fallbacks: Vec<crate::fallback::Fallback>,
    /// The model's `person` class (crowd counts are of people).
    person: Option<ClassId>,
    /// People in the whole picture (ignore masks applied) by the last crowd count, and when (unix ms).
    people_in_view: Option<(u32, i64)>,
    /// The independent second detector's verdicts and finds (`second_opinion`).
    second: SecondOpinionState,
    /// This frame's unexplained motion in the armed zones of catch rules (rule index, normalized box).
    catch_motion: Vec<(usize, BBox)>,
}

impl RuleEngine {
    /// Checks the configuration and builds the engine. `class_names` is the detector's class list in class-id
    /// order (COCO for the bundled detectors: `person`, `bicycle`, `car`...); configured class names must be
    /// in it (case-insensitive).
    pub fn new<S: AsRef<str>>(
        camera_name: &str,
        config: &RulesConfig,
        class_names: &[S],
    ) -> Result<Self, RulesError> {
        let names = class_names.iter().map(|s| s.as_ref().to_string()).collect();
        let c = compile(config, names)?;
        let needs_local_time = c.rules.iter().any(|r| !r.schedule.is_always());
        let person = c
            .class_names
            .iter()
            .position(|n| n.eq_ignore_ascii_case("person"))
            .and_then(|i| ClassId::try_from(i).ok());
        Ok(Self {
            person,
            people_in_view: None,
            camera: camera_name.to_string(),
            ids: IdGen::new(camera_name),
            zones: vec![ZoneState::default(); c.zones.len()],
            lines: vec![LineState::default(); c.lines.len()],
            rules: vec![RuleState::default(); c.rules.len()],
            counters: c.lines.iter().map(LineCounts::new).collect(),
            heatmap: Heatmap::new(c.heatmap.cols, c.heatmap.rows),
            tracks: BTreeMap::new(),
            last_ms: None,
            last_frame: (0, 0),
            last_media: Time90k(0),
            needs_local_time,
            objs: Vec::new(),
            crossings: Vec::new(),
            parts: Vec::new(),
            fallbacks: vec![crate::fallback::Fallback::default(); c.rules.len()],
            second: SecondOpinionState::new(c.rules.len()),
            catch_motion: Vec::new(),
            c,
        })
    }

    /// The camera's name.
    pub fn camera(&self) -> &str {
        &self.camera
    }

    /// The site time zone used for schedules and descriptions.
    pub fn timezone(&self) -> &TimeZone {
        &self.c.tz
    }

    /// Processes one analysed frame's confirmed tracks and returns the event messages that started, updated
    /// or ended in it, in rule order.
    ///
    /// Frames must come in time order; a frame older than the previous one is processed as if it had the
    /// previous one's time. A frame of zero size is skipped; tracks with non-finite boxes are ignored.
    pub fn update(&mut self, ctx: &FrameContext, tracks: &[TrackedObject]) -> Vec<Event> {
        let mut out = Vec::new();
        let (w, h) = (ctx.frame_w, ctx.frame_h);
        if w == 0 || h == 0 {
            tracing::warn!(camera = %self.camera, "frame of size {w}x{h} skipped by the rules engine");
            return out;
        }
        let mut t = ctx.time_unix_ms;
        if let Some(last) = self.last_ms
            && t < last
        {
            tracing::warn!(
                camera = %self.camera,
                "frame time went back by {} ms; using the previous frame's time",
                last - t
            );
            t = last;
        }
        let dt = self.last_ms.map_or(0, |l| (t - l).min(MAX_FRAME_GAP_MS));
        self.last_ms = Some(t);
        self.last_frame = (w, h);
        self.last_media = ctx.media_time;
        let now = EventTime {
            unix_ms: t,
            media: ctx.media_time,
        };

        self.collect_objects(tracks, w, h, now);

        if self.c.heatmap.enabled && dt > 0 {
            let secs = dt as f32 / 1000.0;
            for o in &self.objs {
                if self.c.heatmap.filter.allows_class(o.class_id) {
                    self.heatmap
                        .add(anchor_point(&o.nbox, self.c.heatmap.anchor), secs);
                }
            }
        }

        self.crossings.clear();
        for (i, (state, spec)) in self.lines.iter_mut().zip(&self.c.lines).enumerate() {
            state.update(i, spec, &self.objs, now, &mut self.crossings);
        }
        for c in &self.crossings {
            self.counters[c.line].add(
                &class_name(&self.c.class_names, c.obj.class_id),
                c.direction,
            );
        }

        let stale_ms = self.crowd_stale_ms();
        let crowd_occupancy = self.c.occupancy.crowd_occupancy;
        for (state, spec) in self.zones.iter_mut().zip(&self.c.zones) {
            state.update(spec, &self.objs, now);
            state.crowd_now = state
                .crowd
                .filter(|&(_, at)| t - at <= stale_ms)
                .map(|(n, _)| n);
            let n = state.occupancy_count(self.person, crowd_occupancy);
            state.sample(&self.c.occupancy, n, t, dt);
        }

        let view = FrameView {
            person: self.person,
            now,
            zones: &self.zones,
            crossings: &self.crossings,
            local: self.needs_local_time.then(|| self.c.tz.local(t)),
            second: &self.second,
        };
        for (state, spec) in self.rules.iter_mut().zip(&self.c.rules) {
            let obs = observe(spec, state, &view, &mut self.parts);
            let ctx = event_context(&self.camera, &self.c, spec);
            if spec.per_object {
                state.step_objects(&self.parts, now, &mut self.ids, &ctx, &mut out);
            } else {
                state.step(obs, &self.parts, now, &mut self.ids, &ctx, &mut out);
            }
        }
        out
    }

    /// Ends every open event now (the camera stops or the configuration changes) and returns the `End`
    /// messages.
    pub fn close(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        let now = EventTime {
            unix_ms: self.last_ms.unwrap_or(0),
            media: vigil_core::Time90k(0),
        };
        for f in &mut self.fallbacks {
            out.extend(f.close(&self.c, now));
        }
        out.extend(self.second.end_quiet(&self.c, now, |_| true, true));
        for (state, spec) in self.rules.iter_mut().zip(&self.c.rules) {
            if state.has_open() {
                let ctx = event_context(&self.camera, &self.c, spec);
                state.close(&ctx, &mut out);
            }
        }
        out
    }

    fn collect_objects(&mut self, tracks: &[TrackedObject], w: u32, h: u32, now: EventTime) {
        let t = now.unix_ms;
        let (fw, fh) = (w as f32, h as f32);
        self.objs.clear();
        for tr in tracks {
            if !tr.bbox.is_finite() || !tr.score.is_finite() {
                continue;
            }
            let b = tr.bbox;
            // The part of the box inside the picture: a tracker extrapolates boxes past the frame edge
            // (someone walking in at the bottom has their feet below it), and the bottom centre of such a
            // box would fall outside a zone drawn to the edge while the person is plainly in it.
            let raw = BBox::new(b.x1 / fw, b.y1 / fh, b.x2 / fw, b.y2 / fh);
            let nbox = raw.clip(1.0, 1.0);
            if self
                .c
                .ignore
                .iter()
                .any(|m| is_inside(&m.polygon, m.anchor, &nbox))
            {
                continue;
            }
            let view = BestObject {
                track_id: tr.id,
                score: tr.score,
                bbox: b,
                frame_w: w,
                frame_h: h,
                time: now,
            };
            let entry = self.tracks.entry(tr.id).or_insert((view, t));
            if tr.score > entry.0.score {
                entry.0 = view;
            }
            entry.1 = t;
            self.objs.push(Obj {
                id: tr.id,
                class_id: tr.class_id,
                max_score: entry.0.score,
                nbox,
                raw,
                area: nbox.area(),
                best: entry.0,
            });
        }
        self.objs.sort_by_key(|o| o.id);
        self.objs.dedup_by_key(|o| o.id);
        self.tracks
            .retain(|_, &mut (_, seen)| t - seen <= TRACK_MEMORY_MS);
        let known = &self.tracks;
        self.second.retain(|id| known.contains_key(&id));
    }

    /// How often the caller should count people with the crowd counter and pass them to
    /// [`RuleEngine::set_people`]: when `[occupancy] count_every` is not 0, the model has a `person` class,
    /// and a crowding rule counts people or `crowd_occupancy` is on. `None`: no crowd counts wanted.
    pub fn people_count_every(&self) -> Option<std::time::Duration> {
        let person = self.person?;
        let every = u64::try_from(self.c.occupancy.count_every_ms)
            .ok()
            .filter(|&ms| ms > 0)?;
        let wanted = self.c.occupancy.crowd_occupancy
            || self.c.rules.iter().any(|r| {
                r.kind == crate::config::RuleKind::Crowding && r.filter.allows_class(person)
            });
        wanted.then(|| std::time::Duration::from_millis(every))
    }

    /// A crowd count older than this no longer counts (the counter stopped: tracks count again).
    fn crowd_stale_ms(&self) -> i64 {
        (3 * self.c.occupancy.count_every_ms).max(CROWD_STALE_MIN_MS)
    }

    /// The people a crowd counter found in a frame (`people`: boxes in the pixels of a
    /// `ctx.frame_w` x `ctx.frame_h` frame, ignore masks applied here): per zone that admits people, those
    /// whose anchor point (feet by default) is in it and whose box is not smaller than the zone's
    /// `min_area` (the counter has its own score threshold; the zone's `min_score` is for tracks). Until
    /// the next count, or for at most three counting periods, these counts replace the zone's person
    /// tracks in crowding rules, and with `crowd_occupancy` in the zone's occupancy. Call before
    /// [`RuleEngine::update`] for the same frame.
    pub fn set_people(&mut self, ctx: &FrameContext, people: &[BBox]) {
        let (w, h) = (ctx.frame_w as f32, ctx.frame_h as f32);
        let Some(person) = self.person else {
            return;
        };
        if ctx.frame_w == 0 || ctx.frame_h == 0 {
            return;
        }
        let t = self
            .last_ms
            .map_or(ctx.time_unix_ms, |l| l.max(ctx.time_unix_ms));
        let boxes: Vec<BBox> = people
            .iter()
            .filter(|b| b.is_finite())
            .map(|b| BBox::new(b.x1 / w, b.y1 / h, b.x2 / w, b.y2 / h).clip(1.0, 1.0))
            .filter(|b| {
                !self
                    .c
                    .ignore
                    .iter()
                    .any(|m| is_inside(&m.polygon, m.anchor, b))
            })
            .collect();
        self.people_in_view = Some((boxes.len() as u32, t));
        for (state, spec) in self.zones.iter_mut().zip(&self.c.zones) {
            state.crowd = spec.filter.allows_class(person).then(|| {
                let n = boxes
                    .iter()
                    .filter(|b| {
                        b.area() >= spec.filter.min_area && is_inside(&spec.polygon, spec.anchor, b)
                    })
                    .count();
                (n as u32, t)
            });
        }
    }

    /// People in the whole picture by the last crowd count while it is fresh (ignore masks applied), with
    /// `crowd_occupancy` on (else `None`: tracks count the people in view).
    pub fn people_in_view(&self) -> Option<u32> {
        if !self.c.occupancy.crowd_occupancy {
            return None;
        }
        let now = self.last_ms?;
        self.people_in_view
            .filter(|&(_, at)| now - at <= self.crowd_stale_ms())
            .map(|(n, _)| n)
    }

    /// True when some intrusion rule asks for a second opinion (`unclassified_after`): then the caller
    /// passes each frame's motion to [`RuleEngine::unclassified`].
    pub fn wants_motion(&self) -> bool {
        self.c.rules.iter().any(|r| {
            r.unclassified_after_ms.is_some()
                || (self.second.has_model() && r.second.is_some_and(|s| s.catches()))
        })
    }

    /// The second opinion of the intrusion rules that ask for it: motion (`motion` boxes in frame pixels)
    /// that keeps moving in an armed zone with no confirmed track over it raises `unclassified_motion`
    /// (`crate::fallback`). Call after [`RuleEngine::update`] for the same frame.
    pub fn unclassified(
        &mut self,
        ctx: &FrameContext,
        motion: &[BBox],
        tracks: &[TrackedObject],
    ) -> Vec<Event> {
        let (w, h) = (ctx.frame_w, ctx.frame_h);
        if w == 0 || h == 0 || !self.wants_motion() {
            return Vec::new();
        }
        let now = EventTime {
            unix_ms: self.last_ms.unwrap_or(ctx.time_unix_ms),
            media: ctx.media_time,
        };
        let moving = crate::fallback::normalized_boxes(motion, w, h);
        let track_boxes: Vec<BBox> = tracks.iter().map(|t| t.bbox).collect();
        let tracked = crate::fallback::normalized_boxes(&track_boxes, w, h);
        let local = self.needs_local_time.then(|| self.c.tz.local(now.unix_ms));
        let mut out = Vec::new();
        let armed = |spec: &crate::compile::RuleSpec| {
            spec.schedule.is_always() || local.as_ref().is_some_and(|l| spec.schedule.is_armed(l))
        };
        let catching = self.second.has_model();
        self.catch_motion.clear();
        for (i, (f, spec)) in self.fallbacks.iter_mut().zip(&self.c.rules).enumerate() {
            let catches = catching && spec.second.is_some_and(|s| s.catches());
            if spec.unclassified_after_ms.is_none() && !catches {
                continue;
            }
            out.extend(f.step(
                spec,
                spec.unclassified_after_ms,
                &self.c,
                &self.camera,
                &mut self.ids,
                now,
                &moving,
                &tracked,
                armed(spec),
            ));
            if catches {
                self.catch_motion
                    .extend(f.unexplained(now.unix_ms, CATCH_AFTER_MS).map(|b| (i, b)));
            }
        }
        out.extend(self.second.end_quiet(&self.c, now, armed, false));
        out
    }

    /// Gives the rules an independent second detector: its name (for descriptions) and class names.
    /// Without it, rules with `second_opinion` behave as if they had none.
    pub fn set_second_model(&mut self, name: &str, classes: Vec<String>) {
        self.second.set_model(name, classes);
    }

    /// True when some rule has `second_opinion` (the caller should then give a second detector).
    pub fn wants_second_opinion(&self) -> bool {
        self.c.rules.iter().any(|r| r.second.is_some())
    }

    /// What the second detector should look at in the last frame (call after [`RuleEngine::update`] and
    /// [`RuleEngine::unclassified`] for it): objects whose event waits for confirmation, and unexplained
    /// motion in armed zones of catch rules. Mostly empty: objects are asked about once (again after
    /// [`crate::second::RECHECK_MS`] when refused), motion at most every
    /// [`crate::second::CATCH_EVERY_MS`] per rule.
    pub fn second_opinion_request(&mut self) -> SecondOpinionRequest {
        let mut req = SecondOpinionRequest::default();
        if !self.second.has_model() {
            return req;
        }
        let t = self.last_ms.unwrap_or(0);
        let (fw, fh) = (self.last_frame.0 as f32, self.last_frame.1 as f32);
        for (state, spec) in self.rules.iter().zip(&self.c.rules) {
            let Target::Zone(z) = spec.target else {
                continue;
            };
            if !spec.second.is_some_and(|s| s.confirms()) || state.armed_since.is_none() {
                continue;
            }
            for (&id, p) in &self.zones[z].presences {
                if !p.confirmed
                    || !spec.filter.allows(p.class_id, p.max_score, p.area)
                    || req.confirm.iter().any(|c| c.track_id == id)
                {
                    continue;
                }
                let Some(o) = self.objs.iter().find(|o| o.id == id) else {
                    continue;
                };
                let name = class_name(&self.c.class_names, o.class_id);
                if self.second.due(id, &name, t) {
                    req.confirm.push(crate::second::ConfirmRequest {
                        track_id: id,
                        class_name: name,
                        bbox: o.raw.scale(fw, fh),
                    });
                }
            }
        }
        for &(rule, b) in &self.catch_motion {
            if self.second.catch_due(rule, t) {
                req.catch.push((rule, b.scale(fw, fh)));
            }
        }
        for &(rule, _) in &req.catch {
            self.second.catch_looks(rule, t);
        }
        req
    }

    /// What the second detector saw for `req` (`seen`: its detections in frame pixels, in the regions of
    /// `req` or anywhere): confirmations recorded, and the intrusion events its finds raise.
    pub fn second_opinion_answer(
        &mut self,
        req: &SecondOpinionRequest,
        seen: &[SecondDetection],
    ) -> Vec<Event> {
        if req.is_empty() {
            return Vec::new();
        }
        let t = self.last_ms.unwrap_or(0);
        self.second.note_look();
        self.second.judge(&self.camera, req, seen, t);
        let now = EventTime {
            unix_ms: t,
            media: self.last_media,
        };
        let tracks: Vec<BBox> = self.objs.iter().map(|o| o.nbox).collect();
        self.second.catch(
            &self.c,
            &self.camera,
            &mut self.ids,
            now,
            self.last_frame,
            req,
            seen,
            &tracks,
        )
    }

    /// What the second opinion did so far.
    pub fn second_opinion_stats(&self) -> SecondOpinionStats {
        self.second.stats()
    }

    /// Line counters, in configuration order.
    pub fn counters(&self) -> &[LineCounts] {
        &self.counters
    }

    /// Sets every line counter back to zero.
    pub fn reset_counters(&mut self) {
        self.counters = self.c.lines.iter().map(LineCounts::new).collect();
    }

    /// Occupancy and waits of every zone as of the last frame, in configuration order.
    pub fn occupancy(&self) -> Vec<ZoneOccupancy> {
        let now = self.last_ms.unwrap_or(0);
        self.c
            .zones
            .iter()
            .zip(&self.zones)
            .map(|(spec, state)| {
                let mut by_class = BTreeMap::new();
                let mut members = Vec::new();
                for (&id, p) in state.presences.iter().filter(|(_, p)| p.confirmed) {
                    let name = class_name(&self.c.class_names, p.class_id);
                    members.push(ZoneMember {
                        track_id: id,
                        class_name: name.clone(),
                        since_unix_ms: p.entered.unix_ms,
                        wait_ms: p.wait_ms(now).max(0) as u64,
                    });
                    *by_class.entry(name).or_insert(0) += 1;
                }
                members.sort_by_key(|m| (m.since_unix_ms, m.track_id));
                let crowd = self.c.occupancy.crowd_occupancy;
                if let (true, Some(person), Some(people)) = (crowd, self.person, state.crowd_now) {
                    let name = class_name(&self.c.class_names, person);
                    if people == 0 {
                        by_class.remove(&name);
                    } else {
                        by_class.insert(name, people);
                    }
                }
                ZoneOccupancy {
                    zone: spec.name.clone(),
                    count: state.occupancy_count(self.person, crowd),
                    by_class,
                    members,
                    waiting: state.current_waits(now),
                    completed: state.completed_waits(now, self.c.occupancy.wait_window_ms),
                }
            })
            .collect()
    }

    /// A zone's occupancy over time (oldest first, the period in progress last); `None` for an unknown zone.
    pub fn occupancy_history(&self, zone: &str) -> Option<Vec<OccupancySample>> {
        let i = self.c.zones.iter().position(|z| z.name == zone)?;
        Some(self.zones[i].history())
    }

    /// The occupancy heatmap accumulated so far.
    pub fn heatmap(&self) -> &Heatmap {
        &self.heatmap
    }

    /// Clears the heatmap.
    pub fn reset_heatmap(&mut self) {
        self.heatmap.reset();
    }

    /// The privacy masks to black out (see [`crate::black_out`]).
    pub fn privacy_masks(&self) -> &[PrivacyMask] {
        &self.c.privacy
    }
}

fn event_context<'a>(
    camera: &'a str,
    c: &'a Compiled,
    spec: &'a crate::compile::RuleSpec,
) -> EventContext<'a> {
    let (zone, line) = match spec.target {
        crate::compile::Target::Zone(z) => (Some(c.zones[z].name.as_str()), None),
        crate::compile::Target::Line(l) => (None, Some(c.lines[l].name.as_str())),
    };
    EventContext {
        camera,
        rule: spec,
        zone,
        line,
        class_names: &c.class_names,
        tz: &c.tz,
    }
}
