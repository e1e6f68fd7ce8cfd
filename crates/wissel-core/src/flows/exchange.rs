//! Token exchange (RFC 8693) on behalf of a user: a client trades an access token it holds for
//! one to an API. The checks run in a fixed order, each with its own error (docs/token-exchange.md):
//!
//! 1. the client authenticates — `invalid_client` (the endpoint, before this module);
//! 2. the subject token is active, ours, and issued to this client — `invalid_grant`, one
//!    answer for every token that is not ([`unusable`], [`check_subject`]; its announced type —
//!    `invalid_request` — by [`check_token_type`]);
//! 3. the target API exists — `invalid_target` ([`target`]);
//! 4. the API trusts the client for exchange — `unauthorized_client` ([`trust`]); an actor
//!    token needs the link's delegation permission — `invalid_request` ([`check_actor`]);
//! 5. the user is authorised for the API — `invalid_grant` ([`decide`]);
//! 6. scope = requested ∩ API ∩ link ∩ user, not empty — `invalid_scope` ([`decide`]).
//!
//! Everything here is pure: the endpoint resolves tokens and reads the user, and passes them in.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::OAuthError;
use crate::flows::client_credentials::token_format;
use crate::model::{
    AccessToken, Api, Client, Derivation, Link, MAX_CHAIN, Profile, Registry, TokenFormat, User,
    token_type,
};
use crate::scope::{ScopeSet, ScopeSources, granted_scopes};

/// The token types of RFC 8693 §3 that are never accepted as a subject or actor.
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const REFRESH_TOKEN: &str = "urn:ietf:params:oauth:token-type:refresh_token";

/// The shape a `subject_token_type` or `actor_token_type` announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    /// `…:access_token`: any access token of ours.
    AccessToken,
    /// `…:jwt`: a JWT access token of ours.
    Jwt,
}

/// Check 2, its first half: the announced token type (`param` names the parameter in errors).
/// ID tokens and refresh tokens are refused by type here and by content in the endpoint.
pub fn check_token_type(param: &str, value: Option<&str>) -> Result<Announced, OAuthError> {
    match value {
        Some(token_type::ACCESS_TOKEN) => Ok(Announced::AccessToken),
        Some(token_type::JWT) => Ok(Announced::Jwt),
        Some(ID_TOKEN) => Err(OAuthError::invalid_request(format!(
            "{param}: an ID token cannot be exchanged; present the access token"
        ))),
        Some(REFRESH_TOKEN) => Err(OAuthError::invalid_request(format!(
            "{param}: a refresh token cannot be exchanged; present the access token"
        ))),
        Some(_) => Err(OAuthError::invalid_request(format!(
            "{param} must be urn:ietf:params:oauth:token-type:access_token or \
             urn:ietf:params:oauth:token-type:jwt"
        ))),
        None => Err(OAuthError::invalid_request(format!("{param} is required"))),
    }
}

/// Why a presented subject or actor token cannot be used. Only the log learns which: the client
/// gets [`unusable`]'s one answer whatever the reason, so that exchange is no oracle for what a
/// value is to someone else — a live refresh token, another client's access token (DESIGN.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// Not an active access token of this server: unknown, malformed, forged, another issuer's,
    /// expired or revoked.
    NotActive,
    /// One of this server's ID tokens.
    IdToken,
    /// One of this server's refresh tokens.
    RefreshToken,
    /// An active access token of this server, issued to another client.
    OtherClient,
}

impl Unusable {
    /// A name for the log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotActive => "not an active access token of this server",
            Self::IdToken => "an ID token",
            Self::RefreshToken => "a refresh token",
            Self::OtherClient => "an access token issued to another client",
        }
    }
}

/// The one answer to a `param` (`subject_token`, `actor_token`) that is not an active access
/// token issued to the caller, whatever it is instead; the reason goes to the log only. (The
/// endpoint answers an actor token with `invalid_request`, RFC 8693 §2.2.2, with the same
/// description.)
pub fn unusable(param: &str, reason: Unusable) -> OAuthError {
    OAuthError::invalid_grant(format!(
        "{param} is not an active access token issued to this client"
    ))
    .logged_as(format!("{param} is {}", reason.as_str()))
}

/// An actor token's refusal: `invalid_request` (RFC 8693 §2.2.2), otherwise the same error.
pub fn as_actor_refusal(error: OAuthError) -> OAuthError {
    OAuthError {
        code: crate::ErrorCode::InvalidRequest,
        ..error
    }
}

