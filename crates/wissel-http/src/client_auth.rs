//! Client authentication, wherever a client or an API authenticates (RFC 6749 §2.3, RFC 7523,
//! RFC 8705, OpenID Connect Core §9): `client_secret_basic`, `client_secret_post`,
//! `private_key_jwt`, `tls_client_auth` (the connection's certificate), and `none` for public
//! clients. Exactly one method per request, and only the registered one.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use wissel_core::OAuthError;
use wissel_core::model::{ClientAuthMethod, Credentials, Digest, Principal};
use wissel_crypto::assertion::{AssertionCheck, verify_assertion};
use wissel_crypto::secret;

use crate::error::HttpError;
use crate::form::OAuthForm;
use crate::state::AppState;

/// The assertion type of RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The client certificate of the TLS connection a request came on, parsed once per connection
/// (the handshake has already verified it against the trusted client CAs and its validity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// Its DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// Its subject, as an RFC 4514 string.
    pub subject: String,
    /// When it expires, Unix seconds.
    pub not_after: i64,
}

impl PeerCertificate {
    /// Parses a DER certificate; `None` when it cannot be read.
    pub fn from_der(der: &[u8]) -> Option<Self> {
        use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let mut dns_names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                if let GeneralName::DNSName(d) = name {
                    dns_names.push((*d).to_owned());
                }
            }
        }
        Some(Self {
            dns_names,
            subject: cert.subject().to_string(),
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// True when one of its DNS names is exactly `name` (ASCII case aside): RFC 8705 §2.1.2
    /// `tls_client_auth_san_dns`. A wildcard name never matches.
    pub fn has_dns_name(&self, name: &str) -> bool {
        self.dns_names
            .iter()
            .any(|d| !d.contains('*') && d.eq_ignore_ascii_case(name))
    }
}

/// Who authenticated, and how.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The client or API.
    pub principal: Principal,
    /// The method it used.
    pub method: ClientAuthMethod,
}

enum Presented<'a> {
    Basic {
        id: String,
        secret: String,
    },
    Post {
        id: &'a str,
        secret: &'a str,
    },
    Assertion {
        assertion: &'a str,
        id: Option<&'a str>,
    },
    IdOnly(&'a str),
}

fn fail(basic: bool, d: &'static str) -> HttpError {
    HttpError::OAuth {
        error: OAuthError::invalid_client(d),
        basic,
    }
}

fn invalid_request(d: &'static str) -> HttpError {
    OAuthError::invalid_request(d).into()
}

/// Parses `Authorization: Basic`: the id and secret are each form-urlencoded (RFC 6749
/// §2.3.1), so `+` is a space and `%XX` a byte; every other character, `&` and `=` included,
/// stands for itself. `None` for another scheme, bad base64, no `:`, an empty id, or a value
/// that does not decode to UTF-8.
pub fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let (id, secret) = (form_decode(id)?, form_decode(secret)?);
    (!id.is_empty()).then_some((id, secret))
}

/// One form-urlencoded value, decoded whole (never split at `&` or `=`).
fn form_decode(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

fn presented<'a>(headers: &HeaderMap, form: &'a OAuthForm) -> Result<Presented<'a>, HttpError> {
    let authz = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .collect::<Vec<_>>();
    if authz.len() > 1 {
        return Err(invalid_request("more than one Authorization header"));
    }
    let secret_param = form.get("client_secret");
    let assertion = form.get("client_assertion");
    let assertion_type = form.get("client_assertion_type");
    let client_id = form.get("client_id");
    if let Some(h) = authz.first() {
        if secret_param.is_some() || assertion.is_some() {
            return Err(invalid_request(
                "use exactly one client authentication method",
            ));
        }
        let (id, secret) = h
            .to_str()
            .ok()
            .and_then(parse_basic)
            .ok_or_else(|| fail(true, "malformed Basic credentials"))?;
        if client_id.is_some_and(|c| c != id) {
            return Err(invalid_request(
                "client_id does not match the Basic credentials",
            ));
        }
        return Ok(Presented::Basic { id, secret });
    }
    match (assertion, assertion_type, secret_param) {
        (Some(_), _, Some(_)) => Err(invalid_request(
            "use exactly one client authentication method",
        )),
        (Some(a), Some(JWT_BEARER), None) => Ok(Presented::Assertion {
            assertion: a,
            id: client_id,
        }),
        (Some(_), Some(_), None) => Err(invalid_request(
            "client_assertion_type must be jwt-bearer (RFC 7523)",
        )),
        (Some(_), None, None) => Err(invalid_request("client_assertion_type is required")),
        (None, Some(_), _) => Err(invalid_request(
            "client_assertion is required with client_assertion_type",
        )),
        (None, None, Some(s)) => match client_id {
            Some(id) => Ok(Presented::Post { id, secret: s }),
            None => Err(invalid_request("client_secret needs client_id")),
        },
        (None, None, None) => match client_id {
            Some(id) => Ok(Presented::IdOnly(id)),
            None => Err(fail(false, "client authentication is required")),
        },
    }
}

