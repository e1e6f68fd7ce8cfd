//! Storage for wissel: the `wissel_core::ports` store traits over SQLite (embedded, the default)
//! and PostgreSQL (several nodes). The SQL is written once with `$n` placeholders and
//! instantiated for both drivers by [`sql`]; only the schema differs per backend.
//!
//! Every invariant that must hold across nodes is one conditional statement: `record_jti` is an
//! insert guarded by the primary key, key transitions update only from the expected state, an
//! authorization code is spent and a refresh token rotated by an update that only finds it unspent.

mod migrations;
mod sql;
mod token_writer;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use wissel_core::InternalError;
use wissel_core::grant::{
    AttemptBudget, CodeOutcome, CodeRecord, Consent, FailureCount, Grant, Interaction,
    MedmijConsent, RefreshRecord, Reservation, RotateOutcome, Session, StoredList,
};
use wissel_core::model::{
    AccessToken, ApplyReport, Authorization, Client, Digest, Grantee, KeyState, Link, Provisioning,
    Registry, Revocation, SigningKeyRecord, User,
};
use wissel_core::ports::{
    GrantStore, KeyStore, MedmijStore, PutOutcome, RegistryStore, Store, StoreResult, TokenStore,
};
use wissel_core::scope::ScopeSet;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// `sqlite://path` or `sqlite::memory:`.
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

impl BackendKind {
    /// The backend of a storage URL, or `None` for an unsupported scheme.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

enum Backend {
    /// One writer connection, so writes never fight over SQLite's lock, and a pool of readers
    /// that WAL mode lets run beside it: lookups never queue behind writes.
    /// Opaque-token inserts go through the group-commit writer.
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
        tokens: token_writer::TokenWriter,
    },
    Postgres(PgPool),
}

/// When a SQLite commit returns (`PRAGMA synchronous` of the writer, in WAL mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteDurability {
    /// `FULL`: the WAL is synced to the disk at every commit, so what was acknowledged survives
    /// a crash of the process, of the operating system and a power loss. One fsync per commit;
    /// opaque tokens share theirs through group commit.
    #[default]
    Full,
    /// `NORMAL`: the WAL is synced only at checkpoints. What was acknowledged survives a crash
    /// of the process (`kill -9`), but an operating-system crash or a power loss can take back
    /// the commits since the last checkpoint (about a second). The database stays consistent.
    Normal,
}

/// The store: SQLite or PostgreSQL behind the same traits.
pub struct SqlStore {
    backend: Backend,
    limits: StoreLimits,
}

/// What a store failure is: whether the database was unavailable (down, hung, overloaded, over
/// a deadline) or something else went wrong.
trait Failure: std::fmt::Display {
    fn unavailable(&self) -> bool {
        false
    }
}

impl Failure for sqlx::Error {
    fn unavailable(&self) -> bool {
        is_unavailable(self)
    }
}
impl Failure for sqlx::migrate::MigrateError {
    fn unavailable(&self) -> bool {
        match self {
            sqlx::migrate::MigrateError::Execute(e)
            | sqlx::migrate::MigrateError::ExecuteMigration(e, _) => is_unavailable(e),
            _ => false,
        }
    }
}
impl Failure for serde_json::Error {}

/// True when `e` says the database could not be reached or did not answer in time, rather than
/// that it refused what was asked: the pool's acquire timeout, a closed pool, an I/O or TLS
/// failure (connection refused, reset, closed), PostgreSQL's connection exceptions (`08…`),
/// insufficient resources (`53…`, e.g. too many connections), operator intervention (`57…`:
/// `statement_timeout` (57014), shutdown, cannot connect now), `lock_timeout` (55P03) and a
/// system I/O error (58030); SQLite's busy or locked past `busy_timeout`.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => {
            if let Some(pg) = d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                let code = pg.code();
                ["08", "53", "57"]
                    .iter()
                    .any(|class| code.starts_with(class))
                    || code == "55P03"
                    || code == "58030"
            } else if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // The primary result code is the low byte of the extended one.
                d.code()
                    .and_then(|c| c.parse::<i64>().ok())
                    .is_some_and(|c| matches!(c & 0xff, 5 | 6))
            } else {
                false
            }
        }
        _ => false,
    }
}

