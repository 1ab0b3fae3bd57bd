//! Object paths and the lifecycle of an event's object: the path it took across the picture (stored when
//! its track ended) and every event of that track on that camera in order (zone entered and left, lines
//! crossed, loitering...). Kept as long as the events (event retention and erasures delete them too).

use super::{EventQuery, EventReader, StoredEvent};
use crate::error::db_err;
use crate::{Store, StoreError};
use rusqlite::params;
use serde::Serialize;
use std::sync::Arc;
use vigil_core::{EventId, PathPoint, TrackPath};

/// How far around an event's time its object's path and other events are looked for.
const AROUND_MS: i64 = 10 * 60_000;

/// An event's object from its first sighting to its last.
#[derive(Debug, Clone, Serialize)]
pub struct Lifecycle {
    /// The paths of the event's tracks (one per track; several when the tracker lost and found it).
    pub paths: Vec<TrackPath>,
    /// Every event of those tracks on the camera, oldest first (the event itself among them).
    pub events: Vec<StoredEvent>,
}

impl Store {
    /// Stores object paths (one transaction).
    pub fn record_paths(&self, paths: &[Arc<TrackPath>]) -> Result<(), StoreError> {
        if paths.is_empty() {
            return Ok(());
        }
        let inner = self.inner();
        let e = db_err(&inner.db_path);
        let mut conn = inner.events_db();
        let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
        for p in paths {
            if p.last_ms < p.first_ms || p.points.is_empty() {
                return Err(StoreError::BadQuery(format!(
                    "path of track {} on {}: empty or ending before it starts",
                    p.track, p.camera
                )));
            }
            let points: Vec<(i64, f32, f32, f32, f32)> = p
                .points
                .iter()
                .map(|q| (q.ms, q.x, q.y, q.w, q.h))
                .collect();
            let points = serde_json::to_string(&points)
                .map_err(|err| StoreError::BadQuery(format!("path points: {err}")))?;
            let attributes = super::write::attributes_json(&p.attributes)
                .map_err(|err| StoreError::BadQuery(format!("path attributes: {err}")))?;
            let camera_id = super::write::camera_id(&tx, &p.camera).map_err(&e)?;
            tx.prepare_cached(
                "INSERT INTO track_paths (camera_id, track, class, first_ms, last_ms, points,
                    attributes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    camera_id,
                    p.track as i64,
                    p.class,
                    p.first_ms,
                    p.last_ms,
                    points,
                    attributes
                ])
            })
            .map_err(&e)?;
        }
        tx.commit().map_err(&e)
    }
}

impl EventReader {
    /// The lifecycle of event `id`'s object(s): their paths and every event they took part in on the
    /// camera, in order.
    pub fn lifecycle(&self, id: EventId) -> Result<Lifecycle, StoreError> {
        let e = db_err(&self.db_path);
        let ev = self.get(id)?.event;
        let end = ev.end.map_or(ev.last.unix_ms, |t| t.unix_ms);
        let mut paths = Vec::new();
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT p.track, p.class, p.first_ms, p.last_ms, p.points, p.attributes
                 FROM track_paths p JOIN cameras c ON c.id = p.camera_id
                 WHERE c.name = ?1 AND p.track = ?2 AND p.first_ms <= ?4 AND p.last_ms >= ?3",
            )
            .map_err(&e)?;
        for track in &ev.track_ids {
            let rows = q
                .query_map(
                    params![
                        ev.camera,
                        *track as i64,
                        ev.start.unix_ms - AROUND_MS,
                        end + AROUND_MS
                    ],
                    |r| {
                        let points: String = r.get(4)?;
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            points,
                            r.get::<_, Option<String>>(5)?,
                        ))
                    },
                )
                .map_err(&e)?;
            for row in rows {
                let (track, class, first_ms, last_ms, points, attributes) = row.map_err(&e)?;
                let points = parse_points(&points);
                paths.push(TrackPath {
                    attributes: super::write::attributes_of(attributes),
                    camera: ev.camera.clone(),
                    track: track as u64,
                    class,
                    first_ms,
                    last_ms,
                    points,
                });
            }
        }
        paths.sort_by_key(|p| p.first_ms);
        // The window the object was seen in (the event's own, without a stored path).
        let from = paths
            .iter()
            .map(|p| p.first_ms)
            .min()
            .unwrap_or(ev.start.unix_ms)
            .min(ev.start.unix_ms);
        let to = paths
            .iter()
            .map(|p| p.last_ms)
            .max()
            .unwrap_or(end)
            .max(end);
        let page = self.list(&EventQuery {
            cameras: Some(vec![ev.camera.clone()]),
            from_ms: Some(from - AROUND_MS),
            to_ms: Some(to + 1),
            limit: 500,
            ..EventQuery::default()
        })?;
        let mut events: Vec<StoredEvent> = page
            .events
            .into_iter()
            .filter(|s| {
                let (a, b) = (
                    s.event.start.unix_ms,
                    s.event.end.map_or(s.event.last.unix_ms, |t| t.unix_ms),
                );
                b >= from && a <= to && s.event.track_ids.iter().any(|t| ev.track_ids.contains(t))
            })
            .collect();
        events.sort_by_key(|s| s.event.start.unix_ms);
        Ok(Lifecycle { paths, events })
    }
}