/// Check 2, its second half: the (active, ours, unrevoked) subject token was issued to this
/// client — its `client_id` is the client, or its audience is the client itself or an API that
/// acts as this client — and it may be exchanged further. Another client's token gets
/// [`unusable`]'s answer, as an unknown value does.
pub fn check_subject(
    registry: &Registry,
    client: &Client,
    subject: &AccessToken,
) -> Result<(), OAuthError> {
    let for_client = subject.client_id == client.id
        || subject.api == client.id
        || registry
            .api(&subject.api)
            .is_some_and(|a| a.client_id.as_deref() == Some(client.id.as_str()));
    if !for_client {
        return Err(unusable("subject_token", Unusable::OtherClient));
    }
    if subject.derivation.chain.len() + 1 > MAX_CHAIN {
        return Err(OAuthError::invalid_grant(
            "the subject token comes from too long a chain of exchanges",
        ));
    }
    Ok(())
}

/// Check 3: the API named by `audience` (its id) and `resource` (one of its resource URIs).
/// Every value given must name the same API.
pub fn target(
    registry: &Registry,
    audience: &[String],
    resource: &[String],
) -> Result<Arc<Api>, OAuthError> {
    if audience.is_empty() && resource.is_empty() {
        return Err(OAuthError::invalid_request(
            "name the target API with audience or resource",
        ));
    }
    let mut chosen: Option<&Arc<Api>> = None;
    for a in audience {
        let api = registry
            .api(a)
            .ok_or_else(|| OAuthError::invalid_target("audience names no API"))?;
        chosen = Some(same(chosen, api)?);
    }
    for r in resource {
        let api = registry
            .api_by_resource(r)
            .ok_or_else(|| OAuthError::invalid_target("resource names no API"))?;
        chosen = Some(same(chosen, api)?);
    }
    match chosen {
        Some(api) if !api.disabled => Ok(api.clone()),
        Some(_) => Err(OAuthError::invalid_target("the API is disabled")),
        None => Err(OAuthError::invalid_target("no API named")),
    }
}

fn same<'a>(chosen: Option<&'a Arc<Api>>, api: &'a Arc<Api>) -> Result<&'a Arc<Api>, OAuthError> {
    match chosen {
        Some(prev) if prev.id != api.id => Err(OAuthError::invalid_target(
            "audience and resource name different APIs; one token serves one API",
        )),
        _ => Ok(api),
    }
}

/// Check 4: the API trusts this client for token exchange (the link's `exchange` flag).
pub fn trust(registry: &Registry, client: &Client, api: &Api) -> Result<Arc<Link>, OAuthError> {
    match registry.link(&client.id, &api.id) {
        Some(link) if link.exchange => Ok(link.clone()),
        _ => Err(OAuthError::unauthorized_client(
            "the API does not trust this client for token exchange",
        )),
    }
}

/// Delegation (RFC 8693 §4.1, §4.4): an actor token is accepted only when the link allows
/// delegation, only when it was issued to this client, and only for the actor the subject
/// token's `may_act` names, when it names one. Returns the `act` of the new token: the actor,
/// with the subject token's own `act` nested inside. Every refusal is `invalid_request`
/// (RFC 8693 §2.2.2: an actor token unacceptable by policy).
pub fn check_actor(
    client: &Client,
    link: &Link,
    subject: &AccessToken,
    actor: &AccessToken,
) -> Result<Value, OAuthError> {
    may_delegate(link)?;
    if actor.client_id != client.id {
        return Err(as_actor_refusal(unusable(
            "actor_token",
            Unusable::OtherClient,
        )));
    }
    if let Some(may_act) = &subject.derivation.may_act
        && may_act.get("sub").and_then(Value::as_str) != Some(actor.subject.as_str())
    {
        return Err(OAuthError::invalid_request(
            "actor_token: the subject token's may_act does not name this actor",
        ));
    }
    let mut act = json!({ "sub": actor.subject });
    if let (Some(prior), Value::Object(m)) = (&subject.derivation.act, &mut act) {
        m.insert("act".into(), prior.clone());
    }
    Ok(act)
}

/// The link's permission to present an actor token; the endpoint asks before it even looks at
/// the actor token.
pub fn may_delegate(link: &Link) -> Result<(), OAuthError> {
    if link.delegation {
        Ok(())
    } else {
        Err(OAuthError::invalid_request(
            "actor_token: this client may not act for users at this API (the link does not allow \
             delegation)",
        ))
    }
}

/// `requested_token_type`, checked with the request's other parameters: absent, `…:access_token`
/// or `…:jwt`.
pub fn check_requested_token_type(requested: Option<&str>) -> Result<(), OAuthError> {
    token_format(TokenFormat::Jwt, requested).map(|_| ())
}

