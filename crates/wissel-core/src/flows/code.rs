//! The token endpoint's `authorization_code` and `refresh_token` grants (RFC 6749 §4.1.3, §6;
//! RFC 7636 §4.6; RFC 9700 §4.14): what a spent code or a presented refresh token must satisfy,
//! and the tokens it yields.

use crate::OAuthError;
use crate::flows::standing;
use crate::grant::{CodeRecord, Grant, PkceMethod, RefreshRecord};
use crate::model::{
    AccessToken, Client, GrantType, OIDC_SCOPES, Profile, Registry, TokenFormat, User,
};
use crate::scope::ScopeSet;

/// Checks a code record (already spent) against the token request. `pkce` verifies a verifier
/// against a challenge (the crypto crate's).
pub fn check_code(
    rec: &CodeRecord,
    client: &Client,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: i64,
    pkce: impl Fn(&str, &str, PkceMethod) -> bool,
) -> Result<(), OAuthError> {
    if rec.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if rec.expires_at <= now {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    if rec.redirect_uri_given {
        match redirect_uri {
            None => {
                return Err(OAuthError::invalid_request(
                    "redirect_uri is required: the authorization request carried one",
                ));
            }
            Some(uri) if uri != rec.redirect_uri => {
                return Err(OAuthError::invalid_grant(
                    "redirect_uri differs from the authorization request's",
                ));
            }
            Some(_) => {}
        }
    } else if redirect_uri.is_some_and(|uri| uri != rec.redirect_uri) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the one the code was sent to",
        ));
    }
    match (&rec.code_challenge, code_verifier) {
        (None, None) => Ok(()),
        // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade.
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier given, but the authorization request had no code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant(
            "code_verifier is required: the authorization request had a code_challenge",
        )),
        (Some(challenge), Some(verifier)) => {
            let method = rec.code_challenge_method.unwrap_or(PkceMethod::Plain);
            if pkce(verifier, challenge, method) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ))
            }
        }
    }
}

/// Checks a presented (current, unrotated) refresh token: this client's, unexpired, its grant
/// live and its user enabled. What it may still carry is [`refresh_scope`]'s.
pub fn check_refresh(
    rec: &RefreshRecord,
    grant: Option<&Grant>,
    user: Option<&User>,
    client: &Client,
    now: i64,
) -> Result<(), OAuthError> {
    if rec.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if !client.allows(GrantType::RefreshToken) {
        return Err(OAuthError::unauthorized_client(
            "this client may not use the refresh_token grant",
        ));
    }
    if rec.expires_at <= now {
        return Err(OAuthError::invalid_grant("the refresh token has expired"));
    }
    match grant {
        Some(g) if g.revoked_at.is_none() && g.expires_at > now => {}
        Some(g) if g.revoked_at.is_some() => {
            return Err(OAuthError::invalid_grant("the grant has been revoked"));
        }
        _ => return Err(OAuthError::invalid_grant("the grant has expired")),
    }
    match user {
        Some(u) if !u.disabled => Ok(()),
        _ => Err(OAuthError::invalid_grant("the user is no longer active")),
    }
}

/// The scopes of a refresh: what the new access token carries, and what the rotated refresh
/// token keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshScope {
    /// The new access token's scope: the requested narrowing (or all that is kept).
    pub access: ScopeSet,
    /// What the successor refresh token keeps: the family's scope as today's policy still
    /// allows it. A scope policy took away never comes back to this family.
    pub kept: ScopeSet,
}

/// Recomputes a refresh's scope against today's policy (DESIGN.md §2): the family's scope ∩ the
/// client's OpenID Connect scopes, and ∩ the API, the client's link and the user's `authorized`
/// scopes for its API part ([`standing::user_scope_now`]); then the requested narrowing. A
/// family that held scopes of an API and holds none of them now is `invalid_grant`, as is one
/// with nothing left; a request for more than the family holds is `invalid_scope`.
pub fn refresh_scope(
    registry: &Registry,
    client: &Client,
    rec: &RefreshRecord,
    requested: Option<&ScopeSet>,
    authorized: Option<&ScopeSet>,
) -> Result<RefreshScope, OAuthError> {
    let api = rec.api.as_deref();
    let kept = standing::user_scope_now(registry, client, api, &rec.scope, authorized);
    let held_api = standing::api_part(registry, client, api, &rec.scope, Some(&rec.scope));
    let had_api = api.is_some() && rec.scope.iter().any(|s| !OIDC_SCOPES.contains(&s));
    if had_api && standing::api_part(registry, client, api, &kept, authorized).is_empty() {
        let why = if held_api.is_empty() {
            "the API or the client's link to it is gone"
        } else {
            "the user is no longer authorized for any scope of this grant's API"
        };
        return Err(OAuthError::invalid_grant(why));
    }
    if kept.is_empty() {
        return Err(OAuthError::invalid_grant(
            "nothing of this grant is allowed any more",
        ));
    }
    let access = match requested {
        None => kept.clone(),
        Some(s) if s.is_subset(&rec.scope) && !s.is_empty() => {
            let access = s.intersect(&kept);
            if access.is_empty() {
                return Err(OAuthError::invalid_scope(
                    "none of the requested scopes is allowed any more",
                ));
            }
            access
        }
        Some(_) => {
            return Err(OAuthError::invalid_scope(
                "a refresh can narrow the scope, never widen it",
            ));
        }
    };
    Ok(RefreshScope { access, kept })
}

