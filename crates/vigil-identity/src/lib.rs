//! Watchlists of enrolled people and their face templates ([`FaceBook`]), in `data_dir/identity.db`;
//! `[faces]` ([`config`]), licence plates as text with their lists ([`plates`]), and the camera links
//! that re-rank sightings across cameras ([`transit`]).
//!
//! Biometric data is kept to the minimum and sealed: a template is the 128-d face embedding only (no
//! photo), sealed with AES-256-GCM under the `face-templates` data key of the key store (wrapped by the
//! master key, so `vigil keys rotate` rewraps it and templates keep opening), bound to its person and
//! row by the associated data. Erasing a person deletes their templates and row in one transaction and
//! says how many went; the database is owner-only and erased pages are overwritten (`secure_delete`).

pub mod config;
pub mod plate_lists;
pub mod plates;
pub mod transit;

pub use config::{CameraFaces, FacesConfig};
pub use plate_lists::{ListSource, ListedPlate, PlateList, PlateLists};
pub use plates::{PlateMatch, PlatesConfig};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::path::{Path, PathBuf};
pub use transit::{CameraLink, CameraLinks, Transit};
use vigil_keys::{KeyStore, SecretBox};

/// File name of the identity database in the data directory.
pub const DB_FILE: &str = "identity.db";
/// Name and purpose of the key that seals face templates.
pub const TEMPLATE_KEY: (&str, &str) = ("faces", "face-templates");
/// Longest person or list name.
pub const MAX_NAME: usize = 100;
const MAGIC: &[u8] = b"VFT1";

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The database failed.
    #[error("{path}: {source}")]
    Db {
        /// The database.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// The key store failed, or a template does not open.
    #[error(transparent)]
    Keys(#[from] vigil_keys::KeyError),
    /// Enrolling a name that exists.
    #[error("{0:?} is already enrolled: erase it first, or choose another name")]
    Exists(String),
    /// No such person.
    #[error("nobody called {0:?} is enrolled")]
    Unknown(String),
    /// A name or template that cannot be stored.
    #[error("{0}")]
    Invalid(String),
    /// A change to what `vigil.toml` sets.
    #[error("{0} is set in vigil.toml: change it there")]
    FromConfig(String),
    /// A plate that is not on the list.
    #[error("{plate:?} is not on the plate list {list:?}")]
    NotListed {
        /// The list.
        list: String,
        /// The plate asked for.
        plate: String,
    },
}

/// A person on a watchlist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Person {
    /// Row id.
    pub id: i64,
    /// Their name, unique.
    pub name: String,
    /// The watchlist they are on.
    pub list: String,
    /// Face templates held.
    pub templates: usize,
    /// When enrolled (unix ms).
    pub enrolled: i64,
    /// Who enrolled them.
    pub by: String,
}

/// The best enrolled match of a face.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceMatch {
    /// Who.
    pub name: String,
    /// Their watchlist.
    pub list: String,
    /// Cosine similarity of the best template.
    pub score: f32,
}

/// What erasing a person removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErasedPerson {
    /// Who.
    pub name: String,
    /// Their watchlist.
    pub list: String,
    /// Face templates deleted.
    pub templates: usize,
}

/// The watchlists and their templates.
pub struct FaceBook {
    conn: Connection,
    path: PathBuf,
    sealer: SecretBox,
}

impl std::fmt::Debug for FaceBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaceBook({})", self.path.display())
    }
}

fn check_name(what: &str, v: &str) -> Result<String, IdentityError> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > MAX_NAME || v.chars().any(char::is_control) {
        return Err(IdentityError::Invalid(format!(
            "{what}: 1 to {MAX_NAME} characters, no control characters"
        )));
    }
    Ok(v.to_string())
}

fn aad(person: i64, template: i64) -> Vec<u8> {
    format!("vigil face template v1|{person}|{template}").into_bytes()
}

/// Opens (creating it owner-only) the identity database of `data_dir`: WAL, erased pages overwritten,
/// foreign keys on, waiting up to 5 s for another connection's write.
fn open_db(data_dir: &Path) -> Result<(Connection, PathBuf), IdentityError> {
    let path = data_dir.join(DB_FILE);
    if !data_dir.exists() {
        vigil_keys::fsmode::create_private_dir(data_dir)?;
    }
    if !path.exists() {
        vigil_keys::fsmode::private_file(&path, true)
            .map_err(|e| IdentityError::Invalid(format!("creating {}: {e}", path.display())))?;
    }
    let db = |source| IdentityError::Db {
        path: path.clone(),
        source,
    };
    let conn = Connection::open(&path).map_err(db)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA secure_delete = ON;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;",
    )
    .map_err(db)?;
    Ok((conn, path))
}

