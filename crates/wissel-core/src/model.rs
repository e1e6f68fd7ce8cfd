//! The entities wissel reasons about (DESIGN.md §3): clients, APIs, the links between them,
//! users and their authorizations, tokens, revocations and signing keys.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::scope::ScopeSet;

/// How a client (or an API, at introspection) proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with the url-encoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A JWT signed with the client's key (RFC 7523).
    PrivateKeyJwt,
    /// Mutual TLS with a CA-issued certificate (RFC 8705 §2.1).
    TlsClientAuth,
    /// A public client: no authentication, identified by `client_id` only.
    None,
}

impl ClientAuthMethod {
    /// The name used in configuration and discovery.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::TlsClientAuth => "tls_client_auth",
            Self::None => "none",
        }
    }
}

/// Which `aud` values a client assertion (`private_key_jwt`, RFC 7523) may carry.
/// draft-ietf-oauth-rfc7523bis closes audience injection by accepting only the issuer identifier
/// as the sole audience; the endpoint URLs of RFC 7523 stay available per client, for clients
/// that cannot yet send the issuer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssertionAudience {
    /// `aud` is the issuer, as the only value (the default).
    #[default]
    Issuer,
    /// `aud` names the issuer, the token endpoint or the endpoint the assertion is sent to,
    /// possibly among other values (RFC 7523 §3 as first written).
    IssuerOrEndpoint,
}

impl AssertionAudience {
    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issuer => "issuer",
            Self::IssuerOrEndpoint => "issuer_or_endpoint",
        }
    }
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// What kind of application a client is (OpenID Connect Dynamic Client Registration §2
/// `application_type`): a native app may use any port on a loopback redirect URI (RFC 8252
/// §7.3), a web application may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationType {
    /// A web application: its redirect URIs match exactly.
    Web,
    /// A native app on the user's device: an `http` loopback IP literal matches on any port.
    Native,
}

impl ApplicationType {
    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }
}

/// The rule set applied to a client (DESIGN.md §4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Plain OAuth 2.0 / OpenID Connect.
    #[default]
    Standard,
    /// The Flemish ACM/IDM compatibility rules.
    Acmidm,
    /// The Dutch MedMij rules.
    Medmij,
}

/// How an access token is represented.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenFormat {
    /// A signed JWT (RFC 9068); not stored.
    #[default]
    Jwt,
    /// 256 random bits; stored as a SHA-256 digest.
    Opaque,
}

/// The grant types a client may be allowed. Only grants that this version implements exist here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 6749 §4.1, with PKCE (RFC 7636).
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 8693: a user's access token traded for one to an API.
    TokenExchange,
}

impl GrantType {
    /// The `grant_type` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::TokenExchange => TOKEN_EXCHANGE,
        }
    }
    /// Parses a `grant_type` parameter value (configuration also accepts `token_exchange`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client_credentials" => Some(Self::ClientCredentials),
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            TOKEN_EXCHANGE => Some(Self::TokenExchange),
            _ => None,
        }
    }
}

/// The `grant_type` of RFC 8693.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// A JWS algorithm wissel signs or accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    /// ECDSA P-256 with SHA-256.
    #[default]
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// Ed25519.
    EdDSA,
}

impl SigningAlg {
    /// The JOSE `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::EdDSA => "EdDSA",
        }
    }
    /// Parses a JOSE `alg` value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(Self::ES256),
            "RS256" => Some(Self::RS256),
            "EdDSA" => Some(Self::EdDSA),
            _ => None,
        }
    }
}

/// A SHA-256 digest of a server-generated secret or token, rendered as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            let pair = s.get(2 * i..2 * i + 2)?;
            *byte = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Self(out))
    }
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        let mut s = String::with_capacity(64);
        for b in self.0 {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({}…)", &self.to_hex()[..8])
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::from_hex(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex characters"))
    }
}

