//! PKCE (RFC 7636) and the OpenID Connect token hashes.

use aws_lc_rs::digest;
use subtle::ConstantTimeEq;
use wissel_core::grant::PkceMethod;
use wissel_core::model::SigningAlg;

use crate::b64;

/// True when `value` is a well-formed code verifier or challenge: 43 to 128 characters of
/// `[A-Za-z0-9-._~]` (RFC 7636 §4.1, §4.2).
pub fn is_well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The `S256` challenge of a verifier: base64url(SHA-256(verifier)).
pub fn s256(verifier: &str) -> String {
    b64(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref())
}

/// True when `verifier` answers `challenge` under `method`, compared in constant time.
pub fn verify(verifier: &str, challenge: &str, method: PkceMethod) -> bool {
    if !is_well_formed(verifier) {
        return false;
    }
    let derived = match method {
        PkceMethod::S256 => s256(verifier),
        PkceMethod::Plain => verifier.to_owned(),
    };
    derived.len() == challenge.len() && bool::from(derived.as_bytes().ct_eq(challenge.as_bytes()))
}

/// `at_hash` / `c_hash` (OpenID Connect Core §3.1.3.6): the left half of the hash of the value,
/// with the hash of the ID token's algorithm (SHA-512 for Ed25519), base64url.
pub fn left_half_hash(value: &str, alg: SigningAlg) -> String {
    let algorithm = match alg {
        SigningAlg::ES256 | SigningAlg::RS256 => &digest::SHA256,
        SigningAlg::EdDSA => &digest::SHA512,
    };
    let d = digest::digest(algorithm, value.as_bytes());
    let bytes = d.as_ref();
    b64(&bytes[..bytes.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            s256(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(verify(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            PkceMethod::S256
        ));
        assert!(!verify(verifier, verifier, PkceMethod::S256));
        assert!(verify(verifier, verifier, PkceMethod::Plain));
        assert!(!verify("short", "short", PkceMethod::Plain));
        assert!(!is_well_formed(&"a".repeat(129)));
        assert!(!is_well_formed(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn at_hash_is_the_left_half() {
        // 128 bits of SHA-256 = 16 bytes = 22 base64url characters.
        assert_eq!(left_half_hash("token", SigningAlg::ES256).len(), 22);
        assert_eq!(left_half_hash("token", SigningAlg::EdDSA).len(), 43);
    }
}
