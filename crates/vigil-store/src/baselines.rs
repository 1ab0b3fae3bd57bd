//! Activity baselines in the index (`activity_baselines`): what `vigil run` learned of each camera's
//! normal per hour of the week ([`vigil_rules::baseline`]), kept across restarts. One row per camera,
//! measure and hour-of-week slot; the analysis thread rewrites the rows of the slot it learned, once a
//! minute, on a connection of its own.

use crate::error::{StoreError, db_err};
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use vigil_rules::{BaselinePersist, SlotRecord, SlotStats};

/// Reads and writes activity baselines (one per camera's analysis thread).
pub struct BaselineStore {
    path: PathBuf,
    conn: Connection,
}

impl BaselineStore {
    /// Opens the index at `path` for baselines (migrating it when needed).
    pub fn open(path: &Path) -> Result<BaselineStore, StoreError> {
        Ok(BaselineStore {
            path: path.to_path_buf(),
            conn: crate::schema::open_rw(path)?,
        })
    }

    /// Every slot learned for `camera`.
    pub fn load(&self, camera: &str) -> Result<Vec<SlotRecord>, StoreError> {
        let e = db_err(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT key, slot, samples, weeks, mean, var, last_ms FROM activity_baselines
                 WHERE camera = ?1",
            )
            .map_err(&e)?;
        let rows = stmt
            .query_map([camera], |r| {
                Ok(SlotRecord {
                    key: r.get(0)?,
                    slot: r.get(1)?,
                    stats: SlotStats {
                        samples: r.get(2)?,
                        weeks: r.get(3)?,
                        mean: r.get(4)?,
                        var: r.get(5)?,
                        last_ms: r.get(6)?,
                    },
                })
            })
            .map_err(&e)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(&e)
    }

    /// Writes (replaces) these slots of `camera` in one transaction.
    pub fn save(&mut self, camera: &str, records: &[SlotRecord]) -> Result<(), StoreError> {
        let e = db_err(&self.path);
        let tx = crate::schema::write_tx(&mut self.conn).map_err(&e)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO activity_baselines
                     (camera, key, slot, samples, weeks, mean, var, last_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(&e)?;
            for r in records {
                let s = &r.stats;
                stmt.execute(params![
                    camera, r.key, r.slot, s.samples, s.weeks, s.mean, s.var, s.last_ms
                ])
                .map_err(&e)?;
            }
        }
        tx.commit().map_err(&e)
    }
}

/// Baselines kept in the index for the analysis thread (errors as text: the thread logs them and goes on
/// learning in memory).
pub struct PersistedBaselines(std::sync::Mutex<BaselineStore>);

impl PersistedBaselines {
    /// Baselines in `store`.
    pub fn new(store: BaselineStore) -> PersistedBaselines {
        PersistedBaselines(std::sync::Mutex::new(store))
    }
}

impl BaselinePersist for PersistedBaselines {
    fn load(&self, camera: &str) -> Result<Vec<SlotRecord>, String> {
        let s = self
            .0
            .lock()
            .map_err(|_| "baseline store poisoned".to_string())?;
        s.load(camera).map_err(|e| e.to_string())
    }

    fn save(&self, camera: &str, records: &[SlotRecord]) -> Result<(), String> {
        let mut s = self
            .0
            .lock()
            .map_err(|_| "baseline store poisoned".to_string())?;
        s.save(camera, records).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_survive_reopening_and_rows_are_replaced() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let Ok(dir) = dir else { panic!("no temp dir") };
        let db = dir.path().join("index.db");
        let rec = |mean| SlotRecord {
            key: "count:person@Loading dock".into(),
            slot: 27,
            stats: SlotStats {
                samples: 60,
                weeks: 1,
                mean,
                var: 0.2,
                last_ms: 1_700_000_000_000,
            },
        };
        {
            let Ok(mut s) = BaselineStore::open(&db) else {
                panic!("open")
            };
            assert!(s.save("dock", &[rec(0.5)]).is_ok());
            assert!(s.save("dock", &[rec(0.25)]).is_ok());
        }
        let Ok(s) = BaselineStore::open(&db) else {
            panic!("reopen")
        };
        let p = PersistedBaselines::new(s);
        assert_eq!(p.load("dock"), Ok(vec![rec(0.25)]));
        assert_eq!(p.load("gate"), Ok(vec![]));
    }
}
