//! Client assertions (RFC 7523 §3, `private_key_jwt`): signature with the client's registered
//! key and algorithm only, `iss` = `sub` = client id, `aud` naming us, a short `exp`, and a `jti`
//! that the caller records for single use.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use wissel_core::model::SigningAlg;

use crate::keyring::signature_only;

/// Longest accepted lifetime of an assertion (from now to `exp`), in seconds.
pub const MAX_ASSERTION_LIFETIME: i64 = 300;
/// Clock skew tolerated on `iat` and `nbf`, in seconds.
pub const LEEWAY: i64 = 30;

/// What the assertion must satisfy.
#[derive(Debug, Clone, Copy)]
pub struct AssertionCheck<'a> {
    /// The client id it must be issued by and about.
    pub client_id: &'a str,
    /// Acceptable audiences: the issuer and the endpoint URL.
    pub audiences: &'a [&'a str],
    /// The one algorithm registered for the client.
    pub alg: SigningAlg,
    /// Now, from the `Clock`.
    pub now: i64,
}

/// A valid assertion's replay-relevant parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// Its id, to be recorded as used.
    pub jti: String,
    /// Its expiry: the `jti` record can be dropped after it.
    pub exp: i64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

/// Verifies an assertion against the client's JWK Set. The error says why, for the
/// `error_description` (it never echoes the assertion).
pub fn verify_assertion(
    assertion: &str,
    jwks: &JwkSet,
    check: AssertionCheck<'_>,
) -> Result<VerifiedAssertion, &'static str> {
    let header =
        jsonwebtoken::decode_header(assertion).map_err(|_| "client_assertion is not a JWT")?;
    let alg = match check.alg {
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
    };
    if header.alg != alg {
        return Err("client_assertion is not signed with the client's registered algorithm");
    }
    let candidates: Vec<_> = match header.kid.as_deref() {
        Some(kid) => jwks.find(kid).into_iter().collect(),
        None => jwks.keys.iter().collect(),
    };
    let validation = signature_only(alg);
    let claims = candidates
        .into_iter()
        .filter_map(|jwk| DecodingKey::from_jwk(jwk).ok())
        .find_map(|key| jsonwebtoken::decode::<Claims>(assertion, &key, &validation).ok())
        .map(|d| d.claims)
        .ok_or("client_assertion signature does not verify with the client's keys")?;

    if claims.iss.as_deref() != Some(check.client_id)
        || claims.sub.as_deref() != Some(check.client_id)
    {
        return Err("client_assertion iss and sub must both be the client_id");
    }
    let aud_ok = match &claims.aud {
        Some(Audience::One(a)) => check.audiences.contains(&a.as_str()),
        Some(Audience::Many(v)) => v.iter().any(|a| check.audiences.contains(&a.as_str())),
        None => false,
    };
    if !aud_ok {
        return Err("client_assertion aud must be the issuer or the endpoint URL");
    }
    let exp = claims.exp.ok_or("client_assertion has no exp")?;
    if exp <= check.now {
        return Err("client_assertion has expired");
    }
    if exp > check.now.saturating_add(MAX_ASSERTION_LIFETIME) {
        return Err("client_assertion lives too long (exp at most 5 minutes ahead)");
    }
    if claims
        .iat
        .is_some_and(|iat| iat > check.now.saturating_add(LEEWAY))
        || claims
            .nbf
            .is_some_and(|nbf| nbf > check.now.saturating_add(LEEWAY))
    {
        return Err("client_assertion is not valid yet");
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or("client_assertion needs a jti")?;
    Ok(VerifiedAssertion { jti, exp })
}
