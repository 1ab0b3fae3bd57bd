//! People's appearances (a person track and its mean re-identification embedding, from the analysis) and
//! "where else was this person?": the appearances on every camera within a time window most alike a given
//! event's person, best first. Kept as long as the events (event retention deletes them with the events'
//! age; an erasure of a camera's range deletes them with its events).

use super::{EventQuery, EventReader};
use crate::error::db_err;
use crate::{Store, StoreError};
use rusqlite::params;
use serde::Serialize;
use vigil_core::{Appearance, EventId, embedding};
use vigil_identity::transit::{CameraLinks, Span, Transit};

/// How much a person's appearance may start before or end after an event to be taken as that event's.
const SLACK_MS: i64 = 2_000;

/// Cosine of two appearances; -1 (nothing alike) when they come from different models (lengths).
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return -1.0;
    }
    embedding::cosine(a, b)
}

impl Store {
    /// Stores appearances (one transaction).
    pub fn record_appearances(&self, appearances: &[Appearance]) -> Result<(), StoreError> {
        if appearances.is_empty() {
            return Ok(());
        }
        let inner = self.inner();
        let e = db_err(&inner.db_path);
        let mut conn = inner.events_db();
        let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
        for a in appearances {
            if a.last_ms < a.first_ms || a.embedding.is_empty() {
                return Err(StoreError::BadQuery(format!(
                    "appearance of track {} on {}: empty or ending before it starts",
                    a.track, a.camera
                )));
            }
            let camera_id = super::write::camera_id(&tx, &a.camera).map_err(&e)?;
            tx.prepare_cached(
                "INSERT INTO appearances (camera_id, track, first_ms, last_ms, embedding)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    camera_id,
                    a.track as i64,
                    a.first_ms,
                    a.last_ms,
                    embedding::to_bytes(&a.embedding)
                ])
            })
            .map_err(&e)?;
        }
        tx.commit().map_err(&e)
    }
}

/// One sighting of a person elsewhere (or later on the same camera).
#[derive(Debug, Clone, Serialize)]
pub struct Sighting {
    /// Camera.
    pub camera: String,
    /// The person's track there.
    pub track: u64,
    /// First seen (unix ms).
    pub first_ms: i64,
    /// Last seen (unix ms).
    pub last_ms: i64,
    /// Cosine similarity of the appearances (0..1; the higher the likelier the same person).
    pub similarity: f32,
    /// How the time between the two appearances fits the camera links (`[[links.camera]]`).
    pub transit: Transit,
    /// What the sightings are ranked by: the similarity adjusted by the transit
    /// ([`Transit::adjustment`]); the similarity itself when no link is configured.
    pub score: f32,
    /// Events of that track then, newest first.
    pub events: Vec<String>,
}

/// A "where else" question.
#[derive(Debug, Clone)]
pub struct ElsewhereQuery {
    /// The event whose person is looked for.
    pub event: EventId,
    /// How far before the event's start and after its end to look (ms).
    pub window_ms: i64,
    /// Only these cameras (`None`: all).
    pub cameras: Option<Vec<String>>,
    /// Sightings at least this alike.
    pub min_similarity: f32,
    /// Sightings returned at most.
    pub limit: usize,
    /// The camera links that re-rank sightings by how their timing fits (empty: by similarity alone).
    pub links: CameraLinks,
}

