//! Reading events: filtered, searchable, keyset-paginated lists, single events, snapshots and timeline
//! histograms, from a read-only connection that recording never blocks (WAL). How a list query scans
//! is decided in `plan.rs`.

use super::plan::{Filters, choose_driver, distinct, fts_query, plan};
use super::snapshot::{SnapshotKind, file_name, read_checked};
use super::{
    COUNT_BUCKET_MS, EventPage, EventQuery, KEY_SHIFT, SnapshotInfo, StoredEvent, key_of_ms,
};
use crate::StoreError;
use crate::error::db_err;
use crate::store::Store;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params_from_iter};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use vigil_core::{
    BBox, BestObject, ClassCount, Event, EventId, EventKind, EventPhase, EventTime, Time90k,
};

/// Default page size.
const DEFAULT_LIMIT: usize = 50;
/// Largest page.
const MAX_LIMIT: usize = 1000;
/// Most buckets in a histogram.
const MAX_BUCKETS: i64 = 100_000;

/// Read-only access to the events (its own SQLite connection; safe while the store writes). Open one
/// per thread or request handler; it is `Send`, not `Sync`.
pub struct EventReader {
    pub(super) conn: Connection,
    pub(super) db_path: PathBuf,
    snapshot_dir: PathBuf,
    /// Opens encrypted snapshots.
    cipher: Option<std::sync::Arc<crate::crypt::SnapshotCipher>>,
}

/// Events in one time bucket of one camera and kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistogramBin {
    /// Bucket start (unix ms).
    pub start_ms: i64,
    /// Camera name.
    pub camera: String,
    /// Kind name.
    pub kind: String,
    /// Events that started in the bucket.
    pub count: u64,
}

/// The columns every event read selects, in the order [`decode`] reads them.
pub(crate) const COLUMNS: &str =
    "e.id, e.event_id, c.name, e.rule, e.kind, e.class, e.zone, e.line, e.facts,
    e.objects, e.track_ids, e.start_ms, e.start_media_90k, e.last_ms, e.last_media_90k, e.end_ms,
    e.end_media_90k, e.phase, e.open, e.interrupted, e.best_score, e.best_track, e.best_x1,
    e.best_y1, e.best_x2, e.best_y2, e.best_frame_w, e.best_frame_h, e.best_ms, e.best_media_90k,
    e.description, e.snapshot_full_bytes, e.snapshot_crop_bytes, e.snapshot_ms, e.updated_ms,
    e.attributes";

/// A row as read, before its JSON columns are parsed.
pub(super) struct RawEvent {
    key: i64,
    id_text: String,
    camera: String,
    rule: String,
    class: String,
    zone: Option<String>,
    line: Option<String>,
    facts: String,
    objects: String,
    track_ids: String,
    start: EventTime,
    last: EventTime,
    end: Option<EventTime>,
    phase: String,
    open: bool,
    interrupted: bool,
    best: Option<BestObject>,
    description: String,
    snapshot: Option<SnapshotInfo>,
    updated_ms: i64,
    attributes: Option<String>,
}

fn time(ms: i64, media: i64) -> EventTime {
    EventTime {
        unix_ms: ms,
        media: Time90k(media),
    }
}

pub(super) fn raw(r: &Row<'_>) -> rusqlite::Result<RawEvent> {
    let best = match r.get::<_, Option<f64>>(20)? {
        Some(score) => Some(BestObject {
            track_id: r.get::<_, i64>(21)? as u64,
            score: score as f32,
            bbox: BBox::new(
                r.get::<_, f64>(22)? as f32,
                r.get::<_, f64>(23)? as f32,
                r.get::<_, f64>(24)? as f32,
                r.get::<_, f64>(25)? as f32,
            ),
            frame_w: r.get(26)?,
            frame_h: r.get(27)?,
            time: time(r.get(28)?, r.get(29)?),
        }),
        None => None,
    };
    let end = match r.get::<_, Option<i64>>(15)? {
        Some(ms) => Some(time(ms, r.get::<_, Option<i64>>(16)?.unwrap_or(0))),
        None => None,
    };
    let snapshot = match r.get::<_, Option<i64>>(31)? {
        Some(full) => Some(SnapshotInfo {
            full_bytes: full as u64,
            crop_bytes: r.get::<_, Option<i64>>(32)?.map(|b| b as u64),
            saved_ms: r.get::<_, Option<i64>>(33)?.unwrap_or(0),
        }),
        None => None,
    };
    Ok(RawEvent {
        key: r.get(0)?,
        id_text: r.get(1)?,
        camera: r.get(2)?,
        rule: r.get(3)?,
        class: r.get(5)?,
        zone: r.get(6)?,
        line: r.get(7)?,
        facts: r.get(8)?,
        objects: r.get(9)?,
        track_ids: r.get(10)?,
        start: time(r.get(11)?, r.get(12)?),
        last: time(r.get(13)?, r.get(14)?),
        end,
        phase: r.get(17)?,
        open: r.get(18)?,
        interrupted: r.get(19)?,
        best,
        description: r.get(30)?,
        snapshot,
        updated_ms: r.get(34)?,
        attributes: r.get(35)?,
    })
}

