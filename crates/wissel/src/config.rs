//! The configuration file: server settings and the entities it provisions. Loaded with figment
//! (TOML file, then `WISSEL_…` environment overrides), every key known (`deny_unknown_fields`),
//! then validated as a whole into a [`Config`] before anything starts. Every key and its default
//! is documented in `docs/configuration.md`.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;
use wissel_core::model::{
    Api, ApplicationType, AssertionAudience, Authorization, Client, ClientAuthMethod, Credentials,
    Digest, GrantType, Grantee, Lifetimes, Link, OIDC_SCOPES, PkceRule, Profile, SigningAlg,
    TokenFormat, default_oidc_scopes,
};
use wissel_core::scope::{ScopeSet, is_scope_token};
use wissel_crypto::rotation::RotationPolicy;
use wissel_crypto::secret;
use wissel_http::state::{LoginSettings, UiSettings};

use crate::listener::ConnectionLimits;

mod medmij;

pub use medmij::{FetchIdentity, MedmijConfig};

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
    login: RawLogin,
    #[serde(default)]
    ui: RawUi,
    #[serde(default)]
    client_defaults: RawClientDefaults,
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
    medmij: Option<medmij::RawMedmij>,
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
    acmidm_path_aliases: bool,
    handshake_timeout_ms: u64,
    idle_timeout_ms: u64,
    header_timeout_ms: u64,
    body_timeout_ms: u64,
    max_connections: usize,
    max_requests_per_connection: u64,
    tls: Option<RawTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_ca_file: Option<PathBuf>,
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
            acmidm_path_aliases: false,
            metrics: true,
            handshake_timeout_ms: 10_000,
            idle_timeout_ms: 30_000,
            header_timeout_ms: 10_000,
            body_timeout_ms: 10_000,
            max_connections: 10_000,
            max_requests_per_connection: 1_000,
            tls: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStorage {
    url: String,
    purge_batch: i64,
    sqlite_synchronous: String,
    acquire_timeout_ms: u64,
    statement_timeout_ms: u64,
}

