//! Dual authorization for sensitive cameras (`[[camera]] sensitive = true`): playing or exporting their
//! recordings needs a request (camera, time range, playback or export, reason) approved by a second user
//! holding `approve`. An approval is valid for [`VALID_FOR_MS`] after it was given, for its requester only,
//! for ranges inside the requested one. Requests, approvals and denials are audited
//! (`approval.request`, `approval.approve`, `approval.deny`) and kept in `security.db` (`approvals`).

use crate::auth::{Security, now_ms};
use crate::error::ServerError;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS approvals (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    requested_by TEXT NOT NULL,
    camera TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    state TEXT NOT NULL,
    requested_ms INTEGER NOT NULL,
    decided_by TEXT,
    decided_by_id INTEGER,
    decided_ms INTEGER
);
";

/// How long an approval lets its requester in (one hour).
pub const VALID_FOR_MS: i64 = 3_600_000;

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalAction {
    /// Watch the recordings.
    Playback,
    /// Export them.
    Export,
}

impl ApprovalAction {
    /// `playback` or `export`.
    pub fn name(self) -> &'static str {
        match self {
            ApprovalAction::Playback => "playback",
            ApprovalAction::Export => "export",
        }
    }

    /// The action of a name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "playback" => Some(ApprovalAction::Playback),
            "export" => Some(ApprovalAction::Export),
            _ => None,
        }
    }
}

/// A request as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    /// Id.
    pub id: i64,
    /// Who asked.
    pub requested_by: String,
    /// The camera.
    pub camera: String,
    /// Range start (unix ms).
    pub start: i64,
    /// Range end (unix ms).
    pub end: i64,
    /// `playback` or `export`.
    pub action: String,
    /// Why.
    pub reason: String,
    /// `pending`, `approved`, `denied` or `expired`.
    pub state: String,
    /// When asked (unix ms).
    pub requested: i64,
    /// Who decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// When (unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided: Option<i64>,
    /// The requester's user id.
    #[serde(skip)]
    pub user_id: i64,
}

const COLUMNS: &str =
    "id, requested_by, camera, start_ms, end_ms, action, reason, state, requested_ms,
     decided_by, decided_ms, user_id";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Approval> {
    let mut a = Approval {
        id: r.get(0)?,
        requested_by: r.get(1)?,
        camera: r.get(2)?,
        start: r.get(3)?,
        end: r.get(4)?,
        action: r.get(5)?,
        reason: r.get(6)?,
        state: r.get(7)?,
        requested: r.get(8)?,
        decided_by: r.get(9)?,
        decided: r.get(10)?,
        user_id: r.get(11)?,
    };
    if a.state == "approved" && a.decided.is_some_and(|d| now_ms() - d > VALID_FOR_MS) {
        a.state = "expired".into();
    }
    Ok(a)
}

impl Security {
    /// Records a pending request; returns its id.
    pub fn request_approval(
        &self,
        (user_id, by): (i64, &str),
        camera: &str,
        (start_ms, end_ms): (i64, i64),
        action: ApprovalAction,
        reason: &str,
    ) -> Result<i64, ServerError> {
        let db = self.db();
        db.execute(
            "INSERT INTO approvals (user_id, requested_by, camera, start_ms, end_ms, action, reason,
                 state, requested_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8)",
            params![user_id, by, camera, start_ms, end_ms, action.name(), reason, now_ms()],
        )
        .map_err(self.e())?;
        Ok(db.last_insert_rowid())
    }

    /// A request by id.
    pub fn approval(&self, id: i64) -> Result<Option<Approval>, ServerError> {
        self.db()
            .query_row(
                &format!("SELECT {COLUMNS} FROM approvals WHERE id = ?1"),
                [id],
                row,
            )
            .optional()
            .map_err(self.e())
    }

    /// The newest requests (at most 200), newest first.
    pub fn approvals(&self) -> Result<Vec<Approval>, ServerError> {
        let db = self.db();
        let mut q = db
            .prepare(&format!(
                "SELECT {COLUMNS} FROM approvals ORDER BY id DESC LIMIT 200"
            ))
            .map_err(self.e())?;
        q.query_map([], row)
            .map_err(self.e())?
            .collect::<Result<_, _>>()
            .map_err(self.e())
    }

    /// Decides a pending request (`approved` or `denied`): `Invalid` when it is not pending, `Forbidden`
    /// when the decider is the requester.
    pub fn decide_approval(
        &self,
        id: i64,
        (decider_id, decider): (i64, &str),
        approve: bool,
    ) -> Result<Approval, ServerError> {
        let a = self
            .approval(id)?
            .ok_or_else(|| ServerError::NotFound(format!("no approval request {id}")))?;
        if a.user_id == decider_id {
            return Err(ServerError::Forbidden(
                "a request is approved by a second user, not by its requester".into(),
            ));
        }
        let state = if approve { "approved" } else { "denied" };
        let changed = self
            .db()
            .execute(
                "UPDATE approvals SET state = ?2, decided_by = ?3, decided_by_id = ?4, decided_ms = ?5
                 WHERE id = ?1 AND state = 'pending'",
                params![id, state, decider, decider_id, now_ms()],
            )
            .map_err(self.e())?;
        if changed == 0 {
            return Err(ServerError::Invalid(format!(
                "request {id} is {}, not pending",
                a.state
            )));
        }
        self.approval(id)?
            .ok_or_else(|| ServerError::NotFound(format!("no approval request {id}")))
    }

    /// Whether user `user_id` holds a valid approval for `action` on `camera` covering `start..end`.
    pub fn approved(
        &self,
        user_id: i64,
        camera: &str,
        (start_ms, end_ms): (i64, i64),
        action: ApprovalAction,
    ) -> Result<bool, ServerError> {
        let found: Option<i64> = self
            .db()
            .query_row(
                "SELECT id FROM approvals WHERE user_id = ?1 AND camera = ?2 AND action = ?3
                     AND state = 'approved' AND decided_ms >= ?4
                     AND start_ms <= ?5 AND end_ms >= ?6 LIMIT 1",
                params![
                    user_id,
                    camera,
                    action.name(),
                    now_ms() - VALID_FOR_MS,
                    start_ms,
                    end_ms
                ],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.e())?;
        Ok(found.is_some())
    }
}