/// Turns a row into an event; a row whose stored JSON does not parse is reported, not skipped.
pub(super) fn decode(r: RawEvent) -> Result<StoredEvent, StoreError> {
    let bad = |what: &str, err: String| StoreError::BadEvent {
        id: r.id_text.clone(),
        reason: format!("stored {what} do not parse: {err}"),
    };
    let id: EventId = r
        .id_text
        .parse()
        .map_err(|err: vigil_core::event::EventIdError| bad("id", err.to_string()))?;
    let kind: EventKind =
        serde_json::from_str(&r.facts).map_err(|err| bad("facts", err.to_string()))?;
    let objects: Vec<ClassCount> =
        serde_json::from_str(&r.objects).map_err(|err| bad("objects", err.to_string()))?;
    let track_ids: Vec<u64> =
        serde_json::from_str(&r.track_ids).map_err(|err| bad("track ids", err.to_string()))?;
    let phase = match r.phase.as_str() {
        "start" => EventPhase::Start,
        "update" => EventPhase::Update,
        "end" => EventPhase::End,
        other => return Err(bad("phase", format!("unknown phase {other:?}"))),
    };
    Ok(StoredEvent {
        event: Event {
            attributes: super::write::attributes_of(r.attributes),
            id,
            camera: r.camera,
            rule: r.rule,
            kind,
            phase,
            class_name: r.class,
            objects,
            track_ids,
            zone: r.zone,
            line: r.line,
            start: r.start,
            last: r.last,
            end: r.end,
            best: r.best,
            description: r.description,
        },
        open: r.open,
        interrupted: r.interrupted,
        snapshot: r.snapshot,
        updated_ms: r.updated_ms,
    })
}

/// The opaque cursor text of a row id, and back. The `c` in front keeps a number that is not a cursor
/// (a timestamp passed where a cursor belongs) from being read as one.
fn cursor_text(key: i64) -> String {
    format!("c{key:x}")
}

fn parse_cursor(text: &str) -> Result<i64, StoreError> {
    text.strip_prefix('c')
        .and_then(|hex| i64::from_str_radix(hex, 16).ok())
        .filter(|k| *k >= 0)
        .ok_or_else(|| {
            StoreError::BadQuery(format!(
                "cursor {text:?} is not one this store handed out (pass next_cursor back as is)"
            ))
        })
}

