//! Whether what was granted earlier still stands under today's policy (DESIGN.md §2, "policy
//! holds over time"). A token, a refresh and a grant are each judged against the registry and
//! the user's authorizations as they are *now*, through the one intersection
//! ([`granted_scopes`]); nothing is trusted because an earlier token carried it.
//!
//! Three readers: every place a presented access token is accepted ([`token_stands`]:
//! introspection, UserInfo, token exchange's subject and actor), the refresh grant
//! ([`user_scope_now`], through `flows::code::refresh_scope`), and the sweep that revokes the
//! grants a removed link, authorization, scope, client, API or user no longer allows
//! ([`grant_stands`]).

use crate::grant::Grant;
use crate::model::{AccessToken, Client, OIDC_SCOPES, Profile, Registry, User};
use crate::scope::{ScopeSet, ScopeSources, granted_scopes};

/// The part of `scope` that today's policy lets `client` hold for a user: the OpenID Connect
/// part (`scope` ∩ the server's OIDC scopes ∩ the client's) and, when `api` is named, the API
/// part (`scope` ∩ offered by the API ∩ the client's link ∩ the user's `authorized` scopes). An
/// API that is gone or disabled, or a link that is gone, contributes nothing.
pub fn user_scope_now(
    registry: &Registry,
    client: &Client,
    api: Option<&str>,
    scope: &ScopeSet,
    authorized: Option<&ScopeSet>,
) -> ScopeSet {
    oidc_part(client, scope).union(&api_part(registry, client, api, scope, authorized))
}

/// `scope` ∩ the server's OpenID Connect scopes ∩ the client's.
fn oidc_part(client: &Client, scope: &ScopeSet) -> ScopeSet {
    let oidc = ScopeSet::from_tokens(OIDC_SCOPES.iter().copied());
    granted_scopes(ScopeSources {
        requested: Some(scope),
        offered: &oidc,
        allowed: &client.oidc_scopes,
        authorized: None,
        consented: None,
    })
}

/// `scope` ∩ offered by the API ∩ the client's link ∩ the user's authorization; empty when the
/// API is gone or disabled, the link is gone, or no API is named.
pub fn api_part(
    registry: &Registry,
    client: &Client,
    api: Option<&str>,
    scope: &ScopeSet,
    authorized: Option<&ScopeSet>,
) -> ScopeSet {
    let Some(api) = api.and_then(|a| registry.api(a)).filter(|a| !a.disabled) else {
        return ScopeSet::new();
    };
    let Some(link) = registry.link(&client.id, &api.id) else {
        return ScopeSet::new();
    };
    let empty = ScopeSet::new();
    granted_scopes(ScopeSources {
        requested: Some(scope),
        offered: &api.offered(),
        allowed: &link.scopes,
        authorized: Some(authorized.unwrap_or(&empty)),
        consented: None,
    })
}

/// The token's client, when it is still registered and enabled.
fn live_client<'r>(registry: &'r Registry, client_id: &str) -> Option<&'r Client> {
    registry
        .client(client_id)
        .filter(|c| !c.disabled)
        .map(|c| c.as_ref())
}

/// True when a token of a user (not of a client acting for itself) is named by `token`: its
/// subject is not its client. Client-credentials tokens carry the client id as subject.
pub fn names_a_user(token: &AccessToken) -> bool {
    token.subject != token.client_id
}

/// What a presented access token needs to know about its user, when it names one.
#[derive(Debug, Clone, Copy)]
pub struct UserNow<'a> {
    /// The user, when they exist and are enabled.
    pub user: Option<&'a User>,
    /// The user's (and their groups') scopes for the token's API; `None` when none.
    pub authorized: Option<&'a ScopeSet>,
}