impl EventReader {
    /// The people's appearances of event `id` (its camera, its tracks, overlapping its time).
    pub fn appearances_of(&self, id: EventId) -> Result<Vec<Appearance>, StoreError> {
        let e = db_err(&self.db_path);
        let ev = self.get(id)?.event;
        let end = ev.end.map_or(ev.last.unix_ms, |t| t.unix_ms);
        let mut out = Vec::new();
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT a.track, a.first_ms, a.last_ms, a.embedding
                 FROM appearances a JOIN cameras c ON c.id = a.camera_id
                 WHERE c.name = ?1 AND a.track = ?2 AND a.first_ms <= ?4 AND a.last_ms >= ?3",
            )
            .map_err(&e)?;
        for track in &ev.track_ids {
            let rows = q
                .query_map(
                    params![
                        ev.camera,
                        *track as i64,
                        ev.start.unix_ms - SLACK_MS,
                        end + SLACK_MS
                    ],
                    |r| {
                        Ok(Appearance {
                            camera: ev.camera.clone(),
                            track: r.get::<_, i64>(0)? as u64,
                            first_ms: r.get(1)?,
                            last_ms: r.get(2)?,
                            embedding: embedding::from_bytes(&r.get::<_, Vec<u8>>(3)?),
                        })
                    },
                )
                .map_err(&e)?;
            for a in rows {
                out.push(a.map_err(&e)?);
            }
        }
        Ok(out)
    }

    /// Where else the person of event `q.event` was seen: appearances on every camera (`q.cameras`)
    /// overlapping the window around it, other than the event's own, at least `q.min_similarity` alike
    /// the event's person (the best of its appearances), best first. Empty when the analysis kept no
    /// appearance for the event (not a person, or re-identification off).
    pub fn seen_elsewhere(&self, q: &ElsewhereQuery) -> Result<Vec<Sighting>, StoreError> {
        let e = db_err(&self.db_path);
        let own = self.appearances_of(q.event)?;
        if own.is_empty() {
            return Ok(Vec::new());
        }
        let ev = self.get(q.event)?.event;
        let end = ev.end.map_or(ev.last.unix_ms, |t| t.unix_ms);
        let (lo, hi) = (ev.start.unix_ms - q.window_ms, end + q.window_ms);
        let rows: Vec<(String, i64, i64, i64, Vec<u8>)> = self
            .conn
            .prepare_cached(
                "SELECT c.name, a.track, a.first_ms, a.last_ms, a.embedding
                 FROM appearances a JOIN cameras c ON c.id = a.camera_id
                 WHERE a.first_ms <= ?2 AND a.last_ms >= ?1",
            )
            .and_then(|mut st| {
                st.query_map(params![lo, hi], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .map_err(&e)?;
        let mut found: Vec<Sighting> = rows
            .into_iter()
            .filter(|(camera, track, first, last, _)| {
                !own.iter().any(|o| {
                    o.camera == *camera
                        && o.track == *track as u64
                        && o.first_ms == *first
                        && o.last_ms == *last
                })
            })
            .filter(|(camera, ..)| q.cameras.as_ref().is_none_or(|c| c.contains(camera)))
            .filter_map(|(camera, track, first_ms, last_ms, blob)| {
                let emb = embedding::from_bytes(&blob);
                let (similarity, best) = own
                    .iter()
                    .map(|o| (cosine(&o.embedding, &emb), o))
                    .max_by(|a, b| a.0.total_cmp(&b.0))?;
                let transit = q.links.judge(
                    Span {
                        camera: &best.camera,
                        first_ms: best.first_ms,
                        last_ms: best.last_ms,
                    },
                    Span {
                        camera: &camera,
                        first_ms,
                        last_ms,
                    },
                );
                let round = |v: f32| (v * 1000.0).round() / 1000.0;
                (similarity >= q.min_similarity).then(|| Sighting {
                    similarity: round(similarity),
                    score: round(similarity + transit.adjustment()),
                    transit,
                    camera,
                    track: track as u64,
                    first_ms,
                    last_ms,
                    events: Vec::new(),
                })
            })
            .collect();
        found.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.similarity.total_cmp(&a.similarity))
        });
        found.truncate(q.limit);
        for s in &mut found {
            let page = self.list(&EventQuery {
                cameras: Some(vec![s.camera.clone()]),
                from_ms: Some(s.first_ms - SLACK_MS - 86_400_000),
                to_ms: Some(s.last_ms + SLACK_MS),
                limit: 100,
                ..EventQuery::default()
            })?;
            s.events = page
                .events
                .iter()
                .filter(|x| {
                    x.event.track_ids.contains(&s.track)
                        && x.event.end.map_or(x.event.last.unix_ms, |t| t.unix_ms)
                            >= s.first_ms - SLACK_MS
                })
                .map(|x| x.event.id.to_string())
                .collect();
        }
        Ok(found)
    }
}

/// A stored appearance and its row id (for the search index's "more like this").
#[derive(Debug, Clone)]
pub struct StoredAppearance {
    /// Row id: increases with every appearance stored.
    pub id: i64,
    /// The appearance.
    pub appearance: Appearance,
}

impl EventReader {
    /// Appearances stored after row `after_id`, oldest first, at most `limit` (to build and refresh an
    /// index incrementally).
    pub fn appearances_after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<StoredAppearance>, StoreError> {
        self.appearances_where(
            "a.id > ?1 ORDER BY a.id LIMIT ?2",
            params![after_id, limit as i64],
        )
    }

    /// The appearance stored in row `id`, if it is still there.
    pub fn appearance(&self, id: i64) -> Result<Option<StoredAppearance>, StoreError> {
        Ok(self
            .appearances_where("a.id = ?1 AND ?2 > 0", params![id, 1])?
            .pop())
    }

    fn appearances_where(
        &self,
        clause: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<StoredAppearance>, StoreError> {
        let e = db_err(&self.db_path);
        let sql = format!(
            "SELECT a.id, c.name, a.track, a.first_ms, a.last_ms, a.embedding
             FROM appearances a JOIN cameras c ON c.id = a.camera_id WHERE {clause}"
        );
        let mut q = self.conn.prepare_cached(&sql).map_err(&e)?;
        let rows = q
            .query_map(args, |r| {
                Ok(StoredAppearance {
                    id: r.get(0)?,
                    appearance: Appearance {
                        camera: r.get(1)?,
                        track: r.get::<_, i64>(2)? as u64,
                        first_ms: r.get(3)?,
                        last_ms: r.get(4)?,
                        embedding: embedding::from_bytes(&r.get::<_, Vec<u8>>(5)?),
                    },
                })
            })
            .map_err(&e)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(&e)
    }
}