/// The access token of a user grant: for the named API (its format and lifetime), or, when none
/// was named, for the client itself (userinfo, token exchange): a JWT, or opaque for a client of
/// the `acmidm` profile.
#[allow(clippy::too_many_arguments)]
pub fn user_access_token(
    registry: &Registry,
    client: &Client,
    grant_id: &str,
    subject: &str,
    api: Option<&str>,
    scope: ScopeSet,
    jti: String,
    now: i64,
) -> Result<AccessToken, OAuthError> {
    let (audience, format, lifetime) = match api {
        Some(id) => {
            let api = registry
                .api(id)
                .filter(|a| !a.disabled)
                .ok_or_else(|| OAuthError::invalid_grant("the API of this grant is gone"))?;
            (api.id.clone(), api.token_format, api.access_token_lifetime)
        }
        None => (
            client.id.clone(),
            match client.profile {
                Profile::Acmidm => TokenFormat::Opaque,
                _ => TokenFormat::Jwt,
            },
            client.lifetimes.access_token,
        ),
    };
    Ok(AccessToken {
        jti,
        grant_id: grant_id.to_owned(),
        client_id: client.id.clone(),
        subject: subject.to_owned(),
        api: audience,
        scope,
        issued_at: now,
        expires_at: now.saturating_add(lifetime),
        format,
        derivation: Default::default(),
    })
}

/// True when a refresh token goes with this grant: `offline_access` was granted, or the client
/// is configured for refresh tokens; and the client may use the grant.
pub fn issues_refresh(client: &Client, scope: &ScopeSet) -> bool {
    client.allows(GrantType::RefreshToken)
        && (scope.contains("offline_access") || client.refresh_tokens)
}

