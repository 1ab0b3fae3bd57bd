//! Recording event messages: the upsert of one row per event, its full-text entry, its timeline count
//! and the keep-longer mark over its footage.

use super::{COUNT_BUCKET_MS, EventWrite, KEY_SHIFT, MAX_START_MS, key_of_ms, now_ms};
use crate::StoreError;
use crate::alerts::lock;
use crate::error::db_err;
use crate::store::{Inner, Store};
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::HashMap;
use vigil_core::{Event, EventPhase};

/// Longest description stored (bytes); longer ones are refused.
const MAX_TEXT: usize = 16 * 1024;
/// Longest name (camera, rule, zone, line, class).
const MAX_NAME: usize = 256;
/// Most track ids or classes stored per event.
const MAX_LIST: usize = 1024;

/// Mark and retention settings in the units the rows use.
pub(crate) struct Timing {
    pub pre_roll_ms: i64,
    pub post_roll_ms: i64,
    pub retention_ms: i64,
}

impl Timing {
    pub(crate) fn of(inner: &Inner) -> Self {
        let ev = &inner.config.events;
        Self {
            pre_roll_ms: (ev.pre_roll_seconds * 1000.0).round() as i64,
            post_roll_ms: (ev.post_roll_seconds * 1000.0).round() as i64,
            retention_ms: {
                let configured = i64::from(ev.retention_days) * 86_400_000;
                match crate::alerts::lock(&inner.state).limits.event_days {
                    Some(max) => configured.min(i64::from(max) * 86_400_000),
                    None => configured,
                }
            },
        }
    }

    /// The footage range of an event (90 kHz wall clock) and how long it is kept in preference.
    pub(crate) fn mark(&self, start_ms: i64, end_ms: i64) -> (i64, i64, i64) {
        let start = (start_ms - self.pre_roll_ms) * 90;
        let end = ((end_ms + self.post_roll_ms) * 90).max(start + 90);
        let keep_until = (end_ms + self.retention_ms) * 90;
        (start, end, keep_until)
    }
}

fn phase_name(p: EventPhase) -> &'static str {
    match p {
        EventPhase::Start => "start",
        EventPhase::Update => "update",
        EventPhase::End => "end",
    }
}

/// Checks a message before anything is written; the error names the event and the problem.
fn validate(e: &Event) -> Result<(), StoreError> {
    let bad = |reason: String| {
        Err(StoreError::BadEvent {
            id: e.id.to_string(),
            reason,
        })
    };
    for (what, v) in [("camera", &e.camera), ("rule", &e.rule)] {
        if v.trim().is_empty() {
            return bad(format!("empty {what} name"));
        }
    }
    for (what, v) in [
        ("camera", Some(&e.camera)),
        ("rule", Some(&e.rule)),
        ("class", Some(&e.class_name)),
        ("zone", e.zone.as_ref()),
        ("line", e.line.as_ref()),
    ] {
        if v.is_some_and(|v| v.len() > MAX_NAME) {
            return bad(format!("{what} name longer than {MAX_NAME} bytes"));
        }
    }
    if e.description.len() > MAX_TEXT {
        return bad(format!(
            "description of {} bytes is longer than {MAX_TEXT}",
            e.description.len()
        ));
    }
    if e.track_ids.len() > MAX_LIST || e.objects.len() > MAX_LIST {
        return bad(format!("more than {MAX_LIST} track ids or classes"));
    }
    if !(0..MAX_START_MS).contains(&e.start.unix_ms) {
        return bad(format!(
            "start time {} ms is outside the Unix epoch range this store keeps",
            e.start.unix_ms
        ));
    }
    if e.last.unix_ms < e.start.unix_ms {
        return bad(format!(
            "last time {} ms is before the start {} ms",
            e.last.unix_ms, e.start.unix_ms
        ));
    }
    if let Some(end) = e.end
        && end.unix_ms < e.start.unix_ms
    {
        return bad(format!(
            "end time {} ms is before the start {} ms",
            end.unix_ms, e.start.unix_ms
        ));
    }
    if let Some(b) = &e.best {
        let v = [b.score, b.bbox.x1, b.bbox.y1, b.bbox.x2, b.bbox.y2];
        if v.iter().any(|x| !x.is_finite()) {
            return bad("best object has a non-finite score or box".into());
        }
    }
    Ok(())
}

impl Store {
    /// Stores one event message (Start, Update or End): inserts the event's row on its first message
    /// and updates it in place on the later ones, with its search entry, timeline count and the
    /// keep-longer mark over its footage. Commits before returning.
    pub fn record_event(&self, event: &Event) -> Result<EventWrite, StoreError> {
        let mut done = self.record_events(std::slice::from_ref(event))?;
        Ok(done.pop().unwrap_or(EventWrite::Stale))
    }

