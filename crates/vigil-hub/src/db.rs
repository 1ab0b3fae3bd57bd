//! The hub's database (PostgreSQL): sites, their cameras and status, every site's events, snapshots'
//! whereabouts, and the audit log. The one SQL access layer of the hub process: every query is here
//! (the HTTP layer's own tables are in `http/`'s store module, on the same pool).
//!
//! Events are keyed by their id (the site's ULID). A change is applied only when its sequence number
//! (the site's outbox position) is newer than the one held, and only by the site that owns the event,
//! so redelivered, reordered or forged messages change nothing; deletions leave a tombstone so a late
//! copy of an older state cannot bring an event back.

use crate::HubError;
use crate::relay::ConfigVersion;
use serde::Serialize;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};
use std::time::Duration;
use vigil_uplink::wire::{EventEnvelope, EventLine, EventOp, SiteStatus};

mod bench;
pub use bench::{BenchFill, BenchIngest};

/// The schema, one step per entry; applied in order, once, in a transaction each.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE sites (
    name TEXT PRIMARY KEY,
    -- the site's NKey public key (from `vigil hub site add`); NULL for a site that authenticates otherwise
    nkey_public TEXT UNIQUE,
    created_ms BIGINT NOT NULL,
    -- NATS server time of the last status received
    last_seen_ms BIGINT,
    -- set when the heartbeats stopped; NULL while online
    offline_since_ms BIGINT,
    heartbeat_s INTEGER NOT NULL DEFAULT 5,
    status JSONB,
    version TEXT,
    config_version TEXT
);
CREATE TABLE cameras (
    site TEXT NOT NULL REFERENCES sites(name) ON DELETE CASCADE,
    name TEXT NOT NULL,
    online BOOLEAN NOT NULL,
    fps REAL NOT NULL,
    message TEXT,
    problems JSONB NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (site, name)
);
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    camera TEXT NOT NULL,
    -- the site's outbox sequence number of the state held
    seq BIGINT NOT NULL,
    -- order of first arrival at the hub
    hub_seq BIGSERIAL NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT,
    kind TEXT NOT NULL,
    rule TEXT NOT NULL,
    class TEXT NOT NULL,
    phase TEXT NOT NULL,
    description TEXT NOT NULL,
    -- the event line as the site sent it (vigil_uplink::wire::EventLine)
    line JSONB NOT NULL,
    received_ms BIGINT NOT NULL,
    words TSVECTOR GENERATED ALWAYS AS (
        to_tsvector('simple', camera || ' ' || rule || ' ' || kind || ' ' || class || ' ' || description)
    ) STORED
);
CREATE INDEX events_start ON events (start_ms DESC, id);
CREATE INDEX events_site_start ON events (site, start_ms DESC);
CREATE INDEX events_site_camera_start ON events (site, camera, start_ms DESC);
CREATE INDEX events_words ON events USING GIN (words);
CREATE TABLE events_deleted (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    seq BIGINT NOT NULL,
    deleted_ms BIGINT NOT NULL
);
CREATE TABLE snapshots (
    event_id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    received_ms BIGINT NOT NULL
);
CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail JSONB,
    ip TEXT
);
CREATE INDEX audit_at ON audit (at_ms);
"#,
    r#"
-- Configuration versions of each site (relay.rs): every push, whether the site applied it, and the
-- texts found on the site (pushed_by 'site').
CREATE TABLE site_configs (
    id BIGSERIAL PRIMARY KEY,
    site TEXT NOT NULL,
    version TEXT NOT NULL,
    text TEXT NOT NULL,
    -- the version it was pushed as a change of
    base_version TEXT,
    pushed_by TEXT NOT NULL,
    pushed_ms BIGINT NOT NULL,
    applied BOOLEAN NOT NULL,
    -- the site's answer when it did not apply it
    message TEXT
);
CREATE INDEX site_configs_site ON site_configs (site, id DESC);
"#,
    // 3: standby boxes (`vigil hub site add NAME --standby-for A,B`): the sites whose status a site may
    // watch, to take over their cameras.
    r#"