impl EventReader {
    /// Opens the index read-only.
    pub fn open(db: &Path) -> Result<EventReader, StoreError> {
        let conn = crate::schema::open_ro(db)?;
        conn.set_prepared_statement_cache_capacity(64);
        let dir: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'event_snapshot_dir'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(db_err(db))?;
        let snapshot_dir = match dir {
            Some(d) => PathBuf::from(d),
            None => db
                .parent()
                .map_or_else(|| PathBuf::from("snapshots"), |p| p.join("snapshots")),
        };
        Ok(EventReader {
            conn,
            db_path: db.to_path_buf(),
            snapshot_dir,
            cipher: None,
        })
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// The directory holding snapshot files.
    pub fn snapshot_dir(&self) -> &Path {
        &self.snapshot_dir
    }

    pub(super) fn e(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        db_err(&self.db_path)
    }

    /// One page of events matching `q`, newest first (by the start their first message reported),
    /// with a cursor for the next page. Pages stay complete and free of duplicates while events are
    /// recorded: the cursor is a position in the order, not an offset.
    pub fn list(&self, q: &EventQuery) -> Result<EventPage, StoreError> {
        let limit = match q.limit {
            0 => DEFAULT_LIMIT,
            n if n > MAX_LIMIT => {
                return Err(StoreError::BadQuery(format!(
                    "limit {n} is more than {MAX_LIMIT}"
                )));
            }
            n => n,
        };
        let empty = EventPage {
            events: Vec::new(),
            next_cursor: None,
        };
        let mut hi = q.to_ms.map_or(i64::MAX, key_of_ms);
        if let Some(c) = &q.cursor {
            hi = hi.min(parse_cursor(c)?);
        }
        let lo = q.from_ms.map_or(0, key_of_ms);
        if lo >= hi {
            return Ok(empty);
        }
        let cameras = match &q.cameras {
            None => None,
            Some(names) => Some(self.camera_ids(names)?),
        };
        let text = q
            .text
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .map(fts_query)
            .transpose()?;
        let f = Filters {
            cameras,
            kinds: distinct(&q.kinds),
            classes: distinct(&q.classes),
            rules: distinct(&q.rules),
            zone: q.zone.clone(),
            open_only: q.open_only,
            text,
        };
        if f.matches_nothing() {
            return Ok(empty);
        }
        let driver = choose_driver(&f);
        let (sql, args) = plan(&f, &driver, lo, hi, limit + 1);
        let e = self.e();
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&e)?;
        let rows: Vec<RawEvent> = stmt
            .query_map(params_from_iter(args), raw)
            .map_err(&e)?
            .collect::<Result<_, _>>()
            .map_err(&e)?;
        let more = rows.len() > limit;
        let mut events = Vec::with_capacity(limit.min(rows.len()));
        let mut last_key = None;
        for r in rows.into_iter().take(limit) {
            last_key = Some(r.key);
            events.push(decode(r)?);
        }
        Ok(EventPage {
            events,
            next_cursor: last_key.filter(|_| more).map(cursor_text),
        })
    }

    fn camera_ids(&self, names: &[String]) -> Result<Vec<i64>, StoreError> {
        let e = self.e();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM cameras WHERE name = ?1")
            .map_err(&e)?;
        let mut ids = Vec::with_capacity(names.len());
        for n in names {
            if let Some(id) = stmt
                .query_row([n], |r| r.get::<_, i64>(0))
                .optional()
                .map_err(&e)?
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// One event by id.
    pub fn get(&self, id: EventId) -> Result<StoredEvent, StoreError> {
        let e = self.e();
        let row = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM events e JOIN cameras c ON c.id = e.camera_id
                 WHERE e.event_id = ?1"
            ))
            .map_err(&e)?
            .query_row([id.to_string()], raw)
            .optional()
            .map_err(&e)?;
        match row {
            Some(r) => decode(r),
            None => Err(StoreError::EventNotFound { id: id.to_string() }),
        }
    }

    /// The path of an event's snapshot file (for serving it as a file). Not checked; see
    /// [`EventReader::snapshot`].
    pub fn snapshot_path(&self, id: EventId, kind: SnapshotKind) -> Result<PathBuf, StoreError> {
        Ok(self.snapshot_row(id, kind)?.0)
    }

