//! The facts a summary is made of, read from the store: the events of the range (or of one incident),
//! what the recordings cover on each camera, and which people events re-identification links.

use crate::{Footage, SummaryError, SummaryRequest};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use vigil_core::{BIOMETRIC_KINDS, OTHER_KINDS, RULE_KINDS, Time90k};
use vigil_identity::transit::Transit;
use vigil_store::{ElsewhereQuery, EventQuery, EventReader, Reader, StoredEvent};

/// Most events a summary reads (it says so when there were more).
pub const MAX_EVENTS: usize = 10_000;
/// Most people events whose re-identification is looked up for incidents.
const MAX_REID_LOOKUPS: usize = 300;
/// Sightings at least this alike (after the transit adjustment) link two events into an incident.
pub const LINK_SIMILARITY: f32 = 0.8;
/// At or above this similarity the text says "the same person"; below it, "probably the same person".
pub const SAME_PERSON: f32 = 0.9;
/// How far around a person event re-identification looks (ms).
const REID_WINDOW_MS: i64 = 3_600_000;
/// Footage wanted before and after an event's span (ms).
pub const CLIP_ROLL_MS: i64 = 2_000;

/// Everything a summary says, before it is put in words.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Range start (unix ms).
    pub from_ms: i64,
    /// Range end (unix ms).
    pub to_ms: i64,
    /// The events, oldest first.
    pub events: Vec<StoredEvent>,
    /// More than [`MAX_EVENTS`] events: only the first were read.
    pub truncated: bool,
    /// The cameras spoken of, sorted.
    pub cameras: Vec<String>,
    /// What the recordings cover, per camera.
    pub coverage: BTreeMap<String, Coverage>,
    /// Events linked by re-identification.
    pub incidents: Vec<Incident>,
    /// Summary of one incident (from its event).
    pub incident_mode: bool,
}

/// What a camera's recordings cover around the range.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// The stream looked at (`main` when recorded), `None` when the camera records nothing.
    pub stream: Option<String>,
    /// Continuous recorded ranges (unix ms), sorted.
    pub runs: Vec<Range<i64>>,
}

impl Coverage {
    /// Recorded milliseconds within `[from, to)`.
    pub fn covered_ms(&self, from: i64, to: i64) -> i64 {
        self.runs
            .iter()
            .map(|r| (r.end.min(to) - r.start.max(from)).max(0))
            .sum()
    }

    /// The recorded ranges within `[from, to)`.
    pub fn within(&self, from: i64, to: i64) -> Vec<Range<i64>> {
        self.runs
            .iter()
            .filter(|r| r.end > from && r.start < to)
            .map(|r| r.start.max(from)..r.end.min(to))
            .collect()
    }

    /// The clip for `[from, to)`: the whole range when one run covers it, else its largest recorded
    /// part, else gone.
    pub fn clip(&self, from: i64, to: i64) -> (Footage, Range<i64>) {
        let best = self
            .within(from, to)
            .into_iter()
            .max_by_key(|r| r.end - r.start);
        match best {
            Some(r) if r.start == from && r.end == to => (Footage::Recorded, r),
            Some(r) => (Footage::Partial, r),
            None => (Footage::Gone, from..to),
        }
    }
}

/// Events linked into one incident, and why.
#[derive(Debug, Clone, Default)]
pub struct Incident {
    /// Indices into [`Facts::events`], oldest first.
    pub events: Vec<usize>,
    /// The re-identification links between them.
    pub links: Vec<Link>,
}

/// Two events whose people re-identification found alike.
#[derive(Debug, Clone)]
pub struct Link {
    /// Index of one event.
    pub a: usize,
    /// Index of the other.
    pub b: usize,
    /// Cosine similarity of the appearances (0..1).
    pub similarity: f32,
    /// How the time between fits the camera links.
    pub transit: Transit,
    /// Similarity adjusted by the transit (what links them).
    pub score: f32,
}

