//! The MedMij profile in the HTTP layer (`docs/medmij.md`): the central lists a node holds and
//! how it refreshes them, the PGO clients they define, the aanbieders this server serves, the
//! tracing headers, the uniqueness of what is issued, and chain logging. The authorization and
//! token interfaces are in `routes/medmij_authorize.rs` and `routes/medmij_token.rs`.

pub mod chainlog;
pub mod lists;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use wissel_core::InternalError;
use wissel_core::model::{
    Client, ClientAuthMethod, Credentials, Digest, GrantType, Lifetimes, PkceRule, Profile,
    SigningAlg,
};
use wissel_core::scope::ScopeSet;
use wissel_medmij::lists::{Gnl, ListKind, Ocl, Whitelist, Zal};
use wissel_medmij::policy::{Aanbieder, Availability, offered_on_zal};

pub use chainlog::{ChainEvent, ChainLog, ChainLogSettings};
pub use lists::{ListSource, ListsSettings};

/// What to do with a token request whose `MedMij-Request-ID` or `X-Correlation-ID` is missing or
/// not a UUID (core.tknint.208 does not say).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderPolicy {
    /// Refuse it with `invalid_request` (the default).
    Refuse,
    /// Log it and go on.
    Log,
}

/// What to do when a token request's `X-Correlation-ID` is not its authorization request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MismatchPolicy {
    /// Refuse it with `invalid_grant` (the default); the code is spent all the same.
    Refuse,
    /// Log it and go on.
    Log,
}

/// An aanbieder as configured: its gegevensdiensten, or `None` to take them from the ZAL.
#[derive(Debug, Clone)]
pub struct AanbiederSetting {
    /// `Zorgaanbiedernaam` (`…@medmij`).
    pub naam: String,
    /// Shown on pages; the name without `@medmij` when not set.
    pub display_name: Option<String>,
    /// What it offers through this server; `None`: what the ZAL lists for it.
    pub gegevensdiensten: Option<ScopeSet>,
    /// The API its tokens are for.
    pub api: String,
}

/// The profile's settings, validated by the binary's configuration.
#[derive(Debug, Clone)]
pub struct MedmijSettings {
    /// The `InterfaceversieId` looked up on the OCL and the ZAL.
    pub interface_version: String,
    /// The aanbieders served.
    pub aanbieders: Vec<AanbiederSetting>,
    /// Where each list comes from.
    pub lists: ListsSettings,
    /// Missing or malformed tracing headers on a token request.
    pub headers: HeaderPolicy,
    /// A token request's correlation id that differs from the authorization request's.
    pub correlation_mismatch: MismatchPolicy,
    /// Also read token request parameters from the query string (the Afsprakenstelsel's example
    /// puts them there).
    pub token_query_parameters: bool,
    /// Access-token lifetime (900 s).
    pub access_token_lifetime: i64,
    /// Authorization-code lifetime.
    pub code_lifetime: i64,
    /// Longest long-lasting consent a person may choose, in days.
    pub consent_max_days: i64,
    /// The duration offered first on the consent page, in days.
    pub consent_default_days: i64,
    /// How long the digests of issued values are kept for the uniqueness check, in seconds.
    pub uniqueness_retention: i64,
    /// Chain logging.
    pub chain_log: ChainLogSettings,
}

/// The lists in force, and what they define.
#[derive(Default)]
pub struct Lists {
    /// The OAuth Client List.
    pub ocl: Option<Arc<Ocl>>,
    /// The Whitelist.
    pub whitelist: Option<Arc<Whitelist>>,
    /// The Gegevensdienstnamenlijst.
    pub gnl: Option<Arc<Gnl>>,
    /// The Zorgaanbiederslijst.
    pub zal: Option<Arc<Zal>>,
    /// A client for each OCL entry whose host is on the Whitelist.
    pub clients: HashMap<String, Arc<Client>>,
    /// The aanbieders served, by their scope name (without `@medmij`).
    pub aanbieders: BTreeMap<String, Aanbieder>,
}

