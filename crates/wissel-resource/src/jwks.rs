//! Validation of JWT access tokens (RFC 9068) against the authorization server's published keys.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation, decode, decode_header,
    jwk::{Jwk, KeyAlgorithm, PublicKeyUse},
};
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;
use wissel_core::ports::{Clock, SystemClock};

use crate::{
    ConfigError, Principal, ValidationError,
    bearer::MAX_TOKEN_LEN,
    error::{invalid, unavailable},
    fetch, seconds,
};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Configuration of a [`JwksValidator`].
#[derive(Clone, Debug)]
pub struct JwksConfig {
    /// The issuer tokens must name in `iss`, exactly.
    pub issuer: String,
    /// Where the keys are published: the discovery document's `jwks_uri`, `{issuer}/jwks`.
    pub jwks_uri: Url,
    /// The audience tokens must carry: this API's identifier.
    pub audience: String,
    /// The signature algorithms accepted. Default ES256, RS256, EdDSA; symmetric ones are refused.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds. Default 30.
    pub leeway: u64,
    /// The least time between two fetches of the keys, however many unknown key ids arrive.
    /// Default 10 s.
    pub refresh_interval: Duration,
    /// How long fetched keys are trusted before they are fetched again (so that a withdrawn key
    /// stops being accepted). Default 1 h.
    pub max_age: Duration,
    /// The timeout of one fetch. Default 10 s.
    pub timeout: Duration,
}

impl JwksConfig {
    /// A configuration with the defaults.
    pub fn new(issuer: impl Into<String>, jwks_uri: Url, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            jwks_uri,
            audience: audience.into(),
            algorithms: vec![Algorithm::ES256, Algorithm::RS256, Algorithm::EdDSA],
            leeway: 30,
            refresh_interval: Duration::from_secs(10),
            max_age: Duration::from_secs(3600),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Validates JWT access tokens against the published keys, fetched lazily and cached.
#[derive(Clone)]
pub struct JwksValidator {
    inner: Arc<Inner>,
    clock: Arc<dyn Clock>,
}

struct Inner {
    http: reqwest::Client,
    config: JwksConfig,
    keys: RwLock<Arc<KeySet>>,
    /// Held while fetching, so that concurrent misses cause one fetch.
    refresh: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<VerificationKey>>,
    /// When the keys were last fetched, or a fetch last tried (Unix seconds).
    fetched_at: Option<i64>,
    /// Whether that last attempt failed (the keys are then the ones from before).
    failed: bool,
}

struct VerificationKey {
    alg: Algorithm,
    key: DecodingKey,
}

impl JwksValidator {
    /// Builds the validator; the keys are fetched at the first validation.
    pub fn new(config: JwksConfig) -> Result<Self, ConfigError> {
        let http = fetch::client(config.timeout)?;
        Self::with_http(config, http)
    }

    /// Reads `{issuer}/.well-known/openid-configuration` and builds a validator for its
    /// `jwks_uri`, with the defaults otherwise.
    pub async fn discover(issuer: &str, audience: &str) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let http = fetch::client(DEFAULT_TIMEOUT)?;
        let response = http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| ConfigError::Discovery(e.to_string()))?;
        let document: Discovery = fetch::read_json(response)
            .await
            .map_err(ConfigError::Discovery)?;
        if document.issuer != issuer {
            return Err(ConfigError::Discovery(format!(
                "the document describes issuer {:?}",
                document.issuer
            )));
        }
        let jwks_uri = Url::parse(&document.jwks_uri)
            .map_err(|e| ConfigError::Discovery(format!("jwks_uri: {e}")))?;
        Self::with_http(JwksConfig::new(issuer, jwks_uri, audience), http)
    }

