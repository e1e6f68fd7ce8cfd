//! Validation by asking the authorization server (RFC 7662), with a cache.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, Instant},
};

use aws_lc_rs::digest::{SHA256, digest};
use axum::http::{
    HeaderValue, StatusCode,
    header::{ACCEPT, AUTHORIZATION},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use jsonwebtoken::Algorithm;
use moka::{Expiry, sync::Cache};
use serde_json::{Map, Value};
use url::{Url, form_urlencoded::byte_serialize};
use wissel_core::ports::{Clock, SystemClock};

use crate::{
    ConfigError, Principal, ValidationError,
    assertion::AssertionSigner,
    bearer::MAX_TOKEN_LEN,
    error::{invalid, unavailable},
    fetch, seconds,
};

/// How long an inactive answer is remembered at most: long enough to blunt a flood of bad tokens,
/// short enough not to matter for a token that is just being issued elsewhere.
const INACTIVE_TTL: i64 = 5;

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the API authenticates itself at the introspection endpoint.
#[derive(Clone)]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the client id and this secret.
    SecretBasic(String),
    /// `client_secret_post`: `client_id` and `client_secret` in the form.
    SecretPost(String),
    /// `private_key_jwt` (RFC 7523): a client assertion signed with the API's key.
    PrivateKeyJwt {
        /// The private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
        pem: String,
        /// ES256, RS256 or EdDSA.
        alg: Algorithm,
        /// The key id to put into the assertion's header, if the server knows the key by one.
        kid: Option<String>,
        /// The assertion's audience: the issuer URL.
        audience: String,
    },
}

/// Secrets stay out of logs.
impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SecretBasic(_) => f.write_str("SecretBasic(..)"),
            Self::SecretPost(_) => f.write_str("SecretPost(..)"),
            Self::PrivateKeyJwt {
                alg, kid, audience, ..
            } => f
                .debug_struct("PrivateKeyJwt")
                .field("alg", alg)
                .field("kid", kid)
                .field("audience", audience)
                .finish_non_exhaustive(),
        }
    }
}

/// Configuration of an [`IntrospectionValidator`].
#[derive(Clone, Debug)]
pub struct IntrospectionConfig {
    /// The introspection endpoint: `{issuer}/introspect`.
    pub endpoint: Url,
    /// The API's own client id (its identifier at the authorization server).
    pub client_id: String,
    /// How the API authenticates.
    pub auth: ClientAuth,
    /// The audience active tokens must carry; `None` means the client id.
    pub expected_audience: Option<String>,
    /// How long an active answer is reused at most (never past the token's `exp`); zero disables
    /// the cache. Default 60 s.
    pub cache_ttl: Duration,
    /// How many answers the cache holds at most. Default 100 000.
    pub cache_capacity: u64,
    /// The timeout of one introspection request. Default 10 s.
    pub timeout: Duration,
}