impl FaceBook {
    /// Opens (creating it owner-only) the identity database of `data_dir`, sealing with the key store's
    /// template key (created at first use).
    pub fn open(data_dir: &Path, keys: &KeyStore) -> Result<FaceBook, IdentityError> {
        let (conn, path) = open_db(data_dir)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS people (
                 id INTEGER PRIMARY KEY,
                 name TEXT NOT NULL UNIQUE,
                 list TEXT NOT NULL,
                 enrolled_ms INTEGER NOT NULL,
                 enrolled_by TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS face_templates (
                 id INTEGER PRIMARY KEY,
                 person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
                 sealed BLOB NOT NULL,
                 source TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS face_templates_person ON face_templates (person_id);",
        )
        .map_err(|source| IdentityError::Db {
            path: path.clone(),
            source,
        })?;
        let (key, _) = keys.data_key(TEMPLATE_KEY.0, TEMPLATE_KEY.1)?;
        Ok(FaceBook {
            conn,
            sealer: SecretBox::new(key.bytes(), MAGIC)?,
            path,
        })
    }

    fn e(&self) -> impl Fn(rusqlite::Error) -> IdentityError + '_ {
        |source| IdentityError::Db {
            path: self.path.clone(),
            source,
        }
    }

    /// Enrols `name` on `list` with `templates` (unit-length embeddings, with where each came from).
    /// Refused when the name exists. Returns the person's id.
    pub fn enrol(
        &mut self,
        name: &str,
        list: &str,
        by: &str,
        templates: &[(Vec<f32>, String)],
    ) -> Result<i64, IdentityError> {
        let name = check_name("name", name)?;
        let list = check_name("list", list)?;
        if templates.is_empty() {
            return Err(IdentityError::Invalid("no face to enrol".into()));
        }
        if templates
            .iter()
            .any(|(t, _)| t.is_empty() || t.iter().any(|v| !v.is_finite()))
        {
            return Err(IdentityError::Invalid(
                "a template that is not a vector".into(),
            ));
        }
        let path = self.path.clone();
        let e = move |source| IdentityError::Db {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&e)?;
        let exists: Option<i64> = tx
            .query_row("SELECT id FROM people WHERE name = ?1", [&name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(&e)?;
        if exists.is_some() {
            return Err(IdentityError::Exists(name));
        }
        tx.execute(
            "INSERT INTO people (name, list, enrolled_ms, enrolled_by) VALUES (?1, ?2, ?3, ?4)",
            params![name, list, vigil_core::time::now_unix_ms(), by],
        )
        .map_err(&e)?;
        let person = tx.last_insert_rowid();
        for (t, source) in templates {
            tx.execute(
                "INSERT INTO face_templates (person_id, sealed, source) VALUES (?1, x'', ?2)",
                params![person, source],
            )
            .map_err(&e)?;
            let id = tx.last_insert_rowid();
            let bytes = vigil_core::embedding::to_bytes(t);
            let sealed = self.sealer.seal(&aad(person, id), &bytes)?;
            tx.execute(
                "UPDATE face_templates SET sealed = ?1 WHERE id = ?2",
                params![sealed, id],
            )
            .map_err(&e)?;
        }
        tx.commit().map_err(&e)?;
        Ok(person)
    }

    /// Everyone enrolled, by name.
    pub fn people(&self) -> Result<Vec<Person>, IdentityError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT p.id, p.name, p.list, p.enrolled_ms, p.enrolled_by,
                        (SELECT COUNT(*) FROM face_templates t WHERE t.person_id = p.id)
                 FROM people p ORDER BY p.name",
            )
            .map_err(self.e())?;
        q.query_map([], |r| {
            Ok(Person {
                id: r.get(0)?,
                name: r.get(1)?,
                list: r.get(2)?,
                enrolled: r.get(3)?,
                by: r.get(4)?,
                templates: r.get::<_, i64>(5)? as usize,
            })
        })
        .map_err(self.e())?
        .collect::<Result<_, _>>()
        .map_err(self.e())
    }

