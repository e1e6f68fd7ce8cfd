//! Server-generated secrets, tokens and identifiers, and their digests.
//!
//! Everything here has at least 256 bits of entropy, so a plain SHA-256 digest compared in
//! constant time is safe to store and fast to check (DESIGN.md §7): no slow hash on this path.

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use wissel_core::model::Digest;

use crate::b64;

/// `n` random bytes, base64url without padding.
pub fn random_b64(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // The system RNG failing is unrecoverable and cannot be caused by input; an all-zero value
    // would be worse than a refusal, so the caller sees an empty string and fails on it.
    if SystemRandom::new().fill(&mut buf).is_err() {
        return String::new();
    }
    b64(&buf)
}

/// A new client secret or opaque token: 32 random bytes (256 bits), base64url.
pub fn generate_secret() -> String {
    random_b64(32)
}

/// A new identifier (`jti`, grant id): 16 random bytes, base64url.
pub fn generate_id() -> String {
    random_b64(16)
}

/// SHA-256 of a value.
pub fn digest(value: &[u8]) -> Digest {
    let d = digest::digest(&digest::SHA256, value);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    Digest(out)
}

/// True when `presented` hashes to `expected`, compared in constant time.
pub fn verify_secret(presented: &str, expected: &Digest) -> bool {
    bool::from(digest(presented.as_bytes()).0.ct_eq(&expected.0))
}

/// Compares two strings in constant time (for their common length; unequal lengths differ).
pub fn ct_str_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_distinct_and_verify() {
        let a = generate_secret();
        let b = generate_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        let d = digest(a.as_bytes());
        assert!(verify_secret(&a, &d));
        assert!(!verify_secret(&b, &d));
        assert!(!verify_secret("", &d));
    }
}