    /// Stores several event messages in one transaction (in order; several messages of one event are
    /// fine). Every message is checked first: one bad message fails the batch and nothing is written.
    pub fn record_events(&self, events: &[Event]) -> Result<Vec<EventWrite>, StoreError> {
        for e in events {
            validate(e)?;
        }
        let inner = self.inner();
        let timing = Timing::of(inner);
        let e = db_err(&inner.db_path);
        let now = now_ms();
        let mut cameras: HashMap<&str, i64> = HashMap::new();
        let mut out = Vec::with_capacity(events.len());
        {
            let mut conn = inner.events_db();
            let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
            for ev in events {
                let camera_id = match cameras.get(ev.camera.as_str()) {
                    Some(&id) => id,
                    None => {
                        let id = camera_id(&tx, &ev.camera).map_err(&e)?;
                        cameras.insert(&ev.camera, id);
                        id
                    }
                };
                out.push(upsert(&tx, ev, camera_id, &timing, now, &inner.db_path)?);
            }
            tx.commit().map_err(&e)?;
        }
        inner.events.written.notify_one();
        let mut st = lock(&inner.state);
        for (name, id) in cameras {
            st.camera_names
                .entry(id)
                .or_insert_with(|| name.to_string());
        }
        Ok(out)
    }
}

/// The id of a camera, added when new.
/// The id of camera `name`, created when new.
pub(super) fn camera_id(tx: &Transaction<'_>, name: &str) -> rusqlite::Result<i64> {
    let found = tx
        .prepare_cached("SELECT id FROM cameras WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    match found {
        Some(id) => Ok(id),
        None => {
            tx.prepare_cached("INSERT INTO cameras (name) VALUES (?1)")?
                .execute([name])?;
            Ok(tx.last_insert_rowid())
        }
    }
}

/// The stored state an upsert compares against.
struct Existing {
    id: i64,
    camera_id: i64,
    rule: String,
    kind: String,
    phase: String,
    last_ms: i64,
    mark_id: Option<i64>,
    class: String,
    objects: String,
    place: String,
    description: String,
}

/// The text columns of the search entry that can change between messages: classes, place,
/// description.
fn search_text(e: &Event) -> [String; 3] {
    let place = e
        .zone
        .clone()
        .or_else(|| e.line.clone())
        .unwrap_or_default();
    [
        classes_text(&e.class_name, &e.objects),
        place,
        e.description.clone(),
    ]
}

/// The main class, then the other classes that took part.
fn classes_text(main: &str, objects: &[vigil_core::ClassCount]) -> String {
    let mut out = main.to_string();
    for c in objects.iter().filter(|c| c.class_name != main) {
        out.push(' ');
        out.push_str(&c.class_name);
    }
    out
}