fn internal(e: impl Failure) -> InternalError {
    if e.unavailable() {
        InternalError::unavailable(format!("database unavailable: {e}"))
    } else {
        InternalError::new(format!("database: {e}"))
    }
}

/// The deadlines of every store call: how a down, hung or overloaded database stays bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Longest wait for a connection from the pool (connecting included); past it the call
    /// fails as unavailable.
    pub acquire_timeout: Duration,
    /// Longest run of one statement: PostgreSQL's `statement_timeout` (and
    /// `idle_in_transaction_session_timeout`), SQLite's `busy_timeout`.
    pub statement_timeout: Duration,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            acquire_timeout: Duration::from_millis(1500),
            statement_timeout: Duration::from_millis(5000),
        }
    }
}

impl StoreLimits {
    /// The deadline of one whole store call, kept on our side of the connection: a database
    /// that stopped answering (a frozen process, a lost network) never answers a
    /// `statement_timeout`, so the call itself is cut off at acquire + statement time.
    pub fn call_deadline(&self) -> Duration {
        self.acquire_timeout + self.statement_timeout
    }
}

/// Runs one store call within `limit`; past it, the call is dropped (a transaction in it rolls
/// back) and it fails as unavailable.
async fn within<T>(
    limit: Duration,
    call: impl std::future::Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    match tokio::time::timeout(limit, call).await {
        Ok(r) => r,
        Err(_) => Err(InternalError::unavailable(format!(
            "database unavailable: no answer within {} ms",
            limit.as_millis()
        ))),
    }
}

impl SqlStore {
    /// Connects to `url` (creating a SQLite file when missing) with the default
    /// [`StoreLimits`] and SQLite commits that are on disk when they return
    /// ([`SqliteDurability::Full`]). Does not migrate.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, StoreLimits::default(), SqliteDurability::Full).await
    }

    /// Connects to `url` (creating a SQLite file when missing) with these deadlines;
    /// `durability` is when a SQLite commit returns (PostgreSQL follows its server's
    /// `synchronous_commit`). Does not migrate. A PostgreSQL server that cannot be reached fails
    /// this call too.
    pub async fn connect_with(
        url: &str,
        limits: StoreLimits,
        durability: SqliteDurability,
    ) -> StoreResult<Self> {
        let synchronous = match durability {
            SqliteDurability::Full => SqliteSynchronous::Full,
            SqliteDurability::Normal => SqliteSynchronous::Normal,
        };
        let backend = match BackendKind::of_url(url) {
            Some(BackendKind::Sqlite) => {
                let opts = SqliteConnectOptions::from_str(url)
                    .map_err(internal)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(synchronous)
                    .busy_timeout(limits.statement_timeout)
                    .foreign_keys(true);
                // The writer never checkpoints itself: a checkpoint's fsync would stall every
                // write queued behind it. A separate connection checkpoints in the background.
                let writer = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(limits.acquire_timeout)
                    .connect_with(
                        opts.clone()
                            .pragma("wal_autocheckpoint", "0")
                            .pragma("cache_size", "-65536"),
                    )
                    .await
                    .map_err(internal)?;
                let reader = SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(limits.acquire_timeout)
                    .connect_with(opts.clone().read_only(true))
                    .await
                    .map_err(internal)?;
                let checkpointer = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(opts)
                    .await
                    .map_err(internal)?;
                tokio::spawn(checkpoint_wal(checkpointer, writer.clone()));
                let tokens = token_writer::TokenWriter::spawn(writer.clone());
                Backend::Sqlite {
                    writer,
                    reader,
                    tokens,
                }
            }
            Some(BackendKind::Postgres) => {
                // The server ends a statement, a lock wait or an idle transaction of ours that
                // runs past the deadline; a server that stops answering altogether is covered
                // by the deadline of each call (`within`).
                let ms = limits.statement_timeout.as_millis().to_string();
                let opts = PgConnectOptions::from_str(url).map_err(internal)?.options([
                    ("statement_timeout", ms.as_str()),
                    ("lock_timeout", ms.as_str()),
                    ("idle_in_transaction_session_timeout", ms.as_str()),
                ]);
                Backend::Postgres(
                    PgPoolOptions::new()
                        .max_connections(16)
                        .acquire_timeout(limits.acquire_timeout)
                        .connect_with(opts)
                        .await
                        .map_err(internal)?,
                )
            }
            None => {
                return Err(InternalError::new(
                    "storage url must start with sqlite: or postgres://",
                ));
            }
        };
        Ok(Self { backend, limits })
    }

    /// The deadlines this store keeps.
    pub fn limits(&self) -> StoreLimits {
        self.limits
    }

    /// Runs the pending migrations of this backend.
    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.backend {
            Backend::Sqlite { writer, .. } => {
                migrations::sqlite().run(writer).await.map_err(internal)
            }
            Backend::Postgres(pool) => migrations::postgres().run(pool).await.map_err(internal),
        }
    }

    /// Which backend this is.
    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite { .. } => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Closes the pools.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { writer, reader, .. } => {
                reader.close().await;
                writer.close().await;
            }
            Backend::Postgres(p) => p.close().await,
        }
    }
}