/// The end of an event (its end, or the last time it was seen to hold).
pub fn end_ms(e: &StoredEvent) -> i64 {
    e.event.end.map_or(e.event.last.unix_ms, |t| t.unix_ms)
}

fn is_person(e: &StoredEvent) -> bool {
    e.event.class_name == "person" || e.event.objects.iter().any(|c| c.class_name == "person")
}

fn visible(req: &SummaryRequest, e: &StoredEvent) -> bool {
    req.cameras
        .as_ref()
        .is_none_or(|c| c.contains(&e.event.camera))
        && (req.biometric || !e.event.kind.is_biometric())
}

/// Reads the facts of `req`.
pub fn gather(
    events: &EventReader,
    recordings: &Reader,
    req: &SummaryRequest,
) -> Result<Facts, SummaryError> {
    let mut facts = match req.incident {
        Some(id) => incident_events(events, req, id)?,
        None => range_events(events, req)?,
    };
    let mut cameras: BTreeSet<String> = facts
        .events
        .iter()
        .map(|e| e.event.camera.clone())
        .collect();
    match (&req.cameras, facts.incident_mode) {
        (Some(only), false) => cameras.extend(only.iter().cloned()),
        (None, false) => {
            cameras.extend(req.known.iter().cloned());
            cameras.extend(recordings.cameras()?.into_iter().map(|c| c.name));
        }
        _ => {}
    }
    facts.cameras = cameras.into_iter().collect();
    let span_end = facts
        .events
        .iter()
        .map(|e| end_ms(e) + CLIP_ROLL_MS)
        .fold(facts.to_ms, i64::max);
    let span_start = facts
        .events
        .iter()
        .map(|e| e.event.start.unix_ms - CLIP_ROLL_MS)
        .fold(facts.from_ms, i64::min);
    let recorded = recordings.cameras()?;
    for camera in &facts.cameras {
        let stream = recorded.iter().find(|c| &c.name == camera).and_then(|c| {
            c.streams
                .iter()
                .find(|s| s.as_str() == "main")
                .or(c.streams.first())
                .cloned()
        });
        let runs = match &stream {
            Some(s) => recordings
                .recordings(camera, s, ms_90k(span_start), ms_90k(span_end))?
                .into_iter()
                .map(|r| ms_of_90k(r.start)..ms_of_90k(r.end))
                .collect(),
            None => Vec::new(),
        };
        facts
            .coverage
            .insert(camera.clone(), Coverage { stream, runs });
    }
    facts.incidents = link_people(events, req, &facts.events)?;
    Ok(facts)
}

fn ms_90k(ms: i64) -> Time90k {
    Time90k(ms.saturating_mul(90))
}

fn ms_of_90k(t: Time90k) -> i64 {
    t.0.div_euclid(90)
}

