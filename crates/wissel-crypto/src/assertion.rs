//! Client assertions (RFC 7523 §3, `private_key_jwt`): signature with the client's registered
//! key and algorithm only, `iss` = `sub` = client id, `aud` the issuer as its only value
//! (draft-ietf-oauth-rfc7523bis; the endpoint URLs only for a client registered for them), a
//! short `exp`, and a `jti` that the caller records for single use.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use wissel_core::model::{AssertionAudience, SigningAlg};

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
    /// The issuer identifier: the one audience every assertion may name.
    pub issuer: &'a str,
    /// The endpoint URLs a client registered with [`AssertionAudience::IssuerOrEndpoint`] may
    /// name instead (the token endpoint, the endpoint the assertion was sent to).
    pub endpoints: &'a [&'a str],
    /// Which audiences the client's assertions may name.
    pub audience: AssertionAudience,
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
    audience_ok(claims.aud.as_ref(), &check)?;
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

/// The `aud` rule of the client's registration. With [`AssertionAudience::Issuer`] the issuer
/// must be the only audience: an assertion that names other parties too could have been made
/// for them and replayed here (audience injection, draft-ietf-oauth-rfc7523bis).
fn audience_ok(aud: Option<&Audience>, check: &AssertionCheck<'_>) -> Result<(), &'static str> {
    let values: &[String] = match aud {
        Some(Audience::One(a)) => std::slice::from_ref(a),
        Some(Audience::Many(v)) => v,
        None => &[],
    };
    match check.audience {
        AssertionAudience::Issuer => match values {
            [only] if only == check.issuer => Ok(()),
            _ => Err("client_assertion aud must be the issuer, and only the issuer"),
        },
        AssertionAudience::IssuerOrEndpoint => {
            let ours = |a: &String| a == check.issuer || check.endpoints.contains(&a.as_str());
            if values.iter().any(ours) {
                Ok(())
            } else {
                Err("client_assertion aud must name the issuer or the endpoint URL")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::SigningKey;
    use crate::keys::generate;
    use serde_json::{Value, json};

    const ISSUER: &str = "https://id.example";
    const TOKEN: &str = "https://id.example/token";

    fn check(audience: AssertionAudience) -> AssertionCheck<'static> {
        AssertionCheck {
            client_id: "c",
            issuer: ISSUER,
            endpoints: &[TOKEN],
            audience,
            alg: SigningAlg::ES256,
            now: 1_000,
        }
    }

    /// Signs an assertion of client `c` with `aud`; returns it and the client's key set.
    fn signed(aud: Value) -> (String, JwkSet) {
        let g = generate(SigningAlg::ES256, "k").unwrap();
        let key = SigningKey::from_pkcs8("k", SigningAlg::ES256, &g.pkcs8).unwrap();
        let claims = json!({"iss": "c", "sub": "c", "aud": aud, "exp": 1_060, "jti": "j"});
        let jwks = serde_json::from_value(json!({"keys": [g.public_jwk]})).unwrap();
        (key.sign("JWT", &claims).unwrap(), jwks)
    }

    #[test]
    fn the_issuer_is_the_only_audience_by_default() {
        for aud in [json!(ISSUER), json!([ISSUER])] {
            let (a, jwks) = signed(aud.clone());
            assert!(
                verify_assertion(&a, &jwks, check(AssertionAudience::Issuer)).is_ok(),
                "{aud}"
            );
        }
        for aud in [
            json!(TOKEN),
            json!([TOKEN]),
            json!([ISSUER, "https://rp.example"]),
            json!([TOKEN, ISSUER]),
            json!([ISSUER, ISSUER]),
            json!("https://id.example/"),
            json!([]),
        ] {
            let (a, jwks) = signed(aud.clone());
            assert_eq!(
                verify_assertion(&a, &jwks, check(AssertionAudience::Issuer)),
                Err("client_assertion aud must be the issuer, and only the issuer"),
                "{aud}"
            );
        }
    }

    #[test]
    fn the_endpoints_only_for_a_client_registered_for_them() {
        for aud in [
            json!(ISSUER),
            json!(TOKEN),
            json!([TOKEN, "https://rp.example"]),
        ] {
            let (a, jwks) = signed(aud.clone());
            assert!(
                verify_assertion(&a, &jwks, check(AssertionAudience::IssuerOrEndpoint)).is_ok(),
                "{aud}"
            );
        }
        let (a, jwks) = signed(json!("https://rp.example"));
        assert!(verify_assertion(&a, &jwks, check(AssertionAudience::IssuerOrEndpoint)).is_err());
    }

    use proptest::prelude::*;

    fn b64(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// JOSE headers an attacker would try: `none`, HMAC with the public key, another curve,
    /// a `kid` that is not registered, and junk.
    fn header() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(r#"{"alg":"none"}"#.to_owned()),
            Just(r#"{"alg":"HS256","kid":"k"}"#.to_owned()),
            Just(r#"{"alg":"ES384","kid":"k"}"#.to_owned()),
            Just(r#"{"alg":"ES256","kid":"k"}"#.to_owned()),
            Just(r#"{"alg":"ES256","kid":"other"}"#.to_owned()),
            Just(r#"{"alg":"ES256","jwk":{"kty":"EC"}}"#.to_owned()),
            "\\PC{0,40}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Anything that was not signed with the client's key is refused with a reason, never
        /// a panic: arbitrary text, and well-formed JWTs with hostile headers, arbitrary
        /// claims and arbitrary signatures.
        #[test]
        fn an_unsigned_or_forged_assertion_is_refused(
            text in "\\PC{0,200}",
            header in header(),
            claims in "\\PC{0,80}",
            sig in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let (_, jwks) = signed(json!(ISSUER));
            let forged = format!("{}.{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()), b64(&sig));
            let good_claims = json!({"iss": "c", "sub": "c", "aud": ISSUER, "exp": 1_060, "jti": "j"});
            let forged_claims = format!(
                "{}.{}.{}",
                b64(header.as_bytes()),
                b64(good_claims.to_string().as_bytes()),
                b64(&sig)
            );
            for candidate in [text, forged, forged_claims] {
                let refused = verify_assertion(&candidate, &jwks, check(AssertionAudience::Issuer));
                prop_assert!(refused.is_err(), "{}", candidate);
            }
        }

        /// A valid assertion with any one character changed does not verify.
        #[test]
        fn a_tampered_assertion_never_verifies(at in any::<prop::sample::Index>(), to in "[A-Za-z0-9_.-]") {
            let (a, jwks) = signed(json!(ISSUER));
            prop_assert!(verify_assertion(&a, &jwks, check(AssertionAudience::Issuer)).is_ok());
            let i = at.index(a.len());
            let mut tampered = a.clone();
            tampered.replace_range(i..=i, &to);
            prop_assume!(tampered != a);
            prop_assert!(
                verify_assertion(&tampered, &jwks, check(AssertionAudience::Issuer)).is_err(),
                "changed at {} to {}", i, to
            );
        }
    }
}