    fn with_http(config: JwksConfig, http: reqwest::Client) -> Result<Self, ConfigError> {
        if config.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithm);
        }
        if let Some(alg) = config.algorithms.iter().find(|alg| !is_asymmetric(**alg)) {
            return Err(ConfigError::Algorithm(*alg));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                keys: RwLock::default(),
                refresh: tokio::sync::Mutex::new(()),
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
        &self.inner.config.audience
    }

    /// Validates a JWT access token: `typ` `at+jwt`, an allowed `alg` that is also the key's, the
    /// signature, `iss`, `aud`, `exp` and `nbf` (with the leeway).
    pub async fn validate(&self, token: &str) -> Result<Principal, ValidationError> {
        let config = &self.inner.config;
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid("token length"));
        }
        let header = decode_header(token).map_err(|_| invalid("not a JWS with a known alg"))?;
        if !header.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
        }) {
            return Err(invalid("typ is not at+jwt"));
        }
        if header.crit.is_some() {
            return Err(invalid("critical header parameters"));
        }
        if !config.algorithms.contains(&header.alg) {
            return Err(invalid("alg not allowed"));
        }
        let kid = header.kid.as_deref().ok_or_else(|| invalid("no kid"))?;
        let now = self.clock.now();
        let key = self.key(kid, now).await?;
        if key.alg != header.alg {
            return Err(invalid("alg is not the key's"));
        }
        // The signature here; the claims below, against our clock.
        let mut validation = Validation::new(key.alg);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|_| invalid("signature"))?
            .claims;
        if claims.get("iss").and_then(Value::as_str) != Some(config.issuer.as_str()) {
            return Err(invalid("issuer"));
        }
        let leeway = i64::try_from(config.leeway).unwrap_or(i64::MAX);
        if let Some(nbf) = claims.get("nbf")
            && nbf
                .as_i64()
                .is_none_or(|nbf| nbf > now.saturating_add(leeway))
        {
            return Err(invalid("not yet valid"));
        }
        let principal = Principal::from_claims(claims, &config.audience)?;
        if principal.expires_at.saturating_add(leeway) <= now {
            return Err(invalid("expired"));
        }
        Ok(principal)
    }

    /// The key `kid`, from the cached set when it is there and fresh; otherwise the set is fetched
    /// again, at most once per refresh interval.
    async fn key(&self, kid: &str, now: i64) -> Result<Arc<VerificationKey>, ValidationError> {
        if let Some(key) = self.fresh_key(kid, now) {
            return Ok(key);
        }
        let _refreshing = self.inner.refresh.lock().await;
        // Another task may have fetched while we waited.
        if let Some(key) = self.fresh_key(kid, now) {
            return Ok(key);
        }
        let config = &self.inner.config;
        let current = self.key_set();
        let interval = seconds(config.refresh_interval);
        if current
            .fetched_at
            .is_some_and(|at| now < at.saturating_add(interval))
        {
            return match current.keys.get(kid) {
                Some(key) => Ok(key.clone()),
                None if current.failed => Err(ValidationError::Unavailable(
                    "the JWKS could not be fetched".to_owned(),
                )),
                None => Err(invalid("unknown kid")),
            };
        }
        // A failed fetch keeps the keys we had: the server being down withdraws no key.
        let (keys, error) = match self.fetch().await {
            Ok(keys) => (keys, None),
            Err(e) => (current.keys.clone(), Some(e)),
        };
        let key = keys.get(kid).cloned();
        let next = KeySet {
            keys,
            fetched_at: Some(now),
            failed: error.is_some(),
        };
        *self
            .inner
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        match (key, error) {
            (Some(key), _) => Ok(key),
            (None, None) => Err(invalid("unknown kid")),
            (None, Some(e)) => Err(e),
        }
    }

    fn key_set(&self) -> Arc<KeySet> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn fresh_key(&self, kid: &str, now: i64) -> Option<Arc<VerificationKey>> {
        let set = self.key_set();
        let max_age = seconds(self.inner.config.max_age);
        let fresh = !set.failed
            && set
                .fetched_at
                .is_some_and(|at| now < at.saturating_add(max_age));
        fresh.then(|| set.keys.get(kid).cloned()).flatten()
    }

    /// Fetches the key set, keeping the usable keys: with a `kid`, for signing, with an allowed
    /// `alg` that fits the key type. Keys of unknown types are skipped, not fatal.
    async fn fetch(&self) -> Result<HashMap<String, Arc<VerificationKey>>, ValidationError> {
        #[derive(Deserialize)]
        struct RawSet {
            keys: Vec<Value>,
        }
        let config = &self.inner.config;
        let response = self
            .inner
            .http
            .get(config.jwks_uri.clone())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| unavailable(format!("fetching the JWKS: {e}")))?;
        let set: RawSet = fetch::read_json(response)
            .await
            .map_err(|e| unavailable(format!("JWKS: {e}")))?;
        let keys: HashMap<_, _> = set
            .keys
            .into_iter()
            .filter_map(|raw| {
                let jwk: Jwk = serde_json::from_value(raw).ok()?;
                let kid = jwk.common.key_id.clone()?;
                if jwk
                    .common
                    .public_key_use
                    .as_ref()
                    .is_some_and(|u| *u != PublicKeyUse::Signature)
                {
                    return None;
                }
                let alg = algorithm(jwk.common.key_algorithm?)?;
                let key = DecodingKey::from_jwk(&jwk).ok()?;
                (config.algorithms.contains(&alg) && key.family() == alg.family())
                    .then(|| (kid, Arc::new(VerificationKey { alg, key })))
            })
            .collect();
        tracing::debug!(keys = keys.len(), "JWKS fetched");
        Ok(keys)
    }
}

impl fmt::Debug for JwksValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksValidator")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// The signature algorithm a JWK's `alg` names; `None` for encryption algorithms.
fn algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::HS256 => Algorithm::HS256,
        KeyAlgorithm::HS384 => Algorithm::HS384,
        KeyAlgorithm::HS512 => Algorithm::HS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

fn is_asymmetric(alg: Algorithm) -> bool {
    !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}