/// True when a presented (unexpired, unrevoked) token still stands: its client is enabled; the
/// API it is for (unless it is for its client itself) is enabled; and every scope it carries is
/// still allowed — for a client's own token, by the API and the client's link; for a user's
/// token, by the API, the link (with exchange trust, for a token from token exchange) and the
/// user's authorizations, with the user still enabled. A MedMij token's scope follows the
/// person's consent and the lists instead (ended consents revoke their grants), so only its
/// client and API are checked here. `user` is `None` when the token names no user.
pub fn token_stands(registry: &Registry, token: &AccessToken, user: Option<UserNow<'_>>) -> bool {
    let Some(client) = live_client(registry, &token.client_id) else {
        return false;
    };
    let for_itself = token.api == token.client_id;
    if !for_itself && registry.api(&token.api).is_none_or(|a| a.disabled) {
        return false;
    }
    if client.profile == Profile::Medmij {
        return true;
    }
    if !names_a_user(token) {
        // A client's own token (client credentials): the API and the link must still allow it.
        return !for_itself
            && api_part(
                registry,
                client,
                Some(&token.api),
                &token.scope,
                Some(&token.scope),
            ) == token.scope;
    }
    let Some(user) = user else {
        return false;
    };
    if user.user.is_none_or(|u| u.disabled) {
        return false;
    }
    let exchanged = !token.derivation.chain.is_empty();
    if exchanged
        && !registry
            .link(&client.id, &token.api)
            .is_some_and(|l| l.exchange)
    {
        return false;
    }
    let api = (!for_itself).then_some(token.api.as_str());
    let now = if exchanged {
        api_part(registry, client, api, &token.scope, user.authorized)
    } else {
        user_scope_now(registry, client, api, &token.scope, user.authorized)
    };
    now == token.scope
}

/// True when a live grant still allows something: its client and user are enabled, and, when it
/// named an API and held scopes of it, the API, the link and the user's authorizations still
/// allow at least one of them. A grant that fails this is revoked by the policy sweep; one that
/// passes may still be narrowed at its next refresh ([`user_scope_now`]). MedMij grants follow
/// the person's consent and are left alone here (their client must still be enabled).
pub fn grant_stands(
    registry: &Registry,
    grant: &Grant,
    user: Option<&User>,
    authorized: Option<&ScopeSet>,
) -> bool {
    let Some(client) = live_client(registry, &grant.client_id) else {
        return false;
    };
    if client.profile == Profile::Medmij {
        return true;
    }
    if user.is_none_or(|u| u.disabled) {
        return false;
    }
    // A grant that held scopes of an API stands while at least one of them is still offered,
    // linked and authorized; one that held only OpenID Connect scopes stands with its client
    // and user.
    let held_api_scopes = grant.api.is_some() && !holds_only_oidc(&grant.scope);
    !held_api_scopes
        || !api_part(
            registry,
            client,
            grant.api.as_deref(),
            &grant.scope,
            authorized,
        )
        .is_empty()
}