fn credentials_of(p: &Principal) -> Option<&Credentials> {
    match p {
        Principal::Client(c) => (!c.disabled).then_some(&c.credentials),
        Principal::Api(a) => {
            if a.disabled {
                None
            } else {
                a.credentials.as_ref()
            }
        }
    }
}

/// A digest no secret hashes to, so unknown ids cost the same comparison as known ones.
const NO_SECRET: Digest = Digest([0; 32]);

/// Authenticates the caller of an endpoint (`endpoint_url` is an acceptable assertion audience
/// for a client registered with `assertion_audience = "issuer_or_endpoint"`; the issuer always
/// is; `cert` is the connection's client certificate, if any).
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
    endpoint_url: &str,
    cert: Option<&PeerCertificate>,
) -> Result<Authenticated, HttpError> {
    let registry = state.registry();
    match presented(headers, form)? {
        Presented::Basic { id, secret } => check_secret(
            registry.principal(&id),
            &secret,
            ClientAuthMethod::ClientSecretBasic,
            true,
        ),
        Presented::Post { id, secret } => check_secret(
            registry.principal(id),
            secret,
            ClientAuthMethod::ClientSecretPost,
            false,
        ),
        Presented::IdOnly(id) => {
            let p = registry
                .principal(id)
                .ok_or_else(|| fail(false, "unknown client"))?;
            match credentials_of(&p) {
                Some(c) if c.method == ClientAuthMethod::None => Ok(Authenticated {
                    principal: p,
                    method: ClientAuthMethod::None,
                }),
                Some(c) if c.method == ClientAuthMethod::TlsClientAuth => {
                    let expected = c.tls_client_auth_san_dns.as_deref().unwrap_or(id);
                    match cert {
                        None => Err(fail(
                            false,
                            "a client certificate is required (tls_client_auth)",
                        )),
                        Some(cert) if !cert.has_dns_name(expected) => Err(fail(
                            false,
                            "the client certificate is not issued to this client",
                        )),
                        Some(_) => Ok(Authenticated {
                            principal: p,
                            method: ClientAuthMethod::TlsClientAuth,
                        }),
                    }
                }
                Some(_) => Err(fail(false, "client authentication is required")),
                None => Err(fail(false, "unknown client")),
            }
        }
        Presented::Assertion { assertion, id } => {
            // The assertion names its issuer; read it unverified only to find the key.
            let claimed =
                jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(assertion)
                    .ok()
                    .and_then(|c| c.get("iss").and_then(|i| i.as_str()).map(str::to_owned))
                    .ok_or_else(|| fail(false, "client_assertion is not a JWT with an iss"))?;
            if id.is_some_and(|i| i != claimed) {
                return Err(fail(false, "client_id does not match the client_assertion"));
            }
            let p = registry
                .principal(&claimed)
                .ok_or_else(|| fail(false, "unknown client"))?;
            let creds = credentials_of(&p).ok_or_else(|| fail(false, "unknown client"))?;
            if creds.method != ClientAuthMethod::PrivateKeyJwt {
                return Err(fail(false, "client is not registered for private_key_jwt"));
            }
            let jwks = client_jwks(state, creds).await?;
            let token_endpoint = state.settings().endpoint(crate::routes::TOKEN_PATH);
            let checked = verify_assertion(
                assertion,
                &jwks,
                AssertionCheck {
                    client_id: &claimed,
                    issuer: &state.settings().issuer,
                    endpoints: &[endpoint_url, &token_endpoint],
                    audience: creds.assertion_audience,
                    alg: creds.assertion_alg,
                    now: state.now(),
                },
            )
            .map_err(|d| fail(false, d))?;
            if !state
                .store()
                .record_jti(&claimed, &checked.jti, checked.exp)
                .await?
            {
                return Err(fail(false, "client_assertion jti was already used"));
            }
            Ok(Authenticated {
                principal: p,
                method: ClientAuthMethod::PrivateKeyJwt,
            })
        }
    }
}

