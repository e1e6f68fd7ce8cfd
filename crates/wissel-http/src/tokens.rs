//! Access tokens: minting (JWT per RFC 9068, or opaque and stored as a digest) and resolving a
//! presented value back to what it says — through the verified-token cache, so that a JWT is
//! verified once and an opaque token is read once, while expiry and revocation are checked on
//! every use.

use std::sync::Arc;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wissel_core::flows::standing::{self, UserNow};
use wissel_core::model::{AccessToken, Derivation, Digest, Profile, TokenFormat};
use wissel_core::scope::ScopeSet;
use wissel_core::{InternalError, OAuthError};
use wissel_crypto::secret;

use crate::state::AppState;

/// The JOSE `typ` of JWT access tokens (RFC 9068 §2.1).
pub const AT_JWT_TYP: &str = "at+jwt";
/// Length of an opaque token: 32 bytes in base64url.
const OPAQUE_LEN: usize = 43;
/// Longest token value worth looking at.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The claims of a JWT access token (RFC 9068 §2.2).
#[derive(Debug, Serialize, Deserialize)]
pub struct JwtAccessClaims {
    /// Issuer.
    pub iss: String,
    /// Subject.
    pub sub: String,
    /// Audience: the API id.
    pub aud: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: String,
    /// Issued at.
    pub iat: i64,
    /// Expires at.
    pub exp: i64,
    /// Token id.
    pub jti: String,
    /// The grant the token hangs off.
    pub grant_id: String,
    /// Token exchange: the grants this one derives from, root first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
    /// Token exchange: the actor (RFC 8693 §4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Value>,
    /// Token exchange: who may act for the subject (RFC 8693 §4.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub may_act: Option<Value>,
    /// The user claims the scopes release (configuration keeps their names apart from the
    /// claims above).
    #[serde(flatten)]
    pub claims: BTreeMap<String, Value>,
}

/// Mints the token value for a decided token: signs a JWT, or stores an opaque token's digest
/// (the one write of a token request).
pub async fn mint(state: &AppState, token: &AccessToken) -> Result<String, OAuthError> {
    match token.format {
        TokenFormat::Jwt => {
            let claims = JwtAccessClaims {
                iss: state.settings().issuer.clone(),
                sub: token.subject.clone(),
                aud: token.api.clone(),
                client_id: token.client_id.clone(),
                scope: token.scope.to_string(),
                iat: token.issued_at,
                exp: token.expires_at,
                jti: token.jti.clone(),
                grant_id: token.grant_id.clone(),
                chain: token.derivation.chain.clone(),
                act: token.derivation.act.clone(),
                may_act: token.derivation.may_act.clone(),
                claims: token.derivation.claims.clone(),
            };
            state
                .keys()
                .sign(AT_JWT_TYP, &claims)
                .map_err(OAuthError::server_error)
        }
        TokenFormat::Opaque => {
            let value = secret::generate_secret();
            if value.len() != OPAQUE_LEN {
                return Err(OAuthError::server_error("random source failed"));
            }
            store_opaque(state, &secret::digest(value.as_bytes()), token).await?;
            Ok(value)
        }
    }
}

/// Stores an opaque token by the digest of a value the caller drew (the MedMij profile draws
/// values that are checked unique first).
pub async fn store_opaque(
    state: &AppState,
    digest: &Digest,
    token: &AccessToken,
) -> Result<(), OAuthError> {
    state.store().insert_access_token(digest, token).await?;
    Ok(())
}

/// A presented token that is active: what it says, and its digest (the key of opaque rows).
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The token.
    pub token: Arc<AccessToken>,
    /// SHA-256 of the presented value.
    pub digest: Digest,
}

/// Resolves a presented value to an active token: ours, unexpired, not revoked, and still
/// standing under today's policy ([`standing::token_stands`]). `None` for everything else
/// (garbage, foreign, expired, revoked, no longer allowed). Only a store failure is an error.
pub async fn resolve(state: &AppState, value: &str) -> Result<Option<Resolved>, InternalError> {
    match find(state, value).await? {
        Some(r) if stands(state, &r.token).await? => Ok(Some(r)),
        _ => Ok(None),
    }
}

/// Like [`resolve`], without today's policy: ours, unexpired and not revoked. Only for
/// revocation (RFC 7009), so that a token its client revokes while policy does not allow it
/// stays revoked if policy allows it again.
pub async fn find(state: &AppState, value: &str) -> Result<Option<Resolved>, InternalError> {
    if value.is_empty() || value.len() > MAX_TOKEN_LEN {
        return Ok(None);
    }
    let now = state.now();
    let digest = secret::digest(value.as_bytes());
    let token = match state.token_cache().get(&digest) {
        Some(t) => t,
        None => {
            let ring = state.keys();
            let Some(t) = load(state, value, &digest).await? else {
                return Ok(None);
            };
            if t.expires_at <= now {
                return Ok(None);
            }
            let t = Arc::new(t);
            state.token_cache().insert(digest, t.clone());
            // A reload that emptied the cache while this token was being verified must not
            // leave it cached: the key that verified it may be gone.
            if !Arc::ptr_eq(&ring, &state.keys()) {
                state.token_cache().invalidate(&digest);
            }
            t
        }
    };
    if token.expires_at <= now || state.is_revoked(&token) {
        return Ok(None);
    }
    Ok(Some(Resolved { token, digest }))
}