/// A stored path's points: `[[ms, x, y, w, h], ...]`.
fn parse_points(text: &str) -> Vec<PathPoint> {
    let rows: Vec<(i64, f32, f32, f32, f32)> = serde_json::from_str(text).unwrap_or_default();
    rows.into_iter()
        .map(|(ms, x, y, w, h)| PathPoint { ms, x, y, w, h })
        .collect()
}

impl EventReader {
    /// The paths of `camera` with points between `from_ms` and `to_ms` (for drawing boxes over
    /// playback), each cut to that range; at most `limit` paths, oldest first.
    pub fn paths_between(
        &self,
        camera: &str,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<TrackPath>, StoreError> {
        let e = db_err(&self.db_path);
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT p.track, p.class, p.first_ms, p.last_ms, p.points, p.attributes
                 FROM track_paths p JOIN cameras c ON c.id = p.camera_id
                 WHERE c.name = ?1 AND p.last_ms >= ?2 AND p.first_ms <= ?3
                 ORDER BY p.first_ms LIMIT ?4",
            )
            .map_err(&e)?;
        let rows = q
            .query_map(params![camera, from_ms, to_ms, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })
            .map_err(&e)?;
        let mut out = Vec::new();
        for row in rows {
            let (track, class, first_ms, last_ms, points, attributes) = row.map_err(&e)?;
            // One point either side of the range, so a box can be placed at its ends.
            let all = parse_points(&points);
            let lo = all.iter().rposition(|p| p.ms <= from_ms).unwrap_or(0);
            let hi = all
                .iter()
                .position(|p| p.ms >= to_ms)
                .unwrap_or(all.len().saturating_sub(1));
            out.push(TrackPath {
                attributes: super::write::attributes_of(attributes),
                camera: camera.to_string(),
                track: track as u64,
                class,
                first_ms,
                last_ms,
                points: all
                    .get(lo..=hi)
                    .map(<[PathPoint]>::to_vec)
                    .unwrap_or_default(),
            });
        }
        Ok(out)
    }
}

impl EventReader {
    /// The tracks seen between `from_ms` and `to_ms` on `cameras` (every camera when `None`), newest
    /// first, at most `limit`, without their points (for search: class, times and attributes).
    pub fn tracks_between(
        &self,
        cameras: Option<&[String]>,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<TrackPath>, StoreError> {
        let e = db_err(&self.db_path);
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT c.name, p.track, p.class, p.first_ms, p.last_ms, p.attributes
                 FROM track_paths p JOIN cameras c ON c.id = p.camera_id
                 WHERE p.last_ms >= ?1 AND p.first_ms < ?2 AND (?4 IS NULL OR c.name = ?4)
                 ORDER BY p.last_ms DESC LIMIT ?3",
            )
            .map_err(&e)?;
        let each: Vec<Option<&str>> = match cameras {
            Some(cs) => cs.iter().map(|c| Some(c.as_str())).collect(),
            None => vec![None],
        };
        let mut out = Vec::new();
        for camera in each {
            let rows = q
                .query_map(params![from_ms, to_ms, limit as i64, camera], |r| {
                    Ok(TrackPath {
                        camera: r.get(0)?,
                        track: r.get::<_, i64>(1)? as u64,
                        class: r.get(2)?,
                        first_ms: r.get(3)?,
                        last_ms: r.get(4)?,
                        points: Vec::new(),
                        attributes: super::write::attributes_of(r.get(5)?),
                    })
                })
                .map_err(&e)?;
            for row in rows {
                out.push(row.map_err(&e)?);
            }
        }
        out.sort_by_key(|p| std::cmp::Reverse(p.last_ms));
        out.truncate(limit);
        Ok(out)
    }
}
