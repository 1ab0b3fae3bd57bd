//! Evidence holds placed from outside a running store (`vigil hold`): footage of a camera over a range
//! that retention never deletes and erasure refuses, until the hold is released. Written through its own
//! connection to the index, so holds can be placed while `vigil run` records (retention reads the holds
//! from the index at every pass).

use crate::error::db_err;
use crate::{Mark, StoreError};
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use vigil_core::Time90k;

/// The holds of an index.
pub struct Holds {
    conn: Connection,
    db: PathBuf,
}

impl Holds {
    /// Opens the index at `db` (it must exist: a store that has recorded).
    pub fn open(db: &Path) -> Result<Holds, StoreError> {
        if !db.exists() {
            return Err(StoreError::Config(format!(
                "{}: no recording index (nothing recorded yet)",
                db.display()
            )));
        }
        Ok(Holds {
            conn: crate::schema::open_rw(db)?,
            db: db.to_path_buf(),
        })
    }

    /// Places a hold on `camera`'s footage in `[from, to)` with a note (a case reference). Returns its id.
    pub fn add(
        &self,
        camera: &str,
        from: Time90k,
        to: Time90k,
        note: &str,
    ) -> Result<i64, StoreError> {
        if to <= from {
            return Err(StoreError::EmptyRange { from, to });
        }
        let e = db_err(&self.db);
        let camera_id: i64 = self
            .conn
            .query_row("SELECT id FROM cameras WHERE name = ?1", [camera], |r| {
                r.get(0)
            })
            .map_err(|_| StoreError::UnknownCamera {
                name: camera.to_string(),
                known: Vec::new(),
            })?;
        self.conn
            .execute(
                "INSERT INTO marks (camera_id, start_90k, end_90k, kind, keep_until_90k, note, created_90k)
                 VALUES (?1, ?2, ?3, 'hold', NULL, ?4, ?5)",
                params![camera_id, from.0, to.0, note, crate::alerts::now_90k()],
            )
            .map_err(&e)?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Every hold, oldest range first.
    pub fn list(&self) -> Result<Vec<Mark>, StoreError> {
        let e = db_err(&self.db);
        let mut q = self
            .conn
            .prepare(
                "SELECT m.id, c.name, m.start_90k, m.end_90k, m.kind, m.keep_until_90k, m.note
                 FROM marks m LEFT JOIN cameras c ON c.id = m.camera_id
                 WHERE m.kind = 'hold' AND m.keep_until_90k IS NULL ORDER BY m.start_90k, m.id",
            )
            .map_err(&e)?;
        q.query_map([], |r| {
            Ok(Mark {
                id: r.get(0)?,
                camera: r.get(1)?,
                start: Time90k(r.get(2)?),
                end: Time90k(r.get(3)?),
                kind: r.get(4)?,
                keep_until: None,
                note: r.get(6)?,
            })
        })
        .map_err(&e)?
        .collect::<Result<_, _>>()
        .map_err(&e)
    }

    /// Releases hold `id`; false when there is no such hold.
    pub fn release(&self, id: i64) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM marks WHERE id = ?1 AND kind = 'hold'", [id])
            .map_err(db_err(&self.db))?;
        Ok(n > 0)
    }
}