    /// The enrolled person whose best template is most like `embedding`, if it scores at least
    /// `threshold` (cosine of unit vectors).
    pub fn best_match(
        &self,
        embedding: &[f32],
        threshold: f32,
    ) -> Result<Option<FaceMatch>, IdentityError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT t.id, t.person_id, t.sealed, p.name, p.list
                 FROM face_templates t JOIN people p ON p.id = t.person_id",
            )
            .map_err(self.e())?;
        let rows: Vec<(i64, i64, Vec<u8>, String, String)> = q
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(self.e())?
            .collect::<Result<_, _>>()
            .map_err(self.e())?;
        let mut best: Option<FaceMatch> = None;
        for (id, person, sealed, name, list) in rows {
            let bytes = self.sealer.open(&aad(person, id), &sealed)?;
            if bytes.len() != embedding.len() * 4 {
                continue;
            }
            let score = vigil_core::embedding::cosine(
                &vigil_core::embedding::from_bytes(&bytes),
                embedding,
            );
            if score >= threshold && best.as_ref().is_none_or(|b| score > b.score) {
                best = Some(FaceMatch { name, list, score });
            }
        }
        Ok(best)
    }

    /// Erases `name`: their templates and their row, in one transaction.
    pub fn erase(&mut self, name: &str) -> Result<ErasedPerson, IdentityError> {
        let path = self.path.clone();
        let e = move |source| IdentityError::Db {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&e)?;
        let row: Option<(i64, String)> = tx
            .query_row(
                "SELECT id, list FROM people WHERE name = ?1",
                [name.trim()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(&e)?;
        let Some((id, list)) = row else {
            return Err(IdentityError::Unknown(name.trim().to_string()));
        };
        let templates = tx
            .execute("DELETE FROM face_templates WHERE person_id = ?1", [id])
            .map_err(&e)?;
        tx.execute("DELETE FROM people WHERE id = ?1", [id])
            .map_err(&e)?;
        tx.commit().map_err(&e)?;
        // Erased pages are overwritten (secure_delete); the WAL is folded back and emptied too.
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
        Ok(ErasedPerson {
            name: name.trim().to_string(),
            list,
            templates,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_keys::MasterSource;

    /// A pseudo-random unit vector (xorshift from `seed`).
    fn unit(seed: u32) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9e37_79b9) | 1;
        let v: Vec<f32> = (0..128)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x % 2000) as f32 - 1000.0
            })
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn enrol_match_erase_and_no_template_in_the_clear() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyStore::open(dir.path(), &MasterSource::Generated).unwrap();
        let mut book = FaceBook::open(dir.path(), &keys).unwrap();
        let alice = unit(1);
        book.enrol("Alice", "staff", "test", &[(alice.clone(), "a.jpg".into())])
            .unwrap();
        book.enrol("Bob", "staff", "test", &[(unit(2), "b.jpg".into())])
            .unwrap();
        assert!(matches!(
            book.enrol(" Alice ", "staff", "test", &[(unit(3), "c.jpg".into())]),
            Err(IdentityError::Exists(_))
        ));
        let m = book.best_match(&alice, 0.68).unwrap().unwrap();
        assert_eq!(m.name, "Alice");
        assert!((m.score - 1.0).abs() < 1e-4);
        assert!(book.best_match(&unit(9), 0.68).unwrap().is_none());
        // The file holds no template in the clear.
        let raw: Vec<u8> = alice[..4].iter().flat_map(|v| v.to_le_bytes()).collect();
        drop(book);
        for f in ["identity.db", "identity.db-wal"] {
            if let Ok(bytes) = std::fs::read(dir.path().join(f)) {
                assert!(
                    !bytes.windows(raw.len()).any(|w| w == raw),
                    "{f} holds a template"
                );
            }
        }
        let mut book = FaceBook::open(dir.path(), &keys).unwrap();
        let gone = book.erase("Alice").unwrap();
        assert_eq!((gone.templates, gone.list.as_str()), (1, "staff"));
        assert!(book.best_match(&alice, 0.68).unwrap().is_none());
        assert_eq!(book.people().unwrap().len(), 1);
        assert!(matches!(
            book.erase("Alice"),
            Err(IdentityError::Unknown(_))
        ));
    }
}
