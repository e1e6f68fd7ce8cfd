//! The authorization endpoint's rules (RFC 6749 §4.1, RFC 7636, RFC 8252 §7.3, RFC 9207,
//! OpenID Connect Core §3.1.2): which requests are refused on an error page (a wrong client or
//! redirect URI: never a redirect), which are sent back to the client with an error, and what a
//! valid request asks for.

use std::borrow::Cow;
use std::sync::Arc;

use crate::grant::{AuthRequest, Consent, PkceMethod, Prompt, ResponseMode, Session};
use crate::model::{Api, ApplicationType, Client, GrantType, OIDC_SCOPES, PkceRule, Registry};
use crate::scope::ScopeSet;
use crate::{ErrorCode, OAuthError};

/// Longest value accepted for any one parameter.
pub const MAX_PARAM_LEN: usize = 2048;

/// Why a request is refused on a page of ours rather than at the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageError {
    /// `client_id` is missing, unknown, disabled or repeated.
    UnknownClient,
    /// `redirect_uri` is missing (with several registered), not registered, or repeated.
    BadRedirectUri,
}

/// Where and how an error (or a code) goes back to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    /// The registered redirect URI.
    pub redirect_uri: String,
    /// How.
    pub mode: ResponseMode,
    /// The client's `state`.
    pub state: Option<String>,
}

/// A refused authorization request.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizeError {
    /// Shown to the user; the client is not told.
    Page(PageError, Cow<'static, str>),
    /// Sent to the client's redirect URI.
    Redirect(ReplyTo, OAuthError),
}

/// The parameters of a request, as the HTTP layer parsed them (query or form).
pub trait Params {
    /// The value of a parameter given once; `None` when absent or empty.
    fn one(&self, name: &str) -> Option<&str>;
    /// True when the parameter was given more than once.
    fn repeated(&self, name: &str) -> bool;
    /// Names of every parameter given more than once.
    fn repeated_names(&self) -> Vec<String>;
}

fn bad(reply: &ReplyTo, code: ErrorCode, d: impl Into<Cow<'static, str>>) -> AuthorizeError {
    AuthorizeError::Redirect(reply.clone(), OAuthError::new(code, d))
}

/// True when `presented` is one of the client's registered redirect URIs (or post-logout
/// URIs): an exact string match, except that for a native app an `http` loopback IP literal
/// matches on any port (RFC 8252 §7.3: the app listens on a port the system gives it). A web
/// application gets no such leeway: any process on the user's machine can listen on another
/// loopback port.
pub fn redirect_uri_matches(registered: &[String], presented: &str, app: ApplicationType) -> bool {
    if presented.contains('#') || presented.len() > MAX_PARAM_LEN {
        return false;
    }
    registered.iter().any(|r| {
        r == presented
            || (app == ApplicationType::Native
                && match (loopback_parts(r), loopback_parts(presented)) {
                    (Some((h1, _, rest1)), Some((h2, _, rest2))) => h1 == h2 && rest1 == rest2,
                    _ => false,
                })
    })
}

