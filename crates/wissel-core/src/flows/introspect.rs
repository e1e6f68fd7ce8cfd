//! Introspection (RFC 7662): who may see a token, and what they are told.

use serde_json::{Map, Value, json};

use crate::model::{AccessToken, Principal, Registry};

/// True when the caller may learn that the token is active: the API it is for, or the client it
/// was issued to (for a token without an API, the one and the same). Everyone else is told
/// `{"active": false}`. Whether the token still stands at all (its client, API, link and user
/// under today's policy) is decided before, for every endpoint alike, by
/// [`crate::flows::standing::token_stands`].
pub fn may_see(caller: &Principal, token: &AccessToken) -> bool {
    match caller {
        Principal::Api(api) => api.id == token.api,
        Principal::Client(client) => client.id == token.client_id,
    }
}

/// The members of an active introspection response: the user claims its scopes release, the
/// link's attributes, what token exchange added (`act`, `may_act`, `parent_grant`), and the
/// standard members, which nothing can shadow.
pub fn active_response(
    issuer: &str,
    token: &AccessToken,
    registry: &Registry,
) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in &token.derivation.claims {
        m.insert(k.clone(), v.clone());
    }
    if let Some(link) = registry.link(&token.client_id, &token.api) {
        for (k, v) in &link.attributes {
            m.insert(k.clone(), v.clone());
        }
    }
    // Standard members last, so an attribute can never shadow them.
    let standard = json!({
        "active": true,
        "scope": token.scope.to_string(),
        "client_id": token.client_id,
        "sub": token.subject,
        "aud": token.api,
        "iss": issuer,
        "exp": token.expires_at,
        "iat": token.issued_at,
        "nbf": token.issued_at,
        "jti": token.jti,
        "token_type": "Bearer",
        "grant_id": token.grant_id,
    });
    if let Value::Object(std) = standard {
        m.extend(std);
    }
    let d = &token.derivation;
    if let Some(act) = &d.act {
        m.insert("act".into(), act.clone());
    }
    if let Some(may_act) = &d.may_act {
        m.insert("may_act".into(), may_act.clone());
    }
    if let Some(parent) = d.parent() {
        m.insert("parent_grant".into(), Value::String(parent.to_owned()));
    }
    m
}

/// The response for anything that is not an active token the caller may see.
pub fn inactive_response() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("active".into(), Value::Bool(false));
    m
}
