//! OpenID Connect: ID tokens (Core §2, §3.1.3.6) and the claims each scope releases (§5.4).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use wissel_core::OAuthError;
use wissel_core::model::User;
use wissel_core::scope::ScopeSet;
use wissel_crypto::pkce::left_half_hash;

use crate::state::AppState;

/// The JOSE `typ` of ID tokens.
pub const ID_TOKEN_TYP: &str = "JWT";

/// Claims released by the `profile` scope.
pub const PROFILE_CLAIMS: &[&str] = &[
    "name",
    "family_name",
    "given_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "updated_at",
];
/// Claims released by the `email` scope.
pub const EMAIL_CLAIMS: &[&str] = &["email", "email_verified"];

/// The claims of an ID token.
#[derive(Debug, Serialize, Deserialize)]
pub struct IdClaims {
    /// Issuer.
    pub iss: String,
    /// Subject.
    pub sub: String,
    /// The client.
    pub aud: String,
    /// The client (authorized party).
    pub azp: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The request's nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Authentication context class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Authentication methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// Hash of the access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// Session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Released user claims.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The user claims `scope` releases (never `sub`, which is always present).
pub fn released_claims(user: &User, scope: &ScopeSet) -> Map<String, Value> {
    let mut out = Map::new();
    let take = |out: &mut Map<String, Value>, names: &[&str]| {
        for n in names {
            if let Some(v) = user.claims.get(*n) {
                out.insert((*n).to_owned(), v.clone());
            }
        }
    };
    if scope.contains("profile") {
        take(&mut out, PROFILE_CLAIMS);
        out.entry("preferred_username")
            .or_insert_with(|| Value::String(user.username.clone()));
    }
    if scope.contains("email") {
        take(&mut out, EMAIL_CLAIMS);
    }
    out
}

/// What an ID token is minted from.
pub struct IdTokenInput<'a> {
    /// The client.
    pub client_id: &'a str,
    /// The user.
    pub user: &'a User,
    /// The granted scopes.
    pub scope: &'a ScopeSet,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The request's nonce.
    pub nonce: Option<&'a str>,
    /// Authentication context class.
    pub acr: Option<&'a str>,
    /// Authentication methods.
    pub amr: &'a [String],
    /// Session id.
    pub sid: Option<&'a str>,
    /// The access token issued with it.
    pub access_token: &'a str,
    /// Lifetime in seconds.
    pub lifetime: i64,
    /// The client's registered algorithm.
    pub alg: wissel_core::model::SigningAlg,
}

/// Signs an ID token with the active key.
pub fn mint_id_token(state: &AppState, input: &IdTokenInput<'_>) -> Result<String, OAuthError> {
    let now = state.now();
    let keys = state.keys();
    let signer = keys.signer_for(input.alg).ok_or_else(|| {
        OAuthError::server_error(format!("no active {} signing key", input.alg.as_str()))
    })?;
    let alg = input.alg;
    let claims = IdClaims {
        iss: state.settings().issuer.clone(),
        sub: input.user.subject.clone(),
        aud: input.client_id.to_owned(),
        azp: input.client_id.to_owned(),
        exp: now.saturating_add(input.lifetime),
        iat: now,
        auth_time: input.auth_time,
        nonce: input.nonce.map(str::to_owned),
        acr: input.acr.map(str::to_owned),
        amr: input.amr.to_vec(),
        at_hash: Some(left_half_hash(input.access_token, alg)),
        sid: input.sid.map(str::to_owned),
        extra: released_claims(input.user, input.scope),
    };
    signer
        .sign(ID_TOKEN_TYP, &claims)
        .map_err(OAuthError::server_error)
}
