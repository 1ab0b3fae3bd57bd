//! The benchmark's own queries (`vigil hub bench`, docs/design/multisite.md "Scale"): what the hub
//! applied of the simulated events, and the bulk load of synthetic events for the event-list timings.

use super::{HubDb, db_err};
use crate::HubError;
use serde::Serialize;
use sqlx::Row;

/// What `vigil hub bench` measured at the hub for its simulated events.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BenchIngest {
    /// Simulated events held.
    pub events: i64,
    /// Of them, ended (their last change applied).
    pub ended: i64,
    /// Publish-to-row latency of each event's last change applied (ms): median.
    pub latency_p50_ms: Option<i64>,
    /// Its 99th percentile.
    pub latency_p99_ms: Option<i64>,
    /// Its worst.
    pub latency_max_ms: Option<i64>,
    /// When the last change was applied (hub clock, unix ms).
    pub last_received_ms: Option<i64>,
}

/// Which synthetic events [`HubDb::bench_fill`] loads.
#[derive(Debug, Clone, Copy)]
pub struct BenchFill {
    /// Number of the first (ids and sequence numbers go on from it).
    pub first: i64,
    /// How many.
    pub count: i64,
    /// Sites they are spread over (`bench-0000`…).
    pub sites: i64,
    /// Cameras per site (`cam-0`…).
    pub cameras: i64,
    /// Start of the newest (unix ms).
    pub newest_ms: i64,
    /// Time between two events' starts (ms).
    pub step_ms: i64,
}

impl HubDb {
    /// The figures of the simulated events of sites named `prefix…` applied since `since_ms`: latency
    /// is the row's `received_ms` (hub clock) minus the `updated_ms` the simulator put in its line at
    /// publishing (same machine), for the last change applied to each event.
    pub async fn bench_ingest(&self, prefix: &str, since_ms: i64) -> Result<BenchIngest, HubError> {
        let row = sqlx::query(
            "SELECT count(*), count(*) FILTER (WHERE phase = 'end'),
                    percentile_disc(0.5) WITHIN GROUP (ORDER BY received_ms - (line->>'updated_ms')::bigint),
                    percentile_disc(0.99) WITHIN GROUP (ORDER BY received_ms - (line->>'updated_ms')::bigint),
                    max(received_ms - (line->>'updated_ms')::bigint), max(received_ms)
             FROM events WHERE site LIKE $1 || '%' AND received_ms >= $2",
        )
        .bind(prefix)
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err("measuring the bench's events"))?;
        let get = |e| db_err("reading the bench's figures")(e);
        Ok(BenchIngest {
            events: row.try_get(0).map_err(get)?,
            ended: row.try_get(1).map_err(get)?,
            latency_p50_ms: row.try_get(2).map_err(get)?,
            latency_p99_ms: row.try_get(3).map_err(get)?,
            latency_max_ms: row.try_get(4).map_err(get)?,
            last_received_ms: row.try_get(5).map_err(get)?,
        })
    }

    /// How many events the hub holds (an estimate from the planner's statistics when `estimate`).
    pub async fn count_events(&self, estimate: bool) -> Result<i64, HubError> {
        let sql = if estimate {
            "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE relname = 'events'"
        } else {
            "SELECT count(*) FROM events"
        };
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err("counting events"))
    }

    /// Bulk-loads synthetic ended events ([`BenchFill`], for the event-list benchmark): sites
    /// `bench-NNNN`, cameras `cam-N`, one every `step_ms` back from `newest_ms`, kinds, classes, colours and a rare word (`pNNNNN`) in the description,
    /// `line` being `template` (a [`vigil_uplink::wire::EventLine`] as JSON) with its id, site's camera, times and words.
    /// The secondary indexes are dropped first and built again after the last batch (far faster than
    /// keeping them up to date row by row); returns how long each part took (ms).
    pub async fn bench_fill(
        &self,
        fill: &BenchFill,
        template: &serde_json::Value,
        mut progress: impl FnMut(i64),
    ) -> Result<(u64, u64), HubError> {
        let BenchFill {
            first,
            count,
            sites,
            cameras,
            newest_ms,
            step_ms,
        } = *fill;
        let e = db_err("loading synthetic events");
        let defs: Vec<(String, String)> = sqlx::query_as(
            "SELECT indexname::text, indexdef FROM pg_indexes
             WHERE tablename = 'events' AND indexname NOT IN (
                 SELECT conname FROM pg_constraint WHERE conrelid = 'events'::regclass)",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(&e)?;
        for (name, _) in &defs {
            // Names and definitions come from the catalogue, not from outside.
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP INDEX IF EXISTS {name}")))
                .execute(&self.pool)
                .await
                .map_err(&e)?;
        }
        let started = std::time::Instant::now();
        const BATCH: i64 = 500_000;
        let mut done = 0;
        while done < count {
            let n = BATCH.min(count - done);
            let from = first + done;
            sqlx::query(
                "INSERT INTO events (id, site, camera, seq, start_ms, end_ms, kind, rule, class, phase,
                                     description, line, received_ms)
                 SELECT id, site, camera, g, start_ms, start_ms + 5000, kind, rule, class, 'end', description,
                        $6::jsonb || jsonb_build_object('id', id, 'camera', camera, 'kind', kind,
                            'rule', rule, 'class', class, 'phase', 'end', 'start_ms', start_ms,
                            'end_ms', start_ms + 5000, 'open', false, 'description', description,
                            'updated_ms', start_ms + 5000),
                        start_ms + 5100
                 FROM (
                     SELECT g, lpad(g::text, 26, '0') AS id,
                            'bench-' || lpad((g % $3)::text, 4, '0') AS site,
                            'cam-' || ((g / $3) % $4) AS camera,
                            $5 - (g - $8) * $7 AS start_ms,
                            (ARRAY['intrusion','line_crossing','loitering','crowding','queue'])[1 + g % 5] AS kind,
                            (ARRAY['Yard intrusion','Gate line','Door loitering','Hall crowding','Till queue'])[1 + g % 5] AS rule,
                            (ARRAY['person','car','truck','bicycle'])[1 + (g / 5) % 4] AS class,
                            (ARRAY['A red','A blue','A white','A black','A grey','A green','A yellow','A silver'])[1 + (g / 20) % 8]
                              || ' ' || (ARRAY['person','car','truck','bicycle'])[1 + (g / 5) % 4]
                              || ' in the zone, plate p' || lpad((g % 100000)::text, 5, '0') AS description
                     FROM generate_series($1::bigint, $2::bigint) g
                 ) s",
            )
            .bind(from)
            .bind(from + n - 1)
            .bind(sites)
            .bind(cameras)
            .bind(newest_ms)
            .bind(template)
            .bind(step_ms)
            .bind(first)
            .execute(&self.pool)
            .await
            .map_err(&e)?;
            done += n;
            progress(done);
        }
        let loaded = started.elapsed().as_millis() as u64;
        let started = std::time::Instant::now();
        let mut conn = self.pool.acquire().await.map_err(&e)?;
        sqlx::raw_sql("SET maintenance_work_mem = '1GB'")
            .execute(&mut *conn)
            .await
            .map_err(&e)?;
        for (_, def) in &defs {
            sqlx::raw_sql(sqlx::AssertSqlSafe(def.clone()))
                .execute(&mut *conn)
                .await
                .map_err(&e)?;
        }
        sqlx::raw_sql("ANALYZE events")
            .execute(&mut *conn)
            .await
            .map_err(&e)?;
        Ok((loaded, started.elapsed().as_millis() as u64))
    }
}