    fn snapshot_row(
        &self,
        id: EventId,
        kind: SnapshotKind,
    ) -> Result<(PathBuf, u64, u32), StoreError> {
        let e = self.e();
        let id_text = id.to_string();
        let row: Option<(Option<String>, Option<i64>, Option<i64>)> = self
            .conn
            .prepare_cached(match kind {
                SnapshotKind::Full => {
                    "SELECT snapshot, snapshot_full_bytes, snapshot_full_crc FROM events
                     WHERE event_id = ?1"
                }
                SnapshotKind::Crop => {
                    "SELECT snapshot, snapshot_crop_bytes, snapshot_crop_crc FROM events
                     WHERE event_id = ?1"
                }
            })
            .map_err(&e)?
            .query_row([&id_text], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
            .map_err(&e)?;
        match row {
            None => Err(StoreError::EventNotFound { id: id_text }),
            Some((Some(base), Some(bytes), Some(crc))) => Ok((
                self.snapshot_dir.join(file_name(&base, kind)),
                bytes as u64,
                crc as u32,
            )),
            Some(_) => Err(StoreError::NoSnapshot {
                id: id_text,
                kind: kind.name(),
            }),
        }
    }

    /// Opens encrypted snapshots with the store's snapshot key from `keys`.
    pub fn with_keys(mut self, keys: &vigil_keys::KeyStore) -> Result<Self, StoreError> {
        self.cipher = Some(std::sync::Arc::new(crate::crypt::SnapshotCipher::of(keys)?));
        Ok(self)
    }

    /// The JPEG bytes of an event's snapshot, checked against the length and CRC-32 recorded when it
    /// was saved: a missing, truncated or damaged file is reported with its path. Encrypted snapshots
    /// are decrypted (they need [`EventReader::with_keys`]).
    pub fn snapshot(&self, id: EventId, kind: SnapshotKind) -> Result<Vec<u8>, StoreError> {
        let stored = self.stored_snapshot(id, kind)?;
        if !stored.0.starts_with(crate::crypt::SNAPSHOT_MAGIC) {
            return Ok(stored.0);
        }
        let cipher = self.cipher.as_ref().ok_or_else(|| {
            StoreError::Crypto(format!(
                "{} is encrypted: reading it needs the key store",
                stored.1.display()
            ))
        })?;
        let name = stored
            .1
            .strip_prefix(&self.snapshot_dir)
            .unwrap_or(&stored.1)
            .to_string_lossy()
            .into_owned();
        cipher.open(&name, &stored.0)
    }

    /// A snapshot file's stored bytes, checked, and its path.
    fn stored_snapshot(
        &self,
        id: EventId,
        kind: SnapshotKind,
    ) -> Result<(Vec<u8>, PathBuf), StoreError> {
        let (path, bytes, crc) = self.snapshot_row(id, kind)?;
        let read = match read_checked(&path, bytes, crc) {
            // replaced by a newer snapshot between reading the row and opening the file
            Err(StoreError::CorruptSnapshot { .. }) if !path.exists() => {
                let (again, bytes, crc) = self.snapshot_row(id, kind)?;
                let data = read_checked(&again, bytes, crc)?;
                return Ok((data, again));
            }
            other => other,
        };
        Ok((read?, path))
    }

    /// Events per time bucket, camera and kind, for events that started in `[from_ms, to_ms)`;
    /// buckets start at `from_ms + k * bucket_ms`. Only non-empty bins are returned, in time, camera
    /// and kind order. When `from_ms`, `to_ms` and `bucket_ms` are whole quarter hours (every real time
    /// zone's day and hour boundaries are) the counts come from a small table kept with the events
    /// (a month of 16 cameras by day: ~35 ms); otherwise the events in the range are counted from an
    /// index (~0.2 µs per event: a day ~10 ms, a month of a million events ~200 ms), so align a
    /// timeline's range to its bucket.
    pub fn histogram(
        &self,
        from_ms: i64,
        to_ms: i64,
        bucket_ms: i64,
        cameras: Option<&[String]>,
    ) -> Result<Vec<HistogramBin>, StoreError> {
        if bucket_ms <= 0 || to_ms <= from_ms {
            return Err(StoreError::BadQuery(format!(
                "histogram needs from < to and a positive bucket (got {from_ms}..{to_ms} by {bucket_ms} ms)"
            )));
        }
        if (to_ms - from_ms) / bucket_ms > MAX_BUCKETS {
            return Err(StoreError::BadQuery(format!(
                "histogram of more than {MAX_BUCKETS} buckets; use a larger bucket"
            )));
        }
        let e = self.e();
        let names: HashMap<i64, String> = self
            .conn
            .prepare_cached("SELECT id, name FROM cameras")
            .map_err(&e)?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(&e)?
            .collect::<Result<_, _>>()
            .map_err(&e)?;
        let camera_ids = cameras.map(|c| self.camera_ids(c)).transpose()?;
        if camera_ids.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let aligned = [from_ms, to_ms, bucket_ms]
            .iter()
            .all(|v| v.rem_euclid(COUNT_BUCKET_MS) == 0);
        // quarter hours covering the range
        let q_from = from_ms.div_euclid(COUNT_BUCKET_MS);
        let q_to = (to_ms + COUNT_BUCKET_MS - 1).div_euclid(COUNT_BUCKET_MS);
        let camera_filter = |sql: &mut String, args: &mut Vec<Value>| {
            if let Some(ids) = &camera_ids {
                sql.push_str(" AND camera_id IN (");
                for (i, id) in ids.iter().enumerate() {
                    sql.push_str(if i == 0 { "?" } else { ", ?" });
                    args.push(Value::Integer(*id));
                }
                sql.push(')');
            }
        };
        let mut acc = Accumulator::new(from_ms, to_ms, bucket_ms, &names);
        if aligned {
            // the counts table, summed into the buckets asked for
            let mut sql = "SELECT bucket, camera_id, kind, count FROM event_counts
                 WHERE bucket >= ? AND bucket < ?"
                .to_string();
            let mut args = vec![Value::Integer(q_from), Value::Integer(q_to)];
            camera_filter(&mut sql, &mut args);
            let mut stmt = self.conn.prepare_cached(&sql).map_err(&e)?;
            let mut rows = stmt.query(params_from_iter(args)).map_err(&e)?;
            while let Some(r) = rows.next().map_err(&e)? {
                let bucket: i64 = r.get(0).map_err(&e)?;
                let kind = r.get_ref(2).map_err(&e)?.as_str().unwrap_or("?");
                let n: i64 = r.get(3).map_err(&e)?;
                acc.add(bucket * COUNT_BUCKET_MS, r.get(1).map_err(&e)?, kind, n);
            }
        } else {
            // the events themselves, read from the camera x kind index (row ids only) for each pair
            // the counts table has in the covering quarter hours
            let mut sql = "SELECT DISTINCT camera_id, kind FROM event_counts
                 WHERE bucket >= ? AND bucket < ?"
                .to_string();
            let mut args = vec![Value::Integer(q_from), Value::Integer(q_to)];
            camera_filter(&mut sql, &mut args);
            let pairs: Vec<(i64, String)> = self
                .conn
                .prepare_cached(&sql)
                .map_err(&e)?
                .query_map(params_from_iter(args), |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(&e)?
                .collect::<Result<_, _>>()
                .map_err(&e)?;
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT id FROM events INDEXED BY events_camera_kind
                     WHERE camera_id = ?1 AND kind = ?2 AND id >= ?3 AND id < ?4",
                )
                .map_err(&e)?;
            for (camera, kind) in pairs {
                let mut rows = stmt
                    .query(rusqlite::params![
                        camera,
                        kind,
                        key_of_ms(from_ms),
                        key_of_ms(to_ms)
                    ])
                    .map_err(&e)?;
                while let Some(r) = rows.next().map_err(&e)? {
                    let key: i64 = r.get(0).map_err(&e)?;
                    acc.add(key >> KEY_SHIFT, camera, &kind, 1);
                }
            }
        }
        Ok(acc.bins())
    }
}

/// Most cells of the dense histogram table (buckets x cameras, per kind); beyond it a hash map.
const MAX_DENSE: usize = 1 << 22;

/// Sums counts into (bucket, camera, kind) bins: a dense table when the histogram is of a sane size
/// (no hashing per row), else a hash map.
struct Accumulator<'a> {
    from_ms: i64,
    bucket_ms: i64,
    buckets: usize,
    names: &'a HashMap<i64, String>,
    /// Camera id -> column (cameras in name order).
    slot: HashMap<i64, usize>,
    cameras: Vec<i64>,
    kinds: Vec<String>,
    /// Per kind: buckets x cameras counts (dense mode).
    dense: Vec<Vec<u64>>,
    sparse: Option<HashMap<(i64, i64, usize), u64>>,
}

