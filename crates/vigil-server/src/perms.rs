//! Roles, permissions and who is asking ([`Principal`]).
//!
//! | permission | admin | operator | viewer | auditor | analyst | API token scope |
//! |---|---|---|---|---|---|---|
//! | `cameras` (list cameras: names and state, no picture) | yes | yes | yes | - | yes | yes |
//! | `live` | yes | yes | yes | - | - | yes |
//! | `playback` (recorded video) | yes | yes | with the user's `playback` flag | - | - | yes |
//! | `export` | yes | yes | with the user's `export` flag | - | - | yes |
//! | `export_unredacted` (faces and plates left clear) | yes | yes | - | - | - | yes |
//! | `approve` (another user's access to a sensitive camera's recordings) | yes | yes | - | - | - | never |
//! | `privacy` (retention maximums, erasures) | - | - | - | yes | - | never |
//! | `faces` (watchlists: biometric data) | yes | - | - | - | - | never |
//! | `events` (events and their snapshots) | yes | yes | yes | - | - | yes |
//! | `system` | yes | yes | yes | yes | yes | yes |
//! | `metrics` | yes | - | - | - | - | yes |
//! | `audit` (audit log, integrity checks) | yes | - | - | yes | - | yes |
//! | `users`, `tokens` (administration) | yes | - | - | - | - | never |
//! | `layouts` (camera groups and wall displays) | yes | - | - | - | - | never |
//! | `config` (change `vigil.toml` from the browser: cameras, zones, lines, masks, rules; ONVIF discovery) | yes | - | - | - | - | never |
//! | `ptz` (move PTZ cameras, go to and set presets) | yes | yes | - | - | - | yes |
//! | `analytics` (dashboards: counts, charts, heatmaps, CSV; stored reports) | yes | yes | - | - | yes | yes |
//!
//! The analyst sees figures, never a picture: no live or recorded video, no snapshots, no faces (their
//! heatmaps are drawn over a blank background, not the camera's thumbnail).
//!
//! An API token acts for the user who created it, with the intersection of its scopes and that user's
//! permissions (checked on every request, so demoting the user demotes the token) and the same camera
//! scope.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including users and tokens.
    Admin,
    /// Live, playback, export, events, system.
    Operator,
    /// Live and events; playback and export only with the user's flags.
    Viewer,
    /// The audit log and the system page.
    Auditor,
    /// Dashboards and reports (counts, charts, heatmaps) and camera names; no video, snapshots or faces.
    Analyst,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Operator,
        Role::Viewer,
        Role::Auditor,
        Role::Analyst,
    ];

    /// `admin`, `operator`, `viewer`, `auditor` or `analyst`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
            Role::Analyst => "analyst",
        }
    }

    /// The role of a name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// Something a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// List cameras.
    Cameras,
    /// Watch live video.
    Live,
    /// Watch recorded video.
    Playback,
    /// Export recorded video.
    Export,
    /// Export without blurring faces and licence plates.
    ExportUnredacted,
    /// Approve another user's request to play or export a sensitive camera's recordings.
    Approve,
    /// Set the retention maximums nobody can exceed (the auditor's alone: not even admins).
    Privacy,
    /// See and manage watchlists of enrolled people (biometric data; separate from watching video).
    Faces,
    /// List events and their snapshots.
    Events,
    /// System health.
    System,
    /// Prometheus metrics.
    Metrics,
    /// Read the audit log.
    Audit,
    /// Manage users.
    Users,
    /// Manage API tokens.
    Tokens,
    /// See and change the licence plate lists (admins; a token may carry it, for a gate system that
    /// keeps a list in step).
    PlateLists,
    /// Make and change camera groups and wall displays (kiosk tokens).
    Layouts,
    /// Read and change the configuration (`vigil.toml`) from the browser, discover ONVIF cameras.
    Config,
    /// Move PTZ cameras and use their presets.
    Ptz,
    /// Dashboards (footfall, occupancy, dwell, queues, heatmaps), their CSV and the stored reports.
    Analytics,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 19] = [
        Permission::Cameras,
        Permission::Live,
        Permission::Playback,
        Permission::Export,
        Permission::ExportUnredacted,
        Permission::Approve,
        Permission::Privacy,
        Permission::Faces,
        Permission::Events,
        Permission::System,
        Permission::Metrics,
        Permission::Audit,
        Permission::Users,
        Permission::Tokens,
        Permission::PlateLists,
        Permission::Layouts,
        Permission::Config,
        Permission::Ptz,
        Permission::Analytics,
    ];

    /// Its name in scopes and the OpenAPI description.
    pub fn name(self) -> &'static str {
        match self {
            Permission::Cameras => "cameras",
            Permission::Live => "live",
            Permission::Playback => "playback",
            Permission::Export => "export",
            Permission::ExportUnredacted => "export_unredacted",
            Permission::Approve => "approve",
            Permission::Privacy => "privacy",
            Permission::Faces => "faces",
            Permission::Events => "events",
            Permission::System => "system",
            Permission::Metrics => "metrics",
            Permission::Audit => "audit",
            Permission::Users => "users",
            Permission::Tokens => "tokens",
            Permission::PlateLists => "plate_lists",
            Permission::Layouts => "layouts",
            Permission::Config => "config",
            Permission::Ptz => "ptz",
            Permission::Analytics => "analytics",
        }
    }

    /// The permission of a name.
    pub fn parse(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether an API token may carry it (administration never).
    pub fn token_scope(self) -> bool {
        !matches!(
            self,
            Permission::Users
                | Permission::Tokens
                | Permission::Approve
                | Permission::Privacy
                | Permission::Faces
                | Permission::Layouts
                | Permission::Config
        )
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// A set of permissions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Permissions(u32);

impl Permissions {
    /// Whether it holds `p`.
    pub fn has(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    /// Adds `p`.
    pub fn add(&mut self, p: Permission) {
        self.0 |= p.bit();
    }

    /// Both sets.
    pub fn intersect(self, other: Permissions) -> Permissions {
        Permissions(self.0 & other.0)
    }

    /// The names, in [`Permission::ALL`] order.
    pub fn names(self) -> Vec<&'static str> {
        Permission::ALL
            .into_iter()
            .filter(|p| self.has(*p))
            .map(Permission::name)
            .collect()
    }

    /// A set from permissions.
    pub fn of(list: &[Permission]) -> Permissions {
        let mut s = Permissions::default();
        for p in list {
            s.add(*p);
        }
        s
    }

    /// What a user of `role` with the given extra flags may do.
    pub fn for_role(role: Role, playback: bool, export: bool) -> Permissions {
        use Permission as P;
        let mut s = match role {
            // Everything but the auditor's retention maximums: separation of duties.
            Role::Admin => {
                let mut all = Permissions::of(&Permission::ALL);
                all.0 &= !P::Privacy.bit();
                all
            }
            Role::Operator => Permissions::of(&[
                P::Ptz,
                P::Cameras,
                P::Live,
                P::Playback,
                P::Export,
                P::ExportUnredacted,
                P::Approve,
                P::Events,
                P::System,
                P::Analytics,
            ]),
            Role::Viewer => Permissions::of(&[P::Cameras, P::Live, P::Events, P::System]),
            Role::Auditor => Permissions::of(&[P::Audit, P::System, P::Privacy]),
            Role::Analyst => Permissions::of(&[P::Cameras, P::Analytics, P::System]),
        };
        if role == Role::Viewer {
            if playback {
                s.add(P::Playback);
            }
            if export {
                s.add(P::Export);
            }
        }
        s
    }
}

/// How a request authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A login session (cookie).
    Session {
        /// SHA-256 of the session id, hex (the row key).
        hash: String,
        /// The session's CSRF token.
        csrf: String,
    },
    /// An API token.
    Token {
        /// The token's id.
        id: i64,
    },
    /// A wall display's token (kiosk mode: live view of one camera group, no idle timeout).
    Display {
        /// The display's id.
        id: i64,
        /// Its name.
        name: String,
    },
}

/// Who is asking: the user, what they may do, and from where.
#[derive(Debug, Clone)]
pub struct Principal {
    /// User id.
    pub user_id: i64,
    /// User name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Cameras the user may see (`None`: all).
    pub cameras: Option<Vec<String>>,
    /// Effective permissions.
    pub perms: Permissions,
    /// Session or token.
    pub via: Via,
    /// The session still has to enrol MFA (its role requires it) before anything but `/api/me*`.
    pub mfa_pending: bool,
}

impl Principal {
    /// Which session or token is asking (`session <hash>`, `token <id>`): the key repeated requests of one
    /// client are merged under in the audit log.
    pub fn via_key(&self) -> String {
        match &self.via {
            Via::Session { hash, .. } => format!("session {hash}"),
            Via::Token { id } => format!("token {id}"),
            Via::Display { id, .. } => format!("display {id}"),
        }
    }

    /// Whether the request came with a browser cookie (a session or a wall display), so that the
    /// origin of WebSocket upgrades must be checked.
    pub fn by_cookie(&self) -> bool {
        matches!(self.via, Via::Session { .. } | Via::Display { .. })
    }

    /// Whether the principal holds `p`.
    pub fn can(&self, p: Permission) -> bool {
        !self.mfa_pending && self.perms.has(p)
    }

    /// Whether the principal may see camera `name`.
    pub fn sees(&self, name: &str) -> bool {
        self.cameras
            .as_ref()
            .is_none_or(|list| list.iter().any(|c| c == name))
    }

    /// Whether the principal may see event `e`: its camera is theirs, and a biometric event (who someone
    /// is) only with the `faces` permission. Every route that serves one event asks this.
    pub fn sees_event(&self, e: &vigil_core::Event) -> bool {
        self.sees(&e.camera) && (!e.kind.is_biometric() || self.can(Permission::Faces))
    }

    /// The name written into the audit log (`alice`, or `alice (token 3)`).
    pub fn audit_name(&self) -> String {
        match &self.via {
            Via::Session { .. } => self.username.clone(),
            Via::Token { id } => format!("{} (token {id})", self.username),
            Via::Display { id, name } => format!("display {id} ({name}, by {})", self.username),
        }
    }
}

/// The address a request came from (the TCP peer; proxies are not trusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "{ip}"),
            None => f.write_str("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_table_says() {
        let v = Permissions::for_role(Role::Viewer, false, false);
        assert!(v.has(Permission::Live) && !v.has(Permission::Playback));
        assert!(!v.has(Permission::Export) && !v.has(Permission::Users));
        let v = Permissions::for_role(Role::Viewer, true, true);
        assert!(v.has(Permission::Playback) && v.has(Permission::Export));
        let a = Permissions::for_role(Role::Auditor, true, true);
        assert_eq!(a.names(), vec!["privacy", "system", "audit"]);
        // Separation of duties: the retention maximums are the auditor's, not the admin's.
        let admin = Permissions::for_role(Role::Admin, false, false);
        assert!(!admin.has(Permission::Privacy) && admin.has(Permission::Approve));
        let o = Permissions::for_role(Role::Operator, false, false);
        assert!(o.has(Permission::Export) && !o.has(Permission::Audit));
        assert!(!o.has(Permission::Metrics));
        // Biometric data is the admin's, not every operator's, and never an API token's.
        assert!(admin.has(Permission::Faces) && !o.has(Permission::Faces));
        assert!(!Permission::Faces.token_scope());
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.name()), Some(p));
        }
    }
}