impl IntrospectionConfig {
    /// A configuration with the defaults.
    pub fn new(endpoint: Url, client_id: impl Into<String>, auth: ClientAuth) -> Self {
        Self {
            endpoint,
            client_id: client_id.into(),
            auth,
            expected_audience: None,
            cache_ttl: Duration::from_secs(60),
            cache_capacity: 100_000,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Validates tokens at the introspection endpoint, caching the answers.
#[derive(Clone)]
pub struct IntrospectionValidator {
    inner: Arc<Inner>,
    clock: Arc<dyn Clock>,
}

struct Inner {
    http: reqwest::Client,
    endpoint: Url,
    client_id: String,
    auth: Auth,
    audience: String,
    cache_ttl: i64,
    cache: Cache<[u8; 32], Entry>,
}

enum Auth {
    Basic(HeaderValue),
    Post(String),
    Jwt {
        signer: AssertionSigner,
        audience: String,
    },
}

/// A remembered answer: the principal, or `None` for an inactive token.
#[derive(Clone)]
struct Entry {
    principal: Option<Arc<Principal>>,
    /// Usable while the clock is before this (Unix seconds).
    until: i64,
    /// The same, for the cache's own eviction.
    ttl: Duration,
}

struct EntryExpiry;

impl Expiry<[u8; 32], Entry> for EntryExpiry {
    fn expire_after_create(&self, _: &[u8; 32], entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

impl IntrospectionValidator {
    /// Builds the validator: parses the key for `private_key_jwt`, prepares the HTTP client.
    pub fn new(config: IntrospectionConfig) -> Result<Self, ConfigError> {
        let auth = match config.auth {
            ClientAuth::SecretBasic(secret) => {
                // RFC 6749 §2.3.1: both are form-urlencoded before they are joined.
                let pair = format!(
                    "{}:{}",
                    byte_serialize(config.client_id.as_bytes()).collect::<String>(),
                    byte_serialize(secret.as_bytes()).collect::<String>()
                );
                let mut value = HeaderValue::try_from(format!("Basic {}", STANDARD.encode(pair)))
                    .map_err(|e| ConfigError::Http(e.to_string()))?;
                value.set_sensitive(true);
                Auth::Basic(value)
            }
            ClientAuth::SecretPost(secret) => Auth::Post(secret),
            ClientAuth::PrivateKeyJwt {
                pem,
                alg,
                kid,
                audience,
            } => Auth::Jwt {
                signer: AssertionSigner::from_pem(&pem, alg, kid)?,
                audience,
            },
        };
        let cache = Cache::builder()
            .max_capacity(config.cache_capacity)
            .expire_after(EntryExpiry)
            .build();
        Ok(Self {
            inner: Arc::new(Inner {
                http: fetch::client(config.timeout)?,
                audience: config
                    .expected_audience
                    .unwrap_or_else(|| config.client_id.clone()),
                endpoint: config.endpoint,
                client_id: config.client_id,
                auth,
                cache_ttl: seconds(config.cache_ttl),
                cache,
            }),
            clock: Arc::new(SystemClock),
        })
    }

    /// Uses `clock` instead of the wall clock (for tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The audience tokens must carry.
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// Validates a token: from the cache, or by asking the authorization server.
    pub async fn validate(&self, token: &str) -> Result<Principal, ValidationError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(invalid("token length"));
        }
        let key: [u8; 32] = digest(&SHA256, token.as_bytes())
            .as_ref()
            .try_into()
            .map_err(|_| unavailable("SHA-256 digest of unexpected length"))?;
        let now = self.clock.now();
        if let Some(entry) = self.inner.cache.get(&key)
            && now < entry.until
        {
            return entry
                .principal
                .map(|p| (*p).clone())
                .ok_or(ValidationError::Invalid);
        }
        let result = self.introspect(token, now).await;
        let ttl = self.inner.cache_ttl;
        let until = match &result {
            Ok(principal) => principal.expires_at.min(now.saturating_add(ttl)),
            Err(ValidationError::Invalid) => now.saturating_add(ttl.min(INACTIVE_TTL)),
            Err(_) => return result,
        };
        if let Ok(ttl) = u64::try_from(until.saturating_sub(now))
            && ttl > 0
        {
            let entry = Entry {
                principal: result.as_ref().ok().cloned().map(Arc::new),
                until,
                ttl: Duration::from_secs(ttl),
            };
            self.inner.cache.insert(key, entry);
        }
        result
    }

    async fn introspect(&self, token: &str, now: i64) -> Result<Principal, ValidationError> {
        let inner = &*self.inner;
        let mut form = vec![("token", token), ("token_type_hint", "access_token")];
        let mut request = inner
            .http
            .post(inner.endpoint.clone())
            .header(ACCEPT, "application/json");
        let assertion;
        match &inner.auth {
            Auth::Basic(credentials) => {
                request = request.header(AUTHORIZATION, credentials.clone())
            }
            Auth::Post(secret) => {
                form.extend([
                    ("client_id", inner.client_id.as_str()),
                    ("client_secret", secret),
                ]);
            }
            Auth::Jwt { signer, audience } => {
                assertion = signer.sign(&inner.client_id, audience, now)?;
                form.extend([
                    ("client_id", inner.client_id.as_str()),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", &assertion),
                ]);
            }
        }
        let response = request
            .form(&form)
            .send()
            .await
            .map_err(|e| unavailable(format!("introspection request failed: {e}")))?;
        match response.status() {
            status if status.is_success() => {}
            StatusCode::UNAUTHORIZED => {
                return Err(unavailable(
                    "the authorization server refused this API's credentials (invalid_client)",
                ));
            }
            status => return Err(unavailable(format!("introspection answered {status}"))),
        }
        let answer: Map<String, Value> = fetch::read_json(response)
            .await
            .map_err(|e| unavailable(format!("introspection: {e}")))?;
        match answer.get("active") {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => return Err(invalid("inactive")),
            _ => {
                return Err(unavailable(
                    "introspection answer without a boolean `active`",
                ));
            }
        }
        if let Some(token_type) = answer.get("token_type")
            && !token_type
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("Bearer"))
        {
            return Err(invalid("not a bearer token"));
        }
        let principal = Principal::from_claims(answer, &inner.audience)?;
        if principal.expires_at <= now {
            return Err(invalid("expired"));
        }
        Ok(principal)
    }
}

impl fmt::Debug for IntrospectionValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionValidator")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("client_id", &self.inner.client_id)
            .field("audience", &self.inner.audience)
            .finish_non_exhaustive()
    }
}
