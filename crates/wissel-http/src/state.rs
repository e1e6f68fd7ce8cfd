//! What a node keeps in memory, and how it stays in step with the store (DESIGN.md §5): the
//! registry snapshot and key ring are reloaded when the store's generation changes; the revoked
//! set follows the revocations table; verified tokens are cached by digest until they expire.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use wissel_core::InternalError;
use wissel_core::flows::exchange::UserAccess;
use wissel_core::model::{AccessToken, Digest, Registry, Revocation, RevocationKind, SigningAlg};
use wissel_core::ports::{AuditEvent, AuditSink, Clock, Store};
use wissel_crypto::keyring::KeyRing;
use wissel_crypto::keys::MasterKey;
use wissel_crypto::password::HashMemory;
use wissel_crypto::rotation::RotationPolicy;

/// Server settings the HTTP layer needs, already validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer URL, without a trailing slash; endpoints live under it.
    pub issuer: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest a request body may take to arrive once its handler reads it (`408` after it).
    pub body_timeout: Duration,
    /// The algorithm of newly created signing keys.
    pub signing_alg: SigningAlg,
    /// Additional algorithms, each with its own key set, that sign only ID tokens (for clients
    /// registered with them).
    pub id_token_algs: Vec<SigningAlg>,
    /// The key rotation schedule.
    pub rotation: RotationPolicy,
    /// How often a node checks the store for configuration changes and new revocations: the
    /// bound on how stale another node's view can be.
    pub sync_interval: Duration,
    /// How often keys are rotated when due and expired rows purged.
    pub maintenance_interval: Duration,
    /// Rows deleted per table per purge.
    pub purge_batch: i64,
    /// Most verified tokens kept in the introspection cache.
    pub token_cache_capacity: u64,
    /// How long a fetched client `jwks_uri` document is used before it is fetched again.
    pub jwks_uri_ttl: Duration,
    /// Serve the endpoints under ACM/IDM's `/op/v1/*` paths too (the acmidm profile).
    pub acmidm_path_aliases: bool,
    /// The listener asks for client certificates (`tls_client_auth`, RFC 8705).
    pub mutual_tls: bool,
    /// wissel terminates TLS itself (`server.tls`): every response carries
    /// `Strict-Transport-Security`. Never over plain HTTP (RFC 6797 §7.2).
    pub hsts: bool,
    /// Login, session and throttling rules.
    pub login: LoginSettings,
    /// The look of the pages.
    pub ui: UiSettings,
}

/// Login, session and throttling rules (all durations in seconds).
#[derive(Debug, Clone)]
pub struct LoginSettings {
    /// A session ends this long after the login, however active.
    pub session_max_age: i64,
    /// A session unused for this long ends.
    pub session_idle: i64,
    /// An authorization request must be completed (login, consent) within this.
    pub interaction_lifetime: i64,
    /// Failed logins per account within `failure_window` before the account is throttled.
    pub account_failures: i64,
    /// Failed logins per client address within `failure_window` before the address is throttled.
    pub address_failures: i64,
    /// The throttling window.
    pub failure_window: i64,
    /// Password checks one pending authorization request allows; then it is spent.
    pub interaction_failures: i64,
    /// Pending requests (login and consent pages not yet completed) one client address may
    /// start within `interaction_lifetime`: the bound on what an anonymous caller can store.
    pub pending_per_address: i64,
    /// Most password hashes computed at once (each takes a blocking thread and ~19 MiB).
    pub max_concurrent_hashes: usize,
    /// Most logins waiting for a hash beyond those; more are refused with 503 at once.
    pub max_queued_hashes: usize,
    /// Mark cookies `Secure`. Off only for an `http://` issuer on a loopback address.
    pub secure_cookies: bool,
    /// Serve the built-in relying party of `wissel demo` at `/demo/rp`.
    pub demo_rp: bool,
    /// Reverse proxies whose `X-Forwarded-For` names the client (for per-address throttling).
    pub trusted_proxies: Vec<crate::browser::IpNet>,
}

