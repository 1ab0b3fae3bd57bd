//! Recording integrity checks run by the server (`/api/integrity/checks*`): `vigil verify recordings` as a
//! background job (`crate::jobs`), one at a time (it hashes every file in range), with its progress and
//! report kept for the last checks, and its start and outcome in the audit log (`recordings.verify`).

use crate::jobs::{Job, Jobs};
use serde::Serialize;
use vigil_store::IntegrityReport;

/// What a check covers.
#[derive(Debug, Clone, Serialize)]
pub struct CheckScope {
    /// Only this camera (`None`: all).
    pub camera: Option<String>,
    /// Range checked (unix ms; `None`: everything).
    pub start: Option<i64>,
    /// End of the range.
    pub end: Option<i64>,
}

/// How far a check is.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Hashed {
    /// Bytes hashed so far.
    pub hashed: u64,
    /// Bytes to hash.
    pub total: u64,
}

/// One check, as the API shows it.
pub type IntegrityCheck = Job<CheckScope, Hashed, IntegrityReport>;

/// The checks of this server.
pub type IntegrityChecks = Jobs<CheckScope, Hashed, IntegrityReport>;