fn upsert(
    tx: &Transaction<'_>,
    ev: &Event,
    camera_id: i64,
    timing: &Timing,
    now: i64,
    db_path: &std::path::Path,
) -> Result<EventWrite, StoreError> {
    let e = db_err(db_path);
    let id_text = ev.id.to_string();
    let existing = tx
        .prepare_cached(
            "SELECT id, camera_id, rule, kind, phase, last_ms, mark_id, class, objects,
                    COALESCE(zone, line, ''), description
             FROM events WHERE event_id = ?1",
        )
        .map_err(&e)?
        .query_row([&id_text], |r| {
            Ok(Existing {
                id: r.get(0)?,
                camera_id: r.get(1)?,
                rule: r.get(2)?,
                kind: r.get(3)?,
                phase: r.get(4)?,
                last_ms: r.get(5)?,
                mark_id: r.get(6)?,
                class: r.get(7)?,
                objects: r.get(8)?,
                place: r.get(9)?,
                description: r.get(10)?,
            })
        })
        .optional()
        .map_err(&e)?;
    let json = |what: &str, r: serde_json::Result<String>| {
        r.map_err(|err| StoreError::BadEvent {
            id: id_text.clone(),
            reason: format!("{what} cannot be written as JSON: {err}"),
        })
    };
    let facts = json("facts", serde_json::to_string(&ev.kind))?;
    let objects = json("objects", serde_json::to_string(&ev.objects))?;
    let track_ids = json("track ids", serde_json::to_string(&ev.track_ids))?;
    let attributes = attributes_json(&ev.attributes).map_err(|err| StoreError::BadEvent {
        id: id_text.clone(),
        reason: format!("attributes cannot be written as JSON: {err}"),
    })?;
    let open = ev.phase != EventPhase::End;
    let end = if open {
        ev.end
    } else {
        Some(ev.end.unwrap_or(ev.last))
    };
    let end_ms = end.map_or(ev.last.unix_ms, |t| t.unix_ms.max(ev.last.unix_ms));
    let (mark_start, mark_end, keep_until) = timing.mark(ev.start.unix_ms, end_ms);
    let best = ev.best.as_ref();
    let text = search_text(ev);
    let kind = ev.kind.name();

    let row_id = match existing {
        Some(old) => {
            let refuse = |what: &str, was: &str| StoreError::BadEvent {
                id: id_text.clone(),
                reason: format!(
                    "{what} changed from {was:?}; an event id belongs to one situation"
                ),
            };
            if old.camera_id != camera_id {
                return Err(refuse("camera", "another camera"));
            }
            if old.rule != ev.rule {
                return Err(refuse("rule", &old.rule));
            }
            if old.kind != kind {
                return Err(refuse("kind", &old.kind));
            }
            if (old.phase == "end" && open) || ev.last.unix_ms < old.last_ms {
                return Ok(EventWrite::Stale);
            }
            let old_classes: Vec<vigil_core::ClassCount> =
                serde_json::from_str(&old.objects).unwrap_or_default();
            let old_text = [
                classes_text(&old.class, &old_classes),
                old.place,
                old.description,
            ];
            tx.prepare_cached(
                "UPDATE events SET class = ?2, zone = ?3, line = ?4, facts = ?5, objects = ?6,
                    track_ids = ?7, start_ms = ?8, start_media_90k = ?9, last_ms = ?10,
                    last_media_90k = ?11, end_ms = ?12, end_media_90k = ?13, phase = ?14, open = ?15,
                    interrupted = 0, best_score = ?16, best_track = ?17, best_x1 = ?18, best_y1 = ?19,
                    best_x2 = ?20, best_y2 = ?21, best_frame_w = ?22, best_frame_h = ?23,
                    best_ms = ?24, best_media_90k = ?25, description = ?26, updated_ms = ?27,
                    attributes = ?28
                 WHERE id = ?1",
            )
            .map_err(&e)?
            .execute(params![
                old.id,
                ev.class_name,
                ev.zone,
                ev.line,
                facts,
                objects,
                track_ids,
                ev.start.unix_ms,
                ev.start.media.0,
                ev.last.unix_ms,
                ev.last.media.0,
                end.map(|t| t.unix_ms),
                end.map(|t| t.media.0),
                phase_name(ev.phase),
                open,
                best.map(|b| f64::from(b.score)),
                best.map(|b| b.track_id as i64),
                best.map(|b| f64::from(b.bbox.x1)),
                best.map(|b| f64::from(b.bbox.y1)),
                best.map(|b| f64::from(b.bbox.x2)),
                best.map(|b| f64::from(b.bbox.y2)),
                best.map(|b| b.frame_w),
                best.map(|b| b.frame_h),
                best.map(|b| b.time.unix_ms),
                best.map(|b| b.time.media.0),
                ev.description,
                now,
                attributes,
            ])
            .map_err(&e)?;
            if old_text != text {
                tx.prepare_cached("DELETE FROM events_fts WHERE rowid = ?1")
                    .map_err(&e)?
                    .execute([old.id])
                    .map_err(&e)?;
                insert_search(tx, old.id, ev, &text).map_err(&e)?;
            }
            if let Some(mark) = old.mark_id {
                tx.prepare_cached(
                    "UPDATE marks SET start_90k = ?2, end_90k = ?3, keep_until_90k = ?4
                     WHERE id = ?1 AND kind = 'event'",
                )
                .map_err(&e)?
                .execute(params![mark, mark_start, mark_end, keep_until])
                .map_err(&e)?;
            }
            return Ok(EventWrite::Updated);
        }
        None => {
            let base = key_of_ms(ev.start.unix_ms);
            let top: Option<i64> = tx
                .prepare_cached("SELECT MAX(id) FROM events WHERE id >= ?1 AND id < ?2")
                .map_err(&e)?
                .query_row(params![base, base + (1 << KEY_SHIFT)], |r| r.get(0))
                .map_err(&e)?;
            match top {
                None => base,
                Some(t) if t + 1 < base + (1 << KEY_SHIFT) => t + 1,
                Some(_) => {
                    return Err(StoreError::BadEvent {
                        id: id_text,
                        reason: format!(
                            "more than {} events start in the same millisecond",
                            1 << KEY_SHIFT
                        ),
                    });
                }
            }
        }
    };
    tx.prepare_cached(
        "INSERT INTO marks (camera_id, start_90k, end_90k, kind, keep_until_90k, note, created_90k)
         VALUES (?1, ?2, ?3, 'event', ?4, ?5, ?6)",
    )
    .map_err(&e)?
    .execute(params![
        camera_id,
        mark_start,
        mark_end,
        keep_until,
        id_text,
        now * 90
    ])
    .map_err(&e)?;
    let mark_id = tx.last_insert_rowid();
    tx.prepare_cached(
        "INSERT INTO events (id, event_id, camera_id, rule, kind, class, zone, line, facts, objects,
            track_ids, start_ms, start_media_90k, last_ms, last_media_90k, end_ms, end_media_90k,
            phase, open, best_score, best_track, best_x1, best_y1, best_x2, best_y2, best_frame_w,
            best_frame_h, best_ms, best_media_90k, description, mark_id, updated_ms, attributes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
            ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33)",
    )
    .map_err(&e)?
    .execute(params![
        row_id,
        id_text,
        camera_id,
        ev.rule,
        kind,
        ev.class_name,
        ev.zone,
        ev.line,
        facts,
        objects,
        track_ids,
        ev.start.unix_ms,
        ev.start.media.0,
        ev.last.unix_ms,
        ev.last.media.0,
        end.map(|t| t.unix_ms),
        end.map(|t| t.media.0),
        phase_name(ev.phase),
        open,
        best.map(|b| f64::from(b.score)),
        best.map(|b| b.track_id as i64),
        best.map(|b| f64::from(b.bbox.x1)),
        best.map(|b| f64::from(b.bbox.y1)),
        best.map(|b| f64::from(b.bbox.x2)),
        best.map(|b| f64::from(b.bbox.y2)),
        best.map(|b| b.frame_w),
        best.map(|b| b.frame_h),
        best.map(|b| b.time.unix_ms),
        best.map(|b| b.time.media.0),
        ev.description,
        mark_id,
        now,
        attributes,
    ])
    .map_err(&e)?;
    insert_search(tx, row_id, ev, &text).map_err(&e)?;
    tx.prepare_cached(
        "INSERT INTO event_counts (bucket, camera_id, kind, count) VALUES (?1, ?2, ?3, 1)
         ON CONFLICT (bucket, camera_id, kind) DO UPDATE SET count = count + 1",
    )
    .map_err(&e)?
    .execute(params![
        ev.start.unix_ms.div_euclid(COUNT_BUCKET_MS),
        camera_id,
        kind
    ])
    .map_err(&e)?;
    Ok(EventWrite::Inserted)
}

