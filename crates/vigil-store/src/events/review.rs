//! Review state: which events each user has reviewed, and the false/true alarm verdicts people give on
//! events, with the weekly false-alarm report built from them.
//!
//! It lives here, in the recording index next to the events, not in the server's security database:
//! a mark or verdict names an event row, and the `events_review_gone` trigger deletes it with its
//! event whatever deletes the event (event retention, an erasure, a face erasure), in the same
//! transaction — no orphan can outlive its event, and no sweep is needed. The user is the server's
//! user id (a user deleted leaves marks that go with their events, within the event retention).
//! Grouping into review items and severities are the server's (`vigil-server` `review.rs`): they
//! depend on the rules' configuration, which can change after the events were recorded.

use super::{EventReader, key_of_ms, now_ms};
use crate::error::db_err;
use crate::{Store, StoreError};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use vigil_core::EventId;

/// A false alarm's or a real one's verdict on an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing that should have raised the event happened (the rule needs tuning).
    FalseAlarm,
    /// The event was right.
    TrueAlarm,
}

impl Verdict {
    /// `false_alarm` or `true_alarm`.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::FalseAlarm => "false_alarm",
            Verdict::TrueAlarm => "true_alarm",
        }
    }

    /// Parses a name as [`Verdict::name`] gives it.
    pub fn parse(text: &str) -> Option<Verdict> {
        match text {
            "false_alarm" => Some(Verdict::FalseAlarm),
            "true_alarm" => Some(Verdict::TrueAlarm),
            _ => None,
        }
    }
}

/// Which events a review reads or marks: `None` filters are not applied, `Some(empty)` matches nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReviewScope {
    /// Camera names.
    pub cameras: Option<Vec<String>>,
    /// Kind names.
    pub kinds: Option<Vec<String>>,
}

/// What the review of one event needs, with the user's mark.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewRow {
    /// Event id (as text: the review lists ids, it never needs their parts).
    pub id: String,
    /// Camera name.
    pub camera: String,
    /// Rule name.
    pub rule: String,
    /// Kind name.
    pub kind: String,
    /// Main object class.
    pub class: String,
    /// Start (unix ms).
    pub start_ms: i64,
    /// End, or the last time seen while open (unix ms).
    pub end_ms: i64,
    /// Not ended yet.
    pub open: bool,
    /// A snapshot is stored.
    pub has_snapshot: bool,
    /// The best object's score (ranks snapshots).
    pub best_score: Option<f64>,
    /// Plain-language description.
    pub description: String,
    /// The user has reviewed it.
    pub reviewed: bool,
}

/// False alarms of one rule on one camera in one ISO week.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeeklyFeedback {
    /// ISO week, `2026-W50`, in the site's time zone.
    pub week: String,
    /// Camera name.
    pub camera: String,
    /// Rule name.
    pub rule: String,
    /// Events the rule raised that week.
    pub events: u64,
    /// Events whose latest verdict is a false alarm.
    pub false_alarms: u64,
    /// Events whose latest verdict is a true alarm.
    pub true_alarms: u64,
    /// `false_alarms / events`.
    pub rate: f64,
}

/// An event given a verdict: where it happened, for the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedbackGiven {
    /// Camera name.
    pub camera: String,
    /// Rule name.
    pub rule: String,
}

/// The SQL filter of a scope on `events e` joined with `cameras c`, over parameters `:c` and `:k`.
const SCOPE_SQL: &str = "(:c IS NULL OR c.name IN (SELECT value FROM json_each(:c)))
     AND (:k IS NULL OR e.kind IN (SELECT value FROM json_each(:k)))";

fn json_list(list: &Option<Vec<String>>) -> Option<String> {
    list.as_ref()
        .map(|l| serde_json::to_string(l).unwrap_or_else(|_| "[]".into()))
}

/// Granularity of the weekly report's scan (a time zone's offset is a multiple of 15 minutes).
const REPORT_BUCKET_MS: i64 = 15 * 60 * 1000;