/// What a party (client or API) registered to authenticate with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Credentials {
    /// The method it must use.
    pub method: ClientAuthMethod,
    /// SHA-256 of its secret (`client_secret_basic`, `client_secret_post`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_sha256: Option<Digest>,
    /// An inline JWK Set (`private_key_jwt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// Where its JWK Set is published (`private_key_jwt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The one algorithm its assertions may use (`private_key_jwt`).
    #[serde(default)]
    pub assertion_alg: SigningAlg,
    /// The audiences its assertions may name (`private_key_jwt`).
    #[serde(default, skip_serializing_if = "AssertionAudience::is_default")]
    pub assertion_audience: AssertionAudience,
    /// The DNS name its certificate must carry as a subject alternative name
    /// (`tls_client_auth`, RFC 8705 §2.1.2 `tls_client_auth_san_dns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_dns: Option<String>,
}

/// An OAuth client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Client {
    /// The `client_id`.
    pub id: String,
    /// A display name.
    pub name: String,
    /// The rule set.
    #[serde(default)]
    pub profile: Profile,
    /// How it authenticates.
    pub credentials: Credentials,
    /// Registered redirect URIs (exact match).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// The grants it may use.
    pub grant_types: Vec<GrantType>,
    /// A disabled client cannot authenticate.
    #[serde(default)]
    pub disabled: bool,
    /// Where RP-initiated logout may send the browser back to (exact match).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// The OpenID Connect scopes it may request (`openid`, `profile`, `email`, `offline_access`).
    #[serde(default = "default_oidc_scopes")]
    pub oidc_scopes: ScopeSet,
    /// PKCE on the authorization-code flow.
    #[serde(default)]
    pub pkce: PkceRule,
    /// The algorithm of its ID tokens.
    #[serde(default)]
    pub id_token_alg: SigningAlg,
    /// Refresh tokens even when `offline_access` was not granted.
    #[serde(default)]
    pub refresh_tokens: bool,
    /// Ask the user for consent (a first-party client may skip the page).
    #[serde(default = "yes")]
    pub require_consent: bool,
    /// Lifetimes of what the code flow issues to it.
    #[serde(default)]
    pub lifetimes: Lifetimes,
    /// `native` or `web`; `None` means native for a public client, web otherwise
    /// ([`Client::application_type`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<ApplicationType>,
}

impl Client {
    /// A client with these essentials and the defaults for everything else: standard profile,
    /// no redirect URIs, every OpenID Connect scope, PKCE with S256, ES256 ID tokens, consent
    /// asked, default lifetimes.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        credentials: Credentials,
        grant_types: Vec<GrantType>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            profile: Profile::Standard,
            credentials,
            redirect_uris: Vec::new(),
            grant_types,
            disabled: false,
            post_logout_redirect_uris: Vec::new(),
            oidc_scopes: default_oidc_scopes(),
            pkce: PkceRule::S256Required,
            id_token_alg: SigningAlg::ES256,
            refresh_tokens: false,
            require_consent: true,
            lifetimes: Lifetimes::default(),
            application_type: None,
        }
    }
    /// A public client (RFC 6749 §2.1): it cannot authenticate.
    pub fn is_public(&self) -> bool {
        self.credentials.method == ClientAuthMethod::None
    }
    /// What kind of application it is: as registered, else native for a public client (an app
    /// on the user's device cannot keep a secret) and web for a confidential one.
    pub fn application_type(&self) -> ApplicationType {
        self.application_type.unwrap_or(if self.is_public() {
            ApplicationType::Native
        } else {
            ApplicationType::Web
        })
    }
    /// True when it may use the grant.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

fn yes() -> bool {
    true
}

/// The OpenID Connect scopes a client may request unless configured otherwise.
pub fn default_oidc_scopes() -> ScopeSet {
    ScopeSet::from_tokens(OIDC_SCOPES.iter().copied())
}