/// True when every scope of `scope` is one of the server's OpenID Connect scopes.
fn holds_only_oidc(scope: &ScopeSet) -> bool {
    scope.iter().all(|s| OIDC_SCOPES.contains(&s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Api, ClientAuthMethod, Credentials, GrantType, Link, SigningAlg};

    fn s(text: &str) -> ScopeSet {
        ScopeSet::parse(text).unwrap()
    }

    fn registry(link_scopes: &str, exchange: bool) -> Registry {
        let mut client = Client::new(
            "app",
            "app",
            Credentials {
                method: ClientAuthMethod::ClientSecretBasic,
                secret_sha256: None,
                jwks: None,
                jwks_uri: None,
                assertion_alg: SigningAlg::ES256,
                tls_client_auth_san_dns: None,
                assertion_audience: Default::default(),
            },
            vec![GrantType::AuthorizationCode, GrantType::ClientCredentials],
        );
        client.oidc_scopes = s("openid profile");
        let api = Api {
            id: "orders".into(),
            name: "orders".into(),
            resources: vec![],
            token_format: crate::model::TokenFormat::Jwt,
            credentials: None,
            scopes: [
                ("read".to_owned(), String::new()),
                ("write".to_owned(), String::new()),
            ]
            .into_iter()
            .collect(),
            access_token_lifetime: 600,
            disabled: false,
            claims: Default::default(),
            client_id: None,
        };
        let links = if link_scopes.is_empty() {
            vec![]
        } else {
            vec![Link {
                client: "app".into(),
                api: "orders".into(),
                scopes: s(link_scopes),
                exchange,
                delegation: false,
                may_act: None,
                attributes: Default::default(),
            }]
        };
        Registry::new(1, vec![client], vec![api], links)
    }

    fn user() -> User {
        User {
            subject: "u".into(),
            username: "alice".into(),
            password_hash: String::new(),
            claims: Default::default(),
            groups: vec![],
            disabled: false,
        }
    }

    fn token(client: &str, subject: &str, api: &str, scope: &str) -> AccessToken {
        AccessToken {
            jti: "j".into(),
            grant_id: "g".into(),
            client_id: client.into(),
            subject: subject.into(),
            api: api.into(),
            scope: s(scope),
            issued_at: 0,
            expires_at: 100,
            format: crate::model::TokenFormat::Jwt,
            derivation: Default::default(),
        }
    }

    #[test]
    fn a_scope_is_held_now_only_if_every_source_still_allows_it() {
        let reg = registry("read write", false);
        let c = reg.client("app").unwrap().clone();
        let both = s("openid email read write");
        assert_eq!(
            user_scope_now(&reg, &c, Some("orders"), &both, Some(&s("read"))),
            s("openid read")
        );
        assert_eq!(
            user_scope_now(&reg, &c, Some("orders"), &both, None),
            s("openid")
        );
        assert_eq!(user_scope_now(&reg, &c, None, &both, None), s("openid"));
        let unlinked = registry("", false);
        assert_eq!(
            user_scope_now(&unlinked, &c, Some("orders"), &both, Some(&s("read write"))),
            s("openid")
        );
    }

    #[test]
    fn tokens_stand_only_while_their_client_api_link_and_user_allow_them() {
        let reg = registry("read", true);
        let u = user();
        let auth = s("read");
        let now = Some(UserNow {
            user: Some(&u),
            authorized: Some(&auth),
        });
        let t = token("app", "u", "orders", "read");
        assert!(token_stands(&reg, &t, now));
        // The user lost the scope, or is disabled.
        let none = ScopeSet::new();
        assert!(!token_stands(
            &reg,
            &t,
            Some(UserNow {
                user: Some(&u),
                authorized: Some(&none)
            })
        ));
        let mut off = user();
        off.disabled = true;
        assert!(!token_stands(
            &reg,
            &t,
            Some(UserNow {
                user: Some(&off),
                authorized: Some(&auth)
            })
        ));
        // The link no longer allows `write`.
        assert!(!token_stands(
            &reg,
            &token("app", "u", "orders", "read write"),
            now
        ));
        // The link is gone.
        assert!(!token_stands(&registry("", false), &t, now));
        // A client's own token: the link decides.
        let cc = token("app", "app", "orders", "read");
        assert!(token_stands(&reg, &cc, None));
        assert!(!token_stands(&registry("", false), &cc, None));
        // A token for the client itself: the OIDC scopes the client may still have.
        let own = token("app", "u", "app", "openid profile");
        assert!(token_stands(&reg, &own, now));
        assert!(!token_stands(
            &reg,
            &token("app", "u", "app", "openid email"),
            now
        ));
        // An exchanged token needs the link's exchange trust.
        let mut x = t.clone();
        x.derivation.chain = vec!["parent".into()];
        assert!(token_stands(&reg, &x, now));
        assert!(!token_stands(&registry("read", false), &x, now));
    }

    #[test]
    fn grants_stand_while_something_of_them_is_still_allowed() {
        let reg = registry("read write", false);
        let u = user();
        let g = Grant {
            id: "g".into(),
            client_id: "app".into(),
            subject: "u".into(),
            api: Some("orders".into()),
            scope: s("openid read write"),
            auth_time: 0,
            sid: None,
            offline: true,
            parent: None,
            created_at: 0,
            expires_at: 100,
            revoked_at: None,
        };
        assert!(grant_stands(&reg, &g, Some(&u), Some(&s("read"))));
        assert!(!grant_stands(&reg, &g, Some(&u), None));
        assert!(!grant_stands(
            &registry("", false),
            &g,
            Some(&u),
            Some(&s("read"))
        ));
        assert!(!grant_stands(&reg, &g, None, Some(&s("read"))));
        let mut oidc_only = g.clone();
        oidc_only.api = None;
        oidc_only.scope = s("openid");
        assert!(grant_stands(&reg, &oidc_only, Some(&u), None));
    }
}
