//! TOTP multi-factor authentication (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of clock skew),
//! enrolment with an `otpauth://` URL and its QR code as SVG, ten one-time recovery codes stored as
//! SHA-256 hashes. A code is accepted once: a step at or before the last one used is refused.

use super::{Security, random_bytes, sha256_hex};
use crate::error::ServerError;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::sync::Arc;
use totp_rs::{Builder, Totp};

/// Recovery codes handed out at enrolment.
pub const RECOVERY_CODES: usize = 10;

/// What enrolment shows the user.
#[derive(Debug, Clone, Serialize)]
pub struct Enrollment {
    /// The secret in base32 (to type into an authenticator app).
    pub secret: String,
    /// The `otpauth://totp/...` URL.
    pub otpauth_url: String,
    /// The URL as a QR code, an SVG document.
    pub qr_svg: String,
}

fn totp(secret: &[u8], username: &str) -> Result<Totp, ServerError> {
    Builder::new()
        .with_secret(secret.to_vec())
        .with_account_name(username)
        .with_issuer(Some("Vigil"))
        .build()
        .map_err(|e| ServerError::Invalid(format!("TOTP: {e}")))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Normal form of a recovery code (lower case, no separators).
fn normal(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The current code of a base32 secret (for tests and tools).
pub fn current_code(secret_base32: &str) -> Result<String, ServerError> {
    let bytes = totp_rs::Secret::try_from_base32(secret_base32)
        .map_err(|e| ServerError::Invalid(format!("secret: {e}")))?;
    let t = totp(bytes.as_bytes(), "x")?;
    Ok(t.generate(unix_now()).to_string())
}

/// A new random TOTP secret for `username` and what enrolment shows for it (also used by the hub,
/// which keeps its users' secrets in PostgreSQL).
pub fn new_enrollment(username: &str) -> Result<(Vec<u8>, Enrollment), ServerError> {
    let secret = random_bytes::<20>()?;
    let t = totp(&secret, username)?;
    let url = t
        .to_url()
        .map_err(|e| ServerError::Invalid(format!("TOTP URL: {e}")))?;
    let qr = qrcode::QrCode::new(url.as_bytes())
        .map_err(|e| ServerError::Invalid(format!("QR code: {e}")))?;
    let svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    let enrollment = Enrollment {
        secret: t.secret().to_base32(),
        otpauth_url: url,
        qr_svg: svg,
    };
    Ok((secret.to_vec(), enrollment))
}

/// The time step a TOTP `code` of `secret` matches now (one step of clock skew), if any. The caller
/// refuses a step at or before the last one used.
pub fn code_step(secret: &[u8], username: &str, code: &str) -> Result<Option<u64>, ServerError> {
    Ok(totp(secret, username)?.check(code.trim(), unix_now()))
}

/// What a sealed TOTP secret starts with.
const SEALED: &[u8] = b"VTS1";
/// Purpose of the key that seals TOTP secrets (`keys/totp.key`).
const KEY_PURPOSE: &str = "totp-secrets";

fn secret_aad(user_id: i64) -> Vec<u8> {
    format!("vigil totp secret v1|{user_id}").into_bytes()
}

impl Security {
    /// Seals TOTP secrets at rest from now on with the key store's `keys/totp.key` (created at first
    /// use, wrapped by the master key), and seals the ones stored in the clear before. Returns how many
    /// were sealed now.
    pub fn set_secret_key(&self, keys: &vigil_keys::KeyStore) -> Result<usize, ServerError> {
        let (key, _) = keys.data_key("totp", KEY_PURPOSE)?;
        let b = Arc::new(vigil_keys::SecretBox::new(key.bytes(), SEALED)?);
        let mut db = self.db();
        let tx = db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(self.e())?;
        // (user id, stored secret, stored pending secret)
        type Row = (i64, Option<Vec<u8>>, Option<Vec<u8>>);
        let rows: Vec<Row> = tx
            .prepare("SELECT id, mfa_secret, mfa_pending FROM users")
            .and_then(|mut q| {
                q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(self.e())?;
        let mut n = 0;
        for (id, secret, pending) in rows {
            let aad = secret_aad(id);
            for (column, value) in [("mfa_secret", secret), ("mfa_pending", pending)] {
                if let Some(v) = value.filter(|v| !b.is_sealed(v)) {
                    tx.execute(
                        &format!("UPDATE users SET {column} = ?2 WHERE id = ?1"),
                        params![id, b.seal(&aad, &v)?],
                    )
                    .map_err(self.e())?;
                    n += 1;
                }
            }
        }
        tx.commit().map_err(self.e())?;
        *self.secrets.lock().unwrap_or_else(|p| p.into_inner()) = Some(b);
        if n > 0 {
            tracing::info!("sealed {n} TOTP secret(s) stored in the clear before");
        }
        Ok(n)
    }

    fn secret_box(&self) -> Option<Arc<vigil_keys::SecretBox>> {
        self.secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A TOTP secret as it is stored: sealed when the key store gave a key.
    fn store_secret(&self, user_id: i64, secret: &[u8]) -> Result<Vec<u8>, ServerError> {
        match self.secret_box() {
            Some(b) => Ok(b.seal(&secret_aad(user_id), secret)?),
            None => Ok(secret.to_vec()),
        }
    }

    /// A stored TOTP secret, opened.
    fn load_secret(&self, user_id: i64, stored: Vec<u8>) -> Result<Vec<u8>, ServerError> {
        if !stored.starts_with(SEALED) {
            return Ok(stored);
        }
        let b = self.secret_box().ok_or_else(|| {
            ServerError::Invalid(
                "TOTP secrets are sealed: the server needs its key store to check codes".into(),
            )
        })?;
        Ok(b.open(&secret_aad(user_id), &stored)?)
    }

    /// Starts enrolment: a new secret, kept as pending until [`Security::confirm_mfa`].
    pub fn enroll_mfa(&self, user_id: i64) -> Result<Enrollment, ServerError> {
        let user = self.user(user_id)?;
        let (secret, enrollment) = new_enrollment(&user.username)?;
        self.db()
            .execute(
                "UPDATE users SET mfa_pending = ?2 WHERE id = ?1",
                params![user_id, self.store_secret(user_id, &secret)?],
            )
            .map_err(self.e())?;
        Ok(enrollment)
    }

    /// Finishes enrolment with a code from the pending secret: MFA is on, and the returned recovery
    /// codes (shown once) replace any earlier ones.
    pub fn confirm_mfa(&self, user_id: i64, code: &str) -> Result<Vec<String>, ServerError> {
        let user = self.user(user_id)?;
        let pending: Option<Vec<u8>> = self
            .db()
            .query_row(
                "SELECT mfa_pending FROM users WHERE id = ?1",
                [user_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.e())?
            .flatten();
        let Some(secret) = pending else {
            return Err(ServerError::Invalid(
                "no enrolment in progress: call enroll first".into(),
            ));
        };
        let secret = self.load_secret(user_id, secret)?;
        let Some(step) = totp(&secret, &user.username)?.check(code.trim(), unix_now()) else {
            return Err(ServerError::Invalid("wrong code".into()));
        };
        let mut codes = Vec::with_capacity(RECOVERY_CODES);
        const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
        for _ in 0..RECOVERY_CODES {
            let bytes = random_bytes::<10>()?;
            let s: String = bytes
                .iter()
                .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
                .collect();
            codes.push(format!("{}-{}", &s[..5], &s[5..]));
        }
        let mut db = self.db();
        let tx = db.transaction().map_err(self.e())?;
        tx.execute(
            "UPDATE users SET mfa_secret = mfa_pending, mfa_pending = NULL, mfa_last_step = ?2
             WHERE id = ?1",
            params![user_id, step as i64],
        )
        .map_err(self.e())?;
        tx.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user_id])
            .map_err(self.e())?;
        for c in &codes {
            tx.execute(
                "INSERT INTO recovery_codes (user_id, hash) VALUES (?1, ?2)",
                params![user_id, sha256_hex(&normal(c))],
            )
            .map_err(self.e())?;
        }
        tx.commit().map_err(self.e())?;
        Ok(codes)
    }

    /// Checks a second factor at login: a TOTP code (not used before) or a recovery code (consumed).
    /// Returns what matched.
    pub fn check_mfa(&self, user_id: i64, code: &str) -> Result<Option<MfaUsed>, ServerError> {
        let user = self.user(user_id)?;
        let db = self.db();
        let row: Option<(Option<Vec<u8>>, i64)> = db
            .query_row(
                "SELECT mfa_secret, mfa_last_step FROM users WHERE id = ?1",
                [user_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.e())?;
        let Some((Some(secret), last)) = row else {
            return Ok(None);
        };
        let secret = self.load_secret(user_id, secret)?;
        let code = code.trim();
        if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            return match totp(&secret, &user.username)?.check(code, unix_now()) {
                Some(step) if step as i64 > last => {
                    db.execute(
                        "UPDATE users SET mfa_last_step = ?2 WHERE id = ?1",
                        params![user_id, step as i64],
                    )
                    .map_err(self.e())?;
                    Ok(Some(MfaUsed::Totp))
                }
                _ => Ok(None),
            };
        }
        let n = db
            .execute(
                "DELETE FROM recovery_codes WHERE user_id = ?1 AND hash = ?2",
                params![user_id, sha256_hex(&normal(code))],
            )
            .map_err(self.e())?;
        Ok((n == 1).then_some(MfaUsed::RecoveryCode))
    }

    /// Turns MFA off for a user (administrator reset); their sessions end.
    pub fn reset_mfa(&self, user_id: i64) -> Result<(), ServerError> {
        self.user(user_id)?;
        let mut db = self.db();
        let tx = db.transaction().map_err(self.e())?;
        tx.execute(
            "UPDATE users SET mfa_secret = NULL, mfa_pending = NULL, mfa_last_step = 0 WHERE id = ?1",
            [user_id],
        )
        .map_err(self.e())?;
        tx.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user_id])
            .map_err(self.e())?;
        tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])
            .map_err(self.e())?;
        tx.commit().map_err(self.e())
    }
}

