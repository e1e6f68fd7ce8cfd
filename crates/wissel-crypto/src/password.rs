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

/// True when `hash` was made with other parameters than [`hash_password`] uses now (or another
/// algorithm): after a successful login it is replaced with a fresh digest.
pub fn needs_rehash(hash: &str) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(hash) else {
        return true;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    let current = argon2::Params::default();
    match argon2::Params::try_from(&parsed) {
        Ok(p) => {
            p.m_cost() != current.m_cost()
                || p.t_cost() != current.t_cost()
                || p.p_cost() != current.p_cost()
                || parsed.version != Some(argon2::Version::V0x13 as u32)
        }
        Err(_) => true,
    }
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
        assert!(!needs_rehash(&h));
        let weak = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw")
        .unwrap()
        .to_string();
        assert!(verify_password("pw", &weak));
        assert!(needs_rehash(&weak));
        assert!(needs_rehash("garbage"));
    }
}