impl Default for LoginSettings {
    fn default() -> Self {
        Self {
            session_max_age: 2 * 3600,
            session_idle: 30 * 60,
            interaction_lifetime: 10 * 60,
            account_failures: 5,
            address_failures: 20,
            failure_window: 15 * 60,
            interaction_failures: 10,
            pending_per_address: 1000,
            max_concurrent_hashes: 4,
            max_queued_hashes: 32,
            secure_cookies: true,
            demo_rp: false,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The look of the pages: the operator's stylesheet and logo (read at start), and the language
/// used when neither `ui_locales` nor `Accept-Language` names one we have.
#[derive(Debug, Clone, Default)]
pub struct UiSettings {
    /// CSS served at `/static/theme.css`, loaded after the built-in stylesheet.
    pub stylesheet: Option<Arc<str>>,
    /// The logo: its bytes and content type, served at `/static/logo`.
    pub logo: Option<(Arc<[u8]>, &'static str)>,
    /// `nl` or `en`.
    pub default_locale: String,
    /// The product name shown in page titles.
    pub product_name: String,
}

impl Settings {
    /// The URL of an endpoint path under the issuer.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }
}

/// The set of revoked token ids and grant ids, each kept until the last token it covers expires.
/// Looked up by `&str` on every introspection, so without allocating.
#[derive(Default)]
struct RevokedSet {
    entries: RwLock<Revoked>,
    last_seq: AtomicI64,
}

#[derive(Default)]
struct Revoked {
    tokens: HashMap<String, i64>,
    grants: HashMap<String, i64>,
}

impl RevokedSet {
    fn insert(&self, r: &Revocation) {
        let mut e = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let map = match r.kind {
            RevocationKind::Token => &mut e.tokens,
            RevocationKind::Grant => &mut e.grants,
        };
        // A second revocation of the same id may cover longer-lived tokens: keep the later end.
        let end = map.entry(r.id.clone()).or_insert(r.expires_at);
        *end = (*end).max(r.expires_at);
    }
    fn contains(&self, token: &AccessToken) -> bool {
        let e = self.entries.read().unwrap_or_else(|p| p.into_inner());
        e.tokens.contains_key(token.jti.as_str())
            || e.grants.contains_key(token.grant_id.as_str())
            // A token from token exchange falls with every grant it derives from.
            || token
                .derivation
                .chain
                .iter()
                .any(|g| e.grants.contains_key(g.as_str()))
    }
    fn prune(&self, now: i64) {
        let mut e = self.entries.write().unwrap_or_else(|p| p.into_inner());
        e.tokens.retain(|_, exp| *exp > now);
        e.grants.retain(|_, exp| *exp > now);
    }
}

struct Inner {
    settings: Settings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    master: MasterKey,
    audit: Arc<dyn AuditSink>,
    /// The registry as the store holds it.
    base_registry: RwLock<Arc<Registry>>,
    /// The registry in use: the store's, with the MedMij clients of the OCL.
    registry: RwLock<Arc<Registry>>,
    medmij: Option<Arc<crate::medmij::Medmij>>,
    keys: RwLock<Arc<KeyRing>>,
    revoked: RevokedSet,
    token_cache: moka::sync::Cache<Digest, Arc<AccessToken>>,
    client_jwks: crate::fetch::ClientJwks,
    http: reqwest::Client,
    metrics: Option<PrometheusHandle>,
    /// Logins hashing or waiting to: `max_concurrent_hashes + max_queued_hashes` places.
    hash_queue: Arc<tokio::sync::Semaphore>,
    hash_slots: Arc<HashSlots>,
    dummy_hash: String,
    demo_pending: moka::sync::Cache<String, Arc<(String, String)>>,
    user_access: moka::sync::Cache<(String, String), Arc<UserAccess>>,
}

/// A place in the bounded password-hash queue ([`AppState::hash_slot`]).
pub struct HashSlot(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit);

/// How long a node trusts what it read about a user's access to an API (token exchange). A
/// change of authorizations bumps the store's generation, which empties the cache on every node
/// within `server.sync_interval_ms`; a disabled user's grants are revoked at once.
const USER_ACCESS_TTL: Duration = Duration::from_secs(10);

/// The bounded password-hash pool: as many slots as `login.max_concurrent_hashes`, each with its
/// own Argon2 working memory, allocated at the slot's first use and then reused, so that the
/// memory password hashing holds is bounded by the slot count times 19 MiB.
struct HashSlots {
    permits: Arc<tokio::sync::Semaphore>,
    memory: std::sync::Mutex<Vec<HashMemory>>,
}

impl HashSlots {
    fn new(slots: usize) -> Self {
        let slots = slots.max(1);
        Self {
            permits: Arc::new(tokio::sync::Semaphore::new(slots)),
            memory: std::sync::Mutex::new((0..slots).map(|_| HashMemory::new()).collect()),
        }
    }

    async fn acquire(slots: &Arc<Self>) -> Result<HashWorker, InternalError> {
        let permit = slots
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(InternalError::new)?;
        let memory = slots
            .memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        Ok(HashWorker {
            slots: slots.clone(),
            memory,
            _permit: permit,
        })
    }
}

/// A slot in use: its memory goes back to the pool, and its permit is released, when dropped.
struct HashWorker {
    slots: Arc<HashSlots>,
    memory: HashMemory,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl HashWorker {
    fn memory(&mut self) -> &mut HashMemory {
        &mut self.memory
    }
}

impl Drop for HashWorker {
    fn drop(&mut self) {
        let memory = std::mem::take(&mut self.memory);
        self.slots
            .memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(memory);
    }
}

/// The shared state of one node. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    /// Builds the state from the store: the registry, the key ring and every live revocation.
    /// With `medmij`, no list is in force until [`AppState::refresh_medmij_lists`] (start-up
    /// calls it).
    pub async fn new(
        settings: Settings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        master: MasterKey,
        audit: Arc<dyn AuditSink>,
        metrics: Option<PrometheusHandle>,
        medmij: Option<Arc<crate::medmij::Medmij>>,
    ) -> Result<Self, InternalError> {
        let registry = store.load_registry().await?;
        let keys = store.list_keys().await?;
        let ring = KeyRing::load_with(&keys, &master, clock.now(), &settings.id_token_algs)
            .map_err(InternalError::new)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(InternalError::new)?;
        let token_cache = moka::sync::Cache::builder()
            .max_capacity(settings.token_cache_capacity)
            .time_to_live(Duration::from_secs(300))
            .build();
        let client_jwks = crate::fetch::ClientJwks::new(http.clone(), settings.jwks_uri_ttl);
        // Verified against when the username is unknown, so that the answer takes as long.
        let dummy_hash = tokio::task::spawn_blocking(|| {
            wissel_crypto::password::hash_password("wissel: no such user")
        })
        .await
        .map_err(InternalError::new)?
        .map_err(InternalError::new)?;
        let hash_slots = Arc::new(HashSlots::new(settings.login.max_concurrent_hashes));
        let hash_queue = Arc::new(tokio::sync::Semaphore::new(
            settings
                .login
                .max_concurrent_hashes
                .max(1)
                .saturating_add(settings.login.max_queued_hashes),
        ));
        let demo_pending = moka::sync::Cache::builder()
            .max_capacity(10_000)
            .time_to_live(Duration::from_secs(600))
            .build();
        let state = Self(Arc::new(Inner {
            settings,
            store,
            clock,
            master,
            audit,
            base_registry: RwLock::new(Arc::new(registry.clone())),
            registry: RwLock::new(Arc::new(registry)),
            medmij,
            keys: RwLock::new(Arc::new(ring)),
            revoked: RevokedSet::default(),
            token_cache,
            client_jwks,
            http,
            metrics,
            hash_queue,
            hash_slots,
            dummy_hash,
            demo_pending,
            user_access: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(USER_ACCESS_TTL)
                .build(),
        }));
        state.poll_revocations().await?;
        Ok(state)
    }

    /// The MedMij profile's state, when it is configured.
    pub fn medmij(&self) -> Option<&Arc<crate::medmij::Medmij>> {
        self.0.medmij.as_ref()
    }

    /// Reads the MedMij lists again (the store's copies and the configured sources) and puts
    /// the clients they define in the registry.
    pub async fn refresh_medmij_lists(
        &self,
    ) -> Result<Vec<(wissel_medmij::ListKind, crate::medmij::lists::Refreshed)>, InternalError>
    {
        let Some(m) = self.medmij() else {
            return Ok(Vec::new());
        };
        let report = m.refresh_lists(self).await?;
        // Holding the store's registry while merging, so that a reload cannot slip in between.
        let base = self
            .0
            .base_registry
            .read()
            .unwrap_or_else(|p| p.into_inner());
        *self.0.registry.write().unwrap_or_else(|p| p.into_inner()) = self.merged(&base);
        Ok(report)
    }

    /// The registry in use for the store's `base`: with the MedMij clients of the lists in force.
    fn merged(&self, base: &Arc<Registry>) -> Arc<Registry> {
        match self.medmij() {
            Some(m) => Arc::new(base.with_extra_clients(m.lists().clients.values())),
            None => base.clone(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }
    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.0.store.as_ref()
    }
    /// The clock.
    pub fn now(&self) -> i64 {
        self.0.clock.now()
    }
    /// The master key.
    pub fn master(&self) -> &MasterKey {
        &self.0.master
    }
    /// The current registry snapshot.
    pub fn registry(&self) -> Arc<Registry> {
        self.0
            .registry
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    /// The current key ring.
    pub fn keys(&self) -> Arc<KeyRing> {
        self.0
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    /// The Prometheus handle, when metrics are on.
    pub fn metrics(&self) -> Option<&PrometheusHandle> {
        self.0.metrics.as_ref()
    }
    /// The HTTP client for outbound requests (a 5 s timeout, no redirects).
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.0.http
    }
    /// Clients' JWK Sets fetched from their `jwks_uri`.
    pub(crate) fn client_jwks(&self) -> &crate::fetch::ClientJwks {
        &self.0.client_jwks
    }
    /// Verified tokens by digest.
    pub(crate) fn token_cache(&self) -> &moka::sync::Cache<Digest, Arc<AccessToken>> {
        &self.0.token_cache
    }
    /// Records an audit event.
    pub fn audit(&self, event: &AuditEvent) {
        self.0.audit.record(event);
    }

    /// A place in the password-hash queue, or `None` when `max_concurrent_hashes` are running
    /// and `max_queued_hashes` are waiting: the caller refuses the login at once (counted in
    /// `wissel_login_refused_total{reason="hash_queue_full"}`) instead of queueing without limit.
    pub fn hash_slot(&self) -> Option<HashSlot> {
        match self.0.hash_queue.clone().try_acquire_owned() {
            Ok(p) => Some(HashSlot(p)),
            Err(_) => {
                metrics::counter!("wissel_login_refused_total", "reason" => "hash_queue_full")
                    .increment(1);
                tracing::warn!("password-hash queue full: a login is refused with 503");
                None
            }
        }
    }

    /// Checks a password against a digest (or, when `hash` is `None`, against a dummy digest so
    /// that unknown users take as long) on a blocking thread, at most
    /// `login.max_concurrent_hashes` at once, each in its slot's reused Argon2 memory; `slot` is
    /// the caller's place in the bounded queue ([`AppState::hash_slot`]). Both are held by the
    /// blocking task until the hash is done, so a caller that goes away frees nothing early.
    /// Returns whether it matched and, if it did and the digest's parameters are outdated, a
    /// fresh digest to store.
    pub async fn check_password(
        &self,
        slot: HashSlot,
        password: String,
        hash: Option<String>,
    ) -> Result<(bool, Option<String>), InternalError> {
        let place = slot;
        let worker = HashSlots::acquire(&self.0.hash_slots).await?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.0.dummy_hash.clone());
        tokio::task::spawn_blocking(move || {
            use wissel_crypto::password;
            let _place = place;
            let mut worker = worker;
            let memory = worker.memory();
            let ok = password::verify_password_with(&password, &hash, memory) && known;
            let fresh = if ok && password::needs_rehash(&hash) {
                password::hash_password_with(&password, memory).ok()
            } else {
                None
            };
            (ok, fresh)
        })
        .await
        .map_err(InternalError::new)
    }

    /// The user a token names and their scopes for an API, through a short-lived cache (the
    /// token-exchange hot path reads the store only on a miss).
    pub async fn user_access(
        &self,
        subject: &str,
        api: &str,
    ) -> Result<Arc<UserAccess>, InternalError> {
        let key = (subject.to_owned(), api.to_owned());
        if let Some(hit) = self.0.user_access.get(&key) {
            return Ok(hit);
        }
        let user = self
            .0
            .store
            .user_by_subject(subject)
            .await?
            .filter(|u| !u.disabled);
        let authorized = match &user {
            Some(u) => {
                self.0
                    .store
                    .authorized_scopes(&u.username, &u.groups, api)
                    .await?
            }
            None => None,
        };
        let access = Arc::new(UserAccess {
            user: user.map(Arc::new),
            authorized,
        });
        self.0.user_access.insert(key, access.clone());
        Ok(access)
    }

    /// Pending logins of the demo relying party: state → (PKCE verifier, nonce).
    pub(crate) fn demo_pending(&self) -> &moka::sync::Cache<String, Arc<(String, String)>> {
        &self.0.demo_pending
    }

    /// Revokes a grant everywhere: in the store (its codes and refresh tokens go, and the
    /// revocation is recorded for the other nodes) and in this node's revoked set at once.
    /// `lifetime` bounds how long its access tokens can still be alive.
    pub async fn revoke_grant(&self, grant_id: &str, lifetime: i64) -> Result<bool, InternalError> {
        let r = Revocation {
            kind: RevocationKind::Grant,
            id: grant_id.to_owned(),
            expires_at: self.now().saturating_add(lifetime),
        };
        let fresh = self.0.store.revoke_grant(&r, self.now()).await?;
        self.0.revoked.insert(&r);
        Ok(fresh)
    }

    /// Revokes a grant of `client_id`, remembering the revocation as long as that client's access
    /// tokens can live (a day, the configured maximum, for a client that is gone).
    pub async fn revoke_client_grant(
        &self,
        grant_id: &str,
        client_id: &str,
    ) -> Result<bool, InternalError> {
        let registry = self.registry();
        let lifetime = registry.client(client_id).map_or(86_400, |c| {
            wissel_core::flows::code::longest_access_lifetime(&registry, c)
        });
        self.revoke_grant(grant_id, lifetime).await
    }

    /// True when the token, its grant or a grant it derives from has been revoked.
    pub fn is_revoked(&self, token: &AccessToken) -> bool {
        self.0.revoked.contains(token)
    }

    /// Records a revocation in the store and in this node's set at once.
    pub async fn revoke(
        &self,
        r: &Revocation,
        opaque: Option<&Digest>,
    ) -> Result<(), InternalError> {
        self.0.store.revoke(r, opaque, self.now()).await?;
        self.0.revoked.insert(r);
        Ok(())
    }

    /// Reloads the registry and key ring when the store's generation has moved.
    pub async fn sync_config(&self) -> Result<bool, InternalError> {
        let generation = self.0.store.generation().await?;
        if generation == self.registry().generation {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }

    /// Reloads the registry and key ring unconditionally.
    pub async fn reload(&self) -> Result<(), InternalError> {
        let registry = self.0.store.load_registry().await?;
        let keys = self.0.store.list_keys().await?;
        let ring = KeyRing::load_with(
            &keys,
            &self.0.master,
            self.now(),
            &self.0.settings.id_token_algs,
        )
        .map_err(InternalError::new)?;
        // Two reloads can overlap (the sync tick and the maintenance tick, or a caller): never
        // let the one that read earlier replace what the later one installed.
        let mut base = self
            .0
            .base_registry
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if registry.generation < base.generation {
            return Ok(());
        }
        let old = std::mem::replace(
            &mut *self.0.keys.write().unwrap_or_else(|p| p.into_inner()),
            Arc::new(ring),
        );
        *base = Arc::new(registry);
        *self.0.registry.write().unwrap_or_else(|p| p.into_inner()) = self.merged(&base);
        drop(base);
        // A cached token was verified with a key that may have left the ring (its publication
        // ended, or it was removed because it leaked): the cache must not outlive the key.
        let ring = self.keys();
        if old.kids().any(|kid| !ring.has_kid(kid)) {
            self.0.token_cache.invalidate_all();
        }
        // Authorizations and users change with the generation too.
        self.0.user_access.invalidate_all();
        Ok(())
    }

    /// Purges expired rows until none is left: batches of `purge_batch` rows per table, each
    /// its own short statement (no long lock), repeated while a batch came back full, for at
    /// most half the maintenance interval (and 10 s). Returns how many rows went.
    pub async fn purge_expired(&self) -> Result<u64, InternalError> {
        let s = &self.0.settings;
        let budget = (s.maintenance_interval / 2).min(Duration::from_secs(10));
        let started = tokio::time::Instant::now();
        let batch = s.purge_batch.max(1);
        let mut total = 0;
        loop {
            let n = self.0.store.purge_expired(self.now(), batch).await?;
            total += n;
            // Fewer rows than one batch over every table: no table had a full batch left.
            if n < batch.unsigned_abs() {
                return Ok(total);
            }
            if started.elapsed() >= budget {
                tracing::warn!(
                    rows = total,
                    "purge stopped at its time budget; expired rows remain for the next round"
                );
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }

    /// Adds revocations recorded by any node since the last poll.
    pub async fn poll_revocations(&self) -> Result<(), InternalError> {
        // Re-reading the last few seconds covers transactions that took a sequence number
        // early and committed late; inserting twice is harmless.
        let since = self.now().saturating_sub(5);
        let after = self.0.revoked.last_seq.load(Ordering::Acquire);
        let rows = self.0.store.revocations_since(after, since).await?;
        let mut max = after;
        for (seq, r) in rows {
            self.0.revoked.insert(&r);
            max = max.max(seq);
        }
        self.0.revoked.last_seq.store(max, Ordering::Release);
        self.0.revoked.prune(self.now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wissel_core::model::TokenFormat;
    use wissel_core::scope::ScopeSet;

    fn token(jti: &str, grant: &str) -> AccessToken {
        AccessToken {
            jti: jti.into(),
            grant_id: grant.into(),
            client_id: "c".into(),
            subject: "c".into(),
            api: "a".into(),
            scope: ScopeSet::new(),
            issued_at: 0,
            expires_at: 100,
            format: TokenFormat::Jwt,
            derivation: Default::default(),
        }
    }

    #[test]
    fn revoked_set_covers_tokens_and_whole_grants_until_they_expire() {
        let set = RevokedSet::default();
        set.insert(&Revocation {
            kind: RevocationKind::Token,
            id: "j1".into(),
            expires_at: 50,
        });
        set.insert(&Revocation {
            kind: RevocationKind::Grant,
            id: "g2".into(),
            expires_at: 100,
        });
        assert!(set.contains(&token("j1", "g1")));
        assert!(
            set.contains(&token("j9", "g2")),
            "every token of a revoked grant"
        );
        assert!(!set.contains(&token("j2", "g1")));
        assert!(
            !set.contains(&token("g2", "j1")),
            "ids of one kind never match the other"
        );
        set.prune(50);
        assert!(
            !set.contains(&token("j1", "g1")),
            "pruned once its tokens have expired"
        );
        assert!(set.contains(&token("j9", "g2")));
    }
}
