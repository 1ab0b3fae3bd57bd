//! A central user as the hub sends it to a site (the hub's users are cached by each site they may use,
//! for a bounded time): the one definition shared by the hub, the link and the site's security database.

use serde::{Deserialize, Serialize};

/// A user of the hub as a site receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CentralAccount {
    /// Login name.
    pub username: String,
    /// Role name (`admin`, `operator`, `viewer`, …).
    pub role: String,
    /// Cameras of this site the user may see (`None`: all).
    pub cameras: Option<Vec<String>>,
    /// The argon2id hash of the password (PHC string); never the password.
    pub password_hash: String,
    /// May watch recordings (viewers).
    #[serde(default)]
    pub playback: bool,
    /// May export (viewers).
    #[serde(default)]
    pub export: bool,
}
