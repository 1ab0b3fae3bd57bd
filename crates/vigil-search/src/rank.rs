//! Ranking: what can be found (events and tracks, as [`Candidate`]s), which of them a [`Query`] admits,
//! and in which order, with the reasons. The same code ranks the event store's candidates and those of an
//! events JSON-lines file, so both give the same order for the same events.

use crate::query::{ColourWant, Query};
use crate::words::{Part, TextEncoder, dot};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use vigil_core::{Attributes, Event, TrackPath};

/// How alike in meaning a description must be to a query made of words only, for it to be shown.
pub const MIN_TEXT_SIMILARITY: f32 = 0.3;

/// What a candidate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// An event (a rule's situation).
    Event,
    /// A tracked object's whole path on one camera.
    Track,
}

/// Something a search can find.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Event or track.
    #[serde(rename = "type")]
    pub source: Source,
    /// The event id, or `CAMERA/TRACK/FIRST_MS` for a track.
    pub id: String,
    /// Camera.
    pub camera: String,
    /// Start (unix ms).
    pub start_ms: i64,
    /// End, or the latest time seen (unix ms).
    pub end_ms: i64,
    /// Main class.
    pub class: String,
    /// Every class that took part.
    pub classes: Vec<String>,
    /// Event kind (events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Rule (events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Zone or line of the event (events only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// Track ids.
    pub tracks: Vec<u64>,
    /// What the object looked like.
    #[serde(skip_serializing_if = "Attributes::is_empty", default)]
    pub attributes: Attributes,
    /// Plain-language description.
    pub description: String,
    /// Plate read (plate events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    /// Person recognised (face events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
}

impl Candidate {
    /// An event as a candidate.
    pub fn from_event(e: &Event) -> Self {
        let mut classes: Vec<String> = vec![e.class_name.clone()];
        for c in &e.objects {
            if !classes.contains(&c.class_name) {
                classes.push(c.class_name.clone());
            }
        }
        let (plate, person) = match &e.kind {
            vigil_core::EventKind::PlateRead { plate, .. } => (Some(plate.clone()), None),
            vigil_core::EventKind::FaceRecognized { person, .. } => (None, Some(person.clone())),
            _ => (None, None),
        };
        Self {
            source: Source::Event,
            id: e.id.to_string(),
            camera: e.camera.clone(),
            start_ms: e.start.unix_ms,
            end_ms: e.end.unwrap_or(e.last).unix_ms,
            class: e.class_name.clone(),
            classes,
            kind: Some(e.kind.name().to_string()),
            rule: Some(e.rule.clone()),
            place: e.zone.clone().or_else(|| e.line.clone()),
            tracks: e.track_ids.clone(),
            attributes: e.attributes.clone(),
            description: e.description.clone(),
            plate,
            person,
        }
    }

    /// A track as a candidate; `when` writes its times for the description.
    pub fn from_track(p: &TrackPath, when: impl Fn(i64) -> String) -> Self {
        let mut description = format!("A {}", p.class);
        if let Some(look) = p.attributes.phrase() {
            description.push(' ');
            description.push_str(&look);
        }
        description.push_str(&format!(
            " on '{}' from {} to {}",
            p.camera,
            when(p.first_ms),
            when(p.last_ms)
        ));
        if !p.attributes.zones.is_empty() {
            let zones: Vec<String> = p
                .attributes
                .zones
                .iter()
                .map(|z| format!("'{z}'"))
                .collect();
            description.push_str(&format!(", in {}", zones.join(", ")));
        }
        Self {
            source: Source::Track,
            id: format!("{}/{}/{}", p.camera, p.track, p.first_ms),
            camera: p.camera.clone(),
            start_ms: p.first_ms,
            end_ms: p.last_ms,
            class: p.class.clone(),
            classes: vec![p.class.clone()],
            kind: None,
            rule: None,
            place: None,
            tracks: vec![p.track],
            attributes: p.attributes.clone(),
            description,
            plate: None,
            person: None,
        }
    }
}

/// A candidate the query admits, with its score and why.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// Higher is better; 1 for a bare match of every filter, more for each colour, place and word that
    /// agrees.
    pub score: f32,
    /// Why it matched, in words.
    pub why: Vec<String>,
    /// What was found.
    #[serde(flatten)]
    pub candidate: Candidate,
}