/// The scopes the server itself defines (OpenID Connect Core §5.4 and §11).
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// How a client must use PKCE (RFC 7636).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PkceRule {
    /// `S256` required (the default, and always for public clients).
    #[default]
    S256Required,
    /// Required, and `plain` accepted too.
    PlainAllowed,
    /// Optional for this confidential client; `S256` when used.
    Optional,
}

/// Lifetimes, in seconds, of what the authorization-code flow issues to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lifetimes {
    /// An authorization code.
    pub code: i64,
    /// An access token that names no API (for userinfo and token exchange).
    pub access_token: i64,
    /// An ID token.
    pub id_token: i64,
    /// A refresh token family, from the login on.
    pub refresh_absolute: i64,
    /// A refresh token unused for this long expires.
    pub refresh_idle: i64,
    /// A remembered consent.
    pub consent: i64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            code: 60,
            access_token: 600,
            id_token: 600,
            refresh_absolute: 30 * 86_400,
            refresh_idle: 7 * 86_400,
            consent: 90 * 86_400,
        }
    }
}

/// A resource server: the audience of access tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Api {
    /// The API id, used as the token audience.
    pub id: String,
    /// A display name.
    pub name: String,
    /// RFC 8707 resource indicators naming this API.
    #[serde(default)]
    pub resources: Vec<String>,
    /// The default access-token format.
    #[serde(default)]
    pub token_format: TokenFormat,
    /// How the API authenticates at introspection; `None` when it never introspects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Credentials>,
    /// Offered scopes and their descriptions.
    #[serde(default)]
    pub scopes: BTreeMap<String, String>,
    /// Access-token lifetime in seconds.
    pub access_token_lifetime: i64,
    /// A disabled API gets no new tokens and cannot introspect.
    #[serde(default)]
    pub disabled: bool,
    /// The user claims each scope releases to the API (in its tokens and at introspection).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, Vec<String>>,
    /// The registered client this API uses when it calls further APIs: tokens for this API
    /// count as issued to that client, so it can exchange them (token-exchange chains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl Api {
    /// The names of the user claims that these scopes release to the API.
    pub fn released_claims<'a>(&'a self, scope: &'a ScopeSet) -> impl Iterator<Item = &'a str> {
        scope
            .iter()
            .filter_map(|s| self.claims.get(s))
            .flatten()
            .map(String::as_str)
    }
    /// The offered scopes as a set.
    pub fn offered(&self) -> ScopeSet {
        ScopeSet::from_tokens(self.scopes.keys().cloned())
    }
}

/// What a client may do with an API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// The client id.
    pub client: String,
    /// The API id.
    pub api: String,
    /// Scopes the client may obtain for the API.
    pub scopes: ScopeSet,
    /// May the client exchange user tokens for this API (RFC 8693)?
    #[serde(default)]
    pub exchange: bool,
    /// May the client present an `actor_token` when it exchanges (delegation, RFC 8693 §4.1)?
    #[serde(default)]
    pub delegation: bool,
    /// The party that tokens issued under this link name in `may_act` (RFC 8693 §4.4): the
    /// actor allowed to act for the token's subject in a later exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub may_act: Option<String>,
    /// Custom attributes returned in introspection.
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// A local user account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Stable, opaque subject identifier.
    pub subject: String,
    /// Login name, unique.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// OpenID Connect claims.
    #[serde(default)]
    pub claims: BTreeMap<String, serde_json::Value>,
    /// Group names.
    #[serde(default)]
    pub groups: Vec<String>,
    /// A disabled user cannot log in.
    #[serde(default)]
    pub disabled: bool,
}

/// Who an authorization is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Grantee {
    /// A user, by username.
    User(String),
    /// Every member of a group.
    Group(String),
}

/// The scopes a user or group holds for an API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorization {
    /// The user or group.
    pub grantee: Grantee,
    /// The API id.
    pub api: String,
    /// The scopes held.
    pub scopes: ScopeSet,
}

