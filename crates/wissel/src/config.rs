//! The configuration file: server settings and the entities it provisions. Loaded with figment
//! (TOML file, then `WISSEL_…` environment overrides), every key known (`deny_unknown_fields`),
//! then validated as a whole into a [`Config`] before anything starts. Every key and its default
//! is documented in `docs/configuration.md`.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;
use wissel_core::model::{
    Api, Authorization, Client, ClientAuthMethod, Credentials, Digest, GrantType, Grantee, Link,
    Profile, SigningAlg, TokenFormat,
};
use wissel_core::scope::{ScopeSet, is_scope_token};
use wissel_crypto::rotation::RotationPolicy;
use wissel_crypto::secret;

/// Environment variables with the `WISSEL_` prefix that are not configuration keys.
const NOT_CONFIG: &[&str] = &["master_key", "test_postgres_url", "log"];

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    issuer: Option<String>,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    keys: RawKeys,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    clients: Vec<RawParty>,
    #[serde(default)]
    apis: Vec<RawApi>,
    #[serde(default)]
    links: Vec<RawLink>,
    #[serde(default)]
    users: Vec<RawUser>,
    #[serde(default)]
    authorizations: Vec<RawAuthorization>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    listen: String,
    max_body_bytes: usize,
    sync_interval_ms: u64,
    maintenance_interval_secs: u64,
    token_cache_capacity: u64,
    jwks_uri_cache_secs: u64,
    metrics: bool,
    tls: Option<RawTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: PathBuf,
    key_file: PathBuf,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 64 * 1024,
            sync_interval_ms: 500,
            maintenance_interval_secs: 60,
            token_cache_capacity: 100_000,
            jwks_uri_cache_secs: 300,
            metrics: true,
            tls: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStorage {
    url: String,
    purge_batch: i64,
}