impl Default for RawStorage {
    fn default() -> Self {
        let limits = wissel_store::StoreLimits::default();
        Self {
            url: "sqlite://wissel.db".into(),
            purge_batch: 1000,
            sqlite_synchronous: "full".into(),
            acquire_timeout_ms: u64::try_from(limits.acquire_timeout.as_millis()).unwrap_or(1500),
            statement_timeout_ms: u64::try_from(limits.statement_timeout.as_millis())
                .unwrap_or(5000),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawKeys {
    algorithm: String,
    id_token_algorithms: Vec<String>,
    master_key_file: Option<PathBuf>,
    rotate_after_secs: i64,
    publish_before_secs: i64,
}

impl Default for RawKeys {
    fn default() -> Self {
        Self {
            algorithm: "ES256".into(),
            id_token_algorithms: Vec::new(),
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

/// `[login]`: sessions and login throttling. The defaults are [`LoginSettings`]'s.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLogin {
    session_max_age_secs: i64,
    session_idle_secs: i64,
    interaction_lifetime_secs: i64,
    account_failures: i64,
    address_failures: i64,
    failure_window_secs: i64,
    interaction_failures: i64,
    pending_per_address: i64,
    max_concurrent_hashes: usize,
    max_queued_hashes: usize,
    trusted_proxies: Vec<String>,
}

impl Default for RawLogin {
    fn default() -> Self {
        let d = LoginSettings::default();
        Self {
            session_max_age_secs: d.session_max_age,
            session_idle_secs: d.session_idle,
            interaction_lifetime_secs: d.interaction_lifetime,
            account_failures: d.account_failures,
            address_failures: d.address_failures,
            failure_window_secs: d.failure_window,
            interaction_failures: d.interaction_failures,
            pending_per_address: d.pending_per_address,
            max_concurrent_hashes: d.max_concurrent_hashes,
            max_queued_hashes: d.max_queued_hashes,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[ui]`: the look of the login and consent pages.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawUi {
    stylesheet: Option<PathBuf>,
    logo: Option<PathBuf>,
    default_locale: String,
    product_name: String,
}

impl Default for RawUi {
    fn default() -> Self {
        Self {
            stylesheet: None,
            logo: None,
            default_locale: "en".into(),
            product_name: "wissel".into(),
        }
    }
}

/// `[client_defaults]`: what a client that leaves a key out gets.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawClientDefaults {
    lifetimes: RawLifetimes,
}

/// `[clients.lifetimes]` and `[client_defaults.lifetimes]`: each key overrides one lifetime.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawLifetimes {
    code_secs: Option<i64>,
    access_token_secs: Option<i64>,
    id_token_secs: Option<i64>,
    refresh_absolute_secs: Option<i64>,
    refresh_idle_secs: Option<i64>,
    consent_secs: Option<i64>,
}

/// A client.
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
    assertion_audience: Option<String>,
    tls_client_auth_san_dns: Option<String>,
    application_type: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Vec<String>,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    oidc_scopes: Option<Vec<String>>,
    pkce: Option<String>,
    id_token_alg: Option<String>,
    #[serde(default)]
    refresh_tokens: bool,
    require_consent: Option<bool>,
    #[serde(default)]
    lifetimes: RawLifetimes,
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
    assertion_audience: Option<String>,
    tls_client_auth_san_dns: Option<String>,
    #[serde(default)]
    scopes: BTreeMap<String, String>,
    access_token_lifetime_secs: Option<i64>,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    claims: BTreeMap<String, Vec<String>>,
    client: Option<String>,
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
    delegation: bool,
    may_act: Option<String>,
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
    /// PEM certificates of the CAs whose client certificates are accepted (mutual TLS,
    /// `tls_client_auth`); `None`: no client certificates are asked for.
    pub client_ca_file: Option<PathBuf>,
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
    /// When a SQLite commit returns (`storage.sqlite_synchronous`).
    pub sqlite_durability: wissel_store::SqliteDurability,
    /// The HTTP settings.
    pub max_body_bytes: usize,
    /// Longest a request body may take to arrive.
    pub body_timeout: Duration,
    /// The bounds on connections: how many, and how long each phase may take.
    pub connections: ConnectionLimits,
    /// Node sync interval.
    pub sync_interval: Duration,
    /// Maintenance interval.
    pub maintenance_interval: Duration,
    /// Introspection cache size.
    pub token_cache_capacity: u64,
    /// jwks_uri cache lifetime.
    pub jwks_uri_ttl: Duration,
    /// Serve the endpoints under ACM/IDM's `/op/v1/*` paths too.
    pub acmidm_path_aliases: bool,
    /// `wissel demo` only: serve the example API, which introspects with this secret.
    pub demo_api_secret: Option<String>,
    /// Expose `/metrics`.
    pub metrics: bool,
    /// Rows per purge batch.
    pub purge_batch: i64,
    /// The deadlines of every store call (`storage.acquire_timeout_ms`,
    /// `storage.statement_timeout_ms`).
    pub store_limits: wissel_store::StoreLimits,
    /// Signing algorithm of new keys.
    pub signing_alg: SigningAlg,
    /// Additional algorithms with their own key sets, for ID tokens only.
    pub id_token_algs: Vec<SigningAlg>,
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
    /// The lifetimes a client gets for what it leaves out (`[client_defaults.lifetimes]`); also
    /// those of clients made with `wissel client create`.
    pub client_lifetimes: Lifetimes,
    /// Login, session and throttling rules.
    pub login: LoginSettings,
    /// The look of the pages.
    pub ui: UiSettings,
    /// The MedMij profile, when `[medmij]` is present.
    pub medmij: Option<MedmijConfig>,
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
        validate(raw, base, source, &figment)
    }
}

fn env() -> Env {
    Env::prefixed("WISSEL_").split("__").ignore(NOT_CONFIG)
}

struct Problems<'a> {
    source: &'a str,
    /// Tells which provider gave a key, so that a value from a `WISSEL_…` variable is not
    /// blamed on the file.
    figment: &'a Figment,
    list: Vec<String>,
}

impl Problems<'_> {
    fn add(&mut self, key: impl std::fmt::Display, msg: impl std::fmt::Display) {
        let key = key.to_string();
        let from_env = !key.contains('[')
            && self
                .figment
                .find_metadata(&key)
                .is_some_and(|m| m.name.contains("environment"));
        let source = if from_env {
            let var = key
                .split('.')
                .map(str::to_ascii_uppercase)
                .collect::<Vec<_>>()
                .join("__");
            format!("WISSEL_{var}")
        } else {
            self.source.to_owned()
        };
        self.list.push(format!("{key}: {msg} (in {source})"));
    }
}

/// A DNS name: labels of letters, digits and hyphens, no wildcard.
pub fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').count() >= 2
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Client and API ids: printable, bounded, and unique across both kinds.
fn check_id(p: &mut Problems<'_>, key: &str, id: &str, seen: &mut HashSet<String>) {
    if !is_valid_id(id) {
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

/// Client ids, API ids and usernames: 1–128 printable ASCII characters, without `"` or `\\`.
pub fn is_valid_id(s: &str) -> bool {
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

/// Why a redirect URI (or post-logout redirect URI) cannot be registered, if it cannot. It is
/// matched exactly, so it must be absolute, without fragment or wildcard, and go where only the
/// client listens: `https`; `http` on a loopback host for a native app (RFC 8252 §7.3); or a
/// private-use scheme with a dot, a reversed domain name the app owns (RFC 8252 §7.1).
pub fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.contains('*') {
        return Err("must not contain a wildcard (*): redirect URIs are matched exactly");
    }
    let u = url::Url::parse(uri).map_err(|_| "is not an absolute URL")?;
    if u.fragment().is_some() {
        return Err("must not have a fragment");
    }
    match u.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&u) => Ok(()),
        "http" => {
            Err("http is only allowed on a loopback host (127.0.0.1, [::1], localhost); use https")
        }
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(
            "must be https, http on a loopback host, or a private-use scheme with a dot such as com.example.app:/callback",
        ),
    }
}

/// The grant types a client may be given ([`GrantType::parse`] reads them).
pub const GRANT_TYPE_NAMES: &[&str] = &[
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "token_exchange",
];

/// The rules that tie a client's keys together, shared by the configuration file and
/// `wissel client create`: each broken rule as the key it is about and why.
pub fn client_problems(client: &Client) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    let code = client.allows(GrantType::AuthorizationCode);
    if client.is_public() && client.allows(GrantType::ClientCredentials) {
        out.push((
            "grant_types",
            "a public client (auth_method = \"none\") cannot use client_credentials".into(),
        ));
    }
    if client.allows(GrantType::RefreshToken) && !code {
        out.push((
            "grant_types",
            "refresh_token needs authorization_code: refresh tokens come from the authorization-code flow".into(),
        ));
    }
    if code && client.redirect_uris.is_empty() {
        out.push((
            "redirect_uris",
            "a client that uses authorization_code needs at least one redirect URI".into(),
        ));
    }
    for (key, list) in [
        ("redirect_uris", &client.redirect_uris),
        (
            "post_logout_redirect_uris",
            &client.post_logout_redirect_uris,
        ),
    ] {
        for u in list {
            if let Err(e) = check_redirect_uri(u) {
                out.push((key, format!("{u:?} {e}")));
            }
        }
    }
    if client.is_public() && !client.require_consent {
        out.push((
            "require_consent",
            "a public client cannot skip consent: its identity cannot be verified (RFC 8252 §8.6)"
                .into(),
        ));
    }
    if client.is_public() && client.pkce != PkceRule::S256Required {
        out.push((
            "pkce",
            "a public client must use PKCE with S256 (s256_required): it has no secret to bind the code to".into(),
        ));
    }
    if client.is_public() && client.allows(GrantType::TokenExchange) {
        out.push((
            "grant_types",
            "a public client cannot use token exchange: the exchange needs client authentication"
                .into(),
        ));
    }
    if client.refresh_tokens && !client.allows(GrantType::RefreshToken) {
        out.push((
            "refresh_tokens",
            "needs refresh_token in grant_types".into(),
        ));
    }
    out
}

/// The shortest user password accepted, in the file and by `wissel user`.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Cookies are marked `Secure` unless the issuer is `http://` on a loopback host (a browser
/// would not send them back over plain HTTP).
pub fn cookies_must_be_secure(issuer: &str) -> bool {
    !matches!(url::Url::parse(issuer), Ok(u) if u.scheme() == "http" && is_loopback_host(&u))
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

/// `assertion_audience` of a client or API: which `aud` its `private_key_jwt` assertions may
/// carry (only with that method).
fn assertion_audience(
    p: &mut Problems<'_>,
    key: &str,
    raw: Option<&str>,
    creds: &mut Option<Credentials>,
) {
    let Some(v) = raw else { return };
    let field = format!("{key}.assertion_audience");
    let Some(audience) = parse_enum(
        p,
        &field,
        v,
        &[
            ("issuer", AssertionAudience::Issuer),
            ("issuer_or_endpoint", AssertionAudience::IssuerOrEndpoint),
        ],
    ) else {
        return;
    };
    if let Some(c) = creds {
        if c.method == ClientAuthMethod::PrivateKeyJwt {
            c.assertion_audience = audience;
        } else {
            p.add(field, "is for private_key_jwt");
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
    san_dns: Option<&str>,
    mutual_tls: bool,
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
        assertion_audience: Default::default(),
        tls_client_auth_san_dns: None,
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
            if !mutual_tls {
                p.add(
                    format!("{key}.auth_method"),
                    "tls_client_auth needs [server.tls] with client_ca_file",
                );
            }
            if secret_sources + key_sources > 0 {
                p.add(key, "a tls_client_auth client has no secret or keys");
            }
            match san_dns {
                Some(name) if !crate::config::is_dns_name(name) => p.add(
                    format!("{key}.tls_client_auth_san_dns"),
                    "must be a DNS name",
                ),
                Some(name) => creds.tls_client_auth_san_dns = Some(name.to_ascii_lowercase()),
                None => {}
            }
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
/// True when a link attribute or a released user claim may not take this name: a standard
/// member of tokens or introspection responses (for `[[links]]`, `[[apis]] claims` and
/// `wissel link set --attribute`).
pub fn is_reserved_member(name: &str) -> bool {
    RESERVED_MEMBERS.contains(&name) || RESERVED_CLAIMS.contains(&name)
}

/// Members of tokens and introspection responses that token exchange adds: no user claim or
/// link attribute may take their names.
pub const RESERVED_CLAIMS: &[&str] = &["act", "may_act", "chain", "parent_grant", "jwt", "nbf"];

/// The standard members of introspection responses: no link attribute may take their names.
pub const RESERVED_MEMBERS: &[&str] = &[
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

const DAY: i64 = 86_400;
/// The code lifetime of the acmidm profile.
const ACMIDM_CODE_SECS: i64 = 30;
/// The longest refresh-token family, idle time or remembered consent.
const LONGEST_GRANT: i64 = 366 * DAY;

/// `{key}.*_secs` laid over `base`: each value given is checked against its bounds.
fn lifetimes(p: &mut Problems<'_>, key: &str, raw: &RawLifetimes, base: Lifetimes) -> Lifetimes {
    let mut l = base;
    let fields: [(&str, Option<i64>, &mut i64, RangeInclusive<i64>); 6] = [
        ("code_secs", raw.code_secs, &mut l.code, 1..=600),
        (
            "access_token_secs",
            raw.access_token_secs,
            &mut l.access_token,
            1..=DAY,
        ),
        ("id_token_secs", raw.id_token_secs, &mut l.id_token, 1..=DAY),
        (
            "refresh_absolute_secs",
            raw.refresh_absolute_secs,
            &mut l.refresh_absolute,
            60..=LONGEST_GRANT,
        ),
        (
            "refresh_idle_secs",
            raw.refresh_idle_secs,
            &mut l.refresh_idle,
            60..=LONGEST_GRANT,
        ),
        (
            "consent_secs",
            raw.consent_secs,
            &mut l.consent,
            60..=LONGEST_GRANT,
        ),
    ];
    for (name, value, slot, range) in fields {
        match value {
            Some(v) if range.contains(&v) => *slot = v,
            Some(_) => p.add(
                format!("{key}.{name}"),
                format!("must be between {} and {}", range.start(), range.end()),
            ),
            None => {}
        }
    }
    // Checked where one of the two is set, so that a bad default is reported once.
    if (raw.refresh_idle_secs.is_some() || raw.refresh_absolute_secs.is_some())
        && l.refresh_idle > l.refresh_absolute
    {
        p.add(
            format!("{key}.refresh_idle_secs"),
            format!(
                "{} is longer than refresh_absolute_secs ({})",
                l.refresh_idle, l.refresh_absolute
            ),
        );
    }
    l
}

fn in_range<T>(p: &mut Problems<'_>, key: &str, value: T, range: RangeInclusive<T>) -> T
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    if !range.contains(&value) {
        p.add(
            key,
            format!("must be between {} and {}", range.start(), range.end()),
        );
    }
    value
}

fn login_settings(p: &mut Problems<'_>, raw: &RawLogin, issuer: &str) -> LoginSettings {
    let session_max_age = in_range(
        p,
        "login.session_max_age_secs",
        raw.session_max_age_secs,
        60..=30 * DAY,
    );
    let session_idle = in_range(
        p,
        "login.session_idle_secs",
        raw.session_idle_secs,
        60..=30 * DAY,
    );
    if session_idle > session_max_age {
        p.add(
            "login.session_idle_secs",
            format!("{session_idle} is longer than login.session_max_age_secs ({session_max_age})"),
        );
    }
    LoginSettings {
        session_max_age,
        session_idle,
        interaction_lifetime: in_range(
            p,
            "login.interaction_lifetime_secs",
            raw.interaction_lifetime_secs,
            60..=3600,
        ),
        account_failures: in_range(p, "login.account_failures", raw.account_failures, 1..=1000),
        address_failures: in_range(
            p,
            "login.address_failures",
            raw.address_failures,
            1..=1_000_000,
        ),
        failure_window: in_range(
            p,
            "login.failure_window_secs",
            raw.failure_window_secs,
            60..=DAY,
        ),
        interaction_failures: in_range(
            p,
            "login.interaction_failures",
            raw.interaction_failures,
            1..=1000,
        ),
        pending_per_address: in_range(
            p,
            "login.pending_per_address",
            raw.pending_per_address,
            1..=1_000_000,
        ),
        max_concurrent_hashes: in_range(
            p,
            "login.max_concurrent_hashes",
            raw.max_concurrent_hashes,
            1..=64,
        ),
        max_queued_hashes: in_range(
            p,
            "login.max_queued_hashes",
            raw.max_queued_hashes,
            0..=10_000,
        ),
        secure_cookies: cookies_must_be_secure(issuer),
        // Only `wissel demo` serves its relying party; it sets this itself.
        demo_rp: false,
        trusted_proxies: raw
            .trusted_proxies
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let net = wissel_http::browser::IpNet::parse(v);
                if net.is_none() {
                    p.add(
                        format!("login.trusted_proxies[{i}]"),
                        format!("{v:?} is not an IP address or range (like 10.0.0.0/8)"),
                    );
                }
                net
            })
            .collect(),
    }
}

const MAX_STYLESHEET_BYTES: u64 = 256 * 1024;
const MAX_LOGO_BYTES: u64 = 512 * 1024;
const LOGO_TYPES: &[(&str, &str)] = &[
    ("png", "image/png"),
    ("svg", "image/svg+xml"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("webp", "image/webp"),
];

/// Reads at most `limit` bytes of a file: a larger one (or a device) is refused without being
/// read whole.
fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "{}: larger than {} KiB",
            path.display(),
            limit / 1024
        ));
    }
    Ok(bytes)
}

fn ui_settings(p: &mut Problems<'_>, raw: &RawUi, base: &Path) -> UiSettings {
    let stylesheet = raw.stylesheet.as_ref().and_then(|f| {
        let read = read_bounded(&base.join(f), MAX_STYLESHEET_BYTES)
            .and_then(|b| String::from_utf8(b).map_err(|_| "is not UTF-8 text".to_owned()));
        match read {
            Ok(css) => Some(Arc::<str>::from(css)),
            Err(e) => {
                p.add("ui.stylesheet", e);
                None
            }
        }
    });
    let logo = raw.logo.as_ref().and_then(|f| {
        let ext = f
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let Some((_, content_type)) = LOGO_TYPES.iter().find(|(e, _)| *e == ext) else {
            p.add(
                "ui.logo",
                format!(
                    "{}: must end in .png, .svg, .jpg, .jpeg or .webp",
                    f.display()
                ),
            );
            return None;
        };
        match read_bounded(&base.join(f), MAX_LOGO_BYTES) {
            Ok(bytes) => Some((Arc::<[u8]>::from(bytes), *content_type)),
            Err(e) => {
                p.add("ui.logo", e);
                None
            }
        }
    });
    let default_locale = parse_enum(
        p,
        "ui.default_locale",
        &raw.default_locale,
        &[("en", "en"), ("nl", "nl")],
    )
    .unwrap_or("en")
    .to_owned();
    let name = raw.product_name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        p.add(
            "ui.product_name",
            "must be 1–64 characters, without control characters",
        );
    }
    UiSettings {
        stylesheet,
        logo,
        default_locale,
        product_name: name.to_owned(),
    }
}

/// A relative SQLite path is relative to the configuration file, not to the working directory.
/// `storage.sqlite_synchronous`: `full` (the default: a commit is on the disk before it is
/// acknowledged) or `normal` (survives a crash of the process, not a power loss).
fn sqlite_durability(value: &str) -> Option<wissel_store::SqliteDurability> {
    match value {
        "full" => Some(wissel_store::SqliteDurability::Full),
        "normal" => Some(wissel_store::SqliteDurability::Normal),
        _ => None,
    }
}

fn resolve_sqlite_path(url: &str, base: &Path) -> String {
    match url.strip_prefix("sqlite://") {
        Some(path) if !path.starts_with('/') && !base.as_os_str().is_empty() => {
            format!("sqlite://{}", base.join(path).display())
        }
        _ => url.to_owned(),
    }
}

fn validate(
    raw: RawConfig,
    base: &Path,
    source: &str,
    figment: &Figment,
) -> Result<Config, ConfigError> {
    let mut p = Problems {
        source,
        figment,
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
        client_ca_file: t.client_ca_file.as_ref().map(|f| base.join(f)),
    });
    if let Some(t) = &tls {
        for (k, f) in [
            ("server.tls.cert_file", Some(&t.cert_file)),
            ("server.tls.key_file", Some(&t.key_file)),
            ("server.tls.client_ca_file", t.client_ca_file.as_ref()),
        ] {
            if let Some(f) = f
                && !f.is_file()
            {
                p.add(k, format!("{}: no such file", f.display()));
            }
        }
    }
    let mutual_tls = tls.as_ref().is_some_and(|t| t.client_ca_file.is_some());
    if !(1024..=16 * 1024 * 1024).contains(&raw.server.max_body_bytes) {
        p.add("server.max_body_bytes", "must be between 1024 and 16777216");
    }
    for (key, ms) in [
        (
            "server.handshake_timeout_ms",
            raw.server.handshake_timeout_ms,
        ),
        ("server.idle_timeout_ms", raw.server.idle_timeout_ms),
        ("server.header_timeout_ms", raw.server.header_timeout_ms),
        ("server.body_timeout_ms", raw.server.body_timeout_ms),
    ] {
        in_range(&mut p, key, ms, 100..=600_000);
    }
    in_range(
        &mut p,
        "server.max_connections",
        raw.server.max_connections,
        1..=1_000_000,
    );
    in_range(
        &mut p,
        "server.max_requests_per_connection",
        raw.server.max_requests_per_connection,
        1..=1_000_000,
    );
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
    if sqlite_durability(&raw.storage.sqlite_synchronous).is_none() {
        p.add(
            "storage.sqlite_synchronous",
            "must be \"full\" or \"normal\"",
        );
    }
    if !(1..=100_000).contains(&raw.storage.purge_batch) {
        p.add("storage.purge_batch", "must be between 1 and 100000");
    }
    if !(100..=60_000).contains(&raw.storage.acquire_timeout_ms) {
        p.add(
            "storage.acquire_timeout_ms",
            "must be between 100 and 60000",
        );
    }
    if !(100..=600_000).contains(&raw.storage.statement_timeout_ms) {
        p.add(
            "storage.statement_timeout_ms",
            "must be between 100 and 600000",
        );
    }
    let keys_alg = parse_enum(&mut p, "keys.algorithm", &raw.keys.algorithm, ALGS);
    let signing_alg = keys_alg.unwrap_or_default();
    let mut id_token_algs: Vec<SigningAlg> = Vec::new();
    for (i, v) in raw.keys.id_token_algorithms.iter().enumerate() {
        let key = format!("keys.id_token_algorithms[{i}]");
        if let Some(alg) = parse_enum(&mut p, &key, v, ALGS) {
            if Some(alg) == keys_alg || id_token_algs.contains(&alg) {
                p.add(key, format!("{v} is listed twice (keys.algorithm counts)"));
            } else {
                id_token_algs.push(alg);
            }
        }
    }
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

    let login = login_settings(&mut p, &raw.login, &issuer);
    let ui = ui_settings(&mut p, &raw.ui, base);
    let client_lifetimes = lifetimes(
        &mut p,
        "client_defaults.lifetimes",
        &raw.client_defaults.lifetimes,
        Lifetimes::default(),
    );

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
                &[("standard", Profile::Standard), ("acmidm", Profile::Acmidm)],
            ),
        };
        if c.profile.as_deref() == Some("medmij") {
            p.list.pop();
            p.add(
                format!("{key}.profile"),
                "MedMij clients are not declared: every PGO on the OAuth Client List and the \
                 Whitelist is one (see [medmij])",
            );
        }
        let mut creds = credentials(
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
            c.tls_client_auth_san_dns.as_deref(),
            mutual_tls,
        );
        assertion_audience(&mut p, &key, c.assertion_audience.as_deref(), &mut creds);
        let application_type = c.application_type.as_deref().and_then(|v| {
            parse_enum(
                &mut p,
                &format!("{key}.application_type"),
                v,
                &[
                    ("web", ApplicationType::Web),
                    ("native", ApplicationType::Native),
                ],
            )
        });
        let mut grant_types = Vec::new();
        for g in &c.grant_types {
            let name = if g == "token_exchange" {
                wissel_core::model::TOKEN_EXCHANGE
            } else {
                g.as_str()
            };
            match GrantType::parse(name) {
                Some(grant) if !grant_types.contains(&grant) => grant_types.push(grant),
                Some(_) => {}
                None => p.add(
                    format!("{key}.grant_types"),
                    format!("{g:?} is not one of {}", GRANT_TYPE_NAMES.join(", ")),
                ),
            }
        }
        let oidc_scopes = match &c.oidc_scopes {
            None => default_oidc_scopes(),
            Some(list) => {
                for s in list.iter().filter(|s| !OIDC_SCOPES.contains(&s.as_str())) {
                    p.add(
                        format!("{key}.oidc_scopes"),
                        format!("{s:?} is not one of {}", OIDC_SCOPES.join(", ")),
                    );
                }
                ScopeSet::from_tokens(list.iter().cloned())
            }
        };
        let pkce = match c.pkce.as_deref() {
            None => PkceRule::S256Required,
            Some(v) => parse_enum(
                &mut p,
                &format!("{key}.pkce"),
                v,
                &[
                    ("s256_required", PkceRule::S256Required),
                    ("plain_allowed", PkceRule::PlainAllowed),
                    ("optional", PkceRule::Optional),
                ],
            )
            .unwrap_or_default(),
        };
        // An ID token is signed by the main key set or by an additional algorithm's set.
        let id_token_alg = match c.id_token_alg.as_deref() {
            None => signing_alg,
            Some(v) => {
                let alg = parse_enum(&mut p, &format!("{key}.id_token_alg"), v, ALGS);
                if let (Some(alg), Some(keys_alg)) = (alg, keys_alg)
                    && alg != keys_alg
                    && !id_token_algs.contains(&alg)
                {
                    p.add(
                        format!("{key}.id_token_alg"),
                        format!(
                            "{} is neither keys.algorithm ({}) nor in keys.id_token_algorithms: add it there so that wissel keeps keys for it",
                            alg.as_str(),
                            keys_alg.as_str()
                        ),
                    );
                }
                alg.unwrap_or(signing_alg)
            }
        };
        // Without valid credentials the client is not kept, but its other rules are still checked.
        let method = creds.as_ref().map(|c| c.method).or_else(|| {
            AUTH_METHODS
                .iter()
                .find(|(n, _)| Some(*n) == c.auth_method.as_deref())
                .map(|(_, m)| *m)
        });
        let client = Client {
            id: c.id.clone(),
            name: c.name.clone().unwrap_or_else(|| c.id.clone()),
            profile: profile.unwrap_or_default(),
            credentials: creds.clone().unwrap_or(Credentials {
                method: method.unwrap_or(ClientAuthMethod::ClientSecretBasic),
                secret_sha256: None,
                jwks: None,
                jwks_uri: None,
                assertion_alg: SigningAlg::ES256,
                assertion_audience: Default::default(),
                tls_client_auth_san_dns: None,
            }),
            redirect_uris: c.redirect_uris.clone(),
            grant_types,
            disabled: c.disabled,
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            oidc_scopes,
            pkce,
            id_token_alg,
            refresh_tokens: c.refresh_tokens,
            require_consent: c.require_consent.unwrap_or(true),
            application_type,
            lifetimes: lifetimes(
                &mut p,
                &format!("{key}.lifetimes"),
                &c.lifetimes,
                // The acmidm profile: 30 s codes unless this client says otherwise.
                if profile == Some(Profile::Acmidm) {
                    Lifetimes {
                        code: ACMIDM_CODE_SECS,
                        ..client_lifetimes
                    }
                } else {
                    client_lifetimes
                },
            ),
        };
        for (field, msg) in client_problems(&client) {
            p.add(format!("{key}.{field}"), msg);
        }
        if creds.is_some() && profile.is_some() {
            clients.push(client);
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
        let mut creds = if declares_credentials {
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
                a.tls_client_auth_san_dns.as_deref(),
                mutual_tls,
            )
        } else {
            None
        };
        assertion_audience(&mut p, &key, a.assertion_audience.as_deref(), &mut creds);
        if creds
            .as_ref()
            .is_some_and(|c| c.method == ClientAuthMethod::None)
        {
            p.add(
                format!("{key}.auth_method"),
                "an API must authenticate to introspect; \"none\" is not allowed",
            );
        }
        for (scope, names) in &a.claims {
            if !a.scopes.contains_key(scope) {
                p.add(
                    format!("{key}.claims"),
                    format!("{scope:?} is not one of this API's scopes"),
                );
            }
            for n in names {
                if is_reserved_member(n) || n.is_empty() {
                    p.add(
                        format!("{key}.claims.{scope}"),
                        format!(
                            "{n:?} is a standard token or introspection member, not a user claim"
                        ),
                    );
                }
            }
        }
        if let Some(c) = &a.client
            && !raw.clients.iter().any(|rc| &rc.id == c)
        {
            p.add(
                format!("{key}.client"),
                format!("no client {c:?} is declared"),
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
            claims: a.claims.clone(),
            client_id: a.client.clone(),
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
            if is_reserved_member(k) {
                p.add(
                    format!("{key}.attributes"),
                    format!("{k:?} is a standard introspection member"),
                );
            }
        }
        if l.delegation && !l.exchange {
            p.add(
                format!("{key}.delegation"),
                "delegation is a kind of token exchange: set exchange = true too",
            );
        }
        if let Some(m) = &l.may_act
            && !is_valid_id(m)
        {
            p.add(
                format!("{key}.may_act"),
                "must be 1–128 printable ASCII characters (the actor's subject)",
            );
        }
        links.push(Link {
            client: l.client.clone(),
            api: l.api.clone(),
            scopes,
            exchange: l.exchange,
            delegation: l.delegation,
            may_act: l.may_act.clone(),
            attributes: l.attributes.clone(),
        });
    }

    let mut users = Vec::new();
    let mut usernames = HashSet::new();
    for (i, u) in raw.users.iter().enumerate() {
        let key = format!("users[{i}]");
        if !is_valid_id(&u.username) {
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
            && pw.chars().count() < MIN_PASSWORD_LEN
        {
            p.add(
                format!("{key}.password"),
                format!("must be at least {MIN_PASSWORD_LEN} characters"),
            );
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

    let medmij = raw.medmij.as_ref().and_then(|m| {
        let api_ids: HashSet<String> = apis.iter().map(|a: &Api| a.id.clone()).collect();
        let host = url::Url::parse(&issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        medmij::validate(&mut p, m, base, &api_ids, &host, mutual_tls)
    });
    if !p.list.is_empty() {
        return Err(ConfigError(p.list));
    }
    // Everything signed: API access tokens, and the access and ID tokens of the code flow.
    let longest_token = apis
        .iter()
        .map(|a| a.access_token_lifetime)
        .chain(
            clients
                .iter()
                .flat_map(|c| [c.lifetimes.access_token, c.lifetimes.id_token]),
        )
        .max()
        .unwrap_or(900)
        .max(900);
    Ok(Config {
        issuer,
        listen,
        tls,
        storage_url: resolve_sqlite_path(&raw.storage.url, base),
        sqlite_durability: sqlite_durability(&raw.storage.sqlite_synchronous).unwrap_or_default(),
        max_body_bytes: raw.server.max_body_bytes,
        body_timeout: Duration::from_millis(raw.server.body_timeout_ms),
        connections: ConnectionLimits {
            handshake_timeout: Duration::from_millis(raw.server.handshake_timeout_ms),
            idle_timeout: Duration::from_millis(raw.server.idle_timeout_ms),
            header_timeout: Duration::from_millis(raw.server.header_timeout_ms),
            max_connections: raw.server.max_connections,
            max_requests_per_connection: raw.server.max_requests_per_connection,
        },
        sync_interval: Duration::from_millis(raw.server.sync_interval_ms),
        maintenance_interval: Duration::from_secs(raw.server.maintenance_interval_secs),
        token_cache_capacity: raw.server.token_cache_capacity,
        jwks_uri_ttl: Duration::from_secs(raw.server.jwks_uri_cache_secs),
        acmidm_path_aliases: raw.server.acmidm_path_aliases,
        demo_api_secret: None,
        metrics: raw.server.metrics,
        purge_batch: raw.storage.purge_batch,
        store_limits: wissel_store::StoreLimits {
            acquire_timeout: Duration::from_millis(raw.storage.acquire_timeout_ms),
            statement_timeout: Duration::from_millis(raw.storage.statement_timeout_ms),
        },
        signing_alg,
        id_token_algs,
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
        client_lifetimes,
        login,
        ui,
        medmij,
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
    fn connection_bounds_have_defaults_and_ranges() {
        let c = load("issuer = \"http://127.0.0.1:8080\"").unwrap();
        assert_eq!(c.connections, ConnectionLimits::default());
        assert_eq!(c.body_timeout, Duration::from_secs(10));
        let c = load(
            "issuer = \"http://127.0.0.1:8080\"\n[server]\nidle_timeout_ms = 400\nheader_timeout_ms = 300\n\
             body_timeout_ms = 200\nhandshake_timeout_ms = 100\nmax_connections = 5\n\
             max_requests_per_connection = 7",
        )
        .unwrap();
        assert_eq!(c.connections.idle_timeout, Duration::from_millis(400));
        assert_eq!(c.connections.header_timeout, Duration::from_millis(300));
        assert_eq!(c.connections.handshake_timeout, Duration::from_millis(100));
        assert_eq!(c.body_timeout, Duration::from_millis(200));
        assert_eq!(c.connections.max_connections, 5);
        assert_eq!(c.connections.max_requests_per_connection, 7);
        let e = load(
            "issuer = \"http://127.0.0.1:8080\"\n[server]\nidle_timeout_ms = 0\nbody_timeout_ms = 99\n\
             max_connections = 0\nmax_requests_per_connection = 0",
        )
        .unwrap_err()
        .to_string();
        for key in [
            "server.idle_timeout_ms",
            "server.body_timeout_ms",
            "server.max_connections",
            "server.max_requests_per_connection",
        ] {
            assert!(e.contains(key), "{key} missing in {e}");
        }
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
    fn sqlite_commits_are_synced_unless_the_operator_says_otherwise() {
        let c = load("issuer = \"http://127.0.0.1:1\"").unwrap();
        assert_eq!(c.sqlite_durability, wissel_store::SqliteDurability::Full);
        let c = load("issuer = \"http://127.0.0.1:1\"\n[storage]\nsqlite_synchronous = \"normal\"")
            .unwrap();
        assert_eq!(c.sqlite_durability, wissel_store::SqliteDurability::Normal);
        let e = load("issuer = \"http://127.0.0.1:1\"\n[storage]\nsqlite_synchronous = \"off\"")
            .unwrap_err();
        assert!(e.to_string().contains("storage.sqlite_synchronous"), "{e}");
    }

    #[test]
    fn store_deadlines_have_defaults_and_bounds() {
        let c = load("issuer = \"http://127.0.0.1:1\"").unwrap();
        assert_eq!(c.store_limits.acquire_timeout, Duration::from_millis(1500));
        assert_eq!(
            c.store_limits.statement_timeout,
            Duration::from_millis(5000)
        );
        let c = load("issuer = \"http://127.0.0.1:1\"\n[storage]\nacquire_timeout_ms = 300\nstatement_timeout_ms = 700").unwrap();
        assert_eq!(c.store_limits.call_deadline(), Duration::from_millis(1000));
        let e = load("issuer = \"http://127.0.0.1:1\"\n[storage]\nacquire_timeout_ms = 0\nstatement_timeout_ms = 0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("storage.acquire_timeout_ms"), "{e}");
        assert!(e.contains("storage.statement_timeout_ms"), "{e}");
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

    /// Loads `clients` (TOML) under a loopback issuer; the error text when refused.
    fn load_clients(clients: &str) -> Result<Config, String> {
        load(&format!("issuer = \"http://127.0.0.1:8080\"\n{clients}")).map_err(|e| e.to_string())
    }

    /// A fresh directory for files a test reads.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wissel-config-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn assertion_audience_and_application_type() {
        let jwks = r#"jwks = { keys = [{ kty = "EC", crv = "P-256", x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", kid = "k" }] }"#;
        let c = load_clients(&format!(
            "[[clients]]\nid = \"a\"\nauth_method = \"private_key_jwt\"\n{jwks}\n\
             [[clients]]\nid = \"b\"\nauth_method = \"private_key_jwt\"\n{jwks}\n\
             assertion_audience = \"issuer_or_endpoint\"\napplication_type = \"native\"\n"
        ))
        .unwrap();
        let (a, b) = (&c.declared.clients[0], &c.declared.clients[1]);
        assert_eq!(a.credentials.assertion_audience, AssertionAudience::Issuer);
        assert_eq!(a.application_type, None);
        assert_eq!(a.application_type(), ApplicationType::Web);
        assert_eq!(
            b.credentials.assertion_audience,
            AssertionAudience::IssuerOrEndpoint
        );
        assert_eq!(b.application_type(), ApplicationType::Native);
        for (extra, expected) in [
            (
                "secret = \"0123456789abcdef0123456789abcdef\"\nassertion_audience = \"issuer_or_endpoint\"",
                "clients[0].assertion_audience: is for private_key_jwt",
            ),
            (
                "auth_method = \"private_key_jwt\"\njwks_uri = \"https://c.example/jwks\"\nassertion_audience = \"endpoint\"",
                "clients[0].assertion_audience: \"endpoint\" is not one of issuer, issuer_or_endpoint",
            ),
            (
                "secret = \"0123456789abcdef0123456789abcdef\"\napplication_type = \"desktop\"",
                "clients[0].application_type: \"desktop\" is not one of web, native",
            ),
        ] {
            let e = load_clients(&format!("[[clients]]\nid = \"c\"\n{extra}\n")).unwrap_err();
            assert!(e.contains(expected), "{e}");
        }
    }

    #[test]
    fn code_client_gets_the_defaults() {
        let c = load_clients(
            r#"
[[clients]]
id = "spa"
auth_method = "none"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://app.example/cb", "http://127.0.0.1/cb", "com.example.app:/cb"]
post_logout_redirect_uris = ["https://app.example/bye"]
"#,
        )
        .unwrap();
        let client = &c.declared.clients[0];
        assert!(client.is_public());
        assert_eq!(
            client.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(client.pkce, PkceRule::S256Required);
        assert_eq!(client.oidc_scopes, default_oidc_scopes());
        assert_eq!(client.id_token_alg, SigningAlg::ES256);
        assert!(client.require_consent);
        assert!(!client.refresh_tokens);
        assert_eq!(client.lifetimes, Lifetimes::default());
        assert_eq!(
            client.post_logout_redirect_uris,
            ["https://app.example/bye"]
        );
    }

    #[test]
    fn redirect_uri_rules() {
        for good in [
            "https://app.example/cb",
            "https://app.example/cb?x=1",
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(check_redirect_uri(good), Ok(()), "{good}");
        }
        for bad in [
            "http://app.example/cb",
            "https://app.example/cb#frag",
            "https://app.example/cb#",
            "https://*.app.example/cb",
            "https://app.example/*",
            "/cb",
            "app.example/cb",
            "myapp:/cb",
            "javascript:alert(1)",
            "data:text/html,x",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn grant_and_redirect_rules_are_reported_with_their_keys() {
        let e = load_clients(&format!(
            r#"
[[clients]]
id = "no-redirect"
secret = "{SECRET}"
grant_types = ["authorization_code"]
refresh_tokens = true

[[clients]]
id = "refresh-only"
secret = "{SECRET}"
grant_types = ["refresh_token"]

[[clients]]
id = "public-cc"
auth_method = "none"
grant_types = ["client_credentials"]

[[clients]]
id = "bad-uris"
secret = "{SECRET}"
grant_types = ["authorization_code"]
redirect_uris = ["http://app.example/cb"]
post_logout_redirect_uris = ["https://app.example/bye#x"]

[[clients]]
id = "unknown-grant"
secret = "{SECRET}"
grant_types = ["implicit"]
"#
        ))
        .unwrap_err();
        for needle in [
            "clients[0].redirect_uris: a client that uses authorization_code needs at least one",
            "clients[1].grant_types: refresh_token needs authorization_code",
            "clients[0].refresh_tokens: needs refresh_token in grant_types",
            "clients[2].grant_types: a public client",
            "clients[3].redirect_uris: \"http://app.example/cb\" http is only allowed",
            "clients[3].post_logout_redirect_uris: \"https://app.example/bye#x\" must not have a fragment",
            "clients[4].grant_types: \"implicit\" is not one of",
            "(in configuration text)",
        ] {
            assert!(e.contains(needle), "{needle} missing in {e}");
        }
    }

    #[test]
    fn public_clients_must_use_s256() {
        for rule in ["optional", "plain_allowed"] {
            let e = load_clients(&format!(
                r#"
[[clients]]
id = "app"
auth_method = "none"
grant_types = ["authorization_code"]
redirect_uris = ["com.example.app:/cb"]
pkce = "{rule}"
"#
            ))
            .unwrap_err();
            assert!(e.contains("clients[0].pkce: a public client"), "{e}");
        }
        let c = load_clients(&format!(
            r#"
[[clients]]
id = "web"
secret = "{SECRET}"
grant_types = ["authorization_code"]
redirect_uris = ["https://web.example/cb"]
pkce = "optional"
"#
        ))
        .unwrap();
        assert_eq!(c.declared.clients[0].pkce, PkceRule::Optional);
        let e = load_clients(&format!(
            r#"
[[clients]]
id = "web"
secret = "{SECRET}"
pkce = "S256"
"#
        ))
        .unwrap_err();
        assert!(e.contains("clients[0].pkce: \"S256\" is not one of"), "{e}");
    }

    #[test]
    fn oidc_scopes_are_the_servers_own() {
        let c = load_clients(&format!(
            "[[clients]]\nid = \"c\"\nsecret = \"{SECRET}\"\noidc_scopes = [\"openid\", \"email\"]"
        ))
        .unwrap();
        assert_eq!(
            c.declared.clients[0].oidc_scopes,
            ScopeSet::from_tokens(["openid", "email"])
        );
        let e = load_clients(&format!(
            "[[clients]]\nid = \"c\"\nsecret = \"{SECRET}\"\noidc_scopes = [\"openid\", \"phone\"]"
        ))
        .unwrap_err();
        assert!(
            e.contains("clients[0].oidc_scopes: \"phone\" is not one of openid"),
            "{e}"
        );
    }

    #[test]
    fn id_token_alg_follows_the_keys() {
        let base = format!("[[clients]]\nid = \"c\"\nsecret = \"{SECRET}\"\n");
        let c = load_clients(&format!("[keys]\nalgorithm = \"RS256\"\n{base}")).unwrap();
        assert_eq!(c.declared.clients[0].id_token_alg, SigningAlg::RS256);
        let c = load_clients(&format!(
            "[keys]\nalgorithm = \"EdDSA\"\n{base}id_token_alg = \"EdDSA\""
        ))
        .unwrap();
        assert_eq!(c.declared.clients[0].id_token_alg, SigningAlg::EdDSA);
        let e = load_clients(&format!("{base}id_token_alg = \"RS256\"")).unwrap_err();
        assert!(
            e.contains("clients[0].id_token_alg: RS256 is neither keys.algorithm (ES256) nor in keys.id_token_algorithms"),
            "{e}"
        );
        let c = load_clients(&format!(
            "[keys]\nid_token_algorithms = [\"RS256\"]\n{base}id_token_alg = \"RS256\""
        ))
        .unwrap();
        assert_eq!(c.declared.clients[0].id_token_alg, SigningAlg::RS256);
        assert_eq!(c.id_token_algs, [SigningAlg::RS256]);
        let e = load_clients(&format!(
            "[keys]\nid_token_algorithms = [\"ES256\", \"XX\"]\n{base}"
        ))
        .unwrap_err();
        assert!(
            e.contains("keys.id_token_algorithms[0]") && e.contains("keys.id_token_algorithms[1]"),
            "{e}"
        );
        let e = load_clients(&format!("{base}id_token_alg = \"HS256\"")).unwrap_err();
        assert!(e.contains("clients[0].id_token_alg: \"HS256\""), "{e}");
    }

    #[test]
    fn lifetimes_come_from_the_client_then_the_defaults() {
        let c = load_clients(&format!(
            r#"
[client_defaults.lifetimes]
code_secs = 30
refresh_idle_secs = 3600

[[clients]]
id = "a"
secret = "{SECRET}"

[[clients]]
id = "b"
secret = "{SECRET}"
lifetimes = {{ code_secs = 120, access_token_secs = 3600 }}
"#
        ))
        .unwrap();
        assert_eq!(c.client_lifetimes.code, 30);
        let (a, b) = (&c.declared.clients[0], &c.declared.clients[1]);
        assert_eq!((a.lifetimes.code, a.lifetimes.refresh_idle), (30, 3600));
        assert_eq!(a.lifetimes.access_token, 600);
        assert_eq!((b.lifetimes.code, b.lifetimes.access_token), (120, 3600));
        assert_eq!(b.lifetimes.refresh_idle, 3600);
        assert_eq!(
            c.rotation.keep_retired,
            3600 + 300,
            "a retired key stays published past the longest token it signed"
        );
    }

    #[test]
    fn lifetimes_are_bounded() {
        let e = load_clients(&format!(
            r#"
[client_defaults.lifetimes]
code_secs = 601

[[clients]]
id = "a"
secret = "{SECRET}"
lifetimes = {{ code_secs = 0, id_token_secs = 90000, refresh_absolute_secs = 3600, refresh_idle_secs = 7200 }}

[[clients]]
id = "b"
secret = "{SECRET}"
[clients.lifetimes]
refresh_absolute_secs = 86400
"#
        ))
        .unwrap_err();
        for needle in [
            "client_defaults.lifetimes.code_secs: must be between 1 and 600",
            "clients[0].lifetimes.code_secs: must be between 1 and 600",
            "clients[0].lifetimes.id_token_secs: must be between 1 and 86400",
            "clients[0].lifetimes.refresh_idle_secs: 7200 is longer than refresh_absolute_secs (3600)",
            // The default idle time (7 days) outlives this client's absolute one.
            "clients[1].lifetimes.refresh_idle_secs: 604800 is longer",
        ] {
            assert!(e.contains(needle), "{needle} missing in {e}");
        }
        let e = load_clients("[client_defaults.lifetimes]\ncode = 5").unwrap_err();
        assert!(e.contains("found `code`"), "{e}");
    }

    #[test]
    fn login_settings_and_secure_cookies() {
        let c = load_clients("").unwrap();
        let d = LoginSettings::default();
        assert_eq!(c.login.session_max_age, d.session_max_age);
        assert_eq!(c.login.max_concurrent_hashes, d.max_concurrent_hashes);
        assert_eq!(
            (
                c.login.max_queued_hashes,
                c.login.interaction_failures,
                c.login.pending_per_address
            ),
            (32, 10, 1000)
        );
        assert!(!c.login.secure_cookies, "http on loopback");
        assert!(!c.login.demo_rp);
        let c = load(
            "issuer = \"https://as.example\"\n[login]\nsession_max_age_secs = 3600\nsession_idle_secs = 600\naccount_failures = 3",
        )
        .unwrap();
        assert!(c.login.secure_cookies);
        assert_eq!((c.login.session_max_age, c.login.session_idle), (3600, 600));
        assert_eq!(c.login.account_failures, 3);
        let e = load_clients(
            "[login]\nsession_max_age_secs = 600\nsession_idle_secs = 1200\nmax_concurrent_hashes = 0\nmax_queued_hashes = 10001\ninteraction_failures = 0\npending_per_address = 0\nfailure_window_secs = 1\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/40\"]",
        )
        .unwrap_err();
        for needle in [
            "login.session_idle_secs: 1200 is longer than login.session_max_age_secs (600)",
            "login.max_concurrent_hashes: must be between 1 and 64",
            "login.max_queued_hashes: must be between 0 and 10000",
            "login.interaction_failures: must be between 1 and 1000",
            "login.pending_per_address: must be between 1 and 1000000",
            "login.failure_window_secs: must be between 60 and 86400",
            "login.trusted_proxies[1]: \"10.0.0.0/40\" is not an IP address or range",
        ] {
            assert!(e.contains(needle), "{needle} missing in {e}");
        }
        for not_a_key in ["secure_cookies = false", "demo_rp = true"] {
            let e = load_clients(&format!("[login]\n{not_a_key}")).unwrap_err();
            assert!(e.contains("unknown field"), "{e}");
        }
        assert!(cookies_must_be_secure("https://as.example"));
        assert!(!cookies_must_be_secure("http://localhost:8080"));
        assert!(!cookies_must_be_secure("http://[::1]:8080"));
    }

    #[test]
    fn ui_files_are_read_relative_to_the_config() {
        let dir = scratch("ui");
        std::fs::write(dir.join("theme.css"), "body { color: teal }").unwrap();
        std::fs::write(dir.join("Logo.SVG"), "<svg/>").unwrap();
        let c = Config::from_toml(
            "issuer = \"http://127.0.0.1:1\"\n[ui]\nstylesheet = \"theme.css\"\nlogo = \"Logo.SVG\"\ndefault_locale = \"nl\"\nproduct_name = \"Acme login\"",
            &dir,
        )
        .unwrap();
        assert_eq!(c.ui.stylesheet.as_deref(), Some("body { color: teal }"));
        let (bytes, content_type) = c.ui.logo.clone().unwrap();
        assert_eq!(
            (&bytes[..], content_type),
            (&b"<svg/>"[..], "image/svg+xml")
        );
        assert_eq!(c.ui.default_locale, "nl");
        assert_eq!(c.ui.product_name, "Acme login");

        let c = load_clients("").unwrap();
        assert!(c.ui.stylesheet.is_none() && c.ui.logo.is_none());
        assert_eq!(
            (&*c.ui.default_locale, &*c.ui.product_name),
            ("en", "wissel")
        );
    }

    #[test]
    fn ui_files_are_bounded_and_typed() {
        let dir = scratch("ui-bad");
        std::fs::write(dir.join("big.css"), vec![b'a'; 256 * 1024 + 1]).unwrap();
        std::fs::write(dir.join("big.png"), vec![0u8; 512 * 1024 + 1]).unwrap();
        std::fs::write(dir.join("logo.gif"), b"GIF89a").unwrap();
        let text = |ui: &str| format!("issuer = \"http://127.0.0.1:1\"\n[ui]\n{ui}");
        let refused = |ui: &str| Config::from_toml(&text(ui), &dir).unwrap_err().to_string();
        let e = refused("stylesheet = \"big.css\"");
        assert!(
            e.contains("ui.stylesheet") && e.contains("larger than 256 KiB"),
            "{e}"
        );
        let e = refused("stylesheet = \"missing.css\"");
        assert!(
            e.contains("ui.stylesheet") && e.contains("missing.css"),
            "{e}"
        );
        let e = refused("logo = \"big.png\"");
        assert!(
            e.contains("ui.logo") && e.contains("larger than 512 KiB"),
            "{e}"
        );
        let e = refused("logo = \"logo.gif\"");
        assert!(e.contains("ui.logo") && e.contains(".png, .svg"), "{e}");
        let e = refused("default_locale = \"de\"");
        assert!(
            e.contains("ui.default_locale: \"de\" is not one of en, nl"),
            "{e}"
        );
        let e = refused("product_name = \"  \"");
        assert!(e.contains("ui.product_name"), "{e}");
    }

    /// figment reads the process environment, which a test cannot change without `unsafe`
    /// (forbidden here): the test runs itself again as a child process with the variables set.
    #[test]
    fn environment_overrides_reach_the_new_sections() {
        const NAME: &str = "config::tests::environment_overrides_reach_the_new_sections";
        if let Some(file) = std::env::var_os("CONFIG_TEST_FILE") {
            let loaded = Config::load(Path::new(&file));
            if std::env::var_os("CONFIG_TEST_EXPECT_ERROR").is_some() {
                let e = loaded.unwrap_err().to_string();
                assert!(
                    e.contains("login.account_failures: must be between 1 and 1000 (in WISSEL_LOGIN__ACCOUNT_FAILURES)"),
                    "a bad value from the environment is blamed on its variable: {e}"
                );
            } else {
                let c = loaded.unwrap();
                assert_eq!(c.login.account_failures, 3);
                assert_eq!(c.ui.default_locale, "nl");
                assert_eq!(c.client_lifetimes.code, 30);
                assert_eq!(c.declared.clients[0].lifetimes.code, 30);
            }
            return;
        }
        let dir = scratch("env");
        let file = dir.join("wissel.toml");
        std::fs::write(
            &file,
            format!(
                "issuer = \"http://127.0.0.1:1\"\n[ui]\ndefault_locale = \"en\"\n[[clients]]\nid = \"c\"\nsecret = \"{SECRET}\""
            ),
        )
        .unwrap();
        for (failures, expect_error) in [("3", false), ("0", true)] {
            let mut child = std::process::Command::new(std::env::current_exe().unwrap());
            child
                .args(["--exact", NAME, "--test-threads=1"])
                .env("WISSEL_LOGIN__ACCOUNT_FAILURES", failures)
                .env("WISSEL_UI__DEFAULT_LOCALE", "nl")
                .env("WISSEL_CLIENT_DEFAULTS__LIFETIMES__CODE_SECS", "30")
                .env("CONFIG_TEST_FILE", &file);
            if expect_error {
                child.env("CONFIG_TEST_EXPECT_ERROR", "1");
            }
            let out = child.output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("1 passed"),
                "{stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