ALTER TABLE sites ADD COLUMN standby_for TEXT[] NOT NULL DEFAULT '{}';
"#,
    // 4: the event list orders by (start_ms DESC, id DESC): indexes in that exact order, so a site's or
    // a camera's newest page is read from the index instead of sorting all its rows (`vigil hub bench`
    // over 10M events: one site's page took ~150 ms cold, sorting its 10,000 rows). And the planner
    // must know how rare a searched word is: with the default statistics a word it has not sampled is
    // guessed at 0.5% of the rows, so a rare word (a plate) was searched by walking the whole time
    // index (12 s over 10M events) instead of the GIN index (4-14 ms). docs/design/multisite.md "Scale".
    r#"
ALTER TABLE events ALTER COLUMN words SET STATISTICS 10000;
DROP INDEX IF EXISTS events_start;
DROP INDEX IF EXISTS events_site_start;
DROP INDEX IF EXISTS events_site_camera_start;
CREATE INDEX events_start ON events (start_ms DESC, id DESC);
CREATE INDEX events_site_start ON events (site, start_ms DESC, id DESC);
CREATE INDEX events_site_camera_start ON events (site, camera, start_ms DESC, id DESC);
"#,
];

/// The hub's database.
#[derive(Clone)]
pub struct HubDb {
    pool: PgPool,
}

/// A site as the hub knows it.
#[derive(Debug, Clone, Serialize)]
pub struct SiteRow {
    /// Its name.
    pub name: String,
    /// Its NKey public key.
    pub nkey_public: Option<String>,
    /// Last status (NATS server time, unix ms).
    pub last_seen_ms: Option<i64>,
    /// Offline since (unix ms), while offline.
    pub offline_since_ms: Option<i64>,
    /// Vigil version.
    pub version: Option<String>,
    /// Its configuration's version.
    pub config_version: Option<String>,
    /// Its last status.
    pub status: Option<serde_json::Value>,
    /// The sites it stands by for (it may watch their status; `docs/design/multisite.md`).
    #[serde(default)]
    pub standby_for: Vec<String>,
}

impl SiteRow {
    /// Online: heard from, and not marked offline.
    pub fn online(&self) -> bool {
        self.last_seen_ms.is_some() && self.offline_since_ms.is_none()
    }
}

/// Which events to list (newest first).
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only these sites (`None`: all).
    pub sites: Option<Vec<String>>,
    /// Only this camera.
    pub camera: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Words that must appear (camera, rule, kind, class, description).
    pub words: Option<String>,
    /// Started at or after (unix ms).
    pub from_ms: Option<i64>,
    /// Started before (unix ms).
    pub to_ms: Option<i64>,
    /// Keyset cursor: events that start before this (start_ms, id).
    pub before: Option<(i64, String)>,
    /// Most rows (default 100, at most 1000).
    pub limit: Option<i64>,
    /// Only these cameras, as `site/camera` (`None`: every camera of the sites); a user's camera scope.
    pub site_cameras: Option<Vec<String>>,
}

fn now_ms() -> i64 {
    vigil_core::time::now_unix_ms()
}

/// Turns a database error into a [`HubError`] saying what was being done (the hub's one such helper).
pub(crate) fn db_err(what: &str) -> impl Fn(sqlx::Error) -> HubError + '_ {
    move |e| HubError::Db(format!("{what}: {e}"))
}

impl HubDb {
    /// Connects (pool of `max` connections) and brings the schema up to date.
    pub async fn open(url: &str, max: u32) -> Result<HubDb, HubError> {
        let pool = PgPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire(true)
            .connect(url)
            .await
            .map_err(|e| HubError::Db(format!("connecting to PostgreSQL ({url}): {e}")))?;
        let db = HubDb { pool };
        db.migrate().await?;
        Ok(db)
    }

