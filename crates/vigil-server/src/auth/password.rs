//! Password hashing (argon2id, m = 19 MiB, t = 2, p = 1: the OWASP baseline, ~125 ms per hash on one
//! core) and strength rules.

use crate::error::ServerError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 12;
/// Longest password accepted (hashing cost is bounded).
pub const MAX_LENGTH: usize = 256;

/// Common passwords of 12+ characters (and their obvious variants), refused whatever else they have.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "password1234",
    "password12345",
    "password123!",
    "passwordpassword",
    "qwertyuiop12",
    "qwertyuiopasdf",
    "qwerty123456",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "iloveyou1234",
    "letmein12345",
    "welcome12345",
    "administrator",
    "admin1234567",
    "adminadmin12",
    "changeme1234",
    "abcdefghijkl",
    "abc123456789",
    "trustno1trustno1",
    "football1234",
    "baseball1234",
    "sunshine1234",
    "princess1234",
    "starwars1234",
    "monkey123456",
    "dragon123456",
    "superman1234",
    "correcthorsebatterystaple",
    "vigilvigilvigil",
    "surveillance",
    "security1234",
    "camera123456",
];

fn hasher() -> Argon2<'static> {
    // Constant, valid parameters: Params::new only fails outside argon2's documented bounds.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of an argon2id hash of `password` with a random salt.
pub fn hash(password: &str) -> Result<String, ServerError> {
    let salt = SaltString::encode_b64(&super::random_bytes::<16>()?)
        .map_err(|e| ServerError::Invalid(format!("salt: {e}")))?;
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServerError::Invalid(format!("hashing failed: {e}")))
}

/// Whether `password` matches the stored hash (a malformed hash matches nothing).
pub fn verify(stored: &str, password: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(h) => hasher().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one verification against a hash nobody has the password of, so that an unknown
/// user name costs the same as a wrong password.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let h =
        DUMMY.get_or_init(|| hash("an unguessable dummy that no account has").unwrap_or_default());
    let _ = verify(h, password);
}

/// Checks the strength rules: at least [`MIN_LENGTH`] characters, at most [`MAX_LENGTH`], at least 5
/// different characters, not containing the user name, not a common password.
pub fn check_strength(username: &str, password: &str) -> Result<(), ServerError> {
    let weak = |m: &str| Err(ServerError::WeakPassword(m.to_string()));
    let n = password.chars().count();
    if n < MIN_LENGTH {
        return weak(&format!("use at least {MIN_LENGTH} characters"));
    }
    if n > MAX_LENGTH {
        return weak(&format!("use at most {MAX_LENGTH} characters"));
    }
    let lower = password.to_lowercase();
    let mut distinct: Vec<char> = lower.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 5 {
        return weak("use more different characters");
    }
    let user = username.to_lowercase();
    if user.chars().count() >= 3 && lower.contains(&user) {
        return weak("do not put the user name into the password");
    }
    let squashed: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
    if COMMON
        .iter()
        .any(|c| *c == lower || *c == squashed || lower.starts_with(c))
    {
        return weak("this password is too common");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_rules() {
        assert!(check_strength("alice", "short").is_err());
        assert!(check_strength("alice", "alice-is-my-name-1").is_err());
        assert!(check_strength("alice", "Password1234").is_err());
        assert!(check_strength("alice", "aaaaaaaaaaaaaaaa").is_err());
        assert!(check_strength("alice", "correct horse battery staple").is_err());
        assert!(check_strength("alice", "tulip-orbit-42-canyon").is_ok());
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("tulip-orbit-42-canyon").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify(&h, "tulip-orbit-42-canyon"));
        assert!(!verify(&h, "tulip-orbit-42-canyoN"));
        assert!(!verify("not a hash", "x"));
    }
}