/// The in-memory snapshot of every configuration entity on the hot path (clients, APIs, links),
/// loaded from the store and replaced whole when the store's generation changes.
#[derive(Debug, Default, Clone)]
pub struct Registry {
    /// The store generation this snapshot reflects.
    pub generation: i64,
    clients: HashMap<String, Arc<Client>>,
    apis: HashMap<String, Arc<Api>>,
    links: HashMap<(String, String), Arc<Link>>,
    resources: HashMap<String, String>,
}

/// A party that authenticated: a client or an API.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A client.
    Client(Arc<Client>),
    /// An API (a resource server introspecting).
    Api(Arc<Api>),
}

impl Principal {
    /// Its id.
    pub fn id(&self) -> &str {
        match self {
            Self::Client(c) => &c.id,
            Self::Api(a) => &a.id,
        }
    }
}

impl Registry {
    /// Builds a snapshot.
    pub fn new(generation: i64, clients: Vec<Client>, apis: Vec<Api>, links: Vec<Link>) -> Self {
        let mut resources = HashMap::new();
        for api in &apis {
            for r in &api.resources {
                resources.insert(r.clone(), api.id.clone());
            }
        }
        Self {
            generation,
            clients: clients
                .into_iter()
                .map(|c| (c.id.clone(), Arc::new(c)))
                .collect(),
            apis: apis
                .into_iter()
                .map(|a| (a.id.clone(), Arc::new(a)))
                .collect(),
            links: links
                .into_iter()
                .map(|l| ((l.client.clone(), l.api.clone()), Arc::new(l)))
                .collect(),
            resources,
        }
    }
    /// This snapshot with `extra` clients added where no client or API has their id already (the
    /// MedMij profile's clients, which come from the OAuth Client List, not the store).
    pub fn with_extra_clients<'a>(&self, extra: impl IntoIterator<Item = &'a Arc<Client>>) -> Self {
        let mut merged = self.clone();
        for c in extra {
            if !merged.clients.contains_key(&c.id) && !merged.apis.contains_key(&c.id) {
                merged.clients.insert(c.id.clone(), c.clone());
            }
        }
        merged
    }
    /// A client by id.
    pub fn client(&self, id: &str) -> Option<&Arc<Client>> {
        self.clients.get(id)
    }
    /// An API by id.
    pub fn api(&self, id: &str) -> Option<&Arc<Api>> {
        self.apis.get(id)
    }
    /// The API a resource URI names.
    pub fn api_by_resource(&self, uri: &str) -> Option<&Arc<Api>> {
        self.resources.get(uri).and_then(|id| self.apis.get(id))
    }
    /// The link from a client to an API.
    pub fn link(&self, client: &str, api: &str) -> Option<&Arc<Link>> {
        self.links.get(&(client.to_owned(), api.to_owned()))
    }
    /// The links of one client.
    pub fn links_of(&self, client: &str) -> impl Iterator<Item = &Arc<Link>> {
        self.links.values().filter(move |l| l.client == client)
    }
    /// A client or, failing that, an API with this id (ids are unique across both).
    pub fn principal(&self, id: &str) -> Option<Principal> {
        if let Some(c) = self.clients.get(id) {
            return Some(Principal::Client(c.clone()));
        }
        self.apis.get(id).map(|a| Principal::Api(a.clone()))
    }
    /// Every client.
    pub fn clients(&self) -> impl Iterator<Item = &Arc<Client>> {
        self.clients.values()
    }
    /// Every API.
    pub fn apis(&self) -> impl Iterator<Item = &Arc<Api>> {
        self.apis.values()
    }
}