/// Splits `http://127.0.0.1:port/rest` (or `[::1]`) into host, port and the rest (path and
/// query). `None` for anything else, including user info and non-numeric ports.
fn loopback_parts(uri: &str) -> Option<(&str, &str, &str)> {
    let after = uri.strip_prefix("http://")?;
    let end = after.find(['/', '?']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let (host, port) = if let Some(v6) = authority.strip_prefix("[::1]") {
        ("[::1]", v6.strip_prefix(':').unwrap_or(v6))
    } else if let Some(v4) = authority.strip_prefix("127.0.0.1") {
        ("127.0.0.1", v4.strip_prefix(':').unwrap_or(v4))
    } else {
        return None;
    };
    let port_ok = port.is_empty()
        || (port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && !authority.contains('@'));
    // `127.0.0.1x` or `127.0.0.1@evil` are not loopback.
    let clean = authority.len() == host.len() + if port.is_empty() { 0 } else { port.len() + 1 };
    (port_ok && clean).then_some((host, port, rest))
}

/// Checks an authorization request. The client and redirect URI are checked first; every later
/// problem goes back to the client.
pub fn validate(
    registry: &Registry,
    params: &dyn Params,
) -> Result<(Arc<Client>, AuthRequest), AuthorizeError> {
    let page = |e: PageError, d: &'static str| AuthorizeError::Page(e, Cow::Borrowed(d));
    if params.repeated("client_id") {
        return Err(page(PageError::UnknownClient, "client_id is repeated"));
    }
    let client = params
        .one("client_id")
        .and_then(|id| registry.client(id))
        .filter(|c| !c.disabled)
        .ok_or_else(|| page(PageError::UnknownClient, "unknown or missing client_id"))?
        .clone();
    if params.repeated("redirect_uri") {
        return Err(page(PageError::BadRedirectUri, "redirect_uri is repeated"));
    }
    let given = params.one("redirect_uri");
    let redirect_uri = match given {
        Some(uri)
            if redirect_uri_matches(&client.redirect_uris, uri, client.application_type()) =>
        {
            uri.to_owned()
        }
        Some(_) => {
            return Err(page(
                PageError::BadRedirectUri,
                "redirect_uri is not registered for this client",
            ));
        }
        None => match client.redirect_uris.as_slice() {
            [only] => only.clone(),
            [] => {
                return Err(page(
                    PageError::BadRedirectUri,
                    "the client has no registered redirect_uri",
                ));
            }
            _ => {
                return Err(page(
                    PageError::BadRedirectUri,
                    "redirect_uri is required: the client registered several",
                ));
            }
        },
    };
    // From here on, errors go to the client: first settle how.
    let state = params.one("state").map(str::to_owned);
    let mut reply = ReplyTo {
        redirect_uri: redirect_uri.clone(),
        mode: ResponseMode::Query,
        state: state.clone(),
    };
    if params.repeated("state") || state.as_deref().is_some_and(|s| s.len() > MAX_PARAM_LEN) {
        reply.state = None;
        return Err(bad(
            &reply,
            ErrorCode::InvalidRequest,
            "state is repeated or too long",
        ));
    }
    if let Some(mode) = params.one("response_mode") {
        match ResponseMode::parse(mode) {
            Some(m) if !params.repeated("response_mode") => reply.mode = m,
            _ => {
                return Err(bad(
                    &reply,
                    ErrorCode::InvalidRequest,
                    "response_mode must be query, fragment or form_post",
                ));
            }
        }
    }
    let repeated = params.repeated_names();
    if let Some(name) = repeated.iter().find(|n| !matches!(n.as_str(), "resource")) {
        return Err(bad(
            &reply,
            ErrorCode::InvalidRequest,
            format!("parameter {name} is repeated"),
        ));
    }
    match params.one("response_type") {
        None => {
            return Err(bad(
                &reply,
                ErrorCode::InvalidRequest,
                "response_type is required",
            ));
        }
        Some("code") => {}
        Some(_) => {
            return Err(bad(
                &reply,
                ErrorCode::UnsupportedResponseType,
                "the only supported response_type is code",
            ));
        }
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(bad(
            &reply,
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    if params.one("request").is_some() {
        return Err(bad(
            &reply,
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.one("request_uri").is_some() {
        return Err(bad(
            &reply,
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    for name in [
        "scope",
        "nonce",
        "code_challenge",
        "login_hint",
        "ui_locales",
        "acr_values",
        "max_age",
        "prompt",
        "audience",
        "claims_locales",
        "id_token_hint",
    ] {
        if params.one(name).is_some_and(|v| v.len() > MAX_PARAM_LEN) {
            return Err(bad(
                &reply,
                ErrorCode::InvalidRequest,
                format!("{name} is too long"),
            ));
        }
    }
    let scope = match params.one("scope") {
        Some(s) => ScopeSet::parse(s).map_err(|e| AuthorizeError::Redirect(reply.clone(), e))?,
        None => {
            return Err(bad(&reply, ErrorCode::InvalidScope, "scope is required"));
        }
    };
    let api = target_api(registry, &client, params)
        .map_err(|e| AuthorizeError::Redirect(reply.clone(), e))?;
    // Every requested scope must be one the server knows for this request.
    let known = |s: &str| {
        OIDC_SCOPES.contains(&s) || api.as_ref().is_some_and(|a| a.scopes.contains_key(s))
    };
    if let Some(unknown) = scope.iter().find(|s| !known(s)) {
        return Err(bad(
            &reply,
            ErrorCode::InvalidScope,
            format!("unknown scope {unknown}"),
        ));
    }
    let (code_challenge, code_challenge_method) =
        pkce(&client, params).map_err(|d| bad(&reply, ErrorCode::InvalidRequest, d))?;
    let prompt = parse_prompt(params.one("prompt"))
        .map_err(|d| bad(&reply, ErrorCode::InvalidRequest, d))?;
    let max_age = match params.one("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (0..=i64::from(i32::MAX)).contains(&n) => Some(n),
            _ => {
                return Err(bad(
                    &reply,
                    ErrorCode::InvalidRequest,
                    "max_age must be a non-negative number of seconds",
                ));
            }
        },
    };
    let list = |name: &str| -> Vec<String> {
        params
            .one(name)
            .map(|v| {
                v.split(' ')
                    .filter(|s| !s.is_empty())
                    .take(16)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let client_id = client.id.clone();
    Ok((
        client,
        AuthRequest {
            client_id,
            redirect_uri,
            redirect_uri_given: given.is_some(),
            response_mode: reply.mode,
            state,
            nonce: params.one("nonce").map(str::to_owned),
            scope,
            api: api.map(|a| a.id.clone()),
            code_challenge,
            code_challenge_method,
            prompt,
            max_age,
            login_hint: params.one("login_hint").map(str::to_owned),
            ui_locales: list("ui_locales"),
            acr_values: list("acr_values"),
            medmij: None,
        },
    ))
}

/// The API named by `resource` (RFC 8707, once) or `audience`; `None` when neither is given.
fn target_api(
    registry: &Registry,
    client: &Client,
    params: &dyn Params,
) -> Result<Option<Arc<Api>>, OAuthError> {
    if params.repeated("resource") {
        return Err(OAuthError::invalid_target(
            "one resource per authorization request: a token serves one API",
        ));
    }
    let by_resource = match params.one("resource") {
        None => None,
        Some(r) => Some(
            registry
                .api_by_resource(r)
                .ok_or_else(|| OAuthError::invalid_target("unknown resource"))?,
        ),
    };
    let by_audience = match params.one("audience") {
        None => None,
        Some(a) => Some(
            registry
                .api(a)
                .ok_or_else(|| OAuthError::invalid_target("unknown audience"))?,
        ),
    };
    let api = match (by_resource, by_audience) {
        (Some(r), Some(a)) if r.id != a.id => {
            return Err(OAuthError::invalid_target(
                "audience and resource name different APIs",
            ));
        }
        (Some(x), _) | (None, Some(x)) => x.clone(),
        (None, None) => return Ok(None),
    };
    if api.disabled {
        return Err(OAuthError::invalid_target("the API is disabled"));
    }
    if registry.link(&client.id, &api.id).is_none() {
        return Err(OAuthError::invalid_target(
            "this client is not linked to the requested API",
        ));
    }
    Ok(Some(api))
}

/// The PKCE parameters of a request under the client's rule (RFC 7636): the challenge and its
/// method, or why they are refused.
pub fn pkce(
    client: &Client,
    params: &dyn Params,
) -> Result<(Option<String>, Option<PkceMethod>), &'static str> {
    let challenge = params.one("code_challenge");
    let method = match params.one("code_challenge_method") {
        None => None,
        Some("S256") => Some(PkceMethod::S256),
        Some("plain") => Some(PkceMethod::Plain),
        Some(_) => return Err("code_challenge_method must be S256"),
    };
    let required = client.is_public() || client.pkce != PkceRule::Optional;
    let Some(challenge) = challenge else {
        if method.is_some() {
            return Err("code_challenge_method without code_challenge");
        }
        if required {
            return Err("code_challenge is required (PKCE with S256)");
        }
        return Ok((None, None));
    };
    // RFC 7636 §4.3: no method means plain.
    let method = method.unwrap_or(PkceMethod::Plain);
    if method == PkceMethod::Plain && (client.pkce != PkceRule::PlainAllowed || client.is_public())
    {
        return Err("PKCE method plain is not allowed for this client: use S256");
    }
    let well_formed = (43..=128).contains(&challenge.len())
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return Err("code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]");
    }
    Ok((Some(challenge.to_owned()), Some(method)))
}

fn parse_prompt(raw: Option<&str>) -> Result<Prompt, &'static str> {
    let mut p = Prompt::default();
    let Some(raw) = raw else {
        return Ok(p);
    };
    for v in raw.split(' ').filter(|s| !s.is_empty()) {
        match v {
            "none" => p.none = true,
            "login" => p.login = true,
            "consent" => p.consent = true,
            "select_account" => {}
            _ => return Err("prompt must be none, login, consent or select_account"),
        }
    }
    if p.none && (p.login || p.consent) {
        return Err("prompt=none cannot be combined with other values");
    }
    Ok(p)
}

/// True when the user must (re)authenticate for this request: no session, `prompt=login` not yet
/// satisfied since the request began, or a `max_age` the session's login is older than.
/// `request_started` is when the pending request began, once it has been to our login page;
/// `None` at the authorization endpoint itself, where any existing login predates the request
/// (times are whole seconds: a login in the same second must not count as a new one).
pub fn needs_login(
    req: &AuthRequest,
    session: Option<&Session>,
    request_started: Option<i64>,
    now: i64,
) -> bool {
    let Some(s) = session else {
        return true;
    };
    if req.prompt.login && request_started.is_none_or(|t| s.auth_time < t) {
        return true;
    }
    matches!(req.max_age, Some(max) if now.saturating_sub(s.auth_time) > max)
}

/// The scopes that may be granted to this request for this user, before consent: the
/// OpenID Connect part (requested ∩ server-defined ∩ the client's) and the API part (requested ∩
/// offered by the API ∩ the client's link ∩ the user's authorization), each through the one
/// intersection.
pub fn grantable(
    registry: &Registry,
    client: &Client,
    req: &AuthRequest,
    authorized: Option<&ScopeSet>,
) -> ScopeSet {
    crate::flows::standing::user_scope_now(
        registry,
        client,
        req.api.as_deref(),
        &req.scope,
        authorized,
    )
}

/// True when a remembered consent covers every scope of `grantable`.
pub fn consent_covers(consent: Option<&Consent>, grantable: &ScopeSet) -> bool {
    consent.is_some_and(|c| grantable.is_subset(&c.scopes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_match_exactly_except_loopback_ports_for_native_apps() {
        let reg = vec![
            "https://app.example/cb".to_owned(),
            "http://127.0.0.1/native".to_owned(),
            "http://[::1]:8000/v6?x=1".to_owned(),
        ];
        assert!(redirect_uri_matches(&reg, "https://app.example/cb", NATIVE));
        for near_miss in [
            "https://app.example/cb/",
            "https://APP.example/cb",
            "https://app.example/CB",
            "https://app.example/cb?x=1",
            "https://app.example/cb#f",
            "https://user@app.example/cb",
            "https://app.example:444/cb",
            "http://app.example/cb",
            "https://app.example/c",
            "",
        ] {
            assert!(
                !redirect_uri_matches(&reg, near_miss, NATIVE),
                "{near_miss}"
            );
        }
        assert!(redirect_uri_matches(
            &reg,
            "http://127.0.0.1:51234/native",
            NATIVE
        ));
        assert!(redirect_uri_matches(
            &reg,
            "http://127.0.0.1/native",
            NATIVE
        ));
        assert!(redirect_uri_matches(&reg, "http://[::1]:1/v6?x=1", NATIVE));
        for near_miss in [
            "http://127.0.0.1:5x/native",
            "http://127.0.0.1:51234/native/",
            "http://127.0.0.1.evil:80/native",
            "http://127.0.0.1@evil/native",
            "http://user@127.0.0.1:80/native",
            "https://127.0.0.1:80/native",
            "http://localhost:80/native",
            "http://[::1]:1/v6",
            "http://127.0.0.1:123456/native",
        ] {
            assert!(
                !redirect_uri_matches(&reg, near_miss, NATIVE),
                "{near_miss}"
            );
        }
    }

    /// `http://127.0.0.1` or `http://[::1]` and what follows the port, when `uri` is such a
    /// loopback URI (a second, independent reading of RFC 8252 §7.3 for the properties below).
    fn without_port(uri: &str) -> Option<String> {
        let (host, after) = ["http://127.0.0.1", "http://[::1]"]
            .iter()
            .find_map(|h| uri.strip_prefix(h).map(|rest| (*h, rest)))?;
        let after = match after.strip_prefix(':') {
            Some(p) => {
                let digits = p.bytes().take_while(u8::is_ascii_digit).count();
                if digits == 0 || digits > 5 {
                    return None;
                }
                &p[digits..]
            }
            None => after,
        };
        (after.is_empty() || after.starts_with(['/', '?'])).then(|| format!("{host}{after}"))
    }

    /// URIs near the loopback rule's edges: look-alike hosts, user info, odd ports, `#`, `@`,
    /// `?` and `\\` in the path.
    fn uri() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let host = prop_oneof![
            Just("http://127.0.0.1"),
            Just("http://[::1]"),
            Just("https://127.0.0.1"),
            Just("https://app.example"),
            Just("http://localhost"),
            Just("http://127.0.0.1.evil"),
            Just("http://user@127.0.0.1"),
            Just("http://127.0.0.1@evil"),
            Just("http://[::1]x"),
        ];
        let port = prop_oneof![Just(String::new()), "(:[0-9]{0,7})", "(:[0-9a-z]{1,3})"];
        let rest = "([/?][a-z@:?#.\\\\]{0,6}){0,2}";
        (host, port, rest).prop_map(|(h, p, r)| format!("{h}{p}{r}"))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// A web application's redirect URI matches exactly or not at all.
        #[test]
        fn a_web_application_redirect_uri_matches_exactly_or_not_at_all(
            registered in proptest::collection::vec(uri(), 0..4),
            presented in uri(),
        ) {
            let expected = registered.contains(&presented) && !presented.contains('#');
            proptest::prop_assert_eq!(redirect_uri_matches(&registered, &presented, WEB), expected);
        }

        /// A native app's redirect URI matches exactly, or is a registered `http` loopback IP
        /// URI with only the port changed; nothing else (no look-alike host, no user info).
        #[test]
        fn a_native_redirect_uri_matches_only_a_registered_loopback_uri_on_another_port(
            registered in proptest::collection::vec(uri(), 1..4),
            pick in 0usize..4,
            port in proptest::option::of(0u32..100_000),
            presented in uri(),
        ) {
            // Half the time, a registered URI with its port changed.
            let presented = match (registered.get(pick), port) {
                (Some(r), Some(port)) => match without_port(r) {
                    Some(base) => {
                        let host_len = if base.starts_with("http://[") { 12 } else { 16 };
                        format!("{}:{port}{}", &base[..host_len], &base[host_len..])
                    }
                    None => presented,
                },
                _ => presented,
            };
            let matched = redirect_uri_matches(&registered, &presented, NATIVE);
            let exact = registered.contains(&presented);
            let by_port = without_port(&presented)
                .is_some_and(|p| registered.iter().any(|r| without_port(r).as_ref() == Some(&p)));
            let expected = !presented.contains('#') && (exact || by_port);
            proptest::prop_assert_eq!(matched, expected, "{:?} in {:?}", presented, registered);
        }

        /// Arbitrary text never panics the matcher.
        #[test]
        fn redirect_uri_matching_never_panics(
            registered in proptest::collection::vec("\\PC{0,40}", 0..4),
            presented in "\\PC{0,60}",
        ) {
            let _ = redirect_uri_matches(&registered, &presented, NATIVE);
            let _ = redirect_uri_matches(&registered, &presented, WEB);
        }
    }

    #[test]
    fn a_web_application_gets_its_loopback_uri_exactly() {
        let reg = vec![
            "http://127.0.0.1/cb".to_owned(),
            "http://[::1]:8000/v6".to_owned(),
        ];
        assert!(redirect_uri_matches(&reg, "http://127.0.0.1/cb", WEB));
        assert!(redirect_uri_matches(&reg, "http://[::1]:8000/v6", WEB));
        for other_port in [
            "http://127.0.0.1:51234/cb",
            "http://127.0.0.1:80/cb",
            "http://[::1]:8001/v6",
            "http://[::1]/v6",
        ] {
            assert!(
                redirect_uri_matches(&reg, other_port, NATIVE),
                "{other_port}"
            );
            assert!(!redirect_uri_matches(&reg, other_port, WEB), "{other_port}");
        }
    }

    #[test]
    fn public_clients_are_native_apps_unless_registered_otherwise() {
        use crate::model::{ClientAuthMethod, Credentials, SigningAlg};
        let mut c = Client::new(
            "app",
            "App",
            Credentials {
                method: ClientAuthMethod::ClientSecretBasic,
                secret_sha256: None,
                jwks: None,
                jwks_uri: None,
                assertion_alg: SigningAlg::ES256,
                assertion_audience: Default::default(),
                tls_client_auth_san_dns: None,
            },
            vec![GrantType::AuthorizationCode],
        );
        assert_eq!(c.application_type(), WEB, "a confidential client");
        c.credentials.method = ClientAuthMethod::None;
        assert_eq!(c.application_type(), NATIVE, "a public client");
        c.application_type = Some(WEB);
        assert_eq!(c.application_type(), WEB, "as registered");
        c.credentials.method = ClientAuthMethod::ClientSecretBasic;
        c.application_type = Some(NATIVE);
        assert_eq!(c.application_type(), NATIVE, "as registered");
    }

    const NATIVE: ApplicationType = ApplicationType::Native;
    const WEB: ApplicationType = ApplicationType::Web;

    struct P(Vec<(&'static str, String)>);
    impl Params for P {
        fn one(&self, name: &str) -> Option<&str> {
            let mut it = self.0.iter().filter(|(k, _)| *k == name);
            match (it.next(), it.next()) {
                (Some((_, v)), None) => Some(v.as_str()),
                _ => None,
            }
        }
        fn repeated(&self, name: &str) -> bool {
            self.0.iter().filter(|(k, _)| *k == name).count() > 1
        }
        fn repeated_names(&self) -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            for (k, _) in &self.0 {
                if self.repeated(k) && !out.iter().any(|o| o == k) {
                    out.push((*k).to_owned());
                }
            }
            out
        }
    }

    fn registry() -> Registry {
        use crate::model::{ClientAuthMethod, Credentials, SigningAlg};
        let creds = |m| Credentials {
            method: m,
            secret_sha256: None,
            jwks: None,
            jwks_uri: None,
            assertion_alg: SigningAlg::ES256,
            assertion_audience: Default::default(),
            tls_client_auth_san_dns: None,
        };
        let mut web = Client::new(
            "web",
            "Web",
            creds(ClientAuthMethod::ClientSecretBasic),
            vec![GrantType::AuthorizationCode],
        );
        web.redirect_uris = vec!["https://web/cb".into(), "https://web/other".into()];
        let mut public = Client::new(
            "pub",
            "Pub",
            creds(ClientAuthMethod::None),
            vec![GrantType::AuthorizationCode],
        );
        public.redirect_uris = vec!["http://127.0.0.1/cb".into()];
        let mut cc = Client::new(
            "cc",
            "CC",
            creds(ClientAuthMethod::ClientSecretBasic),
            vec![GrantType::ClientCredentials],
        );
        cc.redirect_uris = vec!["https://cc/cb".into()];
        Registry::new(1, vec![web, public, cc], vec![], vec![])
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn good(client: &str, uri: &str) -> Vec<(&'static str, String)> {
        vec![
            ("client_id", client.into()),
            ("redirect_uri", uri.into()),
            ("response_type", "code".into()),
            ("scope", "openid".into()),
            ("state", "xyz".into()),
            ("code_challenge", CHALLENGE.into()),
            ("code_challenge_method", "S256".into()),
        ]
    }

    fn outcome(params: Vec<(&'static str, String)>) -> Result<AuthRequest, AuthorizeError> {
        validate(&registry(), &P(params)).map(|(_, r)| r)
    }

    fn redirect_code(r: Result<AuthRequest, AuthorizeError>) -> &'static str {
        match r {
            Err(AuthorizeError::Redirect(to, e)) => {
                assert!(
                    to.redirect_uri.starts_with("https://web/")
                        || to.redirect_uri.starts_with("http://127.0.0.1")
                );
                e.code.as_str()
            }
            other => panic!("expected a redirect, got {other:?}"),
        }
    }

    #[test]
    fn client_and_redirect_uri_problems_are_pages_never_redirects() {
        let page = |r: Result<AuthRequest, AuthorizeError>| match r {
            Err(AuthorizeError::Page(kind, _)) => kind,
            other => panic!("expected a page, got {other:?}"),
        };
        let mut p = good("nobody", "https://web/cb");
        assert_eq!(page(outcome(p.clone())), PageError::UnknownClient);
        p = good("web", "https://web/cb");
        p.push(("client_id", "web".into()));
        assert_eq!(page(outcome(p)), PageError::UnknownClient);
        p = good("web", "https://evil/cb");
        assert_eq!(page(outcome(p)), PageError::BadRedirectUri);
        p = good("web", "https://web/cb");
        p.retain(|(k, _)| *k != "redirect_uri");
        assert_eq!(
            page(outcome(p)),
            PageError::BadRedirectUri,
            "two registered: must name one"
        );
        p = good("web", "https://web/cb");
        p.push(("redirect_uri", "https://web/cb".into()));
        assert_eq!(page(outcome(p)), PageError::BadRedirectUri);
        // Even with everything else wrong, a bad redirect URI is a page.
        let p = vec![
            ("client_id", "web".to_owned()),
            ("redirect_uri", "https://web/cb/".into()),
        ];
        assert_eq!(page(outcome(p)), PageError::BadRedirectUri);
    }

    #[test]
    fn later_problems_go_to_the_client_with_state() {
        let with = |k: &'static str, v: &str| {
            let mut p = good("web", "https://web/cb");
            p.retain(|(n, _)| *n != k);
            if !v.is_empty() {
                p.push((k, v.into()));
            }
            outcome(p)
        };
        assert_eq!(redirect_code(with("response_type", "")), "invalid_request");
        assert_eq!(
            redirect_code(with("response_type", "token")),
            "unsupported_response_type"
        );
        assert_eq!(redirect_code(with("scope", "")), "invalid_scope");
        assert_eq!(
            redirect_code(with("scope", "openid admin")),
            "invalid_scope"
        );
        assert_eq!(redirect_code(with("code_challenge", "")), "invalid_request");
        assert_eq!(
            redirect_code(with("code_challenge_method", "plain")),
            "invalid_request"
        );
        assert_eq!(
            redirect_code(with("code_challenge_method", "S512")),
            "invalid_request"
        );
        assert_eq!(
            redirect_code(with("code_challenge", "short")),
            "invalid_request"
        );
        assert_eq!(
            redirect_code(with("prompt", "none login")),
            "invalid_request"
        );
        assert_eq!(redirect_code(with("max_age", "-1")), "invalid_request");
        assert_eq!(
            redirect_code(with("response_mode", "jwt")),
            "invalid_request"
        );
        assert_eq!(
            redirect_code(with("request", "eyJ.x.y")),
            "request_not_supported"
        );
        assert_eq!(
            redirect_code(with("request_uri", "https://x")),
            "request_uri_not_supported"
        );
        assert_eq!(
            redirect_code(with("resource", "https://unknown/")),
            "invalid_target"
        );
        assert_eq!(
            redirect_code(with("nonce", &"n".repeat(MAX_PARAM_LEN + 1))),
            "invalid_request"
        );
        let mut p = good("web", "https://web/cb");
        p.push(("scope", "openid".into()));
        assert_eq!(redirect_code(outcome(p)), "invalid_request");
        match with("response_type", "") {
            Err(AuthorizeError::Redirect(to, _)) => assert_eq!(to.state.as_deref(), Some("xyz")),
            other => panic!("{other:?}"),
        }
        let mut p = good("cc", "https://cc/cb");
        p.retain(|(k, _)| *k != "state");
        assert!(matches!(
            outcome(p),
            Err(AuthorizeError::Redirect(_, e)) if e.code.as_str() == "unauthorized_client"
        ));
    }

    #[test]
    fn a_valid_request_is_recorded() {
        let mut p = good("pub", "http://127.0.0.1:4567/cb");
        p.push(("prompt", "login consent".into()));
        p.push(("max_age", "60".into()));
        p.push(("ui_locales", "nl en".into()));
        p.push(("response_mode", "form_post".into()));
        let r = outcome(p).unwrap();
        assert_eq!(r.redirect_uri, "http://127.0.0.1:4567/cb");
        assert!(r.redirect_uri_given);
        assert_eq!(r.code_challenge.as_deref(), Some(CHALLENGE));
        assert_eq!(r.code_challenge_method, Some(PkceMethod::S256));
        assert!(r.prompt.login && r.prompt.consent);
        assert_eq!(r.max_age, Some(60));
        assert_eq!(r.ui_locales, ["nl", "en"]);
        assert_eq!(r.response_mode, ResponseMode::FormPost);
        // A public client cannot go without PKCE.
        let mut p = good("pub", "http://127.0.0.1/cb");
        p.retain(|(k, _)| !k.starts_with("code_challenge"));
        assert_eq!(redirect_code(outcome(p)), "invalid_request");
    }

    #[test]
    fn prompt_values() {
        assert_eq!(parse_prompt(None), Ok(Prompt::default()));
        let p = parse_prompt(Some("login consent")).unwrap();
        assert!(p.login && p.consent && !p.none);
        assert!(parse_prompt(Some("none login")).is_err());
        assert!(parse_prompt(Some("bogus")).is_err());
    }
}