impl EventReader {
    /// The events in `scope` starting in `[from_ms, before_ms)`, newest first, at most `limit`, each
    /// with whether `user_id` has reviewed it.
    pub fn review_rows(
        &self,
        user_id: i64,
        scope: &ReviewScope,
        from_ms: i64,
        before_ms: i64,
        limit: usize,
    ) -> Result<Vec<ReviewRow>, StoreError> {
        let e = self.e();
        let sql = format!(
            "SELECT e.event_id, c.name, e.rule, e.kind, e.class, e.start_ms,
                    COALESCE(e.end_ms, e.last_ms), e.open, e.snapshot IS NOT NULL, e.best_score,
                    e.description,
                    EXISTS (SELECT 1 FROM review_marks m WHERE m.user_id = :u AND m.event = e.id)
             FROM events e JOIN cameras c ON c.id = e.camera_id
             WHERE e.id >= :lo AND e.id < :hi AND {SCOPE_SQL}
             ORDER BY e.id DESC LIMIT :n"
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(&e)?;
        let rows = st
            .query_map(
                rusqlite::named_params! {
                    ":u": user_id,
                    ":lo": key_of_ms(from_ms),
                    ":hi": key_of_ms(before_ms),
                    ":c": json_list(&scope.cameras),
                    ":k": json_list(&scope.kinds),
                    ":n": limit as i64,
                },
                |r| {
                    Ok(ReviewRow {
                        id: r.get(0)?,
                        camera: r.get(1)?,
                        rule: r.get(2)?,
                        kind: r.get(3)?,
                        class: r.get(4)?,
                        start_ms: r.get(5)?,
                        end_ms: r.get(6)?,
                        open: r.get(7)?,
                        has_snapshot: r.get(8)?,
                        best_score: r.get(9)?,
                        description: r.get(10)?,
                        reviewed: r.get(11)?,
                    })
                },
            )
            .map_err(&e)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(&e)
    }

    /// False alarms per camera, rule and ISO week for the events in `scope` of the last `weeks` weeks
    /// (the one holding `now_ms` included), newest week first. `local_ms` turns a camera's unix ms
    /// time into its wall-clock time: the week an event falls in is its camera's local one.
    pub fn weekly_feedback(
        &self,
        scope: &ReviewScope,
        weeks: u32,
        now_ms: i64,
        local_ms: &dyn Fn(&str, i64) -> i64,
    ) -> Result<Vec<WeeklyFeedback>, StoreError> {
        let e = self.e();
        let today = now_ms.div_euclid(86_400_000);
        let first_day = today - (today + 3).rem_euclid(7) - 7 * (i64::from(weeks.max(1)) - 1);
        let oldest_week = vigil_core::time::iso_week_text(first_day);
        // A day early: the local week of an eastern camera starts before UTC's.
        let from_ms = (first_day - 1) * 86_400_000;
        let sql = format!(
            "WITH latest AS (
                 SELECT event, verdict FROM (
                     SELECT event, verdict, row_number() OVER (
                         PARTITION BY event ORDER BY given_ms DESC, user_id DESC) AS n
                     FROM event_feedback) WHERE n = 1)
             SELECT c.name, e.rule, e.start_ms / {REPORT_BUCKET_MS}, count(*),
                    sum(f.verdict = 'false_alarm'), sum(f.verdict = 'true_alarm')
             FROM events e JOIN cameras c ON c.id = e.camera_id
                  LEFT JOIN latest f ON f.event = e.id
             WHERE e.id >= :lo AND {SCOPE_SQL}
             GROUP BY 1, 2, 3"
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(&e)?;
        let rows = st
            .query_map(
                rusqlite::named_params! {
                    ":lo": key_of_ms(from_ms),
                    ":c": json_list(&scope.cameras),
                    ":k": json_list(&scope.kinds),
                },
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<i64>>(4)?.unwrap_or(0),
                        r.get::<_, Option<i64>>(5)?.unwrap_or(0),
                    ))
                },
            )
            .map_err(&e)?;
        let mut weeks: BTreeMap<(String, String, String), (u64, u64, u64)> = BTreeMap::new();
        for row in rows {
            let (camera, rule, bucket, n, fa, ta) = row.map_err(&e)?;
            let day = local_ms(&camera, bucket * REPORT_BUCKET_MS).div_euclid(86_400_000);
            let week = vigil_core::time::iso_week_text(day);
            if week < oldest_week {
                continue;
            }
            let w = weeks.entry((week, camera, rule)).or_default();
            w.0 += n as u64;
            w.1 += fa as u64;
            w.2 += ta as u64;
        }
        let mut out: Vec<WeeklyFeedback> = weeks
            .into_iter()
            .map(|((week, camera, rule), (events, fa, ta))| WeeklyFeedback {
                week,
                camera,
                rule,
                events,
                false_alarms: fa,
                true_alarms: ta,
                rate: if events == 0 {
                    0.0
                } else {
                    fa as f64 / events as f64
                },
            })
            .collect();
        // Newest week first; cameras and rules by name within it.
        out.sort_by(|a, b| b.week.cmp(&a.week).then(a.camera.cmp(&b.camera)));
        Ok(out)
    }

    /// Review marks and verdicts stored, all users together (`(marks, verdicts)`): what the trigger
    /// keeps from growing past the events.
    pub fn review_state_rows(&self) -> Result<(u64, u64), StoreError> {
        self.conn
            .query_row(
                "SELECT (SELECT count(*) FROM review_marks), (SELECT count(*) FROM event_feedback)",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(self.e())
    }
}