fn insert_search(
    tx: &Transaction<'_>,
    row_id: i64,
    ev: &Event,
    text: &[String; 3],
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO events_fts (rowid, camera, rule, kind, class, place, description)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        row_id,
        ev.camera,
        ev.rule,
        ev.kind.name(),
        text[0],
        text[1],
        text[2]
    ])?;
    Ok(())
}

/// Closes the events a previous process left open (it stopped before their End message): ended at
/// their last time, flagged interrupted, their marks finalized. Returns how many.
pub(crate) fn close_interrupted(inner: &Inner) -> Result<usize, StoreError> {
    let e = db_err(&inner.db_path);
    let timing = Timing::of(inner);
    let mut conn = inner.db();
    let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
    let open: Vec<(i64, i64, i64, Option<i64>)> = tx
        .prepare("SELECT id, start_ms, last_ms, mark_id FROM events WHERE open = 1")
        .map_err(&e)?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .map_err(&e)?
        .collect::<Result<_, _>>()
        .map_err(&e)?;
    for &(id, start_ms, last_ms, mark_id) in &open {
        tx.execute(
            "UPDATE events SET open = 0, interrupted = 1, phase = 'end', end_ms = last_ms,
                end_media_90k = last_media_90k WHERE id = ?1",
            [id],
        )
        .map_err(&e)?;
        if let Some(mark) = mark_id {
            let (s, end, keep) = timing.mark(start_ms, last_ms);
            tx.execute(
                "UPDATE marks SET start_90k = ?2, end_90k = ?3, keep_until_90k = ?4
                 WHERE id = ?1 AND kind = 'event'",
                params![mark, s, end, keep],
            )
            .map_err(&e)?;
        }
    }
    tx.commit().map_err(&e)?;
    Ok(open.len())
}

/// An object's attributes as stored: JSON, or NULL when nothing is known.
pub(crate) fn attributes_json(a: &vigil_core::Attributes) -> serde_json::Result<Option<String>> {
    if a.is_empty() {
        Ok(None)
    } else {
        serde_json::to_string(a).map(Some)
    }
}

/// An object's attributes as read back; what does not parse (written by a newer version) is left out.
pub(crate) fn attributes_of(text: Option<String>) -> vigil_core::Attributes {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}