    /// The pool (for the HTTP layer's own tables).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn migrate(&self) -> Result<(), HubError> {
        let e = db_err("migrating the hub schema");
        sqlx::query("CREATE TABLE IF NOT EXISTS hub_schema (version INTEGER NOT NULL)")
            .execute(&self.pool)
            .await
            .map_err(&e)?;
        let mut tx = self.pool.begin().await.map_err(&e)?;
        // One hub migrates at a time.
        sqlx::query("LOCK TABLE hub_schema IN EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
        let version: Option<i32> = sqlx::query_scalar("SELECT max(version) FROM hub_schema")
            .fetch_one(&mut *tx)
            .await
            .map_err(&e)?;
        let version = version.unwrap_or(0) as usize;
        if version > MIGRATIONS.len() {
            return Err(HubError::Db(format!(
                "the hub database is at schema {version}, newer than this hub knows ({}): upgrade the hub",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            sqlx::raw_sql(*sql).execute(&mut *tx).await.map_err(&e)?;
            sqlx::query("INSERT INTO hub_schema (version) VALUES ($1)")
                .bind(i as i32 + 1)
                .execute(&mut *tx)
                .await
                .map_err(&e)?;
        }
        tx.commit().await.map_err(&e)
    }

    /// Adds a site with its NKey public key (or replaces the key of an existing one).
    pub async fn add_site(&self, name: &str, nkey_public: Option<&str>) -> Result<(), HubError> {
        sqlx::query(
            "INSERT INTO sites (name, nkey_public, created_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET nkey_public = EXCLUDED.nkey_public",
        )
        .bind(name)
        .bind(nkey_public)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(db_err("adding a site"))?;
        Ok(())
    }

    /// Sets the sites `name` stands by for (it may watch their status). Returns false when there is
    /// no such site.
    pub async fn set_standby_for(
        &self,
        name: &str,
        primaries: &[String],
    ) -> Result<bool, HubError> {
        let r = sqlx::query("UPDATE sites SET standby_for = $2 WHERE name = $1")
            .bind(name)
            .bind(primaries.to_vec())
            .execute(&self.pool)
            .await
            .map_err(db_err("setting a standby"))?;
        Ok(r.rows_affected() > 0)
    }

    /// Removes a site and its cameras (its events stay until retention).
    pub async fn remove_site(&self, name: &str) -> Result<bool, HubError> {
        let r = sqlx::query("DELETE FROM sites WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db_err("removing a site"))?;
        Ok(r.rows_affected() > 0)
    }

    /// Every site, by name.
    pub async fn sites(&self) -> Result<Vec<SiteRow>, HubError> {
        let rows = sqlx::query(
            "SELECT name, nkey_public, last_seen_ms, offline_since_ms, version, config_version, status,
                    standby_for
             FROM sites ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing sites"))?;
        rows.into_iter()
            .map(|r| {
                Ok(SiteRow {
                    name: r.try_get(0)?,
                    nkey_public: r.try_get(1)?,
                    last_seen_ms: r.try_get(2)?,
                    offline_since_ms: r.try_get(3)?,
                    version: r.try_get(4)?,
                    config_version: r.try_get(5)?,
                    status: r.try_get(6)?,
                    standby_for: r.try_get(7)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err("reading sites"))
    }

    /// Records a site's status, received at `seen_ms` (NATS server time). Returns false when the site
    /// is not known to the hub (its status is ignored).
    pub async fn record_status(&self, status: &SiteStatus, seen_ms: i64) -> Result<bool, HubError> {
        let e = db_err("recording a site's status");
        let mut tx = self.pool.begin().await.map_err(&e)?;
        let json = serde_json::to_value(status).map_err(|x| HubError::Db(x.to_string()))?;
        // The old status comes back with the update, so the camera rows are rewritten only when a
        // camera's state changed (a heartbeat is mostly one UPDATE; `fps` is fresh in `sites.status`).
        let old: Option<Option<serde_json::Value>> = sqlx::query_scalar(
            "WITH old AS (SELECT name, status FROM sites WHERE name = $1 FOR UPDATE)
             UPDATE sites s SET last_seen_ms = GREATEST(COALESCE(s.last_seen_ms, 0), $2),
                 offline_since_ms = CASE WHEN $2 >= COALESCE(s.last_seen_ms, 0) THEN NULL
                                         ELSE s.offline_since_ms END,
                 heartbeat_s = $3, status = $4, version = $5, config_version = $6
             FROM old WHERE s.name = old.name
             RETURNING old.status",
        )
        .bind(&status.site)
        .bind(seen_ms)
        .bind(status.heartbeat_s as i32)
        .bind(&json)
        .bind(&status.version)
        .bind(&status.config_version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(&e)?;
        let Some(old) = old else {
            return Ok(false);
        };
        let states = |cams: &[vigil_uplink::wire::CameraStatus]| -> Vec<(String, bool, Option<String>, Vec<String>)> {
            cams.iter()
                .map(|c| (c.name.clone(), c.online, c.message.clone(), c.problems.clone()))
                .collect()
        };
        let before = old
            .and_then(|v| serde_json::from_value::<SiteStatus>(v).ok())
            .map(|s| states(&s.cameras));
        if before.as_ref() != Some(&states(&status.cameras)) {
            sqlx::query("DELETE FROM cameras WHERE site = $1")
                .bind(&status.site)
                .execute(&mut *tx)
                .await
                .map_err(&e)?;
            for c in &status.cameras {
                sqlx::query(
                    "INSERT INTO cameras (site, name, online, fps, message, problems, updated_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&status.site)
                .bind(&c.name)
                .bind(c.online)
                .bind(c.fps)
                .bind(&c.message)
                .bind(serde_json::to_value(&c.problems).unwrap_or_default())
                .bind(seen_ms)
                .execute(&mut *tx)
                .await
                .map_err(&e)?;
            }
        }
        tx.commit().await.map_err(&e)?;
        Ok(true)
    }

    /// Marks sites whose heartbeats stopped (three missed) offline since their last status. Returns the
    /// sites newly marked.
    pub async fn mark_offline(&self, now_ms: i64) -> Result<Vec<String>, HubError> {
        let rows = sqlx::query_scalar(
            "UPDATE sites SET offline_since_ms = last_seen_ms
             WHERE offline_since_ms IS NULL AND last_seen_ms IS NOT NULL
               AND last_seen_ms + 3 * 1000 * heartbeat_s < $1
             RETURNING name",
        )
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("marking sites offline"))?;
        Ok(rows)
    }

    /// Applies a batch of event changes in one transaction. Each must come from the site its subject
    /// names (`site`, checked by the caller). Returns how many changed something.
    pub async fn apply_events(&self, batch: &[(String, EventEnvelope)]) -> Result<u64, HubError> {
        let e = db_err("storing events");
        // Per event only its newest change counts (the older ones are superseded), and one statement
        // may touch a row once: keep the highest sequence number per id, in order of arrival.
        // The event keeps the place of its first change (so `hub_seq` follows first arrival).
        let mut newest: std::collections::HashMap<&str, (usize, usize)> = Default::default();
        for (i, (_, env)) in batch.iter().enumerate() {
            match newest.get_mut(env.id.as_str()) {
                Some((_, j)) => {
                    if batch[*j].1.seq < env.seq {
                        *j = i;
                    }
                }
                None => {
                    newest.insert(&env.id, (i, i));
                }
            }
        }
        let mut places: Vec<(usize, usize)> = newest.into_values().collect();
        places.sort_unstable();
        let kept: Vec<usize> = places.into_iter().map(|(_, j)| j).collect();
        let mut tx = self.pool.begin().await.map_err(&e)?;
        let mut changed = 0;
        let mut upserts = Vec::with_capacity(kept.len());
        for i in kept {
            let (site, env) = &batch[i];
            match (env.op, &env.event) {
                (EventOp::Upsert, Some(line)) => upserts.push((site.as_str(), env, line)),
                _ => changed += apply_one(&mut tx, site, env).await.map_err(&e)?,
            }
        }
        changed += upsert_many(&mut tx, &upserts).await.map_err(&e)?;
        tx.commit().await.map_err(&e)?;
        Ok(changed)
    }

    /// Events, newest first.
    pub async fn events(&self, f: &EventFilter) -> Result<Vec<EventLine>, HubError> {
        let mut q = sqlx::QueryBuilder::<Postgres>::new("SELECT site, line FROM events WHERE true");
        if let Some(sites) = &f.sites {
            if let [one] = sites.as_slice() {
                // `site = ANY(…)` is not read in index order on PostgreSQL 15 (every row of the site
                // is sorted: ~150 ms at 10,000 events a site); `site = …` walks the index (~5 ms).
                q.push(" AND site = ").push_bind(one.clone());
            } else {
                q.push(" AND site = ANY(")
                    .push_bind(sites.clone())
                    .push(")");
            }
        }
        if let Some(c) = &f.camera {
            q.push(" AND camera = ").push_bind(c.clone());
        }
        if let Some(sc) = &f.site_cameras {
            q.push(" AND (site || '/' || camera) = ANY(")
                .push_bind(sc.clone())
                .push(")");
        }
        if let Some(k) = &f.kind {
            q.push(" AND kind = ").push_bind(k.clone());
        }
        if let Some(w) = f.words.as_ref().filter(|w| !w.trim().is_empty()) {
            q.push(" AND words @@ plainto_tsquery('simple', ")
                .push_bind(w.clone())
                .push(")");
        }
        if let Some(t) = f.from_ms {
            q.push(" AND start_ms >= ").push_bind(t);
        }
        if let Some(t) = f.to_ms {
            q.push(" AND start_ms < ").push_bind(t);
        }
        if let Some((ms, id)) = &f.before {
            q.push(" AND (start_ms, id) < (")
                .push_bind(*ms)
                .push(", ")
                .push_bind(id.clone())
                .push(")");
        }
        q.push(" ORDER BY start_ms DESC, id DESC LIMIT ")
            .push_bind(f.limit.unwrap_or(100).clamp(1, 1000));
        let rows = q
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("listing events"))?;
        rows.into_iter().map(line_of_row).collect()
    }

    /// Every event, oldest first (start, then order of arrival), for `vigil hub events`; `f` with
    /// `sites` and `camera` only.
    pub async fn all_events(&self, sites: Option<&[String]>) -> Result<Vec<EventLine>, HubError> {
        let rows = sqlx::query(
            "SELECT site, line FROM events WHERE ($1::text[] IS NULL OR site = ANY($1))
             ORDER BY start_ms, hub_seq",
        )
        .bind(sites.map(<[String]>::to_vec))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing events"))?;
        rows.into_iter().map(line_of_row).collect()
    }

    /// One event.
    pub async fn event(&self, id: &str) -> Result<Option<EventLine>, HubError> {
        let row = sqlx::query("SELECT site, line FROM events WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading an event"))?;
        row.map(line_of_row).transpose()
    }

    /// The ids of a camera's events in order of arrival at the hub.
    pub async fn arrival_order(&self, site: &str, camera: &str) -> Result<Vec<String>, HubError> {
        sqlx::query_scalar("SELECT id FROM events WHERE site = $1 AND camera = $2 ORDER BY hub_seq")
            .bind(site)
            .bind(camera)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("listing events"))
    }

    /// Notes that a snapshot of `event_id` was stored.
    pub async fn record_snapshot(
        &self,
        site: &str,
        event_id: &str,
        bytes: usize,
    ) -> Result<(), HubError> {
        sqlx::query(
            "INSERT INTO snapshots (event_id, site, bytes, received_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (event_id) DO UPDATE SET bytes = EXCLUDED.bytes, received_ms = EXCLUDED.received_ms
             WHERE snapshots.site = EXCLUDED.site",
        )
        .bind(event_id)
        .bind(site)
        .bind(bytes as i32)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(db_err("recording a snapshot"))?;
        Ok(())
    }

    /// Which site's snapshot of `event_id` is stored, if any.
    pub async fn snapshot_site(&self, event_id: &str) -> Result<Option<String>, HubError> {
        sqlx::query_scalar("SELECT site FROM snapshots WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err("reading a snapshot"))
    }

    /// Appends to the audit log.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: serde_json::Value,
        ip: Option<&str>,
    ) -> Result<(), HubError> {
        sqlx::query(
            "INSERT INTO audit (at_ms, actor, action, target, detail, ip) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now_ms())
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(detail)
        .bind(ip)
        .execute(&self.pool)
        .await
        .map_err(db_err("writing the audit log"))?;
        Ok(())
    }

    /// Deletes events that started more than `days` ago. Returns how many.
    pub async fn expire_events(&self, days: u32) -> Result<u64, HubError> {
        let cut = now_ms() - i64::from(days) * 86_400_000;
        let r = sqlx::query("DELETE FROM events WHERE start_ms < $1")
            .bind(cut)
            .execute(&self.pool)
            .await
            .map_err(db_err("expiring events"))?;
        sqlx::query("DELETE FROM events_deleted WHERE deleted_ms < $1")
            .bind(cut)
            .execute(&self.pool)
            .await
            .map_err(db_err("expiring tombstones"))?;
        Ok(r.rows_affected())
    }
}

/// Configuration versions of sites (`site_configs`, see [`crate::relay`]).
impl HubDb {
    /// Keeps a configuration version of `site`: pushed by `pushed_by` as a change of `base`, applied
    /// or not (with the site's `message`).
    #[allow(clippy::too_many_arguments)]
    pub async fn config_record(
        &self,
        site: &str,
        version: &str,
        text: &str,
        base: Option<&str>,
        pushed_by: &str,
        applied: bool,
        message: Option<&str>,
    ) -> Result<ConfigVersion, HubError> {
        let pushed_ms = now_ms();
        sqlx::query(
            "INSERT INTO site_configs (site, version, text, base_version, pushed_by, pushed_ms, applied, message)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(site)
        .bind(version)
        .bind(text)
        .bind(base)
        .bind(pushed_by)
        .bind(pushed_ms)
        .bind(applied)
        .bind(message)
        .execute(&self.pool)
        .await
        .map_err(db_err("keeping a configuration version"))?;
        Ok(ConfigVersion {
            site: site.to_string(),
            version: version.to_string(),
            pushed_by: pushed_by.to_string(),
            pushed_ms,
            applied,
            message: message.map(str::to_string),
        })
    }

    /// The latest version of `site`'s configuration that the site applied (or that was found there).
    pub async fn config_latest_applied(&self, site: &str) -> Result<Option<String>, HubError> {
        sqlx::query_scalar(
            "SELECT version FROM site_configs WHERE site = $1 AND applied ORDER BY id DESC LIMIT 1",
        )
        .bind(site)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("reading configuration versions"))
    }

    /// The configuration versions of `site`, newest first.
    pub async fn config_versions(&self, site: &str) -> Result<Vec<ConfigVersion>, HubError> {
        let rows = sqlx::query(
            "SELECT site, version, pushed_by, pushed_ms, applied, message FROM site_configs
             WHERE site = $1 ORDER BY id DESC",
        )
        .bind(site)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing configuration versions"))?;
        rows.into_iter()
            .map(|r| {
                Ok(ConfigVersion {
                    site: r.try_get(0)?,
                    version: r.try_get(1)?,
                    pushed_by: r.try_get(2)?,
                    pushed_ms: r.try_get(3)?,
                    applied: r.try_get(4)?,
                    message: r.try_get(5)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err("reading configuration versions"))
    }

    /// The text of version `version` of `site`'s configuration, if the hub holds it.
    pub async fn config_text(&self, site: &str, version: &str) -> Result<Option<String>, HubError> {
        sqlx::query_scalar(
            "SELECT text FROM site_configs WHERE site = $1 AND version = $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(site)
        .bind(version)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("reading a configuration version"))
    }
}

fn line_of_row(r: sqlx::postgres::PgRow) -> Result<EventLine, HubError> {
    let site: String = r.try_get(0).map_err(db_err("reading an event"))?;
    let value: serde_json::Value = r.try_get(1).map_err(db_err("reading an event"))?;
    let mut line: EventLine = serde_json::from_value(value)
        .map_err(|e| HubError::Db(format!("an event row holds an unreadable line: {e}")))?;
    line.site = Some(site);
    Ok(line)
}

/// Upserts many events in one statement (arrays unnested in arrival order, so `hub_seq` follows it),
/// with the same rules as [`apply_one`]: not over a newer tombstone, only when newer, only by the owner.
async fn upsert_many(
    tx: &mut Transaction<'_, Postgres>,
    rows: &[(&str, &EventEnvelope, &EventLine)],
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let col = |f: &dyn Fn(&(&str, &EventEnvelope, &EventLine)) -> String| -> Vec<String> {
        rows.iter().map(f).collect()
    };
    let ids = col(&|r| r.1.id.clone());
    let sites = col(&|r| r.0.to_string());
    let cameras = col(&|r| r.2.camera.clone());
    let kinds = col(&|r| r.2.kind.clone());
    let rules = col(&|r| r.2.rule.clone());
    let classes = col(&|r| r.2.class.clone());
    let phases = col(&|r| r.2.phase.clone());
    let descriptions = col(&|r| r.2.description.clone());
    let seqs: Vec<i64> = rows.iter().map(|r| r.1.seq).collect();
    let starts: Vec<i64> = rows.iter().map(|r| r.2.start_ms).collect();
    let ends: Vec<Option<i64>> = rows.iter().map(|r| r.2.end_ms).collect();
    let lines: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let mut line = r.2.clone();
            line.site = None;
            serde_json::to_value(&line).unwrap_or_default()
        })
        .collect();
    let r = sqlx::query(
        "INSERT INTO events (id, site, camera, seq, start_ms, end_ms, kind, rule, class, phase,
                             description, line, received_ms)
         SELECT u.id, u.site, u.camera, u.seq, u.start_ms, u.end_ms, u.kind, u.rule, u.class, u.phase,
                u.description, u.line, $13
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[],
                     $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::jsonb[])
              WITH ORDINALITY AS u(id, site, camera, seq, start_ms, end_ms, kind, rule, class, phase,
                                   description, line, n)
         WHERE NOT EXISTS (SELECT 1 FROM events_deleted d WHERE d.id = u.id AND d.seq >= u.seq)
         ORDER BY u.n
         ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, end_ms = EXCLUDED.end_ms,
             phase = EXCLUDED.phase, description = EXCLUDED.description,
             line = EXCLUDED.line, received_ms = EXCLUDED.received_ms
         WHERE events.seq < EXCLUDED.seq AND events.site = EXCLUDED.site",
    )
    .bind(ids)
    .bind(sites)
    .bind(cameras)
    .bind(seqs)
    .bind(starts)
    .bind(ends)
    .bind(kinds)
    .bind(rules)
    .bind(classes)
    .bind(phases)
    .bind(descriptions)
    .bind(lines)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(r.rows_affected())
}

async fn apply_one(
    tx: &mut Transaction<'_, Postgres>,
    site: &str,
    env: &EventEnvelope,
) -> Result<u64, sqlx::Error> {
    match (env.op, &env.event) {
        (EventOp::Upsert, Some(line)) => {
            let mut line = line.clone();
            line.site = None;
            let json = serde_json::to_value(&line).unwrap_or_default();
            let r = sqlx::query(
                "INSERT INTO events (id, site, camera, seq, start_ms, end_ms, kind, rule, class, phase,
                                     description, line, received_ms)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13
                 WHERE NOT EXISTS (SELECT 1 FROM events_deleted d WHERE d.id = $1 AND d.seq >= $4)
                 ON CONFLICT (id) DO UPDATE SET seq = EXCLUDED.seq, end_ms = EXCLUDED.end_ms,
                     phase = EXCLUDED.phase, description = EXCLUDED.description,
                     line = EXCLUDED.line, received_ms = EXCLUDED.received_ms
                 WHERE events.seq < EXCLUDED.seq AND events.site = EXCLUDED.site",
            )
            .bind(&env.id)
            .bind(site)
            .bind(&line.camera)
            .bind(env.seq)
            .bind(line.start_ms)
            .bind(line.end_ms)
            .bind(&line.kind)
            .bind(&line.rule)
            .bind(&line.class)
            .bind(&line.phase)
            .bind(&line.description)
            .bind(json)
            .bind(now_ms())
            .execute(&mut **tx)
            .await?;
            Ok(r.rows_affected())
        }
        (EventOp::Delete, _) => {
            let r = sqlx::query("DELETE FROM events WHERE id = $1 AND site = $2 AND seq < $3")
                .bind(&env.id)
                .bind(site)
                .bind(env.seq)
                .execute(&mut **tx)
                .await?;
            sqlx::query(
                "INSERT INTO events_deleted (id, site, seq, deleted_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET seq = GREATEST(events_deleted.seq, EXCLUDED.seq)
                 WHERE events_deleted.site = EXCLUDED.site",
            )
            .bind(&env.id)
            .bind(site)
            .bind(env.seq)
            .bind(now_ms())
            .execute(&mut **tx)
            .await?;
            sqlx::query("DELETE FROM snapshots WHERE event_id = $1 AND site = $2")
                .bind(&env.id)
                .bind(site)
                .execute(&mut **tx)
                .await?;
            Ok(r.rows_affected())
        }
        (EventOp::Upsert, None) => Ok(0),
    }
}