impl Store {
    /// Marks the events `ids` reviewed (or not) for `user_id`; all or none: an id that is not stored
    /// fails the whole call. Returns the marks added or removed.
    pub fn set_reviewed(
        &self,
        user_id: i64,
        ids: &[EventId],
        reviewed: bool,
    ) -> Result<usize, StoreError> {
        let inner = self.inner();
        let e = db_err(&inner.db_path);
        let mut conn = inner.events_db();
        let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
        let mut changed = 0;
        let now = now_ms();
        for id in ids {
            let row: Option<i64> = tx
                .prepare_cached("SELECT id FROM events WHERE event_id = ?1")
                .map_err(&e)?
                .query_row([id.to_string()], |r| r.get(0))
                .optional()
                .map_err(&e)?;
            let Some(row) = row else {
                return Err(StoreError::EventNotFound { id: id.to_string() });
            };
            changed += if reviewed {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO review_marks (event, user_id, marked_ms)
                     VALUES (?1, ?2, ?3)",
                )
                .map_err(&e)?
                .execute(params![row, user_id, now])
            } else {
                tx.prepare_cached("DELETE FROM review_marks WHERE event = ?1 AND user_id = ?2")
                    .map_err(&e)?
                    .execute(params![row, user_id])
            }
            .map_err(&e)?;
        }
        tx.commit().map_err(&e)?;
        Ok(changed)
    }

    /// Marks every event in `scope` starting before `before_ms` (and at or after `from_ms`) reviewed
    /// (or not) for `user_id`, in one statement. Returns the marks added or removed.
    pub fn set_reviewed_until(
        &self,
        user_id: i64,
        scope: &ReviewScope,
        from_ms: i64,
        before_ms: i64,
        reviewed: bool,
    ) -> Result<usize, StoreError> {
        let inner = self.inner();
        let e = db_err(&inner.db_path);
        let events = format!(
            "SELECT e.id FROM events e JOIN cameras c ON c.id = e.camera_id
             WHERE e.id >= :lo AND e.id < :hi AND {SCOPE_SQL}"
        );
        let sql = if reviewed {
            format!(
                "INSERT OR IGNORE INTO review_marks (event, user_id, marked_ms)
                 SELECT id, :u, :now FROM ({events})"
            )
        } else {
            format!("DELETE FROM review_marks WHERE user_id = :u AND event IN ({events})")
        };
        let mut conn = inner.events_db();
        let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
        let n = {
            let mut st = tx.prepare(&sql).map_err(&e)?;
            let lo = key_of_ms(from_ms);
            let hi = key_of_ms(before_ms);
            let (c, k) = (json_list(&scope.cameras), json_list(&scope.kinds));
            let now = now_ms();
            let mut named: Vec<(&str, &dyn rusqlite::ToSql)> = vec![
                (":u", &user_id),
                (":lo", &lo),
                (":hi", &hi),
                (":c", &c),
                (":k", &k),
            ];
            if reviewed {
                named.push((":now", &now));
            }
            st.execute(named.as_slice()).map_err(&e)?
        };
        tx.commit().map_err(&e)?;
        Ok(n)
    }

    /// Stores `user_id`'s verdict on event `id` (replacing their earlier one), with a note.
    pub fn record_feedback(
        &self,
        user_id: i64,
        username: &str,
        id: EventId,
        verdict: Verdict,
        note: &str,
    ) -> Result<FeedbackGiven, StoreError> {
        let inner = self.inner();
        let e = db_err(&inner.db_path);
        let mut conn = inner.events_db();
        let tx = crate::schema::write_tx(&mut conn).map_err(&e)?;
        let found: Option<(i64, String, String)> = tx
            .prepare_cached(
                "SELECT e.id, c.name, e.rule FROM events e JOIN cameras c ON c.id = e.camera_id
                 WHERE e.event_id = ?1",
            )
            .map_err(&e)?
            .query_row([id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
            .map_err(&e)?;
        let Some((row, camera, rule)) = found else {
            return Err(StoreError::EventNotFound { id: id.to_string() });
        };
        tx.prepare_cached(
            "INSERT INTO event_feedback (event, user_id, username, verdict, note, given_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (event, user_id) DO UPDATE SET username = excluded.username,
                 verdict = excluded.verdict, note = excluded.note, given_ms = excluded.given_ms",
        )
        .map_err(&e)?
        .execute(params![
            row,
            user_id,
            username,
            verdict.name(),
            note,
            now_ms()
        ])
        .map_err(&e)?;
        tx.commit().map_err(&e)?;
        Ok(FeedbackGiven { camera, rule })
    }
}
