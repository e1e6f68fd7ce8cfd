//! The client-credentials grant (RFC 6749 §4.4): a token for an API, on the client's own behalf.

use crate::OAuthError;
use crate::flows::target::resolve_api;
use crate::model::{AccessToken, Client, GrantType, Registry, TokenFormat, token_type};
use crate::scope::{ScopeSet, ScopeSources, granted_scopes};

/// The parsed parameters of a client-credentials request.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentialsRequest {
    /// The `scope` parameter; `None` when absent (then everything the link allows).
    pub scope: Option<ScopeSet>,
    /// `audience` values (API ids).
    pub audience: Vec<String>,
    /// `resource` values (RFC 8707).
    pub resource: Vec<String>,
    /// `requested_token_type`.
    pub requested_token_type: Option<String>,
}

/// Fresh identifiers for the token and its grant, made by the caller's random source.
#[derive(Debug, Clone)]
pub struct NewIds {
    /// The token id.
    pub jti: String,
    /// The grant id.
    pub grant_id: String,
}

/// Decides the token a client-credentials request gets, or why it gets none.
pub fn decide(
    registry: &Registry,
    client: &Client,
    req: &ClientCredentialsRequest,
    now: i64,
    ids: NewIds,
) -> Result<AccessToken, OAuthError> {
    if !client.grant_types.contains(&GrantType::ClientCredentials) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the client_credentials grant",
        ));
    }
    if client.credentials.method == crate::model::ClientAuthMethod::None {
        return Err(OAuthError::unauthorized_client(
            "a public client cannot use client_credentials",
        ));
    }
    let api = resolve_api(registry, &client.id, &req.audience, &req.resource)?;
    let format = token_format(api.token_format, req.requested_token_type.as_deref())?;
    let offered = api.offered();
    let allowed = registry
        .link(&client.id, &api.id)
        .map(|l| l.scopes.clone())
        .unwrap_or_default();
    let scope = granted_scopes(ScopeSources {
        requested: req.scope.as_ref(),
        offered: &offered,
        allowed: &allowed,
        authorized: None,
        consented: None,
    });
    if scope.is_empty() {
        return Err(OAuthError::invalid_scope(
            "none of the requested scopes is offered by the API and allowed for this client",
        ));
    }
    Ok(AccessToken {
        jti: ids.jti,
        grant_id: ids.grant_id,
        client_id: client.id.clone(),
        subject: client.id.clone(),
        api: api.id.clone(),
        scope,
        issued_at: now,
        expires_at: now.saturating_add(api.access_token_lifetime),
        format,
        derivation: Default::default(),
    })
}

/// The format of the token: the API's default, or a JWT when `requested_token_type` asks for
/// one. Any other requested type is refused.
pub fn token_format(
    default: TokenFormat,
    requested: Option<&str>,
) -> Result<TokenFormat, OAuthError> {
    match requested {
        None | Some(token_type::ACCESS_TOKEN) => Ok(default),
        Some(token_type::JWT) => Ok(TokenFormat::Jwt),
        Some(_) => Err(OAuthError::invalid_request(
            "requested_token_type must be urn:ietf:params:oauth:token-type:access_token or \
             urn:ietf:params:oauth:token-type:jwt",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use crate::model::*;
    use std::collections::BTreeMap;

    fn registry() -> (Registry, Client) {
        let client = Client::new(
            "c",
            "C",
            Credentials {
                method: ClientAuthMethod::ClientSecretBasic,
                secret_sha256: Some(Digest([0; 32])),
                jwks: None,
                jwks_uri: None,
                assertion_alg: SigningAlg::ES256,
                assertion_audience: Default::default(),
                tls_client_auth_san_dns: None,
            },
            vec![GrantType::ClientCredentials],
        );
        let api = |id: &str, res: &str| Api {
            id: id.into(),
            name: id.into(),
            resources: vec![res.into()],
            token_format: TokenFormat::Opaque,
            credentials: None,
            scopes: BTreeMap::from([("r".into(), "read".into()), ("w".into(), "write".into())]),
            access_token_lifetime: 300,
            disabled: false,
            claims: Default::default(),
            client_id: None,
        };
        let link = Link {
            client: "c".into(),
            api: "a".into(),
            scopes: ScopeSet::from_tokens(["r"]),
            exchange: false,
            delegation: false,
            may_act: None,
            attributes: BTreeMap::new(),
        };
        let reg = Registry::new(
            1,
            vec![client.clone()],
            vec![api("a", "https://a/"), api("b", "https://b/")],
            vec![link],
        );
        (reg, client)
    }

    fn ids() -> NewIds {
        NewIds {
            jti: "j".into(),
            grant_id: "g".into(),
        }
    }

    #[test]
    fn grants_the_intersection() {
        let (reg, c) = registry();
        let req = ClientCredentialsRequest {
            scope: Some(ScopeSet::parse("r w").unwrap()),
            audience: vec!["a".into()],
            ..Default::default()
        };
        let t = decide(&reg, &c, &req, 100, ids()).unwrap();
        assert_eq!(t.scope.to_string(), "r");
        assert_eq!(t.expires_at, 400);
        assert_eq!(t.format, TokenFormat::Opaque);
    }

    #[test]
    fn default_api_is_the_only_link_and_jwt_on_request() {
        let (reg, c) = registry();
        let req = ClientCredentialsRequest {
            requested_token_type: Some(token_type::JWT.into()),
            ..Default::default()
        };
        let t = decide(&reg, &c, &req, 0, ids()).unwrap();
        assert_eq!(t.api, "a");
        assert_eq!(t.format, TokenFormat::Jwt);
    }

    #[test]
    fn refusals() {
        let (reg, c) = registry();
        let code =
            |req: ClientCredentialsRequest| decide(&reg, &c, &req, 0, ids()).unwrap_err().code;
        let aud = |a: &str| vec![a.to_string()];
        assert_eq!(
            code(ClientCredentialsRequest {
                audience: aud("x"),
                ..Default::default()
            }),
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            code(ClientCredentialsRequest {
                audience: aud("b"),
                ..Default::default()
            }),
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            code(ClientCredentialsRequest {
                audience: aud("a"),
                resource: aud("https://b/"),
                ..Default::default()
            }),
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            code(ClientCredentialsRequest {
                scope: Some(ScopeSet::parse("w").unwrap()),
                ..Default::default()
            }),
            ErrorCode::InvalidScope
        );
        assert_eq!(
            code(ClientCredentialsRequest {
                requested_token_type: Some("urn:x".into()),
                ..Default::default()
            }),
            ErrorCode::InvalidRequest
        );
        let mut c2 = c.clone();
        c2.grant_types.clear();
        assert_eq!(
            decide(&reg, &c2, &ClientCredentialsRequest::default(), 0, ids())
                .unwrap_err()
                .code,
            ErrorCode::UnauthorizedClient
        );
    }

    #[test]
    fn resource_and_audience_naming_the_same_api_are_fine() {
        let (reg, c) = registry();
        let req = ClientCredentialsRequest {
            audience: vec!["a".into()],
            resource: vec!["https://a/".into()],
            ..Default::default()
        };
        assert_eq!(decide(&reg, &c, &req, 0, ids()).unwrap().api, "a");
    }
}
