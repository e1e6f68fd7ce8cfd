//! The seams between the domain and the world: storage, time and audit. The store crate and
//! the HTTP crate implement them; tests implement them with fakes.

use async_trait::async_trait;

use crate::InternalError;
use crate::grant::{
    AttemptBudget, CodeOutcome, CodeRecord, Consent, FailureCount, Grant, Interaction,
    MedmijConsent, RefreshRecord, Reservation, RotateOutcome, Session, StoredList,
};
use crate::model::{
    AccessToken, ApplyReport, Authorization, Client, Digest, Grantee, KeyState, Link, Provisioning,
    Registry, Revocation, SigningKeyRecord, User,
};

/// The current time in Unix seconds. The only way the logic learns the time, so tests can set it.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the wall clock
    fn now(&self) -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(_) => 0,
        }
    }
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, InternalError>;

/// Configuration entities: clients, APIs, links, users, authorizations.
#[async_trait]
pub trait RegistryStore: Send + Sync {
    /// Loads clients, APIs and links with the current generation.
    async fn load_registry(&self) -> StoreResult<Registry>;
    /// The configuration generation: bumped by every change to clients, APIs, links or keys, so
    /// that every node knows when to reload its snapshot.
    async fn generation(&self) -> StoreResult<i64>;
    /// Creates or updates everything declared, in one transaction; touches nothing undeclared.
    async fn apply(&self, plan: &Provisioning, now: i64) -> StoreResult<ApplyReport>;
    /// Creates a client; `false` when the id is taken by a client or an API.
    async fn create_client(&self, client: &Client, now: i64) -> StoreResult<bool>;
    /// A user by username.
    async fn find_user(&self, username: &str) -> StoreResult<Option<User>>;
    /// Creates or replaces the link from `link.client` to `link.api`, whole. Nothing is written
    /// when the client or the API does not exist ([`PutOutcome::Missing`]); the generation is
    /// bumped, in the same transaction, only when something changed.
    async fn put_link(&self, link: &Link, now: i64) -> StoreResult<PutOutcome>;
    /// Removes a link; `false` when there was none. Bumps the generation when it removed one.
    async fn delete_link(&self, client: &str, api: &str, now: i64) -> StoreResult<bool>;
    /// Creates or replaces the scopes a user or group holds for an API. Nothing is written when
    /// the API, or the user of a [`Grantee::User`], does not exist; the generation is bumped
    /// (every node drops what it cached about users' access) only when something changed.
    async fn put_authorization(
        &self,
        authorization: &Authorization,
        now: i64,
    ) -> StoreResult<PutOutcome>;
    /// Removes what a user or group holds for an API; `false` when it held nothing. Bumps the
    /// generation when it removed something.
    async fn delete_authorization(
        &self,
        grantee: &Grantee,
        api: &str,
        now: i64,
    ) -> StoreResult<bool>;
    /// Every authorization, or those for one API, ordered by API, then users before groups, then
    /// name.
    async fn list_authorizations(&self, api: Option<&str>) -> StoreResult<Vec<Authorization>>;
}

/// What [`RegistryStore::put_link`] and [`RegistryStore::put_authorization`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// It did not exist and was created.
    Created,
    /// It existed in another form and was replaced.
    Replaced,
    /// It existed in exactly this form: nothing was written.
    Unchanged,
    /// Nothing was written: what it names does not exist.
    Missing(Missing),
}

/// The entity a put named that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The client.
    Client,
    /// The API.
    Api,
    /// The user.
    User,
}

/// Tokens and the single-use and revocation records.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores an opaque access token by the digest of its value.
    async fn insert_access_token(&self, digest: &Digest, token: &AccessToken) -> StoreResult<()>;
    /// An opaque access token by digest, with whether it has been revoked.
    async fn find_access_token(&self, digest: &Digest) -> StoreResult<Option<(AccessToken, bool)>>;
    /// Records a revocation (idempotent); when `opaque` is given that stored token is marked too.
    async fn revoke(
        &self,
        revocation: &Revocation,
        opaque: Option<&Digest>,
        now: i64,
    ) -> StoreResult<()>;
    /// Revocations with a sequence number above `after_seq`, or recorded at or after
    /// `recorded_since` (the overlap covers transactions that committed out of order).
    async fn revocations_since(
        &self,
        after_seq: i64,
        recorded_since: i64,
    ) -> StoreResult<Vec<(i64, Revocation)>>;
    /// Records a client-assertion `jti`; `false` when this issuer already used it (a replay).
    async fn record_jti(&self, issuer: &str, jti: &str, expires_at: i64) -> StoreResult<bool>;
    /// Deletes up to `batch` expired rows of each kind; returns how many went.
    async fn purge_expired(&self, now: i64, batch: i64) -> StoreResult<u64>;
}

/// Signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every stored key.
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Adds a key and bumps the generation. `false` (and nothing written) when the key is a
    /// `next` key and another `next` key exists: another node got there first.
    async fn insert_key(&self, key: &SigningKeyRecord) -> StoreResult<bool>;
    /// Moves a key from one state to another, only if it is still in `from` (so that two nodes
    /// rotating at once cannot both succeed); bumps the generation. `false` when it was not.
    async fn transition_key(
        &self,
        kid: &str,
        from: KeyState,
        to: KeyState,
        at: i64,
        publish_until: Option<i64>,
    ) -> StoreResult<bool>;
}

/// Users, sessions, consents, grants, codes and refresh tokens: the state of the browser flows.
/// Every method that must be atomic is one conditional statement or one transaction.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// A user by subject.
    async fn user_by_subject(&self, subject: &str) -> StoreResult<Option<User>>;
    /// Creates a user; `false` (nothing written) when the username or subject is taken.
    async fn create_user(&self, user: &User, now: i64) -> StoreResult<bool>;
    /// Replaces a user's stored form (by subject); `false` when there is no such user.
    async fn update_user(&self, user: &User, now: i64) -> StoreResult<bool>;
    /// Replaces the password digest only if it is still `old` (a rehash racing a password
    /// change must not undo the change); `true` when replaced.
    async fn rehash_password(&self, subject: &str, old: &str, new: &str) -> StoreResult<bool>;
    /// The scopes a user holds for an API, through their own and their groups' authorizations
    /// (the union); `None` when no authorization names the user or a group of theirs for it.
    async fn authorized_scopes(
        &self,
        username: &str,
        groups: &[String],
        api: &str,
    ) -> StoreResult<Option<crate::scope::ScopeSet>>;

    /// Stores a pending authorization request.
    async fn put_interaction(&self, interaction: &Interaction) -> StoreResult<()>;
    /// A pending authorization request, unless expired.
    async fn get_interaction(&self, id: &str, now: i64) -> StoreResult<Option<Interaction>>;
    /// Removes a pending request; `true` only for the one caller that removed it (so a request
    /// completes once).
    async fn take_interaction(&self, id: &str) -> StoreResult<bool>;

    /// Stores a new session.
    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    /// A session by the digest of its cookie, unless past its absolute end.
    async fn get_session(&self, digest: &Digest, now: i64) -> StoreResult<Option<Session>>;
    /// Records use of a session.
    async fn touch_session(&self, digest: &Digest, now: i64) -> StoreResult<()>;
    /// Ends a session (by cookie digest); returns it when it existed.
    async fn end_session(&self, digest: &Digest) -> StoreResult<Option<Session>>;
    /// Ends a session of this user by its public id; `true` when it existed.
    async fn end_session_by_sid(&self, subject: &str, sid: &str) -> StoreResult<bool>;
    /// The live sessions of a user, newest first.
    async fn sessions_of(&self, subject: &str, now: i64) -> StoreResult<Vec<Session>>;

    /// The user's remembered consent for a client and an API (`None`: a request that named no
    /// API), unless expired. Consent to a scope of one API never covers another API's.
    async fn get_consent(
        &self,
        subject: &str,
        client_id: &str,
        api: Option<&str>,
        now: i64,
    ) -> StoreResult<Option<Consent>>;
    /// Remembers (replaces) a consent, keyed by user, client and API.
    async fn put_consent(&self, consent: &Consent) -> StoreResult<()>;
    /// The user's live consents.
    async fn consents_of(&self, subject: &str, now: i64) -> StoreResult<Vec<Consent>>;
    /// Forgets a consent; `true` when it existed. The caller revokes its grants.
    async fn delete_consent(
        &self,
        subject: &str,
        client_id: &str,
        api: Option<&str>,
    ) -> StoreResult<bool>;

    /// Stores a grant and the digest of its first authorization code, in one transaction.
    async fn issue_code(
        &self,
        grant: &Grant,
        code: &Digest,
        record: &CodeRecord,
    ) -> StoreResult<()>;
    /// Spends a code: the first presentation gets its record (whatever happens next); later
    /// ones learn it was a replay. One conditional statement.
    async fn consume_code(&self, code: &Digest, now: i64) -> StoreResult<CodeOutcome>;
    /// A grant by id.
    async fn get_grant(&self, id: &str) -> StoreResult<Option<Grant>>;
    /// The ids of the live (unrevoked, unexpired) grants of a user, optionally for one client
    /// only, optionally only those of one session that did not get `offline_access`.
    async fn live_grants(
        &self,
        subject: &str,
        client_id: Option<&str>,
        online_in_sid: Option<&str>,
        now: i64,
    ) -> StoreResult<Vec<Grant>>;
    /// Up to `limit` live (unrevoked, unexpired) grants of every user, in id order, after the
    /// id `after` (`""` for the first page): how the policy sweep walks them in bounded pages.
    async fn live_grants_after(&self, after: &str, limit: i64, now: i64)
    -> StoreResult<Vec<Grant>>;
    /// Revokes a grant in one transaction: marks it, deletes its codes and refresh tokens, and
    /// records `revocation` (kind `grant`) so that every node drops its access tokens. `false`
    /// when it was already revoked or does not exist (the revocation is recorded anyway).
    async fn revoke_grant(&self, revocation: &Revocation, now: i64) -> StoreResult<bool>;

    /// Stores a refresh token by digest.
    async fn insert_refresh(&self, digest: &Digest, record: &RefreshRecord) -> StoreResult<()>;
    /// A refresh token by digest, with whether it has been rotated already.
    async fn find_refresh(&self, digest: &Digest) -> StoreResult<Option<(RefreshRecord, bool)>>;
    /// Rotates: marks `old` spent only if it was not (one conditional statement) and stores
    /// `new`, in one transaction.
    async fn rotate_refresh(
        &self,
        old: &Digest,
        new: &Digest,
        record: &RefreshRecord,
        now: i64,
    ) -> StoreResult<RotateOutcome>;

    /// Failed logins counted under each key, for windows that started at or after `since`.
    async fn login_failures(&self, keys: &[String], since: i64) -> StoreResult<Vec<FailureCount>>;
    /// Reserves one attempt against every budget, atomically and before the attempt is made
    /// (so that parallel attempts cannot all pass a check that reads "below the limit"): each
    /// key's count goes up by one only if it is below its limit, in one conditional statement per
    /// key, all in one transaction; when one budget is spent nothing is counted. A window that
    /// started before `since` starts again at `now`.
    async fn reserve_attempts(
        &self,
        budgets: &[AttemptBudget],
        since: i64,
        now: i64,
    ) -> StoreResult<Reservation>;
    /// Gives one reserved attempt back under each key (the attempt was not a failure).
    async fn release_attempts(&self, keys: &[String]) -> StoreResult<()>;
    /// Forgets the failures counted under a key (after a successful login).
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()>;
}