fn check_secret(
    p: Option<Principal>,
    secret_value: &str,
    method: ClientAuthMethod,
    basic: bool,
) -> Result<Authenticated, HttpError> {
    let creds = p.as_ref().and_then(credentials_of);
    let expected = creds.and_then(|c| c.secret_sha256).unwrap_or(NO_SECRET);
    let ok = secret::verify_secret(secret_value, &expected)
        && creds.is_some_and(|c| c.secret_sha256.is_some());
    let registered = creds.map(|c| c.method);
    match p {
        Some(p) if ok => {
            if registered != Some(method) {
                return Err(fail(
                    basic,
                    "client is registered for another authentication method",
                ));
            }
            Ok(Authenticated {
                principal: p,
                method,
            })
        }
        _ => Err(fail(basic, "client authentication failed")),
    }
}

async fn client_jwks(state: &AppState, creds: &Credentials) -> Result<Arc<JwkSet>, HttpError> {
    if let Some(inline) = &creds.jwks {
        return serde_json::from_value::<JwkSet>(inline.clone())
            .map(Arc::new)
            .map_err(|_| fail(false, "the client's registered JWK Set is unusable"));
    }
    let uri = creds
        .jwks_uri
        .as_deref()
        .ok_or_else(|| fail(false, "the client has no keys registered"))?;
    state
        .client_jwks()
        .get(uri, state.now())
        .await
        .map_err(|_| fail(false, "the client's jwks_uri could not be fetched"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_is_form_decoded() {
        let v = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("my%3Aclient:s%2Bx+y")
        );
        assert_eq!(parse_basic(&v), Some(("my:client".into(), "s+x y".into())));
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        let no_colon = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("abc")
        );
        assert_eq!(parse_basic(&no_colon), None);
    }

    fn basic(raw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn an_ampersand_in_basic_credentials_is_part_of_the_id_not_a_separator() {
        assert_eq!(
            parse_basic(&basic("client&x=y:s&t")),
            Some(("client&x=y".into(), "s&t".into()))
        );
        assert_eq!(parse_basic(&basic("&x:s")), Some(("&x".into(), "s".into())));
        // Percent-encoded bytes that are not UTF-8 are malformed, not replaced.
        assert_eq!(parse_basic(&basic("c%FF:s")), None);
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever a client's id and secret are, encoding them as RFC 6749 §2.3.1 says
        /// gives them back exactly.
        #[test]
        fn basic_credentials_round_trip_any_id_and_secret(
            id in "\\PC{1,40}",
            secret in "\\PC{0,60}",
        ) {
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let header = basic(&format!("{}:{}", enc(&id), enc(&secret)));
            prop_assert_eq!(parse_basic(&header), Some((id, secret)));
        }

        /// A client that does not encode (no `%`, `+` or `:` in its id) is read verbatim:
        /// no character of the id or secret is dropped or taken as a separator.
        #[test]
        fn unencoded_basic_credentials_are_read_verbatim(
            id in "[^%+:]{1,30}",
            secret in "[^%+]{0,30}",
        ) {
            prop_assert_eq!(
                parse_basic(&basic(&format!("{id}:{secret}"))),
                Some((id, secret))
            );
        }

        /// Arbitrary header values (bad base64, bad percent-encoding, invalid UTF-8, huge
        /// values) never panic, and a parsed id is never empty.
        #[test]
        fn malformed_basic_credentials_are_refused_without_panic(
            scheme in prop_oneof![Just("Basic".to_owned()), Just("basic".to_owned()), Just("Bearer".to_owned()), "\\PC{0,8}"],
            payload in proptest::collection::vec(any::<u8>(), 0..256),
            raw_tail in "\\PC{0,64}",
        ) {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&payload);
            for value in [format!("{scheme} {encoded}"), format!("{scheme} {raw_tail}")] {
                if let Some((id, _)) = parse_basic(&value) {
                    prop_assert!(!id.is_empty());
                }
            }
        }
    }
}