impl Default for RawStorage {
    fn default() -> Self {
        Self {
            url: "sqlite://wissel.db".into(),
            purge_batch: 1000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawKeys {
    algorithm: String,
    master_key_file: Option<PathBuf>,
    rotate_after_secs: i64,
    publish_before_secs: i64,
}

impl Default for RawKeys {
    fn default() -> Self {
        Self {
            algorithm: "ES256".into(),
            master_key_file: None,
            rotate_after_secs: 30 * 86_400,
            publish_before_secs: 86_400,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    format: String,
    level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "json".into(),
            level: "info".into(),
        }
    }
}

/// A client, or an API's introspection credentials (same keys).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawParty {
    id: String,
    name: Option<String>,
    #[serde(default)]
    profile: Option<String>,
    auth_method: Option<String>,
    secret: Option<String>,
    secret_sha256: Option<String>,
    secret_file: Option<PathBuf>,
    jwks: Option<serde_json::Value>,
    jwks_uri: Option<String>,
    assertion_alg: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Vec<String>,
    #[serde(default)]
    disabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    id: String,
    name: Option<String>,
    #[serde(default)]
    resources: Vec<String>,
    token_format: Option<String>,
    auth_method: Option<String>,
    secret: Option<String>,
    secret_sha256: Option<String>,
    secret_file: Option<PathBuf>,
    jwks: Option<serde_json::Value>,
    jwks_uri: Option<String>,
    assertion_alg: Option<String>,
    #[serde(default)]
    scopes: BTreeMap<String, String>,
    access_token_lifetime_secs: Option<i64>,
    #[serde(default)]
    disabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    client: String,
    api: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    exchange: bool,
    #[serde(default)]
    attributes: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    username: String,
    password: Option<String>,
    password_hash: Option<String>,
    password_file: Option<PathBuf>,
    #[serde(default)]
    claims: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    disabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuthorization {
    user: Option<String>,
    group: Option<String>,
    api: String,
    #[serde(default)]
    scopes: Vec<String>,
}

/// A user as declared: the password is hashed (or kept) when the declaration is applied.
#[derive(Clone)]
pub struct UserSpec {
    /// Login name.
    pub username: String,
    /// The declared password.
    pub password: PasswordSpec,
    /// Claims.
    pub claims: BTreeMap<String, serde_json::Value>,
    /// Groups.
    pub groups: Vec<String>,
    /// Disabled.
    pub disabled: bool,
}

/// How a password is declared.
#[derive(Clone)]
pub enum PasswordSpec {
    /// In clear text (from the file or a password file); hashed with Argon2id on apply.
    Plain(String),
    /// Already an Argon2id PHC string.
    Hash(String),
}

/// Everything the file declares.
#[derive(Clone, Default)]
pub struct Declared {
    /// Clients.
    pub clients: Vec<Client>,
    /// APIs.
    pub apis: Vec<Api>,
    /// Links.
    pub links: Vec<Link>,
    /// Users.
    pub users: Vec<UserSpec>,
    /// Authorizations.
    pub authorizations: Vec<Authorization>,
}

/// Log output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable.
    Text,
}

/// The TLS listener's certificate and key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
}

/// A validated configuration.
#[derive(Clone)]
pub struct Config {
    /// The issuer URL (no trailing slash).
    pub issuer: String,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Serve HTTPS with these files; plain HTTP when `None`.
    pub tls: Option<TlsFiles>,
    /// The storage URL.
    pub storage_url: String,
    /// The HTTP settings.
    pub max_body_bytes: usize,
    /// Node sync interval.
    pub sync_interval: Duration,
    /// Maintenance interval.
    pub maintenance_interval: Duration,
    /// Introspection cache size.
    pub token_cache_capacity: u64,
    /// jwks_uri cache lifetime.
    pub jwks_uri_ttl: Duration,
    /// Expose `/metrics`.
    pub metrics: bool,
    /// Rows per purge batch.
    pub purge_batch: i64,
    /// Signing algorithm of new keys.
    pub signing_alg: SigningAlg,
    /// The master key file, if configured.
    pub master_key_file: Option<PathBuf>,
    /// Rotation schedule.
    pub rotation: RotationPolicy,
    /// Log format.
    pub log_format: LogFormat,
    /// Log level filter.
    pub log_level: String,
    /// The entities to provision.
    pub declared: Declared,
    /// Login, session and throttling rules.
    pub login: wissel_http::state::LoginSettings,
    /// The look of the pages.
    pub ui: wissel_http::state::UiSettings,
}

/// Shows no declared entity: users carry clear-text passwords until they are applied.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("issuer", &self.issuer)
            .field("listen", &self.listen)
            .field("storage_url", &self.storage_url)
            .finish_non_exhaustive()
    }
}

/// Why a configuration was refused: every problem, each with its key and source.
#[derive(Debug)]
pub struct ConfigError(pub Vec<String>);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for p in &self.0 {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Loads `path` with the `WISSEL_…` environment overrides, and validates it.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        if !path.is_file() {
            return Err(ConfigError(vec![format!(
                "{}: no such file",
                path.display()
            )]));
        }
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let figment = Figment::new().merge(Toml::file_exact(path)).merge(env());
        Self::extract(figment, &base, &path.display().to_string())
    }

    /// Parses TOML text (no environment overrides); relative file paths resolve against `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Self, ConfigError> {
        Self::extract(
            Figment::new().merge(Toml::string(text)),
            base,
            "configuration text",
        )
    }

    fn extract(figment: Figment, base: &Path, source: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = figment
            .extract()
            .map_err(|e| ConfigError(e.into_iter().map(|e| e.to_string()).collect()))?;
        validate(raw, base, source)
    }
}

fn env() -> Env {
    Env::prefixed("WISSEL_").split("__").ignore(NOT_CONFIG)
}

struct Problems<'a> {
    source: &'a str,
    list: Vec<String>,
}

