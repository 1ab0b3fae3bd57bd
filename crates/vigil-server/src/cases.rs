//! Evidence cases: exports grouped under a case with notes, and the case's chain of custody.
//!
//! Cases, their notes and which exports belong to them live in `security.db` (tables `cases`,
//! `case_notes`, `case_exports`). The chain of custody is the audit log itself: every action on a case or
//! on one of its exports is also written as an entry whose target is `case:<id>` (`case.create`,
//! `case.view`, `case.note`, `case.export`, `case.download`), so it is hash-chained and anchored like every
//! other entry, and listing it is one query.

use crate::audit::{AuditEntry, entry_row};
use crate::auth::{Security, now_ms};
use crate::error::ServerError;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cases (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS case_notes (
    id INTEGER PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases (id),
    author TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS case_exports (
    export_id TEXT PRIMARY KEY,
    case_id INTEGER NOT NULL REFERENCES cases (id)
);
";

/// Longest case title.
pub const MAX_TITLE: usize = 200;
/// Longest description or note.
pub const MAX_TEXT: usize = 4000;

/// A case.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// Id.
    pub id: i64,
    /// Title (unique), e.g. a police reference.
    pub title: String,
    /// What it is about.
    pub description: String,
    /// Who opened it.
    pub created_by: String,
    /// When (unix ms).
    pub created: i64,
    /// Exports in it.
    pub exports: i64,
}

/// A note on a case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseNote {
    /// Who wrote it.
    pub author: String,
    /// When (unix ms).
    pub at: i64,
    /// The note.
    pub text: String,
}

/// The audit target of case `id`.
pub fn target(id: i64) -> String {
    format!("case:{id}")
}

fn case_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Case> {
    Ok(Case {
        id: r.get(0)?,
        title: r.get(1)?,
        description: r.get(2)?,
        created_by: r.get(3)?,
        created: r.get(4)?,
        exports: r.get(5)?,
    })
}

const CASE_COLUMNS: &str = "c.id, c.title, c.description, c.created_by, c.created_ms,
     (SELECT count(*) FROM case_exports e WHERE e.case_id = c.id)";

impl Security {
    /// Opens a case; `Invalid` when the title is taken.
    pub fn create_case(
        &self,
        title: &str,
        description: &str,
        by: &str,
    ) -> Result<i64, ServerError> {
        let db = self.db();
        let taken: bool = db
            .query_row("SELECT 1 FROM cases WHERE title = ?1", [title], |_| Ok(()))
            .optional()
            .map_err(self.e())?
            .is_some();
        if taken {
            return Err(ServerError::Invalid(format!(
                "a case called {title:?} exists"
            )));
        }
        db.execute(
            "INSERT INTO cases (title, description, created_by, created_ms) VALUES (?1, ?2, ?3, ?4)",
            params![title, description, by, now_ms()],
        )
        .map_err(self.e())?;
        Ok(db.last_insert_rowid())
    }

    /// Every case, newest first.
    pub fn cases(&self) -> Result<Vec<Case>, ServerError> {
        let db = self.db();
        let mut q = db
            .prepare(&format!(
                "SELECT {CASE_COLUMNS} FROM cases c ORDER BY c.id DESC"
            ))
            .map_err(self.e())?;
        q.query_map([], case_row)
            .map_err(self.e())?
            .collect::<Result<_, _>>()
            .map_err(self.e())
    }

    /// A case by id.
    pub fn case(&self, id: i64) -> Result<Option<Case>, ServerError> {
        self.db()
            .query_row(
                &format!("SELECT {CASE_COLUMNS} FROM cases c WHERE c.id = ?1"),
                [id],
                case_row,
            )
            .optional()
            .map_err(self.e())
    }

    /// Adds a note.
    pub fn add_case_note(&self, id: i64, author: &str, text: &str) -> Result<(), ServerError> {
        self.db()
            .execute(
                "INSERT INTO case_notes (case_id, author, at_ms, text) VALUES (?1, ?2, ?3, ?4)",
                params![id, author, now_ms(), text],
            )
            .map_err(self.e())?;
        Ok(())
    }

    /// The notes of a case, oldest first.
    pub fn case_notes(&self, id: i64) -> Result<Vec<CaseNote>, ServerError> {
        let db = self.db();
        let mut q = db
            .prepare("SELECT author, at_ms, text FROM case_notes WHERE case_id = ?1 ORDER BY id")
            .map_err(self.e())?;
        q.query_map([id], |r| {
            Ok(CaseNote {
                author: r.get(0)?,
                at: r.get(1)?,
                text: r.get(2)?,
            })
        })
        .map_err(self.e())?
        .collect::<Result<_, _>>()
        .map_err(self.e())
    }

    /// Files export `export_id` under case `id`.
    pub fn add_case_export(&self, id: i64, export_id: &str) -> Result<(), ServerError> {
        self.db()
            .execute(
                "INSERT OR REPLACE INTO case_exports (export_id, case_id) VALUES (?1, ?2)",
                params![export_id, id],
            )
            .map_err(self.e())?;
        Ok(())
    }

    /// The case export `export_id` belongs to.
    pub fn case_of_export(&self, export_id: &str) -> Result<Option<i64>, ServerError> {
        self.db()
            .query_row(
                "SELECT case_id FROM case_exports WHERE export_id = ?1",
                [export_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.e())
    }

    /// The ids of the exports of case `id`.
    pub fn case_export_ids(&self, id: i64) -> Result<Vec<String>, ServerError> {
        let db = self.db();
        let mut q = db
            .prepare("SELECT export_id FROM case_exports WHERE case_id = ?1 ORDER BY rowid")
            .map_err(self.e())?;
        q.query_map([id], |r| r.get(0))
            .map_err(self.e())?
            .collect::<Result<_, _>>()
            .map_err(self.e())
    }

    /// The chain of custody of case `id`: its audit entries, oldest first.
    pub fn custody(&self, id: i64) -> Result<Vec<AuditEntry>, ServerError> {
        let db = self.db();
        let mut q = db
            .prepare(
                "SELECT id, at_ms, user, ip, action, target, detail FROM audit
                 WHERE target = ?1 ORDER BY id",
            )
            .map_err(self.e())?;
        q.query_map([target(id)], entry_row)
            .map_err(self.e())?
            .collect::<Result<_, _>>()
            .map_err(self.e())
    }
}