/// What the endpoint learned about the subject's user.
#[derive(Debug, Clone)]
pub struct UserAccess {
    /// The user, when the subject names an active one.
    pub user: Option<Arc<User>>,
    /// The scopes the user and their groups hold for the API; `None` when no authorization
    /// names them.
    pub authorized: Option<ScopeSet>,
}

/// The rest of a token-exchange request, after checks 1–4.
#[derive(Debug, Clone)]
pub struct Exchange<'a> {
    /// The authenticated client.
    pub client: &'a Client,
    /// The target API.
    pub api: &'a Api,
    /// The link from the client to the API (trusted).
    pub link: &'a Link,
    /// The subject token, checked.
    pub subject: &'a AccessToken,
    /// The `act` of the new token, from [`check_actor`]; `None` keeps the subject's own.
    pub act: Option<Value>,
    /// The `scope` parameter; `None` when absent (all that the other sources allow).
    pub requested: Option<&'a ScopeSet>,
    /// `requested_token_type`.
    pub requested_token_type: Option<&'a str>,
    /// Now.
    pub now: i64,
    /// The new token's id.
    pub jti: String,
    /// The new token's grant id (a child of the subject's grant).
    pub grant_id: String,
}

/// What an exchange issues: the token and the `issued_token_type` to report.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The new token.
    pub token: AccessToken,
    /// `issued_token_type`.
    pub issued_token_type: &'static str,
}

/// Checks 5 and 6, and the new token. It names the user, the client and the API, carries the
/// granted scopes and the claims they release, hangs off a new grant whose chain ends with the
/// subject's grant, and never outlives the subject token.
pub fn decide(x: Exchange<'_>, access: &UserAccess) -> Result<Issued, OAuthError> {
    let user = access
        .user
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_grant("the subject token names no active user"))?;
    let authorized = access
        .authorized
        .as_ref()
        .ok_or_else(|| OAuthError::invalid_grant("the user is not authorized for this API"))?;
    let offered = x.api.offered();
    let scope = granted_scopes(ScopeSources {
        requested: x.requested,
        offered: &offered,
        allowed: &x.link.scopes,
        authorized: Some(authorized),
        consented: None,
    });
    if scope.is_empty() {
        return Err(OAuthError::invalid_scope(
            "no requested scope is offered by the API, allowed for this client and held by the \
             user",
        ));
    }
    let (format, issued_token_type) = format(x.client, x.api, x.requested_token_type)?;
    let mut chain = x.subject.derivation.chain.clone();
    chain.push(x.subject.grant_id.clone());
    let derivation = Derivation {
        chain,
        act: x.act.or_else(|| x.subject.derivation.act.clone()),
        may_act: x.link.may_act.as_ref().map(|sub| json!({ "sub": sub })),
        claims: released_claims(x.api, &scope, user),
    };
    let expires_at = x
        .now
        .saturating_add(x.api.access_token_lifetime)
        .min(x.subject.expires_at);
    Ok(Issued {
        token: AccessToken {
            jti: x.jti,
            grant_id: x.grant_id,
            client_id: x.client.id.clone(),
            subject: x.subject.subject.clone(),
            api: x.api.id.clone(),
            scope,
            issued_at: x.now,
            expires_at,
            format,
            derivation,
        },
        issued_token_type,
    })
}

/// The new token's format and the type reported for it: the API's format (opaque for a client
/// of the `acmidm` profile), or a JWT on `requested_token_type=…:jwt`.
fn format(
    client: &Client,
    api: &Api,
    requested: Option<&str>,
) -> Result<(TokenFormat, &'static str), OAuthError> {
    let default = match client.profile {
        Profile::Acmidm => TokenFormat::Opaque,
        _ => api.token_format,
    };
    let format = token_format(default, requested)?;
    let issued = if requested == Some(token_type::JWT) {
        token_type::JWT
    } else {
        token_type::ACCESS_TOKEN
    };
    Ok((format, issued))
}

/// The user claims that `scope` releases to the API (configured per API scope).
/// `preferred_username` and `groups` come from the account when not set as claims.
pub fn released_claims(api: &Api, scope: &ScopeSet, user: &User) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for name in api.released_claims(scope) {
        let value = match (user.claims.get(name), name) {
            (Some(v), _) => v.clone(),
            (None, "preferred_username") => Value::String(user.username.clone()),
            (None, "groups") => json!(user.groups),
            (None, _) => continue,
        };
        out.insert(name.to_owned(), value);
    }
    out
}

#[cfg(test)]
mod tests;