fn range_events(events: &EventReader, req: &SummaryRequest) -> Result<Facts, SummaryError> {
    if req.to_ms <= req.from_ms {
        return Err(SummaryError::BadRequest(
            "the range's end must be after its start".into(),
        ));
    }
    let kinds = (!req.biometric).then(|| {
        RULE_KINDS
            .iter()
            .chain(OTHER_KINDS.iter())
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
    });
    debug_assert!(BIOMETRIC_KINDS.iter().all(|k| !RULE_KINDS.contains(k)));
    let mut q = EventQuery {
        cameras: req.cameras.clone(),
        from_ms: Some(req.from_ms),
        to_ms: Some(req.to_ms),
        kinds,
        limit: 1000,
        ..EventQuery::default()
    };
    let mut out = Vec::new();
    let mut truncated = false;
    loop {
        let page = events.list(&q)?;
        out.extend(page.events.into_iter().filter(|e| visible(req, e)));
        if out.len() >= MAX_EVENTS {
            truncated = page.next_cursor.is_some() || out.len() > MAX_EVENTS;
            out.truncate(MAX_EVENTS);
            break;
        }
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    out.reverse();
    Ok(Facts {
        from_ms: req.from_ms,
        to_ms: req.to_ms,
        events: out,
        truncated,
        ..Facts::default()
    })
}

fn elsewhere(
    events: &EventReader,
    req: &SummaryRequest,
    e: &StoredEvent,
) -> Result<Vec<vigil_store::Sighting>, SummaryError> {
    Ok(events.seen_elsewhere(&ElsewhereQuery {
        event: e.event.id,
        window_ms: REID_WINDOW_MS,
        cameras: req.cameras.clone(),
        min_similarity: LINK_SIMILARITY,
        limit: 50,
        links: Default::default(),
    })?)
}

fn incident_events(
    events: &EventReader,
    req: &SummaryRequest,
    id: vigil_core::EventId,
) -> Result<Facts, SummaryError> {
    let seed = match events.get(id) {
        Ok(e) if visible(req, &e) => e,
        Ok(_) | Err(vigil_store::StoreError::EventNotFound { .. }) => {
            return Err(SummaryError::NoSuchEvent(id.to_string()));
        }
        Err(e) => return Err(e.into()),
    };
    let mut found = vec![seed.clone()];
    if is_person(&seed) {
        for s in elsewhere(events, req, &seed)? {
            for other in &s.events {
                let Ok(oid) = other.parse() else { continue };
                if found.iter().any(|f| f.event.id == oid) {
                    continue;
                }
                match events.get(oid) {
                    Ok(o) if visible(req, &o) => found.push(o),
                    Ok(_) | Err(vigil_store::StoreError::EventNotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    found.sort_by_key(|e| (e.event.start.unix_ms, e.event.id));
    let from_ms = found
        .iter()
        .map(|e| e.event.start.unix_ms)
        .min()
        .unwrap_or(0);
    let to_ms = found.iter().map(end_ms).max().unwrap_or(from_ms) + 1;
    Ok(Facts {
        from_ms,
        to_ms,
        events: found,
        incident_mode: true,
        ..Facts::default()
    })
}

/// Links the people events whose appearances re-identification finds alike, and groups the linked
/// events into incidents (connected events; two events of the same track are not a link).
fn link_people(
    events: &EventReader,
    req: &SummaryRequest,
    list: &[StoredEvent],
) -> Result<Vec<Incident>, SummaryError> {
    let index: HashMap<String, usize> = list
        .iter()
        .enumerate()
        .map(|(i, e)| (e.event.id.to_string(), i))
        .collect();
    let mut links: Vec<Link> = Vec::new();
    for (a, e) in list
        .iter()
        .enumerate()
        .filter(|(_, e)| is_person(e))
        .take(MAX_REID_LOOKUPS)
    {
        for s in elsewhere(events, req, e)? {
            if s.transit == Transit::TooSoon || s.score < LINK_SIMILARITY {
                continue;
            }
            for other in &s.events {
                let Some(&b) = index.get(other) else { continue };
                if b == a || links.iter().any(|l| (l.a, l.b) == (a.min(b), a.max(b))) {
                    continue;
                }
                links.push(Link {
                    a: a.min(b),
                    b: a.max(b),
                    similarity: s.similarity,
                    transit: s.transit,
                    score: s.score.min(1.0),
                });
            }
        }
    }
    // Connected components (union-find over the links).
    let mut parent: Vec<usize> = (0..list.len()).collect();
    fn root(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for l in &links {
        let (ra, rb) = (root(&mut parent, l.a), root(&mut parent, l.b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let roots: Vec<usize> = (0..list.len()).map(|i| root(&mut parent, i)).collect();
    let mut groups: BTreeMap<usize, Incident> = BTreeMap::new();
    for l in &links {
        groups.entry(roots[l.a]).or_default().links.push(l.clone());
    }
    for (r, g) in &mut groups {
        g.events = (0..list.len()).filter(|&i| roots[i] == *r).collect();
    }
    Ok(groups
        .into_values()
        .filter(|g| g.events.len() > 1)
        .collect())
}
