//! Where candidates come from: the event store (events and tracks, within what the reader may see) or an
//! events JSON-lines file as `vigil analyze --events` writes it (every message of every event; the
//! latest message of each event is the event).

use crate::query::Query;
use crate::rank::Candidate;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;
use vigil_core::{BIOMETRIC_KINDS, Event};
use vigil_rules::tz::TimeZone;
use vigil_store::{EventQuery, EventReader, StoreError};

/// Candidates read at most from the store for one query (the newest first): a query that admits more is
/// answered from the newest ones, and says so.
pub const MAX_CANDIDATES: usize = 20_000;
/// How long before a queried range an event may have started and still overlap it.
const LOOKBACK_MS: i64 = 6 * 3_600_000;

/// What the person searching may see.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Cameras they may see (`None`: all).
    pub cameras: Option<Vec<String>>,
    /// Whether face events (who a person is) may be shown.
    pub biometric: bool,
}

/// Candidates from the store for `query`: its events and, when the query can match them, its tracks.
/// Returns them and whether the cap [`MAX_CANDIDATES`] cut the list.
pub fn from_store(
    reader: &EventReader,
    query: &Query,
    scope: &Scope,
    tz: &TimeZone,
) -> Result<(Vec<Candidate>, bool), StoreError> {
    let cameras = match (&scope.cameras, query.cameras.is_empty()) {
        (Some(allowed), true) => Some(allowed.clone()),
        (Some(allowed), false) => Some(
            query
                .cameras
                .iter()
                .filter(|c| allowed.contains(c))
                .cloned()
                .collect(),
        ),
        (None, true) => None,
        (None, false) => Some(query.cameras.clone()),
    };
    let (from, to) = query.time.map_or((None, None), |t| {
        (Some(t.from_ms - LOOKBACK_MS), Some(t.to_ms))
    });
    let mut out = Vec::new();
    let mut cut = false;
    let mut q = EventQuery {
        cameras: cameras.clone(),
        from_ms: from,
        to_ms: to,
        kinds: (!query.kinds.is_empty()).then(|| query.kinds.clone()),
        rules: (!query.rules.is_empty()).then(|| query.rules.clone()),
        limit: 1000,
        ..Default::default()
    };
    loop {
        let page = reader.list(&q)?;
        for s in &page.events {
            if scope.biometric || !BIOMETRIC_KINDS.contains(&s.event.kind.name()) {
                out.push(Candidate::from_event(&s.event));
            }
        }
        match page.next_cursor {
            Some(c) if out.len() < MAX_CANDIDATES => q.cursor = Some(c),
            Some(_) => {
                cut = true;
                break;
            }
            None => break,
        }
    }
    let tracks_can_match = query.kinds.is_empty()
        && query.rules.is_empty()
        && query.plate.is_none()
        && query.person.is_none();
    if tracks_can_match {
        let room = MAX_CANDIDATES.saturating_sub(out.len()).max(1000);
        let tracks = reader.tracks_between(
            cameras.as_deref(),
            from.unwrap_or(i64::MIN),
            to.unwrap_or(i64::MAX),
            room,
        )?;
        cut |= tracks.len() >= room;
        let when = |ms: i64| tz.local(ms).to_string();
        out.extend(tracks.iter().map(|p| Candidate::from_track(p, when)));
    }
    Ok((out, cut))
}

/// Why an events file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// It could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The reason.
        source: std::io::Error,
    },
    /// A line is not an event message.
    #[error("{path} line {line}: not an event message: {reason}")]
    Line {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The parser's reason.
        reason: String,
    },
}

/// Candidates from an events JSON-lines file: the latest message of each event.
pub fn from_events_file(path: &Path) -> Result<Vec<Candidate>, FileError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| FileError::Io {
        path: name.clone(),
        source,
    })?;
    let mut latest: HashMap<String, Event> = HashMap::new();
    let mut order = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| FileError::Io {
            path: name.clone(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let e: Event = serde_json::from_str(&line).map_err(|err| FileError::Line {
            path: name.clone(),
            line: n + 1,
            reason: err.to_string(),
        })?;
        let id = e.id.to_string();
        match latest.get(&id) {
            Some(old) if old.last.unix_ms > e.last.unix_ms => {}
            Some(_) => {
                latest.insert(id, e);
            }
            None => {
                order.push(id.clone());
                latest.insert(id, e);
            }
        }
    }
    Ok(order
        .iter()
        .filter_map(|id| latest.get(id))
        .map(Candidate::from_event)
        .collect())
}

/// The names the candidates themselves use (cameras, zones and lines, rules, people), for a source
/// without a configuration (an events file).
pub fn vocabulary_of(candidates: &[Candidate]) -> crate::Vocabulary {
    let mut v = crate::Vocabulary::default();
    let add = |list: &mut Vec<String>, name: Option<&String>| {
        if let Some(n) = name
            && !list.contains(n)
        {
            list.push(n.clone());
        }
    };
    for c in candidates {
        add(&mut v.cameras, Some(&c.camera));
        add(&mut v.places, c.place.as_ref());
        add(&mut v.rules, c.rule.as_ref());
        add(&mut v.people, c.person.as_ref());
    }
    v
}
