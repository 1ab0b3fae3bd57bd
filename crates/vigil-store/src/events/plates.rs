//! Plate search over the stored `plate_read` events: exact, prefix or one-edit fuzzy, compared on the
//! plates' canonical forms (`vigil_identity::plates`), newest first.

use super::{EventQuery, EventReader, StoredEvent};
use crate::StoreError;
use serde::Serialize;
use vigil_core::EventKind;
use vigil_identity::PlateMatch;

/// What a plate search found.
#[derive(Debug, Clone, Serialize)]
pub struct PlateSearch {
    /// The matching events, newest first.
    pub events: Vec<StoredEvent>,
    /// Plate events looked at.
    pub scanned: usize,
    /// Whether every plate event in scope was looked at (`false`: `max_scan` was reached first, or
    /// `limit` matches were found; older ones may match too).
    pub complete: bool,
}

/// What to search.
#[derive(Debug, Clone)]
pub struct PlateQuery {
    /// The plate, or its beginning (any spelling: separators and case do not matter).
    pub plate: String,
    /// How plates are compared.
    pub how: PlateMatch,
    /// Only these cameras (`None`: all).
    pub cameras: Option<Vec<String>>,
    /// Start at or after (unix ms).
    pub from_ms: Option<i64>,
    /// Start before (unix ms).
    pub to_ms: Option<i64>,
    /// Matches returned at most.
    pub limit: usize,
    /// Plate events looked at at most.
    pub max_scan: usize,
}

impl EventReader {
    /// The `plate_read` events whose plate answers `q`, newest first.
    pub fn search_plates(&self, q: &PlateQuery) -> Result<PlateSearch, StoreError> {
        let mut out = PlateSearch {
            events: Vec::new(),
            scanned: 0,
            complete: true,
        };
        let mut page = EventQuery {
            cameras: q.cameras.clone(),
            from_ms: q.from_ms,
            to_ms: q.to_ms,
            kinds: Some(vec!["plate_read".to_string()]),
            limit: 500,
            ..EventQuery::default()
        };
        loop {
            let got = self.list(&page)?;
            for e in got.events {
                out.scanned += 1;
                if let EventKind::PlateRead { plate, .. } = &e.event.kind
                    && vigil_identity::plates::matches(&q.plate, plate, q.how)
                {
                    out.events.push(e);
                    if out.events.len() >= q.limit {
                        out.complete = false;
                        return Ok(out);
                    }
                }
                if out.scanned >= q.max_scan {
                    out.complete = false;
                    return Ok(out);
                }
            }
            match got.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }
}
