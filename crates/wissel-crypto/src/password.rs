//! User password digests: Argon2id in PHC form. Only for user passwords; server-generated
//! secrets use [`crate::secret`].

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use crate::CryptoError;

/// Hashes a password with Argon2id and the default (OWASP baseline) parameters.
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| CryptoError::Key(e.to_string()))
}

/// True when `password` matches the PHC string `hash`. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// True when `hash` is a PHC string this module can verify.
pub fn is_valid_hash(hash: &str) -> bool {
    hash.starts_with("$argon2id$") && argon2::PasswordHash::new(hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let h = hash_password("correct horse").unwrap();
        assert!(is_valid_hash(&h));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