/// WAL frames (pages) past which the checkpointer waits for readers.
const MAX_WAL_FRAMES: i64 = 16 * 1024;

/// Checkpoints the SQLite WAL every second from its own connection (PASSIVE: it never blocks
/// the writer or readers), and stops when the store is closed.
async fn checkpoint_wal(pool: SqlitePool, writer: SqlitePool) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if writer.is_closed() {
            pool.close().await;
            return;
        }
        // (busy, frames in the WAL, frames checkpointed)
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await
        {
            // Readers can keep a passive checkpoint from resetting the WAL; past about 64 MiB,
            // wait for them once (RESTART) so the file cannot grow without bound.
            Ok((_, frames, _)) if frames > MAX_WAL_FRAMES => {
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(cause = %e, "WAL checkpoint (restart) failed");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(cause = %e, "WAL checkpoint failed"),
        }
    }
}

/// Calls `sql::sqlite::$f` with the writer or reader pool, or `sql::postgres::$f`.
/// Every call runs within the store's call deadline (see [`StoreLimits::call_deadline`]).
macro_rules! dispatch {
    ($self:ident, $pool:ident, $f:ident ( $($arg:expr),* )) => {
        within($self.limits.call_deadline(), async {
            match &$self.backend {
                Backend::Sqlite { writer, reader, .. } => {
                    let _ = (&writer, &reader);
                    sql::sqlite::$f($pool!(writer, reader), $($arg),*).await
                }
                Backend::Postgres(p) => sql::postgres::$f(p, $($arg),*).await,
            }
        })
        .await
    };
}
macro_rules! write_pool {
    ($w:ident, $r:ident) => {
        $w
    };
}
macro_rules! read_pool {
    ($w:ident, $r:ident) => {
        $r
    };
}

