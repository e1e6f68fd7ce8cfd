//! Whom a validated token speaks for.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{ValidationError, error::invalid};

/// Members with a meaning of their own; every other member is a claim ([`Principal::claims`]).
const STANDARD_MEMBERS: [&str; 16] = [
    "active",
    "scope",
    "client_id",
    "sub",
    "aud",
    "iss",
    "exp",
    "iat",
    "nbf",
    "jti",
    "token_type",
    "grant_id",
    "act",
    "may_act",
    "chain",
    "parent_grant",
];

/// Whom a validated access token speaks for, and what it allows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Principal {
    /// The subject: the user, or the client itself for a client-credentials token.
    pub sub: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// The audience the token was checked against: this API.
    pub audience: String,
    /// The granted scopes.
    pub scopes: BTreeSet<String>,
    /// When the token expires, in Unix seconds.
    pub expires_at: i64,
    /// When the token was issued, in Unix seconds.
    pub issued_at: Option<i64>,
    /// The token's identifier.
    pub jti: Option<String>,
    /// The grant the token belongs to.
    pub grant_id: Option<String>,
    /// The acting party of a delegated (token exchange) token, RFC 8693 §4.1.
    pub act: Option<Value>,
    /// Every other member: user claims (`name`, `email`, …), link attributes, and the like.
    pub claims: Map<String, Value>,
}

impl Principal {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// [`ValidationError::InsufficientScope`] unless the token grants `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), ValidationError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(ValidationError::InsufficientScope(scope.to_owned()))
        }
    }

    /// The current actor's subject (`act.sub`), when the token was obtained by delegation.
    pub fn actor(&self) -> Option<&str> {
        self.act.as_ref()?.get("sub")?.as_str()
    }

    /// Reads the claims of an introspection response or a JWT access token, after checking that
    /// `aud` is (or, as an array, contains) `audience`. The caller checks the times.
    pub(crate) fn from_claims(
        mut claims: Map<String, Value>,
        audience: &str,
    ) -> Result<Self, ValidationError> {
        let audience_matches = match claims.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !audience_matches {
            return Err(invalid("not for this audience"));
        }
        let sub = take_string(&mut claims, "sub")?.ok_or_else(|| invalid("no sub"))?;
        let client_id =
            take_string(&mut claims, "client_id")?.ok_or_else(|| invalid("no client_id"))?;
        let expires_at = take_time(&mut claims, "exp")?.ok_or_else(|| invalid("no exp"))?;
        let issued_at = take_time(&mut claims, "iat")?;
        let jti = take_string(&mut claims, "jti")?;
        let grant_id = take_string(&mut claims, "grant_id")?;
        let scopes = take_string(&mut claims, "scope")?
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let act = match claims.remove("act") {
            None | Some(Value::Null) => None,
            Some(act @ Value::Object(_)) => Some(act),
            Some(_) => return Err(invalid("act is not an object")),
        };
        claims.retain(|name, _| !STANDARD_MEMBERS.contains(&name.as_str()));
        Ok(Self {
            sub,
            client_id,
            audience: audience.to_owned(),
            scopes,
            expires_at,
            issued_at,
            jti,
            grant_id,
            act,
            claims,
        })
    }
}

fn take_string(
    claims: &mut Map<String, Value>,
    name: &str,
) -> Result<Option<String>, ValidationError> {
    match claims.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(invalid(name)),
    }
}

fn take_time(claims: &mut Map<String, Value>, name: &str) -> Result<Option<i64>, ValidationError> {
    match claims.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value.as_i64().map(Some).ok_or_else(|| invalid(name)),
    }
}