/// What an access token says, whichever its format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessToken {
    /// Unique token id.
    pub jti: String,
    /// The grant the token hangs off.
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The subject: the user's subject id, or the client id for client credentials.
    pub subject: String,
    /// The API (audience).
    pub api: String,
    /// Granted scopes.
    pub scope: ScopeSet,
    /// Issued at, Unix seconds.
    pub issued_at: i64,
    /// Expires at, Unix seconds.
    pub expires_at: i64,
    /// Its representation.
    pub format: TokenFormat,
    /// What token exchange adds; empty for every other token.
    #[serde(default, skip_serializing_if = "Derivation::is_empty")]
    pub derivation: Derivation,
}

/// What a token from token exchange carries beyond the basics: the grants it derives from, the
/// actor, and the user claims its scopes release.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Derivation {
    /// The grants this token's grant derives from, root first; the last is its parent. A
    /// revocation of any of them deactivates the token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
    /// The acting party (RFC 8693 §4.1), nested for earlier actors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
    /// Who may act for the subject in a later exchange (RFC 8693 §4.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub may_act: Option<serde_json::Value>,
    /// User claims released to the API by the token's scopes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims: BTreeMap<String, serde_json::Value>,
}

impl Derivation {
    /// True when the token carries nothing beyond the basics.
    pub fn is_empty(&self) -> bool {
        self.chain.is_empty()
            && self.act.is_none()
            && self.may_act.is_none()
            && self.claims.is_empty()
    }
    /// The parent grant, for a token from token exchange.
    pub fn parent(&self) -> Option<&str> {
        self.chain.last().map(String::as_str)
    }
}

/// Longest chain of exchanges: a token derived from more grants than this is not exchanged
/// further (it bounds the size of tokens and of every revocation check).
pub const MAX_CHAIN: usize = 8;

/// What was revoked: a token (by `jti`) or a whole grant (by grant id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationKind {
    /// One token, by `jti`.
    Token,
    /// Every token of a grant.
    Grant,
}

impl RevocationKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Grant => "grant",
        }
    }
}

/// An entry of the revoked set; kept until `expires_at`, after which nothing it names is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// What kind of id.
    pub kind: RevocationKind,
    /// The `jti` or grant id.
    pub id: String,
    /// When the last token it covers expires.
    pub expires_at: i64,
}

/// The life of a signing key: published as `Next`, signs as `Active`, published as `Retired`
/// until every token it signed has expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published in the JWKS; not signing yet.
    Next,
    /// Signing.
    Active,
    /// Published for verification only.
    Retired,
}

impl KeyState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "next" => Some(Self::Next),
            "active" => Some(Self::Active),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

/// A signing key as stored: the private key is encrypted with the master key.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKeyRecord {
    /// Key id.
    pub kid: String,
    /// Algorithm.
    pub alg: SigningAlg,
    /// Life-cycle state.
    pub state: KeyState,
    /// Nonce and AES-256-GCM ciphertext of the PKCS#8 private key.
    pub private_key_enc: Vec<u8>,
    /// The public JWK (with `kid`, `use`, `alg`).
    pub public_jwk: serde_json::Value,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// When it became active.
    pub activated_at: Option<i64>,
    /// When it stopped signing; it stays published until `publish_until`.
    pub retired_at: Option<i64>,
    /// When a retired key leaves the JWKS.
    pub publish_until: Option<i64>,
}

/// Everything a configuration file provisions; applied idempotently.
#[derive(Debug, Clone, Default)]
pub struct Provisioning {
    /// Clients.
    pub clients: Vec<Client>,
    /// APIs.
    pub apis: Vec<Api>,
    /// Links.
    pub links: Vec<Link>,
    /// Users (password already hashed).
    pub users: Vec<User>,
    /// Authorizations.
    pub authorizations: Vec<Authorization>,
}

/// What an apply changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Entities created.
    pub created: usize,
    /// Entities whose stored form changed.
    pub updated: usize,
    /// Entities already as declared.
    pub unchanged: usize,
}

/// Token-type URIs (RFC 8693 §3).
pub mod token_type {
    /// An OAuth access token, in the API's default format.
    pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
    /// A JWT.
    pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
}