#[async_trait]
impl RegistryStore for SqlStore {
    async fn load_registry(&self) -> StoreResult<Registry> {
        dispatch!(self, read_pool, load_registry())
    }
    async fn generation(&self) -> StoreResult<i64> {
        dispatch!(self, read_pool, generation())
    }
    async fn apply(&self, plan: &Provisioning, now: i64) -> StoreResult<ApplyReport> {
        // Provisioning (at start, `wissel apply`) may hold many statements: each is bounded by
        // the statement timeout, the whole is not cut off.
        match &self.backend {
            Backend::Sqlite { writer, .. } => sql::sqlite::apply(writer, plan, now).await,
            Backend::Postgres(p) => sql::postgres::apply(p, plan, now).await,
        }
    }
    async fn create_client(&self, client: &Client, now: i64) -> StoreResult<bool> {
        dispatch!(self, write_pool, create_client(client, now))
    }
    async fn find_user(&self, username: &str) -> StoreResult<Option<User>> {
        dispatch!(self, read_pool, find_user(username))
    }
    async fn put_link(&self, link: &Link, now: i64) -> StoreResult<PutOutcome> {
        dispatch!(self, write_pool, put_link(link, now))
    }
    async fn delete_link(&self, client: &str, api: &str, now: i64) -> StoreResult<bool> {
        dispatch!(self, write_pool, delete_link(client, api, now))
    }
    async fn put_authorization(
        &self,
        authorization: &Authorization,
        now: i64,
    ) -> StoreResult<PutOutcome> {
        dispatch!(self, write_pool, put_authorization(authorization, now))
    }
    async fn delete_authorization(
        &self,
        grantee: &Grantee,
        api: &str,
        now: i64,
    ) -> StoreResult<bool> {
        dispatch!(self, write_pool, delete_authorization(grantee, api, now))
    }
    async fn list_authorizations(&self, api: Option<&str>) -> StoreResult<Vec<Authorization>> {
        dispatch!(self, read_pool, list_authorizations(api))
    }
}

#[async_trait]
impl MedmijStore for SqlStore {
    async fn medmij_list(&self, kind: &str) -> StoreResult<Option<StoredList>> {
        dispatch!(self, read_pool, medmij_list(kind))
    }
    async fn put_medmij_list(&self, list: &StoredList) -> StoreResult<bool> {
        dispatch!(self, write_pool, put_medmij_list(list))
    }
    async fn reserve_issued(
        &self,
        digest: &Digest,
        kind: &str,
        keep_until: i64,
    ) -> StoreResult<bool> {
        dispatch!(self, write_pool, reserve_issued(digest, kind, keep_until))
    }
    async fn put_medmij_consent(&self, consent: &MedmijConsent) -> StoreResult<()> {
        dispatch!(self, write_pool, put_medmij_consent(consent))
    }
    async fn medmij_consents_of(&self, subject: &str, now: i64) -> StoreResult<Vec<MedmijConsent>> {
        dispatch!(self, read_pool, medmij_consents_of(subject, now))
    }
    async fn end_medmij_consent(
        &self,
        subject: &str,
        id: &str,
        now: i64,
    ) -> StoreResult<Option<MedmijConsent>> {
        dispatch!(self, write_pool, end_medmij_consent(subject, id, now))
    }
}

#[async_trait]
impl TokenStore for SqlStore {
    async fn insert_access_token(&self, digest: &Digest, token: &AccessToken) -> StoreResult<()> {
        within(self.limits.call_deadline(), async {
            match &self.backend {
                // SQLite has one writer: concurrent token inserts share one commit (group commit).
                Backend::Sqlite { tokens, .. } => tokens.insert(*digest, token.clone()).await,
                Backend::Postgres(p) => sql::postgres::insert_access_token(p, digest, token).await,
            }
        })
        .await
    }
    async fn find_access_token(&self, digest: &Digest) -> StoreResult<Option<(AccessToken, bool)>> {
        dispatch!(self, read_pool, find_access_token(digest))
    }
    async fn revoke(
        &self,
        revocation: &Revocation,
        opaque: Option<&Digest>,
        now: i64,
    ) -> StoreResult<()> {
        dispatch!(self, write_pool, revoke(revocation, opaque, now))
    }
    async fn revocations_since(
        &self,
        after_seq: i64,
        recorded_since: i64,
    ) -> StoreResult<Vec<(i64, Revocation)>> {
        dispatch!(
            self,
            read_pool,
            revocations_since(after_seq, recorded_since)
        )
    }
    async fn record_jti(&self, issuer: &str, jti: &str, expires_at: i64) -> StoreResult<bool> {
        dispatch!(self, write_pool, record_jti(issuer, jti, expires_at))
    }
    async fn purge_expired(&self, now: i64, batch: i64) -> StoreResult<u64> {
        dispatch!(self, write_pool, purge_expired(now, batch))
    }
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn list_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        dispatch!(self, read_pool, list_keys())
    }
    async fn insert_key(&self, key: &SigningKeyRecord) -> StoreResult<bool> {
        dispatch!(self, write_pool, insert_key(key))
    }
    async fn transition_key(
        &self,
        kid: &str,
        from: KeyState,
        to: KeyState,
        at: i64,
        publish_until: Option<i64>,
    ) -> StoreResult<bool> {
        dispatch!(
            self,
            write_pool,
            transition_key(kid, from, to, at, publish_until)
        )
    }
}