/// The longest an access token of this client's grants can live: how long a grant revocation
/// must be remembered.
pub fn longest_access_lifetime(registry: &Registry, client: &Client) -> i64 {
    registry
        .links_of(&client.id)
        .filter_map(|l| registry.api(&l.api))
        .map(|a| a.access_token_lifetime)
        .chain(std::iter::once(client.lifetimes.access_token))
        .max()
        .unwrap_or(client.lifetimes.access_token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientAuthMethod, Credentials, SigningAlg};

    fn client(id: &str) -> Client {
        let mut c = Client::new(
            id,
            id,
            Credentials {
                method: ClientAuthMethod::ClientSecretBasic,
                secret_sha256: None,
                jwks: None,
                jwks_uri: None,
                assertion_alg: SigningAlg::ES256,
                assertion_audience: Default::default(),
                tls_client_auth_san_dns: None,
            },
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        );
        c.redirect_uris = vec!["https://app/cb".into()];
        c
    }

    fn code() -> CodeRecord {
        CodeRecord {
            grant_id: "g".into(),
            client_id: "app".into(),
            subject: "u".into(),
            redirect_uri: "https://app/cb".into(),
            redirect_uri_given: true,
            code_challenge: Some("challenge".into()),
            code_challenge_method: Some(PkceMethod::S256),
            nonce: None,
            scope: ScopeSet::parse("openid").unwrap(),
            api: None,
            auth_time: 0,
            amr: vec![],
            acr: None,
            sid: None,
            issued_at: 0,
            expires_at: 60,
            medmij: None,
        }
    }

    fn pkce(v: &str, c: &str, _: PkceMethod) -> bool {
        v == "verifier" && c == "challenge"
    }

    #[test]
    fn code_checks_each_have_their_error() {
        let c = client("app");
        let ok = check_code(
            &code(),
            &c,
            Some("https://app/cb"),
            Some("verifier"),
            1,
            pkce,
        );
        assert!(ok.is_ok());
        let err = |r: Result<(), OAuthError>| r.unwrap_err().code.as_str();
        assert_eq!(
            err(check_code(
                &code(),
                &client("other"),
                Some("https://app/cb"),
                Some("verifier"),
                1,
                pkce
            )),
            "invalid_grant"
        );
        assert_eq!(
            err(check_code(
                &code(),
                &c,
                Some("https://app/cb"),
                Some("verifier"),
                60,
                pkce
            )),
            "invalid_grant"
        );
        assert_eq!(
            err(check_code(&code(), &c, None, Some("verifier"), 1, pkce)),
            "invalid_request"
        );
        assert_eq!(
            err(check_code(
                &code(),
                &c,
                Some("https://app/cb/"),
                Some("verifier"),
                1,
                pkce
            )),
            "invalid_grant"
        );
        assert_eq!(
            err(check_code(
                &code(),
                &c,
                Some("https://app/cb"),
                None,
                1,
                pkce
            )),
            "invalid_grant"
        );
        assert_eq!(
            err(check_code(
                &code(),
                &c,
                Some("https://app/cb"),
                Some("wrong"),
                1,
                pkce
            )),
            "invalid_grant"
        );
        let mut no_pkce = code();
        no_pkce.code_challenge = None;
        assert_eq!(
            err(check_code(
                &no_pkce,
                &c,
                Some("https://app/cb"),
                Some("verifier"),
                1,
                pkce
            )),
            "invalid_grant"
        );
    }

    #[test]
    fn refresh_narrows_never_widens() {
        let c = client("app");
        let rec = RefreshRecord {
            grant_id: "g".into(),
            client_id: "app".into(),
            subject: "u".into(),
            scope: ScopeSet::parse("openid email").unwrap(),
            api: None,
            auth_time: 0,
            amr: vec![],
            acr: None,
            sid: None,
            issued_at: 0,
            expires_at: 100,
            medmij: None,
        };
        let grant = Grant {
            id: "g".into(),
            client_id: "app".into(),
            subject: "u".into(),
            api: None,
            scope: rec.scope.clone(),
            auth_time: 0,
            sid: None,
            offline: true,
            parent: None,
            created_at: 0,
            expires_at: 1000,
            revoked_at: None,
        };
        let user = User {
            subject: "u".into(),
            username: "u".into(),
            password_hash: String::new(),
            claims: Default::default(),
            groups: vec![],
            disabled: false,
        };
        let reg = Registry::new(1, vec![c.clone()], vec![], vec![]);
        let narrow = ScopeSet::parse("email").unwrap();
        assert!(check_refresh(&rec, Some(&grant), Some(&user), &c, 1).is_ok());
        assert_eq!(
            refresh_scope(&reg, &c, &rec, Some(&narrow), None)
                .unwrap()
                .access,
            narrow
        );
        let wide = ScopeSet::parse("email profile").unwrap();
        assert_eq!(
            refresh_scope(&reg, &c, &rec, Some(&wide), None)
                .unwrap_err()
                .code
                .as_str(),
            "invalid_scope"
        );
        assert!(check_refresh(&rec, Some(&grant), Some(&user), &client("x"), 1).is_err());
        assert!(check_refresh(&rec, Some(&grant), Some(&user), &c, 100).is_err());
        let mut revoked = grant.clone();
        revoked.revoked_at = Some(1);
        assert!(check_refresh(&rec, Some(&revoked), Some(&user), &c, 1).is_err());
        let mut disabled = user.clone();
        disabled.disabled = true;
        assert!(check_refresh(&rec, Some(&grant), Some(&disabled), &c, 1).is_err());
    }

    /// A refresh carries what today's policy allows, never what the family once held (issue 10,
    /// item 1): narrowed with the user's authorization, `invalid_grant` once nothing of the API
    /// is left.
    #[test]
    fn refresh_follows_todays_policy() {
        use crate::model::{Api, Link};
        let c = client("app");
        let api = Api {
            id: "orders".into(),
            name: "orders".into(),
            resources: vec![],
            token_format: TokenFormat::Jwt,
            credentials: None,
            scopes: [("read", ""), ("write", "")]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            access_token_lifetime: 600,
            disabled: false,
            claims: Default::default(),
            client_id: None,
        };
        let link = Link {
            client: "app".into(),
            api: "orders".into(),
            scopes: ScopeSet::parse("read write").unwrap(),
            exchange: false,
            delegation: false,
            may_act: None,
            attributes: Default::default(),
        };
        let reg = Registry::new(1, vec![c.clone()], vec![api], vec![link]);
        let rec = RefreshRecord {
            grant_id: "g".into(),
            client_id: "app".into(),
            subject: "u".into(),
            scope: ScopeSet::parse("openid read write").unwrap(),
            api: Some("orders".into()),
            auth_time: 0,
            amr: vec![],
            acr: None,
            sid: None,
            issued_at: 0,
            expires_at: 100,
            medmij: None,
        };
        let both = ScopeSet::parse("read write").unwrap();
        let read = ScopeSet::parse("read").unwrap();
        let all = refresh_scope(&reg, &c, &rec, None, Some(&both)).unwrap();
        assert_eq!(all.access, rec.scope);
        let narrowed = refresh_scope(&reg, &c, &rec, None, Some(&read)).unwrap();
        assert_eq!(narrowed.access, ScopeSet::parse("openid read").unwrap());
        assert_eq!(narrowed.kept, narrowed.access);
        let write = ScopeSet::parse("write").unwrap();
        assert_eq!(
            refresh_scope(&reg, &c, &rec, Some(&write), Some(&read))
                .unwrap_err()
                .code
                .as_str(),
            "invalid_scope"
        );
        for gone in [
            refresh_scope(&reg, &c, &rec, None, None),
            refresh_scope(
                &Registry::new(1, vec![c.clone()], vec![], vec![]),
                &c,
                &rec,
                None,
                Some(&both),
            ),
        ] {
            assert_eq!(gone.unwrap_err().code.as_str(), "invalid_grant");
        }
    }
}