impl Problems<'_> {
    fn add(&mut self, key: impl std::fmt::Display, msg: impl std::fmt::Display) {
        self.list.push(format!("{key}: {msg} (in {})", self.source));
    }
}

/// Client and API ids: printable, bounded, and unique across both kinds.
fn check_id(p: &mut Problems<'_>, key: &str, id: &str, seen: &mut HashSet<String>) {
    if !is_id(id) {
        p.add(
            format!("{key}.id"),
            "must be 1–128 printable ASCII characters",
        );
    } else if !seen.insert(id.to_owned()) {
        p.add(
            format!("{key}.id"),
            format!("{id:?} is declared twice (client and API ids share one space)"),
        );
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

fn is_loopback_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `https`, or `http` on a loopback host.
fn secure_url(s: &str) -> Result<url::Url, &'static str> {
    let u = url::Url::parse(s).map_err(|_| "not an absolute URL")?;
    match u.scheme() {
        "https" => Ok(u),
        "http" if is_loopback_host(&u) => Ok(u),
        "http" => Err("http is only allowed on a loopback host; use https"),
        _ => Err("must be an https URL"),
    }
}

fn parse_enum<T>(p: &mut Problems<'_>, key: &str, v: &str, allowed: &[(&str, T)]) -> Option<T>
where
    T: Copy,
{
    match allowed.iter().find(|(n, _)| *n == v) {
        Some((_, t)) => Some(*t),
        None => {
            let names: Vec<_> = allowed.iter().map(|(n, _)| *n).collect();
            p.add(key, format!("{v:?} is not one of {}", names.join(", ")));
            None
        }
    }
}

const AUTH_METHODS: &[(&str, ClientAuthMethod)] = &[
    ("client_secret_basic", ClientAuthMethod::ClientSecretBasic),
    ("client_secret_post", ClientAuthMethod::ClientSecretPost),
    ("private_key_jwt", ClientAuthMethod::PrivateKeyJwt),
    ("tls_client_auth", ClientAuthMethod::TlsClientAuth),
    ("none", ClientAuthMethod::None),
];
const ALGS: &[(&str, SigningAlg)] = &[
    ("ES256", SigningAlg::ES256),
    ("RS256", SigningAlg::RS256),
    ("EdDSA", SigningAlg::EdDSA),
];

/// The shortest secret accepted from a configuration file: 32 characters. wissel's own
/// secrets (`wissel client create`) have 256 bits.
pub const MIN_SECRET_LEN: usize = 32;

#[allow(clippy::too_many_arguments)]
fn credentials(
    p: &mut Problems<'_>,
    key: &str,
    base: &Path,
    method: Option<&str>,
    secret_value: Option<&str>,
    secret_sha256: Option<&str>,
    secret_file: Option<&Path>,
    jwks: Option<&serde_json::Value>,
    jwks_uri: Option<&str>,
    assertion_alg: Option<&str>,
) -> Option<Credentials> {
    let method = parse_enum(
        p,
        &format!("{key}.auth_method"),
        method.unwrap_or("client_secret_basic"),
        AUTH_METHODS,
    )?;
    let secret_sources = [
        secret_value.is_some(),
        secret_sha256.is_some(),
        secret_file.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    let key_sources = [jwks.is_some(), jwks_uri.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    let mut creds = Credentials {
        method,
        secret_sha256: None,
        jwks: None,
        jwks_uri: None,
        assertion_alg: SigningAlg::ES256,
    };
    match method {
        ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost => {
            if key_sources > 0 {
                p.add(key, "jwks and jwks_uri are for private_key_jwt");
            }
            if secret_sources != 1 {
                p.add(
                    key,
                    "give exactly one of secret, secret_sha256, secret_file",
                );
                return None;
            }
            let plain = match (secret_value, secret_file) {
                (Some(s), _) => Some(s.to_owned()),
                (_, Some(f)) => {
                    let path = base.join(f);
                    match std::fs::read_to_string(&path) {
                        Ok(s) => Some(s.trim_end_matches(['\n', '\r']).to_owned()),
                        Err(e) => {
                            p.add(
                                format!("{key}.secret_file"),
                                format!("{}: {e}", path.display()),
                            );
                            return None;
                        }
                    }
                }
                _ => None,
            };
            creds.secret_sha256 = match (plain, secret_sha256) {
                (Some(s), _) if s.len() < MIN_SECRET_LEN => {
                    p.add(format!("{key}.secret"), format!("shorter than {MIN_SECRET_LEN} characters; use `wissel client secret` to make one"));
                    return None;
                }
                (Some(s), _) => Some(secret::digest(s.as_bytes())),
                (None, Some(h)) => match Digest::from_hex(&h.to_ascii_lowercase()) {
                    Some(d) => Some(d),
                    None => {
                        p.add(format!("{key}.secret_sha256"), "must be 64 hex characters");
                        return None;
                    }
                },
                (None, None) => None,
            };
        }
        ClientAuthMethod::PrivateKeyJwt => {
            if secret_sources > 0 {
                p.add(key, "secrets are not used with private_key_jwt");
            }
            if key_sources != 1 {
                p.add(key, "give exactly one of jwks, jwks_uri");
                return None;
            }
            if let Some(j) = jwks {
                match serde_json::from_value::<jsonwebtoken::jwk::JwkSet>(j.clone()) {
                    Ok(set) if !set.keys.is_empty() => creds.jwks = Some(j.clone()),
                    Ok(_) => p.add(format!("{key}.jwks"), "has no keys"),
                    Err(e) => p.add(format!("{key}.jwks"), format!("not a JWK Set: {e}")),
                }
            }
            if let Some(u) = jwks_uri {
                match secure_url(u) {
                    Ok(_) => creds.jwks_uri = Some(u.to_owned()),
                    Err(e) => p.add(format!("{key}.jwks_uri"), e),
                }
            }
            if let Some(a) = assertion_alg {
                creds.assertion_alg = parse_enum(p, &format!("{key}.assertion_alg"), a, ALGS)?;
            }
        }
        ClientAuthMethod::TlsClientAuth => {
            p.add(format!("{key}.auth_method"), "tls_client_auth needs the mutual-TLS listener, which this version does not have yet");
            return None;
        }
        ClientAuthMethod::None => {
            if secret_sources + key_sources > 0 {
                p.add(
                    key,
                    "a public client (auth_method = \"none\") has no secret or keys",
                );
            }
        }
    }
    Some(creds)
}

fn scopes_of(p: &mut Problems<'_>, key: &str, scopes: &[String]) -> ScopeSet {
    for s in scopes {
        if !is_scope_token(s) {
            p.add(key, format!("{s:?} is not a valid scope token"));
        }
    }
    ScopeSet::from_tokens(scopes.iter().cloned())
}

/// The scopes of `{key}.scopes`, each of which must be a valid token offered by the API `api`.
fn offered_scopes(
    p: &mut Problems<'_>,
    key: &str,
    apis: &[Api],
    api: &str,
    scopes: &[String],
) -> ScopeSet {
    let set = scopes_of(p, &format!("{key}.scopes"), scopes);
    match apis.iter().find(|a| a.id == api) {
        None => p.add(format!("{key}.api"), format!("no API {api:?} is declared")),
        Some(api) => {
            for s in set.iter().filter(|s| !api.scopes.contains_key(*s)) {
                p.add(
                    format!("{key}.scopes"),
                    format!("{s:?} is not offered by API {:?}", api.id),
                );
            }
        }
    }
    set
}

/// Introspection members an attribute may not replace.
const RESERVED_MEMBERS: &[&str] = &[
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
    "username",
];

/// A relative SQLite path is relative to the configuration file, not to the working directory.
fn resolve_sqlite_path(url: &str, base: &Path) -> String {
    match url.strip_prefix("sqlite://") {
        Some(path) if !path.starts_with('/') && !base.as_os_str().is_empty() => {
            format!("sqlite://{}", base.join(path).display())
        }
        _ => url.to_owned(),
    }
}

fn validate(raw: RawConfig, base: &Path, source: &str) -> Result<Config, ConfigError> {
    let mut p = Problems {
        source,
        list: Vec::new(),
    };

    let issuer = match raw.issuer.as_deref() {
        None => {
            p.add("issuer", "is required");
            String::new()
        }
        Some(i) => match secure_url(i) {
            Ok(u) if u.query().is_some() || u.fragment().is_some() => {
                p.add("issuer", "must not have a query or fragment");
                String::new()
            }
            Ok(_) if i.ends_with('/') => {
                p.add("issuer", "must not end with a slash");
                String::new()
            }
            Ok(_) => i.to_owned(),
            Err(e) => {
                p.add("issuer", e);
                String::new()
            }
        },
    };
    let listen = raw.server.listen.parse::<SocketAddr>().unwrap_or_else(|_| {
        p.add(
            "server.listen",
            format!("{:?} is not an address:port", raw.server.listen),
        );
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    let tls = raw.server.tls.as_ref().map(|t| TlsFiles {
        cert_file: base.join(&t.cert_file),
        key_file: base.join(&t.key_file),
    });
    if let Some(t) = &tls {
        for (k, f) in [
            ("server.tls.cert_file", &t.cert_file),
            ("server.tls.key_file", &t.key_file),
        ] {
            if !f.is_file() {
                p.add(k, format!("{}: no such file", f.display()));
            }
        }
    }
    if !(1024..=16 * 1024 * 1024).contains(&raw.server.max_body_bytes) {
        p.add("server.max_body_bytes", "must be between 1024 and 16777216");
    }
    if !(50..=60_000).contains(&raw.server.sync_interval_ms) {
        p.add("server.sync_interval_ms", "must be between 50 and 60000");
    }
    if !(1..=86_400).contains(&raw.server.maintenance_interval_secs) {
        p.add(
            "server.maintenance_interval_secs",
            "must be between 1 and 86400",
        );
    }
    if wissel_store::BackendKind::of_url(&raw.storage.url).is_none() {
        p.add("storage.url", "must start with sqlite: or postgres://");
    } else if raw.storage.url.contains(":memory:") || raw.storage.url.contains("mode=memory") {
        p.add("storage.url", "an in-memory SQLite database is not supported: the writer and the readers share one file");
    }
    if !(1..=100_000).contains(&raw.storage.purge_batch) {
        p.add("storage.purge_batch", "must be between 1 and 100000");
    }
    let signing_alg =
        parse_enum(&mut p, "keys.algorithm", &raw.keys.algorithm, ALGS).unwrap_or_default();
    if raw.keys.rotate_after_secs < 0 {
        p.add(
            "keys.rotate_after_secs",
            "must be 0 (no scheduled rotation) or more",
        );
    }
    if raw.keys.publish_before_secs < 300 {
        p.add(
            "keys.publish_before_secs",
            "must be at least 300 (the JWKS may be cached for 5 minutes)",
        );
    }
    let log_format = parse_enum(
        &mut p,
        "log.format",
        &raw.log.format,
        &[("json", LogFormat::Json), ("text", LogFormat::Text)],
    )
    .unwrap_or(LogFormat::Json);

    let mut ids = HashSet::new();
    let mut clients = Vec::new();
    for (i, c) in raw.clients.iter().enumerate() {
        let key = format!("clients[{i}]");
        check_id(&mut p, &key, &c.id, &mut ids);
        let profile = match c.profile.as_deref() {
            None => Some(Profile::Standard),
            Some(v) => parse_enum(
                &mut p,
                &format!("{key}.profile"),
                v,
                &[
                    ("standard", Profile::Standard),
                    ("acmidm", Profile::Acmidm),
                    ("medmij", Profile::Medmij),
                ],
            ),
        };
        let creds = credentials(
            &mut p,
            &key,
            base,
            c.auth_method.as_deref(),
            c.secret.as_deref(),
            c.secret_sha256.as_deref(),
            c.secret_file.as_deref(),
            c.jwks.as_ref(),
            c.jwks_uri.as_deref(),
            c.assertion_alg.as_deref(),
        );
        let mut grant_types = Vec::new();
        for g in &c.grant_types {
            match g.as_str() {
                "client_credentials" => grant_types.push(GrantType::ClientCredentials),
                other => p.add(
                    format!("{key}.grant_types"),
                    format!(
                        "{other:?} is not supported by this version (supported: client_credentials)"
                    ),
                ),
            }
        }
        if creds
            .as_ref()
            .is_some_and(|c| c.method == ClientAuthMethod::None)
            && grant_types.contains(&GrantType::ClientCredentials)
        {
            p.add(
                format!("{key}.grant_types"),
                "a public client cannot use client_credentials",
            );
        }
        for u in &c.redirect_uris {
            match url::Url::parse(u) {
                Ok(parsed) if parsed.fragment().is_none() => {}
                _ => p.add(
                    format!("{key}.redirect_uris"),
                    format!("{u:?} must be an absolute URI without a fragment"),
                ),
            }
        }
        if let (Some(credentials), Some(profile)) = (creds, profile) {
            clients.push(Client {
                id: c.id.clone(),
                name: c.name.clone().unwrap_or_else(|| c.id.clone()),
                profile,
                credentials,
                redirect_uris: c.redirect_uris.clone(),
                grant_types,
                disabled: c.disabled,
            });
        }
    }

    let mut apis = Vec::new();
    let mut resources = HashSet::new();
    for (i, a) in raw.apis.iter().enumerate() {
        let key = format!("apis[{i}]");
        check_id(&mut p, &key, &a.id, &mut ids);
        for r in &a.resources {
            match url::Url::parse(r) {
                Ok(u) if u.fragment().is_none() => {
                    if !resources.insert(r.clone()) {
                        p.add(format!("{key}.resources"), format!("{r:?} names two APIs"));
                    }
                }
                _ => p.add(
                    format!("{key}.resources"),
                    format!("{r:?} must be an absolute URI without a fragment"),
                ),
            }
        }
        let token_format = parse_enum(
            &mut p,
            &format!("{key}.token_format"),
            a.token_format.as_deref().unwrap_or("jwt"),
            &[("jwt", TokenFormat::Jwt), ("opaque", TokenFormat::Opaque)],
        )
        .unwrap_or_default();
        for s in a.scopes.keys() {
            if !is_scope_token(s) {
                p.add(
                    format!("{key}.scopes"),
                    format!("{s:?} is not a valid scope token"),
                );
            }
        }
        let lifetime = a.access_token_lifetime_secs.unwrap_or(900);
        if !(1..=86_400).contains(&lifetime) {
            p.add(
                format!("{key}.access_token_lifetime_secs"),
                "must be between 1 and 86400",
            );
        }
        let declares_credentials = a.auth_method.is_some()
            || a.secret.is_some()
            || a.secret_sha256.is_some()
            || a.secret_file.is_some()
            || a.jwks.is_some()
            || a.jwks_uri.is_some();
        let creds = if declares_credentials {
            credentials(
                &mut p,
                &key,
                base,
                a.auth_method.as_deref(),
                a.secret.as_deref(),
                a.secret_sha256.as_deref(),
                a.secret_file.as_deref(),
                a.jwks.as_ref(),
                a.jwks_uri.as_deref(),
                a.assertion_alg.as_deref(),
            )
        } else {
            None
        };
        if creds
            .as_ref()
            .is_some_and(|c| c.method == ClientAuthMethod::None)
        {
            p.add(
                format!("{key}.auth_method"),
                "an API must authenticate to introspect; \"none\" is not allowed",
            );
        }
        apis.push(Api {
            id: a.id.clone(),
            name: a.name.clone().unwrap_or_else(|| a.id.clone()),
            resources: a.resources.clone(),
            token_format,
            credentials: creds,
            scopes: a.scopes.clone(),
            access_token_lifetime: lifetime,
            disabled: a.disabled,
        });
    }

    let mut links = Vec::new();
    let mut linked = HashSet::new();
    for (i, l) in raw.links.iter().enumerate() {
        let key = format!("links[{i}]");
        if !clients.iter().any(|c| c.id == l.client)
            && !raw.clients.iter().any(|c| c.id == l.client)
        {
            p.add(
                format!("{key}.client"),
                format!("no client {:?} is declared", l.client),
            );
        }
        let scopes = offered_scopes(&mut p, &key, &apis, &l.api, &l.scopes);
        if !linked.insert((l.client.clone(), l.api.clone())) {
            p.add(&key, "this client and API are linked twice");
        }
        for k in l.attributes.keys() {
            if RESERVED_MEMBERS.contains(&k.as_str()) {
                p.add(
                    format!("{key}.attributes"),
                    format!("{k:?} is a standard introspection member"),
                );
            }
        }
        links.push(Link {
            client: l.client.clone(),
            api: l.api.clone(),
            scopes,
            exchange: l.exchange,
            attributes: l.attributes.clone(),
        });
    }

    let mut users = Vec::new();
    let mut usernames = HashSet::new();
    for (i, u) in raw.users.iter().enumerate() {
        let key = format!("users[{i}]");
        if !is_id(&u.username) {
            p.add(
                format!("{key}.username"),
                "must be 1–128 printable ASCII characters",
            );
        } else if !usernames.insert(u.username.clone()) {
            p.add(
                format!("{key}.username"),
                format!("{:?} is declared twice", u.username),
            );
        }
        let password = match (&u.password, &u.password_hash, &u.password_file) {
            (Some(pw), None, None) => Some(PasswordSpec::Plain(pw.clone())),
            (None, Some(h), None) if wissel_crypto::password::is_valid_hash(h) => {
                Some(PasswordSpec::Hash(h.clone()))
            }
            (None, Some(_), None) => {
                p.add(
                    format!("{key}.password_hash"),
                    "must be an Argon2id PHC string ($argon2id$…)",
                );
                None
            }
            (None, None, Some(f)) => match std::fs::read_to_string(base.join(f)) {
                Ok(s) => Some(PasswordSpec::Plain(
                    s.trim_end_matches(['\n', '\r']).to_owned(),
                )),
                Err(e) => {
                    p.add(format!("{key}.password_file"), e);
                    None
                }
            },
            _ => {
                p.add(
                    &key,
                    "give exactly one of password, password_hash, password_file",
                );
                None
            }
        };
        if let Some(PasswordSpec::Plain(pw)) = &password
            && pw.len() < 8
        {
            p.add(format!("{key}.password"), "must be at least 8 characters");
        }
        if let Some(password) = password {
            users.push(UserSpec {
                username: u.username.clone(),
                password,
                claims: u.claims.clone(),
                groups: u.groups.clone(),
                disabled: u.disabled,
            });
        }
    }

    let mut authorizations = Vec::new();
    for (i, a) in raw.authorizations.iter().enumerate() {
        let key = format!("authorizations[{i}]");
        let grantee = match (&a.user, &a.group) {
            (Some(u), None) => Some(Grantee::User(u.clone())),
            (None, Some(g)) => Some(Grantee::Group(g.clone())),
            _ => {
                p.add(&key, "give exactly one of user, group");
                None
            }
        };
        let scopes = offered_scopes(&mut p, &key, &apis, &a.api, &a.scopes);
        if let Some(grantee) = grantee {
            authorizations.push(Authorization {
                grantee,
                api: a.api.clone(),
                scopes,
            });
        }
    }

    if !p.list.is_empty() {
        return Err(ConfigError(p.list));
    }
    let longest_token = apis
        .iter()
        .map(|a| a.access_token_lifetime)
        .max()
        .unwrap_or(900)
        .max(900);
    Ok(Config {
        issuer,
        listen,
        tls,
        storage_url: resolve_sqlite_path(&raw.storage.url, base),
        max_body_bytes: raw.server.max_body_bytes,
        sync_interval: Duration::from_millis(raw.server.sync_interval_ms),
        maintenance_interval: Duration::from_secs(raw.server.maintenance_interval_secs),
        token_cache_capacity: raw.server.token_cache_capacity,
        jwks_uri_ttl: Duration::from_secs(raw.server.jwks_uri_cache_secs),
        metrics: raw.server.metrics,
        purge_batch: raw.storage.purge_batch,
        signing_alg,
        master_key_file: raw.keys.master_key_file.map(|f| base.join(f)),
        rotation: RotationPolicy {
            rotate_after: raw.keys.rotate_after_secs,
            publish_before: raw.keys.publish_before_secs,
            // Retired keys stay published past the longest token lifetime, plus the JWKS cache time.
            keep_retired: longest_token + 300,
        },
        log_format,
        log_level: raw.log.level,
        declared: Declared {
            clients,
            apis,
            links,
            users,
            authorizations,
        },
        login: wissel_http::state::LoginSettings::default(),
        ui: wissel_http::state::UiSettings {
            default_locale: "en".into(),
            product_name: "wissel".into(),
            ..Default::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("."))
    }

    #[test]
    fn minimal_config_has_defaults() {
        let c = load("issuer = \"http://127.0.0.1:8080\"").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            c.storage_url, "sqlite://./wissel.db",
            "relative to the configuration file"
        );
        assert_eq!(c.signing_alg, SigningAlg::ES256);
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let e = load(
            "issuer = \"http://127.0.0.1:8080\"\n[server]\nlisten = \"127.0.0.1:1\"\nlistne = 1",
        )
        .unwrap_err();
        assert!(e.to_string().contains("listne"), "{e}");
    }

    #[test]
    fn bad_values_are_all_reported_with_keys() {
        let text = format!(
            r#"
issuer = "http://example.org"
[keys]
algorithm = "HS256"
[[clients]]
id = "c"
secret = "short"
grant_types = ["client_credentials", "password"]
[[apis]]
id = "c"
scopes = {{ "a" = "A" }}
[[links]]
client = "c"
api = "nope"
scopes = ["b"]
[[clients]]
id = "d"
auth_method = "client_secret_post"
secret = "{SECRET}"
"#
        );
        let e = load(&text).unwrap_err().to_string();
        for needle in [
            "issuer",
            "keys.algorithm",
            "clients[0].secret",
            "password",
            "apis[0].id",
            "links[0].api",
        ] {
            assert!(e.contains(needle), "{needle} missing in {e}");
        }
    }

    #[test]
    fn in_memory_sqlite_is_refused() {
        let e = load("issuer = \"http://127.0.0.1:1\"\n[storage]\nurl = \"sqlite::memory:\"")
            .unwrap_err();
        assert!(e.to_string().contains("storage.url"), "{e}");
    }

    #[test]
    fn link_scopes_must_be_offered() {
        let text = format!(
            r#"
issuer = "https://as.example"
[[clients]]
id = "c"
secret = "{SECRET}"
grant_types = ["client_credentials"]
[[apis]]
id = "a"
scopes = {{ "r" = "Read" }}
[[links]]
client = "c"
api = "a"
scopes = ["r", "w"]
"#
        );
        let e = load(&text).unwrap_err().to_string();
        assert!(e.contains("\"w\" is not offered"), "{e}");
    }
}