/// Reads go to the reader pool on SQLite (WAL shows them every committed write); whatever
/// writes, or must decide from what it writes (`consume_code`, `rotate_refresh`,
/// `rehash_password`), runs on the writer.
#[async_trait]
impl GrantStore for SqlStore {
    async fn user_by_subject(&self, subject: &str) -> StoreResult<Option<User>> {
        dispatch!(self, read_pool, user_by_subject(subject))
    }
    async fn create_user(&self, user: &User, now: i64) -> StoreResult<bool> {
        dispatch!(self, write_pool, create_user(user, now))
    }
    async fn update_user(&self, user: &User, now: i64) -> StoreResult<bool> {
        dispatch!(self, write_pool, update_user(user, now))
    }
    async fn rehash_password(&self, subject: &str, old: &str, new: &str) -> StoreResult<bool> {
        dispatch!(self, write_pool, rehash_password(subject, old, new))
    }
    async fn authorized_scopes(
        &self,
        username: &str,
        groups: &[String],
        api: &str,
    ) -> StoreResult<Option<ScopeSet>> {
        dispatch!(self, read_pool, authorized_scopes(username, groups, api))
    }

    async fn put_interaction(&self, interaction: &Interaction) -> StoreResult<()> {
        dispatch!(self, write_pool, put_interaction(interaction))
    }
    async fn get_interaction(&self, id: &str, now: i64) -> StoreResult<Option<Interaction>> {
        dispatch!(self, read_pool, get_interaction(id, now))
    }
    async fn take_interaction(&self, id: &str) -> StoreResult<bool> {
        dispatch!(self, write_pool, take_interaction(id))
    }

    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        dispatch!(self, write_pool, create_session(session))
    }
    async fn get_session(&self, digest: &Digest, now: i64) -> StoreResult<Option<Session>> {
        dispatch!(self, read_pool, get_session(digest, now))
    }
    async fn touch_session(&self, digest: &Digest, now: i64) -> StoreResult<()> {
        dispatch!(self, write_pool, touch_session(digest, now))
    }
    async fn end_session(&self, digest: &Digest) -> StoreResult<Option<Session>> {
        dispatch!(self, write_pool, end_session(digest))
    }
    async fn end_session_by_sid(&self, subject: &str, sid: &str) -> StoreResult<bool> {
        dispatch!(self, write_pool, end_session_by_sid(subject, sid))
    }
    async fn sessions_of(&self, subject: &str, now: i64) -> StoreResult<Vec<Session>> {
        dispatch!(self, read_pool, sessions_of(subject, now))
    }

    async fn get_consent(
        &self,
        subject: &str,
        client_id: &str,
        api: Option<&str>,
        now: i64,
    ) -> StoreResult<Option<Consent>> {
        dispatch!(self, read_pool, get_consent(subject, client_id, api, now))
    }
    async fn put_consent(&self, consent: &Consent) -> StoreResult<()> {
        dispatch!(self, write_pool, put_consent(consent))
    }
    async fn consents_of(&self, subject: &str, now: i64) -> StoreResult<Vec<Consent>> {
        dispatch!(self, read_pool, consents_of(subject, now))
    }
    async fn delete_consent(
        &self,
        subject: &str,
        client_id: &str,
        api: Option<&str>,
    ) -> StoreResult<bool> {
        dispatch!(self, write_pool, delete_consent(subject, client_id, api))
    }

    async fn issue_code(
        &self,
        grant: &Grant,
        code: &Digest,
        record: &CodeRecord,
    ) -> StoreResult<()> {
        dispatch!(self, write_pool, issue_code(grant, code, record))
    }
    async fn consume_code(&self, code: &Digest, now: i64) -> StoreResult<CodeOutcome> {
        dispatch!(self, write_pool, consume_code(code, now))
    }
    async fn get_grant(&self, id: &str) -> StoreResult<Option<Grant>> {
        dispatch!(self, read_pool, get_grant(id))
    }
    async fn live_grants(
        &self,
        subject: &str,
        client_id: Option<&str>,
        online_in_sid: Option<&str>,
        now: i64,
    ) -> StoreResult<Vec<Grant>> {
        dispatch!(
            self,
            read_pool,
            live_grants(subject, client_id, online_in_sid, now)
        )
    }
    async fn live_grants_after(
        &self,
        after: &str,
        limit: i64,
        now: i64,
    ) -> StoreResult<Vec<Grant>> {
        dispatch!(self, read_pool, live_grants_after(after, limit, now))
    }
    async fn revoke_grant(&self, revocation: &Revocation, now: i64) -> StoreResult<bool> {
        dispatch!(self, write_pool, revoke_grant(revocation, now))
    }

    async fn insert_refresh(&self, digest: &Digest, record: &RefreshRecord) -> StoreResult<()> {
        dispatch!(self, write_pool, insert_refresh(digest, record))
    }
    async fn find_refresh(&self, digest: &Digest) -> StoreResult<Option<(RefreshRecord, bool)>> {
        dispatch!(self, read_pool, find_refresh(digest))
    }
    async fn rotate_refresh(
        &self,
        old: &Digest,
        new: &Digest,
        record: &RefreshRecord,
        now: i64,
    ) -> StoreResult<RotateOutcome> {
        dispatch!(self, write_pool, rotate_refresh(old, new, record, now))
    }

    async fn login_failures(&self, keys: &[String], since: i64) -> StoreResult<Vec<FailureCount>> {
        dispatch!(self, read_pool, login_failures(keys, since))
    }
    async fn reserve_attempts(
        &self,
        budgets: &[AttemptBudget],
        since: i64,
        now: i64,
    ) -> StoreResult<Reservation> {
        dispatch!(self, write_pool, reserve_attempts(budgets, since, now))
    }
    async fn release_attempts(&self, keys: &[String]) -> StoreResult<()> {
        dispatch!(self, write_pool, release_attempts(keys))
    }
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        dispatch!(self, write_pool, clear_login_failures(key))
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        dispatch!(self, read_pool, ping())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// `PRAGMA synchronous` of a connection: 1 is NORMAL (in WAL mode a commit reaches the disk
    /// only at the next checkpoint, so power loss can take it back), 2 is FULL (the WAL is synced
    /// at every commit).
    async fn synchronous(pool: &SqlitePool) -> i64 {
        sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(pool)
            .await
            .unwrap()
    }

    /// Nothing answered 200 is lost on power loss either: every commit of the SQLite writer (the
    /// only connection that writes) is synced to the disk before it returns.
    #[tokio::test]
    async fn sqlite_commits_are_on_disk_before_they_are_acknowledged() {
        let dir = std::env::temp_dir().join(format!("wissel_sync_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqlStore::connect(&format!("sqlite://{}", dir.join("w.db").display()))
            .await
            .unwrap();
        let Backend::Sqlite { writer, .. } = &store.backend else {
            panic!("a SQLite URL opens SQLite");
        };
        assert_eq!(synchronous(writer).await, 2, "the writer commits with FULL");
        store.close().await;
        // The operator's choice to survive only process crashes is honoured.
        let store = SqlStore::connect_with(
            &format!("sqlite://{}", dir.join("w.db").display()),
            StoreLimits::default(),
            SqliteDurability::Normal,
        )
        .await
        .unwrap();
        let Backend::Sqlite { writer, .. } = &store.backend else {
            panic!("a SQLite URL opens SQLite");
        };
        assert_eq!(synchronous(writer).await, 1);
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