impl<'a> Accumulator<'a> {
    fn new(from_ms: i64, to_ms: i64, bucket_ms: i64, names: &'a HashMap<i64, String>) -> Self {
        let buckets = ((to_ms - from_ms + bucket_ms - 1) / bucket_ms).max(1) as usize;
        let mut cameras: Vec<i64> = names.keys().copied().collect();
        cameras.sort_by(|a, b| names[a].cmp(&names[b]));
        let dense = buckets.saturating_mul(cameras.len().max(1)) <= MAX_DENSE;
        Self::with_mode(from_ms, bucket_ms, buckets, names, cameras, dense)
    }

    fn with_mode(
        from_ms: i64,
        bucket_ms: i64,
        buckets: usize,
        names: &'a HashMap<i64, String>,
        cameras: Vec<i64>,
        dense: bool,
    ) -> Self {
        let slot = cameras.iter().enumerate().map(|(i, &c)| (c, i)).collect();
        Self {
            from_ms,
            bucket_ms,
            buckets,
            names,
            slot,
            cameras,
            kinds: Vec::new(),
            dense: Vec::new(),
            sparse: (!dense).then(HashMap::new),
        }
    }

    /// Adds `n` events of a camera and kind that started at `ms`.
    fn add(&mut self, ms: i64, camera: i64, kind: &str, n: i64) {
        if n <= 0 || ms < self.from_ms {
            return;
        }
        let b = ((ms - self.from_ms) / self.bucket_ms) as usize;
        let k = match self.kinds.iter().position(|x| x == kind) {
            Some(k) => k,
            None => {
                self.kinds.push(kind.to_string());
                if self.sparse.is_none() {
                    self.dense.push(vec![0; self.buckets * self.cameras.len()]);
                }
                self.kinds.len() - 1
            }
        };
        match (&mut self.sparse, self.slot.get(&camera)) {
            (None, Some(&c)) if b < self.buckets => {
                self.dense[k][b * self.cameras.len() + c] += n as u64;
            }
            (Some(map), _) => *map.entry((b as i64, camera, k)).or_default() += n as u64,
            _ => {} // a camera added after the names were read, or past the end
        }
    }