/// The one check of today's policy on a presented token ([`standing::token_stands`]): its client,
/// its API, the link and, for a user's token, the user and their authorizations as they are
/// now. The user is read through the node's short-lived user cache, which every change of
/// users or authorizations empties on every node within `server.sync_interval_ms`.
async fn stands(state: &AppState, token: &AccessToken) -> Result<bool, InternalError> {
    let registry = state.registry();
    let medmij = registry
        .client(&token.client_id)
        .is_some_and(|c| c.profile == Profile::Medmij);
    if medmij || !standing::names_a_user(token) {
        return Ok(standing::token_stands(&registry, token, None));
    }
    let access = state.user_access(&token.subject, &token.api).await?;
    Ok(standing::token_stands(
        &registry,
        token,
        Some(UserNow {
            user: access.user.as_deref(),
            authorized: access.authorized.as_ref(),
        }),
    ))
}

async fn load(
    state: &AppState,
    value: &str,
    digest: &Digest,
) -> Result<Option<AccessToken>, InternalError> {
    if value.contains('.') {
        let Some(c) = state.keys().verify::<JwtAccessClaims>(value, AT_JWT_TYP) else {
            return Ok(None);
        };
        if c.iss != state.settings().issuer {
            return Ok(None);
        }
        let scope = if c.scope.is_empty() {
            ScopeSet::new()
        } else {
            match ScopeSet::parse(&c.scope) {
                Ok(s) => s,
                Err(_) => return Ok(None),
            }
        };
        return Ok(Some(AccessToken {
            jti: c.jti,
            grant_id: c.grant_id,
            client_id: c.client_id,
            subject: c.sub,
            api: c.aud,
            scope,
            issued_at: c.iat,
            expires_at: c.exp,
            format: TokenFormat::Jwt,
            derivation: Derivation {
                chain: c.chain,
                act: c.act,
                may_act: c.may_act,
                claims: c.claims,
            },
        }));
    }
    if value.len() != OPAQUE_LEN {
        return Ok(None);
    }
    Ok(match state.store().find_access_token(digest).await? {
        Some((token, false)) => Some(token),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use wissel_core::model::{KeyState, SigningAlg, SigningKeyRecord};
    use wissel_crypto::keyring::KeyRing;
    use wissel_crypto::keys::{MasterKey, generate};

    fn ring() -> KeyRing {
        let mk = MasterKey::from_base64(&MasterKey::generate_base64().unwrap()).unwrap();
        let g = generate(SigningAlg::ES256, "k").unwrap();
        let record = SigningKeyRecord {
            kid: "k".into(),
            alg: SigningAlg::ES256,
            state: KeyState::Active,
            private_key_enc: mk.seal("k", &g.pkcs8).unwrap(),
            public_jwk: g.public_jwk,
            created_at: 0,
            activated_at: Some(0),
            retired_at: None,
            publish_until: None,
        };
        KeyRing::load(&[record], &mk, 0).unwrap()
    }

    /// A JSON value of any type, for a claim that should have another.
    fn any_json() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            "\\PC{0,20}".prop_map(Value::from),
            proptest::collection::vec("\\PC{0,5}", 0..3).prop_map(|v| json!(v)),
            Just(json!({"nested": {"x": [1, 2]}})),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Claims of any shape in a token signed with our key (a key whose tokens were once
        /// minted by another version, say) are read as access-token claims or refused, never a
        /// panic; text that is not our token is refused.
        #[test]
        fn access_token_claims_of_any_shape_are_read_or_refused(
            claims in proptest::collection::btree_map(
                prop_oneof![
                    Just("iss".to_owned()), Just("sub".to_owned()), Just("aud".to_owned()),
                    Just("client_id".to_owned()), Just("scope".to_owned()),
                    Just("iat".to_owned()), Just("exp".to_owned()), Just("jti".to_owned()),
                    Just("grant_id".to_owned()), Just("chain".to_owned()),
                    Just("act".to_owned()), "\\PC{0,8}",
                ],
                any_json(),
                0..14,
            ),
            junk in "\\PC{0,120}",
        ) {
            let ring = ring();
            let token = ring.sign(AT_JWT_TYP, &claims).unwrap();
            if let Some(c) = ring.verify::<JwtAccessClaims>(&token, AT_JWT_TYP) {
                for (name, value) in [("iss", &c.iss), ("sub", &c.sub), ("jti", &c.jti)] {
                    prop_assert_eq!(claims.get(name), Some(&Value::from(value.as_str())));
                }
                let _ = ScopeSet::parse(&c.scope);
            }
            prop_assert!(ring.verify::<JwtAccessClaims>(&junk, AT_JWT_TYP).is_none());
        }
    }
}
