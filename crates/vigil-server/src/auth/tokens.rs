//! API tokens for integrations: `vgl_` + 256 random bits, shown once, stored as SHA-256, with scopes
//! (a subset of the permissions an API token may carry), acting for the user who created them.

use super::users::{USER_COLUMNS, User, user_row};
use super::{Security, now_ms, random_bytes, sha256_hex};
use crate::error::ServerError;
use crate::perms::{Permission, Permissions, Principal, Via};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// A token as listed (no secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Id.
    pub id: i64,
    /// Name given at creation.
    pub name: String,
    /// The user it acts for.
    pub user: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Created (unix ms).
    pub created_ms: i64,
    /// Last used (unix ms).
    pub last_used_ms: Option<i64>,
}

/// Parses scope names; administration scopes and unknown names are refused.
pub fn parse_scopes(scopes: &[String]) -> Result<Permissions, ServerError> {
    let mut set = Permissions::default();
    if scopes.is_empty() || scopes.len() > 16 {
        return Err(ServerError::Invalid("give 1-16 scopes".into()));
    }
    for s in scopes {
        match Permission::parse(s) {
            Some(p) if p.token_scope() => set.add(p),
            _ => {
                let known: Vec<&str> = Permission::ALL
                    .into_iter()
                    .filter(|p| p.token_scope())
                    .map(Permission::name)
                    .collect();
                return Err(ServerError::Invalid(format!(
                    "unknown scope {s:?} (known: {})",
                    known.join(", ")
                )));
            }
        }
    }
    Ok(set)
}

fn scopes_of(text: &str) -> Permissions {
    let mut set = Permissions::default();
    for s in text.split(',') {
        if let Some(p) = Permission::parse(s).filter(|p| p.token_scope()) {
            set.add(p);
        }
    }
    set
}

impl Security {
    /// Creates a token for `user_id`; returns it with its secret (shown once).
    pub fn create_token(
        &self,
        user_id: i64,
        name: &str,
        scopes: &[String],
    ) -> Result<(TokenInfo, String), ServerError> {
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(ServerError::Invalid(
                "token names are 1-100 printable characters".into(),
            ));
        }
        let set = parse_scopes(scopes)?;
        let secret = format!("vgl_{}", hex::encode(random_bytes::<32>()?));
        let scope_text = set.names().join(",");
        let db = self.db();
        db.execute(
            "INSERT INTO tokens (hash, user_id, name, scopes, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![sha256_hex(&secret), user_id, name, scope_text, now_ms()],
        )
        .map_err(self.e())?;
        let id = db.last_insert_rowid();
        drop(db);
        let info = self
            .tokens()?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| ServerError::NotFound(format!("token {id} vanished")))?;
        Ok((info, secret))
    }

    /// Every token.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, ServerError> {
        let db = self.db();
        let mut q = db
            .prepare(
                "SELECT t.id, t.name, u.username, t.scopes, t.created_ms, t.last_used_ms
                 FROM tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id",
            )
            .map_err(self.e())?;
        q.query_map([], |r| {
            let scopes: String = r.get(3)?;
            Ok(TokenInfo {
                id: r.get(0)?,
                name: r.get(1)?,
                user: r.get(2)?,
                scopes: scopes
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
                created_ms: r.get(4)?,
                last_used_ms: r.get(5)?,
            })
        })
        .map_err(self.e())?
        .collect::<Result<_, _>>()
        .map_err(self.e())
    }

    /// Revokes a token.
    pub fn delete_token(&self, id: i64) -> Result<(), ServerError> {
        let n = self
            .db()
            .execute("DELETE FROM tokens WHERE id = ?1", [id])
            .map_err(self.e())?;
        if n == 0 {
            return Err(ServerError::NotFound(format!("no token with id {id}")));
        }
        Ok(())
    }

    /// The principal of a bearer token, or `None` (unknown, or its user is disabled).
    pub fn token(&self, secret: &str) -> Result<Option<Principal>, ServerError> {
        if !secret.starts_with("vgl_") || secret.len() != 68 {
            return Ok(None);
        }
        self.token_where("hash = ?1", sha256_hex(secret))
    }

    /// The principal of the token with row id `id`, or `None` (revoked, or its user is disabled).
    pub fn token_by_id(&self, id: i64) -> Result<Option<Principal>, ServerError> {
        self.token_where("id = ?1", id)
    }

    fn token_where(
        &self,
        condition: &str,
        value: impl rusqlite::ToSql,
    ) -> Result<Option<Principal>, ServerError> {
        let db = self.db();
        let row: Option<(i64, i64, String, Option<i64>)> = db
            .query_row(
                &format!("SELECT id, user_id, scopes, last_used_ms FROM tokens WHERE {condition}"),
                [value],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(self.e())?;
        let Some((id, user_id, scopes, last)) = row else {
            return Ok(None);
        };
        let now = now_ms();
        if last.is_none_or(|l| now - l > 60_000) {
            db.execute(
                "UPDATE tokens SET last_used_ms = ?2 WHERE id = ?1",
                params![id, now],
            )
            .map_err(self.e())?;
        }
        let user: Option<User> = db
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1 AND disabled = 0"),
                [user_id],
                user_row,
            )
            .optional()
            .map_err(self.e())?;
        // A token acts for its user as they stand now: when their role requires MFA they have not
        // enrolled, the token is held back like their sessions are.
        Ok(user.map(|u| Principal {
            user_id: u.id,
            perms: u.perms().intersect(scopes_of(&scopes)),
            mfa_pending: self.policy.require_mfa.contains(&u.role) && !u.mfa,
            username: u.username,
            role: u.role,
            cameras: u.cameras,
            via: Via::Token { id },
        }))
    }
}