impl Lists {
    /// The header of a list in force.
    pub fn header(&self, kind: ListKind) -> Option<&wissel_medmij::ListHeader> {
        match kind {
            ListKind::Ocl => self.ocl.as_deref().map(|l| &l.header),
            ListKind::Whitelist => self.whitelist.as_deref().map(|l| &l.header),
            ListKind::Gnl => self.gnl.as_deref().map(|l| &l.header),
            ListKind::Zal => self.zal.as_deref().map(|l| &l.header),
        }
    }

    /// The display name of a gegevensdienst (GNL), or its id.
    pub fn gegevensdienst_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.gnl
            .as_deref()
            .and_then(|g| g.names.get(id))
            .map_or(id, String::as_str)
    }

    /// The aanbieder a scope names.
    pub fn aanbieder(&self, scope_name: &str) -> Option<&Aanbieder> {
        self.aanbieders.get(scope_name)
    }

    /// The aanbieder with this `Zorgaanbiedernaam`.
    pub fn aanbieder_by_naam(&self, naam: &str) -> Option<&Aanbieder> {
        self.aanbieders.values().find(|a| a.naam == naam)
    }

    /// The gegevensdiensten the client's OCL entry lists for the interface version.
    pub fn on_ocl(&self, client_id: &str, interface_version: &str) -> ScopeSet {
        self.ocl
            .as_deref()
            .and_then(|o| o.clients.get(client_id))
            .map(|c| wissel_medmij::policy::on_ocl(c, interface_version))
            .unwrap_or_default()
    }
}

/// Where random values come from: the server's secret generator, replaced in tests to force a
/// collision.
pub type SecretSource = Arc<dyn Fn() -> String + Send + Sync>;

/// A node's MedMij state.
pub struct Medmij {
    settings: MedmijSettings,
    lists: RwLock<Arc<Lists>>,
    chain: ChainLog,
    availability: Arc<dyn Availability>,
    secrets: SecretSource,
    fetch: reqwest::Client,
}

/// The kinds of value checked for uniqueness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuedKind {
    /// An authorization code.
    Code,
    /// An access token.
    AccessToken,
    /// A refresh token.
    RefreshToken,
}

impl IssuedKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::AccessToken => "access_token",
            Self::RefreshToken => "refresh_token",
        }
    }
}

/// Attempts at a fresh value before giving up (a collision of 256-bit values means the random
/// source is broken).
const UNIQUE_ATTEMPTS: usize = 8;