/// Which second factor a login used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaUsed {
    /// A TOTP code.
    Totp,
    /// A recovery code (now spent).
    RecoveryCode,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::users::NewUser;
    use crate::perms::Role;

    fn stored(sec: &Security, column: &str) -> Vec<u8> {
        sec.db()
            .query_row(&format!("SELECT {column} FROM users"), [], |r| r.get(0))
            .unwrap()
    }

    /// TOTP secrets are sealed at rest once the key store gives a key (also those stored before), codes
    /// still check, and without the key a sealed secret is a clear error, not a wrong code.
    #[test]
    fn totp_secrets_are_sealed_at_rest_and_codes_still_check() {
        let dir = tempfile::tempdir().unwrap();
        let sec = Security::open_in(dir.path(), Default::default()).unwrap();
        let user = sec
            .add_user(&NewUser {
                username: "ops".into(),
                password: "correct horse battery staple 9".into(),
                role: Role::Operator,
                cameras: None,
                playback: false,
                export: false,
            })
            .unwrap();
        // Enrolled before encryption was on: stored in the clear, then sealed at start.
        let e = sec.enroll_mfa(user.id).unwrap();
        let raw = totp_rs::Secret::try_from_base32(&e.secret).unwrap();
        let raw = raw.as_bytes();
        assert_eq!(stored(&sec, "mfa_pending"), raw);
        let keys = vigil_keys::KeyStore::open(dir.path(), &Default::default()).unwrap();
        assert_eq!(sec.set_secret_key(&keys).unwrap(), 1);
        let sealed = stored(&sec, "mfa_pending");
        assert!(sealed.starts_with(SEALED));
        assert!(!sealed.windows(raw.len()).any(|w| w == raw));
        let code = current_code(&e.secret).unwrap();
        sec.confirm_mfa(user.id, &code).unwrap();
        assert!(stored(&sec, "mfa_secret").starts_with(SEALED));
        // A code checks (the step reset, as if the next one had come).
        sec.db()
            .execute("UPDATE users SET mfa_last_step = 0", [])
            .unwrap();
        assert_eq!(sec.check_mfa(user.id, &code).unwrap(), Some(MfaUsed::Totp));
        // A server without the key store cannot check it, and says why.
        drop(sec);
        let bare = Security::open_in(dir.path(), Default::default()).unwrap();
        bare.db()
            .execute("UPDATE users SET mfa_last_step = 0", [])
            .unwrap();
        let err = bare.check_mfa(user.id, &code).unwrap_err().to_string();
        assert!(err.contains("key store"), "{err}");
        // Sealing again is a no-op.
        assert_eq!(bare.set_secret_key(&keys).unwrap(), 0);
        assert_eq!(bare.check_mfa(user.id, &code).unwrap(), Some(MfaUsed::Totp));
    }
}
