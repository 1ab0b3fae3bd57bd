//! Evidence holds placed from outside a running store (`vigil hold`): footage of a camera over a range
//! that retention never deletes and erasure refuses, until the hold is released. Written through its own
//! connection to the index, so holds can be placed while `vigil run` records (retention reads the holds
//! from the index at every pass).

use crate::error::db_err;
use crate::{Mark, StoreError};
use rusqlite::Connection;
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
        crate::retention::insert_mark(&self.conn, Some(camera_id), from..to, "hold", None, note)
            .map_err(&e)
    }

    /// Every hold, oldest range first.
    pub fn list(&self) -> Result<Vec<Mark>, StoreError> {
        crate::retention::marks_where(&self.conn, "m.kind = 'hold' AND m.keep_until_90k IS NULL")
            .map_err(db_err(&self.db))
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