impl Medmij {
    /// The state for these settings; no list is in force until [`Medmij::refresh_lists`].
    /// `fetch` fetches lists from URLs (with the node's client certificate) and ships chain
    /// events.
    pub fn new(
        settings: MedmijSettings,
        availability: Arc<dyn Availability>,
        secrets: SecretSource,
        fetch: reqwest::Client,
    ) -> Self {
        let chain = ChainLog::spawn(settings.chain_log.clone(), fetch.clone());
        Self {
            settings,
            lists: RwLock::new(Arc::new(Lists::default())),
            chain,
            availability,
            secrets,
            fetch,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &MedmijSettings {
        &self.settings
    }

    /// The lists in force.
    pub fn lists(&self) -> Arc<Lists> {
        self.lists.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The chain log.
    pub fn chain(&self) -> &ChainLog {
        &self.chain
    }

    /// Which gegevensdiensten are available for a person.
    pub fn availability(&self) -> &dyn Availability {
        self.availability.as_ref()
    }

    /// The HTTP client for lists.
    pub(crate) fn fetch_client(&self) -> &reqwest::Client {
        &self.fetch
    }

    /// Installs lists: derives the clients and the aanbieders.
    pub(crate) fn install(&self, mut lists: Lists) {
        lists.clients = clients_of(&lists, &self.settings);
        lists.aanbieders = aanbieders_of(&lists, &self.settings);
        *self.lists.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(lists);
    }

    /// A fresh secret value that was never issued before (within the retention), reserved in the
    /// store's ledger: on a collision, another value is drawn.
    pub async fn unique_secret(
        &self,
        store: &dyn wissel_core::ports::Store,
        kind: IssuedKind,
        now: i64,
    ) -> Result<(String, Digest), InternalError> {
        for _ in 0..UNIQUE_ATTEMPTS {
            let value = (self.secrets)();
            if value.len() < 43 {
                return Err(InternalError::new("random source failed"));
            }
            let digest = wissel_crypto::secret::digest(value.as_bytes());
            let keep = now.saturating_add(self.settings.uniqueness_retention);
            if store.reserve_issued(&digest, kind.as_str(), keep).await? {
                return Ok((value, digest));
            }
            metrics::counter!("wissel_medmij_unique_collisions_total", "kind" => kind.as_str())
                .increment(1);
            tracing::warn!(target: "wissel::medmij", kind = kind.as_str(), "a new value was issued before; drawing another");
        }
        Err(InternalError::new(
            "no unique value after repeated draws: the random source is broken",
        ))
    }
}

/// A client for each OCL entry whose hostname is on the Whitelist: it authenticates with a
/// certificate for that hostname (`tls_client_auth`), and may use the code and refresh grants.
fn clients_of(lists: &Lists, settings: &MedmijSettings) -> HashMap<String, Arc<Client>> {
    let (Some(ocl), Some(wl)) = (&lists.ocl, &lists.whitelist) else {
        return HashMap::new();
    };
    ocl.clients
        .values()
        .filter(|c| wl.nodes.contains(&c.hostname))
        .map(|c| {
            let mut client = Client::new(
                c.hostname.clone(),
                c.organisatienaam.clone(),
                Credentials {
                    method: ClientAuthMethod::TlsClientAuth,
                    secret_sha256: None,
                    jwks: None,
                    jwks_uri: None,
                    assertion_alg: SigningAlg::ES256,
                    assertion_audience: Default::default(),
                    tls_client_auth_san_dns: Some(c.hostname.clone()),
                },
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            );
            client.profile = Profile::Medmij;
            client.pkce = PkceRule::Optional;
            client.oidc_scopes = ScopeSet::new();
            client.lifetimes = Lifetimes {
                code: settings.code_lifetime,
                access_token: settings.access_token_lifetime,
                id_token: settings.access_token_lifetime,
                refresh_absolute: settings.consent_max_days.saturating_mul(86_400),
                refresh_idle: settings.consent_max_days.saturating_mul(86_400),
                consent: settings.consent_max_days.saturating_mul(86_400),
            };
            (c.hostname.clone(), Arc::new(client))
        })
        .collect()
}

/// The aanbieders served: as configured, with the gegevensdiensten from the ZAL where none are
/// configured.
fn aanbieders_of(lists: &Lists, settings: &MedmijSettings) -> BTreeMap<String, Aanbieder> {
    settings
        .aanbieders
        .iter()
        .map(|a| {
            let gegevensdiensten = a.gegevensdiensten.clone().unwrap_or_else(|| {
                lists
                    .zal
                    .as_deref()
                    .and_then(|z| offered_on_zal(z, &a.naam, &settings.interface_version))
                    .unwrap_or_default()
            });
            let scope_name = a.naam.strip_suffix("@medmij").unwrap_or(&a.naam).to_owned();
            (
                scope_name.clone(),
                Aanbieder {
                    naam: a.naam.clone(),
                    display_name: a.display_name.clone().unwrap_or(scope_name),
                    gegevensdiensten,
                    api: a.api.clone(),
                },
            )
        })
        .collect()
}

/// A `MedMij-Request-ID` or `X-Correlation-ID`: a UUID in its hyphenated form.
pub fn parse_trace_id(value: Option<&str>) -> Option<String> {
    let v = value?;
    if v.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(v)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

/// How long a list has been published: now − `Tijdstempel`.
pub fn list_age(lists: &Lists, kind: ListKind, now: i64) -> Option<i64> {
    lists
        .header(kind)
        .map(|h| now.saturating_sub(h.published_at))
}