    /// The non-empty bins in time, camera name and kind order.
    fn bins(self) -> Vec<HistogramBin> {
        let mut kind_order: Vec<usize> = (0..self.kinds.len()).collect();
        kind_order.sort_by(|&a, &b| self.kinds[a].cmp(&self.kinds[b]));
        let name = |c: i64| self.names.get(&c).cloned().unwrap_or_else(|| c.to_string());
        let start = |b: i64| self.from_ms + b * self.bucket_ms;
        if let Some(map) = self.sparse {
            let mut out: Vec<HistogramBin> = map
                .into_iter()
                .map(|((b, c, k), count)| HistogramBin {
                    start_ms: start(b),
                    camera: name(c),
                    kind: self.kinds[k].clone(),
                    count,
                })
                .collect();
            out.sort_unstable_by(|a, b| {
                (a.start_ms, &a.camera, &a.kind).cmp(&(b.start_ms, &b.camera, &b.kind))
            });
            return out;
        }
        let mut out = Vec::new();
        let n = self.cameras.len();
        for b in 0..self.buckets {
            for (c, &camera) in self.cameras.iter().enumerate() {
                for &k in &kind_order {
                    let count = self.dense[k][b * n + c];
                    if count > 0 {
                        out.push(HistogramBin {
                            start_ms: start(b as i64),
                            camera: name(camera),
                            kind: self.kinds[k].clone(),
                            count,
                        });
                    }
                }
            }
        }
        out
    }
}

impl Store {
    /// A read-only view of the events (its own database connection).
    pub fn event_reader(&self) -> Result<EventReader, StoreError> {
        let reader = EventReader::open(&self.inner().db_path)?;
        match crate::store::lock_keys(self.inner()) {
            Some(keys) => reader.with_keys(&keys),
            None => Ok(reader),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_histograms_agree() {
        let names: HashMap<i64, String> = [(1, "b".to_string()), (2, "a".to_string())]
            .into_iter()
            .collect();
        let adds = [
            (1000, 1, "queue", 2),
            (1999, 2, "intrusion", 1),
            (1500, 2, "queue", 1),
            (5000, 1, "intrusion", 4),
            (999, 1, "queue", 7),  // before the range
            (3100, 3, "queue", 1), // unknown camera: counted only by the map
        ];
        let run = |dense: bool| {
            let mut acc = Accumulator::with_mode(1000, 1000, 5, &names, vec![2, 1], dense);
            for (ms, cam, kind, n) in adds {
                acc.add(ms, cam, kind, n);
            }
            acc.bins()
                .into_iter()
                .filter(|b| b.camera != "3")
                .map(|b| (b.start_ms, b.camera, b.kind, b.count))
                .collect::<Vec<_>>()
        };
        let want = vec![
            (1000, "a".to_string(), "intrusion".to_string(), 1),
            (1000, "a".to_string(), "queue".to_string(), 1),
            (1000, "b".to_string(), "queue".to_string(), 2),
            (5000, "b".to_string(), "intrusion".to_string(), 4),
        ];
        assert_eq!(run(true), want);
        assert_eq!(run(false), want);
    }

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        let k = key_of_ms(1_717_000_000_000) + 3;
        assert_eq!(parse_cursor(&cursor_text(k)).unwrap(), k);
        for junk in [
            "",
            "zz",
            "-5",
            "cffffffffffffffffff",
            "1796546186000",
            "c-5",
        ] {
            let err = parse_cursor(junk).unwrap_err();
            assert!(err.to_string().contains("cursor"), "{err}");
        }
    }
}
