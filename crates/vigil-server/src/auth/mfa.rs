//! TOTP multi-factor authentication (RFC 6238: SHA-1, 6 digits, 30 s steps, one step of clock skew),
//! enrolment with an `otpauth://` URL and its QR code as SVG, ten one-time recovery codes stored as
//! SHA-256 hashes. A code is accepted once: a step at or before the last one used is refused.

use super::{Security, random_bytes, sha256_hex};
use crate::error::ServerError;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
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

impl Security {
    /// Starts enrolment: a new secret, kept as pending until [`Security::confirm_mfa`].
    pub fn enroll_mfa(&self, user_id: i64) -> Result<Enrollment, ServerError> {
        let user = self.user(user_id)?;
        let secret = random_bytes::<20>()?;
        let t = totp(&secret, &user.username)?;
        let url = t
            .to_url()
            .map_err(|e| ServerError::Invalid(format!("TOTP URL: {e}")))?;
        let qr = qrcode::QrCode::new(url.as_bytes())
            .map_err(|e| ServerError::Invalid(format!("QR code: {e}")))?;
        let svg = qr
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build();
        self.db()
            .execute(
                "UPDATE users SET mfa_pending = ?2 WHERE id = ?1",
                params![user_id, secret.to_vec()],
            )
            .map_err(self.e())?;
        Ok(Enrollment {
            secret: t.secret().to_base32(),
            otpauth_url: url,
            qr_svg: svg,
        })
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