/// The MedMij profile's state: the last valid copy of each central list, the persons'
/// long-lasting consents, and the ledger that keeps every issued code and token unique.
#[async_trait]
pub trait MedmijStore: Send + Sync {
    /// The stored copy of a list (`ocl`, `whitelist`, `gnl`, `zal`).
    async fn medmij_list(&self, kind: &str) -> StoreResult<Option<StoredList>>;
    /// Stores a list as the last valid copy, unless the stored one has a higher `Volgnummer`
    /// (one conditional statement); `false` when refused.
    async fn put_medmij_list(&self, list: &StoredList) -> StoreResult<bool>;
    /// Records the digest of a value about to be issued; `false` (nothing written) when that
    /// value was issued before: the caller draws another.
    async fn reserve_issued(
        &self,
        digest: &Digest,
        kind: &str,
        keep_until: i64,
    ) -> StoreResult<bool>;
    /// Stores a new long-lasting consent.
    async fn put_medmij_consent(&self, consent: &MedmijConsent) -> StoreResult<()>;
    /// A person's live (unended, unexpired) consents, newest first.
    async fn medmij_consents_of(&self, subject: &str, now: i64) -> StoreResult<Vec<MedmijConsent>>;
    /// Ends a live consent of this person; returns it when it was live. The caller revokes its
    /// grant.
    async fn end_medmij_consent(
        &self,
        subject: &str,
        id: &str,
        now: i64,
    ) -> StoreResult<Option<MedmijConsent>>;
}

/// The whole store.
#[async_trait]
pub trait Store: RegistryStore + TokenStore + KeyStore + GrantStore + MedmijStore {
    /// Checks the database answers.
    async fn ping(&self) -> StoreResult<()>;
}

/// An audit event (DESIGN.md §3): what happened, to whom, with what outcome. Never a secret or
/// a token value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// `token_issued`, `token_introspected`, `token_revoked`.
    pub kind: &'static str,
    /// `success` or an error code.
    pub outcome: String,
    /// The client or API that called.
    pub actor: Option<String>,
    /// The client the token belongs to.
    pub client: Option<String>,
    /// The API the token is for.
    pub api: Option<String>,
    /// The token subject.
    pub subject: Option<String>,
    /// The grant id.
    pub grant: Option<String>,
    /// The token id.
    pub jti: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
}

impl AuditEvent {
    /// An event about `token`, caused by `actor`.
    pub fn about(
        kind: &'static str,
        outcome: &str,
        actor: &str,
        token: Option<&crate::model::AccessToken>,
        request_id: &str,
    ) -> Self {
        Self {
            kind,
            outcome: outcome.to_owned(),
            actor: Some(actor.to_owned()),
            client: token.map(|t| t.client_id.clone()),
            api: token.map(|t| t.api.clone()),
            subject: token.map(|t| t.subject.clone()),
            grant: token.map(|t| t.grant_id.clone()),
            jti: token.map(|t| t.jti.clone()),
            request_id: Some(request_id.to_owned()),
        }
    }
}

/// Where audit events go.
pub trait AuditSink: Send + Sync {
    /// Records one event.
    fn record(&self, event: &AuditEvent);
}