/// Whether a candidate's colours agree with a wanted colour: `Some(true)` yes, `Some(false)` it is known
/// to be another colour, `None` unknown.
fn colour_agrees(a: &Attributes, want: &ColourWant) -> Option<bool> {
    let known: Vec<_> = match want.part {
        Part::Upper => a.upper_colour.into_iter().collect(),
        Part::Lower => a.lower_colour.into_iter().collect(),
        Part::Any => a.colours().collect(),
    };
    if known.is_empty() {
        None
    } else {
        Some(known.contains(&want.colour))
    }
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// A description with its times and numbers taken out, so that descriptions of one template share one
/// embedding.
fn template(description: &str) -> String {
    description
        .chars()
        .filter(|c| !c.is_ascii_digit() && *c != ':')
        .collect()
}

/// Ranks `candidates` for `query`, best first (ties: newest first). Descriptions are compared by meaning
/// with the query's left-over words when an `encoder` is given, by the words alone otherwise.
pub fn rank(
    query: &Query,
    candidates: Vec<Candidate>,
    mut encoder: Option<&mut dyn TextEncoder>,
) -> Result<Vec<Hit>, String> {
    let free = query.free_text();
    let words_only = query.is_empty()
        || (!free.is_empty() && {
            let mut q = query.clone();
            q.words.clear();
            q.is_empty()
        });
    let query_vec = match (&mut encoder, free.is_empty()) {
        (Some(enc), false) => enc.encode(&[&free])?.into_iter().next(),
        _ => None,
    };
    let mut cache: HashMap<String, f32> = HashMap::new();
    let mut hits = Vec::new();
    'candidates: for c in candidates {
        let mut why = Vec::new();
        let mut score = 1.0;
        if let Some(t) = query.time
            && (c.end_ms < t.from_ms || c.start_ms >= t.to_ms)
        {
            continue;
        }
        if !query.cameras.is_empty() && !query.cameras.iter().any(|x| same(x, &c.camera)) {
            continue;
        }
        if !query.classes.is_empty() {
            match query
                .classes
                .iter()
                .find(|q| c.classes.iter().any(|x| same(x, q)))
            {
                Some(class) => why.push(class.clone()),
                None => continue,
            }
        }
        if !query.kinds.is_empty() {
            match &c.kind {
                Some(k) if query.kinds.contains(k) => why.push(k.replace('_', " ")),
                _ => continue,
            }
        }
        if !query.rules.is_empty() {
            match &c.rule {
                Some(r) if query.rules.iter().any(|x| same(x, r)) => {
                    why.push(format!("rule '{r}'"))
                }
                _ => continue,
            }
        }
        if !query.places.is_empty() {
            let own = c.place.iter().chain(&c.attributes.zones);
            match own
                .clone()
                .find(|p| query.places.iter().any(|x| same(x, p)))
            {
                Some(p) => {
                    why.push(format!("at '{p}'"));
                    score += 1.0;
                }
                None => continue,
            }
        }
        if let Some(plate) = &query.plate {
            match &c.plate {
                Some(p) if p.contains(plate.as_str()) => why.push(format!("plate {p}")),
                _ => continue,
            }
        }
        if let Some(person) = &query.person {
            match &c.person {
                Some(p) if same(p, person) => why.push(p.clone()),
                _ => continue,
            }
        }
        for want in &query.colours {
            match colour_agrees(&c.attributes, want) {
                Some(true) => {
                    score += 1.0;
                    why.push(match want.part {
                        Part::Upper => format!("{} top", want.colour),
                        Part::Lower => format!("{} trousers", want.colour),
                        Part::Any => want.colour.to_string(),
                    });
                }
                Some(false) => continue 'candidates,
                None => why.push(format!("colour not known (asked {})", want.colour)),
            }
        }
        if !free.is_empty() {
            let text = c.description.to_lowercase();
            let found = query
                .words
                .iter()
                .filter(|w| text.contains(w.as_str()))
                .count();
            let lexical = found as f32 / query.words.len() as f32;
            let meaning = match (&query_vec, &mut encoder) {
                (Some(qv), Some(enc)) => {
                    let key = template(&c.description);
                    match cache.get(&key) {
                        Some(s) => *s,
                        None => {
                            let v = enc.encode(&[&key])?;
                            let s = v.first().map_or(0.0, |v| dot(qv, v));
                            cache.insert(key, s);
                            s
                        }
                    }
                }
                _ => 0.0,
            };
            if words_only && lexical == 0.0 && meaning < MIN_TEXT_SIMILARITY {
                continue;
            }
            score += lexical + meaning.max(0.0);
            if lexical > 0.0 {
                why.push(format!("{found} of {} words", query.words.len()));
            }
            if meaning > 0.0 {
                why.push(format!("meaning {meaning:.2}"));
            }
        }
        hits.push(Hit {
            score: (score * 1000.0).round() / 1000.0,
            why,
            candidate: c,
        });
    }
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.candidate.start_ms.cmp(&a.candidate.start_ms))
            .then(a.candidate.id.cmp(&b.candidate.id))
    });
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::Colour;

    fn cand(id: &str, class: &str, colour: Option<Colour>, start_ms: i64) -> Candidate {
        Candidate {
            source: Source::Event,
            id: id.into(),
            camera: "yard".into(),
            start_ms,
            end_ms: start_ms + 1000,
            class: class.into(),
            classes: vec![class.into()],
            kind: Some("intrusion".into()),
            rule: Some("Yard".into()),
            place: Some("Gate".into()),
            tracks: vec![1],
            attributes: Attributes {
                colour,
                ..Default::default()
            },
            description: format!("A {class} entered 'Gate'"),
            plate: None,
            person: None,
        }
    }

    #[test]
    fn colours_known_to_differ_are_out_unknown_ones_rank_below_matches() {
        let q = Query {
            classes: vec!["car".into()],
            colours: vec![ColourWant {
                colour: Colour::Red,
                part: Part::Any,
            }],
            ..Default::default()
        };
        let hits = rank(
            &q,
            vec![
                cand("white", "car", Some(Colour::White), 3),
                cand("unknown", "car", None, 2),
                cand("red", "car", Some(Colour::Red), 1),
                cand("person", "person", Some(Colour::Red), 4),
            ],
            None,
        )
        .unwrap();
        let ids: Vec<_> = hits.iter().map(|h| h.candidate.id.as_str()).collect();
        assert_eq!(ids, ["red", "unknown"]);
        assert!(hits[0].score > hits[1].score);
        assert!(
            hits[0].why.contains(&"red".to_string()),
            "{:?}",
            hits[0].why
        );
    }

    #[test]
    fn words_alone_must_appear_or_mean_something_close() {
        let q = Query {
            words: vec!["xyzzy".into()],
            ..Default::default()
        };
        assert!(
            rank(&q, vec![cand("a", "car", None, 1)], None)
                .unwrap()
                .is_empty()
        );
        let q = Query {
            words: vec!["entered".into()],
            ..Default::default()
        };
        assert_eq!(
            rank(&q, vec![cand("a", "car", None, 1)], None)
                .unwrap()
                .len(),
            1
        );
    }
}
